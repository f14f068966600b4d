/* args: prints argc and every argv[i] in brackets (raw bytes, no escaping). */
#include <stdio.h>

int main(int argc, char **argv)
{
    printf("argc=%d\n", argc);
    for (int i = 0; i < argc; i++)
        printf("argv[%d]=[%s]\n", i, argv[i]);
    if (argv[argc] != NULL)
        printf("argv[argc] is not NULL!\n");
    return 0;
}
