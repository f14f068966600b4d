//! mount(2) and umount2(2) in the caller's mount namespace: new tmpfs
//! instances and bind mounts, listed in /proc/mounts (which reports each
//! change to pollers, as Linux's does). The sandbox's own mounts (its root,
//! /proc, /dev, /tmp, the --mount directories) stay.
//!
//! Not supported, each an honest error logged once: other filesystem types
//! (ENODEV, as for a type the kernel does not know), remounting anything
//! but a tmpfs (which may become read-only and back), per-mount flags
//! (MS_REMOUNT|MS_BIND), moving mounts, shared propagation (no mount is ever shared
//! in the sandbox, so private and slave are what every mount already is;
//! unbindable is recorded and refuses bind mounts).
//!
//! statmount(2) and listmount(2) describe and list the mounts by their
//! 64-bit ids (vfs/mount_ids.rs).

use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};

use super::path::{lookup_at, read_path, AT_FDCWD};
use super::SyscallContext;
use crate::sentry::errno::*;
use crate::sentry::vfs::mount_ids::{self, MountMeta};
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
pub fn sys_mount(
    ctx: &mut SyscallContext,
    source: u64,
    target: u64,
    fstype: u64,
    mut flags: u64,
    data: u64,
) -> SysResult {
    static LOGGED: [AtomicBool; 4] = [const { AtomicBool::new(false) }; 4];
    if flags & MS_MGC_MSK == MS_MGC_VAL {
        flags &= !MS_MGC_MSK;
    }
    // A Landlock domain forbids changing the mount topology (Linux's
    // hook_sb_mount and friends).
    if !ctx.task.creds.has_cap(CAP_SYS_ADMIN) || ctx.task.creds.landlock.is_some() {
        return Err(EPERM);
    }
    let target = read_path(ctx, target)?;
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
        // Private and slave (of nothing: no mount is shared) are the same;
        // unbindable is recorded, and refuses bind mounts of it.
        namespace.set_unbindable(&at, kind == MS_UNBINDABLE, flags & MS_REC != 0);
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
        let source = read_path(ctx, source)?;
        let from = lookup_at(ctx, AT_FDCWD, &source, true)?;
        // The new mount shows the source's filesystem from the source
        // directory down, with the source mount's attributes (Linux's
        // clone_mnt: MS_BIND takes no other flags).
        let (source_mount, depth) = namespace.mount_of(&from);
        if source_mount.unbindable {
            return Err(EINVAL);
        }
        let names: Vec<&[u8]> = from.0[depth + 1..].iter().map(|(n, _)| &n[..]).collect();
        let meta = MountMeta::described(
            mount_ids::join(&source_mount.root, &names),
            source_mount.fstype.clone(),
            source_mount.attr,
            source_mount.sb_flags,
        );
        let line = (
            from.path(),
            mount_point,
            b"none".to_vec(),
            options(flags, &[]),
        );
        namespace.mount_listed(&at, from.node().clone(), line, meta)?;
        return Ok(0);
    }
    let fstype = read_path(ctx, fstype)?;
    let data = if data == 0 {
        Vec::new()
    } else {
        read_path(ctx, data)?
    };
    let source = if source == 0 {
        b"none".to_vec()
    } else {
        read_path(ctx, source)?
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
    let meta = MountMeta::described(
        b"/".to_vec(),
        fstype.clone(),
        mount_attr(flags),
        (flags & (MS_SYNCHRONOUS | MS_DIRSYNC | MS_LAZYTIME)) as u32,
    );
    let line = (source, mount_point, fstype, options(flags, &root_options));
    namespace.mount_listed(&at, root, line, meta)?;
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

/// statmount's mnt_attr (MOUNT_ATTR_*) of a new mount made with `flags`.
fn mount_attr(flags: u64) -> u64 {
    use mount_ids::*;
    let mut attr = 0;
    for (flag, bit) in [
        (MS_RDONLY, MOUNT_ATTR_RDONLY),
        (MS_NOSUID, MOUNT_ATTR_NOSUID),
        (MS_NODEV, MOUNT_ATTR_NODEV),
        (MS_NOEXEC, MOUNT_ATTR_NOEXEC),
        (MS_NOATIME, MOUNT_ATTR_NOATIME),
        (MS_STRICTATIME, MOUNT_ATTR_STRICTATIME),
        (MS_NODIRATIME, MOUNT_ATTR_NODIRATIME),
        (MS_NOSYMFOLLOW, MOUNT_ATTR_NOSYMFOLLOW),
    ] {
        if flags & flag != 0 {
            attr |= bit;
        }
    }
    // MS_NOATIME wins over MS_STRICTATIME, as in Linux's do_new_mount.
    if attr & MOUNT_ATTR_NOATIME != 0 {
        attr &= !MOUNT_ATTR_STRICTATIME;
    }
    attr
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
pub fn sys_umount2(ctx: &mut SyscallContext, target: u64, flags: u64) -> SysResult {
    static LOGGED: AtomicBool = AtomicBool::new(false);
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
    let target = read_path(ctx, target)?;
    let at = lookup_at(ctx, AT_FDCWD, &target, flags & UMOUNT_NOFOLLOW == 0)?;
    ctx.task.namespace.clone().unmount(&at)?;
    Ok(0)
}

const STATMOUNT_SB_BASIC: u64 = 0x01;
const STATMOUNT_MNT_BASIC: u64 = 0x02;
const STATMOUNT_PROPAGATE_FROM: u64 = 0x04;
const STATMOUNT_MNT_ROOT: u64 = 0x08;
const STATMOUNT_MNT_POINT: u64 = 0x10;
const STATMOUNT_FS_TYPE: u64 = 0x20;
/// listmount's "the mounts under the caller's root".
const LSMT_ROOT: u64 = u64::MAX;
const MNT_ID_REQ_SIZE_VER0: usize = 24;
/// sizeof(struct statmount) (Linux 6.8's, strings follow it).
const STATMOUNT_SIZE: usize = 512;
/// The superblock flags statmount shows.
const SB_SHOWN: u32 = (MS_RDONLY | MS_SYNCHRONOUS | MS_DIRSYNC | MS_LAZYTIME) as u32;

/// Reads `struct mnt_id_req { u32 size, spare; u64 mnt_id, param; }`
/// as Linux's copy_mnt_id_req: its size first (EINVAL below the first
/// version, E2BIG above a page or with unknown nonzero bytes), a nonzero
/// spare is EINVAL. Returns (mnt_id, param).
fn read_mnt_id_req(ctx: &mut SyscallContext, addr: u64) -> Result<(u64, u64), Errno> {
    let mut head = [0u8; 4];
    ctx.task.mm().copy_from_user(addr, &mut head)?;
    let size = u32::from_le_bytes(head) as usize;
    if size > 4096 {
        return Err(E2BIG);
    }
    if size < MNT_ID_REQ_SIZE_VER0 {
        return Err(EINVAL);
    }
    let mut raw = alloc::vec![0u8; size];
    ctx.task.mm().copy_from_user(addr, &mut raw)?;
    if raw[MNT_ID_REQ_SIZE_VER0..].iter().any(|&b| b != 0) {
        return Err(E2BIG);
    }
    let word = |i: usize| u64::from_le_bytes(raw[i..i + 8].try_into().expect("8 bytes"));
    if word(0) >> 32 != 0 {
        return Err(EINVAL); // spare
    }
    Ok((word(8), word(16)))
}

/// Linux's access_ok: the range lies in user space.
fn user_range_ok(addr: u64, len: u64) -> bool {
    addr.checked_add(len)
        .is_some_and(|end| end <= crate::arch::USER_END)
}

/// statmount(req, buf, bufsize, flags): what the mount `req.mnt_id` is,
/// the parts `req.param` asks for. The struct is copied up to `bufsize`
/// (its `size` says how much was written); strings follow it and must fit
/// (EOVERFLOW). A mount outside the caller's root is EPERM without
/// CAP_SYS_ADMIN.
pub fn sys_statmount(
    ctx: &mut SyscallContext,
    req: u64,
    buf: u64,
    bufsize: u64,
    flags: u32,
) -> SysResult {
    if flags != 0 {
        return Err(EINVAL);
    }
    let (mnt_id, mask) = read_mnt_id_req(ctx, req)?;
    if !user_range_ok(buf, bufsize) {
        return Err(EFAULT);
    }
    // An old (small) id is no unique id (Linux since 6.11).
    if mnt_id < mount_ids::MNT_UNIQUE_ID_OFFSET {
        return Err(EINVAL);
    }
    let namespace = ctx.task.namespace.clone();
    let (meta, root) = namespace.mount_by_id(mnt_id).ok_or(ENOENT)?;
    let root_dir = ctx.task.root_dir().path();
    if !ctx.task.creds.has_cap(CAP_SYS_ADMIN) && !mount_ids::path_beneath(&meta.point, &root_dir) {
        return Err(EPERM);
    }
    let mut sm = [0u8; STATMOUNT_SIZE];
    let mut put = |offset: usize, bytes: &[u8]| {
        sm[offset..offset + bytes.len()].copy_from_slice(bytes);
    };
    let mut shown = 0;
    if mask & STATMOUNT_SB_BASIC != 0 {
        let stat = root.stat();
        let magic = super::stat::statfs_of_node(&stat, Some(root.clone()))?[0];
        put(16, &super::stat::dev_major(stat.dev).to_le_bytes());
        put(20, &super::stat::dev_minor(stat.dev).to_le_bytes());
        put(24, &magic.to_le_bytes());
        put(32, &(meta.sb_flags & SB_SHOWN).to_le_bytes());
        shown |= STATMOUNT_SB_BASIC;
    }
    if mask & STATMOUNT_MNT_BASIC != 0 {
        // No mount is shared or a slave: no peer group, no master.
        let propagation = if meta.unbindable {
            MS_UNBINDABLE
        } else {
            MS_PRIVATE
        };
        put(40, &meta.id.unique.to_le_bytes());
        put(48, &meta.parent.unique.to_le_bytes());
        put(56, &meta.id.old.to_le_bytes());
        put(60, &meta.parent.old.to_le_bytes());
        put(64, &meta.attr.to_le_bytes());
        put(72, &propagation.to_le_bytes());
        shown |= STATMOUNT_MNT_BASIC;
    }
    if mask & STATMOUNT_PROPAGATE_FROM != 0 {
        // Only a slave propagates from a peer group: 0.
        shown |= STATMOUNT_PROPAGATE_FROM;
    }
    // The strings follow the struct, after an empty one (an offset of 0
    // names no string; Linux since 6.12). A string that comes out empty
    // (a mount point outside the caller's root) is left out.
    let mut strings = Vec::new();
    for (flag, field, text) in [
        (STATMOUNT_FS_TYPE, 36, meta.fstype.clone()),
        (STATMOUNT_MNT_ROOT, 104, meta.root.clone()),
        (
            STATMOUNT_MNT_POINT,
            108,
            mount_ids::path_from(&meta.point, &root_dir),
        ),
    ] {
        if mask & flag == 0 {
            continue;
        }
        if strings.is_empty() {
            strings.push(0);
        }
        if text.is_empty() {
            continue;
        }
        let start = strings.len();
        strings.extend_from_slice(&text);
        // Linux's statmount_string: the string and its NUL must fit.
        if (STATMOUNT_SIZE + strings.len()) as u64 >= bufsize {
            return Err(EOVERFLOW);
        }
        strings.push(0);
        put(field, &(start as u32).to_le_bytes());
        shown |= flag;
    }
    let copied = (bufsize as usize).min(STATMOUNT_SIZE);
    put(0, &((copied + strings.len()) as u32).to_le_bytes());
    put(8, &shown.to_le_bytes());
    let mut mm = ctx.task.mm();
    if !strings.is_empty() {
        mm.copy_to_user(buf + STATMOUNT_SIZE as u64, &strings)?;
    }
    if copied > 0 {
        mm.copy_to_user(buf, &sm[..copied])?;
    }
    Ok(0)
}

/// listmount(req, mnt_ids, nr_mnt_ids, flags): the unique ids, in
/// increasing order and above `req.param`, of the mounts beneath the
/// mount `req.mnt_id` (LSMT_ROOT: beneath the caller's root, its mount
/// included when the root is a mount's root). Returns how many it wrote.
pub fn sys_listmount(
    ctx: &mut SyscallContext,
    req: u64,
    ids_addr: u64,
    nr: u64,
    flags: u32,
) -> SysResult {
    if flags != 0 {
        return Err(EINVAL);
    }
    if nr > u64::MAX >> 3 || !user_range_ok(ids_addr, nr * 8) {
        return Err(EFAULT);
    }
    let (mnt_id, last) = read_mnt_id_req(ctx, req)?;
    if mnt_id != LSMT_ROOT && mnt_id < mount_ids::MNT_UNIQUE_ID_OFFSET {
        return Err(EINVAL);
    }
    if last != 0 && last < mount_ids::MNT_UNIQUE_ID_OFFSET {
        return Err(EINVAL);
    }
    let namespace = ctx.task.namespace.clone();
    let root_stack = ctx.task.root_dir();
    let root_dir = root_stack.path();
    let all = namespace.mount_metas();
    let (top, with_top, within) = if mnt_id == LSMT_ROOT {
        let (mount, depth) = namespace.mount_of(&root_stack);
        (mount, depth + 1 == root_stack.0.len(), &root_dir[..])
    } else {
        let mount = all
            .iter()
            .find(|m| m.id.unique == mnt_id)
            .cloned()
            .ok_or(ENOENT)?;
        if !ctx.task.creds.has_cap(CAP_SYS_ADMIN)
            && !mount_ids::path_beneath(&mount.point, &root_dir)
        {
            return Err(EPERM);
        }
        (mount, false, &b"/"[..])
    };
    // The table lists parents before their children.
    let mut beneath = alloc::vec![top.id];
    for m in &all {
        if m.id != top.id && m.parent != m.id && beneath.contains(&m.parent) {
            beneath.push(m.id);
        }
    }
    let mut ids: Vec<u64> = all
        .iter()
        .filter(|m| beneath.contains(&m.id))
        .filter(|m| if m.id == top.id { with_top } else { true })
        .filter(|m| mount_ids::path_beneath(&m.point, within))
        .map(|m| m.id.unique)
        .filter(|&id| id > last)
        .collect();
    ids.sort_unstable();
    ids.truncate(nr as usize);
    let bytes: Vec<u8> = ids.iter().flat_map(|id| id.to_le_bytes()).collect();
    if !bytes.is_empty() {
        ctx.task.mm().copy_to_user(ids_addr, &bytes)?;
    }
    Ok(ids.len() as u64)
}
