//! aarch64 guest setup: the `kvm-aarch64` board (see `boards::aarch64` and
//! docs/BOARDS.md). RAM starts at [`RAM_BASE`] as on QEMU `virt`, the
//! sentry's ELF segments go where its Linux arm64 Image would (RAM + 2 MiB),
//! and the vCPU starts at the Image entry at EL1 with the MMU off and
//! `x0` = a device tree built here: memory, one CPU, PSCI 0.2 via `hvc`,
//! the generic timer, the doorbell, and `/chosen` naming the BootInfo and
//! the doorbell. The sentry needs no interrupt controller (waits and
//! console are the VMM's), so none is created; the one interrupt it takes
//! is the event nudge, the vCPU's own IRQ line driven with KVM_IRQ_LINE
//! (KVM_ARM_IRQ_TYPE_CPU), taken only in EL0 and lowered again when the
//! sentry rings the doorbell (its acknowledgment is an empty batch).
//!
//! The doorbell is a store to [`KVM_DOORBELL_GPA`], an address with no
//! memory slot: KVM_EXIT_MMIO. PSCI SYSTEM_OFF/RESET (KVM_EXIT_SYSTEM_EVENT)
//! without an `Exit` request first is a sentry failure.

use boards::aarch64::*;
use boards::bootinfo::{BootInfo, MemoryKind};
use kvm_bindings::{kvm_vcpu_init, user_pt_regs, KVM_ARM_VCPU_PSCI_0_2};
use kvm_bindings::{KVM_REG_ARM64, KVM_REG_ARM_CORE, KVM_REG_SIZE_U64};
use kvm_ioctls::{Kvm, VcpuExit, VcpuFd, VmFd};
use vm_fdt::FdtWriter;
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

use crate::error::{internal, Failure};
use crate::vcpu::Exit as Event;

pub use boards::aarch64::{KERNEL_PHYS, RAM_BASE};

pub const BOOT_INFO_GPA: u64 = KVM_BOOT_INFO_GPA;
pub const HYPERCALL_PAGE_GPA: u64 = KVM_HYPERCALL_PAGE_GPA;
/// The sentry's direct map ends at 4 GiB of physical address space.
pub const MAX_MEMORY: u64 = KVM_MAX_MEMORY;
/// `e_machine` of the programs this VMM runs.
pub const APP_ARCH: crate::app::TargetArch = crate::app::TargetArch {
    e_machine: goblin::elf::header::EM_AARCH64,
    runs: "this host runs aarch64 programs",
};

/// The sentry ELF's segments at their physical addresses (its bss is
/// already zero: fresh anonymous memory). Returns the entry's physical
/// address: the Image header's first instruction, at KERNEL_PHYS.
pub fn load_sentry(mem: &GuestMemoryMmap, elf: &[u8]) -> Result<u64, Failure> {
    for ph in crate::image::sentry_segments(elf)? {
        let bytes = elf
            .get(ph.file_range())
            .ok_or_else(|| internal("embedded sentry ELF: segment out of bounds"))?;
        mem.write_slice(bytes, GuestAddress(ph.p_paddr))
            .map_err(|e| internal(format!("loading the sentry: {e}")))?;
    }
    Ok(KERNEL_PHYS)
}

/// The sentry's entry point (what `load_sentry` returns), for an image
/// placed without it.
pub fn sentry_entry(_elf: &[u8]) -> Result<u64, Failure> {
    Ok(KERNEL_PHYS)
}

/// Nothing to prepare: the sentry builds its own translation tables.
pub fn prepare_memory(
    _mem: &GuestMemoryMmap,
    _memory_size: u64,
    _platform: boards::Platform,
) -> Result<(), Failure> {
    Ok(())
}

/// The regions below the sentry: the device tree, the BootInfo and
/// hypercall pages, then free RAM up to KERNEL_PHYS.
pub fn push_boot_regions(info: &mut BootInfo) {
    info.push_region(
        KVM_DTB_GPA,
        KVM_BOOT_DATA_END - KVM_DTB_GPA,
        MemoryKind::BootData,
    );
    info.push_region(
        KVM_BOOT_DATA_END,
        KERNEL_PHYS - KVM_BOOT_DATA_END,
        MemoryKind::Usable,
    );
}

/// The counter frequency (CNTFRQ_EL0, which KVM guests read unchanged).
fn counter_frequency() -> u64 {
    let hz: u64;
    // SAFETY: reading CNTFRQ_EL0 at EL0 is allowed by Linux and has no
    // side effects.
    unsafe { std::arch::asm!("mrs {0}, cntfrq_el0", out(reg) hz, options(nomem, nostack)) };
    hz
}

/// Creates the vCPU (KVM_ARM_VCPU_INIT with the preferred target and PSCI
/// 0.2); returns it and the guest counter's frequency in kHz.
pub fn create_vcpu(_kvm: &Kvm, vm: &VmFd) -> Result<(VcpuFd, u64), Failure> {
    let vcpu = vm
        .create_vcpu(0)
        .map_err(|e| internal(format!("KVM_CREATE_VCPU: {e}")))?;
    let mut kvi = kvm_vcpu_init::default();
    vm.get_preferred_target(&mut kvi)
        .map_err(|e| internal(format!("KVM_ARM_PREFERRED_TARGET: {e}")))?;
    kvi.features[0] |= 1 << KVM_ARM_VCPU_PSCI_0_2;
    vcpu.vcpu_init(&kvi)
        .map_err(|e| internal(format!("KVM_ARM_VCPU_INIT: {e}")))?;
    Ok((vcpu, counter_frequency() / 1000))
}

/// KVM_{GET,SET}_ONE_REG id of a core register at `offset` in
/// `struct user_pt_regs` (the start of `struct kvm_regs`).
fn core_reg(offset: usize) -> u64 {
    KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE as u64 | (offset / 4) as u64
}

fn pc_reg() -> u64 {
    core_reg(std::mem::offset_of!(user_pt_regs, pc))
}

/// The device tree the sentry boots with.
fn device_tree(memory_size: u64) -> Result<Vec<u8>, vm_fdt::Error> {
    let mut fdt = FdtWriter::new()?;
    let root = fdt.begin_node("")?;
    fdt.property_string("compatible", "rvisor,kvm-aarch64")?;
    fdt.property_u32("#address-cells", 2)?;
    fdt.property_u32("#size-cells", 2)?;

    let chosen = fdt.begin_node("chosen")?;
    fdt.property_u64(CHOSEN_BOOT_INFO, KVM_BOOT_INFO_GPA)?;
    fdt.property_u64(CHOSEN_DOORBELL, KVM_DOORBELL_GPA)?;
    fdt.end_node(chosen)?;

    let memory = fdt.begin_node(&format!("memory@{RAM_BASE:x}"))?;
    fdt.property_string("device_type", "memory")?;
    fdt.property_array_u64("reg", &[RAM_BASE, memory_size])?;
    fdt.end_node(memory)?;

    let cpus = fdt.begin_node("cpus")?;
    fdt.property_u32("#address-cells", 1)?;
    fdt.property_u32("#size-cells", 0)?;
    let cpu = fdt.begin_node("cpu@0")?;
    fdt.property_string("device_type", "cpu")?;
    fdt.property_string("compatible", "arm,arm-v8")?;
    fdt.property_string("enable-method", "psci")?;
    fdt.property_u32("reg", 0)?;
    fdt.end_node(cpu)?;
    fdt.end_node(cpus)?;

    let psci = fdt.begin_node("psci")?;
    fdt.property_string_list(
        "compatible",
        vec!["arm,psci-0.2".to_string(), "arm,psci".to_string()],
    )?;
    fdt.property_string("method", "hvc")?;
    fdt.end_node(psci)?;

    // The generic timer's PPIs (secure, non-secure, virtual, hypervisor),
    // level-triggered; the sentry reads only the counter.
    let timer = fdt.begin_node("timer")?;
    fdt.property_string("compatible", "arm,armv8-timer")?;
    fdt.property_array_u32("interrupts", &[1, 13, 4, 1, 14, 4, 1, 11, 4, 1, 10, 4])?;
    fdt.property_null("always-on")?;
    fdt.end_node(timer)?;

    let doorbell = fdt.begin_node(&format!("rvisor-doorbell@{KVM_DOORBELL_GPA:x}"))?;
    fdt.property_string("compatible", "rvisor,doorbell")?;
    fdt.property_array_u64("reg", &[KVM_DOORBELL_GPA, 0x1000])?;
    fdt.end_node(doorbell)?;

    fdt.end_node(root)?;
    fdt.finish()
}

/// Writes the device tree and points the vCPU at the sentry's entry.
pub fn start_vcpu(
    vcpu: &VcpuFd,
    mem: &GuestMemoryMmap,
    entry: u64,
    memory_size: u64,
) -> Result<(), Failure> {
    let dtb =
        device_tree(memory_size).map_err(|e| internal(format!("building the device tree: {e}")))?;
    if dtb.len() as u64 > KVM_DTB_MAX_SIZE {
        return Err(internal("the device tree is too large"));
    }
    mem.write_slice(&dtb, GuestAddress(KVM_DTB_GPA))
        .map_err(|e| internal(format!("placing the device tree in guest memory: {e}")))?;
    // PSTATE after KVM_ARM_VCPU_INIT is EL1h with DAIF masked, the MMU off.
    vcpu.set_one_reg(pc_reg(), &entry.to_le_bytes())
        .map_err(|e| internal(format!("setting PC: {e}")))?;
    vcpu.set_one_reg(core_reg(0), &KVM_DTB_GPA.to_le_bytes())
        .map_err(|e| internal(format!("setting x0: {e}")))?;
    Ok(())
}

fn guest_pc(vcpu: &VcpuFd) -> u64 {
    let mut bytes = [0u8; 8];
    match vcpu.get_one_reg(pc_reg(), &mut bytes) {
        Ok(_) => u64::from_le_bytes(bytes),
        Err(_) => 0,
    }
}

/// One KVM_RUN, its exit sorted into what the common loop handles.
pub fn run_once(vcpu: &mut VcpuFd) -> Result<Event, Failure> {
    let fault = match vcpu.run() {
        Ok(VcpuExit::MmioWrite(KVM_DOORBELL_GPA, _)) => return Ok(Event::Doorbell),
        Ok(VcpuExit::MmioRead(addr, _)) | Ok(VcpuExit::MmioWrite(addr, _)) => {
            return Err(internal(format!(
                "guest kernel fault: access to unbacked guest-physical address {addr:#x}"
            )));
        }
        Ok(VcpuExit::SystemEvent(kind, _)) => {
            let what = if kind == kvm_bindings::KVM_SYSTEM_EVENT_SHUTDOWN {
                "powered the VM off (PSCI SYSTEM_OFF)"
            } else {
                "reset or crashed the VM (PSCI)"
            };
            format!("the sentry {what} without an Exit request")
        }
        Ok(VcpuExit::InternalError) => "KVM internal error".to_string(),
        Ok(VcpuExit::FailEntry(reason, _)) => {
            return Err(internal(format!("KVM entry failed (reason {reason:#x})")));
        }
        Ok(other) => return Err(internal(format!("unexpected VM exit: {other:?}"))),
        Err(e) if e.errno() == libc::EINTR => return Ok(Event::Kicked),
        Err(e) if e.errno() == libc::EAGAIN => return Ok(Event::Again),
        Err(e) => return Err(internal(format!("KVM_RUN: {e}"))),
    };
    Err(internal(format!(
        "guest kernel fault: {fault} (pc {:#x})",
        guest_pc(vcpu)
    )))
}

/// Extra vCPU-fd ioctls the vCPU loop needs after the seccomp filter is
/// in place (registers, for fault messages).
pub fn seccomp_ioctls() -> Vec<u64> {
    vec![KVM_GET_ONE_REG()]
}

/// VM-fd ioctls the vCPU loop needs after the filter (the event nudge).
pub fn seccomp_vm_ioctls() -> Vec<u64> {
    vec![KVM_IRQ_LINE()]
}

vmm_sys_util::ioctl_iow_nr!(
    KVM_IRQ_LINE,
    kvm_bindings::KVMIO,
    0x61,
    kvm_bindings::kvm_irq_level
);

/// Whether the vCPU's IRQ line is raised (the event nudge).
static NUDGE_RAISED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// KVM_IRQ_LINE number of vCPU 0's IRQ input without an in-kernel GIC:
/// irq_type KVM_ARM_IRQ_TYPE_CPU (0) << 24 | vcpu_index 0 << 16 | irq_id
/// KVM_ARM_IRQ_CPU_IRQ (0).
const CPU0_IRQ: u32 = 0;

/// Raises the vCPU's IRQ line (the event nudge; no GIC, so KVM drives the
/// vCPU's IRQ input directly). The sentry takes it only in EL0. Returns
/// whether it was raised now.
pub fn raise_nudge(vm: &VmFd) -> Result<bool, Failure> {
    use std::sync::atomic::Ordering;
    if NUDGE_RAISED.load(Ordering::Relaxed) {
        return Ok(false);
    }
    vm.set_irq_line(CPU0_IRQ, true)
        .map_err(|e| internal(format!("KVM_IRQ_LINE: {e}")))?;
    NUDGE_RAISED.store(true, Ordering::Relaxed);
    Ok(true)
}

/// A doorbell: the sentry runs, so the nudge (if raised) has done its job
/// (its acknowledgment is an empty batch); the line goes down.
pub fn nudge_seen(vm: &VmFd) -> Result<(), Failure> {
    use std::sync::atomic::Ordering;
    if NUDGE_RAISED.swap(false, Ordering::Relaxed) {
        vm.set_irq_line(CPU0_IRQ, false)
            .map_err(|e| internal(format!("KVM_IRQ_LINE: {e}")))?;
    }
    Ok(())
}

vmm_sys_util::ioctl_iow_nr!(
    KVM_GET_ONE_REG,
    kvm_bindings::KVMIO,
    0xab,
    kvm_bindings::kvm_one_reg
);

/// Where the guest's memory starts (for the memory map's end).
pub fn ram_end(memory_size: u64) -> u64 {
    RAM_BASE + memory_size
}

#[cfg(test)]
mod tests {
    #[test]
    fn device_tree_builds() {
        let dtb = super::device_tree(256 << 20).unwrap();
        assert!(dtb.len() as u64 <= boards::aarch64::KVM_DTB_MAX_SIZE);
    }
}
