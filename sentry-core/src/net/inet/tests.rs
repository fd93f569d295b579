use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Weak};

use super::*;
use crate::net::Socket;
use crate::vfs::IoCtx;

fn sin(ip: [u8; 4], port: u16) -> Vec<u8> {
    encode(libc::AF_INET, SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), port))
}

fn sin6(ip: Ipv6Addr, port: u16) -> Vec<u8> {
    let mut v = vec![0u8; SOCKADDR_IN6_LEN];
    v[0..2].copy_from_slice(&(libc::AF_INET6 as u16).to_le_bytes());
    v[2..4].copy_from_slice(&port.to_be_bytes());
    v[8..24].copy_from_slice(&ip.octets());
    v
}

fn v4(a: [u8; 4], port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::from(a)), port)
}

#[test]
fn sockaddr_in_round_trip_and_layout() {
    let raw = sin([127, 0, 0, 1], 0x1234);
    assert_eq!(raw.len(), 16);
    assert_eq!(&raw[..8], &[2, 0, 0x12, 0x34, 127, 0, 0, 1]);
    assert_eq!(parse_bind(libc::AF_INET, &raw), Ok(v4([127, 0, 0, 1], 0x1234)));
    // An IPv4 address reported by an IPv6 socket is mapped.
    let six = encode(libc::AF_INET6, v4([127, 0, 0, 1], 80));
    assert_eq!(six.len(), 28);
    assert_eq!(&six[8..24], &Ipv4Addr::LOCALHOST.to_ipv6_mapped().octets());
    assert_eq!(parse_connect(libc::AF_INET6, &six), Ok(Parsed::Addr(v4([127, 0, 0, 1], 80))));
}

#[test]
fn sockaddr_checks_follow_linux() {
    let raw = sin([127, 0, 0, 1], 1);
    assert_eq!(parse_bind(libc::AF_INET, &raw[..15]), Err(Errno::EINVAL));
    assert_eq!(parse_bind(libc::AF_INET, &[]), Err(Errno::EINVAL));
    assert_eq!(parse_bind(libc::AF_INET6, &raw), Err(Errno::EINVAL));
    let mut wrong = raw.clone();
    wrong[0] = libc::AF_INET6 as u8;
    assert_eq!(parse_bind(libc::AF_INET, &wrong), Err(Errno::EAFNOSUPPORT));
    // AF_UNSPEC with INADDR_ANY binds on AF_INET; with another address not.
    let mut unspec = sin([0, 0, 0, 0], 7);
    unspec[0] = 0;
    assert_eq!(parse_bind(libc::AF_INET, &unspec), Ok(v4([0, 0, 0, 0], 7)));
    unspec[4] = 127;
    assert_eq!(parse_bind(libc::AF_INET, &unspec), Err(Errno::EAFNOSUPPORT));
    // connect: AF_UNSPEC first, then the length, then the family.
    assert_eq!(parse_connect(libc::AF_INET, &[0, 0]), Ok(Parsed::Unspec));
    assert_eq!(parse_connect(libc::AF_INET, &[2]), Err(Errno::EINVAL));
    assert_eq!(parse_connect(libc::AF_INET, &raw[..8]), Err(Errno::EINVAL));
    assert_eq!(parse_connect(libc::AF_INET, &wrong), Err(Errno::EAFNOSUPPORT));
    let six = sin6(Ipv6Addr::LOCALHOST, 5);
    assert_eq!(parse_connect(libc::AF_INET6, &six[..23]), Err(Errno::EINVAL));
    assert_eq!(
        parse_connect(libc::AF_INET6, &six[..24]),
        Ok(Parsed::Addr(SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 5)))
    );
    // sendto on AF_INET6 takes an AF_INET address and ignores AF_UNSPEC.
    assert_eq!(parse_dest(libc::AF_INET6, &raw), Ok(Parsed::Addr(v4([127, 0, 0, 1], 1))));
    assert_eq!(parse_dest(libc::AF_INET6, &[0, 0]), Ok(Parsed::Unspec));
    assert_eq!(parse_dest(libc::AF_INET6, &[1, 0, 0, 0]), Err(Errno::EINVAL));
    assert_eq!(parse_dest(libc::AF_INET, &six), Err(Errno::EAFNOSUPPORT));
}

#[test]
fn only_loopback_exists() {
    let lo = IpAddr::V4(Ipv4Addr::new(127, 1, 2, 3));
    assert_eq!(check_local(libc::AF_INET, false, lo), Ok(()));
    assert_eq!(check_local(libc::AF_INET, false, IpAddr::V4(Ipv4Addr::UNSPECIFIED)), Ok(()));
    assert_eq!(check_local(libc::AF_INET, false, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))), Err(Errno::EADDRNOTAVAIL));
    assert_eq!(check_local(libc::AF_INET6, false, IpAddr::V6(Ipv6Addr::LOCALHOST)), Ok(()));
    assert_eq!(check_local(libc::AF_INET6, true, lo), Err(Errno::EINVAL));
    assert_eq!(route(libc::AF_INET, false, v4([8, 8, 8, 8], 53)), Err(Errno::ENETUNREACH));
    assert_eq!(route(libc::AF_INET, false, v4([0, 0, 0, 0], 53)), Ok(v4([127, 0, 0, 1], 53)));
    assert_eq!(route(libc::AF_INET6, true, v4([127, 0, 0, 1], 53)), Err(Errno::ENETUNREACH));
}

fn binding(id: u64, ip: IpAddr) -> Binding {
    Binding { id, ip, v6only: false, reuseaddr: false, reuseport: false, listening: false, peer: None }
}

#[test]
fn port_conflicts() {
    let mut t: Table<()> = Table::new(0);
    let any4 = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    let any6 = IpAddr::V6(Ipv6Addr::UNSPECIFIED);
    let lo4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let lo4b = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let lo6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
    assert_eq!(t.bind(5000, binding(1, lo4), Weak::new(), Proto::Tcp), Ok(5000));
    assert_eq!(t.bind(5000, binding(2, lo4), Weak::new(), Proto::Tcp), Err(Errno::EADDRINUSE));
    assert_eq!(t.bind(5000, binding(2, any4), Weak::new(), Proto::Tcp), Err(Errno::EADDRINUSE));
    // A dual-stack wildcard overlaps IPv4; a v6-only one does not.
    assert_eq!(t.bind(5000, binding(2, any6), Weak::new(), Proto::Tcp), Err(Errno::EADDRINUSE));
    let v6only = Binding { v6only: true, ..binding(2, any6) };
    assert_eq!(t.bind(5000, v6only, Weak::new(), Proto::Tcp), Ok(5000));
    assert_eq!(t.bind(5000, binding(3, lo4b), Weak::new(), Proto::Tcp), Ok(5000));
    assert_eq!(t.bind(5000, binding(4, lo6), Weak::new(), Proto::Tcp), Err(Errno::EADDRINUSE));
    t.unbind(5000, 2);
    assert_eq!(t.bind(5000, binding(4, lo6), Weak::new(), Proto::Tcp), Ok(5000));

    // SO_REUSEADDR: shared while nobody listens; one listener at most.
    let r = |id| Binding { reuseaddr: true, ..binding(id, lo4) };
    assert_eq!(t.bind(6000, r(10), Weak::new(), Proto::Tcp), Ok(6000));
    assert_eq!(t.bind(6000, r(11), Weak::new(), Proto::Tcp), Ok(6000));
    assert_eq!(t.update(6000, 10, Proto::Tcp, |b| b.listening = true), Ok(()));
    assert_eq!(t.update(6000, 11, Proto::Tcp, |b| b.listening = true), Err(Errno::EADDRINUSE));
    assert_eq!(t.bind(6000, r(12), Weak::new(), Proto::Tcp), Err(Errno::EADDRINUSE));
    // SO_REUSEPORT on both: several listeners.
    let p = |id| Binding { reuseport: true, listening: true, ..binding(id, lo4) };
    assert_eq!(t.bind(7000, p(20), Weak::new(), Proto::Tcp), Ok(7000));
    assert_eq!(t.bind(7000, p(21), Weak::new(), Proto::Tcp), Ok(7000));
    // UDP: SO_REUSEADDR on both shares the port.
    assert_eq!(t.bind(8000, r(30), Weak::new(), Proto::Udp), Ok(8000));
    assert_eq!(t.bind(8000, r(31), Weak::new(), Proto::Udp), Ok(8000));
    assert_eq!(t.bind(8000, binding(32, lo4), Weak::new(), Proto::Udp), Err(Errno::EADDRINUSE));
}

#[test]
fn ephemeral_ports_are_in_range_and_distinct() {
    let mut t: Table<()> = Table::new(28230);
    let lo4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut seen = std::collections::HashSet::new();
    for id in 0..100 {
        let p = t.bind(0, binding(id, lo4), Weak::new(), Proto::Tcp).unwrap_or(0);
        assert!(EPHEMERAL.contains(&p), "{p}");
        assert!(seen.insert(p));
    }
    // A full range: EADDRINUSE, not a loop forever.
    let mut full: Table<()> = Table::new(0);
    for p in EPHEMERAL {
        full.ports.insert(p, vec![Entry { b: binding(1, lo4), sock: Weak::new() }]);
    }
    assert_eq!(full.bind(0, binding(2, lo4), Weak::new(), Proto::Tcp), Err(Errno::EADDRINUSE));
}

#[test]
fn lookup_prefers_exact_and_respects_families() {
    let mut t: Table<u32> = Table::new(0);
    let wild = Arc::new(1u32);
    let exact = Arc::new(2u32);
    let six = Arc::new(3u32);
    let src = v4([127, 0, 0, 1], 1);
    let r = |id, ip| Binding { reuseaddr: true, ..binding(id, ip) };
    assert_eq!(t.bind(9, r(1, IpAddr::V4(Ipv4Addr::UNSPECIFIED)), Arc::downgrade(&wild), Proto::Udp), Ok(9));
    assert_eq!(t.bind(9, r(2, IpAddr::V4(Ipv4Addr::LOCALHOST)), Arc::downgrade(&exact), Proto::Udp), Ok(9));
    let v6only = Binding { v6only: true, ..binding(3, IpAddr::V6(Ipv6Addr::UNSPECIFIED)) };
    assert_eq!(t.bind(9, v6only, Arc::downgrade(&six), Proto::Udp), Ok(9));
    let get = |ip: IpAddr| t.lookup(9, ip, src, |_| true).map(|a| *a);
    assert_eq!(get(IpAddr::V4(Ipv4Addr::LOCALHOST)), Some(2));
    assert_eq!(get(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 9))), Some(1));
    assert_eq!(get(IpAddr::V6(Ipv6Addr::LOCALHOST)), Some(3));
    drop(exact);
    assert_eq!(get(IpAddr::V4(Ipv4Addr::LOCALHOST)), Some(1));
}

fn cx() -> crate::net::SockCtx {
    crate::net::SockCtx { pid: 1, creds: crate::kernel::Credentials::new(0, 0), fs: None }
}

#[test]
fn tcp_connection_moves_bytes_both_ways() {
    let stack = Stack::new();
    let io = IoCtx::internal();
    let l = tcp::TcpSocket::new(stack.clone(), libc::AF_INET6);
    assert_eq!(l.bind(&cx(), &sin6(Ipv6Addr::UNSPECIFIED, 0)), Ok(()));
    assert_eq!(l.listen(&cx(), 1), Ok(()));
    let name = l.local_name();
    let port = u16::from_be_bytes([name[2], name[3]]);
    let c = tcp::TcpSocket::new(stack.clone(), libc::AF_INET);
    // A non-blocking connect on loopback: EINPROGRESS, then 0, then EISCONN.
    assert_eq!(c.connect(&cx(), &io, &sin([127, 0, 0, 1], port)), Err(Errno::EINPROGRESS));
    assert_eq!(c.connect(&cx(), &io, &sin([127, 0, 0, 1], port)), Ok(()));
    assert_eq!(c.connect(&cx(), &io, &sin([127, 0, 0, 1], port)), Err(Errno::EISCONN));
    let s = l.accept(&io).unwrap_or_else(|e| panic!("accept: {e:?}"));
    // The v6 listener sees the v4 client as mapped.
    let peer = s.peer_name().unwrap_or_default();
    assert_eq!(peer.len(), 28);
    assert_eq!(&peer[8..24], &Ipv4Addr::LOCALHOST.to_ipv6_mapped().octets());
    assert_eq!(peer[2..4], c.local_name()[2..4]);
    let msg = crate::net::SendMsg { data: b"hello".to_vec(), len: 5, ..Default::default() };
    assert_eq!(c.send(&cx(), &io, msg), Ok(5));
    let r = s.recv(&io, 3, libc::MSG_PEEK).map(|r| r.data);
    assert_eq!(r.as_deref(), Ok(&b"hel"[..]));
    let r = s.recv(&io, 100, 0).map(|r| r.data);
    assert_eq!(r.as_deref(), Ok(&b"hello"[..]));
    assert_eq!(s.recv(&io, 100, 0).map(|r| r.data.len()), Err(Errno::EAGAIN));
    assert_eq!(c.shutdown(libc::SHUT_WR), Ok(()));
    assert_eq!(s.recv(&io, 100, 0).map(|r| r.data.len()), Ok(0));
    // Filling the connection: EAGAIN once the peer's window is full.
    let mut total = 0;
    loop {
        let msg = crate::net::SendMsg { data: vec![0; 65536], len: 65536, ..Default::default() };
        match s.send(&cx(), &io, msg) {
            Ok(n) => total += n,
            Err(e) => {
                assert_eq!(e, Errno::EAGAIN);
                break;
            }
        }
        assert!(total < 10 << 20);
    }
    assert!(total > 0);
    assert_eq!(s.readiness(events_out()), 0);
    // Closing the client with unread data resets the server end; it had
    // seen the client's FIN, so it reads end-of-file and cannot send.
    c.release();
    assert_eq!(s.recv(&io, 1, 0).map(|r| r.data.len()), Ok(0));
    let msg = crate::net::SendMsg { data: b"x".to_vec(), len: 1, ..Default::default() };
    assert_eq!(s.send(&cx(), &io, msg), Err(Errno::EPIPE));
    s.release();
    l.release();
    // The port is free again.
    let l2 = tcp::TcpSocket::new(stack, libc::AF_INET);
    assert_eq!(l2.bind(&cx(), &sin([127, 0, 0, 1], port)), Ok(()));
}

fn events_out() -> u32 {
    crate::kernel::waiter::events::POLLOUT
}

#[test]
fn tcp_refused_and_unreachable() {
    let stack = Stack::new();
    let io = IoCtx::internal();
    let c = tcp::TcpSocket::new(stack.clone(), libc::AF_INET);
    let u = udp::UdpSocket::new(stack.clone(), libc::AF_INET);
    assert_eq!(u.bind(&cx(), &sin([127, 0, 0, 1], 0)), Ok(()));
    let port = u16::from_be_bytes([u.local_name()[2], u.local_name()[3]]);
    // A UDP port is no TCP listener.
    assert_eq!(c.connect(&cx(), &io, &sin([127, 0, 0, 1], port)), Err(Errno::ECONNREFUSED));
    assert_eq!(c.connect(&cx(), &io, &sin([10, 1, 2, 3], port)), Err(Errno::ENETUNREACH));
    assert_eq!(c.bind(&cx(), &sin([192, 168, 0, 1], 0)), Err(Errno::EADDRNOTAVAIL));
}

#[test]
fn udp_datagrams_carry_their_source() {
    let stack = Stack::new();
    let io = IoCtx::internal();
    let a = udp::UdpSocket::new(stack.clone(), libc::AF_INET);
    let b = udp::UdpSocket::new(stack.clone(), libc::AF_INET6);
    assert_eq!(b.bind(&cx(), &sin6(Ipv6Addr::UNSPECIFIED, 0)), Ok(()));
    let bport = u16::from_be_bytes([b.local_name()[2], b.local_name()[3]]);
    let msg = crate::net::SendMsg {
        data: b"ping".to_vec(),
        len: 4,
        to: Some(sin([127, 0, 0, 1], bport)),
        ..Default::default()
    };
    assert_eq!(a.send(&cx(), &io, msg), Ok(4));
    let r = b.recv(&io, 2, 0).unwrap_or_default();
    assert_eq!(r.data, b"pi");
    assert_eq!(r.msg_len, 4);
    assert_eq!(r.flags, libc::MSG_TRUNC);
    let from = r.from.unwrap_or_default();
    assert_eq!(&from[8..24], &Ipv4Addr::LOCALHOST.to_ipv6_mapped().octets());
    assert_eq!(from[2..4], a.local_name()[2..4]);
    // Too big for IPv4.
    let big = crate::net::SendMsg { len: 65508, to: Some(sin([127, 0, 0, 1], bport)), ..Default::default() };
    assert_eq!(a.send(&cx(), &io, big), Err(Errno::EMSGSIZE));
    // Connected to a port nobody has: the next operation is refused.
    b.release();
    assert_eq!(a.connect(&cx(), &io, &sin([127, 0, 0, 1], bport)), Ok(()));
    let msg = crate::net::SendMsg { data: b"x".to_vec(), len: 1, ..Default::default() };
    assert_eq!(a.send(&cx(), &io, msg), Ok(1));
    assert_eq!(a.recv(&io, 1, 0).map(|r| r.data), Err(Errno::ECONNREFUSED));
    assert_eq!(a.recv(&io, 1, 0).map(|r| r.data), Err(Errno::EAGAIN));
}

fn port_of(s: &dyn Socket) -> u16 {
    let n = s.local_name();
    u16::from_be_bytes([n[2], n[3]])
}

#[test]
fn tcp_blocking_operations_wake_up() {
    use crate::kernel::waiter::Waker;
    let stack = Stack::new();
    let l = tcp::TcpSocket::new(stack.clone(), libc::AF_INET);
    assert_eq!(l.listen(&cx(), 0), Ok(()));
    let port = port_of(&*l);
    // A blocked accept wakes when a client connects.
    let st = stack.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(20));
        let c = tcp::TcpSocket::new(st, libc::AF_INET);
        let r = c.connect(&cx(), &IoCtx::internal(), &sin([127, 0, 0, 1], port));
        (c, r)
    });
    let waker = Arc::new(Waker::default());
    let blocking = IoCtx { nonblock: false, mm: None, interrupted: &|| false, waker: Some(&waker) };
    let s = l.accept(&blocking).unwrap_or_else(|e| panic!("accept: {e:?}"));
    let (c, r) = t.join().unwrap_or_else(|_| panic!("client thread"));
    assert_eq!(r, Err(Errno::EINPROGRESS));
    // Backlog 0 holds one pending connection. Beyond it, a non-blocking
    // connect waits in line (EINPROGRESS, not writable, EALREADY) and a
    // blocking one sleeps; accepts admit both.
    let nb = IoCtx::internal();
    let to = sin([127, 0, 0, 1], port);
    let p1 = tcp::TcpSocket::new(stack.clone(), libc::AF_INET);
    assert_eq!(p1.connect(&cx(), &nb, &to), Err(Errno::EINPROGRESS));
    let p2 = tcp::TcpSocket::new(stack.clone(), libc::AF_INET);
    assert_eq!(p2.connect(&cx(), &nb, &to), Err(Errno::EINPROGRESS));
    assert_eq!(p2.readiness(events_out()), 0);
    assert_eq!(p2.connect(&cx(), &nb, &to), Err(Errno::EALREADY));
    let l2 = l.clone();
    let t = std::thread::spawn(move || {
        let mut accepted = Vec::new();
        for _ in 0..500 {
            std::thread::sleep(std::time::Duration::from_millis(2));
            if let Ok(s) = l2.accept(&IoCtx::internal()) {
                accepted.push(s);
                if accepted.len() == 2 {
                    break;
                }
            }
        }
        accepted
    });
    let p3 = tcp::TcpSocket::new(stack.clone(), libc::AF_INET);
    assert_eq!(p3.connect(&cx(), &blocking, &to), Ok(()));
    let accepted = t.join().unwrap_or_default();
    assert_eq!(accepted.len(), 2);
    assert_eq!(p2.readiness(events_out()), events_out());
    assert_eq!(p2.connect(&cx(), &nb, &to), Ok(()));
    assert_eq!(p2.connect(&cx(), &nb, &to), Err(Errno::EISCONN));
    // A listener that stops refuses whoever still waits.
    let p4 = tcp::TcpSocket::new(stack.clone(), libc::AF_INET);
    assert_eq!(p4.connect(&cx(), &nb, &to), Err(Errno::EINPROGRESS));
    assert_eq!(l.shutdown(libc::SHUT_RD), Ok(()));
    assert_eq!(p4.connect(&cx(), &nb, &to), Err(Errno::ECONNREFUSED));
    assert_eq!(p4.readiness(events_out()), events_out());
    for x in accepted {
        x.release();
    }
    // A blocking send larger than the window completes as the reader
    // drains, and MSG_WAITALL gathers it all.
    let big = vec![7u8; 1 << 20];
    let s2 = s.clone();
    let t = std::thread::spawn(move || {
        let waker = Arc::new(Waker::default());
        let blocking = IoCtx { nonblock: false, mm: None, interrupted: &|| false, waker: Some(&waker) };
        s2.recv(&blocking, 1 << 20, libc::MSG_WAITALL).map(|r| r.data.len())
    });
    let msg = crate::net::SendMsg { data: big.clone(), len: big.len(), ..Default::default() };
    assert_eq!(c.send(&cx(), &blocking, msg), Ok(big.len()));
    assert_eq!(t.join().unwrap_or(Err(Errno::EIO)), Ok(big.len()));
    // Interruption ends a wait.
    let interrupted = IoCtx { nonblock: false, mm: None, interrupted: &|| true, waker: Some(&waker) };
    assert_eq!(s.recv(&interrupted, 10, 0).err(), Some(Errno::ERESTARTSYS));
    for x in [c, s, p1, p2, p3, p4] {
        x.release();
    }
    l.release();
}
