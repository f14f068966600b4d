/* Job control: SIGSTOP/SIGTSTP stop a process, waitpid(WUNTRACED) and
 * waitid(WSTOPPED) see it, SIGCONT resumes it (WCONTINUED, CLD_CONTINUED
 * in SIGCHLD), SIGKILL ends a stopped process, real-time signals queue
 * with their values, sigqueue reaches another process. Compared with the
 * native run. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "abi_check.h"

static volatile sig_atomic_t chld_codes[8];
static volatile sig_atomic_t chld_count;

static void on_chld(int sig, siginfo_t *info, void *ctx)
{
    (void)sig;
    (void)ctx;
    if (chld_count < 8)
        chld_codes[chld_count] = info->si_code;
    chld_count++;
}

static const char *code_name(int code)
{
    switch (code) {
    case CLD_EXITED: return "CLD_EXITED";
    case CLD_KILLED: return "CLD_KILLED";
    case CLD_STOPPED: return "CLD_STOPPED";
    case CLD_CONTINUED: return "CLD_CONTINUED";
    }
    return "other";
}

static void stop_and_continue(void)
{
    int p[2];
    ok(pipe(p), "pipe");
    pid_t child = fork();
    if (child == 0) {
        close(p[0]);
        /* Writes while it runs (a stopped child writes nothing), until the
         * parent kills it. */
        for (;;) {
            write(p[1], "x", 1);
            usleep(5000);
        }
    }
    close(p[1]);
    char c;
    read(p[0], &c, 1);
    ok(kill(child, SIGSTOP), "kill SIGSTOP");
    int status = 0;
    pid_t r = waitpid(child, &status, WUNTRACED);
    check(r == child && WIFSTOPPED(status) && WSTOPSIG(status) == SIGSTOP,
          "waitpid(WUNTRACED) reports the stop");
    r = waitpid(child, &status, WUNTRACED | WNOHANG);
    check(r == 0, "the stop is reported once");
    ok(kill(child, SIGCONT), "kill SIGCONT");
    r = waitpid(child, &status, WCONTINUED);
    check(r == child && WIFCONTINUED(status), "waitpid(WCONTINUED) reports the continue");
    read(p[0], &c, 1);
    check(1, "the continued child runs again");
    ok(kill(child, SIGSTOP), "kill SIGSTOP again");
    siginfo_t si;
    memset(&si, 0, sizeof si);
    ok(waitid(P_PID, child, &si, WSTOPPED), "waitid(WSTOPPED)");
    printf("waitid: code %s status %d\n", code_name(si.si_code), si.si_status);
    ok(kill(child, SIGKILL), "SIGKILL to the stopped child");
    r = waitpid(child, &status, 0);
    check(r == child && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
          "a stopped child dies of SIGKILL");
    close(p[0]);
    /* SIGCHLD told about each change, in order. */
    int n = chld_count;
    printf("SIGCHLD count %d:", n);
    for (int i = 0; i < n && i < 8; i++)
        printf(" %s", code_name(chld_codes[i]));
    printf("\n");
}

static volatile sig_atomic_t rt_values[16];
static volatile sig_atomic_t rt_count;

static void on_rt(int sig, siginfo_t *info, void *ctx)
{
    (void)sig;
    (void)ctx;
    if (rt_count < 16)
        rt_values[rt_count] = info->si_value.sival_int;
    rt_count++;
}

static void realtime_queue(void)
{
    struct sigaction sa = { .sa_sigaction = on_rt, .sa_flags = SA_SIGINFO };
    sigaction(SIGRTMIN + 1, &sa, NULL);
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGRTMIN + 1);
    sigaddset(&block, SIGUSR1);
    sigprocmask(SIG_BLOCK, &block, &old);
    for (int i = 0; i < 5; i++) {
        union sigval v = { .sival_int = 100 + i };
        sigqueue(getpid(), SIGRTMIN + 1, v);
    }
    /* Standard signals do not queue. */
    kill(getpid(), SIGUSR1);
    kill(getpid(), SIGUSR1);
    sigset_t pending;
    sigpending(&pending);
    check(sigismember(&pending, SIGRTMIN + 1), "the RT signal is pending");
    siginfo_t si;
    struct timespec zero = { 0, 0 };
    int usr1 = 0;
    sigset_t only_usr1;
    sigemptyset(&only_usr1);
    sigaddset(&only_usr1, SIGUSR1);
    while (sigtimedwait(&only_usr1, &si, &zero) == SIGUSR1)
        usr1++;
    printf("SIGUSR1 instances taken: %d\n", usr1);
    sigprocmask(SIG_SETMASK, &old, NULL);
    printf("RT deliveries: %d, values:", (int)rt_count);
    for (int i = 0; i < rt_count && i < 16; i++)
        printf(" %d", (int)rt_values[i]);
    printf("\n");
}

static void sigqueue_to_child(void)
{
    int p[2];
    ok(pipe(p), "pipe for sigqueue");
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGRTMIN + 2);
    sigprocmask(SIG_BLOCK, &block, &old);
    pid_t child = fork();
    if (child == 0) {
        close(p[0]);
        siginfo_t si;
        int sig = sigwaitinfo(&block, &si);
        char line[64];
        int n = snprintf(line, sizeof line, "%d %d %d\n", sig == SIGRTMIN + 2,
                         si.si_value.sival_int, si.si_code == SI_QUEUE);
        write(p[1], line, n);
        _exit(0);
    }
    close(p[1]);
    union sigval v = { .sival_int = 4242 };
    ok(sigqueue(child, SIGRTMIN + 2, v), "sigqueue to another process");
    char buf[64] = { 0 };
    read(p[0], buf, sizeof buf - 1);
    printf("child got: %s", buf);
    waitpid(child, NULL, 0);
    close(p[0]);
    sigprocmask(SIG_SETMASK, &old, NULL);
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    struct sigaction sa = { .sa_sigaction = on_chld, .sa_flags = SA_SIGINFO | SA_RESTART };
    sigaction(SIGCHLD, &sa, NULL);
    stop_and_continue();
    signal(SIGCHLD, SIG_DFL);
    realtime_queue();
    sigqueue_to_child();
    return finish();
}
