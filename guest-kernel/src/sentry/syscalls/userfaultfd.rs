//! userfaultfd(2), /dev/userfaultfd's USERFAULTFD_IOC_NEW and the
//! UFFDIO_* ioctls of a userfaultfd (the context, its registrations and
//! fault queue are `sentry::mm::uffd`). The ioctls act on the address
//! space the descriptor was made in (Linux's ctx->mm), reading UFFDIO_COPY's
//! source from the caller's.

use alloc::sync::Arc;

use spin::{Mutex, MutexGuard};

use super::SyscallContext;
use crate::arch::{PAGE_SIZE, USER_END};
use crate::sentry::errno::*;
use crate::sentry::fd::{OpenFile, O_CLOEXEC, O_NONBLOCK, O_RDWR};
use crate::sentry::mm::uffd::{self, Userfaultfd, UserfaultfdFile};
use crate::sentry::mm::{AddressSpace, MMAP_MIN_ADDR};
use crate::sentry::sched;

/// UFFD_USER_MODE_ONLY: only faults from user mode are handled (the
/// sentry's own accesses fail with EFAULT either way).
const UFFD_USER_MODE_ONLY: u32 = 1;
/// CAP_SYS_PTRACE: a userfaultfd that also handles kernel faults.
const CAP_SYS_PTRACE: u64 = 1 << 19;
/// vm.unprivileged_userfaultfd: Linux's default, 0.
const UNPRIVILEGED_USERFAULTFD: bool = false;

/// _IO(0xAA, 0x00) on /dev/userfaultfd.
pub const USERFAULTFD_IOC_NEW: u64 = 0xaa00;

const UFFDIO_API: u64 = 0xc018_aa3f;
const UFFDIO_REGISTER: u64 = 0xc020_aa00;
const UFFDIO_UNREGISTER: u64 = 0x8010_aa01;
const UFFDIO_WAKE: u64 = 0x8010_aa02;
const UFFDIO_COPY: u64 = 0xc028_aa03;
const UFFDIO_ZEROPAGE: u64 = 0xc020_aa04;
const UFFDIO_WRITEPROTECT: u64 = 0xc018_aa06;
const UFFDIO_CONTINUE: u64 = 0xc020_aa07;

/// The ioctls UFFDIO_API reports: REGISTER, UNREGISTER, API.
const API_IOCTLS: u64 = (1 << 0) | (1 << 1) | (1 << 0x3f);

/// UFFDIO_COPY_MODE_DONTWAKE, UFFDIO_ZEROPAGE_MODE_DONTWAKE,
/// UFFDIO_CONTINUE_MODE_DONTWAKE.
const MODE_DONTWAKE: u64 = 1;
/// UFFDIO_COPY_MODE_WP.
const COPY_MODE_WP: u64 = 2;
/// UFFDIO_WRITEPROTECT_MODE_WP and _DONTWAKE.
const WRITEPROTECT_MODE_WP: u64 = 1;
const WRITEPROTECT_MODE_DONTWAKE: u64 = 2;

pub fn sys_userfaultfd(ctx: &mut SyscallContext, flags: u32) -> SysResult {
    // Linux's order: the permission (userfaultfd_syscall_allowed), then
    // the flags.
    let privileged = ctx.task.creds.caps().effective & CAP_SYS_PTRACE != 0;
    if flags & UFFD_USER_MODE_ONLY == 0 && !privileged && !UNPRIVILEGED_USERFAULTFD {
        return Err(EPERM);
    }
    new_userfaultfd(ctx, flags)
}

/// A new userfaultfd for the caller's address space (Linux's
/// new_userfaultfd).
pub fn new_userfaultfd(ctx: &mut SyscallContext, flags: u32) -> SysResult {
    if flags & !(O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY) != 0 {
        return Err(EINVAL);
    }
    let file = UserfaultfdFile::new(&ctx.task.memory);
    let open = OpenFile::labeled(
        file,
        O_RDWR | (flags & O_NONBLOCK),
        b"anon_inode:[userfaultfd]".to_vec(),
    );
    let fd = ctx.task.fds().insert(open, flags & O_CLOEXEC != 0, 0)?;
    Ok(fd as u64)
}

/// The address space a context serves, locked. Nobody holds one across
/// a wait, so a taken lock is another vCPU's moment: wait it out.
fn lock(memory: &Mutex<AddressSpace>) -> MutexGuard<'_, AddressSpace> {
    loop {
        if let Some(guard) = memory.try_lock() {
            return guard;
        }
        sched::yield_current();
    }
}

/// `N` bytes of an ioctl argument.
fn read_arg<const N: usize>(ctx: &mut SyscallContext, addr: u64) -> Result<[u8; N], Errno> {
    let mut buf = [0u8; N];
    ctx.task.mm().copy_from_user(addr, &mut buf)?;
    Ok(buf)
}

fn word(buf: &[u8], index: usize) -> u64 {
    u64::from_le_bytes(buf[index * 8..index * 8 + 8].try_into().expect("8 bytes"))
}

fn write_word(ctx: &mut SyscallContext, addr: u64, value: u64) -> Result<(), Errno> {
    ctx.task.mm().copy_to_user(addr, &value.to_le_bytes())
}

/// Linux's validate_range: page-aligned, not empty, inside user space
/// and above vm.mmap_min_addr. Returns the end.
fn validate_range(start: u64, len: u64) -> Result<u64, Errno> {
    if start & (PAGE_SIZE - 1) != 0
        || len & (PAGE_SIZE - 1) != 0
        || len == 0
        || !(MMAP_MIN_ADDR..USER_END).contains(&start)
        || len > USER_END - start
    {
        return Err(EINVAL);
    }
    Ok(start + len)
}

/// The UFFDIO_* ioctls of a userfaultfd; every one but UFFDIO_API is
/// EINVAL before UFFDIO_API, as an unknown request is.
pub fn ioctl(
    ctx: &mut SyscallContext,
    uffd: &Arc<Userfaultfd>,
    request: u64,
    arg: u64,
) -> SysResult {
    if request == UFFDIO_API {
        return api(ctx, uffd, arg);
    }
    if uffd.features().is_none() {
        return Err(EINVAL);
    }
    match request {
        UFFDIO_REGISTER => {
            let buf: [u8; 24] = read_arg(ctx, arg)?;
            let (start, len, mode) = (word(&buf, 0), word(&buf, 1), word(&buf, 2));
            if mode == 0 || mode & !uffd::supported_modes() != 0 {
                return Err(EINVAL);
            }
            let end = validate_range(start, len)?;
            let memory = uffd.memory().map_err(|_| ENOMEM)?;
            let ioctls = lock(&memory).uffd_register(uffd, start, end, mode)?;
            write_word(ctx, arg + 24, ioctls)?;
            Ok(0)
        }
        UFFDIO_UNREGISTER => {
            let buf: [u8; 16] = read_arg(ctx, arg)?;
            let end = validate_range(word(&buf, 0), word(&buf, 1))?;
            let memory = uffd.memory().map_err(|_| ENOMEM)?;
            lock(&memory).uffd_unregister(word(&buf, 0), end)?;
            Ok(0)
        }
        UFFDIO_WAKE => {
            let buf: [u8; 16] = read_arg(ctx, arg)?;
            let end = validate_range(word(&buf, 0), word(&buf, 1))?;
            uffd.wake(word(&buf, 0), end);
            Ok(0)
        }
        UFFDIO_COPY => {
            let buf: [u8; 32] = read_arg(ctx, arg)?;
            let (dst, src, len, mode) =
                (word(&buf, 0), word(&buf, 1), word(&buf, 2), word(&buf, 3));
            validate_range(dst, len)?;
            if src.checked_add(len).is_none() || mode & !(MODE_DONTWAKE | COPY_MODE_WP) != 0 {
                return Err(EINVAL);
            }
            let filled = fill(ctx, uffd, dst, Some(src), len, mode & COPY_MODE_WP != 0)?;
            finish(
                ctx,
                uffd,
                arg + 32,
                dst,
                len,
                filled,
                mode & MODE_DONTWAKE == 0,
            )
        }
        UFFDIO_ZEROPAGE => {
            let buf: [u8; 24] = read_arg(ctx, arg)?;
            let (dst, len, mode) = (word(&buf, 0), word(&buf, 1), word(&buf, 2));
            validate_range(dst, len)?;
            if mode & !MODE_DONTWAKE != 0 {
                return Err(EINVAL);
            }
            let filled = fill(ctx, uffd, dst, None, len, false)?;
            finish(
                ctx,
                uffd,
                arg + 24,
                dst,
                len,
                filled,
                mode & MODE_DONTWAKE == 0,
            )
        }
        UFFDIO_CONTINUE => {
            let buf: [u8; 24] = read_arg(ctx, arg)?;
            let (start, len, mode) = (word(&buf, 0), word(&buf, 1), word(&buf, 2));
            validate_range(start, len)?;
            if mode & !MODE_DONTWAKE != 0 {
                return Err(EINVAL);
            }
            let memory = uffd.memory()?;
            let mapped = lock(&memory).uffd_continue(start, len);
            finish(
                ctx,
                uffd,
                arg + 24,
                start,
                len,
                mapped,
                mode & MODE_DONTWAKE == 0,
            )
        }
        UFFDIO_WRITEPROTECT => {
            let buf: [u8; 24] = read_arg(ctx, arg)?;
            let (start, len, mode) = (word(&buf, 0), word(&buf, 1), word(&buf, 2));
            let end = validate_range(start, len)?;
            if mode & !(WRITEPROTECT_MODE_WP | WRITEPROTECT_MODE_DONTWAKE) != 0
                || mode == WRITEPROTECT_MODE_WP | WRITEPROTECT_MODE_DONTWAKE
            {
                return Err(EINVAL);
            }
            let protect = mode & WRITEPROTECT_MODE_WP != 0;
            let memory = uffd.memory()?;
            lock(&memory).uffd_writeprotect(start, len, protect)?;
            if !protect && mode & WRITEPROTECT_MODE_DONTWAKE == 0 {
                uffd.wake(start, end);
            }
            Ok(0)
        }
        _ => Err(EINVAL),
    }
}

/// UFFDIO_API: the API version and the features to enable; the
/// features and ioctls offered are written back (zeros on EINVAL: an
/// unknown version, or a feature not offered).
fn api(ctx: &mut SyscallContext, uffd: &Arc<Userfaultfd>, arg: u64) -> SysResult {
    let buf: [u8; 24] = read_arg(ctx, arg)?;
    let (version, features) = (word(&buf, 0), word(&buf, 1));
    if uffd.features().is_some() {
        return Err(EINVAL);
    }
    if version != uffd::UFFD_API || features & !uffd::supported_features() != 0 {
        ctx.task.mm().copy_to_user(arg, &[0u8; 24])?;
        return Err(EINVAL);
    }
    let mut out = [0u8; 24];
    out[0..8].copy_from_slice(&uffd::UFFD_API.to_le_bytes());
    out[8..16].copy_from_slice(&uffd::supported_features().to_le_bytes());
    out[16..24].copy_from_slice(&API_IOCTLS.to_le_bytes());
    ctx.task.mm().copy_to_user(arg, &out)?;
    uffd.enable(features)?;
    Ok(0)
}

/// UFFDIO_COPY (`src` in the caller's memory) or UFFDIO_ZEROPAGE (no
/// `src`) of [dst, dst+len): page by page, stopping at the first error.
/// Ok(Ok(bytes)) when some were filled, Ok(Err(errno)) when none; Err
/// for an error to return before anything (the address space is gone).
fn fill(
    ctx: &mut SyscallContext,
    uffd: &Arc<Userfaultfd>,
    dst: u64,
    src: Option<u64>,
    len: u64,
    wp: bool,
) -> Result<Result<u64, Errno>, Errno> {
    let memory = uffd.memory()?;
    if let Err(e) = lock(&memory).uffd_check_fill(dst, len, wp) {
        return Ok(Err(e));
    }
    let mut page = alloc::vec![0u8; PAGE_SIZE as usize];
    let mut done = 0;
    while done < len {
        let result = match src {
            Some(src) => ctx.task.mm().copy_from_user(src + done, &mut page),
            None => Ok(()),
        }
        .and_then(|()| lock(&memory).uffd_fill_page(dst + done, &page, wp));
        if let Err(e) = result {
            return Ok(if done > 0 { Ok(done) } else { Err(e) });
        }
        done += PAGE_SIZE;
    }
    Ok(Ok(done))
}

/// The end of UFFDIO_COPY, ZEROPAGE and CONTINUE: the bytes done (or
/// -errno) go to the struct's last field at `result_at`, the faults in
/// what was done are woken unless DONTWAKE; a partial fill is EAGAIN.
fn finish(
    ctx: &mut SyscallContext,
    uffd: &Arc<Userfaultfd>,
    result_at: u64,
    start: u64,
    len: u64,
    done: Result<u64, Errno>,
    wake: bool,
) -> SysResult {
    let value = match done {
        Ok(bytes) => bytes,
        Err(e) => (-(e.0 as i64)) as u64,
    };
    write_word(ctx, result_at, value)?;
    let done = done?;
    if wake {
        uffd.wake(start, start + done);
    }
    if done == len {
        Ok(0)
    } else {
        Err(EAGAIN)
    }
}
