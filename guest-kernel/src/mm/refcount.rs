//! Per-frame reference counts: one `AtomicU32` for every 4 KiB frame the
//! frame allocator manages, in one dense array (set aside at `mm::init`
//! from the memory map), indexed by the frame's position in its region.
//!
//! A count is the number of owners of the frame: 0 while it is free (or
//! lent to the sentry's heap), 1 when allocated, one more for every
//! further owner (a page-table entry, a page cache, a pipe, a `Frame`).
//! Sharing and releasing are one atomic operation on the frame's own
//! counter: no lock, no search, so fork can share thousands of pages
//! cheaply and two address spaces can release the same frames at once.
//!
//! A 2 MiB block (512 frames) is counted frame by frame: one reference to
//! the block is one reference to each of its 512 frames. A block can
//! therefore be split into pages anywhere (munmap or mprotect inside it,
//! mremap, userfaultfd), even in one address space while another still
//! maps it whole, and every page keeps a true count; a block is shared
//! when any of its frames is, and it goes back to the allocator whole
//! when its last reference goes with all 512 frames, or page by page as
//! its frames reach zero otherwise.
//!
//! This module is pure (no kernel dependencies) so that the
//! `sentry-host-tests` crate runs its unit tests on the host.

use core::sync::atomic::{fence, AtomicU32, Ordering};

/// Bytes of a frame.
pub const FRAME_SIZE: u64 = 4096;
/// Frames of a 2 MiB block.
pub const BLOCK_FRAMES: u64 = 512;
/// Most regions of managed memory.
pub const MAX_REGIONS: usize = 16;
/// A count never gets near this (each owner is a page-table entry or an
/// object in a bounded heap); passing it is a bug, not an overflow.
const MAX_OWNERS: u32 = u32::MAX / 2;

/// The reference counts of the frames of up to [`MAX_REGIONS`] regions of
/// managed memory, over a dense array of counters.
pub struct FrameCounts<'a> {
    counts: &'a [AtomicU32],
    /// Per region: its first frame, its end, and the index of its first
    /// frame's counter in `counts`.
    regions: [(u64, u64, usize); MAX_REGIONS],
    region_count: usize,
}

impl<'a> FrameCounts<'a> {
    /// Counters needed for `regions` ([start, end), frame-aligned).
    pub fn slots_needed(regions: &[(u64, u64)]) -> usize {
        regions
            .iter()
            .map(|&(start, end)| ((end - start) / FRAME_SIZE) as usize)
            .sum()
    }

    /// Counts for the frames of `regions` (frame-aligned, disjoint, at
    /// most [`MAX_REGIONS`]), kept in `counts` (all zero: every frame
    /// free), which must hold [`Self::slots_needed`] counters.
    pub fn new(regions: &[(u64, u64)], counts: &'a [AtomicU32]) -> FrameCounts<'a> {
        assert!(regions.len() <= MAX_REGIONS, "too many memory regions");
        assert!(
            counts.len() >= Self::slots_needed(regions),
            "too few frame counters"
        );
        let mut table = [(0, 0, 0); MAX_REGIONS];
        let mut next = 0;
        for (slot, &(start, end)) in table.iter_mut().zip(regions) {
            assert!(
                start.is_multiple_of(FRAME_SIZE) && end.is_multiple_of(FRAME_SIZE) && start <= end,
                "unaligned memory region {start:#x}..{end:#x}"
            );
            *slot = (start, end, next);
            next += ((end - start) / FRAME_SIZE) as usize;
        }
        FrameCounts {
            counts,
            regions: table,
            region_count: regions.len(),
        }
    }

    /// Whether `frame` has a counter here (lies in a managed region).
    pub fn covers(&self, frame: u64) -> bool {
        self.regions[..self.region_count]
            .iter()
            .any(|&(start, end, _)| frame >= start && frame < end)
    }

    /// The counter of `frame`; a frame outside the managed regions is a
    /// sentry bug.
    fn slot(&self, frame: u64) -> &AtomicU32 {
        assert!(
            frame.is_multiple_of(FRAME_SIZE),
            "unaligned frame {frame:#x}"
        );
        for &(start, end, base) in &self.regions[..self.region_count] {
            if frame >= start && frame < end {
                return &self.counts[base + ((frame - start) / FRAME_SIZE) as usize];
            }
        }
        panic!("frame {frame:#x} is not managed memory");
    }

    /// The 512 counters of the 2 MiB block at `block` (aligned), which lies
    /// in one region (blocks are carved out of a region whole).
    fn block_slots(&self, block: u64) -> &[AtomicU32] {
        let size = BLOCK_FRAMES * FRAME_SIZE;
        assert!(block.is_multiple_of(size), "unaligned block {block:#x}");
        for &(start, end, base) in &self.regions[..self.region_count] {
            if block >= start && block < end {
                assert!(block + size <= end, "block {block:#x} crosses a region end");
                let first = base + ((block - start) / FRAME_SIZE) as usize;
                return &self.counts[first..first + BLOCK_FRAMES as usize];
            }
        }
        panic!("block {block:#x} is not managed memory");
    }

    /// The number of owners of `frame` (0: free).
    pub fn owners(&self, frame: u64) -> u32 {
        self.slot(frame).load(Ordering::Acquire)
    }

    /// `frame` was just allocated: its one owner is the allocating code.
    /// Panics when it was not free (allocated twice).
    pub fn allocated(&self, frame: u64) {
        let old = self.slot(frame).swap(1, Ordering::Relaxed);
        assert!(old == 0, "frame {frame:#x} allocated with {old} owners");
    }

    /// Adds an owner to `frame`, which the caller already holds (one
    /// reference at least). Panics on a free frame.
    pub fn share(&self, frame: u64) {
        let old = self.slot(frame).fetch_add(1, Ordering::Relaxed);
        assert!(
            (1..MAX_OWNERS).contains(&old),
            "frame {frame:#x} shared with {old} owners"
        );
    }

    /// Drops one owner of `frame`; true when it was the last one (the
    /// caller then frees the frame). Panics on a free frame (a double
    /// release).
    pub fn release(&self, frame: u64) -> bool {
        // Release, then acquire at zero (as `Arc` does): whatever the other
        // owners wrote happens before the frame is freed and reused.
        let old = self.slot(frame).fetch_sub(1, Ordering::Release);
        assert!(old != 0, "frame {frame:#x} released while free");
        if old == 1 {
            fence(Ordering::Acquire);
            return true;
        }
        false
    }

    /// Whether `frame` has more than one owner.
    pub fn is_shared(&self, frame: u64) -> bool {
        self.owners(frame) > 1
    }

    /// The block at `block` was just allocated: each of its frames has one
    /// owner.
    pub fn block_allocated(&self, block: u64) {
        for slot in self.block_slots(block) {
            let old = slot.swap(1, Ordering::Relaxed);
            assert!(old == 0, "block {block:#x} allocated with {old} owners");
        }
    }

    /// Adds an owner to each frame of the block at `block`.
    pub fn share_block(&self, block: u64) {
        for slot in self.block_slots(block) {
            let old = slot.fetch_add(1, Ordering::Relaxed);
            assert!(
                (1..MAX_OWNERS).contains(&old),
                "block {block:#x} shared with {old} owners"
            );
        }
    }

    /// Whether any frame of the block at `block` has another owner.
    pub fn is_block_shared(&self, block: u64) -> bool {
        self.block_slots(block)
            .iter()
            .any(|slot| slot.load(Ordering::Acquire) > 1)
    }

    /// Drops one owner of each frame of the block at `block`. True when
    /// all 512 reached zero (the caller frees the block whole); otherwise
    /// each frame that reached zero is passed to `free_page` (the block
    /// was split elsewhere and some of its pages are still mapped there).
    pub fn release_block(&self, block: u64, mut free_page: impl FnMut(u64)) -> bool {
        let mut freed = [0u64; (BLOCK_FRAMES / 64) as usize];
        let mut all = true;
        for (i, slot) in self.block_slots(block).iter().enumerate() {
            // As in `release`.
            let old = slot.fetch_sub(1, Ordering::Release);
            assert!(old != 0, "block {block:#x} released while free");
            if old == 1 {
                freed[i / 64] |= 1 << (i % 64);
            } else {
                all = false;
            }
        }
        if freed.iter().any(|&word| word != 0) {
            fence(Ordering::Acquire);
        }
        if all {
            return true;
        }
        for (i, word) in freed.iter().enumerate() {
            for bit in 0..64 {
                if word & (1 << bit) != 0 {
                    free_page(block + (i as u64 * 64 + bit) * FRAME_SIZE);
                }
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    const BLOCK: u64 = BLOCK_FRAMES * FRAME_SIZE;

    fn counters(n: usize) -> Vec<AtomicU32> {
        (0..n).map(|_| AtomicU32::new(0)).collect()
    }

    #[test]
    fn regions_map_to_disjoint_counters() {
        let regions = [(0x1000, 0x5000), (0x10_0000, 0x10_2000)];
        let store = counters(FrameCounts::slots_needed(&regions));
        assert_eq!(store.len(), 6);
        let counts = FrameCounts::new(&regions, &store);
        for frame in [0x1000, 0x4000, 0x10_0000, 0x10_1000] {
            assert!(counts.covers(frame));
            counts.allocated(frame);
        }
        assert!(!counts.covers(0x5000));
        assert!(!counts.covers(0));
        assert_eq!(
            store
                .iter()
                .map(|c| c.load(Ordering::Relaxed))
                .collect::<Vec<_>>(),
            [1, 0, 0, 1, 1, 1]
        );
    }

    #[test]
    fn share_and_release() {
        let regions = [(0x1000, 0x3000)];
        let store = counters(2);
        let counts = FrameCounts::new(&regions, &store);
        counts.allocated(0x2000);
        assert!(!counts.is_shared(0x2000));
        counts.share(0x2000);
        counts.share(0x2000);
        assert_eq!(counts.owners(0x2000), 3);
        assert!(counts.is_shared(0x2000));
        assert!(!counts.release(0x2000));
        assert!(!counts.release(0x2000));
        assert!(!counts.is_shared(0x2000));
        assert!(counts.release(0x2000));
        assert_eq!(counts.owners(0x2000), 0);
        // Free again: it can be allocated anew.
        counts.allocated(0x2000);
        assert_eq!(counts.owners(0x1000), 0);
    }

    #[test]
    #[should_panic(expected = "released while free")]
    fn double_release_panics() {
        let store = counters(1);
        let counts = FrameCounts::new(&[(0x1000, 0x2000)], &store);
        counts.allocated(0x1000);
        counts.release(0x1000);
        counts.release(0x1000);
    }

    #[test]
    #[should_panic(expected = "shared with 0 owners")]
    fn sharing_a_free_frame_panics() {
        let store = counters(1);
        let counts = FrameCounts::new(&[(0x1000, 0x2000)], &store);
        counts.share(0x1000);
    }

    #[test]
    #[should_panic(expected = "allocated with 1 owners")]
    fn double_allocation_panics() {
        let store = counters(1);
        let counts = FrameCounts::new(&[(0x1000, 0x2000)], &store);
        counts.allocated(0x1000);
        counts.allocated(0x1000);
    }

    #[test]
    #[should_panic(expected = "not managed memory")]
    fn unmanaged_frame_panics() {
        let store = counters(1);
        let counts = FrameCounts::new(&[(0x1000, 0x2000)], &store);
        counts.owners(0x2000);
    }

    #[test]
    fn whole_block_shared_and_released() {
        let regions = [(BLOCK, 3 * BLOCK)];
        let store = counters(FrameCounts::slots_needed(&regions));
        let counts = FrameCounts::new(&regions, &store);
        counts.block_allocated(2 * BLOCK);
        assert!(!counts.is_block_shared(2 * BLOCK));
        counts.share_block(2 * BLOCK);
        assert!(counts.is_block_shared(2 * BLOCK));
        assert!(!counts.release_block(2 * BLOCK, |_| panic!("no page is free yet")));
        assert!(!counts.is_block_shared(2 * BLOCK));
        assert!(counts.release_block(2 * BLOCK, |_| panic!("freed whole")));
        assert!(store.iter().all(|c| c.load(Ordering::Relaxed) == 0));
    }

    #[test]
    fn block_split_by_one_owner() {
        // Two owners share a block; one splits it into pages and unmaps
        // all but two of them. The other still sees it shared (through
        // those two), and its release frees the 510 pages nobody maps.
        let regions = [(0, BLOCK)];
        let store = counters(FrameCounts::slots_needed(&regions));
        let counts = FrameCounts::new(&regions, &store);
        counts.block_allocated(0);
        counts.share_block(0);
        let kept = [5 * FRAME_SIZE, 300 * FRAME_SIZE];
        for i in 0..BLOCK_FRAMES {
            let frame = i * FRAME_SIZE;
            if !kept.contains(&frame) {
                assert!(!counts.release(frame));
            }
        }
        assert!(counts.is_block_shared(0));
        let mut freed = Vec::new();
        assert!(!counts.release_block(0, |frame| freed.push(frame)));
        assert_eq!(freed.len(), 510);
        assert!(!freed.iter().any(|f| kept.contains(f)));
        for frame in kept {
            assert_eq!(counts.owners(frame), 1);
            assert!(counts.release(frame));
        }
    }

    #[test]
    fn concurrent_share_and_release() {
        let store = counters(1);
        let counts = FrameCounts::new(&[(0x1000, 0x2000)], &store);
        counts.allocated(0x1000);
        let last = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..10_000 {
                        counts.share(0x1000);
                        if counts.release(0x1000) {
                            last.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        assert_eq!(last.load(Ordering::Relaxed), 0);
        assert!(counts.release(0x1000));
    }
}
