/* chroot(2): absolute paths, "..", absolute symlinks and getcwd within the
 * new root, the root shared by threads and inherited by children, and the
 * errors (ENOTDIR, ENOENT, ELOOP, EACCES before EPERM for an unprivileged
 * caller). fcntl F_GETPIPE_SZ / F_SETPIPE_SZ: rounding, the capacity
 * really changing (short writes, EAGAIN, poll), EBUSY, EINVAL, EBADF, EPERM
 * above /proc/sys/fs/pipe-max-size without CAP_SYS_RESOURCE.
 * argv[1]: an empty work directory. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "abi_check.h"

#ifndef F_SETPIPE_SZ
#define F_SETPIPE_SZ 1031
#define F_GETPIPE_SZ 1032
#endif

static char work[4096];

static int run_child(void (*body)(void))
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
    return WIFEXITED(status) ? WEXITSTATUS(status) : 100;
}

static void *thread_chroot(void *arg)
{
    (void)arg;
    char path[4200];
    snprintf(path, sizeof path, "%s/jail", work);
    return (void *)(long)chroot(path);
}

static void jailed(void)
{
    struct stat st;
    char cwd[4096];
    char path[4200];
    snprintf(path, sizeof path, "%s/jail", work);
    ok(chroot(path), "chroot");
    /* The working directory is left outside the new root. */
    /* The raw call: libc's getcwd makes "(unreachable)" ENOENT. */
    long n = syscall(SYS_getcwd, cwd, sizeof cwd);
    check(n > 13 && strncmp(cwd, "(unreachable)/", 14) == 0, "getcwd outside the root");
    ok(stat("/inside", &st), "stat /inside");
    err(stat("/jail", &st), ENOENT, "stat /jail");
    ok(stat("/../../../inside", &st), "\"..\" stops at the root");
    ok(chdir("/sub/deeper"), "chdir /sub/deeper");
    getcwd(cwd, sizeof cwd);
    checkf(strcmp(cwd, "/sub/deeper") == 0, "getcwd in the root", "%s%.0ld", (long)cwd, 0);
    ok(chdir("../../../.."), "chdir ../../../..");
    getcwd(cwd, sizeof cwd);
    checkf(strcmp(cwd, "/") == 0, "getcwd at the root", "%s%.0ld", (long)cwd, 0);
    ok(symlink("/inside", "/sub/link"), "symlink /inside");
    ok(stat("/sub/link", &st), "an absolute symlink resolves in the root");
    int fd = open("/sub/link", O_RDONLY);
    ok(fd, "open through the symlink");
    char buf[16] = {0};
    read(fd, buf, sizeof buf - 1);
    check(strcmp(buf, "jailed\n") == 0, "the file inside the root");
    /* Children inherit the root. */
    pid_t pid = fork();
    if (pid == 0)
        _exit(stat("/inside", &st) == 0 ? 0 : 1);
    int status;
    waitpid(pid, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "a child keeps the root");
    /* Nested: a chroot relative to the current root. */
    ok(chroot("/sub"), "chroot /sub");
    ok(stat("/deeper", &st), "stat /deeper in the nested root");
    err(stat("/inside", &st), ENOENT, "stat /inside from the nested root");
}

static void threaded(void)
{
    /* A thread shares the fs context: its chroot is the process's. */
    struct stat st;
    pthread_t t;
    void *r;
    pthread_create(&t, 0, thread_chroot, 0);
    pthread_join(t, &r);
    check(r == 0, "chroot in a thread");
    ok(stat("/inside", &st), "the other thread sees the new root");
}

static void unprivileged(void)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/jail", work);
    if (setuid(65534) != 0) {
        printf("setuid: FAIL\n");
        failures++;
        return;
    }
    err(chroot(path), EPERM, "chroot without CAP_SYS_CHROOT");
    snprintf(path, sizeof path, "%s/closed", work);
    err(chroot(path), EACCES, "chroot without search permission");
    /* Growing a pipe past pipe-max-size needs CAP_SYS_RESOURCE. */
    int p[2];
    pipe(p);
    err(fcntl(p[1], F_SETPIPE_SZ, 2 << 20), EPERM, "pipe size over pipe-max-size");
    long r = fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
    checkf(r == 1 << 20, "pipe size at pipe-max-size", "r=%ld%.0ld", r, 0);
}

static void chroot_checks(void)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/jail", work);
    ok(mkdir(path, 0755), "mkdir jail");
    snprintf(path, sizeof path, "%s/jail/sub", work);
    ok(mkdir(path, 0755), "mkdir jail/sub");
    snprintf(path, sizeof path, "%s/jail/sub/deeper", work);
    ok(mkdir(path, 0755), "mkdir jail/sub/deeper");
    snprintf(path, sizeof path, "%s/jail/inside", work);
    FILE *f = fopen(path, "w");
    fputs("jailed\n", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/closed", work);
    ok(mkdir(path, 0700), "mkdir closed");
    chmod(path, 0700);

    err(chroot(path + strlen(path)), ENOENT, "chroot \"\"");
    snprintf(path, sizeof path, "%s/jail/inside", work);
    err(chroot(path), ENOTDIR, "chroot a file");
    snprintf(path, sizeof path, "%s/missing", work);
    err(chroot(path), ENOENT, "chroot a missing directory");
    snprintf(path, sizeof path, "%s/loop", work);
    symlink("loop", path);
    err(chroot(path), ELOOP, "chroot a symlink loop");
    err(chroot((char *)8), EFAULT, "chroot a bad pointer");

    check(run_child(jailed) == 0, "jailed child");
    check(run_child(threaded) == 0, "threaded child");
    check(run_child(unprivileged) == 0, "unprivileged child");
    struct stat st;
    err(stat("/inside", &st), ENOENT, "the parent's root is unchanged");
}

static void pipe_checks(void)
{
    int p[2];
    ok(pipe(p), "pipe");
    long r = fcntl(p[0], F_GETPIPE_SZ);
    checkf(r == 65536, "default size", "r=%ld%.0ld", r, 0);
    r = fcntl(p[1], F_SETPIPE_SZ, 0);
    checkf(r == 4096, "size 0 is a page", "r=%ld%.0ld", r, 0);
    r = fcntl(p[0], F_GETPIPE_SZ);
    checkf(r == 4096, "both ends see it", "r=%ld%.0ld", r, 0);
    r = fcntl(p[1], F_SETPIPE_SZ, 5000);
    checkf(r == 8192, "rounded to a power of two pages", "r=%ld%.0ld", r, 0);
    err(fcntl(p[1], F_SETPIPE_SZ, (1u << 31) + 1), EINVAL, "above 2^31");
    int file = open("/proc/self/exe", O_RDONLY);
    err(fcntl(file, F_GETPIPE_SZ), EBADF, "F_GETPIPE_SZ on a file");
    err(fcntl(file, F_SETPIPE_SZ, 4096), EBADF, "F_SETPIPE_SZ on a file");
    close(file);

    /* The capacity is real: writes stop there. */
    fcntl(p[1], F_SETFL, O_NONBLOCK);
    static char buf[128 * 1024];
    memset(buf, 'x', sizeof buf);
    r = write(p[1], buf, sizeof buf);
    checkf(r == 8192, "a write fills the new capacity", "r=%ld%.0ld", r, 0);
    err(write(p[1], buf, 1), EAGAIN, "then the pipe is full");
    struct pollfd pf = {.fd = p[1], .events = POLLOUT};
    r = poll(&pf, 1, 0);
    checkf(r == 0, "poll: not writable", "r=%ld%.0ld", r, 0);
    err(fcntl(p[1], F_SETPIPE_SZ, 4096), EBUSY, "shrinking below the data");
    r = fcntl(p[1], F_SETPIPE_SZ, 16384);
    checkf(r == 16384, "growing a full pipe", "r=%ld%.0ld", r, 0);
    r = poll(&pf, 1, 0);
    checkf(r == 1 && pf.revents == POLLOUT, "poll: writable again", "r=%ld revents=%ld", r,
           pf.revents);
    r = write(p[1], buf, sizeof buf);
    checkf(r == 8192, "the write takes the new room", "r=%ld%.0ld", r, 0);
    r = read(p[0], buf, sizeof buf);
    checkf(r == 16384, "everything reads back", "r=%ld%.0ld", r, 0);
    r = fcntl(p[1], F_SETPIPE_SZ, 4096);
    checkf(r == 4096, "shrinking an empty pipe", "r=%ld%.0ld", r, 0);
    /* Room comes back a page at a time: half a page read is no room. */
    r = write(p[1], buf, sizeof buf);
    checkf(r == 4096, "a one-page pipe takes a page", "r=%ld%.0ld", r, 0);
    r = read(p[0], buf, 2048);
    checkf(r == 2048, "half of it read", "r=%ld%.0ld", r, 0);
    r = poll(&pf, 1, 0);
    checkf(r == 0, "poll: a partly read page is still full", "r=%ld%.0ld", r, 0);
    err(write(p[1], buf, 1), EAGAIN, "no room in a partly read page");
    r = read(p[0], buf, sizeof buf);
    checkf(r == 2048, "the rest read", "r=%ld%.0ld", r, 0);
    r = poll(&pf, 1, 0);
    checkf(r == 1, "poll: writable once the page is read", "r=%ld%.0ld", r, 0);

    /* A FIFO too. */
    char path[4200];
    snprintf(path, sizeof path, "%s/fifo", work);
    ok(mkfifo(path, 0600), "mkfifo");
    int fifo = open(path, O_RDWR);
    r = fcntl(fifo, F_SETPIPE_SZ, 100000);
    checkf(r == 131072, "a FIFO's size", "r=%ld%.0ld", r, 0);
    r = fcntl(fifo, F_GETPIPE_SZ);
    checkf(r == 131072, "a FIFO's size read back", "r=%ld%.0ld", r, 0);

    FILE *f = fopen("/proc/sys/fs/pipe-max-size", "r");
    long max = 0;
    check(f && fscanf(f, "%ld", &max) == 1 && max == 1048576, "pipe-max-size");
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    snprintf(work, sizeof work, "%s", argv[1]);
    mkdir(work, 0755);
    pipe_checks();
    chroot_checks();
    return finish();
}
