//! The x86_64 syscall table: Linux x86_64 numbers (from the UAPI header,
//! `arch::x86_64::syscall_names`) onto the handlers of `defs.rs`, plus the
//! x86-only ones. docs/syscalls.md is generated from this table
//! (`rvisor-vmm --print-syscall-table`), so it cannot drift.

use super::args::adapt;
use super::process::sys_arch_prctl;
use super::HandlerDef;
use super::Support::Partial;
use super::{defs::HANDLERS, index_by_name, SyscallDef, MAX_SYSCALLS};
use crate::arch::x86_64::syscall_names::SYSCALL_NAMES;

/// Handlers only x86_64 has.
const X86_64_HANDLERS: &[HandlerDef] = &[
    HandlerDef {
        name: "arch_prctl",
        family: "process",
        handler: adapt!(sys_arch_prctl),
        support: Partial("ARCH_SET/GET_FS, ARCH_SET/GET_GS, ARCH_GET/SET_CPUID (ENODEV without CPUID faulting)"),
    },
    HandlerDef {
        name: "ptrace",
        family: "ptrace",
        handler: adapt!(super::ptrace::sys_ptrace),
        support: Partial("debug registers are checked and kept but never armed (hardware breakpoints do not fire); NT_X86_XSTATE holds x87/SSE only; no PTRACE_LISTEN, PEEKSIGINFO, ARCH_PRCTL, GET/SET_THREAD_AREA, SYSEMU; PTRACE_INTERRUPT does not end a blocked syscall; a tracee's exit is reported to its real parent only"),
    },
];

pub static TABLE: [Option<SyscallDef>; MAX_SYSCALLS] =
    index_by_name(&[HANDLERS, X86_64_HANDLERS], SYSCALL_NAMES);

/// The command that prints this table (docs/syscalls.md).
pub const GENERATED_BY: &str = "rvisor-vmm --print-syscall-table";

pub fn name_of(nr: u64) -> Option<&'static str> {
    SYSCALL_NAMES
        .iter()
        .find(|(n, _)| *n as u64 == nr)
        .map(|(_, name)| *name)
}
