/* getppid_loop N: performs N getppid() system calls (via syscall(2), so
 * nothing is cached in libc) and prints the mean cost per call. Used by
 * bench/run.sh; the tests only check that it runs and prints a number. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    if (n <= 0)
        n = 1;
    struct timespec a, b;
    volatile long sink = 0;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++)
        sink += syscall(SYS_getppid);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ns = (double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec);
    printf("getppid_loop: iterations=%ld ns_per_call=%.2f\n", n, ns / (double)n);
    return 0;
}
