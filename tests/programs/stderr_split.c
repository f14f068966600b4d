/* stderr_split: writes distinct, numbered lines to stdout and stderr,
 * interleaved, through stdio (printf + fflush, fputs to unbuffered stderr)
 * and through raw write(2). Exits with 3 so the status is checked too. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void raw(int fd, const char *s)
{
    size_t len = strlen(s);
    while (len > 0) {
        ssize_t n = write(fd, s, len);
        if (n <= 0)
            return;
        s += n;
        len -= (size_t)n;
    }
}

int main(void)
{
    char buf[64];
    for (int i = 0; i < 5; i++) {
        printf("stdout line %d\n", i);
        fflush(stdout);
        fprintf(stderr, "stderr line %d\n", i);
        snprintf(buf, sizeof buf, "stdout raw %d\n", i);
        raw(1, buf);
        snprintf(buf, sizeof buf, "stderr raw %d\n", i);
        raw(2, buf);
    }
    printf("stdout last line (buffered until exit)\n");
    fputs("stderr last line\n", stderr);
    return 3;
}
