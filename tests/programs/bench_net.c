/* bench_net: TCP to a server on the host's 127.0.0.1, for bench/run.sh
 * (rvisor runs the client with --net; the server runs natively).
 *   bench_net server        -> prints its port, serves until killed
 *   bench_net client PORT MIB ROUNDS ->
 *   "dl_mb_s=X ul_mb_s=Y rtt_s=Z"
 * Download: the server writes MIB MiB in 64 KiB writes, the client reads
 * in 64 KiB reads. Upload: the other way, then a 1-byte acknowledgment.
 * Round trips: 1-byte ping-pong, ROUNDS times. TCP_NODELAY throughout. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char buf[65536];

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

static void nodelay(int fd)
{
    int on = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w <= 0) die("write");
        p += w;
        n -= w;
    }
}

static void read_all(int fd, char *p, size_t n)
{
    while (n) {
        ssize_t r = read(fd, p, n);
        if (r <= 0) die("read");
        p += r;
        n -= r;
    }
}

static void serve(int c)
{
    char cmd[5];
    read_all(c, cmd, 5);
    unsigned mib;
    memcpy(&mib, cmd + 1, 4);
    if (cmd[0] == 'D') {
        for (unsigned long long left = (unsigned long long)mib << 20; left;) {
            size_t n = left < sizeof buf ? left : sizeof buf;
            write_all(c, buf, n);
            left -= n;
        }
    } else if (cmd[0] == 'U') {
        while (read(c, buf, sizeof buf) > 0) {
        }
        write_all(c, "k", 1);
    } else {
        char b;
        while (read(c, &b, 1) == 1)
            write_all(c, &b, 1);
    }
    close(c);
}

static int dial(int port, char cmd, unsigned mib)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof a)) die("connect");
    nodelay(fd);
    char msg[5] = {cmd};
    memcpy(msg + 1, &mib, 4);
    write_all(fd, msg, 5);
    return fd;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "server")) {
        signal(SIGCHLD, SIG_IGN);
        int l = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof a;
        if (bind(l, (struct sockaddr *)&a, len) || listen(l, 16) ||
            getsockname(l, (struct sockaddr *)&a, &len))
            die("listen");
        printf("%d\n", ntohs(a.sin_port));
        fflush(stdout);
        for (;;) {
            int c = accept(l, NULL, NULL);
            if (c < 0) continue;
            nodelay(c);
            if (fork() == 0) {
                close(l);
                serve(c);
                _exit(0);
            }
            close(c);
        }
    }
    if (argc < 5) {
        fprintf(stderr, "usage: bench_net server | client PORT MIB ROUNDS\n");
        return 2;
    }
    int port = atoi(argv[2]);
    unsigned mib = atoi(argv[3]);
    int rounds = atoi(argv[4]);

    int fd = dial(port, 'D', mib);
    double t0 = now();
    unsigned long long got = 0;
    for (ssize_t r; (r = read(fd, buf, sizeof buf)) > 0;)
        got += r;
    double dl = now() - t0;
    if (got != (unsigned long long)mib << 20) die("short download");
    close(fd);

    fd = dial(port, 'U', mib);
    t0 = now();
    for (unsigned long long left = (unsigned long long)mib << 20; left;) {
        size_t n = left < sizeof buf ? left : sizeof buf;
        write_all(fd, buf, n);
        left -= n;
    }
    shutdown(fd, SHUT_WR);
    char ack;
    read_all(fd, &ack, 1);
    double ul = now() - t0;
    close(fd);

    fd = dial(port, 'R', 0);
    char b = 'x';
    t0 = now();
    for (int i = 0; i < rounds; i++) {
        write_all(fd, &b, 1);
        read_all(fd, &b, 1);
    }
    double rt = now() - t0;
    close(fd);
    printf("dl_mb_s=%.1f ul_mb_s=%.1f rtt_s=%.0f\n", mib / dl * 1.048576, mib / ul * 1.048576,
           rounds / rt);
    return 0;
}
