//! The 4-level table walker for the user half of the address space, shared
//! by the architectures. Each gives its entry format through
//! [`EntryFormat`] (bits, and what to do around an update: TLB flushes,
//! barriers, the pvm PML4 mirror); the walking, mapping, protecting and
//! range operations are written once, here.
//!
//! User memory is mapped with 4 KiB pages and, where the architecture
//! allows (`EntryFormat::HUGE_PAGES`), 2 MiB blocks for large anonymous
//! areas. A block is always mapped whole; an operation on part of one
//! (a single page, or a range that starts or ends inside it) first splits
//! it into a table of 512 pages with the same frames and permissions, as
//! Linux splits a transparent huge page. A block's frames are then 512
//! ordinary frames.

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
    /// Whether user memory may be mapped with 2 MiB blocks.
    const HUGE_PAGES: bool;
    /// Flag bits of a 2 MiB block leaf with `access` (always accessible:
    /// a PROT_NONE range is split into pages first).
    fn block_flags(access: PageAccess) -> u64;
    fn access_of(entry: u64) -> PageAccess;
    /// Where a new top-level entry must be copied too (pvm's user PML4).
    fn mirror_root(root: u64) -> Option<u64>;
    /// Before a leaf changes from `old` to `new` (aarch64: I-cache sync).
    fn before_update(_phys: u64, _old: u64, _new: u64) {}
    /// After a leaf changed from `old` to `new`: flush a stale valid entry
    /// (or order the store).
    fn after_update(addr: u64, old: u64, new: u64);
    fn flush_page(addr: u64);
    fn flush_all();
    /// After a block at `addr` changed or was split: every translation
    /// cached for any of its pages must go. A full flush: under shadow
    /// paging the host may hold separate entries for each 4 KiB piece, and
    /// a flush of one address would leave the others stale.
    fn flush_all_of_block(_addr: u64) {
        Self::flush_all()
    }
    /// Flag bits of a leaf for the sentry's own data in the kernel half:
    /// readable and writable by the sentry, never executable, out of user
    /// mode's reach.
    fn kernel_data_flags() -> u64;
}

/// The sentry's own page-by-page mappings in the kernel half (the kernel
/// stacks with their guard pages, `crate::kstack`): the architecture's
/// format with kernel data leaves, and no pvm user-PML4 mirror (the user
/// PML4 maps user memory only).
pub struct KernelFormat<F>(PhantomData<F>);

impl<F: EntryFormat> EntryFormat for KernelFormat<F> {
    const VALID: u64 = F::VALID;
    const SOFT_PROT_NONE: u64 = F::SOFT_PROT_NONE;
    const ADDRESS_MASK: u64 = F::ADDRESS_MASK;
    const HUGE_PAGES: bool = false;

    fn table_entry(frame: u64) -> u64 {
        F::table_entry(frame)
    }

    fn is_block(entry: u64) -> bool {
        F::is_block(entry)
    }

    fn leaf_flags(_access: PageAccess) -> u64 {
        F::kernel_data_flags()
    }

    fn block_flags(_access: PageAccess) -> u64 {
        unreachable!("the kernel region is mapped page by page")
    }

    fn access_of(entry: u64) -> PageAccess {
        F::access_of(entry)
    }

    fn mirror_root(_root: u64) -> Option<u64> {
        None
    }

    fn after_update(addr: u64, old: u64, new: u64) {
        F::after_update(addr, old, new)
    }

    fn flush_page(addr: u64) {
        F::flush_page(addr)
    }

    fn flush_all() {
        F::flush_all()
    }

    fn kernel_data_flags() -> u64 {
        F::kernel_data_flags()
    }
}

pub struct PageTable<F: EntryFormat> {
    root: u64,
    mirror: Option<u64>,
    _format: PhantomData<F>,
}

fn table_at(phys: u64) -> &'static mut [u64; 512] {
    // SAFETY: `phys` is a page-table page (from the loader, the boot code or
    // the frame allocator) inside RAM, which the direct map covers. Page
    // tables are changed only through their address space's `PageTable`,
    // reached through the address space's lock, so no other reference to
    // the table is live while a mapping operation runs.
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

    /// Walks to the level-2 table (whose entries span 2 MiB) for `addr`,
    /// creating tables on the way when `alloc` is given.
    fn level_2_table(
        &mut self,
        addr: u64,
        mut alloc: Option<&mut dyn FnMut() -> Option<u64>>,
    ) -> Result<Option<&'static mut [u64; 512]>, OutOfFrames> {
        let idx = indices(addr);
        let mut table = table_at(self.root);
        for (level, &index) in idx[..2].iter().enumerate() {
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
                    return Ok(None); // no 1 GiB blocks in user memory
                }
                table = table_at(entry & F::ADDRESS_MASK);
            }
        }
        Ok(Some(table))
    }

    /// The leaf for `addr`: the last-level entry, or the 2 MiB block
    /// covering it. With `alloc`, missing tables are created and a block is
    /// split, so the result is always a page entry.
    fn leaf(
        &mut self,
        addr: u64,
        mut alloc: Option<&mut dyn FnMut() -> Option<u64>>,
    ) -> Result<Option<Leaf>, OutOfFrames> {
        let walk_alloc: Option<&mut dyn FnMut() -> Option<u64>> = match alloc.as_mut() {
            Some(alloc) => Some(&mut **alloc),
            None => None,
        };
        let Some(level_2) = self.level_2_table(addr, walk_alloc)? else {
            return Ok(None);
        };
        let slot = &mut level_2[indices(addr)[2]];
        let entry = *slot;
        if entry & F::VALID == 0 {
            let Some(alloc) = alloc.as_mut() else {
                return Ok(None);
            };
            let frame = alloc().ok_or(OutOfFrames)?;
            *slot = F::table_entry(frame);
            return Ok(Some(Leaf::Page(&mut table_at(frame)[indices(addr)[3]])));
        }
        if F::is_block(entry) {
            match alloc {
                None => return Ok(Some(Leaf::Block(slot))),
                Some(alloc) => {
                    Self::split_block(addr, slot, alloc)?;
                }
            }
        }
        let table = table_at(*slot & F::ADDRESS_MASK);
        Ok(Some(Leaf::Page(&mut table[indices(addr)[3]])))
    }

    /// Replaces the block in `slot` (covering `addr`) by a table of 512
    /// pages with the same frames and permissions.
    fn split_block(
        addr: u64,
        slot: &mut u64,
        alloc: &mut dyn FnMut() -> Option<u64>,
    ) -> Result<(), OutOfFrames> {
        let block = *slot;
        let base = block & F::ADDRESS_MASK & !(LEVEL_2_SPAN - 1);
        let flags = F::leaf_flags(F::access_of(block));
        let frame = alloc().ok_or(OutOfFrames)?;
        // A fresh table: the host does not shadow it yet, so filling it
        // costs no exits on pvm; only the level-2 store below does.
        let table = table_at(frame);
        for (i, entry) in table.iter_mut().enumerate() {
            *entry = (base + i as u64 * PAGE_SIZE) | flags;
        }
        *slot = F::table_entry(frame);
        F::flush_all_of_block(addr & !(LEVEL_2_SPAN - 1));
        Ok(())
    }

    /// Splits the block covering `addr` unless `addr` is its start (so that
    /// a range operation from or to `addr` covers whole blocks only).
    pub fn split_block_at(
        &mut self,
        addr: u64,
        alloc: &mut dyn FnMut() -> Option<u64>,
    ) -> Result<(), OutOfFrames> {
        if !F::HUGE_PAGES || addr.is_multiple_of(LEVEL_2_SPAN) {
            return Ok(());
        }
        if let Some(Leaf::Block(_)) = self.leaf(addr, None)? {
            self.leaf(addr, Some(alloc))?;
        }
        Ok(())
    }

    /// Maps the 2 MiB block at `addr` (aligned) to `phys` (aligned) when
    /// nothing is mapped there yet (no page, no table under the level-2
    /// entry); false otherwise.
    pub fn map_block(
        &mut self,
        addr: u64,
        phys: u64,
        access: PageAccess,
        alloc: &mut dyn FnMut() -> Option<u64>,
    ) -> Result<bool, OutOfFrames> {
        assert!(
            F::HUGE_PAGES
                && access.readable
                && addr.is_multiple_of(LEVEL_2_SPAN)
                && phys.is_multiple_of(LEVEL_2_SPAN),
            "bad block mapping {addr:#x} -> {phys:#x}"
        );
        let level_2 = self
            .level_2_table(addr, Some(alloc))?
            .expect("tables exist after allocation");
        let slot = &mut level_2[indices(addr)[2]];
        if *slot & (F::VALID | F::SOFT_PROT_NONE) != 0 {
            return Ok(false);
        }
        *slot = phys | F::block_flags(access);
        F::after_update(addr, 0, *slot);
        Ok(true)
    }

    /// The block mapping `addr`, if a block does: its first frame and its
    /// permissions.
    pub fn block_at(&mut self, addr: u64) -> Option<(u64, PageAccess)> {
        match self.leaf(addr, None).ok()?? {
            Leaf::Block(slot) => Some((
                *slot & F::ADDRESS_MASK & !(LEVEL_2_SPAN - 1),
                F::access_of(*slot),
            )),
            Leaf::Page(_) => None,
        }
    }

    /// Points the block mapping `addr` at `phys` with `access` (copy on
    /// write); false if no block maps `addr`.
    pub fn replace_block(&mut self, addr: u64, phys: u64, access: PageAccess) -> bool {
        let Ok(Some(Leaf::Block(slot))) = self.leaf(addr, None) else {
            return false;
        };
        *slot = phys | F::block_flags(access);
        F::flush_all_of_block(addr & !(LEVEL_2_SPAN - 1));
        true
    }

    /// Whether a level-2 entry for `addr` is free for a block: no table and
    /// no block there.
    pub fn block_slot_free(&mut self, addr: u64) -> bool {
        match self.level_2_table(addr, None) {
            Ok(Some(level_2)) => level_2[indices(addr)[2]] & (F::VALID | F::SOFT_PROT_NONE) == 0,
            Ok(None) => true,
            Err(_) => false,
        }
    }

    pub fn translate(&mut self, addr: u64) -> Option<Translation> {
        match self.leaf(addr, None).ok()?? {
            Leaf::Page(slot) => {
                let entry = *slot;
                if !Self::holds_frame(entry) {
                    return None;
                }
                Some(Translation {
                    phys: entry & F::ADDRESS_MASK,
                    access: F::access_of(entry),
                })
            }
            Leaf::Block(slot) => {
                let entry = *slot;
                let base = entry & F::ADDRESS_MASK & !(LEVEL_2_SPAN - 1);
                Some(Translation {
                    phys: base + (addr & (LEVEL_2_SPAN - 1) & !(PAGE_SIZE - 1)),
                    access: F::access_of(entry),
                })
            }
        }
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
        self.map_leaf(addr, phys, access, alloc, true)
    }

    /// As [`map`](Self::map), without flushing the replaced entry: only
    /// for a caller that keeps the replaced frame until a full flush (see
    /// `crate::arch::paging::stale_entries_refill`).
    pub fn map_unflushed(
        &mut self,
        addr: u64,
        phys: u64,
        access: PageAccess,
        alloc: &mut dyn FnMut() -> Option<u64>,
    ) -> Result<Option<u64>, OutOfFrames> {
        self.map_leaf(addr, phys, access, alloc, false)
    }

    fn map_leaf(
        &mut self,
        addr: u64,
        phys: u64,
        access: PageAccess,
        alloc: &mut dyn FnMut() -> Option<u64>,
        flush: bool,
    ) -> Result<Option<u64>, OutOfFrames> {
        let Some(Leaf::Page(slot)) = self.leaf(addr, Some(alloc))? else {
            unreachable!("a page entry exists after allocation");
        };
        let old = *slot;
        let new = phys | F::leaf_flags(access);
        F::before_update(phys, old, new);
        *slot = new;
        if flush {
            F::after_update(addr, old, new);
        }
        Ok(Self::holds_frame(old).then_some(old & F::ADDRESS_MASK))
    }

    /// Changes the permissions of a mapped page (splitting a block around
    /// it); false if it is not mapped.
    pub fn protect(
        &mut self,
        addr: u64,
        access: PageAccess,
        alloc: &mut dyn FnMut() -> Option<u64>,
    ) -> Result<bool, OutOfFrames> {
        if self.translate(addr).is_none() {
            return Ok(false);
        }
        let Some(Leaf::Page(slot)) = self.leaf(addr, Some(alloc))? else {
            unreachable!("a page entry exists after allocation");
        };
        let old = *slot;
        let new = (old & F::ADDRESS_MASK) | F::leaf_flags(access);
        if new != old {
            F::before_update(old & F::ADDRESS_MASK, old, new);
            *slot = new;
            F::after_update(addr, old, new);
        }
        Ok(true)
    }

    /// Changes the permissions of the whole block at `addr` (aligned) to
    /// `access`; false if no block is mapped there. A block losing all
    /// access is split into pages (PROT_NONE pages keep their frames).
    pub fn protect_block(
        &mut self,
        addr: u64,
        access: PageAccess,
        alloc: &mut dyn FnMut() -> Option<u64>,
    ) -> Result<bool, OutOfFrames> {
        let Some(Leaf::Block(slot)) = self.leaf(addr, None)? else {
            return Ok(false);
        };
        if !access.readable {
            for page in (addr..addr + LEVEL_2_SPAN).step_by(PAGE_SIZE as usize) {
                self.protect(page, access, alloc)?;
            }
            return Ok(true);
        }
        let old = *slot;
        let new = (old & F::ADDRESS_MASK) | F::block_flags(access);
        if new != old {
            *slot = new;
            F::flush_all_of_block(addr);
        }
        Ok(true)
    }

    /// Calls `visit(addr, frame, size)` for every page (size 4 KiB) and
    /// block (2 MiB; `addr` its start, which may lie before `start`) with
    /// a frame in [start, end).
    pub fn for_each_leaf(&mut self, start: u64, end: u64, mut visit: impl FnMut(u64, u64, u64)) {
        let mut addr = start;
        while addr < end {
            match self.leaf(addr, None).ok().flatten() {
                None => addr = (addr | (LEVEL_2_SPAN - 1)) + 1,
                Some(Leaf::Block(slot)) => {
                    let block = addr & !(LEVEL_2_SPAN - 1);
                    visit(
                        block,
                        *slot & F::ADDRESS_MASK & !(LEVEL_2_SPAN - 1),
                        LEVEL_2_SPAN,
                    );
                    addr = block + LEVEL_2_SPAN;
                }
                Some(Leaf::Page(slot)) => {
                    let entry = *slot;
                    if Self::holds_frame(entry) {
                        visit(addr, entry & F::ADDRESS_MASK, PAGE_SIZE);
                    }
                    addr += PAGE_SIZE;
                }
            }
        }
    }

    /// Calls `visit(addr, frame)` for every 4 KiB page with a frame in
    /// [start, end) (the pages of blocks included), skipping absent tables
    /// 2 MiB at a time.
    pub fn for_each_frame(&mut self, start: u64, end: u64, mut visit: impl FnMut(u64, u64)) {
        self.for_each_leaf(start, end, |addr, frame, size| {
            if size == PAGE_SIZE {
                visit(addr, frame);
                return;
            }
            let from = addr.max(start);
            let to = (addr + size).min(end);
            for page in (from..to).step_by(PAGE_SIZE as usize) {
                visit(page, frame + (page - addr));
            }
        });
    }

    /// Whether user memory may use 2 MiB blocks here.
    pub fn blocks_supported(&self) -> bool {
        F::HUGE_PAGES
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

    /// Tears down an address space that is not loaded on any CPU: hands
    /// every page's frame to `release` and every block to `release_block`,
    /// then every table below the root's first `user_entries` slots to
    /// `free`, without clearing a single entry. (On pvm a store to a table
    /// the host shadows costs an exit; these tables are about to be freed,
    /// so nothing needs to see them empty.)
    pub fn release_all(
        &mut self,
        user_entries: usize,
        release: &mut dyn FnMut(u64),
        release_block: &mut dyn FnMut(u64),
        free: &mut dyn FnMut(u64),
    ) {
        fn walk<F: EntryFormat>(
            table: u64,
            level: usize,
            release: &mut dyn FnMut(u64),
            release_block: &mut dyn FnMut(u64),
            free: &mut dyn FnMut(u64),
        ) {
            for &entry in table_at(table).iter() {
                if level == 3 {
                    if entry & (F::VALID | F::SOFT_PROT_NONE) != 0 {
                        release(entry & F::ADDRESS_MASK);
                    }
                } else if entry & F::VALID != 0 {
                    if F::is_block(entry) {
                        if level == 2 {
                            release_block(entry & F::ADDRESS_MASK & !(LEVEL_2_SPAN - 1));
                        }
                    } else {
                        walk::<F>(
                            entry & F::ADDRESS_MASK,
                            level + 1,
                            release,
                            release_block,
                            free,
                        );
                    }
                }
            }
            free(table);
        }
        let root = table_at(self.root);
        for &entry in root.iter().take(user_entries) {
            if entry & F::VALID != 0 && !F::is_block(entry) {
                walk::<F>(entry & F::ADDRESS_MASK, 1, release, release_block, free);
            }
        }
    }

    /// Unmaps every page in [start, end) and hands each frame to `release`
    /// and each whole block to `release_block`; a block that [start, end)
    /// covers only in part is split first (`alloc` gives its table).
    /// Flushes the whole TLB once instead of page by page when many pages go.
    pub fn unmap_range(
        &mut self,
        start: u64,
        end: u64,
        alloc: &mut dyn FnMut() -> Option<u64>,
        mut release: impl FnMut(u64),
        mut release_block: impl FnMut(u64),
    ) -> Result<(), OutOfFrames> {
        self.split_block_at(start, alloc)?;
        self.split_block_at(end, alloc)?;
        let mut unmapped = 0usize;
        let mut to_flush = [0u64; FLUSH_ALL_THRESHOLD];
        let mut addr = start;
        while addr < end {
            let Some(leaf) = self.leaf(addr, None).ok().flatten() else {
                addr = (addr | (LEVEL_2_SPAN - 1)) + 1;
                continue;
            };
            match leaf {
                Leaf::Block(slot) => {
                    let old = *slot;
                    *slot = 0;
                    unmapped += FLUSH_ALL_THRESHOLD + 1;
                    release_block(old & F::ADDRESS_MASK & !(LEVEL_2_SPAN - 1));
                    addr += LEVEL_2_SPAN;
                }
                Leaf::Page(slot) => {
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
            }
        }
        if unmapped > FLUSH_ALL_THRESHOLD {
            F::flush_all();
        } else {
            to_flush[..unmapped].iter().for_each(|&a| F::flush_page(a));
        }
        Ok(())
    }
}

/// The entry that maps an address: a last-level page entry, or the level-2
/// entry of the 2 MiB block covering it.
enum Leaf {
    Page(&'static mut u64),
    Block(&'static mut u64),
}
