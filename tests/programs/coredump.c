/* Core dumps and CPU-time accounting, compared with a native run: a
 * signal whose default action is "core" writes an ELF core file named by
 * core_pattern (the default "core" is assumed on the host), holding the
 * memory coredump_filter selects and never MADV_DONTDUMP areas; the wait
 * status carries WCOREDUMP and waitid CLD_DUMPED; RLIMIT_CORE 0 and a
 * non-dumpable process dump nothing; a one-page limit truncates.
 * RLIMIT_CPU sends SIGXCPU at the soft limit (moving it a second on) and
 * SIGKILL at the hard one. System time (time in the kernel for the
 * process) shows in times() and getrusage(). A zombie shows state Z in
 * /proc/<pid>/stat until it is waited for. */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/times.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "abi_check.h"

#define REGION (4 * 4096)

static char *read_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r <= 0)
            break;
        n += r;
    }
    close(fd);
    *len = n;
    return buf;
}

/* The PT_LOAD of the core that maps `addr`, or NULL. */
static Elf64_Phdr *load_at(char *core, size_t len, unsigned long addr)
{
    Elf64_Ehdr *eh = (Elf64_Ehdr *)core;
    for (int i = 0; i < eh->e_phnum; i++) {
        Elf64_Phdr *ph = (Elf64_Phdr *)(core + eh->e_phoff + i * sizeof(Elf64_Phdr));
        if ((char *)(ph + 1) > core + len)
            return NULL;
        if (ph->p_type == PT_LOAD && ph->p_vaddr <= addr && addr < ph->p_vaddr + ph->p_memsz)
            return ph;
    }
    return NULL;
}

/* The pid in the core's NT_PRSTATUS (its pr_pid, at offset 32). */
static long prstatus_pid(char *core, size_t len, int *signal)
{
    Elf64_Ehdr *eh = (Elf64_Ehdr *)core;
    for (int i = 0; i < eh->e_phnum; i++) {
        Elf64_Phdr *ph = (Elf64_Phdr *)(core + eh->e_phoff + i * sizeof(Elf64_Phdr));
        if (ph->p_type != PT_NOTE || ph->p_offset + ph->p_filesz > len)
            continue;
        char *p = core + ph->p_offset, *end = p + ph->p_filesz;
        while (p + 12 <= end) {
            Elf64_Nhdr *nh = (Elf64_Nhdr *)p;
            char *desc = p + 12 + ((nh->n_namesz + 3) & ~3);
            if (nh->n_type == NT_PRSTATUS && desc + 36 <= end) {
                *signal = *(short *)(desc + 12);
                return *(int *)(desc + 32);
            }
            p = desc + ((nh->n_descsz + 3) & ~3);
        }
    }
    return -1;
}

static pid_t last_child;

/* A child that dies of `signal` (raised, or sent by the parent when
 * `kill_it`) after marking its memory; returns the wait status. */
static int die_of(int signal, int kill_it, char *dumped, char *dontdump, int dumpable)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (dontdump)
            madvise(dontdump, REGION, MADV_DONTDUMP);
        if (dumped)
            madvise(dumped, REGION, MADV_DODUMP);
        if (!dumpable)
            prctl(PR_SET_DUMPABLE, 0);
        if (kill_it)
            for (;;)
                pause();
        raise(signal);
        _exit(99);
    }
    last_child = pid;
    if (kill_it) {
        usleep(20000);
        kill(pid, signal);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return status;
}

static void core_files(void)
{
    char pattern[256] = "";
    size_t len;
    char *text = read_file("/proc/sys/kernel/core_pattern", &len);
    if (text) {
        memcpy(pattern, text, len < 255 ? len : 255);
        free(text);
    }
    check(strcmp(pattern, "core\n") == 0, "core_pattern is core");

    struct rlimit rl;
    getrlimit(RLIMIT_CORE, &rl);
    rl.rlim_cur = rl.rlim_max;
    ok(setrlimit(RLIMIT_CORE, &rl), "RLIMIT_CORE raised to the hard limit");

    char *dumped = mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *dontdump = mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(dumped, 'd', REGION);
    memset(dontdump, 'n', REGION);

    int status = die_of(SIGABRT, 0, dumped, dontdump, 1);
    check(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "abort: killed by SIGABRT");
    check(WCOREDUMP(status), "abort: core dumped");
    struct stat st;
    check(stat("core", &st) == 0, "abort: the core file exists");
    check((st.st_mode & 0777) == (0600 & ~umask(022)), "abort: its mode is 0600 less the umask");
    char *core = read_file("core", &len);
    check(core && len > sizeof(Elf64_Ehdr) && memcmp(core, ELFMAG, SELFMAG) == 0, "abort: ELF");
    if (core && len > sizeof(Elf64_Ehdr)) {
        Elf64_Ehdr *eh = (Elf64_Ehdr *)core;
        check(eh->e_type == ET_CORE, "abort: ET_CORE");
#ifdef __x86_64__
        check(eh->e_machine == EM_X86_64, "abort: e_machine");
#else
        check(eh->e_machine == EM_AARCH64, "abort: e_machine");
#endif
        int sig = 0;
        long pid = prstatus_pid(core, len, &sig);
        check(pid == last_child && sig == SIGABRT, "abort: NT_PRSTATUS names the child and SIGABRT");
        Elf64_Phdr *ph = load_at(core, len, (unsigned long)dumped);
        check(ph && ph->p_filesz >= REGION && ph->p_offset + ph->p_filesz <= len,
              "abort: the MADV_DODUMP area is in the core");
        if (ph && ph->p_offset + ph->p_filesz <= len) {
            char *at = core + ph->p_offset + ((unsigned long)dumped - ph->p_vaddr);
            int same = 1;
            for (int i = 0; i < REGION; i++)
                same &= at[i] == 'd';
            check(same, "abort: with its contents");
        }
        ph = load_at(core, len, (unsigned long)dontdump);
        check(ph && ph->p_filesz == 0, "abort: the MADV_DONTDUMP area is left out");
    }
    free(core);
    unlink("core");

    /* waitid: CLD_DUMPED; a signal that does not dump: CLD_KILLED. */
    for (int i = 0; i < 2; i++) {
        int signal = i ? SIGTERM : SIGQUIT;
        pid_t pid = fork();
        if (pid == 0) {
            for (;;)
                pause();
        }
        usleep(20000);
        kill(pid, signal);
        siginfo_t info;
        memset(&info, 0, sizeof info);
        ok(waitid(P_PID, pid, &info, WEXITED), "waitid");
        check(info.si_status == signal, "waitid: si_status is the signal");
        check(info.si_code == (i ? CLD_KILLED : CLD_DUMPED), i ? "SIGTERM: CLD_KILLED" : "SIGQUIT: CLD_DUMPED");
        check((access("core", F_OK) == 0) == !i, i ? "SIGTERM: no core" : "SIGQUIT: a core");
        unlink("core");
    }

    /* Not dumpable: no core. */
    status = die_of(SIGSEGV, 0, NULL, NULL, 0);
    check(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV && !WCOREDUMP(status),
          "PR_SET_DUMPABLE 0: no core dumped");
    check(access("core", F_OK) != 0, "PR_SET_DUMPABLE 0: no file");

    /* A one-page limit: dumped, truncated to it. */
    rl.rlim_cur = 4096;
    setrlimit(RLIMIT_CORE, &rl);
    status = die_of(SIGBUS, 1, NULL, NULL, 1);
    check(WIFSIGNALED(status) && WCOREDUMP(status), "RLIMIT_CORE one page: core dumped");
    check(stat("core", &st) == 0 && st.st_size > 0 && st.st_size <= 4096,
          "RLIMIT_CORE one page: the file is truncated to it");
    unlink("core");

    /* No core below a page. */
    rl.rlim_cur = 0;
    setrlimit(RLIMIT_CORE, &rl);
    status = die_of(SIGFPE, 0, NULL, NULL, 1);
    check(WIFSIGNALED(status) && WTERMSIG(status) == SIGFPE && !WCOREDUMP(status),
          "RLIMIT_CORE 0: no core dumped");
    check(access("core", F_OK) != 0, "RLIMIT_CORE 0: no file");
    munmap(dumped, REGION);
    munmap(dontdump, REGION);
}

static void filters(void)
{
    size_t len;
    char *text = read_file("/proc/self/coredump_filter", &len);
    check(text && len == 9 && strncmp(text, "00000033\n", 9) == 0, "coredump_filter: 00000033");
    free(text);
    int fd = open("/proc/self/coredump_filter", O_WRONLY);
    ok(write(fd, "0x7ff\n", 6), "coredump_filter: write 0x7ff");
    close(fd);
    text = read_file("/proc/self/coredump_filter", &len);
    check(text && len == 9 && strncmp(text, "000001ff\n", 9) == 0, "coredump_filter: kept the filter bits");
    free(text);
    fd = open("/proc/self/coredump_filter", O_WRONLY);
    err(write(fd, "zz", 2), EINVAL, "coredump_filter: not a number");
    ok(write(fd, "0x23", 4), "coredump_filter: write 0x23");
    close(fd);
    int pipefd[2];
    pipe(pipefd);
    pid_t pid = fork();
    if (pid == 0) {
        text = read_file("/proc/self/coredump_filter", &len);
        write(pipefd[1], text, len);
        _exit(0);
    }
    char got[16] = "";
    read(pipefd[0], got, sizeof got - 1);
    waitpid(pid, NULL, 0);
    check(strcmp(got, "00000023\n") == 0, "coredump_filter: inherited at fork");
    fd = open("/proc/self/coredump_filter", O_WRONLY);
    write(fd, "33", 2);
    close(fd);
    close(pipefd[0]);
    close(pipefd[1]);
}

static volatile int xcpu_count;
static volatile long soft_after;

static void on_xcpu(int sig)
{
    (void)sig;
    struct rlimit rl;
    getrlimit(RLIMIT_CPU, &rl);
    if (!xcpu_count)
        soft_after = rl.rlim_cur;
    xcpu_count++;
}

static void cpu_limit(void)
{
    volatile int *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXCPU, on_xcpu);
        struct rlimit rl = {1, 2};
        setrlimit(RLIMIT_CPU, &rl);
        /* A backstop far beyond 2 s of CPU on a loaded machine. */
        alarm(120);
        for (;;) {
            shared[0] = xcpu_count;
            shared[1] = soft_after;
        }
    }
    int status;
    waitpid(pid, &status, 0);
    check(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "RLIMIT_CPU: SIGKILL at the hard limit");
    check(shared[0] >= 1, "RLIMIT_CPU: SIGXCPU at the soft limit");
    checkf(shared[1] == 2, "RLIMIT_CPU: the soft limit moved a second on", "%ld %ld", shared[1], 0);
    munmap((void *)shared, 4096);
}

/* Spins in syscalls for `ms` of wall time. */
static void kernel_work(int ms)
{
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do {
        for (int i = 0; i < 1000; i++)
            syscall(SYS_getppid);
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 < ms);
}

static void system_time(void)
{
    struct tms before, after;
    times(&before);
    kernel_work(500);
    times(&after);
    check(after.tms_stime > before.tms_stime, "times: system time grows in syscalls");
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    check(ru.ru_stime.tv_sec > 0 || ru.ru_stime.tv_usec > 0, "getrusage: ru_stime");
    getrusage(RUSAGE_THREAD, &ru);
    check(ru.ru_stime.tv_sec > 0 || ru.ru_stime.tv_usec > 0, "getrusage thread: ru_stime");
    pid_t pid = fork();
    if (pid == 0) {
        kernel_work(300);
        _exit(0);
    }
    struct rusage child;
    wait4(pid, NULL, 0, &child);
    check(child.ru_stime.tv_sec > 0 || child.ru_stime.tv_usec > 0, "wait4: the child's ru_stime");
    struct tms now;
    times(&now);
    check(now.tms_cstime > 0, "times: the children's system time");
}

static void zombie_state(void)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    char path[64], state = '?';
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    for (int i = 0; i < 2000 && state != 'Z'; i++) {
        FILE *f = fopen(path, "r");
        if (f) {
            if (fscanf(f, "%*[^)]%*c %c", &state) != 1)
                state = '?';
            fclose(f);
        }
        if (state != 'Z')
            usleep(1000);
    }
    check(state == 'Z', "/proc/<pid>/stat: a zombie is in state Z");
    waitpid(pid, NULL, 0);
    check(access(path, F_OK) != 0, "/proc/<pid>: gone once waited for");
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    /* Dispositions start at their defaults: a shell's background job
     * inherits SIGINT and SIGQUIT ignored, and a child that ignores the
     * SIGQUIT sent to kill it would never end. */
    for (int sig = 1; sig < 32; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            signal(sig, SIG_DFL);
    char dir[] = "/tmp/coredump-XXXXXX";
    if (!mkdtemp(dir) || chdir(dir) != 0) {
        printf("no temporary directory\n");
        return 1;
    }
    umask(022);
    core_files();
    filters();
    cpu_limit();
    system_time();
    zombie_state();
    chdir("/");
    rmdir(dir);
    return finish();
}
