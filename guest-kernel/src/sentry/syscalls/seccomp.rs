//! seccomp(2) and prctl's PR_SET_SECCOMP/PR_GET_SECCOMP: installing
//! filters, and `on_entry`, the check every syscall of a thread with a
//! filter passes first (the filters themselves: sentry/seccomp.rs).

use alloc::vec::Vec;

use super::{SysResult, SyscallContext};
use crate::sentry::errno::*;
use crate::sentry::sched::TaskRef;
use crate::sentry::seccomp::{self, Action, Insn, Seccomp};
use crate::sentry::signal::{SigInfo, SIGKILL, SIGSYS, SI_KERNEL};

const SECCOMP_SET_MODE_STRICT: u64 = 0;
const SECCOMP_SET_MODE_FILTER: u64 = 1;
const SECCOMP_GET_ACTION_AVAIL: u64 = 2;
const SECCOMP_GET_NOTIF_SIZES: u64 = 3;

const FLAG_TSYNC: u64 = 1;
const FLAG_LOG: u64 = 2;
const FLAG_SPEC_ALLOW: u64 = 4;
const FLAG_NEW_LISTENER: u64 = 8;
const FLAG_TSYNC_ESRCH: u64 = 16;
const FLAG_WAIT_KILLABLE_RECV: u64 = 32;

/// si_code of a seccomp SIGSYS.
const SYS_SECCOMP: i32 = 1;
const CAP_SYS_ADMIN: u32 = 21;
const PTRACE_O_TRACESECCOMP: u32 = 0x80;

pub fn sys_seccomp(ctx: &mut SyscallContext, op: u32, flags: u32, uargs: u64) -> SysResult {
    let (op, flags) = (op as u64, flags as u64);
    match op {
        SECCOMP_SET_MODE_STRICT => {
            if flags != 0 || uargs != 0 {
                return Err(EINVAL);
            }
            set_strict(&mut ctx.task)
        }
        SECCOMP_SET_MODE_FILTER => set_filter(ctx, flags, uargs),
        SECCOMP_GET_ACTION_AVAIL => {
            if flags != 0 {
                return Err(EINVAL);
            }
            let action: u32 = ctx.task.mm().read_val(uargs)?;
            // No user-notification listener can be made (see set_filter).
            if !seccomp::action_available(action) || action == seccomp::RET_USER_NOTIF {
                return Err(EOPNOTSUPP);
            }
            Ok(0)
        }
        SECCOMP_GET_NOTIF_SIZES => {
            if flags != 0 {
                return Err(EINVAL);
            }
            // struct seccomp_notif_sizes: notif, resp, data.
            let sizes: [u16; 3] = [80, 24, seccomp::DATA_SIZE as u16];
            ctx.task.mm().write_val(uargs, &sizes)?;
            Ok(0)
        }
        _ => Err(EINVAL),
    }
}

/// PR_GET_SECCOMP: the mode (a strict-mode thread never gets here: prctl
/// is not among its calls).
pub fn prctl_get(task: &crate::sentry::task::Task) -> SysResult {
    Ok(task.seccomp.mode as u64)
}

/// PR_SET_SECCOMP: the mode and, for a filter, its `struct sock_fprog`.
pub fn prctl_set(ctx: &mut SyscallContext, mode: u64, prog: u64) -> SysResult {
    match mode as u32 {
        seccomp::MODE_STRICT => set_strict(&mut ctx.task),
        seccomp::MODE_FILTER => set_filter(ctx, 0, prog),
        _ => Err(EINVAL),
    }
}

fn set_strict(task: &mut TaskRef) -> SysResult {
    if task.seccomp.mode != seccomp::MODE_DISABLED {
        return Err(EINVAL);
    }
    task.seccomp.mode = seccomp::MODE_STRICT;
    crate::sentry::syscalls::system::note_ids(task);
    Ok(0)
}

fn set_filter(ctx: &mut SyscallContext, flags: u64, prog: u64) -> SysResult {
    let known = FLAG_TSYNC
        | FLAG_LOG
        | FLAG_SPEC_ALLOW
        | FLAG_NEW_LISTENER
        | FLAG_TSYNC_ESRCH
        | FLAG_WAIT_KILLABLE_RECV;
    if flags & !known != 0 {
        return Err(EINVAL);
    }
    if flags & (FLAG_NEW_LISTENER | FLAG_WAIT_KILLABLE_RECV) != 0 {
        // User notification (a supervisor answering for the filter) is not
        // implemented; refused as an unknown flag would be.
        log_listener_once();
        return Err(EINVAL);
    }
    if ctx.task.seccomp.mode == seccomp::MODE_STRICT {
        return Err(EINVAL);
    }
    let mut insns = read_program(ctx, prog)?;
    seccomp::check(&mut insns)?;
    let mut next = ctx.task.seccomp.clone();
    // (FLAG_LOG asks for audit records of the actions: there is no audit
    // log here; RET_LOG is allowed silently too.)
    next.push(insns)?;
    if flags & FLAG_TSYNC != 0 {
        // Every other thread of the process takes the same filters; one
        // whose filters are not an ancestor of the caller's fails the
        // call (its tid, or ESRCH with TSYNC_ESRCH).
        let (pid, tid) = (ctx.task.pid, ctx.task.tid);
        let others: Vec<i32> = crate::sentry::sched::thread_ids(pid)
            .into_iter()
            .filter(|&t| t != tid)
            .collect();
        let current = ctx.task.seccomp.clone();
        for &other in &others {
            let fits = crate::sentry::sched::inspect_thread(other, |t| {
                current.descends_from(&t.seccomp) && t.seccomp.mode != seccomp::MODE_STRICT
            })
            .unwrap_or(true);
            if !fits {
                return if flags & FLAG_TSYNC_ESRCH != 0 {
                    Err(ESRCH)
                } else {
                    Ok(other as u64)
                };
            }
        }
        for &other in &others {
            let shared = next.clone();
            crate::sentry::sched::modify_thread(other, |t| {
                t.seccomp = shared;
                // TSYNC also sets no_new_privs on the others.
                t.no_new_privs |= ctx.task.no_new_privs;
            });
        }
    }
    ctx.task.seccomp = next;
    crate::sentry::syscalls::system::note_ids(&mut ctx.task);
    Ok(0)
}

fn log_listener_once() {
    static LOGGED: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);
    if !LOGGED.swap(true, core::sync::atomic::Ordering::Relaxed) {
        log::info!("seccomp: user-notification listeners are not supported: EINVAL");
    }
}

/// The filter program `struct sock_fprog { unsigned short len; struct
/// sock_filter *filter; }` points at.
fn read_program(ctx: &mut SyscallContext, prog: u64) -> Result<Vec<Insn>, Errno> {
    let header: [u64; 2] = ctx.task.mm().read_val(prog)?;
    let (len, at) = ((header[0] & 0xffff) as usize, header[1]);
    if len == 0 || len > seccomp::MAX_INSNS {
        return Err(EINVAL);
    }
    // Without no_new_privs only CAP_SYS_ADMIN may (a filter could fool a
    // set-user-ID program); checked, as Linux does, once the header read.
    if !ctx.task.no_new_privs && !ctx.task.creds.has_cap(CAP_SYS_ADMIN) {
        return Err(EACCES);
    }
    let mut bytes = alloc::vec![0u8; len * 8];
    ctx.task.mm().copy_from_user(at, &mut bytes)?;
    Ok(bytes
        .chunks_exact(8)
        .map(|b| Insn {
            code: u16::from_ne_bytes([b[0], b[1]]),
            jt: b[2],
            jf: b[3],
            k: u32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
        })
        .collect())
}

/// What the filters decided about a syscall about to run.
pub enum Entry {
    /// Run it (as `nr`: a tracer may have changed it).
    Run(u64),
    /// Do not run it: it returns this.
    Skip(SysResult),
}

/// The seccomp check at syscall entry, for a thread with a mode set.
pub fn on_entry(
    task: &mut TaskRef,
    regs: &mut crate::arch::UserContext,
    nr: u64,
    args: [u64; 6],
) -> Entry {
    if task.seccomp.mode == seccomp::MODE_STRICT {
        if crate::arch::STRICT_SECCOMP_SYSCALLS.contains(&nr) {
            return Entry::Run(nr);
        }
        // Linux ends the thread with SIGKILL.
        kill_thread_or_process(task, SigInfo::new(SIGKILL, SI_KERNEL), false);
        return Entry::Skip(Err(EINTR));
    }
    let ip = regs.pc();
    let data = seccomp::data(nr, crate::arch::AUDIT_ARCH, ip, args);
    let ret = task.seccomp.evaluate(&data);
    match seccomp::action_of(ret) {
        Action::Allow | Action::Log => Entry::Run(nr),
        Action::Errno(0) => Entry::Skip(Ok(0)),
        Action::Errno(errno) => Entry::Skip(Err(Errno(errno as i32))),
        Action::Trap(data) => {
            task.signals.force(sigsys(nr, ip, data));
            // The registers as at entry (Linux's syscall_rollback).
            Entry::Skip(Ok(crate::arch::syscall_rollback_value(nr, args)))
        }
        Action::Trace(data) => {
            let asked = task.signals.traced
                && task.cell().ptrace.lock().options & PTRACE_O_TRACESECCOMP != 0;
            if !asked {
                return Entry::Skip(Err(ENOSYS));
            }
            match crate::sentry::ptrace::seccomp_stop(task, regs, nr, data) {
                u64::MAX => Entry::Skip(Ok(crate::arch::syscall_result(regs))),
                nr => Entry::Run(nr),
            }
        }
        // No listener can exist: Linux answers ENOSYS.
        Action::UserNotif => Entry::Skip(Err(ENOSYS)),
        Action::KillThread => {
            kill_thread_or_process(task, sigsys(nr, ip, (ret & 0xffff) as u16), false);
            Entry::Skip(Err(EINTR))
        }
        Action::KillProcess => {
            kill_thread_or_process(task, sigsys(nr, ip, (ret & 0xffff) as u16), true);
            Entry::Skip(Err(EINTR))
        }
    }
}

/// SIGSYS with si_code SYS_SECCOMP: the call's address, number and
/// architecture, and the filter's data as si_errno.
fn sigsys(nr: u64, ip: u64, data: u16) -> SigInfo {
    let mut info = SigInfo::new(SIGSYS, SYS_SECCOMP);
    info.errno = data as i32;
    info.fields[0] = ip;
    info.fields[1] = nr as u32 as u64 | (crate::arch::AUDIT_ARCH as u64) << 32;
    info
}

/// A kill verdict: a thread with siblings ends alone (KILL_THREAD, strict
/// mode); otherwise the process dies of the signal, its handler and mask
/// overridden (SIGSYS dumps core, as Linux's force_sig_seccomp).
fn kill_thread_or_process(task: &mut TaskRef, info: SigInfo, whole_process: bool) {
    task.seccomp = Seccomp {
        mode: seccomp::MODE_STRICT,
        filter: None,
    };
    if !whole_process && crate::sentry::sched::has_other_threads(task.pid, task.tid) {
        task.thread_exit = true;
        return;
    }
    task.signals.force_default(info);
}
