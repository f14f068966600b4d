/* Per-file costs on a directory of small files (a shared host directory in
 * the sandbox): lstat, open+close, open+read+close. The directory must hold
 * files f0000 .. f{N-1} (bench/run.sh makes them). Each figure is the time
 * per file of one pass over all N files; the first pass (cold in the
 * sandbox: nothing cached yet) and the best of the next passes are printed.
 *
 *   bench_hostfs DIR N PASSES
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static char names[4096][300];

static int pass(int kind, int n) {
    static char buf[65536];
    for (int i = 0; i < n; i++) {
        if (kind == 0) {
            struct stat st;
            if (lstat(names[i], &st) < 0) return -1;
        } else {
            int fd = open(names[i], O_RDONLY | O_CLOEXEC);
            if (fd < 0) return -1;
            if (kind == 2 && read(fd, buf, sizeof buf) < 0) return -1;
            close(fd);
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: bench_hostfs DIR N PASSES\n");
        return 2;
    }
    int n = atoi(argv[2]), passes = atoi(argv[3]);
    if (n < 1 || n > 4096 || passes < 2) return 2;
    for (int i = 0; i < n; i++) snprintf(names[i], sizeof names[i], "%s/f%04d", argv[1], i);
    static const char *label[] = {"lstat", "open_close", "open_read_close"};
    for (int kind = 0; kind < 3; kind++) {
        double first = 0, best = 1e30;
        for (int p = 0; p < passes; p++) {
            double t0 = now_us();
            if (pass(kind, n) < 0) {
                perror(label[kind]);
                return 1;
            }
            double per = (now_us() - t0) / n;
            if (p == 0) first = per;
            else if (per < best) best = per;
        }
        printf("%s_first_us=%.2f %s_us=%.2f\n", label[kind], first, label[kind], best);
    }
    return 0;
}
