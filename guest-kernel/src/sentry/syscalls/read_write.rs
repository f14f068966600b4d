//! read and write: their vector (readv/writev) and positional
//! (pread64/pwrite64, preadv/pwritev) forms, and lseek. Reads and writes
//! go through bounce buffers between user memory and the file; a blocking
//! call waits on the file's queues and keeps its partial progress.

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use super::poll::{readiness, wait_for_file, wait_until_ready};
use super::SyscallContext;
use crate::sentry::errno::*;
use crate::sentry::fd::*;
use crate::sentry::mm::Access;

/// Largest single read/write the sentry moves (Linux: MAX_RW_COUNT).
pub(super) const MAX_RW_COUNT: u64 = 0x7fff_f000;

/// Bounce buffer for reads (data from files into user memory).
pub(super) const READ_CHUNK: usize = 64 * 1024;

/// Bounce buffer for writes (user memory to files).
const WRITE_CHUNK: usize = 64 * 1024;

pub(super) const IOV_MAX: u64 = 1024;

/// Writes user memory [addr, addr+len) to `file`; returns bytes written.
pub(super) fn write_from_user(
    ctx: &mut SyscallContext,
    file: &Arc<OpenFile>,
    addr: u64,
    len: u64,
    offset: Option<u64>,
) -> SysResult {
    let written = write_file(ctx, file, addr, len, offset)?;
    if written > 0 {
        crate::sentry::vfs::inotify::on_file(file, crate::sentry::vfs::inotify::IN_MODIFY);
        // A write by a caller without CAP_FSETID takes away a regular
        // file's set-user-ID bit (and set-group-ID if group-executable),
        // as Linux's file_remove_privs does.
        if !ctx.task.creds.has_cap(crate::sentry::vfs::perm::CAP_FSETID) {
            // Host files never carry set-id bits (the VMM strips them):
            // no attribute fetch there.
            if let Some(inode) = file.file.inode().filter(|i| !i.host_backed()) {
                let mode = inode.stat().mode;
                if let Some(mode) = crate::sentry::vfs::perm::kill_setid(mode, false) {
                    let _ = inode.set_mode(mode);
                }
            }
        }
    }
    Ok(written)
}

fn write_file(
    ctx: &mut SyscallContext,
    file: &Arc<OpenFile>,
    addr: u64,
    len: u64,
    offset: Option<u64>,
) -> SysResult {
    if !file.writable() {
        return Err(EBADF);
    }
    let mut len = len.min(MAX_RW_COUNT) as usize;
    let seekable = file.file.seekable();
    // RLIMIT_FSIZE caps regular files: a write that starts at the limit
    // fails (EFBIG, SIGXFSZ), one that crosses it is cut short.
    let size_limit = file_size_limit(ctx);
    let capped = size_limit != u64::MAX
        && len > 0
        && file
            .file
            .inode()
            .is_some_and(|i| i.kind() == crate::sentry::vfs::FileKind::Regular);
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
        // O_APPEND writes at the end, pwrite's offset notwithstanding (a
        // Linux quirk POSIX does not share).
        let mut pos = match offset {
            _ if seekable && file.append() => file.file.stat().size as u64,
            Some(o) => o + done as u64,
            None if seekable => *file.offset.lock(),
            None => 0,
        };
        if capped && done == 0 {
            if pos >= size_limit {
                return Err(file_too_big(ctx));
            }
            len = len.min((size_limit - pos).min(usize::MAX as u64) as usize);
        }
        // Bounce through kernel memory a chunk at a time (the file never
        // sees user memory itself); a fault ends the call after what went
        // in before it.
        let mut error = None;
        let mut fault = None;
        let mut short = false;
        while done < len && error.is_none() && fault.is_none() && !short {
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
                    // A stream that took less is full: wait for room. A
                    // file that took less (no space, a seal against
                    // growing) ends the write there.
                    if n < got {
                        if seekable {
                            short = true;
                        } else {
                            error = Some(EAGAIN);
                        }
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

/// EPIPE, with SIGPIPE sent to the process (delivered as the call
/// returns unless this thread blocks it; its default action ends the
/// program). Linux's send_sig is process-directed too.
pub fn broken_pipe(ctx: &mut SyscallContext) -> Errno {
    raise_for_call(ctx, crate::sentry::signal::SIGPIPE);
    EPIPE
}

/// EFBIG for growing a file past RLIMIT_FSIZE, with SIGXFSZ sent to the
/// process as for SIGPIPE (its default action ends the program).
pub fn file_too_big(ctx: &mut SyscallContext) -> Errno {
    raise_for_call(ctx, crate::sentry::signal::SIGXFSZ);
    EFBIG
}

/// The file-size limit (RLIMIT_FSIZE) writes and truncates obey.
pub fn file_size_limit(ctx: &SyscallContext) -> u64 {
    const RLIMIT_FSIZE: usize = 1;
    ctx.task.rlimits[RLIMIT_FSIZE].cur
}

/// Sends `signal` about the current call to the process: to this thread
/// unless it blocks it (delivered as the call returns).
fn raise_for_call(ctx: &mut SyscallContext, signal: u8) {
    use crate::sentry::signal::{SigInfo, SI_USER};
    let info = SigInfo::from_process(signal, SI_USER, ctx.task.pid, ctx.task.creds.user[0]);
    if ctx.task.signals.mask & (1 << (signal - 1)) == 0 {
        ctx.task.signals.send(info);
    } else {
        ctx.task.signals.send_to_process(info);
        crate::sentry::sched::wake_process(ctx.task.pid);
    }
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
pub(super) fn read_to_user(
    ctx: &mut SyscallContext,
    file: &Arc<OpenFile>,
    addr: u64,
    len: u64,
    offset: Option<u64>,
) -> SysResult {
    let read = read_file(ctx, file, addr, len, offset)?;
    if read > 0 {
        crate::sentry::vfs::inotify::on_file(file, crate::sentry::vfs::inotify::IN_ACCESS);
    }
    Ok(read)
}

fn read_file(
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
    if file.file.as_fanotify().is_some() {
        return super::events::read_fanotify(ctx, file, addr, len);
    }
    // A fanotify group asking for FAN_ACCESS_PERM answers first (Linux's
    // rw_verify_area).
    if let Some(stack) = file.location.as_ref().filter(|_| !file.nonotify()) {
        super::events::fanotify_permission(
            ctx,
            stack,
            crate::sentry::vfs::fanotify::FAN_ACCESS_PERM,
        )?;
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

pub fn sys_read(ctx: &mut SyscallContext, fd: i32, buf: u64, count: u64) -> SysResult {
    let file = ctx.task.fds().get(fd)?.clone();
    if file.file.as_socket().is_some() {
        return super::socket::read_socket(ctx, &file, &[(buf, count.min(MAX_RW_COUNT))]);
    }
    read_to_user(ctx, &file, buf, count, None)
}

pub fn sys_write(ctx: &mut SyscallContext, fd: i32, buf: u64, count: u64) -> SysResult {
    let file = ctx.task.fds().get(fd)?.clone();
    if file.file.as_socket().is_some() {
        return super::socket::write_socket(ctx, &file, &[(buf, count.min(MAX_RW_COUNT))]);
    }
    write_from_user(ctx, &file, buf, count, None)
}

fn positional_offset(value: u64) -> Result<u64, Errno> {
    if (value as i64) < 0 {
        return Err(EINVAL);
    }
    Ok(value)
}

pub fn sys_pread64(
    ctx: &mut SyscallContext,
    fd: i32,
    buf: u64,
    count: u64,
    offset: u64,
) -> SysResult {
    let file = ctx.task.fds().get(fd)?.clone();
    if !file.file.seekable() {
        return Err(ESPIPE);
    }
    read_to_user(ctx, &file, buf, count, Some(positional_offset(offset)?))
}

pub fn sys_pwrite64(
    ctx: &mut SyscallContext,
    fd: i32,
    buf: u64,
    count: u64,
    offset: u64,
) -> SysResult {
    let file = ctx.task.fds().get(fd)?.clone();
    if !file.file.positional_write() {
        return Err(ESPIPE);
    }
    write_from_user(ctx, &file, buf, count, Some(positional_offset(offset)?))
}

/// Reads an iovec array: (base, len) pairs.
pub(super) fn read_iovecs(
    ctx: &mut SyscallContext,
    addr: u64,
    count: u64,
) -> Result<Vec<(u64, u64)>, Errno> {
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

/// readv/writev (`offset` None) and preadv/pwritev (`offset` the raw
/// argument, checked after the descriptor and the vector).
fn vectored(
    ctx: &mut SyscallContext,
    fd: i32,
    iov: u64,
    iovcnt: u64,
    write: bool,
    offset: Option<u64>,
) -> SysResult {
    let file = ctx.task.fds().get(fd)?.clone();
    let iovecs = read_iovecs(ctx, iov, iovcnt)?;
    // A socket takes the vector as one message (datagram boundaries).
    if file.file.as_socket().is_some() && offset.is_none() {
        let mut left = MAX_RW_COUNT;
        let iovecs: Vec<(u64, u64)> = iovecs
            .into_iter()
            .map(|(base, len)| {
                let len = len.min(left);
                left -= len;
                (base, len)
            })
            .collect();
        return if write {
            super::socket::write_socket(ctx, &file, &iovecs)
        } else {
            super::socket::read_socket(ctx, &file, &iovecs)
        };
    }
    let mut offset = match offset {
        Some(raw) => {
            let allowed = if write {
                file.file.positional_write()
            } else {
                file.file.seekable()
            };
            if !allowed {
                return Err(ESPIPE);
            }
            Some(positional_offset(raw)?)
        }
        None => None,
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

pub fn sys_readv(ctx: &mut SyscallContext, fd: i32, iov: u64, iovcnt: u64) -> SysResult {
    vectored(ctx, fd, iov, iovcnt, false, None)
}

pub fn sys_writev(ctx: &mut SyscallContext, fd: i32, iov: u64, iovcnt: u64) -> SysResult {
    vectored(ctx, fd, iov, iovcnt, true, None)
}

pub fn sys_preadv(
    ctx: &mut SyscallContext,
    fd: i32,
    iov: u64,
    iovcnt: u64,
    offset: u64,
) -> SysResult {
    vectored(ctx, fd, iov, iovcnt, false, Some(offset))
}

pub fn sys_pwritev(
    ctx: &mut SyscallContext,
    fd: i32,
    iov: u64,
    iovcnt: u64,
    offset: u64,
) -> SysResult {
    vectored(ctx, fd, iov, iovcnt, true, Some(offset))
}

pub fn sys_lseek(ctx: &mut SyscallContext, fd: i32, offset: i64, whence: u64) -> SysResult {
    const SEEK_SET: u64 = 0;
    const SEEK_CUR: u64 = 1;
    const SEEK_END: u64 = 2;
    const SEEK_DATA: u64 = 3;
    const SEEK_HOLE: u64 = 4;
    let file = ctx.task.fds().get(fd)?.clone();
    if *file.flags.lock() & crate::sentry::fd::O_PATH != 0 {
        return Err(EBADF);
    }
    if !file.file.seekable() {
        return Err(ESPIPE);
    }
    let mut current = file.offset.lock();
    let base = match whence {
        SEEK_SET => 0,
        SEEK_CUR => *current as i64,
        SEEK_END => file.file.stat().size,
        SEEK_DATA | SEEK_HOLE => {
            // The next data or hole at or after `offset` (ENXIO at or
            // past the end): the file system knows where its holes are.
            if offset < 0 {
                return Err(ENXIO);
            }
            let Some(inode) = file.file.inode() else {
                return Err(EINVAL);
            };
            let found = inode.seek_data_hole(offset as u64, whence == SEEK_DATA)?;
            *current = found;
            return Ok(found);
        }
        _ => return Err(EINVAL),
    };
    if whence == SEEK_SET && offset == 0 {
        file.file.rewind();
    }
    let new = base.checked_add(offset).ok_or(EOVERFLOW)?;
    if new < 0 {
        return Err(EINVAL);
    }
    *current = new as u64;
    Ok(new as u64)
}
