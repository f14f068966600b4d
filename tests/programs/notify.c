/* File-change notification beyond inotify: dnotify (fcntl F_NOTIFY on a
 * directory: which changes signal which descriptor, F_SETSIG's signal
 * with si_fd/si_code/si_band or a plain SIGIO, one-shot and DN_MULTISHOT,
 * removal by F_NOTIFY 0 and by close, the errors) and fanotify (groups
 * and their flags, inode marks with FAN_EVENT_ON_CHILD and FAN_ONDIR,
 * events with a descriptor on the object, merging, permission events
 * answered, denied and released by the group's close, the errors). Run
 * natively (as root) and in the sandbox; the outputs must match. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_LOG 64
static struct {
    int sig, fd, code;
    long band;
} seen[MAX_LOG];
static volatile int nseen;
static int fd_names[8];

static void handler(int sig, siginfo_t *si, void *ctx)
{
    (void)ctx;
    if (nseen < MAX_LOG) {
        seen[nseen].sig = sig;
        seen[nseen].fd = si->si_fd;
        seen[nseen].code = si->si_code;
        seen[nseen].band = si->si_band;
        nseen++;
    }
}

static const char *fd_name(int fd)
{
    static const char *names[] = {"parent", "sub", "other", "file"};
    for (int i = 0; i < 4; i++)
        if (fd_names[i] == fd)
            return names[i];
    return "?";
}

/* Prints (and forgets) the signals received since the last call. */
static void report(const char *what)
{
    printf("-- %s: %d signal(s)\n", what, nseen);
    for (int i = 0; i < nseen; i++) {
        if (seen[i].sig == SIGIO)
            printf("  SIGIO\n");
        else
            printf("  RT+1 fd=%s code=%d band=%#lx\n", fd_name(seen[i].fd), seen[i].code,
                   seen[i].band);
    }
    nseen = 0;
}

static int failures;

static void check(const char *what, int r, int want_errno)
{
    if (r >= 0)
        printf("%s: ok\n", what);
    else
        printf("%s: %s%s\n", what, strerror(errno), errno == want_errno ? " (as expected)" : "");
    if (want_errno ? r >= 0 || errno != want_errno : r < 0)
        failures++;
}

static void dnotify(void)
{
    int sig = SIGRTMIN + 1;
    struct sigaction act = {0};
    act.sa_sigaction = handler;
    act.sa_flags = SA_SIGINFO;
    sigemptyset(&act.sa_mask);
    sigaction(sig, &act, NULL);
    sigaction(SIGIO, &act, NULL);

    mkdir("d", 0755);
    mkdir("d/sub", 0755);
    int parent = open("d", O_RDONLY);
    int sub = open("d/sub", O_RDONLY);
    int file = open("d/f", O_CREAT | O_RDWR, 0644);
    fd_names[0] = parent;
    fd_names[1] = sub;
    fd_names[3] = file;

    check("F_NOTIFY on a regular file", fcntl(file, F_NOTIFY, DN_MODIFY), ENOTDIR);
    check("F_NOTIFY 0 on a regular file", fcntl(file, F_NOTIFY, 0), 0);
    int opath = open("d", O_PATH);
    check("F_NOTIFY on an O_PATH descriptor", fcntl(opath, F_NOTIFY, DN_MODIFY), EBADF);
    close(opath);

    /* A one-shot watch without F_SETSIG: one plain SIGIO, then nothing. */
    check("F_NOTIFY DN_CREATE", fcntl(parent, F_NOTIFY, DN_CREATE), 0);
    printf("owner set to us: %s\n", fcntl(parent, F_GETOWN) == getpid() ? "yes" : "no");
    close(open("d/a", O_CREAT | O_WRONLY, 0644));
    report("create (one-shot, SIGIO)");
    close(open("d/b", O_CREAT | O_WRONLY, 0644));
    report("create again (the one-shot watch is gone)");

    /* F_SETSIG and DN_MULTISHOT: si_fd names the descriptor. */
    fcntl(parent, F_SETSIG, sig);
    fcntl(sub, F_SETSIG, sig);
    check("F_NOTIFY multishot on parent",
          fcntl(parent, F_NOTIFY, DN_MODIFY | DN_ATTRIB | DN_MULTISHOT), 0);
    check("F_NOTIFY multishot on sub", fcntl(sub, F_NOTIFY, DN_ATTRIB | DN_MULTISHOT), 0);
    write(file, "x", 1);
    report("write to a child");
    write(file, "y", 1);
    report("write again");
    chmod("d/sub", 0700);
    report("chmod of the subdirectory (parent and sub)");
    chmod("d", 0755);
    report("chmod of the watched directory itself");
    close(open("d/c", O_CREAT | O_WRONLY, 0644));
    report("create (not watched for)");

    /* A second F_NOTIFY through the same description adds bits. */
    check("F_NOTIFY adds DN_DELETE", fcntl(parent, F_NOTIFY, DN_DELETE | DN_MULTISHOT), 0);
    unlink("d/c");
    report("unlink");
    write(file, "z", 1);
    report("write (still watched)");

    /* DN_RENAME: renames inside the directory only. */
    check("F_NOTIFY DN_RENAME on sub", fcntl(sub, F_NOTIFY, DN_RENAME | DN_MULTISHOT), 0);
    rename("d/a", "d/sub/a");
    report("rename from parent into sub (DN_DELETE on parent only)");
    rename("d/sub/a", "d/sub/a2");
    report("rename inside sub");
    rename("d/sub", "d/sub2");
    report("rename of sub inside parent");
    rename("d/sub2", "d/sub");

    /* F_NOTIFY 0 removes; so does closing any descriptor of the
     * description. */
    check("F_NOTIFY 0 on sub", fcntl(sub, F_NOTIFY, 0), 0);
    chmod("d/sub", 0755);
    report("chmod of sub after F_NOTIFY 0 (parent only)");
    int dup = fcntl(parent, F_DUPFD, 0);
    close(dup);
    chmod("d/sub", 0700);
    report("chmod after closing a dup of parent");

    int other = open("d", O_RDONLY);
    fd_names[2] = other;
    fcntl(other, F_SETSIG, sig);
    fcntl(other, F_NOTIFY, DN_ATTRIB | DN_MULTISHOT);
    int moved = fcntl(other, F_DUPFD, 50);
    fd_names[2] = moved;
    fcntl(moved, F_NOTIFY, DN_ATTRIB | DN_MULTISHOT);
    chmod("d/sub", 0755);
    report("a watch set again through a dup (si_fd the newer)");
    close(other);
    close(moved);
    close(sub);
    close(file);
    close(parent);
    chmod("d/sub", 0700);
    report("all closed");
}

static void print_fan_mask(unsigned long long mask)
{
    static const struct { unsigned long long bit; const char *name; } names[] = {
        {FAN_ACCESS, "ACCESS"}, {FAN_MODIFY, "MODIFY"}, {FAN_CLOSE_WRITE, "CLOSE_WRITE"},
        {FAN_CLOSE_NOWRITE, "CLOSE_NOWRITE"}, {FAN_OPEN, "OPEN"}, {FAN_Q_OVERFLOW, "Q_OVERFLOW"},
        {FAN_OPEN_PERM, "OPEN_PERM"}, {FAN_ACCESS_PERM, "ACCESS_PERM"}, {FAN_ONDIR, "ONDIR"},
    };
    int first = 1;
    for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++)
        if (mask & names[i].bit) {
            printf("%s%s", first ? "" : "|", names[i].name);
            first = 0;
        }
    if (first)
        printf("%#llx", mask);
}

/* Reads and prints the queued events of our own processes (others' are
 * skipped: the native run shares its file systems). */
static void fan_drain(int fd, const char *what)
{
    struct fanotify_event_metadata buf[64];
    printf("-- %s\n", what);
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno != EAGAIN)
                printf("  read: %s\n", strerror(errno));
            return;
        }
        for (struct fanotify_event_metadata *ev = buf; FAN_EVENT_OK(ev, n);
             ev = FAN_EVENT_NEXT(ev, n)) {
            if (ev->pid == getpid()) {
                struct stat st;
                const char *type = "nofd";
                if (ev->fd >= 0 && fstat(ev->fd, &st) == 0)
                    type = S_ISDIR(st.st_mode) ? "dir" : S_ISREG(st.st_mode) ? "file" : "other";
                printf("  ");
                print_fan_mask(ev->mask);
                printf(" vers=%d len=%d object=%s flags=%s\n", ev->vers, ev->event_len, type,
                       ev->fd >= 0 && (fcntl(ev->fd, F_GETFL) & O_ACCMODE) == O_RDONLY ? "rdonly"
                                                                                 : "?");
            }
            if (ev->fd >= 0)
                close(ev->fd);
        }
    }
}

static void fanotify(void)
{
    check("fanotify_init with unknown flags", fanotify_init(0x80000000, O_RDONLY), EINVAL);
    check("fanotify_init with O_ACCMODE 3", fanotify_init(FAN_CLASS_NOTIF, 3), EINVAL);
    int g = fanotify_init(FAN_CLASS_NOTIF | FAN_NONBLOCK | FAN_CLOEXEC, O_RDONLY);
    check("fanotify_init", g, 0);
    printf("FD_CLOEXEC: %d, O_NONBLOCK: %s, O_RDWR: %s\n", fcntl(g, F_GETFD),
           fcntl(g, F_GETFL) & O_NONBLOCK ? "yes" : "no",
           (fcntl(g, F_GETFL) & O_ACCMODE) == O_RDWR ? "yes" : "no");
    int plain = fanotify_init(FAN_CLASS_NOTIF, O_RDONLY);
    printf("without FAN_CLOEXEC: FD_CLOEXEC %d\n", fcntl(plain, F_GETFD));
    close(plain);

    mkdir("fd", 0755);
    close(open("fd/file", O_CREAT | O_WRONLY, 0644));
    int pipefd[2];
    pipe(pipefd);
    check("fanotify_mark on a pipe", fanotify_mark(pipefd[0], FAN_MARK_ADD, FAN_OPEN, AT_FDCWD, "fd"),
          EINVAL);
    close(pipefd[0]);
    close(pipefd[1]);
    check("fanotify_mark with mask 0", fanotify_mark(g, FAN_MARK_ADD, 0, AT_FDCWD, "fd"), EINVAL);
    check("fanotify_mark ONLYDIR on a file",
          fanotify_mark(g, FAN_MARK_ADD | FAN_MARK_ONLYDIR, FAN_OPEN, AT_FDCWD, "fd/file"), ENOTDIR);
    check("fanotify_mark of a missing path",
          fanotify_mark(g, FAN_MARK_ADD, FAN_OPEN, AT_FDCWD, "fd/none"), ENOENT);
    check("FAN_OPEN_PERM on a notification group",
          fanotify_mark(g, FAN_MARK_ADD, FAN_OPEN_PERM, AT_FDCWD, "fd"), EINVAL);
    check("FAN_MARK_REMOVE without a mark",
          fanotify_mark(g, FAN_MARK_REMOVE, FAN_OPEN, AT_FDCWD, "fd"), ENOENT);
    check("ADD and REMOVE together",
          fanotify_mark(g, FAN_MARK_ADD | FAN_MARK_REMOVE, FAN_OPEN, AT_FDCWD, "fd"), EINVAL);

    char small[8];
    check("read of an empty group", read(g, small, sizeof small), EAGAIN);
    check("mark the directory",
          fanotify_mark(g, FAN_MARK_ADD,
                        FAN_OPEN | FAN_CLOSE | FAN_MODIFY | FAN_ACCESS | FAN_EVENT_ON_CHILD, AT_FDCWD,
                        "fd"),
          0);
    int f = open("fd/file", O_RDWR);
    write(f, "hello", 5);
    close(f);
    int queued = -1;
    ioctl(g, FIONREAD, &queued);
    printf("FIONREAD: %d\n", queued);
    check("read into 8 bytes", read(g, small, sizeof small), EINVAL);
    fan_drain(g, "open, write, close of a child (merged)");
    f = open("fd/file", O_RDONLY);
    fan_drain(g, "open");
    read(f, small, sizeof small);
    fan_drain(g, "read");
    close(f);
    fan_drain(g, "close");
    f = open("fd", O_RDONLY);
    close(f);
    fan_drain(g, "open of the directory itself without FAN_ONDIR");
    fanotify_mark(g, FAN_MARK_ADD, FAN_ONDIR, AT_FDCWD, "fd");
    f = open("fd", O_RDONLY);
    close(f);
    fan_drain(g, "with FAN_ONDIR (not reported in the mask)");
    check("remove FAN_EVENT_ON_CHILD",
          fanotify_mark(g, FAN_MARK_REMOVE, FAN_EVENT_ON_CHILD, AT_FDCWD, "fd"), 0);
    close(open("fd/file", O_RDONLY));
    fan_drain(g, "child open after that");
    check("ignored mask on the file",
          fanotify_mark(g, FAN_MARK_ADD | FAN_MARK_IGNORED_MASK, FAN_OPEN, AT_FDCWD, "fd/file"), 0);
    check("mark the file", fanotify_mark(g, FAN_MARK_ADD, FAN_OPEN | FAN_CLOSE, AT_FDCWD, "fd/file"),
          0);
    close(open("fd/file", O_RDONLY));
    fan_drain(g, "open ignored, close not");
    check("FAN_MARK_FLUSH", fanotify_mark(g, FAN_MARK_FLUSH, 0, AT_FDCWD, "fd"), 0);
    close(open("fd/file", O_RDONLY));
    fan_drain(g, "after the flush");
    close(g);

    /* Permission events: a child opens; the answers decide. */
    int p = fanotify_init(FAN_CLASS_CONTENT, O_RDONLY);
    check("fanotify_init FAN_CLASS_CONTENT", p, 0);
    check("mark FAN_OPEN_PERM", fanotify_mark(p, FAN_MARK_ADD, FAN_OPEN_PERM, AT_FDCWD, "fd/file"), 0);
    struct fanotify_response resp = {.fd = 1000, .response = FAN_ALLOW};
    check("a response for no event", write(p, &resp, sizeof resp), ENOENT);
    for (int round = 0; round < 3; round++) {
        pid_t child = fork();
        if (child == 0) {
            close(p); /* the group goes with the parent's descriptor */
            int r = open("fd/file", O_RDONLY);
            _exit(r >= 0 ? 0 : errno);
        }
        struct fanotify_event_metadata ev;
        ssize_t n = read(p, &ev, sizeof ev);
        printf("round %d: read %zd mask=", round, n);
        print_fan_mask(ev.mask);
        printf(" pid is the child: %s\n", ev.pid == child ? "yes" : "no");
        fflush(stdout);
        if (round == 2) {
            /* Unanswered: the group's close lets it go. */
            close(ev.fd);
            close(p);
        } else {
            resp.fd = ev.fd;
            resp.response = 0x7;
            check("a bad response", write(p, &resp, sizeof resp), EINVAL);
            check("a short response", write(p, &resp, 4), EINVAL);
            resp.response = round == 0 ? FAN_DENY : FAN_ALLOW;
            check(round == 0 ? "FAN_DENY" : "FAN_ALLOW", write(p, &resp, sizeof resp) == sizeof resp ? 0 : -1, 0);
            close(ev.fd);
        }
        int status;
        waitpid(child, &status, 0);
        printf("  child open: %s\n",
               WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "ok" : strerror(WEXITSTATUS(status)));
    }
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    char base[] = "/tmp/notifyXXXXXX";
    if (!mkdtemp(base) || chdir(base) < 0) {
        perror("setup");
        return 1;
    }
    dnotify();
    fanotify();
    printf("failures=%d\n", failures);
    return failures != 0;
}
