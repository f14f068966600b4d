//! process_vm_readv / process_vm_writev: copies between the caller's
//! memory and another process's, as Linux's mm/process_vm_access.c. Both
//! sides go through the checked user-memory API of their own address
//! space; the bytes pass through a sentry buffer, one piece at a time, so
//! that the two address spaces are never locked together (they may be the
//! same one, and two callers may copy between them in opposite ways).

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use spin::Mutex;

use super::read_write::{IOV_MAX, MAX_RW_COUNT};
use super::SyscallContext;
use crate::arch::{PAGE_SIZE, USER_END};
use crate::sentry::errno::*;
use crate::sentry::mm::AddressSpace;
use crate::sentry::sched;

/// CAP_SYS_PTRACE: access to a process of other credentials.
const CAP_SYS_PTRACE: u64 = 1 << 19;

/// Linux's SUID_DUMP_USER: a dumpable process.
const SUID_DUMP_USER: u64 = 1;

pub fn sys_process_vm_readv(
    ctx: &mut SyscallContext,
    pid: i32,
    lvec: u64,
    liovcnt: u64,
    rvec: u64,
    riovcnt: u64,
    flags: u64,
) -> SysResult {
    process_vm_rw(ctx, pid, (lvec, liovcnt), (rvec, riovcnt), flags, false)
}

pub fn sys_process_vm_writev(
    ctx: &mut SyscallContext,
    pid: i32,
    lvec: u64,
    liovcnt: u64,
    rvec: u64,
    riovcnt: u64,
    flags: u64,
) -> SysResult {
    process_vm_rw(ctx, pid, (lvec, liovcnt), (rvec, riovcnt), flags, true)
}

/// Linux's iovec_from_user: at most IOV_MAX entries (EINVAL), readable
/// (EFAULT), no length negative as a ssize_t (EINVAL).
fn read_iovecs(ctx: &mut SyscallContext, addr: u64, count: u64) -> Result<Vec<(u64, u64)>, Errno> {
    if count > IOV_MAX {
        return Err(EINVAL);
    }
    let mut raw = vec![0u8; count as usize * 16];
    ctx.task.mm().copy_from_user(addr, &mut raw)?;
    let mut out = Vec::with_capacity(count as usize);
    for pair in raw.chunks_exact(16) {
        let base = u64::from_le_bytes(pair[..8].try_into().expect("8 bytes"));
        let len = u64::from_le_bytes(pair[8..].try_into().expect("8 bytes"));
        if (len as i64) < 0 {
            return Err(EINVAL);
        }
        out.push((base, len));
    }
    Ok(out)
}

/// What the access check needs of the target, and its address space.
struct Target {
    memory: Arc<Mutex<AddressSpace>>,
    same_group: bool,
    uids: [u32; 3],
    gids: [u32; 3],
    dumpable: u64,
    landlock: Option<Arc<crate::sentry::landlock::Domain>>,
}

fn find_target(ctx: &SyscallContext, pid: i32) -> Result<Target, Errno> {
    if pid <= 0 {
        return Err(ESRCH);
    }
    if pid == ctx.task.tid {
        return Ok(Target {
            memory: ctx.task.memory.clone(),
            same_group: true,
            uids: ctx.task.creds.user,
            gids: ctx.task.creds.group,
            dumpable: ctx.task.dumpable,
            landlock: None,
        });
    }
    let me = Arc::as_ptr(&ctx.task.process);
    sched::inspect_thread(pid, |task| Target {
        memory: task.memory.clone(),
        same_group: Arc::as_ptr(&task.process) == me,
        uids: task.creds.user,
        gids: task.creds.group,
        dumpable: task.dumpable,
        landlock: task.creds.landlock.clone(),
    })
    .ok_or(ESRCH)
}

/// Linux's mm_access(PTRACE_MODE_ATTACH_REALCREDS): the caller's own
/// thread group or address space; otherwise the caller's real uid and gid
/// are all of the target's ids and the target is dumpable, or the caller
/// has CAP_SYS_PTRACE. Linux's EACCES is reported as EPERM here.
fn may_access(ctx: &SyscallContext, target: &Target) -> bool {
    if target.same_group || Arc::ptr_eq(&target.memory, &ctx.task.memory) {
        return true;
    }
    if !crate::sentry::landlock::may_ptrace(
        ctx.task.creds.landlock.as_deref(),
        target.landlock.as_deref(),
    ) {
        return false;
    }
    let privileged = ctx.task.creds.caps().effective & CAP_SYS_PTRACE != 0;
    let (uid, gid) = (ctx.task.creds.user[0], ctx.task.creds.group[0]);
    let same = target.uids.iter().all(|&u| u == uid) && target.gids.iter().all(|&g| g == gid);
    privileged || (same && target.dumpable == SUID_DUMP_USER)
}

/// The target's address space, locked. Nobody holds an address space
/// across a wait, so a taken lock is another vCPU's moment: wait it out.
fn lock(memory: &Mutex<AddressSpace>) -> spin::MutexGuard<'_, AddressSpace> {
    loop {
        if let Some(guard) = memory.try_lock() {
            return guard;
        }
        sched::yield_current();
    }
}

fn process_vm_rw(
    ctx: &mut SyscallContext,
    pid: i32,
    (lvec, liovcnt): (u64, u64),
    (rvec, riovcnt): (u64, u64),
    flags: u64,
    write: bool,
) -> SysResult {
    if flags != 0 {
        return Err(EINVAL);
    }
    // Linux's import_iovec: the local vector is checked whole (lengths,
    // then each range below the end of user space), and its total capped.
    let mut local = read_iovecs(ctx, lvec, liovcnt)?;
    let mut total = 0u64;
    for (base, len) in local.iter_mut() {
        if base.checked_add(*len).is_none_or(|end| end > USER_END) {
            return Err(EFAULT);
        }
        *len = (*len).min(MAX_RW_COUNT - total);
        total += *len;
    }
    if total == 0 {
        return Ok(0);
    }
    let remote = read_iovecs(ctx, rvec, riovcnt)?;
    if remote.iter().all(|&(_, len)| len == 0) {
        return Ok(0);
    }
    let target = find_target(ctx, pid)?;
    if !may_access(ctx, &target) {
        return Err(EPERM);
    }

    // Pieces never cross a page on either side: each is copied whole or
    // not at all, and the first that faults ends the call (EFAULT when
    // nothing was copied yet), as Linux stops at the first bad page.
    let mut buf = vec![0u8; PAGE_SIZE as usize];
    let mut copied = 0u64;
    let (mut li, mut loff) = (0usize, 0u64);
    'remote: for &(rbase, rlen) in &remote {
        let mut roff = 0u64;
        while roff < rlen {
            while li < local.len() && loff == local[li].1 {
                li += 1;
                loff = 0;
            }
            if li == local.len() {
                break 'remote;
            }
            let laddr = local[li].0 + loff;
            let Some(raddr) = rbase.checked_add(roff) else {
                return if copied > 0 { Ok(copied) } else { Err(EFAULT) };
            };
            let n = (rlen - roff)
                .min(local[li].1 - loff)
                .min(PAGE_SIZE - (laddr & (PAGE_SIZE - 1)))
                .min(PAGE_SIZE - (raddr & (PAGE_SIZE - 1))) as usize;
            let piece = &mut buf[..n];
            // One address space locked at a time (each guard dropped at
            // the end of its statement): they may be the same one.
            let result = if write {
                let read = ctx.task.mm().copy_from_user(laddr, piece);
                read.and_then(|()| lock(&target.memory).copy_to_user(raddr, piece))
            } else {
                let read = lock(&target.memory).copy_from_user(raddr, piece);
                read.and_then(|()| ctx.task.mm().copy_to_user(laddr, piece))
            };
            if let Err(e) = result {
                return if copied > 0 { Ok(copied) } else { Err(e) };
            }
            copied += n as u64;
            roff += n as u64;
            loff += n as u64;
        }
    }
    Ok(copied)
}
