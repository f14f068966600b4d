//! The `qemu-x86_64` board: the devices the sentry drives when it boots
//! bare-metal under QEMU (PVH), and the exit-status protocol `qemu-runner`
//! decodes.
//!
//! Exit status: when the application ends, the sentry
//! 1. writes one line `RVISOR-EXIT <kind> <code>\n` to QEMU's
//!    `isa-debugcon` at [`DEBUGCON_PORT`] (kind: `exited`, `signaled` or
//!    `panic`), which carries the full status, then
//! 2. writes the status (exited: the code; signaled: 128 + signal;
//!    panic: [`PANIC_STATUS`]) to `isa-debug-exit` at [`DEBUG_EXIT_PORT`]:
//!    QEMU exits at once with `(status << 1) | 1`, so without the status
//!    line the low 7 bits are still `(qemu_status - 1) / 2`.
//!
//! A triple fault (the sentry crashed hard) makes QEMU reset; with
//! `-no-reboot` it exits 0 instead, with no status line: qemu-runner reports
//! that as a crash.

/// COM1: the application's stdout (and stderr when COM2 is absent).
pub const COM1_PORT: u16 = 0x3f8;
/// COM2: the application's stderr and the sentry's log lines, if present.
pub const COM2_PORT: u16 = 0x2f8;
/// QEMU `isa-debugcon` (the "port 0xe9 hack"): the exit-status line.
pub const DEBUGCON_PORT: u16 = 0xe9;
/// QEMU `isa-debug-exit,iobase=0xf4,iosize=0x04`.
pub const DEBUG_EXIT_PORT: u16 = 0xf4;
pub const DEBUG_EXIT_IOSIZE: u16 = 4;
/// Prefix of the exit-status line.
pub const EXIT_LINE_PREFIX: &str = "RVISOR-EXIT ";
/// Status reported when the sentry itself failed (as rvisor-vmm's 125).
pub const PANIC_STATUS: u32 = 125;
/// The sentry maps physical memory below this (2 MiB pages); RAM above it
/// is not used.
pub const DIRECT_MAP_LIMIT: u64 = 4 << 30;
