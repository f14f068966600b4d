//! Linux native asynchronous I/O (fs/aio.c): io_setup, io_destroy,
//! io_submit, io_getevents, io_pgetevents, io_cancel.
//!
//! A context is a completion queue owned by an address space; its id is
//! the address of a ring mapped into the process, as on Linux (libaio
//! reads the ring's header). The ring's magic is left zero, so libaio
//! always asks the kernel for events instead of reading them from the ring
//! itself. Requests run to completion inside io_submit (as Linux does for
//! buffered files): a read or write of a pipe or socket waits there unless
//! the request says RWF_NOWAIT, which completes with -EAGAIN instead.
//! Nothing is ever in flight, so io_cancel finds nothing to cancel.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::{Arc, Weak};

use spin::Mutex;

use super::SyscallContext;
use crate::sentry::errno::*;
use crate::sentry::fd::{OpenFile, POLLIN, POLLOUT};
use crate::sentry::mm::usermem::UserPtr;
use crate::sentry::mm::{AddressSpace, Protection, VmFlags};
use crate::sentry::wait::WaitQueue;

/// /proc/sys/fs/aio-max-nr: the events all contexts together may hold.
pub const AIO_MAX_NR: u64 = 65536;

const IOCB_CMD_PREAD: u16 = 0;
const IOCB_CMD_PWRITE: u16 = 1;
const IOCB_CMD_FSYNC: u16 = 2;
const IOCB_CMD_FDSYNC: u16 = 3;
const IOCB_CMD_NOOP: u16 = 6;
const IOCB_CMD_PREADV: u16 = 7;
const IOCB_CMD_PWRITEV: u16 = 8;

/// iocb.aio_flags: signal the eventfd in aio_resfd on completion.
const IOCB_FLAG_RESFD: u32 = 1;
const IOCB_FLAG_IOPRIO: u32 = 2;
/// aio_rw_flags (RWF_*): what preadv2/pwritev2 accept.
const RWF_HIPRI: i32 = 1;
const RWF_DSYNC: i32 = 2;
const RWF_SYNC: i32 = 4;
const RWF_NOWAIT: i32 = 8;
const RWF_APPEND: i32 = 16;

/// struct io_event.
#[derive(Clone, Copy, Default, zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::Immutable)]
#[repr(C)]
struct IoEvent {
    data: u64,
    obj: u64,
    res: i64,
    res2: i64,
}

/// struct iocb (little-endian layout).
#[derive(Clone, Copy, Default, zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::Immutable)]
#[repr(C)]
pub struct Iocb {
    data: u64,
    key: u32,
    rw_flags: i32,
    opcode: u16,
    reqprio: i16,
    fildes: u32,
    buf: u64,
    nbytes: u64,
    offset: i64,
    reserved2: u64,
    flags: u32,
    resfd: u32,
}

/// struct aio_ring's header, at the context's address.
#[derive(Clone, Copy, Default, zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::Immutable)]
#[repr(C)]
struct RingHeader {
    id: u32,
    nr: u32,
    head: u32,
    tail: u32,
    magic: u32,
    compat_features: u32,
    incompat_features: u32,
    header_length: u32,
}

struct Context {
    /// The address space it belongs to (a Weak keeps the allocation, so
    /// the key below cannot be reused while this entry exists).
    owner: Weak<Mutex<AddressSpace>>,
    /// Events it may hold (io_setup's nr_events, as rounded up).
    capacity: usize,
    /// The ring mapping's length (unmapped by io_destroy).
    ring_len: u64,
    completed: Mutex<VecDeque<IoEvent>>,
    waiters: WaitQueue,
}

/// Every context, by (address space, id).
static CONTEXTS: Mutex<BTreeMap<(usize, u64), Arc<Context>>> = Mutex::new(BTreeMap::new());

fn space_key(ctx: &SyscallContext) -> usize {
    Arc::as_ptr(&ctx.task.memory) as usize
}

/// The caller's context `id` (EINVAL for anything else).
fn context(ctx: &SyscallContext, id: u64) -> Result<Arc<Context>, Errno> {
    CONTEXTS
        .lock()
        .get(&(space_key(ctx), id))
        .filter(|c| c.owner.strong_count() > 0)
        .cloned()
        .ok_or(EINVAL)
}

/// Events reserved by all live contexts.
fn reserved_events(contexts: &mut BTreeMap<(usize, u64), Arc<Context>>) -> u64 {
    // Contexts of address spaces that are gone (exec, exit) go now.
    contexts.retain(|_, c| c.owner.strong_count() > 0);
    contexts.values().map(|c| c.capacity as u64).sum()
}

pub fn sys_io_setup(ctx: &mut SyscallContext, nr_events: u32, ctxp: UserPtr<u64>) -> SysResult {
    let current: u64 = ctxp.read(&mut ctx.task.mm())?;
    if current != 0 || nr_events == 0 || (nr_events as i32) < 0 {
        return Err(EINVAL);
    }
    // Linux reserves at least twice the CPUs' worth of events more.
    let capacity = (nr_events as u64).max(4);
    let ring_len = ((core::mem::size_of::<RingHeader>() as u64
        + capacity * core::mem::size_of::<IoEvent>() as u64)
        .div_ceil(4096))
        * 4096;
    let mut contexts = CONTEXTS.lock();
    if nr_events as u64 > AIO_MAX_NR || reserved_events(&mut contexts) + capacity > AIO_MAX_NR {
        return Err(EAGAIN);
    }
    let id = ctx.task.mm().mmap(
        0,
        ring_len,
        Protection::from_prot(1 | 2).ok_or(EINVAL)?,
        false,
        false,
        false,
        None,
        // Linux's ring is VM_DONTCOPY: a fork child has no contexts.
        VmFlags::DONTFORK,
        false,
    )?;
    let header = RingHeader {
        nr: capacity as u32,
        header_length: core::mem::size_of::<RingHeader>() as u32,
        compat_features: 1,
        ..RingHeader::default()
    };
    let written = {
        let mut mm = ctx.task.mm();
        UserPtr::new(id)
            .write(&mut mm, &header)
            .and_then(|_| ctxp.write(&mut mm, &id))
    };
    if let Err(e) = written {
        let _ = ctx.task.mm().unmap(id, id + ring_len);
        return Err(e);
    }
    contexts.insert(
        (space_key(ctx), id),
        Arc::new(Context {
            owner: Arc::downgrade(&ctx.task.memory),
            capacity: capacity as usize,
            ring_len,
            completed: Mutex::new(VecDeque::new()),
            waiters: WaitQueue::new(),
        }),
    );
    Ok(0)
}

pub fn sys_io_destroy(ctx: &mut SyscallContext, id: u64) -> SysResult {
    let context = CONTEXTS
        .lock()
        .remove(&(space_key(ctx), id))
        .ok_or(EINVAL)?;
    // Waiters in io_getevents see the context gone.
    context.waiters.wake_all();
    let _ = ctx.task.mm().unmap(id, id + context.ring_len);
    Ok(0)
}

/// Runs one request; the completion's (res, res2), or the error that
/// refuses the request itself (io_submit's errno).
fn run(ctx: &mut SyscallContext, cb: &Iocb) -> Result<i64, Errno> {
    let file = ctx.task.fds().get(cb.fildes as i32)?.clone();
    let known_rw = RWF_HIPRI | RWF_DSYNC | RWF_SYNC | RWF_NOWAIT | RWF_APPEND;
    if cb.rw_flags & !known_rw != 0 {
        return Err(EOPNOTSUPP);
    }
    let offset = || -> Result<Option<u64>, Errno> {
        if !file.file.seekable() {
            return Ok(None);
        }
        if cb.offset < 0 {
            return Err(EINVAL);
        }
        Ok(Some(cb.offset as u64))
    };
    let outcome = match cb.opcode {
        IOCB_CMD_PREAD | IOCB_CMD_PREADV => {
            if !file.readable() {
                return Err(EBADF);
            }
            let offset = offset()?;
            if would_block(&file, cb, POLLIN) {
                return Ok(-(EAGAIN.0 as i64));
            }
            if cb.opcode == IOCB_CMD_PREAD {
                super::read_write::read_to_user(ctx, &file, cb.buf, cb.nbytes, offset)
            } else {
                vectored(ctx, &file, cb, offset, false)
            }
        }
        IOCB_CMD_PWRITE | IOCB_CMD_PWRITEV => {
            if !file.writable() {
                return Err(EBADF);
            }
            let offset = offset()?;
            if would_block(&file, cb, POLLOUT) {
                return Ok(-(EAGAIN.0 as i64));
            }
            if cb.opcode == IOCB_CMD_PWRITE {
                super::read_write::write_from_user(ctx, &file, cb.buf, cb.nbytes, offset)
            } else {
                vectored(ctx, &file, cb, offset, true)
            }
        }
        IOCB_CMD_FSYNC | IOCB_CMD_FDSYNC => {
            if cb.buf != 0 || cb.nbytes != 0 || cb.offset != 0 || cb.rw_flags != 0 {
                return Err(EINVAL);
            }
            file.file.sync().map(|_| 0)
        }
        IOCB_CMD_NOOP => Ok(0),
        // IOCB_CMD_POLL (5) and anything newer.
        _ => return Err(EINVAL),
    };
    Ok(match outcome {
        Ok(n) => n as i64,
        Err(e) => -(e.0 as i64),
    })
}

/// RWF_NOWAIT on a stream that has nothing for it now.
fn would_block(file: &Arc<OpenFile>, cb: &Iocb, event: i16) -> bool {
    cb.rw_flags & RWF_NOWAIT != 0 && !file.file.seekable() && file.file.poll(event) & event == 0
}

/// PREADV / PWRITEV: `buf` is an iovec array of `nbytes` entries.
fn vectored(
    ctx: &mut SyscallContext,
    file: &Arc<OpenFile>,
    cb: &Iocb,
    offset: Option<u64>,
    write: bool,
) -> Result<u64, Errno> {
    let iovecs = super::read_write::read_iovecs(ctx, cb.buf, cb.nbytes)?;
    let mut total = 0u64;
    for (base, len) in iovecs {
        let at = offset.map(|o| o + total);
        let n = if write {
            super::read_write::write_from_user(ctx, file, base, len, at)
        } else {
            super::read_write::read_to_user(ctx, file, base, len, at)
        };
        match n {
            Ok(n) => {
                total += n;
                if n < len {
                    break;
                }
            }
            Err(e) if total == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(total)
}

pub fn sys_io_submit(ctx: &mut SyscallContext, id: u64, nr: i64, iocbpp: u64) -> SysResult {
    if nr < 0 {
        return Err(EINVAL);
    }
    let context = context(ctx, id)?;
    let mut submitted = 0u64;
    for i in 0..nr as u64 {
        let result = submit_one(ctx, &context, iocbpp + i * 8);
        match result {
            Ok(()) => submitted += 1,
            Err(e) if submitted == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(submitted)
}

fn submit_one(ctx: &mut SyscallContext, context: &Arc<Context>, slot: u64) -> Result<(), Errno> {
    let addr: u64 = UserPtr::<u64>::new(slot).read(&mut ctx.task.mm())?;
    let cb: Iocb = UserPtr::<Iocb>::new(addr).read(&mut ctx.task.mm())?;
    if cb.reserved2 != 0 || cb.flags & !(IOCB_FLAG_RESFD | IOCB_FLAG_IOPRIO) != 0 {
        return Err(EINVAL);
    }
    // The completion needs room (Linux: EAGAIN when the ring is full).
    if context.completed.lock().len() >= context.capacity {
        return Err(EAGAIN);
    }
    let resfd = if cb.flags & IOCB_FLAG_RESFD != 0 {
        let file = ctx.task.fds().get(cb.resfd as i32)?.clone();
        if file.file.as_eventfd().is_none() {
            return Err(EINVAL);
        }
        Some(file)
    } else {
        None
    };
    let res = run(ctx, &cb)?;
    context.completed.lock().push_back(IoEvent {
        data: cb.data,
        obj: addr,
        res,
        res2: 0,
    });
    context.waiters.wake_all();
    if let Some(eventfd) = resfd {
        // A full counter drops the count, as Linux's eventfd_signal does.
        let _ = eventfd.file.write(&1u64.to_le_bytes(), 0);
    }
    Ok(())
}

/// Takes up to `nr` events, waiting until `min_nr` are there, `deadline`
/// passes, or a signal comes (EINTR when nothing was taken).
fn get_events(
    ctx: &mut SyscallContext,
    id: u64,
    min_nr: i64,
    nr: i64,
    events: u64,
    deadline: u64,
) -> SysResult {
    if min_nr < 0 || nr < 0 || min_nr > nr {
        return Err(EINVAL);
    }
    let context = context(ctx, id)?;
    let mut taken = 0u64;
    loop {
        while (taken as i64) < nr {
            let Some(event) = context.completed.lock().pop_front() else {
                break;
            };
            let at = events + taken * core::mem::size_of::<IoEvent>() as u64;
            if let Err(e) = UserPtr::new(at).write(&mut ctx.task.mm(), &event) {
                // Not delivered: it stays first in line.
                context.completed.lock().push_front(event);
                return if taken == 0 { Err(e) } else { Ok(taken) };
            }
            taken += 1;
        }
        if taken as i64 >= min_nr || context.owner.strong_count() == 0 {
            return Ok(taken);
        }
        if !CONTEXTS.lock().contains_key(&(space_key(ctx), id)) {
            // Destroyed meanwhile.
            return Ok(taken);
        }
        let now = crate::sentry::time::monotonic_ns();
        if now >= deadline {
            return Ok(taken);
        }
        match crate::sentry::signal::wait(&mut ctx.task, &[&context.waiters], deadline, false) {
            Ok(_) => {}
            Err(e) if taken == 0 => return Err(e),
            Err(_) => return Ok(taken),
        }
    }
}

/// The absolute deadline of a relative timespec (0: none).
fn deadline_of(ctx: &mut SyscallContext, timeout: u64) -> Result<u64, Errno> {
    if timeout == 0 {
        return Ok(u64::MAX);
    }
    let ns = super::time::read_timespec(ctx, timeout)?;
    Ok(crate::sentry::time::monotonic_ns().saturating_add(ns))
}

pub fn sys_io_getevents(
    ctx: &mut SyscallContext,
    id: u64,
    min_nr: i64,
    nr: i64,
    events: u64,
    timeout: u64,
) -> SysResult {
    let deadline = deadline_of(ctx, timeout)?;
    get_events(ctx, id, min_nr, nr, events, deadline)
}

/// io_pgetevents: io_getevents with a signal mask in force while it waits
/// (`usig`: struct { const sigset_t *sigmask; size_t sigsetsize; }).
pub fn sys_io_pgetevents(
    ctx: &mut SyscallContext,
    id: u64,
    min_nr: i64,
    nr: i64,
    events: u64,
    timeout: u64,
    usig: UserPtr<[u64; 2]>,
) -> SysResult {
    let deadline = deadline_of(ctx, timeout)?;
    let [sigmask, size] = if usig.is_null() {
        [0, 0]
    } else {
        usig.read(&mut ctx.task.mm())?
    };
    super::poll::with_wait_mask(ctx, sigmask, size, |ctx| {
        get_events(ctx, id, min_nr, nr, events, deadline)
    })
}

/// Requests complete inside io_submit, so none can be cancelled: EINVAL
/// for one that is not in flight, as Linux answers (after reading the
/// iocb's key: EFAULT, and finding the context: EINVAL).
pub fn sys_io_cancel(ctx: &mut SyscallContext, id: u64, iocb: UserPtr<Iocb>) -> SysResult {
    iocb.read(&mut ctx.task.mm())?;
    context(ctx, id)?;
    Err(EINVAL)
}

/// The contexts of every address space, for /proc/sys/fs/aio-nr.
pub fn events_reserved() -> u64 {
    reserved_events(&mut CONTEXTS.lock())
}
