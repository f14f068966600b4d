//! Kernel memory: the physical frame allocator and the sentry's heap.
//!
//! Frames come from the `Usable` regions of the boot memory map. Never-used
//! frames are handed out by a bump pointer and are known to be zero (the
//! loader gives fresh RAM), so they need no clearing; freed frames go on an
//! intrusive free list (the next pointer lives in the free frame itself) and
//! are cleared when reused.
//!
//! Every managed frame has a reference count ([`refcount`]: a dense array
//! of counters set aside at [`init`]); the last release frees a frame.
//! [`Frame`] is an owning reference for the sentry's data structures; a
//! page-table entry owns one reference as a raw address.
//!
//! The sentry's heap is `talc` (binned free lists: its speed does not fall
//! as the heap fills, as a first-fit list's did). It starts with 1/16 of
//! RAM (4..64 MiB) and, when that is full, claims further runs of
//! never-used frames (or single freed frames, for small blocks), so the
//! sentry's own memory is accounted within `--memory` rather than a fixed
//! share of it. Running out must be an errno for the program, never a
//! failed allocation in the sentry: frames for the program's pages and
//! files are refused while less than `KERNEL_RESERVE` of never-used frames
//! is left for the heap, and the objects a program can multiply
//! (descriptors, memory areas, tmpfs nodes) while less than
//! `OBJECT_RESERVE` of free frames is.

use crate::arch::PAGE_SIZE;
pub mod frame;
pub mod pagetable;
pub mod refcount;

use core::alloc::{GlobalAlloc, Layout};

use boards::bootinfo::{BootInfo, MemoryKind};
use spin::Mutex;
use talc::base::binning::Binning;
use talc::base::Talc;
use talc::source::Source;
use talc::DefaultBinning;

use crate::arch::paging::phys_to_virt;
use crate::sentry::errno::{Errno, ENOMEM};

/// The sentry's heap.
struct KernelHeap(Mutex<Talc<FrameSource, DefaultBinning>>);

#[global_allocator]
static HEAP: KernelHeap = KernelHeap(Mutex::new(Talc::new(FrameSource)));

/// The heap claims at least this much at a time when it grows.
const HEAP_GROW_STEP: u64 = 1 << 20;

/// How far ahead of what it uses the sentry asks the VMM to back guest RAM
/// (`hv::hint_prefault`): for frames, past the bump pointer; for the
/// initial heap, past its high-water mark. A new hint goes out once half
/// of the window is used, and the window doubles each time up to its
/// largest (as readahead grows): a small program asks for little, so its
/// resident memory stays small; one loading its libraries soon stays
/// megabytes ahead.
const FRAME_PREFAULT_FIRST: u64 = 256 << 10;
const FRAME_PREFAULT_MAX: u64 = 4 << 20;
const HEAP_PREFAULT_FIRST: u64 = 128 << 10;
const HEAP_PREFAULT_MAX: u64 = 1 << 20;

/// Where a prefault window has reached (guest-physical) and its size now.
struct PrefaultWindow {
    reached: u64,
    size: u64,
}

impl PrefaultWindow {
    const fn new(first: u64) -> PrefaultWindow {
        PrefaultWindow {
            reached: 0,
            size: first,
        }
    }

    /// After [.., used) was handed out from never-used RAM that ends at
    /// `limit`: the next range to back, if it is time for one (less than
    /// half a window left ahead of `used`). Use below the window was
    /// backed already (a heap reuses what it freed); a `used` beyond it
    /// (the bump pointer moved on to the next region) starts over there.
    fn advance(&mut self, used: u64, limit: u64, max: u64) -> Option<(u64, u64)> {
        if used <= self.reached && self.reached - used >= self.size / 2 {
            return None;
        }
        let from = self.reached.max(used);
        let to = (used + self.size).min(limit);
        self.size = (self.size * 2).min(max);
        if to <= from {
            return None;
        }
        self.reached = to;
        Some((from, to - from))
    }

    /// The lowest `used` for which [`Self::advance`] may have something
    /// to say (u64::MAX once the window reached `limit`).
    fn next_check(&self, limit: u64) -> u64 {
        if self.reached >= limit {
            u64::MAX
        } else {
            (self.reached + 1).saturating_sub(self.size / 2)
        }
    }
}

/// The initial heap's window and its end (guest-physical).
static HEAP_PREFAULT: Mutex<(PrefaultWindow, u64)> =
    Mutex::new((PrefaultWindow::new(HEAP_PREFAULT_FIRST), 0));

/// Below this (guest-physical) end of an allocation the heap's window has
/// nothing to do: every allocation checks it without a lock.
static HEAP_PREFAULT_NEXT: core::sync::atomic::AtomicU64 =
    core::sync::atomic::AtomicU64::new(u64::MAX);

/// After the heap handed out [.., end) (a direct-map address): asks the VMM
/// to back the next stretch of the initial heap when it is time.
fn note_heap_use(end: u64) {
    use core::sync::atomic::Ordering::Relaxed;
    let end = end.wrapping_sub(phys_to_virt(0) as u64);
    if end < HEAP_PREFAULT_NEXT.load(Relaxed) {
        return;
    }
    let mut heap = HEAP_PREFAULT.lock();
    let (window, heap_end) = &mut *heap;
    if end > *heap_end {
        return; // a run claimed after the initial heap filled up
    }
    if let Some((start, len)) = window.advance(end, *heap_end, HEAP_PREFAULT_MAX) {
        crate::hv::hint_prefault(crate::hv::PrefaultKind::Heap, start, len);
    }
    HEAP_PREFAULT_NEXT.store(window.next_check(*heap_end), Relaxed);
}

/// Never-used frames kept for the heap to grow into while a syscall runs:
/// frames for the program are refused below it. (The heap's own free bytes
/// do not count: they may be scattered in holes too small to use.)
const KERNEL_RESERVE: u64 = 1 << 20;

/// Below this much free memory (frames), new objects that a program can
/// multiply are refused.
const OBJECT_RESERVE: u64 = 2 * KERNEL_RESERVE;

/// Where the heap gets more memory when it is full: a run of never-used
/// frames.
#[derive(Debug)]
struct FrameSource;

// SAFETY: `acquire` touches no allocator: it takes frames from the frame
// allocator's bump regions (a spin lock and plain arithmetic).
unsafe impl Source for FrameSource {
    fn acquire<B: Binning>(talc: &mut Talc<Self, B>, layout: Layout) -> Result<(), ()> {
        if HEAP_NO_GROW.load(core::sync::atomic::Ordering::Relaxed) {
            return Err(());
        }
        // Room for the block, its alignment and talc's bookkeeping.
        let need = boards::align_up((layout.size() + layout.align() + 256) as u64, PAGE_SIZE);
        let mut frames = FRAMES.lock();
        // What fits in a page takes a freed frame first: the never-used
        // runs are kept for what needs contiguous memory.
        let run = match frames.take_free(need) {
            Some(frame) => (frame, PAGE_SIZE),
            None => frames.take_run(need, need.max(HEAP_GROW_STEP)).ok_or(())?,
        };
        drop(frames);
        let (start, size) = run;
        // SAFETY: [start, start + size) are never-used frames, just taken out
        // of the frame allocator for good, direct-mapped, and nobody else's.
        unsafe { talc.claim(phys_to_virt(start), size as usize) }.ok_or(())?;
        Ok(())
    }
}

// SAFETY: talc hands out disjoint blocks of the memory it was given (the
// initial heap and the runs `FrameSource` claims), which nothing else uses.
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let mut heap = self.0.lock();
        // SAFETY: `layout` is a valid, non-zero-sized layout (GlobalAlloc's contract).
        let block = unsafe { heap.allocate(layout) }.map_or(core::ptr::null_mut(), |p| p.as_ptr());
        if !block.is_null() {
            note_heap_use(block as u64 + layout.size() as u64);
        }
        block
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller gives back a block this allocator handed out.
        unsafe { self.0.lock().deallocate(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, old: Layout, new_size: usize) -> *mut u8 {
        let mut heap = self.0.lock();
        // SAFETY: `ptr` was allocated here with `old` (the caller's contract).
        if unsafe { heap.try_realloc_in_place(ptr, old, new_size) } {
            return ptr;
        }
        // SAFETY: `new_size` with `old`'s alignment is a valid layout, and
        // the old block is copied (the smaller of both sizes) then freed.
        unsafe {
            let layout = Layout::from_size_align_unchecked(new_size, old.align());
            let Some(new) = heap.allocate(layout) else {
                return core::ptr::null_mut();
            };
            new.as_ptr()
                .copy_from_nonoverlapping(ptr, old.size().min(new_size));
            heap.deallocate(ptr, old);
            new.as_ptr()
        }
    }
}

const MAX_REGIONS: usize = refcount::MAX_REGIONS;
const _: () = assert!(refcount::FRAME_SIZE == PAGE_SIZE && refcount::BLOCK_FRAMES == BLOCK_FRAMES);

struct FrameAllocator {
    /// Untouched usable memory: [start, end) per region, consumed from start.
    regions: [(u64, u64); MAX_REGIONS],
    region_count: usize,
    /// Head of the free list (0 = empty).
    free_head: u64,
    free_count: u64,
    /// Head of the list of free 2 MiB blocks (0 = empty), linked through
    /// their first word like the frame list, and how many there are.
    block_head: u64,
    block_count: u64,
    /// Frames currently handed out (for stats and overcommit checks).
    allocated: u64,
    /// How far ahead never-used frames are being backed.
    prefault: PrefaultWindow,
}

static FRAMES: Mutex<FrameAllocator> = Mutex::new(FrameAllocator {
    regions: [(0, 0); MAX_REGIONS],
    region_count: 0,
    free_head: 0,
    free_count: 0,
    block_head: 0,
    block_count: 0,
    allocated: 0,
    prefault: PrefaultWindow::new(FRAME_PREFAULT_FIRST),
});

/// Bytes and frames of a 2 MiB block.
pub const BLOCK_SIZE: u64 = 2 << 20;
const BLOCK_FRAMES: u64 = BLOCK_SIZE / PAGE_SIZE;

impl FrameAllocator {
    /// A frame: a freed one, else a never-used one (unless that would eat
    /// into the reserve kept for the heap, when `use_reserve` is false),
    /// else one of a free 2 MiB block (the rest of the block goes on the
    /// free list). The flag says whether it is known to be zero.
    fn alloc(&mut self, use_reserve: bool) -> Option<(u64, bool)> {
        if self.free_head != 0 {
            let frame = self.free_head;
            // SAFETY: free frames are owned by the allocator; the first word
            // holds the next pointer written by `free`.
            self.free_head = unsafe { (phys_to_virt(frame) as *const u64).read() };
            self.free_count -= 1;
            self.allocated += 1;
            return Some((frame, false));
        }
        if use_reserve || self.untouched() * PAGE_SIZE >= KERNEL_RESERVE + PAGE_SIZE {
            for region in self.regions[..self.region_count].iter_mut() {
                if region.1 - region.0 >= PAGE_SIZE {
                    let frame = region.0;
                    region.0 += PAGE_SIZE;
                    self.allocated += 1;
                    let region_end = region.1;
                    self.prefault_ahead(frame, region_end);
                    return Some((frame, true));
                }
            }
        }
        let block = self.pop_block()?;
        // The block's frames become ordinary free frames.
        self.allocated -= BLOCK_FRAMES;
        for i in (1..BLOCK_FRAMES).rev() {
            self.push_free(block + i * PAGE_SIZE);
        }
        self.allocated += 1;
        Some((block, false))
    }

    /// After never-used `frame` (of a region ending at `region_end`) was
    /// handed out: asks the VMM to back the frames that follow, when it is
    /// time.
    fn prefault_ahead(&mut self, frame: u64, region_end: u64) {
        let used = frame + PAGE_SIZE;
        if let Some((start, len)) = self.prefault.advance(used, region_end, FRAME_PREFAULT_MAX) {
            crate::hv::hint_prefault(crate::hv::PrefaultKind::Frames, start, len);
        }
    }

    fn push_free(&mut self, frame: u64) {
        // SAFETY: the frame is the allocator's (its owner gave it up); the
        // list link lives in its first word.
        unsafe { (phys_to_virt(frame) as *mut u64).write(self.free_head) };
        self.free_head = frame;
        self.free_count += 1;
    }

    /// A free 2 MiB block off the block list (counted as allocated).
    fn pop_block(&mut self) -> Option<u64> {
        if self.block_head == 0 {
            return None;
        }
        let block = self.block_head;
        // SAFETY: free blocks are owned by the allocator; the first word
        // holds the next pointer written by `release_block`.
        self.block_head = unsafe { (phys_to_virt(block) as *const u64).read() };
        self.block_count -= 1;
        self.allocated += BLOCK_FRAMES;
        Some(block)
    }

    /// A 2 MiB-aligned block: a freed one (not zero), else never-used
    /// memory (zero) from the top of a region downwards (pages and the
    /// heap grow from the bottom: the VMM backs the upper part of guest RAM
    /// with huge pages), while that leaves the heap's reserve; the frames
    /// above it, skipped to align it, go on the free list.
    fn alloc_block(&mut self) -> Option<(u64, bool)> {
        if let Some(block) = self.pop_block() {
            return Some((block, false));
        }
        let untouched = self.untouched() * PAGE_SIZE;
        let count = self.region_count;
        let mut found = None;
        for region in self.regions[..count].iter_mut().rev() {
            if region.1 < BLOCK_SIZE {
                continue;
            }
            let block = (region.1 - BLOCK_SIZE) & !(BLOCK_SIZE - 1);
            let skipped = region.1 - (block + BLOCK_SIZE);
            if block >= region.0 && untouched >= skipped + BLOCK_SIZE + KERNEL_RESERVE + PAGE_SIZE {
                found = Some((block, region.1));
                region.1 = block;
                break;
            }
        }
        let (block, old_end) = found?;
        self.allocated += BLOCK_FRAMES;
        for frame in (block + BLOCK_SIZE..old_end).step_by(PAGE_SIZE as usize) {
            self.push_free(frame);
        }
        Some((block, true))
    }

    /// A freed frame for the heap, when `need` is one page.
    fn take_free(&mut self, need: u64) -> Option<u64> {
        if need > PAGE_SIZE || self.free_head == 0 {
            return None;
        }
        self.alloc(true).map(|(frame, _)| frame)
    }

    /// A run of contiguous never-used frames: `want` bytes, or what is
    /// left of a region when that is less, but at least `need`.
    fn take_run(&mut self, need: u64, want: u64) -> Option<(u64, u64)> {
        let count = self.region_count;
        let region = self.regions[..count]
            .iter_mut()
            .filter(|(start, end)| end - start >= need)
            .max_by_key(|(start, end)| end - start)?;
        let size = want.min(region.1 - region.0);
        let start = region.0;
        region.0 += size;
        Some((start, size))
    }

    fn untouched(&self) -> u64 {
        self.regions[..self.region_count]
            .iter()
            .map(|(start, end)| (end - start) / PAGE_SIZE)
            .sum()
    }
}

/// Sets up the frame allocator from the boot memory map, then carves the
/// kernel heap out of it.
pub fn init(boot_info: &BootInfo) {
    let mut frames = FRAMES.lock();
    for region in boot_info.regions() {
        if region.kind() != Some(MemoryKind::Usable) || frames.region_count == MAX_REGIONS {
            continue;
        }
        let start = boards::align_up(region.start, PAGE_SIZE);
        let end = region.end() & !(PAGE_SIZE - 1);
        if end > start {
            let n = frames.region_count;
            frames.regions[n] = (start, end);
            frames.region_count += 1;
        }
    }
    // The heap: 1/16 of RAM, between 4 and 64 MiB, from the largest region.
    let heap_size = (boot_info.memory_size / 16).clamp(4 << 20, 64 << 20);
    let count = frames.region_count;
    let largest = (0..count)
        .max_by_key(|&i| frames.regions[i].1 - frames.regions[i].0)
        .expect("the boot memory map has no usable memory");
    let (start, end) = frames.regions[largest];
    let heap_size = heap_size.min((end - start) / 2) & !(PAGE_SIZE - 1);
    let heap_start = start;
    frames.regions[largest].0 += heap_size;
    // The reference counts: one counter per frame (a few more: the
    // counters' own frames are counted too), from the largest region.
    let counts_start = frames.regions[largest].0;
    let counts_bytes = boards::align_up(
        refcount::FrameCounts::slots_needed(&frames.regions[..count]) as u64 * 4,
        PAGE_SIZE,
    );
    assert!(
        counts_bytes < (end - counts_start) / 2,
        "no room for the frame counters"
    );
    frames.regions[largest].0 += counts_bytes;
    let total: u64 = frames.regions[..frames.region_count]
        .iter()
        .map(|(start, end)| (end - start) / PAGE_SIZE)
        .sum();
    TOTAL_FRAMES.store(total, core::sync::atomic::Ordering::Relaxed);
    let managed = (frames.regions, frames.region_count);
    drop(frames);
    let slots = refcount::FrameCounts::slots_needed(&managed.0[..managed.1]);
    assert!(
        slots as u64 * 4 <= counts_bytes,
        "frame counters do not fit"
    );
    // SAFETY: [counts_start, +counts_bytes) was just removed from the
    // allocator's regions, is usable RAM covered by the direct map, and is
    // never handed out again; it is never-used RAM, zero like every
    // never-used frame (the loader gives fresh RAM, see the module
    // comment), so all counts start at 0 without a store: clearing it
    // would touch every counter page at boot (64 pages, each a host exit,
    // for 256 MiB) where a small program needs a few. The slice of atomic
    // counters (4-byte aligned: the start is page-aligned) is the only way
    // it is ever accessed.
    let counters: &'static [core::sync::atomic::AtomicU32] = unsafe {
        let base = phys_to_virt(counts_start);
        core::slice::from_raw_parts(base as *const core::sync::atomic::AtomicU32, slots)
    };
    COUNTS.call_once(|| refcount::FrameCounts::new(&managed.0[..managed.1], counters));
    LAYOUT.call_once(|| RamLayout {
        managed: managed.0,
        managed_count: managed.1,
    });
    // SAFETY: [heap_start, +heap_size) was just removed from the allocator,
    // is usable RAM covered by the direct map, and is never handed out again.
    unsafe {
        HEAP.0
            .lock()
            .claim(phys_to_virt(heap_start), heap_size as usize)
            .expect("the heap is large enough for talc");
    }
    let window = PrefaultWindow {
        reached: heap_start,
        size: HEAP_PREFAULT_FIRST,
    };
    HEAP_PREFAULT_NEXT.store(
        window.next_check(heap_start + heap_size),
        core::sync::atomic::Ordering::Relaxed,
    );
    *HEAP_PREFAULT.lock() = (window, heap_start + heap_size);
}

/// The reference count of every managed frame (set up at `init`).
static COUNTS: spin::Once<refcount::FrameCounts<'static>> = spin::Once::new();

fn counts() -> &'static refcount::FrameCounts<'static> {
    COUNTS.get().expect("mm::init has run")
}

/// Where frames and boot regions lie (fixed at `init`): the checks of
/// [`frame`] keep every access by physical address inside guest RAM.
struct RamLayout {
    /// The usable regions the frame allocator manages.
    managed: [(u64, u64); MAX_REGIONS],
    managed_count: usize,
}

static LAYOUT: spin::Once<RamLayout> = spin::Once::new();

/// True when `frame` lies in memory the frame allocator manages.
fn is_managed_frame(frame: u64) -> bool {
    COUNTS.get().is_some_and(|counts| counts.covers(frame))
}

/// True when [start, start+size) is memory the frame allocator never hands
/// out (what the loader placed before the sentry ran: the application
/// image, the boot strings and tables).
fn is_boot_region(start: u64, size: u64) -> bool {
    let Some(end) = start.checked_add(size) else {
        return false;
    };
    LAYOUT.get().is_some_and(|layout| {
        !layout.managed[..layout.managed_count]
            .iter()
            .any(|&(from, to)| start < to && end > from)
    })
}

/// Free bytes on the heap, less an allowance for fragmentation (an eighth
/// of the heap: free bytes in holes too small for the next block).
fn heap_slack() -> u64 {
    let heap = HEAP.0.lock();
    let counters = heap.counters();
    (counters.available_bytes as u64).saturating_sub(counters.claimed_bytes as u64 / 8)
}

/// Memory the sentry can still allocate: heap slack and free frames.
pub fn kernel_memory_available() -> u64 {
    heap_slack() + free_frames() * PAGE_SIZE
}

/// `Err(errno)` when too little memory is left for one more object that a
/// program can multiply (a descriptor, a memory area, a tmpfs node).
pub fn reserve_for_object(errno: Errno) -> Result<(), Errno> {
    let slack = heap_slack();
    let (free, untouched) = {
        let frames = FRAMES.lock();
        (frames.free_count + frames.untouched(), frames.untouched())
    };
    // Enough in all, and enough for blocks larger than a page.
    if slack + free * PAGE_SIZE < OBJECT_RESERVE || slack + untouched * PAGE_SIZE < KERNEL_RESERVE {
        return Err(errno);
    }
    Ok(())
}

/// ENOMEM when too little memory is left for one more object.
pub fn reserve_object() -> Result<(), Errno> {
    reserve_for_object(ENOMEM)
}

/// A zero-filled frame, or None when guest memory is exhausted (what is
/// left is kept for the sentry's heap).
pub fn alloc_zeroed_frame() -> Option<u64> {
    let frame = zeroed_frame()?;
    counts().allocated(frame);
    Some(frame)
}

/// A frame whose every byte the caller writes at once (a copy of a page),
/// so a recycled one is not cleared first; None as for
/// [`alloc_zeroed_frame`].
pub fn alloc_frame_to_overwrite() -> Option<u64> {
    let frame = taken_frame(false)?;
    counts().allocated(frame);
    Some(frame)
}

/// A zero-filled frame (see [`alloc_zeroed_frame`]), its count not set.
fn zeroed_frame() -> Option<u64> {
    taken_frame(true)
}

/// A free frame, cleared if `clear` and not known to be zero, its count
/// not set.
fn taken_frame(clear: bool) -> Option<u64> {
    let taken = FRAMES.lock().alloc(false);
    let (frame, zero) = match taken {
        Some(taken) => taken,
        // Caches that can be dropped give their frames back first.
        None if reclaim() => match FRAMES.lock().alloc(false) {
            Some(taken) => taken,
            None => return frame_from_heap(),
        },
        None => return frame_from_heap(),
    };
    if clear && !zero {
        // SAFETY: the frame was just taken off the free list, so nobody else
        // refers to it; the direct map covers it.
        unsafe { core::ptr::write_bytes(phys_to_virt(frame), 0, PAGE_SIZE as usize) };
    }
    Some(frame)
}

/// How many heap blocks [`frame_from_heap`] looks at for one frame.
const HEAP_FRAME_TRIES: usize = 16;

/// No frame is left: a page of the heap's free memory becomes a frame for
/// good (the way back of [`FrameSource`], which turns frames into heap).
/// Without it, memory the heap grew into while a program held many sentry
/// objects (descriptors, tmpfs nodes) would stay heap after the objects
/// are gone, and the program could not get pages again. The heap keeps
/// `KERNEL_RESERVE` of free bytes; only pages of the frame allocator's
/// regions qualify (the initial heap is not one: the frame counts stay
/// true), so blocks from elsewhere are given back and another is tried.
fn frame_from_heap() -> Option<u64> {
    let layout = Layout::from_size_align(PAGE_SIZE as usize, PAGE_SIZE as usize).ok()?;
    let mut heap = HEAP.0.lock();
    // Only free heap memory: growing the heap here would turn the frames
    // kept for it into program pages.
    HEAP_NO_GROW.store(true, core::sync::atomic::Ordering::Relaxed);
    let mut skipped: [Option<core::ptr::NonNull<u8>>; HEAP_FRAME_TRIES] = [None; HEAP_FRAME_TRIES];
    let mut found = None;
    for slot in skipped.iter_mut() {
        if (heap.counters().available_bytes as u64) < KERNEL_RESERVE + PAGE_SIZE {
            break;
        }
        // SAFETY: a valid, non-zero-sized layout.
        let Some(block) = (unsafe { heap.allocate(layout) }) else {
            break;
        };
        // Heap memory is direct-mapped (it was claimed through the direct map).
        let frame = block.as_ptr() as u64 - phys_to_virt(0) as u64;
        if is_managed_frame(frame) {
            found = Some(frame);
            break;
        }
        *slot = Some(block);
    }
    for block in skipped.into_iter().flatten() {
        // SAFETY: allocated just above with `layout` and not used.
        unsafe { heap.deallocate(block.as_ptr(), layout) };
    }
    HEAP_NO_GROW.store(false, core::sync::atomic::Ordering::Relaxed);
    drop(heap);
    let frame = found?;
    // The block never goes back to the heap: it is the frame allocator's
    // now, counted as allocated until its owner frees it.
    FRAMES.lock().allocated += 1;
    frame::fill(frame, 0, PAGE_SIZE as usize, 0);
    Some(frame)
}

/// Set while [`frame_from_heap`] holds the heap: [`FrameSource`] then
/// gives nothing.
static HEAP_NO_GROW: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Something that can give frames back when memory runs out (a cache):
/// returns whether it freed anything.
static RECLAIMER: spin::Once<fn() -> bool> = spin::Once::new();

/// Registers the cache [`reclaim`] empties when memory runs out.
pub fn set_reclaimer(reclaimer: fn() -> bool) {
    RECLAIMER.call_once(|| reclaimer);
}

/// Asks the registered cache to give its frames back; true if it freed any.
pub fn reclaim() -> bool {
    RECLAIMER.get().is_some_and(|reclaimer| reclaimer())
}

/// Two contiguous zero-filled frames at an 8 KiB-aligned address (the pvm
/// kernel/user PML4 pair), from never-used memory; None when there is no
/// such room left.
#[cfg_attr(target_arch = "aarch64", allow(dead_code))]
pub fn alloc_zeroed_frame_pair() -> Option<u64> {
    let mut frames = FRAMES.lock();
    let count = frames.region_count;
    let mut skipped = None;
    let mut found = None;
    for region in frames.regions[..count].iter_mut() {
        let start = boards::align_up(region.0, 2 * PAGE_SIZE);
        if start + 2 * PAGE_SIZE <= region.1 {
            if start != region.0 {
                skipped = Some(region.0);
            }
            region.0 = start + 2 * PAGE_SIZE;
            found = Some(start);
            break;
        }
    }
    let pair = found?;
    frames.allocated += 2;
    if let Some(frame) = skipped {
        // The frame before the aligned pair goes on the free list.
        frames.push_free(frame);
    }
    drop(frames);
    counts().allocated(pair);
    counts().allocated(pair + PAGE_SIZE);
    Some(pair)
}

/// Frees a frame that has one owner, the caller (a page table, a
/// frame taken by [`Frame::into_raw`] that was never shared). Freeing a
/// frame with other owners, or a free one, is a sentry bug: it panics.
pub fn free_frame(frame: u64) {
    let owners = counts().owners(frame);
    assert!(owners == 1, "frame {frame:#x} freed with {owners} owners");
    release_frame(frame);
}

/// Frees a frame that held a page table (its only owner's). A host that
/// shadows the guest's page tables (pvm) still write-protects it: every
/// later store to it (the free-list link, then whatever its next owner
/// writes) would trap and be emulated until the host gave up on it after
/// a few, and a former root pair kept as a cached shadow root cost far
/// more. A store narrower than an entry, off an entry's first byte, makes
/// the host drop its shadow at once (KVM's `detect_write_misaligned`):
/// fork+exit+wait of a small process ~1.0 -> ~0.36 ms. Without a shadow
/// MMU it is one byte written into a frame being freed.
pub fn free_table_frame(frame: u64) {
    frame::drop_host_shadow(frame);
    free_frame(frame);
}

/// Puts a frame whose count reached zero back on the free list.
fn put_free_frame(frame: u64) {
    let mut frames = FRAMES.lock();
    frames.push_free(frame);
    frames.allocated -= 1;
}

/// Frames the program's memory can still get (the heap's reserve kept).
pub fn user_frames_available() -> u64 {
    free_frames().saturating_sub(KERNEL_RESERVE / PAGE_SIZE + 1)
}

/// Frames that can still be allocated.
pub fn free_frames() -> u64 {
    let frames = FRAMES.lock();
    frames.free_count + frames.untouched() + frames.block_count * BLOCK_FRAMES
}

/// A zero-filled frame for a page table that an operation which cannot
/// fail needs (splitting a 2 MiB block in munmap): it may take from the
/// reserve kept for the heap. None only when memory is gone entirely.
pub fn alloc_table_frame() -> Option<u64> {
    let (frame, zero) = FRAMES.lock().alloc(true)?;
    if !zero {
        frame::fill(frame, 0, PAGE_SIZE as usize, 0);
    }
    counts().allocated(frame);
    Some(frame)
}

/// A zero-filled, 2 MiB-aligned block of 512 frames for a block mapping,
/// or None (the caller falls back to pages).
pub fn alloc_zeroed_block() -> Option<u64> {
    let (block, zero) = FRAMES.lock().alloc_block()?;
    if !zero {
        for page in (block..block + BLOCK_SIZE).step_by(PAGE_SIZE as usize) {
            frame::fill(page, 0, PAGE_SIZE as usize, 0);
        }
    }
    counts().block_allocated(block);
    Some(block)
}

/// Drops one owner of a block mapped whole (one reference to each of its
/// 512 frames; see [`refcount`]). When every frame reaches zero the block
/// returns to the allocator whole; frames still owned elsewhere (the block
/// was split into pages in another address space) stay, and the others
/// are freed as single frames.
pub fn release_block(block: u64) {
    assert!(
        block.is_multiple_of(BLOCK_SIZE),
        "release of an unaligned block"
    );
    if !counts().release_block(block, put_free_frame) {
        return;
    }
    let mut frames = FRAMES.lock();
    // SAFETY: the block's last owner gave it up; the allocator
    // stores its list link in its first word.
    unsafe { (phys_to_virt(block) as *mut u64).write(frames.block_head) };
    frames.block_head = block;
    frames.block_count += 1;
    frames.allocated -= BLOCK_FRAMES;
}

/// All frames the allocator manages (free or not), for /proc/meminfo.
pub fn total_frames() -> u64 {
    TOTAL_FRAMES.load(core::sync::atomic::Ordering::Relaxed)
}

static TOTAL_FRAMES: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// Adds an owner to `frame`, which the caller holds a reference to (a
/// page-table entry's, a page cache's).
pub fn share_frame(frame: u64) {
    counts().share(frame);
}

/// True when `frame` has more than one owner (a page-cache page mapped
/// into the application: writing it in a private mapping must copy first).
pub fn is_shared_frame(frame: u64) -> bool {
    counts().is_shared(frame)
}

/// Drops one owner of `frame`; the last owner's release frees it.
pub fn release_frame(frame: u64) {
    if counts().release(frame) {
        put_free_frame(frame);
    }
}

/// Adds an owner to the block at `block` (each of its frames).
pub fn share_block(block: u64) {
    counts().share_block(block);
}

/// True when any frame of the block at `block` has another owner (the
/// block, or some of its pages after a split, are mapped elsewhere too).
pub fn is_shared_block(block: u64) -> bool {
    counts().is_block_shared(block)
}

/// One owned reference to a 4 KiB frame: dropping it releases the
/// reference (the last one frees the frame), cloning it adds one. What
/// holds frames in the sentry's data structures (page caches, tmpfs file
/// pages, pipe buffers) holds `Frame`s, so a forgotten release cannot leak
/// and a double release cannot happen. A page-table entry owns one
/// reference as a raw address: [`Frame::into_raw`] hands it to the entry,
/// [`Frame::from_raw`] takes it back where the entry is cleared.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame(u64);

impl Frame {
    /// A new zero-filled frame (its only reference), or None when guest
    /// memory is exhausted (see [`alloc_zeroed_frame`]).
    pub fn alloc_zeroed() -> Option<Frame> {
        alloc_zeroed_frame().map(Frame)
    }

    /// A new frame the caller overwrites whole at once (its only
    /// reference); see [`alloc_frame_to_overwrite`].
    pub fn alloc_to_overwrite() -> Option<Frame> {
        alloc_frame_to_overwrite().map(Frame)
    }

    /// Takes over one reference to `phys` that the caller owns (a cleared
    /// page-table entry's, one from [`Frame::into_raw`]).
    pub fn from_raw(phys: u64) -> Frame {
        Frame(phys)
    }

    /// A new reference to `phys`, which something the caller holds (a
    /// page-table entry, a page cache) already references.
    pub fn share_raw(phys: u64) -> Frame {
        share_frame(phys);
        Frame(phys)
    }

    /// The frame's physical address.
    pub fn phys(&self) -> u64 {
        self.0
    }

    /// Gives up the reference without releasing it (to a page-table
    /// entry, which then owns it); the frame's address.
    pub fn into_raw(self) -> u64 {
        core::mem::ManuallyDrop::new(self).0
    }

    /// Whether the frame has other owners than this reference.
    pub fn is_shared(&self) -> bool {
        is_shared_frame(self.0)
    }
}

impl Clone for Frame {
    /// Another reference to the same frame.
    fn clone(&self) -> Frame {
        Frame::share_raw(self.0)
    }
}

impl Drop for Frame {
    fn drop(&mut self) {
        release_frame(self.0);
    }
}
