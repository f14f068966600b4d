//! Per-CPU state, reached through one per-CPU pointer ([`this_cpu`]).
//!
//! Everything that belongs to "the CPU the code runs on" lives here — the
//! running task, the kernel stack in use and the one just left, a pending
//! tick — so that running the sentry on several vCPUs needs a per-CPU
//! index, not a redesign. One vCPU today: the index is always 0 (with more,
//! it comes from a per-CPU register: GS base on x86_64, TPIDR_EL1 on
//! aarch64).

use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, AtomicU64};

use spin::Mutex;

use crate::kstack::KernelStack;
use crate::sentry::sched::TaskCell;

pub struct PerCpu {
    /// The task running here (set by the scheduler at each switch).
    pub current: Mutex<Option<Arc<TaskCell>>>,
    /// The kernel stack in use, and the one just left (kept alive until
    /// the stack switched to has taken over: see `kstack`).
    pub running_stack: Mutex<Option<Arc<KernelStack>>>,
    pub left_stack: Mutex<Option<Arc<KernelStack>>>,
    /// The boot code's stack pointer, saved when the first task starts
    /// (never resumed).
    pub boot_sp: AtomicU64,
    /// A tick arrived while the sentry ran: it takes effect at the next
    /// return to user mode.
    pub tick_pending: AtomicBool,
}

impl PerCpu {
    const fn new() -> PerCpu {
        PerCpu {
            current: Mutex::new(None),
            running_stack: Mutex::new(None),
            left_stack: Mutex::new(None),
            boot_sp: AtomicU64::new(0),
            tick_pending: AtomicBool::new(false),
        }
    }
}

/// vCPUs the sentry runs on.
const MAX_CPUS: usize = 1;

static CPUS: [PerCpu; MAX_CPUS] = [const { PerCpu::new() }; MAX_CPUS];

/// The state of the CPU this code runs on.
pub fn this_cpu() -> &'static PerCpu {
    &CPUS[0]
}
