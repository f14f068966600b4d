/* Benchmark: create N small files in DIR, then delete them; prints the
 * time taken (not compared: timings). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bench_files DIR N\n");
        return 2;
    }
    int count = atoi(argv[2]);
    char path[4096];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < count; i++) {
        snprintf(path, sizeof path, "%s/bench-%d", argv[1], i);
        int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
        if (fd < 0 || write(fd, "a small file's contents\n", 24) != 24) {
            perror(path);
            return 1;
        }
        close(fd);
    }
    for (int i = 0; i < count; i++) {
        snprintf(path, sizeof path, "%s/bench-%d", argv[1], i);
        if (unlink(path) != 0) {
            perror(path);
            return 1;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    printf("files=%d ms=%.3f\n", count, ms);
    return 0;
}
