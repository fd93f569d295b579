/* CPU time accounting: the child's work shows in wait4's rusage, in
 * RUSAGE_CHILDREN and in times(); the parent's own user time grows. */
#include <stdio.h>
#include <sys/resource.h>
#include <sys/times.h>
#include <sys/wait.h>
#include <unistd.h>

static void spin(long n) {
    volatile unsigned long x = 1;
    for (long i = 0; i < n; i++) x = x * 6364136223846793005UL + 1;
}

int main(void) {
    pid_t p = fork();
    if (p == 0) {
        spin(200000000);
        _exit(0);
    }
    int st;
    struct rusage ru;
    pid_t w = wait4(p, &st, 0, &ru);
    printf("wait4 reaped the child: %d\n", w == p && WIFEXITED(st));
    printf("child user time > 0: %d\n", ru.ru_utime.tv_sec > 0 || ru.ru_utime.tv_usec > 0);
    struct rusage rc;
    getrusage(RUSAGE_CHILDREN, &rc);
    printf("RUSAGE_CHILDREN matches: %d\n", rc.ru_utime.tv_sec == ru.ru_utime.tv_sec && rc.ru_utime.tv_usec == ru.ru_utime.tv_usec);
    spin(100000000);
    struct rusage rs;
    getrusage(RUSAGE_SELF, &rs);
    printf("own user time > 0: %d\n", rs.ru_utime.tv_sec > 0 || rs.ru_utime.tv_usec > 0);
    struct tms t;
    clock_t now = times(&t);
    printf("times: children's ticks > 0: %d, own ticks > 0: %d, clock > 0: %d\n", t.tms_cutime > 0, t.tms_utime > 0, now > 0);
    printf("getrusage(42) fails: %d\n", getrusage(42, &rs) == -1);
    return 0;
}
