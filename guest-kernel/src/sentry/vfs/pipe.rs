//! Pipes: a buffer (64 KiB unless fcntl F_SETPIPE_SZ changes it) between
//! read ends and write ends. A pipe from
//! pipe(2) starts with one end of each; a named pipe (FIFO) in tmpfs keeps
//! its buffer and gets ends as it is opened. The buffer is a ring of page
//! frames (as Linux's pipe_buffer pages): taken as data arrives, given back
//! to the frame allocator as it is read, so a drained pipe holds no memory.

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use spin::Mutex;

use super::{Inode, DEV_PIPE};
use crate::mm::Frame;
use crate::sentry::errno::*;
use crate::sentry::fd::{File, POLLERR, POLLHUP, POLLIN, POLLOUT};
use crate::sentry::stat::{Stat, S_IFIFO};
use crate::sentry::wait::WaitQueue;

/// Linux's default pipe capacity.
pub const PIPE_CAPACITY: usize = 64 * 1024;

/// /proc/sys/fs/pipe-max-size: the largest capacity F_SETPIPE_SZ gives
/// without CAP_SYS_RESOURCE, and a cap on a new pipe's capacity for such a
/// process (Linux's default, 1 MiB; root may change it).
static PIPE_MAX_SIZE: AtomicUsize = AtomicUsize::new(1024 * 1024);

/// /proc/sys/fs/pipe-user-pages-soft and -hard (Linux's defaults: 16384
/// pages, no hard limit): the pipe buffer pages one user's pipes may hold
/// before an unprivileged user's new pipes get two pages only (soft) or
/// are refused (hard, ENFILE); F_SETPIPE_SZ may not grow a pipe past
/// either (EPERM). Root may change them.
pub static PIPE_USER_PAGES_SOFT: AtomicUsize = AtomicUsize::new(16384);
pub static PIPE_USER_PAGES_HARD: AtomicUsize = AtomicUsize::new(0);
/// Pages charged to each user (by real uid) for its pipes.
static USER_PAGES: Mutex<alloc::collections::BTreeMap<u32, usize>> =
    Mutex::new(alloc::collections::BTreeMap::new());

/// Changes `uid`'s pages from `old` to `new`; the user's new total.
fn account(uid: u32, old: usize, new: usize) -> usize {
    let mut all = USER_PAGES.lock();
    let total = all.entry(uid).or_insert(0);
    *total = (*total + new).saturating_sub(old);
    let now = *total;
    if now == 0 {
        all.remove(&uid);
    }
    now
}

fn too_many(total: usize) -> bool {
    let soft = PIPE_USER_PAGES_SOFT.load(Ordering::Relaxed);
    let hard = PIPE_USER_PAGES_HARD.load(Ordering::Relaxed);
    (soft != 0 && total > soft) || (hard != 0 && total > hard)
}

/// pipe-max-size now.
pub fn pipe_max_size() -> usize {
    PIPE_MAX_SIZE.load(Ordering::Relaxed)
}

/// Writes pipe-max-size (Linux's proc_dopipe_max_size): the value is
/// rounded as F_SETPIPE_SZ rounds (EINVAL above 2^31).
pub fn set_pipe_max_size(size: u32) -> Result<(), Errno> {
    PIPE_MAX_SIZE.store(round_pipe_size(size).ok_or(EINVAL)?, Ordering::Relaxed);
    Ok(())
}

const PAGE: usize = crate::arch::PAGE_SIZE as usize;

/// Bytes in a queue of page frames: `len` bytes from offset `head` of the
/// first frame on.
#[derive(Default)]
struct PageRing {
    frames: VecDeque<Frame>,
    head: usize,
    len: usize,
}

impl PageRing {
    fn len(&self) -> usize {
        self.len
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bytes of page frames the data occupies, from the start of the
    /// first frame: what counts against the capacity. As Linux's pipe
    /// counts whole pages (slots), a partly read first page takes room
    /// until it is read to the end.
    fn span(&self) -> usize {
        if self.len == 0 {
            0
        } else {
            self.head + self.len
        }
    }

    /// Appends what fits of `data` (frames as needed); the count appended,
    /// short when memory ran out.
    fn push(&mut self, data: &[u8]) -> usize {
        let mut done = 0;
        while done < data.len() {
            let end = self.head + self.len;
            let in_page = end % PAGE;
            if in_page == 0 && end / PAGE == self.frames.len() {
                if self.frames.try_reserve(1).is_err() {
                    break;
                }
                let Some(frame) = Frame::alloc_zeroed() else {
                    break;
                };
                self.frames.push_back(frame);
            }
            let frame = self.frames[end / PAGE].phys();
            let n = (PAGE - in_page).min(data.len() - done);
            crate::mm::frame::write(frame, in_page, &data[done..done + n]);
            done += n;
            self.len += n;
        }
        done
    }

    /// Takes up to `buf.len()` bytes from the front; the count taken.
    fn pop(&mut self, buf: &mut [u8]) -> usize {
        let n = self.peek(0, buf);
        self.discard(n);
        n
    }

    /// Copies up to `buf.len()` bytes from `skip` bytes in, leaving them
    /// in place; the count copied.
    fn peek(&self, skip: usize, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.len.saturating_sub(skip));
        let mut done = 0;
        while done < n {
            let at = self.head + skip + done;
            let in_page = at % PAGE;
            let take = (PAGE - in_page).min(n - done);
            let frame = self.frames[at / PAGE].phys();
            crate::mm::frame::read(frame, in_page, &mut buf[done..done + take]);
            done += take;
        }
        n
    }

    /// Drops up to `n` bytes from the front, giving read pages back.
    fn discard(&mut self, n: usize) {
        let mut left = n.min(self.len);
        while left > 0 {
            let take = (PAGE - self.head).min(left);
            left -= take;
            self.head += take;
            self.len -= take;
            if self.head == PAGE || self.len == 0 {
                // The page is read (or the pipe is empty): give it back.
                self.frames.pop_front();
                self.head = 0;
            }
        }
    }
}

static NEXT_PIPE_INO: AtomicU64 = AtomicU64::new(10_000);

pub struct Pipe {
    ino: u64,
    /// A named pipe: opens wait for the other side (see `fifo_peers`).
    named: bool,
    buffer: Mutex<PageRing>,
    /// Bytes the buffer may hold (whole pages, a power of two of them):
    /// changed by F_SETPIPE_SZ under the buffer's lock.
    capacity: AtomicUsize,
    readers: AtomicUsize,
    writers: AtomicUsize,
    created: i64,
    /// Writes and reads so far (epoll's edge trigger).
    writes: AtomicU64,
    reads: AtomicU64,
    /// Ends opened so far on each side (a waiting FIFO open is satisfied
    /// by a peer that opened, even if it closed again since).
    reader_opens: AtomicU64,
    writer_opens: AtomicU64,
    /// Readers waiting for data, writers for room, opens for a peer.
    queue: Arc<WaitQueue>,
    /// The user its pages are charged to and how many (pipe(2)'s pipes:
    /// Linux's pipe->user and nr_accounted).
    charged: Mutex<Option<(u32, usize)>>,
}

impl Drop for Pipe {
    fn drop(&mut self) {
        if let Some((uid, pages)) = *self.charged.lock() {
            account(uid, pages, 0);
        }
    }
}

/// One end of a pipe (both, for a FIFO opened O_RDWR). Dropping the last
/// end of a side closes that side.
pub struct PipeEnd {
    pipe: Arc<Pipe>,
    reads: bool,
    write: bool,
}

fn new_buffer(named: bool) -> Arc<Pipe> {
    Arc::new(Pipe {
        ino: NEXT_PIPE_INO.fetch_add(1, Ordering::Relaxed),
        named,
        buffer: Mutex::new(PageRing::default()),
        capacity: AtomicUsize::new(PIPE_CAPACITY),
        readers: AtomicUsize::new(0),
        writers: AtomicUsize::new(0),
        created: (crate::sentry::time::realtime_ns() / 1_000_000_000) as i64,
        writes: AtomicU64::new(0),
        reads: AtomicU64::new(0),
        reader_opens: AtomicU64::new(0),
        writer_opens: AtomicU64::new(0),
        queue: Arc::new(WaitQueue::new()),
        charged: Mutex::new(None),
    })
}

/// A new end of `pipe` for reading and/or writing.
pub fn open_end(pipe: &Arc<Pipe>, reads: bool, write: bool) -> Arc<PipeEnd> {
    if reads {
        pipe.readers.fetch_add(1, Ordering::Relaxed);
        pipe.reader_opens.fetch_add(1, Ordering::Relaxed);
    }
    if write {
        pipe.writers.fetch_add(1, Ordering::Relaxed);
        pipe.writer_opens.fetch_add(1, Ordering::Relaxed);
    }
    pipe.queue.wake_all();
    Arc::new(PipeEnd {
        pipe: pipe.clone(),
        reads,
        write,
    })
}

/// A new pipe: (read end, write end).
pub fn new_pipe() -> (Arc<PipeEnd>, Arc<PipeEnd>) {
    let pipe = new_buffer(false);
    (open_end(&pipe, true, false), open_end(&pipe, false, true))
}

/// The buffer of a new named pipe (no ends yet).
pub fn new_fifo() -> Arc<Pipe> {
    new_buffer(true)
}

impl Pipe {
    pub fn readers(&self) -> usize {
        self.readers.load(Ordering::Relaxed)
    }

    pub fn writers(&self) -> usize {
        self.writers.load(Ordering::Relaxed)
    }

    /// What the buffer may hold (F_GETPIPE_SZ).
    pub fn capacity(&self) -> usize {
        self.capacity.load(Ordering::Relaxed)
    }

    /// Charges a new pipe to user `uid` (Linux's alloc_pipe_info): an
    /// `unprivileged` user past the soft limit gets a pipe of two pages,
    /// past the hard limit none (ENFILE).
    pub fn charge(&self, uid: u32, unprivileged: bool) -> Result<(), Errno> {
        let mut pages = self.capacity() / PAGE;
        let mut total = account(uid, 0, pages);
        let soft = PIPE_USER_PAGES_SOFT.load(Ordering::Relaxed);
        if unprivileged && soft != 0 && total > soft {
            total = account(uid, pages, 2);
            pages = 2;
            self.capacity.store(2 * PAGE, Ordering::Relaxed);
        }
        let hard = PIPE_USER_PAGES_HARD.load(Ordering::Relaxed);
        if unprivileged && hard != 0 && total > hard {
            account(uid, pages, 0);
            return Err(ENFILE);
        }
        *self.charged.lock() = Some((uid, pages));
        Ok(())
    }

    /// F_SETPIPE_SZ: makes the capacity `size` bytes (already rounded to a
    /// power-of-two number of pages). EBUSY when the data in the pipe would
    /// not fit (in whole pages, as Linux counts its slots); EPERM when an
    /// `unprivileged` user would grow it past its user's page limits.
    pub fn set_capacity(&self, size: usize, unprivileged: bool) -> Result<usize, Errno> {
        let mut charged = self.charged.lock();
        if let Some((uid, pages)) = *charged {
            let total = account(uid, pages, size / PAGE);
            if size > self.capacity() && unprivileged && too_many(total) {
                account(uid, size / PAGE, pages);
                return Err(EPERM);
            }
            *charged = Some((uid, size / PAGE));
        }
        drop(charged);
        let buffer = self.buffer.lock();
        if buffer.span().div_ceil(PAGE) > size / PAGE {
            if let Some((uid, pages)) = self.charged.lock().as_mut() {
                account(*uid, *pages, self.capacity() / PAGE);
                *pages = self.capacity() / PAGE;
            }
            return Err(EBUSY);
        }
        self.capacity.store(size, Ordering::Relaxed);
        drop(buffer);
        // Room may have grown: blocked writers (and pollers) look again.
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.queue.wake_all();
        Ok(size)
    }
}

/// The buffer as splice, tee and vmsplice use it: they check the ends'
/// open modes themselves, measure before they move, and move within one
/// uninterrupted stretch of the sentry (it is not preemptible and has one
/// vCPU), so what they measured still holds when they move.
impl Pipe {
    /// Bytes in the buffer.
    pub fn buffered(&self) -> usize {
        self.buffer.lock().len()
    }

    /// Bytes a write could add now.
    pub fn room(&self) -> usize {
        self.capacity().saturating_sub(self.buffer.lock().span())
    }

    /// Copies up to `buf.len()` bytes from `skip` bytes in without taking
    /// them (tee, or a splice before its destination took the bytes).
    pub fn peek(&self, skip: usize, buf: &mut [u8]) -> usize {
        self.buffer.lock().peek(skip, buf)
    }

    /// Drops the first `n` bytes (they were moved elsewhere), as a read.
    pub fn consume(&self, n: usize) {
        if n == 0 {
            return;
        }
        self.buffer.lock().discard(n);
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.queue.wake_all();
    }

    /// Appends `data` (the caller measured the room), as a write; short
    /// only when memory ran out.
    pub fn fill(&self, data: &[u8]) -> usize {
        let n = self.buffer.lock().push(data);
        if n > 0 {
            self.writes.fetch_add(1, Ordering::Relaxed);
            self.queue.wake_all();
        }
        n
    }
}

/// Linux's round_pipe_size: a page at least, else the next power of two;
/// None above 2^31 (EINVAL).
pub fn round_pipe_size(size: u32) -> Option<usize> {
    if size > 1 << 31 {
        return None;
    }
    Some((size as usize).max(PAGE).next_power_of_two())
}

impl Drop for PipeEnd {
    fn drop(&mut self) {
        if self.reads {
            self.pipe.readers.fetch_sub(1, Ordering::Relaxed);
        }
        if self.write {
            self.pipe.writers.fetch_sub(1, Ordering::Relaxed);
        }
        // Ends closing is news for epoll's edge trigger and for waiters.
        self.pipe.writes.fetch_add(1, Ordering::Relaxed);
        self.pipe.reads.fetch_add(1, Ordering::Relaxed);
        self.pipe.queue.wake_all();
    }
}

impl File for PipeEnd {
    /// EAGAIN when empty with writers left: the caller decides whether that
    /// means "try again" (O_NONBLOCK) or blocking.
    fn read(&self, buf: &mut [u8], _offset: u64) -> Result<usize, Errno> {
        if !self.reads {
            return Err(EBADF);
        }
        let mut buffer = self.pipe.buffer.lock();
        if buffer.is_empty() {
            if self.pipe.writers.load(Ordering::Relaxed) == 0 {
                return Ok(0);
            }
            return Err(EAGAIN);
        }
        let n = buffer.pop(buf);
        self.pipe.reads.fetch_add(1, Ordering::Relaxed);
        drop(buffer);
        self.pipe.queue.wake_all();
        Ok(n)
    }

    /// EPIPE without readers; EAGAIN when full.
    fn write(&self, buf: &[u8], _offset: u64) -> Result<usize, Errno> {
        if !self.write {
            return Err(EBADF);
        }
        if self.pipe.readers.load(Ordering::Relaxed) == 0 {
            return Err(EPIPE);
        }
        let mut buffer = self.pipe.buffer.lock();
        let room = self.pipe.capacity().saturating_sub(buffer.span());
        if room == 0 {
            return Err(EAGAIN);
        }
        // Pages come from guest memory: when it runs out the write takes
        // what fitted (ENOMEM when nothing did, as Linux when it cannot get
        // a page for a pipe).
        let n = buffer.push(&buf[..buf.len().min(room)]);
        if n == 0 {
            return Err(ENOMEM);
        }
        self.pipe.writes.fetch_add(1, Ordering::Relaxed);
        drop(buffer);
        self.pipe.queue.wake_all();
        Ok(n)
    }

    fn stat(&self) -> Stat {
        Stat {
            dev: DEV_PIPE,
            ino: self.pipe.ino,
            nlink: 1,
            mode: S_IFIFO | 0o600,
            blksize: 4096,
            atime: self.pipe.created,
            mtime: self.pipe.created,
            ctime: self.pipe.created,
            ..Stat::default()
        }
    }

    fn splices(&self) -> bool {
        true
    }

    fn poll(&self, events: i16) -> i16 {
        let buffer = self.pipe.buffer.lock();
        let mut ready = 0;
        if self.write {
            if self.pipe.readers.load(Ordering::Relaxed) == 0 {
                ready |= POLLERR;
            } else if buffer.span() < self.pipe.capacity() {
                ready |= events & POLLOUT;
            }
        }
        if self.reads {
            if !buffer.is_empty() {
                ready |= events & POLLIN;
            }
            if self.pipe.writers.load(Ordering::Relaxed) == 0 {
                ready |= POLLHUP;
            }
        }
        ready
    }

    fn fifo_peers(&self) -> Option<(usize, u64)> {
        if !self.pipe.named || (self.reads && self.write) {
            return None;
        }
        Some(if self.write {
            (
                self.pipe.readers(),
                self.pipe.reader_opens.load(Ordering::Relaxed),
            )
        } else {
            (
                self.pipe.writers(),
                self.pipe.writer_opens.load(Ordering::Relaxed),
            )
        })
    }

    fn available(&self) -> Result<u64, Errno> {
        Ok(self.pipe.buffer.lock().len() as u64)
    }

    /// The read end changes when someone writes, the write end when
    /// someone reads (room), either when the other side closes.
    fn activity(&self) -> u64 {
        let closes = (self.pipe.readers.load(Ordering::Relaxed) == 0) as u64
            + (self.pipe.writers.load(Ordering::Relaxed) == 0) as u64;
        let counter = if self.reads {
            &self.pipe.writes
        } else {
            &self.pipe.reads
        };
        counter.load(Ordering::Relaxed) * 4 + closes
    }

    fn inode(&self) -> Option<Arc<dyn Inode>> {
        None
    }

    fn as_pipe(&self) -> Option<&Arc<Pipe>> {
        Some(&self.pipe)
    }

    fn wait_queues(&self, out: &mut alloc::vec::Vec<Arc<WaitQueue>>) {
        out.push(self.pipe.queue.clone());
    }
}
