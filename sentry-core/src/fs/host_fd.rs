//! The container's stdio: host file descriptors handed to the Sentry.
//!
//! This is the one kind of host descriptor an application reaches.
//!
//! # Readiness and blocking
//!
//! A host descriptor's readiness is asked of the host with a zero-timeout
//! `poll`. To wake waiters when it changes, each pollable [`HostFd`] has a
//! [`WaitQueue`] fed by the *host notifier*: one Sentry thread that
//! host-`poll`s every descriptor someone is waiting for, plus a host
//! eventfd that tells it its set changed. Interest is one-shot: whoever
//! finds a descriptor not ready ([`FileOps::readiness`], or a blocking
//! read or write) arms it for the events it needs; when the host reports
//! any of them the notifier disarms it and notifies the queue, and the
//! waiters re-check (re-arming if they were too late). So a descriptor
//! that stays ready costs nothing, and nobody polls in slices. Reads and
//! writes block through [`IoCtx::block`] like every other file, so a
//! signal or exit wakes them at once.
//!
//! Host regular files and directories are always ready and have no queue
//! (`epoll_ctl` refuses them with `EPERM`, as Linux does).
//!
//! The notifier's interest table is a leaf lock. If the notifier cannot be
//! started (no host eventfd or thread), waits fall back to re-checking
//! every [`FALLBACK_SLICE`].

use std::any::Any;
use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use crate::errno::{Errno, SysResult};
use crate::kernel::waiter::{events, WaitQueue};
use crate::mm::lock;
use crate::vfs::{FileOps, FileType, Inode, IoCtx, Stat, Timespec};

/// How often waits re-check when the host notifier is unavailable.
const FALLBACK_SLICE: Duration = Duration::from_millis(10);

/// `ioctl` requests forwarded to host terminals.
const TCGETS: u64 = 0x5401;
const TCSETS: u64 = 0x5402;
const TCSETSW: u64 = 0x5403;
const TCSETSF: u64 = 0x5404;
const TIOCGWINSZ: u64 = 0x5413;
const TIOCSWINSZ: u64 = 0x5414;
const FIONREAD: u64 = 0x541b;
/// Size of the kernel's `struct termios` (what TCGETS/TCSETS exchange).
const KERNEL_TERMIOS_SIZE: usize = 36;
const WINSIZE_SIZE: usize = 8;

/// A host descriptor given to the Sentry for the application.
pub struct HostFd {
    fd: OwnedFd,
    is_tty: bool,
    /// Identity in the host notifier's table.
    id: u64,
    /// Not a regular file or directory: readiness can change.
    pollable: bool,
    queue: WaitQueue,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl HostFd {
    /// Wraps `fd`, which the Sentry now owns.
    pub fn new(fd: OwnedFd) -> Arc<HostFd> {
        // SAFETY: isatty only inspects the descriptor, which we own.
        let is_tty = unsafe { libc::isatty(fd.as_raw_fd()) } == 1;
        let mut h =
            HostFd { fd, is_tty, id: NEXT_ID.fetch_add(1, Ordering::Relaxed), pollable: true, queue: WaitQueue::new() };
        if let Ok(st) = h.host_stat() {
            let fmt = st.st_mode & libc::S_IFMT;
            h.pollable = fmt != libc::S_IFREG && fmt != libc::S_IFDIR;
        }
        Arc::new(h)
    }

    /// The host's readiness of the descriptor for `events`, now.
    fn poll_now(&self, want: u32) -> Result<u32, Errno> {
        let mut pfd = libc::pollfd { fd: self.fd.as_raw_fd(), events: want as u16 as i16, revents: 0 };
        loop {
            // SAFETY: one valid pollfd; a zero timeout never blocks.
            let r = unsafe { libc::poll(&mut pfd, 1, 0) };
            if r >= 0 {
                return Ok(pfd.revents as u16 as u32);
            }
            let e = Errno::last_host();
            if e != Errno::EINTR {
                return Err(e);
            }
        }
    }

    /// Asks the host notifier to notify the queue once the descriptor is
    /// ready for any of `want`.
    fn arm(self: &Arc<Self>, want: u32) {
        if let Some(n) = notifier() {
            n.arm(self, want);
        }
    }

    /// Whether the host descriptor is a terminal.
    pub fn is_tty(&self) -> bool {
        self.is_tty
    }

    /// The host descriptor's access mode and `O_APPEND`, for the file
    /// description the application sees.
    pub fn access_mode(&self) -> u32 {
        // SAFETY: F_GETFL only reads the descriptor's flags.
        let fl = unsafe { libc::fcntl(self.fd.as_raw_fd(), libc::F_GETFL) };
        if fl < 0 {
            return crate::vfs::flags::O_RDWR;
        }
        fl as u32 & (crate::vfs::flags::O_ACCMODE | crate::vfs::flags::O_APPEND)
    }

    pub(crate) fn host_stat(&self) -> Result<libc::stat, Errno> {
        // SAFETY: zeroed `stat` is a valid value of a plain C struct.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: `st` is a valid, writable `stat` and the fd is ours.
        if unsafe { libc::fstat(self.fd.as_raw_fd(), &mut st) } < 0 {
            return Err(Errno::last_host());
        }
        Ok(st)
    }

    /// Waits until the descriptor is ready for `want` (`EAGAIN` at once
    /// for a non-blocking context, `ERESTARTSYS` when interrupted).
    fn wait(self: &Arc<Self>, ctx: &IoCtx, want: u32) -> Result<(), Errno> {
        let notified = notifier().is_some();
        loop {
            let deadline = if notified { None } else { Some(Instant::now() + FALLBACK_SLICE) };
            let r = ctx.block_until(&[&self.queue], events::ALL, deadline, || {
                let r = self.poll_now(want | events::POLLERR | events::POLLHUP)?;
                if r & events::POLLNVAL != 0 {
                    return Err(Errno::EBADF);
                }
                if r != 0 {
                    return Ok(());
                }
                self.arm(want);
                Err(Errno::EAGAIN)
            });
            match r {
                Err(Errno::ETIMEDOUT) => continue,
                r => return r,
            }
        }
    }

    /// The host terminal's window size: rows, columns, x and y pixels.
    pub(crate) fn winsize(&self) -> Result<[u16; 4], Errno> {
        let mut b = [0u8; 64];
        self.host_ioctl(TIOCGWINSZ, &mut b)?;
        Ok([0, 2, 4, 6].map(|i| u16::from_ne_bytes([b[i], b[i + 1]])))
    }

    /// Sets the host terminal's window size (the host signals its
    /// foreground process group if it changed).
    pub(crate) fn set_winsize(&self, w: [u16; 4]) -> Result<(), Errno> {
        let mut b = [0u8; 64];
        for (i, v) in w.iter().enumerate() {
            b[i * 2..i * 2 + 2].copy_from_slice(&v.to_ne_bytes());
        }
        self.host_ioctl(TIOCSWINSZ, &mut b).map(drop)
    }

    /// The host terminal's local modes (`c_lflag`).
    pub(crate) fn local_modes(&self) -> Result<u32, Errno> {
        let mut b = [0u8; 64];
        self.host_ioctl(TCGETS, &mut b)?;
        Ok(u32::from_ne_bytes([b[12], b[13], b[14], b[15]]))
    }

    /// An `ioctl` whose argument is a plain value (`TCFLSH`, `TCXONC`).
    pub(crate) fn host_ioctl_value(&self, request: u64, arg: u64) -> SysResult {
        // SAFETY: the argument is passed by value; the host reads no memory.
        let r = unsafe { libc::ioctl(self.fd.as_raw_fd(), request as _, arg as libc::c_ulong) };
        if r < 0 {
            return Err(Errno::last_host());
        }
        Ok(r as u64)
    }

    fn host_ioctl(&self, request: u64, arg: &mut [u8]) -> SysResult {
        // SAFETY: `arg` is a buffer at least as large as the request's
        // argument structure (checked by the callers' sizes).
        let r = unsafe { libc::ioctl(self.fd.as_raw_fd(), request as _, arg.as_mut_ptr()) };
        if r < 0 {
            return Err(Errno::last_host());
        }
        Ok(r as u64)
    }
}

fn ts(sec: i64, nsec: i64) -> Timespec {
    Timespec { sec, nsec }
}

impl Inode for HostFd {
    fn stat(&self) -> Stat {
        match self.host_stat() {
            Ok(st) => Stat {
                dev: st.st_dev,
                ino: st.st_ino,
                mode: st.st_mode,
                nlink: st.st_nlink,
                uid: st.st_uid,
                gid: st.st_gid,
                rdev: st.st_rdev,
                size: st.st_size as u64,
                blksize: st.st_blksize as u64,
                blocks: st.st_blocks as u64,
                atime: ts(st.st_atime, st.st_atime_nsec),
                mtime: ts(st.st_mtime, st.st_mtime_nsec),
                ctime: ts(st.st_ctime, st.st_ctime_nsec),
            },
            Err(_) => Stat { mode: libc::S_IFIFO | 0o600, nlink: 1, ..Stat::default() },
        }
    }

    fn file_type(&self) -> FileType {
        self.host_stat().ok().and_then(|s| FileType::from_mode(s.st_mode)).unwrap_or(FileType::Fifo)
    }

    fn open(self: Arc<Self>, _flags: u32) -> Result<Box<dyn FileOps>, Errno> {
        Ok(Box::new(HostFile(self)))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Open-file operations on a host descriptor.
pub struct HostFile(pub Arc<HostFd>);

impl FileOps for HostFile {
    fn read(&self, ctx: &IoCtx, _offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        loop {
            self.0.wait(ctx, events::READABLE)?;
            // SAFETY: `buf` is valid for writes of its length.
            let n = unsafe { libc::read(self.0.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n >= 0 {
                return Ok(n as usize);
            }
            let e = Errno::last_host();
            if e != Errno::EINTR && e != Errno::EAGAIN {
                return Err(e);
            }
            if ctx.nonblock && e == Errno::EAGAIN {
                return Err(e);
            }
        }
    }

    fn write(&self, ctx: &IoCtx, _offset: u64, buf: &[u8]) -> Result<usize, Errno> {
        let mut done = 0;
        while done < buf.len() {
            if let Err(e) = self.0.wait(ctx, events::WRITABLE) {
                return if done > 0 { Ok(done) } else { Err(e) };
            }
            let rest = &buf[done..];
            // SAFETY: `rest` is valid for reads of its length.
            let n = unsafe { libc::write(self.0.fd.as_raw_fd(), rest.as_ptr().cast(), rest.len()) };
            if n >= 0 {
                done += n as usize;
                if ctx.nonblock {
                    break;
                }
                continue;
            }
            let e = Errno::last_host();
            if e == Errno::EINTR || (e == Errno::EAGAIN && !ctx.nonblock) {
                continue;
            }
            return if done > 0 { Ok(done) } else { Err(e) };
        }
        Ok(done)
    }

    fn ioctl(&self, ctx: &IoCtx, request: u64, arg: u64) -> SysResult {
        match request {
            TCGETS | TIOCGWINSZ => {
                let size = if request == TCGETS { KERNEL_TERMIOS_SIZE } else { WINSIZE_SIZE };
                let mut b = [0u8; 64];
                let r = self.0.host_ioctl(request, &mut b)?;
                ctx.mm.ok_or(Errno::EFAULT)?.copy_out(arg, &b[..size])?;
                Ok(r)
            }
            TCSETS | TCSETSW | TCSETSF | TIOCSWINSZ => {
                if !self.0.is_tty {
                    return Err(Errno::ENOTTY);
                }
                let size = if request == TIOCSWINSZ { WINSIZE_SIZE } else { KERNEL_TERMIOS_SIZE };
                let mut b = [0u8; 64];
                ctx.mm.ok_or(Errno::EFAULT)?.copy_in(arg, &mut b[..size])?;
                self.0.host_ioctl(request, &mut b)
            }
            FIONREAD => {
                let mut b = [0u8; 8];
                let r = self.0.host_ioctl(request, &mut b)?;
                ctx.mm.ok_or(Errno::EFAULT)?.copy_out(arg, &b[..4])?;
                Ok(r)
            }
            _ => Err(Errno::ENOTTY),
        }
    }

    fn readiness(&self, mask: u32) -> u32 {
        if !self.0.pollable {
            return mask & (events::READABLE | events::WRITABLE);
        }
        let r = match self.0.poll_now(mask) {
            Ok(r) => r,
            Err(_) => events::POLLERR,
        };
        if r & mask == 0 {
            self.0.arm(mask);
        }
        r & mask
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        self.0.pollable.then_some(&self.0.queue)
    }
}

impl Drop for HostFd {
    fn drop(&mut self) {
        // Before the descriptor closes, so the notifier never polls a
        // number that may be reused.
        if let Some(n) = notifier() {
            n.forget(self.id);
        }
    }
}

/// What the notifier watches for one descriptor.
struct Interest {
    fd: RawFd,
    events: u32,
    target: Weak<HostFd>,
}

/// The host notifier (see the module documentation).
struct Notifier {
    interests: Mutex<HashMap<u64, Interest>>,
    /// Host eventfd that wakes the notifier thread when `interests` grows.
    wake: OwnedFd,
}

fn notifier() -> Option<&'static Notifier> {
    static NOTIFIER: OnceLock<Option<Notifier>> = OnceLock::new();
    NOTIFIER
        .get_or_init(|| {
            // SAFETY: eventfd creates a new descriptor or fails.
            let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
            if fd < 0 {
                tracing::error!(error = %Errno::last_host(), "host notifier: no eventfd; host waits will poll");
                return None;
            }
            // SAFETY: `fd` is a fresh descriptor we own.
            let wake = unsafe { OwnedFd::from_raw_fd(fd) };
            let spawned = std::thread::Builder::new().name("sentry-hostfd".into()).spawn(|| {
                // Blocks until the initialiser (which spawned us) returns.
                if let Some(n) = notifier() {
                    n.run();
                }
            });
            match spawned {
                Ok(_) => Some(Notifier { interests: Mutex::new(HashMap::new()), wake }),
                Err(e) => {
                    tracing::error!(error = %e, "host notifier: no thread; host waits will poll");
                    None
                }
            }
        })
        .as_ref()
}

impl Notifier {
    fn arm(&self, h: &Arc<HostFd>, want: u32) {
        let mut t = lock(&self.interests);
        let i =
            t.entry(h.id).or_insert_with(|| Interest { fd: h.fd.as_raw_fd(), events: 0, target: Arc::downgrade(h) });
        if i.events & want == want {
            return;
        }
        i.events |= want;
        drop(t);
        self.kick();
    }

    fn forget(&self, id: u64) {
        if lock(&self.interests).remove(&id).is_some() {
            self.kick();
        }
    }

    fn kick(&self) {
        let one = 1u64.to_ne_bytes();
        // SAFETY: writes 8 bytes from a valid buffer to our eventfd. A
        // failure (counter full) means a wake-up is pending anyway.
        unsafe { libc::write(self.wake.as_raw_fd(), one.as_ptr().cast(), 8) };
    }

    fn run(&self) -> ! {
        loop {
            let mut pfds = vec![libc::pollfd { fd: self.wake.as_raw_fd(), events: libc::POLLIN, revents: 0 }];
            let mut ids = Vec::new();
            for (id, i) in lock(&self.interests).iter() {
                pfds.push(libc::pollfd { fd: i.fd, events: i.events as u16 as i16, revents: 0 });
                ids.push(*id);
            }
            // SAFETY: `pfds` is a valid array of `pfds.len()` pollfds.
            let r = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, -1) };
            if r < 0 {
                let e = Errno::last_host();
                if e != Errno::EINTR {
                    tracing::error!(error = %e, "host notifier: poll failed");
                    std::thread::sleep(FALLBACK_SLICE);
                }
                continue;
            }
            if pfds[0].revents != 0 {
                let mut b = [0u8; 8];
                // SAFETY: reads at most 8 bytes into `b` from our
                // non-blocking eventfd.
                unsafe { libc::read(self.wake.as_raw_fd(), b.as_mut_ptr().cast(), 8) };
            }
            let mut fired = Vec::new();
            let mut t = lock(&self.interests);
            for (p, id) in pfds[1..].iter().zip(&ids) {
                if p.revents != 0 {
                    if let Some(i) = t.remove(id) {
                        fired.push((i.target, p.revents as u16 as u32));
                    }
                }
            }
            drop(t);
            for (target, ev) in fired {
                if let Some(h) = target.upgrade() {
                    h.queue.notify(ev);
                }
            }
        }
    }
}
