//! The container's stdio: host file descriptors handed to the Sentry.
//!
//! This is the one kind of host descriptor an application reaches. Reads and
//! writes wait with `poll` in short slices so that a task asked to stop
//! (signal, exit) is not stuck in the host.

use std::any::Any;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;

use crate::errno::{Errno, SysResult};
use crate::vfs::{FileOps, FileType, Inode, IoCtx, Stat, Timespec};

/// How long one wait slice lasts, in milliseconds.
const POLL_SLICE_MS: i32 = 50;

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
}

impl HostFd {
    /// Wraps `fd`, which the Sentry now owns.
    pub fn new(fd: OwnedFd) -> Arc<HostFd> {
        // SAFETY: isatty only inspects the descriptor, which we own.
        let is_tty = unsafe { libc::isatty(fd.as_raw_fd()) } == 1;
        Arc::new(HostFd { fd, is_tty })
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

    fn host_stat(&self) -> Result<libc::stat, Errno> {
        // SAFETY: zeroed `stat` is a valid value of a plain C struct.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: `st` is a valid, writable `stat` and the fd is ours.
        if unsafe { libc::fstat(self.fd.as_raw_fd(), &mut st) } < 0 {
            return Err(Errno::last_host());
        }
        Ok(st)
    }

    /// Waits until the descriptor is ready for `events`, in slices, giving
    /// up with `EINTR` when the task is interrupted.
    fn wait(&self, ctx: &IoCtx, events: i16) -> Result<(), Errno> {
        loop {
            if (ctx.interrupted)() {
                return Err(Errno::EINTR);
            }
            let mut pfd = libc::pollfd { fd: self.fd.as_raw_fd(), events, revents: 0 };
            let timeout = if ctx.nonblock { 0 } else { POLL_SLICE_MS };
            // SAFETY: one valid pollfd.
            let r = unsafe { libc::poll(&mut pfd, 1, timeout) };
            if r < 0 {
                let e = Errno::last_host();
                if e == Errno::EINTR {
                    continue;
                }
                return Err(e);
            }
            if r > 0 {
                if pfd.revents & libc::POLLNVAL != 0 {
                    return Err(Errno::EBADF);
                }
                return Ok(());
            }
            if ctx.nonblock {
                return Err(Errno::EAGAIN);
            }
        }
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
            self.0.wait(ctx, libc::POLLIN)?;
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
            if let Err(e) = self.0.wait(ctx, libc::POLLOUT) {
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
}
