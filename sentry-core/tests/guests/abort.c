#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(void) {
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR1, NULL, &old);
    printf("SIGUSR1 ignored: %d\n", old.sa_handler == SIG_IGN);
    raise(SIGUSR1);
    printf("still alive\n");
    fflush(stdout);
    abort();
}
