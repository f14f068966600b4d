//! The hypercall channel between the sentry and the VMM.
//!
//! One exit to the VMM costs ~80-100 us on our machines (as much as ~150
//! in-guest syscalls), so requests are batched: the sentry fills up to
//! [`MAX_BATCH`] [`Request`]s in the hypercall page, writes the count to
//! [`HypercallPage::count`] and rings the doorbell once (x86_64: a 32-bit
//! `out` to [`DOORBELL_PORT`]). The VMM carries out the requests in order,
//! writes each one's `result` (a non-negative value or a negated Linux errno)
//! and resumes the vCPU. Requests after an `Exit` or `Panic` are not run.
//! Console output does not use requests: it goes through the console ring
//! (`crate::console`), which the VMM drains before running any batch.
//!
//! The VMM treats every field as hostile: guest addresses must lie inside
//! guest RAM, lengths are bounded by [`MAX_TRANSFER`], unknown ops get
//! `-ENOSYS`.

/// x86_64 doorbell: `out %eax, $DOORBELL_PORT` (eax is ignored).
pub const DOORBELL_PORT: u16 = 0x00e0;
/// Requests per batch: the page holds a 16-byte header and 64-byte requests.
pub const MAX_BATCH: usize = 63;
/// Largest byte count a single request may move.
pub const MAX_TRANSFER: u64 = 1 << 20;

/// Request operations.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// The console ring is full: drain it now. Result: 0. (The VMM also
    /// drains it before every batch, so any request flushes output first.)
    ConsoleDrain = 1,
    /// args: [gpa, len]. Reads the host's stdin. Result: bytes read, 0 at EOF.
    ConsoleRead = 2,
    /// args: [timeout_ns (u64::MAX: forever), watch_stdin (0 or 1)].
    /// Result: 1 when stdin is readable (or at EOF/hang-up), 0 on timeout.
    /// With watch_stdin = 0 it just waits for the timeout.
    ConsolePoll = 3,
    /// args: [kind (EXIT_KIND_*), code, gpa of [`ExitStats`] or 0]. No result.
    Exit = 5,
    /// args: [gpa, len]: the sentry hit a fatal error; message attached.
    Panic = 6,
}

impl Op {
    pub fn from_raw(raw: u32) -> Option<Op> {
        Some(match raw {
            1 => Op::ConsoleDrain,
            2 => Op::ConsoleRead,
            3 => Op::ConsolePoll,
            5 => Op::Exit,
            6 => Op::Panic,
            _ => return None,
        })
    }
}

/// [`Op::Exit`] kinds.
pub const EXIT_KIND_EXITED: u64 = 0;
/// The application was killed by signal `code`.
pub const EXIT_KIND_SIGNALED: u64 = 1;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Request {
    pub op: u32,
    pub _reserved: u32,
    pub args: [u64; 6],
    pub result: i64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct HypercallPage {
    pub count: u32,
    pub _reserved: [u32; 3],
    pub requests: [Request; MAX_BATCH],
}

/// Counters the sentry reports with [`Op::Exit`] (for `--stats`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ExitStats {
    pub syscalls: u64,
    pub page_faults: u64,
    /// Hypercall batches (doorbells) the sentry issued, this exit included.
    pub hypercalls: u64,
    /// Guest TSC ticks from sentry entry to the start of `main` in user mode.
    pub boot_tsc: u64,
    /// Guest TSC ticks from user entry to exit.
    pub run_tsc: u64,
}

const _: () = assert!(core::mem::size_of::<Request>() == 64);
const _: () = assert!(core::mem::size_of::<HypercallPage>() <= 4096);
