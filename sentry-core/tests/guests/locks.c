/* Advisory locks in one process: flock between open file descriptions,
 * POSIX record locks (a process never conflicts with itself; any close of
 * the file releases them) and OFD record locks.
 *
 * Usage: locks BASE. Output is deterministic, for comparison with a native
 * run. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *en(long r) {
    static char buf[32];
    if (r >= 0) return "ok";
    switch (errno) {
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case EINVAL: return "EINVAL";
    case EFAULT: return "EFAULT";
    case EOVERFLOW: return "EOVERFLOW";
    case EDEADLK: return "EDEADLK";
    }
    snprintf(buf, sizeof buf, "errno%d", errno);
    return buf;
}

#define T(label, expr)                         \
    do {                                       \
        errno = 0;                             \
        long _r = (long)(expr);                \
        printf("%s: %s\n", label, en(_r));     \
    } while (0)

static const char *ty(short t) {
    return t == F_RDLCK ? "RD" : t == F_WRLCK ? "WR" : t == F_UNLCK ? "UN" : "??";
}

static long lk(int fd, int cmd, short type, short whence, long start, long len) {
    struct flock fl = {.l_type = type, .l_whence = whence, .l_start = start, .l_len = len, .l_pid = 0};
    return syscall(SYS_fcntl, fd, cmd, &fl);
}

/* F_GETLK/F_OFD_GETLK and a description of the answer. */
static void get(const char *label, int fd, int cmd, short type, long start, long len) {
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len, .l_pid = 0};
    errno = 0;
    long r = syscall(SYS_fcntl, fd, cmd, &fl);
    if (r < 0) {
        printf("%s: %s\n", label, en(r));
        return;
    }
    const char *pid = fl.l_pid == getpid() ? "me" : fl.l_pid == -1 ? "-1" : fl.l_pid == 0 ? "0" : "other";
    printf("%s: %s start=%ld len=%ld pid=%s\n", label, ty(fl.l_type), (long)fl.l_start, (long)fl.l_len, pid);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc != 2 || chdir(argv[1]) != 0) {
        printf("usage: locks BASE\n");
        return 2;
    }
    printf("== flock\n");
    int fd1 = open("lk", O_RDWR | O_CREAT | O_TRUNC, 0644);
    int fd2 = open("lk", O_RDWR);
    int fd3 = dup(fd1);
    T("fd1 EX|NB", flock(fd1, LOCK_EX | LOCK_NB));
    T("fd1 EX again", flock(fd1, LOCK_EX | LOCK_NB));
    T("fd2 EX|NB", flock(fd2, LOCK_EX | LOCK_NB));
    printf("EWOULDBLOCK is EAGAIN=%d\n", EWOULDBLOCK == EAGAIN);
    T("fd2 SH|NB", flock(fd2, LOCK_SH | LOCK_NB));
    T("fd3 (dup of fd1) SH|NB", flock(fd3, LOCK_SH | LOCK_NB));
    T("fd2 SH|NB", flock(fd2, LOCK_SH | LOCK_NB));
    T("fd2 EX|NB (upgrade fails)", flock(fd2, LOCK_EX | LOCK_NB));
    T("fd1 UN", flock(fd1, LOCK_UN));
    T("fd2 EX|NB (old lock was dropped)", flock(fd2, LOCK_EX | LOCK_NB));
    T("close fd2", close(fd2));
    T("fd1 EX|NB", flock(fd1, LOCK_EX | LOCK_NB));
    T("close fd1 (fd3 keeps the description)", close(fd1));
    int fd4 = open("lk", O_RDONLY);
    T("fd4 (read-only) SH|NB", flock(fd4, LOCK_SH | LOCK_NB));
    T("close fd3 (last close)", close(fd3));
    T("fd4 EX|NB", flock(fd4, LOCK_EX | LOCK_NB));
    T("fd4 blocking EX on own lock", flock(fd4, LOCK_EX));
    T("flock bad op", flock(fd4, 0));
    T("flock SH|EX", flock(fd4, LOCK_SH | LOCK_EX));
    T("flock UN|NB", flock(fd4, LOCK_UN | LOCK_NB));
    int pfd = open("lk", O_PATH);
    T("flock O_PATH", flock(pfd, LOCK_SH));
    T("flock bad fd", flock(999, LOCK_SH));
    int dfd = open(".", O_RDONLY | O_DIRECTORY);
    T("flock dir", flock(dfd, LOCK_EX | LOCK_NB));
    close(dfd);
    close(fd4);

    printf("== POSIX record locks\n");
    fd1 = open("lk", O_RDWR);
    fd2 = open("lk", O_RDWR);
    if (write(fd1, "0123456789abcdefghij", 20) != 20) printf("write failed\n");
    T("F_SETLK WR 0..9", lk(fd1, F_SETLK, F_WRLCK, SEEK_SET, 0, 10));
    get("F_GETLK own lock", fd2, F_GETLK, F_WRLCK, 0, 10);
    T("F_SETLKW RD 0..4 (own, no wait)", lk(fd2, F_SETLKW, F_RDLCK, SEEK_SET, 0, 5));
    get("F_OFD_GETLK sees process lock", fd2, F_OFD_GETLK, F_RDLCK, 0, 1);
    get("F_OFD_GETLK 5", fd2, F_OFD_GETLK, F_RDLCK, 5, 1);
    T("F_SETLK WR 10..19 (merges)", lk(fd1, F_SETLK, F_WRLCK, SEEK_SET, 10, 10));
    get("F_OFD_GETLK 5", fd2, F_OFD_GETLK, F_RDLCK, 5, 1);
    T("F_SETLK UN 12..14 (splits)", lk(fd1, F_SETLK, F_UNLCK, SEEK_SET, 12, 3));
    get("F_OFD_GETLK 12..14", fd2, F_OFD_GETLK, F_WRLCK, 12, 3);
    get("F_OFD_GETLK 14..", fd2, F_OFD_GETLK, F_WRLCK, 14, 0);
    lseek(fd1, 30, SEEK_SET);
    T("F_SETLK SEEK_CUR -5 len 2", lk(fd1, F_SETLK, F_WRLCK, SEEK_CUR, -5, 2));
    get("F_OFD_GETLK 25", fd2, F_OFD_GETLK, F_RDLCK, 25, 1);
    T("F_SETLK SEEK_END -2 len 0", lk(fd1, F_SETLK, F_RDLCK, SEEK_END, -2, 0));
    get("F_OFD_GETLK WR 1000", fd2, F_OFD_GETLK, F_WRLCK, 1000, 1);
    T("F_SETLK negative len", lk(fd1, F_SETLK, F_WRLCK, SEEK_SET, 100, -10));
    get("F_OFD_GETLK 95", fd2, F_OFD_GETLK, F_RDLCK, 95, 1);
    T("F_SETLK negative len before 0", lk(fd1, F_SETLK, F_WRLCK, SEEK_SET, 2, -5));
    T("F_SETLK negative start", lk(fd1, F_SETLK, F_WRLCK, SEEK_SET, -1, 5));
    T("F_SETLK bad whence", lk(fd1, F_SETLK, F_WRLCK, 7, 0, 5));
    T("F_SETLK bad type", lk(fd1, F_SETLK, 9, SEEK_SET, 0, 5));
    T("F_SETLK overflow", lk(fd1, F_SETLK, F_WRLCK, SEEK_SET, 0x7ffffffffffffff0L, 100));
    T("F_GETLK with F_UNLCK", lk(fd1, F_GETLK, F_UNLCK, SEEK_SET, 0, 5));
    int rd = open("lk", O_RDONLY), wr = open("lk", O_WRONLY);
    T("F_SETLK WR on read-only fd", lk(rd, F_SETLK, F_WRLCK, SEEK_SET, 0, 5));
    T("F_SETLK RD on write-only fd", lk(wr, F_SETLK, F_RDLCK, SEEK_SET, 0, 5));
    T("F_SETLK UN on read-only fd", lk(rd, F_SETLK, F_UNLCK, SEEK_SET, 0, 5));
    get("F_GETLK WR on read-only fd", rd, F_GETLK, F_WRLCK, 0, 5);
    T("F_SETLK on O_PATH", lk(pfd, F_SETLK, F_RDLCK, SEEK_SET, 0, 5));
    T("F_GETLK bad pointer", syscall(SYS_fcntl, fd1, F_GETLK, (void *)1));
    T("F_SETLK bad pointer", syscall(SYS_fcntl, fd1, F_SETLK, (void *)1));
    T("F_SETLK bad fd", lk(999, F_SETLK, F_RDLCK, SEEK_SET, 0, 5));
    close(wr);
    get("after closing another fd", fd2, F_OFD_GETLK, F_WRLCK, 0, 0);
    close(rd);
    close(pfd);

    printf("== OFD record locks\n");
    T("F_OFD_SETLK WR 0..9 fd1", lk(fd1, F_OFD_SETLK, F_WRLCK, SEEK_SET, 0, 10));
    get("F_OFD_GETLK fd2", fd2, F_OFD_GETLK, F_RDLCK, 5, 1);
    get("F_OFD_GETLK fd1 (own)", fd1, F_OFD_GETLK, F_WRLCK, 0, 10);
    T("F_OFD_SETLK fd2", lk(fd2, F_OFD_SETLK, F_RDLCK, SEEK_SET, 5, 1));
    get("F_GETLK (process) sees OFD lock", fd2, F_GETLK, F_RDLCK, 0, 1);
    T("F_SETLK (process) conflicts", lk(fd2, F_SETLK, F_RDLCK, SEEK_SET, 0, 1));
    struct flock bad = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1, .l_pid = 1};
    T("F_OFD_SETLK with l_pid", syscall(SYS_fcntl, fd2, F_OFD_SETLK, &bad));
    T("F_OFD_GETLK with l_pid", syscall(SYS_fcntl, fd2, F_OFD_GETLK, &bad));
    fd3 = open("lk", O_RDONLY);
    close(fd3);
    T("F_OFD_SETLK fd2 after another close", lk(fd2, F_OFD_SETLK, F_RDLCK, SEEK_SET, 5, 1));
    fd3 = dup(fd1);
    T("F_OFD_SETLK through a dup (same description)", lk(fd3, F_OFD_SETLK, F_RDLCK, SEEK_SET, 0, 10));
    close(fd3);
    get("F_OFD_GETLK fd2 after downgrade", fd2, F_OFD_GETLK, F_WRLCK, 5, 1);
    T("F_OFD_SETLK RD fd2", lk(fd2, F_OFD_SETLK, F_RDLCK, SEEK_SET, 5, 1));
    T("F_OFD_SETLK UN fd1", lk(fd1, F_OFD_SETLK, F_UNLCK, SEEK_SET, 0, 0));
    get("F_OFD_GETLK fd1", fd1, F_OFD_GETLK, F_WRLCK, 0, 0);
    T("close fd2", close(fd2));
    get("F_OFD_GETLK fd1 after close", fd1, F_OFD_GETLK, F_WRLCK, 0, 0);
    close(fd1);
    printf("done\n");
    return 0;
}
