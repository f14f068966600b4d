//! futex. A waiter queues itself under the futex's key (the physical
//! address of the word, so private and shared mappings both work) and
//! blocks; FUTEX_WAKE takes up to N waiters off that key's queue and wakes
//! exactly those tasks. A wait also ends by its timeout (ETIMEDOUT), by a
//! signal (EINTR, or a restart after an SA_RESTART handler), or at once
//! when the word no longer holds the value (EAGAIN), as on Linux.

use crate::sentry::mm::usermem::UserPtr;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use spin::Mutex;

use super::time::{clock_ns, read_timespec, CLOCK_MONOTONIC, CLOCK_REALTIME};
use super::SyscallContext;
use crate::sentry::errno::*;
use crate::sentry::mm::Access;
use crate::sentry::sched::{self, TaskCell};

/// One task waiting on a futex.
struct Waiter {
    task: Arc<TaskCell>,
    bitset: u32,
    /// The key it is queued under (requeue moves it).
    key: AtomicU64,
    woken: AtomicBool,
}

/// The waiters of every futex with any, by key, oldest first.
static QUEUES: Mutex<BTreeMap<u64, VecDeque<Arc<Waiter>>>> = Mutex::new(BTreeMap::new());

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

/// The futex's identity: the physical address of the word.
fn key(ctx: &mut SyscallContext, uaddr: u64) -> Result<u64, Errno> {
    let frame = ctx.task.mm().translate_for(uaddr, Access::Read)?;
    Ok((frame & !(crate::arch::PAGE_SIZE - 1)) | (uaddr & (crate::arch::PAGE_SIZE - 1)))
}

/// Waits on futex `key` (bitset `bitset`) until woken (0), `deadline`
/// (ETIMEDOUT) or a signal (ERESTARTSYS).
fn wait_on(ctx: &mut SyscallContext, key: u64, bitset: u32, deadline: Option<u64>) -> SysResult {
    if deadline.is_none() && ctx.task.signals.next_timer().is_none() && sched::task_count() == 1 {
        log::warn!("futex wait without a timeout and no other task: waits for a signal");
    }
    let waiter = Arc::new(Waiter {
        task: ctx.task.cell().clone(),
        bitset,
        key: AtomicU64::new(key),
        woken: AtomicBool::new(false),
    });
    QUEUES
        .lock()
        .entry(key)
        .or_default()
        .push_back(waiter.clone());
    let until = deadline.unwrap_or(u64::MAX);
    let result = loop {
        if waiter.woken.load(Ordering::Relaxed) {
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
    if !waiter.woken.load(Ordering::Relaxed) {
        let mut queues = QUEUES.lock();
        let key = waiter.key.load(Ordering::Relaxed);
        if let Some(queue) = queues.get_mut(&key) {
            queue.retain(|w| !Arc::ptr_eq(w, &waiter));
            if queue.is_empty() {
                queues.remove(&key);
            }
        }
    }
    result
}

/// Wakes up to `n` waiters of `key` whose bitset meets `bitset`; returns
/// how many.
fn wake(key: u64, n: u64, bitset: u32) -> u64 {
    let mut woken = alloc::vec::Vec::new();
    {
        let mut queues = QUEUES.lock();
        let Some(queue) = queues.get_mut(&key) else {
            return 0;
        };
        queue.retain(|w| {
            if (woken.len() as u64) < n && w.bitset & bitset != 0 {
                w.woken.store(true, Ordering::Relaxed);
                woken.push(w.task.clone());
                false
            } else {
                true
            }
        });
        if queue.is_empty() {
            queues.remove(&key);
        }
    }
    for task in &woken {
        sched::wake(task);
    }
    woken.len() as u64
}

/// Moves up to `n` waiters of `from` to `to`.
fn requeue(from: u64, to: u64, n: u64) -> u64 {
    if from == to || n == 0 {
        return 0;
    }
    let mut queues = QUEUES.lock();
    let Some(queue) = queues.get_mut(&from) else {
        return 0;
    };
    let count = (n.min(queue.len() as u64)) as usize;
    let moved: VecDeque<Arc<Waiter>> = queue.drain(..count).collect();
    if queue.is_empty() {
        queues.remove(&from);
    }
    for w in &moved {
        w.key.store(to, Ordering::Relaxed);
    }
    queues.entry(to).or_default().extend(moved);
    count as u64
}

/// Whether futex `key` has waiters.
fn has_waiters(key: u64) -> bool {
    QUEUES.lock().contains_key(&key)
}

/// A thread ends with CLONE_CHILD_CLEARTID / set_tid_address: 0 goes to
/// the word and one waiter is woken (pthread_join waits there).
pub fn clear_child_tid(task: &mut crate::sentry::task::Task) {
    let addr = task.clear_child_tid;
    if addr == 0 || !addr.is_multiple_of(4) {
        return;
    }
    if task.mm().write_val(addr, &0u32).is_err() {
        return;
    }
    if let Ok(frame) = task.mm().translate_for(addr, Access::Read) {
        let key = (frame & !(crate::arch::PAGE_SIZE - 1)) | (addr & (crate::arch::PAGE_SIZE - 1));
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
            let bitset = if cmd == FUTEX_WAIT_BITSET {
                val3 as u32
            } else {
                u32::MAX
            };
            if bitset == 0 {
                return Err(EINVAL);
            }
            let deadline = deadline(ctx, cmd, op, timeout)?;
            let key = key(ctx, uaddr)?;
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
            let key = key(ctx, uaddr)?;
            Ok(wake(key, val, bitset))
        }
        FUTEX_REQUEUE | FUTEX_CMP_REQUEUE => {
            if !uaddr2.is_multiple_of(4) {
                return Err(EINVAL);
            }
            if cmd == FUTEX_CMP_REQUEUE && read_word(ctx, uaddr)? != val3 as u32 {
                return Err(EAGAIN);
            }
            let (from, to) = (key(ctx, uaddr)?, key(ctx, uaddr2)?);
            let woken = wake(from, val, u32::MAX);
            // The fourth argument is the requeue count here, not a pointer.
            let moved = requeue(from, to, timeout as u32 as u64);
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
            let (key1, key2) = (key(ctx, uaddr)?, key(ctx, uaddr2)?);
            let holds = wake_op(ctx, uaddr2, val3 as u32)?;
            let mut woken = wake(key1, val, u32::MAX);
            if holds {
                woken += wake(key2, timeout as u32 as u64, u32::MAX);
            }
            Ok(woken)
        }
        FUTEX_LOCK_PI | FUTEX_LOCK_PI2 | FUTEX_TRYLOCK_PI => {
            const FUTEX_WAITERS: u32 = 0x8000_0000;
            let key = key(ctx, uaddr)?;
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
                    let waiters = if has_waiters(key) { FUTEX_WAITERS } else { 0 };
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
            let key = key(ctx, uaddr)?;
            wake(key, 1, u32::MAX);
            Ok(0)
        }
        _ => {
            log::info!("futex operation {cmd} is not supported: ENOSYS");
            Err(ENOSYS)
        }
    }
}
