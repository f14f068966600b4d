/* preempt: work that only finishes if the sandbox takes the CPU away from
 * code that never makes a syscall: a SIGALRM handler ending a busy loop, a
 * spinning thread stopped by the main thread, a busy child killed by its
 * parent. (rvisor-vmm on x86_64 KVM injects a tick every 10 ms; without
 * preemption this program hangs.) */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t alarm_seen;
static volatile int stop;

static void on_alarm(int sig)
{
    (void)sig;
    alarm_seen = 1;
}

static void *spinner(void *arg)
{
    (void)arg;
    unsigned long n = 0;
    while (!stop)
        n++;
    return (void *)(long)(n > 0);
}

int main(void)
{
    signal(SIGALRM, on_alarm);
    struct itimerval it = {{0, 0}, {0, 30000}};
    setitimer(ITIMER_REAL, &it, NULL);
    unsigned long spins = 0;
    while (!alarm_seen)
        spins++;
    printf("a busy loop got its SIGALRM: %s\n", spins > 0 ? "yes" : "no");

    pthread_t t;
    pthread_create(&t, NULL, spinner, NULL);
    sched_yield();
    usleep(20000);
    stop = 1;
    void *spun;
    pthread_join(t, &spun);
    printf("a spinning thread saw the flag: %s\n", spun ? "yes" : "no");

    pid_t child = fork();
    if (child == 0) {
        for (;;)
            ;
    }
    usleep(20000);
    kill(child, SIGKILL);
    int status;
    waitpid(child, &status, 0);
    printf("a busy child was killed: %s\n", WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL ? "yes" : "no");
    return 0;
}
