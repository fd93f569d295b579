/* prctl: names, subreapers, parent-death signals, dumpable, no_new_privs. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t got;
static void on_usr1(int s) { got = s; }

int main(void) {
    char name[16] = {0};
    prctl(PR_SET_NAME, "renamed-task");
    prctl(PR_GET_NAME, name);
    printf("name: %s\n", name);
    printf("dumpable: %d\n", prctl(PR_GET_DUMPABLE));
    prctl(PR_SET_DUMPABLE, 0);
    printf("dumpable after clearing: %d\n", prctl(PR_GET_DUMPABLE));
    printf("no_new_privs: %d", prctl(PR_GET_NO_NEW_PRIVS));
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    printf(" -> %d\n", prctl(PR_GET_NO_NEW_PRIVS));
    printf("bad option: %d\n", prctl(0x7fff0000));
    fflush(stdout);

    /* A subreaper adopts its orphaned grandchild, which hears of its
     * parent's death through PR_SET_PDEATHSIG. */
    printf("subreaper: %d\n", prctl(PR_SET_CHILD_SUBREAPER, 1));
    fflush(stdout);
    int p[2];
    pipe(p);
    pid_t me = getpid();
    pid_t child = fork();
    if (child == 0) {
        pid_t gc = fork();
        if (gc == 0) {
            signal(SIGUSR1, on_usr1);
            prctl(PR_SET_PDEATHSIG, SIGUSR1);
            write(p[1], "r", 1);
            while (!got) pause();
            printf("grandchild: got SIGUSR1 %d, adopted by the subreaper %d\n", got == SIGUSR1, getppid() == me);
            fflush(stdout);
            _exit(0);
        }
        char c;
        read(p[0], &c, 1);
        _exit(0);
    }
    int st;
    waitpid(child, &st, 0);
    pid_t w = wait(&st);
    printf("subreaper reaped the grandchild: %d\n", w > 0 && WIFEXITED(st));
    return 0;
}
