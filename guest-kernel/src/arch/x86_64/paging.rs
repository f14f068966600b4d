//! x86_64 page-table entries for the user half of the address space (the
//! walker itself is shared: `mm::pagetable`).
//!
//! The kernel half (direct map, sentry image) is built once by the loader and
//! never changes. User mappings are 4 KiB pages and 2 MiB blocks (PS bit in
//! the level-2 entry). On the pvm host the user
//! half lives in a second PML4 (the page after the kernel PML4) which the host
//! switches to on user entry; the kernel PML4 carries the same lower-half
//! entries so the sentry can reach user memory. PML4 entries are written to
//! both, lower-level tables are shared.

use core::sync::atomic::{AtomicU64, Ordering};

use boards::x86_64::{DIRECT_MAP_BASE, DIRECT_MAP_PML4_SLOT, PAGE_SIZE};

pub use crate::mm::pagetable::PageAccess;
use crate::mm::pagetable::{EntryFormat, KernelFormat, PageTable};

const PRESENT: u64 = 1 << 0;
const WRITABLE: u64 = 1 << 1;
const USER: u64 = 1 << 2;
/// Set by the sentry on every entry it makes present, as the CPU would on
/// first use: the pvm host's shadow MMU prefetches neighbouring guest
/// entries into its shadow table on a fill only when they are marked
/// accessed (and keeps them writable only when marked dirty), so with both
/// set one host exit maps up to 8 pages instead of one.
const ACCESSED: u64 = 1 << 5;
const DIRTY: u64 = 1 << 6;
const HUGE: u64 = 1 << 7;
const NO_EXECUTE: u64 = 1 << 63;

/// Kernel virtual address of a guest-physical address (direct map).
#[inline]
pub fn phys_to_virt(phys: u64) -> *mut u8 {
    (DIRECT_MAP_BASE + phys) as *mut u8
}

pub struct X86Entries;

impl EntryFormat for X86Entries {
    const VALID: u64 = PRESENT;
    const SOFT_PROT_NONE: u64 = 1 << 9;
    const ADDRESS_MASK: u64 = 0x000f_ffff_ffff_f000;

    /// Permissions are decided at the leaf; on pvm every kernel-table entry
    /// must be user-accessible anyway.
    fn table_entry(frame: u64) -> u64 {
        frame | PRESENT | WRITABLE | USER | ACCESSED
    }

    fn is_block(entry: u64) -> bool {
        entry & HUGE != 0
    }

    const HUGE_PAGES: bool = true;

    fn block_flags(access: PageAccess) -> u64 {
        Self::leaf_flags(access) | HUGE
    }

    fn leaf_flags(access: PageAccess) -> u64 {
        if !access.readable {
            return Self::SOFT_PROT_NONE;
        }
        let mut flags = PRESENT | USER | ACCESSED;
        if access.writable {
            flags |= WRITABLE | DIRTY;
        }
        if !access.executable {
            flags |= NO_EXECUTE;
        }
        flags
    }

    fn access_of(entry: u64) -> PageAccess {
        PageAccess {
            readable: entry & PRESENT != 0,
            writable: entry & WRITABLE != 0,
            executable: entry & NO_EXECUTE == 0,
        }
    }

    /// The pvm user PML4 is the page after the kernel PML4 (unused, but
    /// harmless, on native).
    fn mirror_root(root: u64) -> Option<u64> {
        Some(root + PAGE_SIZE)
    }

    /// A present entry may be cached; a not-present one never is. Under
    /// pvm a change that only adds access to the same frame needs no flush:
    /// an `invlpg` is a trapped instruction there (~25 us), while a stale
    /// shadow entry that allows less than the new one is refilled by the
    /// host from this entry at the first access it refuses, without a guest
    /// fault (as x86 itself allows spurious faults after upgrades). A move
    /// to another frame is always flushed: the old frame may be freed and
    /// reused at once.
    fn after_update(addr: u64, old: u64, new: u64) {
        if old & PRESENT != 0 && !(super::is_pvm() && only_adds_access(old, new)) {
            super::cpu::flush_page(addr);
        }
    }

    fn flush_page(addr: u64) {
        super::cpu::flush_page(addr);
    }

    fn flush_all() {
        super::cpu::flush_all();
    }

    fn kernel_data_flags() -> u64 {
        PRESENT | WRITABLE | NO_EXECUTE | KERNEL_LEAF_USER.load(Ordering::Relaxed)
    }
}

/// Whether leaf `new` maps the frame of `old` with at least its access.
fn only_adds_access(old: u64, new: u64) -> bool {
    let address = X86Entries::ADDRESS_MASK;
    new & PRESENT != 0
        && old & address == new & address
        && (old & WRITABLE == 0 || new & WRITABLE != 0)
        && (old & NO_EXECUTE != 0 || new & NO_EXECUTE == 0)
}

/// The kernel stacks' region (`crate::kstack`): PML4 slot 509, below the
/// direct map (510) and the image (511), mapped page by page.
pub const KERNEL_STACKS_BASE: u64 = 0xffff_fe80_0000_0000;
const KERNEL_STACKS_PML4_SLOT: usize = 509;
/// The kernel PML4 every address space's upper half is copied from.
static KERNEL_ROOT: AtomicU64 = AtomicU64::new(0);
/// U=1 on the sentry's own leaves when the loader set it (pvm: isolation
/// comes from the PML4 pair, and every kernel entry must have U=1).
static KERNEL_LEAF_USER: AtomicU64 = AtomicU64::new(0);

/// Gives the kernel stacks' region a level-3 table in the boot kernel PML4
/// `kernel_root`, before any address space copies its upper half (they then
/// all share the region's tables). False without memory.
pub fn init_kernel_region(kernel_root: u64) -> bool {
    let Some(table) = crate::mm::alloc_table_frame() else {
        return false;
    };
    // SAFETY: `kernel_root` is the loader's kernel PML4, covered by the
    // direct map; slot 509 is unused (the loader fills 510 and 511), and
    // nothing else reads or writes the PML4 during boot.
    unsafe {
        let root = phys_to_virt(kernel_root) as *mut u64;
        let direct_map = root.add(DIRECT_MAP_PML4_SLOT).read();
        KERNEL_LEAF_USER.store(direct_map & USER, Ordering::Relaxed);
        root.add(KERNEL_STACKS_PML4_SLOT)
            .write(X86Entries::table_entry(table));
    }
    KERNEL_ROOT.store(kernel_root, Ordering::Relaxed);
    true
}

/// The sentry's own page table for the kernel stacks' region.
pub fn kernel_page_table() -> PageTable<KernelFormat<X86Entries>> {
    PageTable::new(KERNEL_ROOT.load(Ordering::Relaxed))
}

/// The user page table; `new(root)` takes the loader's kernel PML4.
pub type UserPageTable = PageTable<X86Entries>;

/// A root for a new address space: an 8 KiB-aligned pair (the kernel PML4,
/// whose upper half is copied from `template`, then the pvm user PML4), with
/// an empty user half. None when memory is exhausted.
pub fn new_user_root(template: u64) -> Option<u64> {
    let root = crate::mm::alloc_zeroed_frame_pair()?;
    // SAFETY: both are page-table pages covered by the direct map; the new
    // one is ours alone, the template is only read.
    unsafe {
        let src = phys_to_virt(template) as *const u64;
        let dst = phys_to_virt(root) as *mut u64;
        core::ptr::copy_nonoverlapping(src.add(256), dst.add(256), 256);
    }
    Some(root)
}

/// Frees a root made by [`new_user_root`] (its user half must be empty).
pub fn free_user_root(root: u64) {
    crate::mm::free_table_frame(root);
    crate::mm::free_table_frame(root + PAGE_SIZE);
}

/// Switches the user half to the address space at `root` (one trapped
/// instruction on pvm, which then switches the pair itself).
/// The user page-table root last activated.
static LOADED_ROOT: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// Whether a stale translation of a page is refilled from its entry at the
/// first access it refuses, without a guest fault: under pvm (a shadow
/// MMU; any CR3 load resyncs the shadow tables), so a copy-on-write break
/// may leave its `invlpg` (a trapped instruction, ~25 us) to a later full
/// flush, as long as the replaced frame is kept until then.
pub fn stale_entries_refill() -> bool {
    super::is_pvm()
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
    // SAFETY: `root` is a complete PML4 whose upper half maps the sentry
    // exactly as the current one does, so execution continues unchanged.
    unsafe {
        core::arch::asm!("mov cr3, {}", in(reg) root, options(nostack, preserves_flags));
    }
}

/// PML4 slots of the user half.
pub const USER_ROOT_ENTRIES: usize = 256;
