/* process: fork/wait statuses, exit codes, vfork, execve, WNOHANG,
 * getppid, process groups and sessions, rlimits, prctl names. */
#include "common.h"
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>

static int wait_status(pid_t pid, int *status) {
  pid_t got = waitpid(pid, status, 0);
  return got == pid;
}

static int exit_code_of(int code) {
  pid_t pid = fork();
  MUST(pid);
  if (pid == 0) _exit(code);
  int st;
  MUST(waitpid(pid, &st, 0));
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int main(void) {
  guest_init("process");
  int st;
  pid_t me = getpid();
  YN("pid>0", me > 0);

  pid_t pid = fork();
  MUST(pid);
  if (pid == 0) _exit(getppid() == me ? 42 : 1);
  YN("fork returns child pid>0 distinct from parent", pid > 0 && pid != me);
  YN("child pid == wait result", wait_status(pid, &st));
  OUT("child exit: WIFEXITED %d WEXITSTATUS %d (42 means getppid == parent pid)", WIFEXITED(st), WEXITSTATUS(st));
  OUT("exit code 0 -> %d, 255 -> %d, 256 -> %d, 257 -> %d", exit_code_of(0), exit_code_of(255), exit_code_of(256), exit_code_of(257));

  volatile int shared = 0;
  pid = vfork();
  MUST(pid);
  if (pid == 0) { shared = 7; _exit(7); }
  MUST(waitpid(pid, &st, 0));
  OUT("vfork child status %d, parent sees child's store %s", WEXITSTATUS(st), shared == 7 ? "yes" : "no");

  pid = fork();
  MUST(pid);
  if (pid == 0) { execl("/bin/true", "true", (char *)NULL); _exit(99); }
  MUST(waitpid(pid, &st, 0));
  OUT("execve /bin/true -> exit %d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
  pid = fork();
  MUST(pid);
  if (pid == 0) { execl("/bin/sh", "sh", "-c", "exit 3", (char *)NULL); _exit(99); }
  MUST(waitpid(pid, &st, 0));
  OUT("execve /bin/sh -c 'exit 3' -> exit %d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
  char *argv[] = {"missing", NULL}, *envp[] = {NULL};
  RES("execve of a missing file", execve("/no/such/program", argv, envp));
  RES("execve of a non-executable file", execve("/etc/passwd", argv, envp));
  RES("execve of a directory", execve("/tmp", argv, envp));

  int p[2];
  MUST(pipe(p));
  pid = fork();
  MUST(pid);
  if (pid == 0) { char c; close(p[1]); _exit(read(p[0], &c, 1) == 0 ? 5 : 6); }
  close(p[0]);
  OUT("waitpid WNOHANG on running child = %d", (int)waitpid(pid, &st, WNOHANG));
  close(p[1]);
  YN("waitpid after child exits returns its pid", wait_status(pid, &st));
  OUT("child saw EOF, exit %d", WEXITSTATUS(st));
  RES("waitpid with no children", waitpid(-1, &st, WNOHANG));

  pid = fork();
  MUST(pid);
  if (pid == 0) { for (;;) pause(); }
  MUST(kill(pid, SIGKILL));
  MUST(waitpid(pid, &st, 0));
  OUT("SIGKILLed child: WIFSIGNALED %d WTERMSIG %d", WIFSIGNALED(st), WTERMSIG(st));

  pid = fork();
  MUST(pid);
  if (pid == 0) {
    int ok = 1;
    ok &= setpgid(0, 0) == 0 && getpgrp() == getpid();
    /* A process group leader cannot create a session. */
    ok &= setsid() == -1 && errno == EPERM;
    pid_t c = fork();
    if (c == 0) {
      int k = setsid() == getpid() && getsid(0) == getpid() && getpgrp() == getpid();
      k &= setsid() == -1 && errno == EPERM;
      _exit(k ? 0 : 1);
    }
    int cs;
    ok &= waitpid(c, &cs, 0) == c && WIFEXITED(cs) && WEXITSTATUS(cs) == 0;
    _exit(ok ? 0 : 1);
  }
  MUST(waitpid(pid, &st, 0));
  YN("setpgid/getpgrp/setsid/getsid relations hold in children", WIFEXITED(st) && WEXITSTATUS(st) == 0);
  pid = fork();
  MUST(pid);
  if (pid == 0) { pause(); _exit(0); }
  RES("setpgid of child into its own group", setpgid(pid, pid));
  YN("getpgid(child) == child pid", getpgid(pid) == pid);
  kill(pid, SIGKILL);
  waitpid(pid, &st, 0);
  RES("getpgid of a reaped child", getpgid(pid));

  struct rlimit rl;
  MUST(getrlimit(RLIMIT_NOFILE, &rl));
  OUT("RLIMIT_NOFILE soft %ld hard %ld", (long)rl.rlim_cur, (long)rl.rlim_max);
  rl.rlim_cur = 64;
  RES("setrlimit RLIMIT_NOFILE soft 64", setrlimit(RLIMIT_NOFILE, &rl));
  MUST(getrlimit(RLIMIT_NOFILE, &rl));
  OUT("RLIMIT_NOFILE soft now %ld", (long)rl.rlim_cur);
  RES("dup2 to fd 64 beyond the limit", dup2(0, 64));
  RES("dup2 to fd 63 within the limit", dup2(0, 63));
  close(63);
  rl.rlim_cur = rl.rlim_max + 1;
  RES("setrlimit soft above hard", setrlimit(RLIMIT_NOFILE, &rl));
  struct rlimit as = {RLIM_INFINITY, RLIM_INFINITY};
  MUST(getrlimit(RLIMIT_AS, &as));
  YN("RLIMIT_AS is infinite", as.rlim_cur == RLIM_INFINITY);

  char name[32] = "";
  RES("prctl PR_SET_NAME", prctl(PR_SET_NAME, "rvisor-proc", 0, 0, 0));
  MUST(prctl(PR_GET_NAME, name, 0, 0, 0));
  OUT("PR_GET_NAME = %s", name);
  MUST(prctl(PR_SET_NAME, "abcdefghijklmnopqrstuvwxyz", 0, 0, 0));
  MUST(prctl(PR_GET_NAME, name, 0, 0, 0));
  OUT("long name truncated to %s", name);
  int fd = open("/proc/self/comm", O_RDONLY);
  MUST(fd);
  memset(name, 0, sizeof name);
  MUST(read(fd, name, sizeof name - 1));
  close(fd);
  OUT("/proc/self/comm = %s", strtok(name, "\n"));
  DONE();
}
