/* FIFOs made with mknod/mkfifo: non-blocking opens, rendezvous without a
 * peer, EOF and hang-up. Runs identically on Linux (a differential test).
 * argv[1]: a writable directory (default /tmp). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "guest.h"

static void ev(const char *label, int fd) {
    struct pollfd p = {fd, POLLIN | POLLOUT, 0};
    poll(&p, 1, 0);
    printf("  %s:%s%s%s%s\n", label, p.revents & POLLIN ? " IN" : "", p.revents & POLLOUT ? " OUT" : "",
           p.revents & POLLERR ? " ERR" : "", p.revents & POLLHUP ? " HUP" : "");
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    char fifo[512], fifo2[512], reg[512], buf[16];
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    snprintf(fifo2, sizeof fifo2, "%s/fifo2", dir);
    snprintf(reg, sizeof reg, "%s/regular", dir);
    umask(022);

    show("mknod S_IFIFO", mknod(fifo, S_IFIFO | 0666, 0));
    struct stat st;
    stat(fifo, &st);
    printf("  fifo=%d perm=%o size=%ld\n", S_ISFIFO(st.st_mode), st.st_mode & 0777, (long)st.st_size);
    show("mknod again", mknod(fifo, S_IFIFO | 0666, 0));
    show("mkfifo", mkfifo(fifo2, 0600));
    show("mknod type 0 (regular)", mknod(reg, 0644, 0));
    stat(reg, &st);
    printf("  regular=%d perm=%o\n", S_ISREG(st.st_mode), st.st_mode & 0777);
    show("mknod S_IFDIR", mknod(fifo2, S_IFDIR | 0755, 0));
    show("mknod bad type", mknod("/tmp/never", 0030000 | 0644, 0));
    show("mknod S_IFLNK", mknod("/tmp/never", S_IFLNK | 0644, 0));
    show("mknodat bad path", syscall(SYS_mknodat, AT_FDCWD, (char *)8, S_IFIFO | 0600, 0));

    show("open for writing, non-blocking, no reader", open(fifo, O_WRONLY | O_NONBLOCK));
    int r = show("open for reading, non-blocking", open(fifo, O_RDONLY | O_NONBLOCK));
    show("read with no writer ever", read(r, buf, sizeof buf));
    ev("reader before any writer", r);
    int w = show("open for writing, non-blocking", open(fifo, O_WRONLY | O_NONBLOCK));
    ev("writer", w);
    ev("reader", r);
    show("read with a writer, no data", read(r, buf, sizeof buf));
    int w2 = show("open for writing, blocking, reader present", open(fifo, O_WRONLY));
    show("write", write(w, "fifo", 4));
    ev("reader", r);
    memset(buf, 0, sizeof buf);
    show("read", read(r, buf, sizeof buf));
    printf("  data=%s\n", buf);
    show("F_GETPIPE_SZ", fcntl(r, F_GETPIPE_SZ));
    close(w);
    close(w2);
    ev("reader after the writers left", r);
    show("read at EOF", read(r, buf, sizeof buf));
    int r2 = show("second reader", open(fifo, O_RDONLY | O_NONBLOCK));
    ev("second reader, writers gone before it", r2);
    close(r2);
    close(r);

    int rw = show("open read-write", open(fifo, O_RDWR));
    show("write to self", write(rw, "xy", 2));
    memset(buf, 0, sizeof buf);
    show("read from self", read(rw, buf, sizeof buf));
    printf("  data=%s\n", buf);
    ev("read-write end", rw);
    close(rw);

    show("unlink", unlink(fifo));
    unlink(fifo2);
    unlink(reg);
    printf("done\n");
    return 0;
}
