/* mm_file: memory mappings beyond anonymous private memory.
 *
 * Usage: mm_file WORKDIR
 * WORKDIR is a writable directory (created when missing); a scratch file is
 * made there. Nothing here needs a signal or a child process: faults are
 * never provoked, unmapped ranges are detected with MAP_FIXED_NOREPLACE and
 * msync, protections are read back from /proc/self/maps (perms column only).
 *
 * Covers file mmap MAP_PRIVATE (copy-on-write, not written back) and
 * MAP_SHARED (written back, msync, coherent with pwrite), offsets, errors
 * (EACCES, EINVAL, ENODEV, EBADF), mremap grow/shrink/move/fixed, MAP_FIXED,
 * MAP_FIXED_NOREPLACE (EEXIST), munmap holes, mprotect, shared anonymous
 * memory, zero-filled demand paging, brk, ENOMEM for impossible sizes.
 * Prints one line per check and "failures=N"; exits with min(N, 100). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "abi_check.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MREMAP_FIXED
#define MREMAP_FIXED 2
#endif

#define PG 4096L

static unsigned char pat(long i)
{
    return (unsigned char)(i * 13 + (i >> 12) * 5 + 1);
}

static int is_pat(const unsigned char *p, long off, long n)
{
    for (long i = 0; i < n; i++)
        if (p[i] != pat(off + i))
            return 0;
    return 1;
}

static int is_zero(const unsigned char *p, long n)
{
    for (long i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

/* perms ("rw-p" ...) of the /proc/self/maps line containing addr, or "none" */
static const char *perms_of(void *addr)
{
    static char out[8];
    strcpy(out, "none");
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return "nomaps";
    char line[512];
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3 && (unsigned long)addr >= lo &&
            (unsigned long)addr < hi) {
            snprintf(out, sizeof out, "%s", perms);
            break;
        }
    }
    fclose(f);
    return out;
}

/* 1 when [addr, addr+len) is unmapped: MAP_FIXED_NOREPLACE succeeds there. */
static int is_free(void *addr, long len)
{
    void *p = mmap(addr, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (p == MAP_FAILED)
        return 0;
    munmap(p, len);
    return p == addr;
}

static const char *fname = "mm_data";

static void make_file(long n)
{
    int fd = open(fname, O_CREAT | O_TRUNC | O_RDWR, 0644);
    static unsigned char buf[3 * 4096 + 100];
    for (long i = 0; i < n; i++)
        buf[i] = pat(i);
    write(fd, buf, n);
    close(fd);
}

static void test_file_private(void)
{
    printf("-- file MAP_PRIVATE\n");
    make_file(3 * PG);
    int fd = ok(open(fname, O_RDWR), "open data file");
    unsigned char *m = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    check(m != MAP_FAILED, "mmap file MAP_PRIVATE");
    if (m == MAP_FAILED)
        return;
    check(is_pat(m, 0, 3 * PG), "private mapping shows file content");
    /* pages not yet written see later file changes (Linux page cache) */
    pwrite(fd, "ZZ", 2, 2 * PG + 10);
    check(m[2 * PG + 10] == 'Z' && m[2 * PG + 11] == 'Z', "untouched private page sees pwrite");
    memset(m, 'P', 100);
    unsigned char b[100];
    pread(fd, b, 100, 0);
    check(is_pat(b, 0, 100), "private write not in the file");
    pwrite(fd, "QQ", 2, 0);
    check(m[0] == 'P' && m[1] == 'P', "copied page does not see later pwrite");
    check(is_pat(m + PG, PG, PG), "other pages unchanged");
    ok(msync(m, 3 * PG, MS_SYNC), "msync on a private mapping");
    ok(munmap(m, 3 * PG), "munmap private");
    pread(fd, b, 100, 0);
    check(b[0] == 'Q' && is_pat(b + 2, 2, 98), "file after munmap has only the pwrite");

    /* offset mapping */
    make_file(3 * PG);
    m = mmap(NULL, PG, PROT_READ, MAP_PRIVATE, fd, PG);
    check(m != MAP_FAILED && is_pat(m, PG, PG), "mmap at offset 4096");
    if (m != MAP_FAILED)
        munmap(m, PG);
    /* mapping past EOF: the tail of the last page reads as zeros */
    make_file(PG + 100);
    m = mmap(NULL, 2 * PG, PROT_READ, MAP_PRIVATE, fd, 0);
    check(m != MAP_FAILED, "mmap 2 pages of a 4196-byte file");
    if (m != MAP_FAILED) {
        check(is_pat(m, 0, PG + 100), "content up to EOF");
        check(is_zero(m + PG + 100, PG - 100), "rest of the last page is zero");
        munmap(m, 2 * PG);
    }
    close(fd);

    /* the program's own file */
    extern char **environ;
    (void)environ;
}

static void test_file_shared(void)
{
    printf("-- file MAP_SHARED\n");
    make_file(3 * PG);
    int fd = open(fname, O_RDWR);
    unsigned char *m = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    check(m != MAP_FAILED, "mmap file MAP_SHARED");
    if (m == MAP_FAILED) {
        close(fd);
        return;
    }
    memcpy(m + 5, "shared!", 7);
    ok(msync(m, PG, MS_SYNC), "msync MS_SYNC");
    unsigned char b[16];
    pread(fd, b, 7, 5);
    check(memcmp(b, "shared!", 7) == 0, "shared write reaches the file");
    pwrite(fd, "via pwrite", 10, PG + 1);
    check(memcmp(m + PG + 1, "via pwrite", 10) == 0, "pwrite visible in shared mapping");
    memcpy(m + 2 * PG + 100, "tail", 4);
    ok(msync(m + 2 * PG, PG, MS_ASYNC), "msync MS_ASYNC");
    err(msync(m + 1, PG, MS_SYNC), EINVAL, "msync unaligned");
    err(msync(m, PG, MS_SYNC | MS_ASYNC), EINVAL, "msync MS_SYNC|MS_ASYNC");
    /* a second shared mapping of the same file sees the same bytes */
    unsigned char *m2 = mmap(NULL, PG, PROT_READ, MAP_SHARED, fd, 0);
    check(m2 != MAP_FAILED && memcmp(m2 + 5, "shared!", 7) == 0, "second shared mapping coherent");
    if (m2 != MAP_FAILED) {
        m[6] = 'H';
        check(m2[6] == 'H', "store through one mapping seen by the other");
        munmap(m2, PG);
    }
    ok(munmap(m, 3 * PG), "munmap shared");
    close(fd);
    /* written back after munmap + close, without msync */
    fd = open(fname, O_RDONLY);
    pread(fd, b, 4, 2 * PG + 100);
    check(memcmp(b, "tail", 4) == 0, "shared write persists after munmap");
    struct stat st;
    fstat(fd, &st);
    checkf(st.st_size == 3 * PG, "file size unchanged", "%ld%ld", (long)st.st_size, 0);
    /* errors */
    err((long)mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), EACCES,
        "MAP_SHARED PROT_WRITE on O_RDONLY fd");
    m = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    check(m != MAP_FAILED, "MAP_PRIVATE PROT_WRITE on O_RDONLY fd allowed");
    if (m != MAP_FAILED) {
        m[0] = 1;
        munmap(m, PG);
    }
    err((long)mmap(NULL, PG, PROT_READ, MAP_PRIVATE, fd, 100), EINVAL, "unaligned offset");
    err((long)mmap(NULL, 0, PROT_READ, MAP_PRIVATE, fd, 0), EINVAL, "zero length");
    err((long)mmap(NULL, PG, PROT_READ, MAP_PRIVATE, 77, 0), EBADF, "bad fd");
    close(fd);
    int wfd = open(fname, O_WRONLY);
    err((long)mmap(NULL, PG, PROT_READ, MAP_PRIVATE, wfd, 0), EACCES, "mmap O_WRONLY fd");
    close(wfd);
    int dfd = open(".", O_RDONLY | O_DIRECTORY);
    err((long)mmap(NULL, PG, PROT_READ, MAP_PRIVATE, dfd, 0), ENODEV, "mmap a directory");
    close(dfd);
    int p[2];
    pipe(p);
    err((long)mmap(NULL, PG, PROT_READ, MAP_PRIVATE, p[0], 0), ENODEV, "mmap a pipe");
    close(p[0]);
    close(p[1]);
    unlink(fname);
}

static void test_remap_fixed(void)
{
    printf("-- mremap, MAP_FIXED, munmap holes, mprotect\n");
    unsigned char *a = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    check(a != MAP_FAILED, "anon 4 pages");
    for (long i = 0; i < 4 * PG; i++)
        a[i] = pat(i);
    /* shrink in place */
    unsigned char *s = mremap(a, 4 * PG, 2 * PG, 0);
    check(s == a, "mremap shrink in place");
    check(is_free(a + 2 * PG, 2 * PG), "shrunk tail is unmapped");
    /* grow with MAYMOVE: content kept, new part zero */
    unsigned char *g = mremap(a, 2 * PG, 64 * PG, MREMAP_MAYMOVE);
    check(g != MAP_FAILED, "mremap grow MREMAP_MAYMOVE");
    if (g == MAP_FAILED)
        return;
    check(is_pat(g, 0, 2 * PG), "grown mapping keeps content");
    check(is_zero(g + 2 * PG, 62 * PG), "grown part is zero");
    /* block growth in place, then growth without MAYMOVE fails */
    unsigned char *blk = mmap(g + 64 * PG, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (blk == g + 64 * PG) {
        err((long)mremap(g, 64 * PG, 65 * PG, 0), ENOMEM, "mremap grow in place blocked");
        munmap(blk, PG);
    } else {
        check(0, "could place a blocker after the mapping");
    }
    /* move to a fixed address */
    unsigned char *dst = mmap(NULL, 64 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(dst, 64 * PG);
    unsigned char *mv = mremap(g, 64 * PG, 64 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
    check(mv == dst, "mremap MREMAP_FIXED to chosen address");
    if (mv == dst) {
        check(is_pat(mv, 0, 2 * PG), "moved mapping keeps content");
        check(is_free(g, 64 * PG), "old range unmapped after move");
        g = mv;
    }
    err((long)mremap(g + 1, PG, PG, 0), EINVAL, "mremap unaligned");
    err((long)mremap(g, PG, 2 * PG, 0x80), EINVAL, "mremap bad flags");

    /* munmap a hole */
    ok(munmap(g + 10 * PG, 3 * PG), "munmap 3-page hole");
    check(is_free(g + 10 * PG, 3 * PG), "hole is free");
    check(!is_free(g + 9 * PG, PG) && !is_free(g + 13 * PG, PG), "neighbours still mapped");
    err(msync(g + 10 * PG, PG, MS_SYNC), ENOMEM, "msync in the hole");
    ok(munmap(g + 10 * PG, 3 * PG), "munmap of an unmapped range is ok");
    err(munmap(g + 1, PG), EINVAL, "munmap unaligned");
    err(munmap(g, 0), EINVAL, "munmap length 0");

    /* MAP_FIXED replaces, MAP_FIXED_NOREPLACE refuses */
    g[20 * PG] = 0xaa;
    unsigned char *f = mmap(g + 20 * PG, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    check(f == g + 20 * PG, "MAP_FIXED at an occupied address");
    check(f != MAP_FAILED && f[0] == 0, "MAP_FIXED replaced the page with zeros");
    err((long)mmap(g + 21 * PG, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0), EEXIST,
        "MAP_FIXED_NOREPLACE on occupied range");
    f = mmap(g + 10 * PG, 3 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    check(f == g + 10 * PG, "MAP_FIXED_NOREPLACE into the hole");
    check(f != MAP_FAILED && is_zero(f, 3 * PG), "refilled hole is zero");
    err((long)mmap(g + 1, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0), EINVAL, "MAP_FIXED unaligned");

    /* mprotect */
    printf("perms rw: %s\n", perms_of(g + 30 * PG));
    ok(mprotect(g + 30 * PG, 2 * PG, PROT_READ), "mprotect 2 pages read-only");
    printf("perms after mprotect: before %s,", perms_of(g + 29 * PG));
    printf(" inside %s,", perms_of(g + 31 * PG));
    printf(" after %s\n", perms_of(g + 32 * PG));
    check(g[30 * PG] == 0, "read-only page readable");
    ok(mprotect(g + 30 * PG, 2 * PG, PROT_NONE), "mprotect PROT_NONE");
    printf("perms none: %s\n", perms_of(g + 31 * PG));
    ok(mprotect(g + 30 * PG, 2 * PG, PROT_READ | PROT_WRITE), "mprotect back to rw");
    g[31 * PG] = 7;
    check(g[31 * PG] == 7, "writable again");
    err(syscall(SYS_mprotect, g + 1, PG, PROT_READ), EINVAL, "mprotect unaligned");
    munmap(g + 40 * PG, PG);
    err(mprotect(g + 39 * PG, 3 * PG, PROT_READ), ENOMEM, "mprotect across a hole");
    munmap(g, 64 * PG);
    err(mprotect(g, PG, PROT_READ), ENOMEM, "mprotect unmapped");
}

static void test_anon(void)
{
    printf("-- anonymous memory\n");
    unsigned char *sh = mmap(NULL, 8 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    check(sh != MAP_FAILED, "MAP_SHARED|MAP_ANONYMOUS");
    if (sh != MAP_FAILED) {
        check(is_zero(sh, 8 * PG), "shared anon zero-filled");
        memset(sh, 3, 8 * PG);
        printf("perms shared anon: %s\n", perms_of(sh));
        unsigned char *sg = mremap(sh, 8 * PG, 4 * PG, 0);
        check(sg == sh && sg[4 * PG - 1] == 3, "mremap shrinks shared anon in place");
        check(is_free(sh + 4 * PG, 4 * PG), "shrunk shared tail unmapped");
        munmap(sg, 4 * PG);
    }
    /* demand paging: 64 MiB, touch one byte in every 4th page */
    long big = 64L << 20;
    unsigned char *d = mmap(NULL, big, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    check(d != MAP_FAILED, "mmap 64 MiB");
    if (d != MAP_FAILED) {
        int zero = 1;
        for (long o = 0; o < big; o += 4 * PG) {
            if (d[o] != 0 || d[o + PG - 1] != 0)
                zero = 0;
            d[o] = (unsigned char)(o >> 14);
        }
        int kept = 1;
        for (long o = 0; o < big; o += 4 * PG)
            if (d[o] != (unsigned char)(o >> 14))
                kept = 0;
        check(zero, "untouched pages read as zero");
        check(kept, "written pages keep their values");
        munmap(d, big);
    }
    err((long)mmap(NULL, 1UL << 47, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), ENOMEM,
        "mmap 128 TiB");
    err((long)mmap(NULL, PG, PROT_READ, MAP_ANONYMOUS, -1, 0), EINVAL, "neither PRIVATE nor SHARED");
    /* brk (raw syscall: musl's sbrk only does sbrk(0)) */
    char *b0 = (char *)syscall(SYS_brk, 0);
    char *b1 = (char *)syscall(SYS_brk, b0 + 3 * PG);
    check(b1 == b0 + 3 * PG, "brk grow by 3 pages");
    if (b1 == b0 + 3 * PG) {
        check(is_zero((unsigned char *)b0, 3 * PG), "new brk memory is zero");
        memset(b0, 9, 3 * PG);
        check(b0[3 * PG - 1] == 9, "brk memory writable");
        check((char *)syscall(SYS_brk, b0) == b0, "brk shrink");
        check(is_free(b0, 3 * PG), "released brk range is unmapped");
        check((char *)syscall(SYS_brk, b0 + PG) == b0 + PG && b0[0] == 0, "re-grown brk page is zero");
        syscall(SYS_brk, b0);
    }
    check((char *)syscall(SYS_brk, (char *)16) == b0, "brk below start is refused (returns current)");
}

static void test_self(const char *argv0)
{
    printf("-- the program's own file\n");
    int fd = open(argv0, O_RDONLY);
    check(fd >= 0, "open argv[0]");
    if (fd < 0)
        return;
    unsigned char *m = mmap(NULL, PG, PROT_READ, MAP_PRIVATE, fd, 0);
    check(m != MAP_FAILED && memcmp(m, "\177ELF", 4) == 0, "mmap own ELF header");
    if (m != MAP_FAILED)
        munmap(m, PG);
    err((long)mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), EACCES, "MAP_SHARED writable of read-only exe fd");
    close(fd);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc != 2) {
        fprintf(stderr, "usage: mm_file WORKDIR\n");
        return 2;
    }
    mkdir(argv[1], 0755);
    if (chdir(argv[1]) < 0) {
        printf("cannot chdir to workdir: %s\n", ename(errno));
        return 1;
    }
    test_file_private();
    test_file_shared();
    test_remap_fixed();
    test_anon();
    test_self(argv[0]);
    return finish();
}
