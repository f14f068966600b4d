//! The x86_64 syscall table: Linux x86_64 numbers onto the arch-neutral
//! handlers. docs/syscalls.md is generated from this table
//! (`rvisor-vmm --print-syscall-table`), so it cannot drift.

use super::fs::*;
use super::memory::*;
use super::process::*;
use super::signal::*;
use super::time::*;
use super::Support::{Full, Partial};
use super::{index_table, SyscallDef, MAX_SYSCALLS};
use crate::arch::x86_64::syscall_names::SYSCALL_NAMES;

macro_rules! syscalls {
    ($( $nr:literal $name:ident => $handler:ident, $support:expr; )*) => {
        pub const DEFS: &[SyscallDef] = &[
            $( SyscallDef { nr: $nr, name: stringify!($name), handler: $handler, support: $support }, )*
        ];
    };
}

syscalls! {
    0 read => sys_read, Partial("console and the executable file only; no other files yet");
    1 write => sys_write, Partial("console only; no writable files yet");
    2 open => sys_open, Partial("only the executable's path and /proc/self/exe exist; read-only");
    3 close => sys_close, Full;
    4 stat => sys_stat, Partial("only the executable's path exists");
    5 fstat => sys_fstat, Full;
    6 lstat => sys_lstat, Partial("only the executable's path exists");
    7 poll => sys_poll, Partial("console and executable file; no pipes or sockets yet");
    8 lseek => sys_lseek, Partial("no SEEK_DATA/SEEK_HOLE");
    9 mmap => sys_mmap, Partial("anonymous mappings only; file mappings give ENODEV");
    10 mprotect => sys_mprotect, Partial("no PROT_GROWSDOWN/PROT_GROWSUP");
    11 munmap => sys_munmap, Full;
    12 brk => sys_brk, Full;
    13 rt_sigaction => sys_rt_sigaction, Partial("recorded and reported; handlers are not invoked yet");
    14 rt_sigprocmask => sys_rt_sigprocmask, Full;
    16 ioctl => sys_ioctl, Partial("TCGETS, TIOCGWINSZ on a console that is a host tty; FIOCLEX, FIONCLEX");
    17 pread64 => sys_pread64, Full;
    18 pwrite64 => sys_pwrite64, Partial("no writable seekable files yet");
    19 readv => sys_readv, Full;
    20 writev => sys_writev, Full;
    28 madvise => sys_madvise, Partial("DONTNEED/FREE zero anonymous pages; other advice is accepted as a hint");
    32 dup => sys_dup, Full;
    33 dup2 => sys_dup2, Full;
    39 getpid => sys_getpid, Full;
    60 exit => sys_exit, Partial("ends the process (there is one thread)");
    63 uname => sys_uname, Full;
    72 fcntl => sys_fcntl, Partial("F_DUPFD, F_DUPFD_CLOEXEC, F_GETFD, F_SETFD, F_GETFL, F_SETFL; no locks");
    89 readlink => sys_readlink, Partial("/proc/self/exe only");
    96 gettimeofday => sys_gettimeofday, Full;
    97 getrlimit => sys_getrlimit, Partial("limits are recorded, not enforced except RLIMIT_NOFILE");
    102 getuid => sys_getuid, Full;
    104 getgid => sys_getuid, Full;
    107 geteuid => sys_getuid, Full;
    108 getegid => sys_getuid, Full;
    110 getppid => sys_getppid, Full;
    131 sigaltstack => sys_sigaltstack, Partial("recorded; used once signal delivery exists");
    158 arch_prctl => sys_arch_prctl, Partial("ARCH_SET/GET_FS, ARCH_SET/GET_GS");
    160 setrlimit => sys_setrlimit, Partial("limits are recorded, not enforced except RLIMIT_NOFILE");
    186 gettid => sys_gettid, Full;
    201 time => sys_time, Full;
    218 set_tid_address => sys_set_tid_address, Partial("recorded; cleared on thread exit once threads exist");
    228 clock_gettime => sys_clock_gettime, Partial("CPU-time clocks count wall time of the single thread");
    229 clock_getres => sys_clock_getres, Full;
    231 exit_group => sys_exit_group, Full;
    257 openat => sys_openat, Partial("only the executable's path and /proc/self/exe exist; read-only");
    262 newfstatat => sys_newfstatat, Partial("only the executable's path exists");
    267 readlinkat => sys_readlinkat, Partial("/proc/self/exe only");
    271 ppoll => sys_ppoll, Partial("as poll; the signal mask is not applied during the wait");
    273 set_robust_list => sys_set_robust_list, Partial("recorded; used once threads exist");
    292 dup3 => sys_dup3, Full;
    295 preadv => sys_preadv, Full;
    296 pwritev => sys_pwritev, Partial("no writable seekable files yet");
    302 prlimit64 => sys_prlimit64, Partial("limits are recorded, not enforced except RLIMIT_NOFILE");
    318 getrandom => sys_getrandom, Full;
}

pub static TABLE: [Option<SyscallDef>; MAX_SYSCALLS] = index_table(DEFS);

pub fn name_of(nr: u64) -> Option<&'static str> {
    SYSCALL_NAMES
        .iter()
        .find(|(n, _)| *n as u64 == nr)
        .map(|(_, name)| *name)
}
