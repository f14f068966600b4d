/* The loopback interface as programs discover it: getifaddrs,
 * if_nametoindex/if_indextoname/if_nameindex, the SIOCGIF* ioctls and
 * NETLINK_ROUTE requests made by hand (a dump, a get by index and by
 * name, an unknown request, acks, port ids). Only what concerns `lo` is
 * printed, so the output compares with the host's, which has more
 * interfaces. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

/* The netlink ABI (linux/netlink.h, linux/rtnetlink.h: musl-gcc has no
 * kernel headers). */
struct nlmsghdr {
    unsigned nlmsg_len;
    unsigned short nlmsg_type, nlmsg_flags;
    unsigned nlmsg_seq, nlmsg_pid;
};
struct nlmsgerr {
    int error;
    struct nlmsghdr msg;
};
struct sockaddr_nl {
    unsigned short nl_family, nl_pad;
    unsigned nl_pid, nl_groups;
};
struct rtattr {
    unsigned short rta_len, rta_type;
};
struct ifinfomsg {
    unsigned char ifi_family, ifi_pad;
    unsigned short ifi_type;
    int ifi_index;
    unsigned ifi_flags, ifi_change;
};
struct ifaddrmsg {
    unsigned char ifa_family, ifa_prefixlen, ifa_flags, ifa_scope;
    unsigned ifa_index;
};
#define NETLINK_ROUTE 0
#define NLMSG_NOOP 1
#define NLMSG_ERROR 2
#define NLMSG_DONE 3
#define NLM_F_REQUEST 1
#define NLM_F_MULTI 2
#define NLM_F_ACK 4
#define NLM_F_DUMP 0x300
#define RTM_NEWLINK 16
#define RTM_GETLINK 18
#define RTM_NEWADDR 20
#define RTM_GETADDR 22
#define IFLA_ADDRESS 1
#define IFLA_IFNAME 3
#define IFLA_MTU 4
#define IFA_ADDRESS 1
#define NLMSG_ALIGN(len) (((len) + 3) & ~3u)
#define NLMSG_HDRLEN ((int)NLMSG_ALIGN(sizeof(struct nlmsghdr)))
#define NLMSG_LENGTH(len) ((len) + NLMSG_HDRLEN)
#define NLMSG_DATA(h) ((void *)((char *)(h) + NLMSG_HDRLEN))
#define NLMSG_OK(h, len) ((len) >= (int)sizeof(struct nlmsghdr) && \
                          (h)->nlmsg_len >= sizeof(struct nlmsghdr) && (h)->nlmsg_len <= (unsigned)(len))
#define NLMSG_NEXT(h, len) ((len) -= NLMSG_ALIGN((h)->nlmsg_len), \
                            (struct nlmsghdr *)((char *)(h) + NLMSG_ALIGN((h)->nlmsg_len)))
#define RTA_ALIGN(len) (((len) + 3) & ~3u)
#define RTA_LENGTH(len) (RTA_ALIGN(sizeof(struct rtattr)) + (len))
#define RTA_DATA(a) ((void *)((char *)(a) + RTA_LENGTH(0)))
#define RTA_PAYLOAD(a) ((int)((a)->rta_len) - RTA_LENGTH(0))
#define RTA_OK(a, len) ((len) >= (int)sizeof(struct rtattr) && (a)->rta_len >= sizeof(struct rtattr) && \
                        (a)->rta_len <= (unsigned)(len))
#define RTA_NEXT(a, len) ((len) -= RTA_ALIGN((a)->rta_len), \
                          (struct rtattr *)((char *)(a) + RTA_ALIGN((a)->rta_len)))
#define IFLA_RTA(i) ((struct rtattr *)((char *)(i) + NLMSG_ALIGN(sizeof(struct ifinfomsg))))
#define IFLA_PAYLOAD(h) ((int)((h)->nlmsg_len - NLMSG_LENGTH(NLMSG_ALIGN(sizeof(struct ifinfomsg)))))
#define IFA_RTA(i) ((struct rtattr *)((char *)(i) + NLMSG_ALIGN(sizeof(struct ifaddrmsg))))
#define IFA_PAYLOAD(h) ((int)((h)->nlmsg_len - NLMSG_LENGTH(NLMSG_ALIGN(sizeof(struct ifaddrmsg)))))

static int failures;

static void check(int ok, const char *what)
{
    printf("%s: %s\n", what, ok ? "ok" : "FAILED");
    if (!ok)
        failures++;
}

static const char *family_name(int family)
{
    switch (family) {
    case AF_INET: return "AF_INET";
    case AF_INET6: return "AF_INET6";
    case AF_PACKET: return "AF_PACKET";
    default: return "other";
    }
}

static void print_addr(const char *label, struct sockaddr *sa)
{
    char text[INET6_ADDRSTRLEN] = "-";
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, text, sizeof text);
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, text, sizeof text);
    printf(" %s=%s", label, text);
}

static void test_getifaddrs(void)
{
    struct ifaddrs *list, *i;
    if (getifaddrs(&list) != 0) {
        printf("getifaddrs: errno %d FAILED\n", errno);
        failures++;
        return;
    }
    int seen = 0;
    for (i = list; i; i = i->ifa_next) {
        if (strcmp(i->ifa_name, "lo") != 0)
            continue;
        seen++;
        int family = i->ifa_addr ? i->ifa_addr->sa_family : -1;
        printf("getifaddrs lo %s flags=%#x", family_name(family), i->ifa_flags);
        if (family == AF_INET || family == AF_INET6) {
            print_addr("addr", i->ifa_addr);
            print_addr("mask", i->ifa_netmask);
        }
        printf("\n");
    }
    freeifaddrs(list);
    check(seen == 3, "getifaddrs: lo has a link and two addresses");
}

static void test_names(void)
{
    char name[IF_NAMESIZE];
    check(if_nametoindex("lo") == 1, "if_nametoindex(lo) == 1");
    errno = 0;
    check(if_nametoindex("nosuch0") == 0 && errno == ENODEV, "if_nametoindex(nosuch0): ENODEV");
    check(if_indextoname(1, name) && strcmp(name, "lo") == 0, "if_indextoname(1) == lo");
    struct if_nameindex *all = if_nameindex(), *p;
    int found = 0;
    for (p = all; p && p->if_index; p++)
        if (strcmp(p->if_name, "lo") == 0 && p->if_index == 1)
            found = 1;
    if (all)
        if_freenameindex(all);
    check(found, "if_nameindex lists lo as 1");
}

static void test_ioctls(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0)
        printf("SIOCGIFFLAGS lo: %#x\n", (unsigned short)ifr.ifr_flags);
    else
        check(0, "SIOCGIFFLAGS lo");
    if (ioctl(fd, SIOCGIFMTU, &ifr) == 0)
        printf("SIOCGIFMTU lo: %d\n", ifr.ifr_mtu);
    if (ioctl(fd, SIOCGIFINDEX, &ifr) == 0)
        printf("SIOCGIFINDEX lo: %d\n", ifr.ifr_ifindex);
    if (ioctl(fd, SIOCGIFADDR, &ifr) == 0) {
        printf("SIOCGIFADDR lo:");
        print_addr("addr", &ifr.ifr_addr);
        printf("\n");
    }
    if (ioctl(fd, SIOCGIFNETMASK, &ifr) == 0) {
        printf("SIOCGIFNETMASK lo:");
        print_addr("mask", &ifr.ifr_netmask);
        printf("\n");
    }
    if (ioctl(fd, SIOCGIFHWADDR, &ifr) == 0)
        printf("SIOCGIFHWADDR lo: type %d\n", ifr.ifr_hwaddr.sa_family);
    ifr.ifr_ifindex = 1;
    memset(ifr.ifr_name, 'x', sizeof ifr.ifr_name);
    check(ioctl(fd, SIOCGIFNAME, &ifr) == 0 && strcmp(ifr.ifr_name, "lo") == 0,
          "SIOCGIFNAME 1 == lo");
    strcpy(ifr.ifr_name, "nosuch0");
    check(ioctl(fd, SIOCGIFFLAGS, &ifr) == -1 && errno == ENODEV, "SIOCGIFFLAGS nosuch0: ENODEV");

    struct ifconf conf = {.ifc_len = 0, .ifc_buf = NULL};
    check(ioctl(fd, SIOCGIFCONF, &conf) == 0 && conf.ifc_len > 0 &&
              conf.ifc_len % (int)sizeof(struct ifreq) == 0,
          "SIOCGIFCONF sizes the list");
    struct ifreq entries[16];
    conf.ifc_len = sizeof entries;
    conf.ifc_req = entries;
    int lo = 0;
    if (ioctl(fd, SIOCGIFCONF, &conf) == 0)
        for (int i = 0; i < conf.ifc_len / (int)sizeof(struct ifreq); i++)
            if (strcmp(entries[i].ifr_name, "lo") == 0 &&
                ((struct sockaddr_in *)&entries[i].ifr_addr)->sin_addr.s_addr == htonl(INADDR_LOOPBACK))
                lo = 1;
    check(lo, "SIOCGIFCONF lists lo at 127.0.0.1");
    close(fd);
}

struct request {
    struct nlmsghdr h;
    struct ifinfomsg ifi;
    char attrs[64];
};

static int nl_send(int fd, int type, int flags, int seq, int index, const char *name)
{
    struct request req;
    memset(&req, 0, sizeof req);
    req.h.nlmsg_len = NLMSG_LENGTH(sizeof req.ifi);
    req.h.nlmsg_type = type;
    req.h.nlmsg_flags = NLM_F_REQUEST | flags;
    req.h.nlmsg_seq = seq;
    req.ifi.ifi_family = AF_UNSPEC;
    req.ifi.ifi_index = index;
    if (name) {
        struct rtattr *rta = (struct rtattr *)((char *)&req + NLMSG_ALIGN(req.h.nlmsg_len));
        rta->rta_type = IFLA_IFNAME;
        rta->rta_len = RTA_LENGTH(strlen(name) + 1);
        strcpy(RTA_DATA(rta), name);
        req.h.nlmsg_len = NLMSG_ALIGN(req.h.nlmsg_len) + RTA_ALIGN(rta->rta_len);
    }
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    return sendto(fd, &req, req.h.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel);
}

/* Reads replies until NLMSG_DONE or an NLMSG_ERROR; prints what concerns
 * lo. Returns the error of an NLMSG_ERROR (0 for an ack), or 1 for DONE. */
static int nl_read(int fd, unsigned port, int seq, const char *what)
{
    static char buf[65536];
    for (;;) {
        struct sockaddr_nl from;
        socklen_t fromlen = sizeof from;
        int n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &fromlen);
        if (n < 0) {
            printf("%s: recv errno %d\n", what, errno);
            return -1000;
        }
        if (from.nl_pid != 0 || fromlen != sizeof from)
            printf("%s: reply not from the kernel\n", what);
        struct nlmsghdr *h;
        for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, (unsigned)n); h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_seq != (unsigned)seq || h->nlmsg_pid != port)
                printf("%s: seq/port mismatch\n", what);
            if (h->nlmsg_type == NLMSG_DONE)
                return 1;
            if (h->nlmsg_type == NLMSG_ERROR) {
                struct nlmsgerr *e = NLMSG_DATA(h);
                return e->error; /* 0: an ack */
            }
            if (h->nlmsg_type == RTM_NEWLINK) {
                struct ifinfomsg *ifi = NLMSG_DATA(h);
                if (ifi->ifi_index != 1)
                    continue;
                printf("%s: NEWLINK index=%d type=%d flags=%#x multi=%d", what, ifi->ifi_index,
                       ifi->ifi_type, ifi->ifi_flags, !!(h->nlmsg_flags & NLM_F_MULTI));
                int len = IFLA_PAYLOAD(h);
                for (struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
                    if (a->rta_type == IFLA_IFNAME)
                        printf(" name=%s", (char *)RTA_DATA(a));
                    if (a->rta_type == IFLA_MTU)
                        printf(" mtu=%u", *(unsigned *)RTA_DATA(a));
                    if (a->rta_type == IFLA_ADDRESS)
                        printf(" addrlen=%d", (int)RTA_PAYLOAD(a));
                }
                printf("\n");
                if (!(h->nlmsg_flags & NLM_F_MULTI))
                    return 0;
            }
            if (h->nlmsg_type == RTM_NEWADDR) {
                struct ifaddrmsg *ifa = NLMSG_DATA(h);
                if (ifa->ifa_index != 1)
                    continue;
                char text[INET6_ADDRSTRLEN] = "?";
                int len = IFA_PAYLOAD(h);
                for (struct rtattr *a = IFA_RTA(ifa); RTA_OK(a, len); a = RTA_NEXT(a, len))
                    if (a->rta_type == IFA_ADDRESS)
                        inet_ntop(ifa->ifa_family, RTA_DATA(a), text, sizeof text);
                printf("%s: NEWADDR %s %s/%d scope=%d\n", what, family_name(ifa->ifa_family),
                       text, ifa->ifa_prefixlen, ifa->ifa_scope);
            }
        }
    }
}

static void test_netlink(void)
{
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    check(fd >= 0, "socket(AF_NETLINK, NETLINK_ROUTE)");
    struct sockaddr_nl me = {.nl_family = AF_NETLINK};
    socklen_t len = sizeof me;
    getsockname(fd, (struct sockaddr *)&me, &len);
    check(me.nl_pid == 0 && len == sizeof me, "unbound: port 0");
    check(bind(fd, (struct sockaddr *)&me, sizeof me) == 0, "bind port 0");
    len = sizeof me;
    getsockname(fd, (struct sockaddr *)&me, &len);
    check(me.nl_pid == (unsigned)getpid(), "first socket's port is the pid");
    unsigned port = me.nl_pid;

    int other = socket(AF_NETLINK, SOCK_DGRAM, NETLINK_ROUTE);
    struct sockaddr_nl taken = {.nl_family = AF_NETLINK, .nl_pid = port};
    check(bind(other, (struct sockaddr *)&taken, sizeof taken) == -1 && errno == EADDRINUSE,
          "bind a taken port: EADDRINUSE");
    struct sockaddr_nl any = {.nl_family = AF_NETLINK};
    bind(other, (struct sockaddr *)&any, sizeof any);
    len = sizeof any;
    getsockname(other, (struct sockaddr *)&any, &len);
    check(any.nl_pid != 0 && any.nl_pid != port, "second socket gets another port");
    close(other);

    check(socket(AF_NETLINK, SOCK_STREAM, NETLINK_ROUTE) == -1 && errno == ESOCKTNOSUPPORT,
          "netlink SOCK_STREAM: ESOCKTNOSUPPORT");
    check(socket(AF_NETLINK, SOCK_RAW, 99) == -1 && errno == EPROTONOSUPPORT,
          "netlink protocol 99: EPROTONOSUPPORT");

    nl_send(fd, RTM_GETLINK, NLM_F_DUMP, 1, 0, NULL);
    check(nl_read(fd, port, 1, "dump links") == 1, "link dump ends with NLMSG_DONE");

    struct {
        struct nlmsghdr h;
        struct ifaddrmsg ifa;
    } addr_req = {
        .h = {.nlmsg_len = sizeof addr_req, .nlmsg_type = RTM_GETADDR,
              .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = 2},
        .ifa = {.ifa_family = AF_UNSPEC},
    };
    send(fd, &addr_req, sizeof addr_req, 0);
    check(nl_read(fd, port, 2, "dump addresses") == 1, "address dump ends with NLMSG_DONE");
    addr_req.h.nlmsg_seq = 3;
    addr_req.ifa.ifa_family = AF_INET6;
    send(fd, &addr_req, sizeof addr_req, 0);
    check(nl_read(fd, port, 3, "dump inet6 addresses") == 1, "inet6 dump ends with NLMSG_DONE");

    nl_send(fd, RTM_GETLINK, NLM_F_ACK, 4, 1, NULL);
    check(nl_read(fd, port, 4, "get index 1") == 0, "get link by index");
    check(nl_read(fd, port, 4, "ack") == 0, "then the ack");
    nl_send(fd, RTM_GETLINK, 0, 5, 0, "lo");
    check(nl_read(fd, port, 5, "get by name lo") == 0, "get link by name");
    nl_send(fd, RTM_GETLINK, 0, 6, 0, "nosuch0");
    check(nl_read(fd, port, 6, "get nosuch0") == -ENODEV, "get nosuch0: ENODEV");
    nl_send(fd, 200, 0, 7, 0, NULL);
    check(nl_read(fd, port, 7, "type 200") == -EOPNOTSUPP, "unknown request: EOPNOTSUPP");

    /* A request with NLM_F_ACK and nothing to reply: just the ack. */
    struct nlmsghdr noop = {.nlmsg_len = sizeof noop, .nlmsg_type = NLMSG_NOOP,
                            .nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK, .nlmsg_seq = 8};
    send(fd, &noop, sizeof noop, 0);
    char buf[256];
    int n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    struct nlmsghdr *h = (struct nlmsghdr *)buf;
    check(n >= (int)NLMSG_LENGTH(sizeof(struct nlmsgerr)) && h->nlmsg_type == NLMSG_ERROR &&
              ((struct nlmsgerr *)NLMSG_DATA(h))->error == 0,
          "NLMSG_NOOP with NLM_F_ACK: an ack");
    check(recv(fd, buf, sizeof buf, MSG_DONTWAIT) == -1 && errno == EAGAIN,
          "nothing more queued: EAGAIN");
    close(fd);
}

/* "list": every interface and address getifaddrs gives. */
static int list_all(void)
{
    struct ifaddrs *list, *i;
    if (getifaddrs(&list) != 0)
        return 1;
    for (i = list; i; i = i->ifa_next) {
        int family = i->ifa_addr ? i->ifa_addr->sa_family : -1;
        printf("interface %s %s flags=%#x", i->ifa_name, family_name(family), i->ifa_flags);
        if (family == AF_INET || family == AF_INET6)
            print_addr("addr", i->ifa_addr);
        printf("\n");
    }
    freeifaddrs(list);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 1 && strcmp(argv[1], "list") == 0)
        return list_all();
    test_getifaddrs();
    test_names();
    test_ioctls();
    test_netlink();
    printf("failures=%d\n", failures);
    return failures != 0;
}
