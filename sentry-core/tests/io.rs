//! Pipes, FIFOs, eventfd, poll/select, epoll and timerfd: guest programs
//! run in the Sentry, compared with expected output and, where the program
//! behaves the same on any Linux, with a native run of the same binary.
//!
//! Timing checks in the guests are lower bounds only.

mod common;

use common::{differential, guest, init_logging, run, Build};
use sentry_core::ExitStatus;

fn expect_ok(r: &common::Run) {
    assert_eq!(r.status, ExitStatus::Exited(0), "{r:?}");
}

#[test]
fn pipes_match_linux() {
    init_logging();
    let r = differential("pipe", Build::Static, &[], &[]);
    expect_ok(&r);
    let expected = "\
pipe = 0
write = 5
read = 5
data=hello
read 0 bytes of an empty pipe = 0
fifo=1 perm=600 same ino=1 nlink=1 size=0
pipe2 = 0
other pipe other ino=1
flags r=0 w=1
lseek = -1 ESPIPE
pread = -1 ESPIPE
write to the read end = -1 EBADF
F_GETPIPE_SZ = 65536
big non-blocking write = 65536
one more byte = -1 EAGAIN
FIONREAD=65536
read 4095 = 4095
write 4096 (no page free) = -1 EAGAIN
read 1 = 1
write 4096 (a page free) = 4096
write 1 = -1 EAGAIN
F_SETPIPE_SZ while full = -1 EBUSY
drained=65536 then EAGAIN
1000-byte writes until EAGAIN: 64000
F_SETPIPE_SZ 100000 = 131072
F_GETPIPE_SZ = 131072
F_SETPIPE_SZ 1 = 4096
write 5000 into one page = 4096
F_SETPIPE_SZ 8192 = 8192
write 5000 more = 4096
F_SETPIPE_SZ 4096 with two pages = -1 EBUSY
F_GETPIPE_SZ of a regular fd = -1 EBADF
write = 3
read after the writer closed = 3
read at EOF = 0
write without readers = -1 EPIPE
write 0 bytes without readers = 0
pipe2(O_CLOEXEC|O_NONBLOCK) = 0
cloexec=1 nonblock=1
read empty = -1 EAGAIN
pipe2(bad flags) = -1 EINVAL
pipe(bad pointer) = -1 EFAULT
pipe2(O_DIRECT) = 0
packet read = 3
short packet read = 2
packets=abcde
then = -1 EAGAIN
done
";
    assert_eq!(r.stdout, expected);
}

#[test]
fn poll_and_select_match_linux() {
    init_logging();
    let r = differential("poll", Build::Static, &[], &[]);
    expect_ok(&r);
    let expected = "\
poll empty pipe = 1
  read end:
  write end: OUT
  negative fd revents=0
poll after a write = 2
  read end: IN
poll write end for POLLIN = 0
poll 50 ms on an empty pipe = 0
  waited >= 50 ms: 1
poll a closed fd = 1
  fd 1000: NVAL
poll bad pointer = -1 EFAULT
poll nfds > RLIMIT_NOFILE = -1 EINVAL
poll nothing for 20 ms = 0
  waited >= 20 ms: 1
poll read end without writers = 1
  read end: HUP
poll write end without readers = 1
  write end: OUT ERR
poll new eventfd = 1
  eventfd: OUT
poll eventfd after a write = 1
  eventfd: IN OUT
ppoll zero timeout = 0
ppoll sigsetsize 4 = -1 EINVAL
ppoll bad timespec = -1 EINVAL
ppoll ready eventfd = 1
  time left written back: 1
  mask restored: 1
select empty pipe = 1
  r=0 w=1
select after a write = 2
  r=1 w=1
select 50 ms = 0
  waited >= 50 ms: 1 r=0 tv=0.000000
select ready with 5 s = 1
  time left written back: 1
select usec > 1 s = 1
select negative usec = -1 EINVAL
select closed fd = -1 EBADF
select nfds -1 = -1 EINVAL
select bad set = -1 EFAULT
select eventfd read+write = 3
pselect6 with mask = 1
pselect6 sigsetsize 4 = -1 EINVAL
pselect6 bad sig struct = -1 EFAULT
done
";
    assert_eq!(r.stdout, expected);
}

/// A fresh host directory for a native run's files.
fn native_dir(name: &str) -> String {
    let d = std::env::temp_dir().join(format!("rvisor-io-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("native scratch directory");
    d.to_string_lossy().into_owned()
}

#[test]
fn epoll_matches_linux() {
    init_logging();
    let dir = native_dir("epoll");
    let r = differential("epoll", Build::Static, &[], &[&dir]);
    let _ = std::fs::remove_dir_all(&dir);
    expect_ok(&r);
    let expected = "\
epoll_create1 ok=1 cloexec=1
add read end = 0
empty: 0
after a write: 1 [IN data=1122334455667788]
level-triggered again: 1 [IN data=1122334455667788]
add again = -1 EEXIST
mod to edge-triggered = 0
ET, data pending: 1 [IN data=e7]
ET, no new edge: 0
ET, new write: 1 [IN data=e7]
mod to one-shot = 0
oneshot: 1 [IN data=1]
oneshot, disabled: 0
re-arm = 0
oneshot, re-armed: 1 [IN data=2]
del = 0
del again = -1 ENOENT
mod unknown = -1 ENOENT
after del: 0
add write end = 0
writable: 1 [OUT data=77]
del write end = 0
max 1: 1 [IN data=1]
max 1: 1 [IN data=2]
max 1: 1 [IN data=1]
eventfd ET idle: 0
eventfd ET write: 1 [IN data=ef]
eventfd ET nothing new: 0
eventfd ET second write: 1 [IN data=ef]
writer closed: 1 [ HUP data=99]
watched fd closed: 0
closed but duplicated: 1 [IN data=d0]
all closed: 0
add epoll to epoll = 0
outer, inner idle: 0
outer, inner ready: 1 [IN data=e]
poll on epoll = 1
loop = -1 ELOOP
exclusive on an eventfd = 0
exclusive on an epoll = -1 EINVAL
exclusive with EPOLLPRI = -1 EINVAL
mod with exclusive = -1 EINVAL
add regular file = -1 EPERM
add itself = -1 EINVAL
not an epoll = -1 EINVAL
bad op = -1 EINVAL
bad target = -1 EBADF
bad epfd = -1 EBADF
bad event pointer = -1 EFAULT
maxevents 0 = -1 EINVAL
wait on a pipe = -1 EINVAL
wait on a bad fd = -1 EBADF
epoll_create(0) = -1 EINVAL
epoll_create1(bad) = -1 EINVAL
wait into a bad buffer = -1 EFAULT
wait 50 ms = 0
  waited >= 50 ms: 1
epoll_pwait = 1
epoll_pwait sigsetsize 4 = -1 EINVAL
done
";
    assert_eq!(r.stdout, expected);
}

#[test]
fn eventfd_matches_linux() {
    init_logging();
    let r = differential("eventfd", Build::Static, &[], &[]);
    expect_ok(&r);
    let expected = "\
read initial 5 = 8 value 5
accmode rdwr=1 cloexec=0
fstat type bits=0 perm=600
lseek = 0
nonblock=1 cloexec=1
read zero counter = -1 EAGAIN
write 3 = 8
write 4 = 8
read = 8 value 7
read 4 bytes = -1 EINVAL
write 4 bytes = -1 EINVAL
write 2 = 8
read 16 bytes = 8
value 2, rest untouched 1
write UINT64_MAX = -1 EINVAL
write UINT64_MAX-1 = 8
write 1 more (would overflow) = -1 EAGAIN
write 0 = 8
read max = 8 value 18446744073709551614
semaphore = 8 value 1
semaphore = 8 value 1
semaphore = 8 value 1
semaphore empty = -1 EAGAIN
eventfd2 bad flags = -1 EINVAL
eventfd (no flags) = 8 value 2
done
";
    assert_eq!(r.stdout, expected);
}

#[test]
fn timerfd_matches_linux() {
    init_logging();
    let r = differential("timerfd", Build::Static, &[], &[]);
    expect_ok(&r);
    let expected = "\
created=1 cloexec=1 nonblock=1
read disarmed = -1 EAGAIN
gettime disarmed: 0 0
settime 50 ms = 0
remaining in (0, 50 ms]: 1
poll until expiry = 1
  waited >= 50 ms: 1
read = 8
  expirations=1
read again = -1 EAGAIN
gettime expired: 0
settime 10 ms every 10 ms = 0
  old: 0 0
at least 5 expirations after 55 ms: 1
periodic remaining in (0, 10 ms], interval 10 ms: 1 10000000
disarm: old interval 10000000
gettime disarmed: 0 0
settime absolute 1 s ago every 100 ms = 0
at least 11 expirations: 1
blocking read = 8
  expirations=1 waited >= 30 ms: 1
epoll_wait until expiry = 1
  data=42 waited >= 20 ms: 1
boottime ok=1
process cpu clock = -1 EINVAL
bad create flags = -1 EINVAL
bad settime flags = -1 EINVAL
nsec 1e9 = -1 EINVAL
negative sec = -1 EINVAL
bad new value = -1 EFAULT
bad gettime buffer = -1 EFAULT
settime on an eventfd = -1 EINVAL
gettime on a bad fd = -1 EBADF
read 4 bytes = -1 EINVAL
write = -1 EINVAL
done
";
    assert_eq!(r.stdout, expected);
}

#[test]
fn fifos_match_linux() {
    init_logging();
    let dir = native_dir("fifo");
    let r = differential("fifo", Build::Static, &[], &[&dir]);
    let _ = std::fs::remove_dir_all(&dir);
    expect_ok(&r);
    let expected = "\
mknod S_IFIFO = 0
  fifo=1 perm=644 size=0
mknod again = -1 EEXIST
mkfifo = 0
mknod type 0 (regular) = 0
  regular=1 perm=644
mknod S_IFDIR = -1 EPERM
mknod bad type = -1 EINVAL
mknod S_IFLNK = -1 EINVAL
mknodat bad path = -1 EFAULT
open for writing, non-blocking, no reader = -1 ENXIO
open for reading, non-blocking = 3
read with no writer ever = 0
  reader before any writer:
open for writing, non-blocking = 4
  writer: OUT
  reader:
read with a writer, no data = -1 EAGAIN
open for writing, blocking, reader present = 5
write = 4
  reader: IN
read = 4
  data=fifo
F_GETPIPE_SZ = 65536
  reader after the writers left: HUP
read at EOF = 0
second reader = 4
  second reader, writers gone before it:
open read-write = 3
write to self = 2
read from self = 2
  data=xy
  read-write end: OUT
unlink = 0
done
";
    assert_eq!(r.stdout, expected);
}

#[test]
fn device_and_socket_nodes_are_refused() {
    init_logging();
    let r = run(&guest("mknod_dev", Build::Static), "mknod_dev", &[]);
    expect_ok(&r);
    let expected = "S_IFCHR: -1 Operation not permitted\nS_IFBLK: -1 Operation not permitted\n\
                    S_IFSOCK: 0 \nexisting: -1 File exists\nnothing created: 1\n";
    assert_eq!(r.stdout, expected);
}

/// Host descriptors (stdio) wake `poll`, `epoll` and blocking reads when
/// the host side writes, through the host notifier.
#[test]
fn host_descriptors_wake_waiters() {
    use std::io::{BufRead, BufReader, Write};
    use std::os::fd::{FromRawFd, OwnedFd};
    init_logging();
    let pipe = || {
        let mut fds = [0i32; 2];
        // SAFETY: room for two descriptors.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: fresh descriptors from pipe2.
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
    };
    let (in_r, in_w) = pipe();
    let (out_r, out_w) = pipe();
    let k = common::kernel();
    k.root_fs().write_file("/bin/hostfd", &guest("hostfd", Build::Static), 0o755).unwrap();
    let null: OwnedFd = std::fs::File::open("/dev/null").unwrap().into();
    let h = k
        .spawn_init(sentry_core::ProcessSpec {
            argv: vec!["/bin/hostfd".into()],
            envp: vec![],
            cwd: "/".into(),
            stdio: [in_r, out_w, null],
            uid: 0,
            gid: 0,
            groups: Vec::new(),
            rlimits: Vec::new(),
        })
        .unwrap();
    let mut input = Some(std::fs::File::from(in_w));
    let mut lines = BufReader::new(std::fs::File::from(out_r));
    let mut transcript = String::new();
    let answers = [("ping?", "ping"), ("pong?", "pong"), ("select?", "sel"), ("blocking read?", "blk")];
    loop {
        let mut line = String::new();
        if lines.read_line(&mut line).unwrap() == 0 {
            break;
        }
        transcript.push_str(&line);
        let prompt = line.trim_end();
        if let Some((_, answer)) = answers.iter().find(|(p, _)| *p == prompt) {
            // Let the guest get to its wait first (not required for
            // correctness: the data may also arrive before it waits).
            std::thread::sleep(std::time::Duration::from_millis(20));
            input.as_mut().unwrap().write_all(answer.as_bytes()).unwrap();
        } else if prompt == "close?" {
            std::thread::sleep(std::time::Duration::from_millis(20));
            input = None;
        }
    }
    assert_eq!(h.wait(), ExitStatus::Exited(0), "{transcript}");
    let expected = "stdout writable: 1 1\nstdin idle: 0\nping?\npoll: 1 1\nread: 4 ping\nepoll add stdin: 0\n\
                    epoll idle: 0\npong?\nepoll: 1 data=7\nread: 4 pong\nselect?\nselect: 1\nread: 3 sel\n\
                    blocking read?\nread: 3 blk\nclose?\npoll after close: 1 hup=1\nread at EOF: 0\n";
    assert_eq!(transcript, expected);
}
