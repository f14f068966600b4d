//! Signal numbers and layouts, and a thread's signal state: dispositions,
//! the blocked mask, pending signals (standard signals coalesce, real-time
//! signals queue in order), the alternate stack and the process's timers.
//! Pure data and rules, with no scheduler, memory or CPU access, so that
//! `sentry-host-tests` runs them on the host; delivery (signal frames),
//! termination and waiting are in `signal.rs`.

// An ABI table: complete on purpose, used or not.
#![allow(dead_code)]

use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::Arc;
use alloc::vec::Vec;

use spin::Mutex;

pub const NSIG: usize = 64;
pub const SIGHUP: u8 = 1;
pub const SIGINT: u8 = 2;
pub const SIGQUIT: u8 = 3;
pub const SIGILL: u8 = 4;
pub const SIGTRAP: u8 = 5;
pub const SIGABRT: u8 = 6;
pub const SIGBUS: u8 = 7;
pub const SIGFPE: u8 = 8;
pub const SIGKILL: u8 = 9;
pub const SIGUSR1: u8 = 10;
pub const SIGSEGV: u8 = 11;
pub const SIGUSR2: u8 = 12;
pub const SIGPIPE: u8 = 13;
pub const SIGALRM: u8 = 14;
pub const SIGTERM: u8 = 15;
pub const SIGCHLD: u8 = 17;
/// The first real-time signal (what the kernel numbers 32; libcs keep
/// 32-34 for themselves and start SIGRTMIN above).
pub const SIGRTMIN: u8 = 32;
/// Signals queued per task at most (Linux's RLIMIT_SIGPENDING is per user
/// and larger; every queued siginfo costs sentry memory).
pub const MAX_QUEUED: usize = 1024;
pub const SIGCONT: u8 = 18;
pub const SIGSTOP: u8 = 19;
pub const SIGTSTP: u8 = 20;
pub const SIGTTIN: u8 = 21;
pub const SIGTTOU: u8 = 22;
pub const SIGURG: u8 = 23;
pub const SIGXCPU: u8 = 24;
pub const SIGXFSZ: u8 = 25;
pub const SIGVTALRM: u8 = 26;
pub const SIGPROF: u8 = 27;
pub const SIGWINCH: u8 = 28;
pub const SIGSYS: u8 = 31;

pub const SIG_DFL: u64 = 0;
pub const SIG_IGN: u64 = 1;

pub const SA_NOCLDSTOP: u64 = 0x1;
pub const SA_NOCLDWAIT: u64 = 0x2;
pub const SA_SIGINFO: u64 = 0x4;
pub const SA_RESTORER: u64 = 0x0400_0000;
pub const SA_ONSTACK: u64 = 0x0800_0000;
pub const SA_RESTART: u64 = 0x1000_0000;
pub const SA_NODEFER: u64 = 0x4000_0000;
pub const SA_RESETHAND: u64 = 0x8000_0000;

pub const SS_ONSTACK: i32 = 1;
pub const SS_DISABLE: i32 = 2;
pub const SS_AUTODISARM: i32 = 1 << 31;
pub const MINSIGSTKSZ: u64 = 2048;

/// `si_code` values.
pub const SI_USER: i32 = 0;
pub const SI_KERNEL: i32 = 0x80;
pub const SI_QUEUE: i32 = -1;
pub const SI_TIMER: i32 = -2;
pub const SI_TKILL: i32 = -6;
pub const SEGV_MAPERR: i32 = 1;
pub const SEGV_ACCERR: i32 = 2;
pub const BUS_ADRALN: i32 = 1;
pub const BUS_ADRERR: i32 = 2;
pub const ILL_ILLOPN: i32 = 2;
pub const FPE_INTDIV: i32 = 1;
pub const TRAP_BRKPT: i32 = 1;

/// The kernel's `struct sigaction` (x86_64 and arm64 agree).
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::Immutable,
)]
pub struct SigAction {
    pub handler: u64,
    pub flags: u64,
    pub restorer: u64,
    pub mask: u64,
}

/// `stack_t`.
#[repr(C)]
#[derive(Clone, Copy, Debug, zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::Immutable)]
pub struct SignalStack {
    pub sp: u64,
    pub flags: i32,
    pub _pad: i32,
    pub size: u64,
}

impl Default for SignalStack {
    fn default() -> Self {
        SignalStack {
            sp: 0,
            flags: SS_DISABLE,
            _pad: 0,
            size: 0,
        }
    }
}

impl SignalStack {
    pub fn enabled(&self) -> bool {
        self.flags & SS_DISABLE == 0 && self.size != 0
    }

    /// Whether `sp` is on this stack (Linux's on_sig_stack).
    pub fn contains(&self, sp: u64) -> bool {
        self.enabled() && sp > self.sp && sp - self.sp <= self.size
    }
}

/// `siginfo_t` on 64-bit Linux: three ints, padding, then a union whose
/// first words are (pid, uid) for kill-style signals and the address for
/// faults.
#[repr(C)]
#[derive(Clone, Copy, Debug, zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::Immutable)]
pub struct SigInfo {
    pub signo: i32,
    pub errno: i32,
    pub code: i32,
    pub _pad: i32,
    pub fields: [u64; 14],
}

const _: () = assert!(core::mem::size_of::<SigInfo>() == 128);

impl SigInfo {
    pub fn new(signo: u8, code: i32) -> SigInfo {
        SigInfo {
            signo: signo as i32,
            errno: 0,
            code,
            _pad: 0,
            fields: [0; 14],
        }
    }

    /// A signal sent by a process: si_pid and si_uid.
    pub fn from_process(signo: u8, code: i32, pid: i32, uid: u32) -> SigInfo {
        let mut info = SigInfo::new(signo, code);
        info.fields[0] = pid as u32 as u64 | (uid as u64) << 32;
        info
    }

    /// A fault: si_addr.
    pub fn fault(signo: u8, code: i32, addr: u64) -> SigInfo {
        let mut info = SigInfo::new(signo, code);
        info.fields[0] = addr;
        info
    }

    /// The faulting address of a fault signal (0 otherwise).
    pub fn fault_address(&self) -> u64 {
        match self.signo as u8 {
            SIGSEGV | SIGBUS | SIGILL | SIGFPE | SIGTRAP if self.code > 0 => self.fields[0],
            _ => 0,
        }
    }
}

/// What SIG_DFL does with a signal.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DefaultAction {
    Terminate,
    /// Terminate with a core dump (the exit status is the same: 128+N).
    Core,
    Ignore,
    Stop,
}

pub fn default_action(signal: u8) -> DefaultAction {
    match signal {
        SIGCHLD | SIGCONT | SIGURG | SIGWINCH => DefaultAction::Ignore,
        SIGSTOP | SIGTSTP | SIGTTIN | SIGTTOU => DefaultAction::Stop,
        SIGQUIT | SIGILL | SIGTRAP | SIGABRT | SIGBUS | SIGFPE | SIGSEGV | SIGXCPU | SIGXFSZ
        | SIGSYS => DefaultAction::Core,
        _ => DefaultAction::Terminate,
    }
}

/// A signal's bit in a mask or pending set (bit n-1 for signal n).
pub(crate) fn bit(signal: u8) -> u64 {
    1 << (signal - 1)
}

/// Bits that can never be blocked.
pub const UNBLOCKABLE: u64 = (1 << (SIGKILL - 1)) | (1 << (SIGSTOP - 1));

/// Signals raised by the instruction stream itself: delivered first.
const SYNCHRONOUS: u64 = (1 << (SIGSEGV - 1))
    | (1 << (SIGBUS - 1))
    | (1 << (SIGILL - 1))
    | (1 << (SIGTRAP - 1))
    | (1 << (SIGFPE - 1))
    | (1 << (SIGSYS - 1));

/// ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF.
pub const ITIMER_COUNT: usize = 3;
const ITIMER_SIGNALS: [u8; ITIMER_COUNT] = [SIGALRM, SIGVTALRM, SIGPROF];

/// An armed interval timer, on the monotonic clock. The process's CPU time
/// advances with wall time here (one thread that never waits for a CPU), so
/// the virtual and profiling timers count the same time as the real one,
/// except that the wait in a blocking call counts too.
#[derive(Clone, Copy, Debug)]
pub struct IntervalTimer {
    pub deadline_ns: u64,
    pub interval_ns: u64,
}

/// A POSIX timer (timer_create), on the monotonic clock like the interval
/// timers (deadlines on other clocks are converted when set).
#[derive(Clone, Copy, Debug)]
pub struct PosixTimer {
    /// The clock it was created on (for absolute times).
    pub clock: u64,
    /// (signal, sigval) to send at expiry; None for SIGEV_NONE.
    pub notify: Option<(u8, u64)>,
    /// SIGEV_THREAD_ID: the thread the signal goes to (else the process:
    /// whichever thread notices the expiry first).
    pub thread: Option<i32>,
    pub deadline_ns: Option<u64>,
    pub interval_ns: u64,
    /// Expirations that did not get a signal of their own, as of the last
    /// signal sent (timer_getoverrun).
    pub overrun: u32,
    /// Periods that passed before the sandbox's monotonic clock began (an
    /// absolute start far in the past): counted at the first expiry.
    pub missed: u64,
}

/// The most POSIX timers a process may hold.
pub const MAX_POSIX_TIMERS: usize = 1024;

/// A disposition per signal: shared by the threads of a process, and with
/// any process created with CLONE_SIGHAND (Linux's sighand_struct).
pub type SigActions = [SigAction; NSIG];

/// Signals pending on one thread (tkill, faults, SIGEV_THREAD_ID timers)
/// or on a whole process (kill, sigqueue, SIGCHLD, its timers): standard
/// signals coalesce, real-time signals queue in order with their siginfo.
#[derive(Default)]
pub struct PendingSignals {
    /// Bit n-1 is set while an instance of signal n is queued in `infos`.
    set: u64,
    /// The siginfo of each pending signal (only pending ones are kept):
    /// one for a standard signal, a queue for a real-time one.
    infos: BTreeMap<u8, VecDeque<SigInfo>>,
    /// Instances queued in `infos`.
    queued: usize,
}

impl PendingSignals {
    pub fn set(&self) -> u64 {
        self.set
    }

    /// Queues `info`: a standard signal already pending is not queued
    /// twice, real-time ones queue up to MAX_QUEUED in all. False when it
    /// was not queued (sigqueue's EAGAIN).
    fn queue(&mut self, info: SigInfo) -> bool {
        let signal = info.signo as u8;
        if self.set & bit(signal) != 0 {
            if signal < SIGRTMIN {
                return true;
            }
            if self.queued >= MAX_QUEUED {
                return false;
            }
        }
        self.set |= bit(signal);
        self.queued += 1;
        self.infos.entry(signal).or_default().push_back(info);
        true
    }

    /// Drops every pending instance of `signal`.
    pub fn discard(&mut self, signal: u8) {
        self.set &= !bit(signal);
        if let Some(queue) = self.infos.remove(&signal) {
            self.queued -= queue.len();
        }
    }

    /// Removes (the oldest instance of) pending `signal` and returns its
    /// info; the signal stays pending while more instances are queued.
    fn take(&mut self, signal: u8) -> SigInfo {
        let info = self.infos.get_mut(&signal).and_then(|q| q.pop_front());
        if info.is_some() {
            self.queued -= 1;
        }
        if self.infos.get(&signal).is_none_or(|q| q.is_empty()) {
            self.infos.remove(&signal);
            self.set &= !bit(signal);
        }
        info.unwrap_or_else(|| SigInfo::new(signal, SI_KERNEL))
    }

    /// The queued signal of POSIX timer `id`, if one is still pending.
    fn timer_info_mut(&mut self, signal: u8, id: i32) -> Option<&mut SigInfo> {
        self.infos
            .get_mut(&signal)?
            .iter_mut()
            .find(|i| i.code == SI_TIMER && i.fields[0] as u32 as i32 == id)
    }
}

/// What the threads of a process share (Linux's signal_struct): the
/// signals sent to the process as a whole, which whichever thread does not
/// block them takes, and the interval and POSIX timers.
#[derive(Default)]
pub struct ProcessSignals {
    pub pending: Mutex<PendingSignals>,
    pub timers: Mutex<ProcessTimers>,
}

/// A thread's view of signals: the shared dispositions and process state,
/// and its own mask, alternate stack and pending signals.
pub struct SignalState {
    pub actions: Arc<Mutex<SigActions>>,
    /// The dispositions are shared with another process (CLONE_SIGHAND
    /// without CLONE_THREAD): execve then takes a private copy first.
    actions_shared_with_processes: bool,
    /// Blocked signals (bit n-1 for signal n).
    pub mask: u64,
    /// The mask to put back once a handler has been set up (or the wait
    /// ended without one): rt_sigsuspend, ppoll and pselect6 wait with a
    /// temporary mask.
    pub saved_mask: Option<u64>,
    pub altstack: SignalStack,
    /// Signals sent to this thread.
    own: PendingSignals,
    /// The process's, shared by its threads.
    pub process: Arc<ProcessSignals>,
    /// The thread is traced (ptrace): no signal counts as ignored, its
    /// tracer sees them all (Linux's sig_ignored).
    pub traced: bool,
    /// The mask before rt_sigtimedwait unblocked the signals it awaits
    /// (Linux's real_blocked): an ignored signal blocked there is still
    /// queued, and wakes the wait, rather than being dropped.
    pub real_blocked: u64,
}

/// A process's timers. Their signals go to the process (or, with
/// SIGEV_THREAD_ID, to one thread).
#[derive(Default)]
pub struct ProcessTimers {
    pub itimers: [Option<IntervalTimer>; ITIMER_COUNT],
    pub posix: BTreeMap<i32, PosixTimer>,
}

impl Default for SignalState {
    fn default() -> Self {
        SignalState::new()
    }
}

/// Synchronous signals first (Linux's dequeue_synchronous_signal), then
/// the lowest number: standard signals before real-time ones.
fn first_of(ready: u64) -> Option<u8> {
    if ready == 0 {
        return None;
    }
    let set = if ready & SYNCHRONOUS != 0 {
        ready & SYNCHRONOUS
    } else {
        ready
    };
    Some(set.trailing_zeros() as u8 + 1)
}

impl SignalState {
    pub fn new() -> SignalState {
        SignalState {
            actions: Arc::new(Mutex::new([SigAction::default(); NSIG])),
            actions_shared_with_processes: false,
            mask: 0,
            saved_mask: None,
            altstack: SignalStack::default(),
            own: PendingSignals::default(),
            process: Arc::new(ProcessSignals::default()),
            traced: false,
            real_blocked: 0,
        }
    }

    /// A new process's (fork, or clone without CLONE_THREAD): dispositions
    /// copied (shared with CLONE_SIGHAND), mask and alternate stack
    /// inherited; nothing pending, no timers.
    pub fn fork_copy(&self, share_actions: bool) -> SignalState {
        let actions = if share_actions {
            self.actions.clone()
        } else {
            Arc::new(Mutex::new(*self.actions.lock()))
        };
        SignalState {
            actions,
            actions_shared_with_processes: share_actions,
            mask: self.mask,
            altstack: self.altstack,
            ..SignalState::new()
        }
    }

    /// Whether another task shares these dispositions (a thread, or a
    /// CLONE_SIGHAND child).
    pub fn actions_shared(&self) -> bool {
        Arc::strong_count(&self.actions) > 1
    }

    /// A new thread's: the process's dispositions, pending signals and
    /// timers, the creator's mask; nothing pending on the thread itself,
    /// no alternate stack.
    pub fn thread_copy(&self) -> SignalState {
        SignalState {
            actions: self.actions.clone(),
            actions_shared_with_processes: self.actions_shared_with_processes,
            mask: self.mask,
            saved_mask: None,
            altstack: SignalStack::default(),
            own: PendingSignals::default(),
            process: self.process.clone(),
            traced: false,
            real_blocked: 0,
        }
    }

    /// execve: handlers go back to SIG_DFL (ignored signals stay ignored),
    /// the alternate stack and POSIX timers go; mask, pending signals and
    /// interval timers stay.
    pub fn reset_for_exec(&mut self) {
        if self.actions_shared_with_processes {
            let copy = *self.actions.lock();
            self.actions = Arc::new(Mutex::new(copy));
            self.actions_shared_with_processes = false;
        }
        for action in self.actions.lock().iter_mut() {
            if action.handler != SIG_IGN {
                *action = SigAction::default();
            }
        }
        self.altstack = SignalStack::default();
        self.process.timers.lock().posix.clear();
    }

    /// The disposition of `signal`.
    pub fn action(&self, signal: u8) -> SigAction {
        self.actions.lock()[signal as usize - 1]
    }

    pub fn set_action(&self, signal: u8, action: SigAction) {
        self.actions.lock()[signal as usize - 1] = action;
    }

    fn ignored(&self, signal: u8) -> bool {
        if self.traced {
            return false;
        }
        match self.action(signal).handler {
            SIG_IGN => true,
            SIG_DFL => default_action(signal) == DefaultAction::Ignore,
            _ => false,
        }
    }

    /// Whether `signal` is dropped when it is generated: ignored and not
    /// blocked by this thread (Linux's sig_ignored, asked of the target).
    fn discarded_at_send(&self, signal: u8) -> bool {
        self.ignored(signal) && (self.mask | self.real_blocked) & bit(signal) == 0
    }

    /// Whether a real-time signal not sent by kill() finds room under
    /// RLIMIT_SIGPENDING (`limit`), counting what this thread and its
    /// process have queued (Linux counts per user; a sandbox is mostly
    /// one). Others always go (at worst without their siginfo).
    pub fn room_for(&self, info: &SigInfo, limit: u64) -> bool {
        let signal = info.signo as u8;
        if signal < SIGRTMIN || info.code == SI_USER || self.discarded_at_send(signal) {
            return true;
        }
        let queued = self.own.queued + self.process.pending.lock().queued;
        (queued as u64) < limit
    }

    /// Makes `signal` pending on this thread (tkill, tgkill, faults).
    /// False when it was not queued (sigqueue's EAGAIN).
    pub fn send(&mut self, info: SigInfo) -> bool {
        if self.discarded_at_send(info.signo as u8) {
            return true;
        }
        self.own.queue(info)
    }

    /// Makes `signal` pending on the process (kill, sigqueue, SIGCHLD,
    /// timers): whichever of its threads does not block it takes it. The
    /// caller wakes the process's waiting threads.
    pub fn send_to_process(&self, info: SigInfo) -> bool {
        if self.discarded_at_send(info.signo as u8) {
            return true;
        }
        self.process.pending.lock().queue(info)
    }

    /// A fault the program cannot ignore or block: a blocked or ignored
    /// fault signal reverts to its default action (Linux's force_sig).
    pub fn force(&mut self, info: SigInfo) {
        let signal = info.signo as u8;
        {
            let mut actions = self.actions.lock();
            let action = &mut actions[signal as usize - 1];
            if self.mask & bit(signal) != 0 || action.handler == SIG_IGN {
                action.handler = SIG_DFL;
                self.mask &= !bit(signal);
            }
        }
        self.own.discard(signal);
        self.send(info);
    }

    /// A signal that must take its default action whatever the handler
    /// and mask say (a seccomp kill: Linux's force_sig_seccomp).
    pub fn force_default(&mut self, info: SigInfo) {
        let signal = info.signo as u8;
        self.actions.lock()[signal as usize - 1].handler = SIG_DFL;
        self.mask &= !bit(signal);
        self.own.discard(signal);
        self.send(info);
    }

    /// Drops every pending instance of `signal`, on the thread and on the
    /// process.
    pub fn discard(&mut self, signal: u8) {
        self.own.discard(signal);
        self.process.pending.lock().discard(signal);
    }

    /// Signals pending on the thread or its process.
    pub fn pending(&self) -> u64 {
        self.own.set | self.process.pending.lock().set
    }

    /// Pending signals the current mask lets through.
    pub fn deliverable(&self) -> u64 {
        self.pending() & !self.mask
    }

    /// Takes the next signal to deliver: the thread's own first, then the
    /// process's (as Linux's dequeue_signal), faults first in each.
    pub fn take_next(&mut self) -> Option<SigInfo> {
        if let Some(signal) = first_of(self.own.set & !self.mask) {
            return Some(self.own.take(signal));
        }
        let mut shared = self.process.pending.lock();
        let signal = first_of(shared.set & !self.mask)?;
        Some(shared.take(signal))
    }

    /// Removes (the oldest instance of) pending `signal`, the thread's
    /// before the process's, and returns its info.
    pub fn take(&mut self, signal: u8) -> SigInfo {
        if self.own.set & bit(signal) != 0 {
            return self.own.take(signal);
        }
        self.process.pending.lock().take(signal)
    }

    /// Whether a blocking call must end with EINTR: a signal that will run
    /// a handler or end the program is deliverable. Deliverable signals that
    /// would be ignored are dropped on the way, as Linux does when it
    /// dequeues them.
    pub fn interrupts(&mut self) -> bool {
        let mut ready = self.deliverable();
        while ready != 0 {
            let signal = ready.trailing_zeros() as u8 + 1;
            ready &= !bit(signal);
            // A stop signal interrupts too: the task stops on its way
            // back to user mode and the call is restarted once it
            // continues (see `restarts_after_handler`).
            if self.ignored(signal) && self.real_blocked & bit(signal) == 0 {
                self.take(signal);
            } else {
                return true;
            }
        }
        false
    }

    /// Generates the signals of the timers expired at monotonic time `now`
    /// (re-arming periodic ones): to the process, or to this thread `tid`
    /// for a POSIX timer aimed at it. Returns the signals of POSIX timers
    /// aimed at other threads (SIGEV_THREAD_ID), which the caller sends:
    /// (target tid, siginfo).
    #[must_use]
    pub fn expire_timers(&mut self, now: u64, tid: i32) -> Vec<(i32, SigInfo)> {
        let mut expired = [false; ITIMER_COUNT];
        {
            let mut timers = self.process.timers.lock();
            for (slot, fired) in timers.itimers.iter_mut().zip(&mut expired) {
                let Some(timer) = *slot else {
                    continue;
                };
                if now < timer.deadline_ns {
                    continue;
                }
                // Overruns collapse into one signal, like Linux's itimers.
                *slot = (now - timer.deadline_ns)
                    .checked_div(timer.interval_ns)
                    .map(|periods_late| IntervalTimer {
                        deadline_ns: timer.deadline_ns + (periods_late + 1) * timer.interval_ns,
                        ..timer
                    });
                *fired = true;
            }
        }
        for (signal, fired) in ITIMER_SIGNALS.into_iter().zip(expired) {
            if fired {
                self.send_to_process(SigInfo::new(signal, SI_KERNEL));
            }
        }
        self.expire_posix_timers(now, tid)
    }

    fn expire_posix_timers(&mut self, now: u64, tid: i32) -> Vec<(i32, SigInfo)> {
        let mut elsewhere = Vec::new();
        let mut sends = Vec::new();
        for (&id, timer) in self.process.timers.lock().posix.iter_mut() {
            let Some(deadline) = timer.deadline_ns.filter(|&d| d <= now) else {
                continue;
            };
            let late = now - deadline;
            let expirations = match late.checked_div(timer.interval_ns) {
                Some(periods) => {
                    timer.deadline_ns = Some(deadline + (periods + 1) * timer.interval_ns);
                    periods + 1
                }
                None => {
                    timer.deadline_ns = None;
                    1
                }
            }
            .saturating_add(core::mem::take(&mut timer.missed));
            if let Some((signal, value)) = timer.notify {
                sends.push((id, signal, value, expirations, timer.thread));
            }
        }
        for (id, signal, value, expirations, thread) in sends {
            if let Some(target) = thread.filter(|&t| t != tid) {
                let overrun = (expirations - 1).min(i32::MAX as u64) as u32;
                let mut info = SigInfo::new(signal, SI_TIMER);
                info.fields[0] = id as u32 as u64 | (overrun as u64) << 32;
                info.fields[1] = value;
                elsewhere.push((target, info));
                continue;
            }
            // Aimed at this thread, or at the process.
            let to_thread = thread.is_some();
            let still_queued = {
                let mut shared = self.process.pending.lock();
                let queue = if to_thread {
                    &mut self.own
                } else {
                    &mut *shared
                };
                queue.timer_info_mut(signal, id).map(|info| {
                    // Still queued from an earlier expiry: count it as overrun.
                    let before = (info.fields[0] >> 32) as u32;
                    let total = before.saturating_add(expirations.min(u32::MAX as u64) as u32);
                    info.fields[0] = (info.fields[0] & 0xffff_ffff) | (total as u64) << 32;
                    total
                })
            };
            let overrun = still_queued.unwrap_or_else(|| {
                let overrun = (expirations - 1).min(i32::MAX as u64) as u32;
                let mut info = SigInfo::new(signal, SI_TIMER);
                info.fields[0] = id as u32 as u64 | (overrun as u64) << 32;
                info.fields[1] = value;
                if to_thread {
                    self.send(info);
                } else {
                    self.send_to_process(info);
                }
                overrun
            });
            if let Some(timer) = self.process.timers.lock().posix.get_mut(&id) {
                timer.overrun = overrun;
            }
        }
        elsewhere
    }

    /// The earliest armed timer deadline.
    pub fn next_timer(&self) -> Option<u64> {
        let timers = self.process.timers.lock();
        let itimers = timers.itimers.iter().flatten().map(|t| t.deadline_ns);
        let posix = timers.posix.values().filter_map(|t| t.deadline_ns);
        itimers.chain(posix).min()
    }

    /// A handler for `signal` (disposition `action`) is about to run, on
    /// the alternate stack when `on_altstack`: the mask becomes the old one
    /// plus sa_mask plus the signal itself (unless SA_NODEFER), SA_RESETHAND
    /// puts SIG_DFL back, and an SS_AUTODISARM stack is disarmed
    /// (sigaction(2), sigaltstack(2)). The wait mask is dropped (the frame
    /// carries the mask to restore).
    pub fn handler_entered(&mut self, signal: u8, action: &SigAction, on_altstack: bool) {
        self.saved_mask = None;
        self.mask |= action.mask;
        if action.flags & SA_NODEFER == 0 {
            self.mask |= bit(signal);
        }
        self.mask &= !UNBLOCKABLE;
        if action.flags & SA_RESETHAND != 0 {
            self.actions.lock()[signal as usize - 1].handler = SIG_DFL;
        }
        if self.altstack.flags & SS_AUTODISARM != 0 && on_altstack {
            self.altstack = SignalStack::default();
        }
    }

    /// `stack_t::ss_flags` as sigaltstack and signal frames report it for
    /// user stack pointer `sp`.
    pub fn altstack_flags(&self, sp: u64) -> i32 {
        if !self.altstack.enabled() {
            SS_DISABLE
        } else if self.altstack.contains(sp) {
            SS_ONSTACK
        } else {
            self.altstack.flags
        }
    }
}

/// Whether the signal about to be delivered runs a handler with
/// SA_RESTART (an interrupted call is then restarted, not EINTR).
pub fn restarts_after_handler(signals: &SignalState) -> bool {
    let ready = signals.deliverable();
    if ready == 0 {
        return true;
    }
    let signal = ready.trailing_zeros() as u8 + 1;
    let action = signals.action(signal);
    if action.handler == SIG_DFL && default_action(signal) == DefaultAction::Stop {
        // No handler runs: after the stop the call simply goes on.
        return true;
    }
    action.handler > SIG_IGN && action.flags & SA_RESTART != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kill()-style siginfo carrying `value` in si_value's place, to tell
    /// instances apart.
    fn info(signal: u8, value: u64) -> SigInfo {
        let mut info = SigInfo::from_process(signal, SI_QUEUE, 7, 1000);
        info.fields[1] = value;
        info
    }

    fn handler(flags: u64, mask: u64) -> SigAction {
        SigAction {
            handler: 0x1000,
            flags,
            restorer: 0,
            mask,
        }
    }

    fn delivery_order(signals: &mut SignalState) -> Vec<(u8, u64)> {
        core::iter::from_fn(|| signals.take_next())
            .map(|i| (i.signo as u8, i.fields[1]))
            .collect()
    }

    #[test]
    fn siginfo_has_the_kernel_layout() {
        // struct siginfo is 128 bytes; si_pid and si_uid are the first
        // words of the union, at offsets 16 and 20.
        let info = SigInfo::from_process(SIGUSR1, SI_USER, 42, 1000);
        let bytes = zerocopy::IntoBytes::as_bytes(&info);
        assert_eq!(bytes.len(), 128);
        assert_eq!(&bytes[0..4], &(SIGUSR1 as i32).to_ne_bytes());
        assert_eq!(&bytes[16..20], &42i32.to_ne_bytes());
        assert_eq!(&bytes[20..24], &1000u32.to_ne_bytes());
        assert_eq!(
            SigInfo::fault(SIGSEGV, SEGV_MAPERR, 0xdead).fault_address(),
            0xdead
        );
        // A SIGSEGV sent by kill (si_code <= 0) has no fault address.
        let sent = SigInfo::from_process(SIGSEGV, SI_USER, 42, 1000);
        assert_eq!(sent.fault_address(), 0);
    }

    #[test]
    fn default_actions_are_those_of_signal_7() {
        for s in [SIGCHLD, SIGCONT, SIGURG, SIGWINCH] {
            assert_eq!(default_action(s), DefaultAction::Ignore, "signal {s}");
        }
        for s in [SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU] {
            assert_eq!(default_action(s), DefaultAction::Stop, "signal {s}");
        }
        for s in [
            SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGSEGV, SIGXCPU, SIGXFSZ, SIGSYS,
        ] {
            assert_eq!(default_action(s), DefaultAction::Core, "signal {s}");
        }
        for s in [
            SIGHUP, SIGINT, SIGKILL, SIGUSR1, SIGPIPE, SIGALRM, SIGTERM, SIGVTALRM,
        ] {
            assert_eq!(default_action(s), DefaultAction::Terminate, "signal {s}");
        }
        // Real-time signals terminate by default.
        assert_eq!(default_action(SIGRTMIN), DefaultAction::Terminate);
        assert_eq!(default_action(NSIG as u8), DefaultAction::Terminate);
    }

    #[test]
    fn standard_signals_coalesce_while_blocked() {
        // signal(7): "If multiple instances of a standard signal are
        // delivered while that signal is currently blocked, then only one
        // instance is queued."
        let mut signals = SignalState::new();
        signals.mask = bit(SIGUSR1);
        assert!(signals.send(info(SIGUSR1, 1)));
        assert!(signals.send(info(SIGUSR1, 2)));
        assert_eq!(signals.pending(), bit(SIGUSR1));
        assert_eq!(
            signals.deliverable(),
            0,
            "blocked: pending, not deliverable"
        );
        assert_eq!(signals.take_next().map(|i| i.signo), None);
        signals.mask = 0;
        // The first instance's siginfo is kept.
        assert_eq!(delivery_order(&mut signals), [(SIGUSR1, 1)]);
        assert_eq!(signals.pending(), 0);
    }

    #[test]
    fn realtime_signals_queue_in_order() {
        // signal(7): "Multiple instances of real-time signals can be
        // queued. ... If multiple instances of the same real-time signal
        // are sent, they are delivered in the order they were sent."
        let mut signals = SignalState::new();
        signals.mask = u64::MAX;
        for value in 1..=3 {
            assert!(signals.send(info(SIGRTMIN + 1, value)));
        }
        signals.mask = 0;
        assert_eq!(
            delivery_order(&mut signals),
            [(SIGRTMIN + 1, 1), (SIGRTMIN + 1, 2), (SIGRTMIN + 1, 3)]
        );
        assert_eq!(signals.pending(), 0);
    }

    #[test]
    fn a_queued_realtime_signal_stays_pending_until_its_last_instance() {
        // sigwaitinfo takes one instance; the signal stays in the pending
        // set (sigpending) while others are queued.
        let mut signals = SignalState::new();
        signals.mask = u64::MAX;
        signals.send(info(SIGRTMIN, 1));
        signals.send(info(SIGRTMIN, 2));
        assert_eq!(signals.take(SIGRTMIN).fields[1], 1);
        assert_eq!(signals.pending(), bit(SIGRTMIN));
        assert_eq!(signals.take(SIGRTMIN).fields[1], 2);
        assert_eq!(signals.pending(), 0);
    }

    #[test]
    fn lowest_number_first_standard_before_realtime_faults_before_all() {
        // signal(7): real-time signals are delivered lowest number first,
        // and Linux gives standard signals priority over real-time ones.
        // Synchronous signals (faults) go before the others, as Linux's
        // dequeue_synchronous_signal does.
        let mut signals = SignalState::new();
        signals.mask = u64::MAX;
        for s in [SIGRTMIN + 2, SIGRTMIN, SIGUSR2, SIGHUP, SIGSEGV, SIGUSR1] {
            signals.send(info(s, s as u64));
        }
        signals.mask = 0;
        let order: Vec<u8> = delivery_order(&mut signals)
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        assert_eq!(
            order,
            [SIGSEGV, SIGHUP, SIGUSR1, SIGUSR2, SIGRTMIN, SIGRTMIN + 2]
        );
    }

    #[test]
    fn only_unblocked_signals_are_delivered() {
        let mut signals = SignalState::new();
        signals.mask = bit(SIGUSR1);
        signals.send(info(SIGUSR1, 0));
        signals.send(info(SIGUSR2, 0));
        assert_eq!(signals.deliverable(), bit(SIGUSR2));
        assert_eq!(delivery_order(&mut signals), [(SIGUSR2, 0)]);
        assert_eq!(signals.pending(), bit(SIGUSR1));
    }

    #[test]
    fn the_queue_is_bounded() {
        // Past the limit sigqueue fails with EAGAIN (sigqueue(3)); a
        // standard signal is still marked pending (Linux overrides the
        // limit for those).
        let mut signals = SignalState::new();
        signals.mask = u64::MAX;
        for n in 0..MAX_QUEUED {
            assert!(signals.send(info(SIGRTMIN, n as u64)), "instance {n}");
        }
        assert!(!signals.send(info(SIGRTMIN, 0)));
        // Taking one makes room for one.
        signals.take(SIGRTMIN);
        assert!(signals.send(info(SIGRTMIN, 0)));
        assert!(!signals.send(info(SIGRTMIN, 0)));
        assert!(signals.send(info(SIGUSR1, 0)));
        assert_ne!(signals.pending() & bit(SIGUSR1), 0);
        // Discarding gives the room of every instance back.
        signals.discard(SIGRTMIN);
        assert_eq!(signals.pending() & bit(SIGRTMIN), 0);
        assert!(signals.send(info(SIGRTMIN, 1)));
        assert!(signals.send(info(SIGRTMIN, 2)));
        assert_eq!(signals.pending(), bit(SIGRTMIN) | bit(SIGUSR1));
    }

    #[test]
    fn ignored_signals_are_discarded_unless_blocked() {
        // signal(7)/sigaction(2): an ignored signal is discarded when it is
        // generated; a blocked one stays pending (ignoring is decided at
        // delivery, Linux's sig_ignored).
        let mut signals = SignalState::new();
        signals.actions.lock()[SIGUSR1 as usize - 1].handler = SIG_IGN;
        assert!(signals.send(info(SIGUSR1, 0)));
        assert_eq!(signals.pending(), 0);
        // SIG_DFL whose default is to ignore (SIGCHLD, SIGWINCH, ...).
        signals.send(info(SIGCHLD, 0));
        signals.send(info(SIGWINCH, 0));
        assert_eq!(signals.pending(), 0);
        signals.mask = bit(SIGUSR1) | bit(SIGCHLD);
        signals.send(info(SIGUSR1, 0));
        signals.send(info(SIGCHLD, 0));
        assert_eq!(signals.pending(), bit(SIGUSR1) | bit(SIGCHLD));
        // Unblocked later, an ignored signal neither interrupts a wait nor
        // stays pending.
        signals.mask = 0;
        assert!(!signals.interrupts());
        assert_eq!(signals.pending(), 0);
    }

    #[test]
    fn sigtimedwait_keeps_ignored_signals_it_unblocked() {
        // Linux's real_blocked: rt_sigtimedwait unblocks the awaited
        // signals, but one that was blocked before is neither discarded
        // at generation nor dropped by the wait, though ignored.
        let mut signals = SignalState::new();
        signals.actions.lock()[SIGUSR2 as usize - 1].handler = SIG_IGN;
        signals.real_blocked = bit(SIGUSR2);
        signals.send(info(SIGUSR2, 0));
        assert_eq!(signals.pending(), bit(SIGUSR2));
        assert!(signals.interrupts());
        assert_eq!(signals.pending(), bit(SIGUSR2));
        signals.real_blocked = 0;
        assert!(!signals.interrupts());
        assert_eq!(signals.pending(), 0);
    }

    #[test]
    fn waits_end_for_handlers_fatal_and_stop_signals() {
        let mut signals = SignalState::new();
        assert!(!signals.interrupts());
        signals.send(info(SIGTERM, 0));
        assert!(signals.interrupts(), "default action terminates");
        let mut signals = SignalState::new();
        signals.send(info(SIGTSTP, 0));
        assert!(signals.interrupts(), "a stop interrupts (and restarts)");
        assert!(restarts_after_handler(&signals));
        let mut signals = SignalState::new();
        signals.set_action(SIGUSR1, handler(0, 0));
        signals.send(info(SIGUSR1, 0));
        assert!(signals.interrupts());
        // signal(7): without SA_RESTART the call fails with EINTR ...
        assert!(!restarts_after_handler(&signals));
        // ... with it, the call is restarted.
        signals.actions.lock()[SIGUSR1 as usize - 1].flags = SA_RESTART;
        assert!(restarts_after_handler(&signals));
        // A blocked signal does not interrupt.
        signals.mask = bit(SIGUSR1);
        assert!(!signals.interrupts());
    }

    #[test]
    fn faults_cannot_be_blocked_or_ignored() {
        // A blocked or ignored SIGSEGV from a fault kills: the kernel
        // unblocks it and resets it to SIG_DFL (force_sig).
        let mut signals = SignalState::new();
        signals.mask = bit(SIGSEGV) | bit(SIGUSR1);
        signals.force(SigInfo::fault(SIGSEGV, SEGV_MAPERR, 0x10));
        assert_eq!(signals.mask, bit(SIGUSR1));
        assert_eq!(signals.take_next().map(|i| i.signo as u8), Some(SIGSEGV));
        let mut signals = SignalState::new();
        signals.actions.lock()[SIGBUS as usize - 1].handler = SIG_IGN;
        signals.force(SigInfo::fault(SIGBUS, BUS_ADRERR, 0x10));
        assert_eq!(signals.action(SIGBUS).handler, SIG_DFL);
        assert_eq!(signals.deliverable(), bit(SIGBUS));
        // A handled, unblocked fault keeps its handler.
        let mut signals = SignalState::new();
        signals.set_action(SIGFPE, handler(0, 0));
        signals.force(SigInfo::fault(SIGFPE, FPE_INTDIV, 0x10));
        assert_eq!(signals.action(SIGFPE).handler, 0x1000);
    }

    #[test]
    fn a_handler_runs_with_its_mask() {
        // sigaction(2): during the handler the mask is the old mask, plus
        // sa_mask, plus the signal itself unless SA_NODEFER; SIGKILL and
        // SIGSTOP are never blocked; SA_RESETHAND restores SIG_DFL.
        let mut signals = SignalState::new();
        signals.mask = bit(SIGHUP);
        signals.saved_mask = Some(0);
        let action = handler(0, bit(SIGUSR2) | UNBLOCKABLE);
        signals.handler_entered(SIGUSR1, &action, false);
        assert_eq!(signals.mask, bit(SIGHUP) | bit(SIGUSR1) | bit(SIGUSR2));
        assert_eq!(signals.saved_mask, None);
        let mut signals = SignalState::new();
        signals.set_action(SIGUSR1, handler(SA_NODEFER | SA_RESETHAND, 0));
        let action = signals.action(SIGUSR1);
        signals.handler_entered(SIGUSR1, &action, false);
        assert_eq!(signals.mask, 0);
        assert_eq!(signals.action(SIGUSR1).handler, SIG_DFL);
    }

    #[test]
    fn the_alternate_stack() {
        // sigaltstack(2): SS_ONSTACK while running on it, SS_DISABLE when
        // there is none; SS_AUTODISARM clears it when a handler moves on.
        let mut signals = SignalState::new();
        assert_eq!(signals.altstack_flags(0x5000), SS_DISABLE);
        signals.altstack = SignalStack {
            sp: 0x4000,
            flags: SS_AUTODISARM,
            _pad: 0,
            size: 0x2000,
        };
        assert_eq!(signals.altstack_flags(0x5000), SS_ONSTACK);
        assert_eq!(
            signals.altstack_flags(0x6000),
            SS_ONSTACK,
            "top of the stack"
        );
        assert_eq!(signals.altstack_flags(0x4000), SS_AUTODISARM, "below it");
        assert_eq!(signals.altstack_flags(0x9000), SS_AUTODISARM);
        signals.handler_entered(SIGUSR1, &handler(SA_ONSTACK, 0), false);
        assert!(signals.altstack.enabled(), "not on the stack: kept");
        signals.handler_entered(SIGUSR1, &handler(SA_ONSTACK, 0), true);
        assert!(!signals.altstack.enabled());
    }

    #[test]
    fn fork_thread_and_exec_inheritance() {
        let mut parent = SignalState::new();
        parent.set_action(SIGUSR1, handler(0, 0));
        parent.actions.lock()[SIGUSR2 as usize - 1].handler = SIG_IGN;
        parent.mask = bit(SIGHUP) | bit(SIGINT);
        parent.send(info(SIGHUP, 0));
        parent.process.timers.lock().itimers[0] = Some(IntervalTimer {
            deadline_ns: 100,
            interval_ns: 0,
        });
        // fork(2): the child's pending set is empty; dispositions and mask
        // are inherited; timers are not.
        let child = parent.fork_copy(false);
        assert_eq!(child.pending(), 0);
        assert_eq!(child.mask, parent.mask);
        assert_eq!(child.action(SIGUSR1).handler, 0x1000);
        assert_eq!(child.next_timer(), None);
        // A thread shares the process's timers, starts with nothing pending.
        let thread = parent.thread_copy();
        assert_eq!(thread.pending(), 0);
        assert_eq!(thread.next_timer(), Some(100));
        assert!(Arc::ptr_eq(&thread.process, &parent.process));
        // execve(2): caught signals revert to SIG_DFL, ignored stay
        // ignored, the mask and pending signals are kept.
        parent.reset_for_exec();
        assert_eq!(parent.action(SIGUSR1).handler, SIG_DFL);
        assert_eq!(parent.action(SIGUSR2).handler, SIG_IGN);
        assert_eq!(parent.mask, bit(SIGHUP) | bit(SIGINT));
        assert_eq!(parent.pending(), bit(SIGHUP));
    }

    #[test]
    fn interval_timers_rearm_and_collapse_overruns() {
        // setitimer(2): a periodic timer is reloaded with its interval; a
        // signal still pending is not generated twice.
        let mut signals = SignalState::new();
        signals.mask = u64::MAX;
        signals.process.timers.lock().itimers[0] = Some(IntervalTimer {
            deadline_ns: 1000,
            interval_ns: 100,
        });
        signals.process.timers.lock().itimers[1] = Some(IntervalTimer {
            deadline_ns: 1000,
            interval_ns: 0,
        });
        assert!(signals.expire_timers(999, 1).is_empty());
        assert_eq!(signals.pending(), 0);
        // 3.5 periods late: one SIGALRM, the next deadline on the period grid.
        assert!(signals.expire_timers(1350, 1).is_empty());
        assert_eq!(signals.pending(), bit(SIGALRM) | bit(SIGVTALRM));
        let timers = signals.process.timers.lock();
        assert_eq!(timers.itimers[0].map(|t| t.deadline_ns), Some(1400));
        assert!(timers.itimers[1].is_none(), "one-shot timers disarm");
        drop(timers);
        assert!(signals.expire_timers(1400, 1).is_empty());
        signals.mask = 0;
        assert_eq!(
            delivery_order(&mut signals)
                .into_iter()
                .map(|(s, _)| s)
                .collect::<Vec<_>>(),
            [SIGALRM, SIGVTALRM]
        );
        assert_eq!(signals.next_timer(), Some(1500));
    }

    #[test]
    fn posix_timers_count_overruns_and_aim_at_threads() {
        // timer_getoverrun(2): one signal per timer is queued at a time;
        // expirations meanwhile count as overruns.
        let mut signals = SignalState::new();
        signals.mask = u64::MAX;
        let timer = |thread| PosixTimer {
            clock: 1,
            notify: Some((SIGRTMIN, 77)),
            thread,
            deadline_ns: Some(1000),
            interval_ns: 100,
            overrun: 0,
            missed: 0,
        };
        signals.process.timers.lock().posix.insert(3, timer(None));
        signals
            .process
            .timers
            .lock()
            .posix
            .insert(4, timer(Some(9)));
        let elsewhere = signals.expire_timers(1000, 1);
        assert_eq!(signals.pending(), bit(SIGRTMIN));
        // Timer 4 is aimed at thread 9 (SIGEV_THREAD_ID).
        assert_eq!(elsewhere.len(), 1);
        assert_eq!(elsewhere[0].0, 9);
        assert_eq!(elsewhere[0].1.code, SI_TIMER);
        assert_eq!(elsewhere[0].1.fields[0] as u32, 4);
        // Two more periods pass while the first signal is still queued:
        // no second signal, two overruns.
        assert_eq!(signals.expire_timers(1250, 1).len(), 1);
        let info = signals.take(SIGRTMIN);
        assert_eq!(signals.pending(), 0, "one signal per timer");
        assert_eq!(info.code, SI_TIMER);
        assert_eq!(info.fields[0] as u32, 3, "si_timerid");
        assert_eq!((info.fields[0] >> 32) as u32, 2, "si_overrun");
        assert_eq!(info.fields[1], 77, "si_value");
        assert_eq!(signals.process.timers.lock().posix[&3].overrun, 2);
        // Once taken, the next expiry queues a new signal.
        assert_eq!(signals.expire_timers(1300, 1).len(), 1);
        assert_eq!(signals.pending(), bit(SIGRTMIN));
    }

    #[test]
    fn a_process_signal_goes_to_a_thread_that_does_not_block_it() {
        // signal(7): "A process-directed signal may be delivered to any one
        // of the threads that does not currently have the signal blocked."
        let mut main = SignalState::new();
        let mut worker = main.thread_copy();
        main.mask = bit(SIGUSR1);
        assert!(main.send_to_process(info(SIGUSR1, 5)));
        // Both threads see it pending (sigpending: thread's and process's).
        assert_eq!(main.pending(), bit(SIGUSR1));
        assert_eq!(worker.pending(), bit(SIGUSR1));
        assert_eq!(main.take_next().map(|i| i.signo), None, "blocked here");
        assert_eq!(worker.take_next().map(|i| i.fields[1]), Some(5));
        assert_eq!(main.pending(), 0, "taken once, by one thread");
        // A signal sent to one thread stays that thread's.
        worker.mask = bit(SIGUSR2);
        worker.send(info(SIGUSR2, 0));
        assert_eq!(main.pending(), 0);
        assert_eq!(worker.pending(), bit(SIGUSR2));
        // A thread's own signals go before the process's.
        worker.mask = 0;
        main.mask = u64::MAX;
        main.send_to_process(info(SIGHUP, 0));
        assert_eq!(delivery_order(&mut worker), [(SIGUSR2, 0), (SIGHUP, 0)]);
    }

    #[test]
    fn dispositions_are_shared_by_threads_and_by_clone_sighand() {
        let parent = SignalState::new();
        let thread = parent.thread_copy();
        thread.set_action(SIGUSR1, handler(0, 0));
        assert_eq!(parent.action(SIGUSR1).handler, 0x1000);
        // fork: a copy, and nothing process-wide is shared.
        let child = parent.fork_copy(false);
        child.set_action(SIGUSR1, SigAction::default());
        assert_eq!(parent.action(SIGUSR1).handler, 0x1000);
        assert!(!Arc::ptr_eq(&child.process, &parent.process));
        // CLONE_SIGHAND without CLONE_THREAD: shared until the new process
        // execs, which takes a copy first (Linux's unshare_sighand).
        let mut sibling = parent.fork_copy(true);
        sibling.set_action(SIGUSR2, handler(0, 0));
        assert_eq!(parent.action(SIGUSR2).handler, 0x1000);
        sibling.reset_for_exec();
        assert_eq!(sibling.action(SIGUSR2).handler, SIG_DFL);
        assert_eq!(parent.action(SIGUSR2).handler, 0x1000, "parent's untouched");
    }
}
