/* The sentry core: blocking with partial progress, locks between processes,
 * /proc read from live process objects, process-wide timers, wait queues.
 * Each check prints one line; compared with the native run. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "abi_check.h"

/* A blocking write bigger than the pipe: Linux writes all of it while the
 * reader drains, and the reader gets every byte. */
static void big_pipe_write(void)
{
    enum { SIZE = 200000 };
    int p[2];
    ok(pipe(p), "pipe");
    pid_t child = fork();
    if (child == 0) {
        close(p[1]);
        long total = 0;
        char buf[4096];
        ssize_t n;
        while ((n = read(p[0], buf, sizeof buf)) > 0)
            total += n;
        _exit(total == SIZE ? 0 : 1);
    }
    close(p[0]);
    static char big[SIZE];
    memset(big, 'x', sizeof big);
    ssize_t w = write(p[1], big, sizeof big);
    checkf(w == SIZE, "write 200000 bytes to a pipe at once", "wrote %ld of %ld", w, SIZE);
    close(p[1]);
    int status;
    waitpid(child, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "reader got all 200000 bytes");
}

/* flock and fcntl record locks held by the parent are seen by a child. */
static void locks(const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/lockfile", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    ok(fd, "open lock file");
    ok(write(fd, "0123456789", 10), "write lock file");
    ok(flock(fd, LOCK_EX), "parent flock LOCK_EX");
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 2, .l_len = 3 };
    ok(fcntl(fd, F_SETLK, &fl), "parent F_SETLK write lock on [2,5)");
    int tried[2];
    ok(pipe(tried), "pipe for the lock checks");
    pid_t child = fork();
    if (child == 0) {
        int cfd = open(path, O_RDWR);
        int r = flock(cfd, LOCK_EX | LOCK_NB);
        printf("child flock LOCK_EX|LOCK_NB: %d %s\n", r, r ? ename(errno) : "0");
        r = flock(cfd, LOCK_SH | LOCK_NB);
        printf("child flock LOCK_SH|LOCK_NB: %d %s\n", r, r ? ename(errno) : "0");
        struct flock c = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10 };
        r = fcntl(cfd, F_SETLK, &c);
        printf("child F_SETLK over the parent's range: %d %s\n", r, r ? ename(errno) : "0");
        struct flock q = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10 };
        fcntl(cfd, F_GETLK, &q);
        printf("child F_GETLK: type %s start %ld len %ld pid-is-parent %d\n",
               q.l_type == F_WRLCK ? "F_WRLCK" : q.l_type == F_UNLCK ? "F_UNLCK" : "other",
               (long)q.l_start, (long)q.l_len, q.l_pid == getppid());
        struct flock d = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 5, .l_len = 5 };
        r = fcntl(cfd, F_SETLK, &d);
        printf("child F_SETLK on a free range: %d\n", r);
        /* The parent lets go once the checks above are done. */
        write(tried[1], "t", 1);
        /* Blocks until the parent lets go. */
        r = flock(cfd, LOCK_EX);
        printf("child blocking flock after the parent's unlock: %d\n", r);
        _exit(0);
    }
    char done;
    read(tried[0], &done, 1);
    close(tried[0]);
    close(tried[1]);
    /* Printed once the child is done: the two would race otherwise. */
    int unlocked = flock(fd, LOCK_UN);
    int status;
    waitpid(child, &status, 0);
    ok(unlocked, "parent flock LOCK_UN");
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "locking child exits 0");
    /* The child's flock went with its descriptions: the parent may lock. */
    int r = flock(fd, LOCK_EX | LOCK_NB);
    printf("parent flock after the child ended: %d\n", r);
    close(fd);
    unlink(path);
}

static int proc_field(pid_t pid, const char *name, long *value)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int found = -1;
    size_t len = strlen(name);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, name, len) == 0 && line[len] == ':') {
            *value = strtol(line + len + 1, NULL, 10);
            found = 0;
        }
    }
    fclose(f);
    return found;
}

/* After its parent ends, a process's PPid in /proc is its new parent's, as
 * getppid says. */
static void reparented(void)
{
    int p[2];
    ok(pipe(p), "pipe for the grandchild");
    pid_t child = fork();
    if (child == 0) {
        pid_t first = getpid();
        pid_t grandchild = fork();
        if (grandchild == 0) {
            close(p[0]);
            /* Natively the new parent may be a subreaper, not 1. */
            while (getppid() == first)
                usleep(1000);
            long ppid = -1;
            proc_field(getpid(), "PPid", &ppid);
            char line[64];
            int n = snprintf(line, sizeof line, "%d %ld\n", (int)getppid(), ppid);
            write(p[1], line, n);
            _exit(0);
        }
        _exit(0);
    }
    close(p[1]);
    waitpid(child, NULL, 0);
    char buf[64] = { 0 };
    ssize_t n = read(p[0], buf, sizeof buf - 1);
    close(p[0]);
    int getppid_said = -1;
    long proc_said = -2;
    if (n > 0)
        sscanf(buf, "%d %ld", &getppid_said, &proc_said);
    /* Natively the subreaper may be the test harness, not 1: compare the two. */
    checkf(getppid_said == proc_said, "after reparenting /proc PPid equals getppid()",
           "getppid %ld, /proc %ld", getppid_said, proc_said);
}

static pthread_barrier_t barrier;
static timer_t shared_timer;
static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
    (void)sig;
    alarms++;
}

static void *second_thread(void *arg)
{
    (void)arg;
    /* Arm the process's timer from another thread. */
    struct itimerspec its = { .it_value = { .tv_nsec = 20 * 1000 * 1000 } };
    int r = timer_settime(shared_timer, 0, &its, NULL);
    printf("timer_settime from another thread: %d %s\n", r, r ? ename(errno) : "0");
    pthread_barrier_wait(&barrier);
    pthread_barrier_wait(&barrier);
    return NULL;
}

static void threads_and_timers(void)
{
    struct sigaction sa = { .sa_handler = on_alarm };
    sigaction(SIGALRM, &sa, NULL);
    struct sigevent ev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGALRM };
    ok(timer_create(CLOCK_MONOTONIC, &ev, &shared_timer), "timer_create");
    pthread_barrier_init(&barrier, NULL, 2);
    pthread_t t;
    pthread_create(&t, NULL, second_thread, NULL);
    pthread_barrier_wait(&barrier);
    long threads = -1;
    proc_field(getpid(), "Threads", &threads);
    printf("Threads with a second thread: %ld\n", threads);
    /* /proc/self/task lists both threads; each has its own status. */
    DIR *dir = opendir("/proc/self/task");
    int entries = 0, own_pid_ok = 0;
    struct dirent *d;
    while (dir && (d = readdir(dir))) {
        if (d->d_name[0] == '.')
            continue;
        entries++;
        char path[300], line[128];
        snprintf(path, sizeof path, "/proc/self/task/%s/status", d->d_name);
        FILE *f = fopen(path, "r");
        while (f && fgets(line, sizeof line, f)) {
            if (strncmp(line, "Pid:", 4) == 0 && atoi(line + 4) == atoi(d->d_name))
                own_pid_ok++;
        }
        if (f)
            fclose(f);
    }
    if (dir)
        closedir(dir);
    printf("/proc/self/task entries: %d, each with its own Pid: %d\n", entries,
           own_pid_ok == entries);
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += 5;
    while (!alarms) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec > deadline.tv_sec)
            break;
        usleep(1000);
    }
    check(alarms > 0, "the timer armed by the other thread fires");
    pthread_barrier_wait(&barrier);
    pthread_join(t, NULL);
    proc_field(getpid(), "Threads", &threads);
    printf("Threads after the join: %ld\n", threads);
    timer_delete(shared_timer);
}

/* A reader blocked in one thread is woken by a write in another. */
static int wake_pipe[2];
static void *late_writer(void *arg)
{
    (void)arg;
    usleep(20000);
    write(wake_pipe[1], "w", 1);
    return NULL;
}

static void cross_thread_wake(void)
{
    ok(pipe(wake_pipe), "pipe between threads");
    pthread_t t;
    pthread_create(&t, NULL, late_writer, NULL);
    char c = 0;
    ssize_t n = read(wake_pipe[0], &c, 1);
    check(n == 1 && c == 'w', "a blocked read is woken by another thread's write");
    pthread_join(t, NULL);
    close(wake_pipe[0]);
    close(wake_pipe[1]);
}

#ifndef SYS_close_range
#define SYS_close_range 436
#endif

/* A child tries to write-lock [0,10) of `path`; prints what it got. */
static void child_tries_lock(const char *path, const char *when)
{
    pid_t child = fork();
    if (child == 0) {
        int cfd = open(path, O_RDWR);
        struct flock c = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10 };
        int r = fcntl(cfd, F_SETLK, &c);
        printf("child F_SETLK %s: %d %s\n", when, r, r ? ename(errno) : "0");
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
}

/* fcntl(2): a process's record locks on a file go when it closes any
 * descriptor of the file, also when dup2 or close_range closes it. */
static void implicit_close_releases_record_locks(const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/lockfile2", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    ok(fd, "open second lock file");
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10 };
    ok(fcntl(fd, F_SETLK, &fl), "parent F_SETLK write lock on [0,10)");
    child_tries_lock(path, "while the parent holds it");
    int other = open(path, O_RDONLY);
    ok(other, "open the file again");
    ok(dup2(STDERR_FILENO, other), "dup2 over the second descriptor");
    child_tries_lock(path, "after dup2 closed a descriptor of the file");
    ok(fcntl(fd, F_SETLK, &fl), "parent F_SETLK again");
    other = open(path, O_RDONLY);
    ok(other, "open the file a third time");
    ok(syscall(SYS_close_range, other, other, 0), "close_range over it");
    child_tries_lock(path, "after close_range closed a descriptor of the file");
    close(fd);
    unlink(path);
}

/* Futexes in a private file mapping, whose page starts as the file's own
 * (shared with other processes that map it) and is copied at the first
 * write: a private futex is (address space, address), so a wait before the
 * copy is woken by a wake after it, and another process's wake at the same
 * address is not for it. */
#define FUTEX_WAIT_PRIVATE (0 | 128)
#define FUTEX_WAKE_PRIVATE (1 | 128)
static int *futex_word;
static void *futex_waker(void *arg)
{
    (void)arg;
    struct timespec delay = { 0, 100 * 1000 * 1000 };
    nanosleep(&delay, NULL);
    *futex_word = 1; /* the first write copies the page */
    syscall(SYS_futex, futex_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    return NULL;
}

static void futex_in_a_private_file_page(void)
{
    int fd = (int)syscall(SYS_memfd_create, "futex", 0);
    ok(fd, "memfd_create");
    ok(ftruncate(fd, 4096), "ftruncate");
    futex_word = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    check(futex_word != MAP_FAILED, "mmap a file page MAP_PRIVATE");

    pid_t child = fork();
    if (child == 0) {
        struct timespec timeout = { 0, 500 * 1000 * 1000 };
        long r = syscall(SYS_futex, futex_word, FUTEX_WAIT_PRIVATE, 0, &timeout, NULL, 0);
        printf("child's private futex wait: %ld %s\n", r, r ? ename(errno) : "0");
        _exit(0);
    }
    struct timespec delay = { 0, 100 * 1000 * 1000 };
    nanosleep(&delay, NULL);
    long woken = syscall(SYS_futex, futex_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    int status;
    waitpid(child, &status, 0);
    printf("the parent's private wake at the same address woke %ld\n", woken);

    pthread_t thread;
    ok(-pthread_create(&thread, NULL, futex_waker, NULL), "start the waking thread");
    struct timespec timeout = { 10, 0 };
    long r = syscall(SYS_futex, futex_word, FUTEX_WAIT_PRIVATE, 0, &timeout, NULL, 0);
    /* EAGAIN: the word changed before the wait began (also a wake-up). */
    int woke = r == 0 || (r == -1 && errno == EAGAIN);
    checkf(woke, "a wait on the file's page is woken after the page is copied",
           "r=%ld errno %ld", r, (long)errno);
    pthread_join(thread, NULL);
    munmap(futex_word, 4096);
    close(fd);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    mkdir(dir, 0755);
    big_pipe_write();
    locks(dir);
    implicit_close_releases_record_locks(dir);
    futex_in_a_private_file_page();
    reparented();
    threads_and_timers();
    cross_thread_wake();
    return finish();
}
