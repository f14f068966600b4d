//! Architecture layers. Each exposes the same small surface to the rest of
//! the sentry: entry and traps, `UserContext`, page tables, cpu helpers,
//! and the few facts the Linux ABI needs about the architecture:
//!
//! * `PAGE_SIZE`, `USER_END`; `ELF_MACHINE`, `PLATFORM` (AT_PLATFORM),
//!   `UNAME_MACHINE`, `hwcap()` (AT_HWCAP);
//! * `syscall_number(&ctx)`, `syscall_args(&ctx)`, `set_syscall_result`;
//! * `cpu::counter()` (TSC / CNTVCT_EL0; its frequency arrives in
//!   `BootInfo::tsc_khz`), `cpu::cpuinfo()` (/proc/cpuinfo);
//! * `paging::UserPageTable` with the same API on every architecture;
//! * `qemu`: the bare-metal board drivers `hv::local` uses.

#[cfg(target_arch = "x86_64")]
pub mod x86_64;
#[cfg(target_arch = "x86_64")]
pub use self::x86_64::*;

#[cfg(target_arch = "aarch64")]
pub mod aarch64;
#[cfg(target_arch = "aarch64")]
pub use self::aarch64::*;

/// The user-mode trap kinds the arch-neutral sentry distinguishes; each
/// architecture's `decode_trap` maps its exception into one (integer
/// division by zero does not trap on aarch64, and its tick arrives as an
/// interrupt instead).
#[cfg_attr(target_arch = "aarch64", allow(dead_code))]
pub enum UserTrap {
    PageFault {
        addr: u64,
        write: bool,
        exec: bool,
    },
    /// The 10 ms preemption tick (x86_64: `boards::x86_64::TICK_VECTOR`).
    Tick,
    /// The VMM's nudge after it published an event in the event ring
    /// (x86_64: `boards::x86_64::EVENT_VECTOR`).
    HostEvent,
    DivideError,
    InvalidOpcode,
    GeneralProtection,
    Breakpoint,
    FloatingPoint,
    AlignmentCheck,
    Other(u64),
}
