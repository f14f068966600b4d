/* errors: Linux's errno for bad arguments, checked with raw syscalls (so
 * libc cannot intercept them).
 *
 * Usage: errors   (argv[0] must be an existing path, as the tests run it;
 * scratch files go to a fresh mkdtemp directory under /tmp, removed again).
 *
 * Covers EFAULT (bad user pointers on read/write/readv/open/stat/fstat/
 * getcwd/readlink/pipe/poll/getdents64/clock_gettime/gettimeofday/uname/
 * sysinfo/getrlimit/nanosleep/getrandom/mkdir/unlink/rename/chdir), EBADF,
 * ENOENT, EEXIST, ENOTDIR, EISDIR, ENOTEMPTY, EINVAL, ENAMETOOLONG, ESPIPE,
 * ENOTTY, EMFILE, ELOOP, ERANGE, ENOSYS. Prints one line per check and
 * "failures=N"; exits with min(N, 100). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "abi_check.h"

#define S(...) syscall(__VA_ARGS__)

static void *bad_ptrs[3];
static const char *bad_names[3] = {"addr 1", "PROT_NONE page", "kernel address"};

static void test_efault(const char *exe, const char *dir)
{
    printf("-- EFAULT\n");
    char what[128];
    int exefd = open(exe, O_RDONLY);
    int p[2];
    pipe(p);
    write(p[1], "0123456789", 10);
    char path[256];
    snprintf(path, sizeof path, "%s/wfile", dir);
    int wfd = open(path, O_CREAT | O_RDWR, 0644);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    for (int i = 0; i < 3; i++) {
        void *b = bad_ptrs[i];
        const char *n = bad_names[i];
#define EF(call, name)                                          \
    do {                                                        \
        snprintf(what, sizeof what, "%s (%s)", name, n);       \
        err(call, EFAULT, what);                                \
    } while (0)
        EF(S(SYS_read, exefd, b, 16), "read file into bad buffer");
        EF(S(SYS_read, p[0], b, 4), "read pipe into bad buffer");
        EF(S(SYS_pread64, exefd, b, 16, 0), "pread into bad buffer");
        EF(S(SYS_write, wfd, b, 16), "write file from bad buffer");
        EF(S(SYS_write, p[1], b, 4), "write pipe from bad buffer");
        EF(S(SYS_write, 1, b, 4), "write stdout from bad buffer");
        EF(S(SYS_readv, exefd, b, 1), "readv bad iovec array");
        EF(S(SYS_writev, wfd, b, 1), "writev bad iovec array");
        struct iovec iov = {b, 8};
        EF(S(SYS_readv, exefd, &iov, 1), "readv bad iov_base");
        EF(S(SYS_open, b, O_RDONLY), "open bad path");
        EF(S(SYS_openat, AT_FDCWD, b, O_RDONLY), "openat bad path");
        EF(S(SYS_stat, b, (struct stat *)path), "stat bad path");
        EF(S(SYS_stat, exe, b), "stat bad statbuf");
        EF(S(SYS_lstat, exe, b), "lstat bad statbuf");
        EF(S(SYS_fstat, exefd, b), "fstat bad statbuf");
        EF(S(SYS_newfstatat, AT_FDCWD, exe, b, 0), "newfstatat bad statbuf");
        EF(S(SYS_statx, AT_FDCWD, exe, 0, 0x7ff, b), "statx bad buffer");
        EF(S(SYS_getcwd, b, 4096), "getcwd bad buffer");
        EF(S(SYS_readlink, "/proc/self/exe", b, 64), "readlink bad buffer");
        EF(S(SYS_readlink, b, path, 64), "readlink bad path");
        EF(S(SYS_pipe, b), "pipe bad array");
        EF(S(SYS_pipe2, b, 0), "pipe2 bad array");
        EF(S(SYS_poll, b, 1, 0), "poll bad array");
        EF(S(SYS_getdents64, dfd, b, 4096), "getdents64 bad buffer");
        lseek(dfd, 0, SEEK_SET);
        EF(S(SYS_clock_gettime, CLOCK_MONOTONIC, b), "clock_gettime bad timespec");
        EF(S(SYS_clock_getres, CLOCK_MONOTONIC, b), "clock_getres bad timespec");
        EF(S(SYS_gettimeofday, b, NULL), "gettimeofday bad timeval");
        EF(S(SYS_uname, b), "uname bad buffer");
        EF(S(SYS_sysinfo, b), "sysinfo bad buffer");
        EF(S(SYS_getrlimit, RLIMIT_NOFILE, b), "getrlimit bad buffer");
        EF(S(SYS_setrlimit, RLIMIT_NOFILE, b), "setrlimit bad buffer");
        EF(S(SYS_nanosleep, b, NULL), "nanosleep bad request");
        EF(S(SYS_getrandom, b, 16, 0), "getrandom bad buffer");
        EF(S(SYS_mkdir, b, 0755), "mkdir bad path");
        EF(S(SYS_unlink, b), "unlink bad path");
        EF(S(SYS_rename, b, path), "rename bad old path");
        EF(S(SYS_chdir, b), "chdir bad path");
        EF(S(SYS_access, b, F_OK), "access bad path");
        EF(S(SYS_times, b), "times bad buffer");
        EF(S(SYS_getrusage, RUSAGE_SELF, b), "getrusage bad buffer");
        EF(S(SYS_sched_getaffinity, 0, 128, b), "sched_getaffinity bad mask");
        EF(S(SYS_ioctl, p[0], FIONREAD, b), "ioctl FIONREAD bad int");
    }
    /* the process is still healthy and nothing was written */
    struct stat st;
    fstat(wfd, &st);
    checkf(st.st_size == 0, "no bytes written by the failed writes", "size=%ld%ld", (long)st.st_size, 0);
    char buf[16] = {0};
    checkf(read(p[0], buf, 16) == 10 && memcmp(buf, "0123456789", 10) == 0, "pipe content intact after EFAULT reads", "%ld%ld", 0, 0);
    close(exefd);
    close(wfd);
    close(dfd);
    close(p[0]);
    close(p[1]);
    unlink(path);
}

static void test_ebadf(void)
{
    printf("-- EBADF\n");
    char buf[8];
    struct stat st;
    err(S(SYS_read, -1, buf, 1), EBADF, "read fd -1");
    err(S(SYS_read, 1000, buf, 1), EBADF, "read fd 1000");
    err(S(SYS_write, 1000, buf, 1), EBADF, "write fd 1000");
    err(S(SYS_close, 1000), EBADF, "close fd 1000");
    err(S(SYS_fstat, -5, &st), EBADF, "fstat fd -5");
    err(S(SYS_lseek, 1000, 0, SEEK_SET), EBADF, "lseek fd 1000");
    err(S(SYS_dup, 1000), EBADF, "dup fd 1000");
    err(S(SYS_dup2, 1000, 5), EBADF, "dup2 from fd 1000");
    err(S(SYS_fcntl, 1000, F_GETFL), EBADF, "fcntl fd 1000");
    err(S(SYS_getdents64, 1000, buf, 8), EBADF, "getdents64 fd 1000");
    err(S(SYS_fchdir, 1000), EBADF, "fchdir fd 1000");
    err(S(SYS_ftruncate, 1000, 0), EBADF, "ftruncate fd 1000");
    err(S(SYS_fsync, 1000), EBADF, "fsync fd 1000");
    err(S(SYS_openat, 1000, "relative", O_RDONLY), EBADF, "openat dirfd 1000");
    err(S(SYS_newfstatat, 1000, "relative", &st, 0), EBADF, "newfstatat dirfd 1000");
    err(S(SYS_ioctl, 1000, FIONREAD, buf), EBADF, "ioctl fd 1000");
    err(S(SYS_pread64, 1000, buf, 1, 0), EBADF, "pread fd 1000");
    err((long)mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, 1000, 0), EBADF, "mmap fd 1000");
}

static void test_path_errors(const char *exe, const char *dir)
{
    printf("-- path errors\n");
    char p1[512], p2[512];
    struct stat st;
    char buf[64];
    err(S(SYS_open, "/nonexistent-rvisor-test/file", O_RDONLY), ENOENT, "open in missing dir");
    err(S(SYS_stat, "/nonexistent-rvisor-test", &st), ENOENT, "stat missing");
    err(S(SYS_unlink, "/tmp/nonexistent-rvisor-test"), ENOENT, "unlink missing");
    err(S(SYS_rmdir, "/tmp/nonexistent-rvisor-test"), ENOENT, "rmdir missing");
    err(S(SYS_chdir, "/nonexistent-rvisor-test"), ENOENT, "chdir missing");
    err(S(SYS_readlink, "/nonexistent-rvisor-test", buf, 64), ENOENT, "readlink missing");
    err(S(SYS_open, "", O_RDONLY), ENOENT, "open empty path");
    err(S(SYS_stat, "", &st), ENOENT, "stat empty path");
    err(S(SYS_mkdir, "/tmp", 0755), EEXIST, "mkdir /tmp");
    err(S(SYS_mkdir, "/", 0755), EEXIST, "mkdir /");
    snprintf(p1, sizeof p1, "%s/f", dir);
    int fd = S(SYS_open, p1, O_CREAT | O_WRONLY, 0644);
    close(fd);
    err(S(SYS_open, p1, O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST, "O_EXCL existing");
    snprintf(p2, sizeof p2, "%s/f2", dir);
    S(SYS_link, p1, p2);
    err(S(SYS_link, p1, p2), EEXIST, "link onto existing");
    err(S(SYS_symlink, "x", p2), EEXIST, "symlink onto existing");
    snprintf(p2, sizeof p2, "%s/x", exe);
    err(S(SYS_open, p2, O_RDONLY), ENOTDIR, "file as directory in path");
    err(S(SYS_stat, p2, &st), ENOTDIR, "stat below a file");
    err(S(SYS_open, exe, O_RDONLY | O_DIRECTORY), ENOTDIR, "O_DIRECTORY on a file");
    err(S(SYS_rmdir, p1), ENOTDIR, "rmdir a file");
    err(S(SYS_chdir, exe), ENOTDIR, "chdir to a file");
    err(S(SYS_open, "/", O_WRONLY), EISDIR, "open / O_WRONLY");
    err(S(SYS_open, dir, O_RDWR), EISDIR, "open dir O_RDWR");
    err(S(SYS_open, dir, O_WRONLY | O_CREAT, 0644), EISDIR, "O_CREAT on a directory");
    int dfd = S(SYS_open, dir, O_RDONLY | O_DIRECTORY);
    err(S(SYS_read, dfd, buf, 8), EISDIR, "read a directory fd");
    close(dfd);
    err(S(SYS_unlink, dir), EISDIR, "unlink a directory");
    err(S(SYS_rmdir, dir), ENOTEMPTY, "rmdir non-empty");
    char longname[300];
    memset(longname, 'n', 299);
    longname[299] = 0;
    err(S(SYS_open, longname, O_RDONLY), ENAMETOOLONG, "open 299-char name");
    err(S(SYS_mkdir, longname, 0755), ENAMETOOLONG, "mkdir 299-char name");
    static char longpath[5000];
    for (int i = 0; i < 4999; i++)
        longpath[i] = i % 2 ? '/' : 'a';
    err(S(SYS_stat, longpath, &st), ENAMETOOLONG, "stat 5000-char path");
    snprintf(p1, sizeof p1, "%s/loop1", dir);
    snprintf(p2, sizeof p2, "%s/loop2", dir);
    S(SYS_symlink, "loop2", p1);
    S(SYS_symlink, "loop1", p2);
    err(S(SYS_open, p1, O_RDONLY), ELOOP, "symlink loop");
    err(S(SYS_stat, p1, &st), ELOOP, "stat symlink loop");
    check(S(SYS_lstat, p1, &st) == 0 && S_ISLNK(st.st_mode), "lstat on the loop itself works");
    unlink(p1);
    unlink(p2);
}

static void test_einval_misc(const char *exe)
{
    printf("-- EINVAL and others\n");
    int fd = open(exe, O_RDONLY);
    char buf[16];
    err(S(SYS_lseek, fd, 0, 7), EINVAL, "lseek whence 7");
    err(S(SYS_lseek, fd, -1L, SEEK_SET), EINVAL, "lseek negative");
    err(S(SYS_fcntl, fd, 9999), EINVAL, "fcntl unknown cmd");
    err(S(SYS_dup3, fd, fd, 0), EINVAL, "dup3 same fd");
    err(S(SYS_pipe2, buf, 0x7fff0000), EINVAL, "pipe2 bad flags");
    err(S(SYS_access, exe, 0x100), EINVAL, "access bad mode");
    err((long)mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), EINVAL, "mmap length 0");
    err(S(SYS_munmap, (void *)4097, 4096), EINVAL, "munmap unaligned");
    err(S(SYS_getdents64, fd, buf, 16), ENOTDIR, "getdents64 on a file");
    err(S(SYS_ioctl, fd, TCGETS, buf), ENOTTY, "TCGETS on a regular file");
    int p[2];
    pipe(p);
    err(S(SYS_lseek, p[0], 0, SEEK_SET), ESPIPE, "lseek on a pipe");
    err(S(SYS_getcwd, buf, 1), ERANGE, "getcwd size 1");
    err(S(1000), ENOSYS, "syscall 1000");
    err(S(-1L), ENOSYS, "syscall -1");
    err(S(SYS_ftruncate, fd, 0), EINVAL, "ftruncate read-only fd");
    err(S(SYS_ftruncate, p[1], 0), EINVAL, "ftruncate a pipe");
    err(S(SYS_readlink, exe, buf, 16), EINVAL, "readlink a regular file");
    err(S(SYS_readlink, "/proc/self/exe", buf, 0), EINVAL, "readlink bufsiz 0");
    /* EMFILE */
    struct rlimit old, rl;
    getrlimit(RLIMIT_NOFILE, &old);
    rl.rlim_cur = 16;
    rl.rlim_max = old.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    int last = 0, e = 0;
    for (int i = 0; i < 40; i++) {
        int d = dup(0);
        if (d < 0) {
            e = errno;
            break;
        }
        last = d;
    }
    checkf(e == EMFILE && last == 15, "dup until EMFILE at RLIMIT_NOFILE 16", "errno=%ld last=%ld", (long)e, (long)last);
    err(S(SYS_open, exe, O_RDONLY), EMFILE, "open at fd limit");
    err(S(SYS_pipe, p), EMFILE, "pipe at fd limit");
    for (int d = 5; d <= 15; d++)
        close(d);
    setrlimit(RLIMIT_NOFILE, &old);
    close(fd);
}

int main(int argc, char **argv)
{
    (void)argc;
    setvbuf(stdout, NULL, _IOLBF, 0);
    bad_ptrs[0] = (void *)1;
    bad_ptrs[1] = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    bad_ptrs[2] = (void *)0xffff800000001000UL;
    char dir[] = "/tmp/rvisor-errors-XXXXXX";
    if (!mkdtemp(dir)) {
        printf("mkdtemp failed: %s\n", ename(errno));
        return 1;
    }
    test_efault(argv[0], dir);
    test_ebadf();
    test_path_errors(argv[0], dir);
    test_einval_misc(argv[0]);
    char p[512];
    snprintf(p, sizeof p, "%s/f", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/f2", dir);
    unlink(p);
    ok(rmdir(dir), "scratch dir removed");
    return finish();
}
