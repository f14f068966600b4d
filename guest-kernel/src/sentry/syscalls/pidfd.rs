//! pidfds: descriptors for processes. pidfd_open (and CLONE_PIDFD in
//! `spawn`) make one, pidfd_send_signal signals through it, pidfd_getfd
//! copies a descriptor out of the process, and waitid(P_PIDFD) and poll
//! wait for its end. The file is `vfs::events::PidFd`; it holds the
//! process object, so a pidfd never names a recycled pid.

use alloc::sync::Arc;

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
pub fn target(ctx: &mut SyscallContext, fd: i32) -> Result<(i32, Arc<OpenFile>), Errno> {
    let file = ctx.task.fds().get(fd)?.clone();
    let pid = file.file.as_pidfd().ok_or(EBADF)?.pid;
    Ok((pid, file))
}

/// The process pidfd_send_signal's descriptor names: a pidfd or, as on
/// Linux, an open /proc/<pid> directory, and whether it can still be
/// signalled (it lives or is a zombie not yet reaped).
fn signal_target(ctx: &mut SyscallContext, fd: i32) -> Result<(i32, bool), Errno> {
    let file = ctx.task.fds().get(fd)?.clone();
    if let Some(pidfd) = file.file.as_pidfd() {
        return Ok((pidfd.pid, !pidfd.exited() || sched::is_zombie(pidfd.pid)));
    }
    let inode = file.file.inode().ok_or(EBADF)?;
    let node = inode.as_any().downcast_ref::<ProcNode>().ok_or(EBADF)?;
    let pid = node.process_dir_pid().ok_or(EBADF)?;
    // The directory holds its process, as Linux's holds its struct pid:
    // another process that took the pid since is not it.
    let this = |p: Arc<Process>| Arc::ptr_eq(&p.view, node.view());
    let alive = Arc::ptr_eq(&ctx.task.process.view, node.view())
        || sched::process(pid).is_some_and(this)
        || sched::zombie_process(pid).is_some_and(this);
    Ok((pid, alive))
}

pub fn sys_pidfd_open(ctx: &mut SyscallContext, pid: i32, flags: u64) -> SysResult {
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
        None if sched::is_zombie(pid) => {
            return Ok(install(&ctx.task, pid, sched::zombie_process(pid), flags != 0)? as u64);
        }
        // A thread that is not its process's leader.
        _ if sched::process_of_thread(pid).is_some() => return Err(EINVAL),
        _ => return Err(ESRCH),
    }
    Ok(install(&ctx.task, pid, process, flags != 0)? as u64)
}

pub fn sys_pidfd_send_signal(
    ctx: &mut SyscallContext,
    fd: i32,
    signal: u64,
    info: u64,
    flags: u64,
) -> SysResult {
    if flags != 0 {
        return Err(EINVAL);
    }
    let (pid, alive) = signal_target(ctx, fd)?;
    if !alive {
        return Err(ESRCH);
    }
    if info == 0 {
        return super::signal::sys_kill(ctx, pid, signal);
    }
    // The siginfo must be for the signal sent.
    let given: crate::sentry::signal::SigInfo =
        crate::sentry::mm::usermem::UserPtr::new(info).read(&mut ctx.task.mm())?;
    if given.signo as u64 != signal {
        return Err(EINVAL);
    }
    super::signal::sys_rt_sigqueueinfo(ctx, pid, signal, info)
}

pub fn sys_pidfd_getfd(ctx: &mut SyscallContext, fd: i32, target_fd: i32, flags: u64) -> SysResult {
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
        // Linux's ptrace access check (PTRACE_MODE_ATTACH_REALCREDS):
        // Landlock's domains, then the caller's real ids are all of the
        // target's, or CAP_SYS_PTRACE.
        let domain = process.view.landlock.lock().clone();
        if !crate::sentry::landlock::may_ptrace(
            ctx.task.creds.landlock.as_deref(),
            domain.as_deref(),
        ) {
            return Err(EPERM);
        }
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
        let table = process.view.fds();
        let fds = table.try_lock().ok_or(EAGAIN)?;
        fds.get(target_fd)?.clone()
    };
    // The copy is close-on-exec, as Linux makes it.
    Ok(ctx.task.fds().insert(taken, true, 0)? as u64)
}

// --- ioctls (Linux's pidfs) -----------------------------------------------

const PIDFS_IOCTL_MAGIC: u64 = 0xff;
/// PIDFD_GET_INFO's number; its size is the caller's struct pidfd_info.
const PIDFD_GET_INFO_NR: u64 = 11;
const PIDFD_INFO_SIZE_VER0: u64 = 64;
/// The struct as this kernel fills it (Linux 6.18's, 80 bytes).
const PIDFD_INFO_SIZE: usize = 80;
const PIDFD_INFO_PID: u64 = 1 << 0;
const PIDFD_INFO_CREDS: u64 = 1 << 1;
const PIDFD_INFO_EXIT: u64 = 1 << 3;
const PIDFD_INFO_SUPPORTED_MASK: u64 = 1 << 5;
/// What PIDFD_GET_INFO can tell (no cgroup ids, no core dumps here).
const PIDFD_INFO_SUPPORTED: u64 =
    PIDFD_INFO_PID | PIDFD_INFO_CREDS | PIDFD_INFO_EXIT | PIDFD_INFO_SUPPORTED_MASK;

/// Linux's ptrace_may_access(PTRACE_MODE_READ_FSCREDS) on `process`: the
/// caller's own, or its filesystem ids match all of the target's real,
/// effective and saved ids, or CAP_SYS_PTRACE.
fn may_read(task: &Task, process: &Process) -> bool {
    if core::ptr::eq(process, &*task.process) {
        return true;
    }
    let domain = process.view.landlock.lock().clone();
    if !crate::sentry::landlock::may_ptrace(task.creds.landlock.as_deref(), domain.as_deref()) {
        return false;
    }
    let ids = *process.view.ids.lock();
    let (uid, gid) = (task.creds.fsuid, task.creds.fsgid);
    ids.uid.iter().all(|&u| u == uid) && ids.gid.iter().all(|&g| g == gid)
        || task.creds.caps().effective & CAP_SYS_PTRACE != 0
}

/// ioctl on a pidfd: PIDFD_GET_INFO, and PIDFD_GET_*_NAMESPACE (a
/// descriptor for one of the process's namespaces). Anything else ENOTTY.
pub fn ioctl(ctx: &mut SyscallContext, pidfd: &PidFd, request: u64, arg: u64) -> SysResult {
    let (dir, size) = (request >> 30, (request >> 16) & 0x3fff);
    let (kind, nr) = ((request >> 8) & 0xff, request & 0xff);
    if kind != PIDFS_IOCTL_MAGIC {
        return Err(ENOTTY);
    }
    if nr == PIDFD_GET_INFO_NR {
        // _IOWR, at least the first published struct (Linux's
        // extensible-ioctl check).
        if dir != 3 || size < PIDFD_INFO_SIZE_VER0 {
            return Err(ENOTTY);
        }
        return info(ctx, pidfd, size as usize, arg);
    }
    use crate::sentry::ns::NsKind;
    let which = match (dir, size, nr) {
        (0, 0, 1..=10) => nr,
        _ => return Err(ENOTTY),
    };
    let theirs = sched::thread_namespaces(pidfd.pid).ok_or(ESRCH)?;
    if arg != 0 {
        return Err(EINVAL);
    }
    let process = pidfd.process.as_ref().ok_or(ESRCH)?;
    if !may_read(&ctx.task, process) {
        return Err(EACCES);
    }
    let kind = match which {
        2 => NsKind::Ipc,
        3 => NsKind::Mnt,
        4 => NsKind::Net,
        5 => NsKind::Pid,
        6 => NsKind::PidForChildren,
        7 => NsKind::Time,
        8 => NsKind::TimeForChildren,
        9 => NsKind::User,
        10 => NsKind::Uts,
        // Cgroup namespaces: the sandbox has none.
        _ => return Err(EOPNOTSUPP),
    };
    super::ns::open_ns(ctx, theirs.get(kind))
}

/// PIDFD_GET_INFO: the process's ids and credentials while it is there
/// (a zombie too), its wait status once reaped (PIDFD_INFO_EXIT asked);
/// ESRCH for a reaped one unless its exit is asked about.
fn info(ctx: &mut SyscallContext, pidfd: &PidFd, size: usize, arg: u64) -> SysResult {
    if arg == 0 {
        return Err(EINVAL);
    }
    let mask: u64 = crate::sentry::mm::usermem::UserPtr::new(arg).read(&mut ctx.task.mm())?;
    let mut out = [0u8; PIDFD_INFO_SIZE];
    let put32 = |out: &mut [u8; PIDFD_INFO_SIZE], at: usize, v: u32| {
        out[at..at + 4].copy_from_slice(&v.to_le_bytes());
    };
    let mut found = 0u64;
    let reaped = pidfd
        .process
        .as_ref()
        .map_or(Some(None), |p| p.reaped_status().map(Some));
    match (reaped, &pidfd.process) {
        (None, Some(process)) => {
            let ids = *process.view.ids.lock();
            for (i, v) in [
                ids.uid[0], ids.gid[0], ids.uid[1], ids.gid[1], ids.uid[2], ids.gid[2], ids.fsuid,
                ids.fsgid,
            ]
            .into_iter()
            .enumerate()
            {
                put32(&mut out, 28 + 4 * i, v);
            }
            found |= PIDFD_INFO_CREDS;
            put32(&mut out, 16, process.pid as u32);
            put32(&mut out, 20, process.pid as u32);
            put32(&mut out, 24, process.ppid() as u32);
            found |= PIDFD_INFO_PID;
        }
        (Some(status), _) => {
            if mask & PIDFD_INFO_EXIT == 0 {
                return Err(ESRCH);
            }
            if let Some(status) = status {
                put32(&mut out, 60, status);
                found |= PIDFD_INFO_EXIT;
            }
        }
        (None, None) => return Err(ESRCH),
    }
    if mask & PIDFD_INFO_SUPPORTED_MASK != 0 {
        found |= PIDFD_INFO_SUPPORTED_MASK;
        out[72..80].copy_from_slice(&PIDFD_INFO_SUPPORTED.to_le_bytes());
    }
    out[..8].copy_from_slice(&found.to_le_bytes());
    // The caller's struct: what it has room for, zeros past ours.
    let mut user = alloc::vec![0u8; size];
    let n = size.min(PIDFD_INFO_SIZE);
    user[..n].copy_from_slice(&out[..n]);
    ctx.task.mm().copy_to_user(arg, &user)?;
    Ok(0)
}
