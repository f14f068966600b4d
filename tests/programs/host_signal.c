/* host_signal: what a signal sent to the program (natively) or to
 * rvisor-vmm (sandboxed) does to the first process.
 *
 *   host_signal handler SIGNO HOW   installs a handler for SIGNO, prints
 *                                   "ready", waits HOW, and on the signal
 *                                   prints "got signal N" and exits 0
 *   host_signal default SIGNO HOW   no handler: prints "ready", waits HOW
 *                                   and dies of the signal
 *   host_signal stdin               forks a child that computes without
 *                                   syscalls, prints "ready", blocks in
 *                                   poll() then read() on stdin, prints what
 *                                   it read, ends the child, exits 0
 *
 * HOW: "pause" (blocked in pause()), "spin" (computing, no syscalls),
 * "read" (blocked in read() on stdin; SA_RESTART handler: the read goes on
 * after the handler and the program reports what it read), "sleep"
 * (nanosleep in a loop). The handler itself writes "handler ran".
 */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t got;

static void on_signal(int signo)
{
    got = signo;
    write(1, "handler ran\n", 12);
}

static void say(const char *s)
{
    write(1, s, strlen(s));
}

static void wait_how(const char *how)
{
    if (strcmp(how, "pause") == 0) {
        while (!got)
            pause();
    } else if (strcmp(how, "spin") == 0) {
        while (!got)
            __asm__ volatile("" ::: "memory");
    } else if (strcmp(how, "sleep") == 0) {
        struct timespec ts = {0, 5 * 1000 * 1000};
        while (!got)
            nanosleep(&ts, NULL);
    } else if (strcmp(how, "read") == 0) {
        char buf[64];
        ssize_t n = read(0, buf, sizeof buf - 1);
        if (n < 0) {
            perror("read");
            exit(3);
        }
        buf[n] = 0;
        printf("read %zd bytes: %s", n, buf);
    } else {
        fprintf(stderr, "unknown HOW %s\n", how);
        exit(2);
    }
}

static int stdin_mode(void)
{
    pid_t child = fork();
    if (child < 0) {
        perror("fork");
        return 1;
    }
    if (child == 0) {
        for (;;)
            __asm__ volatile("" ::: "memory");
    }
    say("ready\n");
    struct pollfd pfd = {.fd = 0, .events = POLLIN};
    int r = poll(&pfd, 1, -1);
    if (r != 1 || !(pfd.revents & POLLIN)) {
        fprintf(stderr, "poll: %d revents %#x\n", r, pfd.revents);
        return 1;
    }
    say("stdin is readable\n");
    char buf[64];
    ssize_t n = read(0, buf, sizeof buf - 1);
    if (n <= 0) {
        perror("read");
        return 1;
    }
    buf[n] = 0;
    printf("read: %s", buf);
    fflush(stdout);
    kill(child, SIGKILL);
    int status;
    waitpid(child, &status, 0);
    printf("child ended by signal %d\n", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "stdin") == 0)
        return stdin_mode();
    if (argc != 4) {
        fprintf(stderr, "usage: host_signal handler|default SIGNO pause|spin|read|sleep\n");
        return 2;
    }
    int signo = atoi(argv[2]);
    if (strcmp(argv[1], "handler") == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sa.sa_flags = SA_RESTART;
        sigemptyset(&sa.sa_mask);
        if (sigaction(signo, &sa, NULL) != 0) {
            perror("sigaction");
            return 1;
        }
    }
    say("ready\n");
    wait_how(argv[3]);
    if (got)
        printf("got signal %d\n", got);
    else
        printf("no signal\n");
    return 0;
}
