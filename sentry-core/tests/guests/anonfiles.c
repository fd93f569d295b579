/* memfd_create, close_range, extended attributes on a file system
 * without them. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

int main(void) {
    int m = memfd_create("buf", MFD_CLOEXEC);
    printf("memfd: %d\n", m >= 0);
    printf("write: %zd\n", write(m, "hello memfd", 11));
    printf("ftruncate 8192: %d\n", ftruncate(m, 8192));
    char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0);
    printf("mapped sees: %.11s\n", p);
    memcpy(p + 4096, "through the map", 15);
    char buf[16] = {0};
    pread(m, buf, 15, 4096);
    printf("pread sees: %s\n", buf);
    struct stat st;
    fstat(m, &st);
    printf("regular %d size %lld nlink %ld\n", S_ISREG(st.st_mode), (long long)st.st_size, (long)st.st_nlink);
    printf("cloexec: %d\n", fcntl(m, F_GETFD) & FD_CLOEXEC);
    errno = 0;
    int bad = memfd_create("x", 0x100);
    printf("bad flags: %d EINVAL %d\n", bad, errno == EINVAL);

    int a = dup(0), b = dup(0), c = dup(0);
    int r = syscall(SYS_close_range, b, c, 4 /* CLOSE_RANGE_CLOEXEC */);
    printf("close_range cloexec: %d, flags %d %d %d\n", r, fcntl(a, F_GETFD), fcntl(b, F_GETFD), fcntl(c, F_GETFD));
    r = syscall(SYS_close_range, a, ~0U, 0);
    errno = 0;
    int after = fcntl(b, F_GETFD);
    printf("close_range: %d, then fcntl: %d EBADF %d\n", r, after, errno == EBADF);
    errno = 0;
    r = syscall(SYS_close_range, 5, 4, 0);
    printf("close_range first > last: %d EINVAL %d\n", r, errno == EINVAL);

    errno = 0;
    ssize_t n = getxattr("/nonexistent", "user.x", buf, sizeof buf);
    printf("getxattr missing file: %zd ENOENT %d\n", n, errno == ENOENT);
    return 0;
}
