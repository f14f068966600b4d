/* ptrace(2): PTRACE_TRACEME and its EPERM, the signal-delivery stop of
 * raise(SIGSTOP) seen by waitpid and GETSIGINFO, PEEKDATA/POKEDATA (and a
 * forced write into a read-only private page), EIO for a bad address,
 * /proc/PID/status TracerPid, the registers (GETREGS, GETREGSET, PEEKUSER
 * on x86_64; GETREGSET on aarch64), syscall stops with TRACESYSGOOD
 * (x86_64: orig_rax rewritten at entry changes the call), the fork event
 * with GETEVENTMSG, a suppressed signal, PTRACE_KILL, and the errors. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <sys/user.h>
#endif

#include "abi_check.h"

/* <linux/ptrace.h> (musl-gcc has no kernel headers). */
#define PT_TRACEME 0
#define PT_PEEKDATA 2
#define PT_PEEKUSER 3
#define PT_POKEDATA 5
#define PT_POKEUSER 6
#define PT_CONT 7
#define PT_KILL 8
#define PT_GETREGS 12
#define PT_SETREGS 13
#define PT_ATTACH 16
#define PT_SYSCALL 24
#define PT_SETOPTIONS 0x4200
#define PT_GETEVENTMSG 0x4201
#define PT_GETSIGINFO 0x4202
#define PT_GETREGSET 0x4204
#define O_TRACESYSGOOD 1
#define O_TRACEFORK 2
#define EVENT_FORK 1
#define NT_PRSTATUS_ 1

static long pt(long req, pid_t pid, unsigned long addr, unsigned long data)
{
    return syscall(SYS_ptrace, req, pid, addr, data);
}

static volatile uint64_t value = 0x1122334455667788ull;
static uint64_t *readonly;

static int tracer_pid_of(pid_t pid)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strstr(buf, "TracerPid:");
    return p ? atoi(p + 10) : -1;
}

static void child_main(void)
{
    if (pt(PT_TRACEME, 0, 0, 0) != 0)
        _exit(10);
    /* A second TRACEME: already traced. */
    if (pt(PT_TRACEME, 0, 0, 0) != -1 || errno != EPERM)
        _exit(11);
    raise(SIGSTOP);
    /* The tracer changed `value` and the read-only page meanwhile. */
    if (value != 0xdeadbeefcafef00dull)
        _exit(12);
    if (*readonly != 0x0123456789abcdefull)
        _exit(13);
    /* Syscall stops: the tracer turns this getpid into getppid on x86_64. */
    long r = syscall(SYS_getpid);
#if defined(__x86_64__)
    if (r != getppid())
        _exit(14);
#else
    if (r != getpid())
        _exit(14);
#endif
    /* A signal the tracer suppresses: SIGUSR1's default would kill. */
    raise(SIGUSR1);
    /* A fork reported as PTRACE_EVENT_FORK. */
    pid_t grandchild = fork();
    if (grandchild == 0)
        _exit(5);
    int status;
    if (waitpid(grandchild, &status, 0) != grandchild || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 5)
        _exit(15);
    _exit(7);
}

static int wait_stop(pid_t pid, const char *what)
{
    int status = 0;
    pid_t w = waitpid(pid, &status, 0);
    checkf(w == pid && WIFSTOPPED(status), what, "w=%ld status=%#lx", w, status);
    return WIFSTOPPED(status) ? status >> 8 : -1;
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    readonly = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    readonly[0] = 1;
    mprotect(readonly, 4096, PROT_READ);

    err(pt(PT_CONT, getppid(), 0, 0), ESRCH, "CONT on a process not traced");
    err(pt(PT_ATTACH, getpid(), 0, 0), EPERM, "ATTACH to itself");
    err(pt(PT_CONT, 999999, 0, 0), ESRCH, "CONT on no process");

    pid_t child = fork();
    if (child == 0)
        child_main();

    int code = wait_stop(child, "stopped at raise(SIGSTOP)");
    checkf(code == SIGSTOP, "stop signal is SIGSTOP", "code=%#lx%.0ld", code, 0);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    ok(pt(PT_GETSIGINFO, child, 0, (unsigned long)&si), "GETSIGINFO");
    checkf(si.si_signo == SIGSTOP && si.si_pid == child, "siginfo of the stop",
           "signo=%ld pid=%ld", si.si_signo, si.si_pid);
    checkf(tracer_pid_of(child) == getpid(), "TracerPid is the tracer", "got %ld%.0ld",
           tracer_pid_of(child), 0);
    checkf(tracer_pid_of(getpid()) == 0, "TracerPid of the tracer is 0", "got %ld%.0ld",
           tracer_pid_of(getpid()), 0);

    uint64_t word = 0;
    ok(pt(PT_PEEKDATA, child, (unsigned long)&value, (unsigned long)&word), "PEEKDATA");
    checkf(word == 0x1122334455667788ull, "PEEKDATA reads the child's word", "%#lx%.0ld",
           (long)word, 0);
    ok(pt(PT_POKEDATA, child, (unsigned long)&value, 0xdeadbeefcafef00dull), "POKEDATA");
    ok(pt(PT_PEEKDATA, child, (unsigned long)&value, (unsigned long)&word), "PEEKDATA again");
    checkf(word == 0xdeadbeefcafef00dull, "POKEDATA wrote it", "%#lx%.0ld", (long)word, 0);
    check(value == 0x1122334455667788ull, "the tracer's own copy is unchanged");
    ok(pt(PT_POKEDATA, child, (unsigned long)readonly, 0x0123456789abcdefull),
       "POKEDATA into a read-only private page");
    check(readonly[0] == 1, "the tracer's read-only page is unchanged");
    err(pt(PT_PEEKDATA, child, 0, (unsigned long)&word), EIO, "PEEKDATA at address 0");
    err(pt(PT_POKEDATA, child, 8, 0), EIO, "POKEDATA at address 8");
    err(pt(PT_PEEKDATA, child, (unsigned long)&value, 8), EFAULT, "PEEKDATA to a bad buffer");
    err(pt(PT_SETOPTIONS, child, 0, 0x80000000ul), EINVAL, "SETOPTIONS with an unknown bit");
    err(pt(PT_GETEVENTMSG, child, 0, 8), EFAULT, "GETEVENTMSG to a bad buffer");
    err(pt(PT_CONT, child, 0, 65), EIO, "CONT with signal 65");

#if defined(__x86_64__)
    struct user_regs_struct regs;
    ok(pt(PT_GETREGS, child, 0, (unsigned long)&regs), "GETREGS");
    uint64_t rip = 0;
    ok(pt(PT_PEEKUSER, child, offsetof(struct user_regs_struct, rip), (unsigned long)&rip),
       "PEEKUSER rip");
    checkf(rip == regs.rip && rip != 0, "PEEKUSER and GETREGS agree", "%#lx %#lx", (long)rip,
           (long)regs.rip);
    struct user_regs_struct set_regs;
    struct iovec iov = {&set_regs, sizeof set_regs};
    ok(pt(PT_GETREGSET, child, NT_PRSTATUS_, (unsigned long)&iov), "GETREGSET NT_PRSTATUS");
    checkf(iov.iov_len == sizeof set_regs && set_regs.rip == regs.rip && set_regs.rsp == regs.rsp,
           "GETREGSET matches GETREGS", "len=%ld rip=%#lx", (long)iov.iov_len, (long)set_regs.rip);
    iov.iov_len = 5;
    err(pt(PT_GETREGSET, child, NT_PRSTATUS_, (unsigned long)&iov), EINVAL,
        "GETREGSET of 5 bytes");
    iov.iov_len = sizeof set_regs;
    err(pt(PT_GETREGSET, child, 0x999, (unsigned long)&iov), EINVAL, "GETREGSET of no such note");
    err(pt(PT_PEEKUSER, child, 3, (unsigned long)&rip), EIO, "PEEKUSER unaligned");
    err(pt(PT_PEEKUSER, child, 4096, (unsigned long)&rip), EIO, "PEEKUSER past struct user");
    err(pt(PT_POKEUSER, child, offsetof(struct user_regs_struct, cs), 0x10), EIO,
        "POKEUSER a kernel code selector");
    err(pt(PT_POKEUSER, child, offsetof(struct user_regs_struct, fs_base), 0xffff800000000000ul),
        EIO, "POKEUSER a kernel fs_base");
    size_t dr0 = offsetof(struct user, u_debugreg[0]), dr7 = offsetof(struct user, u_debugreg[7]);
    ok(pt(PT_POKEUSER, child, dr0, 0x1000), "POKEUSER DR0");
    uint64_t got = 0;
    ok(pt(PT_PEEKUSER, child, dr0, (unsigned long)&got), "PEEKUSER DR0");
    checkf(got == 0x1000, "DR0 reads back", "%#lx%.0ld", (long)got, 0);
    err(pt(PT_POKEUSER, child, dr0, 0xffff800000000000ul), EINVAL, "POKEUSER DR0 kernel address");
    err(pt(PT_POKEUSER, child, dr7, 0x20001), EINVAL, "POKEUSER DR7 with an I/O breakpoint");
    err(pt(PT_POKEUSER, child, offsetof(struct user, u_debugreg[4]), 0), EIO, "POKEUSER DR4");
#else
    uint64_t gregs[34];
    struct iovec iov = {gregs, sizeof gregs};
    ok(pt(PT_GETREGSET, child, NT_PRSTATUS_, (unsigned long)&iov), "GETREGSET NT_PRSTATUS");
    checkf(iov.iov_len == sizeof gregs && gregs[32] != 0, "GETREGSET gives pc", "len=%ld pc=%#lx",
           (long)iov.iov_len, (long)gregs[32]);
    err(pt(PT_GETREGS, child, 0, (unsigned long)gregs), EIO, "GETREGS does not exist");
#endif

    /* Syscall stops. The child first makes other calls (its checks); stop
     * at each until getpid's entry. */
    ok(pt(PT_SETOPTIONS, child, 0, O_TRACESYSGOOD | O_TRACEFORK), "SETOPTIONS");
    int seen_entry = 0, entries = 0;
    for (int i = 0; i < 40 && !seen_entry; i++) {
        ok(pt(PT_SYSCALL, child, 0, 0) == 0 ? 0 : -1, i == 0 ? "SYSCALL" : "SYSCALL again");
        int c = wait_stop(child, i == 0 ? "syscall stop" : "next syscall stop");
        if (c != (SIGTRAP | 0x80))
            break;
        entries++;
#if defined(__x86_64__)
        struct user_regs_struct r;
        pt(PT_GETREGS, child, 0, (unsigned long)&r);
        if (r.orig_rax == SYS_getpid && r.rax == (uint64_t)-ENOSYS) {
            seen_entry = 1;
            r.orig_rax = SYS_getppid;
            ok(pt(PT_SETREGS, child, 0, (unsigned long)&r), "SETREGS orig_rax at entry");
        }
#else
        uint64_t g[34];
        struct iovec v = {g, sizeof g};
        pt(PT_GETREGSET, child, NT_PRSTATUS_, (unsigned long)&v);
        if (g[8] == SYS_getpid)
            seen_entry = 1;
#endif
    }
    check(seen_entry, "getpid's syscall-entry stop");
    ok(pt(PT_SYSCALL, child, 0, 0), "SYSCALL to the exit");
    code = wait_stop(child, "syscall-exit stop");
    checkf(code == (SIGTRAP | 0x80), "exit stop has TRACESYSGOOD", "code=%#lx%.0ld", code, 0);
#if defined(__x86_64__)
    struct user_regs_struct r;
    pt(PT_GETREGS, child, 0, (unsigned long)&r);
    checkf(r.rax == (uint64_t)getpid() && r.orig_rax == SYS_getppid, "getppid ran instead",
           "rax=%ld orig=%ld", (long)r.rax, (long)r.orig_rax);
#endif
    memset(&si, 0, sizeof si);
    ok(pt(PT_GETSIGINFO, child, 0, (unsigned long)&si), "GETSIGINFO at a syscall stop");
    checkf(si.si_signo == SIGTRAP && si.si_code == (SIGTRAP | 0x80), "syscall stop siginfo",
           "signo=%ld code=%#lx", si.si_signo, si.si_code);

    /* CONT: the next stop is SIGUSR1, suppressed. */
    ok(pt(PT_CONT, child, 0, 0), "CONT");
    code = wait_stop(child, "SIGUSR1 stop");
    checkf(code == SIGUSR1, "stop signal is SIGUSR1", "code=%#lx%.0ld", code, 0);
    ok(pt(PT_CONT, child, 0, 0), "CONT suppressing SIGUSR1");

    /* The fork event, then the new child's own SIGSTOP. */
    code = wait_stop(child, "fork event stop");
    checkf(code == (SIGTRAP | EVENT_FORK << 8), "PTRACE_EVENT_FORK", "code=%#lx%.0ld", code, 0);
    unsigned long msg = 0;
    ok(pt(PT_GETEVENTMSG, child, 0, (unsigned long)&msg), "GETEVENTMSG");
    pid_t grandchild = (pid_t)msg;
    int status = 0;
    pid_t w = waitpid(grandchild, &status, __WALL);
    checkf(w == grandchild && WIFSTOPPED(status) && WSTOPSIG(status) == SIGSTOP,
           "the traced grandchild starts stopped", "w=%ld status=%#lx", w, status);
    checkf(tracer_pid_of(grandchild) == getpid(), "the grandchild is traced by us",
           "TracerPid %ld%.0ld", tracer_pid_of(grandchild), 0);
    ok(pt(PT_CONT, grandchild, 0, 0), "CONT the grandchild");
    /* Its exit is the tracer's to see first; then its parent's. */
    w = waitpid(grandchild, &status, __WALL);
    checkf(w == grandchild && WIFEXITED(status) && WEXITSTATUS(status) == 5,
           "the tracer sees the grandchild exit", "w=%ld status=%#lx", w, status);
    ok(pt(PT_CONT, child, 0, 0), "CONT the child");
    /* The grandchild's SIGCHLD stops the child too: pass it on. */
    for (int i = 0; i < 5; i++) {
        w = waitpid(child, &status, 0);
        if (w != child || !WIFSTOPPED(status))
            break;
        pt(PT_CONT, child, 0, WSTOPSIG(status) == SIGCHLD ? SIGCHLD : 0);
    }
    checkf(w == child && WIFEXITED(status) && WEXITSTATUS(status) == 7, "child exits with 7",
           "w=%ld status=%#lx", w, status);

    /* PTRACE_KILL ends a stopped tracee with SIGKILL. */
    pid_t victim = fork();
    if (victim == 0) {
        pt(PT_TRACEME, 0, 0, 0);
        raise(SIGSTOP);
        _exit(0);
    }
    wait_stop(victim, "victim stopped");
    ok(pt(PT_KILL, victim, 0, 0), "KILL");
    w = waitpid(victim, &status, 0);
    checkf(w == victim && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
           "victim killed by SIGKILL", "w=%ld status=%#lx", w, status);
    return finish();
}
