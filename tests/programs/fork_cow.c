/* fork when memory is short: a process holding most of a small sandbox's
 * memory forks several children. Each child sees the parent's data, writes
 * part of it privately, and the parent's copy stays as it was (the sentry
 * shares the pages copy-on-write once free memory runs low, instead of
 * copying them). The data lies in 1 MiB areas between inaccessible ones,
 * so that it is mapped in 4 KiB pages (an aligned 2 MiB block of private
 * memory is shared copy-on-write at any fork). Arguments: MiB of dirty
 * data, children, MiB each child writes. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define MIB (1 << 20)
#define PAGE 4096

static unsigned char pattern(size_t i)
{
    return (unsigned char)(i * 7);
}

static unsigned char *base;

/* Byte i of the data: 1 MiB used of every 2 MiB. */
static unsigned char *at(size_t i)
{
    return base + (i / MIB) * 2 * MIB + i % MIB;
}

int main(int argc, char **argv)
{
    size_t size = (argc > 1 ? atoi(argv[1]) : 44) * (size_t)MIB;
    int kids = argc > 2 ? atoi(argv[2]) : 8;
    size_t written = (argc > 3 ? atoi(argv[3]) : 4) * (size_t)MIB;
    base = mmap(0, 2 * size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int *finished = mmap(0, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED || finished == MAP_FAILED) {
        printf("allocation failed\nfailures=1\n");
        return 1;
    }
    for (size_t m = 0; m < size / MIB; m++)
        if (mprotect(base + 2 * m * MIB, MIB, PROT_READ | PROT_WRITE) != 0) {
            printf("mprotect failed\nfailures=1\n");
            return 1;
        }
    for (size_t i = 0; i < size; i++)
        *at(i) = pattern(i);
    int failures = 0;
    for (int k = 0; k < kids; k++) {
        pid_t pid = fork();
        if (pid < 0) {
            printf("fork %d failed\n", k);
            failures++;
            break;
        }
        if (pid == 0) {
            int bad = 0;
            for (size_t i = 0; i < size; i += PAGE)
                bad += *at(i) != pattern(i);
            for (size_t i = 0; i < written; i += PAGE)
                *at(i) = (unsigned char)k;
            for (size_t i = 0; i < written; i += PAGE)
                bad += *at(i) != (unsigned char)k;
            for (size_t i = written; i < size; i += PAGE)
                bad += *at(i) != pattern(i);
            __atomic_add_fetch(finished, 1, __ATOMIC_SEQ_CST);
            _exit(bad ? 1 : 0);
        }
        /* The parent writes a shared page too (the same value). */
        *at((size_t)k * PAGE) = pattern((size_t)k * PAGE);
        int status;
        waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            printf("child %d: status %#x\n", k, status);
            failures++;
        }
    }
    size_t bad = 0;
    for (size_t i = 0; i < size; i++)
        bad += *at(i) != pattern(i);
    printf("children finished: %d\n", *finished);
    printf("parent's bytes changed: %zu\n", bad);
    printf("failures=%d\n", failures + (bad != 0));
    return 0;
}
