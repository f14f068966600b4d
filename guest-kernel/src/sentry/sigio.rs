//! File owners and SIGIO (Linux's fown and fasync, fs/fcntl.c): the
//! thread, process or process group an open file description signals
//! (F_SETOWN, F_SETOWN_EX), with which signal (F_SETSIG), when a file
//! with O_ASYNC becomes ready or a lease on it is broken.
//!
//! O_ASYNC is watched through the file's wait queues: a watcher sits on
//! them as a waiting task would, and a wake queues it. Its signal goes at
//! the next return towards user mode of any task (or from the idle loop),
//! where tasks may be signalled; the file's activity count says whether
//! anything happened to it. Pipes, FIFOs, sockets and inotify descriptors
//! signal (on Linux, the files with a fasync operation); other files keep
//! the flag and stay silent, as there.

use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};

use spin::Mutex;

use crate::sentry::errno::*;
use crate::sentry::fd::{OpenFile, POLLERR, POLLHUP, POLLIN, POLLOUT};
use crate::sentry::signal::{SigInfo, SI_KERNEL};
use crate::sentry::task::Task;
use crate::sentry::wait::{WaitQueue, Wake};

pub const SIGIO: u8 = 29;
pub const O_ASYNC: u32 = 0o20000;

/// si_code of a SIGIO-style signal: why it came.
pub const POLL_IN: i32 = 1;
pub const POLL_OUT: i32 = 2;
pub const POLL_MSG: i32 = 3;
pub const POLL_ERR: i32 = 4;
/// si_code for a signal with codes of its own (SIGSEGV...), where
/// POLL_* would be ambiguous.
const SI_SIGIO: i32 = -5;

/// Whom an owner id names (F_OWNER_TID, F_OWNER_PID, F_OWNER_PGRP).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OwnerKind {
    /// A new description's: Linux's f_owner starts as PIDTYPE_PID.
    #[default]
    Thread,
    Process,
    Group,
}

/// An open file description's owner and signal.
#[derive(Clone, Debug, Default)]
pub struct FOwner {
    pub kind: OwnerKind,
    /// 0: nobody.
    pub id: i32,
    /// The real and effective user ids of whoever set it: each signal is
    /// checked against the target's ids with them (Linux's sigio_perm).
    pub uid: u32,
    pub euid: u32,
    /// F_SETSIG's signal; 0 sends a plain SIGIO.
    pub signum: u8,
    /// The setter's Landlock domain (when the owner is another process):
    /// its signal scope holds for these signals too.
    pub landlock: Option<alloc::sync::Arc<crate::sentry::landlock::Domain>>,
}

/// Whether `id` names a live (or not yet reaped) thread, process, process
/// group or session, as Linux's find_vpid finds a struct pid.
pub fn id_exists(id: i32) -> bool {
    use crate::sentry::sched;
    id > 0
        && (sched::process_of_thread(id).is_some()
            || sched::is_zombie(id)
            || sched::processes()
                .iter()
                .any(|p| p.pgid() == id || p.sid() == id))
}

/// Sets the owner of `file` (F_SETOWN, F_SETOWN_EX, a lease): ESRCH for
/// an id that names nothing. `force` false only sets it when there is
/// none (a lease does that).
pub fn set_owner(
    current: &Task,
    file: &OpenFile,
    kind: OwnerKind,
    id: i32,
    force: bool,
) -> Result<(), Errno> {
    if id != 0 && !id_exists(id) {
        return Err(ESRCH);
    }
    let mut owner = file.owner.lock();
    if !force && owner.id != 0 {
        return Ok(());
    }
    owner.kind = kind;
    owner.id = id;
    if id != 0 {
        owner.uid = current.creds.user[0];
        owner.euid = current.creds.user[1];
        // Linux's hook_file_set_fowner: signals to the setter's own
        // process are never scoped.
        let own = match kind {
            OwnerKind::Thread | OwnerKind::Process => {
                crate::sentry::sched::process_of_thread(id) == Some(current.pid)
                    || id == current.pid
            }
            OwnerKind::Group => false,
        };
        owner.landlock = if own {
            None
        } else {
            current.creds.landlock.clone()
        };
    }
    Ok(())
}

/// The owner of `file` as F_GETOWN_EX reports it: its id is 0 once
/// nothing it names lives.
pub fn owner_of(file: &OpenFile) -> (OwnerKind, i32) {
    use crate::sentry::sched;
    let owner = file.owner.lock().clone();
    let alive = owner.id > 0
        && match owner.kind {
            OwnerKind::Thread | OwnerKind::Process => {
                sched::process_of_thread(owner.id).is_some() || sched::is_zombie(owner.id)
            }
            OwnerKind::Group => sched::processes().iter().any(|p| p.pgid() == owner.id),
        };
    (owner.kind, if alive { owner.id } else { 0 })
}

/// Linux's sigio_perm: the owner's setter was root, or one of its real
/// and effective ids is the target's real or saved uid.
fn may_signal(owner: &FOwner, pid: i32) -> bool {
    let Some(process) = crate::sentry::sched::process(pid) else {
        return false;
    };
    if let Some(domain) = owner.landlock.as_deref() {
        let target = process.view.landlock.lock().clone();
        if crate::sentry::landlock::is_scoped(
            domain,
            target.as_deref(),
            crate::sentry::landlock::SCOPE_SIGNAL,
        ) {
            return false;
        }
    }
    let ids = process.view.ids.lock().uid;
    let (real, saved) = (ids[0], ids[2]);
    owner.euid == 0
        || [owner.uid, owner.euid]
            .iter()
            .any(|&u| u == real || u == saved)
}

/// The signal `owner` gets for `reason` on descriptor `fd` (Linux's
/// send_sigio_to_task): F_SETSIG's with si_band and si_fd, or a plain
/// SIGIO.
fn signal_info(owner: &FOwner, fd: i32, reason: i32) -> SigInfo {
    if owner.signum == 0 {
        return SigInfo::new(SIGIO, SI_KERNEL);
    }
    // Linux's band_table: the poll bits each reason stands for.
    let band: u64 = match reason {
        POLL_IN => 0x41,   // POLLIN | POLLRDNORM
        POLL_OUT => 0x304, // POLLOUT | POLLWRNORM | POLLWRBAND
        POLL_MSG => 0x441, // POLLIN | POLLRDNORM | POLLMSG
        POLL_ERR => 0x8,   // POLLERR
        _ => 0x18,         // POLLHUP | POLLERR
    };
    use crate::sentry::signal::*;
    let own_codes = matches!(
        owner.signum,
        SIGILL | SIGFPE | SIGSEGV | SIGBUS | SIGTRAP | SIGCHLD | SIGSYS
    );
    let code = if own_codes { SI_SIGIO } else { reason };
    let mut info = SigInfo::new(owner.signum, code);
    info.fields[0] = band;
    info.fields[1] = fd as u32 as u64;
    info
}

/// Sends the owner's signal for `reason` on descriptor `fd` (Linux's
/// send_sigio). `current` is the running task when called from its
/// syscall or trap, None from the idle loop.
pub fn send(mut current: Option<&mut Task>, owner: FOwner, fd: i32, reason: i32) {
    use crate::sentry::sched;
    if owner.id <= 0 {
        return;
    }
    let info = signal_info(&owner, fd, reason);
    match owner.kind {
        OwnerKind::Thread => {
            let Some(pid) = sched::process_of_thread(owner.id) else {
                return;
            };
            if may_signal(&owner, pid) {
                job_control(current.as_deref_mut(), pid, info.signo as u8);
                if !to_thread(current.as_deref_mut(), owner.id, info) {
                    // A full real-time queue: the plain SIGIO instead.
                    to_thread(current, owner.id, SigInfo::new(SIGIO, SI_KERNEL));
                }
            }
        }
        OwnerKind::Process => {
            // The id may name any thread: its whole process is signalled.
            let Some(pid) = sched::process_of_thread(owner.id) else {
                return;
            };
            if may_signal(&owner, pid) {
                to_process_with_fallback(current, pid, info);
            }
        }
        OwnerKind::Group => {
            let members: Vec<i32> = sched::processes()
                .iter()
                .filter(|p| p.pgid() == owner.id)
                .map(|p| p.pid)
                .collect();
            for pid in members {
                if may_signal(&owner, pid) {
                    to_process_with_fallback(current.as_deref_mut(), pid, info);
                }
            }
        }
    }
}

/// Stop and continue signals act on the whole process as they are sent
/// (only where the running task is at hand: its syscall or trap).
fn job_control(current: Option<&mut Task>, pid: i32, signal: u8) {
    if let Some(task) = current {
        crate::sentry::sched::job_control_on_send(pid, signal, task);
    }
}

fn to_process_with_fallback(mut current: Option<&mut Task>, pid: i32, info: SigInfo) {
    job_control(current.as_deref_mut(), pid, info.signo as u8);
    if !to_process(current.as_deref_mut(), pid, info) {
        // A full real-time queue: the plain SIGIO instead (as Linux).
        to_process(current, pid, SigInfo::new(SIGIO, SI_KERNEL));
    }
}

/// Queues `info` on process `pid`; false when its queue was full.
fn to_process(current: Option<&mut Task>, pid: i32, info: SigInfo) -> bool {
    use crate::sentry::sched;
    match current {
        Some(task) if task.pid == pid => {
            let queued = task.signals.send_to_process(info);
            sched::wake_process(pid);
            queued
        }
        Some(_) => sched::signal_process(pid, info).unwrap_or(true),
        None => {
            let queued = sched::with_thread_of_idle(pid, |t| t.signals.send_to_process(info));
            sched::wake_process(pid);
            queued.unwrap_or(true)
        }
    }
}

/// Queues `info` on thread `tid`; false when its queue was full.
fn to_thread(current: Option<&mut Task>, tid: i32, info: SigInfo) -> bool {
    use crate::sentry::sched;
    match current {
        Some(task) if task.tid == tid => task.signals.send(info),
        Some(_) => sched::with_parked_thread(tid, |t| t.signals.send(info)).unwrap_or(true),
        None => sched::with_task_of_idle(tid, |t| t.signals.send(info)).unwrap_or(true),
    }
}

/// Watches a file with O_ASYNC: queued when one of its wait queues is
/// woken.
pub struct AsyncWatch {
    file: Weak<OpenFile>,
    /// The descriptor O_ASYNC was set through (si_fd).
    fd: AtomicI32,
    /// The file's activity count when last signalled.
    seen: AtomicU64,
    queues: Vec<Arc<WaitQueue>>,
}

/// Watches woken since the last drain.
static WOKEN: Mutex<Vec<Weak<AsyncWatch>>> = Mutex::new(Vec::new());
static PENDING: AtomicBool = AtomicBool::new(false);

impl Wake for AsyncWatch {
    fn wake(self: Arc<Self>) {
        let mut woken = WOKEN.lock();
        let me = Arc::as_ptr(&self);
        if !woken.iter().any(|w| w.as_ptr() == me) {
            woken.push(Arc::downgrade(&self));
        }
        PENDING.store(true, Ordering::Release);
    }
}

impl AsyncWatch {
    /// Takes the watch off its file's queues.
    pub fn detach(self: &Arc<Self>) {
        for queue in &self.queues {
            queue.remove(self);
        }
    }
}

/// Whether a file signals its readiness under O_ASYNC.
fn signals_readiness(file: &OpenFile) -> bool {
    let f = &file.file;
    f.as_pipe().is_some() || f.as_socket().is_some() || f.as_inotify().is_some()
}

/// F_SETFL changed O_ASYNC on `file` (set through descriptor `fd`).
pub fn set_async(file: &Arc<OpenFile>, fd: i32, on: bool) {
    let mut slot = file.async_watch.lock();
    if !on {
        if let Some(watch) = slot.take() {
            watch.detach();
        }
        return;
    }
    if let Some(watch) = slot.as_ref() {
        watch.fd.store(fd, Ordering::Relaxed);
        return;
    }
    if !signals_readiness(file) {
        return;
    }
    let mut queues = Vec::new();
    file.file.wait_queues(&mut queues);
    let watch = Arc::new(AsyncWatch {
        file: Arc::downgrade(file),
        fd: AtomicI32::new(fd),
        seen: AtomicU64::new(file.file.activity()),
        queues,
    });
    for queue in &watch.queues {
        queue.add(&watch);
    }
    *slot = Some(watch);
}

/// Signals queued by `queue` (dnotify's), sent at the next drain.
static QUEUED: Mutex<Vec<(Weak<OpenFile>, i32, i32)>> = Mutex::new(Vec::new());

/// Queues the owner's signal of `file` for `reason` on descriptor `fd`,
/// sent at the next return towards user mode (for notifications raised
/// where no task is at hand: the signal goes before the syscall that
/// caused it returns, as Linux sends it from inside that syscall).
pub fn queue(file: Weak<OpenFile>, fd: i32, reason: i32) {
    QUEUED.lock().push((file, fd, reason));
    PENDING.store(true, Ordering::Release);
}

/// Whether O_ASYNC signals wait to be sent.
pub fn pending() -> bool {
    PENDING.load(Ordering::Acquire)
}

/// Sends the O_ASYNC signals of the files that changed (see `send` for
/// `current`).
pub fn drain(mut current: Option<&mut Task>) {
    PENDING.store(false, Ordering::Release);
    let queued = core::mem::take(&mut *QUEUED.lock());
    for (file, fd, reason) in queued {
        if let Some(file) = file.upgrade() {
            let owner = file.owner.lock().clone();
            send(current.as_deref_mut(), owner, fd, reason);
        }
    }
    let woken = core::mem::take(&mut *WOKEN.lock());
    for watch in woken.iter().filter_map(Weak::upgrade) {
        let Some(file) = watch.file.upgrade() else {
            continue;
        };
        if *file.flags.lock() & O_ASYNC == 0 {
            continue;
        }
        let activity = file.file.activity();
        if watch.seen.swap(activity, Ordering::Relaxed) == activity {
            continue;
        }
        let ready = file.file.poll(POLLIN | POLLOUT);
        let reason = if ready & (POLLIN | POLLHUP) != 0 {
            POLL_IN
        } else if ready & POLLOUT != 0 {
            POLL_OUT
        } else if ready & POLLERR != 0 {
            POLL_ERR
        } else {
            continue;
        };
        let owner = file.owner.lock().clone();
        send(
            current.as_deref_mut(),
            owner,
            watch.fd.load(Ordering::Relaxed),
            reason,
        );
    }
}
