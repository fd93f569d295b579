/* eventfd counter semantics. Runs identically on Linux (a differential
 * test). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "guest.h"

static uint64_t v;

static void rd(const char *label, int fd) {
    v = 0;
    long n = read(fd, &v, 8);
    if (n < 0)
        printf("%s = -1 %s\n", label, en(errno));
    else
        printf("%s = %ld value %llu\n", label, n, (unsigned long long)v);
}

static long wr(int fd, uint64_t x) {
    return write(fd, &x, 8);
}

int main(void) {
    int e = eventfd(5, 0);
    rd("read initial 5", e);
    printf("accmode rdwr=%d cloexec=%d\n", (fcntl(e, F_GETFL) & O_ACCMODE) == O_RDWR, fcntl(e, F_GETFD));
    struct stat st;
    fstat(e, &st);
    printf("fstat type bits=%o perm=%o\n", st.st_mode & S_IFMT, st.st_mode & 0777);
    show("lseek", lseek(e, 0, SEEK_SET));
    close(e);

    e = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    printf("nonblock=%d cloexec=%d\n", (fcntl(e, F_GETFL) & O_NONBLOCK) != 0, fcntl(e, F_GETFD));
    rd("read zero counter", e);
    show("write 3", wr(e, 3));
    show("write 4", wr(e, 4));
    rd("read", e);
    char small[4];
    show("read 4 bytes", read(e, small, 4));
    show("write 4 bytes", write(e, small, 4));
    /* (Writes of more than 8 bytes: Linux 4.4 takes the first 8, newer
     * kernels refuse them; not compared.) */
    uint64_t big[2] = {0, 99};
    show("write 2", wr(e, 2));
    show("read 16 bytes", read(e, big, 16));
    printf("value %llu, rest untouched %d\n", (unsigned long long)big[0], big[1] == 99);
    show("write UINT64_MAX", wr(e, UINT64_MAX));
    show("write UINT64_MAX-1", wr(e, UINT64_MAX - 1));
    show("write 1 more (would overflow)", wr(e, 1));
    show("write 0", wr(e, 0));
    rd("read max", e);
    close(e);

    e = eventfd(3, EFD_SEMAPHORE | EFD_NONBLOCK);
    rd("semaphore", e);
    rd("semaphore", e);
    rd("semaphore", e);
    rd("semaphore empty", e);
    close(e);
    show("eventfd2 bad flags", syscall(SYS_eventfd2, 0, 0x100));
    e = syscall(SYS_eventfd, 2);
    rd("eventfd (no flags)", e);
    printf("done\n");
    return 0;
}
