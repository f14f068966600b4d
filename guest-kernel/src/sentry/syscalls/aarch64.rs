//! The aarch64 syscall table: the Linux generic (asm-generic/unistd.h)
//! numbers onto the same handlers as x86_64 (`defs.rs`). Calls that only
//! exist on x86_64 (open, stat, pipe, dup2, poll, select, arch_prctl, ...)
//! have no number here: aarch64 programs use the *at/2/3 forms.
//! docs/syscalls-aarch64.md is generated from this table
//! (`qemu-runner --board qemu-aarch64-virt --print-syscall-table`), so it
//! cannot drift.

use super::args::adapt;
use super::HandlerDef;
use super::Support::Partial;
use super::{defs::HANDLERS, index_by_name, SyscallDef, MAX_SYSCALLS};
use crate::arch::aarch64::syscall_names::SYSCALL_NAMES;

/// Handlers whose support differs on aarch64.
const AARCH64_HANDLERS: &[HandlerDef] = &[HandlerDef {
    name: "ptrace",
    family: "ptrace",
    handler: adapt!(super::ptrace::sys_ptrace),
    support: Partial("registers through PTRACE_GETREGSET/SETREGSET only (NT_PRSTATUS, NT_PRFPREG; arm64 has no PEEKUSER or GETREGS); no NT_ARM_SYSTEM_CALL (a tracer cannot change the syscall number), no hardware breakpoints or watchpoints; PTRACE_SINGLESTEP is EIO (no software step); no PTRACE_LISTEN, PEEKSIGINFO; a tracee's exit is reported to its real parent only"),
}];

pub static TABLE: [Option<SyscallDef>; MAX_SYSCALLS] =
    index_by_name(&[HANDLERS, AARCH64_HANDLERS], SYSCALL_NAMES);

/// The command that prints this table (docs/syscalls-aarch64.md).
pub const GENERATED_BY: &str = "qemu-runner --board qemu-aarch64-virt --print-syscall-table";

pub fn name_of(nr: u64) -> Option<&'static str> {
    SYSCALL_NAMES
        .iter()
        .find(|(n, _)| *n as u64 == nr)
        .map(|(_, name)| *name)
}
