//! futex for a process of one thread: every operation does its checks and
//! its work on user memory exactly as Linux does, but no other thread can
//! ever be waiting or waking. A wait therefore ends by its timeout
//! (ETIMEDOUT) or a signal (EINTR, or a restart after an SA_RESTART
//! handler), and wakes find nobody (0).

use super::time::{clock_ns, read_timespec, CLOCK_MONOTONIC, CLOCK_REALTIME};
use super::SyscallContext;
use crate::sentry::errno::*;
use crate::sentry::mm::Access;

const FUTEX_WAIT: u64 = 0;
const FUTEX_WAKE: u64 = 1;
const FUTEX_REQUEUE: u64 = 3;
const FUTEX_CMP_REQUEUE: u64 = 4;
const FUTEX_WAKE_OP: u64 = 5;
const FUTEX_LOCK_PI: u64 = 6;
const FUTEX_UNLOCK_PI: u64 = 7;
const FUTEX_TRYLOCK_PI: u64 = 8;
const FUTEX_WAIT_BITSET: u64 = 9;
const FUTEX_WAKE_BITSET: u64 = 10;
const FUTEX_LOCK_PI2: u64 = 13;
const FUTEX_PRIVATE_FLAG: u64 = 128;
const FUTEX_CLOCK_REALTIME: u64 = 256;
const FUTEX_TID_MASK: u32 = 0x3fff_ffff;

fn read_word(ctx: &mut SyscallContext, addr: u64) -> Result<u32, Errno> {
    ctx.task.mm().read_val(addr)
}

/// Waits until monotonic `deadline` (None: no timeout): ETIMEDOUT, or
/// ERESTARTSYS when a signal comes first (ESWITCH: another task runs
/// meanwhile and the call is retried).
fn wait_until(ctx: &mut SyscallContext, deadline: Option<u64>) -> SysResult {
    if deadline.is_none()
        && ctx.task.signals.next_timer().is_none()
        && crate::sentry::sched::task_count() == 1
    {
        log::warn!("futex wait without a timeout in a single-threaded program: waits for a signal");
    }
    let until = deadline.unwrap_or(u64::MAX);
    loop {
        if deadline.is_some_and(|d| d <= crate::sentry::time::monotonic_ns()) {
            return Err(ETIMEDOUT);
        }
        match crate::sentry::signal::wait(ctx.task, until, false) {
            Ok(_) => {}
            Err(e) if e == EINTR => return Err(ERESTARTSYS),
            Err(e) => return Err(e),
        }
    }
}

/// The wait's deadline on the monotonic clock: FUTEX_WAIT takes a relative
/// timeout, the others an absolute time on the chosen clock.
fn deadline(
    ctx: &mut SyscallContext,
    cmd: u64,
    op: u64,
    timeout: u64,
) -> Result<Option<u64>, Errno> {
    if timeout == 0 {
        return Ok(None);
    }
    let value = read_timespec(ctx, timeout)?;
    if cmd == FUTEX_WAIT {
        return Ok(Some(crate::sentry::signal::wait_deadline(ctx.task, value)));
    }
    let now = crate::sentry::time::monotonic_ns();
    let clock = if op & FUTEX_CLOCK_REALTIME != 0 {
        CLOCK_REALTIME
    } else {
        CLOCK_MONOTONIC
    };
    let clock_now = clock_ns(ctx, clock)?;
    Ok(Some(now.saturating_add(value.saturating_sub(clock_now))))
}

/// FUTEX_WAKE_OP's operation on *uaddr2; returns whether its comparison
/// (of the old value) holds.
fn wake_op(ctx: &mut SyscallContext, uaddr2: u64, encoded: u32) -> Result<bool, Errno> {
    const OPARG_SHIFT: u32 = 8;
    let op = (encoded >> 28) & 0xf;
    let cmp = (encoded >> 24) & 0xf;
    // 12-bit signed arguments.
    let mut oparg = (((encoded >> 12) & 0xfff) as i32) << 20 >> 20;
    let cmparg = ((encoded & 0xfff) as i32) << 20 >> 20;
    if op & OPARG_SHIFT != 0 {
        if !(0..32).contains(&oparg) {
            return Err(EINVAL);
        }
        oparg = 1 << oparg;
    }
    let old: u32 = ctx.task.mm().read_val(uaddr2)?;
    let oparg = oparg as u32;
    let new = match op & !OPARG_SHIFT {
        0 => oparg,
        1 => old.wrapping_add(oparg),
        2 => old | oparg,
        3 => old & !oparg,
        4 => old ^ oparg,
        _ => return Err(ENOSYS),
    };
    let old = old as i32;
    let holds = match cmp {
        0 => old == cmparg,
        1 => old != cmparg,
        2 => old < cmparg,
        3 => old <= cmparg,
        4 => old > cmparg,
        5 => old >= cmparg,
        _ => return Err(ENOSYS),
    };
    ctx.task.mm().write_val(uaddr2, &new)?;
    Ok(holds)
}

pub fn sys_futex(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let [uaddr, op, val, timeout, uaddr2, val3] = args;
    let cmd = op & !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
    if op & FUTEX_CLOCK_REALTIME != 0
        && !matches!(cmd, FUTEX_WAIT | FUTEX_WAIT_BITSET | FUTEX_LOCK_PI2)
    {
        return Err(ENOSYS);
    }
    if !uaddr.is_multiple_of(4) {
        return Err(EINVAL);
    }
    let tid = ctx.task.tid as u32;
    match cmd {
        FUTEX_WAIT | FUTEX_WAIT_BITSET => {
            if cmd == FUTEX_WAIT_BITSET && val3 as u32 == 0 {
                return Err(EINVAL);
            }
            let deadline = deadline(ctx, cmd, op, timeout)?;
            if read_word(ctx, uaddr)? != val as u32 {
                return Err(EAGAIN);
            }
            wait_until(ctx, deadline)
        }
        FUTEX_WAKE | FUTEX_WAKE_BITSET => {
            if cmd == FUTEX_WAKE_BITSET && val3 as u32 == 0 {
                return Err(EINVAL);
            }
            Ok(0)
        }
        FUTEX_REQUEUE => Ok(0),
        FUTEX_CMP_REQUEUE => {
            if !uaddr2.is_multiple_of(4) {
                return Err(EINVAL);
            }
            if read_word(ctx, uaddr)? != val3 as u32 {
                return Err(EAGAIN);
            }
            Ok(0)
        }
        FUTEX_WAKE_OP => {
            if !uaddr2.is_multiple_of(4) {
                return Err(EINVAL);
            }
            // The word must be writable even though nobody waits on it.
            ctx.task
                .mm()
                .with_user_chunks(uaddr2, 4, Access::Write, |_| {})?;
            wake_op(ctx, uaddr2, val3 as u32)?;
            Ok(0)
        }
        FUTEX_LOCK_PI | FUTEX_LOCK_PI2 | FUTEX_TRYLOCK_PI => {
            let word = read_word(ctx, uaddr)?;
            if word & FUTEX_TID_MASK == tid {
                return Err(EDEADLK);
            }
            if word & FUTEX_TID_MASK == 0 {
                // Free: take it, keeping the waiters bit as Linux does.
                ctx.task
                    .mm()
                    .write_val(uaddr, &(tid | (word & !FUTEX_TID_MASK)))?;
                return Ok(0);
            }
            // Owned by a thread that does not exist (a stale value).
            if cmd == FUTEX_TRYLOCK_PI {
                return Err(EAGAIN);
            }
            let deadline = if cmd == FUTEX_LOCK_PI {
                // LOCK_PI's timeout is absolute on CLOCK_REALTIME.
                deadline(ctx, FUTEX_WAIT_BITSET, op | FUTEX_CLOCK_REALTIME, timeout)?
            } else {
                deadline(ctx, FUTEX_WAIT_BITSET, op, timeout)?
            };
            wait_until(ctx, deadline)
        }
        FUTEX_UNLOCK_PI => {
            let word = read_word(ctx, uaddr)?;
            if word & FUTEX_TID_MASK != tid {
                return Err(EPERM);
            }
            ctx.task.mm().write_val(uaddr, &0u32)?;
            Ok(0)
        }
        _ => {
            log::info!("futex operation {cmd} is not supported: ENOSYS");
            Err(ENOSYS)
        }
    }
}
