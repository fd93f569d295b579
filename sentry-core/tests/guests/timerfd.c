/* timerfd: one-shot, periodic and absolute timers, reads, poll and epoll
 * wake-ups at expiry. Runs identically on Linux (a differential test);
 * time checks are lower bounds only. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "guest.h"

static long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long ns(struct timespec t) {
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static struct itimerspec spec(long value_ms, long interval_ms) {
    struct itimerspec s = {{interval_ms / 1000, (interval_ms % 1000) * 1000000},
                           {value_ms / 1000, (value_ms % 1000) * 1000000}};
    return s;
}

static uint64_t ticks;

static long rd(int fd) {
    ticks = 0;
    return read(fd, &ticks, 8);
}

int main(void) {
    int t = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    printf("created=%d cloexec=%d nonblock=%d\n", t >= 0, fcntl(t, F_GETFD), (fcntl(t, F_GETFL) & O_NONBLOCK) != 0);
    show("read disarmed", rd(t));
    struct itimerspec cur, old;
    timerfd_gettime(t, &cur);
    printf("gettime disarmed: %lld %lld\n", ns(cur.it_value), ns(cur.it_interval));

    struct itimerspec s = spec(50, 0);
    long t0 = now_ms();
    show("settime 50 ms", timerfd_settime(t, 0, &s, NULL));
    timerfd_gettime(t, &cur);
    printf("remaining in (0, 50 ms]: %d\n", ns(cur.it_value) > 0 && ns(cur.it_value) <= 50000000);
    struct pollfd pf = {t, POLLIN, 0};
    show("poll until expiry", poll(&pf, 1, 10000));
    printf("  waited >= 50 ms: %d\n", now_ms() - t0 >= 50);
    show("read", rd(t));
    printf("  expirations=%llu\n", (unsigned long long)ticks);
    show("read again", rd(t));
    timerfd_gettime(t, &cur);
    printf("gettime expired: %lld\n", ns(cur.it_value));

    /* Periodic. */
    s = spec(10, 10);
    show("settime 10 ms every 10 ms", timerfd_settime(t, 0, &s, &old));
    printf("  old: %lld %lld\n", ns(old.it_value), ns(old.it_interval));
    struct timespec nap = {0, 55000000};
    nanosleep(&nap, NULL);
    rd(t);
    printf("at least 5 expirations after 55 ms: %d\n", ticks >= 5);
    timerfd_gettime(t, &cur);
    printf("periodic remaining in (0, 10 ms], interval 10 ms: %d %lld\n",
           ns(cur.it_value) > 0 && ns(cur.it_value) <= 10000000, ns(cur.it_interval));
    s = spec(0, 0);
    timerfd_settime(t, 0, &s, &old);
    printf("disarm: old interval %lld\n", ns(old.it_interval));
    timerfd_gettime(t, &cur);
    printf("gettime disarmed: %lld %lld\n", ns(cur.it_value), ns(cur.it_interval));

    /* Absolute, in the past, periodic: expirations counted from then. */
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    s = spec(0, 100);
    s.it_value.tv_sec = now.tv_sec - 1;
    s.it_value.tv_nsec = now.tv_nsec;
    show("settime absolute 1 s ago every 100 ms", timerfd_settime(t, TFD_TIMER_ABSTIME, &s, NULL));
    rd(t);
    printf("at least 11 expirations: %d\n", ticks >= 11);

    /* Blocking read. */
    int b = timerfd_create(CLOCK_REALTIME, 0);
    s = spec(30, 0);
    t0 = now_ms();
    timerfd_settime(b, 0, &s, NULL);
    show("blocking read", rd(b));
    printf("  expirations=%llu waited >= 30 ms: %d\n", (unsigned long long)ticks, now_ms() - t0 >= 30);

    /* epoll wakes at expiry. */
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 42};
    epoll_ctl(ep, EPOLL_CTL_ADD, b, &ev);
    s = spec(20, 0);
    t0 = now_ms();
    timerfd_settime(b, 0, &s, NULL);
    struct epoll_event out;
    show("epoll_wait until expiry", epoll_wait(ep, &out, 1, -1));
    printf("  data=%llu waited >= 20 ms: %d\n", (unsigned long long)out.data.u64, now_ms() - t0 >= 20);
    rd(b);

    /* Clocks, flags and arguments. */
    int bt = timerfd_create(CLOCK_BOOTTIME, 0);
    printf("boottime ok=%d\n", bt >= 0);
    show("process cpu clock", timerfd_create(CLOCK_PROCESS_CPUTIME_ID, 0));
    show("bad create flags", timerfd_create(CLOCK_MONOTONIC, 1));
    s = spec(10, 0);
    show("bad settime flags", timerfd_settime(t, 4, &s, NULL));
    s.it_value.tv_nsec = 1000000000;
    show("nsec 1e9", timerfd_settime(t, 0, &s, NULL));
    s.it_value.tv_nsec = 0;
    s.it_value.tv_sec = -1;
    show("negative sec", timerfd_settime(t, 0, &s, NULL));
    show("bad new value", syscall(SYS_timerfd_settime, t, 0, (void *)8, NULL));
    show("bad gettime buffer", syscall(SYS_timerfd_gettime, t, (void *)8));
    int e = eventfd(0, 0);
    s = spec(10, 0);
    show("settime on an eventfd", timerfd_settime(e, 0, &s, NULL));
    show("gettime on a bad fd", timerfd_gettime(999, &cur));
    char small[4];
    show("read 4 bytes", read(t, small, 4));
    show("write", write(t, &ticks, 8));
    printf("done\n");
    return 0;
}
