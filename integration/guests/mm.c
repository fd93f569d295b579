/* mm: anonymous and file mappings, sharing across fork, munmap, mprotect
 * faults (SIGSEGV si_code/si_addr), mremap, brk, madvise, mincore. */
#include "common.h"
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static sigjmp_buf jump;
static volatile sig_atomic_t armed;
static volatile int fault_code;
static void *volatile fault_addr;

static void on_segv(int sig, siginfo_t *si, void *uc) {
  (void)sig; (void)uc;
  if (!armed) { signal(SIGSEGV, SIG_DFL); return; } /* unexpected: die on re-fault */
  armed = 0;
  fault_code = si->si_code;
  fault_addr = si->si_addr;
  siglongjmp(jump, 1);
}

/* Writes one byte at p; returns 1 if it faulted (and records how). */
static int faults_on_write(volatile char *p) {
  fault_code = 0;
  fault_addr = NULL;
  if (sigsetjmp(jump, 1)) return 1;
  armed = 1;
  *p = 1;
  armed = 0;
  return 0;
}

static int child_writes(char *p) {
  pid_t pid = fork();
  MUST(pid);
  if (pid == 0) { p[0] = 'C'; _exit(0); }
  int status;
  MUST(waitpid(pid, &status, 0));
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int main(void) {
  guest_init("mm");
  long pg = sysconf(_SC_PAGESIZE);
  OUT("page size = %ld", pg);
  struct sigaction sa = {0};
  sa.sa_sigaction = on_segv;
  sa.sa_flags = SA_SIGINFO;
  MUST(sigaction(SIGSEGV, &sa, NULL));

  char *a = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  MUST(a);
  YN("anonymous private mapping is zero-filled", a[0] == 0 && a[4 * pg - 1] == 0);
  a[0] = 'P';
  YN("child exited cleanly after writing private page", child_writes(a));
  YN("private page unchanged in parent after child write (COW)", a[0] == 'P');

  char *s = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  MUST(s);
  s[0] = 'P';
  child_writes(s);
  YN("shared anonymous page shows child write", s[0] == 'C');

  int fd = open("/tmp/mm-file", O_RDWR | O_CREAT | O_TRUNC, 0644);
  MUST(fd);
  char buf[64];
  memset(buf, 'f', sizeof buf);
  for (int i = 0; i < 2 * pg; i += sizeof buf) MUST(write(fd, buf, sizeof buf));
  char *fs = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  MUST(fs);
  YN("shared file mapping shows file contents", fs[0] == 'f' && fs[2 * pg - 1] == 'f');
  fs[10] = 'M';
  MUST(pread(fd, buf, 1, 10));
  YN("store through shared mapping visible to pread", buf[0] == 'M');
  MUST(pwrite(fd, "W", 1, 20));
  YN("pwrite visible through shared mapping", fs[20] == 'W');
  RES("msync", msync(fs, 2 * pg, MS_SYNC));

  char *fp = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  MUST(fp);
  fp[30] = 'X';
  MUST(pread(fd, buf, 1, 30));
  YN("store through private file mapping not in file", buf[0] == 'f');
  MUST(pwrite(fd, "Y", 1, pg + 5));
  YN("pwrite visible in untouched page of private mapping", fp[pg + 5] == 'Y');
  MUST(pwrite(fd, "Z", 1, 31));
  YN("pwrite not visible in copied page of private mapping", fp[31] == 'f');
  MUST(munmap(fp, 2 * pg));
  MUST(munmap(fs, 2 * pg));
  int ro = open("/tmp/mm-file", O_RDONLY);
  RES("MAP_SHARED PROT_WRITE of O_RDONLY fd", mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0));
  close(ro);
  close(fd);
  MUST(unlink("/tmp/mm-file"));

  RES("mprotect read-only", mprotect(a + pg, pg, PROT_READ));
  YN("write to read-only page faults", faults_on_write(a + pg + 8));
  YN("si_code is SEGV_ACCERR", fault_code == SEGV_ACCERR);
  YN("si_addr is the faulting address", fault_addr == a + pg + 8);
  YN("read of read-only page still works", a[pg] == 0);
  RES("mprotect read-write", mprotect(a + pg, pg, PROT_READ | PROT_WRITE));
  YN("write after mprotect RW succeeds", !faults_on_write(a + pg + 8));
  RES("munmap last page", munmap(a + 3 * pg, pg));
  YN("write to unmapped page faults", faults_on_write(a + 3 * pg));
  YN("si_code is SEGV_MAPERR", fault_code == SEGV_MAPERR);
  YN("si_addr is the unmapped address", fault_addr == a + 3 * pg);
  RES("munmap unaligned", munmap(a + 1, pg));
  RES("mmap length 0", mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));

  unsigned char vec[3];
  a[0] = 1; a[pg] = 1; a[2 * pg] = 1;
  RES("mincore", mincore(a, 3 * pg, vec));
  YN("touched pages are resident", (vec[0] & 1) && (vec[1] & 1) && (vec[2] & 1));
  RES("mincore on unmapped range", mincore(a + 3 * pg, pg, vec));

  memset(a, 'm', 3 * pg);
  char *r = mremap(a, 3 * pg, 16 * pg, MREMAP_MAYMOVE);
  MUST(r);
  YN("mremap grow keeps contents", r[0] == 'm' && r[3 * pg - 1] == 'm');
  YN("mremap grown tail is zero", r[3 * pg] == 0 && r[16 * pg - 1] == 0);
  char *r2 = mremap(r, 16 * pg, pg, 0);
  YN("mremap shrink in place", r2 == r);
  YN("shrunk-away page faults", faults_on_write(r + 2 * pg));
  MUST(mmap(r + pg, pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
  RES("mremap grow in place into an occupied range", mremap(r, pg, 2 * pg, 0));

  char *d = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  MUST(d);
  memset(d, 'x', 2 * pg);
  RES("madvise MADV_DONTNEED", madvise(d, pg, MADV_DONTNEED));
  YN("MADV_DONTNEED page reads zero", d[0] == 0 && d[pg - 1] == 0);
  YN("page after the range keeps data", d[pg] == 'x');

  /* Raw brk(2): libc wrappers differ (musl refuses to move the break). */
  char *cur = (char *)syscall(SYS_brk, 0);
  YN("brk(0) returns the current break", cur != NULL && cur != (char *)-1);
  YN("brk grow by 64 KiB moves the break", (char *)syscall(SYS_brk, cur + 65536) == cur + 65536);
  YN("brk(0) reports the new break", (char *)syscall(SYS_brk, 0) == cur + 65536);
  memset(cur, 'b', 65536);
  YN("grown heap is writable", cur[65535] == 'b');
  YN("brk shrink moves the break back", (char *)syscall(SYS_brk, cur) == cur);
  YN("shrunk heap faults", faults_on_write(cur + 65535));
  DONE();
}
