/* UDP client: sends "ping N" to 127.0.0.1:PORT COUNT times and prints the
 * replies (a host echo server answers them; rvisor needs --net). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    int port = atoi(argv[1]), count = atoi(argv[2]);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) { perror("socket"); return 1; }
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in to = {0};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < count; i++) {
        char msg[64], buf[256];
        int n = snprintf(msg, sizeof msg, "ping %d", i);
        if (sendto(fd, msg, n, 0, (struct sockaddr *)&to, sizeof to) != n) {
            perror("sendto");
            return 1;
        }
        struct sockaddr_in from;
        socklen_t fl = sizeof from;
        ssize_t r = recvfrom(fd, buf, sizeof buf - 1, 0, (struct sockaddr *)&from, &fl);
        if (r < 0) { perror("recvfrom"); return 1; }
        buf[r] = 0;
        printf("reply from port %s:%d: %s\n",
               ntohs(from.sin_port) == port ? "server" : "other",
               from.sin_family == AF_INET, buf);
    }
    /* A datagram needing many records: the largest IPv4 UDP payload. */
    static char big[65507];
    memset(big, 'x', sizeof big);
    ssize_t s = sendto(fd, big, sizeof big, 0, (struct sockaddr *)&to, sizeof to);
    printf("big send: %zd\n", s);
    ssize_t r = recv(fd, big, sizeof big, 0);
    printf("big reply: %zd\n", r);
    close(fd);
    return 0;
}
