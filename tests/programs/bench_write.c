/* Benchmark: write 10 MiB to FILE in 4 KiB writes, fsync, close; prints the
 * time taken (not compared: timings). */
#include <fcntl.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_write FILE\n");
        return 2;
    }
    static char buf[4096];
    for (int i = 0; i < (int)sizeof buf; i++) buf[i] = 'a' + i % 26;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int fd = open(argv[1], O_CREAT | O_WRONLY | O_TRUNC, 0644);
    if (fd < 0) {
        perror("open");
        return 1;
    }
    for (int i = 0; i < 2560; i++) {
        if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf) {
            perror("write");
            return 1;
        }
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        perror("fsync/close");
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    printf("bytes=%d ms=%.3f\n", 2560 * 4096, ms);
    return 0;
}
