/* File-change notification beyond inotify: dnotify (fcntl F_NOTIFY on a
 * directory: which changes signal which descriptor, F_SETSIG's signal
 * with si_fd/si_code/si_band or a plain SIGIO, one-shot and DN_MULTISHOT,
 * removal by F_NOTIFY 0 and by close, the errors). Run natively and in
 * the sandbox; the outputs must match. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    char base[] = "/tmp/notifyXXXXXX";
    if (!mkdtemp(base) || chdir(base) < 0) {
        perror("setup");
        return 1;
    }
    dnotify();
    printf("failures=%d\n", failures);
    return failures != 0;
}
