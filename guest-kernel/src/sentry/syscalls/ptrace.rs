//! ptrace(2): the tracer's requests. The tracee's side (its stops, what it
//! leaves for the tracer) is `sentry::ptrace`; wait4/waitid report the
//! stops (`spawn.rs`).

use alloc::sync::Arc;
use alloc::vec::Vec;

use super::SyscallContext;
use crate::arch::ptrace as archp;
use crate::sentry::errno::*;
use crate::sentry::mm::usermem::UserPtr;
use crate::sentry::ptrace::{Tracee, PTRACE_O_MASK};
use crate::sentry::sched::{self, TaskCell};
use crate::sentry::signal::{SigInfo, SIGKILL, SIGSTOP, SI_KERNEL};

const PTRACE_TRACEME: u64 = 0;
const PTRACE_PEEKTEXT: u64 = 1;
const PTRACE_PEEKDATA: u64 = 2;
const PTRACE_PEEKUSR: u64 = 3;
const PTRACE_POKETEXT: u64 = 4;
const PTRACE_POKEDATA: u64 = 5;
const PTRACE_POKEUSR: u64 = 6;
const PTRACE_CONT: u64 = 7;
const PTRACE_KILL: u64 = 8;
const PTRACE_SINGLESTEP: u64 = 9;
const PTRACE_GETREGS: u64 = 12;
const PTRACE_SETREGS: u64 = 13;
const PTRACE_GETFPREGS: u64 = 14;
const PTRACE_SETFPREGS: u64 = 15;
const PTRACE_ATTACH: u64 = 16;
const PTRACE_DETACH: u64 = 17;
const PTRACE_SYSCALL: u64 = 24;
const PTRACE_SETOPTIONS: u64 = 0x4200;
const PTRACE_GETEVENTMSG: u64 = 0x4201;
const PTRACE_GETSIGINFO: u64 = 0x4202;
const PTRACE_SETSIGINFO: u64 = 0x4203;
const PTRACE_GETREGSET: u64 = 0x4204;
const PTRACE_SETREGSET: u64 = 0x4205;
const PTRACE_SEIZE: u64 = 0x4206;
const PTRACE_INTERRUPT: u64 = 0x4207;
const PTRACE_GETSIGMASK: u64 = 0x420a;
const PTRACE_SETSIGMASK: u64 = 0x420b;

const NT_PRSTATUS: u64 = 1;
const NT_PRFPREG: u64 = 2;
const NT_X86_XSTATE: u64 = 0x202;

const CAP_SYS_PTRACE: u64 = 1 << 19;
/// SUID_DUMP_USER: the process may be dumped (and traced) by its owner.
const SUID_DUMP_USER: u64 = 1;

pub fn sys_ptrace(
    ctx: &mut SyscallContext,
    request: u64,
    pid: i32,
    addr: u64,
    data: u64,
) -> SysResult {
    if request == PTRACE_TRACEME {
        return traceme(ctx);
    }
    if pid <= 0 || pid == ctx.task.tid {
        // Never found as a tracee of the caller (ATTACH to itself: EPERM).
        return if pid == ctx.task.tid && matches!(request, PTRACE_ATTACH | PTRACE_SEIZE) {
            Err(EPERM)
        } else {
            Err(ESRCH)
        };
    }
    let cell = sched::thread_cell(pid).ok_or(ESRCH)?;
    if matches!(request, PTRACE_ATTACH | PTRACE_SEIZE) {
        return attach(ctx, &cell, request == PTRACE_SEIZE, addr, data);
    }
    // Linux's ptrace_check_attach: the caller's own tracee, stopped
    // (PTRACE_KILL and PTRACE_INTERRUPT need no stop).
    {
        let t = cell.ptrace.lock();
        let mine = t.tracer_tid == ctx.task.tid && t.traced();
        let needs_stop = !matches!(request, PTRACE_KILL | PTRACE_INTERRUPT);
        if !mine || (needs_stop && !t.stopped) {
            return Err(ESRCH);
        }
    }
    match request {
        PTRACE_PEEKTEXT | PTRACE_PEEKDATA => {
            let mut word = [0u8; 8];
            let memory = cell.lock().memory.clone();
            memory
                .lock()
                .read_forced(addr, &mut word)
                .map_err(|_| EIO)?;
            UserPtr::new(data).write(&mut ctx.task.mm(), &u64::from_le_bytes(word))?;
            Ok(0)
        }
        PTRACE_POKETEXT | PTRACE_POKEDATA => {
            let memory = cell.lock().memory.clone();
            let result = memory.lock().write_forced(addr, &data.to_le_bytes());
            result.map_err(|_| EIO)?;
            Ok(0)
        }
        PTRACE_PEEKUSR if archp::HAS_USER_AREA => {
            let value = peek_user(&cell.ptrace.lock(), addr)?;
            UserPtr::new(data).write(&mut ctx.task.mm(), &value)?;
            Ok(0)
        }
        PTRACE_POKEUSR if archp::HAS_USER_AREA => {
            poke_user(&mut cell.ptrace.lock(), addr, data)?;
            Ok(0)
        }
        PTRACE_GETREGS if archp::HAS_LEGACY_REGS => {
            let words = regs_of(&cell.ptrace.lock())?;
            UserPtr::new(data).write(&mut ctx.task.mm(), &words)?;
            Ok(0)
        }
        PTRACE_SETREGS if archp::HAS_LEGACY_REGS => {
            let words: [u64; archp::USER_REGS_WORDS] =
                UserPtr::new(data).read(&mut ctx.task.mm())?;
            set_regs(&mut cell.ptrace.lock(), &words)?;
            Ok(0)
        }
        PTRACE_GETFPREGS if archp::HAS_LEGACY_REGS => {
            let fpregs = cell.ptrace.lock().fpregs.clone();
            ctx.task.mm().copy_to_user(data, &fpregs)?;
            Ok(0)
        }
        PTRACE_SETFPREGS if archp::HAS_LEGACY_REGS => {
            let mut fpregs = alloc::vec![0u8; archp::FPREGS_SIZE];
            ctx.task.mm().copy_from_user(data, &mut fpregs)?;
            set_fpregs(&mut cell.ptrace.lock(), 0, &fpregs);
            Ok(0)
        }
        PTRACE_GETREGSET => get_regset(ctx, &cell, addr, data),
        PTRACE_SETREGSET => set_regset(ctx, &cell, addr, data),
        PTRACE_CONT | PTRACE_SYSCALL | PTRACE_SINGLESTEP => resume(&cell, request, data),
        PTRACE_DETACH => detach(&cell, data),
        PTRACE_KILL => {
            // Linux (since 5.19): SIGKILL, as kill() would send it.
            let info = SigInfo::new(SIGKILL, SI_KERNEL);
            sched::with_parked_thread(pid, |task| task.signals.send(info));
            Ok(0)
        }
        PTRACE_INTERRUPT => {
            let mut t = cell.ptrace.lock();
            if !t.seized {
                return Err(EIO);
            }
            if !t.stopped {
                t.interrupt = true;
                drop(t);
                sched::wake(&cell);
            }
            Ok(0)
        }
        PTRACE_SETOPTIONS => {
            if data & !(PTRACE_O_MASK as u64) != 0 {
                return Err(EINVAL);
            }
            cell.ptrace.lock().options = data as u32;
            Ok(0)
        }
        PTRACE_GETEVENTMSG => {
            let msg = cell.ptrace.lock().event_msg;
            UserPtr::new(data).write(&mut ctx.task.mm(), &msg)?;
            Ok(0)
        }
        PTRACE_GETSIGINFO => {
            let info = cell.ptrace.lock().siginfo.ok_or(EINVAL)?;
            UserPtr::new(data).write(&mut ctx.task.mm(), &info)?;
            Ok(0)
        }
        PTRACE_SETSIGINFO => {
            let info: SigInfo = UserPtr::new(data).read(&mut ctx.task.mm())?;
            let mut t = cell.ptrace.lock();
            if t.siginfo.is_none() {
                return Err(EINVAL);
            }
            t.siginfo = Some(info);
            Ok(0)
        }
        PTRACE_GETSIGMASK => {
            if addr != 8 {
                return Err(EINVAL);
            }
            let mask = cell.lock().signals.mask;
            UserPtr::new(data).write(&mut ctx.task.mm(), &mask)?;
            Ok(0)
        }
        PTRACE_SETSIGMASK => {
            if addr != 8 {
                return Err(EINVAL);
            }
            let mask: u64 = UserPtr::new(data).read(&mut ctx.task.mm())?;
            cell.lock().signals.mask = mask & !crate::sentry::signal::UNBLOCKABLE;
            Ok(0)
        }
        _ => Err(EIO),
    }
}

/// PTRACE_TRACEME: the parent becomes the tracer. EPERM when already
/// traced, or when there is no parent in the sandbox to trace it.
fn traceme(ctx: &mut SyscallContext) -> SysResult {
    let cell = ctx.task.cell().clone();
    let ppid = ctx.task.ppid();
    if ctx.task.signals.traced || cell.ptrace.lock().traced() {
        return Err(EPERM);
    }
    let parent = sched::process(ppid).ok_or(EPERM)?;
    // The real parent's main thread (or any) is the tracing thread.
    let tracer_tid = if sched::thread_ids(ppid).contains(&ppid) {
        ppid
    } else {
        *sched::thread_ids(ppid).first().ok_or(EPERM)?
    };
    let mut t = cell.ptrace.lock();
    t.tracer = parent.pid;
    t.tracer_tid = tracer_tid;
    t.seized = false;
    t.options = 0;
    drop(t);
    ctx.task.signals.traced = true;
    Ok(0)
}

/// PTRACE_ATTACH / PTRACE_SEIZE (Linux's ptrace_attach).
fn attach(
    ctx: &mut SyscallContext,
    cell: &Arc<TaskCell>,
    seize: bool,
    addr: u64,
    data: u64,
) -> SysResult {
    if seize && (addr != 0 || data & !(PTRACE_O_MASK as u64) != 0) {
        return Err(EIO);
    }
    if cell.pid() == ctx.task.pid {
        return Err(EPERM);
    }
    // PTRACE_MODE_ATTACH_REALCREDS: the caller's real ids are all of the
    // target's and the target is dumpable, or CAP_SYS_PTRACE.
    let (dumpable, already) = {
        let task = cell.lock();
        (task.dumpable, task.signals.traced)
    };
    let ids = *cell.process.view.ids.lock();
    let (uid, gid) = (ctx.task.creds.user[0], ctx.task.creds.group[0]);
    let same = ids.uid.iter().all(|&u| u == uid) && ids.gid.iter().all(|&g| g == gid);
    let privileged = ctx.task.creds.caps().effective & CAP_SYS_PTRACE != 0;
    if !(privileged || (same && dumpable == SUID_DUMP_USER)) {
        return Err(EPERM);
    }
    if already || cell.ptrace.lock().traced() || cell.process.has_exited() {
        return Err(EPERM);
    }
    let job_stopped = cell.process.stopped();
    {
        let mut t = cell.ptrace.lock();
        t.tracer = ctx.task.pid;
        t.tracer_tid = ctx.task.tid;
        t.seized = seize;
        t.options = if seize { data as u32 } else { 0 };
        if job_stopped {
            // It stays stopped, now as a tracee: the tracer is told at its
            // next wait (Linux's JOBCTL_TRAP_STOP); its registers were
            // saved when it stopped.
            t.stopped = true;
            t.attached_to_stopped = true;
            t.resume = None;
            t.siginfo = None;
            t.report = Some(if seize {
                SIGSTOP as u32 | crate::sentry::ptrace::PTRACE_EVENT_STOP << 16
            } else {
                SIGSTOP as u32
            });
        }
    }
    let tid = cell.tid();
    sched::with_parked_thread(tid, |task| {
        task.signals.traced = true;
        if !seize {
            task.signals.send(SigInfo::new(SIGSTOP, SI_KERNEL));
        }
    });
    Ok(0)
}

/// PTRACE_CONT, PTRACE_SYSCALL, PTRACE_SINGLESTEP (Linux's ptrace_resume).
fn resume(cell: &Arc<TaskCell>, request: u64, data: u64) -> SysResult {
    if data > crate::sentry::signal::NSIG as u64 {
        return Err(EIO);
    }
    let mut t = cell.ptrace.lock();
    let step = request == PTRACE_SINGLESTEP;
    if step {
        // The registers are applied by the tracee when it resumes.
        let mut probe = t.regs.ok_or(ESRCH)?;
        let mut extra = t.extra;
        if !archp::set_single_step(&mut probe, &mut extra, true) {
            return Err(EIO);
        }
    }
    t.single_step = step;
    t.syscall_trace = request == PTRACE_SYSCALL;
    // The tracee applies single-stepping to its registers when it resumes.
    t.regs_dirty |= step;
    t.resume = Some(data as u8);
    drop(t);
    sched::wake(cell);
    Ok(0)
}

/// PTRACE_DETACH: the tracee goes on (with signal `data`), untraced.
fn detach(cell: &Arc<TaskCell>, data: u64) -> SysResult {
    if data > crate::sentry::signal::NSIG as u64 {
        return Err(EIO);
    }
    {
        let mut t = cell.ptrace.lock();
        t.unlink();
        t.regs_dirty = true;
        t.resume = Some(data as u8);
    }
    sched::with_parked_thread(cell.tid(), |task| task.signals.traced = false);
    Ok(0)
}

fn regs_of(t: &Tracee) -> Result<[u64; archp::USER_REGS_WORDS], Errno> {
    let regs = t.regs.as_ref().ok_or(ESRCH)?;
    Ok(archp::user_regs(regs, &t.extra))
}

/// Writes the registers word by word, as Linux's putreg loop: a bad word
/// stops it (EIO) with the earlier ones written.
fn set_regs(t: &mut Tracee, words: &[u64]) -> Result<(), Errno> {
    let mut regs = t.regs.ok_or(ESRCH)?;
    let mut extra = t.extra;
    let mut result = Ok(());
    for (index, &value) in words.iter().enumerate() {
        result = archp::set_user_reg(&mut regs, &mut extra, index, value);
        if result.is_err() {
            break;
        }
    }
    t.regs = Some(regs);
    t.extra = extra;
    t.regs_dirty = true;
    result
}

/// Replaces bytes [at, at + bytes.len()) of the FP registers.
fn set_fpregs(t: &mut Tracee, at: usize, bytes: &[u8]) {
    let end = (at + bytes.len()).min(t.fpregs.len());
    if at < end {
        t.fpregs[at..end].copy_from_slice(&bytes[..end - at]);
        t.fpregs_dirty = true;
    }
}

/// PEEKUSER: a word of `struct user` (x86_64): registers, debug
/// registers, 0 elsewhere; EIO when unaligned or past its end.
fn peek_user(t: &Tracee, addr: u64) -> Result<u64, Errno> {
    // aarch64 has no `struct user` (USER_AREA_SIZE is 0): always EIO there.
    #[allow(clippy::absurd_extreme_comparisons)]
    if addr & 7 != 0 || addr >= archp::USER_AREA_SIZE {
        return Err(EIO);
    }
    let index = (addr / 8) as usize;
    if index < archp::USER_REGS_WORDS {
        return Ok(regs_of(t)?[index]);
    }
    if (archp::DEBUGREG_OFFSET..archp::DEBUGREG_OFFSET + 64).contains(&addr) {
        let n = ((addr - archp::DEBUGREG_OFFSET) / 8) as usize;
        return Ok(archp::get_debugreg(&t.debugreg, n));
    }
    Ok(0)
}

/// POKEUSER: registers and debug registers; anything else EIO.
fn poke_user(t: &mut Tracee, addr: u64, value: u64) -> Result<(), Errno> {
    // aarch64 has no `struct user` (USER_AREA_SIZE is 0): always EIO there.
    #[allow(clippy::absurd_extreme_comparisons)]
    if addr & 7 != 0 || addr >= archp::USER_AREA_SIZE {
        return Err(EIO);
    }
    let index = (addr / 8) as usize;
    if index < archp::USER_REGS_WORDS {
        let mut regs = t.regs.ok_or(ESRCH)?;
        let mut extra = t.extra;
        archp::set_user_reg(&mut regs, &mut extra, index, value)?;
        t.regs = Some(regs);
        t.extra = extra;
        t.regs_dirty = true;
        return Ok(());
    }
    if (archp::DEBUGREG_OFFSET..archp::DEBUGREG_OFFSET + 64).contains(&addr) {
        let n = ((addr - archp::DEBUGREG_OFFSET) / 8) as usize;
        return archp::set_debugreg(&mut t.debugreg, n, value);
    }
    Err(EIO)
}

/// The regset `note` of the stopped tracee as bytes, and its element size.
fn regset_bytes(t: &Tracee, note: u64) -> Result<(Vec<u8>, usize), Errno> {
    match note {
        NT_PRSTATUS => {
            let words = regs_of(t)?;
            let bytes = words.iter().flat_map(|w| w.to_le_bytes()).collect();
            Ok((bytes, 8))
        }
        NT_PRFPREG => Ok((t.fpregs.clone(), archp::FPREGS_ELEMENT)),
        NT_X86_XSTATE => {
            let size = archp::xstate_size().ok_or(EINVAL)?;
            Ok((archp::xstate_from_fpregs(&t.fpregs, size), 8))
        }
        _ => Err(EINVAL),
    }
}

/// Reads the caller's `struct iovec` at `addr`.
fn read_iovec(ctx: &mut SyscallContext, addr: u64) -> Result<(u64, u64), Errno> {
    let iov: [u64; 2] = UserPtr::new(addr).read(&mut ctx.task.mm())?;
    Ok((iov[0], iov[1]))
}

/// PTRACE_GETREGSET: at most iov_len bytes (a multiple of the regset's
/// element size, else EINVAL); iov_len becomes what was written.
fn get_regset(ctx: &mut SyscallContext, cell: &Arc<TaskCell>, note: u64, data: u64) -> SysResult {
    let (base, len) = read_iovec(ctx, data)?;
    let (bytes, element) = regset_bytes(&cell.ptrace.lock(), note)?;
    let len = (len as usize).min(bytes.len());
    if len % element != 0 {
        return Err(EINVAL);
    }
    ctx.task.mm().copy_to_user(base, &bytes[..len])?;
    UserPtr::new(data + 8).write(&mut ctx.task.mm(), &(len as u64))?;
    Ok(0)
}

/// PTRACE_SETREGSET: the first iov_len bytes of the regset (the XSAVE
/// one only whole, as Linux's xstateregs_set: EFAULT otherwise).
fn set_regset(ctx: &mut SyscallContext, cell: &Arc<TaskCell>, note: u64, data: u64) -> SysResult {
    let (base, len) = read_iovec(ctx, data)?;
    let (current, element) = regset_bytes(&cell.ptrace.lock(), note)?;
    let len = (len as usize).min(current.len());
    if len % element != 0 {
        return Err(EINVAL);
    }
    let mut bytes = alloc::vec![0u8; len];
    ctx.task.mm().copy_from_user(base, &mut bytes)?;
    let mut t = cell.ptrace.lock();
    match note {
        NT_PRSTATUS => {
            let words: Vec<u64> = bytes
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
                .collect();
            set_regs(&mut t, &words)?;
        }
        NT_PRFPREG => set_fpregs(&mut t, 0, &bytes),
        _ => {
            if len != current.len() {
                return Err(EFAULT);
            }
            let fpregs = archp::fpregs_from_xstate(&bytes, &t.fpregs)?;
            set_fpregs(&mut t, 0, &fpregs);
        }
    }
    UserPtr::new(data + 8).write(&mut ctx.task.mm(), &(len as u64))?;
    Ok(0)
}
