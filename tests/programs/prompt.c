/* prompt: a tiny interactive program. Three rounds of: write a prompt line
 * to stdout, read one line from stdin, answer on stdout. Checks that output
 * reaches the host while the program is still running (before it exits) and
 * that input written later is delivered. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int read_line(char *buf, size_t cap)
{
    size_t n = 0;
    while (n + 1 < cap) {
        char c;
        ssize_t r = read(0, &c, 1);
        if (r <= 0)
            break;
        if (c == '\n')
            break;
        buf[n++] = c;
    }
    buf[n] = '\0';
    return (int)n;
}

int main(void)
{
    char line[256], out[400];
    for (int round = 1; round <= 3; round++) {
        int k = snprintf(out, sizeof out, "prompt %d?\n", round);
        write(1, out, (size_t)k);
        read_line(line, sizeof line);
        k = snprintf(out, sizeof out, "round %d: got [%s]\n", round, line);
        write(1, out, (size_t)k);
        k = snprintf(out, sizeof out, "stderr after round %d\n", round);
        write(2, out, (size_t)k);
    }
    return 0;
}
