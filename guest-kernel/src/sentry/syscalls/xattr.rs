//! Extended attributes: get/list/set/removexattr and their l- (no
//! symlink following) and f- (by descriptor) forms.
//!
//! No filesystem of the sandbox stores extended attributes: every file has
//! none (listing is empty, reading one is ENODATA), and setting one is
//! EOPNOTSUPP, as on a filesystem mounted without xattr support. The path
//! or fd is resolved first, so ENOENT/EBADF come out as on Linux.

use super::fd_arg;
use super::path::{node_at, AT_FDCWD, AT_SYMLINK_NOFOLLOW};
use super::SyscallContext;
use crate::sentry::errno::*;
use crate::sentry::fd::*;

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
