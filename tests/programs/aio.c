/* aio: Linux native AIO (io_setup, io_submit, io_getevents, io_destroy,
 * io_cancel) with raw syscalls: reads and writes of a file, vectored ones,
 * fsync, an eventfd told of completions, RWF_NOWAIT on an empty pipe, and the
 * errors. Run with a directory as argv[1]. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include "abi_check.h"

/* linux/aio_abi.h (musl has no kernel headers). */
typedef unsigned long aio_context_t;
enum { IOCB_CMD_PREAD = 0, IOCB_CMD_PWRITE = 1, IOCB_CMD_FSYNC = 2, IOCB_CMD_PWRITEV = 8 };
#define IOCB_FLAG_RESFD 1
#ifndef RWF_NOWAIT
#define RWF_NOWAIT 8
#endif
struct io_event {
    uint64_t data, obj;
    int64_t res, res2;
};
struct iocb {
    uint64_t aio_data;
    uint32_t aio_key;
    int32_t aio_rw_flags;
    uint16_t aio_lio_opcode;
    int16_t aio_reqprio;
    uint32_t aio_fildes;
    uint64_t aio_buf, aio_nbytes;
    int64_t aio_offset;
    uint64_t aio_reserved2;
    uint32_t aio_flags, aio_resfd;
};

static long setup(unsigned n, aio_context_t *ctx) { return syscall(SYS_io_setup, n, ctx); }
static long destroy(aio_context_t ctx) { return syscall(SYS_io_destroy, ctx); }
static long submit(aio_context_t ctx, long n, struct iocb **cbs) { return syscall(SYS_io_submit, ctx, n, cbs); }
static long getevents(aio_context_t ctx, long min, long n, struct io_event *ev, struct timespec *ts)
{
    return syscall(SYS_io_getevents, ctx, min, n, ev, ts);
}

static struct iocb prep(int fd, int op, void *buf, size_t len, off_t off, uint64_t data)
{
    struct iocb cb;
    memset(&cb, 0, sizeof cb);
    cb.aio_fildes = fd;
    cb.aio_lio_opcode = op;
    cb.aio_buf = (uintptr_t)buf;
    cb.aio_nbytes = len;
    cb.aio_offset = off;
    cb.aio_data = data;
    return cb;
}

int main(int argc, char **argv)
{
    if (argc < 2 || chdir(argv[1]) < 0)
        return 2;
    aio_context_t ctx = 0, other = 0;
    err(setup(0, &ctx), EINVAL, "io_setup(0)");
    err(syscall(SYS_io_setup, 1, NULL), EFAULT, "io_setup(NULL)");
    ok(setup(8, &ctx), "io_setup(8)");
    check(ctx != 0, "context id set");
    aio_context_t again = ctx;
    err(setup(8, &again), EINVAL, "io_setup with a nonzero id");

    int fd = open("aio-file", O_CREAT | O_RDWR | O_TRUNC, 0644);
    char out[64] = "asynchronous hello", in[64] = { 0 };
    struct iocb w = prep(fd, IOCB_CMD_PWRITE, out, 18, 100, 7);
    struct iocb *cbs[2] = { &w, NULL };
    printf("submit write: %ld\n", submit(ctx, 1, cbs));
    struct io_event ev[4];
    struct timespec ts = { 1, 0 };
    long n = getevents(ctx, 1, 4, ev, &ts);
    printf("events: %ld data=%llu res=%lld obj_is_iocb=%d\n", n, (unsigned long long)ev[0].data,
           (long long)ev[0].res, ev[0].obj == (uintptr_t)&w);

    struct iocb r = prep(fd, IOCB_CMD_PREAD, in, 64, 100, 8);
    struct iocb s = prep(fd, IOCB_CMD_FSYNC, NULL, 0, 0, 9);
    struct iocb *two[2] = { &r, &s };
    printf("submit read+fsync: %ld\n", submit(ctx, 2, two));
    n = getevents(ctx, 2, 4, ev, &ts);
    printf("events: %ld [%llu res=%lld] [%llu res=%lld] read=\"%s\"\n", n,
           (unsigned long long)ev[0].data, (long long)ev[0].res, (unsigned long long)ev[1].data,
           (long long)ev[1].res, in);

    struct iovec iov[2] = { { out, 5 }, { out + 6, 5 } };
    struct iocb wv = prep(fd, IOCB_CMD_PWRITEV, iov, 2, 0, 10);
    cbs[0] = &wv;
    int efd = eventfd(0, 0);
    wv.aio_flags = IOCB_FLAG_RESFD;
    wv.aio_resfd = efd;
    printf("submit writev with resfd: %ld\n", submit(ctx, 1, cbs));
    uint64_t count = 0;
    read(efd, &count, 8);
    printf("eventfd count: %llu\n", (unsigned long long)count);
    n = getevents(ctx, 1, 1, ev, &ts);
    printf("writev event: %ld res=%lld\n", n, (long long)ev[0].res);

    /* Nothing more: a zero timeout returns at once with none. */
    struct timespec zero = { 0, 0 };
    printf("no events: %ld\n", getevents(ctx, 1, 4, ev, &zero));

    int p[2];
    pipe(p);
    struct iocb nw = prep(p[0], IOCB_CMD_PREAD, in, 10, 0, 11);
    nw.aio_rw_flags = RWF_NOWAIT;
    cbs[0] = &nw;
    printf("submit NOWAIT read of an empty pipe: %ld\n", submit(ctx, 1, cbs));
    n = getevents(ctx, 1, 1, ev, &ts);
    printf("event: %ld res=%s\n", n, ev[0].res == -EAGAIN ? "-EAGAIN" : "other");

    struct iocb bad = prep(-1, IOCB_CMD_PREAD, in, 10, 0, 12);
    cbs[0] = &bad;
    err(submit(ctx, 1, cbs), EBADF, "submit with a bad fd");
    int ro = open("aio-file", O_RDONLY);
    struct iocb wr = prep(ro, IOCB_CMD_PWRITE, out, 10, 0, 13);
    cbs[0] = &wr;
    err(submit(ctx, 1, cbs), EBADF, "write to a read-only fd");
    struct iocb unknown = prep(fd, 99, in, 10, 0, 14);
    cbs[0] = &unknown;
    err(submit(ctx, 1, cbs), EINVAL, "unknown opcode");
    err(submit(ctx, -1, cbs), EINVAL, "negative count");
    printf("submit of none: %ld\n", submit(ctx, 0, cbs));
    err(submit(ctx, 1, (struct iocb **)8), EFAULT, "bad iocb array");
    err(getevents(ctx, 2, 1, ev, &ts), EINVAL, "min_nr > nr");
    err(syscall(SYS_io_cancel, ctx, &r, ev), EINVAL, "cancel a finished request");
    err(syscall(SYS_io_cancel, ctx, NULL, ev), EFAULT, "cancel a NULL iocb");

    /* Two contexts stay apart. */
    ok(setup(2, &other), "second context");
    cbs[0] = &w;
    submit(other, 1, cbs);
    printf("first context has: %ld\n", getevents(ctx, 0, 4, ev, &zero));
    printf("second context has: %ld\n", getevents(other, 0, 4, ev, &zero));
    ok(destroy(other), "destroy the second");
    ok(destroy(ctx), "destroy the first");
    err(destroy(ctx), EINVAL, "destroy again");
    err(submit(ctx, 1, cbs), EINVAL, "submit to a destroyed context");
    err(getevents(ctx, 0, 1, ev, &zero), EINVAL, "getevents of a destroyed context");
    unlink("aio-file");
    return finish();
}
