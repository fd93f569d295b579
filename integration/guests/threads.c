/* threads: pthread create/join, mutex and condvar, TLS, futex wait/wake,
 * gettid/getpid relations. */
#include "common.h"
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>

/* From <linux/futex.h>, which musl-gcc does not ship. */
#define FUTEX_WAIT_PRIVATE (0 | 128)
#define FUTEX_WAKE_PRIVATE (1 | 128)

#define NTHREADS 4
#define ITERS 20000

static __thread int tls_value = -1;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static pthread_barrier_t barrier;
static long counter;
static int ready, consumed;
static pid_t main_tid;
static int tid_ok[NTHREADS], tls_ok[NTHREADS];
static int futex_word;

static long futex(int *uaddr, int op, int val, const struct timespec *ts) {
  return syscall(SYS_futex, uaddr, op, val, ts, NULL, 0);
}

static void *worker(void *arg) {
  int id = (int)(intptr_t)arg;
  tls_value = id * 10;
  pid_t tid = (pid_t)syscall(SYS_gettid);
  tid_ok[id] = tid != main_tid && tid > 0 && getpid() == main_tid;
  for (int i = 0; i < ITERS; i++) {
    pthread_mutex_lock(&mu);
    counter++;
    pthread_mutex_unlock(&mu);
  }
  pthread_barrier_wait(&barrier); /* every thread has set its TLS value */
  tls_ok[id] = tls_value == id * 10;
  return (void *)(intptr_t)(id + 100);
}

static void *consumer(void *arg) {
  (void)arg;
  pthread_mutex_lock(&mu);
  while (!ready) pthread_cond_wait(&cv, &mu);
  consumed = ready;
  pthread_cond_signal(&cv);
  pthread_mutex_unlock(&mu);
  return NULL;
}

static void *futex_waiter(void *arg) {
  (void)arg;
  while (__atomic_load_n(&futex_word, __ATOMIC_SEQ_CST) == 0) futex(&futex_word, FUTEX_WAIT_PRIVATE, 0, NULL);
  return (void *)(intptr_t)__atomic_load_n(&futex_word, __ATOMIC_SEQ_CST);
}

static void *exiter(void *arg) {
  (void)arg;
  pthread_exit((void *)(intptr_t)77);
}

int main(void) {
  guest_init("threads");
  main_tid = (pid_t)syscall(SYS_gettid);
  YN("main thread gettid == getpid", main_tid == getpid());
  tls_value = 5;
  pthread_t th[NTHREADS];
  pthread_barrier_init(&barrier, NULL, NTHREADS);
  int created = 1, joined = 1;
  for (int i = 0; i < NTHREADS; i++) created &= pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i) == 0;
  YN("pthread_create x4 succeeded", created);
  for (int i = 0; i < NTHREADS; i++) {
    void *ret;
    joined &= pthread_join(th[i], &ret) == 0 && (intptr_t)ret == i + 100;
  }
  YN("pthread_join returned each thread's value", joined);
  OUT("mutex-protected counter = %ld (expected %d)", counter, NTHREADS * ITERS);
  int all_tid = 1, all_tls = 1;
  for (int i = 0; i < NTHREADS; i++) { all_tid &= tid_ok[i]; all_tls &= tls_ok[i]; }
  YN("each thread: gettid differs from main, getpid same", all_tid);
  YN("each thread kept its own TLS value", all_tls);
  YN("main thread TLS unchanged", tls_value == 5);

  pthread_t c;
  pthread_create(&c, NULL, consumer, NULL);
  pthread_mutex_lock(&mu);
  ready = 42;
  pthread_cond_signal(&cv);
  while (!consumed) pthread_cond_wait(&cv, &mu);
  pthread_mutex_unlock(&mu);
  pthread_join(c, NULL);
  OUT("condvar handshake consumer saw %d", consumed);

  pthread_t w;
  pthread_create(&w, NULL, futex_waiter, NULL);
  struct timespec ms = {0, 20 * 1000 * 1000};
  nanosleep(&ms, NULL); /* give the waiter time to sleep; correctness does not depend on it */
  __atomic_store_n(&futex_word, 9, __ATOMIC_SEQ_CST);
  long woke = futex(&futex_word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL);
  YN("FUTEX_WAKE returned 0 or 1", woke == 0 || woke == 1);
  void *ret;
  pthread_join(w, &ret);
  OUT("futex waiter saw value %ld", (long)(intptr_t)ret);
  int word = 1;
  RES("FUTEX_WAIT with mismatched value", futex(&word, FUTEX_WAIT_PRIVATE, 2, NULL));
  struct timespec to = {0, 10 * 1000 * 1000};
  RES("FUTEX_WAIT with 10ms timeout", futex(&word, FUTEX_WAIT_PRIVATE, 1, &to));
  OUT("FUTEX_WAKE with no waiters = %ld", futex(&word, FUTEX_WAKE_PRIVATE, 1, NULL));
  RES("futex with an invalid op", futex(&word, 99, 0, NULL));

  pthread_t e;
  pthread_create(&e, NULL, exiter, NULL);
  pthread_join(e, &ret);
  OUT("pthread_exit value = %ld", (long)(intptr_t)ret);
  YN("pthread_equal(self, self)", pthread_equal(pthread_self(), pthread_self()));
  pthread_t d;
  pthread_create(&d, NULL, exiter, NULL);
  OUT("pthread_detach = %d", pthread_detach(d));
  DONE();
}
