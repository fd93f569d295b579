#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int main(void) {
    /* mmap of a tmpfs file: private copies, shared writes through. */
    int fd = open("/tmp/m", O_CREAT | O_RDWR, 0600);
    char page[8192];
    memset(page, 'a', sizeof page);
    write(fd, page, sizeof page);
    char *priv = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    char *shr = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (priv == MAP_FAILED || shr == MAP_FAILED) return 1;
    priv[0] = 'P';
    shr[4096] = 'S';
    char b[2];
    pread(fd, b, 1, 0);
    pread(fd, b + 1, 1, 4096);
    printf("file after writes: %c%c private sees shared: %c\n", b[0], b[1], priv[4096]);
    printf("private kept: %c\n", priv[0]);
    int ro = open("/tmp/m", O_RDONLY);
    void *bad = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0);
    printf("shared writable map of read-only fd: %s\n", bad == MAP_FAILED && errno == EACCES ? "EACCES" : "unexpected");

    /* prctl name, rlimits, clocks. */
    prctl(PR_SET_NAME, "worker");
    char name[16] = "";
    prctl(PR_GET_NAME, name);
    printf("name=%s\n", name);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = 64;
    printf("setrlimit=%d\n", setrlimit(RLIMIT_NOFILE, &rl));
    getrlimit(RLIMIT_NOFILE, &rl);
    printf("nofile soft=%lu\n", (unsigned long)rl.rlim_cur);
    struct timespec t1, t2, c1, c2;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
    for (volatile int i = 0; i < 20000000; i++) {
    }
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c2);
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t2);
    long mono_ns = (t2.tv_sec - t1.tv_sec) * 1000000000L + (t2.tv_nsec - t1.tv_nsec);
    long cpu_ns = (c2.tv_sec - c1.tv_sec) * 1000000000L + (c2.tv_nsec - c1.tv_nsec);
    printf("monotonic advanced past the sleep: %d\n", mono_ns >= 1000000);
    printf("cpu clock advanced: %d\n", cpu_ns > 0);
    printf("umask old=%o\n", umask(077));
    printf("time sane: %d\n", time(NULL) > 1500000000);
    return 0;
}
