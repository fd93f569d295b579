//! AF_INET and AF_INET6 over loopback: a guest exercising TCP and UDP over
//! 127.0.0.1 and ::1 from one process (and a forked child), run in the
//! Sentry and natively on the host (whose loopback is real Linux TCP/IP);
//! both must print the expected text.

mod common;

use common::{differential, guest, init_logging, run, Build};
use sentry_core::ExitStatus;

/// What the guest prints on Linux (and must print in the Sentry).
const EXPECTED: &str = "\
tcp4: peer len=16 matches client name=1 client port ephemeral=1
tcp4: echo 4 ping
tcp6: peer len=28 matches client name=1 client port ephemeral=1
tcp6: echo 4 ping
v6 listener, v4 client: family=AF_INET6 peer=::ffff:127.0.0.1 port matches=1
accepted local=::ffff:127.0.0.1
v4 connect to v6only listener: ECONNREFUSED
poll new socket: 1
new socket revents=0x14
listener port ephemeral=1
bind used port: EADDRINUSE
bind wildcard over used port: EADDRINUSE
SO_ACCEPTCONN=1
connect closed port: ECONNREFUSED
SO_REUSEADDR second bind: 0
first listen: 0
second listen: EADDRINUSE
bind non-local address: EADDRNOTAVAIL
bind short addrlen: EINVAL
bind wrong family: EAFNOSUPPORT
bind: 0
bind again: EINVAL
send unconnected: EPIPE
recv unconnected: ENOTCONN
getpeername unconnected: ENOTCONN
shutdown unconnected: ENOTCONN
socket(SOCK_STREAM, IPPROTO_UDP): EPROTONOSUPPORT
socket(SOCK_DGRAM, IPPROTO_TCP): EPROTONOSUPPORT
socket(SOCK_SEQPACKET): ESOCKTNOSUPPORT
socketpair(AF_INET): EOPNOTSUPP
v6 bind non-local: EADDRNOTAVAIL
v6 bind short: EINVAL
rebind while a connection lives: EADDRINUSE
with SO_REUSEADDR: EADDRINUSE
listen: 0
first connect: EINPROGRESS
connect beyond the backlog: EINPROGRESS
again: EALREADY
poll waiting connect: 0
poll after accept: 1
revents=0x4
connect when done: 0
admitted connection carries data: 4
epoll idle listener: 0
epoll listener: 1 events=0x1
peer of a client of 127.0.0.2: 127.0.0.1
accepted socket name: 127.0.0.2
epoll idle connection: 0
epoll data: 1 data=2 events=0x1
edge-triggered again: 0
epoll after SHUT_WR: 1 events=0x2001
MSG_WAITALL to EOF: 3
recv after linger-0 close: ECONNRESET
accept none: EAGAIN
poll listener idle: 0
non-blocking connect: 0 or EINPROGRESS
connected: revents=0x4 SO_ERROR=0
poll listener pending: 1
listener revents=0x1
accept4 flags: nonblock=1 cloexec=1
recv empty: EAGAIN
idle connection revents=0x4
with data revents=0x5
FIONREAD=11
peek 5: hello
recv 5: hello
recv 6:  world
filled: EAGAIN, some buffered=1
poll full for POLLOUT: 0
drained all: 1
shutdown SHUT_WR: 0
send after SHUT_WR: EPIPE
peer reads 3 then EOF: 0
after peer SHUT_WR revents=0x2005
peer still writes: 2
shut side reads 2
shutdown bad how: EINVAL
reset revents=0x201d
queued before reset 1
recv after reset: ECONNRESET
then recv: 0
then send: EPIPE
getpeername: ENOTCONN
read from closed peer: 0
first write to closed peer: 3
second write: EPIPE
SO_ERROR=OK
write after SHUT_WR (SIGPIPE ignored): EPIPE
blocking MSG_WAITALL: 900000 all z=1
child exit=0
SO_TYPE=1 SO_DOMAIN=2 SO_PROTOCOL=6
TCP_NODELAY=1 SO_KEEPALIVE=1 TCP_KEEPIDLE=30 SO_REUSEADDR=0
TCP_KEEPIDLE 0: EINVAL
SO_SNDBUF 100000 -> 200000
SO_LINGER=1,5
unknown SOL_SOCKET option: ENOPROTOOPT
udp SO_TYPE=2 SO_PROTOCOL=17 IPV6_V6ONLY=0
udp listen: EOPNOTSUPP
udp4: sender auto-bound ephemeral=1
udp4: recvfrom 5 first fromlen=16 family ok=1 port ok=1
udp4: FIONREAD=6
udp4: MSG_TRUNC recv 6: sec
empty: EAGAIN
udp4: recvmsg 2 truncated=1
udp4: connected send 4
getpeername: 0
too big: EMSGSIZE
largest: 65507
udp4: got 65507
send to closed port: 1
next recv: ECONNREFUSED
then: EAGAIN
connect AF_UNSPEC: 0
udp4: automatic port released=1
send without address: EDESTADDRREQ
udp6: sender auto-bound ephemeral=1
udp6: recvfrom 5 first fromlen=28 family ok=1 port ok=1
udp6: FIONREAD=6
udp6: MSG_TRUNC recv 6: sec
empty: EAGAIN
udp6: recvmsg 2 truncated=1
udp6: connected send 4
getpeername: 0
too big: EMSGSIZE
largest: 65527
udp6: got 65527
send to closed port: 1
next recv: ECONNREFUSED
then: EAGAIN
connect AF_UNSPEC: 0
udp6: automatic port released=1
send without address: EDESTADDRREQ
udp sendto port 0: EINVAL
udp sendto short: EINVAL
v6 receiver, v4 sender: ::ffff:127.0.0.1 port ok=1
200 datagrams into a small buffer: some dropped=1 some kept=1
SIOCGIFINDEX lo: 0
lo index=1
SIOCGIFNAME 1: 0
name=lo
SIOCGIFFLAGS lo: 0
up=1 loopback=1 running=1
SIOCGIFADDR lo: 0
lo addr=127.0.0.1
SIOCGIFFLAGS nosuchif0: ENODEV
SIOCGIFCONF: 0
SIOCGIFCONF lists lo 127.0.0.1=1 whole entries=1
SIOCGIFCONF size: 0
size at least one entry=1
";

/// What only the Sentry prints: no route off the loopback interface, and
/// no raw sockets (`EPROTONOSUPPORT` even with `CAP_NET_RAW`).
const SANDBOX_ONLY: &str = "\
udp sendto non-local: ENETUNREACH
udp connect non-local: ENETUNREACH
tcp connect non-local: ENETUNREACH
tcp6 connect non-local: ENETUNREACH
socket(AF_INET, SOCK_RAW): EPROTONOSUPPORT
";

#[test]
fn inet_sockets_match_linux() {
    init_logging();
    let r = differential("inet", Build::Static, &[], &[]);
    assert_eq!(r.status, ExitStatus::Exited(0), "{r:?}");
    assert_eq!(r.stdout, format!("{EXPECTED}done\n"));
}

#[test]
fn inet_sockets_only_reach_loopback_in_the_sentry() {
    init_logging();
    for build in [Build::Static, Build::Musl] {
        let r = run(&guest("inet", build), "inet", &["sandbox"]);
        assert_eq!(r.status, ExitStatus::Exited(0), "{build:?}: {r:?}");
        assert_eq!(r.stdout, format!("{EXPECTED}{SANDBOX_ONLY}done\n"), "{build:?}");
    }
}

const PYTHON: &str = "/usr/bin/python3";

/// What `tests/guests/loopback.py` prints.
const PYTHON_EXPECTED: &str = "\
client got HELLO OVER LOOPBACK
server got hello over loopback from loopback: True
v6 six ::1
udp datagram True
http 200 you asked for /index.html
done
";

/// The host's python3 in the Sentry: a TCP round trip between threads,
/// IPv6 and UDP, then `http.server` serving `urllib.request`, all over
/// loopback. The Python modules the script imports on the host (it lists
/// them when given `list`) are installed in the sandbox with the
/// interpreter and the libraries they need. Skipped without python3.
#[test]
fn python_http_server_and_client_over_loopback() {
    init_logging();
    if !std::path::Path::new(PYTHON).exists() {
        eprintln!("SKIPPED: {PYTHON} not available");
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/guests/loopback.py");
    let native =
        std::process::Command::new(PYTHON).args(["-I", "-S", "-B", script, "list"]).output().expect("run python3");
    assert!(native.status.success(), "{native:?}");
    assert_eq!(String::from_utf8_lossy(&native.stdout), PYTHON_EXPECTED);

    let k = common::kernel();
    let exe = std::fs::canonicalize(PYTHON).expect("python3 binary");
    common::install_host_file(&k, PYTHON);
    common::install_runtime(&k, &exe);
    for file in String::from_utf8_lossy(&native.stderr).lines().filter(|l| l.starts_with("/usr/")) {
        common::install_host_file(&k, file);
        if file.ends_with(".so") {
            // Extension modules: the libraries they link (libssl, ...).
            let out = std::process::Command::new("ldd").arg(file).output().expect("ldd");
            for lib in String::from_utf8_lossy(&out.stdout).lines() {
                if let Some(path) = lib.split_whitespace().find(|w| w.starts_with('/')) {
                    common::install_host_file(&k, path);
                }
            }
        }
    }
    let code = std::fs::read(script).expect("read the script");
    k.root_fs().write_file("/tmp/loopback.py", &code, 0o644).expect("install the script");
    let r = common::run_in(&k, &[PYTHON, "-I", "-S", "-B", "/tmp/loopback.py"], &["PATH=/usr/bin:/bin", "HOME=/"]);
    assert_eq!(r.status, ExitStatus::Exited(0), "{r:?}");
    assert_eq!(r.stdout, PYTHON_EXPECTED, "{r:?}");
}
