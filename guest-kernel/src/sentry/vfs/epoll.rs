//! epoll instances: an interest list of (fd, open file, events, data). The
//! syscall layer (`syscalls::events`) polls the files and waits; this keeps
//! the registrations and the edge-trigger and one-shot bookkeeping.
//!
//! A registration holds its open file weakly: like Linux, it disappears
//! once every descriptor of that file is closed.

// An ABI table: complete on purpose, used or not.
#![allow(dead_code)]

use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;

use super::{Inode, DEV_PIPE};
use crate::sentry::errno::*;
use crate::sentry::fd::{File, OpenFile, POLLIN};
use crate::sentry::stat::Stat;

pub const EPOLLIN: u32 = 0x001;
pub const EPOLLPRI: u32 = 0x002;
pub const EPOLLOUT: u32 = 0x004;
pub const EPOLLERR: u32 = 0x008;
pub const EPOLLHUP: u32 = 0x010;
pub const EPOLLRDNORM: u32 = 0x040;
pub const EPOLLRDBAND: u32 = 0x080;
pub const EPOLLWRNORM: u32 = 0x100;
pub const EPOLLWRBAND: u32 = 0x200;
pub const EPOLLMSG: u32 = 0x400;
pub const EPOLLRDHUP: u32 = 0x2000;
pub const EPOLLEXCLUSIVE: u32 = 1 << 28;
pub const EPOLLWAKEUP: u32 = 1 << 29;
pub const EPOLLONESHOT: u32 = 1 << 30;
pub const EPOLLET: u32 = 1 << 31;

/// The event bits poll() knows (the low 16 bits).
const POLL_BITS: u32 = 0xffff;

static NEXT_INO: AtomicU64 = AtomicU64::new(30_000);

pub struct Interest {
    pub file: Weak<OpenFile>,
    pub events: u32,
    pub data: u64,
    /// One-shot registrations are disarmed after one report until
    /// EPOLL_CTL_MOD.
    pub armed: bool,
    /// Edge trigger: what was reported last, and the file's activity then.
    pub reported: u32,
    pub activity: u64,
    /// Its place in the ready order: a reported registration goes to the
    /// back, so a wait with fewer slots than ready files takes them in
    /// turn (Linux requeues level-triggered items at the ready list's tail).
    pub order: u64,
}

/// A live registration: (fd, its open file, requested poll events).
pub type LiveInterest = (i32, Arc<OpenFile>, u32);

/// What one polled registration gives a wait.
pub enum Report {
    /// The events and data to hand out.
    Event(u32, u64),
    /// Nothing to report.
    Nothing,
    /// An edge-triggered EPOLLEXCLUSIVE registration whose change another
    /// exclusive watcher took first: this wait goes on waiting.
    Taken,
}

pub struct Epoll {
    ino: u64,
    pub interests: Mutex<BTreeMap<i32, Interest>>,
    /// The next `Interest::order` (the back of the ready order).
    next_order: AtomicU64,
}

impl Epoll {
    pub fn new() -> Arc<Epoll> {
        Arc::new(Epoll {
            ino: NEXT_INO.fetch_add(1, Ordering::Relaxed),
            interests: Mutex::new(BTreeMap::new()),
            next_order: AtomicU64::new(0),
        })
    }

    /// A place at the back of the ready order.
    pub fn back_of_order(&self) -> u64 {
        self.next_order.fetch_add(1, Ordering::Relaxed)
    }

    /// The live registrations in ready order, dropping those whose file
    /// is gone: (fd, file, requested poll events).
    pub fn live(&self) -> Vec<LiveInterest> {
        let mut interests = self.interests.lock();
        interests.retain(|_, i| i.file.strong_count() > 0);
        let mut live: Vec<(u64, LiveInterest)> = interests
            .iter()
            .filter(|(_, i)| i.armed)
            .filter_map(|(&fd, i)| i.file.upgrade().map(|f| (i.order, (fd, f, i.events))))
            .collect();
        live.sort_unstable_by_key(|(order, _)| *order);
        live.into_iter().map(|(_, item)| item).collect()
    }

    /// Filters one polled registration: what to report, updating the
    /// one-shot, edge-trigger and ready-order state.
    pub fn report(&self, fd: i32, revents: u32, file: &OpenFile) -> Report {
        let activity = file.file.activity();
        let mut interests = self.interests.lock();
        let Some(interest) = interests.get_mut(&fd) else {
            return Report::Nothing;
        };
        let revents = revents & (interest.events | EPOLLERR | EPOLLHUP);
        if revents == 0 {
            interest.reported = 0;
            return Report::Nothing;
        }
        if interest.events & EPOLLET != 0 {
            let fresh = revents & !interest.reported != 0 || activity != interest.activity;
            interest.reported = revents;
            interest.activity = activity;
            if !fresh {
                return Report::Nothing;
            }
            if interest.events & EPOLLEXCLUSIVE != 0 && !file.claim_exclusive(activity) {
                return Report::Taken;
            }
        }
        if interest.events & EPOLLONESHOT != 0 {
            interest.armed = false;
        }
        interest.order = self.next_order.fetch_add(1, Ordering::Relaxed);
        Report::Event(revents, interest.data)
    }

    /// Whether a registration is edge-triggered and already reported with
    /// nothing new since: it must not end a wait.
    /// So is an edge-triggered exclusive one whose change another
    /// exclusive watcher already took.
    pub fn saturated(&self, fd: i32, revents: u32, file: &OpenFile) -> bool {
        let activity = file.file.activity();
        let interests = self.interests.lock();
        interests.get(&fd).is_some_and(|i| {
            i.events & EPOLLET != 0
                && revents != 0
                && ((revents & !i.reported == 0 && activity == i.activity)
                    || (i.events & EPOLLEXCLUSIVE != 0 && file.exclusive_claimed(activity)))
        })
    }

    pub fn poll_bits(events: u32) -> i16 {
        (events & POLL_BITS) as u16 as i16
    }
}

impl File for Epoll {
    fn read(&self, _buf: &mut [u8], _offset: u64) -> Result<usize, Errno> {
        Err(EINVAL)
    }

    fn write(&self, _buf: &[u8], _offset: u64) -> Result<usize, Errno> {
        Err(EINVAL)
    }

    fn stat(&self) -> Stat {
        Stat {
            dev: DEV_PIPE,
            ino: self.ino,
            nlink: 1,
            mode: 0o600,
            blksize: 4096,
            ..Stat::default()
        }
    }

    /// Readable when a registration is ready (an epoll fd can be watched
    /// by poll or by another epoll).
    fn poll(&self, events: i16) -> i16 {
        let ready = self.live().iter().any(|(_, file, wanted)| {
            file.file.poll(Epoll::poll_bits(*wanted)) as u16 as u32 & (wanted | EPOLLERR | EPOLLHUP)
                != 0
        });
        if ready {
            events & POLLIN
        } else {
            0
        }
    }

    fn as_epoll(&self) -> Option<&Epoll> {
        Some(self)
    }

    /// Its members' queues (nesting is bounded: loops and deep chains are
    /// refused by epoll_ctl).
    fn wait_queues(&self, out: &mut Vec<Arc<crate::sentry::wait::WaitQueue>>) {
        for (_, file, _) in self.live() {
            file.file.wait_queues(out);
        }
    }

    fn inode(&self) -> Option<Arc<dyn Inode>> {
        None
    }
}
