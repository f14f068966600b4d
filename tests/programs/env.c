/* env: prints every environ entry in brackets, then the count. */
#include <stdio.h>

extern char **environ;

int main(void)
{
    int n = 0;
    for (char **e = environ; *e != NULL; e++, n++)
        printf("[%s]\n", *e);
    printf("count=%d\n", n);
    return 0;
}
