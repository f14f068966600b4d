//! membarrier: memory barriers across a process's threads, which JITs
//! (wasmtime on aarch64, V8, the JVM) use after writing code.
//!
//! The sentry runs every task on one vCPU, so the threads of a process
//! never run at the same time as the caller: when any of them runs again
//! it enters user mode through the sentry (a context switch, and on aarch64
//! an `eret`, which is context-synchronizing), after the caller's stores
//! and cache maintenance. Every barrier is therefore complete as soon as
//! the call is made; what remains is Linux's bookkeeping, kept exactly:
//! the private expedited commands need their registration first (EPERM
//! otherwise), as programs probe for it.

use core::sync::atomic::Ordering;

use super::SyscallContext;
use crate::sentry::errno::*;

const CMD_QUERY: u64 = 0;
const CMD_GLOBAL: u64 = 1 << 0;
const CMD_GLOBAL_EXPEDITED: u64 = 1 << 1;
const CMD_REGISTER_GLOBAL_EXPEDITED: u64 = 1 << 2;
const CMD_PRIVATE_EXPEDITED: u64 = 1 << 3;
const CMD_REGISTER_PRIVATE_EXPEDITED: u64 = 1 << 4;
const CMD_PRIVATE_EXPEDITED_SYNC_CORE: u64 = 1 << 5;
const CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE: u64 = 1 << 6;

/// What QUERY reports (no RSEQ commands: there is no rseq).
const SUPPORTED: u64 = CMD_GLOBAL
    | CMD_GLOBAL_EXPEDITED
    | CMD_REGISTER_GLOBAL_EXPEDITED
    | CMD_PRIVATE_EXPEDITED
    | CMD_REGISTER_PRIVATE_EXPEDITED
    | CMD_PRIVATE_EXPEDITED_SYNC_CORE
    | CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE;

pub fn sys_membarrier(ctx: &mut SyscallContext, cmd: u64, flags: u64) -> SysResult {
    // The only flag, MEMBARRIER_CMD_FLAG_CPU, is for the RSEQ commands.
    if flags != 0 {
        return Err(EINVAL);
    }
    let registered = &ctx.task.process.membarrier_registered;
    match cmd {
        CMD_QUERY => Ok(SUPPORTED),
        CMD_GLOBAL | CMD_GLOBAL_EXPEDITED => Ok(0),
        CMD_REGISTER_GLOBAL_EXPEDITED
        | CMD_REGISTER_PRIVATE_EXPEDITED
        | CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE => {
            registered.fetch_or(cmd, Ordering::Relaxed);
            Ok(0)
        }
        CMD_PRIVATE_EXPEDITED | CMD_PRIVATE_EXPEDITED_SYNC_CORE => {
            // The registration for a command is the command's bit shifted
            // left by one.
            if registered.load(Ordering::Relaxed) & (cmd << 1) == 0 {
                return Err(EPERM);
            }
            Ok(0)
        }
        _ => Err(EINVAL),
    }
}
