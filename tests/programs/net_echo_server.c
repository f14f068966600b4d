/* TCP echo server: listens on 0.0.0.0:PORT, serves COUNT connections one
 * after another (echoes until the client closes), then exits. Prints
 * "listening" once ready (flushed) and a line per connection. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    int port = atoi(argv[1]), count = atoi(argv[2]);
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    if (bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 16)) {
        perror("bind/listen");
        return 1;
    }
    printf("listening\n");
    fflush(stdout);
    for (int i = 0; i < count; i++) {
        int c = accept(ls, NULL, NULL);
        if (c < 0) { perror("accept"); return 1; }
        static char buf[65536];
        long total = 0;
        for (;;) {
            ssize_t n = read(c, buf, sizeof buf);
            if (n <= 0) break;
            for (ssize_t off = 0; off < n;) {
                ssize_t w = write(c, buf + off, n - off);
                if (w <= 0) { perror("write"); return 1; }
                off += w;
            }
            total += n;
        }
        printf("connection %d: %ld bytes echoed\n", i, total);
        fflush(stdout);
        close(c);
    }
    return 0;
}
