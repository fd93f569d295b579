//! `AF_UNIX` sockets: stream, datagram and sequenced-packet.
//!
//! # Model
//!
//! A [`UnixSocket`] owns the queue of what it has *received*. Sending
//! appends a `Msg` to the receiver's queue; a message remembers its
//! sender, which is charged for it (`wmem`, as Linux charges a sender's
//! `sk_wmem_alloc`) until the receiver consumes it. A sender blocks while
//! its charge is at least its send buffer (`SO_SNDBUF`, 212992 bytes by
//! default), and a datagram sender also while the receiver holds more than
//! [`MAX_DGRAM_QLEN`] messages from others (Linux's `max_dgram_qlen`).
//! As in Linux, `SO_RCVBUF` is recorded and reported but bounds nothing.
//! A datagram costs its length plus a fixed overhead, so the exact number
//! of datagrams that fit differs from Linux's (which counts `sk_buff`
//! sizes).
//!
//! Connection-oriented sockets (stream, seqpacket) connect as in Linux: a
//! `connect` to a listening socket creates the server end at once, links
//! the two and queues the server end on the listener, so a non-blocking
//! `connect` succeeds immediately and the client can write before the
//! server calls `accept`. A full backlog (more than `backlog` pending)
//! makes `connect` wait or fail with `EAGAIN`.
//!
//! Stream messages are byte ranges: a read crosses message boundaries
//! except that it stops after a message carrying `SCM_RIGHTS` and, with
//! `SO_PASSCRED`, does not join data of different senders. Datagram and
//! seqpacket reads take one message, truncating it (`MSG_TRUNC`).
//!
//! # Names
//!
//! Abstract names (leading NUL) and auto-bound names live in a
//! [`Namespace`], one per kernel (sandbox); as in Linux, each socket type
//! has its own abstract names. Path names create a socket
//! inode through the parent directory's `Inode::create(name,
//! FileType::Socket, ..)`; the namespace maps that inode (by identity) to
//! the bound socket, so `connect` walks the path and looks the inode up.
//! Unlinking the name makes the socket unreachable; renaming it keeps it
//! reachable under the new name, as in Linux. Closing the socket leaves
//! the inode (connecting to it gives `ECONNREFUSED`).
//!
//! # Shutdown, close and errors
//!
//! Each socket has Linux's `sk_shutdown` bits: `shutdown(SHUT_WR)` on one
//! end of a connection sets `SEND` on it and `RCV` on its peer (the peer
//! then reads end-of-file after the queued data); closing one end sets both
//! bits on the peer, and if the closing end had unread data (or had never
//! been accepted), a pending `ECONNRESET` (`SO_ERROR`) that the peer's next
//! receive reports once. Writes after the peer closed or shut down give
//! `EPIPE`; the system call layer is where `SIGPIPE` is raised (unless
//! `MSG_NOSIGNAL`). A datagram socket whose connected peer closed gets
//! `ECONNREFUSED` once and is disconnected.
//!
//! # Locking and waiting
//!
//! Each socket has one mutex (`Inner`). At most one socket mutex is held
//! at a time: an operation involving two sockets (send, connect, shutdown,
//! close) locks one, copies what it needs, unlocks, then locks the other.
//! The namespace mutex may be taken while holding a socket's (bind) and is
//! never held while taking anything else; the file system is never entered
//! with a socket locked. Messages may own open files (`SCM_RIGHTS`) and
//! uncharge their sender when dropped, so they are only ever dropped with
//! no lock held. Wait queues are notified with no lock held:
//!
//! - `wq`: the socket's readiness (what `poll` and epoll watch, and what
//!   blocked receivers, accepters and stream senders sleep on);
//! - `peer_wait`: room appeared in this socket's queues (datagram senders
//!   and connecting sockets sleep on the receiver's/listener's).
//!
//! # Not implemented
//!
//! Garbage collection of in-flight descriptors: a socket whose own
//! descriptor sits unread in a queue that only it can reach (a cycle) is
//! never freed, as Linux's `unix_gc` would. `poll` on a connected datagram
//! socket whose receiver is full of other senders' datagrams is not woken
//! when room appears there (Linux relays that wake-up); blocked senders
//! are. `SO_PEEK_OFF`, `MSG_OOB` (`EOPNOTSUPP`, as in Linux 4.4),
//! `SCM_SECURITY` and `sendpage`/`splice` are not supported.

use std::any::Any;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use super::{Received, SendMsg, SockCtx, Socket, Ucred};
use crate::errno::{Errno, SysResult};
use crate::kernel::waiter::{events, WaitQueue};
use crate::mm::lock;
use crate::vfs::path::{walk, walk_parent};
use crate::vfs::{Creds, File, FileType, Inode, IoCtx, LookupFlags};

/// Default `SO_SNDBUF`/`SO_RCVBUF` (Linux's `wmem_default`).
pub const DEFAULT_BUF_SIZE: usize = 212_992;
/// Largest value `SO_SNDBUF`/`SO_RCVBUF` accept before doubling
/// (`wmem_max`, `rmem_max`).
const BUF_MAX: usize = 212_992;
/// Smallest send buffer (`SOCK_MIN_SNDBUF`).
const SNDBUF_MIN: usize = 4608;
/// Smallest receive buffer (`SOCK_MIN_RCVBUF`).
const RCVBUF_MIN: usize = 2304;
/// Messages a datagram socket queues from senders it is not connected to
/// (`net.unix.max_dgram_qlen`).
pub const MAX_DGRAM_QLEN: usize = 10;
/// Largest listen backlog (`net.core.somaxconn` of Linux 4.4).
const SOMAXCONN: usize = 128;
/// What a datagram costs its sender beyond its bytes (stands in for the
/// socket buffer overhead Linux charges).
const MSG_OVERHEAD: usize = 256;
/// Most descriptors one message carries (`SCM_MAX_FD`).
pub const SCM_MAX_FD: usize = 253;
/// `sizeof(struct sockaddr_un)`.
const SOCKADDR_UN_LEN: usize = 110;

/// `sk_shutdown` bits.
const RCV_SHUTDOWN: u8 = 1;
const SEND_SHUTDOWN: u8 = 2;
const SHUTDOWN_MASK: u8 = 3;

const IN: u32 = events::POLLIN | events::POLLRDNORM;
const OUT: u32 = events::POLLOUT | events::POLLWRNORM | events::POLLWRBAND;
const ANY: u32 = events::ALL;

/// The type of a Unix socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SockType {
    Stream,
    Dgram,
    SeqPacket,
}

impl SockType {
    /// The type for a `SOCK_*` value (`SOCK_RAW` is a datagram socket, as
    /// in Linux); `None` if Unix sockets do not support it.
    pub fn from_linux(ty: i32) -> Option<SockType> {
        match ty {
            libc::SOCK_STREAM => Some(SockType::Stream),
            libc::SOCK_DGRAM | libc::SOCK_RAW => Some(SockType::Dgram),
            libc::SOCK_SEQPACKET => Some(SockType::SeqPacket),
            _ => None,
        }
    }

    /// The `SOCK_*` value.
    pub fn to_linux(self) -> i32 {
        match self {
            SockType::Stream => libc::SOCK_STREAM,
            SockType::Dgram => libc::SOCK_DGRAM,
            SockType::SeqPacket => libc::SOCK_SEQPACKET,
        }
    }

    fn connection_oriented(self) -> bool {
        self != SockType::Dgram
    }
}

/// A Unix socket address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UnixAddr {
    /// A file-system path (the bytes before the first NUL).
    Path(Vec<u8>),
    /// An abstract name: the bytes after the leading NUL (NULs included).
    Abstract(Vec<u8>),
}

impl UnixAddr {
    /// Decodes a `struct sockaddr_un` of the length the application gave
    /// (`EINVAL` for a wrong family or length, or no name at all).
    pub fn parse(raw: &[u8]) -> Result<UnixAddr, Errno> {
        if raw.len() <= 2 || raw.len() > SOCKADDR_UN_LEN {
            return Err(Errno::EINVAL);
        }
        if u16::from_le_bytes([raw[0], raw[1]]) != libc::AF_UNIX as u16 {
            return Err(Errno::EINVAL);
        }
        let name = &raw[2..];
        if name[0] == 0 {
            return Ok(UnixAddr::Abstract(name[1..].to_vec()));
        }
        let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        Ok(UnixAddr::Path(name[..end].to_vec()))
    }

    /// The `sockaddr_un` bytes `getsockname` reports: a path with its NUL,
    /// an abstract name with exactly its bytes.
    pub fn to_sockaddr(&self) -> Vec<u8> {
        let mut v = (libc::AF_UNIX as u16).to_le_bytes().to_vec();
        match self {
            UnixAddr::Path(p) => {
                v.extend_from_slice(p);
                v.push(0);
            }
            UnixAddr::Abstract(n) => {
                v.push(0);
                v.extend_from_slice(n);
            }
        }
        v
    }
}

/// The address of an unnamed socket: the family alone.
fn unnamed() -> Vec<u8> {
    (libc::AF_UNIX as u16).to_le_bytes().to_vec()
}

/// The key of an inode in the path table: its address, kept valid (never
/// reused) by the weak reference stored with it.
/// A bound path is known by its inode's identity in its file system:
/// (device, inode number). Inode objects are not unique per file on every
/// file system (the gofer file system makes one per walk), numbers are.
fn inode_key(inode: &Arc<dyn Inode>) -> (u64, u64) {
    let st = inode.stat();
    (st.dev, st.ino)
}

struct PathEntry {
    sock: Weak<UnixSocket>,
}

#[derive(Default)]
struct NsInner {
    /// Abstract names, per socket type (as Linux hashes them).
    abstract_names: HashMap<(SockType, Vec<u8>), Weak<UnixSocket>>,
    paths: HashMap<(u64, u64), PathEntry>,
    next_auto: u32,
}

/// The names of one sandbox's Unix sockets: abstract names and the socket
/// inodes of bound paths.
#[derive(Default)]
pub struct Namespace {
    inner: Mutex<NsInner>,
}

impl Namespace {
    /// An empty namespace.
    pub fn new() -> Arc<Namespace> {
        Arc::new(Namespace::default())
    }

    fn bind_abstract(&self, ty: SockType, name: &[u8], sock: &Weak<UnixSocket>) -> Result<(), Errno> {
        let mut ns = lock(&self.inner);
        let key = (ty, name.to_vec());
        if ns.abstract_names.get(&key).is_some_and(|w| w.strong_count() > 0) {
            return Err(Errno::EADDRINUSE);
        }
        ns.abstract_names.insert(key, sock.clone());
        Ok(())
    }

    /// Picks a free auto-bind name (five hex digits, as Linux) and binds it.
    fn autobind(&self, ty: SockType, sock: &Weak<UnixSocket>) -> Result<Vec<u8>, Errno> {
        let mut ns = lock(&self.inner);
        for _ in 0..=0xfffff {
            ns.next_auto = (ns.next_auto + 1) & 0xfffff;
            let key = (ty, format!("{:05x}", ns.next_auto).into_bytes());
            let taken = ns.abstract_names.get(&key).is_some_and(|w| w.strong_count() > 0);
            if !taken {
                ns.abstract_names.insert(key.clone(), sock.clone());
                return Ok(key.1);
            }
        }
        Err(Errno::ENOSPC)
    }

    fn bind_path(&self, inode: &Arc<dyn Inode>, sock: &Weak<UnixSocket>) {
        lock(&self.inner).paths.insert(inode_key(inode), PathEntry { sock: sock.clone() });
    }

    fn unbind(&self, ty: SockType, binding: &Binding, sock: *const UnixSocket) {
        let mut ns = lock(&self.inner);
        match binding {
            Binding::Abstract(name) => {
                let key = (ty, name.clone());
                if ns.abstract_names.get(&key).is_some_and(|w| std::ptr::eq(w.as_ptr(), sock)) {
                    ns.abstract_names.remove(&key);
                }
            }
            Binding::Path(key) => {
                if ns.paths.get(key).is_some_and(|e| std::ptr::eq(e.sock.as_ptr(), sock)) {
                    ns.paths.remove(key);
                }
            }
        }
    }

    fn lookup_abstract(&self, ty: SockType, name: &[u8]) -> Option<Arc<UnixSocket>> {
        lock(&self.inner).abstract_names.get(&(ty, name.to_vec()))?.upgrade()
    }

    fn lookup_path(&self, inode: &Arc<dyn Inode>) -> Option<Arc<UnixSocket>> {
        let ns = lock(&self.inner);
        ns.paths.get(&inode_key(inode))?.sock.upgrade()
    }
}

/// Where a bound socket is registered in its namespace.
enum Binding {
    Abstract(Vec<u8>),
    Path((u64, u64)),
}

/// One queued message (a datagram, a seqpacket record, or a run of stream
/// bytes).
struct Msg {
    data: Vec<u8>,
    /// Bytes already read (streams).
    off: usize,
    rights: Vec<Arc<File>>,
    creds: Ucred,
    /// The sender's address when it sent.
    from: Option<UnixAddr>,
    sender: Weak<UnixSocket>,
    /// What the sender is still charged for this message.
    charge: usize,
}

impl Drop for Msg {
    fn drop(&mut self) {
        if self.charge > 0 {
            if let Some(s) = self.sender.upgrade() {
                s.uncharge(self.charge);
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Unconnected,
    Connecting,
    Connected,
    Listening,
    Closed,
}

/// The mutable state of a socket.
struct Inner {
    state: State,
    /// Connection-oriented: the other end. Datagram: the default
    /// destination (`connect`).
    peer: Option<Arc<UnixSocket>>,
    addr: Option<UnixAddr>,
    binding: Option<Binding>,
    /// Received messages.
    queue: VecDeque<Msg>,
    /// Listening: connections not yet accepted.
    pending: VecDeque<Arc<UnixSocket>>,
    backlog: usize,
    shutdown: u8,
    /// A pending error (`SO_ERROR`), reported once.
    err: Option<Errno>,
    /// Released (its last file was closed).
    dead: bool,
    passcred: bool,
    sndbuf: usize,
    rcvbuf: usize,
    /// `SO_PEERCRED`.
    peer_cred: Option<Ucred>,
    /// `SO_RCVTIMEO`/`SO_SNDTIMEO` (`None`: wait forever).
    rcvtimeo: Option<Duration>,
    sndtimeo: Option<Duration>,
    /// `SO_LINGER` as given.
    linger: [u8; 8],
    /// Options that are recorded and reported but change nothing for Unix
    /// sockets (`SO_REUSEADDR`, `SO_KEEPALIVE`, ...).
    plain: BTreeMap<i32, i32>,
}

/// An `AF_UNIX` socket.
pub struct UnixSocket {
    ty: SockType,
    ns: Arc<Namespace>,
    me: Weak<UnixSocket>,
    wq: WaitQueue,
    peer_wait: WaitQueue,
    /// Bytes (and overheads) this socket sent that are still queued at a
    /// receiver.
    wmem: AtomicUsize,
    inner: Mutex<Inner>,
}

/// When a wait with `timeout` ends (`None`: never, also for timeouts too
/// far away to represent).
pub(super) fn deadline(timeout: Option<Duration>) -> Option<Instant> {
    timeout.and_then(|d| Instant::now().checked_add(d))
}

/// Socket timeouts end with `EAGAIN`, not `ETIMEDOUT`.
pub(super) fn timeout_to_eagain(e: Errno) -> Errno {
    if e == Errno::ETIMEDOUT {
        Errno::EAGAIN
    } else {
        e
    }
}

/// What `SCM_CREDENTIALS` reports for data that carried no credentials.
const NO_CREDS: Ucred = Ucred { pid: 0, uid: 65534, gid: 65534 };

pub(super) fn int_bytes(v: i32) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}

pub(super) fn timeval_bytes(t: Option<Duration>) -> Vec<u8> {
    let (s, us) = t.map(|d| (d.as_secs() as i64, d.subsec_micros() as i64)).unwrap_or((0, 0));
    let mut v = s.to_le_bytes().to_vec();
    v.extend_from_slice(&us.to_le_bytes());
    v
}

pub(super) fn parse_timeval(b: &[u8]) -> Result<Option<Duration>, Errno> {
    let sec = i64::from_le_bytes(b.get(0..8).ok_or(Errno::EINVAL)?.try_into().map_err(|_| Errno::EINVAL)?);
    let usec = i64::from_le_bytes(b.get(8..16).ok_or(Errno::EINVAL)?.try_into().map_err(|_| Errno::EINVAL)?);
    if !(0..1_000_000).contains(&usec) {
        return Err(Errno::EDOM);
    }
    if sec < 0 {
        return Ok(Some(Duration::ZERO));
    }
    if sec == 0 && usec == 0 {
        return Ok(None);
    }
    // Too long to represent: wait forever, as Linux does past its limit.
    Ok(Duration::from_secs(sec as u64).checked_add(Duration::from_micros(usec as u64)))
}

/// Whether `cx` may write `inode` (connecting to a path needs it).
fn may_write(cx: &SockCtx, inode: &Arc<dyn Inode>) -> bool {
    let c = &cx.creds;
    // CAP_DAC_OVERRIDE.
    if c.has_cap(1) {
        return true;
    }
    let st = inode.stat();
    let bits = if st.uid == c.euid {
        st.mode >> 6
    } else if st.gid == c.egid || c.groups.contains(&st.gid) {
        st.mode >> 3
    } else {
        st.mode
    };
    bits & 2 != 0
}

impl UnixSocket {
    /// A new, unconnected socket of type `ty` in `ns`.
    pub fn new(ns: Arc<Namespace>, ty: SockType) -> Arc<UnixSocket> {
        Arc::new_cyclic(|me| UnixSocket {
            ty,
            ns,
            me: me.clone(),
            wq: WaitQueue::new(),
            peer_wait: WaitQueue::new(),
            wmem: AtomicUsize::new(0),
            inner: Mutex::new(Inner {
                state: State::Unconnected,
                peer: None,
                addr: None,
                binding: None,
                queue: VecDeque::new(),
                pending: VecDeque::new(),
                backlog: 0,
                shutdown: 0,
                err: None,
                dead: false,
                passcred: false,
                sndbuf: DEFAULT_BUF_SIZE,
                rcvbuf: DEFAULT_BUF_SIZE,
                peer_cred: None,
                rcvtimeo: None,
                sndtimeo: None,
                linger: [0; 8],
                plain: BTreeMap::new(),
            }),
        })
    }

    /// `socketpair`: two sockets connected to each other, each with the
    /// creator as peer credentials.
    pub fn pair(ns: &Arc<Namespace>, ty: SockType, cx: &SockCtx) -> (Arc<UnixSocket>, Arc<UnixSocket>) {
        let a = UnixSocket::new(ns.clone(), ty);
        let b = UnixSocket::new(ns.clone(), ty);
        for (s, peer) in [(&a, &b), (&b, &a)] {
            let mut g = s.lock();
            g.peer = Some(peer.clone());
            g.peer_cred = Some(cx.peer_ucred());
            if ty.connection_oriented() {
                g.state = State::Connected;
            }
        }
        (a, b)
    }

    /// The socket's type.
    pub fn kind(&self) -> SockType {
        self.ty
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        lock(&self.inner)
    }

    fn wmem(&self) -> usize {
        self.wmem.load(Ordering::Relaxed)
    }

    fn charge(&self, n: usize) {
        self.wmem.fetch_add(n, Ordering::Relaxed);
    }

    /// A receiver consumed `n` bytes this socket was charged for.
    fn uncharge(&self, n: usize) {
        let _ = self.wmem.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| Some(v.saturating_sub(n)));
        self.wq.notify(OUT);
    }

    fn is(&self, other: &Option<Arc<UnixSocket>>) -> bool {
        other.as_ref().is_some_and(|o| std::ptr::eq(Arc::as_ptr(o), self))
    }

    /// Binds an auto-generated abstract name if the socket has no name.
    fn autobind(&self) -> Result<(), Errno> {
        let mut g = self.lock();
        if g.addr.is_some() {
            return Ok(());
        }
        let name = self.ns.autobind(self.ty, &self.me)?;
        g.addr = Some(UnixAddr::Abstract(name.clone()));
        g.binding = Some(Binding::Abstract(name));
        Ok(())
    }

    fn autobind_if_passcred(&self) -> Result<(), Errno> {
        let (passcred, bound) = {
            let g = self.lock();
            (g.passcred, g.addr.is_some())
        };
        if passcred && !bound {
            self.autobind()?;
        }
        Ok(())
    }

    /// The socket bound to `addr`, of this socket's type.
    fn find(&self, cx: &SockCtx, addr: &UnixAddr) -> Result<Arc<UnixSocket>, Errno> {
        let target = match addr {
            // Abstract names are per type: another type's is not found.
            UnixAddr::Abstract(name) => self.ns.lookup_abstract(self.ty, name).ok_or(Errno::ECONNREFUSED)?,
            UnixAddr::Path(p) => {
                let fs = cx.fs.as_ref().ok_or(Errno::ENOENT)?;
                let path = std::str::from_utf8(p).map_err(|_| Errno::EINVAL)?;
                let d = walk(&fs.root, &fs.cwd, path, LookupFlags::FOLLOW)?;
                let inode = d.inode();
                if !may_write(cx, inode) {
                    return Err(Errno::EACCES);
                }
                if inode.file_type() != FileType::Socket {
                    return Err(Errno::ECONNREFUSED);
                }
                self.ns.lookup_path(inode).ok_or(Errno::ECONNREFUSED)?
            }
        };
        if target.ty != self.ty {
            return Err(Errno::EPROTOTYPE);
        }
        Ok(target)
    }

    fn bind_path(&self, cx: &SockCtx, addr: UnixAddr, path: &[u8]) -> Result<(), Errno> {
        let fs = cx.fs.as_ref().ok_or(Errno::ENOENT)?;
        let path = std::str::from_utf8(path).map_err(|_| Errno::EINVAL)?;
        let (parent, name, trailing) = walk_parent(&fs.root, &fs.cwd, path)?;
        let name = name.ok_or(Errno::EADDRINUSE)?;
        if trailing {
            // mknod of "name/": an existing name is in use, else ENOENT.
            return Err(if parent.inode().lookup(&name).is_ok() { Errno::EADDRINUSE } else { Errno::ENOENT });
        }
        let creds = Creds { uid: cx.creds.euid, gid: cx.creds.egid };
        let inode = match parent.inode().create(&name, FileType::Socket, 0o777 & !fs.umask, creds) {
            Ok(i) => i,
            Err(Errno::EEXIST) => return Err(Errno::EADDRINUSE),
            Err(e) => return Err(e),
        };
        let mut g = self.lock();
        // As Linux, a second bind leaves the new file behind.
        if g.addr.is_some() {
            return Err(Errno::EINVAL);
        }
        self.ns.bind_path(&inode, &self.me);
        g.addr = Some(addr);
        g.binding = Some(Binding::Path(inode_key(&inode)));
        Ok(())
    }

    fn connect_stream(&self, cx: &SockCtx, io: &IoCtx, raw: &[u8]) -> Result<(), Errno> {
        let addr = UnixAddr::parse(raw)?;
        let own_err = {
            let mut g = self.lock();
            match g.state {
                State::Connected => Some(Errno::EISCONN),
                State::Connecting => Some(Errno::EALREADY),
                State::Listening | State::Closed => Some(Errno::EINVAL),
                State::Unconnected => {
                    g.state = State::Connecting;
                    None
                }
            }
        };
        if let Some(e) = own_err {
            // Linux looks at the listener before at this socket's state.
            let l = self.find(cx, &addr)?;
            let lg = l.lock();
            if lg.dead || lg.state != State::Listening || lg.shutdown & RCV_SHUTDOWN != 0 {
                return Err(Errno::ECONNREFUSED);
            }
            if lg.pending.len() > lg.backlog && io.nonblock {
                return Err(Errno::EAGAIN);
            }
            return Err(e);
        }
        let r = self.connect_stream_to(cx, io, &addr);
        if r.is_err() {
            let mut g = self.lock();
            if g.state == State::Connecting {
                g.state = State::Unconnected;
            }
        }
        r
    }

    fn connect_stream_to(&self, cx: &SockCtx, io: &IoCtx, addr: &UnixAddr) -> Result<(), Errno> {
        self.autobind_if_passcred()?;
        let me = self.me.upgrade().ok_or(Errno::EINVAL)?;
        let listener = self.find(cx, addr)?;
        let listener_addr = listener.lock().addr.clone();
        let server = UnixSocket::new(self.ns.clone(), self.ty);
        {
            let mut s = server.lock();
            s.state = State::Connected;
            s.peer = Some(me);
            s.peer_cred = Some(cx.peer_ucred());
            s.addr = listener_addr;
        }
        let timeo = self.lock().sndtimeo;
        let listener_cred = io
            .block_until(&[&listener.peer_wait], ANY, deadline(timeo), || {
                let mut l = listener.lock();
                if l.dead || l.state != State::Listening || l.shutdown & RCV_SHUTDOWN != 0 {
                    return Err(Errno::ECONNREFUSED);
                }
                if l.pending.len() > l.backlog {
                    return Err(Errno::EAGAIN);
                }
                l.pending.push_back(server.clone());
                Ok(l.peer_cred.unwrap_or(Ucred::NONE))
            })
            .map_err(timeout_to_eagain)?;
        listener.wq.notify(IN);
        {
            let mut g = self.lock();
            g.state = State::Connected;
            g.peer = Some(server);
            g.peer_cred = Some(listener_cred);
        }
        self.wq.notify(ANY);
        Ok(())
    }

    fn connect_dgram(&self, cx: &SockCtx, raw: &[u8]) -> Result<(), Errno> {
        if raw.len() < 2 {
            return Err(Errno::EINVAL);
        }
        let target = if u16::from_le_bytes([raw[0], raw[1]]) == libc::AF_UNSPEC as u16 {
            None
        } else {
            let addr = UnixAddr::parse(raw)?;
            self.autobind_if_passcred()?;
            let t = self.find(cx, &addr)?;
            {
                let tg = t.lock();
                if tg.dead {
                    return Err(Errno::ECONNREFUSED);
                }
                if !(tg.peer.is_none() || self.is(&tg.peer)) {
                    return Err(Errno::EPERM);
                }
            }
            Some(t)
        };
        let (old, purged) = {
            let mut g = self.lock();
            let changed = match (&g.peer, &target) {
                (Some(o), Some(t)) => !Arc::ptr_eq(o, t),
                (Some(_), None) => true,
                _ => false,
            };
            // Linux drops what was received from the old peer.
            let purged = if changed { std::mem::take(&mut g.queue) } else { VecDeque::new() };
            (std::mem::replace(&mut g.peer, target), purged)
        };
        drop(old);
        drop(purged);
        self.peer_wait.notify(ANY);
        self.wq.notify(ANY);
        Ok(())
    }

    fn send_stream(&self, cx: &SockCtx, io: &IoCtx, msg: SendMsg) -> Result<usize, Errno> {
        let (peer, sndbuf, timeo, from) = {
            let g = self.lock();
            if msg.to.is_some() {
                return Err(if g.state == State::Connected { Errno::EISCONN } else { Errno::EOPNOTSUPP });
            }
            let peer = match (&g.peer, g.state) {
                (Some(p), State::Connected) => p.clone(),
                _ => return Err(Errno::ENOTCONN),
            };
            if g.shutdown & SEND_SHUTDOWN != 0 {
                return Err(Errno::EPIPE);
            }
            (peer, g.sndbuf, g.sndtimeo, g.addr.clone())
        };
        let len = msg.data.len();
        if len == 0 {
            return Ok(0);
        }
        let creds = msg.creds.unwrap_or_else(|| cx.ucred());
        let chunk = (sndbuf / 2).saturating_sub(64).max(1);
        let mut rights = Some(msg.rights);
        let dl = deadline(timeo);
        let mut sent = 0;
        while sent < len {
            let r = io.block_until(&[&self.wq], ANY, dl, || {
                if self.lock().shutdown & SEND_SHUTDOWN != 0 {
                    return Err(Errno::EPIPE);
                }
                if self.wmem() >= sndbuf {
                    return Err(Errno::EAGAIN);
                }
                let n = (len - sent).min(chunk);
                let m = Msg {
                    data: msg.data[sent..sent + n].to_vec(),
                    off: 0,
                    rights: rights.take().unwrap_or_default(),
                    creds,
                    from: from.clone(),
                    sender: self.me.clone(),
                    charge: 0,
                };
                peer.enqueue_stream(m, self)?;
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

    /// Appends stream bytes from `sender` to this socket's queue.
    fn enqueue_stream(&self, mut m: Msg, sender: &UnixSocket) -> Result<(), Errno> {
        let n = m.data.len();
        let mut g = self.lock();
        if g.dead || g.shutdown & RCV_SHUTDOWN != 0 {
            drop(g);
            drop(m);
            return Err(Errno::EPIPE);
        }
        sender.charge(n);
        let joined = match g.queue.back_mut() {
            Some(last)
                if last.rights.is_empty()
                    && m.rights.is_empty()
                    && last.creds == m.creds
                    && last.from == m.from
                    && std::ptr::eq(last.sender.as_ptr(), m.sender.as_ptr()) =>
            {
                if last.off > 0 {
                    last.data.drain(..last.off);
                    last.off = 0;
                }
                last.data.append(&mut m.data);
                last.charge += n;
                true
            }
            _ => false,
        };
        if !joined {
            m.charge = n;
            g.queue.push_back(m);
            drop(g);
        } else {
            drop(g);
            // Empty, uncharged, without files: dropping it does nothing.
            drop(m);
        }
        self.wq.notify(IN);
        Ok(())
    }

    fn send_dgram(&self, cx: &SockCtx, io: &IoCtx, msg: SendMsg) -> Result<usize, Errno> {
        let (explicit, peer) = {
            let g = self.lock();
            if self.ty == SockType::SeqPacket {
                if g.state != State::Connected {
                    return Err(Errno::ENOTCONN);
                }
                (None, g.peer.clone())
            } else {
                match &msg.to {
                    Some(raw) => (Some(UnixAddr::parse(raw)?), None),
                    None => (None, Some(g.peer.clone().ok_or(Errno::ENOTCONN)?)),
                }
            }
        };
        self.autobind_if_passcred()?;
        let (sndbuf, timeo, from) = {
            let g = self.lock();
            if g.shutdown & SEND_SHUTDOWN != 0 {
                return Err(Errno::EPIPE);
            }
            (g.sndbuf, g.sndtimeo, g.addr.clone())
        };
        if msg.len > sndbuf - 32 {
            return Err(Errno::EMSGSIZE);
        }
        let target = match (&explicit, peer) {
            (Some(addr), _) => self.find(cx, addr)?,
            (None, Some(p)) => p,
            (None, None) => return Err(Errno::ENOTCONN),
        };
        let len = msg.data.len();
        let mut m = Some(Msg {
            data: msg.data,
            off: 0,
            rights: msg.rights,
            creds: msg.creds.unwrap_or_else(|| cx.ucred()),
            from,
            sender: self.me.clone(),
            charge: 0,
        });
        let r = io.block_until(&[&self.wq, &target.peer_wait], ANY, deadline(timeo), || {
            if self.wmem() >= sndbuf {
                return Err(Errno::EAGAIN);
            }
            let mut t = target.lock();
            if t.dead {
                drop(t);
                if self.ty == SockType::SeqPacket {
                    return Err(Errno::EPIPE);
                }
                // The connected peer is gone: disconnect (once).
                let old = {
                    let mut g = self.lock();
                    if g.peer.as_ref().is_some_and(|p| Arc::ptr_eq(p, &target)) {
                        g.peer.take()
                    } else {
                        None
                    }
                };
                drop(old);
                return Err(Errno::ECONNREFUSED);
            }
            let mutual = self.is(&t.peer);
            if self.ty == SockType::Dgram && !(t.peer.is_none() || mutual) {
                return Err(Errno::EPERM);
            }
            if t.shutdown & RCV_SHUTDOWN != 0 {
                return Err(Errno::EPIPE);
            }
            if !mutual && t.queue.len() > MAX_DGRAM_QLEN {
                return Err(Errno::EAGAIN);
            }
            let Some(mut msg) = m.take() else { return Err(Errno::EINVAL) };
            msg.charge = len + MSG_OVERHEAD;
            self.charge(msg.charge);
            t.queue.push_back(msg);
            drop(t);
            target.wq.notify(IN);
            Ok(len)
        });
        // Drop what was not sent with no lock held.
        drop(m);
        r.map_err(timeout_to_eagain)
    }

    fn recv_stream(&self, io: &IoCtx, len: usize, flags: i32) -> Result<Received, Errno> {
        let (passcred, timeo) = {
            let g = self.lock();
            if g.state != State::Connected {
                return Err(Errno::EINVAL);
            }
            (g.passcred, g.rcvtimeo)
        };
        let peek = flags & libc::MSG_PEEK != 0;
        let target = if flags & libc::MSG_WAITALL != 0 { len.max(1) } else { 1 };
        let mut out = Received::default();
        let mut creds: Option<Ucred> = None;
        let r = io.block_until(&[&self.wq], ANY, deadline(timeo), || {
            if peek {
                out = Received::default();
                creds = None;
            }
            let mut popped: Vec<Msg> = Vec::new();
            let mut uncharges: Vec<(Weak<UnixSocket>, usize)> = Vec::new();
            let mut g = self.lock();
            let mut boundary = false;
            let mut i = 0;
            while out.data.len() < len || len == 0 {
                let Some(m) = g.queue.get_mut(i) else { break };
                if passcred {
                    match creds {
                        // Never join data of different writers.
                        Some(c) if c != m.creds => {
                            boundary = true;
                            break;
                        }
                        _ => creds = Some(m.creds),
                    }
                }
                if out.from.is_none() {
                    out.from = m.from.as_ref().map(UnixAddr::to_sockaddr);
                }
                let n = (m.data.len() - m.off).min(len - out.data.len());
                out.data.extend_from_slice(&m.data[m.off..m.off + n]);
                let has_rights = !m.rights.is_empty();
                if peek {
                    if has_rights {
                        out.rights = m.rights.clone();
                        boundary = true;
                        break;
                    }
                    if len == 0 {
                        break;
                    }
                    i += 1;
                    continue;
                }
                m.off += n;
                let c = n.min(m.charge);
                m.charge -= c;
                uncharges.push((m.sender.clone(), c));
                if has_rights {
                    out.rights = std::mem::take(&mut m.rights);
                }
                if m.off < m.data.len() {
                    boundary |= has_rights;
                    break;
                }
                popped.extend(g.queue.pop_front());
                if has_rights {
                    boundary = true;
                    break;
                }
            }
            let copied = out.data.len();
            let enough = copied >= target || boundary || (len == 0 && !g.queue.is_empty());
            // With part of a MSG_WAITALL read, an end or an error ends it.
            let ended = copied > 0 && (g.shutdown & RCV_SHUTDOWN != 0 || g.err.is_some());
            let r = if enough || ended {
                Ok(())
            } else if copied == 0 {
                if let Some(e) = g.err.take() {
                    Err(e)
                } else if g.shutdown & RCV_SHUTDOWN != 0 {
                    Ok(())
                } else {
                    Err(Errno::EAGAIN)
                }
            } else {
                Err(Errno::EAGAIN)
            };
            drop(g);
            drop(popped);
            for (s, c) in uncharges {
                if let (Some(s), true) = (s.upgrade(), c > 0) {
                    s.uncharge(c);
                }
            }
            r
        });
        match r {
            Ok(()) => {}
            Err(_) if !out.data.is_empty() => {}
            Err(e) => return Err(timeout_to_eagain(e)),
        }
        if passcred {
            out.creds = Some(creds.unwrap_or(NO_CREDS));
        }
        out.msg_len = out.data.len();
        Ok(out)
    }

    fn recv_dgram(&self, io: &IoCtx, len: usize, flags: i32) -> Result<Received, Errno> {
        let (passcred, timeo) = {
            let g = self.lock();
            if self.ty == SockType::SeqPacket && g.state != State::Connected {
                return Err(Errno::ENOTCONN);
            }
            (g.passcred, g.rcvtimeo)
        };
        let peek = flags & libc::MSG_PEEK != 0;
        let r = io.block_until(&[&self.wq], ANY, deadline(timeo), || {
            let mut g = self.lock();
            if let Some(e) = g.err.take() {
                return Err(e);
            }
            let Some(m) = g.queue.front_mut() else {
                return if g.shutdown & RCV_SHUTDOWN != 0 { Ok(Received::default()) } else { Err(Errno::EAGAIN) };
            };
            let n = len.min(m.data.len());
            let mut out = Received {
                data: m.data[..n].to_vec(),
                msg_len: m.data.len(),
                from: m.from.as_ref().map(UnixAddr::to_sockaddr),
                creds: passcred.then_some(m.creds),
                flags: if n < m.data.len() { libc::MSG_TRUNC } else { 0 },
                rights: Vec::new(),
            };
            let popped = if peek {
                out.rights = m.rights.clone();
                None
            } else {
                out.rights = std::mem::take(&mut m.rights);
                g.queue.pop_front()
            };
            drop(g);
            if popped.is_some() {
                drop(popped);
                self.peer_wait.notify(OUT);
            }
            Ok(out)
        });
        let mut out = r.map_err(timeout_to_eagain)?;
        if passcred && out.creds.is_none() {
            out.creds = Some(NO_CREDS);
        }
        Ok(out)
    }

    /// Closes the socket. `embryo`: a connection that was never accepted
    /// (its peer sees `ECONNRESET`).
    fn release_inner(&self, embryo: bool) {
        let (peer, binding, queue, pending, had_unread) = {
            let mut g = self.lock();
            if g.dead {
                return;
            }
            g.dead = true;
            g.shutdown = SHUTDOWN_MASK;
            g.state = State::Closed;
            let had_unread = !g.queue.is_empty();
            (g.peer.take(), g.binding.take(), std::mem::take(&mut g.queue), std::mem::take(&mut g.pending), had_unread)
        };
        if let Some(b) = binding {
            self.ns.unbind(self.ty, &b, self);
        }
        if let Some(p) = &peer {
            if self.ty.connection_oriented() {
                {
                    let mut pg = p.lock();
                    pg.shutdown = SHUTDOWN_MASK;
                    if had_unread || embryo {
                        pg.err = Some(Errno::ECONNRESET);
                    }
                }
                p.wq.notify(ANY);
            }
        }
        for s in pending {
            s.release_inner(true);
        }
        drop(queue);
        drop(peer);
        self.wq.notify(ANY);
        self.peer_wait.notify(ANY);
    }

    fn queued_bytes(&self) -> Result<usize, Errno> {
        let g = self.lock();
        if g.state == State::Listening {
            return Err(Errno::EINVAL);
        }
        Ok(if self.ty.connection_oriented() {
            g.queue.iter().map(|m| m.data.len() - m.off).sum()
        } else {
            g.queue.front().map(|m| m.data.len()).unwrap_or(0)
        })
    }
}

impl Socket for UnixSocket {
    fn family(&self) -> i32 {
        libc::AF_UNIX
    }

    fn sock_type(&self) -> i32 {
        self.ty.to_linux()
    }

    fn bind(&self, cx: &SockCtx, raw: &[u8]) -> Result<(), Errno> {
        if raw.len() < 2 || u16::from_le_bytes([raw[0], raw[1]]) != libc::AF_UNIX as u16 {
            return Err(Errno::EINVAL);
        }
        if raw.len() == 2 {
            return self.autobind();
        }
        let addr = UnixAddr::parse(raw)?;
        match &addr {
            UnixAddr::Path(p) => {
                let p = p.clone();
                self.bind_path(cx, addr, &p)
            }
            UnixAddr::Abstract(name) => {
                let mut g = self.lock();
                if g.addr.is_some() {
                    return Err(Errno::EINVAL);
                }
                self.ns.bind_abstract(self.ty, name, &self.me)?;
                g.binding = Some(Binding::Abstract(name.clone()));
                g.addr = Some(addr);
                Ok(())
            }
        }
    }

    fn listen(&self, cx: &SockCtx, backlog: i32) -> Result<(), Errno> {
        if self.ty == SockType::Dgram {
            return Err(Errno::EOPNOTSUPP);
        }
        let grew = {
            let mut g = self.lock();
            if g.addr.is_none() || !matches!(g.state, State::Unconnected | State::Listening) {
                return Err(Errno::EINVAL);
            }
            let backlog = if backlog < 0 { SOMAXCONN } else { (backlog as usize).min(SOMAXCONN) };
            let grew = backlog > g.backlog;
            g.backlog = backlog;
            g.state = State::Listening;
            g.peer_cred = Some(cx.peer_ucred());
            grew
        };
        if grew {
            self.peer_wait.notify(ANY);
        }
        self.wq.notify(ANY);
        Ok(())
    }

    fn accept(&self, io: &IoCtx) -> Result<Arc<dyn Socket>, Errno> {
        if self.ty == SockType::Dgram {
            return Err(Errno::EOPNOTSUPP);
        }
        let timeo = self.lock().rcvtimeo;
        let (s, passcred) = io
            .block_until(&[&self.wq], ANY, deadline(timeo), || {
                let mut g = self.lock();
                if g.state != State::Listening {
                    return Err(Errno::EINVAL);
                }
                match g.pending.pop_front() {
                    Some(s) => Ok((s, g.passcred)),
                    None => Err(Errno::EAGAIN),
                }
            })
            .map_err(timeout_to_eagain)?;
        self.peer_wait.notify(OUT);
        if passcred {
            s.lock().passcred = true;
        }
        Ok(s)
    }

    fn connect(&self, cx: &SockCtx, io: &IoCtx, addr: &[u8]) -> Result<(), Errno> {
        match self.ty {
            SockType::Dgram => self.connect_dgram(cx, addr),
            _ => self.connect_stream(cx, io, addr),
        }
    }

    fn local_name(&self) -> Vec<u8> {
        self.lock().addr.as_ref().map(UnixAddr::to_sockaddr).unwrap_or_else(unnamed)
    }

    fn peer_name(&self) -> Result<Vec<u8>, Errno> {
        let peer = {
            let g = self.lock();
            if self.ty.connection_oriented() && g.state != State::Connected {
                return Err(Errno::ENOTCONN);
            }
            g.peer.clone().ok_or(Errno::ENOTCONN)?
        };
        let name = peer.local_name();
        Ok(name)
    }

    fn shutdown(&self, how: i32) -> Result<(), Errno> {
        if !(libc::SHUT_RD..=libc::SHUT_RDWR).contains(&how) {
            return Err(Errno::EINVAL);
        }
        let mode = (how + 1) as u8;
        let peer = {
            let mut g = self.lock();
            g.shutdown |= mode;
            g.peer.clone()
        };
        self.wq.notify(ANY);
        if let (Some(p), true) = (peer, self.ty.connection_oriented()) {
            let mut peer_mode = 0;
            if mode & RCV_SHUTDOWN != 0 {
                peer_mode |= SEND_SHUTDOWN;
            }
            if mode & SEND_SHUTDOWN != 0 {
                peer_mode |= RCV_SHUTDOWN;
            }
            p.lock().shutdown |= peer_mode;
            p.wq.notify(ANY);
        }
        Ok(())
    }

    fn send(&self, cx: &SockCtx, io: &IoCtx, msg: SendMsg) -> Result<usize, Errno> {
        if msg.flags & libc::MSG_OOB != 0 {
            return Err(Errno::EOPNOTSUPP);
        }
        let io = IoCtx { nonblock: io.nonblock || msg.flags & libc::MSG_DONTWAIT != 0, ..*io };
        match self.ty {
            SockType::Stream => self.send_stream(cx, &io, msg),
            _ => self.send_dgram(cx, &io, msg),
        }
    }

    fn recv(&self, io: &IoCtx, len: usize, flags: i32) -> Result<Received, Errno> {
        if flags & libc::MSG_OOB != 0 {
            return Err(Errno::EOPNOTSUPP);
        }
        let io = IoCtx { nonblock: io.nonblock || flags & libc::MSG_DONTWAIT != 0, ..*io };
        match self.ty {
            SockType::Stream => self.recv_stream(&io, len, flags),
            _ => self.recv_dgram(&io, len, flags),
        }
    }

    fn getsockopt(&self, level: i32, name: i32) -> Result<Vec<u8>, Errno> {
        if level != libc::SOL_SOCKET {
            return Err(Errno::EOPNOTSUPP);
        }
        let mut g = self.lock();
        Ok(match name {
            libc::SO_TYPE => int_bytes(self.ty.to_linux()),
            libc::SO_DOMAIN => int_bytes(libc::AF_UNIX),
            libc::SO_PROTOCOL => int_bytes(0),
            libc::SO_ERROR => int_bytes(g.err.take().map(|e| e.0).unwrap_or(0)),
            libc::SO_PEERCRED => g.peer_cred.unwrap_or(Ucred::NONE).to_bytes().to_vec(),
            libc::SO_SNDBUF => int_bytes(g.sndbuf as i32),
            libc::SO_RCVBUF => int_bytes(g.rcvbuf as i32),
            libc::SO_PASSCRED => int_bytes(g.passcred as i32),
            libc::SO_ACCEPTCONN => int_bytes((g.state == State::Listening) as i32),
            libc::SO_RCVTIMEO => timeval_bytes(g.rcvtimeo),
            libc::SO_SNDTIMEO => timeval_bytes(g.sndtimeo),
            libc::SO_LINGER => g.linger.to_vec(),
            libc::SO_RCVLOWAT | libc::SO_SNDLOWAT => int_bytes(1),
            n if n == libc::SO_PRIORITY || n == libc::SO_PASSSEC || super::RECORDED_FLAGS.contains(&n) => {
                int_bytes(g.plain.get(&name).copied().unwrap_or(0))
            }
            _ => return Err(Errno::ENOPROTOOPT),
        })
    }

    fn setsockopt(&self, level: i32, name: i32, value: &[u8]) -> Result<(), Errno> {
        if level != libc::SOL_SOCKET {
            return Err(Errno::EOPNOTSUPP);
        }
        let val = i32::from_le_bytes(value.get(..4).ok_or(Errno::EINVAL)?.try_into().map_err(|_| Errno::EINVAL)?);
        let mut g = self.lock();
        match name {
            libc::SO_SNDBUF => {
                g.sndbuf = ((val as u32 as usize).min(BUF_MAX) * 2).max(SNDBUF_MIN);
                drop(g);
                self.wq.notify(OUT);
            }
            libc::SO_RCVBUF => g.rcvbuf = ((val as u32 as usize).min(BUF_MAX) * 2).max(RCVBUF_MIN),
            libc::SO_PASSCRED => g.passcred = val != 0,
            libc::SO_RCVTIMEO => g.rcvtimeo = parse_timeval(value)?,
            libc::SO_SNDTIMEO => g.sndtimeo = parse_timeval(value)?,
            libc::SO_LINGER => {
                g.linger = value.get(..8).ok_or(Errno::EINVAL)?.try_into().map_err(|_| Errno::EINVAL)?;
                // l_onoff is reported as a boolean.
                let on = (i32::from_le_bytes([g.linger[0], g.linger[1], g.linger[2], g.linger[3]]) != 0) as i32;
                g.linger[..4].copy_from_slice(&on.to_le_bytes());
            }
            libc::SO_RCVLOWAT => {}
            libc::SO_PRIORITY => {
                if !(0..=6).contains(&val) {
                    return Err(Errno::EPERM);
                }
                g.plain.insert(name, val);
            }
            n if n == libc::SO_PASSSEC || super::RECORDED_FLAGS.contains(&n) => {
                g.plain.insert(name, (val != 0) as i32);
            }
            _ => return Err(Errno::ENOPROTOOPT),
        }
        Ok(())
    }

    fn ioctl(&self, io: &IoCtx, request: u64, arg: u64) -> SysResult {
        let v = match request {
            // FIONREAD / SIOCINQ
            0x541b => self.queued_bytes()?,
            // TIOCOUTQ / SIOCOUTQ
            0x5411 => self.wmem(),
            _ => return Err(Errno::ENOTTY),
        };
        let mm = io.mm.ok_or(Errno::EFAULT)?;
        mm.write_u32(arg, v.min(i32::MAX as usize) as u32)?;
        Ok(0)
    }

    fn readiness(&self, mask: u32) -> u32 {
        let (peer, state, sndbuf, mut ready) = {
            let g = self.lock();
            let mut r = 0;
            if g.err.is_some() {
                r |= events::POLLERR;
            }
            if g.shutdown == SHUTDOWN_MASK {
                r |= events::POLLHUP;
            }
            if g.shutdown & RCV_SHUTDOWN != 0 {
                r |= events::POLLRDHUP | IN;
            }
            if !g.queue.is_empty() || !g.pending.is_empty() {
                r |= IN;
            }
            (g.peer.clone(), g.state, g.sndbuf, r)
        };
        if self.ty.connection_oriented() && !matches!(state, State::Connected | State::Listening) {
            ready |= events::POLLHUP;
        }
        let mut writable = state != State::Listening && self.wmem() * 4 <= sndbuf;
        if writable && self.ty == SockType::Dgram && mask & OUT != 0 {
            if let Some(p) = peer {
                let pg = p.lock();
                if !self.is(&pg.peer) && pg.queue.len() > MAX_DGRAM_QLEN {
                    writable = false;
                }
            }
        }
        if writable {
            ready |= OUT;
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

#[cfg(test)]
mod tests;
