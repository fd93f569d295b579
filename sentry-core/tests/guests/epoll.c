/* epoll on pipes, eventfds and epolls. Runs identically on Linux (a
 * differential test); time checks are lower bounds only. argv[1]: a
 * writable directory for a regular file. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "guest.h"

static long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int ctl(int ep, int op, int fd, uint32_t events, uint64_t data) {
    struct epoll_event e = {.events = events, .data.u64 = data};
    return epoll_ctl(ep, op, fd, &e);
}

/* epoll_wait with timeout 0, printing what came. */
static void wait0(const char *label, int ep, int max) {
    struct epoll_event evs[8];
    int n = epoll_wait(ep, evs, max, 0);
    printf("%s: %d", label, n);
    for (int i = 0; i < n; i++)
        printf(" [%s%s%s%s data=%llx]", evs[i].events & EPOLLIN ? "IN" : "", evs[i].events & EPOLLOUT ? "OUT" : "",
               evs[i].events & EPOLLERR ? " ERR" : "", evs[i].events & EPOLLHUP ? " HUP" : "",
               (unsigned long long)evs[i].data.u64);
    printf("\n");
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    char path[512];
    char c;
    int p[2];
    signal(SIGPIPE, SIG_IGN);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    printf("epoll_create1 ok=%d cloexec=%d\n", ep >= 0, fcntl(ep, F_GETFD));
    pipe2(p, O_NONBLOCK);
    show("add read end", ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 0x1122334455667788ULL));
    wait0("empty", ep, 8);
    write(p[1], "ab", 2);
    wait0("after a write", ep, 8);
    wait0("level-triggered again", ep, 8);
    show("add again", ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 0));

    show("mod to edge-triggered", ctl(ep, EPOLL_CTL_MOD, p[0], EPOLLIN | EPOLLET, 0xe7));
    wait0("ET, data pending", ep, 8);
    wait0("ET, no new edge", ep, 8);
    write(p[1], "c", 1);
    wait0("ET, new write", ep, 8);

    show("mod to one-shot", ctl(ep, EPOLL_CTL_MOD, p[0], EPOLLIN | EPOLLONESHOT, 0x1));
    wait0("oneshot", ep, 8);
    write(p[1], "d", 1);
    wait0("oneshot, disabled", ep, 8);
    show("re-arm", ctl(ep, EPOLL_CTL_MOD, p[0], EPOLLIN | EPOLLONESHOT, 0x2));
    wait0("oneshot, re-armed", ep, 8);
    show("del", ctl(ep, EPOLL_CTL_DEL, p[0], 0, 0));
    show("del again", ctl(ep, EPOLL_CTL_DEL, p[0], 0, 0));
    show("mod unknown", ctl(ep, EPOLL_CTL_MOD, p[1], EPOLLOUT, 0));
    wait0("after del", ep, 8);

    show("add write end", ctl(ep, EPOLL_CTL_ADD, p[1], EPOLLOUT, 0x77));
    wait0("writable", ep, 8);
    show("del write end", ctl(ep, EPOLL_CTL_DEL, p[1], 0, 0));

    /* Rotation of level-triggered items with maxevents 1. */
    int e1 = eventfd(1, EFD_NONBLOCK), e2 = eventfd(1, EFD_NONBLOCK);
    ctl(ep, EPOLL_CTL_ADD, e1, EPOLLIN, 1);
    ctl(ep, EPOLL_CTL_ADD, e2, EPOLLIN, 2);
    wait0("max 1", ep, 1);
    wait0("max 1", ep, 1);
    wait0("max 1", ep, 1);
    ctl(ep, EPOLL_CTL_DEL, e1, 0, 0);
    ctl(ep, EPOLL_CTL_DEL, e2, 0, 0);

    /* Edge-triggered eventfd: every write is an edge. */
    uint64_t one = 1;
    int ev = eventfd(0, EFD_NONBLOCK);
    ctl(ep, EPOLL_CTL_ADD, ev, EPOLLIN | EPOLLET, 0xef);
    wait0("eventfd ET idle", ep, 8);
    write(ev, &one, 8);
    wait0("eventfd ET write", ep, 8);
    wait0("eventfd ET nothing new", ep, 8);
    write(ev, &one, 8);
    wait0("eventfd ET second write", ep, 8);
    ctl(ep, EPOLL_CTL_DEL, ev, 0, 0);

    /* Hang-up, and files that go away. */
    int q[2];
    pipe(q);
    ctl(ep, EPOLL_CTL_ADD, q[0], EPOLLIN, 0x99);
    close(q[1]);
    wait0("writer closed", ep, 8);
    close(q[0]);
    wait0("watched fd closed", ep, 8);
    pipe(q);
    int dup0 = dup(q[0]);
    ctl(ep, EPOLL_CTL_ADD, q[0], EPOLLIN, 0xd0);
    close(q[0]);
    write(q[1], "x", 1);
    wait0("closed but duplicated", ep, 8);
    close(dup0);
    close(q[1]);
    wait0("all closed", ep, 8);

    /* Nesting. */
    int outer = epoll_create(1);
    show("add epoll to epoll", ctl(outer, EPOLL_CTL_ADD, ep, EPOLLIN, 0x0e));
    wait0("outer, inner idle", outer, 8);
    ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 0x10);
    wait0("outer, inner ready", outer, 8);
    struct pollfd pf = {ep, POLLIN, 0};
    show("poll on epoll", poll(&pf, 1, 0));
    show("loop", ctl(ep, EPOLL_CTL_ADD, outer, EPOLLIN, 0));
    show("exclusive on an eventfd", ctl(outer, EPOLL_CTL_ADD, e1, EPOLLIN | EPOLLEXCLUSIVE, 0));
    int third = epoll_create1(0);
    show("exclusive on an epoll", ctl(third, EPOLL_CTL_ADD, ep, EPOLLIN | EPOLLEXCLUSIVE, 0));
    show("exclusive with EPOLLPRI", ctl(third, EPOLL_CTL_ADD, e2, EPOLLPRI | EPOLLEXCLUSIVE, 0));
    show("mod with exclusive", ctl(outer, EPOLL_CTL_MOD, ep, EPOLLIN | EPOLLEXCLUSIVE, 0));
    while (read(p[0], &c, 1) == 1) {
    }

    /* Errors. */
    snprintf(path, sizeof path, "%s/epoll-regular", dir);
    int reg = open(path, O_CREAT | O_RDWR | O_TRUNC, 0644);
    show("add regular file", ctl(ep, EPOLL_CTL_ADD, reg, EPOLLIN, 0));
    close(reg);
    unlink(path);
    show("add itself", ctl(ep, EPOLL_CTL_ADD, ep, EPOLLIN, 0));
    show("not an epoll", ctl(p[0], EPOLL_CTL_ADD, p[1], EPOLLOUT, 0));
    show("bad op", ctl(ep, 99, p[1], EPOLLOUT, 0));
    show("bad target", ctl(ep, EPOLL_CTL_ADD, 999, EPOLLIN, 0));
    show("bad epfd", ctl(999, EPOLL_CTL_ADD, p[0], EPOLLIN, 0));
    show("bad event pointer", epoll_ctl(ep, EPOLL_CTL_ADD, p[1], (struct epoll_event *)8));
    struct epoll_event evs[4];
    show("maxevents 0", epoll_wait(ep, evs, 0, 0));
    show("wait on a pipe", epoll_wait(p[0], evs, 4, 0));
    show("wait on a bad fd", epoll_wait(999, evs, 4, 0));
    show("epoll_create(0)", epoll_create(0));
    show("epoll_create1(bad)", epoll_create1(1));
    write(p[1], "z", 1);
    show("wait into a bad buffer", syscall(SYS_epoll_wait, ep, (struct epoll_event *)8, 4, 0));
    read(p[0], &c, 1);

    /* Timeouts and epoll_pwait. */
    long t0 = now_ms();
    show("wait 50 ms", epoll_wait(ep, evs, 4, 50));
    printf("  waited >= 50 ms: %d\n", now_ms() - t0 >= 50);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGUSR1);
    write(p[1], "z", 1);
    show("epoll_pwait", syscall(SYS_epoll_pwait, ep, evs, 4, -1, &mask, 8));
    show("epoll_pwait sigsetsize 4", syscall(SYS_epoll_pwait, ep, evs, 4, -1, &mask, 4));
    printf("done\n");
    return 0;
}
