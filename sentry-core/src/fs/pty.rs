//! Pseudo-terminals: `/dev/ptmx` and the devpts file system (`/dev/pts`).
//!
//! Opening `/dev/ptmx` creates a [`Pty`]: a master file and slave
//! `/dev/pts/N`, between them a line discipline with the parts programs
//! rely on: canonical input with erase, kill and end-of-file, echo
//! (with `ECHOCTL` and `ECHOE`), `ICRNL` on input and `ONLCR` on output,
//! `ISIG` characters sending SIGINT/SIGQUIT/SIGTSTP to the foreground
//! process group, non-canonical reads with `VMIN` (`VTIME` is not timed:
//! `VMIN` 0 does not wait), window sizes with SIGWINCH, and the job-control
//! ioctls and background-group checks of [`tty`](super::tty). The caller's
//! process comes from [`crate::kernel::current`].
//!
//! The pty's state mutex is a leaf; signals are sent and wait queues
//! notified after it is released.

use std::any::Any;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};

use super::tty::{Caller, JobControl, Terminal};
use crate::errno::{Errno, SysResult};
use crate::kernel::waiter::{events, WaitQueue};
use crate::kernel::{Kernel, KernelInner};
use crate::mm::lock;
use crate::vfs::stat::makedev;
use crate::vfs::{flags, DirEntry, FileOps, FileType, Inode, IoCtx, Stat, Timespec};

const TCGETS: u64 = 0x5401;
const TCSETS: u64 = 0x5402;
const TCSETSW: u64 = 0x5403;
const TCSETSF: u64 = 0x5404;
const TCFLSH: u64 = 0x540b;
const TIOCGWINSZ: u64 = 0x5413;
const TIOCSWINSZ: u64 = 0x5414;
const FIONREAD: u64 = 0x541b;
const TIOCGPTN: u64 = 0x8004_5430;
const TIOCSPTLCK: u64 = 0x4004_5431;

const ICRNL: u32 = 0x100;
const INLCR: u32 = 0x40;
const IGNCR: u32 = 0x80;
const OPOST: u32 = 0x1;
const ONLCR: u32 = 0x4;
const ISIG: u32 = 0x1;
const ICANON: u32 = 0x2;
const ECHO: u32 = 0x8;
const ECHOE: u32 = 0x10;
const ECHOK: u32 = 0x20;
const ECHONL: u32 = 0x40;
const NOFLSH: u32 = 0x80;
const ECHOCTL: u32 = 0x200;

const VINTR: usize = 0;
const VQUIT: usize = 1;
const VERASE: usize = 2;
const VKILL: usize = 3;
const VEOF: usize = 4;
const VMIN: usize = 6;
const VSUSP: usize = 10;
const VEOL: usize = 11;

/// Size of the kernel's `struct termios`.
const TERMIOS_SIZE: usize = 36;
/// Bytes buffered in each direction before writers wait.
const BUF_MAX: usize = 65536;
/// Major device number of pty slaves.
const PTS_MAJOR: u32 = 136;

/// Terminal settings.
#[derive(Clone, Copy)]
struct Termios {
    iflag: u32,
    oflag: u32,
    cflag: u32,
    lflag: u32,
    line: u8,
    cc: [u8; 19],
}

impl Termios {
    /// Linux's defaults for a new pty.
    fn default_pty() -> Termios {
        let mut cc = [0u8; 19];
        cc[..17].copy_from_slice(&[3, 0x1c, 0x7f, 0x15, 4, 0, 1, 0, 0x11, 0x13, 0x1a, 0, 0x12, 0xf, 0x17, 0x16, 0]);
        Termios { iflag: 0x500, oflag: 0x5, cflag: 0xbf, lflag: 0x8a3b, line: 0, cc }
    }

    fn to_bytes(self) -> [u8; TERMIOS_SIZE] {
        let mut b = [0u8; TERMIOS_SIZE];
        for (i, v) in [self.iflag, self.oflag, self.cflag, self.lflag].iter().enumerate() {
            b[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
        }
        b[16] = self.line;
        b[17..].copy_from_slice(&self.cc);
        b
    }

    fn from_bytes(b: &[u8; TERMIOS_SIZE]) -> Termios {
        let w = |i: usize| u32::from_le_bytes(b[i * 4..i * 4 + 4].try_into().unwrap_or([0; 4]));
        let mut cc = [0u8; 19];
        cc.copy_from_slice(&b[17..]);
        Termios { iflag: w(0), oflag: w(1), cflag: w(2), lflag: w(3), line: b[16], cc }
    }
}

struct State {
    termios: Termios,
    /// rows, cols, xpixel, ypixel.
    winsize: [u16; 4],
    /// Canonical mode: complete lines for the slave (an empty line is an
    /// end of file); raw mode: one entry of bytes.
    input: VecDeque<Vec<u8>>,
    /// The line being edited (canonical mode).
    line: Vec<u8>,
    /// Output for the master (slave output and echoes).
    output: VecDeque<u8>,
    locked: bool,
    master_open: bool,
    slaves_open: usize,
    /// Whether a slave was ever opened (master reads then see EIO once
    /// all are closed).
    slave_opened: bool,
}

impl State {
    fn input_len(&self) -> usize {
        self.input.iter().map(|l| l.len()).sum()
    }

    fn echo(&mut self, c: u8) {
        let t = self.termios;
        if t.lflag & ECHO == 0 {
            if c == b'\n' && t.lflag & ECHONL != 0 {
                self.put_output(b"\n");
            }
            return;
        }
        if t.lflag & ECHOCTL != 0 && c < 0x20 && c != b'\n' && c != b'\t' {
            self.put_output(&[b'^', c + 0x40]);
        } else {
            self.put_output(&[c]);
        }
    }

    /// Output processing (`OPOST`, `ONLCR`).
    fn put_output(&mut self, data: &[u8]) {
        let t = self.termios;
        for &c in data {
            if c == b'\n' && t.oflag & OPOST != 0 && t.oflag & ONLCR != 0 {
                self.output.push_back(b'\r');
            }
            self.output.push_back(c);
        }
    }
}

/// A pseudo-terminal pair.
pub struct Pty {
    index: u32,
    kernel: Weak<KernelInner>,
    state: Mutex<State>,
    /// Notified when the master may read or write.
    master_queue: WaitQueue,
    /// Notified when the slave may read or write.
    slave_queue: WaitQueue,
    /// The session the terminal controls and its foreground group.
    job: JobControl,
    created: Timespec,
}

impl Pty {
    fn kernel(&self) -> Option<Kernel> {
        Some(Kernel { inner: self.kernel.upgrade()? })
    }

    /// Sends `sig` to the foreground process group.
    fn signal_foreground(&self, sig: i32) {
        if let Some(k) = self.kernel() {
            self.job.signal_foreground(&k, sig);
        }
    }

    /// For the slave: may the caller change the terminal (background
    /// groups are stopped first)?
    fn check_change(&self, master: bool) -> Result<(), Errno> {
        match self.kernel() {
            Some(k) if !master => self.job.check_change(&k),
            _ => Ok(()),
        }
    }

    /// The line discipline: input typed at the master.
    fn master_input(&self, data: &[u8]) -> usize {
        let mut signals_to_send = Vec::new();
        let n = {
            let mut s = lock(&self.state);
            let mut n = 0;
            for &raw in data {
                if s.input_len() + s.line.len() >= BUF_MAX {
                    break;
                }
                n += 1;
                let t = s.termios;
                let mut c = raw;
                if c == b'\r' && t.iflag & IGNCR != 0 {
                    continue;
                }
                if c == b'\r' && t.iflag & ICRNL != 0 {
                    c = b'\n';
                } else if c == b'\n' && t.iflag & INLCR != 0 {
                    c = b'\r';
                }
                if t.lflag & ISIG != 0 {
                    let sig = if c == t.cc[VINTR] && c != 0 {
                        Some(libc::SIGINT)
                    } else if c == t.cc[VQUIT] && c != 0 {
                        Some(libc::SIGQUIT)
                    } else if c == t.cc[VSUSP] && c != 0 {
                        Some(libc::SIGTSTP)
                    } else {
                        None
                    };
                    if let Some(sig) = sig {
                        if t.lflag & NOFLSH == 0 {
                            s.input.clear();
                            s.line.clear();
                        }
                        s.echo(c);
                        signals_to_send.push(sig);
                        continue;
                    }
                }
                if t.lflag & ICANON == 0 {
                    s.echo(c);
                    match s.input.back_mut() {
                        Some(v) => v.push(c),
                        None => s.input.push_back(vec![c]),
                    }
                    continue;
                }
                if c == t.cc[VERASE] && c != 0 {
                    if s.line.pop().is_some() && t.lflag & ECHO != 0 && t.lflag & ECHOE != 0 {
                        s.put_output(b"\x08 \x08");
                    }
                } else if c == t.cc[VKILL] && c != 0 {
                    let len = s.line.len();
                    s.line.clear();
                    if t.lflag & ECHO != 0 && t.lflag & ECHOK != 0 {
                        for _ in 0..len {
                            s.put_output(b"\x08 \x08");
                        }
                    }
                } else if c == t.cc[VEOF] && c != 0 {
                    let line = std::mem::take(&mut s.line);
                    s.input.push_back(line);
                } else if c == b'\n' || (c == t.cc[VEOL] && c != 0) {
                    s.echo(c);
                    let mut line = std::mem::take(&mut s.line);
                    line.push(c);
                    s.input.push_back(line);
                } else {
                    s.echo(c);
                    s.line.push(c);
                }
            }
            n
        };
        for sig in signals_to_send {
            self.signal_foreground(sig);
        }
        self.slave_queue.notify(events::ALL);
        self.master_queue.notify(events::ALL);
        n
    }

    fn ioctl(&self, master: bool, ctx: &IoCtx, request: u64, arg: u64) -> SysResult {
        let mm = ctx.mm.ok_or(Errno::ENOTTY)?;
        match request {
            TCGETS => {
                let t = lock(&self.state).termios;
                mm.copy_out(arg, &t.to_bytes())?;
                Ok(0)
            }
            TCSETS | TCSETSW | TCSETSF => {
                self.check_change(master)?;
                let mut b = [0u8; TERMIOS_SIZE];
                mm.copy_in(arg, &mut b)?;
                let mut s = lock(&self.state);
                let was_canon = s.termios.lflag & ICANON != 0;
                s.termios = Termios::from_bytes(&b);
                if request == TCSETSF {
                    s.input.clear();
                    s.line.clear();
                }
                let canon = s.termios.lflag & ICANON != 0;
                if was_canon && !canon && !s.line.is_empty() {
                    // Switching to raw mode releases the partial line.
                    let line = std::mem::take(&mut s.line);
                    s.input.push_back(line);
                } else if !was_canon && canon {
                    // Raw bytes become one pending line.
                    let all: Vec<u8> = s.input.drain(..).flatten().collect();
                    s.line = all;
                }
                drop(s);
                self.slave_queue.notify(events::ALL);
                Ok(0)
            }
            TIOCGWINSZ => {
                let w = lock(&self.state).winsize;
                let b: Vec<u8> = w.iter().flat_map(|v| v.to_le_bytes()).collect();
                mm.copy_out(arg, &b)?;
                Ok(0)
            }
            TIOCSWINSZ => {
                let b = mm.read_bytes::<8>(arg)?;
                let w = [0, 2, 4, 6].map(|i| u16::from_le_bytes([b[i], b[i + 1]]));
                let changed = {
                    let mut s = lock(&self.state);
                    let changed = s.winsize != w;
                    s.winsize = w;
                    changed
                };
                if changed {
                    self.signal_foreground(libc::SIGWINCH);
                }
                Ok(0)
            }
            FIONREAD => {
                let s = lock(&self.state);
                let n = if master { s.output.len() } else { s.input.front().map(|l| l.len()).unwrap_or(0) };
                drop(s);
                mm.write_u32(arg, n as u32)?;
                Ok(0)
            }
            TCFLSH => {
                self.check_change(master)?;
                let mut s = lock(&self.state);
                match arg {
                    0 => {
                        s.input.clear();
                        s.line.clear();
                    }
                    1 => s.output.clear(),
                    2 => {
                        s.input.clear();
                        s.line.clear();
                        s.output.clear();
                    }
                    _ => return Err(Errno::EINVAL),
                }
                Ok(0)
            }
            TIOCGPTN if master => {
                mm.write_u32(arg, self.index)?;
                Ok(0)
            }
            TIOCSPTLCK if master => {
                lock(&self.state).locked = mm.read_u32(arg)? != 0;
                Ok(0)
            }
            _ => {
                let k = self.kernel().ok_or(Errno::ENOTTY)?;
                let me: *const Pty = self;
                let others = |sid| {
                    super::tty::controlling_terminal(&k, sid).is_some_and(|t| !std::ptr::addr_eq(Arc::as_ptr(&t), me))
                };
                self.job.ioctl(&k, Some(mm), master, request, arg, others).unwrap_or(Err(Errno::ENOTTY))
            }
        }
    }
}

/// The pty registry of a kernel: the devpts directory.
pub struct Devpts {
    kernel: Weak<KernelInner>,
    ptys: Mutex<BTreeMap<u32, Weak<Pty>>>,
    created: Timespec,
}

impl Devpts {
    pub fn new(kernel: &Kernel) -> Arc<Devpts> {
        Arc::new(Devpts {
            kernel: Arc::downgrade(&kernel.inner),
            ptys: Mutex::new(BTreeMap::new()),
            created: Timespec::now(),
        })
    }

    fn live(&self, index: u32) -> Option<Arc<Pty>> {
        lock(&self.ptys).get(&index)?.upgrade()
    }

    /// A new pty, and its master's file operations.
    fn open_master(&self) -> Result<MasterFile, Errno> {
        let mut ptys = lock(&self.ptys);
        ptys.retain(|_, p| p.strong_count() > 0);
        let index = (0..).find(|i| !ptys.contains_key(i)).unwrap_or(0);
        let pty = Arc::new(Pty {
            index,
            kernel: self.kernel.clone(),
            state: Mutex::new(State {
                termios: Termios::default_pty(),
                winsize: [0; 4],
                input: VecDeque::new(),
                line: Vec::new(),
                output: VecDeque::new(),
                locked: true,
                master_open: true,
                slaves_open: 0,
                slave_opened: false,
            }),
            master_queue: WaitQueue::new(),
            slave_queue: WaitQueue::new(),
            job: JobControl::new(),
            created: Timespec::now(),
        });
        ptys.insert(index, Arc::downgrade(&pty));
        Ok(MasterFile { pty })
    }
}

impl Inode for Devpts {
    fn stat(&self) -> Stat {
        Stat {
            dev: makedev(0, 7),
            ino: 1,
            mode: libc::S_IFDIR | 0o755,
            nlink: 2,
            blksize: 1024,
            atime: self.created,
            mtime: self.created,
            ctime: self.created,
            ..Stat::default()
        }
    }

    fn file_type(&self) -> FileType {
        FileType::Directory
    }

    fn open(self: Arc<Self>, _flags: u32) -> Result<Box<dyn FileOps>, Errno> {
        Ok(Box::new(DirFile))
    }

    fn lookup(&self, name: &str) -> Result<Arc<dyn Inode>, Errno> {
        if name == "ptmx" {
            return Ok(Arc::new(PtmxInode { devpts: self.self_arc()? }));
        }
        let index: u32 = name.parse().map_err(|_| Errno::ENOENT)?;
        let pty = self.live(index).ok_or(Errno::ENOENT)?;
        Ok(Arc::new(SlaveInode { pty }))
    }

    fn readdir(&self) -> Result<Vec<DirEntry>, Errno> {
        let ptys = lock(&self.ptys);
        let mut v = vec![DirEntry { name: "ptmx".into(), ino: 2, file_type: FileType::CharDevice }];
        for (i, p) in ptys.iter() {
            if p.strong_count() > 0 {
                v.push(DirEntry { name: i.to_string(), ino: 3 + *i as u64, file_type: FileType::CharDevice });
            }
        }
        Ok(v)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Devpts {
    fn self_arc(&self) -> Result<Arc<Devpts>, Errno> {
        let k = Kernel { inner: self.kernel.upgrade().ok_or(Errno::ENOENT)? };
        Ok(k.devpts())
    }
}

impl Devpts {
    /// The live pseudo-terminals.
    pub(crate) fn terminals(&self) -> Vec<Arc<dyn Terminal>> {
        lock(&self.ptys).values().filter_map(|p| p.upgrade()).map(|p| p as Arc<dyn Terminal>).collect()
    }
}

/// `/dev/tty`: the calling process's controlling terminal (`ENXIO`
/// without one).
pub struct TtyInode {
    devpts: Arc<Devpts>,
}

impl TtyInode {
    pub fn new(devpts: Arc<Devpts>) -> Arc<TtyInode> {
        Arc::new(TtyInode { devpts })
    }
}

impl Inode for TtyInode {
    fn stat(&self) -> Stat {
        let t = self.devpts.created;
        Stat {
            dev: makedev(0, 7),
            ino: 0x7474,
            mode: libc::S_IFCHR | 0o666,
            nlink: 1,
            rdev: makedev(5, 0),
            blksize: 1024,
            atime: t,
            mtime: t,
            ctime: t,
            ..Stat::default()
        }
    }

    fn file_type(&self) -> FileType {
        FileType::CharDevice
    }

    fn open(self: Arc<Self>, _flags: u32) -> Result<Box<dyn FileOps>, Errno> {
        let k = Kernel { inner: self.devpts.kernel.upgrade().ok_or(Errno::ENXIO)? };
        let sid = Caller::current(&k).ok_or(Errno::ENXIO)?.sid;
        super::tty::controlling_terminal(&k, sid).ok_or(Errno::ENXIO)?.reopen()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Terminal for Pty {
    fn job(&self) -> &JobControl {
        &self.job
    }

    fn reopen(self: Arc<Self>) -> Result<Box<dyn FileOps>, Errno> {
        let pty = self;
        {
            let mut s = lock(&pty.state);
            s.slaves_open += 1;
            s.slave_opened = true;
        }
        Ok(Box::new(SlaveFile { pty }))
    }
}

/// `/dev/ptmx` (and `/dev/pts/ptmx`).
pub struct PtmxInode {
    devpts: Arc<Devpts>,
}

impl PtmxInode {
    pub fn new(devpts: Arc<Devpts>) -> Arc<PtmxInode> {
        Arc::new(PtmxInode { devpts })
    }
}

impl Inode for PtmxInode {
    fn stat(&self) -> Stat {
        let t = self.devpts.created;
        Stat {
            dev: makedev(0, 7),
            ino: 2,
            mode: libc::S_IFCHR | 0o666,
            nlink: 1,
            rdev: makedev(5, 2),
            blksize: 1024,
            atime: t,
            mtime: t,
            ctime: t,
            ..Stat::default()
        }
    }

    fn file_type(&self) -> FileType {
        FileType::CharDevice
    }

    fn open(self: Arc<Self>, _flags: u32) -> Result<Box<dyn FileOps>, Errno> {
        Ok(Box::new(self.devpts.open_master()?))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// `/dev/pts/N`.
pub struct SlaveInode {
    pty: Arc<Pty>,
}

impl Inode for SlaveInode {
    fn stat(&self) -> Stat {
        let t = self.pty.created;
        Stat {
            dev: makedev(0, 7),
            ino: 3 + self.pty.index as u64,
            mode: libc::S_IFCHR | 0o620,
            nlink: 1,
            rdev: makedev(PTS_MAJOR, self.pty.index),
            blksize: 1024,
            atime: t,
            mtime: t,
            ctime: t,
            ..Stat::default()
        }
    }

    fn file_type(&self) -> FileType {
        FileType::CharDevice
    }

    fn open(self: Arc<Self>, oflags: u32) -> Result<Box<dyn FileOps>, Errno> {
        let mut s = lock(&self.pty.state);
        if s.locked {
            return Err(Errno::EIO);
        }
        s.slaves_open += 1;
        s.slave_opened = true;
        drop(s);
        // A session leader without a terminal that opens one without
        // O_NOCTTY makes it its controlling terminal.
        if oflags & flags::O_NOCTTY == 0 && self.pty.job.session() == 0 {
            if let Some(k) = self.pty.kernel() {
                if let Some(c) = Caller::current(&k) {
                    if c.sid == c.tgid && super::tty::controlling_terminal(&k, c.sid).is_none() {
                        self.pty.job.set_controlling(c.sid, c.pgid);
                    }
                }
            }
        }
        Ok(Box::new(SlaveFile { pty: self.pty.clone() }))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

struct DirFile;

impl FileOps for DirFile {
    fn read(&self, _: &IoCtx, _: u64, _: &mut [u8]) -> Result<usize, Errno> {
        Err(Errno::EISDIR)
    }
    fn write(&self, _: &IoCtx, _: u64, _: &[u8]) -> Result<usize, Errno> {
        Err(Errno::EISDIR)
    }
}

/// The master side.
pub struct MasterFile {
    pty: Arc<Pty>,
}

impl Drop for MasterFile {
    fn drop(&mut self) {
        lock(&self.pty.state).master_open = false;
        // Hang-up: the session hears of it.
        if self.pty.job.session() != 0 {
            self.pty.signal_foreground(libc::SIGHUP);
        }
        self.pty.slave_queue.notify(events::ALL);
    }
}

impl FileOps for MasterFile {
    fn read(&self, ctx: &IoCtx, _offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        ctx.block(&[&self.pty.master_queue], events::ALL, || {
            let mut s = lock(&self.pty.state);
            if s.output.is_empty() {
                if s.slave_opened && s.slaves_open == 0 {
                    return Err(Errno::EIO);
                }
                return Err(Errno::EAGAIN);
            }
            let n = buf.len().min(s.output.len());
            for (i, c) in s.output.drain(..n).enumerate() {
                buf[i] = c;
            }
            Ok(n)
        })
        .inspect(|_| self.pty.slave_queue.notify(events::ALL))
    }

    fn write(&self, _ctx: &IoCtx, _offset: u64, buf: &[u8]) -> Result<usize, Errno> {
        let n = self.pty.master_input(buf);
        if n == 0 && !buf.is_empty() {
            return Err(Errno::EAGAIN);
        }
        Ok(n)
    }

    fn ioctl(&self, ctx: &IoCtx, request: u64, arg: u64) -> SysResult {
        self.pty.ioctl(true, ctx, request, arg)
    }

    fn readiness(&self, mask: u32) -> u32 {
        let s = lock(&self.pty.state);
        let mut r = events::WRITABLE;
        if !s.output.is_empty() {
            r |= events::READABLE;
        }
        if s.slave_opened && s.slaves_open == 0 {
            r |= events::POLLHUP;
        }
        r & mask
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.pty.master_queue)
    }

    fn as_any(&self) -> Option<&dyn Any> {
        Some(self)
    }
}

/// The slave side (the terminal programs use).
pub struct SlaveFile {
    pty: Arc<Pty>,
}

impl Drop for SlaveFile {
    fn drop(&mut self) {
        lock(&self.pty.state).slaves_open -= 1;
        self.pty.master_queue.notify(events::ALL);
    }
}

impl FileOps for SlaveFile {
    fn read(&self, ctx: &IoCtx, _offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        if let Some(k) = self.pty.kernel() {
            self.pty.job.check_read(&k)?;
        }
        ctx.block(&[&self.pty.slave_queue], events::ALL, || {
            let mut s = lock(&self.pty.state);
            let canon = s.termios.lflag & ICANON != 0;
            if let Some(front) = s.input.front_mut() {
                if canon && front.is_empty() {
                    // End of file (VEOF at the start of a line).
                    s.input.pop_front();
                    return Ok(0);
                }
                let n = buf.len().min(front.len());
                buf[..n].copy_from_slice(&front[..n]);
                front.drain(..n);
                if front.is_empty() {
                    s.input.pop_front();
                }
                return Ok(n);
            }
            if !s.master_open {
                return Ok(0);
            }
            if !canon && s.termios.cc[VMIN] == 0 {
                return Ok(0);
            }
            Err(Errno::EAGAIN)
        })
        .inspect(|_| self.pty.master_queue.notify(events::ALL))
    }

    fn write(&self, _ctx: &IoCtx, _offset: u64, buf: &[u8]) -> Result<usize, Errno> {
        if let Some(k) = self.pty.kernel() {
            self.pty.job.check_write(&k, || lock(&self.pty.state).termios.lflag & super::tty::TOSTOP != 0)?;
        }
        {
            let mut s = lock(&self.pty.state);
            if !s.master_open {
                return Err(Errno::EIO);
            }
            s.put_output(buf);
        }
        self.pty.master_queue.notify(events::ALL);
        Ok(buf.len())
    }

    fn ioctl(&self, ctx: &IoCtx, request: u64, arg: u64) -> SysResult {
        self.pty.ioctl(false, ctx, request, arg)
    }

    fn readiness(&self, mask: u32) -> u32 {
        let s = lock(&self.pty.state);
        let mut r = events::WRITABLE;
        if !s.input.is_empty() || !s.master_open {
            r |= events::READABLE;
        }
        if !s.master_open {
            r |= events::POLLHUP;
        }
        r & mask
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.pty.slave_queue)
    }

    fn as_any(&self) -> Option<&dyn Any> {
        Some(self)
    }
}
