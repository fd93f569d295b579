//! The Sentry's 9P2000.L client.
//!
//! [`Client`] is `Send + Sync`; all operations take `&self` and may run
//! concurrently from many threads. A reader thread matches replies to
//! waiting callers by tag; if the connection drops, every waiter gets
//! [`Error::Disconnected`].
//!
//! Fids are RAII handles ([`Fid`]): dropping one sends `Tclunk` without
//! waiting, and its number is reused only after the server confirmed the
//! clunk. The connection stays up while the `Client` or any `Fid` lives.

use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use crate::messages::{
    encode_twrite, DirEntry, Flock, Rmessage, SetAttr, Stat, StatFs, Tmessage, IOHDRSZ, MAXWELEM, NOFID, NONUNAME,
    NOTAG, READDIRHDRSZ, VERSION_9P2000_L,
};
use crate::wire::{self, Qid, HEADER_SIZE};
use crate::{oflags, sys, Errno, Error, Result};

/// Smallest msize the client accepts.
pub const MIN_MSIZE: u32 = 4096;
/// Requests issued ahead when a read or write is split into chunks.
const PIPELINE_DEPTH: usize = 4;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What the reader does with a reply.
enum Action {
    /// Hand it to a waiting caller.
    Deliver,
    /// Fire-and-forget clunk: return this fid number to the allocator.
    ReleaseFid(u32),
}

struct Slot {
    reply: Mutex<Option<std::result::Result<Rmessage, String>>>,
    cv: Condvar,
    action: Action,
}

struct Pending {
    slots: HashMap<u16, Arc<Slot>>,
    next_tag: u16,
    dead: Option<String>,
}

struct FidAlloc {
    next: u32,
    free: Vec<u32>,
}

/// State shared between callers and the reader thread.
struct Shared {
    pending: Mutex<Pending>,
    tag_cv: Condvar,
    fids: Mutex<FidAlloc>,
}

impl Shared {
    fn release_fid(&self, id: u32) {
        lock(&self.fids).free.push(id);
    }

    fn alloc_fid(&self) -> Result<u32> {
        let mut a = lock(&self.fids);
        if let Some(id) = a.free.pop() {
            return Ok(id);
        }
        if a.next == NOFID {
            return Err(Error::Errno(Errno::EMFILE));
        }
        let id = a.next;
        a.next += 1;
        Ok(id)
    }

    /// Marks the connection dead and fails every waiter.
    fn kill(&self, why: String) {
        let mut p = lock(&self.pending);
        if p.dead.is_none() {
            p.dead = Some(why.clone());
        }
        for (_, s) in p.slots.drain() {
            *lock(&s.reply) = Some(Err(why.clone()));
            s.cv.notify_all();
        }
        drop(p);
        self.tag_cv.notify_all();
    }
}

struct Inner {
    sock: UnixStream,
    send_lock: Mutex<()>,
    msize: u32,
    shared: Arc<Shared>,
    reader: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ = self.sock.shutdown(std::net::Shutdown::Both);
        if let Some(h) = lock(&self.reader).take() {
            let _ = h.join();
        }
    }
}

/// A request on the wire whose reply has not been collected yet.
pub struct PendingRequest {
    inner: Arc<Inner>,
    tag: u16,
    slot: Arc<Slot>,
}

impl PendingRequest {
    /// The request's tag.
    pub fn tag(&self) -> u16 {
        self.tag
    }

    /// Waits for the reply; `Rlerror` becomes `Err(Error::Errno)`.
    pub fn wait(self) -> Result<Rmessage> {
        let mut r = lock(&self.slot.reply);
        loop {
            if let Some(res) = r.take() {
                return match res {
                    Ok(Rmessage::Lerror { ecode }) => Err(Error::Errno(Errno(ecode as i32))),
                    Ok(m) => Ok(m),
                    Err(why) => Err(Error::Disconnected(why)),
                };
            }
            r = self.slot.cv.wait(r).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Cancels the request with `Tflush`. Returns the reply if it arrived
    /// before the flush took effect, else `Err(Error::Flushed)`.
    pub fn cancel(self) -> Result<Rmessage> {
        let flush = Client::start_on(&self.inner, &Tmessage::Flush { oldtag: self.tag }, Action::Deliver)?;
        let fr = flush.wait();
        // The server answers the old request (if at all) before Rflush, and
        // the reader handles replies in order.
        let done = lock(&self.slot.reply).is_some();
        if done {
            return self.wait();
        }
        {
            let mut p = lock(&self.inner.shared.pending);
            if p.slots.get(&self.tag).is_some_and(|s| Arc::ptr_eq(s, &self.slot)) {
                p.slots.remove(&self.tag);
            }
        }
        self.inner.shared.tag_cv.notify_all();
        match fr {
            Ok(_) => Err(Error::Flushed),
            Err(e) => Err(e),
        }
    }
}

/// A fid on the server. Dropping it clunks it (asynchronously).
pub struct Fid {
    inner: Arc<Inner>,
    id: u32,
    /// 9P open flags after a successful open/create (`u32::MAX` if not open).
    open_flags: AtomicU32,
    armed: bool,
}

impl std::fmt::Debug for Fid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Fid({})", self.id)
    }
}

impl Fid {
    fn new(inner: Arc<Inner>, id: u32) -> Fid {
        Fid { inner, id, open_flags: AtomicU32::new(u32::MAX), armed: true }
    }

    /// The fid number on the wire.
    pub fn id(&self) -> u32 {
        self.id
    }

    fn disarm(mut self) -> u32 {
        self.armed = false;
        self.id
    }
}

impl Drop for Fid {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let id = self.id;
        if Client::start_on(&self.inner, &Tmessage::Clunk { fid: id }, Action::ReleaseFid(id)).is_err() {
            // Connection gone: the number does not matter any more.
        }
    }
}

/// A fid number reserved locally but not (yet) known to the server.
struct Reserved<'a> {
    shared: &'a Shared,
    id: u32,
    armed: bool,
}

impl Drop for Reserved<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.shared.release_fid(self.id);
        }
    }
}

/// A 9P2000.L client connection.
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Client(msize={})", self.inner.msize)
    }
}

fn unexpected(m: &Rmessage) -> Error {
    Error::Protocol(format!("unexpected reply type {}", m.msg_type()))
}

macro_rules! expect {
    ($e:expr, $pat:pat => $val:expr) => {
        match $e {
            $pat => Ok($val),
            other => Err(unexpected(&other)),
        }
    };
}

fn names_vec<N: AsRef<[u8]>>(names: &[N]) -> Vec<Vec<u8>> {
    names.iter().map(|n| n.as_ref().to_vec()).collect()
}

impl Client {
    /// Connects over `stream`: negotiates 9P2000.L with at most `msize`
    /// bytes per message and starts the reply reader thread.
    pub fn connect(mut stream: UnixStream, msize: u32) -> Result<Client> {
        if msize < MIN_MSIZE {
            return Err(Error::Errno(Errno::EINVAL));
        }
        let mut buf = Vec::new();
        Tmessage::Version { msize, version: VERSION_9P2000_L.into() }.encode(NOTAG, &mut buf)?;
        stream.write_all(&buf)?;
        let mut hdr = [0u8; HEADER_SIZE];
        stream.read_exact(&mut hdr)?;
        let h = wire::parse_header(&hdr, msize.max(MIN_MSIZE))?;
        let mut body = vec![0u8; h.size as usize - HEADER_SIZE];
        stream.read_exact(&mut body)?;
        let (negotiated, version) = match Rmessage::decode(h.ty, &body)? {
            Rmessage::Version { msize, version } => (msize, version),
            Rmessage::Lerror { ecode } => return Err(Error::Errno(Errno(ecode as i32))),
            other => return Err(unexpected(&other)),
        };
        if h.tag != NOTAG || version != VERSION_9P2000_L || negotiated > msize || negotiated < MIN_MSIZE {
            return Err(Error::Protocol(format!("bad Rversion {version:?} msize {negotiated}")));
        }
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending { slots: HashMap::new(), next_tag: 0, dead: None }),
            tag_cv: Condvar::new(),
            fids: Mutex::new(FidAlloc { next: 0, free: Vec::new() }),
        });
        let reader_stream = stream.try_clone()?;
        let rshared = shared.clone();
        let handle = std::thread::Builder::new()
            .name("9p-client-reader".into())
            .spawn(move || reader(reader_stream, negotiated, &rshared))?;
        Ok(Client {
            inner: Arc::new(Inner {
                sock: stream,
                send_lock: Mutex::new(()),
                msize: negotiated,
                shared,
                reader: Mutex::new(Some(handle)),
            }),
        })
    }

    /// The negotiated maximum message size.
    pub fn msize(&self) -> u32 {
        self.inner.msize
    }

    /// Largest data payload of one Tread/Twrite.
    pub fn iounit(&self) -> u32 {
        self.inner.msize - IOHDRSZ
    }

    fn start_on(inner: &Arc<Inner>, msg: &Tmessage, action: Action) -> Result<PendingRequest> {
        let mut buf = Vec::new();
        // Encode with a placeholder tag; patched below.
        msg.encode(0, &mut buf)?;
        Client::start_frame(inner, buf, action)
    }

    /// Sends an encoded frame (its tag is assigned here).
    fn start_frame(inner: &Arc<Inner>, mut buf: Vec<u8>, action: Action) -> Result<PendingRequest> {
        if buf.len() > inner.msize as usize {
            return Err(Error::Errno(Errno::EMSGSIZE));
        }
        let slot = Arc::new(Slot { reply: Mutex::new(None), cv: Condvar::new(), action });
        let sh = &inner.shared;
        let tag = {
            let mut p = lock(&sh.pending);
            loop {
                if let Some(why) = &p.dead {
                    return Err(Error::Disconnected(why.clone()));
                }
                if p.slots.len() < usize::from(NOTAG) {
                    break;
                }
                p = sh.tag_cv.wait(p).unwrap_or_else(|e| e.into_inner());
            }
            let mut t = p.next_tag;
            while t == NOTAG || p.slots.contains_key(&t) {
                t = t.wrapping_add(1);
            }
            p.next_tag = t.wrapping_add(1);
            p.slots.insert(t, slot.clone());
            t
        };
        buf[5..7].copy_from_slice(&tag.to_le_bytes());
        let sent = {
            let _g = lock(&inner.send_lock);
            sys::send_all(inner.sock.as_fd(), &buf)
        };
        if let Err(e) = sent {
            sh.kill(format!("send failed: {e}"));
            return Err(Error::Disconnected(format!("send failed: {e}")));
        }
        Ok(PendingRequest { inner: inner.clone(), tag, slot })
    }

    /// Sends `msg` and returns a handle to wait for (or cancel) its reply.
    pub fn start(&self, msg: &Tmessage) -> Result<PendingRequest> {
        Client::start_on(&self.inner, msg, Action::Deliver)
    }

    /// Sends `msg` and waits for the reply (`Rlerror` is an `Err`).
    pub fn rpc(&self, msg: &Tmessage) -> Result<Rmessage> {
        self.start(msg)?.wait()
    }

    fn check(&self, fid: &Fid) -> Result<u32> {
        if Arc::ptr_eq(&fid.inner, &self.inner) {
            Ok(fid.id)
        } else {
            Err(Error::Errno(Errno::EBADF))
        }
    }

    fn reserve(&self) -> Result<Reserved<'_>> {
        Ok(Reserved { shared: &self.inner.shared, id: self.inner.shared.alloc_fid()?, armed: true })
    }

    /// `Tattach`: a fid for the root of the tree `aname` ("" for the
    /// server's root) as user `uid` (`n_uname`).
    pub fn attach(&self, uname: &str, aname: &str, uid: u32) -> Result<(Fid, Qid)> {
        let mut r = self.reserve()?;
        let msg = Tmessage::Attach { fid: r.id, afid: NOFID, uname: uname.into(), aname: aname.into(), n_uname: uid };
        let qid = expect!(self.rpc(&msg)?, Rmessage::Attach { qid } => qid)?;
        r.armed = false;
        Ok((Fid::new(self.inner.clone(), r.id), qid))
    }

    /// `Twalk` from `fid` through `names` to a new fid, returning the qid of
    /// each name. Walks of more than 16 names are split. If any name cannot
    /// be walked the result is the error of the first one (`ENOENT` when
    /// the server only reports a partial walk). Zero names clone `fid`.
    pub fn walk<N: AsRef<[u8]>>(&self, fid: &Fid, names: &[N]) -> Result<(Fid, Vec<Qid>)> {
        let from = self.check(fid)?;
        let mut r = self.reserve()?;
        let mut chunks = names.chunks(MAXWELEM);
        let first = chunks.next().unwrap_or(&[]);
        let qids = self.walk_chunk(from, r.id, first)?;
        r.armed = false;
        let newfid = Fid::new(self.inner.clone(), r.id);
        let mut all = qids;
        for c in chunks {
            all.extend(self.walk_chunk(newfid.id, newfid.id, c)?);
        }
        Ok((newfid, all))
    }

    fn walk_chunk<N: AsRef<[u8]>>(&self, fid: u32, newfid: u32, names: &[N]) -> Result<Vec<Qid>> {
        let msg = Tmessage::Walk { fid, newfid, names: names_vec(names) };
        let qids = expect!(self.rpc(&msg)?, Rmessage::Walk { qids } => qids)?;
        if qids.len() != names.len() {
            return Err(Error::Errno(Errno::ENOENT));
        }
        Ok(qids)
    }

    /// `Tlopen`: opens `fid` with 9P2000.L flags ([`crate::oflags`]).
    /// Returns the qid and the server's iounit.
    pub fn open(&self, fid: &Fid, flags: u32) -> Result<(Qid, u32)> {
        let id = self.check(fid)?;
        let r =
            expect!(self.rpc(&Tmessage::Lopen { fid: id, flags })?, Rmessage::Lopen { qid, iounit } => (qid, iounit))?;
        fid.open_flags.store(flags, Ordering::SeqCst);
        Ok(r)
    }

    /// `Tlcreate`: creates and opens `name` in directory `dir`; afterwards
    /// `dir` stands for the new open file.
    pub fn create(&self, dir: &Fid, name: impl AsRef<[u8]>, flags: u32, mode: u32, gid: u32) -> Result<(Qid, u32)> {
        let id = self.check(dir)?;
        let msg = Tmessage::Lcreate { fid: id, name: name.as_ref().to_vec(), flags, mode, gid };
        let r = expect!(self.rpc(&msg)?, Rmessage::Lcreate { qid, iounit } => (qid, iounit))?;
        dir.open_flags.store(flags, Ordering::SeqCst);
        Ok(r)
    }

    fn depth(&self, fid: &Fid) -> usize {
        let f = fid.open_flags.load(Ordering::SeqCst);
        if f != u32::MAX && f & oflags::APPEND != 0 {
            1
        } else {
            PIPELINE_DEPTH
        }
    }

    /// Reads up to `buf.len()` bytes at `offset`, split into iounit-sized
    /// `Tread`s (several in flight). Stops at the first short read (end of
    /// file); returns the number of bytes read.
    pub fn read(&self, fid: &Fid, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let id = self.check(fid)?;
        let chunk = self.iounit() as usize;
        let mut queue: VecDeque<(usize, usize, PendingRequest)> = VecDeque::new();
        let mut issued = 0usize;
        loop {
            while queue.len() < PIPELINE_DEPTH && issued < buf.len() {
                let len = chunk.min(buf.len() - issued);
                let msg = Tmessage::Read {
                    fid: id,
                    offset: offset.checked_add(issued as u64).ok_or(Error::Errno(Errno::EOVERFLOW))?,
                    count: len as u32,
                };
                queue.push_back((issued, len, self.start(&msg)?));
                issued += len;
            }
            let Some((start, len, req)) = queue.pop_front() else {
                return Ok(buf.len());
            };
            let data = expect!(req.wait()?, Rmessage::Read { data } => data)?;
            if data.len() > len {
                return Err(Error::Protocol("Rread longer than requested".into()));
            }
            buf[start..start + data.len()].copy_from_slice(&data);
            if data.len() < len {
                return Ok(start + data.len());
            }
        }
    }

    /// Writes `data` at `offset`, split into iounit-sized `Twrite`s (several
    /// in flight unless the file was opened for append). Stops at the first
    /// short write; returns the number of bytes written.
    pub fn write(&self, fid: &Fid, offset: u64, data: &[u8]) -> Result<usize> {
        let id = self.check(fid)?;
        if data.is_empty() {
            let msg = Tmessage::Write { fid: id, offset, data: Vec::new() };
            return expect!(self.rpc(&msg)?, Rmessage::Write { count } => count as usize);
        }
        let chunk = self.iounit() as usize;
        let depth = self.depth(fid);
        let mut queue: VecDeque<(usize, usize, PendingRequest)> = VecDeque::new();
        let mut issued = 0usize;
        loop {
            while queue.len() < depth && issued < data.len() {
                let len = chunk.min(data.len() - issued);
                let mut frame = Vec::new();
                encode_twrite(
                    0,
                    id,
                    offset.checked_add(issued as u64).ok_or(Error::Errno(Errno::EOVERFLOW))?,
                    &data[issued..issued + len],
                    &mut frame,
                )?;
                queue.push_back((issued, len, Client::start_frame(&self.inner, frame, Action::Deliver)?));
                issued += len;
            }
            let Some((start, len, req)) = queue.pop_front() else {
                return Ok(data.len());
            };
            let count = expect!(req.wait()?, Rmessage::Write { count } => count as usize)?;
            if count > len {
                return Err(Error::Protocol("Rwrite count larger than sent".into()));
            }
            if count < len {
                return Ok(start + count);
            }
        }
    }

    /// `Tgetattr` with request mask `mask` ([`crate::messages::getattr`]).
    pub fn getattr(&self, fid: &Fid, mask: u64) -> Result<Stat> {
        let id = self.check(fid)?;
        expect!(self.rpc(&Tmessage::Getattr { fid: id, request_mask: mask })?, Rmessage::Getattr(s) => *s)
    }

    /// `Tsetattr`.
    pub fn setattr(&self, fid: &Fid, attr: &SetAttr) -> Result<()> {
        let id = self.check(fid)?;
        expect!(self.rpc(&Tmessage::Setattr { fid: id, attr: *attr })?, Rmessage::Setattr => ())
    }

    /// One `Treaddir` of at most `count` bytes of entries from `offset`
    /// (0 = start; else the `offset` of the last entry seen). An empty
    /// result means end of directory.
    pub fn readdir(&self, fid: &Fid, offset: u64, count: u32) -> Result<Vec<DirEntry>> {
        let id = self.check(fid)?;
        let count = count.min(self.inner.msize - READDIRHDRSZ);
        expect!(self.rpc(&Tmessage::Readdir { fid: id, offset, count })?, Rmessage::Readdir { entries } => entries)
    }

    /// Iterates over all entries of the open directory `fid`.
    pub fn read_dir<'a>(&'a self, fid: &'a Fid) -> ReadDir<'a> {
        ReadDir { client: self, fid, offset: 0, buf: VecDeque::new(), done: false }
    }

    /// `Tmkdir`: creates directory `name` in `dir`.
    pub fn mkdir(&self, dir: &Fid, name: impl AsRef<[u8]>, mode: u32, gid: u32) -> Result<Qid> {
        let id = self.check(dir)?;
        let msg = Tmessage::Mkdir { dfid: id, name: name.as_ref().to_vec(), mode, gid };
        expect!(self.rpc(&msg)?, Rmessage::Mkdir { qid } => qid)
    }

    /// `Tmknod`: creates a node (`mode` includes the `S_IF*` type).
    pub fn mknod(&self, dir: &Fid, name: impl AsRef<[u8]>, mode: u32, major: u32, minor: u32, gid: u32) -> Result<Qid> {
        let id = self.check(dir)?;
        let msg = Tmessage::Mknod { dfid: id, name: name.as_ref().to_vec(), mode, major, minor, gid };
        expect!(self.rpc(&msg)?, Rmessage::Mknod { qid } => qid)
    }

    /// `Tsymlink`: creates symlink `name` in `dir` pointing at `target`.
    pub fn symlink(&self, dir: &Fid, name: impl AsRef<[u8]>, target: impl AsRef<[u8]>, gid: u32) -> Result<Qid> {
        let id = self.check(dir)?;
        let msg = Tmessage::Symlink { fid: id, name: name.as_ref().to_vec(), target: target.as_ref().to_vec(), gid };
        expect!(self.rpc(&msg)?, Rmessage::Symlink { qid } => qid)
    }

    /// `Treadlink`: the target of symlink `fid`.
    pub fn readlink(&self, fid: &Fid) -> Result<Vec<u8>> {
        let id = self.check(fid)?;
        expect!(self.rpc(&Tmessage::Readlink { fid: id })?, Rmessage::Readlink { target } => target)
    }

    /// `Tlink`: hard-links file `fid` as `name` in `dir`.
    pub fn link(&self, dir: &Fid, fid: &Fid, name: impl AsRef<[u8]>) -> Result<()> {
        let d = self.check(dir)?;
        let f = self.check(fid)?;
        expect!(self.rpc(&Tmessage::Link { dfid: d, fid: f, name: name.as_ref().to_vec() })?, Rmessage::Link => ())
    }

    /// `Tunlinkat` (`flags`: 0 or [`crate::AT_REMOVEDIR`]).
    pub fn unlinkat(&self, dir: &Fid, name: impl AsRef<[u8]>, flags: u32) -> Result<()> {
        let d = self.check(dir)?;
        let msg = Tmessage::Unlinkat { dirfid: d, name: name.as_ref().to_vec(), flags };
        expect!(self.rpc(&msg)?, Rmessage::Unlinkat => ())
    }

    /// `Trenameat`.
    pub fn renameat(
        &self,
        olddir: &Fid,
        oldname: impl AsRef<[u8]>,
        newdir: &Fid,
        newname: impl AsRef<[u8]>,
    ) -> Result<()> {
        let o = self.check(olddir)?;
        let n = self.check(newdir)?;
        let msg = Tmessage::Renameat {
            olddirfid: o,
            oldname: oldname.as_ref().to_vec(),
            newdirfid: n,
            newname: newname.as_ref().to_vec(),
        };
        expect!(self.rpc(&msg)?, Rmessage::Renameat => ())
    }

    /// `Trename`: moves the file of `fid` to `name` in `dir`.
    pub fn rename(&self, fid: &Fid, dir: &Fid, name: impl AsRef<[u8]>) -> Result<()> {
        let f = self.check(fid)?;
        let d = self.check(dir)?;
        expect!(self.rpc(&Tmessage::Rename { fid: f, dfid: d, name: name.as_ref().to_vec() })?, Rmessage::Rename => ())
    }

    /// `Tremove`: removes the file of `fid`; the fid is released whatever
    /// the outcome.
    pub fn remove(&self, fid: Fid) -> Result<()> {
        let id = self.check(&fid)?;
        let res = self.rpc(&Tmessage::Remove { fid: id });
        match &res {
            // The server dropped the fid: the number is free again.
            Ok(_) | Err(Error::Errno(_)) => {
                let id = fid.disarm();
                self.inner.shared.release_fid(id);
            }
            _ => drop(fid),
        }
        expect!(res?, Rmessage::Remove => ())
    }

    /// `Tstatfs`.
    pub fn statfs(&self, fid: &Fid) -> Result<StatFs> {
        let id = self.check(fid)?;
        expect!(self.rpc(&Tmessage::Statfs { fid: id })?, Rmessage::Statfs(s) => s)
    }

    /// `Tfsync` of an open fid.
    pub fn fsync(&self, fid: &Fid, datasync: bool) -> Result<()> {
        let id = self.check(fid)?;
        expect!(self.rpc(&Tmessage::Fsync { fid: id, datasync: u32::from(datasync) })?, Rmessage::Fsync => ())
    }

    /// `Tlock` (never blocks on the server: returns `lock::BLOCKED` status
    /// on conflict).
    pub fn lock(&self, fid: &Fid, flags: u32, lock: &Flock) -> Result<u8> {
        let id = self.check(fid)?;
        expect!(self.rpc(&Tmessage::Lock { fid: id, flags, lock: lock.clone() })?, Rmessage::Lock { status } => status)
    }

    /// `Tgetlock`.
    pub fn getlock(&self, fid: &Fid, lock: &Flock) -> Result<Flock> {
        let id = self.check(fid)?;
        expect!(self.rpc(&Tmessage::Getlock { fid: id, lock: lock.clone() })?, Rmessage::Getlock { lock } => lock)
    }

    /// `Tclunk`, waiting for the reply.
    pub fn clunk(&self, fid: Fid) -> Result<()> {
        let id = self.check(&fid)?;
        let res = self.rpc(&Tmessage::Clunk { fid: id });
        match &res {
            Ok(_) | Err(Error::Errno(_)) => {
                let id = fid.disarm();
                self.inner.shared.release_fid(id);
            }
            _ => drop(fid),
        }
        expect!(res?, Rmessage::Clunk => ())
    }

    /// `Tflush` of the request with tag `oldtag` (prefer
    /// [`PendingRequest::cancel`], which also releases the old tag).
    pub fn flush(&self, oldtag: u16) -> Result<()> {
        expect!(self.rpc(&Tmessage::Flush { oldtag })?, Rmessage::Flush => ())
    }

    /// Shuts the connection down: every waiter and every later request
    /// fails with [`Error::Disconnected`], and the server releases all fids.
    pub fn shutdown(&self) {
        let _ = self.inner.sock.shutdown(std::net::Shutdown::Both);
        self.inner.shared.kill("client shut down".into());
    }

    /// Number of requests awaiting replies (for tests and diagnostics).
    pub fn in_flight(&self) -> usize {
        lock(&self.inner.shared.pending).slots.len()
    }
}

/// The default `n_uname` when the caller has no uid to pass.
pub const NO_UID: u32 = NONUNAME;

/// Iterator over directory entries, fetching `Treaddir` batches on demand.
pub struct ReadDir<'a> {
    client: &'a Client,
    fid: &'a Fid,
    offset: u64,
    buf: VecDeque<DirEntry>,
    done: bool,
}

impl Iterator for ReadDir<'_> {
    type Item = Result<DirEntry>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.is_empty() && !self.done {
            match self.client.readdir(self.fid, self.offset, u32::MAX) {
                Ok(v) if v.is_empty() => self.done = true,
                Ok(v) => self.buf.extend(v),
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        let e = self.buf.pop_front()?;
        self.offset = e.offset;
        Some(Ok(e))
    }
}

/// The reader thread: dispatches replies by tag until the connection ends.
fn reader(mut s: UnixStream, msize: u32, sh: &Shared) {
    let why = loop {
        let mut hdr = [0u8; HEADER_SIZE];
        if let Err(e) = s.read_exact(&mut hdr) {
            break format!("read: {e}");
        }
        let h = match wire::parse_header(&hdr, msize) {
            Ok(h) => h,
            Err(e) => break format!("bad frame: {e}"),
        };
        let msg = if h.ty == crate::messages::ty::RREAD && h.size as usize >= HEADER_SIZE + 4 {
            // Rread: read the data straight into its own buffer.
            let mut cnt = [0u8; 4];
            if let Err(e) = s.read_exact(&mut cnt) {
                break format!("read: {e}");
            }
            let n = h.size as usize - HEADER_SIZE - 4;
            let mut data = vec![0u8; n];
            if let Err(e) = s.read_exact(&mut data) {
                break format!("read: {e}");
            }
            if u32::from_le_bytes(cnt) as usize == n {
                Ok(Rmessage::Read { data })
            } else {
                Err("bad reply: Rread count does not match frame size".to_string())
            }
        } else {
            let mut body = vec![0u8; h.size as usize - HEADER_SIZE];
            if let Err(e) = s.read_exact(&mut body) {
                break format!("read: {e}");
            }
            Rmessage::decode(h.ty, &body).map_err(|e| format!("bad reply: {e}"))
        };
        let slot = lock(&sh.pending).slots.remove(&h.tag);
        sh.tag_cv.notify_all();
        let Some(slot) = slot else {
            tracing::warn!(tag = h.tag, "9p client: reply for unknown tag");
            continue;
        };
        match slot.action {
            Action::Deliver => {
                *lock(&slot.reply) = Some(msg);
                slot.cv.notify_all();
            }
            Action::ReleaseFid(id) => {
                // Only reuse the number if the server really dropped it.
                if matches!(msg, Ok(Rmessage::Clunk) | Ok(Rmessage::Lerror { .. })) {
                    sh.release_fid(id);
                }
            }
        }
    };
    sh.kill(why);
}

#[cfg(test)]
mod tests {
    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn handles_are_send_and_sync() {
        assert_send_sync::<super::Client>();
        assert_send_sync::<super::Fid>();
        assert_send_sync::<super::PendingRequest>();
        assert_send_sync::<crate::Server>();
    }
}
