/* memory: exercises brk, malloc (small sizes from the brk/heap groups, large
 * sizes that musl serves with mmap), calloc/realloc, anonymous
 * mmap/munmap/mprotect/madvise. Prints one deterministic line per check
 * ("... ok" or "... FAIL <why>") and exits with the number of failures. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static int failures;

static void check(int cond, const char *what, const char *why)
{
    if (cond) {
        printf("%s: ok\n", what);
    } else {
        printf("%s: FAIL %s\n", what, why);
        failures++;
    }
}

static unsigned char pat(size_t i, size_t seed)
{
    return (unsigned char)((i * 31u + seed * 7u + (i >> 9)) & 0xff);
}

static void fill(unsigned char *p, size_t n, size_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = pat(i, seed);
}

static int verify(const unsigned char *p, size_t n, size_t seed)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != pat(i, seed))
            return 0;
    return 1;
}

static int all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            return 0;
    return 1;
}

static uintptr_t raw_brk(uintptr_t addr)
{
    return (uintptr_t)syscall(SYS_brk, addr);
}

/* Raw brk checks. Runs before the first malloc, and restores the break, so
 * musl's allocator (which also uses brk) is not disturbed. */
static void test_brk(void)
{
    const size_t page = 4096;
    uintptr_t b0 = raw_brk(0);
    check(b0 != 0 && b0 != (uintptr_t)-1, "brk(0) returns the current break", "brk(0) failed");

    uintptr_t want = b0 + 64 * 1024;
    uintptr_t b1 = raw_brk(want);
    check(b1 == want, "brk grow by 64 KiB", "break did not move to the requested address");
    if (b1 != want)
        return;
    check(raw_brk(0) == want, "brk(0) after grow", "brk(0) does not report the new break");

    /* Memory between the old and the new break: page-aligned part is fresh. */
    uintptr_t first_page = (b0 + page - 1) & ~(uintptr_t)(page - 1);
    unsigned char *p = (unsigned char *)b0;
    size_t len = want - b0;
    check(all_zero((unsigned char *)first_page, want - first_page), "brk memory is zero-filled",
          "fresh brk memory has non-zero bytes");
    fill(p, len, 1);
    check(verify(p, len, 1), "brk memory holds a pattern", "pattern mismatch");

    uintptr_t half = b0 + 32 * 1024;
    check(raw_brk(half) == half, "brk shrink by 32 KiB", "shrink failed");
    check(verify(p, half - b0, 1), "brk memory below the break survives a shrink", "pattern lost");
    uintptr_t half_page = (half + page - 1) & ~(uintptr_t)(page - 1);
    check(raw_brk(want) == want, "brk re-grow", "re-grow failed");
    check(all_zero((unsigned char *)half_page, want - half_page),
          "re-grown brk pages are zero-filled", "stale data after shrink + grow");

    uintptr_t huge = b0 + ((uintptr_t)1 << 46);
    uintptr_t r = raw_brk(huge);
    check(r != huge, "brk to an absurd address is refused", "brk accepted a 64 TiB heap");
    check(raw_brk(0) == r, "brk(0) after refused grow", "break moved although the grow failed");

    check(raw_brk(b0) == b0, "brk restored to the initial break", "could not restore");
}

static const size_t sizes[] = {
    1, 7, 16, 24, 100, 1000, 4000, 4096, 10000, 65536, 131072,
    200000, 1 << 20, 4 << 20, 16 << 20, 32 << 20,
};
#define NSIZES (sizeof sizes / sizeof sizes[0])

static void test_malloc_sizes(void)
{
    unsigned char *ptrs[NSIZES];
    char what[96];
    for (size_t k = 0; k < NSIZES; k++) {
        ptrs[k] = malloc(sizes[k]);
        snprintf(what, sizeof what, "malloc(%zu)", sizes[k]);
        check(ptrs[k] != NULL, what, "returned NULL");
        if (!ptrs[k])
            continue;
        check(((uintptr_t)ptrs[k] & 15) == 0, "  16-byte aligned", "misaligned");
        fill(ptrs[k], sizes[k], k);
    }
    /* All blocks are live at once: verifying them all catches overlaps. */
    int ok = 1;
    for (size_t k = 0; k < NSIZES; k++)
        if (ptrs[k] && !verify(ptrs[k], sizes[k], k))
            ok = 0;
    check(ok, "all malloc blocks keep their patterns while live", "a block was overwritten");
    for (size_t k = 0; k < NSIZES; k++)
        free(ptrs[k]);

    /* Allocate again after freeing: memory is reused or remapped. */
    for (size_t k = 0; k < NSIZES; k++) {
        unsigned char *p = malloc(sizes[k]);
        if (!p) {
            ok = 0;
            break;
        }
        fill(p, sizes[k], k + 100);
        if (!verify(p, sizes[k], k + 100))
            ok = 0;
        free(p);
    }
    check(ok, "malloc/free cycle over all sizes", "allocation or pattern failed");
}

static void test_many_small(void)
{
    enum { N = 20000 };
    static unsigned char *p[N];
    static size_t len[N];
    int ok = 1;
    for (size_t i = 0; i < N; i++) {
        len[i] = (i * 37) % 500 + 1;
        p[i] = malloc(len[i]);
        if (!p[i]) {
            ok = 0;
            break;
        }
        memset(p[i], (int)(i & 0xff), len[i]);
    }
    check(ok, "20000 small mallocs", "malloc returned NULL");
    if (!ok)
        return;
    for (size_t i = 0; i < N && ok; i++)
        for (size_t j = 0; j < len[i]; j++)
            if (p[i][j] != (unsigned char)(i & 0xff)) {
                ok = 0;
                break;
            }
    check(ok, "20000 small blocks intact", "a small block was overwritten");

    for (size_t i = 0; i < N; i += 2) {
        free(p[i]);
        p[i] = NULL;
    }
    for (size_t i = 1; i < N && ok; i += 2) {
        size_t nl = len[i] * 3 + 1000;
        unsigned char *q = realloc(p[i], nl);
        if (!q) {
            ok = 0;
            break;
        }
        for (size_t j = 0; j < len[i]; j++)
            if (q[j] != (unsigned char)(i & 0xff)) {
                ok = 0;
                break;
            }
        memset(q + len[i], 0xa5, nl - len[i]);
        p[i] = q;
        len[i] = nl;
    }
    check(ok, "realloc grows keep the old contents", "realloc lost data");
    for (size_t i = 0; i < N; i++)
        free(p[i]);
}

static void test_calloc_realloc_large(void)
{
    size_t n = 8u << 20;
    unsigned char *p = calloc(1, n);
    check(p != NULL && all_zero(p, n), "calloc(8 MiB) is zeroed", "NULL or non-zero");
    if (!p)
        return;
    fill(p, n, 5);
    unsigned char *q = realloc(p, 24u << 20);
    check(q != NULL && verify(q, n, 5), "realloc 8 MiB -> 24 MiB keeps the contents", "data lost");
    if (!q) {
        free(p);
        return;
    }
    q = realloc(q, 1u << 20);
    check(q != NULL && verify(q, 1u << 20, 5), "realloc 24 MiB -> 1 MiB keeps the prefix", "data lost");
    free(q);
}

static void test_mmap(void)
{
    const size_t page = 4096;
    size_t n = 1u << 20;
    unsigned char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    check(p != MAP_FAILED, "mmap 1 MiB anonymous", strerror(errno));
    if (p == MAP_FAILED)
        return;
    check(((uintptr_t)p & (page - 1)) == 0, "mmap result is page aligned", "unaligned");
    check(all_zero(p, n), "mmap memory is zero-filled", "non-zero bytes");
    fill(p, n, 9);
    check(verify(p, n, 9), "mmap memory holds a pattern", "pattern mismatch");
    check(munmap(p, n) == 0, "munmap 1 MiB", strerror(errno));

    /* Three pages; unmap the middle one; the outer ones stay intact. */
    unsigned char *t = mmap(NULL, 3 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    check(t != MAP_FAILED, "mmap 3 pages", strerror(errno));
    if (t == MAP_FAILED)
        return;
    fill(t, 3 * page, 11);
    check(munmap(t + page, page) == 0, "munmap the middle page", strerror(errno));
    check(verify(t, page, 11) && t[2 * page] == pat(2 * page, 11) && t[3 * page - 1] == pat(3 * page - 1, 11),
          "outer pages survive a middle munmap", "pattern lost");

    /* MAP_FIXED into the hole gives a fresh zero page. */
    unsigned char *h = mmap(t + page, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    check(h == t + page, "MAP_FIXED into the hole", "wrong address or failure");
    if (h == t + page)
        check(all_zero(h, page), "MAP_FIXED page is zero-filled", "non-zero bytes");

    /* MAP_FIXED over live data replaces it. */
    unsigned char *f = mmap(t, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    check(f == t && all_zero(t, page), "MAP_FIXED over live data replaces it with zeros", "old data visible");
    check(t[2 * page] == pat(2 * page, 11), "MAP_FIXED leaves neighbouring pages alone", "neighbour changed");

    /* mprotect round trips keep contents. */
    fill(t, 3 * page, 12);
    check(mprotect(t, 3 * page, PROT_READ) == 0, "mprotect PROT_READ", strerror(errno));
    check(verify(t, 3 * page, 12), "read-only memory is readable", "pattern mismatch");
    check(mprotect(t, 3 * page, PROT_NONE) == 0, "mprotect PROT_NONE", strerror(errno));
    check(mprotect(t, 3 * page, PROT_READ | PROT_WRITE) == 0, "mprotect back to PROT_READ|PROT_WRITE",
          strerror(errno));
    check(verify(t, 3 * page, 12), "contents survive mprotect round trips", "pattern mismatch");
    t[5] = 0x5a;
    check(t[5] == 0x5a, "memory is writable again", "write lost");

    /* MADV_DONTNEED on private anonymous memory: next access sees zeros. */
    check(madvise(t + page, page, MADV_DONTNEED) == 0, "madvise MADV_DONTNEED", strerror(errno));
    check(all_zero(t + page, page), "MADV_DONTNEED page reads back as zeros", "old data visible");
    check(t[0] == pat(0, 12) && t[5] == 0x5a, "MADV_DONTNEED leaves other pages alone",
          "neighbour changed");
    check(madvise(t, 3 * page, MADV_WILLNEED) == 0, "madvise MADV_WILLNEED accepted",
          strerror(errno));
    check(munmap(t, 3 * page) == 0, "munmap 3 pages", strerror(errno));

    /* A big reservation touched sparsely (lazy allocation). */
    size_t big = 64u << 20;
    unsigned char *b = mmap(NULL, big, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    check(b != MAP_FAILED, "mmap 64 MiB", strerror(errno));
    if (b != MAP_FAILED) {
        int ok = 1;
        for (size_t off = 0; off < big; off += 1u << 20)
            b[off] = (unsigned char)(off >> 20);
        for (size_t off = 0; off < big; off += 1u << 20)
            if (b[off] != (unsigned char)(off >> 20) || b[off + 1] != 0)
                ok = 0;
        check(ok, "64 MiB mapping touched once per MiB", "pattern mismatch");
        check(munmap(b, big) == 0, "munmap 64 MiB", strerror(errno));
    }

    /* Many map/unmap cycles must not leak guest memory. */
    int ok = 1;
    for (int i = 0; i < 200 && ok; i++) {
        unsigned char *c = mmap(NULL, 4u << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (c == MAP_FAILED) {
            ok = 0;
            break;
        }
        memset(c, i, 4u << 20);
        if (c[(4u << 20) - 1] != (unsigned char)i)
            ok = 0;
        if (munmap(c, 4u << 20) != 0)
            ok = 0;
    }
    check(ok, "200 x mmap/memset/munmap of 4 MiB (800 MiB total)", "mmap failed: memory leaked?");

    /* Errors are reported like Linux does. */
    errno = 0;
    void *z = mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    check(z == MAP_FAILED && errno == EINVAL, "mmap of length 0 fails with EINVAL", "wrong result");
    unsigned char *u = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (u != MAP_FAILED) {
        errno = 0;
        check(munmap(u + 1, page) == -1 && errno == EINVAL, "munmap of an unaligned address fails with EINVAL",
              "wrong result");
        errno = 0;
        /* musl's mprotect() rounds the address down: use the raw syscall. */
        check(syscall(SYS_mprotect, u + 1, page, PROT_READ) == -1 && errno == EINVAL,
              "mprotect of an unaligned address fails with EINVAL", "wrong result");
        munmap(u, page);
    }
}

int main(void)
{
    test_brk();
    test_malloc_sizes();
    test_many_small();
    test_calloc_realloc_large();
    test_mmap();
    printf("failures=%d\n", failures);
    return failures > 100 ? 100 : failures;
}
