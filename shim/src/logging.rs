//! Logging through `tracing`: to the `log` FIFO containerd creates in the
//! bundle while serving, to stderr (which containerd records) for the
//! `start` and `delete` actions. The `containerd-shim` crate's `log`
//! records are forwarded to the same place.

use std::fs::OpenOptions;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::Mutex;

use tracing_subscriber::EnvFilter;

fn filter(debug: bool) -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(if debug { "debug" } else { "info" }))
}

/// Logs to stderr.
pub fn init_stderr(debug: bool) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter(debug))
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Logs to the `log` FIFO in the working directory (the bundle), or to
/// stderr if there is none.
pub fn init_fifo(debug: bool) {
    // Read-write and non-blocking: opening never waits for containerd's
    // reader, and a stalled reader loses log lines rather than hanging
    // the shim.
    match OpenOptions::new().read(true).write(true).custom_flags(libc::O_NONBLOCK).open("log") {
        Ok(f) => {
            // The shim's stderr too: what its children (Gofers) and the
            // sandbox library print there lands in containerd's log rather
            // than nowhere.
            // SAFETY: dup2 onto fd 2 of a descriptor we own; fd 2 stays open.
            if unsafe { libc::dup2(f.as_raw_fd(), libc::STDERR_FILENO) } < 0 {
                tracing::debug!("redirecting stderr to the log FIFO: {}", std::io::Error::last_os_error());
            }
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter(debug))
                .with_ansi(false)
                .with_writer(Mutex::new(f))
                .try_init();
        }
        Err(_) => init_stderr(debug),
    }
}
