//! Time syscalls (clocks, sleeps, POSIX timers, times and getrusage),
//! served from the guest TSC without leaving the VM, and getrandom from the
//! sentry's CSPRNG.

use super::SyscallContext;
use crate::sentry::errno::*;
use crate::sentry::mm::usermem::UserPtr;
use crate::sentry::time;

pub const CLOCK_REALTIME: u64 = 0;
pub const CLOCK_MONOTONIC: u64 = 1;
pub const CLOCK_PROCESS_CPUTIME_ID: u64 = 2;
pub const CLOCK_THREAD_CPUTIME_ID: u64 = 3;
const CLOCK_MONOTONIC_RAW: u64 = 4;
const CLOCK_REALTIME_COARSE: u64 = 5;
const CLOCK_MONOTONIC_COARSE: u64 = 6;
pub const CLOCK_BOOTTIME: u64 = 7;
const CLOCK_REALTIME_ALARM: u64 = 8;
const CLOCK_BOOTTIME_ALARM: u64 = 9;
const CLOCK_TAI: u64 = 11;

/// Nanoseconds on `clock`, or EINVAL for clocks we do not have. The
/// monotonic and boot-time clocks read as the caller's time namespace
/// sees them; absolute deadlines on them (clock_nanosleep, timers,
/// futexes) are compared with these values, so they are in the
/// namespace's time as well.
pub fn clock_ns(ctx: &SyscallContext, clock: u64) -> Result<u64, Errno> {
    match clock {
        CLOCK_REALTIME | CLOCK_REALTIME_COARSE => Ok(time::realtime_ns()),
        CLOCK_MONOTONIC | CLOCK_MONOTONIC_RAW | CLOCK_MONOTONIC_COARSE => {
            Ok(ctx.task.time_ns.view(clock, time::monotonic_ns()))
        }
        CLOCK_BOOTTIME | CLOCK_BOOTTIME_ALARM => {
            Ok(ctx.task.time_ns.view(clock, time::boottime_ns()))
        }
        // The alarm clocks read as their base clocks (they differ only in
        // waking a suspended machine); TAI runs with Linux's default
        // offset of 0 from UTC (no NTP daemon sets one in the sandbox).
        CLOCK_REALTIME_ALARM | CLOCK_TAI => Ok(time::realtime_ns()),
        // A thread's CPU time is its time on the vCPU (time the host
        // takes the vCPU away while it runs is counted too).
        CLOCK_THREAD_CPUTIME_ID => Ok(time::tsc_to_ns(ctx.task.cpu_time_ticks())),
        CLOCK_PROCESS_CPUTIME_ID => Ok(time::tsc_to_ns(process_cpu_ticks(ctx, ctx.task.pid))),
        c if (c as i32) < 0 => cpu_clock_ns(ctx, c as i32),
        _ => Err(EINVAL),
    }
}

/// The CPU time of process `pid`: its threads' (the running one's up to
/// now, the others' up to when they last left the CPU).
fn process_cpu_ticks(ctx: &SyscallContext, pid: i32) -> u64 {
    let own = if pid == ctx.task.pid {
        ctx.task.cpu_time_ticks()
    } else {
        0
    };
    crate::sentry::sched::thread_ids(pid)
        .into_iter()
        .filter(|&tid| tid != ctx.task.tid)
        .filter_map(|tid| crate::sentry::sched::inspect_thread(tid, |t| t.cpu_ticks))
        .fold(own, u64::wrapping_add)
}

/// The CPU-time clocks clock_getcpuclockid and pthread_getcpuclockid
/// make: `~id << 3 | per-thread (4) | which` (PROF, VIRT or SCHED, all
/// the same time here). A thread clock names a thread of the caller's
/// process (0: the caller); a process clock any process (0: the caller's).
/// EINVAL for anything else, as Linux answers.
fn cpu_clock_ns(ctx: &SyscallContext, clock: i32) -> Result<u64, Errno> {
    const CPUCLOCK_PERTHREAD: i32 = 4;
    const CPUCLOCK_MAX: i32 = 3;
    if clock & 3 >= CPUCLOCK_MAX {
        return Err(EINVAL);
    }
    let id = !(clock >> 3);
    let ticks = if clock & CPUCLOCK_PERTHREAD != 0 {
        if id == 0 || id == ctx.task.tid {
            ctx.task.cpu_time_ticks()
        } else {
            let same_process = crate::sentry::sched::process_of_thread(id) == Some(ctx.task.pid);
            if !same_process {
                return Err(EINVAL);
            }
            crate::sentry::sched::inspect_thread(id, |t| t.cpu_ticks).ok_or(EINVAL)?
        }
    } else {
        let pid = if id == 0 { ctx.task.pid } else { id };
        if pid != ctx.task.pid && crate::sentry::sched::process(pid).is_none() {
            return Err(EINVAL);
        }
        process_cpu_ticks(ctx, pid)
    };
    Ok(time::tsc_to_ns(ticks))
}

fn timespec(ns: u64) -> [i64; 2] {
    [(ns / 1_000_000_000) as i64, (ns % 1_000_000_000) as i64]
}

pub fn sys_clock_gettime(
    ctx: &mut SyscallContext,
    clockid: u64,
    tp: UserPtr<[i64; 2]>,
) -> SysResult {
    let ns = clock_ns(ctx, clockid)?;
    tp.write(&mut ctx.task.mm(), &timespec(ns))?;
    Ok(0)
}

pub fn sys_clock_getres(
    ctx: &mut SyscallContext,
    clockid: u64,
    res: UserPtr<[i64; 2]>,
) -> SysResult {
    clock_ns(ctx, clockid)?;
    if !res.is_null() {
        let resolution = match clockid {
            CLOCK_REALTIME_COARSE | CLOCK_MONOTONIC_COARSE => 4_000_000,
            _ => 1,
        };
        res.write(&mut ctx.task.mm(), &timespec(resolution))?;
    }
    Ok(0)
}

pub fn sys_gettimeofday(
    ctx: &mut SyscallContext,
    utv: UserPtr<[i64; 2]>,
    utz: UserPtr<[i32; 2]>,
) -> SysResult {
    if !utv.is_null() {
        let ns = time::realtime_ns();
        let tv = [
            (ns / 1_000_000_000) as i64,
            ((ns % 1_000_000_000) / 1000) as i64,
        ];
        utv.write(&mut ctx.task.mm(), &tv)?;
    }
    if !utz.is_null() {
        // struct timezone: UTC, no DST.
        utz.write(&mut ctx.task.mm(), &[0i32, 0i32])?;
    }
    Ok(0)
}

pub fn sys_time(ctx: &mut SyscallContext, tloc: UserPtr<u64>) -> SysResult {
    let seconds = time::realtime_ns() / 1_000_000_000;
    if !tloc.is_null() {
        tloc.write(&mut ctx.task.mm(), &seconds)?;
    }
    Ok(seconds)
}

pub fn sys_getrandom(ctx: &mut SyscallContext, addr: u64, len: u64, flags: u64) -> SysResult {
    const GRND_NONBLOCK: u64 = 1;
    const GRND_RANDOM: u64 = 2;
    const GRND_INSECURE: u64 = 4;
    if flags & !(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE) != 0
        || flags & (GRND_RANDOM | GRND_INSECURE) == (GRND_RANDOM | GRND_INSECURE)
    {
        return Err(EINVAL);
    }
    let len = len.min(0x7fff_f000) as usize;
    ctx.task
        .mm()
        .with_user_chunks(addr, len, crate::sentry::mm::Access::Write, |chunk| {
            let mut bytes = [0u8; crate::arch::PAGE_SIZE as usize];
            crate::sentry::random::fill(&mut bytes[..chunk.len]);
            chunk.write(&bytes[..chunk.len]);
        })?;
    Ok(len as u64)
}

/// Sleeps until `clock` reads `deadline_ns` (one request to the VMM, or a
/// few when an interval timer is armed). Err((EINTR, left)) when a signal
/// interrupts the sleep with `left` ns to go.
fn sleep_until(ctx: &mut SyscallContext, clock: u64, deadline_ns: u64) -> Result<(), (Errno, u64)> {
    // As a monotonic deadline (the sandbox's clocks never jump apart).
    let clock_now = clock_ns(ctx, clock).map_err(|e| (e, 0))?;
    let until = time::monotonic_ns().saturating_add(deadline_ns.saturating_sub(clock_now));
    loop {
        let now = clock_ns(ctx, clock).map_err(|e| (e, 0))?;
        if now >= deadline_ns {
            return Ok(());
        }
        if let Err(e) = crate::sentry::signal::wait(&mut ctx.task, &[], until, false) {
            let now = clock_ns(ctx, clock).unwrap_or(deadline_ns);
            return Err((e, deadline_ns.saturating_sub(now)));
        }
    }
}

/// Writes the time left of an interrupted sleep to `addr` (when not null).
fn write_remaining(ctx: &mut SyscallContext, addr: u64, left_ns: u64) -> Result<(), Errno> {
    if addr != 0 {
        let ts = [
            (left_ns / 1_000_000_000) as i64,
            (left_ns % 1_000_000_000) as i64,
        ];
        UserPtr::new(addr).write(&mut ctx.task.mm(), &ts)?;
    }
    Ok(())
}

/// A `struct itimerspec` { interval, value } as (interval ns, value ns).
pub fn read_itimerspec(ctx: &mut SyscallContext, addr: u64) -> Result<(u64, u64), Errno> {
    let raw: [i64; 4] = UserPtr::<[i64; 4]>::new(addr).read(&mut ctx.task.mm())?;
    let ns = |sec: i64, nsec: i64| {
        if sec < 0 || !(0..1_000_000_000).contains(&nsec) {
            return Err(EINVAL);
        }
        Ok((sec as u64)
            .saturating_mul(1_000_000_000)
            .saturating_add(nsec as u64))
    };
    Ok((ns(raw[0], raw[1])?, ns(raw[2], raw[3])?))
}

pub fn read_timespec(ctx: &mut SyscallContext, addr: u64) -> Result<u64, Errno> {
    let ts: [i64; 2] = UserPtr::<[i64; 2]>::new(addr).read(&mut ctx.task.mm())?;
    if ts[0] < 0 || !(0..1_000_000_000).contains(&ts[1]) {
        return Err(EINVAL);
    }
    Ok((ts[0] as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts[1] as u64))
}

pub fn sys_nanosleep(ctx: &mut SyscallContext, req: u64, rem: u64) -> SysResult {
    let duration = read_timespec(ctx, req)?;
    let deadline = crate::sentry::signal::wait_deadline(&mut ctx.task, duration);
    match sleep_until(ctx, CLOCK_MONOTONIC, deadline) {
        Ok(()) => Ok(0),
        Err((e, left)) => {
            write_remaining(ctx, rem, left)?;
            Err(e)
        }
    }
}

pub fn sys_clock_nanosleep(
    ctx: &mut SyscallContext,
    clock: u64,
    flags: u64,
    request: u64,
    remain: u64,
) -> SysResult {
    const TIMER_ABSTIME: u64 = 1;
    match clock {
        CLOCK_REALTIME | CLOCK_MONOTONIC | CLOCK_BOOTTIME | CLOCK_PROCESS_CPUTIME_ID => {}
        // Clocks Linux has but cannot sleep on (no nsleep in their k_clock).
        CLOCK_THREAD_CPUTIME_ID
        | CLOCK_MONOTONIC_RAW
        | CLOCK_REALTIME_COARSE
        | CLOCK_MONOTONIC_COARSE => return Err(EOPNOTSUPP),
        _ => return Err(EINVAL),
    }
    let value = read_timespec(ctx, request)?;
    let deadline = if flags & TIMER_ABSTIME != 0 {
        value
    } else {
        // Kept across a switch as a monotonic deadline, then converted.
        let mono = crate::sentry::signal::wait_deadline(&mut ctx.task, value);
        clock_ns(ctx, clock)?.saturating_add(mono.saturating_sub(time::monotonic_ns()))
    };
    match sleep_until(ctx, clock, deadline) {
        Ok(()) => Ok(0),
        Err((e, left)) => {
            if flags & TIMER_ABSTIME == 0 {
                write_remaining(ctx, remain, left)?;
            }
            Err(e)
        }
    }
}

/// Clock ticks (USER_HZ = 100) of `ns`.
fn ticks(ns: u64) -> u64 {
    ns / 10_000_000
}

/// Clock ticks of CPU time `ticks` (TSC).
pub fn clock_ticks(tsc: u64) -> u64 {
    ticks(time::tsc_to_ns(tsc))
}

pub fn sys_times(ctx: &mut SyscallContext, buf: UserPtr<[u64; 4]>) -> SysResult {
    if !buf.is_null() {
        let own = ctx.task.process_cpu_times();
        let children = ctx.task.process.children_cpu_times();
        let tms = [
            clock_ticks(own.user),
            clock_ticks(own.system),
            clock_ticks(children.user),
            clock_ticks(children.system),
        ];
        buf.write(&mut ctx.task.mm(), &tms)?;
    }
    Ok(ticks(time::boottime_ns()))
}

pub fn sys_getrusage(ctx: &mut SyscallContext, who: i32, ru: UserPtr<[i64; 18]>) -> SysResult {
    const RUSAGE_SELF: i64 = 0;
    const RUSAGE_CHILDREN: i64 = -1;
    const RUSAGE_THREAD: i64 = 1;
    let mut usage = [0i64; 18];
    // `who` is an int: the upper half of the register is not part of it.
    let who = who as i64;
    let times = match who {
        RUSAGE_SELF => ctx.task.process_cpu_times(),
        RUSAGE_THREAD => ctx.task.thread_cpu_times(),
        RUSAGE_CHILDREN => ctx.task.process.children_cpu_times(),
        _ => return Err(EINVAL),
    };
    usage[..4].copy_from_slice(&times.timevals());
    if who != RUSAGE_CHILDREN {
        let (_, rss_kb) = ctx.task.mm().usage_kb();
        usage[4] = rss_kb as i64; // ru_maxrss
        usage[8] = ctx.task.mm().page_faults as i64; // ru_minflt
    }
    ru.write(&mut ctx.task.mm(), &usage)?;
    Ok(0)
}

// --- POSIX timers ---------------------------------------------------------------

const SIGEV_SIGNAL: i32 = 0;
const SIGEV_NONE: i32 = 1;
const SIGEV_THREAD: i32 = 2;
const SIGEV_THREAD_ID: i32 = 4;
const TIMER_ABSTIME: u64 = 1;

pub fn sys_timer_create(
    ctx: &mut SyscallContext,
    clock: u64,
    sevp: UserPtr<[u64; 3]>,
    id_addr: UserPtr<i32>,
) -> SysResult {
    use crate::sentry::signal::{PosixTimer, MAX_POSIX_TIMERS, SIGALRM};
    let clock = match clock {
        CLOCK_REALTIME
        | CLOCK_MONOTONIC
        | CLOCK_PROCESS_CPUTIME_ID
        | CLOCK_THREAD_CPUTIME_ID
        | CLOCK_BOOTTIME => clock,
        // The alarm clocks only differ by waking a suspended machine.
        CLOCK_REALTIME_ALARM | CLOCK_TAI => CLOCK_REALTIME,
        CLOCK_BOOTTIME_ALARM => CLOCK_BOOTTIME,
        _ => return Err(EINVAL),
    };
    let id = {
        let timers = ctx.task.signals.process.timers.lock();
        (0..i32::MAX)
            .find(|id| !timers.posix.contains_key(id))
            .ok_or(EAGAIN)?
    };
    let mut thread = None;
    let notify = if sevp.is_null() {
        Some((SIGALRM, id as u64))
    } else {
        // struct sigevent { sigval value; int signo; int notify; int tid; ... }
        let raw: [u64; 3] = sevp.read(&mut ctx.task.mm())?;
        let value = raw[0];
        let (signo, notify, tid) = (
            raw[1] as u32 as i32,
            (raw[1] >> 32) as i32,
            raw[2] as u32 as i32,
        );
        match notify {
            SIGEV_NONE => None,
            // The kernel treats SIGEV_THREAD (libc's) as SIGEV_SIGNAL.
            SIGEV_SIGNAL | SIGEV_THREAD | SIGEV_THREAD_ID => {
                if !(1..=64).contains(&signo) {
                    return Err(EINVAL);
                }
                if notify == SIGEV_THREAD_ID {
                    // A thread of this process.
                    let ours = tid == ctx.task.tid
                        || crate::sentry::sched::with_parked_thread(tid, |t| t.pid)
                            == Some(ctx.task.pid);
                    if !ours {
                        return Err(EINVAL);
                    }
                    thread = Some(tid);
                }
                Some((signo as u8, value))
            }
            _ => return Err(EINVAL),
        }
    };
    if ctx.task.signals.process.timers.lock().posix.len() >= MAX_POSIX_TIMERS {
        return Err(EAGAIN);
    }
    id_addr.write(&mut ctx.task.mm(), &id)?;
    ctx.task.signals.process.timers.lock().posix.insert(
        id,
        PosixTimer {
            clock,
            notify,
            thread,
            deadline_ns: None,
            interval_ns: 0,
            overrun: 0,
            missed: 0,
        },
    );
    Ok(0)
}

fn posix_timer(ctx: &SyscallContext, id: u64) -> Result<crate::sentry::signal::PosixTimer, Errno> {
    ctx.task
        .signals
        .process
        .timers
        .lock()
        .posix
        .get(&(id as i32))
        .copied()
        .ok_or(EINVAL)
}

/// (interval, time left) as an itimerspec.
fn posix_timer_value(timer: &crate::sentry::signal::PosixTimer) -> [i64; 4] {
    let now = time::monotonic_ns();
    let left = timer
        .deadline_ns
        .map_or(0, |d| d.saturating_sub(now).max(1));
    let [i0, i1] = timespec(timer.interval_ns);
    let [l0, l1] = timespec(left);
    [i0, i1, l0, l1]
}

pub fn sys_timer_settime(
    ctx: &mut SyscallContext,
    id: u64,
    flags: u64,
    new: u64,
    old: UserPtr<[i64; 4]>,
) -> SysResult {
    let timer = posix_timer(ctx, id)?;
    if new == 0 {
        return Err(EINVAL);
    }
    let (interval, value) = read_itimerspec(ctx, new)?;
    if !old.is_null() {
        old.write(&mut ctx.task.mm(), &posix_timer_value(&timer))?;
    }
    let now = time::monotonic_ns();
    let mut missed = 0;
    let deadline = if value == 0 {
        None
    } else if flags & TIMER_ABSTIME != 0 {
        let clock_now = clock_ns(ctx, timer.clock)?;
        if value >= clock_now {
            Some(now.saturating_add(value - clock_now))
        } else {
            // Already past: the periods before now count as overruns. When
            // the start lies before the sandbox's monotonic clock began,
            // the whole periods go to `missed` and the deadline keeps the
            // phase.
            let late = clock_now - value;
            match late.checked_div(interval) {
                Some(periods) if late > now => {
                    missed = periods;
                    Some(now - (late % interval).min(now))
                }
                _ => Some(now - late.min(now)),
            }
        }
    } else {
        Some(now.saturating_add(value))
    };
    if let Some(timer) = ctx
        .task
        .signals
        .process
        .timers
        .lock()
        .posix
        .get_mut(&(id as i32))
    {
        timer.deadline_ns = deadline;
        timer.interval_ns = interval;
        timer.missed = missed;
    }
    Ok(0)
}

pub fn sys_timer_gettime(ctx: &mut SyscallContext, timerid: u64, curr_value: u64) -> SysResult {
    let timer = posix_timer(ctx, timerid)?;
    ctx.task
        .mm()
        .write_val(curr_value, &posix_timer_value(&timer))?;
    Ok(0)
}

pub fn sys_timer_getoverrun(ctx: &mut SyscallContext, timerid: u64) -> SysResult {
    Ok(posix_timer(ctx, timerid)?.overrun as u64)
}

pub fn sys_timer_delete(ctx: &mut SyscallContext, timerid: i32) -> SysResult {
    ctx.task
        .signals
        .process
        .timers
        .lock()
        .posix
        .remove(&timerid)
        .map(|_| 0)
        .ok_or(EINVAL)
}

/// Setting the clocks needs CAP_SYS_TIME, which the sandbox never grants:
/// the host's time is not the program's to change.
pub fn sys_clock_settime(ctx: &mut SyscallContext, clockid: u64, tp: u64) -> SysResult {
    clock_ns(ctx, clockid)?;
    read_timespec(ctx, tp)?;
    Err(EPERM)
}

pub fn sys_settimeofday(ctx: &mut SyscallContext, utv: UserPtr<[i64; 2]>) -> SysResult {
    if !utv.is_null() {
        let tv: [i64; 2] = utv.read(&mut ctx.task.mm())?;
        if tv[0] < 0 || !(0..1_000_000).contains(&tv[1]) {
            return Err(EINVAL);
        }
    }
    Err(EPERM)
}
