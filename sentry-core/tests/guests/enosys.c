#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(void) {
    long r = syscall(SYS_io_setup, 1, 0);
    printf("io_setup = %ld errno=%s\n", r, errno == ENOSYS ? "ENOSYS" : strerror(errno));
    errno = 0;
    r = syscall(100000);
    printf("syscall(100000) = %ld errno=%s\n", r, errno == ENOSYS ? "ENOSYS" : strerror(errno));
    return 0;
}
