//! Checked access to user memory. The sentry never dereferences a user
//! pointer and never forms a Rust reference into user memory: every access
//! is translated page by page through the address space (allocating
//! demand-paged memory, checking the VMA's protection) and the bytes are
//! copied through `crate::mm::frame` (raw copies, safe against user threads
//! writing the same page on another vCPU). A bad pointer is EFAULT, never a
//! kernel fault.
//!
//! Typed access goes through [`UserPtr`]: the address of a `T` in user
//! memory, read and written whole (`T` is plain bytes: [`Pod`]).

use alloc::vec::Vec;
use core::marker::PhantomData;

use crate::arch::{PAGE_SIZE, USER_END};

use super::{Access, AddressSpace};
use crate::sentry::errno::*;

/// Plain-old-data types that may be copied to and from user memory as
/// bytes: every bit pattern is a valid value and there is no padding that
/// would leak kernel data. zerocopy's derives check both at compile time
/// (`#[derive(FromBytes, IntoBytes, Immutable)]` on a `repr(C)` type).
pub trait Pod: zerocopy::FromBytes + zerocopy::IntoBytes + zerocopy::Immutable + Copy {}

impl<T: zerocopy::FromBytes + zerocopy::IntoBytes + zerocopy::Immutable + Copy> Pod for T {}

/// The bytes of a plain-old-data value.
pub fn bytes_of<T: Pod>(value: &T) -> &[u8] {
    value.as_bytes()
}

/// The address of a `T` in user memory (not dereferenceable by the sentry:
/// read and write it through an [`AddressSpace`]).
pub struct UserPtr<T> {
    addr: u64,
    _type: PhantomData<fn() -> T>,
}

impl<T> Clone for UserPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for UserPtr<T> {}

impl<T> core::fmt::Debug for UserPtr<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "UserPtr({:#x})", self.addr)
    }
}

impl<T: Pod> UserPtr<T> {
    pub const fn new(addr: u64) -> Self {
        UserPtr {
            addr,
            _type: PhantomData,
        }
    }

    /// NULL: the caller passed no value (an optional argument).
    pub const fn is_null(self) -> bool {
        self.addr == 0
    }

    /// Reads the value (EFAULT when the memory is not readable).
    pub fn read(self, mm: &mut AddressSpace) -> Result<T, Errno> {
        mm.read_val(self.addr)
    }

    /// Writes the value (EFAULT when the memory is not writable).
    pub fn write(self, mm: &mut AddressSpace, value: &T) -> Result<(), Errno> {
        mm.write_val(self.addr, value)
    }
}

fn check_range(addr: u64, len: usize) -> Result<(), Errno> {
    let end = addr.checked_add(len as u64).ok_or(EFAULT)?;
    if end > USER_END {
        return Err(EFAULT);
    }
    Ok(())
}

/// One page-sized piece of a user range: `len` bytes at `offset` in
/// `frame` (a frame of the address space, checked and populated).
#[derive(Clone, Copy, Debug)]
pub struct UserChunk {
    pub frame: u64,
    pub offset: usize,
    pub len: usize,
}

impl UserChunk {
    /// Copies the chunk's first `dst.len()` bytes into `dst`.
    pub fn read(&self, dst: &mut [u8]) {
        assert!(dst.len() <= self.len);
        crate::mm::frame::read(self.frame, self.offset, dst)
    }

    /// Copies `src` over the chunk's first `src.len()` bytes.
    pub fn write(&self, src: &[u8]) {
        assert!(src.len() <= self.len);
        crate::mm::frame::write(self.frame, self.offset, src)
    }
}

impl AddressSpace {
    /// Calls `f` on each page-sized piece of user range [addr, addr+len),
    /// after checking and populating the page for `access`.
    pub fn with_user_chunks(
        &mut self,
        addr: u64,
        len: usize,
        access: Access,
        mut f: impl FnMut(UserChunk),
    ) -> Result<(), Errno> {
        check_range(addr, len)?;
        let mut done = 0usize;
        while done < len {
            let cursor = addr + done as u64;
            let offset = (cursor & (PAGE_SIZE - 1)) as usize;
            let n = (PAGE_SIZE as usize - offset).min(len - done);
            let frame = self.translate_for(cursor, access)?;
            f(UserChunk {
                frame,
                offset,
                len: n,
            });
            done += n;
        }
        Ok(())
    }

    /// Checks that [addr, addr+len) is all accessible for `access` (and
    /// populates it), before a call commits to anything.
    pub fn check_user(&mut self, addr: u64, len: usize, access: Access) -> Result<(), Errno> {
        self.with_user_chunks(addr, len, access, |_| {})
    }

    pub fn copy_from_user(&mut self, addr: u64, buf: &mut [u8]) -> Result<(), Errno> {
        let mut done = 0;
        self.with_user_chunks(addr, buf.len(), Access::Read, |chunk| {
            chunk.read(&mut buf[done..done + chunk.len]);
            done += chunk.len;
        })
    }

    /// Copies what it can of user memory at `addr` into `buf`: the bytes
    /// copied, and the error that stopped it short (EFAULT at a bad page).
    pub fn copy_from_user_partial(&mut self, addr: u64, buf: &mut [u8]) -> (usize, Option<Errno>) {
        if let Err(e) = check_range(addr, buf.len()) {
            return (0, Some(e));
        }
        let mut done = 0usize;
        while done < buf.len() {
            let cursor = addr + done as u64;
            let offset = (cursor & (PAGE_SIZE - 1)) as usize;
            let n = (PAGE_SIZE as usize - offset).min(buf.len() - done);
            match self.translate_for(cursor, Access::Read) {
                Ok(frame) => crate::mm::frame::read(frame, offset, &mut buf[done..done + n]),
                Err(e) => return (done, Some(e)),
            }
            done += n;
        }
        (done, None)
    }

    pub fn copy_to_user(&mut self, addr: u64, buf: &[u8]) -> Result<(), Errno> {
        let mut done = 0;
        self.with_user_chunks(addr, buf.len(), Access::Write, |chunk| {
            chunk.write(&buf[done..done + chunk.len]);
            done += chunk.len;
        })
    }

    /// Reads the page at `page` (page-aligned) into `buf` if it is
    /// present, without faulting anything in (a core dump's reads: holes
    /// stay holes). Returns whether it was present.
    pub fn read_resident_page(&mut self, page: u64, buf: &mut [u8]) -> bool {
        match self.page_table.translate(page & !(PAGE_SIZE - 1)) {
            Some(t) => {
                let n = buf.len().min(PAGE_SIZE as usize);
                crate::mm::frame::read(t.phys, 0, &mut buf[..n]);
                true
            }
            None => false,
        }
    }

    /// A tracer's read (ptrace PEEK, FOLL_FORCE): any mapped page,
    /// whatever its protection.
    pub fn read_forced(&mut self, addr: u64, buf: &mut [u8]) -> Result<(), Errno> {
        check_range(addr, buf.len())?;
        let mut done = 0usize;
        while done < buf.len() {
            let cursor = addr + done as u64;
            let offset = (cursor & (PAGE_SIZE - 1)) as usize;
            let n = (PAGE_SIZE as usize - offset).min(buf.len() - done);
            let frame = self.frame_for_kernel(cursor)?;
            crate::mm::frame::read(frame, offset, &mut buf[done..done + n]);
            done += n;
        }
        Ok(())
    }

    /// A tracer's write (ptrace POKE, FOLL_FORCE): a private mapping is
    /// written even when read-only (breakpoints in program text), on a
    /// private copy of the page as Linux makes; a shared mapping only when
    /// writable.
    pub fn write_forced(&mut self, addr: u64, buf: &[u8]) -> Result<(), Errno> {
        check_range(addr, buf.len())?;
        let mut done = 0usize;
        while done < buf.len() {
            let cursor = addr + done as u64;
            let page = cursor & !(PAGE_SIZE - 1);
            let offset = (cursor & (PAGE_SIZE - 1)) as usize;
            let n = (PAGE_SIZE as usize - offset).min(buf.len() - done);
            let vma = self.find(cursor).ok_or(EFAULT)?.clone();
            let frame = if vma.prot.write {
                self.translate_for(cursor, Access::Write)?
            } else if vma.shared {
                return Err(EFAULT);
            } else {
                self.frame_for_kernel(page)?;
                if self.page_table.block_at(page).is_some() {
                    self.break_block_copy_on_write(page, &vma)?;
                } else if self.page_state(page) == Some(true) {
                    self.break_copy_on_write(page, &vma)?;
                }
                self.frame_for_kernel(page)?
            };
            crate::mm::frame::write(frame, offset, &buf[done..done + n]);
            done += n;
        }
        Ok(())
    }

    pub fn read_val<T: Pod>(&mut self, addr: u64) -> Result<T, Errno> {
        let mut value = T::new_zeroed();
        self.copy_from_user(addr, value.as_mut_bytes())?;
        Ok(value)
    }

    pub fn write_val<T: Pod>(&mut self, addr: u64, value: &T) -> Result<(), Errno> {
        self.copy_to_user(addr, value.as_bytes())
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
                let end = crate::mm::frame::find(chunk.frame, chunk.offset, chunk.len, 0);
                let take = end.unwrap_or(chunk.len);
                let start = out.len();
                out.resize(start + take, 0);
                chunk.read(&mut out[start..]);
                found = end.is_some();
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
