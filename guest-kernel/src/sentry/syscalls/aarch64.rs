//! The aarch64 syscall table: the Linux generic (asm-generic/unistd.h)
//! numbers onto the same arch-neutral handlers as the x86_64 table. Calls
//! that only exist on x86_64 (open, stat, pipe, dup2, poll, select,
//! arch_prctl, ...) have no entry here: aarch64 programs use the *at/2/3
//! forms. docs/syscalls-aarch64.md is generated from this table
//! (`qemu-runner --board qemu-aarch64-virt --print-syscall-table`), so it
//! cannot drift.

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
use crate::arch::aarch64::syscall_names::SYSCALL_NAMES;

macro_rules! syscalls {
    ($( $nr:literal $name:ident => $handler:ident, $support:expr; )*) => {
        pub const DEFS: &[SyscallDef] = &[
            $( SyscallDef { nr: $nr, name: stringify!($name), handler: $handler, support: $support }, )*
        ];
    };
}

syscalls! {
    17 getcwd => sys_getcwd, Full;
    23 dup => sys_dup, Full;
    24 dup3 => sys_dup3, Full;
    25 fcntl => sys_fcntl, Partial("F_DUPFD(_CLOEXEC), F_GETFD/SETFD, F_GETFL/SETFL, F_GETPIPE_SZ; record locks are always granted (one process)");
    29 ioctl => sys_ioctl, Partial("TCGETS, TIOCGWINSZ on a console that is a host tty; FIONREAD, FIONBIO, FIOCLEX, FIONCLEX");
    32 flock => sys_flock, Partial("one process: every lock is granted");
    34 mkdirat => sys_mkdirat, Full;
    35 unlinkat => sys_unlinkat, Full;
    36 symlinkat => sys_symlinkat, Full;
    37 linkat => sys_linkat, Full;
    38 renameat => sys_renameat, Full;
    43 statfs => sys_statfs, Partial("sizes of the in-memory filesystems; host mounts report the same");
    44 fstatfs => sys_fstatfs, Partial("sizes of the in-memory filesystems; host mounts report the same");
    45 truncate => sys_truncate, Full;
    46 ftruncate => sys_ftruncate, Full;
    47 fallocate => sys_fallocate, Partial("mode 0 and KEEP_SIZE; space is not reserved ahead; no hole punching");
    48 faccessat => sys_faccessat, Full;
    49 chdir => sys_chdir, Full;
    50 fchdir => sys_fchdir, Full;
    52 fchmod => sys_fchmod, Full;
    53 fchmodat => sys_fchmodat, Full;
    54 fchownat => sys_fchownat, Full;
    55 fchown => sys_fchown, Full;
    56 openat => sys_openat, Partial("no O_TMPFILE");
    57 close => sys_close, Full;
    59 pipe2 => sys_pipe2, Full;
    61 getdents64 => sys_getdents64, Full;
    62 lseek => sys_lseek, Partial("no SEEK_DATA/SEEK_HOLE");
    63 read => sys_read, Full;
    64 write => sys_write, Full;
    65 readv => sys_readv, Full;
    66 writev => sys_writev, Full;
    67 pread64 => sys_pread64, Full;
    68 pwrite64 => sys_pwrite64, Full;
    69 preadv => sys_preadv, Full;
    70 pwritev => sys_pwritev, Full;
    71 sendfile => sys_sendfile, Full;
    72 pselect6 => sys_pselect6, Partial("the signal mask is not applied during the wait");
    73 ppoll => sys_ppoll, Partial("the signal mask is not applied during the wait");
    78 readlinkat => sys_readlinkat, Full;
    79 newfstatat => sys_newfstatat, Full;
    80 fstat => sys_fstat, Full;
    82 fsync => sys_fsync, Full;
    83 fdatasync => sys_fsync, Full;
    88 utimensat => sys_utimensat, Full;
    92 personality => sys_personality, Partial("recorded; no execution domain changes behaviour");
    93 exit => sys_exit, Partial("ends the process (there is one thread)");
    94 exit_group => sys_exit_group, Full;
    96 set_tid_address => sys_set_tid_address, Partial("recorded; cleared on thread exit once threads exist");
    99 set_robust_list => sys_set_robust_list, Partial("recorded; used once threads exist");
    101 nanosleep => sys_nanosleep, Full;
    113 clock_gettime => sys_clock_gettime, Partial("CPU-time clocks count wall time of the single thread");
    114 clock_getres => sys_clock_getres, Full;
    115 clock_nanosleep => sys_clock_nanosleep, Full;
    122 sched_setaffinity => sys_sched_setaffinity, Full;
    123 sched_getaffinity => sys_sched_getaffinity, Full;
    124 sched_yield => sys_sched_yield, Full;
    132 sigaltstack => sys_sigaltstack, Partial("recorded; used once signal delivery exists");
    134 rt_sigaction => sys_rt_sigaction, Partial("recorded and reported; handlers are not invoked yet");
    135 rt_sigprocmask => sys_rt_sigprocmask, Full;
    143 setregid => sys_setregid, Partial("credentials are recorded; file permission checks are not enforced");
    144 setgid => sys_setgid, Partial("credentials are recorded; file permission checks are not enforced");
    145 setreuid => sys_setreuid, Partial("credentials are recorded; file permission checks are not enforced");
    146 setuid => sys_setuid, Partial("credentials are recorded; file permission checks are not enforced");
    147 setresuid => sys_setresuid, Partial("credentials are recorded; file permission checks are not enforced");
    148 getresuid => sys_getresuid, Full;
    149 setresgid => sys_setresgid, Partial("credentials are recorded; file permission checks are not enforced");
    150 getresgid => sys_getresgid, Full;
    153 times => sys_times, Partial("the thread's wall time counts as user time");
    154 setpgid => sys_setpgid, Partial("one process: it stays its own group");
    155 getpgid => sys_getpgid, Full;
    156 getsid => sys_getsid, Full;
    157 setsid => sys_setsid, Full;
    158 getgroups => sys_getgroups, Full;
    159 setgroups => sys_setgroups, Full;
    160 uname => sys_uname, Full;
    163 getrlimit => sys_getrlimit, Partial("limits are recorded, not enforced except RLIMIT_NOFILE");
    164 setrlimit => sys_setrlimit, Partial("limits are recorded, not enforced except RLIMIT_NOFILE");
    165 getrusage => sys_getrusage, Partial("utime is the thread's wall time; no children yet");
    166 umask => sys_umask, Full;
    168 getcpu => sys_getcpu, Full;
    169 gettimeofday => sys_gettimeofday, Full;
    172 getpid => sys_getpid, Full;
    173 getppid => sys_getppid, Full;
    174 getuid => sys_getuid, Full;
    175 geteuid => sys_geteuid, Full;
    176 getgid => sys_getgid, Full;
    177 getegid => sys_getegid, Full;
    178 gettid => sys_gettid, Full;
    179 sysinfo => sys_sysinfo, Full;
    214 brk => sys_brk, Full;
    215 munmap => sys_munmap, Full;
    216 mremap => sys_mremap, Partial("no MREMAP_DONTUNMAP");
    222 mmap => sys_mmap, Partial("shared mappings of host files are written back at msync/munmap/exit, not coherent with read/write in between; pages past the end of a file read as zeros");
    226 mprotect => sys_mprotect, Partial("no PROT_GROWSDOWN/PROT_GROWSUP");
    227 msync => sys_msync, Full;
    233 madvise => sys_madvise, Partial("DONTNEED/FREE zero anonymous pages; other advice is accepted as a hint");
    261 prlimit64 => sys_prlimit64, Partial("limits are recorded, not enforced except RLIMIT_NOFILE");
    276 renameat2 => sys_renameat2, Partial("RENAME_NOREPLACE, RENAME_EXCHANGE; no RENAME_WHITEOUT");
    278 getrandom => sys_getrandom, Full;
    285 copy_file_range => sys_copy_file_range, Full;
    291 statx => sys_statx, Partial("basic fields; no birth time");
    436 close_range => sys_close_range, Partial("no CLOSE_RANGE_UNSHARE");
    439 faccessat2 => sys_faccessat2, Full;
}

pub static TABLE: [Option<SyscallDef>; MAX_SYSCALLS] = index_table(DEFS);

/// The command that prints this table (docs/syscalls-aarch64.md).
pub const GENERATED_BY: &str = "qemu-runner --board qemu-aarch64-virt --print-syscall-table";

pub fn name_of(nr: u64) -> Option<&'static str> {
    SYSCALL_NAMES
        .iter()
        .find(|(n, _)| *n as u64 == nr)
        .map(|(_, name)| *name)
}
