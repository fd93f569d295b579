/* signals: sigaction SA_SIGINFO, kill/sigqueue self, masks and pending,
 * sigsuspend, sigaltstack, SA_RESTART vs EINTR, raise(SIGSEGV), default
 * SIGTERM on a child, SIGCHLD info, sigtimedwait, signalfd. */
#include "common.h"
#include <signal.h>
#include <stdint.h>
#include <sys/signalfd.h>
#include <sys/time.h>
#include <sys/wait.h>

static volatile sig_atomic_t hits, last_code, last_value, on_alt, last_pid_ok;
static char *alt_lo, *alt_hi;
static int pipe_w = -1;

static void h_info(int sig, siginfo_t *si, void *uc) {
  (void)uc;
  hits++;
  last_code = si->si_code;
  last_value = si->si_code == SI_QUEUE ? si->si_value.sival_int : 0;
  last_pid_ok = si->si_signo == sig && si->si_pid == getpid();
  char local;
  on_alt = alt_lo && &local >= alt_lo && &local < alt_hi;
  if (on_alt) {
    stack_t cur;
    sigaltstack(NULL, &cur);
    on_alt = (cur.ss_flags & SS_ONSTACK) != 0;
  }
}

/* SIGALRM handler: counts, and puts one byte in the pipe being read. */
static void h_alarm(int sig) {
  (void)sig;
  hits++;
  if (pipe_w >= 0) { char c = 'a'; (void)!write(pipe_w, &c, 1); }
}

static void handle(int sig, int flags, void (*h)(int, siginfo_t *, void *)) {
  struct sigaction sa = {0};
  sa.sa_sigaction = h;
  sa.sa_flags = SA_SIGINFO | flags;
  MUST(sigaction(sig, &sa, NULL));
}

static void alarm_read(int flags) {
  struct sigaction sa = {0};
  sa.sa_handler = h_alarm;
  sa.sa_flags = flags;
  MUST(sigaction(SIGALRM, &sa, NULL));
  int p[2];
  MUST(pipe(p));
  pipe_w = p[1];
  hits = 0;
  struct itimerval it = {{0, 0}, {0, 20000}};
  MUST(setitimer(ITIMER_REAL, &it, NULL));
  char c;
  errno = 0;
  long n = read(p[0], &c, 1);
  OUT("%s: blocked pipe read interrupted by SIGALRM -> %s (handler ran %s)",
      flags & SA_RESTART ? "SA_RESTART" : "no SA_RESTART", n == 1 ? "restarted, read 1 byte" : errname(errno),
      hits == 1 ? "yes" : "no");
  pipe_w = -1;
  close(p[0]); close(p[1]);
}

int main(void) {
  guest_init("signals");
  sigset_t set, old, pend;
  handle(SIGUSR1, 0, h_info);
  RES("kill self SIGUSR1", kill(getpid(), SIGUSR1));
  YN("handler ran once with SI_USER and si_pid == getpid", hits == 1 && last_code == SI_USER && last_pid_ok);
  union sigval v = {.sival_int = 42};
  MUST(sigqueue(getpid(), SIGUSR1, v));
  OUT("sigqueue: si_code SI_QUEUE %s, value %d", last_code == SI_QUEUE ? "yes" : "no", (int)last_value);

  handle(SIGUSR2, 0, h_info);
  sigemptyset(&set);
  sigaddset(&set, SIGUSR2);
  MUST(sigprocmask(SIG_BLOCK, &set, &old));
  hits = 0;
  raise(SIGUSR2);
  YN("blocked signal not delivered", hits == 0);
  MUST(sigpending(&pend));
  YN("blocked signal pending", sigismember(&pend, SIGUSR2));
  MUST(sigprocmask(SIG_SETMASK, &old, NULL));
  YN("unblocking delivers it", hits == 1);
  MUST(sigpending(&pend));
  YN("no longer pending", !sigismember(&pend, SIGUSR2));
  sigfillset(&set);
  MUST(sigprocmask(SIG_SETMASK, &set, &old));
  MUST(sigprocmask(SIG_SETMASK, NULL, &set));
  YN("SIGKILL and SIGSTOP cannot be blocked", !sigismember(&set, SIGKILL) && !sigismember(&set, SIGSTOP));
  MUST(sigprocmask(SIG_SETMASK, &old, NULL));
  struct sigaction sa = {0};
  sa.sa_handler = SIG_IGN;
  RES("sigaction on SIGKILL", sigaction(SIGKILL, &sa, NULL));
  RES("sigaction on signal 0", sigaction(0, &sa, NULL));
  RES("sigaction on signal 65", sigaction(65, &sa, NULL));

  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  MUST(sigprocmask(SIG_BLOCK, &set, &old));
  hits = 0;
  pid_t pid = fork();
  MUST(pid);
  if (pid == 0) { kill(getppid(), SIGUSR1); _exit(0); }
  sigset_t empty;
  sigemptyset(&empty);
  RES("sigsuspend until child's SIGUSR1", sigsuspend(&empty));
  YN("handler ran during sigsuspend", hits == 1);
  MUST(sigprocmask(SIG_SETMASK, NULL, &set));
  YN("mask restored after sigsuspend", sigismember(&set, SIGUSR1));
  MUST(sigprocmask(SIG_SETMASK, &old, NULL));
  waitpid(pid, NULL, 0);

  static char alt[65536];
  stack_t ss = {.ss_sp = alt, .ss_size = sizeof alt, .ss_flags = 0};
  RES("sigaltstack", sigaltstack(&ss, NULL));
  alt_lo = alt;
  alt_hi = alt + sizeof alt;
  handle(SIGUSR1, SA_ONSTACK, h_info);
  raise(SIGUSR1);
  YN("SA_ONSTACK handler ran on the alternate stack with SS_ONSTACK", on_alt);
  stack_t small = {.ss_sp = alt, .ss_size = 1024, .ss_flags = 0};
  RES("sigaltstack smaller than MINSIGSTKSZ", sigaltstack(&small, NULL));
  ss.ss_flags = SS_DISABLE;
  MUST(sigaltstack(&ss, NULL));
  alt_lo = alt_hi = NULL;

  alarm_read(0);
  alarm_read(SA_RESTART);

  handle(SIGSEGV, 0, h_info);
  hits = 0;
  raise(SIGSEGV);
  YN("raised SIGSEGV caught with si_code SI_TKILL", hits == 1 && last_code == SI_TKILL);
  signal(SIGSEGV, SIG_DFL);

  int st;
  pid = fork();
  MUST(pid);
  if (pid == 0) { for (;;) pause(); }
  MUST(kill(pid, SIGTERM));
  MUST(waitpid(pid, &st, 0));
  OUT("child killed by default SIGTERM: WIFSIGNALED %d WTERMSIG %d", WIFSIGNALED(st), WTERMSIG(st));

  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  MUST(sigprocmask(SIG_BLOCK, &set, &old));
  pid = fork();
  MUST(pid);
  if (pid == 0) _exit(3);
  siginfo_t si;
  int sig = sigwaitinfo(&set, &si);
  OUT("sigwaitinfo SIGCHLD: sig %s code CLD_EXITED %s status %d pid matches %s", sig == SIGCHLD ? "SIGCHLD" : "other",
      si.si_code == CLD_EXITED ? "yes" : "no", si.si_status, si.si_pid == pid ? "yes" : "no");
  waitpid(pid, NULL, 0);
  MUST(sigprocmask(SIG_SETMASK, &old, NULL));

  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, SIGUSR2);
  MUST(sigprocmask(SIG_BLOCK, &set, &old));
  raise(SIGUSR2);
  struct timespec ts = {1, 0};
  OUT("sigtimedwait with SIGUSR2 pending = %s", sigtimedwait(&set, &si, &ts) == SIGUSR2 ? "SIGUSR2" : "other");
  ts.tv_sec = 0;
  ts.tv_nsec = 10 * 1000 * 1000;
  RES("sigtimedwait with nothing pending, 10ms", sigtimedwait(&set, &si, &ts));

  int sfd = signalfd(-1, &set, SFD_NONBLOCK);
  MUST(sfd);
  struct signalfd_siginfo info;
  RES("signalfd read with nothing pending", read(sfd, &info, sizeof info));
  raise(SIGUSR1);
  long n = read(sfd, &info, sizeof info);
  OUT("signalfd read = %ld bytes, ssi_signo %u, ssi_code SI_TKILL %s", n, info.ssi_signo,
      info.ssi_code == SI_TKILL ? "yes" : "no");
  MUST(sigpending(&pend));
  YN("signal consumed by signalfd no longer pending", !sigismember(&pend, SIGUSR1));
  close(sfd);
  MUST(sigprocmask(SIG_SETMASK, &old, NULL));
  DONE();
}
