/* Frame accounting: rounds of work that share, copy, split, move and free
 * page frames (fork copy-on-write of 2 MiB blocks, partial munmap and
 * mprotect of shared blocks, mremap, tmpfs pages mapped shared and
 * private, truncate and hole punching, memfd shared across fork, pipes),
 * each round undone in full. Free memory (sysinfo) after the last round
 * must be what it was after the first (the first may grow the kernel's
 * heap): a frame leaked or freed early shows up here, or as a panic.
 *
 * argv[1]: rounds (default 12). Prints "ok" or what drifted. Sandbox only:
 * a Linux host's free memory moves on its own. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <unistd.h>

#define MIB (1024UL * 1024)

static unsigned long free_bytes(void)
{
    struct sysinfo si;
    if (sysinfo(&si) != 0) {
        perror("sysinfo");
        exit(1);
    }
    return si.freeram * si.mem_unit;
}

static void fail(const char *what)
{
    perror(what);
    exit(1);
}

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "check failed: %s\n", what);
        exit(1);
    }
}

static void wait_child(pid_t pid)
{
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "child failed (status %#x)\n", status);
        exit(1);
    }
}

/* 8 MiB of anonymous memory (2 MiB blocks where aligned), shared with a
 * child copy-on-write; the child writes some, unmaps a piece inside a
 * block and makes another piece inaccessible; both check their data. */
static void fork_blocks(void)
{
    size_t len = 8 * MIB;
    char *raw = mmap(NULL, len + 2 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        fail("mmap");
    char *p = (char *)(((unsigned long)raw + 2 * MIB - 1) & ~(2 * MIB - 1));
    memset(p, 0x11, len);
    pid_t pid = fork();
    if (pid < 0)
        fail("fork");
    if (pid == 0) {
        memset(p + 1 * MIB, 0x22, 2 * MIB);
        if (munmap(p + 4 * MIB + 64 * 1024, 256 * 1024) != 0)
            fail("munmap in a shared block");
        if (mprotect(p + 6 * MIB + 4096, 8192, PROT_NONE) != 0)
            fail("mprotect in a shared block");
        check(p[0] == 0x11 && p[1 * MIB] == 0x22 && p[3 * MIB - 1] == 0x22, "child data");
        check(p[4 * MIB] == 0x11 && p[5 * MIB] == 0x11, "child block data");
        _exit(0);
    }
    wait_child(pid);
    check(p[1 * MIB] == 0x11 && p[2 * MIB] == 0x11, "parent data after the child wrote");
    memset(p + 5 * MIB, 0x33, MIB);
    if (munmap(raw, len + 2 * MIB) != 0)
        fail("munmap");
}

/* A child that exits while still sharing blocks with its parent, and a
 * parent that writes after it is gone (the block is its own again). */
static void fork_then_exit(void)
{
    size_t len = 4 * MIB;
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        fail("mmap");
    memset(p, 0x44, len);
    pid_t pid = fork();
    if (pid < 0)
        fail("fork");
    if (pid == 0)
        _exit(p[len - 1] == 0x44 ? 0 : 1);
    wait_child(pid);
    memset(p, 0x55, len);
    if (munmap(p, len) != 0)
        fail("munmap");
}

static void move_memory(void)
{
    char *p = mmap(NULL, 3 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        fail("mmap");
    memset(p, 0x66, 3 * MIB);
    char *q = mremap(p, 3 * MIB, 6 * MIB, MREMAP_MAYMOVE);
    if (q == MAP_FAILED)
        fail("mremap");
    check(q[3 * MIB - 1] == 0x66, "moved data");
    memset(q + 3 * MIB, 0x67, 3 * MIB);
    if (munmap(q, 6 * MIB) != 0)
        fail("munmap");
}

static void tmpfs_pages(void)
{
    const char *path = "/tmp/frame_leak.dat";
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        fail("open");
    static char buf[256 * 1024];
    memset(buf, 0x77, sizeof buf);
    for (int i = 0; i < 4; i++)
        if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf)
            fail("write");
    size_t len = 4 * sizeof buf;
    char *shared = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    char *priv = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (shared == MAP_FAILED || priv == MAP_FAILED)
        fail("mmap file");
    memset(shared, 0x78, 64 * 1024);
    memset(priv + 128 * 1024, 0x79, 64 * 1024);
    check(priv[0] == 0x78 && shared[128 * 1024] == 0x77, "file mappings");
    if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 256 * 1024, 256 * 1024) != 0)
        fail("punch hole");
    if (ftruncate(fd, 300 * 1024) != 0)
        fail("truncate");
    check(shared[0] == 0x78 && shared[256 * 1024] == 0, "shared after the hole");
    munmap(shared, len);
    munmap(priv, len);
    close(fd);
    if (unlink(path) != 0)
        fail("unlink");
}

static void memfd_across_fork(void)
{
    int fd = memfd_create("frame_leak", 0);
    if (fd < 0)
        fail("memfd_create");
    if (ftruncate(fd, 2 * MIB) != 0)
        fail("ftruncate");
    char *p = mmap(NULL, 2 * MIB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        fail("mmap memfd");
    memset(p, 0x10, 2 * MIB);
    pid_t pid = fork();
    if (pid < 0)
        fail("fork");
    if (pid == 0) {
        memset(p, 0x20, MIB);
        _exit(0);
    }
    wait_child(pid);
    check(p[0] == 0x20 && p[MIB] == 0x10, "memfd shared across fork");
    munmap(p, 2 * MIB);
    close(fd);
}

static void pipe_pages(void)
{
    int fds[2];
    if (pipe(fds) != 0)
        fail("pipe");
    static char buf[60 * 1024];
    memset(buf, 0x5a, sizeof buf);
    for (int i = 0; i < 8; i++) {
        if (write(fds[1], buf, sizeof buf) != (ssize_t)sizeof buf)
            fail("pipe write");
        if (read(fds[0], buf, sizeof buf - 100) != (ssize_t)(sizeof buf - 100))
            fail("pipe read");
    }
    /* Data left in the pipe when it is closed. */
    if (write(fds[1], buf, 5000) != 5000)
        fail("pipe write");
    close(fds[0]);
    close(fds[1]);
}

static void round_of_work(void)
{
    fork_blocks();
    fork_then_exit();
    move_memory();
    tmpfs_pages();
    memfd_across_fork();
    pipe_pages();
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 12;
    round_of_work();
    unsigned long base = free_bytes();
    for (int i = 1; i < rounds; i++)
        round_of_work();
    unsigned long after = free_bytes();
    long drift = (long)base - (long)after;
    /* Less than a page per round and operation would pass; a leaked
     * block or file would not. */
    if (drift > (long)(256 * 1024)) {
        printf("free memory fell by %ld KiB over %d rounds\n", drift / 1024, rounds - 1);
        return 1;
    }
    printf("ok\n");
    return 0;
}
