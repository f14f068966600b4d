//! tmpfs: files, directories and symlinks in guest memory. File data lives
//! in whole page frames (not the sentry's heap), so /tmp can hold as much as
//! the guest's RAM, and a frame can later be mapped straight into user
//! memory. Frames are freed when the last link and the last open file go.

use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::any::Any;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use crate::arch::PAGE_SIZE;
use crate::mm::Frame;
use spin::Mutex;

use super::*;
use crate::sentry::fd::{DirFile, File, InodeFile};

static NEXT_INO: AtomicU64 = AtomicU64::new(2);

fn now() -> (i64, i64) {
    let ns = crate::sentry::time::realtime_ns();
    ((ns / 1_000_000_000) as i64, (ns % 1_000_000_000) as i64)
}

struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    nlink: u64,
    atime: (i64, i64),
    mtime: (i64, i64),
    ctime: (i64, i64),
}

/// Sparse file contents: page index -> frame (the file's reference; a
/// shared mapping of the page holds another).
#[derive(Default)]
struct FileData {
    pages: BTreeMap<u64, Frame>,
    size: u64,
}

impl FileData {
    fn truncate(&mut self, size: u64) {
        let keep = size.div_ceil(PAGE_SIZE);
        // The pages past the end go (their frames freed unless mapped).
        drop(self.pages.split_off(&keep));
        // Zero the tail of the last page, so growing again reads zeros.
        if !size.is_multiple_of(PAGE_SIZE) {
            if let Some(frame) = self.pages.get(&(size / PAGE_SIZE)) {
                let offset = (size % PAGE_SIZE) as usize;
                crate::mm::frame::fill(frame.phys(), offset, PAGE_SIZE as usize - offset, 0);
            }
        }
        self.size = size;
    }
}

enum Content {
    File(FileData),
    Directory(BTreeMap<Vec<u8>, Arc<dyn Inode>>),
    Symlink(Vec<u8>),
    /// A named pipe: its buffer outlives the opens.
    Fifo(Arc<super::pipe::Pipe>),
    /// A socket's name: the bound socket, held weakly (the name outlives
    /// the socket; connecting then is ECONNREFUSED).
    Socket(Weak<dyn Any + Send + Sync>),
    /// A device node (mknod S_IFCHR/S_IFBLK): its device number.
    Device(u64),
}

/// What the nodes of one tmpfs instance share (Linux's super block): a
/// read-only tmpfs (mount MS_RDONLY, or a remount with it) refuses
/// every change with EROFS, and stays writable while files of it are
/// open for writing (remounting it read-only is EBUSY then).
#[derive(Default)]
pub struct Superblock {
    read_only: AtomicBool,
    /// Open files of the instance that may write (see [`WriteCount`]).
    writers: AtomicUsize,
}

impl Superblock {
    /// Makes the instance read-only or writable again (remount): EBUSY
    /// while a file of it is open for writing.
    pub fn set_read_only(&self, read_only: bool) -> Result<(), Errno> {
        if read_only && self.writers.load(Ordering::Acquire) != 0 {
            return Err(EBUSY);
        }
        self.read_only.store(read_only, Ordering::Release);
        Ok(())
    }
}

/// An open file of a tmpfs instance that may write: counted while it
/// lives, for the remount check above.
struct WriteCount(Arc<Superblock>);

impl WriteCount {
    fn new(sb: &Arc<Superblock>) -> WriteCount {
        sb.writers.fetch_add(1, Ordering::AcqRel);
        WriteCount(sb.clone())
    }
}

impl Drop for WriteCount {
    fn drop(&mut self) {
        self.0.writers.fetch_sub(1, Ordering::AcqRel);
    }
}

pub struct TmpfsNode {
    ino: u64,
    dev: u64,
    sb: Arc<Superblock>,
    /// An O_TMPFILE file made without O_EXCL: linkat may give it a name
    /// although nothing links to it (Linux's I_LINKABLE; the first link
    /// clears it).
    linkable: AtomicBool,
    meta: Mutex<Meta>,
    content: Mutex<Content>,
    xattrs: super::xattr::XattrSet,
    /// File seals (fcntl F_ADD_SEALS): every tmpfs file has them, as
    /// Linux's shmem files do; only a memfd made with MFD_ALLOW_SEALING
    /// starts without F_SEAL_SEAL.
    seals: AtomicU32,
}

/// The seals (fcntl F_ADD_SEALS, F_GET_SEALS).
pub const F_SEAL_SEAL: u32 = 0x1;
pub const F_SEAL_SHRINK: u32 = 0x2;
pub const F_SEAL_GROW: u32 = 0x4;
pub const F_SEAL_WRITE: u32 = 0x8;
pub const F_SEAL_FUTURE_WRITE: u32 = 0x10;
pub const F_SEAL_EXEC: u32 = 0x20;

impl TmpfsNode {
    fn new(sb: &Arc<Superblock>, dev: u64, mode: u32, content: Content) -> Arc<TmpfsNode> {
        let t = now();
        let nlink = if matches!(content, Content::Directory(_)) {
            2
        } else {
            1
        };
        Arc::new(TmpfsNode {
            ino: NEXT_INO.fetch_add(1, Ordering::Relaxed),
            dev,
            sb: sb.clone(),
            linkable: AtomicBool::new(false),
            meta: Mutex::new(Meta {
                mode,
                uid: 0,
                gid: 0,
                nlink,
                atime: t,
                mtime: t,
                ctime: t,
            }),
            content: Mutex::new(content),
            xattrs: Default::default(),
            seals: AtomicU32::new(F_SEAL_SEAL),
        })
    }

    /// A new, empty tmpfs; returns its root directory.
    pub fn new_root(dev: u64) -> Arc<TmpfsNode> {
        TmpfsNode::new(
            &Arc::new(Superblock::default()),
            dev,
            S_IFDIR | 0o755,
            Content::Directory(BTreeMap::new()),
        )
    }

    /// The instance this node belongs to (remount changes it).
    pub fn superblock(&self) -> &Arc<Superblock> {
        &self.sb
    }

    fn touch_modified(&self) {
        let t = now();
        let mut meta = self.meta.lock();
        meta.mtime = t;
        meta.ctime = t;
    }

    fn downcast(node: &Arc<dyn Inode>) -> Option<&TmpfsNode> {
        node.as_any().downcast_ref::<TmpfsNode>()
    }

    /// Inserts a node of another kind under `name` (the executable).
    pub fn insert(&self, name: &[u8], node: Arc<dyn Inode>) -> Result<(), Errno> {
        let mut content = self.content.lock();
        let Content::Directory(entries) = &mut *content else {
            return Err(ENOTDIR);
        };
        if entries.contains_key(name) {
            return Err(EEXIST);
        }
        entries.insert(name.to_vec(), node);
        Ok(())
    }
}

fn kind_of(content: &Content) -> FileKind {
    match content {
        Content::File(_) => FileKind::Regular,
        Content::Directory(_) => FileKind::Directory,
        Content::Symlink(_) => FileKind::Symlink,
        Content::Fifo(_) => FileKind::Fifo,
        Content::Socket(_) => FileKind::Socket,
        Content::Device(_) => FileKind::CharDevice,
    }
}

impl Inode for TmpfsNode {
    fn xattrs(&self) -> Option<&super::xattr::XattrSet> {
        Some(&self.xattrs)
    }

    fn stat(&self) -> Stat {
        let meta = self.meta.lock();
        let content = self.content.lock();
        let (size, blocks) = match &*content {
            Content::File(data) => (data.size, data.pages.len() as u64 * (PAGE_SIZE / 512)),
            Content::Directory(entries) => ((entries.len() as u64 + 2) * 20, 0),
            Content::Symlink(target) => (target.len() as u64, 0),
            Content::Fifo(_) | Content::Socket(_) | Content::Device(_) => (0, 0),
        };
        let rdev = match &*content {
            Content::Device(rdev) => *rdev,
            _ => 0,
        };
        Stat {
            dev: self.dev,
            ino: self.ino,
            nlink: meta.nlink,
            mode: meta.mode,
            uid: meta.uid,
            gid: meta.gid,
            rdev,
            size: size as i64,
            blksize: PAGE_SIZE as i64,
            blocks: blocks as i64,
            atime: meta.atime.0,
            atime_nsec: meta.atime.1,
            mtime: meta.mtime.0,
            mtime_nsec: meta.mtime.1,
            ctime: meta.ctime.0,
            ctime_nsec: meta.ctime.1,
            ..Stat::default()
        }
    }

    fn kind(&self) -> FileKind {
        match &*self.content.lock() {
            Content::Device(_) => FileKind::from_mode(self.meta.lock().mode),
            content => kind_of(content),
        }
    }

    fn id(&self) -> (u64, u64) {
        (self.dev, self.ino)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn lookup(&self, name: &[u8]) -> Result<Arc<dyn Inode>, Errno> {
        match &*self.content.lock() {
            Content::Directory(entries) => entries.get(name).cloned().ok_or(ENOENT),
            _ => Err(ENOTDIR),
        }
    }

    fn create(&self, name: &[u8], node: NewNode) -> Result<Arc<dyn Inode>, Errno> {
        // Nodes live in the sentry's memory: the file system is full when
        // that is (as a tmpfs out of inodes).
        crate::mm::reserve_for_object(ENOSPC)?;
        let new: Arc<dyn Inode> = match node {
            NewNode::File { mode } => TmpfsNode::new(
                &self.sb,
                self.dev,
                S_IFREG | (mode & 0o7777),
                Content::File(FileData::default()),
            ),
            NewNode::Directory { mode } => TmpfsNode::new(
                &self.sb,
                self.dev,
                S_IFDIR | (mode & 0o7777),
                Content::Directory(BTreeMap::new()),
            ),
            NewNode::Symlink { target } => TmpfsNode::new(
                &self.sb,
                self.dev,
                S_IFLNK | 0o777,
                Content::Symlink(target.to_vec()),
            ),
            NewNode::Fifo { mode } => TmpfsNode::new(
                &self.sb,
                self.dev,
                S_IFIFO | (mode & 0o7777),
                Content::Fifo(super::pipe::new_fifo()),
            ),
            NewNode::Socket { mode, bound } => TmpfsNode::new(
                &self.sb,
                self.dev,
                S_IFSOCK | (mode & 0o7777),
                Content::Socket(bound),
            ),
            NewNode::Device { mode, block, rdev } => {
                let kind = if block { S_IFBLK } else { S_IFCHR };
                TmpfsNode::new(
                    &self.sb,
                    self.dev,
                    kind | (mode & 0o7777),
                    Content::Device(rdev),
                )
            }
        };
        let is_dir = new.kind() == FileKind::Directory;
        {
            let mut content = self.content.lock();
            let Content::Directory(entries) = &mut *content else {
                return Err(ENOTDIR);
            };
            if entries.contains_key(name) {
                return Err(EEXIST);
            }
            entries.insert(name.to_vec(), new.clone());
        }
        if is_dir {
            self.meta.lock().nlink += 1;
        }
        self.touch_modified();
        Ok(new)
    }

    fn link(&self, name: &[u8], target: &Arc<dyn Inode>) -> Result<(), Errno> {
        let Some(target_node) = TmpfsNode::downcast(target) else {
            return Err(EXDEV);
        };
        if !Arc::ptr_eq(&target_node.sb, &self.sb) {
            return Err(EXDEV);
        }
        if target_node.kind() == FileKind::Directory {
            return Err(EPERM);
        }
        // A file nothing links to any more (unlinked, a memfd) gets no
        // name again (Linux's vfs_link), unless it is an O_TMPFILE file
        // made to be linked, once.
        if target_node.meta.lock().nlink == 0 && !target_node.linkable.load(Ordering::Acquire) {
            return Err(ENOENT);
        }
        crate::mm::reserve_for_object(ENOSPC)?;
        {
            let mut content = self.content.lock();
            let Content::Directory(entries) = &mut *content else {
                return Err(ENOTDIR);
            };
            if entries.contains_key(name) {
                return Err(EEXIST);
            }
            entries.insert(name.to_vec(), target.clone());
        }
        {
            let mut meta = target_node.meta.lock();
            meta.nlink += 1;
            meta.ctime = now();
        }
        target_node.linkable.store(false, Ordering::Release);
        self.touch_modified();
        Ok(())
    }

    fn unlink(&self, name: &[u8], directory: bool) -> Result<(), Errno> {
        let removed = {
            let mut content = self.content.lock();
            let Content::Directory(entries) = &mut *content else {
                return Err(ENOTDIR);
            };
            let node = entries.get(name).ok_or(ENOENT)?;
            match (node.kind() == FileKind::Directory, directory) {
                (true, false) => return Err(EISDIR),
                (false, true) => return Err(ENOTDIR),
                (true, true) => {
                    if !node.readdir()?.is_empty() {
                        return Err(ENOTEMPTY);
                    }
                }
                (false, false) => {}
            }
            entries.remove(name).expect("checked above")
        };
        if let Some(removed) = TmpfsNode::downcast(&removed) {
            let mut meta = removed.meta.lock();
            meta.nlink = if directory {
                0
            } else {
                meta.nlink.saturating_sub(1)
            };
            meta.ctime = now();
        }
        if directory {
            let mut meta = self.meta.lock();
            meta.nlink = meta.nlink.saturating_sub(1);
        }
        self.touch_modified();
        Ok(())
    }

    fn rename(
        &self,
        old_name: &[u8],
        new_dir: &Arc<dyn Inode>,
        new_name: &[u8],
        flags: u32,
    ) -> Result<(), Errno> {
        const RENAME_NOREPLACE: u32 = 1;
        const RENAME_EXCHANGE: u32 = 2;
        const RENAME_WHITEOUT: u32 = 4;
        let Some(target_dir) = TmpfsNode::downcast(new_dir) else {
            return Err(EXDEV);
        };
        if !Arc::ptr_eq(&target_dir.sb, &self.sb) {
            return Err(EXDEV);
        }
        if flags & !(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT) != 0
            || (flags & RENAME_EXCHANGE != 0 && flags & !RENAME_EXCHANGE != 0)
        {
            return Err(EINVAL);
        }
        let same_dir = core::ptr::eq(self, target_dir);
        let moving = self.lookup(old_name)?;
        let existing = target_dir.lookup(new_name).ok();
        if let Some(existing) = &existing {
            if Arc::ptr_eq(existing, &moving) {
                return Ok(()); // the same file: nothing to do
            }
            if flags & RENAME_NOREPLACE != 0 {
                return Err(EEXIST);
            }
            if flags & RENAME_EXCHANGE == 0 {
                match (
                    moving.kind() == FileKind::Directory,
                    existing.kind() == FileKind::Directory,
                ) {
                    (false, true) => return Err(EISDIR),
                    (true, false) => return Err(ENOTDIR),
                    (true, true) => {
                        if !existing.readdir()?.is_empty() {
                            return Err(ENOTEMPTY);
                        }
                    }
                    (false, false) => {}
                }
            }
        } else if flags & RENAME_EXCHANGE != 0 {
            return Err(ENOENT);
        }
        let moving_is_dir = moving.kind() == FileKind::Directory;
        if flags & RENAME_EXCHANGE != 0 {
            let other = existing.clone().expect("checked");
            let other_is_dir = other.kind() == FileKind::Directory;
            set_entry(self, old_name, other);
            set_entry(target_dir, new_name, moving.clone());
            if !same_dir && moving_is_dir != other_is_dir {
                let (gain, lose) = if moving_is_dir {
                    (target_dir, self)
                } else {
                    (self, target_dir)
                };
                gain.meta.lock().nlink += 1;
                let mut meta = lose.meta.lock();
                meta.nlink = meta.nlink.saturating_sub(1);
            }
        } else {
            if let Some(existing) = &existing {
                if let Some(old) = TmpfsNode::downcast(existing) {
                    let mut meta = old.meta.lock();
                    meta.nlink = if existing.kind() == FileKind::Directory {
                        0
                    } else {
                        meta.nlink.saturating_sub(1)
                    };
                }
                if existing.kind() == FileKind::Directory {
                    let mut meta = target_dir.meta.lock();
                    meta.nlink = meta.nlink.saturating_sub(1);
                }
            }
            remove_entry(self, old_name);
            set_entry(target_dir, new_name, moving.clone());
            if flags & RENAME_WHITEOUT != 0 {
                // The old name becomes a whiteout (overlayfs's marker of a
                // removed file): a character device 0:0 (Linux's
                // shmem_whiteout).
                let whiteout: Arc<dyn Inode> =
                    TmpfsNode::new(&self.sb, self.dev, S_IFCHR, Content::Device(0));
                set_entry(self, old_name, whiteout);
            }
            if moving_is_dir && !same_dir {
                target_dir.meta.lock().nlink += 1;
                let mut meta = self.meta.lock();
                meta.nlink = meta.nlink.saturating_sub(1);
            }
        }
        self.touch_modified();
        if !same_dir {
            target_dir.touch_modified();
        }
        Ok(())
    }

    fn readdir(&self) -> Result<Vec<DirEntry>, Errno> {
        match &*self.content.lock() {
            Content::Directory(entries) => Ok(entries
                .iter()
                .map(|(name, node)| DirEntry {
                    name: name.clone(),
                    ino: node.id().1,
                    kind: node.kind(),
                })
                .collect()),
            _ => Err(ENOTDIR),
        }
    }

    fn readlink(&self) -> Result<Vec<u8>, Errno> {
        match &*self.content.lock() {
            Content::Symlink(target) => Ok(target.clone()),
            _ => Err(EINVAL),
        }
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        let content = self.content.lock();
        let data = match &*content {
            Content::File(data) => data,
            Content::Directory(_) => return Err(EISDIR),
            Content::Symlink(_) | Content::Fifo(_) | Content::Socket(_) | Content::Device(_) => {
                return Err(EINVAL)
            }
        };
        if offset >= data.size {
            return Ok(0);
        }
        let n = (buf.len() as u64).min(data.size - offset) as usize;
        let mut done = 0;
        while done < n {
            let pos = offset + done as u64;
            let in_page = (pos % PAGE_SIZE) as usize;
            let chunk = (PAGE_SIZE as usize - in_page).min(n - done);
            match data.pages.get(&(pos / PAGE_SIZE)) {
                Some(frame) => {
                    crate::mm::frame::read(frame.phys(), in_page, &mut buf[done..done + chunk])
                }
                None => buf[done..done + chunk].fill(0),
            }
            done += chunk;
        }
        drop(content);
        self.meta.lock().atime = now();
        Ok(n)
    }

    fn write_at(&self, offset: u64, buf: &[u8]) -> Result<usize, Errno> {
        let mut content = self.content.lock();
        let data = match &mut *content {
            Content::File(data) => data,
            Content::Directory(_) => return Err(EISDIR),
            Content::Symlink(_) | Content::Fifo(_) | Content::Socket(_) | Content::Device(_) => {
                return Err(EINVAL)
            }
        };
        let end = offset.checked_add(buf.len() as u64).ok_or(EFBIG)?;
        if end > MAX_FILE_SIZE {
            return Err(EFBIG);
        }
        let seals = self.seals.load(Ordering::Relaxed);
        if seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE) != 0 {
            return Err(EPERM);
        }
        let mut buf = buf;
        if seals & F_SEAL_GROW != 0 && end > data.size {
            // Linux checks a write page by page: it stops at the first
            // piece that would end past the size (EPERM if that is the
            // first).
            let boundary = data.size - data.size % PAGE_SIZE;
            if boundary <= offset {
                return Err(EPERM);
            }
            buf = &buf[..(boundary - offset) as usize];
        }
        let mut done = 0;
        while done < buf.len() {
            let pos = offset + done as u64;
            let in_page = (pos % PAGE_SIZE) as usize;
            let chunk = (PAGE_SIZE as usize - in_page).min(buf.len() - done);
            let index = pos / PAGE_SIZE;
            let frame = match data.pages.get(&index) {
                Some(frame) => frame.phys(),
                None => match Frame::alloc_zeroed() {
                    Some(frame) => data.pages.entry(index).or_insert(frame).phys(),
                    None if done > 0 => break,
                    None => return Err(ENOSPC),
                },
            };
            crate::mm::frame::write(frame, in_page, &buf[done..done + chunk]);
            done += chunk;
        }
        data.size = data.size.max(offset + done as u64);
        drop(content);
        self.touch_modified();
        Ok(done)
    }

    fn truncate(&self, size: u64) -> Result<(), Errno> {
        if size > MAX_FILE_SIZE {
            return Err(EFBIG);
        }
        match &mut *self.content.lock() {
            Content::File(data) => {
                let seals = self.seals.load(Ordering::Relaxed);
                if (size < data.size && seals & F_SEAL_SHRINK != 0)
                    || (size > data.size && seals & F_SEAL_GROW != 0)
                {
                    return Err(EPERM);
                }
                data.truncate(size)
            }
            Content::Directory(_) => return Err(EISDIR),
            Content::Symlink(_) | Content::Fifo(_) | Content::Socket(_) | Content::Device(_) => {
                return Err(EINVAL)
            }
        }
        self.touch_modified();
        Ok(())
    }

    fn set_mode(&self, mode: u32) -> Result<(), Errno> {
        let mut meta = self.meta.lock();
        // F_SEAL_EXEC: the execute bits stay as they are.
        if self.seals.load(Ordering::Relaxed) & F_SEAL_EXEC != 0 && (meta.mode ^ mode) & 0o111 != 0
        {
            return Err(EPERM);
        }
        meta.mode = (meta.mode & S_IFMT) | (mode & 0o7777);
        meta.ctime = now();
        Ok(())
    }

    fn set_owner(&self, uid: Option<u32>, gid: Option<u32>) -> Result<(), Errno> {
        let mut meta = self.meta.lock();
        if let Some(uid) = uid {
            meta.uid = uid;
        }
        if let Some(gid) = gid {
            meta.gid = gid;
        }
        meta.ctime = now();
        Ok(())
    }

    fn set_times(&self, atime: Option<TimeUpdate>, mtime: Option<TimeUpdate>) -> Result<(), Errno> {
        let t = now();
        let resolve = |u: TimeUpdate| match u {
            TimeUpdate::Now => t,
            TimeUpdate::Set(s, ns) => (s, ns),
        };
        let mut meta = self.meta.lock();
        if let Some(a) = atime {
            meta.atime = resolve(a);
        }
        if let Some(m) = mtime {
            meta.mtime = resolve(m);
        }
        meta.ctime = t;
        Ok(())
    }

    fn read_only(&self) -> bool {
        self.sb.read_only.load(Ordering::Acquire)
    }

    /// SEEK_DATA and SEEK_HOLE by page, as Linux's shmem_file_llseek:
    /// a page that was never written (or was punched out) is a hole.
    fn seek_data_hole(&self, offset: u64, data: bool) -> Result<u64, Errno> {
        let content = self.content.lock();
        let Content::File(file) = &*content else {
            return Err(EINVAL);
        };
        if offset >= file.size {
            return Err(ENXIO);
        }
        let index = offset / PAGE_SIZE;
        let present = |i: u64| file.pages.contains_key(&i);
        let found = if data {
            if present(index) {
                offset
            } else {
                match file.pages.range(index..).next() {
                    Some((&i, _)) => i * PAGE_SIZE,
                    None => return Err(ENXIO),
                }
            }
        } else if !present(index) {
            offset
        } else {
            // The first page after `index` that is not there.
            let mut next = index + 1;
            for (&i, _) in file.pages.range(index + 1..) {
                if i != next {
                    break;
                }
                next += 1;
            }
            next * PAGE_SIZE
        };
        // Past the last data, the end of the file is the hole.
        if found >= file.size {
            return if data { Err(ENXIO) } else { Ok(file.size) };
        }
        Ok(found)
    }

    /// Every page a tmpfs file has is in memory, and dirty: it has no
    /// backing store to be written to (Linux marks shmem pages dirty).
    fn cached_pages(&self, first: u64, last: u64) -> (u64, u64) {
        match &*self.content.lock() {
            Content::File(data) => {
                let n = data.pages.range(first..=last).count() as u64;
                (n, n)
            }
            _ => (0, 0),
        }
    }

    fn create_unnamed(&self, mode: u32, linkable: bool) -> Result<Arc<dyn Inode>, Errno> {
        if !matches!(*self.content.lock(), Content::Directory(_)) {
            return Err(ENOTDIR);
        }
        crate::mm::reserve_for_object(ENOSPC)?;
        let node = TmpfsNode::new(
            &self.sb,
            self.dev,
            S_IFREG | (mode & 0o7777),
            Content::File(FileData::default()),
        );
        node.meta.lock().nlink = 0;
        node.linkable.store(linkable, Ordering::Release);
        Ok(node)
    }

    fn seals(&self) -> Option<&AtomicU32> {
        matches!(*self.content.lock(), Content::File(_)).then_some(&self.seals)
    }

    fn punch_hole(&self, offset: u64, len: u64) -> Result<(), Errno> {
        let mut content = self.content.lock();
        let Content::File(data) = &mut *content else {
            return Err(ENODEV);
        };
        if self.seals.load(Ordering::Relaxed) & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE) != 0 {
            return Err(EPERM);
        }
        let end = offset.saturating_add(len).min(data.size);
        let mut pos = offset;
        while pos < end {
            let index = pos / PAGE_SIZE;
            let in_page = pos % PAGE_SIZE;
            let chunk = (PAGE_SIZE - in_page).min(end - pos);
            if let Some(frame) = data.pages.get(&index) {
                // A whole page goes back to the allocator unless a shared
                // mapping holds it: that one is zeroed in place, so the
                // mapping sees the hole as Linux's would.
                if chunk == PAGE_SIZE && !frame.is_shared() {
                    data.pages.remove(&index);
                } else {
                    crate::mm::frame::fill(frame.phys(), in_page as usize, chunk as usize, 0);
                }
            }
            pos += chunk;
        }
        drop(content);
        self.touch_modified();
        Ok(())
    }

    fn shared_page(&self, index: u64) -> Result<Option<Frame>, Errno> {
        let mut content = self.content.lock();
        let Content::File(data) = &mut *content else {
            return Err(ENODEV);
        };
        if index >= data.size.div_ceil(PAGE_SIZE) {
            return Ok(None); // beyond the end of the file
        }
        let frame = match data.pages.get(&index) {
            Some(frame) => frame,
            None => {
                let frame = Frame::alloc_zeroed().ok_or(ENOMEM)?;
                data.pages.entry(index).or_insert(frame)
            }
        };
        Ok(Some(frame.clone()))
    }

    fn page_cached(&self, index: u64) -> bool {
        match &*self.content.lock() {
            Content::File(data) => data.pages.contains_key(&index),
            _ => false,
        }
    }

    fn bound_socket(&self) -> Option<Arc<dyn Any + Send + Sync>> {
        match &*self.content.lock() {
            Content::Socket(bound) => bound.upgrade(),
            _ => None,
        }
    }

    fn open(self: Arc<Self>, flags: u32) -> Result<Arc<dyn File>, Errno> {
        if let Content::Socket(_) = &*self.content.lock() {
            // Sockets are reached with connect, never opened (Linux: ENXIO).
            return Err(ENXIO);
        }
        if let Content::Device(rdev) = &*self.content.lock() {
            // The sandbox's own devices by number; any other is a device
            // with no driver (ENXIO, as Linux answers).
            if self.meta.lock().mode & S_IFMT != S_IFCHR {
                return Err(ENXIO);
            }
            return super::devfs::open_device(*rdev, flags);
        }
        if let Content::Fifo(pipe) = &*self.content.lock() {
            use crate::sentry::fd::{O_ACCMODE, O_NONBLOCK, O_RDWR, O_WRONLY};
            let mode = flags & O_ACCMODE;
            // A non-blocking writer with no reader: ENXIO (a blocking one
            // waits for a reader in the open syscall).
            if mode == O_WRONLY && flags & O_NONBLOCK != 0 && pipe.readers() == 0 {
                return Err(ENXIO);
            }
            let reads = mode != O_WRONLY;
            let write = mode == O_WRONLY || mode == O_RDWR;
            let end = super::pipe::open_end(pipe, reads, write);
            return Ok(Arc::new(FifoEnd {
                end,
                node: self.clone(),
            }));
        }
        use crate::sentry::fd::{O_ACCMODE, O_RDONLY};
        Ok(match self.kind() {
            FileKind::Directory => Arc::new(DirFile::new(self)),
            _ if flags & O_ACCMODE != O_RDONLY => {
                let count = WriteCount::new(&self.sb);
                Arc::new(InodeFile::holding(
                    self,
                    flags,
                    alloc::boxed::Box::new(count),
                ))
            }
            _ => Arc::new(InodeFile::new(self, flags)),
        })
    }
}

/// Largest tmpfs file (keeps page indexes and offsets far from overflow).
const MAX_FILE_SIZE: u64 = 1 << 40;

fn set_entry(dir: &TmpfsNode, name: &[u8], node: Arc<dyn Inode>) {
    if let Content::Directory(entries) = &mut *dir.content.lock() {
        entries.insert(name.to_vec(), node);
    }
}

fn remove_entry(dir: &TmpfsNode, name: &[u8]) {
    if let Content::Directory(entries) = &mut *dir.content.lock() {
        entries.remove(name);
    }
}

/// A regular tmpfs file in no directory (memfd_create): it lives as long
/// as descriptors or mappings hold it.
pub fn new_unlinked_file(mode: u32) -> Arc<TmpfsNode> {
    let node = TmpfsNode::new(
        &Arc::new(Superblock::default()),
        DEV_TMPFS,
        S_IFREG | (mode & 0o7777),
        Content::File(FileData::default()),
    );
    node.meta.lock().nlink = 0;
    node
}

/// A tmpfs root with the given top-level directories (/tmp sticky, 1777).
pub fn new_root_with_dirs(dev: u64, dirs: &[&[u8]]) -> Arc<TmpfsNode> {
    let root = TmpfsNode::new_root(dev);
    for dir in dirs {
        let _ = root.create(dir, NewNode::Directory { mode: 0o755 });
    }
    if let Ok(tmp) = root.lookup(b"tmp") {
        let _ = tmp.set_mode(0o1777);
    }
    root
}

/// An open named pipe: a pipe end that stats as its tmpfs node.
struct FifoEnd {
    end: Arc<super::pipe::PipeEnd>,
    node: Arc<TmpfsNode>,
}

impl File for FifoEnd {
    fn read(&self, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
        self.end.read(buf, offset)
    }
    fn write(&self, buf: &[u8], offset: u64) -> Result<usize, Errno> {
        self.end.write(buf, offset)
    }
    fn stat(&self) -> Stat {
        self.node.stat()
    }
    fn splices(&self) -> bool {
        true
    }
    fn poll(&self, events: i16) -> i16 {
        self.end.poll(events)
    }
    fn available(&self) -> Result<u64, Errno> {
        self.end.available()
    }
    fn activity(&self) -> u64 {
        self.end.activity()
    }
    fn fifo_peers(&self) -> Option<(usize, u64)> {
        self.end.fifo_peers()
    }
    fn as_pipe(&self) -> Option<&Arc<super::pipe::Pipe>> {
        self.end.as_pipe()
    }
    fn wait_queues(&self, out: &mut alloc::vec::Vec<Arc<crate::sentry::wait::WaitQueue>>) {
        self.end.wait_queues(out);
    }
}
