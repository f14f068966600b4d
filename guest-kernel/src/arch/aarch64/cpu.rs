//! Single aarch64 instructions and system-register accesses the rest of the
//! sentry needs, each wrapped once (`aarch64-cpu` for the registers it
//! knows).

use alloc::string::String;
use core::arch::asm;
use core::fmt::Write;
use core::sync::atomic::{AtomicU64, Ordering};

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{Readable, CNTFRQ_EL0, CNTVCT_EL0, MIDR_EL1};

/// The counter the sentry keeps time with (see `sentry::time`): the
/// generic timer's virtual count, CNTVCT_EL0.
#[inline]
pub fn counter() -> u64 {
    // An ISB first so the read is not hoisted above earlier instructions.
    barrier::isb(barrier::SY);
    CNTVCT_EL0.get()
}

/// The counter's frequency in Hz (CNTFRQ_EL0, set by firmware or QEMU).
pub fn counter_frequency() -> u64 {
    CNTFRQ_EL0.get()
}

/// Virtual address of the VMM's MMIO doorbell (board `kvm-aarch64`); 0 on
/// bare metal, where no hypercall channel is set up.
static DOORBELL: AtomicU64 = AtomicU64::new(0);

/// Under rvisor-vmm: the doorbell the device tree names (a guest-physical
/// address without memory behind it, in the direct map's device GiB).
pub fn set_doorbell(virt: u64) {
    DOORBELL.store(virt, Ordering::Relaxed);
}

/// True when the sentry runs under rvisor-vmm (a doorbell was set).
pub fn under_vmm() -> bool {
    DOORBELL.load(Ordering::Relaxed) != 0
}

/// Rings the hypercall doorbell: a 32-bit store of the request count to
/// the doorbell address, which has no memory slot, so the vCPU leaves
/// KVM_RUN with KVM_EXIT_MMIO and resumes once the VMM served the batch.
pub fn ring_doorbell(count: u32) {
    let addr = DOORBELL.load(Ordering::Relaxed);
    assert!(addr != 0, "hypercall doorbell rung without a VMM");
    // SAFETY: `addr` is the VMM's doorbell, mapped as Device memory by the
    // boot tables; the store (a plain `str`, so KVM sees a valid syndrome)
    // has no effect on guest memory. The barrier makes the request page
    // writes visible before the exit.
    unsafe {
        asm!("dsb sy", "str {v:w}, [{a}]", v = in(reg) count, a = in(reg) addr, options(nostack))
    };
}

/// The network ring's doorbell. The aarch64 VMM offers no network ring
/// yet (it refuses `--net` and `--publish`), so there is nobody to ring.
pub fn ring_net_doorbell() {}

/// PSCI 0.2 SYSTEM_OFF through `hvc` (the VMM's device tree says "hvc").
fn psci_system_off() {
    // SAFETY: a PSCI call to the hypervisor; SYSTEM_OFF does not return
    // when it succeeds, and otherwise only clobbers x0..x3.
    unsafe {
        asm!("hvc #0", inout("x0") 0x8400_0008u64 => _, out("x1") _, out("x2") _, out("x3") _,
             options(nostack))
    };
}

/// Drops the TLB entries for one user page (all ASIDs; the sentry uses one).
pub fn flush_page(addr: u64) {
    // SAFETY: TLB maintenance has no effect beyond dropping cached
    // translations; the barriers order it after the page-table store.
    unsafe {
        asm!(
            "dsb ishst",
            "tlbi vaae1is, {page}",
            "dsb ish",
            "isb",
            page = in(reg) (addr >> 12) & ((1 << 44) - 1),
            options(nostack, preserves_flags)
        )
    }
}

/// Drops all TLB entries of this EL1&0 regime.
pub fn flush_all() {
    // SAFETY: as for `flush_page`.
    unsafe {
        asm!(
            "dsb ishst",
            "tlbi vmalle1is",
            "dsb ish",
            "isb",
            options(nostack, preserves_flags)
        )
    }
}

/// Makes new page-table entries visible to the table walker.
pub fn table_store_barrier() {
    barrier::dsb(barrier::ISHST);
}

/// Makes instructions the sentry wrote through the direct map (a loaded
/// ELF segment, a file page) visible to instruction fetch at `virt`.
pub fn sync_icache(virt: *const u8, len: usize) {
    const LINE: usize = 64;
    let start = virt as usize & !(LINE - 1);
    let end = virt as usize + len;
    let mut line = start;
    while line < end {
        // SAFETY: `dc cvau` cleans a cache line of mapped kernel memory to
        // the point of unification; it changes no data.
        unsafe { asm!("dc cvau, {0}", in(reg) line, options(nostack, preserves_flags)) };
        line += LINE;
    }
    // SAFETY: invalidating the instruction cache only costs refetches.
    unsafe {
        asm!(
            "dsb ish",
            "ic ialluis",
            "dsb ish",
            "isb",
            options(nostack, preserves_flags)
        )
    }
}

/// Stops the CPU for good (interrupts are masked in the sentry).
/// Under rvisor-vmm this powers the VM off (PSCI SYSTEM_OFF), which the
/// VMM reports as a sentry failure unless an Exit request came first.
pub fn halt_forever() -> ! {
    if under_vmm() {
        psci_system_off();
    }
    loop {
        aarch64_cpu::asm::wfi();
    }
}

/// A hardware random number (FEAT_RNG's RNDR), if the CPU has one.
pub fn rndr() -> Option<u64> {
    let isar0: u64;
    // SAFETY: reading an ID register has no side effects.
    unsafe {
        asm!("mrs {0}, id_aa64isar0_el1", out(reg) isar0, options(nomem, nostack, preserves_flags))
    };
    if (isar0 >> 60) & 0xf == 0 {
        return None;
    }
    for _ in 0..10 {
        let value: u64;
        let ok: u64;
        // SAFETY: RNDR (s3_3_c2_c4_0) only writes its register and NZCV
        // (Z set when no number was available).
        unsafe {
            asm!("mrs {v}, s3_3_c2_c4_0", "cset {ok}, ne", v = out(reg) value, ok = out(reg) ok,
                 options(nomem, nostack))
        };
        if ok != 0 {
            return Some(value);
        }
    }
    None
}

/// The /proc/cpuinfo text (one CPU), from MIDR_EL1, as arm64 Linux prints it.
pub fn cpuinfo(khz: u64) -> String {
    let midr = MIDR_EL1.get();
    let mut out = String::new();
    let _ = write!(
        out,
        "processor\t: 0\nBogoMIPS\t: {:.2}\nFeatures\t: fp asimd\n\
         CPU implementer\t: {:#04x}\nCPU architecture: 8\nCPU variant\t: {:#x}\n\
         CPU part\t: {:#05x}\nCPU revision\t: {}\n\n",
        khz as f64 / 500.0,
        (midr >> 24) & 0xff,
        (midr >> 20) & 0xf,
        (midr >> 4) & 0xfff,
        midr & 0xf
    );
    out
}
