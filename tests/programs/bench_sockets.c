/* bench_sockets: loopback socket throughput and round trips between two
 * processes, for bench/run.sh.
 *   bench_sockets [MIB] [ROUNDS]  ->
 *   "tcp_mb_s=X tcp_rtt_s=Y unix_mb_s=Z unix_rtt_s=W"
 * Bulk: the child writes MIB MiB in 64 KiB writes, the parent reads them
 * in 64 KiB reads. Round trips: 1-byte ping-pong, ROUNDS times. TCP over
 * 127.0.0.1 with TCP_NODELAY; AF_UNIX over a stream socketpair. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void die(const char *what)
{
    perror(what);
    exit(1);
}

/* A connected TCP pair over 127.0.0.1: fds[0] client, fds[1] server. */
static void tcp_pair(int fds[2])
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (bind(l, (struct sockaddr *)&a, len) || listen(l, 1) || getsockname(l, (struct sockaddr *)&a, &len))
        die("listen");
    fds[0] = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(fds[0], (struct sockaddr *)&a, len))
        die("connect");
    fds[1] = accept(l, NULL, NULL);
    if (fds[1] < 0)
        die("accept");
    int on = 1;
    setsockopt(fds[0], IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    setsockopt(fds[1], IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    close(l);
}

static double bulk(int fds[2], long mib)
{
    static char buf[65536];
    long total = mib << 20;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[1]);
        memset(buf, 'x', sizeof buf);
        for (long done = 0; done < total;) {
            ssize_t n = write(fds[0], buf, sizeof buf);
            if (n <= 0)
                _exit(1);
            done += n;
        }
        _exit(0);
    }
    close(fds[0]);
    double start = now();
    long got = 0;
    while (got < total) {
        ssize_t n = read(fds[1], buf, sizeof buf);
        if (n <= 0)
            die("read");
        got += n;
    }
    double secs = now() - start;
    waitpid(pid, NULL, 0);
    close(fds[1]);
    return total / secs / 1e6;
}

static double pingpong(int fds[2], int rounds)
{
    pid_t pid = fork();
    char c = 'p';
    if (pid == 0) {
        close(fds[1]);
        for (int i = 0; i < rounds; i++)
            if (read(fds[0], &c, 1) != 1 || write(fds[0], &c, 1) != 1)
                _exit(1);
        _exit(0);
    }
    close(fds[0]);
    double start = now();
    for (int i = 0; i < rounds; i++)
        if (write(fds[1], &c, 1) != 1 || read(fds[1], &c, 1) != 1)
            die("pingpong");
    double secs = now() - start;
    waitpid(pid, NULL, 0);
    close(fds[1]);
    return rounds / secs;
}

int main(int argc, char **argv)
{
    long mib = argc > 1 ? atol(argv[1]) : 256;
    int rounds = argc > 2 ? atoi(argv[2]) : 20000;
    int fds[2];
    tcp_pair(fds);
    double tcp_mb = bulk(fds, mib);
    tcp_pair(fds);
    double tcp_rtt = pingpong(fds, rounds);
    socketpair(AF_UNIX, SOCK_STREAM, 0, fds);
    double unix_mb = bulk(fds, mib);
    socketpair(AF_UNIX, SOCK_STREAM, 0, fds);
    double unix_rtt = pingpong(fds, rounds);
    printf("tcp_mb_s=%.0f tcp_rtt_s=%.0f unix_mb_s=%.0f unix_rtt_s=%.0f\n", tcp_mb, tcp_rtt, unix_mb, unix_rtt);
    return 0;
}
