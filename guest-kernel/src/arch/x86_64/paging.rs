//! x86_64 4-level page tables for the user half of the address space.
//!
//! The kernel half (direct map, sentry image) is built once by the loader and
//! never changes. User mappings are 4 KiB pages. On the pvm host the user
//! half lives in a second PML4 (the page after the kernel PML4) which the host
//! switches to on user entry; the kernel PML4 carries the same lower-half
//! entries so the sentry can reach user memory. PML4 entries are written to
//! both, lower-level tables are shared.

use boards::x86_64::{DIRECT_MAP_BASE, PAGE_SIZE, USER_END};

const PRESENT: u64 = 1 << 0;
const WRITABLE: u64 = 1 << 1;
const USER: u64 = 1 << 2;
const HUGE: u64 = 1 << 7;
const NO_EXECUTE: u64 = 1 << 63;
/// Software bit (ignored by the MMU) of a PROT_NONE page: not present, but
/// the frame stays allocated and its address stays in the entry.
const SOFT_PROT_NONE: u64 = 1 << 9;
const ADDRESS_MASK: u64 = 0x000f_ffff_ffff_f000;
/// Flags of a table (non-leaf) entry: permissions are decided at the leaf.
const TABLE_FLAGS: u64 = PRESENT | WRITABLE | USER;

/// Kernel virtual address of a guest-physical address (direct map).
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
    kernel_root: u64,
    user_root: u64,
}

fn table_at(phys: u64) -> &'static mut [u64; 512] {
    // SAFETY: `phys` is a page-table page (from the loader or the frame
    // allocator) inside guest RAM, which the direct map covers entirely. The
    // sentry is single-threaded, so no other reference is live while a
    // mapping operation runs.
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
    /// `kernel_root` is the loader's kernel PML4; the user PML4 of the pvm
    /// pair is the page after it.
    pub fn new(kernel_root: u64) -> UserPageTable {
        UserPageTable {
            kernel_root,
            user_root: kernel_root + PAGE_SIZE,
        }
    }

    /// Walks to the last-level table for `addr`, creating tables on the way
    /// when `alloc` is given.
    fn leaf_table(
        &mut self,
        addr: u64,
        mut alloc: Option<&mut dyn FnMut() -> Option<u64>>,
    ) -> Result<Option<&'static mut [u64; 512]>, OutOfFrames> {
        debug_assert!(addr < USER_END);
        let idx = indices(addr);
        let mut table = table_at(self.kernel_root);
        for (level, &index) in idx[..3].iter().enumerate() {
            let entry = table[index];
            if entry & PRESENT == 0 {
                let Some(alloc) = alloc.as_mut() else {
                    return Ok(None);
                };
                let frame = alloc().ok_or(OutOfFrames)?;
                let new_entry = frame | TABLE_FLAGS;
                table[index] = new_entry;
                if level == 0 {
                    table_at(self.user_root)[index] = new_entry;
                }
                table = table_at(frame);
            } else {
                if entry & HUGE != 0 {
                    // User memory never uses huge pages.
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
        if entry & (PRESENT | SOFT_PROT_NONE) == 0 {
            return None;
        }
        Some(Translation {
            phys: entry & ADDRESS_MASK,
            access: PageAccess {
                readable: entry & PRESENT != 0,
                writable: entry & WRITABLE != 0,
                executable: entry & NO_EXECUTE == 0,
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
        *slot = phys | leaf_flags(access);
        if old & PRESENT != 0 {
            super::cpu::flush_page(addr);
        }
        if old & (PRESENT | SOFT_PROT_NONE) != 0 {
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
        if old & (PRESENT | SOFT_PROT_NONE) == 0 {
            return false;
        }
        let new = (old & ADDRESS_MASK) | leaf_flags(access);
        if new != old {
            *slot = new;
            if old & PRESENT != 0 {
                super::cpu::flush_page(addr);
            }
        }
        true
    }
}

impl UserPageTable {
    /// Calls `visit(addr, frame)` for every page with a frame in
    /// [start, end), skipping absent tables 2 MiB at a time.
    pub fn for_each_frame(&mut self, start: u64, end: u64, mut visit: impl FnMut(u64, u64)) {
        let mut addr = start;
        while addr < end {
            let Some(table) = self.leaf_table(addr, None).ok().flatten() else {
                addr = (addr | (boards::x86_64::HUGE_PAGE_SIZE - 1)) + 1;
                continue;
            };
            let entry = table[indices(addr)[3]];
            if entry & (PRESENT | SOFT_PROT_NONE) != 0 {
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
                addr = (addr | (boards::x86_64::HUGE_PAGE_SIZE - 1)) + 1;
                continue;
            };
            let slot = &mut table[indices(addr)[3]];
            let old = *slot;
            if old & (PRESENT | SOFT_PROT_NONE) != 0 {
                *slot = 0;
                if old & PRESENT != 0 {
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

/// Beyond this many pages one full TLB flush is cheaper than per-page ones
/// (each is a trapped instruction on the pvm host).
const FLUSH_ALL_THRESHOLD: usize = 8;

fn leaf_flags(access: PageAccess) -> u64 {
    if !access.readable {
        return SOFT_PROT_NONE;
    }
    let mut flags = PRESENT | USER;
    if access.writable {
        flags |= WRITABLE;
    }
    if !access.executable {
        flags |= NO_EXECUTE;
    }
    flags
}
