/* capabilities: the capability sets of a process (capget/capset and their
 * checks against the bounding set), the bounding and ambient sets and the
 * securebits through prctl, what execve makes of them; and small process
 * odds and ends: /proc/sys/kernel/ns_last_pid and pid reuse (a /proc/<pid>
 * directory of a reaped process is not its successor), fchmodat2, and
 * ARCH_GET/SET_CPUID. Run as root natively (the sandbox starts as root).
 * Only bits every root has are printed: the host's bounding set may lack
 * some. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "abi_check.h"

#define CAP_CHOWN 0
#define CAP_KILL 5
#define CAP_SETUID 7
#define CAP_SETPCAP 8
#define CAP_NET_RAW 13
#define CAP_SYS_ADMIN 21
#define CAP_CHECKPOINT_RESTORE 40
#define CAP1 (1u << CAP_NET_RAW | 1u << CAP_CHOWN | 1u << CAP_SETPCAP)
#define CAP2 (CAP1 | 1u << CAP_KILL)

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_IS_SET 1
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_LOWER 3
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif
#define SECBIT_KEEP_CAPS 0x10
#define SECBIT_KEEP_CAPS_LOCKED 0x20

struct cap_header {
    uint32_t version;
    int pid;
};
struct cap_data {
    uint32_t effective, permitted, inheritable;
};

static int capget_(struct cap_header *h, struct cap_data *d)
{
    return syscall(SYS_capget, h, d);
}

static int capset_(struct cap_header *h, struct cap_data *d)
{
    return syscall(SYS_capset, h, d);
}

/* Sets the low words of the three sets (the high words stay empty). */
static int set_caps(uint32_t e, uint32_t p, uint32_t i)
{
    struct cap_header h = {0x20080522, 0};
    struct cap_data d[2] = {{e, p, i}, {0, 0, 0}};
    return capset_(&h, d);
}

/* A /proc/self/status capability line, as a number. */
static unsigned long long status_caps(const char *name)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    unsigned long long v = ~0ull;
    size_t n = strlen(name);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, name, n) && line[n] == ':')
            v = strtoull(line + n + 1, NULL, 16);
    if (f)
        fclose(f);
    return v;
}

/* Runs `body` in a child and reports its failures. */
static void in_child(void (*body)(void), const char *what)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        failures = 0;
        body();
        fflush(stdout);
        _exit(failures);
    }
    int status;
    waitpid(pid, &status, 0);
    checkf(WIFEXITED(status) && WEXITSTATUS(status) == 0, what, "status %#lx%.0ld",
           (long)status, 0);
}

static void header_errors(void)
{
    struct cap_header h = {0, 0};
    struct cap_data d[2];
    memset(d, 0, sizeof d);
    err(capset_(&h, d), EINVAL, "capset bad version");
    checkf(h.version == 0x20080522, "capset writes back the version", "%#lx%.0ld",
           (long)h.version, 0);
    h.version = 0;
    err(capset_(&h, NULL), EINVAL, "capset bad version, no data");
    h.version = 0;
    checkf(capget_(&h, NULL) == 0 && h.version == 0x20080522,
           "capget bad version, no data: 0 and the version", "%ld %#lx", 0, (long)h.version);
    h.version = 0x20080522;
    h.pid = -1;
    err(capget_(&h, d), EINVAL, "capget pid -1");
    h.pid = 0;
    err(capset_(&h, (void *)1), EFAULT, "capset bad data");
    err(capset_((void *)1, d), EFAULT, "capset bad header");
    /* Another process: a child (the sandbox's first process has no
     * parent inside). */
    int hold[2];
    pipe(hold);
    fflush(stdout);
    pid_t other = fork();
    if (other == 0) {
        char c;
        read(hold[0], &c, 1);
        _exit(0);
    }
    h.pid = other;
    struct cap_data mine[2] = {{0, 0, 0}, {0, 0, 0}};
    err(capset_(&h, mine), EPERM, "capset another process");
    h.pid = other;
    ok(capget_(&h, d), "capget another process");
    check(d[0].effective & (1u << CAP_KILL), "its effective set has CAP_KILL");
    write(hold[1], "x", 1);
    waitpid(other, NULL, 0);
    close(hold[0]);
    close(hold[1]);
}

static void sets_and_bounding(void)
{
    ok(set_caps(CAP1, CAP1, CAP1), "capset E=P=I=CAP1");
    struct cap_header h = {0x20080522, 0};
    struct cap_data d[2];
    ok(capget_(&h, d), "capget");
    checkf(d[0].effective == CAP1 && d[0].permitted == CAP1 && d[0].inheritable == CAP1,
           "the sets read back", "E %#lx P %#lx", (long)d[0].effective, (long)d[0].permitted);
    checkf(status_caps("CapEff") == CAP1 && status_caps("CapInh") == CAP1,
           "status CapEff and CapInh", "%#lx %#lx", (long)status_caps("CapEff"),
           (long)status_caps("CapInh"));
    checkf(prctl(PR_CAPBSET_READ, CAP_KILL) == 1, "CAP_KILL bounded", "%ld%.0ld",
           (long)prctl(PR_CAPBSET_READ, CAP_KILL), 0);
    err(prctl(PR_CAPBSET_READ, 99), EINVAL, "PR_CAPBSET_READ 99");
    ok(prctl(PR_CAPBSET_DROP, CAP_KILL), "PR_CAPBSET_DROP CAP_KILL");
    checkf(prctl(PR_CAPBSET_READ, CAP_KILL) == 0, "CAP_KILL no longer bounded", "%ld%.0ld",
           (long)prctl(PR_CAPBSET_READ, CAP_KILL), 0);
    check(!(status_caps("CapBnd") & 1u << CAP_KILL), "status CapBnd without CAP_KILL");
    check(status_caps("CapBnd") & 1u << CAP_NET_RAW, "status CapBnd with CAP_NET_RAW");
    err(prctl(PR_CAPBSET_DROP, 99), EINVAL, "PR_CAPBSET_DROP 99");
    err(set_caps(CAP2, CAP1, CAP1), EPERM, "capset E outside P");
    err(set_caps(CAP1, CAP2, CAP1), EPERM, "capset P grows");
    err(set_caps(CAP1, CAP1, CAP2), EPERM, "capset I outside the bounding set");
    /* Without CAP_SETPCAP, I stays within the old I and P. */
    uint32_t no_setpcap = CAP1 & ~(1u << CAP_SETPCAP);
    ok(set_caps(no_setpcap, CAP1, no_setpcap), "capset without SETPCAP in E");
    err(set_caps(no_setpcap, CAP1, no_setpcap | 1u << CAP_SYS_ADMIN), EPERM,
        "capset I grows beyond I and P without SETPCAP");
    ok(set_caps(no_setpcap, CAP1, 1u << CAP_CHOWN), "capset I shrinks without SETPCAP");
    err(prctl(PR_CAPBSET_DROP, CAP_NET_RAW), EPERM, "PR_CAPBSET_DROP without SETPCAP");
    err(prctl(PR_SET_SECUREBITS, 0), EPERM, "PR_SET_SECUREBITS without SETPCAP");
}

static void ambient(void)
{
    ok(set_caps(CAP1, CAP1, CAP1), "capset E=P=I=CAP1");
    err(prctl(PR_CAP_AMBIENT, 99, 0, 0, 0), EINVAL, "PR_CAP_AMBIENT bad op");
    err(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 1, 0, 0), EINVAL,
        "PR_CAP_AMBIENT_CLEAR_ALL with arg3");
    err(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, 99, 0, 0), EINVAL,
        "PR_CAP_AMBIENT_IS_SET 99");
    err(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_RAW, 1, 0), EINVAL,
        "PR_CAP_AMBIENT_RAISE with arg4");
    checkf(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_NET_RAW, 0, 0) == 0,
           "ambient empty", "%ld%.0ld", 0, 0);
    ok(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_RAW, 0, 0), "raise CAP_NET_RAW");
    ok(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_CHOWN, 0, 0), "raise CAP_CHOWN");
    err(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_KILL, 0, 0), EPERM,
        "raise CAP_KILL (not permitted)");
    checkf(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_NET_RAW, 0, 0) == 1,
           "CAP_NET_RAW ambient", "%ld%.0ld", 0, 0);
    checkf(status_caps("CapAmb") == (1u << CAP_NET_RAW | 1u << CAP_CHOWN), "status CapAmb",
           "%#lx%.0ld", (long)status_caps("CapAmb"), 0);
    ok(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_LOWER, CAP_CHOWN, 0, 0), "lower CAP_CHOWN");
    /* Leaving CAP_NET_RAW out of I drops it from the ambient set. */
    ok(set_caps(CAP1, CAP1, 1u << CAP_CHOWN), "capset I without CAP_NET_RAW");
    checkf(status_caps("CapAmb") == 0, "ambient follows I", "%#lx%.0ld",
           (long)status_caps("CapAmb"), 0);
    ok(set_caps(CAP1, CAP1, CAP1), "capset I=CAP1 again");
    ok(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_RAW, 0, 0), "raise again");
    ok(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "PR_CAP_AMBIENT_CLEAR_ALL");
    checkf(status_caps("CapAmb") == 0, "ambient cleared", "%#lx%.0ld",
           (long)status_caps("CapAmb"), 0);
}

static void securebits(void)
{
    checkf(prctl(PR_GET_SECUREBITS) == 0, "no securebits", "%ld%.0ld",
           (long)prctl(PR_GET_SECUREBITS), 0);
    ok(prctl(PR_SET_KEEPCAPS, 1), "PR_SET_KEEPCAPS 1");
    checkf(prctl(PR_GET_SECUREBITS) == SECBIT_KEEP_CAPS, "keepcaps is a securebit", "%ld%.0ld",
           (long)prctl(PR_GET_SECUREBITS), 0);
    err(prctl(PR_SET_KEEPCAPS, 2), EINVAL, "PR_SET_KEEPCAPS 2");
    err(prctl(PR_SET_SECUREBITS, 1 << 12), EPERM, "PR_SET_SECUREBITS unknown bit");
    ok(prctl(PR_SET_SECUREBITS, SECBIT_KEEP_CAPS | SECBIT_KEEP_CAPS_LOCKED),
       "lock keepcaps on");
    checkf(prctl(PR_GET_KEEPCAPS) == 1, "PR_GET_KEEPCAPS", "%ld%.0ld",
           (long)prctl(PR_GET_KEEPCAPS), 0);
    err(prctl(PR_SET_KEEPCAPS, 0), EPERM, "PR_SET_KEEPCAPS 0 when locked");
    err(prctl(PR_SET_SECUREBITS, SECBIT_KEEP_CAPS), EPERM, "unlock");
    err(prctl(PR_SET_SECUREBITS, SECBIT_KEEP_CAPS_LOCKED), EPERM, "change a locked bit");
    /* keepcaps: the permitted set survives leaving uid 0. */
    ok(setresuid(1000, 1000, 1000), "setresuid 1000");
    check(status_caps("CapPrm") & 1u << CAP_NET_RAW, "permitted kept");
    checkf(status_caps("CapEff") == 0, "effective dropped", "%#lx%.0ld",
           (long)status_caps("CapEff"), 0);
}

static char *self_path;

/* Execs this program to report the sets it starts with. */
static void exec_report(const char *tag)
{
    fflush(stdout);
    execl(self_path, self_path, "report", tag, (char *)NULL);
    printf("exec: FAIL %s\n", ename(errno));
    _exit(1);
}

static void exec_as_root(void)
{
    ok(prctl(PR_CAPBSET_DROP, CAP_KILL), "PR_CAPBSET_DROP CAP_KILL");
    ok(set_caps(CAP1, CAP1, 0), "capset E=P=CAP1, I=0");
    ok(prctl(PR_SET_KEEPCAPS, 1), "PR_SET_KEEPCAPS 1");
    exec_report("root");
}

static void exec_with_ambient(void)
{
    ok(set_caps(CAP1 | 1u << CAP_SETUID, CAP1 | 1u << CAP_SETUID, CAP1), "capset");
    ok(prctl(PR_SET_KEEPCAPS, 1), "PR_SET_KEEPCAPS 1");
    ok(setresuid(1000, 1000, 1000), "setresuid 1000");
    ok(set_caps(CAP1, CAP1, CAP1), "capset again as uid 1000");
    ok(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_RAW, 0, 0), "raise CAP_NET_RAW");
    exec_report("ambient");
}

static void exec_without_ambient(void)
{
    ok(set_caps(CAP1 | 1u << CAP_SETUID, CAP1 | 1u << CAP_SETUID, CAP1), "capset");
    ok(prctl(PR_SET_KEEPCAPS, 1), "PR_SET_KEEPCAPS 1");
    ok(setresuid(1000, 1000, 1000), "setresuid 1000");
    exec_report("plain");
}

static int report(const char *tag)
{
    unsigned long long e = status_caps("CapEff"), p = status_caps("CapPrm"),
                       a = status_caps("CapAmb");
    printf("after exec (%s): kill %d net_raw %d chown %d E==P %d ambient %#llx keepcaps %d\n", tag,
           !!(p & 1u << CAP_KILL), !!(p & 1u << CAP_NET_RAW), !!(p & 1u << CAP_CHOWN), e == p, a,
           prctl(PR_GET_KEEPCAPS));
    return 0;
}

/* Whether pid `p` can be had next by writing ns_last_pid (others may fork
 * in between natively: a few tries). Returns the child's pid (it waits for
 * a byte on `hold`) or -1. */
static pid_t fork_as(pid_t want, int hold)
{
    for (int i = 0; i < 20; i++) {
        int fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY);
        char buf[16];
        int n = snprintf(buf, sizeof buf, "%d", want - 1);
        if (fd < 0 || write(fd, buf, n) != n)
            return -1;
        close(fd);
        pid_t pid = fork();
        if (pid == 0) {
            char c;
            read(hold, &c, 1);
            _exit(0);
        }
        if (pid == want)
            return pid;
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    return -1;
}

static void pids(void)
{
    struct stat st;
    ok(stat("/proc/sys/kernel/ns_last_pid", &st), "stat ns_last_pid");
    checkf((st.st_mode & 0777) == 0666, "ns_last_pid is 0666", "%#lo%.0ld",
           (long)(st.st_mode & 0777), 0);
    int fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY);
    ok(fd, "open ns_last_pid for writing");
    err(write(fd, "-1", 2), EINVAL, "write -1");
    err(write(fd, "x", 1), EINVAL, "write x");
    close(fd);

    int hold[2];
    pipe(hold);
    pid_t first = fork();
    if (first == 0) {
        char c;
        read(hold[0], &c, 1);
        _exit(0);
    }
    char path[32];
    snprintf(path, sizeof path, "/proc/%d", first);
    int dir = open(path, O_DIRECTORY | O_CLOEXEC);
    ok(dir, "open /proc/<child>");
    struct stat old;
    fstat(dir, &old);
    ok(syscall(SYS_pidfd_send_signal, dir, 0, NULL, 0), "pidfd_send_signal through it");
    write(hold[1], "x", 1);
    waitpid(first, NULL, 0);
    err(syscall(SYS_pidfd_send_signal, dir, 0, NULL, 0), ESRCH, "after the child is reaped");
    pid_t second = fork_as(first, hold[0]);
    checkf(second == first, "the pid is reused", "%ld %ld", (long)second, (long)first);
    if (second == first) {
        int again = open(path, O_DIRECTORY | O_CLOEXEC);
        struct stat new;
        fstat(again, &new);
        check(new.st_ino != old.st_ino, "another /proc/<pid> inode");
        err(syscall(SYS_pidfd_send_signal, dir, SIGUSR1, NULL, 0), ESRCH,
            "the old directory does not signal the new process");
        ok(syscall(SYS_pidfd_send_signal, again, 0, NULL, 0), "the new directory does");
        close(again);
        write(hold[1], "x", 1);
        waitpid(second, NULL, 0);
    }
    close(dir);
}

static void ns_last_pid_needs_a_capability(void)
{
    /* Effective without CAP_SYS_ADMIN and CAP_CHECKPOINT_RESTORE. */
    struct cap_header h = {0x20080522, 0};
    struct cap_data d[2];
    capget_(&h, d);
    d[0].effective &= ~(1u << CAP_SYS_ADMIN);
    d[1].effective &= ~(1u << (CAP_CHECKPOINT_RESTORE - 32));
    ok(capset_(&h, d), "drop CAP_SYS_ADMIN and CAP_CHECKPOINT_RESTORE");
    int fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY);
    ok(fd, "open ns_last_pid for writing");
    err(write(fd, "500", 3), EPERM, "write without the capability");
    close(fd);
}

static void fchmodat2_(void)
{
    char file[64], link[64];
    snprintf(file, sizeof file, "/tmp/capabilities.%d", getpid());
    snprintf(link, sizeof link, "/tmp/capabilities.%d.l", getpid());
    int fd = open(file, O_CREAT | O_WRONLY, 0640);
    close(fd);
    symlink(file, link);
    struct stat st;
    ok(syscall(452, AT_FDCWD, file, 0600, 0), "fchmodat2");
    stat(file, &st);
    checkf((st.st_mode & 0777) == 0600, "mode 0600", "%#lo%.0ld", (long)(st.st_mode & 0777), 0);
    err(syscall(452, -1, "relative", 0600, 0), EBADF, "fchmodat2 bad dirfd");
    err(syscall(452, AT_FDCWD, "/tmp/no/such", 0600, 0), ENOENT, "fchmodat2 no file");
    err(syscall(452, AT_FDCWD, file, 0600, -1), EINVAL, "fchmodat2 flags -1");
    err(syscall(452, AT_FDCWD, link, 0600, AT_SYMLINK_NOFOLLOW), EOPNOTSUPP,
        "fchmodat2 on a symlink");
    ok(syscall(452, AT_FDCWD, link, 0604, 0), "fchmodat2 through a symlink");
    stat(file, &st);
    checkf((st.st_mode & 0777) == 0604, "mode 0604", "%#lo%.0ld", (long)(st.st_mode & 0777), 0);
    int path = open(file, O_PATH);
    ok(syscall(452, path, "", 0644, AT_EMPTY_PATH), "fchmodat2 AT_EMPTY_PATH on O_PATH");
    fstat(path, &st);
    checkf((st.st_mode & 0777) == 0644, "mode 0644", "%#lo%.0ld", (long)(st.st_mode & 0777), 0);
    err(syscall(452, path, "", 0644, 0), ENOENT, "fchmodat2 empty path without the flag");
    close(path);
    unlink(link);
    unlink(file);
}

#define ARCH_GET_CPUID 0x1011
#define ARCH_SET_CPUID 0x1012

static int has_cpuid_fault(void)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[4096];
    int found = 0;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "flags", 5) && (strstr(line, " cpuid_fault ") ||
                                           strstr(line, " cpuid_fault\n")))
            found = 1;
    if (f)
        fclose(f);
    return found;
}

/* Whether CPUID faulting is there differs between machines (not under
 * pvm): only disagreements with /proc/cpuinfo are printed. */
static void cpuid_faulting(void)
{
    int bad = 0;
#define EXPECT(cond, what)                                                                       \
    do {                                                                                         \
        if (!(cond)) {                                                                           \
            printf("ARCH_SET_CPUID: FAIL %s (errno %s)\n", what, ename(errno));                  \
            bad++;                                                                               \
        }                                                                                        \
    } while (0)
    EXPECT(syscall(SYS_arch_prctl, ARCH_GET_CPUID, 0) == 1, "ARCH_GET_CPUID is 1");
    long r = syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0);
    if (!has_cpuid_fault()) {
        EXPECT(r == -1 && errno == ENODEV, "ARCH_SET_CPUID 0 without cpuid_fault: ENODEV");
        r = syscall(SYS_arch_prctl, ARCH_SET_CPUID, 1);
        EXPECT(r == -1 && errno == ENODEV, "ARCH_SET_CPUID 1 without cpuid_fault: ENODEV");
    } else {
        EXPECT(r == 0, "ARCH_SET_CPUID 0 with cpuid_fault");
        EXPECT(syscall(SYS_arch_prctl, ARCH_GET_CPUID, 0) == 0, "ARCH_GET_CPUID is 0 after");
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            /* Inherited by fork: CPUID faults (SIGSEGV). */
            unsigned a = 0, b, c = 0, d;
            __asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
            _exit(0);
        }
        int status;
        waitpid(pid, &status, 0);
        EXPECT(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV, "cpuid faults in a child");
        EXPECT(syscall(SYS_arch_prctl, ARCH_SET_CPUID, 1) == 0, "ARCH_SET_CPUID 1");
        unsigned a = 0, b, c = 0, d;
        __asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
    }
#undef EXPECT
    failures += bad;
    printf("ARCH_SET_CPUID agrees with /proc/cpuinfo: %s\n", bad ? "FAIL" : "ok");
}

int main(int argc, char **argv)
{
    self_path = "/proc/self/exe";
    if (argc == 3 && !strcmp(argv[1], "report"))
        return report(argv[2]);
    setvbuf(stdout, NULL, _IOLBF, 0);
    header_errors();
    in_child(sets_and_bounding, "sets and bounding set");
    in_child(ambient, "ambient set");
    in_child(securebits, "securebits");
    in_child(exec_as_root, "exec as root");
    in_child(exec_with_ambient, "exec with an ambient set");
    in_child(exec_without_ambient, "exec without an ambient set");
    in_child(pids, "ns_last_pid and pid reuse");
    in_child(ns_last_pid_needs_a_capability, "ns_last_pid needs a capability");
    fchmodat2_();
    in_child(cpuid_faulting, "ARCH_SET_CPUID");
    return finish();
}
