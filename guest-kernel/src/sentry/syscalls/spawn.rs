//! Making, replacing and reaping processes: fork, vfork, clone (of
//! processes), execve, wait4, waitid. Scheduling is `sentry::sched`.

use crate::sentry::mm::usermem::UserPtr;
use alloc::sync::Arc;
use alloc::vec::Vec;

use spin::Mutex;

use super::{SwitchRequest, SyscallContext};
use crate::arch::ThreadState;
use crate::sentry::errno::*;
use crate::sentry::mm::Access;
use crate::sentry::ns::{
    CLONE_NEWIPC, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWTIME, CLONE_NEWUSER, CLONE_NEW_ANY,
};
use crate::sentry::sched;
use crate::sentry::signal::{SIGCHLD, SIGCONT};
use crate::sentry::task::{JobEvent, Task};

const CSIGNAL: u64 = 0xff;
const CLONE_VM: u64 = 0x100;
const CLONE_FS: u64 = 0x200;
const CLONE_FILES: u64 = 0x400;
const CLONE_SIGHAND: u64 = 0x800;
const CLONE_PTRACE: u64 = 0x2000;
const CLONE_VFORK: u64 = 0x4000;
const CLONE_PARENT: u64 = 0x8000;
const CLONE_THREAD: u64 = 0x10000;
const CLONE_SETTLS: u64 = 0x80000;
const CLONE_PARENT_SETTID: u64 = 0x10_0000;
const CLONE_CHILD_CLEARTID: u64 = 0x20_0000;
const CLONE_DETACHED: u64 = 0x40_0000;
const CLONE_UNTRACED: u64 = 0x80_0000;
const CLONE_CHILD_SETTID: u64 = 0x100_0000;
const CLONE_PIDFD: u64 = 0x1000;
/// Share the I/O context: the sentry has none (no block I/O scheduler),
/// so there is nothing to share and nothing to refuse.
const CLONE_IO: u64 = 0x8000_0000;

/// Sentry memory (free heap and frames) a fork leaves at least (a task's own tables take a few
/// KiB; the rest is for the syscalls of everything that runs).
const FORK_HEAP_RESERVE: u64 = 4 << 20;

/// What differs between a forked process and a new thread.
struct Shares {
    pid: i32,
    tid: i32,
    process: Arc<crate::sentry::task::Process>,
    exit_signal: u8,
    vfork_parent: Option<i32>,
    memory: Arc<Mutex<crate::sentry::mm::AddressSpace>>,
    files: Arc<Mutex<crate::sentry::fd::FdTable>>,
    cwd: Arc<Mutex<crate::sentry::vfs::PathStack>>,
    root: Arc<Mutex<Option<crate::sentry::vfs::PathStack>>>,
    /// The thread's name (each thread has its own).
    comm: Arc<Mutex<Vec<u8>>>,
    signals: crate::sentry::signal::SignalState,
    keyrings: crate::sentry::keys::KeyCred,
    ns: crate::sentry::ns::NsSet,
    timer_slack: Arc<crate::sentry::task::TimerSlack>,
}

/// A new task made from `parent` with `shares`; the rest is inherited.
fn new_task(parent: &Task, shares: Shares, flags: u64, child_tid: u64) -> Task {
    Task {
        pid: shares.pid,
        tid: shares.tid,
        process: shares.process,
        exit_signal: shares.exit_signal,
        vfork_parent: shares.vfork_parent,
        exiting: None,
        thread_exit: false,
        vfork_child: None,
        switch_request: None,
        memory: shares.memory,
        files: shares.files,
        cwd: shares.cwd,
        root: shares.root,
        umask: parent.umask,
        signals: shares.signals,
        creds: parent.creds.clone(),
        keyrings: shares.keyrings,
        personality: parent.personality,
        comm: shares.comm,
        // SCHED_RESET_ON_FORK also takes a negative nice back to 0.
        nice: if parent.sched.reset_on_fork {
            parent.nice.max(0)
        } else {
            parent.nice
        },
        sched: parent.sched.for_child(),
        ioprio: parent.ioprio,
        dumpable: parent.dumpable,
        no_new_privs: parent.no_new_privs,
        seccomp: parent.seccomp.clone(),
        parent_death_signal: 0,
        timer_slack: shares.timer_slack,
        namespace: shares.ns.mnt,
        uts_ns: shares.ns.uts,
        ipc_ns: shares.ns.ipc,
        time_ns: shares.ns.time,
        time_ns_for_children: shares.ns.time_for_children,
        rlimits: parent.rlimits,
        clear_child_tid: if flags & CLONE_CHILD_CLEARTID != 0 {
            child_tid
        } else {
            0
        },
        robust_list: 0,
        fs_base: parent.fs_base,
        gs_base: parent.gs_base,
        syscalls: 0,
        start_tsc: crate::arch::cpu::counter(),
        cpu_ticks: 0,
        running_since: crate::arch::cpu::counter(),
        user_ticks: 0,
        user_since: crate::arch::cpu::counter(),
    }
}

/// The new task's first registers (the syscall returns 0 there, on
/// `stack` when given) and user state (the TLS of CLONE_SETTLS).
#[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))]
fn start_state(
    parent_regs: &crate::arch::UserContext,
    task: &mut Task,
    flags: u64,
    stack: u64,
    tls: u64,
) -> (crate::arch::UserContext, ThreadState) {
    let mut regs = *parent_regs;
    crate::arch::set_syscall_result(&mut regs, 0);
    if stack != 0 {
        crate::arch::set_stack_pointer(&mut regs, stack);
    }
    let mut state = ThreadState::save();
    if flags & CLONE_SETTLS != 0 {
        #[cfg(target_arch = "x86_64")]
        {
            task.fs_base = tls;
        }
        state.set_tls(tls);
    }
    (regs, state)
}

/// A new process copied from the running one (fork), or sharing its
/// memory until it execs or exits (vfork: CLONE_VM | CLONE_VFORK).
/// `pidfd`: where CLONE_PIDFD stores the child's pidfd. `flags` has no
/// CSIGNAL bits but CLONE_NEWTIME (only clone3 has room for it): the
/// signal the child's end sends is `exit_signal` (legacy clone takes any
/// byte, as Linux: one that is no signal is never sent).
#[allow(clippy::too_many_arguments)]
fn new_process(
    ctx: &mut SyscallContext,
    flags: u64,
    exit_signal: u64,
    stack: u64,
    parent_tid: u64,
    child_tid: u64,
    tls: u64,
    pidfd: u64,
) -> SysResult {
    const CLONE_SYSVSEM: u64 = 0x40000;
    let supported = CLONE_VM
        | CLONE_FS
        | CLONE_FILES
        | CLONE_VFORK
        | CLONE_PARENT
        | CLONE_SIGHAND
        | CLONE_SETTLS
        | CLONE_PARENT_SETTID
        | CLONE_CHILD_CLEARTID
        | CLONE_CHILD_SETTID
        | CLONE_DETACHED
        | CLONE_UNTRACED
        | CLONE_PTRACE
        | CLONE_SYSVSEM
        | CLONE_IO
        | CLONE_PIDFD
        | CLONE_NEW_ANY;
    if flags & (CLONE_NEWNS | CLONE_FS) == CLONE_NEWNS | CLONE_FS
        || flags & (CLONE_NEWUSER | CLONE_FS) == CLONE_NEWUSER | CLONE_FS
        || flags & CLONE_THREAD != 0 && flags & (CLONE_NEWUSER | CLONE_NEWPID) != 0
        || flags & CLONE_SIGHAND != 0 && flags & CLONE_VM == 0
        || flags & CLONE_THREAD != 0 && flags & CLONE_SIGHAND == 0
        || flags & CLONE_PIDFD != 0 && flags & (CLONE_THREAD | CLONE_DETACHED) != 0
        || flags & (CLONE_PIDFD | CLONE_PARENT_SETTID) == CLONE_PIDFD | CLONE_PARENT_SETTID
            && pidfd == parent_tid
    {
        return Err(EINVAL);
    }
    if flags & CLONE_THREAD != 0 {
        return new_thread(ctx, flags, stack, parent_tid, child_tid, tls);
    }
    if flags & !supported != 0 {
        log::info!(
            "clone flags {flags:#x}: {:#x} not supported",
            flags & !supported
        );
        return Err(ENOSYS);
    }
    if sched::task_count() >= sched::MAX_TASKS
        || crate::mm::kernel_memory_available() < FORK_HEAP_RESERVE
    {
        return Err(EAGAIN);
    }
    let parent = &mut *ctx.task;
    let mut ns = super::ns::copy_namespaces(parent, flags)?;
    // The semaphore undo list of a new IPC namespace cannot be shared.
    if flags & (CLONE_NEWIPC | CLONE_SYSVSEM) == CLONE_NEWIPC | CLONE_SYSVSEM {
        return Err(EINVAL);
    }
    let files = files_for_child(parent, flags)?;
    let vfork = flags & CLONE_VFORK != 0;
    let new_time = super::ns::time_on_fork(&mut ns, flags);
    let memory = if flags & CLONE_VM != 0 {
        parent.memory.clone()
    } else {
        let mut copy = parent.mm().fork_copy()?;
        if let Some(time) = new_time {
            crate::sentry::exec::set_vdso_time_offsets(&mut copy, &time.offsets.get())?;
        }
        Arc::new(Mutex::new(copy))
    };
    let pid = sched::new_pid();
    // The filesystem context: working and root directory.
    let (cwd, root) = if flags & CLONE_FS != 0 {
        (parent.cwd.clone(), parent.root.clone())
    } else {
        let root = parent.root.lock().clone();
        (
            Arc::new(Mutex::new(parent.cwd())),
            Arc::new(Mutex::new(root)),
        )
    };
    let comm = Arc::new(Mutex::new(parent.comm.lock().clone()));
    let parent_view = &parent.process.view;
    let timer_slack = parent.timer_slack.for_child();
    let view = Arc::new(crate::sentry::vfs::procfs::ProcessView {
        pid,
        serial: crate::sentry::vfs::procfs::new_serial(),
        timer_slack: timer_slack.clone(),
        fds: Mutex::new(files.clone()),
        memory: Mutex::new(Some(memory.clone())),
        cwd: Mutex::new(cwd.clone()),
        root: Mutex::new(root.clone()),
        argv: Mutex::new(parent_view.argv.lock().clone()),
        exe_path: Mutex::new(parent_view.exe_path.lock().clone()),
        comm: comm.clone(),
        // Credentials are inherited as they are: the parent's view is the
        // child's.
        ids: Mutex::new(super::system::id_view(parent)),
        landlock: Mutex::new(parent.creds.landlock.clone()),
    });
    let process = crate::sentry::task::Process::new(
        pid,
        if flags & CLONE_PARENT != 0 {
            parent.ppid()
        } else {
            parent.pid
        },
        parent.pgid(),
        parent.sid(),
        view,
    );
    // The core dump filter is the memory's, copied with it.
    process.coredump_filter.store(
        parent
            .process
            .coredump_filter
            .load(core::sync::atomic::Ordering::Relaxed),
        core::sync::atomic::Ordering::Relaxed,
    );
    let shares = Shares {
        pid,
        tid: pid,
        process: process.clone(),
        exit_signal: exit_signal as u8,
        vfork_parent: vfork.then_some(parent.tid),
        memory,
        files,
        cwd,
        root,
        comm,
        signals: parent.signals.fork_copy(flags & CLONE_SIGHAND != 0),
        keyrings: parent.keyrings.for_new_process(),
        ns,
        timer_slack,
    };
    let child = new_task(parent, shares, flags, child_tid);
    let mut child = child;
    let (regs, state) = start_state(ctx.regs, &mut child, flags, stack, tls);
    if flags & CLONE_CHILD_SETTID != 0 {
        child.mm().write_val(child_tid, &pid)?;
    }
    if flags & CLONE_PARENT_SETTID != 0 {
        parent.mm().write_val(parent_tid, &pid)?;
    }
    let pidfd_fd = if flags & CLONE_PIDFD != 0 {
        let fd = super::pidfd::install(parent, pid, Some(process), false)?;
        if let Err(e) = parent.mm().write_val(pidfd, &fd) {
            let _ = parent.fds().remove(fd);
            return Err(e);
        }
        Some(fd)
    } else {
        None
    };
    if flags & CLONE_SYSVSEM != 0 {
        crate::sentry::ipc::share_undo_list(ctx.task.pid, pid);
    }
    let traced = trace_new_task(&ctx.task, &mut child, flags);
    if let Err(e) = sched::add(child, regs, state) {
        if flags & CLONE_SYSVSEM != 0 {
            // Only the share is dropped: the parent still uses the list.
            crate::sentry::ipc::exit_process(pid, &ctx.task.ipc_ns);
        }
        if let Some(fd) = pidfd_fd {
            let _ = ctx.task.fds().remove(fd);
        }
        return Err(e);
    }
    link_tracee(&ctx.task, pid, traced);
    if vfork {
        ctx.task.switch_request = Some(SwitchRequest::VforkWait(pid));
    }
    Ok(pid as u64)
}

/// ptrace and a new task (Linux's copy_process): the event the creator
/// reports (PTRACE_EVENT_FORK/VFORK/CLONE under the matching option,
/// unless CLONE_UNTRACED) and whether the child is traced by the same
/// tracer (the event, or CLONE_PTRACE). A traced child starts with
/// SIGSTOP pending (or, seized, a PTRACE_EVENT_STOP).
fn trace_new_task(parent: &Task, child: &mut Task, flags: u64) -> Option<u32> {
    use crate::sentry::ptrace::*;
    if !parent.signals.traced {
        return None;
    }
    let (options, seized) = {
        let me = sched::current();
        let t = me.ptrace.lock();
        (t.options, t.seized)
    };
    let event = if flags & CLONE_UNTRACED != 0 {
        0
    } else if flags & CLONE_VFORK != 0 {
        (options & PTRACE_O_TRACEVFORK != 0) as u32 * PTRACE_EVENT_VFORK
    } else if child.exit_signal != SIGCHLD {
        (options & PTRACE_O_TRACECLONE != 0) as u32 * PTRACE_EVENT_CLONE
    } else {
        (options & PTRACE_O_TRACEFORK != 0) as u32 * PTRACE_EVENT_FORK
    };
    if event == 0 && flags & CLONE_PTRACE == 0 {
        return None;
    }
    child.signals.traced = true;
    if !seized {
        child.signals.send(crate::sentry::signal::SigInfo::new(
            crate::sentry::signal::SIGSTOP,
            crate::sentry::signal::SI_KERNEL,
        ));
    }
    Some(event)
}

/// The new task `tid` joins its creator's tracer; the creator reports the
/// event once the call is done (GETEVENTMSG: the new id).
fn link_tracee(parent: &sched::TaskRef, tid: i32, traced: Option<u32>) {
    let Some(event) = traced else {
        return;
    };
    let (tracer, tracer_tid, options, seized) = {
        let t = parent.cell().ptrace.lock();
        (t.tracer, t.tracer_tid, t.options, t.seized)
    };
    if let Some(cell) = sched::thread_cell(tid) {
        let mut t = cell.ptrace.lock();
        t.tracer = tracer;
        t.tracer_tid = tracer_tid;
        t.options = options;
        t.seized = seized;
        t.interrupt = seized;
    }
    if event != 0 {
        parent.cell().ptrace.lock().pending_event = Some((event, tid as u64));
    }
}

/// The child's descriptor table: the caller's with CLONE_FILES, else a
/// copy (EMFILE when it no longer fits under fs.nr_open).
fn files_for_child(
    parent: &mut Task,
    flags: u64,
) -> Result<Arc<Mutex<crate::sentry::fd::FdTable>>, Errno> {
    if flags & CLONE_FILES != 0 {
        return Ok(parent.files.clone());
    }
    let table = parent.fds().clone();
    if !super::ns::table_fits(table.highest()) {
        return Err(EMFILE);
    }
    Ok(Arc::new(Mutex::new(table)))
}

/// A thread: a task of the calling process sharing its memory and signal
/// dispositions (CLONE_VM | CLONE_SIGHAND | CLONE_THREAD), and its files
/// and filesystem state unless asked for copies (pthread_create shares
/// them: CLONE_FILES | CLONE_FS), with the tid/TLS options. Its exit
/// signal (clone's low byte) means nothing: a thread's end signals no one.
fn new_thread(
    ctx: &mut SyscallContext,
    flags: u64,
    stack: u64,
    parent_tid: u64,
    child_tid: u64,
    tls: u64,
) -> SysResult {
    const CLONE_SYSVSEM: u64 = 0x40000;
    let required = CLONE_VM | CLONE_SIGHAND | CLONE_THREAD;
    let optional = CLONE_FS
        | CLONE_FILES
        | CLONE_SYSVSEM
        | CLONE_IO
        | CLONE_SETTLS
        | CLONE_PARENT_SETTID
        | CLONE_CHILD_CLEARTID
        | CLONE_CHILD_SETTID
        | CLONE_DETACHED
        | CLONE_NEW_ANY;
    if flags & required != required || flags & !(required | optional) != 0 {
        log::info!("clone flags {flags:#x}: not supported for threads");
        return Err(ENOSYS);
    }
    if sched::task_count() >= sched::MAX_TASKS
        || crate::mm::kernel_memory_available() < FORK_HEAP_RESERVE
    {
        return Err(EAGAIN);
    }
    let parent = &mut *ctx.task;
    // A thread may have a UTS or IPC namespace of its own, as on Linux.
    let ns = super::ns::copy_namespaces(parent, flags)?;
    if flags & (CLONE_NEWIPC | CLONE_SYSVSEM) == CLONE_NEWIPC | CLONE_SYSVSEM {
        return Err(EINVAL);
    }
    let files = files_for_child(parent, flags)?;
    let (cwd, root) = if flags & CLONE_FS != 0 {
        (parent.cwd.clone(), parent.root.clone())
    } else {
        let root = parent.root.lock().clone();
        (
            Arc::new(Mutex::new(parent.cwd())),
            Arc::new(Mutex::new(root)),
        )
    };
    let keyrings = super::keys::for_new_thread(parent)?;
    let tid = sched::new_pid();
    let shares = Shares {
        pid: parent.pid,
        tid,
        process: parent.process.clone(),
        exit_signal: 0,
        vfork_parent: None,
        memory: parent.memory.clone(),
        files,
        cwd,
        root,
        comm: Arc::new(Mutex::new(parent.comm.lock().clone())),
        signals: parent.signals.thread_copy(),
        keyrings,
        ns,
        timer_slack: parent.timer_slack.for_child(),
    };
    let thread = new_task(parent, shares, flags, child_tid);
    let mut thread = thread;
    let (regs, state) = start_state(ctx.regs, &mut thread, flags, stack, tls);
    if flags & CLONE_PARENT_SETTID != 0 {
        parent.mm().write_val(parent_tid, &tid)?;
    }
    if flags & CLONE_CHILD_SETTID != 0 {
        parent.mm().write_val(child_tid, &tid)?;
    }
    let traced = trace_new_task(&ctx.task, &mut thread, flags);
    sched::add(thread, regs, state)?;
    link_tracee(&ctx.task, tid, traced);
    if flags & CLONE_SYSVSEM != 0 {
        // The process's undo list is made now, shared by its threads (as
        // Linux's copy_semundo does: kcmp sees it).
        crate::sentry::ipc::undo_list(ctx.task.pid, true);
    }
    Ok(tid as u64)
}

pub fn sys_fork(ctx: &mut SyscallContext) -> SysResult {
    new_process(ctx, 0, SIGCHLD as u64, 0, 0, 0, 0, 0)
}

pub fn sys_vfork(ctx: &mut SyscallContext) -> SysResult {
    new_process(ctx, CLONE_VM | CLONE_VFORK, SIGCHLD as u64, 0, 0, 0, 0, 0)
}

/// clone(flags, stack, parent_tid, child_tid, tls) on x86_64;
/// clone(flags, stack, parent_tid, tls, child_tid) on arm64 (`arg3`, `arg4`).
pub fn sys_clone(
    ctx: &mut SyscallContext,
    flags: u64,
    stack: u64,
    parent_tid: u64,
    arg3: u64,
    arg4: u64,
) -> SysResult {
    #[cfg(target_arch = "x86_64")]
    let (child_tid, tls) = (arg3, arg4);
    #[cfg(not(target_arch = "x86_64"))]
    let (tls, child_tid) = (arg3, arg4);
    // Linux (copy_thread -> do_arch_prctl_64): a TLS base outside the user
    // half is EPERM; writing it to the FS base MSR would #GP in ring 0.
    #[cfg(target_arch = "x86_64")]
    if flags & CLONE_SETTLS != 0 && tls >= crate::arch::TLS_BASE_LIMIT {
        return Err(EPERM);
    }
    // Legacy clone returns the pidfd through parent_tid. Its low byte is
    // the exit signal: CLONE_NEWTIME (0x80) cannot be asked for here, it
    // is part of the signal (one above 64, never sent).
    new_process(
        ctx,
        flags & !CSIGNAL,
        flags & CSIGNAL,
        stack,
        parent_tid,
        child_tid,
        tls,
        parent_tid,
    )
}

/// clone3(args, size): the same as clone, from a `struct clone_args`
/// (glibc creates its threads with it). set_tid and cgroup are not
/// supported (EINVAL unless zero, as a kernel without them would say for a
/// non-zero set_tid).
pub fn sys_clone3(ctx: &mut SyscallContext, addr: u64, size: u64) -> SysResult {
    const CLONE_ARGS_SIZE_VER0: u64 = 64;
    const CLONE_ARGS_MAX: u64 = 4096;
    const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
    if !(CLONE_ARGS_SIZE_VER0..=CLONE_ARGS_MAX).contains(&size) {
        return Err(EINVAL);
    }
    // flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size,
    // tls, set_tid, set_tid_size, cgroup.
    let mut fields = [0u64; 11];
    let known = (size as usize).min(fields.len() * 8);
    let mut raw = alloc::vec![0u8; size as usize];
    ctx.task.mm().copy_from_user(addr, &mut raw)?;
    // A larger struct from a newer libc: the extra bytes must be zero.
    if raw[known..].iter().any(|&b| b != 0) {
        return Err(E2BIG);
    }
    for (field, bytes) in fields.iter_mut().zip(raw[..known].chunks_exact(8)) {
        *field = u64::from_le_bytes(bytes.try_into().expect("8-byte chunks"));
    }
    let [flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup] =
        fields;
    // The CSIGNAL byte and CLONE_DETACHED are free for new flags in
    // clone3: only CLONE_NEWTIME is one so far.
    if flags & (CLONE_DETACHED | (CSIGNAL & !CLONE_NEWTIME)) != 0
        || exit_signal > 64
        || flags & (CLONE_THREAD | CLONE_PARENT) != 0 && exit_signal != 0
        || flags & CLONE_INTO_CGROUP != 0 && cgroup != 0
    {
        return Err(EINVAL);
    }
    if set_tid != 0 || set_tid_size != 0 {
        return Err(EINVAL);
    }
    if (stack == 0) != (stack_size == 0) {
        return Err(EINVAL);
    }
    let sp = if stack == 0 {
        0
    } else {
        stack.wrapping_add(stack_size)
    };
    new_process(
        ctx,
        flags,
        exit_signal,
        sp,
        parent_tid,
        child_tid,
        tls,
        pidfd,
    )
}

// --- execve -------------------------------------------------------------------------

/// A NULL-terminated array of strings from user memory (argv, envp).
fn read_strings(
    ctx: &mut SyscallContext,
    addr: u64,
    total: &mut usize,
) -> Result<Vec<Vec<u8>>, Errno> {
    let mut out = Vec::new();
    if addr == 0 {
        return Ok(out);
    }
    for i in 0.. {
        let pointer: u64 = UserPtr::<u64>::new(addr + i * 8).read(&mut ctx.task.mm())?;
        if pointer == 0 {
            break;
        }
        let limit = crate::sentry::exec::MAX_ARG_BYTES.saturating_sub(*total);
        let s = ctx.task.mm().read_cstring(pointer, limit).map_err(|e| {
            if e == ENAMETOOLONG {
                E2BIG
            } else {
                e
            }
        })?;
        *total += s.len() + 1;
        if *total > crate::sentry::exec::MAX_ARG_BYTES {
            return Err(E2BIG);
        }
        out.push(s);
    }
    Ok(out)
}

fn execve_core(
    ctx: &mut SyscallContext,
    dirfd: i32,
    path: u64,
    argv: u64,
    envp: u64,
    flags: u64,
) -> SysResult {
    const AT_SYMLINK_NOFOLLOW: u64 = 0x100;
    const AT_EMPTY_PATH: u64 = 0x1000;
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(EINVAL);
    }
    let target = super::path::exec_target(ctx, dirfd, path, flags)?;
    let path = target.path;
    let mut total = 0;
    let mut args = read_strings(ctx, argv, &mut total)?;
    let env = read_strings(ctx, envp, &mut total)?;
    // An empty argv gets "" as argv[0] (Linux 5.18+), so that argc >= 1
    // holds for every program.
    if args.is_empty() {
        args.push(Vec::new());
    }
    let program = crate::sentry::exec::follow_scripts(
        &ctx.task.namespace.clone(),
        &ctx.task.root_dir(),
        &ctx.task.cwd(),
        &ctx.task.creds.accessor(),
        ctx.task.creds.landlock.as_deref(),
        crate::sentry::exec::Program {
            inode: target.inode,
            shown: target.resolved,
            exec_path: path.clone(),
            args,
        },
    )?;
    let (inode, shown, exec_path, args) = (
        program.inode,
        program.shown,
        program.exec_path,
        program.args,
    );
    // Build the new image before touching the old one: until here every
    // failure leaves the caller as it was.
    let mut mm = ctx.task.mm().new_empty()?;
    let namespace = ctx.task.namespace.clone();
    let (root, cwd) = (ctx.task.root_dir(), ctx.task.cwd());
    let who = ctx.task.creds.accessor();
    let landlock = ctx.task.creds.landlock.as_deref();
    let loaded = crate::sentry::exec::load_elf(&mut mm, &inode, &mut |interp| {
        crate::sentry::exec::open_interpreter(&namespace, &root, &cwd, &who, landlock, interp)
    })?;
    let argv_refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
    let envp_refs: Vec<&[u8]> = env.iter().map(|e| e.as_slice()).collect();
    let sp = crate::sentry::exec::build_stack(
        &mut mm,
        &loaded,
        &argv_refs,
        &envp_refs,
        &path,
        crate::arch::hwcap(),
    )?;
    // The point of no return. The process's other threads end (they leave
    // at once, waits interrupted; this one waits until they are gone, as
    // Linux's de_thread does), and the exec'ing thread carries on as its
    // main thread.
    let cell = ctx.task.cell().clone();
    ctx.task
        .process
        .execed
        .store(true, core::sync::atomic::Ordering::Relaxed);
    sched::kill_other_threads(&cell);
    while sched::siblings_remain(&cell) && !cell.killed() {
        sched::thread_exits().add(&cell);
        ctx.task.unlocked(|| sched::block_current(u64::MAX, false));
        sched::thread_exits().remove(&cell);
    }
    let old_tid = ctx.task.tid;
    let task = &mut *ctx.task;
    sched::set_tid(&cell, task.pid);
    task.tid = task.pid;
    let root = mm.root();
    let old = core::mem::replace(&mut task.memory, Arc::new(Mutex::new(mm)));
    crate::arch::paging::activate_user_root(root);
    // /proc/<pid>/exe shows the program as resolved (the interpreter for a
    // script).
    crate::sentry::vfs::procfs::exec_replaced(
        &task.process.view.clone(),
        task.memory.clone(),
        args.clone(),
        shown,
    );
    drop(old);
    task.fds().close_on_exec();
    task.signals.reset_for_exec();
    let base = exec_path
        .rsplit(|&b| b == b'/')
        .next()
        .unwrap_or(&exec_path);
    *task.comm.lock() = base[..base.len().min(15)].to_vec();
    task.clear_child_tid = 0;
    task.robust_list = 0;
    task.keyrings.exec();
    // The capabilities the new program runs with (the sentry has no file
    // capabilities and runs no set-id programs: only the root and ambient
    // rules apply).
    task.creds.exec_transform();
    super::system::note_ids(task);
    #[cfg(target_arch = "x86_64")]
    {
        task.fs_base = 0;
        task.gs_base = 0;
    }
    crate::arch::reset_user_state();
    if let Some(parent) = task.vfork_parent.take() {
        sched::release_vfork_parent(parent, task.tid);
    }
    // With its own address space now, the process enters the time
    // namespace unshare(CLONE_NEWTIME) made for its children.
    super::ns::time_on_exec(ctx);
    *ctx.regs = crate::arch::UserContext::new_user(loaded.start, sp);
    ctx.full_return = true;
    crate::sentry::ptrace::exec_done(&mut ctx.task, old_tid);
    Ok(0)
}

pub fn sys_execve(ctx: &mut SyscallContext, path: u64, argv: u64, envp: u64) -> SysResult {
    execve_core(ctx, super::path::AT_FDCWD_ARG, path, argv, envp, 0)
}

pub fn sys_execveat(
    ctx: &mut SyscallContext,
    dirfd: i32,
    path: u64,
    argv: u64,
    envp: u64,
    flags: u64,
) -> SysResult {
    execve_core(ctx, dirfd, path, argv, envp, flags)
}

// --- wait ---------------------------------------------------------------------------

/// Which children a wait is about: pid > 0 that one, 0 the caller's
/// process group, -1 any, < -1 the group -pid.
fn selects(me: &Task, pid: i32) -> impl Fn(i32, i32) -> bool {
    let my_group = me.pgid();
    move |child, group| match pid {
        -1 => true,
        0 => group == my_group,
        p if p > 0 => child == p,
        p => group == -p,
    }
}

pub fn sys_wait4(
    ctx: &mut SyscallContext,
    pid: i32,
    status_addr: u64,
    options: u64,
    rusage: u64,
) -> SysResult {
    const WNOHANG: u64 = 1;
    const WUNTRACED: u64 = 2;
    const WCONTINUED: u64 = 8;
    const WALL_CLONE_NOTHREAD: u64 = 0x4000_0000 | 0x8000_0000 | 0x2000_0000;
    if options & !(WNOHANG | WUNTRACED | WCONTINUED | WALL_CLONE_NOTHREAD) != 0 {
        return Err(EINVAL);
    }
    // -INT_MIN is no process group: Linux (since 4.13) answers ESRCH.
    if pid == i32::MIN {
        return Err(ESRCH);
    }
    // Check the buffers before a zombie is taken: it must not be lost.
    if status_addr != 0 {
        ctx.task.mm().check_user(status_addr, 4, Access::Write)?;
    }
    if rusage != 0 {
        ctx.task.mm().check_user(rusage, 144, Access::Write)?;
    }
    let me = ctx.task.pid;
    let select = selects(&ctx.task, pid);
    loop {
        // A tracee's ptrace stop is reported to its tracer whatever the
        // options.
        if let Some((tid, code)) = sched::take_ptrace_report(me, false, &select) {
            let status: u32 = code << 8 | 0x7f;
            if status_addr != 0 {
                UserPtr::new(status_addr).write(&mut ctx.task.mm(), &status)?;
            }
            if rusage != 0 {
                ctx.task.mm().write_val(rusage, &[0i64; 18])?;
            }
            return Ok(tid as u64);
        }
        if let Some(zombie) = sched::reap(me, false, |z| select(z.pid, z.pgid)) {
            ctx.task.process.add_children_cpu(zombie.cpu);
            if status_addr != 0 {
                UserPtr::new(status_addr).write(&mut ctx.task.mm(), &zombie.status)?;
            }
            if rusage != 0 {
                let mut usage = [0i64; 18];
                usage[..4].copy_from_slice(&zombie.cpu.timevals());
                UserPtr::new(rusage).write(&mut ctx.task.mm(), &usage)?;
            }
            return Ok(zombie.pid as u64);
        }
        let wanted = |event: JobEvent| match event {
            JobEvent::Stopped(_) => options & WUNTRACED != 0,
            JobEvent::Continued => options & WCONTINUED != 0,
        };
        if let Some((child, event)) = sched::take_job_report(me, false, wanted, &select) {
            let status: u32 = match event {
                JobEvent::Stopped(signal) => (signal as u32) << 8 | 0x7f,
                JobEvent::Continued => 0xffff,
            };
            if status_addr != 0 {
                UserPtr::new(status_addr).write(&mut ctx.task.mm(), &status)?;
            }
            if rusage != 0 {
                ctx.task.mm().write_val(rusage, &[0i64; 18])?;
            }
            return Ok(child as u64);
        }
        if !sched::has_child(me, &select) && !sched::has_tracee(me, &select) {
            return Err(ECHILD);
        }
        if options & WNOHANG != 0 {
            return Ok(0);
        }
        match crate::sentry::signal::wait(&mut ctx.task, &[], u64::MAX, false) {
            Ok(_) => {}
            Err(e) if e == EINTR => return Err(ERESTARTSYS),
            Err(e) => return Err(e),
        }
    }
}

pub fn sys_waitid(
    ctx: &mut SyscallContext,
    idtype: u64,
    id: i32,
    info_addr: u64,
    options: u64,
) -> SysResult {
    const P_ALL: u64 = 0;
    const P_PID: u64 = 1;
    const P_PGID: u64 = 2;
    const P_PIDFD: u64 = 3;
    const WNOHANG: u64 = 1;
    const WSTOPPED: u64 = 2;
    const WEXITED: u64 = 4;
    const WCONTINUED: u64 = 8;
    const WNOWAIT: u64 = 0x0100_0000;
    const WALL_CLONE_NOTHREAD: u64 = 0x4000_0000 | 0x8000_0000 | 0x2000_0000;
    if idtype > P_PIDFD
        || options & !(WNOHANG | WEXITED | WSTOPPED | WCONTINUED | WNOWAIT | WALL_CLONE_NOTHREAD)
            != 0
        || options & (WEXITED | WSTOPPED | WCONTINUED) == 0
    {
        return Err(EINVAL);
    }
    let mut options = options;
    // A non-blocking pidfd makes the wait WNOHANG, and "nothing yet" an
    // EAGAIN unless the caller asked for WNOHANG itself.
    let mut pidfd_nonblocking = false;
    let pid = match idtype {
        P_ALL => -1,
        P_PID if id > 0 => id,
        P_PGID if id >= 0 => -id,
        P_PIDFD => {
            let (pid, file) = super::pidfd::target(ctx, id)?;
            if file.nonblocking() && options & WNOHANG == 0 {
                options |= WNOHANG;
                pidfd_nonblocking = true;
            }
            pid
        }
        _ => return Err(EINVAL),
    };
    if info_addr != 0 {
        ctx.task.mm().check_user(info_addr, 128, Access::Write)?;
    }
    let me = ctx.task.pid;
    let select = selects(&ctx.task, if pid == 0 { 0 } else { pid });
    loop {
        // Ptrace stops (CLD_TRAPPED) are reported with WSTOPPED.
        let keep = options & WNOWAIT != 0;
        if options & WSTOPPED != 0 {
            if let Some((tid, code)) = sched::take_ptrace_report(me, keep, &select) {
                if info_addr != 0 {
                    let mut info = crate::sentry::signal::SigInfo::from_process(SIGCHLD, 4, tid, 0);
                    info.fields[1] = code as u64;
                    UserPtr::new(info_addr).write(&mut ctx.task.mm(), &info)?;
                }
                return Ok(0);
            }
        }
        let reaped = if options & WEXITED != 0 {
            sched::reap(me, options & WNOWAIT != 0, |z| select(z.pid, z.pgid))
        } else {
            None
        };
        if let Some(zombie) = reaped {
            if options & WNOWAIT == 0 {
                ctx.task.process.add_children_cpu(zombie.cpu);
            }
            if info_addr != 0 {
                let signaled = zombie.status & 0x7f != 0;
                let (code, status) = if signaled {
                    let dumped = zombie.status & 0x80 != 0;
                    (if dumped { 3 } else { 2 }, zombie.status & 0x7f)
                } else {
                    (1, (zombie.status >> 8) & 0xff)
                };
                let mut info =
                    crate::sentry::signal::SigInfo::from_process(SIGCHLD, code, zombie.pid, 0);
                info.fields[1] = status as u64;
                UserPtr::new(info_addr).write(&mut ctx.task.mm(), &info)?;
            }
            return Ok(0);
        }
        let wanted = |event: JobEvent| match event {
            JobEvent::Stopped(_) => options & WSTOPPED != 0,
            JobEvent::Continued => options & WCONTINUED != 0,
        };
        let keep = options & WNOWAIT != 0;
        if let Some((child, event)) = sched::take_job_report(me, keep, wanted, &select) {
            if info_addr != 0 {
                let (code, status) = match event {
                    JobEvent::Stopped(signal) => (5, signal as u64), // CLD_STOPPED
                    JobEvent::Continued => (6, SIGCONT as u64),      // CLD_CONTINUED
                };
                let mut info =
                    crate::sentry::signal::SigInfo::from_process(SIGCHLD, code, child, 0);
                info.fields[1] = status;
                UserPtr::new(info_addr).write(&mut ctx.task.mm(), &info)?;
            }
            return Ok(0);
        }
        if !sched::has_child(me, &select) && !sched::has_tracee(me, &select) {
            return Err(ECHILD);
        }
        if options & WNOHANG != 0 {
            if pidfd_nonblocking {
                return Err(EAGAIN);
            }
            if info_addr != 0 {
                ctx.task.mm().copy_to_user(info_addr, &[0u8; 128])?;
            }
            return Ok(0);
        }
        match crate::sentry::signal::wait(&mut ctx.task, &[], u64::MAX, false) {
            Ok(_) => {}
            Err(e) if e == EINTR => return Err(ERESTARTSYS),
            Err(e) => return Err(e),
        }
    }
}
