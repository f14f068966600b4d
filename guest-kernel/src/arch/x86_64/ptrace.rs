//! ptrace's view of x86_64 user state: `struct user_regs_struct` (the
//! NT_PRSTATUS regset, PEEKUSER/POKEUSER offsets), the FXSAVE area
//! (NT_PRFPREG, GETFPREGS) and the XSAVE layout (NT_X86_XSTATE), as Linux's
//! arch/x86/kernel/ptrace.c shows them.

use alloc::vec::Vec;

use super::entry::UserContext;
use crate::sentry::errno::*;
use boards::x86_64::{USER_CS, USER_DS};

/// Words in `struct user_regs_struct`.
pub const USER_REGS_WORDS: usize = 27;
/// `sizeof(struct user)` and `offsetof(struct user, u_debugreg)`.
pub const USER_AREA_SIZE: u64 = 928;
pub const DEBUGREG_OFFSET: u64 = 848;
/// The ELF machine of this architecture (EM_X86_64), for core files.
pub const ELF_MACHINE: u16 = 62;
/// PTRACE_GETREGS and friends exist on x86_64.
pub const HAS_LEGACY_REGS: bool = true;
pub const HAS_USER_AREA: bool = true;
/// The size of the FP regset (the FXSAVE image).
pub const FPREGS_SIZE: usize = super::signal::FXSAVE_SIZE;
/// The element size of each regset (iov_len must be a multiple of it).
pub const FPREGS_ELEMENT: usize = 8;

/// TASK_SIZE_MAX: user addresses lie below it.
const TASK_SIZE_MAX: u64 = (1 << 47) - 4096;
/// The RFLAGS bits a tracer may change (Linux's FLAG_MASK).
const FLAG_MASK: u64 = 0x5_0dd5;
const TF: u64 = 0x100;

/// What ptrace keeps for a tracee besides its `UserContext`: the syscall
/// number (orig_rax), the TLS bases and the data segment selectors (which
/// 64-bit code does not use but a tracer may set and read back).
#[derive(Clone, Copy, Default)]
pub struct ExtraRegs {
    pub orig: u64,
    pub fs_base: u64,
    pub gs_base: u64,
    /// ds, es, fs, gs.
    pub selectors: [u64; 4],
    /// TF was set by PTRACE_SINGLESTEP (hidden from the tracer, as Linux's
    /// TIF_FORCED_TF).
    pub forced_tf: bool,
}

/// `struct user_regs_struct` of `ctx`.
pub fn user_regs(ctx: &UserContext, extra: &ExtraRegs) -> [u64; USER_REGS_WORDS] {
    let flags = if extra.forced_tf {
        ctx.rflags & !TF
    } else {
        ctx.rflags
    };
    let [ds, es, fs, gs] = extra.selectors;
    [
        ctx.r15,
        ctx.r14,
        ctx.r13,
        ctx.r12,
        ctx.rbp,
        ctx.rbx,
        ctx.r11,
        ctx.r10,
        ctx.r9,
        ctx.r8,
        ctx.rax,
        ctx.rcx,
        ctx.rdx,
        ctx.rsi,
        ctx.rdi,
        extra.orig,
        ctx.rip,
        ctx.cs,
        flags,
        ctx.rsp,
        ctx.ss,
        extra.fs_base,
        extra.gs_base,
        ds,
        es,
        fs,
        gs,
    ]
}

/// Linux's putreg: word `index` of `struct user_regs_struct` becomes
/// `value`. Selectors must be user ones (EIO); CS and SS can only keep the
/// sandbox's 64-bit selectors (no compat mode here); the TLS bases must be
/// user addresses.
pub fn set_user_reg(
    ctx: &mut UserContext,
    extra: &mut ExtraRegs,
    index: usize,
    value: u64,
) -> Result<(), Errno> {
    let invalid_selector = value != 0 && value & 3 != 3;
    match index {
        17 | 20 => {
            let current = if index == 17 { USER_CS } else { USER_DS } as u64;
            if invalid_selector || value == 0 || value != current {
                return Err(EIO);
            }
        }
        23..=26 => {
            if invalid_selector || value > 0xffff {
                return Err(EIO);
            }
            extra.selectors[index - 23] = value;
        }
        18 => {
            if value & TF != 0 {
                extra.forced_tf = false;
            }
            ctx.rflags = (ctx.rflags & !FLAG_MASK) | (value & FLAG_MASK);
        }
        21 | 22 => {
            if value >= TASK_SIZE_MAX {
                return Err(EIO);
            }
            if index == 21 {
                extra.fs_base = value;
            } else {
                extra.gs_base = value;
            }
        }
        15 => extra.orig = value,
        _ => {
            let slot = match index {
                0 => &mut ctx.r15,
                1 => &mut ctx.r14,
                2 => &mut ctx.r13,
                3 => &mut ctx.r12,
                4 => &mut ctx.rbp,
                5 => &mut ctx.rbx,
                6 => &mut ctx.r11,
                7 => &mut ctx.r10,
                8 => &mut ctx.r9,
                9 => &mut ctx.r8,
                10 => &mut ctx.rax,
                11 => &mut ctx.rcx,
                12 => &mut ctx.rdx,
                13 => &mut ctx.rsi,
                14 => &mut ctx.rdi,
                16 => &mut ctx.rip,
                19 => &mut ctx.rsp,
                _ => return Err(EIO),
            };
            *slot = value;
        }
    }
    Ok(())
}

/// The stopped task's extra state when it stops (its TLS bases).
pub fn extra_regs(fs_base: u64, gs_base: u64) -> ExtraRegs {
    ExtraRegs {
        orig: u64::MAX,
        fs_base,
        gs_base,
        ..ExtraRegs::default()
    }
}

/// orig_rax of a task stopping on its way back to user mode: the
/// syscall it made (`nr`), -1 after an exception or interrupt.
pub fn orig_syscall(ctx: &UserContext, nr: u64) -> u64 {
    if ctx.vector == super::entry::SYSCALL_VECTOR {
        nr
    } else {
        u64::MAX
    }
}

/// What a syscall-entry stop shows: rax is -ENOSYS (the syscall number
/// is in orig_rax), as Linux's entry code leaves it.
pub fn syscall_entry_view(ctx: &mut UserContext) {
    ctx.rax = (-(ENOSYS.0 as i64)) as u64;
}

/// The FPU state of the running task (FXSAVE image).
pub fn save_fpregs(_ctx: &UserContext) -> Vec<u8> {
    super::signal::save_fpu().0.to_vec()
}

/// Loads an FXSAVE image into the running task's FPU (MXCSR's reserved
/// bits are cleared, as the signal return path does).
pub fn load_fpregs(_ctx: &mut UserContext, bytes: &[u8]) {
    let mut area = super::signal::FxArea([0; FPREGS_SIZE]);
    let n = bytes.len().min(FPREGS_SIZE);
    area.0[..n].copy_from_slice(&bytes[..n]);
    super::signal::load_fpu(area);
}

/// Puts the running task's TLS bases back after a tracer changed them.
pub fn load_tls(extra: &ExtraRegs) {
    super::cpu::set_fs_base(extra.fs_base);
    super::cpu::set_user_gs_base(extra.gs_base);
}

/// Arms or disarms single-stepping (RFLAGS.TF: a debug trap after the
/// next instruction). Always possible on x86_64.
pub fn set_single_step(ctx: &mut UserContext, extra: &mut ExtraRegs, on: bool) -> bool {
    if on {
        if ctx.rflags & TF == 0 {
            ctx.rflags |= TF;
            extra.forced_tf = true;
        }
    } else if extra.forced_tf {
        ctx.rflags &= !TF;
        extra.forced_tf = false;
    }
    true
}

/// NT_X86_XSTATE: the size of a standard-format XSAVE buffer for the
/// features the CPU has enabled (CPUID 0xd), None without XSAVE.
pub fn xstate_size() -> Option<usize> {
    let leaf1 = super::cpu::cpuid(1, 0);
    if leaf1.ecx & (1 << 26) == 0 {
        return None;
    }
    Some((super::cpu::cpuid(0xd, 0).ebx as usize).max(FPREGS_SIZE + 64))
}

/// The x87 and SSE components the sentry keeps (xstate_bv bits 0, 1).
const XFEATURES_KEPT: u64 = 3;

/// The tracee's state as an XSAVE buffer of `size` bytes: the FXSAVE image
/// with the software bytes Linux puts there, then a header saying x87 and
/// SSE are present and every other component is in its initial state (the
/// sentry keeps no other: it saves tasks' FPU state with FXSAVE).
pub fn xstate_from_fpregs(fpregs: &[u8], size: usize) -> Vec<u8> {
    let mut buf = alloc::vec![0u8; size];
    buf[..FPREGS_SIZE].copy_from_slice(&fpregs[..FPREGS_SIZE]);
    let sw = [
        0x4650_5853u32,        // FP_XSTATE_MAGIC1
        (size + 4) as u32,     // extended_size (with FP_XSTATE_MAGIC2)
        XFEATURES_KEPT as u32, // xfeatures (low half)
        0,                     // (high half)
        size as u32,           // xstate_size
    ];
    for (i, word) in sw.iter().enumerate() {
        buf[464 + i * 4..468 + i * 4].copy_from_slice(&word.to_le_bytes());
    }
    buf[512..520].copy_from_slice(&XFEATURES_KEPT.to_le_bytes());
    buf
}

/// Linux's validate_user_xstate_header and copy from a standard-format
/// buffer: xcomp_bv must be 0 (no compacted format from user space), the
/// reserved header bytes 0, and only components the sentry keeps may be
/// marked present (EINVAL otherwise). Returns the new FXSAVE image (an
/// absent component is reset to its initial state).
pub fn fpregs_from_xstate(buf: &[u8], current: &[u8]) -> Result<Vec<u8>, Errno> {
    let word = |at: usize| u64::from_le_bytes(buf[at..at + 8].try_into().unwrap());
    let (xstate_bv, xcomp_bv) = (word(512), word(520));
    if xcomp_bv != 0 || buf[528..576].iter().any(|&b| b != 0) || xstate_bv & !XFEATURES_KEPT != 0 {
        return Err(EINVAL);
    }
    let mut out = current[..FPREGS_SIZE].to_vec();
    // MXCSR (with its mask) comes with the SSE component.
    if xstate_bv & 2 != 0 {
        out[24..28].copy_from_slice(&buf[24..28]);
        out[160..416].copy_from_slice(&buf[160..416]);
    } else {
        out[24..28].copy_from_slice(&0x1f80u32.to_le_bytes());
        out[160..416].fill(0);
    }
    if xstate_bv & 1 != 0 {
        out[..24].copy_from_slice(&buf[..24]);
        out[32..160].copy_from_slice(&buf[32..160]);
    } else {
        out[..24].fill(0);
        out[..2].copy_from_slice(&0x37fu16.to_le_bytes());
        out[32..160].fill(0);
    }
    Ok(out)
}

/// Linux's checks of one DR7 slot (decode_dr7, arch_bp_generic_fields and
/// the breakpoint's parse): the type must be execute (length 1), write or
/// read-write, and the address aligned to the length and below
/// TASK_SIZE_MAX (the breakpoints are user-only).
fn check_breakpoint(addr: u64, control: u64) -> Result<(), Errno> {
    let (len_bits, type_bits) = ((control >> 2) & 3, control & 3);
    let len: u64 = match len_bits {
        0 => 1,
        1 => 2,
        2 => 8,
        _ => 4,
    };
    match type_bits {
        0 if len_bits != 0 => return Err(EINVAL),
        2 => return Err(EINVAL),
        _ => {}
    }
    // An execute breakpoint covers one long (HW_BREAKPOINT_X).
    let len = if type_bits == 0 { 1 } else { len };
    if addr & (len - 1) != 0 || addr >= TASK_SIZE_MAX || addr + len > TASK_SIZE_MAX {
        return Err(EINVAL);
    }
    Ok(())
}

/// PEEKUSER of u_debugreg[n]: DR0-3 the addresses, DR6 the status a
/// tracer saw, DR7 the control word; DR4 and DR5 do not exist (0).
pub fn get_debugreg(regs: &[u64; 8], n: usize) -> u64 {
    match n {
        4 | 5 => 0,
        _ => regs[n],
    }
}

/// POKEUSER of u_debugreg[n] (Linux's ptrace_set_debugreg). Each of
/// DR0-3 stands for a user breakpoint that is checked even while DR7 has
/// it disabled (kernel addresses are EINVAL); DR7 checks every slot it
/// enables against its address; DR4/DR5 are EIO. The values are kept and
/// read back; the sentry does not arm the CPU's debug registers, so the
/// breakpoints never fire.
pub fn set_debugreg(regs: &mut [u64; 8], n: usize, value: u64) -> Result<(), Errno> {
    match n {
        0..=3 => {
            let enabled = (regs[7] >> (n * 2)) & 3 != 0;
            let control = if enabled {
                (regs[7] >> (16 + n * 4)) & 0xf
            } else {
                // A disabled slot is parsed as a 1-byte write breakpoint.
                1
            };
            check_breakpoint(value, control)?;
            regs[n] = value;
        }
        6 => regs[6] = value,
        7 => {
            for (slot, &address) in regs.iter().enumerate().take(4) {
                if (value >> (slot * 2)) & 3 != 0 {
                    check_breakpoint(address, (value >> (16 + slot * 4)) & 0xf)?;
                }
            }
            regs[7] = value;
        }
        _ => return Err(EIO),
    }
    Ok(())
}
