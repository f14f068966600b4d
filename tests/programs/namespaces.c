/* Namespaces: /proc/<pid>/ns links and nsfs files, the NS_GET_* ioctls,
 * unshare and setns (mount, UTS and IPC namespaces, the filesystem context
 * and descriptor table), clone's namespace flags, sethostname and
 * setdomainname, /proc/sys/kernel/hostname, and the pidfd ioctls
 * (PIDFD_GET_INFO, PIDFD_GET_*_NAMESPACE, setns through a pidfd). Only what
 * a Linux host and the sandbox share is checked: no new user, pid or
 * network namespaces (the sandbox has one of each). Compared with the
 * host's run (as root). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "abi_check.h"

#define NS_GET_USERNS _IO(0xb7, 0x1)
#define NS_GET_PARENT _IO(0xb7, 0x2)
#define NS_GET_NSTYPE _IO(0xb7, 0x3)
#define NS_GET_OWNER_UID _IO(0xb7, 0x4)

struct pidfd_info {
    uint64_t mask;
    uint64_t cgroupid;
    uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
    int32_t exit_code;
    uint32_t coredump_mask, spare;
};
struct short_info {
    uint32_t dummy;
};
#define PIDFD_GET_INFO _IOWR(0xFF, 11, struct pidfd_info)
#define PIDFD_GET_INFO_SHORT _IOWR(0xFF, 11, struct short_info)
#define PIDFD_GET_MNT_NAMESPACE _IO(0xFF, 3)
#define PIDFD_GET_UTS_NAMESPACE _IO(0xFF, 10)
#define PIDFD_INFO_PID (1UL << 0)
#define PIDFD_INFO_CREDS (1UL << 1)
#define PIDFD_INFO_EXIT (1UL << 3)

static int pidfd_open(pid_t pid)
{
    return syscall(434, pid, 0);
}

static long sys_unshare(unsigned long flags)
{
    return syscall(SYS_unshare, flags);
}

static long sys_setns(int fd, int type)
{
    return syscall(SYS_setns, fd, type);
}

/* A fork-like clone with `flags` (no new stack). */
static long clone_flags(unsigned long flags)
{
    fflush(stdout);
    return syscall(SYS_clone, flags, 0, 0, 0, 0);
}

static void link_of(const char *path, char *out, size_t len)
{
    ssize_t n = readlink(path, out, len - 1);
    out[n < 0 ? 0 : n] = 0;
}

static pid_t fork_flushed(void)
{
    fflush(stdout);
    return fork();
}

/* Waits for `pid`; its exit code is its failure count. */
static void reap(pid_t pid, const char *what)
{
    int status;
    if (waitpid(pid, &status, 0) != pid) {
        printf("%s: waitpid FAIL %s\n", what, ename(errno));
        failures++;
        return;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        printf("%s: child FAIL status %#x\n", what, status);
        failures++;
    }
}

static void child_done(void)
{
    fflush(stdout);
    _exit(failures);
}

static char my_uts[64], my_ipc[64], my_mnt[64], my_user[64];
static int uts_fd, ipc_fd, mnt_fd, user_fd;

static void links(void)
{
    static const char *kinds[] = {"ipc", "mnt", "net", "pid", "pid_for_children", "user", "uts"};
    for (unsigned i = 0; i < sizeof kinds / sizeof *kinds; i++) {
        char path[64], text[64];
        struct stat st, lst;
        snprintf(path, sizeof path, "/proc/self/ns/%s", kinds[i]);
        link_of(path, text, sizeof text);
        char *open_bracket = strchr(text, '[');
        unsigned long ino = open_bracket ? strtoul(open_bracket + 1, NULL, 10) : 0;
        if (open_bracket)
            *open_bracket = 0;
        printf("ns %s kind %s\n", kinds[i], text);
        ok(stat(path, &st), "stat ns link");
        ok(lstat(path, &lst), "lstat ns link");
        check(S_ISLNK(lst.st_mode) && (lst.st_mode & 0777) == 0777, "ns link is a symlink");
        check(S_ISREG(st.st_mode) && (st.st_mode & 0777) == 0444 && st.st_nlink == 1,
              "nsfs file mode");
        check(st.st_ino == ino, "link names the inode");
    }
    struct stat a, b;
    ok(stat("/proc/self/ns/pid", &a), "stat pid");
    ok(stat("/proc/self/ns/pid_for_children", &b), "stat pid_for_children");
    check(a.st_ino == b.st_ino && a.st_dev == b.st_dev, "pid_for_children is the pid namespace");
    char tid_path[64], text[64];
    snprintf(tid_path, sizeof tid_path, "/proc/self/task/%d/ns/uts", getpid());
    link_of(tid_path, text, sizeof text);
    check(strcmp(text, my_uts) == 0, "task/<tid>/ns/uts");
    struct stat dir;
    ok(lstat("/proc/self/ns", &dir), "lstat ns dir");
    check(S_ISDIR(dir.st_mode), "ns is a directory");
}

static void ioctls(void)
{
    struct stat st, user_st, fd_st;
    ok(fstat(uts_fd, &fd_st), "fstat uts fd");
    ok(stat("/proc/self/ns/uts", &st), "stat uts");
    check(fd_st.st_ino == st.st_ino && fd_st.st_dev == st.st_dev, "fd is the namespace");
    char path[64], text[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", uts_fd);
    link_of(path, text, sizeof text);
    check(strcmp(text, my_uts) == 0, "fd link text");
    char c;
    err(read(uts_fd, &c, 1), EINVAL, "read nsfs");
    check(ioctl(uts_fd, NS_GET_NSTYPE) == CLONE_NEWUTS, "NS_GET_NSTYPE uts");
    check(ioctl(ipc_fd, NS_GET_NSTYPE) == CLONE_NEWIPC, "NS_GET_NSTYPE ipc");
    check(ioctl(mnt_fd, NS_GET_NSTYPE) == CLONE_NEWNS, "NS_GET_NSTYPE mnt");
    check(ioctl(user_fd, NS_GET_NSTYPE) == CLONE_NEWUSER, "NS_GET_NSTYPE user");
    err(ioctl(uts_fd, NS_GET_PARENT), EINVAL, "NS_GET_PARENT uts");
    uid_t owner = 77;
    err(ioctl(uts_fd, NS_GET_OWNER_UID, &owner), EINVAL, "NS_GET_OWNER_UID uts");
    int u = ok(ioctl(uts_fd, NS_GET_USERNS), "NS_GET_USERNS uts");
    ok(stat("/proc/self/ns/user", &user_st), "stat user");
    ok(fstat(u, &fd_st), "fstat owner");
    check(fd_st.st_ino == user_st.st_ino, "owner is the user namespace");
    check(fcntl(u, F_GETFD) == FD_CLOEXEC, "owner fd is close-on-exec");
    check(ioctl(u, NS_GET_NSTYPE) == CLONE_NEWUSER, "owner type");
    close(u);
    err(ioctl(user_fd, NS_GET_USERNS), EPERM, "NS_GET_USERNS user");
    err(ioctl(user_fd, NS_GET_PARENT), EPERM, "NS_GET_PARENT user");
    check(ioctl(user_fd, NS_GET_OWNER_UID, &owner) == 0 && owner == 0, "NS_GET_OWNER_UID user");
    int pid_fd = ok(open("/proc/self/ns/pid", O_RDONLY), "open pid ns");
    err(ioctl(pid_fd, NS_GET_PARENT), EPERM, "NS_GET_PARENT pid");
    check(ioctl(pid_fd, NS_GET_NSTYPE) == CLONE_NEWPID, "NS_GET_NSTYPE pid");
    close(pid_fd);
    err(ioctl(uts_fd, _IO(0xb7, 0x30)), ENOTTY, "unknown nsfs ioctl");
    int dot = open(".", O_RDONLY);
    err(ioctl(dot, NS_GET_NSTYPE), ENOTTY, "NS_GET_NSTYPE on a directory");
    close(dot);
    int path_fd = ok(open("/proc/self/ns/uts", O_PATH), "O_PATH ns");
    err(ioctl(path_fd, NS_GET_NSTYPE), EBADF, "ioctl O_PATH");
    err(sys_setns(path_fd, 0), EBADF, "setns O_PATH");
    close(path_fd);
}

static void errors(void)
{
    err(sys_setns(-1, 0), EBADF, "setns bad fd");
    int regular = ok(open("/proc/self/ns", O_RDONLY | O_DIRECTORY), "open ns dir");
    err(sys_setns(regular, 0), EINVAL, "setns directory");
    close(regular);
    err(sys_setns(uts_fd, CLONE_NEWIPC), EINVAL, "setns wrong type");
    err(sys_setns(uts_fd, -1), EINVAL, "setns type -1");
    err(sys_setns(user_fd, 0), EINVAL, "setns own user namespace");
    ok(sys_setns(uts_fd, CLONE_NEWUTS), "setns own uts");
    ok(sys_setns(ipc_fd, 0), "setns own ipc");
    err(sys_unshare(-1), EINVAL, "unshare -1");
    ok(sys_unshare(0), "unshare 0");
    err(clone_flags(CLONE_NEWNS | CLONE_FS | SIGCHLD), EINVAL, "clone NEWNS|FS");
    err(clone_flags(CLONE_NEWIPC | CLONE_SYSVSEM | SIGCHLD), EINVAL, "clone NEWIPC|SYSVSEM");
    char long_name[66];
    memset(long_name, 'x', sizeof long_name);
    err(sethostname(long_name, 65), EINVAL, "sethostname 65");
    err(syscall(SYS_sethostname, long_name, -1), EINVAL, "sethostname -1");
    err(syscall(SYS_setdomainname, long_name, 65), EINVAL, "setdomainname 65");

    pid_t parent = getpid();
    pid_t pid = fork_flushed();
    if (pid == 0) {
        ok(setuid(65534), "setuid nobody");
        err(sys_unshare(CLONE_NEWNS), EPERM, "nobody unshare NEWNS");
        err(sys_unshare(CLONE_NEWUTS), EPERM, "nobody unshare NEWUTS");
        err(sys_unshare(CLONE_NEWIPC), EPERM, "nobody unshare NEWIPC");
        ok(sys_unshare(CLONE_FILES | CLONE_FS), "nobody unshare FILES|FS");
        err(sys_setns(uts_fd, 0), EPERM, "nobody setns uts");
        err(sys_setns(mnt_fd, 0), EPERM, "nobody setns mnt");
        err(sethostname("x", 1), EPERM, "nobody sethostname");
        char path[64], text[64];
        snprintf(path, sizeof path, "/proc/%d/ns/uts", parent);
        err(readlink(path, text, sizeof text), EACCES, "nobody readlink root's ns");
        err(open(path, O_RDONLY), EACCES, "nobody open root's ns");
        child_done();
    }
    reap(pid, "nobody child");
}

static void uts(void)
{
    struct utsname mine, now;
    uname(&mine);
    pid_t pid = fork_flushed();
    if (pid == 0) {
        char text[64];
        ok(sys_unshare(CLONE_NEWUTS), "unshare NEWUTS");
        link_of("/proc/self/ns/uts", text, sizeof text);
        check(strcmp(text, my_uts) != 0, "new uts namespace");
        ok(sethostname("nsfam-a", 7), "sethostname");
        ok(setdomainname("dom-a", 5), "setdomainname");
        uname(&now);
        check(strcmp(now.nodename, "nsfam-a") == 0, "uname nodename");
        check(strcmp(now.domainname, "dom-a") == 0, "uname domainname");
        char buf[80] = {0};
        int fd = ok(open("/proc/sys/kernel/hostname", O_RDONLY), "open hostname sysctl");
        ok(read(fd, buf, sizeof buf - 1), "read hostname sysctl");
        close(fd);
        check(strcmp(buf, "nsfam-a\n") == 0, "hostname sysctl");
        fd = ok(open("/proc/sys/kernel/hostname", O_WRONLY), "open hostname sysctl for writing");
        ok(write(fd, "nsfam-b\n", 8), "write hostname sysctl");
        close(fd);
        uname(&now);
        check(strcmp(now.nodename, "nsfam-b") == 0, "sysctl sets the hostname");
        ok(sys_setns(uts_fd, CLONE_NEWUTS), "setns back");
        uname(&now);
        check(strcmp(now.nodename, mine.nodename) == 0, "hostname after setns");
        check(strcmp(now.domainname, mine.domainname) == 0, "domainname after setns");
        link_of("/proc/self/ns/uts", text, sizeof text);
        check(strcmp(text, my_uts) == 0, "back in the first uts namespace");
        child_done();
    }
    reap(pid, "uts child");
    uname(&now);
    check(strcmp(now.nodename, mine.nodename) == 0, "parent hostname unchanged");

    pid = clone_flags(CLONE_NEWUTS | SIGCHLD);
    if (pid == 0) {
        char text[64];
        link_of("/proc/self/ns/uts", text, sizeof text);
        check(strcmp(text, my_uts) != 0, "clone NEWUTS: new namespace");
        uname(&now);
        check(strcmp(now.nodename, mine.nodename) == 0, "clone NEWUTS: names copied");
        ok(sethostname("nsfam-c", 7), "clone NEWUTS: sethostname");
        child_done();
    }
    check(pid > 0, "clone NEWUTS");
    reap(pid, "clone NEWUTS child");
    uname(&now);
    check(strcmp(now.nodename, mine.nodename) == 0, "parent hostname still unchanged");
}

static void ipc(void)
{
    key_t key = 0x6e736661;
    int shmid = shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0600);
    int msqid = msgget(key, IPC_CREAT | IPC_EXCL | 0600);
    ok(shmid, "shmget");
    ok(msqid, "msgget");
    mq_unlink("/nsfam");
    mqd_t mq = mq_open("/nsfam", O_CREAT | O_RDWR, 0600, NULL);
    ok(mq == (mqd_t)-1 ? -1 : 0, "mq_open");
    pid_t pid = fork_flushed();
    if (pid == 0) {
        char text[64];
        ok(sys_unshare(CLONE_NEWIPC), "unshare NEWIPC");
        link_of("/proc/self/ns/ipc", text, sizeof text);
        check(strcmp(text, my_ipc) != 0, "new ipc namespace");
        err(shmget(key, 0, 0), ENOENT, "shmget in the new namespace");
        err((long)shmat(shmid, NULL, 0), EINVAL, "shmat in the new namespace");
        err(msgget(key, 0), ENOENT, "msgget in the new namespace");
        err(mq_open("/nsfam", O_RDWR), ENOENT, "mq_open in the new namespace");
        int own = ok(shmget(key, 4096, IPC_CREAT | 0600), "shmget own");
        FILE *f = fopen("/proc/sysvipc/shm", "r");
        int lines = 0;
        char line[512];
        while (f && fgets(line, sizeof line, f))
            lines++;
        if (f)
            fclose(f);
        check(lines == 2, "/proc/sysvipc/shm shows the namespace's");
        shmctl(own, IPC_RMID, NULL);
        ok(sys_setns(ipc_fd, CLONE_NEWIPC), "setns back to ipc");
        check(shmget(key, 0, 0) == shmid, "shmget after setns");
        void *p = shmat(shmid, NULL, 0);
        check(p != (void *)-1, "shmat after setns");
        mqd_t q = mq_open("/nsfam", O_RDWR);
        check(q != (mqd_t)-1, "mq_open after setns");
        child_done();
    }
    reap(pid, "ipc child");
    pid = clone_flags(CLONE_NEWIPC | SIGCHLD);
    if (pid == 0) {
        err(msgget(key, 0), ENOENT, "clone NEWIPC: msgget");
        child_done();
    }
    check(pid > 0, "clone NEWIPC");
    reap(pid, "clone NEWIPC child");
    shmctl(shmid, IPC_RMID, NULL);
    msgctl(msqid, IPC_RMID, NULL);
    mq_close(mq);
    mq_unlink("/nsfam");
}

static void mnt_and_fs(void)
{
    char cwd[256], now[256];
    getcwd(cwd, sizeof cwd);
    pid_t pid = fork_flushed();
    if (pid == 0) {
        char text[64];
        ok(sys_unshare(CLONE_NEWNS), "unshare NEWNS");
        link_of("/proc/self/ns/mnt", text, sizeof text);
        check(strcmp(text, my_mnt) != 0, "new mount namespace");
        ok(chdir("/tmp"), "chdir");
        ok(sys_setns(mnt_fd, CLONE_NEWNS), "setns back to mnt");
        getcwd(now, sizeof now);
        check(strcmp(now, "/") == 0, "setns mnt: cwd is the root");
        link_of("/proc/self/ns/mnt", text, sizeof text);
        check(strcmp(text, my_mnt) == 0, "back in the first mount namespace");
        child_done();
    }
    reap(pid, "mnt child");

    /* A child sharing the filesystem context. */
    pid = clone_flags(CLONE_FS | SIGCHLD);
    if (pid == 0) {
        err(sys_setns(mnt_fd, 0), EINVAL, "setns mnt with a shared fs context");
        ok(sys_unshare(CLONE_NEWNS), "unshare NEWNS unshares the fs context");
        ok(chdir("/tmp"), "chdir after unshare");
        child_done();
    }
    reap(pid, "CLONE_FS child");
    getcwd(now, sizeof now);
    check(strcmp(now, cwd) == 0, "parent cwd unchanged");

    pid = clone_flags(CLONE_FS | SIGCHLD);
    if (pid == 0) {
        ok(sys_unshare(CLONE_FS), "unshare FS");
        ok(chdir("/tmp"), "chdir after unshare FS");
        child_done();
    }
    reap(pid, "CLONE_FS child 2");
    getcwd(now, sizeof now);
    check(strcmp(now, cwd) == 0, "parent cwd unchanged after unshare FS");

    pid = clone_flags(CLONE_FS | SIGCHLD);
    if (pid == 0) {
        chdir("/tmp");
        child_done();
    }
    reap(pid, "CLONE_FS child 3");
    getcwd(now, sizeof now);
    check(strcmp(now, "/tmp") == 0, "shared cwd follows the child");
    chdir(cwd);

    /* A child sharing the descriptor table. */
    int probe = open("/dev/null", O_RDONLY);
    close(probe);
    pid = clone_flags(CLONE_FILES | SIGCHLD);
    if (pid == 0) {
        ok(sys_unshare(CLONE_FILES), "unshare FILES");
        check(open("/dev/null", O_RDONLY) == probe, "open in the copy");
        child_done();
    }
    reap(pid, "CLONE_FILES child");
    err(fcntl(probe, F_GETFD), EBADF, "the parent's table did not change");
    pid = clone_flags(CLONE_FILES | SIGCHLD);
    if (pid == 0) {
        check(open("/dev/null", O_RDONLY) == probe, "open in the shared table");
        child_done();
    }
    reap(pid, "CLONE_FILES child 2");
    ok(fcntl(probe, F_GETFD), "the shared table changed");
    close(probe);
}

/* A pidfd (or a zombie) does not keep the process's descriptors open. */
static void pidfd_holds_no_files(void)
{
    int p[2];
    pipe(p);
    pid_t pid = fork_flushed();
    if (pid == 0) {
        close(p[0]);
        usleep(50000);
        _exit(0);
    }
    close(p[1]);
    int pidfd = ok(pidfd_open(pid), "pidfd_open writer");
    char c;
    check(read(p[0], &c, 1) == 0, "EOF once the writer exits (pidfd and zombie held)");
    close(p[0]);
    waitpid(pid, NULL, 0);
    close(pidfd);
}

static void pidfds(void)
{
    int ready[2], go[2];
    pipe(ready);
    pipe(go);
    pid_t pid = fork_flushed();
    if (pid == 0) {
        char c;
        close(ready[0]);
        close(go[1]);
        sys_unshare(CLONE_NEWUTS);
        sethostname("nsfam-pidfd", 11);
        write(ready[1], "r", 1);
        read(go[0], &c, 1);
        _exit(7);
    }
    close(ready[1]);
    close(go[0]);
    char c;
    read(ready[0], &c, 1);
    int pidfd = ok(pidfd_open(pid), "pidfd_open");
    struct pidfd_info info;
    memset(&info, 0, sizeof info);
    ok(ioctl(pidfd, PIDFD_GET_INFO, &info), "PIDFD_GET_INFO");
    check((info.mask & (PIDFD_INFO_PID | PIDFD_INFO_CREDS | PIDFD_INFO_EXIT)) ==
              (PIDFD_INFO_PID | PIDFD_INFO_CREDS),
          "info mask");
    check(info.pid == (uint32_t)pid && info.tgid == (uint32_t)pid, "info pid");
    check(info.ppid == (uint32_t)getpid(), "info ppid");
    check(info.ruid == 0 && info.euid == 0 && info.fsgid == 0, "info creds");
    info.mask = PIDFD_INFO_EXIT;
    ok(ioctl(pidfd, PIDFD_GET_INFO, &info), "PIDFD_GET_INFO exit while alive");
    check(!(info.mask & PIDFD_INFO_EXIT), "no exit info while alive");
    err(ioctl(pidfd, PIDFD_GET_INFO, NULL), EINVAL, "PIDFD_GET_INFO NULL");
    struct short_info shorter = {1};
    err(ioctl(pidfd, PIDFD_GET_INFO_SHORT, &shorter), ENOTTY, "PIDFD_GET_INFO short");
    err(ioctl(pidfd, _IO(0xFF, 50)), ENOTTY, "unknown pidfd ioctl");
    int theirs = ok(ioctl(pidfd, PIDFD_GET_UTS_NAMESPACE, 0), "PIDFD_GET_UTS_NAMESPACE");
    char path[64], text[64], want[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", theirs);
    link_of(path, text, sizeof text);
    snprintf(path, sizeof path, "/proc/%d/ns/uts", pid);
    link_of(path, want, sizeof want);
    check(strcmp(text, want) == 0 && strcmp(text, my_uts) != 0, "their uts namespace");
    check(fcntl(theirs, F_GETFD) == FD_CLOEXEC, "namespace fd is close-on-exec");
    close(theirs);
    err(ioctl(pidfd, PIDFD_GET_UTS_NAMESPACE, 1), EINVAL, "PIDFD_GET_UTS_NAMESPACE arg");
    int their_mnt = ok(ioctl(pidfd, PIDFD_GET_MNT_NAMESPACE, 0), "PIDFD_GET_MNT_NAMESPACE");
    snprintf(path, sizeof path, "/proc/self/fd/%d", their_mnt);
    link_of(path, text, sizeof text);
    check(strcmp(text, my_mnt) == 0, "their mount namespace");
    close(their_mnt);
    int path_fd = open("/proc/self/ns/uts", O_PATH);
    err(ioctl(path_fd, PIDFD_GET_INFO, &info), EBADF, "PIDFD_GET_INFO on O_PATH");
    close(path_fd);
    err(ioctl(uts_fd, PIDFD_GET_INFO, &info), ENOTTY, "PIDFD_GET_INFO on nsfs");

    /* setns through the pidfd, in another child. */
    err(sys_setns(pidfd, 0), EINVAL, "setns pidfd 0");
    pid_t joiner = fork_flushed();
    if (joiner == 0) {
        struct utsname u;
        ok(sys_setns(pidfd, CLONE_NEWUTS | CLONE_NEWIPC), "setns pidfd UTS|IPC");
        uname(&u);
        check(strcmp(u.nodename, "nsfam-pidfd") == 0, "joined their uts namespace");
        child_done();
    }
    reap(joiner, "pidfd joiner");

    write(go[1], "g", 1);
    siginfo_t si;
    ok(waitid(P_PID, pid, &si, WEXITED | WNOWAIT), "waitid WNOWAIT");
    memset(&info, 0, sizeof info);
    info.mask = PIDFD_INFO_EXIT;
    ok(ioctl(pidfd, PIDFD_GET_INFO, &info), "PIDFD_GET_INFO zombie");
    check((info.mask & (PIDFD_INFO_PID | PIDFD_INFO_EXIT)) == PIDFD_INFO_PID,
          "zombie: ids, no exit info yet");
    err(ioctl(pidfd, PIDFD_GET_UTS_NAMESPACE, 0), ESRCH, "zombie namespaces");
    err(sys_setns(pidfd, CLONE_NEWUTS), ESRCH, "setns into a zombie");
    int zombie_fd = ok(pidfd_open(pid), "pidfd_open zombie");
    int status;
    waitpid(pid, &status, 0);
    memset(&info, 0, sizeof info);
    info.mask = PIDFD_INFO_EXIT;
    ok(ioctl(pidfd, PIDFD_GET_INFO, &info), "PIDFD_GET_INFO reaped");
    check(info.mask & PIDFD_INFO_EXIT, "exit info once reaped");
    check(info.exit_code == status && WEXITSTATUS(info.exit_code) == 7, "exit code");
    memset(&info, 0, sizeof info);
    info.mask = PIDFD_INFO_EXIT;
    ok(ioctl(zombie_fd, PIDFD_GET_INFO, &info), "PIDFD_GET_INFO reaped zombie pidfd");
    check(info.mask & PIDFD_INFO_EXIT && info.exit_code == status, "exit info via zombie pidfd");
    info.mask = 0;
    err(ioctl(pidfd, PIDFD_GET_INFO, &info), ESRCH, "PIDFD_GET_INFO reaped without exit");
    close(pidfd);
    close(zombie_fd);
}

int main(void)
{
    link_of("/proc/self/ns/uts", my_uts, sizeof my_uts);
    link_of("/proc/self/ns/ipc", my_ipc, sizeof my_ipc);
    link_of("/proc/self/ns/mnt", my_mnt, sizeof my_mnt);
    link_of("/proc/self/ns/user", my_user, sizeof my_user);
    uts_fd = open("/proc/self/ns/uts", O_RDONLY);
    ipc_fd = open("/proc/self/ns/ipc", O_RDONLY);
    mnt_fd = open("/proc/self/ns/mnt", O_RDONLY);
    user_fd = open("/proc/self/ns/user", O_RDONLY);
    check(uts_fd >= 0 && ipc_fd >= 0 && mnt_fd >= 0 && user_fd >= 0, "open ns files");
    links();
    ioctls();
    errors();
    uts();
    ipc();
    mnt_and_fs();
    pidfd_holds_no_files();
    pidfds();
    return finish();
}
