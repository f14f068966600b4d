//! procfs: a minimal `/proc` generated from the sentry's own state:
//! `self` (-> the running process), `<pid>/{exe,cwd,fd/,maps,smaps,pagemap,status,cmdline,comm,
//! ns/,timerslack_ns}` for every live process,
//! `cpuinfo`, `meminfo`, `uptime`, `version`, `net/dev`. File contents are generated
//! when the file is opened, as a snapshot.

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::any::Any;
use core::fmt::Write;

use spin::Mutex;

use super::*;
use crate::sentry::fd::{FdTable, File, OpenFile, POLLERR, POLLIN, POLLOUT, POLLPRI};
use crate::sentry::mm::{AddressSpace, VmaKind};

/// The process state /proc shows, shared with the task.
pub struct ProcessView {
    pub pid: i32,
    /// Which process this is among all that had its pid (pids are reused
    /// after ns_last_pid is written or they wrap): its /proc/<pid>
    /// directory's inode number.
    pub serial: u64,
    /// The main thread's descriptor table and filesystem context
    /// (replaced when it unshares them).
    pub fds: Mutex<Arc<Mutex<FdTable>>>,
    /// Replaced when the process execs; gone once it has exited.
    pub memory: Mutex<Option<Arc<Mutex<AddressSpace>>>>,
    pub cwd: Mutex<Arc<Mutex<PathStack>>>,
    /// The root directory (chroot; None: the namespace's root).
    pub root: Mutex<Arc<Mutex<Option<PathStack>>>>,
    /// Replaced when the process execs (as are memory and exe_path).
    pub argv: Mutex<Arc<Vec<Vec<u8>>>>,
    pub exe_path: Mutex<Vec<u8>>,
    /// The thread name (prctl PR_SET_NAME), shared with the task.
    pub comm: Arc<Mutex<Vec<u8>>>,
    /// What status shows of the credentials: a copy that the credential
    /// syscalls refresh ([`note_ids`]).
    pub ids: Mutex<IdView>,
    /// The main thread's timer slack (/proc/<pid>/timerslack_ns).
    pub timer_slack: Arc<crate::sentry::task::TimerSlack>,
    /// The Landlock domain, for the scoping of signals sent to it.
    pub landlock: Mutex<Option<Arc<crate::sentry::landlock::Domain>>>,
}

/// A serial number for a new process's view.
pub fn new_serial() -> u64 {
    static SERIAL: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(1);
    SERIAL.fetch_add(1, core::sync::atomic::Ordering::Relaxed)
}

impl ProcessView {
    pub fn fds(&self) -> Arc<Mutex<FdTable>> {
        self.fds.lock().clone()
    }

    /// The process exited: what it held goes (its descriptors close, its
    /// memory is freed) even while pidfds or its zombie keep this view.
    pub fn release(&self) {
        *self.fds.lock() = Arc::new(Mutex::new(FdTable::default()));
        *self.memory.lock() = None;
        *self.root.lock() = Arc::new(Mutex::new(None));
    }
}

/// A process's credentials as /proc/PID/status shows them.
#[derive(Clone, Copy, Debug, Default)]
pub struct IdView {
    /// Real, effective, saved user ids; the filesystem ids apart.
    pub uid: [u32; 3],
    pub gid: [u32; 3],
    pub fsuid: u32,
    pub fsgid: u32,
    pub cap_inh: u64,
    pub cap_prm: u64,
    pub cap_eff: u64,
    pub cap_bnd: u64,
    pub cap_amb: u64,
    pub no_new_privs: bool,
    /// Seccomp mode and how many filters (status's Seccomp lines).
    pub seccomp: u32,
    pub seccomp_filters: usize,
}

/// The initial thread name: the executable's base name, at most 15 bytes.
pub fn comm_of(exe_path: &[u8]) -> Vec<u8> {
    let base = exe_path.rsplit(|&b| b == b'/').next().unwrap_or(exe_path);
    base[..base.len().min(15)].to_vec()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Node {
    Root,
    SelfLink,
    PidDir,
    Exe,
    Cwd,
    /// /proc/<pid>/root: the process's root directory (chroot).
    RootLink,
    FdDir,
    Fd(i32),
    /// /proc/<pid>/fdinfo and its files.
    FdInfoDir,
    FdInfo(i32),
    Maps,
    /// /proc/<pid>/smaps: maps with each area's sizes and flags.
    Smaps,
    /// /proc/<pid>/pagemap: 8 bytes per virtual page, read at the page's
    /// offset (generated as read, not at open).
    Pagemap,
    Status,
    Cmdline,
    Comm,
    CpuInfo,
    MemInfo,
    Uptime,
    LoadAvg,
    Version,
    Mounts,
    /// /proc/<pid>/mountinfo: the mounts with their ids.
    MountInfo,
    /// /proc/filesystems: the filesystem types the sandbox has.
    Filesystems,
    Stat,
    /// /proc/<pid>/task: one directory per thread.
    TaskDir,
    /// /proc/<pid>/task/<tid> (the node's `tid`).
    ThreadDir,
    /// /proc/stat (the system's, not a process's).
    SystemStat,
    /// /proc/net and /proc/net/dev (the interfaces).
    NetDir,
    NetDev,
    /// /proc/key-users: every user's key counts and quotas.
    KeyUsers,
    /// /proc/<pid>/ns and its links to the process's namespaces.
    NsDir,
    Ns(crate::sentry::ns::NsKind),
    /// /proc/<pid>/timerslack_ns: the main thread's timer slack.
    TimerSlack,
    /// /proc/<pid>/timens_offsets: the offsets of the process's time
    /// namespace for children.
    TimensOffsets,
    /// /proc/<pid>/coredump_filter: what a core dump of it holds.
    CoredumpFilter,
}

const ROOT_ENTRIES: &[(&[u8], Node)] = &[
    (b"self", Node::SelfLink),
    (b"cpuinfo", Node::CpuInfo),
    (b"meminfo", Node::MemInfo),
    (b"uptime", Node::Uptime),
    (b"loadavg", Node::LoadAvg),
    (b"stat", Node::SystemStat),
    (b"version", Node::Version),
    (b"mounts", Node::Mounts),
    (b"filesystems", Node::Filesystems),
    (b"net", Node::NetDir),
    (b"key-users", Node::KeyUsers),
];

const PID_ENTRIES: &[(&[u8], Node)] = &[
    (b"exe", Node::Exe),
    (b"cwd", Node::Cwd),
    (b"root", Node::RootLink),
    (b"fd", Node::FdDir),
    (b"fdinfo", Node::FdInfoDir),
    (b"maps", Node::Maps),
    (b"smaps", Node::Smaps),
    (b"pagemap", Node::Pagemap),
    (b"status", Node::Status),
    (b"cmdline", Node::Cmdline),
    (b"comm", Node::Comm),
    (b"stat", Node::Stat),
    (b"mounts", Node::Mounts),
    (b"mountinfo", Node::MountInfo),
    (b"ns", Node::NsDir),
    // The last four are the process's only.
    (b"task", Node::TaskDir),
    (b"timerslack_ns", Node::TimerSlack),
    (b"timens_offsets", Node::TimensOffsets),
    (b"coredump_filter", Node::CoredumpFilter),
];

/// What /proc/<pid>/task/<tid> holds: the process's entries, no `task`,
/// `timerslack_ns`, `timens_offsets` or `coredump_filter`.
const THREAD_ENTRIES: &[(&[u8], Node)] = PID_ENTRIES.split_at(PID_ENTRIES.len() - 4).0;

pub struct ProcNode {
    node: Node,
    view: Arc<ProcessView>,
    /// Under /proc/<pid>/task/<tid>: the thread (0: the process itself).
    tid: i32,
}

/// The root of a new /proc for the process `view`.
pub fn new_root(view: Arc<ProcessView>) -> Arc<ProcNode> {
    Arc::new(ProcNode {
        node: Node::Root,
        view,
        tid: 0,
    })
}

fn busy() -> Errno {
    log::warn!("procfs: process state is locked by the caller");
    EAGAIN
}

impl ProcNode {
    /// The pid of a /proc/<pid> directory (pidfd_send_signal takes one as
    /// a pidfd, as Linux does).
    pub fn process_dir_pid(&self) -> Option<i32> {
        (matches!(self.node, Node::PidDir) && self.tid == 0).then_some(self.view.pid)
    }

    /// The process a /proc/<pid> directory is about (not whoever has
    /// its pid now).
    pub fn view(&self) -> &Arc<ProcessView> {
        &self.view
    }

    fn child(&self, node: Node) -> Arc<dyn Inode> {
        Arc::new(ProcNode {
            node,
            view: self.view.clone(),
            tid: self.tid,
        })
    }

    fn ino(&self) -> u64 {
        match self.node {
            Node::Root => 1,
            Node::SelfLink => 2,
            Node::PidDir => 0x4_0000_0000 + self.view.serial,
            Node::Exe => 4,
            Node::Cwd => 5,
            Node::RootLink => 21,
            Node::FdDir => 6,
            Node::Fd(fd) => 1000 + fd as u64,
            Node::Maps => 7,
            Node::Smaps => 23,
            Node::Pagemap => 24,
            Node::Status => 8,
            Node::Cmdline => 9,
            Node::Comm => 10,
            Node::CpuInfo => 11,
            Node::MemInfo => 12,
            Node::Uptime => 13,
            Node::LoadAvg => 40,
            Node::Version => 14,
            Node::Mounts => 15,
            Node::MountInfo => 41,
            Node::Stat => 16,
            Node::TaskDir => 17,
            Node::SystemStat => 18,
            Node::NetDir => 19,
            Node::NetDev => 20,
            Node::KeyUsers => 22,
            Node::ThreadDir => 0x1_0000_0000 + self.tid as u64,
            Node::FdInfoDir => 21,
            Node::Filesystems => 22,
            Node::FdInfo(fd) => 0x2_0000_0000 + fd as u64,
            Node::NsDir => 23,
            Node::Ns(kind) => 0x3_0000_0000 + kind as u64,
            Node::TimerSlack => 24,
            Node::TimensOffsets => 25,
            Node::CoredumpFilter => 42,
        }
    }

    /// The namespace a /proc/<pid>/ns link names (the thread's own under
    /// /proc/<pid>/task/<tid>). As on Linux, only a process that may
    /// ptrace-read the target follows or reads it (EACCES).
    fn namespace(
        &self,
        kind: crate::sentry::ns::NsKind,
    ) -> Result<crate::sentry::ns::NsRef, Errno> {
        let me = crate::sentry::sched::current().process.clone();
        if !Arc::ptr_eq(&me.view, &self.view) {
            let mine = *me.view.ids.lock();
            let theirs = *self.view.ids.lock();
            const CAP_SYS_PTRACE: u64 = 1 << 19;
            let same = theirs.uid.iter().all(|&u| u == mine.fsuid)
                && theirs.gid.iter().all(|&g| g == mine.fsgid);
            if !same && mine.cap_eff & CAP_SYS_PTRACE == 0 {
                return Err(EACCES);
            }
        }
        let tid = if self.tid != 0 {
            self.tid
        } else {
            self.view.pid
        };
        let set = crate::sentry::sched::thread_namespaces(tid).ok_or(ENOENT)?;
        Ok(set.get(kind))
    }

    /// The mount namespace of the process this node shows.
    fn mount_namespace(&self) -> Option<Arc<super::Namespace>> {
        let set = crate::sentry::sched::thread_namespaces(self.view.pid)?;
        Some(set.mnt)
    }

    /// Linux's proc_coredump_filter_write: a number (kstrtouint, base
    /// from its prefix), whose filter bits become the process's; ESRCH
    /// once its memory is gone.
    fn write_coredump_filter(&self, buf: &[u8]) -> Result<usize, Errno> {
        let text = buf.strip_suffix(b"\n").unwrap_or(buf);
        let text = core::str::from_utf8(text).map_err(|_| EINVAL)?;
        let text = text.strip_prefix('+').unwrap_or(text);
        let value =
            if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
                u32::from_str_radix(hex, 16)
            } else if text.len() > 1 && text.starts_with('0') {
                u32::from_str_radix(&text[1..], 8)
            } else {
                text.parse::<u32>()
            }
            .map_err(|_| EINVAL)?;
        if self.view.memory.lock().is_none() {
            return Err(ESRCH);
        }
        let process = self.process().ok_or(ESRCH)?;
        process.coredump_filter.store(
            value & crate::sentry::coredump::FILTER_MASK,
            core::sync::atomic::Ordering::Relaxed,
        );
        Ok(buf.len())
    }

    /// Another process's timer slack is CAP_SYS_NICE's to see or set.
    fn may_touch_timer_slack(&self) -> Result<(), Errno> {
        let me = crate::sentry::sched::current().process.clone();
        const CAP_SYS_NICE: u64 = 1 << 23;
        if Arc::ptr_eq(&me.view, &self.view) || me.view.ids.lock().cap_eff & CAP_SYS_NICE != 0 {
            Ok(())
        } else {
            Err(EPERM)
        }
    }

    fn open_file(&self, fd: i32) -> Result<Arc<OpenFile>, Errno> {
        let table = self.view.fds();
        let fds = table.try_lock().ok_or_else(busy)?;
        fds.get(fd).cloned().map_err(|_| ENOENT)
    }

    fn comm(&self) -> Vec<u8> {
        self.view.comm.lock().clone()
    }

    /// The process this node shows, live or a zombie not yet waited for.
    fn process(&self) -> Option<Arc<crate::sentry::task::Process>> {
        let pid = self.view.pid;
        crate::sentry::sched::process(pid).or_else(|| crate::sentry::sched::zombie_process(pid))
    }

    fn generate(&self) -> Result<Vec<u8>, Errno> {
        let mut out = String::new();
        match self.node {
            Node::FdInfo(fd) => {
                let (file, cloexec) = {
                    let table = self.view.fds();
                    let fds = table.try_lock().ok_or_else(busy)?;
                    (fds.get(fd).cloned().map_err(|_| ENOENT)?, fds.cloexec(fd)?)
                };
                const O_CLOEXEC_OCTAL: u32 = 0o2000000;
                let flags = crate::sentry::fd::open_flags_to_user(*file.flags.lock())
                    | if cloexec { O_CLOEXEC_OCTAL } else { 0 };
                let stat = file.file.stat();
                // The mount it was opened in (statx's STATX_MNT_ID); a file
                // without a path: a number from its device.
                let mnt_id = match (&file.location, self.mount_namespace()) {
                    (Some(location), Some(ns)) => u64::from(ns.mount_of(location).0.id.old),
                    _ => stat.dev & 0xffff,
                };
                let _ = write!(
                    out,
                    "pos:\t{}\nflags:\t0{:o}\nmnt_id:\t{}\nino:\t{}\n",
                    *file.offset.lock(),
                    flags,
                    mnt_id,
                    stat.ino
                );
                let mut bytes = out.into_bytes();
                if let Some(inotify) = file.file.as_inotify() {
                    bytes.extend_from_slice(&inotify.fdinfo());
                }
                if let Some(group) = file.file.as_fanotify() {
                    bytes.extend_from_slice(&group.fdinfo());
                }
                return Ok(bytes);
            }
            Node::Maps | Node::Smaps => {
                let space = self.view.memory.lock().clone().ok_or(ESRCH)?;
                let mut memory = space.try_lock().ok_or_else(busy)?;
                let exe = self.view.exe_path.lock().clone();
                for vma in memory.vma_list() {
                    out.push_str(&maps_line(&vma, &exe));
                    if self.node == Node::Smaps {
                        smaps_details(&mut out, &vma, &mut memory);
                    }
                }
            }
            Node::Status => {
                // A zombie's memory is gone: its sizes read 0.
                let space = self.view.memory.lock().clone();
                let (size_kb, rss_kb, locked_kb) = match space.as_ref().map(|s| s.try_lock()) {
                    Some(Some(mut memory)) => {
                        let (size, rss) = memory.usage_kb();
                        (size, rss, memory.locked_bytes() / 1024)
                    }
                    Some(None) => return Err(busy()),
                    None => (0, 0, 0),
                };
                let fds = self
                    .view
                    .fds()
                    .try_lock()
                    .map(|f| f.list().len())
                    .unwrap_or(0);
                let pid = self.view.pid;
                let tid = if self.tid != 0 { self.tid } else { pid };
                let ppid = self.process().map_or(0, |p| p.ppid());
                let threads = crate::sentry::sched::thread_count(pid).max(1);
                let state = match crate::sentry::sched::task_state_letter(pid, self.tid) {
                    Some('R') => "R (running)",
                    Some('S') => "S (sleeping)",
                    Some('T') => "T (stopped)",
                    Some('t') => "t (tracing stop)",
                    _ => "Z (zombie)",
                };
                let tracer = crate::sentry::sched::tracer_of(tid);
                let ids = *self.view.ids.lock();
                let (u, g) = (ids.uid, ids.gid);
                let _ = write!(
                    out,
                    "Name:\t{}\nUmask:\t0022\nState:\t{state}\nTgid:\t{pid}\nNgid:\t0\n\
                     Pid:\t{tid}\nPPid:\t{ppid}\nTracerPid:\t{tracer}\n\
                     Uid:\t{}\t{}\t{}\t{}\nGid:\t{}\t{}\t{}\t{}\n\
                     FDSize:\t{}\nGroups:\t\nVmPeak:\t{size_kb:8} kB\nVmSize:\t{size_kb:8} kB\n\
                     VmLck:\t{locked_kb:8} kB\nVmPin:\t       0 kB\nVmRSS:\t{rss_kb:8} kB\nThreads:\t{threads}\nSigQ:\t0/4096\n\
                     CapInh:\t{:016x}\nCapPrm:\t{:016x}\nCapEff:\t{:016x}\nCapBnd:\t{:016x}\n\
                     CapAmb:	{:016x}
NoNewPrivs:	{}
Seccomp:	{}
\
                     Seccomp_filters:	{}
Cpus_allowed:	1
Cpus_allowed_list:	0
",
                    String::from_utf8_lossy(&self.comm()),
                    u[0],
                    u[1],
                    u[2],
                    ids.fsuid,
                    g[0],
                    g[1],
                    g[2],
                    ids.fsgid,
                    fds.max(64).next_power_of_two(),
                    ids.cap_inh,
                    ids.cap_prm,
                    ids.cap_eff,
                    ids.cap_bnd,
                    ids.cap_amb,
                    u8::from(ids.no_new_privs),
                    ids.seccomp,
                    ids.seccomp_filters
                );
            }
            Node::Cmdline => {
                let mut bytes = Vec::new();
                let argv = self.view.argv.lock().clone();
                for arg in argv.iter() {
                    bytes.extend_from_slice(arg);
                    bytes.push(0);
                }
                return Ok(bytes);
            }
            Node::Comm => {
                let mut bytes = self.comm();
                bytes.push(b'\n');
                return Ok(bytes);
            }
            Node::CpuInfo => {
                out.push_str(&crate::arch::cpu::cpuinfo(crate::sentry::time::tsc_khz()));
            }
            Node::MemInfo => {
                let total_kb = crate::mm::total_frames() * 4;
                let free_kb = crate::mm::free_frames() * 4;
                let _ = write!(
                    out,
                    "MemTotal:       {total_kb:8} kB\nMemFree:        {free_kb:8} kB\n\
                     MemAvailable:   {free_kb:8} kB\nBuffers:               0 kB\n\
                     Cached:                0 kB\nSwapCached:            0 kB\n\
                     SwapTotal:             0 kB\nSwapFree:              0 kB\n"
                );
            }
            Node::LoadAvg => {
                let (loads, runnable, total) = crate::sentry::sched::load_average();
                let two = |v: u64| (v >> 11, ((v & 2047) * 100) >> 11);
                let (a, b, c) = (two(loads[0]), two(loads[1]), two(loads[2]));
                let _ = writeln!(
                    out,
                    "{}.{:02} {}.{:02} {}.{:02} {runnable}/{total} {}",
                    a.0,
                    a.1,
                    b.0,
                    b.1,
                    c.0,
                    c.1,
                    crate::sentry::sched::last_pid()
                );
            }
            Node::Uptime => {
                // In the reader's time namespace (as sysinfo's uptime).
                let ns = reader_time_ns().view(CLOCK_BOOTTIME, crate::sentry::time::boottime_ns());
                let _ = writeln!(
                    out,
                    "{}.{:02} 0.00",
                    ns / 1_000_000_000,
                    (ns / 10_000_000) % 100
                );
            }
            Node::Mounts => {
                let listed = self.mount_namespace().map(|ns| ns.listed_mounts());
                let boot = MOUNTS.lock().clone();
                for (source, path, kind, options) in boot.iter().chain(listed.iter().flatten()) {
                    let _ = writeln!(
                        out,
                        "{} {} {} {} 0 0",
                        String::from_utf8_lossy(source),
                        String::from_utf8_lossy(path),
                        String::from_utf8_lossy(kind),
                        String::from_utf8_lossy(options)
                    );
                }
            }
            Node::MountInfo => {
                let ns = self.mount_namespace().ok_or(ESRCH)?;
                let root = self.view.root.lock().lock().clone();
                let root = root.map_or_else(|| b"/".to_vec(), |r| r.path());
                let boot = MOUNTS.lock().clone();
                for (meta, line, dev) in ns.mount_table() {
                    // Mounts outside the process's root are not shown.
                    if !super::mount_ids::path_beneath(&meta.point, &root) {
                        continue;
                    }
                    // One of the sandbox's own mounts: its boot record.
                    let line = line.or_else(|| boot.iter().find(|l| l.1 == meta.point).cloned());
                    let (source, super_options) = match &line {
                        Some((source, _, _, options)) => (source.clone(), options.clone()),
                        None => (b"none".to_vec(), b"rw".to_vec()),
                    };
                    let _ = writeln!(
                        out,
                        "{} {} {}:{} {} {} {} - {} {} {}",
                        meta.id.old,
                        meta.parent.old,
                        crate::sentry::stat::dev_major(dev),
                        crate::sentry::stat::dev_minor(dev),
                        escaped(&meta.root),
                        escaped(&super::mount_ids::path_from(&meta.point, &root)),
                        mount_options(meta.attr),
                        escaped(&meta.fstype),
                        escaped(&source),
                        escaped(&super_options),
                    );
                }
            }
            Node::Stat => {
                // The fields ps reads, Linux's order; the rest are 0. A
                // zombie (state Z) shows no memory, and the CPU time it
                // used.
                let pid = self.view.pid;
                let state = crate::sentry::sched::task_state_letter(pid, self.tid).unwrap_or('Z');
                let space = self.view.memory.lock().clone();
                let (size_kb, rss_kb) = match space.as_ref().map(|s| s.try_lock()) {
                    Some(Some(mut memory)) => memory.usage_kb(),
                    Some(None) => return Err(busy()),
                    None => (0, 0),
                };
                let process = self.process();
                let (ppid, pgid, sid) = process
                    .as_ref()
                    .map_or((0, pid, pid), |p| (p.ppid(), p.pgid(), p.sid()));
                let (own, children) = process.as_ref().map_or(Default::default(), |p| {
                    (p.cpu_times(0), p.children_cpu_times())
                });
                let ticks = crate::sentry::syscalls::time::clock_ticks;
                let threads = crate::sentry::sched::thread_count(pid).max(1);
                let _ = writeln!(
                    out,
                    "{pid} ({}) {state} {ppid} {pgid} {sid} 0 -1 4194304 0 0 0 0 {} {} {} {} 20 0 {threads} 0 \
                     0 {} {} 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 \
                     0 0 0 0 0 0 0",
                    String::from_utf8_lossy(&self.comm()),
                    ticks(own.user),
                    ticks(own.system),
                    ticks(children.user),
                    ticks(children.system),
                    size_kb * 1024,
                    rss_kb / 4
                );
            }
            Node::CoredumpFilter => {
                // A process without memory (a zombie) reads empty.
                if self.view.memory.lock().is_some() {
                    let filter = self.process().map_or(0, |p| {
                        p.coredump_filter
                            .load(core::sync::atomic::Ordering::Relaxed)
                    });
                    let _ = writeln!(out, "{filter:08x}");
                }
            }
            Node::SystemStat => {
                // One CPU. Its time is not split into user, system and idle
                // here: all of the uptime counts as user time. btime (what
                // ps needs) is exact.
                let boot_ns = crate::sentry::time::boottime_ns();
                let ticks = boot_ns / 10_000_000;
                // The boot as the reader's time namespace dates it (its
                // boot-time offset moves the boot the other way).
                let uptime = reader_time_ns().view(CLOCK_BOOTTIME, boot_ns);
                let btime =
                    crate::sentry::time::realtime_ns().saturating_sub(uptime) / 1_000_000_000;
                let running = crate::sentry::sched::processes().len();
                let _ = write!(
                    out,
                    "cpu  {ticks} 0 0 0 0 0 0 0 0 0\ncpu0 {ticks} 0 0 0 0 0 0 0 0 0\n\
                     intr 0\nctxt 0\nbtime {btime}\nprocesses {running}\n\
                     procs_running 1\nprocs_blocked 0\nsoftirq 0 0 0 0 0 0 0 0 0 0 0\n"
                );
            }
            Node::NetDev => {
                // The interfaces: the loopback, and with --net the host's
                // reachability (docs/ARCHITECTURE.md, the network path).
                // Traffic counters are not kept: they read 0.
                out.push_str(
                    "Inter-|   Receive                                                |  Transmit\n \
                     face |bytes    packets errs drop fifo frame compressed multicast|\
                     bytes    packets errs drop fifo colls carrier compressed\n",
                );
                for interface in crate::sentry::net::interfaces::list() {
                    let name = interface.name;
                    let _ = writeln!(
                        out,
                        "{name:>6}:{:>8} {:>7} {:>4} {:>4} {:>4} {:>5} {:>10} {:>9} {:>8} {:>7} {:>4} {:>4} {:>4} {:>5} {:>7} {:>10}",
                        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
                    );
                }
            }
            Node::KeyUsers => out = crate::sentry::syscalls::keys::proc_key_users(),
            Node::TimerSlack => {
                self.may_touch_timer_slack()?;
                let _ = writeln!(out, "{}", self.view.timer_slack.get());
            }
            Node::TimensOffsets => {
                let set = crate::sentry::sched::thread_namespaces(self.view.pid).ok_or(ESRCH)?;
                out = set.time_for_children.offsets.get().show();
            }
            Node::Version => {
                let _ = writeln!(
                    out,
                    "Linux version {} (rvisor) #1 SMP rvisor",
                    crate::sentry::KERNEL_RELEASE
                );
            }
            Node::Filesystems => {
                // None needs a block device.
                for name in super::FILESYSTEM_TYPES {
                    let _ = writeln!(out, "nodev\t{}", core::str::from_utf8(name).unwrap_or("?"));
                }
            }
            _ => return Err(EINVAL),
        }
        Ok(out.into_bytes())
    }
}

impl Inode for ProcNode {
    fn stat(&self) -> Stat {
        let (mode, nlink) = match self.node {
            Node::Root
            | Node::PidDir
            | Node::FdDir
            | Node::FdInfoDir
            | Node::TaskDir
            | Node::ThreadDir
            | Node::NetDir => (S_IFDIR | 0o555, 2),
            Node::NsDir => (S_IFDIR | 0o511, 2),
            Node::SelfLink | Node::Exe | Node::Cwd | Node::RootLink | Node::Ns(_) => {
                (S_IFLNK | 0o777, 1)
            }
            Node::Fd(_) => (S_IFLNK | 0o700, 1),
            Node::TimerSlack => (S_IFREG | 0o666, 1),
            Node::TimensOffsets => (S_IFREG | 0o644, 1),
            Node::CoredumpFilter => (S_IFREG | 0o644, 1),
            _ => (S_IFREG | 0o444, 1),
        };
        let t = ((crate::sentry::time::realtime_ns() - crate::sentry::time::boottime_ns())
            / 1_000_000_000) as i64;
        Stat {
            dev: DEV_PROCFS,
            ino: self.ino(),
            nlink,
            mode,
            blksize: 1024,
            atime: t,
            mtime: t,
            ctime: t,
            ..Stat::default()
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn lookup(&self, name: &[u8]) -> Result<Arc<dyn Inode>, Errno> {
        match self.node {
            Node::Root => {
                let pid = core::str::from_utf8(name)
                    .ok()
                    .filter(|s| !s.starts_with('+') && !s.starts_with('-'))
                    .and_then(|s| s.parse::<i32>().ok());
                if let Some(pid) = pid {
                    // A zombie stays visible until it is waited for.
                    let view = crate::sentry::sched::process(pid)
                        .or_else(|| crate::sentry::sched::zombie_process(pid))
                        .map(|p| p.view.clone())
                        .ok_or(ENOENT)?;
                    return Ok(Arc::new(ProcNode {
                        node: Node::PidDir,
                        view,
                        tid: 0,
                    }));
                }
                if name == b"sys" {
                    return Ok(super::procsys::root());
                }
                if name == b"sysvipc" {
                    return Ok(super::procsys::sysvipc());
                }
                ROOT_ENTRIES
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, node)| self.child(*node))
                    .ok_or(ENOENT)
            }
            Node::PidDir => PID_ENTRIES
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, node)| self.child(*node))
                .ok_or(ENOENT),
            Node::ThreadDir => THREAD_ENTRIES
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, node)| self.child(*node))
                .ok_or(ENOENT),
            Node::TaskDir => {
                let tid: i32 = core::str::from_utf8(name)
                    .ok()
                    .filter(|s| !s.starts_with('+') && !s.starts_with('-'))
                    .and_then(|s| s.parse().ok())
                    .ok_or(ENOENT)?;
                if !crate::sentry::sched::thread_ids(self.view.pid).contains(&tid) {
                    return Err(ENOENT);
                }
                Ok(Arc::new(ProcNode {
                    node: Node::ThreadDir,
                    view: self.view.clone(),
                    tid,
                }))
            }
            Node::NsDir => crate::sentry::ns::NsKind::ALL
                .iter()
                .find(|kind| kind.entry() == name)
                .map(|kind| self.child(Node::Ns(*kind)))
                .ok_or(ENOENT),
            Node::NetDir if name == b"dev" => Ok(self.child(Node::NetDev)),
            Node::NetDir => Err(ENOENT),
            Node::FdDir | Node::FdInfoDir => {
                let fd: i32 = core::str::from_utf8(name)
                    .ok()
                    .filter(|s| !s.starts_with('+') && !s.starts_with('-'))
                    .and_then(|s| s.parse().ok())
                    .ok_or(ENOENT)?;
                self.open_file(fd)?;
                Ok(self.child(if self.node == Node::FdDir {
                    Node::Fd(fd)
                } else {
                    Node::FdInfo(fd)
                }))
            }
            _ => Err(ENOTDIR),
        }
    }

    fn readdir(&self) -> Result<Vec<DirEntry>, Errno> {
        let entry = |name: &[u8], node: Node, tid: i32| {
            let child = ProcNode {
                node,
                view: self.view.clone(),
                tid,
            };
            DirEntry {
                name: name.to_vec(),
                ino: child.ino(),
                kind: child.kind(),
            }
        };
        match self.node {
            Node::Root => {
                let mut out: Vec<DirEntry> = ROOT_ENTRIES
                    .iter()
                    .map(|(n, node)| entry(n, *node, 0))
                    .collect();
                // The live processes, and the zombies not yet reaped
                // (state Z), by ascending pid.
                let live = crate::sentry::sched::processes();
                let mut dirs: Vec<(i32, u64)> = live
                    .iter()
                    .map(|p| (p.pid, 0x4_0000_0000 + p.view.serial))
                    .collect();
                for pid in crate::sentry::sched::zombie_pids() {
                    if !dirs.iter().any(|&(p, _)| p == pid) {
                        dirs.push((pid, 0));
                    }
                }
                dirs.sort_unstable();
                for (pid, ino) in dirs {
                    if ino == 0 {
                        out.push(entry(format!("{pid}").as_bytes(), Node::PidDir, 0));
                        continue;
                    }
                    out.push(DirEntry {
                        name: format!("{pid}").into_bytes(),
                        ino,
                        kind: FileKind::Directory,
                    });
                }
                let sys = super::procsys::root();
                out.push(DirEntry {
                    name: b"sys".to_vec(),
                    ino: sys.stat().ino,
                    kind: sys.kind(),
                });
                let ipc = super::procsys::sysvipc();
                out.push(DirEntry {
                    name: b"sysvipc".to_vec(),
                    ino: ipc.stat().ino,
                    kind: ipc.kind(),
                });
                Ok(out)
            }
            Node::PidDir => Ok(PID_ENTRIES
                .iter()
                .map(|(n, node)| entry(n, *node, 0))
                .collect()),
            Node::ThreadDir => Ok(THREAD_ENTRIES
                .iter()
                .map(|(n, node)| entry(n, *node, self.tid))
                .collect()),
            Node::TaskDir => Ok(crate::sentry::sched::thread_ids(self.view.pid)
                .into_iter()
                .map(|tid| entry(format!("{tid}").as_bytes(), Node::ThreadDir, tid))
                .collect()),
            Node::NetDir => Ok(alloc::vec![entry(b"dev", Node::NetDev, 0)]),
            Node::NsDir => Ok(crate::sentry::ns::NsKind::ALL
                .iter()
                .map(|kind| entry(kind.entry(), Node::Ns(*kind), self.tid))
                .collect()),
            Node::FdDir => {
                let table = self.view.fds();
                let fds = table.try_lock().ok_or_else(busy)?;
                Ok(fds
                    .list()
                    .into_iter()
                    .map(|(fd, _)| entry(format!("{fd}").as_bytes(), Node::Fd(fd), self.tid))
                    .collect())
            }
            Node::FdInfoDir => {
                let table = self.view.fds();
                let fds = table.try_lock().ok_or_else(busy)?;
                Ok(fds
                    .list()
                    .into_iter()
                    .map(|(fd, _)| entry(format!("{fd}").as_bytes(), Node::FdInfo(fd), self.tid))
                    .collect())
            }
            _ => Err(ENOTDIR),
        }
    }

    /// O_TRUNC (and truncate) of a /proc file: Linux's proc_setattr takes
    /// the size change and nothing changes (`echo 1 > /proc/self/...`
    /// opens with O_TRUNC).
    fn truncate(&self, _size: u64) -> Result<(), Errno> {
        if self.kind() == FileKind::Directory {
            return Err(EISDIR);
        }
        Ok(())
    }

    fn is_magic_link(&self) -> bool {
        matches!(
            self.node,
            Node::Exe | Node::Cwd | Node::RootLink | Node::Fd(_) | Node::Ns(_)
        )
    }

    fn magic_link(&self) -> Option<Result<Arc<OpenFile>, Errno>> {
        match self.node {
            Node::Fd(fd) => Some(self.open_file(fd)),
            Node::Ns(kind) => Some(self.namespace(kind).map(crate::sentry::ns::NsFile::open)),
            _ => None,
        }
    }

    fn readlink(&self) -> Result<Vec<u8>, Errno> {
        match self.node {
            Node::SelfLink => Ok(format!("{}", current_pid()).into_bytes()),
            Node::Exe => Ok(self.view.exe_path.lock().clone()),
            Node::Cwd => Ok(self.view.cwd.lock().lock().path()),
            Node::RootLink => Ok(match &*self.view.root.lock().lock() {
                Some(root) => root.path(),
                None => b"/".to_vec(),
            }),
            Node::Fd(fd) => {
                let file = self.open_file(fd)?;
                Ok(describe_open_file(&file))
            }
            Node::Ns(kind) => Ok(self.namespace(kind)?.link_text()),
            _ => Err(EINVAL),
        }
    }

    fn open(self: Arc<Self>, _flags: u32) -> Result<Arc<dyn File>, Errno> {
        match self.node {
            Node::Root
            | Node::PidDir
            | Node::FdDir
            | Node::FdInfoDir
            | Node::TaskDir
            | Node::ThreadDir
            | Node::NsDir
            | Node::NetDir => Ok(Arc::new(crate::sentry::fd::DirFile::new(self))),
            Node::SelfLink | Node::Exe | Node::Cwd | Node::RootLink | Node::Fd(_) | Node::Ns(_) => {
                Err(ELOOP)
            }
            Node::Pagemap => Ok(Arc::new(Pagemap { node: self })),
            _ => {
                let data = self.generate()?;
                // /proc/mounts reports mount changes since it was opened.
                let mounts = match self.node {
                    Node::Mounts | Node::MountInfo => self.mount_namespace().map(|ns| MountWatch {
                        seen: core::sync::atomic::AtomicU64::new(ns.events()),
                        ns,
                    }),
                    _ => None,
                };
                // Linux checks a write to timens_offsets against the
                // opener's capabilities (file_ns_capable).
                let opener_caps = match self.node {
                    Node::TimensOffsets => {
                        crate::sentry::sched::current()
                            .process
                            .view
                            .ids
                            .lock()
                            .cap_eff
                    }
                    _ => 0,
                };
                Ok(Arc::new(Snapshot {
                    node: self,
                    data,
                    mounts,
                    opener_caps,
                }))
            }
        }
    }
}

/// What /proc/<pid>/maps shows of a mapping besides its range and
/// permissions (and what PROCMAP_QUERY answers).
pub struct MapShown {
    /// The file, the executable or [heap], [stack], [vdso], [vvar];
    /// empty for anonymous memory.
    pub name: Vec<u8>,
    pub offset: u64,
    pub major: u32,
    pub minor: u32,
    pub inode: u64,
}

impl MapShown {
    pub fn of(vma: &crate::sentry::mm::Vma, exe: &[u8]) -> MapShown {
        let name: Vec<u8> = match vma.kind {
            VmaKind::Image => exe.to_vec(),
            VmaKind::Heap => b"[heap]".to_vec(),
            VmaKind::Stack => b"[stack]".to_vec(),
            VmaKind::Anonymous => Vec::new(),
            VmaKind::File => vma
                .file
                .as_ref()
                .and_then(|f| f.path.as_ref())
                .map(|p| p.to_vec())
                .unwrap_or_default(),
            VmaKind::Vdso => b"[vdso]".to_vec(),
            VmaKind::Vvar => b"[vvar]".to_vec(),
        };
        // File mappings show their offset and the file's device and
        // inode, as on Linux; the executable loaded at boot has no file
        // node and shows the device and inode it is known by.
        let (offset, dev, inode) = match &vma.file {
            Some(f) => {
                let (dev, ino) = f.inode.id();
                (f.offset, dev, ino)
            }
            None if vma.kind == VmaKind::Image => (0, super::DEV_EXE, 1),
            None => (0, 0, 0),
        };
        MapShown {
            name,
            offset,
            major: (dev >> 8) as u32,
            minor: (dev & 0xff) as u32,
            inode,
        }
    }
}

/// The GNU build id of the ELF file `file` (its NT_GNU_BUILD_ID note, at
/// most 20 bytes), as Linux's build_id_parse reads it for PROCMAP_QUERY;
/// None when the file is no 64-bit little-endian ELF or has no such note.
pub fn build_id(file: &dyn Inode) -> Option<Vec<u8>> {
    let read = |offset: u64, len: usize| -> Option<Vec<u8>> {
        let mut buf = alloc::vec![0u8; len];
        let n = file.read_at(offset, &mut buf).ok()?;
        (n == len).then_some(buf)
    };
    let u16_at = |b: &[u8], at: usize| u16::from_le_bytes([b[at], b[at + 1]]);
    let u32_at = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    let u64_at = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
    let header = read(0, 64)?;
    if header[..4] != *b"\x7fELF" || header[4] != 2 || header[5] != 1 {
        return None;
    }
    let (phoff, phentsize, phnum) = (
        u64_at(&header, 32),
        u16_at(&header, 54),
        u16_at(&header, 52),
    );
    if phentsize != 56 || phnum > 256 {
        return None;
    }
    let phdrs = read(phoff, 56 * phnum as usize)?;
    for ph in phdrs.chunks_exact(56) {
        const PT_NOTE: u32 = 4;
        if u32_at(ph, 0) != PT_NOTE {
            continue;
        }
        let (offset, size) = (u64_at(ph, 8), u64_at(ph, 32).min(64 << 10) as usize);
        let Some(notes) = read(offset, size) else {
            continue;
        };
        // Notes: namesz, descsz, type, then name and desc, each 4-aligned.
        let mut at = 0;
        while at + 12 <= notes.len() {
            let (namesz, descsz, kind) = (
                u32_at(&notes, at) as usize,
                u32_at(&notes, at + 4) as usize,
                u32_at(&notes, at + 8),
            );
            let name_at = at + 12;
            let desc_at = name_at + namesz.div_ceil(4) * 4;
            let end = desc_at.checked_add(descsz.div_ceil(4) * 4)?;
            if end > notes.len() {
                break;
            }
            const NT_GNU_BUILD_ID: u32 = 3;
            if kind == NT_GNU_BUILD_ID
                && namesz == 4
                && notes[name_at..name_at + 4] == *b"GNU\0"
                && descsz > 0
                && descsz <= 20
            {
                return Some(notes[desc_at..desc_at + descsz].to_vec());
            }
            at = end;
        }
    }
    None
}

/// PROCMAP_QUERY's flags (Linux's uapi/linux/fs.h).
pub const PROCMAP_QUERY_VMA_READABLE: u64 = 0x01;
pub const PROCMAP_QUERY_VMA_WRITABLE: u64 = 0x02;
pub const PROCMAP_QUERY_VMA_EXECUTABLE: u64 = 0x04;
pub const PROCMAP_QUERY_VMA_SHARED: u64 = 0x08;
pub const PROCMAP_QUERY_COVERING_OR_NEXT_VMA: u64 = 0x10;
pub const PROCMAP_QUERY_FILE_BACKED_VMA: u64 = 0x20;

impl ProcNode {
    /// PROCMAP_QUERY on /proc/<pid>/maps: the mapping that covers `addr`
    /// (or, with COVERING_OR_NEXT_VMA, the first one after it) and has
    /// the permissions `flags` ask for; ENOENT when there is none, ENOTTY
    /// on any other /proc file.
    pub fn query_map(
        &self,
        addr: u64,
        flags: u64,
    ) -> Result<(crate::sentry::mm::Vma, MapShown), Errno> {
        if self.node != Node::Maps {
            return Err(ENOTTY);
        }
        let space = self.view.memory.lock().clone().ok_or(ESRCH)?;
        let vmas = space.try_lock().ok_or_else(busy)?.vma_list();
        let wanted = |vma: &crate::sentry::mm::Vma| {
            (flags & PROCMAP_QUERY_FILE_BACKED_VMA == 0 || vma.file.is_some())
                && (flags & PROCMAP_QUERY_VMA_READABLE == 0 || vma.prot.read)
                && (flags & PROCMAP_QUERY_VMA_WRITABLE == 0 || vma.prot.write)
                && (flags & PROCMAP_QUERY_VMA_EXECUTABLE == 0 || vma.prot.exec)
                && (flags & PROCMAP_QUERY_VMA_SHARED == 0 || vma.shared)
        };
        let next = flags & PROCMAP_QUERY_COVERING_OR_NEXT_VMA != 0;
        // In address order: the first that ends above addr.
        let found = vmas
            .into_iter()
            .filter(|v| v.end > addr)
            .take_while(|v| next || v.start <= addr)
            .find(|v| wanted(v))
            .ok_or(ENOENT)?;
        let shown = MapShown::of(&found, &self.view.exe_path.lock());
        Ok((found, shown))
    }
}

/// What /proc/self/fd/N shows for an open file.
pub fn describe_open_file(file: &OpenFile) -> Vec<u8> {
    // A namespace reached through /proc/<pid>/ns: "uts:[4026531838]".
    if let Some(ns) = file.file.as_ns() {
        return ns.ns.link_text();
    }
    if let Some(location) = &file.location {
        return location.path();
    }
    if let Some(label) = &file.label {
        return label.clone();
    }
    let stat = file.file.stat();
    match stat.mode & S_IFMT {
        S_IFIFO => format!("pipe:[{}]", stat.ino).into_bytes(),
        S_IFCHR => b"/dev/console".to_vec(),
        _ => format!("anon_inode:[{}]", stat.ino).into_bytes(),
    }
}

/// One line of /proc/<pid>/maps (what PROCMAP_QUERY reports too).
fn maps_line(vma: &crate::sentry::mm::Vma, exe: &[u8]) -> String {
    let shown = MapShown::of(vma, exe);
    let mut line = format!(
        "{:08x}-{:08x} {}{}{}{} {:08x} {:02x}:{:02x} {}",
        vma.start,
        vma.end,
        if vma.prot.read { 'r' } else { '-' },
        if vma.prot.write { 'w' } else { '-' },
        if vma.prot.exec { 'x' } else { '-' },
        if vma.shared { 's' } else { 'p' },
        shown.offset,
        shown.major,
        shown.minor,
        shown.inode
    );
    if shown.name.is_empty() {
        line.push('\n');
    } else {
        let pad = 73usize.saturating_sub(line.len()).max(1);
        let name = String::from_utf8_lossy(&shown.name);
        let _ = writeln!(line, "{:pad$}{name}", "");
    }
    line
}

/// The lines smaps adds under an area's maps line. Every page here has one
/// mapper as far as Pss is concerned (Pss is Rss); nothing is swapped.
fn smaps_details(out: &mut String, vma: &crate::sentry::mm::Vma, memory: &mut AddressSpace) {
    use crate::sentry::mm::VmFlags;
    let size_kb = (vma.end - vma.start) / 1024;
    let rss_kb = memory.resident_bytes(vma.start, vma.end) / 1024;
    let anonymous_kb = if vma.file.is_none() && !vma.shared {
        rss_kb
    } else {
        0
    };
    let (shared_kb, private_kb) = if vma.shared { (rss_kb, 0) } else { (0, rss_kb) };
    let locked_kb = if vma.flags.contains(VmFlags::LOCKED) {
        rss_kb
    } else {
        0
    };
    let _ = write!(
        out,
        "Size:           {size_kb:8} kB\nKernelPageSize:        4 kB\nMMUPageSize:           4 kB\n\
         Rss:            {rss_kb:8} kB\nPss:            {rss_kb:8} kB\n\
         Shared_Clean:          0 kB\nShared_Dirty:   {shared_kb:8} kB\n\
         Private_Clean:         0 kB\nPrivate_Dirty:  {private_kb:8} kB\n\
         Referenced:     {rss_kb:8} kB\nAnonymous:      {anonymous_kb:8} kB\n\
         KSM:                   0 kB\nLazyFree:              0 kB\nAnonHugePages:         0 kB\n\
         ShmemPmdMapped:        0 kB\nFilePmdMapped:         0 kB\n\
         Shared_Hugetlb:        0 kB\nPrivate_Hugetlb:       0 kB\n\
         Swap:                  0 kB\nSwapPss:               0 kB\n\
         Locked:         {locked_kb:8} kB\nTHPeligible:           0\nVmFlags:"
    );
    let may_write = vma.file.as_ref().is_none_or(|f| f.may_write);
    let flags = [
        (vma.prot.read, "rd"),
        (vma.prot.write, "wr"),
        (vma.prot.exec, "ex"),
        (vma.shared, "sh"),
        (true, "mr"),
        (may_write, "mw"),
        (true, "me"),
        (vma.shared, "ms"),
        (vma.flags.contains(VmFlags::GROWSDOWN), "gd"),
        (vma.flags.contains(VmFlags::LOCKED), "lo"),
        (vma.flags.contains(VmFlags::DONTFORK), "dc"),
        (vma.flags.contains(VmFlags::DONTDUMP), "dd"),
        (vma.flags.contains(VmFlags::WIPEONFORK), "wf"),
        (vma.flags.contains(VmFlags::SEALED), "sl"),
    ];
    for (on, name) in flags {
        if on {
            out.push(' ');
            out.push_str(name);
        }
    }
    out.push_str(" \n");
}

/// An open /proc/<pid>/pagemap: entry i (8 bytes at offset 8*i) describes
/// virtual page i: bit 63 present, 61 a file page or shared, 56 mapped
/// here only. Frame numbers read as 0 (as Linux shows them to readers
/// without CAP_SYS_ADMIN: guest frames mean nothing outside).
struct Pagemap {
    node: Arc<ProcNode>,
}

impl File for Pagemap {
    fn read(&self, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
        const ENTRY: u64 = 8;
        if !offset.is_multiple_of(ENTRY) || !(buf.len() as u64).is_multiple_of(ENTRY) {
            return Err(EINVAL);
        }
        let space = self.node.view.memory.lock().clone().ok_or(ESRCH)?;
        let mut memory = space.try_lock().ok_or_else(busy)?;
        let first = offset / ENTRY;
        let last = (crate::arch::USER_END / crate::arch::PAGE_SIZE)
            .min(first.saturating_add(buf.len() as u64 / ENTRY));
        let mut n = 0;
        for page in first..last {
            let addr = page * crate::arch::PAGE_SIZE;
            let entry: u64 = match memory.page_state(addr) {
                None => 0,
                Some(shared) => {
                    let file = memory
                        .find(addr)
                        .is_some_and(|v| v.shared || v.file.is_some());
                    (1 << 63) | if file { 1 << 61 } else { 0 } | if shared { 0 } else { 1 << 56 }
                }
            };
            buf[n..n + 8].copy_from_slice(&entry.to_le_bytes());
            n += 8;
        }
        Ok(n)
    }
    fn write(&self, _buf: &[u8], _offset: u64) -> Result<usize, Errno> {
        Err(EACCES)
    }
    fn seekable(&self) -> bool {
        true
    }
    fn stat(&self) -> Stat {
        self.node.stat()
    }
    fn poll(&self, events: i16) -> i16 {
        events & (POLLIN | POLLOUT)
    }
    fn inode(&self) -> Option<Arc<dyn Inode>> {
        Some(self.node.clone())
    }
}

/// An open /proc file: the contents generated at open.
struct Snapshot {
    node: Arc<ProcNode>,
    data: Vec<u8>,
    /// For /proc/mounts: the namespace and the mount events seen.
    mounts: Option<MountWatch>,
    /// For timens_offsets: the effective capabilities of who opened it.
    opener_caps: u64,
}

struct MountWatch {
    ns: Arc<super::Namespace>,
    seen: core::sync::atomic::AtomicU64,
}

impl File for Snapshot {
    fn read(&self, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
        let start = offset.min(self.data.len() as u64) as usize;
        let n = buf.len().min(self.data.len() - start);
        buf[..n].copy_from_slice(&self.data[start..start + n]);
        Ok(n)
    }
    fn write(&self, buf: &[u8], offset: u64) -> Result<usize, Errno> {
        if self.node.node == Node::TimensOffsets {
            return self.write_timens_offsets(buf, offset);
        }
        if self.node.node == Node::CoredumpFilter {
            return self.node.write_coredump_filter(buf);
        }
        if self.node.node != Node::TimerSlack {
            return Err(EACCES);
        }
        self.node.may_touch_timer_slack()?;
        // A decimal number, a newline allowed after it (kstrtoull).
        let text = buf.strip_suffix(b"\n").unwrap_or(buf);
        let ns = core::str::from_utf8(text)
            .ok()
            .filter(|t| !t.starts_with('+'))
            .and_then(|t| t.parse::<u64>().ok())
            .ok_or(EINVAL)?;
        self.node.view.timer_slack.set(ns);
        Ok(buf.len())
    }
    fn seekable(&self) -> bool {
        true
    }
    /// Linux's seq files take no pwrite (seq_open drops FMODE_PWRITE).
    fn positional_write(&self) -> bool {
        false
    }
    fn stat(&self) -> Stat {
        self.node.stat()
    }
    fn splices(&self) -> bool {
        true
    }
    /// As Linux's mounts_poll: readable, and once after each mount change
    /// POLLERR|POLLPRI (seeing it takes it).
    fn poll(&self, events: i16) -> i16 {
        let mut revents = events & (POLLIN | POLLOUT);
        if let Some(watch) = &self.mounts {
            let now = watch.ns.events();
            let seen = watch.seen.swap(now, core::sync::atomic::Ordering::AcqRel);
            if seen != now {
                revents |= POLLERR | (events & POLLPRI);
            }
        }
        revents
    }
    fn wait_queues(&self, out: &mut Vec<Arc<crate::sentry::wait::WaitQueue>>) {
        if let Some(watch) = &self.mounts {
            out.push(watch.ns.changed.clone());
        }
    }
    /// Linux's seq files have no poll method (epoll: EPERM); the mount
    /// tables do (they signal mount changes).
    fn pollable(&self) -> bool {
        matches!(self.node.node, Node::Mounts | Node::MountInfo)
    }
    fn inode(&self) -> Option<Arc<dyn Inode>> {
        Some(self.node.clone())
    }
}

impl Snapshot {
    /// Sets offsets of the process's time namespace for children (Linux's
    /// timens_offsets_write): CAP_SYS_TIME, and only until a process has
    /// entered the namespace (EACCES; see `timens`).
    fn write_timens_offsets(&self, buf: &[u8], offset: u64) -> Result<usize, Errno> {
        const CAP_SYS_TIME: u64 = 1 << 25;
        let (offsets, count) = crate::sentry::timens::parse_write(buf, offset)?;
        let set = crate::sentry::sched::thread_namespaces(self.node.view.pid).ok_or(ESRCH)?;
        if self.opener_caps & CAP_SYS_TIME == 0 {
            return Err(EPERM);
        }
        set.time_for_children.offsets.set(
            &offsets,
            crate::sentry::time::monotonic_ns(),
            crate::sentry::time::boottime_ns(),
        )?;
        Ok(count)
    }
}

/// The time namespace of the task reading a /proc file (/proc/uptime and
/// /proc/stat show the reader's time, as on Linux).
fn reader_time_ns() -> Arc<crate::sentry::ns::TimeNs> {
    crate::sentry::sched::current().namespaces().time
}

/// The boot-time clock (a time namespace offsets it).
const CLOCK_BOOTTIME: u64 = 7;

/// The process running now (what /proc/self names).
pub fn current_pid() -> i32 {
    crate::sentry::sched::current().pid()
}

/// Every process's address space, once each (threads share theirs).
pub fn address_spaces() -> Vec<Arc<Mutex<AddressSpace>>> {
    let mut out: Vec<Arc<Mutex<AddressSpace>>> = Vec::new();
    for process in crate::sentry::sched::processes() {
        let Some(mm) = process.view.memory.lock().clone() else {
            continue;
        };
        if !out.iter().any(|m| Arc::ptr_eq(m, &mm)) {
            out.push(mm);
        }
    }
    out
}

/// A process exec'd: /proc shows its new image.
pub fn exec_replaced(
    view: &ProcessView,
    memory: Arc<Mutex<AddressSpace>>,
    argv: Vec<Vec<u8>>,
    exe_path: Vec<u8>,
) {
    *view.memory.lock() = Some(memory);
    *view.argv.lock() = Arc::new(argv);
    *view.exe_path.lock() = exe_path;
}

/// A mountinfo field: space, tab, newline and backslash as octal escapes
/// (Linux's show_mountinfo uses mangle()).
fn escaped(bytes: &[u8]) -> String {
    let mut out = String::new();
    for &b in bytes {
        match b {
            b' ' | b'\t' | b'\n' | b'\\' => {
                let _ = write!(out, "\\{b:03o}");
            }
            _ => out.push(b as char),
        }
    }
    out
}

/// mountinfo's per-mount options from the mount's MOUNT_ATTR_* bits.
fn mount_options(attr: u64) -> String {
    use super::mount_ids::*;
    let mut out = String::from(if attr & MOUNT_ATTR_RDONLY != 0 {
        "ro"
    } else {
        "rw"
    });
    for (bit, name) in [
        (MOUNT_ATTR_NOSUID, ",nosuid"),
        (MOUNT_ATTR_NODEV, ",nodev"),
        (MOUNT_ATTR_NOEXEC, ",noexec"),
        (MOUNT_ATTR_NOATIME, ",noatime"),
        (MOUNT_ATTR_NODIRATIME, ",nodiratime"),
        (MOUNT_ATTR_NOSYMFOLLOW, ",nosymfollow"),
    ] {
        if attr & bit != 0 {
            out.push_str(name);
        }
    }
    if attr & (MOUNT_ATTR_NOATIME | MOUNT_ATTR_STRICTATIME) == 0 {
        out.push_str(",relatime");
    }
    out
}

/// What /proc/mounts lists: (source, mount point, type, options).
type MountLine = (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>);
static MOUNTS: Mutex<Vec<MountLine>> = Mutex::new(Vec::new());

/// A filesystem mounted at boot, for /proc/mounts.
pub fn record_mount(source: &[u8], path: &[u8], kind: &[u8], options: &[u8]) {
    MOUNTS.lock().push((
        source.to_vec(),
        path.to_vec(),
        kind.to_vec(),
        options.to_vec(),
    ));
}
