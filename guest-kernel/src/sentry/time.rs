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

pub fn init(tsc_khz: u64, boot_tsc: u64, boot_realtime_ns: u64) {
    // Without a frequency from the loader, assume 1 GHz rather than divide
    // by zero (the VMM always provides it; bare metal may not).
    TSC_KHZ.store(
        if tsc_khz == 0 { 1_000_000 } else { tsc_khz },
        Ordering::Relaxed,
    );
    BOOT_TSC.store(boot_tsc, Ordering::Relaxed);
    BOOT_REALTIME_NS.store(boot_realtime_ns, Ordering::Relaxed);
}

pub fn tsc_to_ns(ticks: u64) -> u64 {
    let khz = TSC_KHZ.load(Ordering::Relaxed).max(1);
    ((ticks as u128 * 1_000_000) / khz as u128) as u64
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
