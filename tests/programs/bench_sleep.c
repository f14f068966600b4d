/* bench_sleep: how late sleeps end, and what waking costs others
 * (docs/PLATFORM-x86-kvm.md, "Sleeps and timers").
 *   bench_sleep N [nanosleep|poll|select] [spin]
 * Sleeps N times each for 100 us and 1 ms, and N/5 times for 10 ms, and
 * prints one line per duration with the overshoot (elapsed - requested)
 * in us: "sleep=nanosleep us=1000 n=1000 min=.. median=.. p99=.. max=..
 * mean=..". With "spin" a child process computes (no syscalls) all
 * along, so on one CPU each wake-up must preempt it.
 *   bench_sleep cost US [MS]
 * A child computes for MS ms (default 2000) while the parent sleeps US us
 * in a loop (0: just waits): "sleep_us=US wakes=.. child_mturns=.." (the
 * child's work, millions of loop turns). */
#define _GNU_SOURCE
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

static void sleep_us(const char *how, long us)
{
    if (strcmp(how, "poll") == 0) {
        /* poll's timeout is in ms: the 100 us case sleeps 0 ms. */
        poll(NULL, 0, (int)(us / 1000));
    } else if (strcmp(how, "select") == 0) {
        struct timeval tv = {0, us};
        select(0, NULL, NULL, NULL, &tv);
    } else {
        struct timespec ts = {0, us * 1000};
        nanosleep(&ts, NULL);
    }
}

static int cost(long us, long ms)
{
    int p[2];
    if (pipe(p) != 0)
        return 1;
    pid_t child = fork();
    if (child == 0) {
        long long end = now_ns() + ms * 1000000LL, turns = 0;
        while (now_ns() < end)
            for (int i = 0; i < 1000; i++) {
                __asm__ volatile("" ::: "memory");
                turns++;
            }
        _exit(write(p[1], &turns, sizeof turns) == sizeof turns ? 0 : 1);
    }
    long wakes = 0;
    if (us > 0) {
        long long end = now_ns() + ms * 1000000LL;
        struct timespec ts = {us / 1000000, us % 1000000 * 1000};
        while (now_ns() < end) {
            nanosleep(&ts, NULL);
            wakes++;
        }
    }
    long long turns = 0;
    if (read(p[0], &turns, sizeof turns) != sizeof turns)
        return 1;
    waitpid(child, NULL, 0);
    printf("sleep_us=%ld wakes=%ld child_mturns=%.1f\n", us, wakes, turns / 1e6);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 2 && strcmp(argv[1], "cost") == 0)
        return cost(atol(argv[2]), argc > 3 ? atol(argv[3]) : 2000);
    int n = argc > 1 ? atoi(argv[1]) : 1000;
    const char *how = argc > 2 ? argv[2] : "nanosleep";
    if (n < 5) {
        fprintf(stderr, "usage: bench_sleep N(>=5) [nanosleep|poll|select] [spin] | cost US [MS]\n");
        return 2;
    }
    pid_t spinner = 0;
    if (argc > 3 && strcmp(argv[3], "spin") == 0) {
        spinner = fork();
        if (spinner == 0) {
            volatile unsigned long x = 0;
            for (;;)
                x++;
        }
    }
    const long durations[] = {100, 1000, 10000};
    long long *s = malloc(sizeof(long long) * n);
    for (int d = 0; d < 3; d++) {
        long us = durations[d];
        int count = us >= 10000 ? n / 5 : n;
        for (int i = 0; i < count; i++) {
            long long t0 = now_ns();
            sleep_us(how, us);
            s[i] = now_ns() - t0 - us * 1000;
        }
        qsort(s, count, sizeof *s, cmp);
        double mean = 0;
        for (int i = 0; i < count; i++)
            mean += s[i];
        mean /= count;
        printf("sleep=%s us=%ld n=%d min=%.1f median=%.1f p99=%.1f max=%.1f mean=%.1f\n", how, us,
               count, s[0] / 1e3, s[count / 2] / 1e3, s[count * 99 / 100] / 1e3, s[count - 1] / 1e3,
               mean / 1e3);
    }
    if (spinner > 0) {
        kill(spinner, SIGKILL);
        waitpid(spinner, NULL, 0);
    }
    return 0;
}
