//! Console output (stdout, stderr, sentry log lines) through the console
//! ring (`boards::console`): appending never exits the VM; the VMM drains
//! the ring on its own, and the sentry rings the doorbell only when the ring
//! is full. One ring for all streams keeps their relative order.

use core::fmt::Write;
use core::sync::atomic::{fence, Ordering};

use boards::console::*;
use boards::hypercall::{ExitStats, Op, EXIT_KIND_EXITED, EXIT_KIND_SIGNALED};
use spin::Mutex;

use super::{kernel_virt_to_phys, request, submit};
use crate::arch::cpu;
use crate::arch::paging::phys_to_virt;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Stream {
    Stdout,
    Stderr,
    /// A sentry log line at a `log::Level` (1 = error .. 5 = trace).
    Log(u8),
    /// stdout or stderr of a process started from the host
    /// (`crate::sentry::host_exec`).
    Exec {
        slot: u64,
        stderr: bool,
    },
}

impl Stream {
    fn code(self) -> u32 {
        match self {
            Stream::Stdout => STREAM_STDOUT,
            Stream::Stderr => STREAM_STDERR,
            Stream::Log(level) => STREAM_LOG + level as u32,
            Stream::Exec { slot, stderr } => STREAM_EXEC + 2 * slot as u32 + stderr as u32,
        }
    }
}

struct Ring {
    header: *mut RingHeader,
    data: *mut u8,
    size: u64,
    /// Our copy of the published tail.
    tail: u64,
}

// SAFETY: the ring memory is only touched under the RING lock.
unsafe impl Send for Ring {}

static RING: Mutex<Option<Ring>> = Mutex::new(None);

pub fn init(ring: boards::bootinfo::PhysRange) {
    let size = ring.size.saturating_sub(RING_HEADER_SIZE);
    if ring.start == 0 || !size.is_power_of_two() || size < 4 * MAX_RECORD {
        return;
    }
    let header = phys_to_virt(ring.start) as *mut RingHeader;
    // SAFETY: the loader reserved this range of guest RAM for the ring.
    let tail = unsafe { core::ptr::read_volatile(core::ptr::addr_of!((*header).tail)) };
    *RING.lock() = Some(Ring {
        header,
        // SAFETY: the data area follows the header inside the range.
        data: unsafe { (header as *mut u8).add(RING_HEADER_SIZE as usize) },
        size,
        tail,
    });
}

impl Ring {
    fn head(&self) -> u64 {
        // SAFETY: the header is in the ring's memory; the VMM writes `head`.
        let head = unsafe { core::ptr::read_volatile(core::ptr::addr_of!((*self.header).head)) };
        fence(Ordering::Acquire);
        head
    }

    fn put(&mut self, offset: u64, bytes: &[u8]) {
        debug_assert!(offset + bytes.len() as u64 <= self.size);
        // SAFETY: offset..offset+len is inside the data area (checked by the
        // callers' space computation); the VMM only reads published bytes.
        unsafe {
            core::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.data.add(offset as usize),
                bytes.len(),
            )
        };
    }

    fn publish(&mut self, tail: u64) {
        fence(Ordering::Release);
        self.tail = tail;
        // SAFETY: as in `head`; the sentry is the only writer of `tail`.
        unsafe { core::ptr::write_volatile(core::ptr::addr_of_mut!((*self.header).tail), tail) };
    }

    /// Bare metal: writes every published record to the board's console
    /// devices and frees its space (the VMM's job otherwise).
    fn drain_locally(&mut self) {
        let mut head = self.head();
        while head < self.tail {
            let pos = head % self.size;
            let mut header = [0u8; RECORD_HEADER_SIZE as usize];
            // SAFETY: records are written by `try_append` only, so a header
            // and its payload lie inside the data area.
            unsafe {
                core::ptr::copy_nonoverlapping(self.data.add(pos as usize), header.as_mut_ptr(), 8)
            };
            let (stream, len) = decode_header(header);
            let (consumed, payload) = if stream == STREAM_PAD {
                (self.size - pos, &[][..])
            } else {
                // SAFETY: as above.
                let payload = unsafe {
                    core::slice::from_raw_parts(
                        self.data.add((pos + RECORD_HEADER_SIZE) as usize),
                        len as usize,
                    )
                };
                (record_size(len as u64), payload)
            };
            match stream {
                STREAM_STDOUT => crate::arch::qemu::console_write(true, payload),
                STREAM_STDERR => crate::arch::qemu::console_write(false, payload),
                STREAM_PAD => {}
                _ => {
                    crate::arch::qemu::console_write(false, b"rvisor: sentry: ");
                    crate::arch::qemu::console_write(false, payload);
                    crate::arch::qemu::console_write(false, b"\n");
                }
            }
            head += consumed;
        }
        fence(Ordering::Release);
        // SAFETY: the header is in the ring's memory; without a VMM the
        // sentry is the consumer too.
        unsafe { core::ptr::write_volatile(core::ptr::addr_of_mut!((*self.header).head), head) };
    }

    /// Appends one record of at most MAX_RECORD bytes; false when full.
    fn try_append(&mut self, stream: u32, bytes: &[u8]) -> bool {
        self.try_append_parts(stream, &[bytes])
    }

    /// Appends one record whose payload is the concatenation of `parts`.
    fn try_append_parts(&mut self, stream: u32, parts: &[&[u8]]) -> bool {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let need = record_size(len as u64);
        let pos = self.tail % self.size;
        let to_end = self.size - pos;
        let pad = if to_end < need { to_end } else { 0 };
        if self.tail + pad + need - self.head() > self.size {
            return false;
        }
        let mut tail = self.tail;
        if pad > 0 {
            self.put(
                pos,
                &encode_header(STREAM_PAD, (pad - RECORD_HEADER_SIZE) as u32),
            );
            tail += pad;
        }
        let pos = tail % self.size;
        self.put(pos, &encode_header(stream, len as u32));
        let mut at = pos + RECORD_HEADER_SIZE;
        for part in parts {
            self.put(at, part);
            at += part.len() as u64;
        }
        self.publish(tail + need);
        true
    }
}

/// Queues output; waits for the VMM to drain when the ring is full.
pub fn write(stream: Stream, bytes: &[u8]) {
    let mut guard = RING.lock();
    let Some(ring) = guard.as_mut() else {
        return; // No console (bare metal without a driver yet).
    };
    let local = super::local::active();
    for chunk in bytes.chunks(MAX_RECORD as usize) {
        while !ring.try_append(stream.code(), chunk) {
            if local {
                ring.drain_locally();
            } else {
                submit(&mut [request(Op::ConsoleDrain, &[])]);
            }
        }
    }
    if local {
        // Bare metal: no VMM drains the ring, so write it out now.
        ring.drain_locally();
    }
}

/// Largest write that goes through the ring (bigger ones are requests).
pub const MAX_RING_WRITE: usize = (MAX_RECORD - HOST_WRITE_HEADER) as usize;

/// Queues a write to a shared host file (handle, offset) through the ring.
/// False when there is no ring (bare metal) or the write is too big.
pub fn write_host_file(handle: u64, offset: u64, data: &[u8]) -> bool {
    if data.len() > MAX_RING_WRITE {
        return false;
    }
    let mut guard = RING.lock();
    let Some(ring) = guard.as_mut() else {
        return false;
    };
    let header = HostWriteHeader { handle, offset }.to_bytes();
    while !ring.try_append_parts(STREAM_HOST_WRITE, &[&header, data]) {
        submit(&mut [request(Op::ConsoleDrain, &[])]);
    }
    true
}

/// Runs one request; the VMM drains pending output first, so output written
/// before (a prompt, say) is visible before the request (reading stdin) runs.
pub fn flush_and_call(op: Op, args: &[u64]) -> i64 {
    let mut batch = [request(op, args)];
    submit(&mut batch);
    batch[0].result
}

/// How the application ended.
#[derive(Clone, Copy, Debug)]
pub enum ExitKind {
    Exited(u8),
    Signaled(u8),
}

/// Tells the VMM the application has ended (it drains the console first).
pub fn exit(kind: ExitKind, stats: &ExitStats) -> ! {
    let (kind, code) = match kind {
        ExitKind::Exited(code) => (EXIT_KIND_EXITED, code as u64),
        ExitKind::Signaled(signal) => (EXIT_KIND_SIGNALED, signal as u64),
    };
    let stats_gpa = kernel_virt_to_phys(stats as *const ExitStats as u64);
    flush_and_call(Op::Exit, &[kind, code, stats_gpa]);
    cpu::halt_forever()
}

/// A small fixed buffer for formatting without the heap.
pub struct FixedBuffer<const N: usize> {
    pub data: [u8; N],
    pub len: usize,
}

impl<const N: usize> FixedBuffer<N> {
    pub const fn new() -> Self {
        FixedBuffer {
            data: [0; N],
            len: 0,
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.data[..self.len]
    }
}

impl<const N: usize> Write for FixedBuffer<N> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let n = s.len().min(N - self.len);
        self.data[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

static PANIC_MESSAGE: Mutex<FixedBuffer<1024>> = Mutex::new(FixedBuffer::new());

/// Reports a fatal sentry error to the VMM (which exits with status 125).
pub fn fatal(args: core::fmt::Arguments) -> ! {
    // SAFETY: this is the end of the sentry on its only CPU; a lock held by
    // the code that failed will never be released, so take them over.
    unsafe {
        PANIC_MESSAGE.force_unlock();
        RING.force_unlock();
        super::CHANNEL.force_unlock();
        super::DEFERRED.force_unlock();
    }
    let mut message = PANIC_MESSAGE.lock();
    message.len = 0;
    let _ = message.write_fmt(args);
    let gpa = kernel_virt_to_phys(message.data.as_ptr() as u64);
    let len = message.len as u64;
    flush_and_call(Op::Panic, &[gpa, len]);
    cpu::halt_forever()
}

/// The `log` backend: records go into the console ring as log records
/// (only when the user asked for verbose output).
pub struct SentryLogger;

impl log::Log for SentryLogger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let mut line = FixedBuffer::<256>::new();
        let _ = write!(line, "{}", record.args());
        write(Stream::Log(record.level() as u8), line.as_bytes());
    }

    fn flush(&self) {}
}
