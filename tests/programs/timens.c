/* Time namespaces: unshare(CLONE_NEWTIME) and /proc/self/ns/time and
 * time_for_children, /proc/self/timens_offsets (its format, parsing,
 * ranges, and EACCES once a process is in the namespace), the clocks in a
 * namespace (through the vDSO and the syscall: monotonic, raw, coarse,
 * boottime; realtime unchanged), sysinfo's and /proc/uptime's uptime,
 * absolute deadlines in namespace time (clock_nanosleep, timerfd, POSIX
 * timers), entering at fork, exec (and posix_spawn's vfork + exec), clone3
 * and setns (through an nsfs file and a pidfd; EUSERS with a second
 * thread), vfork staying in its parent's namespace, and the nsfs ioctls.
 * Compared with the host's run (as root: CAP_SYS_ADMIN and CAP_SYS_TIME). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "abi_check.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x80
#endif
#define NS_GET_PARENT _IO(0xb7, 0x2)
#define NS_GET_NSTYPE _IO(0xb7, 0x3)
#define PIDFD_GET_TIME_NAMESPACE _IO(0xFF, 7)
#define PIDFD_GET_TIME_FOR_CHILDREN_NAMESPACE _IO(0xFF, 8)

#define SEC 1000000000LL

extern char **environ;

static const char *self_exe;

static int64_t ts_ns(struct timespec ts)
{
    return ts.tv_sec * SEC + ts.tv_nsec;
}

/* `clock` through libc (the vDSO where there is one). */
static int64_t vdso_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return ts_ns(ts);
}

/* `clock` through the syscall itself. */
static int64_t sys_ns(clockid_t clock)
{
    struct timespec ts;
    syscall(SYS_clock_gettime, clock, &ts);
    return ts_ns(ts);
}

/* Whether `got` - `base` lies in [want, want + slack) seconds. */
static void near(int64_t got, int64_t base, int64_t want_s, int64_t slack_ms, const char *what)
{
    int64_t diff = got - base;
    int good = diff >= want_s * SEC - slack_ms * 1000000 / 10 && diff < want_s * SEC + slack_ms * 1000000;
    checkf(good, what, "diff %ld ms want %ld s", (long)(diff / 1000000), (long)want_s);
}

static void link_of(const char *path, char *out, size_t len)
{
    ssize_t n = readlink(path, out, len - 1);
    out[n < 0 ? 0 : n] = 0;
}

static void show_file(const char *path, const char *what)
{
    char buf[256];
    int fd = open(path, O_RDONLY);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
    buf[n < 0 ? 0 : n] = 0;
    printf("%s:\n%s", what, buf);
    if (fd >= 0)
        close(fd);
}

/* Writes `text` to /proc/self/timens_offsets, newly opened. */
static long write_offsets(const char *text)
{
    int fd = open("/proc/self/timens_offsets", O_WRONLY);
    if (fd < 0)
        return -1;
    long r = write(fd, text, strlen(text));
    int e = errno;
    close(fd);
    errno = e;
    return r;
}

static pid_t fork_flushed(void)
{
    fflush(stdout);
    return fork();
}

static void reap(pid_t pid, const char *what)
{
    int status;
    if (waitpid(pid, &status, __WALL) != pid) {
        printf("%s: waitpid FAIL %s\n", what, ename(errno));
        failures++;
        return;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        printf("%s: child FAIL status %#x\n", what, status);
        failures++;
    }
}

static void child_done(void)
{
    fflush(stdout);
    _exit(failures);
}

static char init_link[64];
static int init_fd;

static void *blocked_thread(void *arg)
{
    char c;
    read(*(int *)arg, &c, 1);
    return NULL;
}

/* Absolute deadlines on `clock`, 50 ms ahead in the caller's namespace. */
static void deadlines(clockid_t clock, const char *name)
{
    char what[96];
    struct timespec at;
    int64_t start = sys_ns(CLOCK_MONOTONIC);
    int64_t target = sys_ns(clock) + 50000000;
    at.tv_sec = target / SEC;
    at.tv_nsec = target % SEC;
    snprintf(what, sizeof what, "clock_nanosleep abstime %s", name);
    check(clock_nanosleep(clock, TIMER_ABSTIME, &at, NULL) == 0, what);
    int64_t slept = sys_ns(CLOCK_MONOTONIC) - start;
    snprintf(what, sizeof what, "slept to the deadline %s", name);
    checkf(slept >= 40000000 && slept < 5 * SEC, what, "%ld ms %ld", (long)(slept / 1000000), 0);

    int tfd = timerfd_create(clock, 0);
    struct itimerspec its = {{0, 0}, {0, 0}};
    target = sys_ns(clock) + 50000000;
    its.it_value.tv_sec = target / SEC;
    its.it_value.tv_nsec = target % SEC;
    start = sys_ns(CLOCK_MONOTONIC);
    snprintf(what, sizeof what, "timerfd_settime abstime %s", name);
    ok(timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL), what);
    struct itimerspec left;
    timerfd_gettime(tfd, &left);
    snprintf(what, sizeof what, "timerfd_gettime is relative %s", name);
    checkf(ts_ns(left.it_value) > 0 && ts_ns(left.it_value) <= 50000000, what, "%ld us %ld",
           (long)(ts_ns(left.it_value) / 1000), 0);
    uint64_t ticks = 0;
    snprintf(what, sizeof what, "timerfd expires once %s", name);
    check(read(tfd, &ticks, sizeof ticks) == 8 && ticks == 1, what);
    slept = sys_ns(CLOCK_MONOTONIC) - start;
    snprintf(what, sizeof what, "timerfd at the deadline %s", name);
    checkf(slept >= 40000000 && slept < 5 * SEC, what, "%ld ms %ld", (long)(slept / 1000000), 0);
    close(tfd);

    timer_t timer;
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_NONE;
    snprintf(what, sizeof what, "timer_create %s", name);
    ok(timer_create(clock, &sev, &timer), what);
    target = sys_ns(clock) + 2 * SEC;
    its.it_value.tv_sec = target / SEC;
    its.it_value.tv_nsec = target % SEC;
    snprintf(what, sizeof what, "timer_settime abstime %s", name);
    ok(timer_settime(timer, TIMER_ABSTIME, &its, NULL), what);
    timer_gettime(timer, &left);
    snprintf(what, sizeof what, "timer_gettime is relative %s", name);
    checkf(ts_ns(left.it_value) > SEC && ts_ns(left.it_value) <= 2 * SEC, what, "%ld ms %ld",
           (long)(ts_ns(left.it_value) / 1000000), 0);
    timer_delete(timer);
}

/* The uptime of sysinfo and /proc/uptime against CLOCK_BOOTTIME. */
static void uptimes(const char *what)
{
    char buf[64];
    struct sysinfo si;
    int64_t boot = sys_ns(CLOCK_BOOTTIME) / SEC;
    sysinfo(&si);
    snprintf(buf, sizeof buf, "sysinfo uptime %s", what);
    checkf(si.uptime >= boot && si.uptime <= boot + 2, buf, "%ld vs %ld", (long)si.uptime, (long)boot);
    long sec = 0, hundredths = 0;
    FILE *f = fopen("/proc/uptime", "r");
    if (f) {
        if (fscanf(f, "%ld.%ld", &sec, &hundredths) != 2)
            sec = -1;
        fclose(f);
    }
    snprintf(buf, sizeof buf, "/proc/uptime %s", what);
    checkf(sec >= boot && sec <= boot + 2, buf, "%ld vs %ld", sec, (long)boot);
}

/* A process forked into a namespace with offsets of +1000 s (monotonic)
 * and +2000 s (boottime); `mono`, `boot`, `real` are the parent's clocks
 * (the initial namespace's) just before the fork. */
static void in_namespace(int64_t mono, int64_t boot, int64_t real, const char *children_link)
{
    char link[64];
    near(vdso_ns(CLOCK_MONOTONIC), mono, 1000, 3000, "vdso monotonic");
    near(sys_ns(CLOCK_MONOTONIC), mono, 1000, 3000, "syscall monotonic");
    near(vdso_ns(CLOCK_MONOTONIC_RAW), mono, 1000, 3000, "vdso monotonic raw");
    near(sys_ns(CLOCK_MONOTONIC_RAW), mono, 1000, 3000, "syscall monotonic raw");
    near(vdso_ns(CLOCK_MONOTONIC_COARSE), mono, 1000, 3000, "vdso monotonic coarse");
    near(sys_ns(CLOCK_MONOTONIC_COARSE), mono, 1000, 3000, "syscall monotonic coarse");
    near(vdso_ns(CLOCK_BOOTTIME), boot, 2000, 3000, "vdso boottime");
    near(sys_ns(CLOCK_BOOTTIME), boot, 2000, 3000, "syscall boottime");
    near(sys_ns(CLOCK_BOOTTIME_ALARM), boot, 2000, 3000, "syscall boottime alarm");
    near(vdso_ns(CLOCK_REALTIME), real, 0, 3000, "vdso realtime");
    near(sys_ns(CLOCK_REALTIME), real, 0, 3000, "syscall realtime");
    uptimes("in the namespace");
    link_of("/proc/self/ns/time", link, sizeof link);
    check(strcmp(link, children_link) == 0, "child is in the parent's time_for_children");
    link_of("/proc/self/ns/time_for_children", link, sizeof link);
    check(strcmp(link, children_link) == 0, "and so are its children");
    show_file("/proc/self/timens_offsets", "child's timens_offsets");
    err(write_offsets("monotonic 1 0"), EACCES, "offsets of an entered namespace");
    deadlines(CLOCK_MONOTONIC, "monotonic");
    deadlines(CLOCK_BOOTTIME, "boottime");

    /* setns needs an address space of its own. */
    int pipe_fds[2];
    pipe(pipe_fds);
    pthread_t thread;
    pthread_create(&thread, NULL, blocked_thread, &pipe_fds[0]);
    err(syscall(SYS_setns, init_fd, CLONE_NEWTIME), EUSERS, "setns time with two threads");
    write(pipe_fds[1], "x", 1);
    pthread_join(thread, NULL);
    err(syscall(SYS_setns, init_fd, CLONE_NEWNS), EINVAL, "setns time fd as mnt");
    ok(syscall(SYS_setns, init_fd, CLONE_NEWTIME), "setns back to the initial namespace");
    near(vdso_ns(CLOCK_MONOTONIC), mono, 0, 3000, "vdso monotonic after setns");
    near(sys_ns(CLOCK_MONOTONIC), mono, 0, 3000, "syscall monotonic after setns");
    near(vdso_ns(CLOCK_BOOTTIME), boot, 0, 3000, "vdso boottime after setns");
    link_of("/proc/self/ns/time", link, sizeof link);
    check(strcmp(link, init_link) == 0, "setns: time");
    link_of("/proc/self/ns/time_for_children", link, sizeof link);
    check(strcmp(link, init_link) == 0, "setns: time_for_children");
}

/* The program exec'd in exec mode: its monotonic clock must be `want_s`
 * seconds past `base` (passed by whoever exec'd it). */
static int exec_mode(char **argv)
{
    int64_t base = strtoll(argv[2], NULL, 10);
    int64_t want = strtoll(argv[3], NULL, 10);
    char time_link[64], children_link[64];
    near(vdso_ns(CLOCK_MONOTONIC), base, want, 3000, "exec: vdso monotonic");
    near(sys_ns(CLOCK_MONOTONIC), base, want, 3000, "exec: syscall monotonic");
    link_of("/proc/self/ns/time", time_link, sizeof time_link);
    link_of("/proc/self/ns/time_for_children", children_link, sizeof children_link);
    check(strcmp(time_link, children_link) == 0, "exec: in its namespace for children");
    err(write_offsets("boottime 1 0"), EACCES, "exec: the namespace is entered");
    return finish();
}

static void exec_self(int64_t base, int want_s)
{
    char base_arg[32], want_arg[16];
    snprintf(base_arg, sizeof base_arg, "%lld", (long long)base);
    snprintf(want_arg, sizeof want_arg, "%d", want_s);
    fflush(stdout);
    execl(self_exe, self_exe, "exec", base_arg, want_arg, (char *)NULL);
    printf("execl: FAIL %s\n", ename(errno));
    child_done();
}

struct clone_args {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

int main(int argc, char **argv)
{
    self_exe = "/proc/self/exe";
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 4 && strcmp(argv[1], "exec") == 0)
        return exec_mode(argv);
    char children_link[64], link[64];

    /* The initial namespace. */
    link_of("/proc/self/ns/time", init_link, sizeof init_link);
    link_of("/proc/self/ns/time_for_children", link, sizeof link);
    check(strncmp(init_link, "time:[", 6) == 0, "ns/time names a time namespace");
    check(strcmp(init_link, link) == 0, "time_for_children is time");
    init_fd = ok(open("/proc/self/ns/time", O_RDONLY), "open ns/time");
    struct stat st;
    ok(stat("/proc/self/ns/time_for_children", &st), "stat time_for_children");
    check(S_ISREG(st.st_mode), "nsfs file");
    check(ioctl(init_fd, NS_GET_NSTYPE) == CLONE_NEWTIME, "NS_GET_NSTYPE time");
    err(ioctl(init_fd, NS_GET_PARENT), EINVAL, "NS_GET_PARENT time");
    ok(stat("/proc/self/timens_offsets", &st), "stat timens_offsets");
    check((st.st_mode & 07777) == 0644, "timens_offsets mode");
    show_file("/proc/self/timens_offsets", "initial timens_offsets");
    err(write_offsets("monotonic 1 0"), EACCES, "offsets of the initial namespace");

    /* unshare: a namespace for the children only. */
    ok(syscall(SYS_unshare, CLONE_NEWTIME), "unshare CLONE_NEWTIME");
    link_of("/proc/self/ns/time", link, sizeof link);
    check(strcmp(link, init_link) == 0, "unshare leaves the caller's namespace");
    link_of("/proc/self/ns/time_for_children", children_link, sizeof children_link);
    check(strcmp(children_link, init_link) != 0, "new namespace for children");
    show_file("/proc/self/timens_offsets", "new timens_offsets");
    err(write_offsets("realtime 1 0"), EINVAL, "offset of realtime");
    err(write_offsets("2 1 0"), EINVAL, "offset of clock 2");
    err(write_offsets("1 1 1000000000"), EINVAL, "nanoseconds past a second");
    err(write_offsets("1 1 -1"), EINVAL, "negative nanoseconds");
    err(write_offsets("1 1"), EINVAL, "two fields");
    err(write_offsets("\n1 1 0"), EINVAL, "empty line");
    err(write_offsets("1 -99999999999 0"), ERANGE, "offset past KTIME_SEC_MAX");
    err(write_offsets("1 -1000000000 0"), ERANGE, "monotonic before 0");
    err(write_offsets("7 4611686019 0"), ERANGE, "boottime past KTIME_SEC_MAX / 2");
    int fd = open("/proc/self/timens_offsets", O_WRONLY);
    err(pwrite(fd, "1 1 0", 5, 0), ESPIPE, "pwrite (a seq file)");
    check(lseek(fd, 1, SEEK_SET) == 1, "lseek");
    err(write(fd, "1 1 0", 5), EINVAL, "write at offset 1");
    close(fd);
    check(write_offsets("1 10 0\n7 20 0\n1 30 0\n") == 14, "a write takes two lines");
    show_file("/proc/self/timens_offsets", "after two lines");
    const char *offsets = "monotonic 1000 0\nboottime 2000 0\n";
    check(write_offsets(offsets) == (long)strlen(offsets), "write offsets");
    show_file("/proc/self/timens_offsets", "offsets set");
    near(sys_ns(CLOCK_MONOTONIC), vdso_ns(CLOCK_MONOTONIC), 0, 3000, "the caller's clocks stay");

    /* vfork: the child shares the memory, so it stays in this namespace. */
    static int64_t vfork_mono;
    int64_t mono = sys_ns(CLOCK_MONOTONIC);
    fflush(stdout);
    pid_t pid = vfork();
    if (pid == 0) {
        struct timespec ts;
        syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
        vfork_mono = ts.tv_sec * SEC + ts.tv_nsec;
        _exit(0);
    }
    reap(pid, "vfork");
    near(vfork_mono, mono, 0, 3000, "a vfork child stays in its parent's namespace");

    /* posix_spawn (vfork + exec): the new program enters it. */
    mono = sys_ns(CLOCK_MONOTONIC);
    char base_arg[32];
    snprintf(base_arg, sizeof base_arg, "%lld", (long long)mono);
    char *spawn_argv[] = {(char *)self_exe, "exec", base_arg, "1000", NULL};
    fflush(stdout);
    if (posix_spawn(&pid, self_exe, NULL, NULL, spawn_argv, environ) == 0)
        reap(pid, "posix_spawn");
    else
        check(0, "posix_spawn");

    /* fork: the child enters the namespace (and freezes its offsets). */
    int64_t boot = sys_ns(CLOCK_BOOTTIME), real = sys_ns(CLOCK_REALTIME);
    mono = sys_ns(CLOCK_MONOTONIC);
    pid = fork_flushed();
    if (pid == 0) {
        in_namespace(mono, boot, real, children_link);
        child_done();
    }
    reap(pid, "fork into the namespace");
    err(write_offsets(offsets), EACCES, "offsets once a process entered");
    show_file("/proc/self/timens_offsets", "offsets stay");

    /* setns through a pidfd: into another process's time namespace. */
    pid = fork_flushed();
    if (pid == 0) {
        int pidfd = syscall(SYS_pidfd_open, getppid(), 0);
        int time_fd = ioctl(pidfd, PIDFD_GET_TIME_NAMESPACE, 0);
        int children_fd = ioctl(pidfd, PIDFD_GET_TIME_FOR_CHILDREN_NAMESPACE, 0);
        struct stat a, b;
        fstat(time_fd, &a);
        stat("/proc/self/ns/time", &b);
        check(time_fd >= 0 && a.st_ino != b.st_ino, "PIDFD_GET_TIME_NAMESPACE");
        fstat(children_fd, &a);
        check(children_fd >= 0 && a.st_ino == b.st_ino, "PIDFD_GET_TIME_FOR_CHILDREN_NAMESPACE");
        ok(syscall(SYS_setns, pidfd, CLONE_NEWTIME), "setns pidfd CLONE_NEWTIME");
        near(vdso_ns(CLOCK_MONOTONIC), sys_ns(CLOCK_MONOTONIC), 0, 3000, "vdso agrees");
        link_of("/proc/self/ns/time", link, sizeof link);
        check(strcmp(link, init_link) == 0, "setns pidfd: the parent's namespace");
        child_done();
    }
    reap(pid, "setns through a pidfd");

    /* clone3 CLONE_NEWTIME: a new namespace (with the offsets of the one
     * for children) that the child is in. */
    struct clone_args args;
    memset(&args, 0, sizeof args);
    args.flags = CLONE_NEWTIME;
    args.exit_signal = SIGCHLD;
    mono = sys_ns(CLOCK_MONOTONIC);
    fflush(stdout);
    pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid == 0) {
        near(sys_ns(CLOCK_MONOTONIC), mono, 1000, 3000, "clone3: offsets inherited");
        link_of("/proc/self/ns/time", link, sizeof link);
        check(strcmp(link, children_link) != 0 && strcmp(link, init_link) != 0,
              "clone3: a new namespace");
        char children[64];
        link_of("/proc/self/ns/time_for_children", children, sizeof children);
        check(strcmp(link, children) == 0, "clone3: its children's too");
        err(write_offsets("1 5 0"), EACCES, "clone3: entered");
        child_done();
    }
    if (pid > 0)
        reap(pid, "clone3");
    else
        check(0, "clone3 CLONE_NEWTIME");
    args.flags = CLONE_NEWTIME | CLONE_DETACHED;
    err(syscall(SYS_clone3, &args, sizeof args), EINVAL, "clone3 CLONE_DETACHED");
    args.flags = 0x40;
    err(syscall(SYS_clone3, &args, sizeof args), EINVAL, "clone3 a CSIGNAL bit");

    /* Legacy clone has no room for CLONE_NEWTIME: 0x80 is part of the
     * exit signal there. */
    fflush(stdout);
    long r = syscall(SYS_clone, CLONE_NEWTIME | SIGCHLD, 0, 0, 0, 0);
    if (r == 0)
        _exit(0);
    if (r > 0) {
        waitpid(r, NULL, __WALL);
        printf("legacy clone with 0x80: a child\n");
    } else {
        printf("legacy clone with 0x80: %s\n", ename(errno));
    }

    /* A second unshare copies the offsets of the namespace for children;
     * exec enters it. */
    pid = fork_flushed();
    if (pid == 0) {
        /* In the first namespace (+1000 s) now. */
        ok(syscall(SYS_unshare, CLONE_NEWTIME), "unshare again");
        show_file("/proc/self/timens_offsets", "copied offsets");
        check(write_offsets("monotonic -5 0") > 0, "negative offset");
        exec_self(sys_ns(CLOCK_MONOTONIC), -1005);
    }
    reap(pid, "exec into the namespace");

    /* Without CAP_SYS_ADMIN. */
    pid = fork_flushed();
    if (pid == 0) {
        if (setuid(65534) != 0)
            check(0, "setuid");
        err(syscall(SYS_unshare, CLONE_NEWTIME), EPERM, "unshare without CAP_SYS_ADMIN");
        err(syscall(SYS_setns, init_fd, CLONE_NEWTIME), EPERM, "setns without CAP_SYS_ADMIN");
        child_done();
    }
    reap(pid, "unprivileged");
    return finish();
}
