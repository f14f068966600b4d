/* Resolves each name with getaddrinfo (IPv4, TCP) and prints the addresses
 * sorted: with --net the sandbox's /etc/hosts is the host's. */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static int cmp(const void *a, const void *b) { return strcmp(a, b); }

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        struct addrinfo hints = {0}, *res;
        hints.ai_family = AF_INET;
        hints.ai_socktype = SOCK_STREAM;
        int rc = getaddrinfo(argv[i], "80", &hints, &res);
        if (rc) { printf("%s: error\n", argv[i]); continue; }
        char addrs[32][64];
        int n = 0;
        for (struct addrinfo *p = res; p && n < 32; p = p->ai_next) {
            struct sockaddr_in *s = (struct sockaddr_in *)p->ai_addr;
            inet_ntop(AF_INET, &s->sin_addr, addrs[n++], 64);
        }
        qsort(addrs, n, 64, cmp);
        printf("%s:", argv[i]);
        for (int j = 0; j < n; j++)
            if (j == 0 || strcmp(addrs[j], addrs[j - 1])) printf(" %s", addrs[j]);
        printf("\n");
        freeaddrinfo(res);
    }
    return 0;
}
