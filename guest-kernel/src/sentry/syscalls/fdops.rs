//! File-descriptor syscalls: close/close_range, dup/dup2/dup3, fcntl,
//! pipe/pipe2, memfd_create, fallocate, and the sync family (fsync,
//! fdatasync, sync, syncfs, sync_file_range) with its hints (fadvise64,
//! readahead).

use super::SyscallContext;
use crate::sentry::errno::*;
use crate::sentry::fd::*;
use crate::sentry::mm::usermem::UserPtr;
use crate::sentry::vfs::pipe::new_pipe;

pub fn sys_close(ctx: &mut SyscallContext, fd: i32) -> SysResult {
    // The file itself is released outside the fd-table lock.
    let file = ctx.task.fds().remove(fd)?;
    closed(ctx, &file);
    drop(file);
    Ok(0)
}

/// The caller's process closed a descriptor of `file` (Linux's
/// filp_close): its POSIX record locks and dnotify watches through it go.
fn closed(ctx: &SyscallContext, file: &OpenFile) {
    super::locks::release_process(ctx.task.pid, Some(file));
    crate::sentry::vfs::dnotify::flush(ctx.task.pid, Some(file));
}

pub fn sys_close_range(ctx: &mut SyscallContext, first: u32, last: u32, flags: u64) -> SysResult {
    const CLOSE_RANGE_CLOEXEC: u64 = 1 << 2;
    if flags & !CLOSE_RANGE_CLOEXEC != 0 || first > last {
        return Err(EINVAL);
    }
    let closed = ctx
        .task
        .fds()
        .close_range(first, last, flags & CLOSE_RANGE_CLOEXEC != 0);
    // The files themselves are released outside the fd-table lock; as
    // with close, the process's record locks on them go (fcntl(2)).
    for (_, file) in closed {
        self::closed(ctx, &file);
    }
    Ok(0)
}

fn dup_to(ctx: &mut SyscallContext, old: i32, new: i32, flags: u64, dup3: bool) -> SysResult {
    if flags & !(O_CLOEXEC as u64) != 0 {
        return Err(EINVAL);
    }
    let cloexec = flags & O_CLOEXEC as u64 != 0;
    let (new, replaced) = ctx.task.fds().dup_to(old, new, cloexec, dup3)?;
    // The descriptor replaced is closed as by close (its record locks go).
    if let Some(file) = replaced {
        closed(ctx, &file);
    }
    Ok(new as u64)
}

pub fn sys_dup(ctx: &mut SyscallContext, oldfd: i32) -> SysResult {
    ctx.task.fds().dup(oldfd).map(|fd| fd as u64)
}

pub fn sys_dup2(ctx: &mut SyscallContext, oldfd: i32, newfd: i32) -> SysResult {
    dup_to(ctx, oldfd, newfd, 0, false)
}

pub fn sys_dup3(ctx: &mut SyscallContext, oldfd: i32, newfd: i32, flags: u64) -> SysResult {
    dup_to(ctx, oldfd, newfd, flags, true)
}

pub fn sys_fcntl(ctx: &mut SyscallContext, fd: i32, cmd: u64, arg: u64) -> SysResult {
    const F_DUPFD: u64 = 0;
    const F_GETFD: u64 = 1;
    const F_SETFD: u64 = 2;
    const F_GETFL: u64 = 3;
    const F_SETFL: u64 = 4;
    const F_SETOWN: u64 = 8;
    const F_GETOWN: u64 = 9;
    const F_SETSIG: u64 = 10;
    const F_GETSIG: u64 = 11;
    const F_SETOWN_EX: u64 = 15;
    const F_GETOWN_EX: u64 = 16;
    const F_OWNER_TID: i32 = 0;
    const F_OWNER_PID: i32 = 1;
    const F_OWNER_PGRP: i32 = 2;
    use super::locks::{
        F_GETLEASE, F_GETLK, F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW, F_SETLEASE, F_SETLK, F_SETLKW,
    };
    use crate::sentry::sigio::{self, OwnerKind, O_ASYNC};
    const F_DUPFD_CLOEXEC: u64 = 1030;
    const F_NOTIFY: u64 = 1026;
    const F_SETPIPE_SZ: u64 = 1031;
    const F_GETPIPE_SZ: u64 = 1032;
    const FD_CLOEXEC: u64 = 1;
    let file = ctx.task.fds().get(fd)?.clone();
    // An O_PATH descriptor takes only these (Linux's check_fcntl_cmd).
    if *file.flags.lock() & O_PATH != 0
        && !matches!(cmd, F_DUPFD | F_DUPFD_CLOEXEC | F_GETFD | F_SETFD | F_GETFL)
    {
        return Err(EBADF);
    }
    match cmd {
        F_DUPFD | F_DUPFD_CLOEXEC => ctx
            .task
            .fds()
            .dup_from(fd, arg as i64, cmd == F_DUPFD_CLOEXEC)
            .map(|fd| fd as u64),
        F_GETFD => Ok(ctx.task.fds().cloexec(fd)? as u64),
        F_SETFD => {
            ctx.task.fds().set_cloexec(fd, arg & FD_CLOEXEC != 0)?;
            Ok(0)
        }
        F_GETFL => Ok(crate::sentry::fd::open_flags_to_user(*file.flags.lock()) as u64),
        F_SETFL => {
            const SETTABLE: u32 = O_APPEND | O_NONBLOCK | O_ASYNC;
            let new = arg as u32 & SETTABLE;
            let was = *file.flags.lock();
            if (was ^ new) & O_ASYNC != 0 {
                sigio::set_async(&file, fd, new & O_ASYNC != 0);
            }
            let mut flags = file.flags.lock();
            *flags = (*flags & !SETTABLE) | new;
            Ok(0)
        }
        F_GETLK | F_SETLK | F_SETLKW | F_OFD_GETLK | F_OFD_SETLK | F_OFD_SETLKW => {
            super::locks::fcntl_lock(ctx, &file, cmd, arg)
        }
        F_SETLEASE => super::locks::fcntl_setlease(ctx, &file, fd, arg),
        F_GETLEASE => super::locks::fcntl_getlease(&file),
        F_SETOWN => {
            // A negative id names a process group (i32::MIN has no
            // positive twin: EINVAL).
            let who = arg as i32;
            let (kind, id) = match who {
                i32::MIN => return Err(EINVAL),
                w if w < 0 => (OwnerKind::Group, -w),
                w => (OwnerKind::Process, w),
            };
            sigio::set_owner(&ctx.task, &file, kind, id, true)?;
            Ok(0)
        }
        F_GETOWN => match sigio::owner_of(&file) {
            (OwnerKind::Group, id) => Ok(-(id as i64) as u64),
            (_, id) => Ok(id as u64),
        },
        F_SETOWN_EX => {
            let owner: [i32; 2] = UserPtr::<[i32; 2]>::new(arg).read(&mut ctx.task.mm())?;
            let kind = match owner[0] {
                F_OWNER_TID => OwnerKind::Thread,
                F_OWNER_PID => OwnerKind::Process,
                F_OWNER_PGRP => OwnerKind::Group,
                _ => return Err(EINVAL),
            };
            // Linux looks the id up as given: a negative one names nothing.
            if owner[1] < 0 {
                return Err(ESRCH);
            }
            sigio::set_owner(&ctx.task, &file, kind, owner[1], true)?;
            Ok(0)
        }
        F_GETOWN_EX => {
            let (kind, id) = sigio::owner_of(&file);
            let kind = match kind {
                OwnerKind::Thread => F_OWNER_TID,
                OwnerKind::Process => F_OWNER_PID,
                OwnerKind::Group => F_OWNER_PGRP,
            };
            UserPtr::new(arg).write(&mut ctx.task.mm(), &[kind, id])?;
            Ok(0)
        }
        F_SETSIG => {
            // 0 restores the plain SIGIO; Linux's valid_signal otherwise.
            let signal = arg as u32;
            if signal > 64 {
                return Err(EINVAL);
            }
            file.owner.lock().signum = signal as u8;
            Ok(0)
        }
        F_GETSIG => Ok(file.owner.lock().signum as u64),
        F_NOTIFY => {
            crate::sentry::vfs::dnotify::fcntl_notify(&ctx.task, &file, fd, arg as u32)?;
            Ok(0)
        }
        // Pipes and FIFOs only: EBADF for any other file (Linux's
        // pipe_fcntl).
        F_GETPIPE_SZ => Ok(file.file.as_pipe().ok_or(EBADF)?.capacity() as u64),
        F_SETPIPE_SZ => set_pipe_size(ctx, &file, arg as u32),
        F_ADD_SEALS => add_seals(&file, arg as u32),
        F_GET_SEALS => {
            let inode = file.file.inode().ok_or(EINVAL)?;
            let seals = inode.seals().ok_or(EINVAL)?;
            Ok(seals.load(core::sync::atomic::Ordering::Relaxed) as u64)
        }
        _ => Err(EINVAL),
    }
}

const F_ADD_SEALS: u64 = 1033;
const F_GET_SEALS: u64 = 1034;

/// F_ADD_SEALS (Linux's memfd_add_seals): on a file open for writing
/// (EPERM), not sealed against sealing (EPERM); F_SEAL_WRITE only while
/// no shared mapping may write the file (EBUSY).
fn add_seals(file: &OpenFile, seals: u32) -> SysResult {
    use crate::sentry::vfs::tmpfs::*;
    use core::sync::atomic::Ordering::Relaxed;
    const ALL: u32 = F_SEAL_SEAL
        | F_SEAL_SHRINK
        | F_SEAL_GROW
        | F_SEAL_WRITE
        | F_SEAL_FUTURE_WRITE
        | F_SEAL_EXEC;
    if !file.writable() {
        return Err(EPERM);
    }
    if seals & !ALL != 0 {
        return Err(EINVAL);
    }
    let inode = file.file.inode().ok_or(EINVAL)?;
    let current = inode.seals().ok_or(EINVAL)?;
    if current.load(Relaxed) & F_SEAL_SEAL != 0 {
        return Err(EPERM);
    }
    let mut seals = seals;
    if seals & F_SEAL_WRITE != 0
        && current.load(Relaxed) & F_SEAL_WRITE == 0
        && crate::sentry::vfs::procfs::address_spaces()
            .iter()
            .any(|mm| mm.lock().writable_shared_mappings_of(&inode))
    {
        return Err(EBUSY);
    }
    // F_SEAL_EXEC on an executable file implies the write seals (W^X).
    if seals & F_SEAL_EXEC != 0 && inode.stat().mode & 0o111 != 0 {
        seals |= F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE;
    }
    current.fetch_or(seals, Relaxed);
    Ok(0)
}

const CAP_SYS_RESOURCE: u64 = 1 << 24;
const CAP_SYS_ADMIN: u64 = 1 << 21;

/// Linux's pipe_is_unprivileged_user: neither CAP_SYS_RESOURCE nor
/// CAP_SYS_ADMIN.
fn unprivileged(ctx: &SyscallContext) -> bool {
    ctx.task.creds.caps().effective & (CAP_SYS_RESOURCE | CAP_SYS_ADMIN) == 0
}

/// F_SETPIPE_SZ (Linux's pipe_set_size): the size rounded up to a power
/// of two of pages (EINVAL above 2^31); growing past pipe-max-size needs
/// CAP_SYS_RESOURCE (EPERM); EBUSY when the data held would not fit. The
/// new capacity, in bytes.
fn set_pipe_size(ctx: &mut SyscallContext, file: &OpenFile, size: u32) -> SysResult {
    use crate::sentry::vfs::pipe::{pipe_max_size, round_pipe_size};
    let pipe = file.file.as_pipe().ok_or(EBADF)?;
    let size = round_pipe_size(size).ok_or(EINVAL)?;
    if size > pipe.capacity()
        && size > pipe_max_size()
        && ctx.task.creds.caps().effective & CAP_SYS_RESOURCE == 0
    {
        return Err(EPERM);
    }
    Ok(pipe.set_capacity(size, unprivileged(ctx))? as u64)
}

fn make_pipe(ctx: &mut SyscallContext, addr: u64, flags: u64) -> SysResult {
    if flags & !((O_CLOEXEC | O_NONBLOCK) as u64 | 0o40000/* O_DIRECT */) != 0 {
        return Err(EINVAL);
    }
    let (read_end, write_end) = new_pipe();
    // Linux's alloc_pipe_info: without CAP_SYS_RESOURCE a new pipe holds
    // at most pipe-max-size (when root set it below the default 64 KiB).
    let max = crate::sentry::vfs::pipe::pipe_max_size();
    if ctx.task.creds.caps().effective & CAP_SYS_RESOURCE == 0
        && max < crate::sentry::vfs::pipe::PIPE_CAPACITY
    {
        if let Some(pipe) = read_end.as_pipe() {
            pipe.set_capacity(max, false)?;
        }
    }
    if let Some(pipe) = read_end.as_pipe() {
        pipe.charge(ctx.task.creds.user[0], unprivileged(ctx))?;
    }
    let status = flags as u32 & O_NONBLOCK;
    let cloexec = flags as u32 & O_CLOEXEC != 0;
    let read_fd = ctx
        .task
        .fds()
        .insert(OpenFile::new(read_end, O_RDONLY | status), cloexec, 0)?;
    // The result is taken out of the statement first: the table's guard
    // (a temporary of the `insert` call) must be dropped before the error
    // path locks the table again.
    let inserted = ctx
        .task
        .fds()
        .insert(OpenFile::new(write_end, O_WRONLY | status), cloexec, 0);
    let write_fd = match inserted {
        Ok(fd) => fd,
        Err(e) => {
            let _ = ctx.task.fds().remove(read_fd);
            return Err(e);
        }
    };
    if let Err(e) = ctx.task.mm().write_val(addr, &[read_fd, write_fd]) {
        let _ = ctx.task.fds().remove(read_fd);
        let _ = ctx.task.fds().remove(write_fd);
        return Err(e);
    }
    Ok(0)
}

pub fn sys_pipe(ctx: &mut SyscallContext, pipefd: u64) -> SysResult {
    make_pipe(ctx, pipefd, 0)
}

pub fn sys_pipe2(ctx: &mut SyscallContext, pipefd: u64, flags: u64) -> SysResult {
    make_pipe(ctx, pipefd, flags)
}

pub fn sys_fallocate(
    ctx: &mut SyscallContext,
    fd: i32,
    mode: u64,
    offset: i64,
    len: i64,
) -> SysResult {
    const FALLOC_FL_KEEP_SIZE: u64 = 1;
    const FALLOC_FL_PUNCH_HOLE: u64 = 2;
    use core::sync::atomic::Ordering;
    if offset < 0 || len <= 0 {
        return Err(EINVAL);
    }
    let file = ctx.task.fds().get(fd)?.clone();
    if !file.writable() {
        return Err(EBADF);
    }
    let stat = file.file.stat();
    match stat.mode & crate::sentry::stat::S_IFMT {
        crate::sentry::stat::S_IFREG => {}
        crate::sentry::stat::S_IFDIR => return Err(EISDIR),
        _ => return Err(ENODEV),
    }
    let end = offset.checked_add(len).ok_or(EFBIG)? as u64;
    let inode = file.file.inode();
    if mode == FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE {
        return match &inode {
            Some(inode) => inode.punch_hole(offset as u64, len as u64).map(|_| 0),
            None => Err(EOPNOTSUPP),
        };
    }
    if mode & !FALLOC_FL_KEEP_SIZE != 0 {
        return Err(EOPNOTSUPP);
    }
    // A file sealed against growing takes no allocation past its end,
    // even one that keeps the size.
    let seals = inode
        .as_ref()
        .and_then(|i| i.seals().map(|s| s.load(Ordering::Relaxed)));
    if seals.unwrap_or(0) & crate::sentry::vfs::tmpfs::F_SEAL_GROW != 0 && end > stat.size as u64 {
        return Err(EPERM);
    }
    // Space is not reserved ahead (pages come on first write); the size
    // grows as Linux's would.
    if mode == 0 && end > stat.size as u64 {
        file.file.truncate(end)?;
    }
    Ok(0)
}

/// fsync, fdatasync: EINVAL for what cannot be synced (pipes, sockets,
/// devices, event files: Linux's files without an fsync operation).
pub fn sys_fsync(ctx: &mut SyscallContext, fd: i32) -> SysResult {
    use crate::sentry::stat::{S_IFDIR, S_IFMT, S_IFREG};
    let file = ctx.task.fds().get(fd)?.clone();
    if *file.flags.lock() & O_PATH != 0 {
        return Err(EBADF);
    }
    if !matches!(file.file.stat().mode & S_IFMT, S_IFREG | S_IFDIR) {
        return Err(EINVAL);
    }
    file.file.sync()?;
    Ok(0)
}

/// sync: everything the program wrote reaches the host: mapped pages of
/// shared files are written back and every open file is synced.
pub fn sys_sync(ctx: &mut SyscallContext) -> SysResult {
    sync_everything(ctx);
    Ok(0)
}

/// syncfs: as sync (the sandbox's filesystems are flushed together).
pub fn sys_syncfs(ctx: &mut SyscallContext, fd: i32) -> SysResult {
    ctx.task.fds().get(fd)?;
    sync_everything(ctx);
    Ok(0)
}

/// Errors are not reported by sync(2): they surface at the files' fsync.
fn sync_everything(ctx: &mut SyscallContext) {
    ctx.task.mm().writeback_all();
    let files = ctx.task.fds().list();
    for (_, file) in files {
        let _ = file.file.sync();
    }
}

pub fn sys_sync_file_range(
    ctx: &mut SyscallContext,
    fd: i32,
    offset: i64,
    nbytes: i64,
    flags: u64,
) -> SysResult {
    const VALID: u64 = 1 | 2 | 4;
    let file = ctx.task.fds().get(fd)?.clone();
    if flags & !VALID != 0 || offset < 0 || nbytes < 0 || offset.checked_add(nbytes).is_none() {
        return Err(EINVAL);
    }
    // Linux: only regular files, directories, symlinks and block devices.
    {
        use crate::sentry::stat::{S_IFBLK, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG};
        if !matches!(
            file.file.stat().mode & S_IFMT,
            S_IFREG | S_IFDIR | S_IFLNK | S_IFBLK
        ) {
            return Err(ESPIPE);
        }
    }
    if flags != 0 {
        file.file.sync()?;
    }
    Ok(0)
}

/// fadvise64: the advice is a hint about the page cache; validated as
/// Linux does, it changes nothing observable here.
pub fn sys_fadvise64(
    ctx: &mut SyscallContext,
    fd: i32,
    _offset: u64,
    len: i64,
    advice: u64,
) -> SysResult {
    const POSIX_FADV_NOREUSE: u64 = 5;
    let file = ctx.task.fds().get(fd)?.clone();
    if *file.flags.lock() & O_PATH != 0 {
        return Err(EBADF);
    }
    if file.file.stat().mode & crate::sentry::stat::S_IFMT == crate::sentry::stat::S_IFIFO {
        return Err(ESPIPE);
    }
    if advice > POSIX_FADV_NOREUSE || len < 0 {
        return Err(EINVAL);
    }
    Ok(0)
}

/// cachestat(fd, range, cstat, flags): how many of the file's pages in
/// `struct cachestat_range` { off, len } (len 0: to the end) are in
/// memory (Linux's filemap_cachestat). A tmpfs file's pages are all in
/// memory, and dirty (no backing store); the sandbox keeps no cache of
/// host files, so none of theirs is. Nothing is ever evicted or under
/// writeback.
pub fn sys_cachestat(
    ctx: &mut SyscallContext,
    fd: u32,
    range_addr: UserPtr<[u64; 2]>,
    out_addr: UserPtr<[u64; 5]>,
    flags: u32,
) -> SysResult {
    use crate::sentry::vfs::perm::MAY_WRITE;
    let file = ctx
        .task
        .fds()
        .get(i32::try_from(fd).map_err(|_| EBADF)?)?
        .clone();
    if *file.flags.lock() & O_PATH != 0 {
        return Err(EBADF);
    }
    // Linux's can_do_cachestat: opened for writing, or the caller owns
    // or may write the file (a side channel otherwise).
    let inode = file.file.inode();
    if !file.writable() {
        let allowed = match &inode {
            Some(inode) => {
                super::path::owns(ctx, &**inode)
                    || super::path::may(ctx, &**inode, MAY_WRITE).is_ok()
            }
            // A pipe or socket: its caller made it (an anonymous inode
            // the caller owns); nothing of it is cached.
            None => true,
        };
        if !allowed {
            return Err(EPERM);
        }
    }
    if flags != 0 {
        return Err(EINVAL);
    }
    let [off, len]: [u64; 2] = range_addr.read(&mut ctx.task.mm())?;
    const PAGE_SHIFT: u32 = 12;
    let first = off >> PAGE_SHIFT;
    let last = if len == 0 {
        u64::MAX
    } else {
        off.wrapping_add(len).wrapping_sub(1) >> PAGE_SHIFT
    };
    let (cached, dirty) = match &inode {
        Some(inode) if first <= last => inode.cached_pages(first, last),
        _ => (0, 0),
    };
    // struct cachestat: nr_cache, nr_dirty, nr_writeback, nr_evicted,
    // nr_recently_evicted.
    let out: [u64; 5] = [cached, dirty, 0, 0, 0];
    out_addr.write(&mut ctx.task.mm(), &out)?;
    Ok(0)
}

/// readahead: every page of a sandbox file is at hand already. Linux
/// reads ahead only regular files (and block devices): EINVAL otherwise.
pub fn sys_readahead(ctx: &mut SyscallContext, fd: i32, offset: i64) -> SysResult {
    use crate::sentry::stat::{S_IFBLK, S_IFMT, S_IFREG};
    let file = ctx.task.fds().get(fd)?.clone();
    if !file.readable() {
        return Err(EBADF);
    }
    if !matches!(file.file.stat().mode & S_IFMT, S_IFREG | S_IFBLK) || offset < 0 {
        return Err(EINVAL);
    }
    Ok(0)
}

/// memfd_create: an anonymous tmpfs file, shown as "/memfd:NAME (deleted)".
pub fn sys_memfd_create(ctx: &mut SyscallContext, name: u64, flags: u64) -> SysResult {
    const MFD_CLOEXEC: u64 = 1;
    const MFD_ALLOW_SEALING: u64 = 2;
    const MFD_HUGETLB: u64 = 4;
    const MFD_NOEXEC_SEAL: u64 = 8;
    const MFD_EXEC: u64 = 0x10;
    const NAME_MAX: usize = 249;
    if flags & !(MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB | MFD_NOEXEC_SEAL | MFD_EXEC) != 0
        || flags & (MFD_NOEXEC_SEAL | MFD_EXEC) == MFD_NOEXEC_SEAL | MFD_EXEC
    {
        return Err(EINVAL);
    }
    if flags & MFD_HUGETLB != 0 {
        // No huge pages in the sandbox (hugetlbfs has none reserved).
        return Err(EINVAL);
    }
    let name = ctx.task.mm().read_cstring(name, NAME_MAX).map_err(|e| {
        if e == ENAMETOOLONG {
            EINVAL
        } else {
            e
        }
    })?;
    let mode = if flags & MFD_NOEXEC_SEAL != 0 {
        0o666
    } else {
        0o777
    };
    let node = crate::sentry::vfs::tmpfs::new_unlinked_file(mode);
    {
        use crate::sentry::vfs::tmpfs::{F_SEAL_EXEC, F_SEAL_SEAL};
        use core::sync::atomic::Ordering::Relaxed;
        let seals = crate::sentry::vfs::Inode::seals(&*node).ok_or(EINVAL)?;
        // MFD_NOEXEC_SEAL allows sealing and seals the execute bits.
        if flags & MFD_NOEXEC_SEAL != 0 {
            seals.store(F_SEAL_EXEC, Relaxed);
        } else if flags & MFD_ALLOW_SEALING != 0 {
            seals.fetch_and(!F_SEAL_SEAL, Relaxed);
        }
    }
    let count = super::locks::count_open(crate::sentry::vfs::Inode::id(&*node), true);
    let file = crate::sentry::vfs::Inode::open(node, O_RDWR)?;
    let mut label = b"/memfd:".to_vec();
    label.extend_from_slice(&name);
    label.extend_from_slice(b" (deleted)");
    let open = OpenFile::labeled_counted(file, O_RDWR, label, Some(count));
    let fd = ctx.task.fds().insert(open, flags & MFD_CLOEXEC != 0, 0)?;
    Ok(fd as u64)
}
