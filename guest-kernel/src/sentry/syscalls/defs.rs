//! Every syscall the sentry implements, by Linux name, with its
//! arch-neutral handler and how complete it is. Each architecture's table
//! (x86_64.rs, aarch64.rs) gives these names its own numbers; a name the
//! architecture has no number for (open, stat, poll on aarch64...) is simply
//! not reachable there. docs/syscalls*.md are generated from the tables.

use super::fdops::*;
use super::io::*;
use super::memory::*;
use super::path::*;
use super::process::*;
use super::signal::*;
use super::system::*;
use super::time::*;
use super::HandlerDef;
use super::Support::{Full, Partial};

macro_rules! handlers {
    ($( $name:ident => $handler:ident, $support:expr; )*) => {
        pub const HANDLERS: &[HandlerDef] = &[
            $( HandlerDef { name: stringify!($name), handler: $handler, support: $support }, )*
        ];
    };
}

handlers! {
    read => sys_read, Full;
    write => sys_write, Full;
    open => sys_open, Partial("no O_TMPFILE");
    close => sys_close, Full;
    stat => sys_stat, Full;
    fstat => sys_fstat, Full;
    lstat => sys_lstat, Full;
    poll => sys_poll, Full;
    lseek => sys_lseek, Partial("no SEEK_DATA/SEEK_HOLE");
    mmap => sys_mmap, Partial("shared mappings of host files are written back at msync/munmap/exit, not coherent with read/write in between; pages past the end of a file read as zeros");
    mprotect => sys_mprotect, Partial("no PROT_GROWSDOWN/PROT_GROWSUP");
    munmap => sys_munmap, Full;
    brk => sys_brk, Full;
    rt_sigaction => sys_rt_sigaction, Partial("recorded and reported; handlers are not invoked yet");
    rt_sigprocmask => sys_rt_sigprocmask, Full;
    ioctl => sys_ioctl, Partial("TCGETS, TIOCGWINSZ on a console that is a host tty; FIONREAD, FIONBIO, FIOCLEX, FIONCLEX");
    pread64 => sys_pread64, Full;
    pwrite64 => sys_pwrite64, Full;
    readv => sys_readv, Full;
    writev => sys_writev, Full;
    access => sys_access, Full;
    pipe => sys_pipe, Full;
    select => sys_select, Full;
    mremap => sys_mremap, Partial("no MREMAP_DONTUNMAP");
    msync => sys_msync, Full;
    sched_yield => sys_sched_yield, Full;
    madvise => sys_madvise, Partial("DONTNEED/FREE zero anonymous pages; other advice is accepted as a hint");
    dup => sys_dup, Full;
    dup2 => sys_dup2, Full;
    nanosleep => sys_nanosleep, Full;
    getpid => sys_getpid, Full;
    sendfile => sys_sendfile, Full;
    exit => sys_exit, Partial("ends the process (there is one thread)");
    uname => sys_uname, Full;
    fcntl => sys_fcntl, Partial("F_DUPFD(_CLOEXEC), F_GETFD/SETFD, F_GETFL/SETFL, F_GETPIPE_SZ; record locks are always granted (one process)");
    flock => sys_flock, Partial("one process: every lock is granted");
    fsync => sys_fsync, Full;
    fdatasync => sys_fsync, Full;
    truncate => sys_truncate, Full;
    ftruncate => sys_ftruncate, Full;
    getcwd => sys_getcwd, Full;
    chdir => sys_chdir, Full;
    fchdir => sys_fchdir, Full;
    rename => sys_rename, Full;
    mkdir => sys_mkdir, Full;
    rmdir => sys_rmdir, Full;
    creat => sys_creat, Full;
    link => sys_link, Full;
    unlink => sys_unlink, Full;
    symlink => sys_symlink, Full;
    readlink => sys_readlink, Full;
    chmod => sys_chmod, Full;
    fchmod => sys_fchmod, Full;
    chown => sys_chown, Full;
    fchown => sys_fchown, Full;
    lchown => sys_lchown, Full;
    umask => sys_umask, Full;
    gettimeofday => sys_gettimeofday, Full;
    getrusage => sys_getrusage, Partial("utime is the thread's wall time; no children yet");
    getrlimit => sys_getrlimit, Partial("limits are recorded, not enforced except RLIMIT_NOFILE");
    sysinfo => sys_sysinfo, Full;
    times => sys_times, Partial("the thread's wall time counts as user time");
    getuid => sys_getuid, Full;
    getgid => sys_getgid, Full;
    setuid => sys_setuid, Partial("credentials are recorded; file permission checks are not enforced");
    setgid => sys_setgid, Partial("credentials are recorded; file permission checks are not enforced");
    geteuid => sys_geteuid, Full;
    getegid => sys_getegid, Full;
    setpgid => sys_setpgid, Partial("one process: it stays its own group");
    getppid => sys_getppid, Full;
    getpgrp => sys_getpgrp, Full;
    setsid => sys_setsid, Full;
    setreuid => sys_setreuid, Partial("credentials are recorded; file permission checks are not enforced");
    setregid => sys_setregid, Partial("credentials are recorded; file permission checks are not enforced");
    getgroups => sys_getgroups, Full;
    setgroups => sys_setgroups, Full;
    setresuid => sys_setresuid, Partial("credentials are recorded; file permission checks are not enforced");
    getresuid => sys_getresuid, Full;
    setresgid => sys_setresgid, Partial("credentials are recorded; file permission checks are not enforced");
    getresgid => sys_getresgid, Full;
    getpgid => sys_getpgid, Full;
    getsid => sys_getsid, Full;
    personality => sys_personality, Partial("recorded; no execution domain changes behaviour");
    sigaltstack => sys_sigaltstack, Partial("recorded; used once signal delivery exists");
    statfs => sys_statfs, Partial("sizes of the in-memory filesystems; host mounts report the same");
    fstatfs => sys_fstatfs, Partial("sizes of the in-memory filesystems; host mounts report the same");
    setrlimit => sys_setrlimit, Partial("limits are recorded, not enforced except RLIMIT_NOFILE");
    gettid => sys_gettid, Full;
    time => sys_time, Full;
    sched_setaffinity => sys_sched_setaffinity, Full;
    sched_getaffinity => sys_sched_getaffinity, Full;
    getdents64 => sys_getdents64, Full;
    set_tid_address => sys_set_tid_address, Partial("recorded; cleared on thread exit once threads exist");
    clock_gettime => sys_clock_gettime, Partial("CPU-time clocks count wall time of the single thread");
    clock_getres => sys_clock_getres, Full;
    clock_nanosleep => sys_clock_nanosleep, Full;
    exit_group => sys_exit_group, Full;
    openat => sys_openat, Partial("no O_TMPFILE");
    mkdirat => sys_mkdirat, Full;
    fchownat => sys_fchownat, Full;
    newfstatat => sys_newfstatat, Full;
    unlinkat => sys_unlinkat, Full;
    renameat => sys_renameat, Full;
    linkat => sys_linkat, Full;
    symlinkat => sys_symlinkat, Full;
    readlinkat => sys_readlinkat, Full;
    fchmodat => sys_fchmodat, Full;
    faccessat => sys_faccessat, Full;
    pselect6 => sys_pselect6, Partial("the signal mask is not applied during the wait");
    ppoll => sys_ppoll, Partial("the signal mask is not applied during the wait");
    set_robust_list => sys_set_robust_list, Partial("recorded; used once threads exist");
    utimensat => sys_utimensat, Full;
    fallocate => sys_fallocate, Partial("mode 0 and KEEP_SIZE; space is not reserved ahead; no hole punching");
    dup3 => sys_dup3, Full;
    pipe2 => sys_pipe2, Full;
    preadv => sys_preadv, Full;
    pwritev => sys_pwritev, Full;
    prlimit64 => sys_prlimit64, Partial("limits are recorded, not enforced except RLIMIT_NOFILE");
    getcpu => sys_getcpu, Full;
    renameat2 => sys_renameat2, Partial("RENAME_NOREPLACE, RENAME_EXCHANGE; no RENAME_WHITEOUT");
    getrandom => sys_getrandom, Full;
    copy_file_range => sys_copy_file_range, Full;
    statx => sys_statx, Partial("basic fields; no birth time");
    close_range => sys_close_range, Partial("no CLOSE_RANGE_UNSHARE");
    faccessat2 => sys_faccessat2, Full;
}
