//! The VMM side of the console ring (`boards::console`): drains the
//! sentry's output records to the host's stdout/stderr (and log records to
//! the log) on every 10 ms kick of the vCPU thread (`crate::vcpu`, which interrupts
//! KVM_RUN), before every hypercall batch, at exit, on timeout and after a
//! guest fault. Buffered writes to shared host files travel the same way.
//!
//! The ring is guest memory: every header is checked, and a ring that
//! stops making sense is dropped (with one warning) instead of trusted.

use std::sync::atomic::Ordering;
use std::sync::OnceLock;
use std::time::Instant;

use boards::console::*;
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

use crate::hostfs::HostFs;

pub struct ConsoleRing {
    mem: GuestMemoryMmap,
    base: u64,
    size: u64,
    head: u64,
    broken: bool,
    /// Bytes written to the host's stdout and stderr.
    pub bytes_out: u64,
}

/// When output stops being written (--timeout): a stdout that nobody
/// reads must not keep the sandbox alive past it.
static OUTPUT_DEADLINE: OnceLock<Instant> = OnceLock::new();

/// Sets the deadline after which output is dropped instead of written.
pub fn set_output_deadline(deadline: Instant) {
    let _ = OUTPUT_DEADLINE.set(deadline);
}

/// Writes `bytes` to the host's fd 1 or 2 (or an exec'd process's). A blocked reader holds the
/// VMM here (back-pressure for the guest), but the tick's kick
/// interrupts the write every tick and the deadline is checked between
/// writes, so --timeout holds whatever the reader does.
pub(crate) fn host_write(fd: i32, bytes: &[u8]) {
    let mut done = 0usize;
    while done < bytes.len() {
        if OUTPUT_DEADLINE.get().is_some_and(|d| Instant::now() >= *d) {
            return;
        }
        let rest = &bytes[done..];
        // SAFETY: writes from a valid slice to a descriptor we do not own
        // or close.
        let n = unsafe { libc::write(fd, rest.as_ptr().cast(), rest.len()) };
        if n > 0 {
            done += n as usize;
            continue;
        }
        match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::EINTR) if n < 0 => {}
            Some(libc::EAGAIN) if n < 0 => {
                // A non-blocking stdout: wait a tick for room.
                let mut pfd = libc::pollfd {
                    fd,
                    events: libc::POLLOUT,
                    revents: 0,
                };
                // SAFETY: polls one valid pollfd.
                unsafe { libc::poll(&mut pfd, 1, 10) };
            }
            // A closed stdout (EPIPE) is the reader's choice: the rest is
            // dropped.
            _ => return,
        }
    }
}

impl ConsoleRing {
    /// `base`: guest-physical address of the ring header; `size`: data bytes.
    pub fn new(mem: GuestMemoryMmap, base: u64, size: u64) -> ConsoleRing {
        ConsoleRing {
            mem,
            base,
            size,
            head: 0,
            broken: false,
            bytes_out: 0,
        }
    }

    fn give_up(&mut self, why: &str) {
        if !self.broken {
            log::warn!("console ring from the guest is corrupt ({why}); dropping its output");
        }
        self.broken = true;
    }

    /// Writes out every complete record the guest has published (buffered
    /// writes to shared host files go to `hostfs`).
    pub fn drain(&mut self, hostfs: &mut HostFs) {
        if self.broken {
            return;
        }
        let Ok(tail) = self
            .mem
            .load::<u64>(GuestAddress(self.base + TAIL_OFFSET), Ordering::Acquire)
        else {
            return self.give_up("unreadable tail");
        };
        if tail < self.head || tail - self.head > self.size {
            return self.give_up("tail out of range");
        }
        let data = self.base + RING_HEADER_SIZE;
        while self.head < tail {
            let pos = self.head % self.size;
            if self.size - pos < RECORD_HEADER_SIZE {
                return self.give_up("record header past the end");
            }
            let mut header = [0u8; 8];
            if self
                .mem
                .read_slice(&mut header, GuestAddress(data + pos))
                .is_err()
            {
                return self.give_up("unreadable record");
            }
            let (stream, len) = decode_header(header);
            let len = len as u64;
            if len > self.size - pos - RECORD_HEADER_SIZE {
                return self.give_up("record longer than the ring");
            }
            let consumed = if stream == STREAM_PAD {
                self.size - pos
            } else {
                record_size(len)
            };
            if consumed > tail - self.head {
                return self.give_up("record past the tail");
            }
            if stream != STREAM_PAD {
                let mut bytes = vec![0u8; len as usize];
                if self
                    .mem
                    .read_slice(&mut bytes, GuestAddress(data + pos + RECORD_HEADER_SIZE))
                    .is_err()
                {
                    return self.give_up("unreadable record");
                }
                self.emit(stream, &bytes, hostfs);
            }
            self.head += consumed;
        }
        // Tell the guest the space is free again.
        let _ = self.mem.store(
            self.head,
            GuestAddress(self.base + HEAD_OFFSET),
            Ordering::Release,
        );
    }

    fn emit(&mut self, stream: u32, bytes: &[u8], hostfs: &mut HostFs) {
        match stream {
            STREAM_HOST_WRITE if bytes.len() as u64 >= HOST_WRITE_HEADER => {
                if let Some(header) = HostWriteHeader::from_bytes(bytes) {
                    let data = &bytes[HOST_WRITE_HEADER as usize..];
                    hostfs.buffered_write(header.handle, header.offset, data);
                }
            }
            STREAM_STDOUT | STREAM_STDERR => {
                self.bytes_out += bytes.len() as u64;
                host_write(stream as i32, bytes);
            }
            s if (STREAM_EXEC..STREAM_EXEC + 2 * MAX_EXEC_SLOTS).contains(&s) => {
                let n = s - STREAM_EXEC;
                crate::exec::write_output(u64::from(n / 2), (n % 2) as usize, bytes);
            }
            s if (STREAM_LOG + 1..=STREAM_LOG + 5).contains(&s) => {
                let level = match s - STREAM_LOG {
                    1 => log::Level::Error,
                    2 => log::Level::Warn,
                    3 => log::Level::Info,
                    4 => log::Level::Debug,
                    _ => log::Level::Trace,
                };
                log::log!(target: "sentry", level, "{}", String::from_utf8_lossy(bytes));
            }
            other => log::debug!("console record with unknown stream {other} dropped"),
        }
    }
}
