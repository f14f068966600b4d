//! The hypercall client: the sentry's only way to reach the VMM.
//!
//! An exit to the VMM costs ~80-100 us on our machines, so requests are
//! batched and console output does not exit at all (see [`console`]).

pub mod console;
pub mod events;
pub mod fsring;
pub mod local;
pub mod net;

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use boards::hypercall::{HypercallPage, Request, MAX_BATCH};
use spin::Mutex;

use crate::arch::cpu;
use crate::arch::paging::phys_to_virt;

struct Channel {
    page: *mut HypercallPage,
}

// SAFETY: the hypercall page is only touched under the CHANNEL lock.
unsafe impl Send for Channel {}

static CHANNEL: Mutex<Option<Channel>> = Mutex::new(None);
static DOORBELLS: AtomicU64 = AtomicU64::new(0);

pub fn init(
    hypercall_page_gpa: u64,
    console_ring: boards::bootinfo::PhysRange,
    event_ring: boards::bootinfo::PhysRange,
    fs_ring: boards::bootinfo::PhysRange,
) {
    console::init(console_ring);
    events::init(event_ring);
    fsring::init(fs_ring);
    if hypercall_page_gpa == 0 {
        return;
    }
    *CHANNEL.lock() = Some(Channel {
        page: phys_to_virt(hypercall_page_gpa) as *mut HypercallPage,
    });
    HAVE_VMM.store(true, Ordering::Relaxed);
}

/// A VMM serves the hypercall channel (not bare metal).
static HAVE_VMM: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// What a prefault hint is about: one pending range per kind.
#[derive(Clone, Copy)]
pub enum PrefaultKind {
    /// Never-used frames after the frame allocator's bump pointer.
    Frames = 0,
    /// The heap's never-used memory above its high-water mark.
    Heap = 1,
}

/// Ranges of never-used RAM the sentry will touch soon, for the VMM to
/// back with host pages ahead of time ([`Op::RamPrefault`]). Posting takes
/// no allocation and no exit (the allocators post while holding their
/// locks): the hints ride along with the next batch.
///
/// [`Op::RamPrefault`]: boards::hypercall::Op::RamPrefault
static PREFAULT_HINTS: Mutex<[(u64, u64); 2]> = Mutex::new([(0, 0); 2]);

/// Posts a prefault hint for guest-physical [start, start + len); a range
/// that continues the pending one of its kind extends it (up to the most
/// one request may name), any other replaces it.
pub fn hint_prefault(kind: PrefaultKind, start: u64, len: u64) {
    if !HAVE_VMM.load(Ordering::Relaxed) || len == 0 {
        return;
    }
    let mut hints = PREFAULT_HINTS.lock();
    let slot = &mut hints[kind as usize];
    if slot.1 != 0 && slot.0 + slot.1 == start {
        slot.1 = (slot.1 + len).min(boards::hypercall::MAX_PREFAULT);
    } else {
        *slot = (start, len.min(boards::hypercall::MAX_PREFAULT));
    }
}

/// The pending hints (taken: each is sent once; empty ones have len 0).
fn take_prefault_hints() -> [(u64, u64); 2] {
    core::mem::take(&mut *PREFAULT_HINTS.lock())
}

/// Requests whose results nobody waits for (closing host handles): they
/// ride along with the next batch instead of costing an exit each.
static DEFERRED: Mutex<Vec<Request>> = Mutex::new(Vec::new());

/// Queues a request for the next batch.
pub fn defer(request: Request) {
    let full = {
        let mut deferred = DEFERRED.lock();
        deferred.push(request);
        deferred.len() >= MAX_BATCH / 2
    };
    if full {
        submit(&mut []);
    }
}

/// Runs a batch of requests with one exit; fills in their results. Deferred
/// requests go first, in the same exit when they fit; pending prefault
/// hints go last (not with an exit: the VMM would only back memory that
/// is about to be freed).
pub fn submit(requests: &mut [Request]) {
    use boards::hypercall::Op;
    assert!(requests.len() <= MAX_BATCH);
    let mut batch: Vec<Request> = core::mem::take(&mut *DEFERRED.lock());
    let ending = requests
        .iter()
        .any(|r| r.op == Op::Exit as u32 || r.op == Op::Panic as u32);
    let hints = if ending {
        [(0, 0); 2]
    } else {
        take_prefault_hints()
    };
    if batch.is_empty() && hints.iter().all(|&(_, len)| len == 0) {
        return ring(requests);
    }
    if batch.len() + requests.len() > MAX_BATCH {
        ring(&mut batch);
        batch.clear();
    }
    let first = batch.len();
    batch.extend_from_slice(requests);
    let end = batch.len();
    for (start, len) in hints {
        if len != 0 && batch.len() < MAX_BATCH {
            batch.push(request(Op::RamPrefault, &[start, len]));
        }
    }
    if batch.is_empty() {
        return;
    }
    ring(&mut batch);
    requests.copy_from_slice(&batch[first..end]);
}

/// Counter ticks spent waiting for batches that carried host-file
/// requests (ring spins and exits alike), for `--stats`.
static HOST_FILE_WAIT: AtomicU64 = AtomicU64::new(0);

pub fn host_file_wait_ticks() -> u64 {
    HOST_FILE_WAIT.load(Ordering::Relaxed)
}

fn ring(requests: &mut [Request]) {
    let host_file = requests.iter().any(|r| {
        boards::hypercall::Op::from_raw(r.op).is_some_and(boards::hypercall::Op::is_host_file)
    });
    if !host_file {
        return ring_now(requests);
    }
    let started = crate::arch::cpu::counter();
    ring_now(requests);
    let waited = crate::arch::cpu::counter().wrapping_sub(started);
    HOST_FILE_WAIT.fetch_add(waited, Ordering::Relaxed);
}

fn ring_now(requests: &mut [Request]) {
    if requests.is_empty() {
        return;
    }
    // Host-file requests go to the VMM's I/O thread without an exit.
    if fsring::active()
        && requests.iter().all(|r| {
            boards::hypercall::Op::from_raw(r.op).is_some_and(boards::hypercall::Op::rides_fs_ring)
        })
        && fsring::run(requests)
    {
        return;
    }
    let guard = CHANNEL.lock();
    let Some(channel) = guard.as_ref() else {
        drop(guard);
        // No VMM: bare metal serves what it can, anything else is ENOSYS.
        for request in requests.iter_mut() {
            if local::active() {
                local::serve(request);
            } else {
                request.result = -(crate::sentry::errno::ENOSYS.0 as i64);
            }
        }
        return;
    };
    // SAFETY: the page is the loader-provided hypercall page, mapped through
    // the direct map and only used here, under the lock. Volatile accesses:
    // the VMM reads and writes it while the vCPU is stopped in the `out`.
    unsafe {
        let page = channel.page;
        for (i, request) in requests.iter().enumerate() {
            core::ptr::write_volatile(core::ptr::addr_of_mut!((*page).requests[i]), *request);
        }
        core::ptr::write_volatile(
            core::ptr::addr_of_mut!((*page).count),
            requests.len() as u32,
        );
        DOORBELLS.fetch_add(1, Ordering::Relaxed);
        cpu::ring_doorbell(requests.len() as u32);
        for (i, request) in requests.iter_mut().enumerate() {
            request.result =
                core::ptr::read_volatile(core::ptr::addr_of!((*page).requests[i].result));
        }
    }
}

/// Tells the VMM its nudge was seen (aarch64, where the nudge is the
/// vCPU's IRQ line, which stays raised until the VMM lowers it): an empty
/// batch, whose doorbell lowers the line.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
pub fn ack_nudge() {
    let guard = CHANNEL.lock();
    let Some(channel) = guard.as_ref() else {
        return;
    };
    // SAFETY: as in `ring`: the loader's hypercall page, under the lock.
    unsafe { core::ptr::write_volatile(core::ptr::addr_of_mut!((*channel.page).count), 0) };
    DOORBELLS.fetch_add(1, Ordering::Relaxed);
    cpu::ring_doorbell(0);
}

/// Hypercall batches issued so far.
pub fn doorbells() -> u64 {
    DOORBELLS.load(Ordering::Relaxed)
}

/// Asks the VMM for a one-shot kick `span_ns` from now, announced by
/// `EVENT_TIMER` (`Op::SetTimer`; it replaces the previous one). False
/// when there is nobody to ask (bare metal).
pub fn set_timer(span_ns: u64) -> bool {
    let mut batch = [request(boards::hypercall::Op::SetTimer, &[span_ns])];
    submit(&mut batch);
    batch[0].result == 0
}

/// Cancels the one-shot kick of [`set_timer`] with the next batch (no
/// exit of its own).
pub fn cancel_timer() {
    defer(request(boards::hypercall::Op::SetTimer, &[u64::MAX]));
}

/// Builds a request.
pub fn request(op: boards::hypercall::Op, args: &[u64]) -> Request {
    let mut request = Request {
        op: op as u32,
        ..Request::default()
    };
    request.args[..args.len()].copy_from_slice(args);
    request
}

/// Guest-physical address of a kernel object (image or direct map).
pub fn kernel_virt_to_phys(addr: u64) -> u64 {
    crate::arch::kernel_virt_to_phys(addr)
}

// The sentry reads `HostStat` results straight into its own `Stat` (the
// x86_64 kernel layout), so the two must agree field by field.
const _: () = {
    use crate::sentry::stat::Stat;
    use boards::hypercall::HostStat;
    use core::mem::{offset_of, size_of};
    assert!(size_of::<Stat>() == size_of::<HostStat>());
    assert!(offset_of!(Stat, ino) == offset_of!(HostStat, ino));
    assert!(offset_of!(Stat, mode) == offset_of!(HostStat, mode));
    assert!(offset_of!(Stat, rdev) == offset_of!(HostStat, rdev));
    assert!(offset_of!(Stat, size) == offset_of!(HostStat, size));
    assert!(offset_of!(Stat, blocks) == offset_of!(HostStat, blocks));
    assert!(offset_of!(Stat, atime) == offset_of!(HostStat, atime));
    assert!(offset_of!(Stat, mtime_nsec) == offset_of!(HostStat, mtime_nsec));
    assert!(offset_of!(Stat, ctime_nsec) == offset_of!(HostStat, ctime_nsec));
};
