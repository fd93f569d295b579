//! Pipes and FIFOs.
//!
//! A [`Pipe`] is the buffer both kinds share: `pipe(2)` creates one with an
//! anonymous [`PipeInode`]; a FIFO inode in tmpfs owns one and every `open`
//! of the FIFO attaches a new end to it.
//!
//! # Buffer model
//!
//! The buffer is a ring of page-sized slots, as in Linux, so that capacity,
//! atomicity and readiness match it byte for byte:
//!
//! - a pipe holds at most `max_slots` slots (16 by default: 65536 bytes;
//!   `F_SETPIPE_SZ` changes the count);
//! - a write first merges its last `len % PAGE` bytes into the last slot
//!   if they fit there, then fills fresh slots a page at a time. A write of
//!   at most `PIPE_BUF` bytes therefore either fits entirely (merged, or in
//!   one new slot) or waits: it is atomic. Larger writes may be split, and a
//!   non-blocking one returns what fitted;
//! - reading consumes from the first slot; a slot is freed when empty;
//! - the write end is ready (`POLLOUT`) while a slot is free, the read end
//!   (`POLLIN`) while any byte is buffered.
//!
//! Writes of a pipe created with `O_DIRECT` (packet mode) make one packet
//! per slot: a read returns at most one packet and discards what of it did
//! not fit. (The mode is fixed at `pipe2` time; `F_SETFL` does not change
//! it.)
//!
//! # Ends
//!
//! Each open end is a [`PipeFile`] that counts itself as a reader and/or a
//! writer for as long as its file description lives. Readers see end of
//! file when no writer is left; writers get `EPIPE` when no reader is left
//! (the system call layer raises `SIGPIPE`). Like Linux, `POLLHUP` on a
//! FIFO's read end is suppressed until a writer has opened it since the
//! reader did (`w_counter` / `f_version`).
//!
//! # Locking
//!
//! The pipe's state mutex is a leaf at the "VFS inode" level of the kernel
//! lock order. Its wait queue is notified only after the state lock is
//! released, since waiters (epoll) take their own locks.

use std::any::Any;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use crate::errno::{Errno, SysResult};
use crate::kernel::waiter::{events, WaitQueue};
use crate::mm::lock;
use crate::vfs::{flags, Creds, File, FileOps, FileType, Inode, IoCtx, Stat, Timespec};

/// Bytes a write may have for it to be atomic (`PIPE_BUF`).
pub const PIPE_BUF: usize = 4096;
/// Size of one buffer slot.
const PAGE: usize = 4096;
/// Default capacity in bytes.
pub const DEFAULT_PIPE_SIZE: usize = 65536;
/// Largest capacity an unprivileged `F_SETPIPE_SZ` may ask for
/// (`/proc/sys/fs/pipe-max-size`).
pub const PIPE_MAX_SIZE: usize = 1 << 20;
/// `FIONREAD`.
const FIONREAD: u64 = 0x541b;

/// One page of buffered data.
struct Slot {
    /// The page's bytes from its start; those before `start` are consumed.
    data: Vec<u8>,
    start: usize,
    /// A packet (`O_DIRECT`): read whole or truncated, never merged into.
    packet: bool,
}

impl Slot {
    fn len(&self) -> usize {
        self.data.len() - self.start
    }
}

struct State {
    slots: VecDeque<Slot>,
    max_slots: usize,
    readers: usize,
    writers: usize,
    /// Opens for reading / writing so far (FIFO rendezvous, POLLHUP).
    r_counter: u64,
    w_counter: u64,
}

impl State {
    fn buffered(&self) -> usize {
        self.slots.iter().map(Slot::len).sum()
    }
}

/// A pipe's buffer and ends.
pub struct Pipe {
    state: Mutex<State>,
    queue: WaitQueue,
    /// A FIFO (named pipe): opens rendezvous with the other end.
    is_fifo: bool,
}

/// Which counter a blocking FIFO open waits to see change.
#[derive(Clone, Copy, Debug)]
enum Partner {
    Writer(u64),
    Reader(u64),
}

impl Pipe {
    /// A pipe for `pipe(2)`.
    pub fn new() -> Arc<Pipe> {
        Pipe::with_kind(false)
    }

    /// The pipe of a FIFO inode.
    pub fn new_fifo() -> Arc<Pipe> {
        Pipe::with_kind(true)
    }

    fn with_kind(is_fifo: bool) -> Arc<Pipe> {
        Arc::new(Pipe {
            state: Mutex::new(State {
                slots: VecDeque::new(),
                max_slots: DEFAULT_PIPE_SIZE / PAGE,
                readers: 0,
                writers: 0,
                r_counter: 0,
                w_counter: 0,
            }),
            queue: WaitQueue::new(),
            is_fifo,
        })
    }

    /// Attaches an end opened with `oflags` (the access mode decides
    /// reader, writer or both). Never blocks: a FIFO end that must wait for
    /// its partner does so in [`PipeFile::wait_for_peer`]. A non-blocking
    /// write-only open of a FIFO without readers fails with `ENXIO`.
    pub fn open(self: &Arc<Self>, oflags: u32) -> Result<PipeFile, Errno> {
        let (reader, writer) = match oflags & flags::O_ACCMODE {
            flags::O_RDONLY => (true, false),
            flags::O_WRONLY => (false, true),
            flags::O_RDWR => (true, true),
            _ => return Err(Errno::EINVAL),
        };
        let nonblock = oflags & flags::O_NONBLOCK != 0;
        let mut s = lock(&self.state);
        if self.is_fifo && writer && !reader && nonblock && s.readers == 0 {
            return Err(Errno::ENXIO);
        }
        if reader {
            s.readers += 1;
            s.r_counter += 1;
        }
        if writer {
            s.writers += 1;
            s.w_counter += 1;
        }
        let mut hup_version = 0;
        let mut wait_for = None;
        if self.is_fifo && reader && !writer && s.writers == 0 {
            if nonblock {
                // No POLLHUP until a writer has come (and gone).
                hup_version = s.w_counter;
            } else {
                wait_for = Some(Partner::Writer(s.w_counter));
            }
        }
        if self.is_fifo && writer && !reader && s.readers == 0 {
            wait_for = Some(Partner::Reader(s.r_counter));
        }
        drop(s);
        // Wake ends waiting for a partner, and pollers whose HUP/ERR ended.
        self.queue.notify(events::READABLE | events::WRITABLE);
        Ok(PipeFile { pipe: self.clone(), reader, writer, hup_version, wait_for, packet: false })
    }

    /// Reads what is buffered into `buf`; `EAGAIN` if empty with writers
    /// left, 0 at end of file.
    fn try_read(&self, buf: &mut [u8]) -> Result<usize, Errno> {
        let mut s = lock(&self.state);
        if s.slots.is_empty() {
            return if s.writers == 0 { Ok(0) } else { Err(Errno::EAGAIN) };
        }
        let mut n = 0;
        let mut freed = false;
        while n < buf.len() {
            let Some(slot) = s.slots.front_mut() else { break };
            let k = slot.len().min(buf.len() - n);
            buf[n..n + k].copy_from_slice(&slot.data[slot.start..slot.start + k]);
            slot.start += k;
            n += k;
            let packet = slot.packet;
            if packet {
                // The rest of a packet that did not fit is discarded.
                slot.start = slot.data.len();
            }
            if slot.len() == 0 {
                s.slots.pop_front();
                freed = true;
            }
            if packet {
                break;
            }
        }
        drop(s);
        if freed {
            self.queue.notify(events::WRITABLE);
        }
        Ok(n)
    }

    /// One step of a write of `total` bytes whose unwritten rest is
    /// `data`: returns the bytes taken now, or `EPIPE` without readers.
    /// `first`: the write's first step (the only one that may merge into
    /// the last slot, as Linux).
    fn write_step(&self, data: &[u8], total: usize, first: bool, packet: bool) -> Result<usize, Errno> {
        let mut s = lock(&self.state);
        if s.readers == 0 {
            return Err(Errno::EPIPE);
        }
        let mut n = 0;
        if first {
            let chars = total % PAGE;
            if chars != 0 {
                if let Some(last) = s.slots.back_mut() {
                    if !last.packet && last.data.len() + chars <= PAGE {
                        last.data.extend_from_slice(&data[..chars]);
                        n = chars;
                    }
                }
            }
        }
        while n < data.len() && s.slots.len() < s.max_slots {
            let k = PAGE.min(data.len() - n);
            let mut page = Vec::with_capacity(PAGE);
            page.extend_from_slice(&data[n..n + k]);
            s.slots.push_back(Slot { data: page, start: 0, packet });
            n += k;
        }
        drop(s);
        if n > 0 {
            self.queue.notify(events::READABLE);
        }
        Ok(n)
    }

    /// The pipe's capacity in bytes (`F_GETPIPE_SZ`).
    pub fn capacity(&self) -> usize {
        lock(&self.state).max_slots * PAGE
    }

    /// `F_SETPIPE_SZ`: rounds `size` up to a power-of-two number of pages
    /// (at least one); `EPERM` above [`PIPE_MAX_SIZE`] unless
    /// `privileged`, `EBUSY` if the data does not fit. Returns the new
    /// capacity.
    pub fn set_capacity(&self, size: u32, privileged: bool) -> Result<usize, Errno> {
        if size > 1 << 31 {
            return Err(Errno::EINVAL);
        }
        let pages = (size as usize).div_ceil(PAGE).max(1).next_power_of_two();
        let bytes = pages * PAGE;
        if bytes > PIPE_MAX_SIZE && !privileged {
            return Err(Errno::EPERM);
        }
        let mut s = lock(&self.state);
        if s.slots.len() > pages {
            return Err(Errno::EBUSY);
        }
        let grew = pages > s.max_slots;
        s.max_slots = pages;
        drop(s);
        if grew {
            self.queue.notify(events::WRITABLE);
        }
        Ok(bytes)
    }

    /// The events of an end that reads and/or writes.
    fn readiness(&self, reader: bool, writer: bool, hup_version: u64) -> u32 {
        let s = lock(&self.state);
        let mut r = 0;
        if reader {
            if !s.slots.is_empty() {
                r |= events::READABLE;
            }
            if s.writers == 0 && s.w_counter != hup_version {
                r |= events::POLLHUP;
            }
        }
        if writer {
            if s.slots.len() < s.max_slots {
                r |= events::WRITABLE;
            }
            if s.readers == 0 {
                r |= events::POLLERR;
            }
        }
        r
    }
}

/// An open end of a pipe or FIFO.
pub struct PipeFile {
    pipe: Arc<Pipe>,
    reader: bool,
    writer: bool,
    /// `w_counter` at a non-blocking read-only FIFO open without writers:
    /// POLLHUP is reported only once a writer came after it.
    hup_version: u64,
    /// A blocking FIFO open still to rendezvous with its partner.
    wait_for: Option<Partner>,
    /// Packet mode (`pipe2(O_DIRECT)`).
    packet: bool,
}

impl PipeFile {
    /// The pipe.
    pub fn pipe(&self) -> &Arc<Pipe> {
        &self.pipe
    }

    /// Completes a blocking FIFO open: a reader waits until a writer has
    /// opened the FIFO (and a writer for a reader) since it did. Returns at
    /// once for pipes, non-blocking opens and read-write opens.
    pub fn wait_for_peer(&self, ctx: &IoCtx) -> Result<(), Errno> {
        let Some(partner) = self.wait_for else { return Ok(()) };
        let ctx = IoCtx { nonblock: false, ..*ctx };
        ctx.block(&[&self.pipe.queue], events::ALL, || {
            let s = lock(&self.pipe.state);
            let arrived = match partner {
                Partner::Writer(c) => s.w_counter != c,
                Partner::Reader(c) => s.r_counter != c,
            };
            if arrived {
                Ok(())
            } else {
                Err(Errno::EAGAIN)
            }
        })
    }
}

impl Drop for PipeFile {
    fn drop(&mut self) {
        let mut s = lock(&self.pipe.state);
        if self.reader {
            s.readers -= 1;
        }
        if self.writer {
            s.writers -= 1;
        }
        drop(s);
        self.pipe.queue.notify(events::READABLE | events::WRITABLE | events::POLLHUP | events::POLLERR);
    }
}

impl FileOps for PipeFile {
    fn read(&self, ctx: &IoCtx, _offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        if !self.reader {
            return Err(Errno::EBADF);
        }
        if buf.is_empty() {
            return Ok(0);
        }
        ctx.block(&[&self.pipe.queue], events::READABLE | events::POLLHUP, || self.pipe.try_read(buf))
    }

    fn write(&self, ctx: &IoCtx, _offset: u64, buf: &[u8]) -> Result<usize, Errno> {
        if !self.writer {
            return Err(Errno::EBADF);
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let total = buf.len();
        let mut done = 0;
        let mut first = true;
        let r = ctx.block(&[&self.pipe.queue], events::WRITABLE | events::POLLERR, || {
            let n = self.pipe.write_step(&buf[done..], total, first, self.packet)?;
            first = false;
            done += n;
            if done == total {
                Ok(done)
            } else {
                Err(Errno::EAGAIN)
            }
        });
        match r {
            // A partial write reports what it wrote (a later EPIPE, a
            // full non-blocking pipe or an interruption).
            Err(_) if done > 0 => Ok(done),
            r => r,
        }
    }

    fn ioctl(&self, ctx: &IoCtx, request: u64, arg: u64) -> SysResult {
        match request {
            FIONREAD => {
                let n = if self.reader { lock(&self.pipe.state).buffered() } else { 0 };
                let n = i32::try_from(n).unwrap_or(i32::MAX);
                ctx.mm.ok_or(Errno::EFAULT)?.write_u32(arg, n as u32)?;
                Ok(0)
            }
            _ => Err(Errno::ENOTTY),
        }
    }

    fn readiness(&self, mask: u32) -> u32 {
        self.pipe.readiness(self.reader, self.writer, self.hup_version) & mask
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.pipe.queue)
    }

    fn as_any(&self) -> Option<&dyn Any> {
        Some(self)
    }
}

/// The inode of a `pipe(2)` pipe (pipefs): a FIFO with a unique number.
pub struct PipeInode {
    pipe: Arc<Pipe>,
    ino: u64,
    creds: Creds,
    created: Timespec,
}

impl Inode for PipeInode {
    fn stat(&self) -> Stat {
        Stat {
            dev: super::anon::pipefs_dev(),
            ino: self.ino,
            mode: libc::S_IFIFO | 0o600,
            nlink: 1,
            uid: self.creds.uid,
            gid: self.creds.gid,
            blksize: PAGE as u64,
            atime: self.created,
            mtime: self.created,
            ctime: self.created,
            ..Stat::default()
        }
    }

    fn file_type(&self) -> FileType {
        FileType::Fifo
    }

    /// Reopening (through `/proc/self/fd`) attaches a new end.
    fn open(self: Arc<Self>, flags: u32) -> Result<Box<dyn FileOps>, Errno> {
        Ok(Box::new(self.pipe.open(flags)?))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// `pipe2`: a new pipe's read and write file descriptions. `oflags` may
/// hold `O_NONBLOCK` (both ends) and `O_DIRECT` (packet mode).
pub fn new_pipe(creds: Creds, oflags: u32) -> Result<(File, File), Errno> {
    let pipe = Pipe::new();
    let inode: Arc<dyn Inode> =
        Arc::new(PipeInode { pipe: pipe.clone(), ino: super::anon::next_ino(), creds, created: Timespec::now() });
    let read_end = pipe.open(flags::O_RDONLY)?;
    let mut write_end = pipe.open(flags::O_WRONLY)?;
    write_end.packet = oflags & flags::O_DIRECT != 0;
    let nb = oflags & flags::O_NONBLOCK;
    let r = File::new(None, inode.clone(), Box::new(read_end), flags::O_RDONLY | nb);
    let w = File::new(None, inode, Box::new(write_end), flags::O_WRONLY | nb | (oflags & flags::O_DIRECT));
    Ok((r, w))
}

/// The pipe end behind `file`, if it is one.
pub fn pipe_file(file: &File) -> Option<&PipeFile> {
    file.ops().as_any()?.downcast_ref::<PipeFile>()
}

/// Completes the open of `file` if it is a FIFO end that must wait for its
/// partner (see [`PipeFile::wait_for_peer`]).
pub fn wait_for_peer(file: &File, ctx: &IoCtx) -> Result<(), Errno> {
    match pipe_file(file) {
        Some(p) => p.wait_for_peer(ctx),
        None => Ok(()),
    }
}

/// `fcntl(F_GETPIPE_SZ / F_SETPIPE_SZ)`; `EBADF` for files that are not
/// pipes.
pub fn fcntl(file: &File, cmd: i32, arg: u64, privileged: bool) -> SysResult {
    let p = pipe_file(file).ok_or(Errno::EBADF)?;
    match cmd {
        libc::F_GETPIPE_SZ => Ok(p.pipe.capacity() as u64),
        libc::F_SETPIPE_SZ => Ok(p.pipe.set_capacity(arg as u32, privileged)? as u64),
        _ => Err(Errno::EINVAL),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::waiter::Waker;
    use std::time::Duration;

    fn nonblocking() -> IoCtx<'static> {
        IoCtx::internal()
    }

    fn ends() -> (PipeFile, PipeFile) {
        let p = Pipe::new();
        (p.open(flags::O_RDONLY).unwrap(), p.open(flags::O_WRONLY).unwrap())
    }

    #[test]
    fn capacity_is_sixteen_pages() {
        let (r, w) = ends();
        let ctx = nonblocking();
        let big = vec![7u8; 100_000];
        assert_eq!(w.write(&ctx, 0, &big), Ok(65536));
        assert_eq!(w.write(&ctx, 0, b"x"), Err(Errno::EAGAIN));
        assert_eq!(w.readiness(events::ALL), 0);
        assert_eq!(r.readiness(events::ALL), events::READABLE);
        // Reading less than a page frees no slot.
        let mut buf = vec![0u8; 4095];
        assert_eq!(r.read(&ctx, 0, &mut buf), Ok(4095));
        assert_eq!(w.readiness(events::ALL), 0);
        assert_eq!(r.read(&ctx, 0, &mut buf[..1]), Ok(1));
        assert_eq!(w.readiness(events::ALL), events::WRITABLE);
        assert_eq!(w.write(&ctx, 0, &big[..4096]), Ok(4096));
        assert_eq!(w.write(&ctx, 0, b"x"), Err(Errno::EAGAIN));
    }

    #[test]
    fn small_writes_merge_into_pages_like_linux() {
        let (_r, w) = ends();
        let ctx = nonblocking();
        let chunk = [1u8; 1000];
        let mut total = 0;
        while let Ok(n) = w.write(&ctx, 0, &chunk) {
            assert_eq!(n, 1000, "writes of at most PIPE_BUF are atomic");
            total += n;
        }
        // Four 1000-byte writes per page: 16 pages hold 64000 bytes.
        assert_eq!(total, 64000);
    }

    #[test]
    fn end_of_file_epipe_and_hangup() {
        let (r, w) = ends();
        let ctx = nonblocking();
        assert_eq!(w.write(&ctx, 0, b"abc"), Ok(3));
        drop(w);
        assert_eq!(r.readiness(events::ALL), events::READABLE | events::POLLHUP);
        let mut buf = [0u8; 8];
        assert_eq!(r.read(&ctx, 0, &mut buf), Ok(3));
        assert_eq!(r.read(&ctx, 0, &mut buf), Ok(0));
        let (r, w) = ends();
        drop(r);
        assert_eq!(w.write(&ctx, 0, b"abc"), Err(Errno::EPIPE));
        assert_eq!(w.readiness(events::ALL), events::WRITABLE | events::POLLERR);
    }

    #[test]
    fn packets_are_read_one_at_a_time() {
        let (r, mut w) = ends();
        w.packet = true;
        let ctx = nonblocking();
        assert_eq!(w.write(&ctx, 0, b"abc"), Ok(3));
        assert_eq!(w.write(&ctx, 0, b"defg"), Ok(4));
        let mut buf = [0u8; 16];
        assert_eq!(r.read(&ctx, 0, &mut buf), Ok(3));
        assert_eq!(r.read(&ctx, 0, &mut buf[..2]), Ok(2));
        assert_eq!(&buf[..2], b"de");
        assert_eq!(r.read(&ctx, 0, &mut buf), Err(Errno::EAGAIN));
    }

    #[test]
    fn set_capacity_rounds_and_refuses() {
        let (_r, w) = ends();
        let ctx = nonblocking();
        assert_eq!(w.pipe.set_capacity(100_000, false), Ok(131072));
        assert_eq!(w.pipe.set_capacity(1, false), Ok(4096));
        assert_eq!(w.pipe.set_capacity(2 << 20, false), Err(Errno::EPERM));
        assert_eq!(w.pipe.set_capacity(2 << 20, true), Ok(2 << 20));
        assert_eq!(w.pipe.set_capacity(u32::MAX, true), Err(Errno::EINVAL));
        assert_eq!(w.pipe.set_capacity(8192, false), Ok(8192));
        assert_eq!(w.write(&ctx, 0, &[0u8; 8192]), Ok(8192));
        assert_eq!(w.pipe.set_capacity(4096, false), Err(Errno::EBUSY));
    }

    #[test]
    fn a_blocked_writer_finishes_when_the_reader_drains() {
        let (r, w) = ends();
        let waker = Arc::new(Waker::default());
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            let mut buf = vec![0u8; 200_000];
            let mut got = 0;
            let ctx = IoCtx::internal();
            while got < 100_000 {
                match r.read(&ctx, 0, &mut buf) {
                    Ok(n) => got += n,
                    Err(Errno::EAGAIN) => std::thread::sleep(Duration::from_millis(1)),
                    Err(e) => panic!("{e}"),
                }
            }
            got
        });
        let ctx = IoCtx { nonblock: false, mm: None, interrupted: &|| false, waker: Some(&waker) };
        assert_eq!(w.write(&ctx, 0, &vec![1u8; 100_000]), Ok(100_000));
        assert_eq!(t.join().unwrap(), 100_000);
    }

    #[test]
    fn fifo_opens_rendezvous() {
        let p = Pipe::new_fifo();
        assert_eq!(p.open(flags::O_WRONLY | flags::O_NONBLOCK).err(), Some(Errno::ENXIO));
        let r = p.open(flags::O_RDONLY | flags::O_NONBLOCK).unwrap();
        // No writer ever: end of file, but no hang-up.
        let ctx = nonblocking();
        assert_eq!(r.read(&ctx, 0, &mut [0u8; 4]), Ok(0));
        assert_eq!(r.readiness(events::ALL), 0);
        let w = p.open(flags::O_WRONLY | flags::O_NONBLOCK).unwrap();
        drop(w);
        assert_eq!(r.readiness(events::ALL), events::POLLHUP);

        // A blocking reader waits for a writer.
        let p2 = p.clone();
        let waker = Arc::new(Waker::default());
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            p2.open(flags::O_WRONLY).unwrap()
        });
        let rb = p.open(flags::O_RDONLY).unwrap();
        let ctx = IoCtx { nonblock: false, mm: None, interrupted: &|| false, waker: Some(&waker) };
        assert_eq!(rb.wait_for_peer(&ctx), Ok(()));
        let w = t.join().unwrap();
        assert_eq!(w.wait_for_peer(&ctx), Ok(()), "readers exist: no wait");
        // An interrupted wait gives ERESTARTSYS.
        let lonely = Pipe::new_fifo();
        let rw = lonely.open(flags::O_RDONLY).unwrap();
        let ctx = IoCtx { nonblock: false, mm: None, interrupted: &|| true, waker: Some(&waker) };
        assert_eq!(rw.wait_for_peer(&ctx), Err(Errno::ERESTARTSYS));
    }
}
