//! The 4-level, 4 KiB-page table walker for the user half of the address
//! space, shared by the architectures. Each gives its entry format through
//! [`EntryFormat`] (bits, and what to do around an update: TLB flushes,
//! barriers, the pvm PML4 mirror); the walking, mapping, protecting and
//! range operations are written once, here.

use core::marker::PhantomData;

use crate::arch::paging::phys_to_virt;

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

const PAGE_SIZE: u64 = 4096;
const LEVEL_2_SPAN: u64 = 2 << 20;
/// Beyond this many pages one full TLB flush is cheaper than per-page ones
/// (each is a trapped instruction on the pvm host).
const FLUSH_ALL_THRESHOLD: usize = 8;

/// An architecture's page-table entries.
pub trait EntryFormat {
    /// The MMU's valid/present bit.
    const VALID: u64;
    /// A software bit (ignored by the MMU) marking a PROT_NONE page: not
    /// valid, but its frame stays allocated and in the entry.
    const SOFT_PROT_NONE: u64;
    const ADDRESS_MASK: u64;
    /// A non-leaf entry pointing at table `frame`.
    fn table_entry(frame: u64) -> u64;
    /// A valid non-leaf entry that maps a block instead of a table.
    fn is_block(entry: u64) -> bool;
    /// Flag bits of a leaf with `access` (SOFT_PROT_NONE for no access).
    fn leaf_flags(access: PageAccess) -> u64;
    fn access_of(entry: u64) -> PageAccess;
    /// Where a new top-level entry must be copied too (pvm's user PML4).
    fn mirror_root(root: u64) -> Option<u64>;
    /// Before a leaf changes from `old` to `new` (aarch64: I-cache sync).
    fn before_update(_phys: u64, _old: u64, _new: u64) {}
    /// After a leaf changed: flush a stale valid entry (or order the store).
    fn after_update(addr: u64, old: u64);
    fn flush_page(addr: u64);
    fn flush_all();
}

pub struct PageTable<F: EntryFormat> {
    root: u64,
    mirror: Option<u64>,
    _format: PhantomData<F>,
}

fn table_at(phys: u64) -> &'static mut [u64; 512] {
    // SAFETY: `phys` is a page-table page (from the loader, the boot code or
    // the frame allocator) inside RAM, which the direct map covers. The
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

impl<F: EntryFormat> PageTable<F> {
    pub fn new(root: u64) -> PageTable<F> {
        PageTable {
            root,
            mirror: F::mirror_root(root),
            _format: PhantomData,
        }
    }

    fn holds_frame(entry: u64) -> bool {
        entry & (F::VALID | F::SOFT_PROT_NONE) != 0
    }

    /// Walks to the last-level table for `addr`, creating tables on the way
    /// when `alloc` is given.
    fn leaf_table(
        &mut self,
        addr: u64,
        mut alloc: Option<&mut dyn FnMut() -> Option<u64>>,
    ) -> Result<Option<&'static mut [u64; 512]>, OutOfFrames> {
        let idx = indices(addr);
        let mut table = table_at(self.root);
        for (level, &index) in idx[..3].iter().enumerate() {
            let entry = table[index];
            if entry & F::VALID == 0 {
                let Some(alloc) = alloc.as_mut() else {
                    return Ok(None);
                };
                let frame = alloc().ok_or(OutOfFrames)?;
                let new_entry = F::table_entry(frame);
                table[index] = new_entry;
                if level == 0 {
                    if let Some(mirror) = self.mirror {
                        table_at(mirror)[index] = new_entry;
                    }
                }
                table = table_at(frame);
            } else {
                if F::is_block(entry) {
                    return Ok(None); // user memory never uses blocks
                }
                table = table_at(entry & F::ADDRESS_MASK);
            }
        }
        Ok(Some(table))
    }

    pub fn translate(&mut self, addr: u64) -> Option<Translation> {
        let table = self.leaf_table(addr, None).ok()??;
        let entry = table[indices(addr)[3]];
        if !Self::holds_frame(entry) {
            return None;
        }
        Some(Translation {
            phys: entry & F::ADDRESS_MASK,
            access: F::access_of(entry),
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
        let new = phys | F::leaf_flags(access);
        F::before_update(phys, old, new);
        *slot = new;
        F::after_update(addr, old);
        Ok(Self::holds_frame(old).then_some(old & F::ADDRESS_MASK))
    }

    /// Changes the permissions of a mapped page; false if it is not mapped.
    pub fn protect(&mut self, addr: u64, access: PageAccess) -> bool {
        let Some(table) = self.leaf_table(addr, None).ok().flatten() else {
            return false;
        };
        let slot = &mut table[indices(addr)[3]];
        let old = *slot;
        if !Self::holds_frame(old) {
            return false;
        }
        let new = (old & F::ADDRESS_MASK) | F::leaf_flags(access);
        if new != old {
            F::before_update(old & F::ADDRESS_MASK, old, new);
            *slot = new;
            F::after_update(addr, old);
        }
        true
    }

    /// Calls `visit(addr, frame)` for every page with a frame in
    /// [start, end), skipping absent tables 2 MiB at a time.
    pub fn for_each_frame(&mut self, start: u64, end: u64, mut visit: impl FnMut(u64, u64)) {
        let mut addr = start;
        while addr < end {
            let Some(table) = self.leaf_table(addr, None).ok().flatten() else {
                addr = (addr | (LEVEL_2_SPAN - 1)) + 1;
                continue;
            };
            let entry = table[indices(addr)[3]];
            if Self::holds_frame(entry) {
                visit(addr, entry & F::ADDRESS_MASK);
            }
            addr += PAGE_SIZE;
        }
    }

    pub fn root(&self) -> u64 {
        self.root
    }

    /// Frees every table below the root's first `user_entries` slots (the
    /// leaves must be unmapped already) and clears those slots.
    pub fn free_tables(&mut self, user_entries: usize, free: &mut dyn FnMut(u64)) {
        fn free_level<F: EntryFormat>(table: u64, level: usize, free: &mut dyn FnMut(u64)) {
            if level < 2 {
                for &entry in table_at(table).iter() {
                    if entry & F::VALID != 0 && !F::is_block(entry) {
                        free_level::<F>(entry & F::ADDRESS_MASK, level + 1, free);
                    }
                }
            }
            free(table);
        }
        let root = table_at(self.root);
        for (index, slot) in root.iter_mut().enumerate().take(user_entries) {
            let entry = *slot;
            if entry & F::VALID != 0 && !F::is_block(entry) {
                free_level::<F>(entry & F::ADDRESS_MASK, 0, free);
            }
            *slot = 0;
            if let Some(mirror) = self.mirror {
                table_at(mirror)[index] = 0;
            }
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
                addr = (addr | (LEVEL_2_SPAN - 1)) + 1;
                continue;
            };
            let slot = &mut table[indices(addr)[3]];
            let old = *slot;
            if Self::holds_frame(old) {
                *slot = 0;
                if old & F::VALID != 0 {
                    if unmapped < FLUSH_ALL_THRESHOLD {
                        to_flush[unmapped] = addr;
                    }
                    unmapped += 1;
                }
                release(old & F::ADDRESS_MASK);
            }
            addr += PAGE_SIZE;
        }
        if unmapped > FLUSH_ALL_THRESHOLD {
            F::flush_all();
        } else {
            to_flush[..unmapped].iter().for_each(|&a| F::flush_page(a));
        }
    }
}
