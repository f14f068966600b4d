/* leases: file leases (fcntl F_SETLEASE / F_GETLEASE) and their breaking
 * between processes, file owners (F_SETOWN, F_SETOWN_EX, F_SETSIG) with
 * O_ASYNC signals, and the deadlock detection of F_SETLKW.
 *
 * Covers read and write leases and what refuses them (EAGAIN when the
 * file is open elsewhere in a conflicting way or another description
 * holds a lease, EINVAL for other types and files that are not regular,
 * EACCES for a file another user owns, EBADF through O_PATH); a break by
 * an open for writing (EWOULDBLOCK with O_NONBLOCK, else a wait until the
 * holder lets go, which may not downgrade meanwhile), by an open for
 * reading (the holder downgrades) and by truncate, with the holder's
 * signal and its siginfo; the owner a lease gives and takes away; owners
 * and signals of a pipe with O_ASYNC; EDEADLK for a F_SETLKW that would
 * close a cycle of waiting processes.
 *
 * With "timeout" as second argument (sandbox only: it writes
 * /proc/sys/fs/lease-break-time), a holder that does not let go loses
 * its lease when the break time passes.
 *
 * Usage: leases DIR [timeout]. Prints one line per check and
 * "failures=N"; exits with min(N, 100). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "abi_check.h"

#ifndef F_SETLEASE
#define F_SETLEASE 1024
#define F_GETLEASE 1025
#endif
#ifndef F_SETSIG
#define F_SETSIG 10
#define F_GETSIG 11
#endif
#ifndef F_SETOWN_EX
#define F_SETOWN_EX 15
#define F_GETOWN_EX 16
#define F_OWNER_TID 0
#define F_OWNER_PID 1
#define F_OWNER_PGRP 2
#endif
#ifndef POLL_IN
#define POLL_IN 1
#define POLL_MSG 3
#endif

struct owner_ex {
    int type;
    int pid;
};

/* The last child's exit status. */
static int st;

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits (up to 5 s) until process `pid` sleeps in a blocking call. */
static int wait_sleeping(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    for (int i = 0; i < 5000; i++) {
        FILE *f = fopen(path, "r");
        if (f) {
            size_t n = fread(buf, 1, sizeof buf - 1, f);
            fclose(f);
            buf[n] = 0;
            char *p = strrchr(buf, ')');
            if (p && p[1] == ' ' && p[2] == 'S')
                return 1;
        }
        usleep(1000);
    }
    return 0;
}

/* Waits for `sig` (blocked) up to `ms`; the siginfo in *info. */
static int wait_signal(int sig, int ms, siginfo_t *info)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    return sigtimedwait(&set, info, &ts);
}

static int child_status(pid_t pid)
{
    int status = 0;
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void lease_rules(void)
{
    int fd = open("f", O_RDONLY);
    ok(fd, "open read-only");
    checkf(fcntl(fd, F_GETLEASE) == F_UNLCK, "no lease at first", "%ld %ld",
           fcntl(fd, F_GETLEASE), 0);
    ok(fcntl(fd, F_SETLEASE, F_RDLCK), "read lease");
    checkf(fcntl(fd, F_GETLEASE) == F_RDLCK, "F_GETLEASE read", "%ld %ld",
           fcntl(fd, F_GETLEASE), 0);
    /* The lease gave the description an owner: this process. */
    checkf(fcntl(fd, F_GETOWN) == getpid(), "a lease sets the owner", "%ld %ld",
           fcntl(fd, F_GETOWN), getpid());
    ok(fcntl(fd, F_SETLEASE, F_WRLCK), "upgrade to a write lease");
    checkf(fcntl(fd, F_GETLEASE) == F_WRLCK, "F_GETLEASE write", "%ld %ld",
           fcntl(fd, F_GETLEASE), 0);
    ok(fcntl(fd, F_SETLEASE, F_UNLCK), "unlock");
    checkf(fcntl(fd, F_GETLEASE) == F_UNLCK, "F_GETLEASE after unlock", "%ld %ld",
           fcntl(fd, F_GETLEASE), 0);
    /* F_UNLCK takes the owner away again (Linux's f_delown). */
    checkf(fcntl(fd, F_GETOWN) == 0, "unlock clears the owner", "%ld %ld",
           fcntl(fd, F_GETOWN), 0);
    err(fcntl(fd, F_SETLEASE, F_UNLCK), EAGAIN, "unlock without a lease");
    err(fcntl(fd, F_SETLEASE, 7), EINVAL, "lease type 7");
    err(fcntl(fd, F_SETLEASE, -1), EINVAL, "lease type -1");

    /* Another reader: read leases for both, no write lease. */
    int fd2 = open("f", O_RDONLY);
    err(fcntl(fd, F_SETLEASE, F_WRLCK), EAGAIN, "write lease, file open twice");
    ok(fcntl(fd, F_SETLEASE, F_RDLCK), "read lease, file open twice");
    ok(fcntl(fd2, F_SETLEASE, F_RDLCK), "second read lease");
    close(fd2);
    /* fd2's lease went with it; another description holds a lease. */
    int fd3 = open("f", O_RDONLY);
    close(fd3);
    ok(fcntl(fd, F_SETLEASE, F_WRLCK), "write lease once alone");
    ok(fcntl(fd, F_SETLEASE, F_UNLCK), "unlock again");

    /* Writers refuse read leases, their own description's too. */
    int w = open("f", O_WRONLY);
    err(fcntl(fd, F_SETLEASE, F_RDLCK), EAGAIN, "read lease while a writer is open");
    err(fcntl(w, F_SETLEASE, F_RDLCK), EAGAIN, "read lease on a writer");
    err(fcntl(fd, F_SETLEASE, F_WRLCK), EAGAIN, "write lease while a writer is open");
    close(fd);
    ok(fcntl(w, F_SETLEASE, F_WRLCK), "write lease on the only writer");
    checkf(fcntl(w, F_GETLEASE) == F_WRLCK, "F_GETLEASE on the writer", "%ld %ld",
           fcntl(w, F_GETLEASE), 0);
    ok(fcntl(w, F_SETLEASE, F_UNLCK), "unlock the writer's lease");
    close(w);

    /* Only regular files; O_PATH descriptors take no lease calls. */
    int dir = open(".", O_RDONLY | O_DIRECTORY);
    err(fcntl(dir, F_SETLEASE, F_RDLCK), EINVAL, "lease on a directory");
    checkf(fcntl(dir, F_GETLEASE) == F_UNLCK, "F_GETLEASE on a directory", "%ld %ld",
           fcntl(dir, F_GETLEASE), 0);
    close(dir);
    int p[2];
    pipe(p);
    err(fcntl(p[0], F_SETLEASE, F_RDLCK), EINVAL, "lease on a pipe");
    close(p[0]);
    close(p[1]);
    int path = open("f", O_PATH);
    err(fcntl(path, F_SETLEASE, F_RDLCK), EBADF, "lease through O_PATH");
    err(fcntl(path, F_GETLEASE), EBADF, "F_GETLEASE through O_PATH");
    err(fcntl(path, F_SETOWN, getpid()), EBADF, "F_SETOWN through O_PATH");
    close(path);

    /* A file another user owns: EACCES without CAP_LEASE. */
    pid_t child = fork();
    if (child == 0) {
        if (setgid(65534) < 0 || setuid(65534) < 0)
            _exit(10);
        int r = open("f", O_RDONLY);
        if (r < 0)
            _exit(11);
        if (fcntl(r, F_SETLEASE, F_RDLCK) != -1 || errno != EACCES)
            _exit(12);
        if (fcntl(r, F_SETLEASE, F_UNLCK) != -1 || errno != EACCES)
            _exit(13);
        if (fcntl(r, F_GETLEASE) != F_UNLCK)
            _exit(14);
        _exit(0);
    }
    st = child_status(child);
    checkf(st == 0, "EACCES for another user's file", "status %ld %ld", st, 0);
}

/* A write lease broken by an open for writing: EWOULDBLOCK for
 * O_NONBLOCK, else a wait until the holder unlocks. */
static void break_by_writer(void)
{
    int fd = open("f", O_RDONLY);
    ok(fcntl(fd, F_SETSIG, SIGUSR1), "F_SETSIG SIGUSR1");
    ok(fcntl(fd, F_SETLEASE, F_WRLCK), "write lease to break");
    int sync[2];
    pipe(sync);
    pid_t child = fork();
    if (child == 0) {
        close(sync[0]);
        int r = open("f", O_WRONLY | O_NONBLOCK);
        int code = r == -1 && errno == EWOULDBLOCK ? 0 : 20;
        write(sync[1], "a", 1);
        long t0 = now_ms();
        r = open("f", O_WRONLY);
        if (r < 0)
            code = 21;
        else if (now_ms() - t0 > 5000)
            code = 22;
        _exit(code);
    }
    close(sync[1]);
    siginfo_t info;
    memset(&info, 0, sizeof info);
    int sig = wait_signal(SIGUSR1, 5000, &info);
    checkf(sig == SIGUSR1, "the holder gets its signal", "%ld %ld", sig, SIGUSR1);
    checkf(info.si_code == POLL_MSG, "si_code POLL_MSG", "%ld %ld", info.si_code, POLL_MSG);
    checkf(info.si_fd == fd, "si_fd is the lease's descriptor", "%ld %ld", info.si_fd, fd);
    checkf(info.si_band == 0x441, "si_band POLLIN|POLLRDNORM|POLLMSG", "%#lx %#lx",
           info.si_band, 0x441);
    char c;
    read(sync[0], &c, 1);
    close(sync[0]);
    checkf(fcntl(fd, F_GETLEASE) == F_UNLCK, "F_GETLEASE shows the break", "%ld %ld",
           fcntl(fd, F_GETLEASE), F_UNLCK);
    check(wait_sleeping(child), "the breaker waits");
    err(fcntl(fd, F_SETLEASE, F_RDLCK), EAGAIN, "no downgrade while a writer waits");
    ok(fcntl(fd, F_SETLEASE, F_UNLCK), "the holder lets go");
    st = child_status(child);
    checkf(st == 0, "the breaker's opens", "status %ld %ld", st, 0);
    checkf(fcntl(fd, F_GETSIG) == 0, "unlock resets F_SETSIG", "%ld %ld",
           fcntl(fd, F_GETSIG), 0);
    close(fd);
}

/* A write lease broken by a reader: the holder downgrades; a plain
 * SIGIO without F_SETSIG. */
static void break_by_reader(void)
{
    int fd = open("f", O_RDONLY);
    ok(fcntl(fd, F_SETLEASE, F_WRLCK), "write lease for a reader to break");
    pid_t child = fork();
    if (child == 0) {
        int r = open("f", O_RDONLY);
        _exit(r < 0 ? 30 : 0);
    }
    siginfo_t info;
    memset(&info, 0, sizeof info);
    int sig = wait_signal(SIGIO, 5000, &info);
    checkf(sig == SIGIO, "the holder gets SIGIO", "%ld %ld", sig, SIGIO);
    checkf(info.si_code == SI_KERNEL, "plain SIGIO: si_code SI_KERNEL", "%ld %ld",
           info.si_code, SI_KERNEL);
    checkf(fcntl(fd, F_GETLEASE) == F_RDLCK, "F_GETLEASE shows the downgrade", "%ld %ld",
           fcntl(fd, F_GETLEASE), F_RDLCK);
    ok(fcntl(fd, F_SETLEASE, F_RDLCK), "the holder downgrades");
    st = child_status(child);
    checkf(st == 0, "the reader's open", "status %ld %ld", st, 0);
    checkf(fcntl(fd, F_GETLEASE) == F_RDLCK, "a read lease stays", "%ld %ld",
           fcntl(fd, F_GETLEASE), F_RDLCK);
    /* Readers do not break a read lease. */
    int r = open("f", O_RDONLY | O_NONBLOCK);
    ok(r, "a reader does not break a read lease");
    close(r);
    ok(fcntl(fd, F_SETLEASE, F_UNLCK), "unlock the read lease");
    close(fd);
}

/* truncate(2) breaks a read lease. */
static void break_by_truncate(void)
{
    int fd = open("f", O_RDONLY);
    ok(fcntl(fd, F_SETLEASE, F_RDLCK), "read lease for truncate to break");
    pid_t child = fork();
    if (child == 0)
        _exit(truncate("f", 0) == 0 ? 0 : 40);
    siginfo_t info;
    int sig = wait_signal(SIGIO, 5000, &info);
    checkf(sig == SIGIO, "truncate signals the holder", "%ld %ld", sig, SIGIO);
    check(wait_sleeping(child), "truncate waits");
    ok(fcntl(fd, F_SETLEASE, F_UNLCK), "the holder lets go of its read lease");
    st = child_status(child);
    checkf(st == 0, "truncate goes on", "status %ld %ld", st, 0);
    close(fd);
}

static void owners(void)
{
    int p[2];
    pipe(p);
    struct owner_ex ex = {-1, -1};
    ok(fcntl(p[0], F_GETOWN_EX, &ex), "F_GETOWN_EX");
    checkf(ex.type == F_OWNER_TID && ex.pid == 0, "no owner at first", "type %ld pid %ld",
           ex.type, ex.pid);
    checkf(syscall(SYS_fcntl, p[0], F_GETOWN) == 0, "F_GETOWN 0", "%ld %ld",
           syscall(SYS_fcntl, p[0], F_GETOWN), 0);
    checkf(fcntl(p[0], F_GETSIG) == 0, "F_GETSIG 0", "%ld %ld", fcntl(p[0], F_GETSIG), 0);

    ok(fcntl(p[0], F_SETOWN, getpid()), "F_SETOWN pid");
    checkf(syscall(SYS_fcntl, p[0], F_GETOWN) == getpid(), "F_GETOWN pid", "%ld %ld",
           syscall(SYS_fcntl, p[0], F_GETOWN), getpid());
    fcntl(p[0], F_GETOWN_EX, &ex);
    checkf(ex.type == F_OWNER_PID && ex.pid == getpid(), "F_GETOWN_EX pid", "type %ld pid %ld",
           ex.type, ex.pid);
    ok(fcntl(p[0], F_SETOWN, -getpgrp()), "F_SETOWN -pgrp");
    checkf(fcntl(p[0], F_GETOWN) == -getpgrp(), "F_GETOWN -pgrp", "%ld %ld",
           fcntl(p[0], F_GETOWN), -getpgrp());
    fcntl(p[0], F_GETOWN_EX, &ex);
    checkf(ex.type == F_OWNER_PGRP && ex.pid == getpgrp(), "F_GETOWN_EX pgrp",
           "type %ld pid %ld", ex.type, ex.pid);
    struct owner_ex tid = {F_OWNER_TID, (int)syscall(SYS_gettid)};
    ok(fcntl(p[0], F_SETOWN_EX, &tid), "F_SETOWN_EX tid");
    fcntl(p[0], F_GETOWN_EX, &ex);
    checkf(ex.type == F_OWNER_TID && ex.pid == tid.pid, "F_GETOWN_EX tid", "type %ld pid %ld",
           ex.type, ex.pid);
    struct owner_ex bad = {5, getpid()};
    err(fcntl(p[0], F_SETOWN_EX, &bad), EINVAL, "F_SETOWN_EX type 5");
    struct owner_ex gone = {F_OWNER_PID, 0x3ffffff0};
    err(fcntl(p[0], F_SETOWN_EX, &gone), ESRCH, "F_SETOWN_EX of nobody");
    err(fcntl(p[0], F_SETOWN, 0x3ffffff0), ESRCH, "F_SETOWN of nobody");
    err(fcntl(p[0], F_SETOWN_EX, (void *)8), EFAULT, "F_SETOWN_EX bad pointer");
    err(fcntl(p[0], F_SETSIG, 65), EINVAL, "F_SETSIG 65");
    err(fcntl(p[0], F_SETSIG, -1), EINVAL, "F_SETSIG -1");
    struct owner_ex none = {F_OWNER_PID, 0};
    ok(fcntl(p[0], F_SETOWN_EX, &none), "F_SETOWN_EX nobody");
    fcntl(p[0], F_GETOWN_EX, &ex);
    checkf(ex.type == F_OWNER_PID && ex.pid == 0, "F_GETOWN_EX nobody", "type %ld pid %ld",
           ex.type, ex.pid);

    /* O_ASYNC: a write to the pipe signals its read end's owner. */
    ok(fcntl(p[0], F_SETFL, O_ASYNC | O_NONBLOCK), "F_SETFL O_ASYNC");
    checkf((fcntl(p[0], F_GETFL) & O_ASYNC) != 0, "F_GETFL shows O_ASYNC", "%#lx %#lx",
           fcntl(p[0], F_GETFL), O_ASYNC);
    ok(fcntl(p[0], F_SETOWN, getpid()), "owner for O_ASYNC");
    ok(fcntl(p[0], F_SETSIG, SIGUSR2), "F_SETSIG SIGUSR2");
    write(p[1], "x", 1);
    siginfo_t info;
    memset(&info, 0, sizeof info);
    int sig = wait_signal(SIGUSR2, 2000, &info);
    checkf(sig == SIGUSR2, "a write signals the owner", "%ld %ld", sig, SIGUSR2);
    checkf(info.si_code == POLL_IN, "si_code POLL_IN", "%ld %ld", info.si_code, POLL_IN);
    checkf(info.si_fd == p[0], "si_fd", "%ld %ld", info.si_fd, p[0]);
    checkf(info.si_band == 0x41, "si_band POLLIN|POLLRDNORM", "%#lx %#lx", info.si_band, 0x41);
    /* Another process's write, with the plain SIGIO. */
    ok(fcntl(p[0], F_SETSIG, 0), "F_SETSIG 0");
    pid_t child = fork();
    if (child == 0) {
        write(p[1], "y", 1);
        _exit(0);
    }
    sig = wait_signal(SIGIO, 2000, &info);
    checkf(sig == SIGIO, "another process's write sends SIGIO", "%ld %ld", sig, SIGIO);
    child_status(child);
    /* Without O_ASYNC, no signal. */
    ok(fcntl(p[0], F_SETFL, O_NONBLOCK), "F_SETFL without O_ASYNC");
    write(p[1], "z", 1);
    err(wait_signal(SIGIO, 100, &info), EAGAIN, "no signal without O_ASYNC");
    close(p[0]);
    close(p[1]);
}

/* F_SETLKW that would wait for a process waiting for us: EDEADLK. */
static void deadlock(void)
{
    int fd = open("f", O_RDWR);
    ftruncate(fd, 16);
    struct flock first = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
    ok(fcntl(fd, F_SETLK, &first), "lock byte 0");
    int sync[2];
    pipe(sync);
    pid_t child = fork();
    if (child == 0) {
        close(sync[0]);
        struct flock second = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 1, .l_len = 1};
        if (fcntl(fd, F_SETLK, &second) < 0)
            _exit(50);
        write(sync[1], "a", 1);
        /* Waits for the parent's byte 0. */
        if (fcntl(fd, F_SETLKW, &first) < 0)
            _exit(51);
        _exit(0);
    }
    close(sync[1]);
    char c;
    read(sync[0], &c, 1);
    close(sync[0]);
    check(wait_sleeping(child), "the child waits for byte 0");
    struct flock second = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 1, .l_len = 1};
    err(fcntl(fd, F_SETLK, &second), EAGAIN, "F_SETLK on the child's byte");
    err(fcntl(fd, F_SETLKW, &second), EDEADLK, "F_SETLKW closing the cycle");
    /* Another range the child does not wait for: no cycle, no wait. */
    struct flock third = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 2, .l_len = 1};
    ok(fcntl(fd, F_SETLKW, &third), "F_SETLKW on a free byte");
    struct flock unlock = {.l_type = F_UNLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    ok(fcntl(fd, F_SETLK, &unlock), "unlock: the child goes on");
    st = child_status(child);
    checkf(st == 0, "the child's locks", "status %ld %ld", st, 0);
    close(fd);
}

/* Sandbox only: the break time passes and the lease goes. */
static void break_time(void)
{
    int t = open("/proc/sys/fs/lease-break-time", O_RDWR);
    char old[32] = {0};
    read(t, old, sizeof old - 1);
    checkf(atoi(old) == 45, "lease-break-time is 45", "%ld %ld", atoi(old), 45);
    lseek(t, 0, SEEK_SET);
    ok(write(t, "1\n", 2), "lease-break-time set to 1");
    int fd = open("f", O_RDONLY);
    ok(fcntl(fd, F_SETLEASE, F_WRLCK), "a lease nobody lets go");
    long t0 = now_ms();
    pid_t child = fork();
    if (child == 0)
        _exit(open("f", O_WRONLY) < 0 ? 60 : 0);
    siginfo_t info;
    wait_signal(SIGIO, 5000, &info);
    st = child_status(child);
    checkf(st == 0, "the breaker gets in", "status %ld %ld", st, 0);
    long waited = now_ms() - t0;
    checkf(waited >= 900 && waited < 4000, "after the break time", "%ld ms %ld", waited, 0);
    checkf(fcntl(fd, F_GETLEASE) == F_UNLCK, "the lease is gone", "%ld %ld",
           fcntl(fd, F_GETLEASE), F_UNLCK);
    checkf(fcntl(fd, F_GETOWN) == 0, "and the owner", "%ld %ld", fcntl(fd, F_GETOWN), 0);
    err(fcntl(fd, F_SETLEASE, F_UNLCK), EAGAIN, "nothing to unlock");
    lseek(t, 0, SEEK_SET);
    write(t, old, strlen(old));
    close(t);
    close(fd);
}

int main(int argc, char **argv)
{
    if (argc < 2 || chdir(argv[1]) < 0) {
        printf("usage: leases DIR [timeout]\n");
        return 1;
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    unlink("f");
    int fd = open("f", O_RDWR | O_CREAT, 0644);
    write(fd, "0123456789", 10);
    close(fd);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGIO);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    sigprocmask(SIG_BLOCK, &set, NULL);

    if (argc > 2 && strcmp(argv[2], "timeout") == 0) {
        break_time();
    } else {
        lease_rules();
        break_by_writer();
        break_by_reader();
        break_by_truncate();
        owners();
        deadlock();
    }
    unlink("f");
    return finish();
}
