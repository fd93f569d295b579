#include <stdio.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>
int main(void) {
    struct winsize ws = {0};
    struct termios tio;
    int r = ioctl(1, TIOCGWINSZ, &ws);
    int g = tcgetattr(1, &tio);
    printf("isatty0=%d isatty1=%d winsz=%d rows=%d cols=%d tcgetattr=%d\n", isatty(0), isatty(1), r, ws.ws_row,
           ws.ws_col, g);
    return 0;
}
