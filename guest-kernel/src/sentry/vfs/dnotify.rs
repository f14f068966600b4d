//! dnotify: fcntl(F_NOTIFY) on a directory descriptor (Linux's
//! fs/notify/dnotify). A watch is the pair (process, open file
//! description) with a DN_* mask; what happens in the directory (or to the
//! directory itself) sends the description's owner its signal (F_SETSIG's,
//! with si_fd and POLL_MSG, or a plain SIGIO), once, or every time with
//! DN_MULTISHOT. The watch goes when that process closes a descriptor of
//! the description (Linux's dnotify_flush from filp_close) or ends.
//!
//! Events reach it through the inotify hooks (`inotify::on_*`), which
//! call [`event`] with the DN_* bits the change stands for. The signal is
//! queued with `sigio::queue` and sent on the way back to user mode, so
//! before the syscall that caused it returns.

use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};

use spin::Mutex;

use super::FileKind;
use crate::sentry::errno::*;
use crate::sentry::fd::OpenFile;

pub const DN_ACCESS: u32 = 0x1;
pub const DN_MODIFY: u32 = 0x2;
pub const DN_CREATE: u32 = 0x4;
pub const DN_DELETE: u32 = 0x8;
pub const DN_RENAME: u32 = 0x10;
pub const DN_ATTRIB: u32 = 0x20;
pub const DN_MULTISHOT: u32 = 0x8000_0000;

type Key = (u64, u64);

struct Watch {
    /// The process that asked (Linux keys it by the fd table; the POSIX
    /// locks here key theirs by process too).
    pid: i32,
    file: Weak<OpenFile>,
    /// The descriptor it was set through (si_fd).
    fd: i32,
    mask: u32,
}

/// Watches by directory inode.
static WATCHES: Mutex<BTreeMap<Key, Vec<Watch>>> = Mutex::new(BTreeMap::new());
/// Watches alive (0: `event` returns at once).
static COUNT: AtomicUsize = AtomicUsize::new(0);

/// Whether any dnotify watch exists.
pub fn active() -> bool {
    COUNT.load(Ordering::Relaxed) != 0
}

/// fcntl(fd, F_NOTIFY, arg) by process `pid` on `file` (Linux's
/// fcntl_dirnotify): no event bits removes the watch; a directory is
/// needed (ENOTDIR); a second call through the same description adds its
/// bits to the watch.
pub fn fcntl_notify(
    current: &crate::sentry::task::Task,
    file: &Arc<OpenFile>,
    fd: i32,
    arg: u32,
) -> Result<(), Errno> {
    let pid = current.pid;
    if arg & !DN_MULTISHOT == 0 {
        flush(pid, Some(file));
        return Ok(());
    }
    let node = file.file.inode().ok_or(ENOTDIR)?;
    if node.kind() != FileKind::Directory {
        return Err(ENOTDIR);
    }
    // The signal goes to the caller's process unless the file has an
    // owner already (Linux's __f_setown(..., force 0)).
    crate::sentry::sigio::set_owner(
        current,
        file,
        crate::sentry::sigio::OwnerKind::Process,
        pid,
        false,
    )?;
    let mut watches = WATCHES.lock();
    let list = watches.entry(node.id()).or_default();
    if let Some(watch) = list
        .iter_mut()
        .find(|w| w.pid == pid && core::ptr::eq(w.file.as_ptr(), Arc::as_ptr(file)))
    {
        watch.fd = fd;
        watch.mask |= arg;
        return Ok(());
    }
    list.push(Watch {
        pid,
        file: Arc::downgrade(file),
        fd,
        mask: arg,
    });
    COUNT.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// Process `pid` closed a descriptor of `file` (None: it ended): its
/// watches through it go.
pub fn flush(pid: i32, file: Option<&OpenFile>) {
    if !active() {
        return;
    }
    let mut watches = WATCHES.lock();
    watches.retain(|_, list| {
        list.retain(|w| {
            let gone = w.file.strong_count() == 0
                || (w.pid == pid && file.is_none_or(|f| core::ptr::eq(w.file.as_ptr(), f)));
            if gone {
                COUNT.fetch_sub(1, Ordering::Relaxed);
            }
            !gone
        });
        !list.is_empty()
    });
}

/// The DN_* bits an inotify event on a directory's child (or on the
/// directory itself) stands for (Linux's convert_arg, reversed).
pub fn bits_of(inotify_mask: u32) -> u32 {
    use super::inotify::*;
    let mut bits = 0;
    if inotify_mask & IN_ACCESS != 0 {
        bits |= DN_ACCESS;
    }
    if inotify_mask & IN_MODIFY != 0 {
        bits |= DN_MODIFY;
    }
    if inotify_mask & IN_ATTRIB != 0 {
        bits |= DN_ATTRIB;
    }
    if inotify_mask & (IN_CREATE | IN_MOVED_TO) != 0 {
        bits |= DN_CREATE;
    }
    if inotify_mask & (IN_DELETE | IN_MOVED_FROM) != 0 {
        bits |= DN_DELETE;
    }
    bits
}

/// `bits` (DN_*) happened in (or to) directory `key`: each watch wanting
/// one of them signals; one without DN_MULTISHOT ends.
pub fn event(key: Key, bits: u32) {
    if !active() || bits == 0 {
        return;
    }
    let mut watches = WATCHES.lock();
    let Some(list) = watches.get_mut(&key) else {
        return;
    };
    list.retain(|w| {
        if w.file.strong_count() == 0 {
            COUNT.fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        if w.mask & bits == 0 {
            return true;
        }
        crate::sentry::sigio::queue(w.file.clone(), w.fd, crate::sentry::sigio::POLL_MSG);
        if w.mask & DN_MULTISHOT != 0 {
            true
        } else {
            COUNT.fetch_sub(1, Ordering::Relaxed);
            false
        }
    });
    if list.is_empty() {
        watches.remove(&key);
    }
}
