/* dev_proc: the /dev and /proc the sandbox provides.
 *
 * Usage: dev_proc   (argv[0] must be the program's absolute path, as the
 * tests run it). Prints only deterministic facts.
 *
 * Covers /dev/null, /dev/zero, /dev/full (ENOSPC), /dev/random and
 * /dev/urandom, /dev/tty-less console links (/dev/stdout ...), /proc/self/exe,
 * /proc/self/fd, /proc/self/maps, /proc/self/status, /proc/meminfo,
 * /proc/cpuinfo, /proc/uptime. Prints one line per check and "failures=N";
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
#include <sys/sysmacros.h>
#include <unistd.h>

#include "abi_check.h"

static long read_all(const char *path, char *buf, long cap)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    long off = 0;
    ssize_t n;
    while (off < cap - 1 && (n = read(fd, buf + off, cap - 1 - off)) > 0)
        off += n;
    buf[off] = 0;
    close(fd);
    return off;
}

static void test_dev(void)
{
    printf("-- /dev\n");
    char buf[4096];
    struct stat st;
    const char *chars[] = {"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"};
    const int majmin[][2] = {{1, 3}, {1, 5}, {1, 7}, {1, 8}, {1, 9}};
    for (int i = 0; i < 5; i++) {
        char what[64];
        snprintf(what, sizeof what, "stat %s", chars[i]);
        ok(stat(chars[i], &st), what);
        snprintf(what, sizeof what, "%s is a char device %d:%d", chars[i], majmin[i][0], majmin[i][1]);
        check(S_ISCHR(st.st_mode) && major(st.st_rdev) == (unsigned)majmin[i][0] &&
                  minor(st.st_rdev) == (unsigned)majmin[i][1],
              what);
    }
    int fd = ok(open("/dev/null", O_RDWR), "open /dev/null");
    checkf(write(fd, "discard", 7) == 7, "write to /dev/null", "%ld%ld", 0, 0);
    checkf(read(fd, buf, sizeof buf) == 0, "read /dev/null is EOF", "%ld%ld", 0, 0);
    close(fd);
    fd = ok(open("/dev/zero", O_RDONLY), "open /dev/zero");
    memset(buf, 1, sizeof buf);
    checkf(read(fd, buf, sizeof buf) == sizeof buf, "read 4096 from /dev/zero", "%ld%ld", 0, 0);
    int zero = 1;
    for (unsigned i = 0; i < sizeof buf; i++)
        if (buf[i])
            zero = 0;
    check(zero, "/dev/zero gives zeros");
    close(fd);
    fd = ok(open("/dev/full", O_WRONLY), "open /dev/full");
    err(write(fd, "x", 1), ENOSPC, "write /dev/full");
    close(fd);
    fd = open("/dev/full", O_RDONLY);
    checkf(read(fd, buf, 16) == 16 && buf[0] == 0 && buf[15] == 0, "read /dev/full gives zeros", "%ld%ld", 0, 0);
    close(fd);
    const char *rnd[] = {"/dev/urandom", "/dev/random"};
    for (int k = 0; k < 2; k++) {
        unsigned char a[64], b[64];
        fd = open(rnd[k], O_RDONLY);
        char what[64];
        snprintf(what, sizeof what, "read 2x64 bytes from %s", rnd[k]);
        check(fd >= 0 && read(fd, a, 64) == 64 && read(fd, b, 64) == 64, what);
        snprintf(what, sizeof what, "%s: two reads differ", rnd[k]);
        check(memcmp(a, b, 64) != 0, what);
        int hist[256] = {0}, distinct = 0;
        for (int i = 0; i < 64; i++)
            hist[a[i]]++;
        for (int i = 0; i < 256; i++)
            distinct += hist[i] > 0;
        snprintf(what, sizeof what, "%s: bytes look random", rnd[k]);
        check(distinct > 30, what);
        if (fd >= 0)
            close(fd);
    }
    /* a big urandom read */
    static unsigned char big[1 << 20];
    fd = open("/dev/urandom", O_RDONLY);
    long got = 0;
    ssize_t n;
    while (got < (long)sizeof big && (n = read(fd, big + got, sizeof big - got)) > 0)
        got += n;
    checkf(got == sizeof big, "1 MiB from /dev/urandom", "%ld%ld", got, 0);
    close(fd);
    /* the std stream links */
    ok(stat("/dev/stdout", &st), "stat /dev/stdout");
    check(lstat("/dev/stdin", &st) == 0 && S_ISLNK(st.st_mode), "/dev/stdin is a symlink");
    n = readlink("/dev/stdout", buf, sizeof buf);
    check(n == 15 && memcmp(buf, "/proc/self/fd/1", 15) == 0, "/dev/stdout -> /proc/self/fd/1");
    n = readlink("/dev/stderr", buf, sizeof buf);
    check(n == 15 && memcmp(buf, "/proc/self/fd/2", 15) == 0, "/dev/stderr -> /proc/self/fd/2");
    n = readlink("/dev/stdin", buf, sizeof buf);
    check(n == 15 && memcmp(buf, "/proc/self/fd/0", 15) == 0, "/dev/stdin -> /proc/self/fd/0");
    n = readlink("/dev/fd", buf, sizeof buf);
    check(n == 13 && memcmp(buf, "/proc/self/fd", 13) == 0, "/dev/fd -> /proc/self/fd");
    fd = ok(open("/dev/stderr", O_WRONLY), "open /dev/stderr");
    checkf(write(fd, "dev_proc: line written through /dev/stderr\n", 44) == 44, "write via /dev/stderr", "%ld%ld", 0, 0);
    close(fd);
    check(stat("/dev", &st) == 0 && S_ISDIR(st.st_mode), "/dev is a directory");
    err(open("/dev/no-such-device", O_RDONLY), ENOENT, "missing device");
}

static void test_proc_self(const char *argv0)
{
    printf("-- /proc/self\n");
    char buf[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    check(n > 0, "readlink /proc/self/exe");
    if (n > 0) {
        buf[n] = 0;
        char real[PATH_MAX];
        check(realpath(argv0, real) && strcmp(real, buf) == 0, "/proc/self/exe is argv[0]'s absolute path");
    }
    int fd = open("/proc/self/exe", O_RDONLY);
    char hdr[4];
    check(fd >= 0 && read(fd, hdr, 4) == 4 && memcmp(hdr, "\177ELF", 4) == 0, "/proc/self/exe readable ELF");
    if (fd >= 0)
        close(fd);
    char pidpath[64];
    snprintf(pidpath, sizeof pidpath, "/proc/%d/exe", (int)getpid());
    char b2[PATH_MAX];
    ssize_t n2 = readlink(pidpath, b2, sizeof b2);
    check(n2 == n && n > 0 && memcmp(buf, b2, n) == 0, "/proc/<pid>/exe same as /proc/self/exe");
    n = readlink("/proc/self", b2, sizeof b2 - 1);
    if (n > 0)
        b2[n] = 0;
    check(n > 0 && atoi(b2) == getpid(), "/proc/self -> <pid>");

    /* fd listing: 0 1 2 from the parent, 3 = /dev/null, 4 = a file, 5 = the dir being listed */
    int a = open("/dev/null", O_RDONLY);
    int b = open(argv0, O_RDONLY);
    checkf(a == 3 && b == 4, "fds 3 and 4", "%ld %ld", (long)a, (long)b);
    DIR *d = opendir("/proc/self/fd");
    check(d != NULL, "opendir /proc/self/fd");
    int fds[64], count = 0;
    struct dirent *de;
    while (d && (de = readdir(d)) && count < 64)
        if (de->d_name[0] != '.')
            fds[count++] = atoi(de->d_name);
    if (d)
        closedir(d);
    for (int i = 0; i < count; i++)
        for (int j = i + 1; j < count; j++)
            if (fds[j] < fds[i]) {
                int t = fds[i];
                fds[i] = fds[j];
                fds[j] = t;
            }
    printf("/proc/self/fd:");
    for (int i = 0; i < count; i++)
        printf(" %d", fds[i]);
    printf("\n");
    n = readlink("/proc/self/fd/3", buf, sizeof buf - 1);
    if (n > 0)
        buf[n] = 0;
    check(n > 0 && strcmp(buf, "/dev/null") == 0, "/proc/self/fd/3 -> /dev/null");
    n = readlink("/proc/self/fd/4", buf, sizeof buf - 1);
    if (n > 0)
        buf[n] = 0;
    char real[PATH_MAX];
    check(n > 0 && realpath(argv0, real) && strcmp(buf, real) == 0, "/proc/self/fd/4 -> the program");
    err(readlink("/proc/self/fd/50", buf, sizeof buf), ENOENT, "/proc/self/fd/50 does not exist");
    /* reopening through /proc/self/fd gives a new description with its own offset */
    lseek(b, 100, SEEK_SET);
    int c = open("/proc/self/fd/4", O_RDONLY);
    check(c >= 0 && lseek(c, 0, SEEK_CUR) == 0, "open /proc/self/fd/4 gives a fresh offset");
    if (c >= 0)
        close(c);
    close(a);
    close(b);

    /* maps */
    static char maps[65536];
    long len = read_all("/proc/self/maps", maps, sizeof maps);
    check(len > 0, "read /proc/self/maps");
    int has_exe = 0, has_stack = 0, lines = 0, well_formed = 1;
    realpath(argv0, real);
    for (char *line = strtok(maps, "\n"); line; line = strtok(NULL, "\n")) {
        lines++;
        unsigned long lo, hi, off;
        char perms[8], dev[16];
        unsigned long ino;
        int pos = 0;
        if (sscanf(line, "%lx-%lx %7s %lx %15s %lu %n", &lo, &hi, perms, &off, dev, &ino, &pos) < 6 || lo >= hi ||
            strlen(perms) != 4)
            well_formed = 0;
        if (strstr(line, real))
            has_exe = 1;
        if (strstr(line, "[stack]"))
            has_stack = 1;
    }
    check(lines >= 3, "maps has several lines");
    check(well_formed, "maps lines are well formed");
    check(has_exe, "maps names the program");
    check(has_stack, "maps has [stack]");

    /* status */
    static char st[8192];
    len = read_all("/proc/self/status", st, sizeof st);
    check(len > 0, "read /proc/self/status");
    char want[64];
    const char *base = strrchr(argv0, '/') ? strrchr(argv0, '/') + 1 : argv0;
    snprintf(want, sizeof want, "Name:\t%.15s\n", base);
    check(strstr(st, want) != NULL, "status Name: is the program name");
    snprintf(want, sizeof want, "\nPid:\t%d\n", (int)getpid());
    check(strstr(st, want) != NULL, "status Pid: is getpid()");
    check(strstr(st, "\nUid:\t0\t0\t0\t0\n") != NULL, "status Uid: 0 0 0 0");
    check(strstr(st, "\nVmRSS:") != NULL, "status has VmRSS");
    check(strstr(st, "\nState:\t") != NULL, "status has State");
    err(open("/proc/self/no-such-file", O_RDONLY), ENOENT, "missing /proc/self file");
}

static void test_proc_global(void)
{
    printf("-- /proc\n");
    static char b[65536];
    long len = read_all("/proc/meminfo", b, sizeof b);
    unsigned long total = 0, avail = 0, mfree = 0;
    char *p = strstr(b, "MemTotal:");
    if (p)
        sscanf(p, "MemTotal: %lu kB", &total);
    p = strstr(b, "MemFree:");
    if (p)
        sscanf(p, "MemFree: %lu kB", &mfree);
    p = strstr(b, "MemAvailable:");
    if (p)
        sscanf(p, "MemAvailable: %lu kB", &avail);
    check(len > 0 && total > 1024, "meminfo MemTotal");
    check(mfree > 0 && mfree <= total, "meminfo MemFree <= MemTotal");
    check(avail > 0 && avail <= total, "meminfo MemAvailable <= MemTotal");
    len = read_all("/proc/cpuinfo", b, sizeof b);
    int procs = 0;
    for (char *q = b; (q = strstr(q, "processor\t: ")) != NULL; q++)
        procs++;
    check(len > 0 && procs >= 1, "cpuinfo has processor lines");
    check(strstr(b, "vendor_id") && strstr(b, "flags"), "cpuinfo has vendor_id and flags");
    check(procs == sysconf(_SC_NPROCESSORS_ONLN), "cpuinfo processors == online cpus");
    len = read_all("/proc/uptime", b, sizeof b);
    double up = -1, idle = -1;
    char tail = 0;
    int fields = sscanf(b, "%lf %lf%c", &up, &idle, &tail);
    check(len > 0 && fields == 3 && tail == '\n' && up > 0 && idle >= 0, "uptime is two numbers and a newline");
    struct stat s;
    check(stat("/proc", &s) == 0 && S_ISDIR(s.st_mode), "/proc is a directory");
    check(stat("/proc/self/fd", &s) == 0 && S_ISDIR(s.st_mode), "/proc/self/fd is a directory");
}

int main(int argc, char **argv)
{
    (void)argc;
    setvbuf(stdout, NULL, _IOLBF, 0);
    test_dev();
    test_proc_self(argv[0]);
    test_proc_global();
    return finish();
}
