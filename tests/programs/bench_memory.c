/* Memory and CPU benchmarks for bench/run.sh: fresh memory (map, touch every
 * page, unmap 128 MiB; best of 4 rounds), fork + _exit + waitpid with a
 * touched 16 MiB heap (median of 21), and a CPU-bound loop (best of 3).
 * Prints one line: fresh_ms=... fork16_us=... cpu_ms=... checksum=...
 * (the checksum shows the work was done and is the same everywhere). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    size_t fresh_mib = argc > 1 ? strtoul(argv[1], 0, 10) : 128;
    unsigned long cpu_iters = argc > 2 ? strtoul(argv[2], 0, 10) : 200000000UL;
    size_t len = fresh_mib << 20;
    double best = 1e18;
    for (int round = 0; round < 4; round++) {
        double t0 = now_ms();
        char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            perror("mmap");
            return 1;
        }
        for (size_t i = 0; i < len; i += 4096)
            p[i] = 1;
        munmap(p, len);
        double t = now_ms() - t0;
        if (t < best)
            best = t;
    }
    double fresh = best;

    size_t heap_len = 16 << 20;
    char *heap = malloc(heap_len);
    if (!heap)
        return 1;
    for (size_t i = 0; i < heap_len; i += 4096)
        heap[i] = (char)i;
    double forks[21];
    for (int i = 0; i < 21; i++) {
        double t0 = now_ms();
        pid_t pid = fork();
        if (pid == 0)
            _exit(0);
        if (pid < 0) {
            perror("fork");
            return 1;
        }
        waitpid(pid, NULL, 0);
        forks[i] = (now_ms() - t0) * 1000;
    }
    qsort(forks, 21, sizeof forks[0], cmp);

    /* A xorshift loop the compiler cannot fold. */
    uint64_t checksum = 0;
    best = 1e18;
    for (int round = 0; round < 3; round++) {
        double t0 = now_ms();
        uint64_t x = 88172645463325252ULL;
        for (unsigned long i = 0; i < cpu_iters; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
        }
        double t = now_ms() - t0;
        if (t < best)
            best = t;
        checksum = x;
    }
    printf("fresh_ms=%.2f fork16_us=%.1f cpu_ms=%.1f checksum=%llx\n", fresh, forks[10], best,
           (unsigned long long)checksum);
    return 0;
}
