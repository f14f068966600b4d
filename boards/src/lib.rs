//! What every side of rvisor agrees on: the VMM (`vmm/`), the sentry
//! (`guest-kernel/`) and `qemu-runner/` all build against this crate.
//!
//! * [`bootinfo`]: the structure the loader hands the sentry at entry.
//! * [`hypercall`]: the batched request/response channel between the sentry
//!   and the VMM.
//! * [`console`]: the console output ring the VMM drains without exits.
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
pub mod hypercall;
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
