/* statfs of host directories, openat2 (struct open_how versions, flag
 * checks, RESOLVE_*), and file handles (name_to_handle_at,
 * open_by_handle_at), compared with a native run.
 *   fs_resolve statfs DIR    (DIR: a host directory, shared in the sandbox)
 *   fs_resolve openat2 DIR   (a fresh directory; the sandbox's tmpfs)
 *   fs_resolve handles DIR   (a fresh directory; the sandbox's tmpfs)
 *   fs_resolve hosthandles DIR (sandbox only: a shared host directory) */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "abi_check.h"

#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#define RESOLVE_NO_XDEV 0x01
#define RESOLVE_NO_MAGICLINKS 0x02
#define RESOLVE_NO_SYMLINKS 0x04
#define RESOLVE_BENEATH 0x08
#define RESOLVE_IN_ROOT 0x10
#define RESOLVE_CACHED 0x20
#define AT_HANDLE_FID_ 0x200

struct how {
    uint64_t flags, mode, resolve;
};

static long o2(int dfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve)
{
    struct how h = { flags, mode, resolve };
    return syscall(SYS_openat2, dfd, path, &h, sizeof h);
}

static void closed(long fd)
{
    if (fd >= 0)
        close(fd);
}

static void test_statfs(const char *dir)
{
    struct statfs s, f;
    ok(statfs(dir, &s), "statfs dir");
    printf("dir is tmpfs: %d\n", s.f_type == 0x01021994);
    printf("dir namelen %ld bsize %ld\n", (long)s.f_namelen, (long)s.f_bsize);
    char path[4096];
    snprintf(path, sizeof path, "%s/file", dir);
    int fd = ok(open(path, O_RDWR | O_CREAT, 0600), "create file");
    ok(fstatfs(fd, &f), "fstatfs file");
    check(f.f_type == s.f_type, "fstatfs type = statfs type of its directory");
    check(!(f.f_flags & 1), "rw mount: no ST_RDONLY");
    close(fd);
    unlink(path);
    ok(statfs("/proc", &s), "statfs /proc");
    printf("/proc type %lx\n", (long)s.f_type);
}

static void test_openat2(const char *dir)
{
    ok(chdir(dir), "chdir");
    ok(mkdir("sub", 0755), "mkdir sub");
    ok(open("sub/file", O_CREAT | O_WRONLY, 0644) >= 0 ? 0 : -1, "create sub/file");
    ok(symlink("file", "sub/rel"), "symlink sub/rel");
    ok(symlink("/file", "sub/abs"), "symlink sub/abs");
    ok(symlink("../sub/file", "sub/up"), "symlink sub/up");
    ok(symlink("/proc/version", "toproc"), "symlink toproc");
    int sub = ok(open("sub", O_DIRECTORY | O_RDONLY), "open sub");

    /* struct open_how versions */
    struct {
        struct how h;
        uint64_t pad;
    } big = { { O_RDONLY, 0, 0 }, 0 };
    long fd = syscall(SYS_openat2, sub, "file", &big, sizeof big);
    ok(fd, "size 32 with a zero tail");
    closed(fd);
    big.pad = 1;
    err(syscall(SYS_openat2, sub, "file", &big, sizeof big), E2BIG, "size 32 with a nonzero tail");
    err(syscall(SYS_openat2, sub, "file", &big, 23), EINVAL, "size 23");
    err(syscall(SYS_openat2, sub, "file", &big, 0), EINVAL, "size 0");
    err(syscall(SYS_openat2, sub, "file", &big, 8192), E2BIG, "size 8192");
    err(syscall(SYS_openat2, sub, "file", (void *)8, 24), EFAULT, "how at a bad address");
    err(syscall(SYS_openat2, sub, "file", NULL, 24), EFAULT, "how NULL");

    /* flag and mode checks */
    err(o2(sub, "file", O_RDONLY, 0644, 0), EINVAL, "mode without O_CREAT");
    err(o2(sub, "new", O_CREAT | O_WRONLY, 010000, 0), EINVAL, "mode beyond 07777");
    err(o2(sub, "file", O_RDONLY | (1ULL << 40), 0, 0), EINVAL, "flag bit 40");
    err(o2(sub, "file", O_RDONLY | 4, 0, 0), EINVAL, "flag bit 2");
    err(o2(sub, "file", O_RDONLY, 0, 0x40), EINVAL, "unknown resolve bit");
    err(o2(sub, "file", O_RDONLY, 0, RESOLVE_BENEATH | RESOLVE_IN_ROOT), EINVAL,
        "BENEATH with IN_ROOT");
    err(o2(sub, "file", O_PATH | O_RDWR, 0, 0), EINVAL, "O_PATH with O_RDWR");
    fd = o2(sub, "file", O_PATH | O_CLOEXEC | O_NOFOLLOW, 0, 0);
    ok(fd, "O_PATH with O_CLOEXEC|O_NOFOLLOW");
    closed(fd);
    err(o2(sub, "c", O_CREAT | O_WRONLY, 0600, RESOLVE_CACHED), EAGAIN, "CACHED with O_CREAT");
    err(o2(sub, "file", O_WRONLY | O_TRUNC, 0, RESOLVE_CACHED), EAGAIN, "CACHED with O_TRUNC");
    fd = o2(sub, "file", O_RDONLY, 0, RESOLVE_CACHED);
    ok(fd, "CACHED lookup");
    closed(fd);
    fd = o2(sub, "made", O_CREAT | O_EXCL | O_WRONLY, 0640, 0);
    ok(fd, "O_CREAT with mode 0640");
    struct stat st;
    if (fd >= 0) {
        fstat(fd, &st);
        checkf((st.st_mode & 0777) == (0640 & ~022), "created mode", "%lo %ld", (long)st.st_mode, 0);
        close(fd);
    }

    /* RESOLVE_NO_SYMLINKS / NO_MAGICLINKS */
    fd = o2(sub, "rel", O_RDONLY, 0, 0);
    ok(fd, "symlink followed");
    closed(fd);
    err(o2(sub, "rel", O_RDONLY, 0, RESOLVE_NO_SYMLINKS), ELOOP, "NO_SYMLINKS on a final symlink");
    err(o2(AT_FDCWD, "sub/rel", O_RDONLY | O_CREAT, 0600, RESOLVE_NO_SYMLINKS), ELOOP,
        "NO_SYMLINKS with O_CREAT");
    fd = o2(sub, "rel", O_PATH | O_NOFOLLOW, 0, RESOLVE_NO_SYMLINKS);
    ok(fd, "NO_SYMLINKS: O_PATH|O_NOFOLLOW of the symlink itself");
    closed(fd);
    err(o2(AT_FDCWD, "/proc/self/exe", O_RDONLY, 0, RESOLVE_NO_MAGICLINKS), ELOOP,
        "NO_MAGICLINKS /proc/self/exe");
    char fdpath[64];
    snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", sub);
    err(o2(AT_FDCWD, fdpath, O_RDONLY, 0, RESOLVE_NO_MAGICLINKS), ELOOP, "NO_MAGICLINKS fd link");
    fd = o2(AT_FDCWD, fdpath, O_RDONLY, 0, RESOLVE_NO_SYMLINKS & 0);
    ok(fd, "fd magic link followed");
    closed(fd);
    fd = o2(AT_FDCWD, "/proc/self/exe", O_PATH | O_NOFOLLOW, 0, RESOLVE_NO_MAGICLINKS);
    ok(fd, "NO_MAGICLINKS: the link itself with O_NOFOLLOW");
    closed(fd);
    fd = o2(sub, "rel", O_RDONLY, 0, RESOLVE_NO_MAGICLINKS);
    ok(fd, "NO_MAGICLINKS follows an ordinary symlink");
    closed(fd);

    /* RESOLVE_NO_XDEV */
    err(o2(AT_FDCWD, "/proc/version", O_RDONLY, 0, RESOLVE_NO_XDEV), EXDEV, "NO_XDEV into /proc");
    err(o2(AT_FDCWD, "toproc", O_RDONLY, 0, RESOLVE_NO_XDEV), EXDEV, "NO_XDEV symlink into /proc");
    int proc = ok(open("/proc", O_DIRECTORY | O_RDONLY), "open /proc");
    err(o2(proc, "..", O_RDONLY, 0, RESOLVE_NO_XDEV), EXDEV, "NO_XDEV .. out of /proc");
    fd = o2(proc, "version", O_RDONLY, 0, RESOLVE_NO_XDEV);
    ok(fd, "NO_XDEV within /proc");
    closed(fd);
    fd = o2(sub, "../sub/file", O_RDONLY, 0, RESOLVE_NO_XDEV);
    ok(fd, "NO_XDEV within one filesystem");
    closed(fd);
    fd = o2(proc, "/", O_RDONLY | O_DIRECTORY, 0, RESOLVE_NO_XDEV);
    ok(fd, "NO_XDEV: an absolute path argument is no crossing");
    closed(fd);
    char selffd[64];
    snprintf(selffd, sizeof selffd, "self/fd/%d", sub);

    /* RESOLVE_BENEATH */
    fd = o2(sub, "file", O_RDONLY, 0, RESOLVE_BENEATH);
    ok(fd, "BENEATH file");
    closed(fd);
    fd = o2(sub, "rel", O_RDONLY, 0, RESOLVE_BENEATH);
    ok(fd, "BENEATH relative symlink");
    closed(fd);
    err(o2(sub, "..", O_RDONLY, 0, RESOLVE_BENEATH), EXDEV, "BENEATH ..");
    err(o2(sub, "up", O_RDONLY, 0, RESOLVE_BENEATH), EXDEV, "BENEATH symlink through ..");
    err(o2(sub, "abs", O_RDONLY, 0, RESOLVE_BENEATH), EXDEV, "BENEATH absolute symlink");
    err(o2(sub, "/proc/version", O_RDONLY, 0, RESOLVE_BENEATH), EXDEV, "BENEATH absolute path");
    err(o2(proc, selffd, O_RDONLY, 0, RESOLVE_BENEATH), EXDEV, "BENEATH magic link");
    fd = o2(sub, "./x/../file", O_RDONLY, 0, RESOLVE_BENEATH);
    err(fd, ENOENT, "BENEATH missing component");
    closed(fd);
    fd = o2(sub, "new2", O_CREAT | O_WRONLY, 0600, RESOLVE_BENEATH);
    ok(fd, "BENEATH O_CREAT");
    closed(fd);

    /* RESOLVE_IN_ROOT */
    fd = o2(sub, "/file", O_RDONLY, 0, RESOLVE_IN_ROOT);
    ok(fd, "IN_ROOT absolute path stays inside");
    closed(fd);
    fd = o2(sub, "abs", O_RDONLY, 0, RESOLVE_IN_ROOT);
    ok(fd, "IN_ROOT absolute symlink stays inside");
    closed(fd);
    fd = o2(sub, "../../../file", O_RDONLY, 0, RESOLVE_IN_ROOT);
    ok(fd, "IN_ROOT .. stops at the root");
    closed(fd);
    err(o2(sub, "/proc/version", O_RDONLY, 0, RESOLVE_IN_ROOT), ENOENT, "IN_ROOT /proc/version");
    err(o2(proc, selffd, O_RDONLY, 0, RESOLVE_IN_ROOT), EXDEV, "IN_ROOT magic link");
    err(o2(proc, selffd, O_RDONLY, 0, RESOLVE_NO_XDEV), EXDEV, "NO_XDEV magic link out of /proc");
    close(proc);
    err(o2(-1, "file", O_RDONLY, 0, 0), EBADF, "bad dirfd");
    close(sub);
}

struct fh {
    unsigned int bytes;
    int type;
    unsigned char h[128];
};

static int mnt_id_of(int fd)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    FILE *f = fopen(path, "r");
    int id = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "mnt_id: %d", &id) == 1)
            break;
    fclose(f);
    return id;
}

static void test_handles(const char *dir)
{
    ok(chdir(dir), "chdir");
    int fd = ok(open("file", O_CREAT | O_RDWR, 0644), "create file");
    ok(write(fd, "hello", 5), "write");
    ok(symlink("file", "link"), "symlink");
    ok(mkdir("d", 0755), "mkdir");
    struct fh a = { 0 }, b, l;
    int mnt = 0;
    err(syscall(SYS_name_to_handle_at, AT_FDCWD, "file", &a, &mnt, 0), EOVERFLOW,
        "handle_bytes 0: EOVERFLOW");
    check(a.bytes > 0 && a.bytes <= 128, "the size it needs is reported");
    a.bytes = 128;
    ok(syscall(SYS_name_to_handle_at, AT_FDCWD, "file", &a, &mnt, 0), "name_to_handle_at");
    check(mnt == mnt_id_of(fd), "mount id is fdinfo's mnt_id");
    b.bytes = 128;
    ok(syscall(SYS_name_to_handle_at, fd, "", &b, &mnt, AT_EMPTY_PATH), "by fd (AT_EMPTY_PATH)");
    check(a.bytes == b.bytes && a.type == b.type && !memcmp(a.h, b.h, a.bytes),
          "same file, same handle");
    b.bytes = 128;
    ok(syscall(SYS_name_to_handle_at, AT_FDCWD, "link", &b, &mnt, AT_SYMLINK_FOLLOW),
       "through a symlink (AT_SYMLINK_FOLLOW)");
    check(!memcmp(a.h, b.h, a.bytes), "followed: the file's handle");
    l.bytes = 128;
    ok(syscall(SYS_name_to_handle_at, AT_FDCWD, "link", &l, &mnt, 0), "the symlink's own handle");
    check(memcmp(a.h, l.h, a.bytes) != 0, "the symlink's handle differs");
    err(syscall(SYS_name_to_handle_at, AT_FDCWD, "file", &b, &mnt, -1), EINVAL, "bad flags");
    err(syscall(SYS_name_to_handle_at, AT_FDCWD, "file", (void *)8, &mnt, 0), EFAULT, "bad handle");
    b.bytes = 129;
    err(syscall(SYS_name_to_handle_at, AT_FDCWD, "file", &b, &mnt, 0), EINVAL, "handle_bytes 129");
    b.bytes = 128;
    err(syscall(SYS_name_to_handle_at, AT_FDCWD, "file", &b, (void *)8, 0), EFAULT, "bad mount id");
    err(syscall(SYS_name_to_handle_at, AT_FDCWD, "missing", &b, &mnt, 0), ENOENT, "missing file");
    err(syscall(SYS_name_to_handle_at, AT_FDCWD, "/proc/self/status", &b, &mnt, 0), EOPNOTSUPP,
        "/proc: no handles");
    b.bytes = 128;
    ok(syscall(SYS_name_to_handle_at, AT_FDCWD, "/proc/self/status", &b, &mnt, AT_HANDLE_FID_),
       "/proc: AT_HANDLE_FID identifier");
    err(syscall(SYS_name_to_handle_at, AT_FDCWD, "file", &b, &mnt, AT_HANDLE_FID_ | 2), EINVAL,
        "FID with CONNECTABLE");

    int r = ok(syscall(SYS_open_by_handle_at, AT_FDCWD, &a, O_RDONLY), "open_by_handle_at");
    if (r >= 0) {
        char buf[8] = { 0 };
        check(read(r, buf, sizeof buf) == 5 && !memcmp(buf, "hello", 5), "it reads the file");
        struct stat s1, s2;
        fstat(r, &s1);
        fstat(fd, &s2);
        check(s1.st_ino == s2.st_ino, "same inode");
        close(r);
    }
    int dfd = open("d", O_DIRECTORY | O_RDONLY);
    r = ok(syscall(SYS_open_by_handle_at, dfd, &a, O_RDWR), "mount fd: a directory of it");
    closed(r);
    err(syscall(SYS_open_by_handle_at, AT_FDCWD, &l, O_RDONLY), ELOOP, "a symlink's handle");
    r = syscall(SYS_open_by_handle_at, AT_FDCWD, &l, O_PATH);
    ok(r, "a symlink's handle with O_PATH");
    closed(r);
    err(syscall(SYS_open_by_handle_at, -1, &a, O_RDONLY), EBADF, "bad mount fd");
    err(syscall(SYS_open_by_handle_at, AT_FDCWD, (void *)8, O_RDONLY), EFAULT, "bad handle address");
    b = a;
    b.bytes = 0;
    err(syscall(SYS_open_by_handle_at, AT_FDCWD, &b, O_RDONLY), EINVAL, "handle_bytes 0");
    b.bytes = 129;
    err(syscall(SYS_open_by_handle_at, AT_FDCWD, &b, O_RDONLY), EINVAL, "handle_bytes 129");
    b = a;
    b.type = -1;
    err(syscall(SYS_open_by_handle_at, AT_FDCWD, &b, O_RDONLY), EINVAL, "negative type");

    pid_t pid = fork();
    if (pid == 0) {
        /* Without CAP_DAC_READ_SEARCH. */
        if (setresuid(65534, 65534, 65534) != 0)
            _exit(2);
        long rr = syscall(SYS_open_by_handle_at, AT_FDCWD, &a, O_RDONLY);
        _exit(rr < 0 && errno == EPERM ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "unprivileged: EPERM");

    /* Gone: unlinked and closed. */
    close(fd);
    ok(unlink("file"), "unlink");
    err(syscall(SYS_open_by_handle_at, AT_FDCWD, &a, O_RDONLY), ESTALE, "handle of a removed file");
    close(dfd);
}

/* Sandbox only: host directories give identifiers, not handles. */
static void test_hosthandles(const char *dir)
{
    ok(chdir(dir), "chdir");
    int fd = ok(open("hfile", O_CREAT | O_RDWR, 0644), "create file");
    struct fh a = { .bytes = 128 };
    int mnt;
    err(syscall(SYS_name_to_handle_at, AT_FDCWD, "hfile", &a, &mnt, 0), EOPNOTSUPP,
        "host file: no handle");
    ok(syscall(SYS_name_to_handle_at, AT_FDCWD, "hfile", &a, &mnt, AT_HANDLE_FID_),
       "host file: AT_HANDLE_FID identifier");
    close(fd);
    unlink("hfile");
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: fs_resolve statfs|openat2|handles|hosthandles DIR\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    umask(022);
    if (!strcmp(argv[1], "statfs"))
        test_statfs(argv[2]);
    else if (!strcmp(argv[1], "openat2"))
        test_openat2(argv[2]);
    else if (!strcmp(argv[1], "handles"))
        test_handles(argv[2]);
    else if (!strcmp(argv[1], "hosthandles"))
        test_hosthandles(argv[2]);
    return finish();
}
