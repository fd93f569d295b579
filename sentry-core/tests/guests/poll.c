/* poll, ppoll, select, pselect6 on pipes and eventfds. Runs identically on
 * Linux (a differential test); time checks are lower bounds only. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "guest.h"

static long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void ev(const char *label, short r) {
    printf("  %s:%s%s%s%s%s\n", label, r & POLLIN ? " IN" : "", r & POLLOUT ? " OUT" : "", r & POLLERR ? " ERR" : "",
           r & POLLHUP ? " HUP" : "", r & POLLNVAL ? " NVAL" : "");
}

int main(void) {
    int p[2];
    signal(SIGPIPE, SIG_IGN);
    pipe(p);
    struct pollfd f[3] = {{p[0], POLLIN, 0}, {p[1], POLLOUT, 0}, {-1, POLLIN, 77}};
    show("poll empty pipe", poll(f, 3, 0));
    ev("read end", f[0].revents);
    ev("write end", f[1].revents);
    printf("  negative fd revents=%d\n", f[2].revents);
    write(p[1], "x", 1);
    show("poll after a write", poll(f, 2, 0));
    ev("read end", f[0].revents);
    f[1].events = POLLIN; /* not writable-interested: nothing for the write end */
    show("poll write end for POLLIN", poll(f + 1, 1, 0));

    long t0 = now_ms();
    char c;
    read(p[0], &c, 1);
    show("poll 50 ms on an empty pipe", poll(f, 1, 50));
    printf("  waited >= 50 ms: %d\n", now_ms() - t0 >= 50);

    close(1000); /* the test harness may have leaked descriptors into a native run */
    struct pollfd bad = {1000, POLLIN, 0};
    show("poll a closed fd", poll(&bad, 1, 0));
    ev("fd 1000", bad.revents);
    show("poll bad pointer", syscall(SYS_poll, (struct pollfd *)8, 1, 0));
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    show("poll nfds > RLIMIT_NOFILE", poll(f, rl.rlim_cur + 1, 0));
    t0 = now_ms();
    show("poll nothing for 20 ms", poll(NULL, 0, 20));
    printf("  waited >= 20 ms: %d\n", now_ms() - t0 >= 20);

    int q[2];
    pipe(q);
    close(q[1]);
    struct pollfd h = {q[0], POLLIN, 0};
    show("poll read end without writers", poll(&h, 1, 0));
    ev("read end", h.revents);
    close(q[0]);
    pipe(q);
    close(q[0]);
    h.fd = q[1];
    h.events = POLLOUT;
    show("poll write end without readers", poll(&h, 1, 0));
    ev("write end", h.revents);
    close(q[1]);

    /* eventfd readiness. */
    int e = eventfd(0, EFD_NONBLOCK);
    struct pollfd ef = {e, POLLIN | POLLOUT, 0};
    show("poll new eventfd", poll(&ef, 1, 0));
    ev("eventfd", ef.revents);
    uint64_t one = 1;
    write(e, &one, 8);
    show("poll eventfd after a write", poll(&ef, 1, 0));
    ev("eventfd", ef.revents);

    /* ppoll. */
    struct timespec ts = {0, 0};
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGUSR1);
    f[0].events = POLLIN;
    show("ppoll zero timeout", syscall(SYS_ppoll, f, 1, &ts, &mask, 8));
    show("ppoll sigsetsize 4", syscall(SYS_ppoll, f, 1, &ts, &mask, 4));
    ts.tv_nsec = -1;
    show("ppoll bad timespec", syscall(SYS_ppoll, f, 1, &ts, NULL, 8));
    ts.tv_sec = 5;
    ts.tv_nsec = 0;
    show("ppoll ready eventfd", syscall(SYS_ppoll, &ef, 1, &ts, &mask, 8));
    printf("  time left written back: %d\n", ts.tv_sec >= 4 && ts.tv_sec <= 5 && (ts.tv_sec < 5 || ts.tv_nsec == 0));
    sigset_t cur;
    sigprocmask(SIG_SETMASK, NULL, &cur);
    printf("  mask restored: %d\n", !sigismember(&cur, SIGUSR1));

    /* select. */
    fd_set r, w;
    FD_ZERO(&r);
    FD_ZERO(&w);
    FD_SET(p[0], &r);
    FD_SET(p[1], &w);
    struct timeval tv = {0, 0};
    show("select empty pipe", select(p[1] + 1, &r, &w, NULL, &tv));
    printf("  r=%d w=%d\n", FD_ISSET(p[0], &r), FD_ISSET(p[1], &w));
    write(p[1], "y", 1);
    FD_SET(p[0], &r);
    FD_SET(p[1], &w);
    show("select after a write", select(p[1] + 1, &r, &w, NULL, &tv));
    printf("  r=%d w=%d\n", FD_ISSET(p[0], &r), FD_ISSET(p[1], &w));
    read(p[0], &c, 1);
    FD_ZERO(&w);
    FD_SET(p[0], &r);
    tv.tv_sec = 0;
    tv.tv_usec = 50000;
    t0 = now_ms();
    show("select 50 ms", syscall(SYS_select, p[0] + 1, &r, NULL, NULL, &tv));
    printf("  waited >= 50 ms: %d r=%d tv=%ld.%06ld\n", now_ms() - t0 >= 50, FD_ISSET(p[0], &r), (long)tv.tv_sec,
           (long)tv.tv_usec);
    FD_SET(p[1], &w);
    tv.tv_sec = 5;
    tv.tv_usec = 0;
    show("select ready with 5 s", syscall(SYS_select, p[1] + 1, NULL, &w, NULL, &tv));
    printf("  time left written back: %d\n", tv.tv_sec >= 4 && tv.tv_sec <= 5);
    tv.tv_sec = 0;
    tv.tv_usec = 1500000; /* carries into seconds */
    show("select usec > 1 s", syscall(SYS_select, p[1] + 1, NULL, &w, NULL, &tv));
    tv.tv_usec = -1;
    show("select negative usec", select(p[1] + 1, NULL, &w, NULL, &tv));
    FD_ZERO(&r);
    /* A closed fd below 64: Linux clamps nfds to the size of the fd table
     * (64 slots until something opens a higher fd), so a closed fd beyond it
     * is ignored rather than EBADF — that would depend on the caller. */
    FD_SET(50, &r);
    close(50);
    tv.tv_usec = 0;
    show("select closed fd", select(51, &r, NULL, NULL, &tv));
    show("select nfds -1", select(-1, NULL, NULL, NULL, &tv));
    show("select bad set", select(5, (fd_set *)8, NULL, NULL, &tv));
    FD_ZERO(&r);
    FD_SET(e, &r);
    FD_SET(e, &w);
    show("select eventfd read+write", select(e + 1, &r, &w, NULL, &tv));

    /* pselect6. */
    struct {
        sigset_t *ss;
        size_t len;
    } sig = {&mask, 8};
    struct timespec pts = {0, 0};
    FD_SET(e, &r);
    show("pselect6 with mask", syscall(SYS_pselect6, e + 1, &r, NULL, NULL, &pts, &sig));
    sig.len = 4;
    show("pselect6 sigsetsize 4", syscall(SYS_pselect6, e + 1, &r, NULL, NULL, &pts, &sig));
    show("pselect6 bad sig struct", syscall(SYS_pselect6, e + 1, &r, NULL, NULL, &pts, (void *)8));
    printf("done\n");
    return 0;
}
