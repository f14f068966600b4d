//! mount(2) and umount2(2) in the caller's mount namespace: new tmpfs
//! instances and bind mounts, listed in /proc/mounts (which reports each
//! change to pollers, as Linux's does). The sandbox's own mounts (its root,
//! /proc, /dev, /tmp, the --mount directories) stay.
//!
//! Not supported, each an honest error logged once: other filesystem types
//! (ENODEV, as for a type the kernel does not know), remounting anything
//! but a tmpfs (which may become read-only and back), per-mount flags
//! (MS_REMOUNT|MS_BIND), moving mounts, shared propagation (no mount is ever shared
//! in the sandbox, so private, slave and unbindable are what every mount
//! already is).

use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};

use super::path::{lookup_at, read_path, AT_FDCWD};
use super::SyscallContext;
use crate::sentry::errno::*;
use crate::sentry::vfs::{FileKind, Inode};

const CAP_SYS_ADMIN: u32 = 21;

const MS_RDONLY: u64 = 1;
const MS_NOSUID: u64 = 2;
const MS_NODEV: u64 = 4;
const MS_NOEXEC: u64 = 8;
const MS_SYNCHRONOUS: u64 = 16;
const MS_REMOUNT: u64 = 32;
const MS_MANDLOCK: u64 = 64;
const MS_DIRSYNC: u64 = 128;
const MS_NOSYMFOLLOW: u64 = 256;
const MS_NOATIME: u64 = 1024;
const MS_NODIRATIME: u64 = 2048;
const MS_BIND: u64 = 4096;
const MS_MOVE: u64 = 8192;
const MS_REC: u64 = 16384;
const MS_SILENT: u64 = 32768;
const MS_UNBINDABLE: u64 = 1 << 17;
const MS_PRIVATE: u64 = 1 << 18;
const MS_SLAVE: u64 = 1 << 19;
const MS_SHARED: u64 = 1 << 20;
const MS_RELATIME: u64 = 1 << 21;
const MS_STRICTATIME: u64 = 1 << 24;
const MS_LAZYTIME: u64 = 1 << 25;
/// The old magic number in the top half of the flags (ignored, as Linux).
const MS_MGC_MSK: u64 = 0xffff_0000;
const MS_MGC_VAL: u64 = 0xc0ed_0000;
const PROPAGATION: u64 = MS_SHARED | MS_PRIVATE | MS_SLAVE | MS_UNBINDABLE;

const MNT_FORCE: u64 = 1;
const MNT_DETACH: u64 = 2;
const MNT_EXPIRE: u64 = 4;
const UMOUNT_NOFOLLOW: u64 = 8;

fn unsupported(what: &str, logged: &AtomicBool) {
    if !logged.swap(true, Ordering::Relaxed) {
        log::info!("mount: {what} is not supported");
    }
}

/// mount(source, target, fstype, flags, data).
pub fn sys_mount(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    static LOGGED: [AtomicBool; 4] = [const { AtomicBool::new(false) }; 4];
    let mut flags = args[3];
    if flags & MS_MGC_MSK == MS_MGC_VAL {
        flags &= !MS_MGC_MSK;
    }
    // A Landlock domain forbids changing the mount topology (Linux's
    // hook_sb_mount and friends).
    if !ctx.task.creds.has_cap(CAP_SYS_ADMIN) || ctx.task.creds.landlock.is_some() {
        return Err(EPERM);
    }
    let target = read_path(ctx, args[1])?;
    let at = lookup_at(ctx, AT_FDCWD, &target, flags & MS_NOSYMFOLLOW == 0)?;
    let namespace = ctx.task.namespace.clone();

    // Changing propagation: one type, on a mount point.
    if flags & PROPAGATION != 0 {
        let kind = flags & PROPAGATION;
        if !kind.is_power_of_two() || flags & !(PROPAGATION | MS_REC | MS_SILENT) != 0 {
            return Err(EINVAL);
        }
        if !at.is_at(&namespace.root_stack()) && !namespace.is_mount_point(at.node()) {
            return Err(EINVAL);
        }
        if kind == MS_SHARED {
            unsupported("shared propagation (MS_SHARED)", &LOGGED[0]);
            return Err(EINVAL);
        }
        return Ok(0);
    }
    if flags & MS_REMOUNT != 0 {
        return remount(&namespace, &at, flags, &LOGGED[1]);
    }
    if flags & MS_MOVE != 0 {
        unsupported("moving a mount (MS_MOVE)", &LOGGED[2]);
        return Err(EINVAL);
    }
    // Over the namespace's root nothing would show: path walks start there.
    if at.is_at(&namespace.root_stack()) {
        return Err(EBUSY);
    }
    let mount_point = at.path();
    let known = MS_RDONLY
        | MS_NOSUID
        | MS_NODEV
        | MS_NOEXEC
        | MS_SYNCHRONOUS
        | MS_MANDLOCK
        | MS_DIRSYNC
        | MS_NOSYMFOLLOW
        | MS_NOATIME
        | MS_NODIRATIME
        | MS_BIND
        | MS_REC
        | MS_SILENT
        | MS_RELATIME
        | MS_STRICTATIME
        | MS_LAZYTIME;
    if flags & !known != 0 {
        return Err(EINVAL);
    }
    if flags & MS_BIND != 0 {
        // What the source names becomes visible at the target too (with
        // the mounts below it: every bind is recursive here).
        let source = read_path(ctx, args[0])?;
        let from = lookup_at(ctx, AT_FDCWD, &source, true)?;
        let line = (
            from.path(),
            mount_point,
            b"none".to_vec(),
            options(flags, &[]),
        );
        namespace.mount_listed(at.node(), from.node().clone(), line)?;
        return Ok(0);
    }
    let fstype = read_path(ctx, args[2])?;
    let data = if args[4] == 0 {
        Vec::new()
    } else {
        read_path(ctx, args[4])?
    };
    let source = if args[0] == 0 {
        b"none".to_vec()
    } else {
        read_path(ctx, args[0])?
    };
    if fstype != b"tmpfs" && fstype != b"ramfs" {
        unsupported("a filesystem type other than tmpfs and ramfs", &LOGGED[3]);
        return Err(ENODEV);
    }
    if at.node().kind() != FileKind::Directory {
        return Err(ENOTDIR);
    }
    let root = crate::sentry::vfs::tmpfs::TmpfsNode::new_root(crate::sentry::vfs::DEV_TMPFS);
    let root_options = tmpfs_options(&data, &*root)?;
    if flags & MS_RDONLY != 0 {
        root.superblock().set_read_only(true)?;
    }
    let line = (source, mount_point, fstype, options(flags, &root_options));
    namespace.mount_listed(at.node(), root, line)?;
    Ok(0)
}

/// MS_REMOUNT: a tmpfs mounted at `at` (the root of a mount) becomes
/// read-only or writable again as MS_RDONLY says (Linux's do_remount
/// changes the super block: every mount of that tmpfs). EBUSY when
/// made read-only while a file of it is open for writing. The other
/// flags change nothing the sandbox enforces. Per-mount flags
/// (MS_REMOUNT|MS_BIND) and other filesystems are not supported (EINVAL).
fn remount(
    namespace: &crate::sentry::vfs::Namespace,
    at: &crate::sentry::vfs::PathStack,
    flags: u64,
    logged: &AtomicBool,
) -> SysResult {
    let known = MS_RDONLY
        | MS_NOSUID
        | MS_NODEV
        | MS_NOEXEC
        | MS_SYNCHRONOUS
        | MS_REMOUNT
        | MS_MANDLOCK
        | MS_DIRSYNC
        | MS_NOSYMFOLLOW
        | MS_NOATIME
        | MS_NODIRATIME
        | MS_BIND
        | MS_SILENT
        | MS_RELATIME
        | MS_STRICTATIME
        | MS_LAZYTIME;
    if flags & !known != 0 {
        return Err(EINVAL);
    }
    // Only the root of a mount can be remounted.
    if !at.is_at(&namespace.root_stack()) && !namespace.is_mount_point(at.node()) {
        return Err(EINVAL);
    }
    if flags & MS_BIND != 0 {
        unsupported("per-mount flags (MS_REMOUNT|MS_BIND)", logged);
        return Err(EINVAL);
    }
    let Some(tmpfs) = at
        .node()
        .as_any()
        .downcast_ref::<crate::sentry::vfs::tmpfs::TmpfsNode>()
    else {
        unsupported("remounting a filesystem other than tmpfs", logged);
        return Err(EINVAL);
    };
    let read_only = flags & MS_RDONLY != 0;
    tmpfs.superblock().set_read_only(read_only)?;
    namespace.show_read_only(at.node(), read_only);
    Ok(0)
}

/// Applies tmpfs's mode=, uid= and gid= options to its root and returns
/// the options /proc/mounts shows (size= and the like are accepted: the
/// sandbox's memory bounds every tmpfs). An unknown option is EINVAL.
fn tmpfs_options(data: &[u8], root: &dyn Inode) -> Result<Vec<u8>, Errno> {
    let mut shown = Vec::new();
    for option in data.split(|&b| b == b',').filter(|o| !o.is_empty()) {
        let (key, value) = match option.iter().position(|&b| b == b'=') {
            Some(i) => (&option[..i], &option[i + 1..]),
            None => (option, &b""[..]),
        };
        let number = |radix: u32| {
            core::str::from_utf8(value)
                .ok()
                .and_then(|v| u32::from_str_radix(v, radix).ok())
                .ok_or(EINVAL)
        };
        match key {
            b"mode" => root.set_mode(number(8)? & 0o7777)?,
            b"uid" => root.set_owner(Some(number(10)?), None)?,
            b"gid" => root.set_owner(None, Some(number(10)?))?,
            b"size" | b"nr_blocks" | b"nr_inodes" | b"huge" | b"mpol" | b"noswap" => {}
            _ => return Err(EINVAL),
        }
        shown.push(b',');
        shown.extend_from_slice(option);
    }
    Ok(shown)
}

/// The options column: rw/ro, the flags that show, then the filesystem's.
fn options(flags: u64, extra: &[u8]) -> Vec<u8> {
    let mut out = if flags & MS_RDONLY != 0 {
        b"ro".to_vec()
    } else {
        b"rw".to_vec()
    };
    for (flag, name) in [
        (MS_NOSUID, &b",nosuid"[..]),
        (MS_NODEV, b",nodev"),
        (MS_NOEXEC, b",noexec"),
        (MS_SYNCHRONOUS, b",sync"),
        (MS_NOATIME, b",noatime"),
        (MS_NODIRATIME, b",nodiratime"),
    ] {
        if flags & flag != 0 {
            out.extend_from_slice(name);
        }
    }
    if flags & (MS_NOATIME | MS_STRICTATIME) == 0 {
        out.extend_from_slice(b",relatime");
    }
    out.extend_from_slice(extra);
    out
}

/// umount2(target, flags).
pub fn sys_umount2(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    static LOGGED: AtomicBool = AtomicBool::new(false);
    let flags = args[1];
    if flags & !(MNT_FORCE | MNT_DETACH | MNT_EXPIRE | UMOUNT_NOFOLLOW) != 0 {
        return Err(EINVAL);
    }
    if flags & MNT_EXPIRE != 0 {
        if flags & (MNT_FORCE | MNT_DETACH) != 0 {
            return Err(EINVAL);
        }
        unsupported("umount2 MNT_EXPIRE", &LOGGED);
        return Err(EINVAL);
    }
    if !ctx.task.creds.has_cap(CAP_SYS_ADMIN) || ctx.task.creds.landlock.is_some() {
        return Err(EPERM);
    }
    let target = read_path(ctx, args[0])?;
    let at = lookup_at(ctx, AT_FDCWD, &target, flags & UMOUNT_NOFOLLOW == 0)?;
    ctx.task.namespace.clone().unmount(&at)?;
    Ok(0)
}
