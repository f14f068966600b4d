//! Signal syscalls: dispositions, masks, the alternate stack, sending
//! signals (kill, tkill, tgkill, rt_sigqueueinfo, to this or another
//! process), waiting for them, rt_sigreturn and interval timers. Delivery
//! itself is `sentry::signal`.

use super::SyscallContext;
use crate::sentry::errno::*;
use crate::sentry::landlock;
use crate::sentry::mm::usermem::UserPtr;
use crate::sentry::signal::*;
use crate::sentry::task::Task;

fn check_sigset_size(size: u64) -> Result<(), Errno> {
    if size != 8 {
        return Err(EINVAL);
    }
    Ok(())
}

pub fn sys_rt_sigaction(
    ctx: &mut SyscallContext,
    signal: u64,
    new: u64,
    old: UserPtr<SigAction>,
    size: u64,
) -> SysResult {
    check_sigset_size(size)?;
    if signal == 0 || signal as usize > NSIG {
        return Err(EINVAL);
    }
    let index = signal as usize - 1;
    let replacement = if new != 0 {
        if signal == SIGKILL as u64 || signal == SIGSTOP as u64 {
            return Err(EINVAL);
        }
        let mut action: SigAction = UserPtr::<SigAction>::new(new).read(&mut ctx.task.mm())?;
        action.mask &= !UNBLOCKABLE;
        Some(action)
    } else {
        None
    };
    if !old.is_null() {
        let current = ctx.task.signals.actions.lock()[index];
        old.write(&mut ctx.task.mm(), &current)?;
    }
    if let Some(action) = replacement {
        // Shared by the process's threads (and CLONE_SIGHAND processes).
        ctx.task.signals.actions.lock()[index] = action;
    }
    Ok(0)
}

pub fn sys_rt_sigprocmask(
    ctx: &mut SyscallContext,
    how: u64,
    new: u64,
    old: UserPtr<u64>,
    size: u64,
) -> SysResult {
    const SIG_BLOCK: u64 = 0;
    const SIG_UNBLOCK: u64 = 1;
    const SIG_SETMASK: u64 = 2;
    check_sigset_size(size)?;
    let current = ctx.task.signals.mask;
    let updated = if new != 0 {
        let set: u64 = UserPtr::<u64>::new(new).read(&mut ctx.task.mm())?;
        Some(match how {
            SIG_BLOCK => current | set,
            SIG_UNBLOCK => current & !set,
            SIG_SETMASK => set,
            _ => return Err(EINVAL),
        })
    } else {
        None
    };
    if !old.is_null() {
        old.write(&mut ctx.task.mm(), &current)?;
    }
    if let Some(mask) = updated {
        ctx.task.signals.mask = mask & !UNBLOCKABLE;
    }
    Ok(0)
}

pub fn sys_sigaltstack(ctx: &mut SyscallContext, new: u64, old: u64) -> SysResult {
    let sp = ctx.regs.sp();
    let on_stack = ctx.task.signals.altstack.contains(sp);
    let replacement = if new != 0 {
        let stack: SignalStack = UserPtr::<SignalStack>::new(new).read(&mut ctx.task.mm())?;
        if on_stack {
            return Err(EPERM);
        }
        let mode = stack.flags & !SS_AUTODISARM;
        if mode != 0 && mode != SS_DISABLE && mode != SS_ONSTACK {
            return Err(EINVAL);
        }
        if stack.flags & SS_DISABLE != 0 {
            Some(SignalStack::default())
        } else {
            if stack.size < MINSIGSTKSZ {
                return Err(ENOMEM);
            }
            // SS_ONSTACK is accepted as a synonym of 0 (old programs).
            Some(SignalStack {
                _pad: 0,
                flags: stack.flags & SS_AUTODISARM,
                ..stack
            })
        }
    } else {
        None
    };
    if old != 0 {
        let current = SignalStack {
            flags: ctx.task.signals.altstack_flags(sp),
            ..ctx.task.signals.altstack
        };
        UserPtr::new(old).write(&mut ctx.task.mm(), &current)?;
    }
    if let Some(stack) = replacement {
        ctx.task.signals.altstack = stack;
    }
    Ok(0)
}

/// Signals to any process other than this one: there is no other.
fn check_signal_number(signal: u64) -> Result<Option<u8>, Errno> {
    match signal {
        0 => Ok(None),
        1..=64 => Ok(Some(signal as u8)),
        _ => Err(EINVAL),
    }
}

fn send_to_self(ctx: &mut SyscallContext, signal: Option<u8>, code: i32) -> SysResult {
    if let Some(signal) = signal {
        let pid = ctx.task.pid;
        crate::sentry::sched::job_control_on_send(pid, signal, &mut ctx.task);
        let info = SigInfo::from_process(signal, code, ctx.task.pid, ctx.task.creds.user[0]);
        ctx.task.signals.send_to_process(info);
        // Another thread of this process may be the one to take it.
        crate::sentry::sched::wake_process(pid);
    }
    Ok(0)
}

/// The process `id` names: a thread's id names its process, as Linux's
/// find_vpid makes it for kill and rt_sigqueueinfo (other ids are kept:
/// a zombie's pid, or none).
fn process_of(ctx: &SyscallContext, id: i32) -> i32 {
    if id == ctx.task.tid {
        ctx.task.pid
    } else {
        crate::sentry::sched::process_of_thread(id).unwrap_or(id)
    }
}

/// Linux's kill permission check (kill_ok_by_cred): the sender's real or
/// effective uid is the target's real or saved uid, or it has CAP_KILL;
/// SIGCONT within the sender's session is always allowed. A process that
/// is gone (or a zombie) passes: the caller reports ESRCH or success.
fn may_signal(ctx: &SyscallContext, pid: i32, signal: Option<u8>) -> bool {
    const CAP_KILL: u64 = 1 << 5;
    if pid == ctx.task.pid {
        return true;
    }
    let Some(target) = crate::sentry::sched::process(pid) else {
        return true;
    };
    // Landlock's signal scope holds whatever the capabilities.
    if let Some(domain) = ctx.task.creds.landlock.as_deref() {
        let server = target.view.landlock.lock().clone();
        if landlock::is_scoped(domain, server.as_deref(), landlock::SCOPE_SIGNAL) {
            return false;
        }
    }
    if ctx.task.creds.caps().effective & CAP_KILL != 0 {
        return true;
    }
    if signal == Some(SIGCONT) && target.sid() == ctx.task.sid() {
        return true;
    }
    let ids = target.view.ids.lock().uid;
    let [real, effective, _] = ctx.task.creds.user;
    [real, effective]
        .iter()
        .any(|&u| u == ids[0] || u == ids[2])
}

/// Sends `signal` (None: only checks) to process `pid`; ESRCH when there
/// is no such process (a zombie still counts as one), EPERM when the
/// caller may not signal it.
fn send_to(ctx: &mut SyscallContext, pid: i32, signal: Option<u8>, code: i32) -> SysResult {
    if pid == ctx.task.pid {
        return send_to_self(ctx, signal, code);
    }
    if !may_signal(ctx, pid, signal) {
        return Err(EPERM);
    }
    let info = signal.map(|s| SigInfo::from_process(s, code, ctx.task.pid, ctx.task.creds.user[0]));
    if let Some(signal) = signal {
        crate::sentry::sched::job_control_on_send(pid, signal, &mut ctx.task);
    }
    let found = match info {
        Some(info) => crate::sentry::sched::signal_process(pid, info).is_some(),
        None => crate::sentry::sched::process(pid).is_some(),
    };
    if found || crate::sentry::sched::is_zombie(pid) {
        Ok(0)
    } else {
        Err(ESRCH)
    }
}

/// Sends to every process `select` picks (this one included if it
/// matches); ESRCH when none does.
fn send_to_group(
    ctx: &mut SyscallContext,
    signal: Option<u8>,
    select: impl Fn(&Task) -> bool,
) -> SysResult {
    // As Linux: success if any process got it, else the last error
    // (EPERM for processes the caller may not signal).
    let mut sent = false;
    let mut error = ESRCH;
    for pid in crate::sentry::sched::parked_pids(&select) {
        match send_to(ctx, pid, signal, SI_USER) {
            Ok(_) => sent = true,
            Err(e) => error = e,
        }
    }
    if select(&ctx.task) {
        send_to_self(ctx, signal, SI_USER)?;
        sent = true;
    }
    if sent {
        Ok(0)
    } else {
        Err(error)
    }
}

pub fn sys_kill(ctx: &mut SyscallContext, pid: i32, sig: u64) -> SysResult {
    let signal = check_signal_number(sig)?;
    match pid {
        p if p > 0 => send_to(ctx, process_of(ctx, p), signal, SI_USER),
        0 => {
            let group = ctx.task.pgid();
            send_to_group(ctx, signal, |t| t.pgid() == group)
        }
        // Every process but the first (the sandbox's init), as Linux spares
        // pid 1.
        -1 => send_to_group(ctx, signal, |t| t.pid != crate::sentry::APP_PID),
        p if p == i32::MIN => Err(ESRCH),
        p => send_to_group(ctx, signal, |t| t.pgid() == -p),
    }
}

/// Sends to thread `tid` (of process `tgid`, when given).
fn send_to_thread(
    ctx: &mut SyscallContext,
    tgid: Option<i32>,
    tid: i32,
    signal: Option<u8>,
) -> SysResult {
    if tid == ctx.task.tid && tgid.is_none_or(|g| g == ctx.task.pid) {
        if let Some(signal) = signal {
            let pid = ctx.task.pid;
            crate::sentry::sched::job_control_on_send(pid, signal, &mut ctx.task);
            let info = SigInfo::from_process(signal, SI_TKILL, pid, ctx.task.creds.user[0]);
            ctx.task.signals.send(info);
        }
        return Ok(0);
    }
    let info =
        signal.map(|s| SigInfo::from_process(s, SI_TKILL, ctx.task.pid, ctx.task.creds.user[0]));
    if let Some(signal) = signal {
        // Job control acts on the whole process of the thread.
        if let Some(pid) = crate::sentry::sched::with_parked_thread(tid, |task| task.pid) {
            crate::sentry::sched::job_control_on_send(pid, signal, &mut ctx.task);
        }
    }
    const RLIMIT_SIGPENDING: usize = 11;
    let (client, own_pid) = (ctx.task.creds.landlock.clone(), ctx.task.pid);
    let mut scoped = false;
    let sent = crate::sentry::sched::with_parked_thread(tid, |task| {
        if tgid.is_some_and(|g| g != task.pid) {
            return Some(false);
        }
        // Landlock's signal scope (threads of one process always reach
        // each other).
        if let Some(domain) = client.as_deref() {
            if task.pid != own_pid
                && landlock::is_scoped(
                    domain,
                    task.creds.landlock.as_deref(),
                    landlock::SCOPE_SIGNAL,
                )
            {
                scoped = true;
                return Some(false);
            }
        }
        if let Some(info) = info {
            if !task
                .signals
                .room_for(&info, task.rlimits[RLIMIT_SIGPENDING].cur)
            {
                return None;
            }
            task.signals.send(info);
        }
        Some(true)
    });
    match sent {
        _ if scoped => Err(EPERM),
        Some(None) => Err(EAGAIN),
        Some(Some(true)) => Ok(0),
        _ => Err(ESRCH),
    }
}

pub fn sys_tkill(ctx: &mut SyscallContext, tid: i32, sig: u64) -> SysResult {
    let signal = check_signal_number(sig)?;
    if tid <= 0 {
        return Err(EINVAL);
    }
    send_to_thread(ctx, None, tid, signal)
}

pub fn sys_tgkill(ctx: &mut SyscallContext, tgid: i32, tid: i32, sig: u64) -> SysResult {
    let signal = check_signal_number(sig)?;
    if tgid <= 0 || tid <= 0 {
        return Err(EINVAL);
    }
    send_to_thread(ctx, Some(tgid), tid, signal)
}

/// sigqueue and friends: `signal` with the caller's siginfo to process
/// `pid` (or its thread `tid`). Towards another process only the codes a
/// process may forge (negative, not SI_TKILL) are accepted, as on Linux;
/// EAGAIN when the target's queue is full.
fn queue_info(
    ctx: &mut SyscallContext,
    pid: i32,
    tid: Option<i32>,
    signal: u64,
    uinfo: u64,
) -> SysResult {
    let signal = check_signal_number(signal)?;
    let mut info: SigInfo = UserPtr::<SigInfo>::new(uinfo).read(&mut ctx.task.mm())?;
    if tid.is_some() && (pid <= 0 || tid.is_some_and(|t| t <= 0)) {
        return Err(EINVAL);
    }
    // rt_sigqueueinfo looks `pid` up as Linux's find_vpid does: no such
    // pid (0 and negative ones included) is ESRCH, and a thread's id
    // names its process.
    let pid = match tid {
        Some(_) => pid,
        None if pid <= 0 => return Err(ESRCH),
        None => process_of(ctx, pid),
    };
    let to_self = pid == ctx.task.pid && tid.is_none_or(|t| t == ctx.task.tid);
    if pid != ctx.task.pid && (info.code >= 0 || info.code == SI_TKILL) {
        return Err(EPERM);
    }
    if !may_signal(ctx, pid, signal) {
        return Err(EPERM);
    }
    let Some(signal) = signal else {
        // Only checks that the target exists.
        let exists = to_self
            || match tid {
                Some(t) => {
                    crate::sentry::sched::with_parked_thread(t, |task| task.pid == pid)
                        == Some(true)
                }
                None => crate::sentry::sched::process(pid).is_some(),
            };
        return if exists { Ok(0) } else { Err(ESRCH) };
    };
    info.signo = signal as i32;
    crate::sentry::sched::job_control_on_send(pid, signal, &mut ctx.task);
    let queued = match tid {
        Some(_) if to_self => Some(ctx.task.signals.send(info)),
        Some(t) => crate::sentry::sched::with_parked_thread(t, |task| {
            task.pid == pid && task.signals.send(info)
        }),
        None if pid == ctx.task.pid => {
            let queued = ctx.task.signals.send_to_process(info);
            crate::sentry::sched::wake_process(pid);
            Some(queued)
        }
        None => crate::sentry::sched::signal_process(pid, info),
    };
    match queued {
        Some(true) => Ok(0),
        Some(false) => Err(EAGAIN),
        None if crate::sentry::sched::is_zombie(pid) => Ok(0),
        None => Err(ESRCH),
    }
}

pub fn sys_rt_sigqueueinfo(ctx: &mut SyscallContext, tgid: i32, sig: u64, info: u64) -> SysResult {
    queue_info(ctx, tgid, None, sig, info)
}

pub fn sys_rt_tgsigqueueinfo(
    ctx: &mut SyscallContext,
    tgid: i32,
    tid: i32,
    sig: u64,
    info: u64,
) -> SysResult {
    queue_info(ctx, tgid, Some(tid), sig, info)
}

pub fn sys_rt_sigreturn(ctx: &mut SyscallContext) -> SysResult {
    crate::sentry::signal::sigreturn(&mut ctx.task, ctx.regs);
    ctx.full_return = true;
    // The dispatcher stores this as the return value: the restored one.
    Ok(crate::arch::syscall_result(ctx.regs))
}

pub fn sys_rt_sigpending(ctx: &mut SyscallContext, set: u64, sigsetsize: u64) -> SysResult {
    if sigsetsize > 8 {
        return Err(EINVAL);
    }
    let pending = ctx.task.signals.pending() & ctx.task.signals.mask;
    let bytes = pending.to_le_bytes();
    ctx.task
        .mm()
        .copy_to_user(set, &bytes[..sigsetsize as usize])?;
    Ok(0)
}

/// Waits until a signal interrupts: always EINTR.
fn wait_for_signal(ctx: &mut SyscallContext) -> SysResult {
    loop {
        crate::sentry::signal::wait(&mut ctx.task, &[], u64::MAX, false)?;
    }
}

pub fn sys_pause(ctx: &mut SyscallContext) -> SysResult {
    wait_for_signal(ctx)
}

pub fn sys_rt_sigsuspend(
    ctx: &mut SyscallContext,
    mask: UserPtr<u64>,
    sigsetsize: u64,
) -> SysResult {
    check_sigset_size(sigsetsize)?;
    let mask: u64 = mask.read(&mut ctx.task.mm())?;
    let signals = &mut ctx.task.signals;
    signals.saved_mask = Some(signals.mask);
    signals.mask = mask & !UNBLOCKABLE;
    wait_for_signal(ctx)
}

pub fn sys_rt_sigtimedwait(
    ctx: &mut SyscallContext,
    set_addr: UserPtr<u64>,
    info_addr: UserPtr<SigInfo>,
    timeout_addr: u64,
    size: u64,
) -> SysResult {
    check_sigset_size(size)?;
    let set: u64 = set_addr.read(&mut ctx.task.mm())?;
    let set = set & !UNBLOCKABLE;
    let timeout = if timeout_addr != 0 {
        super::time::read_timespec(ctx, timeout_addr)?
    } else {
        u64::MAX
    };
    let deadline = crate::sentry::signal::wait_deadline(&mut ctx.task, timeout);
    loop {
        let ready = ctx.task.signals.pending() & set;
        if ready != 0 {
            let signal = ready.trailing_zeros() as u8 + 1;
            let info = ctx.task.signals.take(signal);
            if !info_addr.is_null() {
                info_addr.write(&mut ctx.task.mm(), &info)?;
            }
            return Ok(signal as u64);
        }
        let now = crate::sentry::time::monotonic_ns();
        if now >= deadline && timeout != u64::MAX {
            return Err(EAGAIN);
        }
        // Signals in `set` count as awaited even while blocked; anything
        // else deliverable interrupts the wait.
        let saved = ctx.task.signals.mask;
        ctx.task.signals.real_blocked = saved;
        ctx.task.signals.mask &= !set;
        let waited = crate::sentry::signal::wait(&mut ctx.task, &[], deadline, false);
        ctx.task.signals.mask = saved;
        ctx.task.signals.real_blocked = 0;
        match waited {
            Err(e) if ctx.task.signals.pending() & set == 0 => return Err(e),
            _ => {}
        }
        if timeout == 0 {
            return Err(EAGAIN);
        }
    }
}

const ITIMER_REAL: u64 = 0;

fn timeval_ns(tv: [i64; 2]) -> Result<u64, Errno> {
    if tv[0] < 0 || !(0..1_000_000).contains(&tv[1]) {
        return Err(EINVAL);
    }
    Ok((tv[0] as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(tv[1] as u64 * 1000))
}

fn ns_timeval(ns: u64) -> [i64; 2] {
    [
        (ns / 1_000_000_000) as i64,
        ((ns % 1_000_000_000) / 1000) as i64,
    ]
}

/// The current value of timer `which` as an itimerval: interval, left.
fn itimer_value(ctx: &SyscallContext, which: usize) -> [i64; 4] {
    let current = ctx.task.signals.process.timers.lock().itimers[which];
    match current {
        None => [0; 4],
        Some(timer) => {
            let now = crate::sentry::time::monotonic_ns();
            // An expired timer whose signal is still to be generated shows
            // the smallest non-zero value, as Linux does.
            let left = timer.deadline_ns.saturating_sub(now).max(1000);
            let [i0, i1] = ns_timeval(timer.interval_ns);
            let [l0, l1] = ns_timeval(left);
            [i0, i1, l0, l1]
        }
    }
}

fn set_itimer(ctx: &mut SyscallContext, which: usize, interval_ns: u64, value_ns: u64) {
    ctx.task.signals.process.timers.lock().itimers[which] =
        (value_ns != 0).then(|| IntervalTimer {
            deadline_ns: crate::sentry::time::monotonic_ns().saturating_add(value_ns),
            interval_ns,
        });
}

fn check_itimer(which: u64) -> Result<usize, Errno> {
    if which as usize >= ITIMER_COUNT {
        return Err(EINVAL);
    }
    Ok(which as usize)
}

pub fn sys_getitimer(
    ctx: &mut SyscallContext,
    which: u64,
    curr_value: UserPtr<[i64; 4]>,
) -> SysResult {
    let which = check_itimer(which)?;
    let value = itimer_value(ctx, which);
    curr_value.write(&mut ctx.task.mm(), &value)?;
    Ok(0)
}

pub fn sys_setitimer(
    ctx: &mut SyscallContext,
    which: u64,
    new: u64,
    old: UserPtr<[i64; 4]>,
) -> SysResult {
    let which = check_itimer(which)?;
    let replacement = if new != 0 {
        let value: [i64; 4] = UserPtr::<[i64; 4]>::new(new).read(&mut ctx.task.mm())?;
        Some((
            timeval_ns([value[0], value[1]])?,
            timeval_ns([value[2], value[3]])?,
        ))
    } else {
        None
    };
    if !old.is_null() {
        let value = itimer_value(ctx, which);
        old.write(&mut ctx.task.mm(), &value)?;
    }
    // A null new value disarms the timer (Linux accepts it, with a warning).
    let (interval, value) = replacement.unwrap_or((0, 0));
    set_itimer(ctx, which, interval, value);
    Ok(0)
}

pub fn sys_alarm(ctx: &mut SyscallContext, seconds: u32) -> SysResult {
    let seconds = seconds as u64;
    let old = itimer_value(ctx, ITIMER_REAL as usize);
    set_itimer(ctx, ITIMER_REAL as usize, 0, seconds * 1_000_000_000);
    // Seconds left, rounded to nearest, never 0 for an armed timer.
    let (secs, usecs) = (old[2] as u64, old[3] as u64);
    if secs == 0 && usecs == 0 {
        return Ok(0);
    }
    Ok((secs + (usecs >= 500_000) as u64).max(1))
}
