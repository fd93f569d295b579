//! Shared test harness: a temporary directory served over a socketpair.
#![allow(dead_code)]

use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::JoinHandle;

use gofer_9p::server::{Server, ServerConfig};
use gofer_9p::{Client, Errno, Error, Fid};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        let p = std::env::temp_dir().join(format!("gofer9p-{tag}-{}-{n}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub const CANARY: &[u8] = b"CANARY-SECRET-OUTSIDE-THE-ROOT";

/// `outer/` holds `canary` (outside the root) and `root/` (served).
pub struct Harness {
    client: Option<Client>,
    pub root: PathBuf,
    pub outer: PathBuf,
    canary_mtime: (i64, i64),
    server: Option<JoinHandle<gofer_9p::Result<()>>>,
    _dir: TempDir,
}

impl Harness {
    pub fn new(read_only: bool, msize: u32) -> Harness {
        Harness::with_setup(read_only, msize, |_| {})
    }

    /// Like `new`, running `setup(root)` before the server starts.
    pub fn with_setup(read_only: bool, msize: u32, setup: impl FnOnce(&Path)) -> Harness {
        let dir = TempDir::new("h");
        let outer = dir.path().to_path_buf();
        let root = outer.join("root");
        std::fs::create_dir(&root).unwrap();
        std::fs::write(outer.join("canary"), CANARY).unwrap();
        std::fs::set_permissions(outer.join("canary"), std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
        let md = std::fs::metadata(outer.join("canary")).unwrap();
        setup(&root);
        let fd: OwnedFd = File::open(&root).unwrap().into();
        let cfg = ServerConfig { read_only, ..ServerConfig::default() };
        let server = Server::with_config(fd, cfg).unwrap();
        let (a, b) = UnixStream::pair().unwrap();
        let handle = std::thread::spawn(move || server.serve(a));
        let client = Client::connect(b, msize).unwrap();
        Harness {
            client: Some(client),
            root,
            outer,
            canary_mtime: (md.mtime(), md.mtime_nsec()),
            server: Some(handle),
            _dir: dir,
        }
    }

    /// The client.
    pub fn c(&self) -> &Client {
        self.client.as_ref().expect("client")
    }

    pub fn attach(&self) -> Fid {
        self.c().attach("root", "", 0).unwrap().0
    }

    /// The canary outside the root still has its content, mtime, one link.
    pub fn assert_canary(&self) {
        let p = self.outer.join("canary");
        assert_eq!(std::fs::read(&p).unwrap(), CANARY);
        let md = std::fs::symlink_metadata(&p).unwrap();
        assert_eq!((md.mtime(), md.mtime_nsec()), self.canary_mtime, "canary mtime changed");
        assert_eq!(md.nlink(), 1, "canary gained a hard link");
        assert_eq!(md.mode() & 0o7777, 0o644, "canary mode changed");
    }

    /// Shuts the connection down (even if fids are still referenced) and
    /// waits for the server to finish.
    pub fn finish_forced(mut self) -> gofer_9p::Result<()> {
        let h = self.server.take().unwrap();
        self.c().shutdown();
        drop(self.client.take());
        h.join().expect("server thread panicked")
    }

    /// Drops the client and waits for the server to finish.
    pub fn finish(mut self) -> gofer_9p::Result<()> {
        let h = self.server.take().unwrap();
        drop(self.client.take());
        h.join().expect("server thread panicked")
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.assert_canary();
        }
    }
}

/// The errno of a failed result (panics on success).
pub fn errno<T: std::fmt::Debug>(r: gofer_9p::Result<T>) -> Errno {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(Error::Errno(e)) => e,
        Err(e) => panic!("expected an errno, got {e}"),
    }
}
