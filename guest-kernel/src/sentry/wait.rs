//! Wait queues: the tasks waiting for something an object will announce
//! (data in a pipe, room in it, an eventfd's count, a peer opening a FIFO,
//! an unlock). A waiter adds itself before it blocks and removes itself
//! after; the object wakes every waiter when its state changes, and each
//! waiter looks again at what it waits for. A wake costs in proportion to
//! the waiters of that one object, never to every task of the sandbox.
//!
//! The queue holds its waiters weakly and wakes them through [`Wake`]
//! (the scheduler's task cells implement it), so it has no kernel
//! dependencies: `sentry-host-tests` runs it on the host.

use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;

use spin::Mutex;

/// Something a wait queue can wake: a blocked task.
pub trait Wake: Send + Sync {
    /// Makes the task runnable (nothing when it is not blocked).
    fn wake(self: Arc<Self>);
}

#[derive(Default)]
pub struct WaitQueue {
    waiters: Mutex<Vec<Weak<dyn Wake>>>,
}

/// Whether `waiter` is `task` (the same allocation).
fn same(waiter: &Weak<dyn Wake>, task: *const ()) -> bool {
    waiter.as_ptr().cast::<()>() == task
}

impl WaitQueue {
    pub const fn new() -> WaitQueue {
        WaitQueue {
            waiters: Mutex::new(Vec::new()),
        }
    }

    /// Adds `task` (once, however often it is added).
    pub fn add<T: Wake + 'static>(&self, task: &Arc<T>) {
        let ptr = Arc::as_ptr(task).cast::<()>();
        let mut waiters = self.waiters.lock();
        if !waiters.iter().any(|w| same(w, ptr)) {
            let weak: Weak<dyn Wake> = Arc::downgrade(task) as Weak<dyn Wake>;
            waiters.push(weak);
        }
    }

    /// Removes `task`, and waiters that no longer exist.
    pub fn remove<T: Wake + 'static>(&self, task: &Arc<T>) {
        let ptr = Arc::as_ptr(task).cast::<()>();
        self.waiters
            .lock()
            .retain(|w| !same(w, ptr) && w.strong_count() > 0);
    }

    /// Wakes every waiter (they stay on the queue until they stop waiting).
    pub fn wake_all(&self) {
        // Take the list out first: waking takes the scheduler's lock, and a
        // waiter may be woken for another reason and remove itself.
        let waiters: Vec<Arc<dyn Wake>> = {
            let waiters = self.waiters.lock();
            if waiters.is_empty() {
                return;
            }
            waiters.iter().filter_map(Weak::upgrade).collect()
        };
        for task in waiters {
            task.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::sync::atomic::{AtomicUsize, Ordering};

    /// A stand-in for a task: counts its wakes.
    #[derive(Default)]
    struct Task {
        wakes: AtomicUsize,
    }

    impl Wake for Task {
        fn wake(self: Arc<Self>) {
            self.wakes.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn wakes(task: &Task) -> usize {
        task.wakes.load(Ordering::Relaxed)
    }

    #[test]
    fn every_waiter_is_woken_once_per_wake() {
        let queue = WaitQueue::new();
        let (a, b) = (Arc::new(Task::default()), Arc::new(Task::default()));
        queue.wake_all();
        queue.add(&a);
        queue.add(&a);
        queue.add(&b);
        queue.wake_all();
        assert_eq!((wakes(&a), wakes(&b)), (1, 1), "added twice, woken once");
        // Waiters stay until they stop waiting.
        queue.wake_all();
        assert_eq!((wakes(&a), wakes(&b)), (2, 2));
        queue.remove(&a);
        queue.wake_all();
        assert_eq!((wakes(&a), wakes(&b)), (2, 3));
        queue.remove(&b);
        queue.wake_all();
        assert_eq!(wakes(&b), 3);
    }

    #[test]
    fn a_wake_reaches_only_that_queues_waiters() {
        // Wakeups cost in proportion to the tasks woken: a queue knows only
        // its own waiters.
        let (pipe, eventfd) = (WaitQueue::new(), WaitQueue::new());
        let tasks: Vec<Arc<Task>> = (0..100).map(|_| Arc::new(Task::default())).collect();
        for task in &tasks {
            eventfd.add(task);
        }
        pipe.add(&tasks[7]);
        pipe.wake_all();
        let woken: Vec<usize> = (0..100).filter(|&i| wakes(&tasks[i]) > 0).collect();
        assert_eq!(woken, [7]);
    }

    #[test]
    fn ended_tasks_are_skipped_and_dropped() {
        // The queue does not keep a task alive; one that ended while queued
        // is not woken, and leaves the queue at the next removal.
        let queue = WaitQueue::new();
        let gone = Arc::new(Task::default());
        let stays = Arc::new(Task::default());
        queue.add(&gone);
        queue.add(&stays);
        let weak = Arc::downgrade(&gone);
        drop(gone);
        assert_eq!(weak.strong_count(), 0);
        queue.wake_all();
        assert_eq!(wakes(&stays), 1);
        queue.remove(&stays);
        assert!(queue.waiters.lock().is_empty());
    }
}
