//! The sandbox's `/` under `--root`: a host directory (served by
//! [`super::hostfs`]) with the sandbox's own top-level directories laid
//! over it: `/dev` and `/proc` (mount points of devfs and procfs), a private
//! tmpfs `/tmp`, an empty `/sys`, and the first directory of every `--mount` the host root
//! lacks. Those names never reach the host, whatever it holds there; every
//! other name is the host's.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::any::Any;

use super::tmpfs::TmpfsNode;
use super::{DirEntry, FileKind, Inode, NewNode, TimeUpdate};
use crate::sentry::errno::*;
use crate::sentry::fd::{DirFile, File};
use crate::sentry::stat::Stat;

/// The sandbox's own top-level directories: /dev and /proc (mount points),
/// a private /tmp, and an empty /sys (the host's is another filesystem,
/// which is never shared).
const OWN: [&[u8]; 4] = [b"dev", b"proc", b"sys", b"tmp"];

pub struct RootDir {
    host: Arc<dyn Inode>,
    /// The sandbox's own directories (children of one tmpfs root).
    own: Arc<TmpfsNode>,
    names: spin::Mutex<Vec<Vec<u8>>>,
}

impl RootDir {
    /// `host` with the sandbox's `dev`, `proc` and `tmp` (mode 1777).
    pub fn new(host: Arc<dyn Inode>) -> Arc<RootDir> {
        let own = super::tmpfs::new_root_with_dirs(super::DEV_TMPFS, &OWN);
        Arc::new(RootDir {
            host,
            own,
            names: spin::Mutex::new(OWN.iter().map(|n| n.to_vec()).collect()),
        })
    }

    /// Makes `name` a directory of the sandbox's own when the host root has
    /// nothing of that name (a mount point on a read-only root).
    pub fn add_mount_point(&self, name: &[u8]) -> Result<(), Errno> {
        if self.names.lock().iter().any(|n| n == name) {
            return Ok(());
        }
        match self.host.lookup(name) {
            Ok(_) => Ok(()),
            Err(e) if e == ENOENT => {
                self.own.create(name, NewNode::Directory { mode: 0o755 })?;
                self.names.lock().push(name.to_vec());
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Whether `name` is one of the sandbox's own directories here.
    pub fn is_own(&self, name: &[u8]) -> bool {
        self.names.lock().iter().any(|n| n == name)
    }

    /// The host directory behind `dir` when it is the sandbox's root, else
    /// `dir` itself.
    pub fn unwrap_dir(dir: &Arc<dyn Inode>) -> Arc<dyn Inode> {
        match dir.as_any().downcast_ref::<RootDir>() {
            Some(root) => root.host.clone(),
            None => dir.clone(),
        }
    }
}

impl Inode for RootDir {
    fn host_backed(&self) -> bool {
        true
    }
    fn stat(&self) -> Stat {
        self.host.stat()
    }
    fn statfs(&self) -> Option<Result<[u64; 15], Errno>> {
        self.host.statfs()
    }
    fn kind(&self) -> FileKind {
        FileKind::Directory
    }
    fn id(&self) -> (u64, u64) {
        self.host.id()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn lookup(&self, name: &[u8]) -> Result<Arc<dyn Inode>, Errno> {
        if self.is_own(name) {
            return self.own.lookup(name);
        }
        self.host.lookup(name)
    }
    fn create(&self, name: &[u8], node: NewNode) -> Result<Arc<dyn Inode>, Errno> {
        if self.is_own(name) {
            return Err(EEXIST);
        }
        self.host.create(name, node)
    }
    fn link(&self, name: &[u8], target: &Arc<dyn Inode>) -> Result<(), Errno> {
        if self.is_own(name) {
            return Err(EEXIST);
        }
        self.host.link(name, target)
    }
    fn unlink(&self, name: &[u8], directory: bool) -> Result<(), Errno> {
        if self.is_own(name) {
            return Err(EBUSY);
        }
        self.host.unlink(name, directory)
    }
    fn rename(
        &self,
        old_name: &[u8],
        new_dir: &Arc<dyn Inode>,
        new_name: &[u8],
        flags: u32,
    ) -> Result<(), Errno> {
        let new_is_root = new_dir.as_any().downcast_ref::<RootDir>().is_some();
        if self.is_own(old_name) || (new_is_root && self.is_own(new_name)) {
            return Err(EBUSY);
        }
        self.host
            .rename(old_name, &RootDir::unwrap_dir(new_dir), new_name, flags)
    }
    fn readdir(&self) -> Result<Vec<DirEntry>, Errno> {
        let mut entries: Vec<DirEntry> = self
            .host
            .readdir()?
            .into_iter()
            .filter(|e| !self.is_own(&e.name))
            .collect();
        for name in self.names.lock().iter() {
            if let Ok(node) = self.own.lookup(name) {
                entries.push(DirEntry {
                    name: name.clone(),
                    ino: node.id().1,
                    kind: FileKind::Directory,
                });
            }
        }
        Ok(entries)
    }
    fn set_mode(&self, mode: u32) -> Result<(), Errno> {
        self.host.set_mode(mode)
    }
    fn set_owner(&self, uid: Option<u32>, gid: Option<u32>) -> Result<(), Errno> {
        self.host.set_owner(uid, gid)
    }
    fn set_times(&self, atime: Option<TimeUpdate>, mtime: Option<TimeUpdate>) -> Result<(), Errno> {
        self.host.set_times(atime, mtime)
    }
    fn sync(&self) -> Result<(), Errno> {
        self.host.sync()
    }
    fn read_only(&self) -> bool {
        self.host.read_only()
    }
    fn open(self: Arc<Self>, _flags: u32) -> Result<Arc<dyn File>, Errno> {
        Ok(Arc::new(DirFile::new(self)))
    }
}
