//! seccomp: a thread's syscall filter (Linux's seccomp(2)).
//!
//! Strict mode allows read, write, exit and rt_sigreturn. Filter mode runs
//! classic BPF programs over `struct seccomp_data` at every syscall entry,
//! newest first; the action of highest precedence wins. Programs are
//! checked at load as Linux checks them (`check`: the instructions seccomp
//! allows, jump targets, scratch memory written before it is read) and
//! then run by a small interpreter (`run`). A thread's filters are a chain
//! shared with the threads and children that inherited it.

use alloc::sync::Arc;
use alloc::vec::Vec;

use super::errno::{Errno, EINVAL};

pub const MODE_DISABLED: u32 = 0;
pub const MODE_STRICT: u32 = 1;
pub const MODE_FILTER: u32 = 2;

pub const RET_KILL_PROCESS: u32 = 0x8000_0000;
pub const RET_KILL_THREAD: u32 = 0;
pub const RET_TRAP: u32 = 0x0003_0000;
pub const RET_ERRNO: u32 = 0x0005_0000;
pub const RET_USER_NOTIF: u32 = 0x7fc0_0000;
pub const RET_TRACE: u32 = 0x7ff0_0000;
pub const RET_LOG: u32 = 0x7ffc_0000;
pub const RET_ALLOW: u32 = 0x7fff_0000;
const RET_ACTION_FULL: u32 = 0xffff_0000;
const RET_DATA: u32 = 0x0000_ffff;

/// BPF_MAXINSNS: the longest program.
pub const MAX_INSNS: usize = 4096;
/// Linux's limit on a thread's filters: instructions in total (each
/// filter counted with 4 more, MAX_INSNS_PER_PATH).
const MAX_INSNS_PER_PATH: usize = (1 << 18) / 8;
/// BPF_MEMWORDS: the scratch memory.
const MEM_WORDS: usize = 16;
/// sizeof(struct seccomp_data).
pub const DATA_SIZE: usize = 64;

/// One classic BPF instruction (`struct sock_filter`).
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

/// A loaded filter and the ones installed before it.
pub struct Filter {
    insns: Vec<Insn>,
    prev: Option<Arc<Filter>>,
}

/// A thread's seccomp state (inherited by fork and clone, kept by execve).
#[derive(Clone, Default)]
pub struct Seccomp {
    pub mode: u32,
    pub filter: Option<Arc<Filter>>,
}

impl Seccomp {
    /// How many filters the thread has (/proc/<pid>/status
    /// Seccomp_filters).
    pub fn filter_count(&self) -> usize {
        let mut count = 0;
        let mut at = self.filter.as_deref();
        while let Some(f) = at {
            count += 1;
            at = f.prev.as_deref();
        }
        count
    }

    /// Adds a checked program on top of the thread's filters.
    pub fn push(&mut self, insns: Vec<Insn>) -> Result<(), Errno> {
        let mut total = insns.len() + 4;
        let mut at = self.filter.as_deref();
        while let Some(f) = at {
            total += f.insns.len() + 4;
            at = f.prev.as_deref();
        }
        if total > MAX_INSNS_PER_PATH {
            return Err(super::errno::ENOMEM);
        }
        self.filter = Some(Arc::new(Filter {
            insns,
            prev: self.filter.take(),
        }));
        self.mode = MODE_FILTER;
        Ok(())
    }

    /// Whether `other`'s filters are this thread's or an ancestor of them
    /// (TSYNC may only extend a thread's filters).
    pub fn descends_from(&self, other: &Seccomp) -> bool {
        let Some(theirs) = other.filter.as_ref() else {
            return true;
        };
        let mut at = self.filter.as_ref();
        while let Some(f) = at {
            if Arc::ptr_eq(f, theirs) {
                return true;
            }
            at = f.prev.as_ref();
        }
        false
    }

    /// The filters' verdict on a syscall: the return value of highest
    /// precedence (lowest action as a signed number, Linux's ACTION_ONLY).
    pub fn evaluate(&self, data: &[u8; DATA_SIZE]) -> u32 {
        let mut verdict = RET_ALLOW;
        let mut at = self.filter.as_deref();
        while let Some(f) = at {
            let ret = run(&f.insns, data);
            if ((ret & RET_ACTION_FULL) as i32) < ((verdict & RET_ACTION_FULL) as i32) {
                verdict = ret;
            }
            at = f.prev.as_deref();
        }
        verdict
    }
}

/// What a verdict asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Allow,
    /// Skip the call; it returns -errno (0: it returns 0).
    Errno(u16),
    /// Skip the call and send SIGSYS (si_errno: the data).
    Trap(u16),
    /// A PTRACE_EVENT_SECCOMP stop for a tracer that asked; else ENOSYS.
    Trace(u16),
    /// A user-notification listener would decide; without one, ENOSYS.
    UserNotif,
    /// Allow, and log (Linux logs to the audit log).
    Log,
    KillThread,
    KillProcess,
}

pub fn action_of(ret: u32) -> Action {
    let data = (ret & RET_DATA) as u16;
    match ret & RET_ACTION_FULL {
        RET_ALLOW => Action::Allow,
        RET_ERRNO => Action::Errno(data.min(4095)),
        RET_TRAP => Action::Trap(data),
        RET_TRACE => Action::Trace(data),
        RET_USER_NOTIF => Action::UserNotif,
        RET_LOG => Action::Log,
        RET_KILL_THREAD => Action::KillThread,
        // KILL_PROCESS and anything unknown (Linux's default case).
        _ => Action::KillProcess,
    }
}

/// Whether seccomp knows `action` (SECCOMP_GET_ACTION_AVAIL).
pub fn action_available(action: u32) -> bool {
    matches!(
        action,
        RET_KILL_PROCESS
            | RET_KILL_THREAD
            | RET_TRAP
            | RET_ERRNO
            | RET_USER_NOTIF
            | RET_TRACE
            | RET_LOG
            | RET_ALLOW
    )
}

/// `struct seccomp_data` for a syscall: nr, arch, instruction pointer,
/// arguments (native byte order).
pub fn data(nr: u64, arch: u32, ip: u64, args: [u64; 6]) -> [u8; DATA_SIZE] {
    let mut out = [0u8; DATA_SIZE];
    out[0..4].copy_from_slice(&(nr as u32).to_ne_bytes());
    out[4..8].copy_from_slice(&arch.to_ne_bytes());
    out[8..16].copy_from_slice(&ip.to_ne_bytes());
    for (i, arg) in args.iter().enumerate() {
        out[16 + i * 8..24 + i * 8].copy_from_slice(&arg.to_ne_bytes());
    }
    out
}

// --- classic BPF ----------------------------------------------------------------

const LD: u16 = 0x00;
const LDX: u16 = 0x01;
const ST: u16 = 0x02;
const STX: u16 = 0x03;
const ALU: u16 = 0x04;
const JMP: u16 = 0x05;
const RET: u16 = 0x06;
const MISC: u16 = 0x07;
const W: u16 = 0x00;
const IMM: u16 = 0x00;
const ABS: u16 = 0x20;
const MEM: u16 = 0x60;
const LEN: u16 = 0x80;
const K: u16 = 0x00;
const X: u16 = 0x08;
const RET_A: u16 = 0x10;
const ADD: u16 = 0x00;
const SUB: u16 = 0x10;
const MUL: u16 = 0x20;
const DIV: u16 = 0x30;
const OR: u16 = 0x40;
const AND: u16 = 0x50;
const LSH: u16 = 0x60;
const RSH: u16 = 0x70;
const NEG: u16 = 0x80;
const XOR: u16 = 0xa0;
const JA: u16 = 0x00;
const JEQ: u16 = 0x10;
const JGT: u16 = 0x20;
const JGE: u16 = 0x30;
const JSET: u16 = 0x40;
const TAX: u16 = 0x00;
const TXA: u16 = 0x80;

/// Checks a program as Linux's bpf_check_classic and seccomp_check_filter
/// do, rewriting the length loads into immediates. EINVAL when invalid.
pub fn check(insns: &mut [Insn]) -> Result<(), Errno> {
    let len = insns.len();
    if len == 0 || len > MAX_INSNS {
        return Err(EINVAL);
    }
    // Scratch words known written on every path to each instruction
    // (jumps only go forward).
    let mut written = alloc::vec![u16::MAX; len];
    written[0] = 0;
    for pc in 0..len {
        let insn = &mut insns[pc];
        let (code, k) = (insn.code, insn.k);
        let valid = written[pc];
        let mut valid_after = valid;
        let class = code & 0x07;
        match code {
            c if c == LD | W | ABS => {
                if k as usize >= DATA_SIZE || k & 3 != 0 {
                    return Err(EINVAL);
                }
            }
            c if c == LD | W | LEN => {
                *insn = Insn {
                    code: LD | IMM,
                    k: DATA_SIZE as u32,
                    ..*insn
                }
            }
            c if c == LDX | W | LEN => {
                *insn = Insn {
                    code: LDX | IMM,
                    k: DATA_SIZE as u32,
                    ..*insn
                }
            }
            c if c == LD | IMM || c == LDX | IMM => {}
            c if c == LD | MEM || c == LDX | MEM => {
                if k as usize >= MEM_WORDS || valid & (1 << k) == 0 {
                    return Err(EINVAL);
                }
            }
            c if c == ST || c == STX => {
                if k as usize >= MEM_WORDS {
                    return Err(EINVAL);
                }
                valid_after |= 1 << k;
            }
            c if c == RET | K || c == RET | RET_A => {}
            c if c == MISC | TAX || c == MISC | TXA => {}
            c if c == ALU | NEG => {}
            c if class == ALU => {
                let op = c & 0xf0;
                if !matches!(op, ADD | SUB | MUL | DIV | OR | AND | LSH | RSH | XOR)
                    || c & !0xf8 != ALU
                {
                    return Err(EINVAL);
                }
                if c & X == 0 && (op == DIV && k == 0 || matches!(op, LSH | RSH) && k >= 32) {
                    return Err(EINVAL);
                }
            }
            c if c == JMP | JA => {
                let target = pc as u64 + 1 + k as u64;
                if target >= len as u64 {
                    return Err(EINVAL);
                }
                let t = target as usize;
                written[t] &= valid_after;
                continue;
            }
            c if class == JMP => {
                if !matches!(c & 0xf0, JEQ | JGT | JGE | JSET) || c & !0xf8 != JMP {
                    return Err(EINVAL);
                }
                let (t, f) = (pc + 1 + insn.jt as usize, pc + 1 + insn.jf as usize);
                if t >= len || f >= len {
                    return Err(EINVAL);
                }
                written[t] &= valid_after;
                written[f] &= valid_after;
                continue;
            }
            _ => return Err(EINVAL),
        }
        if class != RET && pc + 1 < len {
            written[pc + 1] &= valid_after;
        }
    }
    if insns[len - 1].code & 0x07 != RET {
        return Err(EINVAL);
    }
    Ok(())
}

/// Runs a checked program over `data`; its return value.
fn run(insns: &[Insn], data: &[u8; DATA_SIZE]) -> u32 {
    let (mut a, mut x) = (0u32, 0u32);
    let mut mem = [0u32; MEM_WORDS];
    let mut pc = 0;
    while let Some(insn) = insns.get(pc) {
        pc += 1;
        let k = insn.k;
        let class = insn.code & 0x07;
        let src = if insn.code & X != 0 { x } else { k };
        match class {
            LD => match insn.code & 0xe0 {
                ABS => {
                    let at = k as usize;
                    let mut word = [0u8; 4];
                    word.copy_from_slice(&data[at..at + 4]);
                    a = u32::from_ne_bytes(word);
                }
                MEM => a = mem[k as usize],
                _ => a = k,
            },
            LDX => match insn.code & 0xe0 {
                MEM => x = mem[k as usize],
                _ => x = k,
            },
            ST => mem[k as usize] = a,
            STX => mem[k as usize] = x,
            ALU => {
                a = match insn.code & 0xf0 {
                    ADD => a.wrapping_add(src),
                    SUB => a.wrapping_sub(src),
                    MUL => a.wrapping_mul(src),
                    DIV => match a.checked_div(src) {
                        Some(q) => q,
                        // Division by X == 0 ends the program with 0.
                        None => return 0,
                    },
                    OR => a | src,
                    AND => a & src,
                    LSH => a.checked_shl(src).unwrap_or(0),
                    RSH => a.checked_shr(src).unwrap_or(0),
                    XOR => a ^ src,
                    _ => a.wrapping_neg(),
                }
            }
            JMP => {
                let taken = match insn.code & 0xf0 {
                    JA => {
                        pc += k as usize;
                        continue;
                    }
                    JEQ => a == src,
                    JGT => a > src,
                    JGE => a >= src,
                    _ => a & src != 0,
                };
                pc += if taken { insn.jt } else { insn.jf } as usize;
            }
            RET => return if insn.code & RET_A != 0 { a } else { k },
            _ => {
                if insn.code & TXA != 0 {
                    a = x;
                } else {
                    x = a;
                }
            }
        }
    }
    // Checked programs end in a return.
    RET_KILL_PROCESS
}
