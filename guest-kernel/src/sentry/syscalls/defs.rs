//! Every syscall the sentry implements, by Linux name, with its
//! arch-neutral handler (named with its family: the file it is in) and how
//! complete it is. Each architecture's table
//! (x86_64.rs, aarch64.rs) gives these names its own numbers; a name the
//! architecture has no number for (open, stat, poll on aarch64...) is simply
//! not reachable there. docs/syscalls*.md are generated from the tables.

use super::HandlerDef;
use super::Support::{Full, Partial};
use super::{
    attr, copy, dir, events, fdops, futex, ioctl, locks, memory, namei, open, poll, process,
    read_write, signal, socket, spawn, stat, system, time, xattr,
};

/// `name => family::handler, support;`: the family is the file (module)
/// of the handler, shown in the generated docs.
macro_rules! handlers {
    ($( $name:ident => $family:ident :: $handler:ident, $support:expr; )*) => {
        pub const HANDLERS: &[HandlerDef] = &[
            $( HandlerDef {
                name: stringify!($name),
                family: stringify!($family),
                handler: $family::$handler,
                support: $support,
            }, )*
        ];
    };
}

handlers! {
    read => read_write::sys_read, Full;
    write => read_write::sys_write, Full;
    open => open::sys_open, Partial("no O_TMPFILE");
    close => fdops::sys_close, Full;
    stat => stat::sys_stat, Full;
    fstat => stat::sys_fstat, Full;
    lstat => stat::sys_lstat, Full;
    poll => poll::sys_poll, Full;
    lseek => read_write::sys_lseek, Partial("no SEEK_DATA/SEEK_HOLE");
    mmap => memory::sys_mmap, Partial("shared mappings of host files are written back at msync/munmap/exit, not coherent with read/write in between; pages past the end of a file read as zeros");
    mprotect => memory::sys_mprotect, Partial("no PROT_GROWSDOWN/PROT_GROWSUP");
    munmap => memory::sys_munmap, Full;
    brk => memory::sys_brk, Full;
    rt_sigaction => signal::sys_rt_sigaction, Full;
    rt_sigprocmask => signal::sys_rt_sigprocmask, Full;
    rt_sigreturn => signal::sys_rt_sigreturn, Full;
    rt_sigpending => signal::sys_rt_sigpending, Full;
    rt_sigsuspend => signal::sys_rt_sigsuspend, Full;
    rt_sigtimedwait => signal::sys_rt_sigtimedwait, Full;
    rt_sigqueueinfo => signal::sys_rt_sigqueueinfo, Partial("a signal to a process is queued on one of its threads (the main thread while it lives); at most 1024 signals queued per thread, not RLIMIT_SIGPENDING per user");
    rt_tgsigqueueinfo => signal::sys_rt_tgsigqueueinfo, Partial("at most 1024 signals queued per thread, not RLIMIT_SIGPENDING per user");
    kill => signal::sys_kill, Partial("a signal to a process is queued on one of its threads (the main thread while it lives), not process-wide");
    tkill => signal::sys_tkill, Full;
    tgkill => signal::sys_tgkill, Full;
    pause => signal::sys_pause, Full;
    alarm => signal::sys_alarm, Partial("the signal arrives at the next syscall, fault or 10 ms tick, or ends a blocking wait; where there is no tick (aarch64 KVM hosts) a loop that never enters the sentry does not see it");
    getitimer => signal::sys_getitimer, Full;
    setitimer => signal::sys_setitimer, Partial("as alarm; ITIMER_VIRTUAL and ITIMER_PROF count wall time, not CPU time");
    ioctl => ioctl::sys_ioctl, Partial("TCGETS, TIOCGWINSZ on a console that is a host tty; FIONREAD, FIONBIO, FIOCLEX, FIONCLEX");
    pread64 => read_write::sys_pread64, Full;
    pwrite64 => read_write::sys_pwrite64, Full;
    readv => read_write::sys_readv, Full;
    writev => read_write::sys_writev, Full;
    access => stat::sys_access, Full;
    pipe => fdops::sys_pipe, Full;
    select => poll::sys_select, Full;
    mremap => memory::sys_mremap, Partial("no MREMAP_DONTUNMAP");
    msync => memory::sys_msync, Full;
    sched_yield => system::sys_sched_yield, Full;
    madvise => memory::sys_madvise, Partial("DONTNEED/FREE zero anonymous pages; other advice is accepted as a hint");
    dup => fdops::sys_dup, Full;
    dup2 => fdops::sys_dup2, Full;
    nanosleep => time::sys_nanosleep, Full;
    getpid => process::sys_getpid, Full;
    sendfile => copy::sys_sendfile, Full;
    exit => process::sys_exit, Full;
    uname => process::sys_uname, Full;
    fcntl => fdops::sys_fcntl, Partial("F_DUPFD(_CLOEXEC), F_GETFD/SETFD, F_GETFL/SETFL, F_GETPIPE_SZ, record locks (POSIX and OFD; no deadlock detection)");
    flock => locks::sys_flock, Full;
    fsync => fdops::sys_fsync, Full;
    fdatasync => fdops::sys_fsync, Full;
    truncate => attr::sys_truncate, Full;
    ftruncate => attr::sys_ftruncate, Full;
    getcwd => dir::sys_getcwd, Full;
    chdir => dir::sys_chdir, Full;
    fchdir => dir::sys_fchdir, Full;
    rename => namei::sys_rename, Full;
    mkdir => namei::sys_mkdir, Full;
    rmdir => namei::sys_rmdir, Full;
    creat => open::sys_creat, Full;
    link => namei::sys_link, Full;
    unlink => namei::sys_unlink, Full;
    symlink => namei::sys_symlink, Full;
    readlink => namei::sys_readlink, Full;
    chmod => attr::sys_chmod, Full;
    fchmod => attr::sys_fchmod, Full;
    chown => attr::sys_chown, Full;
    fchown => attr::sys_fchown, Full;
    lchown => attr::sys_lchown, Full;
    umask => dir::sys_umask, Full;
    gettimeofday => time::sys_gettimeofday, Full;
    getrusage => time::sys_getrusage, Partial("utime is time on the vCPU (no user/system split), stime 0; RUSAGE_SELF counts the calling thread");
    getrlimit => process::sys_getrlimit, Partial("limits are recorded, not enforced except RLIMIT_NOFILE");
    sysinfo => system::sys_sysinfo, Full;
    times => time::sys_times, Partial("time on the vCPU counts as user time");
    getuid => system::sys_getuid, Full;
    getgid => system::sys_getgid, Full;
    setuid => system::sys_setuid, Partial("credentials are recorded; file permission checks are not enforced");
    setgid => system::sys_setgid, Partial("credentials are recorded; file permission checks are not enforced");
    geteuid => system::sys_geteuid, Full;
    getegid => system::sys_getegid, Full;
    setpgid => system::sys_setpgid, Full;
    getppid => process::sys_getppid, Full;
    getpgrp => system::sys_getpgrp, Full;
    setsid => system::sys_setsid, Full;
    setreuid => system::sys_setreuid, Partial("credentials are recorded; file permission checks are not enforced");
    setregid => system::sys_setregid, Partial("credentials are recorded; file permission checks are not enforced");
    getgroups => system::sys_getgroups, Full;
    setgroups => system::sys_setgroups, Full;
    setresuid => system::sys_setresuid, Partial("credentials are recorded; file permission checks are not enforced");
    getresuid => system::sys_getresuid, Full;
    setresgid => system::sys_setresgid, Partial("credentials are recorded; file permission checks are not enforced");
    getresgid => system::sys_getresgid, Full;
    getpgid => system::sys_getpgid, Full;
    getsid => system::sys_getsid, Full;
    personality => system::sys_personality, Partial("recorded; no execution domain changes behaviour");
    sigaltstack => signal::sys_sigaltstack, Full;
    statfs => stat::sys_statfs, Partial("sizes of the in-memory filesystems; host mounts report the same");
    fstatfs => stat::sys_fstatfs, Partial("sizes of the in-memory filesystems; host mounts report the same");
    setrlimit => process::sys_setrlimit, Partial("limits are recorded, not enforced except RLIMIT_NOFILE");
    gettid => process::sys_gettid, Full;
    time => time::sys_time, Full;
    sched_setaffinity => system::sys_sched_setaffinity, Full;
    sched_getaffinity => system::sys_sched_getaffinity, Full;
    getdents64 => dir::sys_getdents64, Full;
    set_tid_address => process::sys_set_tid_address, Full;
    clock_gettime => time::sys_clock_gettime, Partial("CPU-time clocks count the calling thread's time on the vCPU, waits in the host included");
    clock_getres => time::sys_clock_getres, Full;
    clock_nanosleep => time::sys_clock_nanosleep, Full;
    exit_group => process::sys_exit_group, Full;
    openat => open::sys_openat, Partial("no O_TMPFILE");
    mkdirat => namei::sys_mkdirat, Full;
    fchownat => attr::sys_fchownat, Full;
    newfstatat => stat::sys_newfstatat, Full;
    unlinkat => namei::sys_unlinkat, Full;
    renameat => namei::sys_renameat, Full;
    linkat => namei::sys_linkat, Full;
    symlinkat => namei::sys_symlinkat, Full;
    readlinkat => namei::sys_readlinkat, Full;
    fchmodat => attr::sys_fchmodat, Full;
    faccessat => stat::sys_faccessat, Full;
    pselect6 => poll::sys_pselect6, Full;
    ppoll => poll::sys_ppoll, Full;
    set_robust_list => process::sys_set_robust_list, Partial("recorded; robust futexes of a dying thread are not released");
    utimensat => attr::sys_utimensat, Full;
    fallocate => fdops::sys_fallocate, Partial("mode 0 and KEEP_SIZE; space is not reserved ahead; no hole punching");
    dup3 => fdops::sys_dup3, Full;
    pipe2 => fdops::sys_pipe2, Full;
    preadv => read_write::sys_preadv, Full;
    pwritev => read_write::sys_pwritev, Full;
    prlimit64 => process::sys_prlimit64, Partial("limits are recorded, not enforced except RLIMIT_NOFILE");
    getcpu => system::sys_getcpu, Full;
    renameat2 => namei::sys_renameat2, Partial("RENAME_NOREPLACE, RENAME_EXCHANGE; no RENAME_WHITEOUT");
    getrandom => time::sys_getrandom, Full;
    copy_file_range => copy::sys_copy_file_range, Full;
    statx => stat::sys_statx, Partial("basic fields; no birth time");
    close_range => fdops::sys_close_range, Partial("no CLOSE_RANGE_UNSHARE");
    faccessat2 => stat::sys_faccessat2, Full;
    futex => futex::sys_futex, Partial("no requeue-PI operations; priority inheritance does not change scheduling");
    get_robust_list => process::sys_get_robust_list, Full;
    timer_create => time::sys_timer_create, Partial("SIGEV_SIGNAL, SIGEV_THREAD_ID (this thread), SIGEV_NONE; CPU-time clocks count wall time; signals arrive at the next syscall or fault, or end a blocking wait");
    timer_settime => time::sys_timer_settime, Full;
    timer_gettime => time::sys_timer_gettime, Full;
    timer_getoverrun => time::sys_timer_getoverrun, Full;
    timer_delete => time::sys_timer_delete, Full;
    clock_settime => time::sys_clock_settime, Partial("EPERM: the sandbox does not let the program set the host's clock");
    settimeofday => time::sys_settimeofday, Partial("EPERM: the sandbox does not let the program set the host's clock");
    eventfd => events::sys_eventfd, Full;
    eventfd2 => events::sys_eventfd2, Full;
    timerfd_create => events::sys_timerfd_create, Partial("TFD_TIMER_CANCEL_ON_SET is accepted; the sandbox's realtime clock never jumps, so it never cancels");
    timerfd_settime => events::sys_timerfd_settime, Full;
    timerfd_gettime => events::sys_timerfd_gettime, Full;
    signalfd => events::sys_signalfd, Full;
    signalfd4 => events::sys_signalfd4, Full;
    epoll_create => events::sys_epoll_create, Full;
    epoll_create1 => events::sys_epoll_create1, Full;
    epoll_ctl => events::sys_epoll_ctl, Partial("registrations are keyed by fd number; EPOLLEXCLUSIVE and EPOLLWAKEUP change nothing with one waiter");
    epoll_wait => events::sys_epoll_wait, Partial("edge-triggered mode reports a file again when it becomes ready or gets new data or room");
    epoll_pwait => events::sys_epoll_pwait, Partial("as epoll_wait");
    epoll_pwait2 => events::sys_epoll_pwait2, Partial("as epoll_wait");
    wait4 => spawn::sys_wait4, Partial("exited children only (no stopped/continued states); rusage is zeros");
    waitid => spawn::sys_waitid, Partial("exited children only (no stopped/continued states)");
    fork => spawn::sys_fork, Partial("memory is copied at fork (no copy-on-write between processes)");
    vfork => spawn::sys_vfork, Full;
    clone => spawn::sys_clone, Partial("processes sharing memory, files or fs context as asked (CLONE_VM/FILES/FS/VFORK), threads (CLONE_THREAD with SIGHAND); namespaces, CLONE_PIDFD and handler tables shared between processes ENOSYS; all tasks share one vCPU");
    clone3 => spawn::sys_clone3, Partial("as clone; set_tid and cgroup EINVAL");
    execve => spawn::sys_execve, Partial("static ELF executables and #! scripts; no dynamic loader");
    execveat => spawn::sys_execveat, Partial("as execve");
    prctl => process::sys_prctl, Partial("PR_SET/GET_NAME, PDEATHSIG, DUMPABLE, KEEPCAPS, TIMERSLACK (read), CAPBSET_READ, CHILD_SUBREAPER, NO_NEW_PRIVS; other options EINVAL");
    getpriority => process::sys_getpriority, Full;
    setpriority => process::sys_setpriority, Partial("the nice value is recorded; the scheduler (a FIFO run queue) does not weigh it");
    sched_getscheduler => process::sys_sched_getscheduler, Full;
    sched_setscheduler => process::sys_sched_setscheduler, Partial("SCHED_OTHER/BATCH/IDLE accepted; real-time policies EPERM");
    sched_getparam => process::sys_sched_getparam, Full;
    sched_setparam => process::sys_sched_setparam, Full;
    sched_get_priority_max => process::sys_sched_get_priority_max, Full;
    sched_get_priority_min => process::sys_sched_get_priority_min, Full;
    sched_rr_get_interval => process::sys_sched_rr_get_interval, Full;
    capget => process::sys_capget, Partial("root holds every capability; others none");
    mlock => memory::sys_mlock, Full;
    mlock2 => memory::sys_mlock2, Full;
    munlock => memory::sys_munlock, Full;
    mlockall => memory::sys_mlockall, Full;
    munlockall => memory::sys_munlockall, Full;
    mincore => memory::sys_mincore, Partial("a file page counts as resident only once this process has it mapped in; anonymous memory is filled 64 KiB around each fault, and reported so");
    utime => attr::sys_utime, Full;
    utimes => attr::sys_utimes, Full;
    futimesat => attr::sys_futimesat, Full;
    mknod => namei::sys_mknod, Partial("regular files, FIFOs and socket nodes (in the sandbox's tmpfs); device nodes EPERM (no CAP_MKNOD)");
    mknodat => namei::sys_mknodat, Partial("regular files, FIFOs and socket nodes (in the sandbox's tmpfs); device nodes EPERM (no CAP_MKNOD)");
    getxattr => xattr::sys_getxattr, Partial("no filesystem stores extended attributes: none exist (ENODATA)");
    lgetxattr => xattr::sys_lgetxattr, Partial("no filesystem stores extended attributes: none exist (ENODATA)");
    fgetxattr => xattr::sys_fgetxattr, Partial("no filesystem stores extended attributes: none exist (ENODATA)");
    listxattr => xattr::sys_listxattr, Partial("no filesystem stores extended attributes: the list is empty");
    llistxattr => xattr::sys_llistxattr, Partial("no filesystem stores extended attributes: the list is empty");
    flistxattr => xattr::sys_flistxattr, Partial("no filesystem stores extended attributes: the list is empty");
    setxattr => xattr::sys_setxattr, Partial("EOPNOTSUPP: no filesystem stores extended attributes");
    lsetxattr => xattr::sys_lsetxattr, Partial("EOPNOTSUPP: no filesystem stores extended attributes");
    fsetxattr => xattr::sys_fsetxattr, Partial("EOPNOTSUPP: no filesystem stores extended attributes");
    removexattr => xattr::sys_removexattr, Partial("no filesystem stores extended attributes: none exist (ENODATA)");
    lremovexattr => xattr::sys_lremovexattr, Partial("no filesystem stores extended attributes: none exist (ENODATA)");
    fremovexattr => xattr::sys_fremovexattr, Partial("no filesystem stores extended attributes: none exist (ENODATA)");
    sync => fdops::sys_sync, Full;
    syncfs => fdops::sys_syncfs, Full;
    sync_file_range => fdops::sys_sync_file_range, Full;
    fadvise64 => fdops::sys_fadvise64, Full;
    readahead => fdops::sys_readahead, Full;
    socket => socket::sys_socket, Partial("AF_UNIX (stream, datagram, seqpacket) and AF_INET/AF_INET6 TCP and UDP over the sandbox's loopback; other families EAFNOSUPPORT");
    socketpair => socket::sys_socketpair, Partial("AF_UNIX only (AF_INET EOPNOTSUPP, as Linux)");
    bind => socket::sys_bind, Partial("AF_UNIX paths in the sandbox's tmpfs (not in host mounts), abstract and automatic names; AF_INET/AF_INET6 loopback and wildcard addresses");
    listen => socket::sys_listen, Full;
    accept => socket::sys_accept, Full;
    accept4 => socket::sys_accept4, Full;
    connect => socket::sys_connect, Partial("AF_INET/AF_INET6 reach listeners of the sandbox over loopback; other destinations ENETUNREACH");
    getsockname => socket::sys_getsockname, Full;
    getpeername => socket::sys_getpeername, Full;
    sendto => socket::sys_sendto, Partial("no MSG_OOB; UDP to a port nobody listens on is dropped (ECONNREFUSED on a connected socket's next call)");
    recvfrom => socket::sys_recvfrom, Partial("no MSG_OOB; nothing is ever on the error queue (MSG_ERRQUEUE: EAGAIN)");
    sendmsg => socket::sys_sendmsg, Partial("as sendto; SCM_RIGHTS and SCM_CREDENTIALS on AF_UNIX; no IP-level control messages");
    recvmsg => socket::sys_recvmsg, Partial("as recvfrom; SCM_RIGHTS and SCM_CREDENTIALS (SO_PASSCRED) on AF_UNIX");
    sendmmsg => socket::sys_sendmmsg, Partial("as sendmsg");
    recvmmsg => socket::sys_recvmmsg, Partial("as recvmsg; the timeout is checked between messages");
    shutdown => socket::sys_shutdown, Full;
    setsockopt => socket::sys_setsockopt, Partial("SOL_SOCKET (buffers, timeouts, SO_PASSCRED, SO_REUSEADDR/REUSEPORT, SO_KEEPALIVE, SO_LINGER recorded...), TCP_NODELAY/KEEPIDLE/KEEPINTVL/KEEPCNT recorded, IPV6_V6ONLY, IP_TOS/IP_TTL; others ENOPROTOOPT");
    getsockopt => socket::sys_getsockopt, Partial("as setsockopt, plus SO_TYPE, SO_DOMAIN, SO_PROTOCOL, SO_ERROR, SO_PEERCRED, SO_ACCEPTCONN");
    memfd_create => fdops::sys_memfd_create, Partial("no file sealing (F_ADD_SEALS), no MFD_HUGETLB");
}
