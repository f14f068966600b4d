//! The sentry's virtual filesystem: inodes, the mount table and path
//! resolution.
//!
//! Filesystems: [`tmpfs`] (the root, `/tmp`, `/dev/shm`), [`devfs`]
//! (`/dev`), [`procfs`] (`/proc`), [`hostfs`] (directories shared with
//! `--mount`, served by the VMM), [`rootdir`] (a `--root` host directory
//! as `/`), plus the application's own executable ([`memfile`]) placed at
//! its absolute host path, read-only. Files without a path: [`pipe`],
//! [`events`] (eventfd, timerfd, signalfd), [`epoll`], the [`console`].
//! Advisory locks are [`locks`].
//!
//! Path resolution walks one component at a time from the root or a start
//! directory, keeping the chain of directories walked (a [`PathStack`]) so
//! that `..` is resolved against the real parent, mount points are crossed,
//! and symlinks are expanded in the sandbox's own namespace (an absolute
//! symlink inside a shared directory points into the sandbox, never at the
//! host). The lexical rules (limits, `.` and `..`, trailing slashes, the
//! symlink count) are [`walk`].

pub mod console;
pub mod devfs;
pub mod dnotify;
pub mod epoll;
pub mod events;
pub mod fanotify;
pub mod fhandle;
pub mod hostfs;
pub mod inotify;
pub mod locks;
pub mod memfile;
pub mod mount_ids;
pub mod mqueue;
pub mod perm;
pub mod pipe;
pub mod procfs;
pub mod procsys;
pub mod rootdir;
pub mod tmpfs;
pub mod walk;
pub mod xattr;

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::any::Any;

use spin::Mutex;

use crate::sentry::errno::*;
use crate::sentry::fd::File;
use crate::sentry::stat::*;
use perm::{Accessor, Owned, MAY_EXEC};
use walk::{Step, Walk};

pub use walk::PATH_MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Regular,
    Directory,
    Symlink,
    CharDevice,
    BlockDevice,
    Fifo,
    /// A socket's name in a file system (bind of an AF_UNIX path).
    Socket,
}

impl FileKind {
    pub fn from_mode(mode: u32) -> FileKind {
        match mode & S_IFMT {
            S_IFDIR => FileKind::Directory,
            S_IFLNK => FileKind::Symlink,
            S_IFCHR => FileKind::CharDevice,
            S_IFBLK => FileKind::BlockDevice,
            S_IFIFO => FileKind::Fifo,
            S_IFSOCK => FileKind::Socket,
            _ => FileKind::Regular,
        }
    }

    /// `d_type` for getdents64.
    pub fn dirent_type(self) -> u8 {
        match self {
            FileKind::Fifo => 1,
            FileKind::CharDevice => 2,
            FileKind::BlockDevice => 6,
            FileKind::Directory => 4,
            FileKind::Regular => 8,
            FileKind::Symlink => 10,
            FileKind::Socket => 12,
        }
    }
}

/// What a directory entry says about its target.
#[derive(Clone, Debug)]
pub struct DirEntry {
    pub name: Vec<u8>,
    pub ino: u64,
    pub kind: FileKind,
}

/// What to create in a directory.
pub enum NewNode<'a> {
    File {
        mode: u32,
    },
    Directory {
        mode: u32,
    },
    Symlink {
        target: &'a [u8],
    },
    /// A named pipe (mkfifo).
    Fifo {
        mode: u32,
    },
    /// A device node (mknod S_IFCHR or S_IFBLK with CAP_MKNOD).
    Device {
        mode: u32,
        block: bool,
        rdev: u64,
    },
    /// A socket node (bind of an AF_UNIX path, or mknod S_IFSOCK, which
    /// has no socket behind it: connecting to it is ECONNREFUSED).
    Socket {
        mode: u32,
        bound: alloc::sync::Weak<dyn Any + Send + Sync>,
    },
}

/// A timestamp update for utimensat.
#[derive(Clone, Copy, Debug)]
pub enum TimeUpdate {
    Now,
    Set(i64, i64),
}

/// An inode of any filesystem. Every method has the answer Linux gives for
/// a node that cannot do the operation, so each filesystem implements only
/// what its nodes support.
pub trait Inode: Send + Sync {
    fn stat(&self) -> Stat;

    fn kind(&self) -> FileKind {
        FileKind::from_mode(self.stat().mode)
    }

    /// (filesystem id, inode number): identifies a mount point.
    fn id(&self) -> (u64, u64) {
        let stat = self.stat();
        (stat.dev, stat.ino)
    }

    fn as_any(&self) -> &dyn Any;

    /// Its extended attributes, on a filesystem that stores them (None:
    /// setting one is EOPNOTSUPP, and it has none).
    fn xattrs(&self) -> Option<&xattr::XattrSet> {
        None
    }

    fn lookup(&self, _name: &[u8]) -> Result<Arc<dyn Inode>, Errno> {
        Err(ENOTDIR)
    }
    fn create(&self, _name: &[u8], _node: NewNode) -> Result<Arc<dyn Inode>, Errno> {
        Err(ENOTDIR)
    }
    /// Adds a hard link `name` to `target` (same filesystem).
    fn link(&self, _name: &[u8], _target: &Arc<dyn Inode>) -> Result<(), Errno> {
        Err(ENOTDIR)
    }
    /// Removes `name`: a directory (must be empty) when `directory`, else a
    /// non-directory.
    fn unlink(&self, _name: &[u8], _directory: bool) -> Result<(), Errno> {
        Err(ENOTDIR)
    }
    /// Moves `old_name` here to `new_dir`/`new_name` (same filesystem).
    fn rename(
        &self,
        _old_name: &[u8],
        _new_dir: &Arc<dyn Inode>,
        _new_name: &[u8],
        _flags: u32,
    ) -> Result<(), Errno> {
        Err(ENOTDIR)
    }
    /// The entries, without "." and "..".
    fn readdir(&self) -> Result<Vec<DirEntry>, Errno> {
        Err(ENOTDIR)
    }
    fn readlink(&self) -> Result<Vec<u8>, Errno> {
        Err(EINVAL)
    }
    fn read_at(&self, _offset: u64, _buf: &mut [u8]) -> Result<usize, Errno> {
        Err(if self.kind() == FileKind::Directory {
            EISDIR
        } else {
            EINVAL
        })
    }
    fn write_at(&self, _offset: u64, _buf: &[u8]) -> Result<usize, Errno> {
        Err(if self.kind() == FileKind::Directory {
            EISDIR
        } else {
            EINVAL
        })
    }
    fn truncate(&self, _size: u64) -> Result<(), Errno> {
        Err(if self.kind() == FileKind::Directory {
            EISDIR
        } else {
            EINVAL
        })
    }
    /// chmod: the permission bits (07777).
    fn set_mode(&self, _mode: u32) -> Result<(), Errno> {
        Err(EPERM)
    }
    fn set_owner(&self, _uid: Option<u32>, _gid: Option<u32>) -> Result<(), Errno> {
        Err(EPERM)
    }
    fn set_times(
        &self,
        _atime: Option<TimeUpdate>,
        _mtime: Option<TimeUpdate>,
    ) -> Result<(), Errno> {
        Err(EPERM)
    }
    fn sync(&self) -> Result<(), Errno> {
        Ok(())
    }
    /// Opens the node. Regular files and directories get the generic open
    /// files; devices, pipes and the console override this.
    fn open(self: Arc<Self>, flags: u32) -> Result<Arc<dyn File>, Errno>;
    /// True for nodes whose writes must fail with EROFS (read-only mounts).
    fn read_only(&self) -> bool {
        false
    }
    /// Writes pages changed through shared mappings back to the file
    /// (msync, munmap, exit); a no-op where the pages are the file (tmpfs).
    fn sync_pages(&self) -> Result<(), Errno> {
        Ok(())
    }
    /// For MAP_SHARED mappings of filesystems that keep file data in page
    /// frames (tmpfs): a new reference to the frame of page `index`, for
    /// the mapping. None beyond the end of the file; Err(ENODEV) when the
    /// filesystem cannot share pages (data is then copied and written back).
    fn shared_page(&self, _index: u64) -> Result<Option<crate::mm::Frame>, Errno> {
        Err(ENODEV)
    }
    /// Whether page `index` of the file is in memory (mincore), for
    /// filesystems that keep file data in page frames.
    fn page_cached(&self, _index: u64) -> bool {
        false
    }
    /// lseek's SEEK_DATA (`data`) and SEEK_HOLE from `offset` (ENXIO at
    /// or past the end). A filesystem that does not know its holes says
    /// what Linux's generic_file_llseek does: all data, one hole at the
    /// end.
    fn seek_data_hole(&self, offset: u64, data: bool) -> Result<u64, Errno> {
        let size = self.stat().size.max(0) as u64;
        if offset >= size {
            return Err(ENXIO);
        }
        Ok(if data { offset } else { size })
    }
    /// cachestat: (pages in memory, of them dirty) among the file's pages
    /// `first..=last`. Files whose data the sandbox does not keep in page
    /// frames (host files, synthetic ones) have none cached here.
    fn cached_pages(&self, _first: u64, _last: u64) -> (u64, u64) {
        (0, 0)
    }
    /// open's O_TMPFILE in this directory: a regular file in no directory
    /// (`linkable`: linkat may give it a name). EOPNOTSUPP where the
    /// filesystem has no such files.
    fn create_unnamed(&self, _mode: u32, _linkable: bool) -> Result<Arc<dyn Inode>, Errno> {
        Err(if self.kind() == FileKind::Directory {
            EOPNOTSUPP
        } else {
            ENOTDIR
        })
    }
    /// The file seals of a tmpfs file (fcntl F_GET_SEALS/F_ADD_SEALS,
    /// checked by its writes, truncation and mappings); None where a file
    /// cannot be sealed (EINVAL).
    fn seals(&self) -> Option<&core::sync::atomic::AtomicU32> {
        None
    }
    /// fallocate's FALLOC_FL_PUNCH_HOLE: [offset, offset+len) reads as
    /// zeros after, the size stays.
    fn punch_hole(&self, _offset: u64, _len: u64) -> Result<(), Errno> {
        Err(EOPNOTSUPP)
    }
    /// A procfs "magic link" (/proc/PID/{exe,cwd,root,fd/N,ns/*}), which
    /// openat2's RESOLVE_NO_MAGICLINKS refuses to follow.
    fn is_magic_link(&self) -> bool {
        false
    }
    /// For /proc/self/fd/N: the open file the "magic link" stands for.
    /// Following it reaches that very file, even one without a path.
    fn magic_link(&self) -> Option<Result<Arc<crate::sentry::fd::OpenFile>, Errno>> {
        None
    }
    /// True for nodes of shared host directories (and the --root overlay
    /// of them): see [`accessor_for`].
    fn host_backed(&self) -> bool {
        false
    }
    /// For a socket node: the socket bound to it, while it is open.
    fn bound_socket(&self) -> Option<Arc<dyn Any + Send + Sync>> {
        None
    }
    /// The filesystem's own `struct statfs` (64-bit layout, 15 words) for
    /// filesystems that are not the sentry's (host directories); None: the
    /// device number decides (syscalls/stat.rs).
    fn statfs(&self) -> Option<Result<[u64; 15], Errno>> {
        None
    }
}

/// An open file without a path (a pipe, the console) reached through a
/// /proc/self/fd magic link: stat and open go to the open file itself.
pub struct OpenFileNode {
    file: Arc<crate::sentry::fd::OpenFile>,
}

impl Inode for OpenFileNode {
    fn stat(&self) -> Stat {
        self.file.file.stat()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn open(self: Arc<Self>, _flags: u32) -> Result<Arc<dyn File>, Errno> {
        Ok(self.file.file.clone())
    }
    /// O_TRUNC through the link truncates the file behind it (a memfd).
    fn truncate(&self, size: u64) -> Result<(), Errno> {
        match self.file.file.inode() {
            Some(inode) => inode.truncate(size),
            None => Err(EINVAL),
        }
    }
}

/// Whether `node` stands for an open file without a path (a pipe or
/// socket through /proc/self/fd): Landlock leaves those alone, as Linux
/// does for its internal filesystems.
pub fn is_pseudo(node: &dyn Inode) -> bool {
    node.as_any().is::<OpenFileNode>()
}

/// The chain of directories from the root to a node: names and inodes.
/// The last entry is the node itself. The root's name is empty.
#[derive(Clone)]
pub struct PathStack(pub Vec<(Vec<u8>, Arc<dyn Inode>)>);

impl PathStack {
    pub fn node(&self) -> &Arc<dyn Inode> {
        &self.0.last().expect("a path stack is never empty").1
    }

    /// Whether this is the directory `root` (the same node at the same
    /// depth): where ".." stops for a process whose root it is.
    pub fn is_at(&self, root: &PathStack) -> bool {
        self.0.len() == root.0.len() && self.node().id() == root.node().id()
    }

    /// The path as a process with root directory `root` sees it (getcwd):
    /// None when this lies outside `root` (Linux's "(unreachable)").
    pub fn path_within(&self, root: &PathStack) -> Option<Vec<u8>> {
        let depth = root.0.len();
        if self.0.len() < depth || self.0[depth - 1].1.id() != root.node().id() {
            return None;
        }
        let mut out = Vec::new();
        for (name, _) in &self.0[depth..] {
            out.push(b'/');
            out.extend_from_slice(name);
        }
        if out.is_empty() {
            out.push(b'/');
        }
        Some(out)
    }

    /// The absolute path.
    pub fn path(&self) -> Vec<u8> {
        if self.0.len() == 1 {
            return b"/".to_vec();
        }
        let mut out = Vec::new();
        for (name, _) in &self.0[1..] {
            out.push(b'/');
            out.extend_from_slice(name);
        }
        out
    }
}

#[derive(Clone)]
struct Mount {
    /// The covered directory.
    point: (u64, u64),
    root: Arc<dyn Inode>,
    /// What /proc/mounts shows of a mount made by mount(2) (None: one of
    /// the sandbox's own, listed at boot, which stay).
    line: Option<MountLine>,
    /// Its ids and what statmount shows of it.
    meta: mount_ids::MountMeta,
}

/// A /proc/mounts line: (source, mount point, type, options).
pub type MountLine = (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>);

/// The mount table and the root.
pub struct Namespace {
    root: Arc<dyn Inode>,
    mounts: Mutex<Vec<Mount>>,
    /// The root mount's ids and description.
    root_mount: mount_ids::MountMeta,
    /// Some mount lies over a file (not only directories).
    file_mounts: core::sync::atomic::AtomicBool,
    /// The mount namespace's inode number (/proc/<pid>/ns/mnt).
    ino: u64,
    _token: crate::sentry::ns::Token,
    /// Counts mount and unmount events: /proc/mounts polls EPOLLPRI|EPOLLERR
    /// after a change, and its waiters are woken through `changed`.
    events: core::sync::atomic::AtomicU64,
    pub changed: Arc<crate::sentry::wait::WaitQueue>,
}

/// Where resolution of the parent of a path ended.
pub struct ParentAndName {
    pub parent: PathStack,
    pub name: Vec<u8>,
    /// The path ended in a slash: the last component must be a directory.
    pub trailing_slash: bool,
}

impl Namespace {
    /// The initial mount namespace.
    pub fn new(root: Arc<dyn Inode>) -> Namespace {
        let id = mount_ids::MountId::new();
        let root_mount = mount_ids::MountMeta {
            id,
            parent: id,
            point: b"/".to_vec(),
            root: b"/".to_vec(),
            fstype: mount_ids::fs_type_of_dev(root.stat().dev).to_vec(),
            attr: read_only_attr(&*root),
            sb_flags: 0,
            unbindable: false,
        };
        Namespace {
            root,
            mounts: Mutex::new(Vec::new()),
            root_mount,
            file_mounts: core::sync::atomic::AtomicBool::new(false),
            ino: crate::sentry::ns::MNT_INIT_INO,
            _token: crate::sentry::ns::Token::INITIAL,
            events: core::sync::atomic::AtomicU64::new(0),
            changed: Default::default(),
        }
    }

    /// A private copy of the mount table (CLONE_NEWNS): the same
    /// filesystems at the same places, mounted apart from now on.
    pub fn copy(&self) -> Result<Namespace, Errno> {
        use core::sync::atomic::Ordering::Relaxed;
        let token = crate::sentry::ns::MNT_BUDGET.take()?;
        // Every mount of the copy is a new mount with ids of its own (as
        // Linux's copy_tree), its parent the copy of its parent.
        let mut mounts = self.mounts.lock().clone();
        let mut renamed = alloc::vec![(self.root_mount.id, mount_ids::MountId::new())];
        for mount in mounts.iter() {
            renamed.push((mount.meta.id, mount_ids::MountId::new()));
        }
        let new_id = |old: mount_ids::MountId| {
            renamed
                .iter()
                .find(|(from, _)| *from == old)
                .map_or(old, |(_, to)| *to)
        };
        let mut root_mount = self.root_mount.clone();
        root_mount.id = renamed[0].1;
        root_mount.parent = renamed[0].1;
        for mount in mounts.iter_mut() {
            mount.meta.id = new_id(mount.meta.id);
            mount.meta.parent = new_id(mount.meta.parent);
        }
        Ok(Namespace {
            root: self.root.clone(),
            mounts: Mutex::new(mounts),
            root_mount,
            file_mounts: core::sync::atomic::AtomicBool::new(self.file_mounts.load(Relaxed)),
            ino: crate::sentry::ns::new_ino(),
            _token: token,
            events: core::sync::atomic::AtomicU64::new(0),
            changed: Default::default(),
        })
    }

    pub fn ino(&self) -> u64 {
        self.ino
    }

    /// The root of every mounted filesystem, the namespace's own first.
    pub fn filesystem_roots(&self) -> Vec<Arc<dyn Inode>> {
        let mut roots = alloc::vec![self.root.clone()];
        roots.extend(self.mounts.lock().iter().map(|m| m.root.clone()));
        roots
    }

    pub fn root_stack(&self) -> PathStack {
        PathStack(alloc::vec![(Vec::new(), self.root.clone())])
    }

    /// Mounts `root` over `at`: a directory over a directory, or a regular
    /// file over a regular file (a bind mount of one file).
    pub fn mount(&self, at_path: &PathStack, root: Arc<dyn Inode>) -> Result<(), Errno> {
        let at = at_path.node();
        match (at.kind(), root.kind()) {
            (FileKind::Directory, FileKind::Directory) | (FileKind::Regular, FileKind::Regular) => {
            }
            (FileKind::Directory, _) => return Err(EISDIR),
            _ => return Err(ENOTDIR),
        }
        if root.kind() == FileKind::Regular {
            self.file_mounts
                .store(true, core::sync::atomic::Ordering::Relaxed);
        }
        let meta = self.own_mount_meta(at_path, &*root);
        self.mounts.lock().push(Mount {
            point: at.id(),
            root,
            line: None,
            meta,
        });
        Ok(())
    }

    /// The description of one of the sandbox's own mounts of `root` at `at`.
    fn own_mount_meta(&self, at: &PathStack, root: &dyn Inode) -> mount_ids::MountMeta {
        mount_ids::MountMeta {
            id: mount_ids::MountId::new(),
            parent: self.mount_of(at).0.id,
            point: at.path(),
            root: b"/".to_vec(),
            fstype: mount_ids::fs_type_of_dev(root.stat().dev).to_vec(),
            attr: read_only_attr(root),
            sb_flags: 0,
            unbindable: false,
        }
    }

    /// mount(2): lays `root` over `at` (a directory over a directory, a
    /// file over a file), listed in /proc/mounts as `line`, described by
    /// `meta` (whose ids, parent and mount point are filled in here).
    pub fn mount_listed(
        &self,
        at_path: &PathStack,
        root: Arc<dyn Inode>,
        line: MountLine,
        mut meta: mount_ids::MountMeta,
    ) -> Result<(), Errno> {
        let at = at_path.node();
        let is_dir = |n: &Arc<dyn Inode>| n.kind() == FileKind::Directory;
        match (is_dir(at), is_dir(&root)) {
            (true, false) => return Err(ENOTDIR),
            (false, true) => return Err(ENOTDIR),
            (false, false) => self
                .file_mounts
                .store(true, core::sync::atomic::Ordering::Relaxed),
            (true, true) => {}
        }
        meta.id = mount_ids::MountId::new();
        meta.parent = self.mount_of(at_path).0.id;
        meta.point = at_path.path();
        self.mounts.lock().push(Mount {
            point: at.id(),
            root,
            line: Some(line),
            meta,
        });
        self.note_change();
        Ok(())
    }

    /// umount2(2) at `path`: the topmost mount over the directory (or
    /// file) its last component names goes. EINVAL when nothing is mounted
    /// there; EBUSY for the sandbox's own mounts, which stay. Every unmount
    /// is lazy (MNT_DETACH): open files keep what they opened, and mounts
    /// made inside it go out of reach with it.
    pub fn unmount(&self, path: &PathStack) -> Result<(), Errno> {
        let [.., (_, parent), (name, _)] = &path.0[..] else {
            return Err(EINVAL); // the root
        };
        let mut node = parent.lookup(name)?;
        let mut mounts = self.mounts.lock();
        let mut topmost = None;
        for _ in 0..mounts.len() {
            let id = node.id();
            match mounts
                .iter()
                .rposition(|m| m.point == id && m.root.id() != id)
            {
                Some(index) => {
                    topmost = Some(index);
                    node = mounts[index].root.clone();
                }
                None => break,
            }
        }
        let index = topmost.ok_or(EINVAL)?;
        if mounts[index].line.is_none() {
            return Err(EBUSY);
        }
        mounts.remove(index);
        drop(mounts);
        self.note_change();
        Ok(())
    }

    /// The /proc/mounts lines of the mounts made by mount(2), oldest first.
    pub fn listed_mounts(&self) -> Vec<MountLine> {
        self.mounts
            .lock()
            .iter()
            .filter_map(|m| m.line.clone())
            .collect()
    }

    /// A remount made the filesystem whose root is `root` read-only (or
    /// writable): its /proc/mounts lines say so ("ro" or "rw" first).
    pub fn show_read_only(&self, root: &Arc<dyn Inode>, read_only: bool) {
        let id = root.id();
        let mut changed = false;
        for mount in self.mounts.lock().iter_mut() {
            if mount.root.id() != id {
                continue;
            }
            if let Some((_, _, _, options)) = &mut mount.line {
                if options.starts_with(b"rw") || options.starts_with(b"ro") {
                    options[1] = if read_only { b'o' } else { b'w' };
                    changed = true;
                }
            }
        }
        if changed {
            self.note_change();
        }
    }

    /// The mount-event count (see `events`).
    pub fn events(&self) -> u64 {
        self.events.load(core::sync::atomic::Ordering::Acquire)
    }

    fn note_change(&self) {
        self.events
            .fetch_add(1, core::sync::atomic::Ordering::AcqRel);
        self.changed.wake_all();
    }

    /// Lays `file` over the regular file (or symlink) `at`, as a bind
    /// mount of a file does (`--net`'s name-service files under `--root`).
    pub fn mount_file(&self, at_path: &PathStack, file: Arc<dyn Inode>) -> Result<(), Errno> {
        let at = at_path.node();
        if at.kind() == FileKind::Directory {
            return Err(EISDIR);
        }
        let meta = self.own_mount_meta(at_path, &*file);
        self.mounts.lock().push(Mount {
            point: at.id(),
            root: file,
            line: None,
            meta,
        });
        self.file_mounts
            .store(true, core::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// The mount `stack` lies in, and the index in `stack` of that mount's
    /// root (0 for the namespace's root mount). A node in the stack is a
    /// mount's root when that mount is the topmost one over the node its
    /// name has in the directory below it (a raw lookup, made only for
    /// nodes that are some mount's root).
    pub fn mount_of(&self, stack: &PathStack) -> (mount_ids::MountMeta, usize) {
        let mounts = self.mounts.lock();
        for i in (1..stack.0.len()).rev() {
            let (name, node) = &stack.0[i];
            let id = node.id();
            if !mounts.iter().any(|m| m.root.id() == id) {
                continue;
            }
            let Ok(mut shown) = stack.0[i - 1].1.lookup(name) else {
                continue;
            };
            // What cover() does, noting the mount each step comes from.
            let mut top = None;
            for _ in 0..mounts.len() {
                let at = shown.id();
                match mounts
                    .iter()
                    .rposition(|m| m.point == at && m.root.id() != at)
                {
                    Some(index) => {
                        top = Some(index);
                        shown = mounts[index].root.clone();
                    }
                    None => break,
                }
            }
            // A directory bound over itself shows itself.
            let at = shown.id();
            if let Some(index) = mounts
                .iter()
                .rposition(|m| m.point == at && m.root.id() == at)
            {
                if top.is_none_or(|t| index > t) {
                    top = Some(index);
                }
            }
            if let Some(index) = top {
                if at == id {
                    return (mounts[index].meta.clone(), i);
                }
            }
        }
        (self.root_mount.clone(), 0)
    }

    /// Every mount of the namespace, the root's first, then oldest first.
    pub fn mount_metas(&self) -> Vec<mount_ids::MountMeta> {
        let mut all = alloc::vec![self.root_mount.clone()];
        all.extend(self.mounts.lock().iter().map(|m| m.meta.clone()));
        all
    }

    /// Every mount, the root's first: its description, its /proc/mounts
    /// line (None for the sandbox's own) and its filesystem's device.
    pub fn mount_table(&self) -> Vec<(mount_ids::MountMeta, Option<MountLine>, u64)> {
        let mut all = alloc::vec![(self.root_mount.clone(), None, self.root.stat().dev)];
        all.extend(
            self.mounts
                .lock()
                .iter()
                .map(|m| (m.meta.clone(), m.line.clone(), m.root.stat().dev)),
        );
        all
    }

    /// The mount whose unique id is `unique`, with its root node.
    pub fn mount_by_id(&self, unique: u64) -> Option<(mount_ids::MountMeta, Arc<dyn Inode>)> {
        if self.root_mount.id.unique == unique {
            return Some((self.root_mount.clone(), self.root.clone()));
        }
        self.mounts
            .lock()
            .iter()
            .find(|m| m.meta.id.unique == unique)
            .map(|m| (m.meta.clone(), m.root.clone()))
    }

    /// Records MS_UNBINDABLE (or clears it) on the mount whose root `at`
    /// is, and with `recursive` on the mounts beneath it.
    pub fn set_unbindable(&self, at: &PathStack, unbindable: bool, recursive: bool) {
        let target = self.mount_of(at).0.id;
        let mut mounts = self.mounts.lock();
        let mut chosen = alloc::vec![target];
        if recursive {
            // Parents come before their children in the table.
            for m in mounts.iter() {
                if chosen.contains(&m.meta.parent) && !chosen.contains(&m.meta.id) {
                    chosen.push(m.meta.id);
                }
            }
        }
        for m in mounts.iter_mut() {
            if chosen.contains(&m.meta.id) {
                m.meta.unbindable = unbindable;
            }
        }
    }

    pub fn is_mount_point(&self, node: &Arc<dyn Inode>) -> bool {
        let id = node.id();
        self.mounts
            .lock()
            .iter()
            .any(|m| m.point == id || m.root.id() == id)
    }

    /// The node that is visible at `node`'s place (a mounted root, or itself).
    fn cover(&self, node: Arc<dyn Inode>) -> Arc<dyn Inode> {
        let mounts = self.mounts.lock();
        if mounts.is_empty()
            || (node.kind() != FileKind::Directory
                && !self.file_mounts.load(core::sync::atomic::Ordering::Relaxed))
        {
            return node;
        }
        // Mounts stack: one made over a mounted root covers it in turn.
        let mut node = node;
        for _ in 0..mounts.len() {
            let id = node.id();
            match mounts
                .iter()
                .rev()
                .find(|m| m.point == id && m.root.id() != id)
            {
                Some(mount) => node = mount.root.clone(),
                None => break,
            }
        }
        node
    }

    /// Resolves `path` from `start` (used for relative paths). With
    /// `follow_last`, a final symlink is followed.
    pub fn resolve(
        &self,
        start: &PathStack,
        path: &[u8],
        follow_last: bool,
    ) -> Result<PathStack, Errno> {
        self.resolve_in(
            &self.root_stack(),
            start,
            path,
            follow_last,
            &Accessor::KERNEL,
        )
    }

    /// Resolves `path` from `start` for a process whose root directory
    /// (chroot) is `root`: absolute paths and absolute symlinks start
    /// there and ".." does not climb above it. `who` needs search
    /// permission on every directory it passes through (EACCES).
    pub fn resolve_in(
        &self,
        root: &PathStack,
        start: &PathStack,
        path: &[u8],
        follow_last: bool,
        who: &Accessor,
    ) -> Result<PathStack, Errno> {
        self.resolve_with(root, start, path, follow_last, who, 0)
    }

    /// [`Self::resolve_in`] with openat2's RESOLVE_* restrictions. For
    /// RESOLVE_BENEATH and RESOLVE_IN_ROOT the caller passes the starting
    /// directory as `root` (the scope).
    pub fn resolve_with(
        &self,
        root: &PathStack,
        start: &PathStack,
        path: &[u8],
        follow_last: bool,
        who: &Accessor,
        resolve: u64,
    ) -> Result<PathStack, Errno> {
        let mut walk = Walk::new(path)?;
        let mut stack = if walk.absolute() {
            // Linux's nd_jump_root: the scope may not be left; an absolute
            // path argument is no crossing for RESOLVE_NO_XDEV.
            if resolve & RESOLVE_BENEATH != 0 {
                return Err(EXDEV);
            }
            root.clone()
        } else {
            start.clone()
        };
        let check_search = !who.searches_anything();
        let dev = |node: &Arc<dyn Inode>| node.stat().dev;
        while let Some(step) = walk.next_step() {
            let step = step?;
            if check_search {
                let dir = stack.node();
                // Host directories are searched as root would (accessor_for):
                // always allowed, so their attributes are not fetched.
                if dir.kind() == FileKind::Directory && !dir.host_backed() {
                    who.check(owned(&**dir), MAY_EXEC)?;
                }
            }
            let component = match step {
                Step::Parent => {
                    if stack.is_at(root) && resolve & RESOLVE_BENEATH != 0 {
                        return Err(EXDEV);
                    }
                    if stack.0.len() > 1 && !stack.is_at(root) {
                        if resolve & RESOLVE_NO_XDEV != 0
                            && dev(stack.node()) != dev(&stack.0[stack.0.len() - 2].1)
                        {
                            return Err(EXDEV);
                        }
                        stack.0.pop();
                    }
                    continue;
                }
                Step::Name(name) => name,
            };
            let dir = stack.node().clone();
            if dir.kind() != FileKind::Directory {
                return Err(ENOTDIR);
            }
            let child = self.cover(dir.lookup(&component)?);
            if resolve & RESOLVE_NO_XDEV != 0 && dev(&child) != dev(&dir) {
                return Err(EXDEV);
            }
            let follow = walk.follows(follow_last);
            // Linux's pick_link and nd_jump_link.
            if follow && resolve != 0 && child.is_magic_link() {
                if resolve & (RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS) != 0 {
                    return Err(ELOOP);
                }
                if resolve & (RESOLVE_BENEATH | RESOLVE_IN_ROOT) != 0 {
                    return Err(EXDEV);
                }
            }
            if follow {
                if let Some(target) = child.magic_link() {
                    let target = target?;
                    if resolve & RESOLVE_NO_XDEV != 0 {
                        let there = match &target.location {
                            Some(location) => dev(location.node()),
                            None => target.file.stat().dev,
                        };
                        if there != dev(&dir) {
                            return Err(EXDEV);
                        }
                    }
                    walk.count_link()?;
                    match &target.location {
                        Some(location) => stack = location.clone(),
                        None => stack
                            .0
                            .push((component, Arc::new(OpenFileNode { file: target }))),
                    }
                    continue;
                }
            }
            if child.kind() == FileKind::Symlink && follow {
                if resolve & RESOLVE_NO_SYMLINKS != 0 {
                    return Err(ELOOP);
                }
                walk.count_link()?;
                if walk.splice(&child.readlink()?)? {
                    if resolve & RESOLVE_BENEATH != 0 {
                        return Err(EXDEV);
                    }
                    if resolve & RESOLVE_NO_XDEV != 0 && dev(root.node()) != dev(&dir) {
                        return Err(EXDEV);
                    }
                    stack = root.clone();
                }
                continue;
            }
            stack.0.push((component, child));
        }
        if walk.trailing_slash() && stack.node().kind() != FileKind::Directory {
            return Err(ENOTDIR);
        }
        Ok(stack)
    }

    /// Resolves everything but the last component of `path`, for a
    /// process whose root directory is `root`.
    pub fn resolve_parent_in(
        &self,
        root: &PathStack,
        start: &PathStack,
        path: &[u8],
        who: &Accessor,
    ) -> Result<ParentAndName, Errno> {
        self.resolve_parent_with(root, start, path, who, 0)
    }

    /// [`Self::resolve_parent_in`] with openat2's RESOLVE_* restrictions.
    pub fn resolve_parent_with(
        &self,
        root: &PathStack,
        start: &PathStack,
        path: &[u8],
        who: &Accessor,
        resolve: u64,
    ) -> Result<ParentAndName, Errno> {
        let last = walk::last_component(path)?;
        let parent = if last.dir.is_empty() {
            start.clone()
        } else {
            self.resolve_with(root, start, last.dir, true, who, resolve)?
        };
        if parent.node().kind() != FileKind::Directory {
            return Err(ENOTDIR);
        }
        Ok(ParentAndName {
            parent,
            name: last.name.to_vec(),
            trailing_slash: last.trailing_slash,
        })
    }
}

/// Who a permission check on `node` is made for. Files of shared host
/// directories keep their host owners, and files the sandbox creates there
/// belong to the VMM's host user (it never gives a file to another host
/// user), so owner-based checks there could not follow the sandbox's own
/// ids: a sandbox user is checked there as root is (execute bits still
/// count), and the host's own checks on the VMM and the mount's
/// read-only flag apply.
pub fn accessor_for<'a>(who: &Accessor<'a>, node: &dyn Inode) -> Accessor<'a> {
    if node.host_backed() {
        Accessor {
            caps: u64::MAX,
            ..*who
        }
    } else {
        *who
    }
}

/// MOUNT_ATTR_RDONLY for a filesystem whose writes fail with EROFS (a
/// read-only host directory), else no attribute.
fn read_only_attr(root: &dyn Inode) -> u64 {
    if root.read_only() {
        mount_ids::MOUNT_ATTR_RDONLY
    } else {
        0
    }
}

/// The mode and owner of `node`, for permission checks.
pub fn owned(node: &dyn Inode) -> Owned {
    let stat = node.stat();
    Owned {
        mode: stat.mode,
        uid: stat.uid,
        gid: stat.gid,
    }
}

/// Creates every missing directory of the absolute `path` (mode 0755).
pub fn make_dirs(ns: &Namespace, path: &[u8]) -> Result<PathStack, Errno> {
    let mut stack = ns.root_stack();
    for component in walk::split(path) {
        let dir = stack.node().clone();
        let child = match dir.lookup(&component) {
            Ok(child) => ns.cover(child),
            Err(e) if e == ENOENT => dir.create(&component, NewNode::Directory { mode: 0o755 })?,
            Err(e) => return Err(e),
        };
        stack.0.push((component, child));
    }
    Ok(stack)
}

/// Filesystem ids (`st_dev`).
pub const DEV_TMPFS: u64 = 0x20;
pub const DEV_DEVFS: u64 = 0x05;
pub const DEV_PROCFS: u64 = 0x04;
pub const DEV_EXE: u64 = 0x21;
/// /dev/shm, a tmpfs of its own.
pub const DEV_SHM: u64 = 0x22;
pub const DEV_CONSOLE: u64 = 0x16;
pub const DEV_PIPE: u64 = 0x0c;
/// The filesystem types the sandbox has, in a fixed order (sysfs(2)'s
/// indexes, /proc/filesystems): the in-memory ones, the pseudo
/// filesystems behind pipes, sockets, event files and message queues,
/// and the shared host directories.
pub const FILESYSTEM_TYPES: &[&[u8]] = &[
    b"tmpfs",
    b"proc",
    b"devtmpfs",
    b"sockfs",
    b"pipefs",
    b"anon_inodefs",
    b"mqueue",
    b"hostfs",
];

/// openat2's `how.resolve` flags.
pub const RESOLVE_NO_XDEV: u64 = 0x01;
pub const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
pub const RESOLVE_NO_SYMLINKS: u64 = 0x04;
pub const RESOLVE_BENEATH: u64 = 0x08;
pub const RESOLVE_IN_ROOT: u64 = 0x10;
pub const RESOLVE_CACHED: u64 = 0x20;

/// Host mounts get DEV_HOST_BASE + mount index.
pub const DEV_HOST_BASE: u64 = 0x100;
