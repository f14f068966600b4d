//! Wait queues: the tasks waiting for something an object will announce
//! (data in a pipe, room in it, an eventfd's count, a peer opening a FIFO).
//! A waiter adds itself before it blocks and removes itself after; the
//! object wakes every waiter when its state changes, and each waiter looks
//! again at what it waits for. A wake costs in proportion to the waiters
//! of that one object, never to every task of the sandbox.

use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;

use spin::Mutex;

use super::sched::{self, TaskCell};

#[derive(Default)]
pub struct WaitQueue {
    waiters: Mutex<Vec<Weak<TaskCell>>>,
}

impl WaitQueue {
    pub const fn new() -> WaitQueue {
        WaitQueue {
            waiters: Mutex::new(Vec::new()),
        }
    }

    /// Adds `task` (once, however often it is added).
    pub fn add(&self, task: &Arc<TaskCell>) {
        let mut waiters = self.waiters.lock();
        if !waiters.iter().any(|w| w.as_ptr() == Arc::as_ptr(task)) {
            waiters.push(Arc::downgrade(task));
        }
    }

    pub fn remove(&self, task: &Arc<TaskCell>) {
        self.waiters
            .lock()
            .retain(|w| w.as_ptr() != Arc::as_ptr(task) && w.strong_count() > 0);
    }

    /// Wakes every waiter (they stay on the queue until they stop waiting).
    pub fn wake_all(&self) {
        // Take the list out first: waking takes the scheduler's lock, and a
        // waiter may be woken for another reason and remove itself.
        let waiters: Vec<Arc<TaskCell>> = {
            let waiters = self.waiters.lock();
            if waiters.is_empty() {
                return;
            }
            waiters.iter().filter_map(Weak::upgrade).collect()
        };
        for task in &waiters {
            sched::wake(task);
        }
    }
}
