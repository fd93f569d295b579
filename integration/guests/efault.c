/* efault: bad user pointers and bad lengths. Each call must fail with the
 * errno Linux gives, never crash the program. Raw syscall(2) is used
 * throughout: libc may touch the memory itself (vDSO clocks, sigaction) or
 * validate arguments before the kernel sees them. */
#include "common.h"
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>

#define BAD ((long)16) /* below mmap_min_addr: never mapped */
#define SYS(...) syscall(__VA_ARGS__)

/* An unterminated path running into an unmapped page. */
static long open_unterminated(void) {
  long pg = sysconf(_SC_PAGESIZE);
  char *m = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  MUST(m);
  MUST(munmap(m + pg, pg));
  memset(m, 'a', pg);
  return SYS(SYS_open, m + pg - 10, O_RDONLY);
}

int main(void) {
  guest_init("efault");
  char buf[64];
  int fd = open("/etc/passwd", O_RDONLY);
  MUST(fd);
  int dir = open("/", O_RDONLY | O_DIRECTORY);
  MUST(dir);
  int p[2];
  MUST(pipe(p));

  RES("read into bad buffer", SYS(SYS_read, fd, BAD, 10));
  RES("write from bad buffer", SYS(SYS_write, p[1], BAD, 10));
  OUT("write of 0 bytes from bad buffer = %ld", SYS(SYS_write, p[1], BAD, 0));
  RES("stat with bad path", SYS(SYS_stat, BAD, buf));
  RES("stat with bad statbuf", SYS(SYS_stat, "/", BAD));
  RES("fstat with bad statbuf", SYS(SYS_fstat, fd, BAD));
  RES("open with bad path", SYS(SYS_open, BAD, O_RDONLY));
  RES("open with unterminated path at end of mapping", open_unterminated());
  RES("getcwd into bad buffer", SYS(SYS_getcwd, BAD, 100));
  RES("getcwd with size 1", SYS(SYS_getcwd, buf, 1));
  RES("clock_gettime into bad timespec", SYS(SYS_clock_gettime, CLOCK_MONOTONIC, BAD));
  RES("gettimeofday into bad timeval", SYS(SYS_gettimeofday, BAD, 0));
  RES("pipe into bad array", SYS(SYS_pipe, BAD));
  RES("uname into bad buffer", SYS(SYS_uname, BAD));
  RES("rt_sigaction with bad act", SYS(SYS_rt_sigaction, SIGUSR1, BAD, 0, 8));
  RES("rt_sigaction with bad oldact", SYS(SYS_rt_sigaction, SIGUSR1, 0, BAD, 8));
  RES("rt_sigaction with sigsetsize 4", SYS(SYS_rt_sigaction, SIGUSR1, 0, buf, 4));
  RES("rt_sigprocmask with bad set", SYS(SYS_rt_sigprocmask, SIG_BLOCK, BAD, 0, 8));

  struct iovec one = {(void *)BAD, 8};
  RES("readv with bad iov base", SYS(SYS_readv, fd, &one, 1));
  struct iovec two[2] = {{buf, 4}, {(void *)BAD, 4}};
  MUST(lseek(fd, 0, SEEK_SET));
  OUT("readv with bad second iov base = %ld (partial read)", SYS(SYS_readv, fd, two, 2));
  RES("readv with bad iov array", SYS(SYS_readv, fd, BAD, 2));
  RES("readv with iovcnt -1", SYS(SYS_readv, fd, two, -1));
  RES("readv with iovcnt IOV_MAX+1", SYS(SYS_readv, fd, two, IOV_MAX + 1));
  struct iovec neg = {buf, (size_t)-1};
  RES("readv with iov_len -1", SYS(SYS_readv, fd, &neg, 1));
  RES("read with count -1", SYS(SYS_read, fd, buf, -1L));
  RES("pread with offset -1", SYS(SYS_pread64, fd, buf, 4, -1L));
  RES("mmap with length -4096", SYS(SYS_mmap, 0, -4096L, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  RES("poll with bad fds", SYS(SYS_poll, BAD, 1, 0));
  RES("poll with nfds above RLIMIT_NOFILE", SYS(SYS_poll, 0, 1L << 20, 0));
  fd_set rs;
  FD_ZERO(&rs);
  struct timeval tv = {0, 0};
  RES("select with nfds -1", SYS(SYS_select, -1, &rs, 0, 0, &tv));
  RES("select with bad fd_set", SYS(SYS_select, 1, BAD, 0, 0, &tv));
  RES("nanosleep with bad timespec", SYS(SYS_nanosleep, BAD, 0));
  struct timespec badns = {0, -1};
  RES("nanosleep with tv_nsec -1", SYS(SYS_nanosleep, &badns, 0));
  RES("getdents64 into bad buffer", SYS(SYS_getdents64, dir, BAD, 4096));
  int s = socket(AF_UNIX, SOCK_STREAM, 0);
  RES("connect with bad address", SYS(SYS_connect, s, BAD, sizeof(struct sockaddr_un)));
  RES("connect with addrlen -1", SYS(SYS_connect, s, buf, -1));
  RES("lseek with bad whence", SYS(SYS_lseek, fd, 0, 42));
  RES("write to read-only fd", SYS(SYS_write, fd, "x", 1));
  RES("read from write end of pipe", SYS(SYS_read, p[1], buf, 1));
  RES("kill with signal 99", SYS(SYS_kill, getpid(), 99));
  OUT("still running after all bad calls");
  DONE();
}
