/* Extended attributes on the sandbox's tmpfs (natively: a fresh directory
 * under /tmp): set, get, list, replace and create flags, remove, the
 * errors (missing, too small a buffer, an unknown namespace, user.* on a
 * symlink and a FIFO), the f- and l- forms, trusted.* as root, and that a
 * copy through a descriptor sees the same. Outputs must match natively. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

static int failures;

static void expect(const char *what, long r, int want_errno)
{
    if (r >= 0)
        printf("%s: %ld\n", what, r);
    else
        printf("%s: %s\n", what, strerror(errno));
    if (want_errno ? r >= 0 || errno != want_errno : r < 0)
        failures++;
}

static void show_list(const char *what, const char *path)
{
    char buf[512];
    ssize_t n = listxattr(path, buf, sizeof buf);
    printf("%s:", what);
    /* Names in a stable order: print them sorted. */
    const char *names[32];
    int count = 0;
    for (char *p = buf; n > 0 && p < buf + n && count < 32; p += strlen(p) + 1)
        names[count++] = p;
    for (int i = 0; i < count; i++)
        for (int j = i + 1; j < count; j++)
            if (strcmp(names[j], names[i]) < 0) {
                const char *t = names[i];
                names[i] = names[j];
                names[j] = t;
            }
    for (int i = 0; i < count; i++)
        printf(" %s", names[i]);
    printf("\n");
}

int main(void)
{
    char dir[] = "/tmp/xattrXXXXXX";
    if (!mkdtemp(dir) || chdir(dir) < 0) {
        perror("setup");
        return 1;
    }
    close(open("f", O_CREAT | O_WRONLY, 0644));
    mkdir("d", 0755);
    symlink("f", "link");
    mkfifo("fifo", 0644);

    char buf[64];
    expect("get a missing one", getxattr("f", "user.a", buf, sizeof buf), ENODATA);
    expect("set user.a", setxattr("f", "user.a", "hello", 5, 0), 0);
    expect("size of user.a", getxattr("f", "user.a", NULL, 0), 0);
    expect("get user.a into 2 bytes", getxattr("f", "user.a", buf, 2), ERANGE);
    long n = getxattr("f", "user.a", buf, sizeof buf);
    printf("user.a = %.*s\n", (int)(n > 0 ? n : 0), buf);
    expect("create user.a again", setxattr("f", "user.a", "x", 1, XATTR_CREATE), EEXIST);
    expect("replace a missing one", setxattr("f", "user.b", "x", 1, XATTR_REPLACE), ENODATA);
    expect("replace user.a", setxattr("f", "user.a", "bye", 3, XATTR_REPLACE), 0);
    n = getxattr("f", "user.a", buf, sizeof buf);
    printf("user.a = %.*s\n", (int)(n > 0 ? n : 0), buf);
    expect("an empty value", setxattr("f", "user.empty", "", 0, 0), 0);
    expect("bad flags", setxattr("f", "user.c", "x", 1, 4), EINVAL);
    expect("an unknown namespace", setxattr("f", "foo.bar", "x", 1, 0), EOPNOTSUPP);
    expect("an empty name", setxattr("f", "", "x", 1, 0), ERANGE);
    static char big[65537];
    expect("a value too large", setxattr("f", "user.big", big, sizeof big, 0), E2BIG);
    expect("trusted.t as root", setxattr("f", "trusted.t", "1", 1, 0), 0);
    show_list("list f", "f");
    char list[4];
    expect("list into 4 bytes", listxattr("f", list, sizeof list), ERANGE);
    expect("list size", listxattr("f", NULL, 0), 0);

    int fd = open("f", O_RDONLY);
    n = fgetxattr(fd, "user.a", buf, sizeof buf);
    printf("fgetxattr user.a = %.*s\n", (int)(n > 0 ? n : 0), buf);
    expect("fsetxattr user.f", fsetxattr(fd, "user.f", "fd", 2, 0), 0);
    expect("fremovexattr user.empty", fremovexattr(fd, "user.empty"), 0);
    close(fd);
    expect("remove user.a", removexattr("f", "user.a"), 0);
    expect("remove it again", removexattr("f", "user.a"), ENODATA);
    show_list("list f", "f");

    expect("user.d on a directory", setxattr("d", "user.d", "dir", 3, 0), 0);
    show_list("list d", "d");
    expect("user.* on a symlink itself", lsetxattr("link", "user.l", "x", 1, 0), EPERM);
    expect("through the symlink", setxattr("link", "user.l", "x", 1, 0), 0);
    expect("lgetxattr of the symlink", lgetxattr("link", "user.l", buf, sizeof buf), ENODATA);
    expect("user.* on a FIFO", setxattr("fifo", "user.p", "x", 1, 0), EPERM);
    expect("a missing file", setxattr("none", "user.a", "x", 1, 0), ENOENT);

    unlink("f");
    unlink("link");
    unlink("fifo");
    rmdir("d");
    chdir("/");
    rmdir(dir);
    printf("failures=%d\n", failures);
    return 0;
}
