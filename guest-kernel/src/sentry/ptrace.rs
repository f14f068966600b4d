//! ptrace: the tracee's side. A traced thread stops (Linux's ptrace_stop)
//! at signal delivery, at group stops, around syscalls (PTRACE_SYSCALL)
//! and at PTRACE_EVENT points: it records the report for its tracer's
//! wait, leaves a copy of its registers for the tracer to read and change,
//! sends the tracer SIGCHLD (CLD_TRAPPED) and blocks until the tracer
//! resumes it (or it is killed). The requests themselves are
//! `syscalls/ptrace.rs`; wait4/waitid take the reports (`sched`).

use alloc::vec::Vec;

use crate::arch::ptrace::{self as archp, ExtraRegs};
use crate::arch::UserContext;
use crate::sentry::sched::{self, TaskRef};
use crate::sentry::signal::{SigInfo, SIGCHLD, SIGKILL, SIGTRAP};

pub const PTRACE_O_TRACESYSGOOD: u32 = 1;
pub const PTRACE_O_TRACEFORK: u32 = 2;
pub const PTRACE_O_TRACEVFORK: u32 = 4;
pub const PTRACE_O_TRACECLONE: u32 = 8;
pub const PTRACE_O_TRACEEXEC: u32 = 0x10;
pub const PTRACE_O_TRACEVFORKDONE: u32 = 0x20;
pub const PTRACE_O_TRACEEXIT: u32 = 0x40;
pub const PTRACE_O_EXITKILL: u32 = 0x10_0000;
/// Every option Linux knows (PTRACE_O_MASK, seccomp ones included).
pub const PTRACE_O_MASK: u32 = 0x30_00ff;

pub const PTRACE_EVENT_FORK: u32 = 1;
pub const PTRACE_EVENT_VFORK: u32 = 2;
pub const PTRACE_EVENT_CLONE: u32 = 3;
pub const PTRACE_EVENT_EXEC: u32 = 4;
pub const PTRACE_EVENT_VFORK_DONE: u32 = 5;
pub const PTRACE_EVENT_EXIT: u32 = 6;
pub const PTRACE_EVENT_SECCOMP: u32 = 7;
pub const PTRACE_EVENT_STOP: u32 = 128;

/// CLD_TRAPPED: the SIGCHLD code of a ptrace stop.
const CLD_TRAPPED: i32 = 4;

/// A thread's ptrace state (in its `TaskCell`, where the tracer reaches
/// it without the tracee's `Task`).
#[derive(Default)]
pub struct Tracee {
    /// The tracing process and thread (0: not traced).
    pub tracer: i32,
    pub tracer_tid: i32,
    /// Attached with PTRACE_SEIZE (no SIGSTOP at attach; PTRACE_EVENT_STOP
    /// for group stops and PTRACE_INTERRUPT).
    pub seized: bool,
    pub options: u32,
    /// In a ptrace stop: the tracer may look at it and resume it.
    pub stopped: bool,
    /// The stop's code (wait status >> 8) until the tracer waits for it.
    pub report: Option<u32>,
    /// Set by the tracer to end the stop: the signal to deliver (0: none).
    pub resume: Option<u8>,
    /// The registers while stopped (the tracer reads and writes these; the
    /// tracee takes them back when it resumes).
    pub regs: Option<UserContext>,
    pub extra: ExtraRegs,
    pub fpregs: Vec<u8>,
    pub regs_dirty: bool,
    pub fpregs_dirty: bool,
    /// The siginfo of a signal-delivery, syscall or event stop (GETSIGINFO;
    /// a group stop has none).
    pub siginfo: Option<SigInfo>,
    /// PTRACE_GETEVENTMSG.
    pub event_msg: u64,
    /// x86_64 debug registers as the tracer set them.
    pub debugreg: [u64; 8],
    /// Resumed with PTRACE_SYSCALL: stop at the next syscall entry/exit.
    pub syscall_trace: bool,
    /// Resumed with PTRACE_SINGLESTEP.
    pub single_step: bool,
    /// A PTRACE_EVENT stop to make once the current syscall is done
    /// (fork, vfork, clone, exec): (event, message).
    pub pending_event: Option<(u32, u64)>,
    /// PTRACE_INTERRUPT asked for a stop (seized tracees).
    pub interrupt: bool,
    /// The stop is a group stop a tracer attached to (ATTACH to a stopped
    /// process): the tracee is still parked in its job-control wait.
    pub attached_to_stopped: bool,
    /// PTRACE_EVENT_EXIT was reported (it is made once).
    pub exit_reported: bool,
    /// Between a syscall-entry stop and the end of that syscall: orig_rax
    /// is the number the tracer left.
    pub in_syscall: bool,
}

impl Tracee {
    pub fn traced(&self) -> bool {
        self.tracer != 0
    }

    /// Forgets the tracer (detach, the tracer's exit); the rest of the
    /// thread's debug state stays, as on Linux.
    pub fn unlink(&mut self) {
        self.tracer = 0;
        self.tracer_tid = 0;
        self.seized = false;
        self.options = 0;
        self.report = None;
        self.syscall_trace = false;
        self.single_step = false;
        self.pending_event = None;
        self.interrupt = false;
    }
}

/// A vfork parent's child has exec'd or ended: PTRACE_EVENT_VFORK_DONE
/// under PTRACE_O_TRACEVFORKDONE (message: the child's id).
pub fn vfork_done(task: &mut TaskRef, regs: &mut UserContext, child: i32) {
    let wanted =
        task.signals.traced && task.cell().ptrace.lock().options & PTRACE_O_TRACEVFORKDONE != 0;
    if wanted {
        event_stop(task, regs, PTRACE_EVENT_VFORK_DONE, child as u64);
    }
}

/// Leaves a copy of the registers for the tracer (any stop: ptrace or job
/// control, so that a tracer attaching to a stopped process sees them).
pub fn save_regs(task: &mut TaskRef, regs: &UserContext) {
    let extra = {
        #[cfg(target_arch = "x86_64")]
        {
            archp::extra_regs(task.fs_base, task.gs_base)
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            archp::extra_regs(0, 0)
        }
    };
    let fpregs = archp::save_fpregs(regs);
    let cell = task.cell().clone();
    let nr = cell.syscall.load(core::sync::atomic::Ordering::Relaxed);
    let mut t = cell.ptrace.lock();
    // Inside a syscall stop orig is already the (possibly changed) number.
    let orig = if t.in_syscall {
        t.extra.orig
    } else {
        archp::orig_syscall(regs, nr)
    };
    let forced_tf = core::mem::take(&mut t.extra);
    t.extra = extra;
    t.extra.orig = orig;
    #[cfg(target_arch = "x86_64")]
    {
        t.extra.forced_tf = forced_tf.forced_tf;
        t.extra.selectors = forced_tf.selectors;
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = forced_tf;
    t.regs = Some(*regs);
    t.fpregs = fpregs;
    t.regs_dirty = false;
    t.fpregs_dirty = false;
}

/// Takes back what the tracer changed while the task was stopped.
pub fn restore_regs(task: &mut TaskRef, regs: &mut UserContext) {
    let cell = task.cell().clone();
    let mut t = cell.ptrace.lock();
    let saved = t.regs.take();
    if t.regs_dirty {
        if let Some(saved) = saved {
            *regs = saved;
        }
        #[cfg(target_arch = "x86_64")]
        {
            task.fs_base = t.extra.fs_base;
            task.gs_base = t.extra.gs_base;
        }
        archp::load_tls(&t.extra);
    }
    if t.fpregs_dirty {
        archp::load_fpregs(regs, &t.fpregs);
    }
    t.regs_dirty = false;
    t.fpregs_dirty = false;
    let step = t.single_step;
    let mut extra = t.extra;
    archp::set_single_step(regs, &mut extra, step);
    t.extra = extra;
}

/// Stops the running (traced) task with stop code `code` (the wait
/// status is `code << 8 | 0x7f`) and siginfo `info`, until its tracer
/// resumes it; returns the signal the tracer gave (0: none). Returns 0 at
/// once when the task is not traced; a SIGKILL ends the stop.
pub fn stop(task: &mut TaskRef, regs: &mut UserContext, code: u32, info: Option<SigInfo>) -> u8 {
    let cell = task.cell().clone();
    let tracer = {
        let mut t = cell.ptrace.lock();
        if !t.traced() {
            return 0;
        }
        t.stopped = true;
        t.report = Some(code);
        t.siginfo = info;
        t.resume = None;
        t.tracer
    };
    save_regs(task, regs);
    notify_tracer(tracer, task.tid, task.creds.user[0], code);
    let signal = wait_resumed(task);
    restore_regs(task, regs);
    signal
}

/// Blocks until the tracer resumes the task (or it is killed, or its
/// tracer went away); returns the signal to deliver.
fn wait_resumed(task: &mut TaskRef) -> u8 {
    let cell = task.cell().clone();
    loop {
        {
            let mut t = cell.ptrace.lock();
            if let Some(signal) = t.resume.take() {
                t.stopped = false;
                t.report = None;
                t.attached_to_stopped = false;
                return signal;
            }
            let killed = cell.killed()
                || task.signals.pending() & (1 << (SIGKILL - 1)) != 0
                || task.exiting.is_some();
            if !t.traced() || killed {
                t.stopped = false;
                t.report = None;
                t.attached_to_stopped = false;
                return 0;
            }
        }
        task.unlocked(|| sched::block_current(u64::MAX, false));
    }
}

/// A tracer attached to the task while it was parked in a group stop:
/// it now waits as in a ptrace stop (its registers were saved when it
/// stopped). Returns whether it was such a stop.
pub fn attached_stop(task: &mut TaskRef, regs: &mut UserContext) -> bool {
    if !cell_flag(task, |t| t.attached_to_stopped && t.stopped) {
        return false;
    }
    // Its registers (with what the tracer changed so far) stay where
    // the tracer finds them.
    save_regs(task, regs);
    wait_resumed(task);
    restore_regs(task, regs);
    true
}

fn cell_flag(task: &TaskRef, f: impl FnOnce(&Tracee) -> bool) -> bool {
    f(&task.cell().ptrace.lock())
}

/// SIGCHLD with CLD_TRAPPED to the tracer (unless its SIGCHLD action has
/// SA_NOCLDSTOP), and a wake-up for its waits.
fn notify_tracer(tracer: i32, tid: i32, uid: u32, code: u32) {
    sched::with_parked(tracer, |parent| {
        let action = parent.signals.action(SIGCHLD);
        if action.flags & crate::sentry::signal::SA_NOCLDSTOP == 0 {
            let mut info = SigInfo::from_process(SIGCHLD, CLD_TRAPPED, tid, uid);
            info.fields[1] = (code & 0x7f) as u64;
            parent.signals.send_to_process(info);
        }
    });
    sched::wake_process(tracer);
}

/// Linux's ptrace_signal: a signal about to be delivered to a traced task
/// is shown to the tracer first (signal-delivery stop). Returns the signal
/// to deliver instead: None when the tracer suppressed it, or when the one
/// it gave is blocked (then it is queued again, as Linux does).
pub fn signal_stop(task: &mut TaskRef, regs: &mut UserContext, info: SigInfo) -> Option<SigInfo> {
    let signal = stop(task, regs, info.signo as u32, Some(info));
    if signal == 0 {
        return None;
    }
    // The tracer may have changed the siginfo (PTRACE_SETSIGINFO).
    let (tracer, mut info) = {
        let mut t = task.cell().ptrace.lock();
        (t.tracer, t.siginfo.take().unwrap_or(info))
    };
    if signal as i32 != info.signo {
        let uid = sched::process(tracer).map_or(0, |p| p.view.ids.lock().uid[0]);
        info = SigInfo::from_process(signal, crate::sentry::signal::SI_USER, tracer, uid);
    }
    if task.signals.mask & (1 << (signal - 1)) != 0 {
        task.signals.send(info);
        return None;
    }
    Some(info)
}

/// A group stop of a traced task (a stop signal's default action): a
/// ptrace stop reported with the signal (PTRACE_EVENT_STOP when seized).
pub fn group_stop(task: &mut TaskRef, regs: &mut UserContext, signal: u8) {
    let seized = task.cell().ptrace.lock().seized;
    let code = if seized {
        signal as u32 | PTRACE_EVENT_STOP << 16
    } else {
        signal as u32
    };
    stop(task, regs, code, None);
}

/// A PTRACE_EVENT stop with message `msg` (GETEVENTMSG).
pub fn event_stop(task: &mut TaskRef, regs: &mut UserContext, event: u32, msg: u64) {
    let code = SIGTRAP as u32 | event << 8;
    task.cell().ptrace.lock().event_msg = msg;
    let info = trap_info(task, code);
    stop(task, regs, code, Some(info));
}

/// The siginfo of a syscall or event stop (Linux's ptrace_do_notify).
fn trap_info(task: &TaskRef, code: u32) -> SigInfo {
    SigInfo::from_process(SIGTRAP, code as i32, task.tid, task.creds.user[0])
}

/// Whether the running task stops around its syscalls.
pub fn traces_syscalls(task: &TaskRef) -> bool {
    task.signals.traced && task.cell().ptrace.lock().syscall_trace
}

/// The syscall-entry stop: the tracer sees (and may change) the number
/// (orig_rax) and arguments. Returns the syscall number to run
/// (u64::MAX: skip it, the tracer set orig_rax to -1; the registers then
/// hold the result, -ENOSYS unless the tracer put another).
pub fn syscall_entry(task: &mut TaskRef, regs: &mut UserContext, nr: u64) -> u64 {
    archp::syscall_entry_view(regs);
    {
        let mut t = task.cell().ptrace.lock();
        t.extra.orig = nr;
        t.in_syscall = true;
    }
    let code = syscall_stop_code(task);
    let info = trap_info(task, code);
    let signal = stop(task, regs, code, Some(info));
    deliver_after_syscall_stop(task, signal);
    task.cell().ptrace.lock().extra.orig
}

/// SECCOMP_RET_TRACE for a tracer with PTRACE_O_TRACESECCOMP: a
/// PTRACE_EVENT_SECCOMP stop (GETEVENTMSG: the filter's data), where the
/// tracer may change the number and arguments. Returns the syscall number
/// to run (u64::MAX: skip it; the registers hold the result).
pub fn seccomp_stop(task: &mut TaskRef, regs: &mut UserContext, nr: u64, data: u16) -> u64 {
    archp::syscall_entry_view(regs);
    {
        let mut t = task.cell().ptrace.lock();
        t.extra.orig = nr;
        t.in_syscall = true;
    }
    event_stop(task, regs, PTRACE_EVENT_SECCOMP, data as u64);
    task.cell().ptrace.lock().extra.orig
}

/// The syscall-exit stop (the result is in the registers).
pub fn syscall_exit(task: &mut TaskRef, regs: &mut UserContext) {
    let code = syscall_stop_code(task);
    let info = trap_info(task, code);
    let signal = stop(task, regs, code, Some(info));
    deliver_after_syscall_stop(task, signal);
}

/// The syscall is over (its stops made).
pub fn syscall_done(task: &TaskRef) {
    task.cell().ptrace.lock().in_syscall = false;
}

/// SIGTRAP, with 0x80 under PTRACE_O_TRACESYSGOOD.
fn syscall_stop_code(task: &TaskRef) -> u32 {
    let good = task.cell().ptrace.lock().options & PTRACE_O_TRACESYSGOOD != 0;
    SIGTRAP as u32 | if good { 0x80 } else { 0 }
}

/// A signal given when resuming from a syscall or event stop is sent to
/// the tracee (Linux's ptrace_report_syscall: send_sig).
fn deliver_after_syscall_stop(task: &mut TaskRef, signal: u8) {
    if signal != 0 {
        let tracer = task.cell().ptrace.lock().tracer;
        let info = SigInfo::from_process(signal, crate::sentry::signal::SI_USER, tracer, 0);
        task.signals.send(info);
    }
}

/// The stops a syscall asked for once it is done (fork, clone, exec
/// events), and PTRACE_INTERRUPT.
pub fn after_syscall(task: &mut TaskRef, regs: &mut UserContext) {
    let event = task.cell().ptrace.lock().pending_event.take();
    if let Some((event, msg)) = event {
        event_stop(task, regs, event, msg);
    }
}

/// PTRACE_INTERRUPT (and a seized child's first stop): a
/// PTRACE_EVENT_STOP trap on the way back to user mode.
pub fn interrupt_stop(task: &mut TaskRef, regs: &mut UserContext) -> bool {
    let asked = {
        let mut t = task.cell().ptrace.lock();
        core::mem::take(&mut t.interrupt) && t.traced()
    };
    if asked {
        let code = SIGTRAP as u32 | PTRACE_EVENT_STOP << 8;
        let info = trap_info(task, code);
        stop(task, regs, code, Some(info));
    }
    asked
}

/// PTRACE_EVENT_EXIT (PTRACE_O_TRACEEXIT): the exiting task stops once
/// before it ends, its wait status as the message.
pub fn exit_stop(task: &mut TaskRef, regs: &mut UserContext, status: u32) {
    let wanted = {
        let mut t = task.cell().ptrace.lock();
        let wanted = t.traced() && t.options & PTRACE_O_TRACEEXIT != 0 && !t.exit_reported;
        t.exit_reported = true;
        wanted
    };
    if wanted {
        event_stop(task, regs, PTRACE_EVENT_EXIT, status as u64);
    }
}

/// After a successful execve of a traced task: PTRACE_EVENT_EXEC under
/// PTRACE_O_TRACEEXEC (message: the former thread id), else a SIGTRAP for
/// a tracee attached without PTRACE_SEIZE.
pub fn exec_done(task: &mut TaskRef, old_tid: i32) {
    if !task.signals.traced {
        return;
    }
    let (options, seized) = {
        let t = task.cell().ptrace.lock();
        (t.options, t.seized)
    };
    if options & PTRACE_O_TRACEEXEC != 0 {
        task.cell().ptrace.lock().pending_event = Some((PTRACE_EVENT_EXEC, old_tid as u64));
    } else if !seized {
        task.signals
            .send(SigInfo::new(SIGTRAP, crate::sentry::signal::SI_USER));
    }
}
