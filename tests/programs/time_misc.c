/* time_misc: clocks, sleeping, resource usage, identity and limits.
 *
 * Usage: time_misc   (no arguments). Prints only deterministic facts.
 *
 * Covers clock_gettime (REALTIME, MONOTONIC, BOOTTIME, PROCESS_CPUTIME_ID,
 * THREAD_CPUTIME_ID, *_COARSE), clock_getres, gettimeofday, time, nanosleep,
 * clock_nanosleep (relative and TIMER_ABSTIME; clocks it cannot sleep on),
 * sleeps while another process computes, times, getrusage, uid/gid,
 * getgroups, getrlimit/setrlimit/prlimit64 round trips, sysinfo,
 * sched_getaffinity, sched_yield, getcpu, umask, personality(0xffffffff).
 * Prints one line per check and "failures=N"; exits with min(N, 100). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/time.h>
#include <sys/times.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "abi_check.h"

static long long ns(const struct timespec *t)
{
    return (long long)t->tv_sec * 1000000000LL + t->tv_nsec;
}

static long long now(clockid_t c)
{
    struct timespec t;
    clock_gettime(c, &t);
    return ns(&t);
}

static void burn(long long want_ns)
{
    long long t0 = now(CLOCK_MONOTONIC);
    volatile unsigned x = 1;
    while (now(CLOCK_MONOTONIC) - t0 < want_ns)
        for (int i = 0; i < 1000; i++)
            x = x * 1103515245u + 12345u;
}

static void test_clocks(void)
{
    printf("-- clocks\n");
    const struct {
        clockid_t id;
        const char *name;
    } clocks[] = {
        {CLOCK_REALTIME, "REALTIME"},
        {CLOCK_MONOTONIC, "MONOTONIC"},
        {CLOCK_BOOTTIME, "BOOTTIME"},
        {CLOCK_PROCESS_CPUTIME_ID, "PROCESS_CPUTIME_ID"},
        {CLOCK_THREAD_CPUTIME_ID, "THREAD_CPUTIME_ID"},
        {CLOCK_MONOTONIC_RAW, "MONOTONIC_RAW"},
        {CLOCK_REALTIME_COARSE, "REALTIME_COARSE"},
        {CLOCK_MONOTONIC_COARSE, "MONOTONIC_COARSE"},
    };
    char what[96];
    for (unsigned i = 0; i < sizeof clocks / sizeof clocks[0]; i++) {
        struct timespec a, b, res;
        int r1 = (int)syscall(SYS_clock_gettime, clocks[i].id, &a);
        int mono = 1;
        for (int k = 0; k < 1000; k++) {
            syscall(SYS_clock_gettime, clocks[i].id, &b);
            if (ns(&b) < ns(&a) || b.tv_nsec < 0 || b.tv_nsec >= 1000000000L)
                mono = 0;
            a = b;
        }
        snprintf(what, sizeof what, "clock_gettime %s (raw syscall) non-decreasing", clocks[i].name);
        check(r1 == 0 && mono, what);
        int r2 = (int)syscall(SYS_clock_getres, clocks[i].id, &res);
        snprintf(what, sizeof what, "clock_getres %s in (0, 10ms]", clocks[i].name);
        check(r2 == 0 && res.tv_sec == 0 && res.tv_nsec > 0 && res.tv_nsec <= 10000000, what);
    }
    check(syscall(SYS_clock_getres, CLOCK_MONOTONIC, NULL) == 0, "clock_getres with NULL res");
    struct timespec t;
    err(syscall(SYS_clock_gettime, 12345, &t), EINVAL, "clock_gettime bad clock");
    err(syscall(SYS_clock_getres, 12345, &t), EINVAL, "clock_getres bad clock");
    /* REALTIME agrees with gettimeofday and time() */
    struct timeval tv;
    clock_gettime(CLOCK_REALTIME, &t);
    ok(gettimeofday(&tv, NULL), "gettimeofday");
    long long d = (long long)tv.tv_sec * 1000000000LL + tv.tv_usec * 1000LL - ns(&t);
    checkf(d > -1000000000LL && d < 1000000000LL, "gettimeofday agrees with REALTIME", "diff_ms=%ld%ld", (long)(d / 1000000), 0);
    check(tv.tv_usec >= 0 && tv.tv_usec < 1000000, "tv_usec in range");
    time_t tt = 0;
    time_t r = (time_t)syscall(SYS_time, &tt);
    check(r == tt && (r - t.tv_sec) >= -1 && (r - t.tv_sec) <= 1, "time() agrees with REALTIME");
    check(t.tv_sec > 1600000000, "REALTIME is after 2020");
    /* BOOTTIME >= MONOTONIC (no suspend here) */
    long long m = now(CLOCK_MONOTONIC), bt = now(CLOCK_BOOTTIME);
    check(bt >= m, "BOOTTIME >= MONOTONIC");
    /* cpu time advances while burning, and is below wall time */
    long long c0 = now(CLOCK_PROCESS_CPUTIME_ID), w0 = now(CLOCK_MONOTONIC), th0 = now(CLOCK_THREAD_CPUTIME_ID);
    /* Burn until 50 ms of CPU time (not wall time: on a loaded machine the
     * process may get little of the CPU), at most 10 s of wall time. */
    while (now(CLOCK_PROCESS_CPUTIME_ID) - c0 < 50000000LL && now(CLOCK_MONOTONIC) - w0 < 10000000000LL)
        burn(1000000LL);
    long long c1 = now(CLOCK_PROCESS_CPUTIME_ID), w1 = now(CLOCK_MONOTONIC), th1 = now(CLOCK_THREAD_CPUTIME_ID);
    checkf(c1 - c0 >= 20000000LL, "PROCESS_CPUTIME advances >= 20ms during 50ms of work", "cpu_ms=%ld%ld", (long)((c1 - c0) / 1000000), 0);
    checkf(th1 - th0 >= 20000000LL, "THREAD_CPUTIME advances too", "cpu_ms=%ld%ld", (long)((th1 - th0) / 1000000), 0);
    checkf(c1 - c0 <= (w1 - w0) + 5000000LL, "cpu time <= wall time", "cpu_ms=%ld wall_ms=%ld", (long)((c1 - c0) / 1000000), (long)((w1 - w0) / 1000000));
}

static void test_sleep(void)
{
    printf("-- sleeping\n");
    struct timespec req = {0, 10000000}, rem = {9, 9};
    long long t0 = now(CLOCK_MONOTONIC);
    ok(nanosleep(&req, &rem), "nanosleep 10ms");
    long long dt = now(CLOCK_MONOTONIC) - t0;
    checkf(dt >= 10000000LL, "nanosleep waited >= 10ms", "dt_us=%ld%ld", (long)(dt / 1000), 0);
    checkf(dt < 2000000000LL, "nanosleep waited < 2s", "dt_ms=%ld%ld", (long)(dt / 1000000), 0);
    struct timespec bad = {0, 1000000000L};
    err(nanosleep(&bad, NULL), EINVAL, "nanosleep tv_nsec = 1e9");
    bad.tv_sec = -1;
    bad.tv_nsec = 0;
    err(nanosleep(&bad, NULL), EINVAL, "nanosleep negative");
    struct timespec zero = {0, 0};
    ok(nanosleep(&zero, NULL), "nanosleep 0");
    /* clock_nanosleep relative */
    req.tv_nsec = 15000000;
    t0 = now(CLOCK_MONOTONIC);
    int r = clock_nanosleep(CLOCK_MONOTONIC, 0, &req, NULL);
    dt = now(CLOCK_MONOTONIC) - t0;
    checkf(r == 0 && dt >= 15000000LL, "clock_nanosleep MONOTONIC 15ms", "r=%ld dt_us=%ld", (long)r, (long)(dt / 1000));
    /* TIMER_ABSTIME on MONOTONIC and REALTIME */
    struct timespec target;
    clock_gettime(CLOCK_MONOTONIC, &target);
    target.tv_nsec += 20000000;
    if (target.tv_nsec >= 1000000000L) {
        target.tv_sec++;
        target.tv_nsec -= 1000000000L;
    }
    r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &target, NULL);
    long long after = now(CLOCK_MONOTONIC);
    checkf(r == 0 && after >= ns(&target), "clock_nanosleep TIMER_ABSTIME MONOTONIC reaches target", "r=%ld late_us=%ld", (long)r, (long)((after - ns(&target)) / 1000));
    clock_gettime(CLOCK_REALTIME, &target);
    target.tv_nsec += 10000000;
    if (target.tv_nsec >= 1000000000L) {
        target.tv_sec++;
        target.tv_nsec -= 1000000000L;
    }
    r = clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &target, NULL);
    after = now(CLOCK_REALTIME);
    checkf(r == 0 && after >= ns(&target), "clock_nanosleep TIMER_ABSTIME REALTIME reaches target", "r=%ld%ld", (long)r, 0);
    /* an absolute time in the past returns at once */
    target.tv_sec -= 100;
    t0 = now(CLOCK_MONOTONIC);
    r = clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &target, NULL);
    dt = now(CLOCK_MONOTONIC) - t0;
    checkf(r == 0 && dt < 100000000LL, "TIMER_ABSTIME in the past returns at once", "r=%ld dt_ms=%ld", (long)r, (long)(dt / 1000000));
    r = clock_nanosleep(CLOCK_THREAD_CPUTIME_ID, 0, &req, NULL);
    checkf(r == EINVAL, "clock_nanosleep THREAD_CPUTIME is EINVAL", "r=%ld%ld", (long)r, 0);
    r = clock_nanosleep(12345, 0, &req, NULL);
    checkf(r == EINVAL, "clock_nanosleep bad clock is EINVAL", "r=%ld%ld", (long)r, 0);
    /* The kernel's answer (the libc wrappers say EINVAL for the thread
     * clock themselves): clocks that exist but cannot be slept on. */
    err(syscall(SYS_clock_nanosleep, CLOCK_THREAD_CPUTIME_ID, 0, &req, NULL), EOPNOTSUPP,
        "raw clock_nanosleep THREAD_CPUTIME");
    err(syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC_RAW, 0, &req, NULL), EOPNOTSUPP,
        "raw clock_nanosleep MONOTONIC_RAW");
    err(syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC_COARSE, 0, &req, NULL), EOPNOTSUPP,
        "raw clock_nanosleep MONOTONIC_COARSE");
    err(syscall(SYS_clock_nanosleep, 12345, 0, &req, NULL), EINVAL, "raw clock_nanosleep bad clock");
}

/* Sleeps end (never early) while another process computes without
 * entering the kernel: on one vCPU the sleeper's deadline must preempt it.
 * How late they end is not checked (timing depends on the host). */
static void test_sleep_while_computing(void)
{
    printf("-- sleeping while another process computes\n");
    pid_t spinner = fork();
    if (spinner == 0) {
        volatile unsigned long x = 0;
        for (;;)
            x++;
    }
    check(spinner > 0, "fork a computing child");
    int good = 0, early = 0;
    for (int i = 0; i < 20; i++) {
        struct timespec req = {0, (i % 2 ? 300 : 2000) * 1000L};
        long long t0 = now(CLOCK_MONOTONIC);
        int r = nanosleep(&req, NULL);
        long long dt = now(CLOCK_MONOTONIC) - t0;
        good += r == 0;
        early += dt < ns(&req);
    }
    checkf(good == 20 && early == 0, "20 nanosleeps of 0.3-2 ms end, none early", "ok=%d early=%d", good, early);
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_nsec += 3000000;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    int r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, NULL);
    checkf(r == 0 && now(CLOCK_MONOTONIC) >= ns(&deadline), "TIMER_ABSTIME sleep ends at its deadline", "r=%ld%ld", (long)r, 0);
    kill(spinner, SIGKILL);
    int status = 0;
    check(waitpid(spinner, &status, 0) == spinner && WIFSIGNALED(status), "the computing child is killed");
}

static void test_usage(void)
{
    printf("-- times, getrusage\n");
    struct tms t;
    clock_t c = times(&t);
    check(c != (clock_t)-1, "times succeeds");
    check(t.tms_cutime == 0 && t.tms_cstime == 0, "no children cpu time");
    burn(30000000LL);
    struct tms t2;
    times(&t2);
    check(t2.tms_utime + t2.tms_stime >= t.tms_utime + t.tms_stime, "times does not go backwards");
    check(sysconf(_SC_CLK_TCK) == 100, "CLK_TCK is 100");
    struct rusage ru;
    ok(getrusage(RUSAGE_SELF, &ru), "getrusage SELF");
    long long ut = ru.ru_utime.tv_sec * 1000000LL + ru.ru_utime.tv_usec;
    long long st = ru.ru_stime.tv_sec * 1000000LL + ru.ru_stime.tv_usec;
    check(ut + st > 0, "getrusage user+sys > 0 after work");
    check(ru.ru_utime.tv_usec < 1000000 && ru.ru_stime.tv_usec < 1000000, "rusage usec in range");
    check(ru.ru_maxrss > 0, "ru_maxrss > 0");
    ok(getrusage(RUSAGE_CHILDREN, &ru), "getrusage CHILDREN");
    check(ru.ru_utime.tv_sec == 0 && ru.ru_utime.tv_usec == 0, "children used nothing");
    ok(getrusage(RUSAGE_THREAD, &ru), "getrusage THREAD");
    err(getrusage(12345, &ru), EINVAL, "getrusage bad who");
}

static void test_ids_limits(void)
{
    printf("-- identity\n");
    printf("uid=%d euid=%d gid=%d egid=%d\n", (int)getuid(), (int)geteuid(), (int)getgid(), (int)getegid());
    uid_t r, e, s;
    ok(getresuid(&r, &e, &s), "getresuid");
    check(r == 0 && e == 0 && s == 0, "resuid all 0");
    gid_t gr, ge, gs;
    ok(getresgid(&gr, &ge, &gs), "getresgid");
    check(gr == 0 && ge == 0 && gs == 0, "resgid all 0");
    int ng = getgroups(0, NULL);
    check(ng >= 0, "getgroups(0) counts");
    gid_t groups[64];
    int ng2 = getgroups(64, groups);
    check(ng2 == ng, "getgroups returns the same count");
    int has_neg = 0;
    for (int i = 0; i < ng2; i++)
        if ((int)groups[i] < 0)
            has_neg = 1;
    check(!has_neg, "group ids are sane");

    printf("-- limits\n");
    /* The limits a program starts with are its parent's: the sandbox starts
     * the program with rvisor-vmm's, as a native run from the same shell
     * (the stack limit is the 8 MiB the sandbox reserves). */
    static const char *const names[] = {"CPU", "FSIZE", "DATA", "STACK", "CORE", "RSS", "NPROC", "NOFILE",
                                        "MEMLOCK", "AS", "LOCKS", "SIGPENDING", "MSGQUEUE", "NICE", "RTPRIO", "RTTIME"};
    for (int r = 0; r < 16; r++) {
        struct rlimit l;
        if (getrlimit(r, &l) != 0) {
            printf("initial RLIMIT_%s: FAIL %s\n", names[r], ename(errno));
            failures++;
            continue;
        }
        if (r == RLIMIT_STACK && l.rlim_cur > (8 << 20))
            l.rlim_cur = 8 << 20;
        printf("initial RLIMIT_%s: cur=%llu max=%llu\n", names[r], (unsigned long long)l.rlim_cur,
               (unsigned long long)l.rlim_max);
    }
    struct rlimit rl, old;
    ok(getrlimit(RLIMIT_NOFILE, &old), "getrlimit NOFILE");
    check(old.rlim_cur > 0 && old.rlim_cur <= old.rlim_max, "NOFILE cur <= max");
    rl.rlim_cur = 100;
    rl.rlim_max = old.rlim_max;
    ok(setrlimit(RLIMIT_NOFILE, &rl), "setrlimit NOFILE cur=100");
    struct rlimit back;
    getrlimit(RLIMIT_NOFILE, &back);
    check(back.rlim_cur == 100 && back.rlim_max == old.rlim_max, "NOFILE round trip");
    /* the new limit is enforced: fds >= 100 are refused */
    err(dup2(0, 150), EBADF, "dup2 beyond RLIMIT_NOFILE");
    err(fcntl(0, F_DUPFD, 100), EINVAL, "F_DUPFD beyond RLIMIT_NOFILE");
    rl.rlim_cur = 200;
    rl.rlim_max = 100;
    err(setrlimit(RLIMIT_NOFILE, &rl), EINVAL, "setrlimit cur > max");
    struct rlimit nl = {1 << 20, 1 << 20}, prev;
    ok(syscall(SYS_prlimit64, 0, RLIMIT_STACK, &nl, &prev), "prlimit64 set STACK, get old");
    struct rlimit cur;
    ok(syscall(SYS_prlimit64, 0, RLIMIT_STACK, NULL, &cur), "prlimit64 get STACK");
    check(cur.rlim_cur == (1 << 20) && cur.rlim_max == (1 << 20), "STACK round trip");
    /* lowering the hard limit is allowed, raising it back as root too */
    struct rlimit core = {0, 1000};
    ok(setrlimit(RLIMIT_CORE, &core), "setrlimit CORE 0/1000");
    getrlimit(RLIMIT_CORE, &back);
    check(back.rlim_cur == 0 && back.rlim_max == 1000, "CORE round trip");
    err(getrlimit(100, &back), EINVAL, "getrlimit bad resource");
    struct rlimit as;
    ok(getrlimit(RLIMIT_AS, &as), "getrlimit AS");
    setrlimit(RLIMIT_NOFILE, &old);
}

static void test_system(void)
{
    printf("-- system\n");
    struct sysinfo si;
    ok(sysinfo(&si), "sysinfo");
    check(si.uptime > 0, "sysinfo uptime > 0");
    check(si.totalram > 0 && si.freeram <= si.totalram, "sysinfo freeram <= totalram");
    check(si.mem_unit >= 1, "sysinfo mem_unit >= 1");
    check(si.procs >= 1, "sysinfo procs >= 1");
    check((unsigned long long)si.totalram * si.mem_unit >= (16ULL << 20), "sysinfo totalram >= 16 MiB");
    cpu_set_t set;
    CPU_ZERO(&set);
    ok(sched_getaffinity(0, sizeof set, &set), "sched_getaffinity");
    int n = CPU_COUNT(&set);
    check(n >= 1, "affinity has >= 1 cpu");
    long rr = syscall(SYS_sched_getaffinity, 0, sizeof set, &set);
    check(rr > 0 && rr % 8 == 0, "raw sched_getaffinity returns a size in bytes");
    err(syscall(SYS_sched_getaffinity, 0, 1, &set), EINVAL, "sched_getaffinity too small");
    check(n == sysconf(_SC_NPROCESSORS_ONLN), "online cpus == affinity count");
    ok(sched_yield(), "sched_yield");
    unsigned cpu = 999, node = 999;
    ok(syscall(SYS_getcpu, &cpu, &node, NULL), "getcpu");
    check(CPU_ISSET(cpu, &set), "getcpu cpu is in the affinity set");
    check(node == 0, "getcpu node 0");
    check(sched_getcpu() >= 0, "sched_getcpu");
    mode_t old = umask(0027);
    mode_t back = umask(old);
    check(back == 0027, "umask round trip");
    check(umask(old) == old, "umask restored");
    int p = personality(0xffffffff);
    printf("personality=0x%x\n", p);
    check(p >= 0, "personality query");
    check(personality(0xffffffff) == p, "personality query is stable");
    check(sysconf(_SC_PAGESIZE) == 4096, "page size 4096");
    check(getpagesize() == 4096, "getpagesize 4096");
    long hz = sysconf(_SC_CLK_TCK);
    check(hz == 100, "CLK_TCK 100");
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    test_clocks();
    test_sleep();
    test_usage();
    test_ids_limits();
    test_system();
    /* Last: its child's CPU time would show in test_usage. */
    test_sleep_while_computing();
    return finish();
}
