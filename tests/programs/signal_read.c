/* signal_read [restart]: a read of stdin that blocks while a 100 ms
 * periodic timer fires. Without SA_RESTART the read ends with EINTR; with
 * it the read goes on and returns the input that arrives later. Prints the
 * outcome (not timings). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static volatile sig_atomic_t hits;

static void on_alarm(int sig)
{
    (void)sig;
    hits++;
}

int main(int argc, char **argv)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = argc > 1 ? SA_RESTART : 0;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 100000}, {0, 100000}};
    setitimer(ITIMER_REAL, &it, NULL);
    /* The test sends its input well after this line, whatever start-up
     * cost: the timer has fired several times by then. */
    fprintf(stderr, "armed\n");
    char buf[64];
    ssize_t r = read(0, buf, sizeof buf);
    int e = errno;
    if (r < 0)
        printf("read: -1 %s, handler ran: %s\n", e == EINTR ? "EINTR" : "other", hits > 0 ? "yes" : "no");
    else
        printf("read: %.*s, handler ran: %s\n", (int)r, buf, hits > 0 ? "yes" : "no");
    return 0;
}
