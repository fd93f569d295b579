/* Shared helpers for the guest programs.
 *
 * Every guest prints one line per check, "<prog>: <observation>", with only
 * deterministic content: errno names, sizes, modes, and yes/no answers to
 * relations ("pid>0 yes"). On Linux every yes/no check answers "yes"; the
 * test harness asserts that and diffs runc against runsc. */
#ifndef RVISOR_GUEST_COMMON_H
#define RVISOR_GUEST_COMMON_H

#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *guest_prog = "guest";

static inline const char *errname(int e) {
  static char buf[32];
  switch (e) {
#define E(x) case x: return #x;
    E(EPERM) E(ENOENT) E(ESRCH) E(EINTR) E(EIO) E(ENXIO) E(E2BIG) E(ENOEXEC)
    E(EBADF) E(ECHILD) E(EAGAIN) E(ENOMEM) E(EACCES) E(EFAULT) E(EBUSY)
    E(EEXIST) E(EXDEV) E(ENODEV) E(ENOTDIR) E(EISDIR) E(EINVAL) E(ENFILE)
    E(EMFILE) E(ENOTTY) E(EFBIG) E(ENOSPC) E(ESPIPE) E(EROFS) E(EMLINK)
    E(EPIPE) E(ERANGE) E(ENAMETOOLONG) E(ENOSYS) E(ENOTEMPTY) E(ELOOP)
    E(ETIMEDOUT) E(ENOTSOCK) E(EDESTADDRREQ) E(EMSGSIZE) E(EPROTOTYPE)
    E(EOPNOTSUPP) E(EADDRINUSE) E(EADDRNOTAVAIL) E(ECONNREFUSED)
    E(ECONNRESET) E(ENOTCONN) E(EISCONN) E(ENOPROTOOPT) E(EAFNOSUPPORT)
#undef E
  case 0: return "ok";
  default: snprintf(buf, sizeof buf, "errno%d", e); return buf;
  }
}

/* Line-buffered stdout: each line is one write(2), and nothing is pending
 * in the buffer at fork() or at a crash. */
static inline void guest_init(const char *name) {
  guest_prog = name;
  setvbuf(stdout, NULL, _IOLBF, 0);
}

#define OUT(...) do { printf("%s: ", guest_prog); printf(__VA_ARGS__); printf("\n"); } while (0)
/* Runs a call returning -1 on error and prints "desc -> ok" or the errno. */
#define RES(desc, expr) do { errno = 0; long r_ = (long)(expr); \
    OUT("%s -> %s", desc, r_ == -1 ? errname(errno) : "ok"); } while (0)
/* Prints a yes/no relation. */
#define YN(desc, cond) OUT("%s %s", desc, (cond) ? "yes" : "no")
/* Aborts the guest when set-up fails (not an observation). */
#define MUST(expr) do { if ((long)(expr) == -1) { \
    printf("%s: FATAL %s failed: %s (line %d)\n", guest_prog, #expr, errname(errno), __LINE__); exit(2); } } while (0)
#define DONE() do { OUT("done"); return 0; } while (0)

#endif
