//! The host-file request ring: host-file requests (`Op::Host*` of
//! `crate::hypercall`) served by a VMM I/O thread while the vCPU keeps
//! running, instead of in an exit (~80-100 us on our machines).
//!
//! One page of guest RAM (named by [`crate::bootinfo::BootInfo::fs_ring`]):
//! an [`FsRingHeader`] and room for [`FS_RING_BATCH`] requests. It carries
//! one batch at a time, as the hypercall page does:
//!
//! 1. The sentry writes the requests and `count`, then increments
//!    `submitted` (release), then (after a full fence) reads `io_sleeping`.
//! 2. The VMM's I/O thread sees `submitted` differ from what it last
//!    served, runs the requests in order (a request that is not a host-file
//!    request gets `-ENOSYS`), writes each `result`, then sets `completed =
//!    submitted` (release). The sentry spins on `completed`.
//! 3. The I/O thread spins for a while after its last batch, then sets
//!    `io_sleeping`, fences, looks once more, and sleeps. A sentry that sees
//!    `io_sleeping` after submitting rings the ordinary doorbell with one
//!    `Op::FsRingWake` request: that exit serves the pending batch itself
//!    and wakes the I/O thread, which then spins again (so a burst of
//!    requests costs one exit at most). A store-fence-load on each side
//!    (Dekker's pattern) means a batch is never left behind with both
//!    sides asleep.
//!
//! The VMM treats every field as hostile: `count` is bounded, each request
//! is validated as on the exit path, and the I/O thread never waits for the
//! guest.

use crate::hypercall::Request;

/// Bytes of guest RAM the ring takes.
pub const FS_RING_BYTES: u64 = 4096;

/// `submitted`/`count` (sentry) and `completed`/`io_sleeping` (VMM) in
/// separate cache lines.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct FsRingHeader {
    /// Batches submitted since boot (written by the sentry, last).
    pub submitted: u64,
    /// Requests in the current batch (at most [`FS_RING_BATCH`]).
    pub count: u32,
    pub _pad0: u32,
    pub _pad1: [u64; 6],
    /// Batches completed (written by the VMM after the results).
    pub completed: u64,
    /// Nonzero while the I/O thread sleeps (written by the VMM).
    pub io_sleeping: u32,
    pub _pad2: u32,
    pub _pad3: [u64; 6],
}

pub const FS_RING_HEADER_SIZE: usize = core::mem::size_of::<FsRingHeader>();
/// Requests per batch.
pub const FS_RING_BATCH: usize =
    (FS_RING_BYTES as usize - FS_RING_HEADER_SIZE) / core::mem::size_of::<Request>();

pub const SUBMITTED_OFFSET: u64 = core::mem::offset_of!(FsRingHeader, submitted) as u64;
pub const COUNT_OFFSET: u64 = core::mem::offset_of!(FsRingHeader, count) as u64;
pub const COMPLETED_OFFSET: u64 = core::mem::offset_of!(FsRingHeader, completed) as u64;
pub const IO_SLEEPING_OFFSET: u64 = core::mem::offset_of!(FsRingHeader, io_sleeping) as u64;

/// Where request `i` of the batch starts in the ring.
pub const fn request_offset(i: usize) -> u64 {
    (FS_RING_HEADER_SIZE + i * core::mem::size_of::<Request>()) as u64
}

const _: () = assert!(FS_RING_HEADER_SIZE == 128);
const _: () = assert!(request_offset(FS_RING_BATCH) <= FS_RING_BYTES);
const _: () = assert!(COMPLETED_OFFSET == 64);
