//! Processes on the one vCPU: the running task is `task::CURRENT`; every
//! other live task is parked here with its saved registers, and ended ones
//! stay as zombies until their parent waits for them.
//!
//! Scheduling is cooperative and needs no kernel stack per task: a task
//! runs until it would wait. A syscall that would wait while another task
//! can run fails internally with ESWITCH (from `signal::wait`, the one place
//! the sentry waits); the dispatcher rewinds it to the syscall instruction,
//! parks the task and returns to user mode in another one. When the parked
//! task runs again it simply makes the call again, with its deadline kept
//! ([`Restart`](super::task::Restart)). A parked waiter is retried once
//! any other task has completed a syscall since it parked (that is what
//! can change a pipe, a child's state or a signal), its deadline passed,
//! or the host's stdin became readable.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicI32, AtomicU64, Ordering};

use spin::Mutex;

use super::signal::{SigInfo, SA_NOCLDWAIT, SIGCHLD, SIG_IGN};
use super::task::Task;
use crate::arch::{ThreadState, UserContext};

/// Why a parked task is not running.
#[derive(Clone, Copy, Debug)]
pub enum Waiting {
    /// Ready to run (new, or switched out by sched_yield).
    Runnable,
    /// In a syscall that waits: retried after progress elsewhere, at its
    /// deadline, or when stdin is readable (if it watches stdin).
    Blocked {
        progress: u64,
        deadline: Option<u64>,
        /// STDIN_EVENTS when it parked, if it waits for stdin.
        stdin: Option<u64>,
    },
    /// A vfork parent: runs again once the child execs or exits.
    VforkParent { child: i32 },
}

pub struct Parked {
    pub task: Task,
    pub regs: UserContext,
    pub state: ThreadState,
    pub waiting: Waiting,
}

/// An ended process its parent has not waited for yet.
#[derive(Clone, Copy, Debug)]
pub struct Zombie {
    pub pid: i32,
    pub ppid: i32,
    pub pgid: i32,
    /// The wait status (exit code << 8, or the signal).
    pub status: u32,
    /// CPU time of the process and of the children it reaped (TSC ticks).
    pub cpu_ticks: u64,
}

static PARKED: Mutex<BTreeMap<i32, Parked>> = Mutex::new(BTreeMap::new());
static ZOMBIES: Mutex<Vec<Zombie>> = Mutex::new(Vec::new());
static NEXT_PID: AtomicI32 = AtomicI32::new(2);
/// Syscalls completed (not switched out) by any task.
static PROGRESS: AtomicU64 = AtomicU64::new(0);
/// Times the host's stdin was found readable for a parked task.
static STDIN_EVENTS: AtomicU64 = AtomicU64::new(0);

/// The most processes the sandbox holds (Linux's default RLIMIT_NPROC is
/// per user and much higher; every task here costs guest memory).
pub const MAX_TASKS: usize = 1024;

/// A tick arrived while the sentry ran (x86_64 pvm): it takes effect at
/// the next return to user mode.
static TICK_PENDING: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

#[cfg_attr(target_arch = "aarch64", allow(dead_code))]
pub fn note_tick() {
    TICK_PENDING.store(true, Ordering::Relaxed);
}

/// Takes a tick noted while the sentry ran.
pub fn take_tick() -> bool {
    TICK_PENDING.swap(false, Ordering::Relaxed)
}

pub fn note_progress() {
    PROGRESS.fetch_add(1, Ordering::Relaxed);
}

pub fn new_pid() -> i32 {
    NEXT_PID.fetch_add(1, Ordering::Relaxed)
}

pub fn task_count() -> usize {
    PARKED.lock().len() + 1
}

fn runnable(parked: &Parked, now: u64) -> bool {
    match parked.waiting {
        Waiting::Runnable => true,
        Waiting::Blocked {
            progress,
            deadline,
            stdin,
        } => {
            progress != PROGRESS.load(Ordering::Relaxed)
                || deadline.is_some_and(|d| d <= now)
                || stdin.is_some_and(|seen| seen != STDIN_EVENTS.load(Ordering::Relaxed))
                || parked.task.signals.deliverable() != 0
                || parked.task.signals.next_timer().is_some_and(|t| t <= now)
        }
        Waiting::VforkParent { .. } => false,
    }
}

/// Whether a parked task could run now (so the current one should not wait).
pub fn other_runnable() -> bool {
    let now = super::time::monotonic_ns();
    PARKED.lock().values().any(|p| runnable(p, now))
}

/// What the parked waiters wait for: the earliest deadline (theirs or
/// their timers') and whether any watches stdin.
pub fn others_wake() -> (Option<u64>, bool) {
    let parked = PARKED.lock();
    let mut earliest: Option<u64> = None;
    let mut stdin = false;
    for p in parked.values() {
        if let Waiting::Blocked {
            deadline, stdin: s, ..
        } = p.waiting
        {
            stdin |= s.is_some();
            for d in deadline.into_iter().chain(p.task.signals.next_timer()) {
                earliest = Some(earliest.map_or(d, |e| e.min(d)));
            }
        }
    }
    (earliest, stdin)
}

/// The host's stdin became readable while the current task waited for
/// something else: parked readers of stdin get to run.
pub fn stdin_ready_for_others() {
    STDIN_EVENTS.fetch_add(1, Ordering::Relaxed);
}

/// Some parked task to run when none is runnable (it retries its wait):
/// never a vfork parent whose child still runs.
fn any_but_vfork_parents() -> Option<i32> {
    let parked = PARKED.lock();
    parked
        .iter()
        .find(|(_, p)| !matches!(p.waiting, Waiting::VforkParent { .. }))
        .or_else(|| parked.iter().next())
        .map(|(&tid, _)| tid)
}

/// The next task to run after `current`, round robin by pid.
fn pick_next(current: i32) -> Option<i32> {
    let now = super::time::monotonic_ns();
    let parked = PARKED.lock();
    let after = parked
        .range(current + 1..)
        .find(|(_, p)| runnable(p, now))
        .map(|(&pid, _)| pid);
    after.or_else(|| {
        parked
            .range(..current)
            .find(|(_, p)| runnable(p, now))
            .map(|(&pid, _)| pid)
    })
}

/// Parks the running task (if `outgoing` says how it waits; None: it has
/// ended and is dropped) and makes `next` the running one.
fn switch(slot: &mut Option<Task>, regs: &mut UserContext, outgoing: Option<Waiting>, next: i32) {
    let incoming = PARKED
        .lock()
        .remove(&next)
        .expect("the next task is parked");
    let old = slot.take().expect("a task runs whenever user mode runs");
    let old_root = old.mm().root();
    let new_root = incoming.task.mm().root();
    let now = crate::arch::cpu::counter();
    let mut old = old;
    old.cpu_ticks = old
        .cpu_ticks
        .wrapping_add(now.wrapping_sub(old.running_since));
    if let Some(waiting) = outgoing {
        let parked = Parked {
            state: ThreadState::save(),
            regs: *regs,
            waiting,
            task: old,
        };
        PARKED.lock().insert(parked.task.tid, parked);
    }
    if new_root != old_root {
        crate::arch::paging::activate_user_root(new_root);
    }
    // An ended task is dropped only now, off its address space.
    super::vfs::procfs::set_current_pid(incoming.task.pid);
    *regs = incoming.regs;
    #[cfg(target_arch = "x86_64")]
    incoming
        .state
        .restore(incoming.task.fs_base, incoming.task.gs_base);
    #[cfg(not(target_arch = "x86_64"))]
    incoming.state.restore(0, 0);
    let mut task = incoming.task;
    task.running_since = now;
    *slot = Some(task);
}

/// The running task waits (its syscall has been rewound): run another.
/// Returns with `regs` and `slot` still the current task's when nobody else
/// can run (the syscall is then simply retried).
pub fn block_current(slot: &mut Option<Task>, regs: &mut UserContext, stdin: bool) {
    let task = slot.as_ref().expect("a task runs whenever user mode runs");
    let current = task.tid;
    let waiting = Waiting::Blocked {
        progress: PROGRESS.load(Ordering::Relaxed),
        deadline: task.wait_deadline,
        stdin: stdin.then(|| STDIN_EVENTS.load(Ordering::Relaxed)),
    };
    if let Some(next) = pick_next(current) {
        switch(slot, regs, Some(waiting), next);
    }
}

/// sched_yield: let another runnable task go first.
pub fn yield_current(slot: &mut Option<Task>, regs: &mut UserContext) {
    let current = slot.as_ref().map_or(0, |t| t.tid);
    if let Some(next) = pick_next(current) {
        switch(slot, regs, Some(Waiting::Runnable), next);
    }
}

/// A new task (fork, vfork, clone) that starts at `regs`.
pub fn add(task: Task, regs: UserContext, state: ThreadState) {
    PARKED.lock().insert(
        task.tid,
        Parked {
            task,
            regs,
            state,
            waiting: Waiting::Runnable,
        },
    );
}

/// The running task becomes a vfork parent: park it until `child` (which
/// is parked, runnable) execs or exits, and run the child.
pub fn vfork_wait(slot: &mut Option<Task>, regs: &mut UserContext, child: i32) {
    switch(slot, regs, Some(Waiting::VforkParent { child }), child);
}

/// The vfork child `child` exec'd or ended: its parent may run again.
pub fn release_vfork_parent(parent: i32, child: i32) {
    if let Some(p) = PARKED.lock().get_mut(&parent) {
        if matches!(p.waiting, Waiting::VforkParent { child: c } if c == child) {
            p.waiting = Waiting::Runnable;
        }
    }
}

/// Runs `f` on a parked thread of process `pid` (its main thread when
/// that one lives): signals, process groups.
pub fn with_parked<R>(pid: i32, f: impl FnOnce(&mut Task) -> R) -> Option<R> {
    let mut parked = PARKED.lock();
    if parked.get(&pid).is_some_and(|p| p.task.pid == pid) {
        return parked.get_mut(&pid).map(|p| f(&mut p.task));
    }
    parked
        .values_mut()
        .find(|p| p.task.pid == pid)
        .map(|p| f(&mut p.task))
}

/// Runs `f` on parked thread `tid`.
pub fn with_parked_thread<R>(tid: i32, f: impl FnOnce(&mut Task) -> R) -> Option<R> {
    PARKED.lock().get_mut(&tid).map(|p| f(&mut p.task))
}

/// Runs `f` on every parked task.
pub fn for_each_parked(mut f: impl FnMut(&mut Task)) {
    for p in PARKED.lock().values_mut() {
        f(&mut p.task);
    }
}

/// Runs `f` on every parked thread of process `pid`.
pub fn for_each_thread(pid: i32, mut f: impl FnMut(&mut Task)) {
    for p in PARKED.lock().values_mut().filter(|p| p.task.pid == pid) {
        f(&mut p.task);
    }
}

/// execve: the other threads of process `pid` end at once.
pub fn end_other_threads(pid: i32, tid: i32) {
    PARKED
        .lock()
        .retain(|_, p| p.task.pid != pid || p.task.tid == tid);
}

/// Whether process `pid` has a parked thread other than `tid`.
pub fn has_other_threads(pid: i32, tid: i32) -> bool {
    PARKED
        .lock()
        .values()
        .any(|p| p.task.pid == pid && p.task.tid != tid)
}

/// Pids of the parked processes `select` picks (each once).
pub fn parked_pids(select: impl Fn(&Task) -> bool) -> Vec<i32> {
    let mut pids: Vec<i32> = PARKED
        .lock()
        .values()
        .filter(|p| select(&p.task))
        .map(|p| p.task.pid)
        .collect();
    pids.dedup();
    pids
}

/// Ends the running thread alone (its process has other threads): it is
/// dropped and another task runs.
pub fn exit_thread(slot: &mut Option<Task>, regs: &mut UserContext) {
    let tid = slot.as_ref().map_or(0, |t| t.tid);
    note_progress();
    let next = pick_next(tid)
        .or_else(any_but_vfork_parents)
        .expect("the thread's process has other threads");
    switch(slot, regs, None, next);
}

/// Ends the running task with wait status `status`: its children go to
/// init, its parent gets SIGCHLD and (unless it ignores SIGCHLD) a zombie
/// to wait for, and another task runs. The first process is not handled
/// here: its end ends the sandbox.
pub fn exit_current(slot: &mut Option<Task>, regs: &mut UserContext, status: u32) {
    let task = slot.as_mut().expect("a task runs whenever user mode runs");
    let (pid, ppid, pgid) = (task.pid, task.ppid, task.pgid);
    task.mm().writeback_all();
    // The process's other threads end with it, and /proc/<pid> goes.
    PARKED.lock().retain(|_, p| p.task.pid != pid);
    super::vfs::procfs::remove_view(pid);
    if let Some(parent) = task.vfork_parent.take() {
        release_vfork_parent(parent, pid);
    }
    // Orphans go to init (pid 1), zombies included.
    for p in PARKED.lock().values_mut() {
        if p.task.ppid == pid {
            p.task.ppid = super::APP_PID;
        }
    }
    for z in ZOMBIES.lock().iter_mut() {
        if z.ppid == pid {
            z.ppid = super::APP_PID;
        }
    }
    let exit_signal = task.exit_signal;
    let task_tid = task.tid;
    let cpu = task.cpu_time_ticks().wrapping_add(task.children_cpu_ticks);
    let uid = task.creds.user[0];
    let notify = |parent: &mut Task| {
        let action = parent.signals.actions[SIGCHLD as usize - 1];
        let reap_now = action.handler == SIG_IGN || action.flags & SA_NOCLDWAIT != 0;
        if exit_signal != 0 {
            let (code, value) = if status & 0x7f == 0 {
                (1, (status >> 8) & 0xff) // CLD_EXITED, the exit code
            } else {
                (2, status & 0x7f) // CLD_KILLED, the signal
            };
            let mut info = SigInfo::from_process(exit_signal, code, pid, uid);
            info.fields[1] = value as u64;
            parent.signals.send(info);
        }
        reap_now
    };
    let reaped = with_parked(ppid, notify).unwrap_or(false);
    if !reaped {
        ZOMBIES.lock().push(Zombie {
            pid,
            ppid,
            pgid,
            status,
            cpu_ticks: cpu,
        });
    }
    note_progress();
    // Somebody is always parked: the first process outlives every other.
    let next = pick_next(task_tid)
        .or_else(any_but_vfork_parents)
        .expect("the first process is alive while others run");
    switch(slot, regs, None, next);
}

/// A zombie child of `parent` that `matches`; removed unless `keep`.
pub fn reap(parent: i32, keep: bool, mut matches: impl FnMut(&Zombie) -> bool) -> Option<Zombie> {
    let mut zombies = ZOMBIES.lock();
    let index = zombies
        .iter()
        .position(|z| z.ppid == parent && matches(z))?;
    Some(if keep {
        zombies[index]
    } else {
        zombies.remove(index)
    })
}

/// Whether `parent` has a child (live or zombie) that `matches` (by pid
/// and process group).
pub fn has_child(parent: i32, mut matches: impl FnMut(i32, i32) -> bool) -> bool {
    PARKED
        .lock()
        .values()
        .any(|p| p.task.ppid == parent && matches(p.task.pid, p.task.pgid))
        || ZOMBIES
            .lock()
            .iter()
            .any(|z| z.ppid == parent && matches(z.pid, z.pgid))
}

/// Whether `pid` has ended and not been waited for.
pub fn is_zombie(pid: i32) -> bool {
    ZOMBIES.lock().iter().any(|z| z.pid == pid)
}
