//! inotify: watches on inodes and the events the sandbox's own file
//! operations generate on them (Linux's fs/notify/inotify).
//!
//! A watch is keyed by the inode's identity (`Inode::id`, device and inode
//! number) in one registry; the syscall layer reports what it did through
//! [`on_node`] / [`on_child`] (a directory entry's change, named), and the
//! events go to every instance watching with a matching mask, the parent's
//! watchers first (with the child's name), then the inode's own, as Linux
//! orders them. Changes made on the host to a shared directory behind the
//! sandbox's back produce no event (Linux's inotify does not see a remote
//! file system's changes either). With no watch anywhere, every hook is
//! one atomic load.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

use spin::Mutex;

use super::{FileKind, Inode, PathStack, DEV_PIPE};
use crate::sentry::errno::*;
use crate::sentry::fd::{File, POLLIN};
use crate::sentry::stat::Stat;
use crate::sentry::wait::WaitQueue;

pub const IN_ACCESS: u32 = 0x1;
pub const IN_MODIFY: u32 = 0x2;
pub const IN_ATTRIB: u32 = 0x4;
pub const IN_CLOSE_WRITE: u32 = 0x8;
pub const IN_CLOSE_NOWRITE: u32 = 0x10;
pub const IN_OPEN: u32 = 0x20;
pub const IN_MOVED_FROM: u32 = 0x40;
pub const IN_MOVED_TO: u32 = 0x80;
pub const IN_CREATE: u32 = 0x100;
pub const IN_DELETE: u32 = 0x200;
pub const IN_DELETE_SELF: u32 = 0x400;
pub const IN_MOVE_SELF: u32 = 0x800;
pub const IN_Q_OVERFLOW: u32 = 0x4000;
pub const IN_IGNORED: u32 = 0x8000;
pub const IN_ONLYDIR: u32 = 0x0100_0000;
pub const IN_DONT_FOLLOW: u32 = 0x0200_0000;
pub const IN_EXCL_UNLINK: u32 = 0x0400_0000;
pub const IN_MASK_CREATE: u32 = 0x1000_0000;
pub const IN_MASK_ADD: u32 = 0x2000_0000;
pub const IN_ISDIR: u32 = 0x4000_0000;
pub const IN_ONESHOT: u32 = 0x8000_0000;
pub const IN_ALL_EVENTS: u32 = 0xfff;
/// What inotify_add_watch accepts.
pub const IN_VALID: u32 = IN_ALL_EVENTS
    | IN_ONLYDIR
    | IN_DONT_FOLLOW
    | IN_EXCL_UNLINK
    | IN_MASK_CREATE
    | IN_MASK_ADD
    | IN_ONESHOT;

/// /proc/sys/fs/inotify (Linux's defaults; root may change them): the
/// events an instance made from then on queues at most, and the instances
/// and watches each user (by effective uid) may have.
pub static MAX_QUEUED_EVENTS: AtomicUsize = AtomicUsize::new(16384);
pub static MAX_USER_WATCHES: AtomicUsize = AtomicUsize::new(8192);
pub static MAX_USER_INSTANCES: AtomicUsize = AtomicUsize::new(128);

/// `struct inotify_event` without its name.
const EVENT_HEADER: usize = 16;

type Key = (u64, u64);

struct Watch {
    key: Key,
    mask: u32,
}

struct Event {
    wd: i32,
    mask: u32,
    cookie: u32,
    name: Vec<u8>,
}

impl Event {
    /// Bytes it takes in a read: the header and the name, NUL-padded to
    /// a multiple of the header's size (as Linux pads it).
    fn size(&self) -> usize {
        EVENT_HEADER + self.padded_name()
    }

    fn padded_name(&self) -> usize {
        if self.name.is_empty() {
            0
        } else {
            (self.name.len() + 1).next_multiple_of(EVENT_HEADER)
        }
    }
}

#[derive(Default)]
struct State {
    watches: BTreeMap<i32, Watch>,
    next_wd: i32,
    events: VecDeque<Event>,
    /// The queue is full and IN_Q_OVERFLOW is its last event.
    overflowed: bool,
}

/// The file behind inotify_init's descriptor; its watches end with it.
pub struct Inotify(Arc<Instance>);

/// An inotify instance: its watches and its queue of events.
struct Instance {
    ino: u64,
    /// The effective uid of its creator, charged for it and its watches.
    uid: u32,
    /// max_queued_events when it was made (Linux's group->max_events).
    max_events: usize,
    state: Mutex<State>,
    queue: Arc<WaitQueue>,
    activity: AtomicU64,
}

/// Instances watching each inode.
static REGISTRY: Mutex<BTreeMap<Key, Vec<Weak<Instance>>>> = Mutex::new(BTreeMap::new());
/// Watches alive in the sandbox (0: every hook returns at once).
static WATCHES: AtomicUsize = AtomicUsize::new(0);
/// Instances and watches per user (Linux's ucounts).
static PER_USER: Mutex<BTreeMap<u32, (usize, usize)>> = Mutex::new(BTreeMap::new());

/// Changes the instances (`.0`) or watches (`.1`) of `uid` by `f`.
fn charge(uid: u32, f: impl FnOnce(&mut (usize, usize))) {
    let mut all = PER_USER.lock();
    let counts = all.entry(uid).or_insert((0, 0));
    f(counts);
    if *counts == (0, 0) {
        all.remove(&uid);
    }
}
static NEXT_INO: AtomicU64 = AtomicU64::new(30_000);
/// IN_MOVED_FROM/IN_MOVED_TO pairs share a cookie.
static NEXT_COOKIE: AtomicU32 = AtomicU32::new(1);

/// Whether any watch exists (inotify's, or a dnotify's or fanotify's
/// fed by the same hooks).
fn active() -> bool {
    WATCHES.load(Ordering::Relaxed) != 0 || super::dnotify::active() || super::fanotify::active()
}

impl Inotify {
    /// A new instance of user `uid`; EMFILE past max_user_instances.
    pub fn new(uid: u32) -> Result<Arc<Inotify>, Errno> {
        let limit = MAX_USER_INSTANCES.load(Ordering::Relaxed);
        let mut full = false;
        charge(uid, |c| {
            full = c.0 >= limit;
            if !full {
                c.0 += 1;
            }
        });
        if full {
            return Err(EMFILE);
        }
        Ok(Arc::new(Inotify(Arc::new(Instance {
            ino: NEXT_INO.fetch_add(1, Ordering::Relaxed),
            uid,
            max_events: MAX_QUEUED_EVENTS.load(Ordering::Relaxed),
            state: Mutex::new(State {
                next_wd: 1,
                ..State::default()
            }),
            queue: Arc::new(WaitQueue::new()),
            activity: AtomicU64::new(0),
        }))))
    }

    /// inotify_add_watch on `node`: the watch descriptor (the same one
    /// again for an inode already watched, its mask replaced or, with
    /// IN_MASK_ADD, extended).
    pub fn add_watch(&self, node: &Arc<dyn Inode>, mask: u32) -> Result<i32, Errno> {
        self.0.add_watch(node, mask)
    }

    /// inotify_rm_watch: the watch goes, with an IN_IGNORED event.
    pub fn rm_watch(&self, wd: i32) -> Result<(), Errno> {
        self.0.rm_watch(wd)
    }

    /// /proc/<pid>/fdinfo lines, one per watch, as Linux prints them.
    pub fn fdinfo(&self) -> Vec<u8> {
        self.0.fdinfo()
    }
}

impl Instance {
    fn add_watch(self: &Arc<Self>, node: &Arc<dyn Inode>, mask: u32) -> Result<i32, Errno> {
        let key = node.id();
        let events = mask & (IN_ALL_EVENTS | IN_EXCL_UNLINK | IN_ONESHOT);
        let mut state = self.state.lock();
        if let Some((&wd, watch)) = state.watches.iter_mut().find(|(_, w)| w.key == key) {
            if mask & IN_MASK_CREATE != 0 {
                return Err(EEXIST);
            }
            watch.mask = if mask & IN_MASK_ADD != 0 {
                watch.mask | events
            } else {
                events
            };
            return Ok(wd);
        }
        let limit = MAX_USER_WATCHES.load(Ordering::Relaxed);
        let mut full = false;
        charge(self.uid, |c| {
            full = c.1 >= limit;
            if !full {
                c.1 += 1;
            }
        });
        if full {
            return Err(ENOSPC);
        }
        let Some(next) = state.next_wd.checked_add(1) else {
            charge(self.uid, |c| c.1 -= 1);
            return Err(ENOSPC);
        };
        let wd = core::mem::replace(&mut state.next_wd, next);
        state.watches.insert(wd, Watch { key, mask: events });
        drop(state);
        REGISTRY
            .lock()
            .entry(key)
            .or_default()
            .push(Arc::downgrade(self));
        WATCHES.fetch_add(1, Ordering::Relaxed);
        Ok(wd)
    }

    fn rm_watch(&self, wd: i32) -> Result<(), Errno> {
        let watch = self.state.lock().watches.remove(&wd).ok_or(EINVAL)?;
        self.forget(watch.key);
        self.push(wd, IN_IGNORED, 0, &[]);
        Ok(())
    }

    /// Drops this instance from the registry entry of `key`.
    fn forget(&self, key: Key) {
        let mut registry = REGISTRY.lock();
        if let Some(list) = registry.get_mut(&key) {
            list.retain(|w| w.strong_count() > 0 && !core::ptr::eq(w.as_ptr(), self));
            if list.is_empty() {
                registry.remove(&key);
            }
        }
        WATCHES.fetch_sub(1, Ordering::Relaxed);
        charge(self.uid, |c| c.1 -= 1);
    }

    /// Queues an event (merged with an identical last one, as Linux does;
    /// IN_Q_OVERFLOW once the queue is full).
    fn push(&self, wd: i32, mask: u32, cookie: u32, name: &[u8]) {
        let mut state = self.state.lock();
        if state.overflowed {
            return;
        }
        if let Some(last) = state.events.back() {
            if last.wd == wd && last.mask == mask && last.cookie == cookie && last.name == name {
                return;
            }
        }
        if state.events.len() >= self.max_events {
            state.overflowed = true;
            state.events.push_back(Event {
                wd: -1,
                mask: IN_Q_OVERFLOW,
                cookie: 0,
                name: Vec::new(),
            });
        } else {
            state.events.push_back(Event {
                wd,
                mask,
                cookie,
                name: name.to_vec(),
            });
        }
        drop(state);
        self.activity.fetch_add(1, Ordering::Relaxed);
        self.queue.wake_all();
    }

    /// Delivers a child's event (named) to this instance's watch of its
    /// directory `key`; an `unlinked` child's only without IN_EXCL_UNLINK.
    fn deliver_to_parent(&self, key: Key, mask: u32, name: &[u8], unlinked: bool) {
        let excluded = unlinked && {
            let state = self.state.lock();
            state
                .watches
                .values()
                .any(|w| w.key == key && w.mask & IN_EXCL_UNLINK != 0)
        };
        if !excluded {
            self.deliver(key, mask, 0, name, false);
        }
    }

    /// Delivers `mask` on inode `key` to this instance's watch of it:
    /// `name` is set when the watch is the parent directory's.
    fn deliver(&self, key: Key, mask: u32, cookie: u32, name: &[u8], removed: bool) {
        let mut state = self.state.lock();
        let Some((&wd, watch)) = state.watches.iter().find(|(_, w)| w.key == key) else {
            return;
        };
        let wanted = watch.mask & mask & IN_ALL_EVENTS;
        let oneshot = watch.mask & IN_ONESHOT != 0;
        let self_event = mask & (IN_DELETE_SELF | IN_IGNORED) != 0 && name.is_empty();
        if wanted == 0 && !(removed && self_event) {
            return;
        }
        let ends = (oneshot && wanted != 0) || (removed && name.is_empty());
        if ends {
            state.watches.remove(&wd);
        }
        drop(state);
        if wanted != 0 {
            self.push(wd, wanted | (mask & IN_ISDIR), cookie, name);
        }
        if ends {
            self.forget(key);
            self.push(wd, IN_IGNORED, 0, &[]);
        }
    }
}

impl Drop for Inotify {
    fn drop(&mut self) {
        let watches = core::mem::take(&mut self.0.state.lock().watches);
        for watch in watches.values() {
            self.0.forget(watch.key);
        }
        charge(self.0.uid, |c| c.0 -= 1);
    }
}

impl File for Inotify {
    fn read(&self, buf: &mut [u8], _offset: u64) -> Result<usize, Errno> {
        let mut state = self.0.state.lock();
        let Some(first) = state.events.front() else {
            return Err(EAGAIN);
        };
        if first.size() > buf.len() {
            return Err(EINVAL);
        }
        let mut done = 0;
        while let Some(event) = state.events.front() {
            let size = event.size();
            if done + size > buf.len() {
                break;
            }
            let out = &mut buf[done..done + size];
            out[..4].copy_from_slice(&event.wd.to_le_bytes());
            out[4..8].copy_from_slice(&event.mask.to_le_bytes());
            out[8..12].copy_from_slice(&event.cookie.to_le_bytes());
            out[12..16].copy_from_slice(&(event.padded_name() as u32).to_le_bytes());
            out[16..].fill(0);
            out[16..16 + event.name.len()].copy_from_slice(&event.name);
            done += size;
            state.events.pop_front();
        }
        state.overflowed = false;
        Ok(done)
    }

    fn write(&self, _buf: &[u8], _offset: u64) -> Result<usize, Errno> {
        Err(EINVAL)
    }

    fn stat(&self) -> Stat {
        Stat {
            dev: DEV_PIPE,
            ino: self.0.ino,
            nlink: 1,
            mode: 0o600,
            blksize: 4096,
            ..Stat::default()
        }
    }

    fn poll(&self, events: i16) -> i16 {
        if self.0.state.lock().events.is_empty() {
            0
        } else {
            events & POLLIN
        }
    }

    fn available(&self) -> Result<u64, Errno> {
        Ok(self
            .0
            .state
            .lock()
            .events
            .iter()
            .map(|e| e.size() as u64)
            .sum())
    }

    fn activity(&self) -> u64 {
        self.0.activity.load(Ordering::Relaxed)
    }

    fn wait_queues(&self, out: &mut Vec<Arc<WaitQueue>>) {
        out.push(self.0.queue.clone());
    }

    fn as_inotify(&self) -> Option<&Inotify> {
        Some(self)
    }
}

impl Instance {
    fn fdinfo(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (wd, watch) in &self.state.lock().watches {
            let flags = watch.mask & !IN_ALL_EVENTS;
            let line = alloc::format!(
                "inotify wd:{wd} ino:{:x} sdev:{:x} mask:{:x} ignored_mask:0\n",
                watch.key.1,
                watch.key.0,
                watch.mask & IN_ALL_EVENTS | flags
            );
            out.extend_from_slice(line.as_bytes());
        }
        out
    }
}

/// The instances watching `key`.
fn watchers(key: Key) -> Vec<Arc<Instance>> {
    REGISTRY
        .lock()
        .get(&key)
        .map(|list| list.iter().filter_map(Weak::upgrade).collect())
        .unwrap_or_default()
}

fn dir_flag(node: &dyn Inode) -> u32 {
    if node.kind() == FileKind::Directory {
        IN_ISDIR
    } else {
        0
    }
}

/// `mask` happened to the inode at the end of `stack` (opened, read,
/// written, closed, its attributes changed): its parent's watchers hear
/// it with its name, then its own.
pub fn on_path(stack: &PathStack, mask: u32) {
    if !active() {
        return;
    }
    let node = stack.node();
    let mask = mask | dir_flag(&**node);
    if let [.., (_, parent), (name, _)] = &stack.0[..] {
        let watching = watchers(parent.id());
        // IN_EXCL_UNLINK: a directory's watch ignores children unlinked
        // from it (still open, still written).
        let unlinked = !watching.is_empty() && node.stat().nlink == 0;
        for instance in watching {
            instance.deliver_to_parent(parent.id(), mask, name, unlinked);
        }
        super::dnotify::event(parent.id(), super::dnotify::bits_of(mask));
    }
    super::fanotify::on_path(stack, mask);
    on_node(&**node, mask);
}

/// `mask` happened to the file behind an open description: by its path
/// when it was opened by one, else to the inode's own watchers.
pub fn on_file(file: &crate::sentry::fd::OpenFile, mask: u32) {
    if !active() || file.nonotify() {
        return;
    }
    match (&file.location, file.file.inode()) {
        (Some(stack), _) => on_path(stack, mask),
        (None, Some(node)) => on_node(&*node, mask | dir_flag(&*node)),
        (None, None) => {}
    }
}

/// `mask` happened to `node` itself (its own watchers only).
pub fn on_node(node: &dyn Inode, mask: u32) {
    if !active() {
        return;
    }
    let key = node.id();
    for instance in watchers(key) {
        instance.deliver(key, mask, 0, &[], false);
    }
    if node.kind() == FileKind::Directory {
        super::dnotify::event(key, super::dnotify::bits_of(mask));
    }
}

/// A name in directory `dir` changed: `mask` is IN_CREATE, IN_DELETE,
/// IN_MOVED_FROM or IN_MOVED_TO (with `cookie`), `child` what it names.
pub fn on_child(dir: &dyn Inode, name: &[u8], child: &dyn Inode, mask: u32, cookie: u32) {
    if !active() {
        return;
    }
    let key = dir.id();
    for instance in watchers(key) {
        instance.deliver(key, mask | dir_flag(child), cookie, name, false);
    }
    super::dnotify::event(key, super::dnotify::bits_of(mask));
}

/// A name moved from directory `from` to directory `to`: within one
/// directory, that directory's dnotify watchers hear DN_RENAME (Linux's
/// FS_RENAME, which only dnotify takes as such; inotify has the
/// IN_MOVED_FROM/IN_MOVED_TO pair from `on_child`).
pub fn on_rename(from: &dyn Inode, to: &dyn Inode) {
    if !active() {
        return;
    }
    if from.id() == to.id() {
        super::dnotify::event(from.id(), super::dnotify::DN_RENAME);
    }
}

/// `node` is gone (its last link removed, or a directory removed): its
/// watchers get IN_DELETE_SELF and IN_IGNORED, and the watches end.
pub fn on_removed(node: &dyn Inode) {
    if !active() {
        return;
    }
    let key = node.id();
    for instance in watchers(key) {
        instance.deliver(key, IN_DELETE_SELF, 0, &[], true);
    }
}

/// A cookie tying an IN_MOVED_FROM to its IN_MOVED_TO.
pub fn new_cookie() -> u32 {
    NEXT_COOKIE.fetch_add(1, Ordering::Relaxed)
}

/// Whether any watch exists (for hooks that must look something up
/// first).
pub fn watching() -> bool {
    active()
}
