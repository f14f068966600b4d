/* Device nodes made with mknod (as root): a node for /dev/null's and
 * /dev/zero's numbers behaves as those devices, one for a device with no
 * driver opens with ENXIO, stat reports the type and number, and getdents
 * the type. Natively under /tmp; in the sandbox in its tmpfs. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static int failures;

int main(void)
{
    char dir[] = "/tmp/devnodesXXXXXX";
    if (!mkdtemp(dir) || chdir(dir) < 0) {
        perror("setup");
        return 1;
    }
    if (mknod("null", S_IFCHR | 0666, makedev(1, 3)) < 0 || mknod("zero", S_IFCHR | 0666, makedev(1, 5)) < 0
        || mknod("nodriver", S_IFCHR | 0600, makedev(240, 7)) < 0
        || mknod("block", S_IFBLK | 0600, makedev(240, 1)) < 0) {
        printf("mknod: %s\n", strerror(errno));
        failures++;
    }
    struct stat st;
    const char *names[] = {"null", "zero", "nodriver", "block"};
    for (int i = 0; i < 4; i++) {
        if (lstat(names[i], &st) < 0) {
            failures++;
            continue;
        }
        printf("%s: %s %u:%u mode %o\n", names[i], S_ISCHR(st.st_mode) ? "char" : S_ISBLK(st.st_mode) ? "block" : "other",
               major(st.st_rdev), minor(st.st_rdev), st.st_mode & 07777);
    }
    int fd = open("null", O_RDWR);
    char buf[8] = "xxxxxxx";
    printf("null: write %zd, read %zd\n", write(fd, "abc", 3), read(fd, buf, sizeof buf));
    close(fd);
    fd = open("zero", O_RDONLY);
    ssize_t n = read(fd, buf, sizeof buf);
    printf("zero: read %zd, all zero: %s\n", n, memcmp(buf, "\0\0\0\0\0\0\0\0", 8) == 0 ? "yes" : "no");
    close(fd);
    errno = 0;
    printf("nodriver: open %s\n", open("nodriver", O_RDONLY) < 0 ? strerror(errno) : "ok");
    printf("block: open %s\n", open("block", O_RDONLY) < 0 ? strerror(errno) : "ok");
    DIR *d = opendir(".");
    struct dirent *e;
    int types = 0;
    while (d && (e = readdir(d)))
        if (e->d_type == DT_CHR || e->d_type == DT_BLK)
            types += e->d_type;
    printf("d_type sum: %d\n", types);
    closedir(d);
    for (int i = 0; i < 4; i++)
        unlink(names[i]);
    chdir("/");
    rmdir(dir);
    printf("failures=%d\n", failures);
    return 0;
}
