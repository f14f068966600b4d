//! Processes started from the host in a running sandbox: `rvisor-runtime
//! exec` (podman exec, `ctr task exec`). The VMM side is
//! `vmm/src/exec.rs`; the request format is `boards::exec`.
//!
//! On `EVENT_EXEC` the sentry makes a new process, as gVisor does for
//! `runsc exec`: a fresh pid in its own session, no parent inside the
//! sandbox (getppid() is 0, as for a process whose parent lives outside
//! the pid namespace), the sandbox's file system, and stdio files that
//! reach the client's descriptors. The task is queued at once and does
//! the loading itself, on its own stack, when it first runs ([`begin`]):
//! finding the program in PATH, loading it and its interpreter can block
//! on host files, which the event handler must not. When the process
//! ends nobody in the sandbox waits for it: its status goes to the VMM
//! ([`exited`]), which hands it to the client.

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;

use boards::exec::{EXEC_FLAG_NO_NEW_PRIVS, MAX_EXEC_REQUEST};
use boards::hypercall::Op;
use spin::Mutex;

use super::errno::*;
use super::fd::{FdTable, OpenFile, O_RDONLY, O_WRONLY};
use super::task::Task;
use super::vfs::console::{ExecStream, TtyInfo};
use super::wait::WaitQueue;
use super::{exec, sched, signal, syscalls, task, vfs};
use crate::arch::{ThreadState, UserContext};
use crate::hv::{self, console as hvconsole};
use boards::bootinfo::TERMIOS_SIZE;

/// Tasks made for a request and not started yet: tid to slot.
static STARTING: Mutex<BTreeMap<i32, u64>> = Mutex::new(BTreeMap::new());
/// Processes started from the host: pid to slot.
static RUNNING: Mutex<BTreeMap<i32, u64>> = Mutex::new(BTreeMap::new());

/// Woken when the stdin of any exec'd process may have become readable.
pub fn input_queue() -> &'static Arc<WaitQueue> {
    static QUEUE: spin::Once<Arc<WaitQueue>> = spin::Once::new();
    QUEUE.call_once(|| Arc::new(WaitQueue::default()))
}

/// `EVENT_EXEC_INPUT`: a reader of that stdin may go on.
pub fn on_input(_slot: u64) {
    input_queue().wake_all();
}

/// `EVENT_EXEC`: makes the process for `slot` and queues it. `running` is
/// the running task when the caller holds its lock; the sandbox's first
/// process lends its address-space template and limits otherwise.
pub fn on_request(running: Option<&mut Task>, slot: u64) {
    let made = match running {
        Some(task) => make_task(task, slot),
        None => sched::with_thread_of_idle(super::APP_PID, |task| make_task(task, slot))
            .unwrap_or(Err(ESRCH)),
    };
    if let Err(e) = made {
        log::warn!("exec request {slot}: cannot make a process (errno {})", e.0);
        report(slot, 126 << 8);
    }
}

fn make_task(template: &mut Task, slot: u64) -> Result<(), Errno> {
    if sched::task_count() >= sched::MAX_TASKS {
        return Err(EAGAIN);
    }
    let memory = Arc::new(Mutex::new(template.mm().new_empty()?));
    let pid = sched::new_pid();
    // Its stdio is installed once the request is read (`load`).
    let mut fds = FdTable::default();
    fds.limit = template.rlimits[task::RLIMIT_NOFILE]
        .cur
        .min(usize::MAX as u64) as usize;
    let files = Arc::new(Mutex::new(fds));
    // It joins the sandbox's initial namespaces (the first process's).
    let ns = super::ns::initial(&template.namespace);
    let cwd = Arc::new(Mutex::new(ns.mnt.root_stack()));
    let root = Arc::new(Mutex::new(None));
    let comm = Arc::new(Mutex::new(Vec::new()));
    let timer_slack = task::TimerSlack::new(task::TimerSlack::INITIAL_NS);
    let view = Arc::new(vfs::procfs::ProcessView {
        timer_slack: timer_slack.clone(),
        pid,
        serial: vfs::procfs::new_serial(),
        fds: Mutex::new(files.clone()),
        memory: Mutex::new(Some(memory.clone())),
        cwd: Mutex::new(cwd.clone()),
        root: Mutex::new(root.clone()),
        argv: Mutex::new(Arc::new(Vec::new())),
        exe_path: Mutex::new(Vec::new()),
        comm: comm.clone(),
        ids: Mutex::new(vfs::procfs::IdView::default()),
        landlock: Mutex::new(None),
    });
    let now = crate::arch::cpu::counter();
    let task = Task {
        pid,
        tid: pid,
        // Its own session and group; no parent in the sandbox.
        process: task::Process::new(pid, 0, pid, pid, view),
        exit_signal: signal::SIGCHLD,
        vfork_parent: None,
        exiting: None,
        thread_exit: false,
        vfork_child: None,
        switch_request: None,
        memory,
        files,
        cwd,
        root,
        umask: 0o022,
        signals: signal::SignalState::new(),
        creds: Default::default(),
        keyrings: Default::default(),
        personality: 0,
        comm,
        nice: 0,
        sched: Default::default(),
        ioprio: 0,
        dumpable: 1,
        no_new_privs: false,
        seccomp: Default::default(),
        parent_death_signal: 0,
        timer_slack: timer_slack.clone(),
        namespace: ns.mnt,
        uts_ns: ns.uts,
        ipc_ns: ns.ipc,
        time_ns: ns.time,
        time_ns_for_children: ns.time_for_children,
        rlimits: template.rlimits,
        clear_child_tid: 0,
        robust_list: 0,
        fs_base: 0,
        gs_base: 0,
        syscalls: 0,
        start_tsc: now,
        cpu_ticks: 0,
        running_since: now,
        user_ticks: 0,
        user_since: now,
    };
    STARTING.lock().insert(pid, slot);
    // The registers and FPU state are replaced in `begin`.
    if let Err(e) = sched::add(task, UserContext::new_user(0, 0), ThreadState::save()) {
        STARTING.lock().remove(&pid);
        return Err(e);
    }
    Ok(())
}

/// Called by every task before it first enters user mode: a task made
/// for an exec request loads its program now and starts it at `regs`.
/// One that cannot ends here (false), with the shell's status (127 not
/// found, 126 not runnable) and one line on its stderr.
#[must_use]
pub fn begin(cell: &Arc<sched::TaskCell>, task: &mut Task, regs: &mut UserContext) -> bool {
    let Some(slot) = STARTING.lock().remove(&task.tid) else {
        return true;
    };
    RUNNING.lock().insert(task.pid, slot);
    crate::arch::reset_user_state();
    if let Err((name, e)) = load(task, regs, slot) {
        let (why, status): (&str, u32) = match e {
            e if e == ENOENT => ("not found in the sandbox", 127),
            e if e == EACCES => ("permission denied", 126),
            e if e == ENOEXEC => ("not a runnable ELF executable for this machine", 126),
            e if e == ENOTDIR => ("no such working directory", 126),
            e if e == EINVAL => ("a malformed exec request", 126),
            _ => ("cannot be executed", 126),
        };
        let line = alloc::format!(
            "rvisor: exec {}: {why} (errno {})\n",
            core::str::from_utf8(&name).unwrap_or("?"),
            e.0
        );
        hvconsole::write(
            hvconsole::Stream::Exec { slot, stderr: true },
            line.as_bytes(),
        );
        sched::exit_process(cell, task, status << 8);
        return false;
    }
    true
}

/// Fetches the request and sets the process up from it.
fn load(task: &mut Task, regs: &mut UserContext, slot: u64) -> Result<(), (Vec<u8>, Errno)> {
    let mut raw = alloc::vec![0u8; MAX_EXEC_REQUEST];
    let gpa = hv::kernel_virt_to_phys(raw.as_mut_ptr() as u64);
    let got = hvconsole::flush_and_call(Op::ExecRequest, &[slot, gpa, raw.len() as u64]);
    if got < 0 {
        return Err((Vec::new(), Errno(-got as i32)));
    }
    raw.truncate(got as usize);
    let request = boards::exec::decode(&raw).ok_or((Vec::new(), EINVAL))?;
    let argv: Vec<&[u8]> = request.args.iter().collect();
    let envp: Vec<&[u8]> = request.env.iter().collect();
    let name = argv[0].to_vec();
    let fail = |e| (name.clone(), e);
    let tty = TtyInfo {
        is_tty: request.tty.is_some(),
        termios: request.tty.map(|t| t.termios).unwrap_or([0; TERMIOS_SIZE]),
        winsize: request.tty.map(|t| t.winsize).unwrap_or_default(),
    };
    for (fd, flags) in [(0, O_RDONLY), (1, O_WRONLY), (2, O_WRONLY)] {
        let stream = Arc::new(ExecStream::new(slot, fd as u8, tty));
        task.fds()
            .install(fd, OpenFile::new(stream, flags), false)
            .map_err(fail)?;
    }
    task.creds = syscalls::system::Credentials::new(request.uid, request.gid);
    task.no_new_privs = request.flags & EXEC_FLAG_NO_NEW_PRIVS != 0;
    let namespace = task.namespace.clone();
    let cwd = namespace
        .resolve(&namespace.root_stack(), request.cwd, true)
        .map_err(fail)?;
    if cwd.node().kind() != vfs::FileKind::Directory {
        return Err(fail(ENOTDIR));
    }
    *task.cwd.lock() = cwd;
    let mut mm = task.mm();
    let (loaded, program) =
        super::load_first(&mut mm, &namespace, &name, None, &argv, &envp).map_err(fail)?;
    let args: Vec<&[u8]> = program.args.iter().map(|a| a.as_slice()).collect();
    let sp = exec::build_stack(
        &mut mm,
        &loaded,
        &args,
        &envp,
        &program.exec_path,
        crate::arch::hwcap(),
    )
    .map_err(fail)?;
    drop(mm);
    *task.comm.lock() = vfs::procfs::comm_of(&program.exec_path);
    vfs::procfs::exec_replaced(
        &task.process.view.clone(),
        task.memory.clone(),
        program.args.clone(),
        program.shown,
    );
    syscalls::system::note_ids(task);
    *regs = UserContext::new_user(loaded.start, sp);
    Ok(())
}

/// A process ended with the wait `status`: if the host started it, the
/// VMM gets the status (nobody in the sandbox can wait for it). True then.
pub fn exited(pid: i32, status: u32) -> bool {
    let Some(slot) = RUNNING.lock().remove(&pid) else {
        return false;
    };
    report(slot, status);
    true
}

fn report(slot: u64, status: u32) {
    hvconsole::flush_and_call(Op::ExecExit, &[slot, u64::from(status)]);
}

/// `Op::ExecInput`: stdin bytes of `slot` into `buf`; EAGAIN when none yet
/// (the VMM then watches it and publishes `EVENT_EXEC_INPUT`).
pub fn read_input(slot: u64, buf: &mut [u8]) -> Result<usize, Errno> {
    let gpa = hv::kernel_virt_to_phys(buf.as_mut_ptr() as u64);
    let n = hvconsole::flush_and_call(Op::ExecInput, &[slot, gpa, buf.len() as u64]);
    if n < 0 {
        return Err(Errno(-n as i32));
    }
    Ok((n as usize).min(buf.len()))
}
