//! System V IPC (shared memory, semaphores, message queues) between a
//! parent and forked children: a guest run in the Sentry and natively,
//! which must print the same, and what Linux prints.

mod common;

use common::{guest, init_logging, run_in, run_native, Build};
use sentry_core::ExitStatus;

/// What the guest prints on Linux (and must print in the Sentry).
const EXPECTED: &str = "\
-- shm
shmget private: OK
stat: segsz=10000 nattch=0 mode=600 key=0 cpid_me=1 lpid=0 atime=0
shmat: ok=1 aligned=1
after attach: nattch=1 lpid_me=1 atime=1
zero filled: 1
maps /SYSV00000000 (deleted): 1
child (nattch 2 in child): 0
parent reads: hello from child z
after child exit: nattch=1
shmat at address: 1 same memory=1
shmat over a mapping: EINVAL
shmat unaligned: EINVAL
shmdt inside: EINVAL
shmdt unaligned: EINVAL
shmdt: OK
shmdt again: EINVAL
SHM_RND: 1
after detaches: nattch=1 dtime=1
nattch seen after exec: 1
rdonly reads: z
mprotect rdonly attach writable: EACCES
write to rdonly attach: SIGSEGV
unchanged: h
IPC_SET: OK
mode now 640
SHM_LOCK: OK
SHM_UNLOCK: OK
IPC_RMID attached: OK
stat removed attached: OK
dest=1 nattch=1 key=0
still usable: z
shmdt last: OK
stat after last detach: EINVAL
shmget key create: OK
shmget key excl: EEXIST
shmget key again same: 1
shmget key size 0 same: 1
shmget key larger: EINVAL
IPC_RMID keyed: OK
shmget removed key: ENOENT
shmget size 0: EINVAL
shmget size huge: EINVAL
shmat -1: EINVAL
shmctl -1: EINVAL
shmctl EFAULT: EFAULT
shmctl bad cmd: EINVAL
IPC_RMID unattached: OK
stat removed: EINVAL
-- sem
semget nsems 0: EINVAL
semget nsems huge: EINVAL
semget: OK
stat: nsems=2 mode=600 otime=0
GETVAL=0
nowait down: EAGAIN
wait-for-zero nowait: OK
child waits: ncnt=1
up: OK
woken child: 0
GETVAL=0 GETNCNT=0
child waits for zero: zcnt=1
zero child: 0
child saw 31
after undo: 0 0
semtimedop timeout: EAGAIN
semtimedop bad timeout: EINVAL
semtimedop EFAULT: EFAULT
SETVAL: OK
SETVAL too big: ERANGE
SETVAL negative: ERANGE
SETALL: OK
GETALL: OK
all: 1 2
GETALL EFAULT: EFAULT
GETVAL bad num: EINVAL
set that would block: EAGAIN
unchanged: 1 2
set applied: OK
now: 0 0 pid_me=1
ERANGE: ERANGE
at max: 32767
EFBIG: EFBIG
semop 0 ops: EINVAL
semop EFAULT: EFAULT
semop bad id: EINVAL
signalled waiter EINTR: 1
ncnt after: 0
IPC_RMID: OK
waiter: EIDRM
GETVAL removed: EINVAL
-- msg
msgget: OK
stat: qnum=4 cbytes=14 qbytes=16384 mode=600 lspid_me=1 lrpid=0
type 2: type=2 3 'two'
type -2: type=1 3 'one'
except 1: type=3 5 'three'
too small: E2BIG
noerror: type=1 1 'u'
empty: ENOMSG
stat: qnum=0 cbytes=0 lrpid_me=1
msgsnd type 0: EINVAL
msgsnd too big: EINVAL
msgsnd EFAULT: EFAULT
msgrcv bad id: EINVAL
msgrcv EFAULT: EFAULT
woken receiver: 0
fill 1: OK
fill 2: OK
full nowait: EAGAIN
make room: type=1 1 'a'
blocked sender: 0
stat: qnum=2 cbytes=8292
IPC_RMID: OK
waiter: EIDRM
signalled receiver: EINTR
IPC_RMID 2: OK
stat removed: EINVAL
msgget nonexistent key: ENOENT
";

#[test]
fn sysv_ipc_matches_linux() {
    init_logging();
    // With /proc, for the attaches' names in /proc/self/maps.
    let k = common::kernel();
    k.root_fs().mkdir_all("/proc", 0o555).unwrap();
    k.mount("/proc", k.new_procfs()).unwrap();
    k.root_fs().write_file("/bin/sysv_ipc", &guest("sysv_ipc", Build::Static), 0o755).unwrap();
    let r = run_in(&k, &["/bin/sysv_ipc"], &[]);
    let native = run_native("sysv_ipc", Build::Static, &[]);
    assert_eq!(native.status, ExitStatus::Exited(0), "native: {native:?}");
    assert_eq!(r.status, ExitStatus::Exited(0), "{r:?}");
    assert_eq!(r.stdout, native.stdout, "sandbox vs native");
    assert_eq!(r.stdout, EXPECTED);
}
