//! Memory syscalls: brk, mmap, munmap, mprotect, mremap, msync, madvise,
//! mlock and friends, mincore.

use crate::arch::USER_END;

use super::SyscallContext;
use crate::sentry::errno::*;
use crate::sentry::fd::{OpenFile, O_PATH};
use crate::sentry::mm::{is_page_aligned, page_align_up, FileBacking, Protection};
use crate::sentry::vfs::FileKind;

const MAP_SHARED: u64 = 0x01;
const MAP_PRIVATE: u64 = 0x02;
const MAP_SHARED_VALIDATE: u64 = 0x03;
const MAP_TYPE: u64 = 0x0f;
const MAP_FIXED: u64 = 0x10;
const MAP_ANONYMOUS: u64 = 0x20;
const MAP_FIXED_NOREPLACE: u64 = 0x10_0000;
/// Flags that need no action from us (growsdown is treated as a plain
/// mapping, populate as a hint; locking has no meaning without swap).
const MAP_KNOWN_FLAGS: u64 = MAP_TYPE
    | MAP_FIXED
    | MAP_ANONYMOUS
    | 0x100 // MAP_GROWSDOWN
    | 0x800 // MAP_DENYWRITE
    | 0x1000 // MAP_EXECUTABLE
    | 0x2000 // MAP_LOCKED
    | 0x4000 // MAP_NORESERVE
    | 0x8000 // MAP_POPULATE
    | 0x1_0000 // MAP_NONBLOCK
    | 0x2_0000 // MAP_STACK
    | MAP_FIXED_NOREPLACE;

pub fn sys_brk(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    Ok(ctx.task.mm().set_brk(args[0]))
}

pub fn sys_mmap(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let [addr, len, prot, flags, fd, offset] = args;
    let prot = Protection::from_prot(prot).ok_or(EINVAL)?;
    let map_type = flags & MAP_TYPE;
    if !matches!(map_type, MAP_SHARED | MAP_PRIVATE | MAP_SHARED_VALIDATE) {
        return Err(EINVAL);
    }
    if map_type == MAP_SHARED_VALIDATE && flags & !MAP_KNOWN_FLAGS != 0 {
        return Err(EOPNOTSUPP);
    }
    if len == 0 || !is_page_aligned(offset) {
        return Err(EINVAL);
    }
    let fixed = flags & MAP_FIXED != 0;
    let noreplace = flags & MAP_FIXED_NOREPLACE != 0 && !fixed;
    let shared = map_type != MAP_PRIVATE;
    let file = if flags & MAP_ANONYMOUS != 0 {
        None
    } else {
        let open = ctx.task.fds().get(fd as i32)?.clone();
        Some(file_backing(&open, offset, prot, shared)?)
    };
    ctx.task
        .mm()
        .mmap(addr, len, prot, shared, fixed, noreplace, file)
}

/// What a file mapping maps: the inode of a regular file the descriptor
/// may be mapped with (Linux's EACCES rules), or /dev/zero (anonymous).
fn file_backing(
    open: &OpenFile,
    offset: u64,
    prot: Protection,
    shared: bool,
) -> Result<FileBacking, Errno> {
    if *open.flags.lock() & O_PATH != 0 {
        return Err(EBADF);
    }
    let inode = open.file.inode().ok_or(ENODEV)?;
    match inode.kind() {
        FileKind::Regular => {}
        FileKind::Directory => return Err(ENODEV),
        _ => return Err(ENODEV),
    }
    if !open.readable() {
        return Err(EACCES);
    }
    if shared && prot.write && (!open.writable() || open.append()) {
        return Err(EACCES);
    }
    if shared && prot.write && inode.read_only() {
        return Err(EACCES);
    }
    let mut may_write = !shared || (open.writable() && !open.append() && !inode.read_only());
    // A file sealed against writes maps shared only read-only, for good.
    if shared
        && inode.seals().is_some_and(|s| {
            use crate::sentry::vfs::tmpfs::{F_SEAL_FUTURE_WRITE, F_SEAL_WRITE};
            s.load(core::sync::atomic::Ordering::Relaxed) & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)
                != 0
        })
    {
        if prot.write {
            return Err(EPERM);
        }
        may_write = false;
    }
    let path = open
        .location
        .as_ref()
        .map(|at| alloc::sync::Arc::new(at.path()));
    Ok(FileBacking {
        inode,
        offset,
        may_write,
        path,
    })
}

fn checked_range(addr: u64, len: u64) -> Result<(u64, u64), Errno> {
    if !is_page_aligned(addr) {
        return Err(EINVAL);
    }
    let end = page_align_up(len)
        .and_then(|l| addr.checked_add(l))
        .ok_or(EINVAL)?;
    if end > USER_END {
        return Err(EINVAL);
    }
    Ok((addr, end))
}

pub fn sys_munmap(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    if args[1] == 0 {
        return Err(EINVAL);
    }
    let (start, end) = checked_range(args[0], args[1])?;
    let mut mm = ctx.task.mm();
    // Unmapping the middle of an area splits it in two (Linux: ENOMEM
    // when that passes the limit).
    if mm
        .find(start)
        .is_some_and(|v| v.start < start && v.end > end)
    {
        mm.room_for_vmas(1)?;
    }
    mm.unmap(start, end)?;
    Ok(0)
}

pub fn sys_mprotect(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    // PROT_GROWSDOWN / PROT_GROWSUP are not supported.
    let prot = Protection::from_prot(args[2]).ok_or(EINVAL)?;
    if args[1] == 0 {
        return if is_page_aligned(args[0]) {
            Ok(0)
        } else {
            Err(EINVAL)
        };
    }
    ctx.task.mm().mprotect(args[0], args[1], prot)?;
    Ok(0)
}

pub fn sys_madvise(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    const MADV_DONTNEED: u64 = 4;
    const MADV_FREE: u64 = 8;
    let (addr, len, advice) = (args[0], args[1], args[2]);
    if !is_page_aligned(addr) {
        return Err(EINVAL);
    }
    let end = page_align_up(len)
        .and_then(|l| addr.checked_add(l))
        .ok_or(EINVAL)?;
    match advice {
        // MADV_NORMAL, RANDOM, SEQUENTIAL, WILLNEED; MADV_REMOVE needs
        // shared file memory; DONTFORK .. NOHUGEPAGE, DONTDUMP, DODUMP,
        // WIPEONFORK, KEEPONFORK, COLD, PAGEOUT: hints that change nothing
        // observable here.
        0..=3 | 10..=19 | 20 | 21 => {}
        MADV_DONTNEED | MADV_FREE => {}
        _ => return Err(EINVAL),
    }
    // The range must be mapped.
    let mut cursor = addr;
    while cursor < end {
        cursor = ctx.task.mm().find(cursor).ok_or(ENOMEM)?.end;
    }
    if matches!(advice, MADV_DONTNEED | MADV_FREE) {
        // Private anonymous pages read back as zero after this.
        ctx.task.mm().discard(addr, end)?;
    }
    Ok(0)
}

pub fn sys_mremap(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    const MREMAP_MAYMOVE: u64 = 1;
    const MREMAP_FIXED: u64 = 2;
    const MREMAP_DONTUNMAP: u64 = 4;
    let [old, old_size, new_size, flags, new_addr, _] = args;
    if flags & !(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP) != 0
        || (flags & MREMAP_FIXED != 0 && flags & MREMAP_MAYMOVE == 0)
        || flags & MREMAP_DONTUNMAP != 0
        || !is_page_aligned(old)
    {
        return Err(EINVAL);
    }
    let old_size = page_align_up(old_size).ok_or(EINVAL)?;
    let new_size = page_align_up(new_size).ok_or(EINVAL)?;
    if new_size == 0 || old_size == 0 {
        return Err(EINVAL);
    }
    let fixed = (flags & MREMAP_FIXED != 0).then_some(new_addr);
    ctx.task
        .mm()
        .mremap(old, old_size, new_size, flags & MREMAP_MAYMOVE != 0, fixed)
}

pub fn sys_msync(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    const MS_ASYNC: u64 = 1;
    const MS_INVALIDATE: u64 = 2;
    const MS_SYNC: u64 = 4;
    let (addr, len, flags) = (args[0], args[1], args[2]);
    if flags & !(MS_ASYNC | MS_INVALIDATE | MS_SYNC) != 0
        || flags & (MS_ASYNC | MS_SYNC) == (MS_ASYNC | MS_SYNC)
        || !is_page_aligned(addr)
    {
        return Err(EINVAL);
    }
    let end = page_align_up(len)
        .and_then(|l| addr.checked_add(l))
        .ok_or(ENOMEM)?;
    let mut mm = ctx.task.mm();
    let mut cursor = addr;
    while cursor < end {
        cursor = mm.find(cursor).ok_or(ENOMEM)?.end;
    }
    mm.writeback(addr, end);
    Ok(0)
}

/// [start, end) of an mlock-style range: start rounded down, end up.
fn lock_range(addr: u64, len: u64) -> Result<(u64, u64), Errno> {
    let start = addr & !(crate::arch::PAGE_SIZE - 1);
    let end = addr
        .checked_add(len)
        .and_then(page_align_up)
        .ok_or(ENOMEM)?;
    if end > USER_END {
        return Err(ENOMEM);
    }
    Ok((start, end))
}

/// There is no swap in the sandbox: every page stays in memory once
/// present, so locking means faulting the range in now (as Linux does).
fn lock(ctx: &mut SyscallContext, addr: u64, len: u64, on_fault: bool) -> SysResult {
    let (start, end) = lock_range(addr, len)?;
    let mut mm = ctx.task.mm();
    let mut cursor = start;
    while cursor < end {
        cursor = mm.find(cursor).ok_or(ENOMEM)?.end;
    }
    if !on_fault {
        mm.populate(start, end)?;
    }
    Ok(0)
}

pub fn sys_mlock(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    lock(ctx, args[0], args[1], false)
}

pub fn sys_mlock2(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    const MLOCK_ONFAULT: u64 = 1;
    if args[2] & !MLOCK_ONFAULT != 0 {
        return Err(EINVAL);
    }
    lock(ctx, args[0], args[1], args[2] & MLOCK_ONFAULT != 0)
}

pub fn sys_munlock(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let (start, end) = lock_range(args[0], args[1])?;
    let mut cursor = start;
    while cursor < end {
        cursor = ctx.task.mm().find(cursor).ok_or(ENOMEM)?.end;
    }
    Ok(0)
}

pub fn sys_mlockall(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    const MCL_CURRENT: u64 = 1;
    const MCL_FUTURE: u64 = 2;
    const MCL_ONFAULT: u64 = 4;
    let flags = args[0];
    if flags == 0 || flags & !(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) != 0 || flags == MCL_ONFAULT
    {
        return Err(EINVAL);
    }
    if flags & MCL_CURRENT != 0 && flags & MCL_ONFAULT == 0 {
        let mut mm = ctx.task.mm();
        for vma in mm.vma_list() {
            mm.populate(vma.start, vma.end)?;
        }
    }
    Ok(0)
}

pub fn sys_munlockall(_ctx: &mut SyscallContext, _args: [u64; 6]) -> SysResult {
    Ok(0)
}

/// mincore: one byte per page, 1 when the page is present in the address
/// space (pages of a file not yet mapped in count as absent).
pub fn sys_mincore(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let (addr, len, vec) = (args[0], args[1], args[2]);
    if !is_page_aligned(addr) {
        return Err(EINVAL);
    }
    let end = page_align_up(len)
        .and_then(|l| addr.checked_add(l))
        .filter(|&e| e <= USER_END)
        .ok_or(ENOMEM)?;
    let mut cursor = addr;
    while cursor < end {
        cursor = ctx.task.mm().find(cursor).ok_or(ENOMEM)?.end;
    }
    // A page of result bytes at a time: the range may be huge.
    const CHUNK: u64 = 4096;
    let mut out = [0u8; CHUNK as usize];
    let mut page = addr;
    let mut written = 0u64;
    while page < end {
        let n = ((end - page) / crate::arch::PAGE_SIZE).min(CHUNK);
        {
            let mut mm = ctx.task.mm();
            for (i, byte) in out[..n as usize].iter_mut().enumerate() {
                *byte = mm.is_resident(page + i as u64 * crate::arch::PAGE_SIZE) as u8;
            }
        }
        ctx.task
            .mm()
            .copy_to_user(vec + written, &out[..n as usize])?;
        written += n;
        page += n * crate::arch::PAGE_SIZE;
    }
    Ok(0)
}
