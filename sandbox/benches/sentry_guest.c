/* Benchmark guest: times its own phases with CLOCK_MONOTONIC and prints
 * "<phase> <ns per op>" lines. argv[1]: a writable directory. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    char path[4096], block[4096];
    double t;
    long n;

    n = 100000;
    t = now();
    for (long i = 0; i < n; i++) syscall(SYS_getpid);
    printf("getpid %.1f\n", (now() - t) / n);

    int z = open("/dev/zero", O_RDONLY);
    n = 20000;
    t = now();
    for (long i = 0; i < n; i++) if (read(z, block, sizeof block) != sizeof block) return 1;
    printf("read_dev_zero_4k %.1f\n", (now() - t) / n);
    close(z);

    snprintf(path, sizeof path, "%s/bench.dat", dir);
    int f = open(path, O_CREAT | O_TRUNC | O_RDWR, 0644);
    if (f < 0) { perror("open"); return 1; }
    memset(block, 'x', sizeof block);
    n = 4096;
    t = now();
    for (long i = 0; i < n; i++) if (write(f, block, sizeof block) != sizeof block) return 1;
    printf("file_write_4k %.1f\n", (now() - t) / n);
    t = now();
    for (long i = 0; i < n; i++) if (pread(f, block, sizeof block, i * 4096) != sizeof block) return 1;
    printf("file_read_4k %.1f\n", (now() - t) / n);
    close(f);
    unlink(path);

    volatile unsigned long x = 1;
    n = 200000000;
    t = now();
    for (long i = 0; i < n; i++) x = x * 6364136223846793005UL + 1442695040888963407UL;
    printf("cpu_loop %.3f\n", (now() - t) / n);
    return 0;
}
