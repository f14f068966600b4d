//! Scheduling: nice values (getpriority, setpriority), policies and
//! priorities (sched_setscheduler and friends, sched_setattr/getattr), CPU
//! affinity, I/O priorities (ioprio_get/ioprio_set) and sched_yield. The attributes are each thread's own
//! (`task::SchedAttr`); the run queue runs deadline threads first, then
//! real-time ones by priority, then the rest by nice-weighted CPU time
//! (`sched::set_rank`, `sched::set_nice`).
//! Other threads are named by thread id, as in Linux, and changing them
//! takes the same owner or CAP_SYS_NICE.

use crate::sentry::mm::usermem::UserPtr;
use alloc::vec::Vec;

use super::SyscallContext;
use crate::sentry::errno::*;
use crate::sentry::sched;
use crate::sentry::task::{SchedAttr, Task};

const CAP_SYS_NICE: u32 = 23;
const RLIMIT_NICE: usize = 13;
const RLIMIT_RTPRIO: usize = 14;

const SCHED_OTHER: u32 = 0;
const SCHED_FIFO: u32 = 1;
const SCHED_RR: u32 = 2;
const SCHED_BATCH: u32 = 3;
const SCHED_IDLE: u32 = 5;
const SCHED_DEADLINE: u32 = 6;
const SCHED_RESET_ON_FORK: u32 = 0x4000_0000;

/// sched_attr.sched_flags.
const SCHED_FLAG_RESET_ON_FORK: u64 = 1;
const SCHED_FLAG_KEEP_POLICY: u64 = 0x08;
const SCHED_FLAG_KEEP_PARAMS: u64 = 0x10;
const SCHED_FLAG_ALL: u64 = 0x7f;
/// struct sched_attr's first published size (up to sched_period).
const SCHED_ATTR_SIZE_VER0: u32 = 48;
/// With sched_util_min/max.
const SCHED_ATTR_SIZE_VER1: u32 = 56;

/// The fair policies' slice: the sentry's preemption tick (100 Hz).
const FAIR_SLICE_NS: u64 = 10_000_000;

/// SCHED_RR's time slice (Linux's RR_TIMESLICE, 100 ms).
const RR_TIMESLICE_NS: u64 = 100_000_000;

const PRIO_PROCESS: u64 = 0;
const PRIO_PGRP: u64 = 1;
const PRIO_USER: u64 = 2;

fn is_realtime(policy: u32) -> bool {
    policy == SCHED_FIFO || policy == SCHED_RR
}

/// What the caller is allowed against a thread with these user ids
/// (Linux's check_same_owner): its own user, or CAP_SYS_NICE.
fn same_owner(ctx: &SyscallContext, target_user: [u32; 3]) -> bool {
    let euid = ctx.task.creds.user[1];
    euid == target_user[0] || euid == target_user[1] || ctx.task.creds.has_cap(CAP_SYS_NICE)
}

/// Runs `f` on thread `tid` (0: the caller); ESRCH when there is none,
/// EINVAL for a negative id.
fn on_thread<R>(
    ctx: &mut SyscallContext,
    tid: u64,
    f: impl FnOnce(&mut Task) -> R,
) -> Result<R, Errno> {
    let tid = tid as i32;
    if tid < 0 {
        return Err(EINVAL);
    }
    if tid == 0 || tid == ctx.task.tid {
        return Ok(f(&mut ctx.task));
    }
    sched::modify_thread(tid, f).ok_or(ESRCH)
}

/// The threads `(which, who)` names for getpriority/setpriority (and,
/// with `which` one less, ioprio_get/ioprio_set):
/// PRIO_PROCESS a thread id, PRIO_PGRP a process group's threads,
/// PRIO_USER a real user's threads (0: the caller's own). ESRCH for none.
fn priority_targets(ctx: &SyscallContext, which: u64, who: u64) -> Result<Vec<i32>, Errno> {
    let who = who as u32;
    let me = &ctx.task;
    let who = match (which, who) {
        (PRIO_PROCESS, 0) => me.tid as u32,
        (PRIO_PGRP, 0) => me.pgid() as u32,
        (PRIO_USER, 0) => me.creds.user[0],
        (PRIO_PROCESS | PRIO_PGRP | PRIO_USER, w) => w,
        _ => return Err(EINVAL),
    };
    let matches = |t: &Task| -> bool {
        match which {
            PRIO_PROCESS => t.tid as u32 == who,
            PRIO_PGRP => t.pgid() as u32 == who,
            _ => t.creds.user[0] == who,
        }
    };
    let mut out = Vec::new();
    if matches(me) {
        out.push(0);
    }
    for tid in sched::other_thread_ids() {
        if sched::modify_thread(tid, |t| matches(t)) == Some(true) {
            out.push(tid);
        }
    }
    if out.is_empty() {
        return Err(ESRCH);
    }
    Ok(out)
}

/// The raw syscall returns 20 - nice (1..40) of the highest-priority
/// thread named; libc turns it back.
pub fn sys_getpriority(ctx: &mut SyscallContext, which: u64, who: u64) -> SysResult {
    let mut best = i32::MAX;
    for tid in priority_targets(ctx, which, who)? {
        best = best.min(on_thread(ctx, tid as u64, |t| t.nice)?);
    }
    Ok((20 - best) as u64)
}

/// Linux's set_one_prio for each thread named: EPERM for another user's
/// thread, EACCES for lowering the nice value beyond RLIMIT_NICE without
/// CAP_SYS_NICE. Out-of-range values are clamped.
pub fn sys_setpriority(ctx: &mut SyscallContext, which: u64, who: u64, prio: i32) -> SysResult {
    let nice = prio.clamp(-20, 19);
    let privileged = ctx.task.creds.has_cap(CAP_SYS_NICE);
    let nice_floor = 20 - ctx.task.rlimits[RLIMIT_NICE].cur.min(40) as i32;
    let mut error = None;
    for tid in priority_targets(ctx, which, who)? {
        let (user, current) = on_thread(ctx, tid as u64, |t| (t.creds.user, t.nice))?;
        if !same_owner(ctx, user) {
            error = Some(EPERM);
            continue;
        }
        if nice < current && nice < nice_floor && !privileged {
            error = Some(EACCES);
            continue;
        }
        let real_tid = on_thread(ctx, tid as u64, |t| {
            t.nice = nice;
            t.tid
        })?;
        sched::set_nice(real_tid, nice);
    }
    match error {
        Some(e) => Err(e),
        None => Ok(0),
    }
}

/// Checks a new policy and priority (Linux's __sched_setscheduler):
/// EINVAL for an unknown policy or a priority that does not fit it, EPERM
/// for what needs CAP_SYS_NICE or another user's thread.
fn check_change(
    ctx: &SyscallContext,
    current: &SchedAttr,
    nice: i32,
    user: [u32; 3],
    new: &SchedAttr,
) -> Result<(), Errno> {
    match new.policy {
        SCHED_OTHER | SCHED_BATCH | SCHED_IDLE | SCHED_DEADLINE if new.priority == 0 => {}
        SCHED_FIFO | SCHED_RR if (1..=99).contains(&new.priority) => {}
        _ => return Err(EINVAL),
    }
    if new.policy == SCHED_DEADLINE {
        let period = if new.period == 0 {
            new.deadline
        } else {
            new.period
        };
        // Linux's __checkparam_dl (runtime at least 1024 ns, runtime <=
        // deadline <= period, periods within 100 us .. 4 s).
        if new.deadline == 0
            || new.runtime < 1024
            || (new.deadline | new.period) >> 63 != 0
            || period < new.deadline
            || new.deadline < new.runtime
            || !(100_000..=4_000_000_000).contains(&period)
        {
            return Err(EINVAL);
        }
    }
    if ctx.task.creds.has_cap(CAP_SYS_NICE) {
        return Ok(());
    }
    let rtprio = ctx.task.rlimits[RLIMIT_RTPRIO].cur;
    if is_realtime(new.policy) {
        if new.policy != current.policy && rtprio == 0 {
            return Err(EPERM);
        }
        if u64::from(new.priority) > u64::from(current.priority).max(rtprio) {
            return Err(EPERM);
        }
    }
    if new.policy == SCHED_DEADLINE {
        return Err(EPERM);
    }
    // Leaving SCHED_IDLE needs a nice value RLIMIT_NICE allows.
    let nice_floor = 20 - ctx.task.rlimits[RLIMIT_NICE].cur.min(40) as i32;
    if current.policy == SCHED_IDLE && new.policy != SCHED_IDLE && nice < nice_floor {
        return Err(EPERM);
    }
    if current.reset_on_fork && !new.reset_on_fork {
        return Err(EPERM);
    }
    if !same_owner(ctx, user) {
        return Err(EPERM);
    }
    Ok(())
}

/// Applies a checked change to thread `tid` and tells the run queue.
fn apply(ctx: &mut SyscallContext, tid: u64, new: SchedAttr, nice: Option<i32>) -> SysResult {
    let real_tid = on_thread(ctx, tid, |t| {
        t.sched = new;
        if let Some(nice) = nice {
            t.nice = nice;
        }
        t.tid
    })?;
    sched::set_rank(real_tid, new.rank());
    if let Some(nice) = nice {
        sched::set_nice(real_tid, nice);
    }
    Ok(0)
}

/// The target's (attributes, nice, user ids).
fn attrs_of(ctx: &mut SyscallContext, tid: u64) -> Result<(SchedAttr, i32, [u32; 3]), Errno> {
    on_thread(ctx, tid, |t| (t.sched, t.nice, t.creds.user))
}

fn read_priority(ctx: &mut SyscallContext, addr: u64) -> Result<u32, Errno> {
    let priority: i32 = UserPtr::<i32>::new(addr).read(&mut ctx.task.mm())?;
    // Negative priorities are out of every range.
    Ok(if priority < 0 {
        u32::MAX
    } else {
        priority as u32
    })
}

pub fn sys_sched_setscheduler(
    ctx: &mut SyscallContext,
    tid: u64,
    policy: i32,
    param: u64,
) -> SysResult {
    if param == 0 || (tid as i32) < 0 || policy < 0 {
        return Err(EINVAL);
    }
    let priority = read_priority(ctx, param)?;
    let (current, nice, user) = attrs_of(ctx, tid)?;
    let policy = policy as u32;
    let new = SchedAttr {
        policy: policy & !SCHED_RESET_ON_FORK,
        priority,
        reset_on_fork: policy & SCHED_RESET_ON_FORK != 0,
        ..SchedAttr::default()
    };
    // sched_setscheduler cannot set up SCHED_DEADLINE (no parameters).
    if new.policy == SCHED_DEADLINE {
        return Err(EINVAL);
    }
    check_change(ctx, &current, nice, user, &new)?;
    apply(ctx, tid, new, None)
}

pub fn sys_sched_setparam(ctx: &mut SyscallContext, tid: u64, param: u64) -> SysResult {
    if param == 0 || (tid as i32) < 0 {
        return Err(EINVAL);
    }
    let priority = read_priority(ctx, param)?;
    let (current, nice, user) = attrs_of(ctx, tid)?;
    let new = SchedAttr {
        priority,
        ..current
    };
    check_change(ctx, &current, nice, user, &new)?;
    apply(ctx, tid, new, None)
}

pub fn sys_sched_getscheduler(ctx: &mut SyscallContext, pid: u64) -> SysResult {
    let (attr, _, _) = attrs_of(ctx, pid)?;
    let flag = if attr.reset_on_fork {
        SCHED_RESET_ON_FORK
    } else {
        0
    };
    Ok(u64::from(attr.policy | flag))
}

pub fn sys_sched_getparam(ctx: &mut SyscallContext, pid: u64, param: UserPtr<i32>) -> SysResult {
    if param.is_null() || (pid as i32) < 0 {
        return Err(EINVAL);
    }
    let (attr, _, _) = attrs_of(ctx, pid)?;
    param.write(&mut ctx.task.mm(), &(attr.priority as i32))?;
    Ok(0)
}

/// struct sched_attr (VER1: with the utilization clamps, which are not
/// kept: setting them is EOPNOTSUPP as on a kernel without uclamp).
#[derive(Clone, Copy, Default, zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::Immutable)]
#[repr(C)]
struct RawSchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
    util_min: u32,
    util_max: u32,
}

pub fn sys_sched_setattr(ctx: &mut SyscallContext, tid: u64, addr: u64, flags: u32) -> SysResult {
    if addr == 0 || (tid as i32) < 0 || flags != 0 {
        return Err(EINVAL);
    }
    // The size the program's struct has (0: the first version); a larger
    // one must have zeros beyond what is known (else E2BIG, with the
    // known size written back).
    let size: u32 = UserPtr::<u32>::new(addr).read(&mut ctx.task.mm())?;
    let size = if size == 0 {
        SCHED_ATTR_SIZE_VER0
    } else {
        size
    };
    if !(SCHED_ATTR_SIZE_VER0..=4096).contains(&size) {
        UserPtr::new(addr).write(&mut ctx.task.mm(), &SCHED_ATTR_SIZE_VER1)?;
        return Err(E2BIG);
    }
    let mut bytes = alloc::vec![0u8; size as usize];
    ctx.task.mm().copy_from_user(addr, &mut bytes)?;
    if bytes.len() > SCHED_ATTR_SIZE_VER1 as usize
        && bytes[SCHED_ATTR_SIZE_VER1 as usize..]
            .iter()
            .any(|&b| b != 0)
    {
        UserPtr::new(addr).write(&mut ctx.task.mm(), &SCHED_ATTR_SIZE_VER1)?;
        return Err(E2BIG);
    }
    let mut raw = RawSchedAttr::default();
    let known = bytes.len().min(SCHED_ATTR_SIZE_VER1 as usize);
    zerocopy::IntoBytes::as_mut_bytes(&mut raw)[..known].copy_from_slice(&bytes[..known]);
    if raw.flags & !SCHED_FLAG_ALL != 0 || (raw.policy as i32) < 0 {
        return Err(EINVAL);
    }
    const SCHED_FLAG_UTIL_CLAMP: u64 = 0x60;
    if raw.flags & SCHED_FLAG_UTIL_CLAMP != 0 {
        return Err(EOPNOTSUPP);
    }
    let (current, nice, user) = attrs_of(ctx, tid)?;
    let mut new = SchedAttr {
        policy: raw.policy,
        priority: raw.priority,
        reset_on_fork: raw.flags & SCHED_FLAG_RESET_ON_FORK != 0,
        runtime: raw.runtime,
        deadline: raw.deadline,
        period: raw.period,
    };
    if raw.flags & SCHED_FLAG_KEEP_POLICY != 0 {
        new.policy = current.policy;
    }
    if raw.flags & SCHED_FLAG_KEEP_PARAMS != 0 {
        new.priority = current.priority;
        new.runtime = current.runtime;
        new.deadline = current.deadline;
        new.period = current.period;
    }
    if new.policy != SCHED_DEADLINE {
        new.runtime = 0;
        new.deadline = 0;
        new.period = 0;
    }
    check_change(ctx, &current, nice, user, &new)?;
    // The nice value comes along for the fair policies.
    let new_nice = matches!(new.policy, SCHED_OTHER | SCHED_BATCH).then(|| raw.nice.clamp(-20, 19));
    if let Some(n) = new_nice {
        let floor = 20 - ctx.task.rlimits[RLIMIT_NICE].cur.min(40) as i32;
        if n < nice && n < floor && !ctx.task.creds.has_cap(CAP_SYS_NICE) {
            return Err(EPERM);
        }
    }
    apply(ctx, tid, new, new_nice)
}

pub fn sys_sched_getattr(
    ctx: &mut SyscallContext,
    tid: u64,
    addr: u64,
    size: u32,
    flags: u32,
) -> SysResult {
    if addr == 0 || (tid as i32) < 0 || flags != 0 || !(SCHED_ATTR_SIZE_VER0..=4096).contains(&size)
    {
        return Err(EINVAL);
    }
    let (attr, nice, _) = attrs_of(ctx, tid)?;
    let out_size = size.min(SCHED_ATTR_SIZE_VER1);
    let raw = RawSchedAttr {
        size: out_size,
        policy: attr.policy,
        flags: if attr.reset_on_fork {
            SCHED_FLAG_RESET_ON_FORK
        } else {
            0
        },
        nice: if matches!(attr.policy, SCHED_OTHER | SCHED_BATCH) {
            nice
        } else {
            0
        },
        priority: attr.priority,
        runtime: attr.runtime,
        deadline: attr.deadline,
        period: attr.period,
        util_min: 0,
        util_max: 1024,
    };
    let bytes = zerocopy::IntoBytes::as_bytes(&raw);
    ctx.task
        .mm()
        .copy_to_user(addr, &bytes[..out_size as usize])?;
    Ok(0)
}

pub fn sys_sched_get_priority_max(_ctx: &mut SyscallContext, policy: u64) -> SysResult {
    match policy as u32 {
        SCHED_FIFO | SCHED_RR => Ok(99),
        // SCHED_DEADLINE has no static priority: 0, as Linux answers.
        SCHED_OTHER | SCHED_BATCH | SCHED_IDLE | SCHED_DEADLINE if policy >> 32 == 0 => Ok(0),
        _ => Err(EINVAL),
    }
}

pub fn sys_sched_get_priority_min(_ctx: &mut SyscallContext, policy: u64) -> SysResult {
    match policy as u32 {
        SCHED_FIFO | SCHED_RR => Ok(1),
        SCHED_OTHER | SCHED_BATCH | SCHED_IDLE | SCHED_DEADLINE if policy >> 32 == 0 => Ok(0),
        _ => Err(EINVAL),
    }
}

/// SCHED_RR threads have a 100 ms slice; SCHED_FIFO none (0). The fair
/// policies report the tick the sentry preempts at.
pub fn sys_sched_rr_get_interval(
    ctx: &mut SyscallContext,
    pid: u64,
    tp: UserPtr<[i64; 2]>,
) -> SysResult {
    let (attr, _, _) = attrs_of(ctx, pid)?;
    let ns = match attr.policy {
        SCHED_RR => RR_TIMESLICE_NS,
        SCHED_FIFO => 0,
        _ => FAIR_SLICE_NS,
    };
    let ts = [(ns / 1_000_000_000) as i64, (ns % 1_000_000_000) as i64];
    tp.write(&mut ctx.task.mm(), &ts)?;
    Ok(0)
}

pub fn sys_sched_getaffinity(
    ctx: &mut SyscallContext,
    tid: u64,
    len: u32,
    mask: UserPtr<u64>,
) -> SysResult {
    attrs_of(ctx, tid)?;
    if (len as usize) < core::mem::size_of::<u64>()
        || !(len as usize).is_multiple_of(core::mem::size_of::<u64>())
    {
        return Err(EINVAL);
    }
    // One vCPU: CPU 0.
    mask.write(&mut ctx.task.mm(), &1u64)?;
    Ok(8)
}

pub fn sys_sched_setaffinity(
    ctx: &mut SyscallContext,
    tid: u64,
    len: u64,
    mask: UserPtr<u8>,
) -> SysResult {
    let (_, _, user) = attrs_of(ctx, tid)?;
    if len == 0 {
        return Err(EINVAL);
    }
    let first: u8 = mask.read(&mut ctx.task.mm())?;
    if !same_owner(ctx, user) {
        return Err(EPERM);
    }
    if first & 1 == 0 {
        return Err(EINVAL); // no CPU of this machine in the set
    }
    Ok(0)
}

/// Another runnable thread goes first; alone, it returns at once.
pub fn sys_sched_yield(ctx: &mut SyscallContext) -> SysResult {
    ctx.task.switch_request = Some(super::SwitchRequest::Yield);
    Ok(0)
}

const IOPRIO_CLASS_RT: u16 = 1;
const IOPRIO_CLASS_BE: u16 = 2;
const IOPRIO_CLASS_IDLE: u16 = 3;
const IOPRIO_CLASS_SHIFT: u16 = 13;

/// ioprio_set: a class (none, real-time, best-effort, idle) and a level
/// (0..7) with hint bits, for the threads named (IOPRIO_WHO_PROCESS,
/// _PGRP, _USER). The sandbox's I/O goes through the VMM in order, so the
/// value is kept and reported, not weighed. Real-time needs CAP_SYS_NICE
/// (or CAP_SYS_ADMIN); another user's threads CAP_SYS_NICE.
pub fn sys_ioprio_set(ctx: &mut SyscallContext, which: u64, who: u64, value: u32) -> SysResult {
    const CAP_SYS_ADMIN: u32 = 21;
    if value > u16::MAX as u32 {
        return Err(EINVAL);
    }
    let value = value as u16;
    let class = value >> IOPRIO_CLASS_SHIFT;
    let level = value & 7;
    match class {
        0 if value != 0 => return Err(EINVAL),
        0 | IOPRIO_CLASS_BE | IOPRIO_CLASS_IDLE => {}
        IOPRIO_CLASS_RT => {
            if !ctx.task.creds.has_cap(CAP_SYS_NICE) && !ctx.task.creds.has_cap(CAP_SYS_ADMIN) {
                return Err(EPERM);
            }
        }
        _ => return Err(EINVAL),
    }
    let _ = level;
    let which = which.wrapping_sub(1);
    if which > PRIO_USER {
        return Err(EINVAL);
    }
    let mut error = None;
    for tid in priority_targets(ctx, which, who)? {
        let user = on_thread(ctx, tid as u64, |t| t.creds.user)?;
        let euid = ctx.task.creds.user[1];
        let ruid = ctx.task.creds.user[0];
        if user[0] != euid && user[0] != ruid && !ctx.task.creds.has_cap(CAP_SYS_NICE) {
            error = Some(EPERM);
            continue;
        }
        on_thread(ctx, tid as u64, |t| t.ioprio = value)?;
    }
    match error {
        Some(e) => Err(e),
        None => Ok(0),
    }
}

/// ioprio_get: a thread's own value (0 when none was set); for a group or
/// a user the best of their threads, none counting as best-effort at the
/// level the nice value gives (Linux's ioprio_best).
pub fn sys_ioprio_get(ctx: &mut SyscallContext, which: u64, who: u64) -> SysResult {
    let which = which.wrapping_sub(1);
    if which > PRIO_USER {
        return Err(EINVAL);
    }
    let targets = priority_targets(ctx, which, who)?;
    if which == PRIO_PROCESS {
        return Ok(u64::from(on_thread(ctx, targets[0] as u64, |t| t.ioprio)?));
    }
    let mut best: Option<u16> = None;
    for tid in targets {
        let (value, nice) = on_thread(ctx, tid as u64, |t| (t.ioprio, t.nice))?;
        let value = if value >> IOPRIO_CLASS_SHIFT == 0 {
            IOPRIO_CLASS_BE << IOPRIO_CLASS_SHIFT | ((nice + 20) / 5) as u16
        } else {
            value
        };
        // Lower class (real-time first), then lower level, is better.
        let key = |v: u16| (v >> IOPRIO_CLASS_SHIFT, v & 7);
        best = Some(match best {
            Some(b) if key(b) <= key(value) => b,
            _ => value,
        });
    }
    Ok(u64::from(best.unwrap_or(0)))
}
