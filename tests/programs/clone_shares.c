/* clone's sharing combinations beyond fork and pthreads: CLONE_VM without
 * CLONE_VFORK (a child running on its own stack in the parent's memory),
 * CLONE_FILES alone, CLONE_FS alone, clone3 for a process and for a
 * thread. Compared with the native run. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "abi_check.h"

static volatile int shared_word;
static int child_fd = -1;
static char child_stack[64 * 1024] __attribute__((aligned(16)));

static int vm_child(void *arg)
{
    (void)arg;
    shared_word = 42;
    return 7;
}

static int files_child(void *arg)
{
    child_fd = open((const char *)arg, O_RDONLY | O_DIRECTORY);
    return child_fd >= 0 ? 0 : 1;
}

static int fs_child(void *arg)
{
    return chdir((const char *)arg) == 0 ? 0 : 1;
}

/* A thread with its own descriptor table and working directory. */
static int private_thread(void *arg)
{
    int fd = syscall(SYS_open, "/", O_RDONLY | O_DIRECTORY);
    int r = syscall(SYS_chdir, (const char *)arg);
    return fd >= 0 && r == 0 ? 0 : 1;
}

static pid_t run(int (*fn)(void *), int flags, void *arg)
{
    return clone(fn, child_stack + sizeof child_stack, flags | SIGCHLD, arg);
}

struct clone_args_v0 {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    mkdir(dir, 0755);
    int status;

    pid_t p = run(vm_child, CLONE_VM, NULL);
    ok(p, "clone(CLONE_VM) without CLONE_VFORK");
    waitpid(p, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 7, "CLONE_VM child exits 7");
    check(shared_word == 42, "the CLONE_VM child's write is in the parent's memory");

    p = run(files_child, CLONE_FILES, (void *)dir);
    ok(p, "clone(CLONE_FILES)");
    waitpid(p, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "CLONE_FILES child opened a file");
    /* child_fd was written in the child's (copied) memory: find the fd by
     * trying the lowest free one the child would have taken. */
    int probe = dup(0);
    close(probe);
    struct stat st;
    int shared_fd = probe - 1;
    check(fstat(shared_fd, &st) == 0 && S_ISDIR(st.st_mode),
          "the CLONE_FILES child's descriptor is open in the parent");

    char before[512], after[512];
    getcwd(before, sizeof before);
    p = run(fs_child, CLONE_FS, (void *)dir);
    ok(p, "clone(CLONE_FS)");
    waitpid(p, &status, 0);
    getcwd(after, sizeof after);
    check(strcmp(before, after) != 0, "the CLONE_FS child's chdir moved the parent too");
    chdir(before);

    p = run(fs_child, 0, (void *)dir);
    waitpid(p, &status, 0);
    getcwd(after, sizeof after);
    check(strcmp(before, after) == 0, "without CLONE_FS the parent stays");

    /* CLONE_THREAD without CLONE_FILES and CLONE_FS: copies, which the
     * thread changes alone (its exit signal is ignored). */
    static volatile pid_t thread_tid;
    int next_fd = dup(0);
    close(next_fd);
    pid_t t = clone(private_thread, child_stack + sizeof child_stack,
                    CLONE_VM | CLONE_SIGHAND | CLONE_THREAD | CLONE_PARENT_SETTID |
                        CLONE_CHILD_CLEARTID | SIGCHLD,
                    (void *)dir, &thread_tid, NULL, &thread_tid);
    ok(t, "a thread with its own files and fs context");
    while (t > 0 && thread_tid != 0)
        syscall(SYS_futex, &thread_tid, 0 /* FUTEX_WAIT */, thread_tid, NULL);
    err(fcntl(next_fd, F_GETFD), EBADF, "its open is not in the process's table");
    getcwd(after, sizeof after);
    check(strcmp(before, after) == 0, "its chdir is its own");

    struct clone_args_v0 args = { .exit_signal = SIGCHLD };
    long r = syscall(SYS_clone3, &args, sizeof args);
    if (r == 0)
        _exit(5);
    ok(r, "clone3 as fork");
    waitpid((pid_t)r, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 5, "clone3 child exits 5");

    struct clone_args_v0 bad = { .flags = SIGCHLD };
    r = syscall(SYS_clone3, &bad, sizeof bad);
    err(r, EINVAL, "clone3 with a signal in flags");
    r = syscall(SYS_clone3, &args, 8);
    err(r, EINVAL, "clone3 with a short struct");
    return finish();
}
