/* TCP and UDP over loopback (127.0.0.1 and ::1), both ends in one process
 * (and a forked child for a blocking case).
 *
 * Every port is picked by the system (bind to port 0, then getsockname), and
 * only booleans are printed about ports and addresses, so the output is the
 * same in the Sentry and natively on any Linux host with loopback.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guest.h"

typedef union {
    struct sockaddr sa;
    struct sockaddr_in in;
    struct sockaddr_in6 in6;
    struct sockaddr_storage ss;
} addr_t;

static socklen_t make_addr(addr_t *a, int family, const char *ip, int port) {
    memset(a, 0, sizeof *a);
    if (family == AF_INET) {
        a->in.sin_family = AF_INET;
        a->in.sin_port = htons(port);
        CHECK(inet_pton(AF_INET, ip, &a->in.sin_addr) == 1);
        return sizeof a->in;
    }
    a->in6.sin6_family = AF_INET6;
    a->in6.sin6_port = htons(port);
    CHECK(inet_pton(AF_INET6, ip, &a->in6.sin6_addr) == 1);
    return sizeof a->in6;
}

static int port_of(int fd) {
    addr_t a;
    socklen_t len = sizeof a;
    CHECK(getsockname(fd, &a.sa, &len) == 0);
    return ntohs(a.sa.sa_family == AF_INET ? a.in.sin_port : a.in6.sin6_port);
}

static int ephemeral(int port) {
    return port >= 32768 && port <= 60999;
}

/* A listening socket of `family` on `ip`, port chosen by the system. */
static int listener(int family, const char *ip, int *port) {
    int l = socket(family, SOCK_STREAM, 0);
    CHECK(l >= 0);
    addr_t a;
    socklen_t len = make_addr(&a, family, ip, 0);
    CHECK(bind(l, &a.sa, len) == 0);
    CHECK(listen(l, 8) == 0);
    *port = port_of(l);
    return l;
}

static int connect_to(int family, const char *ip, int port) {
    int c = socket(family, SOCK_STREAM, 0);
    CHECK(c >= 0);
    addr_t a;
    socklen_t len = make_addr(&a, family, ip, port);
    CHECK(connect(c, &a.sa, len) == 0);
    return c;
}

static void echo(int family, const char *ip, const char *label) {
    int port;
    int l = listener(family, ip, &port);
    int c = connect_to(family, ip, port);
    addr_t peer;
    socklen_t plen = sizeof peer;
    int s = accept(l, &peer.sa, &plen);
    CHECK(s >= 0);
    /* The accepted peer is the client's local address. */
    addr_t local;
    socklen_t llen = sizeof local;
    CHECK(getsockname(c, &local.sa, &llen) == 0);
    printf("%s: peer len=%d matches client name=%d client port ephemeral=%d\n", label, (int)plen,
           plen == llen && memcmp(&peer, &local, plen) == 0, ephemeral(port_of(c)));
    CHECK(write(c, "ping", 4) == 4);
    char buf[16];
    ssize_t n = read(s, buf, sizeof buf);
    CHECK(write(s, buf, n) == n);
    n = read(c, buf, sizeof buf);
    printf("%s: echo %zd %.*s\n", label, n, (int)n, buf);
    close(c);
    close(s);
    close(l);
}

static void mapped(void) {
    int port;
    int l = listener(AF_INET6, "::", &port);
    int c = connect_to(AF_INET, "127.0.0.1", port);
    addr_t peer;
    socklen_t plen = sizeof peer;
    int s = accept(l, &peer.sa, &plen);
    CHECK(s >= 0);
    char text[64] = "";
    inet_ntop(AF_INET6, &peer.in6.sin6_addr, text, sizeof text);
    printf("v6 listener, v4 client: family=%s peer=%s port matches=%d\n",
           peer.sa.sa_family == AF_INET6 ? "AF_INET6" : "other", text,
           ntohs(peer.in6.sin6_port) == port_of(c));
    addr_t me;
    socklen_t mlen = sizeof me;
    CHECK(getsockname(s, &me.sa, &mlen) == 0);
    inet_ntop(AF_INET6, &me.in6.sin6_addr, text, sizeof text);
    printf("accepted local=%s\n", text);
    close(s);
    close(c);
    /* IPV6_V6ONLY: the v4 client is refused. */
    int l6 = socket(AF_INET6, SOCK_STREAM, 0);
    int one = 1;
    CHECK(setsockopt(l6, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) == 0);
    addr_t a;
    socklen_t len = make_addr(&a, AF_INET6, "::", 0);
    CHECK(bind(l6, &a.sa, len) == 0);
    CHECK(listen(l6, 1) == 0);
    int c4 = socket(AF_INET, SOCK_STREAM, 0);
    len = make_addr(&a, AF_INET, "127.0.0.1", port_of(l6));
    SHOW("v4 connect to v6only listener", connect(c4, &a.sa, len));
    close(c4);
    close(l6);
    close(l);
}

static void errors(void) {
    addr_t a;
    socklen_t len;
    int port;
    int fresh = socket(AF_INET, SOCK_STREAM, 0);
    struct pollfd fp = {fresh, POLLIN | POLLOUT, 0};
    SHOW("poll new socket", poll(&fp, 1, 0));
    printf("new socket revents=%#x\n", fp.revents);
    close(fresh);
    int l = listener(AF_INET, "127.0.0.1", &port);
    printf("listener port ephemeral=%d\n", ephemeral(port));
    int x = socket(AF_INET, SOCK_STREAM, 0);
    len = make_addr(&a, AF_INET, "127.0.0.1", port);
    SHOW("bind used port", bind(x, &a.sa, len));
    close(x);
    x = socket(AF_INET, SOCK_STREAM, 0);
    len = make_addr(&a, AF_INET, "0.0.0.0", port);
    SHOW("bind wildcard over used port", bind(x, &a.sa, len));
    close(x);
    int acc = -1;
    socklen_t ol = sizeof acc;
    CHECK(getsockopt(l, SOL_SOCKET, SO_ACCEPTCONN, &acc, &ol) == 0);
    printf("SO_ACCEPTCONN=%d\n", acc);
    /* Nobody listens once it is closed. */
    close(l);
    x = socket(AF_INET, SOCK_STREAM, 0);
    SHOW("connect closed port", connect(x, &a.sa, len));
    close(x);
    /* SO_REUSEADDR: two binds, one listener. */
    int r1 = socket(AF_INET, SOCK_STREAM, 0), r2 = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    CHECK(setsockopt(r1, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0);
    CHECK(setsockopt(r2, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0);
    len = make_addr(&a, AF_INET, "127.0.0.1", 0);
    CHECK(bind(r1, &a.sa, len) == 0);
    len = make_addr(&a, AF_INET, "127.0.0.1", port_of(r1));
    SHOW("SO_REUSEADDR second bind", bind(r2, &a.sa, len));
    SHOW("first listen", listen(r1, 1));
    SHOW("second listen", listen(r2, 1));
    close(r1);
    close(r2);

    x = socket(AF_INET, SOCK_STREAM, 0);
    len = make_addr(&a, AF_INET, "10.1.2.3", 0);
    SHOW("bind non-local address", bind(x, &a.sa, len));
    SHOW("bind short addrlen", bind(x, &a.sa, 15));
    a.sa.sa_family = AF_INET6;
    SHOW("bind wrong family", bind(x, &a.sa, sizeof a.in));
    len = make_addr(&a, AF_INET, "127.0.0.1", 0);
    SHOW("bind", bind(x, &a.sa, len));
    SHOW("bind again", bind(x, &a.sa, len));
    SHOW("send unconnected", send(x, "x", 1, MSG_NOSIGNAL));
    SHOW("recv unconnected", recv(x, &one, 1, MSG_DONTWAIT));
    SHOW("getpeername unconnected", getpeername(x, &a.sa, &len));
    SHOW("shutdown unconnected", shutdown(x, SHUT_RDWR));
    close(x);
    SHOW("socket(SOCK_STREAM, IPPROTO_UDP)", socket(AF_INET, SOCK_STREAM, IPPROTO_UDP));
    SHOW("socket(SOCK_DGRAM, IPPROTO_TCP)", socket(AF_INET6, SOCK_DGRAM, IPPROTO_TCP));
    SHOW("socket(SOCK_SEQPACKET)", socket(AF_INET, SOCK_SEQPACKET, 0));
    SHOW("socketpair(AF_INET)", socketpair(AF_INET, SOCK_STREAM, 0, (int[2]){0, 0}));
    int v6 = socket(AF_INET6, SOCK_STREAM, 0);
    len = make_addr(&a, AF_INET6, "2001:db8::1", 0);
    SHOW("v6 bind non-local", bind(v6, &a.sa, len));
    SHOW("v6 bind short", bind(v6, &a.sa, 23));
    close(v6);
}

/* epoll, SO_LINGER 0, other loopback addresses. */
static void more_tcp(void) {
    int port;
    int l = listener(AF_INET, "127.0.0.2", &port);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 1}, got[4];
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev) == 0);
    SHOW("epoll idle listener", epoll_wait(ep, got, 4, 0));
    int c = connect_to(AF_INET, "127.0.0.2", port);
    int n = epoll_wait(ep, got, 4, 5000);
    printf("epoll listener: %d events=%#x\n", n, n > 0 ? got[0].events : 0);
    addr_t a;
    socklen_t len = sizeof a;
    int s = accept(l, &a.sa, &len);
    CHECK(s >= 0);
    char text[32];
    inet_ntop(AF_INET, &a.in.sin_addr, text, sizeof text);
    printf("peer of a client of 127.0.0.2: %s\n", text);
    len = sizeof a;
    CHECK(getsockname(s, &a.sa, &len) == 0);
    inet_ntop(AF_INET, &a.in.sin_addr, text, sizeof text);
    printf("accepted socket name: %s\n", text);
    ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
    ev.data.u32 = 2;
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev) == 0);
    SHOW("epoll idle connection", epoll_wait(ep, got, 4, 0));
    CHECK(send(c, "abc", 3, 0) == 3);
    n = epoll_wait(ep, got, 4, 5000);
    printf("epoll data: %d data=%u events=%#x\n", n, n > 0 ? got[0].data.u32 : 0, n > 0 ? got[0].events : 0);
    SHOW("edge-triggered again", epoll_wait(ep, got, 4, 0));
    CHECK(shutdown(c, SHUT_WR) == 0);
    n = epoll_wait(ep, got, 4, 5000);
    printf("epoll after SHUT_WR: %d events=%#x\n", n, n > 0 ? got[0].events : 0);
    char buf[16];
    /* MSG_WAITALL stops at end-of-file. */
    SHOW("MSG_WAITALL to EOF", recv(s, buf, sizeof buf, MSG_WAITALL));
    close(ep);
    /* SO_LINGER with a zero time: close resets. */
    struct linger lg = {1, 0};
    CHECK(setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0);
    close(s);
    SHOW("recv after linger-0 close", recv(c, buf, sizeof buf, 0));
    close(c);
    close(l);
}

/* A full backlog: a non-blocking connect waits in line until accept. */
static void backlog(void) {
    int port;
    int l = socket(AF_INET, SOCK_STREAM, 0);
    addr_t a;
    socklen_t len = make_addr(&a, AF_INET, "127.0.0.1", 0);
    CHECK(bind(l, &a.sa, len) == 0);
    CHECK(listen(l, 0) == 0);
    port = port_of(l);
    len = make_addr(&a, AF_INET, "127.0.0.1", port);
    int c1 = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    SHOW("first connect", connect(c1, &a.sa, len));
    struct pollfd p1 = {c1, POLLOUT, 0};
    CHECK(poll(&p1, 1, 5000) == 1);
    int c2 = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    SHOW("connect beyond the backlog", connect(c2, &a.sa, len));
    SHOW("again", connect(c2, &a.sa, len));
    struct pollfd p2 = {c2, POLLOUT, 0};
    SHOW("poll waiting connect", poll(&p2, 1, 0));
    int s1 = accept(l, NULL, NULL);
    CHECK(s1 >= 0);
    SHOW("poll after accept", poll(&p2, 1, 10000));
    printf("revents=%#x\n", p2.revents);
    SHOW("connect when done", connect(c2, &a.sa, len));
    int s2 = accept(l, NULL, NULL);
    CHECK(s2 >= 0);
    CHECK(send(c2, "late", 4, 0) == 4);
    char buf[8];
    SHOW("admitted connection carries data", recv(s2, buf, sizeof buf, 0));
    close(c1);
    close(c2);
    close(s1);
    close(s2);
    close(l);
}

/* An accepted connection keeps its listener's port in use. */
static void port_held(void) {
    int port;
    int l = listener(AF_INET, "127.0.0.1", &port);
    int c = connect_to(AF_INET, "127.0.0.1", port);
    int s = accept(l, NULL, NULL);
    close(l);
    int x = socket(AF_INET, SOCK_STREAM, 0);
    addr_t a;
    socklen_t len = make_addr(&a, AF_INET, "127.0.0.1", port);
    SHOW("rebind while a connection lives", bind(x, &a.sa, len));
    close(x);
    x = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    CHECK(setsockopt(x, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0);
    SHOW("with SO_REUSEADDR", bind(x, &a.sa, len));
    SHOW("listen", listen(x, 1));
    close(x);
    close(s);
    close(c);
}

static void nonblocking(void) {
    int port;
    int l = listener(AF_INET, "127.0.0.1", &port);
    fcntl(l, F_SETFL, O_NONBLOCK);
    SHOW("accept none", accept(l, NULL, NULL));
    struct pollfd p = {l, POLLIN, 0};
    SHOW("poll listener idle", poll(&p, 1, 0));
    int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    addr_t a;
    socklen_t len = make_addr(&a, AF_INET, "127.0.0.1", port);
    int r = connect(c, &a.sa, len);
    printf("non-blocking connect: %s\n", r == 0 || errno == EINPROGRESS ? "0 or EINPROGRESS" : en(errno));
    struct pollfd cp = {c, POLLOUT, 0};
    CHECK(poll(&cp, 1, 5000) == 1);
    int err = -1;
    socklen_t el = sizeof err;
    CHECK(getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &el) == 0);
    printf("connected: revents=%#x SO_ERROR=%d\n", cp.revents, err);
    p.revents = 0;
    SHOW("poll listener pending", poll(&p, 1, 5000));
    printf("listener revents=%#x\n", p.revents);
    int s = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    CHECK(s >= 0);
    printf("accept4 flags: nonblock=%d cloexec=%d\n", !!(fcntl(s, F_GETFL) & O_NONBLOCK),
           !!(fcntl(s, F_GETFD) & FD_CLOEXEC));
    char buf[65536];
    SHOW("recv empty", recv(s, buf, sizeof buf, 0));
    struct pollfd sp = {s, POLLIN | POLLOUT | POLLRDHUP, 0};
    CHECK(poll(&sp, 1, 0) == 1);
    printf("idle connection revents=%#x\n", sp.revents);
    CHECK(send(c, "hello world", 11, 0) == 11);
    CHECK(poll(&sp, 1, 5000) == 1);
    printf("with data revents=%#x\n", sp.revents);
    int avail = -1;
    CHECK(ioctl(s, FIONREAD, &avail) == 0);
    printf("FIONREAD=%d\n", avail);
    ssize_t n = recv(s, buf, 5, MSG_PEEK);
    printf("peek %zd: %.*s\n", n, (int)n, buf);
    n = recv(s, buf, 5, 0);
    printf("recv %zd: %.*s\n", n, (int)n, buf);
    n = recv(s, buf, sizeof buf, 0);
    printf("recv %zd: %.*s\n", n, (int)n, buf);
    /* Fill the connection. */
    long total = 0;
    static char big[65536];
    for (;;) {
        n = send(c, big, sizeof big, 0);
        if (n < 0)
            break;
        total += n;
    }
    printf("filled: %s, some buffered=%d\n", en(errno), total > 0);
    cp.revents = 0;
    SHOW("poll full for POLLOUT", poll(&cp, 1, 0));
    long drained = 0;
    while ((n = recv(s, big, sizeof big, 0)) > 0)
        drained += n;
    printf("drained all: %d\n", drained == total);
    /* shutdown(SHUT_WR): the peer reads EOF; writes give EPIPE. */
    CHECK(send(c, "bye", 3, 0) == 3);
    SHOW("shutdown SHUT_WR", shutdown(c, SHUT_WR));
    SHOW("send after SHUT_WR", send(c, "x", 1, MSG_NOSIGNAL));
    n = recv(s, buf, sizeof buf, 0);
    printf("peer reads %zd then ", n);
    SHOW("EOF", recv(s, buf, sizeof buf, 0));
    sp.revents = 0;
    CHECK(poll(&sp, 1, 0) == 1);
    printf("after peer SHUT_WR revents=%#x\n", sp.revents);
    SHOW("peer still writes", send(s, "ok", 2, 0));
    n = recv(c, buf, sizeof buf, 0);
    printf("shut side reads %zd\n", n);
    SHOW("shutdown bad how", shutdown(c, 7));
    close(c);
    close(s);
    close(l);
}

static void resets(void) {
    char buf[64];
    int port;
    int l = listener(AF_INET6, "::1", &port);
    /* Closing with unread data: the peer gets ECONNRESET. */
    int c = connect_to(AF_INET6, "::1", port);
    int s = accept(l, NULL, NULL);
    CHECK(send(s, "unread", 6, 0) == 6);
    CHECK(send(c, "x", 1, 0) == 1);
    usleep(10000);
    close(c);
    usleep(10000);
    struct pollfd sp = {s, POLLIN | POLLOUT | POLLRDHUP, 0};
    CHECK(poll(&sp, 1, 5000) == 1);
    printf("reset revents=%#x\n", sp.revents);
    ssize_t n = recv(s, buf, sizeof buf, 0);
    printf("queued before reset %zd\n", n);
    SHOW("recv after reset", recv(s, buf, sizeof buf, 0));
    SHOW("then recv", recv(s, buf, sizeof buf, 0));
    SHOW("then send", send(s, "x", 1, MSG_NOSIGNAL));
    SHOW("getpeername", getpeername(s, (struct sockaddr *)buf, &(socklen_t){sizeof buf}));
    close(s);
    /* Writing to a closed peer: once accepted, then EPIPE. */
    c = connect_to(AF_INET6, "::1", port);
    s = accept(l, NULL, NULL);
    close(s);
    usleep(10000);
    SHOW("read from closed peer", recv(c, buf, sizeof buf, 0));
    SHOW("first write to closed peer", send(c, "abc", 3, MSG_NOSIGNAL));
    usleep(10000);
    SHOW("second write", send(c, "abc", 3, MSG_NOSIGNAL));
    int err = -1;
    socklen_t el = sizeof err;
    CHECK(getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &el) == 0);
    printf("SO_ERROR=%s\n", en(err));
    close(c);
    /* SIGPIPE without MSG_NOSIGNAL. */
    signal(SIGPIPE, SIG_IGN);
    c = connect_to(AF_INET6, "::1", port);
    s = accept(l, NULL, NULL);
    shutdown(c, SHUT_WR);
    SHOW("write after SHUT_WR (SIGPIPE ignored)", write(c, "x", 1));
    close(c);
    close(s);
    close(l);
}

/* A blocking accept, connect and MSG_WAITALL read across a fork. */
static void forked(void) {
    int port;
    int l = listener(AF_INET, "127.0.0.1", &port);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(l);
        int c = connect_to(AF_INET, "127.0.0.1", port);
        static char big[300000];
        memset(big, 'z', sizeof big);
        for (int i = 0; i < 3; i++) {
            usleep(20000);
            CHECK(write(c, big, sizeof big) == sizeof big);
        }
        char b;
        CHECK(read(c, &b, 1) == 1);
        _exit(b == '!' ? 0 : 1);
    }
    int s = accept(l, NULL, NULL);
    CHECK(s >= 0);
    static char in[900000];
    ssize_t n = recv(s, in, sizeof in, MSG_WAITALL);
    int same = 1;
    for (ssize_t i = 0; i < n; i++)
        same &= in[i] == 'z';
    printf("blocking MSG_WAITALL: %zd all z=%d\n", n, same);
    CHECK(write(s, "!", 1) == 1);
    int st;
    CHECK(waitpid(pid, &st, 0) == pid);
    printf("child exit=%d\n", WEXITSTATUS(st));
    close(s);
    close(l);
}

static void options(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    int v = -1;
    socklen_t len = sizeof v;
    CHECK(getsockopt(s, SOL_SOCKET, SO_TYPE, &v, &len) == 0);
    printf("SO_TYPE=%d", v);
    CHECK(getsockopt(s, SOL_SOCKET, SO_DOMAIN, &v, &len) == 0);
    printf(" SO_DOMAIN=%d", v);
    CHECK(getsockopt(s, SOL_SOCKET, SO_PROTOCOL, &v, &len) == 0);
    printf(" SO_PROTOCOL=%d\n", v);
    int one = 1;
    CHECK(setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0);
    CHECK(getsockopt(s, IPPROTO_TCP, TCP_NODELAY, &v, &len) == 0);
    printf("TCP_NODELAY=%d", v);
    CHECK(setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one) == 0);
    CHECK(getsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &v, &len) == 0);
    printf(" SO_KEEPALIVE=%d", v);
    int idle = 30;
    CHECK(setsockopt(s, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle) == 0);
    CHECK(getsockopt(s, IPPROTO_TCP, TCP_KEEPIDLE, &v, &len) == 0);
    printf(" TCP_KEEPIDLE=%d", v);
    CHECK(getsockopt(s, SOL_SOCKET, SO_REUSEADDR, &v, &len) == 0);
    printf(" SO_REUSEADDR=%d\n", v);
    int zero = 0;
    SHOW("TCP_KEEPIDLE 0", setsockopt(s, IPPROTO_TCP, TCP_KEEPIDLE, &zero, sizeof zero));
    int sz = 100000;
    CHECK(setsockopt(s, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz) == 0);
    CHECK(getsockopt(s, SOL_SOCKET, SO_SNDBUF, &v, &len) == 0);
    printf("SO_SNDBUF 100000 -> %d\n", v);
    struct linger lg = {1, 5};
    CHECK(setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0);
    len = sizeof lg;
    CHECK(getsockopt(s, SOL_SOCKET, SO_LINGER, &lg, &len) == 0);
    printf("SO_LINGER=%d,%d\n", lg.l_onoff, lg.l_linger);
    len = sizeof v;
    SHOW("unknown SOL_SOCKET option", getsockopt(s, SOL_SOCKET, 9999, &v, &len));
    close(s);
    int u = socket(AF_INET6, SOCK_DGRAM, 0);
    len = sizeof v;
    CHECK(getsockopt(u, SOL_SOCKET, SO_TYPE, &v, &len) == 0);
    printf("udp SO_TYPE=%d", v);
    CHECK(getsockopt(u, SOL_SOCKET, SO_PROTOCOL, &v, &len) == 0);
    printf(" SO_PROTOCOL=%d", v);
    CHECK(getsockopt(u, IPPROTO_IPV6, IPV6_V6ONLY, &v, &len) == 0);
    printf(" IPV6_V6ONLY=%d\n", v);
    SHOW("udp listen", listen(u, 1));
    close(u);
}

static void udp(int family, const char *ip, const char *label) {
    int a = socket(family, SOCK_DGRAM, 0), b = socket(family, SOCK_DGRAM, 0);
    CHECK(a >= 0 && b >= 0);
    addr_t addr;
    socklen_t len = make_addr(&addr, family, ip, 0);
    CHECK(bind(b, &addr.sa, len) == 0);
    len = make_addr(&addr, family, ip, port_of(b));
    CHECK(sendto(a, "first", 5, 0, &addr.sa, len) == 5);
    CHECK(sendto(a, "second", 6, 0, &addr.sa, len) == 6);
    printf("%s: sender auto-bound ephemeral=%d\n", label, ephemeral(port_of(a)));
    addr_t from, aname;
    socklen_t flen = sizeof from, alen = sizeof aname;
    char buf[64];
    ssize_t n = recvfrom(b, buf, sizeof buf, 0, &from.sa, &flen);
    CHECK(getsockname(a, &aname.sa, &alen) == 0);
    /* The sender is unbound-wildcard: compare ports and families only. */
    int port_ok = family == AF_INET ? from.in.sin_port == aname.in.sin_port : from.in6.sin6_port == aname.in6.sin6_port;
    printf("%s: recvfrom %zd %.*s fromlen=%d family ok=%d port ok=%d\n", label, n, (int)n, buf, (int)flen,
           from.sa.sa_family == family, port_ok);
    int avail = -1;
    CHECK(ioctl(b, FIONREAD, &avail) == 0);
    printf("%s: FIONREAD=%d\n", label, avail);
    n = recv(b, buf, 3, MSG_TRUNC);
    printf("%s: MSG_TRUNC recv %zd: %.3s\n", label, n, buf);
    SHOW("empty", recv(b, buf, sizeof buf, MSG_DONTWAIT));
    /* recvmsg reports truncation in msg_flags. */
    CHECK(sendto(a, "abcdef", 6, 0, &addr.sa, len) == 6);
    struct iovec iov = {buf, 2};
    struct msghdr mh = {0};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    n = recvmsg(b, &mh, 0);
    printf("%s: recvmsg %zd truncated=%d\n", label, n, !!(mh.msg_flags & MSG_TRUNC));
    /* Connected: send without an address; the receiver filters. */
    CHECK(connect(a, &addr.sa, len) == 0);
    CHECK(send(a, "conn", 4, 0) == 4);
    n = recv(b, buf, sizeof buf, 0);
    printf("%s: connected send %zd\n", label, n);
    addr_t peer;
    socklen_t plen = sizeof peer;
    SHOW("getpeername", getpeername(a, &peer.sa, &plen));
    static char big[65536];
    SHOW("too big", send(a, big, family == AF_INET ? 65508 : 65528, 0));
    SHOW("largest", send(a, big, family == AF_INET ? 65507 : 65527, 0));
    n = recv(b, big, sizeof big, 0);
    printf("%s: got %zd\n", label, n);
    /* A port nobody has: the connected sender gets ECONNREFUSED. */
    close(b);
    SHOW("send to closed port", send(a, "x", 1, 0));
    usleep(10000);
    SHOW("next recv", recv(a, buf, sizeof buf, MSG_DONTWAIT));
    SHOW("then", recv(a, buf, sizeof buf, MSG_DONTWAIT));
    /* Disconnect with AF_UNSPEC. */
    struct sockaddr unspec = {.sa_family = AF_UNSPEC};
    SHOW("connect AF_UNSPEC", connect(a, &unspec, sizeof unspec));
    printf("%s: automatic port released=%d\n", label, port_of(a) == 0);
    SHOW("send without address", send(a, "x", 1, 0));
    close(a);
}

static void udp_more(void) {
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    addr_t a;
    socklen_t len = make_addr(&a, AF_INET, "127.0.0.1", 0);
    SHOW("udp sendto port 0", sendto(u, "x", 1, 0, &a.sa, len));
    SHOW("udp sendto short", sendto(u, "x", 1, 0, &a.sa, 8));
    close(u);
    /* A v6 socket receives from a v4 one as ::ffff:127.0.0.1. */
    int r = socket(AF_INET6, SOCK_DGRAM, 0), s = socket(AF_INET, SOCK_DGRAM, 0);
    len = make_addr(&a, AF_INET6, "::", 0);
    CHECK(bind(r, &a.sa, len) == 0);
    len = make_addr(&a, AF_INET, "127.0.0.1", port_of(r));
    CHECK(sendto(s, "m", 1, 0, &a.sa, len) == 1);
    addr_t from;
    socklen_t flen = sizeof from;
    char buf[8], text[64] = "";
    CHECK(recvfrom(r, buf, sizeof buf, 0, &from.sa, &flen) == 1);
    inet_ntop(AF_INET6, &from.in6.sin6_addr, text, sizeof text);
    printf("v6 receiver, v4 sender: %s port ok=%d\n", text, ntohs(from.in6.sin6_port) == port_of(s));
    /* Fill a small receive buffer: later datagrams are dropped. */
    int sz = 4096;
    CHECK(setsockopt(r, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz) == 0);
    static char big[1000];
    for (int i = 0; i < 200; i++)
        CHECK(sendto(s, big, sizeof big, 0, &a.sa, len) == sizeof big);
    int got = 0;
    while (recv(r, big, sizeof big, MSG_DONTWAIT) > 0)
        got++;
    printf("200 datagrams into a small buffer: some dropped=%d some kept=%d\n", got < 200, got > 0);
    close(r);
    close(s);
}

/* The loopback interface as ioctls see it (index 1 on any Linux). */
static void interfaces(void) {
    int s = socket(AF_INET6, SOCK_DGRAM, 0);
    struct ifreq r;
    memset(&r, 0, sizeof r);
    strcpy(r.ifr_name, "lo");
    SHOW("SIOCGIFINDEX lo", ioctl(s, SIOCGIFINDEX, &r));
    printf("lo index=%d\n", r.ifr_ifindex);
    memset(&r, 0, sizeof r);
    r.ifr_ifindex = 1;
    SHOW("SIOCGIFNAME 1", ioctl(s, SIOCGIFNAME, &r));
    printf("name=%s\n", r.ifr_name);
    strcpy(r.ifr_name, "lo");
    SHOW("SIOCGIFFLAGS lo", ioctl(s, SIOCGIFFLAGS, &r));
    printf("up=%d loopback=%d running=%d\n", !!(r.ifr_flags & IFF_UP), !!(r.ifr_flags & IFF_LOOPBACK),
           !!(r.ifr_flags & IFF_RUNNING));
    close(s);
    s = socket(AF_INET, SOCK_STREAM, 0);
    strcpy(r.ifr_name, "lo");
    SHOW("SIOCGIFADDR lo", ioctl(s, SIOCGIFADDR, &r));
    printf("lo addr=%s\n", inet_ntoa(((struct sockaddr_in *)&r.ifr_addr)->sin_addr));
    strcpy(r.ifr_name, "nosuchif0");
    SHOW("SIOCGIFFLAGS nosuchif0", ioctl(s, SIOCGIFFLAGS, &r));
    struct ifreq all[64];
    struct ifconf conf = {.ifc_len = sizeof all, .ifc_req = all};
    SHOW("SIOCGIFCONF", ioctl(s, SIOCGIFCONF, &conf));
    int found = 0;
    for (int i = 0; i < conf.ifc_len / (int)sizeof(struct ifreq); i++)
        found |= strcmp(all[i].ifr_name, "lo") == 0 &&
                 ((struct sockaddr_in *)&all[i].ifr_addr)->sin_addr.s_addr == htonl(INADDR_LOOPBACK);
    printf("SIOCGIFCONF lists lo 127.0.0.1=%d whole entries=%d\n", found, conf.ifc_len % (int)sizeof(struct ifreq) == 0);
    conf.ifc_buf = NULL;
    conf.ifc_len = 0;
    SHOW("SIOCGIFCONF size", ioctl(s, SIOCGIFCONF, &conf));
    printf("size at least one entry=%d\n", conf.ifc_len >= (int)sizeof(struct ifreq));
    close(s);
}

/* Only loopback exists in the sandbox; a host may route anywhere. */
static void sandbox_only(void) {
    addr_t a;
    socklen_t len = make_addr(&a, AF_INET, "8.8.8.8", 53);
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    SHOW("udp sendto non-local", sendto(u, "x", 1, 0, &a.sa, len));
    SHOW("udp connect non-local", connect(u, &a.sa, len));
    close(u);
    int t = socket(AF_INET, SOCK_STREAM, 0);
    SHOW("tcp connect non-local", connect(t, &a.sa, len));
    close(t);
    t = socket(AF_INET6, SOCK_STREAM, 0);
    len = make_addr(&a, AF_INET6, "2001:db8::1", 80);
    SHOW("tcp6 connect non-local", connect(t, &a.sa, len));
    close(t);
    SHOW("socket(AF_INET, SOCK_RAW)", socket(AF_INET, SOCK_RAW, IPPROTO_ICMP));
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    echo(AF_INET, "127.0.0.1", "tcp4");
    echo(AF_INET6, "::1", "tcp6");
    mapped();
    errors();
    port_held();
    backlog();
    more_tcp();
    nonblocking();
    resets();
    forked();
    options();
    udp(AF_INET, "127.0.0.1", "udp4");
    udp(AF_INET6, "::1", "udp6");
    udp_more();
    interfaces();
    if (argc > 1 && strcmp(argv[1], "sandbox") == 0)
        sandbox_only();
    printf("done\n");
    return 0;
}
