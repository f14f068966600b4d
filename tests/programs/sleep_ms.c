/* sleep_ms N: sleeps N milliseconds with nanosleep and reports whether
 * CLOCK_MONOTONIC advanced by at least that much (and not absurdly more:
 * the upper bound is loose, a loaded machine running QEMU TCG may take
 * seconds longer). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv)
{
    long ms = argc > 1 ? atol(argv[1]) : 100;
    struct timespec a, b, d = {ms / 1000, (ms % 1000) * 1000000L};
    clock_gettime(CLOCK_MONOTONIC, &a);
    if (nanosleep(&d, NULL) != 0) {
        perror("nanosleep");
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    long slept = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
    int ok = slept >= ms && slept < ms + 30000;
    printf("slept %ld ms: %s\n", ms, ok ? "ok" : "wrong");
    return ok ? 0 : 2;
}
