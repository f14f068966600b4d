//! File permission checks (Linux's fs/namei.c generic_permission and
//! fs/attr.c): who may read, write, search, change the owner or mode of a
//! node, given its mode and owner and the caller's filesystem ids and
//! capabilities. Pure rules, no kernel state: sentry-host-tests runs the
//! unit tests below on the host.

use crate::sentry::errno::{Errno, EACCES, EPERM};

/// `mask` bits of a check (Linux's MAY_*).
pub const MAY_EXEC: u32 = 1;
pub const MAY_WRITE: u32 = 2;
pub const MAY_READ: u32 = 4;

/// Capabilities the checks consult (bit numbers of capabilities(7)).
pub const CAP_CHOWN: u32 = 0;
pub const CAP_DAC_OVERRIDE: u32 = 1;
pub const CAP_DAC_READ_SEARCH: u32 = 2;
pub const CAP_FOWNER: u32 = 3;
pub const CAP_FSETID: u32 = 4;

const S_IFMT: u32 = 0o170000;
const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
pub const S_ISUID: u32 = 0o4000;
pub const S_ISGID: u32 = 0o2000;
pub const S_ISVTX: u32 = 0o1000;

/// Who asks: the filesystem user and group ids, the supplementary groups
/// and the effective capabilities.
#[derive(Clone, Copy, Debug)]
pub struct Accessor<'a> {
    pub uid: u32,
    pub gid: u32,
    pub groups: &'a [u32],
    pub caps: u64,
}

/// The owner and mode of a node: what the checks look at.
#[derive(Clone, Copy, Debug)]
pub struct Owned {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

impl Owned {
    fn is_dir(&self) -> bool {
        self.mode & S_IFMT == S_IFDIR
    }
}

impl Accessor<'_> {
    /// The kernel itself (boot-time lookups): every check passes.
    pub const KERNEL: Accessor<'static> = Accessor {
        uid: 0,
        gid: 0,
        groups: &[],
        caps: u64::MAX,
    };

    pub fn has(&self, cap: u32) -> bool {
        self.caps & (1 << cap) != 0
    }

    /// Linux's in_group_p: the filesystem group or a supplementary one.
    pub fn in_group(&self, gid: u32) -> bool {
        self.gid == gid || self.groups.contains(&gid)
    }

    /// Whether searching any directory is allowed whatever its mode (the
    /// fast path of path walks: no inode attributes are read).
    pub fn searches_anything(&self) -> bool {
        self.has(CAP_DAC_READ_SEARCH) || self.has(CAP_DAC_OVERRIDE)
    }

    /// generic_permission: the owner's, group's or others' bits, then the
    /// capabilities that override them. EACCES when refused.
    pub fn check(&self, node: Owned, mask: u32) -> Result<(), Errno> {
        let shift = if node.uid == self.uid {
            6
        } else if self.in_group(node.gid) {
            3
        } else {
            0
        };
        let granted = (node.mode >> shift) & 7;
        if granted & mask == mask {
            return Ok(());
        }
        // CAP_DAC_OVERRIDE: read and write anything; execute only what
        // someone may execute (search any directory).
        if self.has(CAP_DAC_OVERRIDE)
            && (mask & MAY_EXEC == 0 || node.is_dir() || node.mode & 0o111 != 0)
        {
            return Ok(());
        }
        // CAP_DAC_READ_SEARCH: read anything, search any directory.
        if self.has(CAP_DAC_READ_SEARCH)
            && mask & MAY_WRITE == 0
            && (mask & MAY_EXEC == 0 || node.is_dir())
        {
            return Ok(());
        }
        Err(EACCES)
    }

    /// inode_owner_or_capable: the owner, or CAP_FOWNER.
    pub fn owns(&self, node: Owned) -> bool {
        node.uid == self.uid || self.has(CAP_FOWNER)
    }

    /// Sticky directories (Linux's check_sticky): in a directory with
    /// S_ISVTX only the owner of the entry or of the directory (or
    /// CAP_FOWNER) may remove or rename it. EPERM otherwise.
    pub fn check_sticky(&self, dir: Owned, entry: Owned) -> Result<(), Errno> {
        if dir.mode & S_ISVTX == 0
            || entry.uid == self.uid
            || dir.uid == self.uid
            || self.has(CAP_FOWNER)
        {
            Ok(())
        } else {
            Err(EPERM)
        }
    }

    /// Hard links with fs.protected_hardlinks=1 (Linux's may_linkat): who
    /// does not own the target (and lacks CAP_FOWNER) may link only a
    /// regular file that is not set-user-ID (nor set-group-ID and
    /// group-executable) and that they may read and write. EPERM otherwise.
    pub fn may_link(&self, target: Owned) -> Result<(), Errno> {
        if self.owns(target) {
            return Ok(());
        }
        let setid =
            target.mode & S_ISUID != 0 || target.mode & (S_ISGID | 0o010) == S_ISGID | 0o010;
        if target.mode & S_IFMT == S_IFREG
            && !setid
            && self.check(target, MAY_READ | MAY_WRITE).is_ok()
        {
            Ok(())
        } else {
            Err(EPERM)
        }
    }

    /// chmod's rules: only the owner (or CAP_FOWNER) may; S_ISGID is
    /// dropped from the new mode of a non-directory when the caller is not
    /// in its group and lacks CAP_FSETID. Returns the mode to set.
    pub fn chmod(&self, node: Owned, mode: u32) -> Result<u32, Errno> {
        if !self.owns(node) {
            return Err(EPERM);
        }
        let mut mode = mode & 0o7777;
        if !node.is_dir() && !self.in_group(node.gid) && !self.has(CAP_FSETID) {
            mode &= !S_ISGID;
        }
        Ok(mode)
    }

    /// chown's rules (Linux's chown_ok / chgrp_ok): changing the owner
    /// needs CAP_CHOWN (setting it to itself is allowed to the owner);
    /// changing the group needs the owner to name one of its own groups,
    /// or CAP_CHOWN.
    pub fn chown(&self, node: Owned, uid: Option<u32>, gid: Option<u32>) -> Result<(), Errno> {
        if let Some(uid) = uid {
            let to_itself = self.uid == node.uid && uid == node.uid;
            if !to_itself && !self.has(CAP_CHOWN) {
                return Err(EPERM);
            }
        }
        if let Some(gid) = gid {
            let owner_may = self.uid == node.uid && (gid == node.gid || self.in_group(gid));
            if !owner_may && !self.has(CAP_CHOWN) {
                return Err(EPERM);
            }
        }
        Ok(())
    }

    /// The owner (uid, gid) and mode of a node this caller creates in
    /// `dir` with `mode`: the filesystem ids, except that a set-group-ID
    /// directory passes on its group (and, to subdirectories, its S_ISGID).
    /// A new non-directory with S_ISGID whose group the caller is not in
    /// loses S_ISGID (Linux's inode_init_owner).
    pub fn new_owner(&self, dir: Owned, mode: u32) -> (u32, u32, u32) {
        let is_dir = mode & S_IFMT == S_IFDIR;
        let mut mode = mode;
        let gid = if dir.mode & S_ISGID != 0 {
            if is_dir {
                mode |= S_ISGID;
            } else if mode & S_ISGID != 0
                && mode & 0o010 != 0
                && !self.in_group(dir.gid)
                && !self.has(CAP_FSETID)
            {
                mode &= !S_ISGID;
            }
            dir.gid
        } else {
            self.gid
        };
        (self.uid, gid, mode)
    }
}

/// What chown and a write by an unprivileged caller do to the set-id bits
/// of a regular file (Linux's should_remove_suid): S_ISUID goes, and
/// S_ISGID when group-executable. None: nothing to change.
pub fn kill_setid(mode: u32, privileged_fsetid: bool) -> Option<u32> {
    if mode & S_IFMT != S_IFREG || privileged_fsetid {
        return None;
    }
    let mut kill = mode & S_ISUID;
    if mode & (S_ISGID | 0o010) == (S_ISGID | 0o010) {
        kill |= S_ISGID;
    }
    (kill != 0).then_some(mode & 0o7777 & !kill)
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: Accessor<'static> = Accessor {
        uid: 1000,
        gid: 1000,
        groups: &[27],
        caps: 0,
    };

    fn file(mode: u32, uid: u32, gid: u32) -> Owned {
        Owned {
            mode: S_IFREG | mode,
            uid,
            gid,
        }
    }

    fn dir(mode: u32, uid: u32, gid: u32) -> Owned {
        Owned {
            mode: S_IFDIR | mode,
            uid,
            gid,
        }
    }

    #[test]
    fn owner_group_other_bits() {
        assert!(USER
            .check(file(0o600, 1000, 0), MAY_READ | MAY_WRITE)
            .is_ok());
        assert_eq!(USER.check(file(0o060, 1000, 1000), MAY_READ), Err(EACCES));
        assert!(USER.check(file(0o040, 0, 27), MAY_READ).is_ok());
        assert_eq!(USER.check(file(0o004, 0, 27), MAY_READ), Err(EACCES));
        assert!(USER.check(file(0o004, 0, 0), MAY_READ).is_ok());
        assert_eq!(USER.check(dir(0o766, 0, 0), MAY_EXEC), Err(EACCES));
    }

    #[test]
    fn root_overrides_but_execs_only_executables() {
        let root = Accessor {
            uid: 0,
            gid: 0,
            groups: &[],
            caps: u64::MAX,
        };
        assert!(root
            .check(file(0, 1000, 1000), MAY_READ | MAY_WRITE)
            .is_ok());
        assert_eq!(root.check(file(0o644, 1000, 1000), MAY_EXEC), Err(EACCES));
        assert!(root.check(file(0o100, 1000, 1000), MAY_EXEC).is_ok());
        assert!(root.check(dir(0, 1000, 1000), MAY_EXEC).is_ok());
        let reader = Accessor {
            caps: 1 << CAP_DAC_READ_SEARCH,
            ..USER
        };
        assert!(reader.check(file(0, 0, 0), MAY_READ).is_ok());
        assert_eq!(reader.check(file(0, 0, 0), MAY_WRITE), Err(EACCES));
        assert!(reader.check(dir(0, 0, 0), MAY_READ | MAY_EXEC).is_ok());
    }

    #[test]
    fn sticky_chmod_chown() {
        let tmp = dir(0o1777, 0, 0);
        assert_eq!(USER.check_sticky(tmp, file(0o666, 0, 0)), Err(EPERM));
        assert!(USER.check_sticky(tmp, file(0o666, 1000, 0)).is_ok());
        assert_eq!(USER.chmod(file(0o644, 0, 0), 0o777), Err(EPERM));
        assert_eq!(USER.chmod(file(0o644, 1000, 5), 0o2755), Ok(0o755));
        assert_eq!(USER.chmod(file(0o644, 1000, 27), 0o2755), Ok(0o2755));
        assert_eq!(USER.chown(file(0, 1000, 1000), Some(0), None), Err(EPERM));
        assert!(USER
            .chown(file(0, 1000, 1000), Some(1000), Some(27))
            .is_ok());
        assert_eq!(USER.chown(file(0, 1000, 1000), None, Some(5)), Err(EPERM));
        assert_eq!(USER.may_link(file(0o644, 0, 0)), Err(EPERM));
        assert!(USER.may_link(file(0o666, 0, 0)).is_ok());
        assert_eq!(USER.may_link(file(0o4666, 0, 0)), Err(EPERM));
        assert!(USER.may_link(file(0, 1000, 0)).is_ok());
    }

    #[test]
    fn new_nodes_and_setid_bits() {
        assert_eq!(USER.new_owner(dir(0o777, 0, 0), 0o644), (1000, 1000, 0o644));
        assert_eq!(
            USER.new_owner(dir(0o2777, 0, 50), S_IFDIR | 0o755),
            (1000, 50, S_IFDIR | 0o2755)
        );
        assert_eq!(
            USER.new_owner(dir(0o2777, 0, 50), 0o2755),
            (1000, 50, 0o755)
        );
        assert_eq!(kill_setid(S_IFREG | 0o6755, false), Some(0o755));
        assert_eq!(kill_setid(S_IFREG | 0o2645, false), None);
        assert_eq!(kill_setid(S_IFREG | 0o4645, false), Some(0o645));
        assert_eq!(kill_setid(S_IFREG | 0o6755, true), None);
        assert_eq!(kill_setid(S_IFDIR | 0o2755, false), None);
    }
}
