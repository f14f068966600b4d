/* Signals sent to a process with several threads: any thread that does not
 * block the signal takes it (signal(7)); a thread dedicated to sigwait gets
 * what the others block; sigpending in every thread shows the process's
 * pending signals but only its own thread-directed ones; a POSIX timer's
 * process-directed signal goes to the thread that accepts it; handlers are
 * shared by threads and by a CLONE_VM|CLONE_SIGHAND child process.
 * Compared with the native run. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "abi_check.h"

static atomic_long handled_by;
static atomic_int worker_ready, stop_worker;
static pid_t worker_tid;

static pid_t gettid_(void)
{
    return (pid_t)syscall(SYS_gettid);
}

static void on_signal(int signo)
{
    (void)signo;
    atomic_store(&handled_by, (long)gettid_());
}

/* Accepts SIGUSR1 and SIGALRM (everything else blocked) until told to stop. */
static void *accepting_worker(void *arg)
{
    (void)arg;
    sigset_t set;
    sigfillset(&set);
    sigdelset(&set, SIGUSR1);
    sigdelset(&set, SIGALRM);
    pthread_sigmask(SIG_SETMASK, &set, NULL);
    worker_tid = gettid_();
    atomic_store(&worker_ready, 1);
    while (!atomic_load(&stop_worker))
        pause();
    return NULL;
}

static void *sigwait_thread(void *arg)
{
    (void)arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    int signo = 0;
    int r = sigwait(&set, &signo);
    return (void *)(long)(r == 0 ? signo : -r);
}

static sigset_t pending_seen;
static void *pending_reader(void *arg)
{
    (void)arg;
    sigpending(&pending_seen);
    return NULL;
}

static char child_stack[64 * 1024] __attribute__((aligned(16)));
static int sighand_child(void *arg)
{
    (void)arg;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    return sigaction(SIGWINCH, &sa, NULL) == 0 ? 0 : 1;
}

static void wait_until(atomic_long *value, long want)
{
    for (int i = 0; i < 2000 && atomic_load(value) != want; i++)
        usleep(1000);
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGALRM, &sa, NULL);

    /* The main thread blocks SIGUSR1 and SIGALRM; the worker accepts them. */
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigaddset(&block, SIGALRM);
    sigaddset(&block, SIGUSR2);
    sigaddset(&block, SIGHUP);
    sigaddset(&block, SIGINT);
    pthread_sigmask(SIG_BLOCK, &block, NULL);
    pthread_t worker;
    pthread_create(&worker, NULL, accepting_worker, NULL);
    while (!atomic_load(&worker_ready))
        usleep(1000);

    /* kill() to the process: the main thread blocks it, the worker takes it. */
    ok(kill(getpid(), SIGUSR1), "kill(getpid(), SIGUSR1)");
    wait_until(&handled_by, worker_tid);
    check(atomic_load(&handled_by) == worker_tid, "kill: the thread not blocking it ran the handler");
    sigset_t pending;
    sigpending(&pending);
    check(!sigismember(&pending, SIGUSR1), "kill: taken once, not left pending in the main thread");

    /* A POSIX timer with SIGEV_SIGNAL is process-directed too. */
    atomic_store(&handled_by, 0);
    timer_t timer;
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = SIGALRM;
    ok(timer_create(CLOCK_MONOTONIC, &ev, &timer), "timer_create(SIGEV_SIGNAL)");
    struct itimerspec its = {.it_value = {.tv_nsec = 20 * 1000 * 1000}};
    ok(timer_settime(timer, 0, &its, NULL), "timer_settime 20 ms");
    wait_until(&handled_by, worker_tid);
    check(atomic_load(&handled_by) == worker_tid, "timer: the thread not blocking SIGALRM got it");
    timer_delete(timer);

    /* sigpending: a process-directed signal shows in every thread; a
     * thread-directed one only in its thread. */
    ok(kill(getpid(), SIGHUP), "kill(getpid(), SIGHUP) while every thread blocks it");
    ok(syscall(SYS_tgkill, getpid(), gettid_(), SIGINT), "tgkill(main, SIGINT) while blocked");
    pthread_t reader;
    pthread_create(&reader, NULL, pending_reader, NULL);
    pthread_join(reader, NULL);
    check(sigismember(&pending_seen, SIGHUP), "another thread sees the process's SIGHUP pending");
    check(!sigismember(&pending_seen, SIGINT), "another thread does not see main's SIGINT");
    sigpending(&pending);
    check(sigismember(&pending, SIGHUP) && sigismember(&pending, SIGINT),
          "main sees both pending");
    /* Take them so they do not end the program when unblocked. */
    sigset_t both;
    sigemptyset(&both);
    sigaddset(&both, SIGHUP);
    sigaddset(&both, SIGINT);
    struct timespec zero = {0, 0};
    int first = sigtimedwait(&both, NULL, &zero);
    int second = sigtimedwait(&both, NULL, &zero);
    checkf((first == SIGHUP && second == SIGINT) || (first == SIGINT && second == SIGHUP),
           "sigtimedwait takes both", "got %ld and %ld", first, second);

    /* A thread waiting in sigwait gets the process's signal that every
     * thread blocks. */
    pthread_t waiter;
    pthread_create(&waiter, NULL, sigwait_thread, NULL);
    usleep(20 * 1000);
    ok(kill(getpid(), SIGUSR2), "kill(getpid(), SIGUSR2) with a sigwait thread");
    void *got;
    pthread_join(waiter, &got);
    checkf((long)got == SIGUSR2, "the sigwait thread got SIGUSR2", "got %ld (want %ld)",
           (long)got, SIGUSR2);

    /* Handlers: set in one thread, seen in all. */
    struct sigaction old;
    sigaction(SIGUSR1, NULL, &old);
    check(old.sa_handler == on_signal, "dispositions are the process's");

    /* CLONE_VM|CLONE_SIGHAND without CLONE_THREAD: the child process shares
     * the handler table. */
    pid_t child = clone(sighand_child, child_stack + sizeof child_stack,
                        CLONE_VM | CLONE_SIGHAND | SIGCHLD, NULL);
    ok(child, "clone(CLONE_VM|CLONE_SIGHAND)");
    int status = 0;
    waitpid(child, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child set a handler");
    sigaction(SIGWINCH, NULL, &old);
    check(old.sa_handler == on_signal, "the parent sees the CLONE_SIGHAND child's handler");

    atomic_store(&stop_worker, 1);
    pthread_kill(worker, SIGUSR1);
    pthread_join(worker, NULL);
    return finish();
}
