//! TCP over loopback: a connection is two byte queues.
//!
//! Each end owns the queue of bytes it has received (`rx`). A sender
//! appends to its peer's queue while that holds less than the sender's
//! `SO_SNDBUF` plus the peer's `SO_RCVBUF` (the bytes a real connection
//! would hold in its send queue and the peer's receive window), and
//! otherwise blocks (or fails with `EAGAIN`) until the receiver reads,
//! which wakes it.
//!
//! `connect` to a listening port creates the server end at once, links
//! the two ends and queues the server end on the listener (as a loopback
//! handshake completes before `connect` returns). A blocking `connect`
//! returns 0; a non-blocking one returns `EINPROGRESS`, as Linux does on
//! loopback, with the socket already writable, and the next `connect`
//! returns 0 (then `EISCONN`). A full backlog (more than `backlog`
//! connections not yet accepted) makes a blocking `connect` wait for an
//! `accept`; a non-blocking one returns `EINPROGRESS` and waits in line,
//! not writable (`EALREADY` if asked again), until an `accept` makes room
//! and admits it (Linux retransmits the SYN instead, after a second or
//! more), or the listener closes (`ECONNREFUSED`). No listener:
//! `ECONNREFUSED`.
//!
//! Shutdown and close as in Linux, with FIN and RST as flags on the peer:
//! `shutdown(SHUT_WR)` or a close makes the peer read end-of-file after
//! the queued bytes; closing with unread received bytes (or with
//! `SO_LINGER` on and a zero time, or a connection never accepted) resets
//! the connection instead: the peer's next receive fails with
//! `ECONNRESET` and its sends with `EPIPE`. Writing to a peer that has
//! closed succeeds once (the bytes are discarded and the peer "answers
//! with a reset"), then fails with `EPIPE`.

use std::any::Any;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use super::{
    check_local, encode, parse_bind, parse_connect, route, source_for, unspecified, Binding, Opts, Parsed, Proto, Stack,
};
use crate::errno::{Errno, SysResult};
use crate::kernel::waiter::{events, WaitQueue};
use crate::mm::lock;
use crate::net::unix::{deadline, int_bytes, timeout_to_eagain};
use crate::net::{Received, SendMsg, SockCtx, Socket};
use crate::vfs::IoCtx;

/// Linux's initial TCP `SO_SNDBUF` (`tcp_wmem[1]`).
const DEFAULT_SNDBUF: usize = 16384;
/// Linux's initial TCP `SO_RCVBUF` (`tcp_rmem[1]`).
const DEFAULT_RCVBUF: usize = 131072;
/// Largest listen backlog (`somaxconn`).
const SOMAXCONN: usize = 4096;
/// `TCP_MAXSEG` on loopback (MTU 65536 less headers).
const LOOPBACK_MSS: i32 = 65483;

const TCP_NODELAY: i32 = 1;
const TCP_MAXSEG: i32 = 2;
const TCP_CORK: i32 = 3;
const TCP_KEEPIDLE: i32 = 4;
const TCP_KEEPINTVL: i32 = 5;
const TCP_KEEPCNT: i32 = 6;
const TCP_SYNCNT: i32 = 7;
const TCP_LINGER2: i32 = 8;
const TCP_DEFER_ACCEPT: i32 = 9;
const TCP_WINDOW_CLAMP: i32 = 10;
const TCP_QUICKACK: i32 = 12;
const TCP_USER_TIMEOUT: i32 = 18;
const TCP_FASTOPEN: i32 = 23;
const TCP_NOTSENT_LOWAT: i32 = 25;
const IPPROTO_TCP: i32 = 6;

const RCV_SHUTDOWN: u8 = 1;
const SEND_SHUTDOWN: u8 = 2;
const SHUTDOWN_MASK: u8 = 3;

const IN: u32 = events::POLLIN | events::POLLRDNORM;
const OUT: u32 = events::POLLOUT | events::POLLWRNORM | events::POLLWRBAND;
const ANY: u32 = events::ALL;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Never connected (`TCP_CLOSE` of a new socket).
    Initial,
    Connecting,
    Listening,
    Connected,
    /// Reset or closed (`TCP_CLOSE` after a connection).
    Closed,
}

struct Inner {
    state: State,
    /// Bound port (0: unbound) and local address (canonical).
    local: SocketAddr,
    bound: bool,
    peer: Option<Arc<TcpSocket>>,
    peer_addr: Option<SocketAddr>,
    rx: VecDeque<u8>,
    pending: VecDeque<Arc<TcpSocket>>,
    /// Listening: non-blocking connectors that found the backlog full,
    /// each with its prepared server end; admitted as `accept` makes room.
    waiting: VecDeque<(Weak<TcpSocket>, Arc<TcpSocket>)>,
    backlog: usize,
    shutdown: u8,
    /// The peer sent FIN (reads end after `rx`).
    fin: bool,
    /// The peer is gone (closed): the next send is answered by a reset.
    peer_gone: bool,
    /// A non-blocking connect reported `EINPROGRESS`; the next `connect`
    /// returns 0.
    in_progress: bool,
    err: Option<Errno>,
    dead: bool,
    opts: Opts,
}

/// A TCP socket (`AF_INET` or `AF_INET6`).
pub struct TcpSocket {
    family: i32,
    stack: Arc<Stack>,
    id: u64,
    me: Weak<TcpSocket>,
    /// Readiness; blocked receivers, senders and accepters sleep here.
    wq: WaitQueue,
    /// Room appeared in the listen backlog (connecting sockets sleep here).
    backlog_wait: WaitQueue,
    inner: Mutex<Inner>,
}

impl TcpSocket {
    /// A new TCP socket of `family` in `stack`.
    pub fn new(stack: Arc<Stack>, family: i32) -> Arc<TcpSocket> {
        let id = stack.new_id();
        Arc::new_cyclic(|me| TcpSocket {
            family,
            stack,
            id,
            me: me.clone(),
            wq: WaitQueue::new(),
            backlog_wait: WaitQueue::new(),
            inner: Mutex::new(Inner {
                state: State::Initial,
                local: unspecified(family),
                bound: false,
                peer: None,
                peer_addr: None,
                rx: VecDeque::new(),
                pending: VecDeque::new(),
                waiting: VecDeque::new(),
                backlog: 0,
                shutdown: 0,
                fin: false,
                peer_gone: false,
                in_progress: false,
                err: None,
                dead: false,
                opts: Opts::new(DEFAULT_SNDBUF, DEFAULT_RCVBUF),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        lock(&self.inner)
    }

    /// Binds `g`'s socket to `addr` (port 0: ephemeral).
    fn bind_locked(&self, g: &mut Inner, addr: SocketAddr) -> Result<(), Errno> {
        let b = Binding::for_socket(self.id, addr.ip(), &g.opts);
        let port = self.stack.bind_tcp(addr.port(), b, self.me.clone())?;
        g.local = SocketAddr::new(addr.ip(), port);
        g.bound = true;
        Ok(())
    }

    /// Closes the socket. `reset`: the peer sees `ECONNRESET` whatever
    /// was unread (a connection that was never accepted).
    fn release_inner(&self, reset: bool) {
        let (peer, pending, rx, port, bound, waiting) = {
            let mut g = self.lock();
            if g.dead {
                return;
            }
            g.dead = true;
            let reset = reset || !g.rx.is_empty() || g.opts.linger_zero();
            g.shutdown = SHUTDOWN_MASK;
            g.state = State::Closed;
            let peer = g.peer.take().map(|p| (p, reset));
            let waiting = std::mem::take(&mut g.waiting);
            (peer, std::mem::take(&mut g.pending), std::mem::take(&mut g.rx), g.local.port(), g.bound, waiting)
        };
        TcpSocket::refuse_waiting(waiting);
        if bound {
            self.stack.unbind(Proto::Tcp, port, self.id);
        }
        if let Some((p, reset)) = peer {
            let back = {
                let mut pg = p.lock();
                if reset {
                    // After a FIN (CLOSE_WAIT), Linux reports a reset as
                    // EPIPE, and reads still end with end-of-file.
                    pg.err = Some(if pg.fin { Errno::EPIPE } else { Errno::ECONNRESET });
                    pg.shutdown = SHUTDOWN_MASK;
                    pg.state = State::Closed;
                } else {
                    pg.shutdown |= RCV_SHUTDOWN;
                    pg.fin = true;
                    pg.peer_gone = true;
                }
                pg.peer.take()
            };
            p.wq.notify(ANY);
            drop(back);
        }
        for s in pending {
            s.release_inner(true);
        }
        drop(rx);
        self.wq.notify(ANY);
        self.backlog_wait.notify(ANY);
    }

    /// Connects to the listener at `dst`: `Ok(true)` when connected,
    /// `Ok(false)` when a non-blocking connect waits for room in a full
    /// backlog (it completes when an `accept` makes room).
    fn connect_to(&self, io: &IoCtx, dst: SocketAddr) -> Result<bool, Errno> {
        let me = self.me.upgrade().ok_or(Errno::EINVAL)?;
        let local = {
            let mut g = self.lock();
            if !g.bound {
                let wild = unspecified(self.family);
                self.bind_locked(&mut g, SocketAddr::new(wild.ip(), 0))?;
            }
            let ip = if g.local.ip().is_unspecified() { source_for(dst.ip()) } else { g.local.ip() };
            g.local = SocketAddr::new(ip, g.local.port());
            g.local
        };
        let listener = self.stack.tcp_listener(dst).ok_or(Errno::ECONNREFUSED)?;
        let server = TcpSocket::new(self.stack.clone(), listener.family);
        // The accepted socket inherits the listener's options.
        let (sndbuf, rcvbuf, plain, linger, v6only) = {
            let lg = listener.lock();
            (lg.opts.sndbuf, lg.opts.rcvbuf, lg.opts.plain.clone(), lg.opts.linger, lg.opts.v6only)
        };
        // It holds the port like its listener (so a new listener needs
        // SO_REUSEADDR while it lives), as in Linux.
        let reuseaddr = plain.get(&(libc::SOL_SOCKET, libc::SO_REUSEADDR)).is_some_and(|&v| v != 0);
        let b =
            Binding { id: server.id, ip: dst.ip(), v6only, reuseaddr, reuseport: false, listening: false, peer: None };
        self.stack.attach_tcp(dst.port(), b, server.me.clone());
        {
            let mut s = server.lock();
            s.state = State::Connected;
            s.bound = true;
            s.peer = Some(me);
            s.peer_addr = Some(local);
            s.local = dst;
            s.opts.sndbuf = sndbuf;
            s.opts.rcvbuf = rcvbuf;
            s.opts.plain = plain;
            s.opts.linger = linger;
            s.opts.v6only = v6only;
        }
        self.lock().peer_addr = Some(dst);
        let r = if io.nonblock {
            // Queue now, or wait in line without blocking (Linux's SYN
            // retried until the backlog has room).
            let mut l = listener.lock();
            if l.dead || l.state != State::Listening {
                Err(Errno::ECONNREFUSED)
            } else if l.pending.len() > l.backlog {
                l.waiting.push_back((self.me.clone(), server.clone()));
                return Ok(false);
            } else {
                l.pending.push_back(server.clone());
                Ok(())
            }
        } else {
            let timeo = self.lock().opts.sndtimeo;
            io.block_until(&[&listener.backlog_wait], ANY, deadline(timeo), || {
                let mut l = listener.lock();
                if l.dead || l.state != State::Listening {
                    return Err(Errno::ECONNREFUSED);
                }
                if l.pending.len() > l.backlog {
                    return Err(Errno::EAGAIN);
                }
                l.pending.push_back(server.clone());
                Ok(())
            })
            .map_err(timeout_to_eagain)
        };
        if let Err(e) = r {
            // Never queued: nobody else refers to it.
            server.lock().peer = None;
            self.stack.unbind(Proto::Tcp, dst.port(), server.id);
            return Err(e);
        }
        listener.wq.notify(IN);
        {
            let mut g = self.lock();
            // Unless the server end was reset in the meantime.
            if g.state == State::Connecting {
                g.state = State::Connected;
                g.peer = Some(server);
            }
        }
        self.wq.notify(ANY);
        Ok(true)
    }

    /// Listening: admits waiting non-blocking connectors while the
    /// backlog has room.
    fn admit_waiting(&self) {
        loop {
            let (conn, server) = {
                let mut l = self.lock();
                if l.state != State::Listening || l.pending.len() > l.backlog {
                    return;
                }
                match l.waiting.pop_front() {
                    Some(w) => w,
                    None => return,
                }
            };
            let Some(c) = conn.upgrade() else {
                server.release_inner(true);
                continue;
            };
            let connected = {
                let mut g = c.lock();
                let ok = g.state == State::Connecting && !g.dead;
                if ok {
                    g.state = State::Connected;
                    g.peer = Some(server.clone());
                }
                ok
            };
            if !connected {
                server.release_inner(true);
                continue;
            }
            c.wq.notify(ANY);
            let queued = {
                let mut l = self.lock();
                let ok = l.state == State::Listening && !l.dead;
                if ok {
                    l.pending.push_back(server.clone());
                }
                ok
            };
            if queued {
                self.wq.notify(IN);
            } else {
                server.release_inner(true);
            }
        }
    }

    /// Refuses the connectors waiting for room (the listener stopped).
    fn refuse_waiting(waiting: VecDeque<(Weak<TcpSocket>, Arc<TcpSocket>)>) {
        for (conn, server) in waiting {
            // The server end was never seen: drop it quietly.
            let old = {
                let mut sg = server.lock();
                sg.dead = true;
                sg.peer.take()
            };
            drop(old);
            server.stack.unbind(Proto::Tcp, server.lock().local.port(), server.id);
            if let Some(c) = conn.upgrade() {
                {
                    let mut g = c.lock();
                    if g.state == State::Connecting {
                        g.state = State::Initial;
                        g.in_progress = false;
                        g.err = Some(Errno::ECONNREFUSED);
                    }
                }
                c.wq.notify(ANY);
            }
        }
    }

    /// Bytes the peer's queue may hold, and the peer.
    fn peer_room(&self) -> Option<(Arc<TcpSocket>, usize)> {
        let (peer, sndbuf) = {
            let g = self.lock();
            (g.peer.clone()?, g.opts.sndbuf)
        };
        let room = {
            let pg = peer.lock();
            (sndbuf + pg.opts.rcvbuf).saturating_sub(pg.rx.len())
        };
        Some((peer, room))
    }
}

impl Socket for TcpSocket {
    fn family(&self) -> i32 {
        self.family
    }

    fn sock_type(&self) -> i32 {
        libc::SOCK_STREAM
    }

    fn protocol(&self) -> i32 {
        IPPROTO_TCP
    }

    fn bind(&self, _cx: &SockCtx, raw: &[u8]) -> Result<(), Errno> {
        let addr = parse_bind(self.family, raw)?;
        let mut g = self.lock();
        check_local(self.family, g.opts.v6only, addr.ip())?;
        if g.bound || g.state != State::Initial {
            return Err(Errno::EINVAL);
        }
        self.bind_locked(&mut g, addr)
    }

    fn listen(&self, _cx: &SockCtx, backlog: i32) -> Result<(), Errno> {
        let grew = {
            let mut g = self.lock();
            if !matches!(g.state, State::Initial | State::Listening) {
                return Err(Errno::EINVAL);
            }
            if !g.bound {
                let wild = unspecified(self.family);
                self.bind_locked(&mut g, wild)?;
            }
            if g.state == State::Initial {
                let reuseport = g.opts.flag(libc::SOL_SOCKET, libc::SO_REUSEPORT);
                self.stack.update(Proto::Tcp, g.local.port(), self.id, |b| {
                    b.listening = true;
                    b.reuseport = reuseport;
                })?;
            }
            // A negative backlog is a huge unsigned one, as in Linux.
            let backlog = usize::try_from(backlog).unwrap_or(SOMAXCONN).min(SOMAXCONN);
            let grew = backlog > g.backlog;
            g.backlog = backlog;
            g.state = State::Listening;
            grew
        };
        if grew {
            self.backlog_wait.notify(ANY);
            self.admit_waiting();
        }
        self.wq.notify(ANY);
        Ok(())
    }

    fn accept(&self, io: &IoCtx) -> Result<Arc<dyn Socket>, Errno> {
        let timeo = self.lock().opts.rcvtimeo;
        let s = io
            .block_until(&[&self.wq], ANY, deadline(timeo), || {
                let mut g = self.lock();
                if g.state != State::Listening {
                    return Err(Errno::EINVAL);
                }
                g.pending.pop_front().ok_or(Errno::EAGAIN)
            })
            .map_err(timeout_to_eagain)?;
        self.backlog_wait.notify(OUT);
        self.admit_waiting();
        Ok(s)
    }

    fn connect(&self, _cx: &SockCtx, io: &IoCtx, raw: &[u8]) -> Result<(), Errno> {
        let dst = match parse_connect(self.family, raw)? {
            // Dissolving an association of an unconnected socket does
            // nothing.
            Parsed::Unspec => return Ok(()),
            Parsed::Addr(a) => a,
        };
        let v6only = {
            let mut g = self.lock();
            match g.state {
                State::Connected if g.in_progress => {
                    g.in_progress = false;
                    return Ok(());
                }
                State::Connected | State::Listening | State::Closed => return Err(Errno::EISCONN),
                State::Connecting => return Err(Errno::EALREADY),
                State::Initial => {}
            }
            if let Some(e) = g.err.take() {
                return Err(e);
            }
            g.state = State::Connecting;
            g.opts.v6only
        };
        let r = route(self.family, v6only, dst).and_then(|dst| self.connect_to(io, dst));
        let mut g = self.lock();
        match r {
            Err(e) => {
                if g.state == State::Connecting {
                    g.state = State::Initial;
                }
                Err(e)
            }
            Ok(true) if !io.nonblock => Ok(()),
            // Connected already, or waiting for room in the backlog.
            Ok(_) => {
                g.in_progress = true;
                Err(Errno::EINPROGRESS)
            }
        }
    }

    fn local_name(&self) -> Vec<u8> {
        encode(self.family, self.lock().local)
    }

    fn peer_name(&self) -> Result<Vec<u8>, Errno> {
        let g = self.lock();
        match (g.state, g.peer_addr) {
            (State::Connected, Some(a)) => Ok(encode(self.family, a)),
            _ => Err(Errno::ENOTCONN),
        }
    }

    fn shutdown(&self, how: i32) -> Result<(), Errno> {
        if !(libc::SHUT_RD..=libc::SHUT_RDWR).contains(&how) {
            return Err(Errno::EINVAL);
        }
        let mode = (how + 1) as u8;
        let (peer, pending, r) = {
            let mut g = self.lock();
            match g.state {
                State::Connected => {
                    g.shutdown |= mode;
                    (if mode & SEND_SHUTDOWN != 0 { g.peer.clone() } else { None }, VecDeque::new(), Ok(()))
                }
                State::Listening if mode & RCV_SHUTDOWN != 0 => {
                    // Stops listening; pending connections are reset.
                    g.state = State::Initial;
                    g.backlog = 0;
                    let _ = self.stack.update(Proto::Tcp, g.local.port(), self.id, |b| b.listening = false);
                    let waiting = std::mem::take(&mut g.waiting);
                    drop(g);
                    TcpSocket::refuse_waiting(waiting);
                    g = self.lock();
                    (None, std::mem::take(&mut g.pending), Ok(()))
                }
                // SHUT_WR alone does nothing to a listener.
                State::Listening => (None, VecDeque::new(), Ok(())),
                _ => {
                    g.shutdown |= mode;
                    (None, VecDeque::new(), Err(Errno::ENOTCONN))
                }
            }
        };
        if let Some(p) = peer {
            {
                let mut pg = p.lock();
                pg.shutdown |= RCV_SHUTDOWN;
                pg.fin = true;
            }
            p.wq.notify(ANY);
        }
        for s in pending {
            s.release_inner(true);
        }
        self.wq.notify(ANY);
        self.backlog_wait.notify(ANY);
        r
    }

    fn send(&self, _cx: &SockCtx, io: &IoCtx, msg: SendMsg) -> Result<usize, Errno> {
        if msg.flags & libc::MSG_OOB != 0 {
            return Err(Errno::EOPNOTSUPP);
        }
        let io = IoCtx { nonblock: io.nonblock || msg.flags & libc::MSG_DONTWAIT != 0, ..*io };
        let len = msg.data.len();
        let timeo = {
            let mut g = self.lock();
            if let Some(e) = g.err.take() {
                return Err(e);
            }
            if g.shutdown & SEND_SHUTDOWN != 0 || g.state != State::Connected {
                return Err(Errno::EPIPE);
            }
            if g.peer_gone {
                // The closed peer answers with a reset.
                g.err = Some(Errno::EPIPE);
                g.shutdown = SHUTDOWN_MASK;
                g.state = State::Closed;
                let old = g.peer.take();
                drop(g);
                drop(old);
                self.wq.notify(ANY);
                return Ok(len);
            }
            g.opts.sndtimeo
        };
        if len == 0 {
            return Ok(0);
        }
        let dl = deadline(timeo);
        let mut sent = 0;
        while sent < len {
            let r = io.block_until(&[&self.wq], ANY, dl, || {
                {
                    let mut g = self.lock();
                    if let Some(e) = g.err.take() {
                        return Err(e);
                    }
                    if g.shutdown & SEND_SHUTDOWN != 0 {
                        return Err(Errno::EPIPE);
                    }
                }
                let Some((peer, room)) = self.peer_room() else { return Err(Errno::EPIPE) };
                if room == 0 {
                    return Err(Errno::EAGAIN);
                }
                let n = room.min(len - sent);
                {
                    let mut pg = peer.lock();
                    if pg.dead {
                        return Err(Errno::EPIPE);
                    }
                    pg.rx.extend(&msg.data[sent..sent + n]);
                }
                peer.wq.notify(IN);
                Ok(n)
            });
            match r {
                Ok(n) => sent += n,
                Err(_) if sent > 0 => break,
                Err(e) => return Err(timeout_to_eagain(e)),
            }
        }
        Ok(sent)
    }

    fn recv(&self, io: &IoCtx, len: usize, flags: i32) -> Result<Received, Errno> {
        if flags & libc::MSG_OOB != 0 {
            return Err(Errno::EINVAL);
        }
        let io = IoCtx { nonblock: io.nonblock || flags & libc::MSG_DONTWAIT != 0, ..*io };
        let peek = flags & libc::MSG_PEEK != 0;
        let target = if flags & libc::MSG_WAITALL != 0 && !peek { len } else { 1 };
        let timeo = {
            let g = self.lock();
            if matches!(g.state, State::Initial | State::Listening | State::Connecting) {
                return Err(Errno::ENOTCONN);
            }
            g.opts.rcvtimeo
        };
        if len == 0 {
            return Ok(Received::default());
        }
        let mut out: Vec<u8> = Vec::new();
        let r = io.block_until(&[&self.wq], ANY, deadline(timeo), || {
            let mut g = self.lock();
            if !g.rx.is_empty() {
                let n = g.rx.len().min(len - out.len());
                if peek {
                    out.extend(g.rx.iter().take(n));
                    return Ok(());
                }
                out.extend(g.rx.drain(..n));
                let peer = g.peer.clone();
                let done = out.len() >= target || g.fin || g.shutdown & RCV_SHUTDOWN != 0;
                drop(g);
                if let Some(p) = peer {
                    p.wq.notify(OUT);
                }
                return if done { Ok(()) } else { Err(Errno::EAGAIN) };
            }
            if !out.is_empty() && (g.fin || g.shutdown & RCV_SHUTDOWN != 0 || g.err.is_some()) {
                return Ok(());
            }
            if g.fin {
                return Ok(());
            }
            if let Some(e) = g.err.take() {
                return Err(e);
            }
            if g.shutdown & RCV_SHUTDOWN != 0 {
                return Ok(());
            }
            Err(Errno::EAGAIN)
        });
        match r {
            Ok(()) => {}
            Err(_) if !out.is_empty() => {}
            Err(e) => return Err(timeout_to_eagain(e)),
        }
        let n = out.len();
        Ok(Received { data: out, msg_len: n, ..Received::default() })
    }

    fn getsockopt(&self, level: i32, name: i32) -> Result<Vec<u8>, Errno> {
        let mut g = self.lock();
        if let Some(v) = g.opts.get(self.family, level, name)? {
            return Ok(v);
        }
        Ok(match (level, name) {
            (libc::SOL_SOCKET, libc::SO_TYPE) => int_bytes(libc::SOCK_STREAM),
            (libc::SOL_SOCKET, libc::SO_PROTOCOL) => int_bytes(IPPROTO_TCP),
            (libc::SOL_SOCKET, libc::SO_ERROR) => int_bytes(g.err.take().map(|e| e.0).unwrap_or(0)),
            (libc::SOL_SOCKET, libc::SO_ACCEPTCONN) => int_bytes((g.state == State::Listening) as i32),
            (IPPROTO_TCP, TCP_MAXSEG) => int_bytes(LOOPBACK_MSS),
            (IPPROTO_TCP, TCP_KEEPIDLE) => int_bytes(g.opts.plain.get(&(level, name)).copied().unwrap_or(7200)),
            (IPPROTO_TCP, TCP_KEEPINTVL) => int_bytes(g.opts.plain.get(&(level, name)).copied().unwrap_or(75)),
            (IPPROTO_TCP, TCP_KEEPCNT) => int_bytes(g.opts.plain.get(&(level, name)).copied().unwrap_or(9)),
            (IPPROTO_TCP, TCP_SYNCNT) => int_bytes(g.opts.plain.get(&(level, name)).copied().unwrap_or(6)),
            (IPPROTO_TCP, TCP_LINGER2) => int_bytes(g.opts.plain.get(&(level, name)).copied().unwrap_or(60)),
            (
                IPPROTO_TCP,
                TCP_NODELAY | TCP_CORK | TCP_DEFER_ACCEPT | TCP_WINDOW_CLAMP | TCP_QUICKACK | TCP_USER_TIMEOUT
                | TCP_FASTOPEN | TCP_NOTSENT_LOWAT,
            ) => int_bytes(g.opts.plain.get(&(level, name)).copied().unwrap_or(0)),
            _ => return Err(Errno::ENOPROTOOPT),
        })
    }

    fn setsockopt(&self, level: i32, name: i32, value: &[u8]) -> Result<(), Errno> {
        let notify = {
            let mut g = self.lock();
            if g.opts.set(self.family, level, name, value)? {
                level == libc::SOL_SOCKET && name == libc::SO_SNDBUF
            } else {
                if level != IPPROTO_TCP {
                    return Err(Errno::ENOPROTOOPT);
                }
                let b: [u8; 4] = value.get(..4).ok_or(Errno::EINVAL)?.try_into().map_err(|_| Errno::EINVAL)?;
                let v = i32::from_le_bytes(b);
                match name {
                    TCP_NODELAY | TCP_CORK | TCP_QUICKACK => {
                        g.opts.plain.insert((level, name), (v != 0) as i32);
                    }
                    TCP_KEEPIDLE | TCP_KEEPINTVL if !(1..=32767).contains(&v) => return Err(Errno::EINVAL),
                    TCP_KEEPCNT | TCP_SYNCNT if !(1..=127).contains(&v) => return Err(Errno::EINVAL),
                    TCP_USER_TIMEOUT | TCP_WINDOW_CLAMP | TCP_NOTSENT_LOWAT | TCP_FASTOPEN if v < 0 => {
                        return Err(Errno::EINVAL)
                    }
                    TCP_KEEPIDLE | TCP_KEEPINTVL | TCP_KEEPCNT | TCP_SYNCNT | TCP_LINGER2 | TCP_DEFER_ACCEPT
                    | TCP_USER_TIMEOUT | TCP_WINDOW_CLAMP | TCP_NOTSENT_LOWAT | TCP_FASTOPEN => {
                        g.opts.plain.insert((level, name), v);
                    }
                    TCP_MAXSEG => {}
                    _ => return Err(Errno::ENOPROTOOPT),
                }
                false
            }
        };
        if notify {
            self.wq.notify(OUT);
        }
        Ok(())
    }

    fn ioctl(&self, io: &IoCtx, request: u64, arg: u64) -> SysResult {
        let v = match request {
            // FIONREAD / SIOCINQ
            0x541b => {
                let g = self.lock();
                if g.state == State::Listening {
                    return Err(Errno::EINVAL);
                }
                g.rx.len()
            }
            // TIOCOUTQ / SIOCOUTQ: loopback bytes are acknowledged at once.
            0x5411 => {
                if self.lock().state == State::Listening {
                    return Err(Errno::EINVAL);
                }
                0
            }
            _ => return super::interface_ioctl(io, request, arg).unwrap_or(Err(Errno::ENOTTY)),
        };
        let mm = io.mm.ok_or(Errno::EFAULT)?;
        mm.write_u32(arg, v.min(i32::MAX as usize) as u32)?;
        Ok(0)
    }

    fn readiness(&self, mask: u32) -> u32 {
        let (state, mut ready) = {
            let g = self.lock();
            let mut r = 0;
            if g.err.is_some() {
                r |= events::POLLERR;
            }
            match g.state {
                State::Listening => {
                    if !g.pending.is_empty() {
                        r |= IN;
                    }
                }
                State::Initial => r |= OUT | events::POLLHUP,
                State::Connecting => {}
                State::Connected | State::Closed => {
                    if g.shutdown == SHUTDOWN_MASK || g.state == State::Closed {
                        r |= events::POLLHUP;
                    }
                    if g.shutdown & RCV_SHUTDOWN != 0 || g.fin {
                        r |= IN | events::POLLRDHUP;
                    }
                    if !g.rx.is_empty() {
                        r |= IN;
                    }
                    if g.shutdown & SEND_SHUTDOWN != 0 || g.peer_gone {
                        r |= OUT;
                    }
                }
            }
            (g.state, r)
        };
        if state == State::Connected && ready & OUT == 0 && mask & OUT != 0 {
            match self.peer_room() {
                Some((_, room)) if room > 0 => ready |= OUT,
                None => ready |= OUT,
                _ => {}
            }
        }
        ready & mask
    }

    fn wait_queue(&self) -> &WaitQueue {
        &self.wq
    }

    fn release(&self) {
        self.release_inner(false);
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
