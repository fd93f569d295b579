/* procfs relations that hold on Linux: prints only yes/no answers, so the
 * same program can run natively and in the sandbox. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int slurp(const char *path, char *buf, int n) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    int got = 0, r;
    while (got < n - 1 && (r = read(fd, buf + got, n - 1 - got)) > 0) got += r;
    buf[got] = 0;
    close(fd);
    return got;
}

static void *idle(void *arg) { pause(); return arg; }

int main(int argc, char **argv) {
    char buf[65536], path[256];
    (void)argc;
    slurp("/proc/self/stat", buf, sizeof buf);
    int pid, ppid;
    char comm[64], state;
    sscanf(buf, "%d (%63[^)]) %c %d", &pid, comm, &state, &ppid);
    printf("stat pid/ppid match: %s\n", pid == getpid() && ppid == getppid() ? "yes" : "no");
    printf("stat comm is procfs-Static or procfs: %s\n", strncmp(comm, "procfs", 6) == 0 ? "yes" : "no");
    slurp("/proc/self/status", buf, sizeof buf);
    char want[64];
    snprintf(want, sizeof want, "\nPid:\t%d\n", getpid());
    printf("status Pid line: %s\n", strstr(buf, want) ? "yes" : "no");
    printf("status Uid line: %s\n", strstr(buf, "\nUid:\t0\t0\t0\t0\n") ? "yes" : "no");
    int n = slurp("/proc/self/cmdline", buf, sizeof buf);
    printf("cmdline is argv: %s\n", n > 0 && strcmp(buf, argv[0]) == 0 ? "yes" : "no");
    char exe[4096] = {0};
    readlink("/proc/self/exe", exe, sizeof exe - 1);
    char *real = realpath(argv[0], NULL);
    printf("exe link is the program: %s\n", real && strcmp(exe, real) == 0 ? "yes" : "no");
    int fd = open("/proc/self/status", O_RDONLY);
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    char target[256] = {0};
    readlink(path, target, sizeof target - 1);
    printf("fd link names the file: %s\n", strstr(target, "/status") ? "yes" : "no");
    close(fd);
    slurp("/proc/self/maps", buf, sizeof buf);
    printf("maps has [stack]: %s, has the program: %s\n", strstr(buf, "[stack]") ? "yes" : "no",
           real && strstr(buf, real) ? "yes" : "no");
    slurp("/proc/cpuinfo", buf, sizeof buf);
    int cpus = 0;
    for (char *p = buf; (p = strstr(p, "processor\t")); p++) cpus++;
    printf("cpuinfo processors == online cpus: %s\n", cpus == sysconf(_SC_NPROCESSORS_ONLN) ? "yes" : "no");
    pthread_t th;
    pthread_create(&th, NULL, idle, NULL);
    DIR *d = opendir("/proc/self/task");
    int tasks = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) if (e->d_name[0] != '.') tasks++;
    if (d) closedir(d);
    printf("task dir lists both threads: %s\n", tasks == 2 ? "yes" : "no");
    pid_t c = fork();
    if (c == 0) { pause(); _exit(0); }
    snprintf(path, sizeof path, "/proc/%d/stat", c);
    printf("child visible: %s\n", access(path, R_OK) == 0 ? "yes" : "no");
    kill(c, SIGKILL);
    waitpid(c, NULL, 0);
    printf("reaped child gone: %s\n", access(path, R_OK) != 0 ? "yes" : "no");
    fd = open("/proc/self/comm", O_WRONLY);
    write(fd, "renamed", 7);
    close(fd);
    slurp("/proc/self/comm", buf, sizeof buf);
    printf("comm written: %s\n", strcmp(buf, "renamed\n") == 0 ? "yes" : "no");
    printf("no such pid: %s\n", access("/proc/999999/stat", R_OK) != 0 ? "yes" : "no");
    return 0;
}
