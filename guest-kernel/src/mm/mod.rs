//! Kernel memory: the physical frame allocator and the sentry's heap.
//!
//! Frames come from the `Usable` regions of the boot memory map. Never-used
//! frames are handed out by a bump pointer and are known to be zero (the
//! loader gives fresh RAM), so they need no clearing; freed frames go on an
//! intrusive free list (the next pointer lives in the free frame itself) and
//! are cleared when reused.

use crate::arch::PAGE_SIZE;
pub mod pagetable;

use boards::bootinfo::{BootInfo, MemoryKind};
use linked_list_allocator::LockedHeap;
use spin::Mutex;

use crate::arch::paging::phys_to_virt;

#[global_allocator]
static HEAP: LockedHeap = LockedHeap::empty();

const MAX_REGIONS: usize = 16;

struct FrameAllocator {
    /// Untouched usable memory: [start, end) per region, consumed from start.
    regions: [(u64, u64); MAX_REGIONS],
    region_count: usize,
    /// Head of the free list (0 = empty).
    free_head: u64,
    free_count: u64,
    /// Frames currently handed out (for stats and overcommit checks).
    allocated: u64,
}

static FRAMES: Mutex<FrameAllocator> = Mutex::new(FrameAllocator {
    regions: [(0, 0); MAX_REGIONS],
    region_count: 0,
    free_head: 0,
    free_count: 0,
    allocated: 0,
});

impl FrameAllocator {
    fn alloc(&mut self) -> Option<(u64, bool)> {
        if self.free_head != 0 {
            let frame = self.free_head;
            // SAFETY: free frames are owned by the allocator; the first word
            // holds the next pointer written by `free`.
            self.free_head = unsafe { (phys_to_virt(frame) as *const u64).read() };
            self.free_count -= 1;
            self.allocated += 1;
            return Some((frame, false));
        }
        for region in self.regions[..self.region_count].iter_mut() {
            if region.1 - region.0 >= PAGE_SIZE {
                let frame = region.0;
                region.0 += PAGE_SIZE;
                self.allocated += 1;
                return Some((frame, true));
            }
        }
        None
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
    let largest = frames.regions[..count]
        .iter_mut()
        .max_by_key(|(start, end)| end - start)
        .expect("the boot memory map has no usable memory");
    let heap_size = heap_size.min((largest.1 - largest.0) / 2) & !(PAGE_SIZE - 1);
    let heap_start = largest.0;
    largest.0 += heap_size;
    let total: u64 = frames.regions[..frames.region_count]
        .iter()
        .map(|(start, end)| (end - start) / PAGE_SIZE)
        .sum();
    TOTAL_FRAMES.store(total, core::sync::atomic::Ordering::Relaxed);
    drop(frames);
    // SAFETY: [heap_start, +heap_size) was just removed from the allocator,
    // is usable RAM covered by the direct map, and is never handed out again.
    unsafe {
        HEAP.lock()
            .init(phys_to_virt(heap_start), heap_size as usize);
    }
}

/// A zero-filled frame, or None when guest memory is exhausted.
pub fn alloc_zeroed_frame() -> Option<u64> {
    let taken = FRAMES.lock().alloc();
    let (frame, zero) = match taken {
        Some(taken) => taken,
        // Caches that can be dropped give their frames back first.
        None if reclaim() => FRAMES.lock().alloc()?,
        None => return None,
    };
    if !zero {
        // SAFETY: the frame was just taken off the free list, so nobody else
        // refers to it; the direct map covers it.
        unsafe { core::ptr::write_bytes(phys_to_virt(frame), 0, PAGE_SIZE as usize) };
    }
    Some(frame)
}

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
        frames.allocated += 1;
        drop(frames);
        free_frame(frame);
    }
    Some(pair)
}

/// Bytes left on the sentry's heap (task creation keeps a reserve so that
/// running out is EAGAIN for the program, not a failed allocation here).
pub fn heap_free() -> usize {
    HEAP.lock().free()
}

/// Returns a frame to the allocator.
pub fn free_frame(frame: u64) {
    let mut frames = FRAMES.lock();
    // SAFETY: the caller owned the frame and gives it up; the allocator
    // stores its list link in it.
    unsafe { (phys_to_virt(frame) as *mut u64).write(frames.free_head) };
    frames.free_head = frame;
    frames.free_count += 1;
    frames.allocated -= 1;
}

/// Frames that can still be allocated.
pub fn free_frames() -> u64 {
    let frames = FRAMES.lock();
    frames.free_count + frames.untouched()
}

/// All frames the allocator manages (free or not), for /proc/meminfo.
pub fn total_frames() -> u64 {
    TOTAL_FRAMES.load(core::sync::atomic::Ordering::Relaxed)
}

static TOTAL_FRAMES: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// Frames with more than one owner (a tmpfs page also mapped MAP_SHARED
/// into the application): frame -> number of owners. Frames not listed
/// have exactly one owner.
static SHARED: Mutex<alloc::collections::BTreeMap<u64, u32>> =
    Mutex::new(alloc::collections::BTreeMap::new());

/// Adds an owner to `frame`.
pub fn share_frame(frame: u64) {
    *SHARED.lock().entry(frame).or_insert(1) += 1;
}

/// True when `frame` has more than one owner (a page-cache page mapped
/// into the application: writing it in a private mapping must copy first).
pub fn is_shared_frame(frame: u64) -> bool {
    SHARED.lock().contains_key(&frame)
}

/// Drops one owner of `frame`; the last owner's release frees it.
pub fn release_frame(frame: u64) {
    let mut shared = SHARED.lock();
    if let Some(owners) = shared.get_mut(&frame) {
        *owners -= 1;
        if *owners <= 1 {
            shared.remove(&frame);
        }
        return;
    }
    drop(shared);
    free_frame(frame);
}
