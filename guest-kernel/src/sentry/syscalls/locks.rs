//! File locks: flock(2) and fcntl's record locks (F_GETLK, F_SETLK,
//! F_SETLKW and the OFD forms), enforced between the sandbox's processes
//! with the tables of `vfs::locks`. A blocking request waits on one queue
//! that every unlock wakes and looks again; a signal ends the wait (EINTR,
//! or a restart after an SA_RESTART handler).

use crate::sentry::mm::usermem::UserPtr;
use alloc::sync::Arc;

use spin::Mutex;

use super::fd_arg;
use super::SyscallContext;
use crate::sentry::errno::*;
use crate::sentry::fd::{OpenFile, O_PATH};
use crate::sentry::vfs::locks::{FileId, FlockTable, Kind, Owner, RangeLock, RecordLocks};
use crate::sentry::wait::WaitQueue;

pub const F_GETLK: u64 = 5;
pub const F_SETLK: u64 = 6;
pub const F_SETLKW: u64 = 7;
pub const F_OFD_GETLK: u64 = 36;
pub const F_OFD_SETLK: u64 = 37;
pub const F_OFD_SETLKW: u64 = 38;

const F_RDLCK: u16 = 0;
const F_WRLCK: u16 = 1;
const F_UNLCK: u16 = 2;

static RECORD_LOCKS: Mutex<RecordLocks> = Mutex::new(RecordLocks::new());
static FLOCKS: Mutex<FlockTable> = Mutex::new(FlockTable::new());
/// Woken at every unlock: lock waiters look again.
static UNLOCKED: WaitQueue = WaitQueue::new();

fn file_id(file: &OpenFile) -> FileId {
    let stat = file.file.stat();
    (stat.dev, stat.ino)
}

/// The owner key of an open file description.
fn description(file: &Arc<OpenFile>) -> usize {
    Arc::as_ptr(file) as usize
}

/// An open file description goes away: its flock and OFD locks go too.
pub fn release_description(file: &OpenFile) {
    let owner = file as *const OpenFile as usize;
    FLOCKS.lock().release(owner);
    RECORD_LOCKS.lock().release(Owner::Description(owner), None);
    UNLOCKED.wake_all();
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

pub fn sys_flock(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    const LOCK_SH: u64 = 1;
    const LOCK_EX: u64 = 2;
    const LOCK_NB: u64 = 4;
    const LOCK_UN: u64 = 8;
    const LOCK_MAND: u64 = 32;
    let file = ctx.task.fds().get(fd_arg(args[0]))?.clone();
    if *file.flags.lock() & O_PATH != 0 {
        return Err(EBADF);
    }
    if args[1] & LOCK_MAND != 0 {
        return Ok(0); // Linux ignores the obsolete mandatory locks too
    }
    let shared = match args[1] & !LOCK_NB {
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
        if args[1] & LOCK_NB != 0 {
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
    loop {
        match RECORD_LOCKS.lock().lock(id, wanted) {
            Ok(()) => return Ok(0),
            Err(e) if matches!(cmd, F_SETLK | F_OFD_SETLK) => return Err(e),
            Err(_) => {}
        }
        wait_for_unlock(ctx)?;
    }
}
