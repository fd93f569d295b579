//! Terminals: the runtime's side (runc's `--console-socket` protocol, the
//! caller's own terminal for `runsc run`) and the Sentry's side of a
//! container console.
//!
//! # The runtime
//!
//! A container (or exec'd process) whose `process.terminal` is set gets a
//! host pseudo-terminal, allocated by the runtime before the sandbox is
//! confined ([`Pty::open`]). As with runc, its master goes to whoever
//! listens on the `--console-socket`: one `sendmsg` whose only descriptor
//! is the master and whose payload is the master's name, `/dev/ptmx`
//! ([`send_master`]); the slave becomes the process's stdin, stdout and
//! stderr. `runsc run` in the foreground without a socket keeps the master
//! itself and relays it to its own stdio, with its own terminal (if stdin
//! is one) in raw mode and its window size copied on SIGWINCH
//! ([`Relay`]). [`check_console_options`] refuses what runc refuses.
//!
//! # The Sentry
//!
//! The Sentry process leads its own host session (`runsc create` starts
//! it with `setsid`). With a console it makes the console its host
//! controlling terminal, so it is the terminal's host foreground process
//! group: the host line discipline sends it SIGINT, SIGQUIT and SIGTSTP for
//! `^C`, `^\` and `^Z`, SIGWINCH when the size changes and SIGHUP when the
//! other end goes away ([`SentryConsole::claim`]). Those signals are
//! blocked in every Sentry thread (and in the platform's stub processes,
//! which inherit the mask, so a terminal signal never stops or kills one),
//! and one thread takes them with `sigwaitinfo` and hands them to the
//! sandbox kernel, which sends them to the sandbox's foreground process
//! group ([`SentryConsole::attach`]). No signal handler runs: nothing
//! async-signal-unsafe can happen. SIGTTIN and SIGTTOU are blocked too, so
//! the Sentry's own terminal I/O never stops it.
//!
//! A process can have one controlling terminal only, so the terminal of a
//! process started later with one (`exec --tty`) gets a
//! [`TerminalWatcher`]: a small child of the Sentry (confined like it)
//! that leads a host session with that terminal, takes its signals with
//! `sigwaitinfo` and passes their numbers to the Sentry through a pipe.
//!
//! Every raw call of this module is here, each with its safety argument.

use std::io::{IoSlice, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use anyhow::bail;

use crate::container::ContainerStdio;

/// Errors of terminal set-up.
#[derive(Debug, thiserror::Error)]
pub enum TtyError {
    #[error("allocating a pseudo-terminal: {0}")]
    Allocate(std::io::Error),
    #[error("console socket {path}: {source}")]
    Socket { path: PathBuf, source: std::io::Error },
    #[error("{what}: {source}")]
    Host { what: &'static str, source: std::io::Error },
}

fn host(what: &'static str) -> TtyError {
    TtyError::Host { what, source: std::io::Error::last_os_error() }
}

/// What runc sends as the payload with the master: its file's name.
pub const MASTER_NAME: &str = "/dev/ptmx";

/// A host pseudo-terminal pair.
pub struct Pty {
    pub master: OwnedFd,
    pub slave: OwnedFd,
}

impl Pty {
    /// Allocates a pair (`posix_openpt`, `grantpt`, `unlockpt`, then the
    /// slave through `TIOCGPTPEER`). Neither end becomes this process's
    /// controlling terminal.
    pub fn open() -> Result<Pty, TtyError> {
        let alloc = || TtyError::Allocate(std::io::Error::last_os_error());
        // SAFETY: posix_openpt returns a new descriptor or -1.
        let m = unsafe { libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) };
        if m < 0 {
            return Err(alloc());
        }
        // SAFETY: `m` is a fresh descriptor owned by nobody else.
        let master = unsafe { OwnedFd::from_raw_fd(m) };
        // SAFETY: grantpt and unlockpt act on the master descriptor only.
        if unsafe { libc::grantpt(m) } < 0 || unsafe { libc::unlockpt(m) } < 0 {
            return Err(alloc());
        }
        // SAFETY: TIOCGPTPEER takes open flags by value and returns a new
        // descriptor for the slave (no path lookup, so no race on the name).
        let s = unsafe { libc::ioctl(m, libc::TIOCGPTPEER, libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) };
        if s < 0 {
            return Err(alloc());
        }
        // SAFETY: `s` is a fresh descriptor owned by nobody else.
        let slave = unsafe { OwnedFd::from_raw_fd(s) };
        Ok(Pty { master, slave })
    }

    /// Three descriptors of the slave: a container's stdin, stdout and
    /// stderr.
    pub fn slave_stdio(&self) -> Result<ContainerStdio, TtyError> {
        let dup = || self.slave.try_clone().map_err(|source| TtyError::Host { what: "duplicating the slave", source });
        Ok(ContainerStdio { stdin: dup()?, stdout: dup()?, stderr: dup()? })
    }
}

/// Sends `master` to the listener on `socket` as runc does: one message
/// with [`MASTER_NAME`] as data and the master as its only descriptor.
pub fn send_master(socket: &Path, master: BorrowedFd<'_>) -> Result<(), TtyError> {
    let fail = |source| TtyError::Socket { path: socket.to_path_buf(), source };
    let stream = UnixStream::connect(socket).map_err(fail)?;
    send_with_fd(&stream, MASTER_NAME.as_bytes(), master.as_raw_fd()).map_err(fail)
}

/// Receives what [`send_master`] sends, as a console-socket listener
/// (runc's `recvtty`, containerd) does: the message's text and its one
/// descriptor.
pub fn recv_master(conn: &UnixStream) -> Result<(String, OwnedFd), TtyError> {
    let fail = |what| TtyError::Host { what, source: std::io::Error::last_os_error() };
    let mut data = [0u8; 4096];
    let mut control = [0u64; 8];
    let mut iov = [std::io::IoSliceMut::new(&mut data)];
    // SAFETY: msghdr is plain data pointing at `iov` and `control`, live
    // for the call with their true lengths; the kernel writes at most that
    // much. The CMSG macros stay within `control`.
    let (n, cmsg) = unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = iov.as_mut_ptr() as *mut libc::iovec;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control) as _;
        let n = libc::recvmsg(conn.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC);
        (n, if n < 0 { std::ptr::null() } else { libc::CMSG_FIRSTHDR(&msg).cast_const() })
    };
    if n < 0 {
        return Err(fail("receiving a terminal master"));
    }
    if cmsg.is_null() {
        return Err(TtyError::Host {
            what: "receiving a terminal master",
            source: std::io::ErrorKind::InvalidData.into(),
        });
    }
    // SAFETY: `cmsg` points into `control`, filled by the kernel above.
    let (level, typ, len) = unsafe { ((*cmsg).cmsg_level, (*cmsg).cmsg_type, (*cmsg).cmsg_len) };
    // SAFETY: CMSG_LEN is a pure size computation.
    let header = unsafe { libc::CMSG_LEN(0) } as usize;
    let count = len.saturating_sub(header) / std::mem::size_of::<RawFd>();
    // SAFETY: the kernel wrote `count` descriptors after the header.
    let fds: Vec<OwnedFd> = (0..count)
        .map(|i| unsafe {
            let p = (libc::CMSG_DATA(cmsg) as *const RawFd).add(i);
            OwnedFd::from_raw_fd(std::ptr::read_unaligned(p))
        })
        .collect();
    if (level, typ) != (libc::SOL_SOCKET, libc::SCM_RIGHTS) || fds.len() != 1 {
        return Err(TtyError::Host {
            what: "receiving a terminal master (expected one descriptor)",
            source: std::io::ErrorKind::InvalidData.into(),
        });
    }
    let text = String::from_utf8_lossy(&data[..n as usize]).into_owned();
    Ok((text, fds.into_iter().next().expect("one descriptor")))
}

/// Allocates a terminal for a process, sends its master to `socket` and
/// returns the slave (for the process's stdio): what `runsc create`, `run
/// -d` and `exec --tty` do with `--console-socket`.
pub fn new_console(socket: &Path) -> anyhow::Result<OwnedFd> {
    let pty = Pty::open()?;
    send_master(socket, pty.master.as_fd())?;
    Ok(pty.slave)
}

fn send_with_fd(stream: &UnixStream, data: &[u8], fd: RawFd) -> std::io::Result<()> {
    let iov = [IoSlice::new(data)];
    let fd_len = std::mem::size_of::<RawFd>();
    // SAFETY: CMSG_SPACE is a pure size computation.
    let space = unsafe { libc::CMSG_SPACE(fd_len as u32) } as usize;
    // u64 elements keep the buffer aligned for `cmsghdr`.
    let mut control = vec![0u64; space.div_ceil(8)];
    // SAFETY: msghdr is plain data; its pointers refer to `iov` and
    // `control`, live for the call, with their true lengths; the CMSG
    // macros stay within `control` (sized with CMSG_SPACE for one fd).
    let n = unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = iov.as_ptr() as *mut libc::iovec;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = space as _;
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(fd_len as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg) as *mut RawFd, fd);
        libc::sendmsg(stream.as_raw_fd(), &msg, libc::MSG_NOSIGNAL)
    };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    if n as usize != data.len() {
        return Err(std::io::Error::new(std::io::ErrorKind::WriteZero, "console message cut short"));
    }
    Ok(())
}

/// runc's rules for a terminal and a console socket: a process that
/// outlives the command (`create`, `run -d`, `exec -d`) needs the socket
/// to get a terminal; the socket makes sense only then.
pub fn check_console_options(terminal: bool, detach: bool, console_socket: Option<&Path>) -> anyhow::Result<()> {
    if detach && terminal && console_socket.is_none() {
        bail!("cannot allocate tty if runc will detach without setting console socket");
    }
    if (!detach || !terminal) && console_socket.is_some() {
        bail!("cannot use console socket if runc will not detach or allocate tty");
    }
    Ok(())
}

/// Whether `fd` is a terminal.
pub fn is_terminal(fd: BorrowedFd<'_>) -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(fd.as_raw_fd()) == 1 }
}

/// The window size (rows, columns) of terminal `fd`.
pub fn window_size(fd: BorrowedFd<'_>) -> Result<(u16, u16), TtyError> {
    // SAFETY: zeroed winsize is a valid value of a plain C struct.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes one winsize into `ws`.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) } < 0 {
        return Err(host("TIOCGWINSZ"));
    }
    Ok((ws.ws_row, ws.ws_col))
}

/// Sets the window size of terminal `fd`.
pub fn set_window_size(fd: BorrowedFd<'_>, rows: u16, cols: u16) -> Result<(), TtyError> {
    let ws = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCSWINSZ reads one winsize from `ws`.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) } < 0 {
        return Err(host("TIOCSWINSZ"));
    }
    Ok(())
}

/// A terminal put in raw mode, restored when dropped.
pub struct RawMode {
    fd: RawFd,
    saved: libc::termios,
}

impl RawMode {
    /// Puts terminal `fd` (which must outlive the guard) in raw mode.
    pub fn enable(fd: BorrowedFd<'_>) -> Result<RawMode, TtyError> {
        // SAFETY: zeroed termios is a valid value of a plain C struct.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: tcgetattr fills `t`.
        if unsafe { libc::tcgetattr(fd.as_raw_fd(), &mut t) } < 0 {
            return Err(host("tcgetattr"));
        }
        let saved = t;
        // SAFETY: cfmakeraw edits `t` in place; tcsetattr reads it.
        unsafe {
            libc::cfmakeraw(&mut t);
            if libc::tcsetattr(fd.as_raw_fd(), libc::TCSANOW, &t) < 0 {
                return Err(host("tcsetattr"));
            }
        }
        Ok(RawMode { fd: fd.as_raw_fd(), saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: restores the settings read in `enable` on the same
        // descriptor, which outlives the guard.
        unsafe { libc::tcsetattr(self.fd, libc::TCSANOW, &self.saved) };
    }
}

/// A set of host signals.
#[derive(Clone, Copy)]
struct SignalSet(libc::sigset_t);

impl SignalSet {
    fn of(signals: &[i32]) -> SignalSet {
        // SAFETY: zeroed sigset_t is valid storage; sigemptyset and
        // sigaddset only write into it (the signal numbers are valid).
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for &s in signals {
                libc::sigaddset(&mut set, s);
            }
            SignalSet(set)
        }
    }

    /// Blocks the set in the calling thread (and the threads it starts).
    fn block(&self) -> Result<(), TtyError> {
        // SAFETY: changes the calling thread's mask from a valid set.
        let r = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &self.0, std::ptr::null_mut()) };
        if r != 0 {
            return Err(TtyError::Host { what: "blocking signals", source: std::io::Error::from_raw_os_error(r) });
        }
        Ok(())
    }

    /// Waits for one of the (blocked) signals of the set.
    fn wait(&self) -> std::io::Result<i32> {
        loop {
            // SAFETY: waits for a signal of a valid set; no siginfo wanted.
            let r = unsafe { libc::sigwaitinfo(&self.0, std::ptr::null_mut()) };
            if r > 0 {
                return Ok(r);
            }
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINTR) {
                return Err(e);
            }
        }
    }
}

/// Signals the host terminal sends its foreground process group, which
/// the Sentry forwards into the sandbox.
const FORWARDED: [i32; 5] = [libc::SIGINT, libc::SIGQUIT, libc::SIGTSTP, libc::SIGWINCH, libc::SIGHUP];

/// The Sentry's host side of a container console (see the module
/// documentation).
pub struct SentryConsole {
    signals: SignalSet,
}

impl SentryConsole {
    /// If stdin is a terminal: blocks the terminal's signals in the calling
    /// thread (call it before the Sentry starts any thread, so they all
    /// inherit the mask) and makes the terminal this process's controlling
    /// terminal (the process leads a session without one). `None` if stdin
    /// is no terminal, or (logged) one this process cannot control: the
    /// container then runs without the terminal's signals.
    pub fn claim() -> Result<Option<SentryConsole>, TtyError> {
        if !is_terminal(std::io::stdin().as_fd()) {
            return Ok(None);
        }
        let mut all = FORWARDED.to_vec();
        all.extend([libc::SIGTTIN, libc::SIGTTOU]);
        SignalSet::of(&all).block()?;
        // SAFETY: TIOCSCTTY takes an integer argument (0: do not steal it
        // from another session).
        if unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) } < 0 {
            let e = host("making the console the Sentry's controlling terminal");
            tracing::warn!(error = %e, "the container's terminal sends it no signals");
            return Ok(None);
        }
        Ok(Some(SentryConsole { signals: SignalSet::of(&FORWARDED) }))
    }

    /// Makes the terminal `kernel`'s console and starts forwarding the
    /// terminal's signals to it. The forwarding thread runs for the life of
    /// the process.
    pub fn attach(self, kernel: &sentry_core::Kernel) -> anyhow::Result<()> {
        let console = std::io::stdin().as_fd().try_clone_to_owned()?;
        kernel.set_console(console).map_err(|e| anyhow::anyhow!("setting up the console: {e}"))?;
        let kernel = kernel.clone();
        let signals = self.signals;
        std::thread::Builder::new().name("console-signals".into()).spawn(move || loop {
            match signals.wait() {
                Ok(sig) => kernel.console_signal(sig),
                Err(e) => {
                    tracing::error!(error = %e, "console signals: sigwaitinfo failed; no longer forwarded");
                    return;
                }
            }
        })?;
        Ok(())
    }
}

/// A helper host process receiving the signals of a host terminal other
/// than the console, for the Sentry (see the module documentation). It is
/// killed when dropped, and dies with the thread that started it.
pub struct TerminalWatcher {
    pid: libc::pid_t,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl TerminalWatcher {
    /// Starts a watcher of terminal `tty` that calls `on_signal` for each
    /// signal the terminal sends it. Start it from a thread that lives as
    /// long as the watcher should (`PR_SET_PDEATHSIG`).
    pub fn start(tty: BorrowedFd<'_>, on_signal: impl Fn(i32) + Send + 'static) -> Result<TerminalWatcher, TtyError> {
        let (mut from, to) = crate::confine::pipe().map_err(|e| TtyError::Host {
            what: "creating the watcher's pipe",
            source: std::io::Error::other(format!("{e:#}")),
        })?;
        let mut all = FORWARDED.to_vec();
        all.extend([libc::SIGTTIN, libc::SIGTTOU]);
        let (block, wanted) = (SignalSet::of(&all), SignalSet::of(&FORWARDED));
        // SAFETY: getpid has no arguments and cannot fail.
        let parent = unsafe { libc::getpid() };
        // SAFETY: the child runs only `watch`, which makes raw system calls
        // on values prepared here (no allocation, no locks), as a forked
        // child of a multi-threaded process must.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(host("forking a terminal watcher"));
        }
        if pid == 0 {
            watch(tty.as_raw_fd(), to.as_raw_fd(), from.as_raw_fd(), &block, &wanted, parent);
        }
        drop(to);
        // Killed and reaped on the error paths below.
        let mut watcher = TerminalWatcher { pid, reader: None };
        let mut status = [0u8; 4];
        from.read_exact(&mut status)
            .map_err(|source| TtyError::Host { what: "starting a terminal watcher", source })?;
        let status = i32::from_ne_bytes(status);
        if status != 0 {
            let source = std::io::Error::from_raw_os_error(-status);
            return Err(TtyError::Host { what: "making the terminal a watcher's controlling terminal", source });
        }
        let reader = std::thread::Builder::new()
            .name("tty-watcher".into())
            .spawn(move || {
                let mut sig = [0u8; 4];
                while from.read_exact(&mut sig).is_ok() {
                    on_signal(i32::from_ne_bytes(sig));
                }
            })
            .map_err(|source| TtyError::Host { what: "starting a terminal watcher's reader", source })?;
        watcher.reader = Some(reader);
        Ok(watcher)
    }
}

impl Drop for TerminalWatcher {
    fn drop(&mut self) {
        // SAFETY: signals and reaps our own child.
        unsafe {
            libc::kill(self.pid, libc::SIGKILL);
            libc::waitpid(self.pid, std::ptr::null_mut(), 0);
        }
        // Its end of the pipe is closed now: the reader ends.
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

/// The watcher's body, in the forked child: lead a new session with `tty`
/// as its controlling terminal, report the outcome (0 or -errno) on `to`,
/// then write the number of every signal of `wanted` it gets. Makes raw
/// system calls only.
fn watch(tty: RawFd, to: RawFd, from: RawFd, block: &SignalSet, wanted: &SignalSet, parent: libc::pid_t) -> ! {
    // SAFETY: async-signal-safe calls on descriptors and sets prepared
    // before the fork; the process ends with `_exit` and never returns
    // into Rust code of the parent's threads.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        if libc::getppid() != parent {
            libc::_exit(0);
        }
        libc::close(from);
        libc::sigprocmask(libc::SIG_BLOCK, &block.0, std::ptr::null_mut());
        let mut status: i32 = 0;
        if libc::setsid() < 0 || libc::ioctl(tty, libc::TIOCSCTTY, 0) < 0 {
            status = -*libc::__errno_location();
        }
        libc::write(to, (&status as *const i32).cast(), 4);
        if status != 0 {
            libc::_exit(1);
        }
        libc::close(tty);
        loop {
            let sig = libc::syscall(libc::SYS_rt_sigtimedwait, &wanted.0, 0usize, 0usize, 8usize) as i32;
            if sig > 0 {
                if libc::write(to, (&sig as *const i32).cast(), 4) != 4 {
                    libc::_exit(0);
                }
            } else if *libc::__errno_location() != libc::EINTR {
                libc::_exit(1);
            }
        }
    }
}

/// The terminal of an exec'd process, watched for the signals its line
/// discipline sends (see the module documentation) while this lives.
pub struct ExecTerminal {
    tty: std::sync::Arc<sentry_core::fs::host_tty::HostTty>,
    _watcher: TerminalWatcher,
}

impl ExecTerminal {
    /// Watches host terminal `fd`, which a process of `kernel` has; `None`
    /// (logged) if that cannot be done: the process then runs without its
    /// terminal's signals.
    pub fn watch(kernel: &sentry_core::Kernel, fd: OwnedFd) -> Option<ExecTerminal> {
        let tty = kernel.host_terminal(fd.as_fd())?;
        let target = tty.clone();
        match TerminalWatcher::start(fd.as_fd(), move |sig| target.host_signal(sig)) {
            Ok(w) => {
                tty.set_host_controlled(true);
                Some(ExecTerminal { tty, _watcher: w })
            }
            Err(e) => {
                tracing::warn!(error = %e, "no signals from an exec'd process's terminal");
                None
            }
        }
    }
}

impl Drop for ExecTerminal {
    fn drop(&mut self) {
        self.tty.set_host_controlled(false);
    }
}

/// `runsc run` in the foreground with a terminal and no console socket:
/// relays between this process's stdio and the container's terminal, as
/// runc does.
pub struct Relay {
    _raw: Option<RawMode>,
    output: Option<std::thread::JoinHandle<()>>,
}

impl Relay {
    /// Starts relaying `master` (whose slave the container has): stdin to
    /// the master, the master to stdout. If stdin is a terminal it is put
    /// in raw mode (the container's terminal does the line editing) and its
    /// window size is copied to the container's now and on every SIGWINCH.
    /// Call before this process starts other threads.
    pub fn start(master: OwnedFd) -> Result<Relay, TtyError> {
        let stdin = std::io::stdin();
        let tty_in = is_terminal(stdin.as_fd());
        let raw = if tty_in {
            if let Ok((rows, cols)) = window_size(stdin.as_fd()) {
                set_window_size(master.as_fd(), rows, cols)?;
            }
            let winch = SignalSet::of(&[libc::SIGWINCH]);
            winch.block()?;
            let m = master.try_clone().map_err(|source| TtyError::Host { what: "duplicating the master", source })?;
            std::thread::spawn(move || {
                while winch.wait().is_ok() {
                    if let Ok((rows, cols)) = window_size(std::io::stdin().as_fd()) {
                        let _ = set_window_size(m.as_fd(), rows, cols);
                    }
                }
            });
            Some(RawMode::enable(stdin.as_fd())?)
        } else {
            None
        };
        let input = master.try_clone().map_err(|source| TtyError::Host { what: "duplicating the master", source })?;
        std::thread::spawn(move || {
            let mut to = std::fs::File::from(input);
            let mut buf = [0u8; 4096];
            let mut from = std::io::stdin().lock();
            while let Ok(n) = from.read(&mut buf) {
                if n == 0 || to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        });
        let output = std::thread::spawn(move || {
            let mut from = std::fs::File::from(master);
            let mut buf = [0u8; 4096];
            let mut to = std::io::stdout().lock();
            // Ends with EIO once every slave descriptor is closed.
            while let Ok(n) = from.read(&mut buf) {
                if n == 0 || to.write_all(&buf[..n]).and_then(|()| to.flush()).is_err() {
                    break;
                }
            }
        });
        Ok(Relay { _raw: raw, output: Some(output) })
    }

    /// Waits for the container's output to be copied (call once every
    /// holder of the slave is gone) and restores this process's terminal.
    pub fn finish(mut self) {
        if let Some(t) = self.output.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_options_follow_runc() {
        let s = Some(Path::new("/tmp/sock"));
        assert!(check_console_options(true, true, s).is_ok());
        assert!(check_console_options(false, true, None).is_ok());
        assert!(check_console_options(true, false, None).is_ok());
        assert!(check_console_options(false, false, None).is_ok());
        let e = check_console_options(true, true, None).unwrap_err().to_string();
        assert!(e.contains("cannot allocate tty"), "{e}");
        for (t, d) in [(false, true), (true, false), (false, false)] {
            let e = check_console_options(t, d, s).unwrap_err().to_string();
            assert!(e.contains("cannot use console socket"), "{e}");
        }
    }

    #[test]
    fn the_master_travels_like_runc_sends_it() {
        let dir = std::env::temp_dir().join(format!("rvisor-tty-unit-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("console.sock");
        let _ = std::fs::remove_file(&path);
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let slave = new_console(&path).unwrap();
        let (conn, _) = listener.accept().unwrap();
        let (name, master) = recv_master(&conn).unwrap();
        assert_eq!(name, MASTER_NAME);
        // The received master drives the returned slave.
        let mut m = std::fs::File::from(master);
        set_window_size(slave.as_fd(), 33, 101).unwrap();
        assert_eq!(window_size(m.as_fd()).unwrap(), (33, 101));
        m.write_all(b"ping\n").unwrap();
        let mut s = std::fs::File::from(slave);
        let mut buf = [0u8; 16];
        let n = s.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"ping\n");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
