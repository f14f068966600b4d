//! pidfds: descriptors for processes. pidfd_open (and CLONE_PIDFD in
//! `spawn`) make one, pidfd_send_signal signals through it, pidfd_getfd
//! copies a descriptor out of the process, and waitid(P_PIDFD) and poll
//! wait for its end. The file is `vfs::events::PidFd`; it holds the
//! process object, so a pidfd never names a recycled pid.

use alloc::sync::Arc;

use super::fd_arg;
use super::SyscallContext;
use crate::sentry::errno::*;
use crate::sentry::fd::{OpenFile, O_NONBLOCK, O_RDWR};
use crate::sentry::sched;
use crate::sentry::task::{Process, Task};
use crate::sentry::vfs::events::PidFd;
use crate::sentry::vfs::procfs::ProcNode;

/// CAP_SYS_PTRACE: pidfd_getfd from a process of other credentials.
const CAP_SYS_PTRACE: u64 = 1 << 19;

/// Installs a pidfd for `pid` (close-on-exec, as every pidfd is).
pub fn install(
    task: &Task,
    pid: i32,
    process: Option<Arc<Process>>,
    nonblocking: bool,
) -> Result<i32, Errno> {
    let flags = O_RDWR | if nonblocking { O_NONBLOCK } else { 0 };
    let open = OpenFile::labeled(
        PidFd::new(pid, process),
        flags,
        b"anon_inode:[pidfd]".to_vec(),
    );
    task.fds().insert(open, true, 0)
}

/// The pidfd at descriptor `fd`: its pid and open file. EBADF for a
/// descriptor that is not a pidfd.
pub fn target(ctx: &mut SyscallContext, fd: u64) -> Result<(i32, Arc<OpenFile>), Errno> {
    let file = ctx.task.fds().get(fd_arg(fd))?.clone();
    let pid = file.file.as_pidfd().ok_or(EBADF)?.pid;
    Ok((pid, file))
}

/// The process pidfd_send_signal's descriptor names: a pidfd or, as on
/// Linux, an open /proc/<pid> directory, and whether it can still be
/// signalled (it lives or is a zombie not yet reaped).
fn signal_target(ctx: &mut SyscallContext, fd: u64) -> Result<(i32, bool), Errno> {
    let file = ctx.task.fds().get(fd_arg(fd))?.clone();
    if let Some(pidfd) = file.file.as_pidfd() {
        return Ok((pidfd.pid, !pidfd.exited() || sched::is_zombie(pidfd.pid)));
    }
    let inode = file.file.inode().ok_or(EBADF)?;
    let node = inode.as_any().downcast_ref::<ProcNode>().ok_or(EBADF)?;
    let pid = node.process_dir_pid().ok_or(EBADF)?;
    let alive = pid == ctx.task.pid || sched::process(pid).is_some() || sched::is_zombie(pid);
    Ok((pid, alive))
}

pub fn sys_pidfd_open(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let (pid, flags) = (args[0] as i32, args[1]);
    if flags & !(O_NONBLOCK as u64) != 0 || pid <= 0 {
        return Err(EINVAL);
    }
    let process = if pid == ctx.task.pid {
        Some(ctx.task.process.clone())
    } else {
        sched::process(pid)
    };
    match &process {
        Some(p) if p.pid == pid => {}
        // A zombie is still a process (its pidfd is readable at once).
        None if sched::is_zombie(pid) => {}
        // A thread that is not its process's leader.
        _ if sched::process_of_thread(pid).is_some() => return Err(EINVAL),
        _ => return Err(ESRCH),
    }
    Ok(install(&ctx.task, pid, process, flags != 0)? as u64)
}

pub fn sys_pidfd_send_signal(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let (fd, signal, info, flags) = (args[0], args[1], args[2], args[3]);
    if flags != 0 {
        return Err(EINVAL);
    }
    let (pid, alive) = signal_target(ctx, fd)?;
    if !alive {
        return Err(ESRCH);
    }
    if info == 0 {
        return super::signal::sys_kill(ctx, [pid as u64, signal, 0, 0, 0, 0]);
    }
    // The siginfo must be for the signal sent.
    let given: crate::sentry::signal::SigInfo =
        crate::sentry::mm::usermem::UserPtr::new(info).read(&mut ctx.task.mm())?;
    if given.signo as u64 != signal {
        return Err(EINVAL);
    }
    super::signal::sys_rt_sigqueueinfo(ctx, [pid as u64, signal, info, 0, 0, 0])
}

pub fn sys_pidfd_getfd(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let (fd, target_fd, flags) = (args[0], args[1], args[2]);
    if flags != 0 {
        return Err(EINVAL);
    }
    let (_, file) = target(ctx, fd)?;
    let pidfd = file.file.as_pidfd().expect("target() gives pidfds");
    let process = match &pidfd.process {
        Some(p) if !p.has_exited() => p.clone(),
        _ => return Err(ESRCH),
    };
    if !Arc::ptr_eq(&process, &ctx.task.process) {
        // Linux's ptrace access check (PTRACE_MODE_ATTACH_REALCREDS): the
        // caller's real ids are all of the target's, or CAP_SYS_PTRACE.
        let ids = *process.view.ids.lock();
        let (uid, gid) = (ctx.task.creds.user[0], ctx.task.creds.group[0]);
        let same = ids.uid.iter().all(|&u| u == uid) && ids.gid.iter().all(|&g| g == gid);
        if !same && ctx.task.creds.caps().effective & CAP_SYS_PTRACE == 0 {
            return Err(EPERM);
        }
    }
    let taken = {
        // Never wait on another task's table from inside a syscall: a
        // table held across a switch is a busy moment, try again.
        let fds = process.view.fds.try_lock().ok_or(EAGAIN)?;
        fds.get(fd_arg(target_fd))?.clone()
    };
    // The copy is close-on-exec, as Linux makes it.
    Ok(ctx.task.fds().insert(taken, true, 0)? as u64)
}
