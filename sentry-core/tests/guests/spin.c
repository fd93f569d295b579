#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
/* "spin": busy loop forever; "sleep": nanosleep for a long time. */
int main(int argc, char **argv) {
    printf("started\n");
    fflush(stdout);
    if (argc > 1 && strcmp(argv[1], "sleep") == 0) {
        struct timespec ts = {1000, 0};
        nanosleep(&ts, NULL);
        return 3;
    }
    for (volatile unsigned long i = 0;; i++) {
    }
}
