//! Malformed input on the wire: the server answers Rlerror or closes the
//! connection; it never panics, hangs or allocates by untrusted lengths.

mod common;

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::thread::JoinHandle;
use std::time::Duration;

use common::TempDir;
use gofer_9p::messages::{ty, Tmessage};
use gofer_9p::server::{Server, ServerConfig};
use gofer_9p::{Errno, Rmessage};
use proptest::prelude::*;

const MSIZE: u32 = 8192;

struct Raw {
    s: UnixStream,
    server: Option<JoinHandle<gofer_9p::Result<()>>>,
    _dir: TempDir,
}

impl Raw {
    fn new() -> Raw {
        Raw::with_workers(8)
    }

    fn with_workers(workers: usize) -> Raw {
        let dir = TempDir::new("raw");
        std::fs::write(dir.path().join("file"), b"hello").unwrap();
        std::fs::write(dir.path().join("big"), vec![7u8; 1 << 20]).unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let fd: OwnedFd = File::open(dir.path()).unwrap().into();
        let cfg = ServerConfig { max_msize: 64 * 1024, workers, ..ServerConfig::default() };
        let server = Server::with_config(fd, cfg).unwrap();
        let (a, b) = UnixStream::pair().unwrap();
        let h = std::thread::spawn(move || server.serve(a));
        b.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        Raw { s: b, server: Some(h), _dir: dir }
    }

    fn send_raw(&mut self, b: &[u8]) {
        let _ = self.s.write_all(b);
    }

    fn send(&mut self, tag: u16, m: &Tmessage) {
        let mut b = Vec::new();
        m.encode(tag, &mut b).unwrap();
        self.send_raw(&b);
    }

    /// The next reply, or None on EOF.
    fn recv(&mut self) -> Option<(u16, Rmessage)> {
        let mut hdr = [0u8; 7];
        match self.s.read_exact(&mut hdr) {
            Ok(()) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset) => {
                return None
            }
            Err(e) => panic!("read failed (hang?): {e}"),
        }
        let size = u32::from_le_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]) as usize;
        assert!((7..=64 * 1024).contains(&size), "reply size {size}");
        let mut frame = hdr.to_vec();
        frame.resize(size, 0);
        self.s.read_exact(&mut frame[7..]).unwrap();
        Some(Rmessage::decode_frame(&frame, 64 * 1024).expect("server sent a valid reply"))
    }

    fn rpc(&mut self, tag: u16, m: &Tmessage) -> Rmessage {
        self.send(tag, m);
        let (t, r) = self.recv().expect("reply");
        assert_eq!(t, tag);
        r
    }

    fn handshake(&mut self) {
        let r = self.rpc(0xffff, &Tmessage::Version { msize: MSIZE, version: "9P2000.L".into() });
        assert_eq!(r, Rmessage::Version { msize: MSIZE, version: "9P2000.L".into() });
        let r = self.rpc(1, &Tmessage::Attach { fid: 1, afid: !0, uname: "u".into(), aname: "".into(), n_uname: 0 });
        assert!(matches!(r, Rmessage::Attach { .. }), "{r:?}");
    }

    /// Closes our end and checks the server returns without panicking.
    fn close(mut self) -> gofer_9p::Result<()> {
        let _ = self.s.shutdown(std::net::Shutdown::Both);
        self.server.take().unwrap().join().expect("server panicked")
    }
}

fn frame(ty: u8, tag: u16, body: &[u8]) -> Vec<u8> {
    let mut v = ((body.len() + 7) as u32).to_le_bytes().to_vec();
    v.push(ty);
    v.extend_from_slice(&tag.to_le_bytes());
    v.extend_from_slice(body);
    v
}

fn lerror(r: Rmessage) -> Errno {
    match r {
        Rmessage::Lerror { ecode } => Errno(ecode as i32),
        other => panic!("expected Rlerror, got {other:?}"),
    }
}

#[test]
fn version_negotiation() {
    let mut r = Raw::new();
    // Anything before Tversion.
    let a = Tmessage::Attach { fid: 1, afid: !0, uname: "u".into(), aname: "".into(), n_uname: 0 };
    assert_eq!(lerror(r.rpc(5, &a)), Errno::EPROTO);
    let v = r.rpc(0xffff, &Tmessage::Version { msize: MSIZE, version: "9P2000.u".into() });
    assert_eq!(v, Rmessage::Version { msize: MSIZE, version: "unknown".into() });
    assert_eq!(lerror(r.rpc(0xffff, &Tmessage::Version { msize: 100, version: "9P2000.L".into() })), Errno::EINVAL);
    // msize is capped at the server's maximum.
    let v = r.rpc(0xffff, &Tmessage::Version { msize: 1 << 30, version: "9P2000.L".into() });
    assert_eq!(v, Rmessage::Version { msize: 64 * 1024, version: "9P2000.L".into() });
    r.close().unwrap();
}

#[test]
fn malformed_frames_get_rlerror() {
    let mut r = Raw::new();
    r.handshake();
    // Unknown type, and an R-type sent to the server.
    r.send_raw(&frame(200, 7, b"junk"));
    assert_eq!(r.recv().unwrap(), (7, Rmessage::Lerror { ecode: Errno::EOPNOTSUPP.0 as u32 }));
    r.send_raw(&frame(ty::RVERSION, 8, b""));
    assert_eq!(lerror(r.recv().unwrap().1), Errno::EOPNOTSUPP);
    // Truncated body: Twalk claims 2 names, carries 1.
    let mut b = Vec::new();
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&2u32.to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&3u16.to_le_bytes());
    b.extend_from_slice(b"sub");
    r.send_raw(&frame(ty::TWALK, 9, &b));
    assert_eq!(lerror(r.recv().unwrap().1), Errno::EPROTO);
    // Trailing garbage.
    r.send_raw(&frame(ty::TCLUNK, 10, &[1, 0, 0, 0, 9]));
    assert_eq!(lerror(r.recv().unwrap().1), Errno::EPROTO);
    // A string claiming 65535 bytes.
    r.send_raw(&frame(ty::TMKDIR, 11, &[1, 0, 0, 0, 0xff, 0xff, b'a']));
    assert_eq!(lerror(r.recv().unwrap().1), Errno::EPROTO);
    // Twrite count larger than the data present.
    let mut b = vec![1, 0, 0, 0];
    b.extend_from_slice(&0u64.to_le_bytes());
    b.extend_from_slice(&0xffff_fff0u32.to_le_bytes());
    b.extend_from_slice(b"0123456789");
    r.send_raw(&frame(ty::TWRITE, 12, &b));
    assert_eq!(lerror(r.recv().unwrap().1), Errno::EPROTO);
    // Non-UTF-8 uname.
    let mut b = vec![2, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 2, 0, 0xc3, 0x28, 0, 0];
    b.extend_from_slice(&0u32.to_le_bytes());
    r.send_raw(&frame(ty::TATTACH, 13, &b));
    assert_eq!(lerror(r.recv().unwrap().1), Errno::EINVAL);
    // 17 walk names.
    let mut b = Vec::new();
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&3u32.to_le_bytes());
    b.extend_from_slice(&17u16.to_le_bytes());
    for _ in 0..17 {
        b.extend_from_slice(&3u16.to_le_bytes());
        b.extend_from_slice(b"sub");
    }
    r.send_raw(&frame(ty::TWALK, 14, &b));
    assert_eq!(lerror(r.recv().unwrap().1), Errno::EINVAL);
    // Walk names with '/', "..", ".", "".
    for (i, n) in [&b"sub/.."[..], b"..", b".", b""].iter().enumerate() {
        let m = Tmessage::Walk { fid: 1, newfid: 3, names: vec![n.to_vec()] };
        assert_eq!(lerror(r.rpc(20 + i as u16, &m)), Errno::EINVAL);
    }
    // A huge Tread count is capped by msize, never allocated.
    let w = r.rpc(30, &Tmessage::Walk { fid: 1, newfid: 4, names: vec![b"file".to_vec()] });
    assert!(matches!(w, Rmessage::Walk { .. }));
    assert!(matches!(r.rpc(31, &Tmessage::Lopen { fid: 4, flags: 0 }), Rmessage::Lopen { .. }));
    let rd = r.rpc(32, &Tmessage::Read { fid: 4, offset: 0, count: u32::MAX });
    assert_eq!(rd, Rmessage::Read { data: b"hello".to_vec() });
    let rd = r.rpc(33, &Tmessage::Read { fid: 4, offset: u64::MAX, count: 10 });
    assert_eq!(lerror(rd), Errno::EINVAL);
    // Readdir with a huge count on a non-directory / unopened fid.
    assert_eq!(lerror(r.rpc(34, &Tmessage::Readdir { fid: 4, offset: 0, count: u32::MAX })), Errno::ENOTDIR);
    assert_eq!(lerror(r.rpc(35, &Tmessage::Readdir { fid: 1, offset: 0, count: u32::MAX })), Errno::EBADF);
    // Fid NOFID.
    let m = Tmessage::Walk { fid: 1, newfid: u32::MAX, names: vec![] };
    assert_eq!(lerror(r.rpc(36, &m)), Errno::EBADF);
    // Still healthy.
    assert!(matches!(r.rpc(40, &Tmessage::Getattr { fid: 1, request_mask: !0 }), Rmessage::Getattr(_)));
    r.close().unwrap();
}

#[test]
fn oversized_frame_closes_connection() {
    let mut r = Raw::new();
    r.handshake();
    // Declared size larger than the negotiated msize: no allocation, the
    // connection is closed.
    r.send_raw(&(MSIZE + 1).to_le_bytes());
    r.send_raw(&[ty::TREAD, 1, 0]);
    assert!(r.recv().is_none());
    assert!(r.close().is_err());

    let mut r = Raw::new();
    r.handshake();
    r.send_raw(&u32::MAX.to_le_bytes());
    r.send_raw(&[ty::TREAD, 1, 0]);
    assert!(r.recv().is_none());
    assert!(r.close().is_err());

    // Size smaller than a header.
    let mut r = Raw::new();
    r.send_raw(&[3, 0, 0, 0, 100, 0, 0]);
    assert!(r.recv().is_none());
    assert!(r.close().is_err());
}

#[test]
fn truncated_frame_then_eof() {
    let mut r = Raw::new();
    r.handshake();
    r.send_raw(&[100, 0, 0, 0, ty::TREAD, 1, 0, 1, 2]);
    let _ = r.s.shutdown(std::net::Shutdown::Write);
    assert!(r.recv().is_none());
    assert!(r.close().is_err());
    let mut r = Raw::new();
    r.send_raw(&[100, 0]);
    let _ = r.s.shutdown(std::net::Shutdown::Write);
    assert!(r.recv().is_none());
    r.close().unwrap_err();
}

/// Tflush on the wire: the flushed request's reply, if any, precedes
/// Rflush; every other request is answered.
#[test]
fn flush_ordering_on_the_wire() {
    for workers in [1, 4] {
        let mut r = Raw::with_workers(workers);
        r.handshake();
        let w = r.rpc(2, &Tmessage::Walk { fid: 1, newfid: 2, names: vec![b"big".to_vec()] });
        assert!(matches!(w, Rmessage::Walk { .. }));
        assert!(matches!(r.rpc(3, &Tmessage::Lopen { fid: 2, flags: 0 }), Rmessage::Lopen { .. }));
        let mut frames = Vec::new();
        for tag in 10..20u16 {
            Tmessage::Read { fid: 2, offset: u64::from(tag) * 1000, count: 60_000 }.encode(tag, &mut frames).unwrap();
        }
        Tmessage::Flush { oldtag: 19 }.encode(100, &mut frames).unwrap();
        Tmessage::Flush { oldtag: 18 }.encode(101, &mut frames).unwrap();
        Tmessage::Getattr { fid: 1, request_mask: !0 }.encode(200, &mut frames).unwrap();
        r.send_raw(&frames);
        let mut seen = Vec::new();
        loop {
            let (tag, m) = r.recv().expect("reply");
            seen.push(tag);
            if tag == 200 {
                assert!(matches!(m, Rmessage::Getattr(_)));
                // Everything else must have been answered by now, except
                // the getattr may overtake queued reads; drain the rest.
                if (10..18).all(|t| seen.contains(&t)) && seen.contains(&100) && seen.contains(&101) {
                    break;
                }
                continue;
            }
            if tag == 100 || tag == 101 {
                assert_eq!(m, Rmessage::Flush);
            } else {
                assert!(matches!(m, Rmessage::Read { .. }), "{m:?}");
            }
            if (10..18).all(|t| seen.contains(&t)) && seen.contains(&100) && seen.contains(&101) && seen.contains(&200)
            {
                break;
            }
        }
        for (old, flush) in [(19u16, 100u16), (18, 101)] {
            let fpos = seen.iter().position(|&t| t == flush).unwrap();
            if let Some(p) = seen.iter().position(|&t| t == old) {
                assert!(p < fpos, "reply to flushed tag {old} after its Rflush: {seen:?}");
            }
        }
        eprintln!("workers {workers}: reply order {seen:?}");
        // Nothing else arrives for the flushed tags afterwards.
        let g = r.rpc(300, &Tmessage::Getattr { fid: 1, request_mask: !0 });
        assert!(matches!(g, Rmessage::Getattr(_)), "{g:?}");
        for t in 10..20u16 {
            assert!(seen.iter().filter(|&&x| x == t).count() <= 1);
        }
        r.close().unwrap();
    }
}

fn t_types() -> impl Strategy<Value = u8> {
    prop_oneof![
        prop::sample::select(vec![
            ty::TSTATFS,
            ty::TLOPEN,
            ty::TLCREATE,
            ty::TSYMLINK,
            ty::TMKNOD,
            ty::TRENAME,
            ty::TREADLINK,
            ty::TGETATTR,
            ty::TSETATTR,
            ty::TXATTRWALK,
            ty::TXATTRCREATE,
            ty::TREADDIR,
            ty::TFSYNC,
            ty::TLOCK,
            ty::TGETLOCK,
            ty::TLINK,
            ty::TMKDIR,
            ty::TRENAMEAT,
            ty::TUNLINKAT,
            ty::TAUTH,
            ty::TATTACH,
            ty::TFLUSH,
            ty::TWALK,
            ty::TREAD,
            ty::TWRITE,
            ty::TCLUNK,
            ty::TREMOVE,
        ]),
        any::<u8>(),
    ]
}

/// A body: random bytes, but with small fids (so some refer to fid 1) and
/// short plausible strings often enough to reach the handlers.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        (0u32..4, prop::collection::vec(any::<u8>(), 0..40)).prop_map(|(fid, rest)| {
            let mut v = fid.to_le_bytes().to_vec();
            v.extend(rest);
            v
        }),
        (0u32..4, 0u32..4, "[a-z./]{0,6}").prop_map(|(fid, nfid, name)| {
            let mut v = fid.to_le_bytes().to_vec();
            v.extend_from_slice(&(nfid + 10).to_le_bytes());
            v.extend_from_slice(&1u16.to_le_bytes());
            v.extend_from_slice(&(name.len() as u16).to_le_bytes());
            v.extend_from_slice(name.as_bytes());
            v
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    /// Arbitrary well-framed requests: exactly one reply each, never a
    /// crash; the connection keeps working afterwards.
    #[test]
    fn fuzz_framed_requests(reqs in prop::collection::vec((t_types(), any::<u16>(), body()), 1..24)) {
        let mut r = Raw::new();
        r.handshake();
        for (ty, tag, body) in &reqs {
            let tag = if *tag == 0xffff { 0 } else { *tag };
            r.send_raw(&frame(*ty, tag, body));
            let (t, _) = r.recv().expect("a reply for every well-framed request");
            prop_assert_eq!(t, tag);
        }
        // A Tversion in the sequence resets the session; redo it.
        r.handshake();
        let g = r.rpc(77, &Tmessage::Getattr { fid: 1, request_mask: !0 });
        prop_assert!(matches!(g, Rmessage::Getattr(_)));
        r.close().unwrap();
    }

    /// Arbitrary bytes after the handshake: the server answers or closes,
    /// and returns once we hang up.
    #[test]
    fn fuzz_raw_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let mut r = Raw::new();
        r.handshake();
        r.send_raw(&bytes);
        let _ = r.s.shutdown(std::net::Shutdown::Write);
        while r.recv().is_some() {}
        let _ = r.close();
    }
}
