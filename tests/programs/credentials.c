/* credentials: the uid/gid rules of setres*id, set*id and setre*id, run as
 * root (the sandbox always starts as root; the native comparison needs a root
 * test run, as in CI). */
#define _GNU_SOURCE
#include <stdio.h>
#include <unistd.h>
#include <errno.h>
int main() {
  uid_t r, e, s;
  printf("setresuid %d\n", setresuid(-1, 1000, -1)); getresuid(&r,&e,&s); printf("%d %d %d\n", r, e, s);
  printf("setuid back to 0: %d\n", setuid(0)); getresuid(&r,&e,&s); printf("%d %d %d\n", r, e, s);
  printf("setreuid %d\n", setreuid(5, 6)); getresuid(&r,&e,&s); printf("%d %d %d\n", r, e, s);
  printf("setuid 7 (unpriv): %d errno %d\n", setuid(7), errno);
  printf("setuid 5: %d\n", setuid(5)); getresuid(&r,&e,&s); printf("%d %d %d uid=%d euid=%d\n", r, e, s, getuid(), geteuid());
  gid_t g1,g2,g3; printf("setgid(3) %d\n", setgid(3)); getresgid(&g1,&g2,&g3); printf("%d %d %d\n", g1,g2,g3);
  return 0;
}
