/* spin: prints a line, then burns CPU forever without making system calls.
 * Used to check that rvisor-vmm --timeout stops a guest that never traps. */
#include <unistd.h>

int main(void)
{
    write(1, "spinning\n", 9);
    for (;;)
        __asm__ volatile("" ::: "memory");
}
