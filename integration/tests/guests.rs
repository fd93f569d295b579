//! Every guest program in a bundle under runc (proving the program against
//! native Linux) and, when `RVISOR_RUNSC` is set, under runsc with output
//! identical to runc's.
//!
//! Every guest prints `<prog>: … yes|no` relations that hold on Linux, so
//! besides the key lines asserted here no line may end in ` no`.

use integration::support::{assert_lines, assert_no_line_ends_with, assert_status, run_differential};
use integration::{Bundle, RunOutput};

/// Runs guest `name` with default settings; `None` when runc is unusable.
fn run_guest(name: &str) -> Option<RunOutput> {
    let mut bundle = Bundle::new().expect("building bundle");
    bundle.guest(name, &[]);
    run_differential(&bundle, name)
}

/// The checks shared by every guest that is expected to finish normally.
fn assert_guest_ok(out: &RunOutput, name: &str) {
    assert_status(out, 0);
    assert_lines(out, &[&format!("{name}: done")]);
    assert_no_line_ends_with(out, " no");
    assert!(!out.stdout.contains("FATAL"), "guest set-up failed\n{out}");
    for line in out.stdout.lines() {
        assert!(line.starts_with(&format!("{name}: ")), "stray output line {line:?}\n{out}");
    }
}

#[test]
fn files() {
    let Some(out) = run_guest("files") else { return };
    assert_guest_ok(&out, "files");
    assert_lines(
        &out,
        &[
            "files: initial umask = 022",
            "files: new file mode = 0640 regular yes size 0",
            "files: O_EXCL on existing -> EEXIST",
            "files: pread(5, off 6) = 5 \"world\"",
            "files: read all = 11 \"HELLO world\"",
            "files: size after write at 100 = 101",
            "files: readv 2x3 = 6 \"abc\" \"def\"",
            "files: O_APPEND write lands at end, offset = 102 size = 102",
            "files: O_TRUNC size = 0",
            "files: ftruncate 4096 size = 4096",
            "files: dup3 onto itself -> EINVAL",
            "files: read of closed fd -> EBADF",
            "files: nlink after link = 2",
            "files: readlink s = 1 \"b\"",
            "files: open O_NOFOLLOW on symlink -> ELOOP",
            "files: getdents64 /tmp/files-test/d sorted = ../,./,e1,e2,sub/",
            "files: rmdir non-empty -> ENOTEMPTY",
            "files: open directory O_WRONLY -> EISDIR",
            "files: open file/child (file as dir) -> ENOTDIR",
            "files: open missing -> ENOENT",
            "files: open 299-char name -> ENAMETOOLONG",
            "files: mode under umask 077 = 0600",
            "files: atime = 1000000000.000000000 mtime = 1234567890.000000500",
            "files: rmdir test dir -> ok",
        ],
    );
}

#[test]
fn mm() {
    let Some(out) = run_guest("mm") else { return };
    assert_guest_ok(&out, "mm");
    assert_lines(
        &out,
        &[
            "mm: page size = 4096",
            "mm: private page unchanged in parent after child write (COW) yes",
            "mm: shared anonymous page shows child write yes",
            "mm: store through shared mapping visible to pread yes",
            "mm: pwrite visible through shared mapping yes",
            "mm: MAP_SHARED PROT_WRITE of O_RDONLY fd -> EACCES",
            "mm: si_code is SEGV_ACCERR yes",
            "mm: si_addr is the faulting address yes",
            "mm: si_code is SEGV_MAPERR yes",
            "mm: mremap grow keeps contents yes",
            "mm: MADV_DONTNEED page reads zero yes",
            "mm: mincore on unmapped range -> ENOMEM",
            "mm: brk grow by 64 KiB moves the break yes",
        ],
    );
}

#[test]
fn process() {
    let Some(out) = run_guest("process") else { return };
    assert_guest_ok(&out, "process");
    assert_lines(
        &out,
        &[
            "process: child pid == wait result yes",
            "process: child exit: WIFEXITED 1 WEXITSTATUS 42 (42 means getppid == parent pid)",
            "process: exit code 0 -> 0, 255 -> 255, 256 -> 0, 257 -> 1",
            "process: vfork child status 7, parent sees child's store yes",
            "process: execve /bin/true -> exit 0",
            "process: execve of a missing file -> ENOENT",
            "process: execve of a non-executable file -> EACCES",
            "process: waitpid WNOHANG on running child = 0",
            "process: waitpid with no children -> ECHILD",
            "process: SIGKILLed child: WIFSIGNALED 1 WTERMSIG 9",
            // From the spec's rlimits.
            "process: RLIMIT_NOFILE soft 1024 hard 1024",
            "process: dup2 to fd 64 beyond the limit -> EBADF",
            "process: PR_GET_NAME = rvisor-proc",
            "process: /proc/self/comm = abcdefghijklmno",
        ],
    );
}

#[test]
fn threads() {
    let Some(out) = run_guest("threads") else { return };
    assert_guest_ok(&out, "threads");
    assert_lines(
        &out,
        &[
            "threads: mutex-protected counter = 80000 (expected 80000)",
            "threads: each thread: gettid differs from main, getpid same yes",
            "threads: each thread kept its own TLS value yes",
            "threads: condvar handshake consumer saw 42",
            "threads: futex waiter saw value 9",
            "threads: FUTEX_WAIT with mismatched value -> EAGAIN",
            "threads: FUTEX_WAIT with 10ms timeout -> ETIMEDOUT",
            "threads: pthread_exit value = 77",
        ],
    );
}

#[test]
fn signals() {
    let Some(out) = run_guest("signals") else { return };
    assert_guest_ok(&out, "signals");
    assert_lines(
        &out,
        &[
            "signals: handler ran once with SI_USER and si_pid == getpid yes",
            "signals: sigqueue: si_code SI_QUEUE yes, value 42",
            "signals: blocked signal pending yes",
            "signals: sigaction on SIGKILL -> EINVAL",
            "signals: sigsuspend until child's SIGUSR1 -> EINTR",
            "signals: SA_ONSTACK handler ran on the alternate stack with SS_ONSTACK yes",
            "signals: no SA_RESTART: blocked pipe read interrupted by SIGALRM -> EINTR (handler ran yes)",
            "signals: SA_RESTART: blocked pipe read interrupted by SIGALRM -> restarted, read 1 byte (handler ran yes)",
            "signals: raised SIGSEGV caught with si_code SI_TKILL yes",
            "signals: child killed by default SIGTERM: WIFSIGNALED 1 WTERMSIG 15",
            "signals: sigwaitinfo SIGCHLD: sig SIGCHLD code CLD_EXITED yes status 3 pid matches yes",
            "signals: sigtimedwait with nothing pending, 10ms -> EAGAIN",
            "signals: signalfd read = 128 bytes, ssi_signo 10, ssi_code SI_TKILL yes",
        ],
    );
}

#[test]
fn time() {
    let Some(out) = run_guest("time") else { return };
    assert_guest_ok(&out, "time");
    assert_lines(
        &out,
        &[
            "time: CLOCK_MONOTONIC non-decreasing over 1000 reads yes",
            "time: gettimeofday agrees with CLOCK_REALTIME within 1s yes",
            "time: clock_gettime of invalid clock 12345 -> EINVAL",
            "time: resolution > 0 and <= 1ms yes",
            "time: elapsed>=20ms yes",
            "time: timerfd read after 130ms = 8 bytes, expirations>=1 yes",
            "time: SIGALRM delivered 1 time(s)",
            "time: one-shot itimer disarmed yes",
            "time: alarm(0) after alarm(100) returns 100",
        ],
    );
}

#[test]
fn pipes() {
    let Some(out) = run_guest("pipes") else { return };
    assert_guest_ok(&out, "pipes");
    assert_lines(
        &out,
        &[
            "pipes: F_GETPIPE_SZ = 65536",
            "pipes: non-blocking fill stops at 65536 bytes with EAGAIN",
            "pipes: read of empty O_NONBLOCK pipe -> EAGAIN",
            "pipes: write without reader, default SIGPIPE: child WIFSIGNALED 1 WTERMSIG 13",
            "pipes: write without reader, SIGPIPE handled -> EPIPE",
            "pipes: SIGPIPE handler ran 1 time(s)",
            "pipes: poll after write: 1 ready, POLLIN yes",
            "pipes: select: 2 ready, readable yes, writable yes",
            "pipes: epoll LT: wait = 1 data 7, again without reading = 1",
            "pipes: epoll ET: first = 1, again = 0, after new write = 1",
            "pipes: EPOLLONESHOT: first = 1, again after write = 0, after rearm = 1",
            "pipes: epoll_ctl ADD of a regular file -> EPERM",
            "pipes: eventfd read sums writes = 7",
            "pipes: EFD_SEMAPHORE reads 1, 1, then EAGAIN",
        ],
    );
}

#[test]
fn unix_sockets() {
    let Some(out) = run_guest("unix_sockets") else { return };
    assert_guest_ok(&out, "unix_sockets");
    assert_lines(
        &out,
        &[
            "unix_sockets: stream socketpair: write 4, read 4 \"ping\"",
            "unix_sockets: dgram socketpair keeps boundaries: 1 then 2",
            "unix_sockets: seqpacket recv into 1-byte buffer = 1, MSG_TRUNC yes",
            "unix_sockets: peer reads EOF after shutdown = 0",
            "unix_sockets: write after SHUT_WR -> EPIPE",
            "unix_sockets: client -> server: write 4, read 4 \"ping\"",
            "unix_sockets: getpeername = /tmp/us.sock",
            "unix_sockets: connect to missing path -> ENOENT",
            "unix_sockets: abstract getpeername: leading NUL yes, name rvisor-abstract",
            "unix_sockets: write through passed fd 3, read from original pipe 3",
            "unix_sockets: SCM_CREDENTIALS received with our pid/uid/gid yes",
        ],
    );
}

#[test]
fn identity() {
    if !integration::runtime::require_runc("identity") {
        return;
    }
    let mut bundle = Bundle::new().expect("building bundle");
    bundle
        .guest("identity", &["first arg", "-x"])
        .hostname("guest-host")
        .user(1000, 1000)
        .cwd("/tmp")
        .env("RVISOR_TEST_VAR", "from the spec");
    let Some(out) = run_differential(&bundle, "identity") else { return };
    assert_guest_ok(&out, "identity");
    assert_lines(
        &out,
        &[
            "identity: uname sysname = Linux",
            "identity: uname machine = x86_64",
            "identity: uname nodename = guest-host",
            "identity: gethostname = guest-host",
            "identity: uid 1000 euid 1000 gid 1000 egid 1000",
            "identity: supplementary groups = 0",
            "identity: pid = 1, ppid = 0",
            "identity: /proc/self/status Name:\tidentity",
            "identity: readlink /proc/self/exe = 16 /guests/identity",
            "identity: getcwd = /tmp",
            "identity: env PATH = /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "identity: env HOME = /root",
            "identity: env RVISOR_TEST_VAR = from the spec",
            "identity: argc = 3",
            "identity: argv[0] = /guests/identity",
            "identity: argv[1] = first arg",
            "identity: argv[2] = -x",
        ],
    );
}

#[test]
fn efault() {
    let Some(out) = run_guest("efault") else { return };
    assert_guest_ok(&out, "efault");
    assert_lines(
        &out,
        &[
            "efault: read into bad buffer -> EFAULT",
            "efault: write from bad buffer -> EFAULT",
            "efault: stat with bad path -> EFAULT",
            "efault: open with bad path -> EFAULT",
            "efault: getcwd into bad buffer -> EFAULT",
            "efault: clock_gettime into bad timespec -> EFAULT",
            "efault: pipe into bad array -> EFAULT",
            "efault: uname into bad buffer -> EFAULT",
            "efault: rt_sigaction with bad act -> EFAULT",
            "efault: readv with bad iov base -> EFAULT",
            "efault: readv with iovcnt -1 -> EINVAL",
            "efault: read with count -1 -> EFAULT",
            "efault: still running after all bad calls",
        ],
    );
}

#[test]
fn segv() {
    let Some(out) = run_guest("segv") else { return };
    // runc reports a container killed by signal N as 128 + N.
    assert_status(&out, 139);
    assert_eq!(out.stdout, "segv: writing to NULL\n", "unexpected stdout\n{out}");
}

#[test]
fn readonly_root_and_bind_mount() {
    if !integration::runtime::require_runc("readonly_root_and_bind_mount") {
        return;
    }
    let host = std::env::temp_dir().join(format!("rvisor-bind-{}", std::process::id()));
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("hello"), "from the host\n").unwrap();
    let mut bundle = Bundle::new().expect("building bundle");
    bundle.readonly_root(true).bind_mount(&host, "/mnt", true).shell(
        "cat /mnt/hello; touch /newfile 2>/dev/null || echo root read-only; \
         touch /mnt/x 2>/dev/null || echo bind read-only",
    );
    let out = run_differential(&bundle, "readonly");
    let _ = std::fs::remove_dir_all(&host);
    let Some(out) = out else { return };
    assert_status(&out, 0);
    assert_eq!(out.stdout, "from the host\nroot read-only\nbind read-only\n", "{out}");
}
