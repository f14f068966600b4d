/* Per-area memory flags and the calls that set them: mlock/mlock2/mlockall
 * (VmLck, smaps' Locked, mincore), MAP_LOCKED, MAP_POPULATE (pagemap),
 * msync(MS_INVALIDATE) on locked memory, madvise's per-area rules
 * (DONTNEED/FREE/REMOVE/WIPEONFORK/DONTFORK/POPULATE), mseal, MAP_GROWSDOWN,
 * /dev/zero mappings, remap_file_pages, mincore of file pages, and the
 * fsync/sync_file_range/readahead errors for what has no pages. Every check
 * prints a line; the output is compared with a native run (as root). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "abi_check.h"

#define PAGE 4096UL

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#define MADV_POPULATE_WRITE 23
#endif
#ifndef MADV_WIPEONFORK
#define MADV_WIPEONFORK 18
#define MADV_KEEPONFORK 19
#endif
#ifndef MADV_COLD
#define MADV_COLD 20
#endif
#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 1
#endif
#ifndef MCL_ONFAULT
#define MCL_ONFAULT 4
#endif
#define SYS_MSEAL 462

static long vm_lck_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmLck: %ld", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

/* smaps' `field` (kB) for the area starting at `start`, -1 if absent. */
static long smaps_kb(void *start, const char *field)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[256];
    long kb = -1;
    int in = 0;
    size_t n = strlen(field);
    while (f && fgets(line, sizeof line, f)) {
        unsigned long a, b;
        if (sscanf(line, "%lx-%lx ", &a, &b) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            in = a == (unsigned long)start;
            continue;
        }
        if (in && strncmp(line, field, n) == 0 && line[n] == ':') {
            sscanf(line + n + 1, "%ld", &kb);
            break;
        }
    }
    if (f)
        fclose(f);
    return kb;
}

/* Whether the VmFlags line of the area at `start` has `flag`. */
static int smaps_flag(void *start, const char *flag)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[512];
    int in = 0, found = 0;
    while (f && fgets(line, sizeof line, f)) {
        unsigned long a, b;
        if (sscanf(line, "%lx-%lx ", &a, &b) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            in = a == (unsigned long)start;
            continue;
        }
        if (in && strncmp(line, "VmFlags:", 8) == 0) {
            char want[8];
            snprintf(want, sizeof want, " %s ", flag);
            found = strstr(line + 7, want) != NULL;
            break;
        }
    }
    if (f)
        fclose(f);
    return found;
}

/* Pages of [p, p+len) mincore reports resident. */
static int resident(void *p, size_t len)
{
    unsigned char vec[64];
    size_t pages = len / PAGE;
    if (pages > sizeof vec || mincore(p, len, vec) != 0)
        return -1;
    int n = 0;
    for (size_t i = 0; i < pages; i++)
        n += vec[i] & 1;
    return n;
}

/* How a child running fn(arg) ended: its exit status, or 1000 + signal. */
static int in_child(void (*fn)(void *), void *arg)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        fn(arg);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    return WIFSIGNALED(status) ? 1000 + WTERMSIG(status) : WEXITSTATUS(status);
}

static void touch(void *p)
{
    *(volatile char *)p = 1;
}

static void first_byte_is_zero(void *p)
{
    _exit(*(volatile char *)p == 0 ? 0 : 1);
}

/* `pages` of private memory between PROT_NONE pages: an area of its own
 * (no neighbour merges with it). */
static char *fenced(size_t pages)
{
    char *p = mmap(NULL, (pages + 2) * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    mprotect(p + PAGE, pages * PAGE, PROT_READ | PROT_WRITE);
    return p + PAGE;
}

static void locks(void)
{
    long base = vm_lck_kb();
    check(base == 0, "VmLck starts at 0");
    char *a = fenced(8);
    ok(mlock(a + PAGE + 1, 2 * PAGE), "mlock 2 pages from an unaligned start");
    checkf(vm_lck_kb() == 12, "3 pages locked", "VmLck %ld want %ld", vm_lck_kb(), 12);
    checkf(smaps_kb(a, "Locked") == 0, "smaps: the area before is not locked", "%ld want %ld", smaps_kb(a, "Locked"), 0);
    check(smaps_flag(a + PAGE, "lo") && !smaps_flag(a, "lo"), "smaps: split at the lock");
    ok(mlock(a, 4 * PAGE), "mlock over a locked part");
    checkf(vm_lck_kb() == 16, "4 pages locked", "VmLck %ld want %ld", vm_lck_kb(), 16);
    checkf(smaps_kb(a, "Locked") == 16, "smaps: Locked of the locked area", "%ld want %ld", smaps_kb(a, "Locked"), 16);
    check(smaps_flag(a, "lo"), "smaps: VmFlags lo");
    checkf(smaps_kb(a, "Rss") == 16, "smaps: its pages are resident", "%ld want %ld", smaps_kb(a, "Rss"), 16);
    err(msync(a, PAGE, MS_INVALIDATE), EBUSY, "msync MS_INVALIDATE on locked memory");
    ok(msync(a + 4 * PAGE, PAGE, MS_INVALIDATE), "msync MS_INVALIDATE next to it");
    err(madvise(a, PAGE, MADV_DONTNEED), EINVAL, "MADV_DONTNEED on locked memory");
    err(madvise(a, PAGE, MADV_COLD), EINVAL, "MADV_COLD on locked memory");
    ok(munlock(a + PAGE, PAGE), "munlock the second page");
    checkf(vm_lck_kb() == 12, "3 pages locked after", "VmLck %ld want %ld", vm_lck_kb(), 12);
    ok(munmap(a + 6 * PAGE, PAGE), "punch a hole");
    ok(mlock(a + 4 * PAGE, PAGE), "mlock before the hole");
    err(munlock(a + 2 * PAGE, 6 * PAGE), ENOMEM, "munlock over a hole");
    checkf(vm_lck_kb() == 4, "what lies before the hole is unlocked", "VmLck %ld want %ld", vm_lck_kb(), 4);
    err(mlock(a + 3 * PAGE, 5 * PAGE), ENOMEM, "mlock over a hole");
    checkf(vm_lck_kb() == 16, "what lies before the hole is locked", "VmLck %ld want %ld", vm_lck_kb(), 16);
    ok(munmap(a, 8 * PAGE), "munmap the locked area");
    checkf(vm_lck_kb() == 0, "VmLck back to 0", "VmLck %ld want %ld", vm_lck_kb(), 0);

    /* MLOCK_ONFAULT on shared memory: only touched pages become resident. */
    char *s = mmap(NULL, 8 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    memset(s, 1, 2 * PAGE);
    ok(syscall(SYS_mlock2, s, 8 * PAGE, MLOCK_ONFAULT), "mlock2 MLOCK_ONFAULT");
    checkf(vm_lck_kb() == 32, "8 pages count as locked", "VmLck %ld want %ld", vm_lck_kb(), 32);
    checkf(resident(s, 8 * PAGE) == 2, "2 resident pages", "%ld want %ld", resident(s, 8 * PAGE), 2);
    ok(syscall(SYS_mlock2, s, 8 * PAGE, 0), "mlock2 again, faulting in");
    checkf(resident(s, 8 * PAGE) == 8, "8 resident pages", "%ld want %ld", resident(s, 8 * PAGE), 8);
    checkf(vm_lck_kb() == 32, "still 8 locked pages", "VmLck %ld want %ld", vm_lck_kb(), 32);
    err(syscall(SYS_mlock2, s, PAGE, 2), EINVAL, "mlock2 unknown flag");
    munmap(s, 8 * PAGE);

    /* MAP_LOCKED, and locks a child does not inherit. */
    char *m = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED, -1, 0);
    checkf(vm_lck_kb() == 16, "MAP_LOCKED locks", "VmLck %ld want %ld", vm_lck_kb(), 16);
    checkf(resident(m, 4 * PAGE) == 4, "and faults in", "%ld want %ld", resident(m, 4 * PAGE), 4);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0)
        _exit(vm_lck_kb() == 0 ? 0 : 1);
    int status;
    waitpid(pid, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "a child has no locked memory");
    munmap(m, 4 * PAGE);

    /* mlockall: the current areas, and with MCL_FUTURE new ones. */
    ok(mlockall(MCL_CURRENT | MCL_FUTURE), "mlockall current and future");
    check(vm_lck_kb() > 0, "VmLck above 0");
    long before = vm_lck_kb();
    char *f = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    checkf(vm_lck_kb() - before == 16, "a new mapping is locked", "delta %ld want %ld", vm_lck_kb() - before, 16);
    checkf(resident(f, 4 * PAGE) == 4, "and faulted in", "%ld want %ld", resident(f, 4 * PAGE), 4);
    ok(munlockall(), "munlockall");
    checkf(vm_lck_kb() == 0, "VmLck 0 after munlockall", "VmLck %ld want %ld", vm_lck_kb(), 0);
    char *g = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    checkf(vm_lck_kb() == 0, "new mappings no longer locked", "VmLck %ld want %ld", vm_lck_kb(), 0);
    munmap(f, 4 * PAGE);
    munmap(g, 4 * PAGE);
    err(mlockall(MCL_ONFAULT), EINVAL, "mlockall MCL_ONFAULT alone");
    err(mlockall(0), EINVAL, "mlockall 0");
}

static void advice(void)
{
    char path[] = "/tmp/mm_flags_XXXXXX";
    int fd = mkstemp(path);
    unlink(path);
    ftruncate(fd, 4 * PAGE);
    char *file = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    char *priv_file = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    char *shared = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    char *anon = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    err(madvise(file, PAGE, MADV_FREE), EINVAL, "MADV_FREE on a file mapping");
    err(madvise(shared, PAGE, MADV_FREE), EINVAL, "MADV_FREE on shared anonymous memory");
    err(madvise(file, PAGE, MADV_WIPEONFORK), EINVAL, "MADV_WIPEONFORK on a file mapping");
    err(madvise(priv_file, PAGE, MADV_WIPEONFORK), EINVAL, "MADV_WIPEONFORK on a private file mapping");
    err(madvise(shared, PAGE, MADV_WIPEONFORK), EINVAL, "MADV_WIPEONFORK on shared anonymous memory");
    err(madvise(anon, PAGE, MADV_REMOVE), EINVAL, "MADV_REMOVE on private anonymous memory");
    err(madvise(priv_file, PAGE, MADV_REMOVE), EACCES, "MADV_REMOVE on a private file mapping");
    err(madvise(anon + 1, PAGE, MADV_NORMAL), EINVAL, "unaligned start");
    err(madvise(anon, PAGE, 1212), EINVAL, "unknown advice");
    ok(madvise(anon, 0, MADV_DONTNEED), "empty range");
    char *holed = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(holed + PAGE, PAGE);
    memset(holed, 3, PAGE);
    memset(holed + 2 * PAGE, 3, PAGE);
    err(madvise(holed, 3 * PAGE, MADV_DONTNEED), ENOMEM, "range over a hole");
    check(holed[0] == 0 && holed[2 * PAGE] == 0, "the mapped parts took the advice");
    munmap(holed, 3 * PAGE);

    /* DONTNEED: private memory reads zeros, shared memory keeps its data. */
    memset(anon, 7, 4 * PAGE);
    memset(shared, 7, 4 * PAGE);
    memset(file, 7, 4 * PAGE);
    ok(madvise(anon, 4 * PAGE, MADV_DONTNEED), "MADV_DONTNEED private");
    check(anon[PAGE] == 0, "private pages read zero");
    ok(madvise(shared, 4 * PAGE, MADV_DONTNEED), "MADV_DONTNEED shared anonymous");
    check(shared[PAGE] == 7, "shared anonymous pages keep their data");
    ok(madvise(file, 4 * PAGE, MADV_DONTNEED), "MADV_DONTNEED shared file");
    check(file[PAGE] == 7, "shared file pages keep their data");
    ok(madvise(file, PAGE, MADV_REMOVE), "MADV_REMOVE on a shared file mapping");
    check(file[0] == 0 && file[PAGE] == 7, "the removed page reads zero");
    char b = 1;
    check(pread(fd, &b, 1, 0) == 1 && b == 0, "and the file too");

    /* WIPEONFORK / KEEPONFORK / DONTFORK. */
    memset(anon, 9, 4 * PAGE);
    ok(madvise(anon, 2 * PAGE, MADV_WIPEONFORK), "MADV_WIPEONFORK");
    check(smaps_flag(anon, "wf"), "smaps: VmFlags wf");
    check(in_child(first_byte_is_zero, anon) == 0, "the child's copy is zero");
    check(in_child(first_byte_is_zero, anon + 2 * PAGE) == 1, "past it the child sees the data");
    check(anon[0] == 9, "the parent keeps its data");
    ok(madvise(anon, 2 * PAGE, MADV_KEEPONFORK), "MADV_KEEPONFORK");
    check(in_child(first_byte_is_zero, anon) == 1, "the child's copy has the data again");
    ok(madvise(anon, PAGE, MADV_DONTFORK), "MADV_DONTFORK");
    check(smaps_flag(anon, "dc"), "smaps: VmFlags dc");
    check(in_child(touch, anon) == 1000 + SIGSEGV, "the child has no such mapping");
    ok(madvise(anon, PAGE, MADV_DOFORK), "MADV_DOFORK");
    check(in_child(touch, anon) == 0, "the child has it again");
    ok(madvise(anon, PAGE, MADV_DONTDUMP), "MADV_DONTDUMP");
    check(smaps_flag(anon, "dd"), "smaps: VmFlags dd");
    ok(madvise(anon, PAGE, MADV_DODUMP), "MADV_DODUMP");

    /* POPULATE_READ / POPULATE_WRITE. */
    char *ro = mmap(NULL, 4 * PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ok(madvise(ro, 4 * PAGE, MADV_POPULATE_READ), "MADV_POPULATE_READ");
    checkf(resident(ro, 4 * PAGE) == 4, "populated", "%ld want %ld", resident(ro, 4 * PAGE), 4);
    err(madvise(ro, PAGE, MADV_POPULATE_WRITE), EINVAL, "MADV_POPULATE_WRITE on read-only memory");
    mprotect(ro, PAGE, PROT_NONE);
    err(madvise(ro, PAGE, MADV_POPULATE_READ), EINVAL, "MADV_POPULATE_READ on PROT_NONE memory");
    munmap(ro, 4 * PAGE);
    err(madvise(ro, PAGE, MADV_POPULATE_READ), ENOMEM, "MADV_POPULATE_READ on a hole");

    munmap(file, 4 * PAGE);
    munmap(priv_file, 4 * PAGE);
    munmap(shared, 4 * PAGE);
    munmap(anon, 4 * PAGE);
    close(fd);
}

static void seal_in_child(void *unused)
{
    (void)unused;
    failures = 0;
    char *p = mmap(NULL, 8 * PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *w = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ok(syscall(SYS_MSEAL, p + 2 * PAGE, 2 * PAGE, 0), "mseal 2 pages");
    check(smaps_flag(p + 2 * PAGE, "sl"), "smaps: VmFlags sl");
    err(munmap(p, 8 * PAGE), EPERM, "munmap over a sealed part");
    check(*(volatile char *)p == 0, "nothing was unmapped");
    err(mprotect(p + 2 * PAGE, PAGE, PROT_NONE), EPERM, "mprotect sealed");
    err(madvise(p + 2 * PAGE, PAGE, MADV_DONTNEED), EPERM, "MADV_DONTNEED on sealed read-only memory");
    ok(madvise(p + 2 * PAGE, PAGE, MADV_WILLNEED), "MADV_WILLNEED on sealed memory");
    err((long)mremap(p + 2 * PAGE, PAGE, 4 * PAGE, MREMAP_MAYMOVE), EPERM, "mremap sealed");
    err((long)mremap(p, 4 * PAGE, PAGE, 0), EPERM, "shrinking over a sealed part");
    err((long)mmap(p + 2 * PAGE, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0), EPERM,
        "mmap MAP_FIXED over sealed");
    ok(munmap(p + 4 * PAGE, 4 * PAGE), "munmap next to it");
    ok(syscall(SYS_MSEAL, w, 2 * PAGE, 0), "mseal writable memory");
    ok(madvise(w, PAGE, MADV_DONTNEED), "MADV_DONTNEED on sealed writable memory");
    err(syscall(SYS_MSEAL, w, PAGE, 1), EINVAL, "mseal flags");
    err(syscall(SYS_MSEAL, w + 1, PAGE, 0), EINVAL, "mseal unaligned");
    err(syscall(SYS_MSEAL, w, -PAGE + 2, 0), EINVAL, "mseal length overflows");
    err(syscall(SYS_MSEAL, p + 4 * PAGE, PAGE, 0), ENOMEM, "mseal unmapped");
    ok(syscall(SYS_MSEAL, w, 0, 0), "mseal empty");
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0)
        _exit(munmap(p + 2 * PAGE, PAGE) == -1 && errno == EPERM ? 0 : 1);
    int status;
    waitpid(pid, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "a child inherits the seal");
    fflush(stdout);
    _exit(failures);
}

static void seals(void)
{
    /* Sealed memory stays for the life of the process: in a child. */
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0)
        seal_in_child(NULL);
    int status;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        failures++;
}

static void grow(void *unused)
{
    (void)unused;
    failures = 0;
    char *top = mmap(NULL, 300 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(top, 300 * PAGE);
    char *stack = mmap(top + 296 * PAGE, 4 * PAGE, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_GROWSDOWN, -1, 0);
    check(stack == top + 296 * PAGE, "MAP_GROWSDOWN mapping");
    check(smaps_flag(stack, "gd"), "smaps: VmFlags gd");
    stack[-3 * PAGE] = 5;
    check(smaps_flag(stack - 3 * PAGE, "gd"), "a fault below grows it");
    checkf(smaps_kb(stack - 3 * PAGE, "Size") == 28, "to 7 pages", "%ld want %ld", smaps_kb(stack - 3 * PAGE, "Size"), 28);
    /* An accessible page closer than the guard gap stops the growth. */
    mmap(top, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        stack[-200 * PAGE] = 1;
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    check(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV, "growing near another mapping faults");
    err((long)mmap(NULL, PAGE, PROT_READ, MAP_SHARED | MAP_ANONYMOUS | MAP_GROWSDOWN, -1, 0), EINVAL,
        "MAP_GROWSDOWN shared");
    fflush(stdout);
    _exit(failures);
}

static void zero_and_files(void)
{
    err((long)mmap(NULL, 0, PROT_READ, MAP_SHARED, 12345, 0), EBADF, "mmap bad fd before length 0");
    int ro = open("/dev/zero", O_RDONLY);
    char *z = mmap(NULL, 2 * PAGE, PROT_READ, MAP_SHARED, ro, 0);
    check(z != MAP_FAILED && z[PAGE] == 0, "/dev/zero shared read-only");
    err(mprotect(z, PAGE, PROT_READ | PROT_WRITE), EACCES, "mprotect it writable");
    err((long)mmap(NULL, PAGE, PROT_WRITE, MAP_SHARED, ro, 0), EACCES, "/dev/zero shared writable from O_RDONLY");
    munmap(z, 2 * PAGE);
    close(ro);
    int rw = open("/dev/zero", O_RDWR);
    char *s = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, rw, 0);
    s[0] = 1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        s[0] = 42;
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    check(s[0] == 42, "/dev/zero shared is shared with a child");
    char *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, rw, 0);
    p[0] = 1;
    pid = fork();
    if (pid == 0) {
        p[0] = 42;
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    check(p[0] == 1, "/dev/zero private is private");
    munmap(s, PAGE);
    munmap(p, PAGE);
    close(rw);

    /* MAP_POPULATE: pagemap shows the pages present. */
    char *pop = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    int pm = open("/proc/self/pagemap", O_RDONLY);
    uint64_t entries[4] = { 0 };
    check(pread(pm, entries, sizeof entries, (uintptr_t)pop / PAGE * 8) == sizeof entries, "read pagemap");
    int present = 0;
    for (int i = 0; i < 4; i++)
        present += (entries[i] >> 63) & 1;
    checkf(present == 4, "MAP_POPULATE pages are present", "%ld want %ld", present, 4);
    uint64_t one;
    err(pread(pm, &one, 4, (uintptr_t)pop / PAGE * 8), EINVAL, "pagemap read of 4 bytes");
    close(pm);
    munmap(pop, 4 * PAGE);

    /* mincore of a file mapping: pages another mapping brought in count. */
    char path[] = "/tmp/mm_flags_XXXXXX";
    int fd = mkstemp(path);
    unlink(path);
    ftruncate(fd, 16 * PAGE);
    char *one_map = mmap(NULL, 16 * PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
    char *other = mmap(NULL, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    other[5 * PAGE] = 1;
    unsigned char vec[16];
    mincore(one_map, 16 * PAGE, vec);
    check(vec[5] & 1, "a page the other mapping wrote is resident");

    /* remap_file_pages: the window shows other pages of the file. */
    for (int i = 0; i < 16; i++)
        other[i * PAGE] = (char)(i + 1);
    ok(syscall(SYS_remap_file_pages, other, 2 * PAGE, 0, 10, 0), "remap_file_pages");
    check(other[0] == 11 && other[PAGE] == 12 && other[2 * PAGE] == 3, "the window shows pages 10 and 11");
    err(syscall(SYS_remap_file_pages, one_map, PAGE, 0, 1, 0), EINVAL, "remap_file_pages of a private mapping");
    err(syscall(SYS_remap_file_pages, other, PAGE, PROT_READ, 1, 0), EINVAL, "remap_file_pages with a protection");
    err(syscall(SYS_remap_file_pages, other + 15 * PAGE, 2 * PAGE, 0, 1, 0), EINVAL, "remap_file_pages past the mapping");
    munmap(one_map, 16 * PAGE);
    munmap(other, 16 * PAGE);

    /* What has no pages to sync or read ahead. */
    int pipefd[2];
    pipe(pipefd);
    err(fsync(pipefd[1]), EINVAL, "fsync a pipe");
    err(fdatasync(pipefd[0]), EINVAL, "fdatasync a pipe");
    err(sync_file_range(pipefd[0], 0, 1, SYNC_FILE_RANGE_WRITE), ESPIPE, "sync_file_range a pipe");
    int sock = socket(AF_UNIX, SOCK_STREAM, 0);
    err(fsync(sock), EINVAL, "fsync a socket");
    int null = open("/dev/null", O_RDONLY);
    err(fsync(null), EINVAL, "fsync /dev/null");
    err(readahead(null, 0, PAGE), EINVAL, "readahead /dev/null");
    int dir = open("/tmp", O_RDONLY | O_DIRECTORY);
    ok(fsync(dir), "fsync a directory");
    err(readahead(dir, 0, PAGE), EINVAL, "readahead a directory");
    ok(readahead(fd, 0, PAGE), "readahead a file");
    ok(fsync(fd), "fsync a file");
    close(dir);
    close(null);
    close(sock);
    close(pipefd[0]);
    close(pipefd[1]);
    close(fd);
}

int main(void)
{
    locks();
    advice();
    seals();
    check(in_child(grow, NULL) == 0, "MAP_GROWSDOWN checks");
    zero_and_files();
    return finish();
}
