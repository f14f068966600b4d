/* hostdir: a directory shared from the host (--mount HOST_DIR:/data[:ro|rw]),
 * or, natively, the host directory itself.
 *
 * Usage: hostdir MODE DIR [EXTRA_PATH]
 *   read    list DIR recursively (sorted; type, size, nlink, mode bits,
 *           checksum, symlink targets), read files several ways, check
 *           ENOENT/ENOTDIR/EISDIR inside it.
 *   rw      "read", then change DIR: create, write, pwrite, append,
 *           ftruncate, fsync, rename (renameat2), mkdir, unlink, rmdir,
 *           utimensat; then list again. The end state is fixed (the tests
 *           check the host directory afterwards):
 *             new.txt          "created in rw mode\n" + "appended\n", mtime 1234567890
 *             renamed.txt      (was rename-me.txt)
 *             delete-me.txt    gone
 *             newdir/inner.txt "inner\n"
 *             truncate-me.txt  first 5 bytes kept
 *             sub/moved.txt    (was moved.txt at the top)
 *             emptydir/        removed
 *   ro      "read", then every kind of write must fail with EROFS; prints
 *           one "ro ...: EROFS ok" line each; then lists again.
 *   escape  try to read a secret that lies OUTSIDE DIR (DIR/../secret.txt on
 *           the host) through ".." paths, symlinks in DIR (link_out ->
 *           ../secret.txt, abs_link -> absolute host path, sub/deep_link ->
 *           ../../secret.txt), openat with dirfds, chdir(".."), and
 *           EXTRA_PATH (the secret's absolute host path). Prints what each
 *           attempt read (natively that is the secret: the layout is right).
 *   escape-rw  like escape, then try to create files outside DIR through
 *           "..", rename a file to "../escaped-rename.txt", and write
 *           through a dangling symlink that points outside (link_new ->
 *           ../escaped-link.txt); prints what happened.
 * All output uses names relative to DIR. Prints "failures=N" at the end and
 * exits with min(N, 100). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "abi_check.h"

static char root[PATH_MAX];

static const char *P(const char *rel)
{
    static char bufs[4][PATH_MAX + 64];
    static int k;
    k = (k + 1) % 4;
    snprintf(bufs[k], sizeof bufs[k], "%s/%s", root, rel);
    return bufs[k];
}

static uint64_t fnv(const unsigned char *p, size_t n, uint64_t h)
{
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static int cmpstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list(const char *rel, int depth)
{
    char path[2 * PATH_MAX];
    snprintf(path, sizeof path, "%s%s%s", root, rel[0] ? "/" : "", rel);
    int dfd = open(path, O_RDONLY | O_DIRECTORY);
    if (dfd < 0) {
        printf("list %s: %s\n", rel[0] ? rel : ".", ename(errno));
        failures++;
        return;
    }
    char *names[512];
    int n = 0;
    char buf[1024];
    long r;
    while ((r = syscall(SYS_getdents64, dfd, buf, sizeof buf)) > 0) {
        for (long off = 0; off < r;) {
            unsigned short reclen = *(unsigned short *)(buf + off + 16);
            const char *nm = buf + off + 19;
            if (strcmp(nm, ".") && strcmp(nm, "..") && n < 512)
                names[n++] = strdup(nm);
            off += reclen;
        }
    }
    if (r < 0) {
        printf("getdents64 %s: FAIL %s\n", rel, ename(errno));
        failures++;
    }
    qsort(names, n, sizeof names[0], cmpstr);
    for (int i = 0; i < n; i++) {
        char child[2 * PATH_MAX];
        snprintf(child, sizeof child, "%s%s%s", rel, rel[0] ? "/" : "", names[i]);
        struct stat st;
        if (fstatat(dfd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
            printf("  %s: lstat FAIL %s\n", child, ename(errno));
            failures++;
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            printf("  %s/ dir nlink=%lu mode=%03o\n", child, (unsigned long)st.st_nlink, (unsigned)(st.st_mode & 0777));
            if (depth < 8)
                list(child, depth + 1);
        } else if (S_ISLNK(st.st_mode)) {
            char t[PATH_MAX];
            ssize_t k = readlinkat(dfd, names[i], t, sizeof t - 1);
            t[k > 0 ? k : 0] = 0;
            printf("  %s link size=%ld -> %s\n", child, (long)st.st_size, t);
        } else if (S_ISREG(st.st_mode)) {
            int fd = openat(dfd, names[i], O_RDONLY);
            uint64_t h = 0xcbf29ce484222325ULL;
            long total = 0;
            if (fd >= 0) {
                unsigned char b[8192];
                ssize_t k;
                while ((k = read(fd, b, sizeof b)) > 0) {
                    h = fnv(b, k, h);
                    total += k;
                }
                close(fd);
            }
            printf("  %s file size=%ld nlink=%lu mode=%03o read=%ld fnv=%016llx%s\n", child, (long)st.st_size,
                   (unsigned long)st.st_nlink, (unsigned)(st.st_mode & 0777), total, (unsigned long long)h,
                   fd < 0 ? " OPEN-FAILED" : "");
            if (fd < 0 || total != st.st_size)
                failures++;
        } else {
            printf("  %s other\n", child);
        }
        free(names[i]);
    }
    close(dfd);
}

static void read_checks(void)
{
    printf("-- reading\n");
    struct stat st;
    ok(stat(root, &st), "stat root");
    check(S_ISDIR(st.st_mode), "root is a directory");
    int fd = ok(open(P("hello.txt"), O_RDONLY), "open hello.txt");
    char buf[256] = {0};
    ssize_t n = read(fd, buf, sizeof buf - 1);
    printf("hello.txt content: %s", n > 0 ? buf : "(nothing)\n");
    checkf(lseek(fd, 6, SEEK_SET) == 6, "lseek", "%ld%ld", 0, 0);
    memset(buf, 0, sizeof buf);
    n = read(fd, buf, 5);
    printf("hello.txt from 6: %.*s\n", (int)(n > 0 ? n : 0), buf);
    memset(buf, 0, sizeof buf);
    n = pread(fd, buf, 4, 0);
    printf("hello.txt pread 0..4: %.*s\n", (int)(n > 0 ? n : 0), buf);
    checkf(lseek(fd, 0, SEEK_END) == 24, "lseek SEEK_END is the size", "%ld%ld", (long)lseek(fd, 0, SEEK_CUR), 0);
    checkf(read(fd, buf, 10) == 0, "read at EOF", "%ld%ld", 0, 0);
    char a[3] = {0}, b[4] = {0};
    struct iovec iov[2] = {{a, 2}, {b, 3}};
    checkf(preadv(fd, iov, 2, 0) == 5, "preadv", "%ld%ld", 0, 0);
    printf("preadv: %s|%s\n", a, b);
    fstat(fd, &st);
    printf("fstat hello.txt: reg=%d size=%ld mode=%03o\n", S_ISREG(st.st_mode), (long)st.st_size, (unsigned)(st.st_mode & 0777));
    err(write(fd, "x", 1), EBADF, "write to O_RDONLY fd");
    close(fd);

    /* big file in odd chunks */
    fd = open(P("big.bin"), O_RDONLY);
    uint64_t h = 0xcbf29ce484222325ULL;
    long total = 0;
    static unsigned char big[70001];
    while ((n = read(fd, big, sizeof big)) > 0) {
        h = fnv(big, n, h);
        total += n;
    }
    printf("big.bin: %ld bytes fnv=%016llx\n", total, (unsigned long long)h);
    n = pread(fd, big, 10, 1000000);
    printf("big.bin pread at 1000000: %ld bytes first=%d\n", (long)n, n > 0 ? big[0] : -1);
    close(fd);

    /* *at calls relative to a directory fd */
    int dfd = ok(open(root, O_RDONLY | O_DIRECTORY), "open root O_DIRECTORY");
    fd = ok(openat(dfd, "sub/nested.txt", O_RDONLY), "openat sub/nested.txt");
    memset(buf, 0, sizeof buf);
    n = read(fd, buf, sizeof buf - 1);
    printf("sub/nested.txt: %s", n > 0 ? buf : "(nothing)\n");
    close(fd);
    ok(fstatat(dfd, "sub", &st, 0), "fstatat sub");
    check(S_ISDIR(st.st_mode), "sub is a dir");
    ok(syscall(SYS_faccessat2, dfd, "hello.txt", R_OK, 0), "faccessat2 R_OK");
    err(syscall(SYS_faccessat2, dfd, "missing.txt", F_OK, 0), ENOENT, "faccessat2 missing");
    n = readlinkat(dfd, "inside_link", buf, sizeof buf);
    printf("readlinkat inside_link: %.*s\n", (int)(n > 0 ? n : 0), buf);
    fd = ok(openat(dfd, "inside_link", O_RDONLY), "open through inside_link");
    memset(buf, 0, sizeof buf);
    n = read(fd, buf, sizeof buf - 1);
    printf("inside_link content: %s", n > 0 ? buf : "(nothing)\n");
    close(fd);
    err(openat(dfd, "inside_link", O_RDONLY | O_NOFOLLOW), ELOOP, "O_NOFOLLOW on inside_link");
    ok(fstatat(dfd, "inside_link", &st, AT_SYMLINK_NOFOLLOW), "lstat inside_link");
    check(S_ISLNK(st.st_mode), "inside_link is a symlink");
    err(openat(dfd, "missing.txt", O_RDONLY), ENOENT, "open missing");
    err(openat(dfd, "hello.txt/x", O_RDONLY), ENOTDIR, "file as dir");
    err(openat(dfd, "hello.txt", O_RDONLY | O_DIRECTORY), ENOTDIR, "O_DIRECTORY on file");
    err(openat(dfd, "sub", O_WRONLY), EISDIR, "open dir for writing");
    err(readlinkat(dfd, "hello.txt", buf, sizeof buf), EINVAL, "readlink on a file");
    fd = openat(dfd, "sub", O_RDONLY | O_DIRECTORY);
    err(read(fd, buf, 1), EISDIR, "read a directory");
    close(fd);
    /* chdir into the shared dir and use relative paths */
    char cwd[PATH_MAX];
    ok(chdir(root), "chdir root");
    ok(chdir("sub"), "chdir sub");
    check(getcwd(cwd, sizeof cwd) && strlen(cwd) > strlen(root) && strcmp(cwd + strlen(root), "/sub") == 0 &&
              strncmp(cwd, root, strlen(root)) == 0,
          "getcwd is root/sub");
    fd = ok(open("nested.txt", O_RDONLY), "relative open after chdir");
    close(fd);
    ok(fchdir(dfd), "fchdir root");
    fd = ok(open("sub/nested.txt", O_RDONLY), "relative open after fchdir");
    close(fd);
    /* many entries through getdents64 */
    int many = openat(dfd, "many", O_RDONLY | O_DIRECTORY);
    int count = 0;
    long r;
    while ((r = syscall(SYS_getdents64, many, buf, sizeof buf)) > 0)
        for (long off = 0; off < r; off += *(unsigned short *)(buf + off + 16))
            count++;
    printf("many/ entries incl . and ..: %d\n", count);
    close(many);
    close(dfd);
}

static void write_checks(void)
{
    printf("-- writing\n");
    int fd = ok(open(P("new.txt"), O_CREAT | O_EXCL | O_WRONLY, 0644), "create new.txt");
    checkf(write(fd, "created in rw mode\n", 19) == 19, "write new.txt", "%ld%ld", 0, 0);
    ok(fsync(fd), "fsync new.txt");
    close(fd);
    err(open(P("new.txt"), O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST, "O_EXCL on new.txt");
    fd = ok(open(P("new.txt"), O_WRONLY | O_APPEND), "open O_APPEND");
    write(fd, "appended\n", 9);
    close(fd);
    struct stat st;
    stat(P("new.txt"), &st);
    checkf(st.st_size == 28 && (st.st_mode & 0777) == 0644, "new.txt size 28 mode 644", "size=%ld mode=%lo", (long)st.st_size, (long)(st.st_mode & 0777));
    fd = ok(open(P("scratch.txt"), O_CREAT | O_RDWR | O_TRUNC, 0600), "create scratch.txt");
    pwrite(fd, "0123456789", 10, 0);
    pwrite(fd, "AB", 2, 4);
    char buf[64] = {0};
    pread(fd, buf, 10, 0);
    printf("scratch after pwrite: %s\n", buf);
    ok(ftruncate(fd, 3), "ftruncate scratch 3");
    fstat(fd, &st);
    checkf(st.st_size == 3, "scratch size 3", "%ld%ld", (long)st.st_size, 0);
    ok(ftruncate(fd, 8), "ftruncate scratch 8");
    memset(buf, 'x', sizeof buf);
    checkf(pread(fd, buf, 16, 0) == 8 && memcmp(buf, "012\0\0\0\0\0", 8) == 0, "grown part is zeros", "%ld%ld", 0, 0);
    close(fd);
    ok(unlink(P("scratch.txt")), "unlink scratch.txt");
    fd = open(P("truncate-me.txt"), O_RDWR);
    ok(ftruncate(fd, 5), "ftruncate truncate-me.txt to 5");
    close(fd);
    ok(rename(P("rename-me.txt"), P("renamed.txt")), "rename rename-me.txt");
    err(access(P("rename-me.txt"), F_OK), ENOENT, "old name gone");
    ok(syscall(SYS_renameat2, AT_FDCWD, P("moved.txt"), AT_FDCWD, P("sub/moved.txt"), 0), "renameat2 into sub/");
    err(syscall(SYS_renameat2, AT_FDCWD, P("renamed.txt"), AT_FDCWD, P("hello.txt"), 1), EEXIST, "RENAME_NOREPLACE");
    ok(unlink(P("delete-me.txt")), "unlink delete-me.txt");
    err(unlink(P("delete-me.txt")), ENOENT, "unlink again");
    ok(mkdir(P("newdir"), 0755), "mkdir newdir");
    err(mkdir(P("newdir"), 0755), EEXIST, "mkdir newdir again");
    fd = ok(open(P("newdir/inner.txt"), O_CREAT | O_WRONLY, 0644), "create newdir/inner.txt");
    write(fd, "inner\n", 6);
    close(fd);
    err(rmdir(P("newdir")), ENOTEMPTY, "rmdir non-empty newdir");
    err(unlink(P("newdir")), EISDIR, "unlink a dir");
    ok(rmdir(P("emptydir")), "rmdir emptydir");
    err(rmdir(P("hello.txt")), ENOTDIR, "rmdir a file");
    struct timespec ts[2] = {{1000000000, 0}, {1234567890, 0}};
    ok(utimensat(AT_FDCWD, P("new.txt"), ts, 0), "utimensat new.txt");
    stat(P("new.txt"), &st);
    checkf(st.st_mtim.tv_sec == 1234567890, "mtime set", "%ld%ld", (long)st.st_mtim.tv_sec, 0);
    /* a file created, renamed over another, and removed */
    fd = open(P("tmp1"), O_CREAT | O_WRONLY, 0644);
    write(fd, "t1", 2);
    close(fd);
    fd = open(P("tmp2"), O_CREAT | O_WRONLY, 0644);
    close(fd);
    ok(rename(P("tmp1"), P("tmp2")), "rename over existing");
    stat(P("tmp2"), &st);
    checkf(st.st_size == 2, "replaced file has new content", "%ld%ld", (long)st.st_size, 0);
    unlink(P("tmp2"));
    /* unlinked-while-open file stays readable */
    fd = open(P("tmp3"), O_CREAT | O_RDWR, 0644);
    write(fd, "still here", 10);
    ok(unlink(P("tmp3")), "unlink open file");
    memset(buf, 0, sizeof buf);
    checkf(pread(fd, buf, 10, 0) == 10 && !strcmp(buf, "still here"), "read after unlink", "%ld%ld", 0, 0);
    close(fd);
}

static void ro_checks(void)
{
    printf("-- read-only\n");
    char buf[8];
    err(open(P("ro-new.txt"), O_CREAT | O_WRONLY, 0644), EROFS, "ro create");
    err(open(P("hello.txt"), O_WRONLY), EROFS, "ro open O_WRONLY");
    err(open(P("hello.txt"), O_RDWR), EROFS, "ro open O_RDWR");
    err(open(P("hello.txt"), O_RDONLY | O_TRUNC), EROFS, "ro open O_TRUNC");
    err(open(P("hello.txt"), O_WRONLY | O_APPEND), EROFS, "ro open O_APPEND");
    err(mkdir(P("ro-dir"), 0755), EROFS, "ro mkdir");
    err(unlink(P("delete-me.txt")), EROFS, "ro unlink");
    err(rmdir(P("emptydir")), EROFS, "ro rmdir");
    err(rename(P("rename-me.txt"), P("ro-renamed.txt")), EROFS, "ro rename");
    err(truncate(P("hello.txt"), 0), EROFS, "ro truncate");
    struct timespec ts[2] = {{1, 0}, {1, 0}};
    err(utimensat(AT_FDCWD, P("hello.txt"), ts, 0), EROFS, "ro utimensat");
    err(symlink("hello.txt", P("ro-link")), EROFS, "ro symlink");
    err(link(P("hello.txt"), P("ro-hardlink")), EROFS, "ro link");
    err(chmod(P("hello.txt"), 0600), EROFS, "ro chmod");
    err(access(P("hello.txt"), W_OK), EROFS, "ro access W_OK");
    int fd = open(P("hello.txt"), O_RDONLY);
    err(ftruncate(fd, 0), EINVAL, "ro ftruncate on O_RDONLY fd");
    err(write(fd, buf, 1), EBADF, "ro write on O_RDONLY fd");
    close(fd);
    ok(access(P("hello.txt"), R_OK), "ro access R_OK still fine");
}

static void try_read(const char *what, const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        printf("escape %s: open %s\n", what, ename(errno));
        return;
    }
    char buf[256] = {0};
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 0)
        printf("escape %s: read %s\n", what, ename(errno));
    else
        printf("escape %s: read %ld bytes: %s\n", what, (long)n, buf);
}

static void try_read_at(const char *what, int dfd, const char *rel)
{
    int fd = openat(dfd, rel, O_RDONLY);
    if (fd < 0) {
        printf("escape %s: open %s\n", what, ename(errno));
        return;
    }
    char buf[256] = {0};
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    printf("escape %s: read %ld bytes: %s\n", what, (long)n, n > 0 ? buf : "");
}

static void escape_checks(const char *extra)
{
    printf("-- escapes\n");
    try_read("dir/../secret.txt", P("../secret.txt"));
    try_read("dir/sub/../../secret.txt", P("sub/../../secret.txt"));
    try_read("dir/../../../../../secret.txt", P("../../../../../secret.txt"));
    try_read("link_out", P("link_out"));
    try_read("abs_link", P("abs_link"));
    try_read("sub/deep_link", P("sub/deep_link"));
    try_read("dirlink_out/secret.txt", P("dirlink_out/secret.txt"));
    if (extra)
        try_read("absolute host path", extra);
    int dfd = open(root, O_RDONLY | O_DIRECTORY);
    try_read_at("openat(dir, ../secret.txt)", dfd, "../secret.txt");
    int sub = openat(dfd, "sub", O_RDONLY | O_DIRECTORY);
    try_read_at("openat(sub, ../../secret.txt)", sub, "../../secret.txt");
    try_read_at("openat(sub, deep_link)", sub, "deep_link");
    /* a dirfd for the parent, then the secret relative to it */
    int up = openat(dfd, "..", O_RDONLY | O_DIRECTORY);
    if (up >= 0) {
        try_read_at("openat(openat(dir, ..), secret.txt)", up, "secret.txt");
        close(up);
    } else {
        printf("escape openat(dir, ..): %s\n", ename(errno));
    }
    if (chdir(root) == 0 && chdir("..") == 0)
        try_read("chdir(dir/..) then secret.txt", "secret.txt");
    else
        printf("escape chdir: %s\n", ename(errno));
    if (chdir(root) == 0 && chdir("../../../../..") == 0)
        try_read("chdir(dir/../../../../..) then secret.txt", "secret.txt");
    else
        printf("escape chdir(dir/../../../../..): %s\n", ename(errno));
    struct stat st;
    if (stat(P("link_out"), &st) == 0)
        printf("escape stat link_out: size=%ld\n", (long)st.st_size);
    else
        printf("escape stat link_out: %s\n", ename(errno));
    close(sub);
    close(dfd);
}

static void escape_rw_checks(void)
{
    printf("-- escapes by writing\n");
    int fd = open(P("../escaped-create.txt"), O_CREAT | O_WRONLY, 0644);
    if (fd >= 0) {
        write(fd, "escaped\n", 8);
        close(fd);
        printf("escape create dir/../escaped-create.txt: created\n");
    } else {
        printf("escape create dir/../escaped-create.txt: %s\n", ename(errno));
    }
    fd = open(P("victim.txt"), O_CREAT | O_WRONLY, 0644);
    write(fd, "victim\n", 7);
    close(fd);
    if (rename(P("victim.txt"), P("../escaped-rename.txt")) == 0)
        printf("escape rename to dir/../escaped-rename.txt: renamed\n");
    else
        printf("escape rename to dir/../escaped-rename.txt: %s\n", ename(errno));
    fd = open(P("link_new"), O_CREAT | O_WRONLY, 0644);
    if (fd >= 0) {
        write(fd, "escaped\n", 8);
        close(fd);
        printf("escape write through link_new: written\n");
    } else {
        printf("escape write through link_new: %s\n", ename(errno));
    }
    if (mkdir(P("../escaped-dir"), 0755) == 0)
        printf("escape mkdir dir/../escaped-dir: made\n");
    else
        printf("escape mkdir dir/../escaped-dir: %s\n", ename(errno));
    fd = open(P("link_out"), O_WRONLY | O_TRUNC);
    if (fd >= 0) {
        close(fd);
        printf("escape truncate through link_out: opened\n");
    } else {
        printf("escape truncate through link_out: %s\n", ename(errno));
    }
    if (unlink(P("../secret.txt")) == 0)
        printf("escape unlink dir/../secret.txt: removed\n");
    else
        printf("escape unlink dir/../secret.txt: %s\n", ename(errno));
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 3) {
        fprintf(stderr, "usage: hostdir read|rw|ro|escape|escape-rw DIR [EXTRA_PATH]\n");
        return 2;
    }
    umask(022);
    snprintf(root, sizeof root, "%s", argv[2]);
    const char *mode = argv[1];
    if (!strcmp(mode, "escape") || !strcmp(mode, "escape-rw")) {
        escape_checks(argc > 3 ? argv[3] : NULL);
        if (!strcmp(mode, "escape-rw"))
            escape_rw_checks();
        return finish();
    }
    printf("-- listing\n");
    list("", 0);
    read_checks();
    if (!strcmp(mode, "rw"))
        write_checks();
    else if (!strcmp(mode, "ro"))
        ro_checks();
    else if (strcmp(mode, "read")) {
        fprintf(stderr, "hostdir: unknown mode %s\n", mode);
        return 2;
    }
    if (strcmp(mode, "read")) {
        printf("-- listing after\n");
        list("", 0);
    }
    return finish();
}
