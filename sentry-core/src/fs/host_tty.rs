//! Host terminals handed to the sandbox: a container's console (the slave
//! of a host pseudo-terminal whose master went to the console socket) and
//! the terminals of processes started with one.
//!
//! The host terminal's line discipline does the terminal work (editing,
//! echo, `termios`, window size: those requests reach the host descriptor,
//! see [`host_fd`](super::host_fd)); job control is the Sentry's, since
//! host process groups mean nothing to sandbox processes. So every host
//! terminal gets a [`HostTty`] with its own [`JobControl`], shared by all
//! descriptors of the same host device (its `st_rdev`), and files on it are
//! [`HostFile`]s behind the background-group checks of [`tty`](super::tty).
//!
//! # Signals from the line discipline
//!
//! The host line discipline turns `^C`, `^\` and `^Z` into SIGINT, SIGQUIT
//! and SIGTSTP for the *host* foreground process group of the terminal,
//! and window-size changes into SIGWINCH. For the container's console
//! ([`Kernel::set_console`]) the runtime makes the Sentry process that
//! group (it leads a host session whose controlling terminal is the
//! console) and hands the signals it receives to
//! [`Kernel::console_signal`], which sends them to the *sandbox*
//! foreground process group. For another host terminal (an exec'd
//! process's) the runtime may do the same with a helper process and
//! [`HostTty::host_signal`]; until it says so
//! ([`HostTty::set_host_controlled`]) the Sentry signals window-size
//! changes it makes itself.
//!
//! The console also appears as `/dev/console`, the name its descriptors
//! show in `/proc/[pid]/fd` (as `ttyname` expects of a terminal).

use std::any::Any;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use super::host_fd::{HostFd, HostFile};
use super::tty::{controlling_terminal, JobControl, Terminal};
use crate::errno::{Errno, SysResult};
use crate::kernel::waiter::WaitQueue;
use crate::kernel::{Kernel, KernelInner};
use crate::mm::lock;
use crate::vfs::path::walk;
use crate::vfs::{Dentry, File, FileOps, FileType, Inode, IoCtx, LookupFlags, Stat};

const TCSETS: u64 = 0x5402;
const TCSETSW: u64 = 0x5403;
const TCSETSF: u64 = 0x5404;
const TCXONC: u64 = 0x540a;
const TCFLSH: u64 = 0x540b;
const TIOCSWINSZ: u64 = 0x5414;

/// Where the console appears in the sandbox.
const CONSOLE_PATH: &str = "/dev/console";

/// One host terminal (all descriptors of one host device).
pub struct HostTty {
    kernel: Weak<KernelInner>,
    /// The host device: the terminal's identity.
    rdev: u64,
    /// A descriptor of it the Sentry keeps, for requests that come without
    /// one (resizing, `/dev/tty`, `/dev/console`).
    fd: Arc<HostFd>,
    job: JobControl,
    /// The Sentry is the host terminal's controlling process: the host
    /// sends it the terminal's signals (see the module documentation).
    host_controlled: AtomicBool,
}

impl HostTty {
    fn kernel(&self) -> Option<Kernel> {
        Some(Kernel { inner: self.kernel.upgrade()? })
    }

    /// The terminal's job-control state.
    pub fn job(&self) -> &JobControl {
        &self.job
    }

    /// Sets the window size (rows, columns); the foreground process group
    /// hears of a change through SIGWINCH.
    pub fn resize(&self, rows: u16, cols: u16) -> Result<(), Errno> {
        let old = self.fd.winsize()?;
        self.set_winsize(old, [rows, cols, old[2], old[3]])
    }

    /// Sets the window size to `new`, signalling the change unless the host
    /// does (it signals the Sentry, which forwards it).
    fn set_winsize(&self, old: [u16; 4], new: [u16; 4]) -> Result<(), Errno> {
        self.fd.set_winsize(new)?;
        if old != new && !self.host_controlled.load(Ordering::Relaxed) {
            if let Some(k) = self.kernel() {
                self.job.signal_foreground(&k, libc::SIGWINCH);
            }
        }
        Ok(())
    }

    /// Whether the host sends this terminal's signals to someone who
    /// passes them to [`host_signal`](HostTty::host_signal) (then the
    /// host's SIGWINCH reports window-size changes).
    pub fn set_host_controlled(&self, yes: bool) {
        self.host_controlled.store(yes, Ordering::Relaxed);
    }

    /// The host line discipline of this terminal generated `sig` (see the
    /// module documentation): SIGINT, SIGQUIT, SIGTSTP and SIGWINCH go to
    /// the foreground process group; SIGHUP (the other end closed) is a
    /// hang-up for the session. Others are ignored.
    pub fn host_signal(&self, sig: i32) {
        let Some(k) = self.kernel() else { return };
        match sig {
            libc::SIGINT | libc::SIGQUIT | libc::SIGTSTP | libc::SIGWINCH => self.job.signal_foreground(&k, sig),
            libc::SIGHUP => self.job.hang_up(&k),
            _ => {}
        }
    }

    fn file(self: Arc<Self>, host: Arc<HostFd>) -> HostTtyFile {
        HostTtyFile { host: HostFile(host), tty: self }
    }
}

impl Terminal for HostTty {
    fn job(&self) -> &JobControl {
        &self.job
    }

    fn reopen(self: Arc<Self>) -> Result<Box<dyn FileOps>, Errno> {
        let fd = self.fd.clone();
        Ok(Box::new(self.file(fd)))
    }
}

/// `/dev/console` is the terminal itself.
impl Inode for HostTty {
    fn stat(&self) -> Stat {
        self.fd.stat()
    }

    fn file_type(&self) -> FileType {
        FileType::CharDevice
    }

    fn open(self: Arc<Self>, _flags: u32) -> Result<Box<dyn FileOps>, Errno> {
        self.reopen()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A file on a host terminal.
pub struct HostTtyFile {
    host: HostFile,
    tty: Arc<HostTty>,
}

impl HostTtyFile {
    /// Stops a background caller before it changes the terminal.
    fn check_change(&self) -> Result<(), Errno> {
        match self.tty.kernel() {
            Some(k) => self.tty.job.check_change(&k),
            None => Ok(()),
        }
    }
}

impl FileOps for HostTtyFile {
    fn read(&self, ctx: &IoCtx, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        if let Some(k) = self.tty.kernel() {
            self.tty.job.check_read(&k)?;
        }
        self.host.read(ctx, offset, buf)
    }

    fn write(&self, ctx: &IoCtx, offset: u64, buf: &[u8]) -> Result<usize, Errno> {
        if let Some(k) = self.tty.kernel() {
            let tostop = || self.host.0.local_modes().is_ok_and(|l| l & super::tty::TOSTOP != 0);
            self.tty.job.check_write(&k, tostop)?;
        }
        self.host.write(ctx, offset, buf)
    }

    fn ioctl(&self, ctx: &IoCtx, request: u64, arg: u64) -> SysResult {
        match request {
            TCSETS | TCSETSW | TCSETSF => {
                self.check_change()?;
                self.host.ioctl(ctx, request, arg)
            }
            TCFLSH | TCXONC => {
                self.check_change()?;
                self.host.0.host_ioctl_value(request, arg)
            }
            TIOCSWINSZ => {
                let b = ctx.mm.ok_or(Errno::EFAULT)?.read_bytes::<8>(arg)?;
                let new = [0, 2, 4, 6].map(|i| u16::from_ne_bytes([b[i], b[i + 1]]));
                let old = self.host.0.winsize()?;
                self.tty.set_winsize(old, new).map(|()| 0)
            }
            _ => {
                let k = self.tty.kernel().ok_or(Errno::ENOTTY)?;
                let me: *const HostTty = &*self.tty;
                let others =
                    |sid| controlling_terminal(&k, sid).is_some_and(|t| !std::ptr::addr_eq(Arc::as_ptr(&t), me));
                match self.tty.job.ioctl(&k, ctx.mm, false, request, arg, others) {
                    Some(r) => r,
                    None => self.host.ioctl(ctx, request, arg),
                }
            }
        }
    }

    fn readiness(&self, mask: u32) -> u32 {
        self.host.readiness(mask)
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        self.host.wait_queue()
    }

    fn as_any(&self) -> Option<&dyn Any> {
        Some(self)
    }
}

/// The host terminals of a kernel.
#[derive(Default)]
pub(crate) struct Registry {
    ttys: Mutex<Vec<Weak<HostTty>>>,
    /// The container's console, which the Sentry controls on the host.
    console: Mutex<Option<Arc<HostTty>>>,
}

impl Registry {
    /// The host terminals in use.
    pub fn live(&self) -> Vec<Arc<HostTty>> {
        lock(&self.ttys).iter().filter_map(Weak::upgrade).collect()
    }

    /// The terminal of host descriptor `host` (which is one).
    fn terminal_of(&self, k: &Kernel, host: &Arc<HostFd>) -> Result<Arc<HostTty>, Errno> {
        let rdev = host.host_stat()?.st_rdev;
        let mut ttys = lock(&self.ttys);
        ttys.retain(|t| t.strong_count() > 0);
        if let Some(t) = ttys.iter().filter_map(Weak::upgrade).find(|t| t.rdev == rdev) {
            return Ok(t);
        }
        let t = Arc::new(HostTty {
            kernel: Arc::downgrade(&k.inner),
            rdev,
            fd: host.clone(),
            job: JobControl::new(),
            host_controlled: AtomicBool::new(false),
        });
        ttys.push(Arc::downgrade(&t));
        Ok(t)
    }

    fn console(&self) -> Option<Arc<HostTty>> {
        lock(&self.console).clone()
    }
}

impl Kernel {
    /// Makes host terminal `fd` the container's console (see the module
    /// documentation): the runtime has made the Sentry the host terminal's
    /// controlling process and passes the terminal's signals to
    /// [`console_signal`](Kernel::console_signal). The console appears as
    /// `/dev/console`; processes get it as their terminal through their
    /// stdio and [`SpawnOptions::controlling_terminal`](crate::kernel::SpawnOptions).
    pub fn set_console(&self, fd: OwnedFd) -> Result<(), Errno> {
        let host = HostFd::new(fd);
        if !host.is_tty() {
            return Err(Errno::ENOTTY);
        }
        let tty = self.inner.host_ttys.terminal_of(self, &host)?;
        tty.host_controlled.store(true, Ordering::Relaxed);
        *lock(&self.inner.host_ttys.console) = Some(tty.clone());
        let root = &self.inner.root_dentry;
        let dev = walk(root, root, "/dev", LookupFlags { follow: true, directory: true })?;
        match dev.inode().as_any().downcast_ref::<super::tmpfs::TmpfsInode>() {
            Some(d) => d.insert("console", tty)?,
            None => tracing::warn!("/dev is not the Sentry's: no /dev/console"),
        }
        Ok(())
    }

    /// The host sent the Sentry `sig` for the console (see the module
    /// documentation): SIGINT, SIGQUIT, SIGTSTP and SIGWINCH go to the
    /// console's foreground process group; SIGHUP (the other end closed)
    /// is a hang-up for its session. Others are ignored.
    pub fn console_signal(&self, sig: i32) {
        if let Some(tty) = self.inner.host_ttys.console() {
            tty.host_signal(sig);
        }
    }

    /// The host terminal `fd` is a descriptor of, if a process of the
    /// sandbox has it.
    pub fn host_terminal(&self, fd: std::os::fd::BorrowedFd<'_>) -> Option<Arc<HostTty>> {
        use std::os::unix::fs::MetadataExt;
        let rdev = std::fs::File::from(fd.try_clone_to_owned().ok()?).metadata().ok()?.rdev();
        self.inner.host_ttys.live().into_iter().find(|t| t.rdev == rdev)
    }

    /// Sets the window size of process `pid`'s controlling terminal, a
    /// host terminal (the runtime's resize); its foreground process group
    /// gets SIGWINCH if the size changed.
    pub fn resize_terminal(&self, pid: i32, rows: u16, cols: u16) -> Result<(), Errno> {
        let g = self.pids().group(pid).filter(|g| g.zombie_status().is_none()).ok_or(Errno::ESRCH)?;
        let sid = g.sid();
        let tty = self.inner.host_ttys.live().into_iter().find(|t| t.job.session() == sid).ok_or(Errno::ENOTTY)?;
        tty.resize(rows, cols)
    }

    /// The open file a process gets for stdio descriptor `fd`, and the
    /// terminal if `fd` is one.
    pub(crate) fn stdio_file(&self, fd: OwnedFd) -> Result<(Arc<File>, Option<Arc<HostTty>>), Errno> {
        let host = HostFd::new(fd);
        let fl = host.access_mode();
        if !host.is_tty() {
            let inode: Arc<dyn Inode> = host.clone();
            return Ok((Arc::new(File::new(None, inode, Box::new(HostFile(host)), fl)), None));
        }
        let tty = self.inner.host_ttys.terminal_of(self, &host)?;
        let is_console = self.inner.host_ttys.console().is_some_and(|c| Arc::ptr_eq(&c, &tty));
        let root = &self.inner.root_dentry;
        let dentry: Option<Arc<Dentry>> =
            if is_console { walk(root, root, CONSOLE_PATH, LookupFlags::FOLLOW).ok() } else { None };
        let inode: Arc<dyn Inode> = tty.clone();
        let ops = Box::new(tty.clone().file(host));
        Ok((Arc::new(File::new(dentry, inode, ops, fl)), Some(tty)))
    }
}
