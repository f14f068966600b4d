/* seccomp: strict mode, BPF filters (ERRNO, TRAP with its siginfo,
 * KILL_PROCESS, KILL_THREAD, precedence between filters, inheritance by
 * fork), the load-time checks of a program, TSYNC, and what /proc and
 * prctl report. Each case runs in a child: a filter cannot be removed.
 * Run as root (the native run needs root for the EACCES case). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "abi_check.h"

/* linux/filter.h and linux/seccomp.h (musl-gcc has no kernel headers). */
struct sock_filter {
    unsigned short code;
    unsigned char jt, jf;
    unsigned int k;
};
struct sock_fprog {
    unsigned short len;
    struct sock_filter *filter;
};
struct seccomp_data {
    int nr;
    unsigned int arch;
    unsigned long long instruction_pointer;
    unsigned long long args[6];
};
#define BPF_LD 0x00
#define BPF_LDX 0x01
#define BPF_ST 0x02
#define BPF_ALU 0x04
#define BPF_JMP 0x05
#define BPF_RET 0x06
#define BPF_MISC 0x07
#define BPF_W 0x00
#define BPF_B 0x10
#define BPF_ABS 0x20
#define BPF_MEM 0x60
#define BPF_LEN 0x80
#define BPF_K 0x00
#define BPF_DIV 0x30
#define BPF_RSH 0x70
#define BPF_JEQ 0x10
#define BPF_TXA 0x80
#define BPF_STMT(code, k) { (unsigned short)(code), 0, 0, (k) }
#define BPF_JUMP(code, k, jt, jf) { (unsigned short)(code), (jt), (jf), (k) }
#define SECCOMP_MODE_FILTER 2
#define SECCOMP_SET_MODE_STRICT 0
#define SECCOMP_SET_MODE_FILTER 1
#define SECCOMP_GET_ACTION_AVAIL 2
#define SECCOMP_FILTER_FLAG_TSYNC 1
#define SECCOMP_RET_KILL_PROCESS 0x80000000U
#define SECCOMP_RET_KILL_THREAD 0x00000000U
#define SECCOMP_RET_TRAP 0x00030000U
#define SECCOMP_RET_ERRNO 0x00050000U
#define SECCOMP_RET_LOG 0x7ffc0000U
#define SECCOMP_RET_ALLOW 0x7fff0000U

#if defined(__x86_64__)
#define ARCH_NR 0xc000003e
#elif defined(__aarch64__)
#define ARCH_NR 0xc00000b7
#endif

#define LOAD_NR BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr))
#define ON(nr, action) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), BPF_STMT(BPF_RET | BPF_K, (action))
#define ALLOW BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)

static long install(struct sock_filter *f, unsigned short len, unsigned flags)
{
    struct sock_fprog prog = { .len = len, .filter = f };
    return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
}

/* Runs `body` in a child; prints how the child ended. */
static void in_child(const char *what, void (*body)(void))
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        body();
        fflush(stdout);
        _exit(finish());
    }
    int status;
    waitpid(pid, &status, 0);
    if (WIFEXITED(status))
        printf("%s: exit %d\n", what, WEXITSTATUS(status));
    else
        printf("%s: signal %d\n", what, WTERMSIG(status));
    if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
        failures++;
}

static void strict_mode(void)
{
    ok(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs");
    ok(syscall(SYS_seccomp, SECCOMP_SET_MODE_STRICT, 0, NULL), "strict mode");
    const char msg[] = "write is allowed in strict mode\n";
    syscall(SYS_write, 1, msg, sizeof msg - 1);
    syscall(SYS_getpid); /* killed with SIGKILL */
    syscall(SYS_write, 1, "not reached\n", 12);
}

static void errno_filter(void)
{
    struct sock_filter f[] = { LOAD_NR, ON(SYS_getppid, SECCOMP_RET_ERRNO | 42),
                               ON(SYS_getuid, SECCOMP_RET_ERRNO | 0), ALLOW };
    ok(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs");
    ok(install(f, sizeof f / sizeof f[0], 0), "errno filter");
    errno = 0;
    long r = syscall(SYS_getppid);
    printf("getppid: %ld errno %d\n", r, errno);
    printf("getuid with ERRNO|0: %ld\n", syscall(SYS_getuid));
    printf("PR_GET_SECCOMP: %d\n", prctl(PR_GET_SECCOMP));
    FILE *status = fopen("/proc/self/status", "r");
    char line[256];
    while (status && fgets(line, sizeof line, status))
        if (!strncmp(line, "Seccomp", 7))
            fputs(line, stdout);
    if (status)
        fclose(status);
    /* A second filter: on equal actions the newer one's data wins. */
    struct sock_filter g[] = { LOAD_NR, ON(SYS_getppid, SECCOMP_RET_ERRNO | 7), ALLOW };
    ok(install(g, sizeof g / sizeof g[0], 0), "second filter");
    errno = 0;
    r = syscall(SYS_getppid);
    printf("getppid after a second filter: %ld errno %d\n", r, errno);
    /* A child inherits the filters. */
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        errno = 0;
        r = syscall(SYS_getppid);
        printf("in a forked child: %ld errno %d\n", r, errno);
        fflush(stdout);
        _exit(0);
    }
    waitpid(pid, NULL, 0);
}

static volatile int trapped_code, trapped_nr, trapped_errno;
static volatile unsigned trapped_arch;

static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    trapped_code = si->si_code;
    trapped_nr = si->si_syscall;
    trapped_arch = si->si_arch;
    trapped_errno = si->si_errno;
}

static void trap_filter(void)
{
    struct sigaction sa = { .sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO };
    sigaction(SIGSYS, &sa, NULL);
    struct sock_filter f[] = { LOAD_NR, ON(SYS_getppid, SECCOMP_RET_TRAP | 0x1234), ALLOW };
    ok(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs");
    ok(install(f, sizeof f / sizeof f[0], 0), "trap filter");
    long r = syscall(SYS_getppid);
    printf("trapped getppid returned the %s\n",
#if defined(__x86_64__)
           r == SYS_getppid ? "syscall number" : "wrong value"
#else
           r == 0 ? "first argument" : "wrong value"
#endif
    );
    printf("SIGSYS: code %d syscall %s arch %s data 0x%x\n", trapped_code,
           trapped_nr == SYS_getppid ? "getppid" : "other", trapped_arch == ARCH_NR ? "native" : "other",
           trapped_errno);
}

static void kill_process_filter(void)
{
    struct rlimit none = { 0, 0 };
    setrlimit(RLIMIT_CORE, &none);
    struct sock_filter f[] = { LOAD_NR, ON(SYS_getppid, SECCOMP_RET_KILL_PROCESS), ALLOW };
    ok(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs");
    ok(install(f, sizeof f / sizeof f[0], 0), "kill filter");
    /* SIGSYS blocked and ignored: the kill goes through anyway. */
    signal(SIGSYS, SIG_IGN);
    syscall(SYS_getppid);
    printf("not reached\n");
}

static void *kill_thread_body(void *arg)
{
    (void)arg;
    syscall(SYS_getppid); /* ends this thread only */
    printf("not reached\n");
    return NULL;
}

static void kill_thread_filter(void)
{
    struct sock_filter f[] = { LOAD_NR, ON(SYS_getppid, SECCOMP_RET_KILL_THREAD), ALLOW };
    ok(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs");
    ok(install(f, sizeof f / sizeof f[0], 0), "kill-thread filter");
    pthread_t t;
    pthread_create(&t, NULL, kill_thread_body, NULL);
    sleep(1);
    printf("the process lives on after its thread was killed\n");
}

static void bad_programs(void)
{
    ok(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs");
    struct sock_filter jump_out[] = { BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 1, 5, 0), ALLOW };
    err(install(jump_out, 2, 0), EINVAL, "jump past the end");
    struct sock_filter bad_offset[] = { BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 2), ALLOW };
    err(install(bad_offset, 2, 0), EINVAL, "unaligned load");
    struct sock_filter past_data[] = { BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 64), ALLOW };
    err(install(past_data, 2, 0), EINVAL, "load past seccomp_data");
    struct sock_filter no_ret[] = { LOAD_NR };
    err(install(no_ret, 1, 0), EINVAL, "no return at the end");
    struct sock_filter unset_mem[] = { BPF_STMT(BPF_LD | BPF_MEM, 3), ALLOW };
    err(install(unset_mem, 2, 0), EINVAL, "scratch word read before written");
    struct sock_filter byte_load[] = { BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0), ALLOW };
    err(install(byte_load, 2, 0), EINVAL, "byte load");
    struct sock_filter div0[] = { BPF_STMT(BPF_ALU | BPF_DIV | BPF_K, 0), ALLOW };
    err(install(div0, 2, 0), EINVAL, "division by constant 0");
    err(install(jump_out, 0, 0), EINVAL, "empty program");
    err(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, (void *)8), EFAULT, "bad pointer");
    err(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 1u << 20, NULL), EINVAL, "unknown flag");
    err(syscall(SYS_seccomp, 99, 0, NULL), EINVAL, "unknown operation");
    err(syscall(SYS_seccomp, SECCOMP_SET_MODE_STRICT, 1, NULL), EINVAL, "strict with flags");
    unsigned action = SECCOMP_RET_KILL_PROCESS;
    ok(syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action), "KILL_PROCESS available");
    action = SECCOMP_RET_LOG;
    ok(syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action), "LOG available");
    action = 0x12340000;
    err(syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action), EOPNOTSUPP, "unknown action");
    /* Scratch memory, ALU and the length load (rewritten to 64). */
    struct sock_filter alu[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0),
        BPF_STMT(BPF_ST, 0),
        BPF_STMT(BPF_LDX | BPF_MEM, 0),
        BPF_STMT(BPF_MISC | BPF_TXA, 0),
        BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 3),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 8, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | 1),
        LOAD_NR, ON(SYS_getppid, SECCOMP_RET_ERRNO | 9), ALLOW,
    };
    ok(install(alu, sizeof alu / sizeof alu[0], 0), "arithmetic filter");
    errno = 0;
    long r = syscall(SYS_getppid);
    printf("getppid under the arithmetic filter: %ld errno %d\n", r, errno);
    printf("getpid works: %s\n", syscall(SYS_getpid) == getpid() ? "yes" : "no");
}

static void *idle_thread(void *arg)
{
    (void)arg;
    pause();
    return NULL;
}

static void tsync(void)
{
    ok(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs");
    pthread_t t;
    pthread_create(&t, NULL, idle_thread, NULL);
    struct sock_filter f[] = { LOAD_NR, ON(SYS_getppid, SECCOMP_RET_ERRNO | 3), ALLOW };
    printf("TSYNC: %ld\n", install(f, sizeof f / sizeof f[0], SECCOMP_FILTER_FLAG_TSYNC));
    errno = 0;
    long r = syscall(SYS_getppid);
    printf("getppid after TSYNC: %ld errno %d\n", r, errno);
}

static void unprivileged(void)
{
    if (setuid(65534) != 0) {
        printf("setuid failed\n");
        return;
    }
    struct sock_filter f[] = { ALLOW };
    err(install(f, 1, 0), EACCES, "a filter without no_new_privs");
    err(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, NULL), EFAULT, "PR_SET_SECCOMP with NULL");
    printf("PR_GET_SECCOMP unfiltered: %d\n", prctl(PR_GET_SECCOMP));
}

int main(void)
{
    in_child("strict mode", strict_mode);
    in_child("errno filter", errno_filter);
    in_child("trap filter", trap_filter);
    in_child("kill-process filter", kill_process_filter);
    in_child("kill-thread filter", kill_thread_filter);
    in_child("bad programs", bad_programs);
    in_child("tsync", tsync);
    in_child("unprivileged", unprivileged);
    return finish();
}
