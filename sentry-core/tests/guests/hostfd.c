/* Readiness of host descriptors (the container's stdio): stdin is a host
 * pipe the test writes to only after each prompt. */
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <unistd.h>

static void prompt(const char *s) {
    printf("%s\n", s);
    fflush(stdout);
}

int main(void) {
    char buf[16];
    struct pollfd out = {1, POLLOUT, 0};
    int n = poll(&out, 1, 0);
    printf("stdout writable: %d %d\n", n, out.revents == POLLOUT);
    struct pollfd in = {0, POLLIN, 0};
    printf("stdin idle: %d\n", poll(&in, 1, 0));
    prompt("ping?");
    n = poll(&in, 1, -1);
    printf("poll: %d %d\n", n, in.revents == POLLIN);
    memset(buf, 0, sizeof buf);
    printf("read: %zd %s\n", read(0, buf, sizeof buf - 1), buf);

    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u64 = 7};
    printf("epoll add stdin: %d\n", epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev));
    printf("epoll idle: %d\n", epoll_wait(ep, &ev, 1, 0));
    prompt("pong?");
    n = epoll_wait(ep, &ev, 1, -1);
    printf("epoll: %d data=%llu\n", n, (unsigned long long)ev.data.u64);
    memset(buf, 0, sizeof buf);
    printf("read: %zd %s\n", read(0, buf, sizeof buf - 1), buf);

    fd_set r;
    FD_ZERO(&r);
    FD_SET(0, &r);
    prompt("select?");
    printf("select: %d\n", select(1, &r, NULL, NULL, NULL));
    memset(buf, 0, sizeof buf);
    printf("read: %zd %s\n", read(0, buf, sizeof buf - 1), buf);
    prompt("blocking read?");
    memset(buf, 0, sizeof buf);
    printf("read: %zd %s\n", read(0, buf, sizeof buf - 1), buf);
    prompt("close?");
    n = poll(&in, 1, -1);
    printf("poll after close: %d hup=%d\n", n, (in.revents & POLLHUP) != 0);
    printf("read at EOF: %zd\n", read(0, buf, sizeof buf));
    return 0;
}
