/* signals: delivery of signals within one process, compared with Linux.
 * Handlers with and without SA_SIGINFO, siginfo contents, masks (blocked,
 * pending, sa_mask, SA_NODEFER, SA_RESETHAND), the alternate stack, faults
 * caught and recovered from (registers and FP/SIMD state survive the
 * handler), rt_sigreturn, interval timers interrupting waits (pause, nanosleep,
 * sigsuspend, ppoll), sigtimedwait, sigqueue and SIGPIPE.
 *
 * Prints only deterministic facts and failures=N. With an argument it ends
 * by a signal instead: "abort", "term", "segv-in-handler", "ignored-segv",
 * "raise-blocked-then-default". */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "abi_check.h"

static volatile sig_atomic_t hits;
static volatile sig_atomic_t last_signal;
static volatile int last_code;
static volatile int last_pid_ok;
static volatile int last_value;
static volatile uintptr_t last_addr;
static volatile int mask_had_self;
static volatile int mask_had_usr2;
static volatile int on_altstack;
static volatile int altstack_flags_in_handler;
static volatile int altstack_change_errno;
static char altstack[65536];

static void plain_handler(int sig)
{
    hits++;
    last_signal = sig;
}

static void info_handler(int sig, siginfo_t *info, void *ucontext)
{
    (void)ucontext;
    hits++;
    last_signal = sig;
    last_code = info->si_code;
    last_pid_ok = info->si_pid == getpid();
    last_value = info->si_value.sival_int;
}

static void mask_handler(int sig)
{
    sigset_t cur;
    sigprocmask(SIG_SETMASK, NULL, &cur);
    mask_had_self = sigismember(&cur, sig);
    mask_had_usr2 = sigismember(&cur, SIGUSR2);
    hits++;
}

static void altstack_handler(int sig)
{
    (void)sig;
    char local;
    uintptr_t p = (uintptr_t)&local;
    on_altstack = p >= (uintptr_t)altstack && p < (uintptr_t)altstack + sizeof altstack;
    stack_t ss;
    sigaltstack(NULL, &ss);
    altstack_flags_in_handler = ss.ss_flags;
    stack_t other = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
    altstack_change_errno = sigaltstack(&other, NULL) == 0 ? 0 : errno;
    hits++;
}

static volatile int ro_usr1_ran, ro_segv_code;
static void ro_usr1(int sig)
{
    ro_usr1_ran = 1;
}
static void ro_segv(int sig, siginfo_t *info, void *uc)
{
    ro_segv_code = info->si_code;
}

static void install(int sig, void (*handler)(int), int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

static void install_info(int sig, void (*handler)(int, siginfo_t *, void *), int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = handler;
    sa.sa_flags = flags | SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

static long long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void arm_timer_ms(int ms)
{
    struct itimerval it = {{0, 0}, {ms / 1000, (ms % 1000) * 1000}};
    setitimer(ITIMER_REAL, &it, NULL);
}

static void test_basic_delivery(void)
{
    printf("-- delivery\n");
    hits = 0;
    install(SIGUSR1, plain_handler, 0);
    check(raise(SIGUSR1) == 0 && hits == 1 && last_signal == SIGUSR1, "raise runs the handler before returning");
    check(kill(getpid(), SIGUSR1) == 0 && hits == 2, "kill(getpid()) runs the handler");
    /* (Not kill(0) or kill(-1): natively they would reach the test runner.) */
    check(syscall(SYS_tgkill, getpid(), gettid(), SIGUSR1) == 0 && hits == 3, "tgkill runs the handler");
    check(kill(getpid(), 0) == 0 && hits == 3, "signal 0 only checks");
    err(kill(getpid(), 65), EINVAL, "kill with signal 65");
    err(kill(999999, SIGUSR1), ESRCH, "kill unknown pid");
    err(syscall(SYS_tgkill, getpid(), 999999, SIGUSR1), ESRCH, "tgkill unknown tid");
    err(syscall(SYS_tgkill, 0, gettid(), SIGUSR1), EINVAL, "tgkill tgid 0");

    install_info(SIGUSR2, info_handler, 0);
    kill(getpid(), SIGUSR2);
    check(last_signal == SIGUSR2 && last_code == SI_USER && last_pid_ok, "kill: si_code SI_USER, si_pid ours");
    syscall(SYS_tgkill, getpid(), gettid(), SIGUSR2);
    check(last_code == SI_TKILL && last_pid_ok, "tgkill: si_code SI_TKILL");
    union sigval v = {.sival_int = 4242};
    check(sigqueue(getpid(), SIGUSR2, v) == 0 && last_code == SI_QUEUE && last_value == 4242,
          "sigqueue: SI_QUEUE and the value");

    install(SIGUSR1, SIG_IGN, 0);
    hits = 0;
    raise(SIGUSR1);
    check(hits == 0, "an ignored signal is dropped");
    install(SIGCHLD, SIG_DFL, 0);
    check(raise(SIGCHLD) == 0, "SIGCHLD's default action is to ignore");
    install(SIGWINCH, SIG_DFL, 0);
    check(raise(SIGWINCH) == 0, "SIGWINCH's default action is to ignore");
}

static void test_masks(void)
{
    printf("-- masks\n");
    install(SIGUSR1, plain_handler, 0);
    sigset_t set, old, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, &old);
    hits = 0;
    raise(SIGUSR1);
    raise(SIGUSR1);
    check(hits == 0, "a blocked signal waits");
    sigpending(&pending);
    check(sigismember(&pending, SIGUSR1) == 1 && sigismember(&pending, SIGUSR2) == 0, "sigpending shows it");
    sigprocmask(SIG_SETMASK, &old, NULL);
    check(hits == 1, "unblocking delivers it once (standard signals do not queue)");
    sigpending(&pending);
    check(sigismember(&pending, SIGUSR1) == 0, "no longer pending");

    /* The handler runs with its own signal and sa_mask blocked. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = mask_handler;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGUSR2);
    sigaction(SIGUSR1, &sa, NULL);
    raise(SIGUSR1);
    check(mask_had_self == 1 && mask_had_usr2 == 1, "handler mask: the signal and sa_mask");
    sigset_t after;
    sigprocmask(SIG_SETMASK, NULL, &after);
    check(sigismember(&after, SIGUSR1) == 0 && sigismember(&after, SIGUSR2) == 0,
          "the mask is restored after the handler");
    sa.sa_flags = SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    raise(SIGUSR1);
    check(mask_had_self == 0, "SA_NODEFER leaves the signal unblocked");

    sa.sa_handler = plain_handler;
    sa.sa_flags = SA_RESETHAND;
    sigaction(SIGUSR1, &sa, NULL);
    hits = 0;
    raise(SIGUSR1);
    struct sigaction now;
    sigaction(SIGUSR1, NULL, &now);
    check(hits == 1 && now.sa_handler == SIG_DFL, "SA_RESETHAND: runs once, then SIG_DFL");

    sigfillset(&set);
    sigprocmask(SIG_SETMASK, &set, NULL);
    sigprocmask(SIG_SETMASK, NULL, &after);
    check(sigismember(&after, SIGKILL) == 0 && sigismember(&after, SIGSTOP) == 0,
          "SIGKILL and SIGSTOP cannot be blocked");
    sigemptyset(&set);
    sigprocmask(SIG_SETMASK, &set, NULL);
}

static void test_altstack(void)
{
    printf("-- alternate stack\n");
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
    check(sigaltstack(&ss, NULL) == 0, "sigaltstack");
    install(SIGUSR1, altstack_handler, SA_ONSTACK);
    raise(SIGUSR1);
    check(on_altstack, "SA_ONSTACK runs the handler on the alternate stack");
    check(altstack_flags_in_handler == SS_ONSTACK, "sigaltstack reports SS_ONSTACK inside");
    check(altstack_change_errno == EPERM, "changing it while on it: EPERM");
    stack_t cur;
    sigaltstack(NULL, &cur);
    check(cur.ss_flags == 0 && cur.ss_sp == altstack && cur.ss_size == sizeof altstack,
          "outside the handler: enabled, not on it");
    install(SIGUSR2, altstack_handler, 0);
    raise(SIGUSR2);
    check(!on_altstack, "without SA_ONSTACK the handler uses the normal stack");
    stack_t off = {.ss_flags = SS_DISABLE};
    check(sigaltstack(&off, NULL) == 0, "disable");
    sigaltstack(NULL, &cur);
    check(cur.ss_flags == SS_DISABLE, "reports SS_DISABLE");
    stack_t tiny = {.ss_sp = altstack, .ss_size = 100, .ss_flags = 0};
    err(sigaltstack(&tiny, NULL), ENOMEM, "a stack below MINSIGSTKSZ");
    stack_t bad = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 12345};
    err(sigaltstack(&bad, NULL), EINVAL, "unknown flags");
    /* A frame that cannot be written (a read-only alternate stack): the
     * signal is lost and a SIGSEGV comes in its place, to its own handler. */
    char *ro = mmap(NULL, 65536, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    stack_t ros = {.ss_sp = ro, .ss_size = 65536, .ss_flags = 0};
    check(sigaltstack(&ros, NULL) == 0, "a read-only alternate stack");
    install(SIGUSR1, ro_usr1, SA_ONSTACK);
    install_info(SIGSEGV, ro_segv, 0);
    raise(SIGUSR1);
    check(!ro_usr1_ran && ro_segv_code == SI_KERNEL, "an unwritable frame: SIGSEGV instead");
    sigaltstack(&off, NULL);
    signal(SIGSEGV, SIG_DFL);
    signal(SIGUSR1, SIG_DFL);
    munmap(ro, 65536);
}

static sigjmp_buf recover;
static char *guard_page;

static void segv_jump(int sig, siginfo_t *info, void *uc)
{
    (void)uc;
    last_signal = sig;
    last_code = info->si_code;
    last_addr = (uintptr_t)info->si_addr;
    siglongjmp(recover, 1);
}

static void segv_fix(int sig, siginfo_t *info, void *uc)
{
    (void)uc;
    (void)sig;
    hits++;
    last_addr = (uintptr_t)info->si_addr;
    mprotect(guard_page, 4096, PROT_READ | PROT_WRITE);
    /* Clobber the FP/SIMD register the interrupted code keeps a value in. */
#if defined(__x86_64__)
    __asm__ volatile("pxor %%xmm7, %%xmm7" ::: "xmm7");
#elif defined(__aarch64__)
    __asm__ volatile("movi d7, #0" ::: "v7");
#endif
}

static void segv_nested(int sig)
{
    (void)sig;
    *(volatile int *)0x30 = 1;
}

static void test_faults(void)
{
    printf("-- faults\n");
    install_info(SIGSEGV, segv_jump, 0);
    if (sigsetjmp(recover, 1) == 0) {
        *(volatile int *)0x10 = 1;
        check(0, "write to 0x10 faults");
    } else {
        check(last_signal == SIGSEGV && last_code == SEGV_MAPERR && last_addr == 0x10,
              "SIGSEGV at an unmapped address: SEGV_MAPERR, si_addr");
    }
    char *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (sigsetjmp(recover, 1) == 0) {
        ro[8] = 1;
        check(0, "write to a read-only page faults");
    } else {
        check(last_code == SEGV_ACCERR && last_addr == (uintptr_t)ro + 8,
              "SIGSEGV on a read-only page: SEGV_ACCERR, si_addr");
    }
    sigset_t cur;
    sigprocmask(SIG_SETMASK, NULL, &cur);
    check(sigismember(&cur, SIGSEGV) == 0, "siglongjmp restored the mask");

    /* Fix the fault in the handler and return: the store is retried and the
     * registers (general and FP/SIMD) are as they were. */
    guard_page = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    install_info(SIGSEGV, segv_fix, 0);
    hits = 0;
    uint64_t in = 0x1122334455667788ULL, out = 0;
#if defined(__x86_64__)
    __asm__ volatile("movq %1, %%xmm7\n\t"
                     "movb $7, (%2)\n\t"
                     "movq %%xmm7, %0"
                     : "=r"(out)
                     : "r"(in), "r"(guard_page)
                     : "xmm7", "memory");
#elif defined(__aarch64__)
    __asm__ volatile("fmov d7, %1\n\t"
                     "mov w9, #7\n\t"
                     "strb w9, [%2]\n\t"
                     "fmov %0, d7"
                     : "=r"(out)
                     : "r"(in), "r"(guard_page)
                     : "v7", "x9", "memory");
#endif
    check(hits == 1 && guard_page[0] == 7, "handler fixed the mapping; the store was retried");
    check(out == in, "FP/SIMD register preserved across the handler");
    check(last_addr == (uintptr_t)guard_page, "si_addr is the page");

#if defined(__x86_64__)
    install_info(SIGFPE, segv_jump, 0);
    if (sigsetjmp(recover, 1) == 0) {
        volatile int zero = 0;
        volatile int x = 10 / zero;
        (void)x;
        check(0, "division by zero traps");
    } else {
        check(last_signal == SIGFPE && last_code == FPE_INTDIV, "division by zero: SIGFPE, FPE_INTDIV");
    }
#endif
    install_info(SIGILL, segv_jump, 0);
    if (sigsetjmp(recover, 1) == 0) {
#if defined(__x86_64__)
        __asm__ volatile("ud2");
#elif defined(__aarch64__)
        __asm__ volatile(".word 0x00000000");
#endif
        check(0, "an undefined instruction traps");
    } else {
        check(last_signal == SIGILL, "undefined instruction: SIGILL");
    }
    install(SIGSEGV, SIG_DFL, 0);
    install(SIGILL, SIG_DFL, 0);
    install(SIGFPE, SIG_DFL, 0);
}

static void test_timers(void)
{
    printf("-- interval timers\n");
    install(SIGALRM, plain_handler, 0);
    hits = 0;
    /* t0 before arming: the timer cannot fire sooner than 30 ms after it
     * (a slow machine between the two calls must not fail the check). */
    long long t0 = now_ns();
    arm_timer_ms(30);
    int r = pause();
    long long dt = now_ns() - t0;
    check(r == -1 && errno == EINTR && hits == 1, "pause returns EINTR after the handler");
    check(dt >= 25000000LL, "pause waited for the timer");

    arm_timer_ms(30);
    struct timespec req = {2, 0}, rem = {0, 0};
    r = nanosleep(&req, &rem);
    check(r == -1 && errno == EINTR && hits == 2, "nanosleep interrupted: EINTR");
    check(rem.tv_sec == 1 && rem.tv_nsec > 0, "nanosleep reports the time left");

    struct itimerval it = {{0, 20000}, {0, 20000}}, cur;
    setitimer(ITIMER_REAL, &it, NULL);
    getitimer(ITIMER_REAL, &cur);
    check(cur.it_interval.tv_usec == 20000 && cur.it_value.tv_sec == 0 && cur.it_value.tv_usec <= 20000,
          "getitimer: interval and time left");
    hits = 0;
    while (hits < 3)
        pause();
    check(hits == 3, "a periodic timer fires again");
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, &cur);
    check(cur.it_interval.tv_usec == 20000, "setitimer returns the old value");
    getitimer(ITIMER_REAL, &cur);
    check(cur.it_value.tv_sec == 0 && cur.it_value.tv_usec == 0, "disarmed");
    err(setitimer(5, &off, NULL), EINVAL, "setitimer unknown timer");

    check(alarm(5) == 0, "alarm: no previous alarm");
    check(alarm(0) == 5, "alarm(0) returns the seconds left");

    /* sigsuspend: wait with SIGALRM unblocked, then the old mask is back. */
    sigset_t block, empty, now;
    sigemptyset(&block);
    sigaddset(&block, SIGALRM);
    sigemptyset(&empty);
    sigprocmask(SIG_BLOCK, &block, NULL);
    hits = 0;
    arm_timer_ms(20);
    r = sigsuspend(&empty);
    sigprocmask(SIG_SETMASK, NULL, &now);
    check(r == -1 && errno == EINTR && hits == 1, "sigsuspend: handler, EINTR");
    check(sigismember(&now, SIGALRM) == 1, "sigsuspend restored the blocking mask");

    /* ppoll with a mask that lets SIGALRM in. */
    arm_timer_ms(20);
    struct timespec ts = {2, 0};
    t0 = now_ns();
    r = ppoll(NULL, 0, &ts, &empty);
    dt = now_ns() - t0;
    check(r == -1 && errno == EINTR && hits == 2 && dt < 1000000000LL, "ppoll with a sigmask: EINTR");
    sigprocmask(SIG_SETMASK, NULL, &now);
    check(sigismember(&now, SIGALRM) == 1, "ppoll restored the mask");

    /* A timer firing while blocked stays pending. */
    arm_timer_ms(10);
    struct timespec nap = {0, 40000000};
    check(nanosleep(&nap, NULL) == 0, "a blocked timer signal does not interrupt");
    sigpending(&now);
    check(sigismember(&now, SIGALRM) == 1, "...and is pending");
    sigprocmask(SIG_UNBLOCK, &block, NULL);
    check(hits == 3, "...and delivered on unblocking");
}

static void test_sigtimedwait(void)
{
    printf("-- sigtimedwait\n");
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    install(SIGUSR1, plain_handler, 0);
    hits = 0;
    union sigval v = {.sival_int = 77};
    sigqueue(getpid(), SIGUSR1, v);
    siginfo_t info;
    struct timespec ts = {1, 0};
    int r = sigtimedwait(&set, &info, &ts);
    check(r == SIGUSR1 && info.si_code == SI_QUEUE && info.si_value.sival_int == 77 && hits == 0,
          "sigtimedwait takes a pending signal without the handler");
    ts.tv_sec = 0;
    ts.tv_nsec = 20000000;
    long long t0 = now_ns();
    r = sigtimedwait(&set, &info, &ts);
    check(r == -1 && errno == EAGAIN && now_ns() - t0 >= 15000000LL, "timeout: EAGAIN");
    ts.tv_nsec = 0;
    r = sigtimedwait(&set, &info, &ts);
    check(r == -1 && errno == EAGAIN, "zero timeout: EAGAIN at once");
    raise(SIGUSR1);
    /* (si_code is not checked: glibc rewrites SI_TKILL to SI_USER here.) */
    check(sigwaitinfo(&set, &info) == SIGUSR1 && info.si_signo == SIGUSR1, "sigwaitinfo");
    sigprocmask(SIG_UNBLOCK, &set, NULL);
}

static int restart_pipe[2];

static void write_on_second(int sig)
{
    (void)sig;
    hits++;
    if (hits == 2)
        write(restart_pipe[1], "z", 1);
}

static void test_interrupted_calls(void)
{
    printf("-- interrupted calls\n");
    pipe(restart_pipe);
    char c = 0;
    install(SIGALRM, plain_handler, 0);
    hits = 0;
    arm_timer_ms(20);
    ssize_t r = read(restart_pipe[0], &c, 1);
    check(r == -1 && errno == EINTR && hits == 1, "blocked pipe read, handler without SA_RESTART: EINTR");

    /* With SA_RESTART the read goes on after the handler; the second
     * expiry's handler writes the byte it then returns. */
    install(SIGALRM, write_on_second, SA_RESTART);
    hits = 0;
    struct itimerval it = {{0, 20000}, {0, 20000}};
    setitimer(ITIMER_REAL, &it, NULL);
    r = read(restart_pipe[0], &c, 1);
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    check(r == 1 && c == 'z' && hits == 2, "SA_RESTART: the read is restarted and completes");

    /* Sleeps and polls are never restarted, SA_RESTART or not. */
    install(SIGALRM, plain_handler, SA_RESTART);
    arm_timer_ms(20);
    struct timespec req = {2, 0};
    r = nanosleep(&req, NULL);
    check(r == -1 && errno == EINTR, "nanosleep: EINTR even with SA_RESTART");
    arm_timer_ms(20);
    struct pollfd pfd = {restart_pipe[0], POLLIN, 0};
    r = poll(&pfd, 1, 2000);
    check(r == -1 && errno == EINTR, "poll: EINTR even with SA_RESTART");

    /* readv on a pipe returns what is there instead of blocking on the
     * next buffer. */
    write(restart_pipe[1], "abc", 3);
    char a[3], b[3];
    struct iovec iov[2] = {{a, 3}, {b, 3}};
    check(readv(restart_pipe[0], iov, 2) == 3, "readv: what the pipe holds, no blocking");
    close(restart_pipe[0]);
    close(restart_pipe[1]);
    install(SIGALRM, SIG_DFL, 0);
}

static void test_sigpipe(void)
{
    printf("-- SIGPIPE\n");
    install(SIGPIPE, plain_handler, 0);
    int p[2];
    pipe(p);
    close(p[0]);
    hits = 0;
    ssize_t r = write(p[1], "x", 1);
    check(r == -1 && errno == EPIPE && hits == 1 && last_signal == SIGPIPE, "SIGPIPE handler runs, write gets EPIPE");
    close(p[1]);
}

static void end_by_signal(const char *how)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    printf("ending: %s\n", how);
    if (!strcmp(how, "abort")) {
        abort();
    } else if (!strcmp(how, "term")) {
        kill(getpid(), SIGTERM);
    } else if (!strcmp(how, "segv-in-handler")) {
        /* A fault inside the SIGSEGV handler (SIGSEGV blocked): killed. */
        install(SIGSEGV, segv_nested, 0);
        *(volatile int *)0x20 = 1;
    } else if (!strcmp(how, "ignored-segv")) {
        install(SIGSEGV, SIG_IGN, 0);
        *(volatile int *)0x20 = 1;
    } else if (!strcmp(how, "raise-blocked-then-default")) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGUSR2);
        sigprocmask(SIG_BLOCK, &set, NULL);
        raise(SIGUSR2);
        printf("still alive while blocked\n");
        sigprocmask(SIG_UNBLOCK, &set, NULL);
    }
    printf("not reached\n");
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        end_by_signal(argv[1]);
        return 0;
    }
    install(SIGUSR1, plain_handler, 0);
    test_basic_delivery();
    test_masks();
    test_altstack();
    test_faults();
    test_timers();
    test_sigtimedwait();
    test_interrupted_calls();
    test_sigpipe();
    printf("failures=%d\n", failures);
    return failures;
}
