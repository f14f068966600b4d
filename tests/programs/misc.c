/* misc: checks assorted syscalls and process-environment facts. Prints only
 * facts that are the same on every Linux x86_64 host (never pids, times or
 * random bytes themselves), one "... ok" / "... FAIL" line per check, and
 * exits with the number of failures.
 *
 * Expects stdout and stderr to be pipes and stdin to be a pipe that holds
 * exactly the bytes "ping\n" followed by EOF (the tests arrange that). */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static int failures;

static void check(int cond, const char *what)
{
    printf("%s: %s\n", what, cond ? "ok" : "FAIL");
    if (!cond)
        failures++;
}

static __thread int tls_counter = 42;
static __thread char tls_buf[64] = "thread-local initial value";

static volatile sig_atomic_t got_signal;
static void handler(int sig)
{
    got_signal = sig;
}

static long long ts_ns(const struct timespec *t)
{
    return (long long)t->tv_sec * 1000000000LL + t->tv_nsec;
}

static void test_uname(void)
{
    struct utsname u;
    int r = uname(&u);
    check(r == 0, "uname succeeds");
    if (r == 0) {
        printf("uname.sysname=%s\n", u.sysname);
        printf("uname.machine=%s\n", u.machine);
        check(u.release[0] != '\0', "uname.release is non-empty");
    }
}

static void test_ids(void)
{
    pid_t pid = getpid();
    check(pid > 0, "getpid() > 0");
    check(getppid() >= 0, "getppid() >= 0");
    check((pid_t)syscall(SYS_gettid) == pid, "gettid() == getpid() in the main thread");
    int dummy;
    long r = syscall(SYS_set_tid_address, &dummy);
    check(r == pid, "set_tid_address returns the tid");
}

static void test_clocks(void)
{
    struct timespec a, b;
    int ok = clock_gettime(CLOCK_MONOTONIC, &a) == 0;
    check(ok, "clock_gettime(CLOCK_MONOTONIC) succeeds");
    int nondecreasing = 1;
    for (int i = 0; i < 10000; i++) {
        clock_gettime(CLOCK_MONOTONIC, &b);
        if (ts_ns(&b) < ts_ns(&a))
            nondecreasing = 0;
        if (b.tv_nsec < 0 || b.tv_nsec >= 1000000000L)
            nondecreasing = 0;
        a = b;
    }
    check(nondecreasing, "CLOCK_MONOTONIC never goes backwards (10000 reads)");

    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    int advanced = 0;
    for (long i = 0; i < 50000000L; i++) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (ts_ns(&now) - ts_ns(&start) >= 2000000LL) { /* 2 ms */
            advanced = 1;
            break;
        }
    }
    check(advanced, "CLOCK_MONOTONIC advances (2 ms busy wait terminates)");

    struct timespec rt;
    check(clock_gettime(CLOCK_REALTIME, &rt) == 0, "clock_gettime(CLOCK_REALTIME) succeeds");
    check(rt.tv_sec > 1577836800LL, "CLOCK_REALTIME is after 2020-01-01");
    check(time(NULL) > 1577836800LL, "time() is after 2020-01-01");

    errno = 0;
    check(clock_gettime((clockid_t)12345, &rt) == -1 && errno == EINVAL, "clock_gettime(bogus clock) -> EINVAL");
}

static void test_getrandom(void)
{
    unsigned char a[64], b[64], big[4096];
    memset(a, 0, sizeof a);
    memset(b, 0, sizeof b);
    long ra = syscall(SYS_getrandom, a, sizeof a, 0);
    long rb = syscall(SYS_getrandom, b, sizeof b, 1 /* GRND_NONBLOCK */);
    printf("getrandom(64) returned %ld\n", ra);
    printf("getrandom(64, GRND_NONBLOCK) returned %ld\n", rb);
    check(memcmp(a, b, sizeof a) != 0, "two getrandom draws differ");
    int nonzero = 0;
    for (size_t i = 0; i < sizeof a; i++)
        nonzero |= a[i];
    check(nonzero != 0, "getrandom bytes are not all zero");
    long rbig = syscall(SYS_getrandom, big, sizeof big, 0);
    printf("getrandom(4096) returned %ld\n", rbig);
    long r0 = syscall(SYS_getrandom, big, 0, 0);
    printf("getrandom(0) returned %ld\n", r0);
}

static void test_tty(void)
{
    for (int fd = 0; fd <= 2; fd++) {
        struct termios t;
        struct winsize w;
        errno = 0;
        int r1 = ioctl(fd, TCGETS, &t);
        int e1 = errno;
        errno = 0;
        int r2 = ioctl(fd, TIOCGWINSZ, &w);
        int e2 = errno;
        printf("fd %d: TCGETS -> %d (%s), TIOCGWINSZ -> %d (%s), isatty=%d\n", fd, r1,
               r1 ? strerror(e1) : "no error", r2, r2 ? strerror(e2) : "no error", isatty(fd));
    }
    errno = 0;
    struct winsize w;
    check(ioctl(57, TIOCGWINSZ, &w) == -1 && errno == EBADF, "ioctl on a closed fd -> EBADF");
}

static void test_rlimits(void)
{
    struct rlimit r;
    check(getrlimit(RLIMIT_STACK, &r) == 0 && r.rlim_cur > 0, "getrlimit(RLIMIT_STACK) > 0");
    check(getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur >= 3, "getrlimit(RLIMIT_NOFILE) >= 3");
    struct rlimit core = {0, 0};
    check(setrlimit(RLIMIT_CORE, &core) == 0, "setrlimit(RLIMIT_CORE, 0) succeeds");
    check(getrlimit(RLIMIT_CORE, &r) == 0 && r.rlim_cur == 0, "RLIMIT_CORE reads back as 0");
}

static void test_signals(void)
{
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGUSR2);
    check(sigaction(SIGUSR1, &sa, NULL) == 0, "sigaction(SIGUSR1) installs a handler");
    memset(&old, 0, sizeof old);
    check(sigaction(SIGUSR1, NULL, &old) == 0 && old.sa_handler == handler && (old.sa_flags & SA_RESTART) &&
              sigismember(&old.sa_mask, SIGUSR2) == 1,
          "sigaction(SIGUSR1) reads back handler, flags and mask");
    errno = 0;
    check(sigaction(SIGKILL, &sa, NULL) == -1 && errno == EINVAL, "sigaction(SIGKILL) -> EINVAL");

    sigset_t set, cur;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    check(sigprocmask(SIG_BLOCK, &set, NULL) == 0, "sigprocmask(SIG_BLOCK, SIGUSR2)");
    sigemptyset(&cur);
    check(sigprocmask(SIG_SETMASK, NULL, &cur) == 0 && sigismember(&cur, SIGUSR2) == 1 &&
              sigismember(&cur, SIGUSR1) == 0,
          "sigprocmask reads back the blocked set");
    check(sigprocmask(SIG_UNBLOCK, &set, NULL) == 0, "sigprocmask(SIG_UNBLOCK, SIGUSR2)");
    sigprocmask(SIG_SETMASK, NULL, &cur);
    check(sigismember(&cur, SIGUSR2) == 0, "SIGUSR2 is unblocked again");

    stack_t ss, oss;
    memset(&oss, 0, sizeof oss);
    check(sigaltstack(NULL, &oss) == 0 && (oss.ss_flags & SS_DISABLE), "initial sigaltstack is disabled");
    static char altstack[65536];
    ss.ss_sp = altstack;
    ss.ss_size = sizeof altstack;
    ss.ss_flags = 0;
    check(sigaltstack(&ss, NULL) == 0, "sigaltstack installs a stack");
    memset(&oss, 0, sizeof oss);
    check(sigaltstack(NULL, &oss) == 0 && oss.ss_sp == altstack && oss.ss_size == sizeof altstack &&
              oss.ss_flags == 0,
          "sigaltstack reads back");
    ss.ss_flags = SS_DISABLE;
    check(sigaltstack(&ss, NULL) == 0, "sigaltstack can be disabled");
}

static void test_poll_stdin(void)
{
    struct pollfd p[2] = {{.fd = 1, .events = POLLOUT}, {.fd = 2, .events = POLLOUT}};
    int r = poll(p, 2, 1000);
    check(r == 2 && (p[0].revents & POLLOUT) && (p[1].revents & POLLOUT), "poll: stdout and stderr are writable");

    struct pollfd in = {.fd = 0, .events = POLLIN};
    r = poll(&in, 1, 10000);
    check(r == 1 && (in.revents & (POLLIN | POLLHUP)), "poll: stdin becomes readable");

    char buf[64];
    size_t got = 0;
    for (;;) {
        ssize_t n = read(0, buf + got, sizeof buf - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
        if (got == sizeof buf)
            break;
    }
    printf("stdin: read %zu bytes: [%.*s]\n", got, (int)(got && buf[got - 1] == '\n' ? got - 1 : got), buf);
    check(read(0, buf, sizeof buf) == 0, "read at EOF returns 0");
}

static void test_misc(void)
{
    printf("sysconf(_SC_PAGESIZE)=%ld\n", sysconf(_SC_PAGESIZE));
    printf("getauxval(AT_PAGESZ)=%lu\n", getauxval(AT_PAGESZ));
    check(getauxval(AT_PHDR) != 0, "auxv has AT_PHDR");
    check(getauxval(AT_PHNUM) != 0, "auxv has AT_PHNUM");
    check(getauxval(AT_ENTRY) != 0, "auxv has AT_ENTRY");
    check(getauxval(AT_RANDOM) != 0, "auxv has AT_RANDOM");

    errno = 0;
    long r = syscall(999);
    check(r == -1 && errno == ENOSYS, "unknown syscall 999 -> ENOSYS");

    errno = 0;
    check(write(57, "x", 1) == -1 && errno == EBADF, "write to a closed fd -> EBADF");

    /* TLS through %fs (arch_prctl ARCH_SET_FS). */
    printf("tls_counter=%d tls_buf=%s\n", tls_counter, tls_buf);
    tls_counter += 1;
    strcpy(tls_buf, "changed");
    printf("tls_counter=%d tls_buf=%s\n", tls_counter, tls_buf);

    /* A deep stack: 1 MiB of locals touched from the top down. */
    volatile char big[1 << 20];
    for (size_t i = sizeof big; i > 0; i -= 4096)
        big[i - 1] = (char)i;
    check(big[4095] == (char)4096, "1 MiB stack frame is usable");

    /* FPU/SSE state, kept across system calls. */
    double acc = 0.0, x = 1.0;
    for (int i = 1; i <= 1000; i++) {
        acc += (double)i * 0.5;
        x = x * 1.0001 + 1.0 / (double)i;
        if (i % 100 == 0)
            syscall(SYS_getpid);
    }
    printf("fp: acc=%.3f x=%.9f\n", acc, x);
    long double ld = 1.0L;
    for (int i = 0; i < 64; i++)
        ld = ld * 3.0L / 2.0L;
    printf("x87: %.6Lf\n", ld);
}

int main(void)
{
    test_uname();
    test_ids();
    test_clocks();
    test_getrandom();
    test_tty();
    test_rlimits();
    test_signals();
    test_poll_stdin();
    test_misc();
    printf("failures=%d\n", failures);
    fflush(stdout);
    return failures > 100 ? 100 : failures;
}
