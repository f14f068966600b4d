/* userfaultfd and MREMAP_DONTUNMAP: the API handshake and its errors, a
 * missing-page fault handled by another thread (poll, read of the
 * uffd_msg, UFFDIO_COPY / UFFDIO_ZEROPAGE waking the faulting thread),
 * UFFDIO_COPY's errors (EEXIST, ENOENT), UNREGISTER, a fork child without
 * the registration, UFFD_FEATURE_SIGBUS, closing the descriptor, write
 * protection (UFFDIO_WRITEPROTECT, x86_64), MINOR faults on a memfd with
 * UFFDIO_CONTINUE, /dev/userfaultfd's USERFAULTFD_IOC_NEW, and
 * mremap(MREMAP_DONTUNMAP) leaving the old range registered and empty.
 * Every check prints a line; the output is compared with a native run (as
 * root: vm.unprivileged_userfaultfd may be 0). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "abi_check.h"

#define PAGE 4096UL

#ifndef __NR_userfaultfd
#if defined(__x86_64__)
#define __NR_userfaultfd 323
#else
#define __NR_userfaultfd 282
#endif
#endif
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif
#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 1
#endif

/* The UAPI, spelled out (musl's headers may not have linux/userfaultfd.h). */
#define UFFD_API 0xAAULL
#define UFFD_USER_MODE_ONLY 1
#define UFFD_EVENT_PAGEFAULT 0x12
#define UFFD_PAGEFAULT_FLAG_WRITE 1ULL
#define UFFD_PAGEFAULT_FLAG_WP 2ULL
#define UFFD_PAGEFAULT_FLAG_MINOR 4ULL
#define UFFD_FEATURE_PAGEFAULT_FLAG_WP (1ULL << 0)
#define UFFD_FEATURE_SIGBUS (1ULL << 7)
#define UFFD_FEATURE_THREAD_ID (1ULL << 8)
#define UFFD_FEATURE_MINOR_SHMEM (1ULL << 10)
#define UFFD_FEATURE_EXACT_ADDRESS (1ULL << 11)
#define UFFDIO_REGISTER_MODE_MISSING 1ULL
#define UFFDIO_REGISTER_MODE_WP 2ULL
#define UFFDIO_REGISTER_MODE_MINOR 4ULL
#define UFFDIO_WRITEPROTECT_MODE_WP 1ULL
#define UFFDIO_WRITEPROTECT_MODE_DONTWAKE 2ULL

struct uffdio_range { uint64_t start, len; };
struct uffdio_api { uint64_t api, features, ioctls; };
struct uffdio_register { struct uffdio_range range; uint64_t mode, ioctls; };
struct uffdio_copy { uint64_t dst, src, len, mode; int64_t copy; };
struct uffdio_zeropage { struct uffdio_range range; uint64_t mode; int64_t zeropage; };
struct uffdio_writeprotect { struct uffdio_range range; uint64_t mode; };
struct uffdio_continue { struct uffdio_range range; uint64_t mode; int64_t mapped; };
struct uffd_msg {
    uint8_t event, reserved1;
    uint16_t reserved2;
    uint32_t reserved3;
    uint64_t flags, address;
    uint32_t ptid, pad;
} __attribute__((packed));

#define UFFDIO 0xAA
#define UFFDIO_API _IOWR(UFFDIO, 0x3F, struct uffdio_api)
#define UFFDIO_REGISTER _IOWR(UFFDIO, 0x00, struct uffdio_register)
#define UFFDIO_UNREGISTER _IOR(UFFDIO, 0x01, struct uffdio_range)
#define UFFDIO_WAKE _IOR(UFFDIO, 0x02, struct uffdio_range)
#define UFFDIO_COPY _IOWR(UFFDIO, 0x03, struct uffdio_copy)
#define UFFDIO_ZEROPAGE _IOWR(UFFDIO, 0x04, struct uffdio_zeropage)
#define UFFDIO_WRITEPROTECT _IOWR(UFFDIO, 0x06, struct uffdio_writeprotect)
#define UFFDIO_CONTINUE _IOWR(UFFDIO, 0x07, struct uffdio_continue)
#define USERFAULTFD_IOC_NEW _IO(UFFDIO, 0x00)

#define RANGE_BASIC ((1ULL << 2) | (1ULL << 3) | (1ULL << 4))

static long uffd_new(int flags)
{
    return syscall(__NR_userfaultfd, flags);
}

static int uffd_open(uint64_t features)
{
    int fd = uffd_new(O_CLOEXEC | O_NONBLOCK);
    struct uffdio_api api = { .api = UFFD_API, .features = features };
    if (fd < 0 || ioctl(fd, UFFDIO_API, &api) < 0) {
        printf("uffd_open(%llx): FAIL %s\n", (unsigned long long)features, ename(errno));
        failures++;
        return -1;
    }
    return fd;
}

static int uffd_register(int fd, void *addr, unsigned long len, uint64_t mode)
{
    struct uffdio_register reg = { .range = { (uintptr_t)addr, len }, .mode = mode };
    return ioctl(fd, UFFDIO_REGISTER, &reg);
}

static void *page_map(void)
{
    return mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

/* The handler thread's job: one fault on `fd`, resolved with `how`. */
enum how { COPY, ZEROPAGE, UNPROTECT, CONTINUE };
struct job {
    int fd;
    enum how how;
    char fill;
    struct uffd_msg msg;
    int polled, got;
    long result;
    int64_t copied;
    int memfd;
};

static void *handler(void *arg)
{
    struct job *job = arg;
    struct pollfd p = { .fd = job->fd, .events = POLLIN };
    job->polled = poll(&p, 1, 5000) == 1 && (p.revents & POLLIN);
    job->got = read(job->fd, &job->msg, sizeof job->msg);
    unsigned long page = job->msg.address & ~(PAGE - 1);
    if (job->how == COPY) {
        static char src[PAGE] __attribute__((aligned(4096)));
        memset(src, job->fill, PAGE);
        struct uffdio_copy c = { .dst = page, .src = (uintptr_t)src, .len = PAGE };
        job->result = ioctl(job->fd, UFFDIO_COPY, &c);
        job->copied = c.copy;
    } else if (job->how == ZEROPAGE) {
        struct uffdio_zeropage z = { .range = { page, PAGE } };
        job->result = ioctl(job->fd, UFFDIO_ZEROPAGE, &z);
        job->copied = z.zeropage;
    } else if (job->how == UNPROTECT) {
        struct uffdio_writeprotect w = { .range = { page, PAGE } };
        job->result = ioctl(job->fd, UFFDIO_WRITEPROTECT, &w);
        job->copied = PAGE;
    } else {
        char z = job->fill;
        pwrite(job->memfd, &z, 1, 0);
        struct uffdio_continue c = { .range = { page, PAGE } };
        job->result = ioctl(job->fd, UFFDIO_CONTINUE, &c);
        job->copied = c.mapped;
    }
    return NULL;
}

static void api_checks(void)
{
    err(uffd_new(0x100), EINVAL, "userfaultfd bad flags");
    int fd = ok(uffd_new(O_CLOEXEC | O_NONBLOCK), "userfaultfd");
    int um = ok(uffd_new(O_CLOEXEC | UFFD_USER_MODE_ONLY), "userfaultfd UFFD_USER_MODE_ONLY");
    close(um);
    char *p = page_map();
    struct uffd_msg msg;
    err(uffd_register(fd, p, PAGE, UFFDIO_REGISTER_MODE_MISSING), EINVAL, "REGISTER before API");
    err(read(fd, &msg, sizeof msg), EINVAL, "read before API");
    struct pollfd pf = { .fd = fd, .events = POLLIN };
    checkf(poll(&pf, 1, 0) == 1 && pf.revents == POLLERR, "poll before API is POLLERR", "%ld %lx",
           0, pf.revents);
    struct uffdio_api api = { .api = 0xAB };
    err(ioctl(fd, UFFDIO_API, &api), EINVAL, "API bad version");
    check(api.api == 0 && api.features == 0, "API bad version zeroes the struct");
    api = (struct uffdio_api){ .api = UFFD_API, .features = 1ULL << 40 };
    err(ioctl(fd, UFFDIO_API, &api), EINVAL, "API unknown feature");
    api = (struct uffdio_api){ .api = UFFD_API };
    ok(ioctl(fd, UFFDIO_API, &api), "API");
    uint64_t want = UFFD_FEATURE_SIGBUS | UFFD_FEATURE_THREAD_ID | UFFD_FEATURE_EXACT_ADDRESS |
                    UFFD_FEATURE_MINOR_SHMEM;
#ifdef __x86_64__
    want |= UFFD_FEATURE_PAGEFAULT_FLAG_WP;
#endif
    check((api.features & want) == want, "API features offered");
    check(api.ioctls == ((1ULL << 0) | (1ULL << 1) | (1ULL << 0x3F)), "API ioctls");
    err(ioctl(fd, UFFDIO_API, &api), EINVAL, "API twice");
    err(ioctl(fd, _IO(UFFDIO, 0x30)), EINVAL, "unknown ioctl");

    struct uffdio_register reg = { .range = { (uintptr_t)p, PAGE }, .mode = 0 };
    err(ioctl(fd, UFFDIO_REGISTER, &reg), EINVAL, "REGISTER mode 0");
    reg.mode = 8 | UFFDIO_REGISTER_MODE_MISSING;
    err(ioctl(fd, UFFDIO_REGISTER, &reg), EINVAL, "REGISTER unknown mode");
    err(uffd_register(fd, p + 1, PAGE, UFFDIO_REGISTER_MODE_MISSING), EINVAL, "REGISTER unaligned");
    err(uffd_register(fd, p, 0, UFFDIO_REGISTER_MODE_MISSING), EINVAL, "REGISTER empty");
    err(uffd_register(fd, p, 100, UFFDIO_REGISTER_MODE_MISSING), EINVAL, "REGISTER odd length");
    err(ioctl(fd, UFFDIO_REGISTER, (void *)8), EFAULT, "REGISTER bad pointer");
    reg = (struct uffdio_register){ .range = { (uintptr_t)p, PAGE }, .mode = UFFDIO_REGISTER_MODE_MISSING };
    ok(ioctl(fd, UFFDIO_REGISTER, &reg), "REGISTER missing");
    check((reg.ioctls & RANGE_BASIC) == RANGE_BASIC && !(reg.ioctls & (1ULL << 6)) &&
              !(reg.ioctls & (1ULL << 7)),
          "REGISTER ioctls: WAKE, COPY, ZEROPAGE");
    int other = uffd_open(0);
    err(uffd_register(other, p, PAGE, UFFDIO_REGISTER_MODE_MISSING), EBUSY, "REGISTER with another uffd");
    close(other);
    err(read(fd, &msg, sizeof msg), EAGAIN, "read without a fault");
    err(read(fd, &msg, 8), EINVAL, "read short buffer");
    pf.revents = 0;
    check(poll(&pf, 1, 0) == 0, "poll without a fault");

    /* COPY's errors. */
    static char src[PAGE] __attribute__((aligned(4096)));
    char *q = page_map();
    q[0] = 1;
    struct uffdio_copy c = { .dst = (uintptr_t)q, .src = (uintptr_t)src, .len = PAGE };
    err(ioctl(fd, UFFDIO_COPY, &c), ENOENT, "COPY to an unregistered page");
    check(c.copy == -ENOENT, "COPY reports -ENOENT");
    c = (struct uffdio_copy){ .dst = (uintptr_t)p, .src = (uintptr_t)src, .len = PAGE, .mode = 4 };
    err(ioctl(fd, UFFDIO_COPY, &c), EINVAL, "COPY unknown mode");
    c = (struct uffdio_copy){ .dst = (uintptr_t)p + 1, .src = (uintptr_t)src, .len = PAGE };
    err(ioctl(fd, UFFDIO_COPY, &c), EINVAL, "COPY unaligned");
    memset(src, 'c', PAGE);
    c = (struct uffdio_copy){ .dst = (uintptr_t)p, .src = (uintptr_t)src, .len = PAGE };
    ok(ioctl(fd, UFFDIO_COPY, &c), "COPY ahead of a fault");
    check(c.copy == PAGE && p[100] == 'c', "COPY filled the page");
    c.copy = 0;
    err(ioctl(fd, UFFDIO_COPY, &c), EEXIST, "COPY onto a present page");
    check(c.copy == -EEXIST, "COPY reports -EEXIST");
    struct uffdio_range wake = { (uintptr_t)p, PAGE };
    ok(ioctl(fd, UFFDIO_WAKE, &wake), "WAKE");
    struct uffdio_range bad = { (uintptr_t)p, 0 };
    err(ioctl(fd, UFFDIO_WAKE, &bad), EINVAL, "WAKE empty");
    struct uffdio_writeprotect w = { .range = { (uintptr_t)p, PAGE }, .mode = UFFDIO_WRITEPROTECT_MODE_WP };
    err(ioctl(fd, UFFDIO_WRITEPROTECT, &w), ENOENT, "WRITEPROTECT of a range not registered for WP");
    struct uffdio_range un = { (uintptr_t)p, PAGE };
    ok(ioctl(fd, UFFDIO_UNREGISTER, &un), "UNREGISTER");
    c.copy = 0;
    err(ioctl(fd, UFFDIO_COPY, &c), ENOENT, "COPY after UNREGISTER");
    close(fd);
    munmap(p, PAGE);
    munmap(q, PAGE);
}

/* A fault in `p` (a write when `write`) resolved by a thread with `how`. */
static void fault_with_thread(int fd, char *p, int write, struct job *job)
{
    pthread_t t;
    job->fd = fd;
    pthread_create(&t, NULL, handler, job);
    if (write)
        p[0xf] = 'W';
    else
        (void)*(volatile char *)(p + 0xf);
    pthread_join(t, NULL);
}

static void missing_faults(void)
{
    int fd = uffd_open(UFFD_FEATURE_THREAD_ID);
    char *p = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ok(uffd_register(fd, p, 4 * PAGE, UFFDIO_REGISTER_MODE_MISSING), "REGISTER 4 pages");

    struct job job = { .how = COPY, .fill = 'X' };
    pthread_t t;
    job.fd = fd;
    pthread_create(&t, NULL, handler, &job);
    char c = *(volatile char *)(p + PAGE + 0x10);
    pthread_join(t, NULL);
    check(job.polled, "read fault: poll says POLLIN");
    check(job.got == sizeof(struct uffd_msg), "read fault: one message read");
    check(job.msg.event == UFFD_EVENT_PAGEFAULT, "read fault: UFFD_EVENT_PAGEFAULT");
    check(job.msg.address == (uintptr_t)p + PAGE, "read fault: page address");
    check(job.msg.flags == 0, "read fault: no flags");
    check(job.msg.ptid == (uint32_t)syscall(SYS_gettid), "read fault: THREAD_ID is the faulting thread");
    check(job.result == 0 && job.copied == PAGE, "read fault: COPY");
    check(c == 'X', "read fault: the access sees the copied page");

    struct job z = { .how = ZEROPAGE };
    z.fd = fd;
    pthread_create(&t, NULL, handler, &z);
    p[2 * PAGE + 7] = 'W';
    pthread_join(t, NULL);
    check(z.msg.flags == UFFD_PAGEFAULT_FLAG_WRITE, "write fault: UFFD_PAGEFAULT_FLAG_WRITE");
    check(z.msg.address == (uintptr_t)p + 2 * PAGE, "write fault: page address");
    check(z.result == 0 && z.copied == PAGE, "write fault: ZEROPAGE");
    check(p[2 * PAGE + 7] == 'W' && p[2 * PAGE + 8] == 0, "write fault: the write lands on a zero page");

    /* A fork child has no registration: its missing pages are zeros. */
    pid_t pid = fork();
    if (pid == 0)
        _exit(p[3 * PAGE] == 0 ? 0 : 1);
    int status;
    waitpid(pid, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "fork child: registration not inherited");

    /* Closing the descriptor unregisters: a missing page is a zero page. */
    close(fd);
    check(p[3 * PAGE + 5] == 0, "after close: a missing page reads zero");
    munmap(p, 4 * PAGE);
}

static sigjmp_buf jump;
static volatile int bus_code;
static void on_bus(int sig, siginfo_t *info, void *ctx)
{
    (void)sig;
    (void)ctx;
    bus_code = info->si_code;
    siglongjmp(jump, 1);
}

static void sigbus_feature(void)
{
    int fd = uffd_open(UFFD_FEATURE_SIGBUS);
    char *p = page_map();
    ok(uffd_register(fd, p, PAGE, UFFDIO_REGISTER_MODE_MISSING), "REGISTER with UFFD_FEATURE_SIGBUS");
    struct sigaction sa = { .sa_sigaction = on_bus, .sa_flags = SA_SIGINFO };
    sigaction(SIGBUS, &sa, NULL);
    int got = 0;
    if (sigsetjmp(jump, 1) == 0)
        (void)*(volatile char *)p;
    else
        got = 1;
    check(got && bus_code == BUS_ADRERR, "UFFD_FEATURE_SIGBUS: SIGBUS with BUS_ADRERR");
    signal(SIGBUS, SIG_DFL);
    close(fd);
    munmap(p, PAGE);
}

static void write_protect(void)
{
#ifdef __x86_64__
    int fd = uffd_open(UFFD_FEATURE_PAGEFAULT_FLAG_WP);
    char *p = page_map();
    memset(p, 0, PAGE);
    struct uffdio_register reg = { .range = { (uintptr_t)p, PAGE }, .mode = UFFDIO_REGISTER_MODE_WP };
    ok(ioctl(fd, UFFDIO_REGISTER, &reg), "REGISTER wp");
    check((reg.ioctls & (1ULL << 6)) && !(reg.ioctls & (1ULL << 7)), "REGISTER wp ioctls: WRITEPROTECT");
    struct uffdio_writeprotect w = { .range = { (uintptr_t)p, PAGE },
                                     .mode = UFFDIO_WRITEPROTECT_MODE_WP | UFFDIO_WRITEPROTECT_MODE_DONTWAKE };
    err(ioctl(fd, UFFDIO_WRITEPROTECT, &w), EINVAL, "WRITEPROTECT WP|DONTWAKE");
    w.mode = UFFDIO_WRITEPROTECT_MODE_WP;
    ok(ioctl(fd, UFFDIO_WRITEPROTECT, &w), "WRITEPROTECT");
    check(p[0xf] == 0, "wp: reads still work");
    mprotect(p, PAGE, PROT_READ | PROT_WRITE);
    struct job job = { .how = UNPROTECT };
    fault_with_thread(fd, p, 1, &job);
    check(job.msg.flags == (UFFD_PAGEFAULT_FLAG_WP | UFFD_PAGEFAULT_FLAG_WRITE),
          "wp fault: UFFD_PAGEFAULT_FLAG_WP | WRITE");
    check(job.msg.address == (uintptr_t)p, "wp fault: page address");
    check(job.result == 0, "wp fault: WRITEPROTECT off");
    check(p[0xf] == 'W', "wp fault: the write completes");
    close(fd);
    munmap(p, PAGE);
#else
    printf("write protection: x86_64 only\n");
#endif
}

static void minor_faults(void)
{
    int fd = uffd_open(UFFD_FEATURE_MINOR_SHMEM);
    int memfd = syscall(SYS_memfd_create, "uffd", MFD_CLOEXEC);
    ftruncate(memfd, PAGE);
    char a = 'A';
    pwrite(memfd, &a, 1, 0);
    char *p = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, memfd, 0);
    char *anon = page_map();
    err(uffd_register(fd, anon, PAGE, UFFDIO_REGISTER_MODE_MINOR), EINVAL, "REGISTER minor on anonymous memory");
    struct uffdio_register reg = { .range = { (uintptr_t)p, PAGE }, .mode = UFFDIO_REGISTER_MODE_MINOR };
    ok(ioctl(fd, UFFDIO_REGISTER, &reg), "REGISTER minor on a memfd");
    check((reg.ioctls & (1ULL << 7)) != 0, "REGISTER minor ioctls: CONTINUE");
    madvise(p, PAGE, MADV_DONTNEED);
    struct job job = { .how = CONTINUE, .fill = 'Z', .memfd = memfd };
    fault_with_thread(fd, p, 0, &job);
    check(job.msg.flags == UFFD_PAGEFAULT_FLAG_MINOR, "minor fault: UFFD_PAGEFAULT_FLAG_MINOR");
    check(job.result == 0 && job.copied == PAGE, "minor fault: CONTINUE");
    check(p[0] == 'Z', "minor fault: the page cache's page is mapped");
    struct uffdio_continue c = { .range = { (uintptr_t)p, PAGE } };
    err(ioctl(fd, UFFDIO_CONTINUE, &c), EEXIST, "CONTINUE onto a mapped page");
    close(fd);
    munmap(p, PAGE);
    munmap(anon, PAGE);
    close(memfd);
}

static void dev_userfaultfd(void)
{
    int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
    ok(dev, "open /dev/userfaultfd");
    err(ioctl(dev, USERFAULTFD_IOC_NEW, 0x100), EINVAL, "USERFAULTFD_IOC_NEW bad flags");
    err(ioctl(dev, _IO(UFFDIO, 0x01), 0), EINVAL, "/dev/userfaultfd unknown ioctl");
    int fd = ok(ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK), "USERFAULTFD_IOC_NEW");
    close(dev);
    struct uffdio_api api = { .api = UFFD_API };
    ok(ioctl(fd, UFFDIO_API, &api), "API on a /dev/userfaultfd descriptor");
    close(fd);
}

static void mremap_dontunmap(void)
{
    char *p = page_map();
    strcpy(p, "ABCD");
    err((long)mremap(p, PAGE, 2 * PAGE, MREMAP_DONTUNMAP | MREMAP_MAYMOVE, NULL), EINVAL,
        "DONTUNMAP with a new size");
    err((long)mremap(p, PAGE, PAGE, MREMAP_DONTUNMAP, NULL), EINVAL, "DONTUNMAP without MAYMOVE");
    char *q = mremap(p, PAGE, PAGE, MREMAP_DONTUNMAP | MREMAP_MAYMOVE, NULL);
    check(q != MAP_FAILED && q != p, "DONTUNMAP moves");
    check(q != MAP_FAILED && strcmp(q, "ABCD") == 0, "DONTUNMAP: the data moved");
    check(p[0] == 0, "DONTUNMAP: the old range is mapped and empty");
    munmap(q, PAGE);
    munmap(p, PAGE);

    /* mremap07's case: the old range stays registered. */
    int fd = uffd_open(0);
    p = page_map();
    strcpy(p, "ABCD");
    ok(uffd_register(fd, p, PAGE, UFFDIO_REGISTER_MODE_MISSING), "REGISTER before DONTUNMAP");
    q = mremap(p, PAGE, PAGE, MREMAP_DONTUNMAP | MREMAP_MAYMOVE, NULL);
    check(q != MAP_FAILED && strcmp(q, "ABCD") == 0, "DONTUNMAP of a registered page");
    strcpy(q, "EFGH");
    struct job job = { .how = COPY, .fill = 'E' };
    fault_with_thread(fd, p, 0, &job);
    check(job.msg.address == (uintptr_t)p, "DONTUNMAP: a fault at the old address");
    check(p[0] == 'E' && strcmp(q, "EFGH") == 0, "DONTUNMAP: COPY fills the old range");
    close(fd);
    munmap(q, PAGE);
    munmap(p, PAGE);

    /* Shared memory: both ranges show the same pages. */
    p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    strcpy(p, "shared");
    q = mremap(p, PAGE, PAGE, MREMAP_DONTUNMAP | MREMAP_MAYMOVE, NULL);
    check(q != MAP_FAILED && strcmp(q, "shared") == 0 && strcmp(p, "shared") == 0,
          "DONTUNMAP of shared memory: both show it");
    munmap(q, PAGE);
    munmap(p, PAGE);
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    api_checks();
    missing_faults();
    sigbus_feature();
    write_protect();
    minor_faults();
    dev_userfaultfd();
    mremap_dontunmap();
    return finish();
}
