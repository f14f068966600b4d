//! The console ring: how the sentry's stdout, stderr and log output reach
//! the host without a VM exit per write.
//!
//! A single-producer/single-consumer byte ring in guest memory (its place is
//! in [`crate::bootinfo::BootInfo::console_ring`]): a [`RingHeader`] and then
//! `size` bytes of records, `size` a power of two. The sentry appends records
//! and advances `tail`; the VMM drains records and advances `head`, from a
//! host thread every few milliseconds, before every hypercall batch, at exit,
//! on timeout and after a guest fault, so output is neither late nor lost.
//! The sentry rings the doorbell (`Op::ConsoleDrain`) only when the ring is
//! full. `head` and `tail` count bytes since boot and never wrap.
//!
//! A record is an 8-byte header (`stream: u32`, `len: u32`) and `len` bytes,
//! padded to 8. Records never wrap around the end of the ring: when one does
//! not fit, a [`STREAM_PAD`] record fills the rest of the ring and the record
//! starts at offset 0. The VMM checks every header; a corrupt ring is
//! dropped, never trusted.

/// `tail` and `head` live in separate cache lines.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct RingHeader {
    /// Bytes produced (written by the sentry).
    pub tail: u64,
    pub _pad0: [u64; 7],
    /// Bytes consumed (written by the VMM).
    pub head: u64,
    pub _pad1: [u64; 7],
}

pub const RING_HEADER_SIZE: u64 = core::mem::size_of::<RingHeader>() as u64;
pub const TAIL_OFFSET: u64 = core::mem::offset_of!(RingHeader, tail) as u64;
pub const HEAD_OFFSET: u64 = core::mem::offset_of!(RingHeader, head) as u64;
/// Default data size of the ring.
pub const RING_SIZE: u64 = 256 * 1024;
pub const RECORD_HEADER_SIZE: u64 = 8;
/// Largest payload of one record (bigger writes are split).
pub const MAX_RECORD: u64 = RING_SIZE / 4;

pub const STREAM_STDOUT: u32 = 1;
pub const STREAM_STDERR: u32 = 2;
/// Log lines: STREAM_LOG + level (1 error .. 5 trace).
pub const STREAM_LOG: u32 = 0x10;
/// A buffered write to a shared host file: payload = handle (u64), file
/// offset (u64), then the bytes. The VMM writes it when it drains the ring
/// (so it is in the file before any later request runs, and is not lost on
/// timeout); a failure is kept for that handle's next HostFsync.
pub const STREAM_HOST_WRITE: u32 = 0x20;
/// The start of a [`STREAM_HOST_WRITE`] record's payload.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostWriteHeader {
    pub handle: u64,
    pub offset: u64,
}
pub const HOST_WRITE_HEADER: u64 = core::mem::size_of::<HostWriteHeader>() as u64;

impl HostWriteHeader {
    pub fn to_bytes(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.handle.to_le_bytes());
        out[8..].copy_from_slice(&self.offset.to_le_bytes());
        out
    }

    /// The header at the start of a record's payload (None if shorter).
    pub fn from_bytes(bytes: &[u8]) -> Option<HostWriteHeader> {
        Some(HostWriteHeader {
            handle: u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?),
            offset: u64::from_le_bytes(bytes.get(8..16)?.try_into().ok()?),
        })
    }
}
/// Output of a process started from the host (`rvisor-runtime exec`):
/// `STREAM_EXEC + 2 * slot` is its stdout, `+ 1` its stderr.
pub const STREAM_EXEC: u32 = 0x1000;
/// Exec slots are below this (so the stream codes stay apart from the
/// others).
pub const MAX_EXEC_SLOTS: u32 = 0x800;
/// Filler up to the end of the ring.
pub const STREAM_PAD: u32 = 0xff;

/// Space a record with `len` payload bytes takes in the ring.
pub const fn record_size(len: u64) -> u64 {
    RECORD_HEADER_SIZE + ((len + 7) & !7)
}

pub fn encode_header(stream: u32, len: u32) -> [u8; 8] {
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&stream.to_le_bytes());
    out[4..].copy_from_slice(&len.to_le_bytes());
    out
}

pub fn decode_header(bytes: [u8; 8]) -> (u32, u32) {
    (
        u32::from_le_bytes(bytes[..4].try_into().unwrap()),
        u32::from_le_bytes(bytes[4..].try_into().unwrap()),
    )
}

const _: () = assert!(RING_HEADER_SIZE == 128);
