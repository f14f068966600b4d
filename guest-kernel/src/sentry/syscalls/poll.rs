//! Readiness: poll/ppoll and select/pselect6, and the polling and
//! waiting helpers epoll shares (`poll_files`, `wait_until_ready`,
//! `with_wait_mask`).

use crate::sentry::mm::usermem::UserPtr;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use super::SyscallContext;
use crate::sentry::errno::*;
use crate::sentry::fd::*;
use crate::sentry::vfs::console;

const POLLPRI: i16 = 0x2;

pub fn sys_poll(ctx: &mut SyscallContext, addr: u64, nfds: u64, timeout_ms: i32) -> SysResult {
    let timeout_ns = if timeout_ms < 0 {
        u64::MAX
    } else {
        timeout_ms as u64 * 1_000_000
    };
    poll_fds(ctx, addr, nfds, timeout_ns)
}

/// The common part of poll and ppoll.
fn poll_fds(ctx: &mut SyscallContext, addr: u64, nfds: u64, timeout_ns: u64) -> SysResult {
    let limit = ctx.task.rlimits[crate::sentry::task::RLIMIT_NOFILE].cur;
    if nfds > limit {
        return Err(EINVAL);
    }
    let mut raw = vec![0u8; nfds as usize * 8];
    ctx.task.mm().copy_from_user(addr, &mut raw)?;
    let mut entries: Vec<PollEntry> = raw
        .chunks_exact(8)
        .map(|e| PollEntry {
            fd: i32::from_le_bytes(e[..4].try_into().unwrap()),
            events: i16::from_le_bytes(e[4..6].try_into().unwrap()),
            revents: 0,
        })
        .collect();
    let ready = poll_core(ctx, &mut entries, timeout_ns)?;
    for (chunk, entry) in raw.chunks_exact_mut(8).zip(&entries) {
        chunk[6..8].copy_from_slice(&entry.revents.to_le_bytes());
    }
    ctx.task.mm().copy_to_user(addr, &raw)?;
    Ok(ready)
}

pub struct PollEntry {
    pub fd: i32,
    pub events: i16,
    pub revents: i16,
}

/// Fills in `revents`, waiting up to `timeout_ns` (u64::MAX: forever) for
/// something to become ready; returns how many entries are ready, or EINTR
/// when a signal arrives first.
pub fn poll_core(
    ctx: &mut SyscallContext,
    entries: &mut [PollEntry],
    timeout_ns: u64,
) -> Result<u64, Errno> {
    let mut items: Vec<PollItem> = entries
        .iter()
        .map(|entry| PollItem {
            file: if entry.fd < 0 {
                Watch::Nothing
            } else {
                match ctx.task.fds().get(entry.fd) {
                    Ok(file) => Watch::File(file.clone()),
                    Err(_) => Watch::Closed,
                }
            },
            events: entry.events,
            revents: 0,
        })
        .collect();
    let ready = poll_files(ctx, &mut items, timeout_ns, &mut |_, _| false)?;
    for (entry, item) in entries.iter_mut().zip(&items) {
        entry.revents = item.revents;
    }
    Ok(ready)
}

/// What one poll entry watches.
pub enum Watch {
    /// A negative fd: ignored.
    Nothing,
    /// A descriptor that is not open: POLLNVAL.
    Closed,
    File(Arc<OpenFile>),
}

pub struct PollItem {
    pub file: Watch,
    pub events: i16,
    pub revents: i16,
}

/// Current readiness of `file` for `events` (plus POLLERR/POLLHUP), with
/// signalfds answered from the task's pending signals.
pub fn readiness(ctx: &SyscallContext, file: &OpenFile, events: i16) -> i16 {
    match file.file.signalfd_mask() {
        Some(mask) if ctx.task.signals.pending() & mask != 0 => events & POLLIN,
        Some(_) => 0,
        None => file.file.poll(events | POLLERR | POLLHUP),
    }
}

/// The poll loop shared by poll, select and epoll: fills in `revents`
/// and returns the number of ready items, waiting up to `timeout_ns`
/// (u64::MAX: forever) when none is. In the sandbox nothing runs while we
/// wait, so readiness can only change by the host's stdin, by time
/// (timerfds, interval timers) or by a signal (EINTR). `ignore(i, revents)`
/// lets epoll leave out edge-triggered items that have nothing new.
pub fn poll_files(
    ctx: &mut SyscallContext,
    items: &mut [PollItem],
    timeout_ns: u64,
    ignore: &mut dyn FnMut(usize, i16) -> bool,
) -> Result<u64, Errno> {
    let deadline = crate::sentry::signal::wait_deadline(&mut ctx.task, timeout_ns);
    // What wakes the wait: the watched files' queues.
    let mut queues: Vec<Arc<crate::sentry::wait::WaitQueue>> = Vec::new();
    for item in items.iter() {
        if let Watch::File(file) = &item.file {
            file.file.wait_queues(&mut queues);
        }
    }
    let queue_refs: Vec<&crate::sentry::wait::WaitQueue> = queues.iter().map(|q| &**q).collect();
    loop {
        let mut ready = 0u64;
        let mut watches_stdin = false;
        let mut wake: Option<u64> = None;
        for (i, item) in items.iter_mut().enumerate() {
            item.revents = match &item.file {
                Watch::Nothing => 0,
                Watch::Closed => POLLNVAL,
                Watch::File(file) => {
                    let revents = readiness(ctx, file, item.events);
                    if file.file.waits_on_console_input()
                        && item.events & POLLIN != 0
                        && revents & POLLIN == 0
                    {
                        watches_stdin = true;
                    }
                    if let Some(at) = file.file.wake_deadline() {
                        wake = Some(wake.map_or(at, |w: u64| w.min(at)));
                    }
                    if ignore(i, revents) {
                        0
                    } else {
                        revents
                    }
                }
            };
            if item.revents != 0 {
                ready += 1;
            }
        }
        if ready > 0 || timeout_ns == 0 || deadline <= crate::sentry::time::monotonic_ns() {
            // With something ready (or no time to wait), only a look at stdin.
            if watches_stdin && console::wait_for_input(0, true) {
                ready += mark_stdin_ready(items);
            }
            return Ok(ready);
        }
        // Wake for the first timerfd too: its expiry makes something ready
        // (interval timers and other tasks are `signal::wait`'s business).
        let until = wake.map_or(deadline, |w| w.min(deadline));
        if crate::sentry::signal::wait(&mut ctx.task, &queue_refs, until, watches_stdin)? {
            let ready = mark_stdin_ready(items);
            if ready > 0 {
                return Ok(ready);
            }
        }
    }
}

/// Stdin became readable: POLLIN on the items watching it for input.
fn mark_stdin_ready(items: &mut [PollItem]) -> u64 {
    let mut newly = 0;
    for item in items.iter_mut() {
        if let Watch::File(file) = &item.file {
            if file.file.waits_on_console_input() && item.events & POLLIN != 0 {
                if item.revents == 0 {
                    newly += 1;
                }
                item.revents |= console::STDIN_READY;
            }
        }
    }
    newly
}

/// Blocks until `file` is ready for `events` (a blocking read or write
/// that found nothing to do): Ok to retry, ERESTARTSYS when a signal came
/// first. What nothing in the sandbox can make ready waits until a signal,
/// the VMM's timeout or the user ends the run, as it would hang on Linux.
pub fn wait_until_ready(
    ctx: &mut SyscallContext,
    file: &Arc<OpenFile>,
    events: i16,
) -> Result<(), Errno> {
    wait_for_file(ctx, file, events, None)
}

/// `wait_until_ready`; with `changed_from`, readiness counts only once the
/// file's `activity()` differs from that value (or it reports an error or
/// hang-up).
pub(super) fn wait_for_file(
    ctx: &mut SyscallContext,
    file: &Arc<OpenFile>,
    events: i16,
    changed_from: Option<u64>,
) -> Result<(), Errno> {
    let mut item = [PollItem {
        file: Watch::File(file.clone()),
        events,
        revents: 0,
    }];
    let mut queues = Vec::new();
    file.file.wait_queues(&mut queues);
    let can_change = !queues.is_empty()
        || file.file.waits_on_console_input()
        || file.file.wake_deadline().is_some()
        || ctx.task.signals.next_timer().is_some();
    if !can_change && readiness(ctx, file, events) == 0 {
        log::warn!("the application waits for I/O that nothing in the sandbox can provide");
    }
    let mut unchanged = |_: usize, revents: i16| {
        changed_from
            .is_some_and(|seen| revents & (POLLERR | POLLHUP) == 0 && file.file.activity() == seen)
    };
    match poll_files(ctx, &mut item, u64::MAX, &mut unchanged) {
        Ok(_) => Ok(()),
        Err(e) if e == EINTR => Err(ERESTARTSYS),
        Err(e) => Err(e),
    }
}

/// select and pselect6: fd_sets turned into poll entries.
fn select_fds(ctx: &mut SyscallContext, nfds: u64, sets: [u64; 3], timeout_ns: u64) -> SysResult {
    if nfds > ctx.task.rlimits[crate::sentry::task::RLIMIT_NOFILE].cur || (nfds as i64) < 0 {
        return Err(EINVAL);
    }
    let words = nfds.div_ceil(64) as usize;
    let mut bits = [vec![0u64; words], vec![0u64; words], vec![0u64; words]];
    for (set, addr) in bits.iter_mut().zip(sets) {
        if addr != 0 {
            let mut raw = vec![0u8; words * 8];
            ctx.task.mm().copy_from_user(addr, &mut raw)?;
            for (w, chunk) in set.iter_mut().zip(raw.chunks_exact(8)) {
                *w = u64::from_le_bytes(chunk.try_into().unwrap());
            }
        }
    }
    let mut entries = Vec::new();
    for fd in 0..nfds as usize {
        let bit = |set: &Vec<u64>| set[fd / 64] & (1 << (fd % 64)) != 0;
        let mut events = 0;
        if bit(&bits[0]) {
            events |= POLLIN;
        }
        if bit(&bits[1]) {
            events |= POLLOUT;
        }
        if bit(&bits[2]) {
            events |= POLLPRI;
        }
        if events != 0 {
            entries.push(PollEntry {
                fd: fd as i32,
                events,
                revents: 0,
            });
        }
    }
    for entry in &entries {
        ctx.task.fds().get(entry.fd)?;
    }
    poll_core(ctx, &mut entries, timeout_ns)?;
    let mut out = [vec![0u64; words], vec![0u64; words], vec![0u64; words]];
    let mut count = 0;
    for entry in &entries {
        let (word, bit) = (entry.fd as usize / 64, 1u64 << (entry.fd % 64));
        let hits = [
            entry.events & POLLIN != 0 && entry.revents & (POLLIN | POLLHUP | POLLERR) != 0,
            entry.events & POLLOUT != 0 && entry.revents & (POLLOUT | POLLERR) != 0,
            entry.events & POLLPRI != 0 && entry.revents & POLLPRI != 0,
        ];
        for (set, hit) in out.iter_mut().zip(hits) {
            if hit {
                set[word] |= bit;
                count += 1;
            }
        }
    }
    for (set, addr) in out.iter().zip(sets) {
        if addr != 0 {
            let raw: Vec<u8> = set.iter().flat_map(|w| w.to_le_bytes()).collect();
            ctx.task.mm().copy_to_user(addr, &raw)?;
        }
    }
    Ok(count)
}

pub fn sys_select(
    ctx: &mut SyscallContext,
    nfds: u64,
    readfds: u64,
    writefds: u64,
    exceptfds: u64,
    timeout: UserPtr<[i64; 2]>,
) -> SysResult {
    let timeout_ns = if timeout.is_null() {
        u64::MAX
    } else {
        let tv: [i64; 2] = timeout.read(&mut ctx.task.mm())?;
        if tv[0] < 0 || !(0..1_000_000).contains(&tv[1]) {
            return Err(EINVAL);
        }
        (tv[0] as u64)
            .saturating_mul(1_000_000_000)
            .saturating_add(tv[1] as u64 * 1000)
    };
    let started = crate::sentry::time::monotonic_ns();
    let result = select_fds(ctx, nfds, [readfds, writefds, exceptfds], timeout_ns);
    if !timeout.is_null() && timeout_ns != u64::MAX {
        // Linux reports the time left.
        let left = timeout_ns.saturating_sub(crate::sentry::time::monotonic_ns() - started);
        let tv = [
            (left / 1_000_000_000) as i64,
            ((left % 1_000_000_000) / 1000) as i64,
        ];
        timeout.write(&mut ctx.task.mm(), &tv)?;
    }
    result
}

pub fn sys_pselect6(
    ctx: &mut SyscallContext,
    nfds: u64,
    readfds: u64,
    writefds: u64,
    exceptfds: u64,
    timeout: u64,
    sigmask: u64,
) -> SysResult {
    let timeout_ns = if timeout == 0 {
        u64::MAX
    } else {
        super::time::read_timespec(ctx, timeout)?
    };
    // sigmask: { const sigset_t *mask; size_t size; }.
    let mask = if sigmask != 0 {
        let [addr, size]: [u64; 2] = UserPtr::<[u64; 2]>::new(sigmask).read(&mut ctx.task.mm())?;
        (addr, size)
    } else {
        (0, 8)
    };
    with_wait_mask(ctx, mask.0, mask.1, |ctx| {
        select_fds(ctx, nfds, [readfds, writefds, exceptfds], timeout_ns)
    })
}

/// Runs a wait (ppoll, pselect6) with the signal mask at `mask_addr` in
/// place; the old mask comes back at once unless a signal interrupted the
/// wait (then its handler's frame restores it).
pub fn with_wait_mask(
    ctx: &mut SyscallContext,
    mask_addr: u64,
    size: u64,
    wait: impl FnOnce(&mut SyscallContext) -> SysResult,
) -> SysResult {
    if mask_addr == 0 {
        return wait(ctx);
    }
    if size != 8 {
        return Err(EINVAL);
    }
    let mask: u64 = UserPtr::<u64>::new(mask_addr).read(&mut ctx.task.mm())?;
    let signals = &mut ctx.task.signals;
    signals.saved_mask = Some(signals.mask);
    signals.mask = mask & !crate::sentry::signal::UNBLOCKABLE;
    let result = wait(ctx);
    if result != Err(EINTR) {
        if let Some(old) = ctx.task.signals.saved_mask.take() {
            ctx.task.signals.mask = old;
        }
    }
    result
}

pub fn sys_ppoll(
    ctx: &mut SyscallContext,
    fds: u64,
    nfds: u64,
    tmo_p: u64,
    sigmask: u64,
    sigsetsize: u64,
) -> SysResult {
    let timeout_ns = if tmo_p == 0 {
        u64::MAX
    } else {
        super::time::read_timespec(ctx, tmo_p)?
    };
    with_wait_mask(ctx, sigmask, sigsetsize, |ctx| {
        poll_fds(ctx, fds, nfds, timeout_ns)
    })
}
