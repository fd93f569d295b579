//! Attempts to reach outside the served root. A canary file outside the
//! root must never change or be returned.

mod common;

use std::os::unix::fs::MetadataExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::{errno, Harness, CANARY};
use gofer_9p::messages::{getattr, setattr, Tmessage};
use gofer_9p::{oflags, Errno, SetAttr};

const MSIZE: u32 = 64 * 1024;

#[test]
fn bad_names_are_refused() {
    let h = Harness::new(false, MSIZE);
    std::fs::create_dir(h.root.join("a")).unwrap();
    let root = h.attach();
    for bad in [&b".."[..], b".", b"", b"a/..", b"/etc", b"../canary", b"x\0y"] {
        let r = h.c().rpc(&Tmessage::Walk { fid: root.id(), newfid: 50, names: vec![bad.to_vec()] });
        assert_eq!(errno(r), Errno::EINVAL, "walk {bad:?}");
        // A bad name after a good one fails the whole walk too.
        let r = h.c().rpc(&Tmessage::Walk { fid: root.id(), newfid: 50, names: vec![b"a".to_vec(), bad.to_vec()] });
        assert_eq!(errno(r), Errno::EINVAL, "walk a/{bad:?}");
        assert_eq!(errno(h.c().mkdir(&root, bad, 0o755, 0)), Errno::EINVAL);
        assert_eq!(errno(h.c().symlink(&root, bad, "t", 0)), Errno::EINVAL);
        assert_eq!(errno(h.c().unlinkat(&root, bad, 0)), Errno::EINVAL);
        assert_eq!(errno(h.c().renameat(&root, "a", &root, bad)), Errno::EINVAL);
        assert_eq!(errno(h.c().mknod(&root, bad, libc::S_IFREG | 0o644, 0, 0, 0)), Errno::EINVAL);
        let (c, _) = h.c().walk(&root, &[] as &[&str]).unwrap();
        assert_eq!(errno(h.c().create(&c, bad, oflags::RDWR, 0o644, 0)), Errno::EINVAL);
    }
    assert_eq!(errno(h.c().attach("u", "../", 0)), Errno::EINVAL);
    assert!(h.outer.join("canary").exists());
    assert_eq!(std::fs::read_dir(&h.outer).unwrap().count(), 2, "nothing created outside the root");
}

#[test]
fn symlinks_are_never_followed() {
    let h = Harness::new(false, MSIZE);
    let canary = h.outer.join("canary");
    std::os::unix::fs::symlink(&canary, h.root.join("abs")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", h.root.join("passwd")).unwrap();
    std::os::unix::fs::symlink(&h.outer, h.root.join("outdir")).unwrap();
    std::os::unix::fs::symlink("l2", h.root.join("l1")).unwrap();
    std::os::unix::fs::symlink("../canary", h.root.join("l2")).unwrap();
    std::os::unix::fs::symlink("..", h.root.join("up")).unwrap();
    let root = h.attach();
    for name in ["abs", "passwd", "outdir", "l1", "l2", "up"] {
        let (f, q) = h.c().walk(&root, &[name]).unwrap();
        assert!(q[0].is_symlink(), "{name} must walk to the symlink itself");
        assert_ne!(q[0].path, std::fs::metadata(&canary).unwrap().ino());
        assert_eq!(errno(h.c().open(&f, oflags::RDONLY)), Errno::ELOOP, "{name}");
        let (g, _) = h.c().walk(&root, &[name]).unwrap();
        assert_eq!(errno(h.c().open(&g, oflags::RDWR | oflags::TRUNC)), Errno::ELOOP, "{name}");
        let st = h.c().getattr(&f, getattr::ALL).unwrap();
        assert_eq!(st.mode & libc::S_IFMT, libc::S_IFLNK);
        // Walking through the link is impossible.
        assert_eq!(errno(h.c().walk(&f, &["canary"])), Errno::ENOTDIR);
        assert_eq!(errno(h.c().walk(&root, &[name, "canary"])), Errno::ENOENT);
        // Attribute changes apply to the link, never the target.
        let _ = h.c().setattr(&f, &SetAttr { valid: setattr::MODE, mode: 0o777, ..SetAttr::default() });
        let _ = h.c().setattr(&f, &SetAttr { valid: setattr::SIZE, size: 0, ..SetAttr::default() });
        let _ = h
            .c()
            .setattr(&f, &SetAttr { valid: setattr::MTIME | setattr::MTIME_SET, mtime_sec: 5, ..SetAttr::default() });
        let _ =
            h.c().setattr(&f, &SetAttr { valid: setattr::UID | setattr::GID, uid: 1, gid: 1, ..SetAttr::default() });
        // Creating through the link is impossible.
        assert_eq!(errno(h.c().mkdir(&f, "x", 0o755, 0)), Errno::ENOTDIR);
        let (c, _) = h.c().walk(&root, &[name]).unwrap();
        assert_eq!(errno(h.c().create(&c, "x", oflags::RDWR, 0o644, 0)), Errno::ENOTDIR);
        // A hard link to the symlink links the symlink itself.
        if h.c().link(&root, &f, format!("hl-{name}")).is_ok() {
            let md = std::fs::symlink_metadata(h.root.join(format!("hl-{name}"))).unwrap();
            assert!(md.file_type().is_symlink());
        }
        h.assert_canary();
    }
    assert_eq!(h.c().readlink(&h.c().walk(&root, &["abs"]).unwrap().0).unwrap(), canary.as_os_str().as_encoded_bytes());
    assert_eq!(std::fs::read_dir(&h.outer).unwrap().count(), 2);
}

#[test]
fn device_nodes_and_fifos_are_not_opened() {
    let h = Harness::new(false, MSIZE);
    let dev = nix::sys::stat::mknod(
        &h.root.join("null"),
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o666),
        nix::sys::stat::makedev(1, 3),
    );
    nix::unistd::mkfifo(&h.root.join("fifo"), nix::sys::stat::Mode::from_bits_truncate(0o666)).unwrap();
    std::os::unix::net::UnixListener::bind(h.root.join("sock")).unwrap();
    let root = h.attach();
    let mut names = vec!["fifo", "sock"];
    if dev.is_ok() {
        names.push("null");
    } else {
        eprintln!("not privileged: skipping the device node case");
    }
    for name in names {
        for flags in [oflags::RDONLY, oflags::WRONLY, oflags::RDWR] {
            let (f, q) = h.c().walk(&root, &[name]).unwrap();
            assert!(!q[0].is_dir());
            assert_eq!(errno(h.c().open(&f, flags)), Errno::EPERM, "{name} {flags}");
            let mut b = [0u8; 4];
            assert_eq!(errno(h.c().read(&f, 0, &mut b)), Errno::EBADF);
        }
        let (f, _) = h.c().walk(&root, &[name]).unwrap();
        let st = h.c().getattr(&f, getattr::ALL).unwrap();
        assert_ne!(st.mode & libc::S_IFMT, libc::S_IFREG);
        if name == "null" {
            assert_eq!(st.mode & libc::S_IFMT, libc::S_IFCHR);
            assert_eq!(st.rdev, libc::makedev(1, 3));
        }
    }
}

/// Swaps `root/d` between a real directory and a symlink to a directory
/// outside the root while the client walks, opens, reads, writes and
/// creates through it.
#[test]
fn directory_symlink_swap_race() {
    let h = Harness::new(false, MSIZE);
    let secret_dir = h.outer.join("sdir");
    std::fs::create_dir(&secret_dir).unwrap();
    std::fs::write(secret_dir.join("f"), CANARY).unwrap();
    let smd = std::fs::metadata(secret_dir.join("f")).unwrap();
    std::fs::create_dir(h.root.join("dreal")).unwrap();
    std::fs::write(h.root.join("dreal/f"), b"inside").unwrap();
    std::os::unix::fs::symlink(&secret_dir, h.root.join("dlink")).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let stop = stop.clone();
        let root = h.root.clone();
        std::thread::spawn(move || {
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) && n < 200_000 {
                let _ = std::fs::rename(root.join("dreal"), root.join("d"));
                let _ = std::fs::rename(root.join("d"), root.join("dreal"));
                let _ = std::fs::rename(root.join("dlink"), root.join("d"));
                let _ = std::fs::rename(root.join("d"), root.join("dlink"));
                n += 1;
            }
        })
    };
    let root = h.attach();
    let mut opened = 0;
    for i in 0..400 {
        let mut buf = [0u8; 64];
        if let Ok((f, _)) = h.c().walk(&root, &["d", "f"]) {
            if h.c().open(&f, oflags::RDWR).is_ok() {
                opened += 1;
                let n = h.c().read(&f, 0, &mut buf).unwrap();
                assert_eq!(&buf[..n], b"inside");
                h.c().write(&f, 6, b"").unwrap();
            }
            let _ = h.c().setattr(&f, &SetAttr { valid: setattr::SIZE, size: 6, ..SetAttr::default() });
        }
        if let Ok((d, q)) = h.c().walk(&root, &["d"]) {
            if q[0].is_dir() {
                let _ = h.c().create(&d, format!("new{i}"), oflags::RDWR, 0o644, u32::MAX);
            } else {
                assert_eq!(errno(h.c().walk(&d, &["f"])), Errno::ENOTDIR);
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    swapper.join().unwrap();
    eprintln!("opened {opened} times during the race");
    assert_eq!(std::fs::read(secret_dir.join("f")).unwrap(), CANARY);
    let md = std::fs::metadata(secret_dir.join("f")).unwrap();
    assert_eq!((md.mtime(), md.mtime_nsec(), md.len()), (smd.mtime(), smd.mtime_nsec(), smd.len()));
    assert_eq!(std::fs::read_dir(&secret_dir).unwrap().count(), 1, "nothing created outside");
}

/// Swaps `root/f` between a regular file and a symlink to the canary while
/// walked fids are opened, truncated and written.
#[test]
fn file_symlink_swap_race() {
    let h = Harness::new(false, MSIZE);
    std::fs::write(h.root.join("freal"), b"inside").unwrap();
    std::os::unix::fs::symlink(h.outer.join("canary"), h.root.join("flink")).unwrap();
    std::os::unix::fs::symlink("../canary", h.root.join("frel")).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let stop = stop.clone();
        let root = h.root.clone();
        std::thread::spawn(move || {
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) && n < 200_000 {
                for src in ["freal", "flink", "frel"] {
                    let _ = std::fs::rename(root.join(src), root.join("f"));
                    let _ = std::fs::rename(root.join("f"), root.join(src));
                }
                n += 1;
            }
        })
    };
    let root = h.attach();
    for _ in 0..400 {
        if let Ok((f, q)) = h.c().walk(&root, &["f"]) {
            let r = h.c().open(&f, oflags::RDWR);
            if q[0].is_symlink() {
                assert_eq!(errno(r), Errno::ELOOP);
            } else if r.is_ok() {
                let mut buf = [0u8; 64];
                let n = h.c().read(&f, 0, &mut buf).unwrap();
                assert_eq!(&buf[..n], b"inside");
            }
            let _ = h.c().setattr(&f, &SetAttr { valid: setattr::SIZE, size: 6, ..SetAttr::default() });
        }
    }
    stop.store(true, Ordering::Relaxed);
    swapper.join().unwrap();
    h.assert_canary();
}

#[test]
fn hard_link_cannot_reach_outside() {
    let h = Harness::new(false, MSIZE);
    std::os::unix::fs::symlink(h.outer.join("canary"), h.root.join("sl")).unwrap();
    let root = h.attach();
    // The only fids the protocol can produce are inside the root; the
    // closest thing to the canary is the symlink to it.
    let (sl, _) = h.c().walk(&root, &["sl"]).unwrap();
    let _ = h.c().link(&root, &sl, "hl");
    if let Ok(md) = std::fs::symlink_metadata(h.root.join("hl")) {
        assert!(md.file_type().is_symlink());
    }
    // Raw Tlink with fids that do not exist.
    let r = h.c().rpc(&Tmessage::Link { dfid: root.id(), fid: 999, name: b"x".to_vec() });
    assert_eq!(errno(r), Errno::EBADF);
    h.assert_canary();
}
