/* fault KIND: dies from a CPU exception. KIND is one of
 *   segv  write to address 0            -> SIGSEGV (exit status 139)
 *   ill   execute ud2                   -> SIGILL  (exit status 132)
 *   fpe   integer division by zero      -> SIGFPE  (exit status 136)
 *   sigreturn-unmapped   rt_sigreturn with the stack pointer on an
 *                        unmapped page       -> SIGSEGV (139)
 *   sigreturn-zeros      rt_sigreturn from a zeroed frame (pc 0)
 *                                            -> SIGSEGV (139)
 *   sigreturn-noncanonical  a frame whose pc is not a user address
 *                                            -> SIGSEGV (139)
 * Core dumps are disabled first (RLIMIT_CORE = 0) so the native run does
 * not leave a core file behind. */
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
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
    } else if (strncmp(kind, "sigreturn-", 10) == 0) {
        /* A forged signal frame: 64 KiB of zeros (pc 0, no FPU state), or
         * with a non-canonical pc, or no frame at all. */
        char *frame = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        unsigned long sp = (unsigned long)frame + 16384;
        if (strcmp(kind, "sigreturn-unmapped") == 0)
            sp = 0x10000;
        if (strcmp(kind, "sigreturn-noncanonical") == 0) {
            for (int i = 0; i < 8192; i++)
                ((unsigned long *)(sp))[i] = 0x8000000000001000UL;
        }
#if defined(__x86_64__)
        __asm__ volatile("mov %0, %%rsp\n\tmov %1, %%eax\n\tsyscall" ::"r"(sp), "i"(SYS_rt_sigreturn) : "memory");
#elif defined(__aarch64__)
        __asm__ volatile("mov sp, %0\n\tmov x8, %1\n\tsvc #0" ::"r"(sp), "i"(SYS_rt_sigreturn) : "memory");
#endif
    }
    write(2, "fault: no fault happened\n", 25);
    return 1;
}
