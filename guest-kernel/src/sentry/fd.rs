//! File descriptors: the per-process table (its rules in `fd/table.rs`),
//! open file descriptions, and the [`File`] trait every kind of file
//! implements.
//!
//! fork shares [`OpenFile`]s (offset and status flags) between tables, dup
//! does within a table, and exec drops the close-on-exec entries.

mod table;

pub use table::DEFAULT_NOFILE;

use alloc::sync::Arc;
use alloc::vec::Vec;

use spin::Mutex;

use crate::sentry::errno::*;
use crate::sentry::stat::Stat;
use crate::sentry::vfs::{DirEntry, Inode, PathStack};

pub const O_ACCMODE: u32 = 0o3;
pub const O_RDONLY: u32 = 0;
pub const O_WRONLY: u32 = 1;
pub const O_RDWR: u32 = 2;
pub const O_CREAT: u32 = 0o100;
pub const O_EXCL: u32 = 0o200;
pub const O_TRUNC: u32 = 0o1000;
pub const O_DIRECTORY: u32 = 0o200000;
pub const O_NOFOLLOW: u32 = 0o400000;
pub const O_PATH: u32 = 0o10000000;
pub const O_TMPFILE: u32 = 0o20200000;
pub const O_APPEND: u32 = 0o2000;
pub const O_NONBLOCK: u32 = 0o4000;
pub const O_CLOEXEC: u32 = 0o2000000;
/// Open without updating the access time (owner or CAP_FOWNER only).
pub const O_NOATIME: u32 = 0o1000000;

/// arm64 numbers four open flags differently from x86_64 (its
/// asm/fcntl.h): (arm64, x86_64) for O_DIRECTORY, O_NOFOLLOW, O_DIRECT,
/// O_LARGEFILE. The sentry keeps x86_64's numbering inside.
#[cfg(target_arch = "aarch64")]
const ARM64_OPEN_FLAGS: [(u32, u32); 4] = [
    (0o40000, O_DIRECTORY),
    (0o100000, O_NOFOLLOW),
    (0o200000, 0o40000),
    (0o400000, 0o100000),
];

/// Open flags from the program (its architecture's numbering) in the
/// sentry's. Without this, musl's O_LARGEFILE on arm64 read as O_NOFOLLOW
/// (opening /proc/self/exe failed with ELOOP).
pub fn open_flags_from_user(flags: u32) -> u32 {
    #[cfg(target_arch = "aarch64")]
    {
        let moved = ARM64_OPEN_FLAGS.iter().fold(0, |acc, &(user, sentry)| {
            acc | if flags & user != 0 { sentry } else { 0 }
        });
        let mask = ARM64_OPEN_FLAGS
            .iter()
            .fold(0, |acc, &(user, _)| acc | user);
        (flags & !mask) | moved
    }
    #[cfg(not(target_arch = "aarch64"))]
    flags
}

/// Open flags as the sentry keeps them, in the program's numbering
/// (F_GETFL).
pub fn open_flags_to_user(flags: u32) -> u32 {
    #[cfg(target_arch = "aarch64")]
    {
        let moved = ARM64_OPEN_FLAGS.iter().fold(0, |acc, &(user, sentry)| {
            acc | if flags & sentry != 0 { user } else { 0 }
        });
        let mask = ARM64_OPEN_FLAGS
            .iter()
            .fold(0, |acc, &(_, sentry)| acc | sentry);
        (flags & !mask) | moved
    }
    #[cfg(not(target_arch = "aarch64"))]
    flags
}

pub const POLLIN: i16 = 0x1;
pub const POLLPRI: i16 = 0x2;
pub const POLLOUT: i16 = 0x4;
pub const POLLERR: i16 = 0x8;
pub const POLLHUP: i16 = 0x10;
pub const POLLNVAL: i16 = 0x20;

/// Linux's fs.nr_open default: the highest RLIMIT_NOFILE one may set.
pub const NR_OPEN: u64 = 1 << 20;
/// fs.nr_open's bounds (Linux's sysctl_nr_open_min and _max).
pub const NR_OPEN_MIN: u64 = 64;
pub const NR_OPEN_MAX: u64 = 2_147_483_584;
static NR_OPEN_NOW: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(NR_OPEN);

/// fs.nr_open as it is now (root may change it through /proc/sys).
pub fn nr_open() -> u64 {
    NR_OPEN_NOW.load(core::sync::atomic::Ordering::Relaxed)
}

/// Sets fs.nr_open (EINVAL outside Linux's bounds).
pub fn set_nr_open(value: u64) -> Result<(), Errno> {
    if !(NR_OPEN_MIN..=NR_OPEN_MAX).contains(&value) {
        return Err(EINVAL);
    }
    NR_OPEN_NOW.store(value, core::sync::atomic::Ordering::Relaxed);
    Ok(())
}

pub trait File: Send + Sync {
    /// Reads at `offset` (for seekable files) into `buf`.
    fn read(&self, _buf: &mut [u8], _offset: u64) -> Result<usize, Errno> {
        Err(EINVAL)
    }
    fn write(&self, _buf: &[u8], _offset: u64) -> Result<usize, Errno> {
        Err(EINVAL)
    }
    /// Seekable files have a size and positional I/O; others are streams
    /// (lseek gives ESPIPE).
    fn seekable(&self) -> bool {
        false
    }
    /// Whether pwrite and pwritev may write at an offset of their own
    /// (Linux's FMODE_PWRITE): seekable files, less those that refuse
    /// it (seq files: ESPIPE).
    fn positional_write(&self) -> bool {
        self.seekable()
    }
    fn stat(&self) -> Stat;
    /// Readiness for poll, without blocking.
    fn poll(&self, events: i16) -> i16;
    /// True when readiness may change by waiting on the host's stdin.
    fn waits_on_console_input(&self) -> bool {
        false
    }
    fn ioctl(&self, _request: u64) -> Result<IoctlReply, Errno> {
        Err(ENOTTY)
    }
    /// Directory entries (for getdents64), a snapshot taken at the first call.
    fn readdir(&self) -> Result<Vec<DirEntry>, Errno> {
        Err(ENOTDIR)
    }
    /// Forget the readdir snapshot (lseek to 0 on a directory).
    fn rewind(&self) {}
    /// The inode behind the file, for files opened by path.
    fn inode(&self) -> Option<Arc<dyn Inode>> {
        None
    }
    fn truncate(&self, _size: u64) -> Result<(), Errno> {
        Err(EINVAL)
    }
    fn sync(&self) -> Result<(), Errno> {
        Ok(())
    }
    /// Bytes that can be read without blocking (FIONREAD).
    fn available(&self) -> Result<u64, Errno> {
        Err(ENOTTY)
    }
    /// Monotonic time (ns) at which readiness changes by itself (a timerfd
    /// expiring): waits in poll, epoll and blocking reads end then.
    fn wake_deadline(&self) -> Option<u64> {
        None
    }
    /// A count that grows whenever new data or room arrives (pipe writes
    /// and reads, eventfd writes, timer expirations): epoll's edge-triggered
    /// mode reports a ready file again only when it changed.
    fn activity(&self) -> u64 {
        0
    }
    /// The signal set of a signalfd: its readiness and reads come from the
    /// task's pending signals, which only the syscall layer sees.
    fn signalfd_mask(&self) -> Option<u64> {
        None
    }
    /// The epoll instance behind an epoll fd.
    fn as_epoll(&self) -> Option<&crate::sentry::vfs::epoll::Epoll> {
        None
    }
    /// The timer behind a timerfd.
    fn as_eventfd(&self) -> Option<&crate::sentry::vfs::events::EventFd> {
        None
    }
    fn as_timerfd(&self) -> Option<&crate::sentry::vfs::events::TimerFd> {
        None
    }
    /// The socket behind a socket descriptor.
    fn as_socket(&self) -> Option<&crate::sentry::net::SocketFile> {
        None
    }
    /// The signalfd itself (to change its mask).
    fn as_signalfd(&self) -> Option<&crate::sentry::vfs::events::SignalFd> {
        None
    }
    /// The Landlock ruleset behind a ruleset descriptor.
    fn as_landlock_ruleset(&self) -> Option<&crate::sentry::landlock::Ruleset> {
        None
    }
    /// The context behind a userfaultfd.
    fn as_userfaultfd(&self) -> Option<&Arc<crate::sentry::mm::uffd::Userfaultfd>> {
        None
    }
    /// The process a pidfd refers to.
    fn as_pidfd(&self) -> Option<&crate::sentry::vfs::events::PidFd> {
        None
    }
    /// The namespace behind an nsfs file (/proc/<pid>/ns/*).
    fn as_ns(&self) -> Option<&crate::sentry::ns::NsFile> {
        None
    }
    /// The queue behind a POSIX message queue descriptor.
    fn as_mqueue(&self) -> Option<&crate::sentry::vfs::mqueue::QueueFile> {
        None
    }
    /// The inotify instance behind an inotify descriptor.
    fn as_fanotify(&self) -> Option<&crate::sentry::vfs::fanotify::Group> {
        None
    }

    fn as_inotify(&self) -> Option<&crate::sentry::vfs::inotify::Inotify> {
        None
    }
    /// The pipe behind a pipe end or an open FIFO (F_GETPIPE_SZ).
    fn as_pipe(&self) -> Option<&Arc<crate::sentry::vfs::pipe::Pipe>> {
        None
    }
    /// For one end of a named pipe: how many ends the other side has open
    /// and has ever opened (a blocking open waits until a peer opens).
    fn fifo_peers(&self) -> Option<(usize, u64)> {
        None
    }
    /// The queues woken when this file's readiness may change (pipe data
    /// or room, an eventfd's count, a FIFO peer, an epoll member): a wait
    /// on the file registers there. Files whose readiness only time or the
    /// host's stdin changes add none.
    fn wait_queues(&self, _out: &mut Vec<Arc<crate::sentry::wait::WaitQueue>>) {}
    /// Whether splice may read or write it (Linux's splice_read and
    /// splice_write): files of bytes, not event files or directories.
    fn splices(&self) -> bool {
        false
    }
    /// Whether epoll may watch this file (not regular files or
    /// directories, which are always ready: EPERM, as on Linux).
    fn pollable(&self) -> bool {
        true
    }
}

/// A regular file (or anything with positional I/O) opened by path.
pub struct InodeFile {
    inode: Arc<dyn Inode>,
    /// Something the filesystem keeps alive as long as the open file (a
    /// tmpfs count of the files open for writing).
    _hold: Option<alloc::boxed::Box<dyn core::any::Any + Send + Sync>>,
}

impl InodeFile {
    pub fn new(inode: Arc<dyn Inode>, _flags: u32) -> InodeFile {
        InodeFile { inode, _hold: None }
    }

    /// An open file that holds `hold` while it lives.
    pub fn holding(
        inode: Arc<dyn Inode>,
        _flags: u32,
        hold: alloc::boxed::Box<dyn core::any::Any + Send + Sync>,
    ) -> InodeFile {
        InodeFile {
            inode,
            _hold: Some(hold),
        }
    }
}

impl File for InodeFile {
    fn read(&self, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
        self.inode.read_at(offset, buf)
    }
    fn write(&self, buf: &[u8], offset: u64) -> Result<usize, Errno> {
        if self.inode.read_only() {
            return Err(EROFS);
        }
        self.inode.write_at(offset, buf)
    }
    fn seekable(&self) -> bool {
        true
    }
    fn stat(&self) -> Stat {
        self.inode.stat()
    }
    fn poll(&self, events: i16) -> i16 {
        events & (POLLIN | POLLOUT)
    }
    fn inode(&self) -> Option<Arc<dyn Inode>> {
        Some(self.inode.clone())
    }
    fn truncate(&self, size: u64) -> Result<(), Errno> {
        if self.inode.read_only() {
            return Err(EROFS);
        }
        self.inode.truncate(size)
    }
    fn sync(&self) -> Result<(), Errno> {
        self.inode.sync()
    }
    fn available(&self) -> Result<u64, Errno> {
        Err(ENOTTY)
    }
    fn pollable(&self) -> bool {
        false
    }
    fn splices(&self) -> bool {
        true
    }
}

/// An open directory: getdents64 reads a snapshot of its entries.
pub struct DirFile {
    inode: Arc<dyn Inode>,
    snapshot: Mutex<Option<Vec<DirEntry>>>,
}

impl DirFile {
    pub fn new(inode: Arc<dyn Inode>) -> DirFile {
        DirFile {
            inode,
            snapshot: Mutex::new(None),
        }
    }
}

impl File for DirFile {
    fn read(&self, _buf: &mut [u8], _offset: u64) -> Result<usize, Errno> {
        Err(EISDIR)
    }
    fn write(&self, _buf: &[u8], _offset: u64) -> Result<usize, Errno> {
        Err(EISDIR)
    }
    fn seekable(&self) -> bool {
        true
    }
    fn stat(&self) -> Stat {
        self.inode.stat()
    }
    fn poll(&self, events: i16) -> i16 {
        events & (POLLIN | POLLOUT)
    }
    fn readdir(&self) -> Result<Vec<DirEntry>, Errno> {
        let mut snapshot = self.snapshot.lock();
        if snapshot.is_none() {
            *snapshot = Some(self.inode.readdir()?);
        }
        Ok(snapshot.clone().unwrap_or_default())
    }
    fn rewind(&self) {
        *self.snapshot.lock() = None;
    }
    fn inode(&self) -> Option<Arc<dyn Inode>> {
        Some(self.inode.clone())
    }
    fn sync(&self) -> Result<(), Errno> {
        self.inode.sync()
    }
    fn pollable(&self) -> bool {
        false
    }
}

/// What an ioctl wants copied back to the user.
pub enum IoctlReply {
    Bytes(Vec<u8>),
}

/// An open file description (shared by dup'd descriptors).
pub struct OpenFile {
    pub file: Arc<dyn File>,
    /// Where it was opened (for *at() calls, fchdir, /proc/self/fd).
    pub location: Option<PathStack>,
    /// O_ACCMODE, O_APPEND, O_NONBLOCK, O_PATH.
    pub flags: Mutex<u32>,
    pub offset: Mutex<u64>,
    /// What /proc/self/fd shows for a file with no path (memfd).
    pub label: Option<Vec<u8>>,
    /// Set once a flock, OFD lock or lease was asked for through it: its
    /// locks go when it does.
    locked: core::sync::atomic::AtomicBool,
    /// Whom its signals go to (F_SETOWN, F_SETSIG).
    pub owner: Mutex<crate::sentry::sigio::FOwner>,
    /// Its O_ASYNC watch, while O_ASYNC is set on a file that signals.
    pub async_watch: Mutex<Option<Arc<crate::sentry::sigio::AsyncWatch>>>,
    /// Landlock rights checked at use (TRUNCATE, IOCTL_DEV) that the
    /// opener's domain denied when it was opened.
    pub landlock_denied: core::sync::atomic::AtomicU64,
    /// A regular file's open, counted for leases while it lives (its
    /// drop uncounts it).
    _open_count: Option<crate::sentry::syscalls::locks::OpenCount>,
    /// The newest activity of this file that an EPOLLEXCLUSIVE watcher
    /// has taken: one change wakes one exclusive watcher (see
    /// `claim_exclusive`).
    exclusive_claim: core::sync::atomic::AtomicU64,
    /// Opened for a fanotify event (Linux's FMODE_NONOTIFY): what is done
    /// through it raises no notification, so a listener does not hear its
    /// own reads and closes.
    nonotify: core::sync::atomic::AtomicBool,
}

impl Drop for OpenFile {
    fn drop(&mut self) {
        if self.locked.load(core::sync::atomic::Ordering::Relaxed) {
            crate::sentry::syscalls::locks::release_description(self);
        }
        if let Some(watch) = self.async_watch.get_mut().take() {
            watch.detach();
        }
        // The last descriptor of a file opened by path closed.
        if let Some(location) = self.location.as_ref().filter(|_| !self.nonotify()) {
            use crate::sentry::vfs::inotify::{on_path, IN_CLOSE_NOWRITE, IN_CLOSE_WRITE};
            let flags = *self.flags.lock();
            if flags & O_PATH == 0 {
                let writable = flags & O_ACCMODE != O_RDONLY;
                on_path(
                    location,
                    if writable {
                        IN_CLOSE_WRITE
                    } else {
                        IN_CLOSE_NOWRITE
                    },
                );
            }
        }
    }
}

impl OpenFile {
    pub fn new(file: Arc<dyn File>, flags: u32) -> Arc<OpenFile> {
        OpenFile::at(file, flags, None)
    }

    pub fn at(file: Arc<dyn File>, flags: u32, location: Option<PathStack>) -> Arc<OpenFile> {
        OpenFile::counted(file, flags, location, None)
    }

    /// A file opened by path, its open counted for leases by `count`.
    pub fn counted(
        file: Arc<dyn File>,
        flags: u32,
        location: Option<PathStack>,
        count: Option<crate::sentry::syscalls::locks::OpenCount>,
    ) -> Arc<OpenFile> {
        let flags = flags & (O_ACCMODE | O_APPEND | O_NONBLOCK | O_PATH);
        OpenFile::make(file, flags, location, None, count)
    }

    fn make(
        file: Arc<dyn File>,
        flags: u32,
        location: Option<PathStack>,
        label: Option<Vec<u8>>,
        open_count: Option<crate::sentry::syscalls::locks::OpenCount>,
    ) -> Arc<OpenFile> {
        Arc::new(OpenFile {
            file,
            location,
            flags: Mutex::new(flags),
            offset: Mutex::new(0),
            label,
            locked: core::sync::atomic::AtomicBool::new(false),
            owner: Mutex::new(Default::default()),
            async_watch: Mutex::new(None),
            landlock_denied: core::sync::atomic::AtomicU64::new(0),
            _open_count: open_count,
            exclusive_claim: core::sync::atomic::AtomicU64::new(0),
            nonotify: core::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Takes the change `activity` for one EPOLLEXCLUSIVE watcher: true for
    /// the first to ask, false for every later one (Linux wakes one
    /// exclusive waiter per event; the others keep waiting).
    pub fn claim_exclusive(&self, activity: u64) -> bool {
        use core::sync::atomic::Ordering;
        // Stored one up, so that a file's first state (activity 0) can be
        // taken too.
        self.exclusive_claim
            .fetch_max(activity + 1, Ordering::AcqRel)
            <= activity
    }

    /// Whether an exclusive watcher already took the change `activity`.
    pub fn exclusive_claimed(&self, activity: u64) -> bool {
        self.exclusive_claim
            .load(core::sync::atomic::Ordering::Acquire)
            > activity
    }

    /// Marks it as raising no notifications (a fanotify event's file).
    pub fn set_nonotify(&self) {
        self.nonotify
            .store(true, core::sync::atomic::Ordering::Relaxed);
    }

    /// Whether it raises no notifications.
    pub fn nonotify(&self) -> bool {
        self.nonotify.load(core::sync::atomic::Ordering::Relaxed)
    }

    /// Records that a lock was taken through this description.
    pub fn note_locked(&self) {
        self.locked
            .store(true, core::sync::atomic::Ordering::Relaxed);
    }

    /// A file without a path, named `label` in /proc/self/fd.
    pub fn labeled(file: Arc<dyn File>, flags: u32, label: Vec<u8>) -> Arc<OpenFile> {
        OpenFile::labeled_counted(file, flags, label, None)
    }

    /// A labeled file whose open counts for leases (a memfd).
    pub fn labeled_counted(
        file: Arc<dyn File>,
        flags: u32,
        label: Vec<u8>,
        count: Option<crate::sentry::syscalls::locks::OpenCount>,
    ) -> Arc<OpenFile> {
        let flags = flags & (O_ACCMODE | O_APPEND | O_NONBLOCK);
        OpenFile::make(file, flags, None, Some(label), count)
    }

    pub fn readable(&self) -> bool {
        let flags = *self.flags.lock();
        flags & O_PATH == 0 && flags & O_ACCMODE != O_WRONLY
    }

    pub fn writable(&self) -> bool {
        let flags = *self.flags.lock();
        flags & O_PATH == 0 && flags & O_ACCMODE != O_RDONLY
    }

    pub fn append(&self) -> bool {
        *self.flags.lock() & O_APPEND != 0
    }

    pub fn nonblocking(&self) -> bool {
        *self.flags.lock() & O_NONBLOCK != 0
    }

    /// EACCES when the opener's Landlock domain denied `right` (one of
    /// the rights an open file keeps).
    pub fn landlock_allows(&self, right: u64) -> Result<(), Errno> {
        if self
            .landlock_denied
            .load(core::sync::atomic::Ordering::Relaxed)
            & right
            != 0
        {
            return Err(crate::sentry::errno::EACCES);
        }
        Ok(())
    }
}

/// The table of a process (or of the processes sharing it, CLONE_FILES).
pub type FdTable = table::FdTable<Arc<OpenFile>>;

impl table::Descriptor for Arc<OpenFile> {
    fn reserve(errno: Errno) -> Result<(), Errno> {
        // The sandbox-wide file table is full when the sentry's memory is.
        crate::mm::reserve_for_object(errno)
    }
}
