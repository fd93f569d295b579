/* System V IPC: shared memory, semaphores and message queues, between a
 * parent and forked children. Uses IPC_PRIVATE (and one key derived from
 * the pid), removes every object it creates, and prints nothing that
 * depends on the host (no ids, addresses or pids). */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "guest.h"

/* Prints "what: OK" or "what: ERRNO". */
static void res(const char *what, long r) {
    if (r < 0)
        printf("%s: %s\n", what, en(errno));
    else
        printf("%s: OK\n", what);
}

static int wait_child(pid_t p) {
    int st;
    if (waitpid(p, &st, 0) != p)
        return -1;
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    if (WIFSIGNALED(st))
        return 1000 + WTERMSIG(st);
    return -2;
}

static void ms(int n) { usleep(n * 1000); }

static int maps_has(const char *needle) {
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int found = 0;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strstr(line, needle))
            found++;
    fclose(f);
    return found;
}

static void on_usr1(int sig) { (void)sig; }

/* ------------------------------------------------------------------ */

static char *self_path;

static void test_shm(void) {
    struct shmid_ds ds;
    int id = shmget(IPC_PRIVATE, 10000, IPC_CREAT | 0600);
    res("shmget private", id);
    shmctl(id, IPC_STAT, &ds);
    printf("stat: segsz=%zu nattch=%lu mode=%o key=%d cpid_me=%d lpid=%d atime=%d\n", ds.shm_segsz,
           (unsigned long)ds.shm_nattch, ds.shm_perm.mode & 0777, ds.shm_perm.__key, ds.shm_cpid == getpid(),
           ds.shm_lpid, ds.shm_atime != 0);
    char *p = shmat(id, NULL, 0);
    printf("shmat: ok=%d aligned=%d\n", p != (void *)-1, ((unsigned long)p & 4095) == 0);
    shmctl(id, IPC_STAT, &ds);
    printf("after attach: nattch=%lu lpid_me=%d atime=%d\n", (unsigned long)ds.shm_nattch,
           ds.shm_lpid == getpid(), ds.shm_atime != 0);
    printf("zero filled: %d\n", p[0] == 0 && p[9999] == 0 && p[12287] == 0);
    printf("maps /SYSV00000000 (deleted): %d\n", maps_has("/SYSV00000000 (deleted)"));

    pid_t c = fork();
    if (c == 0) {
        struct shmid_ds d;
        shmctl(id, IPC_STAT, &d);
        strcpy(p, "hello from child");
        p[9999] = 'z';
        _exit(d.shm_nattch == 2 ? 0 : 10 + (int)d.shm_nattch);
    }
    printf("child (nattch 2 in child): %d\n", wait_child(c));
    printf("parent reads: %s %c\n", p, p[9999]);
    shmctl(id, IPC_STAT, &ds);
    printf("after child exit: nattch=%lu\n", (unsigned long)ds.shm_nattch);

    /* A second attach at a chosen address sees the same memory. */
    char *hole = mmap(NULL, 4 * 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(hole, 4 * 4096);
    char *q = shmat(id, hole, 0);
    printf("shmat at address: %d same memory=%d\n", q == hole, q != (void *)-1 && strcmp(q, "hello from child") == 0);
    errno = 0;
    res("shmat over a mapping", (long)shmat(id, hole, 0));
    res("shmat unaligned", (long)shmat(id, hole + 5, 0));
    res("shmdt inside", shmdt(q + 4096));
    res("shmdt unaligned", shmdt(q + 1));
    res("shmdt", shmdt(q));
    res("shmdt again", shmdt(q));
    q = shmat(id, hole + 5, SHM_RND);
    printf("SHM_RND: %d\n", q == hole);
    shmdt(q);
    shmctl(id, IPC_STAT, &ds);
    printf("after detaches: nattch=%lu dtime=%d\n", (unsigned long)ds.shm_nattch, ds.shm_dtime != 0);

    /* Exec detaches: the new program sees only the parent's attach. */
    c = fork();
    if (c == 0) {
        char ids[16];
        shmat(id, NULL, 0);
        snprintf(ids, sizeof ids, "%d", id);
        char *argv[] = {self_path, "nattch", ids, NULL};
        execv(self_path, argv);
        _exit(100);
    }
    printf("nattch seen after exec: %d\n", wait_child(c));

    /* Read-only attaches. */
    char *r = shmat(id, NULL, SHM_RDONLY);
    printf("rdonly reads: %c\n", r[9999]);
    res("mprotect rdonly attach writable", mprotect(r, 4096, PROT_READ | PROT_WRITE));
    c = fork();
    if (c == 0) {
        r[0] = 'x';
        _exit(0);
    }
    printf("write to rdonly attach: %s\n", wait_child(c) == 1000 + SIGSEGV ? "SIGSEGV" : "no signal");
    printf("unchanged: %c\n", p[0]);
    shmdt(r);

    /* IPC_SET. */
    shmctl(id, IPC_STAT, &ds);
    ds.shm_perm.mode = 0640;
    res("IPC_SET", shmctl(id, IPC_SET, &ds));
    shmctl(id, IPC_STAT, &ds);
    printf("mode now %o\n", ds.shm_perm.mode & 0777);
    res("SHM_LOCK", shmctl(id, SHM_LOCK, NULL));
    res("SHM_UNLOCK", shmctl(id, SHM_UNLOCK, NULL));

    /* Removal while attached. */
    res("IPC_RMID attached", shmctl(id, IPC_RMID, NULL));
    res("stat removed attached", shmctl(id, IPC_STAT, &ds));
    printf("dest=%d nattch=%lu key=%d\n", (ds.shm_perm.mode & SHM_DEST) != 0, (unsigned long)ds.shm_nattch,
           ds.shm_perm.__key);
    printf("still usable: %c\n", p[9999]);
    res("shmdt last", shmdt(p));
    res("stat after last detach", shmctl(id, IPC_STAT, &ds));

    /* Keys. */
    key_t key = 0x51000000 | (getpid() & 0xffffff);
    int k = shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0600);
    res("shmget key create", k);
    res("shmget key excl", shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0600));
    printf("shmget key again same: %d\n", shmget(key, 4096, IPC_CREAT | 0600) == k);
    printf("shmget key size 0 same: %d\n", shmget(key, 0, 0) == k);
    res("shmget key larger", shmget(key, 8192, 0));
    res("IPC_RMID keyed", shmctl(k, IPC_RMID, NULL));
    res("shmget removed key", shmget(key, 4096, 0));

    /* Errors. */
    res("shmget size 0", shmget(IPC_PRIVATE, 0, IPC_CREAT | 0600));
    res("shmget size huge", shmget(IPC_PRIVATE, (size_t)-1, IPC_CREAT | 0600));
    res("shmat -1", (long)shmat(-1, NULL, 0));
    res("shmctl -1", shmctl(-1, IPC_STAT, &ds));
    id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
    res("shmctl EFAULT", shmctl(id, IPC_STAT, (struct shmid_ds *)8));
    res("shmctl bad cmd", shmctl(id, 999, &ds));
    res("IPC_RMID unattached", shmctl(id, IPC_RMID, NULL));
    res("stat removed", shmctl(id, IPC_STAT, &ds));
}

/* ------------------------------------------------------------------ */

static int wait_count(int id, int num, int cmd, int want) {
    for (int i = 0; i < 5000; i++) {
        if (semctl(id, num, cmd) == want)
            return 1;
        ms(1);
    }
    return 0;
}

static int op(int id, unsigned short num, short o, short flg) {
    struct sembuf b = {num, o, flg};
    return semop(id, &b, 1);
}

static void test_sem(void) {
    res("semget nsems 0", semget(IPC_PRIVATE, 0, IPC_CREAT | 0600));
    res("semget nsems huge", semget(IPC_PRIVATE, 100000, IPC_CREAT | 0600));
    int id = semget(IPC_PRIVATE, 2, IPC_CREAT | 0600);
    res("semget", id);
    struct semid_ds ds;
    semctl(id, 0, IPC_STAT, &ds);
    printf("stat: nsems=%lu mode=%o otime=%d\n", (unsigned long)ds.sem_nsems, ds.sem_perm.mode & 0777,
           ds.sem_otime != 0);
    printf("GETVAL=%d\n", semctl(id, 0, GETVAL));
    res("nowait down", op(id, 0, -1, IPC_NOWAIT));
    res("wait-for-zero nowait", op(id, 0, 0, IPC_NOWAIT));

    /* A child blocks until the parent raises the semaphore. */
    pid_t c = fork();
    if (c == 0)
        _exit(op(id, 0, -1, 0) == 0 ? 0 : 1);
    printf("child waits: ncnt=%d\n", wait_count(id, 0, GETNCNT, 1));
    res("up", op(id, 0, 1, 0));
    printf("woken child: %d\n", wait_child(c));
    printf("GETVAL=%d GETNCNT=%d\n", semctl(id, 0, GETVAL), semctl(id, 0, GETNCNT));

    /* A child waits for zero. */
    op(id, 1, 1, 0);
    c = fork();
    if (c == 0)
        _exit(op(id, 1, 0, 0) == 0 ? 0 : 1);
    printf("child waits for zero: zcnt=%d\n", wait_count(id, 1, GETZCNT, 1));
    op(id, 1, -1, 0);
    printf("zero child: %d\n", wait_child(c));

    /* SEM_UNDO is reverted when the child exits. */
    c = fork();
    if (c == 0) {
        op(id, 1, 3, SEM_UNDO);
        op(id, 0, 2, SEM_UNDO);
        op(id, 0, -1, SEM_UNDO);
        _exit(semctl(id, 1, GETVAL) * 10 + semctl(id, 0, GETVAL));
    }
    printf("child saw %d\n", wait_child(c));
    printf("after undo: %d %d\n", semctl(id, 0, GETVAL), semctl(id, 1, GETVAL));

    /* semtimedop. */
    struct sembuf b = {0, -1, 0};
    struct timespec ts = {0, 50 * 1000 * 1000};
    res("semtimedop timeout", semtimedop(id, &b, 1, &ts));
    ts.tv_nsec = -1;
    res("semtimedop bad timeout", semtimedop(id, &b, 1, &ts));
    res("semtimedop EFAULT", semtimedop(id, &b, 1, (struct timespec *)8));

    /* Values. */
    res("SETVAL", semctl(id, 0, SETVAL, 5));
    res("SETVAL too big", semctl(id, 0, SETVAL, 40000));
    res("SETVAL negative", semctl(id, 0, SETVAL, -1));
    unsigned short all[2] = {1, 2};
    res("SETALL", semctl(id, 0, SETALL, all));
    all[0] = all[1] = 99;
    res("GETALL", semctl(id, 0, GETALL, all));
    printf("all: %d %d\n", all[0], all[1]);
    res("GETALL EFAULT", semctl(id, 0, GETALL, (unsigned short *)8));
    res("GETVAL bad num", semctl(id, 2, GETVAL));

    /* All or nothing. */
    struct sembuf two[2] = {{0, -1, IPC_NOWAIT}, {1, -5, IPC_NOWAIT}};
    res("set that would block", semop(id, two, 2));
    printf("unchanged: %d %d\n", semctl(id, 0, GETVAL), semctl(id, 1, GETVAL));
    two[1].sem_op = -2;
    res("set applied", semop(id, two, 2));
    printf("now: %d %d pid_me=%d\n", semctl(id, 0, GETVAL), semctl(id, 1, GETVAL),
           semctl(id, 1, GETPID) == getpid());
    res("ERANGE", op(id, 0, 32767, 0) + op(id, 0, 1, 0));
    printf("at max: %d\n", semctl(id, 0, GETVAL));
    res("EFBIG", op(id, 2, 1, 0));
    res("semop 0 ops", semop(id, two, 0));
    res("semop EFAULT", semop(id, (struct sembuf *)8, 1));
    res("semop bad id", semop(-1, two, 1));

    /* Interrupted by a signal. */
    semctl(id, 0, SETVAL, 0);
    c = fork();
    if (c == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_usr1;
        sigaction(SIGUSR1, &sa, NULL);
        int r = op(id, 0, -1, 0);
        _exit(r < 0 && errno == EINTR ? 0 : 1);
    }
    wait_count(id, 0, GETNCNT, 1);
    kill(c, SIGUSR1);
    printf("signalled waiter EINTR: %d\n", wait_child(c) == 0);
    printf("ncnt after: %d\n", semctl(id, 0, GETNCNT));

    /* Removed while a child waits. */
    c = fork();
    if (c == 0) {
        int r = op(id, 0, -1, 0);
        _exit(r < 0 ? errno : 0);
    }
    wait_count(id, 0, GETNCNT, 1);
    res("IPC_RMID", semctl(id, 0, IPC_RMID));
    printf("waiter: %s\n", en(wait_child(c)));
    res("GETVAL removed", semctl(id, 0, GETVAL));
}

/* ------------------------------------------------------------------ */

struct msg {
    long mtype;
    char mtext[8200];
};

static void snd(int q, long type, const char *text) {
    struct msg m;
    m.mtype = type;
    strcpy(m.mtext, text);
    if (msgsnd(q, &m, strlen(text), 0) < 0)
        printf("msgsnd failed: %s\n", en(errno));
}

static void rcv(int q, const char *what, long type, size_t size, int flags) {
    struct msg m;
    memset(&m, 0, sizeof m);
    ssize_t n = msgrcv(q, &m, size, type, flags);
    if (n < 0)
        printf("%s: %s\n", what, en(errno));
    else
        printf("%s: type=%ld %zd '%.*s'\n", what, m.mtype, n, (int)n, m.mtext);
}

static void test_msg(void) {
    int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    res("msgget", q);
    snd(q, 3, "three");
    snd(q, 1, "one");
    snd(q, 2, "two");
    snd(q, 1, "uno");
    struct msqid_ds ds;
    msgctl(q, IPC_STAT, &ds);
    printf("stat: qnum=%lu cbytes=%lu qbytes=%lu mode=%o lspid_me=%d lrpid=%d\n", (unsigned long)ds.msg_qnum,
           (unsigned long)ds.__msg_cbytes, (unsigned long)ds.msg_qbytes, ds.msg_perm.mode & 0777,
           ds.msg_lspid == getpid(), ds.msg_lrpid);
    rcv(q, "type 2", 2, 100, 0);
    rcv(q, "type -2", -2, 100, 0);
    rcv(q, "except 1", 1, 100, MSG_EXCEPT);
    rcv(q, "too small", 0, 1, 0);
    rcv(q, "noerror", 0, 1, MSG_NOERROR);
    rcv(q, "empty", 0, 100, IPC_NOWAIT);
    msgctl(q, IPC_STAT, &ds);
    printf("stat: qnum=%lu cbytes=%lu lrpid_me=%d\n", (unsigned long)ds.msg_qnum, (unsigned long)ds.__msg_cbytes,
           ds.msg_lrpid == getpid());

    struct msg m;
    m.mtype = 0;
    res("msgsnd type 0", msgsnd(q, &m, 1, 0));
    m.mtype = 1;
    res("msgsnd too big", msgsnd(q, &m, 8193, 0));
    res("msgsnd EFAULT", msgsnd(q, (void *)8, 1, 0));
    res("msgrcv bad id", msgrcv(-1, &m, 1, 0, 0));
    snd(q, 5, "lost");
    res("msgrcv EFAULT", msgrcv(q, (void *)8, 10, 0, 0));

    /* A blocked receiver woken by another process's send. */
    int pfd[2];
    pipe(pfd);
    pid_t c = fork();
    if (c == 0) {
        struct msg r;
        write(pfd[1], "x", 1);
        ssize_t n = msgrcv(q, &r, sizeof r.mtext, 7, 0);
        _exit(n == 4 && r.mtype == 7 && memcmp(r.mtext, "wake", 4) == 0 ? 0 : 1);
    }
    char ch;
    read(pfd[0], &ch, 1);
    ms(100);
    snd(q, 7, "wake");
    printf("woken receiver: %d\n", wait_child(c));

    /* The byte limit blocks senders. */
    memset(m.mtext, 'a', 8192);
    m.mtype = 1;
    res("fill 1", msgsnd(q, &m, 8192, 0));
    res("fill 2", msgsnd(q, &m, 8192, 0));
    res("full nowait", msgsnd(q, &m, 1, IPC_NOWAIT));
    c = fork();
    if (c == 0) {
        write(pfd[1], "x", 1);
        _exit(msgsnd(q, &m, 100, 0) == 0 ? 0 : 1);
    }
    read(pfd[0], &ch, 1);
    ms(100);
    rcv(q, "make room", 0, 1, MSG_NOERROR);
    printf("blocked sender: %d\n", wait_child(c));
    msgctl(q, IPC_STAT, &ds);
    printf("stat: qnum=%lu cbytes=%lu\n", (unsigned long)ds.msg_qnum, (unsigned long)ds.__msg_cbytes);

    /* Removed while a child waits. */
    c = fork();
    if (c == 0) {
        struct msg r;
        write(pfd[1], "x", 1);
        ssize_t n = msgrcv(q, &r, sizeof r.mtext, 99, 0);
        _exit(n < 0 ? errno : 0);
    }
    read(pfd[0], &ch, 1);
    ms(200);
    res("IPC_RMID", msgctl(q, IPC_RMID, NULL));
    printf("waiter: %s\n", en(wait_child(c)));

    /* A signal interrupts a blocked receiver. */
    q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    c = fork();
    if (c == 0) {
        struct msg r;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_usr1;
        sigaction(SIGUSR1, &sa, NULL);
        write(pfd[1], "x", 1);
        ssize_t n = msgrcv(q, &r, sizeof r.mtext, 0, 0);
        _exit(n < 0 ? errno : 0);
    }
    read(pfd[0], &ch, 1);
    /* Signalled until it returns: a signal that came before msgrcv
     * blocked only ran the handler, and the next one interrupts it. */
    for (;;) {
        ms(50);
        kill(c, SIGUSR1);
        siginfo_t info;
        memset(&info, 0, sizeof info);
        if (waitid(P_PID, c, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == c) break;
    }
    printf("signalled receiver: %s\n", en(wait_child(c)));
    res("IPC_RMID 2", msgctl(q, IPC_RMID, NULL));
    res("stat removed", msgctl(q, IPC_STAT, &ds));
    res("msgget nonexistent key", msgget(0x52000000 | (getpid() & 0xffffff), 0));
}

int main(int argc, char **argv) {
    if (argc > 2 && strcmp(argv[1], "nattch") == 0) {
        struct shmid_ds d;
        if (shmctl(atoi(argv[2]), IPC_STAT, &d) < 0)
            return 99;
        return (int)d.shm_nattch;
    }
    self_path = argv[0];
    setvbuf(stdout, NULL, _IONBF, 0);
    printf("-- shm\n");
    test_shm();
    printf("-- sem\n");
    test_sem();
    printf("-- msg\n");
    test_msg();
    return 0;
}
