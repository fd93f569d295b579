/* Scheduling calls: affinity round trip, priorities, policies. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <unistd.h>

int main(void) {
    cpu_set_t s;
    CPU_ZERO(&s);
    printf("getaffinity: %d\n", sched_getaffinity(0, sizeof s, &s));
    int n = CPU_COUNT(&s);
    printf("cpus match sysconf: %d\n", n == sysconf(_SC_NPROCESSORS_ONLN));
    CPU_ZERO(&s);
    CPU_SET(0, &s);
    printf("setaffinity cpu0: %d\n", sched_setaffinity(0, sizeof s, &s));
    CPU_ZERO(&s);
    sched_getaffinity(0, sizeof s, &s);
    printf("now: count %d cpu0 %d\n", CPU_COUNT(&s), CPU_ISSET(0, &s));
    CPU_ZERO(&s);
    CPU_SET(1000, &s);
    int r = sched_setaffinity(0, sizeof s, &s);
    printf("setaffinity to no sandbox cpu: %d EINVAL %d\n", r, errno == EINVAL);
    unsigned cpu = 99;
    printf("getcpu: %d in range %d\n", getcpu(&cpu, NULL), cpu < 1024);
    printf("getpriority: %d\n", getpriority(PRIO_PROCESS, 0));
    r = setpriority(PRIO_PROCESS, 0, 5);
    printf("setpriority 5: %d -> %d\n", r, getpriority(PRIO_PROCESS, 0));
    printf("scheduler: %d\n", sched_getscheduler(0));
    struct sched_param p = {.sched_priority = 10};
    r = sched_setscheduler(0, SCHED_FIFO, &p);
    printf("SCHED_FIFO without CAP_SYS_NICE: %d EPERM %d\n", r, errno == EPERM);
    printf("priority range FIFO %d..%d\n", sched_get_priority_min(SCHED_FIFO), sched_get_priority_max(SCHED_FIFO));
    r = personality(ADDR_NO_RANDOMIZE);
    printf("personality: %d, ADDR_NO_RANDOMIZE kept %d\n", r, personality(0xffffffff) == ADDR_NO_RANDOMIZE);
    r = sched_getscheduler(9999);
    printf("sched of pid 9999: %d ESRCH %d\n", r, errno == ESRCH);
    return 0;
}
