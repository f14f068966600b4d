/* process_vm_readv / process_vm_writev: scatter/gather copies with the
 * caller itself and with a forked child; partial transfers stopped by a bad
 * page on either side; the errors (EINVAL, EFAULT, ESRCH, EPERM for another
 * user's process) and their order. Through syscall(): every libc has the
 * numbers. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "abi_check.h"

static long vm_read(pid_t pid, const struct iovec *l, unsigned long ln, const struct iovec *r,
                    unsigned long rn, unsigned long flags)
{
    return syscall(SYS_process_vm_readv, pid, l, ln, r, rn, flags);
}

static long vm_write(pid_t pid, const struct iovec *l, unsigned long ln, const struct iovec *r,
                     unsigned long rn, unsigned long flags)
{
    return syscall(SYS_process_vm_writev, pid, l, ln, r, rn, flags);
}

static char source[64] = "abcdefghijklmnopqrstuvwxyz0123456789";
static char child_buf[64];

int main(void)
{
    pid_t me = getpid();
    long page = sysconf(_SC_PAGESIZE);

    /* Scatter/gather on itself: local 3+5+8 from remote 10+6. */
    char a[3], b[5], c[8];
    struct iovec l3[3] = {{a, 3}, {b, 5}, {c, 8}};
    struct iovec r2[2] = {{source, 10}, {source + 20, 6}};
    long n = vm_read(me, l3, 3, r2, 2, 0);
    checkf(n == 16, "self read gathers 16 bytes", "n=%ld%.0ld", n, 0);
    check(!memcmp(a, "abc", 3) && !memcmp(b, "defgh", 5) && !memcmp(c, "ijuvwxyz", 8),
          "self read scatters in order");
    char dst[16] = {0};
    struct iovec lw = {(void *)"HELLO", 5};
    struct iovec rw = {dst + 2, 5};
    n = vm_write(me, &lw, 1, &rw, 1, 0);
    check(n == 5 && !memcmp(dst + 2, "HELLO", 5) && dst[1] == 0 && dst[7] == 0, "self write");

    /* A child's memory, read and written by the parent. */
    int to_child[2], to_parent[2];
    pipe(to_child);
    pipe(to_parent);
    pid_t child = fork();
    if (child == 0) {
        strcpy(child_buf, "child data");
        char x;
        write(to_parent[1], "r", 1);
        read(to_child[0], &x, 1);
        _exit(strcmp(child_buf, "written by parent") == 0 ? 0 : 5);
    }
    char x;
    read(to_parent[0], &x, 1);
    char got[16] = {0};
    struct iovec lg = {got, 10};
    struct iovec rg = {child_buf, 10};
    n = vm_read(child, &lg, 1, &rg, 1, 0);
    check(n == 10 && !memcmp(got, "child data", 10), "read a child's memory");
    struct iovec lp = {(void *)"written by parent", 18};
    struct iovec rp = {child_buf, 18};
    n = vm_write(child, &lp, 1, &rp, 1, 0);
    checkf(n == 18, "write a child's memory", "n=%ld%.0ld", n, 0);
    write(to_child[1], "w", 1);
    int status;
    waitpid(child, &status, 0);
    checkf(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child sees the write",
           "status=%ld%.0ld", status, 0);
    /* The reaped child's pid is gone. */
    err(vm_read(child, &lg, 1, &rg, 1, 0), ESRCH, "reaped child");

    /* Partial transfers: a bad page ends the copy; bytes before it count. */
    char *two = mmap(0, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(two, 'q', page);
    mprotect(two + page, page, PROT_NONE);
    char big[300];
    struct iovec lb = {big, 300};
    struct iovec rb = {two + page - 100, 300};
    n = vm_read(me, &lb, 1, &rb, 1, 0);
    checkf(n == 100, "remote bad page: partial read", "n=%ld%.0ld", n, 0);
    struct iovec ls = {two + page - 40, 300};
    struct iovec rs = {source, 64};
    n = vm_read(me, &ls, 1, &rs, 1, 0);
    checkf(n == 40, "local bad page: partial read", "n=%ld%.0ld", n, 0);
    struct iovec rtwo[2] = {{source, 10}, {0, 10}};
    n = vm_read(me, &lb, 1, rtwo, 2, 0);
    checkf(n == 10, "second remote iovec bad: first counts", "n=%ld%.0ld", n, 0);
    struct iovec rnone = {two + page, 10};
    err(vm_read(me, &lb, 1, &rnone, 1, 0), EFAULT, "remote PROT_NONE");
    mprotect(two, page, PROT_READ);
    struct iovec rro = {two, 10};
    err(vm_write(me, &lw, 1, &rro, 1, 0), EFAULT, "write to read-only remote");

    /* Errors, in Linux's order. */
    struct iovec lok = {got, 10};
    struct iovec rok = {source, 10};
    err(vm_read(me, &lok, 1, &rok, 1, 1), EINVAL, "flags 1");
    err(vm_read(me, &lok, 1, &rok, 1, -1UL), EINVAL, "flags -1");
    err(vm_read(-1, &lok, 1, &rok, 1, 1), EINVAL, "flags before pid");
    err(vm_read(me, &lok, 1025, &rok, 1, 0), EINVAL, "liovcnt 1025");
    err(vm_read(me, &lok, 1, &rok, 1025, 0), EINVAL, "riovcnt 1025");
    err(vm_read(me, (void *)8, 1, &rok, 1, 0), EFAULT, "bad lvec");
    err(vm_read(me, &lok, 1, (void *)8, 1, 0), EFAULT, "bad rvec");
    struct iovec lneg = {got, (size_t)-1};
    err(vm_read(me, &lneg, 1, &rok, 1, 0), EINVAL, "local iov_len -1");
    struct iovec rneg = {source, (size_t)-1};
    err(vm_read(me, &lok, 1, &rneg, 1, 0), EINVAL, "remote iov_len -1");
    struct iovec lhigh = {(void *)-1, 10};
    err(vm_read(me, &lhigh, 1, &rok, 1, 0), EFAULT, "local iov_base -1");
    struct iovec rhigh = {(void *)-1, 10};
    err(vm_read(me, &lok, 1, &rhigh, 1, 0), EFAULT, "remote iov_base -1");
    err(vm_read(-1, &lok, 1, &rok, 1, 0), ESRCH, "pid -1");
    err(vm_read(0, &lok, 1, &rok, 1, 0), ESRCH, "pid 0");
    struct iovec lzero = {got, 0};
    n = vm_read(-1, &lzero, 1, (void *)8, 1, 0);
    check(n == 0, "empty local vector: 0 before rvec and pid");
    struct iovec rzero = {source, 0};
    n = vm_read(-1, &lok, 1, &rzero, 1, 0);
    check(n == 0, "empty remote vector: 0 before pid");
    n = vm_read(me, &lok, 0, &rok, 1, 0);
    check(n == 0, "no local iovecs");

    /* Another user's process may not be accessed. */
    if (getuid() == 0) {
        pid_t other = fork();
        if (other == 0) {
            if (setuid(65534) != 0)
                _exit(3);
            long v = vm_read(getppid(), &lok, 1, &rok, 1, 0);
            _exit(v == -1 && errno == EPERM ? 0 : 4);
        }
        waitpid(other, &status, 0);
        checkf(WIFEXITED(status) && WEXITSTATUS(status) == 0, "EPERM for another user's process",
               "status=%ld%.0ld", status, 0);
    } else {
        printf("EPERM for another user's process: ok\n");
    }
    return finish();
}
