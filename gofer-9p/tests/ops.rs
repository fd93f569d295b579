//! Round trips of every operation through client and server, and errno
//! mapping.

mod common;

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};

use common::{errno, Harness};
use gofer_9p::messages::{getattr, lock, setattr, Tmessage};
use gofer_9p::{oflags, Errno, Flock, Rmessage, SetAttr, AT_REMOVEDIR};

const MSIZE: u32 = 64 * 1024;

#[test]
fn attach_and_getattr_root() {
    let h = Harness::new(false, MSIZE);
    let (root, qid) = h.c().attach("u", "", 0).unwrap();
    assert!(qid.is_dir());
    let st = h.c().getattr(&root, getattr::ALL).unwrap();
    let md = std::fs::metadata(&h.root).unwrap();
    assert_eq!(st.qid, qid);
    assert_eq!(st.qid.path, md.ino());
    assert_eq!(st.mode, md.mode());
    assert_eq!(st.nlink, md.nlink());
    assert_eq!(st.mtime_sec as i64, md.mtime());
    assert_eq!(st.valid & getattr::BASIC, getattr::BASIC);
    // aname selecting a subdirectory.
    std::fs::create_dir_all(h.root.join("sub/dir")).unwrap();
    let (_f, q) = h.c().attach("u", "/sub/dir", 0).unwrap();
    assert_eq!(q.path, std::fs::metadata(h.root.join("sub/dir")).unwrap().ino());
    assert_eq!(errno(h.c().attach("u", "/../x", 0)), Errno::EINVAL);
    assert_eq!(errno(h.c().attach("u", "/nope", 0)), Errno::ENOENT);
}

#[test]
fn create_write_read_getattr() {
    let h = Harness::new(false, MSIZE);
    let root = h.attach();
    let (f, _) = h.c().walk(&root, &[] as &[&str]).unwrap();
    let (qid, iounit) = h.c().create(&f, "hello.txt", oflags::RDWR, 0o640, u32::MAX).unwrap();
    assert!(!qid.is_dir());
    assert_eq!(iounit, MSIZE - 24);
    assert_eq!(h.c().write(&f, 0, b"hello, world").unwrap(), 12);
    let mut buf = [0u8; 64];
    let n = h.c().read(&f, 7, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"world");
    let st = h.c().getattr(&f, getattr::ALL).unwrap();
    assert_eq!(st.size, 12);
    assert_eq!(st.mode & 0o7777, 0o640, "mode must not depend on the umask");
    assert_eq!(st.mode & libc::S_IFMT, libc::S_IFREG);
    assert_eq!(std::fs::read(h.root.join("hello.txt")).unwrap(), b"hello, world");
    h.c().fsync(&f, false).unwrap();
    h.c().fsync(&f, true).unwrap();
    h.c().clunk(f).unwrap();
    // Reopen existing file read-only; writing through it is EBADF.
    let (g, qids) = h.c().walk(&root, &["hello.txt"]).unwrap();
    assert_eq!(qids, vec![qid]);
    h.c().open(&g, oflags::RDONLY).unwrap();
    let n = h.c().read(&g, 0, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"hello, world");
    assert_eq!(errno(h.c().write(&g, 0, b"x")), Errno::EBADF);
    // Opening twice is refused; O_TRUNC truncates.
    assert_eq!(errno(h.c().open(&g, oflags::RDONLY)), Errno::EINVAL);
    let (t, _) = h.c().walk(&root, &["hello.txt"]).unwrap();
    h.c().open(&t, oflags::WRONLY | oflags::TRUNC).unwrap();
    assert_eq!(std::fs::metadata(h.root.join("hello.txt")).unwrap().len(), 0);
    // Append mode.
    h.c().write(&t, 0, b"abc").unwrap();
    let (a, _) = h.c().walk(&root, &["hello.txt"]).unwrap();
    h.c().open(&a, oflags::WRONLY | oflags::APPEND).unwrap();
    h.c().write(&a, 0, b"def").unwrap();
    assert_eq!(std::fs::read(h.root.join("hello.txt")).unwrap(), b"abcdef");
    // Reading a write-only fid.
    assert_eq!(errno(h.c().read(&a, 0, &mut buf)), Errno::EBADF);
    // I/O on an unopened fid.
    let (u, _) = h.c().walk(&root, &["hello.txt"]).unwrap();
    assert_eq!(errno(h.c().read(&u, 0, &mut buf)), Errno::EBADF);
    assert_eq!(errno(h.c().fsync(&u, false)), Errno::EBADF);
}

#[test]
fn walks() {
    let h = Harness::new(false, MSIZE);
    let mut p = h.root.clone();
    let mut names = Vec::new();
    for i in 0..20 {
        let n = format!("d{i}");
        p = p.join(&n);
        names.push(n);
    }
    std::fs::create_dir_all(&p).unwrap();
    std::fs::write(p.join("leaf"), b"deep").unwrap();
    names.push("leaf".into());
    let root = h.attach();
    // 21 names: split into two Twalks by the client.
    let (leaf, qids) = h.c().walk(&root, &names).unwrap();
    assert_eq!(qids.len(), 21);
    assert!(qids[..20].iter().all(|q| q.is_dir()));
    assert_eq!(qids[20].path, std::fs::metadata(p.join("leaf")).unwrap().ino());
    h.c().open(&leaf, oflags::RDONLY).unwrap();
    let mut b = [0u8; 8];
    assert_eq!(h.c().read(&leaf, 0, &mut b).unwrap(), 4);
    // Clone walk, and walk from a clone.
    let (c, q) = h.c().walk(&root, &[] as &[&str]).unwrap();
    assert!(q.is_empty());
    let (_d, q) = h.c().walk(&c, &["d0", "d1"]).unwrap();
    assert_eq!(q.len(), 2);
    // Missing first component: ENOENT; missing later: partial -> ENOENT.
    assert_eq!(errno(h.c().walk(&root, &["nope"])), Errno::ENOENT);
    assert_eq!(errno(h.c().walk(&root, &["d0", "nope"])), Errno::ENOENT);
    // Through a regular file: ENOTDIR.
    std::fs::write(h.root.join("file"), b"x").unwrap();
    // (A failure after the first name is a partial walk: ENOENT.)
    assert_eq!(errno(h.c().walk(&root, &["file", "x"])), Errno::ENOENT);
    let (file, _) = h.c().walk(&root, &["file"]).unwrap();
    assert_eq!(errno(h.c().walk(&file, &["x"])), Errno::ENOTDIR);
    // The raw protocol reports the partial walk.
    let r = h
        .c()
        .rpc(&Tmessage::Walk { fid: root.id(), newfid: 777, names: vec![b"d0".to_vec(), b"zz".to_vec()] })
        .unwrap();
    match r {
        Rmessage::Walk { qids } => assert_eq!(qids.len(), 1),
        other => panic!("{other:?}"),
    }
    // newfid was not created by the partial walk.
    assert_eq!(errno(h.c().rpc(&Tmessage::Clunk { fid: 777 })), Errno::EBADF);
}

#[test]
fn directories_and_nodes() {
    let h = Harness::new(false, MSIZE);
    let root = h.attach();
    let q = h.c().mkdir(&root, "dir", 0o751, u32::MAX).unwrap();
    assert!(q.is_dir());
    let md = std::fs::metadata(h.root.join("dir")).unwrap();
    assert!(md.is_dir());
    assert_eq!(md.mode() & 0o7777, 0o751);
    assert_eq!(errno(h.c().mkdir(&root, "dir", 0o755, u32::MAX)), Errno::EEXIST);
    // mknod: regular, FIFO, socket allowed; devices refused.
    h.c().mknod(&root, "reg", libc::S_IFREG | 0o600, 0, 0, u32::MAX).unwrap();
    h.c().mknod(&root, "fifo", libc::S_IFIFO | 0o600, 0, 0, u32::MAX).unwrap();
    assert!(std::fs::metadata(h.root.join("fifo")).unwrap().file_type().is_fifo());
    assert_eq!(errno(h.c().mknod(&root, "null", libc::S_IFCHR | 0o666, 1, 3, u32::MAX)), Errno::EPERM);
    assert_eq!(errno(h.c().mknod(&root, "blk", libc::S_IFBLK | 0o666, 8, 0, u32::MAX)), Errno::EPERM);
    assert!(!h.root.join("null").exists());
    // symlink + readlink.
    let q = h.c().symlink(&root, "ln", "some/where", u32::MAX).unwrap();
    assert!(q.is_symlink());
    let (l, qs) = h.c().walk(&root, &["ln"]).unwrap();
    assert!(qs[0].is_symlink());
    assert_eq!(h.c().readlink(&l).unwrap(), b"some/where");
    assert_eq!(std::fs::read_link(h.root.join("ln")).unwrap().to_str(), Some("some/where"));
    let (r, _) = h.c().walk(&root, &["reg"]).unwrap();
    assert_eq!(errno(h.c().readlink(&r)), Errno::EINVAL);
    // link.
    h.c().link(&root, &r, "reg2").unwrap();
    assert_eq!(std::fs::metadata(h.root.join("reg")).unwrap().nlink(), 2);
    assert_eq!(errno(h.c().link(&root, &r, "reg2")), Errno::EEXIST);
    let (d, _) = h.c().walk(&root, &["dir"]).unwrap();
    assert_eq!(errno(h.c().link(&root, &d, "dirlink")), Errno::EPERM);
    // readdir.
    let (rd, _) = h.c().walk(&root, &[] as &[&str]).unwrap();
    h.c().open(&rd, oflags::RDONLY).unwrap();
    let mut names: Vec<String> = h
        .c()
        .read_dir(&rd)
        .map(|e| String::from_utf8(e.unwrap().name).unwrap())
        .filter(|n| n != "." && n != "..")
        .collect();
    names.sort();
    assert_eq!(names, ["dir", "fifo", "ln", "reg", "reg2"]);
    // unlinkat: ENOTEMPTY, EISDIR/ENOTDIR mismatches, success.
    std::fs::write(h.root.join("dir/x"), b"").unwrap();
    assert_eq!(errno(h.c().unlinkat(&root, "dir", AT_REMOVEDIR)), Errno::ENOTEMPTY);
    assert_eq!(errno(h.c().unlinkat(&root, "dir", 0)), Errno::EISDIR);
    assert_eq!(errno(h.c().unlinkat(&root, "reg2", AT_REMOVEDIR)), Errno::ENOTDIR);
    assert_eq!(errno(h.c().unlinkat(&root, "missing", 0)), Errno::ENOENT);
    h.c().unlinkat(&d, "x", 0).unwrap();
    h.c().unlinkat(&root, "dir", AT_REMOVEDIR).unwrap();
    h.c().unlinkat(&root, "reg2", 0).unwrap();
    assert!(!h.root.join("dir").exists() && !h.root.join("reg2").exists());
    // Opening a directory for writing.
    let (d2, _) = h.c().walk(&root, &[] as &[&str]).unwrap();
    assert_eq!(errno(h.c().open(&d2, oflags::RDWR)), Errno::EISDIR);
    // Reading a directory with Tread.
    let mut b = [0u8; 4];
    assert_eq!(errno(h.c().read(&rd, 0, &mut b)), Errno::EISDIR);
    // Creating in a non-directory.
    assert_eq!(errno(h.c().mkdir(&r, "x", 0o755, u32::MAX)), Errno::ENOTDIR);
    assert_eq!(errno(h.c().create(&r, "x", oflags::RDWR, 0o644, u32::MAX)), Errno::ENOTDIR);
    let (e, _) = h.c().walk(&root, &[] as &[&str]).unwrap();
    assert_eq!(errno(h.c().create(&e, "reg", oflags::RDWR, 0o644, u32::MAX)), Errno::EEXIST);
}

#[test]
fn renames_and_remove() {
    let h = Harness::new(false, MSIZE);
    std::fs::create_dir(h.root.join("a")).unwrap();
    std::fs::create_dir(h.root.join("b")).unwrap();
    std::fs::write(h.root.join("a/f"), b"content").unwrap();
    let root = h.attach();
    let (a, _) = h.c().walk(&root, &["a"]).unwrap();
    let (b, _) = h.c().walk(&root, &["b"]).unwrap();
    let (f, _) = h.c().walk(&a, &["f"]).unwrap();
    h.c().renameat(&a, "f", &b, "g").unwrap();
    assert!(h.root.join("b/g").exists() && !h.root.join("a/f").exists());
    // The fid walked before the rename still opens the (moved) file.
    h.c().open(&f, oflags::RDONLY).unwrap();
    let mut buf = [0u8; 16];
    let n = h.c().read(&f, 0, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"content");
    // Trename moves the fid's file.
    let (g, _) = h.c().walk(&b, &["g"]).unwrap();
    h.c().rename(&g, &a, "h").unwrap();
    assert!(h.root.join("a/h").exists());
    let (g2, _) = h.c().walk(&root, &["a", "h"]).unwrap();
    assert_eq!(errno(h.c().renameat(&a, "zz", &b, "y")), Errno::ENOENT);
    // rename over a non-empty directory.
    std::fs::write(h.root.join("b/x"), b"").unwrap();
    std::fs::create_dir(h.root.join("c")).unwrap();
    assert_eq!(errno(h.c().renameat(&root, "c", &root, "b")), Errno::ENOTEMPTY);
    // Tremove.
    h.c().remove(g2).unwrap();
    assert!(!h.root.join("a/h").exists());
    let (c, _) = h.c().walk(&root, &["c"]).unwrap();
    h.c().remove(c).unwrap();
    assert!(!h.root.join("c").exists());
    let (bb, _) = h.c().walk(&root, &["b"]).unwrap();
    assert_eq!(errno(h.c().remove(bb)), Errno::ENOTEMPTY);
    assert!(h.root.join("b").exists());
    // Removing the attach root is refused.
    let (r2, _) = h.c().walk(&root, &[] as &[&str]).unwrap();
    assert_eq!(errno(h.c().remove(r2)), Errno::EBUSY);
    // The old fid of a replaced file no longer opens the replacement.
    std::fs::write(h.root.join("a/p"), b"old").unwrap();
    std::fs::write(h.root.join("a/q"), b"new").unwrap();
    let (p, _) = h.c().walk(&a, &["p"]).unwrap();
    h.c().renameat(&a, "q", &a, "p").unwrap();
    assert_eq!(errno(h.c().open(&p, oflags::RDONLY)), Errno::ESTALE);
}

#[test]
fn setattr_statfs_locks() {
    let h = Harness::new(false, MSIZE);
    std::fs::write(h.root.join("f"), b"0123456789").unwrap();
    let root = h.attach();
    let (f, _) = h.c().walk(&root, &["f"]).unwrap();
    let sa = SetAttr {
        valid: setattr::MODE
            | setattr::SIZE
            | setattr::ATIME
            | setattr::ATIME_SET
            | setattr::MTIME
            | setattr::MTIME_SET,
        mode: 0o600,
        size: 4,
        atime_sec: 1_000_000,
        atime_nsec: 5,
        mtime_sec: 2_000_000,
        mtime_nsec: 7,
        ..SetAttr::default()
    };
    h.c().setattr(&f, &sa).unwrap();
    let md = std::fs::metadata(h.root.join("f")).unwrap();
    assert_eq!(md.permissions().mode() & 0o7777, 0o600);
    assert_eq!(md.len(), 4);
    assert_eq!((md.atime(), md.atime_nsec()), (1_000_000, 5));
    assert_eq!((md.mtime(), md.mtime_nsec()), (2_000_000, 7));
    let st = h.c().getattr(&f, getattr::ALL).unwrap();
    assert_eq!((st.mtime_sec, st.mtime_nsec, st.size), (2_000_000, 7, 4));
    // MTIME without MTIME_SET: now.
    h.c().setattr(&f, &SetAttr { valid: setattr::MTIME, ..SetAttr::default() }).unwrap();
    assert!(std::fs::metadata(h.root.join("f")).unwrap().mtime() > 2_000_000);
    // chown to the same ids works (root or not).
    let sa = SetAttr { valid: setattr::UID | setattr::GID, uid: md.uid(), gid: md.gid(), ..SetAttr::default() };
    h.c().setattr(&f, &sa).unwrap();
    // Truncating a directory.
    let sa = SetAttr { valid: setattr::SIZE, size: 0, ..SetAttr::default() };
    assert_eq!(errno(h.c().setattr(&root, &sa)), Errno::EISDIR);
    // statfs.
    let s = h.c().statfs(&root).unwrap();
    assert!(s.bsize > 0 && s.blocks > 0 && s.namelen >= 255);
    // Locks: two open fids conflict.
    let (a, _) = h.c().walk(&root, &["f"]).unwrap();
    let (b, _) = h.c().walk(&root, &["f"]).unwrap();
    h.c().open(&a, oflags::RDWR).unwrap();
    h.c().open(&b, oflags::RDWR).unwrap();
    let wr = Flock { ty: lock::TYPE_WRLCK, start: 0, length: 0, proc_id: 1, client_id: b"c".to_vec() };
    assert_eq!(h.c().lock(&a, 0, &wr).unwrap(), lock::SUCCESS);
    assert_eq!(h.c().lock(&b, lock::FLAGS_BLOCK, &wr).unwrap(), lock::BLOCKED);
    let g = h.c().getlock(&b, &wr).unwrap();
    assert_eq!(g.ty, lock::TYPE_WRLCK);
    let un = Flock { ty: lock::TYPE_UNLCK, ..wr.clone() };
    assert_eq!(h.c().lock(&a, 0, &un).unwrap(), lock::SUCCESS);
    assert_eq!(h.c().getlock(&b, &wr).unwrap().ty, lock::TYPE_UNLCK);
    assert_eq!(h.c().lock(&b, 0, &wr).unwrap(), lock::SUCCESS);
    // xattrs are not supported.
    let r = h.c().rpc(&Tmessage::Xattrwalk { fid: root.id(), newfid: 999, name: b"user.x".to_vec() });
    assert_eq!(errno(r), Errno::EOPNOTSUPP);
}

#[test]
fn bad_fids() {
    let h = Harness::new(false, MSIZE);
    let root = h.attach();
    for m in [
        Tmessage::Clunk { fid: 4242 },
        Tmessage::Getattr { fid: 4242, request_mask: getattr::ALL },
        Tmessage::Lopen { fid: 4242, flags: 0 },
        Tmessage::Read { fid: 4242, offset: 0, count: 10 },
        Tmessage::Walk { fid: 4242, newfid: 4243, names: vec![] },
        Tmessage::Mkdir { dfid: 4242, name: b"x".to_vec(), mode: 0o755, gid: 0 },
    ] {
        assert_eq!(errno(h.c().rpc(&m)), Errno::EBADF, "{m:?}");
    }
    // Duplicate fid: attach or walk onto a fid in use.
    let id = root.id();
    assert_eq!(
        errno(h.c().rpc(&Tmessage::Attach {
            fid: id,
            afid: u32::MAX,
            uname: "u".into(),
            aname: "".into(),
            n_uname: 0
        })),
        Errno::EBADF
    );
    let (other, _) = h.c().walk(&root, &[] as &[&str]).unwrap();
    assert_eq!(errno(h.c().rpc(&Tmessage::Walk { fid: id, newfid: other.id(), names: vec![] })), Errno::EBADF);
    // A clunked fid is gone.
    let (x, _) = h.c().walk(&root, &[] as &[&str]).unwrap();
    let xid = x.id();
    h.c().clunk(x).unwrap();
    assert_eq!(errno(h.c().rpc(&Tmessage::Getattr { fid: xid, request_mask: 0 })), Errno::EBADF);
    // Fids of another client are refused locally.
    let h2 = Harness::new(false, MSIZE);
    let r2 = h2.attach();
    assert_eq!(errno(h.c().getattr(&r2, 0)), Errno::EBADF);
}

#[test]
fn read_only_refuses_mutations() {
    let h = Harness::with_setup(true, MSIZE, |root| {
        std::fs::write(root.join("f"), b"data").unwrap();
        std::fs::create_dir(root.join("d")).unwrap();
    });
    let root = h.attach();
    let (f, _) = h.c().walk(&root, &["f"]).unwrap();
    let (f2, _) = h.c().walk(&root, &["f"]).unwrap();
    let (d, _) = h.c().walk(&root, &["d"]).unwrap();
    let (c, _) = h.c().walk(&root, &[] as &[&str]).unwrap();
    let ro = Errno::EROFS;
    assert_eq!(errno(h.c().open(&f2, oflags::WRONLY)), ro);
    assert_eq!(errno(h.c().open(&f2, oflags::RDONLY | oflags::TRUNC)), ro);
    assert_eq!(errno(h.c().create(&c, "n", oflags::RDWR, 0o644, 0)), ro);
    assert_eq!(errno(h.c().mkdir(&root, "n", 0o755, 0)), ro);
    assert_eq!(errno(h.c().mknod(&root, "n", libc::S_IFIFO | 0o644, 0, 0, 0)), ro);
    assert_eq!(errno(h.c().symlink(&root, "n", "t", 0)), ro);
    assert_eq!(errno(h.c().link(&root, &f, "n")), ro);
    assert_eq!(errno(h.c().unlinkat(&root, "f", 0)), ro);
    assert_eq!(errno(h.c().renameat(&root, "f", &root, "g")), ro);
    assert_eq!(errno(h.c().rename(&f, &root, "g")), ro);
    assert_eq!(errno(h.c().setattr(&f, &SetAttr { valid: setattr::SIZE, ..SetAttr::default() })), ro);
    assert_eq!(errno(h.c().setattr(&f, &SetAttr { valid: setattr::MODE, mode: 0o777, ..SetAttr::default() })), ro);
    let (x, _) = h.c().walk(&root, &["d"]).unwrap();
    assert_eq!(errno(h.c().remove(x)), ro);
    let _ = d;
    // Reads still work.
    h.c().open(&f, oflags::RDONLY).unwrap();
    let mut b = [0u8; 8];
    assert_eq!(h.c().read(&f, 0, &mut b).unwrap(), 4);
    assert_eq!(std::fs::read(h.root.join("f")).unwrap(), b"data");
    assert!(h.root.join("d").is_dir());
    assert_eq!(std::fs::read_dir(&h.root).unwrap().count(), 2);
}

#[test]
fn cancel_and_flush() {
    let h = Harness::new(false, MSIZE);
    let root = h.attach();
    for _ in 0..50 {
        let p = h.c().start(&Tmessage::Getattr { fid: root.id(), request_mask: getattr::ALL }).unwrap();
        match p.cancel() {
            Ok(Rmessage::Getattr(_)) | Err(gofer_9p::Error::Flushed) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    // Flushing an unknown tag is answered.
    h.c().flush(12345).unwrap();
    // Everything settled: no tag leaked.
    assert_eq!(h.c().in_flight(), 0);
    h.c().getattr(&root, 0).unwrap();
}

#[test]
fn non_utf8_names_and_open_flags() {
    let h = Harness::new(false, MSIZE);
    let root = h.attach();
    let name: &[u8] = b"caf\xe9-\xff";
    let (f, _) = h.c().walk(&root, &[] as &[&str]).unwrap();
    h.c().create(&f, name, oflags::RDWR, 0o644, u32::MAX).unwrap();
    let host = <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(name);
    assert!(h.root.join(host).exists());
    let (d, _) = h.c().walk(&root, &[] as &[&str]).unwrap();
    h.c().open(&d, oflags::RDONLY | oflags::DIRECTORY).unwrap();
    let names: Vec<Vec<u8>> = h.c().read_dir(&d).map(|e| e.unwrap().name).collect();
    assert!(names.iter().any(|n| n == name));
    let (g, _) = h.c().walk(&root, &[name]).unwrap();
    assert_eq!(errno(h.c().open(&g, oflags::RDONLY | oflags::DIRECTORY)), Errno::ENOTDIR);
}
