//! Event files: eventfd (a counter), timerfd (a timer read as a count of
//! expirations) and signalfd (the task's pending signals, read by the
//! syscall layer). None has a path; /proc/self/fd shows them as
//! anon_inode:[eventfd] and so on.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;

use super::{Inode, DEV_PIPE};
use crate::sentry::errno::*;
use crate::sentry::fd::{File, POLLIN, POLLOUT};
use crate::sentry::stat::Stat;
use crate::sentry::wait::WaitQueue;

static NEXT_INO: AtomicU64 = AtomicU64::new(20_000);

/// A new anonymous inode number.
pub fn next_anon_ino() -> u64 {
    NEXT_INO.fetch_add(1, Ordering::Relaxed)
}

pub fn anon_stat(ino: u64) -> Stat {
    // Anonymous inodes: mode 0600 without a file type bit, as Linux shows.
    Stat {
        dev: DEV_PIPE,
        ino,
        nlink: 1,
        mode: 0o600,
        blksize: 4096,
        ..Stat::default()
    }
}

/// The largest eventfd counter value.
const EVENTFD_MAX: u64 = u64::MAX - 1;

pub struct EventFd {
    ino: u64,
    counter: Mutex<u64>,
    semaphore: bool,
    writes: AtomicU64,
    /// Readers waiting for a count, writers for room.
    queue: Arc<WaitQueue>,
}

impl EventFd {
    pub fn new(initial: u64, semaphore: bool) -> Arc<EventFd> {
        Arc::new(EventFd {
            ino: NEXT_INO.fetch_add(1, Ordering::Relaxed),
            counter: Mutex::new(initial),
            semaphore,
            writes: AtomicU64::new(0),
            queue: Arc::new(WaitQueue::new()),
        })
    }
}

impl File for EventFd {
    /// EAGAIN when zero: the caller decides whether to block.
    fn read(&self, buf: &mut [u8], _offset: u64) -> Result<usize, Errno> {
        if buf.len() < 8 {
            return Err(EINVAL);
        }
        let mut counter = self.counter.lock();
        if *counter == 0 {
            return Err(EAGAIN);
        }
        let value = if self.semaphore { 1 } else { *counter };
        *counter -= value;
        buf[..8].copy_from_slice(&value.to_le_bytes());
        self.writes.fetch_add(1, Ordering::Relaxed);
        drop(counter);
        self.queue.wake_all();
        Ok(8)
    }

    /// EAGAIN when the sum would pass the maximum.
    fn write(&self, buf: &[u8], _offset: u64) -> Result<usize, Errno> {
        if buf.len() < 8 {
            return Err(EINVAL);
        }
        let value = u64::from_le_bytes(buf[..8].try_into().unwrap());
        if value == u64::MAX {
            return Err(EINVAL);
        }
        let mut counter = self.counter.lock();
        if EVENTFD_MAX - *counter < value {
            return Err(EAGAIN);
        }
        *counter += value;
        self.writes.fetch_add(1, Ordering::Relaxed);
        drop(counter);
        self.queue.wake_all();
        Ok(8)
    }

    fn stat(&self) -> Stat {
        anon_stat(self.ino)
    }

    fn poll(&self, events: i16) -> i16 {
        let counter = *self.counter.lock();
        let mut ready = 0;
        if counter > 0 {
            ready |= events & POLLIN;
        }
        if counter < EVENTFD_MAX {
            ready |= events & POLLOUT;
        }
        ready
    }

    fn activity(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    fn wait_queues(&self, out: &mut Vec<Arc<WaitQueue>>) {
        out.push(self.queue.clone());
    }

    fn inode(&self) -> Option<Arc<dyn Inode>> {
        None
    }

    fn as_eventfd(&self) -> Option<&EventFd> {
        Some(self)
    }
}

/// A timerfd's timer, on the monotonic clock (realtime deadlines are
/// converted when set: the sandbox's realtime clock never jumps).
#[derive(Clone, Copy, Default)]
pub struct TimerState {
    pub deadline_ns: Option<u64>,
    pub interval_ns: u64,
    /// Expirations not read yet.
    pub ticks: u64,
    /// Expirations ever (epoll's edge trigger).
    pub total: u64,
}

impl TimerState {
    /// Counts the expirations up to monotonic time `now`.
    pub fn update(&mut self, now: u64) {
        let Some(deadline) = self.deadline_ns else {
            return;
        };
        if now < deadline {
            return;
        }
        let expired = match (now - deadline).checked_div(self.interval_ns) {
            Some(periods_late) => {
                self.deadline_ns = Some(deadline + (periods_late + 1) * self.interval_ns);
                periods_late + 1
            }
            None => {
                self.deadline_ns = None;
                1
            }
        };
        self.ticks = self.ticks.saturating_add(expired);
        self.total = self.total.wrapping_add(expired);
    }
}

pub struct TimerFd {
    ino: u64,
    pub clock: u64,
    pub state: Mutex<TimerState>,
}

impl TimerFd {
    pub fn new(clock: u64) -> Arc<TimerFd> {
        Arc::new(TimerFd {
            ino: NEXT_INO.fetch_add(1, Ordering::Relaxed),
            clock,
            state: Mutex::new(TimerState::default()),
        })
    }

    fn updated(&self) -> spin::MutexGuard<'_, TimerState> {
        let mut state = self.state.lock();
        state.update(crate::sentry::time::monotonic_ns());
        state
    }
}

impl File for TimerFd {
    fn read(&self, buf: &mut [u8], _offset: u64) -> Result<usize, Errno> {
        if buf.len() < 8 {
            return Err(EINVAL);
        }
        let mut state = self.updated();
        if state.ticks == 0 {
            return Err(EAGAIN);
        }
        buf[..8].copy_from_slice(&state.ticks.to_le_bytes());
        state.ticks = 0;
        Ok(8)
    }

    fn write(&self, _buf: &[u8], _offset: u64) -> Result<usize, Errno> {
        Err(EINVAL)
    }

    fn stat(&self) -> Stat {
        anon_stat(self.ino)
    }

    fn poll(&self, events: i16) -> i16 {
        if self.updated().ticks > 0 {
            events & POLLIN
        } else {
            0
        }
    }

    fn wake_deadline(&self) -> Option<u64> {
        self.updated().deadline_ns
    }

    fn activity(&self) -> u64 {
        self.updated().total
    }

    fn as_timerfd(&self) -> Option<&TimerFd> {
        Some(self)
    }

    fn inode(&self) -> Option<Arc<dyn Inode>> {
        None
    }
}

pub struct SignalFd {
    ino: u64,
    pub mask: Mutex<u64>,
}

impl SignalFd {
    pub fn new(mask: u64) -> Arc<SignalFd> {
        Arc::new(SignalFd {
            ino: NEXT_INO.fetch_add(1, Ordering::Relaxed),
            mask: Mutex::new(mask),
        })
    }
}

impl File for SignalFd {
    /// Reads go through the syscall layer (it owns the pending signals).
    fn read(&self, _buf: &mut [u8], _offset: u64) -> Result<usize, Errno> {
        Err(EINVAL)
    }

    fn write(&self, _buf: &[u8], _offset: u64) -> Result<usize, Errno> {
        Err(EINVAL)
    }

    fn stat(&self) -> Stat {
        anon_stat(self.ino)
    }

    /// Readiness too depends on the task: see `signalfd_mask`.
    fn poll(&self, _events: i16) -> i16 {
        0
    }

    fn signalfd_mask(&self) -> Option<u64> {
        Some(*self.mask.lock())
    }

    fn as_signalfd(&self) -> Option<&SignalFd> {
        Some(self)
    }

    fn inode(&self) -> Option<Arc<dyn Inode>> {
        None
    }
}

/// A pidfd: a descriptor for a process (pidfd_open, CLONE_PIDFD). It
/// holds the process object, not its number, so it always means the same
/// process; it becomes readable when the process exits.
pub struct PidFd {
    ino: u64,
    pub pid: i32,
    /// None for a process that had already exited when the pidfd was made
    /// (a zombie).
    pub process: Option<Arc<crate::sentry::task::Process>>,
}

impl PidFd {
    pub fn new(pid: i32, process: Option<Arc<crate::sentry::task::Process>>) -> Arc<PidFd> {
        Arc::new(PidFd {
            ino: NEXT_INO.fetch_add(1, Ordering::Relaxed),
            pid,
            process,
        })
    }

    pub fn exited(&self) -> bool {
        self.process.as_ref().is_none_or(|p| p.has_exited())
    }
}

impl File for PidFd {
    fn read(&self, _buf: &mut [u8], _offset: u64) -> Result<usize, Errno> {
        Err(EINVAL)
    }

    fn write(&self, _buf: &[u8], _offset: u64) -> Result<usize, Errno> {
        Err(EINVAL)
    }

    fn stat(&self) -> Stat {
        anon_stat(self.ino)
    }

    /// Readable once the process has exited, as Linux's pidfd_poll.
    fn poll(&self, events: i16) -> i16 {
        if self.exited() {
            events & POLLIN
        } else {
            0
        }
    }

    fn activity(&self) -> u64 {
        self.exited() as u64
    }

    fn wait_queues(&self, out: &mut Vec<Arc<WaitQueue>>) {
        if let Some(process) = &self.process {
            out.push(process.exit_waiters.clone());
        }
    }

    fn as_pidfd(&self) -> Option<&PidFd> {
        Some(self)
    }
}
