/* Writable /proc/sys/fs limits, as root sets them, and what the calls
 * then say: pipe-max-size (rounded as a pipe size; the cap of an
 * unprivileged F_SETPIPE_SZ and of its new pipes), pipe-user-pages-soft,
 * inotify's
 * max_user_instances (per user) and max_queued_events. These settings are
 * global on Linux: the native run restores each at once. Prints one line
 * per check; compared with a native run (as root). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "abi_check.h"

/* Writes `text` to /proc/sys/<name>: 0 or the errno. */
static int put(const char *name, const char *text)
{
    char path[128];
    snprintf(path, sizeof path, "/proc/sys/%s", name);
    int fd = open(path, O_WRONLY);
    if (fd < 0)
        return errno;
    int r = write(fd, text, strlen(text)) < 0 ? errno : 0;
    close(fd);
    return r;
}

static long get(const char *name)
{
    char path[128], buf[64] = {0};
    snprintf(path, sizeof path, "/proc/sys/%s", name);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    long n = read(fd, buf, sizeof buf - 1);
    close(fd);
    return n > 0 ? atol(buf) : -1;
}

static void put_err(const char *name, const char *text, int want)
{
    char what[128];
    snprintf(what, sizeof what, "write %s=%s", name, text);
    errno = put(name, text);
    err(errno ? -1 : 0, want, what);
}

static void pipe_max_size(void)
{
    char old[32];
    snprintf(old, sizeof old, "%ld", get("fs/pipe-max-size"));
    int e = put("fs/pipe-max-size", "5000");
    long now = get("fs/pipe-max-size");
    /* A child as another user: new pipes and F_SETPIPE_SZ are capped. */
    pid_t child = fork();
    if (child == 0) {
        if (setuid(65534))
            _exit(1);
        int p[2];
        if (pipe(p))
            _exit(2);
        int size = fcntl(p[0], F_GETPIPE_SZ);
        int grow = fcntl(p[0], F_SETPIPE_SZ, 16384) < 0 ? errno : 0;
        int same = fcntl(p[0], F_SETPIPE_SZ, 8192);
        int shrink = fcntl(p[0], F_SETPIPE_SZ, 4096);
        int wr = open("/proc/sys/fs/pipe-max-size", O_WRONLY) < 0 ? errno : 0;
        _exit(size == 8192 && grow == EPERM && same == 8192 && shrink == 4096 && wr == EACCES ? 0 : 3);
    }
    int status;
    waitpid(child, &status, 0);
    /* Bad values; a value past 32 bits is cut to 32 bits first (Linux
     * checks only the rounded size). */
    int minus = put("fs/pipe-max-size", "-1");
    int big = put("fs/pipe-max-size", "2147483649");
    int word = put("fs/pipe-max-size", "x");
    int wide = put("fs/pipe-max-size", "4294967296");
    long wide_value = get("fs/pipe-max-size");
    put("fs/pipe-max-size", old);
    check(e == 0, "write pipe-max-size=5000");
    checkf(now == 8192, "pipe-max-size rounded to a power of two pages", "%ld %ld", now, 8192);
    checkf(WIFEXITED(status) && WEXITSTATUS(status) == 0, "an unprivileged process is capped", "%ld %ld",
           (long)WEXITSTATUS(status), 0);
    printf("pipe-max-size=-1: %s\n", ename(minus));
    printf("pipe-max-size=2147483649: %s\n", ename(big));
    printf("pipe-max-size=x: %s\n", ename(word));
    printf("pipe-max-size=4294967296: %s, then %ld\n", ename(wide), wide_value);
    checkf(get("fs/pipe-max-size") == atol(old), "pipe-max-size restored", "%ld %ld",
           get("fs/pipe-max-size"), atol(old));
}

/* pipe-user-pages-soft: a user's pipes past it are two pages long, and
 * F_SETPIPE_SZ may not grow one past it (for an unprivileged user). */
static void pipe_user_pages(void)
{
    char old[32];
    snprintf(old, sizeof old, "%ld", get("fs/pipe-user-pages-soft"));
    int e = put("fs/pipe-user-pages-soft", "40");
    pid_t child = fork();
    if (child == 0) {
        if (setuid(54322))
            _exit(1);
        int p[6];
        if (pipe(p) || pipe(p + 2) || pipe(p + 4))
            _exit(2);
        int a = fcntl(p[0], F_GETPIPE_SZ), b = fcntl(p[2], F_GETPIPE_SZ), c = fcntl(p[4], F_GETPIPE_SZ);
        int grow = fcntl(p[4], F_SETPIPE_SZ, 65536) < 0 ? errno : 0;
        close(p[0]);
        close(p[1]);
        int again = fcntl(p[4], F_SETPIPE_SZ, 65536);
        _exit(a == 65536 && b == 65536 && c == 8192 && grow == EPERM && again == 65536 ? 0 : 3);
    }
    int status;
    waitpid(child, &status, 0);
    put("fs/pipe-user-pages-soft", old);
    check(e == 0, "write pipe-user-pages-soft=40");
    checkf(WIFEXITED(status) && WEXITSTATUS(status) == 0, "pipes past pipe-user-pages-soft", "%ld %ld",
           (long)WEXITSTATUS(status), 0);
    put_err("fs/pipe-user-pages-soft", "-1", EINVAL);
    checkf(get("fs/pipe-user-pages-soft") == atol(old), "pipe-user-pages-soft restored", "%ld %ld",
           get("fs/pipe-user-pages-soft"), atol(old));
}

static void inotify_limits(void)
{
    long max = get("fs/inotify/max_user_instances");
    char text[32];
    snprintf(text, sizeof text, "%ld\n", max + 1);
    int e = put("fs/inotify/max_user_instances", text);
    long raised = get("fs/inotify/max_user_instances");
    snprintf(text, sizeof text, "%ld", max);
    put("fs/inotify/max_user_instances", text);
    check(e == 0 && raised == max + 1, "max_user_instances raised and read back");
    put_err("fs/inotify/max_user_instances", "-1", EINVAL);
    put_err("fs/inotify/max_queued_events", "-5", EINVAL);
    checkf(get("fs/inotify/max_user_instances") == max, "max_user_instances restored", "%ld %ld",
           get("fs/inotify/max_user_instances"), max);

    /* A user of its own reaches max_user_instances (EMFILE). */
    pid_t child = fork();
    if (child == 0) {
        struct rlimit rl = {max + 64, max + 64};
        setrlimit(RLIMIT_NOFILE, &rl);
        if (setuid(54321))
            _exit(1);
        long made = 0;
        while (made <= max && inotify_init() >= 0)
            made++;
        _exit(made == max && errno == EMFILE ? 0 : 2);
    }
    int status;
    waitpid(child, &status, 0);
    checkf(WIFEXITED(status) && WEXITSTATUS(status) == 0, "EMFILE at max_user_instances", "%ld %ld",
           (long)WEXITSTATUS(status), 0);

    /* max_queued_events holds for instances made after it changed. */
    long events = get("fs/inotify/max_queued_events");
    snprintf(text, sizeof text, "%ld", events);
    e = put("fs/inotify/max_queued_events", "4");
    int in = inotify_init1(IN_NONBLOCK);
    put("fs/inotify/max_queued_events", text);
    check(e == 0 && in >= 0, "an instance with max_queued_events=4");
    char dir[] = "/tmp/rvisor-sysctl-XXXXXX";
    mkdtemp(dir);
    inotify_add_watch(in, dir, IN_CREATE);
    for (int i = 0; i < 10; i++) {
        char path[64];
        snprintf(path, sizeof path, "%s/f%d", dir, i);
        close(open(path, O_CREAT | O_WRONLY, 0600));
    }
    char buf[4096] __attribute__((aligned(8)));
    long n = read(in, buf, sizeof buf);
    int count = 0, overflow = 0;
    for (char *p = buf; p < buf + n;) {
        struct inotify_event *ev = (struct inotify_event *)p;
        if (ev->mask & IN_Q_OVERFLOW)
            overflow++;
        else
            count++;
        p += sizeof *ev + ev->len;
    }
    printf("queued: %d events and %d overflow\n", count, overflow);
    close(in);
    for (int i = 0; i < 10; i++) {
        char path[64];
        snprintf(path, sizeof path, "%s/f%d", dir, i);
        unlink(path);
    }
    rmdir(dir);
    checkf(get("fs/inotify/max_queued_events") == events, "max_queued_events restored", "%ld %ld",
           get("fs/inotify/max_queued_events"), events);
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    (void)ok;
    pipe_max_size();
    pipe_user_pages();
    inotify_limits();
    return finish();
}
