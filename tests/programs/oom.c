/* oom: allocates 1 MiB blocks with malloc and touches every page, until
 * malloc returns NULL or LIMIT_MIB have been allocated.
 *
 * Usage: oom LIMIT_MIB
 * Prints "allocated N MiB, malloc returned NULL" or "allocated N MiB, no
 * failure up to the limit", then whether the memory still holds what was
 * written, and exits 0. Natively the tests use a limit far below the host's
 * memory; in the sandbox a limit above --memory, where malloc must fail
 * cleanly (ENOMEM) instead of the program being killed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    long limit = argc > 1 ? atol(argv[1]) : 64;
    static unsigned char *blocks[65536];
    long n = 0;
    int failed = 0, err = 0;
    while (n < limit && n < 65536) {
        unsigned char *p = malloc(1 << 20);
        if (!p) {
            failed = 1;
            err = errno;
            break;
        }
        for (long i = 0; i < (1 << 20); i += 4096)
            p[i] = (unsigned char)(n + i / 4096);
        blocks[n++] = p;
    }
    if (failed)
        printf("allocated %s MiB, malloc returned NULL, errno=%s\n", n > 0 ? "some" : "0", err == ENOMEM ? "ENOMEM" : "other");
    else
        printf("allocated %ld MiB, no failure up to the limit\n", n);
    int intact = 1;
    for (long k = 0; k < n; k++)
        for (long i = 0; i < (1 << 20); i += 4096)
            if (blocks[k][i] != (unsigned char)(k + i / 4096))
                intact = 0;
    printf("memory intact: %s\n", intact ? "yes" : "NO");
    for (long k = 0; k < n; k++)
        free(blocks[k]);
    /* after freeing, allocation works again */
    void *again = malloc(1 << 20);
    printf("malloc after free: %s\n", again ? "ok" : "FAIL");
    return 0;
}
