//! Sockets.
//!
//! Every socket the application creates lives in the Sentry: the Sentry's
//! seccomp filter forbids it to create host sockets, and application
//! system calls are never forwarded. A socket is a [`Socket`] (the
//! protocol: connection state, queues, options) wrapped in an open file
//! ([`File`]) whose inode is a [`SocketInode`] (so `fstat` reports
//! `S_IFSOCK`) and whose operations ([`SocketFile`]) make `read`, `write`,
//! `poll` and `close` work on it like on any other file.
//!
//! Families:
//!
//! - `AF_UNIX` ([`unix`]): stream, datagram and sequenced-packet sockets,
//!   path and abstract names, `SCM_RIGHTS` and `SCM_CREDENTIALS`;
//! - `AF_INET` and `AF_INET6` ([`inet`]): TCP and UDP on a loopback-only
//!   network (`127.0.0.0/8` and `::1`, as gVisor's `--network=none`), so
//!   programs in one sandbox can talk to each other; no host network;
//! - `AF_NETLINK`, `AF_PACKET` and the rest: `EAFNOSUPPORT`.
//!
//! The [`Socket`] interface is family-neutral: addresses travel as the raw
//! `sockaddr` bytes the application gave or will receive, and ancillary
//! data as open files ([`SendMsg::rights`]) and credentials ([`Ucred`]);
//! the system call layer does the copying and the `cmsghdr` encoding.

pub mod inet;
pub mod unix;

use std::any::Any;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::errno::{Errno, SysResult};
use crate::kernel::waiter::WaitQueue;
use crate::kernel::Credentials;
use crate::vfs::stat::makedev;
use crate::vfs::{flags, File, FileOps, FileType, FsContext, Inode, IoCtx, Stat, Timespec};

/// `SOL_SOCKET` options every family records as booleans and reports back
/// (0 or 1) without acting on them.
pub(crate) const RECORDED_FLAGS: &[i32] = &[
    libc::SO_REUSEADDR,
    libc::SO_REUSEPORT,
    libc::SO_KEEPALIVE,
    libc::SO_BROADCAST,
    libc::SO_OOBINLINE,
    libc::SO_DONTROUTE,
    libc::SO_DEBUG,
    libc::SO_TIMESTAMP,
];

/// Credentials as `SCM_CREDENTIALS` and `SO_PEERCRED` report them
/// (`struct ucred`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ucred {
    pub pid: i32,
    pub uid: u32,
    pub gid: u32,
}

impl Ucred {
    /// What Linux reports for a socket that has no peer credentials: pid
    /// 0 and ids -1.
    pub const NONE: Ucred = Ucred { pid: 0, uid: u32::MAX, gid: u32::MAX };

    /// The 12-byte `struct ucred`.
    pub fn to_bytes(self) -> [u8; 12] {
        let mut b = [0u8; 12];
        b[0..4].copy_from_slice(&self.pid.to_le_bytes());
        b[4..8].copy_from_slice(&self.uid.to_le_bytes());
        b[8..12].copy_from_slice(&self.gid.to_le_bytes());
        b
    }

    /// Decodes a `struct ucred` (at least 12 bytes).
    pub fn from_bytes(b: &[u8]) -> Option<Ucred> {
        let word = |i: usize| -> Option<[u8; 4]> { b.get(i..i + 4)?.try_into().ok() };
        Some(Ucred {
            pid: i32::from_le_bytes(word(0)?),
            uid: u32::from_le_bytes(word(4)?),
            gid: u32::from_le_bytes(word(8)?),
        })
    }
}

/// Who is calling a socket operation: the task's process id and
/// credentials, and its file-system view (for path names).
#[derive(Clone)]
pub struct SockCtx {
    /// Thread-group id in the sandbox (what `getpid` returns).
    pub pid: i32,
    pub creds: Credentials,
    /// Root, working directory and umask; `None` when the caller has no
    /// file-system context (path names then fail with `ENOENT`).
    pub fs: Option<FsContext>,
}

impl SockCtx {
    /// The sender's credentials as `SCM_CREDENTIALS` carries them by
    /// default (real ids).
    pub fn ucred(&self) -> Ucred {
        Ucred { pid: self.pid, uid: self.creds.uid, gid: self.creds.gid }
    }

    /// The credentials `SO_PEERCRED` records (effective ids).
    pub fn peer_ucred(&self) -> Ucred {
        Ucred { pid: self.pid, uid: self.creds.euid, gid: self.creds.egid }
    }

    /// Whether `c` may be sent as `SCM_CREDENTIALS` by this caller, as
    /// Linux's `scm_check_creds`: its own pid unless it has
    /// `CAP_SYS_ADMIN`, a uid among its own unless `CAP_SETUID`, a gid
    /// among its own unless `CAP_SETGID`.
    pub fn may_send_creds(&self, c: &Ucred) -> bool {
        const CAP_SETGID: u32 = 6;
        const CAP_SETUID: u32 = 7;
        const CAP_SYS_ADMIN: u32 = 21;
        let cr = &self.creds;
        (c.pid == self.pid || cr.has_cap(CAP_SYS_ADMIN))
            && ([cr.uid, cr.euid, cr.suid].contains(&c.uid) || cr.has_cap(CAP_SETUID))
            && ([cr.gid, cr.egid, cr.sgid].contains(&c.gid) || cr.has_cap(CAP_SETGID))
    }
}

/// A message to send.
#[derive(Default)]
pub struct SendMsg {
    /// The bytes (all of them; see [`len`](SendMsg::len)).
    pub data: Vec<u8>,
    /// The length the application asked to send. Message sockets reject
    /// an oversized message (`EMSGSIZE`) from this without the system call
    /// layer copying it; otherwise `data.len() == len`.
    pub len: usize,
    /// Destination `sockaddr` (`sendto`, `msg_name`).
    pub to: Option<Vec<u8>>,
    /// `SCM_RIGHTS`: open files to pass.
    pub rights: Vec<Arc<File>>,
    /// `SCM_CREDENTIALS` given explicitly (already checked with
    /// [`SockCtx::may_send_creds`]).
    pub creds: Option<Ucred>,
    /// `MSG_*` flags.
    pub flags: i32,
}

/// What a receive returned.
#[derive(Default)]
pub struct Received {
    /// The bytes received.
    pub data: Vec<u8>,
    /// Datagram sockets: the length of the whole message (more than
    /// `data.len()` when it was truncated).
    pub msg_len: usize,
    /// The sender's address (`sockaddr` bytes), if it has one.
    pub from: Option<Vec<u8>>,
    /// Files passed with `SCM_RIGHTS`, to install in the receiver.
    pub rights: Vec<Arc<File>>,
    /// Credentials to deliver as `SCM_CREDENTIALS` (when the receiver
    /// asked for them with `SO_PASSCRED`).
    pub creds: Option<Ucred>,
    /// `MSG_TRUNC` and friends for `msg_flags`.
    pub flags: i32,
}

/// A socket of any family. Blocking operations sleep through the
/// [`IoCtx`] (`IoCtx::block`), so `O_NONBLOCK`/`MSG_DONTWAIT` and
/// interruption work as for other files.
pub trait Socket: Send + Sync {
    /// `SO_DOMAIN`.
    fn family(&self) -> i32;
    /// `SO_TYPE`.
    fn sock_type(&self) -> i32;
    /// `SO_PROTOCOL`.
    fn protocol(&self) -> i32 {
        0
    }
    /// `bind`.
    fn bind(&self, cx: &SockCtx, addr: &[u8]) -> Result<(), Errno>;
    /// `listen`.
    fn listen(&self, cx: &SockCtx, backlog: i32) -> Result<(), Errno>;
    /// `accept`: the new connection.
    fn accept(&self, io: &IoCtx) -> Result<Arc<dyn Socket>, Errno>;
    /// `connect`.
    fn connect(&self, cx: &SockCtx, io: &IoCtx, addr: &[u8]) -> Result<(), Errno>;
    /// `getsockname`: the local address.
    fn local_name(&self) -> Vec<u8>;
    /// `getpeername`.
    fn peer_name(&self) -> Result<Vec<u8>, Errno>;
    /// `shutdown`.
    fn shutdown(&self, how: i32) -> Result<(), Errno>;
    /// Sends `msg`; returns the bytes sent.
    fn send(&self, cx: &SockCtx, io: &IoCtx, msg: SendMsg) -> Result<usize, Errno>;
    /// Receives at most `len` bytes.
    fn recv(&self, io: &IoCtx, len: usize, flags: i32) -> Result<Received, Errno>;
    /// `getsockopt`: the option's value (the caller truncates it to the
    /// application's buffer).
    fn getsockopt(&self, level: i32, name: i32) -> Result<Vec<u8>, Errno>;
    /// `setsockopt`.
    fn setsockopt(&self, level: i32, name: i32, value: &[u8]) -> Result<(), Errno>;
    /// `ioctl` on the socket (`FIONREAD`, `TIOCOUTQ`).
    fn ioctl(&self, _io: &IoCtx, _request: u64, _arg: u64) -> SysResult {
        Err(Errno::ENOTTY)
    }
    /// The `poll` events among `mask` that are ready now.
    fn readiness(&self, mask: u32) -> u32;
    /// Notified whenever [`readiness`](Socket::readiness) may have changed.
    fn wait_queue(&self) -> &WaitQueue;
    /// The last file referring to the socket was closed.
    fn release(&self);
    /// For families to recover their concrete type.
    fn as_any(&self) -> &dyn Any;
}

static NEXT_INO: AtomicU64 = AtomicU64::new(1);

/// The inode of a socket file (Linux's sockfs inode): `S_IFSOCK | 0777`,
/// owned by the creator.
pub struct SocketInode {
    sock: Arc<dyn Socket>,
    ino: u64,
    uid: u32,
    gid: u32,
    created: Timespec,
}

impl SocketInode {
    /// The socket.
    pub fn socket(&self) -> &Arc<dyn Socket> {
        &self.sock
    }
}

impl Inode for SocketInode {
    fn stat(&self) -> Stat {
        Stat {
            dev: makedev(0, 8),
            ino: self.ino,
            mode: libc::S_IFSOCK | 0o777,
            nlink: 1,
            uid: self.uid,
            gid: self.gid,
            blksize: 4096,
            atime: self.created,
            mtime: self.created,
            ctime: self.created,
            ..Stat::default()
        }
    }

    fn file_type(&self) -> FileType {
        FileType::Socket
    }

    fn open(self: Arc<Self>, _flags: u32) -> Result<Box<dyn FileOps>, Errno> {
        Err(Errno::ENXIO)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The file operations of a socket: `read`/`write` are receive/send
/// without flags; dropping the last description releases the socket.
pub struct SocketFile {
    sock: Arc<dyn Socket>,
    /// Credentials for sends that come through plain file writes from
    /// outside a system call that knows its task (`sendfile`): the
    /// creator's.
    owner: SockCtx,
}

impl FileOps for SocketFile {
    fn read(&self, ctx: &IoCtx, _offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        let r = self.sock.recv(ctx, buf.len(), 0)?;
        let n = r.data.len().min(buf.len());
        buf[..n].copy_from_slice(&r.data[..n]);
        // Passed files without a control buffer are closed (as Linux).
        drop(r.rights);
        Ok(n)
    }

    fn write(&self, ctx: &IoCtx, _offset: u64, buf: &[u8]) -> Result<usize, Errno> {
        // SIGPIPE: an EPIPE from here reaches the generic write path, which
        // raises SIGPIPE for pipes and sockets alike.
        let msg = SendMsg { data: buf.to_vec(), len: buf.len(), ..SendMsg::default() };
        self.sock.send(&self.owner, ctx, msg)
    }

    fn ioctl(&self, ctx: &IoCtx, request: u64, arg: u64) -> SysResult {
        self.sock.ioctl(ctx, request, arg)
    }

    fn readiness(&self, mask: u32) -> u32 {
        self.sock.readiness(mask)
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(self.sock.wait_queue())
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        self.sock.release();
    }
}

/// A new open file for `sock`, created by `cx` (`O_RDWR`, plus
/// `O_NONBLOCK` if asked).
pub fn new_file(sock: Arc<dyn Socket>, nonblock: bool, cx: &SockCtx) -> Arc<File> {
    let inode = Arc::new(SocketInode {
        sock: sock.clone(),
        ino: NEXT_INO.fetch_add(1, Ordering::Relaxed),
        uid: cx.creds.euid,
        gid: cx.creds.egid,
        created: Timespec::now(),
    });
    let owner = SockCtx { fs: None, ..cx.clone() };
    let fl = flags::O_RDWR | if nonblock { flags::O_NONBLOCK } else { 0 };
    Arc::new(File::new(None, inode, Box::new(SocketFile { sock, owner }), fl))
}

/// The socket an open file is, if it is one.
pub fn socket_of(file: &File) -> Option<&Arc<dyn Socket>> {
    file.inode().as_any().downcast_ref::<SocketInode>().map(SocketInode::socket)
}
