//! Names in directories (Linux's fs/namei.c): mkdir, mknod, link,
//! symlink, readlink, unlink/rmdir, rename.

use super::path::{
    may, may_delete, new_entry_at, new_entry_stack_at, node_at, own_new_node, parent_at, read_path,
    NodeRef, AT_EMPTY_PATH, AT_FDCWD, AT_REMOVEDIR, AT_SYMLINK_FOLLOW, AT_SYMLINK_NOFOLLOW,
};
use super::SyscallContext;
use crate::sentry::errno::*;
use crate::sentry::landlock as ll;
use crate::sentry::stat::*;
use crate::sentry::vfs::perm::{MAY_EXEC, MAY_WRITE};
use crate::sentry::vfs::{inotify, FileKind, Inode, NewNode};

fn readlink_at(ctx: &mut SyscallContext, dirfd: i32, path: u64, buf: u64, size: u64) -> SysResult {
    if (size as i64) <= 0 {
        return Err(EINVAL);
    }
    let node = node_at(ctx, dirfd, path, AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)?.inode()?;
    let target = node.readlink()?;
    let n = target.len().min(size as usize);
    ctx.task.mm().copy_to_user(buf, &target[..n])?;
    Ok(n as u64)
}

pub fn sys_readlink(ctx: &mut SyscallContext, path: u64, buf: u64, bufsiz: u64) -> SysResult {
    read_path(ctx, path)?;
    readlink_at(ctx, AT_FDCWD, path, buf, bufsiz)
}

pub fn sys_readlinkat(
    ctx: &mut SyscallContext,
    dirfd: i32,
    path: u64,
    buf: u64,
    bufsiz: u64,
) -> SysResult {
    readlink_at(ctx, dirfd, path, buf, bufsiz)
}

fn symlink_at(ctx: &mut SyscallContext, target: u64, dirfd: i32, path: u64) -> SysResult {
    let target = read_path(ctx, target)?;
    let path = read_path(ctx, path)?;
    let (dir, name) = new_entry_at(ctx, dirfd, &path, ll::ACCESS_FS_MAKE_SYM)?;
    let node = dir.create(&name, NewNode::Symlink { target: &target })?;
    own_new_node(ctx, &*dir, &*node);
    inotify::on_child(&*dir, &name, &*node, inotify::IN_CREATE, 0);
    Ok(0)
}

pub fn sys_symlink(ctx: &mut SyscallContext, target: u64, linkpath: u64) -> SysResult {
    symlink_at(ctx, target, AT_FDCWD, linkpath)
}

pub fn sys_symlinkat(
    ctx: &mut SyscallContext,
    target: u64,
    newdirfd: i32,
    linkpath: u64,
) -> SysResult {
    symlink_at(ctx, target, newdirfd, linkpath)
}

fn link_at(
    ctx: &mut SyscallContext,
    old_dirfd: i32,
    old: u64,
    new_dirfd: i32,
    new: u64,
    flags: u64,
) -> SysResult {
    if flags & !(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(EINVAL);
    }
    let follow = if flags & AT_SYMLINK_FOLLOW != 0 {
        0
    } else {
        AT_SYMLINK_NOFOLLOW
    };
    let at = node_at(ctx, old_dirfd, old, follow | (flags & AT_EMPTY_PATH))?;
    let target = at.inode()?;
    if target.kind() == FileKind::Directory {
        return Err(EPERM);
    }
    crate::sentry::vfs::accessor_for(&ctx.task.creds.accessor(), &*target)
        .may_link(crate::sentry::vfs::owned(&*target))?;
    let path = read_path(ctx, new)?;
    let (new_parent, name) = new_entry_stack_at(ctx, new_dirfd, &path, 0)?;
    // Landlock's REFER rules for the new name (Linux's hook_path_link).
    if let Some(domain) = ctx.task.creds.landlock.as_deref() {
        let old_stack = match &at {
            NodeRef::Path(stack) => Some(stack.clone()),
            NodeRef::File(file) => file.location.clone(),
        };
        if let Some(mut old_parent) = old_stack.filter(|s| s.0.len() > 1) {
            old_parent.0.pop();
            domain.check_refer(&old_parent, &target, &new_parent, None, false, false)?;
        }
    }
    let dir = new_parent.node().clone();
    dir.link(&name, &target)?;
    // Its link count changed, and the directory has a new name.
    inotify::on_node(&*target, inotify::IN_ATTRIB);
    inotify::on_child(&*dir, &name, &*target, inotify::IN_CREATE, 0);
    Ok(0)
}

pub fn sys_link(ctx: &mut SyscallContext, oldpath: u64, newpath: u64) -> SysResult {
    link_at(ctx, AT_FDCWD, oldpath, AT_FDCWD, newpath, 0)
}

pub fn sys_linkat(
    ctx: &mut SyscallContext,
    olddirfd: i32,
    oldpath: u64,
    newdirfd: i32,
    newpath: u64,
    flags: u64,
) -> SysResult {
    link_at(ctx, olddirfd, oldpath, newdirfd, newpath, flags)
}

fn mkdir_at(ctx: &mut SyscallContext, dirfd: i32, path: u64, mode: u64) -> SysResult {
    let path = read_path(ctx, path)?;
    let (dir, name) = new_entry_at(ctx, dirfd, &path, ll::ACCESS_FS_MAKE_DIR)?;
    let mode = mode as u32 & 0o7777 & !ctx.task.umask;
    let node = dir.create(&name, NewNode::Directory { mode })?;
    own_new_node(ctx, &*dir, &*node);
    inotify::on_child(&*dir, &name, &*node, inotify::IN_CREATE, 0);
    Ok(0)
}

/// The device number of mknod's `dev` argument (Linux's new_decode_dev:
/// 12 bits of major, 20 of minor) in `st_rdev`'s encoding.
fn device_number(dev: u64) -> u64 {
    let dev = dev as u32 as u64;
    let major = (dev >> 8) & 0xfff;
    let minor = (dev & 0xff) | ((dev >> 12) & 0xfff00);
    makedev(major, minor)
}

fn mknod_at(ctx: &mut SyscallContext, dirfd: i32, path: u64, mode: u64, dev: u64) -> SysResult {
    let path = read_path(ctx, path)?;
    let kind = mode as u32 & S_IFMT;
    if !matches!(kind, 0 | S_IFREG | S_IFCHR | S_IFBLK | S_IFIFO | S_IFSOCK) {
        return Err(EINVAL);
    }
    let make = ll::mode_access(FileKind::from_mode(if kind == 0 { S_IFREG } else { kind }));
    let (dir, name) = new_entry_at(ctx, dirfd, &path, make)?;
    let perm = mode as u32 & 0o7777 & !ctx.task.umask;
    match kind {
        0 | S_IFREG => {
            let node = dir.create(&name, NewNode::File { mode: perm })?;
            own_new_node(ctx, &*dir, &*node);
            inotify::on_child(&*dir, &name, &*node, inotify::IN_CREATE, 0);
            Ok(0)
        }
        S_IFIFO => {
            let node = dir.create(&name, NewNode::Fifo { mode: perm })?;
            own_new_node(ctx, &*dir, &*node);
            inotify::on_child(&*dir, &name, &*node, inotify::IN_CREATE, 0);
            Ok(0)
        }
        // Device nodes need CAP_MKNOD; they live in the sandbox's tmpfs
        // (never on the host) and open as the sandbox's own devices.
        S_IFCHR | S_IFBLK => {
            const CAP_MKNOD: u32 = 27;
            if !ctx.task.creds.has_cap(CAP_MKNOD) {
                return Err(EPERM);
            }
            let node = dir.create(
                &name,
                NewNode::Device {
                    mode: perm,
                    block: kind == S_IFBLK,
                    rdev: device_number(dev),
                },
            )?;
            own_new_node(ctx, &*dir, &*node);
            inotify::on_child(&*dir, &name, &*node, inotify::IN_CREATE, 0);
            Ok(0)
        }
        // A socket node with no socket bound: connect gives ECONNREFUSED.
        S_IFSOCK => {
            let bound: alloc::sync::Weak<dyn core::any::Any + Send + Sync> =
                alloc::sync::Weak::<()>::new();
            let node = dir.create(&name, NewNode::Socket { mode: perm, bound })?;
            own_new_node(ctx, &*dir, &*node);
            inotify::on_child(&*dir, &name, &*node, inotify::IN_CREATE, 0);
            Ok(0)
        }
        _ => Err(EINVAL),
    }
}

pub fn sys_mknod(ctx: &mut SyscallContext, path: u64, mode: u64, dev: u64) -> SysResult {
    mknod_at(ctx, AT_FDCWD, path, mode, dev)
}

pub fn sys_mknodat(
    ctx: &mut SyscallContext,
    dirfd: i32,
    path: u64,
    mode: u64,
    dev: u64,
) -> SysResult {
    mknod_at(ctx, dirfd, path, mode, dev)
}

pub fn sys_mkdir(ctx: &mut SyscallContext, path: u64, mode: u64) -> SysResult {
    mkdir_at(ctx, AT_FDCWD, path, mode)
}

pub fn sys_mkdirat(ctx: &mut SyscallContext, dirfd: i32, path: u64, mode: u64) -> SysResult {
    mkdir_at(ctx, dirfd, path, mode)
}

fn unlink_at(ctx: &mut SyscallContext, dirfd: i32, path: u64, directory: bool) -> SysResult {
    let path = read_path(ctx, path)?;
    let pn = parent_at(ctx, dirfd, &path)?;
    if directory {
        if pn.name == b"." {
            return Err(EINVAL);
        }
        if pn.name == b".." {
            return Err(ENOTEMPTY);
        }
    } else if pn.name == b"." || pn.name == b".." {
        // unlink (not rmdir) of "." or "..": a directory, as Linux says
        // before looking any further.
        return Err(EISDIR);
    } else if pn.trailing_slash {
        // "unlink file/" resolves the name as a directory.
        let node = pn.parent.node().lookup(&pn.name)?;
        return Err(if node.kind() == FileKind::Directory {
            EISDIR
        } else {
            ENOTDIR
        });
    }
    let dir = pn.parent.node().clone();
    let node = dir.lookup(&pn.name)?;
    if dir.read_only() {
        return Err(EROFS);
    }
    // Linux's hooks go by the call (rmdir or unlink), before the type
    // checks.
    let remove = if directory {
        ll::ACCESS_FS_REMOVE_DIR
    } else {
        ll::ACCESS_FS_REMOVE_FILE
    };
    super::path::landlock(ctx, &pn.parent, remove)?;
    may_delete(ctx, &*dir, &*node)?;
    // (A bind-mounted file is busy too.)
    if ctx.task.namespace.is_mount_point(&node) {
        return Err(EBUSY);
    }
    dir.unlink(&pn.name, directory)?;
    notify_removed(&*dir, &pn.name, &*node);
    Ok(0)
}

/// inotify after `name` in `dir` went, in Linux's order: a file's link
/// count changed (IN_ATTRIB), the inode itself is gone once nothing links
/// to it (IN_DELETE_SELF, its watches end; Linux waits for the last close
/// of a file still open, here it is at once), and the directory lost a
/// name (IN_DELETE).
fn notify_removed(dir: &dyn Inode, name: &[u8], node: &dyn Inode) {
    if !inotify::watching() {
        return;
    }
    let directory = node.kind() == FileKind::Directory;
    if !directory {
        inotify::on_node(node, inotify::IN_ATTRIB);
    }
    if directory || node.stat().nlink == 0 {
        inotify::on_removed(node);
    }
    inotify::on_child(dir, name, node, inotify::IN_DELETE, 0);
}

pub fn sys_unlink(ctx: &mut SyscallContext, path: u64) -> SysResult {
    unlink_at(ctx, AT_FDCWD, path, false)
}

pub fn sys_rmdir(ctx: &mut SyscallContext, path: u64) -> SysResult {
    unlink_at(ctx, AT_FDCWD, path, true)
}

pub fn sys_unlinkat(ctx: &mut SyscallContext, dirfd: i32, path: u64, flags: u64) -> SysResult {
    if flags & !AT_REMOVEDIR != 0 {
        return Err(EINVAL);
    }
    unlink_at(ctx, dirfd, path, flags & AT_REMOVEDIR != 0)
}

fn rename_at(
    ctx: &mut SyscallContext,
    old_dirfd: i32,
    old: u64,
    new_dirfd: i32,
    new: u64,
    flags: u64,
) -> SysResult {
    const RENAME_NOREPLACE: u64 = 1;
    const RENAME_EXCHANGE: u64 = 2;
    const RENAME_WHITEOUT: u64 = 4;
    // Linux's do_renameat2 checks the flags before any name: unknown ones,
    // and an exchange that would also refuse to replace or leave a
    // whiteout, are EINVAL.
    let flags = flags as u32 as u64;
    if flags & !(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT) != 0
        || (flags & RENAME_EXCHANGE != 0 && flags & (RENAME_NOREPLACE | RENAME_WHITEOUT) != 0)
    {
        return Err(EINVAL);
    }
    let old_path = read_path(ctx, old)?;
    let new_path = read_path(ctx, new)?;
    let from = parent_at(ctx, old_dirfd, &old_path)?;
    let to = parent_at(ctx, new_dirfd, &new_path)?;
    for name in [&from.name, &to.name] {
        if name.as_slice() == b"." || name.as_slice() == b".." {
            return Err(EBUSY);
        }
    }
    let moving = from.parent.node().lookup(&from.name)?;
    if (from.trailing_slash || to.trailing_slash) && moving.kind() != FileKind::Directory {
        return Err(ENOTDIR);
    }
    if from.parent.node().read_only() || to.parent.node().read_only() {
        return Err(EROFS);
    }
    // A directory cannot move beneath itself.
    if moving.kind() == FileKind::Directory
        && to.parent.0.iter().any(|(_, n)| n.id() == moving.id())
    {
        return Err(EINVAL);
    }
    if from.parent.node().id().0 != to.parent.node().id().0 {
        return Err(EXDEV);
    }
    let target_dir = to.parent.node().clone();
    if let Some(domain) = ctx.task.creds.landlock.as_deref() {
        let replaced = target_dir.lookup(&to.name).ok();
        domain.check_refer(
            &from.parent,
            &moving,
            &to.parent,
            replaced.as_ref(),
            true,
            flags & RENAME_EXCHANGE != 0,
        )?;
    }
    // Linux's vfs_rename: the old name may be deleted, the new one created
    // (or the entry it replaces deleted), and a directory that changes
    // parent must be writable itself (its ".." changes).
    may_delete(ctx, &**from.parent.node(), &*moving)?;
    match target_dir.lookup(&to.name) {
        Ok(replaced) => may_delete(ctx, &*target_dir, &*replaced)?,
        Err(_) => may(ctx, &*target_dir, MAY_WRITE | MAY_EXEC)?,
    }
    if moving.kind() == FileKind::Directory && from.parent.node().id() != target_dir.id() {
        may(ctx, &*moving, MAY_WRITE)?;
    }
    // What the new name replaces, for inotify.
    let replaced = if inotify::watching() {
        target_dir.lookup(&to.name).ok()
    } else {
        None
    };
    from.parent
        .node()
        .rename(&from.name, &target_dir, &to.name, flags as u32)?;
    if flags & RENAME_WHITEOUT != 0 {
        // The whiteout left at the old name is the caller's new node.
        // (None when the names were links to one file: nothing moved.)
        if let Ok(whiteout) = from.parent.node().lookup(&from.name) {
            if whiteout.id() != moving.id() {
                own_new_node(ctx, &**from.parent.node(), &*whiteout);
            }
        }
    }
    if inotify::watching() {
        let cookie = inotify::new_cookie();
        let from_dir = from.parent.node();
        inotify::on_child(
            &**from_dir,
            &from.name,
            &*moving,
            inotify::IN_MOVED_FROM,
            cookie,
        );
        inotify::on_child(
            &*target_dir,
            &to.name,
            &*moving,
            inotify::IN_MOVED_TO,
            cookie,
        );
        inotify::on_node(&*moving, inotify::IN_MOVE_SELF);
        inotify::on_rename(&**from_dir, &*target_dir);
        match replaced {
            Some(other) if flags & RENAME_EXCHANGE != 0 => {
                let cookie = inotify::new_cookie();
                inotify::on_child(
                    &*target_dir,
                    &to.name,
                    &*other,
                    inotify::IN_MOVED_FROM,
                    cookie,
                );
                inotify::on_child(
                    &**from_dir,
                    &from.name,
                    &*other,
                    inotify::IN_MOVED_TO,
                    cookie,
                );
                inotify::on_node(&*other, inotify::IN_MOVE_SELF);
            }
            Some(other)
                if other.id() != moving.id()
                    && (other.kind() == FileKind::Directory || other.stat().nlink == 0) =>
            {
                inotify::on_removed(&*other);
            }
            _ => {}
        }
    }
    Ok(0)
}

pub fn sys_rename(ctx: &mut SyscallContext, oldpath: u64, newpath: u64) -> SysResult {
    rename_at(ctx, AT_FDCWD, oldpath, AT_FDCWD, newpath, 0)
}

pub fn sys_renameat(
    ctx: &mut SyscallContext,
    olddirfd: i32,
    oldpath: u64,
    newdirfd: i32,
    newpath: u64,
) -> SysResult {
    rename_at(ctx, olddirfd, oldpath, newdirfd, newpath, 0)
}

pub fn sys_renameat2(
    ctx: &mut SyscallContext,
    olddirfd: i32,
    oldpath: u64,
    newdirfd: i32,
    newpath: u64,
    flags: u64,
) -> SysResult {
    rename_at(ctx, olddirfd, oldpath, newdirfd, newpath, flags)
}
