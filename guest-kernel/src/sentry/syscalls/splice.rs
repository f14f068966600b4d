//! splice, tee and vmsplice: data moved between a pipe and a file, two
//! pipes, or a pipe and user memory without passing through the caller's
//! buffers. The sentry copies the bytes (no page is lent, gifted or
//! stolen, so SPLICE_F_MOVE and SPLICE_F_GIFT change nothing); the
//! results, the blocking and the errors are Linux's (fs/splice.c).

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use super::poll::wait_until_ready;
use super::read_write::{broken_pipe, read_iovecs, MAX_RW_COUNT, READ_CHUNK};
use super::SyscallContext;
use crate::sentry::errno::*;
use crate::sentry::fd::*;
use crate::sentry::mm::usermem::UserPtr;
use crate::sentry::vfs::inotify::{on_file, IN_ACCESS, IN_MODIFY};
use crate::sentry::vfs::pipe::Pipe;

const SPLICE_F_NONBLOCK: u32 = 2;
/// SPLICE_F_MOVE | SPLICE_F_NONBLOCK | SPLICE_F_MORE | SPLICE_F_GIFT.
const SPLICE_F_ALL: u32 = 0xf;

/// An offset argument: None for a null pointer.
fn read_offset(ctx: &mut SyscallContext, addr: u64) -> Result<Option<i64>, Errno> {
    if addr == 0 {
        return Ok(None);
    }
    Ok(Some(UserPtr::<i64>::new(addr).read(&mut ctx.task.mm())?))
}

/// Where the file side of a splice reads or writes: the given offset (a
/// positional file only, else EINVAL: Linux's FMODE_PREAD/PWRITE), the
/// file's own offset, or nothing for a stream. Negative: EINVAL
/// (rw_verify_area).
fn file_position(file: &OpenFile, given: Option<i64>, len: usize) -> Result<u64, Errno> {
    let pos = match given {
        Some(_) if !file.file.seekable() => return Err(EINVAL),
        Some(pos) => pos,
        None if file.file.seekable() => *file.offset.lock() as i64,
        None => 0,
    };
    if pos < 0 || pos.checked_add(len as i64).is_none() {
        return Err(EINVAL);
    }
    Ok(pos as u64)
}

pub fn sys_splice(
    ctx: &mut SyscallContext,
    fd_in: i32,
    off_in: u64,
    fd_out: i32,
    off_out: u64,
    len: u64,
    flags: u32,
) -> SysResult {
    if len == 0 {
        return Ok(0);
    }
    if flags & !SPLICE_F_ALL != 0 {
        return Err(EINVAL);
    }
    let from = ctx.task.fds().get(fd_in)?.clone();
    let to = ctx.task.fds().get(fd_out)?.clone();
    let ipipe = from.file.as_pipe().cloned();
    let opipe = to.file.as_pipe().cloned();
    if (ipipe.is_some() && off_in != 0) || (opipe.is_some() && off_out != 0) {
        return Err(ESPIPE);
    }
    let given_out = read_offset(ctx, off_out)?;
    let given_in = read_offset(ctx, off_in)?;
    if !from.readable() || !to.writable() {
        return Err(EBADF);
    }
    let len = len.min(MAX_RW_COUNT) as usize;
    let nonblock = flags & SPLICE_F_NONBLOCK != 0;
    let moved = match (ipipe, opipe) {
        (Some(ipipe), Some(opipe)) => {
            if Arc::ptr_eq(&ipipe, &opipe) {
                return Err(EINVAL);
            }
            let nonblock = nonblock || from.nonblocking() || to.nonblocking();
            between_pipes(ctx, (&from, &ipipe), (&to, &opipe), len, nonblock, true)?
        }
        (Some(ipipe), None) => {
            let pos = file_position(&to, given_out, len)?;
            if to.append() {
                return Err(EINVAL);
            }
            let nonblock = nonblock || from.nonblocking();
            let (n, end) = pipe_to_file(ctx, (&from, &ipipe), &to, pos, len, nonblock)?;
            match given_out {
                Some(_) => UserPtr::new(off_out).write(&mut ctx.task.mm(), &(end as i64))?,
                None if to.file.seekable() => *to.offset.lock() = end,
                None => {}
            }
            n
        }
        (None, Some(opipe)) => {
            let pos = file_position(&from, given_in, len)?;
            let nonblock = nonblock || to.nonblocking();
            let (n, end) = file_to_pipe(ctx, &from, pos, (&to, &opipe), len, nonblock)?;
            match given_in {
                Some(_) => UserPtr::new(off_in).write(&mut ctx.task.mm(), &(end as i64))?,
                None if from.file.seekable() => *from.offset.lock() = end,
                None => {}
            }
            n
        }
        (None, None) => return Err(EINVAL),
    };
    if moved > 0 {
        on_file(&from, IN_ACCESS);
        on_file(&to, IN_MODIFY);
    }
    Ok(moved as u64)
}

pub fn sys_tee(
    ctx: &mut SyscallContext,
    fd_in: i32,
    fd_out: i32,
    len: u64,
    flags: u32,
) -> SysResult {
    if flags & !SPLICE_F_ALL != 0 {
        return Err(EINVAL);
    }
    if len == 0 {
        return Ok(0);
    }
    let from = ctx.task.fds().get(fd_in)?.clone();
    let to = ctx.task.fds().get(fd_out)?.clone();
    if !from.readable() || !to.writable() {
        return Err(EBADF);
    }
    let (Some(ipipe), Some(opipe)) = (from.file.as_pipe().cloned(), to.file.as_pipe().cloned())
    else {
        return Err(EINVAL);
    };
    if Arc::ptr_eq(&ipipe, &opipe) {
        return Err(EINVAL);
    }
    let nonblock = flags & SPLICE_F_NONBLOCK != 0 || from.nonblocking() || to.nonblocking();
    let len = len.min(MAX_RW_COUNT) as usize;
    let n = between_pipes(ctx, (&from, &ipipe), (&to, &opipe), len, nonblock, false)?;
    if n > 0 {
        on_file(&to, IN_MODIFY);
    }
    Ok(n as u64)
}

/// Waits for `file` to become ready for `events` (data, room, or the other
/// side gone); EAGAIN instead when the call must not block.
fn wait_or_again(
    ctx: &mut SyscallContext,
    file: &Arc<OpenFile>,
    events: i16,
    nonblock: bool,
) -> Result<(), Errno> {
    if nonblock {
        return Err(EAGAIN);
    }
    wait_until_ready(ctx, file, events)
}

/// Waits until `pipe` has room for a splice into it (Linux's
/// wait_for_space): EPIPE with SIGPIPE once it has no readers.
fn wait_for_room(
    ctx: &mut SyscallContext,
    (file, pipe): (&Arc<OpenFile>, &Arc<Pipe>),
    nonblock: bool,
) -> Result<usize, Errno> {
    loop {
        if pipe.readers() == 0 {
            return Err(broken_pipe(ctx));
        }
        let room = pipe.room();
        if room > 0 {
            return Ok(room);
        }
        wait_or_again(ctx, file, POLLOUT, nonblock)?;
    }
}

/// splice between two pipes (`consume`) or tee (the input keeps its
/// data): waits for input, then for room (Linux's ipipe_prep and
/// opipe_prep), then moves what is there and fits, up to `len`.
fn between_pipes(
    ctx: &mut SyscallContext,
    (ifile, ipipe): (&Arc<OpenFile>, &Arc<Pipe>),
    (ofile, opipe): (&Arc<OpenFile>, &Arc<Pipe>),
    len: usize,
    nonblock: bool,
    consume: bool,
) -> Result<usize, Errno> {
    loop {
        if ipipe.buffered() == 0 && ipipe.writers() > 0 {
            wait_or_again(ctx, ifile, POLLIN, nonblock)?;
            continue;
        }
        if opipe.room() == 0 && opipe.readers() > 0 {
            wait_or_again(ctx, ofile, POLLOUT, nonblock)?;
            continue;
        }
        if opipe.readers() == 0 {
            return Err(broken_pipe(ctx));
        }
        // The input is empty with no writers left: end of data.
        let total = len.min(ipipe.buffered()).min(opipe.room());
        let mut buf = vec![0u8; total.min(READ_CHUNK)];
        let mut done = 0;
        while done < total {
            let want = (total - done).min(buf.len());
            let n = ipipe.peek(if consume { 0 } else { done }, &mut buf[..want]);
            let put = opipe.fill(&buf[..n]);
            if consume {
                ipipe.consume(put);
            }
            done += put;
            if put < want {
                break;
            }
        }
        if done == 0 && total > 0 {
            return Err(ENOMEM);
        }
        return Ok(done);
    }
}

/// splice from a pipe to a file: waits for data (none and no writers: 0),
/// then writes what the pipe holds, up to `len`, at `pos`. Bytes leave the
/// pipe only once the file took them. Returns the count and the position
/// after it.
fn pipe_to_file(
    ctx: &mut SyscallContext,
    (pfile, pipe): (&Arc<OpenFile>, &Arc<Pipe>),
    out: &Arc<OpenFile>,
    mut pos: u64,
    len: usize,
    nonblock: bool,
) -> Result<(usize, u64), Errno> {
    if !out.file.splices() {
        return Err(EINVAL);
    }
    let out_nonblock = nonblock || out.nonblocking();
    let mut buf = vec![0u8; len.min(READ_CHUNK)];
    let mut done = 0;
    while done < len {
        if pipe.buffered() == 0 {
            // Linux's splice_from_pipe_next: return what moved, or wait.
            if done > 0 || pipe.writers() == 0 {
                break;
            }
            wait_or_again(ctx, pfile, POLLIN, nonblock)?;
            continue;
        }
        let want = (len - done).min(buf.len());
        let n = pipe.peek(0, &mut buf[..want]);
        match out.file.write(&buf[..n], pos) {
            Ok(written) => {
                pipe.consume(written);
                done += written;
                pos += written as u64;
                if written < n {
                    break;
                }
            }
            // A full socket: wait for room as its own write would.
            Err(e) if e == EAGAIN && done == 0 && !out_nonblock => {
                wait_until_ready(ctx, out, POLLOUT)?;
            }
            Err(e) if done == 0 && e == EPIPE && out.file.as_socket().is_some() => {
                return Err(broken_pipe(ctx));
            }
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok((done, pos))
}

/// splice from a file to a pipe: waits for room, then reads from `pos`
/// what fits, up to `len` (a stream gives what one read has). Returns the
/// count and the position after it.
fn file_to_pipe(
    ctx: &mut SyscallContext,
    from: &Arc<OpenFile>,
    mut pos: u64,
    (pfile, pipe): (&Arc<OpenFile>, &Arc<Pipe>),
    len: usize,
    nonblock: bool,
) -> Result<(usize, u64), Errno> {
    let in_nonblock = nonblock || from.nonblocking();
    'wait: loop {
        let room = wait_for_room(ctx, (pfile, pipe), nonblock)?;
        if !from.file.splices() {
            return Err(EINVAL);
        }
        let total = len.min(room);
        let mut buf = vec![0u8; total.min(READ_CHUNK)];
        let mut done = 0;
        while done < total {
            let want = (total - done).min(buf.len());
            let n = match from.file.read(&mut buf[..want], pos) {
                Ok(n) => n,
                // An empty socket or terminal: wait for data as a read
                // would, then look at the pipe's room again.
                Err(e) if e == EAGAIN && done == 0 && !in_nonblock => {
                    wait_until_ready(ctx, from, POLLIN)?;
                    continue 'wait;
                }
                Err(e) if done == 0 => return Err(e),
                Err(_) => break,
            };
            if n == 0 {
                break;
            }
            // Room was measured and nothing ran since; only memory can
            // run out (the bytes of a stream past that are lost, as a
            // failed read's would be).
            let put = pipe.fill(&buf[..n]);
            if put == 0 && done == 0 {
                return Err(ENOMEM);
            }
            done += put;
            pos += put as u64;
            if put < n || n < want || !from.file.seekable() {
                break;
            }
        }
        return Ok((done, pos));
    }
}

pub fn sys_vmsplice(
    ctx: &mut SyscallContext,
    fd: i32,
    iov: u64,
    nr_segs: u64,
    flags: u32,
) -> SysResult {
    if flags & !SPLICE_F_ALL != 0 {
        return Err(EINVAL);
    }
    let file = ctx.task.fds().get(fd)?.clone();
    // The direction is the descriptor's: into the pipe when it may write.
    let to_pipe = if file.writable() {
        true
    } else if file.readable() {
        false
    } else {
        return Err(EBADF);
    };
    let iovecs = user_segments(ctx, iov, nr_segs)?;
    if iovecs.iter().all(|&(_, len)| len == 0) {
        return Ok(0);
    }
    let pipe = file.file.as_pipe().cloned().ok_or(EBADF)?;
    let nonblock = flags & SPLICE_F_NONBLOCK != 0;
    let n = if to_pipe {
        user_to_pipe(ctx, (&file, &pipe), &iovecs, nonblock)?
    } else {
        pipe_to_user(ctx, (&file, &pipe), &iovecs, nonblock)?
    };
    if n > 0 {
        on_file(&file, if to_pipe { IN_MODIFY } else { IN_ACCESS });
    }
    Ok(n as u64)
}

/// The iovec array, its total cut to MAX_RW_COUNT as Linux's
/// import_iovec cuts it.
fn user_segments(
    ctx: &mut SyscallContext,
    addr: u64,
    count: u64,
) -> Result<Vec<(u64, u64)>, Errno> {
    let mut iovecs = read_iovecs(ctx, addr, count)?;
    let mut left = MAX_RW_COUNT;
    for (_, len) in iovecs.iter_mut() {
        *len = (*len).min(left);
        left -= *len;
    }
    Ok(iovecs)
}

/// vmsplice into a pipe: waits for room once, then gathers what fits.
fn user_to_pipe(
    ctx: &mut SyscallContext,
    pipe: (&Arc<OpenFile>, &Arc<Pipe>),
    iovecs: &[(u64, u64)],
    nonblock: bool,
) -> Result<usize, Errno> {
    let room = wait_for_room(ctx, pipe, nonblock)?;
    let mut buf = vec![0u8; room.min(READ_CHUNK)];
    let mut done = 0;
    for &(base, len) in iovecs {
        let mut at = 0u64;
        while at < len && done < room {
            let want = ((len - at) as usize).min(room - done).min(buf.len());
            let (got, fault) = ctx
                .task
                .mm()
                .copy_from_user_partial(base + at, &mut buf[..want]);
            let put = pipe.1.fill(&buf[..got]);
            done += put;
            at += put as u64;
            if let Some(e) = fault {
                return if done == 0 { Err(e) } else { Ok(done) };
            }
            if put < got {
                return if done == 0 { Err(ENOMEM) } else { Ok(done) };
            }
        }
        if done == room {
            break;
        }
    }
    Ok(done)
}

/// vmsplice from a pipe: waits for data (none and no writers: 0), then
/// copies out what the pipe holds, up to the buffers' size.
fn pipe_to_user(
    ctx: &mut SyscallContext,
    (pfile, pipe): (&Arc<OpenFile>, &Arc<Pipe>),
    iovecs: &[(u64, u64)],
    nonblock: bool,
) -> Result<usize, Errno> {
    let total: u64 = iovecs.iter().map(|&(_, len)| len).sum();
    let mut buf = vec![0u8; (total as usize).min(READ_CHUNK)];
    let mut done = 0usize;
    for &(base, len) in iovecs {
        let mut at = 0u64;
        while at < len {
            if pipe.buffered() == 0 {
                if done > 0 || pipe.writers() == 0 {
                    return Ok(done);
                }
                wait_or_again(ctx, pfile, POLLIN, nonblock)?;
                continue;
            }
            let want = ((len - at) as usize).min(buf.len());
            let n = pipe.peek(0, &mut buf[..want]);
            // A bad buffer ends the call; the bytes stay in the pipe.
            if let Err(e) = ctx.task.mm().copy_to_user(base + at, &buf[..n]) {
                return if done == 0 { Err(e) } else { Ok(done) };
            }
            pipe.consume(n);
            done += n;
            at += n as u64;
        }
    }
    Ok(done)
}
