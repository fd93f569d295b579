/* identity: what the OCI spec decides (hostname, user, cwd, env, args) and
 * what the kernel reports about itself. The kernel release differs by
 * design (4.4.0 in the sandbox), so only its presence is printed. */
#include "common.h"
#include <fcntl.h>
#include <limits.h>
#include <sys/utsname.h>

int main(int argc, char **argv) {
  guest_init("identity");
  struct utsname u;
  MUST(uname(&u));
  OUT("uname sysname = %s", u.sysname);
  OUT("uname machine = %s", u.machine);
  YN("uname release non-empty", u.release[0] != 0);
  OUT("uname nodename = %s", u.nodename);
  char host[HOST_NAME_MAX + 1] = "";
  MUST(gethostname(host, sizeof host));
  OUT("gethostname = %s", host);
  OUT("uid %d euid %d gid %d egid %d", (int)getuid(), (int)geteuid(), (int)getgid(), (int)getegid());
  gid_t groups[64];
  int ng = getgroups(64, groups);
  OUT("supplementary groups = %d", ng);
  OUT("pid = %d, ppid = %d", (int)getpid(), (int)getppid());

  char buf[4096];
  int fd = open("/proc/self/status", O_RDONLY);
  MUST(fd);
  long n = read(fd, buf, sizeof buf - 1);
  MUST(n);
  buf[n] = 0;
  close(fd);
  char *name = strstr(buf, "Name:");
  if (name) *strchr(name, '\n') = 0;
  OUT("/proc/self/status %s", name ? name : "has no Name:");
  memset(buf, 0, sizeof buf);
  OUT("readlink /proc/self/exe = %ld %s", (long)readlink("/proc/self/exe", buf, sizeof buf - 1), buf);

  char cwd[PATH_MAX];
  OUT("getcwd = %s", getcwd(cwd, sizeof cwd) ? cwd : errname(errno));
  const char *vars[] = {"PATH", "HOME", "TERM", "RVISOR_TEST_VAR"};
  for (unsigned i = 0; i < sizeof vars / sizeof vars[0]; i++) {
    const char *v = getenv(vars[i]);
    OUT("env %s = %s", vars[i], v ? v : "(unset)");
  }
  OUT("argc = %d", argc);
  for (int i = 0; i < argc; i++) OUT("argv[%d] = %s", i, argv[i]);
  DONE();
}
