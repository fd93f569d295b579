/* Pipes: capacity, atomicity, EOF, EPIPE, packet mode, fcntl, ioctl.
 * Runs identically on Linux (a differential test). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "guest.h"

/* Prints "label = value", or "label = -1 ERRNO" on failure. */

static char big[200000];

int main(void) {
    char buf[16];
    int p[2], q[2];
    signal(SIGPIPE, SIG_IGN);
    show("pipe", pipe(p));
    show("write", write(p[1], "hello", 5));
    memset(buf, 0, sizeof buf);
    show("read", read(p[0], buf, sizeof buf));
    printf("data=%s\n", buf);
    show("read 0 bytes of an empty pipe", read(p[0], buf, 0));

    struct stat s0, s1, s2;
    fstat(p[0], &s0);
    fstat(p[1], &s1);
    printf("fifo=%d perm=%o same ino=%d nlink=%ld size=%ld\n", S_ISFIFO(s0.st_mode), s0.st_mode & 0777,
           s0.st_ino == s1.st_ino, (long)s0.st_nlink, (long)s0.st_size);
    show("pipe2", pipe(q));
    fstat(q[0], &s2);
    printf("other pipe other ino=%d\n", s2.st_ino != s0.st_ino);
    close(q[0]);
    close(q[1]);
    printf("flags r=%o w=%o\n", fcntl(p[0], F_GETFL), fcntl(p[1], F_GETFL));
    show("lseek", lseek(p[0], 0, SEEK_CUR));
    show("pread", pread(p[0], buf, 1, 0));
    show("write to the read end", write(p[0], "x", 1));
    show("F_GETPIPE_SZ", fcntl(p[1], F_GETPIPE_SZ));

    /* Fill a non-blocking pipe. */
    fcntl(p[1], F_SETFL, O_NONBLOCK);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    show("big non-blocking write", write(p[1], big, sizeof big));
    show("one more byte", write(p[1], "x", 1));
    int avail = -1;
    ioctl(p[0], FIONREAD, &avail);
    printf("FIONREAD=%d\n", avail);
    show("read 4095", read(p[0], big, 4095));
    show("write 4096 (no page free)", write(p[1], big, 4096));
    show("read 1", read(p[0], big, 1));
    show("write 4096 (a page free)", write(p[1], big, 4096));
    show("write 1", write(p[1], "x", 1));
    show("F_SETPIPE_SZ while full", fcntl(p[1], F_SETPIPE_SZ, 4096));
    long drained = 0, n;
    while ((n = read(p[0], big, sizeof big)) > 0)
        drained += n;
    printf("drained=%ld then %s\n", drained, en(errno));

    /* Small writes share pages as in Linux. */
    long total = 0;
    while ((n = write(p[1], big, 1000)) > 0)
        total += n;
    printf("1000-byte writes until %s: %ld\n", en(errno), total);
    while (read(p[0], big, sizeof big) > 0) {
    }

    show("F_SETPIPE_SZ 100000", fcntl(p[1], F_SETPIPE_SZ, 100000));
    show("F_GETPIPE_SZ", fcntl(p[0], F_GETPIPE_SZ));
    show("F_SETPIPE_SZ 1", fcntl(p[1], F_SETPIPE_SZ, 1));
    show("write 5000 into one page", write(p[1], big, 5000));
    show("F_SETPIPE_SZ 8192", fcntl(p[1], F_SETPIPE_SZ, 8192));
    show("write 5000 more", write(p[1], big, 5000));
    show("F_SETPIPE_SZ 4096 with two pages", fcntl(p[1], F_SETPIPE_SZ, 4096));
    show("F_GETPIPE_SZ of a regular fd", fcntl(open("/dev/null", O_RDONLY), F_GETPIPE_SZ));
    while (read(p[0], big, sizeof big) > 0) {
    }

    /* End of file and broken pipes. */
    show("write", write(p[1], "bye", 3));
    close(p[1]);
    show("read after the writer closed", read(p[0], buf, sizeof buf));
    show("read at EOF", read(p[0], buf, sizeof buf));
    close(p[0]);
    pipe(q);
    close(q[0]);
    show("write without readers", write(q[1], "x", 1));
    show("write 0 bytes without readers", write(q[1], "x", 0));
    close(q[1]);

    /* pipe2 flags. */
    show("pipe2(O_CLOEXEC|O_NONBLOCK)", pipe2(q, O_CLOEXEC | O_NONBLOCK));
    printf("cloexec=%d nonblock=%d\n", fcntl(q[0], F_GETFD), (fcntl(q[1], F_GETFL) & O_NONBLOCK) != 0);
    show("read empty", read(q[0], buf, 1));
    close(q[0]);
    close(q[1]);
    show("pipe2(bad flags)", pipe2(q, 0x1));
    show("pipe(bad pointer)", syscall(SYS_pipe, (int *)8));

    /* Packet mode. */
    show("pipe2(O_DIRECT)", pipe2(q, O_DIRECT | O_NONBLOCK));
    write(q[1], "abc", 3);
    write(q[1], "defg", 4);
    memset(buf, 0, sizeof buf);
    show("packet read", read(q[0], buf, sizeof buf));
    show("short packet read", read(q[0], buf + 3, 2));
    printf("packets=%s\n", buf);
    show("then", read(q[0], buf, sizeof buf));
    printf("done\n");
    return 0;
}
