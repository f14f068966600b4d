//! Futex keys and wait queues (futex(2)): which futex a word is, and who
//! waits on it. Pure: the syscall (`syscalls/futex.rs`) computes keys from
//! the address space, blocks and wakes tasks; `sentry-host-tests` runs
//! this part on the host.
//!
//! Keys follow Linux's get_futex_key: a futex in private memory (or any
//! futex used with FUTEX_PRIVATE_FLAG) is its address in its address
//! space, so that processes sharing a page frame (copy-on-write, or a
//! file's page cache under MAP_PRIVATE) never see each other's futexes and
//! a page copied on write stays the same futex; a futex in a shared
//! mapping without the flag is the physical address of the word, the same
//! for every process that maps the page.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};

use spin::Mutex;

use crate::sentry::errno::*;

/// A futex's identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FutexKey {
    /// (address space, user address).
    Private { mm: usize, addr: u64 },
    /// The physical address of the word.
    Shared { phys: u64 },
}

/// The key of the futex at `uaddr` in address space `mm`. `private_op`:
/// the operation has FUTEX_PRIVATE_FLAG. `shared_frame` tells, for a
/// shared operation, whether `uaddr` is in a shared mapping: Ok(Some(the
/// physical address of the word)) if so, Ok(None) for private memory, or
/// EFAULT when nothing is mapped there. EINVAL when `uaddr` is not 4-byte
/// aligned.
pub fn key(
    uaddr: u64,
    private_op: bool,
    mm: usize,
    shared_frame: impl FnOnce() -> Result<Option<u64>, Errno>,
) -> Result<FutexKey, Errno> {
    if !uaddr.is_multiple_of(4) {
        return Err(EINVAL);
    }
    if !private_op {
        if let Some(phys) = shared_frame()? {
            return Ok(FutexKey::Shared { phys });
        }
    }
    Ok(FutexKey::Private { mm, addr: uaddr })
}

/// One task waiting on a futex.
pub struct Waiter<T> {
    pub task: T,
    bitset: u32,
    /// The key it is queued under (requeue moves it); read and changed
    /// with the queues locked.
    key: Mutex<FutexKey>,
    woken: AtomicBool,
}

impl<T> Waiter<T> {
    pub fn new(task: T, key: FutexKey, bitset: u32) -> Arc<Waiter<T>> {
        Arc::new(Waiter {
            task,
            bitset,
            key: Mutex::new(key),
            woken: AtomicBool::new(false),
        })
    }

    /// Taken off its queue by a wake.
    pub fn woken(&self) -> bool {
        self.woken.load(Ordering::Acquire)
    }
}

/// The waiters of every futex with any, by key, oldest first.
pub struct FutexQueues<T> {
    queues: BTreeMap<FutexKey, VecDeque<Arc<Waiter<T>>>>,
}

impl<T: Clone> Default for FutexQueues<T> {
    fn default() -> Self {
        FutexQueues::new()
    }
}

impl<T: Clone> FutexQueues<T> {
    pub const fn new() -> FutexQueues<T> {
        FutexQueues {
            queues: BTreeMap::new(),
        }
    }

    /// Queues `waiter` under its key, behind the others.
    pub fn enqueue(&mut self, waiter: &Arc<Waiter<T>>) {
        let key = *waiter.key.lock();
        self.queues
            .entry(key)
            .or_default()
            .push_back(waiter.clone());
    }

    /// Takes up to `n` waiters of `key` whose bitset meets `bitset` off the
    /// queue, oldest first, marking them woken; returns their tasks for the
    /// caller to wake.
    pub fn wake(&mut self, key: FutexKey, n: u64, bitset: u32) -> Vec<T> {
        let mut woken = Vec::new();
        let Some(queue) = self.queues.get_mut(&key) else {
            return woken;
        };
        queue.retain(|w| {
            if (woken.len() as u64) < n && w.bitset & bitset != 0 {
                w.woken.store(true, Ordering::Release);
                woken.push(w.task.clone());
                false
            } else {
                true
            }
        });
        if queue.is_empty() {
            self.queues.remove(&key);
        }
        woken
    }

    /// Moves up to `n` waiters of `from` (the oldest) behind those of `to`;
    /// returns how many.
    pub fn requeue(&mut self, from: FutexKey, to: FutexKey, n: u64) -> u64 {
        if from == to || n == 0 {
            return 0;
        }
        let Some(queue) = self.queues.get_mut(&from) else {
            return 0;
        };
        let count = (n.min(queue.len() as u64)) as usize;
        let moved: VecDeque<Arc<Waiter<T>>> = queue.drain(..count).collect();
        if queue.is_empty() {
            self.queues.remove(&from);
        }
        for w in &moved {
            *w.key.lock() = to;
        }
        self.queues.entry(to).or_default().extend(moved);
        count as u64
    }

    /// Takes `waiter` off its queue when it stops waiting (time out,
    /// signal); false when a wake took it off first.
    pub fn cancel(&mut self, waiter: &Arc<Waiter<T>>) -> bool {
        let key = *waiter.key.lock();
        let Some(queue) = self.queues.get_mut(&key) else {
            return false;
        };
        let before = queue.len();
        queue.retain(|w| !Arc::ptr_eq(w, waiter));
        let removed = queue.len() != before;
        if queue.is_empty() {
            self.queues.remove(&key);
        }
        removed
    }

    /// Whether futex `key` has waiters.
    pub fn has_waiters(&self, key: FutexKey) -> bool {
        self.queues.contains_key(&key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MM_A: usize = 0x1000;
    const MM_B: usize = 0x2000;

    fn private(mm: usize, addr: u64) -> FutexKey {
        FutexKey::Private { mm, addr }
    }

    #[test]
    fn misaligned_words_are_einval() {
        // futex(2): EINVAL when uaddr is not aligned to a four-byte boundary.
        for uaddr in [1, 2, 3, 0x1001, 0x1006] {
            assert_eq!(key(uaddr, true, MM_A, || Ok(None)), Err(EINVAL));
            assert_eq!(key(uaddr, false, MM_A, || Ok(Some(0))), Err(EINVAL));
        }
        assert!(key(0x1004, true, MM_A, || Ok(None)).is_ok());
    }

    #[test]
    fn private_futexes_belong_to_their_address_space() {
        // With FUTEX_PRIVATE_FLAG the futex is (address space, address):
        // the same address in two processes is two futexes, and the
        // mapping is not looked at (a wake on unmapped memory finds no
        // waiter rather than EFAULT, as on Linux).
        let a = key(0x4000, true, MM_A, || unreachable!("not looked at"));
        let b = key(0x4000, true, MM_B, || unreachable!("not looked at"));
        assert_eq!(a, Ok(private(MM_A, 0x4000)));
        assert_ne!(a, b);
        // Without the flag, private memory keys the same way (Linux's
        // get_futex_key for anonymous private pages), even when two
        // processes still share the frame after fork.
        let shared_op = key(0x4000, false, MM_A, || Ok(None));
        assert_eq!(shared_op, a);
        assert_ne!(key(0x4000, false, MM_B, || Ok(None)), shared_op);
    }

    #[test]
    fn shared_futexes_are_the_word_in_physical_memory() {
        // A futex in a shared mapping is the same futex for every process
        // mapping that page, at whatever address.
        let a = key(0x4008, false, MM_A, || Ok(Some(0x9_0008)));
        let b = key(0x7_0008, false, MM_B, || Ok(Some(0x9_0008)));
        assert_eq!(a, Ok(FutexKey::Shared { phys: 0x9_0008 }));
        assert_eq!(a, b);
        // With FUTEX_PRIVATE_FLAG even a shared mapping keys privately.
        assert_eq!(
            key(0x4008, true, MM_A, || Ok(Some(0x9_0008))),
            Ok(private(MM_A, 0x4008))
        );
        // Nothing mapped: EFAULT.
        assert_eq!(key(0x4008, false, MM_A, || Err(EFAULT)), Err(EFAULT));
    }

    fn queue_of(tasks: &[(u32, FutexKey, u32)]) -> (FutexQueues<u32>, Vec<Arc<Waiter<u32>>>) {
        let mut queues = FutexQueues::new();
        let waiters: Vec<_> = tasks
            .iter()
            .map(|&(task, key, bitset)| {
                let w = Waiter::new(task, key, bitset);
                queues.enqueue(&w);
                w
            })
            .collect();
        (queues, waiters)
    }

    #[test]
    fn wake_takes_at_most_n_waiters_of_that_futex() {
        // FUTEX_WAKE: "wakes at most val of the waiters that are waiting on
        // the futex word"; returns the number woken. (Linux gives no order
        // among equal-priority waiters; the sentry wakes the oldest.)
        let f = private(MM_A, 0x100);
        let g = private(MM_A, 0x104);
        let (mut queues, waiters) = queue_of(&[
            (1, f, u32::MAX),
            (2, g, u32::MAX),
            (3, f, u32::MAX),
            (4, f, u32::MAX),
        ]);
        assert_eq!(queues.wake(f, 2, u32::MAX), [1, 3]);
        assert!(waiters[0].woken() && waiters[2].woken());
        assert!(!waiters[1].woken() && !waiters[3].woken());
        assert_eq!(queues.wake(f, 0, u32::MAX), [] as [u32; 0]);
        assert_eq!(queues.wake(f, u64::MAX, u32::MAX), [4]);
        assert!(!queues.has_waiters(f));
        assert!(queues.has_waiters(g));
        assert_eq!(
            queues.wake(private(MM_B, 0x104), 1, u32::MAX),
            [] as [u32; 0]
        );
        assert_eq!(queues.wake(g, 1, u32::MAX), [2]);
    }

    #[test]
    fn bitsets_select_waiters() {
        // FUTEX_WAKE_BITSET wakes only waiters whose FUTEX_WAIT_BITSET mask
        // has a bit in common with its own.
        let f = private(MM_A, 0x100);
        let (mut queues, _) = queue_of(&[(1, f, 0b01), (2, f, 0b10), (3, f, 0b11)]);
        assert_eq!(queues.wake(f, 10, 0b10), [2, 3]);
        assert_eq!(queues.wake(f, 10, 0b10), [] as [u32; 0]);
        assert_eq!(queues.wake(f, 10, u32::MAX), [1]);
    }

    #[test]
    fn requeue_moves_waiters_to_the_second_futex() {
        // FUTEX_CMP_REQUEUE: wakes up to val waiters, then moves up to val2
        // of the rest to uaddr2, where a wake of uaddr2 finds them.
        let (f, g) = (private(MM_A, 0x100), private(MM_A, 0x200));
        let (mut queues, waiters) = queue_of(&[
            (1, f, u32::MAX),
            (2, f, u32::MAX),
            (3, f, u32::MAX),
            (4, f, u32::MAX),
            (9, g, u32::MAX),
        ]);
        assert_eq!(queues.wake(f, 1, u32::MAX), [1]);
        assert_eq!(queues.requeue(f, g, 2), 2);
        assert_eq!(queues.requeue(f, f, 5), 0, "onto itself: nothing moves");
        assert_eq!(queues.wake(f, 10, u32::MAX), [4]);
        // The moved waiters queue behind g's own.
        assert_eq!(queues.wake(g, 10, u32::MAX), [9, 2, 3]);
        assert!(waiters[1].woken());
        assert_eq!(queues.requeue(f, g, 1), 0, "no waiters left");
    }

    #[test]
    fn a_waiter_that_gives_up_leaves_its_queue() {
        // A timed-out or interrupted waiter is no longer woken; one a wake
        // got first reports that (it then returns 0, not ETIMEDOUT).
        let (f, g) = (private(MM_A, 0x100), private(MM_A, 0x200));
        let (mut queues, waiters) = queue_of(&[(1, f, u32::MAX), (2, f, u32::MAX)]);
        // Cancel finds a requeued waiter under its new key.
        queues.requeue(f, g, 1);
        assert!(queues.cancel(&waiters[0]));
        assert!(!queues.has_waiters(g));
        assert!(!queues.cancel(&waiters[0]));
        assert_eq!(queues.wake(f, 1, u32::MAX), [2]);
        assert!(!queues.cancel(&waiters[1]));
        assert!(!queues.has_waiters(f));
    }
}
