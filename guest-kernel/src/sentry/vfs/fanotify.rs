//! fanotify: notification groups with marks on inodes, mounts and file
//! systems, whose events are read as `struct fanotify_event_metadata`
//! carrying a descriptor opened on the object, and permission events that
//! hold the operation until the group answers (Linux's fs/notify/fanotify).
//!
//! Only the descriptor-reporting mode: FAN_REPORT_FID and its relatives,
//! FAN_REPORT_PIDFD, FAN_MARK_IGNORE and the pre-content class are
//! refused with EINVAL (as a kernel without them does), so the events a
//! mark may ask for are FAN_ACCESS, FAN_MODIFY, FAN_CLOSE_*, FAN_OPEN and
//! the permission events FAN_OPEN_PERM / FAN_ACCESS_PERM, with the flags
//! FAN_ONDIR and FAN_EVENT_ON_CHILD. Events come from the same hooks as
//! inotify's (`inotify::on_path`), permission events from the open and
//! read paths ([`permission`]), which wait there for the answer written
//! to the group (or its release, which allows).
//!
//! A mount mark is kept as (device, root of the mount): an object is
//! under it when it is on that device and its path passes through that
//! root. That differs from Linux only for a file system bind-mounted
//! inside itself, where Linux tells the two mounts apart.

use alloc::collections::VecDeque;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use spin::Mutex;

use super::{FileKind, PathStack, DEV_PIPE};
use crate::sentry::errno::*;
use crate::sentry::fd::{File, POLLIN, POLLOUT};
use crate::sentry::stat::Stat;
use crate::sentry::wait::WaitQueue;

pub const FAN_ACCESS: u64 = 0x1;
pub const FAN_MODIFY: u64 = 0x2;
pub const FAN_CLOSE_WRITE: u64 = 0x8;
pub const FAN_CLOSE_NOWRITE: u64 = 0x10;
pub const FAN_OPEN: u64 = 0x20;
pub const FAN_Q_OVERFLOW: u64 = 0x4000;
pub const FAN_OPEN_PERM: u64 = 0x1_0000;
pub const FAN_ACCESS_PERM: u64 = 0x2_0000;
pub const FAN_EVENT_ON_CHILD: u64 = 0x0800_0000;
pub const FAN_ONDIR: u64 = 0x4000_0000;

/// The events of the descriptor mode (Linux's FANOTIFY_EVENTS less those
/// that need file ids).
const PLAIN_EVENTS: u64 = FAN_ACCESS | FAN_MODIFY | FAN_CLOSE_WRITE | FAN_CLOSE_NOWRITE | FAN_OPEN;
/// What Linux knows as events (FANOTIFY_EVENTS with FAN_OPEN_EXEC):
/// the ones beyond PLAIN_EVENTS need FAN_REPORT_FID (EINVAL here).
const KNOWN_EVENTS: u64 =
    PLAIN_EVENTS | 0x4 | 0x40 | 0x80 | 0x100 | 0x200 | 0x400 | 0x800 | 0x1000 | 0x1000_0000;
const PERM_EVENTS: u64 = FAN_OPEN_PERM | FAN_ACCESS_PERM;
/// FAN_OPEN_EXEC_PERM: a permission event this sandbox does not raise.
const FAN_OPEN_EXEC_PERM: u64 = 0x4_0000;
const EVENT_FLAGS: u64 = FAN_EVENT_ON_CHILD | FAN_ONDIR;

// fanotify_init flags.
pub const FAN_CLOEXEC: u32 = 0x1;
pub const FAN_NONBLOCK: u32 = 0x2;
const FAN_CLASS_NOTIF: u32 = 0x0;
const FAN_CLASS_CONTENT: u32 = 0x4;
const FAN_CLASS_PRE_CONTENT: u32 = 0x8;
const FAN_UNLIMITED_QUEUE: u32 = 0x10;
const FAN_UNLIMITED_MARKS: u32 = 0x20;
const FAN_REPORT_TID: u32 = 0x100;
/// Flags Linux knows but this sandbox does not do (EINVAL, as a kernel
/// without them): FAN_ENABLE_AUDIT, FAN_REPORT_PIDFD, the FID family,
/// FAN_REPORT_FD_ERROR.
const INIT_SUPPORTED: u32 = FAN_CLOEXEC
    | FAN_NONBLOCK
    | FAN_CLASS_CONTENT
    | FAN_UNLIMITED_QUEUE
    | FAN_UNLIMITED_MARKS
    | FAN_REPORT_TID;

// fanotify_mark flags.
pub const FAN_MARK_ADD: u32 = 0x1;
pub const FAN_MARK_REMOVE: u32 = 0x2;
pub const FAN_MARK_DONT_FOLLOW: u32 = 0x4;
pub const FAN_MARK_ONLYDIR: u32 = 0x8;
pub const FAN_MARK_MOUNT: u32 = 0x10;
pub const FAN_MARK_IGNORED_MASK: u32 = 0x20;
pub const FAN_MARK_IGNORED_SURV_MODIFY: u32 = 0x40;
pub const FAN_MARK_FLUSH: u32 = 0x80;
pub const FAN_MARK_FILESYSTEM: u32 = 0x100;
const FAN_MARK_EVICTABLE: u32 = 0x200;
const MARK_FLAGS: u32 = FAN_MARK_ADD
    | FAN_MARK_REMOVE
    | FAN_MARK_DONT_FOLLOW
    | FAN_MARK_ONLYDIR
    | FAN_MARK_MOUNT
    | FAN_MARK_IGNORED_MASK
    | FAN_MARK_IGNORED_SURV_MODIFY
    | FAN_MARK_FLUSH
    | FAN_MARK_FILESYSTEM
    | FAN_MARK_EVICTABLE;

pub const FAN_ALLOW: u32 = 0x1;
pub const FAN_DENY: u32 = 0x2;

const FAN_NOFD: i32 = -1;
const METADATA_LEN: usize = 24;
const METADATA_VERSION: u8 = 3;

/// Linux's /proc/sys/fs/fanotify defaults.
const MAX_QUEUED_EVENTS: usize = 16384;
const MAX_USER_MARKS: usize = 8192;
const MAX_USER_GROUPS: usize = 128;

type Key = (u64, u64);

/// What a mark is on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Target {
    Inode(Key),
    /// The device and the root of the mount (see the module's note).
    Mount(u64, Key),
    Filesystem(u64),
}

struct Mark {
    target: Target,
    mask: u64,
    ignored: u64,
    /// FAN_MARK_IGNORED_SURV_MODIFY: the ignored mask outlives a FAN_MODIFY.
    survives_modify: bool,
}

/// A permission event's answer: 0 while nobody answered.
struct Answer(Mutex<u32>);

struct Event {
    mask: u64,
    /// The object (None: FAN_Q_OVERFLOW).
    path: Option<PathStack>,
    key: Key,
    ondir: bool,
    pid: i32,
    perm: Option<Arc<Answer>>,
}

#[derive(Default)]
struct State {
    marks: Vec<Mark>,
    events: VecDeque<Event>,
    /// Permission events read and not yet answered, by the descriptor
    /// the reader got (Linux's access_list).
    reading: Vec<(i32, Arc<Answer>)>,
    overflowed: bool,
}

/// A notification group: the file behind fanotify_init's descriptor.
pub struct Group {
    ino: u64,
    flags: u32,
    /// The flags event descriptors are opened with.
    event_flags: u32,
    state: Mutex<State>,
    queue: Arc<WaitQueue>,
    activity: AtomicU64,
}

/// The groups alive (their marks are looked at by every event).
static GROUPS: Mutex<Vec<Weak<Group>>> = Mutex::new(Vec::new());
/// Marks alive in the sandbox (0: every hook returns at once).
static MARKS: AtomicUsize = AtomicUsize::new(0);
/// Marks asking for permission events.
static PERM_MARKS: AtomicUsize = AtomicUsize::new(0);
static NEXT_INO: AtomicU64 = AtomicU64::new(40_000);
/// Where permission waiters sleep; woken by any answer or release.
static ANSWERED: WaitQueue = WaitQueue::new();

/// Whether any mark exists.
pub fn active() -> bool {
    MARKS.load(Ordering::Relaxed) != 0
}

fn count_mark(mask: u64, delta: isize) {
    let apply = |counter: &AtomicUsize| {
        if delta > 0 {
            counter.fetch_add(1, Ordering::Relaxed);
        } else {
            counter.fetch_sub(1, Ordering::Relaxed);
        }
    };
    apply(&MARKS);
    if mask & PERM_EVENTS != 0 {
        apply(&PERM_MARKS);
    }
}

impl Group {
    /// fanotify_init's checks (the caller checked CAP_SYS_ADMIN) and a new
    /// group.
    pub fn new(flags: u32, event_flags: u32) -> Result<Arc<Group>, Errno> {
        use crate::sentry::fd::{O_ACCMODE, O_CLOEXEC, O_NOATIME, O_NONBLOCK};
        const O_DSYNC: u32 = 0o10000;
        const O_SYNC: u32 = 0o4010000;
        const O_LARGEFILE: u32 = 0o100000;
        // The caller turned the user's flags into the sentry's (they
        // differ on aarch64).
        if flags & !INIT_SUPPORTED != 0 {
            return Err(EINVAL);
        }
        let class = flags & (FAN_CLASS_CONTENT | FAN_CLASS_PRE_CONTENT);
        if class != FAN_CLASS_NOTIF && class != FAN_CLASS_CONTENT {
            return Err(EINVAL);
        }
        // Linux's FANOTIFY_INIT_ALL_EVENT_F_BITS.
        let valid = O_ACCMODE
            | crate::sentry::fd::O_APPEND
            | O_NONBLOCK
            | O_DSYNC
            | O_SYNC
            | O_NOATIME
            | O_CLOEXEC
            | O_LARGEFILE;
        if event_flags & !valid != 0 || event_flags & O_ACCMODE == O_ACCMODE {
            return Err(EINVAL);
        }
        let mut groups = GROUPS.lock();
        groups.retain(|g| g.strong_count() > 0);
        if groups.len() >= MAX_USER_GROUPS {
            return Err(EMFILE);
        }
        let group = Arc::new(Group {
            ino: NEXT_INO.fetch_add(1, Ordering::Relaxed),
            flags,
            event_flags,
            state: Mutex::new(State::default()),
            queue: Arc::new(WaitQueue::new()),
            activity: AtomicU64::new(0),
        });
        groups.push(Arc::downgrade(&group));
        Ok(group)
    }

    fn content(&self) -> bool {
        self.flags & FAN_CLASS_CONTENT != 0
    }

    /// fanotify_mark's checks of `flags` and `mask` that come before the
    /// path is looked up (Linux's do_fanotify_mark order).
    pub fn check_mark(&self, flags: u32, mask: u64) -> Result<(), Errno> {
        if mask >> 32 != 0 || flags & !MARK_FLAGS != 0 {
            return Err(EINVAL);
        }
        if flags & FAN_MARK_MOUNT != 0 && flags & FAN_MARK_FILESYSTEM != 0 {
            return Err(EINVAL);
        }
        match flags & (FAN_MARK_ADD | FAN_MARK_REMOVE | FAN_MARK_FLUSH) {
            FAN_MARK_ADD | FAN_MARK_REMOVE if mask == 0 => return Err(EINVAL),
            FAN_MARK_ADD | FAN_MARK_REMOVE => {}
            FAN_MARK_FLUSH => {
                if flags & !(FAN_MARK_FLUSH | FAN_MARK_MOUNT | FAN_MARK_FILESYSTEM) != 0 {
                    return Err(EINVAL);
                }
            }
            _ => return Err(EINVAL),
        }
        if flags & FAN_MARK_EVICTABLE != 0 {
            // An evictable mark may be dropped with the inode: Linux
            // refuses it on mounts and file systems; here inodes are
            // never evicted, so it is an ordinary mark.
            if flags & (FAN_MARK_MOUNT | FAN_MARK_FILESYSTEM) != 0 {
                return Err(EINVAL);
            }
        }
        if mask & !(KNOWN_EVENTS | EVENT_FLAGS | PERM_EVENTS | FAN_OPEN_EXEC_PERM) != 0 {
            return Err(EINVAL);
        }
        if mask & (PERM_EVENTS | FAN_OPEN_EXEC_PERM) != 0 && !self.content() {
            return Err(EINVAL);
        }
        // Events that need file ids, and FAN_OPEN_EXEC(_PERM), which exec
        // here does not raise.
        if mask & KNOWN_EVENTS & !PLAIN_EVENTS != 0 || mask & FAN_OPEN_EXEC_PERM != 0 {
            return Err(EINVAL);
        }
        Ok(())
    }

    /// FAN_MARK_FLUSH: every mark of the kind `flags` names goes.
    pub fn flush(&self, flags: u32) {
        let mut state = self.state.lock();
        state.marks.retain(|m| {
            let kind = match m.target {
                Target::Inode(_) => 0,
                Target::Mount(..) => FAN_MARK_MOUNT,
                Target::Filesystem(_) => FAN_MARK_FILESYSTEM,
            };
            let gone = kind == flags & (FAN_MARK_MOUNT | FAN_MARK_FILESYSTEM);
            if gone {
                count_mark(m.mask, -1);
            }
            !gone
        });
    }

    /// FAN_MARK_ADD / FAN_MARK_REMOVE on `target` (`is_dir`: the object is
    /// a directory; FAN_EVENT_ON_CHILD means nothing elsewhere).
    pub fn mark(
        &self,
        flags: u32,
        mut mask: u64,
        target: Target,
        is_dir: bool,
    ) -> Result<(), Errno> {
        if !matches!(target, Target::Inode(_)) || !is_dir {
            mask &= !FAN_EVENT_ON_CHILD;
        }
        let ignored = flags & FAN_MARK_IGNORED_MASK != 0;
        let mut state = self.state.lock();
        let found = state.marks.iter().position(|m| m.target == target);
        if flags & FAN_MARK_ADD != 0 {
            let index = match found {
                Some(i) => i,
                None => {
                    if self.flags & FAN_UNLIMITED_MARKS == 0
                        && MARKS.load(Ordering::Relaxed) >= MAX_USER_MARKS
                    {
                        return Err(ENOSPC);
                    }
                    state.marks.push(Mark {
                        target,
                        mask: 0,
                        ignored: 0,
                        survives_modify: false,
                    });
                    count_mark(0, 1);
                    state.marks.len() - 1
                }
            };
            let mark = &mut state.marks[index];
            let had_perm = mark.mask & PERM_EVENTS != 0;
            if ignored {
                mark.ignored |= mask;
                if flags & FAN_MARK_IGNORED_SURV_MODIFY != 0 {
                    mark.survives_modify = true;
                }
            } else {
                mark.mask |= mask;
            }
            if !had_perm && mark.mask & PERM_EVENTS != 0 {
                PERM_MARKS.fetch_add(1, Ordering::Relaxed);
            }
            return Ok(());
        }
        let index = found.ok_or(ENOENT)?;
        let mark = &mut state.marks[index];
        let had_perm = mark.mask & PERM_EVENTS != 0;
        if ignored {
            mark.ignored &= !mask;
        } else {
            mark.mask &= !mask;
        }
        if had_perm && mark.mask & PERM_EVENTS == 0 {
            PERM_MARKS.fetch_sub(1, Ordering::Relaxed);
        }
        // A mark with nothing left in either mask goes.
        if mark.mask & !EVENT_FLAGS == 0 && mark.ignored == 0 {
            state.marks.remove(index);
            count_mark(0, -1);
        }
        Ok(())
    }

    /// The event mask this group takes of `mask` on the object at the end
    /// of `stack` (Linux's fanotify_group_event_mask): the marks on it,
    /// on its parent (with FAN_EVENT_ON_CHILD), its mount and its file
    /// system, less what they ignore; events on a directory only with
    /// FAN_ONDIR.
    fn wants(&self, stack: &PathStack, mask: u64, ondir: bool) -> u64 {
        let node = stack.node();
        let key = node.id();
        let parent = match &stack.0[..] {
            [.., (_, parent), _] => Some(parent.id()),
            _ => None,
        };
        let mut state = self.state.lock();
        let mut wanted = 0;
        let mut ignored = 0;
        for mark in state.marks.iter_mut() {
            let on_child = match mark.target {
                Target::Inode(k) if k == key => false,
                Target::Inode(k) if Some(k) == parent && k != key => true,
                Target::Inode(_) => continue,
                Target::Mount(dev, root) => {
                    if dev != key.0 || !stack.0.iter().any(|(_, n)| n.id() == root) {
                        continue;
                    }
                    false
                }
                Target::Filesystem(dev) => {
                    if dev != key.0 {
                        continue;
                    }
                    false
                }
            };
            // A FAN_MODIFY clears the ignored masks that do not survive
            // it (FAN_MARK_IGNORED_SURV_MODIFY).
            if mask & FAN_MODIFY != 0 && !mark.survives_modify && !on_child {
                mark.ignored = 0;
            }
            // The old-style ignored mask applies to every event.
            ignored |= mark.ignored;
            if ondir && mark.mask & FAN_ONDIR == 0 {
                continue;
            }
            if on_child && mark.mask & FAN_EVENT_ON_CHILD == 0 {
                continue;
            }
            wanted |= mark.mask;
        }
        mask & wanted & !ignored & (PLAIN_EVENTS | PERM_EVENTS)
    }

    /// Queues a notification, merged into a queued one on the same
    /// object by the same process (as Linux merges them).
    fn push(&self, event: Event) {
        let mut state = self.state.lock();
        if state.overflowed {
            return;
        }
        if event.perm.is_none() {
            if let Some(old) = state.events.iter_mut().rev().find(|e| {
                e.perm.is_none()
                    && e.path.is_some()
                    && e.key == event.key
                    && e.pid == event.pid
                    && e.ondir == event.ondir
            }) {
                old.mask |= event.mask;
                drop(state);
                self.activity.fetch_add(1, Ordering::Relaxed);
                self.queue.wake_all();
                return;
            }
        }
        if self.flags & FAN_UNLIMITED_QUEUE == 0 && state.events.len() >= MAX_QUEUED_EVENTS {
            if let Some(answer) = &event.perm {
                // Linux never drops a permission event; it is allowed
                // rather than lost.
                *answer.0.lock() = FAN_ALLOW;
                ANSWERED.wake_all();
                return;
            }
            state.overflowed = true;
            state.events.push_back(Event {
                mask: FAN_Q_OVERFLOW,
                path: None,
                key: (0, 0),
                ondir: false,
                pid: 0,
                perm: None,
            });
        } else {
            state.events.push_back(event);
        }
        drop(state);
        self.activity.fetch_add(1, Ordering::Relaxed);
        self.queue.wake_all();
    }

    /// The event at the head of the queue, if one is there (taken).
    pub fn take_event(&self) -> Option<PendingEvent> {
        let mut state = self.state.lock();
        let event = state.events.pop_front()?;
        if state.events.is_empty() {
            state.overflowed = false;
        }
        Some(PendingEvent {
            mask: event.mask,
            path: event.path,
            pid: event.pid,
            perm: event.perm,
        })
    }

    /// Puts back an event the reader could not take (no room for it).
    pub fn put_back(&self, event: PendingEvent) {
        self.state.lock().events.push_front(Event {
            key: event.path.as_ref().map_or((0, 0), |p| p.node().id()),
            ondir: false,
            mask: event.mask,
            path: event.path,
            pid: event.pid,
            perm: event.perm,
        });
    }

    /// A permission event was read as descriptor `fd`: it waits for the
    /// answer written with that descriptor.
    pub fn reading(&self, fd: i32, answer: PermAnswer) {
        self.state.lock().reading.push((fd, answer.0));
    }

    pub fn has_events(&self) -> bool {
        !self.state.lock().events.is_empty()
    }

    /// What /proc/<pid>/fdinfo shows (Linux's fanotify_show_fdinfo).
    pub fn fdinfo(&self) -> Vec<u8> {
        let mut out = alloc::format!(
            "fanotify flags:{:x} event-flags:{:x}\n",
            self.flags,
            self.event_flags
        )
        .into_bytes();
        for mark in &self.state.lock().marks {
            let mflags = if mark.survives_modify { 1 } else { 0 };
            let line = match mark.target {
                Target::Inode((dev, ino)) => alloc::format!(
                    "fanotify ino:{ino:x} sdev:{dev:x} mflags:{mflags:x} mask:{:x} ignored_mask:{:x}\n",
                    mark.mask,
                    mark.ignored
                ),
                Target::Mount(_, root) => alloc::format!(
                    "fanotify mnt_id:{:x} mflags:{mflags:x} mask:{:x} ignored_mask:{:x}\n",
                    root.1,
                    mark.mask,
                    mark.ignored
                ),
                Target::Filesystem(dev) => alloc::format!(
                    "fanotify sdev:{dev:x} mflags:{mflags:x} mask:{:x} ignored_mask:{:x}\n",
                    mark.mask,
                    mark.ignored
                ),
            };
            out.extend_from_slice(line.as_bytes());
        }
        out
    }

    pub fn event_flags(&self) -> u32 {
        self.event_flags
    }
}

/// An event taken off a group's queue by a reader.
pub struct PendingEvent {
    pub mask: u64,
    pub path: Option<PathStack>,
    pub pid: i32,
    perm: Option<Arc<Answer>>,
}

/// The answer slot of a permission event being read.
pub struct PermAnswer(Arc<Answer>);

impl PendingEvent {
    /// The event's `struct fanotify_event_metadata`, reporting `fd`.
    pub fn metadata(&self, fd: i32) -> [u8; METADATA_LEN] {
        let mut out = [0u8; METADATA_LEN];
        out[..4].copy_from_slice(&(METADATA_LEN as u32).to_le_bytes());
        out[4] = METADATA_VERSION;
        out[6..8].copy_from_slice(&(METADATA_LEN as u16).to_le_bytes());
        out[8..16].copy_from_slice(&self.mask.to_le_bytes());
        out[16..20].copy_from_slice(&fd.to_le_bytes());
        out[20..24].copy_from_slice(&self.pid.to_le_bytes());
        out
    }

    /// A permission event's answer slot, taken out (None for the others).
    pub fn take_perm(&mut self) -> Option<PermAnswer> {
        self.perm.take().map(PermAnswer)
    }
}

impl PermAnswer {
    /// Answers it at once (a reader that failed to report it denies it,
    /// as Linux does).
    pub fn answer(self, response: u32) {
        *self.0 .0.lock() = response;
        ANSWERED.wake_all();
    }
}

/// The size of one event as read.
pub const EVENT_LEN: usize = METADATA_LEN;
pub const NOFD: i32 = FAN_NOFD;

impl Drop for Group {
    fn drop(&mut self) {
        // The group goes: its marks, its queued events; every permission
        // event still waiting is allowed (Linux's fanotify_release).
        let state = core::mem::take(&mut *self.state.lock());
        for mark in &state.marks {
            count_mark(mark.mask, -1);
        }
        for (_, answer) in state.reading {
            let mut slot = answer.0.lock();
            if *slot == 0 {
                *slot = FAN_ALLOW;
            }
        }
        for event in state.events {
            if let Some(answer) = event.perm {
                let mut slot = answer.0.lock();
                if *slot == 0 {
                    *slot = FAN_ALLOW;
                }
            }
        }
        ANSWERED.wake_all();
    }
}

impl File for Group {
    fn read(&self, _buf: &mut [u8], _offset: u64) -> Result<usize, Errno> {
        // Read through `syscalls::events::read_fanotify`, which opens
        // the event descriptors in the reader's table.
        Err(EINVAL)
    }

    /// A `struct fanotify_response` answering a permission event.
    fn write(&self, buf: &[u8], _offset: u64) -> Result<usize, Errno> {
        const FAN_AUDIT: u32 = 0x10;
        const RESPONSE_LEN: usize = 8;
        if buf.len() < RESPONSE_LEN {
            return Err(EINVAL);
        }
        let fd = i32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]);
        let response = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]);
        if !matches!(response & !FAN_AUDIT, FAN_ALLOW | FAN_DENY) {
            return Err(EINVAL);
        }
        // FAN_AUDIT needs FAN_ENABLE_AUDIT, which no group here has.
        if response & FAN_AUDIT != 0 || fd < 0 {
            return Err(EINVAL);
        }
        let mut state = self.state.lock();
        let index = state
            .reading
            .iter()
            .position(|(f, _)| *f == fd)
            .ok_or(ENOENT)?;
        let (_, answer) = state.reading.remove(index);
        drop(state);
        *answer.0.lock() = response;
        ANSWERED.wake_all();
        Ok(RESPONSE_LEN)
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

    fn poll(&self, events: i16) -> i16 {
        // Writable always (answers), readable with events queued.
        let mut ready = events & POLLOUT;
        if self.has_events() {
            ready |= events & POLLIN;
        }
        ready
    }

    fn available(&self) -> Result<u64, Errno> {
        Ok((self.state.lock().events.len() * METADATA_LEN) as u64)
    }

    fn activity(&self) -> u64 {
        self.activity.load(Ordering::Relaxed)
    }

    fn wait_queues(&self, out: &mut Vec<Arc<WaitQueue>>) {
        out.push(self.queue.clone());
    }

    fn as_fanotify(&self) -> Option<&Group> {
        Some(self)
    }
}

fn groups() -> Vec<Arc<Group>> {
    GROUPS.lock().iter().filter_map(Weak::upgrade).collect()
}

/// The running task's (process id, thread id), when one runs.
fn current_ids() -> (i32, i32) {
    crate::sentry::sched::try_current().map_or((0, 0), |c| (c.pid(), c.tid()))
}

/// `mask` (inotify's bits, which fanotify shares for these events, with
/// IN_ISDIR as FAN_ONDIR) happened to the object at the end of `stack`.
pub fn on_path(stack: &PathStack, mask: u32) {
    if !active() {
        return;
    }
    let mask = mask as u64;
    let events = mask & PLAIN_EVENTS;
    if events == 0 {
        return;
    }
    let ondir = mask & FAN_ONDIR != 0 || stack.node().kind() == FileKind::Directory;
    let (pid, tid) = current_ids();
    for group in groups() {
        let wanted = group.wants(stack, events, ondir);
        if wanted == 0 {
            continue;
        }
        group.push(Event {
            mask: wanted,
            path: Some(stack.clone()),
            key: stack.node().id(),
            ondir,
            pid: if group.flags & FAN_REPORT_TID != 0 {
                tid
            } else {
                pid
            },
            perm: None,
        });
    }
}

/// Whether some group asks for permission events.
pub fn wants_permission() -> bool {
    PERM_MARKS.load(Ordering::Relaxed) != 0
}

/// A permission event `mask` (FAN_OPEN_PERM, FAN_ACCESS_PERM) on the
/// object at the end of `stack`: each group that asks for it is asked in
/// turn and waited for (`wait` blocks until `ANSWERED` is woken, or fails
/// when the task is killed); EPERM once one denies.
pub fn permission(
    stack: &PathStack,
    mask: u64,
    mut wait: impl FnMut(&WaitQueue) -> Result<(), Errno>,
) -> Result<(), Errno> {
    if !wants_permission() {
        return Ok(());
    }
    let ondir = stack.node().kind() == FileKind::Directory;
    let (pid, tid) = current_ids();
    // Content groups first (Linux orders groups by class). Held weakly
    // while this task waits: a group closed meanwhile is gone, not
    // asked.
    let mut strong = groups();
    strong.sort_by_key(|g| !g.content());
    let list: Vec<Weak<Group>> = strong.iter().map(Arc::downgrade).collect();
    drop(strong);
    for group in list.iter().filter_map(Weak::upgrade) {
        let wanted = group.wants(stack, mask, ondir);
        if wanted == 0 {
            continue;
        }
        let answer = Arc::new(Answer(Mutex::new(0)));
        group.push(Event {
            mask: wanted,
            path: Some(stack.clone()),
            key: stack.node().id(),
            ondir,
            pid: if group.flags & FAN_REPORT_TID != 0 {
                tid
            } else {
                pid
            },
            perm: Some(answer.clone()),
        });
        // The group itself is not held while waiting: its release must
        // be able to answer.
        drop(group);
        loop {
            let response = *answer.0.lock();
            if response != 0 {
                if response & FAN_DENY != 0 {
                    return Err(EPERM);
                }
                break;
            }
            if let Err(e) = wait(&ANSWERED) {
                // Killed while waiting: the event is withdrawn as
                // answered (Linux removes it), the operation fails.
                *answer.0.lock() = FAN_DENY;
                return Err(e);
            }
        }
    }
    Ok(())
}
