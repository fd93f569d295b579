/* Pseudo-terminals: a child session on the slave reads a canonical line
 * (with echo and ONLCR), and ^C typed at the master kills its foreground
 * process with SIGINT. Output is identical natively. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static void show(const char *what, const char *s, int n) {
    printf("%s: \"", what);
    for (int i = 0; i < n; i++) {
        if (s[i] == '\r') printf("\\r");
        else if (s[i] == '\n') printf("\\n");
        else if ((unsigned char)s[i] < 32) printf("^%c", s[i] + 64);
        else putchar(s[i]);
    }
    printf("\"\n");
}

/* Reads from the master until `lines` newlines have arrived. */
static int drain(int m, char *buf, int size, int lines) {
    int got = 0, seen = 0;
    while (seen < lines && got < size) {
        int r = read(m, buf + got, size - got);
        if (r <= 0) break;
        for (int i = got; i < got + r; i++) seen += buf[i] == '\n';
        got += r;
    }
    return got;
}

int main(void) {
    setsid(); /* natively: leave any controlling terminal of the caller */
    int notty = open("/dev/tty", O_RDWR);
    printf("/dev/tty without a controlling terminal fails: %d\n", notty < 0);
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    printf("openpt: %d, grant %d, unlock %d\n", m >= 0, grantpt(m), unlockpt(m));
    char *name = ptsname(m);
    printf("name under /dev/pts: %d\n", name && strncmp(name, "/dev/pts/", 9) == 0);
    struct winsize ws = {24, 80, 0, 0};
    printf("set winsize: %d\n", ioctl(m, TIOCSWINSZ, &ws));

    pid_t c = fork();
    if (c == 0) {
        setsid();
        int s = open(name, O_RDWR);
        ioctl(s, TIOCSCTTY, 0);
        struct winsize got;
        ioctl(s, TIOCGWINSZ, &got);
        char line[128];
        int n = read(s, line, sizeof line);
        char out[256];
        int tty = open("/dev/tty", O_WRONLY);
        int k = snprintf(out, sizeof out, "got %d bytes, rows %d, fg is me %d\n", n, got.ws_row, tcgetpgrp(s) == getpgrp());
        write(tty >= 0 ? tty : s, out, k);
        n = read(s, line, sizeof line); /* blocks until ^C kills us */
        _exit(9);
    }
    char buf[512];
    write(m, "hello\r", 6);
    int n = drain(m, buf, sizeof buf, 2);
    show("master read", buf, n > 7 ? 7 : n);
    show("child said", buf + 7, n - 7);
    fflush(stdout);
    write(m, "\x03", 1);
    int st;
    waitpid(c, &st, 0);
    printf("child killed by SIGINT: %d\n", WIFSIGNALED(st) && WTERMSIG(st) == SIGINT);
    n = read(m, buf, sizeof buf);
    show("echo of ^C", buf, n > 0 ? n : 0);
    return 0;
}
