//! File status: stat/lstat/fstat/newfstatat, statx, access/faccessat
//! (faccessat2), statfs/fstatfs, and the old sysfs and ustat.

use crate::sentry::mm::usermem::UserPtr;

use super::path::{
    node_at, AT_EACCESS, AT_EMPTY_PATH, AT_FDCWD, AT_NO_AUTOMOUNT, AT_STATX_SYNC_TYPE,
    AT_SYMLINK_NOFOLLOW,
};
use super::SyscallContext;
use crate::sentry::errno::*;
use crate::sentry::stat::*;
use crate::sentry::vfs::perm::Owned;
use crate::sentry::vfs::{accessor_for, owned, Inode};
use alloc::sync::Arc;

/// `struct stat` as the application's architecture lays it out
/// (`Stat::to_user`).
#[cfg(target_arch = "x86_64")]
type UserStat = Stat;
#[cfg(target_arch = "aarch64")]
type UserStat = crate::sentry::stat::GenericStat;

pub fn sys_fstat(ctx: &mut SyscallContext, fd: i32, statbuf: UserPtr<UserStat>) -> SysResult {
    let stat = ctx.task.fds().get(fd)?.file.stat();
    statbuf.write(&mut ctx.task.mm(), &stat.to_user())?;
    Ok(0)
}

pub fn sys_stat(ctx: &mut SyscallContext, path: u64, statbuf: UserPtr<UserStat>) -> SysResult {
    let stat = node_at(ctx, AT_FDCWD, path, 0)?.stat();
    statbuf.write(&mut ctx.task.mm(), &stat.to_user())?;
    Ok(0)
}

pub fn sys_lstat(ctx: &mut SyscallContext, path: u64, statbuf: UserPtr<UserStat>) -> SysResult {
    let stat = node_at(ctx, AT_FDCWD, path, AT_SYMLINK_NOFOLLOW)?.stat();
    statbuf.write(&mut ctx.task.mm(), &stat.to_user())?;
    Ok(0)
}

pub fn sys_newfstatat(
    ctx: &mut SyscallContext,
    dirfd: i32,
    path: u64,
    statbuf: UserPtr<UserStat>,
    flags: u64,
) -> SysResult {
    if flags & !(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT) != 0 {
        return Err(EINVAL);
    }
    let stat = node_at(ctx, dirfd, path, flags)?.stat();
    statbuf.write(&mut ctx.task.mm(), &stat.to_user())?;
    Ok(0)
}

pub(super) use crate::sentry::stat::{dev_major, dev_minor};

pub fn sys_statx(
    ctx: &mut SyscallContext,
    dirfd: i32,
    path: u64,
    flags: u64,
    request_mask: u64,
    buf: UserPtr<[u8; 256]>,
) -> SysResult {
    const STATX_BASIC_STATS: u32 = 0x7ff;
    if flags & !(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_STATX_SYNC_TYPE) != 0
        || flags & AT_STATX_SYNC_TYPE == AT_STATX_SYNC_TYPE
    {
        return Err(EINVAL);
    }
    if request_mask & 0x8000_0000 != 0 {
        return Err(EINVAL); // STATX__RESERVED
    }
    const STATX_MNT_ID: u32 = 0x1000;
    const STATX_MNT_ID_UNIQUE: u32 = 0x4000;
    let node = node_at(ctx, dirfd, path, flags)?;
    let s = node.stat();
    // The mount the node was reached through (an open file: where it was
    // opened; one without a path has no mount here).
    let location = match &node {
        super::path::NodeRef::Path(stack) => Some(stack.clone()),
        super::path::NodeRef::File(file) => file.location.clone(),
    };
    let mount = location.map(|stack| ctx.task.namespace.mount_of(&stack).0.id);
    let mut out = [0u8; 256];
    let mut put =
        |offset: usize, bytes: &[u8]| out[offset..offset + bytes.len()].copy_from_slice(bytes);
    let mut mask = STATX_BASIC_STATS;
    if let Some(id) = mount {
        // Linux's vfs_getattr: the unique id when asked for, else the old one.
        if request_mask as u32 & STATX_MNT_ID_UNIQUE != 0 {
            mask |= STATX_MNT_ID_UNIQUE;
            put(144, &id.unique.to_le_bytes());
        } else {
            mask |= STATX_MNT_ID;
            put(144, &u64::from(id.old).to_le_bytes());
        }
    }
    put(0, &mask.to_le_bytes());
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
    buf.write(&mut ctx.task.mm(), &out)?;
    Ok(0)
}

fn access_at(ctx: &mut SyscallContext, dirfd: i32, path: u64, mode: u64, flags: u64) -> SysResult {
    if mode & !7 != 0 || flags & !(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(EINVAL);
    }
    // Checked as the real ids (Linux's access_override_creds), the lookup
    // included, unless AT_EACCESS asks for the effective ones.
    let saved = (flags & AT_EACCESS == 0).then(|| {
        let real = ctx.task.creds.for_access();
        core::mem::replace(&mut ctx.task.creds, real)
    });
    let result = access_check(ctx, dirfd, path, mode, flags);
    if let Some(creds) = saved {
        ctx.task.creds = creds;
    }
    result
}

fn access_check(
    ctx: &mut SyscallContext,
    dirfd: i32,
    path: u64,
    mode: u64,
    flags: u64,
) -> SysResult {
    const W_OK: u64 = 2;
    let node = node_at(ctx, dirfd, path, flags)?;
    let inode = match node.inode() {
        Ok(inode) => inode,
        // An fd without an inode (a pipe): its own mode decides.
        Err(_) => {
            let stat = node.stat();
            let who = ctx.task.creds.accessor();
            return who
                .check(
                    Owned {
                        mode: stat.mode,
                        uid: stat.uid,
                        gid: stat.gid,
                    },
                    mode as u32,
                )
                .map(|_| 0);
        }
    };
    if mode & W_OK != 0 && inode.read_only() {
        return Err(EROFS);
    }
    // F_OK: the lookup was the check. Root reads and writes anything but
    // executes only what has an execute bit (or a directory): perm.rs.
    if mode != 0 {
        let who = accessor_for(&ctx.task.creds.accessor(), &*inode);
        who.check(owned(&*inode), mode as u32)?;
    }
    Ok(0)
}

pub fn sys_access(ctx: &mut SyscallContext, path: u64, mode: u64) -> SysResult {
    access_at(ctx, AT_FDCWD, path, mode, 0)
}

pub fn sys_faccessat(ctx: &mut SyscallContext, dirfd: i32, path: u64, mode: u64) -> SysResult {
    access_at(ctx, dirfd, path, mode, 0)
}

pub fn sys_faccessat2(
    ctx: &mut SyscallContext,
    dirfd: i32,
    path: u64,
    mode: u64,
    flags: u64,
) -> SysResult {
    access_at(ctx, dirfd, path, mode, flags)
}

/// statfs of a node: a host directory's comes from the host (its real
/// type, sizes and flags), the sentry's own filesystems' from here.
pub(super) fn statfs_of_node(
    stat: &Stat,
    inode: Option<Arc<dyn Inode>>,
) -> Result<[u64; 15], Errno> {
    if let Some(result) = inode.as_ref().and_then(|inode| inode.statfs()) {
        return result;
    }
    let mut out = statfs_of(stat);
    if inode.is_some_and(|inode| inode.read_only()) {
        out[10] |= 1; // ST_RDONLY
    }
    Ok(out)
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
    out[10] = 0x20; // f_flags: ST_VALID, as Linux always sets
    out
}

pub fn sys_statfs(ctx: &mut SyscallContext, path: u64, buf: UserPtr<[u64; 15]>) -> SysResult {
    let node = node_at(ctx, AT_FDCWD, path, 0)?;
    let statfs = statfs_of_node(&node.stat(), node.inode().ok())?;
    buf.write(&mut ctx.task.mm(), &statfs)?;
    Ok(0)
}

pub fn sys_fstatfs(ctx: &mut SyscallContext, fd: i32, buf: UserPtr<[u64; 15]>) -> SysResult {
    let file = ctx.task.fds().get(fd)?.file.clone();
    let statfs = statfs_of_node(&file.stat(), file.inode())?;
    buf.write(&mut ctx.task.mm(), &statfs)?;
    Ok(0)
}

/// sysfs(2), the old filesystem-type query: 1, the index of a type by
/// name; 2, the name of an index; 3, how many types there are.
pub fn sys_sysfs(ctx: &mut SyscallContext, option: i32, arg1: u64, arg2: u64) -> SysResult {
    use crate::sentry::vfs::FILESYSTEM_TYPES;
    match option {
        1 => {
            let name = ctx
                .task
                .mm()
                .read_cstring(arg1, crate::sentry::vfs::PATH_MAX - 1)?;
            if name.is_empty() {
                return Err(ENOENT);
            }
            let index = FILESYSTEM_TYPES.iter().position(|&t| t == name.as_slice());
            index.map(|i| i as u64).ok_or(EINVAL)
        }
        2 => {
            let name = FILESYSTEM_TYPES.get(arg1 as u32 as usize).ok_or(EINVAL)?;
            let mut out = name.to_vec();
            out.push(0);
            ctx.task.mm().copy_to_user(arg2, &out)?;
            Ok(0)
        }
        3 => Ok(FILESYSTEM_TYPES.len() as u64),
        _ => Err(EINVAL),
    }
}

/// ustat(2): free blocks and inodes of the mounted filesystem whose
/// device number is `dev` (EINVAL for none).
pub fn sys_ustat(ctx: &mut SyscallContext, dev: u32, ubuf: u64) -> SysResult {
    let dev = dev as u64;
    let namespace = ctx.task.namespace.clone();
    let stat = namespace
        .filesystem_roots()
        .iter()
        .map(|root| root.stat())
        .find(|stat| stat.dev == dev)
        .ok_or(EINVAL)?;
    let statfs = statfs_of(&stat);
    // struct ustat: int f_tfree; ino_t f_tinode; char f_fname[6],
    // f_fpack[6] (zeroed), padded to 32 bytes.
    let mut out = [0u8; 32];
    // (f_tfree takes the low 32 bits, as Linux's assignment does.)
    out[..4].copy_from_slice(&(statfs[3] as u32).to_le_bytes());
    out[8..16].copy_from_slice(&statfs[6].to_le_bytes());
    ctx.task.mm().copy_to_user(ubuf, &out)?;
    Ok(0)
}
