/* AF_UNIX sockets from one single-threaded process (both ends, non-blocking).
 *
 * usage: unix DIR [sandbox]
 *   DIR: a writable directory for path names (its own, empty).
 *   sandbox: also print checks whose result differs on purpose from a host
 *            (no network stack in the Sentry yet).
 * The output must not depend on pids, inode numbers or DIR, so that a native
 * run can be compared line by line.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "guest.h"

/* Prints "label: <result>" where result is the return value or the errno. */
static const char *dir;

static socklen_t path_addr(struct sockaddr_un *a, const char *name) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    snprintf(a->sun_path, sizeof a->sun_path, "%s/%s", dir, name);
    return offsetof(struct sockaddr_un, sun_path) + strlen(a->sun_path) + 1;
}

static socklen_t abstract_addr(struct sockaddr_un *a, const char *name) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    /* Unique per process: abstract names are shared by the whole host. */
    int n = snprintf(a->sun_path + 1, sizeof a->sun_path - 1, "rvisor-%d-%s", getpid(), name);
    return offsetof(struct sockaddr_un, sun_path) + 1 + n;
}

static void pairs(void) {
    int sv[2];
    char buf[64];

    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
    CHECK(write(sv[0], "hello ", 6) == 6);
    CHECK(send(sv[0], "world", 5, 0) == 5);
    int avail = -1;
    CHECK(ioctl(sv[1], FIONREAD, &avail) == 0);
    printf("stream FIONREAD=%d\n", avail);
    ssize_t n = read(sv[1], buf, sizeof buf);
    printf("stream read %zd: %.*s\n", n, (int)n, buf);
    SHOW("stream empty read", read(sv[1], buf, sizeof buf));
    /* writev joins, readv splits. */
    struct iovec w[2] = {{"abc", 3}, {"defg", 4}};
    CHECK(writev(sv[1], w, 2) == 7);
    char r1[2], r2[10];
    struct iovec r[2] = {{r1, 2}, {r2, 10}};
    n = readv(sv[0], r, 2);
    printf("stream readv %zd: %.2s|%.*s\n", n, r1, (int)n - 2, r2);
    struct stat st;
    CHECK(fstat(sv[0], &st) == 0);
    printf("fstat S_ISSOCK=%d mode=%o size=%ld\n", S_ISSOCK(st.st_mode), st.st_mode & 0777, (long)st.st_size);
    /* Fill the buffer. */
    static char big[65536];
    long total = 0;
    for (;;) {
        n = send(sv[0], big, sizeof big, MSG_DONTWAIT);
        if (n < 0)
            break;
        total += n;
    }
    printf("stream filled: %s, buffered>=208k:%d\n", en(errno), total >= 212992);
    long drained = 0;
    while ((n = recv(sv[1], big, sizeof big, 0)) > 0)
        drained += n;
    printf("stream drained all: %d\n", drained == total);
    close(sv[0]);
    close(sv[1]);

    CHECK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) == 0);
    CHECK(send(sv[0], "first", 5, 0) == 5);
    CHECK(send(sv[0], "second", 6, 0) == 6);
    CHECK(writev(sv[0], w, 2) == 7);
    n = recv(sv[1], buf, 3, MSG_DONTWAIT);
    printf("dgram short recv %zd: %.*s\n", n, (int)n, buf);
    n = recv(sv[1], buf, 2, MSG_DONTWAIT | MSG_TRUNC);
    printf("dgram MSG_TRUNC recv %zd: %.2s\n", n, buf);
    struct msghdr mh = {0};
    struct iovec one = {buf, 4};
    mh.msg_iov = &one;
    mh.msg_iovlen = 1;
    n = recvmsg(sv[1], &mh, MSG_DONTWAIT);
    printf("dgram recvmsg %zd: %.4s truncated=%d\n", n, buf, !!(mh.msg_flags & MSG_TRUNC));
    SHOW("dgram empty", recv(sv[1], buf, sizeof buf, MSG_DONTWAIT));
    static char huge[300000];
    SHOW("dgram too big", send(sv[0], huge, sizeof huge, 0));
    close(sv[1]);
    SHOW("dgram peer closed", send(sv[0], "x", 1, 0));
    SHOW("dgram then", send(sv[0], "x", 1, 0));
    close(sv[0]);

    CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
    printf("cloexec=%d nonblock=%d\n", fcntl(sv[0], F_GETFD) & FD_CLOEXEC, !!(fcntl(sv[0], F_GETFL) & O_NONBLOCK));
    CHECK(send(sv[0], "record-one", 10, 0) == 10);
    CHECK(send(sv[0], "two", 3, 0) == 3);
    mh.msg_flags = 0;
    n = recvmsg(sv[1], &mh, 0);
    printf("seqpacket recvmsg %zd: %.4s truncated=%d\n", n, buf, !!(mh.msg_flags & MSG_TRUNC));
    n = recv(sv[1], buf, sizeof buf, 0);
    printf("seqpacket recv %zd: %.*s\n", n, (int)n, buf);
    CHECK(shutdown(sv[0], SHUT_WR) == 0);
    SHOW("seqpacket after SHUT_WR recv", recv(sv[1], buf, sizeof buf, 0));
    SHOW("seqpacket after SHUT_WR send", send(sv[0], "x", 1, MSG_NOSIGNAL));
    close(sv[0]);
    close(sv[1]);
}

static void shutdowns(void) {
    int sv[2];
    char buf[16];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
    CHECK(send(sv[0], "bye", 3, 0) == 3);
    SHOW("shutdown bad how", shutdown(sv[0], 7));
    CHECK(shutdown(sv[0], SHUT_WR) == 0);
    SHOW("write after SHUT_WR", send(sv[0], "x", 1, MSG_NOSIGNAL));
    SHOW("write() after SHUT_WR", write(sv[0], "x", 1));
    SHOW("peer reads data", recv(sv[1], buf, sizeof buf, 0));
    SHOW("peer reads EOF", recv(sv[1], buf, sizeof buf, 0));
    SHOW("peer still writes", send(sv[1], "ok", 2, 0));
    SHOW("shut side reads", recv(sv[0], buf, sizeof buf, 0));
    CHECK(shutdown(sv[0], SHUT_RD) == 0);
    SHOW("peer writes after SHUT_RD", send(sv[1], "x", 1, MSG_NOSIGNAL));
    close(sv[0]);
    close(sv[1]);

    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
    CHECK(send(sv[0], "unread", 6, 0) == 6);
    close(sv[1]);
    SHOW("peer closed with unread: recv", recv(sv[0], buf, sizeof buf, 0));
    SHOW("then recv", recv(sv[0], buf, sizeof buf, 0));
    SHOW("then send", send(sv[0], "x", 1, MSG_NOSIGNAL));
    int err = -1;
    socklen_t l = sizeof err;
    CHECK(getsockopt(sv[0], SOL_SOCKET, SO_ERROR, &err, &l) == 0);
    printf("SO_ERROR after: %s\n", en(err));
    close(sv[0]);
}

static void show_name(const char *label, int fd, int peer, const struct sockaddr_un *want, socklen_t wantlen) {
    struct sockaddr_un a;
    socklen_t l = sizeof a;
    memset(&a, 0x55, sizeof a);
    int r = peer ? getpeername(fd, (struct sockaddr *)&a, &l) : getsockname(fd, (struct sockaddr *)&a, &l);
    if (r < 0) {
        printf("%s: %s\n", label, en(errno));
        return;
    }
    if (want == NULL)
        printf("%s: len=%u family=%d\n", label, (unsigned)l, a.sun_family);
    else
        printf("%s: matches=%d\n", label, l == wantlen && memcmp(&a, want, l) == 0);
}

static void connections(const char *kind, struct sockaddr_un *addr, socklen_t len) {
    char buf[32];
    printf("-- %s\n", kind);
    int l = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    CHECK(l >= 0);
    SHOW("listen unbound", listen(l, 1));
    int c = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    SHOW("connect before bind", connect(c, (struct sockaddr *)addr, len));
    SHOW("bind", bind(l, (struct sockaddr *)addr, len));
    SHOW("connect before listen", connect(c, (struct sockaddr *)addr, len));
    int other = socket(AF_UNIX, SOCK_STREAM, 0);
    SHOW("bind same name", bind(other, (struct sockaddr *)addr, len));
    close(other);
    SHOW("listen", listen(l, 0));
    int acc = 0;
    socklen_t ol = sizeof acc;
    CHECK(getsockopt(l, SOL_SOCKET, SO_ACCEPTCONN, &acc, &ol) == 0);
    printf("SO_ACCEPTCONN=%d\n", acc);
    SHOW("accept none", accept(l, NULL, NULL));
    SHOW("connect", connect(c, (struct sockaddr *)addr, len));
    SHOW("connect again", connect(c, (struct sockaddr *)addr, len));
    int c2 = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    SHOW("connect backlog full", connect(c2, (struct sockaddr *)addr, len));
    SHOW("send before accept", send(c, "early", 5, 0));
    struct sockaddr_un from;
    socklen_t fl = sizeof from;
    int s = accept4(l, (struct sockaddr *)&from, &fl, SOCK_CLOEXEC);
    CHECK(s >= 0);
    printf("accepted: addrlen=%u family=%d cloexec=%d nonblock=%d\n", (unsigned)fl, from.sun_family,
           fcntl(s, F_GETFD) & FD_CLOEXEC, !!(fcntl(s, F_GETFL) & O_NONBLOCK));
    ssize_t n = recv(s, buf, sizeof buf, 0);
    printf("server got %zd: %.*s\n", n, (int)n, buf);
    show_name("listener name", l, 0, addr, len);
    show_name("server name", s, 0, addr, len);
    show_name("server peer", s, 1, NULL, 0);
    show_name("client name", c, 0, NULL, 0);
    show_name("client peer", c, 1, addr, len);
    show_name("listener peer", l, 1, NULL, 0);
    struct ucred uc;
    socklen_t ul = sizeof uc;
    CHECK(getsockopt(s, SOL_SOCKET, SO_PEERCRED, &uc, &ul) == 0);
    printf("server SO_PEERCRED: len=%u pid ok=%d uid ok=%d\n", (unsigned)ul, uc.pid == getpid(), uc.uid == geteuid());
    ul = sizeof uc;
    CHECK(getsockopt(c, SOL_SOCKET, SO_PEERCRED, &uc, &ul) == 0);
    printf("client SO_PEERCRED: pid ok=%d gid ok=%d\n", uc.pid == getpid(), uc.gid == getegid());
    CHECK(send(s, "pong", 4, 0) == 4);
    n = recv(c, buf, sizeof buf, 0);
    printf("client got %zd: %.*s\n", n, (int)n, buf);
    SHOW("connect after accept", connect(c2, (struct sockaddr *)addr, len));
    int dg = socket(AF_UNIX, SOCK_DGRAM, 0);
    SHOW("dgram connect to stream", connect(dg, (struct sockaddr *)addr, len));
    close(dg);
    close(l);
    SHOW("pending after listener closed", recv(c2, buf, sizeof buf, 0));
    int c3 = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    SHOW("connect after close", connect(c3, (struct sockaddr *)addr, len));
    close(c3);
    close(c2);
    close(c);
    close(s);
}

static void datagrams(void) {
    struct sockaddr_un a, b, from;
    socklen_t al = path_addr(&a, "dgram-a"), bl = abstract_addr(&b, "dgram-b");
    char buf[32];
    printf("-- datagram addresses\n");
    int sa = socket(AF_UNIX, SOCK_DGRAM, 0), sb = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    CHECK(bind(sa, (struct sockaddr *)&a, al) == 0);
    CHECK(bind(sb, (struct sockaddr *)&b, bl) == 0);
    SHOW("sendto", sendto(sa, "to-b", 4, 0, (struct sockaddr *)&b, bl));
    socklen_t fl = sizeof from;
    ssize_t n = recvfrom(sb, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
    printf("recvfrom %zd: %.*s from matches=%d\n", n, (int)n, buf, fl == al && memcmp(&from, &a, al) == 0);
    int anon = socket(AF_UNIX, SOCK_DGRAM, 0);
    SHOW("anonymous sendto", sendto(anon, "anon", 4, 0, (struct sockaddr *)&b, bl));
    fl = sizeof from;
    n = recvfrom(sb, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
    printf("from unnamed: %zd addrlen=%u\n", n, (unsigned)fl);
    SHOW("sendto missing path", sendto(anon, "x", 1, 0, (struct sockaddr *)&a, path_addr(&from, "nope")));
    SHOW("connect", connect(sb, (struct sockaddr *)&a, al));
    SHOW("stranger to connected", sendto(anon, "x", 1, 0, (struct sockaddr *)&b, bl));
    SHOW("send on connected", send(sb, "back", 4, 0));
    n = recv(sa, buf, sizeof buf, 0);
    printf("a got %zd: %.*s\n", n, (int)n, buf);
    show_name("b peer", sb, 1, &a, al);
    /* Autobind: an empty address. */
    struct sockaddr_un au;
    au.sun_family = AF_UNIX;
    SHOW("autobind", bind(anon, (struct sockaddr *)&au, sizeof(sa_family_t)));
    socklen_t aul = sizeof au;
    CHECK(getsockname(anon, (struct sockaddr *)&au, &aul) == 0);
    printf("autobind name: len=%u abstract=%d\n", (unsigned)aul, au.sun_path[0] == 0);
    close(anon);
    close(sa);
    close(sb);
}

static int send_fds(int sock, const char *data, int *fds, int nfds) {
    char cbuf[CMSG_SPACE(sizeof(int) * 4)];
    memset(cbuf, 0, sizeof cbuf);
    struct iovec iov = {(void *)data, strlen(data)};
    struct msghdr mh = {0};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = cbuf;
    mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
    return sendmsg(sock, &mh, 0);
}

static void rights(void) {
    printf("-- SCM_RIGHTS\n");
    char path[200];
    snprintf(path, sizeof path, "%s/passed.txt", dir);
    int f = open(path, O_CREAT | O_RDWR | O_TRUNC, 0644);
    CHECK(f >= 0);
    CHECK(write(f, "contents of the passed file\n", 28) == 28);
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
    SHOW("sendmsg with fd", send_fds(sv[0], "F", &f, 1));
    close(f);
    unlink(path);
    char data[8], cbuf[CMSG_SPACE(sizeof(int) * 4)];
    struct iovec iov = {data, sizeof data};
    struct msghdr mh = {0};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = cbuf;
    mh.msg_controllen = sizeof cbuf;
    ssize_t n = recvmsg(sv[1], &mh, MSG_CMSG_CLOEXEC);
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    CHECK(cm != NULL);
    printf("recvmsg %zd data=%.1s level=%d type=%d len=%zu controllen=%zu flags=%#x\n", n, data, cm->cmsg_level,
           cm->cmsg_type, (size_t)cm->cmsg_len, (size_t)mh.msg_controllen, mh.msg_flags);
    int got;
    memcpy(&got, CMSG_DATA(cm), sizeof got);
    printf("received fd cloexec=%d\n", fcntl(got, F_GETFD) & FD_CLOEXEC);
    /* The description is shared: its offset is at the end. */
    char back[64];
    n = read(got, back, sizeof back);
    printf("read at shared offset: %zd\n", n);
    CHECK(lseek(got, 0, SEEK_SET) == 0);
    n = read(got, back, sizeof back);
    printf("read via passed fd: %.*s", (int)n, back);

    /* Two descriptors, control buffer room for one: MSG_CTRUNC. */
    int two[2] = {got, got};
    CHECK(send_fds(sv[0], "G", two, 2) == 1);
    char small[CMSG_SPACE(sizeof(int))];
    mh.msg_control = small;
    mh.msg_controllen = CMSG_LEN(sizeof(int));
    mh.msg_flags = 0;
    n = recvmsg(sv[1], &mh, 0);
    cm = CMSG_FIRSTHDR(&mh);
    printf("short control: %zd ctrunc=%d fds=%zu\n", n, !!(mh.msg_flags & MSG_CTRUNC),
           cm ? (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int) : 0);
    if (cm) {
        int one;
        memcpy(&one, CMSG_DATA(cm), sizeof one);
        close(one);
    }
    /* No control buffer: descriptors are dropped, MSG_CTRUNC. */
    CHECK(send_fds(sv[0], "H", &got, 1) == 1);
    mh.msg_control = NULL;
    mh.msg_controllen = 0;
    mh.msg_flags = 0;
    n = recvmsg(sv[1], &mh, 0);
    printf("no control: %zd ctrunc=%d\n", n, !!(mh.msg_flags & MSG_CTRUNC));
    /* A bad descriptor. */
    int bad = 999;
    SHOW("send bad fd", send_fds(sv[0], "I", &bad, 1));
    /* Stream reads stop after data that carried descriptors. */
    CHECK(send(sv[0], "ab", 2, 0) == 2);
    CHECK(send_fds(sv[0], "cd", &got, 1) == 2);
    CHECK(send(sv[0], "ef", 2, 0) == 2);
    mh.msg_control = cbuf;
    mh.msg_controllen = sizeof cbuf;
    mh.msg_flags = 0;
    iov.iov_len = sizeof data;
    n = recvmsg(sv[1], &mh, 0);
    printf("joined read: %zd %.*s fds=%d\n", n, (int)n, data, CMSG_FIRSTHDR(&mh) != NULL);
    cm = CMSG_FIRSTHDR(&mh);
    if (cm) {
        int one;
        memcpy(&one, CMSG_DATA(cm), sizeof one);
        close(one);
    }
    n = recv(sv[1], data, sizeof data, 0);
    printf("rest: %zd %.*s\n", n, (int)n, data);
    close(got);
    close(sv[0]);
    close(sv[1]);
}

static void credentials(void) {
    printf("-- SCM_CREDENTIALS\n");
    int sv[2], on = 1;
    CHECK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) == 0);
    CHECK(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof on) == 0);
    int v = 0;
    socklen_t l = sizeof v;
    CHECK(getsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &v, &l) == 0);
    printf("SO_PASSCRED=%d\n", v);
    CHECK(send(sv[0], "c", 1, 0) == 1);
    char data[4], cbuf[CMSG_SPACE(sizeof(struct ucred))];
    struct iovec iov = {data, sizeof data};
    struct msghdr mh = {0};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = cbuf;
    mh.msg_controllen = sizeof cbuf;
    ssize_t n = recvmsg(sv[1], &mh, 0);
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    CHECK(cm != NULL);
    struct ucred uc;
    memcpy(&uc, CMSG_DATA(cm), sizeof uc);
    printf("recvmsg %zd type=%d pid ok=%d uid ok=%d gid ok=%d\n", n, cm->cmsg_type, uc.pid == getpid(),
           uc.uid == getuid(), uc.gid == getgid());
    /* Explicit credentials: one's own are allowed. */
    struct ucred mine = {getpid(), getuid(), getgid()};
    char sbuf[CMSG_SPACE(sizeof mine)];
    memset(sbuf, 0, sizeof sbuf);
    struct msghdr sm = {0};
    struct iovec siov = {"e", 1};
    sm.msg_iov = &siov;
    sm.msg_iovlen = 1;
    sm.msg_control = sbuf;
    sm.msg_controllen = sizeof sbuf;
    cm = CMSG_FIRSTHDR(&sm);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_CREDENTIALS;
    cm->cmsg_len = CMSG_LEN(sizeof mine);
    memcpy(CMSG_DATA(cm), &mine, sizeof mine);
    SHOW("sendmsg own creds", sendmsg(sv[0], &sm, 0));
    cm->cmsg_len = CMSG_LEN(sizeof mine) - 1;
    SHOW("sendmsg bad cmsg_len", sendmsg(sv[0], &sm, 0));
    close(sv[0]);
    close(sv[1]);
}

static void errors(void) {
    printf("-- errors\n");
    char path[200];
    snprintf(path, sizeof path, "%s/regular", dir);
    int f = open(path, O_CREAT | O_RDWR, 0644);
    CHECK(f >= 0);
    char buf[8];
    SHOW("send on a file", send(f, "x", 1, 0));
    SHOW("getsockname on a file", getsockname(f, NULL, NULL));
    SHOW("listen on a file", listen(f, 1));
    SHOW("recv on a bad fd", recv(12345, buf, 1, 0));
    SHOW("socket bad type", socket(AF_UNIX, 42, 0));
    SHOW("socket bad flags", socket(AF_UNIX, SOCK_STREAM | 0x100000, 0));
    SHOW("socket bad protocol", socket(AF_UNIX, SOCK_STREAM, 7));
    SHOW("socket(AF_UNIX, SOCK_RDM)", socket(AF_UNIX, SOCK_RDM, 0));
    SHOW("socketpair bad pointer", syscall(SYS_socketpair, AF_UNIX, SOCK_STREAM, 0, (void *)8));
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a;
    socklen_t al = path_addr(&a, "regular");
    SHOW("connect to a regular file", connect(s, (struct sockaddr *)&a, al));
    SHOW("bind on an existing file", bind(s, (struct sockaddr *)&a, al));
    al = path_addr(&a, "missing/dir/sock");
    SHOW("connect missing path", connect(s, (struct sockaddr *)&a, al));
    SHOW("connect bad address", connect(s, (struct sockaddr *)8, al));
    SHOW("connect short address", connect(s, (struct sockaddr *)&a, 1));
    SHOW("connect huge address", connect(s, (struct sockaddr *)&a, 4096));
    a.sun_family = AF_INET;
    SHOW("connect wrong family", connect(s, (struct sockaddr *)&a, al));
    socklen_t l = sizeof a;
    SHOW("getsockname bad buffer", getsockname(s, (struct sockaddr *)8, &l));
    SHOW("getsockname bad length", getsockname(s, (struct sockaddr *)&a, (socklen_t *)8));
    SHOW("getpeername unconnected", getpeername(s, (struct sockaddr *)&a, &l));
    SHOW("recv unconnected stream", recv(s, buf, 1, MSG_DONTWAIT));
    SHOW("send unconnected stream", send(s, "x", 1, 0));
    SHOW("accept not listening", accept(s, NULL, NULL));
    int v = 0;
    l = sizeof v;
    SHOW("getsockopt SO_TYPE", getsockopt(s, SOL_SOCKET, SO_TYPE, &v, &l));
    printf("SO_TYPE=%d len=%u\n", v, (unsigned)l);
    l = sizeof v;
    CHECK(getsockopt(s, SOL_SOCKET, SO_DOMAIN, &v, &l) == 0);
    printf("SO_DOMAIN=%d\n", v);
    CHECK(getsockopt(s, SOL_SOCKET, SO_PROTOCOL, &v, &l) == 0);
    printf("SO_PROTOCOL=%d\n", v);
    v = 1000;
    CHECK(setsockopt(s, SOL_SOCKET, SO_SNDBUF, &v, sizeof v) == 0);
    CHECK(getsockopt(s, SOL_SOCKET, SO_SNDBUF, &v, &l) == 0);
    printf("SO_SNDBUF after 1000: %d\n", v);
    v = 1;
    CHECK(setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &v, sizeof v) == 0);
    CHECK(getsockopt(s, SOL_SOCKET, SO_REUSEADDR, &v, &l) == 0);
    printf("SO_REUSEADDR=%d\n", v);
    SHOW("getsockopt unknown", getsockopt(s, SOL_SOCKET, 9999, &v, &l));
    SHOW("setsockopt SO_TYPE", setsockopt(s, SOL_SOCKET, SO_TYPE, &v, sizeof v));
    SHOW("setsockopt short", setsockopt(s, SOL_SOCKET, SO_SNDBUF, &v, 2));
    SHOW("getsockopt bad optlen", getsockopt(s, SOL_SOCKET, SO_TYPE, &v, (socklen_t *)8));
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    SHOW("send bad buffer", send(sv[0], (void *)8, 4, 0));
    SHOW("sendto on connected stream", sendto(sv[0], "x", 1, 0, (struct sockaddr *)&a, al));
    SHOW("listen on connected", listen(sv[0], 1));
    close(sv[0]);
    close(sv[1]);
    int d = socket(AF_UNIX, SOCK_DGRAM, 0);
    SHOW("listen on dgram", listen(d, 1));
    SHOW("accept on dgram", accept(d, NULL, NULL));
    SHOW("send unconnected dgram", send(d, "x", 1, 0));
    close(d);
    close(s);
    close(f);
    unlink(path);
}

static void unlinked(void) {
    printf("-- names in the file system\n");
    struct sockaddr_un a;
    socklen_t al = path_addr(&a, "named");
    int l = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    CHECK(bind(l, (struct sockaddr *)&a, al) == 0);
    CHECK(listen(l, 4) == 0);
    struct stat st;
    CHECK(stat(a.sun_path, &st) == 0);
    printf("stat: S_ISSOCK=%d mode=%o\n", S_ISSOCK(st.st_mode), st.st_mode & 0777);
    SHOW("open a socket path", open(a.sun_path, O_RDWR));
    char moved[200];
    snprintf(moved, sizeof moved, "%s/renamed", dir);
    CHECK(rename(a.sun_path, moved) == 0);
    int c = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    SHOW("connect old name", connect(c, (struct sockaddr *)&a, al));
    struct sockaddr_un r;
    socklen_t rl = path_addr(&r, "renamed");
    SHOW("connect new name", connect(c, (struct sockaddr *)&r, rl));
    show_name("listener keeps its name", l, 0, &a, al);
    CHECK(unlink(moved) == 0);
    int c2 = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    SHOW("connect unlinked", connect(c2, (struct sockaddr *)&r, rl));
    SHOW("rebind the name", bind(c2, (struct sockaddr *)&a, al));
    unlink(a.sun_path);
    close(c2);
    close(c);
    close(l);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: unix DIR [sandbox]\n");
        return 2;
    }
    dir = argv[1];
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    pairs();
    shutdowns();
    struct sockaddr_un a;
    socklen_t al = path_addr(&a, "listener");
    connections("path", &a, al);
    unlink(a.sun_path);
    al = abstract_addr(&a, "listener");
    connections("abstract", &a, al);
    datagrams();
    struct sockaddr_un da;
    path_addr(&da, "dgram-a");
    unlink(da.sun_path);
    rights();
    credentials();
    errors();
    unlinked();
    if (argc > 2 && strcmp(argv[2], "sandbox") == 0) {
        /* Linux 4.4 has no MSG_OOB for Unix sockets (later ones do). */
        int sv[2];
        CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
        SHOW("MSG_OOB", send(sv[0], "x", 1, MSG_OOB));
        SHOW("socket(AF_NETLINK)", socket(AF_NETLINK, SOCK_RAW, 0));
        SHOW("socketpair(AF_INET)", socketpair(AF_INET, SOCK_STREAM, 0, (int[2]){0, 0}));
    }
    printf("done\n");
    return 0;
}
