/* Guest actions that once crashed or froze the sentry (red-team findings of
 * issue 11). Each mode prints what Linux answers; run natively where that is
 * safe and compared (tests/tests/hardening.rs).
 *
 *   hostile tls                 bad TLS bases: clone(CLONE_SETTLS), arch_prctl
 *   hostile pipes               fill a 256-slot fd table with pipes
 *   hostile pipes-max           fill the fd table (as large as allowed) with pipes
 *   hostile eventfd             writes that do not fit an eventfd's counter
 *   hostile hostfiles DIR N     hold N host files open, each read once
 *   hostile exhaust KIND        create KIND objects until an error, free them
 *   hostile vmmcall / vvar      ring-3 privilege probes
 *   hostile priv                privileged instructions in ring 3
 *   hostile df                  page faults taken with the direction flag set
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "abi_check.h"

#ifndef ARCH_SET_GS
#define ARCH_SET_GS 0x1001
#define ARCH_SET_FS 0x1002
#define ARCH_GET_FS 0x1003
#endif

static void report(const char *what, long r)
{
    if (r < 0)
        printf("%s: -1 %s\n", what, ename(errno));
    else
        printf("%s: %ld\n", what, r);
}

static int tls_mode(void)
{
#if defined(__x86_64__)
    static const uint64_t bad[] = {
        0x0000800000000000ull, /* first non-canonical */
        0x00007ffffffff000ull, /* TASK_SIZE_MAX: canonical, still refused */
        0x8000000000000000ull,
        0xffff800000000000ull, /* kernel half, canonical */
        0xffffffffffffffffull,
    };
    uint64_t fs = 0;
    syscall(SYS_arch_prctl, ARCH_GET_FS, &fs);
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char what[96];
        /* A fork-style clone: nothing runs if it is refused. */
        snprintf(what, sizeof what, "clone(SIGCHLD|CLONE_SETTLS, tls=%#llx)",
                 (unsigned long long)bad[i]);
        long r = syscall(SYS_clone, SIGCHLD | CLONE_SETTLS, 0, 0, 0, bad[i]);
        if (r == 0)
            _exit(0); /* the child must not get here with a bad FS base */
        if (r > 0)
            waitpid(r, NULL, 0);
        report(what, r > 0 ? 0 : r);
        /* A thread-style clone sharing our memory. */
        static char stack[65536];
        snprintf(what, sizeof what, "clone(thread|CLONE_SETTLS, tls=%#llx)",
                 (unsigned long long)bad[i]);
        r = syscall(SYS_clone,
                    CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
                        CLONE_SYSVSEM | CLONE_SETTLS,
                    stack + sizeof stack, 0, 0, bad[i]);
        if (r == 0)
            syscall(SYS_exit, 0);
        report(what, r > 0 ? 0 : r);
        snprintf(what, sizeof what, "arch_prctl(ARCH_SET_FS, %#llx)",
                 (unsigned long long)bad[i]);
        report(what, syscall(SYS_arch_prctl, ARCH_SET_FS, bad[i]));
        snprintf(what, sizeof what, "arch_prctl(ARCH_SET_GS, %#llx)",
                 (unsigned long long)bad[i]);
        report(what, syscall(SYS_arch_prctl, ARCH_SET_GS, bad[i]));
    }
    uint64_t after = 0;
    syscall(SYS_arch_prctl, ARCH_GET_FS, &after);
    check(after == fs, "FS base unchanged");
#endif
    printf("still running\n");
    return failures != 0;
}

/* Pipes until the table is full: the last pipe's read end fits, its write
 * end does not (an odd number of free slots). */
static int pipes_mode(rlim_t limit)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (limit == 0) {
        limit = rl.rlim_max;
        if (limit == RLIM_INFINITY || limit > 65536)
            limit = 65536;
    }
    rl.rlim_cur = limit;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
        printf("setrlimit: %s\n", ename(errno));
        return 1;
    }
    int open_before = 0;
    for (int fd = 0; fd < (int)limit; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            open_before++;
    long count = 0;
    int p[2];
    for (;;) {
        if (pipe(p) != 0)
            break;
        count++;
    }
    int err = errno;
    /* The failed call must not leave a descriptor behind. */
    int spare = dup(0);
    if (limit <= 4096)
        printf("pipes: %s, then %s; the last slot left free: %s\n",
               open_before + 2 * count == (long)limit - 1 ? "all but one slot" : "fewer",
               ename(err), spare >= 0 ? "yes" : "no");
    else
        printf("pipes: then %s\n", (err == EMFILE || err == ENFILE || err == ENOMEM) ?
               "a limit error" : ename(err));
    /* The table works on: close everything and make one more. */
    for (int fd = 3; fd < (int)limit; fd++)
        close(fd);
    check(pipe(p) == 0, "a pipe after closing them all");
    return failures != 0;
}

static volatile sig_atomic_t alarms;
static void on_alarm(int sig)
{
    (void)sig;
    alarms++;
}

static int eventfd_mode(void)
{
    int fd = eventfd(0, 0);
    uint64_t v = 0xfffffffffffffffdull; /* the maximum (2^64-2) minus 1 */
    report("write 2^64-3", write(fd, &v, 8));
    struct pollfd pfd = {.fd = fd, .events = POLLIN | POLLOUT};
    poll(&pfd, 1, 0);
    printf("poll: %s%s\n", pfd.revents & POLLIN ? "IN " : "", pfd.revents & POLLOUT ? "OUT" : "");
    v = 2; /* does not fit: the counter would pass 2^64-2 */
    int nb = eventfd(0, EFD_NONBLOCK);
    uint64_t big = 0xfffffffffffffffeull;
    report("nonblocking: write 2^64-2", write(nb, &big, 8));
    report("nonblocking: write 1 more", write(nb, &v, 8));
    pfd.fd = nb;
    poll(&pfd, 1, 0);
    printf("nonblocking full: poll: %s%s\n", pfd.revents & POLLIN ? "IN " : "",
           pfd.revents & POLLOUT ? "OUT" : "");
    big = 0xffffffffffffffffull;
    report("write 2^64-1", write(nb, &big, 8));

    /* A blocking write that does not fit waits (it must not spin) until a
     * signal interrupts it. */
    struct sigaction sa = {.sa_handler = on_alarm};
    sigaction(SIGALRM, &sa, NULL);
    alarm(1);
    long r = write(fd, &v, 8);
    report("blocking write 2 (interrupted by SIGALRM after 1 s)", r);

    /* And a reader in another process lets it through. */
    pid_t child = fork();
    if (child == 0) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
        uint64_t got;
        read(fd, &got, 8);
        _exit(got == 0xfffffffffffffffdull ? 0 : 1);
    }
    report("blocking write 2 (a child reads)", write(fd, &v, 8));
    int status;
    waitpid(child, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child read the old count");
    uint64_t now = 0;
    report("read", read(fd, &now, 8));
    printf("count: %llu\n", (unsigned long long)now);
    return failures != 0;
}

static int hostfiles_mode(const char *dir, int n)
{
    int *fds = calloc(n, sizeof *fds);
    long total = 0;
    for (int i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/f%d", dir, i);
        fds[i] = open(path, O_RDONLY);
        if (fds[i] < 0) {
            printf("open %s: %s\n", path, ename(errno));
            return 1;
        }
        char c;
        long r = read(fds[i], &c, 1);
        if (r != 1) {
            printf("read %s: %ld %s\n", path, r, ename(errno));
            return 1;
        }
        total += r;
    }
    /* And read them all to the end, interleaved. */
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < n; i++) {
            char buf[4096];
            long r = read(fds[i], buf, sizeof buf);
            if (r < 0) {
                printf("read: %s\n", ename(errno));
                return 1;
            }
            total += r;
        }
    printf("%d files open, %ld bytes read\n", n, total);
    return 0;
}

/* Creates objects of one kind until a call fails; the failure must be an
 * errno (the sandbox's memory is what runs out), and the program must go on
 * after freeing them. */
static int exhaust_mode(const char *kind)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max > 65536 ? 65536 : rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    long n = 0;
    int err = 0;
    char path[64];
    if (strcmp(kind, "tmpdir") == 0)
        mkdir("/tmp/x", 0755);
    for (;; n++) {
        long r;
        if (strcmp(kind, "vmas") == 0) {
            /* Alternating protections: each page its own VMA. */
            void *p = mmap(NULL, 4096, (n & 1) ? PROT_READ : PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            r = p == MAP_FAILED ? -1 : 0;
        } else if (strcmp(kind, "epolls") == 0) {
            r = epoll_create1(0);
        } else if (strcmp(kind, "epoll-watches") == 0) {
            static int ep = -1, target = -1;
            if (ep < 0) {
                ep = epoll_create1(0);
                target = eventfd(0, 0);
            }
            /* Each watch needs its own descriptor: dup the target. */
            int d = dup(target);
            if (d < 0) {
                r = -1;
            } else {
                struct epoll_event ev = {.events = EPOLLIN, .data.fd = d};
                r = epoll_ctl(ep, EPOLL_CTL_ADD, d, &ev);
            }
        } else if (strcmp(kind, "timerfds") == 0) {
            r = timerfd_create(CLOCK_MONOTONIC, 0);
        } else if (strcmp(kind, "eventfds") == 0) {
            r = eventfd(0, 0);
        } else if (strcmp(kind, "pipes") == 0) {
            int p[2];
            r = pipe(p);
        } else if (strcmp(kind, "pipedata") == 0) {
            /* Pipes with full buffers. */
            static char chunk[65536];
            int p[2];
            r = pipe2(p, O_NONBLOCK);
            if (r == 0)
                r = write(p[1], chunk, sizeof chunk);
        } else if (strcmp(kind, "files") == 0) {
            snprintf(path, sizeof path, "/tmp/f%ld", n);
            r = open(path, O_CREAT | O_WRONLY, 0644);
            if (r >= 0)
                r = close(r);
        } else if (strcmp(kind, "dirs") == 0) {
            snprintf(path, sizeof path, "/tmp/d%ld", n);
            r = mkdir(path, 0755);
        } else if (strcmp(kind, "symlinks") == 0) {
            snprintf(path, sizeof path, "/tmp/l%ld", n);
            r = symlink("/a/rather/long/target/name/to/use/some/memory/per/link", path);
        } else if (strcmp(kind, "names") == 0) {
            /* Long names in one directory. */
            char full[320];
            memset(full, 0, sizeof full);
            memcpy(full, "/tmp/", 5);
            memset(full + 5, 'n', 240);
            snprintf(full + 245, 60, "%ld", n);
            r = mknod(full, S_IFIFO | 0644, 0);
        } else if (strcmp(kind, "timers") == 0) {
            timer_t t;
            struct sigevent sev = {.sigev_notify = SIGEV_NONE};
            r = timer_create(CLOCK_MONOTONIC, &sev, &t);
        } else if (strcmp(kind, "tmpdata") == 0) {
            /* One byte every 4 KiB of a sparse file: a page each. */
            static int fd = -1;
            if (fd < 0)
                fd = open("/tmp/sparse", O_CREAT | O_RDWR, 0644);
            r = pwrite(fd, "x", 1, (off_t)n * 8192);
        } else if (strcmp(kind, "memfds") == 0) {
            r = memfd_create("m", 0);
        } else {
            printf("unknown kind %s\n", kind);
            return 2;
        }
        if (r < 0) {
            err = errno;
            break;
        }
        if (n > 50 * 1000 * 1000)
            break;
    }
    printf("%s: %s after %s objects\n", kind, ename(err), n > 1000 ? "many" : "few");
    if (getenv("HOSTILE_COUNT"))
        fprintf(stderr, "%ld objects\n", n);
    fflush(stdout);
    /* Free (most of) them and check the sandbox still works. */
    for (int fd = 3; fd < (int)rl.rlim_cur; fd++)
        close(fd);
    if (strcmp(kind, "files") == 0 || strcmp(kind, "symlinks") == 0)
        for (long i = 0; i < n; i++) {
            snprintf(path, sizeof path, strcmp(kind, "files") == 0 ? "/tmp/f%ld" : "/tmp/l%ld", i);
            unlink(path);
        }
    if (strcmp(kind, "names") == 0)
        for (long i = 0; i < n; i++) {
            char full[320];
            memset(full, 0, sizeof full);
            memcpy(full, "/tmp/", 5);
            memset(full + 5, 'n', 240);
            snprintf(full + 245, 60, "%ld", i);
            unlink(full);
        }
    if (strcmp(kind, "dirs") == 0)
        for (long i = 0; i < n; i++) {
            snprintf(path, sizeof path, "/tmp/d%ld", i);
            rmdir(path);
        }
    if (strcmp(kind, "tmpdata") == 0)
        unlink("/tmp/sparse");
    int p[2];
    check(pipe(p) == 0, "a pipe afterwards");
    pid_t child = fork();
    if (child == 0)
        _exit(7);
    int status = 0;
    if (child > 0)
        waitpid(child, &status, 0);
    check(child > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 7, "a child afterwards");
    return failures != 0;
}

/* Shared writable mappings follow the file's open mode (Linux: EACCES). */
static int mmap_ro_mode(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        printf("open %s: %s\n", path, ename(errno));
        return 1;
    }
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    printf("mmap(MAP_SHARED, PROT_WRITE) of an O_RDONLY file: %s\n",
           p == MAP_FAILED ? ename(errno) : "mapped");
    p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
    printf("mmap(MAP_SHARED, PROT_READ): %s\n", p == MAP_FAILED ? ename(errno) : "mapped");
    if (p != MAP_FAILED) {
        int r = mprotect(p, 4096, PROT_READ | PROT_WRITE);
        printf("mprotect(PROT_WRITE) of it: %s\n", r ? ename(errno) : "0");
        r = mprotect(p, 4096, PROT_READ | PROT_EXEC);
        printf("mprotect(PROT_EXEC) of it: %s\n", r ? ename(errno) : "0");
    }
    void *q = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
    if (q != MAP_FAILED) {
        int r = mprotect(q, 4096, PROT_READ | PROT_WRITE);
        printf("mprotect(PROT_WRITE) of a private mapping: %s\n", r ? ename(errno) : "0");
    }
    return 0;
}

/* The direction flag set in user mode while the sentry takes page faults
 * (first touches of fresh pages, copies through syscalls): the sentry must
 * not inherit it (it once ran its memcpy backwards and crashed). */
static int df_mode(void)
{
#if defined(__x86_64__)
    size_t len = 64 * 4096;
    char *p = mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return 2;
    long sum = 0;
    for (size_t off = 0; off < len; off += 4096) {
        __asm__ volatile("std\n\tmovb $1, (%1)\n\tmovzbq (%1), %%rax\n\tadd %%rax, %0\n\tcld"
                         : "+r"(sum) : "r"(p + off) : "rax", "memory", "cc");
    }
    printf("df: touched %ld pages\n", sum);
#else
    printf("df: touched 64 pages\n");
#endif
    return 0;
}

/* Privileged instructions in ring 3: each in a child, which must die by
 * the signal Linux sends (SIGSEGV for #GP, SIGILL for #UD), the sandbox
 * going on. */
static int priv_mode(void)
{
#if defined(__x86_64__)
    static const char *names[] = {"hlt", "cli", "sti", "in", "out", "rdmsr", "wrmsr",
                                  "mov cr3", "mov cr0 write", "lgdt", "invlpg", "wbinvd",
                                  "mov dr7", "ud2", "int 3", "clts", "lidt", "ltr"};
    for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            static char table[16];
            switch (i) {
            case 0: __asm__ volatile("hlt"); break;
            case 1: __asm__ volatile("cli"); break;
            case 2: __asm__ volatile("sti"); break;
            case 3: __asm__ volatile("inb $0xe0, %%al" ::: "rax"); break;
            case 4: __asm__ volatile("outb %%al, $0xe0" ::"a"(0)); break;
            case 5: __asm__ volatile("rdmsr" ::"c"(0xc0000100) : "rax", "rdx"); break;
            case 6: __asm__ volatile("wrmsr" ::"c"(0xc0000100), "a"(0), "d"(0)); break;
            case 7: __asm__ volatile("mov %%cr3, %%rax" ::: "rax"); break;
            case 8: __asm__ volatile("xor %%eax, %%eax; mov %%rax, %%cr0" ::: "rax"); break;
            case 9: __asm__ volatile("lgdt %0" ::"m"(table)); break;
            case 10: __asm__ volatile("invlpg (%0)" ::"r"(table) : "memory"); break;
            case 11: __asm__ volatile("wbinvd"); break;
            case 12: __asm__ volatile("xor %%eax, %%eax; mov %%rax, %%dr7" ::: "rax"); break;
            case 13: __asm__ volatile("ud2"); break;
            case 14: __asm__ volatile("int3"); break;
            case 15: __asm__ volatile("clts"); break;
            case 16: __asm__ volatile("lidt %0" ::"m"(table)); break;
            case 17: __asm__ volatile("ltr %%ax" ::"a"(0x28)); break;
            }
            _exit(0);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        if (WIFSIGNALED(status))
            printf("%s: signal %d\n", names[i], WTERMSIG(status));
        else
            printf("%s: exit %d\n", names[i], WEXITSTATUS(status));
    }
#endif
    return 0;
}

/* The vvar page cannot be made writable (Linux: EACCES). */
static int vvar_mode(void)
{
    FILE *maps = fopen("/proc/self/maps", "r");
    char line[512];
    unsigned long start = 0;
    while (maps && fgets(line, sizeof line, maps))
        if (strstr(line, "[vvar]")) {
            start = strtoul(line, NULL, 16);
            break;
        }
    if (!start) {
        printf("no [vvar] mapping\n");
        return 0;
    }
    int r = mprotect((void *)start, 4096, PROT_READ | PROT_WRITE);
    printf("mprotect([vvar], PROT_WRITE): %s\n", r ? ename(errno) : "0");
    r = mprotect((void *)start, 4096, PROT_READ);
    printf("mprotect([vvar], PROT_READ): %s\n", r ? ename(errno) : "0");
    return 0;
}

/* What the sandbox may do to files in a :rw mount (run in the sandbox only:
 * natively, as root, these would change the host). */
static int hostpriv_mode(const char *dir)
{
    char a[512], b[512];
    snprintf(a, sizeof a, "%s/suid", dir);
    int fd = open(a, O_CREAT | O_WRONLY, 06755);
    report("create 06755", fd < 0 ? -1 : 0);
    if (fd >= 0) {
        write(fd, "#!/bin/sh\n", 10);
        close(fd);
    }
    report("chmod 06755", chmod(a, 06755));
    report("chown 0:0 (the sandbox's root)", chown(a, 0, 0));
    report("chown -1:-1", chown(a, -1, -1));
    report("chown 1234:-1", chown(a, 1234, -1));
    report("chown -1:1234", chown(a, -1, 1234));
    report("chmod 06755 again", chmod(a, 06755));
    snprintf(b, sizeof b, "%s/suid-dir", dir);
    report("mkdir 07777", mkdir(b, 07777));
    snprintf(b, sizeof b, "%s/renamed", dir);
    report("renameat2(RENAME_WHITEOUT)",
           syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, 4 /* RENAME_WHITEOUT */));
    report("renameat2(1 << 8)", syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, 1 << 8));
    report("renameat2(RENAME_NOREPLACE)",
           syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, 1 /* RENAME_NOREPLACE */));
    return 0;
}

/* Fills a file until a write fails; the failure must come (ENOSPC). */
static int fill_mode(const char *path)
{
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    if (fd < 0) {
        printf("open: %s\n", ename(errno));
        return 1;
    }
    static char buf[4096];
    memset(buf, 'x', sizeof buf);
    long total = 0;
    for (;;) {
        long n = write(fd, buf, sizeof buf);
        if (n < 0) {
            printf("write: %s after %s\n", ename(errno), total > 0 ? "some data" : "nothing");
            break;
        }
        total += n;
        if (total > (1L << 40))
            break;
    }
    int r = fsync(fd);
    printf("fsync: %s\n", r ? ename(errno) : "0");
    close(fd);
    unlink(path);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2) {
        fprintf(stderr, "usage: hostile MODE ...\n");
        return 2;
    }
    const char *mode = argv[1];
    if (strcmp(mode, "tls") == 0)
        return tls_mode();
    if (strcmp(mode, "pipes") == 0)
        return pipes_mode(256);
    if (strcmp(mode, "pipes-max") == 0)
        return pipes_mode(0);
    if (strcmp(mode, "eventfd") == 0)
        return eventfd_mode();
    if (strcmp(mode, "hostfiles") == 0 && argc == 4)
        return hostfiles_mode(argv[2], atoi(argv[3]));
    if (strcmp(mode, "mmap-ro") == 0 && argc == 3)
        return mmap_ro_mode(argv[2]);
    if (strcmp(mode, "vvar") == 0)
        return vvar_mode();
    if (strcmp(mode, "df") == 0)
        return df_mode();
    if (strcmp(mode, "priv") == 0)
        return priv_mode();
    if (strcmp(mode, "hostpriv") == 0 && argc == 3)
        return hostpriv_mode(argv[2]);
    if (strcmp(mode, "fill") == 0 && argc == 3)
        return fill_mode(argv[2]);
    if (strcmp(mode, "print") == 0) {
        /* Output forever (for --timeout with a reader that does not read). */
        static char line[4096];
        memset(line, 'x', sizeof line - 1);
        line[sizeof line - 1] = '\n';
        for (;;)
            write(1, line, sizeof line);
    }
    if (strcmp(mode, "exhaust") == 0 && argc == 3)
        return exhaust_mode(argv[2]);
    fprintf(stderr, "unknown mode %s\n", mode);
    return 2;
}
