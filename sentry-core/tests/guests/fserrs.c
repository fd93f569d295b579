/* Garbage pointers, bad descriptors and missing paths for the file-system
 * calls: EFAULT, EBADF, ENOENT (and ENOTDIR for a file as a directory).
 *
 * Usage: fserrs BASE (run as root). Output is deterministic, for comparison
 * with a native run. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

static const char *en(long r) {
    static char buf[32];
    if (r >= 0) return "ok";
    switch (errno) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EBADF: return "EBADF";
    case EFAULT: return "EFAULT";
    case ENOTDIR: return "ENOTDIR";
    case EINVAL: return "EINVAL";
    case ERANGE: return "ERANGE";
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

#define BAD ((void *)1)
#define BADFD 999

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc != 2 || chdir(argv[1]) != 0) {
        printf("usage: fserrs BASE\n");
        return 2;
    }
    int fd = open("f", O_CREAT | O_RDWR, 0644);
    int fd2 = open("g", O_CREAT | O_RDWR, 0644);
    struct timespec ts[2] = {{1, 0}, {2, 0}};
    struct timeval tv[2] = {{1, 0}, {2, 0}};
    struct statfs sfs;
    struct flock fl = {.l_type = F_RDLCK, .l_whence = SEEK_SET};
    char buf[256];

    T("chown EFAULT", syscall(SYS_chown, BAD, 0, 0));
    T("chown ENOENT", syscall(SYS_chown, "nope", 0, 0));
    T("chown ENOTDIR", syscall(SYS_chown, "f/x", 0, 0));
    T("lchown EFAULT", syscall(SYS_lchown, BAD, 0, 0));
    T("lchown ENOENT", syscall(SYS_lchown, "nope", 0, 0));
    T("fchown EBADF", syscall(SYS_fchown, BADFD, 0, 0));
    T("fchownat EFAULT", syscall(SYS_fchownat, AT_FDCWD, BAD, 0, 0, 0));
    T("fchownat EBADF", syscall(SYS_fchownat, BADFD, "f", 0, 0, 0));
    T("fchownat ENOTDIR dirfd", syscall(SYS_fchownat, fd, "x", 0, 0, 0));
    T("fchownat empty path EBADF", syscall(SYS_fchownat, BADFD, "", 0, 0, AT_EMPTY_PATH));

    T("utime EFAULT path", syscall(SYS_utime, BAD, NULL));
    T("utime EFAULT times", syscall(SYS_utime, "f", BAD));
    T("utime ENOENT", syscall(SYS_utime, "nope", NULL));
    T("utimes EFAULT path", syscall(SYS_utimes, BAD, tv));
    T("utimes EFAULT times", syscall(SYS_utimes, "f", BAD));
    T("utimes ENOENT", syscall(SYS_utimes, "nope", tv));
    T("futimesat EBADF", syscall(SYS_futimesat, BADFD, "f", tv));
    T("futimesat EBADF null path", syscall(SYS_futimesat, BADFD, NULL, tv));
    T("futimesat ENOENT", syscall(SYS_futimesat, AT_FDCWD, "nope", tv));
    T("utimensat EFAULT times", syscall(SYS_utimensat, AT_FDCWD, "f", BAD, 0));
    T("utimensat EFAULT path", syscall(SYS_utimensat, AT_FDCWD, BAD, ts, 0));
    T("utimensat EBADF", syscall(SYS_utimensat, BADFD, NULL, ts, 0));
    T("utimensat EBADF relative", syscall(SYS_utimensat, BADFD, "f", ts, 0));
    T("utimensat ENOENT", syscall(SYS_utimensat, AT_FDCWD, "nope", ts, 0));
    T("utimensat empty path", syscall(SYS_utimensat, AT_FDCWD, "", ts, 0));

    T("link EFAULT old", syscall(SYS_link, BAD, "x"));
    T("link EFAULT new", syscall(SYS_link, "f", BAD));
    T("link ENOENT beats EFAULT", syscall(SYS_link, "nope", BAD));
    T("link ENOENT", syscall(SYS_link, "nope", "x"));
    T("linkat EBADF old", syscall(SYS_linkat, BADFD, "f", AT_FDCWD, "x", 0));
    T("linkat EBADF new", syscall(SYS_linkat, AT_FDCWD, "f", BADFD, "x", 0));
    T("linkat empty path ENOENT", syscall(SYS_linkat, AT_FDCWD, "", AT_FDCWD, "x", 0));

    T("statfs EFAULT path", syscall(SYS_statfs, BAD, &sfs));
    T("statfs EFAULT buf", syscall(SYS_statfs, ".", BAD));
    T("statfs ENOENT", syscall(SYS_statfs, "nope", &sfs));
    T("fstatfs EBADF", syscall(SYS_fstatfs, BADFD, &sfs));
    T("fstatfs EFAULT", syscall(SYS_fstatfs, fd, BAD));

    T("fsync EBADF", syscall(SYS_fsync, BADFD));
    T("fdatasync EBADF", syscall(SYS_fdatasync, BADFD));
    T("syncfs EBADF", syscall(SYS_syncfs, BADFD));
    T("fallocate EBADF", syscall(SYS_fallocate, BADFD, 0, 0L, 10L));
    T("readahead EBADF", syscall(SYS_readahead, BADFD, 0L, 10L));
    T("fadvise64 EBADF", syscall(SYS_fadvise64, BADFD, 0L, 10L, 0));
    T("ftruncate EBADF", syscall(SYS_ftruncate, BADFD, 0L));
    T("truncate EFAULT", syscall(SYS_truncate, BAD, 0L));
    T("truncate ENOENT", syscall(SYS_truncate, "nope", 0L));

    T("chroot EFAULT", syscall(SYS_chroot, BAD));
    T("chroot ENOENT", syscall(SYS_chroot, "nope"));
    T("fchdir EBADF", syscall(SYS_fchdir, BADFD));
    T("fchdir ENOTDIR", syscall(SYS_fchdir, fd));
    T("getcwd EFAULT", syscall(SYS_getcwd, BAD, sizeof buf));
    T("getcwd ERANGE", syscall(SYS_getcwd, buf, 1));
    T("faccessat2 EFAULT", syscall(SYS_faccessat2, AT_FDCWD, BAD, F_OK, 0));
    T("faccessat2 ENOENT", syscall(SYS_faccessat2, AT_FDCWD, "nope", F_OK, 0));
    T("faccessat2 EBADF", syscall(SYS_faccessat2, BADFD, "f", F_OK, 0));
    T("faccessat2 bad flags", syscall(SYS_faccessat2, AT_FDCWD, "f", F_OK, 0x4));

    T("renameat2 EFAULT", syscall(SYS_renameat2, AT_FDCWD, BAD, AT_FDCWD, "x", 0));
    T("renameat2 ENOENT", syscall(SYS_renameat2, AT_FDCWD, "nope", AT_FDCWD, "x", 0));
    T("renameat2 EBADF", syscall(SYS_renameat2, BADFD, "f", AT_FDCWD, "x", 0));

    long long off = 0;
    T("copy_file_range EBADF in", syscall(SYS_copy_file_range, BADFD, NULL, fd2, NULL, 1L, 0));
    T("copy_file_range EBADF out", syscall(SYS_copy_file_range, fd, NULL, BADFD, NULL, 1L, 0));
    T("copy_file_range EFAULT off_in", syscall(SYS_copy_file_range, fd, BAD, fd2, NULL, 1L, 0));
    T("copy_file_range EFAULT off_out", syscall(SYS_copy_file_range, fd, &off, fd2, BAD, 1L, 0));

    T("flock EBADF", syscall(SYS_flock, BADFD, LOCK_SH));
    T("fcntl F_GETLK EBADF", syscall(SYS_fcntl, BADFD, F_GETLK, &fl));
    T("fcntl F_OFD_SETLK EFAULT", syscall(SYS_fcntl, fd, F_OFD_SETLK, BAD));
    printf("done\n");
    return 0;
}
