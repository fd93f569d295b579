#include <stdio.h>
#include <sys/utsname.h>
int main(void) {
    struct utsname u;
    if (uname(&u) != 0) return 1;
    printf("%s %s %s %s\n", u.sysname, u.nodename, u.release, u.machine);
    printf("%s\n", u.version);
    return 0;
}
