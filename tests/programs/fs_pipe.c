/* fs_pipe: pipes and readiness.
 *
 * Usage: fs_pipe   (no arguments; stdout must be a pipe or the console)
 *
 * Covers pipe/pipe2 (O_NONBLOCK, O_CLOEXEC), read/write/readv/writev on
 * pipes, FIONREAD, EOF after the writer closes, EPIPE after the reader closes
 * (SIGPIPE ignored), EAGAIN on empty/full non-blocking pipes, the default
 * capacity, poll/ppoll/select/pselect6 readiness on pipes and regular files,
 * POLLNVAL/EBADF for closed fds, ESPIPE for lseek/pread, fstat S_ISFIFO.
 * Prints one line per check and "failures=N"; exits with min(N, 100). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "abi_check.h"

static long long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static short poll1(int fd, short events)
{
    struct pollfd p = {fd, events, 0};
    int r = poll(&p, 1, 0);
    if (r < 0)
        return -1;
    return p.revents;
}

static int fionread(int fd)
{
    int n = -1;
    if (ioctl(fd, FIONREAD, &n) < 0)
        return -1;
    return n;
}

static void test_basic(void)
{
    printf("-- pipe basics\n");
    int p[2];
    ok(pipe(p), "pipe");
    struct stat st;
    ok(fstat(p[0], &st), "fstat read end");
    check(S_ISFIFO(st.st_mode), "read end is a FIFO");
    fstat(p[1], &st);
    check(S_ISFIFO(st.st_mode), "write end is a FIFO");
    checkf((fcntl(p[0], F_GETFL) & O_ACCMODE) == O_RDONLY, "read end O_RDONLY", "%ld%ld", 0, 0);
    checkf((fcntl(p[1], F_GETFL) & O_ACCMODE) == O_WRONLY, "write end O_WRONLY", "%ld%ld", 0, 0);
    checkf(fcntl(p[0], F_GETFD) == 0, "no cloexec by default", "%ld%ld", 0, 0);
    checkf(fionread(p[0]) == 0, "FIONREAD empty 0", "%ld%ld", (long)fionread(p[0]), 0);
    checkf(poll1(p[0], POLLIN) == 0, "empty pipe not readable", "revents=%lx%ld", (long)poll1(p[0], POLLIN), 0);
    checkf(poll1(p[1], POLLOUT) == POLLOUT, "empty pipe writable", "revents=%lx%ld", (long)poll1(p[1], POLLOUT), 0);
    checkf(write(p[1], "hello", 5) == 5, "write 5", "%ld%ld", 0, 0);
    checkf(fionread(p[0]) == 5, "FIONREAD 5", "%ld%ld", (long)fionread(p[0]), 0);
    checkf(poll1(p[0], POLLIN) == POLLIN, "pipe with data readable", "revents=%lx%ld", (long)poll1(p[0], POLLIN), 0);
    char buf[64] = {0};
    checkf(read(p[0], buf, 3) == 3 && memcmp(buf, "hel", 3) == 0, "partial read 3", "%ld%ld", 0, 0);
    checkf(fionread(p[0]) == 2, "FIONREAD 2", "%ld%ld", (long)fionread(p[0]), 0);
    checkf(read(p[0], buf, 64) == 2 && memcmp(buf, "lo", 2) == 0, "read returns what is there", "%ld%ld", 0, 0);
    struct iovec w[2] = {{"ab", 2}, {"cde", 3}};
    checkf(writev(p[1], w, 2) == 5, "writev 5", "%ld%ld", 0, 0);
    char x[2], y[10];
    struct iovec r[2] = {{x, 2}, {y, 10}};
    checkf(readv(p[0], r, 2) == 5 && memcmp(x, "ab", 2) == 0 && memcmp(y, "cde", 3) == 0, "readv", "%ld%ld", 0, 0);
    err(lseek(p[0], 0, SEEK_SET), ESPIPE, "lseek on pipe");
    err(pread(p[0], buf, 1, 0), ESPIPE, "pread on pipe");
    err(pwrite(p[1], buf, 1, 0), ESPIPE, "pwrite on pipe");
    err(write(p[0], "x", 1), EBADF, "write to read end");
    err(read(p[1], buf, 1), EBADF, "read from write end");

    /* EOF only after every write end is closed */
    int w2 = dup(p[1]);
    write(p[1], "z", 1);
    close(p[1]);
    checkf(read(p[0], buf, 64) == 1, "data written before close is read", "%ld%ld", 0, 0);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    err(read(p[0], buf, 64), EAGAIN, "dup'd writer still open: EAGAIN, not EOF");
    close(w2);
    checkf(read(p[0], buf, 64) == 0, "EOF after all writers closed", "%ld%ld", 0, 0);
    short re = poll1(p[0], POLLIN);
    checkf(re & POLLHUP, "POLLHUP after writers closed", "revents=%lx%ld", (long)re, 0);
    close(p[0]);

    /* EPIPE after the reader closes */
    signal(SIGPIPE, SIG_IGN);
    pipe(p);
    close(p[0]);
    err(write(p[1], "x", 1), EPIPE, "write with no reader (SIGPIPE ignored)");
    re = poll1(p[1], POLLOUT);
    checkf(re & POLLERR, "POLLERR on write end without reader", "revents=%lx%ld", (long)re, 0);
    close(p[1]);
}

static void test_nonblock(void)
{
    printf("-- pipe2 and non-blocking\n");
    int p[2];
    ok(pipe2(p, O_NONBLOCK | O_CLOEXEC), "pipe2 O_NONBLOCK|O_CLOEXEC");
    checkf(fcntl(p[0], F_GETFD) == FD_CLOEXEC && fcntl(p[1], F_GETFD) == FD_CLOEXEC, "both ends cloexec", "%ld%ld", 0, 0);
    check((fcntl(p[0], F_GETFL) & O_NONBLOCK) && (fcntl(p[1], F_GETFL) & O_NONBLOCK), "both ends O_NONBLOCK");
    char buf[4096];
    err(read(p[0], buf, 1), EAGAIN, "read empty non-blocking pipe");
    err(pipe2(p, 0x12345678), EINVAL, "pipe2 bad flags");
    memset(buf, 'p', sizeof buf);
    long total = 0;
    for (;;) {
        ssize_t n = write(p[1], buf, sizeof buf);
        if (n < 0)
            break;
        total += n;
        if (total > 10 * 1024 * 1024)
            break;
    }
    int e = errno;
    checkf(e == EAGAIN, "filling the pipe ends with EAGAIN", "errno=%ld%ld", (long)e, 0);
    checkf(total == 65536, "default pipe capacity is 65536", "total=%ld%ld", total, 0);
    checkf(fionread(p[0]) == 65536, "FIONREAD on full pipe", "%ld%ld", (long)fionread(p[0]), 0);
    checkf(poll1(p[1], POLLOUT) == 0, "full pipe not writable", "%ld%ld", 0, 0);
    checkf(read(p[0], buf, 4096) == 4096, "read one page", "%ld%ld", 0, 0);
    checkf(poll1(p[1], POLLOUT) == POLLOUT, "writable again after reading a page", "revents=%lx%ld", (long)poll1(p[1], POLLOUT), 0);
    long got = 4096;
    ssize_t n;
    while ((n = read(p[0], buf, sizeof buf)) > 0)
        got += n;
    checkf(got == 65536, "drained everything", "%ld%ld", got, 0);
    /* a big non-blocking write is partial */
    static char big[100000];
    n = write(p[1], big, sizeof big);
    checkf(n == 65536, "big non-blocking write is partial (65536)", "n=%ld%ld", (long)n, 0);
    close(p[0]);
    close(p[1]);
}

static void test_poll_select(void)
{
    printf("-- poll, ppoll, select, pselect6\n");
    int p[2];
    pipe(p);
    struct pollfd fds[4] = {
        {p[0], POLLIN, 0},
        {p[1], POLLOUT, 0},
        {-1, POLLIN, 0x55},
        {1, POLLOUT, 0},
    };
    int r = poll(fds, 4, 0);
    checkf(r == 2, "poll: 2 ready (write end, stdout)", "r=%ld%ld", (long)r, 0);
    check(fds[0].revents == 0 && fds[1].revents == POLLOUT && fds[2].revents == 0 &&
              fds[3].revents == POLLOUT,
          "poll revents (negative fd ignored)");
    write(p[1], "x", 1);
    r = poll(fds, 2, 1000);
    checkf(r == 2 && fds[0].revents == POLLIN, "poll: readable after write", "r=%ld rev=%lx", (long)r, (long)fds[0].revents);
    read(p[0], fds, 0);
    char c;
    read(p[0], &c, 1);

    /* timeouts really wait */
    long long t0 = now_ns();
    r = poll(fds, 1, 30);
    long long dt = now_ns() - t0;
    checkf(r == 0 && dt >= 30000000LL, "poll timeout 30ms waits", "r=%ld dt_ms=%ld", (long)r, (long)(dt / 1000000));
    struct timespec ts = {0, 20000000};
    t0 = now_ns();
    r = ppoll(fds, 1, &ts, NULL);
    dt = now_ns() - t0;
    checkf(r == 0 && dt >= 20000000LL, "ppoll timeout 20ms waits", "r=%ld dt_ms=%ld", (long)r, (long)(dt / 1000000));
    ts.tv_nsec = 0;
    r = ppoll(fds, 2, &ts, NULL);
    checkf(r == 1 && fds[1].revents == POLLOUT, "ppoll zero timeout", "r=%ld%ld", (long)r, 0);
    sigset_t mask;
    sigemptyset(&mask);
    r = ppoll(fds, 2, &ts, &mask);
    checkf(r == 1, "ppoll with a sigmask", "r=%ld%ld", (long)r, 0);

    /* POLLNVAL for a closed fd */
    struct pollfd bad = {77, POLLIN, 0};
    r = poll(&bad, 1, 0);
    checkf(r == 1 && bad.revents == POLLNVAL, "poll closed fd gives POLLNVAL", "r=%ld rev=%lx", (long)r, (long)bad.revents);

    /* select */
    fd_set rd, wr;
    FD_ZERO(&rd);
    FD_ZERO(&wr);
    FD_SET(p[0], &rd);
    FD_SET(p[1], &wr);
    struct timeval tv = {0, 0};
    r = select(p[1] + 1, &rd, &wr, NULL, &tv);
    checkf(r == 1 && !FD_ISSET(p[0], &rd) && FD_ISSET(p[1], &wr), "select: only write end ready", "r=%ld%ld", (long)r, 0);
    write(p[1], "y", 1);
    FD_ZERO(&rd);
    FD_SET(p[0], &rd);
    tv.tv_sec = 1;
    r = select(p[0] + 1, &rd, NULL, NULL, &tv);
    checkf(r == 1 && FD_ISSET(p[0], &rd), "select: read end ready after write", "r=%ld%ld", (long)r, 0);
    read(p[0], &c, 1);
    FD_ZERO(&rd);
    FD_SET(p[0], &rd);
    tv.tv_sec = 0;
    tv.tv_usec = 20000;
    t0 = now_ns();
    r = select(p[0] + 1, &rd, NULL, NULL, &tv);
    dt = now_ns() - t0;
    checkf(r == 0 && dt >= 20000000LL && !FD_ISSET(p[0], &rd), "select timeout 20ms waits and clears set",
           "r=%ld dt_ms=%ld", (long)r, (long)(dt / 1000000));
    /* A closed fd below 64: Linux's select ignores bits at or above the size
     * of the process's fd table (64 until it grows), so fd 77 would give
     * EBADF or 0 depending on what the parent had open. */
    int closed_fd = dup(p[0]);
    close(closed_fd);
    FD_ZERO(&rd);
    FD_SET(closed_fd, &rd);
    tv.tv_usec = 0;
    err(select(closed_fd + 1, &rd, NULL, NULL, &tv), EBADF, "select on closed fd");
    err(select(-1, NULL, NULL, NULL, &tv), EINVAL, "select nfds -1");
    /* pselect6 */
    FD_ZERO(&wr);
    FD_SET(p[1], &wr);
    struct timespec pts = {0, 0};
    r = pselect(p[1] + 1, NULL, &wr, NULL, &pts, &mask);
    checkf(r == 1 && FD_ISSET(p[1], &wr), "pselect write end ready", "r=%ld%ld", (long)r, 0);
    FD_ZERO(&rd);
    FD_SET(p[0], &rd);
    pts.tv_nsec = 15000000;
    t0 = now_ns();
    r = pselect(p[0] + 1, &rd, NULL, NULL, &pts, NULL);
    dt = now_ns() - t0;
    checkf(r == 0 && dt >= 15000000LL, "pselect timeout 15ms waits", "r=%ld dt_ms=%ld", (long)r, (long)(dt / 1000000));

    /* regular files are always ready */
    char tmpl[] = "/tmp/fs_pipe_XXXXXX";
    int f = mkstemp(tmpl);
    check(f >= 0, "mkstemp in /tmp");
    if (f >= 0) {
        unlink(tmpl);
        write(f, "data", 4);
        checkf(poll1(f, POLLIN | POLLOUT) == (POLLIN | POLLOUT), "regular file poll IN|OUT",
               "rev=%lx%ld", (long)poll1(f, POLLIN | POLLOUT), 0);
        FD_ZERO(&rd);
        FD_SET(f, &rd);
        tv.tv_sec = 0;
        tv.tv_usec = 0;
        r = select(f + 1, &rd, NULL, NULL, &tv);
        checkf(r == 1, "regular file select readable", "r=%ld%ld", (long)r, 0);
        lseek(f, 0, SEEK_SET);
        checkf(fionread(f) == 4, "FIONREAD on a regular file = bytes left", "%ld%ld", (long)fionread(f), 0);
        close(f);
    }
    close(p[0]);
    close(p[1]);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    test_basic();
    test_nonblock();
    test_poll_select();
    return finish();
}
