//! Exceptions raised by the application: page faults are resolved (demand
//! paging); anything else, or a fault that cannot be resolved, raises the
//! matching signal, delivered to the program's handler or ending it with
//! 128+N. The VMM's tick interrupt (x86_64) lands here too: it fires
//! interval timers and lets another runnable task have the vCPU.

use crate::arch::{decode_trap, UserContext, UserTrap};
use crate::sentry::errno::{EFAULT, EIO, ENOMEM};
use crate::sentry::mm::{uffd, Access};
use crate::sentry::sched::{self, TaskRef};
use crate::sentry::signal::*;

pub fn handle_user_trap(ctx: &mut UserContext) {
    sched::run_entry(|cell| handle(cell, ctx));
}

fn handle(cell: &alloc::sync::Arc<sched::TaskCell>, ctx: &mut UserContext) -> Option<bool> {
    let mut task = TaskRef::lock(cell);
    let mut ticked = false;
    let info = match decode_trap(ctx) {
        UserTrap::PageFault {
            addr, write, exec, ..
        } => {
            let access = if exec {
                Access::Exec
            } else if write {
                Access::Write
            } else {
                Access::Read
            };
            // A page a userfaultfd provides: wait for it, then take the
            // fault again (the address space is not held meanwhile).
            let userfault = task.mm().userfault(addr, access);
            let mut resolved = match userfault {
                Some((ctx, flags)) => match uffd::wait_for_page(&mut task, &ctx, addr, flags) {
                    uffd::Outcome::Retry => Ok(()),
                    uffd::Outcome::Sigbus => Err(EIO),
                },
                None => task.mm().handle_fault(addr, access),
            };
            if resolved == Err(EFAULT) {
                // Just below a MAP_GROWSDOWN area: it grows to cover it.
                let limit = task.rlimits[crate::sentry::task::RLIMIT_STACK].cur;
                if task.mm().grow_down(addr, limit) {
                    resolved = task.mm().handle_fault(addr, access);
                }
            }
            match resolved {
                Ok(()) => None,
                Err(e) if e == ENOMEM => {
                    log::warn!(
                        "out of guest memory at {addr:#x}: killing process {}",
                        task.pid
                    );
                    terminate(&mut task, SIGKILL);
                    None
                }
                Err(e) if e == EIO => {
                    log::info!("bus error at {addr:#x}: past the end of a shared file, or a userfaultfd with UFFD_FEATURE_SIGBUS");
                    Some(SigInfo::fault(SIGBUS, BUS_ADRERR, addr))
                }
                Err(_) => {
                    log::info!("segmentation fault at {addr:#x} ({access:?})");
                    let code = if task.mm().find(addr).is_some() {
                        SEGV_ACCERR
                    } else {
                        SEGV_MAPERR
                    };
                    Some(SigInfo::fault(SIGSEGV, code, addr))
                }
            }
        }
        UserTrap::DivideError => Some(SigInfo::fault(SIGFPE, FPE_INTDIV, ctx.pc())),
        // The SSE/x87 exception's cause is in MXCSR/FSW; si_code 0 says
        // "not decoded" rather than guessing.
        UserTrap::FloatingPoint => Some(SigInfo::fault(SIGFPE, 0, ctx.pc())),
        UserTrap::InvalidOpcode => Some(SigInfo::fault(SIGILL, ILL_ILLOPN, ctx.pc())),
        // A general protection fault has no address to report (Linux sends
        // SI_KERNEL with si_addr 0).
        UserTrap::GeneralProtection => Some(SigInfo::new(SIGSEGV, SI_KERNEL)),
        UserTrap::Breakpoint => Some(SigInfo::fault(SIGTRAP, TRAP_BRKPT, ctx.pc())),
        UserTrap::AlignmentCheck => Some(SigInfo::fault(SIGBUS, BUS_ADRALN, ctx.pc())),
        // The VMM's tick: interval timers fire below, and another task
        // may get the vCPU (preemption).
        UserTrap::Tick => {
            ticked = true;
            None
        }
        // The VMM published an event: read below, on the way back.
        UserTrap::HostEvent => None,
        UserTrap::Other(vector) => {
            log::warn!("unexpected exception vector {vector} from user mode");
            Some(SigInfo::new(SIGSEGV, SI_KERNEL))
        }
    };
    if let Some(info) = info {
        log::info!(
            "signal {} ({}) at pc {:#x}, sp {:#x}",
            info.signo,
            ctx.trap_summary(),
            ctx.pc(),
            ctx.sp()
        );
        task.signals.force(info);
    }
    if ticked {
        sched::on_tick();
        sched::note_tick();
    }
    return_to_user(task, ctx)
}

/// A timer tick taken while the application ran (aarch64 bare metal; on
/// x86_64 it arrives as `UserTrap::Tick`).
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
pub fn handle_tick(ctx: &mut UserContext) {
    sched::on_tick();
    sched::note_tick();
    sched::run_entry(|cell| return_to_user(TaskRef::lock(cell), ctx));
}

/// The VMM's nudge after it published an event (aarch64 under
/// rvisor-vmm; on x86_64 it arrives as `UserTrap::HostEvent`): the event
/// ring is read on the way back.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
pub fn handle_host_event(ctx: &mut UserContext) {
    sched::run_entry(|cell| return_to_user(TaskRef::lock(cell), ctx));
}

/// The end of every syscall and trap: pending signals are delivered
/// (interval timers fire there), a tick lets the other runnable tasks go
/// first, and a task that ended does its bookkeeping. Returns whether
/// `regs` changed beyond a syscall's result, or None when the task has
/// ended (see `sched::run_entry`).
#[must_use]
pub fn return_to_user(mut task: TaskRef, regs: &mut UserContext) -> Option<bool> {
    let mut changed = false;
    loop {
        // What the VMM told us (a signal sent to rvisor-vmm, stdin
        // readiness): one load when there is nothing.
        if crate::hv::events::pending() {
            crate::hv::events::drain(Some(&mut task));
        }
        // O_ASYNC signals of files that changed.
        if crate::sentry::sigio::pending() {
            crate::sentry::sigio::drain(Some(&mut task));
        }
        if task.signals.traced && !task.cell().killed() {
            // A tracer attached while the task was group-stopped, or asked
            // for a PTRACE_INTERRUPT stop.
            if crate::sentry::ptrace::attached_stop(&mut task, regs)
                || crate::sentry::ptrace::interrupt_stop(&mut task, regs)
            {
                changed = true;
                continue;
            }
        }
        if task.exiting.is_none() && !task.cell().killed() {
            check_cpu_limit(&mut task);
            changed |= deliver_pending(&mut task, regs);
        }
        if let Some(status) = task.exiting {
            if task.signals.traced && !task.cell().killed() {
                crate::sentry::ptrace::exit_stop(&mut task, regs, status);
            }
            let cell = task.cell().clone();
            sched::exit_process(&cell, &mut task, status);
            return None;
        }
        if task.thread_exit || task.cell().killed() {
            crate::sentry::syscalls::futex::clear_child_tid(&mut task);
            return None;
        }
        if task.process.stopped() && !task.signals.traced {
            // Job control: wait for SIGCONT (or SIGKILL), then look at the
            // signals again. The registers are left where a tracer that
            // attaches meanwhile finds them.
            crate::sentry::ptrace::save_regs(&mut task, regs);
            sched::wait_while_stopped(&mut task);
            crate::sentry::ptrace::restore_regs(&mut task, regs);
            changed = true;
            continue;
        }
        if sched::take_tick() {
            task.unlocked(sched::yield_current);
            continue;
        }
        task.leave_sentry();
        return Some(changed);
    }
}
