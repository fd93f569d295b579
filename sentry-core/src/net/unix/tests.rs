//! Unit tests of Unix sockets, driven without tasks (non-blocking I/O
//! contexts, except where a second thread wakes a sleeper).

use std::sync::Arc;

use super::*;
use crate::kernel::waiter::Waker;
use crate::kernel::Credentials;
use crate::net::{new_file, SendMsg, SockCtx};
use crate::vfs::{Dentry, FsContext};

fn cx() -> SockCtx {
    SockCtx { pid: 7, creds: Credentials::new(1000, 1001), fs: None }
}

fn io() -> IoCtx<'static> {
    IoCtx::internal()
}

fn send(s: &UnixSocket, data: &[u8]) -> Result<usize, Errno> {
    s.send(&cx(), &io(), SendMsg { data: data.to_vec(), len: data.len(), ..SendMsg::default() })
}

fn send_rights(s: &UnixSocket, data: &[u8], rights: Vec<Arc<File>>) -> Result<usize, Errno> {
    s.send(&cx(), &io(), SendMsg { data: data.to_vec(), len: data.len(), rights, ..SendMsg::default() })
}

fn recv(s: &UnixSocket, len: usize, flags: i32) -> Result<Received, Errno> {
    s.recv(&io(), len, flags)
}

fn recv_str(s: &UnixSocket, len: usize) -> String {
    String::from_utf8(recv(s, len, 0).expect("recv").data).expect("utf-8")
}

fn abstract_addr(name: &str) -> Vec<u8> {
    let mut v = vec![libc::AF_UNIX as u8, 0, 0];
    v.extend_from_slice(name.as_bytes());
    v
}

fn path_addr(path: &str) -> Vec<u8> {
    let mut v = vec![libc::AF_UNIX as u8, 0];
    v.extend_from_slice(path.as_bytes());
    v.push(0);
    v
}

fn pair(ty: SockType) -> (Arc<UnixSocket>, Arc<UnixSocket>) {
    UnixSocket::pair(&Namespace::new(), ty, &cx())
}

fn socket_file(ns: &Arc<Namespace>) -> Arc<File> {
    new_file(UnixSocket::new(ns.clone(), SockType::Stream), false, &cx())
}

#[test]
fn stream_bytes_join_and_the_send_buffer_fills() {
    let (a, b) = pair(SockType::Stream);
    assert_eq!(send(&a, b"abc"), Ok(3));
    assert_eq!(send(&a, b"defg"), Ok(4));
    assert_eq!(b.readiness(events::ALL) & IN, IN);
    assert_eq!(recv_str(&b, 2), "ab");
    assert_eq!(recv_str(&b, 100), "cdefg");
    assert_eq!(recv(&b, 10, 0).err(), Some(Errno::EAGAIN));
    assert_eq!(b.readiness(IN), 0);

    // Fill the buffer: non-blocking sends stop with EAGAIN.
    let block = vec![7u8; 65536];
    let mut total = 0;
    loop {
        match send(&a, &block) {
            Ok(n) => total += n,
            Err(e) => {
                assert_eq!(e, Errno::EAGAIN);
                break;
            }
        }
    }
    assert!((DEFAULT_BUF_SIZE..=DEFAULT_BUF_SIZE * 3 / 2).contains(&total), "{total}");
    assert_eq!(a.readiness(OUT), 0, "a full sender is not writable");
    assert_eq!(a.wmem(), total);
    assert_eq!(b.queued_bytes(), Ok(total));
    let mut got = 0;
    while got < total {
        got += recv(&b, 100_000, 0).unwrap().data.len();
    }
    assert_eq!(got, total);
    assert_eq!(a.wmem(), 0, "reading uncharges the sender");
    assert_eq!(a.readiness(OUT), OUT);
}

#[test]
fn stream_peek_and_waitall() {
    let (a, b) = pair(SockType::Stream);
    send(&a, b"hello").unwrap();
    send(&a, b" world").unwrap();
    let p = recv(&b, 7, libc::MSG_PEEK).unwrap();
    assert_eq!(p.data, b"hello w");
    // Non-blocking MSG_WAITALL returns what there is.
    let r = recv(&b, 100, libc::MSG_WAITALL).unwrap();
    assert_eq!(r.data, b"hello world");
    // A zero-length read of an empty socket would block.
    assert_eq!(recv(&b, 0, 0).err(), Some(Errno::EAGAIN));
    send(&a, b"x").unwrap();
    assert_eq!(recv(&b, 0, 0).unwrap().data.len(), 0);
    assert_eq!(recv_str(&b, 5), "x");
}

#[test]
fn shutdown_gives_eof_and_epipe() {
    let (a, b) = pair(SockType::Stream);
    send(&a, b"last").unwrap();
    a.shutdown(libc::SHUT_WR).unwrap();
    assert_eq!(send(&a, b"more"), Err(Errno::EPIPE));
    let rd = b.readiness(events::ALL);
    assert_ne!(rd & events::POLLRDHUP, 0);
    assert_eq!(rd & events::POLLHUP, 0, "half-closed is not a hang-up");
    assert_eq!(recv_str(&b, 100), "last");
    assert_eq!(recv(&b, 100, 0).unwrap().data.len(), 0, "end of file");
    // b can still write to a.
    send(&b, b"reply").unwrap();
    assert_eq!(recv_str(&a, 100), "reply");
    // SHUT_RD on b: a's writes fail.
    b.shutdown(libc::SHUT_RD).unwrap();
    assert_eq!(send(&a, b"x"), Err(Errno::EPIPE));
    assert_eq!(b.shutdown(3), Err(Errno::EINVAL));
}

#[test]
fn closing_with_unread_data_resets_the_peer() {
    let (a, b) = pair(SockType::Stream);
    send(&a, b"unread").unwrap();
    b.release();
    let rd = a.readiness(events::ALL);
    assert_ne!(rd & events::POLLHUP, 0);
    assert_ne!(rd & events::POLLERR, 0);
    assert_eq!(send(&a, b"x"), Err(Errno::EPIPE));
    assert_eq!(recv(&a, 10, 0).err(), Some(Errno::ECONNRESET));
    assert_eq!(recv(&a, 10, 0).unwrap().data.len(), 0);
    assert_eq!(a.wmem(), 0, "the closed peer's queue was dropped");

    let (a, b) = pair(SockType::Stream);
    b.release();
    assert_eq!(recv(&a, 10, 0).unwrap().data.len(), 0, "no reset without unread data");
}

#[test]
fn datagrams_keep_their_boundaries() {
    let (a, b) = pair(SockType::Dgram);
    send(&a, b"abc").unwrap();
    send(&a, b"defgh").unwrap();
    send(&a, b"").unwrap();
    let p = recv(&b, 100, libc::MSG_PEEK).unwrap();
    assert_eq!(p.data, b"abc");
    let r = recv(&b, 2, 0).unwrap();
    assert_eq!((r.data.as_slice(), r.msg_len, r.flags), (&b"ab"[..], 3, libc::MSG_TRUNC));
    let r = recv(&b, 100, 0).unwrap();
    assert_eq!((r.data.as_slice(), r.flags), (&b"defgh"[..], 0));
    let r = recv(&b, 100, 0).unwrap();
    assert_eq!((r.data.len(), r.msg_len), (0, 0), "an empty datagram is a datagram");
    assert_eq!(recv(&b, 100, 0).err(), Some(Errno::EAGAIN));
    assert_eq!(a.wmem(), 0);
    // Too big for the send buffer.
    let big = vec![0u8; DEFAULT_BUF_SIZE];
    assert_eq!(send(&a, &big), Err(Errno::EMSGSIZE));
    // A closed peer refuses once, then the socket is disconnected.
    b.release();
    assert_eq!(send(&a, b"x"), Err(Errno::ECONNREFUSED));
    assert_eq!(send(&a, b"x"), Err(Errno::ENOTCONN));
    assert_eq!(recv(&a, 10, 0).err(), Some(Errno::EAGAIN), "datagram sockets never see end of file");
}

#[test]
fn seqpacket_records_truncate_and_end() {
    let (a, b) = pair(SockType::SeqPacket);
    send(&a, b"one").unwrap();
    send(&a, b"second").unwrap();
    let r = recv(&b, 4, 0).unwrap();
    assert_eq!((r.data.as_slice(), r.msg_len, r.flags), (&b"one"[..], 3, 0));
    let r = recv(&b, 4, 0).unwrap();
    assert_eq!((r.data.as_slice(), r.msg_len, r.flags), (&b"seco"[..], 6, libc::MSG_TRUNC));
    a.release();
    assert_eq!(recv(&b, 4, 0).unwrap().data.len(), 0);
    assert_eq!(send(&b, b"x"), Err(Errno::EPIPE));
    let lone = UnixSocket::new(Namespace::new(), SockType::SeqPacket);
    assert_eq!(send(&lone, b"x"), Err(Errno::ENOTCONN));
    assert_eq!(recv(&lone, 4, 0).err(), Some(Errno::ENOTCONN));
}

#[test]
fn passed_files_are_held_by_the_queue_and_stop_stream_reads() {
    let ns = Namespace::new();
    let (a, b) = UnixSocket::pair(&ns, SockType::Stream, &cx());
    let f = socket_file(&ns);
    send(&a, b"a").unwrap();
    send_rights(&a, b"b", vec![f.clone(), f.clone()]).unwrap();
    send(&a, b"c").unwrap();
    assert_eq!(Arc::strong_count(&f), 3, "two references in flight");
    let peek = recv(&b, 10, libc::MSG_PEEK).unwrap();
    assert_eq!((peek.data.as_slice(), peek.rights.len()), (&b"ab"[..], 2));
    drop(peek);
    let r = recv(&b, 10, 0).unwrap();
    assert_eq!(r.data, b"ab", "a read ends after a message with files");
    assert_eq!(r.rights.len(), 2);
    assert!(Arc::ptr_eq(&r.rights[0], &f));
    drop(r);
    assert_eq!(Arc::strong_count(&f), 1);
    assert_eq!(recv_str(&b, 10), "c");

    // Files in a closed socket's queue are released.
    send_rights(&a, b"z", vec![f.clone()]).unwrap();
    assert_eq!(Arc::strong_count(&f), 2);
    b.release();
    assert_eq!(Arc::strong_count(&f), 1);

    // A zero-length stream send carries nothing.
    let (a, b) = UnixSocket::pair(&ns, SockType::Stream, &cx());
    assert_eq!(send_rights(&a, b"", vec![f.clone()]), Ok(0));
    assert_eq!(Arc::strong_count(&f), 1);
    // Datagrams carry files per message.
    drop((a, b));
    let (a, b) = UnixSocket::pair(&ns, SockType::Dgram, &cx());
    send_rights(&a, b"", vec![f.clone()]).unwrap();
    let r = recv(&b, 0, 0).unwrap();
    assert_eq!(r.rights.len(), 1);
}

#[test]
fn credentials_travel_with_passcred() {
    let (a, b) = pair(SockType::Stream);
    b.setsockopt(libc::SOL_SOCKET, libc::SO_PASSCRED, &1i32.to_le_bytes()).unwrap();
    send(&a, b"x").unwrap();
    let other = SockCtx { pid: 9, creds: Credentials::new(0, 0), fs: None };
    a.send(&other, &io(), SendMsg { data: b"y".to_vec(), len: 1, ..SendMsg::default() }).unwrap();
    let r = recv(&b, 10, 0).unwrap();
    assert_eq!(r.data, b"x", "data of different writers is not joined");
    assert_eq!(r.creds, Some(Ucred { pid: 7, uid: 1000, gid: 1001 }));
    let r = recv(&b, 10, 0).unwrap();
    assert_eq!(r.creds, Some(Ucred { pid: 9, uid: 0, gid: 0 }));
    let pc = Ucred::from_bytes(&a.getsockopt(libc::SOL_SOCKET, libc::SO_PEERCRED).unwrap()).unwrap();
    assert_eq!(pc, Ucred { pid: 7, uid: 1000, gid: 1001 });
}

#[test]
fn listen_connect_accept_on_abstract_names() {
    let ns = Namespace::new();
    let l = UnixSocket::new(ns.clone(), SockType::Stream);
    assert_eq!(l.listen(&cx(), 1), Err(Errno::EINVAL), "unbound");
    l.bind(&cx(), &abstract_addr("srv")).unwrap();
    assert_eq!(l.bind(&cx(), &abstract_addr("other")), Err(Errno::EINVAL), "already bound");
    let dup = UnixSocket::new(ns.clone(), SockType::Stream);
    assert_eq!(dup.bind(&cx(), &abstract_addr("srv")), Err(Errno::EADDRINUSE));
    let c = UnixSocket::new(ns.clone(), SockType::Stream);
    assert_eq!(c.connect(&cx(), &io(), &abstract_addr("srv")), Err(Errno::ECONNREFUSED), "not listening");
    l.listen(&cx(), 0).unwrap();
    assert_eq!(l.readiness(events::ALL), 0);
    c.connect(&cx(), &io(), &abstract_addr("srv")).unwrap();
    assert_eq!(
        c.connect(&cx(), &io(), &abstract_addr("srv")),
        Err(Errno::EAGAIN),
        "as Linux, a full backlog is reported before EISCONN"
    );
    assert_eq!(l.readiness(IN), IN);
    let c2 = UnixSocket::new(ns.clone(), SockType::Stream);
    assert_eq!(c2.connect(&cx(), &io(), &abstract_addr("srv")), Err(Errno::EAGAIN), "backlog 0 holds one");
    // The client can write before accept.
    send(&c, b"early").unwrap();
    let s = l.accept(&io()).unwrap();
    let s = s.as_any().downcast_ref::<UnixSocket>().unwrap();
    assert_eq!(recv_str(s, 10), "early");
    assert_eq!(l.accept(&io()).err(), Some(Errno::EAGAIN));
    assert_eq!(c.connect(&cx(), &io(), &abstract_addr("srv")), Err(Errno::EISCONN));
    assert_eq!(s.local_name(), abstract_addr("srv"));
    assert_eq!(s.peer_name().unwrap(), unnamed());
    assert_eq!(c.peer_name().unwrap(), abstract_addr("srv"));
    assert_eq!(c.local_name(), unnamed());
    c2.connect(&cx(), &io(), &abstract_addr("srv")).unwrap();
    // Abstract names are per type.
    let dg = UnixSocket::new(ns.clone(), SockType::Dgram);
    assert_eq!(dg.connect(&cx(), &io(), &abstract_addr("srv")), Err(Errno::ECONNREFUSED));
    dg.bind(&cx(), &abstract_addr("srv")).unwrap();
    // Closing the listener resets the connection still pending.
    l.release();
    assert_eq!(recv(&c2, 10, 0).err(), Some(Errno::ECONNRESET));
    let c3 = UnixSocket::new(ns.clone(), SockType::Stream);
    assert_eq!(c3.connect(&cx(), &io(), &abstract_addr("srv")), Err(Errno::ECONNREFUSED));
    // The name is free again.
    dup.bind(&cx(), &abstract_addr("srv")).unwrap();
}

#[test]
fn autobind_and_datagram_addresses() {
    let ns = Namespace::new();
    let a = UnixSocket::new(ns.clone(), SockType::Dgram);
    let b = UnixSocket::new(ns.clone(), SockType::Dgram);
    a.bind(&cx(), &[libc::AF_UNIX as u8, 0]).unwrap();
    let name = a.local_name();
    assert_eq!(name.len(), 8);
    assert_eq!(name[2], 0);
    b.bind(&cx(), &abstract_addr("b")).unwrap();
    a.send(&cx(), &io(), SendMsg { data: b"hi".to_vec(), len: 2, to: Some(abstract_addr("b")), ..SendMsg::default() })
        .unwrap();
    let r = recv(&b, 10, 0).unwrap();
    assert_eq!(r.from, Some(name));
    // b connected elsewhere refuses a.
    let c = UnixSocket::new(ns.clone(), SockType::Dgram);
    c.bind(&cx(), &abstract_addr("c")).unwrap();
    b.connect(&cx(), &io(), &abstract_addr("c")).unwrap();
    let to_b = SendMsg { data: b"x".to_vec(), len: 1, to: Some(abstract_addr("b")), ..SendMsg::default() };
    assert_eq!(a.send(&cx(), &io(), to_b), Err(Errno::EPERM));
    assert_eq!(b.peer_name().unwrap(), abstract_addr("c"));
    // A receiver not connected back queues only so many datagrams.
    for _ in 0..=MAX_DGRAM_QLEN {
        send(&b, b"q").unwrap();
    }
    assert_eq!(send(&b, b"q"), Err(Errno::EAGAIN));
    assert_eq!(b.readiness(OUT), 0);
    recv(&c, 1, 0).unwrap();
    assert_eq!(b.readiness(OUT), OUT);
}

#[test]
fn path_names_live_in_the_file_system() {
    let mf = Arc::new(platforms::MemoryFile::new(1 << 20).unwrap());
    let root = crate::fs::tmpfs::Tmpfs::new_root(mf, 1);
    let rd = Dentry::root(root.clone());
    root.create("file", FileType::Regular, 0o666, Creds::default()).unwrap();
    root.create("ro", FileType::Regular, 0o644, Creds::default()).unwrap();
    let fs = FsContext { root: rd.clone(), cwd: rd, umask: 0o022 };
    let cx = SockCtx { fs: Some(fs), ..cx() };
    let ns = Namespace::new();
    let l = UnixSocket::new(ns.clone(), SockType::Stream);
    l.bind(&cx, &path_addr("/sock")).unwrap();
    let st = root.lookup("sock").unwrap().stat();
    assert_eq!(st.mode, libc::S_IFSOCK | 0o755);
    assert_eq!((st.uid, st.gid), (1000, 1001));
    assert_eq!(l.local_name(), path_addr("/sock"));
    let other = UnixSocket::new(ns.clone(), SockType::Stream);
    assert_eq!(other.bind(&cx, &path_addr("/sock")), Err(Errno::EADDRINUSE));
    assert_eq!(other.bind(&cx, &path_addr("/missing/s")), Err(Errno::ENOENT));
    l.listen(&cx, 5).unwrap();
    let c = UnixSocket::new(ns.clone(), SockType::Stream);
    assert_eq!(c.connect(&cx, &io(), &path_addr("/nope")), Err(Errno::ENOENT));
    assert_eq!(c.connect(&cx, &io(), &path_addr("/file")), Err(Errno::ECONNREFUSED));
    assert_eq!(c.connect(&cx, &io(), &path_addr("/ro")), Err(Errno::EACCES), "connecting needs write permission");
    c.connect(&cx, &io(), &path_addr("sock")).unwrap();
    assert!(l.accept(&io()).is_ok());
    l.release();
    let c2 = UnixSocket::new(ns.clone(), SockType::Stream);
    assert_eq!(c2.connect(&cx, &io(), &path_addr("/sock")), Err(Errno::ECONNREFUSED), "the name outlives the socket");
    assert!(lock(&ns.inner).paths.is_empty());
}

#[test]
fn a_blocked_reader_wakes_when_data_arrives() {
    let (a, b) = pair(SockType::Stream);
    let t = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(20));
        send(&a, b"wake").unwrap();
        a
    });
    let waker = Arc::new(Waker::default());
    let blocking = IoCtx { nonblock: false, mm: None, interrupted: &|| false, waker: Some(&waker) };
    let r = b.recv(&blocking, 10, 0).unwrap();
    assert_eq!(r.data, b"wake");
    let a = t.join().unwrap();
    // A blocked writer wakes when the reader drains.
    let big = vec![1u8; DEFAULT_BUF_SIZE * 2];
    let b2 = b.clone();
    let t = std::thread::spawn(move || {
        let mut got = 0;
        while got < DEFAULT_BUF_SIZE * 2 {
            match recv(&b2, 1 << 20, 0) {
                Ok(r) => got += r.data.len(),
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(1)),
            }
        }
        got
    });
    let n = a.send(&cx(), &blocking, SendMsg { data: big.clone(), len: big.len(), ..SendMsg::default() }).unwrap();
    assert_eq!(n, big.len(), "a blocking stream send sends everything");
    assert_eq!(t.join().unwrap(), big.len());
    // Interruption ends a wait.
    let interrupted = IoCtx { nonblock: false, mm: None, interrupted: &|| true, waker: Some(&waker) };
    assert_eq!(b.recv(&interrupted, 10, 0).err(), Some(Errno::ERESTARTSYS));
}

#[test]
fn options() {
    let (a, _b) = pair(SockType::Dgram);
    let int = |v: Vec<u8>| i32::from_le_bytes(v[..4].try_into().unwrap());
    assert_eq!(int(a.getsockopt(libc::SOL_SOCKET, libc::SO_TYPE).unwrap()), libc::SOCK_DGRAM);
    assert_eq!(int(a.getsockopt(libc::SOL_SOCKET, libc::SO_SNDBUF).unwrap()), DEFAULT_BUF_SIZE as i32);
    a.setsockopt(libc::SOL_SOCKET, libc::SO_SNDBUF, &1000i32.to_le_bytes()).unwrap();
    assert_eq!(int(a.getsockopt(libc::SOL_SOCKET, libc::SO_SNDBUF).unwrap()), SNDBUF_MIN as i32);
    a.setsockopt(libc::SOL_SOCKET, libc::SO_RCVBUF, &(-1i32).to_le_bytes()).unwrap();
    assert_eq!(int(a.getsockopt(libc::SOL_SOCKET, libc::SO_RCVBUF).unwrap()), (BUF_MAX * 2) as i32);
    assert_eq!(a.setsockopt(libc::SOL_SOCKET, libc::SO_TYPE, &1i32.to_le_bytes()), Err(Errno::ENOPROTOOPT));
    assert_eq!(a.setsockopt(libc::SOL_SOCKET, libc::SO_SNDBUF, &[1, 0]), Err(Errno::EINVAL));
    assert_eq!(a.getsockopt(libc::IPPROTO_TCP, 1), Err(Errno::EOPNOTSUPP));
    assert_eq!(a.getsockopt(libc::SOL_SOCKET, 9999), Err(Errno::ENOPROTOOPT));
    a.setsockopt(libc::SOL_SOCKET, libc::SO_REUSEADDR, &5i32.to_le_bytes()).unwrap();
    assert_eq!(int(a.getsockopt(libc::SOL_SOCKET, libc::SO_REUSEADDR).unwrap()), 1);
    let mut tv = 0i64.to_le_bytes().to_vec();
    tv.extend_from_slice(&2_000_000i64.to_le_bytes());
    assert_eq!(a.setsockopt(libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv), Err(Errno::EDOM));
    // A receive timeout ends a blocking wait with EAGAIN.
    let mut tv = 0i64.to_le_bytes().to_vec();
    tv.extend_from_slice(&10_000i64.to_le_bytes());
    a.setsockopt(libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv).unwrap();
    assert_eq!(a.getsockopt(libc::SOL_SOCKET, libc::SO_RCVTIMEO).unwrap(), tv);
    let waker = Arc::new(Waker::default());
    let blocking = IoCtx { nonblock: false, mm: None, interrupted: &|| false, waker: Some(&waker) };
    assert_eq!(a.recv(&blocking, 10, 0).err(), Some(Errno::EAGAIN));
}
