//! Process syscalls: exit and exit_group, getpid/getppid/gettid,
//! set_tid_address and the robust list, arch_prctl, prctl, capget,
//! resource limits (getrlimit, setrlimit,
//! prlimit64), uname. Making and reaping processes is `spawn.rs`.

use crate::sentry::mm::usermem::UserPtr;
use alloc::vec::Vec;

use super::SyscallContext;
use crate::sentry::errno::*;
use crate::sentry::task::{RLimit, RLIMIT_NLIMITS};

pub fn sys_exit_group(ctx: &mut SyscallContext, status: u64) -> SysResult {
    crate::sentry::signal::exit_with(&mut ctx.task, status as u8);
    // (Another task runs next; this value is never seen.)
    Ok(0)
}

/// exit(2): the calling thread ends; the last thread's exit ends the
/// process, as exit_group does.
pub fn sys_exit(ctx: &mut SyscallContext, status: u64) -> SysResult {
    let task = &mut *ctx.task;
    if crate::sentry::sched::has_other_threads(task.pid, task.tid) {
        task.thread_exit = true;
        return Ok(0);
    }
    sys_exit_group(ctx, status)
}

pub fn sys_getpid(ctx: &mut SyscallContext) -> SysResult {
    Ok(ctx.task.pid as u64)
}

/// The first process's parent is outside the sandbox: 0, as for init.
pub fn sys_getppid(ctx: &mut SyscallContext) -> SysResult {
    Ok(ctx.task.ppid() as u64)
}

pub fn sys_gettid(ctx: &mut SyscallContext) -> SysResult {
    Ok(ctx.task.tid as u64)
}

pub fn sys_set_tid_address(ctx: &mut SyscallContext, tidptr: u64) -> SysResult {
    ctx.task.clear_child_tid = tidptr;
    Ok(ctx.task.tid as u64)
}

pub fn sys_set_robust_list(ctx: &mut SyscallContext, head: u64, len: u64) -> SysResult {
    // struct robust_list_head is 24 bytes on x86_64.
    if len != 24 {
        return Err(EINVAL);
    }
    ctx.task.robust_list = head;
    Ok(0)
}

#[cfg(target_arch = "x86_64")]
pub fn sys_arch_prctl(ctx: &mut SyscallContext, code: u64, addr: u64) -> SysResult {
    const ARCH_SET_GS: u64 = 0x1001;
    const ARCH_SET_FS: u64 = 0x1002;
    const ARCH_GET_FS: u64 = 0x1003;
    const ARCH_GET_GS: u64 = 0x1004;
    const ARCH_GET_CPUID: u64 = 0x1011;
    const ARCH_SET_CPUID: u64 = 0x1012;
    match code {
        ARCH_SET_FS | ARCH_SET_GS => {
            if addr >= crate::arch::TLS_BASE_LIMIT {
                return Err(EPERM);
            }
            if code == ARCH_SET_FS {
                crate::arch::cpu::set_fs_base(addr);
                ctx.task.fs_base = addr;
            } else {
                crate::arch::cpu::set_user_gs_base(addr);
                ctx.task.gs_base = addr;
            }
            Ok(0)
        }
        ARCH_GET_FS => {
            let value = ctx.task.fs_base;
            UserPtr::new(addr).write(&mut ctx.task.mm(), &value)?;
            Ok(0)
        }
        ARCH_GET_GS => {
            let value = ctx.task.gs_base;
            UserPtr::new(addr).write(&mut ctx.task.mm(), &value)?;
            Ok(0)
        }
        // Whether CPUID works in user mode (1) or faults (0).
        ARCH_GET_CPUID => Ok(!crate::arch::cpu::cpuid_faulting() as u64),
        // Without CPUID faulting in the CPU (or the host), ENODEV as Linux.
        ARCH_SET_CPUID => {
            if !crate::arch::cpu::cpuid_fault_supported() {
                return Err(ENODEV);
            }
            crate::arch::cpu::set_cpuid_faulting(addr == 0);
            Ok(0)
        }
        _ => Err(EINVAL),
    }
}

fn resource_index(resource: u64) -> Result<usize, Errno> {
    if resource as usize >= RLIMIT_NLIMITS {
        return Err(EINVAL);
    }
    Ok(resource as usize)
}

pub fn sys_prlimit64(
    ctx: &mut SyscallContext,
    pid: i32,
    resource: u64,
    new: u64,
    old: UserPtr<[u64; 2]>,
) -> SysResult {
    if pid != 0 && pid != ctx.task.pid {
        return Err(ESRCH);
    }
    let index = resource_index(resource)?;
    let current = ctx.task.rlimits[index];
    let replacement = if new != 0 {
        let [cur, max]: [u64; 2] = UserPtr::<[u64; 2]>::new(new).read(&mut ctx.task.mm())?;
        if cur > max {
            return Err(EINVAL);
        }
        // Raising a hard limit needs CAP_SYS_RESOURCE (root has it); the
        // fd limit stops at fs.nr_open for everyone, as on Linux.
        const CAP_SYS_RESOURCE: u32 = 24;
        if max > current.max && !ctx.task.creds.has_cap(CAP_SYS_RESOURCE) {
            return Err(EPERM);
        }
        if index == crate::sentry::task::RLIMIT_NOFILE && max > crate::sentry::fd::nr_open() {
            return Err(EPERM);
        }
        Some(RLimit { cur, max })
    } else {
        None
    };
    if !old.is_null() {
        old.write(&mut ctx.task.mm(), &[current.cur, current.max])?;
    }
    if let Some(limit) = replacement {
        ctx.task.rlimits[index] = limit;
        if index == crate::sentry::task::RLIMIT_NOFILE {
            ctx.task.fds().limit = limit.cur as usize;
        }
    }
    Ok(0)
}

pub fn sys_getrlimit(ctx: &mut SyscallContext, resource: u64, rlim: u64) -> SysResult {
    sys_prlimit64(ctx, 0, resource, 0, UserPtr::new(rlim))
}

pub fn sys_setrlimit(ctx: &mut SyscallContext, resource: u64, rlim: u64) -> SysResult {
    sys_prlimit64(ctx, 0, resource, rlim, UserPtr::new(0))
}

/// `struct utsname`: six 65-byte fields.
const UTS_FIELD: usize = 65;

/// uname: the host and domain names are the UTS namespace's ("rvisor",
/// or the OCI `hostname` given at boot, and "(none)" at first).
pub fn sys_uname(ctx: &mut SyscallContext, buf: u64) -> SysResult {
    let names = ctx.task.uts_ns.names.lock().clone();
    let fields: [&[u8]; 6] = [
        b"Linux",
        &names.hostname,
        crate::sentry::KERNEL_RELEASE.as_bytes(),
        b"#1 SMP rvisor",
        crate::arch::UNAME_MACHINE,
        &names.domainname,
    ];
    let mut uts = [0u8; UTS_FIELD * 6];
    for (i, field) in fields.iter().enumerate() {
        uts[i * UTS_FIELD..i * UTS_FIELD + field.len()].copy_from_slice(field);
    }
    ctx.task.mm().copy_to_user(buf, &uts)?;
    Ok(0)
}

/// sethostname and setdomainname: the names of the caller's UTS
/// namespace (the sandbox's own, never the host's). CAP_SYS_ADMIN.
fn set_uts_name(ctx: &mut SyscallContext, name_addr: u64, len: i32, host: bool) -> SysResult {
    const CAP_SYS_ADMIN: u32 = 21;
    if !ctx.task.creds.has_cap(CAP_SYS_ADMIN) {
        return Err(EPERM);
    }
    if len < 0 || len as usize > crate::sentry::ns::UTS_NAME_MAX {
        return Err(EINVAL);
    }
    let mut name = alloc::vec![0u8; len as usize];
    ctx.task.mm().copy_from_user(name_addr, &mut name)?;
    let mut names = ctx.task.uts_ns.names.lock();
    if host {
        names.hostname = name;
    } else {
        names.domainname = name;
    }
    Ok(0)
}

pub fn sys_sethostname(ctx: &mut SyscallContext, name: u64, len: i32) -> SysResult {
    set_uts_name(ctx, name, len, true)
}

pub fn sys_setdomainname(ctx: &mut SyscallContext, name: u64, len: i32) -> SysResult {
    set_uts_name(ctx, name, len, false)
}

pub fn sys_prctl(
    ctx: &mut SyscallContext,
    option: u64,
    arg2: u64,
    arg3: u64,
    arg4: u64,
    arg5: u64,
) -> SysResult {
    const PR_SET_PDEATHSIG: u64 = 1;
    const PR_GET_PDEATHSIG: u64 = 2;
    const PR_GET_DUMPABLE: u64 = 3;
    const PR_SET_DUMPABLE: u64 = 4;
    const PR_GET_KEEPCAPS: u64 = 7;
    const PR_SET_KEEPCAPS: u64 = 8;
    const PR_SET_TIMERSLACK: u64 = 29;
    const PR_GET_TIMERSLACK: u64 = 30;
    const PR_SET_NAME: u64 = 15;
    const PR_GET_NAME: u64 = 16;
    const PR_CAPBSET_READ: u64 = 23;
    const PR_CAPBSET_DROP: u64 = 24;
    const PR_GET_SECUREBITS: u64 = 27;
    const PR_SET_SECUREBITS: u64 = 28;
    const PR_CAP_AMBIENT: u64 = 47;
    const PR_CAP_AMBIENT_IS_SET: u64 = 1;
    const PR_CAP_AMBIENT_RAISE: u64 = 2;
    const PR_CAP_AMBIENT_LOWER: u64 = 3;
    const PR_CAP_AMBIENT_CLEAR_ALL: u64 = 4;
    use super::system::{
        SECURE_ALL_BITS, SECURE_ALL_LOCKS, SECURE_KEEP_CAPS, SECURE_KEEP_CAPS_LOCKED,
        SECURE_NO_CAP_AMBIENT_RAISE,
    };
    const PR_SET_CHILD_SUBREAPER: u64 = 36;
    const PR_GET_CHILD_SUBREAPER: u64 = 37;
    const PR_GET_SECCOMP: u64 = 21;
    const PR_SET_SECCOMP: u64 = 22;
    const PR_SET_NO_NEW_PRIVS: u64 = 38;
    const PR_GET_NO_NEW_PRIVS: u64 = 39;
    const TASK_COMM_LEN: usize = 16;
    let task = &mut *ctx.task;
    match option {
        PR_SET_NAME => {
            // Up to 15 bytes, stopping at a NUL (strncpy_from_user).
            let mut name = Vec::new();
            for i in 0..TASK_COMM_LEN as u64 - 1 {
                let byte: u8 = task.mm().read_val(arg2 + i)?;
                if byte == 0 {
                    break;
                }
                name.push(byte);
            }
            *task.comm.lock() = name;
            Ok(0)
        }
        PR_GET_NAME => {
            let mut name = [0u8; TASK_COMM_LEN];
            let comm = task.comm.lock().clone();
            name[..comm.len()].copy_from_slice(&comm);
            task.mm().copy_to_user(arg2, &name)?;
            Ok(0)
        }
        PR_SET_PDEATHSIG => {
            if arg2 > 64 {
                return Err(EINVAL);
            }
            task.parent_death_signal = arg2;
            Ok(0)
        }
        PR_GET_PDEATHSIG => {
            task.mm()
                .write_val(arg2, &(task.parent_death_signal as i32))?;
            Ok(0)
        }
        PR_GET_DUMPABLE => Ok(task.dumpable),
        PR_SET_DUMPABLE => {
            if arg2 > 1 {
                return Err(EINVAL);
            }
            task.dumpable = arg2;
            Ok(0)
        }
        PR_GET_KEEPCAPS => Ok((task.creds.securebits & SECURE_KEEP_CAPS != 0) as u64),
        PR_SET_KEEPCAPS => {
            if arg2 > 1 {
                return Err(EINVAL);
            }
            if task.creds.securebits & SECURE_KEEP_CAPS_LOCKED != 0 {
                return Err(EPERM);
            }
            if arg2 == 1 {
                task.creds.securebits |= SECURE_KEEP_CAPS;
            } else {
                task.creds.securebits &= !SECURE_KEEP_CAPS;
            }
            Ok(0)
        }
        PR_GET_SECUREBITS => Ok(task.creds.securebits as u64),
        PR_SET_SECUREBITS => {
            // Linux's cap_task_prctl: no change to a locked bit, no
            // unlocking, no unknown bit, and CAP_SETPCAP for anything.
            let old = task.creds.securebits as u64;
            let new = arg2;
            if ((old & SECURE_ALL_LOCKS as u64) >> 1) & (old ^ new) != 0
                || old & SECURE_ALL_LOCKS as u64 & !new != 0
                || new & !((SECURE_ALL_LOCKS | SECURE_ALL_BITS) as u64) != 0
                || !task.creds.has_cap(CAP_SETPCAP)
            {
                return Err(EPERM);
            }
            task.creds.securebits = new as u32;
            Ok(0)
        }
        PR_CAPBSET_DROP => {
            if !task.creds.has_cap(CAP_SETPCAP) {
                return Err(EPERM);
            }
            if arg2 > CAP_LAST_CAP {
                return Err(EINVAL);
            }
            task.creds.caps.bounding &= !(1 << arg2);
            super::system::note_ids(task);
            Ok(0)
        }
        PR_CAP_AMBIENT => {
            let caps = &mut task.creds.caps;
            if arg2 == PR_CAP_AMBIENT_CLEAR_ALL {
                if arg3 | arg4 | arg5 != 0 {
                    return Err(EINVAL);
                }
                caps.ambient = 0;
                super::system::note_ids(task);
                return Ok(0);
            }
            if arg3 > CAP_LAST_CAP || arg4 | arg5 != 0 {
                return Err(EINVAL);
            }
            let bit = 1u64 << arg3;
            match arg2 {
                PR_CAP_AMBIENT_IS_SET => return Ok((caps.ambient & bit != 0) as u64),
                PR_CAP_AMBIENT_RAISE => {
                    // Only a capability both permitted and inheritable.
                    if caps.permitted & bit == 0
                        || caps.inheritable & bit == 0
                        || task.creds.securebits & SECURE_NO_CAP_AMBIENT_RAISE != 0
                    {
                        return Err(EPERM);
                    }
                    caps.ambient |= bit;
                }
                PR_CAP_AMBIENT_LOWER => caps.ambient &= !bit,
                _ => return Err(EINVAL),
            }
            super::system::note_ids(task);
            Ok(0)
        }
        PR_SET_TIMERSLACK => {
            task.timer_slack.set(arg2);
            Ok(0)
        }
        PR_GET_TIMERSLACK => Ok(task.timer_slack.get()),
        PR_CAPBSET_READ => {
            if arg2 > CAP_LAST_CAP {
                return Err(EINVAL);
            }
            Ok(task.creds.caps.bounding >> arg2 & 1)
        }
        PR_SET_CHILD_SUBREAPER => {
            task.process.set_child_subreaper(arg2 != 0);
            Ok(0)
        }
        PR_GET_CHILD_SUBREAPER => {
            let on = task.process.child_subreaper() as i32;
            task.mm().write_val(arg2, &on)?;
            Ok(0)
        }
        PR_SET_NO_NEW_PRIVS => {
            if arg2 != 1 || arg3 != 0 || arg4 != 0 || arg5 != 0 {
                return Err(EINVAL);
            }
            task.no_new_privs = true;
            super::system::note_ids(task);
            Ok(0)
        }
        PR_GET_SECCOMP => super::seccomp::prctl_get(task),
        PR_SET_SECCOMP => {
            let (mode, prog) = (arg2, arg3);
            super::seccomp::prctl_set(ctx, mode, prog)
        }
        PR_GET_NO_NEW_PRIVS => {
            if arg2 != 0 || arg3 != 0 || arg4 != 0 || arg5 != 0 {
                return Err(EINVAL);
            }
            Ok(task.no_new_privs as u64)
        }
        option => {
            log::info!("prctl option {option} is not supported: EINVAL");
            Err(EINVAL)
        }
    }
}

/// The highest capability number (CAP_CHECKPOINT_RESTORE in Linux 6.1).
pub const CAP_LAST_CAP: u64 = 40;
const CAP_SETPCAP: u32 = 8;

const CAP_VERSION_1: u32 = 0x1998_0330;
const CAP_VERSION_2: u32 = 0x2007_1026;
const CAP_VERSION_3: u32 = 0x2008_0522;

/// Linux's cap_validate_magic: the 32-bit words of the capability sets the
/// header's version uses, or EINVAL after writing the preferred version
/// back for an unknown one.
fn cap_words(ctx: &mut SyscallContext, header_addr: u64) -> Result<usize, Errno> {
    let version: u32 = UserPtr::<u32>::new(header_addr).read(&mut ctx.task.mm())?;
    match version {
        CAP_VERSION_1 => Ok(1),
        CAP_VERSION_2 | CAP_VERSION_3 => Ok(2),
        _ => {
            UserPtr::new(header_addr).write(&mut ctx.task.mm(), &CAP_VERSION_3)?;
            Err(EINVAL)
        }
    }
}

/// The pid field of a capability header.
fn cap_pid(ctx: &mut SyscallContext, header_addr: u64) -> Result<i32, Errno> {
    UserPtr::<i32>::new(header_addr.wrapping_add(4)).read(&mut ctx.task.mm())
}

/// capget: the sets of the caller or of thread `pid`.
pub fn sys_capget(ctx: &mut SyscallContext, hdrp: u64, datap: u64) -> SysResult {
    // A NULL data pointer asks only for the version: an unknown one is
    // not an error then.
    let words = match cap_words(ctx, hdrp) {
        Err(EINVAL) if datap == 0 => return Ok(0),
        other => other?,
    };
    if datap == 0 {
        return Ok(0);
    }
    let pid = cap_pid(ctx, hdrp)?;
    if pid < 0 {
        return Err(EINVAL);
    }
    let caps = if pid == 0 || pid == ctx.task.tid {
        ctx.task.creds.caps
    } else {
        crate::sentry::sched::inspect_thread(pid, |t| t.creds.caps).ok_or(ESRCH)?
    };
    // struct __user_cap_data_struct { effective, permitted, inheritable }.
    let mut data = [0u32; 6];
    for word in 0..words {
        data[word * 3] = (caps.effective >> (32 * word)) as u32;
        data[word * 3 + 1] = (caps.permitted >> (32 * word)) as u32;
        data[word * 3 + 2] = (caps.inheritable >> (32 * word)) as u32;
    }
    let bytes = crate::sentry::mm::usermem::bytes_of(&data);
    ctx.task.mm().copy_to_user(datap, &bytes[..words * 12])?;
    Ok(0)
}

/// capset: Linux's rules (cap_capset) on the caller's own sets. Without
/// CAP_SETPCAP the new inheritable set stays within the old inheritable
/// and permitted sets; with it, within the old inheritable and bounding
/// sets. Permitted may only shrink, effective stays within permitted, and
/// ambient loses what is no longer both permitted and inheritable.
pub fn sys_capset(ctx: &mut SyscallContext, hdrp: u64, datap: u64) -> SysResult {
    let words = cap_words(ctx, hdrp)?;
    let pid = cap_pid(ctx, hdrp)?;
    if pid != 0 && pid != ctx.task.tid {
        return Err(EPERM);
    }
    let mut data = [0u32; 6];
    {
        let bytes = zerocopy::IntoBytes::as_mut_bytes(&mut data);
        ctx.task
            .mm()
            .copy_from_user(datap, &mut bytes[..words * 12])?;
    }
    let set = |i: usize| -> u64 {
        (0..words).fold(0u64, |acc, w| acc | (data[w * 3 + i] as u64) << (32 * w))
            & super::system::ALL_CAPS
    };
    let (effective, permitted, inheritable) = (set(0), set(1), set(2));
    let old = ctx.task.creds.caps;
    let setpcap = old.effective & (1 << CAP_SETPCAP) != 0;
    if !setpcap && inheritable & !(old.inheritable | old.permitted) != 0 {
        return Err(EPERM);
    }
    if inheritable & !(old.inheritable | old.bounding) != 0 {
        return Err(EPERM);
    }
    if permitted & !old.permitted != 0 || effective & !permitted != 0 {
        return Err(EPERM);
    }
    ctx.task.creds.caps = super::system::Caps {
        effective,
        permitted,
        inheritable,
        ambient: old.ambient & permitted & inheritable,
        ..old
    };
    super::system::note_ids(&mut ctx.task);
    Ok(0)
}

pub fn sys_get_robust_list(
    ctx: &mut SyscallContext,
    pid: i32,
    head_ptr: UserPtr<u64>,
    len_ptr: UserPtr<u64>,
) -> SysResult {
    const ROBUST_LIST_HEAD_SIZE: u64 = 24;
    let head = if pid == 0 || pid == ctx.task.tid {
        ctx.task.robust_list
    } else {
        // Another thread: Linux's ptrace_may_access(PTRACE_MODE_READ_REALCREDS):
        // the caller's real ids are all of the target's, and the target is
        // dumpable, or the caller has CAP_SYS_PTRACE.
        const CAP_SYS_PTRACE: u32 = 19;
        let (head, user, group, dumpable, same_group, domain) =
            crate::sentry::sched::inspect_thread(pid, |t| {
                (
                    t.robust_list,
                    t.creds.user,
                    t.creds.group,
                    t.dumpable,
                    t.pid == ctx.task.pid,
                    t.creds.landlock.clone(),
                )
            })
            .ok_or(ESRCH)?;
        let creds = &ctx.task.creds;
        if !same_group
            && !crate::sentry::landlock::may_ptrace(creds.landlock.as_deref(), domain.as_deref())
        {
            return Err(EPERM);
        }
        let same =
            user.iter().all(|&u| u == creds.user[0]) && group.iter().all(|&g| g == creds.group[0]);
        let allowed = creds.has_cap(CAP_SYS_PTRACE) || (same && dumpable == 1);
        if !allowed {
            return Err(EPERM);
        }
        head
    };
    head_ptr.write(&mut ctx.task.mm(), &head)?;
    len_ptr.write(&mut ctx.task.mm(), &ROBUST_LIST_HEAD_SIZE)?;
    Ok(0)
}
