//! Time from the guest TSC: the loader tells us its frequency and the host's
//! wall-clock time at boot, so reading the time never leaves the VM.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::arch::cpu;

static TSC_KHZ: AtomicU64 = AtomicU64::new(0);
static BOOT_TSC: AtomicU64 = AtomicU64::new(0);
static BOOT_REALTIME_NS: AtomicU64 = AtomicU64::new(0);

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

/// Nanoseconds since the sentry started (CLOCK_MONOTONIC, CLOCK_BOOTTIME).
pub fn monotonic_ns() -> u64 {
    tsc_to_ns(cpu::rdtsc().wrapping_sub(BOOT_TSC.load(Ordering::Relaxed)))
}

/// Nanoseconds since the Unix epoch (CLOCK_REALTIME).
pub fn realtime_ns() -> u64 {
    BOOT_REALTIME_NS.load(Ordering::Relaxed) + monotonic_ns()
}
