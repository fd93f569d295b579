/* inotify: watches on a directory and on a file, and the events file
 * operations report to them (with names for a directory's entries and
 * children), rename cookies, one-shot watches, IN_IGNORED, readiness,
 * FIONREAD and the errors of the inotify calls. Runs identically on Linux
 * (a differential test). argv[1]: a writable directory (default /tmp). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guest.h"

static const char *names[] = {"ACCESS", "MODIFY", "ATTRIB", "CLOSE_WRITE", "CLOSE_NOWRITE", "OPEN",
                              "MOVED_FROM", "MOVED_TO", "CREATE", "DELETE", "DELETE_SELF", "MOVE_SELF"};

static void mask_str(unsigned m, char *out) {
    out[0] = 0;
    for (int i = 0; i < 12; i++)
        if (m & (1u << i)) {
            strcat(out, " ");
            strcat(out, names[i]);
        }
    if (m & IN_IGNORED) strcat(out, " IGNORED");
    if (m & IN_ISDIR) strcat(out, " ISDIR");
    if (m & IN_Q_OVERFLOW) strcat(out, " OVERFLOW");
}

/* Prints every queued event; watch descriptors as the names given. Rename
 * cookies are printed as "cookie" when non-zero and equal to the last
 * MOVED_FROM's. */
static int wd_dir, wd_file;
static void drain(int fd, const char *what) {
    char buf[4096] __attribute__((aligned(8)));
    static unsigned last_cookie;
    printf("%s:\n", what);
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno != EAGAIN) printf("  read: %s\n", en(errno));
            return;
        }
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *e = (struct inotify_event *)p;
            char m[256];
            mask_str(e->mask, m);
            const char *w = e->wd == wd_dir ? "dir" : e->wd == wd_file ? "file" : "other";
            const char *c = "";
            if (e->mask & IN_MOVED_FROM) {
                last_cookie = e->cookie;
                c = e->cookie ? " cookie" : " no-cookie";
            } else if (e->mask & IN_MOVED_TO) {
                c = e->cookie && e->cookie == last_cookie ? " cookie" : " bad-cookie";
            }
            printf("  %s%s%s%s len%%16=%d\n", w, m, e->len ? " " : "", e->len ? e->name : "", (int)(e->len % 16));
            if (c[0]) printf("   %s\n", c);
            p += sizeof *e + e->len;
        }
    }
}

int main(int argc, char **argv) {
    const char *base = argc > 1 ? argv[1] : "/tmp";
    char dir[512], file[600], other[600], sub[600], link[600];
    snprintf(dir, sizeof dir, "%s/inotify-%d", base, getpid());
    snprintf(file, sizeof file, "%s/watched", dir);
    snprintf(other, sizeof other, "%s/renamed", dir);
    snprintf(sub, sizeof sub, "%s/sub", dir);
    snprintf(link, sizeof link, "%s/link", dir);
    mkdir(dir, 0755);

    int fd = show("inotify_init1", inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
    printf("cloexec=%d\n", (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
    wd_dir = inotify_add_watch(fd, dir, IN_ALL_EVENTS);
    printf("watch dir ok=%d\n", wd_dir > 0);
    struct pollfd p = {fd, POLLIN, 0};
    printf("poll empty = %d\n", poll(&p, 1, 0));
    char buf[64];
    show("read empty", read(fd, buf, sizeof buf));

    /* A file created, written, closed: the directory sees its child. */
    int f = open(file, O_CREAT | O_WRONLY, 0644);
    write(f, "hello", 5);
    close(f);
    int ready = poll(&p, 1, 0);
    printf("poll after events = %d revents=%s\n", ready, p.revents == POLLIN ? "POLLIN" : "other");
    int queued = 0;
    ioctl(fd, FIONREAD, &queued);
    printf("FIONREAD > 0: %d\n", queued > 0);
    show("read into 8 bytes", read(fd, buf, 8));
    drain(fd, "create, write, close");

    /* A watch on the file itself too: both get its events. */
    wd_file = inotify_add_watch(fd, file, IN_ALL_EVENTS);
    printf("watch file ok=%d distinct=%d\n", wd_file > 0, wd_file != wd_dir);
    printf("same file again = same wd: %d\n", inotify_add_watch(fd, file, IN_MODIFY | IN_ATTRIB) == wd_file);
    f = open(file, O_RDONLY);
    read(f, buf, sizeof buf);
    close(f);
    chmod(file, 0600);
    f = open(file, O_WRONLY | O_APPEND);
    write(f, "!", 1);
    write(f, "!", 1);
    close(f);
    truncate(file, 2);
    drain(fd, "file watch narrowed to MODIFY|ATTRIB");

    /* IN_MASK_ADD widens; IN_MASK_CREATE refuses an existing watch. */
    printf("mask add = same wd: %d\n", inotify_add_watch(fd, file, IN_CLOSE | IN_MASK_ADD) == wd_file);
    show("mask create on existing", inotify_add_watch(fd, file, IN_OPEN | IN_MASK_CREATE));
    f = open(file, O_RDONLY);
    close(f);
    drain(fd, "open/close with CLOSE added");

    /* Directory entries: mkdir, symlink, link, rename (one cookie). */
    mkdir(sub, 0755);
    symlink("watched", link);
    rename(file, other);
    drain(fd, "mkdir, symlink, rename");

    /* Deleting: the file's watch reports the deletion and goes. */
    unlink(other);
    drain(fd, "unlink");
    show("rm_watch of the deleted file's wd", inotify_rm_watch(fd, wd_file));
    rmdir(sub);
    unlink(link);
    drain(fd, "rmdir, unlink link");

    /* One-shot. */
    int one = inotify_add_watch(fd, dir, IN_CREATE | IN_ONESHOT);
    printf("oneshot replaces the dir watch: %d\n", one == wd_dir);
    close(open(file, O_CREAT | O_WRONLY, 0644));
    unlink(file);
    drain(fd, "one-shot");

    /* Errors. */
    int d2 = inotify_add_watch(fd, dir, IN_ALL_EVENTS);
    show("rm_watch", inotify_rm_watch(fd, d2));
    show("rm_watch again", inotify_rm_watch(fd, d2));
    wd_dir = d2;
    drain(fd, "after rm_watch");
    show("add_watch no events", inotify_add_watch(fd, dir, 0));
    show("add_watch missing", inotify_add_watch(fd, "/no/such/path", IN_ALL_EVENTS));
    show("add_watch ONLYDIR on a file", inotify_add_watch(fd, argv[0], IN_ALL_EVENTS | IN_ONLYDIR));
    show("add_watch bad fd", inotify_add_watch(99, dir, IN_ALL_EVENTS));
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    show("add_watch not inotify", inotify_add_watch(dfd, dir, IN_ALL_EVENTS));
    close(dfd);
    show("add_watch bad path", inotify_add_watch(fd, (char *)8, IN_ALL_EVENTS));
    show("add_watch MASK_ADD|MASK_CREATE", inotify_add_watch(fd, dir, IN_ALL_EVENTS | IN_MASK_ADD | IN_MASK_CREATE));
    show("rm_watch bad fd", inotify_rm_watch(99, 1));
    show("init1 bad flags", inotify_init1(1));
    show("write", write(fd, "x", 1));
    show("lseek", lseek(fd, 0, SEEK_SET));
    close(fd);

    /* A blocking read waits for an event made by another process. */
    int b = inotify_init();
    wd_dir = inotify_add_watch(b, dir, IN_CREATE);
    wd_file = -2;
    pid_t child = fork();
    if (child == 0) {
        usleep(50 * 1000);
        close(open(file, O_CREAT | O_WRONLY, 0644));
        _exit(0);
    }
    ssize_t got = read(b, buf, sizeof buf);
    struct inotify_event *e = (struct inotify_event *)buf;
    printf("blocking read woke: %d %s\n", got > 0 && (e->mask & IN_CREATE) != 0, got > 0 ? e->name : "");
    waitpid(child, NULL, 0);
    close(b);
    unlink(file);
    rmdir(dir);
    printf("done\n");
    return 0;
}
