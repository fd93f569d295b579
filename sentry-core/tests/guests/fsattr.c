/* File attributes, links and whole-file-system calls, as raw system calls.
 *
 * Usage: fsattr root|user BASE XDEV
 *   BASE: an empty directory to work in (the root phase runs first and
 *         prepares BASE/userdir for the user phase);
 *   XDEV: a path on another file system (a link there must fail EXDEV).
 * Output is deterministic (no paths, inode numbers or current times), so
 * that a run in the Sentry can be compared with a native run. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>

static const char *en(long r) {
    static char buf[32];
    if (r >= 0) return "ok";
    switch (errno) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EEXIST: return "EEXIST";
    case EXDEV: return "EXDEV";
    case ENODEV: return "ENODEV";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case EINVAL: return "EINVAL";
    case EFBIG: return "EFBIG";
    case ESPIPE: return "ESPIPE";
    case EBUSY: return "EBUSY";
    case ENOTEMPTY: return "ENOTEMPTY";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case ENOSYS: return "ENOSYS";
    }
    snprintf(buf, sizeof buf, "errno%d", errno);
    return buf;
}

#define T(label, expr)                                \
    do {                                              \
        errno = 0;                                    \
        long _r = (long)(expr);                       \
        printf("%s: %s\n", label, en(_r));            \
    } while (0)

static struct stat st_of(const char *p) {
    struct stat st;
    memset(&st, 0, sizeof st);
    if (syscall(SYS_lstat, p, &st) != 0) printf("lstat %s failed: %s\n", p, strerror(errno));
    return st;
}

static struct stat fst(int fd) {
    struct stat st;
    memset(&st, 0, sizeof st);
    if (syscall(SYS_fstat, fd, &st) != 0) printf("fstat failed\n");
    return st;
}

static void set_times(const char *p, long asec, long msec) {
    struct timespec ts[2] = {{asec, 0}, {msec, 0}};
    if (syscall(SYS_utimensat, AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW) != 0) printf("set_times %s failed\n", p);
}

#define OLD 1000000000L

static int mkfile(const char *p, int mode, const char *data) {
    int fd = syscall(SYS_openat, AT_FDCWD, p, O_CREAT | O_RDWR | O_TRUNC, mode);
    if (fd < 0) printf("create %s failed: %s\n", p, strerror(errno));
    if (data && write(fd, data, strlen(data)) != (ssize_t)strlen(data)) printf("write failed\n");
    return fd;
}

static void links(const char *xdev) {
    printf("== links\n");
    int fd = mkfile("f", 0644, "hello");
    close(fd);
    printf("f nlink=%ld\n", (long)st_of("f").st_nlink);
    T("link f g", syscall(SYS_link, "f", "g"));
    printf("f nlink=%ld same inode=%d\n", (long)st_of("f").st_nlink, st_of("f").st_ino == st_of("g").st_ino);
    T("link f g again", syscall(SYS_link, "f", "g"));
    T("link missing", syscall(SYS_link, "missing", "h"));
    T("link into missing dir", syscall(SYS_link, "f", "nodir/h"));
    syscall(SYS_mkdir, "d", 0755);
    T("link dir", syscall(SYS_link, "d", "d2"));
    T("link onto dir", syscall(SYS_link, "f", "d"));
    T("link new trailing slash", syscall(SYS_link, "f", "h/"));
    T("link old trailing slash", syscall(SYS_link, "f/", "h"));
    T("link new dot", syscall(SYS_link, "f", "."));
    T("link across mounts", syscall(SYS_link, "f", xdev));
    T("linkat bad flags", syscall(SYS_linkat, AT_FDCWD, "f", AT_FDCWD, "h", 0x8000));
    syscall(SYS_symlink, "f", "sl");
    T("linkat symlink nofollow", syscall(SYS_linkat, AT_FDCWD, "sl", AT_FDCWD, "sl2", 0));
    printf("sl2 is symlink=%d\n", S_ISLNK(st_of("sl2").st_mode));
    T("linkat symlink follow", syscall(SYS_linkat, AT_FDCWD, "sl", AT_FDCWD, "sl3", AT_SYMLINK_FOLLOW));
    printf("sl3 is f=%d f nlink=%ld\n", st_of("sl3").st_ino == st_of("f").st_ino, (long)st_of("f").st_nlink);
    fd = open("f", O_RDONLY);
    T("linkat empty path (root)", syscall(SYS_linkat, fd, "", AT_FDCWD, "e1", AT_EMPTY_PATH));
    printf("f nlink=%ld\n", (long)st_of("f").st_nlink);
    int dfd = open(".", O_RDONLY | O_DIRECTORY);
    T("linkat relative to dirfd", syscall(SYS_linkat, dfd, "f", dfd, "e2", 0));
    close(dfd);
    syscall(SYS_unlink, "g");
    syscall(SYS_unlink, "sl3");
    syscall(SYS_unlink, "e1");
    syscall(SYS_unlink, "e2");
    syscall(SYS_unlink, "sl2");
    printf("f nlink=%ld fstat nlink=%ld\n", (long)st_of("f").st_nlink, (long)fst(fd).st_nlink);
    close(fd);
    /* Directory link counts: 2 + subdirectories. */
    printf("d nlink=%ld\n", (long)st_of("d").st_nlink);
    syscall(SYS_mkdir, "d/a", 0755);
    syscall(SYS_mkdir, "d/b", 0755);
    printf("d nlink=%ld\n", (long)st_of("d").st_nlink);
    syscall(SYS_rmdir, "d/a");
    printf("d nlink=%ld\n", (long)st_of("d").st_nlink);
    long base_before = (long)st_of(".").st_nlink;
    syscall(SYS_rename, "d/b", "b2");
    printf("after moving d/b up: d nlink=%ld base nlink +%ld\n", (long)st_of("d").st_nlink,
           (long)st_of(".").st_nlink - base_before);
    syscall(SYS_rmdir, "b2");
    /* An open, unlinked file cannot be linked back. */
    fd = mkfile("tmpf", 0600, NULL);
    syscall(SYS_unlink, "tmpf");
    printf("unlinked fstat nlink=%ld\n", (long)fst(fd).st_nlink);
    T("linkat unlinked file", syscall(SYS_linkat, fd, "", AT_FDCWD, "back", AT_EMPTY_PATH));
    close(fd);
}

static void owners(void) {
    printf("== chown\n");
    int fd = open("f", O_RDWR);
    struct stat st;
    T("chown f 1234:5678", syscall(SYS_chown, "f", 1234, 5678));
    st = st_of("f");
    printf("f %d:%d\n", st.st_uid, st.st_gid);
    T("chown f -1:42", syscall(SYS_chown, "f", -1, 42));
    st = st_of("f");
    printf("f %d:%d\n", st.st_uid, st.st_gid);
    T("fchown 7:-1", syscall(SYS_fchown, fd, 7, -1));
    printf("f uid=%d\n", st_of("f").st_uid);
    T("lchown sl 99:98", syscall(SYS_lchown, "sl", 99, 98));
    printf("sl %d:%d f uid=%d\n", st_of("sl").st_uid, st_of("sl").st_gid, st_of("f").st_uid);
    T("chown through symlink", syscall(SYS_chown, "sl", 5, -1));
    printf("f uid=%d sl uid=%d\n", st_of("f").st_uid, st_of("sl").st_uid);
    T("fchownat nofollow", syscall(SYS_fchownat, AT_FDCWD, "sl", 11, 12, AT_SYMLINK_NOFOLLOW));
    printf("sl %d:%d\n", st_of("sl").st_uid, st_of("sl").st_gid);
    T("fchownat empty path", syscall(SYS_fchownat, fd, "", 0, 0, AT_EMPTY_PATH));
    printf("f %d:%d\n", st_of("f").st_uid, st_of("f").st_gid);
    T("fchownat bad flags", syscall(SYS_fchownat, AT_FDCWD, "f", 0, 0, 0x4));
    T("fchownat empty path without flag", syscall(SYS_fchownat, AT_FDCWD, "", 0, 0, 0));
    int pfd = open("f", O_PATH);
    T("fchown O_PATH", syscall(SYS_fchown, pfd, 0, 0));
    T("fchownat O_PATH empty path", syscall(SYS_fchownat, pfd, "", 0, 0, AT_EMPTY_PATH));
    close(pfd);
    /* chown clears set-user-ID, and set-group-ID when group-executable. */
    syscall(SYS_chmod, "f", 06755);
    T("chown -1:-1 of 6755", syscall(SYS_chown, "f", -1, -1));
    printf("mode=%o\n", st_of("f").st_mode & 07777);
    syscall(SYS_chmod, "f", 02745);
    T("chown 0:0 of 2745", syscall(SYS_chown, "f", 0, 0));
    printf("mode=%o\n", st_of("f").st_mode & 07777);
    syscall(SYS_chmod, "f", 04644);
    T("fchown of 4644", syscall(SYS_fchown, fd, 3, -1));
    printf("mode=%o uid=%d\n", st_of("f").st_mode & 07777, st_of("f").st_uid);
    syscall(SYS_chmod, "d", 06755);
    T("chown dir of 6755", syscall(SYS_chown, "d", 1, 1));
    printf("dir mode=%o\n", st_of("d").st_mode & 07777);
    syscall(SYS_chown, "f", 0, 0);
    syscall(SYS_chmod, "f", 0644);
    close(fd);
}

static void show_times(const char *label, const char *p) {
    struct stat st = st_of(p);
    printf("%s: atime=%ld.%09ld mtime=%ld.%09ld\n", label, (long)st.st_atim.tv_sec, st.st_atim.tv_nsec,
           (long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
}

static void timestamps(void) {
    printf("== times\n");
    long t0 = time(NULL) - 2;
    struct timespec ts[2] = {{1000000000, 123456789}, {1100000000, 987654321}};
    T("utimensat explicit", syscall(SYS_utimensat, AT_FDCWD, "f", ts, 0));
    show_times("f", "f");
    printf("ctime is now=%d\n", st_of("f").st_ctim.tv_sec >= t0);
    struct timespec omit_a[2] = {{0, UTIME_OMIT}, {1200000000, 500000000}};
    T("utimensat omit atime", syscall(SYS_utimensat, AT_FDCWD, "f", omit_a, 0));
    show_times("f", "f");
    struct timespec both_omit[2] = {{0, UTIME_OMIT}, {0, UTIME_OMIT}};
    T("utimensat both omit, missing path", syscall(SYS_utimensat, AT_FDCWD, "missing", both_omit, 0));
    struct timespec bad[2] = {{0, 1000000000}, {0, 0}};
    T("utimensat bad nsec", syscall(SYS_utimensat, AT_FDCWD, "f", bad, 0));
    struct timespec neg[2] = {{0, -1}, {0, 0}};
    T("utimensat negative nsec", syscall(SYS_utimensat, AT_FDCWD, "f", neg, 0));
    T("utimensat bad flags", syscall(SYS_utimensat, AT_FDCWD, "f", ts, 0x4));
    int fd = open("f", O_RDONLY);
    struct timespec ts2[2] = {{300, 3}, {400, 4}};
    T("futimens", syscall(SYS_utimensat, fd, NULL, ts2, 0));
    show_times("f", "f");
    T("futimens nofollow", syscall(SYS_utimensat, fd, NULL, ts2, AT_SYMLINK_NOFOLLOW));
    T("utimensat null path cwd", syscall(SYS_utimensat, AT_FDCWD, NULL, ts2, 0));
    int pfd = open("f", O_PATH);
    T("futimens O_PATH", syscall(SYS_utimensat, pfd, NULL, ts2, 0));
    close(pfd);
    struct timespec ts3[2] = {{500, 5}, {600, 6}};
    T("utimensat symlink nofollow", syscall(SYS_utimensat, AT_FDCWD, "sl", ts3, AT_SYMLINK_NOFOLLOW));
    show_times("sl", "sl");
    show_times("f", "f");
    T("utimensat null times", syscall(SYS_utimensat, AT_FDCWD, "f", NULL, 0));
    printf("both now=%d\n", st_of("f").st_atim.tv_sec >= t0 && st_of("f").st_mtim.tv_sec >= t0);
    struct timespec now_omit[2] = {{0, UTIME_NOW}, {0, UTIME_OMIT}};
    set_times("f", 10, 20);
    T("utimensat now/omit", syscall(SYS_utimensat, AT_FDCWD, "f", now_omit, 0));
    printf("atime now=%d mtime=%ld\n", st_of("f").st_atim.tv_sec >= t0, (long)st_of("f").st_mtim.tv_sec);
    struct utimbuf ub = {2000000000, 2000000001};
    T("utime", syscall(SYS_utime, "f", &ub));
    show_times("f", "f");
    T("utime null", syscall(SYS_utime, "f", NULL));
    printf("both now=%d\n", st_of("f").st_atim.tv_sec >= t0 && st_of("f").st_mtim.tv_sec >= t0);
    struct timeval tv[2] = {{1, 500000}, {2, 600000}};
    T("utimes", syscall(SYS_utimes, "f", tv));
    show_times("f", "f");
    struct timeval badtv[2] = {{1, 1000000}, {2, 0}};
    T("utimes bad usec", syscall(SYS_utimes, "f", badtv));
    struct timeval tv2[2] = {{3, 7}, {4, 8}};
    int dfd = open(".", O_RDONLY | O_DIRECTORY);
    T("futimesat dirfd", syscall(SYS_futimesat, dfd, "f", tv2));
    show_times("f", "f");
    struct timeval tv3[2] = {{5, 0}, {6, 0}};
    T("futimesat fd null path", syscall(SYS_futimesat, fd, NULL, tv3));
    show_times("f", "f");
    close(fd);

    /* What updates time stamps. */
    fd = open("f", O_RDWR);
    set_times("f", OLD, OLD);
    T("write", write(fd, "x", 1));
    printf("write sets mtime=%d\n", st_of("f").st_mtim.tv_sec >= t0);
    set_times("f", OLD, OLD);
    T("ftruncate", syscall(SYS_ftruncate, fd, 3));
    printf("ftruncate sets mtime=%d\n", st_of("f").st_mtim.tv_sec >= t0);
    set_times("f", OLD, OLD);
    close(open("f", O_WRONLY | O_TRUNC));
    printf("O_TRUNC sets mtime=%d\n", st_of("f").st_mtim.tv_sec >= t0);
    set_times(".", OLD, OLD);
    close(mkfile("new", 0644, NULL));
    printf("create sets dir mtime=%d\n", st_of(".").st_mtim.tv_sec >= t0);
    set_times(".", OLD, OLD);
    syscall(SYS_link, "new", "new2");
    printf("link sets dir mtime=%d\n", st_of(".").st_mtim.tv_sec >= t0);
    set_times(".", OLD, OLD);
    syscall(SYS_rename, "new2", "new3");
    printf("rename sets dir mtime=%d\n", st_of(".").st_mtim.tv_sec >= t0);
    set_times(".", OLD, OLD);
    syscall(SYS_unlink, "new3");
    printf("unlink sets dir mtime=%d\n", st_of(".").st_mtim.tv_sec >= t0);
    syscall(SYS_unlink, "new");
    /* relatime: a read sets atime when it is not newer than mtime. */
    if (write(fd, "data", 4) != 4) printf("write failed\n");
    char c;
    set_times("f", OLD, OLD + 10);
    T("pread", pread(fd, &c, 1, 0));
    printf("read after modification sets atime=%d\n", st_of("f").st_atim.tv_sec >= t0);
    long future = time(NULL) + 100000;
    set_times("f", future, OLD);
    T("pread", pread(fd, &c, 1, 0));
    printf("read keeps newer atime=%d\n", st_of("f").st_atim.tv_sec == future);
    close(fd);
}

static void fsstats(void) {
    printf("== statfs\n");
    struct statfs s;
    T("statfs base", syscall(SYS_statfs, ".", &s));
    printf("type=%lx namelen=%ld bsize=%ld frsize=%ld sane=%d\n", (long)s.f_type, (long)s.f_namelen,
           (long)s.f_bsize, (long)s.f_frsize, s.f_blocks > 0 && s.f_bfree <= s.f_blocks && s.f_bavail <= s.f_bfree);
    int fd = open("f", O_RDONLY);
    struct statfs s2;
    T("fstatfs", syscall(SYS_fstatfs, fd, &s2));
    printf("same type=%d\n", s2.f_type == s.f_type);
    close(fd);
    fd = open("f", O_PATH);
    T("fstatfs O_PATH", syscall(SYS_fstatfs, fd, &s2));
    close(fd);
    T("statfs /dev/null", syscall(SYS_statfs, "/dev/null", &s2));
    printf("dev type=%lx\n", (long)s2.f_type);
    T("statfs through symlink", syscall(SYS_statfs, "sl", &s2));
}

static void space(void) {
    printf("== fallocate\n");
    int fd = mkfile("fa", 0644, NULL);
    T("fallocate 0..10000", syscall(SYS_fallocate, fd, 0, 0, 10000));
    printf("size=%ld blocks=%ld\n", (long)fst(fd).st_size, (long)fst(fd).st_blocks);
    T("fallocate keep size", syscall(SYS_fallocate, fd, FALLOC_FL_KEEP_SIZE, 20000, 10000));
    printf("size=%ld blocks=%ld\n", (long)fst(fd).st_size, (long)fst(fd).st_blocks);
    char buf[10000];
    memset(buf, 'z', sizeof buf);
    if (pwrite(fd, buf, sizeof buf, 0) != (ssize_t)sizeof buf) printf("pwrite failed\n");
    T("punch hole", syscall(SYS_fallocate, fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 100, 8192));
    printf("size=%ld blocks=%ld\n", (long)fst(fd).st_size, (long)fst(fd).st_blocks);
    memset(buf, 0, sizeof buf);
    if (pread(fd, buf, sizeof buf, 0) != (ssize_t)sizeof buf) printf("pread failed\n");
    int zeros = 0;
    for (int i = 0; i < (int)sizeof buf; i++) zeros += buf[i] == 0;
    printf("zeros=%d first=%c last=%c at99=%c at8292=%c at8291=%d\n", zeros, buf[0], buf[9999], buf[99], buf[8292],
           buf[8291]);
    T("fallocate negative offset", syscall(SYS_fallocate, fd, 0, -1L, 10L));
    T("fallocate zero length", syscall(SYS_fallocate, fd, 0, 0, 0));
    T("fallocate punch without keep", syscall(SYS_fallocate, fd, FALLOC_FL_PUNCH_HOLE, 0, 10));
    T("fallocate unknown mode", syscall(SYS_fallocate, fd, 0x40, 0, 10));
    T("fallocate punch|zero", syscall(SYS_fallocate, fd, 0x13, 0, 10));
    T("fallocate collapse|keep", syscall(SYS_fallocate, fd, FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_KEEP_SIZE, 0, 4096));
    T("fallocate zero range", syscall(SYS_fallocate, fd, FALLOC_FL_ZERO_RANGE, 0, 10));
    T("fallocate overflow", syscall(SYS_fallocate, fd, 0, 0x7fffffffffffffffL, 10));
    close(fd);
    fd = open("fa", O_RDONLY);
    T("fallocate read-only", syscall(SYS_fallocate, fd, 0, 0, 10));
    close(fd);
    fd = open("/dev/null", O_WRONLY);
    T("fallocate /dev/null", syscall(SYS_fallocate, fd, 0, 0, 10));
    close(fd);
    fd = open("fa", O_PATH);
    T("fallocate O_PATH", syscall(SYS_fallocate, fd, 0, 0, 10));
    close(fd);

    printf("== advice, readahead, sync\n");
    fd = open("fa", O_RDONLY);
    T("fadvise willneed", syscall(SYS_fadvise64, fd, 0, 100, POSIX_FADV_WILLNEED));
    T("fadvise dontneed", syscall(SYS_fadvise64, fd, 0, 0, POSIX_FADV_DONTNEED));
    T("fadvise bad advice", syscall(SYS_fadvise64, fd, 0, 100, 99));
    T("fadvise negative len", syscall(SYS_fadvise64, fd, 0, -1L, 0));
    T("readahead", syscall(SYS_readahead, fd, 0, 4096));
    T("fsync", syscall(SYS_fsync, fd));
    T("fdatasync", syscall(SYS_fdatasync, fd));
    T("syncfs", syscall(SYS_syncfs, fd));
    T("sync", syscall(SYS_sync));
    close(fd);
    fd = open("fa", O_WRONLY);
    T("readahead write-only", syscall(SYS_readahead, fd, 0, 4096));
    close(fd);
    fd = open(".", O_RDONLY | O_DIRECTORY);
    T("readahead dir", syscall(SYS_readahead, fd, 0, 4096));
    T("fsync dir", syscall(SYS_fsync, fd));
    T("fadvise dir", syscall(SYS_fadvise64, fd, 0, 100, 0));
    close(fd);
    fd = open("/dev/null", O_RDWR);
    T("fsync /dev/null", syscall(SYS_fsync, fd));
    close(fd);
    fd = open("fa", O_PATH);
    T("fsync O_PATH", syscall(SYS_fsync, fd));
    T("syncfs O_PATH", syscall(SYS_syncfs, fd));
    T("fadvise O_PATH", syscall(SYS_fadvise64, fd, 0, 100, 0));
    close(fd);
}

static void read_file(const char *label, const char *p) {
    char buf[64] = {0};
    int fd = open(p, O_RDONLY);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
    if (fd >= 0) close(fd);
    printf("%s: %s\n", label, n < 0 ? "(none)" : buf);
}

static void renames(void) {
    printf("== renameat2\n");
    close(mkfile("ra", 0644, "AAA"));
    close(mkfile("rb", 0644, "BBB"));
    T("noreplace onto existing", syscall(SYS_renameat2, AT_FDCWD, "ra", AT_FDCWD, "rb", RENAME_NOREPLACE));
    T("noreplace to new", syscall(SYS_renameat2, AT_FDCWD, "ra", AT_FDCWD, "rc", RENAME_NOREPLACE));
    T("noreplace onto dot", syscall(SYS_renameat2, AT_FDCWD, "rc", AT_FDCWD, ".", RENAME_NOREPLACE));
    T("plain rename onto dot", syscall(SYS_renameat2, AT_FDCWD, "rc", AT_FDCWD, ".", 0));
    T("exchange", syscall(SYS_renameat2, AT_FDCWD, "rc", AT_FDCWD, "rb", RENAME_EXCHANGE));
    read_file("rb", "rb");
    read_file("rc", "rc");
    T("exchange with missing", syscall(SYS_renameat2, AT_FDCWD, "rc", AT_FDCWD, "nothere", RENAME_EXCHANGE));
    T("exchange|noreplace", syscall(SYS_renameat2, AT_FDCWD, "rc", AT_FDCWD, "rb", RENAME_EXCHANGE | RENAME_NOREPLACE));
    T("unknown flag", syscall(SYS_renameat2, AT_FDCWD, "rc", AT_FDCWD, "rb", 8));
    syscall(SYS_mkdir, "xd", 0755);
    syscall(SYS_mkdir, "xd/inner", 0755);
    long before = (long)st_of(".").st_nlink;
    T("exchange dir and file", syscall(SYS_renameat2, AT_FDCWD, "xd", AT_FDCWD, "rc", RENAME_EXCHANGE));
    printf("rc is dir=%d xd is file=%d base nlink +%ld\n", S_ISDIR(st_of("rc").st_mode), S_ISREG(st_of("xd").st_mode),
           (long)st_of(".").st_nlink - before);
    T("exchange dir into own child", syscall(SYS_renameat2, AT_FDCWD, "rc", AT_FDCWD, "rc/inner", RENAME_EXCHANGE));
    T("exchange child with ancestor", syscall(SYS_renameat2, AT_FDCWD, "rc/inner", AT_FDCWD, "rc", RENAME_EXCHANGE));
    T("exchange across dirs", syscall(SYS_renameat2, AT_FDCWD, "rc/inner", AT_FDCWD, "rb", RENAME_EXCHANGE));
    printf("rb is dir=%d rc nlink=%ld\n", S_ISDIR(st_of("rb").st_mode), (long)st_of("rc").st_nlink);
    read_file("rc/inner", "rc/inner");
}

static void copies(void) {
    printf("== copy_file_range\n");
    int in = mkfile("cs", 0644, "0123456789");
    int out = mkfile("cd", 0644, NULL);
    loff_t off_in = 2;
    long n = syscall(SYS_copy_file_range, in, &off_in, out, NULL, 5, 0);
    printf("copied=%ld off_in=%ld out pos=%ld\n", n, (long)off_in, (long)lseek(out, 0, SEEK_CUR));
    read_file("cd", "cd");
    lseek(in, 8, SEEK_SET);
    loff_t off_out = 1;
    n = syscall(SYS_copy_file_range, in, NULL, out, &off_out, 100, 0);
    printf("copied=%ld in pos=%ld off_out=%ld\n", n, (long)lseek(in, 0, SEEK_CUR), (long)off_out);
    read_file("cd", "cd");
    off_in = 50;
    n = syscall(SYS_copy_file_range, in, &off_in, out, NULL, 5, 0);
    printf("past EOF copied=%ld off_in=%ld\n", n, (long)off_in);
    T("copy flags", syscall(SYS_copy_file_range, in, NULL, out, NULL, 5, 1));
    loff_t a = 0, b = 2;
    T("copy overlapping same file", syscall(SYS_copy_file_range, in, &a, in, &b, 5, 0));
    int inrw = open("cs", O_RDWR);
    a = 0;
    b = 5;
    n = syscall(SYS_copy_file_range, inrw, &a, inrw, &b, 5, 0);
    printf("same file disjoint copied=%ld\n", n);
    read_file("cs", "cs");
    close(inrw);
    int dfd = open(".", O_RDONLY | O_DIRECTORY);
    T("copy from dir", syscall(SYS_copy_file_range, dfd, NULL, out, NULL, 5, 0));
    close(dfd);
    int ro = open("cs", O_RDONLY);
    T("copy to read-only", syscall(SYS_copy_file_range, out, NULL, ro, NULL, 5, 0));
    close(ro);
    int app = open("cd", O_WRONLY | O_APPEND);
    T("copy to append", syscall(SYS_copy_file_range, in, NULL, app, NULL, 5, 0));
    close(app);
    int null = open("/dev/null", O_RDWR);
    T("copy to /dev/null", syscall(SYS_copy_file_range, in, NULL, null, NULL, 5, 0));
    close(null);
    loff_t negative = -1;
    T("copy negative offset", syscall(SYS_copy_file_range, in, &negative, out, NULL, 5, 0));
    close(in);
    close(out);
}

static void truncates(void) {
    printf("== truncate\n");
    T("truncate dir", syscall(SYS_truncate, "d", 0));
    T("truncate negative", syscall(SYS_truncate, "f", -1L));
    T("truncate missing", syscall(SYS_truncate, "missing", 0));
    T("truncate /dev/null", syscall(SYS_truncate, "/dev/null", 0));
    T("truncate grow", syscall(SYS_truncate, "f", 8192));
    printf("size=%ld\n", (long)st_of("f").st_size);
    int fd = open("f", O_RDONLY);
    T("ftruncate read-only", syscall(SYS_ftruncate, fd, 0));
    T("ftruncate negative", syscall(SYS_ftruncate, fd, -1L));
    close(fd);
    fd = open(".", O_RDONLY | O_DIRECTORY);
    T("ftruncate dir", syscall(SYS_ftruncate, fd, 0));
    close(fd);
    fd = open("f", O_PATH);
    T("ftruncate O_PATH", syscall(SYS_ftruncate, fd, 0));
    close(fd);
}

static void prepare_user(void) {
    syscall(SYS_mkdir, "userdir", 0777);
    syscall(SYS_chmod, "userdir", 0777);
    close(mkfile("rootf644", 0644, "r"));
    close(mkfile("rootf666", 0666, "r"));
    syscall(SYS_chmod, "rootf666", 0666);
}

static void chroots(void) {
    printf("== chroot\n");
    syscall(SYS_mkdir, "croot", 0755);
    syscall(SYS_mkdir, "croot/sub", 0755);
    close(mkfile("croot/marker", 0644, "m"));
    T("chroot missing", syscall(SYS_chroot, "missing"));
    T("chroot file", syscall(SYS_chroot, "croot/marker"));
    T("chroot", syscall(SYS_chroot, "croot"));
    char buf[4096];
    long n = syscall(SYS_getcwd, buf, sizeof buf);
    printf("getcwd outside root: %ld unreachable=%d\n", n > 0 ? 1L : n,
           n > 0 && strncmp(buf, "(unreachable)", 13) == 0);
    T("chdir /", syscall(SYS_chdir, "/"));
    n = syscall(SYS_getcwd, buf, sizeof buf);
    printf("getcwd=%s\n", n > 0 ? buf : "?");
    T("open /marker", close(open("/marker", O_RDONLY)));
    T("chdir /sub/../..", syscall(SYS_chdir, "/sub/../.."));
    n = syscall(SYS_getcwd, buf, sizeof buf);
    printf("getcwd=%s\n", n > 0 ? buf : "?");
    T("chdir sub", syscall(SYS_chdir, "sub"));
    n = syscall(SYS_getcwd, buf, sizeof buf);
    printf("getcwd=%s\n", n > 0 ? buf : "?");
    T("open ../../../marker", close(open("../../../marker", O_RDONLY)));
}

static void user_phase(void) {
    printf("== user uid=%d gid=%d\n", getuid(), getgid());
    if (chdir("userdir") != 0) printf("chdir userdir failed\n");
    int fd = mkfile("mine", 0644, "m");
    struct stat st = st_of("mine");
    printf("mine owned by me=%d\n", st.st_uid == getuid() && st.st_gid == getgid());
    T("chown own to self", syscall(SYS_chown, "mine", getuid(), -1));
    T("chown own to root", syscall(SYS_chown, "mine", 0, -1));
    T("chgrp own to own group", syscall(SYS_chown, "mine", -1, getgid()));
    T("chgrp own to group 0", syscall(SYS_chown, "mine", -1, 0));
    syscall(SYS_chmod, "mine", 06755);
    T("owner chown -1:-1 of 6755", syscall(SYS_chown, "mine", -1, -1));
    printf("mode=%o\n", st_of("mine").st_mode & 07777);
    T("chown -1:-1 of root's file", syscall(SYS_chown, "../rootf644", -1, -1));
    T("chown root's file to me", syscall(SYS_chown, "../rootf644", getuid(), -1));
    int rfd = open("../rootf666", O_RDWR);
    T("fchown root's file", syscall(SYS_fchown, rfd, getuid(), getgid()));
    close(rfd);
    T("utimensat null on writable", syscall(SYS_utimensat, AT_FDCWD, "../rootf666", NULL, 0));
    T("utimensat null on read-only", syscall(SYS_utimensat, AT_FDCWD, "../rootf644", NULL, 0));
    struct timespec ts[2] = {{1, 0}, {2, 0}};
    T("utimensat explicit on not mine", syscall(SYS_utimensat, AT_FDCWD, "../rootf666", ts, 0));
    struct timespec now2[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
    T("utimensat now/now on writable", syscall(SYS_utimensat, AT_FDCWD, "../rootf666", now2, 0));
    T("utimensat explicit on mine", syscall(SYS_utimensat, AT_FDCWD, "mine", ts, 0));
    T("utime null on read-only", syscall(SYS_utime, "../rootf644", NULL));
    T("truncate read-only", syscall(SYS_truncate, "../rootf644", 0));
    T("truncate writable", syscall(SYS_truncate, "../rootf666", 0));
    T("link own file", syscall(SYS_link, "mine", "mine2"));
    printf("mine nlink=%ld\n", (long)st_of("mine").st_nlink);
    T("linkat empty path (not root)", syscall(SYS_linkat, fd, "", AT_FDCWD, "mine3", AT_EMPTY_PATH));
    T("linkat empty path, missing fd", syscall(SYS_linkat, 999, "", AT_FDCWD, "mine3", AT_EMPTY_PATH));
    T("chroot (not root)", syscall(SYS_chroot, "."));
    T("chroot missing (not root)", syscall(SYS_chroot, "missing"));
    T("rename whiteout (not root)", syscall(SYS_renameat2, AT_FDCWD, "mine2", AT_FDCWD, "w", RENAME_WHITEOUT));
    close(fd);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc != 4) {
        printf("usage: fsattr root|user BASE XDEV\n");
        return 2;
    }
    if (chdir(argv[2]) != 0) {
        printf("chdir %s: %s\n", argv[2], strerror(errno));
        return 1;
    }
    umask(022);
    if (strcmp(argv[1], "user") == 0) {
        user_phase();
        printf("done\n");
        return 0;
    }
    links(argv[3]);
    owners();
    timestamps();
    fsstats();
    space();
    renames();
    copies();
    truncates();
    prepare_user();
    chroots();
    printf("done\n");
    return 0;
}
