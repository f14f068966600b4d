//! Checked access to user memory. The sentry never dereferences a user
//! pointer: every access is translated page by page through the address
//! space (allocating demand-paged memory, checking the VMA's protection) and
//! done through the direct map. A bad pointer is EFAULT, never a kernel fault.

use alloc::vec::Vec;

use crate::arch::{PAGE_SIZE, USER_END};

use super::{Access, AddressSpace};
use crate::arch::paging::phys_to_virt;
use crate::sentry::errno::*;

/// Plain-old-data types that may be copied to and from user memory as bytes.
///
/// # Safety
/// Implementors must be `repr(C)` (or primitive), have no padding that would
/// leak kernel data, and be valid for every bit pattern.
pub unsafe trait Pod: Copy {}

// SAFETY: primitive integers are valid for all bit patterns and unpadded.
unsafe impl Pod for u8 {}
unsafe impl Pod for u16 {}
unsafe impl Pod for u32 {}
unsafe impl Pod for u64 {}
unsafe impl Pod for i32 {}
unsafe impl Pod for i64 {}
unsafe impl<T: Pod, const N: usize> Pod for [T; N] {}

/// The bytes of a plain-old-data value.
pub fn bytes_of<T: Pod>(value: &T) -> &[u8] {
    // SAFETY: Pod types are plain bytes without padding.
    unsafe {
        core::slice::from_raw_parts(value as *const T as *const u8, core::mem::size_of::<T>())
    }
}

fn check_range(addr: u64, len: usize) -> Result<(), Errno> {
    let end = addr.checked_add(len as u64).ok_or(EFAULT)?;
    if end > USER_END {
        return Err(EFAULT);
    }
    Ok(())
}

impl AddressSpace {
    /// Calls `f` on each page-sized piece of user range [addr, addr+len)
    /// as a kernel slice, after checking and populating the page.
    pub fn with_user_chunks(
        &mut self,
        addr: u64,
        len: usize,
        access: Access,
        mut f: impl FnMut(&mut [u8]),
    ) -> Result<(), Errno> {
        check_range(addr, len)?;
        let mut done = 0usize;
        while done < len {
            let cursor = addr + done as u64;
            let offset = (cursor & (PAGE_SIZE - 1)) as usize;
            let n = (PAGE_SIZE as usize - offset).min(len - done);
            let frame = self.translate_for(cursor, access)?;
            // SAFETY: `frame` is a user page owned by this address space and
            // covered by the direct map; [offset, offset+n) is inside it. The
            // sentry is single-threaded, so nothing else aliases the slice
            // while `f` runs.
            let chunk =
                unsafe { core::slice::from_raw_parts_mut(phys_to_virt(frame).add(offset), n) };
            f(chunk);
            done += n;
        }
        Ok(())
    }

    pub fn copy_from_user(&mut self, addr: u64, buf: &mut [u8]) -> Result<(), Errno> {
        let mut done = 0;
        self.with_user_chunks(addr, buf.len(), Access::Read, |chunk| {
            buf[done..done + chunk.len()].copy_from_slice(chunk);
            done += chunk.len();
        })
    }

    pub fn copy_to_user(&mut self, addr: u64, buf: &[u8]) -> Result<(), Errno> {
        let mut done = 0;
        self.with_user_chunks(addr, buf.len(), Access::Write, |chunk| {
            let n = chunk.len();
            chunk.copy_from_slice(&buf[done..done + n]);
            done += n;
        })
    }

    pub fn read_val<T: Pod>(&mut self, addr: u64) -> Result<T, Errno> {
        let mut value = core::mem::MaybeUninit::<T>::zeroed();
        // SAFETY: T is Pod: any bytes are a valid T; the slice covers exactly
        // the value's storage.
        let bytes = unsafe {
            core::slice::from_raw_parts_mut(
                value.as_mut_ptr() as *mut u8,
                core::mem::size_of::<T>(),
            )
        };
        self.copy_from_user(addr, bytes)?;
        // SAFETY: fully initialised by the copy (and zeroed before it).
        Ok(unsafe { value.assume_init() })
    }

    pub fn write_val<T: Pod>(&mut self, addr: u64, value: &T) -> Result<(), Errno> {
        // SAFETY: T is Pod (no padding, plain bytes).
        let bytes = unsafe {
            core::slice::from_raw_parts(value as *const T as *const u8, core::mem::size_of::<T>())
        };
        self.copy_to_user(addr, bytes)
    }

    /// Reads a NUL-terminated string of at most `max` bytes (without the
    /// NUL); ENAMETOOLONG when longer.
    pub fn read_cstring(&mut self, addr: u64, max: usize) -> Result<Vec<u8>, Errno> {
        let mut out = Vec::new();
        let mut cursor = addr;
        loop {
            let offset = (cursor & (PAGE_SIZE - 1)) as usize;
            let n = PAGE_SIZE as usize - offset;
            let mut found = false;
            self.with_user_chunks(cursor, n, Access::Read, |chunk| {
                match chunk.iter().position(|&b| b == 0) {
                    Some(end) => {
                        out.extend_from_slice(&chunk[..end]);
                        found = true;
                    }
                    None => out.extend_from_slice(chunk),
                }
            })?;
            if found {
                break;
            }
            if out.len() > max {
                return Err(ENAMETOOLONG);
            }
            cursor += n as u64;
        }
        if out.len() > max {
            return Err(ENAMETOOLONG);
        }
        Ok(out)
    }
}
