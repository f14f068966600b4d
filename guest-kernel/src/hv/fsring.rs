//! The host-file ring client (`boards::fsring`): host-file requests served
//! by the VMM's I/O thread while this vCPU keeps running, with no exit
//! unless the I/O thread sleeps.
//!
//! The sentry submits one batch at a time and spins for its completion: on
//! our machines the I/O thread answers a stat in a few microseconds, far
//! less than an exit (~80-100 us) or a switch to another task would cost.
//! If the I/O thread sleeps (it does after a quiet spell), one
//! `Op::FsRingWake` exit serves the batch and wakes it.

use core::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicU64, Ordering};

use boards::bootinfo::PhysRange;
use boards::fsring::*;
use boards::hypercall::{Op, Request, RESULT_OFFSET};
use spin::Mutex;

use crate::arch::paging::phys_to_virt;

/// After this long without a completion (plus time for the data a batch
/// moves) the sentry rings the doorbell:
/// the I/O thread did not get a CPU (a busy host) or went to sleep. The
/// exit serves the batch itself (or waits for the I/O thread to finish
/// it), so a batch never costs much more than an exit did before the ring.
const WAIT_BEFORE_DOORBELL_NS: u64 = 50_000;

/// After a batch waited WAIT_BEFORE_DOORBELL_NS in vain, this many batches
/// take the exit path directly (the host is busy and the I/O thread does
/// not get a CPU soon: spinning first would only add to each exit). Few:
/// since the I/O thread does the prefault work itself a miss is mostly a
/// passing hiccup, and 16 here cost python's start-up 130-220 exits
/// where 4 cost 60-90 (docs/PLATFORM-x86-kvm.md).
const DIRECT_AFTER_TIMEOUT: u32 = 4;

struct Ring {
    base: u64,
    /// Batches submitted so far.
    submitted: u64,
    /// Batches still to send through the exit path (see
    /// DIRECT_AFTER_TIMEOUT).
    direct: u32,
}

static RING: Mutex<Option<Ring>> = Mutex::new(None);
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// Batches and wake-up exits (for the kernel log).
static BATCHES: AtomicU64 = AtomicU64::new(0);

pub fn init(range: PhysRange) {
    if range.start == 0 || range.size < FS_RING_BYTES {
        return;
    }
    *RING.lock() = Some(Ring {
        base: phys_to_virt(range.start) as u64,
        submitted: 0,
        direct: 0,
    });
    ACTIVE.store(true, Ordering::Release);
}

/// A host-file write was queued in the console ring since the last exit.
static QUEUED_WRITE: AtomicBool = AtomicBool::new(false);

/// A write was queued in the console ring (no exit: the vCPU thread writes
/// it when it drains the ring). The next host-file batch must not overtake
/// it in the I/O thread, so it takes the exit path, which drains the
/// console ring before it runs any request.
pub fn note_queued_write() {
    QUEUED_WRITE.store(true, Ordering::Relaxed);
}

/// Whether host-file requests travel in the ring.
pub fn active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

/// Batches sent through the ring so far.
#[allow(dead_code)]
pub fn batches() -> u64 {
    BATCHES.load(Ordering::Relaxed)
}

impl Ring {
    fn word64(&self, offset: u64) -> &AtomicU64 {
        // SAFETY: the ring page is loader-provided guest RAM mapped through
        // the direct map for the sentry's lifetime; the offsets come from
        // `boards::fsring` and are 8-byte aligned; the VMM writes the word
        // concurrently, which the atomic type allows.
        unsafe { &*((self.base + offset) as *const AtomicU64) }
    }

    fn word32(&self, offset: u64) -> &AtomicU32 {
        // SAFETY: as in `word64` (4-byte aligned).
        unsafe { &*((self.base + offset) as *const AtomicU32) }
    }

    fn run_batch(&mut self, requests: &mut [Request]) {
        debug_assert!(requests.len() <= FS_RING_BATCH);
        for (i, request) in requests.iter().enumerate() {
            // SAFETY: inside the ring page (`request_offset` is bounded by
            // the page, checked in boards); the VMM does not read the
            // requests until `submitted` moves.
            unsafe {
                core::ptr::write_volatile((self.base + request_offset(i)) as *mut Request, *request)
            };
        }
        self.word32(COUNT_OFFSET)
            .store(requests.len() as u32, Ordering::Relaxed);
        self.submitted += 1;
        let seq = self.submitted;
        self.word64(SUBMITTED_OFFSET).store(seq, Ordering::Release);
        // Dekker with the I/O thread: our store, then its flag.
        fence(Ordering::SeqCst);
        if self.word32(IO_SLEEPING_OFFSET).load(Ordering::Relaxed) != 0 {
            wake();
        }
        // Data takes time to move: ~1 ns a byte on top (1 MiB: +1 ms).
        let bytes: u64 = requests
            .iter()
            .filter(|r| r.op == Op::HostRead as u32 || r.op == Op::HostWrite as u32)
            .map(|r| r.args[3].min(boards::hypercall::MAX_TRANSFER))
            .sum();
        let patience = WAIT_BEFORE_DOORBELL_NS + bytes;
        let since = crate::sentry::time::monotonic_ns();
        while self.word64(COMPLETED_OFFSET).load(Ordering::Acquire) != seq {
            core::hint::spin_loop();
            let now = crate::sentry::time::monotonic_ns();
            if now.saturating_sub(since) > patience {
                // Served (by this exit or the I/O thread) when it returns.
                wake();
                self.direct = DIRECT_AFTER_TIMEOUT;
                break;
            }
        }
        for (i, request) in requests.iter_mut().enumerate() {
            // SAFETY: as above; the VMM wrote the results before
            // `completed` (acquire above).
            request.result = unsafe {
                core::ptr::read_volatile(
                    (self.base + request_offset(i) + RESULT_OFFSET) as *const i64,
                )
            };
        }
        BATCHES.fetch_add(1, Ordering::Relaxed);
    }
}

/// One exit: the VMM serves the pending batch and wakes its I/O thread.
fn wake() {
    let mut batch = [super::request(Op::FsRingWake, &[])];
    super::ring(&mut batch);
}

/// Runs host-file `requests` through the ring, in order, filling in their
/// results. False (nothing done) when there is no ring or the exit path is
/// to be used for now.
pub fn run(requests: &mut [Request]) -> bool {
    let mut guard = RING.lock();
    let Some(ring) = guard.as_mut() else {
        return false;
    };
    if QUEUED_WRITE.swap(false, Ordering::Relaxed) {
        return false;
    }
    if ring.direct > 0 {
        ring.direct -= 1;
        return false;
    }
    // fsync takes milliseconds on the host: an exit costs little next to
    // it, and spinning would only time out.
    if requests.iter().any(|r| r.op == Op::HostFsync as u32) {
        return false;
    }
    for chunk in requests.chunks_mut(FS_RING_BATCH) {
        ring.run_batch(chunk);
    }
    true
}
