/* System V IPC (message queues, semaphores, shared memory) between
 * processes, /proc/sysvipc, the limits under /proc/sys/kernel (written in
 * a new IPC namespace, so that the native run leaves the host's alone) and
 * the checkpoint/restore *_next_id and MSG_COPY, and capability sets
 * (capget/capset, and how setuid changes them). Prints one line per
 * check; compared with a native run. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "abi_check.h"

#ifndef MSG_COPY
#define MSG_COPY 040000
#endif

struct msg {
    long type;
    char text[64];
};

/* <linux/capability.h> (not in musl's headers). */
#define CAP_VERSION_3 0x20080522
#define CAP_SETUID 7
struct cap_header {
    unsigned version;
    int pid;
};
struct cap_data {
    unsigned effective, permitted, inheritable;
};

union semun {
    int val;
    struct semid_ds *buf;
    unsigned short *array;
};

static void messages(void)
{
    int q = ok(msgget(IPC_PRIVATE, IPC_CREAT | 0600), "msgget");
    struct msg m = {2, "two"};
    ok(msgsnd(q, &m, 4, 0), "msgsnd type 2");
    m.type = 1;
    strcpy(m.text, "one");
    ok(msgsnd(q, &m, 4, 0), "msgsnd type 1");
    ok(msgsnd(q, &m, 4, 0), "msgsnd type 1 again");
    struct msqid_ds ds;
    ok(msgctl(q, IPC_STAT, &ds), "msgctl IPC_STAT");
    checkf(ds.msg_qnum == 3, "three messages queued", "%ld %ld", (long)ds.msg_qnum, 3);
    checkf(ds.msg_cbytes == 12, "twelve bytes queued", "%ld %ld", (long)ds.msg_cbytes, 12);
    struct msg r;
    checkf(msgrcv(q, &r, sizeof r.text, 1, 0) == 4 && !strcmp(r.text, "one"),
           "msgrcv by type", "%ld %ld", r.type, 1);
    checkf(msgrcv(q, &r, sizeof r.text, 0, 0) == 4 && r.type == 2, "msgrcv first", "%ld %ld", r.type, 2);
    err(msgrcv(q, &r, 2, 0, IPC_NOWAIT), E2BIG, "msgrcv too small");
    checkf(msgrcv(q, &r, 2, 0, MSG_NOERROR) == 2, "msgrcv MSG_NOERROR truncates", "%ld %ld", 0, 0);
    err(msgrcv(q, &r, sizeof r.text, 0, IPC_NOWAIT), ENOMSG, "msgrcv empty IPC_NOWAIT");
    m.type = 0;
    err(msgsnd(q, &m, 4, 0), EINVAL, "msgsnd type 0");
    /* A child blocks until the parent sends. */
    pid_t child = fork();
    if (child == 0) {
        struct msg c;
        long n = msgrcv(q, &c, sizeof c.text, 7, 0);
        _exit(n == 5 && !strcmp(c.text, "late") ? 0 : 1);
    }
    usleep(50000);
    m.type = 7;
    strcpy(m.text, "late");
    ok(msgsnd(q, &m, 5, 0), "msgsnd to a waiting child");
    int status;
    waitpid(child, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child received it");
    ok(msgctl(q, IPC_RMID, NULL), "msgctl IPC_RMID");
    err(msgsnd(q, &m, 5, 0), EINVAL, "msgsnd after removal");
    err(msgget(0x7e570001, 0), ENOENT, "msgget missing key");
    int k = ok(msgget(0x7e570001, IPC_CREAT | 0600), "msgget key");
    err(msgget(0x7e570001, IPC_CREAT | IPC_EXCL | 0600), EEXIST, "msgget IPC_EXCL");
    check(msgget(0x7e570001, 0) == k, "msgget finds the key");
    msgctl(k, IPC_RMID, NULL);
}

static void semaphores(void)
{
    int s = ok(semget(IPC_PRIVATE, 3, IPC_CREAT | 0600), "semget");
    union semun a;
    a.val = 2;
    ok(semctl(s, 1, SETVAL, a), "semctl SETVAL");
    checkf(semctl(s, 1, GETVAL) == 2, "semctl GETVAL", "%ld %ld", (long)semctl(s, 1, GETVAL), 2);
    struct sembuf op = {1, -2, IPC_NOWAIT};
    ok(semop(s, &op, 1), "semop take 2");
    err(semop(s, &op, 1), EAGAIN, "semop would block");
    struct sembuf big = {5, 1, 0};
    err(semop(s, &big, 1), EFBIG, "semop bad index");
    a.val = 40000;
    err(semctl(s, 0, SETVAL, a), ERANGE, "semctl SETVAL too big");
    unsigned short all[3] = {1, 2, 3}, got[3] = {0};
    a.array = all;
    ok(semctl(s, 0, SETALL, a), "semctl SETALL");
    a.array = got;
    ok(semctl(s, 0, GETALL, a), "semctl GETALL");
    check(got[0] == 1 && got[1] == 2 && got[2] == 3, "GETALL values");
    /* A child waits for semaphore 0 to reach zero. */
    pid_t child = fork();
    if (child == 0) {
        struct sembuf z = {0, 0, 0};
        _exit(semop(s, &z, 1) == 0 ? 0 : 1);
    }
    usleep(50000);
    checkf(semctl(s, 0, GETZCNT) == 1, "one waiting for zero", "%ld %ld", (long)semctl(s, 0, GETZCNT), 1);
    struct sembuf dec = {0, -1, 0};
    ok(semop(s, &dec, 1), "semop to zero");
    int status;
    waitpid(child, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "waiter woke");
    /* SEM_UNDO is undone when the process exits. */
    child = fork();
    if (child == 0) {
        struct sembuf u = {2, 4, SEM_UNDO};
        _exit(semop(s, &u, 1) == 0 ? 0 : 1);
    }
    waitpid(child, &status, 0);
    checkf(semctl(s, 2, GETVAL) == 3, "SEM_UNDO undone at exit", "%ld %ld", (long)semctl(s, 2, GETVAL), 3);
    ok(semctl(s, 0, IPC_RMID), "semctl IPC_RMID");
    err(semctl(s, 0, GETVAL), EINVAL, "GETVAL after removal");
}

static void shared_memory(void)
{
    int m = ok(shmget(IPC_PRIVATE, 10000, IPC_CREAT | 0600), "shmget");
    char *p = shmat(m, NULL, 0);
    check(p != (void *)-1, "shmat");
    strcpy(p, "parent");
    struct shmid_ds ds;
    ok(shmctl(m, IPC_STAT, &ds), "shmctl IPC_STAT");
    checkf(ds.shm_segsz == 10000 && ds.shm_nattch == 1, "size and one attachment", "%ld %ld",
           (long)ds.shm_segsz, (long)ds.shm_nattch);
    pid_t child = fork();
    if (child == 0) {
        struct shmid_ds c;
        shmctl(m, IPC_STAT, &c);
        int good = c.shm_nattch == 2 && !strcmp(p, "parent");
        strcpy(p + 5000, "child");
        _exit(good ? 0 : 1);
    }
    int status;
    waitpid(child, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child shares the segment");
    check(!strcmp(p + 5000, "child"), "child's write seen");
    char *q = shmat(m, NULL, SHM_RDONLY);
    check(q != (void *)-1 && !strcmp(q, "parent"), "second read-only attachment");
    ok(shmctl(m, IPC_STAT, &ds), "shmctl IPC_STAT again");
    checkf(ds.shm_nattch == 2, "two attachments", "%ld %ld", (long)ds.shm_nattch, 2);
    ok(shmdt(q), "shmdt");
    err(shmdt(q), EINVAL, "shmdt twice");
    ok(shmctl(m, IPC_RMID, NULL), "shmctl IPC_RMID while attached");
    check(!strcmp(p, "parent"), "still mapped after IPC_RMID");
    ok(shmdt(p), "last shmdt");
    err(shmctl(m, IPC_STAT, &ds), EINVAL, "gone after the last detach");
    err(shmget(IPC_PRIVATE, 0, IPC_CREAT | 0600), EINVAL, "shmget size 0");
}

static void proc_sysvipc(void)
{
    int q = msgget(IPC_PRIVATE, IPC_CREAT | 0640);
    char buf[4096];
    int fd = ok(open("/proc/sysvipc/msg", O_RDONLY), "open /proc/sysvipc/msg");
    long n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    char want[64];
    snprintf(want, sizeof want, " %d   640 ", q);
    check(strstr(buf, want) != NULL, "queue listed with its mode");
    msgctl(q, IPC_RMID, NULL);
}

/* Writes `text` to /proc/sys/kernel/<name>: 0 or the errno. */
static int put(const char *name, const char *text)
{
    char path[128];
    snprintf(path, sizeof path, "/proc/sys/kernel/%s", name);
    int fd = open(path, O_WRONLY);
    if (fd < 0)
        return errno;
    int r = write(fd, text, strlen(text)) < 0 ? errno : 0;
    close(fd);
    return r;
}

/* The contents of /proc/sys/kernel/<name>, without the newline. */
static const char *get(const char *name)
{
    static char buf[128];
    char path[128];
    snprintf(path, sizeof path, "/proc/sys/kernel/%s", name);
    int fd = open(path, O_RDONLY);
    long n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
    if (fd >= 0)
        close(fd);
    buf[n > 0 ? n : 0] = 0;
    if (n > 0 && buf[n - 1] == '\n')
        buf[n - 1] = 0;
    return buf;
}

static void put_ok(const char *name, const char *text)
{
    int e = put(name, text);
    char what[128];
    snprintf(what, sizeof what, "write %s=%s", name, text);
    if (e == 0) {
        printf("%s: ok\n", what);
    } else {
        printf("%s: FAIL %s\n", what, ename(e));
        failures++;
    }
}

static void put_err(const char *name, const char *text, int want)
{
    char what[128];
    snprintf(what, sizeof what, "write %s=%s", name, text);
    errno = put(name, text);
    err(errno ? -1 : 0, want, what);
}

static void show(const char *name)
{
    printf("%s = %s\n", name, get(name));
}

/* The limits of a new IPC namespace, as root sets them; what each call
 * then says. Run in a child that unshared CLONE_NEWIPC. */
static void limits(void)
{
    int q[4];
    /* msgmni: the number of queues. */
    put_ok("msgmni", "3");
    show("msgmni");
    for (int i = 0; i < 3; i++)
        q[i] = ok(msgget(IPC_PRIVATE, IPC_CREAT | 0600), "msgget under msgmni");
    err(msgget(IPC_PRIVATE, IPC_CREAT | 0600), ENOSPC, "msgget past msgmni");
    err(msgget(0x7e570002, IPC_CREAT | IPC_EXCL | 0600), ENOSPC, "msgget by key past msgmni");
    struct msginfo mi;
    msgctl(0, IPC_INFO, (struct msqid_ds *)&mi);
    checkf(mi.msgmni == 3, "IPC_INFO msgmni", "%ld %ld", (long)mi.msgmni, 3);
    /* msgmax: the largest message; msgmnb: a new queue's msg_qbytes. */
    put_ok("msgmax", "100");
    put_ok("msgmnb", "300");
    struct { long type; char text[200]; } m = {1, "x"};
    err(msgsnd(q[0], &m, 101, 0), EINVAL, "msgsnd above msgmax");
    ok(msgsnd(q[0], &m, 100, 0), "msgsnd at msgmax");
    msgctl(q[0], IPC_RMID, NULL);
    q[0] = ok(msgget(IPC_PRIVATE, IPC_CREAT | 0600), "msgget after a removal");
    struct msqid_ds ds;
    msgctl(q[0], IPC_STAT, &ds);
    checkf(ds.msg_qbytes == 300, "new queue's msg_qbytes is msgmnb", "%ld %ld", (long)ds.msg_qbytes, 300);
    msgctl(0, IPC_INFO, (struct msqid_ds *)&mi);
    checkf(mi.msgmax == 100 && mi.msgmnb == 300, "IPC_INFO msgmax msgmnb", "%ld %ld", (long)mi.msgmax,
           (long)mi.msgmnb);
    /* MSG_COPY: a copy of the n-th message, which stays queued. */
    ok(msgsnd(q[0], &m, 7, 0), "msgsnd a first");
    ok(msgsnd(q[0], &m, 5, 0), "msgsnd a second");
    struct { long type; char text[200]; } r;
    checkf(msgrcv(q[0], &r, sizeof r.text, 1, MSG_COPY | IPC_NOWAIT) == 5, "MSG_COPY of the second",
           "%ld %ld", 0, 5);
    err(msgrcv(q[0], &r, sizeof r.text, 2, MSG_COPY | IPC_NOWAIT), ENOMSG, "MSG_COPY past the end");
    err(msgrcv(q[0], &r, sizeof r.text, 0, MSG_COPY), EINVAL, "MSG_COPY without IPC_NOWAIT");
    err(msgrcv(q[0], &r, sizeof r.text, 0, MSG_COPY | IPC_NOWAIT | MSG_EXCEPT), EINVAL,
        "MSG_COPY with MSG_EXCEPT");
    msgctl(q[0], IPC_STAT, &ds);
    checkf(ds.msg_qnum == 2, "MSG_COPY leaves the messages", "%ld %ld", (long)ds.msg_qnum, 2);
    for (int i = 0; i < 3; i++)
        msgctl(q[i], IPC_RMID, NULL);
    /* Bad values. */
    put_err("msgmni", "32769", EINVAL);
    put_err("msgmni", "-1", EINVAL);
    put_err("msgmax", "12abc", EINVAL);
    put_err("shmmax", "-1", EINVAL);
    show("msgmni");

    /* shmmax, shmall (pages), shmmni. */
    put_ok("shmmax", "8192");
    err(shmget(IPC_PRIVATE, 8193, IPC_CREAT | 0600), EINVAL, "shmget above shmmax");
    int s1 = ok(shmget(IPC_PRIVATE, 8192, IPC_CREAT | 0600), "shmget at shmmax");
    put_ok("shmall", "3");
    err(shmget(IPC_PRIVATE, 8192, IPC_CREAT | 0600), ENOSPC, "shmget past shmall");
    int s2 = ok(shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600), "shmget within shmall");
    put_ok("shmall", "100");
    put_ok("shmmni", "2");
    err(shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600), ENOSPC, "shmget past shmmni");
    struct shminfo si;
    shmctl(0, IPC_INFO, (struct shmid_ds *)&si);
    checkf(si.shmmax == 8192 && si.shmall == 100 && si.shmmni == 2, "IPC_INFO shm limits", "%ld %ld",
           (long)si.shmmax, (long)si.shmmni);
    shmctl(s1, IPC_RMID, NULL);
    shmctl(s2, IPC_RMID, NULL);
    show("shmmax");
    show("shmall");
    show("shmmni");

    /* sem: semmsl semmns semopm semmni. */
    put_ok("sem", "5 8 2 2");
    show("sem");
    err(semget(IPC_PRIVATE, 6, IPC_CREAT | 0600), EINVAL, "semget above semmsl");
    int a = ok(semget(IPC_PRIVATE, 5, IPC_CREAT | 0600), "semget at semmsl");
    err(semget(IPC_PRIVATE, 4, IPC_CREAT | 0600), ENOSPC, "semget past semmns");
    int b = ok(semget(IPC_PRIVATE, 3, IPC_CREAT | 0600), "semget within semmns");
    put_ok("sem", "5 100 2 2");
    err(semget(IPC_PRIVATE, 1, IPC_CREAT | 0600), ENOSPC, "semget past semmni");
    struct sembuf ops[3] = {{0, 1, 0}, {1, 1, 0}, {2, 1, 0}};
    err(semop(a, ops, 3), E2BIG, "semop past semopm");
    ok(semop(a, ops, 2), "semop at semopm");
    put_err("sem", "5 100 2 40000", ERANGE);
    show("sem");
    put_ok("sem", "7 9");
    show("sem");
    semctl(a, 0, IPC_RMID);
    semctl(b, 0, IPC_RMID);

    /* *_next_id: the next new object's id, used up by it. */
    struct stat st;
    stat("/proc/sys/kernel/msg_next_id", &st);
    printf("msg_next_id mode %o\n", st.st_mode & 07777);
    show("msg_next_id");
    put_ok("msg_next_id", "4242");
    show("msg_next_id");
    int n = ok(msgget(0x7e570003, IPC_CREAT | 0600), "msgget with msg_next_id");
    checkf(n == 4242, "the queue's id", "%ld %ld", n, 4242);
    show("msg_next_id");
    put_ok("msg_next_id", "4242");
    int n2 = ok(msgget(IPC_PRIVATE, IPC_CREAT | 0600), "msgget with a taken msg_next_id");
    checkf(n2 == 4243, "the next free index", "%ld %ld", n2, 4243);
    put_ok("msg_next_id", "98304");
    int n3 = ok(msgget(IPC_PRIVATE, IPC_CREAT | 0600), "msgget with a sequence number");
    checkf(n3 == 98304, "id from msg_next_id's sequence", "%ld %ld", n3, 98304);
    put_err("msg_next_id", "-1", EINVAL);
    msgctl(n, IPC_RMID, NULL);
    msgctl(n2, IPC_RMID, NULL);
    msgctl(n3, IPC_RMID, NULL);
    put_ok("shm_next_id", "777");
    int sh = ok(shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600), "shmget with shm_next_id");
    checkf(sh == 777, "the segment's id", "%ld %ld", sh, 777);
    shmctl(sh, IPC_RMID, NULL);
    show("shm_next_id");
    put_ok("sem_next_id", "99");
    int se = ok(semget(IPC_PRIVATE, 1, IPC_CREAT | 0600), "semget with sem_next_id");
    checkf(se == 99, "the set's id", "%ld %ld", se, 99);
    semctl(se, 0, IPC_RMID);
    show("sem_next_id");

    /* Only root writes them. */
    pid_t child = fork();
    if (child == 0) {
        if (setuid(65534))
            _exit(1);
        _exit(put("msgmni", "5") == EACCES && put("msg_next_id", "5") == EACCES ? 0 : 2);
    }
    int status;
    waitpid(child, &status, 0);
    checkf(WIFEXITED(status) && WEXITSTATUS(status) == 0, "others may not write", "%ld %ld",
           (long)WEXITSTATUS(status), 0);
}

static void ipc_limits(void)
{
    pid_t child = fork();
    if (child == 0) {
        if (syscall(SYS_unshare, 0x08000000 /* CLONE_NEWIPC */)) {
            printf("unshare CLONE_NEWIPC: FAIL %s\n", ename(errno));
            _exit(100);
        }
        limits();
        _exit(failures);
    }
    int status;
    waitpid(child, &status, 0);
    checkf(WIFEXITED(status) && WEXITSTATUS(status) == 0, "limits in a new IPC namespace", "%ld %ld",
           (long)WEXITSTATUS(status), 0);
}

static void capabilities(void)
{
    struct cap_header h = {CAP_VERSION_3, 0};
    struct cap_data d[2];
    ok(syscall(SYS_capget, &h, d), "capget");
    check((d[0].effective & (1u << CAP_SETUID)) != 0, "root has CAP_SETUID");
    pid_t child = fork();
    if (child == 0) {
        /* Drop CAP_SETUID from the effective set, then try to set it back
         * in permitted after dropping it there too. */
        d[0].effective &= ~(1u << CAP_SETUID);
        if (syscall(SYS_capset, &h, d))
            _exit(1);
        struct cap_data e[2];
        syscall(SYS_capget, &h, e);
        if (e[0].effective & (1u << CAP_SETUID))
            _exit(2);
        d[0].permitted &= ~(1u << CAP_SETUID);
        if (syscall(SYS_capset, &h, d))
            _exit(3);
        d[0].permitted |= 1u << CAP_SETUID;
        if (syscall(SYS_capset, &h, d) == 0 || errno != EPERM)
            _exit(4);
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    checkf(WIFEXITED(status) && WEXITSTATUS(status) == 0, "capset rules", "%ld %ld",
           (long)WEXITSTATUS(status), 0);
    child = fork();
    if (child == 0) {
        /* Leaving uid 0 clears the sets. */
        struct cap_data e[2];
        if (setuid(65534))
            _exit(5);
        syscall(SYS_capget, &h, e);
        _exit(e[0].effective || e[0].permitted ? 6 : 0);
    }
    waitpid(child, &status, 0);
    checkf(WIFEXITED(status) && WEXITSTATUS(status) == 0, "setuid clears capabilities", "%ld %ld",
           (long)WEXITSTATUS(status), 0);
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    messages();
    semaphores();
    shared_memory();
    proc_sysvipc();
    ipc_limits();
    capabilities();
    return finish();
}
