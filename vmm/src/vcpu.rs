//! The vCPU thread: an explicit state machine around KVM_RUN, and the kick
//! that takes it out of KVM_RUN (or out of a blocking host call) on demand.
//!
//! A kick is a real-time signal sent to the vCPU thread alone (`tgkill`),
//! whose handler sets `kvm_run.immediate_exit` (as Firecracker's
//! `vstate/vcpu.rs` does): a kick that lands while the thread is in the
//! guest ends KVM_RUN with EINTR; one that lands while it serves a batch
//! makes the next KVM_RUN return at once, so no kick is ever lost. The
//! reasons for kicks accumulate in [`KICKS`].
//!
//! One helper thread ([`start_helper`]) owns the signals sent to
//! rvisor-vmm: SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 are
//! blocked in every thread and taken with `sigtimedwait`, recorded in
//! [`HOST_SIGNALS`] and announced with a kick; the vCPU thread then
//! publishes them in the event ring for the sentry, which delivers them to
//! the sandbox's first process. The same thread is the 10 ms tick (a kick
//! every [`TICK`]): preemption, console draining and the `--timeout` check.
//! The sentry's one-shot timer (`Op::SetTimer`: a blocked task's deadline
//! that comes while another task runs) is a POSIX timer of the vCPU thread
//! that signals it directly ([`set_timer`]). Nothing process-wide (no
//! SIGALRM, no interval timer) is used.

use std::sync::atomic::{
    AtomicBool, AtomicI32, AtomicI64, AtomicPtr, AtomicU32, AtomicU64, Ordering,
};
use std::time::{Duration, Instant};

use boards::events::FORWARDED_SIGNALS;
use kvm_ioctls::{VcpuFd, VmFd};

#[cfg(target_arch = "aarch64")]
use crate::aarch64 as arch;
use crate::error::{internal, Failure};
use crate::hypercall::{AppExit, BatchOutcome, Hypercalls};
use crate::stats::RunStats;
#[cfg(target_arch = "x86_64")]
use crate::x86_64 as arch;

/// How often the vCPU is kicked to drain the console ring, check the
/// deadline and (x86_64) preempt the program: each tick costs one exit
/// while the guest computes.
pub const TICK: Duration = Duration::from_millis(10);

/// Kick reasons.
pub const KICK_TICK: u32 = 1;
pub const KICK_HOST_SIGNAL: u32 = 2;
/// The network I/O thread changed the ring while the sentry slept.
pub const KICK_NET: u32 = 4;
/// The control thread queued an exec event (`crate::exec`).
pub const KICK_EXEC: u32 = 8;
/// The sentry's one-shot timer expired.
pub const KICK_TIMER: u32 = 16;

/// Why the vCPU thread was kicked since it last looked.
static KICKS: AtomicU32 = AtomicU32::new(0);
/// Signals rvisor-vmm received and the vCPU thread has not taken yet.
static HOST_SIGNALS: AtomicU64 = AtomicU64::new(0);
/// `kvm_run.immediate_exit` of the vCPU (null when there is none).
static IMMEDIATE_EXIT: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());
/// The vCPU thread's id (0: none yet).
static VCPU_TID: AtomicI32 = AtomicI32::new(0);
/// An eventfd every kick also counts on, so that a wait the vCPU thread
/// enters after a kick landed (while it served a batch) still ends at
/// once: `Hypercalls::console_poll` polls it (-1: none).
static KICK_FD: AtomicI32 = AtomicI32::new(-1);
/// A timerfd the vCPU thread sleeps on for an idle sentry: an hrtimer
/// without slack (a ppoll timeout gets 0.1% of itself as slack, 1 ms on a
/// 1 s sleep, whatever the thread's timer slack; -1: none).
static SLEEP_FD: AtomicI32 = AtomicI32::new(-1);
/// The sentry's one-shot timer (a `timer_t`, which may be null: glibc's
/// first timer is id 0; -1: none).
static TIMER: AtomicI64 = AtomicI64::new(-1);
/// The one-shot timer expired and the sentry has not been told yet.
static TIMER_FIRED: AtomicBool = AtomicBool::new(false);

/// The real-time signal that kicks the vCPU thread.
fn kick_signal() -> libc::c_int {
    libc::SIGRTMIN()
}

/// The real-time signal the one-shot timer sends the vCPU thread.
fn timer_signal() -> libc::c_int {
    libc::SIGRTMIN() + 1
}

extern "C" fn on_kick(_: libc::c_int) {
    let flag = IMMEDIATE_EXIT.load(Ordering::Acquire);
    if !flag.is_null() {
        // SAFETY: the pointer is the vCPU's kvm_run mapping, live while it
        // is set (cleared on this same thread before the vCPU is dropped,
        // see `KickGuard`); a byte store is async-signal-safe.
        unsafe { std::ptr::write_volatile(flag, 1) };
    }
    let fd = KICK_FD.load(Ordering::Acquire);
    if fd >= 0 {
        let one = 1u64;
        // SAFETY: writes 8 bytes from a local to our eventfd (write is
        // async-signal-safe; a full counter only fails with EAGAIN).
        unsafe { libc::write(fd, std::ptr::addr_of!(one).cast(), 8) };
    }
}

extern "C" fn on_timer(signal: libc::c_int) {
    TIMER_FIRED.store(true, Ordering::SeqCst);
    KICKS.fetch_or(KICK_TIMER, Ordering::SeqCst);
    on_kick(signal);
}

fn gettid() -> i32 {
    // SAFETY: gettid has no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as i32 }
}

/// Set while the vCPU thread sleeps for an idle sentry (`ConsolePoll`):
/// ticks are skipped then (nothing runs that they could preempt, and an
/// idle sandbox then costs the host no wake-up every 10 ms).
static IDLE: AtomicBool = AtomicBool::new(false);

/// The vCPU thread sleeps for an idle sentry while this lives.
pub struct Idle(());

impl Idle {
    pub fn begin() -> Idle {
        IDLE.store(true, Ordering::SeqCst);
        Idle(())
    }
}

impl Drop for Idle {
    fn drop(&mut self) {
        IDLE.store(false, Ordering::SeqCst);
    }
}

/// Kicks the vCPU thread for `reason`.
pub fn kick(reason: u32) {
    KICKS.fetch_or(reason, Ordering::SeqCst);
    let tid = VCPU_TID.load(Ordering::Acquire);
    if tid != 0 {
        // SAFETY: tgkill sends the kick signal to one thread of this
        // process; its handler only sets a flag.
        unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid(), tid, kick_signal()) };
    }
}

/// Takes the kick reasons (and re-arms KVM_RUN). `immediate_exit` is
/// cleared first: a kick after that sets it again and is seen next time.
pub fn take_kicks() -> u32 {
    let flag = IMMEDIATE_EXIT.load(Ordering::Acquire);
    if !flag.is_null() {
        // SAFETY: as in `on_kick`; this is the vCPU thread.
        unsafe { std::ptr::write_volatile(flag, 0) };
    }
    let fd = KICK_FD.load(Ordering::Acquire);
    if fd >= 0 {
        let mut count = 0u64;
        // SAFETY: reads 8 bytes into a local from our non-blocking eventfd.
        unsafe { libc::read(fd, std::ptr::addr_of_mut!(count).cast(), 8) };
    }
    KICKS.swap(0, Ordering::SeqCst)
}

/// The eventfd that is readable while a kick waits to be taken (see
/// [`KICK_FD`]); -1 before [`make_kickable`].
pub fn kick_fd() -> i32 {
    KICK_FD.load(Ordering::Acquire)
}

/// Arms the idle sleep's timerfd to expire `span` from now (None:
/// disarms it; either way an earlier expiry no longer counts). Returns
/// the fd to poll (-1 before [`make_kickable`]).
pub fn arm_sleep(span: Option<std::time::Duration>) -> i32 {
    let fd = SLEEP_FD.load(Ordering::Acquire);
    if fd < 0 {
        return fd;
    }
    // A zero it_value would disarm: the shortest span is 1 ns.
    let value = span.map_or(
        libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
        |d| libc::timespec {
            tv_sec: d.as_secs().min(i32::MAX as u64) as _,
            tv_nsec: d.subsec_nanos().max(u32::from(d.as_secs() == 0)) as _,
        },
    );
    let spec = libc::itimerspec {
        it_interval: libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
        it_value: value,
    };
    // SAFETY: `fd` is our timerfd; `spec` is a valid itimerspec.
    unsafe { libc::timerfd_settime(fd, 0, &spec, std::ptr::null_mut()) };
    fd
}

/// Whether the one-shot timer expired since the last call.
pub fn take_timer_fired() -> bool {
    TIMER_FIRED.swap(false, Ordering::SeqCst)
}

/// `Op::SetTimer`: (re)arms the one-shot timer `span_ns` from now
/// (u64::MAX: disarms it). Its expiry kicks the vCPU thread ([`KICK_TIMER`]).
pub fn set_timer(span_ns: u64) -> i64 {
    let timer = TIMER.load(Ordering::Acquire);
    if timer == -1 {
        return -(libc::ENOSYS as i64);
    }
    // A zero it_value would disarm: the shortest span is 1 ns.
    let span = if span_ns == u64::MAX {
        0
    } else {
        span_ns.max(1)
    };
    let value = libc::itimerspec {
        it_interval: libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
        it_value: libc::timespec {
            tv_sec: (span / 1_000_000_000).min(i32::MAX as u64) as _,
            tv_nsec: (span % 1_000_000_000) as _,
        },
    };
    // SAFETY: `timer` was created by timer_create in `make_kickable` and is
    // deleted only on this (the vCPU) thread, by `KickGuard`; `value` is a
    // valid itimerspec.
    if unsafe { libc::timer_settime(timer as libc::timer_t, 0, &value, std::ptr::null_mut()) } != 0
    {
        return errno_result();
    }
    0
}

fn errno_result() -> i64 {
    -(std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EINVAL) as i64)
}

/// Takes the signals rvisor-vmm received since the last call (bit n:
/// signal n).
pub fn take_host_signals() -> u64 {
    HOST_SIGNALS.swap(0, Ordering::SeqCst)
}

/// The signals forwarded in this run (bit n: signal n), chosen by
/// [`block_forwarded_signals`].
static FORWARDED: AtomicU64 = AtomicU64::new(0);

fn forwarded_set() -> libc::sigset_t {
    let forwarded = FORWARDED.load(Ordering::Relaxed);
    // SAFETY: sigemptyset/sigaddset initialise and fill a sigset_t we own.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for signal in FORWARDED_SIGNALS {
            if forwarded & (1 << signal) != 0 {
                libc::sigaddset(&mut set, signal as libc::c_int);
            }
        }
        set
    }
}

/// Whether rvisor-vmm was started with `signal` ignored (`nohup` does that
/// for SIGHUP, a shell for SIGINT and SIGQUIT of background jobs).
fn inherited_ignored(signal: libc::c_int) -> bool {
    // SAFETY: sigaction with a null new action only reads the disposition.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(signal, std::ptr::null(), &mut old) == 0
            && old.sa_sigaction == libc::SIG_IGN
    }
}

/// Blocks the signals rvisor-vmm forwards, in this thread and every thread
/// it starts later: they are taken by the helper thread instead of ending
/// the VMM. A signal rvisor-vmm inherited as ignored stays ignored and is
/// not forwarded: a native program would have inherited it ignored too.
/// Call before any other thread starts.
pub fn block_forwarded_signals() -> Result<(), Failure> {
    let forwarded = FORWARDED_SIGNALS
        .iter()
        .filter(|&&s| !inherited_ignored(s as libc::c_int))
        .fold(0u64, |set, &s| set | 1 << s);
    FORWARDED.store(forwarded, Ordering::Relaxed);
    let set = forwarded_set();
    // SAFETY: changes this thread's signal mask only.
    if unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) } != 0 {
        return Err(internal("blocking the forwarded signals failed"));
    }
    Ok(())
}

/// Makes the calling thread the kickable vCPU thread of `vcpu`. The guard
/// must be dropped (on this thread) before `vcpu` is.
pub fn make_kickable(vcpu: &mut VcpuFd) -> Result<KickGuard, Failure> {
    // SAFETY: installs a handler that stores one byte (async-signal-safe),
    // without SA_RESTART so that blocking calls of the vCPU thread (poll,
    // read, write) return EINTR when kicked.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_kick as *const () as usize;
        libc::sigemptyset(&mut action.sa_mask);
        if libc::sigaction(kick_signal(), &action, std::ptr::null_mut()) != 0 {
            return Err(internal("installing the kick signal handler failed"));
        }
        action.sa_sigaction = on_timer as *const () as usize;
        if libc::sigaction(timer_signal(), &action, std::ptr::null_mut()) != 0 {
            return Err(internal("installing the timer signal handler failed"));
        }
    }
    // SAFETY: eventfd creates a descriptor this module owns.
    let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(internal(format!(
            "eventfd: {}",
            std::io::Error::last_os_error()
        )));
    }
    KICK_FD.store(fd, Ordering::Release);
    // SAFETY: timerfd_create creates a descriptor this module owns.
    let fd = unsafe {
        libc::timerfd_create(
            libc::CLOCK_MONOTONIC,
            libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(internal(format!(
            "timerfd_create: {}",
            std::io::Error::last_os_error()
        )));
    }
    SLEEP_FD.store(fd, Ordering::Release);
    // The sentry's one-shot timer: a POSIX timer that signals this thread.
    // SAFETY: a zeroed sigevent is valid; timer_create writes the new
    // timer's id into `timer`.
    unsafe {
        let mut event: libc::sigevent = std::mem::zeroed();
        event.sigev_notify = libc::SIGEV_THREAD_ID;
        event.sigev_signo = timer_signal();
        event.sigev_notify_thread_id = gettid();
        let mut timer: libc::timer_t = std::ptr::null_mut();
        if libc::timer_create(libc::CLOCK_MONOTONIC, &mut event, &mut timer) != 0 {
            return Err(internal(format!(
                "timer_create: {}",
                std::io::Error::last_os_error()
            )));
        }
        TIMER.store(timer as i64, Ordering::Release);
    }
    // The vCPU thread's timed waits are the sandbox's timers (an idle
    // sentry sleeps here until its first deadline): the host's default
    // 50 us of timer slack would be added to every sleep in the sandbox.
    // SAFETY: PR_SET_TIMERSLACK changes this thread's timer slack only.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong) };
    let flag = std::ptr::addr_of_mut!(vcpu.get_kvm_run().immediate_exit);
    IMMEDIATE_EXIT.store(flag, Ordering::Release);
    VCPU_TID.store(gettid(), Ordering::Release);
    Ok(KickGuard)
}

/// Stops kicks from touching the vCPU's kvm_run mapping once dropped.
pub struct KickGuard;

impl Drop for KickGuard {
    fn drop(&mut self) {
        let timer = TIMER.swap(-1, Ordering::AcqRel);
        if timer != -1 {
            // SAFETY: the timer `make_kickable` created; nothing uses it
            // once TIMER is -1.
            unsafe { libc::timer_delete(timer as libc::timer_t) };
        }
        VCPU_TID.store(0, Ordering::Release);
        IMMEDIATE_EXIT.store(std::ptr::null_mut(), Ordering::Release);
        for fd in [
            KICK_FD.swap(-1, Ordering::AcqRel),
            SLEEP_FD.swap(-1, Ordering::AcqRel),
        ] {
            if fd >= 0 {
                // SAFETY: descriptors `make_kickable` opened; nothing uses
                // them once their statics are -1.
                unsafe { libc::close(fd) };
            }
        }
    }
}

/// Starts the helper thread: the tick, and the signals sent to rvisor-vmm.
/// Runs until the process exits. Returns once the thread runs, so that its
/// start-up (which makes syscalls the seccomp filter refuses) is over
/// before the filter is installed.
///
/// `filter`: the event thread's seccomp filter, which it installs on
/// itself before it reports that it runs.
pub fn start_helper(
    filter: Option<seccompiler::BpfProgram>,
) -> Result<crate::seccomp::ThreadStarting, Failure> {
    crate::seccomp::spawn_filtered_thread("rvisor-events", "event thread", filter, || helper())
}

fn helper() -> ! {
    let set = forwarded_set();
    let mut next_tick = Instant::now() + TICK;
    loop {
        let now = Instant::now();
        if now >= next_tick {
            if !IDLE.load(Ordering::SeqCst) {
                kick(KICK_TICK);
            }
            next_tick += TICK;
            if next_tick <= now {
                next_tick = now + TICK;
            }
            continue;
        }
        let left = next_tick - now;
        let timeout = libc::timespec {
            tv_sec: left.as_secs() as _,
            tv_nsec: left.subsec_nanos() as _,
        };
        // SAFETY: waits for one of the blocked signals in `set`, at most
        // `timeout`; no siginfo is asked for.
        let signal = unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &timeout) };
        if signal > 0 && signal < 64 {
            log::debug!("signal {signal} received: forwarded to the sandbox");
            HOST_SIGNALS.fetch_or(1 << signal, Ordering::SeqCst);
            kick(KICK_HOST_SIGNAL);
        }
    }
}

/// Where the vCPU loop is.
enum State {
    /// Enter the guest (KVM_RUN).
    Run,
    /// The guest rang the doorbell: serve its batch.
    Serve,
    /// A kick ended KVM_RUN: tick and host-event work, then nudge the guest.
    Kicked,
    /// The application ended.
    Done(AppExit),
}

/// What one KVM_RUN ended with, once the architecture's exits are sorted
/// (`arch::run_once`): failures are errors.
pub enum Exit {
    /// The sentry rang the hypercall doorbell.
    Doorbell,
    /// A kick (EINTR, or `immediate_exit`) ended KVM_RUN.
    Kicked,
    /// KVM asked to be run again.
    Again,
}

/// The vCPU loop: runs until the guest asks to exit or faults.
pub fn run(
    vm: &VmFd,
    vcpu: &mut VcpuFd,
    hypercalls: &mut Hypercalls,
    stats: &mut RunStats,
) -> Result<AppExit, Failure> {
    let mut state = State::Run;
    loop {
        state = match state {
            State::Run => {
                stats.kvm_runs += 1;
                match arch::run_once(vcpu)? {
                    Exit::Doorbell => State::Serve,
                    Exit::Kicked => State::Kicked,
                    Exit::Again => State::Run,
                }
            }
            State::Serve => {
                *stats.exits.entry("hypercall").or_default() += 1;
                arch::nudge_seen(vm)?;
                match hypercalls.handle_batch()? {
                    BatchOutcome::Continue => State::Run,
                    BatchOutcome::Exit(exit, guest_stats) => {
                        stats.guest = guest_stats.unwrap_or_default();
                        State::Done(exit)
                    }
                }
            }
            State::Kicked => {
                let kicks = take_kicks();
                if kicks & KICK_TICK != 0 {
                    *stats.exits.entry("tick").or_default() += 1;
                }
                if kicks & KICK_HOST_SIGNAL != 0 {
                    *stats.exits.entry("host_signal").or_default() += 1;
                }
                if kicks & KICK_NET != 0 {
                    *stats.exits.entry("net_wake").or_default() += 1;
                }
                if kicks & KICK_TIMER != 0 {
                    *stats.exits.entry("timer").or_default() += 1;
                }
                hypercalls.service()?;
                nudge(vm, vcpu, kicks, hypercalls, stats)?;
                State::Run
            }
            State::Done(exit) => return Ok(exit),
        };
    }
}

/// x86_64: the tick reaches the program as an interrupt (preemption,
/// timers); otherwise, unread events get their own vector. Only while
/// the guest runs the program (user mode): the sentry reads the ring
/// itself on its way back there.
#[cfg(target_arch = "x86_64")]
fn nudge(
    _vm: &VmFd,
    vcpu: &VcpuFd,
    kicks: u32,
    hypercalls: &mut Hypercalls,
    stats: &mut RunStats,
) -> Result<(), Failure> {
    use boards::x86_64::{EVENT_VECTOR, TICK_VECTOR};
    if kicks & KICK_TICK != 0 {
        if arch::inject(vcpu, TICK_VECTOR)? {
            *stats.exits.entry("tick_injected").or_default() += 1;
        }
    } else if hypercalls.events.unconsumed() && arch::inject(vcpu, EVENT_VECTOR)? {
        *stats.exits.entry("event_injected").or_default() += 1;
    }
    Ok(())
}

/// aarch64 (no interrupt controller, no tick): unread events raise the
/// vCPU's IRQ line, which the program takes at its next instruction in
/// EL0 (the sentry runs with IRQs masked and reads the ring itself); the
/// sentry's acknowledgment, an empty batch, lowers it again.
#[cfg(target_arch = "aarch64")]
fn nudge(
    vm: &VmFd,
    _vcpu: &VcpuFd,
    _kicks: u32,
    hypercalls: &mut Hypercalls,
    stats: &mut RunStats,
) -> Result<(), Failure> {
    if hypercalls.events.unconsumed() && arch::raise_nudge(vm)? {
        *stats.exits.entry("event_injected").or_default() += 1;
    }
    Ok(())
}
