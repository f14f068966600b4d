//! The `qemu-aarch64-virt` board: the devices the sentry drives when QEMU
//! boots it bare-metal (`-kernel IMAGE`, Linux arm64 Image protocol) and the
//! exit-status protocol `qemu-runner` decodes.
//!
//! * stdout: the PL011 UART ([`crate::aarch64::PL011_BASE`]).
//! * stderr and the sentry's own messages: the Arm semihosting console
//!   (`SYS_WRITE0`/`SYS_WRITEC`), which QEMU sends to the chardev named in
//!   `-semihosting-config enable=on,target=native,chardev=ID`.
//! * exit: semihosting `SYS_EXIT_EXTENDED` with reason
//!   `ADP_Stopped_ApplicationExit` and the status (exited: the code;
//!   signaled: 128 + signal; panic: [`PANIC_STATUS`]). QEMU exits at once
//!   with exactly that status (0..255), so the status needs no side channel.
//!
//! The Linux arm64 Image is the sentry's loadable segments, flattened, its
//! bss as zeros, then the payload ([`crate::payload`]) at the first 4 KiB
//! boundary after the bss, where the sentry looks for it.

/// Semihosting operations (Arm's "Semihosting for AArch32 and AArch64").
pub const SYS_WRITEC: u64 = 0x03;
pub const SYS_WRITE0: u64 = 0x04;
pub const SYS_EXIT_EXTENDED: u64 = 0x20;
/// `SYS_EXIT_EXTENDED` reason: the application exited, with a status.
pub const ADP_STOPPED_APPLICATION_EXIT: u64 = 0x20026;
/// Status reported when the sentry itself failed (as rvisor-vmm's 125).
pub const PANIC_STATUS: u32 = 125;
/// Offset of the Linux arm64 Image magic `ARM\x64` in the image header.
pub const IMAGE_MAGIC_OFFSET: usize = 56;
pub const IMAGE_MAGIC: u32 = 0x644d_5241;
