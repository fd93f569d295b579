/* A fork bomb against a task limit: forks until EAGAIN, then everyone
 * exits; the first process reports that the limit held. */
#include <errno.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    int made = 0, eagain = 0;
    for (int i = 0; i < 1000; i++) {
        pid_t p = fork();
        if (p == 0) { pause(); _exit(0); }
        if (p < 0) { eagain = errno == EAGAIN; break; }
        made++;
    }
    printf("forked %d before the limit, EAGAIN %d\n", made, eagain);
    fflush(stdout);
    return 0;
}
