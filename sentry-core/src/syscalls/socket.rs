//! Socket system calls: socket, socketpair, bind, listen, accept(4),
//! connect, getsockname, getpeername, shutdown, send/recv families
//! (sendto, recvfrom, sendmsg, recvmsg, sendmmsg, recvmmsg), getsockopt,
//! setsockopt; and `read`/`write`/`readv`/`writev` on sockets (called from
//! [`file`](super::file)).
//!
//! This layer copies between application memory and the family-neutral
//! [`Socket`] interface ([`crate::net`]): `sockaddr`s as bytes, iovecs
//! gathered into and scattered from Sentry buffers, and ancillary data
//! encoded and decoded as `cmsghdr`s (`SCM_RIGHTS` files are taken from
//! the sender's descriptor table at send and installed in the receiver's
//! at receive; `SCM_CREDENTIALS` checked against the sender's ids).
//!
//! Stream sends larger than a chunk (1 MiB) are sent chunk by chunk, so
//! the Sentry never copies a whole large buffer at once; a datagram must
//! fit a send buffer (at most 425984 bytes) and is copied whole.

use std::sync::Arc;
use std::time::Instant;

use super::{Args, Handler};
use crate::errno::{Errno, SysResult};
use crate::kernel::Task;
use crate::mm::{lock, IoVec, MAX_RW_COUNT};
use crate::net::inet::{self, tcp::TcpSocket, udp::UdpSocket};
use crate::net::unix::{SockType, UnixSocket, SCM_MAX_FD};
use crate::net::{new_file, socket_of, Received, SendMsg, SockCtx, Socket, Ucred};
use crate::vfs::{flags, File};

pub(super) const HANDLERS: &[(i64, Handler)] = &[
    (libc::SYS_socket, sys_socket),
    (libc::SYS_socketpair, sys_socketpair),
    (libc::SYS_bind, sys_bind),
    (libc::SYS_listen, sys_listen),
    (libc::SYS_accept, sys_accept),
    (libc::SYS_accept4, sys_accept4),
    (libc::SYS_connect, sys_connect),
    (libc::SYS_getsockname, sys_getsockname),
    (libc::SYS_getpeername, sys_getpeername),
    (libc::SYS_shutdown, sys_shutdown),
    (libc::SYS_sendto, sys_sendto),
    (libc::SYS_recvfrom, sys_recvfrom),
    (libc::SYS_sendmsg, sys_sendmsg),
    (libc::SYS_recvmsg, sys_recvmsg),
    (libc::SYS_sendmmsg, sys_sendmmsg),
    (libc::SYS_recvmmsg, sys_recvmmsg),
    (libc::SYS_getsockopt, sys_getsockopt),
    (libc::SYS_setsockopt, sys_setsockopt),
];

/// `NPROTO`/`AF_MAX` of Linux 4.4: families at or above are unknown.
const AF_MAX: i32 = 41;
/// Most iovecs (and `mmsghdr`s) one call takes (`UIO_MAXIOV`).
const UIO_MAXIOV: u64 = 1024;
/// `SOCK_MAX`.
const SOCK_MAX: i32 = 11;
/// `SOCK_TYPE_MASK`.
const SOCK_TYPE_MASK: i32 = 0xf;
/// `sizeof(struct sockaddr_storage)`.
const SOCKADDR_STORAGE: usize = 128;
/// `net.core.optmem_max`: the largest control buffer `sendmsg` takes.
const OPTMEM_MAX: u64 = 20480;
/// `sizeof(struct cmsghdr)`.
const CMSG_HDR: usize = 16;
/// `sizeof(struct msghdr)`.
const MSGHDR: usize = 56;
/// `sizeof(struct mmsghdr)`.
const MMSGHDR: u64 = 64;
/// Largest Sentry buffer one stream transfer step uses.
const CHUNK: usize = 1 << 20;

fn cmsg_align(n: usize) -> usize {
    (n + 7) & !7
}

/// The caller, as sockets see it.
fn sock_ctx(t: &Task) -> SockCtx {
    SockCtx { pid: t.tg.tgid, creds: t.creds.clone(), fs: Some(lock(&t.fs).clone()) }
}

fn nofile(t: &Task) -> u64 {
    lock(&t.tg.rlimits)[libc::RLIMIT_NOFILE as usize].0
}

fn install(t: &Task, file: Arc<File>, cloexec: bool) -> Result<i32, Errno> {
    let limit = nofile(t);
    lock(&t.fds).insert(file, cloexec, 0, limit)
}

/// The socket behind `fd` (`EBADF`, `ENOTSOCK`).
fn socket_fd(t: &Task, fd: i32) -> Result<(Arc<File>, Arc<dyn Socket>), Errno> {
    let f = t.file(fd)?;
    let s = socket_of(&f).cloned().ok_or(Errno::ENOTSOCK)?;
    Ok((f, s))
}

/// `MSG_DONTWAIT` if the file is non-blocking (as Linux adds it).
fn with_file_flags(f: &File, flags: i32) -> i32 {
    if f.flags() & flags::O_NONBLOCK != 0 {
        flags | libc::MSG_DONTWAIT
    } else {
        flags
    }
}

/// An error of a send. `SIGPIPE` for `EPIPE` (unless `MSG_NOSIGNAL`) is
/// raised by the dispatcher, which sees the call's flags
/// (`syscalls::raises_sigpipe`); this only traces it.
fn send_error(t: &Task, e: Errno, flags: i32) -> Errno {
    if e == Errno::EPIPE && flags & libc::MSG_NOSIGNAL == 0 {
        tracing::trace!(tid = t.tid, "send: EPIPE (SIGPIPE follows)");
    }
    e
}

/// Copies a `sockaddr` in (`move_addr_to_kernel`).
fn read_sockaddr(t: &Task, addr: u64, len: i32) -> Result<Vec<u8>, Errno> {
    if len < 0 || len as usize > SOCKADDR_STORAGE {
        return Err(Errno::EINVAL);
    }
    t.mm.copy_in_vec(addr, len as usize)
}

/// Copies a `sockaddr` out (`move_addr_to_user`): at most `*lenp` bytes,
/// then the full length to `*lenp`.
fn write_sockaddr(t: &Task, addr: u64, lenp: u64, data: &[u8]) -> Result<(), Errno> {
    let len = t.mm.read_u32(lenp)? as i32;
    if len < 0 {
        return Err(Errno::EINVAL);
    }
    let n = (len as usize).min(data.len());
    t.mm.copy_out(addr, &data[..n])?;
    t.mm.write_u32(lenp, data.len() as u32)
}

fn iov_total(iovs: &[IoVec]) -> usize {
    iovs.iter().map(|v| v.len as usize).sum()
}

/// Copies up to `max` bytes of the iovecs, starting `skip` bytes in.
fn gather(t: &Task, iovs: &[IoVec], mut skip: usize, max: usize) -> Result<Vec<u8>, Errno> {
    let mut out = Vec::new();
    for iov in iovs {
        let len = iov.len as usize;
        if skip >= len {
            skip -= len;
            continue;
        }
        let n = (len - skip).min(max - out.len());
        let start = out.len();
        out.resize(start + n, 0);
        t.mm.copy_in(iov.base.checked_add(skip as u64).ok_or(Errno::EFAULT)?, &mut out[start..])?;
        skip = 0;
        if out.len() == max {
            break;
        }
    }
    Ok(out)
}

/// Copies `data` into the iovecs, starting `skip` bytes in.
fn scatter(t: &Task, iovs: &[IoVec], mut skip: usize, data: &[u8]) -> Result<(), Errno> {
    let mut done = 0;
    for iov in iovs {
        if done == data.len() {
            break;
        }
        let len = iov.len as usize;
        if skip >= len {
            skip -= len;
            continue;
        }
        let n = (len - skip).min(data.len() - done);
        t.mm.copy_out(iov.base.checked_add(skip as u64).ok_or(Errno::EFAULT)?, &data[done..done + n])?;
        done += n;
        skip = 0;
    }
    Ok(())
}

/// What a send carries besides the bytes.
#[derive(Default)]
struct Extras {
    to: Option<Vec<u8>>,
    rights: Vec<Arc<File>>,
    creds: Option<Ucred>,
}

/// Sends the iovecs' bytes; stream sockets chunk by chunk.
fn send_iovecs(t: &Task, sock: &Arc<dyn Socket>, iovs: &[IoVec], extras: Extras, flags: i32) -> SysResult {
    let cx = sock_ctx(t);
    let total = iov_total(iovs);
    let send = |data: Vec<u8>, len: usize, ex: Extras| -> Result<usize, Errno> {
        let msg = SendMsg { data, len, to: ex.to, rights: ex.rights, creds: ex.creds, flags };
        t.io(|ctx| sock.send(&cx, ctx, msg))
    };
    if sock.sock_type() != libc::SOCK_STREAM {
        // One message: copy it whole unless it is too big to be sent.
        let data = if total <= CHUNK { gather(t, iovs, 0, total)? } else { Vec::new() };
        return send(data, total, extras).map(|n| n as u64).map_err(|e| send_error(t, e, flags));
    }
    let mut extras = Some(extras);
    let mut sent = 0;
    loop {
        let data = match gather(t, iovs, sent, (total - sent).min(CHUNK)) {
            Ok(d) => d,
            Err(e) if sent == 0 => return Err(e),
            Err(_) => break,
        };
        let n = data.len();
        let ex = extras.take().unwrap_or_default();
        match send(data, n, ex) {
            Ok(k) => {
                sent += k;
                if k < n || sent >= total {
                    break;
                }
            }
            Err(_) if sent > 0 => break,
            Err(e) => return Err(send_error(t, e, flags)),
        }
    }
    Ok(sent as u64)
}

/// Receives into the iovecs; returns the value for the application and
/// what came with the data (whose bytes have been copied out).
///
/// Stream sockets receive at most a chunk per step, so a large
/// `MSG_WAITALL` read never holds more than a chunk in the Sentry. Bytes a
/// step received are lost if copying them out faults (`EFAULT`).
fn recv_iovecs(t: &Task, sock: &Arc<dyn Socket>, iovs: &[IoVec], flags: i32) -> Result<(u64, Received), Errno> {
    let len = iov_total(iovs);
    if sock.sock_type() != libc::SOCK_STREAM {
        let r = t.io(|ctx| sock.recv(ctx, len, flags))?;
        scatter(t, iovs, 0, &r.data)?;
        let ret = if flags & libc::MSG_TRUNC != 0 { r.msg_len } else { r.data.len() };
        return Ok((ret as u64, r));
    }
    let mut first: Option<Received> = None;
    let mut total = 0;
    loop {
        let want = (len - total).min(CHUNK);
        let r = match t.io(|ctx| sock.recv(ctx, want, flags)) {
            Ok(r) => r,
            Err(_) if total > 0 => break,
            Err(e) => return Err(e),
        };
        match scatter(t, iovs, total, &r.data) {
            Ok(()) => {}
            Err(_) if total > 0 => break,
            Err(e) => return Err(e),
        }
        let n = r.data.len();
        total += n;
        let has_rights = !r.rights.is_empty();
        match first.as_mut() {
            None => first = Some(r),
            Some(f) => f.rights.extend(r.rights),
        }
        let waitall = flags & libc::MSG_WAITALL != 0 && flags & libc::MSG_PEEK == 0;
        if !waitall || n < want || n == 0 || has_rights || total >= len {
            break;
        }
    }
    let mut r = first.unwrap_or_default();
    r.data.clear();
    Ok((total as u64, r))
}

/// `read`/`readv` on a socket.
pub(super) fn read_socket(t: &Task, file: &File, sock: &Arc<dyn Socket>, iovs: &[IoVec]) -> SysResult {
    let (n, r) = recv_iovecs(t, sock, iovs, with_file_flags(file, 0))?;
    // Passed files are closed when there is no control buffer.
    drop(r.rights);
    Ok(n)
}

/// `write`/`writev` on a socket.
pub(super) fn write_socket(t: &Task, file: &File, sock: &Arc<dyn Socket>, iovs: &[IoVec]) -> SysResult {
    send_iovecs(t, sock, iovs, Extras::default(), with_file_flags(file, 0))
}

fn sys_socket(t: &mut Task, a: &Args) -> SysResult {
    let (domain, ty, protocol) = (a.i32(0), a.i32(1), a.i32(2));
    let fl = ty & !SOCK_TYPE_MASK;
    if fl & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    let sock = new_socket(t, domain, ty & SOCK_TYPE_MASK, protocol)?;
    let file = new_file(sock, fl & libc::SOCK_NONBLOCK != 0, &sock_ctx(t));
    Ok(install(t, file, fl & libc::SOCK_CLOEXEC != 0)? as u64)
}

/// A `socket` request after Linux's checks: which kind of socket.
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    Unix(SockType),
    /// `AF_INET`/`AF_INET6` TCP.
    Tcp(i32),
    /// `AF_INET`/`AF_INET6` UDP.
    Udp(i32),
}

/// Validates `socket`'s arguments (flags removed) as Linux does, in its
/// order. `net_raw`: the caller has `CAP_NET_RAW` (for `SOCK_RAW`).
fn socket_kind(domain: i32, ty: i32, protocol: i32, net_raw: bool) -> Result<Kind, Errno> {
    if !(0..AF_MAX).contains(&domain) {
        return Err(Errno::EAFNOSUPPORT);
    }
    if !(0..SOCK_MAX).contains(&ty) {
        return Err(Errno::EINVAL);
    }
    match domain {
        libc::AF_UNIX => {
            if protocol != 0 && protocol != libc::AF_UNIX {
                return Err(Errno::EPROTONOSUPPORT);
            }
            SockType::from_linux(ty).map(Kind::Unix).ok_or(Errno::ESOCKTNOSUPPORT)
        }
        libc::AF_INET | libc::AF_INET6 => {
            if !(0..256).contains(&protocol) {
                return Err(Errno::EINVAL);
            }
            Ok(if inet::socket_kind(ty, protocol, net_raw)? { Kind::Tcp(domain) } else { Kind::Udp(domain) })
        }
        // AF_NETLINK, AF_PACKET, ...: not supported.
        _ => Err(Errno::EAFNOSUPPORT),
    }
}

/// Validates `socketpair`'s arguments: only Unix sockets come in pairs
/// (`EOPNOTSUPP` for TCP and UDP, as Linux).
fn unix_type(domain: i32, ty: i32, protocol: i32) -> Result<SockType, Errno> {
    match socket_kind(domain, ty, protocol, false)? {
        Kind::Unix(t) => Ok(t),
        _ => Err(Errno::EOPNOTSUPP),
    }
}

fn new_socket(t: &Task, domain: i32, ty: i32, protocol: i32) -> Result<Arc<dyn Socket>, Errno> {
    // CAP_NET_RAW
    let net_raw = t.creds.has_cap(13);
    Ok(match socket_kind(domain, ty, protocol, net_raw)? {
        Kind::Unix(ty) => UnixSocket::new(t.kernel.inner.unix_names.clone(), ty),
        Kind::Tcp(family) => TcpSocket::new(t.kernel.inner.inet.clone(), family),
        Kind::Udp(family) => UdpSocket::new(t.kernel.inner.inet.clone(), family),
    })
}

fn sys_socketpair(t: &mut Task, a: &Args) -> SysResult {
    let (domain, ty, protocol, sv) = (a.i32(0), a.i32(1), a.i32(2), a.u64(3));
    let fl = ty & !SOCK_TYPE_MASK;
    if fl & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    let kind = unix_type(domain, ty & SOCK_TYPE_MASK, protocol)?;
    let cx = sock_ctx(t);
    let (s0, s1) = UnixSocket::pair(&t.kernel.inner.unix_names, kind, &cx);
    let nonblock = fl & libc::SOCK_NONBLOCK != 0;
    let cloexec = fl & libc::SOCK_CLOEXEC != 0;
    let (f0, f1) = (new_file(s0, nonblock, &cx), new_file(s1, nonblock, &cx));
    let limit = nofile(t);
    // The descriptors are published only if their numbers reach the
    // application (fd table before MM, in lock order).
    let mut fds = lock(&t.fds);
    let fd0 = fds.insert(f0, cloexec, 0, limit)?;
    let fd1 = match fds.insert(f1, cloexec, 0, limit) {
        Ok(fd) => fd,
        Err(e) => {
            let e0 = fds.remove(fd0);
            drop(fds);
            drop(e0);
            return Err(e);
        }
    };
    let mut pair = [0u8; 8];
    pair[..4].copy_from_slice(&fd0.to_le_bytes());
    pair[4..].copy_from_slice(&fd1.to_le_bytes());
    if let Err(e) = t.mm.copy_out(sv, &pair) {
        let removed = (fds.remove(fd0), fds.remove(fd1));
        drop(fds);
        drop(removed);
        return Err(e);
    }
    Ok(0)
}

fn sys_bind(t: &mut Task, a: &Args) -> SysResult {
    let (_, sock) = socket_fd(t, a.i32(0))?;
    let addr = read_sockaddr(t, a.u64(1), a.i32(2))?;
    sock.bind(&sock_ctx(t), &addr)?;
    Ok(0)
}

fn sys_listen(t: &mut Task, a: &Args) -> SysResult {
    let (_, sock) = socket_fd(t, a.i32(0))?;
    sock.listen(&sock_ctx(t), a.i32(1))?;
    Ok(0)
}

fn accept4(t: &Task, fd: i32, addr: u64, lenp: u64, fl: i32) -> SysResult {
    if fl & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    let (file, sock) = socket_fd(t, fd)?;
    let nonblock = file.flags() & flags::O_NONBLOCK != 0;
    let new = t.io(|ctx| sock.accept(&crate::vfs::IoCtx { nonblock: ctx.nonblock || nonblock, ..*ctx }))?;
    let peer = new.peer_name().unwrap_or_default();
    let new_file = new_file(new, fl & libc::SOCK_NONBLOCK != 0, &sock_ctx(t));
    if addr != 0 {
        // On failure the connection is dropped, as in Linux.
        write_sockaddr(t, addr, lenp, &peer)?;
    }
    Ok(install(t, new_file, fl & libc::SOCK_CLOEXEC != 0)? as u64)
}

fn sys_accept(t: &mut Task, a: &Args) -> SysResult {
    accept4(t, a.i32(0), a.u64(1), a.u64(2), 0)
}

fn sys_accept4(t: &mut Task, a: &Args) -> SysResult {
    accept4(t, a.i32(0), a.u64(1), a.u64(2), a.i32(3))
}

fn sys_connect(t: &mut Task, a: &Args) -> SysResult {
    let (file, sock) = socket_fd(t, a.i32(0))?;
    let addr = read_sockaddr(t, a.u64(1), a.i32(2))?;
    let nonblock = file.flags() & flags::O_NONBLOCK != 0;
    let cx = sock_ctx(t);
    t.io(|ctx| sock.connect(&cx, &crate::vfs::IoCtx { nonblock: ctx.nonblock || nonblock, ..*ctx }, &addr))?;
    Ok(0)
}

fn sys_getsockname(t: &mut Task, a: &Args) -> SysResult {
    let (_, sock) = socket_fd(t, a.i32(0))?;
    write_sockaddr(t, a.u64(1), a.u64(2), &sock.local_name())?;
    Ok(0)
}

fn sys_getpeername(t: &mut Task, a: &Args) -> SysResult {
    let (_, sock) = socket_fd(t, a.i32(0))?;
    let name = sock.peer_name()?;
    write_sockaddr(t, a.u64(1), a.u64(2), &name)?;
    Ok(0)
}

fn sys_shutdown(t: &mut Task, a: &Args) -> SysResult {
    let (_, sock) = socket_fd(t, a.i32(0))?;
    sock.shutdown(a.i32(1))?;
    Ok(0)
}

fn sys_sendto(t: &mut Task, a: &Args) -> SysResult {
    let (file, sock) = socket_fd(t, a.i32(0))?;
    let len = a.u64(2).min(i32::MAX as u64).min(MAX_RW_COUNT);
    let iov = [IoVec { base: a.u64(1), len }];
    let (addr, addrlen) = (a.u64(4), a.i32(5));
    let to = if addr != 0 && addrlen != 0 { Some(read_sockaddr(t, addr, addrlen)?) } else { None };
    let flags = with_file_flags(&file, a.i32(3));
    send_iovecs(t, &sock, &iov, Extras { to, ..Extras::default() }, flags)
}

fn sys_recvfrom(t: &mut Task, a: &Args) -> SysResult {
    let (file, sock) = socket_fd(t, a.i32(0))?;
    let len = a.u64(2).min(i32::MAX as u64).min(MAX_RW_COUNT);
    let iov = [IoVec { base: a.u64(1), len }];
    let flags = with_file_flags(&file, a.i32(3));
    let (n, r) = recv_iovecs(t, &sock, &iov, flags)?;
    drop(r.rights);
    let (addr, lenp) = (a.u64(4), a.u64(5));
    if addr != 0 {
        write_sockaddr(t, addr, lenp, r.from.as_deref().unwrap_or(&[]))?;
    }
    Ok(n)
}

/// A `struct msghdr` as the application laid it out.
struct MsgHdr {
    name: u64,
    namelen: i32,
    iov: u64,
    iovlen: u64,
    control: u64,
    controllen: u64,
}

fn read_msghdr(t: &Task, addr: u64) -> Result<MsgHdr, Errno> {
    let b: [u8; MSGHDR] = t.mm.read_bytes(addr)?;
    let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap_or([0; 8]));
    let name = u64_at(0);
    let namelen = if name == 0 { 0 } else { i32::from_le_bytes(b[8..12].try_into().unwrap_or([0; 4])) };
    let h = MsgHdr { name, namelen, iov: u64_at(16), iovlen: u64_at(24), control: u64_at(32), controllen: u64_at(40) };
    if h.iovlen > UIO_MAXIOV {
        return Err(Errno::EMSGSIZE);
    }
    if h.namelen < 0 {
        return Err(Errno::EINVAL);
    }
    Ok(h)
}

/// Decodes `sendmsg` control messages (`__scm_send`).
fn parse_control(t: &Task, cx: &SockCtx, ctl: &[u8], extras: &mut Extras) -> Result<(), Errno> {
    let mut off = 0;
    while off + CMSG_HDR <= ctl.len() {
        let h = &ctl[off..off + CMSG_HDR];
        let len = u64::from_le_bytes(h[0..8].try_into().map_err(|_| Errno::EINVAL)?);
        let level = i32::from_le_bytes(h[8..12].try_into().map_err(|_| Errno::EINVAL)?);
        let ty = i32::from_le_bytes(h[12..16].try_into().map_err(|_| Errno::EINVAL)?);
        if len < CMSG_HDR as u64 || len > (ctl.len() - off) as u64 {
            return Err(Errno::EINVAL);
        }
        let len = len as usize;
        let data = &ctl[off + CMSG_HDR..off + len];
        if level == libc::SOL_SOCKET {
            match ty {
                libc::SCM_RIGHTS => {
                    let n = data.len() / 4;
                    if extras.rights.len() + n > SCM_MAX_FD {
                        return Err(Errno::EINVAL);
                    }
                    for fd in data.chunks_exact(4) {
                        let fd = i32::from_le_bytes(fd.try_into().map_err(|_| Errno::EINVAL)?);
                        extras.rights.push(t.file(fd)?);
                    }
                }
                libc::SCM_CREDENTIALS => {
                    let c = Ucred::from_bytes(data).filter(|_| data.len() == 12).ok_or(Errno::EINVAL)?;
                    if !cx.may_send_creds(&c) {
                        return Err(Errno::EPERM);
                    }
                    extras.creds = Some(c);
                }
                _ => return Err(Errno::EINVAL),
            }
        }
        off += cmsg_align(len);
    }
    Ok(())
}

fn sendmsg(t: &Task, file: &File, sock: &Arc<dyn Socket>, msg: u64, flags: i32) -> SysResult {
    let h = read_msghdr(t, msg)?;
    let mut extras = Extras::default();
    if h.namelen > 0 {
        extras.to = Some(t.mm.copy_in_vec(h.name, (h.namelen as usize).min(SOCKADDR_STORAGE))?);
    }
    if h.controllen > i32::MAX as u64 || h.controllen > OPTMEM_MAX {
        return Err(Errno::ENOBUFS);
    }
    if h.controllen > 0 {
        let ctl = t.mm.copy_in_vec(h.control, h.controllen as usize)?;
        parse_control(t, &sock_ctx(t), &ctl, &mut extras)?;
    }
    let iovs = t.mm.copy_in_iovecs(h.iov, h.iovlen)?;
    send_iovecs(t, sock, &iovs, extras, with_file_flags(file, flags))
}

fn sys_sendmsg(t: &mut Task, a: &Args) -> SysResult {
    let (file, sock) = socket_fd(t, a.i32(0))?;
    sendmsg(t, &file, &sock, a.u64(1), a.i32(2) & !libc::MSG_CMSG_CLOEXEC)
}

/// Builds the control data of a received message into `ctl` (at most
/// `cap` bytes), installing passed files; returns the `msg_flags` bits it
/// adds.
fn put_control(t: &Task, r: Received, cap: usize, cloexec: bool, ctl: &mut Vec<u8>) -> i32 {
    let mut mflags = 0;
    let header = |len: usize, ty: i32| -> Vec<u8> {
        let mut h = (len as u64).to_le_bytes().to_vec();
        h.extend_from_slice(&libc::SOL_SOCKET.to_le_bytes());
        h.extend_from_slice(&ty.to_le_bytes());
        h
    };
    if let Some(c) = r.creds {
        let room = cap - ctl.len();
        if room < CMSG_HDR {
            mflags |= libc::MSG_CTRUNC;
        } else {
            let full = CMSG_HDR + 12;
            let len = if room < full {
                mflags |= libc::MSG_CTRUNC;
                room
            } else {
                full
            };
            let mut m = header(len, libc::SCM_CREDENTIALS);
            m.extend_from_slice(&c.to_bytes());
            m.truncate(len);
            ctl.extend_from_slice(&m);
            ctl.resize(ctl.len() + (cmsg_align(full).min(room) - len), 0);
        }
    }
    if !r.rights.is_empty() {
        let room = cap - ctl.len();
        let fdmax = if room > CMSG_HDR { (room - CMSG_HDR) / 4 } else { 0 };
        let limit = nofile(t);
        let mut fds: Vec<i32> = Vec::new();
        {
            let mut table = lock(&t.fds);
            for f in r.rights.iter().take(fdmax) {
                match table.insert(f.clone(), cloexec, 0, limit) {
                    Ok(fd) => fds.push(fd),
                    Err(_) => break,
                }
            }
        }
        if !fds.is_empty() {
            let len = CMSG_HDR + 4 * fds.len();
            ctl.extend_from_slice(&header(len, libc::SCM_RIGHTS));
            for fd in &fds {
                ctl.extend_from_slice(&fd.to_le_bytes());
            }
            ctl.resize(ctl.len() + (cmsg_align(len).min(room) - len), 0);
        }
        if fds.len() < r.rights.len() {
            mflags |= libc::MSG_CTRUNC;
        }
        // Files that did not fit are closed here, with no lock held.
        drop(r.rights);
    }
    mflags
}

/// `recvmsg` on one `msghdr`; returns the byte count.
fn recvmsg(t: &Task, file: &File, sock: &Arc<dyn Socket>, msg: u64, flags: i32) -> SysResult {
    let h = read_msghdr(t, msg)?;
    let iovs = t.mm.copy_in_iovecs(h.iov, h.iovlen)?;
    let (n, mut r) = recv_iovecs(t, sock, &iovs, with_file_flags(file, flags))?;
    if h.name != 0 {
        let from = r.from.take().unwrap_or_default();
        let k = (h.namelen as usize).min(from.len());
        t.mm.copy_out(h.name, &from[..k])?;
        t.mm.write_u32(msg + 8, from.len() as u32)?;
    }
    let mut mflags = r.flags | (flags & libc::MSG_CMSG_CLOEXEC);
    let mut ctl = Vec::new();
    if h.control == 0 {
        if r.creds.is_some() || !r.rights.is_empty() {
            mflags |= libc::MSG_CTRUNC;
        }
        drop(r.rights);
    } else {
        let cap = usize::try_from(h.controllen).unwrap_or(usize::MAX);
        mflags |= put_control(t, r, cap, flags & libc::MSG_CMSG_CLOEXEC != 0, &mut ctl);
        t.mm.copy_out(h.control, &ctl)?;
    }
    t.mm.write_u64(msg + 40, ctl.len() as u64)?;
    t.mm.write_u32(msg + 48, mflags as u32)?;
    Ok(n)
}

fn sys_recvmsg(t: &mut Task, a: &Args) -> SysResult {
    let (file, sock) = socket_fd(t, a.i32(0))?;
    recvmsg(t, &file, &sock, a.u64(1), a.i32(2))
}

fn sys_sendmmsg(t: &mut Task, a: &Args) -> SysResult {
    let (file, sock) = socket_fd(t, a.i32(0))?;
    let (vec, vlen, flags) = (a.u64(1), a.u32(2).min(UIO_MAXIOV as u32), a.i32(3));
    let mut done = 0u64;
    while done < vlen as u64 {
        let entry = vec.checked_add(done * MMSGHDR).ok_or(Errno::EFAULT)?;
        match sendmsg(t, &file, &sock, entry, flags) {
            Ok(n) => t.mm.write_u32(entry + MSGHDR as u64, n as u32)?,
            Err(_) if done > 0 => break,
            Err(e) => return Err(e),
        }
        done += 1;
    }
    Ok(done)
}

fn sys_recvmmsg(t: &mut Task, a: &Args) -> SysResult {
    let (file, sock) = socket_fd(t, a.i32(0))?;
    let (vec, vlen, mut flags, tsp) = (a.u64(1), a.u32(2).min(UIO_MAXIOV as u32), a.i32(3), a.u64(4));
    let deadline = if tsp != 0 { Instant::now().checked_add(super::time::read_timespec(t, tsp)?) } else { None };
    let mut done = 0u64;
    while done < vlen as u64 {
        let entry = vec.checked_add(done * MMSGHDR).ok_or(Errno::EFAULT)?;
        match recvmsg(t, &file, &sock, entry, flags & !libc::MSG_WAITFORONE) {
            Ok(n) => t.mm.write_u32(entry + MSGHDR as u64, n as u32)?,
            Err(_) if done > 0 => break,
            Err(e) => return Err(e),
        }
        done += 1;
        if flags & libc::MSG_WAITFORONE != 0 {
            flags |= libc::MSG_DONTWAIT;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
    }
    if let Some(d) = deadline {
        let left = d.saturating_duration_since(Instant::now());
        let mut b = (left.as_secs() as i64).to_le_bytes().to_vec();
        b.extend_from_slice(&(left.subsec_nanos() as i64).to_le_bytes());
        t.mm.copy_out(tsp, &b)?;
    }
    Ok(done)
}

fn sys_getsockopt(t: &mut Task, a: &Args) -> SysResult {
    let (_, sock) = socket_fd(t, a.i32(0))?;
    let (level, name, optval, optlen) = (a.i32(1), a.i32(2), a.u64(3), a.u64(4));
    let len = if level == libc::SOL_SOCKET {
        let len = t.mm.read_u32(optlen)? as i32;
        if len < 0 {
            return Err(Errno::EINVAL);
        }
        Some(len as usize)
    } else {
        None
    };
    let v = sock.getsockopt(level, name)?;
    let len = match len {
        Some(l) => l,
        None => t.mm.read_u32(optlen)? as usize,
    };
    let n = len.min(v.len());
    t.mm.copy_out(optval, &v[..n])?;
    t.mm.write_u32(optlen, n as u32)?;
    Ok(0)
}

fn sys_setsockopt(t: &mut Task, a: &Args) -> SysResult {
    let (_, sock) = socket_fd(t, a.i32(0))?;
    let (level, name, optval, optlen) = (a.i32(1), a.i32(2), a.u64(3), a.i32(4));
    if optlen < 0 {
        return Err(Errno::EINVAL);
    }
    if level == libc::SOL_SOCKET && optlen < 4 {
        return Err(Errno::EINVAL);
    }
    let v = t.mm.copy_in_vec(optval, (optlen as usize).min(64))?;
    sock.setsockopt(level, name, &v)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_arguments_are_checked_in_linux_order() {
        assert_eq!(unix_type(libc::AF_UNIX, libc::SOCK_STREAM, 0), Ok(SockType::Stream));
        assert_eq!(unix_type(libc::AF_UNIX, libc::SOCK_RAW, libc::AF_UNIX), Ok(SockType::Dgram));
        assert_eq!(socket_kind(libc::AF_INET, libc::SOCK_STREAM, 0, false), Ok(Kind::Tcp(libc::AF_INET)));
        assert_eq!(socket_kind(libc::AF_INET6, libc::SOCK_STREAM, 6, false), Ok(Kind::Tcp(libc::AF_INET6)));
        assert_eq!(socket_kind(libc::AF_INET6, libc::SOCK_DGRAM, 0, false), Ok(Kind::Udp(libc::AF_INET6)));
        assert_eq!(socket_kind(libc::AF_INET, libc::SOCK_DGRAM, 17, false), Ok(Kind::Udp(libc::AF_INET)));
        assert_eq!(socket_kind(libc::AF_INET, libc::SOCK_STREAM, 17, false), Err(Errno::EPROTONOSUPPORT));
        assert_eq!(socket_kind(libc::AF_INET, libc::SOCK_DGRAM, 6, false), Err(Errno::EPROTONOSUPPORT));
        assert_eq!(socket_kind(libc::AF_INET, libc::SOCK_RAW, 1, false), Err(Errno::EPERM));
        assert_eq!(socket_kind(libc::AF_INET, libc::SOCK_SEQPACKET, 0, false), Err(Errno::ESOCKTNOSUPPORT));
        assert_eq!(unix_type(libc::AF_INET, libc::SOCK_STREAM, 0), Err(Errno::EOPNOTSUPP));
        assert_eq!(unix_type(libc::AF_NETLINK, libc::SOCK_RAW, 0), Err(Errno::EAFNOSUPPORT));
        assert_eq!(unix_type(-1, libc::SOCK_STREAM, 0), Err(Errno::EAFNOSUPPORT));
        assert_eq!(unix_type(libc::AF_UNIX, 12, 0), Err(Errno::EINVAL));
        assert_eq!(unix_type(libc::AF_UNIX, libc::SOCK_STREAM, 6), Err(Errno::EPROTONOSUPPORT));
        assert_eq!(unix_type(libc::AF_UNIX, libc::SOCK_RDM, 0), Err(Errno::ESOCKTNOSUPPORT));
    }

    #[test]
    fn cmsg_alignment() {
        assert_eq!(cmsg_align(CMSG_HDR + 4), 24);
        assert_eq!(cmsg_align(CMSG_HDR + 12), 32);
        assert_eq!(cmsg_align(CMSG_HDR), 16);
    }
}
