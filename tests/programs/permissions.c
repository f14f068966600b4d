/* permissions: file permission checks (DAC) for a process that dropped root,
 * as Linux makes them: read/write/search/execute bits, sticky directories,
 * chmod/chown/utime rules, access(2) with the real ids, setfsuid, the owner
 * of new files, set-group-ID directories, set-user-ID bits lost on write and
 * chown. Run as root (the sandbox starts as root; the native run needs root)
 * with a fresh directory as argv[1]; everything below it is relative. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utime.h>
#include "abi_check.h"

#define USER 1000
#define GROUP 1000

static void make(const char *path, int mode)
{
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
    if (fd < 0 || write(fd, "#!/bin/sh\nexit 0\n", 17) != 17) {
        printf("setup %s: %s\n", path, ename(errno));
        exit(1);
    }
    close(fd);
    chmod(path, mode);
}

static void owner(const char *path, unsigned uid, unsigned gid, unsigned mode, const char *what)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        printf("%s: FAIL stat %s\n", what, ename(errno));
        failures++;
        return;
    }
    printf("%s: uid=%u gid=%u mode=%o\n", what, (unsigned)st.st_uid, (unsigned)st.st_gid,
           (unsigned)(st.st_mode & 07777));
    if (st.st_uid != uid || st.st_gid != gid || (st.st_mode & 07777) != mode)
        failures++;
}

/* What a process running as USER:GROUP may and may not do. */
static void as_user(void)
{
    err(open("secret", O_RDONLY), EACCES, "read a 0600 root file");
    int fd = ok(open("public", O_RDONLY), "read a 0644 root file");
    close(fd);
    err(open("public", O_WRONLY), EACCES, "write a 0644 root file");
    err(open("public", O_RDONLY | O_TRUNC), EACCES, "O_TRUNC a 0644 root file");
    err(open("closed/new", O_CREAT | O_WRONLY, 0644), EACCES, "create in a 0755 root dir");
    err(mkdir("closed/d", 0755), EACCES, "mkdir in a 0755 root dir");
    err(symlink("x", "closed/l"), EACCES, "symlink in a 0755 root dir");
    err(link("shared", "closed/h"), EACCES, "link in a 0755 root dir");
    err(link("public", "open/h"), EPERM, "link another's read-only file (protected_hardlinks)");
    ok(link("shared", "open/h"), "link another's writable file");
    err(mknod("closed/fifo", S_IFIFO | 0644, 0), EACCES, "mkfifo in a 0755 root dir");
    err(unlink("closed/file"), EACCES, "unlink in a 0755 root dir");
    err(rename("closed/file", "open/file"), EACCES, "rename out of a 0755 root dir");
    struct stat st;
    err(stat("private/file", &st), EACCES, "stat through a 0700 root dir");
    err(lstat("private/file", &st), EACCES, "lstat through a 0700 root dir");
    err(chdir("private"), EACCES, "chdir into a 0700 root dir");
    err(open("private", O_RDONLY | O_DIRECTORY), EACCES, "opendir a 0700 root dir");
    char buf[16];
    err(readlink("private/link", buf, sizeof buf), EACCES, "readlink through a 0700 root dir");

    fd = ok(open("open/mine", O_CREAT | O_WRONLY, 0640), "create in a 0777 dir");
    close(fd);
    owner("open/mine", USER, GROUP, 0640, "new file's owner");
    ok(mkdir("open/mydir", 0750), "mkdir in a 0777 dir");
    owner("open/mydir", USER, GROUP, 0750, "new directory's owner");
    fd = ok(open("sgid/f", O_CREAT | O_WRONLY, 0644), "create in a set-group-ID dir");
    close(fd);
    owner("sgid/f", USER, 50, 0644, "set-group-ID dir passes its group");
    ok(mkdir("sgid/d", 0755), "mkdir in a set-group-ID dir");
    owner("sgid/d", USER, 50, 02755, "set-group-ID dir passes S_ISGID to subdirs");

    err(unlink("sticky/roots"), EPERM, "unlink another's file in a sticky dir");
    err(rename("sticky/roots", "sticky/x"), EPERM, "rename another's file in a sticky dir");
    fd = ok(open("sticky/mine", O_CREAT | O_WRONLY, 0644), "create in a sticky dir");
    close(fd);
    ok(unlink("sticky/mine"), "unlink own file in a sticky dir");
    err(rmdir("sticky/rootdir"), EPERM, "rmdir another's dir in a sticky dir");

    err(chmod("public", 0777), EPERM, "chmod another's file");
    ok(chmod("open/mine", 0604), "chmod own file");
    ok(chmod("open/mine", 02644), "chmod own file with S_ISGID (own group)");
    owner("open/mine", USER, GROUP, 02644, "S_ISGID kept (own group)");
    err(chown("open/mine", 0, -1), EPERM, "chown own file to root");
    err(chown("open/mine", -1, 4242), EPERM, "chgrp own file to a foreign group");
    ok(chown("open/mine", USER, GROUP), "chown own file to itself");
    err(chown("public", USER, -1), EPERM, "chown another's file");

    struct utimbuf times = { 1000, 2000 };
    err(utime("public", &times), EPERM, "utime(times) on another's file");
    err(utime("public", NULL), EACCES, "utime(now) on another's read-only file");
    ok(utime("shared", NULL), "utime(now) on another's writable file");
    err(utime("shared", &times), EPERM, "utime(times) on another's writable file");
    ok(utime("open/mine", &times), "utime(times) on own file");
    err(truncate("public", 0), EACCES, "truncate another's read-only file");
    ok(truncate("shared", 1), "truncate another's writable file");

    err(access("secret", R_OK), EACCES, "access(R_OK) a 0600 root file");
    ok(access("secret", F_OK), "access(F_OK) a 0600 root file");
    ok(access("public", R_OK), "access(R_OK) a 0644 root file");
    err(access("public", W_OK), EACCES, "access(W_OK) a 0644 root file");
    err(access("private/file", F_OK), EACCES, "access through a 0700 root dir");

    char *argv[] = { "script", NULL };
    err(execve("public", argv, NULL), EACCES, "execve a 0644 file");
    err(execve("rootonly", argv, NULL), EACCES, "execve a 0700 root file");

    /* A write by someone without CAP_FSETID clears S_ISUID. */
    fd = ok(open("setuid", O_WRONLY), "open a 04777 root file for writing");
    ok(write(fd, "x", 1), "write it");
    close(fd);
    owner("setuid", 0, 0, 0777, "S_ISUID cleared by the write");
}

/* setfsuid: file checks follow the filesystem id; access(2) the real one. */
static void fs_ids(void)
{
    printf("setfsuid(USER) returns %d\n", setfsuid(USER));
    printf("setfsuid(-1) returns %d\n", setfsuid(-1));
    err(open("secret", O_RDONLY), EACCES, "fsuid USER: read a 0600 root file");
    ok(access("secret", R_OK), "fsuid USER: access() checks the real id (root)");
    int fd = ok(open("open/fsfile", O_CREAT | O_WRONLY, 0644), "fsuid USER: create");
    close(fd);
    owner("open/fsfile", USER, 0, 0644, "fsuid USER: owner of a new file");
    printf("setfsuid(0) returns %d\n", setfsuid(0));
    fd = ok(open("secret", O_RDONLY), "fsuid 0 again: read a 0600 root file");
    close(fd);
    printf("setfsgid(77) returns %d\n", setfsgid(77));
    fd = ok(open("open/fsgfile", O_CREAT | O_WRONLY, 0644), "fsgid 77: create");
    close(fd);
    owner("open/fsgfile", 0, 77, 0644, "fsgid 77: group of a new file");
    printf("setfsgid(0) returns %d\n", setfsgid(0));
    /* seteuid moves the fsuid along. */
    ok(seteuid(USER), "seteuid(USER)");
    fd = ok(open("open/euidfile", O_CREAT | O_WRONLY, 0644), "euid USER: create");
    close(fd);
    owner("open/euidfile", USER, 0, 0644, "euid USER: owner of a new file");
    err(open("secret", O_RDONLY), EACCES, "euid USER: read a 0600 root file");
    ok(seteuid(0), "seteuid(0)");
    printf("setfsuid(0) after seteuid(0) returns %d\n", setfsuid(0));
}

int main(int argc, char **argv)
{
    if (argc < 2 || chdir(argv[1]) < 0) {
        printf("usage: permissions DIR\n");
        return 2;
    }
    chmod(".", 0777);
    umask(022);
    make("secret", 0600);
    make("public", 0644);
    make("shared", 0666);
    make("rootonly", 0700);
    make("setuid", 04777);
    mkdir("closed", 0755);
    make("closed/file", 0644);
    mkdir("private", 0700);
    make("private/file", 0644);
    symlink("file", "private/link");
    mkdir("open", 0777);
    chmod("open", 0777);
    mkdir("sticky", 0777);
    chmod("sticky", 01777);
    make("sticky/roots", 0666);
    mkdir("sticky/rootdir", 0777);
    mkdir("sgid", 0777);
    chown("sgid", 0, 50);
    chmod("sgid", 02777);

    /* chown clears S_ISUID (and S_ISGID when group-executable), even for root. */
    make("setid", 06755);
    ok(chown("setid", 0, 0), "root chowns a 06755 file");
    owner("setid", 0, 0, 0755, "set-id bits cleared by chown");

    fs_ids();

    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        if (setgroups(0, NULL) < 0 || setgid(GROUP) < 0 || setuid(USER) < 0) {
            printf("dropping root: %s\n", ename(errno));
            _exit(1);
        }
        as_user();
        _exit(finish());
    }
    int status;
    waitpid(child, &status, 0);
    printf("child: %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        failures++;
    return finish();
}
