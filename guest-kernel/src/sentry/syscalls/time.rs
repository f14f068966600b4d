//! Time syscalls, served from the guest TSC without leaving the VM, and
//! getrandom from the sentry's CSPRNG.

use super::SyscallContext;
use crate::sentry::errno::*;
use crate::sentry::time;

const CLOCK_REALTIME: u64 = 0;
const CLOCK_MONOTONIC: u64 = 1;
const CLOCK_PROCESS_CPUTIME_ID: u64 = 2;
const CLOCK_THREAD_CPUTIME_ID: u64 = 3;
const CLOCK_MONOTONIC_RAW: u64 = 4;
const CLOCK_REALTIME_COARSE: u64 = 5;
const CLOCK_MONOTONIC_COARSE: u64 = 6;
const CLOCK_BOOTTIME: u64 = 7;

/// Nanoseconds on `clock`, or EINVAL for clocks we do not have.
fn clock_ns(ctx: &SyscallContext, clock: u64) -> Result<u64, Errno> {
    match clock {
        CLOCK_REALTIME | CLOCK_REALTIME_COARSE => Ok(time::realtime_ns()),
        CLOCK_MONOTONIC | CLOCK_MONOTONIC_RAW | CLOCK_MONOTONIC_COARSE | CLOCK_BOOTTIME => {
            Ok(time::monotonic_ns())
        }
        // One thread on a vCPU of its own: its CPU time is the time since it
        // started (time spent blocked on the host is counted too).
        CLOCK_PROCESS_CPUTIME_ID | CLOCK_THREAD_CPUTIME_ID => Ok(time::tsc_to_ns(
            crate::arch::cpu::rdtsc().wrapping_sub(ctx.task.start_tsc),
        )),
        _ => Err(EINVAL),
    }
}

fn timespec(ns: u64) -> [i64; 2] {
    [(ns / 1_000_000_000) as i64, (ns % 1_000_000_000) as i64]
}

pub fn sys_clock_gettime(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let ns = clock_ns(ctx, args[0])?;
    ctx.task.mm().write_val(args[1], &timespec(ns))?;
    Ok(0)
}

pub fn sys_clock_getres(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    clock_ns(ctx, args[0])?;
    if args[1] != 0 {
        let resolution = match args[0] {
            CLOCK_REALTIME_COARSE | CLOCK_MONOTONIC_COARSE => 4_000_000,
            _ => 1,
        };
        ctx.task.mm().write_val(args[1], &timespec(resolution))?;
    }
    Ok(0)
}

pub fn sys_gettimeofday(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    if args[0] != 0 {
        let ns = time::realtime_ns();
        let tv = [
            (ns / 1_000_000_000) as i64,
            ((ns % 1_000_000_000) / 1000) as i64,
        ];
        ctx.task.mm().write_val(args[0], &tv)?;
    }
    if args[1] != 0 {
        // struct timezone: UTC, no DST.
        ctx.task.mm().write_val(args[1], &[0i32, 0i32])?;
    }
    Ok(0)
}

pub fn sys_time(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    let seconds = time::realtime_ns() / 1_000_000_000;
    if args[0] != 0 {
        ctx.task.mm().write_val(args[0], &seconds)?;
    }
    Ok(seconds)
}

pub fn sys_getrandom(ctx: &mut SyscallContext, args: [u64; 6]) -> SysResult {
    const GRND_NONBLOCK: u64 = 1;
    const GRND_RANDOM: u64 = 2;
    const GRND_INSECURE: u64 = 4;
    let (addr, len, flags) = (args[0], args[1], args[2]);
    if flags & !(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE) != 0
        || flags & (GRND_RANDOM | GRND_INSECURE) == (GRND_RANDOM | GRND_INSECURE)
    {
        return Err(EINVAL);
    }
    let len = len.min(0x7fff_f000) as usize;
    ctx.task
        .mm()
        .with_user_chunks(addr, len, crate::sentry::mm::Access::Write, |chunk| {
            crate::sentry::random::fill(chunk)
        })?;
    Ok(len as u64)
}
