//! What every side of rvisor agrees on: the VMM (`vmm/`), the sentry
//! (`guest-kernel/`) and `qemu-runner/` all build against this crate.
//!
//! * [`bootinfo`]: the structure the loader hands the sentry at entry.
//! * [`hypercall`]: the batched request/response channel between the sentry
//!   and the VMM.
//! * [`console`]: the console output ring the VMM drains without exits.
//! * [`exec`]: a request for a new process in a running sandbox.
//! * [`events`]: the event ring the VMM fills for the sentry (stdin
//!   readiness, forwarded signals, completions).
//! * [`elf`]: the rules a program's ELF must follow to be loaded (the VMM's
//!   check and the sentry's loader).
//! * [`x86_64`]: the physical and virtual memory layout of the `kvm-x86_64`
//!   board (the one `rvisor-vmm` builds on x86_64 hosts).
//! * [`aarch64`]: the memory layout of the aarch64 boards;
//!   [`qemu_aarch64_virt`]: devices and exit protocol of the bare-metal
//!   aarch64 board.
//! * [`board`]: the board descriptions (`kvm-x86_64`, `qemu-x86_64`,
//!   `kvm-aarch64`, `qemu-aarch64-virt`), see `docs/BOARDS.md`.
//! * [`qemu_x86_64`]: devices and exit-status protocol of the bare-metal
//!   x86_64 board; [`pvh`]: the PVH start info it boots with;
//!   [`payload`]: how an image carries the application and its argv.
//! * `build` (feature `build`, std): builds the sentry from a build script.
//!
//! Everything here is `#[repr(C)]` plain data with fixed-width fields, so the
//! layout is the same for the host (std) and the guest (no_std) compiler.
#![no_std]

pub mod aarch64;
pub mod board;
pub mod bootinfo;
#[cfg(feature = "build")]
pub mod build;
pub mod console;
pub mod elf;
pub mod events;
pub mod exec;
pub mod fsring;
pub mod hypercall;
pub mod netring;
pub mod payload;
pub mod pvh;
pub mod qemu_aarch64_virt;
pub mod qemu_x86_64;
pub mod x86_64;

/// Which x86_64 platform backend the sentry must use (see
/// `docs/PLATFORM-x86-kvm.md`). The VMM detects it; the guest never guesses.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Platform {
    /// Plain ring 0 (hardware KVM, or bare metal under QEMU).
    Native = 1,
    /// The paravirtual `kvm_pvm` host: vIF registration, paired page tables,
    /// `int $0x19` / `int $0x17` returns to user mode.
    Pvm = 2,
}

impl Platform {
    pub fn from_raw(raw: u32) -> Option<Platform> {
        match raw {
            1 => Some(Platform::Native),
            2 => Some(Platform::Pvm),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Platform::Native => "native",
            Platform::Pvm => "pvm",
        }
    }
}

/// Rounds `value` up to a multiple of `align` (a power of two).
pub const fn align_up(value: u64, align: u64) -> u64 {
    (value + align - 1) & !(align - 1)
}

/// A shared layout as bytes: the `repr(C)` records of this crate that travel
/// between the sentry and the VMM through guest memory. Both sides read and
/// write them whole with these two functions, so no side repeats an offset
/// or a size by hand.
///
/// # Safety
/// Implement only for `repr(C)` structs of integer fields (and arrays of
/// them) with no implicit padding (checked by a size assertion next to
/// each implementation): every byte pattern is then a valid value, and
/// every byte of a value is initialised.
pub unsafe trait Wire: Copy + Sized {
    /// The value's bytes, as the other side reads them.
    fn as_bytes(&self) -> &[u8] {
        // SAFETY: the trait's contract: no padding, so every byte of `self`
        // is initialised; the slice covers exactly the value.
        unsafe {
            core::slice::from_raw_parts(
                self as *const Self as *const u8,
                core::mem::size_of::<Self>(),
            )
        }
    }

    /// A value read from the first `size_of::<Self>()` bytes of `bytes`
    /// (None if there are fewer).
    fn read_from(bytes: &[u8]) -> Option<Self> {
        let bytes = bytes.get(..core::mem::size_of::<Self>())?;
        // SAFETY: the trait's contract: any byte pattern is a valid value;
        // the source holds size_of::<Self>() bytes; read_unaligned copes
        // with any alignment.
        Some(unsafe { core::ptr::read_unaligned(bytes.as_ptr() as *const Self) })
    }
}

/// Implements [`Wire`] for records whose size equals the sum of their
/// fields' sizes (no padding).
macro_rules! wire {
    ($($ty:ty = $size:expr),* $(,)?) => {$(
        // SAFETY: repr(C) integer fields; the assertion below proves there
        // is no padding.
        unsafe impl $crate::Wire for $ty {}
        const _: () = assert!(core::mem::size_of::<$ty>() == $size);
    )*};
}

wire!(
    hypercall::Request = 4 + 4 + 6 * 8 + 8,
    hypercall::ExitStats = 8 * 8,
    hypercall::HostDirent = 8 + 8 + 1 + 1 + 6,
    hypercall::HostStat = 144,
    hypercall::HostStatfs = 15 * 8,
    bootinfo::MountRecord = 4 + 4,
    bootinfo::BootInfo = 8
        + 4
        + 4
        + 8
        + bootinfo::MAX_MEMORY_REGIONS * 24
        + 4
        + 4
        + 8
        + 8
        + 3 * 16
        + 4
        + 4
        + 2 * 16
        + 4
        + 4
        + 8 * 4
        + 32
        + 8
        + 4
        + 4
        + bootinfo::TERMIOS_SIZE
        + 8
        + 4
        + bootinfo::RLIMIT_COUNT * 16
        + 2 * 16
        + 16
        + 8
        + 16
        + 16
        + 4
        + 4
        + bootinfo::HOSTNAME_SIZE,
    console::HostWriteHeader = 16,
    events::Event = 4 + 4 + 3 * 8,
    events::EventRingHeader = 8 + 7 * 8 + 8 + 4 + 13 * 4,
    netring::NetHeader = 128,
    netring::NetRequest = 64,
    netring::NetCompletion = 64,
    netring::NetSlot = 64,
    netring::DgramHeader = 24,
    fsring::FsRingHeader = 8 + 4 + 4 + 6 * 8 + 8 + 4 + 4 + 6 * 8,
);
