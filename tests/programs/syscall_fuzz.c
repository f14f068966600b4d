#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/mman.h>
static char *scratch;
static unsigned long long s = 88172645463325252ULL;
static long last_nr;
static unsigned long long rnd(void) { s ^= s << 13; s ^= s >> 7; s ^= s << 17; return s; }
static long arg(void) {
  switch (rnd() % 6) { case 0: return 0; case 1: return -1; case 2: return rnd(); case 3: return rnd() & 0xfff;
  case 4: return 0xffff800000000000UL + (rnd() & 0xffff); default: return (long)scratch + (rnd() & 0x7ff); }
}
int main(int argc, char **argv) {
  if (argc > 2) { printf("%ld\n", last_nr); }
  char *region = mmap(0, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  mprotect(region, 4096, PROT_NONE); mprotect(region + 8192, 4096, PROT_NONE);
  scratch = region + 4096;
  int rounds = argc > 1 ? atoi(argv[1]) : 200;
  long count = 0;
  for (int r = 0; r < rounds; r++)
    for (long nr = 0; nr < 460; nr++) {
      if (nr == SYS_exit || nr == SYS_exit_group || nr == SYS_poll || nr == SYS_ppoll || nr == SYS_read || nr == SYS_readv || nr == SYS_pause
          || nr == SYS_munmap || nr == SYS_mprotect || nr == SYS_mmap || nr == SYS_brk || nr == SYS_rt_sigreturn || nr == SYS_arch_prctl
          || nr == SYS_fork || nr == SYS_vfork || nr == SYS_clone || nr == SYS_kill || nr == SYS_tkill || nr == SYS_tgkill || nr == SYS_execve
          || nr == SYS_nanosleep || nr == SYS_clock_nanosleep || nr == SYS_select || nr == SYS_pselect6 || nr == SYS_epoll_wait || nr == SYS_epoll_pwait
          || nr == SYS_wait4 || nr == SYS_waitid || nr == SYS_rt_sigsuspend || nr == SYS_rt_sigtimedwait || nr == SYS_futex || nr == SYS_reboot
          || nr == SYS_dup2 || nr == SYS_dup3 || nr == SYS_close || nr == SYS_sigaltstack || nr == SYS_rt_sigprocmask || nr == SYS_rt_sigaction || nr == SYS_madvise)
        continue;
      last_nr = nr; syscall(nr, arg(), arg(), arg(), arg(), arg(), arg());
      count++;
    }
  printf("survived %ld syscalls\n", count);
  return 0;
}
