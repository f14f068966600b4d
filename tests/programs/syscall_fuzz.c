/* Hostile-argument test: calls every syscall number with random arguments
 * (NULL, -1, random 64-bit values, small and kernel-half addresses, and
 * pointers into a buffer fenced by PROT_NONE guard pages). The sentry must
 * answer each with a value or an errno: never fault, hang or corrupt memory
 * the program did not hand it. Only run inside the sandbox: natively these
 * calls would act on the host.
 *
 *   syscall_fuzz [-s SEED] [-t SECONDS] [-f] [-v] [ROUNDS]
 *
 * ROUNDS rounds (default 50) over all numbers, or as many as fit in
 * SECONDS. SEED (default fixed) makes a run reproducible. With -f each
 * round runs in a forked child, which may also make the calls that end or
 * block a process (exit, munmap, pause, read, ...): the parent kills a
 * child that does not end within a second, so blocked calls must be
 * interruptible by SIGKILL. -v prints each call to stderr first.
 *
 * Skipped always: calls that could stop the fuzzer itself from going on
 * (signals to other processes, fork, exec, reboot), and in the parent
 * (without -f) those that end or block the program or remap its memory. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static unsigned long long state = 88172645463325252ULL;
static char *scratch;

static unsigned long long next(void) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

static long random_arg(void) {
    switch (next() % 7) {
    case 0: return 0;
    case 1: return -1;
    case 2: return (long)next();
    case 3: return (long)(next() & 0xfff);
    case 4: return (long)(0xffff800000000000UL + (next() & 0xffff));
    case 5: return (long)(0x0000800000000000UL - (next() & 0xfff)); /* the canonical edge */
    default: return (long)(scratch + (next() & 0x7ff));
    }
}

static int in(long nr, const long *list, unsigned n) {
    for (unsigned i = 0; i < n; i++)
        if (list[i] == nr) return 1;
    return 0;
}

/* Never: they would end the run or act outside this process's tree. */
static int never(long nr) {
    static const long skip[] = {
        SYS_fork, SYS_vfork, SYS_clone, SYS_clone3, SYS_execve, SYS_execveat,
        SYS_kill, SYS_tkill, SYS_tgkill, SYS_rt_sigqueueinfo, SYS_rt_tgsigqueueinfo,
        SYS_pidfd_send_signal, SYS_reboot, SYS_setrlimit, SYS_prlimit64,
        /* A seccomp filter or strict mode would kill the fuzzer at a later
         * call, as on Linux (prctl's PR_SET_SECCOMP is skipped below). */
        SYS_seccomp,
        /* Waiting for children that the parent's own bookkeeping needs. */
        SYS_wait4, SYS_waitid,
    };
    return in(nr, skip, sizeof skip / sizeof skip[0]);
}

/* Only in a forked child: calls that end or block the caller, or change
 * its memory or signal state under it. */
static int child_only(long nr) {
    static const long skip[] = {
        SYS_exit, SYS_exit_group, SYS_read, SYS_readv, SYS_preadv, SYS_poll, SYS_ppoll,
        SYS_select, SYS_pselect6, SYS_pause, SYS_nanosleep, SYS_clock_nanosleep,
        SYS_epoll_wait, SYS_epoll_pwait, SYS_rt_sigsuspend,
        SYS_rt_sigtimedwait, SYS_futex, SYS_mmap, SYS_munmap, SYS_mprotect, SYS_mremap,
        SYS_brk, SYS_madvise, SYS_rt_sigreturn, SYS_arch_prctl,
        SYS_alarm, SYS_setitimer, SYS_close, SYS_close_range, SYS_dup2, SYS_dup3,
        SYS_sigaltstack, SYS_rt_sigprocmask, SYS_rt_sigaction, SYS_shmat,
        /* SysV IPC calls that wait, as on Linux, for a message or a semaphore. */
        SYS_msgsnd, SYS_msgrcv, SYS_semop, SYS_semtimedop,
    };
    return in(nr, skip, sizeof skip / sizeof skip[0]);
}

static int trace;

static long round_of_calls(int forked) {
    long calls = 0;
    for (long nr = 0; nr < 460; nr++) {
        if (never(nr) || (!forked && child_only(nr))) continue;
        long a[6];
        for (int i = 0; i < 6; i++) a[i] = random_arg();
        if (nr == SYS_prctl && a[0] == 22 /* PR_SET_SECCOMP */) continue;
        if (trace)
            fprintf(stderr, "%d: %ld(%lx, %lx, %lx, %lx, %lx, %lx)\n", getpid(), nr, a[0], a[1],
                    a[2], a[3], a[4], a[5]);
        long r = syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
        if (trace) fprintf(stderr, "  = %ld\n", r);
        calls++;
    }
    return calls;
}

static void ignore(int sig) { (void)sig; }

/* Signals a random call may arrange (timers, fcntl F_SETSIG, ...) must not
 * end the fuzzer: a handler that does nothing, without SA_RESTART, so that
 * SIGALRM also ends a call that blocks as it would on Linux (an eventfd
 * write that does not fit, an accept on a listening socket). Faults keep
 * their default action: the fuzzer itself must not fault. */
static void catch_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = ignore;
    for (int sig = 1; sig < 65; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP || sig == SIGSEGV || sig == SIGBUS ||
            sig == SIGILL || sig == SIGFPE || sig == SIGTRAP || sig == SIGCHLD)
            continue;
        sigaction(sig, &sa, 0);
    }
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    int rounds = 50, forked = 0;
    double seconds = 0;
    int opt;
    while ((opt = getopt(argc, argv, "s:t:fv")) != -1) {
        switch (opt) {
        case 'v': trace = 1; break;
        case 's': state = strtoull(optarg, 0, 0) | 1; break;
        case 't': seconds = atof(optarg); break;
        case 'f': forked = 1; break;
        default: return 2;
        }
    }
    if (optind < argc) rounds = atoi(argv[optind]);
    if (seconds > 0) rounds = 1 << 30;
    char *region = mmap(0, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED) return 2;
    mprotect(region, 4096, PROT_NONE);
    mprotect(region + 2 * 4096, 4096, PROT_NONE);
    scratch = region + 4096;
    catch_signals();
    long calls = 0, children = 0, signaled = 0, killed = 0;
    double start = now();
    for (int round = 0; round < rounds; round++) {
        if (seconds > 0 && now() - start >= seconds) break;
        if (!forked) {
            /* A call that blocks (as it would natively) is ended by it. */
            alarm(1);
            calls += round_of_calls(0);
            continue;
        }
        next(); /* each child its own stream */
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 3;
        }
        if (pid == 0) {
            alarm(0);
            round_of_calls(1);
            _exit(0);
        }
        children++;
        int status = 0;
        double began = now();
        for (;;) {
            pid_t r = waitpid(pid, &status, WNOHANG);
            if (r == pid) break;
            if (r < 0) {
                perror("waitpid");
                return 4;
            }
            if (now() - began > 1.0) {
                /* A blocked call must give way to SIGKILL. */
                kill(pid, SIGKILL);
                if (waitpid(pid, &status, 0) != pid) {
                    perror("waitpid after SIGKILL");
                    return 5;
                }
                killed++;
                break;
            }
            usleep(1000);
        }
        if (WIFSIGNALED(status)) signaled++;
        /* Children of the child (none are made: fork is never called) and
         * anything else left: reaped here. */
        while (waitpid(-1, &status, WNOHANG) > 0) {}
    }
    if (forked)
        printf("survived %ld children (%ld ended by a signal, %ld killed when blocked)\n",
               children, signaled, killed);
    else
        printf("survived %ld syscalls\n", calls);
    return 0;
}
