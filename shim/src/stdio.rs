//! Container stdio over the FIFOs containerd hands in.
//!
//! The container gets pipes; the shim copies between them and the FIFOs,
//! so that it controls when containerd sees end-of-file (after the
//! container's output is drained) and can close stdin when containerd's
//! writer closes the stdin FIFO or on `CloseIO`.
//!
//! The sandbox process keeps its copies of the pipes' write ends until the
//! container is deleted, so end-of-file never comes when the container
//! exits. The Sentry writes the application's output to the pipe within the
//! write system call, so once the init's exit is reported all of it is in
//! the pipe: [`StdioCopies::finish`] drains what is there and then closes
//! the FIFOs.
//!
//! A task with a terminal ([`open_terminal`]) gets the slave of a new host
//! pseudo-terminal as its stdin, stdout and stderr instead; the shim
//! copies the stdin FIFO to the master and the master to the stdout FIFO
//! (the stderr FIFO is unused, as with runc). The sandbox keeps the slave
//! open too, so the master never reports end-of-file while it lives:
//! [`StdioCopies::finish`] drains what the terminal holds, waiting
//! [`TERMINAL_SETTLE`] for output still on its way through the line
//! discipline.

use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

use sandbox::container::ContainerStdio;
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

/// The FIFO paths of a task's stdio (empty: none).
#[derive(Clone, Debug, Default)]
pub struct StdioPaths {
    /// Stdin FIFO.
    pub stdin: String,
    /// Stdout FIFO.
    pub stdout: String,
    /// Stderr FIFO.
    pub stderr: String,
}

/// The shim's side of a container's stdio: the copy tasks.
pub struct StdioCopies {
    close_stdin: Option<oneshot::Sender<()>>,
    stdin: Option<JoinHandle<()>>,
    outputs: Vec<JoinHandle<()>>,
    /// Tells the output copies to drain what is buffered and stop.
    drain: watch::Sender<bool>,
}

impl Default for StdioCopies {
    fn default() -> StdioCopies {
        StdioCopies { close_stdin: None, stdin: None, outputs: Vec::new(), drain: watch::channel(false).0 }
    }
}

/// A non-blocking read(2) of the pipe, whatever tokio last saw of its
/// readiness (its `try_read` answers WouldBlock for a pipe it has not yet
/// seen readable, which would lose output not yet noticed).
fn read_now(r: &pipe::Receiver, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for `buf.len()` bytes; the descriptor is open
    // (owned by `r`) and non-blocking.
    let n = unsafe { libc::read(r.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// Copies the container's output pipe `r` to `fifo` until end-of-file, or,
/// once `drain` turns true, until the pipe is empty.
async fn copy_output(mut r: pipe::Receiver, mut fifo: pipe::Sender, mut drain: watch::Receiver<bool>) {
    let mut buf = vec![0u8; 32 * 1024];
    let mut draining = *drain.borrow();
    loop {
        if draining {
            match read_now(&r, &mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if fifo.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::debug!("draining container output: {e}");
                    break;
                }
            }
            continue;
        }
        tokio::select! {
            n = r.read(&mut buf) => match n {
                Ok(0) => break,
                Ok(n) => {
                    if let Err(e) = fifo.write_all(&buf[..n]).await {
                        tracing::debug!("copying container output: {e}");
                        return;
                    }
                }
                Err(e) => {
                    tracing::debug!("reading container output: {e}");
                    break;
                }
            },
            changed = drain.changed() => draining = changed.is_err() || *drain.borrow(),
        }
    }
    let _ = fifo.flush().await;
}

fn new_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both descriptors are open and ours alone.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn dev_null(write: bool) -> io::Result<OwnedFd> {
    Ok(OpenOptions::new().read(!write).write(write).open("/dev/null")?.into())
}

fn with_path(e: io::Error, what: &str, path: &str) -> io::Error {
    io::Error::new(e.kind(), format!("opening {what} {path}: {e}"))
}

/// Opens the FIFOs, starts copying, and returns the descriptors the
/// container gets. Must run inside the tokio runtime.
pub fn open(paths: &StdioPaths) -> io::Result<(ContainerStdio, StdioCopies)> {
    let mut copies = StdioCopies::default();
    let stdin = if paths.stdin.is_empty() {
        dev_null(false)?
    } else {
        let mut fifo = open_stdin_fifo(&paths.stdin)?;
        let (r, w) = new_pipe()?;
        let mut w = pipe::Sender::from_owned_fd(w)?;
        let (tx, mut rx) = oneshot::channel::<()>();
        copies.close_stdin = Some(tx);
        copies.stdin = Some(tokio::spawn(async move {
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                tokio::select! {
                    n = fifo.read(&mut buf) => match n {
                        Ok(0) | Err(_) => return,
                        Ok(n) => if w.write_all(&buf[..n]).await.is_err() { return },
                    },
                    _ = &mut rx => {
                        // Forward what is already buffered, then close.
                        while let Ok(n) = read_now(&fifo, &mut buf) {
                            if n == 0 || w.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                        return;
                    }
                }
            }
        }));
        r
    };
    let mut output = |path: &str, what: &str| -> io::Result<OwnedFd> {
        if path.is_empty() {
            return dev_null(true);
        }
        let fifo = open_output_fifo(path, what)?;
        let (r, w) = new_pipe()?;
        let r = pipe::Receiver::from_owned_fd(r)?;
        copies.outputs.push(tokio::spawn(copy_output(r, fifo, copies.drain.subscribe())));
        Ok(w)
    };
    let stdout = output(&paths.stdout, "stdout FIFO")?;
    let stderr = output(&paths.stderr, "stderr FIFO")?;
    Ok((ContainerStdio { stdin, stdout, stderr }, copies))
}

/// How long draining a terminal waits for more output once the master
/// has none (output written before the process exited may still be on its
/// way from the slave to the master).
pub const TERMINAL_SETTLE: Duration = Duration::from_millis(100);

/// The master of a task's terminal (non-blocking), shared by the copies.
type Master = Arc<AsyncFd<OwnedFd>>;

fn set_nonblocking(fd: &OwnedFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor we own; F_GETFL/F_SETFL take and
    // return plain flags.
    let ok = unsafe {
        let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
        flags >= 0 && libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) >= 0
    };
    if ok {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Reads the master; 0 once no slave is open any more (EIO).
async fn read_master(master: &Master, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        let mut ready = master.readable().await?;
        let r = ready.try_io(|fd| {
            // SAFETY: `buf` is valid for `buf.len()` bytes; the descriptor
            // is open (owned by the AsyncFd) and non-blocking.
            let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            usize::try_from(n).map_err(|_| io::Error::last_os_error())
        });
        match r {
            Ok(Err(e)) if e.raw_os_error() == Some(libc::EIO) => return Ok(0),
            Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
            Ok(r) => return r,
            Err(_would_block) => {}
        }
    }
}

/// Writes all of `data` to the master.
async fn write_master(master: &Master, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        let mut ready = master.writable().await?;
        let r = ready.try_io(|fd| {
            // SAFETY: `data` is valid for `data.len()` bytes; the descriptor
            // is open (owned by the AsyncFd) and non-blocking.
            let n = unsafe { libc::write(fd.as_raw_fd(), data.as_ptr().cast(), data.len()) };
            usize::try_from(n).map_err(|_| io::Error::last_os_error())
        });
        match r {
            Ok(Ok(n)) => data = &data[n..],
            Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
            Ok(Err(e)) => return Err(e),
            Err(_would_block) => {}
        }
    }
    Ok(())
}

/// Copies the terminal's output to `fifo` until no slave is left, or, once
/// `drain` turns true, until the terminal has had nothing more to say for
/// [`TERMINAL_SETTLE`].
async fn copy_terminal_output(master: Master, mut fifo: pipe::Sender, mut drain: watch::Receiver<bool>) {
    let mut buf = vec![0u8; 32 * 1024];
    let mut draining = *drain.borrow();
    loop {
        let n = if draining {
            match tokio::time::timeout(TERMINAL_SETTLE, read_master(&master, &mut buf)).await {
                Ok(n) => n,
                Err(_settled) => break,
            }
        } else {
            tokio::select! {
                n = read_master(&master, &mut buf) => n,
                changed = drain.changed() => {
                    draining = changed.is_err() || *drain.borrow();
                    continue;
                }
            }
        };
        match n {
            Ok(0) => break,
            Ok(n) => {
                if let Err(e) = fifo.write_all(&buf[..n]).await {
                    tracing::debug!("copying terminal output: {e}");
                    return;
                }
            }
            Err(e) => {
                tracing::debug!("reading terminal output: {e}");
                break;
            }
        }
    }
    let _ = fifo.flush().await;
}

/// The shim's handle on a task's terminal: a descriptor of its master.
pub struct Console(OwnedFd);

impl Console {
    /// Sets the terminal's window size (the host sends its foreground
    /// process group SIGWINCH if it changed).
    pub fn resize(&self, rows: u16, cols: u16) -> io::Result<()> {
        use std::os::fd::AsFd;
        sandbox::tty::set_window_size(self.0.as_fd(), rows, cols).map_err(io::Error::other)
    }
}

/// As [`open`], for a task with a terminal: allocates a host
/// pseudo-terminal, starts copying between its master and the FIFOs, and
/// returns the slave as the task's stdio, with the terminal's [`Console`].
/// Must run inside the tokio runtime.
pub fn open_terminal(paths: &StdioPaths) -> io::Result<(ContainerStdio, StdioCopies, Console)> {
    let pty = sandbox::tty::Pty::open().map_err(io::Error::other)?;
    let stdio = pty.slave_stdio().map_err(io::Error::other)?;
    let sandbox::tty::Pty { master, slave } = pty;
    drop(slave);
    let console = Console(master.try_clone()?);
    set_nonblocking(&master)?;
    // SAFETY: an OwnedFd is an open descriptor that stays open, and always
    // the same, until the AsyncFd that owns it drops it.
    let master: Master = Arc::new(unsafe { AsyncFd::register(master) }?);
    let mut copies = StdioCopies::default();
    if !paths.stdin.is_empty() {
        let mut fifo = open_stdin_fifo(&paths.stdin)?;
        let m = master.clone();
        let (tx, mut rx) = oneshot::channel::<()>();
        copies.close_stdin = Some(tx);
        copies.stdin = Some(tokio::spawn(async move {
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                tokio::select! {
                    n = fifo.read(&mut buf) => match n {
                        Ok(0) | Err(_) => return,
                        Ok(n) => if write_master(&m, &buf[..n]).await.is_err() { return },
                    },
                    _ = &mut rx => {
                        // Forward what is already buffered, then stop.
                        while let Ok(n) = read_now(&fifo, &mut buf) {
                            if n == 0 || write_master(&m, &buf[..n]).await.is_err() {
                                break;
                            }
                        }
                        return;
                    }
                }
            }
        }));
    }
    if !paths.stdout.is_empty() {
        let fifo = open_output_fifo(&paths.stdout, "stdout FIFO")?;
        copies.outputs.push(tokio::spawn(copy_terminal_output(master, fifo, copies.drain.subscribe())));
    }
    Ok((stdio, copies, console))
}

/// Opens the stdin FIFO read-only: its end is when containerd's writer
/// closes it (as with runc's shim), or CloseIO. It is read only when epoll
/// reports it readable, and Linux reports a FIFO without writers as hung
/// up only once a writer has come and gone since it was opened: no
/// end-of-file before containerd's writer connects.
fn open_stdin_fifo(path: &str) -> io::Result<pipe::Receiver> {
    pipe::OpenOptions::new().open_receiver(path).map_err(|e| with_path(e, "stdin FIFO", path))
}

fn open_output_fifo(path: &str, what: &str) -> io::Result<pipe::Sender> {
    // Read-write never blocks and never fails for want of a reader.
    pipe::OpenOptions::new().read_write(true).open_sender(path).map_err(|e| with_path(e, what, path))
}

impl StdioCopies {
    /// Closes the container's stdin once what containerd wrote is
    /// forwarded (`CloseIO`).
    pub fn close_stdin(&mut self) {
        if let Some(tx) = self.close_stdin.take() {
            let _ = tx.send(());
        }
    }

    /// After the container exited: copies the output still in the pipes
    /// (for at most `grace`, should containerd not read), then closes the
    /// FIFOs so that containerd sees end-of-file.
    /// Returns whether all output was copied in time.
    pub async fn finish(&mut self, grace: Duration) -> bool {
        self.close_stdin();
        self.drain.send_replace(true);
        let deadline = tokio::time::Instant::now() + grace;
        let mut complete = true;
        for mut task in self.outputs.drain(..) {
            if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                tracing::warn!(
                    "container output not copied within {grace:?} after exit (is containerd reading?); closing it"
                );
                task.abort();
                complete = false;
            }
        }
        if let Some(task) = self.stdin.take() {
            task.abort();
        }
        complete
    }

    /// Stops copying at once (failed create, delete).
    pub fn abort(&mut self) {
        self.close_stdin.take();
        for task in self.outputs.drain(..).chain(self.stdin.take()) {
            task.abort();
        }
    }
}

impl Drop for StdioCopies {
    fn drop(&mut self) {
        self.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[tokio::test]
    async fn output_reaches_the_fifo_and_ends() {
        let dir = std::env::temp_dir().join(format!("shim-stdio-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("out");
        let c = std::ffi::CString::new(out.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let paths = StdioPaths { stdout: out.to_str().unwrap().into(), ..Default::default() };
        let mut reader = std::fs::OpenOptions::new().read(true).custom_flags_nonblock().open(&out).unwrap();
        let (stdio, mut copies) = open(&paths).unwrap();
        let mut w = std::fs::File::from(stdio.stdout);
        w.write_all(b"hello\n").unwrap();
        // The sandbox keeps the write ends open after the container exited:
        // finish drains without waiting for end-of-file (the limit is only
        // hang protection).
        assert!(copies.finish(Duration::from_secs(600)).await, "finish waited for end-of-file");
        drop(w);
        drop(stdio.stdin);
        drop(stdio.stderr);
        set_blocking(&reader);
        let mut got = String::new();
        reader.read_to_string(&mut got).unwrap();
        assert_eq!(got, "hello\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn mkfifo(path: &std::path::Path) {
        let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stdin_ends_when_the_writer_closes_the_fifo() {
        let dir = std::env::temp_dir().join(format!("shim-stdin-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let input = dir.join("in");
        mkfifo(&input);
        let paths = StdioPaths { stdin: input.to_str().unwrap().into(), ..Default::default() };
        // Opened before containerd's writer connects, as at Create.
        let (stdio, _copies) = open(&paths).unwrap();
        let writer = std::fs::OpenOptions::new().write(true).open(&input).unwrap();
        (&writer).write_all(b"abc\n").unwrap();
        drop(writer);
        let mut stdin = std::fs::File::from(stdio.stdin);
        let got = tokio::task::spawn_blocking(move || {
            let mut s = String::new();
            stdin.read_to_string(&mut s).map(|_| s)
        });
        let got = tokio::time::timeout(Duration::from_secs(600), got).await.expect("no end-of-file").unwrap().unwrap();
        assert_eq!(got, "abc\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_terminal_connects_the_fifos_and_resizes() {
        use std::os::fd::AsFd;
        let dir = std::env::temp_dir().join(format!("shim-tty-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (input, out) = (dir.join("in"), dir.join("out"));
        mkfifo(&input);
        mkfifo(&out);
        let paths = StdioPaths {
            stdin: input.to_str().unwrap().into(),
            stdout: out.to_str().unwrap().into(),
            ..Default::default()
        };
        let mut reader = std::fs::OpenOptions::new().read(true).custom_flags_nonblock().open(&out).unwrap();
        let (stdio, mut copies, console) = open_terminal(&paths).unwrap();
        assert!(sandbox::tty::is_terminal(stdio.stdin.as_fd()));
        // What the process writes reaches the stdout FIFO.
        let mut slave_out = std::fs::File::from(stdio.stdout);
        slave_out.write_all(b"hello\n").unwrap();
        // What containerd writes to the stdin FIFO reaches the process.
        std::fs::OpenOptions::new().write(true).open(&input).unwrap().write_all(b"ping\n").unwrap();
        let mut slave_in = std::fs::File::from(stdio.stdin);
        let line = tokio::task::spawn_blocking(move || {
            let mut buf = [0u8; 64];
            let n = slave_in.read(&mut buf).unwrap();
            (String::from_utf8_lossy(&buf[..n]).into_owned(), slave_in)
        });
        let (line, slave_in) = tokio::time::timeout(Duration::from_secs(600), line).await.unwrap().unwrap();
        assert_eq!(line, "ping\n");
        console.resize(20, 70).unwrap();
        assert_eq!(sandbox::tty::window_size(slave_in.as_fd()).unwrap(), (20, 70));
        // The slave stays open (the sandbox keeps it): finish drains.
        assert!(copies.finish(Duration::from_secs(600)).await, "finish waited for end-of-file");
        set_blocking(&reader);
        let mut got = String::new();
        reader.read_to_string(&mut got).unwrap();
        // The terminal translates newlines, and echoes the input.
        assert!(got.contains("hello\r\n"), "{got:?}");
        assert!(got.contains("ping\r\n"), "{got:?}");
        drop((slave_in, slave_out, stdio.stderr));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    trait NonBlock {
        fn custom_flags_nonblock(&mut self) -> &mut Self;
    }
    impl NonBlock for std::fs::OpenOptions {
        fn custom_flags_nonblock(&mut self) -> &mut Self {
            use std::os::unix::fs::OpenOptionsExt;
            self.custom_flags(libc::O_NONBLOCK)
        }
    }

    fn set_blocking(f: &std::fs::File) {
        use std::os::fd::AsRawFd;
        // SAFETY: fcntl on a descriptor we own.
        unsafe {
            let flags = libc::fcntl(f.as_raw_fd(), libc::F_GETFL);
            libc::fcntl(f.as_raw_fd(), libc::F_SETFL, flags & !libc::O_NONBLOCK);
        }
    }
}
