/* Check helpers shared by the ABI conformance programs: one output line per
 * check, errno names instead of numbers, a failure count for the exit status. */
#ifndef ABI_CHECK_H
#define ABI_CHECK_H

static int failures;

static const char *ename(int e)
{
    switch (e) {
    case 0: return "0";
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EIO: return "EIO";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case EXDEV: return "EXDEV";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case EINVAL: return "EINVAL";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case ENOTTY: return "ENOTTY";
    case EFBIG: return "EFBIG";
    case ENOSPC: return "ENOSPC";
    case ESPIPE: return "ESPIPE";
    case EROFS: return "EROFS";
    case EMLINK: return "EMLINK";
    case EPIPE: return "EPIPE";
    case ERANGE: return "ERANGE";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ENOSYS: return "ENOSYS";
    case ENOTEMPTY: return "ENOTEMPTY";
    case ELOOP: return "ELOOP";
    case ENODEV: return "ENODEV";
    case EOVERFLOW: return "EOVERFLOW";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case ENXIO: return "ENXIO";
    case ESRCH: return "ESRCH";
    case EINTR: return "EINTR";
    case ETXTBSY: return "ETXTBSY";
    case E2BIG: return "E2BIG";
    case ENOTSOCK: return "ENOTSOCK";
    case EDESTADDRREQ: return "EDESTADDRREQ";
    case EMSGSIZE: return "EMSGSIZE";
    case EPROTOTYPE: return "EPROTOTYPE";
    case ENOPROTOOPT: return "ENOPROTOOPT";
    case EPROTONOSUPPORT: return "EPROTONOSUPPORT";
    case ESOCKTNOSUPPORT: return "ESOCKTNOSUPPORT";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case EADDRINUSE: return "EADDRINUSE";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case ENETUNREACH: return "ENETUNREACH";
    case ECONNABORTED: return "ECONNABORTED";
    case ECONNRESET: return "ECONNRESET";
    case ENOBUFS: return "ENOBUFS";
    case EISCONN: return "EISCONN";
    case ENOTCONN: return "ENOTCONN";
    case ECONNREFUSED: return "ECONNREFUSED";
    case EALREADY: return "EALREADY";
    case EINPROGRESS: return "EINPROGRESS";
    case ECHILD: return "ECHILD";
    case ENOMSG: return "ENOMSG";
    case EIDRM: return "EIDRM";
    case EDEADLK: return "EDEADLK";
    case EDQUOT: return "EDQUOT";
    case ENOKEY: return "ENOKEY";
    case EKEYEXPIRED: return "EKEYEXPIRED";
    case EKEYREVOKED: return "EKEYREVOKED";
    case EUSERS: return "EUSERS";
    }
    static char buf[32];
    snprintf(buf, sizeof buf, "errno%d", e);
    return buf;
}

static void check(int cond, const char *what)
{
    printf("%s: %s\n", what, cond ? "ok" : "FAIL");
    if (!cond)
        failures++;
}

static void checkf(int cond, const char *what, const char *fmt, long a, long b)
{
    if (cond) {
        printf("%s: ok\n", what);
    } else {
        printf("%s: FAIL ", what);
        printf(fmt, a, b);
        printf("\n");
        failures++;
    }
}

/* r must be >= 0. */
static long ok(long r, const char *what)
{
    if (r < 0) {
        printf("%s: FAIL %s\n", what, ename(errno));
        failures++;
    } else {
        printf("%s: ok\n", what);
    }
    return r;
}

/* r must be -1 with errno e. Prints the errno name either way. */
static void err(long r, int e, const char *what)
{
    int got = r < 0 ? errno : 0;
    if (r < 0 && got == e) {
        printf("%s: %s ok\n", what, ename(e));
    } else {
        printf("%s: FAIL want %s got r=%ld %s\n", what, ename(e), r, ename(got));
        failures++;
    }
}

static int finish(void)
{
    printf("failures=%d\n", failures);
    fflush(stdout);
    return failures > 100 ? 100 : failures;
}

#endif
