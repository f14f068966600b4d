//! Buffered console output (stdout, stderr, sentry log lines) in one ordered
//! buffer: the VMM replays the segments in order, so stdout and stderr stay
//! separate on the host while their relative order is kept.

use core::fmt::Write;

use boards::hypercall::{ExitStats, Op, Request, EXIT_KIND_EXITED, EXIT_KIND_SIGNALED, MAX_BATCH};
use spin::Mutex;

use super::{kernel_virt_to_phys, request, submit, FLUSH_INTERVAL_NS};
use crate::arch::cpu;

const BUFFER_SIZE: usize = 256 * 1024;
/// Leave room in a batch for the request a flush is combined with.
const MAX_SEGMENTS: usize = MAX_BATCH - 2;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Stream {
    Stdout,
    Stderr,
    /// A sentry log line at a `log::Level` (1 = error .. 5 = trace).
    Log(u8),
}

#[derive(Clone, Copy)]
struct Segment {
    stream: Stream,
    start: u32,
    len: u32,
}

struct ConsoleBuffer {
    data: [u8; BUFFER_SIZE],
    len: usize,
    segments: [Segment; MAX_SEGMENTS],
    segment_count: usize,
    /// TSC when the oldest unflushed byte was written.
    oldest_pending_tsc: u64,
}

static CONSOLE: Mutex<ConsoleBuffer> = Mutex::new(ConsoleBuffer {
    data: [0; BUFFER_SIZE],
    len: 0,
    segments: [Segment {
        stream: Stream::Stdout,
        start: 0,
        len: 0,
    }; MAX_SEGMENTS],
    segment_count: 0,
    oldest_pending_tsc: 0,
});

impl ConsoleBuffer {
    /// Appends as much of `bytes` as fits; returns how much did.
    fn append(&mut self, stream: Stream, bytes: &[u8]) -> usize {
        let n = bytes.len().min(BUFFER_SIZE - self.len);
        if n == 0 {
            return 0;
        }
        let extends_last = self.segment_count > 0
            && self.segments[self.segment_count - 1].stream == stream
            && !matches!(stream, Stream::Log(_));
        if !extends_last {
            if self.segment_count == MAX_SEGMENTS {
                return 0;
            }
            self.segments[self.segment_count] = Segment {
                stream,
                start: self.len as u32,
                len: 0,
            };
            self.segment_count += 1;
        }
        if self.len == 0 {
            self.oldest_pending_tsc = cpu::rdtsc();
        }
        self.data[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
        self.segments[self.segment_count - 1].len += n as u32;
        n
    }

    /// Sends everything buffered, followed by `extra` requests, in one batch.
    /// Returns the results of the extra requests.
    fn flush_with(&mut self, extra: &mut [Request]) {
        let mut batch = [Request::default(); MAX_BATCH];
        let base = kernel_virt_to_phys(self.data.as_ptr() as u64);
        let mut n = 0;
        for segment in &self.segments[..self.segment_count] {
            let gpa = base + segment.start as u64;
            let len = segment.len as u64;
            batch[n] = match segment.stream {
                Stream::Stdout => request(Op::ConsoleWrite, &[1, gpa, len]),
                Stream::Stderr => request(Op::ConsoleWrite, &[2, gpa, len]),
                Stream::Log(level) => request(Op::Log, &[level as u64, gpa, len]),
            };
            n += 1;
        }
        batch[n..n + extra.len()].copy_from_slice(extra);
        if n + extra.len() > 0 {
            submit(&mut batch[..n + extra.len()]);
        }
        for (i, request) in extra.iter_mut().enumerate() {
            request.result = batch[n + i].result;
        }
        self.len = 0;
        self.segment_count = 0;
    }
}

/// Queues output; flushes as the buffer fills.
pub fn write(stream: Stream, mut bytes: &[u8]) {
    let mut console = CONSOLE.lock();
    while !bytes.is_empty() {
        let n = console.append(stream, bytes);
        bytes = &bytes[n..];
        if !bytes.is_empty() {
            console.flush_with(&mut []);
        }
    }
}

/// Flushes when the oldest pending output is older than the flush interval.
pub fn flush_if_stale() {
    let mut console = CONSOLE.lock();
    if console.len > 0
        && crate::sentry::time::tsc_to_ns(cpu::rdtsc().wrapping_sub(console.oldest_pending_tsc))
            >= FLUSH_INTERVAL_NS
    {
        console.flush_with(&mut []);
    }
}

/// Runs one request right after the pending output (one exit for both).
pub fn flush_and_call(op: Op, args: &[u64]) -> i64 {
    let mut extra = [request(op, args)];
    CONSOLE.lock().flush_with(&mut extra);
    extra[0].result
}

/// How the application ended.
#[derive(Clone, Copy, Debug)]
pub enum ExitKind {
    Exited(u8),
    Signaled(u8),
}

/// Flushes the console and tells the VMM the application has ended.
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
        CONSOLE.force_unlock();
        super::CHANNEL.force_unlock();
    }
    let mut message = PANIC_MESSAGE.lock();
    message.len = 0;
    let _ = message.write_fmt(args);
    let gpa = kernel_virt_to_phys(message.data.as_ptr() as u64);
    let len = message.len as u64;
    flush_and_call(Op::Panic, &[gpa, len]);
    cpu::halt_forever()
}

/// The `log` backend: records go into the console stream as Log segments
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
