/* pipes: capacity, EPIPE/SIGPIPE, O_NONBLOCK, poll/select/epoll (level,
 * edge, oneshot) on pipes and eventfd. */
#include "common.h"
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <sys/wait.h>

static volatile sig_atomic_t sigpipes;
static void on_pipe(int sig) { (void)sig; sigpipes++; }

static int ready(int ep) {
  struct epoll_event ev[4];
  return epoll_wait(ep, ev, 4, 0);
}

int main(void) {
  guest_init("pipes");
  int p[2];
  char buf[4096];
  memset(buf, 'p', sizeof buf);
  MUST(pipe2(p, O_NONBLOCK));
  OUT("F_GETPIPE_SZ = %d", fcntl(p[1], F_GETPIPE_SZ));
  long total = 0, n;
  while ((n = write(p[1], buf, sizeof buf)) > 0) total += n;
  OUT("non-blocking fill stops at %ld bytes with %s", total, errname(errno));
  struct pollfd pf = {p[1], POLLOUT, 0};
  OUT("poll POLLOUT on full pipe = %d", poll(&pf, 1, 0));
  while (read(p[0], buf, sizeof buf) > 0) {}
  RES("read of empty O_NONBLOCK pipe", read(p[0], buf, 1));
  RES("F_SETPIPE_SZ 131072", fcntl(p[1], F_SETPIPE_SZ, 131072));
  OUT("F_GETPIPE_SZ after set = %d", fcntl(p[1], F_GETPIPE_SZ));
  close(p[1]);
  OUT("read with no writers (EOF) = %ld", (long)read(p[0], buf, 1));
  pf = (struct pollfd){p[0], POLLIN, 0};
  int np = poll(&pf, 1, 0);
  OUT("poll on widowed read end = %d revents POLLHUP %s", np, pf.revents & POLLHUP ? "yes" : "no");
  close(p[0]);

  MUST(pipe(p));
  close(p[0]);
  pid_t pid = fork();
  MUST(pid);
  if (pid == 0) { (void)!write(p[1], "x", 1); _exit(0); }
  int st;
  MUST(waitpid(pid, &st, 0));
  OUT("write without reader, default SIGPIPE: child WIFSIGNALED %d WTERMSIG %d", WIFSIGNALED(st), WTERMSIG(st));
  signal(SIGPIPE, on_pipe);
  RES("write without reader, SIGPIPE handled", write(p[1], "x", 1));
  OUT("SIGPIPE handler ran %d time(s)", (int)sigpipes);
  signal(SIGPIPE, SIG_IGN);
  RES("write without reader, SIGPIPE ignored", write(p[1], "x", 1));
  close(p[1]);

  MUST(pipe(p));
  struct pollfd pfs[2] = {{p[0], POLLIN, 0}, {p[1], POLLOUT, 0}};
  np = poll(pfs, 2, 0);
  OUT("poll empty pipe: %d ready, read end revents %d, write end POLLOUT %s", np, pfs[0].revents,
      pfs[1].revents & POLLOUT ? "yes" : "no");
  OUT("poll timeout 10ms on empty pipe = %d", poll(pfs, 1, 10));
  MUST(write(p[1], "ab", 2));
  np = poll(pfs, 1, 0);
  OUT("poll after write: %d ready, POLLIN %s", np, pfs[0].revents & POLLIN ? "yes" : "no");
  fd_set rs, ws;
  FD_ZERO(&rs); FD_ZERO(&ws);
  FD_SET(p[0], &rs); FD_SET(p[1], &ws);
  struct timeval tv = {0, 0};
  np = select(p[1] + 1, &rs, &ws, NULL, &tv);
  OUT("select: %d ready, readable %s, writable %s", np, FD_ISSET(p[0], &rs) ? "yes" : "no",
      FD_ISSET(p[1], &ws) ? "yes" : "no");
  RES("select with nfds -1", select(-1, NULL, NULL, NULL, &tv));

  int ep = epoll_create1(EPOLL_CLOEXEC);
  MUST(ep);
  struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 7};
  RES("epoll_ctl ADD level-triggered", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
  RES("epoll_ctl ADD twice", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
  RES("epoll_ctl DEL of unregistered fd", epoll_ctl(ep, EPOLL_CTL_DEL, p[1], &ev));
  struct epoll_event out;
  int first = epoll_wait(ep, &out, 1, 0), second = ready(ep);
  OUT("epoll LT: wait = %d data %u, again without reading = %d", first, out.data.u32, second);
  MUST(read(p[0], buf, 2));
  OUT("epoll LT after draining = %d", ready(ep));
  ev.events = EPOLLIN | EPOLLET;
  RES("epoll_ctl MOD to edge-triggered", epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev));
  MUST(write(p[1], "a", 1));
  first = ready(ep);
  second = ready(ep);
  MUST(write(p[1], "b", 1));
  OUT("epoll ET: first = %d, again = %d, after new write = %d", first, second, ready(ep));
  MUST(read(p[0], buf, 2));
  ev.events = EPOLLIN | EPOLLONESHOT;
  MUST(epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev));
  MUST(write(p[1], "a", 1));
  first = ready(ep);
  MUST(write(p[1], "b", 1));
  second = ready(ep);
  MUST(epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev));
  OUT("EPOLLONESHOT: first = %d, again after write = %d, after rearm = %d", first, second, ready(ep));
  MUST(read(p[0], buf, 2));
  close(p[1]);
  ev.events = EPOLLIN;
  MUST(epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev));
  epoll_wait(ep, &out, 1, 0);
  OUT("epoll after writer closed: EPOLLHUP %s", out.events & EPOLLHUP ? "yes" : "no");
  close(p[0]);
  OUT("closed fd leaves the epoll set: ready = %d", ready(ep));
  int reg = open("/etc/passwd", O_RDONLY);
  RES("epoll_ctl ADD of a regular file", epoll_ctl(ep, EPOLL_CTL_ADD, reg, &ev));
  close(reg);

  int efd = eventfd(0, EFD_NONBLOCK);
  MUST(efd);
  uint64_t v = 0;
  RES("eventfd read when zero", read(efd, &v, sizeof v));
  ev.events = EPOLLIN | EPOLLET;
  ev.data.u32 = 9;
  MUST(epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev));
  OUT("eventfd epoll ET before write = %d", ready(ep));
  v = 3; MUST(write(efd, &v, sizeof v));
  v = 4; MUST(write(efd, &v, sizeof v));
  first = ready(ep);
  second = ready(ep);
  OUT("eventfd epoll ET after writes = %d, again = %d", first, second);
  MUST(read(efd, &v, sizeof v));
  OUT("eventfd read sums writes = %llu", (unsigned long long)v);
  v = UINT64_MAX;
  RES("eventfd write of 2^64-1", write(efd, &v, sizeof v));
  RES("eventfd short write", write(efd, &v, 4));
  close(efd);
  efd = eventfd(2, EFD_SEMAPHORE | EFD_NONBLOCK);
  uint64_t r1 = 0, r2 = 0;
  MUST(read(efd, &r1, 8));
  MUST(read(efd, &r2, 8));
  OUT("EFD_SEMAPHORE reads %llu, %llu, then %s", (unsigned long long)r1, (unsigned long long)r2,
      read(efd, &v, 8) == -1 ? errname(errno) : "data");
  close(efd);
  close(ep);
  DONE();
}
