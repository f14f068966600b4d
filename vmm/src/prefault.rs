//! Backing guest RAM with host pages ahead of the sentry ([`Op::RamPrefault`]).
//!
//! On this host's shadow MMU the first touch of guest RAM the host has
//! never backed costs a host exit of its own (a page allocation and zeroing
//! inside the fault), and the host's prefetch of neighbouring entries
//! skips pages that are not resident yet. The sentry hands out never-used
//! frames with a bump pointer, so it knows which RAM it will touch next and
//! says so with a hint; a thread of its own backs that range
//! (`MADV_POPULATE_WRITE`) on the other core while the vCPU runs. The pages
//! were guest RAM already (`--memory` caps them as before) and their
//! contents do not change: never-backed anonymous memory reads as zero
//! either way. See docs/PLATFORM-x86-kvm.md for the figures.
//!
//! [`Op::RamPrefault`]: boards::hypercall::Op::RamPrefault

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use boards::hypercall::MAX_PREFAULT;

use crate::error::Failure;
use crate::image::GuestRam;

const PAGE: u64 = 4096;
/// Hints waiting at most; older ones are dropped (they are only hints).
const MAX_QUEUED: usize = 16;

/// A handle on the prefault thread of one VM (cheap to clone).
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
    wake: Condvar,
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
                wake: Condvar::new(),
                unsupported: AtomicBool::new(false),
                backed: AtomicU64::new(0),
            }),
        }
    }

    /// `Op::RamPrefault`: checks the range (hostile input) and queues it.
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
        drop(queue);
        inner.wake.notify_one();
        0
    }

    /// Bytes of guest RAM backed on hints so far.
    pub fn backed_bytes(&self) -> u64 {
        self.inner.backed.load(Ordering::Relaxed)
    }

    /// Starts the thread (with `filter` as its seccomp filter, if any).
    pub fn start(&self, filter: Option<seccompiler::BpfProgram>) -> Result<(), Failure> {
        let inner = self.inner.clone();
        crate::seccomp::spawn_filtered_thread(
            "rvisor-prefault",
            "prefault thread",
            filter,
            move || inner.serve(),
        )
    }
}

impl Inner {
    /// Backs one queued range after another, for as long as the VM runs
    /// (the process exits with the thread waiting here).
    fn serve(&self) {
        loop {
            let (offset, len) = {
                let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
                loop {
                    if let Some(job) = queue.pop_front() {
                        break job;
                    }
                    queue = self.wake.wait(queue).unwrap_or_else(|e| e.into_inner());
                }
            };
            // SAFETY: [offset, offset + len) lies inside guest RAM's
            // mapping (checked by `hint`), which lives until the process
            // exits. MADV_POPULATE_WRITE only faults pages in: a page the
            // guest wrote keeps its contents, a new one reads as zero as
            // before. It never changes the mapping itself.
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
            }
            // Other errors (ENOMEM under host memory pressure, EFAULT)
            // leave the pages to be faulted in at first touch, as without
            // the hint.
        }
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
        prefaulter.start(None).unwrap();
        assert_eq!(prefaulter.hint(0, 256 << 10), 0);
        let mut waited = 0;
        while prefaulter.backed_bytes() < 256 << 10 && waited < 10_000 {
            std::thread::sleep(std::time::Duration::from_millis(1));
            waited += 1;
        }
        if prefaulter.inner.unsupported.load(Ordering::Relaxed) {
            return; // an old host kernel: nothing to check
        }
        assert_eq!(prefaulter.backed_bytes(), 256 << 10);
        assert_eq!(resident(), 64);
        // SAFETY: both inside the mapping.
        let (written, fresh) = unsafe { (host.add(8192).read(), host.add(4096).read()) };
        assert_eq!((written, fresh), (0x5a, 0));
    }
}
