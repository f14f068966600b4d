//! futex. A waiter queues itself under the futex's key (see
//! `sentry::futex`: the address in its address space for private futexes,
//! the physical address of the word for shared ones) and blocks;
//! FUTEX_WAKE takes up to N waiters off that key's queue and wakes exactly
//! those tasks. A wait also ends by its timeout (ETIMEDOUT), by a signal
//! (EINTR, or a restart after an SA_RESTART handler), or at once when the
//! word no longer holds the value (EAGAIN), as on Linux.

use crate::sentry::mm::usermem::UserPtr;
use alloc::sync::Arc;

use spin::Mutex;

use super::time::{clock_ns, read_timespec, CLOCK_MONOTONIC, CLOCK_REALTIME};
use super::SyscallContext;
use crate::sentry::errno::*;
use crate::sentry::futex::{FutexKey, FutexQueues, Waiter};
use crate::sentry::mm::Access;
use crate::sentry::sched::{self, TaskCell};
use crate::sentry::task::Task;

/// The waiters of every futex with any.
static QUEUES: Mutex<FutexQueues<Arc<TaskCell>>> = Mutex::new(FutexQueues::new());

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

/// The key of the futex at `uaddr` for `task` (`private`: the operation
/// has FUTEX_PRIVATE_FLAG).
fn key(task: &Task, uaddr: u64, private: bool) -> Result<FutexKey, Errno> {
    let mm_id = Arc::as_ptr(&task.memory) as usize;
    crate::sentry::futex::key(uaddr, private, mm_id, || {
        let mut mm = task.mm();
        // Linux faults the page in (get_user_pages) even for a private
        // mapping: unmapped, PROT_NONE or past a file's end is EFAULT.
        let frame =
            mm.translate_for(uaddr, Access::Read).map_err(
                |e| {
                    if e == ENOMEM {
                        e
                    } else {
                        EFAULT
                    }
                },
            )?;
        if !mm.find(uaddr).ok_or(EFAULT)?.shared {
            return Ok(None);
        }
        let page = crate::arch::PAGE_SIZE - 1;
        Ok(Some((frame & !page) | (uaddr & page)))
    })
}

/// Waits on futex `key` (bitset `bitset`) until woken (0), `deadline`
/// (ETIMEDOUT) or a signal (ERESTARTSYS).
fn wait_on(
    ctx: &mut SyscallContext,
    key: FutexKey,
    bitset: u32,
    deadline: Option<u64>,
) -> SysResult {
    if deadline.is_none() && ctx.task.signals.next_timer().is_none() && sched::task_count() == 1 {
        log::warn!("futex wait without a timeout and no other task: waits for a signal");
    }
    let waiter = Waiter::new(ctx.task.cell().clone(), key, bitset);
    QUEUES.lock().enqueue(&waiter);
    let until = deadline.unwrap_or(u64::MAX);
    let result = loop {
        if waiter.woken() {
            break Ok(0);
        }
        if deadline.is_some_and(|d| d <= crate::sentry::time::monotonic_ns()) {
            break Err(ETIMEDOUT);
        }
        match crate::sentry::signal::wait(&mut ctx.task, &[], until, false) {
            Ok(_) => {}
            Err(e) if e == EINTR => break Err(ERESTARTSYS),
            Err(e) => break Err(e),
        }
    };
    if !waiter.woken() {
        QUEUES.lock().cancel(&waiter);
    }
    result
}

/// Wakes up to `n` waiters of `key` whose bitset meets `bitset`; returns
/// how many.
fn wake(key: FutexKey, n: u64, bitset: u32) -> u64 {
    let woken = QUEUES.lock().wake(key, n, bitset);
    for task in &woken {
        sched::wake(task);
    }
    woken.len() as u64
}

/// A thread ends with CLONE_CHILD_CLEARTID / set_tid_address: 0 goes to
/// the word and one waiter is woken (pthread_join waits there), as a
/// shared futex (as Linux does).
pub fn clear_child_tid(task: &mut Task) {
    let addr = task.clear_child_tid;
    if addr == 0 || !addr.is_multiple_of(4) {
        return;
    }
    if task.mm().write_val(addr, &0u32).is_err() {
        return;
    }
    if let Ok(key) = key(task, addr, false) {
        wake(key, 1, u32::MAX);
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
        return Ok(Some(crate::sentry::signal::wait_deadline(
            &mut ctx.task,
            value,
        )));
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
    let old: u32 = UserPtr::<u32>::new(uaddr2).read(&mut ctx.task.mm())?;
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
    UserPtr::new(uaddr2).write(&mut ctx.task.mm(), &new)?;
    Ok(holds)
}

pub fn sys_futex(
    ctx: &mut SyscallContext,
    uaddr: u64,
    op: u64,
    val: u64,
    timeout: u64,
    uaddr2: u64,
    val3: u64,
) -> SysResult {
    let cmd = op & !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
    if op & FUTEX_CLOCK_REALTIME != 0
        && !matches!(cmd, FUTEX_WAIT | FUTEX_WAIT_BITSET | FUTEX_LOCK_PI2)
    {
        return Err(ENOSYS);
    }
    if !uaddr.is_multiple_of(4) {
        return Err(EINVAL);
    }
    let private = op & FUTEX_PRIVATE_FLAG != 0;
    let tid = ctx.task.tid as u32;
    match cmd {
        FUTEX_WAIT | FUTEX_WAIT_BITSET => {
            let bitset = if cmd == FUTEX_WAIT_BITSET {
                val3 as u32
            } else {
                u32::MAX
            };
            if bitset == 0 {
                return Err(EINVAL);
            }
            let deadline = deadline(ctx, cmd, op, timeout)?;
            let key = key(&ctx.task, uaddr, private)?;
            if read_word(ctx, uaddr)? != val as u32 {
                return Err(EAGAIN);
            }
            wait_on(ctx, key, bitset, deadline)
        }
        FUTEX_WAKE | FUTEX_WAKE_BITSET => {
            let bitset = if cmd == FUTEX_WAKE_BITSET {
                val3 as u32
            } else {
                u32::MAX
            };
            if bitset == 0 {
                return Err(EINVAL);
            }
            let key = key(&ctx.task, uaddr, private)?;
            // A C int; Linux wakes one waiter even for a count of 0 or less.
            let n = (val as u32 as i32).max(1) as u64;
            Ok(wake(key, n, bitset))
        }
        FUTEX_REQUEUE | FUTEX_CMP_REQUEUE => {
            // Both counts are C ints; the fourth argument is the requeue
            // count here, not a pointer.
            let (nr_wake, nr_requeue) = (val as u32 as i32, timeout as u32 as i32);
            if nr_wake < 0 || nr_requeue < 0 {
                return Err(EINVAL);
            }
            // Linux's order: both keys (EINVAL, EFAULT), then the value.
            let (from, to) = (
                key(&ctx.task, uaddr, private)?,
                key(&ctx.task, uaddr2, private)?,
            );
            if cmd == FUTEX_CMP_REQUEUE && read_word(ctx, uaddr)? != val3 as u32 {
                return Err(EAGAIN);
            }
            let woken = wake(from, nr_wake as u64, u32::MAX);
            let moved = QUEUES.lock().requeue(from, to, nr_requeue as u64);
            Ok(if cmd == FUTEX_CMP_REQUEUE {
                woken + moved
            } else {
                woken
            })
        }
        FUTEX_WAKE_OP => {
            if !uaddr2.is_multiple_of(4) {
                return Err(EINVAL);
            }
            // The word must be writable.
            ctx.task.mm().check_user(uaddr2, 4, Access::Write)?;
            let (key1, key2) = (
                key(&ctx.task, uaddr, private)?,
                key(&ctx.task, uaddr2, private)?,
            );
            let holds = wake_op(ctx, uaddr2, val3 as u32)?;
            let mut woken = wake(key1, val, u32::MAX);
            if holds {
                woken += wake(key2, timeout as u32 as u64, u32::MAX);
            }
            Ok(woken)
        }
        FUTEX_LOCK_PI | FUTEX_LOCK_PI2 | FUTEX_TRYLOCK_PI => {
            const FUTEX_WAITERS: u32 = 0x8000_0000;
            let key = key(&ctx.task, uaddr, private)?;
            let deadline = match cmd {
                FUTEX_TRYLOCK_PI => None,
                // LOCK_PI's timeout is absolute on CLOCK_REALTIME.
                FUTEX_LOCK_PI => {
                    deadline(ctx, FUTEX_WAIT_BITSET, op | FUTEX_CLOCK_REALTIME, timeout)?
                }
                _ => deadline(ctx, FUTEX_WAIT_BITSET, op, timeout)?,
            };
            loop {
                let word = read_word(ctx, uaddr)?;
                let owner = word & FUTEX_TID_MASK;
                if owner == tid {
                    return Err(EDEADLK);
                }
                let owner_lives =
                    owner != 0 && (sched::with_parked_thread(owner as i32, |_| ()).is_some());
                if !owner_lives {
                    // Free, or held by a thread that is gone: take it (Linux
                    // sets FUTEX_OWNER_DIED for the latter), telling the
                    // next unlock whether others still wait.
                    let died = if owner != 0 { 0x4000_0000 } else { 0 };
                    let waiters = if QUEUES.lock().has_waiters(key) {
                        FUTEX_WAITERS
                    } else {
                        0
                    };
                    UserPtr::new(uaddr).write(&mut ctx.task.mm(), &(tid | died | waiters))?;
                    return Ok(0);
                }
                if cmd == FUTEX_TRYLOCK_PI {
                    return Err(EAGAIN);
                }
                UserPtr::new(uaddr).write(&mut ctx.task.mm(), &(word | FUTEX_WAITERS))?;
                wait_on(ctx, key, u32::MAX, deadline)?;
            }
        }
        FUTEX_UNLOCK_PI => {
            let word = read_word(ctx, uaddr)?;
            if word & FUTEX_TID_MASK != tid {
                return Err(EPERM);
            }
            UserPtr::new(uaddr).write(&mut ctx.task.mm(), &0u32)?;
            let key = key(&ctx.task, uaddr, private)?;
            wake(key, 1, u32::MAX);
            Ok(0)
        }
        _ => {
            log::info!("futex operation {cmd} is not supported: ENOSYS");
            Err(ENOSYS)
        }
    }
}

/// futex_waitv's `struct futex_waitv`: { u64 val; u64 uaddr; u32 flags;
/// u32 __reserved; }.
const WAITV_SIZE: u64 = 24;
const FUTEX_WAITV_MAX: u64 = 128;
const FUTEX2_SIZE_U32: u32 = 2;
const FUTEX2_SIZE_MASK: u32 = 3;
const FUTEX2_PRIVATE: u32 = 128;

/// futex_waitv(waiters, nr_futexes, flags, timeout, clockid): waits on
/// several 32-bit futexes at once until one is woken; returns its index.
/// The timeout is absolute on `clockid` (CLOCK_MONOTONIC or REALTIME).
pub fn sys_futex_waitv(
    ctx: &mut SyscallContext,
    waiters: u64,
    nr: u32,
    flags: u32,
    timeout: u64,
    clockid: u32,
) -> SysResult {
    let nr = nr as u64;
    if flags != 0 {
        return Err(EINVAL);
    }
    if waiters == 0 || nr == 0 || nr > FUTEX_WAITV_MAX {
        return Err(EINVAL);
    }
    let deadline = if timeout != 0 {
        let clockid = clockid as u64;
        if clockid != CLOCK_REALTIME && clockid != CLOCK_MONOTONIC {
            return Err(EINVAL);
        }
        let op = if clockid == CLOCK_REALTIME {
            FUTEX_CLOCK_REALTIME
        } else {
            0
        };
        deadline(ctx, FUTEX_WAIT_BITSET, op, timeout)?
    } else {
        None
    };
    // Parse every entry first (EFAULT, EINVAL), then take every key
    // (EINVAL, EFAULT), as Linux does.
    let mut entries = alloc::vec::Vec::with_capacity(nr as usize);
    for i in 0..nr {
        let raw: [u8; WAITV_SIZE as usize] =
            UserPtr::<[u8; WAITV_SIZE as usize]>::new(waiters + i * WAITV_SIZE)
                .read(&mut ctx.task.mm())?;
        let val = u64::from_ne_bytes(raw[0..8].try_into().unwrap_or_default());
        let uaddr = u64::from_ne_bytes(raw[8..16].try_into().unwrap_or_default());
        let wflags = u32::from_ne_bytes(raw[16..20].try_into().unwrap_or_default());
        let reserved = u32::from_ne_bytes(raw[20..24].try_into().unwrap_or_default());
        if wflags & !(FUTEX2_SIZE_MASK | FUTEX2_PRIVATE) != 0
            || reserved != 0
            || wflags & FUTEX2_SIZE_MASK != FUTEX2_SIZE_U32
            || val > u32::MAX as u64
        {
            return Err(EINVAL);
        }
        entries.push((val as u32, uaddr, wflags & FUTEX2_PRIVATE != 0));
    }
    let mut keys = alloc::vec::Vec::with_capacity(entries.len());
    for &(_, uaddr, private) in &entries {
        keys.push(key(&ctx.task, uaddr, private)?);
    }
    for &(val, uaddr, _) in &entries {
        if read_word(ctx, uaddr)? != val {
            return Err(EAGAIN);
        }
    }
    let queued: alloc::vec::Vec<_> = keys
        .iter()
        .map(|&k| Waiter::new(ctx.task.cell().clone(), k, u32::MAX))
        .collect();
    {
        let mut queues = QUEUES.lock();
        for w in &queued {
            queues.enqueue(w);
        }
    }
    let until = deadline.unwrap_or(u64::MAX);
    let result = loop {
        if queued.iter().any(|w| w.woken()) {
            break Ok(());
        }
        if deadline.is_some_and(|d| d <= crate::sentry::time::monotonic_ns()) {
            break Err(ETIMEDOUT);
        }
        match crate::sentry::signal::wait(&mut ctx.task, &[], until, false) {
            Ok(_) => {}
            Err(e) if e == EINTR => break Err(ERESTARTSYS),
            Err(e) => break Err(e),
        }
    };
    {
        let mut queues = QUEUES.lock();
        for w in &queued {
            if !w.woken() {
                queues.cancel(w);
            }
        }
    }
    // A wake that came in with the timeout or signal still counts, as on
    // Linux (futex_unqueue_multiple first).
    match queued.iter().position(|w| w.woken()) {
        Some(i) => Ok(i as u64),
        None => result.map(|()| 0),
    }
}
