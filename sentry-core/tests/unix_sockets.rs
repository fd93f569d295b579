//! AF_UNIX sockets: a guest exercising both ends of socket pairs and
//! connections from one process, run in the Sentry and, for comparison,
//! natively on the host.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;

use common::{guest, init_logging, Build};
use sentry_core::ExitStatus;

/// What the guest prints on Linux (and must print in the Sentry).
const EXPECTED: &str = "\
stream FIONREAD=11
stream read 11: hello world
stream empty read: EAGAIN
stream readv 7: ab|cdefg
fstat S_ISSOCK=1 mode=777 size=0
stream filled: EAGAIN, buffered>=208k:1
stream drained all: 1
dgram short recv 3: fir
dgram MSG_TRUNC recv 6: se
dgram recvmsg 4: abcd truncated=1
dgram empty: EAGAIN
dgram too big: EMSGSIZE
dgram peer closed: ECONNREFUSED
dgram then: ENOTCONN
cloexec=1 nonblock=1
seqpacket recvmsg 4: reco truncated=1
seqpacket recv 3: two
seqpacket after SHUT_WR recv: 0
seqpacket after SHUT_WR send: EPIPE
shutdown bad how: EINVAL
write after SHUT_WR: EPIPE
write() after SHUT_WR: EPIPE
peer reads data: 3
peer reads EOF: 0
peer still writes: 2
shut side reads: 2
peer writes after SHUT_RD: EPIPE
peer closed with unread: recv: ECONNRESET
then recv: 0
then send: EPIPE
SO_ERROR after: OK
-- path
listen unbound: EINVAL
connect before bind: ENOENT
bind: 0
connect before listen: ECONNREFUSED
bind same name: EADDRINUSE
listen: 0
SO_ACCEPTCONN=1
accept none: EAGAIN
connect: 0
connect again: EAGAIN
connect backlog full: EAGAIN
send before accept: 5
accepted: addrlen=2 family=1 cloexec=1 nonblock=0
server got 5: early
listener name: matches=1
server name: matches=1
server peer: len=2 family=1
client name: len=2 family=1
client peer: matches=1
listener peer: ENOTCONN
server SO_PEERCRED: len=12 pid ok=1 uid ok=1
client SO_PEERCRED: pid ok=1 gid ok=1
client got 4: pong
connect after accept: 0
dgram connect to stream: EPROTOTYPE
pending after listener closed: ECONNRESET
connect after close: ECONNREFUSED
-- abstract
listen unbound: EINVAL
connect before bind: ECONNREFUSED
bind: 0
connect before listen: ECONNREFUSED
bind same name: EADDRINUSE
listen: 0
SO_ACCEPTCONN=1
accept none: EAGAIN
connect: 0
connect again: EAGAIN
connect backlog full: EAGAIN
send before accept: 5
accepted: addrlen=2 family=1 cloexec=1 nonblock=0
server got 5: early
listener name: matches=1
server name: matches=1
server peer: len=2 family=1
client name: len=2 family=1
client peer: matches=1
listener peer: ENOTCONN
server SO_PEERCRED: len=12 pid ok=1 uid ok=1
client SO_PEERCRED: pid ok=1 gid ok=1
client got 4: pong
connect after accept: 0
dgram connect to stream: ECONNREFUSED
pending after listener closed: ECONNRESET
connect after close: ECONNREFUSED
-- datagram addresses
sendto: 4
recvfrom 4: to-b from matches=1
anonymous sendto: 4
from unnamed: 4 addrlen=0
sendto missing path: ENOENT
connect: 0
stranger to connected: EPERM
send on connected: 4
a got 4: back
b peer: matches=1
autobind: 0
autobind name: len=8 abstract=1
-- SCM_RIGHTS
sendmsg with fd: 1
recvmsg 1 data=F level=1 type=1 len=20 controllen=24 flags=0x40000000
received fd cloexec=1
read at shared offset: 0
read via passed fd: contents of the passed file
short control: 1 ctrunc=1 fds=1
no control: 1 ctrunc=1
send bad fd: EBADF
joined read: 4 abcd fds=1
rest: 2 ef
-- SCM_CREDENTIALS
SO_PASSCRED=1
recvmsg 1 type=2 pid ok=1 uid ok=1 gid ok=1
sendmsg own creds: 1
sendmsg bad cmsg_len: EINVAL
-- errors
send on a file: ENOTSOCK
getsockname on a file: ENOTSOCK
listen on a file: ENOTSOCK
recv on a bad fd: EBADF
socket bad type: EINVAL
socket bad flags: EINVAL
socket bad protocol: EPROTONOSUPPORT
socket(AF_UNIX, SOCK_RDM): ESOCKTNOSUPPORT
socketpair bad pointer: EFAULT
connect to a regular file: ECONNREFUSED
bind on an existing file: EADDRINUSE
connect missing path: ENOENT
connect bad address: EFAULT
connect short address: EINVAL
connect huge address: EINVAL
connect wrong family: EINVAL
getsockname bad buffer: EFAULT
getsockname bad length: EFAULT
getpeername unconnected: ENOTCONN
recv unconnected stream: EINVAL
send unconnected stream: ENOTCONN
accept not listening: EINVAL
getsockopt SO_TYPE: 0
SO_TYPE=1 len=4
SO_DOMAIN=1
SO_PROTOCOL=0
SO_SNDBUF after 1000: 4608
SO_REUSEADDR=1
getsockopt unknown: ENOPROTOOPT
setsockopt SO_TYPE: ENOPROTOOPT
setsockopt short: EINVAL
getsockopt bad optlen: EFAULT
send bad buffer: EFAULT
sendto on connected stream: EISCONN
listen on connected: EINVAL
listen on dgram: EOPNOTSUPP
accept on dgram: EOPNOTSUPP
send unconnected dgram: ENOTCONN
-- names in the file system
stat: S_ISSOCK=1 mode=755
open a socket path: ENXIO
connect old name: ENOENT
connect new name: 0
listener keeps its name: matches=1
connect unlinked: ENOENT
rebind the name: 0
";

/// What only the Sentry prints (no netlink; Linux 4.4's MSG_OOB).
const SANDBOX_ONLY: &str = "\
MSG_OOB: EOPNOTSUPP
socket(AF_NETLINK): EAFNOSUPPORT
socketpair(AF_INET): EOPNOTSUPP
";

#[test]
fn unix_sockets_in_the_sentry() {
    init_logging();
    for build in [Build::Static, Build::Musl] {
        let k = common::kernel();
        k.root_fs().write_file("/bin/unix", &guest("unix", build), 0o755).unwrap();
        let r = common::run_in(&k, &["/bin/unix", "/tmp", "sandbox"], &[]);
        assert_eq!(r.status, ExitStatus::Exited(0), "{build:?}: {r:?}");
        assert_eq!(r.stdout, format!("{EXPECTED}{SANDBOX_ONLY}done\n"), "{build:?}");
        // The runtime sees the names the application bound and removed.
        assert!(k.root_fs().read_file("/tmp/listener").is_err());
    }
}

#[test]
fn unix_sockets_natively_print_the_same() {
    init_logging();
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("unix-native-{}", std::process::id()));
    let dir = base.join("d");
    std::fs::create_dir_all(&dir).unwrap();
    let exe = base.join("unix");
    std::fs::write(&exe, guest("unix", Build::Static)).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = Command::new(&exe).arg(&dir).output().expect("run the guest natively");
    let _ = std::fs::remove_dir_all(&base);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{EXPECTED}done\n"));
}
