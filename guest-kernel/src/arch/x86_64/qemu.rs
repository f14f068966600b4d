//! Drivers for the bare-metal `qemu-x86_64` board (see
//! `boards::qemu_x86_64` and docs/BOARDS.md): 16550 UARTs for the console,
//! the exit-status line (isa-debugcon) and power-off (isa-debug-exit), the
//! TSC frequency (PIT), the wall clock (CMOS RTC), a random seed (RDRAND)
//! and the preemption tick (local APIC timer). Everything is polled with
//! interrupts masked in the sentry; only the tick interrupts the program.

use core::fmt::Write;
use core::sync::atomic::{AtomicBool, AtomicU16, Ordering};

use boards::qemu_x86_64::*;

use super::cpu::{self, inb, outb, outl};

/// Set when the sentry booted bare-metal (PVH) and drives these devices.
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// The UART stderr goes to: COM2 when the board has one, else COM1.
static STDERR_PORT: AtomicU16 = AtomicU16::new(COM1_PORT);

/// True when the sentry runs without a VMM on the qemu-x86_64 board.
pub fn active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

fn uart_present(port: u16) -> bool {
    // The scratch register keeps what is written; an absent port reads
    // back all ones (or nothing useful).
    outb(port + 7, 0x5a);
    let a = inb(port + 7);
    outb(port + 7, 0xa5);
    let b = inb(port + 7);
    a == 0x5a && b == 0xa5
}

fn uart_init(port: u16) {
    outb(port + 1, 0x00); // no interrupts
    outb(port + 3, 0x80); // DLAB
    outb(port, 0x01); // divisor 1: 115200 baud
    outb(port + 1, 0x00);
    outb(port + 3, 0x03); // 8N1
    outb(port + 2, 0xc7); // FIFOs on, cleared
    outb(port + 4, 0x03); // DTR, RTS
}

/// Sets up the UARTs; called first thing on the PVH path.
pub fn init() {
    ACTIVE.store(true, Ordering::Relaxed);
    uart_init(COM1_PORT);
    if uart_present(COM2_PORT) {
        uart_init(COM2_PORT);
        STDERR_PORT.store(COM2_PORT, Ordering::Relaxed);
    }
}

fn uart_write(port: u16, bytes: &[u8]) {
    for &byte in bytes {
        // Wait for the transmit holding register (bounded: a missing UART
        // reads 0xff, which looks ready).
        for _ in 0..100_000 {
            if inb(port + 5) & 0x20 != 0 {
                break;
            }
        }
        outb(port, byte);
    }
}

/// Console output: stream 1 (stdout) to COM1, everything else (stderr,
/// sentry log lines) to the stderr UART.
pub fn console_write(stdout: bool, bytes: &[u8]) {
    let port = if stdout {
        COM1_PORT
    } else {
        STDERR_PORT.load(Ordering::Relaxed)
    };
    uart_write(port, bytes);
}

/// How the run ended, for the exit-status line.
#[derive(Clone, Copy)]
pub enum Ending {
    Exited(u8),
    Signaled(u8),
    Panic,
}

struct PortWriter(u16);

impl Write for PortWriter {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for byte in s.bytes() {
            outb(self.0, byte);
        }
        Ok(())
    }
}

/// Reports the status (debugcon line, then isa-debug-exit) and stops.
pub fn exit(ending: Ending) -> ! {
    let (kind, code, status) = match ending {
        Ending::Exited(code) => ("exited", code as u32, code as u32),
        Ending::Signaled(signal) => ("signaled", signal as u32, 128 + signal as u32),
        Ending::Panic => ("panic", PANIC_STATUS, PANIC_STATUS),
    };
    let _ = writeln!(PortWriter(DEBUGCON_PORT), "{EXIT_LINE_PREFIX}{kind} {code}");
    outl(DEBUG_EXIT_PORT, status);
    // No isa-debug-exit device: nothing else can end the machine.
    cpu::halt_forever()
}

/// A fatal error before the sentry is up: message on stderr, then exit.
pub fn fail(why: &str) -> ! {
    console_write(false, b"rvisor: boot failed: ");
    console_write(false, why.as_bytes());
    console_write(false, b"\n");
    exit(Ending::Panic)
}

const PIT_HZ: u64 = 1_193_182;

/// Reads PIT channel 0's counter (counts down).
fn pit_counter() -> u16 {
    outb(0x43, 0x00); // latch channel 0
    let lo = inb(0x40) as u16;
    let hi = inb(0x40) as u16;
    (hi << 8) | lo
}

/// The TSC frequency in kHz: CPUID leaf 0x15 when it names the crystal,
/// else measured against the PIT over ~10 ms (good to ~1%), else CPUID
/// 0x16's base frequency, else 0 (the sentry then assumes 1 GHz).
pub fn tsc_khz() -> u64 {
    let max_leaf = cpu::cpuid(0, 0).eax;
    if max_leaf >= 0x15 {
        let leaf = cpu::cpuid(0x15, 0);
        if leaf.eax != 0 && leaf.ebx != 0 && leaf.ecx != 0 {
            return leaf.ecx as u64 * leaf.ebx as u64 / leaf.eax as u64 / 1000;
        }
    }
    if let Some(khz) = pit_calibrate() {
        return khz;
    }
    if max_leaf >= 0x16 {
        let mhz = cpu::cpuid(0x16, 0).eax & 0xffff;
        if mhz != 0 {
            return mhz as u64 * 1000;
        }
    }
    0
}

fn pit_calibrate() -> Option<u64> {
    // Channel 0, lobyte/hibyte, mode 2 (rate generator), reload 65536. Its
    // output only raises IRQ 0, which stays masked (IF = 0).
    outb(0x43, 0x34);
    outb(0x40, 0);
    outb(0x40, 0);
    let target = PIT_HZ / 100; // 10 ms
    let mut previous = pit_counter();
    let start = cpu::rdtsc();
    let mut elapsed = 0u64;
    let mut reads = 0u32;
    while elapsed < target {
        let now = pit_counter();
        elapsed += previous.wrapping_sub(now) as u64;
        previous = now;
        reads += 1;
        if reads > 2_000_000 || (reads > 1000 && elapsed == 0) {
            return None; // no PIT
        }
    }
    let ticks = cpu::rdtsc() - start;
    let khz = (ticks as u128 * PIT_HZ as u128 / elapsed as u128 / 1000) as u64;
    (khz > 1000).then_some(khz)
}

fn cmos(register: u8) -> u8 {
    outb(0x70, register);
    inb(0x71)
}

/// The wall clock from the CMOS RTC (UTC), if the board has one.
pub fn rtc_realtime_ns() -> Option<u64> {
    // Wait for the end of an update cycle (bounded).
    for _ in 0..100_000 {
        if cmos(0x0a) & 0x80 == 0 {
            break;
        }
    }
    let status_b = cmos(0x0b);
    if status_b == 0xff {
        return None;
    }
    let bcd = status_b & 0x04 == 0;
    let decode = |v: u8| -> u64 {
        if bcd {
            ((v >> 4) * 10 + (v & 0x0f)) as u64
        } else {
            v as u64
        }
    };
    let second = decode(cmos(0x00));
    let minute = decode(cmos(0x02));
    let hour_raw = cmos(0x04);
    let mut hour = decode(hour_raw & 0x7f);
    if status_b & 0x02 == 0 && hour_raw & 0x80 != 0 {
        hour = (hour % 12) + 12; // 12-hour mode, PM
    }
    let day = decode(cmos(0x07));
    let month = decode(cmos(0x08));
    let year = decode(cmos(0x09));
    let century = decode(cmos(0x32));
    let full_year = if (19..=30).contains(&century) {
        century * 100 + year
    } else {
        2000 + year
    };
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    let days = days_from_civil(full_year as i64, month as i64, day as i64);
    if days < 0 {
        return None;
    }
    let seconds = days as u64 * 86_400 + hour * 3600 + minute * 60 + second.min(60);
    Some(seconds * 1_000_000_000)
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A seed for the sentry's CSPRNG: RDRAND when the CPU has it, mixed with
/// the TSC. Without RDRAND it is TSC-derived only, which is weak.
pub fn random_seed() -> [u8; 32] {
    let has_rdrand = cpu::cpuid(1, 0).ecx & (1 << 30) != 0;
    let mut seed = [0u8; 32];
    for (i, chunk) in seed.chunks_mut(8).enumerate() {
        let mut value = cpu::rdtsc().rotate_left(17 * i as u32) ^ 0x9e37_79b9_7f4a_7c15;
        if has_rdrand {
            if let Some(random) = cpu::rdrand() {
                value ^= random;
            }
        }
        chunk.copy_from_slice(&value.to_le_bytes());
    }
    seed
}

/// Busy-waits `ns` nanoseconds by the TSC (u64::MAX: forever).
pub fn delay_ns(ns: u64) {
    let start = cpu::rdtsc();
    loop {
        let elapsed = crate::sentry::time::tsc_to_ns(cpu::rdtsc().wrapping_sub(start));
        if elapsed >= ns {
            return;
        }
        core::hint::spin_loop();
    }
}

// --- the preemption tick: the local APIC timer ---------------------------------

const MSR_APIC_BASE: u32 = 0x1b;
const APIC_BASE_ENABLE: u64 = 1 << 11;
/// The local APIC's registers (xAPIC, memory-mapped; below 4 GiB, so in
/// the direct map).
const APIC_MMIO: u64 = 0xfee0_0000;
const APIC_TPR: u64 = 0x80;
const APIC_EOI: u64 = 0xb0;
const APIC_SPURIOUS: u64 = 0xf0;
const APIC_LVT_TIMER: u64 = 0x320;
const APIC_TIMER_INITIAL: u64 = 0x380;
const APIC_TIMER_DIVIDE: u64 = 0x3e0;
const LVT_TIMER_PERIODIC: u32 = 1 << 17;
/// QEMU's APIC timer counts at 1 GHz; divided by 16 (divide value 3).
const APIC_TIMER_HZ: u64 = 1_000_000_000 / 16;
const TICK_HZ: u64 = 100;

static TICKING: AtomicBool = AtomicBool::new(false);

fn apic_write(register: u64, value: u32) {
    // SAFETY: the local APIC's register page is MMIO below 4 GiB, covered by
    // the direct map; a volatile 32-bit store is how it is programmed.
    unsafe {
        core::ptr::write_volatile(
            super::paging::phys_to_virt(APIC_MMIO + register) as *mut u32,
            value,
        )
    };
}

/// Starts a 10 ms periodic local-APIC timer on vector TICK_VECTOR. The
/// sentry runs with interrupts off, so ticks arrive while the application
/// runs.
pub fn start_tick() {
    let has_apic = cpu::cpuid(1, 0).edx & (1 << 9) != 0;
    if !active() || !has_apic {
        return;
    }
    // SAFETY: enabling this CPU's local APIC at its default base.
    unsafe {
        let base = cpu::rdmsr(MSR_APIC_BASE);
        cpu::wrmsr(MSR_APIC_BASE, base | APIC_BASE_ENABLE);
    }
    apic_write(APIC_SPURIOUS, 0x1ff);
    apic_write(APIC_TPR, 0);
    apic_write(APIC_TIMER_DIVIDE, 3);
    apic_write(
        APIC_LVT_TIMER,
        boards::x86_64::TICK_VECTOR | LVT_TIMER_PERIODIC,
    );
    apic_write(APIC_TIMER_INITIAL, (APIC_TIMER_HZ / TICK_HZ) as u32);
    TICKING.store(true, Ordering::Relaxed);
}

/// Ends the tick's interrupt at the local APIC.
pub fn end_tick() {
    if TICKING.load(Ordering::Relaxed) {
        apic_write(APIC_EOI, 0);
    }
}
