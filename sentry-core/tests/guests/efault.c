#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void) {
    long r = syscall(SYS_write, 1, (void *)0x1000, 10);
    printf("write(garbage) = %ld errno=%s\n", r, r == -1 && errno == EFAULT ? "EFAULT" : strerror(errno));
    r = syscall(SYS_write, 1, (void *)0xffffffffffff0000ul, 10);
    printf("write(kernel address) = %ld errno=%s\n", r, r == -1 && errno == EFAULT ? "EFAULT" : strerror(errno));
    char *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int z = open("/dev/zero", O_RDONLY);
    r = read(z, ro, 16);
    printf("read(read-only page) = %ld errno=%s\n", r, r == -1 && errno == EFAULT ? "EFAULT" : strerror(errno));
    r = syscall(SYS_open, (char *)0x10, 0);
    printf("open(bad path) = %ld errno=%s\n", r, r == -1 && errno == EFAULT ? "EFAULT" : strerror(errno));
    r = syscall(SYS_fstat, 1, (struct stat *)0x2000);
    printf("fstat(bad buf) = %ld errno=%s\n", r, r == -1 && errno == EFAULT ? "EFAULT" : strerror(errno));
    r = syscall(SYS_uname, (void *)-1L);
    printf("uname(-1) = %ld errno=%s\n", r, r == -1 && errno == EFAULT ? "EFAULT" : strerror(errno));
    printf("continued\n");
    return 0;
}
