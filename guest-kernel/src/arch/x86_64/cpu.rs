//! Single x86_64 instructions the rest of the sentry needs, each wrapped once.
//! On the pvm host privileged ones (wrmsr, invlpg, mov cr*) trap to the host
//! and cost ~25-30 us each after registration: keep them off hot paths.

use core::arch::asm;

#[inline]
pub fn rdtsc() -> u64 {
    // SAFETY: rdtsc has no side effects; CR4.TSD is clear.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// # Safety
/// Writing an MSR can change how the CPU runs the kernel; callers pass only
/// the MSRs this module documents.
pub unsafe fn wrmsr(msr: u32, value: u64) {
    asm!("wrmsr", in("ecx") msr, in("eax") value as u32, in("edx") (value >> 32) as u32,
         options(nostack, preserves_flags));
}

pub fn read_cr2() -> u64 {
    x86_64::registers::control::Cr2::read_raw()
}

/// Writes `value` to an I/O port: on a VMM this is an exit to the VMM.
pub fn outl(port: u16, value: u32) {
    // SAFETY: the sentry only addresses the hypercall doorbell (which has no
    // effect on guest memory beyond what the VMM does on its behalf, which
    // the caller has prepared) and, bare-metal, the board's devices (UARTs,
    // PIT, RTC, QEMU's debug ports), none of which does DMA.
    unsafe {
        asm!("out dx, eax", in("dx") port, in("eax") value, options(nostack, preserves_flags))
    }
}

/// Writes a byte to an I/O port (bare-metal device drivers).
pub fn outb(port: u16, value: u8) {
    // SAFETY: as for `outl`: device registers without DMA.
    unsafe { asm!("out dx, al", in("dx") port, in("al") value, options(nostack, preserves_flags)) }
}

/// Reads a byte from an I/O port (bare-metal device drivers).
pub fn inb(port: u16) -> u8 {
    let value: u8;
    // SAFETY: as for `outl`; reading a device register has no memory effect.
    unsafe { asm!("in al, dx", in("dx") port, out("al") value, options(nostack, preserves_flags)) }
    value
}

/// A hardware random number, if RDRAND delivers one within a few tries.
/// Callers check CPUID.1:ECX.RDRAND first.
pub fn rdrand() -> Option<u64> {
    for _ in 0..10 {
        let value: u64;
        let ok: u8;
        // SAFETY: RDRAND only writes its output register and CF.
        unsafe {
            asm!("rdrand {v}", "setc {ok}", v = out(reg) value, ok = out(reg_byte) ok, options(nomem, nostack))
        }
        if ok != 0 {
            return Some(value);
        }
    }
    None
}

/// Drops the TLB entry for one page.
pub fn flush_page(addr: u64) {
    x86_64::instructions::tlb::flush(x86_64::VirtAddr::new_truncate(addr));
}

/// Drops all non-global TLB entries (reloads CR3).
pub fn flush_all() {
    x86_64::instructions::tlb::flush_all();
}

const MSR_FS_BASE: u32 = 0xc000_0100;

/// Sets the user's FS base (TLS pointer).
pub fn set_fs_base(value: u64) {
    // SAFETY: FS base only affects user-mode fs: accesses; the kernel does
    // not use FS.
    unsafe { wrmsr(MSR_FS_BASE, value) }
}

pub fn cpuid(leaf: u32, subleaf: u32) -> core::arch::x86_64::CpuidResult {
    core::arch::x86_64::__cpuid_count(leaf, subleaf)
}

/// Stops the vCPU for good (the VMM sees a HLT exit if it ever gets here).
pub fn halt_forever() -> ! {
    loop {
        x86_64::instructions::hlt();
    }
}

const MSR_GS_BASE: u32 = 0xc000_0101;

/// Sets the user's GS base. The sentry never uses GS (no SWAPGS), so the
/// active GS base is the user's.
pub fn set_user_gs_base(value: u64) {
    // SAFETY: as for FS: only user-mode gs: accesses see it.
    unsafe { wrmsr(MSR_GS_BASE, value) }
}
