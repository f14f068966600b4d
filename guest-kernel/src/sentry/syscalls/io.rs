//! I/O syscalls: read/write and their vector and positional forms, lseek,
//! ioctl, poll/ppoll, select/pselect6.

use crate::sentry::mm::usermem::UserPtr;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use super::SyscallContext;
use crate::sentry::errno::*;
use crate::sentry::fd::*;
use crate::sentry::mm::Access;
use crate::sentry::vfs::console;

/// Largest single read/write the sentry moves (Linux: MAX_RW_COUNT).
const MAX_RW_COUNT: u64 = 0x7fff_f000;
/// Bounce buffer for reads (data from files into user memory).
const READ_CHUNK: usize = 64 * 1024;
/// Bounce buffer for writes (user memory to files).
const WRITE_CHUNK: usize = 64 * 1024;
const IOV_MAX: u64 = 1024;
const POLLPRI: i16 = 0x2;

pub fn fd_arg(value: u64) -> i32 {
    value as i32
}

/// Writes user memory [addr, addr+len) to `file`; returns bytes written.
fn write_from_user(
    ctx: &mut SyscallContext,
    file: &Arc<OpenFile>,
    addr: u64,
    len: u64,
    offset: Option<u64>,
) -> SysResult {
    if !file.writable() {
        return Err(EBADF);
    }
    let len = len.min(MAX_RW_COUNT) as usize;
    let seekable = file.file.seekable();
    // A blocking write to a pipe goes on until all of it is in (waiting
    // for room as the reader drains it), as on Linux; a signal after some
    // progress ends it with the count so far.
    let mut done = 0usize;
    // Small writes (the common case) bounce on the stack.
    let mut small = [0u8; 512];
    let mut large = Vec::new();
    let buf: &mut [u8] = if len <= small.len() {
        &mut small[..len]
    } else {
        large.resize(len.min(WRITE_CHUNK), 0);
        &mut large
    };
    loop {
        let mut pos = match offset {
            Some(o) => o + done as u64,
            None if seekable && file.append() => file.file.stat().size as u64,
            None if seekable => *file.offset.lock(),
            None => 0,
        };
        // Bounce through kernel memory a chunk at a time (the file never
        // sees user memory itself); a fault ends the call after what went
        // in before it.
        let mut error = None;
        let mut fault = None;
        while done < len && error.is_none() && fault.is_none() {
            let want = (len - done).min(buf.len());
            let (got, failed) = ctx
                .task
                .mm()
                .copy_from_user_partial(addr + done as u64, &mut buf[..want]);
            fault = failed;
            if got == 0 {
                break;
            }
            match file.file.write(&buf[..got], pos) {
                Ok(n) => {
                    done += n;
                    pos += n as u64;
                    if n < got {
                        error = Some(EAGAIN);
                    }
                }
                Err(e) => error = Some(e),
            }
        }
        let result = match fault {
            Some(e) if error.is_none() => Err(e),
            _ => Ok(()),
        };
        if offset.is_none() && seekable {
            *file.offset.lock() = pos;
        }
        let blocking = !file.nonblocking();
        return match (done, error, result) {
            (0, Some(e), _) if e == EPIPE => Err(broken_pipe(ctx)),
            (_, Some(e), _) if e == EAGAIN && blocking && done < len => {
                // Wait for room and go on; a signal ends the call with what
                // went in so far (or a restart when nothing did). A file
                // that polls writable but had no room for this write (an
                // eventfd whose counter plus the value would pass the
                // maximum: Linux waits until the sum fits) waits for its
                // next change instead; waiting for POLLOUT would retry at
                // once, forever.
                let writable = readiness(ctx, file, POLLOUT) & POLLOUT != 0;
                let seen = writable.then(|| file.file.activity());
                match wait_for_file(ctx, file, POLLOUT, seen) {
                    Ok(()) => continue,
                    Err(e) if done == 0 => Err(e),
                    Err(_) => Ok(done as u64),
                }
            }
            (0, Some(e), _) | (0, None, Err(e)) => Err(e),
            _ => Ok(done as u64),
        };
    }
}

/// EPIPE, with SIGPIPE sent (delivered as the call returns; its default
/// action ends the program).
fn broken_pipe(ctx: &mut SyscallContext) -> Errno {
    use crate::sentry::signal::{SigInfo, SIGPIPE, SI_USER};
    let info = SigInfo::from_process(SIGPIPE, SI_USER, ctx.task.pid, ctx.task.creds.user[0]);
    ctx.task.signals.send(info);
    EPIPE
}

/// Before a console read that will block in the host: when an interval
/// timer is armed or other tasks exist, wait for input here instead, where
/// a timer's signal can interrupt (ERESTARTSYS) and other tasks get the
/// vCPU meanwhile. Alone and without a timer nothing else can happen, and
/// the read costs no extra exit.
fn wait_for_console_input(ctx: &mut SyscallContext, file: &Arc<OpenFile>) -> Result<(), Errno> {
    if !file.file.waits_on_console_input()
        || file.file.poll(POLLIN) & POLLIN != 0
        || (ctx.task.signals.next_timer().is_none() && crate::sentry::sched::task_count() == 1)
    {
        return Ok(());
    }
    loop {
        match crate::sentry::signal::wait(&mut ctx.task, &[], u64::MAX, true) {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) if e == EINTR => return Err(ERESTARTSYS),
            Err(e) => return Err(e),
        }
    }
}

/// Reads from `file` into user memory; returns bytes read.
fn read_to_user(
    ctx: &mut SyscallContext,
    file: &Arc<OpenFile>,
    addr: u64,
    len: u64,
    offset: Option<u64>,
) -> SysResult {
    if !file.readable() {
        return Err(EBADF);
    }
    if let Some(mask) = file.file.signalfd_mask() {
        return super::events::read_signalfd(ctx, file, addr, len, mask);
    }
    let len = len.min(MAX_RW_COUNT) as usize;
    if len == 0 {
        return Ok(0);
    }
    // Check the whole destination first: data taken from a stream must not
    // be lost to a bad buffer.
    ctx.task.mm().check_user(addr, len, Access::Write)?;
    let seekable = file.file.seekable();
    let mut pos = match offset {
        Some(o) => o,
        None if seekable => *file.offset.lock(),
        None => 0,
    };
    wait_for_console_input(ctx, file)?;
    let mut buf = vec![0u8; len.min(READ_CHUNK)];
    let mut total = 0usize;
    while total < len {
        let want = (len - total).min(buf.len());
        let n = match file.file.read(&mut buf[..want], pos) {
            Ok(n) => n,
            Err(e) if e == EAGAIN && total == 0 && !file.nonblocking() => {
                wait_until_ready(ctx, file, POLLIN)?;
                continue;
            }
            Err(e) if total == 0 => return Err(e),
            Err(_) => break,
        };
        ctx.task.mm().copy_to_user(addr + total as u64, &buf[..n])?;
        total += n;
        pos += n as u64;
        // Streams return what they have; only seekable files fill the buffer.
        if n < want || !seekable {
            break;
        }
    }
    if offset.is_none() && seekable {
        *file.offset.lock() = pos;
    }
    Ok(total as u64)
}

pub fn sys_read(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let file = ctx.task.fds().get(fd_arg(args[0]))?.clone();
    read_to_user(ctx, &file, args[1], args[2], None)
}

pub fn sys_write(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let file = ctx.task.fds().get(fd_arg(args[0]))?.clone();
    write_from_user(ctx, &file, args[1], args[2], None)
}

fn positional_offset(value: u64) -> Result<u64, Errno> {
    if (value as i64) < 0 {
        return Err(EINVAL);
    }
    Ok(value)
}

pub fn sys_pread64(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let file = ctx.task.fds().get(fd_arg(args[0]))?.clone();
    if !file.file.seekable() {
        return Err(ESPIPE);
    }
    read_to_user(
        ctx,
        &file,
        args[1],
        args[2],
        Some(positional_offset(args[3])?),
    )
}

pub fn sys_pwrite64(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let file = ctx.task.fds().get(fd_arg(args[0]))?.clone();
    if !file.file.seekable() {
        return Err(ESPIPE);
    }
    write_from_user(
        ctx,
        &file,
        args[1],
        args[2],
        Some(positional_offset(args[3])?),
    )
}

/// Reads an iovec array: (base, len) pairs.
fn read_iovecs(ctx: &mut SyscallContext, addr: u64, count: u64) -> Result<Vec<(u64, u64)>, Errno> {
    if count > IOV_MAX {
        return Err(EINVAL);
    }
    let mut raw = vec![0u8; count as usize * 16];
    ctx.task.mm().copy_from_user(addr, &mut raw)?;
    let mut total: u64 = 0;
    let mut out = Vec::with_capacity(count as usize);
    for pair in raw.chunks_exact(16) {
        let base = u64::from_le_bytes(pair[..8].try_into().unwrap());
        let len = u64::from_le_bytes(pair[8..].try_into().unwrap());
        if (len as i64) < 0 {
            return Err(EINVAL);
        }
        total = total.checked_add(len).ok_or(EINVAL)?;
        if total as i64 > isize::MAX as i64 {
            return Err(EINVAL);
        }
        out.push((base, len));
    }
    Ok(out)
}

fn vectored(ctx: &mut SyscallContext, args: [u64; 6], write: bool, positional: bool) -> SysResult {
    let file = ctx.task.fds().get(fd_arg(args[0]))?.clone();
    let iovecs = read_iovecs(ctx, args[1], args[2])?;
    let mut offset = if positional {
        if !file.file.seekable() {
            return Err(ESPIPE);
        }
        Some(positional_offset(args[3])?)
    } else {
        None
    };
    let mut total = 0u64;
    for (base, len) in iovecs {
        if len == 0 {
            continue;
        }
        // A stream moves what it can in one go, as one request would: once
        // something moved, stop rather than block on the next buffer.
        if total > 0 && !file.file.seekable() {
            let ready = if write { POLLOUT } else { POLLIN };
            if file.file.poll(ready) & ready == 0 {
                break;
            }
        }
        let result = if write {
            write_from_user(ctx, &file, base, len, offset)
        } else {
            read_to_user(ctx, &file, base, len, offset)
        };
        match result {
            Ok(n) => {
                total += n;
                offset = offset.map(|o| o + n);
                if n < len {
                    break;
                }
            }
            Err(e) if total == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(total)
}

pub fn sys_readv(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    vectored(ctx, args, false, false)
}

pub fn sys_writev(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    vectored(ctx, args, true, false)
}

pub fn sys_preadv(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    vectored(ctx, args, false, true)
}

pub fn sys_pwritev(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    vectored(ctx, args, true, true)
}

pub fn sys_lseek(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    const SEEK_SET: u64 = 0;
    const SEEK_CUR: u64 = 1;
    const SEEK_END: u64 = 2;
    let file = ctx.task.fds().get(fd_arg(args[0]))?.clone();
    if !file.file.seekable() {
        return Err(ESPIPE);
    }
    let offset = args[1] as i64;
    let mut current = file.offset.lock();
    let base = match args[2] {
        SEEK_SET => 0,
        SEEK_CUR => *current as i64,
        SEEK_END => file.file.stat().size,
        _ => return Err(EINVAL),
    };
    if args[2] == SEEK_SET && offset == 0 {
        file.file.rewind();
    }
    let new = base.checked_add(offset).ok_or(EOVERFLOW)?;
    if new < 0 {
        return Err(EINVAL);
    }
    *current = new as u64;
    Ok(new as u64)
}

pub fn sys_ioctl(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    const FIONCLEX: u64 = 0x5450;
    const FIOCLEX: u64 = 0x5451;
    const FIONREAD: u64 = 0x541b;
    const FIONBIO: u64 = 0x5421;
    let fd = fd_arg(args[0]);
    let file = ctx.task.fds().get(fd)?.clone();
    match args[1] & 0xffff_ffff {
        FIOCLEX | FIONCLEX => {
            ctx.task
                .fds()
                .set_cloexec(fd, args[1] as u32 == FIOCLEX as u32)?;
            Ok(0)
        }
        FIONREAD => {
            let available = match file.file.available() {
                Ok(n) => n,
                // Regular files: what is left to read from the offset.
                Err(_) if file.file.seekable() && file.file.inode().is_some() => {
                    (file.file.stat().size as u64).saturating_sub(*file.offset.lock())
                }
                Err(e) => return Err(e),
            };
            let value = available.min(i32::MAX as u64) as i32;
            UserPtr::new(args[2]).write(&mut ctx.task.mm(), &value)?;
            Ok(0)
        }
        FIONBIO => {
            let on: i32 = UserPtr::<i32>::new(args[2]).read(&mut ctx.task.mm())?;
            let mut flags = file.flags.lock();
            if on != 0 {
                *flags |= O_NONBLOCK;
            } else {
                *flags &= !O_NONBLOCK;
            }
            Ok(0)
        }
        request => match file.file.ioctl(request)? {
            IoctlReply::Bytes(bytes) => {
                ctx.task.mm().copy_to_user(args[2], &bytes)?;
                Ok(0)
            }
        },
    }
}

pub fn sys_poll(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let (addr, nfds, timeout_ms) = (args[0], args[1], args[2] as i32);
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
        Some(mask) if ctx.task.signals.pending & mask != 0 => events & POLLIN,
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
fn wait_for_file(
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

pub fn sys_select(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let timeout_ns = if args[4] == 0 {
        u64::MAX
    } else {
        let tv: [i64; 2] = UserPtr::<[i64; 2]>::new(args[4]).read(&mut ctx.task.mm())?;
        if tv[0] < 0 || !(0..1_000_000).contains(&tv[1]) {
            return Err(EINVAL);
        }
        (tv[0] as u64)
            .saturating_mul(1_000_000_000)
            .saturating_add(tv[1] as u64 * 1000)
    };
    let started = crate::sentry::time::monotonic_ns();
    let result = select_fds(ctx, args[0], [args[1], args[2], args[3]], timeout_ns);
    if args[4] != 0 && timeout_ns != u64::MAX {
        // Linux reports the time left.
        let left = timeout_ns.saturating_sub(crate::sentry::time::monotonic_ns() - started);
        let tv = [
            (left / 1_000_000_000) as i64,
            ((left % 1_000_000_000) / 1000) as i64,
        ];
        UserPtr::new(args[4]).write(&mut ctx.task.mm(), &tv)?;
    }
    result
}

pub fn sys_pselect6(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let timeout_ns = if args[4] == 0 {
        u64::MAX
    } else {
        super::time::read_timespec(ctx, args[4])?
    };
    // args[5]: { const sigset_t *mask; size_t size; }.
    let mask = if args[5] != 0 {
        let [addr, size]: [u64; 2] = UserPtr::<[u64; 2]>::new(args[5]).read(&mut ctx.task.mm())?;
        (addr, size)
    } else {
        (0, 8)
    };
    with_wait_mask(ctx, mask.0, mask.1, |ctx| {
        select_fds(ctx, args[0], [args[1], args[2], args[3]], timeout_ns)
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

pub fn sys_ppoll(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let timeout_ns = if args[2] == 0 {
        u64::MAX
    } else {
        super::time::read_timespec(ctx, args[2])?
    };
    with_wait_mask(ctx, args[3], args[4], |ctx| {
        poll_fds(ctx, args[0], args[1], timeout_ns)
    })
}

/// Reads into a kernel buffer with read(2)'s offset rules (the file's
/// offset for seekable files unless `offset` is given).
fn read_kernel(file: &Arc<OpenFile>, buf: &mut [u8], offset: Option<u64>) -> Result<usize, Errno> {
    if !file.readable() {
        return Err(EBADF);
    }
    let seekable = file.file.seekable();
    let pos = match offset {
        Some(o) => o,
        None if seekable => *file.offset.lock(),
        None => 0,
    };
    let n = file.file.read(buf, pos)?;
    if offset.is_none() && seekable {
        *file.offset.lock() = pos + n as u64;
    }
    Ok(n)
}

/// Writes a kernel buffer with write(2)'s offset and O_APPEND rules.
fn write_kernel(file: &Arc<OpenFile>, buf: &[u8], offset: Option<u64>) -> Result<usize, Errno> {
    if !file.writable() {
        return Err(EBADF);
    }
    let seekable = file.file.seekable();
    let pos = match offset {
        Some(o) => o,
        None if seekable && file.append() => file.file.stat().size as u64,
        None if seekable => *file.offset.lock(),
        None => 0,
    };
    let n = file.file.write(buf, pos)?;
    if offset.is_none() && seekable {
        *file.offset.lock() = pos + n as u64;
    }
    Ok(n)
}

/// The loop of sendfile and copy_file_range: moves up to `count` bytes
/// through a kernel buffer; returns bytes moved and the final offsets.
fn copy_between(
    from: &Arc<OpenFile>,
    mut from_offset: Option<u64>,
    to: &Arc<OpenFile>,
    mut to_offset: Option<u64>,
    count: u64,
) -> Result<(u64, Option<u64>, Option<u64>), Errno> {
    let mut buf = vec![0u8; READ_CHUNK];
    let mut total = 0u64;
    while total < count {
        let want = ((count - total) as usize).min(buf.len());
        let n = match read_kernel(from, &mut buf[..want], from_offset) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if total == 0 => return Err(e),
            Err(_) => break,
        };
        let mut written = 0;
        while written < n {
            match write_kernel(to, &buf[written..n], to_offset.map(|o| o + written as u64)) {
                Ok(0) => break,
                Ok(w) => written += w,
                Err(e) if total == 0 && written == 0 => return Err(e),
                Err(_) => break,
            }
        }
        from_offset = from_offset.map(|o| o + written as u64);
        to_offset = to_offset.map(|o| o + written as u64);
        total += written as u64;
        if written < n {
            break;
        }
    }
    Ok((total, from_offset, to_offset))
}

fn read_offset_arg(ctx: &mut SyscallContext, addr: u64) -> Result<Option<u64>, Errno> {
    if addr == 0 {
        return Ok(None);
    }
    let offset: i64 = UserPtr::<i64>::new(addr).read(&mut ctx.task.mm())?;
    if offset < 0 {
        return Err(EINVAL);
    }
    Ok(Some(offset as u64))
}

pub fn sys_sendfile(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let (out_fd, in_fd, offset_addr, count) = (fd_arg(args[0]), fd_arg(args[1]), args[2], args[3]);
    let to = ctx.task.fds().get(out_fd)?.clone();
    let from = ctx.task.fds().get(in_fd)?.clone();
    if !from.readable() || !to.writable() {
        return Err(EBADF);
    }
    if offset_addr != 0 && !from.file.seekable() {
        return Err(ESPIPE);
    }
    let offset = read_offset_arg(ctx, offset_addr)?;
    let (n, end, _) = copy_between(&from, offset, &to, None, count.min(MAX_RW_COUNT))?;
    if let Some(end) = end {
        UserPtr::new(offset_addr).write(&mut ctx.task.mm(), &(end as i64))?;
    }
    Ok(n)
}

pub fn sys_copy_file_range(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let [in_fd, in_off, out_fd, out_off, len, flags] = args;
    if flags != 0 {
        return Err(EINVAL);
    }
    let from = ctx.task.fds().get(fd_arg(in_fd))?.clone();
    let to = ctx.task.fds().get(fd_arg(out_fd))?.clone();
    if !from.readable() || !to.writable() || to.append() {
        return Err(EBADF);
    }
    let regular = |f: &Arc<OpenFile>| {
        f.file.stat().mode & crate::sentry::stat::S_IFMT == crate::sentry::stat::S_IFREG
    };
    if !regular(&from) || !regular(&to) {
        return Err(EINVAL);
    }
    let from_offset = read_offset_arg(ctx, in_off)?;
    let to_offset = read_offset_arg(ctx, out_off)?;
    let (n, from_end, to_end) =
        copy_between(&from, from_offset, &to, to_offset, len.min(MAX_RW_COUNT))?;
    if let Some(end) = from_end {
        UserPtr::new(in_off).write(&mut ctx.task.mm(), &(end as i64))?;
    }
    if let Some(end) = to_end {
        UserPtr::new(out_off).write(&mut ctx.task.mm(), &(end as i64))?;
    }
    Ok(n)
}
