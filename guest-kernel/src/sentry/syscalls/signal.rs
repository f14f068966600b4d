//! Signal syscalls: dispositions, the blocked mask and the alternate stack
//! are recorded (and reported back) exactly; delivery comes with processes.

use super::SyscallContext;
use crate::sentry::errno::*;
use crate::sentry::signal::*;

fn check_sigset_size(size: u64) -> Result<(), Errno> {
    if size != 8 {
        return Err(EINVAL);
    }
    Ok(())
}

pub fn sys_rt_sigaction(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let (signal, new, old, size) = (args[0], args[1], args[2], args[3]);
    check_sigset_size(size)?;
    if signal == 0 || signal as usize > NSIG {
        return Err(EINVAL);
    }
    let index = signal as usize - 1;
    let replacement = if new != 0 {
        if signal == SIGKILL as u64 || signal == SIGSTOP as u64 {
            return Err(EINVAL);
        }
        let mut action: SigAction = ctx.task.mm().read_val(new)?;
        action.mask &= !UNBLOCKABLE;
        Some(action)
    } else {
        None
    };
    if old != 0 {
        let current = ctx.task.signals.actions[index];
        ctx.task.mm().write_val(old, &current)?;
    }
    if let Some(action) = replacement {
        ctx.task.signals.actions[index] = action;
    }
    Ok(0)
}

pub fn sys_rt_sigprocmask(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    const SIG_BLOCK: u64 = 0;
    const SIG_UNBLOCK: u64 = 1;
    const SIG_SETMASK: u64 = 2;
    let (how, new, old, size) = (args[0], args[1], args[2], args[3]);
    check_sigset_size(size)?;
    let current = ctx.task.signals.mask;
    let updated = if new != 0 {
        let set: u64 = ctx.task.mm().read_val(new)?;
        Some(match how {
            SIG_BLOCK => current | set,
            SIG_UNBLOCK => current & !set,
            SIG_SETMASK => set,
            _ => return Err(EINVAL),
        })
    } else {
        None
    };
    if old != 0 {
        ctx.task.mm().write_val(old, &current)?;
    }
    if let Some(mask) = updated {
        ctx.task.signals.mask = mask & !UNBLOCKABLE;
    }
    Ok(0)
}

pub fn sys_sigaltstack(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let (new, old) = (args[0], args[1]);
    let replacement = if new != 0 {
        let stack: SignalStack = ctx.task.mm().read_val(new)?;
        if stack.flags & !(SS_DISABLE | (1 << 31)) != 0 {
            return Err(EINVAL);
        }
        if stack.flags & SS_DISABLE != 0 {
            Some(SignalStack::default())
        } else {
            if stack.size < MINSIGSTKSZ {
                return Err(ENOMEM);
            }
            Some(SignalStack { _pad: 0, ..stack })
        }
    } else {
        None
    };
    if old != 0 {
        let current = ctx.task.signals.altstack;
        ctx.task.mm().write_val(old, &current)?;
    }
    if let Some(stack) = replacement {
        ctx.task.signals.altstack = stack;
    }
    Ok(0)
}
