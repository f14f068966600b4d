//! The x86_64 syscall table: Linux x86_64 numbers onto the arch-neutral
//! handlers. docs/syscalls.md is generated from this table
//! (`rvisor-vmm --print-syscall-table`), so it cannot drift.

use super::fdops::*;
use super::io::*;
use super::memory::*;
use super::path::*;
use super::process::*;
use super::signal::*;
use super::system::*;
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
    0 read => sys_read, Full;
    1 write => sys_write, Full;
    2 open => sys_open, Partial("no O_TMPFILE");
    3 close => sys_close, Full;
    4 stat => sys_stat, Full;
    5 fstat => sys_fstat, Full;
    6 lstat => sys_lstat, Full;
    7 poll => sys_poll, Full;
    8 lseek => sys_lseek, Partial("no SEEK_DATA/SEEK_HOLE");
    9 mmap => sys_mmap, Partial("shared mappings of host files are written back at msync/munmap/exit, not coherent with read/write in between; pages past the end of a file read as zeros");
    10 mprotect => sys_mprotect, Partial("no PROT_GROWSDOWN/PROT_GROWSUP");
    11 munmap => sys_munmap, Full;
    12 brk => sys_brk, Full;
    13 rt_sigaction => sys_rt_sigaction, Partial("recorded and reported; handlers are not invoked yet");
    14 rt_sigprocmask => sys_rt_sigprocmask, Full;
    16 ioctl => sys_ioctl, Partial("TCGETS, TIOCGWINSZ on a console that is a host tty; FIONREAD, FIONBIO, FIOCLEX, FIONCLEX");
    17 pread64 => sys_pread64, Full;
    18 pwrite64 => sys_pwrite64, Full;
    19 readv => sys_readv, Full;
    20 writev => sys_writev, Full;
    21 access => sys_access, Full;
    22 pipe => sys_pipe, Full;
    23 select => sys_select, Full;
    25 mremap => sys_mremap, Partial("no MREMAP_DONTUNMAP");
    26 msync => sys_msync, Full;
    24 sched_yield => sys_sched_yield, Full;
    28 madvise => sys_madvise, Partial("DONTNEED/FREE zero anonymous pages; other advice is accepted as a hint");
    32 dup => sys_dup, Full;
    33 dup2 => sys_dup2, Full;
    35 nanosleep => sys_nanosleep, Full;
    39 getpid => sys_getpid, Full;
    40 sendfile => sys_sendfile, Full;
    60 exit => sys_exit, Partial("ends the process (there is one thread)");
    63 uname => sys_uname, Full;
    72 fcntl => sys_fcntl, Partial("F_DUPFD(_CLOEXEC), F_GETFD/SETFD, F_GETFL/SETFL, F_GETPIPE_SZ; record locks are always granted (one process)");
    73 flock => sys_flock, Partial("one process: every lock is granted");
    74 fsync => sys_fsync, Full;
    75 fdatasync => sys_fsync, Full;
    76 truncate => sys_truncate, Full;
    77 ftruncate => sys_ftruncate, Full;
    79 getcwd => sys_getcwd, Full;
    80 chdir => sys_chdir, Full;
    81 fchdir => sys_fchdir, Full;
    82 rename => sys_rename, Full;
    83 mkdir => sys_mkdir, Full;
    84 rmdir => sys_rmdir, Full;
    85 creat => sys_creat, Full;
    86 link => sys_link, Full;
    87 unlink => sys_unlink, Full;
    88 symlink => sys_symlink, Full;
    89 readlink => sys_readlink, Full;
    90 chmod => sys_chmod, Full;
    91 fchmod => sys_fchmod, Full;
    92 chown => sys_chown, Full;
    93 fchown => sys_fchown, Full;
    94 lchown => sys_lchown, Full;
    95 umask => sys_umask, Full;
    96 gettimeofday => sys_gettimeofday, Full;
    98 getrusage => sys_getrusage, Partial("utime is the thread's wall time; no children yet");
    97 getrlimit => sys_getrlimit, Partial("limits are recorded, not enforced except RLIMIT_NOFILE");
    99 sysinfo => sys_sysinfo, Full;
    100 times => sys_times, Partial("the thread's wall time counts as user time");
    102 getuid => sys_getuid, Full;
    104 getgid => sys_getgid, Full;
    105 setuid => sys_setuid, Partial("credentials are recorded; file permission checks are not enforced");
    106 setgid => sys_setgid, Partial("credentials are recorded; file permission checks are not enforced");
    107 geteuid => sys_geteuid, Full;
    108 getegid => sys_getegid, Full;
    109 setpgid => sys_setpgid, Partial("one process: it stays its own group");
    110 getppid => sys_getppid, Full;
    111 getpgrp => sys_getpgrp, Full;
    112 setsid => sys_setsid, Full;
    113 setreuid => sys_setreuid, Partial("credentials are recorded; file permission checks are not enforced");
    114 setregid => sys_setregid, Partial("credentials are recorded; file permission checks are not enforced");
    115 getgroups => sys_getgroups, Full;
    116 setgroups => sys_setgroups, Full;
    117 setresuid => sys_setresuid, Partial("credentials are recorded; file permission checks are not enforced");
    118 getresuid => sys_getresuid, Full;
    119 setresgid => sys_setresgid, Partial("credentials are recorded; file permission checks are not enforced");
    120 getresgid => sys_getresgid, Full;
    121 getpgid => sys_getpgid, Full;
    124 getsid => sys_getsid, Full;
    135 personality => sys_personality, Partial("recorded; no execution domain changes behaviour");
    131 sigaltstack => sys_sigaltstack, Partial("recorded; used once signal delivery exists");
    137 statfs => sys_statfs, Partial("sizes of the in-memory filesystems; host mounts report the same");
    138 fstatfs => sys_fstatfs, Partial("sizes of the in-memory filesystems; host mounts report the same");
    158 arch_prctl => sys_arch_prctl, Partial("ARCH_SET/GET_FS, ARCH_SET/GET_GS");
    160 setrlimit => sys_setrlimit, Partial("limits are recorded, not enforced except RLIMIT_NOFILE");
    186 gettid => sys_gettid, Full;
    201 time => sys_time, Full;
    203 sched_setaffinity => sys_sched_setaffinity, Full;
    204 sched_getaffinity => sys_sched_getaffinity, Full;
    217 getdents64 => sys_getdents64, Full;
    218 set_tid_address => sys_set_tid_address, Partial("recorded; cleared on thread exit once threads exist");
    228 clock_gettime => sys_clock_gettime, Partial("CPU-time clocks count wall time of the single thread");
    229 clock_getres => sys_clock_getres, Full;
    230 clock_nanosleep => sys_clock_nanosleep, Full;
    231 exit_group => sys_exit_group, Full;
    257 openat => sys_openat, Partial("no O_TMPFILE");
    258 mkdirat => sys_mkdirat, Full;
    260 fchownat => sys_fchownat, Full;
    262 newfstatat => sys_newfstatat, Full;
    263 unlinkat => sys_unlinkat, Full;
    264 renameat => sys_renameat, Full;
    265 linkat => sys_linkat, Full;
    266 symlinkat => sys_symlinkat, Full;
    267 readlinkat => sys_readlinkat, Full;
    268 fchmodat => sys_fchmodat, Full;
    269 faccessat => sys_faccessat, Full;
    270 pselect6 => sys_pselect6, Partial("the signal mask is not applied during the wait");
    271 ppoll => sys_ppoll, Partial("the signal mask is not applied during the wait");
    273 set_robust_list => sys_set_robust_list, Partial("recorded; used once threads exist");
    280 utimensat => sys_utimensat, Full;
    285 fallocate => sys_fallocate, Partial("mode 0 and KEEP_SIZE; space is not reserved ahead; no hole punching");
    292 dup3 => sys_dup3, Full;
    293 pipe2 => sys_pipe2, Full;
    295 preadv => sys_preadv, Full;
    296 pwritev => sys_pwritev, Full;
    302 prlimit64 => sys_prlimit64, Partial("limits are recorded, not enforced except RLIMIT_NOFILE");
    309 getcpu => sys_getcpu, Full;
    316 renameat2 => sys_renameat2, Partial("RENAME_NOREPLACE, RENAME_EXCHANGE; no RENAME_WHITEOUT");
    318 getrandom => sys_getrandom, Full;
    326 copy_file_range => sys_copy_file_range, Full;
    332 statx => sys_statx, Partial("basic fields; no birth time");
    436 close_range => sys_close_range, Partial("no CLOSE_RANGE_UNSHARE");
    439 faccessat2 => sys_faccessat2, Full;
}

pub static TABLE: [Option<SyscallDef>; MAX_SYSCALLS] = index_table(DEFS);

/// The command that prints this table (docs/syscalls.md).
pub const GENERATED_BY: &str = "rvisor-vmm --print-syscall-table";

pub fn name_of(nr: u64) -> Option<&'static str> {
    SYSCALL_NAMES
        .iter()
        .find(|(n, _)| *n as u64 == nr)
        .map(|(_, name)| *name)
}
