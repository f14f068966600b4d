//! Extended attributes: get/list/set/removexattr and their l- (no
//! symlink following) and f- (by descriptor) forms.
//!
//! tmpfs stores them (`vfs::xattr`), in the `user.`, `trusted.` and
//! `security.` namespaces as Linux's tmpfs does; `system.` (POSIX ACLs)
//! and unknown prefixes are EOPNOTSUPP. Other filesystems of the sandbox
//! (shared host directories, /proc, /dev) store none: listing is empty,
//! reading one is ENODATA, setting one is EOPNOTSUPP, as on a filesystem
//! mounted without xattr support.

use alloc::sync::Arc;
use alloc::vec::Vec;

use super::path::{node_at, AT_FDCWD, AT_SYMLINK_NOFOLLOW};
use super::SyscallContext;
use crate::sentry::errno::*;
use crate::sentry::fd::*;
use crate::sentry::vfs::inotify::IN_ATTRIB;
use crate::sentry::vfs::xattr::{XATTR_CREATE, XATTR_REPLACE};
use crate::sentry::vfs::{FileKind, Inode};

const XATTR_NAME_MAX: usize = 255;
const XATTR_SIZE_MAX: u64 = 65536;
const XATTR_LIST_MAX: u64 = 65536;
const CAP_SYS_ADMIN: u32 = 21;

/// The file an xattr call names: a path (following symlinks or not) or a
/// descriptor.
#[derive(Clone, Copy)]
enum Target {
    Path { addr: u64, follow: bool },
    Fd(i32),
}

/// The node the call is about, and how to tell inotify it changed.
fn resolve(
    ctx: &mut SyscallContext,
    target: Target,
) -> Result<(Arc<dyn Inode>, super::path::NodeRef), Errno> {
    let at = match target {
        Target::Path { addr, follow } => {
            let flags = if follow { 0 } else { AT_SYMLINK_NOFOLLOW };
            node_at(ctx, AT_FDCWD, addr, flags)?
        }
        Target::Fd(fd) => {
            let open = ctx.task.fds().get(fd)?.clone();
            if *open.flags.lock() & O_PATH != 0 {
                return Err(EBADF);
            }
            super::path::NodeRef::File(open)
        }
    };
    // A descriptor without an inode (a pipe, a socket) has none to keep.
    let node = at.inode().map_err(|_| EOPNOTSUPP)?;
    Ok((node, at))
}

/// The namespace of an attribute name.
#[derive(PartialEq, Eq)]
enum Namespace {
    User,
    Trusted,
    Security,
}

fn read_name(ctx: &mut SyscallContext, addr: u64) -> Result<Vec<u8>, Errno> {
    let name = ctx
        .task
        .mm()
        .read_cstring(addr, XATTR_NAME_MAX + 1)
        .map_err(|e| if e == ENAMETOOLONG { ERANGE } else { e })?;
    if name.is_empty() || name.len() > XATTR_NAME_MAX {
        return Err(ERANGE);
    }
    Ok(name)
}

/// The namespace of `name` (EOPNOTSUPP for `system.` and unknown ones).
fn namespace_of(name: &[u8]) -> Result<Namespace, Errno> {
    for (prefix, ns) in [
        (&b"user."[..], Namespace::User),
        (b"trusted.", Namespace::Trusted),
        (b"security.", Namespace::Security),
    ] {
        if let Some(rest) = name.strip_prefix(prefix) {
            // A bare prefix is no name.
            return if rest.is_empty() { Err(EINVAL) } else { Ok(ns) };
        }
    }
    Err(EOPNOTSUPP)
}

fn privileged(ctx: &SyscallContext) -> bool {
    ctx.task.creds.caps().effective & (1 << CAP_SYS_ADMIN) != 0
}

/// Linux's xattr_permission: trusted.* needs CAP_SYS_ADMIN; user.* exists
/// on regular files and directories only (EPERM to write, ENODATA to read
/// elsewhere).
fn check(ctx: &SyscallContext, node: &dyn Inode, ns: &Namespace, write: bool) -> Result<(), Errno> {
    match ns {
        Namespace::Trusted if !privileged(ctx) => Err(if write { EPERM } else { ENODATA }),
        Namespace::User if !matches!(node.kind(), FileKind::Regular | FileKind::Directory) => {
            Err(if write { EPERM } else { ENODATA })
        }
        _ => Ok(()),
    }
}

fn get(ctx: &mut SyscallContext, target: Target, name: u64, buf: u64, size: u64) -> SysResult {
    let (node, _) = resolve(ctx, target)?;
    let name = read_name(ctx, name)?;
    let ns = namespace_of(&name)?;
    check(ctx, &*node, &ns, false)?;
    let value = node
        .xattrs()
        .and_then(|set| set.get(&name))
        .ok_or(ENODATA)?;
    if size == 0 {
        return Ok(value.len() as u64);
    }
    if (size as usize) < value.len() {
        return Err(ERANGE);
    }
    ctx.task.mm().copy_to_user(buf, &value)?;
    Ok(value.len() as u64)
}

fn list(ctx: &mut SyscallContext, target: Target, buf: u64, size: u64) -> SysResult {
    let (node, _) = resolve(ctx, target)?;
    let privileged = privileged(ctx);
    let mut out = Vec::new();
    if let Some(set) = node.xattrs() {
        for name in set.names() {
            // Trusted attributes are listed to CAP_SYS_ADMIN only.
            if name.starts_with(b"trusted.") && !privileged {
                continue;
            }
            out.extend_from_slice(&name);
            out.push(0);
        }
    }
    if size == 0 {
        return Ok(out.len() as u64);
    }
    if (size as usize) < out.len() {
        return Err(if out.len() as u64 > XATTR_LIST_MAX {
            E2BIG
        } else {
            ERANGE
        });
    }
    ctx.task.mm().copy_to_user(buf, &out)?;
    Ok(out.len() as u64)
}

fn set(
    ctx: &mut SyscallContext,
    target: Target,
    name: u64,
    value_addr: u64,
    size: u64,
    flags: u64,
) -> SysResult {
    if flags & !((XATTR_CREATE | XATTR_REPLACE) as u64) != 0 {
        return Err(EINVAL);
    }
    let (node, at) = resolve(ctx, target)?;
    let name = read_name(ctx, name)?;
    if size > XATTR_SIZE_MAX {
        return Err(E2BIG);
    }
    let mut value = alloc::vec![0u8; size as usize];
    ctx.task.mm().copy_from_user(value_addr, &mut value)?;
    let ns = namespace_of(&name)?;
    check(ctx, &*node, &ns, true)?;
    let store = node.xattrs().ok_or(EOPNOTSUPP)?;
    if node.read_only() {
        return Err(EROFS);
    }
    store.set(&name, &value, flags as u32)?;
    at.notify(IN_ATTRIB);
    Ok(0)
}

fn remove(ctx: &mut SyscallContext, target: Target, name: u64) -> SysResult {
    let (node, at) = resolve(ctx, target)?;
    let name = read_name(ctx, name)?;
    let ns = namespace_of(&name)?;
    check(ctx, &*node, &ns, true)?;
    // A filesystem that stores none has none to remove.
    let store = node.xattrs().ok_or(ENODATA)?;
    if node.read_only() {
        return Err(EROFS);
    }
    store.remove(&name)?;
    at.notify(IN_ATTRIB);
    Ok(0)
}

pub fn sys_getxattr(
    ctx: &mut SyscallContext,
    path: u64,
    name: u64,
    value: u64,
    size: u64,
) -> SysResult {
    get(
        ctx,
        Target::Path {
            addr: path,
            follow: true,
        },
        name,
        value,
        size,
    )
}

pub fn sys_lgetxattr(
    ctx: &mut SyscallContext,
    path: u64,
    name: u64,
    value: u64,
    size: u64,
) -> SysResult {
    get(
        ctx,
        Target::Path {
            addr: path,
            follow: false,
        },
        name,
        value,
        size,
    )
}

pub fn sys_fgetxattr(
    ctx: &mut SyscallContext,
    fd: i32,
    name: u64,
    value: u64,
    size: u64,
) -> SysResult {
    get(ctx, Target::Fd(fd), name, value, size)
}

pub fn sys_listxattr(ctx: &mut SyscallContext, path: u64, list: u64, size: u64) -> SysResult {
    self::list(
        ctx,
        Target::Path {
            addr: path,
            follow: true,
        },
        list,
        size,
    )
}

pub fn sys_llistxattr(ctx: &mut SyscallContext, path: u64, list: u64, size: u64) -> SysResult {
    self::list(
        ctx,
        Target::Path {
            addr: path,
            follow: false,
        },
        list,
        size,
    )
}

pub fn sys_flistxattr(ctx: &mut SyscallContext, fd: i32, list: u64, size: u64) -> SysResult {
    self::list(ctx, Target::Fd(fd), list, size)
}

pub fn sys_setxattr(
    ctx: &mut SyscallContext,
    path: u64,
    name: u64,
    value: u64,
    size: u64,
    flags: u64,
) -> SysResult {
    set(
        ctx,
        Target::Path {
            addr: path,
            follow: true,
        },
        name,
        value,
        size,
        flags,
    )
}

pub fn sys_lsetxattr(
    ctx: &mut SyscallContext,
    path: u64,
    name: u64,
    value: u64,
    size: u64,
    flags: u64,
) -> SysResult {
    set(
        ctx,
        Target::Path {
            addr: path,
            follow: false,
        },
        name,
        value,
        size,
        flags,
    )
}

pub fn sys_fsetxattr(
    ctx: &mut SyscallContext,
    fd: i32,
    name: u64,
    value: u64,
    size: u64,
    flags: u64,
) -> SysResult {
    set(ctx, Target::Fd(fd), name, value, size, flags)
}

pub fn sys_removexattr(ctx: &mut SyscallContext, path: u64, name: u64) -> SysResult {
    remove(
        ctx,
        Target::Path {
            addr: path,
            follow: true,
        },
        name,
    )
}

pub fn sys_lremovexattr(ctx: &mut SyscallContext, path: u64, name: u64) -> SysResult {
    remove(
        ctx,
        Target::Path {
            addr: path,
            follow: false,
        },
        name,
    )
}

pub fn sys_fremovexattr(ctx: &mut SyscallContext, fd: i32, name: u64) -> SysResult {
    remove(ctx, Target::Fd(fd), name)
}
