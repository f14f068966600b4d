/* bench_pingpong: thread ping-pong over two pipes, for bench/run.sh and the
 * scheduler's cost: round trips per second with N extra threads idle on a
 * condition variable (which must cost nothing: wakeups go only to the
 * tasks waiting on what changed).
 *   bench_pingpong ROUNDS IDLE  ->  "idle=N round_trips_s=X" */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static int ping[2], pong[2];
static int rounds;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int stop;

static void *idle(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&lock);
    while (!stop)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
    return NULL;
}

static void *echo(void *arg)
{
    (void)arg;
    char c;
    for (int i = 0; i < rounds; i++) {
        if (read(ping[0], &c, 1) != 1 || write(pong[1], &c, 1) != 1)
            exit(2);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    rounds = argc > 1 ? atoi(argv[1]) : 20000;
    int idlers = argc > 2 ? atoi(argv[2]) : 0;
    if (pipe(ping) || pipe(pong))
        return 1;
    pthread_t *threads = calloc(idlers + 1, sizeof *threads);
    for (int i = 0; i < idlers; i++)
        pthread_create(&threads[i], NULL, idle, NULL);
    pthread_t echoer;
    pthread_create(&echoer, NULL, echo, NULL);
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    char c = 'x';
    for (int i = 0; i < rounds; i++) {
        if (write(ping[1], &c, 1) != 1 || read(pong[0], &c, 1) != 1)
            return 3;
    }
    clock_gettime(CLOCK_MONOTONIC, &end);
    pthread_join(echoer, NULL);
    pthread_mutex_lock(&lock);
    stop = 1;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
    for (int i = 0; i < idlers; i++)
        pthread_join(threads[i], NULL);
    double seconds = (end.tv_sec - start.tv_sec) + (end.tv_nsec - start.tv_nsec) / 1e9;
    printf("idle=%d round_trips_s=%.0f\n", idlers, rounds / seconds);
    return 0;
}
