/* memfd_seals: file seals on memfds (fcntl F_ADD_SEALS / F_GET_SEALS).
 *
 * Covers the seals a memfd starts with (F_SEAL_SEAL without
 * MFD_ALLOW_SEALING, F_SEAL_EXEC with MFD_NOEXEC_SEAL), adding seals
 * (EPERM once F_SEAL_SEAL is set or from a descriptor not open for
 * writing, EINVAL for unknown bits or a file that is not a memfd, EBUSY
 * for F_SEAL_WRITE while a shared mapping may write), seals shared by dup
 * and by a reopen through /proc/self/fd, and what each seal forbids:
 * shrinking and growing by ftruncate, fallocate and write, writing by
 * write, hole punching and shared writable mappings (mprotect too), the
 * execute bits by chmod. Prints one line per check and "failures=N";
 * exits with min(N, 100). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "abi_check.h"

#ifndef F_ADD_SEALS
#define F_ADD_SEALS 1033
#define F_GET_SEALS 1034
#define F_SEAL_SEAL 0x1
#define F_SEAL_SHRINK 0x2
#define F_SEAL_GROW 0x4
#define F_SEAL_WRITE 0x8
#endif
#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x10
#endif
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x20
#endif
#ifndef MFD_ALLOW_SEALING
#define MFD_ALLOW_SEALING 2
#endif
#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 8
#endif
#ifndef FALLOC_FL_KEEP_SIZE
#define FALLOC_FL_KEEP_SIZE 1
#endif
#ifndef FALLOC_FL_PUNCH_HOLE
#define FALLOC_FL_PUNCH_HOLE 2
#endif

static int mfd(unsigned flags, off_t size)
{
    int fd = syscall(SYS_memfd_create, "seals", flags);
    if (fd < 0 || ftruncate(fd, size) < 0) {
        printf("memfd_create: FAIL %s\n", ename(errno));
        exit(1);
    }
    return fd;
}

static long size_of(int fd)
{
    struct stat st;
    fstat(fd, &st);
    return (long)st.st_size;
}

static void seals_is(int fd, int want, const char *what)
{
    int got = fcntl(fd, F_GET_SEALS);
    checkf(got == want, what, "got %ld want %ld", got, want);
}

static void starting_seals(void)
{
    printf("-- starting seals\n");
    int fd = mfd(0, 0);
    seals_is(fd, F_SEAL_SEAL, "without MFD_ALLOW_SEALING");
    err(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), EPERM, "adding to a sealed seal set");
    close(fd);
    fd = mfd(MFD_ALLOW_SEALING, 0);
    seals_is(fd, 0, "with MFD_ALLOW_SEALING");
    err(fcntl(fd, F_ADD_SEALS, 0x1000), EINVAL, "unknown seal bits");
    ok(fcntl(fd, F_ADD_SEALS, 0), "adding no seal");
    close(fd);
    fd = mfd(MFD_NOEXEC_SEAL, 0);
    seals_is(fd, F_SEAL_EXEC, "with MFD_NOEXEC_SEAL");
    struct stat st;
    fstat(fd, &st);
    checkf((st.st_mode & 0777) == 0666, "no execute bits", "mode %lo %ld", (long)(st.st_mode & 0777), 0);
    err(fchmod(fd, 0755), EPERM, "chmod +x under F_SEAL_EXEC");
    ok(fchmod(fd, 0644), "chmod keeping the execute bits");
    close(fd);

    int p[2];
    pipe(p);
    err(fcntl(p[0], F_GET_SEALS), EINVAL, "F_GET_SEALS on a pipe");
    err(fcntl(p[1], F_ADD_SEALS, F_SEAL_SEAL), EINVAL, "F_ADD_SEALS on a pipe");
    close(p[0]);
    close(p[1]);
}

static void size_seals(void)
{
    printf("-- shrink and grow\n");
    int fd = mfd(MFD_ALLOW_SEALING, 8192);
    ok(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK), "seal shrink");
    seals_is(fd, F_SEAL_SHRINK, "shrink sealed");
    err(ftruncate(fd, 4096), EPERM, "ftruncate smaller");
    ok(ftruncate(fd, 8192), "ftruncate to the same size");
    ok(ftruncate(fd, 16384), "ftruncate larger");
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    err(open(path, O_RDWR | O_TRUNC), EPERM, "open O_TRUNC");

    ok(fcntl(fd, F_ADD_SEALS, F_SEAL_GROW), "seal grow");
    seals_is(fd, F_SEAL_SHRINK | F_SEAL_GROW, "both sealed");
    err(ftruncate(fd, 20000), EPERM, "ftruncate larger");
    err(fallocate(fd, 0, 0, 20000), EPERM, "fallocate past the end");
    err(fallocate(fd, FALLOC_FL_KEEP_SIZE, 16000, 1000), EPERM, "fallocate KEEP_SIZE past the end");
    ok(fallocate(fd, 0, 0, 16384), "fallocate within");
    static char buf[40000];
    long n = pwrite(fd, buf, 20000, 0);
    checkf(n == 16384, "a write stops at the size", "n=%ld %ld", n, 0);
    n = pwrite(fd, buf, 100, 16334);
    checkf(n == 50, "a write across the end", "n=%ld %ld", n, 0);
    err(pwrite(fd, buf, 10, 16384), EPERM, "a write at the end");
    checkf(size_of(fd) == 16384, "the size stayed", "%ld %ld", size_of(fd), 0);
    close(fd);

    /* Writes are checked page by page: they stop at the last page that
     * ends within the size. */
    fd = mfd(MFD_ALLOW_SEALING, 10000);
    ok(fcntl(fd, F_ADD_SEALS, F_SEAL_GROW), "seal grow at an odd size");
    n = pwrite(fd, buf, 6000, 5000);
    checkf(n == 3192, "a write to the end of its page", "n=%ld %ld", n, 0);
    err(pwrite(fd, buf, 2000, 9000), EPERM, "a write past the end in its first page");
    n = pwrite(fd, buf, 500, 9000);
    checkf(n == 500, "a write within", "n=%ld %ld", n, 0);
    checkf(size_of(fd) == 10000, "the size stayed", "%ld %ld", size_of(fd), 0);
    close(fd);
}

static void write_seals(void)
{
    printf("-- write\n");
    int fd = mfd(MFD_ALLOW_SEALING, 8192);
    char *shared = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    err(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), EBUSY, "seal write with a writable mapping");
    munmap(shared, 8192);
    shared = mmap(NULL, 8192, PROT_READ, MAP_SHARED, fd, 0);
    err(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), EBUSY, "seal write with a shared mapping that may write");
    munmap(shared, 8192);
    char *private = mmap(NULL, 8192, PROT_READ, MAP_PRIVATE, fd, 0);
    ok(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), "seal write with a private mapping");
    munmap(private, 8192);
    err(write(fd, "x", 1), EPERM, "write");
    err(pwrite(fd, "x", 1, 100), EPERM, "pwrite");
    err(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096), EPERM, "punch a hole");
    void *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    err(m == MAP_FAILED ? -1 : 0, EPERM, "mmap shared writable");
    m = mmap(NULL, 8192, PROT_READ, MAP_SHARED, fd, 0);
    check(m != MAP_FAILED, "mmap shared read-only");
    err(mprotect(m, 8192, PROT_READ | PROT_WRITE), EACCES, "mprotect it writable");
    munmap(m, 8192);
    m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    check(m != MAP_FAILED, "mmap private writable");
    if (m != MAP_FAILED) {
        ((char *)m)[0] = 1;
        munmap(m, 8192);
    }
    ok(ftruncate(fd, 4096), "ftruncate still shrinks");
    ok(ftruncate(fd, 8192), "and grows");
    char c = 1;
    checkf(pread(fd, &c, 1, 0) == 1 && c == 0, "reads work", "%d %d", c, 0);
    close(fd);

    printf("-- future write\n");
    fd = mfd(MFD_ALLOW_SEALING, 8192);
    char *w = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ok(fcntl(fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE), "seal future writes with a mapping");
    w[10] = 42;
    c = 0;
    checkf(pread(fd, &c, 1, 10) == 1 && c == 42, "the old mapping still writes", "%d %d", c, 0);
    err(write(fd, "x", 1), EPERM, "write");
    m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    err(m == MAP_FAILED ? -1 : 0, EPERM, "a new shared writable mapping");
    munmap(w, 8192);
    close(fd);
}

static void sharing(void)
{
    printf("-- shared seals\n");
    int fd = mfd(MFD_ALLOW_SEALING, 8192);
    int dup_fd = dup(fd);
    ok(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), "seal through one descriptor");
    seals_is(dup_fd, F_SEAL_WRITE, "seen through its dup");
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    int again = open(path, O_RDWR);
    seals_is(again, F_SEAL_WRITE, "seen through a reopen");
    ok(fcntl(again, F_ADD_SEALS, F_SEAL_SHRINK), "seal through the reopen");
    seals_is(fd, F_SEAL_WRITE | F_SEAL_SHRINK, "seen through the first");
    int ro = open(path, O_RDONLY);
    seals_is(ro, F_SEAL_WRITE | F_SEAL_SHRINK, "seen read-only");
    err(fcntl(ro, F_ADD_SEALS, F_SEAL_GROW), EPERM, "seal from a read-only descriptor");
    ok(fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL), "seal the seals");
    err(fcntl(dup_fd, F_ADD_SEALS, F_SEAL_GROW), EPERM, "then no more");
    err(fcntl(again, F_ADD_SEALS, 0), EPERM, "not even none");
    seals_is(fd, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_SEAL, "the final set");
    close(ro);
    close(again);
    close(dup_fd);
    close(fd);

    printf("-- punch hole\n");
    fd = mfd(MFD_ALLOW_SEALING, 3 * 4096);
    char *m = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    memset(m, 7, 3 * 4096);
    ok(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 100, 2 * 4096), "punch");
    checkf(size_of(fd) == 3 * 4096, "the size stays", "%ld %ld", size_of(fd), 0);
    char buf[3 * 4096];
    pread(fd, buf, sizeof buf, 0);
    int good = 1;
    for (int i = 0; i < 3 * 4096; i++)
        good &= buf[i] == ((i >= 100 && i < 100 + 2 * 4096) ? 0 : 7);
    check(good, "the hole reads as zeros");
    good = 1;
    for (int i = 0; i < 3 * 4096; i++)
        good &= m[i] == buf[i];
    check(good, "the mapping sees it");
    err(fallocate(fd, FALLOC_FL_PUNCH_HOLE, 0, 4096), EOPNOTSUPP, "punch without KEEP_SIZE");
    munmap(m, 3 * 4096);
    close(fd);
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    starting_seals();
    size_seals();
    write_seals();
    sharing();
    return finish();
}
