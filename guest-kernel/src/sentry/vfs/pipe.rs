//! Pipes: a 64 KiB byte buffer between a read end and a write end.

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use spin::Mutex;

use super::{Inode, DEV_PIPE};
use crate::sentry::errno::*;
use crate::sentry::fd::{File, POLLERR, POLLHUP, POLLIN, POLLOUT};
use crate::sentry::stat::{Stat, S_IFIFO};

/// Linux's default pipe capacity.
pub const PIPE_CAPACITY: usize = 64 * 1024;

static NEXT_PIPE_INO: AtomicU64 = AtomicU64::new(10_000);

pub struct Pipe {
    ino: u64,
    buffer: Mutex<VecDeque<u8>>,
    readers: AtomicUsize,
    writers: AtomicUsize,
    created: i64,
    /// Writes and reads so far (epoll's edge trigger).
    writes: AtomicU64,
    reads: AtomicU64,
}

/// One end of a pipe. Dropping the last end of a side closes that side.
pub struct PipeEnd {
    pipe: Arc<Pipe>,
    write: bool,
}

/// A new pipe: (read end, write end).
pub fn new_pipe() -> (Arc<PipeEnd>, Arc<PipeEnd>) {
    let pipe = Arc::new(Pipe {
        ino: NEXT_PIPE_INO.fetch_add(1, Ordering::Relaxed),
        buffer: Mutex::new(VecDeque::new()),
        readers: AtomicUsize::new(1),
        writers: AtomicUsize::new(1),
        created: (crate::sentry::time::realtime_ns() / 1_000_000_000) as i64,
        writes: AtomicU64::new(0),
        reads: AtomicU64::new(0),
    });
    (
        Arc::new(PipeEnd {
            pipe: pipe.clone(),
            write: false,
        }),
        Arc::new(PipeEnd { pipe, write: true }),
    )
}

impl Drop for PipeEnd {
    fn drop(&mut self) {
        let count = if self.write {
            &self.pipe.writers
        } else {
            &self.pipe.readers
        };
        count.fetch_sub(1, Ordering::Relaxed);
    }
}

impl File for PipeEnd {
    /// EAGAIN when empty with writers left: the caller decides whether that
    /// means "try again" (O_NONBLOCK) or blocking.
    fn read(&self, buf: &mut [u8], _offset: u64) -> Result<usize, Errno> {
        if self.write {
            return Err(EBADF);
        }
        let mut buffer = self.pipe.buffer.lock();
        if buffer.is_empty() {
            if self.pipe.writers.load(Ordering::Relaxed) == 0 {
                return Ok(0);
            }
            return Err(EAGAIN);
        }
        let n = buf.len().min(buffer.len());
        for (dst, src) in buf.iter_mut().zip(buffer.drain(..n)) {
            *dst = src;
        }
        self.pipe.reads.fetch_add(1, Ordering::Relaxed);
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
        let room = PIPE_CAPACITY - buffer.len();
        if room == 0 {
            return Err(EAGAIN);
        }
        let n = buf.len().min(room);
        buffer.extend(&buf[..n]);
        self.pipe.writes.fetch_add(1, Ordering::Relaxed);
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

    fn poll(&self, events: i16) -> i16 {
        let buffer = self.pipe.buffer.lock();
        let mut ready = 0;
        if self.write {
            if self.pipe.readers.load(Ordering::Relaxed) == 0 {
                ready |= POLLERR;
            } else if buffer.len() < PIPE_CAPACITY {
                ready |= events & POLLOUT;
            }
        } else {
            if !buffer.is_empty() {
                ready |= events & POLLIN;
            }
            if self.pipe.writers.load(Ordering::Relaxed) == 0 {
                ready |= POLLHUP;
            }
        }
        ready
    }

    fn available(&self) -> Result<u64, Errno> {
        Ok(self.pipe.buffer.lock().len() as u64)
    }

    /// The read end changes when someone writes, the write end when
    /// someone reads (room), either when the other side closes.
    fn activity(&self) -> u64 {
        let closes = (self.pipe.readers.load(Ordering::Relaxed) == 0) as u64
            + (self.pipe.writers.load(Ordering::Relaxed) == 0) as u64;
        let counter = if self.write {
            &self.pipe.reads
        } else {
            &self.pipe.writes
        };
        counter.load(Ordering::Relaxed) * 4 + closes
    }

    fn inode(&self) -> Option<Arc<dyn Inode>> {
        None
    }
}
