//! GICv3 and the generic timer's interrupt (board `qemu-aarch64-virt`).
//!
//! The sentry runs with interrupts masked (PSTATE.I at EL1), so it never
//! takes the timer interrupt as an exception while it runs: it uses it to
//! *sleep*. [`sleep_until`] arms the EL1 virtual timer (CNTV) for the
//! deadline and waits in `wfi`, which wakes on a pending interrupt even
//! when it is masked; the interrupt is then acknowledged and ended at the
//! CPU interface (ICC_IAR1/ICC_EOIR1) and the timer is disarmed. Under
//! QEMU TCG, `wfi` lets the host CPU idle instead of spinning.
//!
//! Setup ([`init`]): the distributor with affinity routing and group 1
//! enabled, the boot CPU's redistributor awake with PPI 27 (the virtual
//! timer) in group 1 and enabled, and the system-register CPU interface
//! (ICC_SRE_EL1.SRE) with every priority unmasked.

use core::arch::asm;
use core::sync::atomic::{AtomicBool, Ordering};

use aarch64_cpu::registers::{Writeable, CNTV_CTL_EL0, CNTV_CVAL_EL0};
use boards::aarch64::{GICD_BASE, GICR_BASE, VTIMER_INTID};

use super::cpu;
use super::paging::phys_to_virt;

static READY: AtomicBool = AtomicBool::new(false);

const GICD_CTLR: u64 = 0x0000;
/// GICD_CTLR with a single security state: EnableGrp1 | ARE.
const GICD_CTLR_ENABLE: u32 = (1 << 1) | (1 << 4);
const GICR_WAKER: u64 = 0x0014;
const WAKER_PROCESSOR_SLEEP: u32 = 1 << 1;
const WAKER_CHILDREN_ASLEEP: u32 = 1 << 2;
/// The redistributor's SGI/PPI frame follows its RD frame.
const GICR_SGI: u64 = 0x1_0000;
const GICR_IGROUPR0: u64 = GICR_SGI + 0x0080;
const GICR_ISENABLER0: u64 = GICR_SGI + 0x0100;
const GICR_IPRIORITYR: u64 = GICR_SGI + 0x0400;
/// ICC_IAR1_EL1 value when nothing is pending.
const INTID_SPURIOUS: u64 = 1023;

fn read32(phys: u64) -> u32 {
    // SAFETY: a GIC register (Device memory in the direct map); reading it
    // has no memory effect.
    unsafe { core::ptr::read_volatile(phys_to_virt(phys) as *const u32) }
}

fn write32(phys: u64, value: u32) {
    // SAFETY: a GIC register; the GIC does no DMA.
    unsafe { core::ptr::write_volatile(phys_to_virt(phys) as *mut u32, value) }
}

/// Programs the distributor, the boot CPU's redistributor and the CPU
/// interface for the virtual timer's PPI. Bare metal only (the board's
/// GICv3 at its fixed addresses).
pub fn init() {
    write32(GICD_BASE + GICD_CTLR, GICD_CTLR_ENABLE);
    let waker = read32(GICR_BASE + GICR_WAKER);
    write32(GICR_BASE + GICR_WAKER, waker & !WAKER_PROCESSOR_SLEEP);
    for _ in 0..1_000_000 {
        if read32(GICR_BASE + GICR_WAKER) & WAKER_CHILDREN_ASLEEP == 0 {
            break;
        }
    }
    let bit = 1u32 << VTIMER_INTID;
    write32(
        GICR_BASE + GICR_IGROUPR0,
        read32(GICR_BASE + GICR_IGROUPR0) | bit,
    );
    // Priority 0x80 (one byte per interrupt, in 32-bit registers).
    let reg = GICR_BASE + GICR_IPRIORITYR + (VTIMER_INTID as u64 & !3);
    let shift = (VTIMER_INTID % 4) * 8;
    write32(reg, (read32(reg) & !(0xff << shift)) | (0x80 << shift));
    write32(GICR_BASE + GICR_ISENABLER0, bit);
    // SAFETY: enabling the system-register interface and unmasking every
    // priority only decides which interrupts become pending at this CPU;
    // PSTATE.I stays set, so none is taken as an exception in the sentry.
    unsafe {
        asm!(
            "msr icc_sre_el1, {sre}",
            "isb",
            "msr icc_pmr_el1, {pmr}",
            "msr icc_bpr1_el1, xzr",
            "msr icc_igrpen1_el1, {one}",
            "isb",
            sre = in(reg) 0x7u64,
            pmr = in(reg) 0xffu64,
            one = in(reg) 1u64,
            options(nostack, preserves_flags)
        )
    }
    CNTV_CTL_EL0.set(0);
    READY.store(true, Ordering::Relaxed);
}

/// True once [`init`] ran (bare metal with the board's GIC).
pub fn ready() -> bool {
    READY.load(Ordering::Relaxed)
}

/// Preemption tick while the application runs: 10 ms.
const TICK_HZ: u64 = 100;

/// Arms the virtual timer for the next tick (the application is preempted
/// or its interval timers fire there, as with the VMM's tick on x86_64).
pub fn arm_tick() {
    if !ready() {
        return;
    }
    CNTV_CVAL_EL0.set(cpu::counter() + cpu::counter_frequency() / TICK_HZ);
    CNTV_CTL_EL0.set(1);
}

/// Acknowledges and ends every pending group-1 interrupt; disarms the
/// timer when it was the one (and says so).
fn acknowledge_all() -> bool {
    let mut timer = false;
    loop {
        let intid: u64;
        // SAFETY: reading ICC_IAR1_EL1 acknowledges the highest-priority
        // pending interrupt (or returns the spurious ID).
        unsafe { asm!("mrs {0}, icc_iar1_el1", out(reg) intid, options(nostack, preserves_flags)) };
        let intid = intid & 0xff_ffff;
        if intid >= INTID_SPURIOUS {
            return timer;
        }
        if intid == VTIMER_INTID as u64 {
            CNTV_CTL_EL0.set(0);
            timer = true;
        }
        // SAFETY: ends the interrupt just acknowledged.
        unsafe { asm!("msr icc_eoir1_el1, {0}", in(reg) intid, options(nostack, preserves_flags)) };
    }
}

/// Waits with `wfi` until the counter reaches `deadline` (CNTVCT_EL0
/// ticks), woken by the virtual timer's interrupt.
pub fn sleep_until(deadline: u64) {
    while cpu::counter() < deadline {
        CNTV_CVAL_EL0.set(deadline);
        // ENABLE, not IMASK: the timer raises PPI 27 at the deadline.
        CNTV_CTL_EL0.set(1);
        aarch64_cpu::asm::wfi();
        acknowledge_all();
    }
    arm_tick();
}

/// Handles an interrupt taken from user mode (EL0 runs with interrupts
/// unmasked); returns true when it was the tick, which is re-armed.
pub fn handle_irq() -> bool {
    let tick = acknowledge_all();
    if tick {
        arm_tick();
    }
    tick
}
