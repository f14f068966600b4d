/* statmount(2), listmount(2) and statx's mount ids (STATX_MNT_ID,
 * STATX_MNT_ID_UNIQUE), in a private mount namespace (natively as root):
 * what they say of tmpfs and bind mounts made here, checked against
 * statx, statfs and the paths used, the listing order and paging, the
 * reach of a chrooted unprivileged process (EPERM), new ids in a new
 * namespace, and the errors. Only relations and errno names are printed
 * (ids differ between kernels). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "abi_check.h"

#define NR_statmount 457
#define NR_listmount 458
#undef STATX_MNT_ID
#undef STATX_MNT_ID_UNIQUE
#define STATX_MNT_ID 0x1000u
#define STATX_MNT_ID_UNIQUE 0x4000u
#define SM_SB_BASIC 0x01
#define SM_MNT_BASIC 0x02
#define SM_PROPAGATE_FROM 0x04
#define SM_MNT_ROOT 0x08
#define SM_MNT_POINT 0x10
#define SM_FS_TYPE 0x20
#define LSMT_ROOT 0xffffffffffffffffull
#define UNIQUE_BASE (1ull << 31)
#define ATTR_NOSUID 0x2
#define ATTR_NODEV 0x4

struct req {
    uint32_t size, spare;
    uint64_t mnt_id, param;
};

struct sm {
    uint32_t size, spare1;
    uint64_t mask;
    uint32_t dev_major, dev_minor;
    uint64_t magic;
    uint32_t sb_flags, fs_type;
    uint64_t mnt_id, parent_id;
    uint32_t mnt_id_old, parent_id_old;
    uint64_t attr, propagation, peer_group, master, propagate_from;
    uint32_t mnt_root, mnt_point;
    uint64_t spare2[50];
    char str[];
};

static long statmount(uint64_t id, uint64_t mask, void *buf, size_t size, unsigned flags)
{
    struct req r = {24, 0, id, mask};
    return syscall(NR_statmount, &r, buf, size, flags);
}

static long listmount(uint64_t id, uint64_t last, uint64_t *list, size_t n)
{
    struct req r = {24, 0, id, last};
    return syscall(NR_listmount, &r, list, n, 0);
}

/* statx's mount id of `path` (unique or old) and its mask bits. */
static uint64_t mnt_id(const char *path, int unique, unsigned *mask)
{
    unsigned char sx[256];
    memset(sx, 0, sizeof sx);
    if (syscall(SYS_statx, AT_FDCWD, path, 0, unique ? STATX_MNT_ID_UNIQUE : STATX_MNT_ID, sx))
        return 0;
    uint32_t m;
    uint64_t id;
    memcpy(&m, sx, 4);
    memcpy(&id, sx + 144, 8);
    if (mask)
        *mask = m & (STATX_MNT_ID | STATX_MNT_ID_UNIQUE);
    return id;
}

static int contains(const uint64_t *list, long n, uint64_t id)
{
    for (long i = 0; i < n; i++)
        if (list[i] == id)
            return 1;
    return 0;
}

static char buf[4096];

int main(void)
{
    struct sm *s = (struct sm *)buf;
    check(unshare(CLONE_NEWNS) == 0, "a mount namespace of our own");
    check(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0, "made private");
    char dir[] = "/tmp/statmount-XXXXXX";
    check(mkdtemp(dir) != NULL, "a directory");
    check(chdir(dir) == 0, "into it");
    mkdir("a", 0755);
    mkdir("b", 0755);
    mkdir("b2", 0755);
    check(mount("one", "a", "tmpfs", MS_NOSUID | MS_NODEV, NULL) == 0, "tmpfs on a");
    mkdir("a/c", 0755);
    check(mount("two", "a/c", "tmpfs", 0, NULL) == 0, "tmpfs on a/c");
    mkdir("a/c/sub", 0755);
    check(mount("a/c", "b", NULL, MS_BIND, NULL) == 0, "a/c bound on b");
    check(mount("a/c/sub", "b2", NULL, MS_BIND, NULL) == 0, "a/c/sub bound on b2");

    /* statx: the old id by default, the unique one when asked. */
    unsigned mask = 0;
    uint64_t dir_id = mnt_id(".", 1, &mask);
    check(mask == STATX_MNT_ID_UNIQUE, "statx STATX_MNT_ID_UNIQUE reported");
    uint64_t dir_old = mnt_id(".", 0, &mask);
    check(mask == STATX_MNT_ID, "statx STATX_MNT_ID reported");
    check(dir_id >= UNIQUE_BASE && dir_old < UNIQUE_BASE, "unique ids above 2^31, old ones below");
    uint64_t a_id = mnt_id("a", 1, NULL), a_old = mnt_id("a", 0, NULL);
    uint64_t c_id = mnt_id("a/c", 1, NULL), sub_id = mnt_id("a/c/sub", 1, NULL);
    uint64_t b_id = mnt_id("b", 1, NULL), b2_id = mnt_id("b2", 1, NULL);
    uint64_t root_id = mnt_id("/", 1, NULL);
    check(a_id != dir_id && c_id != a_id && b_id != c_id && b2_id != b_id, "each mount its own id");
    check(sub_id == c_id, "a directory has its mount's id");
    check(mnt_id("b/sub", 1, NULL) == b_id, "a bind mount's directory has the bind's id");
    int fd = open("a/c", O_RDONLY | O_DIRECTORY);
    {
        unsigned char sx[256];
        uint64_t id = 0;
        memset(sx, 0, sizeof sx);
        syscall(SYS_statx, fd, "", AT_EMPTY_PATH, STATX_MNT_ID_UNIQUE, sx);
        memcpy(&id, sx + 144, 8);
        check(id == c_id, "statx of an open directory: its mount's id");
    }
    close(fd);

    /* statmount of the tmpfs on a: everything. */
    memset(buf, 0, sizeof buf);
    ok(statmount(a_id, 0x3f, buf, sizeof buf, 0), "statmount a");
    char point[512];
    snprintf(point, sizeof point, "%s/a", dir);
    struct stat st;
    struct statfs sf;
    stat("a", &st);
    statfs("a", &sf);
    check(s->mask == 0x3f, "mask: all six asked for");
    /* The strings start with an empty one (offset 0: no string). */
    check(s->size == 512 + 1 + strlen("tmpfs") + 1 + strlen("/") + 1 + strlen(point) + 1,
          "size: the struct and three strings");
    check(s->fs_type == 1, "the first string at offset 1");
    check(s->dev_major == major(st.st_dev) && s->dev_minor == minor(st.st_dev), "sb dev: stat's");
    check(s->magic == (uint64_t)sf.f_type && s->magic == 0x01021994, "sb magic: TMPFS_MAGIC");
    check(s->sb_flags == 0, "sb flags");
    check(s->mnt_id == a_id && s->mnt_id_old == a_old, "mnt ids: statx's");
    check(s->parent_id == dir_id && s->parent_id_old == dir_old, "parent: the directory's mount");
    check(s->attr == (ATTR_NOSUID | ATTR_NODEV), "attr: nosuid nodev");
    check(s->propagation == MS_PRIVATE, "propagation: private");
    check(s->peer_group == 0 && s->master == 0 && s->propagate_from == 0, "no peers, no master");
    check(strcmp(s->str + s->fs_type, "tmpfs") == 0, "fs type tmpfs");
    check(strcmp(s->str + s->mnt_root, "/") == 0, "root /");
    check(strcmp(s->str + s->mnt_point, point) == 0, "mount point: its path");

    /* The nested tmpfs and the bind mounts. */
    memset(buf, 0, sizeof buf);
    ok(statmount(c_id, SM_MNT_BASIC | SM_MNT_ROOT, buf, sizeof buf, 0), "statmount a/c");
    check(s->mask == (SM_MNT_BASIC | SM_MNT_ROOT), "mask: the two asked for");
    check(s->parent_id == a_id, "a/c's parent is a");
    check(s->attr == 0, "a/c: no attributes");
    memset(buf, 0, sizeof buf);
    ok(statmount(b_id, 0x3f, buf, sizeof buf, 0), "statmount b");
    check(s->parent_id == dir_id, "b's parent is the directory's mount");
    check(strcmp(s->str + s->mnt_root, "/") == 0, "b shows a/c's root");
    check(strcmp(s->str + s->fs_type, "tmpfs") == 0, "b: tmpfs");
    memset(buf, 0, sizeof buf);
    ok(statmount(b2_id, SM_MNT_ROOT | SM_MNT_POINT, buf, sizeof buf, 0), "statmount b2");
    check(strcmp(s->str + s->mnt_root, "/sub") == 0, "b2 shows /sub of a/c's tmpfs");
    snprintf(point, sizeof point, "%s/b2", dir);
    check(strcmp(s->str + s->mnt_point, point) == 0, "b2's mount point");

    /* Unbindable. */
    check(mount(NULL, "b", NULL, MS_UNBINDABLE, NULL) == 0, "b made unbindable");
    memset(buf, 0, sizeof buf);
    statmount(b_id, SM_MNT_BASIC, buf, sizeof buf, 0);
    check(s->propagation == MS_UNBINDABLE, "propagation: unbindable");
    err(mount("b", "b2", NULL, MS_BIND, NULL), EINVAL, "bind mount of an unbindable mount");
    check(mount(NULL, "b", NULL, MS_PRIVATE, NULL) == 0, "b made private again");
    statmount(b_id, SM_MNT_BASIC, buf, sizeof buf, 0);
    check(s->propagation == MS_PRIVATE, "propagation: private again");

    /* Small buffers: the struct is cut, strings must fit. */
    memset(buf, 0, sizeof buf);
    ok(statmount(a_id, 0, buf, 100, 0), "statmount into 100 bytes, nothing asked");
    check(s->size == 100 && s->mask == 0, "size 100");
    ok(statmount(a_id, SM_SB_BASIC, buf, 512, 0), "statmount into the struct exactly");
    err(statmount(a_id, SM_FS_TYPE, buf, 512, 0), EOVERFLOW, "no room for the type");
    err(statmount(a_id, SM_FS_TYPE, buf, 512 + 6, 0), EOVERFLOW, "no room for its NUL");
    ok(statmount(a_id, SM_FS_TYPE, buf, 512 + 7, 0), "room for the type and its NUL");
    err(statmount(a_id, -1, buf, 512, 0), EOVERFLOW, "every bit into the struct's size");
    ok(statmount(a_id, 0, buf, 0, 0), "bufsize 0");

    /* statmount errors. */
    err(statmount(a_id, 0, buf, sizeof buf, 1), EINVAL, "statmount flags");
    err(statmount(0, 0, buf, sizeof buf, 0), EINVAL, "statmount id 0");
    err(statmount(a_old, 0, buf, sizeof buf, 0), EINVAL, "statmount of an old id");
    err(statmount(-1, 0, buf, sizeof buf, 0), ENOENT, "statmount of no mount");
    err(statmount(a_id, 0, NULL, 512, 0), EFAULT, "statmount into NULL");
    err(syscall(NR_statmount, NULL, buf, sizeof buf, 0), EFAULT, "statmount req NULL");
    {
        struct {
            struct req r;
            uint64_t more;
        } big = {{32, 0, a_id, 0}, 0};
        ok(syscall(NR_statmount, &big, buf, sizeof buf, 0), "a longer req, zero tail");
        big.r.size = 16;
        err(syscall(NR_statmount, &big, buf, sizeof buf, 0), EINVAL, "req size 16");
        big.r.size = 24;
        big.r.spare = 1;
        err(syscall(NR_statmount, &big, buf, sizeof buf, 0), EINVAL, "req spare set");
        big.r.spare = 0;
        big.r.size = 8192;
        err(syscall(NR_statmount, &big, buf, sizeof buf, 0), E2BIG, "req larger than a page");
    }
    char *guard = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    mprotect(guard + 4096, 4096, PROT_NONE);
    err(statmount(a_id, 0, guard + 4096 - 1, 512, 0), EFAULT, "statmount across PROT_NONE");

    /* listmount. */
    uint64_t list[256];
    long n = listmount(a_id, 0, list, 256);
    check(n == 1 && list[0] == c_id, "listmount a: a/c");
    n = listmount(dir_id, 0, list, 256);
    check(n >= 4 && contains(list, n, a_id) && contains(list, n, c_id) && contains(list, n, b_id)
              && contains(list, n, b2_id) && !contains(list, n, dir_id),
          "listmount of the directory's mount: the four, not itself");
    n = listmount(LSMT_ROOT, 0, list, 256);
    int sorted = 1;
    for (long i = 1; i < n; i++)
        sorted &= list[i] > list[i - 1];
    check(n >= 5 && list[0] == root_id && contains(list, n, a_id) && contains(list, n, b2_id),
          "listmount LSMT_ROOT: the root first, ours in");
    check(sorted, "in increasing order");
    long all = n;
    uint64_t paged[256];
    long got = 0;
    for (;;) {
        long k = listmount(LSMT_ROOT, got ? paged[got - 1] : 0, paged + got, 3);
        if (k <= 0)
            break;
        got += k;
    }
    check(got == all && memcmp(paged, list, all * 8) == 0, "three at a time: the same list");
    n = listmount(LSMT_ROOT, a_id, list, 256);
    check(!contains(list, n, a_id) && contains(list, n, c_id), "after a's id: not a, a/c still");
    check(listmount(a_id, 0, list, 0) == 0, "room for none: 0");
    err(listmount(a_id, 0, NULL, 4), EFAULT, "listmount into NULL");
    err(listmount(0, 0, list, 4), EINVAL, "listmount id 0");
    err(listmount(a_old, 0, list, 4), EINVAL, "listmount of an old id");
    err(listmount(LSMT_ROOT - 1, 0, list, 4), ENOENT, "listmount of no mount");
    err(listmount(LSMT_ROOT, 5, list, 4), EINVAL, "listmount after an old id");
    {
        struct req r = {24, 0, LSMT_ROOT, 0};
        err(syscall(NR_listmount, &r, list, 4, 0x100), EINVAL, "listmount flags");
        err(syscall(NR_listmount, NULL, list, 4, 0), EFAULT, "listmount req NULL");
        r.size = 0;
        err(syscall(NR_listmount, &r, list, 4, 0), EINVAL, "listmount req size 0");
    }

    /* A chrooted process without CAP_SYS_ADMIN sees only what is under
     * its root. */
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        failures = 0;
        if (chroot(dir) || chdir("/") || setgid(65534) || setuid(65534))
            _exit(99);
        err(statmount(root_id, SM_MNT_BASIC, buf, sizeof buf, 0), EPERM, "child: statmount of /");
        err(statmount(dir_id, SM_MNT_BASIC, buf, sizeof buf, 0), EPERM,
            "child: statmount of the mount around its root");
        memset(buf, 0, sizeof buf);
        ok(statmount(a_id, SM_MNT_POINT, buf, sizeof buf, 0), "child: statmount of a");
        check(strcmp(s->str + s->mnt_point, "/a") == 0, "child: a is at /a");
        err(listmount(root_id, 0, list, 256), EPERM, "child: listmount of /");
        n = listmount(LSMT_ROOT, 0, list, 256);
        check(n == 4 && list[0] == a_id && contains(list, n, c_id) && contains(list, n, b_id)
                  && contains(list, n, b2_id),
              "child: listmount LSMT_ROOT: the four under its root");
        fflush(stdout);
        _exit(failures);
    }
    int status;
    waitpid(pid, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child done");

    /* Unmounted: gone. */
    check(umount("b2") == 0, "b2 unmounted");
    err(statmount(b2_id, 0, buf, sizeof buf, 0), ENOENT, "statmount of an unmounted mount");

    /* A new namespace: new mounts, new ids. */
    check(unshare(CLONE_NEWNS) == 0, "another namespace");
    uint64_t a_again = mnt_id("a", 1, NULL);
    check(a_again != a_id && a_again >= UNIQUE_BASE, "a has a new id there");
    err(statmount(a_id, 0, buf, sizeof buf, 0), ENOENT, "the old namespace's id");
    memset(buf, 0, sizeof buf);
    ok(statmount(a_again, SM_MNT_BASIC, buf, sizeof buf, 0), "statmount a there");
    check(s->parent_id == mnt_id(".", 1, NULL), "its parent: the directory's mount there");
    n = listmount(a_again, 0, list, 256);
    check(n == 1 && list[0] == mnt_id("a/c", 1, NULL), "its child: a/c there");

    umount("b");
    umount("a/c");
    umount("a");
    rmdir("a");
    rmdir("b");
    rmdir("b2");
    chdir("/");
    rmdir(dir);
    return finish();
}
