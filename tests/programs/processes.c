/* processes: fork, vfork, posix_spawn, execve (ELF and #! scripts),
 * wait4/waitid, exit statuses, pipes between processes, signals between
 * processes, process groups, close-on-exec and what exec resets, compared
 * with Linux. Prints only deterministic facts and failures=N.
 *
 * argv[1]: a writable directory. Re-executed with "child-mode ..." to act
 * as the exec'd program. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "abi_check.h"

extern char **environ;
static char self[4096];

static int child_mode(int argc, char **argv)
{
    const char *what = argv[1];
    if (!strcmp(what, "child-exit")) {
        return atoi(argv[2]);
    }
    if (!strcmp(what, "child-args")) {
        printf("exec'd with %d args:", argc - 2);
        for (int i = 2; i < argc; i++)
            printf(" [%s]", argv[i]);
        printf("\n");
        return 0;
    }
    if (!strcmp(what, "child-fd")) {
        int fd = atoi(argv[2]);
        printf("fd %d after exec: %s\n", fd, fcntl(fd, F_GETFD) == -1 ? "closed" : "open");
        return 0;
    }
    if (!strcmp(what, "child-signals")) {
        struct sigaction a, b;
        sigaction(SIGUSR1, NULL, &a);
        sigaction(SIGUSR2, NULL, &b);
        sigset_t mask;
        sigprocmask(SIG_SETMASK, NULL, &mask);
        printf("after exec: SIGUSR1 %s, SIGUSR2 %s, SIGHUP %s\n", a.sa_handler == SIG_DFL ? "default" : "handled",
               b.sa_handler == SIG_IGN ? "ignored" : "not ignored",
               sigismember(&mask, SIGHUP) ? "still blocked" : "unblocked");
        return 0;
    }
    if (!strcmp(what, "script")) {
        /* Run as "#!self script": argv = self, script, path, extra... */
        printf("script interpreter got %d args, arg1=%s, extra=%s\n", argc, argv[1], argc > 3 ? argv[3] : "-");
        return 5;
    }
    return 99;
}

static void test_fork_and_wait(void)
{
    printf("-- fork and wait\n");
    static int value = 1;
    int status;
    pid_t pid = fork();
    if (pid == 0) {
        value = 2;
        _exit(value == 2 ? 42 : 1);
    }
    check(pid > 0, "fork returns the child's pid");
    check(waitpid(pid, &status, 0) == pid, "waitpid returns it");
    check(WIFEXITED(status) && WEXITSTATUS(status) == 42, "exit status 42");
    check(value == 1, "the parent's memory is its own");
    err(waitpid(pid, &status, 0), ECHILD, "reaped: ECHILD");

    int p[2];
    pipe(p);
    pid = fork();
    if (pid == 0) {
        close(p[0]);
        char msg[64];
        int n = snprintf(msg, sizeof msg, "%d %d", getppid() == (pid_t)atoi(getenv("PARENT_PID")), getpid() != 0);
        write(p[1], msg, n);
        _exit(0);
    }
    close(p[1]);
    char buf[64] = {0};
    read(p[0], buf, sizeof buf - 1);
    close(p[0]);
    waitpid(pid, NULL, 0);
    check(strcmp(buf, "1 1") == 0, "child: getppid is the parent");

    /* /proc/self is the calling process. */
    pipe(p);
    pid = fork();
    if (pid == 0) {
        close(p[0]);
        char link[64] = {0}, exe[4096] = {0};
        readlink("/proc/self", link, sizeof link - 1);
        readlink("/proc/self/exe", exe, sizeof exe - 1);
        char status_path[64];
        snprintf(status_path, sizeof status_path, "/proc/%d/status", getpid());
        int ok = atoi(link) == getpid() && strcmp(exe, self) == 0 && access(status_path, R_OK) == 0;
        write(p[1], ok ? "y" : "n", 1);
        _exit(0);
    }
    close(p[1]);
    char answer = 0;
    read(p[0], &answer, 1);
    close(p[0]);
    waitpid(pid, NULL, 0);
    check(answer == 'y', "a child's /proc/self, /proc/self/exe and /proc/<pid>");
    char gone[64];
    snprintf(gone, sizeof gone, "/proc/%d", pid);
    err(access(gone, F_OK), ENOENT, "a reaped child's /proc/<pid> is gone");

    /* Death by signal. */
    pid = fork();
    if (pid == 0) {
        struct rlimit core = {0, 0};
        setrlimit(RLIMIT_CORE, &core);
        kill(getpid(), SIGTERM);
        _exit(1);
    }
    waitpid(pid, &status, 0);
    check(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM && !WCOREDUMP(status), "killed by SIGTERM");
    pid = fork();
    if (pid == 0) {
        struct rlimit core = {0, 0};
        setrlimit(RLIMIT_CORE, &core);
        *(volatile int *)0 = 1;
        _exit(1);
    }
    waitpid(pid, &status, 0);
    check(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV, "a child's segfault");

    /* Several children, reaped in any order. */
    int total = 0;
    for (int i = 1; i <= 5; i++) {
        if (fork() == 0)
            _exit(i);
    }
    for (int i = 0; i < 5; i++) {
        if (wait(&status) > 0 && WIFEXITED(status))
            total += WEXITSTATUS(status);
    }
    check(total == 15, "five children, statuses 1..5");
    err(wait(&status), ECHILD, "none left");

    /* waitid. */
    pid = fork();
    if (pid == 0)
        _exit(9);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    check(waitid(P_PID, pid, &si, WEXITED) == 0, "waitid");
    check(si.si_pid == pid && si.si_code == CLD_EXITED && si.si_status == 9 && si.si_signo == SIGCHLD,
          "waitid info: pid, CLD_EXITED, status");

    /* WNOHANG while the child is still there. */
    int hold[2];
    pipe(hold);
    pid = fork();
    if (pid == 0) {
        char c;
        close(hold[1]);
        read(hold[0], &c, 1);
        _exit(0);
    }
    close(hold[0]);
    check(waitpid(pid, &status, WNOHANG) == 0, "WNOHANG: still running");
    close(hold[1]);
    check(waitpid(pid, &status, 0) == pid, "then it ends");
}

static void test_pipes(void)
{
    printf("-- a pipeline\n");
    int p[2];
    pipe(p);
    pid_t writer = fork();
    if (writer == 0) {
        close(p[0]);
        char block[4096];
        for (int i = 0; i < 64; i++) {
            memset(block, 'a' + i % 26, sizeof block);
            write(p[1], block, sizeof block);
        }
        _exit(0);
    }
    close(p[1]);
    long got = 0;
    unsigned sum = 0;
    char buf[8192];
    ssize_t n;
    while ((n = read(p[0], buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < n; i++)
            sum = sum * 31 + (unsigned char)buf[i];
        got += n;
    }
    close(p[0]);
    int status;
    waitpid(writer, &status, 0);
    printf("read %ld bytes through the pipe, checksum %08x\n", got, sum);
    check(got == 64 * 4096 && WIFEXITED(status), "256 KiB through a 64 KiB pipe, then EOF");
}

static volatile sig_atomic_t got_usr1;
static volatile sig_atomic_t got_chld;
static void on_usr1(int sig)
{
    (void)sig;
    got_usr1 = 1;
}
static void on_chld(int sig)
{
    (void)sig;
    got_chld++;
}

static void test_signals(void)
{
    printf("-- signals between processes\n");
    int ready[2], done[2];
    pipe(ready);
    pipe(done);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGUSR1, on_usr1);
        write(ready[1], "r", 1);
        while (!got_usr1)
            pause();
        write(done[1], "d", 1);
        _exit(7);
    }
    char c;
    read(ready[0], &c, 1);
    check(kill(pid, SIGUSR1) == 0, "kill(child, SIGUSR1)");
    check(read(done[0], &c, 1) == 1 && c == 'd', "the child's handler ran");
    int status;
    waitpid(pid, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 7, "and it exited");
    err(kill(pid, 0), ESRCH, "a reaped child is gone");

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_chld;
    sigaction(SIGCHLD, &sa, NULL);
    pid = fork();
    if (pid == 0)
        _exit(0);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    check(got_chld == 1, "SIGCHLD handler ran once");

    /* Ignoring SIGCHLD: children are reaped automatically. */
    sa.sa_handler = SIG_IGN;
    sigaction(SIGCHLD, &sa, NULL);
    pid = fork();
    if (pid == 0)
        _exit(0);
    err(waitpid(pid, &status, 0), ECHILD, "SIGCHLD ignored: no zombie to wait for");
    sa.sa_handler = SIG_DFL;
    sigaction(SIGCHLD, &sa, NULL);

    /* Process groups. */
    pipe(ready);
    pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        write(ready[1], "g", 1);
        pause();
        _exit(0);
    }
    read(ready[0], &c, 1);
    check(getpgid(pid) == pid, "the child leads its own group");
    check(getpgid(0) != pid, "the parent is elsewhere");
    check(kill(-pid, SIGTERM) == 0, "kill(-pgid)");
    waitpid(pid, &status, 0);
    check(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM, "the group got it");
    err(kill(-pid, SIGTERM), ESRCH, "an empty group: ESRCH");
    err(setpgid(999999, 0), ESRCH, "setpgid of a stranger");
}

static void test_vfork_exec(const char *dir)
{
    printf("-- vfork, exec, posix_spawn\n");
    int status;
    pid_t pid = vfork();
    if (pid == 0)
        _exit(3);
    waitpid(pid, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 3, "vfork + _exit");

    fflush(stdout);
    pid = vfork();
    if (pid == 0) {
        char *args[] = {self, "child-args", "one", "two words", NULL};
        execv(self, args);
        _exit(127);
    }
    waitpid(pid, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "vfork + exec of itself");

    char *spawn_args[] = {self, "child-exit", "17", NULL};
    check(posix_spawn(&pid, self, NULL, NULL, spawn_args, environ) == 0, "posix_spawn");
    waitpid(pid, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 17, "its exit status");

    char *missing_args[] = {"/no/such/program", NULL};
    int r = posix_spawn(&pid, "/no/such/program", NULL, NULL, missing_args, environ);
    if (r == 0) {
        waitpid(pid, &status, 0);
        r = WEXITSTATUS(status) == 127 ? ENOENT : -1;
    }
    check(r == ENOENT, "posix_spawn of a missing file: ENOENT");

    /* exec errors, in a child so the test goes on. */
    pid = fork();
    if (pid == 0) {
        char *a[] = {"x", NULL};
        execv("/no/such/file", a);
        int e1 = errno;
        execv(dir, a);
        int e2 = errno;
        char path[512];
        snprintf(path, sizeof path, "%s/not-elf", dir);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0755);
        write(fd, "just text\n", 10);
        close(fd);
        execv(path, a);
        int e3 = errno;
        _exit((e1 == ENOENT) | (e2 == EACCES) << 1 | (e3 == ENOEXEC) << 2);
    }
    waitpid(pid, &status, 0);
    check(WEXITSTATUS(status) == 7, "exec errors: ENOENT, EACCES (directory), ENOEXEC (text)");

    /* A script: "#!<self> script" runs us with the script's path. */
    char script[512];
    snprintf(script, sizeof script, "%s/script", dir);
    int fd = open(script, O_WRONLY | O_CREAT | O_TRUNC, 0755);
    dprintf(fd, "#!%s script\nignored body\n", self);
    close(fd);
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        char *a[] = {script, "extra", NULL};
        execv(script, a);
        _exit(126);
    }
    waitpid(pid, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 5, "a #! script runs its interpreter");

    /* What exec keeps and resets. */
    int keep = open(dir, O_RDONLY);
    int gone = open(dir, O_RDONLY | O_CLOEXEC);
    dup2(keep, 20);
    dup2(gone, 21);
    fcntl(21, F_SETFD, FD_CLOEXEC);
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        char *a[] = {self, "child-fd", "20", NULL};
        execv(self, a);
        _exit(126);
    }
    waitpid(pid, &status, 0);
    pid = fork();
    if (pid == 0) {
        char *a[] = {self, "child-fd", "21", NULL};
        execv(self, a);
        _exit(126);
    }
    waitpid(pid, &status, 0);
    close(keep);
    close(gone);
    close(20);
    close(21);
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        signal(SIGUSR1, on_usr1);
        signal(SIGUSR2, SIG_IGN);
        sigset_t m;
        sigemptyset(&m);
        sigaddset(&m, SIGHUP);
        sigprocmask(SIG_BLOCK, &m, NULL);
        char *a[] = {self, "child-signals", NULL};
        execv(self, a);
        _exit(126);
    }
    waitpid(pid, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exec'd children ran");
}

static void test_fifo(const char *dir)
{
    printf("-- named pipes\n");
    char path[512];
    snprintf(path, sizeof path, "%s/fifo", dir);
    unlink(path);
    check(mkfifo(path, 0640) == 0, "mkfifo");
    struct stat st;
    check(stat(path, &st) == 0 && S_ISFIFO(st.st_mode) && (st.st_mode & 0777) == 0640, "stat: a FIFO, mode 0640");
    err(mkfifo(path, 0640), EEXIST, "mkfifo again");
    err(open(path, O_WRONLY | O_NONBLOCK), ENXIO, "non-blocking writer without a reader: ENXIO");
    int r = open(path, O_RDONLY | O_NONBLOCK);
    check(r >= 0, "non-blocking reader opens at once");
    int w = open(path, O_WRONLY | O_NONBLOCK);
    check(w >= 0, "then a non-blocking writer opens");
    check(write(w, "abc", 3) == 3, "write");
    char buf[8] = {0};
    check(read(r, buf, sizeof buf) == 3 && memcmp(buf, "abc", 3) == 0, "read what was written");
    fstat(w, &st);
    check(S_ISFIFO(st.st_mode), "fstat of an open FIFO");
    close(w);
    check(read(r, buf, sizeof buf) == 0, "EOF once the writer closed");
    close(r);
    int rw = open(path, O_RDWR);
    check(rw >= 0 && write(rw, "x", 1) == 1 && read(rw, buf, 1) == 1 && buf[0] == 'x', "O_RDWR: both ends at once");
    close(rw);

    /* Blocking opens meet: a child writes, the parent reads. */
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(path, O_WRONLY);
        dprintf(fd, "from the child %d\n", 42);
        close(fd);
        _exit(0);
    }
    int fd = open(path, O_RDONLY);
    char line[64] = {0};
    ssize_t n = 0, got;
    while ((got = read(fd, line + n, sizeof line - 1 - n)) > 0)
        n += got;
    close(fd);
    int status;
    waitpid(pid, &status, 0);
    check(strcmp(line, "from the child 42\n") == 0 && WIFEXITED(status), "blocking opens meet across processes");
    check(unlink(path) == 0, "unlink the FIFO");
}

int main(int argc, char **argv)
{
    if (argc > 1 && strncmp(argv[1], "child-", 6) == 0)
        return child_mode(argc, argv);
    if (argc > 1 && strcmp(argv[1], "script") == 0)
        return child_mode(argc, argv);
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = 0;
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    mkdir(dir, 0755);
    char pid_text[32];
    snprintf(pid_text, sizeof pid_text, "%d", getpid());
    setenv("PARENT_PID", pid_text, 1);
    setvbuf(stdout, NULL, _IOLBF, 0);
    test_fork_and_wait();
    test_pipes();
    test_signals();
    test_vfork_exec(dir);
    test_fifo(dir);
    printf("failures=%d\n", failures);
    return failures;
}
