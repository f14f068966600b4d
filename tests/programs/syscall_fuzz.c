/* Hostile-argument test: calls every syscall number with random arguments
 * (NULL, -1, random 64-bit values, small and kernel-half addresses, and
 * pointers into a buffer fenced by PROT_NONE guard pages). The sentry must
 * answer each with a value or an errno: never fault, hang or corrupt memory
 * the program did not hand it. Only run inside the sandbox: natively these
 * calls would act on the host.
 *
 * Skipped: calls that end or block the program, or that may legitimately
 * remap or unmap its own memory (the program would be the one breaking). */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
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
    switch (next() % 6) {
    case 0: return 0;
    case 1: return -1;
    case 2: return (long)next();
    case 3: return (long)(next() & 0xfff);
    case 4: return (long)(0xffff800000000000UL + (next() & 0xffff));
    default: return (long)(scratch + (next() & 0x7ff));
    }
}

static int skipped(long nr) {
    static const long skip[] = {
        SYS_exit, SYS_exit_group, SYS_read, SYS_readv, SYS_preadv, SYS_poll, SYS_ppoll,
        SYS_select, SYS_pselect6, SYS_pause, SYS_nanosleep, SYS_clock_nanosleep,
        SYS_epoll_wait, SYS_epoll_pwait, SYS_wait4, SYS_waitid, SYS_rt_sigsuspend,
        SYS_rt_sigtimedwait, SYS_futex, SYS_mmap, SYS_munmap, SYS_mprotect, SYS_mremap,
        SYS_brk, SYS_madvise, SYS_rt_sigreturn, SYS_arch_prctl, SYS_fork, SYS_vfork,
        SYS_clone, SYS_clone3, SYS_execve, SYS_execveat, SYS_kill, SYS_tkill, SYS_tgkill,
        SYS_rt_sigqueueinfo, SYS_rt_tgsigqueueinfo, SYS_alarm, SYS_setitimer,
        SYS_reboot, SYS_close, SYS_close_range, SYS_dup2, SYS_dup3, SYS_sigaltstack,
        SYS_rt_sigprocmask, SYS_rt_sigaction, SYS_shmat, SYS_setrlimit, SYS_prlimit64,
        /* SysV IPC calls that wait, as on Linux, for a message or a semaphore. */
        SYS_msgsnd, SYS_msgrcv, SYS_semop, SYS_semtimedop,
    };
    for (unsigned i = 0; i < sizeof skip / sizeof skip[0]; i++)
        if (skip[i] == nr) return 1;
    return 0;
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 50;
    char *region = mmap(0, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED) return 2;
    mprotect(region, 4096, PROT_NONE);
    mprotect(region + 2 * 4096, 4096, PROT_NONE);
    scratch = region + 4096;
    long calls = 0;
    for (int round = 0; round < rounds; round++)
        for (long nr = 0; nr < 460; nr++) {
            if (skipped(nr)) continue;
            syscall(nr, random_arg(), random_arg(), random_arg(), random_arg(), random_arg(),
                    random_arg());
            calls++;
        }
    printf("survived %ld syscalls\n", calls);
    return 0;
}
