//! Identity, credentials, scheduling and system information: sysinfo,
//! sched_getaffinity/setaffinity/yield, getcpu, personality, the uid/gid
//! family, groups, process groups and sessions.

use alloc::vec::Vec;

use super::SyscallContext;
use crate::sentry::errno::*;

/// The application's credentials. It starts as root in its own world;
/// a program may drop privileges and the ids it sees follow Linux's rules.
/// (File permission checks are not enforced: see docs/syscalls.md.)
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    pub uid: u32,
    pub euid: u32,
    pub suid: u32,
    pub gid: u32,
    pub egid: u32,
    pub sgid: u32,
    pub groups: Vec<u32>,
}

const UNCHANGED: u32 = u32::MAX;

fn privileged(ctx: &SyscallContext) -> bool {
    ctx.task.creds.euid == 0
}

pub fn sys_getuid(ctx: &mut SyscallContext, _: [u64; 6]) -> SysResult {
    Ok(ctx.task.creds.uid as u64)
}

pub fn sys_geteuid(ctx: &mut SyscallContext, _: [u64; 6]) -> SysResult {
    Ok(ctx.task.creds.euid as u64)
}

pub fn sys_getgid(ctx: &mut SyscallContext, _: [u64; 6]) -> SysResult {
    Ok(ctx.task.creds.gid as u64)
}

pub fn sys_getegid(ctx: &mut SyscallContext, _: [u64; 6]) -> SysResult {
    Ok(ctx.task.creds.egid as u64)
}

pub fn sys_getresuid(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let c = ctx.task.creds.clone();
    for (addr, value) in [(args[0], c.uid), (args[1], c.euid), (args[2], c.suid)] {
        ctx.task.mm().write_val(addr, &value)?;
    }
    Ok(0)
}

pub fn sys_getresgid(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let c = ctx.task.creds.clone();
    for (addr, value) in [(args[0], c.gid), (args[1], c.egid), (args[2], c.sgid)] {
        ctx.task.mm().write_val(addr, &value)?;
    }
    Ok(0)
}

/// setresuid/setresgid core: each new id (UNCHANGED keeps it) must be one
/// of the current three unless privileged.
fn set_res(ids: [u32; 3], current: [u32; 3], privileged: bool) -> Result<[u32; 3], Errno> {
    let mut out = current;
    for (i, id) in ids.iter().enumerate() {
        if *id == UNCHANGED {
            continue;
        }
        if !privileged && !current.contains(id) {
            return Err(EPERM);
        }
        out[i] = *id;
    }
    Ok(out)
}

pub fn sys_setresuid(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let c = &ctx.task.creds;
    let [uid, euid, suid] = set_res(
        [args[0] as u32, args[1] as u32, args[2] as u32],
        [c.uid, c.euid, c.suid],
        privileged(ctx),
    )?;
    let c = &mut ctx.task.creds;
    (c.uid, c.euid, c.suid) = (uid, euid, suid);
    Ok(0)
}

pub fn sys_setresgid(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let c = &ctx.task.creds;
    let [gid, egid, sgid] = set_res(
        [args[0] as u32, args[1] as u32, args[2] as u32],
        [c.gid, c.egid, c.sgid],
        privileged(ctx),
    )?;
    let c = &mut ctx.task.creds;
    (c.gid, c.egid, c.sgid) = (gid, egid, sgid);
    Ok(0)
}

pub fn sys_setuid(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let id = args[0] as u32;
    if id == UNCHANGED {
        return Err(EINVAL);
    }
    let privileged = privileged(ctx);
    let c = &mut ctx.task.creds;
    if privileged {
        (c.uid, c.euid, c.suid) = (id, id, id);
    } else if id == c.uid || id == c.suid {
        c.euid = id;
    } else {
        return Err(EPERM);
    }
    Ok(0)
}

pub fn sys_setgid(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let id = args[0] as u32;
    if id == UNCHANGED {
        return Err(EINVAL);
    }
    let privileged = privileged(ctx);
    let c = &mut ctx.task.creds;
    if privileged {
        (c.gid, c.egid, c.sgid) = (id, id, id);
    } else if id == c.gid || id == c.sgid {
        c.egid = id;
    } else {
        return Err(EPERM);
    }
    Ok(0)
}

/// setreuid/setregid core.
fn set_re(r: u32, e: u32, cur: [u32; 3], privileged: bool) -> Result<[u32; 3], Errno> {
    let [real, effective, saved] = cur;
    if !privileged {
        if r != UNCHANGED && r != real && r != effective {
            return Err(EPERM);
        }
        if e != UNCHANGED && e != real && e != effective && e != saved {
            return Err(EPERM);
        }
    }
    let new_real = if r == UNCHANGED { real } else { r };
    let new_effective = if e == UNCHANGED { effective } else { e };
    let new_saved = if r != UNCHANGED || (e != UNCHANGED && e != real) {
        new_effective
    } else {
        saved
    };
    Ok([new_real, new_effective, new_saved])
}

pub fn sys_setreuid(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let c = &ctx.task.creds;
    let [uid, euid, suid] = set_re(
        args[0] as u32,
        args[1] as u32,
        [c.uid, c.euid, c.suid],
        privileged(ctx),
    )?;
    let c = &mut ctx.task.creds;
    (c.uid, c.euid, c.suid) = (uid, euid, suid);
    Ok(0)
}

pub fn sys_setregid(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let c = &ctx.task.creds;
    let [gid, egid, sgid] = set_re(
        args[0] as u32,
        args[1] as u32,
        [c.gid, c.egid, c.sgid],
        privileged(ctx),
    )?;
    let c = &mut ctx.task.creds;
    (c.gid, c.egid, c.sgid) = (gid, egid, sgid);
    Ok(0)
}

pub fn sys_getgroups(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let (size, list) = (args[0] as i32, args[1]);
    let groups = ctx.task.creds.groups.clone();
    if size < 0 {
        return Err(EINVAL);
    }
    if size == 0 {
        return Ok(groups.len() as u64);
    }
    if (size as usize) < groups.len() {
        return Err(EINVAL);
    }
    let bytes: Vec<u8> = groups.iter().flat_map(|g| g.to_le_bytes()).collect();
    ctx.task.mm().copy_to_user(list, &bytes)?;
    Ok(groups.len() as u64)
}

pub fn sys_setgroups(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    const NGROUPS_MAX: u64 = 65536;
    if args[0] > NGROUPS_MAX {
        return Err(EINVAL);
    }
    if !privileged(ctx) {
        return Err(EPERM);
    }
    let mut raw = alloc::vec![0u8; args[0] as usize * 4];
    ctx.task.mm().copy_from_user(args[1], &mut raw)?;
    ctx.task.creds.groups = raw
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    Ok(0)
}

/// One process: it is its own process group and session.
pub fn sys_getpgid(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let pid = args[0] as i32;
    if pid != 0 && pid != ctx.task.pid {
        return Err(ESRCH);
    }
    Ok(ctx.task.pid as u64)
}

pub fn sys_getpgrp(ctx: &mut SyscallContext, _: [u64; 6]) -> SysResult {
    Ok(ctx.task.pid as u64)
}

pub fn sys_getsid(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    sys_getpgid(ctx, args)
}

/// The process already leads its group and session: EPERM, as on Linux.
pub fn sys_setsid(_: &mut SyscallContext, _: [u64; 6]) -> SysResult {
    Err(EPERM)
}

pub fn sys_setpgid(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let (pid, pgid) = (args[0] as i32, args[1] as i32);
    if pgid < 0 {
        return Err(EINVAL);
    }
    if pid != 0 && pid != ctx.task.pid {
        return Err(ESRCH);
    }
    // A session leader cannot change its group; staying in it is fine.
    if pgid == 0 || pgid == ctx.task.pid {
        return Ok(0);
    }
    Err(EPERM)
}

pub fn sys_sysinfo(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let total = crate::mm::total_frames() * 4096;
    let free = crate::mm::free_frames() * 4096;
    let mut info = [0u64; 14];
    info[0] = crate::sentry::time::boottime_ns() / 1_000_000_000; // uptime
    info[4] = total; // totalram
    info[5] = free; // freeram
                    // info[6] sharedram, [7] bufferram, [8] totalswap, [9] freeswap: 0
    info[10] = 1; // procs (u16) + padding
    info[13] = 1; // mem_unit (u32) in the low half
    ctx.task.mm().write_val(args[0], &info)?;
    Ok(0)
}

pub fn sys_sched_getaffinity(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let (pid, len, mask) = (args[0] as i32, args[1], args[2]);
    if pid != 0 && pid != ctx.task.pid {
        return Err(ESRCH);
    }
    if len < 8 || len % 8 != 0 {
        return Err(EINVAL);
    }
    // One vCPU: CPU 0.
    ctx.task.mm().write_val(mask, &1u64)?;
    Ok(8)
}

pub fn sys_sched_setaffinity(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let (pid, len, mask) = (args[0] as i32, args[1], args[2]);
    if pid != 0 && pid != ctx.task.pid {
        return Err(ESRCH);
    }
    if len == 0 {
        return Err(EINVAL);
    }
    let first: u8 = ctx.task.mm().read_val(mask)?;
    if first & 1 == 0 {
        return Err(EINVAL); // no CPU of this machine in the set
    }
    Ok(0)
}

/// One runnable thread: there is nobody to yield to.
pub fn sys_sched_yield(_: &mut SyscallContext, _: [u64; 6]) -> SysResult {
    Ok(0)
}

pub fn sys_getcpu(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    for addr in [args[0], args[1]] {
        if addr != 0 {
            ctx.task.mm().write_val(addr, &0u32)?;
        }
    }
    Ok(0)
}

pub fn sys_personality(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let old = ctx.task.personality;
    let requested = args[0] as u32;
    if requested != 0xffff_ffff {
        ctx.task.personality = requested;
    }
    Ok(old as u64)
}
