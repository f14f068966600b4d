//! Namespaces: the objects /proc/<pid>/ns names, and what clone, unshare
//! and setns switch. Mount, UTS, IPC and time namespaces are real and per
//! task (a private mount table, host and domain names, System V IPC
//! objects and POSIX message queues, clock offsets: `timens`). The user,
//! pid and network namespaces exist once,
//! the initial ones every task is in: making others is EINVAL, as from a
//! kernel built without them (CONFIG_USER_NS, CONFIG_PID_NS, CONFIG_NET_NS).
//! The syscalls and the nsfs ioctls are in `syscalls/ns.rs`.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use spin::Mutex;

use super::errno::*;
use super::fd::{File, POLLIN, POLLOUT};
use super::ipc::IpcNs;
use super::stat::Stat;
use super::stat::S_IFREG;
use super::timens::{Offsets, TimeOffsets};
use super::vfs::Namespace;

pub const CLONE_NEWTIME: u64 = 0x80;
pub const CLONE_NEWNS: u64 = 0x2_0000;
pub const CLONE_NEWCGROUP: u64 = 0x200_0000;
pub const CLONE_NEWUTS: u64 = 0x400_0000;
pub const CLONE_NEWIPC: u64 = 0x800_0000;
pub const CLONE_NEWUSER: u64 = 0x1000_0000;
pub const CLONE_NEWPID: u64 = 0x2000_0000;
pub const CLONE_NEWNET: u64 = 0x4000_0000;
/// Every namespace flag of clone, unshare and setns.
pub const CLONE_NEW_ANY: u64 = CLONE_NEWNS
    | CLONE_NEWCGROUP
    | CLONE_NEWUTS
    | CLONE_NEWIPC
    | CLONE_NEWUSER
    | CLONE_NEWPID
    | CLONE_NEWNET
    | CLONE_NEWTIME;
/// The kinds a task can get a new namespace of.
pub const CLONE_NEW_SUPPORTED: u64 = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWTIME;

/// The nsfs filesystem's device (Linux's anonymous "nsfs" superblock).
pub const DEV_NSFS: u64 = 0x03;

/// Linux's fixed inode numbers of the initial namespaces (PROC_*_INIT_INO).
const IPC_INIT_INO: u64 = 0xEFFF_FFFF;
const UTS_INIT_INO: u64 = 0xEFFF_FFFE;
const USER_INIT_INO: u64 = 0xEFFF_FFFD;
const PID_INIT_INO: u64 = 0xEFFF_FFFC;
const NET_INIT_INO: u64 = 0xEFFF_FFF9;
pub const MNT_INIT_INO: u64 = 0xEFFF_FFF8;
const TIME_INIT_INO: u64 = 0xEFFF_FFFA;
/// New namespaces take numbers from Linux's proc_inum range.
static NEXT_INO: AtomicU64 = AtomicU64::new(0xF000_0000);

/// A new namespace's inode number (never reused).
pub fn new_ino() -> u64 {
    NEXT_INO.fetch_add(1, Ordering::Relaxed)
}

/// Namespaces of each kind that may live at once (Linux's
/// /proc/sys/user/max_*_namespaces; ENOSPC past it): each holds sentry
/// memory.
const MAX_LIVE: usize = 1024;

/// Counts the live namespaces of one kind: a `Token` is held by each.
pub struct Budget(AtomicUsize);

impl Budget {
    pub const fn new() -> Budget {
        Budget(AtomicUsize::new(0))
    }

    /// A place for one more namespace, ENOSPC when all are taken.
    pub fn take(&'static self) -> Result<Token, Errno> {
        if self.0.fetch_add(1, Ordering::Relaxed) >= MAX_LIVE {
            self.0.fetch_sub(1, Ordering::Relaxed);
            return Err(ENOSPC);
        }
        Ok(Token(Some(self)))
    }
}

impl Default for Budget {
    fn default() -> Budget {
        Budget::new()
    }
}

/// One namespace's place in its kind's budget (none for the initial ones).
pub struct Token(Option<&'static Budget>);

impl Token {
    pub const INITIAL: Token = Token(None);
}

impl Drop for Token {
    fn drop(&mut self) {
        if let Some(budget) = self.0 {
            budget.0.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

static UTS_BUDGET: Budget = Budget::new();
pub static IPC_BUDGET: Budget = Budget::new();
pub static MNT_BUDGET: Budget = Budget::new();
static TIME_BUDGET: Budget = Budget::new();

/// The entries of /proc/<pid>/ns, in Linux's order.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum NsKind {
    Net,
    Uts,
    Ipc,
    Pid,
    PidForChildren,
    User,
    Mnt,
    Time,
    TimeForChildren,
}

impl NsKind {
    pub const ALL: [NsKind; 9] = [
        NsKind::Net,
        NsKind::Uts,
        NsKind::Ipc,
        NsKind::Pid,
        NsKind::PidForChildren,
        NsKind::User,
        NsKind::Mnt,
        NsKind::Time,
        NsKind::TimeForChildren,
    ];

    /// The entry's name under /proc/<pid>/ns.
    pub fn entry(self) -> &'static [u8] {
        match self {
            NsKind::Net => b"net",
            NsKind::Uts => b"uts",
            NsKind::Ipc => b"ipc",
            NsKind::Pid => b"pid",
            NsKind::PidForChildren => b"pid_for_children",
            NsKind::User => b"user",
            NsKind::Mnt => b"mnt",
            NsKind::Time => b"time",
            NsKind::TimeForChildren => b"time_for_children",
        }
    }
}

/// A UTS namespace: the host and domain names uname reports.
pub struct UtsNs {
    pub ino: u64,
    pub names: Mutex<UtsNames>,
    _token: Token,
}

#[derive(Clone)]
pub struct UtsNames {
    pub hostname: Vec<u8>,
    pub domainname: Vec<u8>,
}

/// The longest host or domain name (a `struct utsname` field less its NUL).
pub const UTS_NAME_MAX: usize = 64;

impl UtsNs {
    /// A copy of `self` (CLONE_NEWUTS).
    pub fn copy(&self) -> Result<Arc<UtsNs>, Errno> {
        Ok(Arc::new(UtsNs {
            ino: new_ino(),
            names: Mutex::new(self.names.lock().clone()),
            _token: UTS_BUDGET.take()?,
        }))
    }
}

/// The initial UTS namespace: host name "rvisor" unless the boot info
/// names one (OCI's `hostname`), domain name "(none)".
pub fn init_uts() -> &'static Arc<UtsNs> {
    static INIT: spin::Once<Arc<UtsNs>> = spin::Once::new();
    INIT.call_once(|| {
        Arc::new(UtsNs {
            ino: UTS_INIT_INO,
            names: Mutex::new(UtsNames {
                hostname: b"rvisor".to_vec(),
                domainname: b"(none)".to_vec(),
            }),
            _token: Token::INITIAL,
        })
    })
}

/// A time namespace: its clock offsets (see `timens`).
pub struct TimeNs {
    pub ino: u64,
    pub offsets: TimeOffsets,
    _token: Token,
}

impl TimeNs {
    /// A new namespace with `self`'s offsets (CLONE_NEWTIME: Linux's
    /// clone_time_ns), still open to new ones.
    pub fn copy(&self) -> Result<Arc<TimeNs>, Errno> {
        Ok(Arc::new(TimeNs {
            ino: new_ino(),
            offsets: TimeOffsets::new(self.offsets.get()),
            _token: TIME_BUDGET.take()?,
        }))
    }

    /// `clock`, whose host value is `host_ns`, as the namespace sees it.
    pub fn view(&self, clock: u64, host_ns: u64) -> u64 {
        self.offsets.get().view(clock, host_ns)
    }
}

/// The initial time namespace: no offsets. Its offsets are frozen from
/// the start (the first process is in it), as Linux's init_time_ns.
pub fn init_time() -> &'static Arc<TimeNs> {
    static INIT: spin::Once<Arc<TimeNs>> = spin::Once::new();
    INIT.call_once(|| {
        let offsets = TimeOffsets::new(Offsets::default());
        offsets.freeze();
        Arc::new(TimeNs {
            ino: TIME_INIT_INO,
            offsets,
            _token: Token::INITIAL,
        })
    })
}

static INIT_MNT: spin::Once<Arc<Namespace>> = spin::Once::new();

/// Records the initial mount namespace (at boot).
pub fn set_init_mnt(mnt: &Arc<Namespace>) {
    INIT_MNT.call_once(|| mnt.clone());
}

/// The initial namespaces: what processes started from the host join.
pub fn initial(fallback_mnt: &Arc<Namespace>) -> NsSet {
    NsSet {
        mnt: INIT_MNT.get().unwrap_or(fallback_mnt).clone(),
        uts: init_uts().clone(),
        ipc: init_ipc().clone(),
        time: init_time().clone(),
        time_for_children: init_time().clone(),
    }
}

/// The initial IPC namespace.
pub fn init_ipc() -> &'static Arc<IpcNs> {
    static INIT: spin::Once<Arc<IpcNs>> = spin::Once::new();
    INIT.call_once(|| Arc::new(IpcNs::new(IPC_INIT_INO, Token::INITIAL)))
}

/// A task's namespaces (Linux's nsproxy, less the ones all tasks share),
/// as others see them (/proc/<pid>/ns, setns through a pidfd).
#[derive(Clone)]
pub struct NsSet {
    pub mnt: Arc<Namespace>,
    pub uts: Arc<UtsNs>,
    pub ipc: Arc<IpcNs>,
    /// The time namespace the task's clocks read in, and the one its
    /// children (and itself after an exec) will be in (unshare
    /// CLONE_NEWTIME changes only the second).
    pub time: Arc<TimeNs>,
    pub time_for_children: Arc<TimeNs>,
}

impl NsSet {
    pub fn get(&self, kind: NsKind) -> NsRef {
        match kind {
            NsKind::Mnt => NsRef::Mnt(self.mnt.clone()),
            NsKind::Uts => NsRef::Uts(self.uts.clone()),
            NsKind::Ipc => NsRef::Ipc(self.ipc.clone()),
            NsKind::Net => NsRef::Net,
            NsKind::Pid | NsKind::PidForChildren => NsRef::Pid,
            NsKind::User => NsRef::User,
            NsKind::Time => NsRef::Time(self.time.clone()),
            NsKind::TimeForChildren => NsRef::Time(self.time_for_children.clone()),
        }
    }
}

/// One namespace, as an nsfs file holds it.
#[derive(Clone)]
pub enum NsRef {
    Mnt(Arc<Namespace>),
    Uts(Arc<UtsNs>),
    Ipc(Arc<IpcNs>),
    Time(Arc<TimeNs>),
    /// The initial (and only) network, pid and user namespaces.
    Net,
    Pid,
    User,
}

impl NsRef {
    pub fn ino(&self) -> u64 {
        match self {
            NsRef::Mnt(ns) => ns.ino(),
            NsRef::Uts(ns) => ns.ino,
            NsRef::Ipc(ns) => ns.ino,
            NsRef::Time(ns) => ns.ino,
            NsRef::Net => NET_INIT_INO,
            NsRef::Pid => PID_INIT_INO,
            NsRef::User => USER_INIT_INO,
        }
    }

    /// Its CLONE_NEW* flag (NS_GET_NSTYPE, setns's nstype).
    pub fn clone_flag(&self) -> u64 {
        match self {
            NsRef::Mnt(_) => CLONE_NEWNS,
            NsRef::Uts(_) => CLONE_NEWUTS,
            NsRef::Ipc(_) => CLONE_NEWIPC,
            NsRef::Time(_) => CLONE_NEWTIME,
            NsRef::Net => CLONE_NEWNET,
            NsRef::Pid => CLONE_NEWPID,
            NsRef::User => CLONE_NEWUSER,
        }
    }

    /// What readlink of /proc/<pid>/ns/<entry> shows: "uts:[4026531838]".
    pub fn link_text(&self) -> Vec<u8> {
        let kind = match self {
            NsRef::Mnt(_) => "mnt",
            NsRef::Uts(_) => "uts",
            NsRef::Ipc(_) => "ipc",
            // time_for_children names a time namespace too.
            NsRef::Time(_) => "time",
            NsRef::Net => "net",
            NsRef::Pid => "pid",
            NsRef::User => "user",
        };
        alloc::format!("{kind}:[{}]", self.ino()).into_bytes()
    }
}

/// An open nsfs file (from /proc/<pid>/ns or the NS_GET_* ioctls): it
/// keeps its namespace alive.
pub struct NsFile {
    pub ns: NsRef,
}

impl NsFile {
    pub fn open(ns: NsRef) -> Arc<super::fd::OpenFile> {
        let label = ns.link_text();
        super::fd::OpenFile::labeled(Arc::new(NsFile { ns }), super::fd::O_RDONLY, label)
    }
}

impl File for NsFile {
    fn read(&self, _buf: &mut [u8], _offset: u64) -> Result<usize, Errno> {
        Err(EINVAL)
    }
    fn write(&self, _buf: &[u8], _offset: u64) -> Result<usize, Errno> {
        Err(EINVAL)
    }
    fn stat(&self) -> Stat {
        Stat {
            dev: DEV_NSFS,
            ino: self.ns.ino(),
            nlink: 1,
            mode: S_IFREG | 0o444,
            blksize: 4096,
            ..Stat::default()
        }
    }
    fn poll(&self, events: i16) -> i16 {
        events & (POLLIN | POLLOUT)
    }
    fn as_ns(&self) -> Option<&NsFile> {
        Some(self)
    }
}
