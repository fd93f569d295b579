/* Terminal job control as a container's init with process.terminal: the
 * console is the controlling terminal of init's session, and the Linux
 * rules for foreground and background process groups hold. Prints one
 * "name: value" line per check; then reports a window-size change. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static void check(const char *name, int ok) {
    printf("%s: %s\n", name, ok ? "ok" : "FAILED");
    fflush(stdout);
}

static volatile sig_atomic_t winched;
static void on_winch(int sig) {
    (void)sig;
    winched = 1;
}

/* Runs `f` in a child (in a new background process group if `bg`);
 * returns its wait status (stops included). */
static int in_child(int (*f)(void), int bg) {
    pid_t c = fork();
    if (c == 0) {
        if (bg) setpgid(0, 0);
        _exit(f());
    }
    if (bg) setpgid(c, c);
    int st;
    waitpid(c, &st, WUNTRACED);
    if (WIFSTOPPED(st)) {
        kill(c, SIGKILL);
        waitpid(c, NULL, 0);
    }
    return st;
}

static int bg_read(void) {
    char b;
    return read(0, &b, 1) < 0 && errno == EIO ? 0 : 1;
}

static int bg_read_ignoring(void) {
    signal(SIGTTIN, SIG_IGN);
    return bg_read();
}

static int bg_setpgrp(void) {
    return tcsetpgrp(0, getpgrp()) == 0 ? 0 : 1;
}

static int bg_setpgrp_ignoring(void) {
    signal(SIGTTOU, SIG_IGN);
    if (tcsetpgrp(0, getpgrp()) != 0) return 1;
    if (tcgetpgrp(0) != getpgrp()) return 2;
    /* Give the terminal back to the parent's group. */
    return tcsetpgrp(0, getppid()) == 0 ? 0 : 3;
}

static int bg_write_tostop(void) {
    return write(1, "\n", 1) == 1 ? 0 : 1;
}

static int orphan_read(void) {
    char b;
    return read(0, &b, 1) < 0 && errno == EIO ? 0 : 1;
}

static int new_session(void) {
    if (setsid() < 0) return 1;
    if (open("/dev/tty", O_RDWR) >= 0 || errno != ENXIO) return 2;
    pid_t p;
    if (ioctl(0, TIOCGPGRP, &p) == 0 || errno != ENOTTY) return 3;
    if (tcsetpgrp(0, getpgrp()) == 0 || errno != ENOTTY) return 4;
    /* A session leader cannot steal another session's terminal. */
    if (ioctl(0, TIOCSCTTY, 0) == 0 || errno != EPERM) return 5;
    return 0;
}

int main(void) {
    pid_t me = getpid();
    check("init leads its session", getsid(0) == me && getpgrp() == me);
    check("foreground is init", tcgetpgrp(0) == me);
    pid_t sid = -1;
    check("TIOCGSID is the session", ioctl(0, TIOCGSID, &sid) == 0 && sid == me);
    check("tcgetsid", tcgetsid(0) == me);
    check("TIOCSCTTY again", ioctl(0, TIOCSCTTY, 0) == 0);
    int tty = open("/dev/tty", O_RDWR);
    check("/dev/tty opens", tty >= 0);
    check("/dev/tty is the terminal", tty >= 0 && tcgetpgrp(tty) == me);
    char name[64] = "";
    check("ttyname", ttyname_r(0, name, sizeof name) == 0 && strncmp(name, "/dev/", 5) == 0);
    check("no such group", tcsetpgrp(0, 99999) < 0 && errno == ESRCH);

    int st = in_child(bg_read, 1);
    check("background read stops with SIGTTIN", WIFSTOPPED(st) && WSTOPSIG(st) == SIGTTIN);
    st = in_child(bg_read_ignoring, 1);
    check("background read ignoring SIGTTIN is EIO", WIFEXITED(st) && WEXITSTATUS(st) == 0);
    st = in_child(bg_setpgrp, 1);
    check("background tcsetpgrp stops with SIGTTOU", WIFSTOPPED(st) && WSTOPSIG(st) == SIGTTOU);
    st = in_child(bg_write_tostop, 1);
    check("background write without TOSTOP", WIFEXITED(st) && WEXITSTATUS(st) == 0);
    struct termios t;
    tcgetattr(0, &t);
    t.c_lflag |= TOSTOP;
    tcsetattr(0, TCSANOW, &t);
    st = in_child(bg_write_tostop, 1);
    check("background write with TOSTOP stops", WIFSTOPPED(st) && WSTOPSIG(st) == SIGTTOU);
    t.c_lflag &= ~TOSTOP;
    tcsetattr(0, TCSANOW, &t);
    st = in_child(bg_setpgrp_ignoring, 1);
    check("background tcsetpgrp ignoring SIGTTOU", WIFEXITED(st) && WEXITSTATUS(st) == 0);
    check("foreground is init again", tcgetpgrp(0) == me);
    /* init's own process group is orphaned (no member has a parent in
     * another group of the session): with another group in the
     * foreground, its members read EIO rather than stop. */
    pid_t fg = fork();
    if (fg == 0) {
        setpgid(0, 0);
        pause();
        _exit(0);
    }
    setpgid(fg, fg);
    check("another group in the foreground", tcsetpgrp(0, fg) == 0 && tcgetpgrp(0) == fg);
    st = in_child(orphan_read, 0);
    check("orphaned group read is EIO", WIFEXITED(st) && WEXITSTATUS(st) == 0);
    signal(SIGTTOU, SIG_IGN);
    check("init takes the terminal back", tcsetpgrp(0, me) == 0 && tcgetpgrp(0) == me);
    signal(SIGTTOU, SIG_DFL);
    kill(fg, SIGKILL);
    waitpid(fg, NULL, 0);
    st = in_child(new_session, 0);
    check("a new session has no terminal", WIFEXITED(st) && WEXITSTATUS(st) == 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) printf("  (status %#x)\n", st);

    signal(SIGWINCH, on_winch);
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGWINCH);
    sigprocmask(SIG_BLOCK, &block, &old);
    printf("waiting for SIGWINCH\n");
    fflush(stdout);
    while (!winched) sigsuspend(&old);
    struct winsize ws;
    ioctl(0, TIOCGWINSZ, &ws);
    printf("SIGWINCH: %dx%d\n", ws.ws_row, ws.ws_col);
    return 0;
}
