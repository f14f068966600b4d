//! A task's Linux state (one per thread; see `sched` for the kernel stack
//! and scheduling state around it). The fields are grouped as they will
//! split into thread and process objects: per-thread (tid, signal mask,
//! clear_child_tid, fs base; the registers live on the kernel stack) and
//! per-process (address space, fds, signal dispositions, limits), the
//! latter shared between threads through `Arc`s.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use boards::hypercall::ExitStats;
use spin::{Mutex, MutexGuard};

use super::fd::FdTable;
use super::mm::AddressSpace;
use super::signal::SignalState;
use super::vfs::{Namespace, PathStack};

#[derive(Clone, Copy, Debug)]
pub struct RLimit {
    pub cur: u64,
    pub max: u64,
}

pub const RLIM_INFINITY: u64 = u64::MAX;
pub const RLIMIT_NLIMITS: usize = 16;
pub const RLIMIT_STACK: usize = 3;
pub const RLIMIT_NOFILE: usize = 7;

/// The limits the program starts with: the host's (what a native run
/// would inherit from the same shell) when the VMM passes them, else those
/// of a small Linux machine. The stack limit is capped at the stack the
/// sandbox reserves.
pub fn initial_rlimits(host: Option<&[[u64; 2]; RLIMIT_NLIMITS]>) -> [RLimit; RLIMIT_NLIMITS] {
    let Some(host) = host else {
        return default_rlimits();
    };
    let mut limits = host.map(|[cur, max]| RLimit { cur, max });
    let stack = &mut limits[RLIMIT_STACK];
    stack.cur = stack.cur.min(super::mm::STACK_MAX);
    limits
}

fn default_rlimits() -> [RLimit; RLIMIT_NLIMITS] {
    let mut limits = [RLimit {
        cur: RLIM_INFINITY,
        max: RLIM_INFINITY,
    }; RLIMIT_NLIMITS];
    limits[RLIMIT_STACK] = RLimit {
        cur: super::mm::STACK_MAX,
        max: RLIM_INFINITY,
    };
    limits[RLIMIT_NOFILE] = RLimit {
        cur: super::fd::DEFAULT_NOFILE,
        max: super::fd::DEFAULT_NOFILE,
    };
    // RLIMIT_NICE, RLIMIT_RTPRIO: raising priority needs CAP_SYS_NICE.
    limits[13] = RLimit { cur: 0, max: 0 };
    limits[14] = RLimit { cur: 0, max: 0 };
    // RLIMIT_CORE: soft 0, as most Linux systems start (no core files
    // until a program raises it).
    limits[4] = RLimit {
        cur: 0,
        max: RLIM_INFINITY,
    };
    // RLIMIT_NPROC, RLIMIT_SIGPENDING, RLIMIT_MSGQUEUE, RLIMIT_MEMLOCK like a
    // small Linux machine.
    limits[6] = RLimit {
        cur: 4096,
        max: 4096,
    };
    limits[11] = RLimit {
        cur: 4096,
        max: 4096,
    };
    limits[12] = RLimit {
        cur: 819200,
        max: 819200,
    };
    limits[8] = RLimit {
        cur: 8 << 20,
        max: 8 << 20,
    };
    limits
}

/// A thread's scheduling policy (SCHED_OTHER 0, FIFO 1, RR 2, BATCH 3,
/// IDLE 5, DEADLINE 6), its real-time priority (1..99 for FIFO and RR),
/// SCHED_RESET_ON_FORK, and SCHED_DEADLINE's parameters (ns).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SchedAttr {
    pub policy: u32,
    pub priority: u32,
    pub reset_on_fork: bool,
    pub runtime: u64,
    pub deadline: u64,
    pub period: u64,
}

impl SchedAttr {
    /// The run queue's order: SCHED_DEADLINE first, then real-time
    /// threads by priority, then everyone else (0) in turn.
    pub fn rank(&self) -> u32 {
        match self.policy {
            6 => 100,
            1 | 2 => self.priority,
            _ => 0,
        }
    }

    /// What a child gets (fork, clone): the same, unless
    /// SCHED_RESET_ON_FORK asks for SCHED_OTHER (real-time and deadline
    /// policies reset; SCHED_BATCH and SCHED_IDLE stay) without the flag.
    pub fn for_child(&self) -> SchedAttr {
        if !self.reset_on_fork {
            return *self;
        }
        match self.policy {
            1 | 2 | 6 => SchedAttr::default(),
            policy => SchedAttr {
                policy,
                ..SchedAttr::default()
            },
        }
    }
}

pub struct Task {
    pub pid: i32,
    pub tid: i32,
    /// The process (shared by its threads): parent, group, session.
    pub process: Arc<Process>,
    /// The signal sent to the parent at exit (SIGCHLD, from clone's flags).
    pub exit_signal: u8,
    /// A vfork child: the parent waits until this task execs or exits.
    pub vfork_parent: Option<i32>,
    /// Set when the task has ended (wait status): it is reaped as soon as
    /// the sentry is about to return to user mode.
    pub exiting: Option<u32>,
    /// Set by exit(2) in a process with other threads: only this one ends.
    pub thread_exit: bool,
    /// A vfork parent: the child it waits for (until that one execs or
    /// exits, which clears this).
    pub vfork_child: Option<i32>,
    /// Set by a syscall that needs another task to run next.
    pub switch_request: Option<super::syscalls::SwitchRequest>,
    /// Shared with /proc (and, later, with threads): lock through `mm()`.
    pub memory: Arc<Mutex<AddressSpace>>,
    /// Shared with /proc (and, later, with threads): lock through `fds()`.
    pub files: Arc<Mutex<FdTable>>,
    pub cwd: Arc<Mutex<PathStack>>,
    /// The root directory (chroot; None: the namespace's root). Shared
    /// with `cwd` as one filesystem context: CLONE_FS shares both.
    pub root: Arc<Mutex<Option<PathStack>>>,
    pub umask: u32,
    pub signals: SignalState,
    pub creds: super::syscalls::system::Credentials,
    /// The thread, process and session keyrings (see `keys`).
    pub keyrings: super::keys::KeyCred,
    pub personality: u32,
    /// The thread name (PR_SET_NAME; /proc/self/comm).
    pub comm: Arc<Mutex<Vec<u8>>>,
    /// setpriority's nice value (-20..19): the run queue weighs it among
    /// SCHED_OTHER threads as Linux's CFS does (`sched::set_nice`).
    pub nice: i32,
    /// Scheduling policy and real-time priority (sched_setscheduler).
    pub sched: SchedAttr,
    /// ioprio_set's I/O priority (class << 13 | data; 0: none set).
    pub ioprio: u16,
    /// prctl state: PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS, PR_SET_PDEATHSIG
    /// (PR_SET_CHILD_SUBREAPER is the process's).
    pub dumpable: u64,
    pub no_new_privs: bool,
    /// Its seccomp mode and filters (inherited, kept across execve).
    pub seccomp: super::seccomp::Seccomp,
    pub parent_death_signal: u64,
    /// The thread's timer slack (shared with /proc/<pid>/timerslack_ns).
    pub timer_slack: Arc<TimerSlack>,
    /// The mount namespace (its table and root).
    pub namespace: Arc<Namespace>,
    /// The UTS and IPC namespaces (see `ns`).
    pub uts_ns: Arc<super::ns::UtsNs>,
    pub ipc_ns: Arc<super::ipc::IpcNs>,
    /// The time namespace its clocks read in, and its children's
    /// (`ns::NsSet`).
    pub time_ns: Arc<super::ns::TimeNs>,
    pub time_ns_for_children: Arc<super::ns::TimeNs>,
    pub rlimits: [RLimit; RLIMIT_NLIMITS],
    pub clear_child_tid: u64,
    pub robust_list: u64,
    /// x86_64 TLS bases (arch_prctl); aarch64 programs set TPIDR_EL0
    /// themselves, and it survives every exception untouched.
    #[cfg_attr(target_arch = "aarch64", allow(dead_code))]
    pub fs_base: u64,
    #[cfg_attr(target_arch = "aarch64", allow(dead_code))]
    pub gs_base: u64,
    pub syscalls: u64,
    /// TSC when the application first entered user mode.
    pub start_tsc: u64,
    /// CPU time used before the current run (TSC ticks) and the TSC when
    /// the task last started running.
    pub cpu_ticks: u64,
    pub running_since: u64,
    /// The part of its CPU time spent in user mode, up to its last entry
    /// into the sentry, and the TSC of its last return to user mode; the
    /// rest of its CPU time is system time (the sentry handling its
    /// syscalls and faults). The process's sums are in `Process`.
    pub user_ticks: u64,
    pub user_since: u64,
}

/// A thread's timer slack (PR_SET_TIMERSLACK, /proc/<pid>/timerslack_ns):
/// how late its timers may fire, and the value 0 restores. Recorded only:
/// the sentry's timers fire on time, which any slack allows.
pub struct TimerSlack {
    current: core::sync::atomic::AtomicU64,
    default: u64,
}

impl TimerSlack {
    /// Linux's initial slack (init's 50 us).
    pub const INITIAL_NS: u64 = 50_000;

    pub fn new(ns: u64) -> Arc<TimerSlack> {
        Arc::new(TimerSlack {
            current: core::sync::atomic::AtomicU64::new(ns),
            default: ns,
        })
    }

    pub fn get(&self) -> u64 {
        self.current.load(Ordering::Relaxed)
    }

    /// Sets the slack; 0 goes back to the default.
    pub fn set(&self, ns: u64) {
        let ns = if ns == 0 { self.default } else { ns };
        self.current.store(ns, Ordering::Relaxed);
    }

    /// A new task's: the creator's slack now, as both its slack and its
    /// default (Linux's copy_process).
    pub fn for_child(&self) -> Arc<TimerSlack> {
        TimerSlack::new(self.get())
    }
}

/// What the threads of a process share and other processes look at
/// without locking any task: the ids and relations. Kept by every thread's
/// task and by the scheduler's cell of each thread.
pub struct Process {
    pub pid: i32,
    ppid: AtomicI32,
    pgid: AtomicI32,
    sid: AtomicI32,
    /// Stopped by a stop signal (job control): its threads wait at their
    /// next return towards user mode until SIGCONT or SIGKILL.
    stopped: AtomicBool,
    /// A stop or continue its parent has not waited for yet (WUNTRACED,
    /// WCONTINUED).
    pub job_report: Mutex<Option<JobEvent>>,
    /// membarrier commands registered (their REGISTER_* bits).
    pub membarrier_registered: core::sync::atomic::AtomicU64,
    /// What /proc/<pid> shows: the live address space, fd table, working
    /// directory, command line and executable (procfs reads them here; the
    /// pid table is the only registry of processes).
    pub view: Arc<crate::sentry::vfs::procfs::ProcessView>,
    /// The process has exited (a zombie or reaped): what a pidfd polls.
    exited: AtomicBool,
    /// It has called execve since it was forked (setpgid on it by its
    /// parent is then EACCES).
    pub execed: AtomicBool,
    /// Woken when it exits (pidfds wait here).
    pub exit_waiters: Arc<crate::sentry::wait::WaitQueue>,
    /// PR_SET_CHILD_SUBREAPER: its orphaned descendants come to it.
    child_subreaper: AtomicBool,
    /// Its wait status once it has been reaped (PIDFD_GET_INFO's exit
    /// information; until then the process is still there to ask about).
    reaped: Mutex<Option<u32>>,
    /// CPU time of all its threads, ended ones included (TSC ticks): the
    /// total up to each thread's last switch, and the user-mode part up
    /// to each one's last entry into the sentry (see `CpuTimes`).
    cpu: CpuCounters,
    /// The same for the children it has reaped (and theirs).
    children_cpu: CpuCounters,
    /// /proc/<pid>/coredump_filter (Linux's MMF_DUMP_* bits of mm->flags):
    /// which memory a core dump holds. Inherited at fork, kept at exec.
    pub coredump_filter: core::sync::atomic::AtomicU32,
}

/// Linux's default coredump_filter: anonymous private and shared memory,
/// ELF headers, private huge pages.
pub const DEFAULT_COREDUMP_FILTER: u32 = 0x33;

#[derive(Default)]
struct CpuCounters {
    total: core::sync::atomic::AtomicU64,
    user: core::sync::atomic::AtomicU64,
}

/// CPU time in TSC ticks, split into user and system time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuTimes {
    pub user: u64,
    pub system: u64,
}

impl CpuTimes {
    pub fn total(&self) -> u64 {
        self.user.wrapping_add(self.system)
    }

    fn from_counters(total: u64, user: u64) -> CpuTimes {
        // The user part is counted up to the last entry and the total to
        // the last switch: clamp rather than underflow when a reader sees
        // one updated before the other.
        CpuTimes {
            user: user.min(total),
            system: total.saturating_sub(user),
        }
    }

    /// Microseconds of each (struct timeval pairs for rusage).
    pub fn timevals(&self) -> [i64; 4] {
        let tv = |ticks: u64| {
            let ns = super::time::tsc_to_ns(ticks);
            [
                (ns / 1_000_000_000) as i64,
                ((ns % 1_000_000_000) / 1000) as i64,
            ]
        };
        let (u, s) = (tv(self.user), tv(self.system));
        [u[0], u[1], s[0], s[1]]
    }
}

/// What a job-control wait reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobEvent {
    Stopped(u8),
    Continued,
}

impl Process {
    pub fn new(
        pid: i32,
        ppid: i32,
        pgid: i32,
        sid: i32,
        view: Arc<crate::sentry::vfs::procfs::ProcessView>,
    ) -> Arc<Process> {
        Arc::new(Process {
            view,
            pid,
            ppid: AtomicI32::new(ppid),
            pgid: AtomicI32::new(pgid),
            sid: AtomicI32::new(sid),
            stopped: AtomicBool::new(false),
            job_report: Mutex::new(None),
            membarrier_registered: core::sync::atomic::AtomicU64::new(0),
            exited: AtomicBool::new(false),
            execed: AtomicBool::new(false),
            exit_waiters: Arc::new(crate::sentry::wait::WaitQueue::new()),
            reaped: Mutex::new(None),
            child_subreaper: AtomicBool::new(false),
            cpu: CpuCounters::default(),
            children_cpu: CpuCounters::default(),
            coredump_filter: core::sync::atomic::AtomicU32::new(DEFAULT_COREDUMP_FILTER),
        })
    }

    /// Adds a thread's CPU time: `total` ticks on the CPU (at a switch or
    /// at its end), `user` of them in user mode (at an entry).
    pub fn add_cpu(&self, total: u64, user: u64) {
        self.cpu.total.fetch_add(total, Ordering::Relaxed);
        self.cpu.user.fetch_add(user, Ordering::Relaxed);
    }

    /// A reaped child's CPU time (its own and its children's).
    pub fn add_children_cpu(&self, times: CpuTimes) {
        self.children_cpu
            .total
            .fetch_add(times.total(), Ordering::Relaxed);
        self.children_cpu
            .user
            .fetch_add(times.user, Ordering::Relaxed);
    }

    /// The CPU time of its threads as last accounted, plus `running`
    /// ticks of the running thread not accounted yet (system time: it is
    /// in the sentry when it asks).
    pub fn cpu_times(&self, running: u64) -> CpuTimes {
        CpuTimes::from_counters(
            self.cpu.total.load(Ordering::Relaxed).wrapping_add(running),
            self.cpu.user.load(Ordering::Relaxed),
        )
    }

    /// What its reaped children used.
    pub fn children_cpu_times(&self) -> CpuTimes {
        CpuTimes::from_counters(
            self.children_cpu.total.load(Ordering::Relaxed),
            self.children_cpu.user.load(Ordering::Relaxed),
        )
    }

    /// Whether the process has exited (its exit status is known).
    pub fn has_exited(&self) -> bool {
        self.exited.load(Ordering::Acquire)
    }

    /// The process exited: pidfds become readable.
    pub fn mark_exited(&self) {
        self.exited.store(true, Ordering::Release);
        self.exit_waiters.wake_all();
    }

    pub fn child_subreaper(&self) -> bool {
        self.child_subreaper.load(Ordering::Relaxed)
    }

    pub fn set_child_subreaper(&self, on: bool) {
        self.child_subreaper.store(on, Ordering::Relaxed);
    }

    /// The process was reaped (waited for, or released at once) with
    /// wait status `status`.
    pub fn mark_reaped(&self, status: u32) {
        *self.reaped.lock() = Some(status);
    }

    /// Its wait status, once reaped.
    pub fn reaped_status(&self) -> Option<u32> {
        *self.reaped.lock()
    }

    pub fn stopped(&self) -> bool {
        self.stopped.load(Ordering::Relaxed)
    }

    /// Marks the process stopped or running; returns the previous state.
    pub fn set_stopped(&self, stopped: bool) -> bool {
        self.stopped.swap(stopped, Ordering::Relaxed)
    }

    pub fn ppid(&self) -> i32 {
        self.ppid.load(Ordering::Relaxed)
    }

    pub fn pgid(&self) -> i32 {
        self.pgid.load(Ordering::Relaxed)
    }

    pub fn sid(&self) -> i32 {
        self.sid.load(Ordering::Relaxed)
    }

    /// Reparenting (the parent ended).
    pub fn set_ppid(&self, ppid: i32) {
        self.ppid.store(ppid, Ordering::Relaxed);
    }

    pub fn set_pgid(&self, pgid: i32) {
        self.pgid.store(pgid, Ordering::Relaxed);
    }

    pub fn set_sid(&self, sid: i32) {
        self.sid.store(sid, Ordering::Relaxed);
    }
}

impl Task {
    pub fn ppid(&self) -> i32 {
        self.process.ppid()
    }

    pub fn pgid(&self) -> i32 {
        self.process.pgid()
    }

    pub fn sid(&self) -> i32 {
        self.process.sid()
    }

    /// The address space. Nobody holds it across a wait: finding the lock
    /// taken means a handler re-entered it, a bug worth a clear panic rather
    /// than a silent spin.
    pub fn mm(&self) -> MutexGuard<'_, AddressSpace> {
        self.memory
            .try_lock()
            .expect("address space lock re-entered")
    }

    pub fn fds(&self) -> MutexGuard<'_, FdTable> {
        self.files.try_lock().expect("fd table lock re-entered")
    }

    pub fn cwd(&self) -> PathStack {
        self.cwd.lock().clone()
    }

    /// Its namespaces, as others see them (`sched::TaskCell::namespaces`).
    pub fn ns_set(&self) -> super::ns::NsSet {
        super::ns::NsSet {
            mnt: self.namespace.clone(),
            uts: self.uts_ns.clone(),
            ipc: self.ipc_ns.clone(),
            time: self.time_ns.clone(),
            time_for_children: self.time_ns_for_children.clone(),
        }
    }

    /// The root directory absolute paths start from (chroot).
    pub fn root_dir(&self) -> PathStack {
        match &*self.root.lock() {
            Some(root) => root.clone(),
            None => self.namespace.root_stack(),
        }
    }

    /// CPU time used so far (the task's time on the vCPU), in TSC ticks.
    pub fn cpu_time_ticks(&self) -> u64 {
        self.cpu_ticks
            .wrapping_add(crate::arch::cpu::counter().wrapping_sub(self.running_since))
    }

    /// The running thread's own CPU time, split (RUSAGE_THREAD): it is
    /// in the sentry, so its user time is counted up to now.
    pub fn thread_cpu_times(&self) -> CpuTimes {
        CpuTimes::from_counters(self.cpu_time_ticks(), self.user_ticks)
    }

    /// The running thread's process's CPU time so far (times,
    /// RUSAGE_SELF, RLIMIT_CPU): every thread's, this one's current run
    /// included.
    pub fn process_cpu_times(&self) -> CpuTimes {
        let running = crate::arch::cpu::counter().saturating_sub(self.running_since);
        self.process.cpu_times(running)
    }

    /// The task enters the sentry (a syscall, a fault, an interrupt):
    /// the user-mode run that ends here is accounted, and the process's
    /// total brought up to now (a thread that never gives the vCPU away
    /// would otherwise show no CPU time in /proc/<pid>/stat).
    pub fn enter_sentry(&mut self, now: u64) {
        let user = now.saturating_sub(self.user_since);
        self.user_since = now;
        self.user_ticks = self.user_ticks.wrapping_add(user);
        let run = now.saturating_sub(self.running_since);
        self.cpu_ticks = self.cpu_ticks.wrapping_add(run);
        self.running_since = now;
        self.process.add_cpu(run, user);
    }

    /// The task goes back to user mode.
    pub fn leave_sentry(&mut self) {
        self.user_since = crate::arch::cpu::counter();
    }

    /// The task leaves the CPU (a switch, its end): its run is accounted.
    pub fn account_run(&mut self, now: u64) {
        let run = now.saturating_sub(self.running_since);
        self.cpu_ticks = self.cpu_ticks.wrapping_add(run);
        self.running_since = now;
        self.process.add_cpu(run, 0);
    }

    pub fn exit_stats(&self) -> ExitStats {
        let now = crate::arch::cpu::counter();
        ExitStats {
            syscalls: self.syscalls,
            page_faults: self.mm().page_faults,
            hypercalls: crate::hv::doorbells() + 1,
            boot_tsc: self.start_tsc.wrapping_sub(super::time::boot_tsc()),
            run_tsc: now.wrapping_sub(self.start_tsc),
            block_mappings: super::mm::BLOCK_MAPPINGS.load(core::sync::atomic::Ordering::Relaxed),
            fork_copied_bytes: super::mm::FORK_COPIED_BYTES
                .load(core::sync::atomic::Ordering::Relaxed),
            host_file_wait_tsc: crate::hv::host_file_wait_ticks(),
        }
    }
}
