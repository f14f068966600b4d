/* mount(2) and umount2(2) in a private mount namespace: tmpfs instances
 * with options, bind mounts, stacking, /proc/self/mounts and its change
 * notification (EPOLLPRI), and the errors. Runs as root natively (the
 * namespace keeps the host's mount table untouched). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <unistd.h>

#include "abi_check.h"

/* Whether /proc/self/mounts lists `dir` with type `type`. */
static int listed(const char *dir, const char *type)
{
    char want[512], line[1024];
    snprintf(want, sizeof want, " %s %s ", dir, type);
    FILE *f = fopen("/proc/self/mounts", "r");
    int found = 0;
    while (f && fgets(line, sizeof line, f))
        found |= strstr(line, want) != NULL;
    if (f)
        fclose(f);
    return found;
}

/* The options /proc/self/mounts shows for `dir` begin with `opts`. */
static int listed_with(const char *dir, const char *opts)
{
    char want[512], line[1024];
    snprintf(want, sizeof want, " %s tmpfs %s", dir, opts);
    FILE *f = fopen("/proc/self/mounts", "r");
    int found = 0;
    while (f && fgets(line, sizeof line, f))
        found |= strstr(line, want) != NULL;
    if (f)
        fclose(f);
    return found;
}

static int exists(const char *path)
{
    return access(path, F_OK) == 0;
}

int main(void)
{
    check(unshare(CLONE_NEWNS) == 0, "a mount namespace of our own");
    check(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0, "made private");

    char dir[] = "/tmp/mount-test-XXXXXX";
    check(mkdtemp(dir) != NULL, "a directory to mount on");
    char bind[300], file[300], bound_file[300];
    snprintf(bind, sizeof bind, "%s/bind", dir);
    snprintf(file, sizeof file, "%s/top/file", dir);
    snprintf(bound_file, sizeof bound_file, "%s/bind/file", dir);
    char top[300];
    snprintf(top, sizeof top, "%s/top", dir);
    mkdir(top, 0755);
    mkdir(bind, 0755);

    int mounts = open("/proc/self/mounts", O_RDONLY);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLPRI};
    check(epoll_ctl(ep, EPOLL_CTL_ADD, mounts, &ev) == 0, "/proc/self/mounts in an epoll");
    check(epoll_wait(ep, &ev, 1, 0) == 0, "no change yet");

    /* A tmpfs with options. */
    check(mount("none", top, "tmpfs", 0, "mode=0701,size=1m") == 0, "mount a tmpfs");
    struct stat st;
    check(stat(top, &st) == 0 && (st.st_mode & 07777) == 0701, "its root has mode=0701");
    int n = epoll_wait(ep, &ev, 1, 1000);
    check(n == 1 && (ev.events & EPOLLPRI), "the mount is announced (EPOLLPRI)");
    check(epoll_wait(ep, &ev, 1, 0) == 0, "once");
    check(listed(top, "tmpfs"), "listed in /proc/self/mounts");
    int fd = open(file, O_CREAT | O_RDWR, 0644);
    check(fd >= 0 && write(fd, "hello", 5) == 5, "a file in it");
    close(fd);

    /* A bind mount shows the same files. */
    check(mount(top, bind, NULL, MS_BIND, NULL) == 0, "bind it elsewhere");
    check(exists(bound_file), "the file shows through the bind");
    check(umount(bind) == 0, "unmount the bind");
    check(!exists(bound_file), "gone from there");
    check(exists(file), "still in the tmpfs");

    /* Mounts stack: the newest covers, unmounting uncovers. */
    check(mount("second", top, "tmpfs", 0, NULL) == 0, "a second tmpfs on top");
    check(!exists(file), "covers the first");
    check(umount2(top, MNT_DETACH) == 0, "unmount it");
    check(exists(file), "the first shows again");

    check(umount(top) == 0, "unmount the first");
    check(!exists(file), "the directory underneath is empty");
    check(!listed(top, "tmpfs"), "no longer listed");
    n = epoll_wait(ep, &ev, 1, 1000);
    check(n == 1 && (ev.events & EPOLLPRI), "changes announced");

    /* A read-only tmpfs: remounted read-only (not while a file is open
     * for writing), every change is EROFS; remounted writable again. */
    char ro_file[320], ro_new[320], ro_dir[320], ro_link[320];
    snprintf(ro_file, sizeof ro_file, "%s/file", top);
    snprintf(ro_new, sizeof ro_new, "%s/new", top);
    snprintf(ro_dir, sizeof ro_dir, "%s/dir", top);
    snprintf(ro_link, sizeof ro_link, "%s/link", top);
    check(mount("none", top, "tmpfs", 0, NULL) == 0, "a tmpfs to make read-only");
    check(mkdir(ro_dir, 0755) == 0, "a directory in it");
    fd = open(ro_file, O_CREAT | O_RDWR, 0644);
    check(fd >= 0 && write(fd, "data", 4) == 4, "a file in it");
    err(mount(NULL, top, "tmpfs", MS_REMOUNT | MS_RDONLY, NULL), EBUSY,
        "remount read-only while a file is open for writing");
    close(fd);
    check(mount(NULL, top, "tmpfs", MS_REMOUNT | MS_RDONLY, NULL) == 0, "remount read-only");
    check(listed_with(top, "ro"), "listed read-only");
    struct statvfs sv;
    check(statvfs(top, &sv) == 0 && (sv.f_flag & ST_RDONLY), "statvfs says ST_RDONLY");
    err(open(ro_new, O_CREAT | O_WRONLY, 0644), EROFS, "create in a read-only tmpfs");
    err(open(ro_file, O_WRONLY), EROFS, "open for writing");
    err(open(ro_file, O_RDONLY | O_TRUNC), EROFS, "open with O_TRUNC");
    fd = open(ro_file, O_RDONLY);
    char buf[8] = {0};
    check(fd >= 0 && read(fd, buf, 8) == 4 && memcmp(buf, "data", 4) == 0, "read still works");
    close(fd);
    err(mkdir(ro_new, 0755), EROFS, "mkdir");
    err(mkdir(ro_dir, 0755), EEXIST, "mkdir of an existing name (EEXIST first)");
    err(rmdir(ro_dir), EROFS, "rmdir");
    err(unlink(ro_file), EROFS, "unlink");
    err(rename(ro_file, ro_new), EROFS, "rename");
    err(link(ro_file, ro_new), EROFS, "link");
    err(symlink("file", ro_link), EROFS, "symlink");
    err(mknod(ro_new, S_IFIFO | 0644, 0), EROFS, "mknod a fifo");
    err(chmod(ro_file, 0600), EROFS, "chmod");
    err(chown(ro_file, 1, 1), EROFS, "chown");
    err(lchown(ro_file, 1, 1), EROFS, "lchown");
    err(truncate(ro_file, 0), EROFS, "truncate");
    err(utimes(ro_file, NULL), EROFS, "utimes");
    err(access(ro_file, W_OK), EROFS, "access W_OK");
    check(access(ro_file, R_OK) == 0, "access R_OK");
    check(mount(NULL, top, "tmpfs", MS_REMOUNT, NULL) == 0, "remount writable");
    check(listed_with(top, "rw"), "listed writable again");
    check(unlink(ro_file) == 0 && rmdir(ro_dir) == 0, "changes work again");
    check(umount(top) == 0, "unmount it");
    check(mount("none", top, "tmpfs", MS_RDONLY, NULL) == 0, "a tmpfs mounted read-only");
    err(mkdir(ro_dir, 0755), EROFS, "mkdir in it");
    check(listed_with(top, "ro"), "listed read-only from the start");
    check(umount(top) == 0, "unmount that");
    err(mount(NULL, top, "tmpfs", MS_REMOUNT | MS_RDONLY, NULL), EINVAL,
        "remount what is not a mount");

    /* Errors. */
    err(umount(top), EINVAL, "unmount what is not mounted");
    err(umount2(top, 0x100), EINVAL, "unknown umount2 flags");
    err(mount("none", top, "no-such-fs", 0, NULL), ENODEV, "unknown filesystem type");
    err(mount("none", "/no/such/dir", "tmpfs", 0, NULL), ENOENT, "missing mount point");
    err(mount("none", top, "tmpfs", 0, "bogus-option"), EINVAL, "unknown tmpfs option");

    close(ep);
    close(mounts);
    rmdir(bind);
    rmdir(top);
    rmdir(dir);
    printf("failures=%d\n", failures);
    return failures != 0;
}
