/* POSIX message queues: create with attributes, priorities and FIFO order
 * within one, non-blocking and timed calls, errors, attributes, a
 * notification by signal (si_code, si_value, once), by thread (libc's
 * SIGEV_THREAD, and the kernel's side of it by hand: the cookie queued on
 * a netlink socket, NOTIFY_WOKENUP or NOTIFY_REMOVED), a blocked receiver
 * woken by another process, the descriptor's status line and poll, and
 * unlink. Run natively and in the sandbox; the outputs must match. Link
 * with -lrt where librt is separate. */
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int failures;

static void expect(const char *what, int r, int want_errno)
{
    if (r >= 0)
        printf("%s: ok\n", what);
    else
        printf("%s: %s\n", what, strerror(errno));
    if (want_errno ? r >= 0 || errno != want_errno : r < 0)
        failures++;
}

static volatile sig_atomic_t got_signal, got_code, got_value;

static void on_signal(int sig, siginfo_t *info, void *ctx)
{
    (void)ctx;
    got_signal = sig;
    got_code = info->si_code;
    got_value = info->si_value.sival_int;
}

static volatile int thread_value;

static void on_thread(union sigval v)
{
    thread_value = v.sival_int;
}

/* The kernel's side of SIGEV_THREAD, by hand: sigev_signo names a netlink
 * socket, sigev_value points at a 32-byte cookie, which the kernel queues
 * on the socket with its last byte set to 1 when a message comes, or to 2
 * when the registration is removed without one. */
static void thread_notifications(mqd_t q)
{
    int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0);
    expect("netlink socket", s, 0);
    unsigned char cookie[32], got[64];
    memset(cookie, 0xab, sizeof cookie);
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_THREAD;
    ev.sigev_signo = s;
    ev.sigev_value.sival_ptr = cookie;
    expect("raw SIGEV_THREAD notify", syscall(SYS_mq_notify, q, &ev), 0);
    char status[256] = {0};
    ssize_t sn = pread(q, status, sizeof status - 1, 0);
    char *pid = strstr(status, "NOTIFY_PID:");
    if (pid)
        *pid = 0;
    printf("status (%zd bytes): %s", sn, status);
    printf("NOTIFY_PID is ours: %s\n", pid && atoi(pid + 11) == getpid() ? "yes" : "no");
    expect("nothing queued yet", recv(s, got, sizeof got, MSG_DONTWAIT), EAGAIN);
    mq_send(q, "t", 1, 0);
    ssize_t n = recv(s, got, sizeof got, MSG_DONTWAIT);
    printf("woken: %zd bytes, first %#x, last %d\n", n, got[0], n == 32 ? got[31] : -1);
    char buf[64];
    mq_receive(q, buf, sizeof buf, NULL);
    mq_send(q, "u", 1, 0);
    printf("used up: %s\n", recv(s, got, sizeof got, MSG_DONTWAIT) < 0 ? "nothing more" : "another");
    mq_receive(q, buf, sizeof buf, NULL);
    expect("register again", syscall(SYS_mq_notify, q, &ev), 0);
    expect("unregister", syscall(SYS_mq_notify, q, NULL), 0);
    n = recv(s, got, sizeof got, MSG_DONTWAIT);
    printf("removed: %zd bytes, first %#x, last %d\n", n, got[0], n == 32 ? got[31] : -1);
    ev.sigev_value.sival_ptr = NULL;
    expect("a bad cookie address", syscall(SYS_mq_notify, q, &ev), EFAULT);
    ev.sigev_value.sival_ptr = cookie;
    ev.sigev_signo = -1;
    expect("a bad socket descriptor", syscall(SYS_mq_notify, q, &ev), EBADF);
    int p[2];
    pipe(p);
    ev.sigev_signo = p[0];
    expect("a pipe for the socket", syscall(SYS_mq_notify, q, &ev), ENOTSOCK);
    int u = socket(AF_UNIX, SOCK_DGRAM, 0);
    ev.sigev_signo = u;
    expect("an AF_UNIX socket", syscall(SYS_mq_notify, q, &ev), EINVAL);
    ev.sigev_signo = s;
    expect("a bad queue descriptor", syscall(SYS_mq_notify, p[0], &ev), EBADF);
    close(u);
    close(p[0]);
    close(p[1]);
    close(s);

    /* libc's SIGEV_THREAD: a thread runs the function with the value. */
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_THREAD;
    ev.sigev_notify_function = on_thread;
    ev.sigev_value.sival_int = 77;
    expect("SIGEV_THREAD notify", mq_notify(q, &ev), 0);
    mq_send(q, "v", 1, 0);
    for (int i = 0; i < 500 && !thread_value; i++)
        usleep(10000);
    printf("thread ran with value %d\n", thread_value);
    mq_receive(q, buf, sizeof buf, NULL);
}

int main(void)
{
    char name[64];
    snprintf(name, sizeof name, "/rvisor-mq-%d", getpid());
    struct mq_attr attr = {.mq_maxmsg = 4, .mq_msgsize = 64};

    expect("open a missing queue", mq_open(name, O_RDWR), ENOENT);
    expect("a name with a slash inside", mq_open("/a/b", O_RDWR | O_CREAT, 0600, &attr), EACCES);
    struct mq_attr bad = {.mq_maxmsg = 0, .mq_msgsize = 64};
    expect("maxmsg 0", mq_open(name, O_RDWR | O_CREAT, 0600, &bad), EINVAL);
    mqd_t q = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &attr);
    expect("create", q, 0);
    expect("create again with O_EXCL", mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &attr), EEXIST);

    struct mq_attr got;
    mq_getattr(q, &got);
    printf("attr: maxmsg=%ld msgsize=%ld curmsgs=%ld nonblock=%d\n", got.mq_maxmsg, got.mq_msgsize,
           got.mq_curmsgs, !!(got.mq_flags & O_NONBLOCK));

    expect("send prio 1 a", mq_send(q, "a", 1, 1), 0);
    expect("send prio 5 b", mq_send(q, "b", 1, 5), 0);
    expect("send prio 1 c", mq_send(q, "c", 1, 1), 0);
    expect("send prio 5 d", mq_send(q, "dd", 2, 5), 0);
    expect("too long a message", mq_send(q, "x", 65, 0), EMSGSIZE);
    expect("priority too high", mq_send(q, "x", 1, 40000), EINVAL);

    struct timespec past = {.tv_sec = 1, .tv_nsec = 0};
    expect("timed send to a full queue", mq_timedsend(q, "e", 1, 0, &past), ETIMEDOUT);
    struct pollfd p = {.fd = q, .events = POLLIN | POLLOUT};
    poll(&p, 1, 0);
    printf("poll when full: in=%d out=%d\n", !!(p.revents & POLLIN), !!(p.revents & POLLOUT));

    char status[256] = {0};
    int fd = q;
    ssize_t sn = read(fd, status, sizeof status - 1);
    printf("status (%zd bytes): %s", sn, status);

    char buf[64];
    unsigned prio;
    expect("receive into a small buffer", mq_receive(q, buf, 10, &prio), EMSGSIZE);
    for (int i = 0; i < 4; i++) {
        ssize_t n = mq_receive(q, buf, sizeof buf, &prio);
        printf("received %.*s prio %u\n", (int)n, buf, prio);
    }
    struct mq_attr nb = {.mq_flags = O_NONBLOCK};
    mq_setattr(q, &nb, &got);
    printf("old flags nonblock=%d\n", !!(got.mq_flags & O_NONBLOCK));
    expect("receive from an empty non-blocking queue", mq_receive(q, buf, sizeof buf, &prio), EAGAIN);
    nb.mq_flags = 0;
    mq_setattr(q, &nb, NULL);
    expect("timed receive, a deadline in the past", mq_timedreceive(q, buf, sizeof buf, &prio, &past), ETIMEDOUT);
    struct timespec bad_ts = {.tv_sec = 0, .tv_nsec = 2000000000};
    expect("timed receive, a bad timespec", mq_timedreceive(q, buf, sizeof buf, &prio, &bad_ts), EINVAL);

    /* A notification by signal, once. */
    struct sigaction sa = {.sa_sigaction = on_signal, .sa_flags = SA_SIGINFO};
    sigaction(SIGUSR1, &sa, NULL);
    struct sigevent ev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR1};
    ev.sigev_value.sival_int = 42;
    expect("notify", mq_notify(q, &ev), 0);
    pid_t child = fork();
    if (child == 0) {
        mqd_t c = mq_open(name, O_RDWR);
        int busy = mq_notify(c, &ev) < 0 && errno == EBUSY;
        _exit(busy ? 0 : 1);
    }
    int st;
    waitpid(child, &st, 0);
    printf("another process's notify: %s\n", WEXITSTATUS(st) == 0 ? "EBUSY" : "not EBUSY");
    mq_send(q, "n", 1, 0);
    printf("signal %s, si_code %s, value %d\n", got_signal == SIGUSR1 ? "SIGUSR1" : "none",
           got_code == SI_MESGQ ? "SI_MESGQ" : "other", (int)got_value);
    got_signal = 0;
    mq_receive(q, buf, sizeof buf, &prio);
    mq_send(q, "m", 1, 0);
    printf("a second message: %s\n", got_signal ? "signalled again" : "no signal (used up)");
    mq_receive(q, buf, sizeof buf, &prio);
    expect("invalid sigev_notify on a bad descriptor", mq_notify((mqd_t)-1, &(struct sigevent){.sigev_notify = -1}), EINVAL);
    thread_notifications(q);

    /* A blocked receiver is woken by another process's send. */
    child = fork();
    if (child == 0) {
        usleep(100000);
        mqd_t c = mq_open(name, O_WRONLY);
        mq_send(c, "late", 4, 3);
        _exit(0);
    }
    ssize_t n = mq_receive(q, buf, sizeof buf, &prio);
    printf("blocking receive: %.*s prio %u\n", (int)(n > 0 ? n : 0), buf, prio);
    waitpid(child, NULL, 0);

    expect("send on a read-only descriptor", mq_send(mq_open(name, O_RDONLY), "x", 1, 0), EBADF);
    expect("unlink", mq_unlink(name), 0);
    expect("unlink again", mq_unlink(name), ENOENT);
    expect("the old descriptor still works", mq_send(q, "z", 1, 0), 0);
    mq_close(q);
    expect("open after unlink", mq_open(name, O_RDWR), ENOENT);
    printf("failures=%d\n", failures);
    return 0;
}
