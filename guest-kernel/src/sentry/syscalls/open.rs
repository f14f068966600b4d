//! open, openat, openat2 and creat: resolving or creating the file, the open-time
//! flags (O_CREAT/O_EXCL/O_TRUNC/O_DIRECTORY/O_NOFOLLOW/O_PATH), and a
//! FIFO's wait for its peer.

use alloc::sync::Arc;
use alloc::vec::Vec;

use super::path::{lookup_with, may, own_new_node, owns, read_path, scope_at, AT_FDCWD};
use super::SyscallContext;
use crate::sentry::errno::*;
use crate::sentry::fd::*;
use crate::sentry::landlock as ll;
use crate::sentry::stat::*;
use crate::sentry::vfs::perm::{MAY_EXEC, MAY_READ, MAY_WRITE};
use crate::sentry::vfs::{inotify, FileKind, Inode, NewNode, ParentAndName, PathStack};

fn open_at(
    ctx: &mut SyscallContext,
    dirfd: i32,
    path_addr: u64,
    flags: u64,
    mode: u64,
) -> SysResult {
    open_how(ctx, dirfd, path_addr, flags, mode, 0)
}

/// open with openat2's `resolve` restrictions (0 for open/openat).
fn open_how(
    ctx: &mut SyscallContext,
    dirfd: i32,
    path_addr: u64,
    flags: u64,
    mode: u64,
    resolve: u64,
) -> SysResult {
    let flags = crate::sentry::fd::open_flags_from_user(flags as u32);
    // Linux's build_open_flags: O_TMPFILE comes with O_DIRECTORY, never
    // O_CREAT, and a file opened for writing (O_PATH drops it).
    let tmpfile = flags & O_PATH == 0 && flags & (O_TMPFILE & !O_DIRECTORY) != 0;
    if tmpfile && (flags & (O_TMPFILE | O_CREAT) != O_TMPFILE || flags & O_ACCMODE == O_RDONLY) {
        return Err(EINVAL);
    }
    let path = read_path(ctx, path_addr)?;
    let accmode = flags & O_ACCMODE;
    if accmode == 3 {
        return Err(EINVAL);
    }
    if tmpfile {
        return open_tmpfile(ctx, dirfd, &path, flags, mode, resolve);
    }
    let namespace = ctx.task.namespace.clone();
    let follow = flags & O_NOFOLLOW == 0;

    // Made by this call (O_CREAT): not truncated, whatever O_TRUNC says.
    let mut created = false;
    let stack = if flags & O_CREAT != 0 && flags & O_PATH == 0 {
        let (root, start) = scope_at(ctx, dirfd, &path, resolve)?;
        let who = ctx.task.creds.accessor();
        let ParentAndName {
            parent,
            name,
            trailing_slash,
        } = namespace.resolve_parent_with(&root, &start, &path, &who, resolve)?;
        if name == b"." || name == b".." || trailing_slash {
            return Err(EISDIR);
        }
        let (parent, name) =
            follow_dangling(&namespace, &root, &who, parent, name, flags, resolve)?;
        let dir = parent.node().clone();
        match dir.lookup(&name) {
            Ok(_) if flags & O_EXCL != 0 => return Err(EEXIST),
            Ok(_) => namespace.resolve_with(&root, &parent, &name, follow, &who, resolve)?,
            Err(e) if e == ENOENT => {
                if dir.read_only() {
                    return Err(EROFS);
                }
                super::path::landlock(ctx, &parent, ll::ACCESS_FS_MAKE_REG)?;
                may(ctx, &*dir, MAY_WRITE | MAY_EXEC)?;
                let mode = mode as u32 & 0o7777 & !ctx.task.umask;
                let node = dir.create(&name, NewNode::File { mode })?;
                own_new_node(ctx, &*dir, &*node);
                inotify::on_child(&*dir, &name, &*node, inotify::IN_CREATE, 0);
                created = true;
                let mut stack = parent;
                stack.0.push((name, node));
                stack
            }
            Err(e) => return Err(e),
        }
    } else {
        lookup_with(ctx, dirfd, &path, follow, resolve)?
    };
    open_node(ctx, stack, flags, created)
}

/// O_TMPFILE: a new regular file in the directory `path` names, in no
/// directory (Linux's do_o_tmpfile and vfs_tmpfile): writing the
/// directory is checked as for a new name, EOPNOTSUPP where the
/// filesystem has no unnamed files (only tmpfs has them here). Unless
/// O_EXCL, linkat may give it a name later. /proc/self/fd shows it as
/// Linux does, "DIR/#INO (deleted)".
fn open_tmpfile(
    ctx: &mut SyscallContext,
    dirfd: i32,
    path: &[u8],
    flags: u32,
    mode: u64,
    resolve: u64,
) -> SysResult {
    let stack = lookup_with(ctx, dirfd, path, flags & O_NOFOLLOW == 0, resolve)?;
    let dir = stack.node().clone();
    if dir.kind() != FileKind::Directory {
        return Err(ENOTDIR);
    }
    if dir.read_only() {
        return Err(EROFS);
    }
    may(ctx, &*dir, MAY_WRITE | MAY_EXEC)?;
    let mode = mode as u32 & 0o7777 & !ctx.task.umask;
    let node = dir.create_unnamed(mode, flags & O_EXCL == 0)?;
    own_new_node(ctx, &*dir, &*node);
    let name = alloc::format!("#{} (deleted)", node.id().1).into_bytes();
    let mut stack = stack;
    stack.0.push((name, node));
    open_node(
        ctx,
        stack,
        flags & !(O_TMPFILE | O_CREAT | O_EXCL | O_TRUNC),
        true,
    )
}

/// Opens the node at the end of `stack` (found or just `created`) with
/// the sentry's `flags`: the checks of Linux's may_open and
/// do_dentry_open, then a descriptor.
pub(super) fn open_node(
    ctx: &mut SyscallContext,
    stack: PathStack,
    flags: u32,
    created: bool,
) -> SysResult {
    let accmode = flags & O_ACCMODE;
    let wants_write = flags & O_PATH == 0 && (accmode != O_RDONLY || flags & O_TRUNC != 0);
    let node = stack.node().clone();
    let kind = node.kind();
    if flags & O_PATH != 0 {
        if flags & O_DIRECTORY != 0 && kind != FileKind::Directory {
            return Err(ENOTDIR);
        }
        let file: Arc<dyn File> = Arc::new(PathOnly { node });
        let fd = ctx.task.fds().insert(
            OpenFile::at(file, O_PATH, Some(stack)),
            flags & O_CLOEXEC != 0,
            0,
        )?;
        return Ok(fd as u64);
    }
    if kind == FileKind::Symlink {
        return Err(ELOOP); // O_NOFOLLOW on a symlink
    }
    if flags & O_DIRECTORY != 0 && kind != FileKind::Directory {
        return Err(ENOTDIR);
    }
    // O_CREAT never opens a directory (Linux's do_open), even read-only.
    if kind == FileKind::Directory && (wants_write || flags & O_CREAT != 0) {
        return Err(EISDIR);
    }
    if wants_write && node.read_only() && kind != FileKind::CharDevice {
        return Err(EROFS);
    }
    // Linux's may_open: read and write permission as the access mode (and
    // O_TRUNC) ask, none for a file this call created; O_NOATIME only for
    // the owner.
    if !created {
        let mut mask = 0;
        if accmode != O_WRONLY {
            mask |= MAY_READ;
        }
        if wants_write {
            mask |= MAY_WRITE;
        }
        may(ctx, &*node, mask)?;
        if flags & O_NOATIME != 0 && !owns(ctx, &*node) {
            return Err(EPERM);
        }
    }
    // Landlock (Linux's hook_file_open): the rights the access mode asks
    // for, and those an open file keeps for later (truncate, device
    // ioctls) remembered with it.
    let mut landlock_denied = 0;
    if let Some(domain) = ctx.task.creds.landlock.as_deref() {
        let mut request = 0;
        if accmode != O_WRONLY {
            request |= if kind == FileKind::Directory {
                ll::ACCESS_FS_READ_DIR
            } else {
                ll::ACCESS_FS_READ_FILE
            };
        }
        if accmode != O_RDONLY {
            request |= ll::ACCESS_FS_WRITE_FILE;
        }
        let mut optional = ll::ACCESS_FS_TRUNCATE;
        if matches!(kind, FileKind::CharDevice | FileKind::BlockDevice) {
            optional |= ll::ACCESS_FS_IOCTL_DEV;
        }
        let denied = domain.denied(&stack, request | optional);
        if denied & request != 0 {
            return Err(EACCES);
        }
        landlock_denied = denied;
        if flags & O_TRUNC != 0
            && kind == FileKind::Regular
            && accmode != O_RDONLY
            && !created
            && denied & ll::ACCESS_FS_TRUNCATE != 0
        {
            return Err(EACCES);
        }
    }
    // Leases (Linux's do_dentry_open): a writer is counted before it
    // breaks them, a reader after.
    let mut count = None;
    if kind == FileKind::Regular {
        let id = node.id();
        let write = accmode != O_RDONLY;
        if write {
            count = Some(super::locks::count_open(id, true));
        }
        super::locks::break_lease(ctx, id, write, flags & O_NONBLOCK != 0)?;
        if !write {
            count = Some(super::locks::count_open(id, false));
        }
    }
    if flags & O_TRUNC != 0 && kind == FileKind::Regular && accmode != O_RDONLY && !created {
        node.truncate(0)?;
        inotify::on_path(&stack, inotify::IN_MODIFY);
    }
    // A fanotify group asking for FAN_OPEN_PERM answers first (Linux's
    // fsnotify_open_perm, before the file system's open).
    super::events::fanotify_permission(ctx, &stack, crate::sentry::vfs::fanotify::FAN_OPEN_PERM)?;
    let file = node.open(flags)?;
    inotify::on_path(&stack, inotify::IN_OPEN);
    if flags & O_NONBLOCK == 0 {
        wait_for_fifo_peer(ctx, &file)?;
    }
    let open = OpenFile::counted(file, flags, Some(stack), count);
    open.landlock_denied
        .store(landlock_denied, core::sync::atomic::Ordering::Relaxed);
    let fd = ctx.task.fds().insert(open, flags & O_CLOEXEC != 0, 0)?;
    Ok(fd as u64)
}

/// A blocking open of one side of a named pipe waits until the other side
/// is open too (ERESTARTSYS on a signal). This end stays open meanwhile, so
/// the other side's open sees it.
fn wait_for_fifo_peer(ctx: &mut SyscallContext, file: &Arc<dyn File>) -> Result<(), Errno> {
    let Some((_, baseline)) = file.fifo_peers() else {
        return Ok(());
    };
    let mut queues = Vec::new();
    file.wait_queues(&mut queues);
    let queue_refs: Vec<&crate::sentry::wait::WaitQueue> = queues.iter().map(|q| &**q).collect();
    loop {
        match file.fifo_peers() {
            Some((peers, opens)) if peers == 0 && opens == baseline => {}
            _ => return Ok(()),
        }
        match crate::sentry::signal::wait(&mut ctx.task, &queue_refs, u64::MAX, false) {
            Ok(_) => {}
            Err(e) if e == EINTR => return Err(ERESTARTSYS),
            Err(e) => return Err(e),
        }
    }
}

/// O_CREAT on a symlink whose target does not exist creates the target
/// (as Linux does, without O_EXCL): returns where to create.
fn follow_dangling(
    namespace: &crate::sentry::vfs::Namespace,
    root: &PathStack,
    who: &crate::sentry::vfs::perm::Accessor,
    mut parent: PathStack,
    mut name: Vec<u8>,
    flags: u32,
    resolve: u64,
) -> Result<(PathStack, Vec<u8>), Errno> {
    let follow = flags & O_NOFOLLOW == 0;
    use crate::sentry::vfs::RESOLVE_NO_SYMLINKS;
    for _ in 0..40 {
        let Ok(node) = parent.node().lookup(&name) else {
            return Ok((parent, name));
        };
        // A /proc/self/fd magic link is never dangling: it leads to the
        // open file itself, whatever its text names (a memfd's).
        if node.kind() != FileKind::Symlink
            || !follow
            || flags & O_EXCL != 0
            || node.magic_link().is_some()
        {
            return Ok((parent, name));
        }
        if resolve & RESOLVE_NO_SYMLINKS != 0 {
            return Err(ELOOP);
        }
        let target = node.readlink()?;
        match namespace.resolve_with(root, &parent, &target, true, who, resolve) {
            Ok(_) => return Ok((parent, name)), // not dangling
            Err(e) if e != ENOENT => return Err(e),
            Err(_) => {}
        }
        let next = namespace.resolve_parent_with(root, &parent, &target, who, resolve)?;
        if next.trailing_slash {
            return Err(EISDIR);
        }
        parent = next.parent;
        name = next.name;
    }
    Err(ELOOP)
}

/// An O_PATH descriptor: a location, not an open file.
struct PathOnly {
    node: Arc<dyn Inode>,
}

impl File for PathOnly {
    fn read(&self, _buf: &mut [u8], _offset: u64) -> Result<usize, Errno> {
        Err(EBADF)
    }
    fn write(&self, _buf: &[u8], _offset: u64) -> Result<usize, Errno> {
        Err(EBADF)
    }
    fn stat(&self) -> Stat {
        self.node.stat()
    }
    fn poll(&self, _events: i16) -> i16 {
        POLLNVAL
    }
    fn inode(&self) -> Option<Arc<dyn Inode>> {
        Some(self.node.clone())
    }
}

pub fn sys_open(ctx: &mut SyscallContext, path: u64, flags: u64, mode: u64) -> SysResult {
    open_at(ctx, AT_FDCWD, path, flags, mode)
}

pub fn sys_openat(
    ctx: &mut SyscallContext,
    dirfd: i32,
    path: u64,
    flags: u64,
    mode: u64,
) -> SysResult {
    open_at(ctx, dirfd, path, flags, mode)
}

/// openat2(dirfd, path, how, size): `struct open_how` { flags, mode,
/// resolve } is versioned by its size (Linux's copy_struct_from_user:
/// shorter than the first version is EINVAL, bytes we do not know must be
/// zero, else E2BIG); unlike openat, unknown or contradictory flags and a
/// mode without O_CREAT/O_TMPFILE are EINVAL (build_open_flags).
pub fn sys_openat2(
    ctx: &mut SyscallContext,
    dirfd: i32,
    path_addr: u64,
    how_addr: u64,
    size: u64,
) -> SysResult {
    use crate::sentry::vfs::{RESOLVE_BENEATH, RESOLVE_CACHED, RESOLVE_IN_ROOT};
    const OPEN_HOW_SIZE_VER0: u64 = 24;
    const PAGE: u64 = 4096;
    // Bits 0-1 and 6-22 (O_ACCMODE through __O_TMPFILE), in either
    // architecture's numbering (arm64 only permutes bits 14-17).
    const VALID_OPEN_FLAGS: u64 = 0o37777703;
    const VALID_RESOLVE_FLAGS: u64 = 0x3f;
    const O_PATH_FLAGS: u32 = O_DIRECTORY | O_NOFOLLOW | O_PATH | O_CLOEXEC;
    if size < OPEN_HOW_SIZE_VER0 {
        return Err(EINVAL);
    }
    if size > PAGE {
        return Err(E2BIG);
    }
    let mut raw = alloc::vec![0u8; size as usize];
    ctx.task.mm().copy_from_user(how_addr, &mut raw)?;
    if raw[OPEN_HOW_SIZE_VER0 as usize..].iter().any(|&b| b != 0) {
        return Err(E2BIG);
    }
    let word = |i: usize| u64::from_le_bytes(raw[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    let (flags, mode, resolve) = (word(0), word(1), word(2));
    if flags & !VALID_OPEN_FLAGS != 0 || resolve & !VALID_RESOLVE_FLAGS != 0 {
        return Err(EINVAL);
    }
    if resolve & RESOLVE_BENEATH != 0 && resolve & RESOLVE_IN_ROOT != 0 {
        return Err(EINVAL);
    }
    let sentry_flags = open_flags_from_user(flags as u32);
    let creates = sentry_flags & O_CREAT != 0 || sentry_flags & O_TMPFILE == O_TMPFILE;
    if creates {
        if mode & !0o7777 != 0 {
            return Err(EINVAL);
        }
    } else if mode != 0 {
        return Err(EINVAL);
    }
    let tmpfile_bit = O_TMPFILE & !O_DIRECTORY;
    if sentry_flags & tmpfile_bit != 0
        && (sentry_flags & O_TMPFILE != O_TMPFILE
            || sentry_flags & O_CREAT != 0
            || sentry_flags & O_ACCMODE == O_RDONLY)
    {
        return Err(EINVAL);
    }
    if sentry_flags & O_PATH != 0 && sentry_flags & !O_PATH_FLAGS != 0 {
        return Err(EINVAL);
    }
    if resolve & RESOLVE_CACHED != 0 && sentry_flags & (O_TRUNC | O_CREAT | tmpfile_bit) != 0 {
        return Err(EAGAIN);
    }
    open_how(ctx, dirfd, path_addr, flags, mode, resolve)
}

pub fn sys_creat(ctx: &mut SyscallContext, path: u64, mode: u64) -> SysResult {
    open_at(
        ctx,
        AT_FDCWD,
        path,
        (O_CREAT | O_WRONLY | O_TRUNC) as u64,
        mode,
    )
}
