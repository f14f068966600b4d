//! What identifies and describes a mount for statx (`stx_mnt_id`),
//! statmount(2) and listmount(2): its two ids, its parent, where it is
//! and what it shows.
//!
//! Linux gives every mount an old id (small, `/proc/self/mountinfo`'s
//! first column, STATX_MNT_ID) and a 64-bit id never reused while the
//! system runs (STATX_MNT_ID_UNIQUE, statmount, listmount). Unique ids
//! start at 2^31 as on Linux since 6.11 (MNT_UNIQUE_ID_OFFSET), so that
//! an old id passed where a unique one is expected is told apart (EINVAL).
//! Old ids here are never reused either (Linux reuses the lowest free
//! one): nothing may rely on their values.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// The first unique mount id (Linux's MNT_UNIQUE_ID_OFFSET).
pub const MNT_UNIQUE_ID_OFFSET: u64 = 1 << 31;

static NEXT_UNIQUE: AtomicU64 = AtomicU64::new(MNT_UNIQUE_ID_OFFSET);
/// Old ids start above the ones Linux's boot mounts take.
static NEXT_OLD: AtomicU32 = AtomicU32::new(20);

/// statmount's `mnt_attr` bits (MOUNT_ATTR_*).
pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;
pub const MOUNT_ATTR_NOATIME: u64 = 0x10;
pub const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
pub const MOUNT_ATTR_NODIRATIME: u64 = 0x80;
pub const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x0020_0000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MountId {
    pub old: u32,
    pub unique: u64,
}

impl MountId {
    pub fn new() -> MountId {
        MountId {
            old: NEXT_OLD.fetch_add(1, Ordering::Relaxed),
            unique: NEXT_UNIQUE.fetch_add(1, Ordering::Relaxed),
        }
    }
}

/// A mount as statmount describes it.
#[derive(Clone, Debug)]
pub struct MountMeta {
    pub id: MountId,
    /// The mount it was mounted on (the namespace's root: itself).
    pub parent: MountId,
    /// The mount point, from the namespace's root (recorded when mounted:
    /// a later rename of a directory above it is not seen).
    pub point: Vec<u8>,
    /// Its root within its filesystem ("/", or the directory a bind mount
    /// showed).
    pub root: Vec<u8>,
    /// The filesystem's type name.
    pub fstype: Vec<u8>,
    /// MOUNT_ATTR_* of the mount.
    pub attr: u64,
    /// The superblock's flags statmount shows (SB_RDONLY, SB_SYNCHRONOUS,
    /// SB_DIRSYNC, SB_LAZYTIME).
    pub sb_flags: u32,
    /// MS_UNBINDABLE was set on it (a bind mount of it is EINVAL).
    pub unbindable: bool,
}

impl MountMeta {
    /// A mount to be made: its ids, parent and mount point are given when
    /// it is mounted (Namespace::mount_listed).
    pub fn described(root: Vec<u8>, fstype: Vec<u8>, attr: u64, sb_flags: u32) -> MountMeta {
        let none = MountId { old: 0, unique: 0 };
        MountMeta {
            id: none,
            parent: none,
            point: Vec::new(),
            root,
            fstype,
            attr,
            sb_flags,
            unbindable: false,
        }
    }
}

/// The type name of one of the sandbox's own filesystems, by device.
pub fn fs_type_of_dev(dev: u64) -> &'static [u8] {
    use super::*;
    match dev {
        DEV_PROCFS => b"proc",
        DEV_DEVFS => b"devtmpfs",
        d if d >= DEV_HOST_BASE => b"hostfs",
        _ => b"tmpfs",
    }
}

/// Whether `path` is `root` or lies beneath it (both absolute, from the
/// namespace's root): Linux's is_path_reachable for a mount's root.
pub fn path_beneath(path: &[u8], root: &[u8]) -> bool {
    root == b"/"
        || path == root
        || (path.len() > root.len() && path.starts_with(root) && path[root.len()] == b'/')
}

/// `path` as seen from the process root `root` ("" when outside it, as
/// statmount's mount point then is).
pub fn path_from(path: &[u8], root: &[u8]) -> Vec<u8> {
    if root == b"/" {
        return path.to_vec();
    }
    if !path_beneath(path, root) {
        return Vec::new();
    }
    let rest = &path[root.len()..];
    if rest.is_empty() {
        b"/".to_vec()
    } else {
        rest.to_vec()
    }
}

/// `base` joined with the names `names` ("/" + names when base is "/").
pub fn join(base: &[u8], names: &[&[u8]]) -> Vec<u8> {
    let mut out = if base == b"/" {
        Vec::new()
    } else {
        base.to_vec()
    };
    for name in names {
        out.push(b'/');
        out.extend_from_slice(name);
    }
    if out.is_empty() {
        out.push(b'/');
    }
    out
}
