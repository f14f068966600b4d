//! open, openat and creat: resolving or creating the file, the open-time
//! flags (O_CREAT/O_EXCL/O_TRUNC/O_DIRECTORY/O_NOFOLLOW/O_PATH), and a
//! FIFO's wait for its peer.

use alloc::sync::Arc;
use alloc::vec::Vec;

use super::fd_arg;
use super::path::{lookup_at, may, own_new_node, owns, parent_at, read_path, AT_FDCWD};
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
    let flags = crate::sentry::fd::open_flags_from_user(flags as u32);
    if flags & O_TMPFILE == O_TMPFILE {
        return Err(EOPNOTSUPP);
    }
    let path = read_path(ctx, path_addr)?;
    let accmode = flags & O_ACCMODE;
    if accmode == 3 {
        return Err(EINVAL);
    }
    let wants_write = flags & O_PATH == 0 && (accmode != O_RDONLY || flags & O_TRUNC != 0);
    let namespace = ctx.task.namespace.clone();
    let follow = flags & O_NOFOLLOW == 0;

    // Made by this call (O_CREAT): not truncated, whatever O_TRUNC says.
    let mut created = false;
    let stack = if flags & O_CREAT != 0 && flags & O_PATH == 0 {
        let ParentAndName {
            parent,
            name,
            trailing_slash,
        } = parent_at(ctx, dirfd, &path)?;
        if name == b"." || name == b".." || trailing_slash {
            return Err(EISDIR);
        }
        let root = ctx.task.root_dir();
        let who = ctx.task.creds.accessor();
        let (parent, name) = follow_dangling(&namespace, &root, &who, parent, name, follow, flags)?;
        let dir = parent.node().clone();
        match dir.lookup(&name) {
            Ok(_) if flags & O_EXCL != 0 => return Err(EEXIST),
            Ok(_) => {
                namespace.resolve_in(&root, &parent, &name, follow, &ctx.task.creds.accessor())?
            }
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
        lookup_at(ctx, dirfd, &path, follow)?
    };
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
    if kind == FileKind::Directory && wants_write {
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
    follow: bool,
    flags: u32,
) -> Result<(PathStack, Vec<u8>), Errno> {
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
        let target = node.readlink()?;
        match namespace.resolve_in(root, &parent, &target, true, who) {
            Ok(_) => return Ok((parent, name)), // not dangling
            Err(e) if e != ENOENT => return Err(e),
            Err(_) => {}
        }
        let next = namespace.resolve_parent_in(root, &parent, &target, who)?;
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

pub fn sys_open(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    open_at(ctx, AT_FDCWD, args[0], args[1], args[2])
}

pub fn sys_openat(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    open_at(ctx, fd_arg(args[0]), args[1], args[2], args[3])
}

pub fn sys_creat(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    open_at(
        ctx,
        AT_FDCWD,
        args[0],
        (O_CREAT | O_WRONLY | O_TRUNC) as u64,
        args[1],
    )
}
