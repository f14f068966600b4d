/* vdso_time: the time functions through the vDSO agree with the syscalls
 * and with each other. Prints only deterministic facts. */
#include <stdio.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static long long ns_of(struct timespec t) { return t.tv_sec * 1000000000LL + t.tv_nsec; }

int main(void) {
    printf("AT_SYSINFO_EHDR present: %s\n", getauxval(AT_SYSINFO_EHDR) ? "yes" : "no");
    int clocks[] = {CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME};
    int violations = 0;
    for (unsigned c = 0; c < sizeof clocks / sizeof clocks[0]; c++) {
        for (int i = 0; i < 2000; i++) {
            struct timespec a, s, b;
            clock_gettime(clocks[c], &a);
            syscall(SYS_clock_gettime, clocks[c], &s);
            clock_gettime(clocks[c], &b);
            if (ns_of(s) < ns_of(a) || ns_of(b) < ns_of(s)) violations++;
        }
    }
    printf("library and syscall clocks in order: %s\n", violations == 0 ? "yes" : "NO");
    struct timeval tv;
    gettimeofday(&tv, NULL);
    time_t t = time(NULL);
    printf("gettimeofday and time agree: %s\n", tv.tv_sec - t <= 1 && t - tv.tv_sec <= 1 ? "yes" : "NO");
    struct timespec res;
    printf("clock_getres(MONOTONIC) works: %s\n", clock_getres(CLOCK_MONOTONIC, &res) == 0 ? "yes" : "NO");
    printf("bad clock is an error: %s\n", clock_gettime(12345, &res) != 0 ? "yes" : "NO");
    return 0;
}
