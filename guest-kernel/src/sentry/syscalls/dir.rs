//! Directories: reading one (getdents64), and the fs context that
//! CLONE_FS shares: the working directory (chdir, fchdir, getcwd), the
//! root directory (chroot) and the umask.

use alloc::vec::Vec;

use super::path::{lookup_at, may, read_path, AT_FDCWD};
use super::SyscallContext;
use crate::sentry::errno::*;
use crate::sentry::fd::*;
use crate::sentry::vfs::perm::MAY_EXEC;
use crate::sentry::vfs::FileKind;

pub fn sys_chdir(ctx: &mut SyscallContext, path: u64) -> SysResult {
    let path = read_path(ctx, path)?;
    let stack = lookup_at(ctx, AT_FDCWD, &path, true)?;
    if stack.node().kind() != FileKind::Directory {
        return Err(ENOTDIR);
    }
    may(ctx, &**stack.node(), MAY_EXEC)?;
    *ctx.task.cwd.lock() = stack;
    Ok(0)
}

pub fn sys_fchdir(ctx: &mut SyscallContext, fd: i32) -> SysResult {
    let file = ctx.task.fds().get(fd)?.clone();
    match &file.location {
        Some(stack) if stack.node().kind() == FileKind::Directory => {
            may(ctx, &**stack.node(), MAY_EXEC)?;
            *ctx.task.cwd.lock() = stack.clone();
            Ok(0)
        }
        _ => Err(ENOTDIR),
    }
}

/// chroot: the process's (its fs context's) root directory becomes the
/// directory at `path`: absolute paths start there and ".." stops there.
/// Linux's order: the lookup's errors, ENOTDIR, EACCES without search
/// permission on it, then EPERM without CAP_SYS_CHROOT.
pub fn sys_chroot(ctx: &mut SyscallContext, path: u64) -> SysResult {
    const CAP_SYS_CHROOT: u64 = 1 << 18;
    let path = read_path(ctx, path)?;
    let stack = lookup_at(ctx, AT_FDCWD, &path, true)?;
    if stack.node().kind() != FileKind::Directory {
        return Err(ENOTDIR);
    }
    may(ctx, &**stack.node(), MAY_EXEC)?;
    if ctx.task.creds.caps().effective & CAP_SYS_CHROOT == 0 {
        return Err(EPERM);
    }
    *ctx.task.root.lock() = Some(stack);
    Ok(0)
}

pub fn sys_getcwd(ctx: &mut SyscallContext, buf: u64, size: usize) -> SysResult {
    let cwd = ctx.task.cwd();
    // As seen from the root directory; a working directory outside it
    // (chroot without chdir) is "(unreachable)" and its full path.
    let mut path = cwd.path_within(&ctx.task.root_dir()).unwrap_or_else(|| {
        let mut path = b"(unreachable)".to_vec();
        path.extend_from_slice(&cwd.path());
        path
    });
    path.push(0);
    if size < path.len() {
        return Err(ERANGE);
    }
    ctx.task.mm().copy_to_user(buf, &path)?;
    Ok(path.len() as u64)
}

pub fn sys_getdents64(ctx: &mut SyscallContext, fd: i32, buf: u64, count: usize) -> SysResult {
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

pub fn sys_umask(ctx: &mut SyscallContext, mask: u32) -> SysResult {
    let old = ctx.task.umask;
    ctx.task.umask = mask & 0o777;
    Ok(old as u64)
}
