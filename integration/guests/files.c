/* files: open/openat flags, read/write family, lseek, metadata, directory
 * operations, dup family, fcntl and errno cases. */
#include "common.h"
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#define D "/tmp/files-test"

static long fsize(int fd) { struct stat st; MUST(fstat(fd, &st)); return (long)st.st_size; }

static void listing(const char *dir) {
  char buf[4096], names[32][64];
  int n = 0, fd = open(dir, O_RDONLY | O_DIRECTORY);
  MUST(fd);
  long got;
  while ((got = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0) {
    for (long off = 0; off < got;) {
      struct dirent64 *d = (struct dirent64 *)(buf + off);
      if (n < 32) { snprintf(names[n], 60, "%.50s", d->d_name); strcat(names[n++], d->d_type == DT_DIR ? "/" : ""); }
      off += d->d_reclen;
    }
  }
  MUST(got);
  qsort(names, n, 64, (int (*)(const void *, const void *))strcmp);
  char line[2048] = "";
  for (int i = 0; i < n; i++) { strcat(line, i ? "," : ""); strcat(line, names[i]); }
  OUT("getdents64 %s sorted = %s", dir, line);
  close(fd);
}

int main(void) {
  guest_init("files");
  char buf[256];
  mode_t old = umask(022);
  OUT("initial umask = %03o", (unsigned)old);
  MUST(mkdir(D, 0755));
  MUST(chdir(D));

  int fd = open("a", O_CREAT | O_EXCL | O_RDWR, 0640);
  YN("O_CREAT|O_EXCL new file fd>=0", fd >= 0);
  struct stat st;
  MUST(fstat(fd, &st));
  OUT("new file mode = %04o regular %s size %ld", (unsigned)(st.st_mode & 07777), S_ISREG(st.st_mode) ? "yes" : "no", (long)st.st_size);
  RES("O_EXCL on existing", open("a", O_CREAT | O_EXCL | O_RDWR, 0640));
  OUT("write 11 bytes returned %ld", (long)write(fd, "hello world", 11));
  OUT("fstat size after write = %ld", fsize(fd));
  memset(buf, 0, sizeof buf);
  OUT("pread(5, off 6) = %ld \"%s\"", (long)pread(fd, buf, 5, 6), buf);
  OUT("offset after pread = %ld", (long)lseek(fd, 0, SEEK_CUR));
  OUT("pwrite(HELLO, off 0) = %ld", (long)pwrite(fd, "HELLO", 5, 0));
  memset(buf, 0, sizeof buf);
  MUST(lseek(fd, 0, SEEK_SET));
  OUT("read all = %ld \"%s\"", (long)read(fd, buf, sizeof buf), buf);
  OUT("read at EOF = %ld", (long)read(fd, buf, sizeof buf));
  OUT("lseek SEEK_END = %ld", (long)lseek(fd, 0, SEEK_END));
  RES("lseek to negative offset", lseek(fd, -100, SEEK_SET));
  OUT("lseek SEEK_SET 100 = %ld", (long)lseek(fd, 100, SEEK_SET));
  MUST(write(fd, "x", 1));
  OUT("size after write at 100 = %ld", fsize(fd));
  memset(buf, 1, sizeof buf);
  MUST(pread(fd, buf, 4, 50));
  YN("hole reads as zeros", buf[0] == 0 && buf[3] == 0);

  struct iovec wv[3] = {{"ab", 2}, {"cd", 2}, {"ef", 2}};
  MUST(lseek(fd, 0, SEEK_SET));
  OUT("writev 3 iovecs = %ld", (long)writev(fd, wv, 3));
  char r1[4] = "", r2[4] = "";
  struct iovec rv[2] = {{r1, 3}, {r2, 3}};
  MUST(lseek(fd, 0, SEEK_SET));
  OUT("readv 2x3 = %ld \"%s\" \"%s\"", (long)readv(fd, rv, 2), r1, r2);
  close(fd);

  fd = open("a", O_WRONLY | O_APPEND);
  MUST(fd);
  MUST(lseek(fd, 0, SEEK_SET));
  MUST(write(fd, "Z", 1));
  OUT("O_APPEND write lands at end, offset = %ld size = %ld", (long)lseek(fd, 0, SEEK_CUR), fsize(fd));
  int fl = fcntl(fd, F_GETFL);
  YN("F_GETFL has O_APPEND", fl & O_APPEND);
  YN("F_GETFL access mode is O_WRONLY", (fl & O_ACCMODE) == O_WRONLY);
  MUST(fcntl(fd, F_SETFL, fl | O_NONBLOCK));
  YN("F_SETFL O_NONBLOCK visible", fcntl(fd, F_GETFL) & O_NONBLOCK);
  OUT("F_GETFD initially = %d", fcntl(fd, F_GETFD));
  MUST(fcntl(fd, F_SETFD, FD_CLOEXEC));
  OUT("F_GETFD after F_SETFD = %d", fcntl(fd, F_GETFD));
  close(fd);

  fd = open("a", O_RDWR | O_TRUNC | O_CLOEXEC);
  OUT("O_TRUNC size = %ld", fsize(fd));
  OUT("O_CLOEXEC open F_GETFD = %d", fcntl(fd, F_GETFD));
  MUST(ftruncate(fd, 4096));
  OUT("ftruncate 4096 size = %ld", fsize(fd));
  MUST(ftruncate(fd, 10));
  OUT("ftruncate 10 size = %ld", fsize(fd));
  MUST(lseek(fd, 20, SEEK_SET));
  OUT("read beyond EOF = %ld", (long)read(fd, buf, 10));

  int d1 = dup(fd);
  YN("dup returns a new fd", d1 >= 0 && d1 != fd);
  MUST(lseek(fd, 3, SEEK_SET));
  OUT("dup shares offset = %ld", (long)lseek(d1, 0, SEEK_CUR));
  OUT("dup clears FD_CLOEXEC = %d", fcntl(d1, F_GETFD));
  OUT("dup2 to 100 = %d", dup2(fd, 100));
  OUT("dup2 onto itself = %s", dup2(fd, fd) == fd ? "same fd" : "other");
  OUT("dup3 O_CLOEXEC F_GETFD = %d", fcntl(dup3(fd, 101, O_CLOEXEC), F_GETFD));
  RES("dup3 onto itself", dup3(fd, fd, 0));
  RES("dup of closed fd", dup(555));
  RES("read of closed fd", read(555, buf, 1));
  close(d1); close(100); close(101); close(fd);

  RES("rename a -> b", rename("a", "b"));
  RES("stat old name", stat("a", &st));
  RES("link b -> c", link("b", "c"));
  MUST(stat("b", &st));
  OUT("nlink after link = %ld", (long)st.st_nlink);
  RES("unlink c", unlink("c"));
  MUST(stat("b", &st));
  OUT("nlink after unlink = %ld", (long)st.st_nlink);
  RES("link to existing name", link("b", "b"));
  RES("symlink s -> b", symlink("b", "s"));
  memset(buf, 0, sizeof buf);
  OUT("readlink s = %ld \"%s\"", (long)readlink("s", buf, sizeof buf), buf);
  MUST(lstat("s", &st));
  YN("lstat sees a symlink", S_ISLNK(st.st_mode));
  MUST(stat("s", &st));
  YN("stat follows to a regular file", S_ISREG(st.st_mode));
  RES("readlink of a regular file", readlink("b", buf, sizeof buf));
  RES("open O_NOFOLLOW on symlink", open("s", O_RDONLY | O_NOFOLLOW));

  RES("mkdir d", mkdir("d", 0755));
  RES("mkdir d again", mkdir("d", 0755));
  MUST(close(open("d/e1", O_CREAT | O_WRONLY, 0644)));
  MUST(close(open("d/e2", O_CREAT | O_WRONLY, 0644)));
  MUST(mkdir("d/sub", 0700));
  int dfd = open("d", O_RDONLY | O_DIRECTORY);
  RES("openat relative to dirfd", fd = openat(dfd, "e1", O_RDONLY));
  close(fd);
  RES("openat missing relative to dirfd", openat(dfd, "nope", O_RDONLY));
  close(dfd);
  listing(D "/d");
  RES("rmdir non-empty", rmdir("d"));
  RES("rmdir a file", rmdir("b"));
  RES("unlink a directory", unlink("d"));
  RES("open directory O_WRONLY", open("d", O_WRONLY));
  RES("open file/child (file as dir)", open("b/x", O_RDONLY));
  RES("O_DIRECTORY on a file", open("b", O_RDONLY | O_DIRECTORY));
  RES("open missing", open("missing", O_RDONLY));
  RES("open missing/child", open("missing/child", O_RDONLY));
  char longname[300];
  memset(longname, 'n', 299);
  longname[299] = 0;
  RES("open 299-char name", open(longname, O_RDONLY | O_CREAT, 0644));

  RES("access b R_OK|W_OK", access("b", R_OK | W_OK));
  RES("access missing", access("missing", F_OK));
  RES("chmod b 0600", chmod("b", 0600));
  MUST(stat("b", &st));
  OUT("mode after chmod = %04o", (unsigned)(st.st_mode & 07777));
  OUT("umask(077) returns %03o", (unsigned)umask(077));
  MUST(close(open("u", O_CREAT | O_WRONLY, 0666)));
  MUST(stat("u", &st));
  OUT("mode under umask 077 = %04o", (unsigned)(st.st_mode & 07777));
  umask(022);

  struct timespec ts[2] = {{1000000000, 0}, {1234567890, 500}};
  RES("utimensat", utimensat(AT_FDCWD, "b", ts, 0));
  MUST(stat("b", &st));
  OUT("atime = %ld.%09ld mtime = %ld.%09ld", (long)st.st_atim.tv_sec, st.st_atim.tv_nsec, (long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
  struct timespec omit[2] = {{0, UTIME_OMIT}, {42, 0}};
  MUST(utimensat(AT_FDCWD, "b", omit, 0));
  MUST(stat("b", &st));
  OUT("UTIME_OMIT keeps atime = %ld, mtime = %ld", (long)st.st_atim.tv_sec, (long)st.st_mtim.tv_sec);

  MUST(unlink("d/e1")); MUST(unlink("d/e2")); MUST(rmdir("d/sub"));
  RES("rmdir emptied d", rmdir("d"));
  MUST(unlink("b")); MUST(unlink("s")); MUST(unlink("u"));
  MUST(chdir("/"));
  RES("rmdir test dir", rmdir(D));
  DONE();
}
