//! Memory syscalls: brk, mmap, munmap, mprotect, mremap, msync, madvise,
//! mlock and friends, mincore, mseal, remap_file_pages.

use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::arch::{PAGE_SIZE, USER_END};

use super::SyscallContext;
use crate::sentry::errno::*;
use crate::sentry::fd::{OpenFile, O_PATH};
use crate::sentry::mm::{
    is_page_aligned, page_align_up, AddressSpace, FileBacking, Protection, VmFlags, Vma, VmaKind,
};
use crate::sentry::vfs::FileKind;

const MAP_SHARED: u64 = 0x01;
const MAP_PRIVATE: u64 = 0x02;
const MAP_SHARED_VALIDATE: u64 = 0x03;
const MAP_TYPE: u64 = 0x0f;
const MAP_FIXED: u64 = 0x10;
const MAP_ANONYMOUS: u64 = 0x20;
const MAP_GROWSDOWN: u64 = 0x100;
const MAP_LOCKED: u64 = 0x2000;
const MAP_POPULATE: u64 = 0x8000;
const MAP_NONBLOCK: u64 = 0x1_0000;
const MAP_FIXED_NOREPLACE: u64 = 0x10_0000;
/// Flags MAP_SHARED_VALIDATE accepts (MAP_NORESERVE, MAP_STACK and the
/// legacy DENYWRITE/EXECUTABLE need no action from us).
const MAP_KNOWN_FLAGS: u64 = MAP_TYPE
    | MAP_FIXED
    | MAP_ANONYMOUS
    | MAP_GROWSDOWN
    | 0x800 // MAP_DENYWRITE
    | 0x1000 // MAP_EXECUTABLE
    | MAP_LOCKED
    | 0x4000 // MAP_NORESERVE
    | MAP_POPULATE
    | MAP_NONBLOCK
    | 0x2_0000 // MAP_STACK
    | MAP_FIXED_NOREPLACE;

const CAP_IPC_LOCK: u32 = 14;
const RLIMIT_MEMLOCK: usize = 8;

pub fn sys_brk(ctx: &mut SyscallContext, addr: u64) -> SysResult {
    Ok(ctx.task.mm().set_brk(addr))
}

/// Linux's can_do_mlock: a memory-lock limit above zero, or CAP_IPC_LOCK.
fn can_lock(ctx: &SyscallContext) -> bool {
    ctx.task.rlimits[RLIMIT_MEMLOCK].cur != 0 || ctx.task.creds.has_cap(CAP_IPC_LOCK)
}

/// Whether `locked` bytes may be locked in all (RLIMIT_MEMLOCK, counted
/// in pages; CAP_IPC_LOCK has no limit).
fn within_lock_limit(ctx: &SyscallContext, locked: u64) -> bool {
    ctx.task.creds.has_cap(CAP_IPC_LOCK)
        || locked / PAGE_SIZE <= ctx.task.rlimits[RLIMIT_MEMLOCK].cur / PAGE_SIZE
}

pub fn sys_mmap(
    ctx: &mut SyscallContext,
    addr: u64,
    len: u64,
    prot: u64,
    flags: u64,
    fd: i32,
    offset: u64,
) -> SysResult {
    // Linux's order: the offset, then the file (EBADF), then the length.
    if !is_page_aligned(offset) {
        return Err(EINVAL);
    }
    let open = if flags & MAP_ANONYMOUS == 0 {
        Some(ctx.task.fds().get(fd)?.clone())
    } else {
        None
    };
    if len == 0 {
        return Err(EINVAL);
    }
    let prot = Protection::from_prot(prot).ok_or(EINVAL)?;
    let map_type = flags & MAP_TYPE;
    if !matches!(map_type, MAP_SHARED | MAP_PRIVATE | MAP_SHARED_VALIDATE) {
        return Err(EINVAL);
    }
    if map_type == MAP_SHARED_VALIDATE && flags & !MAP_KNOWN_FLAGS != 0 {
        return Err(EOPNOTSUPP);
    }
    let fixed = flags & MAP_FIXED != 0;
    let noreplace = flags & MAP_FIXED_NOREPLACE != 0 && !fixed;
    let shared = map_type != MAP_PRIVATE;
    let mut vm_flags = VmFlags::NONE;
    if flags & MAP_GROWSDOWN != 0 {
        // Stacks are private anonymous memory.
        if open.is_some() || shared {
            return Err(EINVAL);
        }
        vm_flags = vm_flags.union(VmFlags::GROWSDOWN);
    }
    if flags & MAP_LOCKED != 0 {
        if !can_lock(ctx) {
            return Err(EPERM);
        }
        vm_flags = vm_flags.union(VmFlags::LOCKED);
    }
    let file = match open {
        Some(open) => file_backing(&open, offset, len, prot, shared)?,
        None => None,
    };
    let populate = flags & (MAP_POPULATE | MAP_NONBLOCK) == MAP_POPULATE;
    let mut mm = ctx.task.mm();
    let locking = vm_flags.union(mm.def_flags).contains(VmFlags::LOCKED);
    if locking
        && !within_lock_limit(
            ctx,
            mm.locked_bytes()
                .saturating_add(page_align_up(len).unwrap_or(u64::MAX)),
        )
    {
        return Err(EAGAIN);
    }
    mm.mmap(
        addr, len, prot, shared, fixed, noreplace, file, vm_flags, populate,
    )
}

/// What a file mapping maps: the inode of a regular file the descriptor
/// may be mapped with (Linux's EACCES rules). /dev/zero maps anonymous
/// memory: None for a private mapping, a fresh tmpfs file for a shared one
/// (Linux's shmem_zero_setup).
fn file_backing(
    open: &OpenFile,
    offset: u64,
    len: u64,
    prot: Protection,
    shared: bool,
) -> Result<Option<FileBacking>, Errno> {
    if *open.flags.lock() & O_PATH != 0 {
        return Err(EBADF);
    }
    let inode = open.file.inode().ok_or(ENODEV)?;
    let stat = inode.stat();
    let dev_zero =
        inode.kind() == FileKind::CharDevice && stat.rdev == crate::sentry::stat::makedev(1, 5);
    if !dev_zero && inode.kind() != FileKind::Regular {
        return Err(ENODEV);
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
    if dev_zero {
        if !shared {
            return Ok(None);
        }
        let size = page_align_up(len).ok_or(ENOMEM)?;
        let node = crate::sentry::vfs::tmpfs::new_unlinked_file(0o600);
        crate::sentry::vfs::Inode::truncate(&*node, size)?;
        return Ok(Some(FileBacking {
            inode: node,
            offset: 0,
            may_write,
            path: Some(Arc::new(b"/dev/zero (deleted)".to_vec())),
        }));
    }
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
    let path = open.location.as_ref().map(|at| Arc::new(at.path()));
    Ok(Some(FileBacking {
        inode,
        offset,
        may_write,
        path,
    }))
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

pub fn sys_munmap(ctx: &mut SyscallContext, addr: u64, len: u64) -> SysResult {
    if len == 0 {
        return Err(EINVAL);
    }
    let (start, end) = checked_range(addr, len)?;
    ctx.task.mm().unmap(start, end)?;
    Ok(0)
}

pub fn sys_mprotect(ctx: &mut SyscallContext, addr: u64, len: u64, prot: u64) -> SysResult {
    // PROT_GROWSDOWN / PROT_GROWSUP are not supported.
    let prot = Protection::from_prot(prot).ok_or(EINVAL)?;
    if len == 0 {
        return if is_page_aligned(addr) {
            Ok(0)
        } else {
            Err(EINVAL)
        };
    }
    ctx.task.mm().mprotect(addr, len, prot)?;
    Ok(0)
}

const MADV_NORMAL: u64 = 0;
const MADV_RANDOM: u64 = 1;
const MADV_SEQUENTIAL: u64 = 2;
const MADV_WILLNEED: u64 = 3;
const MADV_DONTNEED: u64 = 4;
const MADV_FREE: u64 = 8;
const MADV_REMOVE: u64 = 9;
const MADV_DONTFORK: u64 = 10;
const MADV_DOFORK: u64 = 11;
const MADV_HUGEPAGE: u64 = 14;
const MADV_NOHUGEPAGE: u64 = 15;
const MADV_DONTDUMP: u64 = 16;
const MADV_DODUMP: u64 = 17;
const MADV_WIPEONFORK: u64 = 18;
const MADV_KEEPONFORK: u64 = 19;
const MADV_COLD: u64 = 20;
const MADV_PAGEOUT: u64 = 21;
const MADV_POPULATE_READ: u64 = 22;
const MADV_POPULATE_WRITE: u64 = 23;
const MADV_DONTNEED_LOCKED: u64 = 24;

/// The advice this kernel knows (Linux's madvise_behavior_valid for a
/// kernel with swap and transparent huge pages, without KSM, memory
/// failure handling or guard regions).
fn advice_known(advice: u64) -> bool {
    matches!(
        advice,
        MADV_NORMAL
            | MADV_RANDOM
            | MADV_SEQUENTIAL
            | MADV_WILLNEED
            | MADV_DONTNEED
            | MADV_FREE
            | MADV_REMOVE
            | MADV_DONTFORK
            | MADV_DOFORK
            | MADV_HUGEPAGE
            | MADV_NOHUGEPAGE
            | MADV_DONTDUMP
            | MADV_DODUMP
            | MADV_WIPEONFORK
            | MADV_KEEPONFORK
            | MADV_COLD
            | MADV_PAGEOUT
            | MADV_POPULATE_READ
            | MADV_POPULATE_WRITE
            | MADV_DONTNEED_LOCKED
    )
}

/// Areas Linux treats as special (VM_PFNMAP / VM_DONTEXPAND): the vDSO and
/// its data page. They are never locked, dumped or discarded.
fn special(vma: &Vma) -> bool {
    matches!(vma.kind, VmaKind::Vdso | VmaKind::Vvar)
}

/// Why `advice` cannot apply to `vma` (Linux's per-area rules), if so.
fn advice_refused(vma: &Vma, advice: u64) -> Option<Errno> {
    let locked = vma.flags.contains(VmFlags::LOCKED);
    let private_anon = vma.file.is_none() && !vma.shared;
    // A sealed area refuses advice that discards data, unless it is file
    // memory (shared anonymous memory counts) or writable anyway.
    let discards = matches!(
        advice,
        MADV_FREE
            | MADV_DONTNEED
            | MADV_DONTNEED_LOCKED
            | MADV_REMOVE
            | MADV_DONTFORK
            | MADV_WIPEONFORK
    );
    if discards && vma.flags.contains(VmFlags::SEALED) && private_anon && !vma.prot.write {
        return Some(EPERM);
    }
    match advice {
        MADV_DONTNEED | MADV_FREE | MADV_COLD | MADV_PAGEOUT
            if locked || vma.kind == VmaKind::Vvar =>
        {
            Some(EINVAL)
        }
        MADV_DONTNEED_LOCKED if vma.kind == VmaKind::Vvar => Some(EINVAL),
        MADV_FREE if !private_anon => Some(EINVAL),
        MADV_REMOVE => {
            if locked || vma.file.is_none() {
                Some(EINVAL)
            } else if !vma.shared || !vma.file.as_ref().is_some_and(|f| f.may_write) {
                Some(EACCES)
            } else {
                None
            }
        }
        MADV_WIPEONFORK if !private_anon => Some(EINVAL),
        MADV_DODUMP if special(vma) => Some(EINVAL),
        _ => None,
    }
}

pub fn sys_madvise(ctx: &mut SyscallContext, addr: u64, len: u64, advice: u64) -> SysResult {
    if !advice_known(advice) || !is_page_aligned(addr) {
        return Err(EINVAL);
    }
    let end = page_align_up(len)
        .and_then(|l| addr.checked_add(l))
        .ok_or(EINVAL)?;
    if end == addr {
        return Ok(0);
    }
    let mut mm = ctx.task.mm();
    if matches!(advice, MADV_POPULATE_READ | MADV_POPULATE_WRITE) {
        return populate_for_advice(&mut mm, addr, end, advice == MADV_POPULATE_WRITE);
    }
    // Holes: the mapped parts take the advice, the call says ENOMEM.
    let holes = end > USER_END || !mm.covers(addr, end);
    let end = end.min(USER_END);
    if let Some(e) = mm
        .areas_in(addr, end)
        .find_map(|v| advice_refused(v, advice))
    {
        return Err(e);
    }
    let set = |flag: VmFlags, on: bool| {
        move |v: &Vma| {
            if on {
                v.flags.union(flag)
            } else {
                v.flags.without(flag)
            }
        }
    };
    match advice {
        MADV_DONTNEED | MADV_DONTNEED_LOCKED | MADV_FREE => mm.discard(addr, end)?,
        MADV_REMOVE => {
            // Frees the file's pages: the range reads as zeros, here and in
            // every other mapping of the file (every area has a file: see
            // advice_refused).
            let parts: Vec<(u64, u64, Arc<dyn crate::sentry::vfs::Inode>, u64)> = mm
                .areas_in(addr, end)
                .filter_map(|v| {
                    let backing = v.file.as_ref()?;
                    let start = v.start.max(addr);
                    Some((
                        start,
                        v.end.min(end),
                        backing.inode.clone(),
                        backing.offset + (start - v.start),
                    ))
                })
                .collect();
            for (start, stop, inode, offset) in parts {
                mm.discard(start, stop)?;
                inode.punch_hole(offset, stop - start)?;
            }
        }
        MADV_DONTFORK => mm.update_flags(addr, end, set(VmFlags::DONTFORK, true))?,
        MADV_DOFORK => mm.update_flags(addr, end, set(VmFlags::DONTFORK, false))?,
        MADV_WIPEONFORK => mm.update_flags(addr, end, set(VmFlags::WIPEONFORK, true))?,
        MADV_KEEPONFORK => mm.update_flags(addr, end, set(VmFlags::WIPEONFORK, false))?,
        MADV_DONTDUMP => mm.update_flags(addr, end, set(VmFlags::DONTDUMP, true))?,
        MADV_DODUMP => mm.update_flags(addr, end, set(VmFlags::DONTDUMP, false))?,
        // NORMAL, RANDOM, SEQUENTIAL, WILLNEED, HUGEPAGE, NOHUGEPAGE,
        // COLD, PAGEOUT: hints about paging that change nothing observable
        // here (every page stays in memory).
        _ => {}
    }
    if holes {
        return Err(ENOMEM);
    }
    Ok(0)
}

/// MADV_POPULATE_READ/WRITE: faults the range in as a read or a write
/// would; ENOMEM for a hole, EINVAL for an area without that access (Linux
/// looks at PROT_READ itself), EFAULT past the end of a shared file.
fn populate_for_advice(mm: &mut AddressSpace, start: u64, end: u64, write: bool) -> SysResult {
    use crate::sentry::mm::Access;
    let mut page = start;
    while page < end {
        let vma = mm.find(page).ok_or(ENOMEM)?;
        let allowed = if write { vma.prot.write } else { vma.prot.read };
        if vma.kind == VmaKind::Vvar || !allowed {
            return Err(EINVAL);
        }
        let stop = vma.end.min(end);
        let access = if write { Access::Write } else { Access::Read };
        while page < stop {
            mm.translate_for(page, access)
                .map_err(|e| if e == ENOMEM { ENOMEM } else { EFAULT })?;
            page += PAGE_SIZE;
        }
    }
    Ok(0)
}

pub fn sys_mremap(
    ctx: &mut SyscallContext,
    old: u64,
    old_size: u64,
    new_size: u64,
    flags: u64,
    new_addr: u64,
) -> SysResult {
    const MREMAP_MAYMOVE: u64 = 1;
    const MREMAP_FIXED: u64 = 2;
    const MREMAP_DONTUNMAP: u64 = 4;
    let dont_unmap = flags & MREMAP_DONTUNMAP != 0;
    // Linux's order: MREMAP_DONTUNMAP is always a move, never a resize
    // (the lengths compared as given, before rounding).
    if flags & !(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP) != 0
        || (flags & MREMAP_FIXED != 0 && flags & MREMAP_MAYMOVE == 0)
        || (dont_unmap && (flags & MREMAP_MAYMOVE == 0 || old_size != new_size))
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
    ctx.task.mm().mremap(
        old,
        old_size,
        new_size,
        flags & MREMAP_MAYMOVE != 0,
        fixed,
        dont_unmap,
        new_addr,
    )
}

pub fn sys_msync(ctx: &mut SyscallContext, addr: u64, len: u64, flags: u64) -> SysResult {
    const MS_ASYNC: u64 = 1;
    const MS_INVALIDATE: u64 = 2;
    const MS_SYNC: u64 = 4;
    if flags & !(MS_ASYNC | MS_INVALIDATE | MS_SYNC) != 0
        || flags & (MS_ASYNC | MS_SYNC) == (MS_ASYNC | MS_SYNC)
        || !is_page_aligned(addr)
    {
        return Err(EINVAL);
    }
    let end = page_align_up(len)
        .and_then(|l| addr.checked_add(l))
        .ok_or(ENOMEM)?;
    if end == addr {
        return Ok(0);
    }
    // Linux's walk: a hole is ENOMEM at once for MS_SYNC alone, else after
    // the mapped parts; locked pages cannot be invalidated (EBUSY).
    let mut mm = ctx.task.mm();
    let mut holes = false;
    let mut cursor = addr;
    while cursor < end {
        let vma = mm.find_from(cursor).ok_or(ENOMEM)?;
        if cursor < vma.start {
            if flags == MS_SYNC || vma.start >= end {
                return Err(ENOMEM);
            }
            holes = true;
        }
        if flags & MS_INVALIDATE != 0 && vma.flags.contains(VmFlags::LOCKED) {
            return Err(EBUSY);
        }
        cursor = vma.end;
    }
    mm.writeback(addr, end);
    if holes {
        return Err(ENOMEM);
    }
    Ok(0)
}

/// [start, end) of an mlock-style range: start rounded down, end up.
fn lock_range(addr: u64, len: u64) -> Result<(u64, u64), Errno> {
    let start = addr & !(PAGE_SIZE - 1);
    let end = addr
        .checked_add(len)
        .and_then(page_align_up)
        .ok_or(ENOMEM)?;
    if end > USER_END {
        return Err(ENOMEM);
    }
    Ok((start, end))
}

/// The lock flags an area takes from mlock/mlockall (`lock`: LOCKED, maybe
/// LOCKONFAULT; NONE unlocks); special areas are never locked.
fn relock(vma: &Vma, lock: VmFlags) -> VmFlags {
    if special(vma) {
        return vma.flags;
    }
    vma.flags.without(VmFlags::LOCK_MASK).union(lock)
}

/// There is no swap in the sandbox: every page stays in memory once
/// present, so locking marks the areas (VmLck, smaps) and faults the range
/// in now (as Linux does), or as it is touched (MLOCK_ONFAULT).
fn lock(ctx: &mut SyscallContext, addr: u64, len: u64, on_fault: bool) -> SysResult {
    if !can_lock(ctx) {
        return Err(EPERM);
    }
    let (start, end) = lock_range(addr, len)?;
    if start == end {
        return Ok(0);
    }
    let mut mm = ctx.task.mm();
    if mm.find(start).is_none() {
        return Err(ENOMEM);
    }
    let already: u64 = mm
        .areas_in(start, end)
        .filter(|v| v.flags.contains(VmFlags::LOCKED))
        .map(|v| v.end.min(end) - v.start.max(start))
        .sum();
    if !within_lock_limit(ctx, mm.locked_bytes() + (end - start) - already) {
        return Err(ENOMEM);
    }
    let flags = if on_fault {
        VmFlags::LOCK_MASK
    } else {
        VmFlags::LOCKED
    };
    // As Linux: the areas before a hole are locked, then ENOMEM.
    let mapped = mm.mapped_until(start, end);
    mm.update_flags(start, mapped, |v| relock(v, flags))?;
    if mapped < end {
        return Err(ENOMEM);
    }
    if !on_fault {
        mm.populate(start, end)?;
    }
    Ok(0)
}

pub fn sys_mlock(ctx: &mut SyscallContext, addr: u64, len: u64) -> SysResult {
    lock(ctx, addr, len, false)
}

pub fn sys_mlock2(ctx: &mut SyscallContext, addr: u64, len: u64, flags: u64) -> SysResult {
    const MLOCK_ONFAULT: u64 = 1;
    if flags & !MLOCK_ONFAULT != 0 {
        return Err(EINVAL);
    }
    lock(ctx, addr, len, flags & MLOCK_ONFAULT != 0)
}

pub fn sys_munlock(ctx: &mut SyscallContext, addr: u64, len: u64) -> SysResult {
    let (start, end) = lock_range(addr, len)?;
    let mut mm = ctx.task.mm();
    // As Linux: the areas before a hole are unlocked, then ENOMEM.
    let mapped = mm.mapped_until(start, end);
    if mapped == start && start < end {
        return Err(ENOMEM);
    }
    mm.update_flags(start, mapped, |v| relock(v, VmFlags::NONE))?;
    if mapped < end {
        return Err(ENOMEM);
    }
    Ok(0)
}

pub fn sys_mlockall(ctx: &mut SyscallContext, flags: u64) -> SysResult {
    const MCL_CURRENT: u64 = 1;
    const MCL_FUTURE: u64 = 2;
    const MCL_ONFAULT: u64 = 4;
    if flags == 0 || flags & !(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) != 0 || flags == MCL_ONFAULT
    {
        return Err(EINVAL);
    }
    if !can_lock(ctx) {
        return Err(EPERM);
    }
    let lock = if flags & MCL_ONFAULT != 0 {
        VmFlags::LOCK_MASK
    } else {
        VmFlags::LOCKED
    };
    let mut mm = ctx.task.mm();
    if flags & MCL_CURRENT != 0 {
        let total: u64 = mm.areas_in(0, USER_END).map(|v| v.end - v.start).sum();
        if !within_lock_limit(ctx, total) {
            return Err(ENOMEM);
        }
    }
    mm.def_flags = if flags & MCL_FUTURE != 0 {
        lock
    } else {
        VmFlags::NONE
    };
    if flags & MCL_CURRENT != 0 {
        mm.update_flags(0, USER_END, |v| relock(v, lock))?;
        if flags & MCL_ONFAULT == 0 {
            // As Linux: what cannot be faulted in stays as it is.
            let areas: Vec<(u64, u64)> = mm
                .areas_in(0, USER_END)
                .filter(|v| !special(v))
                .map(|v| (v.start, v.end))
                .collect();
            for (start, end) in areas {
                let _ = mm.populate(start, end);
            }
        }
    }
    Ok(0)
}

pub fn sys_munlockall(ctx: &mut SyscallContext) -> SysResult {
    let mut mm = ctx.task.mm();
    mm.def_flags = VmFlags::NONE;
    mm.update_flags(0, USER_END, |v| relock(v, VmFlags::NONE))?;
    Ok(0)
}

/// mseal: from now on the areas of [start, start+len) can no longer be
/// unmapped, moved, resized, reprotected or (read-only anonymous memory)
/// discarded: those calls fail with EPERM. For the life of the address
/// space (a child inherits the seals; exec drops them).
pub fn sys_mseal(ctx: &mut SyscallContext, start: u64, len: u64, flags: u64) -> SysResult {
    if flags != 0 || !is_page_aligned(start) {
        return Err(EINVAL);
    }
    let end = page_align_up(len)
        .and_then(|l| start.checked_add(l))
        .ok_or(EINVAL)?;
    if end == start {
        return Ok(0);
    }
    let mut mm = ctx.task.mm();
    if end > USER_END || !mm.covers(start, end) {
        return Err(ENOMEM);
    }
    mm.update_flags(start, end, |v| v.flags.union(VmFlags::SEALED))?;
    Ok(0)
}

/// remap_file_pages: as Linux since 4.0, an mmap(MAP_SHARED | MAP_FIXED |
/// MAP_POPULATE) of the same file at the new offset over the range, which
/// must lie in shared writable mappings of one file with the same flags.
pub fn sys_remap_file_pages(
    ctx: &mut SyscallContext,
    start: u64,
    size: u64,
    prot: u64,
    pgoff: u64,
    flags: u64,
) -> SysResult {
    if prot != 0 {
        return Err(EINVAL);
    }
    let start = start & !(PAGE_SIZE - 1);
    let size = size & !(PAGE_SIZE - 1);
    let end = start
        .checked_add(size)
        .filter(|&e| e > start)
        .ok_or(EINVAL)?;
    let offset = pgoff
        .checked_add(size / PAGE_SIZE)
        .and_then(|_| pgoff.checked_mul(PAGE_SIZE))
        .ok_or(EINVAL)?;
    let vma = ctx.task.mm().find(start).cloned().ok_or(EINVAL)?;
    // Linux's VM_SHARED: a shared mapping of a file open for writing.
    let backing = match &vma.file {
        Some(f) if vma.shared && f.may_write => f.clone(),
        _ => return Err(EINVAL),
    };
    // A SysV segment removed since it was attached cannot be mapped anew.
    if crate::sentry::ipc::shm_removed(&ctx.task.ipc_ns, &backing.inode) {
        return Err(EINVAL);
    }
    let mut mm = ctx.task.mm();
    let mut cursor = vma.end;
    for next in mm.areas_in(vma.end, end) {
        let same_file = next
            .file
            .as_ref()
            .is_some_and(|f| Arc::ptr_eq(&f.inode, &backing.inode));
        if next.start != cursor
            || !same_file
            || next.prot != vma.prot
            || !next.shared
            || next.flags != vma.flags
        {
            return Err(EINVAL);
        }
        cursor = next.end;
    }
    if cursor < end {
        return Err(EINVAL);
    }
    let lock = if vma.flags.contains(VmFlags::LOCKED) {
        VmFlags::LOCKED
    } else {
        VmFlags::NONE
    };
    mm.mmap(
        start,
        size,
        vma.prot,
        true,
        true,
        false,
        Some(FileBacking { offset, ..backing }),
        lock,
        flags & MAP_NONBLOCK == 0,
    )?;
    Ok(0)
}

/// mincore: one byte per page, 1 when the page is in memory: present in
/// the address space, or for a file mapping in the file's pages.
pub fn sys_mincore(ctx: &mut SyscallContext, addr: u64, len: u64, vec: u64) -> SysResult {
    if !is_page_aligned(addr) {
        return Err(EINVAL);
    }
    let end = page_align_up(len)
        .and_then(|l| addr.checked_add(l))
        .filter(|&e| e <= USER_END)
        .ok_or(ENOMEM)?;
    if !ctx.task.mm().covers(addr, end) {
        return Err(ENOMEM);
    }
    // A page of result bytes at a time: the range may be huge.
    const CHUNK: u64 = 4096;
    let mut out = [0u8; CHUNK as usize];
    let mut page = addr;
    let mut written = 0u64;
    while page < end {
        let n = ((end - page) / PAGE_SIZE).min(CHUNK);
        {
            let mut mm = ctx.task.mm();
            for (i, byte) in out[..n as usize].iter_mut().enumerate() {
                *byte = mm.is_resident(page + i as u64 * PAGE_SIZE) as u8;
            }
        }
        ctx.task
            .mm()
            .copy_to_user(vec + written, &out[..n as usize])?;
        written += n;
        page += n * PAGE_SIZE;
    }
    Ok(0)
}
