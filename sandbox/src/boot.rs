//! The Sentry process (`runsc boot`): its confinement.
//!
//! After start-up the Sentry runs in its own namespaces, pivoted into an
//! empty read-only root, with no capabilities and a seccomp allow-list that
//! contains no `open`, no `exec` and no socket creation: files come from the
//! Gofers over already-connected sockets, memory from the memory file
//! created before confinement, application processes from the platform.

use anyhow::Context as _;

use crate::confine;

/// System calls the Sentry needs once confined: the platform (ptrace, wait,
/// signals to its stubs, CPU pinning), threads and memory, I/O on the
/// descriptors it already holds, time.
pub const SENTRY_SYSCALLS: &[i64] = &[
    // Descriptors it already holds (stdio, gofer and control sockets).
    libc::SYS_read,
    libc::SYS_write,
    libc::SYS_readv,
    libc::SYS_writev,
    libc::SYS_pread64,
    libc::SYS_pwrite64,
    libc::SYS_close,
    libc::SYS_fstat,
    libc::SYS_newfstatat,
    libc::SYS_statx,
    libc::SYS_fcntl,
    libc::SYS_dup,
    libc::SYS_ioctl,
    libc::SYS_lseek,
    libc::SYS_accept4,
    libc::SYS_accept,
    libc::SYS_sendmsg,
    libc::SYS_recvmsg,
    libc::SYS_sendto,
    libc::SYS_recvfrom,
    libc::SYS_shutdown,
    libc::SYS_poll,
    libc::SYS_ppoll,
    libc::SYS_epoll_create1,
    libc::SYS_epoll_ctl,
    libc::SYS_epoll_wait,
    libc::SYS_epoll_pwait,
    libc::SYS_eventfd2,
    // The memory file.
    libc::SYS_fallocate,
    libc::SYS_ftruncate,
    libc::SYS_sched_setaffinity,
    libc::SYS_getcpu,
    // The platform.
    libc::SYS_ptrace,
    libc::SYS_wait4,
    libc::SYS_waitid,
    libc::SYS_kill,
    libc::SYS_tgkill,
    // The console's signals, and the watchers of other terminals (see
    // `tty`).
    libc::SYS_rt_sigtimedwait,
    libc::SYS_setsid,
    libc::SYS_getppid,
    libc::SYS_pipe2,
    // Time and randomness.
    libc::SYS_clock_getres,
    libc::SYS_gettimeofday,
];

/// Confines the calling process as a Sentry. Call after the memory file,
/// the platform and every needed host descriptor exist, before running any
/// application code.
pub fn confine_sentry() -> anyhow::Result<()> {
    // glibc's malloc counts CPUs (opening /sys/devices/system/cpu/online)
    // the first time a thread needs a new arena; fix the arena limit now,
    // while files can still be opened, so it never asks.
    let arenas = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) * 8;
    // SAFETY: mallopt only sets a malloc tunable.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, arenas as i32) };
    confine::unshare_namespaces()?;
    confine::pivot_into_empty_root().context("pivoting into an empty root")?;
    confine::restrict_capabilities(&[])?;
    confine::install_seccomp(SENTRY_SYSCALLS)
}

/// Arguments of `runsc boot` (passed by `runsc create`).
#[derive(clap::Args, Debug)]
pub struct BootArgs {
    /// Container id.
    #[arg(long)]
    pub id: String,
    /// Bundle directory (its config.json is read before confinement).
    #[arg(long)]
    pub bundle: std::path::PathBuf,
    /// Inherited listening socket of the control service.
    #[arg(long = "control-fd")]
    pub control_fd: i32,
    /// Inherited pipe on which to report "ok" or "error: ...".
    #[arg(long = "ready-fd")]
    pub ready_fd: i32,
    /// Inherited Gofer sockets: the root first, then the bind mounts in
    /// spec order.
    #[arg(long = "gofer-fd")]
    pub gofer_fds: Vec<i32>,
    /// Inherited file that receives the wait status of the container's
    /// init; the sandbox then exits (see [`crate::exit_file`]).
    #[arg(long = "exit-fd")]
    pub exit_fd: Option<i32>,
}

/// Body of `runsc boot`: builds the kernel and the container, confines the
/// process, reports readiness, then serves the control socket until
/// killed by `runsc delete`.
pub fn run_boot(args: &BootArgs, platform: &str, strace: bool) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::net::{UnixListener, UnixStream};

    let mut ready = std::fs::File::from(confine::inherited_fd(args.ready_fd)?);
    let exit_file = args.exit_fd.map(confine::inherited_fd).transpose()?.map(std::fs::File::from);
    let setup = || -> anyhow::Result<(UnixListener, std::sync::Arc<dyn crate::control::SandboxKernel>)> {
        let listener = UnixListener::from(confine::inherited_fd(args.control_fd)?);
        let gofers = args
            .gofer_fds
            .iter()
            .map(|&fd| confine::inherited_fd(fd).map(UnixStream::from))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let config = crate::oci::load_bundle(&args.bundle)?;
        let kernel = crate::sentry::SentryKernel::boot(&args.id, &config, gofers, platform, strace)?;
        confine_sentry()?;
        Ok((listener, kernel))
    };
    match setup() {
        Ok((listener, kernel)) => {
            ready.write_all(b"ok").context("reporting readiness")?;
            drop(ready);
            if let Some(file) = exit_file {
                crate::exit_file::watch(kernel.clone(), args.id.clone(), file);
            }
            crate::control::serve(listener, kernel);
            Ok(())
        }
        Err(e) => {
            // runsc create prints the error; if it is gone, say it here.
            if write!(ready, "error: {e:#}").is_err() {
                return Err(e);
            }
            std::process::exit(1);
        }
    }
}
