/* fault KIND: dies from a CPU exception. KIND is one of
 *   segv  write to address 0            -> SIGSEGV (exit status 139)
 *   ill   execute ud2                   -> SIGILL  (exit status 132)
 *   fpe   integer division by zero      -> SIGFPE  (exit status 136)
 * Core dumps are disabled first (RLIMIT_CORE = 0) so the native run does
 * not leave a core file behind. */
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    struct rlimit core = {0, 0};
    setrlimit(RLIMIT_CORE, &core);
    const char *kind = argc > 1 ? argv[1] : "segv";
    write(1, "about to fault: ", 16);
    write(1, kind, strlen(kind));
    write(1, "\n", 1);
    if (strcmp(kind, "segv") == 0) {
        *(volatile int *)0 = 1;
    } else if (strcmp(kind, "ill") == 0) {
        __builtin_trap();
    } else if (strcmp(kind, "fpe") == 0) {
        volatile int a = 1, b = 0;
        a = a / b;
    }
    write(2, "fault: no fault happened\n", 25);
    return 1;
}
