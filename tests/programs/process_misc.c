/* process_misc: process-wide odds and ends compared with Linux: wait with no
 * children, prctl names and flags, priorities and scheduling policy, memory
 * locking and residency, sync and advice calls, utime/utimes, mknod,
 * extended attributes on a filesystem that has none, memfd_create.
 * Prints only deterministic facts and failures=N.
 *
 * argv[1]: a writable directory to work in. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <utime.h>

#include "abi_check.h"

#define RNDGETENTCNT _IOR('R', 0x00, int)

static void test_wait(void)
{
    printf("-- wait without children\n");
    int status;
    err(wait(&status), ECHILD, "wait");
    err(waitpid(-1, &status, WNOHANG), ECHILD, "waitpid WNOHANG");
    err(waitpid(12345, &status, 0), ECHILD, "waitpid of a stranger");
    err(waitpid(-1, &status, 0x40000), EINVAL, "waitpid bad options");
    siginfo_t info;
    err(waitid(P_ALL, 0, &info, WEXITED), ECHILD, "waitid P_ALL");
    err(waitid(P_ALL, 0, &info, 0), EINVAL, "waitid no event");
}

static void test_prctl(void)
{
    printf("-- prctl\n");
    char name[32];
    memset(name, 'x', sizeof name);
    check(prctl(PR_GET_NAME, name) == 0 && strcmp(name, "process_misc") == 0, "PR_GET_NAME: the executable's name");
    check(prctl(PR_SET_NAME, "renamed-thread") == 0, "PR_SET_NAME");
    prctl(PR_GET_NAME, name);
    check(strcmp(name, "renamed-thread") == 0, "PR_GET_NAME reads it back");
    check(prctl(PR_SET_NAME, "a-name-longer-than-fifteen") == 0, "PR_SET_NAME long");
    prctl(PR_GET_NAME, name);
    check(strcmp(name, "a-name-longer-t") == 0, "long names are cut to 15 bytes");
    int fd = open("/proc/self/comm", O_RDONLY);
    char comm[32] = {0};
    ssize_t n = fd >= 0 ? read(fd, comm, sizeof comm - 1) : -1;
    check(n > 0 && strcmp(comm, "a-name-longer-t\n") == 0, "/proc/self/comm follows");
    close(fd);
    check(prctl(PR_GET_DUMPABLE) == 1, "dumpable by default");
    check(prctl(PR_SET_DUMPABLE, 0) == 0 && prctl(PR_GET_DUMPABLE) == 0, "PR_SET_DUMPABLE 0");
    err(prctl(PR_SET_DUMPABLE, 7), EINVAL, "PR_SET_DUMPABLE 7");
    prctl(PR_SET_DUMPABLE, 1);
    int sig = -1;
    check(prctl(PR_SET_PDEATHSIG, SIGTERM) == 0 && prctl(PR_GET_PDEATHSIG, &sig) == 0 && sig == SIGTERM,
          "PDEATHSIG round trip");
    err(prctl(PR_SET_PDEATHSIG, 99), EINVAL, "PDEATHSIG 99");
    check(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 0, "no_new_privs starts clear");
    check(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 && prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1,
          "PR_SET_NO_NEW_PRIVS sticks");
    err(prctl(PR_SET_NO_NEW_PRIVS, 0, 0, 0, 0), EINVAL, "no_new_privs cannot be cleared");
    int reaper = -1;
    check(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0 && prctl(PR_GET_CHILD_SUBREAPER, &reaper) == 0 && reaper == 1,
          "CHILD_SUBREAPER round trip");
    err(prctl(0x7fff0000), EINVAL, "unknown option");

    /* An orphan goes to the nearest child subreaper: this process. */
    int go[2];
    pid_t me = getpid();
    pipe(go);
    fflush(stdout);
    pid_t middle = fork();
    if (middle == 0) {
        if (fork() == 0) {
            char c;
            close(go[1]);
            read(go[0], &c, 1);
            _exit(c == 'g' && getppid() == me ? 3 : 4);
        }
        _exit(0);
    }
    close(go[0]);
    waitpid(middle, NULL, 0);
    write(go[1], "g", 1);
    close(go[1]);
    int status = 0;
    pid_t orphan = wait(&status);
    check(orphan > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 3,
          "the orphaned grandchild is the subreaper's to wait for");

    /* PR_SET_PDEATHSIG: the orphan gets its signal when its parent ends;
     * a change of the effective ids cancels it. */
    int ready[2];
    pipe(ready);
    fflush(stdout);
    middle = fork();
    if (middle == 0) {
        if (fork() == 0) {
            int got = 0;
            sigset_t set;
            sigemptyset(&set);
            sigaddset(&set, SIGUSR1);
            sigprocmask(SIG_BLOCK, &set, NULL);
            prctl(PR_SET_PDEATHSIG, SIGUSR2);
            seteuid(65534);
            prctl(PR_GET_PDEATHSIG, &got);
            seteuid(0);
            prctl(PR_SET_PDEATHSIG, SIGUSR1);
            write(ready[1], "r", 1);
            siginfo_t si;
            int sig = sigwaitinfo(&set, &si);
            _exit(got == 0 && sig == SIGUSR1 && si.si_code == SI_USER ? 5 : 6);
        }
        char c;
        read(ready[0], &c, 1);
        _exit(0);
    }
    waitpid(middle, NULL, 0);
    orphan = wait(&status);
    check(orphan > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 5,
          "PR_SET_PDEATHSIG: the signal at the parent's end");
    close(ready[0]);
    close(ready[1]);

    /* Timer slack: per thread, /proc/self/timerslack_ns, a child's default
     * is its creator's slack. */
    long initial = prctl(PR_GET_TIMERSLACK);
    check(prctl(PR_SET_TIMERSLACK, 70000) == 0 && prctl(PR_GET_TIMERSLACK) == 70000,
          "PR_SET_TIMERSLACK");
    char buf[32] = {0};
    int slack_fd = open("/proc/self/timerslack_ns", O_RDWR);
    check(slack_fd >= 0 && read(slack_fd, buf, sizeof buf - 1) > 0 && strcmp(buf, "70000\n") == 0,
          "timerslack_ns reads it");
    lseek(slack_fd, 0, SEEK_SET);
    check(write(slack_fd, "90000", 5) == 5 && prctl(PR_GET_TIMERSLACK) == 90000,
          "timerslack_ns sets it");
    lseek(slack_fd, 0, SEEK_SET);
    err(write(slack_fd, "x1", 2), EINVAL, "timerslack_ns: not a number");
    close(slack_fd);
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        int inherited = prctl(PR_GET_TIMERSLACK) == 90000;
        prctl(PR_SET_TIMERSLACK, 5);
        prctl(PR_SET_TIMERSLACK, 0);
        _exit(inherited && prctl(PR_GET_TIMERSLACK) == 90000 ? 0 : 1);
    }
    waitpid(child, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "a child's default slack is the creator's");
    prctl(PR_SET_TIMERSLACK, 0);
    check(prctl(PR_GET_TIMERSLACK) == initial, "PR_SET_TIMERSLACK 0 restores the default");

    /* The entropy count: RNDGETENTCNT and entropy_avail agree. */
    int count = -1, avail = -2;
    int random_fd = open("/dev/urandom", O_RDONLY);
    check(ioctl(random_fd, RNDGETENTCNT, &count) == 0, "RNDGETENTCNT");
    close(random_fd);
    FILE *f = fopen("/proc/sys/kernel/random/entropy_avail", "r");
    check(f && fscanf(f, "%d", &avail) == 1 && avail == count, "entropy_avail");
    if (f)
        fclose(f);
    char id1[40] = {0}, id2[40] = {0};
    f = fopen("/proc/sys/kernel/random/boot_id", "r");
    check(f && fgets(id1, sizeof id1, f) && strlen(id1) == 37 && id1[14] == '4', "boot_id");
    if (f)
        fclose(f);
    f = fopen("/proc/sys/kernel/random/boot_id", "r");
    check(f && fgets(id2, sizeof id2, f) && strcmp(id1, id2) == 0, "boot_id stays");
    if (f)
        fclose(f);
}

static void test_priorities(void)
{
    printf("-- priorities and scheduling\n");
    errno = 0;
    int p = getpriority(PRIO_PROCESS, 0);
    check(p == 0 && errno == 0, "nice 0 at start");
    check(setpriority(PRIO_PROCESS, 0, 5) == 0 && getpriority(PRIO_PROCESS, 0) == 5, "setpriority 5");
    check(setpriority(PRIO_PROCESS, getpid(), 30) == 0 && getpriority(PRIO_PROCESS, 0) == 19,
          "values above 19 are clamped");
    err(setpriority(7, 0, 0), EINVAL, "bad which");
    err(getpriority(PRIO_PROCESS, 999999), ESRCH, "unknown pid");
    check(nice(0) == 19, "nice(0) reads it");
    /* (musl's sched_* wrappers are ENOSYS stubs: the raw calls.) */
    check(syscall(SYS_sched_getscheduler, 0) == SCHED_OTHER, "SCHED_OTHER");
    struct sched_param sp = {.sched_priority = 5};
    check(syscall(SYS_sched_getparam, 0, &sp) == 0 && sp.sched_priority == 0, "priority 0");
    check(sched_get_priority_max(SCHED_FIFO) == 99 && sched_get_priority_min(SCHED_FIFO) == 1,
          "FIFO priority range");
    check(sched_get_priority_max(SCHED_OTHER) == 0 && sched_get_priority_min(SCHED_OTHER) == 0,
          "OTHER priority range");
    err(sched_get_priority_max(42), EINVAL, "unknown policy");
    sp.sched_priority = 0;
    check(syscall(SYS_sched_setscheduler, 0, SCHED_BATCH, &sp) == 0, "SCHED_BATCH accepted");
    sp.sched_priority = 3;
    err(syscall(SYS_sched_setscheduler, 0, SCHED_OTHER, &sp), EINVAL, "SCHED_OTHER with priority 3");
    struct timespec ts = {9, 9};
    check(sched_rr_get_interval(0, &ts) == 0, "sched_rr_get_interval");
}

/* PROCMAP_QUERY (Linux 6.11): one mapping through /proc/self/maps. */
struct procmap_query {
    uint64_t size, query_flags, query_addr, vma_start, vma_end, vma_flags, vma_page_size,
        vma_offset, inode;
    uint32_t dev_major, dev_minor, vma_name_size, build_id_size;
    uint64_t vma_name_addr, build_id_addr;
};
#define PROCMAP_QUERY _IOWR('f', 17, struct procmap_query)

static void test_procmap_query(void)
{
    size_t page = 4096;
    int maps = open("/proc/self/maps", O_RDONLY);
    char *m = mmap(NULL, 3 * page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(m + page, page);
    struct procmap_query q = {.size = sizeof q, .query_addr = (uintptr_t)m + 10};
    check(ioctl(maps, PROCMAP_QUERY, &q) == 0 && q.vma_start == (uintptr_t)m &&
              q.vma_end == (uintptr_t)m + page && q.vma_flags == 1 && q.vma_page_size == page &&
              q.inode == 0 && q.vma_offset == 0,
          "PROCMAP_QUERY: the covering mapping");
    struct procmap_query hole = {.size = sizeof q, .query_addr = (uintptr_t)m + page};
    err(ioctl(maps, PROCMAP_QUERY, &hole), ENOENT, "PROCMAP_QUERY in a hole");
    hole.query_flags = 0x10;
    check(ioctl(maps, PROCMAP_QUERY, &hole) == 0 && hole.vma_start == (uintptr_t)m + 2 * page,
          "PROCMAP_QUERY: the next mapping");
    struct procmap_query w = {.size = sizeof q, .query_addr = (uintptr_t)m, .query_flags = 2};
    err(ioctl(maps, PROCMAP_QUERY, &w), ENOENT, "PROCMAP_QUERY: not writable");
    struct procmap_query bad = {.size = sizeof q, .query_flags = 0x40};
    err(ioctl(maps, PROCMAP_QUERY, &bad), EINVAL, "PROCMAP_QUERY unknown flag");
    bad.query_flags = 0;
    bad.vma_name_size = 10;
    err(ioctl(maps, PROCMAP_QUERY, &bad), EINVAL, "PROCMAP_QUERY name size without buffer");
    bad.size = 8;
    err(ioctl(maps, PROCMAP_QUERY, &bad), EINVAL, "PROCMAP_QUERY short struct");
    bad.size = 8192;
    err(ioctl(maps, PROCMAP_QUERY, &bad), E2BIG, "PROCMAP_QUERY huge struct");
    munmap(m, 3 * page);
    /* A file mapping: its name, inode and the file's build id. */
    char exe[256] = {0}, name[256] = {0};
    unsigned char id[64];
    readlink("/proc/self/exe", exe, sizeof exe - 1);
    int fd = open("/proc/self/exe", O_RDONLY);
    struct stat st;
    fstat(fd, &st);
    char *f = mmap(NULL, page, PROT_READ, MAP_PRIVATE, fd, 0);
    struct procmap_query fq = {.size = sizeof q, .query_addr = (uintptr_t)f,
                               .vma_name_addr = (uintptr_t)name, .vma_name_size = sizeof name,
                               .build_id_addr = (uintptr_t)id, .build_id_size = sizeof id};
    check(ioctl(maps, PROCMAP_QUERY, &fq) == 0 && strcmp(name, exe) == 0 &&
              fq.vma_name_size == strlen(exe) + 1 && fq.inode == st.st_ino,
          "PROCMAP_QUERY: a file mapping's name and inode");
    unsigned id_size = fq.build_id_size;
    printf("build id size %u\n", id_size);
    if (id_size > 1) {
        fq.build_id_size = 1;
        err(ioctl(maps, PROCMAP_QUERY, &fq), ENAMETOOLONG, "PROCMAP_QUERY small build id buffer");
    }
    fq.build_id_size = sizeof id;
    fq.vma_name_size = 3;
    err(ioctl(maps, PROCMAP_QUERY, &fq), ENAMETOOLONG, "PROCMAP_QUERY small name buffer");
    munmap(f, page);
    close(fd);
    int plain = open("/proc/self/status", O_RDONLY);
    err(ioctl(plain, PROCMAP_QUERY, &q), ENOTTY, "PROCMAP_QUERY on another /proc file");
    close(plain);
    close(maps);
}

static void test_memory(void)
{
    printf("-- mlock and mincore\n");
    size_t page = 4096;
    unsigned char *m = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    unsigned char vec[4];
    check(mincore(m, 4 * page, vec) == 0 && vec[0] == 0 && vec[3] == 0, "fresh pages are not resident");
    m[page] = 1;
    mincore(m, 4 * page, vec);
    /* (Only the touched page: Linux with THP and the sandbox, which fills
     * 64 KiB around a fault, may report neighbours resident too.) */
    check(vec[1] == 1, "a touched page is resident");
    check(mlock(m + 2 * page, page) == 0, "mlock");
    mincore(m, 4 * page, vec);
    check(vec[2] == 1, "mlock faults the page in");
    check(munlock(m, 4 * page) == 0, "munlock");
    err(mincore(m + 1, page, vec), EINVAL, "mincore unaligned");
    munmap(m + 3 * page, page);
    err(mincore(m, 4 * page, vec), ENOMEM, "mincore over a hole");
    err(mlock(m, 4 * page), ENOMEM, "mlock over a hole");
    err(mincore(m, page, (unsigned char *)8), EFAULT, "mincore bad vector");
    check(mlockall(MCL_CURRENT) == 0 && munlockall() == 0, "mlockall/munlockall");
    err(mlockall(0), EINVAL, "mlockall(0)");
    munmap(m, 3 * page);
    test_procmap_query();
}

static void test_files(const char *dir)
{
    printf("-- sync, advice, times, mknod, xattrs\n");
    char path[512], node[512];
    snprintf(path, sizeof path, "%s/file", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    write(fd, "hello", 5);
    sync();
    check(1, "sync");
    check(syncfs(fd) == 0, "syncfs");
    check(sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE) == 0, "sync_file_range");
    err(sync_file_range(fd, 0, 0, 0x100), EINVAL, "sync_file_range bad flags");
    check(posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL) == 0, "posix_fadvise SEQUENTIAL");
    check(posix_fadvise(fd, 0, 0, 99) == EINVAL, "posix_fadvise bad advice");
    int p[2];
    pipe(p);
    check(posix_fadvise(p[0], 0, 0, POSIX_FADV_NORMAL) == ESPIPE, "posix_fadvise on a pipe");
    check(posix_fadvise(99, 0, 0, POSIX_FADV_NORMAL) == EBADF, "posix_fadvise bad fd");
    check(readahead(fd, 0, 4096) == 0, "readahead");
    err(readahead(p[0], 0, 4096), EINVAL, "readahead on a pipe");
    close(p[0]);
    close(p[1]);

    struct utimbuf ub = {1000000000, 1234567890};
    check(utime(path, &ub) == 0, "utime");
    struct stat st;
    stat(path, &st);
    check(st.st_atime == 1000000000 && st.st_mtime == 1234567890, "utime sets both times");
    struct timeval tv[2] = {{1500000000, 250000}, {1600000000, 750000}};
    check(utimes(path, tv) == 0, "utimes");
    stat(path, &st);
    check(st.st_mtim.tv_sec == 1600000000 && st.st_mtim.tv_nsec == 750000000, "utimes keeps microseconds");
    tv[0].tv_usec = 1000000;
    err(utimes(path, tv), EINVAL, "utimes bad microseconds");
    snprintf(node, sizeof node, "%s/missing", dir);
    err(utime(node, NULL), ENOENT, "utime missing file");

    snprintf(node, sizeof node, "%s/made-by-mknod", dir);
    check(mknod(node, S_IFREG | 0600, 0) == 0, "mknod S_IFREG");
    stat(node, &st);
    check(S_ISREG(st.st_mode) && (st.st_mode & 0777) == 0600 && st.st_size == 0, "mknod made an empty file");
    err(mknod(node, S_IFREG | 0600, 0), EEXIST, "mknod existing");
    err(mknod(node, 0170000 | 0600, 0), EINVAL, "mknod bad type");
    unlink(node);

    char buf[64];
    err(getxattr(path, "user.none", buf, sizeof buf), ENODATA, "getxattr of an absent attribute");
    err(lgetxattr(path, "user.none", buf, sizeof buf), ENODATA, "lgetxattr");
    err(getxattr(node, "user.none", buf, sizeof buf), ENOENT, "getxattr missing file");
    check(listxattr(path, buf, sizeof buf) == 0, "listxattr: none");
    check(flistxattr(fd, buf, sizeof buf) == 0, "flistxattr: none");
    err(removexattr(path, "user.none"), ENODATA, "removexattr absent");
    err(getxattr(path, "", buf, sizeof buf), ERANGE, "getxattr empty name");
    close(fd);
    unlink(path);
}

static void test_memfd(void)
{
    printf("-- memfd_create\n");
    int fd = memfd_create("scratch", MFD_CLOEXEC);
    check(fd >= 0, "memfd_create");
    check((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0, "MFD_CLOEXEC");
    check(write(fd, "memfd data", 10) == 10, "write");
    check(ftruncate(fd, 8192) == 0, "ftruncate");
    char *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    check(m != MAP_FAILED && memcmp(m, "memfd data", 10) == 0, "mmap shows the data");
    memcpy(m + 4096, "via map", 7);
    char back[8] = {0};
    check(pread(fd, back, 7, 4096) == 7 && memcmp(back, "via map", 7) == 0, "pread sees the mapping's write");
    struct stat st;
    fstat(fd, &st);
    check(S_ISREG(st.st_mode) && st.st_size == 8192, "fstat: a regular file of 8192 bytes");
    char link[64], target[128];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    target[n > 0 ? n : 0] = 0;
    check(strcmp(target, "/memfd:scratch (deleted)") == 0, "/proc/self/fd names it");
    munmap(m, 8192);
    close(fd);
    err(memfd_create("x", 0x100), EINVAL, "bad flags");
    char longname[300];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    err(memfd_create(longname, 0), EINVAL, "name too long");
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    mkdir(dir, 0755);
    test_wait();
    test_prctl();
    test_priorities();
    test_memory();
    test_files(dir);
    test_memfd();
    printf("failures=%d\n", failures);
    return failures;
}
