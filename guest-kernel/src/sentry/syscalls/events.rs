//! Event descriptors: eventfd, timerfd, signalfd and epoll, inotify and
//! fanotify. The files are in `vfs::events`, `vfs::epoll`,
//! `vfs::inotify` and `vfs::fanotify`; waiting is the poll loop of
//! `poll.rs`.

use crate::sentry::mm::usermem::UserPtr;
use alloc::sync::Arc;
use alloc::vec::Vec;

use super::poll::{poll_files, wait_until_ready, PollItem, Watch};
use super::time::{clock_ns, read_itimerspec, CLOCK_BOOTTIME, CLOCK_MONOTONIC, CLOCK_REALTIME};
use super::SyscallContext;
use crate::sentry::errno::*;
use crate::sentry::fd::*;
use crate::sentry::signal::{SigInfo, UNBLOCKABLE};
use crate::sentry::vfs::epoll::*;
use crate::sentry::vfs::events::{EventFd, SignalFd, TimerFd};
use crate::sentry::vfs::inotify::Inotify;

/// Installs `file` at the lowest free descriptor.
fn install(ctx: &mut SyscallContext, file: Arc<dyn File>, flags: u32, label: &[u8]) -> SysResult {
    let mut name = b"anon_inode:".to_vec();
    name.extend_from_slice(label);
    let open = OpenFile::labeled(file, O_RDWR | (flags & O_NONBLOCK), name);
    let fd = ctx.task.fds().insert(open, flags & O_CLOEXEC != 0, 0)?;
    Ok(fd as u64)
}

// --- eventfd ------------------------------------------------------------------------

pub fn sys_eventfd2(ctx: &mut SyscallContext, initval: u32, flags: u64) -> SysResult {
    const EFD_SEMAPHORE: u32 = 1;
    let flags = u32::try_from(flags).map_err(|_| EINVAL)?;
    if flags & !(EFD_SEMAPHORE | O_CLOEXEC | O_NONBLOCK) != 0 {
        return Err(EINVAL);
    }
    let file = EventFd::new(initval as u64, flags & EFD_SEMAPHORE != 0);
    install(ctx, file, flags, b"[eventfd]")
}

pub fn sys_eventfd(ctx: &mut SyscallContext, initval: u32) -> SysResult {
    sys_eventfd2(ctx, initval, 0)
}

// --- timerfd ------------------------------------------------------------------------

const CLOCK_REALTIME_ALARM: u64 = 8;
const CLOCK_BOOTTIME_ALARM: u64 = 9;
const TFD_TIMER_ABSTIME: u64 = 1;
const TFD_TIMER_CANCEL_ON_SET: u64 = 2;

pub fn sys_timerfd_create(ctx: &mut SyscallContext, clockid: u64, flags: u64) -> SysResult {
    let clock = match clockid {
        CLOCK_REALTIME | CLOCK_MONOTONIC | CLOCK_BOOTTIME => clockid,
        // The alarm clocks only differ by waking a suspended machine.
        CLOCK_REALTIME_ALARM => CLOCK_REALTIME,
        CLOCK_BOOTTIME_ALARM => CLOCK_BOOTTIME,
        _ => return Err(EINVAL),
    };
    let flags = u32::try_from(flags).map_err(|_| EINVAL)?;
    if flags & !(O_CLOEXEC | O_NONBLOCK) != 0 {
        return Err(EINVAL);
    }
    install(ctx, TimerFd::new(clock), flags, b"[timerfd]")
}

fn timerfd_of(ctx: &mut SyscallContext, fd: i32) -> Result<Arc<OpenFile>, Errno> {
    let file = ctx.task.fds().get(fd)?.clone();
    if file.file.as_timerfd().is_none() {
        return Err(EINVAL);
    }
    Ok(file)
}

/// (interval, time left) of a timerfd, as an itimerspec.
fn timerfd_value(timer: &TimerFd) -> [i64; 4] {
    let now = crate::sentry::time::monotonic_ns();
    let mut state = timer.state.lock();
    state.update(now);
    let left = state
        .deadline_ns
        .map_or(0, |d| d.saturating_sub(now).max(1));
    let ns = |v: u64| [(v / 1_000_000_000) as i64, (v % 1_000_000_000) as i64];
    let [i0, i1] = ns(state.interval_ns);
    let [l0, l1] = ns(left);
    [i0, i1, l0, l1]
}

pub fn sys_timerfd_settime(
    ctx: &mut SyscallContext,
    fd: i32,
    flags: u64,
    new: u64,
    old: UserPtr<[i64; 4]>,
) -> SysResult {
    let file = timerfd_of(ctx, fd)?;
    if flags & !(TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET) != 0 {
        return Err(EINVAL);
    }
    let (interval, value) = read_itimerspec(ctx, new)?;
    let timer = file.file.as_timerfd().ok_or(EINVAL)?;
    if !old.is_null() {
        let current = timerfd_value(timer);
        old.write(&mut ctx.task.mm(), &current)?;
    }
    let now = crate::sentry::time::monotonic_ns();
    let deadline = if value == 0 {
        None
    } else if flags & TFD_TIMER_ABSTIME != 0 {
        // An absolute time on the timer's clock, as a monotonic deadline.
        let clock_now = clock_ns(ctx, timer.clock)?;
        Some(now.saturating_add(value.saturating_sub(clock_now)))
    } else {
        Some(now.saturating_add(value))
    };
    let mut state = timer.state.lock();
    state.deadline_ns = deadline;
    state.interval_ns = interval;
    state.ticks = 0;
    Ok(0)
}

pub fn sys_timerfd_gettime(
    ctx: &mut SyscallContext,
    fd: i32,
    curr_value: UserPtr<[i64; 4]>,
) -> SysResult {
    let file = timerfd_of(ctx, fd)?;
    let value = timerfd_value(file.file.as_timerfd().ok_or(EINVAL)?);
    curr_value.write(&mut ctx.task.mm(), &value)?;
    Ok(0)
}

// --- signalfd -----------------------------------------------------------------------

fn signalfd_core(
    ctx: &mut SyscallContext,
    fd: i32,
    mask_addr: u64,
    size: u64,
    flags: u64,
) -> SysResult {
    if size != 8 || flags & !((O_CLOEXEC | O_NONBLOCK) as u64) != 0 {
        return Err(EINVAL);
    }
    let mask: u64 = UserPtr::<u64>::new(mask_addr).read(&mut ctx.task.mm())?;
    let mask = mask & !UNBLOCKABLE;
    if fd == -1 {
        return install(ctx, SignalFd::new(mask), flags as u32, b"[signalfd]");
    }
    let file = ctx.task.fds().get(fd)?.clone();
    let signalfd = file.file.as_signalfd().ok_or(EINVAL)?;
    *signalfd.mask.lock() = mask;
    Ok(fd as u64)
}

pub fn sys_signalfd4(
    ctx: &mut SyscallContext,
    fd: i32,
    mask: u64,
    sizemask: u64,
    flags: u64,
) -> SysResult {
    signalfd_core(ctx, fd, mask, sizemask, flags)
}

pub fn sys_signalfd(ctx: &mut SyscallContext, fd: i32, mask: u64, sizemask: u64) -> SysResult {
    signalfd_core(ctx, fd, mask, sizemask, 0)
}

/// `struct signalfd_siginfo` (128 bytes) for a dequeued signal.
fn signalfd_record(info: &SigInfo) -> [u8; 128] {
    let mut out = [0u8; 128];
    let mut put32 = |at: usize, v: u32| out[at..at + 4].copy_from_slice(&v.to_le_bytes());
    put32(0, info.signo as u32);
    put32(4, info.errno as u32);
    put32(8, info.code as u32);
    let (lo, hi) = (info.fields[0] as u32, (info.fields[0] >> 32) as u32);
    let kernel = info.code > 0 && info.code != crate::sentry::signal::SI_KERNEL;
    if !kernel {
        // Sent by a process (pid, uid) or by a POSIX timer (id, overrun).
        if info.code == crate::sentry::signal::SI_TIMER {
            put32(24, lo); // ssi_tid: the timer id
            put32(32, hi); // ssi_overrun
        } else {
            put32(12, lo); // ssi_pid
            put32(16, hi); // ssi_uid
        }
        put32(44, info.fields[1] as u32); // ssi_int
        out[48..56].copy_from_slice(&info.fields[1].to_le_bytes()); // ssi_ptr
    } else {
        out[72..80].copy_from_slice(&info.fields[0].to_le_bytes()); // ssi_addr
    }
    out
}

/// read(2) on a signalfd: takes pending signals of its set, lowest first.
pub fn read_signalfd(
    ctx: &mut SyscallContext,
    file: &Arc<OpenFile>,
    addr: u64,
    len: u64,
    mask: u64,
) -> SysResult {
    if len < 128 {
        return Err(EINVAL);
    }
    let room = (len / 128).min(64) as usize;
    loop {
        let mut records = Vec::new();
        while records.len() < room * 128 {
            let ready = ctx.task.signals.pending() & mask;
            if ready == 0 {
                break;
            }
            let signal = ready.trailing_zeros() as u8 + 1;
            let info = ctx.task.signals.take(signal);
            records.extend_from_slice(&signalfd_record(&info));
        }
        if !records.is_empty() {
            ctx.task.mm().copy_to_user(addr, &records)?;
            return Ok(records.len() as u64);
        }
        if file.nonblocking() {
            return Err(EAGAIN);
        }
        wait_until_ready(ctx, file, POLLIN)?;
    }
}

// --- epoll --------------------------------------------------------------------------

/// `struct epoll_event`: packed (12 bytes) on x86_64, 16 bytes on arm64.
#[cfg(target_arch = "x86_64")]
const EVENT_SIZE: usize = 12;
#[cfg(not(target_arch = "x86_64"))]
const EVENT_SIZE: usize = 16;
const DATA_OFFSET: usize = EVENT_SIZE - 8;

/// Epoll watching epoll: Linux allows 4 levels below the top.
const EPOLL_MAX_NESTS: usize = 4;

pub fn sys_epoll_create1(ctx: &mut SyscallContext, flags: u64) -> SysResult {
    let flags = u32::try_from(flags).map_err(|_| EINVAL)?;
    if flags & !O_CLOEXEC != 0 {
        return Err(EINVAL);
    }
    install(ctx, Epoll::new(), flags, b"[eventpoll]")
}

pub fn sys_epoll_create(ctx: &mut SyscallContext, size: i32) -> SysResult {
    if size <= 0 {
        return Err(EINVAL);
    }
    sys_epoll_create1(ctx, 0)
}

/// How deep `epoll` nests epolls below it, or None when `target` is among
/// them (a loop).
fn nesting_depth(epoll: &Epoll, target: *const Epoll) -> Option<usize> {
    let mut deepest = 0;
    for (_, file, _) in epoll.live() {
        if let Some(inner) = file.file.as_epoll() {
            if core::ptr::eq(inner, target) {
                return None;
            }
            deepest = deepest.max(1 + nesting_depth(inner, target)?);
        }
    }
    Some(deepest)
}

pub fn sys_epoll_ctl(
    ctx: &mut SyscallContext,
    epfd: i32,
    op: u64,
    fd: i32,
    event_addr: u64,
) -> SysResult {
    const EPOLL_CTL_ADD: u64 = 1;
    const EPOLL_CTL_DEL: u64 = 2;
    const EPOLL_CTL_MOD: u64 = 3;
    let ep_file = ctx.task.fds().get(epfd)?.clone();
    let target = ctx.task.fds().get(fd)?.clone();
    // O_PATH descriptors name a location, not an open file (fdget fails).
    if [&ep_file, &target]
        .iter()
        .any(|f| *f.flags.lock() & O_PATH != 0)
    {
        return Err(EBADF);
    }
    let (events, data) = if op == EPOLL_CTL_DEL {
        (0, 0)
    } else {
        let mut raw = [0u8; EVENT_SIZE];
        ctx.task.mm().copy_from_user(event_addr, &mut raw)?;
        let events = u32::from_le_bytes(raw[..4].try_into().unwrap());
        let data = u64::from_le_bytes(raw[DATA_OFFSET..].try_into().unwrap());
        (events, data)
    };
    if !target.file.pollable() {
        return Err(EPERM);
    }
    let epoll = ep_file.file.as_epoll().ok_or(EINVAL)?;
    if fd == epfd || Arc::ptr_eq(&ep_file, &target) {
        return Err(EINVAL);
    }
    if events & EPOLLEXCLUSIVE != 0
        && (op == EPOLL_CTL_MOD || events & EPOLLONESHOT != 0 || target.file.as_epoll().is_some())
    {
        return Err(EINVAL);
    }
    let mut interests = epoll.interests.lock();
    let exists = interests
        .get(&fd)
        .is_some_and(|i| i.file.strong_count() > 0);
    match op {
        EPOLL_CTL_ADD => {
            if exists {
                return Err(EEXIST);
            }
            crate::mm::reserve_object()?;
            if let Some(inner) = target.file.as_epoll() {
                drop(interests);
                match nesting_depth(inner, epoll) {
                    Some(depth) if depth < EPOLL_MAX_NESTS => {}
                    _ => return Err(ELOOP),
                }
                interests = epoll.interests.lock();
            }
            interests.insert(
                fd,
                Interest {
                    file: Arc::downgrade(&target),
                    events: events | EPOLLERR | EPOLLHUP,
                    data,
                    armed: true,
                    reported: 0,
                    activity: target.file.activity(),
                    order: epoll.back_of_order(),
                },
            );
            Ok(0)
        }
        EPOLL_CTL_MOD => {
            let interest = interests.get_mut(&fd).filter(|_| exists).ok_or(ENOENT)?;
            if interest.events & EPOLLEXCLUSIVE != 0 {
                return Err(EINVAL);
            }
            interest.events = events | EPOLLERR | EPOLLHUP;
            interest.data = data;
            interest.armed = true;
            interest.reported = 0;
            Ok(0)
        }
        EPOLL_CTL_DEL => {
            if !exists {
                return Err(ENOENT);
            }
            interests.remove(&fd);
            Ok(0)
        }
        _ => Err(EINVAL),
    }
}

fn epoll_wait_core(
    ctx: &mut SyscallContext,
    epfd: i32,
    events_addr: u64,
    max_events: u64,
    timeout_ns: u64,
) -> SysResult {
    let max_events = max_events as i32;
    if max_events <= 0 || max_events as usize > i32::MAX as usize / EVENT_SIZE {
        return Err(EINVAL);
    }
    let max_events = max_events as usize;
    // The whole buffer must be writable before anything is taken.
    ctx.task.mm().check_user(
        events_addr,
        max_events * EVENT_SIZE,
        crate::sentry::mm::Access::Write,
    )?;
    let ep_file = ctx.task.fds().get(epfd)?.clone();
    let epoll = ep_file.file.as_epoll().ok_or(EINVAL)?;
    let deadline = crate::sentry::signal::wait_deadline(&mut ctx.task, timeout_ns);
    let mut timeout_ns = timeout_ns;
    loop {
        let live = epoll.live();
        let mut items: Vec<PollItem> = live
            .iter()
            .map(|(_, file, events)| PollItem {
                file: Watch::File(file.clone()),
                events: Epoll::poll_bits(*events),
                revents: 0,
            })
            .collect();
        let mut ignore = |i: usize, revents: i16| {
            let (fd, file, _) = &live[i];
            epoll.saturated(*fd, revents as u16 as u32, file)
        };
        poll_files(ctx, &mut items, timeout_ns, &mut ignore)?;
        let mut out = Vec::new();
        let mut taken = false;
        for ((fd, file, _), item) in live.iter().zip(&items) {
            if out.len() / EVENT_SIZE == max_events {
                break;
            }
            if item.revents == 0 {
                continue;
            }
            match epoll.report(*fd, item.revents as u16 as u32, file) {
                Report::Event(events, data) => {
                    let mut raw = [0u8; EVENT_SIZE];
                    raw[..4].copy_from_slice(&events.to_le_bytes());
                    raw[DATA_OFFSET..].copy_from_slice(&data.to_le_bytes());
                    out.extend_from_slice(&raw);
                }
                Report::Taken => taken = true,
                Report::Nothing => {}
            }
        }
        // Woken for a change another exclusive watcher took: wait again
        // (the taken registration now counts as saturated).
        if out.is_empty() && taken && timeout_ns != 0 {
            if deadline != u64::MAX {
                timeout_ns = deadline.saturating_sub(crate::sentry::time::monotonic_ns());
            }
            continue;
        }
        ctx.task.mm().copy_to_user(events_addr, &out)?;
        return Ok((out.len() / EVENT_SIZE) as u64);
    }
}

fn ms_timeout(ms: u64) -> u64 {
    match ms as i32 {
        t if t < 0 => u64::MAX,
        t => t as u64 * 1_000_000,
    }
}

pub fn sys_epoll_wait(
    ctx: &mut SyscallContext,
    epfd: i32,
    events: u64,
    maxevents: u64,
    timeout: u64,
) -> SysResult {
    epoll_wait_core(ctx, epfd, events, maxevents, ms_timeout(timeout))
}

pub fn sys_epoll_pwait(
    ctx: &mut SyscallContext,
    epfd: i32,
    events: u64,
    maxevents: u64,
    timeout: u64,
    sigmask: u64,
    sigsetsize: u64,
) -> SysResult {
    let timeout = ms_timeout(timeout);
    super::poll::with_wait_mask(ctx, sigmask, sigsetsize, |ctx| {
        epoll_wait_core(ctx, epfd, events, maxevents, timeout)
    })
}

pub fn sys_epoll_pwait2(
    ctx: &mut SyscallContext,
    epfd: i32,
    events: u64,
    maxevents: u64,
    timeout: u64,
    sigmask: u64,
    sigsetsize: u64,
) -> SysResult {
    let timeout = if timeout == 0 {
        u64::MAX
    } else {
        super::time::read_timespec(ctx, timeout)?
    };
    super::poll::with_wait_mask(ctx, sigmask, sigsetsize, |ctx| {
        epoll_wait_core(ctx, epfd, events, maxevents, timeout)
    })
}

// --- inotify ------------------------------------------------------------------------

pub fn sys_inotify_init1(ctx: &mut SyscallContext, flags: u64) -> SysResult {
    let flags = u32::try_from(flags).map_err(|_| EINVAL)?;
    if flags & !(O_CLOEXEC | O_NONBLOCK) != 0 {
        return Err(EINVAL);
    }
    let file = Inotify::new(ctx.task.creds.user[1])?;
    install(ctx, file, flags, b"inotify")
}

pub fn sys_inotify_init(ctx: &mut SyscallContext) -> SysResult {
    sys_inotify_init1(ctx, 0)
}

/// The inotify instance behind `fd` (EBADF: not open; EINVAL: not inotify).
fn inotify_of(ctx: &mut SyscallContext, fd: i32) -> Result<Arc<OpenFile>, Errno> {
    let file = ctx.task.fds().get(fd)?.clone();
    if file.file.as_inotify().is_none() {
        return Err(EINVAL);
    }
    Ok(file)
}

pub fn sys_inotify_add_watch(ctx: &mut SyscallContext, fd: i32, path: u64, mask: u32) -> SysResult {
    use crate::sentry::vfs::inotify::*;
    let open = inotify_of(ctx, fd)?;
    if mask & !IN_VALID != 0 || mask & IN_ALL_EVENTS == 0 {
        return Err(EINVAL);
    }
    if mask & (IN_MASK_ADD | IN_MASK_CREATE) == IN_MASK_ADD | IN_MASK_CREATE {
        return Err(EINVAL);
    }
    let path = super::path::read_path(ctx, path)?;
    let stack = super::path::lookup_at(
        ctx,
        super::path::AT_FDCWD,
        &path,
        mask & IN_DONT_FOLLOW == 0,
    )?;
    let node = stack.node().clone();
    if mask & IN_ONLYDIR != 0 && node.kind() != crate::sentry::vfs::FileKind::Directory {
        return Err(ENOTDIR);
    }
    let instance = open.file.as_inotify().ok_or(EINVAL)?;
    Ok(instance.add_watch(&node, mask)? as u64)
}

pub fn sys_inotify_rm_watch(ctx: &mut SyscallContext, fd: i32, wd: i32) -> SysResult {
    let open = inotify_of(ctx, fd)?;
    let instance = open.file.as_inotify().ok_or(EINVAL)?;
    instance.rm_watch(wd)?;
    Ok(0)
}

// --- fanotify -----------------------------------------------------------------------

const CAP_SYS_ADMIN: u32 = 21;

pub fn sys_fanotify_init(ctx: &mut SyscallContext, flags: u32, event_f_flags: u32) -> SysResult {
    use crate::sentry::vfs::fanotify::{Group, FAN_CLOEXEC, FAN_NONBLOCK};
    // Unprivileged groups (Linux 5.13's FAN_REPORT_FID ones) are not
    // supported: only CAP_SYS_ADMIN may, as before 5.13.
    if !ctx.task.creds.has_cap(CAP_SYS_ADMIN) {
        return Err(EPERM);
    }
    let event_flags = open_flags_from_user(event_f_flags);
    let group = Group::new(flags, event_flags)?;
    let mut open_flags = 0;
    if flags & FAN_CLOEXEC != 0 {
        open_flags |= O_CLOEXEC;
    }
    if flags & FAN_NONBLOCK != 0 {
        open_flags |= O_NONBLOCK;
    }
    install(ctx, group, open_flags, b"[fanotify]")
}

pub fn sys_fanotify_mark(
    ctx: &mut SyscallContext,
    fanotify_fd: i32,
    flags: u64,
    mask: u64,
    dirfd: i32,
    path_addr: u64,
) -> SysResult {
    use crate::sentry::vfs::fanotify::*;
    use crate::sentry::vfs::FileKind;
    let flags = u32::try_from(flags).map_err(|_| EINVAL)?;
    let open = ctx.task.fds().get(fanotify_fd)?.clone();
    let group = open.file.as_fanotify().ok_or(EINVAL)?;
    group.check_mark(flags, mask)?;
    if flags & FAN_MARK_FLUSH != 0 {
        group.flush(flags);
        return Ok(0);
    }
    // The object: the path, or dirfd's own file without one (Linux's
    // fanotify_find_path).
    let stack = if path_addr == 0 {
        let file = ctx.task.fds().get(dirfd)?.clone();
        file.location.clone().ok_or(EINVAL)?
    } else {
        let path = super::path::read_path(ctx, path_addr)?;
        super::path::lookup_at(ctx, dirfd, &path, flags & FAN_MARK_DONT_FOLLOW == 0)?
    };
    let node = stack.node().clone();
    let is_dir = node.kind() == FileKind::Directory;
    if flags & FAN_MARK_ONLYDIR != 0 && !is_dir {
        return Err(ENOTDIR);
    }
    super::path::may(ctx, &*node, crate::sentry::vfs::perm::MAY_READ)?;
    let target = if flags & FAN_MARK_FILESYSTEM != 0 {
        Target::Filesystem(node.id().0)
    } else if flags & FAN_MARK_MOUNT != 0 {
        // The root of the mount the object is on: the deepest mount
        // root on its path, else the namespace's root.
        let namespace = ctx.task.namespace.clone();
        let root = stack
            .0
            .iter()
            .rev()
            .map(|(_, n)| n)
            .find(|n| n.id().0 == node.id().0 && namespace.is_mount_point(n))
            .unwrap_or(&stack.0[0].1);
        Target::Mount(node.id().0, root.id())
    } else {
        Target::Inode(node.id())
    };
    group.mark(flags, mask, target, is_dir)?;
    Ok(0)
}

/// read(2) of a fanotify group: whole events, each with a descriptor
/// opened on its object in the reader's table (FAN_NOFD for an overflow);
/// a permission event read waits for its answer under that descriptor.
pub fn read_fanotify(
    ctx: &mut SyscallContext,
    file: &Arc<OpenFile>,
    addr: u64,
    len: u64,
) -> SysResult {
    use crate::sentry::vfs::fanotify::{EVENT_LEN, FAN_DENY, NOFD};
    let group = file.file.as_fanotify().ok_or(EINVAL)?;
    let len = len.min(i32::MAX as u64) as usize;
    let mut done = 0usize;
    loop {
        let Some(mut event) = group.take_event() else {
            if done > 0 {
                break;
            }
            if file.nonblocking() {
                return Err(EAGAIN);
            }
            wait_until_ready(ctx, file, POLLIN)?;
            continue;
        };
        if done + EVENT_LEN > len {
            group.put_back(event);
            if done == 0 {
                return Err(EINVAL);
            }
            break;
        }
        let perm = event.take_perm();
        let fd = match &event.path {
            None => Ok(NOFD),
            Some(stack) => open_event_fd(ctx, stack, group.event_flags()),
        };
        let fd = match fd {
            Ok(fd) => fd,
            Err(e) => {
                if let Some(answer) = perm {
                    answer.answer(FAN_DENY);
                }
                if done > 0 {
                    break;
                }
                return Err(e);
            }
        };
        if let Err(e) = ctx
            .task
            .mm()
            .copy_to_user(addr + done as u64, &event.metadata(fd))
        {
            if fd >= 0 {
                let _ = ctx.task.fds().remove(fd);
            }
            if let Some(answer) = perm {
                answer.answer(FAN_DENY);
            }
            return Err(e);
        }
        if let Some(answer) = perm {
            group.reading(fd, answer);
        }
        done += EVENT_LEN;
    }
    Ok(done as u64)
}

/// Opens the object of an event for the reader, with the group's event
/// flags; what is done through it raises no event.
fn open_event_fd(
    ctx: &mut SyscallContext,
    stack: &crate::sentry::vfs::PathStack,
    flags: u32,
) -> Result<i32, Errno> {
    let node = stack.node().clone();
    let file = node.open(flags & !O_CLOEXEC)?;
    let open = OpenFile::at(file, flags, Some(stack.clone()));
    open.set_nonotify();
    ctx.task.fds().insert(open, flags & O_CLOEXEC != 0, 0)
}

/// The fanotify permission event `mask` (FAN_OPEN_PERM, FAN_ACCESS_PERM)
/// on `stack` for the running task: waits for the groups' answers.
pub fn fanotify_permission(
    ctx: &mut SyscallContext,
    stack: &crate::sentry::vfs::PathStack,
    mask: u64,
) -> Result<(), Errno> {
    use crate::sentry::vfs::fanotify;
    if !fanotify::wants_permission() {
        return Ok(());
    }
    fanotify::permission(stack, mask, |queue| {
        crate::sentry::signal::wait_killable(&mut ctx.task, queue)
    })
}
