/* Coherence of a shared host directory (--mount ...:rw) under the sentry's
 * caches: what one descriptor, process or path changes is seen at once
 * through every other. Run natively on a host directory and in the sandbox
 * on an identical one; the outputs must match.
 *
 *   hostfs_coherence check DIR   the sandbox's own changes
 *   hostfs_coherence host DIR    prints "ready", waits for a line on stdin,
 *                                then reads what the host changed meanwhile
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[512];
static int failures;

static const char *P(const char *name) {
    static char buf[4][1024];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof buf[i], "%s/%s", dir, name);
    return buf[i];
}

static void check(int cond, const char *what) {
    printf("%s: %s\n", what, cond ? "ok" : "FAIL");
    if (!cond) failures++;
}

static long size_of(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -errno;
}

static int read_all(int fd, char *buf, int len) {
    int n = pread(fd, buf, len - 1, 0);
    buf[n < 0 ? 0 : n] = 0;
    return n;
}

static void in_child(void (*f)(void)) {
    pid_t pid = fork();
    if (pid == 0) {
        f();
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
}

static void child_append(void) {
    int fd = open(P("f"), O_WRONLY | O_APPEND);
    write(fd, " world", 6);
    close(fd);
}
static void child_rename(void) { rename(P("f"), P("g")); }
static void child_create(void) {
    int fd = open(P("newname"), O_CREAT | O_WRONLY, 0644);
    write(fd, "n", 1);
    close(fd);
}

static void own_changes(void) {
    char buf[256];
    int a = open(P("f"), O_CREAT | O_RDWR | O_TRUNC, 0644);
    write(a, "hello", 5);
    int b = open(P("f"), O_RDONLY);
    read_all(b, buf, sizeof buf);
    check(strcmp(buf, "hello") == 0, "write on one fd, read on another");
    struct stat st;
    fstat(b, &st);
    check(st.st_size == 5 && size_of(P("f")) == 5, "size through the other fd and the path");
    pwrite(a, "XY", 2, 1);
    read_all(b, buf, sizeof buf);
    check(strcmp(buf, "hXYlo") == 0, "pwrite seen by the other fd");

    in_child(child_append);
    read_all(b, buf, sizeof buf);
    printf("after the child's append: \"%s\" size %ld\n", buf, size_of(P("f")));

    in_child(child_rename);
    printf("after the child's rename: f %ld, g %ld\n", size_of(P("f")), size_of(P("g")));
    read_all(b, buf, sizeof buf);
    check(strcmp(buf, "hXYlo world") == 0, "an open fd survives the rename");

    printf("newname before: %ld\n", size_of(P("newname")));
    in_child(child_create);
    printf("newname after the child made it: %ld\n", size_of(P("newname")));
    int n = open(P("newname"), O_RDONLY);
    read_all(n, buf, sizeof buf);
    check(strcmp(buf, "n") == 0, "the new file reads what the child wrote");

    unlink(P("g"));
    fstat(b, &st);
    printf("after unlink: g %ld, nlink of the open fd %ld\n", size_of(P("g")), (long)st.st_nlink);
    close(a);
    close(b);

    mkdir(P("d"), 0755);
    printf("d/x before: %ld\n", size_of(P("d/x")));
    close(open(P("d/x"), O_CREAT | O_WRONLY, 0644));
    printf("d/x after create: %ld\n", size_of(P("d/x")));
    rename(P("d"), P("d2"));
    printf("after renaming d: d/x %ld, d2/x %ld\n", size_of(P("d/x")), size_of(P("d2/x")));

    truncate(P("newname"), 0);
    printf("newname after truncate by path: %d bytes through the open fd\n", read_all(n, buf, sizeof buf));
    int w = open(P("newname"), O_WRONLY);
    write(w, "again", 5);
    close(w);
    read_all(n, buf, sizeof buf);
    check(strcmp(buf, "again") == 0, "written through a new fd, read through the old");
    close(n);

    char target[64];
    symlink("target1", P("ln"));
    ssize_t t = readlink(P("ln"), target, sizeof target - 1);
    target[t < 0 ? 0 : t] = 0;
    printf("link: %s\n", target);
    unlink(P("ln"));
    symlink("target2", P("ln"));
    t = readlink(P("ln"), target, sizeof target - 1);
    target[t < 0 ? 0 : t] = 0;
    printf("link replaced: %s\n", target);

    int m = open(P("mapped"), O_CREAT | O_RDWR | O_TRUNC, 0644);
    ftruncate(m, 4096);
    char *map = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0);
    check(map != MAP_FAILED, "mmap shared");
    if (map != MAP_FAILED) {
        pwrite(m, "via write", 9, 0);
        check(memcmp(map, "via write", 9) == 0, "write() seen in the mapping");
        memcpy(map + 100, "via store", 9);
        char got[10] = {0};
        pread(m, got, 9, 100);
        check(strcmp(got, "via store") == 0, "a store seen by pread");
        munmap(map, 4096);
    }
    close(m);
}

static void host_changes(void) {
    char buf[256];
    /* Looked up and read before the host changes anything. */
    int fd = open(P("seen.txt"), O_RDONLY);
    read_all(fd, buf, sizeof buf);
    printf("seen.txt: %s\n", buf);
    close(fd);
    printf("ready\n");
    fflush(stdout);
    if (!fgets(buf, sizeof buf, stdin)) return;
    /* Names and files the sandbox had not looked at: as the host has them
     * now. */
    printf("fromhost.txt size %ld\n", size_of(P("fromhost.txt")));
    fd = open(P("fromhost.txt"), O_RDONLY);
    read_all(fd, buf, sizeof buf);
    printf("fromhost.txt: %s\n", buf);
    close(fd);
    fd = open(P("unread.txt"), O_RDONLY);
    read_all(fd, buf, sizeof buf);
    printf("unread.txt: %s\n", buf);
    close(fd);
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    snprintf(dir, sizeof dir, "%s", argv[2]);
    if (strcmp(argv[1], "check") == 0) own_changes();
    else host_changes();
    printf("failures=%d\n", failures);
    return failures != 0;
}
