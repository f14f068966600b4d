//! Exceptions raised by the application: page faults are resolved (demand
//! paging); anything else, or a fault that cannot be resolved, is a fatal
//! signal. Until signal delivery exists the application then ends as if
//! killed by that signal (exit status 128+N).

use crate::arch::{decode_trap, UserContext, UserTrap};
use crate::hv::console::{exit, ExitKind};
use crate::sentry::errno::{EIO, ENOMEM};
use crate::sentry::mm::Access;
use crate::sentry::signal::*;
use crate::sentry::task::CURRENT;

pub fn handle_user_trap(ctx: &mut UserContext) {
    let mut guard = CURRENT.lock();
    let task = guard.as_mut().expect("a task runs whenever user mode runs");
    let signal = match decode_trap(ctx) {
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
            match task.mm().handle_fault(addr, access) {
                Ok(()) => return,
                Err(e) if e == ENOMEM => {
                    log::warn!("out of guest memory at {addr:#x}: killing the application");
                    let stats = task.exit_stats();
                    exit(ExitKind::Signaled(SIGKILL), &stats);
                }
                Err(e) if e == EIO => {
                    log::info!("bus error at {addr:#x}: past the end of a shared file");
                    SIGBUS
                }
                Err(_) => {
                    log::info!("segmentation fault at {addr:#x} ({access:?})");
                    SIGSEGV
                }
            }
        }
        UserTrap::DivideError | UserTrap::FloatingPoint => SIGFPE,
        UserTrap::InvalidOpcode => SIGILL,
        UserTrap::GeneralProtection => SIGSEGV,
        UserTrap::Breakpoint => SIGTRAP,
        UserTrap::AlignmentCheck => SIGBUS,
        UserTrap::Other(vector) => {
            log::warn!("unexpected exception vector {vector} from user mode");
            SIGSEGV
        }
    };
    log::info!(
        "fatal signal {signal} ({}) at pc {:#x}, sp {:#x}",
        ctx.trap_summary(),
        ctx.pc(),
        ctx.sp()
    );
    let handler = task.signals.actions[signal as usize - 1].handler;
    if handler > 1 {
        log::info!("signal {signal} has a handler, but delivery is not implemented yet");
    }
    task.mm().writeback_all();
    let stats = task.exit_stats();
    exit(ExitKind::Signaled(signal), &stats);
}
