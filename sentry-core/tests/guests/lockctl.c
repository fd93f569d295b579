/* Advisory locks driven from outside, for tests between processes: reads
 * commands from stdin, one per line, and prints one line per finished
 * command (a blocked command prints when it finishes).
 *
 * Usage: lockctl FILE
 * Commands (TYPE: R, W or U; LEN 0: to the end of the file):
 *   setlk TYPE START LEN | setlkw TYPE START LEN | getlk TYPE START LEN
 *   ofdsetlk TYPE START LEN | ofdsetlkw TYPE START LEN
 *   flock ex|sh|un|exnb|shnb
 *   close     (closes a second descriptor of FILE: POSIX locks go)
 *   exit      (exits without unlocking anything) */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *en(long r) {
    static char buf[32];
    if (r >= 0) return "ok";
    switch (errno) {
    case EAGAIN: return "EAGAIN";
    case EDEADLK: return "EDEADLK";
    case EINVAL: return "EINVAL";
    case EBADF: return "EBADF";
    case EINTR: return "EINTR";
    }
    snprintf(buf, sizeof buf, "errno%d", errno);
    return buf;
}

static short type_of(const char *t) {
    return t[0] == 'R' ? F_RDLCK : t[0] == 'W' ? F_WRLCK : F_UNLCK;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc != 2) return 2;
    int fd = open(argv[1], O_RDWR | O_CREAT, 0644);
    int other = open(argv[1], O_RDONLY);
    if (fd < 0 || other < 0) {
        printf("open: %s\n", strerror(errno));
        return 1;
    }
    printf("ready\n");
    char line[256];
    while (fgets(line, sizeof line, stdin)) {
        char cmd[32] = "", arg[32] = "";
        long start = 0, len = 0;
        sscanf(line, "%31s %31s %ld %ld", cmd, arg, &start, &len);
        struct flock fl = {.l_type = type_of(arg), .l_whence = SEEK_SET, .l_start = start, .l_len = len};
        errno = 0;
        if (strcmp(cmd, "exit") == 0) {
            syscall(SYS_exit_group, 0);
        } else if (strcmp(cmd, "close") == 0) {
            printf("close: %s\n", en(close(other)));
        } else if (strcmp(cmd, "flock") == 0) {
            int op = strncmp(arg, "ex", 2) == 0 ? LOCK_EX : strncmp(arg, "sh", 2) == 0 ? LOCK_SH : LOCK_UN;
            if (strstr(arg, "nb")) op |= LOCK_NB;
            printf("flock %s: %s\n", arg, en(flock(fd, op)));
        } else if (strcmp(cmd, "getlk") == 0) {
            long r = syscall(SYS_fcntl, fd, F_GETLK, &fl);
            if (r < 0) {
                printf("getlk: %s\n", en(r));
            } else if (fl.l_type == F_UNLCK) {
                printf("getlk: UN\n");
            } else {
                const char *pid = fl.l_pid == getpid() ? "me" : fl.l_pid == -1 ? "-1" : fl.l_pid > 0 ? "other" : "?";
                printf("getlk: %s start=%ld len=%ld pid=%s\n", fl.l_type == F_RDLCK ? "RD" : "WR", (long)fl.l_start,
                       (long)fl.l_len, pid);
            }
        } else {
            int c = strcmp(cmd, "setlk") == 0      ? F_SETLK
                    : strcmp(cmd, "setlkw") == 0   ? F_SETLKW
                    : strcmp(cmd, "ofdsetlk") == 0 ? F_OFD_SETLK
                    : strcmp(cmd, "ofdsetlkw") == 0 ? F_OFD_SETLKW
                                                    : -1;
            if (c < 0) {
                printf("unknown command %s\n", cmd);
                continue;
            }
            printf("%s %s %ld %ld: %s\n", cmd, arg, start, len, en(syscall(SYS_fcntl, fd, c, &fl)));
        }
    }
    return 0;
}
