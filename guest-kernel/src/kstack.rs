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
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::arch::paging::{kernel_page_table, KERNEL_STACKS_BASE};
use crate::arch::{UserContext, PAGE_SIZE};
use crate::mm::pagetable::PageAccess;

/// Bytes of kernel stack per task. The deepest handler paths (exec, path
/// walks, signal frames) use well under half of it.
pub const KERNEL_STACK_SIZE: usize = 64 * 1024;
/// Written at the bottom of every kernel stack and checked at each switch,
/// so an overflow that jumps past the guard page is still reported.
const STACK_CANARY: u64 = 0x5354_4143_4b5f_454e;
/// Each stack's slot in the kernel stacks' region: an unmapped guard page,
/// then the stack. Running off the end of a stack faults on the guard page
/// instead of overwriting whatever lies below.
const SLOT_SPAN: u64 = KERNEL_STACK_SIZE as u64 + PAGE_SIZE;
/// Slots at most: one per task, plus room for stacks still being freed.
const MAX_SLOTS: usize = crate::sentry::sched::MAX_TASKS + 64;
/// Freed stacks kept mapped for the next task (fork and exit then change
/// no kernel page table: on pvm every such store is a trapped write).
const CACHED_SLOTS: usize = 32;

/// The physical address of each slot's stack while it is mapped (0 when
/// not): a stack is physically contiguous kernel-heap memory, so a buffer
/// on it can be handed to the host by physical address like any other
/// kernel object (`arch::kernel_virt_to_phys`).
static SLOT_PHYS: [AtomicU64; MAX_SLOTS] = [const { AtomicU64::new(0) }; MAX_SLOTS];

/// A stack's memory: page-aligned so that its pages can be mapped again in
/// the stacks' region.
const STACK_LAYOUT: Layout = match Layout::from_size_align(KERNEL_STACK_SIZE, 4096) {
    Ok(layout) => layout,
    Err(_) => panic!("bad kernel stack layout"),
};

/// The physical address behind `addr` when it lies on a kernel stack.
pub fn stack_virt_to_phys(addr: u64) -> Option<u64> {
    let offset = addr.checked_sub(KERNEL_STACKS_BASE)?;
    let slot = usize::try_from(offset / SLOT_SPAN).ok()?;
    let in_slot = offset % SLOT_SPAN;
    let phys = SLOT_PHYS.get(slot)?.load(Ordering::Acquire);
    (phys != 0 && in_slot >= PAGE_SIZE).then(|| phys + in_slot - PAGE_SIZE)
}

/// The slots of the kernel stacks' region. Its page tables change only
/// under this lock.
struct Slots {
    /// Slots below this index have been used.
    used: usize,
    /// Used slots whose stack pages are still mapped, ready to reuse.
    mapped_free: Vec<usize>,
    /// Used slots whose pages were given back.
    unmapped_free: Vec<usize>,
}

static SLOTS: spin::Mutex<Slots> = spin::Mutex::new(Slots {
    used: 0,
    mapped_free: Vec::new(),
    unmapped_free: Vec::new(),
});

/// Prepares the kernel stacks' region in the boot kernel page table (before
/// any address space copies the kernel half).
pub fn init(boot_info: &boards::bootinfo::BootInfo) {
    #[cfg(target_arch = "x86_64")]
    let kernel_root = boot_info.page_table_root;
    #[cfg(target_arch = "aarch64")]
    let kernel_root = {
        let _ = boot_info;
        crate::arch::boot::kernel_root()
    };
    assert!(
        crate::arch::paging::init_kernel_region(kernel_root),
        "no memory for the kernel stacks' page table"
    );
}

/// What a kernel fault at `addr` means when it is a guard page's, for the
/// panic message ("" otherwise).
pub fn describe_fault(addr: u64) -> &'static str {
    let offset = addr.wrapping_sub(KERNEL_STACKS_BASE);
    if offset < MAX_SLOTS as u64 * SLOT_SPAN && offset % SLOT_SPAN < PAGE_SIZE {
        " (a kernel stack overflowed into its guard page)"
    } else {
        ""
    }
}

/// The lowest address of slot `slot`'s stack (its guard page lies below).
fn slot_base(slot: usize) -> u64 {
    KERNEL_STACKS_BASE + slot as u64 * SLOT_SPAN + PAGE_SIZE
}

/// Maps fresh kernel-heap memory under slot `slot`'s stack; false (with
/// nothing left mapped) when memory runs out.
fn map_slot(slot: usize) -> bool {
    // SAFETY: the layout has a non-zero size.
    let memory = unsafe { alloc(STACK_LAYOUT) };
    if memory.is_null() {
        return false;
    }
    let phys = crate::arch::kernel_virt_to_phys(memory as u64);
    // The heap lives in the direct map, where `unmap_slot` finds it again.
    assert_eq!(crate::arch::paging::phys_to_virt(phys), memory);
    let base = slot_base(slot);
    let mut table = kernel_page_table();
    let access = PageAccess {
        readable: true,
        writable: true,
        executable: false,
    };
    for page in 0..(KERNEL_STACK_SIZE as u64 / PAGE_SIZE) {
        let offset = page * PAGE_SIZE;
        let mapped = table.map(base + offset, phys + offset, access, &mut || {
            crate::mm::alloc_table_frame()
        });
        if mapped.is_err() {
            unmap_pages(slot);
            // SAFETY: allocated above with this layout; no longer mapped.
            unsafe { dealloc(memory, STACK_LAYOUT) };
            return false;
        }
    }
    SLOT_PHYS[slot].store(phys, Ordering::Release);
    true
}

fn unmap_pages(slot: usize) {
    let base = slot_base(slot);
    let _ = kernel_page_table().unmap_range(
        base,
        base + KERNEL_STACK_SIZE as u64,
        &mut || None,
        |_| {},
        |_| unreachable!("no blocks in the kernel stacks' region"),
    );
}

/// Gives slot `slot`'s stack memory back to the heap (its tables stay).
fn unmap_slot(slot: usize) {
    let phys = SLOT_PHYS[slot].swap(0, Ordering::AcqRel);
    unmap_pages(slot);
    let memory = crate::arch::paging::phys_to_virt(phys);
    // SAFETY: `map_slot` allocated this memory with STACK_LAYOUT (its
    // direct-map address is the allocation's); its only other mapping, in
    // the stacks' region, is gone, and the slot's stack is not in use.
    unsafe { dealloc(memory, STACK_LAYOUT) };
}

/// A mapped slot for a new stack, or None without memory or slots.
fn take_slot() -> Option<usize> {
    let mut slots = SLOTS.lock();
    if let Some(slot) = slots.mapped_free.pop() {
        return Some(slot);
    }
    let slot = match slots.unmapped_free.pop() {
        Some(slot) => slot,
        None if slots.used < MAX_SLOTS => {
            slots.used += 1;
            slots.used - 1
        }
        None => return None,
    };
    if map_slot(slot) {
        Some(slot)
    } else {
        slots.unmapped_free.push(slot);
        None
    }
}

fn give_back_slot(slot: usize) {
    let mut slots = SLOTS.lock();
    if slots.mapped_free.len() < CACHED_SLOTS {
        slots.mapped_free.push(slot);
    } else {
        unmap_slot(slot);
        slots.unmapped_free.push(slot);
    }
}

/// A task's kernel stack: a slot of the kernel stacks' region, 16-byte
/// aligned, with an unmapped guard page below it.
pub struct KernelStack {
    slot: usize,
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
    /// A stack that, when first switched to, enters user mode with `regs`
    /// (through the architecture's `task_first_entry` and
    /// `sentry::sched::first_run`). None without memory.
    pub fn new(regs: &UserContext) -> Option<Arc<KernelStack>> {
        let slot = take_slot()?;
        let base = slot_base(slot) as *mut u8;
        // SAFETY: the first word of the slot's stack, mapped writable by
        // `take_slot` and used by nobody else (the slot is ours).
        unsafe { (base as *mut u64).write(STACK_CANARY) };
        let top = base as u64 + KERNEL_STACK_SIZE as u64;
        // SAFETY: the mapped stack is ours and far larger than the context
        // and switch frame built at its top.
        let sp = unsafe { crate::arch::entry::initial_kernel_sp(top, regs) };
        Some(Arc::new(KernelStack {
            slot,
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
        // SAFETY: the first word of the slot's stack, mapped while the slot
        // is ours, written only by `new` (an overflow is what this detects).
        unsafe { (self.base as *const u64).read_volatile() != STACK_CANARY }
    }
}

impl Drop for KernelStack {
    fn drop(&mut self) {
        assert!(
            !self.on_cpu.load(Ordering::Acquire),
            "a kernel stack in use is freed"
        );
        // Nothing runs on it (checked) and nothing refers to it any more
        // (we are its last owner): the slot can serve another task.
        give_back_slot(self.slot);
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
