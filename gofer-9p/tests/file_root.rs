//! A server for one regular file (a bind mount of a file): attach gives
//! the file, I/O and attributes work, nothing else of its directory is
//! reachable, read-only mode refuses writes.

mod common;

use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;

use common::{errno, TempDir, CANARY};
use gofer_9p::messages::getattr;
use gofer_9p::server::Server;
use gofer_9p::{oflags, Client, Errno};

fn serve_file(dir: &std::path::Path, name: &str, read_only: bool) -> Client {
    let fd: OwnedFd = File::open(dir).unwrap().into();
    let server = Server::new_file(fd, name.as_bytes(), read_only).unwrap();
    let (a, b) = UnixStream::pair().unwrap();
    std::thread::spawn(move || server.serve(a));
    Client::connect(b, 64 * 1024).unwrap()
}

#[test]
fn a_served_file_is_the_whole_tree() {
    let d = TempDir::new("file-root");
    std::fs::write(d.path().join("hosts"), "127.0.0.1 localhost\n").unwrap();
    std::fs::write(d.path().join("canary"), CANARY).unwrap();
    let c = serve_file(d.path(), "hosts", false);
    let (root, qid) = c.attach("root", "", 0).unwrap();
    assert!(!qid.is_dir());
    let st = c.getattr(&root, getattr::BASIC).unwrap();
    assert_eq!(st.mode & libc::S_IFMT, libc::S_IFREG);
    assert_eq!(st.size, 20);
    // Read and append through clones of the root fid.
    let (r, _) = c.walk(&root, &[] as &[&str]).unwrap();
    c.open(&r, oflags::RDONLY).unwrap();
    let mut buf = [0u8; 64];
    let n = c.read(&r, 0, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"127.0.0.1 localhost\n");
    let (w, _) = c.walk(&root, &[] as &[&str]).unwrap();
    c.open(&w, oflags::WRONLY | oflags::APPEND).unwrap();
    c.write(&w, 0, b"10.0.0.1 x\n").unwrap();
    assert_eq!(std::fs::read_to_string(d.path().join("hosts")).unwrap(), "127.0.0.1 localhost\n10.0.0.1 x\n");
    // Nothing beside it: walking from a file, or a subtree by aname.
    assert_eq!(errno(c.walk(&root, &["canary"])), Errno::ENOTDIR);
    assert_eq!(errno(c.walk(&root, &[".."])), Errno::EINVAL);
    assert_eq!(errno(c.attach("root", "/canary", 0)), Errno::ENOTDIR);
    assert_eq!(std::fs::read(d.path().join("canary")).unwrap(), CANARY);
}

#[test]
fn a_read_only_served_file_refuses_writes() {
    let d = TempDir::new("file-root-ro");
    std::fs::write(d.path().join("hostname"), "box\n").unwrap();
    let c = serve_file(d.path(), "hostname", true);
    let (root, _) = c.attach("root", "", 0).unwrap();
    let (w, _) = c.walk(&root, &[] as &[&str]).unwrap();
    assert_eq!(errno(c.open(&w, oflags::WRONLY)), Errno::EROFS);
    let (t, _) = c.walk(&root, &[] as &[&str]).unwrap();
    assert_eq!(errno(c.open(&t, oflags::RDONLY | oflags::TRUNC)), Errno::EROFS);
    assert_eq!(std::fs::read_to_string(d.path().join("hostname")).unwrap(), "box\n");
}

#[test]
fn only_regular_files_and_plain_names_are_served() {
    let d = TempDir::new("file-root-bad");
    std::fs::create_dir(d.path().join("sub")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", d.path().join("link")).unwrap();
    let open = || -> OwnedFd { File::open(d.path()).unwrap().into() };
    assert!(Server::new_file(open(), b"sub", false).is_err(), "a directory");
    assert!(Server::new_file(open(), b"link", false).is_err(), "a symlink is not followed");
    assert!(Server::new_file(open(), b"../x", false).is_err(), "not a single name");
    assert!(Server::new_file(open(), b"missing", false).is_err());
}
