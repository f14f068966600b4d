/* kcmp(2): open files, address spaces, descriptor tables, fs contexts and
 * signal handlers compared between the caller, a thread and a forked
 * child; KCMP_EPOLL_TFD; the order's antisymmetry; the errors (ESRCH,
 * EINVAL, EBADF, ENOENT, EPERM for another user's process). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "abi_check.h"

/* <linux/kcmp.h> (musl-gcc has no kernel headers). */
#define KCMP_FILE 0
#define KCMP_VM 1
#define KCMP_FILES 2
#define KCMP_FS 3
#define KCMP_SIGHAND 4
#define KCMP_IO 5
#define KCMP_SYSVSEM 6
#define KCMP_EPOLL_TFD 7
#define KCMP_TYPES 8

struct kcmp_epoll_slot {
    uint32_t efd, tfd, toff;
};

static long kcmp(pid_t a, pid_t b, int type, unsigned long x, unsigned long y)
{
    return syscall(SYS_kcmp, a, b, type, x, y);
}

static pid_t main_pid;
static long thread_results[4];

static void *thread_main(void *arg)
{
    (void)arg;
    pid_t tid = syscall(SYS_gettid);
    thread_results[0] = kcmp(main_pid, tid, KCMP_VM, 0, 0);
    thread_results[1] = kcmp(main_pid, tid, KCMP_FILES, 0, 0);
    thread_results[2] = kcmp(main_pid, tid, KCMP_FS, 0, 0);
    thread_results[3] = kcmp(main_pid, tid, KCMP_SIGHAND, 0, 0);
    return 0;
}

/* A child made by clone with CLONE_FS | CLONE_SYSVSEM shares both. */
static int shared_child(void *arg)
{
    (void)arg;
    pid_t me = getpid();
    int bad = 0;
    if (kcmp(main_pid, me, KCMP_FS, 0, 0) != 0)
        bad |= 1;
    if (kcmp(main_pid, me, KCMP_SYSVSEM, 0, 0) != 0)
        bad |= 2;
    if (kcmp(main_pid, me, KCMP_VM, 0, 0) == 0)
        bad |= 4;
    if (kcmp(main_pid, me, KCMP_FILES, 0, 0) == 0)
        bad |= 8;
    return bad;
}

static char clone_stack[64 * 1024] __attribute__((aligned(16)));

int main(void)
{
    pid_t me = getpid();
    main_pid = me;
    int fd1 = ok(open("/proc/self/exe", O_RDONLY), "open");
    int fd2 = ok(dup(fd1), "dup");
    int fd3 = ok(open("/proc/self/exe", O_RDONLY), "open again");

    long r = kcmp(me, me, KCMP_FILE, fd1, fd2);
    checkf(r == 0, "a dup is the same open file", "r=%ld%.0ld", r, 0);
    long ab = kcmp(me, me, KCMP_FILE, fd1, fd3);
    long ba = kcmp(me, me, KCMP_FILE, fd3, fd1);
    checkf((ab == 1 && ba == 2) || (ab == 2 && ba == 1), "two opens differ, ordered both ways",
           "ab=%ld ba=%ld", ab, ba);
    r = kcmp(me, me, KCMP_VM, 0, 0);
    checkf(r == 0, "own address space", "r=%ld%.0ld", r, 0);
    r = kcmp(me, me, KCMP_IO, 0, 0);
    checkf(r == 0, "own io context", "r=%ld%.0ld", r, 0);

    err(kcmp(me, me, KCMP_FILE, fd1, 999), EBADF, "bad second fd");
    err(kcmp(me, me, KCMP_FILE, 999, fd1), EBADF, "bad first fd");
    err(kcmp(me, me, KCMP_TYPES, 0, 0), EINVAL, "type KCMP_TYPES");
    err(kcmp(me, me, -1, 0, 0), EINVAL, "type -1");

    /* A reaped child's pid names nothing. */
    pid_t gone = fork();
    if (gone == 0)
        _exit(0);
    waitpid(gone, 0, 0);
    err(kcmp(me, gone, KCMP_VM, 0, 0), ESRCH, "reaped pid");
    err(kcmp(gone, me, KCMP_VM, 0, 0), ESRCH, "reaped pid first");

    /* A thread shares everything kcmp looks at. */
    pthread_t t;
    pthread_create(&t, 0, thread_main, 0);
    pthread_join(t, 0);
    check(thread_results[0] == 0, "thread: same VM");
    check(thread_results[1] == 0, "thread: same FILES");
    check(thread_results[2] == 0, "thread: same FS");
    check(thread_results[3] == 0, "thread: same SIGHAND");

    /* A forked child: inherited descriptors name the same open files;
     * everything else is its own. */
    int go[2];
    pipe(go);
    pid_t child = fork();
    if (child == 0) {
        char c;
        read(go[0], &c, 1);
        _exit(0);
    }
    r = kcmp(me, child, KCMP_FILE, fd1, fd1);
    checkf(r == 0, "child: inherited fd, same file", "r=%ld%.0ld", r, 0);
    r = kcmp(me, child, KCMP_FILE, fd1, fd3);
    checkf(r == 1 || r == 2, "child: other fd, other file", "r=%ld%.0ld", r, 0);
    ab = kcmp(me, child, KCMP_VM, 0, 0);
    ba = kcmp(child, me, KCMP_VM, 0, 0);
    checkf((ab == 1 && ba == 2) || (ab == 2 && ba == 1), "child: own VM, ordered both ways",
           "ab=%ld ba=%ld", ab, ba);
    r = kcmp(me, child, KCMP_FILES, 0, 0);
    checkf(r == 1 || r == 2, "child: own FILES", "r=%ld%.0ld", r, 0);
    r = kcmp(me, child, KCMP_FS, 0, 0);
    checkf(r == 1 || r == 2, "child: own FS", "r=%ld%.0ld", r, 0);
    r = kcmp(me, child, KCMP_SIGHAND, 0, 0);
    checkf(r == 1 || r == 2, "child: own SIGHAND", "r=%ld%.0ld", r, 0);
    /* pthread_create's CLONE_SYSVSEM gave this process an undo list; a
     * fork has none. */
    r = kcmp(me, child, KCMP_SYSVSEM, 0, 0);
    checkf(r == 1 || r == 2, "child: own semaphore undo list", "r=%ld%.0ld", r, 0);
    err(kcmp(me, child, KCMP_FILE, fd1, 999), EBADF, "child: bad fd");
    write(go[1], "x", 1);
    waitpid(child, 0, 0);

    pid_t sharer = clone(shared_child, clone_stack + sizeof clone_stack,
                         CLONE_FS | CLONE_SYSVSEM | SIGCHLD, 0);
    int sharer_status = -1;
    waitpid(sharer, &sharer_status, 0);
    checkf(WIFEXITED(sharer_status) && WEXITSTATUS(sharer_status) == 0,
           "clone(CLONE_FS | CLONE_SYSVSEM) shares FS and SYSVSEM only", "status=%ld%.0ld",
           sharer_status, 0);

    /* KCMP_EPOLL_TFD: the file registered in an epoll instance. */
    int p[2];
    ok(pipe(p), "pipe");
    int pdup = ok(dup(p[0]), "dup read end");
    int ep = ok(epoll_create1(0), "epoll_create1");
    struct epoll_event ev = {.events = EPOLLIN};
    ok(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev), "epoll add");
    struct kcmp_epoll_slot slot = {ep, p[0], 0};
    r = kcmp(me, me, KCMP_EPOLL_TFD, pdup, (unsigned long)&slot);
    checkf(r == 0, "epoll target is the file", "r=%ld%.0ld", r, 0);
    r = kcmp(me, me, KCMP_EPOLL_TFD, p[1], (unsigned long)&slot);
    checkf(r == 1 || r == 2, "epoll target is not the other file", "r=%ld%.0ld", r, 0);
    slot.toff = 1;
    err(kcmp(me, me, KCMP_EPOLL_TFD, pdup, (unsigned long)&slot), ENOENT, "epoll toff 1");
    slot.toff = 0;
    slot.tfd = p[1];
    err(kcmp(me, me, KCMP_EPOLL_TFD, pdup, (unsigned long)&slot), ENOENT, "epoll unregistered");
    slot.efd = fd1;
    err(kcmp(me, me, KCMP_EPOLL_TFD, pdup, (unsigned long)&slot), EINVAL, "epoll: not an epoll");
    slot.efd = 999;
    err(kcmp(me, me, KCMP_EPOLL_TFD, pdup, (unsigned long)&slot), EBADF, "epoll: bad efd");
    err(kcmp(me, me, KCMP_EPOLL_TFD, 999, (unsigned long)&slot), EBADF, "epoll: bad fd");
    err(kcmp(me, me, KCMP_EPOLL_TFD, pdup, 8), EFAULT, "epoll: bad slot");

    /* Another user's process may not be inspected. */
    if (getuid() == 0) {
        pid_t other = fork();
        if (other == 0) {
            if (setuid(65534) != 0)
                _exit(3);
            long v = kcmp(getppid(), getpid(), KCMP_VM, 0, 0);
            _exit(v == -1 && errno == EPERM ? 0 : 4);
        }
        int status;
        waitpid(other, &status, 0);
        checkf(WIFEXITED(status) && WEXITSTATUS(status) == 0, "EPERM for another user's process",
               "status=%ld%.0ld", status, 0);
    } else {
        printf("EPERM for another user's process: ok\n");
    }
    return finish();
}
