//! Process and identity syscalls: exit, ids, set_tid_address, arch_prctl,
//! resource limits, uname.

use super::SyscallContext;
use crate::hv::console::{exit as vmm_exit, ExitKind};
use crate::sentry::errno::*;
use crate::sentry::task::{RLimit, RLIMIT_NLIMITS};

pub fn sys_exit_group(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    ctx.task.mm().writeback_all();
    let stats = ctx.task.exit_stats();
    vmm_exit(ExitKind::Exited(args[0] as u8), &stats)
}

/// exit(2) of the only thread ends the process, as exit_group does.
pub fn sys_exit(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    sys_exit_group(ctx, args)
}

pub fn sys_getpid(ctx: &mut SyscallContext, _: [u64; 6]) -> SysResult {
    Ok(ctx.task.pid as u64)
}

/// The application's parent is outside the sandbox: 0, as for init.
pub fn sys_getppid(_: &mut SyscallContext, _: [u64; 6]) -> SysResult {
    Ok(0)
}

pub fn sys_gettid(ctx: &mut SyscallContext, _: [u64; 6]) -> SysResult {
    Ok(ctx.task.tid as u64)
}

pub fn sys_set_tid_address(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    ctx.task.clear_child_tid = args[0];
    Ok(ctx.task.tid as u64)
}

pub fn sys_set_robust_list(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    // struct robust_list_head is 24 bytes on x86_64.
    if args[1] != 24 {
        return Err(EINVAL);
    }
    ctx.task.robust_list = args[0];
    Ok(0)
}

#[cfg(target_arch = "x86_64")]
pub fn sys_arch_prctl(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    const ARCH_SET_GS: u64 = 0x1001;
    const ARCH_SET_FS: u64 = 0x1002;
    const ARCH_GET_FS: u64 = 0x1003;
    const ARCH_GET_GS: u64 = 0x1004;
    let (code, addr) = (args[0], args[1]);
    match code {
        ARCH_SET_FS | ARCH_SET_GS => {
            if addr >= crate::arch::USER_END {
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
            ctx.task.mm().write_val(addr, &value)?;
            Ok(0)
        }
        ARCH_GET_GS => {
            let value = ctx.task.gs_base;
            ctx.task.mm().write_val(addr, &value)?;
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

pub fn sys_prlimit64(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let (pid, resource, new, old) = (args[0] as i32, args[1], args[2], args[3]);
    if pid != 0 && pid != ctx.task.pid {
        return Err(ESRCH);
    }
    let index = resource_index(resource)?;
    let current = ctx.task.rlimits[index];
    let replacement = if new != 0 {
        let [cur, max]: [u64; 2] = ctx.task.mm().read_val(new)?;
        if cur > max {
            return Err(EINVAL);
        }
        // Raising the hard limit needs CAP_SYS_RESOURCE, which the sandbox
        // keeps; the fd limit cannot go beyond what the fd table holds.
        if index == crate::sentry::task::RLIMIT_NOFILE && max > crate::sentry::fd::MAX_FDS as u64 {
            return Err(EPERM);
        }
        Some(RLimit { cur, max })
    } else {
        None
    };
    if old != 0 {
        ctx.task.mm().write_val(old, &[current.cur, current.max])?;
    }
    if let Some(limit) = replacement {
        ctx.task.rlimits[index] = limit;
        if index == crate::sentry::task::RLIMIT_NOFILE {
            ctx.task.fds().limit = limit.cur.min(crate::sentry::fd::MAX_FDS as u64) as usize;
        }
    }
    Ok(0)
}

pub fn sys_getrlimit(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    sys_prlimit64(ctx, [0, args[0], 0, args[1], 0, 0])
}

pub fn sys_setrlimit(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    sys_prlimit64(ctx, [0, args[0], args[1], 0, 0, 0])
}

/// `struct utsname`: six 65-byte fields.
const UTS_FIELD: usize = 65;

pub fn sys_uname(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let fields: [&[u8]; 6] = [
        b"Linux",
        b"rvisor",
        crate::sentry::KERNEL_RELEASE.as_bytes(),
        b"#1 SMP rvisor",
        crate::arch::UNAME_MACHINE,
        b"(none)",
    ];
    let mut uts = [0u8; UTS_FIELD * 6];
    for (i, field) in fields.iter().enumerate() {
        uts[i * UTS_FIELD..i * UTS_FIELD + field.len()].copy_from_slice(field);
    }
    ctx.task.mm().copy_to_user(args[0], &uts)?;
    Ok(0)
}
