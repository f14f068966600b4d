//! System V IPC objects (message queues, semaphore sets, shared memory
//! segments) of each IPC namespace (`IpcNs`, with its POSIX message
//! queues): ids, keys, permissions and the namespace's limits (`Limits`:
//! /proc/sys/kernel/{msg*,sem,shm*}, which root may change, and the
//! checkpoint/restore `*_next_id` that choose the next object's id). The
//! syscalls are in `syscalls/sysvipc.rs`.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt::Write;

use spin::Mutex;

use super::errno::*;
use super::wait::WaitQueue;

// Linux's defaults (include/uapi/linux/{msg,sem,shm}.h), the starting
// values of a namespace's `Limits`; the object counts are the sandbox's.
pub const MSGMAX: i32 = 8192;
pub const MSGMNB: i32 = 16384;
pub const MSGMNI: i32 = MAX_OBJECTS as i32;
pub const SEMMSL: i32 = 32000;
pub const SEMMNS: i32 = 1_024_000_000;
pub const SEMOPM: i32 = 500;
pub const SEMMNI: i32 = MAX_OBJECTS as i32;
pub const SEMVMX: i32 = 32767;
pub const SHMMAX: u64 = u64::MAX - (1 << 24);
pub const SHMALL: u64 = u64::MAX - (1 << 24);
pub const SHMMNI: i32 = MAX_OBJECTS as i32;
/// Linux's IPCMNI: the largest msgmni, shmmni and semmni it accepts.
pub const IPCMNI: i32 = 32768;
/// Objects of each kind the sandbox holds at most, whatever the
/// namespace's limit says (its memory is small; Linux's defaults are far
/// larger and root may raise them to IPCMNI). Past it: ENOSPC, as past
/// the limit.
pub const MAX_OBJECTS: usize = 1024;

/// An IPC namespace's settings under /proc/sys/kernel (Linux's
/// msg_ctl*, sem_ctls, shm_ctl* of `struct ipc_namespace`): a new
/// namespace starts with the defaults, as on Linux.
#[derive(Clone, Copy)]
pub struct Limits {
    /// Largest message (msgsnd: EINVAL above it).
    pub msgmax: i32,
    /// A new queue's msg_qbytes, and what IPC_SET may raise it to
    /// without CAP_SYS_RESOURCE.
    pub msgmnb: i32,
    pub msgmni: i32,
    /// kernel/sem: semaphores per set, in all sets, operations per semop,
    /// sets.
    pub sem: [i32; 4],
    /// Largest segment (shmget: EINVAL above it).
    pub shmmax: u64,
    /// Pages of all segments together (ENOSPC past it).
    pub shmall: u64,
    pub shmmni: i32,
}

impl Limits {
    pub const DEFAULT: Limits = Limits {
        msgmax: MSGMAX,
        msgmnb: MSGMNB,
        msgmni: MSGMNI,
        sem: [SEMMSL, SEMMNS, SEMOPM, SEMMNI],
        shmmax: SHMMAX,
        shmall: SHMALL,
        shmmni: SHMMNI,
    };
    pub fn semmsl(&self) -> i32 {
        self.sem[0]
    }
    pub fn semmns(&self) -> i32 {
        self.sem[1]
    }
    pub fn semopm(&self) -> i32 {
        self.sem[2]
    }
    pub fn semmni(&self) -> i32 {
        self.sem[3]
    }
}
/// Bytes all message queues together hold at most.
pub const MAX_MSG_BYTES: usize = 16 << 20;

pub const IPC_PRIVATE: i32 = 0;
/// Linux: ipc id = seq * SEQ_MULTIPLIER + index.
const SEQ_MULTIPLIER: i32 = 32768;

/// `struct ipc64_perm`'s contents.
#[derive(Clone, Copy, Default)]
pub struct Perm {
    pub key: i32,
    pub uid: u32,
    pub gid: u32,
    pub cuid: u32,
    pub cgid: u32,
    /// The low 9 bits are the access mode; SHM_DEST/SHM_LOCKED above.
    pub mode: u32,
    pub seq: u16,
}

/// Who asks: effective ids and supplementary groups.
pub struct Asker<'a> {
    pub euid: u32,
    pub egid: u32,
    pub groups: &'a [u32],
}

impl Asker<'_> {
    fn in_group(&self, gid: u32) -> bool {
        self.egid == gid || self.groups.contains(&gid)
    }
    /// Linux's ipcperms: `flag`'s access bits (0o400 read, 0o200 write, in
    /// any of the three positions) must be granted; root (CAP_IPC_OWNER)
    /// may do anything.
    pub fn may(&self, perm: &Perm, flag: u32) -> bool {
        let requested = (flag >> 6 | flag >> 3 | flag) & 0o7;
        let granted = if self.euid == perm.cuid || self.euid == perm.uid {
            perm.mode >> 6
        } else if self.in_group(perm.cgid) || self.in_group(perm.gid) {
            perm.mode >> 3
        } else {
            perm.mode
        } & 0o7;
        requested & !granted == 0 || self.euid == 0
    }
    /// Owner, creator or root: may IPC_SET and IPC_RMID.
    pub fn owns(&self, perm: &Perm) -> bool {
        self.euid == 0 || self.euid == perm.uid || self.euid == perm.cuid
    }
}

/// One kind of object, by index; the id names the index and a sequence
/// number, so a stale id of a removed object is EINVAL/EIDRM, not another.
pub struct Table<T> {
    pub entries: BTreeMap<usize, (Perm, T)>,
    next_seq: u16,
    /// /proc/sys/kernel/{msg,sem,shm}_next_id (CONFIG_CHECKPOINT_RESTORE):
    /// the id the next new object gets (-1: chosen as usual). Used up by
    /// that object, as Linux's ipc_idr_alloc does.
    pub next_id: i32,
}

impl<T> Table<T> {
    pub const fn new() -> Table<T> {
        Table {
            entries: BTreeMap::new(),
            next_seq: 0,
            next_id: -1,
        }
    }

    pub fn id_of(index: usize, perm: &Perm) -> i32 {
        perm.seq as i32 * SEQ_MULTIPLIER + index as i32
    }

    /// The object `id` names: EINVAL for a bad or stale id.
    pub fn get(&mut self, id: i32) -> Result<(usize, &mut (Perm, T)), Errno> {
        if id < 0 {
            return Err(EINVAL);
        }
        let index = (id % SEQ_MULTIPLIER) as usize;
        let seq = (id / SEQ_MULTIPLIER) as u16;
        match self.entries.get_mut(&index) {
            Some(entry) if entry.0.seq == seq => Ok((index, entry)),
            _ => Err(EINVAL),
        }
    }

    pub fn find_key(&mut self, key: i32) -> Option<usize> {
        self.entries
            .iter()
            .find(|(_, (p, _))| p.key == key && key != IPC_PRIVATE)
            .map(|(&i, _)| i)
    }

    /// Adds an object; returns its id (ENOSPC when the namespace's limit
    /// `max` or the sandbox's MAX_OBJECTS is reached). With a `next_id`
    /// set, the object takes that id's sequence number and its index or
    /// the first free one above it (Linux's idr_alloc from that index).
    pub fn insert(&mut self, mut perm: Perm, object: T, max: i32) -> Result<i32, Errno> {
        if self.entries.len() >= (max.max(0) as usize).min(MAX_OBJECTS) {
            return Err(ENOSPC);
        }
        let next_id = core::mem::replace(&mut self.next_id, -1);
        let index = if next_id >= 0 {
            perm.seq = (next_id / SEQ_MULTIPLIER) as u16;
            (next_id as usize % SEQ_MULTIPLIER as usize..SEQ_MULTIPLIER as usize)
                .find(|i| !self.entries.contains_key(i))
                .ok_or(ENOSPC)?
        } else {
            perm.seq = self.next_seq;
            self.next_seq = (self.next_seq + 1) % (i32::MAX / SEQ_MULTIPLIER) as u16;
            (0..).find(|i| !self.entries.contains_key(i)).unwrap_or(0)
        };
        let id = Self::id_of(index, &perm);
        self.entries.insert(index, (perm, object));
        Ok(id)
    }

    pub fn highest_index(&self) -> i32 {
        self.entries.keys().next_back().map_or(0, |&i| i as i32)
    }
}

// --- message queues -------------------------------------------------------

pub struct MsgQueue {
    pub messages: VecDeque<(i64, Vec<u8>)>,
    pub bytes: usize,
    pub qbytes: usize,
    pub stime: i64,
    pub rtime: i64,
    pub ctime: i64,
    pub lspid: i32,
    pub lrpid: i32,
    /// Woken when a message comes or goes, or the queue is removed.
    pub changed: Arc<WaitQueue>,
    pub removed: bool,
}

/// Bytes in all queues of all namespaces (bounded by MAX_MSG_BYTES).
pub static MSG_BYTES: Mutex<usize> = Mutex::new(0);

// --- semaphores -----------------------------------------------------------

#[derive(Clone, Copy, Default)]
pub struct Sem {
    pub value: i32,
    pub pid: i32,
}

pub struct SemSet {
    pub sems: Vec<Sem>,
    pub otime: i64,
    pub ctime: i64,
    /// Tasks waiting in semop, per semaphore: (waiting for more, for zero).
    pub waiting: Vec<(u32, u32)>,
    pub changed: Arc<WaitQueue>,
}

/// SEM_UNDO adjustments: (undo list, set id) -> adjustment per
/// semaphore, applied when the last process of the list exits.
pub type SemUndo = BTreeMap<(i32, i32), Vec<i32>>;

/// Linux's sem_undo_list: which list each process has (one from its first
/// SEM_UNDO or CLONE_SYSVSEM on; a CLONE_SYSVSEM child shares its
/// parent's, the threads of a process share theirs) and how many
/// processes share each list.
struct UndoLists {
    of: BTreeMap<i32, i32>,
    users: BTreeMap<i32, usize>,
    next: i32,
}

static UNDO_LISTS: Mutex<UndoLists> = Mutex::new(UndoLists {
    of: BTreeMap::new(),
    users: BTreeMap::new(),
    next: 1,
});

/// The undo list of process `pid`: a new one when it has none and
/// `create` (None otherwise). Lists are numbered from 1, never reused.
pub fn undo_list(pid: i32, create: bool) -> Option<i32> {
    let mut lists = UNDO_LISTS.lock();
    if let Some(&list) = lists.of.get(&pid) {
        return Some(list);
    }
    if !create {
        return None;
    }
    let list = lists.next;
    lists.next += 1;
    lists.of.insert(pid, list);
    lists.users.insert(list, 1);
    Some(list)
}

/// CLONE_SYSVSEM: `child` shares the undo list of `parent` (made now if
/// the parent had none, as Linux's copy_semundo does).
pub fn share_undo_list(parent: i32, child: i32) {
    let Some(list) = undo_list(parent, true) else {
        return;
    };
    let mut lists = UNDO_LISTS.lock();
    lists.of.insert(child, list);
    *lists.users.entry(list).or_insert(0) += 1;
}

/// A process ended, or left its IPC namespace (`ns`: unshare, setns):
/// when it was the last user of its undo list, the list's SEM_UNDO
/// adjustments are applied (each value kept within 0..=SEMVMX, as Linux
/// does).
pub fn exit_process(pid: i32, ns: &IpcNs) {
    let list = {
        let mut lists = UNDO_LISTS.lock();
        let Some(list) = lists.of.remove(&pid) else {
            return;
        };
        let users = lists.users.entry(list).or_insert(1);
        *users -= 1;
        if *users > 0 {
            return;
        }
        lists.users.remove(&list);
        list
    };
    let undos: Vec<(i32, Vec<i32>)> = {
        let mut all = ns.sem_undo.lock();
        let keys: Vec<(i32, i32)> = all
            .range((list, i32::MIN)..=(list, i32::MAX))
            .map(|(k, _)| *k)
            .collect();
        keys.into_iter()
            .filter_map(|k| all.remove(&k).map(|v| (k.1, v)))
            .collect()
    };
    if undos.is_empty() {
        return;
    }
    let mut table = ns.sem.lock();
    for (id, adjust) in undos {
        if let Ok((_, (_, set))) = table.get(id) {
            for (sem, adj) in set.sems.iter_mut().zip(adjust) {
                if adj != 0 {
                    sem.value = (sem.value + adj).clamp(0, SEMVMX);
                    sem.pid = pid;
                }
            }
            set.changed.wake_all();
        }
    }
}

// --- shared memory --------------------------------------------------------

pub struct ShmSegment {
    pub size: u64,
    /// The pages: an unlinked tmpfs file (mapped MAP_SHARED by shmat).
    pub node: Arc<dyn super::vfs::Inode>,
    pub atime: i64,
    pub dtime: i64,
    pub ctime: i64,
    pub cpid: i32,
    pub lpid: i32,
}

pub const SHM_DEST: u32 = 0o1000;
pub const SHM_LOCKED: u32 = 0o2000;

/// How many mappings of the segment exist in the sandbox (shm_nattch:
/// Linux counts the areas that map it, forks and splits included).
pub fn attachments(node: &Arc<dyn super::vfs::Inode>) -> u64 {
    super::vfs::procfs::address_spaces()
        .iter()
        .map(|mm| mm.lock().mappings_of(node) as u64)
        .sum()
}

/// Whether `node` is a segment removed by IPC_RMID but still mapped: its
/// id is gone (Linux: mapping it again is EINVAL).
pub fn shm_removed(ns: &IpcNs, node: &Arc<dyn super::vfs::Inode>) -> bool {
    ns.shm.lock().entries.values().any(|(p, s)| {
        p.mode & SHM_DEST != 0 && core::ptr::addr_eq(Arc::as_ptr(&s.node), Arc::as_ptr(node))
    })
}

/// Segments marked for removal (IPC_RMID) that nobody maps any more go.
pub fn reap_shm(table: &mut Table<ShmSegment>) {
    let dead: Vec<usize> = table
        .entries
        .iter()
        .filter(|(_, (p, s))| p.mode & SHM_DEST != 0 && attachments(&s.node) == 0)
        .map(|(&i, _)| i)
        .collect();
    for i in dead {
        table.entries.remove(&i);
    }
}

/// Total pages of all segments (bounded by SHMALL).
pub fn shm_pages(table: &Table<ShmSegment>) -> u64 {
    table
        .entries
        .values()
        .map(|(_, s)| s.size.div_ceil(4096))
        .sum()
}

// --- namespaces -------------------------------------------------------------

/// An IPC namespace: its System V objects and its POSIX message queues.
/// The objects go with it when its last task leaves it.
pub struct IpcNs {
    pub ino: u64,
    pub msg: Mutex<Table<MsgQueue>>,
    pub sem: Mutex<Table<SemSet>>,
    pub sem_undo: Mutex<SemUndo>,
    pub shm: Mutex<Table<ShmSegment>>,
    pub limits: Mutex<Limits>,
    pub mqueues: super::vfs::mqueue::Names,
    _token: super::ns::Token,
}

impl IpcNs {
    pub fn new(ino: u64, token: super::ns::Token) -> IpcNs {
        IpcNs {
            ino,
            msg: Mutex::new(Table::new()),
            sem: Mutex::new(Table::new()),
            sem_undo: Mutex::new(BTreeMap::new()),
            shm: Mutex::new(Table::new()),
            limits: Mutex::new(Limits::DEFAULT),
            mqueues: Mutex::new(BTreeMap::new()),
            _token: token,
        }
    }

    /// A new, empty namespace (CLONE_NEWIPC).
    pub fn create() -> Result<Arc<IpcNs>, Errno> {
        let token = super::ns::IPC_BUDGET.take()?;
        Ok(Arc::new(IpcNs::new(super::ns::new_ino(), token)))
    }
}

impl Drop for IpcNs {
    /// Its queued messages no longer count against the sandbox's bytes.
    fn drop(&mut self) {
        let bytes: usize = self.msg.lock().entries.values().map(|(_, q)| q.bytes).sum();
        let mut total = MSG_BYTES.lock();
        *total = total.saturating_sub(bytes);
    }
}

// --- /proc/sysvipc ----------------------------------------------------------

pub fn proc_sysvipc(ns: &IpcNs, which: &[u8]) -> Option<String> {
    let mut out = String::new();
    match which {
        b"msg" => {
            out.push_str("       key      msqid perms      cbytes       qnum lspid lrpid   uid   gid  cuid  cgid      stime      rtime      ctime\n");
            let table = ns.msg.lock();
            for (&i, (p, q)) in &table.entries {
                let _ = writeln!(
                    out,
                    "{:10} {:10} {:5o} {:11} {:10} {:5} {:5} {:5} {:5} {:5} {:5} {:10} {:10} {:10}",
                    p.key,
                    Table::<MsgQueue>::id_of(i, p),
                    p.mode & 0o777,
                    q.bytes,
                    q.messages.len(),
                    q.lspid,
                    q.lrpid,
                    p.uid,
                    p.gid,
                    p.cuid,
                    p.cgid,
                    q.stime,
                    q.rtime,
                    q.ctime
                );
            }
        }
        b"sem" => {
            out.push_str("       key      semid perms      nsems   uid   gid  cuid  cgid      otime      ctime\n");
            let table = ns.sem.lock();
            for (&i, (p, s)) in &table.entries {
                let _ = writeln!(
                    out,
                    "{:10} {:10} {:5o} {:10} {:5} {:5} {:5} {:5} {:10} {:10}",
                    p.key,
                    Table::<SemSet>::id_of(i, p),
                    p.mode & 0o777,
                    s.sems.len(),
                    p.uid,
                    p.gid,
                    p.cuid,
                    p.cgid,
                    s.otime,
                    s.ctime
                );
            }
        }
        b"shm" => {
            out.push_str("       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      dtime      ctime                   rss                  swap\n");
            let table = ns.shm.lock();
            for (&i, (p, s)) in &table.entries {
                let _ = writeln!(
                    out,
                    "{:10} {:10} {:5o} {:21} {:5} {:5} {:6} {:5} {:5} {:5} {:5} {:10} {:10} {:10} {:21} {:21}",
                    p.key,
                    Table::<ShmSegment>::id_of(i, p),
                    p.mode & 0o1777,
                    s.size,
                    s.cpid,
                    s.lpid,
                    attachments(&s.node),
                    p.uid,
                    p.gid,
                    p.cuid,
                    p.cgid,
                    s.atime,
                    s.dtime,
                    s.ctime,
                    s.size.div_ceil(4096) * 4096,
                    0
                );
            }
        }
        _ => return None,
    }
    Some(out)
}
