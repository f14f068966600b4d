/* sockets_unix: AF_UNIX sockets compared with Linux: socketpair of each
 * type, message boundaries, MSG_PEEK/DONTWAIT/WAITALL/TRUNC, SCM_RIGHTS
 * (across fork, MSG_CTRUNC, MSG_CMSG_CLOEXEC) and SCM_CREDENTIALS,
 * named sockets in /tmp and in the abstract namespace, listen backlog,
 * EPIPE/SIGPIPE, poll/epoll readiness, sendmmsg/recvmmsg, bulk transfer.
 * Prints only deterministic facts and failures=N. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "abi_check.h"

static volatile int sigpipes;
static void on_sigpipe(int sig)
{
    (void)sig;
    sigpipes++;
}

static int send_fds(int sock, const int *fds, int n, const char *data)
{
    char control[CMSG_SPACE(sizeof(int) * 8)];
    memset(control, 0, sizeof control);
    struct iovec iov = {(void *)data, strlen(data)};
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * n);
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * n);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
    return sendmsg(sock, &msg, 0);
}

/* Receives up to `max` descriptors; returns how many came, -1 on error. */
static int recv_fds(int sock, int *fds, int max, char *data, size_t len, int flags, int *msg_flags)
{
    char control[CMSG_SPACE(sizeof(int) * 8)];
    struct iovec iov = {data, len};
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = max ? CMSG_LEN(sizeof(int) * max) : 0;
    if (!max)
        msg.msg_control = NULL;
    ssize_t r = recvmsg(sock, &msg, flags);
    if (r < 0)
        return -1;
    data[r < (ssize_t)len ? r : (ssize_t)len - 1] = 0;
    if (msg_flags)
        *msg_flags = msg.msg_flags;
    int n = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            int k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            memcpy(fds + n, CMSG_DATA(c), k * sizeof(int));
            n += k;
        }
    }
    return n;
}

static void test_stream_pair(void)
{
    printf("-- stream pair\n");
    int sv[2];
    ok(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), "socketpair stream");
    int type = 0, domain = 0;
    socklen_t len = sizeof type;
    getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &type, &len);
    len = sizeof domain;
    getsockopt(sv[0], SOL_SOCKET, SO_DOMAIN, &domain, &len);
    check(type == SOCK_STREAM && domain == AF_UNIX, "SO_TYPE and SO_DOMAIN");
    struct ucred cred;
    len = sizeof cred;
    ok(getsockopt(sv[1], SOL_SOCKET, SO_PEERCRED, &cred, &len), "SO_PEERCRED");
    check(len == sizeof cred && cred.pid == getpid() && cred.uid == geteuid(), "peer credentials are ours");
    struct stat st;
    check(fstat(sv[0], &st) == 0 && S_ISSOCK(st.st_mode), "fstat: a socket");
    char buf[64];
    err(recv(sv[1], buf, sizeof buf, MSG_DONTWAIT), EAGAIN, "empty, MSG_DONTWAIT");
    check(write(sv[0], "hello", 5) == 5 && send(sv[0], " world", 6, 0) == 6, "write and send");
    int avail = 0;
    ioctl(sv[1], FIONREAD, &avail);
    check(avail == 11, "FIONREAD counts both writes");
    check(recv(sv[1], buf, 5, MSG_PEEK) == 5 && memcmp(buf, "hello", 5) == 0, "MSG_PEEK");
    ssize_t n = read(sv[1], buf, sizeof buf);
    check(n == 11 && memcmp(buf, "hello world", 11) == 0, "a stream joins writes");
    struct pollfd p = {sv[1], POLLIN | POLLOUT | POLLRDHUP, 0};
    poll(&p, 1, 0);
    check(p.revents == POLLOUT, "idle: writable only");
    ok(shutdown(sv[0], SHUT_WR), "shutdown SHUT_WR");
    poll(&p, 1, 0);
    check(p.revents == (POLLIN | POLLOUT | POLLRDHUP), "peer sees POLLIN|POLLRDHUP");
    check(read(sv[1], buf, sizeof buf) == 0, "end of file after shutdown");
    err(write(sv[0], "x", 1), EPIPE, "write after own SHUT_WR");
    check(write(sv[1], "back", 4) == 4, "the other direction still works");
    check(read(sv[0], buf, sizeof buf) == 4, "read it");
    close(sv[0]);
    poll(&p, 1, 0);
    check(p.revents & POLLHUP, "POLLHUP after the peer closes");
    sigpipes = 0;
    err(write(sv[1], "x", 1), EPIPE, "write to a closed peer");
    check(sigpipes == 1, "SIGPIPE sent");
    err(send(sv[1], "x", 1, MSG_NOSIGNAL), EPIPE, "MSG_NOSIGNAL");
    check(sigpipes == 1, "no SIGPIPE with MSG_NOSIGNAL");
    close(sv[1]);

    /* Unread data when the peer closes: ECONNRESET? (no: AF_UNIX keeps it
     * quiet for the reader of the other direction) */
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    write(sv[0], "abc", 3);
    close(sv[1]);
    err(read(sv[0], buf, sizeof buf), ECONNRESET, "closing with unread data resets the peer");
    check(read(sv[0], buf, sizeof buf) == 0, "then end of file");
    close(sv[0]);
}

static void test_dgram_pair(void)
{
    printf("-- dgram pair\n");
    int sv[2];
    ok(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), "socketpair dgram with flags");
    check((fcntl(sv[0], F_GETFL) & O_NONBLOCK) && (fcntl(sv[0], F_GETFD) & FD_CLOEXEC), "flags applied");
    char buf[64];
    err(recv(sv[1], buf, sizeof buf, 0), EAGAIN, "empty non-blocking");
    send(sv[0], "one", 3, 0);
    send(sv[0], "twotwo", 6, 0);
    send(sv[0], "", 0, 0);
    int avail = 0;
    ioctl(sv[1], FIONREAD, &avail);
    check(avail == 3, "FIONREAD: the next datagram");
    check(recv(sv[1], buf, sizeof buf, 0) == 3, "first datagram whole");
    struct iovec iov = {buf, 3};
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    ssize_t n = recvmsg(sv[1], &msg, 0);
    check(n == 3 && (msg.msg_flags & MSG_TRUNC), "truncated datagram: MSG_TRUNC");
    check(recv(sv[1], buf, sizeof buf, 0) == 0, "empty datagram");
    send(sv[0], "abcdef", 6, 0);
    check(recv(sv[1], buf, 2, MSG_TRUNC) == 6, "recv MSG_TRUNC gives the real length");
    err(recv(sv[1], buf, sizeof buf, 0), EAGAIN, "drained");

    /* sendmmsg / recvmmsg */
    struct mmsghdr out[3];
    struct iovec oiov[3];
    const char *texts[3] = {"a", "bb", "ccc"};
    memset(out, 0, sizeof out);
    for (int i = 0; i < 3; i++) {
        oiov[i].iov_base = (void *)texts[i];
        oiov[i].iov_len = strlen(texts[i]);
        out[i].msg_hdr.msg_iov = &oiov[i];
        out[i].msg_hdr.msg_iovlen = 1;
    }
    check(sendmmsg(sv[0], out, 3, 0) == 3 && out[2].msg_len == 3, "sendmmsg: 3 messages");
    struct mmsghdr in[4];
    struct iovec iiov[4];
    char bufs[4][16];
    memset(in, 0, sizeof in);
    for (int i = 0; i < 4; i++) {
        iiov[i].iov_base = bufs[i];
        iiov[i].iov_len = sizeof bufs[i];
        in[i].msg_hdr.msg_iov = &iiov[i];
        in[i].msg_hdr.msg_iovlen = 1;
    }
    int got = recvmmsg(sv[1], in, 4, 0, NULL);
    check(got == 3 && in[0].msg_len == 1 && in[1].msg_len == 2 && in[2].msg_len == 3, "recvmmsg: 3 messages");
    close(sv[0]);
    close(sv[1]);
}

static void test_seqpacket_pair(void)
{
    printf("-- seqpacket pair\n");
    int sv[2];
    ok(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), "socketpair seqpacket");
    char buf[64];
    write(sv[0], "first", 5);
    write(sv[0], "second", 6);
    check(read(sv[1], buf, sizeof buf) == 5, "record boundaries kept");
    check(read(sv[1], buf, 3) == 3, "a short read takes one record");
    struct pollfd p = {sv[1], POLLIN, 0};
    check(poll(&p, 1, 0) == 0, "the rest of that record is gone");
    close(sv[0]);
    check(read(sv[1], buf, sizeof buf) == 0, "end of file after the peer closes");
    close(sv[1]);
}

static void test_rights(int type, const char *name)
{
    printf("-- SCM_RIGHTS over %s, across fork\n", name);
    int sv[2];
    socketpair(AF_UNIX, type, 0, sv);
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        /* The child hands the parent a pipe it wrote into. */
        int p[2];
        pipe(p);
        write(p[1], "from the child", 14);
        close(p[1]);
        if (send_fds(sv[1], &p[0], 1, "pipe") < 0)
            _exit(1);
        close(p[0]);
        /* And gets a descriptor from the parent to write into. */
        int fd;
        char data[16];
        if (recv_fds(sv[1], &fd, 1, data, sizeof data, 0, NULL) != 1)
            _exit(2);
        write(fd, "child wrote this", 16);
        _exit(0);
    }
    close(sv[1]);
    int fd = -1;
    char data[16];
    check(recv_fds(sv[0], &fd, 1, data, sizeof data, 0, NULL) == 1 && strcmp(data, "pipe") == 0, "descriptor received with its data");
    char buf[32] = {0};
    check(read(fd, buf, sizeof buf) == 14 && memcmp(buf, "from the child", 14) == 0, "read the child's pipe");
    close(fd);
    char path[64];
    snprintf(path, sizeof path, "/tmp/rvisor-rights-%d", getpid());
    int file = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    unlink(path);
    send_fds(sv[0], &file, 1, "file");
    int status;
    waitpid(pid, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child done");
    memset(buf, 0, sizeof buf);
    check(pread(file, buf, sizeof buf, 0) == 16 && memcmp(buf, "child wrote this", 16) == 0, "the child wrote through the passed file");
    check(lseek(file, 0, SEEK_CUR) == 16, "the offset is shared (one open file)");
    close(file);
    close(sv[0]);
}

static void test_rights_truncated(void)
{
    printf("-- MSG_CTRUNC, MSG_CMSG_CLOEXEC\n");
    int sv[2];
    socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
    int p[2];
    pipe(p);
    int two[2] = {p[0], p[1]};
    send_fds(sv[0], two, 2, "two");
    int got[8], flags = 0;
    char data[16];
    int n = recv_fds(sv[1], got, 1, data, sizeof data, 0, &flags);
    check(n == 1 && (flags & MSG_CTRUNC), "room for one: one descriptor and MSG_CTRUNC");
    close(got[0]);
    send_fds(sv[0], two, 2, "none");
    n = recv_fds(sv[1], got, 0, data, sizeof data, 0, &flags);
    check(n == 0 && (flags & MSG_CTRUNC), "no control buffer: MSG_CTRUNC");
    send_fds(sv[0], two, 2, "cloexec");
    n = recv_fds(sv[1], got, 2, data, sizeof data, MSG_CMSG_CLOEXEC, &flags);
    check(n == 2 && !(flags & MSG_CTRUNC), "both received");
    check((fcntl(got[0], F_GETFD) & FD_CLOEXEC) && (fcntl(got[1], F_GETFD) & FD_CLOEXEC), "MSG_CMSG_CLOEXEC");
    write(got[1], "z", 1);
    char c = 0;
    check(read(p[0], &c, 1) == 1 && c == 'z', "the received write end is the pipe's");
    close(got[0]);
    close(got[1]);
    int bad = 999;
    err(send_fds(sv[0], &bad, 1, "bad"), EBADF, "a closed descriptor: EBADF");
    close(p[0]);
    close(p[1]);
    close(sv[0]);
    close(sv[1]);
}

static void test_credentials(void)
{
    printf("-- SCM_CREDENTIALS\n");
    int sv[2];
    socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
    int on = 1;
    ok(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof on), "SO_PASSCRED");
    pid_t pid = fork();
    if (pid == 0) {
        send(sv[0], "hi", 2, 0);
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    char control[CMSG_SPACE(sizeof(struct ucred))];
    char buf[8];
    struct iovec iov = {buf, sizeof buf};
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    check(recvmsg(sv[1], &msg, 0) == 2, "message received");
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    check(c && c->cmsg_type == SCM_CREDENTIALS, "credentials attached");
    if (c) {
        struct ucred cred;
        memcpy(&cred, CMSG_DATA(c), sizeof cred);
        check(cred.pid == pid && cred.uid == getuid() && cred.gid == getgid(), "the sender's pid, uid and gid");
    }
    close(sv[0]);
    close(sv[1]);
}

static void test_named(void)
{
    printf("-- named stream socket across fork\n");
    char path[64];
    snprintf(path, sizeof path, "/tmp/rvisor-sock-%d", getpid());
    unlink(path);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    strcpy(addr.sun_path, path);
    socklen_t alen = offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1;
    int srv = socket(AF_UNIX, SOCK_STREAM, 0);
    ok(bind(srv, (struct sockaddr *)&addr, alen), "bind to a path");
    struct stat st;
    check(stat(path, &st) == 0 && S_ISSOCK(st.st_mode), "the path is a socket node");
    err(open(path, O_RDWR), ENXIO, "open a socket node");
    int other = socket(AF_UNIX, SOCK_STREAM, 0);
    err(bind(other, (struct sockaddr *)&addr, alen), EADDRINUSE, "bind again");
    err(connect(other, (struct sockaddr *)&addr, alen), ECONNREFUSED, "connect before listen");
    err(bind(srv, (struct sockaddr *)&addr, alen), EADDRINUSE, "bind a bound socket to its own path");
    struct sockaddr_un addr2 = addr;
    strcat(addr2.sun_path, "-2");
    err(bind(srv, (struct sockaddr *)&addr2, sizeof addr2), EINVAL, "bind a bound socket to a new path");
    err(unlink(addr2.sun_path), ENOENT, "no node left behind");
    ok(listen(srv, 4), "listen");
    int acc = 0;
    socklen_t len = sizeof acc;
    getsockopt(srv, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len);
    check(acc == 1, "SO_ACCEPTCONN");
    struct sockaddr_un got;
    len = sizeof got;
    check(getsockname(srv, (struct sockaddr *)&got, &len) == 0 && len == alen && strcmp(got.sun_path, path) == 0, "getsockname: the path");
    pid_t pid = fork();
    if (pid == 0) {
        int c = socket(AF_UNIX, SOCK_STREAM, 0);
        if (connect(c, (struct sockaddr *)&addr, alen) < 0)
            _exit(1);
        struct sockaddr_un peer;
        socklen_t plen = sizeof peer;
        if (getpeername(c, (struct sockaddr *)&peer, &plen) < 0 || strcmp(peer.sun_path, addr.sun_path))
            _exit(2);
        write(c, "ping", 4);
        char b[8];
        if (read(c, b, sizeof b) != 4 || memcmp(b, "pong", 4))
            _exit(3);
        _exit(0);
    }
    struct pollfd p = {srv, POLLIN, 0};
    check(poll(&p, 1, 5000) == 1 && p.revents == POLLIN, "listener: POLLIN for a connection");
    len = sizeof got;
    int conn = accept4(srv, (struct sockaddr *)&got, &len, SOCK_CLOEXEC);
    check(conn >= 0 && (fcntl(conn, F_GETFD) & FD_CLOEXEC), "accept4 SOCK_CLOEXEC");
    check(len == sizeof(sa_family_t), "the client is unnamed");
    char b[8];
    check(read(conn, b, sizeof b) == 4 && memcmp(b, "ping", 4) == 0, "server reads ping");
    write(conn, "pong", 4);
    struct ucred cred;
    len = sizeof cred;
    getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &len);
    check(cred.pid == pid, "SO_PEERCRED: the client's pid");
    int status;
    waitpid(pid, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "client ok");
    close(conn);
    close(srv);
    err(connect(other, (struct sockaddr *)&addr, alen), ECONNREFUSED, "connect after the server closed");
    ok(unlink(path), "unlink the socket node");
    err(connect(other, (struct sockaddr *)&addr, alen), ENOENT, "connect to a missing path");
    close(other);

    /* mknod S_IFSOCK: a node without a socket. */
    ok(mknod(path, S_IFSOCK | 0600, 0), "mknod S_IFSOCK");
    other = socket(AF_UNIX, SOCK_STREAM, 0);
    err(connect(other, (struct sockaddr *)&addr, alen), ECONNREFUSED, "connect to a bare socket node");
    unlink(path);
    /* A regular file is no socket. */
    close(open(path, O_CREAT | O_WRONLY, 0600));
    err(connect(other, (struct sockaddr *)&addr, alen), ECONNREFUSED, "connect to a regular file");
    unlink(path);
    close(other);
}

static void test_abstract_and_backlog(void)
{
    printf("-- abstract names, backlog\n");
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    int nlen = snprintf(addr.sun_path + 1, sizeof addr.sun_path - 1, "rvisor-abstract-%d", getpid());
    socklen_t alen = offsetof(struct sockaddr_un, sun_path) + 1 + nlen;
    int srv = socket(AF_UNIX, SOCK_STREAM, 0);
    ok(bind(srv, (struct sockaddr *)&addr, alen), "bind an abstract name");
    int other = socket(AF_UNIX, SOCK_STREAM, 0);
    err(bind(other, (struct sockaddr *)&addr, alen), EADDRINUSE, "the abstract name is taken");
    close(other);
    ok(listen(srv, 1), "listen, backlog 1");
    int c[3];
    int results[3];
    for (int i = 0; i < 3; i++) {
        c[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
        results[i] = connect(c[i], (struct sockaddr *)&addr, alen) == 0 ? 0 : errno;
    }
    check(results[0] == 0 && results[1] == 0, "two connections fit a backlog of 1");
    errno = results[2];
    err(results[2] ? -1 : 0, EAGAIN, "the third: EAGAIN (non-blocking)");
    int a = accept(srv, NULL, NULL);
    check(a >= 0, "accept one");
    check(connect(c[2], (struct sockaddr *)&addr, alen) == 0, "then it fits");
    write(c[0], "x", 1);
    char ch;
    check(read(a, &ch, 1) == 1, "the first connection carries data");
    /* The server closes with connections never accepted: reset. */
    close(srv);
    err(read(c[1], &ch, 1), ECONNRESET, "unaccepted connection reset by the listener's close");
    err(connect(socket(AF_UNIX, SOCK_STREAM, 0), (struct sockaddr *)&addr, alen), ECONNREFUSED, "the name is gone with the socket");
    for (int i = 0; i < 3; i++)
        close(c[i]);
    close(a);

    /* Autobind: an abstract name of 5 hex digits. */
    int s = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    ok(bind(s, (struct sockaddr *)&un, sizeof(sa_family_t)), "autobind");
    struct sockaddr_un got;
    socklen_t len = sizeof got;
    getsockname(s, (struct sockaddr *)&got, &len);
    check(len == sizeof(sa_family_t) + 6 && got.sun_path[0] == 0, "autobound name: NUL and 5 characters");
    close(s);
}

static void test_named_dgram(void)
{
    printf("-- named datagram sockets\n");
    char spath[64], cpath[64];
    snprintf(spath, sizeof spath, "/tmp/rvisor-dg-s-%d", getpid());
    snprintf(cpath, sizeof cpath, "/tmp/rvisor-dg-c-%d", getpid());
    unlink(spath);
    unlink(cpath);
    struct sockaddr_un saddr = {.sun_family = AF_UNIX}, caddr = {.sun_family = AF_UNIX};
    strcpy(saddr.sun_path, spath);
    strcpy(caddr.sun_path, cpath);
    int s = socket(AF_UNIX, SOCK_DGRAM, 0);
    bind(s, (struct sockaddr *)&saddr, sizeof saddr);
    int c = socket(AF_UNIX, SOCK_DGRAM, 0);
    err(send(c, "x", 1, 0), ENOTCONN, "send unconnected without address");
    check(sendto(c, "anon", 4, 0, (struct sockaddr *)&saddr, sizeof saddr) == 4, "sendto a path");
    struct sockaddr_un from;
    socklen_t flen = sizeof from;
    char buf[16];
    check(recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen) == 4 && flen == 0, "from an unnamed sender: no address");
    bind(c, (struct sockaddr *)&caddr, sizeof caddr);
    sendto(c, "named", 5, 0, (struct sockaddr *)&saddr, sizeof saddr);
    flen = sizeof from;
    check(recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen) == 5 && strcmp(from.sun_path, cpath) == 0, "from a named sender: its path");
    ok(connect(c, (struct sockaddr *)&saddr, sizeof saddr), "connect a datagram socket");
    check(send(c, "conn", 4, 0) == 4, "send to the connected peer");
    check(recv(s, buf, sizeof buf, 0) == 4, "received");
    /* Fill the server: max_dgram_qlen for unconnected senders. */
    int d = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    int sent = 0;
    while (sent < 100 && sendto(d, "q", 1, 0, (struct sockaddr *)&saddr, sizeof saddr) == 1)
        sent++;
    check(sent > 1 && sent < 100 && errno == EAGAIN, "a full receiver: EAGAIN");
    close(d);
    close(s);
    err(send(c, "gone", 4, 0), ECONNREFUSED, "the connected peer closed: ECONNREFUSED");
    close(c);
    unlink(spath);
    unlink(cpath);
}

static void test_epoll(void)
{
    printf("-- epoll and socketpairs\n");
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.fd = sv[1]};
    epoll_ctl(ep, EPOLL_CTL_ADD, sv[1], &ev);
    struct epoll_event out[2];
    check(epoll_wait(ep, out, 2, 0) == 0, "nothing yet");
    write(sv[0], "e", 1);
    check(epoll_wait(ep, out, 2, 0) == 1 && out[0].events == EPOLLIN, "EPOLLIN");
    char c;
    read(sv[1], &c, 1);
    shutdown(sv[0], SHUT_WR);
    check(epoll_wait(ep, out, 2, 0) == 1 && out[0].events == (EPOLLIN | EPOLLRDHUP), "EPOLLRDHUP after shutdown");
    close(sv[0]);
    check(epoll_wait(ep, out, 2, 0) == 1 && (out[0].events & EPOLLHUP), "EPOLLHUP after close");
    close(sv[1]);
    close(ep);

    /* Blocking reader woken by a writer in another process. */
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    pid_t pid = fork();
    if (pid == 0) {
        usleep(20000);
        write(sv[1], "late", 4);
        _exit(0);
    }
    char buf[8];
    check(read(sv[0], buf, sizeof buf) == 4, "a blocking read waits for the writer");
    waitpid(pid, NULL, 0);
    close(sv[0]);
    close(sv[1]);
}

static void test_waitall_timeout(void)
{
    printf("-- MSG_WAITALL, SO_RCVTIMEO, SO_SNDBUF\n");
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    pid_t pid = fork();
    if (pid == 0) {
        for (int i = 0; i < 3; i++) {
            usleep(10000);
            write(sv[1], "0123456789", 10);
        }
        _exit(0);
    }
    char buf[64];
    check(recv(sv[0], buf, 30, MSG_WAITALL) == 30, "MSG_WAITALL collects three writes");
    waitpid(pid, NULL, 0);
    struct timeval tv = {0, 40000};
    ok(setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), "SO_RCVTIMEO");
    struct timeval back;
    socklen_t len = sizeof back;
    getsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &back, &len);
    check(back.tv_sec == 0 && back.tv_usec == 40000, "read back");
    err(read(sv[0], buf, sizeof buf), EAGAIN, "read times out: EAGAIN");
    int size = 65536;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    len = sizeof size;
    getsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &size, &len);
    check(size == 131072, "SO_SNDBUF doubles what is asked");
    close(sv[0]);
    close(sv[1]);
}

static void test_bulk(void)
{
    printf("-- bulk transfer across fork\n");
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    const size_t total = 4 << 20;
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        char *data = malloc(total);
        uint32_t x = 12345;
        for (size_t i = 0; i < total; i++) {
            x = x * 1103515245 + 12345;
            data[i] = x >> 16;
        }
        size_t done = 0;
        while (done < total) {
            ssize_t n = write(sv[1], data + done, total - done);
            if (n <= 0)
                _exit(1);
            done += n;
        }
        _exit(0);
    }
    close(sv[1]);
    uint32_t x = 12345, sum_expected = 0, sum = 0;
    for (size_t i = 0; i < total; i++) {
        x = x * 1103515245 + 12345;
        sum_expected = sum_expected * 31 + (uint8_t)(x >> 16);
    }
    size_t got = 0;
    char buf[65536];
    for (;;) {
        ssize_t n = read(sv[0], buf, sizeof buf);
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            sum = sum * 31 + (uint8_t)buf[i];
        got += n;
    }
    int status;
    waitpid(pid, &status, 0);
    check(got == total && sum == sum_expected, "4 MiB arrive intact");
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer done");
    close(sv[0]);
}

static void test_errors(void)
{
    printf("-- errors\n");
    int p[2];
    pipe(p);
    struct sockaddr_un a;
    socklen_t len = sizeof a;
    err(getsockname(p[0], (struct sockaddr *)&a, &len), ENOTSOCK, "getsockname on a pipe");
    err(socket(AF_UNIX, 9, 0), ESOCKTNOSUPPORT, "unknown socket type");
    err(socket(AF_UNIX, 12, 0), EINVAL, "socket type past SOCK_MAX");
    err(socket(AF_UNIX, SOCK_STREAM, 7), EPROTONOSUPPORT, "unknown protocol");
    err(socket(AF_UNIX, SOCK_STREAM | 0x100000, 0), EINVAL, "unknown flag");
    err(socketpair(AF_INET, SOCK_STREAM, 0, p), EOPNOTSUPP, "socketpair AF_INET");
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    err(listen(s, 1), EINVAL, "listen unbound");
    err(accept(s, NULL, NULL), EINVAL, "accept without listen");
    char c;
    err(read(s, &c, 1), EINVAL, "read an unconnected stream socket");
    err(write(s, "x", 1), ENOTCONN, "write an unconnected stream socket");
    err(getpeername(s, (struct sockaddr *)&a, &len), ENOTCONN, "getpeername unconnected");
    err(shutdown(s, 7), EINVAL, "shutdown with a bad how");
    int d = socket(AF_UNIX, SOCK_DGRAM, 0);
    err(listen(d, 1), EOPNOTSUPP, "listen on a datagram socket");
    int sv[2];
    socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
    int big = 300000;
    char *buf = calloc(1, big);
    err(send(sv[0], buf, big, 0), EMSGSIZE, "a datagram larger than the send buffer");
    free(buf);
    close(s);
    close(d);
    close(sv[0]);
    close(sv[1]);
    close(p[0]);
    close(p[1]);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, on_sigpipe);
    test_stream_pair();
    test_dgram_pair();
    test_seqpacket_pair();
    test_rights(SOCK_STREAM, "stream");
    test_rights(SOCK_DGRAM, "dgram");
    test_rights(SOCK_SEQPACKET, "seqpacket");
    test_rights_truncated();
    test_credentials();
    test_named();
    test_abstract_and_backlog();
    test_named_dgram();
    test_epoll();
    test_waitall_timeout();
    test_bulk();
    test_errors();
    return finish();
}
