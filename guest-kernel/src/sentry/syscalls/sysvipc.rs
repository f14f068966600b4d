//! System V IPC: message queues (msgget/msgsnd/msgrcv/msgctl), semaphore
//! sets (semget/semop/semtimedop/semctl) and shared memory
//! (shmget/shmat/shmdt/shmctl), over the objects of `sentry::ipc`. The
//! structures are the 64-bit Linux layouts (`ipc64_perm` and the
//! `*id64_ds` of asm-generic; x86_64's `semid64_ds` has its own padding).

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use super::SyscallContext;
use crate::sentry::errno::*;
use crate::sentry::ipc::{self, Asker, MsgQueue, Perm, SemSet, ShmSegment, Table};
use crate::sentry::mm::usermem::UserPtr;

const IPC_CREAT: u32 = 0o1000;
const IPC_EXCL: u32 = 0o2000;
const IPC_NOWAIT: u32 = 0o4000;
const IPC_RMID: i32 = 0;
const IPC_SET: i32 = 1;
const IPC_STAT: i32 = 2;
const IPC_INFO: i32 = 3;
/// glibc sets this bit in cmd for the 64-bit structures: the same here.
const IPC_64: i32 = 0x100;

fn now_secs() -> i64 {
    (crate::sentry::time::realtime_ns() / 1_000_000_000) as i64
}

fn asker<'a>(ctx: &'a SyscallContext) -> Asker<'a> {
    Asker {
        euid: ctx.task.creds.user[1],
        egid: ctx.task.creds.group[1],
        groups: &ctx.task.creds.groups,
    }
}

fn new_perm(ctx: &SyscallContext, key: i32, flags: u32) -> Perm {
    let (uid, gid) = (ctx.task.creds.user[1], ctx.task.creds.group[1]);
    Perm {
        key,
        uid,
        gid,
        cuid: uid,
        cgid: gid,
        mode: flags & 0o777,
        seq: 0,
    }
}

/// The common part of msgget/semget/shmget: the id of the object `key`
/// names (checking IPC_CREAT|IPC_EXCL and access), or None when a new one
/// is to be made.
fn lookup_key<T>(
    ctx: &SyscallContext,
    table: &mut Table<T>,
    key: i32,
    flags: u32,
    check: impl FnOnce(&T) -> Result<(), Errno>,
) -> Result<Option<i32>, Errno> {
    if key == ipc::IPC_PRIVATE {
        return Ok(None);
    }
    match table.find_key(key) {
        Some(index) => {
            if flags & IPC_CREAT != 0 && flags & IPC_EXCL != 0 {
                return Err(EEXIST);
            }
            let (perm, object) = &table.entries[&index];
            if !asker(ctx).may(perm, flags & 0o777) {
                return Err(EACCES);
            }
            check(object)?;
            Ok(Some(Table::<T>::id_of(index, perm)))
        }
        None if flags & IPC_CREAT != 0 => Ok(None),
        None => Err(ENOENT),
    }
}

/// `struct ipc64_perm` (48 bytes).
fn perm_bytes(perm: &Perm) -> [u8; 48] {
    let mut b = [0u8; 48];
    b[0..4].copy_from_slice(&perm.key.to_ne_bytes());
    b[4..8].copy_from_slice(&perm.uid.to_ne_bytes());
    b[8..12].copy_from_slice(&perm.gid.to_ne_bytes());
    b[12..16].copy_from_slice(&perm.cuid.to_ne_bytes());
    b[16..20].copy_from_slice(&perm.cgid.to_ne_bytes());
    b[20..24].copy_from_slice(&perm.mode.to_ne_bytes());
    b[24..26].copy_from_slice(&perm.seq.to_ne_bytes());
    b
}

fn put(buf: &mut [u8], at: usize, value: u64) {
    buf[at..at + 8].copy_from_slice(&value.to_ne_bytes());
}

/// What IPC_SET takes from a `*id64_ds`: uid, gid, mode.
fn read_set(ctx: &mut SyscallContext, addr: u64) -> Result<(u32, u32, u32, [u8; 120]), Errno> {
    let mut buf = [0u8; 120];
    ctx.task.mm().copy_from_user(addr, &mut buf[..48])?;
    let word = |at: usize| u32::from_ne_bytes(buf[at..at + 4].try_into().unwrap_or([0; 4]));
    let (uid, gid, mode) = (word(4), word(8), word(20));
    Ok((uid, gid, mode, buf))
}

fn apply_set(perm: &mut Perm, uid: u32, gid: u32, mode: u32) {
    perm.uid = uid;
    perm.gid = gid;
    perm.mode = (perm.mode & !0o777) | (mode & 0o777);
}

/// Splits a ctl command into (command, whether it asked for IPC_64).
fn ctl_cmd(cmd: u64) -> i32 {
    (cmd as i32) & !IPC_64
}

// --- message queues ---------------------------------------------------------

const MSG_NOERROR: u32 = 0o10000;
const MSG_EXCEPT: u32 = 0o20000;
const MSG_COPY: u32 = 0o40000;
const MSG_STAT: i32 = 11;
const MSG_INFO: i32 = 12;
const MSG_STAT_ANY: i32 = 13;

pub fn sys_msgget(ctx: &mut SyscallContext, key: i32, flags: u32) -> SysResult {
    let ns = ctx.task.ipc_ns.clone();
    let limits = *ns.limits.lock();
    let mut table = ns.msg.lock();
    if let Some(id) = lookup_key(ctx, &mut table, key, flags, |_| Ok(()))? {
        return Ok(id as u64);
    }
    let queue = MsgQueue {
        messages: Default::default(),
        bytes: 0,
        qbytes: limits.msgmnb.max(0) as usize,
        stime: 0,
        rtime: 0,
        ctime: now_secs(),
        lspid: 0,
        lrpid: 0,
        changed: Arc::new(Default::default()),
        removed: false,
    };
    let perm = new_perm(ctx, key, flags);
    Ok(table.insert(perm, queue, limits.msgmni)? as u64)
}

pub fn sys_msgsnd(
    ctx: &mut SyscallContext,
    id: i32,
    addr: u64,
    size: i64,
    flags: u32,
) -> SysResult {
    let ns = ctx.task.ipc_ns.clone();
    if size < 0 || size > ns.limits.lock().msgmax as i64 {
        return Err(EINVAL);
    }
    {
        let mut table = ns.msg.lock();
        let (_, (perm, _)) = table.get(id)?;
        let perm = *perm;
        drop(table);
        if !asker(ctx).may(&perm, 0o222) {
            return Err(EACCES);
        }
    }
    let mtype = UserPtr::<i64>::new(addr).read(&mut ctx.task.mm())?;
    if mtype < 1 {
        return Err(EINVAL);
    }
    let mut text = vec![0u8; size as usize];
    ctx.task.mm().copy_from_user(addr + 8, &mut text)?;
    loop {
        let changed = {
            let mut table = ns.msg.lock();
            let (_, (_, queue)) = table.get(id).map_err(|_| EIDRM)?;
            let fits = queue.bytes + text.len() <= queue.qbytes
                && queue.messages.len() < queue.qbytes.max(1);
            let mut total = ipc::MSG_BYTES.lock();
            if fits && *total + text.len() <= ipc::MAX_MSG_BYTES {
                *total += text.len();
                queue.bytes += text.len();
                queue
                    .messages
                    .push_back((mtype, core::mem::take(&mut text)));
                queue.stime = now_secs();
                queue.lspid = ctx.task.pid;
                queue.changed.wake_all();
                return Ok(0);
            }
            if flags & IPC_NOWAIT != 0 {
                return Err(EAGAIN);
            }
            queue.changed.clone()
        };
        crate::sentry::signal::wait(&mut ctx.task, &[&changed], u64::MAX, false)?;
    }
}

pub fn sys_msgrcv(
    ctx: &mut SyscallContext,
    id: i32,
    addr: u64,
    size: i64,
    msgtyp: i64,
    flags: u32,
) -> SysResult {
    let ns = ctx.task.ipc_ns.clone();
    if size < 0 {
        return Err(EINVAL);
    }
    if flags & MSG_COPY != 0 && (flags & IPC_NOWAIT == 0 || flags & MSG_EXCEPT != 0) {
        return Err(EINVAL);
    }
    {
        let mut table = ns.msg.lock();
        let (_, (perm, _)) = table.get(id)?;
        let perm = *perm;
        drop(table);
        if !asker(ctx).may(&perm, 0o444) {
            return Err(EACCES);
        }
    }
    loop {
        let (changed, message) = {
            let mut table = ns.msg.lock();
            let (_, (_, queue)) = table.get(id).map_err(|_| EIDRM)?;
            let found = if flags & MSG_COPY != 0 {
                usize::try_from(msgtyp)
                    .ok()
                    .filter(|&i| i < queue.messages.len())
            } else if msgtyp == 0 {
                (!queue.messages.is_empty()).then_some(0)
            } else if msgtyp > 0 {
                queue.messages.iter().position(|(t, _)| {
                    if flags & MSG_EXCEPT != 0 {
                        *t != msgtyp
                    } else {
                        *t == msgtyp
                    }
                })
            } else {
                let limit = msgtyp.unsigned_abs() as i64;
                queue
                    .messages
                    .iter()
                    .enumerate()
                    .filter(|(_, (t, _))| *t <= limit)
                    .min_by_key(|(i, (t, _))| (*t, *i))
                    .map(|(i, _)| i)
            };
            match found {
                Some(i) => {
                    let len = queue.messages[i].1.len();
                    if len > size as usize && flags & MSG_NOERROR == 0 {
                        return Err(E2BIG);
                    }
                    let message = if flags & MSG_COPY != 0 {
                        queue.messages[i].clone()
                    } else {
                        let m = queue.messages.remove(i).unwrap_or_default();
                        queue.bytes -= m.1.len();
                        *ipc::MSG_BYTES.lock() -= m.1.len();
                        queue.rtime = now_secs();
                        queue.lrpid = ctx.task.pid;
                        queue.changed.wake_all();
                        m
                    };
                    (None, Some(message))
                }
                None if flags & MSG_COPY != 0 => return Err(ENOMSG),
                None if flags & IPC_NOWAIT != 0 => return Err(ENOMSG),
                None => (Some(queue.changed.clone()), None),
            }
        };
        if let Some((mtype, text)) = message {
            let n = text.len().min(size as usize);
            let mut mm = ctx.task.mm();
            UserPtr::<i64>::new(addr).write(&mut mm, &mtype)?;
            mm.copy_to_user(addr + 8, &text[..n])?;
            return Ok(n as u64);
        }
        if let Some(changed) = changed {
            crate::sentry::signal::wait(&mut ctx.task, &[&changed], u64::MAX, false)?;
        }
    }
}

pub fn sys_msgctl(ctx: &mut SyscallContext, id: i32, cmd: u64, buf: u64) -> SysResult {
    let ns = ctx.task.ipc_ns.clone();
    let cmd = ctl_cmd(cmd);
    match cmd {
        IPC_INFO | MSG_INFO => {
            let limits = *ns.limits.lock();
            let table = ns.msg.lock();
            let mut info = [0i32; 8];
            let total: usize = table.entries.values().map(|(_, q)| q.bytes).sum();
            let count: usize = table.entries.values().map(|(_, q)| q.messages.len()).sum();
            info[2] = limits.msgmax;
            info[3] = limits.msgmnb;
            info[4] = limits.msgmni;
            info[5] = 16; // msgssz
            info[7] = 0xffff; // msgseg (an unsigned short)
            if cmd == MSG_INFO {
                info[0] = table.entries.len() as i32; // msgpool: queues in use
                info[1] = count as i32; // msgmap: messages
                info[6] = total as i32; // msgtql: bytes
            } else {
                info[0] = ipc::MSGMNI * ipc::MSGMNB / 1024;
                info[1] = ipc::MSGMNB;
                info[6] = ipc::MSGMNB;
            }
            let highest = table.highest_index();
            drop(table);
            UserPtr::<[i32; 8]>::new(buf).write(&mut ctx.task.mm(), &info)?;
            Ok(highest as u64)
        }
        IPC_STAT | MSG_STAT | MSG_STAT_ANY => {
            let mut table = ns.msg.lock();
            let (index, (perm, q)) = if cmd == IPC_STAT {
                table.get(id)?
            } else {
                let index = usize::try_from(id).map_err(|_| EINVAL)?;
                let entry = table.entries.get_mut(&index).ok_or(EINVAL)?;
                (index, entry)
            };
            if cmd != MSG_STAT_ANY && !asker(ctx).may(perm, 0o444) {
                return Err(EACCES);
            }
            let mut out = [0u8; 120];
            out[..48].copy_from_slice(&perm_bytes(perm));
            put(&mut out, 48, q.stime as u64);
            put(&mut out, 56, q.rtime as u64);
            put(&mut out, 64, q.ctime as u64);
            put(&mut out, 72, q.bytes as u64);
            put(&mut out, 80, q.messages.len() as u64);
            put(&mut out, 88, q.qbytes as u64);
            out[96..100].copy_from_slice(&q.lspid.to_ne_bytes());
            out[100..104].copy_from_slice(&q.lrpid.to_ne_bytes());
            let result = if cmd == IPC_STAT {
                0
            } else {
                Table::<MsgQueue>::id_of(index, perm) as u64
            };
            drop(table);
            ctx.task.mm().copy_to_user(buf, &out)?;
            Ok(result)
        }
        IPC_SET => {
            let (uid, gid, mode, _) = read_set(ctx, buf)?;
            let mut raw = [0u8; 8];
            ctx.task.mm().copy_from_user(buf + 88, &mut raw)?;
            let qbytes = u64::from_ne_bytes(raw) as usize;
            let mut table = ns.msg.lock();
            let (_, (perm, q)) = table.get(id)?;
            let me = asker(ctx);
            if !me.owns(perm) {
                return Err(EPERM);
            }
            if qbytes > ns.limits.lock().msgmnb.max(0) as usize && me.euid != 0 {
                return Err(EPERM);
            }
            apply_set(perm, uid, gid, mode);
            q.qbytes = qbytes;
            q.ctime = now_secs();
            q.changed.wake_all();
            Ok(0)
        }
        IPC_RMID => {
            let mut table = ns.msg.lock();
            let (index, (perm, q)) = table.get(id)?;
            if !asker(ctx).owns(perm) {
                return Err(EPERM);
            }
            *ipc::MSG_BYTES.lock() -= q.bytes;
            q.removed = true;
            q.changed.wake_all();
            table.entries.remove(&index);
            Ok(0)
        }
        _ => Err(EINVAL),
    }
}

// --- semaphores ---------------------------------------------------------------

const GETPID: i32 = 11;
const GETVAL: i32 = 12;
const GETALL: i32 = 13;
const GETNCNT: i32 = 14;
const GETZCNT: i32 = 15;
const SETVAL: i32 = 16;
const SETALL: i32 = 17;
const SEM_STAT: i32 = 18;
const SEM_INFO: i32 = 19;
const SEM_STAT_ANY: i32 = 20;
const SEM_UNDO: i16 = 0x1000;

pub fn sys_semget(ctx: &mut SyscallContext, key: i32, nsems: i32, flags: u32) -> SysResult {
    let ns = ctx.task.ipc_ns.clone();
    let limits = *ns.limits.lock();
    if nsems < 0 || nsems > limits.semmsl() {
        return Err(EINVAL);
    }
    let mut table = ns.sem.lock();
    let check = |set: &SemSet| {
        if nsems as usize > set.sems.len() {
            Err(EINVAL)
        } else {
            Ok(())
        }
    };
    if let Some(id) = lookup_key(ctx, &mut table, key, flags, check)? {
        return Ok(id as u64);
    }
    if nsems == 0 {
        return Err(EINVAL);
    }
    // semmns bounds the semaphores of all sets together (Linux's
    // used_sems), checked before the number of sets.
    let used: usize = table.entries.values().map(|(_, s)| s.sems.len()).sum();
    if used as i64 + nsems as i64 > limits.semmns() as i64 {
        return Err(ENOSPC);
    }
    let set = SemSet {
        sems: vec![Default::default(); nsems as usize],
        otime: 0,
        ctime: now_secs(),
        waiting: vec![(0, 0); nsems as usize],
        changed: Arc::new(Default::default()),
    };
    let perm = new_perm(ctx, key, flags);
    Ok(table.insert(perm, set, limits.semmni())? as u64)
}

pub fn sys_semop(ctx: &mut SyscallContext, semid: i32, sops: u64, nsops: u64) -> SysResult {
    semtimedop(ctx, semid, sops, nsops, None)
}

pub fn sys_semtimedop(
    ctx: &mut SyscallContext,
    semid: i32,
    sops: u64,
    nsops: u64,
    timeout: u64,
) -> SysResult {
    let timeout = if timeout == 0 {
        None
    } else {
        Some(super::time::read_timespec(ctx, timeout)?)
    };
    semtimedop(ctx, semid, sops, nsops, timeout)
}

fn semtimedop(
    ctx: &mut SyscallContext,
    id: i32,
    sops: u64,
    nsops: u64,
    timeout: Option<u64>,
) -> SysResult {
    let ns = ctx.task.ipc_ns.clone();
    if nsops == 0 {
        return Err(EINVAL);
    }
    if nsops > ns.limits.lock().semopm().max(0) as u64 {
        return Err(E2BIG);
    }
    if id < 0 {
        return Err(EINVAL);
    }
    let mut raw = vec![0u8; nsops as usize * 6];
    ctx.task.mm().copy_from_user(sops, &mut raw)?;
    let ops: Vec<(u16, i16, i16)> = raw
        .chunks_exact(6)
        .map(|c| {
            (
                u16::from_ne_bytes([c[0], c[1]]),
                i16::from_ne_bytes([c[2], c[3]]),
                i16::from_ne_bytes([c[4], c[5]]),
            )
        })
        .collect();
    let deadline = timeout.map_or(u64::MAX, |t| {
        crate::sentry::signal::wait_deadline(&mut ctx.task, t)
    });
    let pid = ctx.task.pid;
    let mut counted: Option<Vec<(usize, bool)>> = None;
    let uncount = |table: &mut Table<SemSet>, counted: &mut Option<Vec<(usize, bool)>>| {
        if let Some(list) = counted.take() {
            if let Ok((_, (_, set))) = table.get(id) {
                for (num, zero) in list {
                    let w = &mut set.waiting[num];
                    if zero {
                        w.1 = w.1.saturating_sub(1);
                    } else {
                        w.0 = w.0.saturating_sub(1);
                    }
                }
            }
        }
    };
    loop {
        let changed = {
            let mut table = ns.sem.lock();
            let waited = counted.is_some();
            uncount(&mut table, &mut counted);
            // Removed while this task waited: EIDRM.
            let (_, (perm, set)) = table.get(id).map_err(|e| if waited { EIDRM } else { e })?;
            if ops.iter().any(|op| op.0 as usize >= set.sems.len()) {
                return Err(EFBIG);
            }
            let alter = ops.iter().any(|op| op.1 != 0);
            if !asker(ctx).may(perm, if alter { 0o222 } else { 0o444 }) {
                return Err(EACCES);
            }
            // Try all operations on a copy: they happen together or not at all.
            let mut values: Vec<i32> = set.sems.iter().map(|s| s.value).collect();
            let mut blocked = None;
            for &(num, op, flg) in &ops {
                let v = &mut values[num as usize];
                if op > 0 {
                    if *v + op as i32 > ipc::SEMVMX {
                        return Err(ERANGE);
                    }
                    *v += op as i32;
                } else if op < 0 {
                    if *v + (op as i32) < 0 {
                        blocked = Some((num, false, flg));
                        break;
                    }
                    *v += op as i32;
                } else if *v != 0 {
                    blocked = Some((num, true, flg));
                    break;
                }
            }
            match blocked {
                None => {
                    for &(num, op, flg) in &ops {
                        let sem = &mut set.sems[num as usize];
                        sem.value = values[num as usize];
                        sem.pid = pid;
                        if flg & SEM_UNDO != 0 && op != 0 {
                            let nsems = set.sems.len();
                            let list = ipc::undo_list(pid, true).expect("created");
                            let mut undo = ns.sem_undo.lock();
                            let adj = undo.entry((list, id)).or_insert_with(|| vec![0; nsems]);
                            adj[num as usize] -= op as i32;
                        }
                    }
                    set.otime = now_secs();
                    set.changed.wake_all();
                    return Ok(0);
                }
                Some((_, _, flg)) if flg & IPC_NOWAIT as i16 != 0 => return Err(EAGAIN),
                Some((num, zero, _)) => {
                    let w = &mut set.waiting[num as usize];
                    if zero {
                        w.1 += 1;
                    } else {
                        w.0 += 1;
                    }
                    counted = Some(vec![(num as usize, zero)]);
                    set.changed.clone()
                }
            }
        };
        let now = crate::sentry::time::monotonic_ns();
        let result = if now >= deadline {
            Err(EAGAIN)
        } else {
            crate::sentry::signal::wait(&mut ctx.task, &[&changed], deadline, false).map(|_| ())
        };
        if let Err(e) = result {
            let mut table = ns.sem.lock();
            uncount(&mut table, &mut counted);
            // A removed set: EIDRM rather than the interruption.
            if table.get(id).is_err() {
                return Err(EIDRM);
            }
            return Err(e);
        }
    }
}

pub fn sys_semctl(ctx: &mut SyscallContext, id: i32, num: i32, cmd: u64, arg: u64) -> SysResult {
    let ns = ctx.task.ipc_ns.clone();
    let cmd = ctl_cmd(cmd);
    match cmd {
        IPC_INFO | SEM_INFO => {
            let limits = *ns.limits.lock();
            let table = ns.sem.lock();
            let mut info = [0i32; 10];
            info[0] = 1024; // semmap
            info[1] = limits.semmni();
            info[2] = limits.semmns();
            info[3] = 1024; // semmnu
            info[4] = limits.semmsl();
            info[5] = limits.semopm();
            info[6] = ipc::SEMOPM; // semume (Linux's constant SEMUME)
            info[7] = 16; // semusz
            info[8] = ipc::SEMVMX;
            info[9] = 16384; // semaem
            if cmd == SEM_INFO {
                info[7] = table.entries.len() as i32;
                info[9] = table
                    .entries
                    .values()
                    .map(|(_, s)| s.sems.len() as i32)
                    .sum();
            }
            let highest = table.highest_index();
            drop(table);
            UserPtr::<[i32; 10]>::new(arg).write(&mut ctx.task.mm(), &info)?;
            return Ok(highest as u64);
        }
        SEM_STAT | SEM_STAT_ANY => {
            let table = ns.sem.lock();
            let index = usize::try_from(id).map_err(|_| EINVAL)?;
            let (perm, set) = table.entries.get(&index).ok_or(EINVAL)?;
            if cmd == SEM_STAT && !asker(ctx).may(perm, 0o444) {
                return Err(EACCES);
            }
            let out = semid_ds(perm, set);
            let id = Table::<SemSet>::id_of(index, perm);
            drop(table);
            ctx.task.mm().copy_to_user(arg, &out)?;
            return Ok(id as u64);
        }
        _ => {}
    }
    let mut table = ns.sem.lock();
    let (index, (perm, set)) = table.get(id)?;
    let me = asker(ctx);
    let nsems = set.sems.len();
    let sem_index = || {
        usize::try_from(num)
            .ok()
            .filter(|&n| n < nsems)
            .ok_or(EINVAL)
    };
    match cmd {
        IPC_RMID | IPC_SET => {
            if !me.owns(perm) {
                return Err(EPERM);
            }
            if cmd == IPC_RMID {
                set.changed.wake_all();
                table.entries.remove(&index);
                ns.sem_undo.lock().retain(|k, _| k.1 != id);
                return Ok(0);
            }
            drop(table);
            let (uid, gid, mode, _) = read_set(ctx, arg)?;
            let mut table = ns.sem.lock();
            let (_, (perm, set)) = table.get(id)?;
            apply_set(perm, uid, gid, mode);
            set.ctime = now_secs();
            Ok(0)
        }
        IPC_STAT => {
            if !me.may(perm, 0o444) {
                return Err(EACCES);
            }
            let out = semid_ds(perm, set);
            drop(table);
            ctx.task.mm().copy_to_user(arg, &out)?;
            Ok(0)
        }
        GETVAL | GETPID | GETNCNT | GETZCNT => {
            if !me.may(perm, 0o444) {
                return Err(EACCES);
            }
            let n = sem_index()?;
            Ok(match cmd {
                GETVAL => set.sems[n].value as u64,
                GETPID => set.sems[n].pid as u64,
                GETNCNT => set.waiting[n].0 as u64,
                _ => set.waiting[n].1 as u64,
            })
        }
        GETALL => {
            if !me.may(perm, 0o444) {
                return Err(EACCES);
            }
            let values: Vec<u8> = set
                .sems
                .iter()
                .flat_map(|s| (s.value as u16).to_ne_bytes())
                .collect();
            drop(table);
            ctx.task.mm().copy_to_user(arg, &values)?;
            Ok(0)
        }
        SETVAL => {
            if !me.may(perm, 0o222) {
                return Err(EACCES);
            }
            let n = sem_index()?;
            let value = arg as i32;
            if !(0..=ipc::SEMVMX).contains(&value) {
                return Err(ERANGE);
            }
            set.sems[n].value = value;
            set.sems[n].pid = ctx.task.pid;
            set.ctime = now_secs();
            set.changed.wake_all();
            drop(table);
            for adj in ns.sem_undo.lock().iter_mut().filter(|(k, _)| k.1 == id) {
                adj.1[n] = 0;
            }
            Ok(0)
        }
        SETALL => {
            if !me.may(perm, 0o222) {
                return Err(EACCES);
            }
            drop(table);
            let mut raw = vec![0u8; nsems * 2];
            ctx.task.mm().copy_from_user(arg, &mut raw)?;
            let values: Vec<i32> = raw
                .chunks_exact(2)
                .map(|c| u16::from_ne_bytes([c[0], c[1]]) as i32)
                .collect();
            if values.iter().any(|&v| v > ipc::SEMVMX) {
                return Err(ERANGE);
            }
            let mut table = ns.sem.lock();
            let (_, (_, set)) = table.get(id)?;
            let pid = ctx.task.pid;
            for (sem, v) in set.sems.iter_mut().zip(values) {
                sem.value = v;
                sem.pid = pid;
            }
            set.ctime = now_secs();
            set.changed.wake_all();
            drop(table);
            ns.sem_undo.lock().retain(|k, _| k.1 != id);
            Ok(0)
        }
        _ => Err(EINVAL),
    }
}

/// `struct semid64_ds` (104 bytes on x86_64, 72 in the generic layout).
fn semid_ds(perm: &Perm, set: &SemSet) -> Vec<u8> {
    let mut out = vec![0u8; 104];
    out[..48].copy_from_slice(&perm_bytes(perm));
    if cfg!(target_arch = "x86_64") {
        put(&mut out, 48, set.otime as u64);
        put(&mut out, 64, set.ctime as u64);
        put(&mut out, 80, set.sems.len() as u64);
    } else {
        put(&mut out, 48, set.otime as u64);
        put(&mut out, 56, set.ctime as u64);
        put(&mut out, 64, set.sems.len() as u64);
        out.truncate(88);
    }
    out
}

// --- shared memory ------------------------------------------------------------

const SHM_RDONLY: u32 = 0o10000;
const SHM_RND: u32 = 0o20000;
const SHM_REMAP: u32 = 0o40000;
const SHM_EXEC: u32 = 0o100000;
const SHM_HUGETLB: u32 = 0o4000;
const SHM_LOCK: i32 = 11;
const SHM_UNLOCK: i32 = 12;
const SHM_STAT: i32 = 13;
const SHM_INFO: i32 = 14;
const SHM_STAT_ANY: i32 = 15;
const SHMLBA: u64 = 4096;

pub fn sys_shmget(ctx: &mut SyscallContext, key: i32, size: u64, flags: u32) -> SysResult {
    let ns = ctx.task.ipc_ns.clone();
    let limits = *ns.limits.lock();
    let mut table = ns.shm.lock();
    ipc::reap_shm(&mut table);
    let check = |seg: &ShmSegment| {
        if size > seg.size {
            Err(EINVAL)
        } else {
            Ok(())
        }
    };
    if let Some(id) = lookup_key(ctx, &mut table, key, flags, check)? {
        return Ok(id as u64);
    }
    if size == 0 || size > limits.shmmax {
        return Err(EINVAL);
    }
    let pages = size.div_ceil(4096);
    if ipc::shm_pages(&table).saturating_add(pages) > limits.shmall {
        return Err(ENOSPC);
    }
    if flags & SHM_HUGETLB != 0 {
        // No huge pages in the sandbox: Linux built without
        // CONFIG_HUGETLBFS (what /boot/config says) finds no huge page
        // size for the segment.
        return Err(EINVAL);
    }
    let node = crate::sentry::vfs::tmpfs::new_unlinked_file(flags & 0o777);
    crate::sentry::vfs::Inode::truncate(&*node, size)?;
    let segment = ShmSegment {
        size,
        node,
        atime: 0,
        dtime: 0,
        ctime: now_secs(),
        cpid: ctx.task.pid,
        lpid: 0,
    };
    let perm = new_perm(ctx, key, flags);
    Ok(table.insert(perm, segment, limits.shmmni)? as u64)
}

pub fn sys_shmat(ctx: &mut SyscallContext, id: i32, addr: u64, flags: u32) -> SysResult {
    let ns = ctx.task.ipc_ns.clone();
    use crate::sentry::mm::{FileBacking, Protection};
    let (node, size) = {
        let mut table = ns.shm.lock();
        let (_, (perm, seg)) = table.get(id)?;
        let want = if flags & SHM_RDONLY != 0 {
            0o444
        } else {
            0o666
        };
        if !asker(ctx).may(perm, want) {
            return Err(EACCES);
        }
        if perm.mode & ipc::SHM_DEST != 0 && asker(ctx).euid != 0 && !asker(ctx).owns(perm) {
            return Err(EIDRM);
        }
        (seg.node.clone(), seg.size)
    };
    let mut addr = addr;
    if addr != 0 {
        if !addr.is_multiple_of(SHMLBA) {
            if flags & SHM_RND == 0 {
                return Err(EINVAL);
            }
            addr &= !(SHMLBA - 1);
        }
        if addr == 0 && flags & SHM_REMAP != 0 {
            return Err(EINVAL);
        }
    } else if flags & SHM_REMAP != 0 {
        return Err(EINVAL);
    }
    let prot = Protection {
        read: true,
        write: flags & SHM_RDONLY == 0,
        exec: flags & SHM_EXEC != 0,
    };
    let backing = FileBacking {
        inode: node,
        offset: 0,
        may_write: flags & SHM_RDONLY == 0,
        path: Some(Arc::new(
            alloc::format!("/SYSV{:08x} (deleted)", id).into_bytes(),
        )),
    };
    let fixed = addr != 0 && flags & SHM_REMAP != 0;
    let noreplace = addr != 0 && !fixed;
    let at = ctx
        .task
        .mm()
        .mmap(
            addr,
            size,
            prot,
            true,
            fixed,
            noreplace,
            Some(backing),
            crate::sentry::mm::VmFlags::NONE,
            false,
        )
        .map_err(|e| if e == EEXIST { EINVAL } else { e })?;
    let mut table = ns.shm.lock();
    if let Ok((_, (_, seg))) = table.get(id) {
        seg.atime = now_secs();
        seg.lpid = ctx.task.pid;
    }
    Ok(at)
}

pub fn sys_shmdt(ctx: &mut SyscallContext, addr: u64) -> SysResult {
    let ns = ctx.task.ipc_ns.clone();
    if !addr.is_multiple_of(SHMLBA) {
        return Err(EINVAL);
    }
    let inode = {
        let mm = ctx.task.mm();
        let vma = mm.find(addr).filter(|v| v.start == addr).ok_or(EINVAL)?;
        let file = vma.file.as_ref().filter(|f| f.offset == 0).ok_or(EINVAL)?;
        file.inode.clone()
    };
    let same = |f: &crate::sentry::mm::FileBacking| {
        core::ptr::addr_eq(Arc::as_ptr(&f.inode), Arc::as_ptr(&inode))
    };
    let mut table = ns.shm.lock();
    let index = table
        .entries
        .iter()
        .find(|(_, (_, s))| core::ptr::addr_eq(Arc::as_ptr(&s.node), Arc::as_ptr(&inode)))
        .map(|(&i, _)| i)
        .ok_or(EINVAL)?;
    let seg = &mut table.entries.get_mut(&index).ok_or(EINVAL)?.1;
    let limit = addr.saturating_add(seg.size.div_ceil(4096) * 4096);
    seg.dtime = now_secs();
    seg.lpid = ctx.task.pid;
    drop(table);
    // Every area of this segment from addr on (mprotect may have split
    // the attachment), as Linux does.
    {
        let mut mm = ctx.task.mm();
        let mut at = addr;
        while at < limit {
            let Some((start, end, ours)) = mm
                .find_from(at)
                .map(|v| (v.start, v.end, v.file.as_ref().is_some_and(same)))
            else {
                break;
            };
            if start >= limit {
                break;
            }
            if ours {
                mm.unmap(start, end.min(limit))?;
            }
            at = end;
        }
    }
    let mut table = ns.shm.lock();
    ipc::reap_shm(&mut table);
    Ok(0)
}

pub fn sys_shmctl(ctx: &mut SyscallContext, id: i32, cmd: u64, buf: u64) -> SysResult {
    let ns = ctx.task.ipc_ns.clone();
    let cmd = ctl_cmd(cmd);
    let mut table = ns.shm.lock();
    ipc::reap_shm(&mut table);
    match cmd {
        IPC_INFO => {
            let limits = *ns.limits.lock();
            let mut info = [0u64; 9];
            info[0] = limits.shmmax;
            info[1] = 1; // shmmin
            info[2] = limits.shmmni as u64;
            info[3] = 4096; // shmseg (Linux's constant SHMSEG)
            info[4] = limits.shmall;
            let highest = table.highest_index();
            drop(table);
            UserPtr::<[u64; 9]>::new(buf).write(&mut ctx.task.mm(), &info)?;
            Ok(highest as u64)
        }
        SHM_INFO => {
            let mut info = [0u64; 6];
            info[0] = table.entries.len() as u64; // used_ids (an int, then padding)
                                                  // Every page of a segment counts as resident (its tmpfs file
                                                  // is in memory), as /proc/sysvipc/shm shows.
            info[1] = ipc::shm_pages(&table); // shm_tot
            info[2] = info[1]; // shm_rss
            let highest = table.highest_index();
            drop(table);
            UserPtr::<[u64; 6]>::new(buf).write(&mut ctx.task.mm(), &info)?;
            Ok(highest as u64)
        }
        IPC_STAT | SHM_STAT | SHM_STAT_ANY => {
            let (index, (perm, seg)) = if cmd == IPC_STAT {
                table.get(id)?
            } else {
                let index = usize::try_from(id).map_err(|_| EINVAL)?;
                let entry = table.entries.get_mut(&index).ok_or(EINVAL)?;
                (index, entry)
            };
            if cmd != SHM_STAT_ANY && !asker(ctx).may(perm, 0o444) {
                return Err(EACCES);
            }
            let mut out = [0u8; 112];
            out[..48].copy_from_slice(&perm_bytes(perm));
            put(&mut out, 48, seg.size);
            put(&mut out, 56, seg.atime as u64);
            put(&mut out, 64, seg.dtime as u64);
            put(&mut out, 72, seg.ctime as u64);
            out[80..84].copy_from_slice(&seg.cpid.to_ne_bytes());
            out[84..88].copy_from_slice(&seg.lpid.to_ne_bytes());
            let node = seg.node.clone();
            let result = if cmd == IPC_STAT {
                0
            } else {
                Table::<ShmSegment>::id_of(index, perm) as u64
            };
            drop(table);
            put(&mut out, 88, ipc::attachments(&node));
            ctx.task.mm().copy_to_user(buf, &out)?;
            Ok(result)
        }
        IPC_SET | IPC_RMID => {
            let (index, (perm, seg)) = table.get(id)?;
            if !asker(ctx).owns(perm) {
                return Err(EPERM);
            }
            if cmd == IPC_RMID {
                perm.mode |= ipc::SHM_DEST;
                // No longer found by key (Linux: the key becomes private).
                perm.key = ipc::IPC_PRIVATE;
                let node = seg.node.clone();
                drop(table);
                if ipc::attachments(&node) == 0 {
                    ns.shm.lock().entries.remove(&index);
                }
                return Ok(0);
            }
            drop(table);
            let (uid, gid, mode, _) = read_set(ctx, buf)?;
            let mut table = ns.shm.lock();
            let (_, (perm, seg)) = table.get(id)?;
            apply_set(perm, uid, gid, mode);
            seg.ctime = now_secs();
            Ok(0)
        }
        SHM_LOCK | SHM_UNLOCK => {
            let (_, (perm, _)) = table.get(id)?;
            let me = asker(ctx);
            if me.euid != 0 && !me.owns(perm) {
                return Err(EPERM);
            }
            if cmd == SHM_LOCK {
                perm.mode |= ipc::SHM_LOCKED;
            } else {
                perm.mode &= !ipc::SHM_LOCKED;
            }
            Ok(0)
        }
        _ => Err(EINVAL),
    }
}
