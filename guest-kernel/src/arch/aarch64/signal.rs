//! arm64 signal frames, laid out as Linux's `struct rt_sigframe`:
//!
//! ```text
//!   frame  -> siginfo_t                                     (128 bytes)
//!   +128      struct ucontext { flags, link, stack_t, sigmask, pad,
//!               struct sigcontext { fault_address, x0..x30, sp, pc,
//!                 pstate, __reserved[4096]: fpsimd_context, end } }
//!   +4688     frame record { x29, x30 } (x29 of the handler points here)
//! ```
//!
//! Every exception entry already saves q0..q31, FPCR and FPSR in the
//! `UserContext`, so the FP/SIMD record is copied from there. The handler
//! returns to `sa_restorer` when given (musl), otherwise to the sigreturn
//! trampoline the sentry maps (glibc uses the vDSO's on Linux).

use super::entry::UserContext;
use crate::sentry::errno::*;
use crate::sentry::mm::usermem::bytes_of;
use crate::sentry::mm::AddressSpace;
use crate::sentry::signal::{FrameRestore, FrameSetup, SignalStack, SA_RESTORER, SA_SIGINFO};

const INFO: usize = 0;
const UC: usize = 128;
const UC_FLAGS: usize = UC;
const UC_STACK: usize = UC + 16;
const UC_SIGMASK: usize = UC + 40;
const SC: usize = UC + 176;
const SC_FAULT_ADDRESS: usize = SC;
const SC_REGS: usize = SC + 8;
const SC_SP: usize = SC + 8 + 31 * 8;
const SC_PC: usize = SC_SP + 8;
const SC_PSTATE: usize = SC_PC + 8;
const SC_RESERVED: usize = SC + 288;
const RESERVED_SIZE: usize = 4096;
const FRAME_SIZE: usize = SC_RESERVED + RESERVED_SIZE;
const RECORD_SIZE: usize = 16;

const FPSIMD_MAGIC: u32 = 0x4650_8001;
const FPSIMD_SIZE: usize = 16 + 32 * 16;

/// NZCV: the PSTATE bits a handler may change through the saved context;
/// everything else (EL0t, DAIF clear) is forced.
const USER_PSTATE: u64 = 0xf000_0000;

/// `mov x8, #139 (rt_sigreturn); svc #0`: the default handler return.
pub const SIGRETURN_TRAMPOLINE: [u32; 2] = [0xd280_1168, 0xd400_0001];

const _: () = assert!(FRAME_SIZE.is_multiple_of(16));

fn put(buf: &mut [u8], at: usize, value: u64) {
    buf[at..at + 8].copy_from_slice(&value.to_le_bytes());
}

fn put32(buf: &mut [u8], at: usize, value: u32) {
    buf[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

fn get(buf: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(buf[at..at + 8].try_into().unwrap())
}

fn get32(buf: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(buf[at..at + 4].try_into().unwrap())
}

pub fn setup_frame(
    mm: &mut AddressSpace,
    ctx: &mut UserContext,
    setup: &FrameSetup,
) -> Result<(), Errno> {
    let top = setup.altstack_top.unwrap_or(ctx.sp);
    let record = top.checked_sub(RECORD_SIZE as u64).ok_or(EFAULT)? & !15;
    let frame = record.checked_sub(FRAME_SIZE as u64).ok_or(EFAULT)? & !15;
    let mut bytes = alloc::vec![0u8; FRAME_SIZE];
    bytes[INFO..INFO + 128].copy_from_slice(bytes_of(&setup.info));
    put(&mut bytes, UC_FLAGS, 0);
    bytes[UC_STACK..UC_STACK + 24].copy_from_slice(bytes_of(&setup.uc_stack));
    put(&mut bytes, UC_SIGMASK, setup.old_mask);
    put(&mut bytes, SC_FAULT_ADDRESS, setup.info.fault_address());
    for (i, x) in ctx.x.iter().enumerate() {
        put(&mut bytes, SC_REGS + i * 8, *x);
    }
    put(&mut bytes, SC_SP, ctx.sp);
    put(&mut bytes, SC_PC, ctx.pc);
    put(&mut bytes, SC_PSTATE, ctx.pstate);
    let fp = SC_RESERVED;
    put32(&mut bytes, fp, FPSIMD_MAGIC);
    put32(&mut bytes, fp + 4, FPSIMD_SIZE as u32);
    put32(&mut bytes, fp + 8, ctx.fpsr as u32);
    put32(&mut bytes, fp + 12, ctx.fpcr as u32);
    for (i, q) in ctx.q.iter().enumerate() {
        bytes[fp + 16 + i * 16..fp + 32 + i * 16].copy_from_slice(&q.to_le_bytes());
    }
    // The record after fpsimd_context is the terminator (magic 0, size 0),
    // already zero.
    let mut frame_record = [0u8; RECORD_SIZE];
    put(&mut frame_record, 0, ctx.x[29]);
    put(&mut frame_record, 8, ctx.x[30]);
    mm.copy_to_user(frame, &bytes)?;
    mm.copy_to_user(record, &frame_record)?;

    let restorer = if setup.action.flags & SA_RESTORER != 0 {
        setup.action.restorer
    } else {
        crate::sentry::exec::sigreturn_trampoline()
    };
    ctx.x[0] = setup.info.signo as u64;
    if setup.action.flags & SA_SIGINFO != 0 {
        ctx.x[1] = frame + INFO as u64;
        ctx.x[2] = frame + UC as u64;
    }
    ctx.x[29] = record;
    ctx.x[30] = restorer;
    ctx.sp = frame;
    ctx.pc = setup.action.handler;
    // The handler starts with a clean FP/SIMD state, as on Linux.
    ctx.q = [0; 32];
    ctx.fpsr = 0;
    ctx.fpcr = 0;
    Ok(())
}

pub fn restore_frame(mm: &mut AddressSpace, ctx: &mut UserContext) -> Result<FrameRestore, Errno> {
    let frame = ctx.sp;
    if !frame.is_multiple_of(16) {
        return Err(EFAULT);
    }
    let mut bytes = alloc::vec![0u8; FRAME_SIZE];
    mm.copy_from_user(frame, &mut bytes)?;
    let fp = SC_RESERVED;
    if get32(&bytes, fp) != FPSIMD_MAGIC || get32(&bytes, fp + 4) as usize != FPSIMD_SIZE {
        return Err(EFAULT);
    }
    for (i, x) in ctx.x.iter_mut().enumerate() {
        *x = get(&bytes, SC_REGS + i * 8);
    }
    ctx.sp = get(&bytes, SC_SP);
    ctx.pc = get(&bytes, SC_PC);
    ctx.pstate = get(&bytes, SC_PSTATE) & USER_PSTATE;
    ctx.fpsr = get32(&bytes, fp + 8) as u64;
    ctx.fpcr = get32(&bytes, fp + 12) as u64;
    for (i, q) in ctx.q.iter_mut().enumerate() {
        let at = fp + 16 + i * 16;
        *q = u128::from_le_bytes(bytes[at..at + 16].try_into().unwrap());
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
