//! ptrace's view of aarch64 user state: `struct user_pt_regs` (the
//! NT_PRSTATUS regset) and `struct user_fpsimd_state` (NT_PRFPREG), as
//! Linux's arch/arm64/kernel/ptrace.c shows them. arm64 has no user area
//! (PEEKUSER/POKEUSER are EIO) and no PTRACE_GETREGS family: tracers use
//! the regsets.

use alloc::vec::Vec;

use super::entry::UserContext;
use crate::sentry::errno::*;

/// Words in `struct user_pt_regs`: x0..x30, sp, pc, pstate.
pub const USER_REGS_WORDS: usize = 34;
pub const USER_AREA_SIZE: u64 = 0;
pub const DEBUGREG_OFFSET: u64 = 0;
/// The ELF machine of this architecture (EM_AARCH64), for core files.
pub const ELF_MACHINE: u16 = 183;
pub const HAS_LEGACY_REGS: bool = false;
pub const HAS_USER_AREA: bool = false;
/// `struct user_fpsimd_state`: 32 128-bit registers, fpsr, fpcr, 2 words
/// reserved.
pub const FPREGS_SIZE: usize = 32 * 16 + 16;
/// Its regset counts 32-bit words.
pub const FPREGS_ELEMENT: usize = 4;

/// What ptrace keeps besides the `UserContext`: the syscall number.
#[derive(Clone, Copy, Default)]
pub struct ExtraRegs {
    pub orig: u64,
}

pub fn user_regs(ctx: &UserContext, _extra: &ExtraRegs) -> [u64; USER_REGS_WORDS] {
    let mut out = [0u64; USER_REGS_WORDS];
    out[..31].copy_from_slice(&ctx.x);
    out[31] = ctx.sp;
    out[32] = ctx.pc;
    out[33] = ctx.pstate;
    out
}

/// PSTATE flags a tracer may set (N, Z, C, V): anything else would not be
/// a valid EL0t state, which Linux's valid_user_regs forces back.
const PSTATE_USER: u64 = 0xf000_0000;

pub fn set_user_reg(
    ctx: &mut UserContext,
    _extra: &mut ExtraRegs,
    index: usize,
    value: u64,
) -> Result<(), Errno> {
    match index {
        0..=30 => ctx.x[index] = value,
        31 => ctx.sp = value,
        32 => ctx.pc = value,
        33 => ctx.pstate = value & PSTATE_USER,
        _ => return Err(EIO),
    }
    Ok(())
}

pub fn extra_regs(_fs_base: u64, _gs_base: u64) -> ExtraRegs {
    ExtraRegs { orig: u64::MAX }
}

/// The syscall a task stopping on its way back to user mode made (kept
/// for symmetry with x86_64; arm64's regsets do not show it).
pub fn orig_syscall(_ctx: &UserContext, nr: u64) -> u64 {
    nr
}

/// A syscall-entry stop shows the registers as they are (x8 holds the
/// number).
pub fn syscall_entry_view(_ctx: &mut UserContext) {}

/// `struct user_fpsimd_state` of the context (the FP/SIMD registers are
/// saved with it at every exception).
pub fn save_fpregs(ctx: &UserContext) -> Vec<u8> {
    let mut out = Vec::with_capacity(FPREGS_SIZE);
    for q in ctx.q {
        out.extend_from_slice(&q.to_le_bytes());
    }
    out.extend_from_slice(&(ctx.fpsr as u32).to_le_bytes());
    out.extend_from_slice(&(ctx.fpcr as u32).to_le_bytes());
    out.extend_from_slice(&[0u8; 8]);
    out
}

pub fn load_fpregs(ctx: &mut UserContext, bytes: &[u8]) {
    if bytes.len() < FPREGS_SIZE {
        return;
    }
    for (i, q) in ctx.q.iter_mut().enumerate() {
        *q = u128::from_le_bytes(bytes[i * 16..i * 16 + 16].try_into().unwrap());
    }
    ctx.fpsr = u32::from_le_bytes(bytes[512..516].try_into().unwrap()) as u64;
    ctx.fpcr = u32::from_le_bytes(bytes[516..520].try_into().unwrap()) as u64;
}

/// TPIDR_EL0 is not part of these regsets.
pub fn load_tls(_extra: &ExtraRegs) {}

/// Single-stepping needs MDSCR_EL1.SS and the software-step exception,
/// which the sentry does not handle: not available.
pub fn set_single_step(_ctx: &mut UserContext, _extra: &mut ExtraRegs, on: bool) -> bool {
    !on
}

pub fn xstate_size() -> Option<usize> {
    None
}

pub fn xstate_from_fpregs(_fpregs: &[u8], _size: usize) -> Vec<u8> {
    Vec::new()
}

pub fn fpregs_from_xstate(_buf: &[u8], _current: &[u8]) -> Result<Vec<u8>, Errno> {
    Err(EINVAL)
}

pub fn get_debugreg(_regs: &[u64; 8], _n: usize) -> u64 {
    0
}

pub fn set_debugreg(_regs: &mut [u64; 8], _n: usize, _value: u64) -> Result<(), Errno> {
    Err(EIO)
}
