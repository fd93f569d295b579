//! UDP over loopback.
//!
//! A socket owns the queue of datagrams it has received, each with its
//! sender's address. Sending looks the destination port up in the
//! [`Stack`] (a socket bound to the destination address before a
//! wildcard; a connected socket only receives from its peer) and appends
//! to that socket's queue, unless the queue already holds more than its
//! `SO_RCVBUF` (then the datagram is dropped, as Linux drops it). A
//! datagram costs its length plus a fixed overhead, standing in for
//! Linux's `sk_buff` size, so the exact number that fits differs.
//!
//! A datagram to a port nobody has bound is dropped; if the sender is
//! connected, its next operation fails once with `ECONNREFUSED` (what the
//! ICMP port-unreachable error does on Linux). Sends never block.

use std::any::Any;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use super::{
    check_local, encode, parse_bind, parse_connect, parse_dest, route, source_for, unspecified, Binding, Opts, Parsed,
    Proto, Stack,
};
use crate::errno::{Errno, SysResult};
use crate::kernel::waiter::{events, WaitQueue};
use crate::mm::lock;
use crate::net::unix::{deadline, int_bytes, timeout_to_eagain};
use crate::net::{Received, SendMsg, SockCtx, Socket};
use crate::vfs::IoCtx;

/// Linux's default UDP `SO_SNDBUF`/`SO_RCVBUF` (`wmem_default`).
const DEFAULT_BUF: usize = 212_992;
/// What a queued datagram costs beyond its bytes.
const DGRAM_OVERHEAD: usize = 768;
/// Largest UDP payload over IPv4 (65535 less IP and UDP headers).
const MAX_PAYLOAD_V4: usize = 65507;
/// Largest UDP payload over IPv6 (65535 less the UDP header).
const MAX_PAYLOAD_V6: usize = 65527;
const IPPROTO_UDP: i32 = 17;

const IN: u32 = events::POLLIN | events::POLLRDNORM;
const OUT: u32 = events::POLLOUT | events::POLLWRNORM | events::POLLWRBAND;
const ANY: u32 = events::ALL;

const RCV_SHUTDOWN: u8 = 1;
const SEND_SHUTDOWN: u8 = 2;

struct Dgram {
    from: SocketAddr,
    data: Vec<u8>,
}

struct Inner {
    local: SocketAddr,
    bound: bool,
    /// `bind` chose the address / the port (else `connect` or an
    /// automatic bind did, and disconnecting undoes it, as in Linux).
    addr_locked: bool,
    port_locked: bool,
    peer: Option<SocketAddr>,
    rx: VecDeque<Dgram>,
    /// What `rx` costs (bytes plus overheads).
    rx_cost: usize,
    shutdown: u8,
    err: Option<Errno>,
    dead: bool,
    opts: Opts,
}

/// A UDP socket (`AF_INET` or `AF_INET6`).
pub struct UdpSocket {
    family: i32,
    stack: Arc<Stack>,
    id: u64,
    me: Weak<UdpSocket>,
    wq: WaitQueue,
    inner: Mutex<Inner>,
}

impl UdpSocket {
    /// A new UDP socket of `family` in `stack`.
    pub fn new(stack: Arc<Stack>, family: i32) -> Arc<UdpSocket> {
        let id = stack.new_id();
        Arc::new_cyclic(|me| UdpSocket {
            family,
            stack,
            id,
            me: me.clone(),
            wq: WaitQueue::new(),
            inner: Mutex::new(Inner {
                local: unspecified(family),
                bound: false,
                addr_locked: false,
                port_locked: false,
                peer: None,
                rx: VecDeque::new(),
                rx_cost: 0,
                shutdown: 0,
                err: None,
                dead: false,
                opts: Opts::new(DEFAULT_BUF, DEFAULT_BUF),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        lock(&self.inner)
    }

    fn bind_locked(&self, g: &mut Inner, addr: SocketAddr) -> Result<(), Errno> {
        let b = Binding::for_socket(self.id, addr.ip(), &g.opts);
        let port = self.stack.bind_udp(addr.port(), b, self.me.clone())?;
        g.local = SocketAddr::new(addr.ip(), port);
        g.bound = true;
        Ok(())
    }

    fn autobind(&self, g: &mut Inner) -> Result<(), Errno> {
        if !g.bound {
            let wild = unspecified(self.family);
            self.bind_locked(g, wild)?;
        }
        Ok(())
    }

    /// Queues a datagram from `from`; `false` if it was dropped.
    fn deliver(&self, from: SocketAddr, data: Vec<u8>) -> bool {
        {
            let mut g = self.lock();
            if g.dead || g.shutdown & RCV_SHUTDOWN != 0 || g.rx_cost > g.opts.rcvbuf {
                return false;
            }
            g.rx_cost += data.len() + DGRAM_OVERHEAD;
            g.rx.push_back(Dgram { from, data });
        }
        self.wq.notify(IN);
        true
    }
}

impl Socket for UdpSocket {
    fn family(&self) -> i32 {
        self.family
    }

    fn sock_type(&self) -> i32 {
        libc::SOCK_DGRAM
    }

    fn protocol(&self) -> i32 {
        IPPROTO_UDP
    }

    fn bind(&self, _cx: &SockCtx, raw: &[u8]) -> Result<(), Errno> {
        let addr = parse_bind(self.family, raw)?;
        let mut g = self.lock();
        check_local(self.family, g.opts.v6only, addr.ip())?;
        if g.bound {
            return Err(Errno::EINVAL);
        }
        self.bind_locked(&mut g, addr)?;
        g.addr_locked = !addr.ip().is_unspecified();
        g.port_locked = addr.port() != 0;
        Ok(())
    }

    fn listen(&self, _cx: &SockCtx, _backlog: i32) -> Result<(), Errno> {
        Err(Errno::EOPNOTSUPP)
    }

    fn accept(&self, _io: &IoCtx) -> Result<Arc<dyn Socket>, Errno> {
        Err(Errno::EOPNOTSUPP)
    }

    fn connect(&self, _cx: &SockCtx, _io: &IoCtx, raw: &[u8]) -> Result<(), Errno> {
        let parsed = parse_connect(self.family, raw)?;
        let mut g = self.lock();
        let dst = match parsed {
            Parsed::Unspec => {
                g.peer = None;
                if g.bound {
                    let port = g.local.port();
                    if !g.port_locked {
                        self.stack.unbind(Proto::Udp, port, self.id);
                        g.bound = false;
                        g.local = unspecified(self.family);
                        return Ok(());
                    }
                    let wild = unspecified(self.family).ip();
                    let keep = g.addr_locked;
                    let _ = self.stack.update(Proto::Udp, port, self.id, |b| {
                        b.peer = None;
                        if !keep {
                            b.ip = wild;
                        }
                    });
                    if !keep {
                        g.local = SocketAddr::new(wild, port);
                    }
                }
                return Ok(());
            }
            Parsed::Addr(a) => route(self.family, g.opts.v6only, a)?,
        };
        self.autobind(&mut g)?;
        let ip = if g.local.ip().is_unspecified() { source_for(dst.ip()) } else { g.local.ip() };
        let port = g.local.port();
        self.stack.update(Proto::Udp, port, self.id, |b| {
            b.ip = ip;
            b.peer = Some(dst);
        })?;
        g.local = SocketAddr::new(ip, port);
        g.peer = Some(dst);
        g.err = None;
        Ok(())
    }

    fn local_name(&self) -> Vec<u8> {
        encode(self.family, self.lock().local)
    }

    fn peer_name(&self) -> Result<Vec<u8>, Errno> {
        self.lock().peer.map(|a| encode(self.family, a)).ok_or(Errno::ENOTCONN)
    }

    fn shutdown(&self, how: i32) -> Result<(), Errno> {
        if !(libc::SHUT_RD..=libc::SHUT_RDWR).contains(&how) {
            return Err(Errno::EINVAL);
        }
        let r = {
            let mut g = self.lock();
            g.shutdown |= (how + 1) as u8;
            if g.peer.is_some() {
                Ok(())
            } else {
                Err(Errno::ENOTCONN)
            }
        };
        self.wq.notify(ANY);
        r
    }

    fn send(&self, _cx: &SockCtx, _io: &IoCtx, msg: SendMsg) -> Result<usize, Errno> {
        if msg.flags & libc::MSG_OOB != 0 {
            return Err(Errno::EOPNOTSUPP);
        }
        let to = match &msg.to {
            Some(raw) => match parse_dest(self.family, raw)? {
                Parsed::Addr(a) => Some(a),
                Parsed::Unspec => None,
            },
            None => None,
        };
        let max = if self.family == libc::AF_INET6 && !to.is_some_and(|a| a.is_ipv4()) {
            MAX_PAYLOAD_V6
        } else {
            MAX_PAYLOAD_V4
        };
        let (src, dst, connected) = {
            let mut g = self.lock();
            if g.shutdown & SEND_SHUTDOWN != 0 {
                return Err(Errno::EPIPE);
            }
            let dst = match to {
                Some(a) => {
                    if a.port() == 0 {
                        return Err(Errno::EINVAL);
                    }
                    a
                }
                None => g.peer.ok_or(Errno::EDESTADDRREQ)?,
            };
            if let Some(e) = g.err.take() {
                return Err(e);
            }
            if msg.len > max {
                return Err(Errno::EMSGSIZE);
            }
            let dst = route(self.family, g.opts.v6only, dst)?;
            self.autobind(&mut g)?;
            let ip = if g.local.ip().is_unspecified() { source_for(dst.ip()) } else { g.local.ip() };
            (SocketAddr::new(ip, g.local.port()), dst, g.peer == Some(dst))
        };
        let len = msg.data.len();
        match self.stack.udp_receiver(dst, src) {
            Some(r) => {
                // A full receiver drops the datagram silently.
                r.deliver(src, msg.data);
            }
            None if connected => {
                self.lock().err = Some(Errno::ECONNREFUSED);
                self.wq.notify(events::POLLERR);
            }
            None => {}
        }
        Ok(len)
    }

    fn recv(&self, io: &IoCtx, len: usize, flags: i32) -> Result<Received, Errno> {
        if flags & libc::MSG_OOB != 0 {
            return Err(Errno::EOPNOTSUPP);
        }
        let io = IoCtx { nonblock: io.nonblock || flags & libc::MSG_DONTWAIT != 0, ..*io };
        let peek = flags & libc::MSG_PEEK != 0;
        let timeo = self.lock().opts.rcvtimeo;
        let r = io.block_until(&[&self.wq], ANY, deadline(timeo), || {
            let mut g = self.lock();
            if let Some(e) = g.err.take() {
                return Err(e);
            }
            let Some(d) = g.rx.front() else {
                return if g.shutdown & RCV_SHUTDOWN != 0 { Ok(None) } else { Err(Errno::EAGAIN) };
            };
            let n = len.min(d.data.len());
            let out = Received {
                data: d.data[..n].to_vec(),
                msg_len: d.data.len(),
                from: Some(encode(self.family, d.from)),
                flags: if n < d.data.len() { libc::MSG_TRUNC } else { 0 },
                ..Received::default()
            };
            if !peek {
                if let Some(d) = g.rx.pop_front() {
                    g.rx_cost = g.rx_cost.saturating_sub(d.data.len() + DGRAM_OVERHEAD);
                }
            }
            Ok(Some(out))
        });
        Ok(r.map_err(timeout_to_eagain)?.unwrap_or_default())
    }

    fn getsockopt(&self, level: i32, name: i32) -> Result<Vec<u8>, Errno> {
        let mut g = self.lock();
        if let Some(v) = g.opts.get(self.family, level, name)? {
            return Ok(v);
        }
        Ok(match (level, name) {
            (libc::SOL_SOCKET, libc::SO_TYPE) => int_bytes(libc::SOCK_DGRAM),
            (libc::SOL_SOCKET, libc::SO_PROTOCOL) => int_bytes(IPPROTO_UDP),
            (libc::SOL_SOCKET, libc::SO_ERROR) => int_bytes(g.err.take().map(|e| e.0).unwrap_or(0)),
            (libc::SOL_SOCKET, libc::SO_ACCEPTCONN) => int_bytes(0),
            _ => return Err(Errno::ENOPROTOOPT),
        })
    }

    fn setsockopt(&self, level: i32, name: i32, value: &[u8]) -> Result<(), Errno> {
        let mut g = self.lock();
        if g.opts.set(self.family, level, name, value)? {
            Ok(())
        } else {
            Err(Errno::ENOPROTOOPT)
        }
    }

    fn ioctl(&self, io: &IoCtx, request: u64, arg: u64) -> SysResult {
        let v = match request {
            // FIONREAD / SIOCINQ: the size of the next datagram.
            0x541b => self.lock().rx.front().map(|d| d.data.len()).unwrap_or(0),
            // TIOCOUTQ / SIOCOUTQ: nothing waits to be sent.
            0x5411 => 0,
            _ => return super::interface_ioctl(io, request, arg).unwrap_or(Err(Errno::ENOTTY)),
        };
        let mm = io.mm.ok_or(Errno::EFAULT)?;
        mm.write_u32(arg, v.min(i32::MAX as usize) as u32)?;
        Ok(0)
    }

    fn readiness(&self, mask: u32) -> u32 {
        let g = self.lock();
        let mut r = OUT;
        if g.err.is_some() {
            r |= events::POLLERR;
        }
        if !g.rx.is_empty() {
            r |= IN;
        }
        if g.shutdown & RCV_SHUTDOWN != 0 {
            r |= IN | events::POLLRDHUP;
        }
        if g.shutdown == RCV_SHUTDOWN | SEND_SHUTDOWN {
            r |= events::POLLHUP;
        }
        r & mask
    }

    fn wait_queue(&self) -> &WaitQueue {
        &self.wq
    }

    fn release(&self) {
        let (port, bound, rx) = {
            let mut g = self.lock();
            if g.dead {
                return;
            }
            g.dead = true;
            g.rx_cost = 0;
            (g.local.port(), g.bound, std::mem::take(&mut g.rx))
        };
        if bound {
            self.stack.unbind(Proto::Udp, port, self.id);
        }
        drop(rx);
        self.wq.notify(ANY);
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
