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
use crate::sentry::task::Task;
use crate::sentry::vfs::perm::{self, MAY_EXEC, MAY_WRITE};
use crate::sentry::vfs::{
    accessor_for, owned, FileKind, Inode, ParentAndName, PathStack, PATH_MAX,
};

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
pub(super) fn read_path_or_empty(ctx: &mut SyscallContext, addr: u64) -> Result<Vec<u8>, Errno> {
    ctx.task.mm().read_cstring(addr, PATH_MAX - 1)
}

/// Where a relative path starts: the cwd, or the directory `dirfd`.
pub(super) fn start_dir(
    ctx: &mut SyscallContext,
    dirfd: i32,
    path: &[u8],
) -> Result<PathStack, Errno> {
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
        .resolve_in(&root, &start, path, follow, &ctx.task.creds.accessor())
}

/// Where openat2 resolves (dirfd, path) from and within: (root, start).
/// RESOLVE_BENEATH and RESOLVE_IN_ROOT scope the walk to the starting
/// directory, which is then the root as well, even for absolute paths.
pub(super) fn scope_at(
    ctx: &mut SyscallContext,
    dirfd: i32,
    path: &[u8],
    resolve: u64,
) -> Result<(PathStack, PathStack), Errno> {
    use crate::sentry::vfs::{RESOLVE_BENEATH, RESOLVE_IN_ROOT};
    if resolve & (RESOLVE_BENEATH | RESOLVE_IN_ROOT) != 0 {
        let start = start_dir(ctx, dirfd, b".")?;
        return Ok((start.clone(), start));
    }
    Ok((ctx.task.root_dir(), start_dir(ctx, dirfd, path)?))
}

/// [`lookup_at`] with openat2's RESOLVE_* flags.
pub(super) fn lookup_with(
    ctx: &mut SyscallContext,
    dirfd: i32,
    path: &[u8],
    follow: bool,
    resolve: u64,
) -> Result<PathStack, Errno> {
    let (root, start) = scope_at(ctx, dirfd, path, resolve)?;
    ctx.task.namespace.clone().resolve_with(
        &root,
        &start,
        path,
        follow,
        &ctx.task.creds.accessor(),
        resolve,
    )
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
        .resolve_parent_in(&root, &start, path, &ctx.task.creds.accessor())
}

/// Checks that the caller may access `node` as `mask` (MAY_READ,
/// MAY_WRITE, MAY_EXEC) says: EACCES if not. Root's reads and writes pass
/// without reading the node's attributes.
pub(crate) fn may(ctx: &SyscallContext, node: &dyn Inode, mask: u32) -> Result<(), Errno> {
    may_as(&ctx.task, node, mask)
}

/// [`may`] for `task` (the sentry acting for it outside a syscall: a
/// core dump).
pub(crate) fn may_as(task: &Task, node: &dyn Inode, mask: u32) -> Result<(), Errno> {
    let who = accessor_for(&task.creds.accessor(), node);
    // Root, and anyone on a host directory (accessor_for), reads and
    // writes without the node's attributes being fetched.
    if mask & MAY_EXEC == 0 && who.has(perm::CAP_DAC_OVERRIDE) {
        return Ok(());
    }
    who.check(owned(node), mask)
}

/// Whether the caller owns `node` (or holds CAP_FOWNER).
pub(crate) fn owns(ctx: &SyscallContext, node: &dyn Inode) -> bool {
    let who = accessor_for(&ctx.task.creds.accessor(), node);
    who.has(perm::CAP_FOWNER) || who.owns(owned(node))
}

/// Linux's may_delete for `node` named in `dir`: write and search
/// permission on the directory (EACCES), then the sticky-bit rule (EPERM).
pub(crate) fn may_delete(
    ctx: &SyscallContext,
    dir: &dyn Inode,
    node: &dyn Inode,
) -> Result<(), Errno> {
    may_delete_as(&ctx.task, dir, node)
}

/// [`may_delete`] for `task`.
pub(crate) fn may_delete_as(task: &Task, dir: &dyn Inode, node: &dyn Inode) -> Result<(), Errno> {
    may_as(task, dir, MAY_WRITE | MAY_EXEC)?;
    let who = accessor_for(&task.creds.accessor(), dir);
    if who.has(perm::CAP_FOWNER) {
        return Ok(());
    }
    who.check_sticky(owned(dir), owned(node))
}

/// Gives a node the caller just created in `dir` its owner: the
/// filesystem ids (or a set-group-ID directory's group, and S_ISGID for a
/// subdirectory). Filesystems create nodes as root:root, so only other
/// owners need a change.
pub(crate) fn own_new_node(ctx: &SyscallContext, dir: &dyn Inode, node: &dyn Inode) {
    own_new_node_as(&ctx.task, dir, node)
}

/// [`own_new_node`] for `task`.
pub(crate) fn own_new_node_as(task: &Task, dir: &dyn Inode, node: &dyn Inode) {
    // Host files belong to the VMM's host user (accessor_for).
    if node.host_backed() {
        return;
    }
    let who = task.creds.accessor();
    let dir_stat = dir.stat();
    if who.uid == 0 && who.gid == 0 && dir_stat.mode & perm::S_ISGID == 0 {
        return;
    }
    let stat = node.stat();
    let (uid, gid, mode) = who.new_owner(owned(dir), stat.mode);
    // A filesystem that cannot change owners (the synthetic ones) keeps its
    // own; the node exists either way, as on Linux where the owner is set
    // in the same step.
    if (uid, gid) != (stat.uid, stat.gid) {
        let _ = node.set_owner(Some(uid), Some(gid));
    }
    if mode != stat.mode && stat.mode & S_IFMT != S_IFLNK {
        let _ = node.set_mode(mode & 0o7777);
    }
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

/// Landlock's check of `access` on `stack` for the running task (EACCES
/// when its domain denies it).
pub(crate) fn landlock(ctx: &SyscallContext, stack: &PathStack, access: u64) -> Result<(), Errno> {
    match ctx.task.creds.landlock.as_deref() {
        Some(domain) => domain.check_path(stack, access),
        None => Ok(()),
    }
}

/// Where a new entry (directory, symlink, hard link) named by (dirfd, path)
/// goes: its directory and name. EEXIST when the name is taken (Linux checks
/// that before EROFS), EROFS on a read-only filesystem; then Landlock's
/// `make` right on the directory (0: the caller checks), then permission.
pub(crate) fn new_entry_at(
    ctx: &mut SyscallContext,
    dirfd: i32,
    path: &[u8],
    make: u64,
) -> Result<(Arc<dyn Inode>, Vec<u8>), Errno> {
    let (parent, name) = new_entry_stack_at(ctx, dirfd, path, make)?;
    Ok((parent.node().clone(), name))
}

/// `new_entry_at` with the directory's whole path.
pub(crate) fn new_entry_stack_at(
    ctx: &mut SyscallContext,
    dirfd: i32,
    path: &[u8],
    make: u64,
) -> Result<(PathStack, Vec<u8>), Errno> {
    let pn = parent_at(ctx, dirfd, path)?;
    check_name(&pn.name)?;
    let dir = pn.parent.node().clone();
    if dir.lookup(&pn.name).is_ok() {
        return Err(EEXIST);
    }
    if dir.read_only() {
        return Err(EROFS);
    }
    if make != 0 {
        landlock(ctx, &pn.parent, make)?;
    }
    may(ctx, &*dir, MAY_WRITE | MAY_EXEC)?;
    Ok((pn.parent, pn.name))
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
    let location: Option<PathStack>;
    let (node, resolved) = if path.is_empty() {
        if flags & AT_EMPTY_PATH == 0 {
            return Err(ENOENT);
        }
        let file = ctx.task.fds().get(dirfd)?.clone();
        let shown = crate::sentry::vfs::procfs::describe_open_file(&file);
        location = file.location.clone();
        (file.file.inode().ok_or(EACCES)?, shown)
    } else {
        if flags & AT_SYMLINK_NOFOLLOW != 0 {
            let stack = lookup_at(ctx, dirfd, &path, false)?;
            if stack.node().kind() == FileKind::Symlink {
                return Err(ELOOP);
            }
        }
        let stack = lookup_at(ctx, dirfd, &path, true)?;
        let shown = stack.path();
        let node = stack.node().clone();
        location = Some(stack);
        (node, shown)
    };
    match node.kind() {
        FileKind::Regular => {
            may(ctx, &*node, MAY_EXEC)?;
            // Opened for exec: read and execute (Linux's open_exec).
            if let Some(stack) = &location {
                use crate::sentry::landlock::{ACCESS_FS_EXECUTE, ACCESS_FS_READ_FILE};
                landlock(ctx, stack, ACCESS_FS_EXECUTE | ACCESS_FS_READ_FILE)?;
            }
            Ok(ExecTarget {
                inode: node,
                path,
                resolved,
            })
        }
        _ => Err(EACCES),
    }
}
