/* The bundled demo: an ordinary static program that shows where it runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    struct utsname u;
    uname(&u);
    printf("Hello from %s, a static Linux program.\n", argv[0]);
    printf("The kernel answering my syscalls says: %s %s %s (%s)\n", u.sysname, u.release,
           u.version, u.machine);
    printf("pid %d, uid %d; %d argument(s):", getpid(), getuid(), argc - 1);
    for (int i = 1; i < argc; i++) printf(" [%s]", argv[i]);
    printf("\n");
    unsigned char r[8];
    getrandom(r, sizeof r, 0);
    printf("8 random bytes: %02x%02x%02x%02x%02x%02x%02x%02x\n", r[0], r[1], r[2], r[3], r[4],
           r[5], r[6], r[7]);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    size_t n = 32 << 20;
    volatile char *p = malloc(n);
    for (size_t i = 0; i < n; i += 64) p[i] = 1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("touched %zu MiB of fresh memory in %.1f ms\n", n >> 20,
           (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
    free((void *)p);
    return 0;
}
