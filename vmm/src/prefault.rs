//! Backing guest RAM with host pages ahead of the sentry ([`Op::RamPrefault`]).
//!
//! On this host's shadow MMU the first touch of guest RAM the host has
//! never backed costs a host exit of its own (a page allocation and zeroing
//! inside the fault), and the host's prefetch of neighbouring entries
//! skips pages that are not resident yet. The sentry hands out never-used
//! frames with a bump pointer, so it knows which RAM it will touch next and
//! says so with a hint; the VMM's I/O thread (`crate::fsring`) backs that
//! range (`MADV_POPULATE_WRITE`) on the other core while the vCPU runs,
//! in pieces between host-file batches: a thread of its own competed with
//! the I/O thread for that core, and host-file requests then missed the
//! sentry's 50 us window (python start-up: 2-3x the exits). The pages
//! were guest RAM already (`--memory` caps them as before) and their
//! contents do not change: never-backed anonymous memory reads as zero
//! either way. See docs/PLATFORM-x86-kvm.md for the figures.
//!
//! [`Op::RamPrefault`]: boards::hypercall::Op::RamPrefault

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use boards::hypercall::MAX_PREFAULT;

use crate::image::GuestRam;

const PAGE: u64 = 4096;
/// Hints waiting at most; older ones are dropped (they are only hints).
const MAX_QUEUED: usize = 16;

/// Bytes backed at a time while host-file batches are coming (a batch
/// that arrives meanwhile waits for this piece: ~10-50 us here).
pub const PIECE_BUSY: u64 = 32 << 10;
/// Bytes backed at a time otherwise.
pub const PIECE_IDLE: u64 = 256 << 10;

/// The prefault queue of one VM (cheap to clone).
#[derive(Clone)]
pub struct Prefaulter {
    inner: Arc<Inner>,
}

struct Inner {
    /// Guest RAM: `len` bytes at host address `host` hold guest-physical
    /// addresses from `base`.
    host: usize,
    base: u64,
    len: u64,
    queue: Mutex<VecDeque<(u64, u64)>>,
    /// The host cannot populate (before Linux 5.14): hints are refused.
    unsupported: AtomicBool,
    /// Bytes of guest RAM backed on a hint (for `--stats`).
    backed: AtomicU64,
}

// SAFETY: `host` is only an address: the thread passes it to madvise,
// which does not dereference it in this process's Rust sense.
unsafe impl Send for Inner {}
// SAFETY: as above; every other field is Sync.
unsafe impl Sync for Inner {}

impl Prefaulter {
    /// For `ram`, whose mapping must outlive the VM run (the process
    /// exits right after it).
    pub fn new(ram: &GuestRam) -> Prefaulter {
        Prefaulter {
            inner: Arc::new(Inner {
                host: ram.host as usize,
                base: ram.base,
                len: ram.len,
                queue: Mutex::new(VecDeque::new()),
                unsupported: AtomicBool::new(false),
                backed: AtomicU64::new(0),
            }),
        }
    }

    /// `Op::RamPrefault`: checks the range (hostile input) and queues it
    /// (the caller wakes the I/O thread).
    pub fn hint(&self, gpa: u64, len: u64) -> i64 {
        let inner = &self.inner;
        if inner.unsupported.load(Ordering::Relaxed) {
            return -(libc::ENOSYS as i64);
        }
        let Some(end) = gpa.checked_add(len) else {
            return -(libc::EINVAL as i64);
        };
        if len == 0
            || len > MAX_PREFAULT
            || gpa < inner.base
            || end > inner.base.saturating_add(inner.len)
        {
            return -(libc::EINVAL as i64);
        }
        let start = gpa & !(PAGE - 1);
        let end = end.div_ceil(PAGE) * PAGE;
        let mut queue = inner.queue.lock().unwrap_or_else(|e| e.into_inner());
        if queue.len() == MAX_QUEUED {
            queue.pop_front();
        }
        queue.push_back((start - inner.base, end - start));
        0
    }

    /// Bytes of guest RAM backed on hints so far.
    pub fn backed_bytes(&self) -> u64 {
        self.inner.backed.load(Ordering::Relaxed)
    }

    /// Backs at most `piece` bytes of the oldest hint. False: none queued.
    pub fn back_some(&self, piece: u64) -> bool {
        let (offset, len) = {
            let mut queue = self.inner.queue.lock().unwrap_or_else(|e| e.into_inner());
            let Some((offset, len)) = queue.pop_front() else {
                return false;
            };
            if len > piece {
                queue.push_front((offset + piece, len - piece));
            }
            (offset, len.min(piece))
        };
        self.inner.populate(offset, len);
        true
    }
}

impl Inner {
    /// Backs [offset, offset + len) of guest RAM (inside it: `hint`
    /// checked).
    fn populate(&self, offset: u64, len: u64) {
        // SAFETY: [offset, offset + len) lies inside guest RAM's mapping
        // (checked by `hint`), which lives until the process exits.
        // MADV_POPULATE_WRITE only faults pages in: a page the guest wrote
        // keeps its contents, a new one reads as zero as before. It never
        // changes the mapping itself.
        let done = unsafe {
            libc::madvise(
                (self.host + offset as usize) as *mut libc::c_void,
                len as usize,
                libc::MADV_POPULATE_WRITE,
            )
        };
        if done == 0 {
            self.backed.fetch_add(len, Ordering::Relaxed);
        } else if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL) {
            // Linux before 5.14: no MADV_POPULATE_WRITE.
            log::info!("the host cannot populate memory (MADV_POPULATE_WRITE): no prefault");
            self.unsupported.store(true, Ordering::Relaxed);
            self.queue.lock().unwrap_or_else(|e| e.into_inner()).clear();
        }
        // Other errors (ENOMEM under host memory pressure, EFAULT) leave
        // the pages to be faulted in at first touch, as without the hint.
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_outside_guest_ram_are_refused() {
        let prefaulter = Prefaulter::new(&GuestRam {
            host: std::ptr::null_mut(),
            base: 0x1000_0000,
            len: 64 << 20,
        });
        let einval = -(libc::EINVAL as i64);
        assert_eq!(prefaulter.hint(0, 4096), einval);
        assert_eq!(prefaulter.hint(0x1000_0000 + (64 << 20), 4096), einval);
        assert_eq!(
            prefaulter.hint(0x1000_0000 + (64 << 20) - 4096, 8192),
            einval
        );
        assert_eq!(prefaulter.hint(u64::MAX - 10, 4096), einval);
        assert_eq!(prefaulter.hint(0x1000_0000, 0), einval);
        assert_eq!(prefaulter.hint(0x1000_0000, MAX_PREFAULT + 4096), einval);
        assert_eq!(prefaulter.hint(0x1000_0000 + 100, 4096), 0);
        // Page-aligned outward.
        let queued = prefaulter.inner.queue.lock().unwrap().clone();
        assert_eq!(queued, [(0, 8192)]);
    }

    #[test]
    fn a_hinted_range_becomes_resident_with_its_contents_kept() {
        let len = 1usize << 20;
        // SAFETY: a fresh private anonymous mapping owned by this test.
        let host = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        } as *mut u8;
        assert_ne!(host as *mut libc::c_void, libc::MAP_FAILED);
        // SAFETY: inside the mapping.
        unsafe { host.add(8192).write(0x5a) };
        let resident = || {
            let mut pages = vec![0u8; len / 4096];
            // SAFETY: mincore over the mapping, into a vector of its size.
            let done = unsafe { libc::mincore(host.cast(), len, pages.as_mut_ptr()) };
            assert_eq!(done, 0);
            pages.iter().filter(|p| **p & 1 != 0).count()
        };
        assert_eq!(resident(), 1);
        let prefaulter = Prefaulter::new(&GuestRam {
            host,
            base: 0,
            len: len as u64,
        });
        assert_eq!(prefaulter.hint(0, 256 << 10), 0);
        // In pieces: 64 KiB, then the rest, then nothing left.
        assert!(prefaulter.back_some(64 << 10));
        if prefaulter.inner.unsupported.load(Ordering::Relaxed) {
            return; // an old host kernel: nothing to check
        }
        assert_eq!(resident(), 16);
        assert!(prefaulter.back_some(PIECE_IDLE));
        assert!(!prefaulter.back_some(PIECE_IDLE));
        assert_eq!(prefaulter.backed_bytes(), 256 << 10);
        assert_eq!(resident(), 64);
        // SAFETY: both inside the mapping.
        let (written, fresh) = unsafe { (host.add(8192).read(), host.add(4096).read()) };
        assert_eq!((written, fresh), (0x5a, 0));
    }
}
