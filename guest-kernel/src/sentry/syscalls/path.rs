//! Path syscalls: open, stat, access, readlink, mkdir, unlink, rename, link,
//! symlink, chdir/getcwd, chmod/chown, truncate, fsync, utimensat,
//! getdents64, umask, statfs.

use crate::sentry::mm::usermem::UserPtr;
use alloc::sync::Arc;
use alloc::vec::Vec;

use super::io::fd_arg;
use super::SyscallContext;
use crate::sentry::errno::*;
use crate::sentry::fd::*;
use crate::sentry::stat::*;
use crate::sentry::vfs::{
    FileKind, Inode, NewNode, ParentAndName, PathStack, TimeUpdate, PATH_MAX,
};

const AT_FDCWD: i32 = -100;
/// AT_FDCWD for callers outside this file.
pub const AT_FDCWD_ARG: i32 = AT_FDCWD;
const AT_SYMLINK_NOFOLLOW: u64 = 0x100;
const AT_REMOVEDIR: u64 = 0x200;
const AT_EACCESS: u64 = 0x200;
const AT_SYMLINK_FOLLOW: u64 = 0x400;
const AT_NO_AUTOMOUNT: u64 = 0x800;
const AT_EMPTY_PATH: u64 = 0x1000;
const AT_STATX_SYNC_TYPE: u64 = 0x6000;

/// Reads a path argument (ENOENT when empty, ENAMETOOLONG when too long).
fn read_path(ctx: &mut SyscallContext, addr: u64) -> Result<Vec<u8>, Errno> {
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
        return Ok(ctx.task.namespace.root_stack());
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
    ctx.task.namespace.clone().resolve(&start, path, follow)
}

fn parent_at(ctx: &mut SyscallContext, dirfd: i32, path: &[u8]) -> Result<ParentAndName, Errno> {
    let start = start_dir(ctx, dirfd, path)?;
    ctx.task.namespace.clone().resolve_parent(&start, path)
}

/// The node named by (dirfd, path, flags), with AT_EMPTY_PATH support.
fn node_at(
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
enum NodeRef {
    Path(PathStack),
    File(Arc<OpenFile>),
}

impl NodeRef {
    fn stat(&self) -> Stat {
        match self {
            NodeRef::Path(stack) => stack.node().stat(),
            NodeRef::File(file) => file.file.stat(),
        }
    }

    fn inode(&self) -> Result<Arc<dyn Inode>, Errno> {
        match self {
            NodeRef::Path(stack) => Ok(stack.node().clone()),
            NodeRef::File(file) => file.file.inode().ok_or(EINVAL),
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

// --- open ---------------------------------------------------------------------

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

    let stack = if flags & O_CREAT != 0 && flags & O_PATH == 0 {
        let ParentAndName {
            parent,
            name,
            trailing_slash,
        } = parent_at(ctx, dirfd, &path)?;
        if name == b"." || name == b".." || trailing_slash {
            return Err(EISDIR);
        }
        let (parent, name) = follow_dangling(&namespace, parent, name, follow, flags)?;
        let dir = parent.node().clone();
        match dir.lookup(&name) {
            Ok(_) if flags & O_EXCL != 0 => return Err(EEXIST),
            Ok(_) => namespace.resolve(&parent, &name, follow)?,
            Err(e) if e == ENOENT => {
                if dir.read_only() {
                    return Err(EROFS);
                }
                let mode = mode as u32 & 0o7777 & !ctx.task.umask;
                let node = dir.create(&name, NewNode::File { mode })?;
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
    if flags & O_TRUNC != 0 && kind == FileKind::Regular && accmode != O_RDONLY {
        node.truncate(0)?;
    }
    let file = node.open(flags)?;
    if flags & O_NONBLOCK == 0 {
        wait_for_fifo_peer(ctx, &file)?;
    }
    let fd = ctx.task.fds().insert(
        OpenFile::at(file, flags, Some(stack)),
        flags & O_CLOEXEC != 0,
        0,
    )?;
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
    mut parent: PathStack,
    mut name: Vec<u8>,
    follow: bool,
    flags: u32,
) -> Result<(PathStack, Vec<u8>), Errno> {
    for _ in 0..40 {
        let Ok(node) = parent.node().lookup(&name) else {
            return Ok((parent, name));
        };
        if node.kind() != FileKind::Symlink || !follow || flags & O_EXCL != 0 {
            return Ok((parent, name));
        }
        let target = node.readlink()?;
        match namespace.resolve(&parent, &target, true) {
            Ok(_) => return Ok((parent, name)), // not dangling
            Err(e) if e != ENOENT => return Err(e),
            Err(_) => {}
        }
        let next = namespace.resolve_parent(&parent, &target)?;
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

// --- stat ---------------------------------------------------------------------

pub fn sys_fstat(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let stat = ctx.task.fds().get(fd_arg(args[0]))?.file.stat();
    UserPtr::new(args[1]).write(&mut ctx.task.mm(), &stat.to_user())?;
    Ok(0)
}

pub fn sys_stat(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let stat = node_at(ctx, AT_FDCWD, args[0], 0)?.stat();
    UserPtr::new(args[1]).write(&mut ctx.task.mm(), &stat.to_user())?;
    Ok(0)
}

pub fn sys_lstat(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let stat = node_at(ctx, AT_FDCWD, args[0], AT_SYMLINK_NOFOLLOW)?.stat();
    UserPtr::new(args[1]).write(&mut ctx.task.mm(), &stat.to_user())?;
    Ok(0)
}

pub fn sys_newfstatat(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    if args[3] & !(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT) != 0 {
        return Err(EINVAL);
    }
    let stat = node_at(ctx, fd_arg(args[0]), args[1], args[3])?.stat();
    UserPtr::new(args[2]).write(&mut ctx.task.mm(), &stat.to_user())?;
    Ok(0)
}

fn dev_major(dev: u64) -> u32 {
    (((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff)) as u32
}

fn dev_minor(dev: u64) -> u32 {
    ((dev & 0xff) | ((dev >> 12) & !0xff)) as u32
}

pub fn sys_statx(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    const STATX_BASIC_STATS: u32 = 0x7ff;
    let (dirfd, path, flags, buf) = (fd_arg(args[0]), args[1], args[2], args[4]);
    if flags & !(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_STATX_SYNC_TYPE) != 0
        || flags & AT_STATX_SYNC_TYPE == AT_STATX_SYNC_TYPE
    {
        return Err(EINVAL);
    }
    if args[3] & 0x8000_0000 != 0 {
        return Err(EINVAL); // STATX__RESERVED
    }
    let s = node_at(ctx, dirfd, path, flags)?.stat();
    let mut out = [0u8; 256];
    let mut put =
        |offset: usize, bytes: &[u8]| out[offset..offset + bytes.len()].copy_from_slice(bytes);
    put(0, &STATX_BASIC_STATS.to_le_bytes());
    put(4, &(s.blksize as u32).to_le_bytes());
    put(16, &(s.nlink as u32).to_le_bytes());
    put(20, &s.uid.to_le_bytes());
    put(24, &s.gid.to_le_bytes());
    put(28, &(s.mode as u16).to_le_bytes());
    put(32, &s.ino.to_le_bytes());
    put(40, &(s.size as u64).to_le_bytes());
    put(48, &(s.blocks as u64).to_le_bytes());
    for (offset, (sec, nsec)) in [
        (64, (s.atime, s.atime_nsec)),
        (96, (s.ctime, s.ctime_nsec)),
        (112, (s.mtime, s.mtime_nsec)),
    ] {
        put(offset, &sec.to_le_bytes());
        put(offset + 8, &(nsec as u32).to_le_bytes());
    }
    put(128, &dev_major(s.rdev).to_le_bytes());
    put(132, &dev_minor(s.rdev).to_le_bytes());
    put(136, &dev_major(s.dev).to_le_bytes());
    put(140, &dev_minor(s.dev).to_le_bytes());
    UserPtr::new(buf).write(&mut ctx.task.mm(), &out)?;
    Ok(0)
}

fn access_at(ctx: &mut SyscallContext, dirfd: i32, path: u64, mode: u64, flags: u64) -> SysResult {
    const W_OK: u64 = 2;
    const X_OK: u64 = 1;
    if mode & !7 != 0 || flags & !(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(EINVAL);
    }
    let node = node_at(ctx, dirfd, path, flags)?;
    let stat = node.stat();
    if mode & W_OK != 0 {
        if let Ok(inode) = node.inode() {
            if inode.read_only() {
                return Err(EROFS);
            }
        }
    }
    // The program runs as root: reading and writing are allowed; executing
    // needs an execute bit somewhere (or a directory).
    if mode & X_OK != 0 && stat.mode & S_IFMT != S_IFDIR && stat.mode & 0o111 == 0 {
        return Err(EACCES);
    }
    Ok(0)
}

pub fn sys_access(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    access_at(ctx, AT_FDCWD, args[0], args[1], 0)
}

pub fn sys_faccessat(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    access_at(ctx, fd_arg(args[0]), args[1], args[2], 0)
}

pub fn sys_faccessat2(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    access_at(ctx, fd_arg(args[0]), args[1], args[2], args[3])
}

// --- links ----------------------------------------------------------------------

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

pub fn sys_readlink(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    read_path(ctx, args[0])?;
    readlink_at(ctx, AT_FDCWD, args[0], args[1], args[2])
}

pub fn sys_readlinkat(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    readlink_at(ctx, fd_arg(args[0]), args[1], args[2], args[3])
}

fn symlink_at(ctx: &mut SyscallContext, target: u64, dirfd: i32, path: u64) -> SysResult {
    let target = read_path(ctx, target)?;
    let path = read_path(ctx, path)?;
    let (dir, name) = new_entry_at(ctx, dirfd, &path)?;
    dir.create(&name, NewNode::Symlink { target: &target })?;
    Ok(0)
}

pub fn sys_symlink(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    symlink_at(ctx, args[0], AT_FDCWD, args[1])
}

pub fn sys_symlinkat(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    symlink_at(ctx, args[0], fd_arg(args[1]), args[2])
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
    let target = node_at(ctx, old_dirfd, old, follow | (flags & AT_EMPTY_PATH))?.inode()?;
    if target.kind() == FileKind::Directory {
        return Err(EPERM);
    }
    let path = read_path(ctx, new)?;
    let (dir, name) = new_entry_at(ctx, new_dirfd, &path)?;
    dir.link(&name, &target)?;
    Ok(0)
}

pub fn sys_link(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    link_at(ctx, AT_FDCWD, args[0], AT_FDCWD, args[1], 0)
}

pub fn sys_linkat(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    link_at(
        ctx,
        fd_arg(args[0]),
        args[1],
        fd_arg(args[2]),
        args[3],
        args[4],
    )
}

// --- directories ------------------------------------------------------------

fn mkdir_at(ctx: &mut SyscallContext, dirfd: i32, path: u64, mode: u64) -> SysResult {
    let path = read_path(ctx, path)?;
    let (dir, name) = new_entry_at(ctx, dirfd, &path)?;
    let mode = mode as u32 & 0o7777 & !ctx.task.umask;
    dir.create(&name, NewNode::Directory { mode })?;
    Ok(0)
}

fn mknod_at(ctx: &mut SyscallContext, dirfd: i32, path: u64, mode: u64) -> SysResult {
    let path = read_path(ctx, path)?;
    let kind = mode as u32 & S_IFMT;
    if !matches!(kind, 0 | S_IFREG | S_IFCHR | S_IFBLK | S_IFIFO | S_IFSOCK) {
        return Err(EINVAL);
    }
    let (dir, name) = new_entry_at(ctx, dirfd, &path)?;
    let perm = mode as u32 & 0o7777 & !ctx.task.umask;
    match kind {
        0 | S_IFREG => {
            dir.create(&name, NewNode::File { mode: perm })?;
            Ok(0)
        }
        S_IFIFO => {
            dir.create(&name, NewNode::Fifo { mode: perm })?;
            Ok(0)
        }
        // Device nodes need CAP_MKNOD, which the sandbox does not grant.
        S_IFCHR | S_IFBLK => Err(EPERM),
        // A socket node with no socket bound: connect gives ECONNREFUSED.
        S_IFSOCK => {
            let bound: alloc::sync::Weak<dyn core::any::Any + Send + Sync> =
                alloc::sync::Weak::<()>::new();
            dir.create(&name, NewNode::Socket { mode: perm, bound })?;
            Ok(0)
        }
        _ => Err(EINVAL),
    }
}

pub fn sys_mknod(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    mknod_at(ctx, AT_FDCWD, args[0], args[1])
}

pub fn sys_mknodat(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    mknod_at(ctx, fd_arg(args[0]), args[1], args[2])
}

// --- extended attributes ---------------------------------------------------------
//
// No filesystem of the sandbox stores extended attributes: every file has
// none (listing is empty, reading one is ENODATA), and setting one is
// EOPNOTSUPP, as on a filesystem mounted without xattr support. The path or
// fd is resolved first, so ENOENT/EBADF come out as on Linux.

/// The file an xattr call names: a path (following symlinks or not) or a
/// descriptor.
enum XattrFile {
    Path { follow: bool },
    Fd,
}

/// Resolves the file and checks the attribute name (when the call has
/// one), then gives `answer`: what the call means on a filesystem without
/// extended attributes.
fn xattr_call(
    ctx: &mut SyscallContext,
    file: XattrFile,
    target: u64,
    name: Option<u64>,
    answer: SysResult,
) -> SysResult {
    match file {
        XattrFile::Path { follow } => {
            let flags = if follow { 0 } else { AT_SYMLINK_NOFOLLOW };
            node_at(ctx, AT_FDCWD, target, flags)?;
        }
        XattrFile::Fd => {
            let open = ctx.task.fds().get(fd_arg(target))?.clone();
            if *open.flags.lock() & O_PATH != 0 {
                return Err(EBADF);
            }
        }
    }
    if let Some(name) = name {
        const XATTR_NAME_MAX: usize = 255;
        let name = ctx
            .task
            .mm()
            .read_cstring(name, XATTR_NAME_MAX)
            .map_err(|e| if e == ENAMETOOLONG { ERANGE } else { e })?;
        if name.is_empty() {
            return Err(ERANGE);
        }
    }
    answer
}

const FOLLOW: XattrFile = XattrFile::Path { follow: true };
const NOFOLLOW: XattrFile = XattrFile::Path { follow: false };

pub fn sys_getxattr(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    xattr_call(ctx, FOLLOW, args[0], Some(args[1]), Err(ENODATA))
}

pub fn sys_lgetxattr(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    xattr_call(ctx, NOFOLLOW, args[0], Some(args[1]), Err(ENODATA))
}

pub fn sys_fgetxattr(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    xattr_call(ctx, XattrFile::Fd, args[0], Some(args[1]), Err(ENODATA))
}

pub fn sys_listxattr(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    xattr_call(ctx, FOLLOW, args[0], None, Ok(0))
}

pub fn sys_llistxattr(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    xattr_call(ctx, NOFOLLOW, args[0], None, Ok(0))
}

pub fn sys_flistxattr(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    xattr_call(ctx, XattrFile::Fd, args[0], None, Ok(0))
}

pub fn sys_setxattr(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    xattr_call(ctx, FOLLOW, args[0], Some(args[1]), Err(EOPNOTSUPP))
}

pub fn sys_lsetxattr(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    xattr_call(ctx, NOFOLLOW, args[0], Some(args[1]), Err(EOPNOTSUPP))
}

pub fn sys_fsetxattr(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    xattr_call(ctx, XattrFile::Fd, args[0], Some(args[1]), Err(EOPNOTSUPP))
}

pub fn sys_removexattr(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    xattr_call(ctx, FOLLOW, args[0], Some(args[1]), Err(ENODATA))
}

pub fn sys_lremovexattr(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    xattr_call(ctx, NOFOLLOW, args[0], Some(args[1]), Err(ENODATA))
}

pub fn sys_fremovexattr(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    xattr_call(ctx, XattrFile::Fd, args[0], Some(args[1]), Err(ENODATA))
}

pub fn sys_mkdir(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    mkdir_at(ctx, AT_FDCWD, args[0], args[1])
}

pub fn sys_mkdirat(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    mkdir_at(ctx, fd_arg(args[0]), args[1], args[2])
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
    if directory && ctx.task.namespace.is_mount_point(&node) {
        return Err(EBUSY);
    }
    dir.unlink(&pn.name, directory)?;
    Ok(0)
}

pub fn sys_unlink(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    unlink_at(ctx, AT_FDCWD, args[0], false)
}

pub fn sys_rmdir(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    unlink_at(ctx, AT_FDCWD, args[0], true)
}

pub fn sys_unlinkat(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    if args[2] & !AT_REMOVEDIR != 0 {
        return Err(EINVAL);
    }
    unlink_at(ctx, fd_arg(args[0]), args[1], args[2] & AT_REMOVEDIR != 0)
}

fn rename_at(
    ctx: &mut SyscallContext,
    old_dirfd: i32,
    old: u64,
    new_dirfd: i32,
    new: u64,
    flags: u64,
) -> SysResult {
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
    from.parent
        .node()
        .rename(&from.name, &target_dir, &to.name, flags as u32)?;
    Ok(0)
}

pub fn sys_rename(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    rename_at(ctx, AT_FDCWD, args[0], AT_FDCWD, args[1], 0)
}

pub fn sys_renameat(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    rename_at(ctx, fd_arg(args[0]), args[1], fd_arg(args[2]), args[3], 0)
}

pub fn sys_renameat2(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    rename_at(
        ctx,
        fd_arg(args[0]),
        args[1],
        fd_arg(args[2]),
        args[3],
        args[4],
    )
}

pub fn sys_chdir(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let path = read_path(ctx, args[0])?;
    let stack = lookup_at(ctx, AT_FDCWD, &path, true)?;
    if stack.node().kind() != FileKind::Directory {
        return Err(ENOTDIR);
    }
    *ctx.task.cwd.lock() = stack;
    Ok(0)
}

pub fn sys_fchdir(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let file = ctx.task.fds().get(fd_arg(args[0]))?.clone();
    match &file.location {
        Some(stack) if stack.node().kind() == FileKind::Directory => {
            *ctx.task.cwd.lock() = stack.clone();
            Ok(0)
        }
        _ => Err(ENOTDIR),
    }
}

pub fn sys_getcwd(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let mut path = ctx.task.cwd().path();
    path.push(0);
    if (args[1] as usize) < path.len() {
        return Err(ERANGE);
    }
    ctx.task.mm().copy_to_user(args[0], &path)?;
    Ok(path.len() as u64)
}

pub fn sys_getdents64(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let (fd, buf, count) = (fd_arg(args[0]), args[1], args[2] as usize);
    let file = ctx.task.fds().get(fd)?.clone();
    if *file.flags.lock() & O_PATH != 0 {
        return Err(EBADF);
    }
    let entries = file.file.readdir()?;
    let stat = file.file.stat();
    let parent_ino = file
        .location
        .as_ref()
        .and_then(|s| s.0.len().checked_sub(2).map(|i| s.0[i].1.id().1))
        .unwrap_or(stat.ino);
    let offset = file.offset.lock();
    let mut out = Vec::with_capacity(count.min(64 * 1024));
    let mut index = *offset as usize;
    loop {
        let (name, ino, kind): (&[u8], u64, u8) = match index {
            0 => (b".", stat.ino, 4),
            1 => (b"..", parent_ino, 4),
            i => match entries.get(i - 2) {
                Some(e) => (&e.name, e.ino, e.kind.dirent_type()),
                None => break,
            },
        };
        let reclen = (19 + name.len() + 1 + 7) & !7;
        if out.len() + reclen > count {
            if out.is_empty() {
                return Err(EINVAL);
            }
            break;
        }
        let start = out.len();
        out.resize(start + reclen, 0);
        out[start..start + 8].copy_from_slice(&ino.to_le_bytes());
        out[start + 8..start + 16].copy_from_slice(&((index + 1) as i64).to_le_bytes());
        out[start + 16..start + 18].copy_from_slice(&(reclen as u16).to_le_bytes());
        out[start + 18] = kind;
        out[start + 19..start + 19 + name.len()].copy_from_slice(name);
        index += 1;
    }
    drop(offset);
    ctx.task.mm().copy_to_user(buf, &out)?;
    *file.offset.lock() = index as u64;
    Ok(out.len() as u64)
}

// --- attributes ---------------------------------------------------------------

fn chmod_node(node: &Arc<dyn Inode>, mode: u64) -> SysResult {
    if node.read_only() {
        return Err(EROFS);
    }
    node.set_mode(mode as u32 & 0o7777)?;
    Ok(0)
}

pub fn sys_chmod(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let node = node_at(ctx, AT_FDCWD, args[0], 0)?.inode()?;
    chmod_node(&node, args[1])
}

pub fn sys_fchmod(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let file = ctx.task.fds().get(fd_arg(args[0]))?.clone();
    let node = file.file.inode().ok_or(EBADF)?;
    chmod_node(&node, args[1])
}

pub fn sys_fchmodat(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let node = node_at(ctx, fd_arg(args[0]), args[1], 0)?.inode()?;
    chmod_node(&node, args[2])
}

fn chown_node(node: &Arc<dyn Inode>, uid: u64, gid: u64) -> SysResult {
    if node.read_only() {
        return Err(EROFS);
    }
    let id = |v: u64| (v as u32 != u32::MAX).then_some(v as u32);
    node.set_owner(id(uid), id(gid))?;
    Ok(0)
}

pub fn sys_chown(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let node = node_at(ctx, AT_FDCWD, args[0], 0)?.inode()?;
    chown_node(&node, args[1], args[2])
}

pub fn sys_lchown(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let node = node_at(ctx, AT_FDCWD, args[0], AT_SYMLINK_NOFOLLOW)?.inode()?;
    chown_node(&node, args[1], args[2])
}

pub fn sys_fchown(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let file = ctx.task.fds().get(fd_arg(args[0]))?.clone();
    let node = file.file.inode().ok_or(EBADF)?;
    chown_node(&node, args[1], args[2])
}

pub fn sys_fchownat(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let node = node_at(ctx, fd_arg(args[0]), args[1], args[4])?.inode()?;
    chown_node(&node, args[2], args[3])
}

pub fn sys_truncate(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    if (args[1] as i64) < 0 {
        return Err(EINVAL);
    }
    let node = node_at(ctx, AT_FDCWD, args[0], 0)?.inode()?;
    if node.kind() == FileKind::Directory {
        return Err(EISDIR);
    }
    if node.read_only() {
        return Err(EROFS);
    }
    node.truncate(args[1])?;
    Ok(0)
}

pub fn sys_ftruncate(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    if (args[1] as i64) < 0 {
        return Err(EINVAL);
    }
    let file = ctx.task.fds().get(fd_arg(args[0]))?.clone();
    if !file.writable() {
        return Err(EINVAL);
    }
    file.file.truncate(args[1])?;
    Ok(0)
}

pub fn sys_fsync(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let file = ctx.task.fds().get(fd_arg(args[0]))?.clone();
    file.file.sync()?;
    Ok(0)
}

pub fn sys_utimensat(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    const UTIME_NOW: i64 = (1 << 30) - 1;
    const UTIME_OMIT: i64 = (1 << 30) - 2;
    let (dirfd, path, times, flags) = (fd_arg(args[0]), args[1], args[2], args[3]);
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(EINVAL);
    }
    let updates: [Option<TimeUpdate>; 2] = if times == 0 {
        [Some(TimeUpdate::Now), Some(TimeUpdate::Now)]
    } else {
        let raw: [i64; 4] = UserPtr::<[i64; 4]>::new(times).read(&mut ctx.task.mm())?;
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
    let node = if path == 0 {
        // futimens: the fd itself.
        let file = ctx.task.fds().get(dirfd)?.clone();
        file.file.inode().ok_or(EBADF)?
    } else {
        node_at(ctx, dirfd, path, flags)?.inode()?
    };
    if updates.iter().all(Option::is_none) {
        return Ok(0);
    }
    if node.read_only() {
        return Err(EROFS);
    }
    node.set_times(updates[0], updates[1])?;
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

pub fn sys_utimes(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    if args[0] == 0 {
        return Err(EFAULT);
    }
    let updates = timeval_updates(ctx, args[1])?;
    set_times(ctx, AT_FDCWD, args[0], 0, updates)
}

pub fn sys_futimesat(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let updates = timeval_updates(ctx, args[2])?;
    set_times(ctx, fd_arg(args[0]), args[1], 0, updates)
}

/// utime: a `struct utimbuf` { actime, modtime } in seconds (NULL: now).
pub fn sys_utime(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    if args[0] == 0 {
        return Err(EFAULT);
    }
    let updates = if args[1] == 0 {
        [Some(TimeUpdate::Now); 2]
    } else {
        let [atime, mtime]: [i64; 2] =
            UserPtr::<[i64; 2]>::new(args[1]).read(&mut ctx.task.mm())?;
        [
            Some(TimeUpdate::Set(atime, 0)),
            Some(TimeUpdate::Set(mtime, 0)),
        ]
    };
    set_times(ctx, AT_FDCWD, args[0], 0, updates)
}

pub fn sys_umask(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let old = ctx.task.umask;
    ctx.task.umask = args[0] as u32 & 0o777;
    Ok(old as u64)
}

fn statfs_of(stat: &Stat) -> [u64; 15] {
    // f_type by filesystem; sizes from guest memory for the in-memory ones.
    let f_type: u64 = match stat.dev {
        crate::sentry::vfs::DEV_PROCFS => 0x9fa0,
        crate::sentry::vfs::DEV_DEVFS => 0x0102_1994,
        crate::sentry::vfs::DEV_PIPE => 0x5049_5045,
        _ => 0x0102_1994, // TMPFS_MAGIC
    };
    // /proc holds no blocks (df leaves it out, as on Linux).
    let (total, free) = if stat.dev == crate::sentry::vfs::DEV_PROCFS {
        (0, 0)
    } else {
        (crate::mm::total_frames(), crate::mm::free_frames())
    };
    let mut out = [0u64; 15];
    out[0] = f_type;
    out[1] = 4096; // f_bsize
    out[2] = total; // f_blocks
    out[3] = free; // f_bfree
    out[4] = free; // f_bavail
    out[5] = total; // f_files
    out[6] = free; // f_ffree
    out[8] = 255; // f_namelen
    out[9] = 4096; // f_frsize
    out
}

pub fn sys_statfs(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let stat = node_at(ctx, AT_FDCWD, args[0], 0)?.stat();
    UserPtr::new(args[1]).write(&mut ctx.task.mm(), &statfs_of(&stat))?;
    Ok(0)
}

pub fn sys_fstatfs(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let stat = ctx.task.fds().get(fd_arg(args[0]))?.file.stat();
    UserPtr::new(args[1]).write(&mut ctx.task.mm(), &statfs_of(&stat))?;
    Ok(0)
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
