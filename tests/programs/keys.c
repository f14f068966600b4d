/* Kernel keys: add_key, request_key and keyctl (there are no libc wrappers:
 * syscall()). In a new anonymous session keyring: user, logon and keyring
 * keys, describe, read (whole, too small a buffer, lengths), update,
 * search and request_key, link and unlink (cycles refused), clear,
 * permissions and possession, revoke and invalidate, the thread, process
 * and session keyrings across fork, pthread_create and exec, the
 * request_key default keyring, /proc/sys/kernel/keys, and the errors.
 * Serial numbers are random: only their relations are printed. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "abi_check.h"

typedef int32_t key_serial_t;

/* <linux/keyctl.h> (musl-gcc has no kernel headers). */
#define KEY_SPEC_THREAD_KEYRING -1
#define KEY_SPEC_PROCESS_KEYRING -2
#define KEY_SPEC_SESSION_KEYRING -3
#define KEY_SPEC_USER_KEYRING -4
#define KEY_SPEC_USER_SESSION_KEYRING -5
#define KEY_SPEC_GROUP_KEYRING -6
#define KEYCTL_GET_KEYRING_ID 0
#define KEYCTL_JOIN_SESSION_KEYRING 1
#define KEYCTL_UPDATE 2
#define KEYCTL_REVOKE 3
#define KEYCTL_CHOWN 4
#define KEYCTL_SETPERM 5
#define KEYCTL_DESCRIBE 6
#define KEYCTL_CLEAR 7
#define KEYCTL_LINK 8
#define KEYCTL_UNLINK 9
#define KEYCTL_SEARCH 10
#define KEYCTL_READ 11
#define KEYCTL_SET_REQKEY_KEYRING 14
#define KEYCTL_SET_TIMEOUT 15
#define KEYCTL_GET_SECURITY 17
#define KEYCTL_INVALIDATE 21
#define KEY_POS_VIEW 0x01000000
#define KEY_POS_READ 0x02000000
#define KEY_POS_WRITE 0x04000000
#define KEY_POS_SEARCH 0x08000000
#define KEY_POS_SETATTR 0x20000000
#define KEY_POS_ALL 0x3f000000
#define KEY_USR_ALL 0x003f0000

static long add_key(const char *type, const char *desc, const void *payload, size_t plen,
                    key_serial_t ring)
{
    return syscall(SYS_add_key, type, desc, payload, plen, ring);
}

static long request_key(const char *type, const char *desc, const char *callout,
                        key_serial_t dest)
{
    return syscall(SYS_request_key, type, desc, callout, dest);
}

static long keyctl(int op, unsigned long a, unsigned long b, unsigned long c, unsigned long d)
{
    return syscall(SYS_keyctl, op, a, b, c, d);
}

static long ring_id(key_serial_t special, int create)
{
    return keyctl(KEYCTL_GET_KEYRING_ID, special, create, 0, 0);
}

/* The description with the owner ids replaced by "me" when they are the
 * caller's (native runs may not be root). */
static void show_description(key_serial_t key, const char *what)
{
    char buf[256], type[64], rest[128];
    long n = keyctl(KEYCTL_DESCRIBE, key, (unsigned long)buf, sizeof buf, 0);
    if (n < 0) {
        printf("%s: describe: %s\n", what, ename(errno));
        return;
    }
    unsigned uid, gid, perm;
    if (sscanf(buf, "%63[^;];%u;%u;%x;%127[^\n]", type, &uid, &gid, &perm, rest) != 5) {
        printf("%s: unparsed description %s\n", what, buf);
        failures++;
        return;
    }
    printf("%s: %s;%s;%s;%08x;%s (len %ld nul %d)\n", what, type,
           uid == getuid() ? "me" : "other", gid == getgid() ? "mygroup" : "othergroup", perm,
           rest, n, buf[n - 1] == 0);
}

/* A keyring's contents, as a count and whether each given key is in it. */
static void show_ring(key_serial_t ring, const char *what, key_serial_t a, key_serial_t b)
{
    key_serial_t ids[16];
    long n = keyctl(KEYCTL_READ, ring, (unsigned long)ids, sizeof ids, 0);
    if (n < 0) {
        printf("%s: read: %s\n", what, ename(errno));
        return;
    }
    int has_a = 0, has_b = 0;
    for (long i = 0; i < n / 4 && i < 16; i++) {
        has_a |= ids[i] == a;
        has_b |= ids[i] == b;
    }
    printf("%s: %ld keys, first %s, second %s\n", what, n / 4, has_a ? "in" : "out",
           has_b ? "in" : "out");
}

/* Whether the key goes (Linux drops a key's last reference after an RCU
 * grace period: wait a little). */
static int gone(key_serial_t key)
{
    for (int i = 0; i < 250; i++) {
        if (keyctl(KEYCTL_DESCRIBE, key, 0, 0, 0) < 0 && errno == ENOKEY)
            return 1;
        usleep(20000);
    }
    return 0;
}

static key_serial_t process_ring_seen_by_thread, thread_ring_seen_by_thread;

static void *thread_main(void *arg)
{
    (void)arg;
    process_ring_seen_by_thread = ring_id(KEY_SPEC_PROCESS_KEYRING, 0);
    thread_ring_seen_by_thread = ring_id(KEY_SPEC_THREAD_KEYRING, 0);
    return 0;
}

static void print_sysctl(const char *name)
{
    char path[128], buf[64] = {0};
    snprintf(path, sizeof path, "/proc/sys/kernel/keys/%s", name);
    FILE *f = fopen(path, "r");
    if (!f) {
        printf("%s: %s\n", path, ename(errno));
        failures++;
        return;
    }
    if (!fgets(buf, sizeof buf, f))
        buf[0] = 0;
    fclose(f);
    /* The host's values may have been changed: only their form is
     * compared. */
    char *end;
    long value = strtol(buf, &end, 10);
    check(value >= 0 && end != buf && *end == '\n', path);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "exec-child") == 0) {
        /* After exec: the session keyring stays, the others go. */
        key_serial_t session = atoi(argv[2]);
        check(ring_id(KEY_SPEC_SESSION_KEYRING, 0) == session, "exec keeps the session keyring");
        err(ring_id(KEY_SPEC_PROCESS_KEYRING, 0), ENOKEY, "exec drops the process keyring");
        err(ring_id(KEY_SPEC_THREAD_KEYRING, 0), ENOKEY, "exec drops the thread keyring");
        return finish();
    }

    long session = ok(keyctl(KEYCTL_JOIN_SESSION_KEYRING, 0, 0, 0, 0), "join a new session keyring");
    check(ring_id(KEY_SPEC_SESSION_KEYRING, 0) == session, "it is the session keyring");
    show_description(session, "session keyring");
    err(ring_id(KEY_SPEC_THREAD_KEYRING, 0), ENOKEY, "no thread keyring yet");
    err(ring_id(KEY_SPEC_PROCESS_KEYRING, 0), ENOKEY, "no process keyring yet");
    err(ring_id(KEY_SPEC_GROUP_KEYRING, 1), EINVAL, "group keyrings");
    err(ring_id(0, 0), EINVAL, "key 0");
    err(ring_id(0x7ffffff0, 0), ENOKEY, "a missing key");
    long user_ring = ok(ring_id(KEY_SPEC_USER_KEYRING, 0), "user keyring");
    long user_session = ok(ring_id(KEY_SPEC_USER_SESSION_KEYRING, 0), "user session keyring");
    check(user_ring != user_session && user_ring != session, "the user keyrings are distinct");

    /* user keys */
    long k1 = ok(add_key("user", "first", "payload-1", 9, KEY_SPEC_SESSION_KEYRING), "add a user key");
    show_description(k1, "user key");
    char buf[64];
    memset(buf, 'x', sizeof buf);
    long n = keyctl(KEYCTL_READ, k1, (unsigned long)buf, sizeof buf, 0);
    printf("read: %ld \"%.*s\"\n", n, n > 0 ? (int)n : 0, buf);
    memset(buf, 'x', sizeof buf);
    n = keyctl(KEYCTL_READ, k1, (unsigned long)buf, 4, 0);
    printf("read into 4 bytes: %ld, buffer untouched: %d\n", n, buf[0] == 'x');
    printf("length only: %ld\n", keyctl(KEYCTL_READ, k1, 0, 0, 0));
    long again = add_key("user", "first", "second-payload", 14, KEY_SPEC_SESSION_KEYRING);
    check(again == k1, "adding the same description updates the key");
    n = keyctl(KEYCTL_READ, k1, (unsigned long)buf, sizeof buf, 0);
    printf("after the update: %ld \"%.*s\"\n", n, n > 0 ? (int)n : 0, buf);
    ok(keyctl(KEYCTL_UPDATE, k1, (unsigned long)"third", 5, 0), "KEYCTL_UPDATE");
    n = keyctl(KEYCTL_READ, k1, (unsigned long)buf, sizeof buf, 0);
    printf("after KEYCTL_UPDATE: %ld \"%.*s\"\n", n, n > 0 ? (int)n : 0, buf);
    err(keyctl(KEYCTL_UPDATE, k1, 0, 0, 0), EINVAL, "update to an empty payload");
    err(keyctl(KEYCTL_UPDATE, k1, (unsigned long)buf, 5000, 0), EINVAL, "update too long");
    err(keyctl(KEYCTL_UPDATE, k1, 0, 8, 0), EFAULT, "update from a bad pointer");
    char small[8];
    n = keyctl(KEYCTL_DESCRIBE, k1, (unsigned long)small, sizeof small, 0);
    printf("describe into 8 bytes: %ld\n", n);

    /* errors of add_key */
    static char big[32768];
    err(add_key("user", "big", big, sizeof big, KEY_SPEC_SESSION_KEYRING), EINVAL, "a 32768-byte user key");
    ok(add_key("user", "max", big, sizeof big - 1, KEY_SPEC_SESSION_KEYRING), "a 32767-byte user key");
    err(add_key("user", "empty", "", 0, KEY_SPEC_SESSION_KEYRING), EINVAL, "a user key without payload");
    err(add_key("user", "bad", 0, 8, KEY_SPEC_SESSION_KEYRING), EFAULT, "a payload at NULL");
    err(add_key("no_such_type", "x", "p", 1, KEY_SPEC_SESSION_KEYRING), ENODEV, "an unknown type");
    err(add_key("big_key", "x", 0, 8, KEY_SPEC_SESSION_KEYRING), EFAULT, "bad payload before the type");
    err(add_key(".dead", "x", "p", 1, KEY_SPEC_SESSION_KEYRING), EPERM, "a type starting with a dot");
    err(add_key("", "x", "p", 1, KEY_SPEC_SESSION_KEYRING), EINVAL, "an empty type");
    err(add_key("user", "", "p", 1, KEY_SPEC_SESSION_KEYRING), EINVAL, "an empty description");
    err(add_key("user", 0, "p", 1, KEY_SPEC_SESSION_KEYRING), EINVAL, "no description");
    err(add_key("keyring", ".ring", 0, 0, KEY_SPEC_SESSION_KEYRING), EPERM, "a keyring named with a dot");
    err(add_key("keyring", "r", "p", 1, KEY_SPEC_SESSION_KEYRING), EINVAL, "a keyring with a payload");
    err(add_key("user", "x", "p", 1, k1), ENOTDIR, "adding to a user key");
    err(add_key("user", "x", "p", 1, 0x7ffffff0), ENOKEY, "adding to a missing keyring");
    err(add_key("logon", "nocolon", "p", 1, KEY_SPEC_SESSION_KEYRING), EINVAL, "a logon key without service");
    long logon = ok(add_key("logon", "svc:name", "secret", 6, KEY_SPEC_SESSION_KEYRING), "a logon key");
    show_description(logon, "logon key");
    err(keyctl(KEYCTL_READ, logon, (unsigned long)buf, sizeof buf, 0), EOPNOTSUPP, "reading a logon key");

    /* keyrings, search, link */
    long ring = ok(add_key("keyring", "ring", 0, 0, KEY_SPEC_SESSION_KEYRING), "add a keyring");
    show_description(ring, "keyring");
    long a = ok(add_key("user", "a", "1", 1, ring), "add a key to it");
    long b = ok(add_key("user", "b", "2", 1, ring), "add another");
    show_ring(ring, "keyring", a, b);
    key_serial_t one;
    n = keyctl(KEYCTL_READ, ring, (unsigned long)&one, 4, 0);
    printf("keyring into 4 bytes: %ld\n", n);
    err(keyctl(KEYCTL_READ, ring, (unsigned long)buf, 6, 0), EINVAL, "keyring into 6 bytes");
    check(keyctl(KEYCTL_SEARCH, KEY_SPEC_SESSION_KEYRING, (unsigned long)"user", (unsigned long)"b", 0) == b,
          "search finds a nested key");
    err(keyctl(KEYCTL_SEARCH, KEY_SPEC_SESSION_KEYRING, (unsigned long)"user", (unsigned long)"zz", 0),
        ENOKEY, "search for a missing key");
    err(keyctl(KEYCTL_SEARCH, KEY_SPEC_SESSION_KEYRING, (unsigned long)"nope", (unsigned long)"b", 0),
        ENOKEY, "search with an unknown type");
    err(keyctl(KEYCTL_SEARCH, k1, (unsigned long)"user", (unsigned long)"b", 0), ENOTDIR,
        "search in a user key");
    check(request_key("user", "a", 0, 0) == a, "request_key finds a nested key");
    err(request_key("user", "missing", 0, 0), ENOKEY, "request_key without callout");
    err(request_key("keyring", "missing", "info", 0), EPERM, "request_key making a keyring");
    long ring2 = ok(add_key("keyring", "ring2", 0, 0, ring), "a keyring in the keyring");
    err(keyctl(KEYCTL_LINK, ring, ring2, 0, 0), EDEADLK, "linking a keyring into its child");
    err(keyctl(KEYCTL_LINK, ring, ring, 0, 0), EDEADLK, "linking a keyring into itself");
    ok(keyctl(KEYCTL_LINK, a, ring2, 0, 0), "link a key into a second keyring");
    show_ring(ring2, "second keyring", a, b);
    ok(keyctl(KEYCTL_UNLINK, a, ring, 0, 0), "unlink it from the first");
    err(keyctl(KEYCTL_UNLINK, a, ring, 0, 0), ENOENT, "unlink it again");
    err(keyctl(KEYCTL_UNLINK, a, k1, 0, 0), ENOTDIR, "unlink from a user key");
    show_ring(ring, "first keyring", a, b);
    check(keyctl(KEYCTL_SEARCH, ring, (unsigned long)"user", (unsigned long)"a", ring) == a,
          "search with a destination links the key");
    show_ring(ring, "first keyring again", a, b);
    ok(keyctl(KEYCTL_CLEAR, ring2, 0, 0, 0), "clear a keyring");
    show_ring(ring2, "cleared keyring", a, b);
    err(keyctl(KEYCTL_CLEAR, k1, 0, 0, 0), ENOTDIR, "clear a user key");

    /* permissions and possession */
    err(keyctl(KEYCTL_SETPERM, a, 0x40000000, 0, 0), EINVAL, "unknown permission bits");
    ok(keyctl(KEYCTL_SETPERM, a, KEY_POS_VIEW | KEY_POS_SEARCH | KEY_POS_SETATTR, 0, 0),
       "possessor-only permissions");
    n = keyctl(KEYCTL_READ, a, (unsigned long)buf, sizeof buf, 0);
    printf("possessed, no read permission, read: %ld\n", n);
    err(keyctl(KEYCTL_UPDATE, a, (unsigned long)"x", 1, 0), EACCES, "update without write permission");
    ok(keyctl(KEYCTL_UNLINK, a, ring, 0, 0), "unlink it from the session's tree");
    check(gone(a), "no longer linked anywhere, it goes");
    long c = ok(add_key("user", "c", "3", 1, ring), "add a key");
    ok(keyctl(KEYCTL_SETPERM, c, KEY_POS_ALL, 0, 0), "possessor-only permissions");
    ok(keyctl(KEYCTL_LINK, c, user_ring, 0, 0), "link it into the user keyring too");
    ok(keyctl(KEYCTL_UNLINK, c, ring, 0, 0), "unlink it from the session's tree");
    err(keyctl(KEYCTL_DESCRIBE, c, (unsigned long)buf, sizeof buf, 0), EACCES,
        "not possessed: the user bits apply");
    ok(keyctl(KEYCTL_UNLINK, c, user_ring, 0, 0), "unlink it from the user keyring");
    ok(keyctl(KEYCTL_GET_SECURITY, k1, (unsigned long)buf, sizeof buf, 0), "get security");

    /* revoke and invalidate */
    long r = ok(add_key("user", "revoked", "x", 1, KEY_SPEC_SESSION_KEYRING), "add a key to revoke");
    ok(keyctl(KEYCTL_REVOKE, r, 0, 0, 0), "revoke it");
    err(keyctl(KEYCTL_READ, r, (unsigned long)buf, sizeof buf, 0), EKEYREVOKED, "read a revoked key");
    err(keyctl(KEYCTL_DESCRIBE, r, (unsigned long)buf, sizeof buf, 0), EKEYREVOKED,
        "describe a revoked key");
    err(keyctl(KEYCTL_UPDATE, r, (unsigned long)"y", 1, 0), EKEYREVOKED, "update a revoked key");
    err(request_key("user", "revoked", 0, 0), EKEYREVOKED, "request a revoked key");
    long r2 = add_key("user", "revoked", "z", 1, KEY_SPEC_SESSION_KEYRING);
    check(r2 > 0 && r2 != r, "adding over a revoked key makes a new key");
    check(gone(r), "the revoked key it replaced goes");
    long inv = ok(add_key("user", "invalid", "x", 1, KEY_SPEC_SESSION_KEYRING), "add a key to invalidate");
    ok(keyctl(KEYCTL_INVALIDATE, inv, 0, 0, 0), "invalidate it");
    /* ENOKEY while the key is still linked; once Linux's key collector
     * (asynchronous) has unlinked it, the caller no longer possesses it
     * and the read is refused first (EACCES). Either is Linux. */
    long inv_read = keyctl(KEYCTL_READ, inv, (unsigned long)buf, sizeof buf, 0);
    check(inv_read == -1 && (errno == ENOKEY || errno == EACCES),
          "read an invalidated key: ENOKEY (or EACCES once collected)");
    long t = ok(add_key("user", "timed", "x", 1, KEY_SPEC_SESSION_KEYRING), "add a key");
    ok(keyctl(KEYCTL_SET_TIMEOUT, t, 100, 0, 0), "give it a timeout");
    ok(keyctl(KEYCTL_SET_TIMEOUT, t, 0, 0, 0), "clear it");

    /* the special keyrings across fork, threads and exec */
    long thread_ring = ok(ring_id(KEY_SPEC_THREAD_KEYRING, 1), "make a thread keyring");
    long process_ring = ok(ring_id(KEY_SPEC_PROCESS_KEYRING, 1), "make a process keyring");
    show_description(thread_ring, "thread keyring");
    check(keyctl(KEYCTL_SET_REQKEY_KEYRING, 1, 0, 0, 0) == 0, "request_key default: thread keyring");
    check(ring_id(KEY_SPEC_THREAD_KEYRING, 0) == thread_ring, "the thread keyring stays");
    check(keyctl(KEYCTL_SET_REQKEY_KEYRING, -1, 0, 0, 0) == 1, "the default reads back");
    err(keyctl(KEYCTL_SET_REQKEY_KEYRING, 6, 0, 0, 0), EINVAL, "the group keyring default");
    check(keyctl(KEYCTL_SET_REQKEY_KEYRING, 0, 0, 0, 0) == 1, "back to the default");
    pthread_t th;
    pthread_create(&th, 0, thread_main, 0);
    pthread_join(th, 0);
    check(process_ring_seen_by_thread == process_ring, "a thread shares the process keyring");
    check(thread_ring_seen_by_thread > 0 && thread_ring_seen_by_thread != thread_ring,
          "a thread gets a thread keyring of its own");
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int bad = 0;
        bad |= ring_id(KEY_SPEC_SESSION_KEYRING, 0) != session;
        bad |= ring_id(KEY_SPEC_PROCESS_KEYRING, 0) != -1 || errno != ENOKEY;
        bad |= ring_id(KEY_SPEC_THREAD_KEYRING, 0) != -1 || errno != ENOKEY;
        bad |= keyctl(KEYCTL_READ, k1, (unsigned long)buf, sizeof buf, 0) != 5;
        _exit(bad);
    }
    int status;
    waitpid(pid, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "a child keeps the session keyring only, and reads its keys");
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        char arg[16];
        snprintf(arg, sizeof arg, "%ld", session);
        execl("/proc/self/exe", argv[0], "exec-child", arg, (char *)0);
        _exit(99);
    }
    waitpid(pid, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exec child passed");

    /* a new session; named session keyrings */
    ok(keyctl(KEYCTL_LINK, k1, user_ring, 0, 0), "keep a key in the user keyring");
    err(keyctl(KEYCTL_JOIN_SESSION_KEYRING, (unsigned long)".builtin_trusted_keys", 0, 0, 0), EPERM,
        "joining a dot keyring");
    char name[64];
    snprintf(name, sizeof name, "rvisor-named-%d", (int)getpid());
    long named = ok(keyctl(KEYCTL_JOIN_SESSION_KEYRING, (unsigned long)name, 0, 0, 0),
                    "join a named session keyring");
    {
        char d[128];
        long dn = keyctl(KEYCTL_DESCRIBE, named, (unsigned long)d, sizeof d, 0);
        char *semi = dn > 0 ? strrchr(d, ';') : 0;
        check(semi && strcmp(semi + 1, name) == 0, "its description is the name");
        if (dn > 0) {
            *semi = 0;
            printf("named session keyring: %s\n", strchr(strchr(strchr(d, ';') + 1, ';') + 1, ';') + 1);
        }
    }
    err(keyctl(KEYCTL_READ, k1, (unsigned long)buf, sizeof buf, 0), EACCES,
        "the old session's keys are no longer possessed");
    ok(keyctl(KEYCTL_UNLINK, k1, user_ring, 0, 0), "unlink it from the user keyring");
    long named2 = keyctl(KEYCTL_JOIN_SESSION_KEYRING, (unsigned long)name, 0, 0, 0);
    check(named2 > 0 && named2 != named, "its owner cannot search it unpossessed: a new one");
    ok(keyctl(KEYCTL_SETPERM, named2, KEY_POS_ALL | KEY_USR_ALL, 0, 0), "let its owner search it");
    check(keyctl(KEYCTL_JOIN_SESSION_KEYRING, (unsigned long)name, 0, 0, 0) == 0,
          "joining the current one again returns 0");

    print_sysctl("maxkeys");
    print_sysctl("maxbytes");
    print_sysctl("root_maxkeys");
    print_sysctl("root_maxbytes");
    print_sysctl("gc_delay");
    err(keyctl(9999, 0, 0, 0, 0), EOPNOTSUPP, "an unknown keyctl");
    return finish();
}
