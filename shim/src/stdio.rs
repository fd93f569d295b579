//! Container stdio over the FIFOs containerd hands in.
//!
//! The container gets pipes; the shim copies between them and the FIFOs,
//! so that it controls when containerd sees end-of-file (after the
//! container's output is drained) and can close stdin on `CloseIO`.
//!
//! The sandbox process keeps its copies of the pipes' write ends until the
//! container is deleted, so end-of-file never comes when the container
//! exits. The Sentry writes the application's output to the pipe within the
//! write system call, so once the init's exit is reported all of it is in
//! the pipe: [`StdioCopies::finish`] drains what is there and then closes
//! the FIFOs.

use std::fs::OpenOptions;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::time::Duration;

use sandbox::container::ContainerStdio;
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
    use std::os::fd::AsRawFd;
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
        // Read-write, so that the FIFO does not report end-of-file before
        // containerd's writer connects; the end of stdin is CloseIO.
        let mut fifo = pipe::OpenOptions::new()
            .read_write(true)
            .open_receiver(&paths.stdin)
            .map_err(|e| with_path(e, "stdin FIFO", &paths.stdin))?;
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
                        while let Ok(n) = fifo.try_read(&mut buf) {
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
        // Read-write never blocks and never fails for want of a reader.
        let fifo = pipe::OpenOptions::new().read_write(true).open_sender(path).map_err(|e| with_path(e, what, path))?;
        let (r, w) = new_pipe()?;
        let r = pipe::Receiver::from_owned_fd(r)?;
        copies.outputs.push(tokio::spawn(copy_output(r, fifo, copies.drain.subscribe())));
        Ok(w)
    };
    let stdout = output(&paths.stdout, "stdout FIFO")?;
    let stderr = output(&paths.stderr, "stderr FIFO")?;
    Ok((ContainerStdio { stdin, stdout, stderr }, copies))
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
