/* Landlock and the LSM calls: landlock_create_ruleset (the ABI version,
 * the attribute checks), landlock_add_rule (path-beneath and port rules,
 * their errors), landlock_restrict_self (no_new_privs, flags, 16 layers),
 * and enforcement in forked children: opens (read, write, directories,
 * O_TRUNC), creation and removal, same-directory renames, reparenting
 * with and without REFER (EXDEV), links, truncate and ftruncate, exec,
 * device ioctls, inheritance across fork and execve, TCP bind and
 * connect, and the abstract unix socket and signal scopes. lsm_list_modules
 * must list landlock. The host must have Landlock with ABI >= 6: else the
 * program says "SKIP" and the test is skipped. No wrappers in musl:
 * syscall() with the numbers (the same on x86_64 and aarch64). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "abi_check.h"

#define NR_create_ruleset 444
#define NR_add_rule 445
#define NR_restrict_self 446
#define NR_lsm_get_self_attr 459
#define NR_lsm_set_self_attr 460
#define NR_lsm_list_modules 461

#define FS_EXECUTE (1ULL << 0)
#define FS_WRITE_FILE (1ULL << 1)
#define FS_READ_FILE (1ULL << 2)
#define FS_READ_DIR (1ULL << 3)
#define FS_REMOVE_DIR (1ULL << 4)
#define FS_REMOVE_FILE (1ULL << 5)
#define FS_MAKE_DIR (1ULL << 7)
#define FS_MAKE_REG (1ULL << 8)
#define FS_MAKE_SOCK (1ULL << 9)
#define FS_REFER (1ULL << 13)
#define FS_TRUNCATE (1ULL << 14)
#define FS_IOCTL_DEV (1ULL << 15)
#define FS_ALL ((1ULL << 16) - 1)
#define NET_BIND_TCP (1ULL << 0)
#define NET_CONNECT_TCP (1ULL << 1)
#define SCOPE_ABSTRACT_UNIX (1ULL << 0)
#define SCOPE_SIGNAL (1ULL << 1)

struct ruleset_attr {
    uint64_t fs, net, scoped;
};
struct path_beneath {
    uint64_t allowed;
    int32_t parent_fd;
} __attribute__((packed));
struct net_port {
    uint64_t allowed, port;
};

static long create_ruleset(const void *attr, size_t size, uint32_t flags)
{
    return syscall(NR_create_ruleset, attr, size, flags);
}
static long add_rule(int fd, int type, const void *attr, uint32_t flags)
{
    return syscall(NR_add_rule, fd, type, attr, flags);
}
static long restrict_self(int fd, uint32_t flags)
{
    return syscall(NR_restrict_self, fd, flags);
}

static char base[64];
/* base/rel, in one of four buffers (two paths per call at most). */
static const char *p(const char *rel)
{
    static char bufs[4][256];
    static int next;
    char *buf = bufs[next++ % 4];
    snprintf(buf, sizeof bufs[0], "%s/%s", base, rel);
    return buf;
}

static int ruleset(uint64_t fs, uint64_t net, uint64_t scoped)
{
    struct ruleset_attr a = {fs, net, scoped};
    return create_ruleset(&a, sizeof a, 0);
}

static void rule_path(int rs, const char *path, uint64_t access)
{
    struct path_beneath pb = {access, open(path, O_PATH | O_CLOEXEC)};
    if (add_rule(rs, 1, &pb, 0) < 0) {
        printf("add_rule %s: FAIL %s\n", path, ename(errno));
        failures++;
    }
    close(pb.parent_fd);
}

static void enforce(int rs)
{
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    if (restrict_self(rs, 0) < 0) {
        printf("restrict_self: FAIL %s\n", ename(errno));
        failures++;
    }
    close(rs);
}

/* Runs fn in a child (restrictions are for good); its failures count. */
static void in_child(void (*fn)(void))
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        failures = 0;
        fn();
        fflush(stdout);
        _exit(failures);
    }
    int status;
    waitpid(pid, &status, 0);
    failures += WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

static int touch(const char *path)
{
    int fd = open(path, O_CREAT | O_WRONLY, 0755);
    if (fd >= 0) {
        write(fd, "data", 4);
        close(fd);
    }
    return fd;
}

static void errors(void)
{
    struct ruleset_attr a = {FS_EXECUTE, 0, 0};
    char big[40] = {0};
    memcpy(big, &a, sizeof a);
    err(create_ruleset(&a, sizeof a, 2), EINVAL, "create: unknown flag");
    err(create_ruleset(&a, sizeof a, 1), EINVAL, "create: version with attr");
    err(create_ruleset(&a, 7, 0), EINVAL, "create: size too small");
    err(create_ruleset(&a, 4097, 0), E2BIG, "create: size over a page");
    err(create_ruleset(NULL, sizeof a, 0), EFAULT, "create: NULL attr");
    big[35] = 1;
    err(create_ruleset(big, sizeof big, 0), E2BIG, "create: nonzero tail");
    big[35] = 0;
    int rs = ok(create_ruleset(big, sizeof big, 0), "create: zero tail");
    close(rs);
    struct ruleset_attr bad = {1ULL << 16, 0, 0};
    err(create_ruleset(&bad, sizeof bad, 0), EINVAL, "create: unknown fs right");
    bad = (struct ruleset_attr){0, 1ULL << 4, 0};
    err(create_ruleset(&bad, sizeof bad, 0), EINVAL, "create: unknown net right");
    bad = (struct ruleset_attr){0, 0, 1ULL << 4};
    err(create_ruleset(&bad, sizeof bad, 0), EINVAL, "create: unknown scope");
    bad = (struct ruleset_attr){0, 0, 0};
    err(create_ruleset(&bad, sizeof bad, 0), ENOMSG, "create: nothing handled");
    ok(create_ruleset(&a, 8, 0), "create: first field only");

    rs = ruleset(FS_READ_FILE | FS_READ_DIR, NET_BIND_TCP, 0);
    int pipefd[2];
    pipe(pipefd);
    int dir = open(base, O_PATH);
    struct path_beneath pb = {FS_READ_FILE, dir};
    err(add_rule(rs, 1, &pb, 1), EINVAL, "add_rule: flags");
    err(add_rule(-1, 1, &pb, 0), EBADF, "add_rule: bad ruleset fd");
    err(add_rule(pipefd[0], 1, &pb, 0), EBADFD, "add_rule: not a ruleset");
    err(add_rule(100, 1, &pb, 0), EBADF, "add_rule: closed fd");
    err(add_rule(rs, 3, &pb, 0), EINVAL, "add_rule: rule type");
    err(add_rule(rs, 1, NULL, 0), EFAULT, "add_rule: NULL attr");
    pb.allowed = 0;
    err(add_rule(rs, 1, &pb, 0), ENOMSG, "add_rule: no access");
    pb.allowed = FS_EXECUTE;
    err(add_rule(rs, 1, &pb, 0), EINVAL, "add_rule: unhandled access");
    pb.allowed = FS_READ_FILE;
    pb.parent_fd = -1;
    err(add_rule(rs, 1, &pb, 0), EBADF, "add_rule: bad parent fd");
    pb.parent_fd = pipefd[0];
    err(add_rule(rs, 1, &pb, 0), EBADFD, "add_rule: pipe parent");
    pb.parent_fd = rs;
    err(add_rule(rs, 1, &pb, 0), EBADFD, "add_rule: ruleset parent");
    touch(p("plain"));
    pb.parent_fd = open(p("plain"), O_PATH);
    pb.allowed = FS_READ_DIR;
    err(add_rule(rs, 1, &pb, 0), EINVAL, "add_rule: directory right on a file");
    pb.allowed = FS_READ_FILE;
    ok(add_rule(rs, 1, &pb, 0), "add_rule: file right on a file");
    close(pb.parent_fd);
    pb.parent_fd = dir;
    ok(add_rule(rs, 1, &pb, 0), "add_rule: directory (O_PATH)");
    struct net_port np = {NET_BIND_TCP, 65536};
    err(add_rule(rs, 2, &np, 0), EINVAL, "add_rule: port too big");
    np.port = 80;
    np.allowed = NET_CONNECT_TCP;
    err(add_rule(rs, 2, &np, 0), EINVAL, "add_rule: unhandled net right");
    np.allowed = NET_BIND_TCP;
    ok(add_rule(rs, 2, &np, 0), "add_rule: port");
    close(dir);
    close(pipefd[0]);
    close(pipefd[1]);
    close(rs);
}

static void layers(void)
{
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    int rs = ruleset(FS_EXECUTE, 0, 0);
    int pipefd[2];
    pipe(pipefd);
    err(restrict_self(rs, 0x80000000u), EINVAL, "restrict_self: unknown flag");
    err(restrict_self(pipefd[0], 0), EBADFD, "restrict_self: not a ruleset");
    err(restrict_self(-1, 0), EBADF, "restrict_self: bad fd");
    int rs_path;
    char link[32];
    snprintf(link, sizeof link, "/proc/self/fd/%d", rs);
    rs_path = open(link, O_PATH);
    err(restrict_self(rs_path, 0), EBADF, "restrict_self: O_PATH descriptor");
    close(rs_path);
    int i, good = 1;
    for (i = 0; i < 16; i++)
        if (restrict_self(rs, 0) < 0)
            good = 0;
    check(good, "restrict_self: 16 layers");
    err(restrict_self(rs, 0), E2BIG, "restrict_self: 17th layer");
}

static char self_exe[256];

static void fs_rules(void)
{
    int keep = open(p("b/old"), O_RDWR); /* opened before: no Landlock */
    int rs = ruleset(FS_ALL, 0, 0);
    rule_path(rs, "/", FS_READ_FILE);
    rule_path(rs, self_exe, FS_READ_FILE | FS_EXECUTE); /* a rule on a file */
    rule_path(rs, p("a"), FS_ALL);
    rule_path(rs, p("b"), FS_READ_FILE | FS_READ_DIR | FS_EXECUTE);
    rule_path(rs, p("c"), FS_READ_FILE | FS_WRITE_FILE | FS_MAKE_REG);
    rule_path(rs, p("d"), FS_ALL & ~FS_REFER);
    enforce(rs);

    int fd = ok(open(p("a/f"), O_RDWR | O_CREAT, 0644), "open a/f create");
    close(fd);
    err(open(p("b/g"), O_RDWR | O_CREAT, 0644), EACCES, "open b/g create");
    fd = ok(open(p("b/old"), O_RDONLY), "open b/old read");
    close(fd);
    err(open(p("b/old"), O_WRONLY), EACCES, "open b/old write");
    fd = ok(open(p("b"), O_RDONLY | O_DIRECTORY), "open b directory");
    close(fd);
    err(open(p("c"), O_RDONLY | O_DIRECTORY), EACCES, "open c directory");
    fd = ok(open(p("c/e"), O_RDWR | O_CREAT, 0644), "open c/e create");
    err(ftruncate(fd, 0), EACCES, "ftruncate c/e");
    close(fd);
    err(open(p("c/e"), O_WRONLY | O_TRUNC), EACCES, "open c/e O_TRUNC");
    err(truncate(p("c/e"), 0), EACCES, "truncate c/e");
    ok(truncate(p("a/f"), 0), "truncate a/f");
    ok(ftruncate(keep, 1), "ftruncate of a file opened before");
    err(mkdir(p("b/m"), 0755), EACCES, "mkdir in b");
    ok(mkdir(p("a/m"), 0755), "mkdir in a");
    err(mkdir(p("c/m"), 0755), EACCES, "mkdir in c");
    err(unlink(p("b/old")), EACCES, "unlink in b");
    err(rmdir(p("b/sub")), EACCES, "rmdir in b");
    ok(rmdir(p("a/m")), "rmdir in a");
    err(mkfifo(p("a/../b/fifo"), 0644), EACCES, "mkfifo in b");
    ok(rename(p("a/f"), p("a/f2")), "rename within a");
    ok(rename(p("a/f2"), p("a/sub/f3")), "rename a -> a/sub (REFER)");
    err(rename(p("a/sub/f3"), p("b/f4")), EACCES, "rename a -> b");
    err(rename(p("d/x"), p("d/sub/x")), EXDEV, "rename within d, reparenting without REFER");
    ok(rename(p("d/x"), p("d/y")), "rename within d, same directory");
    err(link(p("d/y"), p("d/sub/y")), EXDEV, "link within d, reparenting without REFER");
    ok(link(p("a/sub/f3"), p("a/l")), "link in a");
    err(link(p("a/l"), p("b/l")), EACCES, "link a -> b");
    ok(unlink(p("a/l")), "unlink in a");

    /* exec: allowed in b, not in c (no EXECUTE). */
    char *argv[] = {self_exe, "exec-check", NULL};
    err(execve(p("c/exe"), argv, NULL), EACCES, "execve in c");
    err(execve(p("b/garbage"), argv, NULL), ENOEXEC, "execve in b (not a program)");
    err(execve(p("b/script"), argv, NULL), EACCES, "execve of a script whose interpreter is in c");

    /* Device ioctls: "/" has no IOCTL_DEV. */
    fd = ok(open("/dev/null", O_RDONLY), "open /dev/null");
    int n;
    err(ioctl(fd, FIONREAD, &n), EACCES, "ioctl FIONREAD on /dev/null");
    ok(ioctl(fd, FIOCLEX), "ioctl FIOCLEX on /dev/null");
    close(fd);
    err(open("/dev/null", O_WRONLY), EACCES, "open /dev/null write");

    /* Inherited by children, kept across execve. */
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int r = open(p("b/old"), O_WRONLY);
        printf("child open b/old write: %s\n", r < 0 ? ename(errno) : "allowed");
        fflush(stdout);
        char *args[] = {self_exe, "exec-check", base, NULL};
        execv(self_exe, args);
        _exit(99);
    }
    int status;
    waitpid(pid, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child after execve");
    close(keep);
}

/* Two layers: the second one denies what the first one allows. */
static void stacked(void)
{
    int rs = ruleset(FS_READ_FILE | FS_WRITE_FILE, 0, 0);
    rule_path(rs, "/", FS_READ_FILE | FS_WRITE_FILE);
    enforce(rs);
    int fd = ok(open(p("b/old"), O_RDWR), "layer 1: open b/old read-write");
    close(fd);
    rs = ruleset(FS_WRITE_FILE, 0, 0);
    rule_path(rs, p("a"), FS_WRITE_FILE);
    enforce(rs);
    err(open(p("b/old"), O_RDWR), EACCES, "layer 2: open b/old read-write");
    fd = ok(open(p("b/old"), O_RDONLY), "layer 2: open b/old read");
    close(fd);
    fd = ok(open(p("a/sub/f3"), O_WRONLY), "layer 2: open a/sub/f3 write");
    close(fd);
}

static int listener(int *port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(s, (struct sockaddr *)&a, sizeof a);
    listen(s, 8);
    socklen_t len = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &len);
    *port = ntohs(a.sin_port);
    return s;
}

static int server_port, other_port, bind_port;

static int tcp_to(int port, int do_bind)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                            .sin_port = htons(port)};
    int r = do_bind ? bind(s, (struct sockaddr *)&a, sizeof a)
                    : connect(s, (struct sockaddr *)&a, sizeof a);
    int e = errno;
    close(s);
    errno = e;
    return r;
}

static void net_rules(void)
{
    int rs = ruleset(0, NET_BIND_TCP | NET_CONNECT_TCP, 0);
    struct net_port np = {NET_CONNECT_TCP, server_port};
    ok(add_rule(rs, 2, &np, 0), "add_rule connect port");
    np = (struct net_port){NET_BIND_TCP, bind_port};
    ok(add_rule(rs, 2, &np, 0), "add_rule bind port");
    enforce(rs);
    ok(tcp_to(server_port, 0), "connect allowed port");
    err(tcp_to(other_port, 0), EACCES, "connect other port");
    ok(tcp_to(bind_port, 1), "bind allowed port");
    err(tcp_to(0, 1), EACCES, "bind port 0");
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ok(bind(u, (struct sockaddr *)&a, sizeof a), "UDP bind is not TCP");
    close(u);
}

static struct sockaddr_un abstract_addr;
static socklen_t abstract_len;

static void unix_scope(void)
{
    int rs = ruleset(0, 0, SCOPE_ABSTRACT_UNIX);
    enforce(rs);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    err(connect(s, (struct sockaddr *)&abstract_addr, abstract_len), EPERM,
        "connect to an abstract socket outside the domain");
    close(s);
    /* A server of its own domain is reachable. */
    struct sockaddr_un own = abstract_addr;
    own.sun_path[1] = 'm';
    int srv = socket(AF_UNIX, SOCK_STREAM, 0);
    ok(bind(srv, (struct sockaddr *)&own, abstract_len), "bind an abstract socket inside");
    listen(srv, 1);
    s = socket(AF_UNIX, SOCK_STREAM, 0);
    ok(connect(s, (struct sockaddr *)&own, abstract_len), "connect inside the domain");
    close(s);
    close(srv);
}

static int peek(pid_t pid)
{
    static int word = 42;
    int got = 0;
    struct iovec local = {&got, sizeof got}, remote = {&word, sizeof word};
    return process_vm_readv(pid, &local, 1, &remote, 1, 0) == sizeof got && got == 42 ? 0 : -1;
}

static void signal_scope(void)
{
    pid_t parent = getppid();
    ok(peek(parent), "process_vm_readv of the parent before");
    int rs = ruleset(0, 0, SCOPE_SIGNAL);
    enforce(rs);
    err(kill(parent, 0), EPERM, "kill outside the domain");
    err(peek(parent), EPERM, "process_vm_readv outside the domain");
    ok(kill(getpid(), 0), "kill self");
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int r = kill(getppid(), 0);
        printf("grandchild kill parent: %s\n", r < 0 ? ename(errno) : "ok");
        r = peek(getppid());
        printf("grandchild process_vm_readv parent: %s\n", r < 0 ? ename(errno) : "ok");
        fflush(stdout);
        _exit(0);
    }
    waitpid(pid, NULL, 0);
}

/* A child makes its parent the owner of a pipe with O_ASYNC, then
 * writes: SIGIO goes to the parent unless the child's domain is scoped. */
static volatile sig_atomic_t sigios;
static void on_sigio(int sig)
{
    (void)sig;
    sigios++;
}
static void sigio_to_parent(void)
{
    int fds[2];
    pipe(fds);
    fcntl(fds[0], F_SETOWN, getppid());
    fcntl(fds[0], F_SETFL, O_ASYNC);
    write(fds[1], "x", 1);
}
static void sigio_scoped(void)
{
    enforce(ruleset(0, 0, SCOPE_SIGNAL));
    sigio_to_parent();
}

static void lsm(void)
{
    uint64_t ids[32];
    uint32_t size = sizeof ids;
    long n = syscall(NR_lsm_list_modules, ids, &size, 0);
    int found = 0;
    for (long i = 0; i < n; i++)
        if (ids[i] == 110)
            found = 1;
    int capability = 0;
    for (long i = 0; i < n; i++)
        if (ids[i] == 100)
            capability = 1;
    check(n >= 2 && capability && found && size == n * 8,
          "lsm_list_modules: capability and landlock listed");
    size = 0;
    err(syscall(NR_lsm_list_modules, ids, &size, 0), E2BIG, "lsm_list_modules: size 0");
    check(size == n * 8, "lsm_list_modules: size told");
    size = sizeof ids;
    err(syscall(NR_lsm_list_modules, ids, &size, 1), EINVAL, "lsm_list_modules: flags");
    err(syscall(NR_lsm_list_modules, ids, NULL, 0), EFAULT, "lsm_list_modules: NULL size");
    err(syscall(NR_lsm_get_self_attr, 0, NULL, &size, 0), EINVAL, "lsm_get_self_attr: attr 0");
    char ctx[64] = {0};
    err(syscall(NR_lsm_set_self_attr, 100, ctx, sizeof ctx, 1), EINVAL,
        "lsm_set_self_attr: flags");
    err(syscall(NR_lsm_set_self_attr, 100, ctx, 16, 0), EINVAL, "lsm_set_self_attr: size");
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "exec-check") == 0) {
        /* After execve in the restricted child: the domain stayed. */
        snprintf(base, sizeof base, "%s", argc > 2 ? argv[2] : "/");
        int r = open(p("b/old"), O_WRONLY);
        printf("after execve open b/old write: %s\n", r < 0 ? ename(errno) : "allowed");
        return r < 0 && errno == EACCES ? 0 : 1;
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    long abi = create_ruleset(NULL, 0, 1);
    if (abi < 6) {
        printf("SKIP: Landlock ABI %ld (%s) on this kernel, 6 needed\n", abi,
               abi < 0 ? ename(errno) : "0");
        return 0;
    }
    printf("ABI at least 6: ok\n");
    ssize_t l = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
    self_exe[l > 0 ? l : 0] = 0;
    snprintf(base, sizeof base, "/tmp/landlock-%d", getpid());
    mkdir(base, 0755);
    const char *dirs[] = {"a", "a/sub", "b", "b/sub", "c", "d", "d/sub"};
    for (unsigned i = 0; i < sizeof dirs / sizeof *dirs; i++)
        mkdir(p(dirs[i]), 0755);
    touch(p("b/old"));
    touch(p("b/garbage"));
    touch(p("d/x"));
    touch(p("c/exe"));
    int sfd = open(p("b/script"), O_CREAT | O_WRONLY, 0755);
    dprintf(sfd, "#!%s\n", p("c/exe"));
    close(sfd);

    errors();
    in_child(layers);
    in_child(fs_rules);
    in_child(stacked);

    int srv = listener(&server_port);
    int other = listener(&other_port);
    close(other); /* a port with nobody on it */
    int spare = listener(&bind_port);
    close(spare);
    in_child(net_rules);
    close(srv);

    memset(&abstract_addr, 0, sizeof abstract_addr);
    abstract_addr.sun_family = AF_UNIX;
    int plen = snprintf(abstract_addr.sun_path + 1, sizeof abstract_addr.sun_path - 1,
                        "landlock-test-%d", getpid());
    abstract_len = offsetof(struct sockaddr_un, sun_path) + 1 + plen;
    int usrv = socket(AF_UNIX, SOCK_STREAM, 0);
    bind(usrv, (struct sockaddr *)&abstract_addr, abstract_len);
    listen(usrv, 4);
    in_child(unix_scope);
    close(usrv);

    in_child(signal_scope);
    signal(SIGIO, on_sigio);
    in_child(sigio_to_parent);
    check(sigios >= 1, "SIGIO from an unrestricted child");
    int before = sigios;
    in_child(sigio_scoped);
    check(sigios == before, "no SIGIO from a child scoped for signals");
    signal(SIGIO, SIG_DFL);
    lsm();

    const char *files[] = {"b/old", "b/garbage", "b/script", "a/sub/f3", "c/e", "c/exe", "d/y", "plain"};
    for (unsigned i = 0; i < sizeof files / sizeof *files; i++)
        unlink(p(files[i]));
    for (int i = sizeof dirs / sizeof *dirs - 1; i >= 0; i--)
        rmdir(p(dirs[i]));
    rmdir(base);
    return finish();
}
