/* What a container's first process finds about itself: ids, supplementary
 * groups, no_new_privs, effective capabilities (capget), the host name and
 * the nofile limit. rvisor-runtime's test compares it with runc's run. */
#include <stdio.h>
#include <stdint.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>

int main(void) {
    uid_t ruid, euid, suid;
    gid_t rgid, egid, sgid;
    getresuid(&ruid, &euid, &suid);
    getresgid(&rgid, &egid, &sgid);
    printf("uid %u %u %u\ngid %u %u %u\n", ruid, euid, suid, rgid, egid, sgid);
    printf("no_new_privs %d\n", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
    struct { uint32_t version; int pid; } header = { 0x20080522, 0 };
    struct { uint32_t effective, permitted, inheritable; } data[2] = {{0}};
    if (syscall(SYS_capget, &header, data) == 0)
        printf("cap_eff_zero %d\n", data[0].effective == 0 && data[1].effective == 0);
    struct utsname u;
    uname(&u);
    printf("nodename %s\n", u.nodename);
    struct rlimit nofile;
    getrlimit(RLIMIT_NOFILE, &nofile);
    printf("nofile %llu %llu\n", (unsigned long long)nofile.rlim_cur,
           (unsigned long long)nofile.rlim_max);
    return 0;
}
