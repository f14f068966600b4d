//! x86_64 signal frames, laid out as Linux's `struct rt_sigframe` so that
//! handlers (and libc code reading `ucontext_t`) find everything where they
//! expect it:
//!
//! ```text
//!   frame  -> pretcode (sa_restorer: the handler's return address)
//!   +8        struct ucontext { flags, link, stack_t, sigcontext, sigmask }
//!   +312      siginfo_t
//!   ...       FPU state (FXSAVE format, 64-byte aligned) below the red zone
//! ```
//!
//! The sentry is built soft-float and never touches the FPU, so the user's
//! x87/SSE state is still live in the CPU here: FXSAVE captures it for the
//! frame and FXRSTOR puts the (sanitised) saved state back at rt_sigreturn.
//! CR4.OSXSAVE is off, so there is no AVX state beyond what FXSAVE covers.

use super::entry::{UserContext, SYSCALL_VECTOR};
use super::USER_END;
use crate::sentry::errno::*;
use crate::sentry::mm::usermem::bytes_of;
use crate::sentry::mm::AddressSpace;
use crate::sentry::signal::{FrameRestore, FrameSetup, SignalStack, SA_RESTORER};

const REDZONE: u64 = 128;
pub const FXSAVE_SIZE: usize = 512;
const UCONTEXT_SIZE: usize = 304;
const FRAME_SIZE: usize = 8 + UCONTEXT_SIZE + 128;

// Offsets in the frame.
const UC: usize = 8;
const INFO: usize = UC + UCONTEXT_SIZE;
// Offsets in the ucontext.
const UC_FLAGS: usize = 0;
const UC_STACK: usize = 16;
const UC_MCONTEXT: usize = 40;
const UC_SIGMASK: usize = 296;
// Offsets in the sigcontext (after the 17 general registers).
const SC_EFLAGS: usize = 17 * 8;
const SC_SEGMENTS: usize = 18 * 8;
const SC_ERR: usize = 19 * 8;
const SC_TRAPNO: usize = 20 * 8;
const SC_OLDMASK: usize = 21 * 8;
const SC_CR2: usize = 22 * 8;
const SC_FPSTATE: usize = 23 * 8;

/// uc_flags: UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS (no UC_FP_XSTATE: the
/// FPU area is plain FXSAVE).
const UC_FLAGS_VALUE: u64 = 0x2 | 0x4;

/// The RFLAGS bits a handler may change through the saved context (Linux's
/// FIX_EFLAGS): AC, OF, DF, TF, SF, ZF, AF, PF, CF and RF.
const USER_FLAGS: u64 = 0x5_0dd5;
/// Cleared for the handler: TF, DF, RF and AC.
const HANDLER_CLEARS: u64 = 0x100 | 0x400 | 0x1_0000 | 0x4_0000;

const MXCSR_OFFSET: usize = 24;
const MXCSR_MASK_OFFSET: usize = 28;
const MXCSR_DEFAULT_MASK: u32 = 0xffbf;
const MXCSR_RESET: u32 = 0x1f80;

#[repr(C, align(16))]
#[derive(Clone)]
pub struct FxArea(pub [u8; FXSAVE_SIZE]);

pub fn save_fpu() -> FxArea {
    let mut area = FxArea([0; FXSAVE_SIZE]);
    // SAFETY: FXSAVE writes 512 bytes to a 16-byte-aligned buffer we own;
    // CR4.OSFXSR is set at boot.
    unsafe {
        core::arch::asm!("fxsave64 [{}]", in(reg) area.0.as_mut_ptr(), options(nostack, preserves_flags));
    }
    area
}

/// Loads user FPU state. MXCSR bits outside the CPU's mask would make
/// FXRSTOR fault in the sentry, so they are cleared first.
pub fn load_fpu(mut area: FxArea) {
    let word = |a: &FxArea, at: usize| u32::from_le_bytes(a.0[at..at + 4].try_into().unwrap());
    let mut mask = word(&save_fpu(), MXCSR_MASK_OFFSET);
    if mask == 0 {
        mask = MXCSR_DEFAULT_MASK;
    }
    let mxcsr = word(&area, MXCSR_OFFSET) & mask;
    area.0[MXCSR_OFFSET..MXCSR_OFFSET + 4].copy_from_slice(&mxcsr.to_le_bytes());
    // SAFETY: a 16-byte-aligned 512-byte FXSAVE image whose MXCSR has no
    // reserved bits set; any x87 contents are accepted by FXRSTOR.
    unsafe {
        core::arch::asm!("fxrstor64 [{}]", in(reg) area.0.as_ptr(), options(nostack, preserves_flags));
    }
}

/// The FPU state a frame without one restores: as at exec.
pub fn reset_fpu() {
    let mut area = FxArea([0; FXSAVE_SIZE]);
    area.0[0..2].copy_from_slice(&0x37fu16.to_le_bytes()); // FCW
    area.0[MXCSR_OFFSET..MXCSR_OFFSET + 4].copy_from_slice(&MXCSR_RESET.to_le_bytes());
    load_fpu(area);
}

fn put(buf: &mut [u8], at: usize, value: u64) {
    buf[at..at + 8].copy_from_slice(&value.to_le_bytes());
}

fn get(buf: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(buf[at..at + 8].try_into().unwrap())
}

/// The general registers in sigcontext order.
fn registers(ctx: &mut UserContext) -> [&mut u64; 17] {
    [
        &mut ctx.r8,
        &mut ctx.r9,
        &mut ctx.r10,
        &mut ctx.r11,
        &mut ctx.r12,
        &mut ctx.r13,
        &mut ctx.r14,
        &mut ctx.r15,
        &mut ctx.rdi,
        &mut ctx.rsi,
        &mut ctx.rbp,
        &mut ctx.rbx,
        &mut ctx.rdx,
        &mut ctx.rax,
        &mut ctx.rcx,
        &mut ctx.rsp,
        &mut ctx.rip,
    ]
}

/// Builds the frame below the user's stack (or on the alternate stack) and
/// points `ctx` at the handler.
pub fn setup_frame(
    mm: &mut AddressSpace,
    ctx: &mut UserContext,
    setup: &FrameSetup,
) -> Result<(), Errno> {
    // x86_64 has no default return path: without SA_RESTORER Linux fails
    // the delivery too.
    if setup.action.flags & SA_RESTORER == 0 {
        return Err(EFAULT);
    }
    let top = setup.altstack_top.unwrap_or(ctx.rsp.wrapping_sub(REDZONE));
    let fpstate = top.checked_sub(FXSAVE_SIZE as u64).ok_or(EFAULT)? & !63;
    // The handler starts as if called: (rsp + 8) is 16-byte aligned.
    let frame = (fpstate.checked_sub(FRAME_SIZE as u64).ok_or(EFAULT)? & !15) - 8;

    let mut bytes = [0u8; FRAME_SIZE];
    put(&mut bytes, 0, setup.action.restorer);
    let uc = UC;
    put(&mut bytes, uc + UC_FLAGS, UC_FLAGS_VALUE);
    bytes[uc + UC_STACK..uc + UC_STACK + 24].copy_from_slice(bytes_of(&setup.uc_stack));
    let sc = uc + UC_MCONTEXT;
    let is_fault = ctx.vector != SYSCALL_VECTOR;
    let (rflags, error_code, vector) = (ctx.rflags, ctx.error_code, ctx.vector);
    for (i, reg) in registers(ctx).into_iter().enumerate() {
        put(&mut bytes, sc + i * 8, *reg);
    }
    put(&mut bytes, sc + SC_EFLAGS, rflags);
    // cs, gs, fs, ss (16 bits each).
    let segments = (boards::x86_64::USER_CS as u64) | (boards::x86_64::USER_DS as u64) << 48;
    put(&mut bytes, sc + SC_SEGMENTS, segments);
    if is_fault {
        put(&mut bytes, sc + SC_ERR, error_code);
        put(&mut bytes, sc + SC_TRAPNO, vector);
    }
    put(&mut bytes, sc + SC_OLDMASK, setup.old_mask);
    put(&mut bytes, sc + SC_CR2, setup.info.fault_address());
    put(&mut bytes, sc + SC_FPSTATE, fpstate);
    put(&mut bytes, uc + UC_SIGMASK, setup.old_mask);
    bytes[INFO..INFO + 128].copy_from_slice(bytes_of(&setup.info));

    let fpu = save_fpu();
    mm.copy_to_user(fpstate, &fpu.0)?;
    mm.copy_to_user(frame, &bytes)?;

    ctx.rdi = setup.info.signo as u64;
    ctx.rsi = frame + INFO as u64;
    ctx.rdx = frame + UC as u64;
    ctx.rax = 0;
    ctx.rsp = frame;
    ctx.rip = setup.action.handler;
    ctx.rflags &= !HANDLER_CLEARS;
    // The handler starts with a clean FPU, as on Linux.
    reset_fpu();
    Ok(())
}

/// rt_sigreturn: the handler's `ret` popped pretcode, so the ucontext is at
/// the stack pointer.
pub fn restore_frame(mm: &mut AddressSpace, ctx: &mut UserContext) -> Result<FrameRestore, Errno> {
    let uc = ctx.rsp;
    let mut bytes = [0u8; UCONTEXT_SIZE];
    mm.copy_from_user(uc, &mut bytes)?;
    let sc = UC_MCONTEXT;
    let rip = get(&bytes, sc + 16 * 8);
    // IRETQ to a non-canonical address would fault in the sentry; so
    // does the return with a non-canonical stack pointer (a triple fault
    // found by the syscall fuzzer). Either is SIGSEGV, as the program's
    // first use of them would be on Linux.
    let rsp = get(&bytes, sc + 15 * 8);
    if rip >= USER_END || rsp >= USER_END {
        return Err(EFAULT);
    }
    let fpstate = get(&bytes, sc + SC_FPSTATE);
    let fpu = if fpstate != 0 {
        let mut area = FxArea([0; FXSAVE_SIZE]);
        mm.copy_from_user(fpstate, &mut area.0)?;
        Some(area)
    } else {
        None
    };
    for (i, reg) in registers(ctx).into_iter().enumerate() {
        *reg = get(&bytes, sc + i * 8);
    }
    let flags = get(&bytes, sc + SC_EFLAGS);
    ctx.rflags = (ctx.rflags & !USER_FLAGS) | (flags & USER_FLAGS);
    ctx.cs = boards::x86_64::USER_CS as u64;
    ctx.ss = boards::x86_64::USER_DS as u64;
    match fpu {
        Some(area) => load_fpu(area),
        None => reset_fpu(),
    }
    Ok(FrameRestore {
        mask: get(&bytes, UC_SIGMASK),
        stack: SignalStack {
            sp: get(&bytes, UC_STACK),
            flags: get(&bytes, UC_STACK + 8) as i32,
            _pad: 0,
            size: get(&bytes, UC_STACK + 16),
        },
    })
}
