//! Time from the guest's counter (the TSC on x86_64, CNTVCT_EL0 on aarch64;
//! "tsc" below means that counter): the loader tells us its frequency and the
//! host's wall-clock time at boot, so reading the time never leaves the VM.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::arch::cpu;

static TSC_KHZ: AtomicU64 = AtomicU64::new(0);
static BOOT_TSC: AtomicU64 = AtomicU64::new(0);
static BOOT_REALTIME_NS: AtomicU64 = AtomicU64::new(0);
static BOOT_MONOTONIC_NS: AtomicU64 = AtomicU64::new(0);
static BOOT_BOOTTIME_NS: AtomicU64 = AtomicU64::new(0);

/// The host's clocks at boot (monotonic, boottime), when known.
pub fn set_host_clocks(monotonic_ns: u64, boottime_ns: u64) {
    BOOT_MONOTONIC_NS.store(monotonic_ns, Ordering::Relaxed);
    BOOT_BOOTTIME_NS.store(boottime_ns, Ordering::Relaxed);
}

/// ns = (ticks * MULT) >> MULT_SHIFT: the same scaling as the vDSO's, so
/// time read through a syscall and through the vDSO agree to the ns.
static MULT: AtomicU64 = AtomicU64::new(1 << MULT_SHIFT);
pub const MULT_SHIFT: u32 = 32;

pub fn init(tsc_khz: u64, boot_tsc: u64, boot_realtime_ns: u64) {
    // Without a frequency from the loader, assume 1 GHz rather than divide
    // by zero (the VMM always provides it; bare metal may not).
    let khz = if tsc_khz == 0 { 1_000_000 } else { tsc_khz };
    TSC_KHZ.store(khz, Ordering::Relaxed);
    MULT.store(
        ((1_000_000u128 << MULT_SHIFT) / khz as u128) as u64,
        Ordering::Relaxed,
    );
    BOOT_TSC.store(boot_tsc, Ordering::Relaxed);
    BOOT_REALTIME_NS.store(boot_realtime_ns, Ordering::Relaxed);
}

pub fn tsc_to_ns(ticks: u64) -> u64 {
    ((ticks as u128 * MULT.load(Ordering::Relaxed) as u128) >> MULT_SHIFT) as u64
}

/// What the vDSO needs to tell the time (the vvar page's contents).
#[repr(C)]
#[derive(Clone, Copy, Debug, zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::Immutable)]
pub struct TimeParameters {
    pub counter_base: u64,
    pub mult: u64,
    pub shift: u32,
    pub _pad: u32,
    pub realtime_base_ns: u64,
    pub monotonic_base_ns: u64,
    pub boottime_base_ns: u64,
}

pub fn parameters() -> TimeParameters {
    TimeParameters {
        counter_base: BOOT_TSC.load(Ordering::Relaxed),
        mult: MULT.load(Ordering::Relaxed),
        shift: MULT_SHIFT,
        _pad: 0,
        realtime_base_ns: BOOT_REALTIME_NS.load(Ordering::Relaxed),
        monotonic_base_ns: BOOT_MONOTONIC_NS.load(Ordering::Relaxed),
        boottime_base_ns: BOOT_BOOTTIME_NS.load(Ordering::Relaxed),
    }
}

pub fn tsc_khz() -> u64 {
    TSC_KHZ.load(Ordering::Relaxed)
}

pub fn boot_tsc() -> u64 {
    BOOT_TSC.load(Ordering::Relaxed)
}

/// Nanoseconds since the sentry started.
pub fn since_boot_ns() -> u64 {
    tsc_to_ns(cpu::counter().wrapping_sub(BOOT_TSC.load(Ordering::Relaxed)))
}

/// CLOCK_MONOTONIC: continues the host's monotonic clock.
pub fn monotonic_ns() -> u64 {
    BOOT_MONOTONIC_NS.load(Ordering::Relaxed) + since_boot_ns()
}

/// CLOCK_BOOTTIME (and /proc/uptime): continues the host's.
pub fn boottime_ns() -> u64 {
    BOOT_BOOTTIME_NS.load(Ordering::Relaxed) + since_boot_ns()
}

/// Nanoseconds since the Unix epoch (CLOCK_REALTIME).
pub fn realtime_ns() -> u64 {
    BOOT_REALTIME_NS.load(Ordering::Relaxed) + since_boot_ns()
}
