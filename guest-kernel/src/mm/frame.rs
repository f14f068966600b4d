//! Access to the bytes of physical frames, through the direct map.
//!
//! This is the one place where the sentry touches page contents by address:
//! user pages, page-cache pages, tmpfs pages and the boot regions. Frames
//! that user mode can map (all but the boot regions) may be written by user
//! code on another vCPU at any moment, so no Rust reference into them is
//! ever formed: bytes move by raw-pointer copies (`copy_nonoverlapping`,
//! `write_bytes`), which is what Linux's copy_{from,to}_user do. The sentry
//! (`crate::sentry`, `#![deny(unsafe_code)]`) reaches memory only through
//! these functions and the checked user-memory API built on them.

use crate::arch::paging::phys_to_virt;
use crate::arch::PAGE_SIZE;

/// Panics unless [offset, offset+len) lies inside one frame: a bad offset
/// is a sentry bug, not a program's error.
fn check(frame: u64, offset: usize, len: usize) {
    assert!(
        frame.is_multiple_of(PAGE_SIZE)
            && offset <= PAGE_SIZE as usize
            && len <= PAGE_SIZE as usize - offset
            && super::is_managed_frame(frame),
        "frame access out of range: {frame:#x}+{offset:#x}/{len:#x}"
    );
}

/// Copies `dst.len()` bytes of `frame` from `offset` into `dst`.
pub fn read(frame: u64, offset: usize, dst: &mut [u8]) {
    check(frame, offset, dst.len());
    // SAFETY: the range lies inside a managed frame (checked), which the
    // direct map covers; `dst` is kernel memory, distinct from any frame a
    // caller holds by address. A raw copy forms no reference to the frame.
    unsafe {
        core::ptr::copy_nonoverlapping(phys_to_virt(frame).add(offset), dst.as_mut_ptr(), dst.len())
    }
}

/// Copies `src` into `frame` at `offset`.
pub fn write(frame: u64, offset: usize, src: &[u8]) {
    check(frame, offset, src.len());
    // SAFETY: as in `read`, the other way round.
    unsafe {
        core::ptr::copy_nonoverlapping(src.as_ptr(), phys_to_virt(frame).add(offset), src.len())
    }
}

/// Sets `len` bytes of `frame` from `offset` to `byte`.
pub fn fill(frame: u64, offset: usize, len: usize, byte: u8) {
    check(frame, offset, len);
    // SAFETY: the range lies inside a managed frame (checked).
    unsafe { core::ptr::write_bytes(phys_to_virt(frame).add(offset), byte, len) }
}

/// One byte stored at offset 1 of `frame`, a frame that held a page table
/// and is being freed (see [`super::free_table_frame`]).
pub fn drop_host_shadow(frame: u64) {
    check(frame, 0, 2);
    // SAFETY: byte 1 of a managed frame (checked), direct-mapped; its owner
    // is giving it up. Volatile: the store is for the host, which sees it
    // trap, not for any reader.
    unsafe { core::ptr::write_volatile(phys_to_virt(frame).add(1), 0u8) };
}

/// Copies the whole of frame `src` over frame `dst`.
pub fn copy_page(dst: u64, src: u64) {
    check(dst, 0, PAGE_SIZE as usize);
    check(src, 0, PAGE_SIZE as usize);
    assert_ne!(dst, src, "copy of a frame onto itself");
    // SAFETY: two distinct managed frames (checked), direct-mapped.
    unsafe {
        core::ptr::copy_nonoverlapping(phys_to_virt(src), phys_to_virt(dst), PAGE_SIZE as usize)
    }
}

/// The position of the first `byte` in [offset, offset+len) of `frame`,
/// relative to `offset` (for NUL-terminated strings in user memory).
pub fn find(frame: u64, offset: usize, len: usize, byte: u8) -> Option<usize> {
    check(frame, offset, len);
    let base = phys_to_virt(frame).wrapping_add(offset);
    // SAFETY: each read lies inside the checked range; a volatile byte read
    // forms no reference and tolerates a concurrent writer.
    (0..len).find(|&i| unsafe { base.add(i).read_volatile() } == byte)
}

/// A boot region the VMM or the boot loader placed in guest RAM (strings,
/// mount table, the application image): read-only for the whole run.
pub fn boot_region(start: u64, size: u64) -> &'static [u8] {
    assert!(
        super::is_boot_region(start, size),
        "boot region outside guest RAM: {start:#x}/{size:#x}"
    );
    // SAFETY: the region lies in guest RAM outside every frame the
    // allocator hands out (checked), so nothing writes it after boot, and
    // the direct map covers it for the whole run.
    unsafe { core::slice::from_raw_parts(phys_to_virt(start), size as usize) }
}
