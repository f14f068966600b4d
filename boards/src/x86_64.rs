//! Memory layout of the x86_64 boards.
//!
//! Guest-physical (the `kvm-x86_64` board, built by `rvisor-vmm`):
//! ```text
//! 0x0000_0000  unused (null page)
//! 0x0000_1000  BootInfo
//! 0x0000_2000  hypercall page
//! 0x0010_0000  boot page tables (kernel PML4, user PML4, PDPTs, PDs)
//! 0x0020_0000  the sentry's image (KERNEL_PHYS)
//! ...          application ELF + strings (placed by the loader), then free RAM
//! ```
//! Virtual:
//! ```text
//! 0x0000_0000_0000_0000 .. 0x0000_7fff_ffff_ffff  the application (user half)
//! 0xffff_8000_0000_0000 (PML4 slot 256)            never used: the pvm host owns it
//! 0xffff_ff00_0000_0000 (PML4 slot 510)            direct map of all guest RAM
//! 0xffff_ffff_8000_0000 (PML4 slot 511)            the sentry image (first GiB of RAM)
//! ```

pub const BOOT_INFO_GPA: u64 = 0x1000;
/// The interrupt vector the VMM injects every 10 ms while the guest runs
/// in user mode (preemption and timer signals; see docs/PLATFORM-x86-kvm.md).
pub const TICK_VECTOR: u32 = 0x20;
/// The interrupt vector the VMM injects (while the guest runs in user mode)
/// after it published an event in the event ring (`crate::events`): only a
/// nudge to look at the ring, which the sentry also reads on every return
/// to user mode.
pub const EVENT_VECTOR: u32 = 0x21;
pub const HYPERCALL_PAGE_GPA: u64 = 0x2000;
/// The kernel PML4 must be 8 KiB aligned: the pvm user PML4 is the next page.
pub const PAGE_TABLES_GPA: u64 = 0x10_0000;
pub const PAGE_TABLES_END: u64 = 0x20_0000;
/// Where the sentry's image is loaded (its ELF's physical addresses).
pub const KERNEL_PHYS: u64 = 0x20_0000;

/// Base of the sentry's image window: virtual = KERNEL_VBASE + physical.
pub const KERNEL_VBASE: u64 = 0xffff_ffff_8000_0000;
/// Size of the image window (one PD of 2 MiB pages).
pub const KERNEL_WINDOW: u64 = 1 << 30;
/// Base of the direct map: virtual = DIRECT_MAP_BASE + physical.
pub const DIRECT_MAP_BASE: u64 = 0xffff_ff00_0000_0000;
/// PML4 slots of the two kernel windows.
pub const DIRECT_MAP_PML4_SLOT: usize = 510;
pub const KERNEL_PML4_SLOT: usize = 511;
/// The pvm host's own PML4 slot: never map anything there.
pub const PVM_RESERVED_PML4_SLOT: usize = 256;

/// First address past the user half.
pub const USER_END: u64 = 0x0000_8000_0000_0000;

/// GDT selectors. The SYSCALL/SYSRET pairs force this order:
/// STAR[47:32] = KERNEL_CS (SS = +8), STAR[63:48] = USER_CS32 (SS = +8, CS64 = +16).
pub const KERNEL_CS: u16 = 0x10;
pub const KERNEL_DS: u16 = 0x18;
pub const USER_CS32: u16 = 0x23;
pub const USER_DS: u16 = 0x2b;
pub const USER_CS: u16 = 0x33;
pub const TSS_SELECTOR: u16 = 0x40;

/// Initial control registers for a vCPU started directly in long mode.
pub const BOOT_CR0: u64 = 0x8005_0033; // PG WP NE ET MP PE
pub const BOOT_CR4: u64 = 0x620; // OSXMMEXCPT OSFXSR PAE
pub const BOOT_EFER: u64 = 0xd01; // NXE LMA LME SCE

pub const PAGE_SIZE: u64 = 4096;
pub const HUGE_PAGE_SIZE: u64 = 2 << 20;
