/* time: clocks, sleeps, timerfd, interval timers. Only relations are
 * printed (lower bounds, agreement), never absolute times. */
#include "common.h"
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <time.h>

static volatile sig_atomic_t alarms;
static void on_alarm(int sig) { (void)sig; alarms++; }

static int64_t ns(clockid_t c) {
  struct timespec t;
  MUST(clock_gettime(c, &t));
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

int main(void) {
  guest_init("time");
  int64_t a = ns(CLOCK_MONOTONIC), b = ns(CLOCK_MONOTONIC);
  YN("CLOCK_MONOTONIC non-decreasing", b >= a);
  int mono_ok = 1;
  for (int i = 0; i < 1000; i++) { int64_t c = ns(CLOCK_MONOTONIC); mono_ok &= c >= b; b = c; }
  YN("CLOCK_MONOTONIC non-decreasing over 1000 reads", mono_ok);
  struct timespec raw;
  YN("raw clock_gettime syscall agrees with vDSO within 1s",
     syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &raw) == 0 &&
         llabs((int64_t)raw.tv_sec * 1000000000 + raw.tv_nsec - ns(CLOCK_MONOTONIC)) < 1000000000);
  YN("CLOCK_REALTIME after 2020-01-01", ns(CLOCK_REALTIME) > (int64_t)1577836800 * 1000000000);
  struct timeval tv;
  MUST(gettimeofday(&tv, NULL));
  int64_t tod = (int64_t)tv.tv_sec * 1000000000 + (int64_t)tv.tv_usec * 1000;
  YN("gettimeofday agrees with CLOCK_REALTIME within 1s", llabs(ns(CLOCK_REALTIME) - tod) < 1000000000);
  YN("time() agrees with CLOCK_REALTIME within 1s", llabs((int64_t)time(NULL) - ns(CLOCK_REALTIME) / 1000000000) <= 1);
  YN("CLOCK_BOOTTIME >= CLOCK_MONOTONIC", ns(CLOCK_BOOTTIME) >= ns(CLOCK_MONOTONIC) - 1000000);
  int64_t cpu0 = ns(CLOCK_PROCESS_CPUTIME_ID);
  volatile uint64_t spin = 0;
  for (int i = 0; i < 5000000; i++) spin += i;
  YN("CLOCK_PROCESS_CPUTIME_ID advances with work", ns(CLOCK_PROCESS_CPUTIME_ID) > cpu0);
  YN("CLOCK_THREAD_CPUTIME_ID > 0", ns(CLOCK_THREAD_CPUTIME_ID) > 0);
  struct timespec t;
  RES("clock_gettime of invalid clock 12345", clock_gettime(12345, &t));
  RES("clock_getres CLOCK_MONOTONIC", clock_getres(CLOCK_MONOTONIC, &t));
  YN("resolution > 0 and <= 1ms", t.tv_sec == 0 && t.tv_nsec > 0 && t.tv_nsec <= 1000000);
  RES("clock_getres CLOCK_REALTIME", clock_getres(CLOCK_REALTIME, &t));

  struct timespec d = {0, 20 * 1000 * 1000};
  a = ns(CLOCK_MONOTONIC);
  RES("nanosleep 20ms", nanosleep(&d, NULL));
  YN("elapsed>=20ms", ns(CLOCK_MONOTONIC) - a >= 20000000);
  struct timespec bad = {0, 1000000000};
  RES("nanosleep with tv_nsec = 1e9", nanosleep(&bad, NULL));
  a = ns(CLOCK_MONOTONIC);
  struct timespec abs_t = {(a + 10000000) / 1000000000, (a + 10000000) % 1000000000};
  OUT("clock_nanosleep TIMER_ABSTIME +10ms = %d", clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &abs_t, NULL));
  YN("elapsed>=10ms", ns(CLOCK_MONOTONIC) - a >= 10000000);

  int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
  MUST(tfd);
  uint64_t exp = 0;
  RES("timerfd read before arming", read(tfd, &exp, sizeof exp));
  struct itimerspec its = {{0, 10 * 1000 * 1000}, {0, 100 * 1000 * 1000}}, cur;
  a = ns(CLOCK_MONOTONIC);
  RES("timerfd_settime 100ms then every 10ms", timerfd_settime(tfd, 0, &its, NULL));
  MUST(timerfd_gettime(tfd, &cur));
  YN("timerfd_gettime interval 10ms, remaining <= 100ms",
     cur.it_interval.tv_nsec == 10000000 && cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec <= 100000000);
  RES("timerfd read before expiry", read(tfd, &exp, sizeof exp));
  d.tv_nsec = 130 * 1000 * 1000;
  nanosleep(&d, NULL);
  long n = read(tfd, &exp, sizeof exp);
  OUT("timerfd read after 130ms = %ld bytes, expirations>=1 %s", n, exp >= 1 ? "yes" : "no");
  YN("elapsed>=100ms", ns(CLOCK_MONOTONIC) - a >= 100000000);
  RES("timerfd read with a short buffer", read(tfd, &exp, 4));
  close(tfd);

  struct sigaction sa = {0};
  sa.sa_handler = on_alarm;
  MUST(sigaction(SIGALRM, &sa, NULL));
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGALRM);
  MUST(sigprocmask(SIG_BLOCK, &block, &old));
  struct itimerval it = {{0, 0}, {0, 30000}}, got;
  a = ns(CLOCK_MONOTONIC);
  RES("setitimer ITIMER_REAL 30ms", setitimer(ITIMER_REAL, &it, NULL));
  MUST(getitimer(ITIMER_REAL, &got));
  YN("getitimer remaining <= 30ms and > 0", got.it_value.tv_sec == 0 && got.it_value.tv_usec > 0 && got.it_value.tv_usec <= 30000);
  while (!alarms) sigsuspend(&old);
  OUT("SIGALRM delivered %d time(s)", (int)alarms);
  YN("elapsed>=30ms", ns(CLOCK_MONOTONIC) - a >= 30000000);
  MUST(getitimer(ITIMER_REAL, &got));
  YN("one-shot itimer disarmed", got.it_value.tv_sec == 0 && got.it_value.tv_usec == 0);
  OUT("alarm(0) with nothing pending returns %u", alarm(0));
  alarm(100);
  OUT("alarm(0) after alarm(100) returns %u", alarm(0));
  MUST(sigprocmask(SIG_SETMASK, &old, NULL));
  DONE();
}
