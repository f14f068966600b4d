//! Identity, credentials and system information: sysinfo, getcpu,
//! personality, the uid/gid family (setfsuid too), groups, process groups
//! and sessions. Scheduling is `sched.rs`.

use crate::sentry::mm::usermem::UserPtr;
use alloc::vec::Vec;

use super::SyscallContext;
use crate::sentry::errno::*;

/// The application's credentials. It starts as root in its own world;
/// a program may drop privileges and the ids it sees follow Linux's rules,
/// file permission checks (vfs/perm.rs) included.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    /// Real, effective, saved user ids.
    pub user: [u32; 3],
    /// Real, effective, saved group ids.
    pub group: [u32; 3],
    /// Filesystem user and group ids: whom file checks and new files are
    /// for. They follow the effective ids unless setfsuid/setfsgid moved
    /// them.
    pub fsuid: u32,
    pub fsgid: u32,
    pub groups: Vec<u32>,
    /// The capability sets (Linux's struct cred: effective, permitted,
    /// inheritable, bounding, ambient).
    pub caps: Caps,
    /// prctl(PR_SET_SECUREBITS): the SECBIT_* flags (keepcaps is
    /// SECBIT_KEEP_CAPS, as in Linux).
    pub securebits: u32,
    /// The Landlock domain (landlock_restrict_self), inherited by
    /// children and kept across execve.
    pub landlock: Option<alloc::sync::Arc<crate::sentry::landlock::Domain>>,
}

/// Capability sets (bit N: capability N).
#[derive(Clone, Copy, Debug, Default)]
pub struct Caps {
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    /// The bounding set: what execve may grant (PR_CAPBSET_DROP).
    pub bounding: u64,
    /// The ambient set: what execve of an unprivileged program keeps
    /// (PR_CAP_AMBIENT); always within permitted and inheritable.
    pub ambient: u64,
}

/// Every capability up to CAP_LAST_CAP.
pub const ALL_CAPS: u64 = (1u64 << (super::process::CAP_LAST_CAP + 1)) - 1;

/// The securebits (include/uapi/linux/securebits.h): each flag has a lock
/// bit just above it.
pub const SECURE_NOROOT: u32 = 1 << 0;
pub const SECURE_NO_SETUID_FIXUP: u32 = 1 << 2;
pub const SECURE_KEEP_CAPS: u32 = 1 << 4;
pub const SECURE_KEEP_CAPS_LOCKED: u32 = 1 << 5;
pub const SECURE_NO_CAP_AMBIENT_RAISE: u32 = 1 << 6;
/// The flags Linux 6.1 knows, and their locks.
pub const SECURE_ALL_BITS: u32 =
    SECURE_NOROOT | SECURE_NO_SETUID_FIXUP | SECURE_KEEP_CAPS | SECURE_NO_CAP_AMBIENT_RAISE;
pub const SECURE_ALL_LOCKS: u32 = SECURE_ALL_BITS << 1;

/// Capabilities that follow the filesystem user id (Linux's CAP_FS_MASK:
/// CHOWN, DAC_OVERRIDE, DAC_READ_SEARCH, FOWNER, FSETID, LINUX_IMMUTABLE,
/// MKNOD, MAC_OVERRIDE).
const CAP_FS_MASK: u64 = 0x1f | 1 << 9 | 1 << 27 | 1 << 32;
const CAP_SETGID: u32 = 6;
const CAP_SETUID: u32 = 7;

impl Credentials {
    /// A process running as `uid`:`gid` with no supplementary groups: root
    /// holds every capability (effective and permitted), others none; the
    /// bounding set is full, as for Linux's init.
    pub fn new(uid: u32, gid: u32) -> Credentials {
        let all = if uid == 0 { ALL_CAPS } else { 0 };
        Credentials {
            user: [uid; 3],
            group: [gid; 3],
            fsuid: uid,
            fsgid: gid,
            caps: Caps {
                effective: all,
                permitted: all,
                inheritable: 0,
                bounding: ALL_CAPS,
                ambient: 0,
            },
            ..Default::default()
        }
    }

    /// Who file permission checks are for.
    pub fn accessor(&self) -> crate::sentry::vfs::perm::Accessor<'_> {
        crate::sentry::vfs::perm::Accessor {
            uid: self.fsuid,
            gid: self.fsgid,
            groups: &self.groups,
            caps: self.caps.effective,
        }
    }

    /// Whether capability `cap` is in the effective set.
    pub fn has_cap(&self, cap: u32) -> bool {
        self.caps.effective & (1 << cap) != 0
    }

    /// The credentials access(2) checks with: the real ids, and the
    /// capabilities root would have (Linux's access_override_creds;
    /// SECBIT_NO_SETUID_FIXUP keeps the effective set as it is).
    pub fn for_access(&self) -> Credentials {
        let mut caps = self.caps;
        if self.securebits & SECURE_NO_SETUID_FIXUP == 0 {
            caps.effective = if self.user[REAL] == 0 {
                caps.permitted
            } else {
                0
            };
        }
        Credentials {
            fsuid: self.user[REAL],
            fsgid: self.group[REAL],
            caps,
            ..self.clone()
        }
    }

    /// The capability sets in force.
    pub fn caps(&self) -> Caps {
        self.caps
    }

    /// Linux's cap_emulate_setxuid: capabilities follow a change of the
    /// user ids from `old` (unless SECBIT_NO_SETUID_FIXUP).
    fn user_ids_changed(&mut self, old: [u32; 3]) {
        if self.securebits & SECURE_NO_SETUID_FIXUP != 0 {
            return;
        }
        let new = self.user;
        let caps = &mut self.caps;
        if old.contains(&0) && !new.contains(&0) {
            if self.securebits & SECURE_KEEP_CAPS == 0 {
                caps.permitted = 0;
                caps.effective = 0;
            }
            // Programs from before ambient capabilities expect a setuid
            // away from root followed by execve to drop them all.
            caps.ambient = 0;
        }
        if old[EFFECTIVE] == 0 && new[EFFECTIVE] != 0 {
            caps.effective = 0;
        }
        if old[EFFECTIVE] != 0 && new[EFFECTIVE] == 0 {
            caps.effective = caps.permitted;
        }
    }

    /// The capabilities after execve of a program without file
    /// capabilities or set-id bits (Linux's cap_bprm_creds_from_file):
    /// for root (real or effective, unless SECBIT_NOROOT) the permitted set
    /// becomes bounding | inheritable, effective too when the effective
    /// uid is 0; otherwise only the ambient set survives, as permitted and
    /// effective. SECBIT_KEEP_CAPS does not survive execve.
    pub fn exec_transform(&mut self) {
        let caps = &mut self.caps;
        let root_privileged = self.securebits & SECURE_NOROOT == 0;
        let mut permitted = 0;
        let mut effective = false;
        if root_privileged && (self.user[EFFECTIVE] == 0 || self.user[REAL] == 0) {
            permitted = caps.bounding | caps.inheritable;
        }
        if root_privileged && self.user[EFFECTIVE] == 0 {
            effective = true;
        }
        caps.permitted = permitted | caps.ambient;
        caps.effective = if effective {
            caps.permitted
        } else {
            caps.ambient
        };
        self.securebits &= !SECURE_KEEP_CAPS;
    }
}

/// The credentials of `task` as its /proc status shows them.
pub fn id_view(task: &crate::sentry::task::Task) -> crate::sentry::vfs::procfs::IdView {
    let caps = task.creds.caps;
    crate::sentry::vfs::procfs::IdView {
        uid: task.creds.user,
        gid: task.creds.group,
        fsuid: task.creds.fsuid,
        fsgid: task.creds.fsgid,
        cap_inh: caps.inheritable,
        cap_prm: caps.permitted,
        cap_eff: caps.effective,
        cap_bnd: caps.bounding,
        cap_amb: caps.ambient,
        no_new_privs: task.no_new_privs,
        seccomp: task.seccomp.mode,
        seccomp_filters: task.seccomp.filter_count(),
    }
}

/// Refreshes the /proc status copy of `task`'s credentials (after a
/// change; one process's threads share what status shows).
pub fn note_ids(task: &mut crate::sentry::task::Task) {
    let new = id_view(task);
    let mut view = task.process.view.ids.lock();
    // Linux's commit_creds: a change of the effective or filesystem ids
    // cancels PR_SET_PDEATHSIG.
    if (view.uid[1], view.gid[1], view.fsuid, view.fsgid)
        != (new.uid[1], new.gid[1], new.fsuid, new.fsgid)
    {
        task.parent_death_signal = 0;
    }
    *view = new;
}

const UNCHANGED: u32 = u32::MAX;
const REAL: usize = 0;
const EFFECTIVE: usize = 1;

#[derive(Clone, Copy)]
enum Ids {
    User,
    Group,
}

impl Credentials {
    fn ids(&mut self, which: Ids) -> &mut [u32; 3] {
        match which {
            Ids::User => &mut self.user,
            Ids::Group => &mut self.group,
        }
    }
}

/// Replaces the user or group ids with what `rule` makes of the current
/// ones (given whether the caller holds CAP_SETUID / CAP_SETGID). The
/// filesystem id follows the new effective id, as in Linux.
fn update(
    ctx: &mut SyscallContext,
    which: Ids,
    rule: impl FnOnce([u32; 3], bool) -> Result<[u32; 3], Errno>,
) -> SysResult {
    let creds = &mut ctx.task.creds;
    let privileged = creds.has_cap(match which {
        Ids::User => CAP_SETUID,
        Ids::Group => CAP_SETGID,
    });
    let old = creds.user;
    let old_fsids = (creds.fsuid, creds.fsgid);
    let ids = creds.ids(which);
    *ids = rule(*ids, privileged)?;
    match which {
        Ids::User => {
            creds.user_ids_changed(old);
            creds.fsuid = creds.user[EFFECTIVE];
        }
        Ids::Group => creds.fsgid = creds.group[EFFECTIVE],
    }
    note_ids(&mut ctx.task);
    // The thread keyring's owner follows the filesystem ids (Linux's
    // key_fsuid_changed).
    if (ctx.task.creds.fsuid, ctx.task.creds.fsgid) != old_fsids {
        super::keys::fsids_changed(&ctx.task);
    }
    Ok(0)
}

/// setfsuid: the filesystem user id becomes `uid` when that is one of the
/// real, effective, saved or current filesystem ids (or the caller has
/// CAP_SETUID). Leaving or entering fsuid 0 drops or restores the
/// filesystem capabilities. Returns the previous fsuid, whether or not it
/// changed (Linux reports no error).
pub fn sys_setfsuid(ctx: &mut SyscallContext, uid: u32) -> SysResult {
    let creds = &mut ctx.task.creds;
    let old = creds.fsuid;
    let allowed =
        uid != UNCHANGED && (creds.user.contains(&uid) || uid == old || creds.has_cap(CAP_SETUID));
    if allowed && uid != old {
        if creds.securebits & SECURE_NO_SETUID_FIXUP == 0 {
            let caps = &mut creds.caps;
            if old == 0 {
                caps.effective &= !CAP_FS_MASK;
            } else if uid == 0 {
                caps.effective |= caps.permitted & CAP_FS_MASK;
            }
        }
        creds.fsuid = uid;
        note_ids(&mut ctx.task);
        super::keys::fsids_changed(&ctx.task);
    }
    Ok(old as u64)
}

/// setfsgid: as setfsuid, for the group (with CAP_SETGID).
pub fn sys_setfsgid(ctx: &mut SyscallContext, gid: u32) -> SysResult {
    let creds = &mut ctx.task.creds;
    let old = creds.fsgid;
    if gid != UNCHANGED && (creds.group.contains(&gid) || gid == old || creds.has_cap(CAP_SETGID)) {
        creds.fsgid = gid;
        note_ids(&mut ctx.task);
        super::keys::fsids_changed(&ctx.task);
    }
    Ok(old as u64)
}

pub fn sys_getuid(ctx: &mut SyscallContext) -> SysResult {
    Ok(ctx.task.creds.user[REAL] as u64)
}

pub fn sys_geteuid(ctx: &mut SyscallContext) -> SysResult {
    Ok(ctx.task.creds.user[EFFECTIVE] as u64)
}

pub fn sys_getgid(ctx: &mut SyscallContext) -> SysResult {
    Ok(ctx.task.creds.group[REAL] as u64)
}

pub fn sys_getegid(ctx: &mut SyscallContext) -> SysResult {
    Ok(ctx.task.creds.group[EFFECTIVE] as u64)
}

fn get_res(ctx: &mut SyscallContext, ids: [u32; 3], addrs: [u64; 3]) -> SysResult {
    for (addr, value) in addrs.into_iter().zip(ids) {
        UserPtr::new(addr).write(&mut ctx.task.mm(), &value)?;
    }
    Ok(0)
}

pub fn sys_getresuid(ctx: &mut SyscallContext, ruid: u64, euid: u64, suid: u64) -> SysResult {
    let ids = ctx.task.creds.user;
    get_res(ctx, ids, [ruid, euid, suid])
}

pub fn sys_getresgid(ctx: &mut SyscallContext, rgid: u64, egid: u64, sgid: u64) -> SysResult {
    let ids = ctx.task.creds.group;
    get_res(ctx, ids, [rgid, egid, sgid])
}

/// setresuid/setresgid: each new id (UNCHANGED keeps it) must be one of the
/// current three unless privileged.
fn set_res(new: [u32; 3], current: [u32; 3], privileged: bool) -> Result<[u32; 3], Errno> {
    let mut out = current;
    for (slot, id) in out.iter_mut().zip(new) {
        if id == UNCHANGED {
            continue;
        }
        if !privileged && !current.contains(&id) {
            return Err(EPERM);
        }
        *slot = id;
    }
    Ok(out)
}

/// setuid/setgid: privileged sets all three; otherwise only the effective
/// id, to the real or saved one.
fn set_one(id: u32, [real, _, saved]: [u32; 3], privileged: bool) -> Result<[u32; 3], Errno> {
    if id == UNCHANGED {
        return Err(EINVAL);
    }
    if privileged {
        Ok([id, id, id])
    } else if id == real || id == saved {
        Ok([real, id, saved])
    } else {
        Err(EPERM)
    }
}

/// setreuid/setregid.
fn set_re(
    r: u32,
    e: u32,
    [real, effective, saved]: [u32; 3],
    privileged: bool,
) -> Result<[u32; 3], Errno> {
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

pub fn sys_setresuid(ctx: &mut SyscallContext, ruid: u32, euid: u32, suid: u32) -> SysResult {
    update(ctx, Ids::User, |cur, p| set_res([ruid, euid, suid], cur, p))
}

pub fn sys_setresgid(ctx: &mut SyscallContext, rgid: u32, egid: u32, sgid: u32) -> SysResult {
    update(ctx, Ids::Group, |cur, p| {
        set_res([rgid, egid, sgid], cur, p)
    })
}

pub fn sys_setuid(ctx: &mut SyscallContext, uid: u32) -> SysResult {
    update(ctx, Ids::User, |cur, p| set_one(uid, cur, p))
}

pub fn sys_setgid(ctx: &mut SyscallContext, gid: u32) -> SysResult {
    update(ctx, Ids::Group, |cur, p| set_one(gid, cur, p))
}

pub fn sys_setreuid(ctx: &mut SyscallContext, ruid: u32, euid: u32) -> SysResult {
    update(ctx, Ids::User, |cur, p| set_re(ruid, euid, cur, p))
}

pub fn sys_setregid(ctx: &mut SyscallContext, rgid: u32, egid: u32) -> SysResult {
    update(ctx, Ids::Group, |cur, p| set_re(rgid, egid, cur, p))
}

pub fn sys_getgroups(ctx: &mut SyscallContext, size: i32, list: u64) -> SysResult {
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

pub fn sys_setgroups(ctx: &mut SyscallContext, size: u64, list: u64) -> SysResult {
    const NGROUPS_MAX: u64 = 65536;
    if size > NGROUPS_MAX {
        return Err(EINVAL);
    }
    if !ctx.task.creds.has_cap(CAP_SETGID) {
        return Err(EPERM);
    }
    let mut raw = alloc::vec![0u8; size as usize * 4];
    ctx.task.mm().copy_from_user(list, &mut raw)?;
    ctx.task.creds.groups = raw
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    Ok(0)
}

/// (process group, session) of `pid` (0: the caller).
fn group_of(ctx: &SyscallContext, pid: i32) -> Result<(i32, i32), Errno> {
    if pid == 0 || pid == ctx.task.pid {
        return Ok((ctx.task.pgid(), ctx.task.sid()));
    }
    if pid < 0 {
        return Err(ESRCH);
    }
    crate::sentry::sched::with_parked(pid, |t| (t.pgid(), t.sid())).ok_or(ESRCH)
}

pub fn sys_getpgid(ctx: &mut SyscallContext, pid: i32) -> SysResult {
    Ok(group_of(ctx, pid)?.0 as u64)
}

pub fn sys_getpgrp(ctx: &mut SyscallContext) -> SysResult {
    Ok(ctx.task.pgid() as u64)
}

pub fn sys_getsid(ctx: &mut SyscallContext, pid: i32) -> SysResult {
    Ok(group_of(ctx, pid)?.1 as u64)
}

/// A process that leads its group cannot start a session (EPERM).
pub fn sys_setsid(ctx: &mut SyscallContext) -> SysResult {
    let pid = ctx.task.pid;
    let leads = ctx.task.pgid() == pid
        || !crate::sentry::sched::parked_pids(|t| t.pgid() == pid).is_empty();
    if leads {
        return Err(EPERM);
    }
    ctx.task.process.set_pgid(pid);
    ctx.task.process.set_sid(pid);
    Ok(pid as u64)
}

/// setpgid for the caller or one of its children, into a group of the
/// same session (or a new group named after the process).
pub fn sys_setpgid(ctx: &mut SyscallContext, pid: i32, pgid: i32) -> SysResult {
    if pgid < 0 {
        return Err(EINVAL);
    }
    let me = ctx.task.pid;
    let target = if pid == 0 { me } else { pid };
    let pgid = if pgid == 0 { target } else { pgid };
    let (target_sid, target_is_leader, execed) = if target == me {
        (ctx.task.sid(), ctx.task.sid() == me, false)
    } else {
        let child = crate::sentry::sched::with_parked(target, |t| {
            let execed = t.process.execed.load(core::sync::atomic::Ordering::Relaxed);
            (t.ppid(), t.sid(), execed)
        });
        match child {
            Some((parent, sid, execed)) if parent == me => (sid, sid == target, execed),
            _ => return Err(ESRCH),
        }
    };
    if target_is_leader || target_sid != ctx.task.sid() {
        return Err(EPERM);
    }
    // A child that has run execve is out of its parent's reach.
    if execed {
        return Err(EACCES);
    }
    if pgid != target {
        let exists = ctx.task.pgid() == pgid && ctx.task.sid() == target_sid
            || !crate::sentry::sched::parked_pids(|t| t.pgid() == pgid && t.sid() == target_sid)
                .is_empty();
        if !exists {
            return Err(EPERM);
        }
    }
    if target == me {
        ctx.task.process.set_pgid(pgid);
    } else {
        crate::sentry::sched::with_parked(target, |t| t.process.set_pgid(pgid));
    }
    Ok(0)
}

pub fn sys_sysinfo(ctx: &mut SyscallContext, uinfo: UserPtr<[u64; 14]>) -> SysResult {
    let total = crate::mm::total_frames() * 4096;
    let free = crate::mm::free_frames() * 4096;
    let mut info = [0u64; 14];
    // The uptime in the caller's time namespace, in seconds rounded up
    // (as Linux's do_sysinfo).
    let boottime = crate::sentry::time::boottime_ns();
    info[0] = ctx
        .task
        .time_ns
        .view(super::time::CLOCK_BOOTTIME, boottime)
        .div_ceil(1_000_000_000);
    // loads[3]: 16 fraction bits (SI_LOAD_SHIFT) where /proc/loadavg has 11.
    let (loads, _, tasks) = crate::sentry::sched::load_average();
    for (slot, load) in info[1..4].iter_mut().zip(loads) {
        *slot = load << 5;
    }
    info[4] = total; // totalram
    info[5] = free; // freeram
                    // info[6] sharedram, [7] bufferram, [8] totalswap, [9] freeswap: 0
    info[10] = tasks.min(u16::MAX as usize) as u64; // procs (u16) + padding
    info[13] = 1; // mem_unit (u32) in the low half
    uinfo.write(&mut ctx.task.mm(), &info)?;
    Ok(0)
}

pub fn sys_getcpu(ctx: &mut SyscallContext, cpu: u64, node: u64) -> SysResult {
    for addr in [cpu, node] {
        if addr != 0 {
            UserPtr::new(addr).write(&mut ctx.task.mm(), &0u32)?;
        }
    }
    Ok(0)
}

pub fn sys_personality(ctx: &mut SyscallContext, requested: u32) -> SysResult {
    let old = ctx.task.personality;
    if requested != 0xffff_ffff {
        ctx.task.personality = requested;
    }
    Ok(old as u64)
}
