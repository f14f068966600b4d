/* bench_procs: costs of processes and signals, for bench/run.sh:
 *   fork_us     fork + _exit + waitpid, mean of 200
 *   spawn_us    posix_spawn of this program (an exec) + waitpid, mean of 100
 *   pipe_mb_s   64 MiB from a child to its parent through a pipe
 *   signal_ns   raise(SIGUSR1) with a handler (delivery and sigreturn),
 *               mean of 100000
 * Prints one line of key=value pairs. */
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;
static volatile sig_atomic_t hits;

static void on_signal(int sig)
{
    (void)sig;
    hits++;
}

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "noop") == 0)
        return 0;
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return 1;
    self[n] = 0;

    double t0 = now_us();
    for (int i = 0; i < 200; i++) {
        pid_t pid = fork();
        if (pid == 0)
            _exit(0);
        waitpid(pid, NULL, 0);
    }
    double fork_us = (now_us() - t0) / 200;

    char *args[] = {self, "noop", NULL};
    t0 = now_us();
    for (int i = 0; i < 100; i++) {
        pid_t pid;
        if (posix_spawn(&pid, self, NULL, NULL, args, environ) != 0)
            return 1;
        waitpid(pid, NULL, 0);
    }
    double spawn_us = (now_us() - t0) / 100;

    int p[2];
    pipe(p);
    static char buf[65536];
    t0 = now_us();
    pid_t writer = fork();
    if (writer == 0) {
        close(p[0]);
        for (int i = 0; i < 1024; i++)
            write(p[1], buf, sizeof buf);
        _exit(0);
    }
    close(p[1]);
    long total = 0;
    while ((n = read(p[0], buf, sizeof buf)) > 0)
        total += n;
    waitpid(writer, NULL, 0);
    double pipe_mb_s = total / (now_us() - t0);

    signal(SIGUSR1, on_signal);
    t0 = now_us();
    for (int i = 0; i < 100000; i++)
        raise(SIGUSR1);
    double signal_ns = (now_us() - t0) * 1000 / 100000;

    printf("fork_us=%.1f spawn_us=%.1f pipe_mb_s=%.0f signal_ns=%.0f\n", fork_us, spawn_us, pipe_mb_s, signal_ns);
    return hits == 100000 && total == 64L << 20 ? 0 : 1;
}
