//! Drivers for the bare-metal `qemu-aarch64-virt` board (see
//! `boards::qemu_aarch64_virt` and docs/BOARDS.md): the PL011 UART carries
//! stdout; the Arm semihosting console carries stderr and the sentry's own
//! messages; semihosting `SYS_EXIT_EXTENDED` ends QEMU with the status;
//! the PL031 RTC gives the wall clock; RNDR (when present) the random seed.
//! Everything is polled, with interrupts masked; waits sleep in `wfi` until
//! the generic timer's interrupt (`gic`).

use core::sync::atomic::{AtomicBool, Ordering};

use boards::aarch64::{PL011_BASE, PL031_BASE};
use boards::qemu_aarch64_virt::*;

use super::cpu;
use super::paging::phys_to_virt;

/// Set when the sentry booted bare-metal and drives these devices.
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// True when the sentry runs without a VMM on the qemu-aarch64-virt board.
pub fn active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

const UART_DR: u64 = 0x00;
const UART_FR: u64 = 0x18;
const UART_CR: u64 = 0x30;
const FR_TXFF: u32 = 1 << 5;
const CR_UARTEN: u32 = 1 << 0;
const CR_TXE: u32 = 1 << 8;

fn mmio_read(phys: u64) -> u32 {
    // SAFETY: `phys` is a register of one of the board's devices, mapped
    // as Device memory by the boot tables; reading it has no memory effect.
    unsafe { core::ptr::read_volatile(phys_to_virt(phys) as *const u32) }
}

fn mmio_write(phys: u64, value: u32) {
    // SAFETY: as for `mmio_read`; the devices written (PL011) do no DMA.
    unsafe { core::ptr::write_volatile(phys_to_virt(phys) as *mut u32, value) }
}

/// Sets up the UART; called first thing on the bare-metal path.
pub fn init() {
    ACTIVE.store(true, Ordering::Relaxed);
    mmio_write(PL011_BASE + UART_CR, CR_UARTEN | CR_TXE);
}

fn uart_write(bytes: &[u8]) {
    for &byte in bytes {
        // Bounded wait for room in the transmit FIFO.
        for _ in 0..100_000 {
            if mmio_read(PL011_BASE + UART_FR) & FR_TXFF == 0 {
                break;
            }
        }
        mmio_write(PL011_BASE + UART_DR, byte as u32);
    }
}

/// One semihosting call (`hlt #0xf000`): `op` in w0, the parameter in x1;
/// returns x0.
fn semihosting(op: u64, param: u64) -> u64 {
    let result: u64;
    // SAFETY: QEMU (-semihosting) serves the call; it reads only the memory
    // `param` points at, which callers keep alive for the call.
    unsafe {
        core::arch::asm!("hlt #0xf000", inout("x0") op => result, in("x1") param, options(nostack))
    }
    result
}

/// Writes bytes to the semihosting console (NUL bytes one at a time with
/// SYS_WRITEC, the rest in NUL-terminated pieces with SYS_WRITE0).
fn semihosting_write(bytes: &[u8]) {
    let mut buf = [0u8; 257];
    for (i, piece) in bytes.split(|&b| b == 0).enumerate() {
        if i > 0 {
            let nul = 0u8;
            semihosting(SYS_WRITEC, &nul as *const u8 as u64);
        }
        for chunk in piece.chunks(256) {
            buf[..chunk.len()].copy_from_slice(chunk);
            buf[chunk.len()] = 0;
            semihosting(SYS_WRITE0, buf.as_ptr() as u64);
        }
    }
}

/// Console output: stdout to the PL011, everything else (stderr, sentry
/// log lines) to the semihosting console.
pub fn console_write(stdout: bool, bytes: &[u8]) {
    if stdout {
        uart_write(bytes);
    } else {
        semihosting_write(bytes);
    }
}

/// How the run ended.
#[derive(Clone, Copy)]
pub enum Ending {
    Exited(u8),
    Signaled(u8),
    Panic,
}

/// Ends QEMU with the application's status (semihosting SYS_EXIT_EXTENDED).
pub fn exit(ending: Ending) -> ! {
    let status = match ending {
        Ending::Exited(code) => code as u64,
        Ending::Signaled(signal) => 128 + signal as u64,
        Ending::Panic => PANIC_STATUS as u64,
    };
    let block = [ADP_STOPPED_APPLICATION_EXIT, status];
    semihosting(SYS_EXIT_EXTENDED, block.as_ptr() as u64);
    cpu::halt_forever()
}

/// Reports a boot failure on the semihosting console and stops.
pub fn fail(why: &str) -> ! {
    semihosting_write(b"rvisor: sentry: boot failed: ");
    semihosting_write(why.as_bytes());
    semihosting_write(b"\n");
    exit(Ending::Panic)
}

/// The wall clock from the PL031 RTC (seconds since the epoch, UTC), if it
/// reads as a plausible date (after 2000).
pub fn rtc_realtime_ns() -> Option<u64> {
    let seconds = mmio_read(PL031_BASE) as u64;
    (seconds > 946_684_800).then_some(seconds * 1_000_000_000)
}

/// A seed for the sentry's CSPRNG: RNDR when the CPU has it, mixed with the
/// counter. Without RNDR it is counter-derived only, which is weak.
pub fn random_seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    for (i, chunk) in seed.chunks_mut(8).enumerate() {
        let mut value = cpu::counter().rotate_left(17 * i as u32) ^ 0x9e37_79b9_7f4a_7c15;
        if let Some(random) = cpu::rndr() {
            value ^= random;
        }
        chunk.copy_from_slice(&value.to_le_bytes());
    }
    seed
}

/// Waits `ns` nanoseconds (u64::MAX: forever): asleep in `wfi` until the
/// generic timer's interrupt (see `gic`), or spinning on the counter when
/// the GIC is not set up.
pub fn delay_ns(ns: u64) {
    let start = cpu::counter();
    let khz = crate::sentry::time::tsc_khz().max(1);
    let ticks = (ns as u128 * khz as u128 / 1_000_000).min(u64::MAX as u128) as u64;
    let deadline = start.saturating_add(ticks);
    if super::gic::ready() {
        return super::gic::sleep_until(deadline);
    }
    while cpu::counter() < deadline {
        core::hint::spin_loop();
    }
}
