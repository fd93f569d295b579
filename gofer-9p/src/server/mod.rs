//! The Gofer's 9P2000.L file server.
//!
//! [`Server`] serves one directory tree, given as an open directory
//! descriptor, to any number of connections ([`Server::serve`], one call per
//! connected unix stream socket, typically on its own thread).
//!
//! Security model:
//! * Every lookup is a single-component `openat2` relative to a directory
//!   descriptor the server holds, with `RESOLVE_BENEATH |
//!   RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS` and `O_NOFOLLOW`. Names
//!   containing `/` or NUL, empty names, `.` and `..` are refused (`EINVAL`).
//!   The server never follows a symlink: walking onto one yields a fid of
//!   the symlink itself (qid type symlink), and opening it fails (`ELOOP`).
//! * Fids hold `O_PATH` descriptors. Attribute operations use them directly
//!   (`statx`/`fchownat`/`fchmodat2`/`utimensat` with `AT_EMPTY_PATH`,
//!   `readlinkat(fd, "")`, `linkat(fd, "", AT_EMPTY_PATH)`).
//! * Regular files are reopened for I/O by name from their parent directory
//!   descriptor (`openat2` as above, plus `O_NONBLOCK|O_NOCTTY`, never
//!   `O_TRUNC` or `O_CREAT`), under a server-wide namespace read lock that
//!   renames and unlinks take for writing, and the result is checked to be
//!   the same inode (`ESTALE` otherwise). Renames and unlinks done through
//!   the server update or invalidate the recorded names of all fids.
//!   Directories are reopened with `openat2(fd, ".")`.
//! * Device nodes, sockets and FIFOs cannot be opened for I/O (`EPERM`) and
//!   cannot be created as devices (`Tmknod` of a char/block device is
//!   `EPERM`; FIFOs and sockets may be created — the Sentry implements their
//!   behaviour itself).
//! * Read-only mode refuses every mutating operation with `EROFS`.
//! * No absolute path is used after construction.
//!
//! Confinement of the process (namespaces, pivot_root, seccomp, dropping
//! capabilities) is the caller's job.

mod fid;
mod ops;

use std::collections::HashMap;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Condvar, Mutex, RwLock, Weak};

use crate::messages::{Rmessage, Tmessage};
use crate::wire::{self, WireError, HEADER_SIZE};
use crate::{sys, Errno, Error, Result};
use fid::{lock, Fid};

/// Default and maximum msize the server accepts.
pub const DEFAULT_MAX_MSIZE: u32 = 1024 * 1024 + 4096;
/// Smallest msize the server accepts in Tversion.
pub const MIN_MSIZE: u32 = 4096;

/// Tunables of a [`Server`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerConfig {
    /// Refuse every mutating operation with `EROFS`.
    pub read_only: bool,
    /// Largest msize negotiated (and largest frame accepted).
    pub max_msize: u32,
    /// Worker threads per connection.
    pub workers: usize,
    /// Requests queued per connection beyond those being worked on; the
    /// connection stops reading when the queue is full.
    pub queue: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig { read_only: false, max_msize: DEFAULT_MAX_MSIZE, workers: 8, queue: 32 }
    }
}

/// A 9P2000.L server for one directory tree. Cloning is cheap and shares
/// the tree (and its namespace lock) between the clones.
#[derive(Clone)]
pub struct Server {
    inner: Arc<ServerInner>,
}

pub(crate) struct ServerInner {
    /// O_PATH descriptor of the served root.
    root: OwnedFd,
    /// A served regular file (rather than a directory tree): its parent
    /// directory and name, through which it is reopened for I/O. Nothing
    /// else of the parent is reachable.
    root_file: Option<fid::Loc>,
    cfg: ServerConfig,
    /// Held for reading while a file is reopened by name; for writing by
    /// operations that change which file a name refers to.
    ns: RwLock<()>,
    /// Live connections (for updating fid names after renames).
    conns: Mutex<Vec<Weak<Conn>>>,
}

impl Server {
    /// A server for the directory `root_dir_fd` (any descriptor of a
    /// directory, `O_PATH` is fine). `read_only` refuses all mutations.
    pub fn new(root_dir_fd: OwnedFd, read_only: bool) -> Result<Server> {
        Server::with_config(root_dir_fd, ServerConfig { read_only, ..ServerConfig::default() })
    }

    /// A server with explicit tunables.
    pub fn with_config(root_dir_fd: OwnedFd, cfg: ServerConfig) -> Result<Server> {
        if cfg.max_msize < MIN_MSIZE || cfg.workers == 0 {
            return Err(Error::Errno(Errno::EINVAL));
        }
        let root = sys::openat2(root_dir_fd.as_fd(), b".", libc::O_PATH | libc::O_DIRECTORY, 0, sys::RESOLVE_STRICT)?;
        Ok(Server::build(root, None, cfg))
    }

    /// A server for one regular file: entry `name` (a single component,
    /// not a symlink) of directory `parent_dir_fd` — a bind mount of a
    /// file. Attaching gives the file; walking from it fails with
    /// `ENOTDIR`; no other entry of the directory is reachable.
    pub fn new_file(parent_dir_fd: OwnedFd, name: &[u8], read_only: bool) -> Result<Server> {
        fid::check_name(name)?;
        let parent =
            sys::openat2(parent_dir_fd.as_fd(), b".", libc::O_PATH | libc::O_DIRECTORY, 0, sys::RESOLVE_STRICT)?;
        let root = sys::openat2(parent.as_fd(), name, libc::O_PATH | libc::O_NOFOLLOW, 0, sys::RESOLVE_STRICT)?;
        let st = sys::statx_fd(root.as_fd())?;
        if u32::from(st.stx_mode) & libc::S_IFMT != libc::S_IFREG {
            return Err(Error::Errno(Errno::EINVAL));
        }
        let parent_key = fid::key_of(&sys::statx_fd(parent.as_fd())?);
        let loc = fid::Loc { parent: Arc::new(parent), parent_key, name: name.to_vec() };
        Ok(Server::build(root, Some(loc), ServerConfig { read_only, ..ServerConfig::default() }))
    }

    fn build(root: OwnedFd, root_file: Option<fid::Loc>, cfg: ServerConfig) -> Server {
        Server {
            inner: Arc::new(ServerInner { root, root_file, cfg, ns: RwLock::new(()), conns: Mutex::new(Vec::new()) }),
        }
    }

    /// Serves one client on a connected stream socket until it disconnects
    /// (returns `Ok`) or violates the framing (returns `Err`). All of the
    /// connection's fids are released on return. Safe to call concurrently
    /// for several connections.
    pub fn serve(&self, stream: UnixStream) -> Result<()> {
        let conn = Arc::new(Conn::new(self.inner.clone(), stream.try_clone()?));
        {
            let mut conns = lock(&self.inner.conns);
            conns.retain(|w| w.strong_count() > 0);
            conns.push(Arc::downgrade(&conn));
        }
        let res = conn.run(stream);
        conn.closed.store(true, Ordering::SeqCst);
        lock(&conn.fids).clear();
        res
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Queued,
    Running,
    Flushed,
    Done,
}

struct Inflight {
    state: Mutex<State>,
    cv: Condvar,
}

struct Job {
    tag: u16,
    msg: Tmessage,
    inflight: Arc<Inflight>,
}

/// State of one client connection.
pub(crate) struct Conn {
    srv: Arc<ServerInner>,
    fids: Mutex<HashMap<u32, Arc<Fid>>>,
    /// Negotiated msize; 0 before Tversion.
    msize: AtomicU32,
    out: UnixStream,
    out_lock: Mutex<()>,
    inflight: Mutex<HashMap<u16, Arc<Inflight>>>,
    closed: AtomicBool,
}

impl Conn {
    fn new(srv: Arc<ServerInner>, out: UnixStream) -> Conn {
        Conn {
            srv,
            fids: Mutex::new(HashMap::new()),
            msize: AtomicU32::new(0),
            out,
            out_lock: Mutex::new(()),
            inflight: Mutex::new(HashMap::new()),
            closed: AtomicBool::new(false),
        }
    }

    /// Sends one reply (errors are ignored: a dead peer is noticed by the
    /// reading side).
    fn send(&self, tag: u16, r: &Rmessage) {
        let _g = lock(&self.out_lock);
        self.send_locked(tag, r);
    }

    fn send_locked(&self, tag: u16, r: &Rmessage) {
        let mut buf = Vec::new();
        if r.encode(tag, &mut buf).is_err() {
            buf.clear();
            // Encoding only fails for oversized fields; report EIO instead.
            if Rmessage::error(Errno::EIO).encode(tag, &mut buf).is_err() {
                return;
            }
        }
        let _ = sys::send_all(self.out.as_fd(), &buf);
    }

    fn run(self: &Arc<Self>, mut stream: UnixStream) -> Result<()> {
        let workers = self.srv.cfg.workers;
        let (tx, rx) = sync_channel::<Job>(self.srv.cfg.queue);
        let rx = Arc::new(Mutex::new(rx));
        let mut handles = Vec::with_capacity(workers);
        for _ in 0..workers {
            let conn = self.clone();
            let rx = rx.clone();
            handles.push(std::thread::spawn(move || conn.worker(&rx)));
        }
        let res = self.read_loop(&mut stream, |job| tx.send(job).is_ok());
        drop(tx);
        self.closed.store(true, Ordering::SeqCst);
        for h in handles {
            let _ = h.join();
        }
        res
    }

    fn worker(&self, rx: &Mutex<Receiver<Job>>) {
        loop {
            let job = {
                let rx = lock(rx);
                match rx.recv() {
                    Ok(j) => j,
                    Err(_) => return,
                }
            };
            self.run_job(job);
        }
    }

    fn run_job(&self, job: Job) {
        {
            let mut st = lock(&job.inflight.state);
            if *st == State::Flushed || self.closed.load(Ordering::SeqCst) {
                return;
            }
            *st = State::Running;
        }
        let reply = match job.msg {
            Tmessage::Read { fid, offset, count } => match self.read_frame(job.tag, fid, offset, count) {
                Ok(frame) => Err(frame),
                Err(e) => Ok(Rmessage::error(e)),
            },
            msg => Ok(self.handle(msg)),
        };
        {
            let _g = lock(&self.out_lock);
            {
                let mut map = lock(&self.inflight);
                if map.get(&job.tag).is_some_and(|e| Arc::ptr_eq(e, &job.inflight)) {
                    map.remove(&job.tag);
                }
            }
            match reply {
                Ok(r) => self.send_locked(job.tag, &r),
                Err(frame) => {
                    let _ = sys::send_all(self.out.as_fd(), &frame);
                }
            }
        }
        *lock(&job.inflight.state) = State::Done;
        job.inflight.cv.notify_all();
    }

    /// Waits until request `oldtag` can no longer be answered after our
    /// Rflush: a queued request is dropped, a running one is waited for.
    fn flush(&self, oldtag: u16) {
        let entry = lock(&self.inflight).get(&oldtag).cloned();
        let Some(e) = entry else { return };
        let mut st = lock(&e.state);
        loop {
            match *st {
                State::Queued => {
                    *st = State::Flushed;
                    let mut map = lock(&self.inflight);
                    if map.get(&oldtag).is_some_and(|x| Arc::ptr_eq(x, &e)) {
                        map.remove(&oldtag);
                    }
                    return;
                }
                State::Running => {
                    st = e.cv.wait(st).unwrap_or_else(|p| p.into_inner());
                }
                State::Flushed | State::Done => return,
            }
        }
    }

    /// Reads frames until EOF; `submit` queues a job (false: stop).
    fn read_loop(&self, stream: &mut UnixStream, mut submit: impl FnMut(Job) -> bool) -> Result<()> {
        loop {
            let mut hdr = [0u8; HEADER_SIZE];
            match read_full(stream, &mut hdr) {
                Ok(true) => {}
                Ok(false) => return Ok(()),
                Err(e) => return Err(Error::Io(e)),
            }
            let max = match self.msize.load(Ordering::SeqCst) {
                0 => self.srv.cfg.max_msize,
                m => m,
            };
            let h = wire::parse_header(&hdr, max)?;
            let mut body = vec![0u8; h.size as usize - HEADER_SIZE];
            match read_full(stream, &mut body) {
                Ok(true) => {}
                Ok(false) => return Err(Error::Wire(WireError::Truncated)),
                Err(e) => return Err(Error::Io(e)),
            }
            let msg = match Tmessage::decode(h.ty, &body) {
                Ok(m) => m,
                Err(e) => {
                    self.send(h.tag, &Rmessage::error(decode_errno(&e)));
                    continue;
                }
            };
            drop(body);
            if let Tmessage::Version { msize, version } = msg {
                let r = self.version(msize, &version);
                self.send(h.tag, &r);
                continue;
            }
            if self.msize.load(Ordering::SeqCst) == 0 {
                self.send(h.tag, &Rmessage::error(Errno::EPROTO));
                continue;
            }
            if lock(&self.inflight).contains_key(&h.tag) {
                // A tag reused while still in flight: protocol error.
                self.send(h.tag, &Rmessage::error(Errno::EPROTO));
                continue;
            }
            if let Tmessage::Flush { oldtag } = msg {
                // Answered on the reading thread, so that it overtakes
                // queued requests: a queued one is dropped unanswered, a
                // running one is waited for; either way its reply (if any)
                // goes out before Rflush.
                self.flush(oldtag);
                self.send(h.tag, &Rmessage::Flush);
                continue;
            }
            if is_quick(&msg) {
                // Short, non-blocking metadata requests are answered inline:
                // it saves a thread hand-off per round trip. They complete
                // before the next frame is read, so a later Tflush of them
                // correctly finds nothing to wait for.
                let r = self.handle(msg);
                self.send(h.tag, &r);
                continue;
            }
            let inflight = Arc::new(Inflight { state: Mutex::new(State::Queued), cv: Condvar::new() });
            {
                let mut map = lock(&self.inflight);
                if map.contains_key(&h.tag) {
                    drop(map);
                    // A tag reused while still in flight: protocol error.
                    self.send(h.tag, &Rmessage::error(Errno::EPROTO));
                    continue;
                }
                map.insert(h.tag, inflight.clone());
            }
            if !submit(Job { tag: h.tag, msg, inflight }) {
                return Ok(());
            }
        }
    }

    fn version(&self, msize: u32, version: &str) -> Rmessage {
        // A new session: every fid of the old one is released.
        lock(&self.fids).clear();
        if version != crate::messages::VERSION_9P2000_L {
            self.msize.store(0, Ordering::SeqCst);
            return Rmessage::Version { msize, version: "unknown".into() };
        }
        if msize < MIN_MSIZE {
            self.msize.store(0, Ordering::SeqCst);
            return Rmessage::error(Errno::EINVAL);
        }
        let m = msize.min(self.srv.cfg.max_msize);
        self.msize.store(m, Ordering::SeqCst);
        Rmessage::Version { msize: m, version: version.to_owned() }
    }

    /// Handles one decoded request (not Tversion/Tflush) and returns its
    /// reply; errors become Rlerror.
    fn handle(&self, msg: Tmessage) -> Rmessage {
        match self.dispatch(msg) {
            Ok(r) => r,
            Err(e) => Rmessage::error(e),
        }
    }
}

/// Requests cheap enough to run on the connection's reading thread: a few
/// metadata system calls on descriptors the server already holds, never
/// data I/O, directory reads or namespace changes.
fn is_quick(m: &Tmessage) -> bool {
    matches!(
        m,
        Tmessage::Getattr { .. }
            | Tmessage::Walk { .. }
            | Tmessage::Clunk { .. }
            | Tmessage::Readlink { .. }
            | Tmessage::Statfs { .. }
            | Tmessage::Attach { .. }
            | Tmessage::Auth { .. }
            | Tmessage::Xattrwalk { .. }
            | Tmessage::Getlock { .. }
    )
}

fn decode_errno(e: &WireError) -> Errno {
    match e {
        WireError::UnknownType(_) => Errno::EOPNOTSUPP,
        WireError::NotUtf8 | WireError::Invalid(_) => Errno::EINVAL,
        _ => Errno::EPROTO,
    }
}

/// Fills `buf` completely. Ok(false) on EOF before the first byte.
fn read_full(s: &mut UnixStream, buf: &mut [u8]) -> std::io::Result<bool> {
    let mut n = 0;
    while n < buf.len() {
        match s.read(&mut buf[n..]) {
            Ok(0) if n == 0 => return Ok(false),
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::OwnedFd;

    fn conn() -> (Arc<Conn>, UnixStream, std::path::PathBuf) {
        let dir =
            std::env::temp_dir().join(format!("gofer9p-unit-{}-{:?}", std::process::id(), std::thread::current().id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fd: OwnedFd = std::fs::File::open(&dir).unwrap().into();
        let srv = Server::new(fd, false).unwrap();
        let (a, b) = UnixStream::pair().unwrap();
        let c = Arc::new(Conn::new(srv.inner.clone(), a));
        c.msize.store(8192, Ordering::SeqCst);
        b.set_nonblocking(true).unwrap();
        (c, b, dir)
    }

    fn job(c: &Conn, tag: u16, state: State) -> Job {
        let inflight = Arc::new(Inflight { state: Mutex::new(state), cv: Condvar::new() });
        lock(&c.inflight).insert(tag, inflight.clone());
        Job { tag, msg: Tmessage::Statfs { fid: 99 }, inflight }
    }

    fn pending_bytes(s: &mut UnixStream) -> usize {
        let mut buf = [0u8; 256];
        match s.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => 0,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn flush_of_queued_request_suppresses_its_reply() {
        let (c, mut peer, dir) = conn();
        let j = job(&c, 5, State::Queued);
        c.flush(5);
        assert_eq!(*lock(&j.inflight.state), State::Flushed);
        assert!(!lock(&c.inflight).contains_key(&5), "tag is free again");
        c.run_job(j);
        assert_eq!(pending_bytes(&mut peer), 0, "a flushed request is never answered");
        // An unflushed one is answered (Rlerror EBADF for the unknown fid).
        let j = job(&c, 6, State::Queued);
        c.run_job(j);
        assert_eq!(pending_bytes(&mut peer), 11);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn flush_of_running_request_waits_for_it() {
        let (c, mut peer, dir) = conn();
        let j = job(&c, 7, State::Running);
        let (tx, rx) = std::sync::mpsc::channel();
        let c2 = c.clone();
        let t = std::thread::spawn(move || {
            c2.flush(7);
            tx.send(()).unwrap();
        });
        // The flush must not complete while the request runs.
        assert!(rx.recv_timeout(std::time::Duration::from_millis(100)).is_err());
        // Finish the request as a worker does: reply, then mark done.
        {
            let _g = lock(&c.out_lock);
            lock(&c.inflight).remove(&7);
            c.send_locked(7, &Rmessage::Clunk);
        }
        *lock(&j.inflight.state) = State::Done;
        j.inflight.cv.notify_all();
        rx.recv_timeout(std::time::Duration::from_secs(20)).expect("flush returns once the request is done");
        t.join().unwrap();
        assert_eq!(pending_bytes(&mut peer), 7);
        let _ = std::fs::remove_dir_all(dir);
    }
}
