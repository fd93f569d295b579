//! The gofer file system against a real 9P server on a temporary directory.

use std::fs;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Arc;

use platforms::ptrace::Ptrace;
use platforms::{MemoryFile, Platform, PAGE_SIZE};
use sentry_core::errno::Errno;
use sentry_core::fs::gofer::GoferFs;
use sentry_core::mm::MM;
use sentry_core::vfs::{Creds, FileType, Inode, IoCtx};

struct Served {
    dir: PathBuf,
    root: Arc<dyn Inode>,
    mm: MM,
    mf: Arc<MemoryFile>,
    _platform: Arc<dyn Platform>,
}

fn serve(tag: &str, read_only: bool) -> Served {
    let dir = std::env::temp_dir().join(format!("rvisor-goferfs-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("sub")).unwrap();
    fs::write(dir.join("hello.txt"), "hello, gofer\n").unwrap();
    fs::write(dir.join("sub/big.bin"), vec![7u8; 3 * PAGE_SIZE as usize + 100]).unwrap();
    std::os::unix::fs::symlink("hello.txt", dir.join("link")).unwrap();

    let (a, b) = UnixStream::pair().unwrap();
    let root_fd: std::os::fd::OwnedFd = fs::File::open(&dir).unwrap().into();
    let server = gofer_9p::Server::new(root_fd, read_only).unwrap();
    std::thread::spawn(move || server.serve(b));
    let client = gofer_9p::Client::connect(a, 65536).unwrap();

    let mf = Arc::new(MemoryFile::new(1 << 28).unwrap());
    let platform: Arc<dyn Platform> = Arc::new(Ptrace::new(mf.clone()).unwrap());
    let space = platform.new_address_space().unwrap();
    let mm = MM::new(space, mf.clone(), platform.min_user_address(), platform.max_user_address());
    let root = GoferFs::mount(client, mf.clone(), 0x2a, 0).unwrap();
    Served { dir, root, mm, mf, _platform: platform }
}

fn ctx(mm: &MM) -> IoCtx<'_> {
    IoCtx { mm: Some(mm), interrupted: &|| false, nonblock: false, waker: None }
}

#[test]
fn lookup_stat_read_and_list() {
    let s = serve("read", false);
    let f = s.root.lookup("hello.txt").unwrap();
    assert_eq!(f.file_type(), FileType::Regular);
    let st = f.stat();
    assert_eq!(st.size, 13);
    assert_eq!(st.dev, 0x2a);
    let ops = f.clone().open(0).unwrap();
    let mut buf = [0u8; 64];
    let n = ops.read(&ctx(&s.mm), 0, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"hello, gofer\n");
    assert_eq!(ops.read(&ctx(&s.mm), 7, &mut buf).unwrap(), 6);

    let mut names: Vec<_> = s.root.readdir().unwrap().into_iter().map(|e| (e.name, e.file_type)).collect();
    names.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        names,
        vec![
            ("hello.txt".into(), FileType::Regular),
            ("link".into(), FileType::Symlink),
            ("sub".into(), FileType::Directory)
        ]
    );
    assert_eq!(s.root.lookup("link").unwrap().readlink().unwrap(), "hello.txt");
    assert_eq!(s.root.lookup("missing").err(), Some(Errno::ENOENT));
    assert_eq!(f.lookup("x").err(), Some(Errno::ENOTDIR));
    fs::remove_dir_all(&s.dir).unwrap();
}

#[test]
fn create_write_rename_truncate_unlink_reach_the_host() {
    let s = serve("write", false);
    let creds = Creds { uid: 0, gid: 0 };
    let f = s.root.create("new.txt", FileType::Regular, 0o640, creds).unwrap();
    let ops = f.clone().open(libc::O_RDWR as u32).unwrap();
    assert_eq!(ops.write(&ctx(&s.mm), 0, b"from the sandbox").unwrap(), 16);
    assert_eq!(fs::read_to_string(s.dir.join("new.txt")).unwrap(), "from the sandbox");
    assert_eq!(ops.size(), Some(16));

    let sub = s.root.lookup("sub").unwrap();
    s.root.rename("new.txt", &sub, "moved.txt").unwrap();
    assert!(s.dir.join("sub/moved.txt").exists());
    let moved = sub.lookup("moved.txt").unwrap();
    moved.truncate(4).unwrap();
    assert_eq!(fs::read_to_string(s.dir.join("sub/moved.txt")).unwrap(), "from");
    moved.set_mode(0o600).unwrap();
    assert_eq!(moved.stat().mode & 0o7777, 0o600);

    s.root.create("d", FileType::Directory, 0o755, creds).unwrap();
    assert!(s.dir.join("d").is_dir());
    assert_eq!(s.root.unlink("d", false).err(), Some(Errno::EISDIR));
    s.root.unlink("d", true).unwrap();
    s.root.symlink("sl", "/etc/passwd", creds).unwrap();
    assert_eq!(fs::read_link(s.dir.join("sl")).unwrap(), PathBuf::from("/etc/passwd"));
    sub.unlink("moved.txt", false).unwrap();
    assert!(!s.dir.join("sub/moved.txt").exists());
    fs::remove_dir_all(&s.dir).unwrap();
}

#[test]
fn mapped_pages_come_from_the_file_and_are_shared() {
    let s = serve("map", false);
    let f = s.root.lookup("sub").unwrap().lookup("big.bin").unwrap();
    let ops = f.clone().open(0).unwrap();
    let m = ops.mappable().unwrap();
    let p0 = m.page(0).unwrap();
    let mut b = [0u8; 4];
    p0.read(0, &mut b).unwrap();
    assert_eq!(b, [7; 4]);
    // The partial last page reads zeros past the end of the file.
    let last = m.page(3 * PAGE_SIZE).unwrap();
    let mut tail = [1u8; 8];
    last.read(100, &mut tail).unwrap();
    assert_eq!(tail, [0; 8]);
    assert_eq!(m.page(4 * PAGE_SIZE).err(), Some(Errno::EFAULT), "beyond the end");
    // Another open of the same inode shares the same page.
    let again = f.clone().open(0).unwrap().mappable().unwrap().page(0).unwrap();
    assert_eq!(again.offset(), p0.offset());
    // Writes through the file update the cached page.
    let w = f.clone().open(libc::O_WRONLY as u32).unwrap();
    w.write(&ctx(&s.mm), 1, b"xy").unwrap();
    p0.read(0, &mut b).unwrap();
    assert_eq!(&b, b"\x07xy\x07");
    assert!(s.mf.used() >= 2 * PAGE_SIZE);
    fs::remove_dir_all(&s.dir).unwrap();
}

/// Fault-around asks for pages in runs: the missing ones come in one read,
/// into contiguous memory (one mapping call for the run), cached pages are
/// kept, and the run stops at the end of the file.
#[test]
fn runs_of_pages_come_in_one_piece_and_stop_at_the_end() {
    let s = serve("runs", false);
    let data: Vec<u8> = (0..5 * PAGE_SIZE as usize + 10).map(|i| (i / PAGE_SIZE as usize) as u8 + 1).collect();
    fs::write(s.dir.join("runs.bin"), &data).unwrap();
    let f = s.root.lookup("runs.bin").unwrap();
    let m = f.clone().open(0).unwrap().mappable().unwrap();
    let cached = m.page(PAGE_SIZE).unwrap();
    let run = m.pages(0, 16);
    assert_eq!(run.len(), 6, "pages 0..=5 exist, the run stops there");
    for (i, p) in run.iter().enumerate() {
        let mut b = [0u8; 1];
        p.read(0, &mut b).unwrap();
        assert_eq!(b[0], i as u8 + 1, "page {i}");
    }
    assert_eq!(run[1].offset(), cached.offset(), "a cached page is kept");
    for w in run[2..].windows(2) {
        assert_eq!(w[1].offset(), w[0].offset() + PAGE_SIZE, "fetched together, contiguous");
    }
    let mut tail = [1u8; 8];
    run[5].read(10, &mut tail).unwrap();
    assert_eq!(tail, [0; 8], "zeros past the end of the file");
    assert!(m.pages(6 * PAGE_SIZE, 4).is_empty(), "nothing past the end");
    fs::remove_dir_all(&s.dir).unwrap();
}

#[test]
fn read_only_mounts_refuse_changes() {
    let s = serve("ro", true);
    let creds = Creds { uid: 0, gid: 0 };
    assert_eq!(s.root.create("x", FileType::Regular, 0o644, creds).err(), Some(Errno::EROFS));
    assert_eq!(s.root.unlink("hello.txt", false).err(), Some(Errno::EROFS));
    let f = s.root.lookup("hello.txt").unwrap();
    assert_eq!(f.clone().open(libc::O_WRONLY as u32).err(), Some(Errno::EROFS));
    fs::remove_dir_all(&s.dir).unwrap();
}

#[test]
fn gofer_file_system_mounted_in_a_kernel() {
    use sentry_core::{Kernel, KernelConfig};
    let s = serve("kernel", false);
    let kernel = Kernel::new(KernelConfig::new(s._platform.clone())).unwrap();
    kernel.root_fs().mkdir_all("/data", 0o755).unwrap();
    kernel.mount("/data", s.root.clone()).unwrap();
    assert_eq!(kernel.root_fs().read_file("/data/hello.txt").unwrap(), b"hello, gofer\n");
    // A symlink inside the mount resolves within it.
    assert_eq!(kernel.root_fs().read_file("/data/link").unwrap(), b"hello, gofer\n");
    // `..` leaves the mount back to the tree it is mounted in.
    kernel.root_fs().write_file("/top.txt", b"top", 0o644).unwrap();
    assert_eq!(kernel.root_fs().read_file("/data/sub/../../top.txt").unwrap(), b"top");
    // /dev is a mount too.
    assert!(kernel.root_fs().read_file("/dev/null").unwrap().is_empty());
    fs::remove_dir_all(&s.dir).unwrap();
}
