/* unix_sockets: socketpair types, path and abstract names, SCM_RIGHTS,
 * SCM_CREDENTIALS, SO_PEERCRED, shutdown and EOF. */
#include "common.h"
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

static socklen_t path_addr(struct sockaddr_un *a, const char *path, int abstract) {
  memset(a, 0, sizeof *a);
  a->sun_family = AF_UNIX;
  size_t len = strlen(path);
  memcpy(a->sun_path + (abstract ? 1 : 0), path, len);
  /* A path counts its NUL terminator; an abstract name its leading NUL. */
  return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
}

static void roundtrip(const char *what, int a, int b) {
  char buf[16] = "";
  long w = write(a, "ping", 4);
  long r = read(b, buf, sizeof buf - 1);
  OUT("%s: write %ld, read %ld \"%s\"", what, w, r, buf);
}

int main(void) {
  guest_init("unix_sockets");
  signal(SIGPIPE, SIG_IGN);
  int sv[2], t;
  socklen_t len = sizeof t;
  char buf[64];

  MUST(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
  roundtrip("stream socketpair", sv[0], sv[1]);
  MUST(getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &t, &len));
  YN("SO_TYPE is SOCK_STREAM", t == SOCK_STREAM);
  struct ucred cr;
  len = sizeof cr;
  MUST(getsockopt(sv[0], SOL_SOCKET, SO_PEERCRED, &cr, &len));
  YN("SO_PEERCRED pid/uid/gid are ours", cr.pid == getpid() && cr.uid == getuid() && cr.gid == getgid());
  MUST(write(sv[0], "abc", 3));
  MUST(write(sv[0], "def", 3));
  OUT("stream coalesces writes: read = %ld", (long)read(sv[1], buf, sizeof buf));
  RES("shutdown SHUT_WR", shutdown(sv[0], SHUT_WR));
  OUT("peer reads EOF after shutdown = %ld", (long)read(sv[1], buf, sizeof buf));
  RES("write after SHUT_WR", write(sv[0], "x", 1));
  MUST(fcntl(sv[0], F_SETFL, O_NONBLOCK));
  RES("non-blocking read with no data", read(sv[0], buf, sizeof buf));
  close(sv[1]);
  OUT("read after peer closed = %ld", (long)read(sv[0], buf, sizeof buf));
  close(sv[0]);

  MUST(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
  MUST(send(sv[0], "a", 1, 0));
  MUST(send(sv[0], "bb", 2, 0));
  long r1 = recv(sv[1], buf, sizeof buf, 0), r2 = recv(sv[1], buf, sizeof buf, 0);
  OUT("dgram socketpair keeps boundaries: %ld then %ld", r1, r2);
  close(sv[0]); close(sv[1]);

  MUST(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
  MUST(send(sv[0], "xyz", 3, 0));
  struct iovec iov = {buf, 1};
  struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
  long n = recvmsg(sv[1], &mh, 0);
  OUT("seqpacket recv into 1-byte buffer = %ld, MSG_TRUNC %s", n, mh.msg_flags & MSG_TRUNC ? "yes" : "no");
  close(sv[0]);
  OUT("seqpacket recv after peer closed = %ld", (long)recv(sv[1], buf, sizeof buf, 0));
  close(sv[1]);

  struct sockaddr_un addr, got;
  socklen_t alen = path_addr(&addr, "/tmp/us.sock", 0);
  int lis = socket(AF_UNIX, SOCK_STREAM, 0);
  MUST(lis);
  RES("accept on unbound socket", accept(lis, NULL, NULL));
  RES("bind /tmp/us.sock", bind(lis, (struct sockaddr *)&addr, alen));
  struct stat st;
  MUST(stat("/tmp/us.sock", &st));
  YN("bound path is a socket", S_ISSOCK(st.st_mode));
  RES("accept before listen", accept(lis, NULL, NULL));
  RES("listen", listen(lis, 8));
  int other = socket(AF_UNIX, SOCK_STREAM, 0);
  RES("bind to a used path", bind(other, (struct sockaddr *)&addr, alen));
  close(other);
  int cl = socket(AF_UNIX, SOCK_STREAM, 0);
  RES("connect to /tmp/us.sock", connect(cl, (struct sockaddr *)&addr, alen));
  int srv = accept(lis, NULL, NULL);
  YN("accept returned a new fd", srv >= 0);
  roundtrip("client -> server", cl, srv);
  roundtrip("server -> client", srv, cl);
  socklen_t glen = sizeof got;
  MUST(getpeername(cl, (struct sockaddr *)&got, &glen));
  OUT("getpeername = %s", got.sun_path);
  glen = sizeof got;
  MUST(getsockname(lis, (struct sockaddr *)&got, &glen));
  OUT("getsockname = %s", got.sun_path);
  glen = sizeof got;
  MUST(getsockname(cl, (struct sockaddr *)&got, &glen));
  OUT("unbound client getsockname length = %u", (unsigned)glen);
  close(cl); close(srv); close(lis);
  RES("connect after listener closed", (cl = socket(AF_UNIX, SOCK_STREAM, 0), connect(cl, (struct sockaddr *)&addr, alen)));
  close(cl);
  MUST(unlink("/tmp/us.sock"));
  cl = socket(AF_UNIX, SOCK_STREAM, 0);
  RES("connect to missing path", connect(cl, (struct sockaddr *)&addr, alen));
  close(cl);
  int dg = socket(AF_UNIX, SOCK_DGRAM, 0);
  RES("listen on a datagram socket", listen(dg, 1));
  close(dg);

  alen = path_addr(&addr, "rvisor-abstract", 1);
  lis = socket(AF_UNIX, SOCK_STREAM, 0);
  RES("bind abstract name", bind(lis, (struct sockaddr *)&addr, alen));
  MUST(listen(lis, 1));
  cl = socket(AF_UNIX, SOCK_STREAM, 0);
  RES("connect abstract name", connect(cl, (struct sockaddr *)&addr, alen));
  srv = accept(lis, NULL, NULL);
  roundtrip("abstract", cl, srv);
  glen = sizeof got;
  MUST(getpeername(cl, (struct sockaddr *)&got, &glen));
  OUT("abstract getpeername: leading NUL %s, name %.*s", got.sun_path[0] == 0 ? "yes" : "no",
      (int)(glen - offsetof(struct sockaddr_un, sun_path) - 1), got.sun_path + 1);
  close(cl); close(srv); close(lis);

  int p[2];
  MUST(pipe(p));
  MUST(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
  union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int))]; } ctl;
  memset(&ctl, 0, sizeof ctl);
  iov = (struct iovec){"F", 1};
  mh = (struct msghdr){.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = sizeof ctl.b};
  struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &p[1], sizeof(int));
  RES("sendmsg SCM_RIGHTS (pipe write end)", sendmsg(sv[0], &mh, 0));
  close(p[1]);
  memset(&ctl, 0, sizeof ctl);
  iov = (struct iovec){buf, sizeof buf};
  mh = (struct msghdr){.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = sizeof ctl.b};
  n = recvmsg(sv[1], &mh, 0);
  c = CMSG_FIRSTHDR(&mh);
  int fd = -1;
  if (c && c->cmsg_type == SCM_RIGHTS) memcpy(&fd, CMSG_DATA(c), sizeof fd);
  OUT("recvmsg = %ld, got SCM_RIGHTS fd %s", n, fd >= 0 ? "yes" : "no");
  long w = write(fd, "via", 3);
  long r = read(p[0], buf, sizeof buf);
  OUT("write through passed fd %ld, read from original pipe %ld", w, r);
  close(fd);
  OUT("pipe EOF once passed fd closed = %ld", (long)read(p[0], buf, 1));
  close(p[0]);

  int on = 1;
  RES("SO_PASSCRED", setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof on));
  union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(struct ucred))]; } cctl;
  memset(&cctl, 0, sizeof cctl);
  iov = (struct iovec){"C", 1};
  mh = (struct msghdr){.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cctl.b, .msg_controllen = sizeof cctl.b};
  c = CMSG_FIRSTHDR(&mh);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_CREDENTIALS;
  c->cmsg_len = CMSG_LEN(sizeof(struct ucred));
  struct ucred mine = {getpid(), getuid(), getgid()};
  memcpy(CMSG_DATA(c), &mine, sizeof mine);
  RES("sendmsg SCM_CREDENTIALS", sendmsg(sv[0], &mh, 0));
  memset(&cctl, 0, sizeof cctl);
  iov = (struct iovec){buf, sizeof buf};
  mh = (struct msghdr){.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cctl.b, .msg_controllen = sizeof cctl.b};
  MUST(recvmsg(sv[1], &mh, 0));
  c = CMSG_FIRSTHDR(&mh);
  struct ucred theirs = {0, 0, 0};
  if (c && c->cmsg_type == SCM_CREDENTIALS) memcpy(&theirs, CMSG_DATA(c), sizeof theirs);
  YN("SCM_CREDENTIALS received with our pid/uid/gid",
     theirs.pid == getpid() && theirs.uid == getuid() && theirs.gid == getgid());
  mine.pid = getpid() + 1000;
  memset(&cctl, 0, sizeof cctl);
  iov = (struct iovec){"C", 1};
  mh = (struct msghdr){.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cctl.b, .msg_controllen = sizeof cctl.b};
  c = CMSG_FIRSTHDR(&mh);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_CREDENTIALS;
  c->cmsg_len = CMSG_LEN(sizeof(struct ucred));
  memcpy(CMSG_DATA(c), &mine, sizeof mine);
  RES("sendmsg SCM_CREDENTIALS with another pid (no CAP_SYS_ADMIN)", sendmsg(sv[0], &mh, 0));
  close(sv[0]); close(sv[1]);
  DONE();
}
