//! Kernel stacks and the switch between them.
//!
//! Every task runs its syscalls and traps on its own [`KernelStack`]. This
//! module owns the only code that moves the CPU from one stack to another,
//! and the invariants that make that sound, so the scheduler above it
//! (`sentry::sched`) is safe code:
//! - a stack's saved stack pointer is written only here (built when the
//!   stack is made, saved when it is switched away from), so switching to a
//!   stack that is not running resumes exactly where it stopped;
//! - a stack runs on at most one CPU (`on_cpu`, claimed before the switch
//!   and released by the next stack once the switch is complete);
//! - the running stack is held by a strong reference until the stack
//!   switched to has finished the switch, so no stack is freed while in use
//!   (an ended task's stack is freed by the next one to run).

use alloc::alloc::{alloc, dealloc, Layout};
use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::arch::UserContext;

/// Bytes of kernel stack per task. The deepest handler paths (exec, path
/// walks, signal frames) use well under half of it.
pub const KERNEL_STACK_SIZE: usize = 64 * 1024;
/// Written at the bottom of every kernel stack and checked at each switch,
/// so an overflow is reported instead of silently corrupting the heap.
const STACK_CANARY: u64 = 0x5354_4143_4b5f_454e;

/// A task's kernel stack (heap memory, 16-byte aligned).
pub struct KernelStack {
    base: *mut u8,
    /// The stack pointer while the stack is switched out.
    saved_sp: AtomicU64,
    /// Whether a CPU runs on this stack (or is switching away from it).
    on_cpu: AtomicBool,
}

// SAFETY: the stack memory is touched only by the CPU running on it (one at
// a time, see `on_cpu`) and by `Drop` once nothing runs on it; the other
// fields are atomics.
unsafe impl Send for KernelStack {}
// SAFETY: as above; shared references touch only the atomics and the canary
// word, which no code on the stack writes.
unsafe impl Sync for KernelStack {}

impl KernelStack {
    const LAYOUT: Layout = match Layout::from_size_align(KERNEL_STACK_SIZE, 16) {
        Ok(layout) => layout,
        Err(_) => panic!("bad kernel stack layout"),
    };

    /// A stack that, when first switched to, enters user mode with `regs`
    /// (through the architecture's `task_first_entry` and
    /// `sentry::sched::first_run`). None without memory.
    pub fn new(regs: &UserContext) -> Option<Arc<KernelStack>> {
        // SAFETY: the layout has a non-zero size.
        let base = unsafe { alloc(Self::LAYOUT) };
        if base.is_null() {
            return None;
        }
        // SAFETY: the first word of the fresh allocation.
        unsafe { (base as *mut u64).write(STACK_CANARY) };
        let top = base as u64 + KERNEL_STACK_SIZE as u64;
        // SAFETY: the fresh stack is ours and far larger than the context
        // and switch frame built at its top.
        let sp = unsafe { crate::arch::entry::initial_kernel_sp(top, regs) };
        Some(Arc::new(KernelStack {
            base,
            saved_sp: AtomicU64::new(sp),
            on_cpu: AtomicBool::new(false),
        }))
    }

    pub fn top(&self) -> u64 {
        self.base as u64 + KERNEL_STACK_SIZE as u64
    }

    /// True when the stack has grown past its end (the canary is gone).
    pub fn overflowed(&self) -> bool {
        // SAFETY: the first word of the live allocation, written only by
        // `new` (an overflow is what this detects).
        unsafe { (self.base as *const u64).read_volatile() != STACK_CANARY }
    }
}

impl Drop for KernelStack {
    fn drop(&mut self) {
        assert!(
            !self.on_cpu.load(Ordering::Acquire),
            "a kernel stack in use is freed"
        );
        // SAFETY: allocated in `new` with the same layout; nothing runs on
        // it (checked) and nothing refers to it any more (we are its last
        // owner).
        unsafe { dealloc(self.base, Self::LAYOUT) }
    }
}

/// Switches from the running stack to `to`; returns when something
/// switches back to the running stack.
pub fn switch(to: Arc<KernelStack>) {
    let cpu = crate::percpu::this_cpu();
    let from = cpu
        .running_stack
        .lock()
        .replace(to.clone())
        .expect("a stack runs before the first switch between stacks");
    assert!(
        !Arc::ptr_eq(&from, &to),
        "a switch from a kernel stack to itself"
    );
    claim(&to);
    let save = from.saved_sp.as_ptr();
    let next = to.saved_sp.load(Ordering::Acquire);
    drop(to);
    // `from` stays alive as the CPU's left stack until the stack switched to has taken
    // over (see `complete`).
    let previous = cpu.left_stack.lock().replace(from);
    assert!(previous.is_none(), "a kernel stack switch left incomplete");
    // SAFETY: `next` was built by `new` or saved by the last switch away
    // from `to` (it is written nowhere else), and `to` was not running
    // (claimed above); the CPU's running stack keeps `to` alive while it runs. `save`
    // points into `from`, kept alive as the CPU's left stack until the switch completes.
    unsafe { crate::arch::entry::switch_stack(save, next) };
    complete();
}

/// Switches from the boot stack to `first`, for good.
pub fn start(first: Arc<KernelStack>) -> ! {
    claim(&first);
    let cpu = crate::percpu::this_cpu();
    let next = first.saved_sp.load(Ordering::Acquire);
    let previous = cpu.running_stack.lock().replace(first);
    assert!(previous.is_none(), "the first task started twice");
    // SAFETY: `next` was built by `new` for `first`, which the CPU's running stack keeps
    // alive; the boot stack's pointer goes to a static and is never used.
    unsafe { crate::arch::entry::switch_stack(cpu.boot_sp.as_ptr(), next) };
    unreachable!("the boot stack is never switched back to")
}

/// What a stack does first once it runs after a switch (also called at the
/// start of a task's life): the stack left behind is released.
pub fn complete() {
    let left = crate::percpu::this_cpu().left_stack.lock().take();
    if let Some(left) = left {
        left.on_cpu.store(false, Ordering::Release);
    }
}

fn claim(stack: &KernelStack) {
    let free = stack
        .on_cpu
        .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire);
    assert!(free.is_ok(), "a switch to a kernel stack that is running");
}
