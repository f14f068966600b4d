//! aarch64 stage-1 translation tables (4 KiB granule, 4 levels, 48-bit) for
//! the user half (TTBR0_EL1).
//!
//! The kernel half (TTBR1_EL1: the direct map, which the sentry also runs
//! from) is built once at boot (`boot.rs`) and never changes. User mappings
//! are 4 KiB pages, non-global (nG), never executable at EL1 (PXN). The API
//! is the x86_64 one (`arch::x86_64::paging`), so the arch-neutral memory
//! manager drives both.

use boards::aarch64::{DIRECT_MAP_BASE, HUGE_PAGE_SIZE, PAGE_SIZE, USER_END};

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
/// Software bit (ignored by the MMU) of a PROT_NONE page: not valid, but
/// the frame stays allocated and its address stays in the entry.
const SOFT_PROT_NONE: u64 = 1 << 55;
const ADDRESS_MASK: u64 = 0x0000_ffff_ffff_f000;

/// Kernel virtual address of a physical address (direct map).
#[inline]
pub fn phys_to_virt(phys: u64) -> *mut u8 {
    (DIRECT_MAP_BASE + phys) as *mut u8
}

/// Permissions of a user page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageAccess {
    /// False for PROT_NONE: the page keeps its frame but cannot be touched.
    pub readable: bool,
    pub writable: bool,
    pub executable: bool,
}

#[derive(Clone, Copy, Debug)]
pub struct Translation {
    pub phys: u64,
    pub access: PageAccess,
}

/// The allocator could not supply a page-table page.
#[derive(Debug)]
pub struct OutOfFrames;

pub struct UserPageTable {
    root: u64,
}

fn table_at(phys: u64) -> &'static mut [u64; 512] {
    // SAFETY: `phys` is a translation-table page (the boot code's user root
    // or one from the frame allocator) inside RAM, which the direct map
    // covers. The sentry is single-threaded, so no other reference is live
    // while a mapping operation runs.
    unsafe { &mut *(phys_to_virt(phys) as *mut [u64; 512]) }
}

fn indices(addr: u64) -> [usize; 4] {
    [
        ((addr >> 39) & 511) as usize,
        ((addr >> 30) & 511) as usize,
        ((addr >> 21) & 511) as usize,
        ((addr >> 12) & 511) as usize,
    ]
}

impl UserPageTable {
    /// `root` is the level-0 table TTBR0_EL1 points at (set by the boot code).
    pub fn new(root: u64) -> UserPageTable {
        UserPageTable { root }
    }

    /// Walks to the level-3 table for `addr`, creating tables on the way
    /// when `alloc` is given.
    fn leaf_table(
        &mut self,
        addr: u64,
        mut alloc: Option<&mut dyn FnMut() -> Option<u64>>,
    ) -> Result<Option<&'static mut [u64; 512]>, OutOfFrames> {
        debug_assert!(addr < USER_END);
        let idx = indices(addr);
        let mut table = table_at(self.root);
        for &index in idx[..3].iter() {
            let entry = table[index];
            if entry & VALID == 0 {
                let Some(alloc) = alloc.as_mut() else {
                    return Ok(None);
                };
                let frame = alloc().ok_or(OutOfFrames)?;
                table[index] = frame | VALID | TABLE_OR_PAGE;
                table = table_at(frame);
            } else {
                if entry & TABLE_OR_PAGE == 0 {
                    // A block: user memory never uses them.
                    return Ok(None);
                }
                table = table_at(entry & ADDRESS_MASK);
            }
        }
        Ok(Some(table))
    }

    pub fn translate(&mut self, addr: u64) -> Option<Translation> {
        let table = self.leaf_table(addr, None).ok()??;
        let entry = table[indices(addr)[3]];
        if entry & (VALID | SOFT_PROT_NONE) == 0 {
            return None;
        }
        Some(Translation {
            phys: entry & ADDRESS_MASK,
            access: PageAccess {
                readable: entry & VALID != 0,
                writable: entry & VALID != 0 && entry & AP_READ_ONLY == 0,
                executable: entry & VALID != 0 && entry & UXN == 0,
            },
        })
    }

    /// Maps the page at `addr` to `phys`. A previous mapping is replaced
    /// (and its TLB entry flushed); the replaced frame is returned.
    pub fn map(
        &mut self,
        addr: u64,
        phys: u64,
        access: PageAccess,
        alloc: &mut dyn FnMut() -> Option<u64>,
    ) -> Result<Option<u64>, OutOfFrames> {
        let table = self
            .leaf_table(addr, Some(alloc))?
            .expect("leaf table exists after allocation");
        let slot = &mut table[indices(addr)[3]];
        let old = *slot;
        if access.readable && access.executable {
            super::cpu::sync_icache(phys_to_virt(phys), PAGE_SIZE as usize);
        }
        *slot = phys | leaf_flags(access);
        if old & VALID != 0 {
            super::cpu::flush_page(addr);
        } else {
            super::cpu::table_store_barrier();
        }
        if old & (VALID | SOFT_PROT_NONE) != 0 {
            return Ok(Some(old & ADDRESS_MASK));
        }
        Ok(None)
    }

    /// Changes the permissions of a mapped page; false if it is not mapped.
    pub fn protect(&mut self, addr: u64, access: PageAccess) -> bool {
        let Some(table) = self.leaf_table(addr, None).ok().flatten() else {
            return false;
        };
        let slot = &mut table[indices(addr)[3]];
        let old = *slot;
        if old & (VALID | SOFT_PROT_NONE) == 0 {
            return false;
        }
        let new = (old & ADDRESS_MASK) | leaf_flags(access);
        if new != old {
            if access.readable && access.executable && old & UXN != 0 {
                super::cpu::sync_icache(phys_to_virt(old & ADDRESS_MASK), PAGE_SIZE as usize);
            }
            *slot = new;
            if old & VALID != 0 {
                super::cpu::flush_page(addr);
            } else {
                super::cpu::table_store_barrier();
            }
        }
        true
    }

    /// Calls `visit(addr, frame)` for every page with a frame in
    /// [start, end), skipping absent tables 2 MiB at a time.
    pub fn for_each_frame(&mut self, start: u64, end: u64, mut visit: impl FnMut(u64, u64)) {
        let mut addr = start;
        while addr < end {
            let Some(table) = self.leaf_table(addr, None).ok().flatten() else {
                addr = (addr | (HUGE_PAGE_SIZE - 1)) + 1;
                continue;
            };
            let entry = table[indices(addr)[3]];
            if entry & (VALID | SOFT_PROT_NONE) != 0 {
                visit(addr, entry & ADDRESS_MASK);
            }
            addr += PAGE_SIZE;
        }
    }

    /// Unmaps every page in [start, end) and hands each frame to `release`.
    /// Flushes the whole TLB once instead of page by page when many pages go.
    pub fn unmap_range(&mut self, start: u64, end: u64, mut release: impl FnMut(u64)) {
        let mut unmapped = 0usize;
        let mut to_flush = [0u64; FLUSH_ALL_THRESHOLD];
        let mut addr = start;
        while addr < end {
            let Some(table) = self.leaf_table(addr, None).ok().flatten() else {
                addr = (addr | (HUGE_PAGE_SIZE - 1)) + 1;
                continue;
            };
            let slot = &mut table[indices(addr)[3]];
            let old = *slot;
            if old & (VALID | SOFT_PROT_NONE) != 0 {
                *slot = 0;
                if old & VALID != 0 {
                    if unmapped < FLUSH_ALL_THRESHOLD {
                        to_flush[unmapped] = addr;
                    }
                    unmapped += 1;
                }
                release(old & ADDRESS_MASK);
            }
            addr += PAGE_SIZE;
        }
        if unmapped > FLUSH_ALL_THRESHOLD {
            super::cpu::flush_all();
        } else {
            to_flush[..unmapped]
                .iter()
                .for_each(|&a| super::cpu::flush_page(a));
        }
    }
}

/// Beyond this many pages one full TLB flush is cheaper than per-page ones.
const FLUSH_ALL_THRESHOLD: usize = 8;

fn leaf_flags(access: PageAccess) -> u64 {
    if !access.readable {
        return SOFT_PROT_NONE;
    }
    // EL0 pages are never executable at EL1 (PXN).
    let mut flags = VALID | TABLE_OR_PAGE | ATTR_NORMAL | AP_EL0 | SH_INNER | AF | NOT_GLOBAL | PXN;
    if !access.writable {
        flags |= AP_READ_ONLY;
    }
    if !access.executable {
        flags |= UXN;
    }
    flags
}
