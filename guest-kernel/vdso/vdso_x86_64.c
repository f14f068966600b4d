/* The rvisor vDSO for x86_64: clock_gettime, gettimeofday and time without
 * a trap into the sentry. Time is the guest TSC scaled with the parameters
 * the sentry writes into the vvar page (mapped just below this image at
 * exec); they never change while the program runs, so no sequence lock is
 * needed. Other clocks fall back to the real syscall. Built by
 * guest-kernel/build.rs with the host C compiler (-nostdlib, PIC). */
#include <stdint.h>

struct vvar {
    uint64_t tsc_base;
    uint64_t mult;
    uint32_t shift;
    uint32_t pad;
    uint64_t realtime_base_ns;
    uint64_t monotonic_base_ns;
    uint64_t boottime_base_ns;
};

/* Defined by vdso_x86_64.lds one page below the image. */
extern const struct vvar vvar_data __attribute__((visibility("hidden")));

struct timespec64 { int64_t tv_sec; int64_t tv_nsec; };
struct timeval64 { int64_t tv_sec; int64_t tv_usec; };

static inline uint64_t ns_since_boot(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    uint64_t tsc = ((uint64_t)hi << 32) | lo;
    const volatile struct vvar *v = &vvar_data;
    return (uint64_t)(((unsigned __int128)(tsc - v->tsc_base) * v->mult) >> v->shift);
}

static long fallback(long nr, long a, long b)
{
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "0"(nr), "D"(a), "S"(b) : "rcx", "r11", "memory");
    return ret;
}

/* -1: not a clock served here. */
static int64_t clock_ns(int clock)
{
    const volatile struct vvar *v = &vvar_data;
    switch (clock) {
    case 0: /* CLOCK_REALTIME */
    case 5: /* CLOCK_REALTIME_COARSE */
        return (int64_t)(v->realtime_base_ns + ns_since_boot());
    case 1: /* CLOCK_MONOTONIC */
    case 4: /* CLOCK_MONOTONIC_RAW */
    case 6: /* CLOCK_MONOTONIC_COARSE */
        return (int64_t)(v->monotonic_base_ns + ns_since_boot());
    case 7: /* CLOCK_BOOTTIME */
        return (int64_t)(v->boottime_base_ns + ns_since_boot());
    default:
        return -1;
    }
}

int __vdso_clock_gettime(int clock, struct timespec64 *ts)
{
    int64_t ns = clock_ns(clock);
    if (ns < 0)
        return (int)fallback(228 /* clock_gettime */, clock, (long)ts);
    ts->tv_sec = ns / 1000000000;
    ts->tv_nsec = ns % 1000000000;
    return 0;
}

int __vdso_gettimeofday(struct timeval64 *tv, void *tz)
{
    if (tz)
        return (int)fallback(96 /* gettimeofday */, (long)tv, (long)tz);
    if (tv) {
        int64_t ns = clock_ns(0);
        tv->tv_sec = ns / 1000000000;
        tv->tv_usec = (ns % 1000000000) / 1000;
    }
    return 0;
}

int64_t __vdso_time(int64_t *t)
{
    int64_t s = clock_ns(0) / 1000000000;
    if (t)
        *t = s;
    return s;
}

int __vdso_clock_getres(int clock, struct timespec64 *res)
{
    return (int)fallback(229 /* clock_getres */, clock, (long)res);
}

int clock_gettime(int, struct timespec64 *) __attribute__((weak, alias("__vdso_clock_gettime")));
int gettimeofday(struct timeval64 *, void *) __attribute__((weak, alias("__vdso_gettimeofday")));
int64_t time(int64_t *) __attribute__((weak, alias("__vdso_time")));
int clock_getres(int, struct timespec64 *) __attribute__((weak, alias("__vdso_clock_getres")));
