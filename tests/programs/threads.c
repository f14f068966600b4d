/* threads: POSIX threads compared with Linux: create and join, return
 * values, thread ids, thread-local storage, mutexes and condition
 * variables under contention, a barrier, a pipe between threads, signals
 * to a thread, shared file descriptors, exit of one thread vs the process,
 * fork from a threaded program. Every wait is a real block (no spinning):
 * the sandbox runs threads cooperatively. Prints deterministic facts and
 * failures=N. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "abi_check.h"

static __thread int tls_value = 7;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static long counter;
static int turn;

static void *square(void *arg)
{
    long v = (long)arg;
    tls_value = (int)v;
    return (void *)(v * v + (tls_value == v));
}

static void *count_up(void *arg)
{
    (void)arg;
    for (int i = 0; i < 1000; i++) {
        pthread_mutex_lock(&lock);
        counter++;
        if (i % 100 == 0)
            sched_yield();
        pthread_mutex_unlock(&lock);
    }
    return NULL;
}

/* Ping-pong through a condition variable: two threads take turns. */
static void *ping(void *arg)
{
    int me = (int)(long)arg;
    for (int i = 0; i < 50; i++) {
        pthread_mutex_lock(&lock);
        while (turn != me)
            pthread_cond_wait(&cond, &lock);
        counter += me + 1;
        turn = 1 - me;
        pthread_cond_broadcast(&cond);
        pthread_mutex_unlock(&lock);
    }
    return NULL;
}

static pthread_barrier_t barrier;
static int arrived;
static void *at_barrier(void *arg)
{
    (void)arg;
    __sync_fetch_and_add(&arrived, 1);
    int r = pthread_barrier_wait(&barrier);
    return (void *)(long)(r == PTHREAD_BARRIER_SERIAL_THREAD);
}

static int pipe_fds[2];
static void *producer(void *arg)
{
    (void)arg;
    char block[1024];
    for (int i = 0; i < 200; i++) {
        memset(block, 'a' + i % 26, sizeof block);
        write(pipe_fds[1], block, sizeof block);
    }
    close(pipe_fds[1]);
    return NULL;
}

static volatile sig_atomic_t usr1_tid;
static void on_usr1(int sig)
{
    (void)sig;
    usr1_tid = (sig_atomic_t)syscall(SYS_gettid);
}

static pthread_mutex_t ready_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ready_cond = PTHREAD_COND_INITIALIZER;
static int ready;
static pid_t waiter_tid;
static void *signal_target(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&ready_lock);
    waiter_tid = (pid_t)syscall(SYS_gettid);
    ready = 1;
    pthread_cond_signal(&ready_cond);
    pthread_mutex_unlock(&ready_lock);
    while (!usr1_tid)
        pause();
    return (void *)(long)(usr1_tid == waiter_tid);
}

static void *exits_early(void *arg)
{
    (void)arg;
    pthread_exit((void *)1234);
    return NULL;
}

static void *get_ids(void *arg)
{
    pid_t *out = arg;
    out[0] = getpid();
    out[1] = (pid_t)syscall(SYS_gettid);
    return NULL;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("-- create and join\n");
    pthread_t t[8];
    for (long i = 0; i < 8; i++)
        pthread_create(&t[i], NULL, square, (void *)i);
    long sum = 0;
    for (int i = 0; i < 8; i++) {
        void *r;
        pthread_join(t[i], &r);
        sum += (long)r;
    }
    check(sum == 140 + 8, "eight threads, their return values");
    check(tls_value == 7, "thread-local storage is per thread");
    pid_t ids[2];
    pthread_create(&t[0], NULL, get_ids, ids);
    pthread_join(t[0], NULL);
    check(ids[0] == getpid(), "getpid is the process's in a thread");
    check(ids[1] != getpid() && ids[1] > 0, "gettid is the thread's own");
    void *r;
    pthread_create(&t[0], NULL, exits_early, NULL);
    pthread_join(t[0], &r);
    check((long)r == 1234, "pthread_exit value");

    printf("-- mutex, condition variable, barrier\n");
    counter = 0;
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, count_up, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    check(counter == 4000, "mutex: 4 x 1000 increments");
    counter = 0;
    turn = 0;
    pthread_create(&t[0], NULL, ping, (void *)0L);
    pthread_create(&t[1], NULL, ping, (void *)1L);
    pthread_join(t[0], NULL);
    pthread_join(t[1], NULL);
    check(counter == 150 && turn == 0, "condition variable ping-pong, 100 turns");
    pthread_barrier_init(&barrier, NULL, 4);
    long serial = 0;
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, at_barrier, NULL);
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], &r);
        serial += (long)r;
    }
    check(arrived == 4 && serial == 1, "barrier: all arrive, one serial thread");

    printf("-- pipes and files between threads\n");
    pipe(pipe_fds);
    pthread_create(&t[0], NULL, producer, NULL);
    long got = 0;
    char buf[4096];
    ssize_t n;
    while ((n = read(pipe_fds[0], buf, sizeof buf)) > 0)
        got += n;
    pthread_join(t[0], NULL);
    close(pipe_fds[0]);
    check(got == 200 * 1024, "200 KiB from a producer thread, then EOF");
    err(fcntl(pipe_fds[1], F_GETFD), EBADF, "a descriptor the thread closed is closed for all");

    printf("-- signals\n");
    signal(SIGUSR1, on_usr1);
    pthread_create(&t[0], NULL, signal_target, NULL);
    pthread_mutex_lock(&ready_lock);
    while (!ready)
        pthread_cond_wait(&ready_cond, &ready_lock);
    pthread_mutex_unlock(&ready_lock);
    check(pthread_kill(t[0], SIGUSR1) == 0, "pthread_kill");
    pthread_join(t[0], &r);
    check((long)r == 1, "the handler ran in the target thread");

    printf("-- fork from a threaded process\n");
    pthread_create(&t[0], NULL, count_up, NULL);
    pid_t child = fork();
    if (child == 0) {
        /* Only the forking thread exists in the child. */
        _exit(counter >= 0 ? 3 : 4);
    }
    int status;
    waitpid(child, &status, 0);
    pthread_join(t[0], NULL);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 3, "the child runs and exits");

    printf("failures=%d\n", failures);
    return failures;
}
