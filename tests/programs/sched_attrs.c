/* sched_attrs: scheduling policies, priorities and nice values as Linux
 * checks and reports them: on the caller and on another process, with
 * SCHED_RESET_ON_FORK, sched_setattr/sched_getattr, and what a process that
 * dropped root may not do. Run as root (the native run needs root). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "abi_check.h"

struct attr {
    uint32_t size, policy;
    uint64_t flags;
    int32_t nice;
    uint32_t priority;
    uint64_t runtime, deadline, period;
};

static long setattr(pid_t pid, struct attr *a, unsigned flags)
{
    return syscall(SYS_sched_setattr, pid, a, flags);
}

static long getattr(pid_t pid, struct attr *a, unsigned size, unsigned flags)
{
    return syscall(SYS_sched_getattr, pid, a, size, flags);
}

/* musl has no wrappers for these (it returns ENOSYS): the raw calls. */
#define sched_setscheduler(pid, policy, param) syscall(SYS_sched_setscheduler, pid, policy, param)
#define sched_getscheduler(pid) syscall(SYS_sched_getscheduler, pid)
#define sched_setparam(pid, param) syscall(SYS_sched_setparam, pid, param)
#define sched_getparam(pid, param) syscall(SYS_sched_getparam, pid, param)
#define sched_rr_get_interval(pid, ts) syscall(SYS_sched_rr_get_interval, pid, ts)

static void show(pid_t pid, const char *what)
{
    struct sched_param p = { 0 };
    int policy = (int)sched_getscheduler(pid);
    sched_getparam(pid, &p);
    errno = 0;
    int nice = getpriority(PRIO_PROCESS, pid);
    printf("%s: policy=%d priority=%d nice=%d\n", what, policy, p.sched_priority, nice);
}

/* A child that waits to be changed and reports itself. */
static pid_t sleeper(int fds[2])
{
    if (pipe(fds) < 0)
        exit(1);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        char c;
        close(fds[1]);
        if (read(fds[0], &c, 1) == 1)
            show(0, "child sees itself");
        fflush(stdout);
        _exit(0);
    }
    close(fds[0]);
    return pid;
}

/* Nice values weigh CPU shares (CFS): two spinning threads on one CPU,
 * at nice 0 and nice 10 (weights 1024 and 110), split it ~9:1. Only the
 * order and a loose factor are printed: the figures vary with load. */
static volatile int spin_stop;

static void *spinner(void *arg)
{
    setpriority(PRIO_PROCESS, syscall(SYS_gettid), (int)(intptr_t)arg);
    while (!spin_stop)
        ;
    return NULL;
}

static double thread_cpu(pthread_t t)
{
    clockid_t clock;
    struct timespec ts;
    pthread_getcpuclockid(t, &clock);
    clock_gettime(clock, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void nice_shares(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    sched_getaffinity(0, sizeof set, &set);
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
        if (CPU_ISSET(cpu, &set)) {
            CPU_ZERO(&set);
            CPU_SET(cpu, &set);
            break;
        }
    ok(sched_setaffinity(0, sizeof set, &set), "pin to one CPU");
    pthread_t fair, nice10;
    pthread_create(&fair, NULL, spinner, (void *)0);
    pthread_create(&nice10, NULL, spinner, (void *)10);
    usleep(600000);
    double a = thread_cpu(fair), b = thread_cpu(nice10);
    spin_stop = 1;
    pthread_join(fair, NULL);
    pthread_join(nice10, NULL);
    printf("nice 0 thread had more CPU than nice 10: %s\n", a > b ? "yes" : "no");
    printf("by more than 2x: %s\n", a > 2 * b ? "yes" : "no");
}

int main(void)
{
    struct sched_param p = { .sched_priority = 0 };
    show(0, "start");
    err(sched_setscheduler(0, SCHED_FIFO, &p), EINVAL, "FIFO with priority 0");
    p.sched_priority = 100;
    err(sched_setscheduler(0, SCHED_FIFO, &p), EINVAL, "FIFO with priority 100");
    p.sched_priority = 5;
    err(sched_setscheduler(0, SCHED_OTHER, &p), EINVAL, "OTHER with priority 5");
    err(sched_setscheduler(-1, SCHED_OTHER, &p), EINVAL, "negative pid");
    err(sched_setscheduler(0, 42, &p), EINVAL, "unknown policy");
    err(sched_getscheduler(-1), EINVAL, "getscheduler of a negative pid");
    err(sched_getscheduler(999999), ESRCH, "getscheduler of no process");
    err(sched_getparam(999999, &p), ESRCH, "getparam of no process");
    err(syscall(SYS_sched_getparam, 0, NULL), EINVAL, "getparam with NULL");
    err(syscall(SYS_sched_setscheduler, 0, SCHED_OTHER, (void *)8), EFAULT, "setscheduler with a bad pointer");

    p.sched_priority = 10;
    ok(sched_setscheduler(0, SCHED_RR, &p), "RR 10");
    show(0, "after RR 10");
    struct timespec ts;
    ok(sched_rr_get_interval(0, &ts), "rr_get_interval");
    printf("RR slice: %s\n", ts.tv_sec == 0 && ts.tv_nsec > 0 ? "positive" : "FAIL");
    p.sched_priority = 20;
    ok(sched_setparam(0, &p), "setparam 20");
    show(0, "after setparam 20");
    p.sched_priority = 0;
    ok(sched_setscheduler(0, SCHED_BATCH, &p), "BATCH");
    show(0, "after BATCH");
    ok(sched_setscheduler(0, SCHED_IDLE, &p), "IDLE");
    show(0, "after IDLE");
    ok(sched_setscheduler(0, SCHED_OTHER | SCHED_RESET_ON_FORK, &p), "OTHER|RESET_ON_FORK");
    printf("getscheduler with the flag: %#lx\n", sched_getscheduler(0));
    ok(sched_setscheduler(0, SCHED_OTHER, &p), "OTHER again");

    /* Another process: changed from here, seen there. */
    int fds[2];
    pid_t child = sleeper(fds);
    p.sched_priority = 7;
    ok(sched_setscheduler(child, SCHED_FIFO, &p), "FIFO 7 on the child");
    ok(setpriority(PRIO_PROCESS, child, 5) == 0 ? 0 : -1, "nice 5 on the child");
    show(child, "child from the parent");
    p.sched_priority = 0;
    ok(sched_setscheduler(child, SCHED_OTHER, &p), "child back to OTHER");
    write(fds[1], "x", 1);
    close(fds[1]);
    waitpid(child, NULL, 0);

    /* SCHED_RESET_ON_FORK: a child of a real-time process starts as OTHER. */
    p.sched_priority = 3;
    ok(sched_setscheduler(0, SCHED_RR | SCHED_RESET_ON_FORK, &p), "RR 3 with RESET_ON_FORK");
    ok(setpriority(PRIO_PROCESS, 0, -5), "nice -5");
    child = sleeper(fds);
    write(fds[1], "x", 1);
    close(fds[1]);
    waitpid(child, NULL, 0);
    p.sched_priority = 0;
    ok(sched_setscheduler(0, SCHED_OTHER, &p), "back to OTHER");
    ok(setpriority(PRIO_PROCESS, 0, 0), "nice 0");

    /* sched_setattr / sched_getattr. */
    struct attr a = { .size = sizeof a, .policy = SCHED_OTHER, .nice = 3 };
    ok(setattr(0, &a, 0), "setattr OTHER nice 3");
    memset(&a, 0, sizeof a);
    ok(getattr(0, &a, sizeof a, 0), "getattr");
    printf("getattr: size=%u policy=%u nice=%d priority=%u\n", a.size, a.policy, a.nice, a.priority);
    err(getattr(0, &a, 8, 0), EINVAL, "getattr with a short size");
    err(getattr(0, &a, sizeof a, 1), EINVAL, "getattr with flags");
    a = (struct attr){ .size = sizeof a, .policy = SCHED_FIFO, .priority = 4 };
    ok(setattr(0, &a, 0), "setattr FIFO 4");
    show(0, "after setattr FIFO 4");
    a = (struct attr){ .size = sizeof a, .policy = SCHED_DEADLINE, .runtime = 10, .deadline = 1000000,
                       .period = 1000000 };
    err(setattr(0, &a, 0), EINVAL, "setattr DEADLINE with a tiny runtime");
    a = (struct attr){ .size = sizeof a, .policy = SCHED_OTHER };
    ok(setattr(0, &a, 0), "setattr OTHER");
    err(setattr(0, &a, 1), EINVAL, "setattr with flags");
    struct { struct attr a; uint32_t util_min, util_max; uint64_t extra; } big = {
        { .size = sizeof big, .policy = SCHED_OTHER }, 0, 0, 1 };
    err(setattr(0, &big.a, 0), E2BIG, "setattr with unknown nonzero tail");
    printf("size written back: %u\n", big.a.size);

    /* Without root: no real-time, no lowering nice, not another's process. */
    child = sleeper(fds);
    fflush(stdout);
    pid_t user = fork();
    if (user == 0) {
        if (setuid(1000) < 0)
            _exit(1);
        struct sched_param q = { .sched_priority = 1 };
        err(sched_setscheduler(0, SCHED_FIFO, &q), EPERM, "unprivileged FIFO");
        ok(setpriority(PRIO_PROCESS, 0, 5), "unprivileged nice 5");
        err(setpriority(PRIO_PROCESS, 0, 2), EACCES, "unprivileged nice back to 2");
        err(setpriority(PRIO_PROCESS, child, 5), EPERM, "unprivileged nice on root's process");
        q.sched_priority = 0;
        err(sched_setscheduler(child, SCHED_BATCH, &q), EPERM, "unprivileged policy of root's process");
        ok(sched_setscheduler(0, SCHED_BATCH, &q), "unprivileged BATCH on itself");
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(0, &set);
        err(sched_setaffinity(child, sizeof set, &set), EPERM, "unprivileged affinity of root's process");
        _exit(finish());
    }
    int status;
    waitpid(user, &status, 0);
    printf("unprivileged child: %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        failures++;
    write(fds[1], "x", 1);
    close(fds[1]);
    waitpid(child, NULL, 0);

    fflush(stdout);
    pid_t shares = fork();
    if (shares == 0) {
        nice_shares();
        fflush(stdout);
        _exit(finish());
    }
    waitpid(shares, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        failures++;
    return finish();
}
