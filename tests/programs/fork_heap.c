/* fork with a large heap: a 16 MiB malloc (brk or mmap, as the C library
 * chooses) and a 4 MiB mmap, every page written, then several children
 * that each check the data, write their own mark over part of it and
 * exit; the parent checks its copy is unchanged. Prints what it saw.
 * Arguments: children (default 8). */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define MIB (1 << 20)
#define PAGE 4096

static int check(const unsigned char *p, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i += PAGE)
        if (p[i] != (unsigned char)(i / PAGE * 13 + seed))
            return 0;
    return 1;
}

static void fill(unsigned char *p, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i += PAGE)
        p[i] = (unsigned char)(i / PAGE * 13 + seed);
}

int main(int argc, char **argv)
{
    int kids = argc > 1 ? atoi(argv[1]) : 8;
    size_t heap_len = 16 * MIB, map_len = 4 * MIB;
    unsigned char *heap = malloc(heap_len);
    unsigned char *map = mmap(0, map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (!heap || map == MAP_FAILED) {
        printf("allocation failed\n");
        return 1;
    }
    fill(heap, heap_len, 1);
    fill(map, map_len, 2);
    int good = 0;
    for (int k = 0; k < kids; k++) {
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 1;
        }
        if (pid == 0) {
            int ok = check(heap, heap_len, 1) && check(map, map_len, 2);
            fill(heap + k * MIB, MIB, 100 + k);
            fill(map, MIB, 200 + k);
            ok = ok && check(heap + k * MIB, MIB, 100 + k) && check(map, MIB, 200 + k);
            _exit(ok ? 0 : 1);
        }
        int status;
        if (waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0)
            good++;
    }
    printf("children that saw the data and wrote their own: %d of %d\n", good, kids);
    printf("parent's copy unchanged: %s\n",
           check(heap, heap_len, 1) && check(map, map_len, 2) ? "yes" : "no");
    return 0;
}
