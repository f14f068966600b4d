//! The application's address space: virtual memory areas (VMAs) over the
//! user page table, demand paging with zero-filled pages, brk and the mmap
//! family's bookkeeping.
//!
//! Pages are allocated on first touch (a user page fault, or the sentry
//! reaching into user memory through [`AddressSpace::translate_for`]).
//! Private writable anonymous memory is checked against free guest memory
//! when it is created (Linux's heuristic overcommit), so a program asking for
//! more than exists sees ENOMEM instead of being killed later.

pub mod uffd;
pub mod usermem;

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::arch::{PAGE_SIZE, USER_END};

use crate::arch::paging::{PageAccess, UserPageTable};
use crate::mm as frames;
use crate::mm::Frame;
use crate::sentry::errno::*;
use crate::sentry::vfs::Inode;

/// 2 MiB blocks mapped and bytes copied by fork, sandbox-wide (--stats).
pub static BLOCK_MAPPINGS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);
pub static FORK_COPIED_BYTES: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// Pages a new private mapping must leave free (1 MiB): the program still
/// touches pages for the first time after its last allocation succeeded
/// (its data and stack, the page tables for them), and those faults have
/// no errno to return. Without the reserve a program that allocates until
/// malloc fails was killed at its next printf (stdout's first page).
const COMMIT_RESERVE_PAGES: u64 = 256;

/// Lowest address mmap hands out or accepts (vm.mmap_min_addr).
pub const MMAP_MIN_ADDR: u64 = boards::elf::MMAP_MIN_ADDR;
/// Top of the initial stack and of the default mmap area (no ASLR yet: the
/// layout Linux uses with randomization disabled).
pub const STACK_TOP: u64 = 0x7fff_ffff_f000;
pub const STACK_MAX: u64 = 8 << 20;
/// Window of anonymous memory populated around a faulting page.
pub const FAULT_AROUND_BYTES: u64 = 64 * 1024;
/// The same for private file mappings (pages from the file's page cache).
pub const FILE_FAULT_AROUND_BYTES: u64 = 128 * 1024;
pub const MMAP_TOP: u64 = STACK_TOP - STACK_MAX - (1 << 30);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Protection {
    pub read: bool,
    pub write: bool,
    pub exec: bool,
}

impl Protection {
    pub const READ_WRITE: Protection = Protection {
        read: true,
        write: true,
        exec: false,
    };

    /// From PROT_READ | PROT_WRITE | PROT_EXEC; None for unknown bits.
    pub fn from_prot(prot: u64) -> Option<Protection> {
        if prot & !0x7 != 0 {
            return None;
        }
        Some(Protection {
            read: prot & 1 != 0,
            write: prot & 2 != 0,
            exec: prot & 4 != 0,
        })
    }

    fn page_access(self) -> PageAccess {
        PageAccess {
            // x86 pages that are writable or executable are also readable.
            readable: self.read || self.write || self.exec,
            writable: self.write,
            executable: self.exec,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmaKind {
    Anonymous,
    /// A mapping of a file (`Vma::file` says which).
    File,
    /// The vDSO and the page of time parameters below it.
    Vdso,
    Vvar,
    /// A segment of the executable (populated when loaded).
    Image,
    Heap,
    Stack,
}

/// The file behind a mapping and the file offset of the mapping's start.
#[derive(Clone)]
pub struct FileBacking {
    pub inode: Arc<dyn Inode>,
    pub offset: u64,
    /// mprotect may add PROT_WRITE (Linux's VM_MAYWRITE): a private
    /// mapping, or a shared one of a file opened for writing.
    pub may_write: bool,
    /// The file's path in the sandbox when it was mapped (/proc/<pid>/maps).
    pub path: Option<Arc<Vec<u8>>>,
}

/// Linux's per-area flags beyond protection and sharing (its VM_LOCKED,
/// VM_SEALED, ...).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VmFlags(u16);

impl VmFlags {
    pub const NONE: VmFlags = VmFlags(0);
    /// mlock: the pages are faulted in and count as locked (VmLck).
    pub const LOCKED: VmFlags = VmFlags(1);
    /// mlock2(MLOCK_ONFAULT) (with LOCKED): pages lock as they fault in.
    pub const LOCKONFAULT: VmFlags = VmFlags(2);
    /// mseal: the area can no longer be unmapped, moved, reprotected or
    /// (read-only anonymous memory) discarded.
    pub const SEALED: VmFlags = VmFlags(4);
    /// MADV_DONTFORK: a child gets no copy of the area.
    pub const DONTFORK: VmFlags = VmFlags(8);
    /// MADV_WIPEONFORK: a child's copy starts zero-filled.
    pub const WIPEONFORK: VmFlags = VmFlags(16);
    /// MADV_DONTDUMP: left out of core dumps (shown in smaps).
    pub const DONTDUMP: VmFlags = VmFlags(32);
    /// MAP_GROWSDOWN: a fault just below the area extends it down.
    pub const GROWSDOWN: VmFlags = VmFlags(64);
    /// Both lock flags.
    pub const LOCK_MASK: VmFlags = VmFlags(1 | 2);

    pub const fn contains(self, other: VmFlags) -> bool {
        self.0 & other.0 == other.0
    }

    pub const fn union(self, other: VmFlags) -> VmFlags {
        VmFlags(self.0 | other.0)
    }

    pub const fn without(self, other: VmFlags) -> VmFlags {
        VmFlags(self.0 & !other.0)
    }
}

#[derive(Clone)]
pub struct Vma {
    pub start: u64,
    pub end: u64,
    pub prot: Protection,
    pub kind: VmaKind,
    /// MAP_SHARED: changes reach the file (and, once fork exists, children).
    pub shared: bool,
    pub file: Option<FileBacking>,
    pub flags: VmFlags,
    /// The userfaultfd this area is registered with, and how (Linux's
    /// vm_userfaultfd_ctx and VM_UFFD_* flags).
    pub uffd: Option<uffd::Registration>,
}

impl Vma {
    /// Private file mappings start out on the file's own pages, read-only,
    /// and copy a page on the first write to it.
    /// Whether `next` (starting where this one ends) may be merged into it.
    fn continued_by(&self, next: &Vma) -> bool {
        let same_file = match (&self.file, &next.file) {
            (None, None) => true,
            (Some(a), Some(b)) => {
                Arc::ptr_eq(&a.inode, &b.inode)
                    && a.offset + (self.end - self.start) == b.offset
                    && a.may_write == b.may_write
                    && a.path == b.path
            }
            _ => false,
        };
        self.prot == next.prot
            && self.kind == next.kind
            && self.shared == next.shared
            && self.flags == next.flags
            && uffd::same_registration(&self.uffd, &next.uffd)
            && matches!(self.kind, VmaKind::Anonymous | VmaKind::File)
            && same_file
    }

    fn copy_on_write(&self) -> bool {
        !self.shared && self.file.is_some()
    }
}

/// Whether fork should share private pages copy-on-write rather than copy
/// them: only when free memory is short (below half of the
/// sandbox's memory, at least 16 MiB), since on pvm every write-protected
/// page entry costs a trapped write now and a fault later.
fn fork_shares_private_pages() -> bool {
    let total = crate::mm::total_frames() * PAGE_SIZE;
    crate::mm::kernel_memory_available() < (total / 2).max(16 << 20)
}

/// How the application touched memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    Exec,
}

pub struct AddressSpace {
    vmas: BTreeMap<u64, Vma>,
    page_table: UserPageTable,
    pub brk_start: u64,
    pub brk: u64,
    pub page_faults: u64,
    /// Flags every new area gets (mlockall(MCL_FUTURE): LOCKED).
    pub def_flags: VmFlags,
    /// The root was allocated for this address space (fork, exec) and goes
    /// back to the allocator with it; the first one comes from the loader.
    owns_root: bool,
    /// Pages write-protected by UFFDIO_WRITEPROTECT (Linux's uffd-wp bit
    /// in the page entry): mapped read-only, a write is reported.
    uffd_wp: alloc::collections::BTreeSet<u64>,
    /// Frames a copy-on-write break replaced without a TLB flush (see
    /// `crate::arch::paging::stale_entries_refill`): a stale translation may
    /// still read them, so they go back only after a full flush, batched
    /// (Linux's mmu_gather does the same for its deferred flushes).
    stale_frames: Vec<Frame>,
    /// Where the last top-down search for free space may resume: see
    /// [`FreeAreaCache`].
    free_cache: FreeAreaCache,
}

/// A top-down search for free space needs to start no higher than `below`
/// for any length above `largest_hole_above`: every hole above `below` is
/// that small (the idea of Linux's old free_area_cache, made exact by the
/// hole size). Without it, mapping area after area below the others walked
/// them all each time: 65530 one-page mmaps took ~30 s. Holes only shrink
/// as areas are added or grow; removing an area resets the cache.
#[derive(Clone, Copy)]
struct FreeAreaCache {
    below: u64,
    largest_hole_above: u64,
}

impl FreeAreaCache {
    /// Search from the top.
    const FULL: FreeAreaCache = FreeAreaCache {
        below: MMAP_TOP,
        largest_hole_above: 0,
    };
}

/// Replaced frames kept before one full flush releases them all: a full
/// flush costs about one trapped instruction where each `invlpg` would.
const STALE_FRAMES_MAX: usize = 32;

/// Linux's default vm.max_map_count: more memory areas are ENOMEM.
const MAX_MAP_COUNT: usize = 65530;

pub fn page_align_up(value: u64) -> Option<u64> {
    value
        .checked_add(PAGE_SIZE - 1)
        .map(|v| v & !(PAGE_SIZE - 1))
}

pub fn is_page_aligned(value: u64) -> bool {
    value & (PAGE_SIZE - 1) == 0
}

impl AddressSpace {
    pub fn new(page_table_root: u64) -> AddressSpace {
        AddressSpace {
            vmas: BTreeMap::new(),
            page_table: UserPageTable::new(page_table_root),
            brk_start: 0,
            brk: 0,
            page_faults: 0,
            def_flags: VmFlags::NONE,
            owns_root: false,
            uffd_wp: alloc::collections::BTreeSet::new(),
            stale_frames: Vec::new(),
            free_cache: FreeAreaCache::FULL,
        }
    }

    /// An empty address space with a root of its own (exec, fork).
    pub fn new_empty(&self) -> Result<AddressSpace, Errno> {
        let root = crate::arch::paging::new_user_root(self.page_table.root()).ok_or(ENOMEM)?;
        let mut space = AddressSpace::new(root);
        space.owns_root = true;
        Ok(space)
    }

    /// The page-table root, for switching to this address space.
    pub fn root(&self) -> u64 {
        self.page_table.root()
    }

    /// fork: a copy of this address space. Private 2 MiB blocks are shared
    /// copy-on-write; private writable pages are copied now (on pvm,
    /// write-protecting the parent's page entries would cost a trapped
    /// write each, more than the copy); shared mappings and read-only
    /// pages are the same frames in both. Shared anonymous memory is filled in first so that
    /// parent and child share every page of it. Areas marked MADV_DONTFORK
    /// are left out, MADV_WIPEONFORK ones start empty; memory locks are
    /// not inherited (Linux's dup_mmap).
    ///
    /// When memory runs low, private pages are shared copy-on-write too
    /// (read-only in both, copied at the first write): many forks of a
    /// process then fit where copies would not (a thousand waiting
    /// children in a 256 MiB sandbox).
    pub fn fork_copy(&mut self) -> Result<AddressSpace, Errno> {
        let share_private = fork_shares_private_pages();
        let mut write_protected = false;
        let mut child = self.new_empty()?;
        child.brk_start = self.brk_start;
        child.brk = self.brk;
        let vmas: Vec<Vma> = self
            .vmas
            .values()
            .filter(|v| !v.flags.contains(VmFlags::DONTFORK))
            .cloned()
            .collect();
        for vma in &vmas {
            if vma.shared && vma.file.is_none() {
                self.populate_all(vma.start, vma.end)?;
            }
        }
        for mut vma in vmas {
            vma.flags = vma.flags.without(VmFlags::LOCK_MASK);
            // Without UFFD_FEATURE_EVENT_FORK (not offered) the child's
            // areas are not registered, and its pages not write-protected
            // by userfaultfd (Linux's dup_userfaultfd, copy_present_pte).
            vma.uffd = None;
            if vma.flags.contains(VmFlags::WIPEONFORK) {
                child.vmas.insert(vma.start, vma);
                continue;
            }
            let mut leaves = Vec::new();
            self.page_table
                .for_each_leaf(vma.start, vma.end, |addr, frame, size| {
                    leaves.push((addr, frame, size))
                });
            let mut pages = Vec::new();
            for (addr, frame, size) in leaves {
                if size == PAGE_SIZE {
                    pages.push((addr, frame));
                } else {
                    child.share_block(&mut self.page_table, addr, frame)?;
                }
            }
            for (addr, frame) in pages {
                let mut access = self.page_table.translate(addr).ok_or(EFAULT)?.access;
                // A read-only page is shared whoever holds it (the page
                // cache, or only this process: a relocated RELRO page): a
                // write can only follow an mprotect, which keeps a shared
                // frame read-only, and the fault then copies it.
                let share = vma.shared || !access.writable;
                let target = if share {
                    Frame::share_raw(frame)
                } else if share_private {
                    // Copy-on-write: read-only here and in the child.
                    let target = Frame::share_raw(frame);
                    if access.writable {
                        access.writable = false;
                        let mut alloc = frames::alloc_zeroed_frame;
                        self.page_table
                            .protect(addr, access, &mut alloc)
                            .map_err(|_| ENOMEM)?;
                        write_protected = true;
                    }
                    target
                } else {
                    let copy = Frame::alloc_to_overwrite().ok_or(ENOMEM)?;
                    crate::mm::frame::copy_page(copy.phys(), frame);
                    FORK_COPIED_BYTES.fetch_add(PAGE_SIZE, core::sync::atomic::Ordering::Relaxed);
                    copy
                };
                child.map_frame(addr, target, access)?;
            }
            child.vmas.insert(vma.start, vma);
        }
        if write_protected {
            crate::arch::cpu::flush_all();
        }
        Ok(child)
    }

    /// fork: maps the parent's block at `addr` (frames from `frame`) into
    /// this (child) address space too, copy-on-write: read-only in both
    /// until one writes (a 2 MiB block's entry is one write to protect,
    /// where its 512 pages would be 512 trapped writes on pvm; pages are
    /// copied at fork instead).
    fn share_block(
        &mut self,
        parent: &mut UserPageTable,
        addr: u64,
        frame: u64,
    ) -> Result<(), Errno> {
        let Some((_, mut access)) = parent.block_at(addr) else {
            return Ok(());
        };
        access.writable = false;
        let mut alloc = frames::alloc_zeroed_frame;
        if !matches!(
            self.page_table.map_block(addr, frame, access, &mut alloc),
            Ok(true)
        ) {
            return Err(ENOMEM);
        }
        frames::share_block(frame);
        parent.replace_block(addr, frame, access);
        Ok(())
    }

    /// A write to a block shared copy-on-write (or left read-only after its
    /// other owners went): this address space gets its own copy, or takes
    /// the block back writable when it is the last owner.
    fn break_block_copy_on_write(&mut self, page: u64, vma: &Vma) -> Result<u64, Errno> {
        let (block, _) = self.page_table.block_at(page).ok_or(EFAULT)?;
        let base = page & !(frames::BLOCK_SIZE - 1);
        let access = vma.prot.page_access();
        if !frames::is_shared_block(block) {
            self.page_table.replace_block(base, block, access);
            return Ok(block + (page - base));
        }
        let copy = frames::alloc_zeroed_block().ok_or(ENOMEM)?;
        for offset in (0..frames::BLOCK_SIZE).step_by(PAGE_SIZE as usize) {
            crate::mm::frame::copy_page(copy + offset, block + offset);
        }
        self.page_table.replace_block(base, copy, access);
        frames::release_block(block);
        Ok(copy + (page - base))
    }

    /// Whether a write to the read-only mapping of `page` in `vma` is a
    /// copy-on-write: in a writable private mapping a page is read-only
    /// only while it may be shared (a page-cache page, a block or page
    /// shared since fork; its other owners may have gone since).
    fn is_copy_on_write(&mut self, _page: u64, vma: &Vma) -> bool {
        vma.prot.write && !vma.shared
    }

    /// Resolves a copy-on-write write to `page` (see [`is_copy_on_write`]).
    fn copy_for_write(&mut self, page: u64, vma: &Vma) -> Result<u64, Errno> {
        if self.page_table.block_at(page).is_some() {
            return self.break_block_copy_on_write(page, vma);
        }
        self.break_copy_on_write(page, vma)
    }

    /// Every page of [start, end) present (inaccessible ones included).
    fn populate_all(&mut self, start: u64, end: u64) -> Result<(), Errno> {
        let mut page = start;
        while page < end {
            self.frame_for_kernel(page)?;
            page += PAGE_SIZE;
        }
        Ok(())
    }

    /// How many areas map `inode` (SysV shm_nattch).
    pub fn mappings_of(&self, inode: &Arc<dyn Inode>) -> usize {
        self.vmas
            .values()
            .filter(|v| {
                v.file
                    .as_ref()
                    .is_some_and(|f| core::ptr::addr_eq(Arc::as_ptr(&f.inode), Arc::as_ptr(inode)))
            })
            .count()
    }

    /// Whether a shared mapping that may write `inode` exists (Linux's
    /// i_mmap_writable: F_SEAL_WRITE waits for none).
    pub fn writable_shared_mappings_of(&self, inode: &Arc<dyn Inode>) -> bool {
        self.vmas.values().any(|v| {
            v.shared
                && v.file.as_ref().is_some_and(|f| {
                    f.may_write && core::ptr::addr_eq(Arc::as_ptr(&f.inode), Arc::as_ptr(inode))
                })
        })
    }

    /// The first area that ends above `addr`.
    pub fn find_from(&self, addr: u64) -> Option<&Vma> {
        self.find(addr)
            .or_else(|| self.vmas.range(addr..).next().map(|(_, v)| v))
    }

    pub fn find(&self, addr: u64) -> Option<&Vma> {
        let (_, vma) = self.vmas.range(..=addr).next_back()?;
        (addr < vma.end).then_some(vma)
    }

    fn overlaps(&self, start: u64, end: u64) -> bool {
        if let Some((_, vma)) = self.vmas.range(..end).next_back() {
            return vma.end > start;
        }
        false
    }

    /// ENOMEM when `more` memory areas would pass Linux's default
    /// vm.max_map_count, or the sentry's memory is short: each area is an
    /// object on its heap.
    pub fn room_for_vmas(&self, more: usize) -> Result<(), Errno> {
        if self.vmas.len() + more > MAX_MAP_COUNT {
            return Err(ENOMEM);
        }
        frames::reserve_object()
    }

    /// Splits the VMA containing `addr` (if any) so that one starts there,
    /// and the 2 MiB block mapping around `addr` (if any) into pages, so
    /// that no block straddles two areas. ENOMEM without memory for the
    /// block's page table.
    fn split_at(&mut self, addr: u64) -> Result<(), Errno> {
        self.split_block_at(addr)?;
        let Some(vma) = self.find(addr).cloned() else {
            return Ok(());
        };
        if vma.start == addr {
            return Ok(());
        }
        self.vmas.get_mut(&vma.start).unwrap().end = addr;
        let file = vma.file.clone().map(|f| FileBacking {
            offset: f.offset + (addr - vma.start),
            ..f
        });
        self.vmas.insert(
            addr,
            Vma {
                start: addr,
                file,
                ..vma
            },
        );
        Ok(())
    }

    /// Splits the 2 MiB block mapping around `addr` (if any) into pages. A
    /// block shared copy-on-write is first made this address space's own
    /// (its pages then have one owner each).
    fn split_block_at(&mut self, addr: u64) -> Result<(), Errno> {
        if !addr.is_multiple_of(frames::BLOCK_SIZE) {
            self.unshare_block(addr)?;
        }
        self.page_table
            .split_block_at(addr, &mut frames::alloc_table_frame)
            .map_err(|_| ENOMEM)
    }

    /// Gives this address space its own copy of the block at `addr` if it
    /// shares it (keeping the mapping's permissions).
    fn unshare_block(&mut self, addr: u64) -> Result<(), Errno> {
        let Some((block, access)) = self.page_table.block_at(addr) else {
            return Ok(());
        };
        if !frames::is_shared_block(block) {
            return Ok(());
        }
        let base = addr & !(frames::BLOCK_SIZE - 1);
        let copy = frames::alloc_zeroed_block().ok_or(ENOMEM)?;
        for offset in (0..frames::BLOCK_SIZE).step_by(PAGE_SIZE as usize) {
            crate::mm::frame::copy_page(copy + offset, block + offset);
        }
        self.page_table.replace_block(base, copy, access);
        frames::release_block(block);
        Ok(())
    }

    /// Unmaps the pages of [start, end) and frees them; blocks it covers
    /// in part are split first.
    fn release_range(&mut self, start: u64, end: u64) -> Result<(), Errno> {
        self.split_block_at(start)?;
        self.split_block_at(end)?;
        self.forget_write_protection(start, end);
        self.page_table
            .unmap_range(
                start,
                end,
                &mut frames::alloc_table_frame,
                frames::release_frame,
                frames::release_block,
            )
            .map_err(|_| ENOMEM)
    }

    /// munmap: removes every mapping in [start, end) and frees its pages
    /// (shared file pages are written back first). Nothing changes on an
    /// error: EPERM when a sealed area is in the range, ENOMEM when an area
    /// would split in two past vm.max_map_count or a 2 MiB block at either
    /// end cannot be split.
    pub fn unmap(&mut self, start: u64, end: u64) -> Result<(), Errno> {
        if self
            .find(start)
            .is_some_and(|v| v.start < start && v.end > end)
        {
            self.room_for_vmas(1)?;
        }
        self.check_not_sealed(start, end)?;
        self.remove_range(start, end)
    }

    /// EPERM when an area in [start, end) is sealed (mseal).
    fn check_not_sealed(&self, start: u64, end: u64) -> Result<(), Errno> {
        if self
            .areas_in(start, end)
            .any(|v| v.flags.contains(VmFlags::SEALED))
        {
            return Err(EPERM);
        }
        Ok(())
    }

    /// The areas that overlap [start, end), in address order.
    pub fn areas_in(&self, start: u64, end: u64) -> impl Iterator<Item = &Vma> {
        let first = self
            .vmas
            .range(..=start)
            .next_back()
            .map_or(start, |(&s, _)| s);
        self.vmas
            .range(first..end.max(first))
            .map(|(_, v)| v)
            .filter(move |v| v.end > start)
    }

    /// Whether [start, end) is mapped without holes.
    pub fn covers(&self, start: u64, end: u64) -> bool {
        self.mapped_until(start, end) >= end
    }

    /// Where the mapping of [start, end) first has a hole (`start` when
    /// `start` itself is unmapped; `end` when there is none).
    pub fn mapped_until(&self, start: u64, end: u64) -> u64 {
        let mut cursor = start;
        for vma in self.areas_in(start, end) {
            if vma.start > cursor {
                return cursor;
            }
            cursor = vma.end;
        }
        cursor.clamp(start, end.max(start))
    }

    /// [`unmap`] without its checks (exit, exec and the sentry's own
    /// replacements).
    fn remove_range(&mut self, start: u64, end: u64) -> Result<(), Errno> {
        self.free_cache = FreeAreaCache::FULL;
        self.split_at(start)?;
        self.split_at(end)?;
        self.writeback(start, end);
        let doomed: Vec<u64> = self.vmas.range(start..end).map(|(&s, _)| s).collect();
        for s in doomed {
            self.vmas.remove(&s);
        }
        // Blocks were split at the ends above: this frees without failing.
        self.release_range(start, end)
    }

    /// Writes shared file mappings in [start, end) back to their files
    /// (msync, munmap, exit).
    pub fn writeback(&mut self, start: u64, end: u64) {
        let inodes: Vec<Arc<dyn Inode>> = self
            .areas_in(start, end)
            .filter(|v| v.shared)
            .filter_map(|v| v.file.as_ref().map(|f| f.inode.clone()))
            .collect();
        for inode in inodes {
            if let Err(e) = inode.sync_pages() {
                log::warn!("writing back a shared mapping failed: errno {}", e.0);
            }
        }
    }

    /// Writes back every shared file mapping (at exit).
    pub fn writeback_all(&mut self) {
        self.writeback(0, USER_END);
    }

    /// Adds a VMA, replacing whatever was mapped there (MAP_FIXED semantics).
    pub fn map_fixed(&mut self, vma: Vma) -> Result<(), Errno> {
        self.unmap(vma.start, vma.end)?;
        self.vmas.insert(vma.start, vma);
        Ok(())
    }

    /// Heuristic overcommit: refuse a private writable mapping larger than
    /// all the memory that is still free, less [`COMMIT_RESERVE_PAGES`].
    fn check_commit(&self, len: u64, prot: Protection, shared: bool) -> Result<(), Errno> {
        let pages = len / PAGE_SIZE + COMMIT_RESERVE_PAGES;
        if prot.write
            && !shared
            && pages > frames::user_frames_available()
            && (!frames::reclaim() || pages > frames::user_frames_available())
        {
            return Err(ENOMEM);
        }
        Ok(())
    }

    /// Finds a free range of `len` bytes, top-down below the mmap area top:
    /// the highest hole that fits, ending at its top.
    fn find_free(&mut self, len: u64) -> Option<u64> {
        let cache = self.free_cache;
        let (mut top, mut largest) = if len > cache.largest_hole_above {
            (cache.below, cache.largest_hole_above)
        } else {
            (MMAP_TOP, 0)
        };
        let mut found = None;
        for (_, vma) in self.vmas.range(..top).rev() {
            if vma.end <= top {
                let hole = top - vma.end;
                if hole >= len {
                    found = Some(top - len);
                    break;
                }
                largest = largest.max(hole);
            }
            top = top.min(vma.start);
        }
        // The holes above `top` are all smaller than `len` (the one found,
        // if any, lies below it): a later search may start there whether or
        // not the caller maps the range.
        self.free_cache = FreeAreaCache {
            below: top,
            largest_hole_above: largest,
        };
        found.or_else(|| (top >= len && top - len >= MMAP_MIN_ADDR).then(|| top - len))
    }

    /// Like [`Self::find_free`], for private anonymous memory of at least
    /// 2 MiB: the range starts on a 2 MiB boundary when a hole allows, so
    /// all of it but its tail maps as blocks (one entry for 512 pages,
    /// shared copy-on-write at fork, where single pages are copied). A
    /// 16 MiB malloc is 16 MiB and a page: unaligned, 2 MiB of it would be
    /// single pages. Linux aligns only lengths that are multiples of
    /// 2 MiB; where the area starts is the kernel's choice either way.
    fn find_free_block_aligned(&mut self, len: u64) -> Option<u64> {
        let slack = frames::BLOCK_SIZE - PAGE_SIZE;
        match len
            .checked_add(slack)
            .and_then(|padded| self.find_free(padded))
        {
            // The hole [low, low + len + slack) holds an aligned start.
            Some(low) => Some((low + slack) & !(frames::BLOCK_SIZE - 1)),
            None => self.find_free(len),
        }
    }

    /// mmap. `fixed`: place exactly at `addr` (replacing); else
    /// `addr` is a hint. `noreplace`: fail with EEXIST instead of replacing.
    /// `flags` (with mlockall's MCL_FUTURE ones) mark the new area;
    /// `populate` (MAP_POPULATE) or a lock faults its pages in now.
    #[allow(clippy::too_many_arguments)]
    pub fn mmap(
        &mut self,
        addr: u64,
        len: u64,
        prot: Protection,
        shared: bool,
        fixed: bool,
        noreplace: bool,
        file: Option<FileBacking>,
        flags: VmFlags,
        populate: bool,
    ) -> Result<u64, Errno> {
        let len = page_align_up(len).ok_or(ENOMEM)?;
        if len == 0 || len > USER_END {
            return Err(if len == 0 { EINVAL } else { ENOMEM });
        }
        self.check_commit(len, prot, shared)?;
        // Linux's test: one area past vm.max_map_count is still allowed.
        if self.vmas.len() > MAX_MAP_COUNT {
            return Err(ENOMEM);
        }
        frames::reserve_object()?;
        let flags = flags.union(self.def_flags);
        let start = if fixed || noreplace {
            if !is_page_aligned(addr) {
                return Err(EINVAL);
            }
            let end = addr.checked_add(len).ok_or(ENOMEM)?;
            if end > USER_END || addr < MMAP_MIN_ADDR {
                return Err(if addr < MMAP_MIN_ADDR { EPERM } else { ENOMEM });
            }
            if noreplace && self.overlaps(addr, end) {
                return Err(EEXIST);
            }
            addr
        } else {
            let hint = addr & !(PAGE_SIZE - 1);
            match hint.checked_add(len) {
                Some(end)
                    if hint >= MMAP_MIN_ADDR && end <= USER_END && !self.overlaps(hint, end) =>
                {
                    hint
                }
                _ if file.is_none() && !shared && len >= frames::BLOCK_SIZE => {
                    self.find_free_block_aligned(len).ok_or(ENOMEM)?
                }
                _ => self.find_free(len).ok_or(ENOMEM)?,
            }
        };
        self.map_fixed(Vma {
            start,
            end: start + len,
            prot,
            kind: if file.is_some() {
                VmaKind::File
            } else {
                VmaKind::Anonymous
            },
            shared,
            file,
            flags,
            uffd: None,
        })?;
        self.merge_around(start, start + len);
        let locked = flags.contains(VmFlags::LOCKED) && !flags.contains(VmFlags::LOCKONFAULT);
        if populate || locked {
            // As Linux: the mapping stands even if not every page could be
            // faulted in.
            let _ = self.populate(start, start + len);
        }
        Ok(start)
    }

    /// Merges the areas in and next to [start, end) that continue each
    /// other (same protection, kind and sharing; anonymous, or the same
    /// file at contiguous offsets), as Linux does after mmap and mprotect:
    /// /proc/self/maps shows one area, and mremap can move it whole.
    fn merge_around(&mut self, start: u64, end: u64) {
        let first = self
            .vmas
            .range(..start)
            .next_back()
            .map_or(start, |(&s, _)| s);
        let starts: Vec<u64> = self.vmas.range(first..=end).map(|(&s, _)| s).collect();
        let mut current = None::<u64>;
        for s in starts {
            let Some(prev) = current else {
                current = Some(s);
                continue;
            };
            let joined = {
                let (a, b) = (&self.vmas[&prev], &self.vmas[&s]);
                a.end == b.start && a.continued_by(b)
            };
            if joined {
                let b_end = self.vmas.remove(&s).expect("listed above").end;
                self.vmas.get_mut(&prev).expect("listed above").end = b_end;
            } else {
                current = Some(s);
            }
        }
    }

    /// mremap: shrinks in place, grows in place when the space after is
    /// free, else (MREMAP_MAYMOVE) moves the pages to a new range; `fixed`
    /// (MREMAP_FIXED) moves them to exactly there. Linux's order of checks:
    /// EFAULT without an area at `old`, EPERM when it is sealed, EFAULT
    /// when a range to move or grow crosses the area's end.
    /// `dont_unmap` (MREMAP_DONTUNMAP, sizes equal): the pages move but the
    /// old range stays mapped, empty (private memory reads zeros again or
    /// faults to its userfaultfd; shared memory shows the same pages), as
    /// Linux's move_vma leaves it; `hint` is then where to place the copy
    /// if free (Linux's get_unmapped_area).
    #[allow(clippy::too_many_arguments)]
    pub fn mremap(
        &mut self,
        old: u64,
        old_size: u64,
        new_size: u64,
        may_move: bool,
        fixed: Option<u64>,
        dont_unmap: bool,
        hint: u64,
    ) -> Result<u64, Errno> {
        let old_end = old.checked_add(old_size).ok_or(EFAULT)?;
        if let Some(target) = fixed {
            let target_end = target.checked_add(new_size).ok_or(EINVAL)?;
            if !is_page_aligned(target) || target_end > USER_END || target < MMAP_MIN_ADDR {
                return Err(EINVAL);
            }
            if target < old_end && old < target_end {
                return Err(EINVAL);
            }
        }
        if dont_unmap && fixed.is_none() {
            // Linux's mremap_to checks the address even as a hint.
            let hint_end = hint.checked_add(new_size).ok_or(EINVAL)?;
            if !is_page_aligned(hint) || hint_end > USER_END || (hint < old_end && old < hint_end) {
                return Err(EINVAL);
            }
        }
        let vma = self.find(old).cloned().ok_or(EFAULT)?;
        if vma.flags.contains(VmFlags::SEALED) {
            return Err(EPERM);
        }
        // Linux's VM_DONTEXPAND areas (the vDSO's) are not duplicated.
        if dont_unmap && matches!(vma.kind, VmaKind::Vdso | VmaKind::Vvar) {
            return Err(EINVAL);
        }
        let shrink = new_size < old_size;
        // Shrinking in place may cross areas (the tail is unmapped);
        // what moves or grows must lie in this one.
        if (fixed.is_some() || new_size > old_size) && old + old_size.min(new_size) > vma.end {
            return Err(EFAULT);
        }
        self.room_for_vmas(3)?;
        if let Some(target) = fixed {
            self.unmap(target, target + new_size)?;
        }
        if shrink {
            self.unmap(old + new_size, old_end)?;
            if fixed.is_none() {
                return Ok(old);
            }
        }
        if fixed.is_none() && !dont_unmap {
            if new_size == old_size {
                return Ok(old);
            }
            let new_end = old.checked_add(new_size).ok_or(ENOMEM)?;
            if old_end == vma.end && new_end <= USER_END && !self.overlaps(old_end, new_end) {
                self.check_commit(new_size - old_size, vma.prot, vma.shared)?;
                self.vmas.get_mut(&vma.start).expect("found above").end = new_end;
                self.populate_if_locked(&vma, old_end, new_end);
                return Ok(old);
            }
            if !may_move {
                return Err(ENOMEM);
            }
        }
        if new_size > old_size {
            self.check_commit(new_size - old_size, vma.prot, vma.shared)?;
        }
        if dont_unmap {
            // The old range stays: the copy is new memory to commit.
            self.check_commit(new_size, vma.prot, vma.shared)?;
        }
        let hinted = (dont_unmap && hint != 0 && is_page_aligned(hint))
            .then(|| hint.checked_add(new_size))
            .flatten()
            .filter(|&end| hint >= MMAP_MIN_ADDR && end <= USER_END && !self.overlaps(hint, end))
            .map(|_| hint);
        let target = match (fixed, hinted) {
            (Some(target), _) | (None, Some(target)) => target,
            (None, None) => self.find_free(new_size).ok_or(ENOMEM)?,
        };
        let keep = old_size.min(new_size);
        let old_end = old + keep;
        if dont_unmap && vma.shared && vma.file.is_none() {
            // Shared anonymous memory lives in its page entries: every
            // page is made present so that both ranges share all of it.
            self.populate_all(old, old_end)?;
        }
        // The moved frames leave the old range without being freed (a
        // block's frames move as 512 pages).
        self.split_block_at(old)?;
        self.split_block_at(old_end)?;
        // Blocks shared since fork become ours first: their frames move
        // as pages, each with one owner.
        let mut blocks = Vec::new();
        self.page_table
            .for_each_leaf(old, old_end, |addr, _, size| {
                if size != PAGE_SIZE {
                    blocks.push(addr);
                }
            });
        for block in blocks {
            self.unshare_block(block)?;
        }
        // Each page keeps its access: a page-cache page of a private file
        // mapping stays read-only (copy on write) where it lands.
        let mut frames_found = Vec::new();
        self.page_table
            .for_each_frame(old, old_end, |addr, frame| frames_found.push((addr, frame)));
        let moved: Vec<(u64, u64, PageAccess)> = frames_found
            .into_iter()
            .filter_map(|(addr, frame)| {
                let access = self.page_table.translate(addr)?.access;
                Some((addr, frame, access))
            })
            .collect();
        let moved: Vec<(u64, Frame, PageAccess)> = if dont_unmap && vma.shared {
            // Shared memory: the old range keeps showing the same pages
            // (Linux refaults them from the file or shmem object): each
            // frame gains an owner for the copy instead of moving.
            moved
                .into_iter()
                .map(|(addr, frame, access)| (addr, Frame::share_raw(frame), access))
                .collect()
        } else {
            self.page_table
                .unmap_range(old, old_end, &mut frames::alloc_table_frame, |_| {}, |_| {})
                .map_err(|_| ENOMEM)?;
            // The old entries' references move with the pages.
            moved
                .into_iter()
                .map(|(addr, frame, access)| (addr, Frame::from_raw(frame), access))
                .collect()
        };
        if dont_unmap {
            // The old area stays, without its memory lock (Linux clears
            // VM_LOCKED there); its userfaultfd registration stays too.
            self.forget_write_protection(old, old_end);
            if vma.flags.contains(VmFlags::LOCKED) {
                self.update_flags(old, old_end, |v| v.flags.without(VmFlags::LOCK_MASK))?;
            }
        } else {
            self.remove_range(old, old_end)?;
        }
        let file = vma.file.clone().map(|f| FileBacking {
            offset: f.offset + (old - vma.start),
            ..f
        });
        // The moved area leaves its userfaultfd behind: without
        // UFFD_FEATURE_EVENT_REMAP (not offered) Linux's
        // mremap_userfaultfd_prep drops the registration.
        self.vmas.insert(
            target,
            Vma {
                start: target,
                end: target + new_size,
                file,
                uffd: None,
                ..vma.clone()
            },
        );
        for (addr, frame, access) in moved {
            // Without memory for a page table the page is lost (freed).
            let _ = self.map_frame(target + (addr - old), frame, access);
        }
        self.populate_if_locked(&vma, target + keep, target + new_size);
        Ok(target)
    }

    /// Faults in [start, end) when `vma` is locked (not on fault): what a
    /// locked area gains by mremap.
    fn populate_if_locked(&mut self, vma: &Vma, start: u64, end: u64) {
        if vma.flags.contains(VmFlags::LOCKED) && !vma.flags.contains(VmFlags::LOCKONFAULT) {
            let _ = self.populate(start, end);
        }
    }

    /// Changes the protection of [start, start+len): every page must be
    /// mapped (ENOMEM otherwise, like Linux).
    pub fn mprotect(&mut self, start: u64, len: u64, prot: Protection) -> Result<(), Errno> {
        if !is_page_aligned(start) {
            return Err(EINVAL);
        }
        let end = page_align_up(len)
            .and_then(|l| start.checked_add(l))
            .ok_or(ENOMEM)?;
        if end > USER_END {
            return Err(ENOMEM);
        }
        // Every byte must be covered, without holes; and may take the new
        // protection (Linux: EACCES for writing to a shared mapping of a
        // file opened read-only, and for the vvar page; EPERM when sealed).
        let mut cursor = start;
        while cursor < end {
            let vma = self.find(cursor).ok_or(ENOMEM)?;
            let file_read_only = vma.shared && vma.file.as_ref().is_some_and(|f| !f.may_write);
            if (prot.write && file_read_only)
                || (vma.kind == VmaKind::Vvar && (prot.write || prot.exec))
            {
                return Err(EACCES);
            }
            if vma.flags.contains(VmFlags::SEALED) {
                return Err(EPERM);
            }
            cursor = vma.end;
        }
        self.room_for_vmas(2)?;
        self.split_at(start)?;
        self.split_at(end)?;
        let starts: Vec<u64> = self.vmas.range(start..end).map(|(&s, _)| s).collect();
        for s in starts {
            self.vmas.get_mut(&s).unwrap().prot = prot;
        }
        let access = prot.page_access();
        let mut leaves = Vec::new();
        self.page_table
            .for_each_leaf(start, end, |addr, frame, size| {
                leaves.push((addr, frame, size))
            });
        let mut alloc = frames::alloc_table_frame;
        for (addr, frame, size) in leaves {
            if size != PAGE_SIZE {
                // A block, wholly inside the range (split at its ends
                // above). One shared since fork stays read-only (copy on
                // write); one losing all access is split: made ours first.
                let mut block_access = access;
                if !access.readable {
                    self.unshare_block(addr)?;
                } else if frames::is_shared_block(frame) {
                    block_access.writable = false;
                }
                self.page_table
                    .protect_block(addr, block_access, &mut alloc)
                    .map_err(|_| ENOMEM)?;
                continue;
            }
            let mut page_access = access;
            // A private mapping's page still shared (page cache, or since
            // fork) stays read-only: a write must copy it first.
            let cow = self.find(addr).is_some_and(|v| !v.shared);
            if cow && frames::is_shared_frame(frame) {
                page_access.writable = false;
            }
            // A page write-protected by userfaultfd stays so (Linux keeps
            // the uffd-wp bit through change_protection).
            if self.uffd_wp.contains(&addr) {
                page_access.writable = false;
            }
            self.page_table
                .protect(addr, page_access, &mut alloc)
                .map_err(|_| ENOMEM)?;
        }
        self.merge_around(start, end);
        Ok(())
    }

    /// brk(2): returns the new break (the old one when the request fails).
    pub fn set_brk(&mut self, requested: u64) -> u64 {
        if requested < self.brk_start || requested >= MMAP_TOP {
            return self.brk;
        }
        let (Some(old_end), Some(new_end)) = (page_align_up(self.brk), page_align_up(requested))
        else {
            return self.brk;
        };
        if new_end > old_end {
            if self.overlaps(old_end, new_end)
                || self
                    .check_commit(new_end - old_end, Protection::READ_WRITE, false)
                    .is_err()
            {
                return self.brk;
            }
            // Grow the heap VMA (or start it).
            let flags = self.def_flags;
            match self.vmas.range_mut(..old_end).next_back() {
                Some((_, vma))
                    if vma.kind == VmaKind::Heap
                        && vma.end == old_end
                        && vma.flags == flags
                        && vma.uffd.is_none() =>
                {
                    vma.end = new_end;
                }
                _ => {
                    self.vmas.insert(
                        old_end,
                        Vma {
                            start: old_end,
                            end: new_end,
                            prot: Protection::READ_WRITE,
                            kind: VmaKind::Heap,
                            shared: false,
                            file: None,
                            flags,
                            uffd: None,
                        },
                    );
                }
            }
            // mlockall(MCL_FUTURE) locks the new heap too.
            if flags.contains(VmFlags::LOCKED) && !flags.contains(VmFlags::LOCKONFAULT) {
                let _ = self.populate(old_end, new_end);
            }
        } else if new_end < old_end && self.unmap(new_end, old_end).is_err() {
            return self.brk;
        }
        self.brk = requested;
        requested
    }

    /// Makes sure the page at `addr` is present with the access the VMA
    /// allows; returns its frame. Used by page faults and by the sentry's
    /// own accesses to user memory (which must never fault).
    pub fn translate_for(&mut self, addr: u64, access: Access) -> Result<u64, Errno> {
        let vma = self.find(addr).ok_or(EFAULT)?.clone();
        let allowed = match access {
            Access::Read => vma.prot.read || vma.prot.write || vma.prot.exec,
            Access::Write => vma.prot.write,
            Access::Exec => vma.prot.exec,
        };
        if !allowed {
            return Err(EFAULT);
        }
        if self.userfault(addr, access).is_some() {
            // A page its userfaultfd must provide (or unprotect): the
            // sentry's own accesses (a syscall's copy from or to user
            // memory) do not wait for the handler as Linux's would, they
            // fail with EFAULT, as Linux's do for a UFFD_USER_MODE_ONLY
            // descriptor.
            return Err(EFAULT);
        }
        if access == Access::Write {
            let page = addr & !(PAGE_SIZE - 1);
            if let Some(t) = self.page_table.translate(page) {
                if !t.access.writable && self.is_copy_on_write(page, &vma) {
                    return self.copy_for_write(page, &vma);
                }
            }
        }
        self.frame_for_kernel(addr)
    }

    /// Maps a private copy of every page of [start, end) that is not mapped
    /// yet, in a writable private file mapping, as a write to each would.
    /// For the ELF loader's writable segments, which programs write almost
    /// all of (relocations, static data): one copy at load instead of a
    /// copy-on-write fault per page later, each several host exits on pvm.
    /// Best effort: stops quietly at the first page it cannot copy, which
    /// then faults in as usual.
    pub fn populate_private_copies(&mut self, start: u64, end: u64) {
        let mut page = start & !(PAGE_SIZE - 1);
        while page < end {
            let Some(vma) = self.find(page).cloned() else {
                return;
            };
            let Some(backing) = vma
                .file
                .as_ref()
                .filter(|_| vma.copy_on_write() && vma.prot.write)
            else {
                return;
            };
            if self.page_table.translate(page).is_none() {
                let Ok((cached, page_cache)) = file_page(&vma, backing, page) else {
                    return;
                };
                let private = if page_cache {
                    let Some(copy) = Frame::alloc_zeroed() else {
                        return;
                    };
                    crate::mm::frame::copy_page(copy.phys(), cached.phys());
                    copy
                } else {
                    cached
                };
                if self
                    .map_frame(page, private, vma.prot.page_access())
                    .is_err()
                {
                    return;
                }
            }
            page += PAGE_SIZE;
        }
    }

    /// The frame behind `addr` for the sentry's own use (loading the
    /// executable, building the initial stack), whatever the VMA's
    /// protection; the page is allocated if needed.
    pub fn frame_for_kernel(&mut self, addr: u64) -> Result<u64, Errno> {
        let vma = self.find(addr).ok_or(EFAULT)?.clone();
        let page = addr & !(PAGE_SIZE - 1);
        if let Some(translation) = self.page_table.translate(page) {
            return Ok(translation.phys);
        }
        if let Some(frame) = self.map_block_around(page, &vma) {
            return Ok(frame);
        }
        let (frame, page_cache) = match &vma.file {
            Some(backing) => file_page(&vma, backing, page)?,
            None => (Frame::alloc_zeroed().ok_or(ENOMEM)?, false),
        };
        let mut access = vma.prot.page_access();
        if page_cache && vma.copy_on_write() {
            access.writable = false;
        }
        self.map_frame(page, frame, access)
    }

    /// Maps `frame` at `page` with `access`: the page-table entry takes
    /// the reference (a frame it replaces loses the old entry's). On
    /// ENOMEM (no frame for a page table) the reference is dropped.
    /// Returns the frame's address.
    fn map_frame(&mut self, page: u64, frame: Frame, access: PageAccess) -> Result<u64, Errno> {
        let mut alloc = frames::alloc_zeroed_frame;
        let replaced = self
            .page_table
            .map(page, frame.phys(), access, &mut alloc)
            .map_err(|_| ENOMEM)?;
        if let Some(replaced) = replaced {
            drop(Frame::from_raw(replaced));
        }
        Ok(frame.into_raw())
    }

    /// Private anonymous memory (heap, mmap) is mapped 2 MiB at a time
    /// where a whole aligned 2 MiB of the area is still untouched: one
    /// block entry instead of 512 page entries, and on the pvm host one
    /// shadow fill instead of 512 (docs/PLATFORM-x86-kvm.md). Returns the
    /// frame for `page`, or None to map a page as usual (no room, no
    /// block free, or not such memory).
    fn map_block_around(&mut self, page: u64, vma: &Vma) -> Option<u64> {
        let block = page & !(frames::BLOCK_SIZE - 1);
        let eligible = self.page_table.blocks_supported()
            && vma.file.is_none()
            && !vma.shared
            && matches!(vma.kind, VmaKind::Anonymous | VmaKind::Heap)
            && vma.prot.read
            && vma.uffd.is_none()
            && block >= vma.start
            && block + frames::BLOCK_SIZE <= vma.end;
        if !eligible || !self.page_table.block_slot_free(block) {
            return None;
        }
        let phys = frames::alloc_zeroed_block()?;
        let mut alloc = frames::alloc_zeroed_frame;
        match self
            .page_table
            .map_block(block, phys, vma.prot.page_access(), &mut alloc)
        {
            Ok(true) => {
                BLOCK_MAPPINGS.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
                Some(phys + (page - block))
            }
            _ => {
                frames::release_block(phys);
                None
            }
        }
    }

    /// The first write to a page-cache page of a private mapping: give the
    /// mapping its own copy.
    fn break_copy_on_write(&mut self, page: u64, vma: &Vma) -> Result<u64, Errno> {
        let old = self.page_table.translate(page).ok_or(EFAULT)?.phys;
        let mut alloc = frames::alloc_zeroed_frame;
        if !frames::is_shared_frame(old) {
            // Every other owner went its own way (or is gone): the page is
            // ours alone and becomes writable where it is.
            self.page_table
                .protect(page, vma.prot.page_access(), &mut alloc)
                .map_err(|_| ENOMEM)?;
            return Ok(old);
        }
        let new = Frame::alloc_to_overwrite().ok_or(ENOMEM)?;
        crate::mm::frame::copy_page(new.phys(), old);
        // The old entry was read-only: a stale translation can only read the
        // old frame (whose contents the copy has) until the retried write
        // refreshes it, so the flush may wait while the old frame is kept.
        let lazy = crate::arch::paging::stale_entries_refill()
            && crate::arch::paging::loaded_user_root() == self.root();
        if !lazy {
            return self.map_frame(page, new, vma.prot.page_access());
        }
        let mut alloc = frames::alloc_zeroed_frame;
        let replaced = self
            .page_table
            .map_unflushed(page, new.phys(), vma.prot.page_access(), &mut alloc)
            .map_err(|_| ENOMEM)?;
        if let Some(replaced) = replaced {
            self.stale_frames.push(Frame::from_raw(replaced));
            if self.stale_frames.len() >= STALE_FRAMES_MAX {
                self.release_stale_frames();
            }
        }
        Ok(new.into_raw())
    }

    /// One full flush, then the frames replaced without a flush go back.
    fn release_stale_frames(&mut self) {
        if self.stale_frames.is_empty() {
            return;
        }
        if crate::arch::paging::loaded_user_root() == self.root() {
            crate::arch::cpu::flush_all();
        }
        // Not loaded: the next load of this root resyncs its translations.
        self.stale_frames.clear();
    }

    /// Whether the page at `addr` is in memory (mincore): present here, or
    /// for a file mapping in the file's page cache (another process may
    /// have faulted it in).
    pub fn is_resident(&mut self, addr: u64) -> bool {
        let page = addr & !(PAGE_SIZE - 1);
        if self.page_table.translate(page).is_some() {
            return true;
        }
        match self
            .find(page)
            .and_then(|v| Some((v.start, v.file.as_ref()?)))
        {
            Some((start, backing)) => backing
                .inode
                .page_cached((backing.offset + (page - start)) / PAGE_SIZE),
            None => false,
        }
    }

    /// What /proc/PID/pagemap tells of the page at `addr`: None when it
    /// is not present, else whether its frame has other owners (a file's
    /// page cache, another process).
    pub fn page_state(&mut self, addr: u64) -> Option<bool> {
        let t = self.page_table.translate(addr & !(PAGE_SIZE - 1))?;
        Some(frames::is_shared_frame(t.phys))
    }

    /// Bytes in locked areas (VmLck).
    pub fn locked_bytes(&self) -> u64 {
        self.vmas
            .values()
            .filter(|v| v.flags.contains(VmFlags::LOCKED))
            .map(|v| v.end - v.start)
            .sum()
    }

    /// Bytes of [start, end) present in the page table (smaps' Rss).
    pub fn resident_bytes(&mut self, start: u64, end: u64) -> u64 {
        let mut pages = 0u64;
        self.page_table
            .for_each_frame(start, end, |_, _| pages += 1);
        pages * PAGE_SIZE
    }

    /// Sets the flags of the areas in [start, end) to `change(area)`,
    /// splitting areas at the ends only where they change and merging
    /// after (mlock, madvise, mseal). The range must be mapped.
    pub fn update_flags(
        &mut self,
        start: u64,
        end: u64,
        change: impl Fn(&Vma) -> VmFlags,
    ) -> Result<(), Errno> {
        if self.areas_in(start, end).all(|v| change(v) == v.flags) {
            return Ok(());
        }
        self.room_for_vmas(2)?;
        for at in [start, end] {
            if self
                .find(at)
                .is_some_and(|v| v.start < at && change(v) != v.flags)
            {
                self.split_at(at)?;
            }
        }
        let starts: Vec<u64> = self.vmas.range(start..end).map(|(&s, _)| s).collect();
        for s in starts {
            let vma = self.vmas.get_mut(&s).expect("listed above");
            vma.flags = change(vma);
        }
        self.merge_around(start, end);
        Ok(())
    }

    /// A fault at `addr`, in no area but just below one mapped with
    /// MAP_GROWSDOWN: the area grows down to cover it, as Linux's
    /// expand_downwards allows (no closer than its stack_guard_gap, 256
    /// pages, to an accessible area below; at most `limit` bytes, the
    /// stack rlimit). Returns whether it grew.
    pub fn grow_down(&mut self, addr: u64, limit: u64) -> bool {
        const STACK_GUARD_GAP: u64 = 256 * PAGE_SIZE;
        let page = addr & !(PAGE_SIZE - 1);
        if page < MMAP_MIN_ADDR || addr >= USER_END || self.find(addr).is_some() {
            return false;
        }
        let Some((&start, vma)) = self.vmas.range(addr..).next() else {
            return false;
        };
        if !vma.flags.contains(VmFlags::GROWSDOWN)
            || vma.end - page > limit
            || vma.file.as_ref().is_some_and(|f| f.offset < start - page)
            || self
                .check_commit(start - page, vma.prot, vma.shared)
                .is_err()
        {
            return false;
        }
        if let Some((_, prev)) = self.vmas.range(..start).next_back() {
            let accessible = prev.prot.read || prev.prot.write || prev.prot.exec;
            if !prev.flags.contains(VmFlags::GROWSDOWN)
                && accessible
                && page - prev.end < STACK_GUARD_GAP
            {
                return false;
            }
        }
        let mut vma = self.vmas.remove(&start).expect("found above");
        if let Some(f) = vma.file.as_mut() {
            f.offset -= start - page;
        }
        vma.start = page;
        self.vmas.insert(page, vma);
        true
    }

    /// Makes every accessible page of [start, end) present, as a read would
    /// (mlock, MAP_POPULATE): inaccessible (PROT_NONE) mappings are skipped.
    /// ENOMEM when part of the range is unmapped or memory runs out.
    pub fn populate(&mut self, start: u64, end: u64) -> Result<(), Errno> {
        let mut page = start & !(PAGE_SIZE - 1);
        while page < end {
            let vma = self.find(page).ok_or(ENOMEM)?.clone();
            let accessible = vma.prot.read || vma.prot.write || vma.prot.exec;
            if accessible {
                let stop = vma.end.min(end);
                while page < stop {
                    self.translate_for(page, Access::Read).map_err(|e| {
                        if e == EFAULT {
                            ENOMEM
                        } else {
                            e
                        }
                    })?;
                    page += PAGE_SIZE;
                }
            }
            page = page.max(vma.end.min(end));
        }
        Ok(())
    }

    /// Resolves a user page fault. Err(errno): the access is invalid
    /// (EFAULT: SIGSEGV) or memory is exhausted (ENOMEM).
    pub fn handle_fault(&mut self, addr: u64, access: Access) -> Result<(), Errno> {
        self.page_faults += 1;
        if addr >= USER_END {
            return Err(EFAULT);
        }
        let page = addr & !(PAGE_SIZE - 1);
        if let Some(translation) = self.page_table.translate(page) {
            if access == Access::Write && !translation.access.writable {
                if let Some(vma) = self.find(addr).cloned() {
                    if self.is_copy_on_write(page, &vma) {
                        // Write protection of a closed (or unregistered)
                        // userfaultfd no longer counts.
                        self.uffd_wp.remove(&page);
                        return self.copy_for_write(page, &vma).map(|_| ());
                    }
                }
            }
            // The page is mapped: either the access is not allowed, or the
            // TLB (or the pvm host's shadow tables) held a stale entry.
            let ok = match access {
                Access::Read => translation.access.readable,
                Access::Write => translation.access.writable,
                Access::Exec => translation.access.executable,
            };
            if !ok {
                return Err(EFAULT);
            }
            crate::arch::cpu::flush_page(page);
            return Ok(());
        }
        self.translate_for(addr, access)?;
        self.fault_around(addr);
        Ok(())
    }

    /// After a fault in anonymous memory, maps the rest of the aligned
    /// [`FAULT_AROUND_BYTES`] window too: on the pvm host every guest page
    /// fault costs several host exits, while a page mapped ahead costs one
    /// shadow fill at most. Best effort: stops quietly when memory is short.
    fn fault_around(&mut self, addr: u64) {
        let Some(vma) = self.find(addr).cloned() else {
            return;
        };
        // A registered area's missing pages belong to its userfaultfd.
        if vma.uffd.is_some() {
            return;
        }
        // Not shared anonymous memory: mincore reports exactly the pages a
        // program touched there, as Linux's shmem does.
        let anonymous = matches!(
            vma.kind,
            VmaKind::Anonymous | VmaKind::Heap | VmaKind::Stack
        ) && vma.file.is_none()
            && !vma.shared;
        if vma.copy_on_write() && (vma.prot.read || vma.prot.exec) {
            // Private file mappings (libraries, the executable's segments):
            // the neighbours come from the file's page cache, read-only
            // until written, as the faulting page did. Stops at the end of
            // the file or on any error.
            let window = addr & !(FILE_FAULT_AROUND_BYTES - 1);
            let end = (window + FILE_FAULT_AROUND_BYTES).min(vma.end);
            let mut page = window.max(vma.start);
            while page < end {
                if self.page_table.translate(page).is_none() && self.frame_for_kernel(page).is_err()
                {
                    return;
                }
                page += PAGE_SIZE;
            }
            return;
        }
        if !anonymous || !vma.prot.read {
            return;
        }
        let window = addr & !(FAULT_AROUND_BYTES - 1);
        let start = window.max(vma.start);
        let end = (window + FAULT_AROUND_BYTES).min(vma.end);
        let mut page = start;
        while page < end {
            if self.page_table.translate(page).is_none() {
                let Some(frame) = Frame::alloc_zeroed() else {
                    return;
                };
                if self.map_frame(page, frame, vma.prot.page_access()).is_err() {
                    return;
                }
            }
            page += PAGE_SIZE;
        }
    }

    /// A snapshot of the VMAs, in address order (for /proc/self/maps).
    pub fn vma_list(&self) -> alloc::vec::Vec<Vma> {
        self.vmas.values().cloned().collect()
    }

    /// (virtual size, resident size) in KiB.
    pub fn usage_kb(&mut self) -> (u64, u64) {
        let size: u64 = self.vmas.values().map(|v| v.end - v.start).sum();
        let mut resident = 0u64;
        let ranges: alloc::vec::Vec<(u64, u64)> =
            self.vmas.values().map(|v| (v.start, v.end)).collect();
        for (start, end) in ranges {
            self.page_table
                .for_each_frame(start, end, |_, _| resident += 1);
        }
        (size / 1024, resident * PAGE_SIZE / 1024)
    }

    /// madvise(MADV_DONTNEED): drop the pages; private anonymous memory reads
    /// back as zeros afterwards, file mappings read the file again. Shared
    /// anonymous pages are kept: their data lives on (Linux's shmem), and
    /// here they are that memory itself; so are the vDSO's, which could not
    /// be faulted in again.
    pub fn discard(&mut self, start: u64, end: u64) -> Result<(), Errno> {
        let ranges: Vec<(u64, u64, bool)> = self
            .areas_in(start, end)
            .map(|v| {
                let keep = (v.shared && v.file.is_none())
                    || matches!(v.kind, VmaKind::Vdso | VmaKind::Vvar);
                (v.start.max(start), v.end.min(end), keep)
            })
            .collect();
        for (s, e, keep) in ranges {
            if !keep {
                // Changes to a shared file's pages reach the file first.
                self.writeback(s, e);
                self.release_range(s, e)?;
            }
        }
        Ok(())
    }
}

/// The frame for page `page` of a file mapping, and whether it is the
/// file's own (page-cache) page: filesystems that share pages give their
/// page (writable for shared mappings, copy-on-write for private ones);
/// others give a private copy (zeros past the end). EIO (SIGBUS) past the
/// end of a file whose pages are shared.
fn file_page(vma: &Vma, backing: &FileBacking, page: u64) -> Result<(Frame, bool), Errno> {
    let offset = backing.offset + (page - vma.start);
    match backing.inode.shared_page(offset / PAGE_SIZE) {
        Ok(Some(frame)) => return Ok((frame, true)),
        Ok(None) => return Err(EIO),
        Err(e) if e == ENODEV => {}
        Err(e) => return Err(e),
    }
    let frame = Frame::alloc_zeroed().ok_or(ENOMEM)?;
    let mut data = [0u8; PAGE_SIZE as usize];
    let mut done = 0;
    while done < data.len() {
        match backing
            .inode
            .read_at(offset + done as u64, &mut data[done..])
        {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) => return Err(if e == ENOMEM { ENOMEM } else { EIO }),
        }
    }
    crate::mm::frame::write(frame.phys(), 0, &data[..done]);
    Ok((frame, false))
}

impl Drop for AddressSpace {
    /// Frees the pages (shared file mappings are written back first) and,
    /// for a root of its own, the page tables too.
    fn drop(&mut self) {
        self.release_stale_frames();
        if self.owns_root && crate::arch::paging::loaded_user_root() != self.root() {
            // Not in use anywhere (an ended process, freed by the next task
            // to run once it switched to its own tables; an image replaced
            // by exec): shared file mappings are written back, then the
            // tables are walked once and freed without clearing entries.
            self.writeback_all();
            self.page_table.release_all(
                crate::arch::paging::USER_ROOT_ENTRIES,
                &mut frames::release_frame,
                &mut frames::release_block,
                &mut frames::free_table_frame,
            );
            crate::arch::paging::free_user_root(self.page_table.root());
            return;
        }
        // Mapping by mapping: a walk of the whole user range would visit
        // 64 Mi empty 2 MiB slots.
        let ranges: Vec<(u64, u64)> = self.vmas.values().map(|v| (v.start, v.end)).collect();
        for (start, end) in ranges {
            // Whole areas: no block is split, nothing can fail.
            if self.remove_range(start, end).is_err() {
                log::error!("an address space's pages could not all be freed");
            }
        }
        // The loader's root may hold its own boot mappings: only tables we
        // allocated are walked and freed.
        if !self.owns_root {
            return;
        }
        let mut free = |table: u64| frames::free_table_frame(table);
        self.page_table
            .free_tables(crate::arch::paging::USER_ROOT_ENTRIES, &mut free);
        crate::arch::paging::free_user_root(self.page_table.root());
    }
}
