/* splice between a file and a pipe (with and without offsets), vmsplice. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

int main(void) {
    int f = open("/tmp/splice-src", O_CREAT | O_TRUNC | O_RDWR, 0644);
    write(f, "0123456789abcdef", 16);
    int p[2];
    pipe(p);
    loff_t off = 4;
    ssize_t n = splice(f, &off, p[1], NULL, 6, 0);
    printf("file->pipe: %zd, offset now %lld\n", n, (long long)off);
    int g = open("/tmp/splice-dst", O_CREAT | O_TRUNC | O_RDWR, 0644);
    n = splice(p[0], NULL, g, NULL, 100, 0);
    printf("pipe->file: %zd\n", n);
    char buf[32] = {0};
    pread(g, buf, sizeof buf - 1, 0);
    printf("copied: %s\n", buf);
    struct iovec iov[2] = {{"vm", 2}, {"splice", 6}};
    printf("vmsplice: %zd\n", vmsplice(p[1], iov, 2, 0));
    memset(buf, 0, sizeof buf);
    read(p[0], buf, sizeof buf - 1);
    printf("pipe has: %s\n", buf);
    errno = 0;
    n = splice(f, NULL, g, NULL, 4, 0);
    printf("no pipe: %zd EINVAL %d\n", n, errno == EINVAL);
    errno = 0;
    n = splice(p[0], &off, g, NULL, 4, SPLICE_F_NONBLOCK);
    printf("offset on a pipe: %zd ESPIPE %d\n", n, errno == ESPIPE);
    errno = 0;
    n = splice(p[0], NULL, g, NULL, 4, SPLICE_F_NONBLOCK);
    printf("empty pipe, nonblock: %zd EAGAIN %d\n", n, errno == EAGAIN);
    unlink("/tmp/splice-src");
    unlink("/tmp/splice-dst");
    return 0;
}
