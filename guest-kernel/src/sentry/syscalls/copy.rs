//! Copies between files inside the sentry: sendfile and copy_file_range
//! (the data never reaches user memory).

use crate::sentry::mm::usermem::UserPtr;
use alloc::sync::Arc;
use alloc::vec;

use super::read_write::{MAX_RW_COUNT, READ_CHUNK};
use super::SyscallContext;
use crate::sentry::errno::*;
use crate::sentry::fd::*;

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

pub fn sys_sendfile(
    ctx: &mut SyscallContext,
    out_fd: i32,
    in_fd: i32,
    offset_addr: u64,
    count: u64,
) -> SysResult {
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

pub fn sys_copy_file_range(
    ctx: &mut SyscallContext,
    in_fd: i32,
    in_off: u64,
    out_fd: i32,
    out_off: u64,
    len: u64,
    flags: u64,
) -> SysResult {
    if flags != 0 {
        return Err(EINVAL);
    }
    let from = ctx.task.fds().get(in_fd)?.clone();
    let to = ctx.task.fds().get(out_fd)?.clone();
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
