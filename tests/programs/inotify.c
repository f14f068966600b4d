/* inotify: watches on a directory and a file, the events that file
 * operations produce (in order, with names and paired rename cookies),
 * the errors of the calls, read and poll semantics, a blocking read woken
 * by another process, and /proc/self/fdinfo. Run natively and in the
 * sandbox; the outputs must match. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int dir_wd, file_wd;
/* Calls whose result was not the expected one (the events themselves are
 * compared with the native run's). */
static int failures;

static const char *wd_name(int wd)
{
    if (wd == dir_wd)
        return "dir";
    if (wd == file_wd)
        return "file";
    return "?";
}

static void print_mask(unsigned mask)
{
    static const struct { unsigned bit; const char *name; } names[] = {
        {IN_ACCESS, "ACCESS"}, {IN_MODIFY, "MODIFY"}, {IN_ATTRIB, "ATTRIB"},
        {IN_CLOSE_WRITE, "CLOSE_WRITE"}, {IN_CLOSE_NOWRITE, "CLOSE_NOWRITE"},
        {IN_OPEN, "OPEN"}, {IN_MOVED_FROM, "MOVED_FROM"}, {IN_MOVED_TO, "MOVED_TO"},
        {IN_CREATE, "CREATE"}, {IN_DELETE, "DELETE"}, {IN_DELETE_SELF, "DELETE_SELF"},
        {IN_MOVE_SELF, "MOVE_SELF"}, {IN_IGNORED, "IGNORED"}, {IN_ISDIR, "ISDIR"},
        {IN_Q_OVERFLOW, "Q_OVERFLOW"},
    };
    int first = 1;
    for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++)
        if (mask & names[i].bit) {
            printf("%s%s", first ? "" : "|", names[i].name);
            first = 0;
        }
}

/* Prints every queued event; rename cookies are shown as paired or not. */
static void drain(int fd, const char *what)
{
    char buf[4096] __attribute__((aligned(8)));
    unsigned last_cookie = 0;
    printf("-- %s\n", what);
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno != EAGAIN)
                printf("read: %s\n", strerror(errno));
            return;
        }
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *ev = (struct inotify_event *)p;
            printf("  %s ", wd_name(ev->wd));
            print_mask(ev->mask);
            if (ev->len)
                printf(" name=%s", ev->name);
            if (ev->mask & IN_MOVED_FROM)
                last_cookie = ev->cookie;
            if (ev->mask & IN_MOVED_TO)
                printf(" cookie=%s", ev->cookie && ev->cookie == last_cookie ? "paired" : "unpaired");
            else if (!(ev->mask & IN_MOVED_FROM) && ev->cookie)
                printf(" cookie=%u", ev->cookie);
            printf(" len%%16=%d\n", (int)(ev->len % 16));
            p += sizeof *ev + ev->len;
        }
    }
}

static void check(const char *what, int r, int want_errno)
{
    if (r >= 0)
        printf("%s: ok\n", what);
    else
        printf("%s: %s%s\n", what, strerror(errno), errno == want_errno ? " (as expected)" : "");
    if (want_errno ? r >= 0 || errno != want_errno : r < 0)
        failures++;
}

int main(void)
{
    char base[] = "/tmp/inotifyXXXXXX";
    if (!mkdtemp(base)) {
        perror("mkdtemp");
        return 1;
    }
    if (chdir(base) < 0 || mkdir("d", 0755) < 0) {
        perror("setup");
        return 1;
    }
    int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) {
        perror("inotify_init1");
        return 1;
    }
    char small[8];
    check("read of an empty queue", read(fd, small, sizeof small), EAGAIN);
    dir_wd = inotify_add_watch(fd, "d", IN_ALL_EVENTS);
    printf("dir watch: %s\n", dir_wd > 0 ? "ok" : strerror(errno));

    int f = open("d/f", O_CREAT | O_WRONLY, 0644);
    write(f, "hello", 5);
    close(f);
    drain(fd, "create, write, close");

    file_wd = inotify_add_watch(fd, "d/f", IN_ALL_EVENTS);
    printf("file watch: %s, distinct: %s\n", file_wd > 0 ? "ok" : strerror(errno),
           file_wd != dir_wd ? "yes" : "no");
    printf("same file again gives the same wd: %s\n",
           inotify_add_watch(fd, "d/f", IN_ALL_EVENTS) == file_wd ? "yes" : "no");
    f = open("d/f", O_RDONLY);
    read(f, small, sizeof small);
    close(f);
    chmod("d/f", 0600);
    truncate("d/f", 2);
    drain(fd, "read, chmod, truncate (dir and file watches)");

    struct pollfd p = {.fd = fd, .events = POLLIN};
    printf("poll with nothing queued: %d\n", poll(&p, 1, 0));
    rename("d/f", "d/g");
    int ready = poll(&p, 1, 0);
    printf("poll after a rename: %d revents=%s\n", ready, p.revents & POLLIN ? "POLLIN" : "-");
    int queued = -1;
    ioctl(fd, FIONREAD, &queued);
    printf("FIONREAD: %d\n", queued);
    check("read into 8 bytes", read(fd, small, sizeof small), EINVAL);
    drain(fd, "rename");

    mkdir("d/sub", 0700);
    rmdir("d/sub");
    symlink("g", "d/link");
    link("d/g", "d/hard");
    unlink("d/hard");
    unlink("d/link");
    drain(fd, "mkdir, rmdir, symlink, link, unlinks");

    /* The last link goes: the file watch ends (DELETE_SELF, IGNORED). */
    unlink("d/g");
    drain(fd, "unlink of the watched file");

    check("rm_watch of an ended watch", inotify_rm_watch(fd, file_wd), EINVAL);
    check("add_watch of a missing path", inotify_add_watch(fd, "d/none", IN_ALL_EVENTS), ENOENT);
    f = open("d/x", O_CREAT | O_WRONLY, 0644);
    close(f);
    check("IN_ONLYDIR on a file", inotify_add_watch(fd, "d/x", IN_ALL_EVENTS | IN_ONLYDIR), ENOTDIR);
    check("IN_MASK_CREATE on a watched dir", inotify_add_watch(fd, "d", IN_OPEN | IN_MASK_CREATE), EEXIST);
    check("an empty mask", inotify_add_watch(fd, "d", 0), EINVAL);
    check("add_watch on a non-inotify fd", inotify_add_watch(0, "d", IN_OPEN), EINVAL);
    check("add_watch on a bad fd", inotify_add_watch(9999, "d", IN_OPEN), EBADF);
    check("inotify_init1 with a bad flag", inotify_init1(0x10), EINVAL);
    drain(fd, "d/x created");

    /* A second add_watch replaces the mask (only IN_ATTRIB now); with
     * IN_MASK_ADD it would extend it. */
    printf("same wd for the dir: %s\n", inotify_add_watch(fd, "d", IN_ATTRIB) == dir_wd ? "yes" : "no");
    f = open("d/x", O_RDONLY);
    close(f);
    chmod("d/x", 0600);
    drain(fd, "only IN_ATTRIB watched");

    char info[256];
    snprintf(info, sizeof info, "/proc/self/fdinfo/%d", fd);
    FILE *fi = fopen(info, "r");
    char line[256];
    int watches = 0;
    while (fi && fgets(line, sizeof line, fi)) {
        unsigned mask;
        if (sscanf(line, "inotify wd:%*d ino:%*x sdev:%*x mask:%x", &mask) == 1) {
            watches++;
            printf("fdinfo mask: %x\n", mask);
        }
    }
    if (fi)
        fclose(fi);
    printf("fdinfo watches: %d\n", watches);

    check("rm_watch", inotify_rm_watch(fd, dir_wd), 0);
    drain(fd, "rm_watch");

    /* A blocking read waits until another process makes an event. */
    int blocking = inotify_init();
    inotify_add_watch(blocking, "d", IN_CREATE);
    pid_t child = fork();
    if (child == 0) {
        usleep(100000);
        close(open("d/late", O_CREAT | O_WRONLY, 0644));
        _exit(0);
    }
    char buf[256] __attribute__((aligned(8)));
    ssize_t n = read(blocking, buf, sizeof buf);
    struct inotify_event *ev = (struct inotify_event *)buf;
    printf("blocking read: %s name=%s\n", n > 0 && (ev->mask & IN_CREATE) ? "IN_CREATE" : "?",
           n > 0 ? ev->name : "");
    waitpid(child, NULL, 0);

    unlink("d/late");
    unlink("d/x");
    rmdir("d");
    chdir("/");
    rmdir(base);
    printf("failures=%d\n", failures);
    return 0;
}
