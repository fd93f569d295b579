/* CPU-time interval timers: ITIMER_VIRTUAL and ITIMER_PROF fire while the
 * process computes, not while it sleeps. */
#include <signal.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <stdlib.h>

static volatile sig_atomic_t vt, prof, posix;
static void on_usr1(int s) { (void)s; posix++; }
static void on_vt(int s) { (void)s; vt++; }
static void on_prof(int s) { (void)s; prof++; }

int main(void) {
    signal(SIGVTALRM, on_vt);
    signal(SIGPROF, on_prof);
    struct itimerval it = {{0, 0}, {0, 50000}};
    setitimer(ITIMER_VIRTUAL, &it, NULL);
    struct itimerval got;
    getitimer(ITIMER_VIRTUAL, &got);
    printf("armed: %d\n", got.it_value.tv_sec > 0 || got.it_value.tv_usec > 0);
    struct timespec ts = {0, 100000000};
    nanosleep(&ts, NULL);
    printf("not fired while sleeping: %d\n", vt == 0);
    volatile unsigned long x = 1;
    while (!vt) x = x * 6364136223846793005UL + 1;
    printf("fired after computing: %d\n", vt == 1);
    struct itimerval p = {{0, 20000}, {0, 20000}};
    setitimer(ITIMER_PROF, &p, NULL);
    while (prof < 3) x = x * 6364136223846793005UL + 1;
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_PROF, &off, NULL);
    printf("interval profiling timer fired repeatedly: %d\n", prof >= 3);
    getitimer(ITIMER_PROF, &got);
    printf("disarmed: %d\n", got.it_value.tv_sec == 0 && got.it_value.tv_usec == 0);
    /* A POSIX timer on the process CPU clock. */
    signal(SIGUSR1, on_usr1);
    timer_t tid;
    struct sigevent sev = {0};
    sev.sigev_notify = SIGEV_SIGNAL;
    sev.sigev_signo = SIGUSR1;
    printf("cpu timer_create: %d\n", timer_create(CLOCK_PROCESS_CPUTIME_ID, &sev, &tid));
    struct itimerspec spec = {{0, 0}, {0, 30000000}};
    timer_settime(tid, 0, &spec, NULL);
    while (!posix) x = x * 6364136223846793005UL + 1;
    printf("cpu timer fired: %d\n", posix == 1);
    timer_delete(tid);
    return 0;
}
