//! Tasks and the scheduler.
//!
//! Every task (a thread; a process is the threads sharing a pid) is a
//! [`TaskCell`] with its own kernel stack. A syscall or trap runs on the
//! task's kernel stack with the task's [`Task`] locked; a call that must
//! wait (a pipe, a futex, a child, a sleep, stdin) releases that lock and
//! blocks in the middle of the handler ([`block_current`]): another task's
//! stack is switched in, and the waiter continues exactly where it stopped
//! once something wakes it — a [`WaitQueue`](super::wait::WaitQueue) it
//! registered on, its deadline, a signal, or stdin. Partial progress stays
//! in the handler's locals; nothing is rewound or retried.
//!
//! Runnable tasks wait in a FIFO run queue (picked by real-time rank once
//! a thread has one, or by least nice-weighted CPU time once a thread has
//! a nice value other than 0). A 10 ms tick preempts (see
//! `traps`). When nothing is runnable the vCPU sleeps in one VMM request
//! until the first deadline of any blocked task or until stdin is
//! readable. When a task runs while a blocked task's deadline comes
//! before the next tick, the VMM is asked for a one-shot kick at that
//! deadline ([`cover_deadlines`]), which wakes the sleeper and preempts
//! the running task, as Linux's hrtimers do. An ended task's stack and
//! objects are freed by the next task to run (its stack was in use until
//! the switch).
//!
//! Locking order: a task's `Task` lock, then `SCHED`, then a cell's
//! `sched` lock. `SCHED` is never held while a `Task` is locked from it,
//! nor across a switch.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering};

use spin::{Mutex, MutexGuard};

use super::errno::{Errno, EAGAIN};
use super::signal::{SigInfo, SA_NOCLDWAIT, SIGCHLD, SIG_IGN};
use super::task::{JobEvent, Process, Task};
use super::wait::WaitQueue;
use crate::arch::{ThreadState, UserContext};
use crate::kstack::KernelStack;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Running,
    Runnable,
    Blocked,
    Dead,
}

/// Scheduling state of a task (under its cell's `sched` lock).
struct SchedInfo {
    state: State,
    /// While blocked: monotonic time to wake at (u64::MAX: none).
    wake_at: u64,
    /// While blocked: whether readable stdin wakes it.
    watches_stdin: bool,
    /// Set when stdin woke it (taken by the waiter).
    stdin_ready: bool,
}

/// A task: its Linux state, kernel stack and scheduling state.
pub struct TaskCell {
    tid: AtomicI32,
    /// The task's process (its ids and relations, readable without
    /// locking the task).
    pub process: Arc<Process>,
    task: Mutex<Task>,
    sched: Mutex<SchedInfo>,
    /// Ended by its process (exit_group, execve in another thread, a fatal
    /// signal): it leaves at its next return towards user mode and its
    /// waits end at once.
    killed: AtomicBool,
    /// Its place in the run queue's order (`SchedAttr::rank`): higher runs
    /// first.
    rank: AtomicU32,
    /// Its share of the CPU among SCHED_OTHER threads (Linux's weight of
    /// its nice value; 1024 at nice 0).
    weight: AtomicU32,
    /// CPU time it had, scaled by 1024 / weight (Linux's CFS vruntime):
    /// once a thread has a nice value other than 0, the runnable thread
    /// with the least goes next.
    vruntime: AtomicU64,
    /// When it last got the vCPU (TSC ticks), for `vruntime`.
    ran_since: AtomicU64,
    /// The syscall it is in (for diagnostics: what a waiting task waits in).
    pub syscall: AtomicU64,
    /// The task's namespaces, for others to look at without locking it
    /// (the task's own fields are what it uses; `set_namespaces` keeps
    /// this copy in step).
    ns: Mutex<super::ns::NsSet>,
    /// User state (FPU, TLS) a task that never ran starts with.
    initial_state: Mutex<Option<ThreadState>>,
    /// Its ptrace state (the tracer reads and changes it while the task
    /// is stopped).
    pub ptrace: Mutex<super::ptrace::Tracee>,
    kstack: Arc<KernelStack>,
}

impl TaskCell {
    pub fn tid(&self) -> i32 {
        self.tid.load(Ordering::Relaxed)
    }

    pub fn pid(&self) -> i32 {
        self.process.pid
    }

    pub fn killed(&self) -> bool {
        self.killed.load(Ordering::Relaxed)
    }

    /// The task's namespaces.
    pub fn namespaces(&self) -> super::ns::NsSet {
        self.ns.lock().clone()
    }

    /// The task switched namespaces (unshare, setns).
    pub fn set_namespaces(&self, ns: super::ns::NsSet) {
        *self.ns.lock() = ns;
    }

    /// Locks the task. Only the task itself holds its lock for long (for a
    /// syscall or trap, never while it waits), so finding it taken on one
    /// vCPU is a re-entry bug worth a clear panic rather than a hang.
    pub fn lock(&self) -> MutexGuard<'_, Task> {
        self.task
            .try_lock()
            .expect("task lock re-entered (a handler kept it across a wait?)")
    }
}

/// The running task's `Task`, locked, with the means to let go of it while
/// the task waits ([`TaskRef::unlocked`]). Handlers see it as `&mut Task`.
pub struct TaskRef<'a> {
    cell: &'a Arc<TaskCell>,
    guard: Option<MutexGuard<'a, Task>>,
}

impl<'a> TaskRef<'a> {
    pub fn lock(cell: &'a Arc<TaskCell>) -> TaskRef<'a> {
        TaskRef {
            cell,
            guard: Some(cell.lock()),
        }
    }

    pub fn cell(&self) -> &Arc<TaskCell> {
        self.cell
    }

    /// Runs `f` with the task unlocked (other tasks may then send it
    /// signals, reparent it, ...), locking it again afterwards.
    pub fn unlocked<R>(&mut self, f: impl FnOnce() -> R) -> R {
        self.guard = None;
        let result = f();
        self.guard = Some(self.cell.lock());
        result
    }
}

impl Deref for TaskRef<'_> {
    type Target = Task;
    fn deref(&self) -> &Task {
        self.guard
            .as_ref()
            .expect("the task is locked outside `unlocked`")
    }
}

impl DerefMut for TaskRef<'_> {
    fn deref_mut(&mut self) -> &mut Task {
        self.guard
            .as_mut()
            .expect("the task is locked outside `unlocked`")
    }
}

/// An ended process its parent has not waited for yet.
#[derive(Clone)]
pub struct Zombie {
    pub pid: i32,
    pub ppid: i32,
    pub pgid: i32,
    /// The wait status (exit code << 8, or the signal).
    pub status: u32,
    /// CPU time of the process and of the children it reaped.
    pub cpu: super::task::CpuTimes,
    /// The process (pidfds learn its exit status when it is reaped).
    pub process: Arc<Process>,
    /// A tracee whose tracer is not its parent is the tracer's to wait
    /// for first (`ppid` is the tracer); then it goes to this parent.
    pub real_parent: Option<i32>,
}

struct Scheduler {
    /// Every live task by tid.
    tasks: BTreeMap<i32, Arc<TaskCell>>,
    run_queue: VecDeque<Arc<TaskCell>>,
    /// An ended task, freed by the next task to run.
    dead: Option<Arc<TaskCell>>,
}

static SCHED: Mutex<Scheduler> = Mutex::new(Scheduler {
    tasks: BTreeMap::new(),
    run_queue: VecDeque::new(),
    dead: None,
});

static ZOMBIES: Mutex<Vec<Zombie>> = Mutex::new(Vec::new());
/// The pid handed out last (/proc/sys/kernel/ns_last_pid): the first
/// process is pid 1, and the next pid is the first free one after this.
static LAST_PID: AtomicI32 = AtomicI32::new(1);
/// The earliest `wake_at` of any blocked task (a lower bound: a task that
/// woke early may leave it too low, which costs one scan).
static EARLIEST_WAKE: AtomicU64 = AtomicU64::new(u64::MAX);
/// The deadline the VMM's one-shot timer kicks us at (u64::MAX: none
/// armed): see [`cover_deadlines`].
static TIMER_AT: AtomicU64 = AtomicU64::new(u64::MAX);
/// Cleared when there is no VMM to ask for one (bare metal).
static TIMER_AVAILABLE: AtomicBool = AtomicBool::new(true);
/// When the last one-shot kick came (monotonic ns).
static LAST_KICK: AtomicU64 = AtomicU64::new(0);
/// The shortest time between two one-shot kicks. Each costs two exits
/// (asking for it, and the kick; ~200 us on pvm): a task that sleeps
/// briefly in a loop while another computes would otherwise take most of
/// the vCPU in exits. Sleepers still wake within this, not the 10 ms tick.
const MIN_KICK_GAP_NS: u64 = 2_000_000;
/// The VMM's periodic tick (x86_64): a deadline further away is looked at
/// again on a tick (`on_tick`). On aarch64 the VMM has no tick.
#[cfg(target_arch = "x86_64")]
const TICK_NS: u64 = 10_000_000;
/// Set once any thread took a real-time or deadline policy: the run queue
/// is then picked by rank (until then, in order, at no cost).
static RANKED: AtomicBool = AtomicBool::new(false);
/// Set once any thread took a nice value other than 0: the run queue is
/// then picked by least `vruntime` (until then, in order, at no cost).
static WEIGHED: AtomicBool = AtomicBool::new(false);
/// The `vruntime` of the thread picked last: a thread that slept or is
/// new starts there, so it neither starves the others nor waits behind
/// the CPU time they had while it slept.
static MIN_VRUNTIME: AtomicU64 = AtomicU64::new(0);

/// Linux's sched_prio_to_weight: the CPU share of nice -20..19 (each
/// level ~1.25 times the next).
const NICE_WEIGHT: [u32; 40] = [
    88761, 71755, 56483, 46273, 36291, 29154, 23254, 18705, 14949, 11916, 9548, 7620, 6100, 4904,
    3906, 3121, 2501, 1991, 1586, 1277, 1024, 820, 655, 526, 423, 335, 272, 215, 172, 137, 110, 87,
    70, 56, 45, 36, 29, 23, 18, 15,
];

fn nice_weight(nice: i32) -> u32 {
    NICE_WEIGHT[(nice.clamp(-20, 19) + 20) as usize]
}
/// Blocked tasks that readable stdin would wake.
static STDIN_WATCHERS: AtomicU64 = AtomicU64::new(0);
/// Woken whenever a thread ends (execve waits for its siblings to go).
static THREAD_EXITS: WaitQueue = WaitQueue::new();

/// The most tasks the sandbox holds (Linux's default RLIMIT_NPROC is per
/// user and much higher; every task here costs guest memory).
pub const MAX_TASKS: usize = 1024;

pub fn note_tick() {
    crate::percpu::this_cpu()
        .tick_pending
        .store(true, Ordering::Relaxed);
}

/// Takes a tick noted while the sentry ran.
pub fn take_tick() -> bool {
    crate::percpu::this_cpu()
        .tick_pending
        .swap(false, Ordering::Relaxed)
}

/// /proc/sys/kernel/pid_max: pids count up from 2, past the ones in use;
/// after the largest (below pid_max) they start again above the reserved
/// ones, as on Linux.
pub const PID_MAX: i32 = 4_194_304;
/// Linux's RESERVED_PIDS: where allocation resumes after wrapping.
const RESERVED_PIDS: i32 = 300;

/// A pid for a new thread or process: the first after the last one
/// handed out that no live thread, zombie, process group or session uses
/// (Linux's alloc_pid with its cyclic cursor).
pub fn new_pid() -> i32 {
    let mut used: Vec<i32> = Vec::new();
    for zombie in ZOMBIES.lock().iter() {
        used.extend([zombie.pid, zombie.pgid]);
    }
    {
        let sched = SCHED.lock();
        for (&tid, cell) in sched.tasks.iter() {
            used.extend([tid, cell.process.pgid(), cell.process.sid()]);
        }
    }
    used.sort_unstable();
    let mut pid = LAST_PID.load(Ordering::Relaxed);
    loop {
        pid = if pid + 1 >= PID_MAX {
            RESERVED_PIDS
        } else {
            pid + 1
        };
        if used.binary_search(&pid).is_err() {
            break;
        }
    }
    LAST_PID.store(pid, Ordering::Relaxed);
    pid
}

/// Writing /proc/sys/kernel/ns_last_pid: the next pid is the first free
/// one after `pid`.
pub fn set_last_pid(pid: i32) {
    LAST_PID.store(pid, Ordering::Relaxed);
}

pub fn task_count() -> usize {
    SCHED.lock().tasks.len()
}

/// Runs `entry` (a syscall or a trap) for the running task. When it reports
/// that the task ended (None), the reference held here is dropped, so none
/// is left on the task's stack, and the task leaves the vCPU for good.
pub fn run_entry<R>(entry: impl FnOnce(&Arc<TaskCell>) -> Option<R>) -> R {
    let cell = current();
    // The user-mode run that ends here is user time; from now until the
    // return to user mode the task's time is system time.
    cell.lock().enter_sentry(crate::arch::cpu::counter());
    match entry(&cell) {
        Some(result) => result,
        None => {
            drop(cell);
            finish_exit()
        }
    }
}

/// The running task.
pub fn current() -> Arc<TaskCell> {
    crate::percpu::this_cpu()
        .current
        .lock()
        .clone()
        .expect("a task runs whenever the sentry handles an entry")
}

/// The running task, if one runs (None in the idle loop, or while the
/// per-CPU slot is being switched).
pub fn try_current() -> Option<Arc<TaskCell>> {
    crate::percpu::this_cpu().current.try_lock()?.clone()
}

fn new_cell(task: Task, regs: &UserContext, state: ThreadState) -> Option<Arc<TaskCell>> {
    let kstack = KernelStack::new(regs)?;
    Some(Arc::new(TaskCell {
        tid: AtomicI32::new(task.tid),
        process: task.process.clone(),
        rank: AtomicU32::new(task.sched.rank()),
        weight: AtomicU32::new(nice_weight(task.nice)),
        vruntime: AtomicU64::new(MIN_VRUNTIME.load(Ordering::Relaxed)),
        ran_since: AtomicU64::new(crate::arch::cpu::counter()),
        ns: Mutex::new(task.ns_set()),
        task: Mutex::new(task),
        sched: Mutex::new(SchedInfo {
            state: State::Runnable,
            wake_at: u64::MAX,
            watches_stdin: false,
            stdin_ready: false,
        }),
        killed: AtomicBool::new(false),
        syscall: AtomicU64::new(u64::MAX),
        initial_state: Mutex::new(Some(state)),
        ptrace: Mutex::new(super::ptrace::Tracee::default()),
        kstack,
    }))
}

/// A new task (fork, vfork, clone) that starts at `regs` with `state`,
/// queued to run. EAGAIN without memory for its kernel stack.
pub fn add(task: Task, regs: UserContext, state: ThreadState) -> Result<(), Errno> {
    let cell = new_cell(task, &regs, state).ok_or(EAGAIN)?;
    let mut sched = SCHED.lock();
    sched.tasks.insert(cell.tid(), cell.clone());
    sched.run_queue.push_back(cell);
    Ok(())
}

/// Starts the first task on its own kernel stack; never returns.
pub fn start_first(task: Task, regs: UserContext, state: ThreadState) -> ! {
    let cell = match new_cell(task, &regs, state) {
        Some(cell) => cell,
        None => crate::hv::console::fatal(format_args!("no memory for the first task's stack")),
    };
    crate::arch::entry::set_kernel_stack(cell.kstack.top());
    cell.sched.lock().state = State::Running;
    SCHED.lock().tasks.insert(cell.tid(), cell.clone());
    let kstack = cell.kstack.clone();
    *crate::percpu::this_cpu().current.lock() = Some(cell);
    crate::kstack::start(kstack)
}

/// What a task that never ran does first, on its own stack (called by the
/// architecture's `task_first_entry` before it enters user mode with
/// `_ctx`).
pub extern "C" fn first_run(_ctx: &mut UserContext) {
    crate::kstack::complete();
    let cell = current();
    let state = cell.initial_state.lock().take();
    // Its own page tables before the task switched away from is freed (see
    // switch_to).
    let root = cell.lock().mm().root();
    crate::arch::paging::switch_user_root(root);
    finish_switch();
    let mut task = cell.lock();
    if let Some(state) = state {
        #[cfg(target_arch = "x86_64")]
        state.restore(task.fs_base, task.gs_base);
        #[cfg(not(target_arch = "x86_64"))]
        state.restore(0, 0);
    }
    task.running_since = crate::arch::cpu::counter();
    task.user_since = task.running_since;
    // A process started from the host loads its program now.
    if !super::host_exec::begin(&cell, &mut task, _ctx) {
        drop(task);
        drop(cell);
        finish_exit();
    }
}

/// Work left by the task switched away from: an ended task is freed here,
/// off its stack and address space.
fn finish_switch() {
    let dead = SCHED.lock().dead.take();
    drop(dead);
}

/// Makes a blocked task runnable (no effect on others).
pub fn wake(cell: &Arc<TaskCell>) {
    let mut sched = SCHED.lock();
    let mut info = cell.sched.lock();
    if info.state == State::Blocked {
        info.state = State::Runnable;
        if info.watches_stdin {
            info.watches_stdin = false;
            STDIN_WATCHERS.fetch_sub(1, Ordering::Relaxed);
        }
        drop(info);
        place(cell);
        sched.run_queue.push_back(cell.clone());
    }
}

/// A thread that waited comes back no further behind than the thread
/// picked last (see `MIN_VRUNTIME`).
fn place(cell: &TaskCell) {
    if WEIGHED.load(Ordering::Relaxed) {
        cell.vruntime
            .fetch_max(MIN_VRUNTIME.load(Ordering::Relaxed), Ordering::Relaxed);
    }
}

/// Charges the running task's time since it got the vCPU to its
/// `vruntime`, weighed by its nice value.
fn charge(cell: &TaskCell, now: u64) {
    let ran = now.wrapping_sub(cell.ran_since.swap(now, Ordering::Relaxed));
    let weight = u64::from(cell.weight.load(Ordering::Relaxed).max(1));
    cell.vruntime
        .fetch_add(ran.saturating_mul(1024) / weight, Ordering::Relaxed);
}

/// Thread `tid` took nice value `nice` (setpriority, sched_setattr):
/// from now on the run queue weighs it.
pub fn set_nice(tid: i32, nice: i32) {
    if nice != 0 {
        WEIGHED.store(true, Ordering::Relaxed);
    }
    if let Some(cell) = SCHED.lock().tasks.get(&tid) {
        cell.weight.store(nice_weight(nice), Ordering::Relaxed);
    }
}

impl super::wait::Wake for TaskCell {
    fn wake(self: Arc<Self>) {
        wake(&self);
    }
}

/// Wakes the blocked tasks whose time has come (and, when `stdin` says
/// the host's stdin is readable, those watching it). Returns whether it
/// woke any.
fn wake_due(now: u64, stdin: bool) -> bool {
    if now < EARLIEST_WAKE.load(Ordering::Relaxed) && !stdin {
        return false;
    }
    let mut sched = SCHED.lock();
    let mut earliest = u64::MAX;
    let mut woken = Vec::new();
    for cell in sched.tasks.values() {
        let mut info = cell.sched.lock();
        if info.state != State::Blocked {
            continue;
        }
        let by_stdin = stdin && info.watches_stdin;
        if info.wake_at <= now || by_stdin {
            info.state = State::Runnable;
            if info.watches_stdin {
                info.watches_stdin = false;
                STDIN_WATCHERS.fetch_sub(1, Ordering::Relaxed);
            }
            info.stdin_ready |= by_stdin;
            drop(info);
            place(cell);
            woken.push(cell.clone());
        } else {
            earliest = earliest.min(info.wake_at);
        }
    }
    EARLIEST_WAKE.store(earliest, Ordering::Relaxed);
    let any = !woken.is_empty();
    sched.run_queue.extend(woken);
    any
}

/// A task gets or keeps the vCPU while blocked tasks have deadlines:
/// nothing would wake them before the next tick (none at all on aarch64),
/// so the VMM is asked for a one-shot kick at the earliest one. That costs
/// an exit, only here (never on a syscall's fast path), and only when the
/// earliest deadline moved closer than the kick already asked for.
fn cover_deadlines(now: u64) {
    let earliest = EARLIEST_WAKE.load(Ordering::Relaxed);
    if earliest == u64::MAX || !TIMER_AVAILABLE.load(Ordering::Relaxed) {
        return;
    }
    let at = earliest.max(
        LAST_KICK
            .load(Ordering::Relaxed)
            .saturating_add(MIN_KICK_GAP_NS),
    );
    if at >= TIMER_AT.load(Ordering::Relaxed) {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if at.saturating_sub(now) > TICK_NS {
        return;
    }
    TIMER_AT.store(at, Ordering::Relaxed);
    if !crate::hv::set_timer(at.saturating_sub(now)) {
        TIMER_AVAILABLE.store(false, Ordering::Relaxed);
    }
}

/// The VMM's one-shot kick (`EVENT_TIMER`): the tasks whose deadline
/// passed wake, and the running task, if any (`running`), lets them go
/// first at its return to user mode (as for a tick).
pub fn on_timer(running: bool) {
    TIMER_AT.store(u64::MAX, Ordering::Relaxed);
    let now = super::time::monotonic_ns();
    LAST_KICK.store(now, Ordering::Relaxed);
    if wake_due(now, false) {
        note_tick();
    } else if running {
        // Early (a deadline that went away): the rest still need a kick.
        cover_deadlines(now);
    }
}

/// Blocks the running task until it is woken, `wake_at` (monotonic ns;
/// u64::MAX: never) passes, or (with `stdin`) the host's stdin is
/// readable. The caller holds no lock the others need (its `Task` is
/// unlocked: see [`TaskRef::unlocked`]). Returns true when stdin woke it.
pub fn block_current(wake_at: u64, stdin: bool) -> bool {
    let me = current();
    {
        let mut info = me.sched.lock();
        if me.killed() {
            return false;
        }
        info.state = State::Blocked;
        info.wake_at = wake_at;
        info.watches_stdin = stdin;
        info.stdin_ready = false;
    }
    if stdin {
        STDIN_WATCHERS.fetch_add(1, Ordering::Relaxed);
        crate::hv::events::watch_stdin();
    }
    EARLIEST_WAKE.fetch_min(wake_at, Ordering::Relaxed);
    schedule(&me);
    let stdin_ready = core::mem::take(&mut me.sched.lock().stdin_ready);
    stdin_ready
}

/// Lets the other runnable tasks go first (sched_yield, a tick).
pub fn yield_current() {
    let me = current();
    {
        let mut sched = SCHED.lock();
        if sched.run_queue.is_empty() {
            return;
        }
        me.sched.lock().state = State::Runnable;
        sched.run_queue.push_back(me.clone());
    }
    schedule(&me);
}

/// The next task of the run queue that is still runnable (stale entries of
/// tasks that blocked or ended since are dropped), after waking the tasks
/// whose deadline passed by `now`.
fn next_runnable(now: u64) -> Option<Arc<TaskCell>> {
    wake_due(now, false);
    let mut sched = SCHED.lock();
    let ranked = RANKED.load(Ordering::Relaxed);
    let weighed = WEIGHED.load(Ordering::Relaxed);
    if ranked || weighed {
        // Real-time threads exist (or did): the first runnable one of the
        // highest rank goes. Among SCHED_OTHER threads (rank 0), once nice
        // values differ, the one with the least weighed CPU time goes
        // (the first of equals, in queue order).
        sched
            .run_queue
            .retain(|cell| cell.sched.lock().state == State::Runnable);
        let key = |i: usize| {
            let cell = &sched.run_queue[i];
            let rank = if ranked {
                cell.rank.load(Ordering::Relaxed)
            } else {
                0
            };
            let vruntime = if weighed && rank == 0 {
                cell.vruntime.load(Ordering::Relaxed)
            } else {
                0
            };
            (core::cmp::Reverse(rank), vruntime, i)
        };
        let best = (0..sched.run_queue.len()).min_by_key(|&i| key(i))?;
        let cell = sched.run_queue.remove(best)?;
        if weighed {
            MIN_VRUNTIME.fetch_max(cell.vruntime.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        return Some(cell);
    }
    while let Some(cell) = sched.run_queue.pop_front() {
        if cell.sched.lock().state == State::Runnable {
            return Some(cell);
        }
    }
    None
}

/// Runs other tasks until `me` is runnable again (at once, if it is).
fn schedule(me: &Arc<TaskCell>) {
    if WEIGHED.load(Ordering::Relaxed) {
        charge(me, crate::arch::cpu::counter());
    }
    loop {
        let now = super::time::monotonic_ns();
        let next = next_runnable(now);
        match next {
            Some(next) if Arc::ptr_eq(&next, me) => {
                me.sched.lock().state = State::Running;
                return;
            }
            Some(next) => {
                cover_deadlines(now);
                switch_to(me, next);
                return;
            }
            None => {
                // Woken while looking (by time): run on.
                let mut info = me.sched.lock();
                if info.state == State::Runnable {
                    info.state = State::Running;
                    return;
                }
                drop(info);
                // The vCPU sleeping while nothing can run is nobody's
                // CPU time: the task's run starts again after it.
                let slept_from = crate::arch::cpu::counter();
                idle(now);
                let slept = crate::arch::cpu::counter().saturating_sub(slept_from);
                if let Some(mut task) = me.task.try_lock() {
                    task.running_since = task.running_since.wrapping_add(slept);
                }
            }
        }
    }
}

/// Nothing can run: sleep in the VMM until the first deadline of a
/// blocked task, until stdin is readable if somebody waits for it, or
/// until the VMM publishes an event (read here, see `hv::events`).
/// How long an idle vCPU watches the network ring before it sleeps in
/// the VMM, while host sockets are live.
const NET_SPIN_NS: u64 = 150_000;

fn idle(now: u64) {
    // An event of the VMM (a signal, stdin) may wake somebody: no sleep.
    if crate::hv::events::pending() {
        crate::hv::events::drain(None);
        return;
    }
    // So may an O_ASYNC signal (a host socket became readable).
    if crate::sentry::sigio::pending() {
        crate::sentry::sigio::drain(None);
        return;
    }
    let until = EARLIEST_WAKE.load(Ordering::Relaxed);
    let span = until.saturating_sub(now);
    if span == 0 {
        return;
    }
    let stdin = STDIN_WATCHERS.load(Ordering::Relaxed) != 0;
    if until == u64::MAX && !stdin && !crate::sentry::net::host::in_use() {
        report_deadlock();
    }
    // A host connection is live: its answer usually comes within tens of
    // microseconds, less than the VMM exit a sleep costs (~80-100 us), so
    // watch the ring a little before sleeping.
    if crate::hv::net::spin_for_change(NET_SPIN_NS.min(span)) {
        crate::hv::events::drain(None);
        return;
    }
    // The network's I/O thread wakes us (EVENT_NET) if it changes the
    // ring from now on; a change it made before is seen here.
    crate::hv::net::set_idle(true);
    if crate::hv::net::changed() {
        crate::hv::net::set_idle(false);
        crate::hv::events::drain(None);
        return;
    }
    // Measured again: the spin above may have taken part of the span.
    let span = match until {
        u64::MAX => u64::MAX,
        _ => until.saturating_sub(super::time::monotonic_ns()),
    };
    if span == 0 {
        crate::hv::net::set_idle(false);
        return;
    }
    // This sleep ends at the first deadline: a one-shot kick asked for
    // while tasks ran would only cost an exit more. Cancelled in the same
    // exit (a deferred request rides along with the next batch).
    if TIMER_AT.swap(u64::MAX, Ordering::Relaxed) != u64::MAX {
        crate::hv::cancel_timer();
    }
    // (The VMM ends this wait early when it publishes an event.)
    let readable = crate::sentry::vfs::console::wait_for_input(span, stdin);
    crate::hv::net::set_idle(false);
    wake_due(super::time::monotonic_ns(), readable && stdin);
    crate::hv::events::drain(None);
}

/// The VMM says the host's stdin is readable: its waiters look again.
pub fn stdin_ready() {
    wake_due(super::time::monotonic_ns(), true);
}

/// Runs `f` on a thread of process `pid` (its main thread when that one
/// lives), the running task included, and wakes it. Only where no `Task`
/// lock is held on this vCPU (the idle loop: the running task, if any,
/// waits with its lock released).
pub fn with_thread_of_idle<R>(pid: i32, f: impl FnOnce(&mut Task) -> R) -> Option<R> {
    let cell = {
        let sched = SCHED.lock();
        let alive = |c: &&Arc<TaskCell>| c.pid() == pid && !c.killed();
        sched
            .tasks
            .get(&pid)
            .filter(alive)
            .or_else(|| sched.tasks.values().find(alive))
            .cloned()
    }?;
    let result = f(&mut cell.lock());
    wake(&cell);
    Some(result)
}

/// Runs `f` on thread `tid`, the running task included, and wakes it;
/// as `with_thread_of_idle`, only where no `Task` lock is held.
pub fn with_task_of_idle<R>(tid: i32, f: impl FnOnce(&mut Task) -> R) -> Option<R> {
    let cell = SCHED
        .lock()
        .tasks
        .get(&tid)
        .filter(|c| !c.killed())
        .cloned()?;
    let result = f(&mut cell.lock());
    wake(&cell);
    Some(result)
}

/// Every task waits and nothing (no deadline, no stdin) can wake any of
/// them: the sandbox hangs as Linux would; say so once, with who waits.
fn report_deadlock() {
    static REPORTED: AtomicBool = AtomicBool::new(false);
    if REPORTED.swap(true, Ordering::Relaxed) {
        return;
    }
    let sched = SCHED.lock();
    log::warn!(
        "every task waits and nothing can wake them ({} tasks, run queue {})",
        sched.tasks.len(),
        sched.run_queue.len()
    );
    for cell in sched.tasks.values() {
        log::warn!(
            "  task {} (process {}): {:?} in syscall {}{}",
            cell.tid(),
            cell.pid(),
            cell.sched.lock().state,
            cell.syscall.load(Ordering::Relaxed),
            if cell.killed() { ", killed" } else { "" }
        );
    }
}

/// A tick while a task runs: tasks whose deadline passed become runnable,
/// and if stdin has waiters, a look at it (bare metal; a VMM says when
/// stdin is readable through its event ring instead).
/// Load averages (Linux's calc_load: fixed point with 11 fraction bits,
/// sampled every 5 s, decaying over 1, 5 and 15 minutes) and when the next
/// sample is due.
struct LoadAvg {
    loads: [u64; 3],
    next_sample_ns: u64,
}

static LOAD: Mutex<LoadAvg> = Mutex::new(LoadAvg {
    loads: [0; 3],
    next_sample_ns: 0,
});

const LOAD_FREQ_NS: u64 = 5_000_000_000;

/// Folds the tasks that are running or waiting to run into the averages,
/// once per 5 s period that passed (an idle vCPU sleeps through ticks: the
/// periods it slept decay with the same count, as NO_HZ Linux does).
fn sample_load(now: u64) {
    const FIXED_1: u64 = 1 << 11;
    const EXP: [u64; 3] = [1884, 2014, 2037];
    let mut load = LOAD.lock();
    if now < load.next_sample_ns {
        return;
    }
    let periods = if load.next_sample_ns == 0 {
        1
    } else {
        ((now - load.next_sample_ns) / LOAD_FREQ_NS + 1).min(1000)
    };
    let active = runnable_count() as u64 * FIXED_1;
    for _ in 0..periods {
        for (avg, exp) in load.loads.iter_mut().zip(EXP) {
            let next = *avg * exp + active * (FIXED_1 - exp);
            *avg = (next + FIXED_1 / 2) >> 11;
        }
    }
    load.next_sample_ns = now + LOAD_FREQ_NS;
}

/// Tasks running or waiting to run.
fn runnable_count() -> usize {
    SCHED
        .lock()
        .tasks
        .values()
        .filter(|c| matches!(c.sched.lock().state, State::Running | State::Runnable))
        .count()
}

/// /proc/loadavg: the 1, 5 and 15 minute averages (11 fraction bits), the
/// tasks running or runnable, and all tasks.
pub fn load_average() -> ([u64; 3], usize, usize) {
    sample_load(super::time::monotonic_ns());
    let loads = LOAD.lock().loads;
    (loads, runnable_count(), task_count())
}

/// The pid handed out last.
pub fn last_pid() -> i32 {
    LAST_PID.load(Ordering::Relaxed)
}

pub fn on_tick() {
    // Under a VMM with an event ring, the VMM watches stdin and says when
    // it is readable (no request per tick).
    let stdin = STDIN_WATCHERS.load(Ordering::Relaxed) != 0
        && !crate::hv::events::active()
        && crate::sentry::vfs::console::wait_for_input(0, true);
    let now = super::time::monotonic_ns();
    wake_due(now, stdin);
    sample_load(now);
    cover_deadlines(now);
}

/// Switches from `me` (not running any more: blocked, runnable, or dead)
/// to `next`, and returns when `me` runs again.
fn switch_to(me: &Arc<TaskCell>, next: Arc<TaskCell>) {
    let now = crate::arch::cpu::counter();
    account_cpu(me, now);
    let saved = ThreadState::save();
    #[cfg(target_arch = "x86_64")]
    let (fs_base, gs_base) = crate::arch::cpu::loaded_user_tls();
    let root = crate::arch::paging::loaded_user_root();
    assert!(
        !me.kstack.overflowed(),
        "kernel stack overflow in task {}",
        me.tid()
    );
    next.sched.lock().state = State::Running;
    next.ran_since.store(now, Ordering::Relaxed);
    if let Some(mut task) = next.task.try_lock() {
        task.running_since = now;
    }
    crate::arch::entry::set_kernel_stack(next.kstack.top());
    let kstack = next.kstack.clone();
    *crate::percpu::this_cpu().current.lock() = Some(next);
    crate::kstack::switch(kstack);
    // Back on this task's page tables first: an ended task's tables are
    // freed next, and freeing the tables in use is costly on pvm (the host
    // shadows them: every write to them traps).
    crate::arch::paging::switch_user_root(root);
    finish_switch();
    #[cfg(target_arch = "x86_64")]
    saved.restore(fs_base, gs_base);
    #[cfg(not(target_arch = "x86_64"))]
    saved.restore(0, 0);
}

fn account_cpu(cell: &TaskCell, now: u64) {
    if let Some(mut task) = cell.task.try_lock() {
        task.account_run(now);
    }
}

/// The running task has ended (its bookkeeping done, its `Task` unlocked
/// and no reference to it left on its stack): it leaves the scheduler and
/// another task runs. Never returns.
pub fn finish_exit() -> ! {
    let me = current();
    let tid = me.tid();
    // Its last run counts in its process's CPU time.
    account_cpu(&me, crate::arch::cpu::counter());
    me.sched.lock().state = State::Dead;
    {
        let mut sched = SCHED.lock();
        sched.tasks.remove(&tid);
        // Freed by the next task to run, once this stack is not in use.
        let previous = sched.dead.replace(me);
        drop(sched);
        drop(previous);
    }
    THREAD_EXITS.wake_all();
    // Find the next task to run, sleeping while none can.
    let next = loop {
        let now = super::time::monotonic_ns();
        let next = next_runnable(now);
        match next {
            Some(next) => {
                cover_deadlines(now);
                break next;
            }
            None => idle(now),
        }
    };
    next.sched.lock().state = State::Running;
    if let Some(mut task) = next.task.try_lock() {
        task.running_since = crate::arch::cpu::counter();
    }
    crate::arch::entry::set_kernel_stack(next.kstack.top());
    let kstack = next.kstack.clone();
    *crate::percpu::this_cpu().current.lock() = Some(next);
    crate::kstack::switch(kstack);
    unreachable!("an ended task is never switched back to")
}

/// Sets the run-queue rank of thread `tid` (after sched_setscheduler).
pub fn set_rank(tid: i32, rank: u32) {
    if rank > 0 {
        RANKED.store(true, Ordering::Relaxed);
    }
    if let Some(cell) = SCHED.lock().tasks.get(&tid) {
        cell.rank.store(rank, Ordering::Relaxed);
    }
}

/// Runs `f` on thread `tid` (not the running one) without waking it.
pub fn modify_thread<R>(tid: i32, f: impl FnOnce(&mut Task) -> R) -> Option<R> {
    let cell = other_thread(tid)?;
    let result = f(&mut cell.lock());
    Some(result)
}

/// Whether another live task (not the running one) is one `pred`
/// accepts: who else shares a table, a context, an address space.
pub fn others_any(pred: impl Fn(&Task) -> bool) -> bool {
    others().iter().any(|c| pred(&c.lock()))
}

/// The namespaces of live thread `tid` (the running one too).
pub fn thread_namespaces(tid: i32) -> Option<super::ns::NsSet> {
    let cell = SCHED.lock().tasks.get(&tid).cloned()?;
    (!cell.killed()).then(|| cell.namespaces())
}

/// The thread ids of every live thread but the running one.
pub fn other_thread_ids() -> Vec<i32> {
    others().iter().map(|c| c.tid()).collect()
}

/// The other live tasks (not the running one, not killed).
fn others() -> Vec<Arc<TaskCell>> {
    let current = crate::percpu::this_cpu().current.lock().clone();
    SCHED
        .lock()
        .tasks
        .values()
        .filter(|c| !c.killed() && !current.as_ref().is_some_and(|me| Arc::ptr_eq(me, c)))
        .cloned()
        .collect()
}

/// The other task with thread id `tid`, if it lives.
fn other_thread(tid: i32) -> Option<Arc<TaskCell>> {
    let cell = SCHED.lock().tasks.get(&tid).cloned()?;
    let current = crate::percpu::this_cpu().current.lock().clone();
    if cell.killed() || current.is_some_and(|me| Arc::ptr_eq(&me, &cell)) {
        return None;
    }
    Some(cell)
}

/// Runs `f` on a thread of process `pid` other than the running one (its
/// main thread when that one lives) and wakes it if it waits, so that it
/// looks at what changed (signals, a child's end, its process group).
pub fn with_parked<R>(pid: i32, f: impl FnOnce(&mut Task) -> R) -> Option<R> {
    let cell = other_thread(pid)
        .filter(|c| c.pid() == pid)
        .or_else(|| others().into_iter().find(|c| c.pid() == pid))?;
    let result = f(&mut cell.lock());
    wake(&cell);
    Some(result)
}

/// Sends `info` to process `pid` as a whole (kill, sigqueue): any of its
/// threads that does not block it takes it, so all of its waiting threads
/// are woken to look. None when it has no thread but the running one;
/// Some(false) when its queue is full.
pub fn signal_process(pid: i32, info: SigInfo) -> Option<bool> {
    let queued = with_parked(pid, |task| task.signals.send_to_process(info))?;
    wake_process(pid);
    Some(queued)
}

/// Runs `f` on thread `tid` (not the running one) and wakes it.
pub fn with_parked_thread<R>(tid: i32, f: impl FnOnce(&mut Task) -> R) -> Option<R> {
    let cell = other_thread(tid)?;
    let result = f(&mut cell.lock());
    wake(&cell);
    Some(result)
}

/// Runs `f` on thread `tid` (not the running one) without waking it: a
/// look at what it holds (kcmp).
pub fn inspect_thread<R>(tid: i32, f: impl FnOnce(&Task) -> R) -> Option<R> {
    let cell = other_thread(tid)?;
    let result = f(&cell.lock());
    Some(result)
}

/// Process `pid`, if it lives.
pub fn process(pid: i32) -> Option<Arc<Process>> {
    let sched = SCHED.lock();
    if let Some(cell) = sched.tasks.get(&pid).filter(|c| c.pid() == pid) {
        return Some(cell.process.clone());
    }
    sched
        .tasks
        .values()
        .find(|c| c.pid() == pid && !c.killed())
        .map(|c| c.process.clone())
}

/// The process (thread group) of thread `tid`, if it lives.
pub fn process_of_thread(tid: i32) -> Option<i32> {
    SCHED
        .lock()
        .tasks
        .get(&tid)
        .filter(|c| !c.killed())
        .map(|c| c.pid())
}

/// Every live process, by ascending pid (what /proc lists).
pub fn processes() -> Vec<Arc<Process>> {
    let sched = SCHED.lock();
    let mut out: Vec<Arc<Process>> = Vec::new();
    for cell in sched.tasks.values().filter(|c| !c.killed()) {
        if !out.iter().any(|p| Arc::ptr_eq(p, &cell.process)) {
            out.push(cell.process.clone());
        }
    }
    out.sort_unstable_by_key(|p| p.pid);
    out
}

/// How many threads process `pid` has.
pub fn thread_count(pid: i32) -> usize {
    SCHED
        .lock()
        .tasks
        .values()
        .filter(|c| c.pid() == pid && !c.killed())
        .count()
}

/// The thread ids of process `pid`, ascending.
pub fn thread_ids(pid: i32) -> Vec<i32> {
    SCHED
        .lock()
        .tasks
        .values()
        .filter(|c| c.pid() == pid && !c.killed())
        .map(|c| c.tid())
        .collect()
}

/// The state letter /proc/<pid>/stat shows for a task: R (running or
/// runnable), S (waiting), T (stopped), Z (ended, not yet waited for);
/// None when there is no such task. With `tid` 0, the process's main
/// thread (or, once it ended, any thread still running).
pub fn task_state_letter(pid: i32, tid: i32) -> Option<char> {
    let sched = SCHED.lock();
    let mut cells = sched
        .tasks
        .values()
        .filter(|c| c.pid() == pid && (tid == 0 || c.tid() == tid));
    let cell = if tid == 0 {
        let all: Vec<&Arc<TaskCell>> = cells.collect();
        all.iter()
            .find(|c| c.tid() == pid)
            .or_else(|| all.first())
            .copied()?
    } else {
        cells.next()?
    };
    if cell.ptrace.lock().stopped {
        return Some('t');
    }
    if cell.process.stopped() {
        return Some('T');
    }
    let state = cell.sched.lock().state;
    Some(match state {
        State::Running | State::Runnable => 'R',
        State::Blocked => 'S',
        State::Dead => 'Z',
    })
}

/// Wakes every waiting thread of process `pid`.
pub fn wake_process(pid: i32) {
    for cell in others().into_iter().filter(|c| c.pid() == pid) {
        wake(&cell);
    }
}

/// Whether process `pid` has a live thread other than `tid`.
pub fn has_other_threads(pid: i32, tid: i32) -> bool {
    SCHED
        .lock()
        .tasks
        .values()
        .any(|c| c.pid() == pid && c.tid() != tid && !c.killed())
}

/// Ends every other thread of the running task's process: they leave at
/// their next return towards user mode (waits end at once).
pub fn kill_other_threads(me: &Arc<TaskCell>) {
    let pid = me.pid();
    let siblings: Vec<Arc<TaskCell>> = SCHED
        .lock()
        .tasks
        .values()
        .filter(|c| c.pid() == pid && !Arc::ptr_eq(c, me))
        .cloned()
        .collect();
    for cell in siblings {
        cell.killed.store(true, Ordering::Relaxed);
        wake(&cell);
    }
}

/// Whether any thread of the running task's process other than itself
/// still exists (killed ones included: they have not left yet).
pub fn siblings_remain(me: &Arc<TaskCell>) -> bool {
    let pid = me.pid();
    SCHED
        .lock()
        .tasks
        .values()
        .any(|c| c.pid() == pid && !Arc::ptr_eq(c, me))
}

/// The queue woken whenever a thread ends.
pub fn thread_exits() -> &'static WaitQueue {
    &THREAD_EXITS
}

/// execve by a thread that is not the leader: it takes over the process's
/// id as its thread id (its siblings are gone).
pub fn set_tid(me: &Arc<TaskCell>, tid: i32) {
    let mut sched = SCHED.lock();
    let old = me.tid();
    if old == tid {
        return;
    }
    if let Some(cell) = sched.tasks.remove(&old) {
        me.tid.store(tid, Ordering::Relaxed);
        sched.tasks.insert(tid, cell);
    }
}

/// Pids of the other live processes `select` picks (each once).
pub fn parked_pids(select: impl Fn(&Task) -> bool) -> Vec<i32> {
    let mut pids: Vec<i32> = others()
        .iter()
        .filter(|c| select(&c.lock()))
        .map(|c| c.pid())
        .collect();
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// Ends the running task's process with wait status `status`: its other
/// threads are killed, its children go to init, its parent gets SIGCHLD
/// and (unless it ignores SIGCHLD) a zombie to wait for. The caller then
/// unlocks the task and calls [`finish_exit`]. The first process is not
/// handled here: its end ends the sandbox.
pub fn exit_process(me: &Arc<TaskCell>, task: &mut Task, status: u32) {
    let (pid, ppid, pgid) = (task.pid, task.ppid(), task.pgid());
    task.mm().writeback_all();
    tracer_exited(pid);
    kill_other_threads(me);
    super::syscalls::locks::release_process(pid, None);
    super::vfs::dnotify::flush(pid, None);
    super::ipc::exit_process(pid, &task.ipc_ns);
    if let Some(parent) = task.vfork_parent.take() {
        release_vfork_parent(parent, pid);
    }
    // Orphans go to the nearest child subreaper above, else to init
    // (pid 1), zombies included.
    let reaper = new_reaper(ppid);
    let mut orphans = false;
    // Threads of the orphans that asked for a signal at their parent's
    // death (PR_SET_PDEATHSIG) get it, sent to their process.
    let mut death_signals = Vec::new();
    for cell in others() {
        if cell.process.ppid() == pid {
            cell.process.set_ppid(reaper);
            orphans = true;
            let signal = cell.lock().parent_death_signal;
            if signal != 0 {
                death_signals.push((cell.pid(), signal as u8));
            }
        }
    }
    for (child, signal) in death_signals {
        let info = SigInfo::from_process(signal, super::signal::SI_USER, pid, task.creds.user[0]);
        signal_process(child, info);
    }
    for z in ZOMBIES.lock().iter_mut() {
        if z.ppid == pid {
            z.ppid = reaper;
            z.process.set_ppid(reaper);
            orphans = true;
        }
    }
    if orphans {
        wake_process(reaper);
    }
    let exit_signal = task.exit_signal;
    // Its CPU time is final (what it used, and its reaped children).
    task.account_run(crate::arch::cpu::counter());
    let cpu = {
        let own = task.process.cpu_times(0);
        let children = task.process.children_cpu_times();
        super::task::CpuTimes {
            user: own.user.wrapping_add(children.user),
            system: own.system.wrapping_add(children.system),
        }
    };
    let uid = task.creds.user[0];
    let notify = |parent: &mut Task| {
        let action = parent.signals.action(SIGCHLD);
        let reap_now = action.handler == SIG_IGN || action.flags & SA_NOCLDWAIT != 0;
        // Legacy clone takes any byte as the exit signal: one that is no
        // signal is not sent (Linux's do_notify_parent).
        if (1..=64).contains(&exit_signal) {
            let (code, value) = if status & 0x7f == 0 {
                (1, (status >> 8) & 0xff) // CLD_EXITED, the exit code
            } else {
                // CLD_DUMPED or CLD_KILLED, the signal
                (if status & 0x80 != 0 { 3 } else { 2 }, status & 0x7f)
            };
            let mut info = SigInfo::from_process(exit_signal, code, pid, uid);
            info.fields[1] = value as u64;
            parent.signals.send_to_process(info);
        }
        reap_now
    };
    // A tracee traced by another than its parent is reported to its
    // tracer first (SIGCHLD, a zombie to wait for); its parent learns of
    // it once the tracer has waited (Linux's exit_notify and
    // wait_task_zombie).
    let tracer = me.ptrace.lock().tracer;
    if tracer != 0 && tracer != ppid && process(tracer).is_some() {
        with_parked(tracer, |t| {
            let mut info = SigInfo::from_process(SIGCHLD, 1, pid, uid);
            if status & 0x7f != 0 {
                info.code = if status & 0x80 != 0 { 3 } else { 2 };
                info.fields[1] = (status & 0x7f) as u64;
            } else {
                info.fields[1] = ((status >> 8) & 0xff) as u64;
            }
            t.signals.send_to_process(info);
        });
        wake_process(tracer);
        ZOMBIES.lock().push(Zombie {
            pid,
            ppid: tracer,
            pgid,
            status,
            cpu,
            process: task.process.clone(),
            real_parent: Some(ppid),
        });
        task.process.view.release();
        task.process.mark_exited();
        return;
    }
    // A process started from the host has no parent here: the VMM gets
    // its status.
    let reaped = if ppid == 0 && pid != super::APP_PID {
        super::host_exec::exited(pid, status)
    } else {
        with_parked(ppid, notify).unwrap_or(false)
    };
    // Any thread of the parent may be waiting for its children.
    wake_process(ppid);
    if reaped {
        task.process.mark_reaped(status);
    } else {
        ZOMBIES.lock().push(Zombie {
            pid,
            ppid,
            pgid,
            status,
            cpu,
            process: task.process.clone(),
            real_parent: None,
        });
    }
    task.process.view.release();
    task.process.mark_exited();
}

/// Who adopts the orphans of a process whose parent is `parent`: the
/// nearest live ancestor from `parent` up that is a child subreaper
/// (PR_SET_CHILD_SUBREAPER), else init (Linux's find_new_reaper).
fn new_reaper(parent: i32) -> i32 {
    let mut at = parent;
    // Bounded: the chain has at most one step per task.
    for _ in 0..MAX_TASKS {
        if at <= super::APP_PID {
            break;
        }
        let (ancestor, alive) = match process(at) {
            Some(p) => (p, true),
            None => match zombie_process(at) {
                Some(p) => (p, false),
                None => break,
            },
        };
        if alive && ancestor.child_subreaper() {
            return at;
        }
        at = ancestor.ppid();
    }
    super::APP_PID
}

/// Job control: the running task's process stops on `signal`. Its parent
/// gets a report to wait for (WUNTRACED) and SIGCHLD unless it asked for
/// none (SA_NOCLDSTOP); its threads stop on their way to user mode.
pub fn stop_process(task: &mut Task, signal: u8) {
    if task.process.set_stopped(true) {
        return;
    }
    *task.process.job_report.lock() = Some(JobEvent::Stopped(signal));
    let (pid, uid) = (task.pid, task.creds.user[0]);
    let ppid = task.ppid();
    with_parked(ppid, |parent| {
        notify_job_change(parent, pid, uid, 5, signal)
    }); // CLD_STOPPED
    wake_process(ppid);
    // The other threads notice at their next return towards user mode.
    for cell in others().into_iter().filter(|c| c.pid() == pid) {
        wake(&cell);
    }
}

/// A signal is sent to process `pid` (generation, before it is queued):
/// SIGCONT and SIGKILL resume a stopped process and SIGCONT discards
/// pending stop signals; a stop signal discards a pending SIGCONT.
/// `sender` is the running task (out of the scheduler's reach while it
/// runs: it may be of the target process, or its parent).
pub fn job_control_on_send(pid: i32, signal: u8, sender: &mut Task) {
    use super::signal::{SIGCONT, SIGKILL, SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU};
    let stop = matches!(signal, SIGSTOP | SIGTSTP | SIGTTIN | SIGTTOU);
    if !(stop || signal == SIGCONT || signal == SIGKILL) {
        return;
    }
    let discard = |task: &mut Task| {
        if signal == SIGCONT {
            for s in [SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU] {
                task.signals.discard(s);
            }
        } else if stop {
            task.signals.discard(SIGCONT);
        }
    };
    let threads: Vec<Arc<TaskCell>> = others().into_iter().filter(|c| c.pid() == pid).collect();
    let process = if sender.pid == pid {
        discard(sender);
        sender.process.clone()
    } else if let Some(cell) = threads.first() {
        cell.process.clone()
    } else {
        return;
    };
    for cell in &threads {
        discard(&mut cell.lock());
    }
    if stop || !process.set_stopped(false) {
        return;
    }
    if signal == SIGCONT {
        *process.job_report.lock() = Some(JobEvent::Continued);
        let ppid = process.ppid();
        if ppid == sender.pid {
            notify_job_change(sender, pid, 0, 6, SIGCONT); // CLD_CONTINUED
            wake_process(ppid);
        } else {
            with_parked(ppid, |parent| notify_job_change(parent, pid, 0, 6, SIGCONT));
            wake_process(ppid);
        }
    }
    for cell in &threads {
        wake(cell);
    }
}

/// SIGCHLD with CLD_STOPPED/CLD_CONTINUED for child `pid` to `parent`,
/// unless its SIGCHLD action has SA_NOCLDSTOP.
fn notify_job_change(parent: &mut Task, pid: i32, uid: u32, code: i32, signal: u8) {
    let action = parent.signals.action(SIGCHLD);
    if action.flags & super::signal::SA_NOCLDSTOP == 0 {
        let mut info = SigInfo::from_process(SIGCHLD, code, pid, uid);
        info.fields[1] = signal as u64;
        parent.signals.send_to_process(info);
    }
}

/// A child of `parent` that `matches` (pid, pgid) with a job-control
/// report `wanted` accepts; the report is consumed unless `keep`.
pub fn take_job_report(
    parent: i32,
    keep: bool,
    wanted: impl Fn(JobEvent) -> bool,
    mut matches: impl FnMut(i32, i32) -> bool,
) -> Option<(i32, JobEvent)> {
    let mut seen = Vec::new();
    for cell in others() {
        let process = &cell.process;
        if process.ppid() != parent
            || seen.contains(&process.pid)
            || !matches(process.pid, process.pgid())
        {
            continue;
        }
        seen.push(process.pid);
        let mut report = process.job_report.lock();
        if let Some(event) = report.filter(|e| wanted(*e)) {
            if !keep {
                *report = None;
            }
            return Some((process.pid, event));
        }
    }
    None
}

/// The running task waits while its process is stopped (returns at once
/// when it is not; a killed task does not wait).
pub fn wait_while_stopped(task: &mut TaskRef) {
    while task.process.stopped() && !task.cell().killed() && !task.signals.traced {
        task.unlocked(|| block_current(u64::MAX, false));
    }
}

/// The vfork child `child` exec'd or ended: its parent (thread `parent`)
/// may run again.
pub fn release_vfork_parent(parent: i32, child: i32) {
    with_parked_thread(parent, |task| {
        if task.vfork_child == Some(child) {
            task.vfork_child = None;
        }
    });
}

/// A zombie child of `parent` that `matches`; removed unless `keep`.
pub fn reap(parent: i32, keep: bool, mut matches: impl FnMut(&Zombie) -> bool) -> Option<Zombie> {
    let mut zombies = ZOMBIES.lock();
    let index = zombies
        .iter()
        .position(|z| z.ppid == parent && matches(z))?;
    Some(if keep {
        zombies[index].clone()
    } else {
        let zombie = zombies.remove(index);
        drop(zombies);
        if let Some(real) = zombie.real_parent {
            // The tracer has seen it: now the parent's to wait for.
            hand_to_parent(zombie.clone(), real);
        } else {
            zombie.process.mark_reaped(zombie.status);
        }
        zombie
    })
}

/// A traced zombie goes to its real parent: SIGCHLD, and a zombie to
/// wait for unless the parent ignores SIGCHLD.
fn hand_to_parent(mut zombie: Zombie, parent: i32) {
    let (pid, status) = (zombie.pid, zombie.status);
    let reap_now = with_parked(parent, |p| {
        let action = p.signals.action(SIGCHLD);
        let mut info = SigInfo::from_process(SIGCHLD, 1, pid, 0);
        if status & 0x7f != 0 {
            info.code = if status & 0x80 != 0 { 3 } else { 2 };
            info.fields[1] = (status & 0x7f) as u64;
        } else {
            info.fields[1] = ((status >> 8) & 0xff) as u64;
        }
        p.signals.send_to_process(info);
        action.handler == SIG_IGN || action.flags & SA_NOCLDWAIT != 0
    })
    .unwrap_or(process(parent).is_none());
    wake_process(parent);
    if reap_now {
        zombie.process.mark_reaped(status);
        return;
    }
    zombie.ppid = parent;
    zombie.real_parent = None;
    ZOMBIES.lock().push(zombie);
}

/// The process object of zombie `pid` (a pidfd made for it).
pub fn zombie_process(pid: i32) -> Option<Arc<Process>> {
    ZOMBIES
        .lock()
        .iter()
        .find(|z| z.pid == pid)
        .map(|z| z.process.clone())
}

/// Whether `parent` has a child (live or zombie) that `matches` (by pid
/// and process group).
pub fn has_child(parent: i32, mut matches: impl FnMut(i32, i32) -> bool) -> bool {
    others()
        .iter()
        .any(|c| c.process.ppid() == parent && matches(c.pid(), c.process.pgid()))
        || ZOMBIES
            .lock()
            .iter()
            .any(|z| (z.ppid == parent || z.real_parent == Some(parent)) && matches(z.pid, z.pgid))
}

/// The pids of the zombies (what /proc lists besides the live ones).
pub fn zombie_pids() -> Vec<i32> {
    ZOMBIES.lock().iter().map(|z| z.pid).collect()
}

/// Whether `pid` has ended and not been waited for.
pub fn is_zombie(pid: i32) -> bool {
    ZOMBIES.lock().iter().any(|z| z.pid == pid)
}

/// Live thread `tid` (any but the running one), for its tracer.
pub fn thread_cell(tid: i32) -> Option<Arc<TaskCell>> {
    other_thread(tid)
}

/// The threads `tracer` (a process) traces.
pub fn tracees(tracer: i32) -> Vec<Arc<TaskCell>> {
    SCHED
        .lock()
        .tasks
        .values()
        .filter(|c| !c.killed() && c.ptrace.lock().tracer == tracer)
        .cloned()
        .collect()
}

/// The pid of the process tracing thread `tid` (0: none): /proc status.
pub fn tracer_of(tid: i32) -> i32 {
    SCHED
        .lock()
        .tasks
        .get(&tid)
        .map_or(0, |c| c.ptrace.lock().tracer)
}

/// A ptrace stop of a tracee of `tracer` that `matches` (tid, pgid) and
/// that the tracer has not waited for: (tid, stop code); the report is
/// consumed unless `keep`.
pub fn take_ptrace_report(
    tracer: i32,
    keep: bool,
    mut matches: impl FnMut(i32, i32) -> bool,
) -> Option<(i32, u32)> {
    for cell in tracees(tracer) {
        if !matches(cell.tid(), cell.process.pgid()) {
            continue;
        }
        let mut t = cell.ptrace.lock();
        if let Some(code) = t.report {
            if !keep {
                t.report = None;
            }
            return Some((cell.tid(), code));
        }
    }
    None
}

/// Whether `tracer` traces a thread that `matches` (tid, pgid): it has
/// something to wait for even if that thread is not its child.
pub fn has_tracee(tracer: i32, mut matches: impl FnMut(i32, i32) -> bool) -> bool {
    tracees(tracer)
        .iter()
        .any(|c| matches(c.tid(), c.process.pgid()))
}

/// Process `pid` ended while tracing: its tracees are let go (killed
/// first under PTRACE_O_EXITKILL), resuming those it held stopped.
pub fn tracer_exited(pid: i32) {
    // Zombies it had still to wait for go to their parents.
    let handed: Vec<Zombie> = {
        let mut zombies = ZOMBIES.lock();
        let (theirs, rest): (Vec<Zombie>, Vec<Zombie>) = zombies
            .drain(..)
            .partition(|z| z.ppid == pid && z.real_parent.is_some());
        *zombies = rest;
        theirs
    };
    for zombie in handed {
        let parent = zombie.real_parent.unwrap_or(super::APP_PID);
        hand_to_parent(zombie, parent);
    }
    for cell in tracees(pid) {
        let exit_kill = {
            let mut t = cell.ptrace.lock();
            let exit_kill = t.options & super::ptrace::PTRACE_O_EXITKILL != 0;
            t.unlink();
            if t.stopped {
                t.resume = Some(0);
            }
            exit_kill
        };
        {
            let mut task = cell.lock();
            task.signals.traced = false;
            if exit_kill {
                task.signals
                    .send(SigInfo::new(super::signal::SIGKILL, super::signal::SI_USER));
            }
        }
        wake(&cell);
    }
}
