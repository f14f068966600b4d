//! File locks: flock(2), fcntl's record locks (F_GETLK, F_SETLK,
//! F_SETLKW and the OFD forms) and file leases (F_SETLEASE, F_GETLEASE),
//! enforced between the sandbox's processes with the tables of
//! `vfs::locks`. A blocking request waits on one queue that every unlock
//! wakes and looks again when what it waited for changed; a signal ends
//! the wait (EINTR, or a restart after an SA_RESTART handler).
//!
//! A lease is broken by an open (`break_lease`, from open and truncate):
//! its holder's owner gets SIGIO (or F_SETSIG's signal) and the breaker
//! waits until the holder lets go or /proc/sys/fs/lease-break-time passes.

use crate::sentry::mm::usermem::UserPtr;
use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use core::sync::atomic::{AtomicI32, Ordering};

use spin::Mutex;

use super::SyscallContext;
use crate::sentry::errno::*;
use crate::sentry::fd::{OpenFile, O_PATH};
use crate::sentry::sigio::{self, OwnerKind, POLL_MSG};
use crate::sentry::vfs::locks::{
    Access, FileId, FlockTable, Kind, LeaseTable, Owner, RangeLock, RecordLocks,
};
use crate::sentry::wait::WaitQueue;

pub const F_GETLK: u64 = 5;
pub const F_SETLK: u64 = 6;
pub const F_SETLKW: u64 = 7;
pub const F_OFD_GETLK: u64 = 36;
pub const F_OFD_SETLK: u64 = 37;
pub const F_OFD_SETLKW: u64 = 38;
pub const F_SETLEASE: u64 = 1024;
pub const F_GETLEASE: u64 = 1025;

const F_RDLCK: u16 = 0;
const F_WRLCK: u16 = 1;
const F_UNLCK: u16 = 2;

static RECORD_LOCKS: Mutex<RecordLocks> = Mutex::new(RecordLocks::new());
static FLOCKS: Mutex<FlockTable> = Mutex::new(FlockTable::new());
/// Woken at every unlock: lock waiters look again.
static UNLOCKED: WaitQueue = WaitQueue::new();

static LEASES: Mutex<LeaseTable> = Mutex::new(LeaseTable::new());
/// Woken whenever a lease changes or goes: lease breakers look again.
static LEASE_CHANGED: WaitQueue = WaitQueue::new();
/// The descriptions holding a lease, by address: whom a break signals.
static HOLDERS: Mutex<BTreeMap<usize, Weak<OpenFile>>> = Mutex::new(BTreeMap::new());
/// /proc/sys/fs/lease-break-time: the seconds a holder has to let go
/// (0 or less: it is never forced).
pub static LEASE_BREAK_TIME: AtomicI32 = AtomicI32::new(45);

fn file_id(file: &OpenFile) -> FileId {
    let stat = file.file.stat();
    (stat.dev, stat.ino)
}

/// The owner key of an open file description.
fn description(file: &Arc<OpenFile>) -> usize {
    Arc::as_ptr(file) as usize
}

/// An open file description goes away: its flock and OFD locks go too,
/// and its lease.
pub fn release_description(file: &OpenFile) {
    let owner = file as *const OpenFile as usize;
    FLOCKS.lock().release(owner);
    RECORD_LOCKS.lock().release(Owner::Description(owner), None);
    UNLOCKED.wake_all();
    if LEASES.lock().release(owner) {
        HOLDERS.lock().remove(&owner);
        LEASE_CHANGED.wake_all();
    }
}

/// Process `pid` closed a descriptor of `file` (or ended: None): its POSIX
/// record locks there go, as on Linux.
pub fn release_process(pid: i32, file: Option<&OpenFile>) {
    let mut locks = RECORD_LOCKS.lock();
    if !locks.holds_any(Owner::Process(pid)) {
        return;
    }
    locks.release(Owner::Process(pid), file.map(file_id));
    drop(locks);
    UNLOCKED.wake_all();
}

/// Waits for the next unlock; ERESTARTSYS when a signal comes first.
fn wait_for_unlock(ctx: &mut SyscallContext) -> Result<(), Errno> {
    match crate::sentry::signal::wait(&mut ctx.task, &[&UNLOCKED], u64::MAX, false) {
        Ok(_) => Ok(()),
        Err(e) if e == EINTR => Err(ERESTARTSYS),
        Err(e) => Err(e),
    }
}

pub fn sys_flock(ctx: &mut SyscallContext, fd: i32, operation: u64) -> SysResult {
    const LOCK_SH: u64 = 1;
    const LOCK_EX: u64 = 2;
    const LOCK_NB: u64 = 4;
    const LOCK_UN: u64 = 8;
    const LOCK_MAND: u64 = 32;
    let file = ctx.task.fds().get(fd)?.clone();
    if *file.flags.lock() & O_PATH != 0 {
        return Err(EBADF);
    }
    if operation & LOCK_MAND != 0 {
        return Ok(0); // Linux ignores the obsolete mandatory locks too
    }
    let shared = match operation & !LOCK_NB {
        LOCK_SH => true,
        LOCK_EX => false,
        LOCK_UN => {
            FLOCKS.lock().unlock(file_id(&file), description(&file));
            UNLOCKED.wake_all();
            return Ok(0);
        }
        _ => return Err(EINVAL),
    };
    let id = file_id(&file);
    let owner = description(&file);
    file.note_locked();
    loop {
        let mut table = FLOCKS.lock();
        if !table.would_block(id, owner, shared) {
            table.lock(id, owner, shared)?;
            return Ok(0);
        }
        if operation & LOCK_NB != 0 {
            return Err(EAGAIN); // EWOULDBLOCK
        }
        drop(table);
        wait_for_unlock(ctx)?;
    }
}

/// `struct flock`: l_type, l_whence, l_start, l_len, l_pid (the same
/// layout on x86_64 and arm64).
#[derive(Clone, Copy, Default, zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::Immutable)]
#[repr(C)]
struct Flock {
    kind: u16,
    whence: u16,
    _pad: u32,
    start: i64,
    len: i64,
    pid: i32,
    _pad2: u32,
}

/// The range [start, end) a `struct flock` names for `file`.
fn range_of(file: &OpenFile, flock: &Flock) -> Result<(u64, u64), Errno> {
    const SEEK_SET: u16 = 0;
    const SEEK_CUR: u16 = 1;
    const SEEK_END: u16 = 2;
    let base = match flock.whence {
        SEEK_SET => 0i64,
        SEEK_CUR => *file.offset.lock() as i64,
        SEEK_END => file.file.stat().size,
        _ => return Err(EINVAL),
    };
    let start = base.checked_add(flock.start).ok_or(EOVERFLOW)?;
    let (start, end) = match flock.len {
        0 => (start, i64::MAX),
        len if len > 0 => (start, start.checked_add(len).ok_or(EOVERFLOW)?),
        len => (start.checked_add(len).ok_or(EOVERFLOW)?, start),
    };
    if start < 0 {
        return Err(EINVAL);
    }
    let end = if end == i64::MAX {
        u64::MAX
    } else {
        end as u64
    };
    Ok((start as u64, end))
}

/// fcntl's record-lock commands on `file`.
pub fn fcntl_lock(
    ctx: &mut SyscallContext,
    file: &Arc<OpenFile>,
    cmd: u64,
    addr: u64,
) -> SysResult {
    let mut flock: Flock = UserPtr::<Flock>::new(addr).read(&mut ctx.task.mm())?;
    let ofd = matches!(cmd, F_OFD_GETLK | F_OFD_SETLK | F_OFD_SETLKW);
    if ofd && flock.pid != 0 {
        return Err(EINVAL);
    }
    let owner = if ofd {
        Owner::Description(description(file))
    } else {
        Owner::Process(ctx.task.pid)
    };
    let (start, end) = range_of(file, &flock)?;
    let id = file_id(file);
    let kind = match flock.kind {
        F_RDLCK => Kind::Read,
        F_WRLCK => Kind::Write,
        F_UNLCK if !matches!(cmd, F_GETLK | F_OFD_GETLK) => {
            RECORD_LOCKS.lock().unlock(id, owner, start, end);
            UNLOCKED.wake_all();
            return Ok(0);
        }
        _ => return Err(EINVAL),
    };
    let wanted = RangeLock {
        owner,
        kind,
        start,
        end,
    };
    if matches!(cmd, F_GETLK | F_OFD_GETLK) {
        match RECORD_LOCKS.lock().conflict(id, &wanted) {
            Some(held) => {
                flock.kind = if held.kind == Kind::Write {
                    F_WRLCK
                } else {
                    F_RDLCK
                };
                flock.whence = 0;
                flock.start = held.start as i64;
                flock.len = if held.end == u64::MAX {
                    0
                } else {
                    (held.end - held.start) as i64
                };
                flock.pid = match held.owner {
                    Owner::Process(pid) => pid,
                    Owner::Description(_) => -1,
                };
            }
            None => flock.kind = F_UNLCK,
        }
        UserPtr::new(addr).write(&mut ctx.task.mm(), &flock)?;
        return Ok(0);
    }
    // A read lock needs the file open for reading, a write lock for writing.
    let allowed = match kind {
        Kind::Read => file.readable(),
        Kind::Write => file.writable(),
    };
    if !allowed {
        return Err(EBADF);
    }
    file.note_locked();
    let thread = ctx.task.tid;
    loop {
        {
            let mut locks = RECORD_LOCKS.lock();
            match locks.lock(id, wanted) {
                Ok(()) => {
                    locks.unblock(thread);
                    return Ok(0);
                }
                Err(e) if e != EAGAIN || matches!(cmd, F_SETLK | F_OFD_SETLK) => {
                    locks.unblock(thread);
                    return Err(e);
                }
                // EDEADLK when the holder waits, through others, for us.
                Err(_) => locks.block(thread, id, &wanted)?,
            }
        }
        // Linux wakes a waiter when the lock in its way changes; until
        // then it stays asleep (and out of the deadlock search's way).
        loop {
            if let Err(e) = wait_for_unlock(ctx) {
                RECORD_LOCKS.lock().unblock(thread);
                return Err(e);
            }
            if !RECORD_LOCKS.lock().still_blocked(thread) {
                break;
            }
        }
    }
}

/// An open of a regular file, counted for leases while it lives.
pub struct OpenCount {
    file: FileId,
    access: Access,
}

impl Drop for OpenCount {
    fn drop(&mut self) {
        LEASES.lock().closed(self.file, self.access);
    }
}

/// Counts an open of regular file `file` (for writing, or read-only).
pub fn count_open(file: FileId, write: bool) -> OpenCount {
    let access = if write {
        Access::Write
    } else {
        Access::ReadOnly
    };
    LEASES.lock().opened(file, access);
    OpenCount { file, access }
}

/// The file a lease of `file` is on: its inode's id, as open counts it.
fn lease_file(file: &OpenFile) -> FileId {
    file.file
        .inode()
        .map(|inode| inode.id())
        .unwrap_or_else(|| file_id(file))
}

/// A lease ended without its description closing (F_UNLCK, or its break
/// time passed): as Linux's lease_modify, the description loses its
/// owner and F_SETSIG signal.
fn lease_gone(holder: usize) {
    let file = HOLDERS.lock().remove(&holder).and_then(|f| f.upgrade());
    if let Some(file) = file {
        let mut owner = file.owner.lock();
        owner.kind = OwnerKind::Process;
        owner.id = 0;
        owner.signum = 0;
    }
}

/// Applies the lease breaks of `file` whose time is up.
fn expire_leases(file: FileId) {
    let now = crate::sentry::time::monotonic_ns();
    let gone = LEASES.lock().time_out(file, now);
    for holder in &gone {
        lease_gone(*holder);
    }
    if !gone.is_empty() {
        LEASE_CHANGED.wake_all();
    }
}

/// fcntl F_SETLEASE (Linux's fcntl_setlease): a read or write lease for
/// the description, or none. EINVAL for another type or a file that is
/// not regular, EACCES unless the caller owns the file or has CAP_LEASE,
/// EAGAIN when the file is open in a conflicting way (see
/// `LeaseTable::set`) or, for F_UNLCK, when there is no lease.
pub fn fcntl_setlease(
    ctx: &mut SyscallContext,
    file: &Arc<OpenFile>,
    fd: i32,
    arg: u64,
) -> SysResult {
    const CAP_LEASE: u32 = 28;
    let kind = match arg as i32 {
        a if a == F_RDLCK as i32 => Some(Kind::Read),
        a if a == F_WRLCK as i32 => Some(Kind::Write),
        a if a == F_UNLCK as i32 => None,
        _ => return Err(EINVAL),
    };
    let stat = file.file.stat();
    if stat.uid != ctx.task.creds.fsuid && !ctx.task.creds.has_cap(CAP_LEASE) {
        return Err(EACCES);
    }
    if stat.mode & crate::sentry::stat::S_IFMT != crate::sentry::stat::S_IFREG {
        return Err(EINVAL);
    }
    let id = lease_file(file);
    let holder = description(file);
    let Some(kind) = kind else {
        LEASES.lock().unlock(id, holder)?;
        lease_gone(holder);
        LEASE_CHANGED.wake_all();
        return Ok(0);
    };
    expire_leases(id);
    let access = if file.writable() {
        Access::Write
    } else {
        Access::ReadOnly
    };
    LEASES.lock().set(id, holder, access, kind, fd)?;
    file.note_locked();
    HOLDERS.lock().insert(holder, Arc::downgrade(file));
    // Linux's lease_setup: the lease holder's process owns the
    // description unless it has an owner already.
    let pid = ctx.task.pid;
    let _ = sigio::set_owner(&ctx.task, file, OwnerKind::Process, pid, false);
    // A downgrade may let a reader in.
    LEASE_CHANGED.wake_all();
    Ok(0)
}

/// fcntl F_GETLEASE: the description's lease, or the type it is being
/// broken to; F_UNLCK for none.
pub fn fcntl_getlease(file: &Arc<OpenFile>) -> SysResult {
    let id = lease_file(file);
    if !LEASES.lock().has_leases(id) {
        return Ok(F_UNLCK as u64);
    }
    expire_leases(id);
    let kind = match LEASES
        .lock()
        .get(id, description(file))
        .and_then(|l| l.target())
    {
        Some(Kind::Read) => F_RDLCK,
        Some(Kind::Write) => F_WRLCK,
        None => F_UNLCK,
    };
    Ok(kind as u64)
}

/// An open (for writing when `write`, else for reading) or a truncate of
/// `file` breaks the leases it conflicts with (Linux's __break_lease):
/// their holders are signalled and the caller waits until they let go or
/// their break time passes. EWOULDBLOCK (EAGAIN) instead of waiting for
/// a `nonblock` open; ERESTARTSYS when a signal ends the wait. The
/// caller's own open is counted already when it writes, so that a holder
/// cannot downgrade to a read lease meanwhile.
pub fn break_lease(
    ctx: &mut SyscallContext,
    file: FileId,
    write: bool,
    nonblock: bool,
) -> Result<(), Errno> {
    if !LEASES.lock().has_leases(file) {
        return Ok(());
    }
    loop {
        expire_leases(file);
        let now = crate::sentry::time::monotonic_ns();
        let seconds = LEASE_BREAK_TIME.load(Ordering::Relaxed);
        let deadline = if seconds > 0 {
            now.saturating_add(seconds as u64 * 1_000_000_000)
        } else {
            u64::MAX
        };
        let broken = LEASES.lock().break_leases(file, write, deadline);
        for (holder, fd) in broken.notify {
            let holder = HOLDERS.lock().get(&holder).and_then(|f| f.upgrade());
            if let Some(holder) = holder {
                let owner = holder.owner.lock().clone();
                let current: &mut crate::sentry::task::Task = &mut ctx.task;
                sigio::send(Some(current), owner, fd, POLL_MSG);
            }
        }
        let Some(until) = broken.wait_until else {
            return Ok(());
        };
        if nonblock {
            return Err(EAGAIN);
        }
        match crate::sentry::signal::wait(&mut ctx.task, &[&LEASE_CHANGED], until, false) {
            Ok(_) => {}
            Err(e) if e == EINTR => return Err(ERESTARTSYS),
            Err(e) => return Err(e),
        }
    }
}
