//! `AF_INET` and `AF_INET6` sockets on a loopback-only network.
//!
//! A sandbox has exactly one network interface, `lo` (what gVisor's
//! `--network=none` gives): programs in one sandbox can talk to each other
//! over `127.0.0.0/8` and `::1`, and nothing leaves the Sentry.
//!
//! # Model
//!
//! There are no packets. A TCP connection ([`tcp`]) is two byte queues,
//! one owned by each end (what it has received), with the connection
//! handshake, acknowledgements, retransmission, windows and congestion
//! control all absent: a `connect` to a listening port creates the server
//! end at once and queues it on the listener, as loopback TCP appears to
//! an application. A UDP socket ([`udp`]) owns a queue of received
//! datagrams; sending looks the destination port up and appends.
//!
//! Addresses are kept in a canonical form: an IPv4-mapped IPv6 address
//! (`::ffff:a.b.c.d`) is the IPv4 address, so an `AF_INET6` socket that
//! is not `IPV6_V6ONLY` talks to `AF_INET` sockets as Linux's dual-stack
//! sockets do, and reports their addresses as mapped ones.
//!
//! Ports live in a [`Stack`], one per kernel (sandbox): TCP and UDP have
//! separate port spaces. Binding follows Linux's conflict rules
//! (`SO_REUSEADDR`, `SO_REUSEPORT`, wildcard and dual-stack overlap), port
//! 0 picks an ephemeral port in 32768..=60999, and `connect`, `listen`
//! and `sendto` bind an unbound socket to an ephemeral port. An accepted
//! connection holds its listener's port until it is closed (a new
//! listener there needs `SO_REUSEADDR` on both, as in Linux). A UDP socket
//! that `connect` bound automatically loses its port again when it
//! disconnects (`AF_UNSPEC`).
//!
//! The interface ioctls (`SIOCGIFCONF`, `SIOCGIFFLAGS`, `SIOCGIFINDEX`,
//! `SIOCGIFNAME`, ...) describe `lo` alone: index 1, `127.0.0.1/8`,
//! `UP|LOOPBACK|RUNNING`, MTU 65536.
//!
//! # Locking
//!
//! As for Unix sockets: each socket has one mutex, at most one socket
//! mutex is held at a time, the [`Stack`]'s mutex may be taken while a
//! socket's is held and nothing is taken while holding it, and wait queues
//! are notified with no lock held.
//!
//! # Not implemented
//!
//! Interfaces other than `lo`, routing, raw sockets (`SOCK_RAW` is
//! `EPERM` without `CAP_NET_RAW`, `EPROTONOSUPPORT` with it), ICMP
//! (except the port-unreachable error UDP senders see), IP options,
//! broadcast and multicast, and ancillary data (`IP_PKTINFO`,
//! `IP_RECVERR`, timestamps: the options are recorded but nothing is
//! delivered); `TIME_WAIT` (a closed connection's port is free at once);
//! urgent data (`MSG_OOB`); `MSG_TRUNC` on TCP; privileged ports (binding
//! below 1024 needs no capability); `SO_LINGER` timeouts (the option is
//! recorded, and a zero linger time makes `close` reset the connection);
//! `SO_RCVLOWAT`; `TCP_INFO`; the interface ioctls that set anything.

pub mod tcp;
pub mod udp;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use super::unix::{int_bytes, parse_timeval, timeval_bytes};
use crate::errno::{Errno, SysResult};
use crate::mm::lock;
use crate::vfs::IoCtx;

/// `sizeof(struct sockaddr_in)`.
pub const SOCKADDR_IN_LEN: usize = 16;
/// `sizeof(struct sockaddr_in6)`.
pub const SOCKADDR_IN6_LEN: usize = 28;
/// `SIN6_LEN_RFC2133`: the shortest `sockaddr_in6` Linux accepts.
const SOCKADDR_IN6_MIN: usize = 24;
/// Linux's default `ip_local_port_range`.
pub const EPHEMERAL: std::ops::RangeInclusive<u16> = 32768..=60999;

const IPPROTO_IP: i32 = 0;
const IPPROTO_TCP: i32 = 6;
const IPPROTO_UDP: i32 = 17;
const IPPROTO_IPV6: i32 = 41;

/// The canonical form of an address: IPv4-mapped IPv6 addresses are IPv4.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// Whether `ip` (canonical) is on the loopback interface.
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => a.octets()[0] == 127,
        IpAddr::V6(a) => a == Ipv6Addr::LOCALHOST,
    }
}

/// The address this host sends from to reach `dst` (canonical, loopback).
fn source_for(dst: IpAddr) -> IpAddr {
    match dst {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
    }
}

/// A decoded `sockaddr` argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// `AF_UNSPEC` (a `connect` that dissolves an association).
    Unspec,
    /// An address and port (the address canonical).
    Addr(SocketAddr),
}

fn family_of(raw: &[u8]) -> Option<i32> {
    Some(u16::from_le_bytes([*raw.first()?, *raw.get(1)?]) as i32)
}

/// Decodes the address of a `sockaddr_in` or `sockaddr_in6` whose family
/// and length were checked.
fn decode(fam: i32, raw: &[u8]) -> Option<SocketAddr> {
    let port = u16::from_be_bytes([*raw.get(2)?, *raw.get(3)?]);
    let ip = if fam == libc::AF_INET6 {
        let b: [u8; 16] = raw.get(8..24)?.try_into().ok()?;
        IpAddr::V6(Ipv6Addr::from(b))
    } else {
        let b: [u8; 4] = raw.get(4..8)?.try_into().ok()?;
        IpAddr::V4(Ipv4Addr::from(b))
    };
    Some(SocketAddr::new(canonical(ip), port))
}

/// Decodes a `bind` address for a socket of `family` (Linux's
/// `inet_bind`/`inet6_bind` checks).
pub fn parse_bind(family: i32, raw: &[u8]) -> Result<SocketAddr, Errno> {
    let min = if family == libc::AF_INET6 { SOCKADDR_IN6_MIN } else { SOCKADDR_IN_LEN };
    if raw.len() < min {
        return Err(Errno::EINVAL);
    }
    let fam = family_of(raw).ok_or(Errno::EINVAL)?;
    if fam != family {
        // Linux accepts AF_UNSPEC with INADDR_ANY on AF_INET, for old
        // programs.
        let any = family == libc::AF_INET && fam == libc::AF_UNSPEC && raw[4..8] == [0; 4];
        if !any {
            return Err(Errno::EAFNOSUPPORT);
        }
    }
    decode(family, raw).ok_or(Errno::EINVAL)
}

/// Decodes a `connect` address (`AF_UNSPEC` is a disconnect).
pub fn parse_connect(family: i32, raw: &[u8]) -> Result<Parsed, Errno> {
    let fam = family_of(raw).ok_or(Errno::EINVAL)?;
    if fam == libc::AF_UNSPEC {
        return Ok(Parsed::Unspec);
    }
    let min = if family == libc::AF_INET6 { SOCKADDR_IN6_MIN } else { SOCKADDR_IN_LEN };
    if raw.len() < min {
        return Err(Errno::EINVAL);
    }
    if fam != family {
        return Err(Errno::EAFNOSUPPORT);
    }
    decode(family, raw).map(Parsed::Addr).ok_or(Errno::EINVAL)
}

/// Decodes a UDP destination (`sendto`): `Unspec` means "no address".
pub fn parse_dest(family: i32, raw: &[u8]) -> Result<Parsed, Errno> {
    if family == libc::AF_INET {
        if raw.len() < SOCKADDR_IN_LEN {
            return Err(Errno::EINVAL);
        }
        return match family_of(raw) {
            Some(libc::AF_INET) | Some(libc::AF_UNSPEC) => {
                decode(libc::AF_INET, raw).map(Parsed::Addr).ok_or(Errno::EINVAL)
            }
            _ => Err(Errno::EAFNOSUPPORT),
        };
    }
    match family_of(raw).ok_or(Errno::EINVAL)? {
        libc::AF_INET6 if raw.len() >= SOCKADDR_IN6_MIN => {
            decode(libc::AF_INET6, raw).map(Parsed::Addr).ok_or(Errno::EINVAL)
        }
        libc::AF_INET if raw.len() >= SOCKADDR_IN_LEN => {
            decode(libc::AF_INET, raw).map(Parsed::Addr).ok_or(Errno::EINVAL)
        }
        libc::AF_UNSPEC => Ok(Parsed::Unspec),
        _ => Err(Errno::EINVAL),
    }
}

/// Encodes `addr` (canonical) as a socket of `family` reports it: a
/// `sockaddr_in`, or a `sockaddr_in6` (IPv4 addresses mapped).
pub fn encode(family: i32, addr: SocketAddr) -> Vec<u8> {
    let port = addr.port().to_be_bytes();
    if family == libc::AF_INET6 {
        let ip = match addr.ip() {
            IpAddr::V4(a) => a.to_ipv6_mapped(),
            IpAddr::V6(a) => a,
        };
        let mut v = vec![0u8; SOCKADDR_IN6_LEN];
        v[0..2].copy_from_slice(&(libc::AF_INET6 as u16).to_le_bytes());
        v[2..4].copy_from_slice(&port);
        v[8..24].copy_from_slice(&ip.octets());
        v
    } else {
        let ip = match addr.ip() {
            IpAddr::V4(a) => a,
            IpAddr::V6(a) => a.to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED),
        };
        let mut v = vec![0u8; SOCKADDR_IN_LEN];
        v[0..2].copy_from_slice(&(libc::AF_INET as u16).to_le_bytes());
        v[2..4].copy_from_slice(&port);
        v[4..8].copy_from_slice(&ip.octets());
        v
    }
}

/// The unbound address of a socket of `family` (`0.0.0.0:0` or `[::]:0`).
pub fn unspecified(family: i32) -> SocketAddr {
    if family == libc::AF_INET6 {
        SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0)
    } else {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)
    }
}

/// Checks a local address to bind for a socket of `family`: a wildcard or
/// a loopback address (`EADDRNOTAVAIL` otherwise).
pub fn check_local(family: i32, v6only: bool, ip: IpAddr) -> Result<(), Errno> {
    if family == libc::AF_INET6 && v6only && ip.is_ipv4() {
        return Err(Errno::EINVAL);
    }
    if ip.is_unspecified() || is_loopback(ip) {
        Ok(())
    } else {
        Err(Errno::EADDRNOTAVAIL)
    }
}

/// The destination a socket of `family` really reaches for `dst`: the
/// unspecified address means this host; anything off `lo` is unreachable.
pub fn route(family: i32, v6only: bool, dst: SocketAddr) -> Result<SocketAddr, Errno> {
    if family == libc::AF_INET6 && v6only && dst.is_ipv4() {
        return Err(Errno::ENETUNREACH);
    }
    let ip = dst.ip();
    if ip.is_unspecified() {
        return Ok(SocketAddr::new(source_for(ip), dst.port()));
    }
    if !is_loopback(ip) {
        return Err(Errno::ENETUNREACH);
    }
    Ok(dst)
}

/// The two transport protocols, each with its own ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Proto {
    Tcp,
    Udp,
}

/// What a bound socket occupies in the port table.
#[derive(Clone, Debug)]
pub struct Binding {
    /// The socket's identity (unique in the stack).
    pub id: u64,
    /// Local address (canonical; a wildcard is unspecified).
    pub ip: IpAddr,
    /// An `AF_INET6` wildcard that does not take IPv4.
    pub v6only: bool,
    pub reuseaddr: bool,
    pub reuseport: bool,
    /// TCP: listening.
    pub listening: bool,
    /// UDP: the connected peer (only its datagrams are delivered).
    pub peer: Option<SocketAddr>,
}

const FAM_V4: u8 = 1;
const FAM_V6: u8 = 2;

impl Binding {
    /// The binding of socket `id` to `ip` with its options as they are.
    pub(crate) fn for_socket(id: u64, ip: IpAddr, opts: &Opts) -> Binding {
        Binding {
            id,
            ip,
            v6only: opts.v6only,
            reuseaddr: opts.flag(libc::SOL_SOCKET, libc::SO_REUSEADDR),
            reuseport: opts.flag(libc::SOL_SOCKET, libc::SO_REUSEPORT),
            listening: false,
            peer: None,
        }
    }

    /// The address families a wildcard takes.
    fn families(&self) -> u8 {
        match self.ip {
            IpAddr::V4(_) => FAM_V4,
            IpAddr::V6(_) if self.v6only => FAM_V6,
            IpAddr::V6(_) => FAM_V4 | FAM_V6,
        }
    }

    /// Whether traffic to `dst` (canonical) reaches this binding's address.
    pub fn covers(&self, dst: IpAddr) -> bool {
        if self.ip.is_unspecified() {
            let fam = if dst.is_ipv4() { FAM_V4 } else { FAM_V6 };
            self.families() & fam != 0
        } else {
            self.ip == dst
        }
    }

    /// Whether two bindings of one port have addresses in common.
    fn overlaps(&self, other: &Binding) -> bool {
        match (self.ip.is_unspecified(), other.ip.is_unspecified()) {
            (false, false) => self.ip == other.ip,
            (true, false) => self.covers(other.ip),
            (false, true) => other.covers(self.ip),
            (true, true) => self.families() & other.families() != 0,
        }
    }

    /// Whether `new` may share the port with `self` (Linux's
    /// `inet_csk_bind_conflict`/`udp_lib_lport_inuse` rules).
    fn compatible(&self, new: &Binding, proto: Proto) -> bool {
        if !self.overlaps(new) {
            return true;
        }
        if self.reuseport && new.reuseport {
            return true;
        }
        match proto {
            Proto::Tcp => self.reuseaddr && new.reuseaddr && !self.listening,
            Proto::Udp => self.reuseaddr && new.reuseaddr,
        }
    }
}

struct Entry<T> {
    b: Binding,
    sock: Weak<T>,
}

/// One protocol's ports.
struct Table<T> {
    ports: HashMap<u16, Vec<Entry<T>>>,
    next: u16,
}

impl<T> Table<T> {
    fn new(seed: u16) -> Table<T> {
        Table { ports: HashMap::new(), next: seed }
    }

    fn conflict(&self, port: u16, b: &Binding, proto: Proto) -> bool {
        self.ports.get(&port).is_some_and(|v| v.iter().any(|e| e.b.id != b.id && !e.b.compatible(b, proto)))
    }

    fn bind(&mut self, port: u16, b: Binding, sock: Weak<T>, proto: Proto) -> Result<u16, Errno> {
        let port = if port == 0 {
            let span = (EPHEMERAL.end() - EPHEMERAL.start()) as u32 + 1;
            let mut found = None;
            for _ in 0..span {
                let p = EPHEMERAL.start() + (self.next as u32 % span) as u16;
                self.next = self.next.wrapping_add(1);
                if self.ports.get(&p).is_none_or(|v| v.is_empty()) {
                    found = Some(p);
                    break;
                }
            }
            found.ok_or(Errno::EADDRINUSE)?
        } else {
            if self.conflict(port, &b, proto) {
                return Err(Errno::EADDRINUSE);
            }
            port
        };
        self.ports.entry(port).or_default().push(Entry { b, sock });
        Ok(port)
    }

    /// Adds `b` on `port` without checking conflicts (an accepted
    /// connection shares its listener's port).
    fn attach(&mut self, port: u16, b: Binding, sock: Weak<T>) {
        self.ports.entry(port).or_default().push(Entry { b, sock });
    }

    fn unbind(&mut self, port: u16, id: u64) {
        if let Some(v) = self.ports.get_mut(&port) {
            v.retain(|e| e.b.id != id);
            if v.is_empty() {
                self.ports.remove(&port);
            }
        }
    }

    fn update(&mut self, port: u16, id: u64, proto: Proto, f: impl FnOnce(&mut Binding)) -> Result<(), Errno> {
        let Some(v) = self.ports.get_mut(&port) else { return Err(Errno::EINVAL) };
        let Some(i) = v.iter().position(|e| e.b.id == id) else { return Err(Errno::EINVAL) };
        let mut nb = v[i].b.clone();
        f(&mut nb);
        if v.iter().any(|e| e.b.id != id && !e.b.compatible(&nb, proto)) {
            return Err(Errno::EADDRINUSE);
        }
        v[i].b = nb;
        Ok(())
    }

    /// The best live socket on `port` for traffic from `src` to `dst`:
    /// one bound to `dst` exactly before a wildcard, a connected one
    /// before an unconnected one.
    fn lookup(&self, port: u16, dst: IpAddr, src: SocketAddr, want: impl Fn(&Binding) -> bool) -> Option<Arc<T>> {
        let v = self.ports.get(&port)?;
        let mut best: Option<(u8, Arc<T>)> = None;
        for e in v {
            if !e.b.covers(dst) || !want(&e.b) || e.b.peer.is_some_and(|p| p != src) {
                continue;
            }
            let score = (!e.b.ip.is_unspecified()) as u8 * 2 + e.b.peer.is_some() as u8;
            if best.as_ref().is_some_and(|(s, _)| *s >= score) {
                continue;
            }
            if let Some(s) = e.sock.upgrade() {
                best = Some((score, s));
            }
        }
        best.map(|(_, s)| s)
    }
}

struct Ports {
    tcp: Table<tcp::TcpSocket>,
    udp: Table<udp::UdpSocket>,
    next_id: u64,
}

/// The network stack of one sandbox: its TCP and UDP ports.
pub struct Stack {
    ports: Mutex<Ports>,
}

impl Stack {
    /// A stack with no bound ports.
    pub fn new() -> Arc<Stack> {
        // Start the ephemeral search somewhere arbitrary, as Linux does.
        let seed =
            (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0)
                % 28232) as u16;
        Arc::new(Stack {
            ports: Mutex::new(Ports { tcp: Table::new(seed), udp: Table::new(seed.wrapping_mul(7)), next_id: 1 }),
        })
    }

    fn new_id(&self) -> u64 {
        let mut p = lock(&self.ports);
        p.next_id += 1;
        p.next_id
    }

    fn bind_tcp(&self, port: u16, b: Binding, s: Weak<tcp::TcpSocket>) -> Result<u16, Errno> {
        lock(&self.ports).tcp.bind(port, b, s, Proto::Tcp)
    }

    fn bind_udp(&self, port: u16, b: Binding, s: Weak<udp::UdpSocket>) -> Result<u16, Errno> {
        lock(&self.ports).udp.bind(port, b, s, Proto::Udp)
    }

    fn attach_tcp(&self, port: u16, b: Binding, s: Weak<tcp::TcpSocket>) {
        lock(&self.ports).tcp.attach(port, b, s)
    }

    fn unbind(&self, proto: Proto, port: u16, id: u64) {
        let mut p = lock(&self.ports);
        match proto {
            Proto::Tcp => p.tcp.unbind(port, id),
            Proto::Udp => p.udp.unbind(port, id),
        }
    }

    fn update(&self, proto: Proto, port: u16, id: u64, f: impl FnOnce(&mut Binding)) -> Result<(), Errno> {
        let mut p = lock(&self.ports);
        match proto {
            Proto::Tcp => p.tcp.update(port, id, proto, f),
            Proto::Udp => p.udp.update(port, id, proto, f),
        }
    }

    fn tcp_listener(&self, dst: SocketAddr) -> Option<Arc<tcp::TcpSocket>> {
        let src = unspecified(libc::AF_INET);
        lock(&self.ports).tcp.lookup(dst.port(), dst.ip(), src, |b| b.listening)
    }

    fn udp_receiver(&self, dst: SocketAddr, src: SocketAddr) -> Option<Arc<udp::UdpSocket>> {
        lock(&self.ports).udp.lookup(dst.port(), dst.ip(), src, |_| true)
    }
}

/// Options both protocols record: socket-level buffers, timeouts and
/// flags, and protocol-level integers.
pub(crate) struct Opts {
    pub sndbuf: usize,
    pub rcvbuf: usize,
    pub rcvtimeo: Option<Duration>,
    pub sndtimeo: Option<Duration>,
    pub linger: [u8; 8],
    pub v6only: bool,
    /// Options recorded and reported back as integers, by (level, name).
    pub plain: BTreeMap<(i32, i32), i32>,
}

/// `IPPROTO_IP` options recorded and reported back with no effect:
/// `IP_PKTINFO`, `IP_MTU_DISCOVER`, `IP_RECVERR`, `IP_RECVTTL`,
/// `IP_RECVTOS`, `IP_FREEBIND`.
const RECORDED_IP: [i32; 6] = [8, 10, 11, 12, 13, 15];
/// `IPPROTO_IPV6` options recorded likewise: `IPV6_MTU_DISCOVER`,
/// `IPV6_RECVERR`, `IPV6_RECVPKTINFO`, `IPV6_TCLASS`.
const RECORDED_IPV6: [i32; 4] = [23, 25, 49, 67];

/// Largest value `SO_SNDBUF`/`SO_RCVBUF` accept before doubling.
const BUF_MAX: usize = 212_992;

impl Opts {
    fn new(sndbuf: usize, rcvbuf: usize) -> Opts {
        Opts { sndbuf, rcvbuf, rcvtimeo: None, sndtimeo: None, linger: [0; 8], v6only: false, plain: BTreeMap::new() }
    }

    fn flag(&self, level: i32, name: i32) -> bool {
        self.plain.get(&(level, name)).is_some_and(|&v| v != 0)
    }

    /// Whether `SO_LINGER` is on with a zero time (close resets).
    fn linger_zero(&self) -> bool {
        self.linger[..4] != [0; 4] && self.linger[4..] == [0; 4]
    }

    /// Options common to TCP and UDP; `Ok(None)` for what the protocol
    /// must answer itself.
    fn get(&self, family: i32, level: i32, name: i32) -> Result<Option<Vec<u8>>, Errno> {
        Ok(Some(match (level, name) {
            (libc::SOL_SOCKET, libc::SO_DOMAIN) => int_bytes(family),
            (libc::SOL_SOCKET, libc::SO_SNDBUF) => int_bytes(self.sndbuf as i32),
            (libc::SOL_SOCKET, libc::SO_RCVBUF) => int_bytes(self.rcvbuf as i32),
            (libc::SOL_SOCKET, libc::SO_RCVTIMEO) => timeval_bytes(self.rcvtimeo),
            (libc::SOL_SOCKET, libc::SO_SNDTIMEO) => timeval_bytes(self.sndtimeo),
            (libc::SOL_SOCKET, libc::SO_LINGER) => self.linger.to_vec(),
            (libc::SOL_SOCKET, libc::SO_RCVLOWAT | libc::SO_SNDLOWAT) => int_bytes(1),
            // No credentials travel over IP.
            (libc::SOL_SOCKET, libc::SO_PEERCRED) => crate::net::Ucred::NONE.to_bytes().to_vec(),
            (libc::SOL_SOCKET, n) if n == libc::SO_PRIORITY || crate::net::RECORDED_FLAGS.contains(&n) => {
                int_bytes(self.plain.get(&(level, name)).copied().unwrap_or(0))
            }
            (IPPROTO_IPV6, libc::IPV6_V6ONLY) if family == libc::AF_INET6 => int_bytes(self.v6only as i32),
            (IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS) if family == libc::AF_INET6 => {
                int_bytes(self.plain.get(&(level, name)).copied().unwrap_or(64))
            }
            (IPPROTO_IP, libc::IP_TTL) => int_bytes(self.plain.get(&(level, name)).copied().unwrap_or(64)),
            (IPPROTO_IP, libc::IP_TOS) => int_bytes(self.plain.get(&(level, name)).copied().unwrap_or(0)),
            (IPPROTO_IP, n) if RECORDED_IP.contains(&n) => {
                int_bytes(self.plain.get(&(level, name)).copied().unwrap_or(0))
            }
            (IPPROTO_IPV6, n) if family == libc::AF_INET6 && RECORDED_IPV6.contains(&n) => {
                int_bytes(self.plain.get(&(level, name)).copied().unwrap_or(0))
            }
            (libc::SOL_SOCKET, libc::SO_TYPE | libc::SO_PROTOCOL | libc::SO_ERROR | libc::SO_ACCEPTCONN) => {
                return Ok(None)
            }
            (libc::SOL_SOCKET, _) | (IPPROTO_IP, _) | (IPPROTO_IPV6, _) => return Err(Errno::ENOPROTOOPT),
            _ => return Ok(None),
        }))
    }

    /// Sets an option common to TCP and UDP; `Ok(false)` for what the
    /// protocol must handle itself.
    fn set(&mut self, family: i32, level: i32, name: i32, value: &[u8]) -> Result<bool, Errno> {
        let int = || -> Result<i32, Errno> {
            let b: [u8; 4] = value.get(..4).ok_or(Errno::EINVAL)?.try_into().map_err(|_| Errno::EINVAL)?;
            Ok(i32::from_le_bytes(b))
        };
        match (level, name) {
            (libc::SOL_SOCKET, libc::SO_SNDBUF) => self.sndbuf = ((int()? as u32 as usize).min(BUF_MAX) * 2).max(4608),
            (libc::SOL_SOCKET, libc::SO_RCVBUF) => self.rcvbuf = ((int()? as u32 as usize).min(BUF_MAX) * 2).max(2304),
            (libc::SOL_SOCKET, libc::SO_RCVTIMEO) => self.rcvtimeo = parse_timeval(value)?,
            (libc::SOL_SOCKET, libc::SO_SNDTIMEO) => self.sndtimeo = parse_timeval(value)?,
            (libc::SOL_SOCKET, libc::SO_LINGER) => {
                let mut l: [u8; 8] = value.get(..8).ok_or(Errno::EINVAL)?.try_into().map_err(|_| Errno::EINVAL)?;
                let on = (l[..4] != [0; 4]) as i32;
                l[..4].copy_from_slice(&on.to_le_bytes());
                self.linger = l;
            }
            (libc::SOL_SOCKET, libc::SO_RCVLOWAT | libc::SO_SNDLOWAT) => {
                int()?;
            }
            (libc::SOL_SOCKET, libc::SO_PRIORITY) => {
                let v = int()?;
                if !(0..=6).contains(&v) {
                    return Err(Errno::EPERM);
                }
                self.plain.insert((level, name), v);
            }
            (libc::SOL_SOCKET, n) if crate::net::RECORDED_FLAGS.contains(&n) => {
                let v = (int()? != 0) as i32;
                self.plain.insert((level, name), v);
            }
            (IPPROTO_IPV6, libc::IPV6_V6ONLY) if family == libc::AF_INET6 => self.v6only = int()? != 0,
            (IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS) if family == libc::AF_INET6 => {
                let v = int()?;
                if !(-1..=255).contains(&v) {
                    return Err(Errno::EINVAL);
                }
                self.plain.insert((level, name), if v == -1 { 64 } else { v });
            }
            (IPPROTO_IP, libc::IP_TTL) => {
                let v = int()?;
                if v == 0 || !(-1..=255).contains(&v) {
                    return Err(Errno::EINVAL);
                }
                self.plain.insert((level, name), if v == -1 { 64 } else { v });
            }
            (IPPROTO_IP, libc::IP_TOS) => {
                let v = int()?;
                self.plain.insert((level, name), v & 0xff);
            }
            (IPPROTO_IP, n) if RECORDED_IP.contains(&n) => {
                let v = int()?;
                self.plain.insert((level, name), v);
            }
            (IPPROTO_IPV6, n) if family == libc::AF_INET6 && RECORDED_IPV6.contains(&n) => {
                let v = int()?;
                self.plain.insert((level, name), v);
            }
            (libc::SOL_SOCKET, _) | (IPPROTO_IP, _) | (IPPROTO_IPV6, _) => return Err(Errno::ENOPROTOOPT),
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// Validates `socket(AF_INET or AF_INET6, ty, protocol)` (type flags
/// removed): whether it is a TCP (`true`) or UDP (`false`) socket.
/// `SOCK_RAW` needs `CAP_NET_RAW` (`EPERM` without it) and is otherwise
/// unsupported, as are other types.
pub fn socket_kind(ty: i32, protocol: i32, net_raw: bool) -> Result<bool, Errno> {
    match ty {
        libc::SOCK_STREAM => match protocol {
            0 | IPPROTO_TCP => Ok(true),
            _ => Err(Errno::EPROTONOSUPPORT),
        },
        libc::SOCK_DGRAM => match protocol {
            0 | IPPROTO_UDP => Ok(false),
            _ => Err(Errno::EPROTONOSUPPORT),
        },
        libc::SOCK_RAW if !net_raw => Err(Errno::EPERM),
        libc::SOCK_RAW => Err(Errno::EPROTONOSUPPORT),
        _ => Err(Errno::ESOCKTNOSUPPORT),
    }
}

/// The one interface: `lo`, index 1.
const LO_NAME: &[u8] = b"lo";
const LO_INDEX: i32 = 1;
/// `IFF_UP | IFF_LOOPBACK | IFF_RUNNING`.
const LO_FLAGS: u16 = 0x1 | 0x8 | 0x40;
/// `lo`'s MTU.
const LO_MTU: i32 = 65536;
/// `sizeof(struct ifreq)`.
const IFREQ_LEN: usize = 40;
/// `IFNAMSIZ`.
const IFNAMSIZ: usize = 16;

const SIOCGIFNAME: u64 = 0x8910;
const SIOCGIFCONF: u64 = 0x8912;
const SIOCGIFFLAGS: u64 = 0x8913;
const SIOCGIFADDR: u64 = 0x8915;
const SIOCGIFNETMASK: u64 = 0x891b;
const SIOCGIFMTU: u64 = 0x8921;
const SIOCGIFINDEX: u64 = 0x8933;

/// `lo`'s `struct ifreq` with `ifr_name` set and `value` in the union.
fn ifreq(value: &[u8]) -> [u8; IFREQ_LEN] {
    let mut r = [0u8; IFREQ_LEN];
    r[..LO_NAME.len()].copy_from_slice(LO_NAME);
    let n = value.len().min(IFREQ_LEN - IFNAMSIZ);
    r[IFNAMSIZ..IFNAMSIZ + n].copy_from_slice(&value[..n]);
    r
}

/// The interface ioctls of `AF_INET`/`AF_INET6` sockets, answered for the
/// single interface `lo` (index 1, `127.0.0.1/8`): `SIOCGIFCONF`,
/// `SIOCGIFFLAGS`, `SIOCGIFINDEX`, `SIOCGIFNAME`, `SIOCGIFADDR`,
/// `SIOCGIFNETMASK`, `SIOCGIFMTU`. `None` for other requests. Other
/// interface names are `ENODEV`; setting anything is not supported.
pub fn interface_ioctl(io: &IoCtx, request: u64, arg: u64) -> Option<SysResult> {
    if !matches!(
        request,
        SIOCGIFNAME | SIOCGIFCONF | SIOCGIFFLAGS | SIOCGIFADDR | SIOCGIFNETMASK | SIOCGIFMTU | SIOCGIFINDEX
    ) {
        return None;
    }
    Some(interface_ioctl_inner(io, request, arg))
}

fn interface_ioctl_inner(io: &IoCtx, request: u64, arg: u64) -> SysResult {
    let mm = io.mm.ok_or(Errno::EFAULT)?;
    let lo_addr = encode(libc::AF_INET, SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0));
    if request == SIOCGIFCONF {
        // struct ifconf { int ifc_len; union { char *buf; ... } } (16 bytes).
        let b: [u8; 16] = mm.read_bytes(arg)?;
        let len = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let buf = u64::from_le_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]]);
        let n = if buf == 0 {
            IFREQ_LEN
        } else if len >= IFREQ_LEN as i32 {
            mm.copy_out(buf, &ifreq(&lo_addr))?;
            IFREQ_LEN
        } else {
            0
        };
        mm.write_u32(arg, n as u32)?;
        return Ok(0);
    }
    let req: [u8; IFREQ_LEN] = mm.read_bytes(arg)?;
    if request == SIOCGIFNAME {
        let index = i32::from_le_bytes([req[16], req[17], req[18], req[19]]);
        if index != LO_INDEX {
            return Err(Errno::ENODEV);
        }
        mm.copy_out(arg, &ifreq(&req[IFNAMSIZ..])[..IFNAMSIZ])?;
        return Ok(0);
    }
    let name = &req[..IFNAMSIZ];
    let end = name.iter().position(|&c| c == 0).unwrap_or(IFNAMSIZ);
    if &name[..end] != LO_NAME {
        return Err(Errno::ENODEV);
    }
    let value: Vec<u8> = match request {
        SIOCGIFFLAGS => LO_FLAGS.to_le_bytes().to_vec(),
        SIOCGIFINDEX => LO_INDEX.to_le_bytes().to_vec(),
        SIOCGIFMTU => LO_MTU.to_le_bytes().to_vec(),
        SIOCGIFADDR => lo_addr,
        _ => encode(libc::AF_INET, SocketAddr::new(IpAddr::V4(Ipv4Addr::new(255, 0, 0, 0)), 0)),
    };
    mm.copy_out(arg.checked_add(IFNAMSIZ as u64).ok_or(Errno::EFAULT)?, &value)?;
    Ok(0)
}
