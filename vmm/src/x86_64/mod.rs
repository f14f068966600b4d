//! x86_64 guest setup: the `kvm-x86_64` board's memory layout, boot page
//! tables and the initial long-mode vCPU state.

use boards::hypercall::DOORBELL_PORT;
use boards::x86_64::*;
use boards::Platform;
use kvm_bindings::{kvm_regs, kvm_segment, kvm_sregs, KVM_MAX_CPUID_ENTRIES};
use kvm_ioctls::{Kvm, VcpuExit, VcpuFd, VmFd};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

use crate::error::{internal, Failure};
use crate::vcpu::Exit as Event;

const PTE_PRESENT: u64 = 1 << 0;
const PTE_WRITABLE: u64 = 1 << 1;
const PTE_USER: u64 = 1 << 2;
const PTE_ACCESSED: u64 = 1 << 5;
const PTE_DIRTY: u64 = 1 << 6;
const PTE_HUGE: u64 = 1 << 7;
const PTE_NO_EXECUTE: u64 = 1 << 63;

/// Where the loader puts a GDT for the first instructions (the sentry loads
/// its own right away).
pub const BOOT_GDT_GPA: u64 = 0x3000;
/// First guest-physical address past the loader's fixed boot data.
pub const BOOT_DATA_END: u64 = 0x4000;

const BOOT_GDT: [u64; 10] = [
    0,
    0,
    0x00af_9a00_0000_ffff,
    0x00cf_9200_0000_ffff,
    0x00cf_fa00_0000_ffff,
    0x00cf_f200_0000_ffff,
    0x00af_fa00_0000_ffff,
    0,
    0,
    0,
];

/// Builds the boot page tables: the direct map of all RAM (PML4 slot 510)
/// and the sentry's image window (top 2 GiB, slot 511), with 2 MiB pages.
/// On pvm every kernel entry must be user-accessible (the host isolates the
/// kernel through the PML4 pair instead). Returns the end of the tables.
pub fn build_page_tables(
    mem: &GuestMemoryMmap,
    memory_size: u64,
    platform: Platform,
) -> Result<u64, Failure> {
    let user_bit = if platform == Platform::Pvm {
        PTE_USER
    } else {
        0
    };
    // Accessed and dirty from the start: a shadow MMU then neither writes
    // them back into these tables on a fill nor refuses to prefetch.
    let table = PTE_PRESENT | PTE_WRITABLE | user_bit | PTE_ACCESSED | PTE_DIRTY;
    let kernel_root = PAGE_TABLES_GPA;
    let mut next = PAGE_TABLES_GPA + 2 * PAGE_SIZE; // kernel PML4 + user PML4
    let mut alloc = || {
        let page = next;
        next += PAGE_SIZE;
        page
    };
    let write = |addr: u64, value: u64| -> Result<(), Failure> {
        mem.write_obj(value, GuestAddress(addr))
            .map_err(|e| internal(format!("writing boot page tables: {e}")))
    };

    // Direct map: RAM is one range from 0, a multiple of 2 MiB.
    let direct_pdpt = alloc();
    write(
        kernel_root + DIRECT_MAP_PML4_SLOT as u64 * 8,
        direct_pdpt | table,
    )?;
    let gib = memory_size.div_ceil(1 << 30);
    for g in 0..gib {
        let pd = alloc();
        write(direct_pdpt + g * 8, pd | table)?;
        for i in 0..512u64 {
            let phys = (g << 30) | (i << 21);
            if phys >= memory_size {
                break;
            }
            write(pd + i * 8, phys | table | PTE_HUGE | PTE_NO_EXECUTE)?;
        }
    }

    // The sentry's image: KERNEL_VBASE + phys for the first GiB.
    let kernel_pdpt = alloc();
    let kernel_pd = alloc();
    write(
        kernel_root + KERNEL_PML4_SLOT as u64 * 8,
        kernel_pdpt | table,
    )?;
    write(
        kernel_pdpt + ((KERNEL_VBASE >> 30) & 511) * 8,
        kernel_pd | table,
    )?;
    for i in 0..512u64 {
        let phys = i << 21;
        if phys >= memory_size.min(KERNEL_WINDOW) {
            break;
        }
        write(kernel_pd + i * 8, phys | table | PTE_HUGE)?;
    }
    if next > PAGE_TABLES_END {
        return Err(internal("guest memory too large for the boot page tables"));
    }
    Ok(next)
}

fn segment(selector: u16, type_: u8, long: bool) -> kvm_segment {
    kvm_segment {
        base: 0,
        limit: 0xffff_ffff,
        selector,
        type_,
        present: 1,
        dpl: 0,
        db: u8::from(!long),
        s: 1,
        l: u8::from(long),
        g: 1,
        avl: 0,
        unusable: 0,
        padding: 0,
    }
}

/// Long mode, paging on the boot tables, flat kernel segments.
pub fn boot_sregs(mut sregs: kvm_sregs) -> kvm_sregs {
    sregs.cs = segment(KERNEL_CS, 11, true);
    let data = segment(KERNEL_DS, 3, false);
    sregs.ds = data;
    sregs.es = data;
    sregs.fs = data;
    sregs.gs = data;
    sregs.ss = data;
    sregs.tr = kvm_segment {
        base: 0,
        limit: 0x67,
        selector: TSS_SELECTOR,
        type_: 11,
        present: 1,
        s: 0,
        ..Default::default()
    };
    sregs.ldt = kvm_segment {
        selector: 0,
        type_: 2,
        present: 0,
        unusable: 1,
        limit: 0xffff,
        ..Default::default()
    };
    sregs.gdt.base = BOOT_GDT_GPA;
    sregs.gdt.limit = (BOOT_GDT.len() * 8 - 1) as u16;
    sregs.idt.base = 0;
    sregs.idt.limit = 0;
    sregs.cr0 = BOOT_CR0;
    sregs.cr3 = PAGE_TABLES_GPA;
    sregs.cr4 = BOOT_CR4;
    sregs.efer = BOOT_EFER;
    sregs
}

pub fn write_boot_gdt(mem: &GuestMemoryMmap) -> Result<(), Failure> {
    for (i, descriptor) in BOOT_GDT.iter().enumerate() {
        mem.write_obj(*descriptor, GuestAddress(BOOT_GDT_GPA + i as u64 * 8))
            .map_err(|e| internal(format!("writing the boot GDT: {e}")))?;
    }
    Ok(())
}

pub fn boot_regs(entry: u64, boot_info_gpa: u64) -> kvm_regs {
    kvm_regs {
        rip: entry,
        rdi: boot_info_gpa,
        rflags: 2,
        ..Default::default()
    }
}

// The arch interface `vm.rs` builds on (vmm/src/aarch64 has the same).

pub use boards::x86_64::{BOOT_INFO_GPA, HYPERCALL_PAGE_GPA, KERNEL_PHYS};
/// RAM is one range from guest-physical 0.
pub const RAM_BASE: u64 = 0;
/// The boot page tables' direct map and the --memory limit.
pub const MAX_MEMORY: u64 = 64 << 30;
/// `e_machine` of the programs this VMM runs.
pub const APP_ARCH: crate::app::TargetArch = crate::app::X86_64;

/// The sentry ELF at its physical addresses (linux-loader); returns the
/// entry point.
pub fn load_sentry(mem: &GuestMemoryMmap, elf: &[u8]) -> Result<u64, Failure> {
    use linux_loader::loader::{elf::Elf as ElfLoader, KernelLoader};
    let loaded = ElfLoader::load(mem, None, &mut std::io::Cursor::new(elf), None)
        .map_err(|e| internal(format!("loading the sentry: {e}")))?;
    Ok(loaded.kernel_load.0)
}

/// The sentry's entry point (what `load_sentry` returns), for an image
/// placed without it.
pub fn sentry_entry(elf: &[u8]) -> Result<u64, Failure> {
    goblin::elf::Elf::parse_header(elf)
        .map(|header| header.e_entry)
        .map_err(|e| internal(format!("embedded sentry ELF: {e}")))
}

/// The boot page tables and GDT.
pub fn prepare_memory(
    mem: &GuestMemoryMmap,
    memory_size: u64,
    platform: Platform,
) -> Result<(), Failure> {
    build_page_tables(mem, memory_size, platform)?;
    write_boot_gdt(mem)
}

/// The regions below the sentry: boot data, free RAM, the page tables.
pub fn push_boot_regions(info: &mut boards::bootinfo::BootInfo) {
    use boards::bootinfo::MemoryKind;
    info.push_region(
        BOOT_INFO_GPA,
        BOOT_DATA_END - BOOT_INFO_GPA,
        MemoryKind::BootData,
    );
    info.push_region(
        BOOT_DATA_END,
        PAGE_TABLES_GPA - BOOT_DATA_END,
        MemoryKind::Usable,
    );
    info.push_region(
        PAGE_TABLES_GPA,
        PAGE_TABLES_END - PAGE_TABLES_GPA,
        MemoryKind::PageTables,
    );
}

/// Creates the vCPU with the host's supported CPUID; returns it and the
/// TSC frequency in kHz (0 if KVM does not know it).
pub fn create_vcpu(kvm: &Kvm, vm: &VmFd) -> Result<(VcpuFd, u64), Failure> {
    let vcpu = vm
        .create_vcpu(0)
        .map_err(|e| internal(format!("KVM_CREATE_VCPU: {e}")))?;
    let cpuid = kvm
        .get_supported_cpuid(KVM_MAX_CPUID_ENTRIES)
        .map_err(|e| internal(format!("KVM_GET_SUPPORTED_CPUID: {e}")))?;
    vcpu.set_cpuid2(&cpuid)
        .map_err(|e| internal(format!("KVM_SET_CPUID2: {e}")))?;
    let tsc_khz = vcpu.get_tsc_khz().map(u64::from).unwrap_or(0);
    Ok((vcpu, tsc_khz))
}

/// Long mode on the boot tables, `rip` = the entry, `rdi` = the BootInfo.
pub fn start_vcpu(
    vcpu: &VcpuFd,
    _mem: &GuestMemoryMmap,
    entry: u64,
    _memory_size: u64,
) -> Result<(), Failure> {
    let sregs = vcpu
        .get_sregs()
        .map_err(|e| internal(format!("KVM_GET_SREGS: {e}")))?;
    vcpu.set_sregs(&boot_sregs(sregs))
        .map_err(|e| internal(format!("KVM_SET_SREGS: {e}")))?;
    vcpu.set_regs(&boot_regs(entry, BOOT_INFO_GPA))
        .map_err(|e| internal(format!("KVM_SET_REGS: {e}")))
}

/// One KVM_RUN, its exit sorted into what the common loop handles.
pub fn run_once(vcpu: &mut VcpuFd) -> Result<Event, Failure> {
    match vcpu.run() {
        Ok(VcpuExit::IoOut(DOORBELL_PORT, _)) => Ok(Event::Doorbell),
        // The net doorbell when KVM has no ioeventfd for it.
        Ok(VcpuExit::IoOut(boards::netring::NET_DOORBELL_PORT, _)) => {
            crate::net::doorbell();
            Ok(Event::Again)
        }
        Ok(VcpuExit::IoOut(port, _)) => Err(internal(format!(
            "guest wrote to unknown I/O port {port:#x}"
        ))),
        Ok(VcpuExit::IoIn(port, _)) => {
            Err(internal(format!("guest read unknown I/O port {port:#x}")))
        }
        Ok(VcpuExit::MmioRead(addr, _)) | Ok(VcpuExit::MmioWrite(addr, _)) => Err(internal(
            format!("guest kernel fault: access to unbacked guest-physical address {addr:#x}"),
        )),
        Ok(VcpuExit::Hlt) => Err(internal("guest kernel fault: the sentry halted")),
        Ok(VcpuExit::Shutdown) => {
            let rip = vcpu.get_regs().map(|r| r.rip).unwrap_or(0);
            Err(internal(format!(
                "guest kernel fault: triple fault (rip {rip:#x})"
            )))
        }
        Ok(VcpuExit::InternalError) => {
            let rip = vcpu.get_regs().map(|r| r.rip).unwrap_or(0);
            Err(internal(format!(
                "guest kernel fault: KVM internal error (rip {rip:#x})"
            )))
        }
        Ok(VcpuExit::FailEntry(reason, _)) => {
            Err(internal(format!("KVM entry failed (reason {reason:#x})")))
        }
        Ok(other) => Err(internal(format!("unexpected VM exit: {other:?}"))),
        Err(e) if e.errno() == libc::EINTR => Ok(Event::Kicked),
        Err(e) if e.errno() == libc::EAGAIN => Ok(Event::Again),
        Err(e) => Err(internal(format!("KVM_RUN: {e}"))),
    }
}

vmm_sys_util::ioctl_ior_nr!(
    KVM_GET_REGS,
    kvm_bindings::KVMIO,
    0x81,
    kvm_bindings::kvm_regs
);
vmm_sys_util::ioctl_ior_nr!(
    KVM_GET_SREGS,
    kvm_bindings::KVMIO,
    0x83,
    kvm_bindings::kvm_sregs
);

/// Extra ioctls the vCPU loop needs after the seccomp filter is in place
/// (the registers, for fault messages).
pub fn seccomp_ioctls() -> Vec<u64> {
    vec![KVM_GET_REGS(), KVM_GET_SREGS(), KVM_INTERRUPT()]
}

/// Ioctls on the VM fd the vCPU loop needs after the filter: none here.
pub fn seccomp_vm_ioctls() -> Vec<u64> {
    Vec::new()
}

// Queues an external interrupt (no in-kernel interrupt controller).
vmm_sys_util::ioctl_iow_nr!(
    KVM_INTERRUPT,
    kvm_bindings::KVMIO,
    0x86,
    kvm_bindings::kvm_interrupt
);

/// Queues interrupt `vector` (the tick, or the event nudge), but only
/// while the guest runs the program (user mode): the sentry itself is
/// never interrupted. The vCPU is stopped here, so the mode read now is
/// the one it resumes in. Returns whether the interrupt was queued.
pub fn inject(vcpu: &VcpuFd, vector: u32) -> Result<bool, Failure> {
    let regs = vcpu
        .get_regs()
        .map_err(|e| internal(format!("KVM_GET_REGS: {e}")))?;
    if regs.rip >= boards::x86_64::USER_END {
        return Ok(false);
    }
    let irq = kvm_bindings::kvm_interrupt { irq: vector };
    // SAFETY: KVM_INTERRUPT reads one struct kvm_interrupt that we own; the
    // fd is a vCPU fd.
    let rc = unsafe {
        libc::ioctl(
            std::os::unix::io::AsRawFd::as_raw_fd(vcpu),
            KVM_INTERRUPT() as _,
            &irq,
        )
    };
    if rc != 0 {
        // Already one queued (the guest has not taken it yet): fine.
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EEXIST) {
            return Err(internal(format!("KVM_INTERRUPT: {err}")));
        }
        return Ok(false);
    }
    Ok(true)
}

/// Nothing to do at a doorbell: the x86_64 nudge is a one-shot interrupt.
pub fn nudge_seen(_vm: &kvm_ioctls::VmFd) -> Result<(), Failure> {
    Ok(())
}

/// End of guest RAM.
pub fn ram_end(memory_size: u64) -> u64 {
    RAM_BASE + memory_size
}
