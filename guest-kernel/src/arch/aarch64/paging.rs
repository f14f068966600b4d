//! aarch64 stage-1 descriptors (4 KiB granule, 4 levels, 48-bit) for the
//! user half (TTBR0_EL1); the walker itself is shared (`mm::pagetable`).
//!
//! The kernel half (TTBR1_EL1: the direct map, which the sentry also runs
//! from) is built once at boot (`boot.rs`) and never changes. User mappings
//! are 4 KiB pages, non-global (nG), never executable at EL1 (PXN).

use boards::aarch64::{DIRECT_MAP_BASE, PAGE_SIZE};

pub use crate::mm::pagetable::PageAccess;
use crate::mm::pagetable::{EntryFormat, KernelFormat, PageTable};

/// Descriptor bits (Arm ARM D8.3, VMSAv8-64 descriptors).
const VALID: u64 = 1 << 0;
/// Table descriptor (levels 0-2) or page descriptor (level 3).
const TABLE_OR_PAGE: u64 = 1 << 1;
/// AttrIndx = 1: MAIR_EL1 attribute 1, Normal write-back (boot.rs).
const ATTR_NORMAL: u64 = 1 << 2;
/// AP[1]: accessible from EL0.
const AP_EL0: u64 = 1 << 6;
/// AP[2]: read-only.
const AP_READ_ONLY: u64 = 1 << 7;
const SH_INNER: u64 = 3 << 8;
/// Access flag (no hardware AF management: set it up front).
const AF: u64 = 1 << 10;
const NOT_GLOBAL: u64 = 1 << 11;
/// Not executable at EL1 / at EL0.
const PXN: u64 = 1 << 53;
const UXN: u64 = 1 << 54;

/// Kernel virtual address of a physical address (direct map).
#[inline]
pub fn phys_to_virt(phys: u64) -> *mut u8 {
    (DIRECT_MAP_BASE + phys) as *mut u8
}

pub struct Aarch64Entries;

impl EntryFormat for Aarch64Entries {
    const VALID: u64 = VALID;
    const SOFT_PROT_NONE: u64 = 1 << 55;
    const ADDRESS_MASK: u64 = 0x0000_ffff_ffff_f000;

    fn table_entry(frame: u64) -> u64 {
        frame | VALID | TABLE_OR_PAGE
    }

    fn is_block(entry: u64) -> bool {
        entry & TABLE_OR_PAGE == 0
    }

    /// Not used yet on aarch64 (block descriptors would be the page
    /// descriptor's attributes with bit 1 clear).
    const HUGE_PAGES: bool = false;

    fn block_flags(_access: PageAccess) -> u64 {
        unreachable!("no 2 MiB user blocks on aarch64")
    }

    fn leaf_flags(access: PageAccess) -> u64 {
        if !access.readable {
            return Self::SOFT_PROT_NONE;
        }
        // EL0 pages are never executable at EL1 (PXN).
        let mut flags =
            VALID | TABLE_OR_PAGE | ATTR_NORMAL | AP_EL0 | SH_INNER | AF | NOT_GLOBAL | PXN;
        if !access.writable {
            flags |= AP_READ_ONLY;
        }
        if !access.executable {
            flags |= UXN;
        }
        flags
    }

    fn access_of(entry: u64) -> PageAccess {
        PageAccess {
            readable: entry & VALID != 0,
            writable: entry & VALID != 0 && entry & AP_READ_ONLY == 0,
            executable: entry & VALID != 0 && entry & UXN == 0,
        }
    }

    fn mirror_root(_root: u64) -> Option<u64> {
        None
    }

    /// Code becoming executable at EL0 (a new frame, or a frame gaining
    /// execute permission) must be visible to instruction fetch.
    fn before_update(phys: u64, old: u64, new: u64) {
        let now_executable = new & VALID != 0 && new & UXN == 0;
        let was_executable = old & VALID != 0 && old & UXN == 0;
        let same_frame = old & Self::ADDRESS_MASK == new & Self::ADDRESS_MASK;
        if now_executable && !(was_executable && same_frame) {
            super::cpu::sync_icache(phys_to_virt(phys), PAGE_SIZE as usize);
        }
    }

    fn after_update(addr: u64, old: u64, _new: u64) {
        if old & VALID != 0 {
            super::cpu::flush_page(addr);
        } else {
            super::cpu::table_store_barrier();
        }
    }

    fn flush_page(addr: u64) {
        super::cpu::flush_page(addr);
    }

    fn flush_all() {
        super::cpu::flush_all();
    }

    /// EL1 read/write, global, never executable.
    fn kernel_data_flags() -> u64 {
        VALID | TABLE_OR_PAGE | ATTR_NORMAL | SH_INNER | AF | PXN | UXN
    }
}

/// The kernel stacks' region (`crate::kstack`): TTBR1's level-0 slot 1,
/// above the direct map (slot 0), mapped page by page.
pub const KERNEL_STACKS_BASE: u64 = DIRECT_MAP_BASE + (1 << 39);
const KERNEL_STACKS_L0_SLOT: usize = 1;
static KERNEL_ROOT: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// Gives the kernel stacks' region a level-1 table in TTBR1's level-0
/// table `kernel_root`. False without memory.
pub fn init_kernel_region(kernel_root: u64) -> bool {
    let Some(table) = crate::mm::alloc_table_frame() else {
        return false;
    };
    // SAFETY: `kernel_root` is the boot level-0 table, covered by the
    // direct map; slot 1 is unused (the direct map is slot 0), and nothing
    // else writes the table after boot.
    unsafe {
        let root = phys_to_virt(kernel_root) as *mut u64;
        root.add(KERNEL_STACKS_L0_SLOT)
            .write(Aarch64Entries::table_entry(table));
    }
    super::cpu::table_store_barrier();
    KERNEL_ROOT.store(kernel_root, core::sync::atomic::Ordering::Relaxed);
    true
}

/// The sentry's own page table for the kernel stacks' region.
pub fn kernel_page_table() -> PageTable<KernelFormat<Aarch64Entries>> {
    PageTable::new(KERNEL_ROOT.load(core::sync::atomic::Ordering::Relaxed))
}

/// The user page table; `new(root)` takes the level-0 table TTBR0_EL1
/// points at (set by the boot code).
pub type UserPageTable = PageTable<Aarch64Entries>;

/// A root (level-0 table for TTBR0_EL1) for a new address space; the
/// sentry lives in TTBR1, so nothing is copied.
pub fn new_user_root(_template: u64) -> Option<u64> {
    crate::mm::alloc_zeroed_frame()
}

pub fn free_user_root(root: u64) {
    crate::mm::free_table_frame(root);
}

/// Switches TTBR0_EL1 to `root` and drops the old translations (no ASIDs).
/// The user page-table root last activated.
static LOADED_ROOT: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// Whether a stale translation is refilled without a fault: never on
/// aarch64 (see the x86_64 version).
pub fn stale_entries_refill() -> bool {
    false
}

/// The user page-table root in use.
pub fn loaded_user_root() -> u64 {
    LOADED_ROOT.load(core::sync::atomic::Ordering::Relaxed)
}

/// Activates `root` unless it is the one in use (a task switch between
/// threads of one process costs no page-table switch).
pub fn switch_user_root(root: u64) {
    if loaded_user_root() != root {
        activate_user_root(root);
    }
}

pub fn activate_user_root(root: u64) {
    LOADED_ROOT.store(root, core::sync::atomic::Ordering::Relaxed);
    // SAFETY: TTBR0 only maps user memory; the sentry runs from TTBR1.
    unsafe {
        core::arch::asm!(
            "msr ttbr0_el1, {}",
            "isb",
            "tlbi vmalle1",
            "dsb ish",
            "isb",
            in(reg) root,
            options(nostack, preserves_flags)
        );
    }
}

/// Level-0 slots of the user half (all of TTBR0).
pub const USER_ROOT_ENTRIES: usize = 512;
