//! File attributes (what Linux changes through setattr): the mode
//! (chmod family), the owner (chown family), the size (truncate,
//! ftruncate) and the times (utimensat, utimes, futimesat, utime).

use crate::sentry::mm::usermem::UserPtr;
use alloc::sync::Arc;

use super::path::{node_at, AT_EMPTY_PATH, AT_FDCWD, AT_SYMLINK_NOFOLLOW};
use super::SyscallContext;
use crate::sentry::errno::*;
use crate::sentry::fd::{OpenFile, O_PATH};
use crate::sentry::vfs::inotify::{on_file, IN_ATTRIB, IN_MODIFY};
use crate::sentry::vfs::perm::{kill_setid, MAY_WRITE};
use crate::sentry::vfs::{accessor_for, owned, FileKind, Inode, TimeUpdate};

/// The open file `fd`, which must not be an O_PATH descriptor (a
/// location only: Linux's fdget refuses it with EBADF).
fn open_file(ctx: &SyscallContext, fd: i32) -> Result<Arc<OpenFile>, Errno> {
    let file = ctx.task.fds().get(fd)?.clone();
    if *file.flags.lock() & O_PATH != 0 {
        return Err(EBADF);
    }
    Ok(file)
}

/// chmod: the owner (or CAP_FOWNER) only; S_ISGID may be dropped (perm.rs).
/// A symbolic link's mode never changes (Linux 6.6's notify_change:
/// EOPNOTSUPP; only fchmodat2 with AT_SYMLINK_NOFOLLOW can name one).
fn chmod_node(ctx: &SyscallContext, node: &Arc<dyn Inode>, mode: u64) -> SysResult {
    if node.read_only() {
        return Err(EROFS);
    }
    if node.kind() == FileKind::Symlink {
        return Err(EOPNOTSUPP);
    }
    let mode =
        accessor_for(&ctx.task.creds.accessor(), &**node).chmod(owned(&**node), mode as u32)?;
    node.set_mode(mode)?;
    Ok(0)
}

pub fn sys_chmod(ctx: &mut SyscallContext, path: u64, mode: u64) -> SysResult {
    let at = node_at(ctx, AT_FDCWD, path, 0)?;
    chmod_node(ctx, &at.inode()?, mode)?;
    at.notify(IN_ATTRIB);
    Ok(0)
}

pub fn sys_fchmod(ctx: &mut SyscallContext, fd: i32, mode: u64) -> SysResult {
    let file = open_file(ctx, fd)?;
    let node = file.file.inode().ok_or(EBADF)?;
    chmod_node(ctx, &node, mode)?;
    on_file(&file, IN_ATTRIB);
    Ok(0)
}

pub fn sys_fchmodat(ctx: &mut SyscallContext, dirfd: i32, path: u64, mode: u64) -> SysResult {
    let at = node_at(ctx, dirfd, path, 0)?;
    chmod_node(ctx, &at.inode()?, mode)?;
    at.notify(IN_ATTRIB);
    Ok(0)
}

/// fchmodat2 (Linux 6.6): fchmodat with flags, AT_SYMLINK_NOFOLLOW (a
/// symbolic link itself: EOPNOTSUPP) and AT_EMPTY_PATH (the descriptor's
/// own file, an O_PATH one too). The flags are an unsigned int.
pub fn sys_fchmodat2(
    ctx: &mut SyscallContext,
    dirfd: i32,
    path: u64,
    mode: u64,
    flags: u32,
) -> SysResult {
    let flags = flags as u64;
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(EINVAL);
    }
    let at = node_at(ctx, dirfd, path, flags)?;
    let node = at.inode()?;
    if node.read_only() {
        return Err(EROFS);
    }
    if node.kind() == FileKind::Symlink {
        return Err(EOPNOTSUPP);
    }
    chmod_node(ctx, &node, mode)?;
    at.notify(IN_ATTRIB);
    Ok(0)
}

/// chown: changing the owner needs CAP_CHOWN, the group the owner's own
/// membership (perm.rs). A regular file loses its set-user-ID bit, and its
/// set-group-ID bit when group-executable, whoever changes it.
fn chown_node(ctx: &SyscallContext, node: &Arc<dyn Inode>, uid: u64, gid: u64) -> SysResult {
    if node.read_only() {
        return Err(EROFS);
    }
    let id = |v: u64| (v as u32 != u32::MAX).then_some(v as u32);
    let (uid, gid) = (id(uid), id(gid));
    let before = owned(&**node);
    accessor_for(&ctx.task.creds.accessor(), &**node).chown(before, uid, gid)?;
    node.set_owner(uid, gid)?;
    if let Some(mode) = kill_setid(before.mode, false) {
        node.set_mode(mode)?;
    }
    Ok(0)
}

pub fn sys_chown(ctx: &mut SyscallContext, path: u64, owner: u64, group: u64) -> SysResult {
    let at = node_at(ctx, AT_FDCWD, path, 0)?;
    chown_node(ctx, &at.inode()?, owner, group)?;
    at.notify(IN_ATTRIB);
    Ok(0)
}

pub fn sys_lchown(ctx: &mut SyscallContext, path: u64, owner: u64, group: u64) -> SysResult {
    let at = node_at(ctx, AT_FDCWD, path, AT_SYMLINK_NOFOLLOW)?;
    chown_node(ctx, &at.inode()?, owner, group)?;
    at.notify(IN_ATTRIB);
    Ok(0)
}

pub fn sys_fchown(ctx: &mut SyscallContext, fd: i32, owner: u64, group: u64) -> SysResult {
    let file = open_file(ctx, fd)?;
    let node = file.file.inode().ok_or(EBADF)?;
    chown_node(ctx, &node, owner, group)?;
    on_file(&file, IN_ATTRIB);
    Ok(0)
}

pub fn sys_fchownat(
    ctx: &mut SyscallContext,
    dirfd: i32,
    path: u64,
    owner: u64,
    group: u64,
    flags: u64,
) -> SysResult {
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(EINVAL);
    }
    let at = node_at(ctx, dirfd, path, flags)?;
    chown_node(ctx, &at.inode()?, owner, group)?;
    at.notify(IN_ATTRIB);
    Ok(0)
}

pub fn sys_truncate(ctx: &mut SyscallContext, path: u64, length: u64) -> SysResult {
    if (length as i64) < 0 {
        return Err(EINVAL);
    }
    let at = node_at(ctx, AT_FDCWD, path, 0)?;
    let node = at.inode()?;
    if node.kind() == FileKind::Directory {
        return Err(EISDIR);
    }
    if node.read_only() {
        return Err(EROFS);
    }
    super::path::may(ctx, &*node, MAY_WRITE)?;
    if let super::path::NodeRef::Path(stack) = &at {
        super::path::landlock(ctx, stack, crate::sentry::landlock::ACCESS_FS_TRUNCATE)?;
    }
    if length > super::read_write::file_size_limit(ctx) {
        return Err(super::read_write::file_too_big(ctx));
    }
    // Linux's vfs_truncate: counted as a writer meanwhile, it breaks
    // leases first.
    let writing =
        (node.kind() == FileKind::Regular).then(|| super::locks::count_open(node.id(), true));
    if writing.is_some() {
        super::locks::break_lease(ctx, node.id(), true, false)?;
    }
    node.truncate(length)?;
    drop(writing);
    at.notify(IN_MODIFY);
    Ok(0)
}

pub fn sys_ftruncate(ctx: &mut SyscallContext, fd: i32, length: u64) -> SysResult {
    if (length as i64) < 0 {
        return Err(EINVAL);
    }
    let file = open_file(ctx, fd)?;
    if !file.writable() {
        return Err(EINVAL);
    }
    file.landlock_allows(crate::sentry::landlock::ACCESS_FS_TRUNCATE)?;
    if length > super::read_write::file_size_limit(ctx)
        && file
            .file
            .inode()
            .is_some_and(|i| i.kind() == FileKind::Regular)
    {
        return Err(super::read_write::file_too_big(ctx));
    }
    file.file.truncate(length)?;
    on_file(&file, IN_MODIFY);
    Ok(0)
}

pub fn sys_utimensat(
    ctx: &mut SyscallContext,
    dirfd: i32,
    path: u64,
    times: UserPtr<[i64; 4]>,
    flags: u64,
) -> SysResult {
    const UTIME_NOW: i64 = (1 << 30) - 1;
    const UTIME_OMIT: i64 = (1 << 30) - 2;
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(EINVAL);
    }
    let updates: [Option<TimeUpdate>; 2] = if times.is_null() {
        [Some(TimeUpdate::Now), Some(TimeUpdate::Now)]
    } else {
        let raw: [i64; 4] = times.read(&mut ctx.task.mm())?;
        let mut out = [None, None];
        for (i, slot) in out.iter_mut().enumerate() {
            let (sec, nsec) = (raw[i * 2], raw[i * 2 + 1]);
            *slot = match nsec {
                UTIME_NOW => Some(TimeUpdate::Now),
                UTIME_OMIT => None,
                n if (0..1_000_000_000).contains(&n) => Some(TimeUpdate::Set(sec, n)),
                _ => return Err(EINVAL),
            };
        }
        out
    };
    set_times(ctx, dirfd, path, flags, updates)
}

/// The common end of utimensat, utimes, futimesat and utime.
fn set_times(
    ctx: &mut SyscallContext,
    dirfd: i32,
    path: u64,
    flags: u64,
    updates: [Option<TimeUpdate>; 2],
) -> SysResult {
    let at = if path == 0 {
        // futimens: the fd itself (Linux's do_utimes: with AT_FDCWD a
        // NULL path is a bad path, and the fd form takes no flags).
        if dirfd == AT_FDCWD {
            return Err(EFAULT);
        }
        if flags != 0 {
            return Err(EINVAL);
        }
        let file = ctx.task.fds().get(dirfd)?.clone();
        file.file.inode().ok_or(EBADF)?;
        super::path::NodeRef::File(file)
    } else {
        node_at(ctx, dirfd, path, flags)?
    };
    let node = at.inode()?;
    if updates.iter().all(Option::is_none) {
        return Ok(0);
    }
    if node.read_only() {
        return Err(EROFS);
    }
    // Setting given times is for the owner (or CAP_FOWNER); setting them
    // to now also for whoever may write the file.
    if !super::path::owns(ctx, &*node) {
        if updates
            .iter()
            .any(|u| matches!(u, Some(TimeUpdate::Set(..))))
        {
            return Err(EPERM);
        }
        super::path::may(ctx, &*node, MAY_WRITE)?;
    }
    node.set_times(updates[0], updates[1])?;
    at.notify(IN_ATTRIB);
    Ok(0)
}

/// utimes and futimesat: two `struct timeval`s (NULL: now).
fn timeval_updates(ctx: &mut SyscallContext, times: u64) -> Result<[Option<TimeUpdate>; 2], Errno> {
    if times == 0 {
        return Ok([Some(TimeUpdate::Now); 2]);
    }
    let raw: [i64; 4] = UserPtr::<[i64; 4]>::new(times).read(&mut ctx.task.mm())?;
    let mut out = [None; 2];
    for (i, slot) in out.iter_mut().enumerate() {
        let (sec, usec) = (raw[i * 2], raw[i * 2 + 1]);
        if !(0..1_000_000).contains(&usec) {
            return Err(EINVAL);
        }
        *slot = Some(TimeUpdate::Set(sec, usec * 1000));
    }
    Ok(out)
}

pub fn sys_utimes(ctx: &mut SyscallContext, path: u64, times: u64) -> SysResult {
    if path == 0 {
        return Err(EFAULT);
    }
    let updates = timeval_updates(ctx, times)?;
    set_times(ctx, AT_FDCWD, path, 0, updates)
}

pub fn sys_futimesat(ctx: &mut SyscallContext, dirfd: i32, path: u64, times: u64) -> SysResult {
    let updates = timeval_updates(ctx, times)?;
    set_times(ctx, dirfd, path, 0, updates)
}

/// utime: a `struct utimbuf` { actime, modtime } in seconds (NULL: now).
pub fn sys_utime(ctx: &mut SyscallContext, path: u64, times: UserPtr<[i64; 2]>) -> SysResult {
    if path == 0 {
        return Err(EFAULT);
    }
    let updates = if times.is_null() {
        [Some(TimeUpdate::Now); 2]
    } else {
        let [atime, mtime]: [i64; 2] = times.read(&mut ctx.task.mm())?;
        [
            Some(TimeUpdate::Set(atime, 0)),
            Some(TimeUpdate::Set(mtime, 0)),
        ]
    };
    set_times(ctx, AT_FDCWD, path, 0, updates)
}

/// file_getattr(dfd, path, attr, size, at_flags) and file_setattr: the
/// inode flags of a file as `struct file_attr` { fa_xflags, fa_extsize,
/// fa_nextents, fa_projid, fa_cowextsize } (24 bytes, versioned by size
/// as Linux's copy_struct_*_user). A NULL or empty path with AT_EMPTY_PATH
/// names `dfd` itself.
///
/// tmpfs keeps no inode flags (no immutable, append-only, nodump or
/// noatime files: FS_IOC_SETFLAGS is not implemented either), so a tmpfs
/// file reads all zeros and may only be set to all zeros; setting any
/// flag is EOPNOTSUPP, as Linux answers for a flag a filesystem lacks.
/// Other filesystems (host directories, /proc) have no such attributes
/// here: EOPNOTSUPP.
pub fn sys_file_getattr(
    ctx: &mut SyscallContext,
    dirfd: i32,
    path_addr: u64,
    attr_addr: u64,
    size: u64,
    at_flags: u32,
) -> SysResult {
    file_attr(ctx, dirfd, path_addr, attr_addr, size, at_flags, false)
}

pub fn sys_file_setattr(
    ctx: &mut SyscallContext,
    dirfd: i32,
    path_addr: u64,
    attr_addr: u64,
    size: u64,
    at_flags: u32,
) -> SysResult {
    file_attr(ctx, dirfd, path_addr, attr_addr, size, at_flags, true)
}

fn file_attr(
    ctx: &mut SyscallContext,
    dirfd: i32,
    path_addr: u64,
    attr_addr: u64,
    size: u64,
    at_flags: u32,
    set: bool,
) -> SysResult {
    const FILE_ATTR_SIZE_VER0: u64 = 24;
    const PAGE: u64 = 4096;
    // Every FS_XFLAG_* Linux defines (its FS_XFLAGS_MASK).
    const FS_XFLAGS_MASK: u64 = 0x1fffb;
    let at_flags = at_flags as u64;
    if at_flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(EINVAL);
    }
    if size > PAGE {
        return Err(E2BIG);
    }
    if size < FILE_ATTR_SIZE_VER0 {
        return Err(EINVAL);
    }
    let mut attr = [0u8; FILE_ATTR_SIZE_VER0 as usize];
    if set {
        let mut raw = alloc::vec![0u8; size as usize];
        ctx.task.mm().copy_from_user(attr_addr, &mut raw)?;
        if raw[attr.len()..].iter().any(|&b| b != 0) {
            return Err(E2BIG);
        }
        attr.copy_from_slice(&raw[..FILE_ATTR_SIZE_VER0 as usize]);
        let xflags = u64::from_le_bytes(attr[..8].try_into().expect("8 bytes"));
        if xflags & !FS_XFLAGS_MASK != 0 {
            return Err(EINVAL);
        }
    }
    // Linux's getname_maybe_null: with AT_EMPTY_PATH a NULL path is the
    // empty one.
    let at = if path_addr == 0 && at_flags & AT_EMPTY_PATH != 0 {
        if dirfd == AT_FDCWD {
            super::path::NodeRef::Path(ctx.task.cwd())
        } else {
            super::path::NodeRef::File(ctx.task.fds().get(dirfd)?.clone())
        }
    } else {
        node_at(ctx, dirfd, path_addr, at_flags)?
    };
    if let super::path::NodeRef::File(file) = &at {
        if *file.flags.lock() & O_PATH != 0 {
            return Err(EBADF);
        }
    }
    let node = at.inode().map_err(|_| EOPNOTSUPP)?;
    let keeps_flags = node.as_any().is::<crate::sentry::vfs::tmpfs::TmpfsNode>();
    if !set {
        if !keeps_flags {
            return Err(EOPNOTSUPP);
        }
        // All zeros: no flags, no extent sizes, project 0.
        let out = alloc::vec![0u8; size as usize];
        ctx.task.mm().copy_to_user(attr_addr, &out)?;
        return Ok(0);
    }
    if node.read_only() {
        return Err(EROFS);
    }
    if !super::path::owns(ctx, &*node) {
        return Err(EPERM);
    }
    if !keeps_flags || attr.iter().any(|&b| b != 0) {
        return Err(EOPNOTSUPP);
    }
    // Setting "no flags" on a file that has none: nothing to change.
    Ok(0)
}
