//! kcmp: whether two tasks share a kernel object (an open file, the
//! address space, the descriptor table, the filesystem context, the signal
//! handlers...). Objects are compared by identity, the address of the
//! sentry's shared object (the `Arc` the tasks hold), obfuscated per type
//! as Linux's kptr_obfuscate does so that the order shows nothing of the
//! sentry's heap: 0 equal, 1 less, 2 greater.

use alloc::sync::Arc;

use super::SyscallContext;
use crate::sentry::errno::*;
use crate::sentry::mm::usermem::UserPtr;
use crate::sentry::sched;
use crate::sentry::task::Task;

const KCMP_FILE: u64 = 0;
const KCMP_VM: u64 = 1;
const KCMP_FILES: u64 = 2;
const KCMP_FS: u64 = 3;
const KCMP_SIGHAND: u64 = 4;
const KCMP_IO: u64 = 5;
const KCMP_SYSVSEM: u64 = 6;
const KCMP_EPOLL_TFD: u64 = 7;
const KCMP_TYPES: usize = 8;

/// CAP_SYS_PTRACE: inspecting a task of other credentials.
const CAP_SYS_PTRACE: u64 = 1 << 19;

/// Linux's SUID_DUMP_USER: a dumpable process.
const SUID_DUMP_USER: u64 = 1;

/// `struct kcmp_epoll_slot`: the epoll descriptor, the target descriptor
/// and which of the registrations of that descriptor (toff).
#[derive(Clone, Copy, Default, zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::Immutable)]
#[repr(C)]
struct EpollSlot {
    efd: u32,
    tfd: u32,
    toff: u32,
}

/// What kcmp looks up in a task, besides its objects' identities.
#[derive(Clone, Copy)]
enum Want {
    Nothing,
    /// The open file at a descriptor (KCMP_FILE, KCMP_EPOLL_TFD's first).
    File(i32),
    /// The file registered in an epoll instance (KCMP_EPOLL_TFD's second).
    EpollTarget(EpollSlot),
}

/// The identities of one task's objects (addresses), its credentials for
/// the ptrace access check, and the file asked for.
struct Seen {
    process: usize,
    landlock: Option<Arc<crate::sentry::landlock::Domain>>,
    uids: [u32; 3],
    gids: [u32; 3],
    dumpable: u64,
    vm: usize,
    files: usize,
    fs: usize,
    sighand: usize,
    /// The SysV semaphore undo list (its number), None before any
    /// SEM_UNDO or CLONE_SYSVSEM.
    sysvsem: Option<usize>,
    file: Result<usize, Errno>,
}

fn address<T: ?Sized>(arc: &Arc<T>) -> usize {
    Arc::as_ptr(arc) as *const () as usize
}

fn look_at(task: &Task, want: Want) -> Seen {
    let file = match want {
        Want::Nothing => Err(EBADF),
        // Never wait on another task's table from inside a syscall (as
        // pidfd_getfd): a table held across a switch is a busy moment.
        Want::File(fd) => match task.files.try_lock() {
            Some(fds) => fds.get(fd).map(address).map_err(|_| EBADF),
            None => Err(EAGAIN),
        },
        Want::EpollTarget(slot) => epoll_target(task, slot),
    };
    Seen {
        process: address(&task.process),
        landlock: task.creds.landlock.clone(),
        uids: task.creds.user,
        gids: task.creds.group,
        dumpable: task.dumpable,
        vm: address(&task.memory),
        files: address(&task.files),
        fs: address(&task.cwd),
        sighand: address(&task.signals.actions),
        sysvsem: crate::sentry::ipc::undo_list(task.pid, false).map(|list| list as usize),
        file,
    }
}

/// Linux's get_epoll_tfile_raw_ptr: the file registered as `slot.tfd` in
/// the epoll instance at `slot.efd` (EBADF: no such descriptor; EINVAL: not
/// an epoll; ENOENT: not registered there). The sentry keeps one
/// registration per descriptor number, so only `toff` 0 can match.
fn epoll_target(task: &Task, slot: EpollSlot) -> Result<usize, Errno> {
    let epoll_file = {
        let fds = task.files.try_lock().ok_or(EAGAIN)?;
        fds.get(slot.efd as i32).map_err(|_| EBADF)?.clone()
    };
    let epoll = epoll_file.file.as_epoll().ok_or(EINVAL)?;
    let interests = epoll.interests.lock();
    let interest = interests.get(&(slot.tfd as i32)).ok_or(ENOENT)?;
    if slot.toff != 0 {
        return Err(ENOENT);
    }
    interest.file.upgrade().map(|f| address(&f)).ok_or(ENOENT)
}

/// Task `tid` (the caller's own, or another looked at in place).
fn look(ctx: &SyscallContext, tid: i32, want: Want) -> Result<Seen, Errno> {
    if tid <= 0 {
        return Err(ESRCH);
    }
    if tid == ctx.task.tid {
        return Ok(look_at(&ctx.task, want));
    }
    sched::inspect_thread(tid, |task| look_at(task, want)).ok_or(ESRCH)
}

/// Linux's ptrace_may_access(PTRACE_MODE_READ_REALCREDS): the caller's own
/// thread group always; otherwise the caller's real ids are all of the
/// target's and the target is dumpable, or the caller has CAP_SYS_PTRACE.
fn may_inspect(ctx: &SyscallContext, seen: &Seen) -> bool {
    if seen.process == address(&ctx.task.process) {
        return true;
    }
    if !crate::sentry::landlock::may_ptrace(
        ctx.task.creds.landlock.as_deref(),
        seen.landlock.as_deref(),
    ) {
        return false;
    }
    let privileged = ctx.task.creds.caps().effective & CAP_SYS_PTRACE != 0;
    let (uid, gid) = (ctx.task.creds.user[0], ctx.task.creds.group[0]);
    let same = seen.uids.iter().all(|&u| u == uid) && seen.gids.iter().all(|&g| g == gid);
    privileged || (same && seen.dumpable == SUID_DUMP_USER)
}

/// Per-type keys of the obfuscation (Linux's kptr_obfuscate): an xor and
/// an odd multiplier, chosen at random once.
fn obfuscate(value: usize, kind: u64) -> u64 {
    static COOKIES: spin::Once<[[u64; 2]; KCMP_TYPES]> = spin::Once::new();
    let cookies = COOKIES.call_once(|| {
        let mut bytes = [0u8; KCMP_TYPES * 16];
        crate::sentry::random::fill(&mut bytes);
        let mut out = [[0u64; 2]; KCMP_TYPES];
        for (i, pair) in out.iter_mut().enumerate() {
            let at = i * 16;
            pair[0] = u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
            pair[1] = u64::from_le_bytes(bytes[at + 8..at + 16].try_into().expect("8 bytes")) | 1;
        }
        out
    });
    let [xor, mul] = cookies[kind as usize];
    (value as u64 ^ xor).wrapping_mul(mul)
}

/// Linux's kcmp_ptr: 0 equal, 1 less, 2 greater.
fn order(a: usize, b: usize, kind: u64) -> u64 {
    let (a, b) = (obfuscate(a, kind), obfuscate(b, kind));
    (a < b) as u64 | (((a > b) as u64) << 1)
}

pub fn sys_kcmp(
    ctx: &mut SyscallContext,
    pid1: i32,
    pid2: i32,
    kind: u32,
    idx1: u64,
    idx2: u64,
) -> SysResult {
    let kind = kind as u64;
    let (want1, want2) = match kind {
        KCMP_FILE => (Want::File(idx1 as i32), Want::File(idx2 as i32)),
        KCMP_EPOLL_TFD => (Want::File(idx1 as i32), Want::Nothing),
        _ => (Want::Nothing, Want::Nothing),
    };
    // Both tasks must exist (ESRCH), then both be open to inspection
    // (EPERM), before the type is looked at (EINVAL), as on Linux.
    let first = look(ctx, pid1, want1);
    let second = look(ctx, pid2, want2);
    let (first, second) = (first?, second?);
    if !may_inspect(ctx, &first) || !may_inspect(ctx, &second) {
        return Err(EPERM);
    }
    let same = |a: usize, b: usize| Ok(order(a, b, kind));
    match kind {
        KCMP_FILE => match (first.file, second.file) {
            (Ok(a), Ok(b)) => same(a, b),
            (a, b) if a == Err(EAGAIN) || b == Err(EAGAIN) => Err(EAGAIN),
            _ => Err(EBADF),
        },
        KCMP_VM => same(first.vm, second.vm),
        KCMP_FILES => same(first.files, second.files),
        KCMP_FS => same(first.fs, second.fs),
        KCMP_SIGHAND => same(first.sighand, second.sighand),
        // The sentry keeps no I/O context (no block I/O scheduler), so
        // every task's is none, as a Linux task's is until it does block
        // I/O: two of them compare equal.
        KCMP_IO => Ok(0),
        KCMP_SYSVSEM => same(first.sysvsem.unwrap_or(0), second.sysvsem.unwrap_or(0)),
        KCMP_EPOLL_TFD => {
            let file = match first.file {
                Ok(file) => file,
                Err(e) if e == EAGAIN => return Err(EAGAIN),
                Err(_) => return Err(EBADF),
            };
            let slot: EpollSlot = UserPtr::new(idx2).read(&mut ctx.task.mm())?;
            let target = look(ctx, pid2, Want::EpollTarget(slot))?.file?;
            Ok(order(file, target, KCMP_FILE))
        }
        _ => Err(EINVAL),
    }
}
