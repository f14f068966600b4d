/* hello: the smallest meaningful test program (printf through musl stdio). */
#include <stdio.h>

int main(void)
{
    printf("Hello from rvisor test program!\n");
    printf("%s %d %s\n", "printf works:", 42, "(formatted)");
    return 0;
}
