//! Path arguments of the file syscalls: reading them from user memory,
//! resolving them from a directory descriptor by the *at conventions
//! (AT_FDCWD, AT_EMPTY_PATH, AT_SYMLINK_NOFOLLOW), where a new entry goes,
//! and the file execve runs. The calls themselves are in their family's
//! file: open.rs, stat.rs, namei.rs, dir.rs, attr.rs, xattr.rs.

use alloc::sync::Arc;
use alloc::vec::Vec;

use super::SyscallContext;
use crate::sentry::errno::*;
use crate::sentry::fd::*;
use crate::sentry::stat::*;
use crate::sentry::vfs::{FileKind, Inode, ParentAndName, PathStack, PATH_MAX};

pub(super) const AT_FDCWD: i32 = -100;

/// AT_FDCWD for callers outside this file.
pub const AT_FDCWD_ARG: i32 = AT_FDCWD;

pub(super) const AT_SYMLINK_NOFOLLOW: u64 = 0x100;

pub(super) const AT_REMOVEDIR: u64 = 0x200;

pub(super) const AT_EACCESS: u64 = 0x200;

pub(super) const AT_SYMLINK_FOLLOW: u64 = 0x400;

pub(super) const AT_NO_AUTOMOUNT: u64 = 0x800;

pub(super) const AT_EMPTY_PATH: u64 = 0x1000;

pub(super) const AT_STATX_SYNC_TYPE: u64 = 0x6000;

/// Reads a path argument (ENOENT when empty, ENAMETOOLONG when too long).
pub(super) fn read_path(ctx: &mut SyscallContext, addr: u64) -> Result<Vec<u8>, Errno> {
    let path = ctx.task.mm().read_cstring(addr, PATH_MAX - 1)?;
    if path.is_empty() {
        return Err(ENOENT);
    }
    Ok(path)
}

/// Reads a path that may be empty (AT_EMPTY_PATH).
fn read_path_or_empty(ctx: &mut SyscallContext, addr: u64) -> Result<Vec<u8>, Errno> {
    ctx.task.mm().read_cstring(addr, PATH_MAX - 1)
}

/// Where a relative path starts: the cwd, or the directory `dirfd`.
fn start_dir(ctx: &mut SyscallContext, dirfd: i32, path: &[u8]) -> Result<PathStack, Errno> {
    if path.first() == Some(&b'/') {
        return Ok(ctx.task.root_dir());
    }
    if dirfd == AT_FDCWD {
        return Ok(ctx.task.cwd());
    }
    let file = ctx.task.fds().get(dirfd)?.clone();
    match &file.location {
        Some(stack) if stack.node().kind() == FileKind::Directory => Ok(stack.clone()),
        _ => Err(ENOTDIR),
    }
}

pub(crate) fn lookup_at(
    ctx: &mut SyscallContext,
    dirfd: i32,
    path: &[u8],
    follow: bool,
) -> Result<PathStack, Errno> {
    let start = start_dir(ctx, dirfd, path)?;
    let root = ctx.task.root_dir();
    ctx.task
        .namespace
        .clone()
        .resolve_in(&root, &start, path, follow)
}

pub(super) fn parent_at(
    ctx: &mut SyscallContext,
    dirfd: i32,
    path: &[u8],
) -> Result<ParentAndName, Errno> {
    let start = start_dir(ctx, dirfd, path)?;
    let root = ctx.task.root_dir();
    ctx.task
        .namespace
        .clone()
        .resolve_parent_in(&root, &start, path)
}

/// The node named by (dirfd, path, flags), with AT_EMPTY_PATH support.
pub(super) fn node_at(
    ctx: &mut SyscallContext,
    dirfd: i32,
    path_addr: u64,
    flags: u64,
) -> Result<NodeRef, Errno> {
    let path = read_path_or_empty(ctx, path_addr)?;
    if path.is_empty() {
        if flags & AT_EMPTY_PATH == 0 {
            return Err(ENOENT);
        }
        if dirfd == AT_FDCWD {
            return Ok(NodeRef::Path(ctx.task.cwd()));
        }
        let file = ctx.task.fds().get(dirfd)?.clone();
        return Ok(NodeRef::File(file));
    }
    let follow = flags & AT_SYMLINK_NOFOLLOW == 0;
    Ok(NodeRef::Path(lookup_at(ctx, dirfd, &path, follow)?))
}

/// A node reached by path, or an open file (which may have no inode).
pub(super) enum NodeRef {
    Path(PathStack),
    File(Arc<OpenFile>),
}

impl NodeRef {
    pub(super) fn stat(&self) -> Stat {
        match self {
            NodeRef::Path(stack) => stack.node().stat(),
            NodeRef::File(file) => file.file.stat(),
        }
    }

    pub(super) fn inode(&self) -> Result<Arc<dyn Inode>, Errno> {
        match self {
            NodeRef::Path(stack) => Ok(stack.node().clone()),
            NodeRef::File(file) => file.file.inode().ok_or(EINVAL),
        }
    }

    /// Tells inotify watchers that `mask` happened to it.
    pub(super) fn notify(&self, mask: u32) {
        match self {
            NodeRef::Path(stack) => crate::sentry::vfs::inotify::on_path(stack, mask),
            NodeRef::File(file) => crate::sentry::vfs::inotify::on_file(file, mask),
        }
    }
}

fn check_name(name: &[u8]) -> Result<(), Errno> {
    if name.is_empty() || name == b"." || name == b".." {
        return Err(EEXIST);
    }
    Ok(())
}

/// Where a new entry (directory, symlink, hard link) named by (dirfd, path)
/// goes: its directory and name. EEXIST when the name is taken (Linux checks
/// that before EROFS), EROFS on a read-only filesystem.
pub(crate) fn new_entry_at(
    ctx: &mut SyscallContext,
    dirfd: i32,
    path: &[u8],
) -> Result<(Arc<dyn Inode>, Vec<u8>), Errno> {
    let pn = parent_at(ctx, dirfd, path)?;
    check_name(&pn.name)?;
    let dir = pn.parent.node().clone();
    if dir.lookup(&pn.name).is_ok() {
        return Err(EEXIST);
    }
    if dir.read_only() {
        return Err(EROFS);
    }
    Ok((dir, pn.name))
}

/// What execve runs: the file, the path as given, and the resolved path
/// (what /proc/<pid>/exe shows).
pub struct ExecTarget {
    pub inode: Arc<dyn Inode>,
    pub path: Vec<u8>,
    pub resolved: Vec<u8>,
}

/// The file execve runs: (dirfd, path) resolved with symlinks followed
/// (AT_SYMLINK_NOFOLLOW: ELOOP on a symlink), which must be a regular file.
pub fn exec_target(
    ctx: &mut SyscallContext,
    dirfd: i32,
    path_addr: u64,
    flags: u64,
) -> Result<ExecTarget, Errno> {
    let path = read_path_or_empty(ctx, path_addr)?;
    let (node, resolved) = if path.is_empty() {
        if flags & AT_EMPTY_PATH == 0 {
            return Err(ENOENT);
        }
        let file = ctx.task.fds().get(dirfd)?.clone();
        let shown = crate::sentry::vfs::procfs::describe_open_file(&file);
        (file.file.inode().ok_or(EACCES)?, shown)
    } else {
        if flags & AT_SYMLINK_NOFOLLOW != 0 {
            let stack = lookup_at(ctx, dirfd, &path, false)?;
            if stack.node().kind() == FileKind::Symlink {
                return Err(ELOOP);
            }
        }
        let stack = lookup_at(ctx, dirfd, &path, true)?;
        (stack.node().clone(), stack.path())
    };
    match node.kind() {
        FileKind::Regular => Ok(ExecTarget {
            inode: node,
            path,
            resolved,
        }),
        _ => Err(EACCES),
    }
}
