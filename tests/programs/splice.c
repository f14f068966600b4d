/* splice: splice, tee and vmsplice in directory argv[1].
 *
 * Covers file -> pipe (the file offset moves; with off_in it does not and
 * off_in does), pipe -> file with and without off_out, pipe -> pipe, tee
 * (the input keeps its data), vmsplice both ways, /dev/zero and /dev/null,
 * a socket pair, blocking until a writer comes, SPLICE_F_NONBLOCK and
 * O_NONBLOCK, end of data, EPIPE, and the errors: EBADF (bad fd, wrong open
 * mode), EINVAL (no pipe, same pipe, append mode, bad flags, files that do
 * not splice, negative offset), ESPIPE (an offset for the pipe side),
 * EFAULT. Prints one line per check and "failures=N"; exits with min(N, 100). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "abi_check.h"

static char dir[4096];

static int make_file(const char *name, int flags, size_t size)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    for (size_t i = 0; i < size; i++) {
        unsigned char c = (unsigned char)(i * 7 + i / 251);
        if (write(fd, &c, 1) != 1)
            exit(3);
    }
    close(fd);
    return open(path, flags);
}

static int pattern_at(const unsigned char *buf, size_t len, size_t from)
{
    for (size_t i = 0; i < len; i++)
        if (buf[i] != (unsigned char)((from + i) * 7 + (from + i) / 251))
            return 0;
    return 1;
}

static int pending(int fd)
{
    int n = -1;
    ioctl(fd, FIONREAD, &n);
    return n;
}

static long cur(int fd)
{
    return (long)lseek(fd, 0, SEEK_CUR);
}

static void file_to_pipe(void)
{
    printf("-- file -> pipe\n");
    int fd = make_file("src", O_RDONLY, 200000);
    int p[2];
    pipe(p);
    unsigned char buf[70000];
    long n = splice(fd, NULL, p[1], NULL, 4096, 0);
    checkf(n == 4096, "splice 4096 from the file", "n=%ld %ld", n, 0);
    checkf(cur(fd) == 4096, "the file offset moved", "%ld %ld", cur(fd), 0);
    n = read(p[0], buf, sizeof buf);
    check(n == 4096 && pattern_at(buf, 4096, 0), "the pipe holds the file's first bytes");

    loff_t off = 100;
    n = splice(fd, &off, p[1], NULL, 50, 0);
    checkf(n == 50 && off == 150, "splice with off_in", "n=%ld off=%ld", n, (long)off);
    checkf(cur(fd) == 4096, "off_in leaves the file offset", "%ld %ld", cur(fd), 0);
    n = read(p[0], buf, sizeof buf);
    check(n == 50 && pattern_at(buf, 50, 100), "the bytes at off_in");

    /* More than the pipe holds: what fits (the default 64 KiB). */
    n = splice(fd, NULL, p[1], NULL, 200000, 0);
    checkf(n == 65536, "a long splice fills the pipe", "n=%ld %ld", n, 0);
    checkf(pending(p[0]) == 65536, "FIONREAD after", "%d %d", pending(p[0]), 0);
    n = read(p[0], buf, sizeof buf);
    check(n == 65536 && pattern_at(buf, 65536, 4096), "the bytes after the offset");

    /* Full pipe: SPLICE_F_NONBLOCK gives EAGAIN. */
    fcntl(p[1], F_SETFL, O_NONBLOCK);
    while (write(p[1], buf, sizeof buf) > 0)
        ;
    fcntl(p[1], F_SETFL, 0);
    err(splice(fd, NULL, p[1], NULL, 10, SPLICE_F_NONBLOCK), EAGAIN, "full pipe, SPLICE_F_NONBLOCK");
    close(p[0]);
    close(p[1]);

    /* End of file: 0. */
    pipe(p);
    off = 200000;
    n = splice(fd, &off, p[1], NULL, 10, 0);
    checkf(n == 0 && off == 200000, "at end of file", "n=%ld off=%ld", n, (long)off);
    off = 199990;
    n = splice(fd, &off, p[1], NULL, 100, 0);
    checkf(n == 10 && off == 200000, "up to end of file", "n=%ld off=%ld", n, (long)off);

    /* A read end closed: EPIPE (SIGPIPE ignored). */
    close(p[0]);
    signal(SIGPIPE, SIG_IGN);
    err(splice(fd, NULL, p[1], NULL, 10, 0), EPIPE, "no reader");
    close(p[1]);
    close(fd);
}

static void pipe_to_file(void)
{
    printf("-- pipe -> file\n");
    int out = make_file("dst", O_RDWR, 0);
    int p[2];
    pipe(p);
    unsigned char buf[4096];
    for (int i = 0; i < 300; i++)
        buf[i] = (unsigned char)i;
    write(p[1], buf, 300);
    loff_t off = 1000;
    long n = splice(p[0], NULL, out, &off, 1000, 0);
    checkf(n == 300 && off == 1300, "splice what the pipe holds at off_out", "n=%ld off=%ld", n,
           (long)off);
    checkf(cur(out) == 0, "off_out leaves the file offset", "%ld %ld", cur(out), 0);
    struct stat st;
    fstat(out, &st);
    checkf(st.st_size == 1300, "the file grew", "%ld %ld", (long)st.st_size, 0);
    unsigned char back[300];
    pread(out, back, 300, 1000);
    check(memcmp(back, buf, 300) == 0, "the bytes landed at off_out");

    write(p[1], "hello", 5);
    n = splice(p[0], NULL, out, NULL, 100, 0);
    checkf(n == 5 && cur(out) == 5, "splice at the file offset", "n=%ld cur=%ld", n, cur(out));
    pread(out, back, 5, 0);
    check(memcmp(back, "hello", 5) == 0, "the bytes at the offset");

    /* Empty pipe: EAGAIN without blocking, 0 once the writers are gone. */
    err(splice(p[0], NULL, out, NULL, 10, SPLICE_F_NONBLOCK), EAGAIN, "empty pipe, SPLICE_F_NONBLOCK");
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    err(splice(p[0], NULL, out, NULL, 10, 0), EAGAIN, "empty pipe, O_NONBLOCK");
    fcntl(p[0], F_SETFL, 0);
    close(p[1]);
    n = splice(p[0], NULL, out, NULL, 10, 0);
    checkf(n == 0, "empty pipe without writers", "n=%ld %ld", n, 0);
    close(p[0]);

    /* A blocking splice waits for the writer. */
    pipe(p);
    pid_t child = fork();
    if (child == 0) {
        usleep(100000);
        write(p[1], "late", 4);
        _exit(0);
    }
    close(p[1]);
    off = 0;
    n = splice(p[0], NULL, out, &off, 100, 0);
    checkf(n == 4, "blocked until the writer wrote", "n=%ld %ld", n, 0);
    waitpid(child, NULL, 0);
    n = splice(p[0], NULL, out, &off, 100, 0);
    checkf(n == 0, "then end of data", "n=%ld %ld", n, 0);
    close(p[0]);

    /* A larger transfer through a child, in pieces. */
    pipe(p);
    child = fork();
    if (child == 0) {
        close(p[0]);
        unsigned char big[1000];
        for (int i = 0; i < 300; i++) {
            for (int j = 0; j < 1000; j++)
                big[j] = (unsigned char)(i + j);
            write(p[1], big, sizeof big);
        }
        _exit(0);
    }
    close(p[1]);
    int big = make_file("big", O_RDWR, 0);
    long total = 0;
    while ((n = splice(p[0], NULL, big, NULL, 7000, 0)) > 0)
        total += n;
    waitpid(child, NULL, 0);
    checkf(total == 300000 && n == 0, "300000 bytes through a pipe", "total=%ld n=%ld", total, n);
    int good = 1;
    unsigned char piece[1000];
    for (int i = 0; i < 300 && good; i++) {
        pread(big, piece, sizeof piece, (off_t)i * 1000);
        for (int j = 0; j < 1000; j++)
            if (piece[j] != (unsigned char)(i + j))
                good = 0;
    }
    check(good, "in order");
    close(big);
    close(p[0]);
    close(out);
}

static void pipes_and_tee(void)
{
    printf("-- pipe -> pipe, tee\n");
    int a[2], b[2];
    pipe(a);
    pipe(b);
    unsigned char buf[1000], back[1000];
    for (int i = 0; i < 1000; i++)
        buf[i] = (unsigned char)(i * 3);
    write(a[1], buf, 1000);
    long n = splice(a[0], NULL, b[1], NULL, 600, 0);
    checkf(n == 600, "splice pipe to pipe", "n=%ld %ld", n, 0);
    checkf(pending(a[0]) == 400 && pending(b[0]) == 600, "the input gave what it moved",
           "a=%d b=%d", pending(a[0]), pending(b[0]));
    n = read(b[0], back, sizeof back);
    check(n == 600 && memcmp(back, buf, 600) == 0, "the moved bytes");

    n = tee(a[0], b[1], 100, 0);
    checkf(n == 100, "tee 100", "n=%ld %ld", n, 0);
    checkf(pending(a[0]) == 400 && pending(b[0]) == 100, "tee keeps the input", "a=%d b=%d",
           pending(a[0]), pending(b[0]));
    n = tee(a[0], b[1], 10000, 0);
    checkf(n == 400, "tee what there is", "n=%ld %ld", n, 0);
    n = read(b[0], back, sizeof back);
    check(n == 500 && memcmp(back, buf + 600, 100) == 0 && memcmp(back + 100, buf + 600, 400) == 0,
          "the teed bytes");
    n = read(a[0], back, sizeof back);
    check(n == 400 && memcmp(back, buf + 600, 400) == 0, "the input still has its bytes");

    err(tee(a[0], b[1], 10, SPLICE_F_NONBLOCK), EAGAIN, "tee from an empty pipe, nonblocking");
    err(splice(a[0], NULL, b[1], NULL, 10, SPLICE_F_NONBLOCK), EAGAIN,
        "splice from an empty pipe, nonblocking");
    err(tee(a[0], a[1], 10, 0), EINVAL, "tee within one pipe");
    err(splice(a[0], NULL, a[1], NULL, 10, 0), EINVAL, "splice within one pipe");
    err(tee(a[0], b[1], 10, 0x100), EINVAL, "tee bad flags");
    err(tee(a[1], b[1], 10, 0), EBADF, "tee from a write end");
    err(tee(a[0], b[0], 10, 0), EBADF, "tee to a read end");
    int f = make_file("teefile", O_RDWR, 10);
    err(tee(f, b[1], 10, 0), EINVAL, "tee from a file");
    err(tee(a[0], f, 10, 0), EINVAL, "tee to a file");
    checkf(tee(a[0], b[1], 0, 0) == 0, "tee of 0 bytes", "%d %d", 0, 0);
    close(f);
    close(a[1]);
    checkf(tee(a[0], b[1], 10, 0) == 0, "tee after the writers left", "%d %d", 0, 0);
    checkf(splice(a[0], NULL, b[1], NULL, 10, 0) == 0, "splice after the writers left", "%d %d", 0,
           0);
    close(b[0]);
    err(tee(a[0], b[1], 10, 0), EPIPE, "tee to a pipe without readers");
    close(a[0]);
    close(b[1]);
}

static void vmsplice_both_ways(void)
{
    printf("-- vmsplice\n");
    int p[2];
    ok(pipe(p), "pipe");
    char one[100], two[200], back[400];
    memset(one, 'a', sizeof one);
    memset(two, 'b', sizeof two);
    struct iovec iov[2] = {{one, sizeof one}, {two, sizeof two}};
    long n = vmsplice(p[1], iov, 2, 0);
    checkf(n == 300, "vmsplice two buffers in", "n=%ld %ld", n, 0);
    n = read(p[0], back, sizeof back);
    check(n == 300 && memcmp(back, one, 100) == 0 && memcmp(back + 100, two, 200) == 0,
          "their bytes in order");

    write(p[1], one, 100);
    write(p[1], two, 156);
    char x[100], y[300];
    struct iovec out[2] = {{x, sizeof x}, {y, sizeof y}};
    n = vmsplice(p[0], out, 2, 0);
    checkf(n == 256, "vmsplice out of the pipe", "n=%ld %ld", n, 0);
    check(memcmp(x, one, 100) == 0 && memcmp(y, two, 156) == 0, "into the buffers");
    checkf(pending(p[0]) == 0, "the pipe is empty after", "%d %d", pending(p[0]), 0);
    err(vmsplice(p[0], out, 2, SPLICE_F_NONBLOCK), EAGAIN, "out of an empty pipe, nonblocking");

    /* A full pipe. */
    static char big[65536] __attribute__((aligned(4096)));
    struct iovec whole = {big, sizeof big};
    n = vmsplice(p[1], &whole, 1, 0);
    checkf(n == 65536, "fill the pipe", "n=%ld %ld", n, 0);
    err(vmsplice(p[1], &whole, 1, SPLICE_F_NONBLOCK), EAGAIN, "into a full pipe, nonblocking");

    int f = make_file("vmfile", O_WRONLY, 0);
    err(vmsplice(f, iov, 1, 0), EBADF, "vmsplice into a file");
    struct iovec none = {one, 0};
    checkf(vmsplice(f, &none, 1, 0) == 0, "nothing into a file", "%d %d", 0, 0);
    err(vmsplice(p[1], iov, 1025, 0), EINVAL, "more than IOV_MAX buffers");
    err(vmsplice(p[1], iov, 1, 0x100), EINVAL, "bad flags");
    err(vmsplice(-1, iov, 1, 0), EBADF, "bad fd");
    err(vmsplice(p[1], (struct iovec *)8, 1, 0), EFAULT, "bad iovec array");
    close(p[0]);
    struct iovec bad = {(void *)8, 10};
    int q[2];
    pipe(q);
    err(vmsplice(q[1], &bad, 1, 0), EFAULT, "bad buffer");
    write(q[1], "abc", 3);
    err(vmsplice(q[0], &bad, 1, 0), EFAULT, "bad buffer out");
    checkf(pending(q[0]) == 3, "the pipe keeps its bytes", "%d %d", pending(q[0]), 0);
    close(q[0]);
    err(vmsplice(q[1], iov, 1, 0), EPIPE, "no reader");
    close(q[1]);
    close(p[1]);
    close(f);
}

static void devices_and_sockets(void)
{
    printf("-- devices, sockets\n");
    int p[2];
    pipe(p);
    int zero = open("/dev/zero", O_RDONLY);
    long n = splice(zero, NULL, p[1], NULL, 5000, 0);
    checkf(n == 5000, "splice from /dev/zero", "n=%ld %ld", n, 0);
    char buf[8192];
    memset(buf, 1, sizeof buf);
    n = read(p[0], buf, sizeof buf);
    int zeros = n == 5000;
    for (int i = 0; i < 5000; i++)
        zeros &= buf[i] == 0;
    check(zeros, "zeros");
    write(p[1], buf, 1024);
    int null = open("/dev/null", O_WRONLY);
    n = splice(p[0], NULL, null, NULL, 4096, 0);
    checkf(n == 1024, "splice to /dev/null", "n=%ld %ld", n, 0);
    close(null);
    close(zero);

    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    for (int i = 0; i < 3000; i++)
        buf[i] = (char)(i % 113);
    write(p[1], buf, 3000);
    n = splice(p[0], NULL, sv[0], NULL, 3000, 0);
    checkf(n == 3000, "pipe -> socket", "n=%ld %ld", n, 0);
    int q[2];
    pipe(q);
    n = splice(sv[1], NULL, q[1], NULL, 10000, 0);
    checkf(n == 3000, "socket -> pipe", "n=%ld %ld", n, 0);
    char back[3000];
    n = read(q[0], back, sizeof back);
    check(n == 3000 && memcmp(back, buf, 3000) == 0, "the bytes went round");
    err(splice(sv[1], NULL, q[1], NULL, 10, SPLICE_F_NONBLOCK), EAGAIN, "empty socket, nonblocking");
    close(sv[0]);
    n = splice(sv[1], NULL, q[1], NULL, 10, 0);
    checkf(n == 0, "socket at end of data", "n=%ld %ld", n, 0);
    close(sv[1]);
    close(q[0]);
    close(q[1]);
    close(p[0]);
    close(p[1]);
}

static void errors(void)
{
    printf("-- errors\n");
    int p[2];
    pipe(p);
    write(p[1], "abcdefghij", 10);
    int rd = make_file("rd", O_RDONLY, 100);
    int wr = make_file("wr", O_WRONLY, 0);
    int app = make_file("app", O_WRONLY | O_APPEND, 0);
    loff_t off = 0;
    checkf(splice(-1, NULL, -1, NULL, 0, 0) == 0, "length 0 checks nothing", "%d %d", 0, 0);
    err(splice(rd, NULL, p[1], NULL, 10, 0x100), EINVAL, "bad flags");
    err(splice(-1, NULL, p[1], NULL, 10, 0), EBADF, "bad fd in");
    err(splice(p[0], NULL, 1000, NULL, 10, 0), EBADF, "bad fd out");
    err(splice(wr, NULL, p[1], NULL, 10, 0), EBADF, "input not readable");
    err(splice(p[0], NULL, rd, NULL, 10, 0), EBADF, "output not writable");
    err(splice(p[0], NULL, app, NULL, 10, 0), EINVAL, "output in append mode");
    err(splice(rd, NULL, wr, NULL, 10, 0), EINVAL, "no pipe");
    err(splice(p[0], &off, wr, NULL, 10, 0), ESPIPE, "offset for the input pipe");
    err(splice(rd, NULL, p[1], &off, 10, 0), ESPIPE, "offset for the output pipe");
    err(splice(rd, (loff_t *)8, p[1], NULL, 10, 0), EFAULT, "bad off_in");
    err(splice(p[0], NULL, wr, (loff_t *)8, 10, 0), EFAULT, "bad off_out");
    off = -1;
    err(splice(rd, &off, p[1], NULL, 10, 0), EINVAL, "negative off_in");
    err(splice(p[0], NULL, wr, &off, 10, 0), EINVAL, "negative off_out");
    err(splice(p[1], NULL, wr, NULL, 10, 0), EBADF, "from a write end");
    err(splice(rd, NULL, p[0], NULL, 10, 0), EBADF, "to a read end");
    int d = open(dir, O_RDONLY | O_DIRECTORY);
    err(splice(d, NULL, p[1], NULL, 10, 0), EINVAL, "from a directory");
    int ev = eventfd(0, 0);
    err(splice(ev, NULL, p[1], NULL, 10, 0), EINVAL, "from an eventfd");
    err(splice(p[0], NULL, ev, NULL, 10, 0), EINVAL, "to an eventfd");
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    err(splice(sv[0], &off, p[1], NULL, 10, 0), EINVAL, "offset for a socket");
    checkf(pending(p[0]) == 10, "the failures took nothing", "%d %d", pending(p[0]), 0);
    close(sv[0]);
    close(sv[1]);
    close(ev);
    close(d);
    close(rd);
    close(wr);
    close(app);
    close(p[0]);
    close(p[1]);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    snprintf(dir, sizeof dir, "%s", argv[1]);
    setvbuf(stdout, NULL, _IONBF, 0);
    file_to_pipe();
    pipe_to_file();
    pipes_and_tee();
    vmsplice_both_ways();
    devices_and_sockets();
    errors();
    return finish();
}
