//! POSIX message queues (Linux's ipc/mqueue.c): named queues of
//! prioritized messages, one namespace per sandbox, reached through
//! descriptors (mq_open). The syscalls are in `syscalls/mqueue.rs`.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;

use super::DEV_PIPE;
use crate::sentry::errno::*;
use crate::sentry::fd::{File, POLLIN, POLLOUT};
use crate::sentry::stat::Stat;
use crate::sentry::wait::WaitQueue;

/// /proc/sys/fs/mqueue defaults (Linux's).
pub const MSG_MAX: u64 = 10;
pub const MSGSIZE_MAX: u64 = 8192;
pub const QUEUES_MAX: usize = 256;
/// What CAP_SYS_RESOURCE may go up to (Linux's HARD_MSGMAX and
/// HARD_MSGSIZEMAX).
pub const HARD_MSG_MAX: u64 = 65536;
pub const HARD_MSGSIZE_MAX: u64 = 16 << 20;
/// Priorities are below this (MQ_PRIO_MAX).
pub const PRIO_MAX: u64 = 32768;

/// Who asked to hear of the next message on an empty queue (mq_notify):
/// the process, and how.
#[derive(Clone)]
pub struct Notify {
    pub pid: i32,
    pub how: How,
}

/// `struct sigevent`'s sigev_notify, as the kernel keeps it.
#[derive(Clone)]
pub enum How {
    /// SIGEV_NONE: the registration is used up, nothing is sent.
    Nothing,
    /// SIGEV_SIGNAL: the signal and its value.
    Signal(u8, u64),
    /// SIGEV_THREAD: Linux queues the caller's cookie on a netlink socket
    /// the caller named, its last byte saying what happened (libc's
    /// helper thread reads it and starts the thread).
    Thread {
        socket: Arc<dyn crate::sentry::net::Socket>,
        cookie: [u8; NOTIFY_COOKIE_LEN],
    },
}

/// The bytes of a SIGEV_THREAD notification (Linux's NOTIFY_COOKIE_LEN).
pub const NOTIFY_COOKIE_LEN: usize = 32;
/// Its last byte: a message came (NOTIFY_WOKENUP) or the registration
/// went without one (NOTIFY_REMOVED).
const NOTIFY_WOKENUP: u8 = 1;
const NOTIFY_REMOVED: u8 = 2;

impl Notify {
    /// A SIGEV_THREAD registration's message, with `code` (Linux's
    /// set_cookie and netlink_sendskb): the cookie alone, no netlink
    /// header. Other registrations send nothing here.
    fn send_cookie(&self, code: u8) {
        if let How::Thread { socket, cookie } = &self.how {
            let mut data = cookie.to_vec();
            data[NOTIFY_COOKIE_LEN - 1] = code;
            if let Some(netlink) = socket.as_netlink() {
                netlink.deliver_raw(data);
            }
        }
    }

    /// Sends what a SIGEV_THREAD registration sends when a message came
    /// (the caller sends a SIGEV_SIGNAL's signal itself).
    pub fn woken(&self) {
        self.send_cookie(NOTIFY_WOKENUP);
    }
}

pub struct Queue {
    pub max_msgs: u64,
    pub msg_size: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    ino: u64,
    state: Mutex<State>,
    /// Woken when a message arrives or leaves.
    pub changed: Arc<WaitQueue>,
}

#[derive(Default)]
struct State {
    /// Messages by priority (highest first); FIFO within one.
    messages: BTreeMap<u64, VecDeque<Vec<u8>>>,
    count: u64,
    bytes: u64,
    notify: Option<Notify>,
    /// Tasks waiting in mq_timedreceive (a notification is only sent when
    /// nobody waits).
    receivers: usize,
}

static NEXT_INO: AtomicU64 = AtomicU64::new(40_000);

/// Bytes all queues may hold at their fullest, sandbox-wide (Linux's
/// RLIMIT_MSGQUEUE default): messages live in the sentry's heap, so a
/// queue is refused (EMFILE, as Linux says) rather than let a full one
/// exhaust it.
pub const BYTES_MAX: u64 = 819_200;
static RESERVED: AtomicU64 = AtomicU64::new(0);

/// What a queue of this shape may hold (Linux's mq_bytes).
fn queue_bytes(max_msgs: u64, msg_size: u64) -> u64 {
    max_msgs.saturating_mul(msg_size.saturating_add(8))
}

/// The named queues of an IPC namespace (names without the leading '/').
pub type Names = Mutex<BTreeMap<Vec<u8>, Arc<Queue>>>;

impl Queue {
    fn new(max_msgs: u64, msg_size: u64, mode: u32, uid: u32, gid: u32) -> Queue {
        Queue {
            // (Reserved by `open`, released on drop.)
            max_msgs,
            msg_size,
            mode,
            uid,
            gid,
            ino: NEXT_INO.fetch_add(1, Ordering::Relaxed),
            state: Mutex::new(State::default()),
            changed: Arc::new(WaitQueue::new()),
        }
    }

    /// Messages queued now.
    pub fn queued(&self) -> u64 {
        self.state.lock().count
    }

    /// Takes `message` unless the queue is full (EAGAIN, `message` left
    /// as it was). Returns the notification to send: the queue was empty,
    /// someone registered, and no receiver waits (the registration is
    /// used up).
    pub fn send(&self, message: &mut Vec<u8>, priority: u64) -> Result<Option<Notify>, Errno> {
        let mut state = self.state.lock();
        if state.count >= self.max_msgs {
            return Err(EAGAIN);
        }
        let message = core::mem::take(message);
        let was_empty = state.count == 0;
        state.count += 1;
        state.bytes += message.len() as u64;
        state
            .messages
            .entry(u64::MAX - priority)
            .or_default()
            .push_back(message);
        let notify = if was_empty && state.receivers == 0 {
            state.notify.take()
        } else {
            None
        };
        drop(state);
        self.changed.wake_all();
        Ok(notify)
    }

    /// Takes the oldest message of the highest priority (EAGAIN: none).
    pub fn receive(&self) -> Result<(Vec<u8>, u64), Errno> {
        let mut state = self.state.lock();
        let mut entry = state.messages.first_entry().ok_or(EAGAIN)?;
        let key = *entry.key();
        let message = entry
            .get_mut()
            .pop_front()
            .expect("no empty lists are kept");
        if entry.get().is_empty() {
            entry.remove();
        }
        state.count -= 1;
        state.bytes -= message.len() as u64;
        drop(state);
        self.changed.wake_all();
        Ok((message, u64::MAX - key))
    }

    /// A receiver starts or stops waiting.
    pub fn note_receiver(&self, waiting: bool) {
        let mut state = self.state.lock();
        if waiting {
            state.receivers += 1;
        } else {
            state.receivers -= 1;
        }
    }

    /// mq_notify: registers `notify` (EBUSY when another process is
    /// registered), or with None removes the caller's (`pid`'s).
    pub fn set_notify(&self, pid: i32, notify: Option<Notify>) -> Result<(), Errno> {
        match notify {
            None => {
                self.forget(pid);
                Ok(())
            }
            Some(notify) => {
                let mut state = self.state.lock();
                if state.notify.is_some() {
                    return Err(EBUSY);
                }
                state.notify = Some(notify);
                Ok(())
            }
        }
    }

    /// What reading the descriptor shows (Linux's mqueue file system).
    fn status(&self) -> Vec<u8> {
        let state = self.state.lock();
        // sigev_notify: SIGEV_SIGNAL 0, SIGEV_NONE 1, SIGEV_THREAD 2.
        let (notify, signo, pid) = match &state.notify {
            Some(Notify {
                pid,
                how: How::Signal(signo, _),
            }) => (0, *signo, *pid),
            Some(Notify {
                pid,
                how: How::Nothing,
            }) => (1, 0, *pid),
            Some(Notify {
                pid,
                how: How::Thread { .. },
            }) => (2, 0, *pid),
            None => (0, 0, 0),
        };
        alloc::format!(
            "QSIZE:{:<10} NOTIFY:{:<5} SIGNO:{:<5} NOTIFY_PID:{:<6}\n",
            state.bytes,
            notify,
            signo,
            pid
        )
        .into_bytes()
    }

    /// Drops `pid`'s registration (mq_notify(NULL), or its descriptor
    /// closed); a SIGEV_THREAD one says so on its socket (Linux's
    /// remove_notification).
    pub fn forget(&self, pid: i32) {
        let removed = {
            let mut state = self.state.lock();
            if state.notify.as_ref().is_some_and(|n| n.pid == pid) {
                state.notify.take()
            } else {
                None
            }
        };
        if let Some(notify) = removed {
            notify.send_cookie(NOTIFY_REMOVED);
        }
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        RESERVED.fetch_sub(queue_bytes(self.max_msgs, self.msg_size), Ordering::Relaxed);
    }
}

/// How mq_open treats the name.
pub struct OpenRequest {
    pub create: bool,
    pub exclusive: bool,
    pub mode: u32,
    /// (max messages, message size) from the attr argument.
    pub attr: Option<(u64, u64)>,
    pub uid: u32,
    pub gid: u32,
}

/// Finds or creates the queue `name` (no '/' inside, already checked).
pub fn open(names: &Names, name: &[u8], request: OpenRequest) -> Result<(Arc<Queue>, bool), Errno> {
    let mut names = names.lock();
    if let Some(queue) = names.get(name) {
        if request.create && request.exclusive {
            return Err(EEXIST);
        }
        return Ok((queue.clone(), false));
    }
    if !request.create {
        return Err(ENOENT);
    }
    if names.len() >= QUEUES_MAX {
        return Err(ENOSPC);
    }
    let (max_msgs, msg_size) = request.attr.unwrap_or((MSG_MAX, MSGSIZE_MAX));
    let bytes = queue_bytes(max_msgs, msg_size);
    if RESERVED
        .fetch_add(bytes, Ordering::Relaxed)
        .saturating_add(bytes)
        > BYTES_MAX
    {
        RESERVED.fetch_sub(bytes, Ordering::Relaxed);
        return Err(EMFILE);
    }
    let queue = Arc::new(Queue::new(
        max_msgs,
        msg_size,
        request.mode & 0o7777,
        request.uid,
        request.gid,
    ));
    names.insert(name.to_vec(), queue.clone());
    Ok((queue, true))
}

/// mq_unlink: the name goes; the queue lives on while descriptors do.
pub fn unlink(names: &Names, name: &[u8]) -> Result<Arc<Queue>, Errno> {
    names.lock().remove(name).ok_or(ENOENT)
}

/// The name's queue, if any (for permission checks before unlinking).
pub fn lookup(names: &Names, name: &[u8]) -> Option<Arc<Queue>> {
    names.lock().get(name).cloned()
}

/// A message queue descriptor.
pub struct QueueFile {
    pub queue: Arc<Queue>,
    /// The process that opened it (its notification goes when it closes).
    pub opener: i32,
}

impl Drop for QueueFile {
    fn drop(&mut self) {
        self.queue.forget(self.opener);
    }
}

impl File for QueueFile {
    /// The status line, read from the file position as on Linux (a
    /// second read is at its end).
    fn seekable(&self) -> bool {
        true
    }

    fn read(&self, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
        let status = self.queue.status();
        let start = (offset as usize).min(status.len());
        let n = buf.len().min(status.len() - start);
        buf[..n].copy_from_slice(&status[start..start + n]);
        Ok(n)
    }

    fn stat(&self) -> Stat {
        Stat {
            dev: DEV_PIPE,
            ino: self.queue.ino,
            nlink: 1,
            mode: crate::sentry::stat::S_IFREG | self.queue.mode,
            uid: self.queue.uid,
            gid: self.queue.gid,
            blksize: 4096,
            ..Stat::default()
        }
    }

    fn poll(&self, events: i16) -> i16 {
        let count = self.queue.queued();
        let mut ready = 0;
        if count > 0 {
            ready |= events & POLLIN;
        }
        if count < self.queue.max_msgs {
            ready |= events & POLLOUT;
        }
        ready
    }

    fn wait_queues(&self, out: &mut Vec<Arc<WaitQueue>>) {
        out.push(self.queue.changed.clone());
    }

    fn as_mqueue(&self) -> Option<&QueueFile> {
        Some(self)
    }
}
