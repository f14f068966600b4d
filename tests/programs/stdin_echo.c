/* stdin_echo: copies stdin to stdout byte for byte until EOF, then reports
 * the byte count and a checksum on stderr. */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

static char buf[65536];

int main(void)
{
    unsigned long long total = 0;
    unsigned int sum = 0;
    int reads = 0;
    for (;;) {
        ssize_t n = read(0, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("stdin_echo: read");
            return 1;
        }
        if (n == 0)
            break;
        reads++;
        for (ssize_t i = 0; i < n; i++)
            sum = sum * 31u + (unsigned char)buf[i];
        total += (unsigned long long)n;
        char *p = buf;
        while (n > 0) {
            ssize_t w = write(1, p, (size_t)n);
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                perror("stdin_echo: write");
                return 1;
            }
            p += w;
            n -= w;
        }
    }
    (void)reads; /* the number of reads depends on pipe timing: not printed */
    fprintf(stderr, "stdin_echo: %llu bytes, checksum %08x\n", total, sum);
    return 0;
}
