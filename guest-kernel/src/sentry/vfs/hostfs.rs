//! hostfs: directories the user shared with `--mount`, served by the VMM
//! through the host-file requests of the hypercall channel
//! (`boards::hypercall::Op::Host*`).
//!
//! Each node holds a VMM handle (an `O_PATH` fd on the host) and a cached
//! `stat`. Lookups name one component at a time; the sentry resolves `..`
//! and symlinks itself, so a path can never leave the shared directory.
//! Exits are what costs here, so: directory children are cached, reads go
//! through a read-ahead buffer, a mutation and the `stat` that refreshes
//! the cache travel in one batch, and handle closes ride along with the
//! next batch.

use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use alloc::vec;
use alloc::vec::Vec;
use core::any::Any;
use core::sync::atomic::{AtomicUsize, Ordering};

use boards::hypercall::*;
use boards::Wire;
use spin::Mutex;

use super::*;
use crate::arch::PAGE_SIZE;
use crate::hv::{defer, kernel_virt_to_phys, request, submit};
use crate::mm::Frame;
use crate::sentry::fd::{DirFile, File, InodeFile};

/// Bytes fetched per read request when reading sequentially (at most: a
/// file's read-ahead is sized to what is left of it).
const READ_AHEAD: usize = 1024 * 1024;
/// Missing names remembered per directory (negative entries).
const MAX_MISSING: usize = 64;
/// Nodes kept alive after their last user (directories on the way to
/// libraries, the libraries themselves with their page cache, the files a
/// build or a search touches again), so the next lookup, stat, open and
/// exec find them without asking the VMM. Each holds a VMM handle (two
/// once opened for I/O): the VMM allows 4096, and an EMFILE lets these go.
const RECENT_NODES: usize = 1024;
static RECENT: Mutex<alloc::collections::VecDeque<Arc<HostNode>>> =
    Mutex::new(alloc::collections::VecDeque::new());

/// Marks `node` recently used (it stays alive while among the last
/// [`RECENT_NODES`] so marked).
fn keep_recent(node: &Arc<HostNode>) {
    crate::mm::set_reclaimer(release_recent);
    let mut recent = RECENT.lock();
    if let Some(i) = recent.iter().rposition(|n| Arc::ptr_eq(n, node)) {
        if i + 1 == recent.len() {
            return;
        }
        recent.remove(i);
    } else if recent.len() >= RECENT_NODES {
        recent.pop_front();
    }
    recent.push_back(node.clone());
}

/// Lets go of the nodes [`keep_recent`] holds (memory ran out): those
/// nobody else uses go, with their page cache. True if any was held.
fn release_recent() -> bool {
    let released = match RECENT.try_lock() {
        Some(mut recent) => core::mem::take(&mut *recent),
        None => return false,
    };
    !released.is_empty()
}

/// Files up to this size are read() through the page cache.
const PAGE_CACHE_READ_MAX: u64 = 1 << 20;

/// Pages of a file read into its page cache in one batch when a mapping
/// first touches one of them.
const PAGE_READ_AHEAD: u64 = 32;

/// Read-ahead bytes held by all host files together (a buffer per open
/// file would otherwise fill the sentry's heap: 16 files of 1 MiB): 1/64
/// of the sandbox's memory. Past it, reads go straight to the caller's
/// buffer.
fn read_ahead_budget() -> usize {
    (crate::mm::total_frames() * PAGE_SIZE / 64) as usize
}

static READ_AHEAD_HELD: AtomicUsize = AtomicUsize::new(0);

/// Bytes written through the console ring since the last write request.
static QUEUED_WRITES: AtomicUsize = AtomicUsize::new(0);
const QUEUED_WRITES_CHECK: usize = 256 << 10;

pub struct HostFs {
    dev: u64,
    read_only: bool,
}

struct ReadCache {
    offset: u64,
    data: Vec<u8>,
}

impl Drop for ReadCache {
    fn drop(&mut self) {
        READ_AHEAD_HELD.fetch_sub(self.data.capacity(), Ordering::Relaxed);
    }
}

pub struct HostNode {
    fs: Arc<HostFs>,
    handle: u64,
    stat: Mutex<Stat>,
    /// A handle opened for I/O, and whether it is writable.
    io: Mutex<Option<(u64, bool)>>,
    cache: Mutex<Option<ReadCache>>,
    children: Mutex<BTreeMap<Vec<u8>, Weak<HostNode>>>,
    /// A symlink's target, once read (a symlink never changes its target).
    link_target: Mutex<Option<Vec<u8>>>,
    /// Names found missing (negative entries; see the coherence policy in
    /// docs/ARCHITECTURE.md: the sandbox's own creations remove them).
    missing: Mutex<alloc::collections::BTreeSet<Vec<u8>>>,
    /// Pages mapped into the application (page index -> frame): the
    /// sandbox's page cache of this file, kept coherent with read/write and
    /// written back by `sync_pages`. Each holds the cache's reference; a
    /// mapping of the page holds another.
    pages: Mutex<BTreeMap<u64, Frame>>,
    /// A write failed (a full host file system): writes go as requests,
    /// each with its own answer, until one succeeds whole.
    write_failed: core::sync::atomic::AtomicBool,
}

impl Drop for HostNode {
    fn drop(&mut self) {
        // The cache's references go (frames still mapped stay).
        drop(core::mem::take(&mut *self.pages.lock()));
        if let Some((io, _)) = self.io.lock().take() {
            defer(request(Op::HostClose, &[io]));
        }
        defer(request(Op::HostClose, &[self.handle]));
    }
}

/// Guest-physical address of a buffer the VMM only reads.
fn gpa<T: ?Sized>(value: &T) -> u64 {
    kernel_virt_to_phys(value as *const T as *const u8 as u64)
}

/// Guest-physical address of a buffer the VMM writes: taking it through
/// `&mut` tells the compiler the memory changes behind its back (the
/// doorbell `out` is a memory clobber).
fn gpa_mut<T: ?Sized>(value: &mut T) -> u64 {
    kernel_virt_to_phys(value as *mut T as *mut u8 as u64)
}

fn check(result: i64) -> Result<u64, Errno> {
    if result < 0 {
        Err(Errno(-result as i32))
    } else {
        Ok(result as u64)
    }
}

/// Runs one request.
fn call(op: Op, args: &[u64]) -> Result<u64, Errno> {
    let mut batch = [request(op, args)];
    submit(&mut batch);
    check(batch[0].result)
}

/// Runs a request that makes a new VMM handle: when the VMM's handle table
/// is full, the nodes kept for reuse let theirs go and it is tried again.
fn call_new_handle(op: Op, args: &[u64]) -> Result<u64, Errno> {
    match call(op, args) {
        Err(e) if e == EMFILE && release_recent() => call(op, args),
        other => other,
    }
}

/// Runs a request followed by a HostStat of `handle` into `stat`, in one
/// exit; returns the first request's result.
fn call_then_stat(op: Op, args: &[u64], handle: u64, stat: &mut Stat) -> Result<u64, Errno> {
    let mut batch = [
        request(op, args),
        request(Op::HostStat, &[handle, gpa_mut(stat)]),
    ];
    submit(&mut batch);
    let result = check(batch[0].result)?;
    check(batch[1].result)?;
    Ok(result)
}

/// Mounts host directory number `index` (its root handle is `index`).
pub fn mount_root(index: u32, read_only: bool) -> Result<Arc<HostNode>, Errno> {
    let fs = Arc::new(HostFs {
        dev: DEV_HOST_BASE + index as u64,
        read_only,
    });
    let mut stat = Stat::default();
    call(Op::HostStat, &[index as u64, gpa_mut(&mut stat)])?;
    let stat = sanitize(stat, &fs);
    Ok(HostNode::new(fs, index as u64, stat))
}

/// The host's stat with our device number (so mount points and hard-link
/// identity work within the sandbox).
fn sanitize(mut stat: Stat, fs: &HostFs) -> Stat {
    stat.dev = fs.dev;
    stat
}

impl HostNode {
    fn new(fs: Arc<HostFs>, handle: u64, stat: Stat) -> Arc<HostNode> {
        Arc::new(HostNode {
            fs,
            handle,
            stat: Mutex::new(stat),
            io: Mutex::new(None),
            cache: Mutex::new(None),
            children: Mutex::new(BTreeMap::new()),
            link_target: Mutex::new(None),
            missing: Mutex::new(alloc::collections::BTreeSet::new()),
            pages: Mutex::new(BTreeMap::new()),
            write_failed: core::sync::atomic::AtomicBool::new(false),
        })
    }

    fn downcast(node: &Arc<dyn Inode>) -> Option<&HostNode> {
        node.as_any().downcast_ref::<HostNode>()
    }

    fn refresh(&self) -> Result<(), Errno> {
        let mut stat = Stat::default();
        call(Op::HostStat, &[self.handle, gpa_mut(&mut stat)])?;
        *self.stat.lock() = sanitize(stat, &self.fs);
        Ok(())
    }

    /// A handle for I/O: writable when `write`, reopened on demand.
    fn io_handle(&self, write: bool) -> Result<u64, Errno> {
        let mut io = self.io.lock();
        if let Some((handle, writable)) = *io {
            if writable || !write {
                return Ok(handle);
            }
        }
        if write && self.fs.read_only {
            return Err(EROFS);
        }
        let flags = if write { 2 } else { 0 }; // O_RDWR / O_RDONLY
        let handle = match call_new_handle(Op::HostReopen, &[self.handle, flags]) {
            Ok(h) => h,
            // A write-only file can still be written (not read).
            Err(e) if e == EACCES && write => call_new_handle(Op::HostReopen, &[self.handle, 1])?,
            Err(e) => return Err(e),
        };
        if let Some((old, _)) = io.replace((handle, write)) {
            defer(request(Op::HostClose, &[old]));
        }
        Ok(handle)
    }

    fn forget_child(&self, name: &[u8]) {
        self.children.lock().remove(name);
    }

    /// `name` does not exist (a negative entry; a few per directory).
    fn remember_missing(&self, name: &[u8]) {
        let mut missing = self.missing.lock();
        if missing.len() >= MAX_MISSING {
            missing.pop_first();
        }
        missing.insert(name.to_vec());
    }

    /// `name` exists now (the sandbox made it): no negative entry.
    fn forget_missing(&self, name: &[u8]) {
        self.missing.lock().remove(name);
    }

    fn name_request(name: &[u8]) -> Vec<u8> {
        name.to_vec()
    }
}

impl Inode for HostNode {
    fn host_backed(&self) -> bool {
        true
    }
    /// The host filesystem's own statfs: its type, sizes and flags.
    fn statfs(&self) -> Option<Result<[u64; 15], Errno>> {
        let mut out = HostStatfs::default();
        Some(
            call(Op::HostStatfs, &[self.handle, gpa_mut(&mut out)]).map(|_| {
                let mut fields = out.fields;
                fields[7] = self.fs.dev; // f_fsid: the sandbox's device
                fields
            }),
        )
    }
    fn stat(&self) -> Stat {
        *self.stat.lock()
    }

    fn id(&self) -> (u64, u64) {
        let stat = self.stat.lock();
        (stat.dev, stat.ino)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn read_only(&self) -> bool {
        self.fs.read_only
    }

    fn lookup(&self, name: &[u8]) -> Result<Arc<dyn Inode>, Errno> {
        if self.kind() != FileKind::Directory {
            return Err(ENOTDIR);
        }
        if let Some(child) = self.children.lock().get(name).and_then(Weak::upgrade) {
            keep_recent(&child);
            return Ok(child);
        }
        if self.missing.lock().contains(name) {
            return Err(ENOENT);
        }
        let name_buf = HostNode::name_request(name);
        let mut stat = Stat::default();
        let result = call_new_handle(
            Op::HostLookup,
            &[
                self.handle,
                gpa(name_buf.as_slice()),
                name.len() as u64,
                gpa_mut(&mut stat),
            ],
        );
        let handle = match result {
            Err(e) if e == ENOENT => {
                // Remember (a few names per directory: the dynamic
                // linker's and python's search paths, SQLite's journal,
                // ask again and again) until the sandbox creates it.
                self.remember_missing(name);
                return Err(e);
            }
            other => other?,
        };
        stat = sanitize(stat, &self.fs);
        let child = HostNode::new(self.fs.clone(), handle, stat);
        self.children
            .lock()
            .insert(name.to_vec(), Arc::downgrade(&child));
        keep_recent(&child);
        Ok(child)
    }

    fn create(&self, name: &[u8], node: NewNode) -> Result<Arc<dyn Inode>, Errno> {
        if self.fs.read_only {
            return Err(EROFS);
        }
        let (kind, mode, target): (u64, u32, &[u8]) = match node {
            NewNode::File { mode } => (HOST_CREATE_FILE, mode, b""),
            NewNode::Directory { mode } => (HOST_CREATE_DIR, mode, b""),
            NewNode::Symlink { target } => (HOST_CREATE_SYMLINK, 0o777, target),
            // Host special files are not passed through (see open).
            // (Device nodes never reach the host: the VMM would refuse them.)
            NewNode::Fifo { .. } | NewNode::Socket { .. } => return Err(EOPNOTSUPP),
            NewNode::Device { .. } => return Err(EPERM),
        };
        let mut buf = Vec::with_capacity(name.len() + target.len());
        buf.extend_from_slice(name);
        buf.extend_from_slice(target);
        let mut stat = Stat::default();
        let handle = call_new_handle(
            Op::HostCreate,
            &[
                self.handle,
                gpa(buf.as_slice()),
                name.len() as u64,
                target.len() as u64,
                kind | (mode as u64) << 8,
                gpa_mut(&mut stat),
            ],
        )?;
        stat = sanitize(stat, &self.fs);
        let child = HostNode::new(self.fs.clone(), handle, stat);
        self.forget_missing(name);
        self.children
            .lock()
            .insert(name.to_vec(), Arc::downgrade(&child));
        keep_recent(&child);
        let _ = self.refresh();
        Ok(child)
    }

    fn link(&self, name: &[u8], target: &Arc<dyn Inode>) -> Result<(), Errno> {
        let target = HostNode::downcast(target).ok_or(EXDEV)?;
        if target.fs.dev != self.fs.dev {
            return Err(EXDEV);
        }
        let name_buf = HostNode::name_request(name);
        let mut stat = Stat::default();
        call_then_stat(
            Op::HostLink,
            &[
                target.handle,
                self.handle,
                gpa(name_buf.as_slice()),
                name.len() as u64,
            ],
            target.handle,
            &mut stat,
        )?;
        *target.stat.lock() = sanitize(stat, &self.fs);
        self.forget_missing(name);
        Ok(())
    }

    fn unlink(&self, name: &[u8], directory: bool) -> Result<(), Errno> {
        let name_buf = HostNode::name_request(name);
        let mut stat = Stat::default();
        call_then_stat(
            Op::HostUnlink,
            &[
                self.handle,
                gpa(name_buf.as_slice()),
                name.len() as u64,
                directory as u64,
            ],
            self.handle,
            &mut stat,
        )?;
        *self.stat.lock() = sanitize(stat, &self.fs);
        // An open child keeps its handle: refresh its link count.
        if let Some(child) = self.children.lock().get(name).and_then(Weak::upgrade) {
            let _ = child.refresh();
        }
        self.forget_child(name);
        self.remember_missing(name);
        Ok(())
    }

    fn rename(
        &self,
        old_name: &[u8],
        new_dir: &Arc<dyn Inode>,
        new_name: &[u8],
        flags: u32,
    ) -> Result<(), Errno> {
        // Under --root the sandbox's `/` wraps the host root directory
        // (its own names, /dev, /proc, ..., are not the host's).
        if let Some(root) = new_dir.as_any().downcast_ref::<super::rootdir::RootDir>() {
            if root.is_own(new_name) {
                return Err(EBUSY);
            }
        }
        let new_dir = super::rootdir::RootDir::unwrap_dir(new_dir);
        let target = HostNode::downcast(&new_dir).ok_or(EXDEV)?;
        if target.fs.dev != self.fs.dev {
            return Err(EXDEV);
        }
        let mut buf = Vec::with_capacity(old_name.len() + new_name.len());
        buf.extend_from_slice(old_name);
        buf.extend_from_slice(new_name);
        call(
            Op::HostRename,
            &[
                self.handle,
                target.handle,
                gpa(buf.as_slice()),
                old_name.len() as u64,
                new_name.len() as u64,
                flags as u64,
            ],
        )?;
        // The node moves with its name (its handle still names the same
        // host file), so open files and later lookups share one node and
        // one cached stat.
        let moved = self.children.lock().remove(old_name);
        let replaced = target.children.lock().remove(new_name);
        if let Some(node) = moved {
            target.children.lock().insert(new_name.to_vec(), node);
        }
        if flags & 2 != 0 {
            // RENAME_EXCHANGE: both names still exist, swapped.
            if let Some(node) = replaced {
                self.children.lock().insert(old_name.to_vec(), node);
            }
            self.forget_missing(old_name);
        } else if let Some(node) = replaced.and_then(|w| w.upgrade()) {
            // The file that was replaced lost a link.
            let _ = node.refresh();
        }
        target.forget_missing(new_name);
        let _ = self.refresh();
        if !core::ptr::eq(self, target) {
            let _ = target.refresh();
        }
        Ok(())
    }

    fn readdir(&self) -> Result<Vec<DirEntry>, Errno> {
        if self.kind() != FileKind::Directory {
            return Err(ENOTDIR);
        }
        let mut out = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut cookie = 0u64;
        loop {
            let used = call(
                Op::HostReaddir,
                &[
                    self.handle,
                    cookie,
                    gpa_mut(buf.as_mut_slice()),
                    buf.len() as u64,
                ],
            )? as usize;
            if used == 0 {
                break;
            }
            let mut off = 0;
            while let Some(dirent) = buf[..used.min(buf.len())]
                .get(off..)
                .and_then(HostDirent::read_from)
            {
                let len = dirent.name_len as usize;
                let name_end = (off + HOST_DIRENT_SIZE + len).min(buf.len());
                let name = buf[off + HOST_DIRENT_SIZE..name_end].to_vec();
                out.push(DirEntry {
                    name,
                    ino: dirent.ino,
                    kind: match dirent.kind {
                        4 => FileKind::Directory,
                        10 => FileKind::Symlink,
                        2 => FileKind::CharDevice,
                        1 => FileKind::Fifo,
                        _ => FileKind::Regular,
                    },
                });
                cookie = dirent.next;
                off += (HOST_DIRENT_SIZE + len + 7) & !7;
            }
        }
        Ok(out)
    }

    fn readlink(&self) -> Result<Vec<u8>, Errno> {
        if self.kind() != FileKind::Symlink {
            return Err(EINVAL);
        }
        if let Some(target) = self.link_target.lock().as_ref() {
            return Ok(target.clone());
        }
        let mut buf = vec![0u8; PATH_MAX];
        let n = call(
            Op::HostReadlink,
            &[self.handle, gpa_mut(buf.as_mut_slice()), buf.len() as u64],
        )?;
        buf.truncate(n as usize);
        *self.link_target.lock() = Some(buf.clone());
        Ok(buf)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        if let Some(result) = self.read_cached(offset, buf) {
            return result;
        }
        let n = self.read_host(offset, buf)?;
        // Stores through shared mappings are newer than the host's bytes.
        self.overlay_pages(offset, &mut buf[..n]);
        Ok(n)
    }

    fn write_at(&self, offset: u64, buf: &[u8]) -> Result<usize, Errno> {
        let n = self.write_host(offset, buf)?;
        self.update_pages(offset, &buf[..n]);
        Ok(n)
    }

    fn shared_page(&self, index: u64) -> Result<Option<Frame>, Errno> {
        if self.kind() != FileKind::Regular {
            return Err(ENODEV);
        }
        let size = self.stat.lock().size.max(0) as u64;
        if index >= size.div_ceil(PAGE_SIZE) {
            return Ok(None);
        }
        let mut pages = self.pages.lock();
        let frame = match pages.get(&index) {
            Some(frame) => frame.phys(),
            None => self.load_pages(&mut pages, index, size)?,
        };
        // The cache holds the frame (its lock is held): a new reference.
        Ok(Some(Frame::share_raw(frame)))
    }

    fn page_cached(&self, index: u64) -> bool {
        self.pages.lock().contains_key(&index)
    }

    fn sync_pages(&self) -> Result<(), Errno> {
        let pages: Vec<(u64, Frame)> = self
            .pages
            .lock()
            .iter()
            .map(|(&i, f)| (i, f.clone()))
            .collect();
        if pages.is_empty() || self.fs.read_only {
            return Ok(());
        }
        let size = self.stat.lock().size.max(0) as u64;
        let io = self.io_handle(true)?;
        for (index, frame) in pages {
            let offset = index * PAGE_SIZE;
            if offset >= size {
                continue;
            }
            let len = (size - offset).min(PAGE_SIZE);
            call(Op::HostWrite, &[io, offset, frame.phys(), len])?;
        }
        *self.cache.lock() = None;
        Ok(())
    }

    fn truncate(&self, size: u64) -> Result<(), Errno> {
        self.truncate_host(size)?;
        let keep = size.div_ceil(PAGE_SIZE);
        let mut pages = self.pages.lock();
        // The pages past the end go (frames still mapped stay).
        drop(pages.split_off(&keep));
        // The tail of the last page is past the end now: zeros, should
        // the file grow again (as Linux clears it on truncate).
        let tail = (size % PAGE_SIZE) as usize;
        if tail != 0 {
            if let Some(frame) = pages.get(&(size / PAGE_SIZE)) {
                let zeros = [0u8; PAGE_SIZE as usize];
                crate::mm::frame::write(frame.phys(), tail, &zeros[tail..]);
            }
        }
        Ok(())
    }

    fn set_mode(&self, mode: u32) -> Result<(), Errno> {
        self.setattr(HOST_SETATTR_MODE, [mode as u64, 0, 0, 0])
    }

    fn set_owner(&self, uid: Option<u32>, gid: Option<u32>) -> Result<(), Errno> {
        let id = |v: Option<u32>| v.unwrap_or(u32::MAX) as u64;
        self.setattr(HOST_SETATTR_OWNER, [id(uid), id(gid), 0, 0])
    }

    fn set_times(&self, atime: Option<TimeUpdate>, mtime: Option<TimeUpdate>) -> Result<(), Errno> {
        const UTIME_NOW: u64 = (1 << 30) - 1;
        const UTIME_OMIT: u64 = (1 << 30) - 2;
        let encode = |t: Option<TimeUpdate>| match t {
            None => (0, UTIME_OMIT),
            Some(TimeUpdate::Now) => (0, UTIME_NOW),
            Some(TimeUpdate::Set(s, ns)) => (s as u64, ns as u64),
        };
        let (a, b) = encode(atime);
        let (c, d) = encode(mtime);
        self.setattr(HOST_SETATTR_TIMES, [a, b, c, d])
    }

    fn sync(&self) -> Result<(), Errno> {
        let handle = self.io.lock().map(|(h, _)| h);
        match handle {
            Some(handle) => call(Op::HostFsync, &[handle]).map(|_| ()),
            None => Ok(()),
        }
    }

    fn open(self: Arc<Self>, flags: u32) -> Result<Arc<dyn File>, Errno> {
        match self.kind() {
            FileKind::Directory => Ok(Arc::new(DirFile::new(self))),
            FileKind::Regular => {
                // Check access now, so open() reports EACCES/EROFS itself.
                let write = flags & 3 != 0;
                self.io_handle(write)?;
                Ok(Arc::new(InodeFile::new(self, flags)))
            }
            // Host devices, fifos and sockets are not passed through.
            _ => Err(ENXIO),
        }
    }
}

impl HostNode {
    /// Reads page `index` (and the missing pages after it, up to
    /// PAGE_READ_AHEAD, within `size`) into the page cache; returns its frame.
    fn load_pages(
        &self,
        pages: &mut BTreeMap<u64, Frame>,
        index: u64,
        size: u64,
    ) -> Result<u64, Errno> {
        let io = self.io_handle(false)?;
        // Read ahead: the missing pages from `index` on (up to
        // PAGE_READ_AHEAD, within the file) come in one batch.
        let last = size.div_ceil(PAGE_SIZE).min(index + PAGE_READ_AHEAD);
        let mut batch: Vec<(u64, Frame)> = Vec::new();
        let mut next = index;
        while next < last && (next == index || !pages.contains_key(&next)) {
            let Some(frame) = Frame::alloc_zeroed() else {
                break;
            };
            batch.push((next, frame));
            next += 1;
        }
        if batch.is_empty() {
            return Err(ENOMEM);
        }
        // The frame's guest-physical address is the frame itself.
        // Frames that are physically contiguous (fresh memory
        // usually is) and hold consecutive file pages are read by
        // one request: the VMM's cost is per request.
        let mut runs: Vec<(usize, usize)> = Vec::new();
        for (k, (i, frame)) in batch.iter().enumerate() {
            match runs.last_mut() {
                Some((start, len))
                    if batch[*start + *len - 1].0 + 1 == *i
                        && batch[*start + *len - 1].1.phys() + PAGE_SIZE == frame.phys() =>
                {
                    *len += 1
                }
                _ => runs.push((k, 1)),
            }
        }
        let mut requests: Vec<_> = runs
            .iter()
            .map(|&(start, len)| {
                let (i, frame) = &batch[start];
                request(
                    Op::HostRead,
                    &[io, i * PAGE_SIZE, frame.phys(), len as u64 * PAGE_SIZE],
                )
            })
            .collect();
        submit(&mut requests);
        let mut first = Err(EIO);
        // The runs cover the batch in order, one after the other.
        let mut batch = batch.into_iter();
        for (&(_, len), done) in runs.iter().zip(requests.iter()) {
            // A short read (the end of a file that shrank) leaves
            // the rest of the run unread: those pages fail (their
            // frames are dropped).
            let read = check(done.result).map(|n| n as usize);
            for (k, (i, frame)) in batch.by_ref().take(len).enumerate() {
                let page_ok = match read {
                    Ok(n) => n > k * PAGE_SIZE as usize || (k == 0 && n == 0),
                    Err(_) => false,
                };
                if page_ok {
                    if i == index {
                        first = Ok(frame.phys());
                    }
                    pages.insert(i, frame);
                } else if i == index {
                    first = Err(read.err().unwrap_or(EIO));
                }
            }
        }
        first
    }

    /// read() from the page cache: files up to PAGE_CACHE_READ_MAX are read
    /// into it (and stay while the node is kept), so rereading costs no
    /// request. None: not cached this way (a big file: read-ahead buffer).
    fn read_cached(&self, offset: u64, buf: &mut [u8]) -> Option<Result<usize, Errno>> {
        if self.kind() != FileKind::Regular {
            return None;
        }
        let size = self.stat.lock().size.max(0) as u64;
        if size > PAGE_CACHE_READ_MAX {
            return None;
        }
        let end = size.min(offset.saturating_add(buf.len() as u64));
        let mut pages = self.pages.lock();
        let mut pos = offset;
        while pos < end {
            let index = pos / PAGE_SIZE;
            let frame = match pages.get(&index) {
                Some(frame) => frame.phys(),
                None => match self.load_pages(&mut pages, index, size) {
                    Ok(frame) => frame,
                    Err(e) if pos == offset => return Some(Err(e)),
                    Err(_) => break,
                },
            };
            let in_frame = pos % PAGE_SIZE;
            let n = (PAGE_SIZE - in_frame).min(end - pos);
            let at = (pos - offset) as usize;
            crate::mm::frame::read(frame, in_frame as usize, &mut buf[at..at + n as usize]);
            pos += n;
        }
        Some(Ok((pos.max(offset) - offset) as usize))
    }

    fn read_host(&self, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        match self.kind() {
            FileKind::Directory => return Err(EISDIR),
            FileKind::Regular => {}
            _ => return Err(EINVAL),
        }
        {
            let cache = self.cache.lock();
            if let Some(c) = cache.as_ref() {
                if offset >= c.offset && offset < c.offset + c.data.len() as u64 {
                    let start = (offset - c.offset) as usize;
                    let n = buf.len().min(c.data.len() - start);
                    buf[..n].copy_from_slice(&c.data[start..start + n]);
                    return Ok(n);
                }
            }
        }
        let io = self.io_handle(false)?;
        // The old read-ahead goes back to the budget first.
        drop(self.cache.lock().take());
        // Read ahead what is left of the file (as last seen), within the
        // budget; when that is no more than asked for, read directly.
        let left = (self.stat.lock().size.max(0) as u64).saturating_sub(offset);
        let budget = read_ahead_budget().saturating_sub(READ_AHEAD_HELD.load(Ordering::Relaxed));
        let want = (left.min(READ_AHEAD as u64) as usize).next_multiple_of(PAGE_SIZE as usize);
        let want = want.min(budget & !(PAGE_SIZE as usize - 1));
        let mut data = Vec::new();
        if want <= buf.len() || data.try_reserve_exact(want).is_err() {
            let len = buf.len().min(MAX_TRANSFER as usize);
            let n = call(
                Op::HostRead,
                &[io, offset, gpa_mut(&mut buf[..len]), len as u64],
            )?;
            return Ok(n as usize);
        }
        data.resize(want, 0);
        READ_AHEAD_HELD.fetch_add(data.capacity(), Ordering::Relaxed);
        let n = match call(
            Op::HostRead,
            &[io, offset, gpa_mut(data.as_mut_slice()), want as u64],
        ) {
            Ok(n) => n as usize,
            Err(e) => {
                READ_AHEAD_HELD.fetch_sub(data.capacity(), Ordering::Relaxed);
                return Err(e);
            }
        };
        let n = n.min(want);
        let copied = buf.len().min(n);
        buf[..copied].copy_from_slice(&data[..copied]);
        data.truncate(n);
        *self.cache.lock() = Some(ReadCache { offset, data });
        Ok(copied)
    }
    fn write_host(&self, offset: u64, buf: &[u8]) -> Result<usize, Errno> {
        match self.kind() {
            FileKind::Directory => return Err(EISDIR),
            FileKind::Regular => {}
            _ => return Err(EINVAL),
        }
        let io = self.io_handle(true)?;
        *self.cache.lock() = None;
        // Small writes travel in the console ring: no exit; the VMM writes
        // them before it runs any later request, and a failure comes back
        // at fsync, as writeback errors do on Linux.
        // Every QUEUED_WRITES_CHECK bytes a write goes as a request, which
        // reports a queued write's failure (a full host file system: ENOSPC
        // within that many bytes, not never).
        let queued = QUEUED_WRITES.load(Ordering::Relaxed) + buf.len();
        // (The next host-file batch then takes the exit path, which drains
        // the console ring first: see `hv::fsring::note_queued_write`.)
        if queued < QUEUED_WRITES_CHECK
            && !self.write_failed.load(Ordering::Relaxed)
            && crate::hv::console::write_host_file(io, offset, buf)
        {
            QUEUED_WRITES.store(queued, Ordering::Relaxed);
            crate::hv::fsring::note_queued_write();
            self.grow_to(offset + buf.len() as u64);
            return Ok(buf.len());
        }
        QUEUED_WRITES.store(0, Ordering::Relaxed);
        let mut done = 0usize;
        while done < buf.len() {
            let chunk = &buf[done..(done + MAX_TRANSFER as usize).min(buf.len())];
            let n = match call(
                Op::HostWrite,
                &[io, offset + done as u64, gpa(chunk), chunk.len() as u64],
            ) {
                Ok(n) => n as usize,
                Err(e) if done == 0 => {
                    self.write_failed.store(true, Ordering::Relaxed);
                    return Err(e);
                }
                Err(_) => break,
            };
            done += n;
            if n < chunk.len() {
                break;
            }
        }
        self.write_failed.store(done < buf.len(), Ordering::Relaxed);
        self.grow_to(offset + done as u64);
        Ok(done)
    }

    /// The cached stat after a write that ended at `end`.
    fn grow_to(&self, end: u64) {
        let mut stat = self.stat.lock();
        stat.size = stat.size.max(end as i64);
        let now = crate::sentry::time::realtime_ns();
        stat.mtime = (now / 1_000_000_000) as i64;
        stat.mtime_nsec = (now % 1_000_000_000) as i64;
        stat.ctime = stat.mtime;
        stat.ctime_nsec = stat.mtime_nsec;
    }

    fn truncate_host(&self, size: u64) -> Result<(), Errno> {
        if self.kind() == FileKind::Directory {
            return Err(EISDIR);
        }
        if self.fs.read_only {
            return Err(EROFS);
        }
        *self.cache.lock() = None;
        let mut stat = Stat::default();
        call_then_stat(
            Op::HostTruncate,
            &[self.handle, size],
            self.handle,
            &mut stat,
        )?;
        *self.stat.lock() = sanitize(stat, &self.fs);
        Ok(())
    }

    /// Calls `f(frame, offset_in_frame, buf_range)` for each piece of file
    /// bytes [offset, offset+len) that lies in a page mapped shared: the
    /// piece is in the page-cache `frame` from `offset_in_frame`, and
    /// `buf_range` is where it sits in a buffer that starts at `offset`.
    fn for_each_mapped_piece(
        &self,
        offset: u64,
        len: usize,
        mut f: impl FnMut(u64, usize, core::ops::Range<usize>),
    ) {
        let pages = self.pages.lock();
        if pages.is_empty() {
            return;
        }
        let end = offset + len as u64;
        for (&index, frame) in pages.range(offset / PAGE_SIZE..end.div_ceil(PAGE_SIZE)) {
            let page_start = index * PAGE_SIZE;
            let from = offset.max(page_start);
            let to = end.min(page_start + PAGE_SIZE);
            f(
                frame.phys(),
                (from - page_start) as usize,
                (from - offset) as usize..(to - offset) as usize,
            );
        }
    }

    /// Copies bytes of pages mapped shared over `buf` (file bytes from
    /// `offset`): stores through a mapping are newer than the host file.
    fn overlay_pages(&self, offset: u64, buf: &mut [u8]) {
        self.for_each_mapped_piece(offset, buf.len(), |frame, in_frame, range| {
            crate::mm::frame::read(frame, in_frame, &mut buf[range])
        });
    }

    /// Keeps mapped pages in step with a write() of `buf` at `offset`.
    fn update_pages(&self, offset: u64, buf: &[u8]) {
        self.for_each_mapped_piece(offset, buf.len(), |frame, in_frame, range| {
            crate::mm::frame::write(frame, in_frame, &buf[range])
        });
    }

    fn setattr(&self, what: u64, values: [u64; 4]) -> Result<(), Errno> {
        if self.fs.read_only {
            return Err(EROFS);
        }
        let mut stat = Stat::default();
        call_then_stat(
            Op::HostSetattr,
            &[
                self.handle,
                what,
                values[0],
                values[1],
                values[2],
                values[3],
            ],
            self.handle,
            &mut stat,
        )?;
        *self.stat.lock() = sanitize(stat, &self.fs);
        Ok(())
    }
}
