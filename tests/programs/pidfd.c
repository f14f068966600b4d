/* pidfds: pidfd_open, pidfd_send_signal, pidfd_getfd, waitid(P_PIDFD),
 * poll on a pidfd, PIDFD_NONBLOCK, CLONE_PIDFD through clone and clone3,
 * and their errors. Compared with the host's run. */
#define _GNU_SOURCE
#include <sched.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x1000
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#define PIDFD_NONBLOCK O_NONBLOCK

static int failures;

static void check(int ok, const char *what)
{
    printf("%s: %s\n", what, ok ? "ok" : "FAILED");
    if (!ok)
        failures++;
}

static int pidfd_open(pid_t pid, unsigned flags)
{
    return syscall(SYS_pidfd_open, pid, flags);
}

static int pidfd_send_signal(int fd, int sig, siginfo_t *info, unsigned flags)
{
    return syscall(SYS_pidfd_send_signal, fd, sig, info, flags);
}

static int pidfd_getfd(int fd, int target, unsigned flags)
{
    return syscall(SYS_pidfd_getfd, fd, target, flags);
}

static int readable(int fd, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int n = poll(&p, 1, timeout_ms);
    return n == 1 && (p.revents & POLLIN);
}

static pid_t sleeper(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        for (;;)
            pause();
    }
    return pid;
}

static volatile sig_atomic_t got_value = -1, got_code = 0;

static void on_usr1(int sig, siginfo_t *info, void *ctx)
{
    (void)sig;
    (void)ctx;
    got_value = info->si_value.sival_int;
    got_code = info->si_code;
}

static void test_open(void)
{
    int fd = pidfd_open(getpid(), 0);
    check(fd >= 0, "pidfd_open(self)");
    check((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0, "pidfd is close-on-exec");
    char path[64], link[64] = "";
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, link, sizeof link - 1);
    if (n > 0)
        link[n] = 0;
    printf("readlink: %s\n", link);
    check(!readable(fd, 0), "a live process's pidfd is not readable");
    char byte;
    check(read(fd, &byte, 1) == -1 && errno == EINVAL, "read(pidfd): EINVAL");
    close(fd);
    check(pidfd_open(0, 0) == -1 && errno == EINVAL, "pidfd_open(0): EINVAL");
    check(pidfd_open(-1, 0) == -1 && errno == EINVAL, "pidfd_open(-1): EINVAL");
    check(pidfd_open(getpid(), 1) == -1 && errno == EINVAL, "pidfd_open bad flags: EINVAL");
    check(pidfd_open(4000000, 0) == -1 && errno == ESRCH, "pidfd_open(no such pid): ESRCH");
}

static void test_signal_and_wait(void)
{
    pid_t child = sleeper();
    int fd = pidfd_open(child, 0);
    check(fd >= 0, "pidfd_open(child)");
    check(pidfd_send_signal(fd, 0, NULL, 0) == 0, "signal 0 to a live child");
    check(pidfd_send_signal(fd, SIGTERM, NULL, 0x100) == -1 && errno == EINVAL,
          "pidfd_send_signal unknown flags: EINVAL");
    check(pidfd_send_signal(fd, SIGTERM, NULL, 0) == 0, "SIGTERM through the pidfd");
    check(readable(fd, 10000), "the pidfd becomes readable when the child ends");
    siginfo_t info;
    memset(&info, 0, sizeof info);
    check(waitid(P_PIDFD, fd, &info, WEXITED) == 0, "waitid(P_PIDFD)");
    check(info.si_pid == child, "waitid reports the child");
    printf("waitid: si_code=%d si_status=%d\n", info.si_code, info.si_status);
    check(pidfd_send_signal(fd, SIGTERM, NULL, 0) == -1 && errno == ESRCH,
          "signal after the child was reaped: ESRCH");
    check(waitid(P_PIDFD, fd, &info, WEXITED) == -1 && errno == ECHILD,
          "waitid again: ECHILD");
    close(fd);

    int pipefd[2];
    pipe(pipefd);
    check(pidfd_send_signal(pipefd[0], SIGTERM, NULL, 0) == -1 && errno == EBADF,
          "pidfd_send_signal on a pipe: EBADF");
    check(pidfd_send_signal(999, SIGTERM, NULL, 0) == -1 && errno == EBADF,
          "pidfd_send_signal on a closed fd: EBADF");
    check(waitid(P_PIDFD, pipefd[0], &info, WEXITED) == -1 && errno == EBADF,
          "waitid(P_PIDFD) on a pipe: EBADF");
    close(pipefd[0]);
    close(pipefd[1]);

    /* Not a child: ECHILD. */
    int self = pidfd_open(getpid(), 0);
    check(waitid(P_PIDFD, self, &info, WEXITED | WNOHANG) == -1 && errno == ECHILD,
          "waitid(P_PIDFD) on self: ECHILD");
    close(self);
}

static void test_nonblocking(void)
{
    pid_t child = sleeper();
    int fd = pidfd_open(child, PIDFD_NONBLOCK);
    check(fd >= 0 && (fcntl(fd, F_GETFL) & O_NONBLOCK), "PIDFD_NONBLOCK");
    siginfo_t info;
    check(waitid(P_PIDFD, fd, &info, WEXITED) == -1 && errno == EAGAIN,
          "waitid on a non-blocking pidfd of a live child: EAGAIN");
    memset(&info, 0xff, sizeof info);
    check(waitid(P_PIDFD, fd, &info, WEXITED | WNOHANG) == 0 && info.si_pid == 0,
          "with WNOHANG: 0 and no child");
    kill(child, SIGKILL);
    check(readable(fd, 10000), "readable after SIGKILL");
    memset(&info, 0, sizeof info);
    check(waitid(P_PIDFD, fd, &info, WEXITED) == 0 && info.si_pid == child, "then reaped");
    printf("nonblocking: si_code=%d si_status=%d\n", info.si_code, info.si_status);
    close(fd);
}

static void test_queue_info(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_usr1;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGUSR1, &sa, NULL);
    int fd = pidfd_open(getpid(), 0);
    siginfo_t info;
    memset(&info, 0, sizeof info);
    info.si_signo = SIGUSR1;
    info.si_code = SI_QUEUE;
    info.si_pid = getpid();
    info.si_uid = getuid();
    info.si_value.sival_int = 42;
    check(pidfd_send_signal(fd, SIGUSR1, &info, 0) == 0, "pidfd_send_signal with a siginfo");
    check(got_value == 42 && got_code == SI_QUEUE, "the handler got its value and code");
    info.si_signo = SIGUSR2;
    check(pidfd_send_signal(fd, SIGUSR1, &info, 0) == -1 && errno == EINVAL,
          "siginfo for another signal: EINVAL");
    close(fd);
}

static void test_getfd(void)
{
    int fd = pidfd_open(getpid(), 0);
    int pipefd[2];
    pipe(pipefd);
    int copy = pidfd_getfd(fd, pipefd[1], 0);
    check(copy >= 0 && copy != pipefd[1], "pidfd_getfd");
    check((fcntl(copy, F_GETFD) & FD_CLOEXEC) != 0, "the copy is close-on-exec");
    write(copy, "hi", 2);
    char buf[4] = "";
    check(read(pipefd[0], buf, sizeof buf) == 2 && memcmp(buf, "hi", 2) == 0,
          "the copy is the same open file");
    check(pidfd_getfd(fd, pipefd[1], 1) == -1 && errno == EINVAL, "pidfd_getfd flags: EINVAL");
    check(pidfd_getfd(fd, 999, 0) == -1 && errno == EBADF, "pidfd_getfd closed fd: EBADF");
    check(pidfd_getfd(pipefd[0], 0, 0) == -1 && errno == EBADF, "pidfd_getfd on a pipe: EBADF");

    /* From a child that holds a file of its own. */
    int ready[2];
    pipe(ready);
    pid_t child = fork();
    if (child == 0) {
        int mine = open("/proc/self/status", O_RDONLY);
        dup2(mine, 42);
        write(ready[1], "x", 1);
        for (;;)
            pause();
    }
    char x;
    read(ready[0], &x, 1);
    int cfd = pidfd_open(child, 0);
    int got = pidfd_getfd(cfd, 42, 0);
    char head[5] = "";
    check(got >= 0 && pread(got, head, 4, 0) == 4 && memcmp(head, "Name", 4) == 0,
          "pidfd_getfd from a child");
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    check(pidfd_getfd(cfd, 42, 0) == -1 && errno == ESRCH, "pidfd_getfd after exit: ESRCH");
    close(cfd);
    close(got);
    close(copy);
    close(fd);
}

struct clone_args {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

static void test_clone_pidfd(void)
{
    int pidfd = -1;
    struct clone_args args;
    memset(&args, 0, sizeof args);
    args.flags = CLONE_PIDFD;
    args.pidfd = (uintptr_t)&pidfd;
    args.exit_signal = SIGCHLD;
    long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid == 0)
        _exit(7);
    check(pid > 0 && pidfd >= 0, "clone3(CLONE_PIDFD)");
    check((fcntl(pidfd, F_GETFD) & FD_CLOEXEC) != 0, "its pidfd is close-on-exec");
    check(readable(pidfd, 10000), "readable when the clone3 child exits");
    siginfo_t info;
    memset(&info, 0, sizeof info);
    check(waitid(P_PIDFD, pidfd, &info, WEXITED) == 0 && info.si_pid == pid &&
              info.si_code == CLD_EXITED && info.si_status == 7,
          "waitid(P_PIDFD) gets exit status 7");
    close(pidfd);

    pidfd = -1;
    pid = syscall(SYS_clone, CLONE_PIDFD | SIGCHLD, 0, &pidfd, 0, 0);
    if (pid == 0)
        _exit(9);
    check(pid > 0 && pidfd >= 0, "clone(CLONE_PIDFD) returns the pidfd through parent_tid");
    int status = 0;
    check(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 9,
          "waitpid still works");
    check(readable(pidfd, 0), "the reaped child's pidfd is readable");
    close(pidfd);

    check(syscall(SYS_clone, CLONE_PIDFD | CLONE_PARENT_SETTID | SIGCHLD, 0, &pidfd, 0, 0) == -1 &&
              errno == EINVAL,
          "clone(CLONE_PIDFD | CLONE_PARENT_SETTID): EINVAL");
    check(syscall(SYS_clone, CLONE_PIDFD | CLONE_DETACHED | SIGCHLD, 0, &pidfd, 0, 0) == -1 &&
              errno == EINVAL,
          "clone(CLONE_PIDFD | CLONE_DETACHED): EINVAL");
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    test_open();
    test_signal_and_wait();
    test_nonblocking();
    test_queue_info();
    test_getfd();
    test_clone_pidfd();
    printf("failures=%d\n", failures);
    return failures != 0;
}
