//! Memory layout of the aarch64 boards (`qemu-aarch64-virt`; `kvm-aarch64`
//! will use the same map so one sentry build serves both).
//!
//! Guest-physical (QEMU `virt`):
//! ```text
//! 0x0800_0000  GICv3 distributor          0x080a_0000  GICv3 redistributors
//! 0x0900_0000  PL011 UART (stdout)        0x0901_0000  PL031 RTC
//! 0x4000_0000  RAM (RAM_BASE): QEMU's device tree near its start
//! 0x4020_0000  the sentry's image (KERNEL_PHYS), then the payload, then free RAM
//! ```
//! Virtual (4 KiB granule, 48-bit addresses on both halves):
//! ```text
//! TTBR0: 0x0000_0000_0000_0000 .. USER_END                 the application
//! TTBR1: 0xffff_0000_0000_0000 + physical (DIRECT_MAP_BASE) the first 4 GiB of
//!        the physical address space: devices (first GiB, Device-nGnRE) and
//!        RAM (Normal, write-back); the sentry runs from there too
//! ```

/// Base of the direct map: virtual = DIRECT_MAP_BASE + physical. The
/// sentry's image is linked inside it (at DIRECT_MAP_BASE + KERNEL_PHYS).
pub const DIRECT_MAP_BASE: u64 = 0xffff_0000_0000_0000;
/// The direct map covers physical memory below this (1 GiB blocks).
pub const DIRECT_MAP_LIMIT: u64 = 4 << 30;
/// Start of RAM on the `virt` board.
pub const RAM_BASE: u64 = 0x4000_0000;
/// Where QEMU loads a Linux arm64 Image with text_offset 0: RAM + 2 MiB.
pub const KERNEL_PHYS: u64 = RAM_BASE + 0x20_0000;

/// First address past the user half. The same as on x86_64 (47 bits) so
/// the arch-neutral memory layout (stack top, mmap area) is shared.
pub const USER_END: u64 = 0x0000_8000_0000_0000;

pub const PAGE_SIZE: u64 = 4096;
/// Size of a level-2 block (what one last-level table covers).
pub const HUGE_PAGE_SIZE: u64 = 2 << 20;

pub const GICD_BASE: u64 = 0x0800_0000;
pub const GICR_BASE: u64 = 0x080a_0000;
pub const PL011_BASE: u64 = 0x0900_0000;
pub const PL031_BASE: u64 = 0x0901_0000;
/// The generic timer's EL1 virtual timer interrupt: PPI 11 = INTID 27.
pub const VTIMER_INTID: u32 = 27;

// The `kvm-aarch64` board (rvisor-vmm on an aarch64 host). The same RAM
// base and image place as `qemu-aarch64-virt`, so one sentry build and one
// boot path (Linux arm64 Image entry, x0 = the device tree) serve both; the
// VMM's device tree says in `/chosen` where its BootInfo and doorbell are.
// ```text
// 0x0a00_0000  the hypercall doorbell (KVM_DOORBELL_GPA): no memory slot
// 0x4000_0000  the device tree (KVM_DTB_GPA, at most KVM_DTB_MAX_SIZE)
// 0x4010_0000  the BootInfo page, then the hypercall page
// 0x4020_0000  the sentry (KERNEL_PHYS), the application, its strings, the
//              mount table, the console ring, then free RAM
// ```

/// Where the VMM puts the flattened device tree (x0 at entry).
pub const KVM_DTB_GPA: u64 = RAM_BASE;
pub const KVM_DTB_MAX_SIZE: u64 = 0x1_0000;
/// The BootInfo page (named by `/chosen/rvisor,boot-info`).
pub const KVM_BOOT_INFO_GPA: u64 = RAM_BASE + 0x10_0000;
/// The hypercall page ([`crate::hypercall`]).
pub const KVM_HYPERCALL_PAGE_GPA: u64 = KVM_BOOT_INFO_GPA + PAGE_SIZE;
/// First address past the fixed boot data.
pub const KVM_BOOT_DATA_END: u64 = KVM_HYPERCALL_PAGE_GPA + PAGE_SIZE;
/// The hypercall doorbell: a 32-bit store here (no memory behind it, in the
/// direct map's device GiB) exits to the VMM (KVM_EXIT_MMIO), as the x86_64
/// `out` to [`crate::hypercall::DOORBELL_PORT`] does. Named by
/// `/chosen/rvisor,doorbell` and the `/rvisor-doorbell` node.
pub const KVM_DOORBELL_GPA: u64 = 0x0a00_0000;
/// The most RAM the sentry's direct map reaches (RAM_BASE..DIRECT_MAP_LIMIT).
pub const KVM_MAX_MEMORY: u64 = DIRECT_MAP_LIMIT - RAM_BASE;
/// `/chosen` properties of the VMM's device tree (u64 guest-physical).
pub const CHOSEN_BOOT_INFO: &str = "rvisor,boot-info";
pub const CHOSEN_DOORBELL: &str = "rvisor,doorbell";
