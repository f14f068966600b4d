/* sockets_inet: TCP and UDP over loopback (127.0.0.1 and ::1) compared
 * with Linux: servers and clients across fork, bulk transfer with a
 * checksum, non-blocking connect (EINPROGRESS, then writable and SO_ERROR),
 * ECONNREFUSED, EADDRINUSE and SO_REUSEADDR/SO_REUSEPORT, v4-mapped
 * addresses and IPV6_V6ONLY, shutdown and readiness, EPIPE/SIGPIPE and
 * resets, socket options, and an epoll-driven echo server with several
 * clients. Ports are ephemeral and never printed.
 *   sockets_inet             the comparable checks
 *   sockets_inet unreach     (sandbox only) connect and sendto off loopback
 * Prints only deterministic facts and failures=N. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "abi_check.h"

static volatile int sigpipes;
static void on_sigpipe(int sig)
{
    (void)sig;
    sigpipes++;
}

/* An address of the family, loopback or any, with port. */
static socklen_t make_addr(struct sockaddr_storage *ss, int family, int loopback, int port)
{
    memset(ss, 0, sizeof *ss);
    if (family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        a->sin_family = AF_INET;
        a->sin_port = htons(port);
        a->sin_addr.s_addr = htonl(loopback ? INADDR_LOOPBACK : INADDR_ANY);
        return sizeof *a;
    }
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    a->sin6_addr = loopback ? in6addr_loopback : in6addr_any;
    return sizeof *a;
}

static int port_of(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &len);
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* The address (no port) as text. */
static const char *addr_text(struct sockaddr_storage *ss)
{
    static char buf[64];
    if (ss->ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)ss)->sin_addr, buf, sizeof buf);
    else if (ss->ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)ss)->sin6_addr, buf, sizeof buf);
    else
        snprintf(buf, sizeof buf, "family %d", ss->ss_family);
    return buf;
}

static const char *local_text(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &len);
    return addr_text(&ss);
}

static const char *peer_text(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
        return ename(errno);
    return addr_text(&ss);
}

/* A listener on the family's loopback (or any) address, ephemeral port. */
static int listener(int family, int loopback, int *port)
{
    int s = socket(family, SOCK_STREAM, 0);
    int on = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    struct sockaddr_storage ss;
    socklen_t len = make_addr(&ss, family, loopback, 0);
    if (bind(s, (struct sockaddr *)&ss, len) < 0 || listen(s, 16) < 0) {
        printf("listener: FAIL %s\n", ename(errno));
        failures++;
    }
    *port = port_of(s);
    return s;
}

static int connect_to(int family, int port, int flags)
{
    int c = socket(family, SOCK_STREAM | flags, 0);
    struct sockaddr_storage ss;
    socklen_t len = make_addr(&ss, family, 1, port);
    if (connect(c, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS)
        return -errno;
    return c;
}

static uint32_t next_byte(uint32_t *x)
{
    *x = *x * 1103515245 + 12345;
    return (*x >> 16) & 0xff;
}

static void test_tcp_basic(int family, const char *name)
{
    printf("-- TCP over %s: server and client across fork\n", name);
    int port;
    int srv = listener(family, 1, &port);
    printf("listener address: %s\n", local_text(srv));
    int type = 0, proto = 0, acc = 0;
    socklen_t len = sizeof type;
    getsockopt(srv, SOL_SOCKET, SO_TYPE, &type, &len);
    len = sizeof proto;
    getsockopt(srv, SOL_SOCKET, SO_PROTOCOL, &proto, &len);
    len = sizeof acc;
    getsockopt(srv, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len);
    check(type == SOCK_STREAM && proto == IPPROTO_TCP && acc == 1, "SO_TYPE, SO_PROTOCOL, SO_ACCEPTCONN");
    const size_t total = 8 << 20;
    pid_t pid = fork();
    if (pid == 0) {
        close(srv);
        int c = connect_to(family, port, 0);
        if (c < 0)
            _exit(1);
        char *data = malloc(total);
        uint32_t x = 777;
        for (size_t i = 0; i < total; i++)
            data[i] = next_byte(&x);
        size_t done = 0;
        while (done < total) {
            ssize_t n = write(c, data + done, total - done);
            if (n <= 0)
                _exit(2);
            done += n;
        }
        shutdown(c, SHUT_WR);
        /* The server answers with its checksum. */
        uint32_t sum = 0;
        if (read(c, &sum, sizeof sum) != sizeof sum)
            _exit(3);
        uint32_t want = 0;
        for (size_t i = 0; i < total; i++)
            want = want * 31 + (uint8_t)data[i];
        _exit(sum == want ? 0 : 4);
    }
    struct sockaddr_storage peer;
    len = sizeof peer;
    int conn = accept(srv, (struct sockaddr *)&peer, &len);
    check(conn >= 0, "accept");
    printf("client address: %s\n", addr_text(&peer));
    printf("accepted socket's local address: %s\n", local_text(conn));
    check(port_of(conn) == port, "the accepted socket has the listener's port");
    uint32_t sum = 0;
    size_t got = 0;
    static char buf[65536];
    for (;;) {
        ssize_t n = read(conn, buf, sizeof buf);
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            sum = sum * 31 + (uint8_t)buf[i];
        got += n;
    }
    check(got == total, "8 MiB received, then end of file");
    write(conn, &sum, sizeof sum);
    int status;
    waitpid(pid, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the client's checksum agrees");
    close(conn);
    close(srv);
}

static void test_connect_states(void)
{
    printf("-- connect: EINPROGRESS, ECONNREFUSED, EISCONN\n");
    int port;
    int srv = listener(AF_INET, 1, &port);
    int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct pollfd p = {c, POLLIN | POLLOUT, 0};
    poll(&p, 1, 0);
    check(p.revents == (POLLOUT | POLLHUP), "a new socket polls POLLOUT|POLLHUP");
    struct sockaddr_storage ss;
    socklen_t len = make_addr(&ss, AF_INET, 1, port);
    err(connect(c, (struct sockaddr *)&ss, len), EINPROGRESS, "non-blocking connect");
    p.events = POLLOUT;
    check(poll(&p, 1, 5000) == 1 && p.revents == POLLOUT, "then writable");
    int soerr = -1;
    socklen_t elen = sizeof soerr;
    getsockopt(c, SOL_SOCKET, SO_ERROR, &soerr, &elen);
    check(soerr == 0, "SO_ERROR 0");
    check(connect(c, (struct sockaddr *)&ss, len) == 0, "connect again: done");
    err(connect(c, (struct sockaddr *)&ss, len), EISCONN, "and again: EISCONN");
    printf("client local address: %s, peer: %s\n", local_text(c), peer_text(c));
    int a = accept(srv, NULL, NULL);
    check(a >= 0, "accepted");
    close(a);
    close(c);
    close(srv);

    /* A closed port. */
    int probe = socket(AF_INET, SOCK_STREAM, 0);
    len = make_addr(&ss, AF_INET, 1, 0);
    bind(probe, (struct sockaddr *)&ss, len);
    int closed_port = port_of(probe);
    close(probe);
    c = socket(AF_INET, SOCK_STREAM, 0);
    len = make_addr(&ss, AF_INET, 1, closed_port);
    err(connect(c, (struct sockaddr *)&ss, len), ECONNREFUSED, "blocking connect to a closed port");
    close(c);
    c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    err(connect(c, (struct sockaddr *)&ss, len), EINPROGRESS, "non-blocking connect to a closed port");
    p.fd = c;
    p.events = POLLIN | POLLOUT;
    poll(&p, 1, 5000);
    check(p.revents == (POLLIN | POLLOUT | POLLERR | POLLHUP), "refused: POLLIN|POLLOUT|POLLERR|POLLHUP");
    soerr = 0;
    elen = sizeof soerr;
    getsockopt(c, SOL_SOCKET, SO_ERROR, &soerr, &elen);
    check(soerr == ECONNREFUSED, "SO_ERROR ECONNREFUSED");
    close(c);
    c = socket(AF_INET6, SOCK_STREAM, 0);
    len = make_addr(&ss, AF_INET6, 1, closed_port);
    err(connect(c, (struct sockaddr *)&ss, len), ECONNREFUSED, "::1, closed port");
    close(c);
    c = socket(AF_INET, SOCK_STREAM, 0);
    len = make_addr(&ss, AF_INET6, 1, closed_port);
    err(connect(c, (struct sockaddr *)&ss, len), EAFNOSUPPORT, "a v6 address for a v4 socket");
    close(c);
}

static void test_bind_rules(void)
{
    printf("-- bind: EADDRINUSE, SO_REUSEADDR, SO_REUSEPORT, v6 and v4\n");
    int a = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_storage ss;
    socklen_t len = make_addr(&ss, AF_INET, 0, 0);
    ok(bind(a, (struct sockaddr *)&ss, len), "bind 0.0.0.0, ephemeral port");
    int port = port_of(a);
    check(port >= 1024, "an ephemeral port");
    printf("bound address: %s\n", local_text(a));
    err(bind(a, (struct sockaddr *)&ss, len), EINVAL, "bind twice");
    listen(a, 4);
    int b = socket(AF_INET, SOCK_STREAM, 0);
    len = make_addr(&ss, AF_INET, 1, port);
    err(bind(b, (struct sockaddr *)&ss, len), EADDRINUSE, "127.0.0.1 on a port 0.0.0.0 holds");
    int on = 1;
    setsockopt(b, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    err(bind(b, (struct sockaddr *)&ss, len), EADDRINUSE, "SO_REUSEADDR on one side only");
    close(b);
    int v6 = socket(AF_INET6, SOCK_STREAM, 0);
    len = make_addr(&ss, AF_INET6, 0, port);
    err(bind(v6, (struct sockaddr *)&ss, len), EADDRINUSE, ":: (dual stack) on the same port");
    close(v6);
    v6 = socket(AF_INET6, SOCK_STREAM, 0);
    ok(setsockopt(v6, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on), "IPV6_V6ONLY");
    ok(bind(v6, (struct sockaddr *)&ss, len), ":: with IPV6_V6ONLY on the same port");
    err(setsockopt(v6, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on), EINVAL, "IPV6_V6ONLY after bind");
    close(v6);
    close(a);

    /* Both with SO_REUSEADDR, neither listening: allowed. */
    int s1 = socket(AF_INET, SOCK_STREAM, 0), s2 = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(s1, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    setsockopt(s2, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    len = make_addr(&ss, AF_INET, 1, 0);
    bind(s1, (struct sockaddr *)&ss, len);
    len = make_addr(&ss, AF_INET, 1, port_of(s1));
    ok(bind(s2, (struct sockaddr *)&ss, len), "SO_REUSEADDR on both");
    ok(listen(s1, 1), "the first listens");
    err(listen(s2, 1), EADDRINUSE, "the second cannot listen too");
    close(s1);
    close(s2);
    /* SO_REUSEPORT: both may listen. */
    s1 = socket(AF_INET, SOCK_STREAM, 0);
    s2 = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(s1, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
    setsockopt(s2, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
    len = make_addr(&ss, AF_INET, 1, 0);
    bind(s1, (struct sockaddr *)&ss, len);
    len = make_addr(&ss, AF_INET, 1, port_of(s1));
    ok(bind(s2, (struct sockaddr *)&ss, len), "SO_REUSEPORT on both");
    check(listen(s1, 1) == 0 && listen(s2, 1) == 0, "both listen");
    close(s1);
    close(s2);

    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in bad = {.sin_family = AF_INET, .sin_port = 0};
    inet_pton(AF_INET, "192.0.2.1", &bad.sin_addr);
    err(bind(u, (struct sockaddr *)&bad, sizeof bad), EADDRNOTAVAIL, "bind an address the sandbox does not have");
    err(bind(u, (struct sockaddr *)&bad, 8), EINVAL, "a short address");
    close(u);
}

static void test_mapped(void)
{
    printf("-- v4-mapped addresses\n");
    int port;
    int srv4 = listener(AF_INET, 1, &port);
    int c = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 m = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
    inet_pton(AF_INET6, "::ffff:127.0.0.1", &m.sin6_addr);
    ok(connect(c, (struct sockaddr *)&m, sizeof m), "a v6 socket reaches a v4 listener");
    printf("v6 client local address: %s\n", local_text(c));
    int a = accept(srv4, NULL, NULL);
    printf("the v4 server sees: %s\n", peer_text(a));
    close(a);
    close(c);
    c = socket(AF_INET6, SOCK_STREAM, 0);
    int on = 1;
    setsockopt(c, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
    err(connect(c, (struct sockaddr *)&m, sizeof m), ENETUNREACH, "not with IPV6_V6ONLY");
    close(c);
    close(srv4);

    int srv6 = listener(AF_INET6, 0, &port);
    printf("dual-stack listener address: %s\n", local_text(srv6));
    c = connect_to(AF_INET, port, 0);
    check(c >= 0, "a v4 client reaches a :: listener");
    a = accept(srv6, NULL, NULL);
    printf("the v6 server sees: %s, local %s\n", peer_text(a), local_text(a));
    close(a);
    close(c);
    c = connect_to(AF_INET6, port, 0);
    a = accept(srv6, NULL, NULL);
    printf("and a v6 client: %s\n", peer_text(a));
    close(a);
    close(c);
    close(srv6);
}

static void test_shutdown_and_errors(void)
{
    printf("-- shutdown, EPIPE, resets, MSG_PEEK, options\n");
    int port;
    int srv = listener(AF_INET, 1, &port);
    int c = connect_to(AF_INET, port, 0);
    int a = accept(srv, NULL, NULL);
    char buf[64];
    err(recv(c, buf, sizeof buf, MSG_DONTWAIT), EAGAIN, "nothing to read: EAGAIN");
    send(a, "peekaboo", 8, 0);
    struct pollfd p = {c, POLLIN, 0};
    poll(&p, 1, 5000);
    check(recv(c, buf, 4, MSG_PEEK) == 4 && memcmp(buf, "peek", 4) == 0, "MSG_PEEK");
    check(recv(c, buf, sizeof buf, 0) == 8, "the data is still there");
    ok(shutdown(c, SHUT_WR), "client SHUT_WR");
    check(read(a, buf, sizeof buf) == 0, "the server reads end of file");
    p.fd = a;
    p.events = POLLIN | POLLOUT | POLLRDHUP;
    poll(&p, 1, 0);
    check(p.revents == (POLLIN | POLLOUT | POLLRDHUP), "server: POLLIN|POLLOUT|POLLRDHUP");
    check(write(a, "still", 5) == 5, "the server can still write");
    check(read(c, buf, sizeof buf) == 5, "the client reads it");
    err(write(c, "x", 1), EPIPE, "the client cannot write after SHUT_WR");
    check(sigpipes == 1, "SIGPIPE");
    close(a);
    p.fd = c;
    p.events = POLLIN | POLLOUT | POLLRDHUP;
    poll(&p, 1, 5000);
    check(p.revents == (POLLIN | POLLOUT | POLLRDHUP | POLLHUP), "both directions shut: POLLHUP");
    close(c);

    /* Writing to a peer that closed: the first write goes, the reset makes
     * the second EPIPE. */
    c = connect_to(AF_INET, port, 0);
    a = accept(srv, NULL, NULL);
    close(a);
    check(read(c, buf, sizeof buf) == 0, "end of file from the closed peer");
    check(write(c, "one", 3) == 3, "the first write after the close goes out");
    usleep(10000);
    sigpipes = 0;
    err(write(c, "two", 3), EPIPE, "the second: EPIPE");
    check(sigpipes == 1, "with SIGPIPE");
    int soerr = 0;
    socklen_t len = sizeof soerr;
    getsockopt(c, SOL_SOCKET, SO_ERROR, &soerr, &len);
    printf("SO_ERROR after the reset: %s\n", ename(soerr));
    close(c);

    /* Closing with unread data resets. */
    c = connect_to(AF_INET, port, 0);
    a = accept(srv, NULL, NULL);
    write(c, "unread", 6);
    p.fd = a;
    p.events = POLLIN;
    poll(&p, 1, 5000);
    close(a);
    err(read(c, buf, sizeof buf), ECONNRESET, "a close with unread data: ECONNRESET");
    close(c);

    /* Options. */
    c = socket(AF_INET, SOCK_STREAM, 0);
    int on = 1, v = 0;
    len = sizeof v;
    getsockopt(c, IPPROTO_TCP, TCP_NODELAY, &v, &len);
    check(v == 0, "TCP_NODELAY off by default");
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    len = sizeof v;
    getsockopt(c, IPPROTO_TCP, TCP_NODELAY, &v, &len);
    check(v == 1, "TCP_NODELAY set");
    setsockopt(c, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
    len = sizeof v;
    getsockopt(c, SOL_SOCKET, SO_KEEPALIVE, &v, &len);
    check(v == 1, "SO_KEEPALIVE set");
    len = sizeof v;
    getsockopt(c, IPPROTO_TCP, TCP_KEEPIDLE, &v, &len);
    check(v == 7200, "TCP_KEEPIDLE default");
    struct linger lg = {1, 5}, lg2;
    setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    len = sizeof lg2;
    getsockopt(c, SOL_SOCKET, SO_LINGER, &lg2, &len);
    check(lg2.l_onoff == 1 && lg2.l_linger == 5, "SO_LINGER");
    len = sizeof v;
    getsockopt(c, SOL_SOCKET, SO_REUSEADDR, &v, &len);
    check(v == 0, "SO_REUSEADDR off by default");
    v = 100000;
    setsockopt(c, SOL_SOCKET, SO_RCVBUF, &v, sizeof v);
    len = sizeof v;
    getsockopt(c, SOL_SOCKET, SO_RCVBUF, &v, &len);
    check(v == 200000, "SO_RCVBUF doubled");
    err(setsockopt(c, SOL_SOCKET, 9999, &on, sizeof on), ENOPROTOOPT, "an unknown option");
    err(setsockopt(c, SOL_SOCKET, SO_KEEPALIVE, &on, 2), EINVAL, "a short option value");
    err(getpeername(c, (struct sockaddr *)buf, &len), ENOTCONN, "getpeername unconnected");
    err(shutdown(c, SHUT_RDWR), ENOTCONN, "shutdown unconnected");
    err(send(c, "x", 1, 0), EPIPE, "send unconnected");
    close(c);
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    len = sizeof v;
    err(getsockopt(u, IPPROTO_TCP, TCP_NODELAY, &v, &len), EOPNOTSUPP, "TCP options on UDP");
    close(u);
    err(socket(AF_INET, SOCK_STREAM, IPPROTO_UDP), EPROTONOSUPPORT, "TCP socket with the UDP protocol");
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_storage ss;
    len = make_addr(&ss, AF_INET, 1, 0);
    bind(ls, (struct sockaddr *)&ss, len);
    listen(ls, 1);
    err(accept(ls, NULL, NULL), EAGAIN, "non-blocking accept with nothing pending");
    close(ls);
    close(srv);
}

static void test_udp(int family, const char *name)
{
    printf("-- UDP over %s\n", name);
    int s = socket(family, SOCK_DGRAM, 0);
    struct sockaddr_storage ss, from;
    socklen_t len = make_addr(&ss, family, 1, 0);
    ok(bind(s, (struct sockaddr *)&ss, len), "bind");
    int port = port_of(s);
    int c = socket(family, SOCK_DGRAM, 0);
    len = make_addr(&ss, family, 1, port);
    check(sendto(c, "datagram one", 12, 0, (struct sockaddr *)&ss, len) == 12, "sendto");
    check(sendto(c, "two", 3, 0, (struct sockaddr *)&ss, len) == 3, "sendto again");
    check(sendto(c, "", 0, 0, (struct sockaddr *)&ss, len) == 0, "an empty datagram");
    char buf[64];
    socklen_t flen = sizeof from;
    check(recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen) == 12, "one datagram");
    printf("from %s\n", addr_text(&from));
    int cport = port_of(c);
    int fport = from.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&from)->sin_port) : ntohs(((struct sockaddr_in6 *)&from)->sin6_port);
    check(cport == fport, "the sender's port (bound by the send)");
    printf("the sender is bound to %s\n", local_text(c));
    check(recv(s, buf, 2, 0) == 2, "a short read");
    check(recv(s, buf, sizeof buf, MSG_DONTWAIT) == 0, "the rest was dropped; the empty datagram");
    err(recv(s, buf, sizeof buf, MSG_DONTWAIT), EAGAIN, "nothing left");
    /* Connected UDP. */
    ok(connect(c, (struct sockaddr *)&ss, len), "connect");
    printf("connected UDP local address: %s\n", local_text(c));
    check(send(c, "conn", 4, 0) == 4, "send");
    check(recv(s, buf, sizeof buf, 0) == 4, "received");
    close(s);
    check(send(c, "nobody", 6, 0) == 6, "send to a closed port");
    usleep(10000);
    err(recv(c, buf, sizeof buf, MSG_DONTWAIT), ECONNREFUSED, "the next call: ECONNREFUSED");
    err(recv(c, buf, sizeof buf, MSG_DONTWAIT), EAGAIN, "reported once");
    close(c);
    /* Large datagrams. */
    s = socket(family, SOCK_DGRAM, 0);
    len = make_addr(&ss, family, 1, 0);
    bind(s, (struct sockaddr *)&ss, len);
    len = make_addr(&ss, family, 1, port_of(s));
    char *big = calloc(1, 70000);
    c = socket(family, SOCK_DGRAM, 0);
    check(sendto(c, big, 60000, 0, (struct sockaddr *)&ss, len) == 60000, "a 60000-byte datagram");
    check(recv(s, big, 70000, 0) == 60000, "arrives whole");
    err(sendto(c, big, 70000, 0, (struct sockaddr *)&ss, len), EMSGSIZE, "70000 bytes: EMSGSIZE");
    err(send(c, big, 10, 0), EDESTADDRREQ, "send without a destination");
    free(big);
    close(c);
    close(s);
}

static void test_udp_mapped(void)
{
    printf("-- UDP: a dual-stack receiver\n");
    int s = socket(AF_INET6, SOCK_DGRAM, 0);
    struct sockaddr_storage ss, from;
    socklen_t len = make_addr(&ss, AF_INET6, 0, 0);
    bind(s, (struct sockaddr *)&ss, len);
    int c = socket(AF_INET, SOCK_DGRAM, 0);
    len = make_addr(&ss, AF_INET, 1, port_of(s));
    sendto(c, "v4", 2, 0, (struct sockaddr *)&ss, len);
    char buf[8];
    socklen_t flen = sizeof from;
    check(recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen) == 2, "a v4 datagram for ::");
    printf("from %s (family %s)\n", addr_text(&from), from.ss_family == AF_INET6 ? "AF_INET6" : "AF_INET");
    close(c);
    close(s);
}

static void echo_client(int port, int id)
{
    int c = connect_to(AF_INET, port, 0);
    if (c < 0)
        _exit(10);
    for (int j = 0; j < 20; j++) {
        char msg[64], back[64];
        int n = snprintf(msg, sizeof msg, "client %d message %d", id, j);
        if (write(c, msg, n) != n)
            _exit(11);
        int got = 0;
        while (got < n) {
            int r = read(c, back + got, n - got);
            if (r <= 0)
                _exit(12);
            got += r;
        }
        if (memcmp(msg, back, n))
            _exit(13);
    }
    close(c);
    _exit(0);
}

static void test_epoll_echo(void)
{
    printf("-- epoll echo server, 4 clients\n");
    int port;
    int srv = listener(AF_INET, 1, &port);
    fcntl(srv, F_SETFL, O_NONBLOCK);
    pid_t pids[4];
    for (int i = 0; i < 4; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            close(srv);
            echo_client(port, i);
        }
    }
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = srv};
    epoll_ctl(ep, EPOLL_CTL_ADD, srv, &ev);
    int accepted = 0, closed = 0;
    long echoed = 0;
    while (closed < 4) {
        struct epoll_event out[8];
        int n = epoll_wait(ep, out, 8, 10000);
        if (n <= 0) {
            printf("epoll_wait: FAIL %d\n", n);
            failures++;
            break;
        }
        for (int i = 0; i < n; i++) {
            int fd = out[i].data.fd;
            if (fd == srv) {
                int c;
                while ((c = accept4(srv, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    struct epoll_event cev = {.events = EPOLLIN | EPOLLRDHUP, .data.fd = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
                    accepted++;
                }
                continue;
            }
            char buf[256];
            for (;;) {
                ssize_t r = read(fd, buf, sizeof buf);
                if (r > 0) {
                    write(fd, buf, r);
                    echoed += r;
                    continue;
                }
                if (r == 0) {
                    epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
                    close(fd);
                    closed++;
                }
                break;
            }
        }
    }
    int good = 0;
    for (int i = 0; i < 4; i++) {
        int status;
        waitpid(pids[i], &status, 0);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
            good++;
    }
    printf("accepted %d, closed %d, bytes echoed %ld, clients ok %d\n", accepted, closed, echoed, good);
    check(good == 4, "every client got its echoes");
    close(ep);
    close(srv);
}

static void test_unreachable(void)
{
    printf("-- off loopback (sandbox only)\n");
    int c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(80)};
    inet_pton(AF_INET, "192.0.2.1", &a.sin_addr);
    err(connect(c, (struct sockaddr *)&a, sizeof a), ENETUNREACH, "TCP connect off loopback");
    close(c);
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    err(sendto(u, "x", 1, 0, (struct sockaddr *)&a, sizeof a), ENETUNREACH, "UDP sendto off loopback");
    close(u);
}

/* MSG_MORE builds one datagram across sends (the first send's destination);
 * socket()/socketpair() report type and protocol errors first. */
static void test_udp_more_and_kinds(void)
{
    printf("-- UDP MSG_MORE, socket kinds\n");
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_storage ss;
    socklen_t len = make_addr(&ss, AF_INET, 1, 0);
    bind(s, (struct sockaddr *)&ss, len);
    getsockname(s, (struct sockaddr *)&ss, &len);
    int c = socket(AF_INET, SOCK_DGRAM, 0);
    checkf(sendto(c, "abc", 3, MSG_MORE, (struct sockaddr *)&ss, len) == 3, "MSG_MORE send returns its length",
           "%ld%ld", 0, 0);
    char buf[64];
    err(recv(s, buf, sizeof buf, MSG_DONTWAIT), EAGAIN, "nothing sent while corked");
    checkf(send(c, "de", 2, MSG_MORE) == 2, "a second corked send needs no address", "%ld%ld", 0, 0);
    checkf(sendto(c, "f", 1, 0, (struct sockaddr *)&ss, len) == 1, "the last send returns its own length",
           "%ld%ld", 0, 0);
    long n = recv(s, buf, sizeof buf, MSG_DONTWAIT);
    check(n == 6 && memcmp(buf, "abcdef", 6) == 0, "one datagram of all three");
    err(send(c, "x", 1, MSG_MORE), EDESTADDRREQ, "MSG_MORE without a destination");
    close(c);
    close(s);
    int sv[2];
    err(socket(AF_INET, SOCK_RAW, 0), EPROTONOSUPPORT, "raw socket with protocol 0");
    err(socketpair(AF_INET, SOCK_DGRAM, IPPROTO_TCP, sv), EPROTONOSUPPORT, "inet socketpair: protocol first");
    err(socketpair(AF_INET, SOCK_STREAM, 0, sv), EOPNOTSUPP, "inet socketpair");
    err(socketpair(AF_INET, 75, 0, sv), EINVAL, "socketpair bad type");
    int u = socket(AF_INET, SOCK_STREAM, 0);
    err(ioctl(u, SIOCATMARK, (void *)8), EFAULT, "SIOCATMARK bad pointer");
    int mark = -1;
    check(ioctl(u, SIOCATMARK, &mark) == 0 && mark == 0, "SIOCATMARK: not at a mark");
    close(u);
    int p = open(".", O_PATH);
    err(accept(p, NULL, NULL), EBADF, "accept on O_PATH");
    close(p);
}

/* TCP MSG_MORE: the bytes wait for a send without it (or the end of the
 * connection) before the peer sees them. */
static void test_tcp_more(void)
{
    printf("-- TCP MSG_MORE\n");
    int port;
    int srv = listener(AF_INET, 1, &port);
    int c = connect_to(AF_INET, port, 0);
    int conn = accept(srv, NULL, NULL);
    char buf[64];
    check(send(c, "abc", 3, MSG_MORE) == 3, "a MSG_MORE send returns its length");
    err(recv(conn, buf, sizeof buf, MSG_DONTWAIT), EAGAIN, "held back from the peer");
    check(send(c, "d", 1, 0) == 1, "a plain send");
    ssize_t n = recv(conn, buf, sizeof buf, 0);
    check(n == 4 && memcmp(buf, "abcd", 4) == 0, "pushes both, in order");
    check(send(c, "xyz", 3, MSG_MORE) == 3, "held again");
    close(c);
    n = recv(conn, buf, sizeof buf, 0);
    check(n == 3 && memcmp(buf, "xyz", 3) == 0, "closing pushes what was held");
    check(recv(conn, buf, sizeof buf, 0) == 0, "then end of file");
    close(conn);
    close(srv);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, on_sigpipe);
    if (argc > 1 && strcmp(argv[1], "unreach") == 0) {
        test_unreachable();
        return finish();
    }
    test_tcp_basic(AF_INET, "127.0.0.1");
    test_tcp_basic(AF_INET6, "::1");
    test_connect_states();
    test_bind_rules();
    test_mapped();
    test_shutdown_and_errors();
    test_udp(AF_INET, "127.0.0.1");
    test_udp(AF_INET6, "::1");
    test_udp_mapped();
    test_epoll_echo();
    test_udp_more_and_kinds();
    test_tcp_more();
    return finish();
}
