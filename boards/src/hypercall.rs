//! The hypercall channel between the sentry and the VMM.
//!
//! One exit to the VMM costs ~80-100 us on our machines (as much as ~150
//! in-guest syscalls), so requests are batched: the sentry fills up to
//! [`MAX_BATCH`] [`Request`]s in the hypercall page, writes the count to
//! [`HypercallPage::count`] and rings the doorbell once (x86_64: a 32-bit
//! `out` to [`DOORBELL_PORT`]; aarch64: a 32-bit store to
//! [`crate::aarch64::KVM_DOORBELL_GPA`], an MMIO exit). The VMM carries out the requests in order,
//! writes each one's `result` (a non-negative value or a negated Linux errno)
//! and resumes the vCPU. Requests after an `Exit` or `Panic` are not run.
//! Console output does not use requests: it goes through the console ring
//! (`crate::console`), which the VMM drains before running any batch.
//!
//! The VMM treats every field as hostile: guest addresses must lie inside
//! guest RAM, lengths are bounded by [`MAX_TRANSFER`], unknown ops get
//! `-ENOSYS`.
//!
//! What the VMM has to say without being asked (signals sent to it, stdin
//! readiness, completions) travels the other way, in the event ring
//! (`crate::events`). `ConsolePoll` ends early (result 0) and `ConsoleRead`
//! ends with `-EINTR` before taking input when events wait there.

/// x86_64 doorbell: `out %eax, $DOORBELL_PORT` (eax is ignored).
pub const DOORBELL_PORT: u16 = 0x00e0;
/// Requests per batch: the page holds a 16-byte header and 64-byte requests.
pub const MAX_BATCH: usize = 63;
/// Largest byte count a single request may move.
pub const MAX_TRANSFER: u64 = 1 << 20;
/// Largest range one [`Op::RamPrefault`] may name.
pub const MAX_PREFAULT: u64 = 8 << 20;

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
    /// No args. The host-file ring's I/O thread sleeps (`crate::fsring`):
    /// serve the ring's pending batch now and wake the thread. Result: 0.
    FsRingWake = 7,
    /// args: [span_ns (u64::MAX: none)]. A one-shot timer: `span_ns` from
    /// now the VMM kicks the vCPU and publishes
    /// [`crate::events::EVENT_TIMER`]; it replaces the previous one. For a
    /// blocked task's deadline that comes while other tasks run (an idle
    /// sentry sleeps in `ConsolePoll` instead). Result: 0.
    SetTimer = 8,
    /// args: [gpa, len]. A hint: the sentry will soon use this never-used
    /// guest RAM (the frames after its allocator's bump pointer). The VMM
    /// backs it with host pages in the background, off the vCPU's path, so
    /// that the host's shadow MMU finds it resident and maps each first
    /// touch together with its neighbours (docs/PLATFORM-x86-kvm.md).
    /// Changes no contents. Result: 0, or EINVAL (not inside guest RAM,
    /// longer than [`MAX_PREFAULT`]). May travel in the host-file ring.
    RamPrefault = 9,

    // Shared host directories (`--mount`). Handles name open host files:
    // handle i < mount count is the root of mount i; the others come from
    // HostLookup / HostCreate / HostReopen. Names are single path
    // components (no '/', not "." or ".."); the VMM resolves them strictly
    // beneath the handle without following symlinks (the sentry resolves
    // symlinks itself, inside the sandbox). Mutations on a read-only mount
    // fail with EROFS. A `stat_gpa` receives a Linux x86_64 `struct stat`.
    /// args: [dir, name_gpa, name_len, stat_gpa]. Result: a new handle.
    HostLookup = 10,
    /// args: [handle, open flags (O_ACCMODE | O_DIRECTORY)]. Result: a new
    /// handle for I/O on the same file.
    HostReopen = 11,
    /// args: [handle, offset, gpa, len]. Result: bytes read.
    HostRead = 12,
    /// args: [handle, offset, gpa, len]. Result: bytes written.
    HostWrite = 13,
    /// args: [handle, stat_gpa].
    HostStat = 14,
    /// args: [handle, cookie, gpa, len]. Fills [`HostDirent`] records from
    /// entry number `cookie` on. Result: bytes used (0: no more entries).
    HostReaddir = 15,
    /// args: [dir, buf_gpa, name_len, target_len, kind | mode << 8, stat_gpa];
    /// buf holds the name then (symlinks) the target. Kinds: HOST_CREATE_*.
    /// Result: a new handle.
    HostCreate = 16,
    /// args: [dir, name_gpa, name_len, is_dir].
    HostUnlink = 17,
    /// args: [old_dir, new_dir, buf_gpa, old_len, new_len, renameat2 flags];
    /// buf holds the old name then the new name.
    HostRename = 18,
    /// args: [target, new_dir, name_gpa, name_len].
    HostLink = 19,
    /// args: [handle, gpa, len]. Result: bytes of the link target.
    HostReadlink = 20,
    /// args: [handle, size].
    HostTruncate = 21,
    /// args: [handle, what (HOST_SETATTR_*), a, b, c, d].
    HostSetattr = 22,
    /// args: [handle].
    HostFsync = 23,
    /// args: [handle].
    HostClose = 24,
    /// args: [handle, gpa]: the statfs of the host filesystem holding the
    /// file, as a [`HostStatfs`] (statfs/fstatfs report the host's type).
    HostStatfs = 25,

    // Processes started from the host (`rvisor-runtime exec`, see
    // [`crate::events::EVENT_EXEC`]). A slot names one such request.
    /// args: [slot, gpa, len]. Copies the request ([`crate::exec`]) into
    /// guest memory. Result: its length (ENOENT: no such slot, ERANGE:
    /// longer than len).
    ExecRequest = 30,
    /// args: [slot, gpa, len]. Reads the process's stdin without waiting.
    /// Result: bytes read, 0 at end of input; EAGAIN when nothing is
    /// there yet, and then [`crate::events::EVENT_EXEC_INPUT`] follows
    /// once something is.
    ExecInput = 31,
    /// args: [slot, wait status (Linux encoding)]. The process ended: its
    /// stdio is closed and the status goes to whoever asked for it.
    ExecExit = 32,
}

pub const HOST_CREATE_FILE: u64 = 1;
pub const HOST_CREATE_DIR: u64 = 2;
pub const HOST_CREATE_SYMLINK: u64 = 3;
/// a = mode.
pub const HOST_SETATTR_MODE: u64 = 1;
/// a, b = atime sec, nsec; c, d = mtime sec, nsec (nsec may be UTIME_NOW
/// or UTIME_OMIT).
pub const HOST_SETATTR_TIMES: u64 = 2;
/// a = uid, b = gid (u32::MAX: unchanged).
pub const HOST_SETATTR_OWNER: u64 = 3;

/// A directory entry as HostReaddir writes it: this header, then the name,
/// padded to 8 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct HostDirent {
    pub ino: u64,
    /// Cookie of the entry after this one.
    pub next: u64,
    /// `d_type`.
    pub kind: u8,
    pub name_len: u8,
    pub _pad: [u8; 6],
}

pub const HOST_DIRENT_SIZE: usize = core::mem::size_of::<HostDirent>();

/// What a `stat_gpa` receives: the Linux x86_64 kernel `struct stat`, on
/// every host (the sentry converts it for aarch64 programs itself).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostStat {
    pub dev: u64,
    pub ino: u64,
    pub nlink: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub _pad0: u32,
    pub rdev: u64,
    pub size: i64,
    pub blksize: i64,
    pub blocks: i64,
    pub atime: i64,
    pub atime_nsec: i64,
    pub mtime: i64,
    pub mtime_nsec: i64,
    pub ctime: i64,
    pub ctime_nsec: i64,
    pub _unused: [i64; 3],
}

/// What [`Op::HostStatfs`] writes: the Linux 64-bit `struct statfs`
/// (f_type, f_bsize, f_blocks, f_bfree, f_bavail, f_files, f_ffree,
/// f_fsid, f_namelen, f_frsize, f_flags, spare).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostStatfs {
    pub fields: [u64; 15],
}

impl Op {
    /// A request about shared host directories (may travel in the
    /// host-file ring, `crate::fsring`).
    pub fn is_host_file(self) -> bool {
        (Op::HostLookup as u32..=Op::HostStatfs as u32).contains(&(self as u32))
    }

    /// What the host-file ring carries: host-file requests and the
    /// hints that ride along with them.
    pub fn rides_fs_ring(self) -> bool {
        self.is_host_file() || self == Op::RamPrefault
    }

    pub fn from_raw(raw: u32) -> Option<Op> {
        Some(match raw {
            1 => Op::ConsoleDrain,
            2 => Op::ConsoleRead,
            3 => Op::ConsolePoll,
            5 => Op::Exit,
            6 => Op::Panic,
            7 => Op::FsRingWake,
            8 => Op::SetTimer,
            9 => Op::RamPrefault,
            10 => Op::HostLookup,
            11 => Op::HostReopen,
            12 => Op::HostRead,
            13 => Op::HostWrite,
            14 => Op::HostStat,
            15 => Op::HostReaddir,
            16 => Op::HostCreate,
            17 => Op::HostUnlink,
            18 => Op::HostRename,
            19 => Op::HostLink,
            20 => Op::HostReadlink,
            21 => Op::HostTruncate,
            22 => Op::HostSetattr,
            23 => Op::HostFsync,
            24 => Op::HostClose,
            25 => Op::HostStatfs,
            30 => Op::ExecRequest,
            31 => Op::ExecInput,
            32 => Op::ExecExit,
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
    /// 2 MiB blocks mapped for anonymous memory, sandbox-wide.
    pub block_mappings: u64,
    /// Bytes of memory fork copied (pages; blocks are shared), sandbox-wide.
    pub fork_copied_bytes: u64,
    /// Guest counter ticks spent waiting for host-file batches (ring and
    /// exits), sandbox-wide.
    pub host_file_wait_tsc: u64,
}

/// Where request `i` starts in the hypercall page, and where its result is.
pub const fn request_offset(i: usize) -> u64 {
    (core::mem::offset_of!(HypercallPage, requests) + i * core::mem::size_of::<Request>()) as u64
}
pub const RESULT_OFFSET: u64 = core::mem::offset_of!(Request, result) as u64;
pub const COUNT_OFFSET: u64 = core::mem::offset_of!(HypercallPage, count) as u64;

const _: () = assert!(core::mem::size_of::<Request>() == 64);
const _: () = assert!(core::mem::size_of::<HypercallPage>() <= 4096);
