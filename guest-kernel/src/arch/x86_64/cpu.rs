//! Single x86_64 instructions the rest of the sentry needs, each wrapped once.
//! On the pvm host privileged ones (wrmsr, invlpg, mov cr*) trap to the host
//! and cost ~25-30 us each after registration: keep them off hot paths.

use alloc::string::String;
use alloc::vec::Vec;
use core::arch::{asm, global_asm};
use core::fmt::Write;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The counter the sentry keeps time with (see `sentry::time`): the TSC.
#[inline]
pub fn counter() -> u64 {
    rdtsc()
}

#[inline]
pub fn rdtsc() -> u64 {
    // SAFETY: rdtsc has no side effects; CR4.TSD is clear.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Reads a model-specific register.
///
/// # Safety
/// `msr` must exist on this CPU (otherwise #GP in the sentry).
pub unsafe fn rdmsr(msr: u32) -> u64 {
    let (low, high): (u32, u32);
    // SAFETY: the caller guarantees the MSR exists.
    unsafe {
        core::arch::asm!("rdmsr", in("ecx") msr, out("eax") low, out("edx") high, options(nomem, nostack, preserves_flags));
    }
    (high as u64) << 32 | low as u64
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

/// Rings the hypercall doorbell: an exit to the VMM with the batch size.
pub fn ring_doorbell(count: u32) {
    outl(boards::hypercall::DOORBELL_PORT, count);
}

/// Tells the VMM's network I/O thread to look at the network ring (an
/// ioeventfd: no exit to the VMM process when KVM has them).
pub fn ring_net_doorbell() {
    outl(boards::netring::NET_DOORBELL_PORT, 0);
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

/// Whether WRFSBASE/WRGSBASE may be used instead of WRMSR (which the pvm
/// host traps and emulates at ~25 us a time: two per switch between
/// threads, whose TLS differs).
static FSGSBASE: AtomicBool = AtomicBool::new(false);

/// Turns on the FS/GS base instructions when the CPU has them. Natively
/// that is CR4.FSGSBASE; under pvm the sentry runs in the host's ring 3,
/// where the host kernel has already enabled them for its user space
/// (Linux does since 5.9), and the base written stays the guest's own.
pub fn enable_fsgsbase(pvm: bool) {
    const CPUID7_EBX_FSGSBASE: u32 = 1;
    const CR4_FSGSBASE: u64 = 1 << 16;
    if cpuid(0, 0).eax < 7 || cpuid(7, 0).ebx & CPUID7_EBX_FSGSBASE == 0 {
        return;
    }
    if !pvm {
        // SAFETY: setting CR4.FSGSBASE only allows the base instructions.
        unsafe {
            let cr4: u64;
            asm!("mov {}, cr4", out(reg) cr4, options(nomem, nostack, preserves_flags));
            asm!("mov cr4, {}", in(reg) cr4 | CR4_FSGSBASE, options(nostack, preserves_flags));
        }
    }
    FSGSBASE.store(true, Ordering::Relaxed);
}

/// Sets the user's FS base (TLS pointer).
pub fn set_fs_base(value: u64) {
    if FS_BASE.swap(value, Ordering::Relaxed) == value {
        return;
    }
    if FSGSBASE.load(Ordering::Relaxed) {
        // SAFETY: enabled by enable_fsgsbase; FS base only affects
        // user-mode fs: accesses, and the kernel does not use FS.
        unsafe { asm!("wrfsbase {}", in(reg) value, options(nostack, preserves_flags)) };
        return;
    }
    // SAFETY: FS base only affects user-mode fs: accesses; the kernel does
    // not use FS.
    unsafe { wrmsr(MSR_FS_BASE, value) }
}

/// The user FS and GS bases in the CPU (the running task's).
pub fn loaded_user_tls() -> (u64, u64) {
    (
        FS_BASE.load(Ordering::Relaxed),
        GS_BASE.load(Ordering::Relaxed),
    )
}

/// The FS and GS bases last written (both 0 at boot), so that unchanged
/// ones are not written again.
static FS_BASE: AtomicU64 = AtomicU64::new(0);
static GS_BASE: AtomicU64 = AtomicU64::new(0);

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
    if GS_BASE.swap(value, Ordering::Relaxed) == value {
        return;
    }
    if FSGSBASE.load(Ordering::Relaxed) {
        // SAFETY: as for FS.
        unsafe { asm!("wrgsbase {}", in(reg) value, options(nostack, preserves_flags)) };
        return;
    }
    // SAFETY: as for FS: only user-mode gs: accesses see it.
    unsafe { wrmsr(MSR_GS_BASE, value) }
}

/// The /proc/cpuinfo text (one CPU), from CPUID; `khz` is the TSC's.
pub fn cpuinfo(khz: u64) -> String {
    let mut out = String::new();
    let brand = cpu_brand();
    let mhz = khz as f64 / 1000.0;
    let leaf1 = cpuid(1, 0);
    let vendor = cpu_vendor();
    let _ = write!(
        out,
        "processor\t: 0\nvendor_id\t: {vendor}\ncpu family\t: {}\nmodel\t\t: {}\n\
         model name\t: {brand}\nstepping\t: {}\ncpu MHz\t\t: {mhz:.3}\n\
         physical id\t: 0\nsiblings\t: 1\ncore id\t\t: 0\ncpu cores\t: 1\n\
         fpu\t\t: yes\nflags\t\t: {}\nbogomips\t: {:.2}\n\n",
        (leaf1.eax >> 8) & 0xf,
        (leaf1.eax >> 4) & 0xf,
        leaf1.eax & 0xf,
        cpu_flags(),
        mhz * 2.0
    );
    out
}

fn cpu_vendor() -> String {
    let r = cpuid(0, 0);
    let mut bytes = Vec::with_capacity(12);
    for word in [r.ebx, r.edx, r.ecx] {
        bytes.extend_from_slice(&word.to_le_bytes());
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The /proc/cpuinfo "flags" of the common CPUID feature bits.
fn cpu_flags() -> String {
    let leaf1 = cpuid(1, 0);
    let leaf7 = cpuid(7, 0);
    let ext = cpuid(0x8000_0001, 0);
    let table: &[(u32, u32, &str)] = &[
        (leaf1.edx, 0, "fpu"),
        (leaf1.edx, 4, "tsc"),
        (leaf1.edx, 5, "msr"),
        (leaf1.edx, 8, "cx8"),
        (leaf1.edx, 15, "cmov"),
        (leaf1.edx, 19, "clflush"),
        (leaf1.edx, 23, "mmx"),
        (leaf1.edx, 24, "fxsr"),
        (leaf1.edx, 25, "sse"),
        (leaf1.edx, 26, "sse2"),
        (ext.edx, 11, "syscall"),
        (ext.edx, 20, "nx"),
        (ext.edx, 29, "lm"),
        (leaf1.ecx, 0, "pni"),
        (leaf1.ecx, 1, "pclmulqdq"),
        (leaf1.ecx, 9, "ssse3"),
        (leaf1.ecx, 12, "fma"),
        (leaf1.ecx, 13, "cx16"),
        (leaf1.ecx, 19, "sse4_1"),
        (leaf1.ecx, 20, "sse4_2"),
        (leaf1.ecx, 22, "movbe"),
        (leaf1.ecx, 23, "popcnt"),
        (leaf1.ecx, 25, "aes"),
        (leaf1.ecx, 26, "xsave"),
        (leaf1.ecx, 28, "avx"),
        (leaf1.ecx, 29, "f16c"),
        (leaf1.ecx, 30, "rdrand"),
        (ext.ecx, 0, "lahf_lm"),
        (ext.ecx, 5, "abm"),
        (leaf7.ebx, 3, "bmi1"),
        (leaf7.ebx, 5, "avx2"),
        (leaf7.ebx, 8, "bmi2"),
        (leaf7.ebx, 18, "rdseed"),
        (leaf7.ebx, 19, "adx"),
        (leaf7.ebx, 29, "sha_ni"),
    ];
    let mut names: Vec<&str> = table
        .iter()
        .filter(|(reg, bit, _)| reg & (1 << bit) != 0)
        .map(|(_, _, name)| *name)
        .collect();
    // Linux's synthetic flag, from MSR_PLATFORM_INFO (ARCH_SET_CPUID).
    if cpuid_fault_supported() {
        names.push("cpuid_fault");
    }
    names.join(" ")
}

fn cpu_brand() -> String {
    let mut bytes = Vec::with_capacity(48);
    if cpuid(0x8000_0000, 0).eax >= 0x8000_0004 {
        for leaf in 0x8000_0002..=0x8000_0004u32 {
            let r = cpuid(leaf, 0);
            for word in [r.eax, r.ebx, r.ecx, r.edx] {
                bytes.extend_from_slice(&word.to_le_bytes());
            }
        }
    }
    String::from_utf8_lossy(&bytes)
        .trim_end_matches('\0')
        .trim()
        .into()
}

// ---------------------------------------------------------------------------
// Probing instructions that may #GP in the sentry (an MSR the CPU or the
// host does not have, CPUID under CPUID faulting): each faulting
// instruction has a label, and `probe_fixup` tells the trap handler where
// to resume (a landing that returns 0) instead of panicking.
global_asm!(
    r#"
    .section .text
    // u32 rvisor_try_rdmsr(u32 msr, u64 *out): 1 when read.
    .global rvisor_try_rdmsr
rvisor_try_rdmsr:
    mov %edi, %ecx
    .global rvisor_rdmsr_insn
rvisor_rdmsr_insn:
    rdmsr
    mov %eax, (%rsi)
    mov %edx, 4(%rsi)
    mov $1, %eax
    ret
    // u32 rvisor_try_wrmsr(u32 msr, u64 value): 1 when written.
    .global rvisor_try_wrmsr
rvisor_try_wrmsr:
    mov %edi, %ecx
    mov %esi, %eax
    mov %rsi, %rdx
    shr $32, %rdx
    .global rvisor_wrmsr_insn
rvisor_wrmsr_insn:
    wrmsr
    mov $1, %eax
    ret
    .global rvisor_probe_fault
rvisor_probe_fault:
    xor %eax, %eax
    ret
    // u32 rvisor_try_cpuid(void): 1 when CPUID (leaf 0) ran.
    .global rvisor_try_cpuid
rvisor_try_cpuid:
    push %rbx
    xor %eax, %eax
    xor %ecx, %ecx
    .global rvisor_cpuid_insn
rvisor_cpuid_insn:
    cpuid
    pop %rbx
    mov $1, %eax
    ret
    .global rvisor_cpuid_fault
rvisor_cpuid_fault:
    pop %rbx
    xor %eax, %eax
    ret
    "#,
    options(att_syntax)
);

extern "C" {
    fn rvisor_try_rdmsr(msr: u32, out: *mut u64) -> u32;
    fn rvisor_try_wrmsr(msr: u32, value: u64) -> u32;
    fn rvisor_try_cpuid() -> u32;
    static rvisor_rdmsr_insn: u8;
    static rvisor_wrmsr_insn: u8;
    static rvisor_cpuid_insn: u8;
    static rvisor_probe_fault: u8;
    static rvisor_cpuid_fault: u8;
}

/// Where a #GP in the sentry at `rip` resumes, when `rip` is one of the
/// probing instructions above.
pub fn probe_fixup(rip: u64) -> Option<u64> {
    let at = |sym: &u8| sym as *const u8 as u64;
    // SAFETY: only the addresses of the assembly labels are taken.
    unsafe {
        if rip == at(&rvisor_rdmsr_insn) || rip == at(&rvisor_wrmsr_insn) {
            Some(at(&rvisor_probe_fault))
        } else if rip == at(&rvisor_cpuid_insn) {
            Some(at(&rvisor_cpuid_fault))
        } else {
            None
        }
    }
}

/// Reads an MSR that may not exist (None: #GP). Needs the IDT (init_traps).
fn try_rdmsr(msr: u32) -> Option<u64> {
    let mut value = 0u64;
    // SAFETY: reading an MSR has no side effect; a #GP resumes at the
    // landing (probe_fixup), and `value` is a valid place to write.
    let ok = unsafe { rvisor_try_rdmsr(msr, &mut value) };
    (ok == 1).then_some(value)
}

/// Writes an MSR that may not exist or may refuse the value (false: #GP).
///
/// # Safety
/// As for `wrmsr`: only MSRs this module documents.
unsafe fn try_wrmsr(msr: u32, value: u64) -> bool {
    // SAFETY: the caller's; a #GP resumes at the landing.
    unsafe { rvisor_try_wrmsr(msr, value) == 1 }
}

const MSR_PLATFORM_INFO: u32 = 0xce;
const PLATFORM_INFO_CPUID_FAULT: u64 = 1 << 31;
const MSR_MISC_FEATURES_ENABLES: u32 = 0x140;
const MISC_FEATURES_CPUID_FAULT: u64 = 1 << 0;

/// CPUID faulting (Linux's X86_FEATURE_CPUID_FAULT): CPUID at CPL > 0
/// raises #GP while MSR_MISC_FEATURES_ENABLES bit 0 is set.
static CPUID_FAULT: AtomicBool = AtomicBool::new(false);
/// Whether it is on in the CPU now (the running task's ARCH_SET_CPUID 0).
static CPUID_FAULTING: AtomicBool = AtomicBool::new(false);
/// MSR_MISC_FEATURES_ENABLES without the CPUID-fault bit.
static MISC_FEATURES: AtomicU64 = AtomicU64::new(0);

/// Finds out whether CPUID faulting works here: the CPU (or the host)
/// announces it in MSR_PLATFORM_INFO, the enable bit can be set, and the
/// sentry's own CPUID still runs with it on (it must: the sentry is at
/// CPL 0).
///
/// Not under pvm: there the host announces it and keeps the enable bit,
/// but CPUID in guest user mode still runs (measured with the pvm probe
/// guest, docs/PLATFORM-x86-kvm.md), so the sandbox says what Linux says
/// on a CPU without it.
pub fn probe_cpuid_faulting(pvm: bool) {
    if pvm {
        return;
    }
    let supported =
        try_rdmsr(MSR_PLATFORM_INFO).is_some_and(|info| info & PLATFORM_INFO_CPUID_FAULT != 0);
    let Some(enables) = try_rdmsr(MSR_MISC_FEATURES_ENABLES).filter(|_| supported) else {
        return;
    };
    let base = enables & !MISC_FEATURES_CPUID_FAULT;
    // SAFETY: the bit only changes what CPUID does at CPL > 0; it is
    // cleared again below unless everything worked.
    let on = unsafe { try_wrmsr(MSR_MISC_FEATURES_ENABLES, base | MISC_FEATURES_CPUID_FAULT) };
    // SAFETY: as for the CPUID wrapper; a #GP resumes at the landing.
    let kernel_cpuid = on && unsafe { rvisor_try_cpuid() } == 1;
    // SAFETY: back to the value the CPU had, without the bit.
    let off = unsafe { try_wrmsr(MSR_MISC_FEATURES_ENABLES, base) };
    log::info!("cpuid faulting: enable {on}, sentry cpuid with it {kernel_cpuid}, disable {off}");
    if on && kernel_cpuid && off {
        MISC_FEATURES.store(base, Ordering::Relaxed);
        CPUID_FAULT.store(true, Ordering::Relaxed);
    }
}

/// Whether ARCH_SET_CPUID can work (else ENODEV, as on Linux).
pub fn cpuid_fault_supported() -> bool {
    CPUID_FAULT.load(Ordering::Relaxed)
}

/// Whether CPUID faults in user mode now.
pub fn cpuid_faulting() -> bool {
    CPUID_FAULTING.load(Ordering::Relaxed)
}

/// Makes user-mode CPUID fault (or not), writing the MSR only on a change
/// (a trapped instruction on pvm). Without support only `false` is valid.
pub fn set_cpuid_faulting(on: bool) {
    if CPUID_FAULTING.swap(on, Ordering::Relaxed) == on {
        return;
    }
    let value =
        MISC_FEATURES.load(Ordering::Relaxed) | if on { MISC_FEATURES_CPUID_FAULT } else { 0 };
    // SAFETY: the MSR exists and takes these values (probe_cpuid_faulting,
    // the only way CPUID_FAULTING can become true); the bit only changes
    // CPUID at CPL > 0.
    unsafe { wrmsr(MSR_MISC_FEATURES_ENABLES, value) }
}
