//! Syscall dispatch. Each architecture has one table (`x86_64.rs`,
//! `aarch64.rs`) mapping its syscall numbers onto the arch-neutral handlers
//! listed in `defs.rs`, which live in the sibling files, one family per
//! file (named in the list and in docs/syscalls*.md): read_write, poll,
//! ioctl, copy (sendfile, copy_file_range), splice (splice, tee,
//! vmsplice), fdops (close, dup, fcntl, pipe,
//! sync), locks (flock, record locks), open, stat, namei (names in
//! directories), dir (getdents64, cwd, umask), attr (chmod, chown,
//! truncate, times), xattr, socket (the socket calls; the sockets are
//! `sentry::net`), events (eventfd, timerfd, signalfd, epoll),
//! memory, futex, signal, spawn (clone, fork, execve, wait), process
//! (exit, ids, limits, prctl, scheduling policy), mqueue (POSIX message
//! queues), keys (add_key, request_key, keyctl), landlock (Landlock and
//! the LSM calls), ns (unshare, setns,
//! the nsfs ioctls), system (credentials,
//! process groups and sessions, sysinfo), time (clocks, sleeps, timers,
//! getrandom). `path.rs` holds
//! the path-argument helpers of the file families, `args.rs` the typed
//! handler arguments (converted from the registers once, at the table). A
//! number without a handler is -ENOSYS, logged once by name.

// The handlers of x86_64-only calls (open, stat, pipe, dup2, poll, select,
// arch_prctl, time, ...) have no number in the aarch64 table.
#[cfg_attr(target_arch = "aarch64", allow(dead_code))]
pub mod aio;
pub mod args;
pub mod attr;
#[cfg_attr(target_arch = "aarch64", allow(dead_code))]
pub mod copy;
#[cfg_attr(target_arch = "aarch64", allow(dead_code))]
pub mod defs;
#[cfg_attr(target_arch = "aarch64", allow(dead_code))]
pub mod dir;
#[cfg_attr(target_arch = "aarch64", allow(dead_code))]
pub mod events;
#[cfg_attr(target_arch = "aarch64", allow(dead_code))]
pub mod fdops;
pub mod fhandle;
pub mod futex;
#[cfg_attr(target_arch = "aarch64", allow(dead_code))]
pub mod ioctl;
pub mod kcmp;
pub mod keys;
pub mod landlock;
#[cfg_attr(target_arch = "aarch64", allow(dead_code))]
pub mod locks;
pub mod membarrier;
pub mod memory;
pub mod mount;
pub mod mqueue;
#[cfg_attr(target_arch = "aarch64", allow(dead_code))]
pub mod namei;
pub mod ns;
#[cfg_attr(target_arch = "aarch64", allow(dead_code))]
pub mod open;
#[cfg_attr(target_arch = "aarch64", allow(dead_code))]
pub mod path;
pub mod pidfd;
#[cfg_attr(target_arch = "aarch64", allow(dead_code))]
pub mod poll;
#[cfg_attr(target_arch = "aarch64", allow(dead_code))]
pub mod process;
pub mod process_vm;
#[cfg_attr(target_arch = "aarch64", allow(dead_code))]
pub mod ptrace;
#[cfg_attr(target_arch = "aarch64", allow(dead_code))]
pub mod read_write;
pub mod sched;
pub mod seccomp;
pub mod signal;
#[cfg_attr(target_arch = "aarch64", allow(dead_code))]
pub mod socket;
#[cfg_attr(target_arch = "aarch64", allow(dead_code))]
pub mod spawn;
pub mod splice;
#[cfg_attr(target_arch = "aarch64", allow(dead_code))]
pub mod stat;
#[cfg_attr(target_arch = "aarch64", allow(dead_code))]
pub mod system;
pub mod sysvipc;
#[cfg_attr(target_arch = "aarch64", allow(dead_code))]
pub mod time;
pub mod userfaultfd;
#[cfg(target_arch = "x86_64")]
pub mod x86_64;
#[cfg_attr(target_arch = "aarch64", allow(dead_code))]
pub mod xattr;
#[cfg(target_arch = "x86_64")]
use self::x86_64 as table;
#[cfg(target_arch = "aarch64")]
pub mod aarch64;
#[cfg(target_arch = "aarch64")]
use self::aarch64 as table;

use core::sync::atomic::{AtomicU64, Ordering};

use crate::arch::UserContext;
use crate::sentry::errno::*;
use alloc::sync::Arc;

use crate::sentry::sched::{TaskCell, TaskRef};

/// What a handler gets: the running task (locked; see [`TaskRef`]) and the
/// caller's saved registers.
pub struct SyscallContext<'a> {
    pub task: TaskRef<'a>,
    pub regs: &'a mut UserContext,
    /// Set by handlers that rewrite the user context beyond the return value
    /// (every register must then be restored, not just rax).
    pub full_return: bool,
}

/// A table entry: the raw registers in, the result out. Handlers themselves
/// take typed arguments; `args::adapt!` makes this from them.
pub type Handler = fn(&mut SyscallContext, [u64; 6]) -> SysResult;

/// A file-descriptor argument (the kernel takes the low 32 bits as an int).
pub fn fd_arg(value: u64) -> i32 {
    value as i32
}

/// How completely a syscall is implemented (shown in docs/syscalls.md).
#[derive(Clone, Copy)]
pub enum Support {
    Full,
    /// Implemented, with the stated gaps.
    Partial(&'static str),
}

#[derive(Clone, Copy)]
pub struct SyscallDef {
    pub name: &'static str,
    /// The file (module) of the handler: its syscall family.
    pub family: &'static str,
    pub handler: Handler,
    pub support: Support,
}

/// Highest syscall number + 1 covered by the dispatch arrays.
pub const MAX_SYSCALLS: usize = 512;

/// A handler under its Linux name (numbers come from each architecture).
#[derive(Clone, Copy)]
pub struct HandlerDef {
    pub name: &'static str,
    /// The file (module) of the handler: its syscall family.
    pub family: &'static str,
    pub handler: Handler,
    pub support: Support,
}

const fn same_name(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Builds an architecture's number-indexed dispatch array at compile time:
/// every handler whose name the architecture numbers, at that number.
pub const fn index_by_name(
    handlers: &[&[HandlerDef]],
    names: &[(usize, &str)],
) -> [Option<SyscallDef>; MAX_SYSCALLS] {
    let mut out = [None; MAX_SYSCALLS];
    let mut list = 0;
    while list < handlers.len() {
        let mut i = 0;
        while i < handlers[list].len() {
            let def = handlers[list][i];
            let mut n = 0;
            while n < names.len() {
                if same_name(names[n].1, def.name) {
                    let nr = names[n].0;
                    assert!(nr < MAX_SYSCALLS);
                    assert!(out[nr].is_none(), "syscall listed twice");
                    out[nr] = Some(SyscallDef {
                        name: def.name,
                        family: def.family,
                        handler: def.handler,
                        support: def.support,
                    });
                }
                n += 1;
            }
            i += 1;
        }
        list += 1;
    }
    out
}

static LOGGED_UNSUPPORTED: [AtomicU64; MAX_SYSCALLS / 64] =
    [const { AtomicU64::new(0) }; MAX_SYSCALLS / 64];

fn log_unsupported_once(nr: u64) {
    let name = table::name_of(nr).unwrap_or("unknown");
    if nr as usize >= MAX_SYSCALLS {
        log::info!("unsupported syscall {name} ({nr}): ENOSYS");
        return;
    }
    let bit = 1u64 << (nr % 64);
    if LOGGED_UNSUPPORTED[nr as usize / 64].fetch_or(bit, Ordering::Relaxed) & bit == 0 {
        log::info!("unsupported syscall {name} ({nr}): ENOSYS");
    }
}

/// Runs the syscall in `regs` on the task's own kernel stack (a call that
/// waits blocks right here while other tasks run); returns true when the
/// fast return path (which restores only rax and reloads rcx/r11 from
/// rip/rflags) is enough.
pub fn dispatch(regs: &mut UserContext) -> bool {
    crate::sentry::sched::run_entry(|cell| run(cell, regs))
}

/// The syscall proper, with the task locked; None when the task ended.
fn run(cell: &Arc<TaskCell>, regs: &mut UserContext) -> Option<bool> {
    let mut nr = crate::arch::syscall_number(regs);
    let mut args = crate::arch::syscall_args(regs);
    cell.syscall
        .store(nr, core::sync::atomic::Ordering::Relaxed);
    let mut ctx = SyscallContext {
        task: TaskRef::lock(cell),
        regs,
        full_return: false,
    };
    ctx.task.syscalls += 1;
    // PTRACE_SYSCALL: the tracer sees the entry and may change the number
    // and arguments, or skip the call (number -1: the result is what it
    // left in the registers).
    let traced_syscall = crate::sentry::ptrace::traces_syscalls(&ctx.task);
    if traced_syscall {
        nr = crate::sentry::ptrace::syscall_entry(&mut ctx.task, ctx.regs, nr);
        args = crate::arch::syscall_args(ctx.regs);
        ctx.full_return = true;
    }
    // seccomp: the thread's filters decide whether the call runs.
    let mut verdict = None;
    if ctx.task.seccomp.mode != crate::sentry::seccomp::MODE_DISABLED {
        match seccomp::on_entry(&mut ctx.task, ctx.regs, nr, args) {
            seccomp::Entry::Run(changed) => {
                if changed != nr {
                    nr = changed;
                    args = crate::arch::syscall_args(ctx.regs);
                }
            }
            seccomp::Entry::Skip(result) => verdict = Some(result),
        }
    }
    let def = table::TABLE.get(nr as usize).copied().flatten();
    let result = match def {
        _ if verdict.is_some() => verdict.unwrap_or(Err(ENOSYS)),
        _ if traced_syscall && nr == u64::MAX => Ok(crate::arch::syscall_result(ctx.regs)),
        _ if ctx.task.cell().killed() => Err(EINTR),
        Some(def) => (def.handler)(&mut ctx, args),
        None => {
            log_unsupported_once(nr);
            Err(ENOSYS)
        }
    };
    let mut full_return = ctx.full_return;
    if result == Err(ERESTARTSYS) {
        // A host signal that interrupted a wait in the VMM (a console
        // read) decides, like any other, whether the call restarts.
        crate::hv::events::drain(Some(&mut ctx.task));
        if crate::sentry::signal::restarts_after_handler(&ctx.task.signals) {
            // Back to the syscall instruction with the original number and
            // arguments: the handler's frame saves this context, and the
            // call runs again when the handler returns.
            crate::arch::rewind_syscall(ctx.regs, nr, args);
            full_return = true;
        } else {
            regs_set_result(ctx.regs, Err(EINTR));
        }
    } else {
        regs_set_result(ctx.regs, result);
    }
    if ctx.task.signals.traced {
        // PTRACE_EVENT stops the call asked for (fork, clone, exec): before
        // a vfork parent waits for its child, as on Linux.
        crate::sentry::ptrace::after_syscall(&mut ctx.task, ctx.regs);
    }
    if let Some(request) = ctx.task.switch_request.take() {
        if let SwitchRequest::VforkWait(child) = request {
            full_return |= after_syscall(&mut ctx.task, request);
            crate::sentry::ptrace::vfork_done(&mut ctx.task, ctx.regs, child);
        } else {
            full_return |= after_syscall(&mut ctx.task, request);
        }
    }
    if ctx.task.signals.traced {
        // The syscall-exit stop.
        if crate::sentry::ptrace::traces_syscalls(&ctx.task) {
            crate::sentry::ptrace::syscall_exit(&mut ctx.task, ctx.regs);
        }
        crate::sentry::ptrace::syscall_done(&ctx.task);
        full_return = true;
    }
    let SyscallContext { task, regs, .. } = ctx;
    crate::sentry::traps::return_to_user(task, regs).map(|changed| !(full_return || changed))
}

/// What a syscall asked for once its result is in place: a vfork parent
/// waits for its child to exec or exit; sched_yield lets others run.
fn after_syscall(task: &mut TaskRef, request: SwitchRequest) -> bool {
    match request {
        SwitchRequest::VforkWait(child) => {
            task.vfork_child = Some(child);
            while task.vfork_child.is_some() && !task.cell().killed() {
                task.unlocked(|| crate::sentry::sched::block_current(u64::MAX, false));
            }
            false
        }
        SwitchRequest::Yield => {
            task.unlocked(crate::sentry::sched::yield_current);
            false
        }
    }
}

/// What a syscall wants done with the running task once it returns.
#[derive(Clone, Copy, Debug)]
pub enum SwitchRequest {
    /// vfork: park the parent until the child execs or exits.
    VforkWait(i32),
    /// sched_yield: let another runnable task run first.
    Yield,
}

fn regs_set_result(regs: &mut UserContext, result: SysResult) {
    let value = match result {
        Ok(value) => value,
        Err(errno) => (-(errno.0 as i64)) as u64,
    };
    crate::arch::set_syscall_result(regs, value);
}

/// Writes the syscall support table (Markdown) to stdout: every syscall
/// number the architecture has, with its status in the dispatch table.
pub fn print_support_table() {
    use crate::hv::console::{write, Stream};
    use core::fmt::Write;
    let mut out = alloc::string::String::new();
    let names = crate::arch::syscall_names::SYSCALL_NAMES;
    let defs = || table::TABLE.iter().flatten();
    let implemented = defs().count();
    let partial = defs()
        .filter(|d| matches!(d.support, Support::Partial(_)))
        .count();
    let _ = writeln!(
        out,
        "# {} syscall support\n\n\
         Generated from the sentry's dispatch table by `{}`; \
         do not edit by hand.\n\n\
         {implemented} of {} syscalls implemented ({} full, {partial} partial); \
         every other number returns `-ENOSYS` and is logged once (see `-v`).\n\n\
         | nr | name | family | status | notes |\n| ---: | --- | --- | --- | --- |",
        crate::arch::NAME,
        table::GENERATED_BY,
        names.len(),
        implemented - partial
    );
    for &(nr, name) in names {
        let (family, status, notes) = match table::TABLE.get(nr).copied().flatten() {
            Some(def) => {
                assert_eq!(def.name, name, "syscall table name mismatch for {nr}");
                match def.support {
                    Support::Full => (def.family, "full", ""),
                    Support::Partial(notes) => (def.family, "partial", notes),
                }
            }
            None => ("", "ENOSYS", ""),
        };
        let _ = writeln!(out, "| {nr} | {name} | {family} | {status} | {notes} |");
    }
    write(Stream::Stdout, out.as_bytes());
}
