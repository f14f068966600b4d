/* Large anonymous memory, the kind the sentry maps with 2 MiB blocks:
 * touching, partial munmap/mprotect/madvise inside a 2 MiB-aligned region,
 * mremap of such a region, fork with it, and /proc/self/maps. Every check
 * prints a line; the output is compared with a native run. */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "abi_check.h"

#define MIB (1024UL * 1024UL)

static sigjmp_buf fault_jump;

static void on_segv(int sig)
{
    (void)sig;
    siglongjmp(fault_jump, 1);
}

/* 1 when writing *p faults. */
static int write_faults(volatile char *p)
{
    if (sigsetjmp(fault_jump, 1))
        return 1;
    *p = 7;
    return 0;
}

/* A 2 MiB-aligned region of `len` bytes (over-allocated, then trimmed). */
static char *aligned_region(size_t len)
{
    char *raw = mmap(NULL, len + 2 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        return NULL;
    uintptr_t start = ((uintptr_t)raw + 2 * MIB - 1) & ~(2 * MIB - 1);
    if (start > (uintptr_t)raw)
        munmap(raw, start - (uintptr_t)raw);
    uintptr_t end = (uintptr_t)raw + len + 2 * MIB;
    if (end > start + len)
        munmap((char *)(start + len), end - (start + len));
    return (char *)start;
}

static unsigned long sum(const char *p, size_t len)
{
    unsigned long s = 0;
    for (size_t i = 0; i < len; i += 512)
        s += (unsigned char)p[i];
    return s;
}

/* Lines of /proc/self/maps inside [lo, hi), as offsets from lo. */
static void print_maps(const char *what, char *lo, char *hi)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    printf("%s maps:", what);
    while (f && fgets(line, sizeof line, f)) {
        unsigned long a, b;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s", &a, &b, perms) != 3)
            continue;
        if (a >= (unsigned long)lo && b <= (unsigned long)hi)
            printf(" +%luK-+%luK %s", (a - (unsigned long)lo) / 1024, (b - (unsigned long)lo) / 1024, perms);
    }
    printf("\n");
    if (f)
        fclose(f);
}

int main(void)
{
    signal(SIGSEGV, on_segv);
    size_t len = 8 * MIB;
    char *p = aligned_region(len);
    check(p != NULL, "8 MiB aligned region");
    if (!p)
        return 1;
    check(sum(p, len) == 0, "fresh memory reads zero");
    for (size_t i = 0; i < len; i += 4096)
        p[i] = (char)(i / 4096 % 251 + 1);
    unsigned long full = sum(p, len);
    check(full != 0, "written");

    /* Punch a 4 KiB hole in the middle of the second 2 MiB. */
    char *hole = p + 2 * MIB + 64 * 1024;
    ok(munmap(hole, 4096), "munmap 4 KiB inside a block");
    check(hole[4096] == (char)((2 * MIB + 64 * 1024 + 4096) / 4096 % 251 + 1), "the page after the hole keeps its data");
    check(hole[-4096] == (char)((2 * MIB + 60 * 1024) / 4096 % 251 + 1), "the page before keeps its data");
    check(write_faults(hole), "the hole faults");
    check(!write_faults(hole + 4096), "the page after the hole is still writable");

    /* Read-only 12 KiB inside the third 2 MiB. */
    char *ro = p + 4 * MIB + 8192;
    ok(mprotect(ro, 3 * 4096, PROT_READ), "mprotect 12 KiB read-only inside a block");
    check(write_faults(ro + 4096), "writing the read-only part faults");
    check(ro[4096] == (char)((4 * MIB + 8192 + 4096) / 4096 % 251 + 1), "the read-only part keeps its data");
    check(!write_faults(ro + 3 * 4096), "after it is writable");
    check(!write_faults(ro - 4096), "before it is writable");
    ok(mprotect(ro, 3 * 4096, PROT_READ | PROT_WRITE), "mprotect it back");
    check(!write_faults(ro + 4096), "writable again");

    /* Whole 2 MiB read-only, then back. */
    ok(mprotect(p + 6 * MIB, 2 * MIB, PROT_READ), "mprotect a whole 2 MiB read-only");
    check(write_faults(p + 6 * MIB + 12345), "writing it faults");
    check(p[6 * MIB + 4096] == (char)((6 * MIB + 4096) / 4096 % 251 + 1), "its data is intact");
    ok(mprotect(p + 6 * MIB, 2 * MIB, PROT_READ | PROT_WRITE), "and writable again");
    check(!write_faults(p + 6 * MIB + 12345), "writable again (whole block)");

    /* MADV_DONTNEED on 8 KiB inside the first 2 MiB: zeros after. */
    ok(madvise(p + 1 * MIB, 8192, MADV_DONTNEED), "MADV_DONTNEED 8 KiB inside a block");
    check(p[1 * MIB] == 0 && p[1 * MIB + 4096] == 0, "discarded pages read zero");
    check(p[1 * MIB + 8192] == (char)((1 * MIB + 8192) / 4096 % 251 + 1), "the next page keeps its data");

    print_maps("after the holes", p, p + len);

    /* fork: the child sees the parent's data, its writes stay its own. */
    p[3 * MIB] = 42;
    pid_t child = fork();
    if (child == 0) {
        int good = p[3 * MIB] == 42 && p[5 * MIB + 4096] == (char)((5 * MIB + 4096) / 4096 % 251 + 1);
        p[3 * MIB] = 99;
        p[5 * MIB] = 99;
        _exit(good ? 0 : 1);
    }
    int status = 0;
    waitpid(child, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child saw the parent's data");
    check(p[3 * MIB] == 42 && p[5 * MIB] == (char)((5 * MIB) / 4096 % 251 + 1), "the child's writes stayed in the child");

    /* mremap the last 4 MiB (two blocks) elsewhere, then shrink it to 3 MiB. */
    unsigned long tail = sum(p + 4 * MIB, 4 * MIB);
    char *moved = mremap(p + 4 * MIB, 4 * MIB, 6 * MIB, MREMAP_MAYMOVE);
    check(moved != MAP_FAILED, "mremap 4 MiB to 6 MiB");
    if (moved != MAP_FAILED) {
        check(sum(moved, 4 * MIB) == tail, "moved data intact");
        check(sum(moved + 4 * MIB, 2 * MIB) == 0, "grown part reads zero");
        moved[5 * MIB] = 5;
        char *shrunk = mremap(moved, 6 * MIB, 3 * MIB, 0);
        check(shrunk == moved, "shrink in place to 3 MiB");
        check(write_faults(moved + 3 * MIB + 4096), "past the end faults");
        check(sum(moved, 3 * MIB) == sum(moved, 3 * MIB), "rest readable");
        ok(munmap(moved, 3 * MIB), "munmap the moved region");
    }

    /* Unmap a range that starts and ends inside blocks. */
    ok(munmap(p + 1 * MIB + 4096, 2 * MIB), "munmap 2 MiB straddling two blocks");
    check(write_faults(p + 2 * MIB), "inside the unmapped range faults");
    check(!write_faults(p + 1 * MIB) && !write_faults(p + 3 * MIB + 4096), "both ends are still mapped");
    print_maps("at the end", p, p + len);
    ok(munmap(p, 4 * MIB), "munmap the rest");

    /* A big touch-everything loop, several rounds (blocks are reused). */
    for (int round = 0; round < 3; round++) {
        size_t big = 64 * MIB;
        char *q = mmap(NULL, big, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        int zero = 1;
        for (size_t i = 0; i < big; i += 4096) {
            if (q[i] != 0)
                zero = 0;
            q[i] = 1;
        }
        munmap(q, big);
        printf("round %d: fresh 64 MiB read zero: %s\n", round, zero ? "ok" : "FAIL");
        if (!zero)
            failures++;
    }
    printf("failures=%d\n", failures);
    return failures != 0;
}
