//! Namespaces and unsharing: unshare, setns, the namespace flags of clone
//! (`copy_namespaces`), and the nsfs ioctls (NS_GET_*). The namespaces
//! themselves are `sentry::ns`.

use alloc::sync::Arc;

use spin::Mutex;

use super::SyscallContext;
use crate::sentry::errno::*;
use crate::sentry::fd::O_PATH;
use crate::sentry::ipc::IpcNs;
use crate::sentry::mm::usermem::UserPtr;
use crate::sentry::ns::*;
use crate::sentry::sched;
use crate::sentry::task::Task;

const CLONE_VM: u64 = 0x100;
const CLONE_FS: u64 = 0x200;
const CLONE_FILES: u64 = 0x400;
const CLONE_SIGHAND: u64 = 0x800;
const CLONE_THREAD: u64 = 0x10000;
const CLONE_SYSVSEM: u64 = 0x40000;

const CAP_SYS_CHROOT: u32 = 18;
const CAP_SYS_ADMIN: u32 = 21;

/// The namespaces a child of `task` gets for clone's `flags`: its own, or
/// new ones for CLONE_NEWNS, CLONE_NEWUTS and CLONE_NEWIPC (with
/// CAP_SYS_ADMIN, else EPERM); CLONE_NEWTIME makes a new time namespace
/// for the children (a copy of the current one for children: the offsets
/// are inherited), which a new process then enters (`time_on_fork`). The kinds the sandbox has one of are
/// EINVAL, as Linux answers without them (a new user namespace before the
/// capability check, the others after it).
pub fn copy_namespaces(task: &Task, flags: u64) -> Result<NsSet, Errno> {
    let mut set = task.ns_set();
    if flags & CLONE_NEWUSER != 0 {
        return Err(EINVAL);
    }
    if flags & CLONE_NEW_ANY == 0 {
        return Ok(set);
    }
    if !task.creds.has_cap(CAP_SYS_ADMIN) {
        return Err(EPERM);
    }
    if flags & CLONE_NEW_ANY & !CLONE_NEW_SUPPORTED != 0 {
        return Err(EINVAL);
    }
    if flags & CLONE_NEWNS != 0 {
        set.mnt = Arc::new(set.mnt.copy()?);
    }
    if flags & CLONE_NEWUTS != 0 {
        set.uts = set.uts.copy()?;
    }
    if flags & CLONE_NEWIPC != 0 {
        set.ipc = IpcNs::create()?;
    }
    if flags & CLONE_NEWTIME != 0 {
        set.time_for_children = set.time_for_children.copy()?;
    }
    Ok(set)
}

/// A new process enters its time namespace for children, unless it
/// shares its creator's memory (CLONE_VM: a vfork child enters it at
/// exec), as Linux's copy_namespaces and timens_on_fork. Returns the
/// namespace when it is a new one for the child (whose vDSO must then be
/// told the namespace's offsets).
pub fn time_on_fork(set: &mut NsSet, flags: u64) -> Option<Arc<TimeNs>> {
    if flags & CLONE_VM != 0 || Arc::ptr_eq(&set.time, &set.time_for_children) {
        return None;
    }
    set.time = set.time_for_children.clone();
    set.time.offsets.freeze();
    Some(set.time.clone())
}

/// exec: the process enters its time namespace for children (Linux's
/// exec_task_namespaces; it has a new address space of its own now), and
/// the new image's vDSO reads the clocks of the namespace it is in.
pub fn time_on_exec(ctx: &mut SyscallContext) {
    if !Arc::ptr_eq(&ctx.task.time_ns, &ctx.task.time_ns_for_children) {
        let mut set = ctx.task.ns_set();
        set.time = set.time_for_children.clone();
        set.time.offsets.freeze();
        switch_namespaces(ctx, set);
    }
    let offsets = ctx.task.time_ns.offsets.get();
    if !offsets.is_zero() {
        // The new image's vvar page was written at load (without
        // offsets) and is the image's alone (present, shared with no
        // one): it is rewritten in place, which cannot fail.
        let _ = crate::sentry::exec::set_vdso_time_offsets(&mut ctx.task.mm(), &offsets);
    }
}

/// Makes `set` the running task's namespaces.
fn switch_namespaces(ctx: &mut SyscallContext, set: NsSet) {
    let task = &mut *ctx.task;
    task.namespace = set.mnt.clone();
    task.uts_ns = set.uts.clone();
    task.ipc_ns = set.ipc.clone();
    task.time_ns = set.time.clone();
    task.time_ns_for_children = set.time_for_children.clone();
    ctx.task.cell().set_namespaces(set);
}

/// Whether a descriptor table of `open_files` slots (the highest open
/// descriptor, rounded up to 64) fits under fs.nr_open: Linux's dup_fd
/// (fork, unshare(CLONE_FILES)) fails with EMFILE when it does not.
pub fn table_fits(highest_fd: Option<usize>) -> bool {
    let Some(highest) = highest_fd else {
        return true;
    };
    let open_files = (highest / 64 + 1) * 64;
    let nr_open = crate::sentry::fd::nr_open() as usize;
    open_files <= 64 || ((nr_open - 1) | 63) + 1 >= open_files
}

pub fn sys_unshare(ctx: &mut SyscallContext, mut flags: u64) -> SysResult {
    // What each kind of unsharing implies (Linux's ksys_unshare).
    if flags & CLONE_NEWUSER != 0 {
        flags |= CLONE_THREAD | CLONE_FS;
    }
    if flags & CLONE_VM != 0 {
        flags |= CLONE_SIGHAND;
    }
    if flags & CLONE_SIGHAND != 0 {
        flags |= CLONE_THREAD;
    }
    if flags & CLONE_NEWNS != 0 {
        flags |= CLONE_FS;
    }
    let known = CLONE_THREAD
        | CLONE_FS
        | CLONE_SIGHAND
        | CLONE_VM
        | CLONE_FILES
        | CLONE_SYSVSEM
        | CLONE_NEW_ANY;
    if flags & !known != 0 {
        return Err(EINVAL);
    }
    let task = &mut *ctx.task;
    // A thread group, shared handlers or a shared address space cannot be
    // split (Linux pretends success only when there is nothing to split).
    if flags & (CLONE_THREAD | CLONE_SIGHAND | CLONE_VM) != 0
        && sched::has_other_threads(task.pid, task.tid)
    {
        return Err(EINVAL);
    }
    if flags & (CLONE_SIGHAND | CLONE_VM) != 0 && task.signals.actions_shared() {
        return Err(EINVAL);
    }
    if flags & CLONE_VM != 0 {
        let memory = task.memory.clone();
        if sched::others_any(|t| Arc::ptr_eq(&t.memory, &memory)) {
            return Err(EINVAL);
        }
    }
    // The filesystem context and descriptor table are copied only when
    // another task shares them (a copy of an unshared one would change
    // nothing).
    let cwd = task.cwd.clone();
    let new_fs =
        (flags & CLONE_FS != 0 && sched::others_any(|t| Arc::ptr_eq(&t.cwd, &cwd))).then(|| {
            (
                Arc::new(Mutex::new(task.cwd())),
                Arc::new(Mutex::new(task.root.lock().clone())),
            )
        });
    let files = task.files.clone();
    let new_files =
        if flags & CLONE_FILES != 0 && sched::others_any(|t| Arc::ptr_eq(&t.files, &files)) {
            let table = task.fds().clone();
            if !table_fits(table.highest()) {
                return Err(EMFILE);
            }
            Some(Arc::new(Mutex::new(table)))
        } else {
            None
        };
    let set = copy_namespaces(task, flags)?;
    // Leaving the IPC namespace (or the undo list) applies the process's
    // semaphore adjustments, as exit does.
    if flags & (CLONE_NEWIPC | CLONE_SYSVSEM) != 0 {
        crate::sentry::ipc::exit_process(task.pid, &task.ipc_ns);
    }
    let leader = task.tid == task.pid;
    if let Some((cwd, root)) = new_fs {
        if leader {
            *task.process.view.cwd.lock() = cwd.clone();
            *task.process.view.root.lock() = root.clone();
        }
        task.cwd = cwd;
        task.root = root;
    }
    if let Some(files) = new_files {
        if leader {
            *task.process.view.fds.lock() = files.clone();
        }
        task.files = files;
    }
    switch_namespaces(ctx, set);
    Ok(0)
}

/// The namespace kinds setns may be given through a pidfd (the kinds
/// /proc/<pid>/ns shows; the others are EINVAL, as on a Linux without
/// them).
fn check_setns_flags(flags: u64) -> Result<(), Errno> {
    if flags == 0 || flags & !CLONE_NEW_ANY != 0 || flags & CLONE_NEWCGROUP != 0 {
        return Err(EINVAL);
    }
    Ok(())
}

/// Linux's `install` of each kind: whether the running task may enter
/// `ns` (CAP_SYS_ADMIN; for a mount namespace CAP_SYS_CHROOT and a
/// filesystem context of its own too; for a time namespace an address
/// space of its own, EUSERS otherwise, as its vDSO's clocks change).
fn may_enter(ctx: &SyscallContext, ns: &NsRef) -> Result<(), Errno> {
    let task = &*ctx.task;
    if let NsRef::User = ns {
        // Its own user namespace: entering it again would grant
        // capabilities.
        return Err(EINVAL);
    }
    if let NsRef::Time(_) = ns {
        let memory = task.memory.clone();
        if sched::has_other_threads(task.pid, task.tid)
            || sched::others_any(|t| Arc::ptr_eq(&t.memory, &memory))
        {
            return Err(EUSERS);
        }
    }
    if !task.creds.has_cap(CAP_SYS_ADMIN) {
        return Err(EPERM);
    }
    if let NsRef::Mnt(_) = ns {
        if !task.creds.has_cap(CAP_SYS_CHROOT) {
            return Err(EPERM);
        }
        let cwd = task.cwd.clone();
        if sched::others_any(|t| Arc::ptr_eq(&t.cwd, &cwd)) {
            return Err(EINVAL);
        }
    }
    Ok(())
}

/// Enters the namespaces in `targets` (all checked already).
fn enter(ctx: &mut SyscallContext, targets: &[NsRef]) -> Result<(), Errno> {
    let mut set = ctx.task.ns_set();
    // A time namespace first: telling the vDSO its offsets may need a
    // page (ENOMEM), and nothing else has changed yet if it fails.
    for ns in targets {
        if let NsRef::Time(time) = ns {
            // Both the task and its future children (Linux's
            // timens_install), its offsets frozen from now on.
            time.offsets.freeze();
            let offsets = time.offsets.get();
            crate::sentry::exec::set_vdso_time_offsets(&mut ctx.task.mm(), &offsets)?;
            set.time = time.clone();
            set.time_for_children = time.clone();
        }
    }
    for ns in targets {
        match ns {
            NsRef::Mnt(mnt) => {
                // Root and working directory become the namespace's root.
                set.mnt = mnt.clone();
                *ctx.task.root.lock() = None;
                *ctx.task.cwd.lock() = mnt.root_stack();
            }
            NsRef::Uts(uts) => set.uts = uts.clone(),
            NsRef::Ipc(ipc) => {
                crate::sentry::ipc::exit_process(ctx.task.pid, &ctx.task.ipc_ns);
                set.ipc = ipc.clone();
            }
            // Entered above.
            NsRef::Time(_) => {}
            // The only ones there are: the task is in them already.
            NsRef::Net | NsRef::Pid | NsRef::User => {}
        }
    }
    switch_namespaces(ctx, set);
    Ok(())
}

pub fn sys_setns(ctx: &mut SyscallContext, fd: i32, nstype: u64) -> SysResult {
    let (fd, flags) = (fd, nstype & 0xffff_ffff);
    let file = ctx.task.fds().get(fd)?.clone();
    if *file.flags.lock() & O_PATH != 0 {
        return Err(EBADF);
    }
    if let Some(nsfile) = file.file.as_ns() {
        let ns = nsfile.ns.clone();
        if flags != 0 && flags != ns.clone_flag() {
            return Err(EINVAL);
        }
        may_enter(ctx, &ns)?;
        enter(ctx, &[ns])?;
        return Ok(0);
    }
    let Some(pidfd) = file.file.as_pidfd() else {
        return Err(EINVAL);
    };
    check_setns_flags(flags)?;
    // All of the process's namespaces that `flags` names, or none.
    let theirs = sched::thread_namespaces(pidfd.pid).ok_or(ESRCH)?;
    let mut targets = alloc::vec::Vec::new();
    for kind in [
        NsKind::User,
        NsKind::Mnt,
        NsKind::Uts,
        NsKind::Ipc,
        NsKind::Pid,
        NsKind::Net,
        NsKind::Time,
    ] {
        let ns = theirs.get(kind);
        if flags & ns.clone_flag() == 0 {
            continue;
        }
        may_enter(ctx, &ns)?;
        targets.push(ns);
    }
    enter(ctx, &targets)?;
    Ok(0)
}

const NS_GET_USERNS: u64 = 0xb701;
const NS_GET_PARENT: u64 = 0xb702;
const NS_GET_NSTYPE: u64 = 0xb703;
const NS_GET_OWNER_UID: u64 = 0xb704;

/// A new descriptor (close-on-exec) for namespace `ns`.
pub fn open_ns(ctx: &mut SyscallContext, ns: NsRef) -> SysResult {
    Ok(ctx.task.fds().insert(NsFile::open(ns), true, 0)? as u64)
}

/// The nsfs ioctls. There is one user namespace (owned by nobody: its
/// owner and parent are outside every caller's reach, EPERM) and one pid
/// namespace (no parent); only those two kinds have parents at all.
pub fn ns_ioctl(ctx: &mut SyscallContext, ns: &NsRef, request: u64, arg: u64) -> SysResult {
    match request {
        NS_GET_USERNS => match ns {
            NsRef::User => Err(EPERM),
            _ => open_ns(ctx, NsRef::User),
        },
        NS_GET_PARENT => match ns {
            NsRef::User | NsRef::Pid => Err(EPERM),
            _ => Err(EINVAL),
        },
        NS_GET_NSTYPE => Ok(ns.clone_flag()),
        NS_GET_OWNER_UID => match ns {
            // The initial user namespace belongs to root.
            NsRef::User => {
                UserPtr::<u32>::new(arg).write(&mut ctx.task.mm(), &0)?;
                Ok(0)
            }
            _ => Err(EINVAL),
        },
        _ => Err(ENOTTY),
    }
}
