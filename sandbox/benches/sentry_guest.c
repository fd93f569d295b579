/* Benchmark guest: times its own phases with CLOCK_MONOTONIC and prints
 * "<phase> <ns per op>" lines. argv[1]: a writable directory. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* fork, then (with `exec`) execve this program with --exit, then wait. */
static int spawn_and_wait(const char *self, int exec) {
    pid_t p = fork();
    if (p < 0) return -1;
    if (p == 0) {
        if (exec) execl(self, self, "--exit", (char *)0);
        _exit(exec ? 127 : 0);
    }
    int st;
    if (waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st) != 0) return -1;
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--exit") == 0) return 0;
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

    n = 200;
    t = now();
    for (long i = 0; i < n; i++) if (spawn_and_wait(argv[0], 0)) return 1;
    printf("fork_wait %.0f\n", (now() - t) / n);
    t = now();
    for (long i = 0; i < n; i++) if (spawn_and_wait(argv[0], 1)) return 1;
    printf("fork_exec_wait %.0f\n", (now() - t) / n);

    volatile unsigned long x = 1;
    n = 200000000;
    t = now();
    for (long i = 0; i < n; i++) x = x * 6364136223846793005UL + 1442695040888963407UL;
    printf("cpu_loop %.3f\n", (now() - t) / n);
    return 0;
}
