/* fs_tmpfs: file-system conformance on a writable directory.
 *
 * Usage: fs_tmpfs WORKDIR
 * WORKDIR is created when missing (natively the tests pass a fresh directory
 * under target/, in the sandbox a directory under the tmpfs /tmp). Everything
 * else happens relative to it, so the output never contains a path.
 *
 * Covers: create/read/write/seek/truncate, readv/writev/preadv/pwritev,
 * rename/renameat2, link, symlink/readlink, unlink, mkdir/rmdir, getdents64
 * (listing sorted), deterministic stat fields, O_EXCL/O_TRUNC/O_APPEND/
 * O_DIRECTORY/O_NOFOLLOW/O_CLOEXEC, dup/dup2/dup3/fcntl, chdir/fchdir/getcwd,
 * umask, chmod/fchmod, utimensat, statx, faccessat, O_PATH descriptors,
 * O_TMPFILE and linkat of unnamed files, SEEK_DATA/SEEK_HOLE, cachestat,
 * renameat2's flag checks and RENAME_WHITEOUT, file_getattr/file_setattr.
 *
 * Prints one line per check: "<what>: ok" or "<what>: FAIL <why>", errno
 * names where an error is expected, then "failures=N"; exits with
 * min(N, 100). Runs as root both natively and in the sandbox. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include "abi_check.h"

#ifndef O_TMPFILE
#define O_TMPFILE (020000000 | O_DIRECTORY)
#endif
#ifndef SEEK_DATA
#define SEEK_DATA 3
#define SEEK_HOLE 4
#endif
#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE 1
#define RENAME_EXCHANGE 2
#define RENAME_WHITEOUT 4
#endif
#ifndef FIGETBSZ
#define FIGETBSZ _IO(0x00, 2)
#endif
#define NR_cachestat 451
#define NR_file_getattr 468
#define NR_file_setattr 469

static int file_has(const char *path, const char *want)
{
    char buf[4096];
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    return n == (ssize_t)strlen(want) && memcmp(buf, want, n) == 0;
}

static int write_file(const char *path, const char *s)
{
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0666);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, s, strlen(s));
    close(fd);
    return n == (ssize_t)strlen(s) ? 0 : -1;
}

static mode_t mode_of(const char *p)
{
    struct stat st;
    if (lstat(p, &st) < 0)
        return (mode_t)-1;
    return st.st_mode;
}

static void test_basic_io(void)
{
    printf("-- basic io\n");
    int fd = ok(open("f1", O_CREAT | O_WRONLY | O_TRUNC, 0666), "open O_CREAT f1");
    checkf(write(fd, "hello world\n", 12) == 12, "write 12 bytes", "%ld%ld", 0, 0);
    struct stat st;
    ok(fstat(fd, &st), "fstat f1");
    check(S_ISREG(st.st_mode), "f1 is a regular file");
    checkf(st.st_size == 12, "f1 size 12", "size=%ld%ld", (long)st.st_size, 0);
    checkf(st.st_nlink == 1, "f1 nlink 1", "nlink=%ld%ld", (long)st.st_nlink, 0);
    checkf((st.st_mode & 07777) == 0644, "f1 mode 0644 (umask 022)", "mode=%lo%ld",
           (long)(st.st_mode & 07777), 0);
    checkf(st.st_uid == 0 && st.st_gid == 0, "f1 owned by 0:0", "uid=%ld gid=%ld",
           (long)st.st_uid, (long)st.st_gid);
    char buf[64];
    err(read(fd, buf, 4), EBADF, "read on O_WRONLY fd");
    close(fd);

    fd = ok(open("f1", O_RDONLY), "open O_RDONLY f1");
    memset(buf, 0, sizeof buf);
    checkf(read(fd, buf, sizeof buf) == 12 && memcmp(buf, "hello world\n", 12) == 0,
           "read back content", "%ld%ld", 0, 0);
    checkf(read(fd, buf, sizeof buf) == 0, "read at EOF returns 0", "%ld%ld", 0, 0);
    err(write(fd, "x", 1), EBADF, "write on O_RDONLY fd");
    checkf(lseek(fd, 6, SEEK_SET) == 6, "lseek SEEK_SET 6", "%ld%ld", 0, 0);
    checkf(read(fd, buf, 5) == 5 && memcmp(buf, "world", 5) == 0, "read after seek", "%ld%ld", 0, 0);
    checkf(lseek(fd, -3, SEEK_CUR) == 8, "lseek SEEK_CUR -3", "%ld%ld", 0, 0);
    checkf(lseek(fd, -1, SEEK_END) == 11, "lseek SEEK_END -1", "%ld%ld", 0, 0);
    err(lseek(fd, -100, SEEK_SET), EINVAL, "lseek to negative offset");
    err(lseek(fd, 0, 12345), EINVAL, "lseek bad whence");
    checkf(lseek(fd, 100, SEEK_SET) == 100, "lseek past EOF allowed", "%ld%ld", 0, 0);
    checkf(read(fd, buf, 4) == 0, "read past EOF returns 0", "%ld%ld", 0, 0);
    close(fd);

    /* sparse write: hole reads as zeros */
    fd = ok(open("f1", O_RDWR), "open O_RDWR f1");
    checkf(lseek(fd, 20, SEEK_SET) == 20, "seek to 20", "%ld%ld", 0, 0);
    checkf(write(fd, "END", 3) == 3, "write after hole", "%ld%ld", 0, 0);
    fstat(fd, &st);
    checkf(st.st_size == 23, "size after hole write 23", "size=%ld%ld", (long)st.st_size, 0);
    char hole[8];
    checkf(pread(fd, hole, 8, 12) == 8, "pread hole", "%ld%ld", 0, 0);
    static const char zeros[8];
    check(memcmp(hole, zeros, 8) == 0, "hole reads as zeros");
    /* pread/pwrite do not move the offset */
    checkf(lseek(fd, 0, SEEK_CUR) == 23, "offset unchanged by pread", "%ld%ld", 0, 0);
    checkf(pwrite(fd, "HELLO", 5, 0) == 5, "pwrite at 0", "%ld%ld", 0, 0);
    checkf(lseek(fd, 0, SEEK_CUR) == 23, "offset unchanged by pwrite", "%ld%ld", 0, 0);
    checkf(pread(fd, buf, 11, 0) == 11 && memcmp(buf, "HELLO world", 11) == 0, "pread sees pwrite",
           "%ld%ld", 0, 0);
    err(pread(fd, buf, 4, -1), EINVAL, "pread negative offset");

    /* readv / writev / preadv / pwritev */
    struct iovec iov[3];
    iov[0].iov_base = "ab";
    iov[0].iov_len = 2;
    iov[1].iov_base = "";
    iov[1].iov_len = 0;
    iov[2].iov_base = "cdef";
    iov[2].iov_len = 4;
    lseek(fd, 0, SEEK_SET);
    checkf(writev(fd, iov, 3) == 6, "writev 6 bytes", "%ld%ld", 0, 0);
    checkf(lseek(fd, 0, SEEK_CUR) == 6, "writev advances offset", "%ld%ld", 0, 0);
    char a[3] = {0}, b[5] = {0};
    struct iovec riov[2] = {{a, 2}, {b, 4}};
    lseek(fd, 0, SEEK_SET);
    checkf(readv(fd, riov, 2) == 6 && memcmp(a, "ab", 2) == 0 && memcmp(b, "cdef", 4) == 0,
           "readv scatters", "%ld%ld", 0, 0);
    struct iovec piov[2] = {{"XY", 2}, {"Z", 1}};
    checkf(pwritev(fd, piov, 2, 1) == 3, "pwritev at 1", "%ld%ld", 0, 0);
    memset(a, 0, 3);
    memset(b, 0, 5);
    checkf(preadv(fd, riov, 2, 0) == 6 && memcmp(a, "aX", 2) == 0 && memcmp(b, "YZef", 4) == 0,
           "preadv sees pwritev", "%ld%ld", 0, 0);
    checkf(lseek(fd, 0, SEEK_CUR) == 6, "offset unchanged by preadv/pwritev", "%ld%ld", 0, 0);
    close(fd);

    /* a bigger file, written and read in odd-sized chunks */
    fd = ok(open("big", O_CREAT | O_RDWR | O_TRUNC, 0600), "open big");
    static unsigned char data[300000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)(i * 7 + (i >> 11));
    size_t off = 0;
    int wok = 1;
    while (off < sizeof data) {
        size_t n = sizeof data - off < 7777 ? sizeof data - off : 7777;
        if (write(fd, data + off, n) != (ssize_t)n)
            wok = 0;
        off += n;
    }
    check(wok, "write 300000 bytes in chunks");
    lseek(fd, 0, SEEK_SET);
    static unsigned char back[300000];
    off = 0;
    ssize_t n;
    while ((n = read(fd, back + off, 65536 - 3)) > 0)
        off += n;
    check(off == sizeof data && memcmp(data, back, sizeof data) == 0, "read 300000 bytes back");
    fstat(fd, &st);
    checkf(st.st_size == 300000, "big size", "size=%ld%ld", (long)st.st_size, 0);
    close(fd);
    ok(unlink("big"), "unlink big");
}

static void test_open_flags(void)
{
    printf("-- open flags\n");
    write_file("of", "0123456789");
    err(open("of", O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST, "O_CREAT|O_EXCL on existing file");
    int fd = ok(open("of", O_WRONLY | O_TRUNC), "O_TRUNC open");
    struct stat st;
    fstat(fd, &st);
    checkf(st.st_size == 0, "O_TRUNC truncates", "size=%ld%ld", (long)st.st_size, 0);
    write(fd, "abc", 3);
    close(fd);

    fd = ok(open("of", O_WRONLY | O_APPEND), "O_APPEND open");
    lseek(fd, 0, SEEK_SET);
    write(fd, "def", 3);
    checkf(lseek(fd, 0, SEEK_CUR) == 6, "O_APPEND offset at end after write", "%ld%ld", 0, 0);
    close(fd);
    check(file_has("of", "abcdef"), "O_APPEND wrote at end");

    err(open("of", O_RDONLY | O_DIRECTORY), ENOTDIR, "O_DIRECTORY on a file");
    fd = ok(open(".", O_RDONLY | O_DIRECTORY), "O_DIRECTORY on a directory");
    close(fd);
    err(open(".", O_WRONLY), EISDIR, "open directory O_WRONLY");
    err(open(".", O_RDWR), EISDIR, "open directory O_RDWR");
    err(open(".", O_RDONLY | O_CREAT, 0644), EISDIR, "open directory O_RDONLY|O_CREAT");
    err(open("missing", O_RDONLY), ENOENT, "open missing file");
    err(open("nodir/x", O_CREAT | O_WRONLY, 0644), ENOENT, "O_CREAT in missing directory");
    err(open("of/x", O_RDONLY), ENOTDIR, "file used as a directory");
    err(open("of/x", O_CREAT | O_WRONLY, 0644), ENOTDIR, "O_CREAT below a file");
    err(open("", O_RDONLY), ENOENT, "open empty path");

    ok(symlink("of", "of.link"), "symlink of.link -> of");
    err(open("of.link", O_RDONLY | O_NOFOLLOW), ELOOP, "O_NOFOLLOW on a symlink");
    fd = ok(open("of", O_RDONLY | O_NOFOLLOW), "O_NOFOLLOW on a regular file");
    close(fd);
    fd = ok(open("of.link", O_RDONLY), "open through symlink");
    char buf[16] = {0};
    checkf(read(fd, buf, 16) == 6 && memcmp(buf, "abcdef", 6) == 0, "read through symlink",
           "%ld%ld", 0, 0);
    close(fd);
    ok(symlink("dangling-target", "dangling"), "symlink to missing target");
    err(open("dangling", O_RDONLY), ENOENT, "open dangling symlink");
    err(open("dangling", O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST, "O_CREAT|O_EXCL on dangling symlink");
    fd = ok(open("dangling", O_CREAT | O_WRONLY, 0644), "O_CREAT through dangling symlink creates target");
    close(fd);
    check(access("dangling-target", F_OK) == 0, "dangling target now exists");
    unlink("dangling-target");
    unlink("dangling");

    /* self-loop */
    symlink("loop1", "loop2");
    symlink("loop2", "loop1");
    err(open("loop1", O_RDONLY), ELOOP, "symlink loop");
    unlink("loop1");
    unlink("loop2");

    fd = ok(open("of", O_RDONLY | O_CLOEXEC), "O_CLOEXEC open");
    checkf(fcntl(fd, F_GETFD) == FD_CLOEXEC, "F_GETFD shows FD_CLOEXEC", "%ld%ld",
           (long)fcntl(fd, F_GETFD), 0);
    close(fd);
    fd = open("of", O_RDONLY);
    checkf(fcntl(fd, F_GETFD) == 0, "F_GETFD without O_CLOEXEC is 0", "%ld%ld", 0, 0);
    close(fd);

    /* O_CREAT without O_EXCL on an existing file keeps the content */
    fd = ok(open("of", O_CREAT | O_RDONLY, 0600), "O_CREAT on existing file");
    fstat(fd, &st);
    checkf(st.st_size == 6 && (st.st_mode & 07777) == 0644, "existing file keeps size and mode",
           "size=%ld mode=%lo", (long)st.st_size, (long)(st.st_mode & 07777));
    close(fd);
    unlink("of.link");
    unlink("of");
}

static void test_truncate(void)
{
    printf("-- truncate\n");
    write_file("tr", "0123456789");
    ok(truncate("tr", 4), "truncate to 4");
    check(file_has("tr", "0123"), "content after shrink");
    int fd = open("tr", O_RDWR);
    ok(ftruncate(fd, 8), "ftruncate to 8");
    char buf[16];
    checkf(pread(fd, buf, 16, 0) == 8 && memcmp(buf, "0123\0\0\0\0", 8) == 0,
           "grown part reads as zeros", "%ld%ld", 0, 0);
    err(ftruncate(fd, -1), EINVAL, "ftruncate negative");
    close(fd);
    fd = open("tr", O_RDONLY);
    err(ftruncate(fd, 0), EINVAL, "ftruncate on O_RDONLY fd");
    close(fd);
    err(truncate("missing", 0), ENOENT, "truncate missing");
    err(truncate(".", 0), EISDIR, "truncate directory");
    unlink("tr");
}

static void test_rename_link(void)
{
    printf("-- rename and link\n");
    write_file("r1", "one");
    write_file("r2", "two");
    ok(rename("r1", "r3"), "rename r1 -> r3");
    err(access("r1", F_OK), ENOENT, "old name gone");
    check(file_has("r3", "one"), "new name has content");
    ok(rename("r3", "r2"), "rename over existing file");
    check(file_has("r2", "one"), "replaced content");
    ok(rename("r2", "r2"), "rename onto itself");
    err(rename("missing", "x"), ENOENT, "rename missing");
    mkdir("d1", 0755);
    mkdir("d2", 0755);
    write_file("d2/inner", "x");
    err(rename("d1", "d2"), ENOTEMPTY, "rename dir over non-empty dir");
    err(rename("r2", "d1"), EISDIR, "rename file over dir");
    err(rename("d1", "r2"), ENOTDIR, "rename dir over file");
    err(rename("d1", "d1/sub"), EINVAL, "rename dir into itself");
    mkdir("d3", 0755);
    ok(rename("d1", "d3"), "rename dir over empty dir");
    err(access("d1", F_OK), ENOENT, "old dir gone");
    ok(rename("r2", "d2/moved"), "move file into subdir");
    check(file_has("d2/moved", "one"), "moved file content");
    write_file("nr1", "a");
    write_file("nr2", "b");
    err(syscall(SYS_renameat2, AT_FDCWD, "nr1", AT_FDCWD, "nr2", 1 /* RENAME_NOREPLACE */), EEXIST,
        "renameat2 RENAME_NOREPLACE onto existing");
    ok(syscall(SYS_renameat2, AT_FDCWD, "nr1", AT_FDCWD, "nr3", 1), "renameat2 RENAME_NOREPLACE onto new");
    check(file_has("nr3", "a"), "renameat2 content");
    unlink("nr2");
    unlink("nr3");

    /* hard links */
    write_file("l1", "linked");
    ok(link("l1", "l2"), "link l1 l2");
    struct stat s1, s2;
    stat("l1", &s1);
    stat("l2", &s2);
    checkf(s1.st_nlink == 2 && s2.st_nlink == 2, "both names have nlink 2", "%ld %ld",
           (long)s1.st_nlink, (long)s2.st_nlink);
    check(s1.st_ino == s2.st_ino && s1.st_dev == s2.st_dev, "same inode");
    int fd = open("l2", O_WRONLY | O_APPEND);
    write(fd, "+", 1);
    close(fd);
    check(file_has("l1", "linked+"), "write via one name visible via other");
    err(link("l1", "l2"), EEXIST, "link onto existing name");
    err(link("missing", "l3"), ENOENT, "link missing source");
    err(link("d3", "d3link"), EPERM, "link a directory");
    ok(unlink("l1"), "unlink l1");
    stat("l2", &s2);
    checkf(s2.st_nlink == 1, "nlink back to 1", "%ld%ld", (long)s2.st_nlink, 0);

    /* unlinked but open file stays usable */
    fd = open("l2", O_RDWR);
    ok(unlink("l2"), "unlink open file");
    struct stat st;
    fstat(fd, &st);
    checkf(st.st_nlink == 0, "fstat nlink 0 after unlink", "%ld%ld", (long)st.st_nlink, 0);
    char buf[16] = {0};
    checkf(pread(fd, buf, 16, 0) == 7 && memcmp(buf, "linked+", 7) == 0, "read unlinked file",
           "%ld%ld", 0, 0);
    close(fd);
    unlink("d2/moved");
    unlink("d2/inner");
    rmdir("d2");
    rmdir("d3");
}

static void test_symlink(void)
{
    printf("-- symlink\n");
    write_file("target", "T");
    ok(symlink("target", "sl"), "symlink sl -> target");
    char buf[64];
    memset(buf, 'x', sizeof buf);
    ssize_t n = readlink("sl", buf, sizeof buf);
    checkf(n == 6 && memcmp(buf, "target", 6) == 0 && buf[6] == 'x', "readlink (no NUL added)",
           "n=%ld%ld", (long)n, 0);
    n = readlink("sl", buf, 3);
    checkf(n == 3 && memcmp(buf, "tar", 3) == 0, "readlink truncates", "n=%ld%ld", (long)n, 0);
    struct stat st;
    lstat("sl", &st);
    check(S_ISLNK(st.st_mode), "lstat says symlink");
    checkf(st.st_size == 6, "symlink size is target length", "%ld%ld", (long)st.st_size, 0);
    stat("sl", &st);
    check(S_ISREG(st.st_mode) && st.st_size == 1, "stat follows symlink");
    err(readlink("target", buf, sizeof buf), EINVAL, "readlink on a regular file");
    err(readlink("missing", buf, sizeof buf), ENOENT, "readlink missing");
    err(symlink("x", "sl"), EEXIST, "symlink onto existing name");
    mkdir("sd", 0755);
    write_file("sd/f", "in sd");
    ok(symlink("sd", "sdl"), "symlink to directory");
    check(file_has("sdl/f", "in sd"), "path through dir symlink");
    ok(symlink("../sd/f", "sd/up"), "relative symlink with ..");
    check(file_has("sd/up", "in sd"), "relative .. symlink resolves from its directory");
    ok(unlink("sdl"), "unlink dir symlink (removes link only)");
    check(file_has("sd/f", "in sd"), "target still there");
    unlink("sd/up");
    unlink("sd/f");
    rmdir("sd");
    unlink("sl");
    unlink("target");
}

static void test_dirs(void)
{
    printf("-- directories\n");
    ok(mkdir("dd", 0777), "mkdir dd");
    checkf((mode_of("dd") & 07777) == 0755, "mkdir mode 0755 under umask 022", "mode=%lo%ld",
           (long)(mode_of("dd") & 07777), 0);
    check(S_ISDIR(mode_of("dd")), "dd is a directory");
    err(mkdir("dd", 0755), EEXIST, "mkdir existing");
    err(mkdir("nodir/sub", 0755), ENOENT, "mkdir in missing parent");
    struct stat st;
    stat("dd", &st);
    checkf(st.st_nlink == 2, "empty dir nlink 2", "%ld%ld", (long)st.st_nlink, 0);
    mkdir("dd/a", 0755);
    mkdir("dd/b", 0755);
    stat("dd", &st);
    checkf(st.st_nlink == 4, "dir with 2 subdirs nlink 4", "%ld%ld", (long)st.st_nlink, 0);
    write_file("dd/file", "f");
    err(rmdir("dd"), ENOTEMPTY, "rmdir non-empty");
    err(rmdir("dd/file"), ENOTDIR, "rmdir a file");
    err(unlink("dd/a"), EISDIR, "unlink a directory");
    err(rmdir("dd/missing"), ENOENT, "rmdir missing");
    err(rmdir("dd/a/."), EINVAL, "rmdir dot");
    ok(rmdir("dd/a"), "rmdir empty dir");
    stat("dd", &st);
    checkf(st.st_nlink == 3, "nlink after rmdir 3", "%ld%ld", (long)st.st_nlink, 0);
    err(unlink("dd/file/x"), ENOTDIR, "unlink below a file");

    /* getdents64 listing: many entries, small buffer */
    char name[32];
    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof name, "dd/entry-%02d", i);
        write_file(name, "");
    }
    symlink("file", "dd/link");
    int fd = ok(open("dd", O_RDONLY | O_DIRECTORY), "open dd for getdents64");
    char names[64][64];
    int types[64];
    int count = 0;
    char buf[256]; /* small: forces several calls */
    long r;
    int calls = 0;
    while ((r = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0) {
        calls++;
        for (long off = 0; off < r;) {
            struct {
                uint64_t ino;
                int64_t off;
                unsigned short reclen;
                unsigned char type;
                char name[];
            } *d = (void *)(buf + off);
            if (count < 64) {
                snprintf(names[count], 64, "%s", d->name);
                types[count] = d->type;
                count++;
            }
            off += d->reclen;
        }
    }
    checkf(r == 0, "getdents64 ends with 0", "r=%ld errno=%ld", r, (long)errno);
    check(calls > 1, "getdents64 needed several calls with a small buffer");
    /* sort by name */
    for (int i = 0; i < count; i++)
        for (int j = i + 1; j < count; j++)
            if (strcmp(names[i], names[j]) > 0) {
                char t[64];
                memcpy(t, names[i], 64);
                memcpy(names[i], names[j], 64);
                memcpy(names[j], t, 64);
                int tt = types[i];
                types[i] = types[j];
                types[j] = tt;
            }
    printf("listing of dd (%d entries):", count);
    for (int i = 0; i < count; i++)
        printf(" %s/%c", names[i],
               types[i] == DT_DIR ? 'd' : types[i] == DT_REG ? 'f' : types[i] == DT_LNK ? 'l' : '?');
    printf("\n");
    checkf(count == 45, "dd has 45 entries incl . and ..", "%ld%ld", (long)count, 0);
    /* rewind and read again */
    lseek(fd, 0, SEEK_SET);
    int again = 0;
    while ((r = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0)
        for (long off = 0; off < r;) {
            unsigned short reclen = *(unsigned short *)(buf + off + 16);
            again++;
            off += reclen;
        }
    checkf(again == count, "listing again after lseek(0)", "%ld vs %ld", (long)again, (long)count);
    lseek(fd, 0, SEEK_SET);
    err(syscall(SYS_getdents64, fd, buf, 8), EINVAL, "getdents64 buffer too small");
    close(fd);
    fd = open("dd/file", O_RDONLY);
    err(syscall(SYS_getdents64, fd, buf, sizeof buf), ENOTDIR, "getdents64 on a file");
    close(fd);

    /* libc readdir */
    DIR *dir = opendir("dd");
    int seen = 0;
    struct dirent *de;
    while (dir && (de = readdir(dir)) != NULL)
        seen++;
    if (dir)
        closedir(dir);
    checkf(seen == 45, "readdir sees 45 entries", "%ld%ld", (long)seen, 0);

    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof name, "dd/entry-%02d", i);
        unlink(name);
    }
    unlink("dd/link");
    unlink("dd/file");
    rmdir("dd/b");
    ok(rmdir("dd"), "rmdir dd after emptying");
}

/* musl here has no statx(): the raw syscall with the kernel's layout. */
struct my_statx_ts {
    int64_t tv_sec;
    uint32_t tv_nsec;
    int32_t pad;
};
struct my_statx {
    uint32_t stx_mask, stx_blksize;
    uint64_t stx_attributes;
    uint32_t stx_nlink, stx_uid, stx_gid;
    uint16_t stx_mode, pad1;
    uint64_t stx_ino, stx_size, stx_blocks, stx_attributes_mask;
    struct my_statx_ts stx_atime, stx_btime, stx_ctime, stx_mtime;
    uint32_t stx_rdev_major, stx_rdev_minor, stx_dev_major, stx_dev_minor;
    uint64_t spare[14];
};
#define MY_STATX_BASIC_STATS 0x7ffU
#ifndef SYS_statx
#define SYS_statx 332
#endif
static long my_statx(int dfd, const char *path, int flags, unsigned mask, struct my_statx *b)
{
    return syscall(SYS_statx, dfd, path, flags, mask, b);
}

static void test_modes(void)
{
    printf("-- modes and umask\n");
    write_file("m", "m");
    ok(chmod("m", 0600), "chmod 0600");
    checkf((mode_of("m") & 07777) == 0600, "mode 0600", "%lo%ld", (long)(mode_of("m") & 07777), 0);
    int fd = open("m", O_RDONLY);
    ok(fchmod(fd, 0751), "fchmod 0751");
    checkf((mode_of("m") & 07777) == 0751, "mode 0751", "%lo%ld", (long)(mode_of("m") & 07777), 0);
    close(fd);
    ok(fchmodat(AT_FDCWD, "m", 0444, 0), "fchmodat 0444");
    checkf((mode_of("m") & 07777) == 0444, "mode 0444", "%lo%ld", (long)(mode_of("m") & 07777), 0);
    err(chmod("missing", 0644), ENOENT, "chmod missing");
    /* root can still write a 0444 file */
    fd = open("m", O_WRONLY);
    check(fd >= 0, "root opens 0444 file for writing");
    close(fd);

    mode_t old = umask(077);
    checkf(old == 022, "umask returns previous 022", "%lo%ld", (long)old, 0);
    write_file("m077", "");
    checkf((mode_of("m077") & 07777) == 0600, "file created under umask 077 is 0600", "%lo%ld",
           (long)(mode_of("m077") & 07777), 0);
    mkdir("d077", 0777);
    checkf((mode_of("d077") & 07777) == 0700, "dir created under umask 077 is 0700", "%lo%ld",
           (long)(mode_of("d077") & 07777), 0);
    umask(0);
    fd = open("m000", O_CREAT | O_WRONLY, 0777);
    close(fd);
    checkf((mode_of("m000") & 07777) == 0777, "umask 0 keeps 0777", "%lo%ld",
           (long)(mode_of("m000") & 07777), 0);
    old = umask(022);
    checkf(old == 0, "umask returns 0", "%lo%ld", (long)old, 0);

    /* utimensat with fixed times */
    struct timespec ts[2] = {{1000000000, 123456789}, {1234567890, 987654321}};
    ok(utimensat(AT_FDCWD, "m", ts, 0), "utimensat fixed times");
    struct stat st;
    stat("m", &st);
    checkf(st.st_atim.tv_sec == 1000000000 && st.st_atim.tv_nsec == 123456789, "atime set",
           "%ld.%ld", (long)st.st_atim.tv_sec, (long)st.st_atim.tv_nsec);
    checkf(st.st_mtim.tv_sec == 1234567890 && st.st_mtim.tv_nsec == 987654321, "mtime set",
           "%ld.%ld", (long)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec);
    struct timespec omit[2] = {{0, UTIME_OMIT}, {42, 0}};
    ok(utimensat(AT_FDCWD, "m", omit, 0), "utimensat UTIME_OMIT atime");
    stat("m", &st);
    check(st.st_atim.tv_sec == 1000000000 && st.st_mtim.tv_sec == 42, "UTIME_OMIT keeps atime");

    /* statx */
    struct my_statx stx;
    ok(my_statx(AT_FDCWD, "m", 0, MY_STATX_BASIC_STATS, &stx), "statx");
    check(S_ISREG(stx.stx_mode) && (stx.stx_mode & 07777) == 0444 && stx.stx_size == 1 &&
              stx.stx_nlink == 1 && stx.stx_mtime.tv_sec == 42,
          "statx fields");
    err(my_statx(AT_FDCWD, "missing", 0, MY_STATX_BASIC_STATS, &stx), ENOENT, "statx missing");
    ok(my_statx(AT_FDCWD, "d077", AT_SYMLINK_NOFOLLOW, MY_STATX_BASIC_STATS, &stx), "statx dir");
    check(S_ISDIR(stx.stx_mode), "statx says directory");

    /* faccessat / access */
    ok(access("m", F_OK), "access F_OK");
    ok(access("m", R_OK | W_OK), "access R_OK|W_OK as root");
    err(access("missing", F_OK), ENOENT, "access missing");
    ok(syscall(SYS_faccessat2, AT_FDCWD, "m", R_OK, 0), "faccessat2");
    /* newfstatat with AT_EMPTY_PATH */
    fd = open("m", O_RDONLY);
    ok(fstatat(fd, "", &st, AT_EMPTY_PATH), "fstatat AT_EMPTY_PATH");
    check(st.st_size == 1, "fstatat AT_EMPTY_PATH size");
    close(fd);
    unlink("m");
    unlink("m077");
    unlink("m000");
    rmdir("d077");
}

static void test_fds(void)
{
    printf("-- fd table\n");
    write_file("fdf", "0123456789");
    int fd = open("fdf", O_RDONLY);
    checkf(fd == 3, "lowest free fd is 3", "fd=%ld%ld", (long)fd, 0);
    int d = ok(dup(fd), "dup");
    checkf(d == 4, "dup returns 4", "%ld%ld", (long)d, 0);
    char c;
    read(fd, &c, 1);
    checkf(lseek(d, 0, SEEK_CUR) == 1, "dup shares offset", "%ld%ld", 0, 0);
    checkf(dup2(fd, 10) == 10, "dup2 to 10", "%ld%ld", 0, 0);
    checkf(dup2(fd, fd) == fd, "dup2 onto itself", "%ld%ld", 0, 0);
    err(dup2(fd, -1), EBADF, "dup2 to negative fd");
    err(dup2(99, 11), EBADF, "dup2 from closed fd");
    err(dup3(fd, fd, 0), EINVAL, "dup3 onto itself");
    checkf(dup3(fd, 12, O_CLOEXEC) == 12, "dup3 O_CLOEXEC", "%ld%ld", 0, 0);
    checkf(fcntl(12, F_GETFD) == FD_CLOEXEC, "dup3 sets cloexec", "%ld%ld", 0, 0);
    checkf(fcntl(10, F_GETFD) == 0, "dup2 clears cloexec", "%ld%ld", 0, 0);
    err(syscall(SYS_dup3, fd, 13, 0x1), EINVAL, "dup3 bad flags");
    checkf(fcntl(fd, F_DUPFD, 20) == 20, "F_DUPFD min 20", "%ld%ld", 0, 0);
    checkf(fcntl(fd, F_DUPFD, 20) == 21, "F_DUPFD next 21", "%ld%ld", 0, 0);
    int dc = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    checkf(dc == 5, "F_DUPFD_CLOEXEC lowest 5", "%ld%ld", (long)dc, 0);
    checkf(fcntl(dc, F_GETFD) == FD_CLOEXEC, "F_DUPFD_CLOEXEC sets cloexec", "%ld%ld", 0, 0);
    ok(fcntl(dc, F_SETFD, 0), "F_SETFD 0");
    checkf(fcntl(dc, F_GETFD) == 0, "F_GETFD after F_SETFD 0", "%ld%ld", 0, 0);
    checkf((fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDONLY, "F_GETFL O_RDONLY", "%ld%ld", 0, 0);
    int w = open("fdf", O_WRONLY | O_APPEND);
    int fl = fcntl(w, F_GETFL);
    checkf((fl & O_ACCMODE) == O_WRONLY && (fl & O_APPEND), "F_GETFL O_WRONLY|O_APPEND", "fl=%lo%ld",
           (long)fl, 0);
    ok(fcntl(w, F_SETFL, O_NONBLOCK), "F_SETFL O_NONBLOCK (clears O_APPEND)");
    fl = fcntl(w, F_GETFL);
    checkf((fl & O_NONBLOCK) && !(fl & O_APPEND) && (fl & O_ACCMODE) == O_WRONLY,
           "F_GETFL after F_SETFL", "fl=%lo%ld", (long)fl, 0);
    int rw = open("fdf", O_RDWR);
    checkf((fcntl(rw, F_GETFL) & O_ACCMODE) == O_RDWR, "F_GETFL O_RDWR", "%ld%ld", 0, 0);
    err(fcntl(99, F_GETFD), EBADF, "fcntl on closed fd");
    err(fcntl(fd, F_DUPFD, -1), EINVAL, "F_DUPFD negative");
    err(close(99), EBADF, "close closed fd");
    err(close(-1), EBADF, "close -1");
    err(read(99, &c, 1), EBADF, "read closed fd");
    err(write(99, &c, 1), EBADF, "write closed fd");
    struct stat st;
    err(fstat(99, &st), EBADF, "fstat closed fd");
    err(lseek(99, 0, SEEK_SET), EBADF, "lseek closed fd");
    int all[] = {fd, d, 10, 12, 20, 21, dc, w, rw};
    for (unsigned i = 0; i < sizeof all / sizeof all[0]; i++)
        close(all[i]);
    fd = open("fdf", O_RDONLY);
    checkf(fd == 3, "fd 3 reused after close", "%ld%ld", (long)fd, 0);
    close(fd);
    unlink("fdf");
}

static void test_cwd(void)
{
    printf("-- cwd\n");
    char base[PATH_MAX], now[PATH_MAX], want[PATH_MAX + 8];
    check(getcwd(base, sizeof base) != NULL, "getcwd");
    mkdir("cw", 0755);
    mkdir("cw/in", 0755);
    write_file("cw/in/f", "deep");
    ok(chdir("cw/in"), "chdir cw/in");
    snprintf(want, sizeof want, "%s/cw/in", base);
    check(getcwd(now, sizeof now) && strcmp(now, want) == 0, "getcwd after chdir");
    check(file_has("f", "deep"), "relative open after chdir");
    ok(chdir(".."), "chdir ..");
    snprintf(want, sizeof want, "%s/cw", base);
    check(getcwd(now, sizeof now) && strcmp(now, want) == 0, "getcwd after chdir ..");
    err(chdir("missing"), ENOENT, "chdir missing");
    err(chdir("in/f"), ENOTDIR, "chdir to a file");
    int dfd = open(base, O_RDONLY | O_DIRECTORY);
    ok(fchdir(dfd), "fchdir back to base");
    check(getcwd(now, sizeof now) && strcmp(now, base) == 0, "getcwd after fchdir");
    /* *at calls relative to a directory fd */
    int sub = open("cw", O_RDONLY | O_DIRECTORY);
    int f = ok(openat(sub, "in/f", O_RDONLY), "openat relative to dirfd");
    char buf[8] = {0};
    check(read(f, buf, 8) == 4 && memcmp(buf, "deep", 4) == 0, "openat content");
    close(f);
    ok(mkdirat(sub, "made", 0755), "mkdirat");
    check(S_ISDIR(mode_of("cw/made")), "mkdirat made a dir");
    ok(unlinkat(sub, "made", AT_REMOVEDIR), "unlinkat AT_REMOVEDIR");
    err(unlinkat(sub, "in", 0), EISDIR, "unlinkat dir without AT_REMOVEDIR");
    f = open("cw/in/f", O_RDONLY);
    err(openat(f, "x", O_RDONLY), ENOTDIR, "openat with a file as dirfd");
    err(fchdir(f), ENOTDIR, "fchdir to a file");
    close(f);
    err(openat(99, "x", O_RDONLY), EBADF, "openat bad dirfd");
    err(getcwd(now, 2) ? 0 : -1, ERANGE, "getcwd small buffer");
    close(sub);
    close(dfd);
    unlink("cw/in/f");
    rmdir("cw/in");
    rmdir("cw");
}

/* An O_PATH descriptor is a location: every call that needs an open file
 * says EBADF; fstat and *at calls work. */
static void test_o_path(void)
{
    printf("-- O_PATH\n");
    write_file("pf", "path only");
    int fd = ok(open("pf", O_PATH), "open O_PATH");
    int dup_fd = ok(dup(fd), "dup O_PATH");
    char buf[16];
    int arg;
    struct stat st;
    for (int i = 0; i < 2; i++) {
        int f = i ? dup_fd : fd;
        err(read(f, buf, sizeof buf), EBADF, "O_PATH read");
        err(write(f, "w", 1), EBADF, "O_PATH write");
        /* (the raw calls: musl retries these through /proc/self/fd) */
        err(syscall(SYS_fchmod, f, 0600), EBADF, "O_PATH fchmod");
        err(syscall(SYS_fchown, f, 1000, 1000), EBADF, "O_PATH fchown");
        err(ioctl(f, FIGETBSZ, &arg), EBADF, "O_PATH ioctl");
        err(mmap(NULL, 1, PROT_READ, MAP_PRIVATE, f, 0) == MAP_FAILED ? -1 : 0, EBADF,
            "O_PATH mmap");
        err(fgetxattr(f, "user.k", NULL, 0), EBADF, "O_PATH fgetxattr");
        err(lseek(f, 0, SEEK_SET), EBADF, "O_PATH lseek");
        err(ftruncate(f, 0), EBADF, "O_PATH ftruncate");
        ok(fstat(f, &st), "O_PATH fstat");
    }
    checkf(st.st_size == 9, "O_PATH fstat size", "size=%ld%ld", (long)st.st_size, 0);
    /* fchmodat2 (452) changes the mode of what an O_PATH descriptor names */
    ok(syscall(452, fd, "", 0600, AT_EMPTY_PATH), "fchmodat2 AT_EMPTY_PATH on O_PATH");
    checkf((mode_of("pf") & 07777) == 0600, "fchmodat2 changed the mode", "mode=%lo%ld",
           (long)(mode_of("pf") & 07777), 0);
    err(syscall(452, AT_FDCWD, "pf", 0644, -1), EINVAL, "fchmodat2 bad flags");
    symlink("pf", "pl");
    err(syscall(452, AT_FDCWD, "pl", 0644, AT_SYMLINK_NOFOLLOW), EOPNOTSUPP,
        "fchmodat2 of a symlink itself");
    ok(syscall(452, AT_FDCWD, "pl", 0644, 0), "fchmodat2 through a symlink");
    checkf((mode_of("pf") & 07777) == 0644, "fchmodat2 followed the symlink", "mode=%lo%ld",
           (long)(mode_of("pf") & 07777), 0);
    unlink("pl");
    close(fd);
    close(dup_fd);
    unlink("pf");
}

static int dir_entries(const char *path)
{
    DIR *d = opendir(path);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            n++;
    if (d)
        closedir(d);
    return n;
}

/* O_TMPFILE: a file in no directory, which linkat may name (unless
 * O_EXCL); an unlinked file cannot be named again. */
static void test_tmpfile(void)
{
    printf("-- O_TMPFILE\n");
    mkdir("tf", 0755);
    int fd = open("tf", O_TMPFILE | O_RDWR, 0640);
    if (fd < 0) {
        printf("O_TMPFILE: FAIL %s\n", ename(errno));
        failures++;
        return;
    }
    check(dir_entries("tf") == 0, "O_TMPFILE leaves the directory empty");
    struct stat st;
    ok(fstat(fd, &st), "fstat O_TMPFILE");
    checkf(st.st_nlink == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0640,
           "O_TMPFILE: regular, nlink 0, mode 0640", "nlink=%ld mode=%lo", (long)st.st_nlink,
           (long)st.st_mode);
    checkf(write(fd, "tmpdata", 7) == 7, "write O_TMPFILE", "%ld%ld", 0, 0);
    char proc[64], target[PATH_MAX];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(proc, target, sizeof target - 1);
    target[n > 0 ? n : 0] = 0;
    check(n > 0 && strstr(target, "/tf/#") && strstr(target, " (deleted)"),
          "/proc/self/fd of O_TMPFILE: DIR/#INO (deleted)");
    ok(linkat(AT_FDCWD, proc, AT_FDCWD, "tf/named", AT_SYMLINK_FOLLOW),
       "linkat O_TMPFILE via /proc/self/fd");
    check(file_has("tf/named", "tmpdata"), "linked O_TMPFILE content");
    ok(fstat(fd, &st), "fstat after linkat");
    checkf(st.st_nlink == 1, "nlink 1 after linkat", "nlink=%ld%ld", (long)st.st_nlink, 0);
    ok(linkat(fd, "", AT_FDCWD, "tf/again", AT_EMPTY_PATH), "linkat AT_EMPTY_PATH");
    check(dir_entries("tf") == 2, "two names now");
    close(fd);
    unlink("tf/named");
    unlink("tf/again");

    fd = ok(open("tf", O_TMPFILE | O_WRONLY | O_EXCL, 0600), "O_TMPFILE|O_EXCL");
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    err(linkat(AT_FDCWD, proc, AT_FDCWD, "tf/x", AT_SYMLINK_FOLLOW), ENOENT,
        "linkat O_TMPFILE|O_EXCL");
    err(linkat(fd, "", AT_FDCWD, "tf/x", AT_EMPTY_PATH), ENOENT,
        "linkat O_TMPFILE|O_EXCL AT_EMPTY_PATH");
    close(fd);

    write_file("tf/gone", "g");
    fd = ok(open("tf/gone", O_RDWR), "open a file to unlink");
    unlink("tf/gone");
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    err(linkat(AT_FDCWD, proc, AT_FDCWD, "tf/back", AT_SYMLINK_FOLLOW), ENOENT,
        "linkat an unlinked file");
    close(fd);

    err(open("tf", O_TMPFILE | O_RDONLY, 0600), EINVAL, "O_TMPFILE read-only");
    err(open("tf", O_TMPFILE | O_CREAT | O_RDWR, 0600), EINVAL, "O_TMPFILE|O_CREAT");
    write_file("tf/file", "f");
    err(open("tf/file", O_TMPFILE | O_RDWR, 0600), ENOTDIR, "O_TMPFILE on a file");
    err(open("tf/missing", O_TMPFILE | O_RDWR, 0600), ENOENT, "O_TMPFILE missing dir");
    unlink("tf/file");
    /* the directory an unnamed file was made in can go */
    mkdir("tf/sub", 0755);
    fd = ok(open("tf/sub", O_TMPFILE | O_RDWR, 0600), "O_TMPFILE in tf/sub");
    ok(rmdir("tf/sub"), "rmdir the directory of an O_TMPFILE");
    checkf(write(fd, "x", 1) == 1, "write after rmdir", "%ld%ld", 0, 0);
    close(fd);
    rmdir("tf");
}

/* SEEK_DATA and SEEK_HOLE on a sparse file: data in pages 0 and 2. */
static void test_seek_data(void)
{
    printf("-- SEEK_DATA/SEEK_HOLE\n");
    const off_t pg = 4096, size = 5 * 4096 + 100;
    int fd = ok(open("sparse", O_CREAT | O_RDWR | O_TRUNC, 0644), "open sparse");
    ok(ftruncate(fd, size), "ftruncate sparse");
    checkf(pwrite(fd, "A", 1, 0) == 1, "write page 0", "%ld%ld", 0, 0);
    checkf(pwrite(fd, "B", 1, 2 * pg + 10) == 1, "write page 2", "%ld%ld", 0, 0);
    fsync(fd);
    struct {
        off_t from;
        int whence;
        off_t want; /* -errno when negative */
        const char *what;
    } cases[] = {
        {0, SEEK_DATA, 0, "SEEK_DATA 0"},
        {5, SEEK_DATA, 5, "SEEK_DATA inside data"},
        {0, SEEK_HOLE, 4096, "SEEK_HOLE 0"},
        {4096, SEEK_HOLE, 4096, "SEEK_HOLE in a hole"},
        {4096, SEEK_DATA, 8192, "SEEK_DATA from a hole"},
        {8192 + 100, SEEK_DATA, 8292, "SEEK_DATA inside page 2"},
        {8192, SEEK_HOLE, 12288, "SEEK_HOLE after page 2"},
        {12288, SEEK_DATA, -ENXIO, "SEEK_DATA past the last data"},
        {12288, SEEK_HOLE, 12288, "SEEK_HOLE in the tail hole"},
        {5 * 4096 + 99, SEEK_HOLE, 5 * 4096 + 99, "SEEK_HOLE at the last byte"},
        {5 * 4096 + 100, SEEK_HOLE, -ENXIO, "SEEK_HOLE at the end"},
        {5 * 4096 + 100, SEEK_DATA, -ENXIO, "SEEK_DATA at the end"},
        {-1, SEEK_DATA, -ENXIO, "SEEK_DATA negative"},
        {-1, SEEK_HOLE, -ENXIO, "SEEK_HOLE negative"},
    };
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        off_t r = lseek(fd, cases[i].from, cases[i].whence);
        if (cases[i].want < 0)
            err(r, (int)-cases[i].want, cases[i].what);
        else
            checkf(r == cases[i].want && lseek(fd, 0, SEEK_CUR) == r, cases[i].what,
                   "got %ld%ld", (long)r, 0);
    }
    /* a file without holes: the only hole is its end */
    int full = ok(open("full", O_CREAT | O_RDWR | O_TRUNC, 0644), "open full");
    static char page[4096];
    memset(page, 'x', sizeof page);
    checkf(write(full, page, sizeof page) == 4096 && write(full, "yz", 2) == 2, "write full",
           "%ld%ld", 0, 0);
    checkf(lseek(full, 0, SEEK_HOLE) == 4098, "SEEK_HOLE of a full file is its size", "%ld%ld",
           0, 0);
    checkf(lseek(full, 4097, SEEK_DATA) == 4097, "SEEK_DATA in the last partial page", "%ld%ld",
           0, 0);
    close(full);
    unlink("full");
    /* a punched page becomes a hole */
    ok(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, pg), "punch page 0");
    checkf(lseek(fd, 0, SEEK_DATA) == 8192, "SEEK_DATA after punching page 0", "%ld%ld", 0, 0);
    close(fd);
    int d = open(".", O_RDONLY | O_DIRECTORY);
    err(lseek(-1, 0, SEEK_DATA), EBADF, "SEEK_DATA bad fd");
    int p[2];
    pipe(p);
    err(lseek(p[0], 0, SEEK_DATA), ESPIPE, "SEEK_DATA on a pipe");
    close(p[0]);
    close(p[1]);
    close(d);
    unlink("sparse");
}

struct cachestat_range {
    uint64_t off, len;
};
struct cachestat {
    uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
};

static void test_cachestat(void)
{
    printf("-- cachestat\n");
    int fd = ok(open("cached", O_CREAT | O_RDWR | O_TRUNC, 0644), "open cached");
    static char page[4096];
    memset(page, 'c', sizeof page);
    for (int i = 0; i < 3; i++)
        checkf(write(fd, page, sizeof page) == 4096, "write a page", "%ld%ld", 0, 0);
    struct cachestat_range r = {0, 0};
    struct cachestat cs;
    memset(&cs, 0xff, sizeof cs);
    ok(syscall(NR_cachestat, fd, &r, &cs, 0), "cachestat whole file");
    checkf(cs.nr_cache + cs.nr_evicted == 3, "cachestat: 3 pages", "cache=%ld evicted=%ld",
           (long)cs.nr_cache, (long)cs.nr_evicted);
    checkf(cs.nr_writeback <= cs.nr_cache && cs.nr_dirty <= cs.nr_cache, "cachestat: sane counts",
           "dirty=%ld writeback=%ld", (long)cs.nr_dirty, (long)cs.nr_writeback);
    r.off = 4096;
    r.len = 4096;
    ok(syscall(NR_cachestat, fd, &r, &cs, 0), "cachestat one page");
    checkf(cs.nr_cache + cs.nr_evicted == 1, "cachestat: 1 page", "cache=%ld%ld",
           (long)cs.nr_cache, 0);
    r.off = 100 * 4096;
    r.len = 4096;
    ok(syscall(NR_cachestat, fd, &r, &cs, 0), "cachestat past the end");
    checkf(cs.nr_cache == 0, "cachestat: none past the end", "cache=%ld%ld", (long)cs.nr_cache,
           0);
    err(syscall(NR_cachestat, -1, &r, &cs, 0), EBADF, "cachestat bad fd");
    err(syscall(NR_cachestat, fd, NULL, &cs, 0), EFAULT, "cachestat NULL range");
    err(syscall(NR_cachestat, fd, &r, NULL, 0), EFAULT, "cachestat NULL result");
    err(syscall(NR_cachestat, fd, &r, &cs, 1), EINVAL, "cachestat flags");
    int path = open("cached", O_PATH);
    err(syscall(NR_cachestat, path, &r, &cs, 0), EBADF, "cachestat O_PATH");
    close(path);
    close(fd);
    unlink("cached");
}

/* renameat2: the flags are checked before any name; RENAME_WHITEOUT
 * leaves a character device 0:0 at the old name. */
static void test_renameat2_flags(void)
{
    printf("-- renameat2 flags\n");
    err(syscall(SYS_renameat2, AT_FDCWD, "no1", AT_FDCWD, "no2", RENAME_EXCHANGE | RENAME_NOREPLACE),
        EINVAL, "EXCHANGE|NOREPLACE before lookup");
    err(syscall(SYS_renameat2, AT_FDCWD, "no1", AT_FDCWD, "no2", RENAME_EXCHANGE | RENAME_WHITEOUT),
        EINVAL, "EXCHANGE|WHITEOUT before lookup");
    err(syscall(SYS_renameat2, AT_FDCWD, "no1", AT_FDCWD, "no2", 8), EINVAL,
        "unknown flag before lookup");
    err(syscall(SYS_renameat2, AT_FDCWD, "no1", AT_FDCWD, "no2", RENAME_NOREPLACE), ENOENT,
        "NOREPLACE missing source");
    write_file("wo1", "whiteout");
    ok(syscall(SYS_renameat2, AT_FDCWD, "wo1", AT_FDCWD, "wo2", RENAME_WHITEOUT),
       "RENAME_WHITEOUT");
    check(file_has("wo2", "whiteout"), "whiteout: moved content");
    struct stat st;
    ok(lstat("wo1", &st), "whiteout left at the old name");
    checkf(S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0) && st.st_nlink == 1,
           "whiteout is a char device 0:0", "mode=%lo rdev=%ld", (long)st.st_mode,
           (long)st.st_rdev);
    write_file("wo3", "other");
    ok(syscall(SYS_renameat2, AT_FDCWD, "wo2", AT_FDCWD, "wo3", RENAME_WHITEOUT | RENAME_NOREPLACE) ==
               -1 && errno == EEXIST ? 0 : -1,
       "WHITEOUT|NOREPLACE onto a name: EEXIST");
    unlink("wo1");
    unlink("wo2");
    unlink("wo3");
}

struct file_attr {
    uint64_t fa_xflags;
    uint32_t fa_extsize, fa_nextents, fa_projid, fa_cowextsize;
};

static void test_file_attr(void)
{
    printf("-- file_getattr/file_setattr\n");
    write_file("fa", "attrs");
    int fd = open("fa", O_RDWR);
    struct file_attr fa;
    memset(&fa, 0xff, sizeof fa);
    for (int set = 0; set < 2; set++) {
        long nr = set ? NR_file_setattr : NR_file_getattr;
        const char *name = set ? "file_setattr" : "file_getattr";
        char what[80];
        struct file_attr zero = {0};
        struct file_attr *p = set ? &zero : &fa;
        snprintf(what, sizeof what, "%s with a file as dirfd", name);
        err(syscall(nr, fd, "fa", p, sizeof fa, 0), ENOTDIR, what);
        snprintf(what, sizeof what, "%s bad at_flags", name);
        err(syscall(nr, AT_FDCWD, "fa", p, sizeof fa, 1), EINVAL, what);
        snprintf(what, sizeof what, "%s size too small", name);
        err(syscall(nr, AT_FDCWD, "fa", p, 8, 0), EINVAL, what);
        snprintf(what, sizeof what, "%s size over a page", name);
        err(syscall(nr, AT_FDCWD, "fa", p, 8192, 0), E2BIG, what);
        snprintf(what, sizeof what, "%s missing file", name);
        err(syscall(nr, AT_FDCWD, "nofa", p, sizeof fa, 0), ENOENT, what);
        snprintf(what, sizeof what, "%s bad fd", name);
        err(syscall(nr, 99, "", p, sizeof fa, AT_EMPTY_PATH), EBADF, what);
    }
    ok(syscall(NR_file_getattr, AT_FDCWD, "fa", &fa, sizeof fa, 0), "file_getattr");
    checkf(fa.fa_xflags == 0, "file_getattr: no flags", "xflags=%lx%ld", (long)fa.fa_xflags, 0);
    memset(&fa, 0xff, sizeof fa);
    ok(syscall(NR_file_getattr, fd, NULL, &fa, sizeof fa, AT_EMPTY_PATH),
       "file_getattr of an fd (NULL path)");
    checkf(fa.fa_xflags == 0, "file_getattr of an fd: no flags", "xflags=%lx%ld",
           (long)fa.fa_xflags, 0);
    struct file_attr bad = {.fa_xflags = 1ull << 40};
    err(syscall(NR_file_setattr, AT_FDCWD, "fa", &bad, sizeof bad, 0), EINVAL,
        "file_setattr unknown xflag");
    char big[64] = {0};
    big[40] = 1;
    err(syscall(NR_file_setattr, AT_FDCWD, "fa", big, sizeof big, 0), E2BIG,
        "file_setattr nonzero bytes past the struct");
    close(fd);
    unlink("fa");
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc != 2) {
        fprintf(stderr, "usage: fs_tmpfs WORKDIR\n");
        return 2;
    }
    umask(022);
    if (mkdir(argv[1], 0755) < 0 && errno != EEXIST) {
        printf("cannot create workdir: %s\n", ename(errno));
        return 1;
    }
    if (chdir(argv[1]) < 0) {
        printf("cannot chdir to workdir: %s\n", ename(errno));
        return 1;
    }
    test_basic_io();
    test_open_flags();
    test_truncate();
    test_rename_link();
    test_symlink();
    test_dirs();
    test_modes();
    test_fds();
    test_cwd();
    test_o_path();
    test_tmpfile();
    test_seek_data();
    test_cachestat();
    test_renameat2_flags();
    test_file_attr();
    unlink("f1");
    /* the work dir is empty again */
    DIR *d = opendir(".");
    int left = 0;
    struct dirent *de;
    while (d && (de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            left++;
    if (d)
        closedir(d);
    checkf(left == 0, "work dir empty at the end", "%ld left%ld", (long)left, 0);
    return finish();
}
