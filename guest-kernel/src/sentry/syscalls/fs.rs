//! File syscalls: read/write and their vector and positional forms, open,
//! close, lseek, stat, ioctl, poll, dup, fcntl, readlink.

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
const PATH_MAX: usize = 4096;
const IOV_MAX: u64 = 1024;
const AT_FDCWD: i32 = -100;
const AT_EMPTY_PATH: u64 = 0x1000;
const AT_SYMLINK_NOFOLLOW: u64 = 0x100;
const O_CREAT: u32 = 0o100;
const O_DIRECTORY: u32 = 0o200000;
const O_TRUNC: u32 = 0o1000;

fn fd_arg(value: u64) -> i32 {
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
    let mut pos = match offset {
        Some(o) => o,
        None if seekable => *file.offset.lock(),
        None => 0,
    };
    let mut written = 0usize;
    let mut error = None;
    let result = ctx
        .task
        .mm
        .with_user_chunks(addr, len, Access::Read, |chunk| {
            if error.is_some() {
                return;
            }
            match file.file.write(chunk, pos) {
                Ok(n) => {
                    written += n;
                    pos += n as u64;
                }
                Err(e) => error = Some(e),
            }
        });
    if offset.is_none() && seekable {
        *file.offset.lock() = pos;
    }
    match (written, error, result) {
        (0, Some(e), _) | (0, None, Err(e)) => Err(e),
        _ => Ok(written as u64),
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
    let len = len.min(MAX_RW_COUNT) as usize;
    if len == 0 {
        return Ok(0);
    }
    // Check the whole destination first: data taken from a stream must not
    // be lost to a bad buffer.
    ctx.task
        .mm
        .with_user_chunks(addr, len, Access::Write, |_| {})?;
    let seekable = file.file.seekable();
    let mut pos = match offset {
        Some(o) => o,
        None if seekable => *file.offset.lock(),
        None => 0,
    };
    let mut buf = vec![0u8; len.min(READ_CHUNK)];
    let mut total = 0usize;
    while total < len {
        let want = (len - total).min(buf.len());
        let n = match file.file.read(&mut buf[..want], pos) {
            Ok(n) => n,
            Err(e) if total == 0 => return Err(e),
            Err(_) => break,
        };
        ctx.task.mm.copy_to_user(addr + total as u64, &buf[..n])?;
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
    let file = ctx.task.fds.get(fd_arg(args[0]))?.clone();
    read_to_user(ctx, &file, args[1], args[2], None)
}

pub fn sys_write(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let file = ctx.task.fds.get(fd_arg(args[0]))?.clone();
    write_from_user(ctx, &file, args[1], args[2], None)
}

fn positional_offset(value: u64) -> Result<u64, Errno> {
    if (value as i64) < 0 {
        return Err(EINVAL);
    }
    Ok(value)
}

pub fn sys_pread64(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let file = ctx.task.fds.get(fd_arg(args[0]))?.clone();
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
    let file = ctx.task.fds.get(fd_arg(args[0]))?.clone();
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
    ctx.task.mm.copy_from_user(addr, &mut raw)?;
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
    let file = ctx.task.fds.get(fd_arg(args[0]))?.clone();
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

/// Reads a path argument and makes it absolute (the working directory is
/// "/" until chdir exists).
fn read_path(ctx: &mut SyscallContext, dirfd: i32, addr: u64) -> Result<Vec<u8>, Errno> {
    let path = ctx.task.mm.read_cstring(addr, PATH_MAX - 1)?;
    if path.is_empty() {
        return Err(ENOENT);
    }
    if path[0] == b'/' {
        return Ok(path);
    }
    if dirfd != AT_FDCWD {
        // Directories cannot be opened yet, so no fd is a directory.
        ctx.task.fds.get(dirfd)?;
        return Err(ENOTDIR);
    }
    let mut absolute = vec![b'/'];
    absolute.extend_from_slice(&path);
    Ok(absolute)
}

fn open_path(ctx: &mut SyscallContext, dirfd: i32, path_addr: u64, flags: u64) -> SysResult {
    let flags = flags as u32;
    let path = read_path(ctx, dirfd, path_addr)?;
    let file = match ctx.task.namespace.lookup(&path) {
        Ok(file) => file,
        // Nothing is writable yet: creating a file is a read-only filesystem.
        Err(e) if e == ENOENT && flags & O_CREAT != 0 => return Err(EROFS),
        Err(e) => return Err(e),
    };
    if flags & O_DIRECTORY != 0 {
        return Err(ENOTDIR);
    }
    if flags & O_ACCMODE != O_RDONLY || flags & O_TRUNC != 0 {
        return Err(EROFS);
    }
    let open = OpenFile::new(file, flags);
    ctx.task
        .fds
        .insert(open, flags & O_CLOEXEC != 0, 0)
        .map(|fd| fd as u64)
}

pub fn sys_open(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    open_path(ctx, AT_FDCWD, args[0], args[1])
}

pub fn sys_openat(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    open_path(ctx, fd_arg(args[0]), args[1], args[2])
}

pub fn sys_close(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    ctx.task.fds.remove(fd_arg(args[0])).map(|_| 0)
}

pub fn sys_lseek(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    const SEEK_SET: u64 = 0;
    const SEEK_CUR: u64 = 1;
    const SEEK_END: u64 = 2;
    let file = ctx.task.fds.get(fd_arg(args[0]))?.clone();
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
    let new = base.checked_add(offset).ok_or(EOVERFLOW)?;
    if new < 0 {
        return Err(EINVAL);
    }
    *current = new as u64;
    Ok(new as u64)
}

pub fn sys_fstat(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let stat = ctx.task.fds.get(fd_arg(args[0]))?.file.stat();
    ctx.task.mm.write_val(args[1], &stat)?;
    Ok(0)
}

fn stat_path(
    ctx: &mut SyscallContext,
    dirfd: i32,
    path_addr: u64,
    buf: u64,
    flags: u64,
) -> SysResult {
    if flags & !(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0 {
        return Err(EINVAL);
    }
    let raw = ctx.task.mm.read_cstring(path_addr, PATH_MAX - 1)?;
    let stat = if raw.is_empty() && flags & AT_EMPTY_PATH != 0 {
        if dirfd == AT_FDCWD {
            return Err(ENOENT);
        }
        ctx.task.fds.get(dirfd)?.file.stat()
    } else {
        let path = read_path(ctx, dirfd, path_addr)?;
        ctx.task.namespace.lookup(&path)?.stat()
    };
    ctx.task.mm.write_val(buf, &stat)?;
    Ok(0)
}

pub fn sys_stat(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    stat_path(ctx, AT_FDCWD, args[0], args[1], 0)
}

pub fn sys_lstat(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    stat_path(ctx, AT_FDCWD, args[0], args[1], AT_SYMLINK_NOFOLLOW)
}

pub fn sys_newfstatat(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    stat_path(ctx, fd_arg(args[0]), args[1], args[2], args[3])
}

pub fn sys_ioctl(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    const FIONCLEX: u64 = 0x5450;
    const FIOCLEX: u64 = 0x5451;
    let fd = fd_arg(args[0]);
    let file = ctx.task.fds.get(fd)?.clone();
    match args[1] & 0xffff_ffff {
        FIOCLEX | FIONCLEX => {
            ctx.task
                .fds
                .install(fd as usize, file, args[1] as u32 == FIOCLEX as u32);
            Ok(0)
        }
        request => match file.file.ioctl(request)? {
            IoctlReply::Bytes(bytes) => {
                ctx.task.mm.copy_to_user(args[2], &bytes)?;
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
    ctx.task.mm.copy_from_user(addr, &mut raw)?;
    let mut ready = 0u64;
    let mut waits_for_stdin = false;
    for entry in raw.chunks_exact_mut(8) {
        let fd = i32::from_le_bytes(entry[..4].try_into().unwrap());
        let events = i16::from_le_bytes(entry[4..6].try_into().unwrap());
        let revents = if fd < 0 {
            0
        } else {
            match ctx.task.fds.get(fd) {
                Err(_) => POLLNVAL,
                Ok(file) => {
                    let revents = file.file.poll(events | POLLERR | POLLHUP);
                    if file.file.waits_on_console_input()
                        && events & POLLIN != 0
                        && revents & POLLIN == 0
                    {
                        waits_for_stdin = true;
                    }
                    revents
                }
            }
        };
        entry[6..8].copy_from_slice(&revents.to_le_bytes());
        if revents != 0 {
            ready += 1;
        }
    }
    // Ask the host about stdin: without waiting when something is already
    // ready, else for the timeout.
    if waits_for_stdin {
        let wait = if ready > 0 { 0 } else { timeout_ns };
        if console::wait_for_input(wait, true) {
            for entry in raw.chunks_exact_mut(8) {
                let fd = i32::from_le_bytes(entry[..4].try_into().unwrap());
                let events = i16::from_le_bytes(entry[4..6].try_into().unwrap());
                let is_stdin = fd >= 0
                    && ctx
                        .task
                        .fds
                        .get(fd)
                        .is_ok_and(|f| f.file.waits_on_console_input());
                if is_stdin && events & POLLIN != 0 {
                    let old = i16::from_le_bytes(entry[6..8].try_into().unwrap());
                    if old == 0 {
                        ready += 1;
                    }
                    entry[6..8].copy_from_slice(&(old | console::STDIN_READY).to_le_bytes());
                }
            }
        }
    } else if ready == 0 && timeout_ns > 0 {
        console::wait_for_input(timeout_ns, false);
    }
    ctx.task.mm.copy_to_user(addr, &raw)?;
    Ok(ready)
}

pub fn sys_ppoll(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let timeout_ns = if args[2] == 0 {
        u64::MAX
    } else {
        let ts: [i64; 2] = ctx.task.mm.read_val(args[2])?;
        if ts[0] < 0 || !(0..1_000_000_000).contains(&ts[1]) {
            return Err(EINVAL);
        }
        (ts[0] as u64)
            .saturating_mul(1_000_000_000)
            .saturating_add(ts[1] as u64)
    };
    // The signal mask argument (args[3]) only matters once signals can be
    // delivered during the wait.
    poll_fds(ctx, args[0], args[1], timeout_ns)
}

fn dup_to(ctx: &mut SyscallContext, old: i32, new: u64, flags: u64) -> SysResult {
    if flags & !(O_CLOEXEC as u64) != 0 {
        return Err(EINVAL);
    }
    let file = ctx.task.fds.get(old)?.clone();
    let new = fd_arg(new);
    if new < 0 || new as usize >= MAX_FDS {
        return Err(EBADF);
    }
    ctx.task
        .fds
        .install(new as usize, file, flags & O_CLOEXEC as u64 != 0);
    Ok(new as u64)
}

pub fn sys_dup(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let file = ctx.task.fds.get(fd_arg(args[0]))?.clone();
    ctx.task.fds.insert(file, false, 0).map(|fd| fd as u64)
}

pub fn sys_dup2(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let old = fd_arg(args[0]);
    if old == fd_arg(args[1]) {
        ctx.task.fds.get(old)?;
        return Ok(old as u64);
    }
    dup_to(ctx, old, args[1], 0)
}

pub fn sys_dup3(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    if fd_arg(args[0]) == fd_arg(args[1]) {
        return Err(EINVAL);
    }
    dup_to(ctx, fd_arg(args[0]), args[1], args[2])
}

pub fn sys_fcntl(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    const F_DUPFD: u64 = 0;
    const F_GETFD: u64 = 1;
    const F_SETFD: u64 = 2;
    const F_GETFL: u64 = 3;
    const F_SETFL: u64 = 4;
    const F_DUPFD_CLOEXEC: u64 = 1030;
    const FD_CLOEXEC: u64 = 1;
    let fd = fd_arg(args[0]);
    let file = ctx.task.fds.get(fd)?.clone();
    match args[1] {
        F_DUPFD | F_DUPFD_CLOEXEC => {
            let min = args[2] as i64;
            if min < 0 || min as usize >= MAX_FDS {
                return Err(EINVAL);
            }
            ctx.task
                .fds
                .insert(file, args[1] == F_DUPFD_CLOEXEC, min as usize)
                .map(|fd| fd as u64)
        }
        F_GETFD => Ok(ctx.task.fds.cloexec(fd)? as u64),
        F_SETFD => {
            ctx.task
                .fds
                .install(fd as usize, file, args[2] & FD_CLOEXEC != 0);
            Ok(0)
        }
        F_GETFL => Ok(*file.flags.lock() as u64),
        F_SETFL => {
            let mut flags = file.flags.lock();
            *flags = (*flags & O_ACCMODE) | (args[2] as u32 & (O_APPEND | O_NONBLOCK));
            Ok(0)
        }
        _ => Err(EINVAL),
    }
}

pub fn sys_readlink(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    readlink_at(ctx, AT_FDCWD, args[0], args[1], args[2])
}

pub fn sys_readlinkat(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    readlink_at(ctx, fd_arg(args[0]), args[1], args[2], args[3])
}

fn readlink_at(ctx: &mut SyscallContext, dirfd: i32, path: u64, buf: u64, size: u64) -> SysResult {
    if (size as i64) <= 0 {
        return Err(EINVAL);
    }
    let path = read_path(ctx, dirfd, path)?;
    if path == b"/proc/self/exe" {
        let target = ctx.task.namespace.exe_path().to_vec();
        let n = target.len().min(size as usize);
        ctx.task.mm.copy_to_user(buf, &target[..n])?;
        return Ok(n as u64);
    }
    // Everything else that exists is not a symlink.
    ctx.task.namespace.lookup(&path)?;
    Err(EINVAL)
}
