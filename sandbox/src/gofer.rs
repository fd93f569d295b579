//! The Gofer: one host process per container that serves the container's
//! root file system and each of its bind mounts over 9P2000.L, one socket
//! each, to the Sentry.
//!
//! `runsc gofer --serve FD,ro|rw,PATH ...` (the first is the root) runs
//! [`run`]: it opens every served directory, then confines itself before
//! reading a single request: new mount/network/IPC/UTS namespaces,
//! `pivot_root` into the container root, capabilities reduced to what file
//! serving needs, `no_new_privs`, and a seccomp allow-list. It exits when the
//! Sentry has closed every connection.
//!
//! Start-up is reported on `--ready-fd` (as `runsc boot` reports its own):
//! `ok` once confined and serving, or `error: ...` when a served path
//! cannot be opened or confinement fails. [`GoferProcess::started`] reads
//! that answer, so a Gofer that could not start is the error `create`
//! reports, not the broken 9P connection the Sentry sees.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;

use anyhow::{bail, Context as _};
use caps::Capability;

use crate::confine;

/// One directory the Gofer serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoferMount {
    pub host_path: PathBuf,
    pub read_only: bool,
}

/// A `--serve FD,ro|rw,PATH` argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServeArg {
    pub fd: i32,
    pub mount: GoferMount,
}

impl FromStr for ServeArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.splitn(3, ',');
        let (Some(fd), Some(mode), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!("expected FD,ro|rw,PATH, got {s:?}"));
        };
        let fd = fd.parse().map_err(|_| format!("bad descriptor {fd:?}"))?;
        let read_only = match mode {
            "ro" => true,
            "rw" => false,
            other => return Err(format!("bad mode {other:?} (ro or rw)")),
        };
        if !path.starts_with('/') {
            return Err(format!("path {path:?} must be absolute"));
        }
        Ok(ServeArg { fd, mount: GoferMount { host_path: PathBuf::from(path), read_only } })
    }
}

impl std::fmt::Display for ServeArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mode = if self.mount.read_only { "ro" } else { "rw" };
        write!(f, "{},{},{}", self.fd, mode, self.mount.host_path.display())
    }
}

/// Capabilities the Gofer keeps: enough to serve files owned by any user.
const KEEP_CAPS: &[Capability] = &[
    Capability::CAP_CHOWN,
    Capability::CAP_DAC_OVERRIDE,
    Capability::CAP_DAC_READ_SEARCH,
    Capability::CAP_FOWNER,
    Capability::CAP_FSETID,
];

/// System calls the Gofer needs once confined (the 9P server's file
/// operations, socket I/O, threads and memory). No exec, no socket creation,
/// no mount, no ptrace.
const SYSCALLS: &[i64] = &[
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
    libc::SYS_lseek,
    libc::SYS_openat,
    libc::SYS_openat2,
    libc::SYS_mkdirat,
    libc::SYS_mknodat,
    libc::SYS_unlinkat,
    libc::SYS_renameat,
    libc::SYS_renameat2,
    libc::SYS_linkat,
    libc::SYS_symlinkat,
    libc::SYS_readlinkat,
    libc::SYS_fchmod,
    libc::SYS_fchmodat,
    452, // fchmodat2
    libc::SYS_fchown,
    libc::SYS_fchownat,
    libc::SYS_utimensat,
    libc::SYS_ftruncate,
    libc::SYS_fallocate,
    libc::SYS_fsync,
    libc::SYS_fdatasync,
    libc::SYS_fstatfs,
    libc::SYS_getdents64,
    libc::SYS_fcntl,
    libc::SYS_flock,
    libc::SYS_dup,
    libc::SYS_fgetxattr,
    libc::SYS_flistxattr,
    libc::SYS_sendmsg,
    libc::SYS_recvmsg,
    libc::SYS_sendto,
    libc::SYS_recvfrom,
    libc::SYS_shutdown,
    libc::SYS_poll,
    libc::SYS_ppoll,
];

/// What one 9P server of the Gofer serves, opened before confinement.
enum Served {
    /// A directory tree.
    Dir(OwnedFd),
    /// A regular file (a bind mount of a file): its directory and name.
    File { dir: OwnedFd, name: std::ffi::OsString },
}

impl Served {
    /// Opens `path` (symlinks resolved, as a bind mount's source is).
    fn open(path: &std::path::Path) -> anyhow::Result<Served> {
        let real = path.canonicalize().with_context(|| format!("bind mount source {}", path.display()))?;
        if real.is_dir() {
            return Ok(Served::Dir(confine::open_dir(&real)?));
        }
        if !real.is_file() {
            bail!("bind mount source {}: only directories and regular files can be served", path.display());
        }
        let (Some(parent), Some(name)) = (real.parent(), real.file_name()) else {
            bail!("bind mount source {}: no parent directory", path.display());
        };
        Ok(Served::File { dir: confine::open_dir(parent)?, name: name.to_os_string() })
    }
}

/// Body of `runsc gofer`: confine, then serve until every client is gone.
/// Start-up success or failure is written to `ready_fd` when given.
pub fn run(serves: &[ServeArg], ready_fd: Option<i32>) -> anyhow::Result<()> {
    use std::io::Write;
    let mut ready = ready_fd.map(confine::inherited_fd).transpose()?.map(std::fs::File::from);
    let servers = match start(serves) {
        Ok(servers) => servers,
        Err(e) => {
            // The runsc that started us reports it; if it is gone, we do.
            match ready.as_mut().map(|r| write!(r, "error: {e:#}")) {
                Some(Ok(())) => std::process::exit(1),
                _ => return Err(e),
            }
        }
    };
    if let Some(mut r) = ready {
        r.write_all(b"ok").context("reporting readiness")?;
    }
    for handle in servers {
        match handle.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("9P connection ended with an error: {e}"),
            Err(_) => bail!("a 9P server thread panicked"),
        }
    }
    Ok(())
}

type ServerThread = std::thread::JoinHandle<Result<(), gofer_9p::Error>>;

/// Opens what `serves` names, confines the process and starts one 9P
/// server thread per socket.
fn start(serves: &[ServeArg]) -> anyhow::Result<Vec<ServerThread>> {
    let Some(root) = serves.first() else { bail!("nothing to serve: pass --serve FD,ro|rw,PATH") };
    // Take the sockets and open every served directory (or, for a bind
    // mount of a file, its directory) while host paths still resolve.
    let mut jobs: Vec<(Served, UnixStream, bool)> = Vec::new();
    for s in serves {
        let socket = UnixStream::from(confine::inherited_fd(s.fd)?);
        jobs.push((Served::open(&s.mount.host_path)?, socket, s.mount.read_only));
    }

    confine::unshare_namespaces()?;
    confine::pivot_into(&root.mount.host_path)?;
    confine::restrict_capabilities(KEEP_CAPS)?;
    confine::install_seccomp(SYSCALLS)?;
    tracing::debug!(mounts = serves.len(), "gofer confined, serving");

    jobs.into_iter()
        .map(|(served, socket, read_only)| {
            let server = match served {
                Served::Dir(dir) => gofer_9p::Server::new(dir, read_only),
                Served::File { dir, name } => {
                    gofer_9p::Server::new_file(dir, std::os::unix::ffi::OsStrExt::as_bytes(name.as_os_str()), read_only)
                }
            };
            let server = server.context("starting the 9P server")?;
            Ok(std::thread::spawn(move || server.serve(socket)))
        })
        .collect()
}

/// A running Gofer and the Sentry's ends of its sockets (same order as the
/// mounts it was started with).
pub struct GoferProcess {
    pub child: Child,
    pub sockets: Vec<UnixStream>,
    /// The read end of the Gofer's `--ready-fd`.
    ready: std::fs::File,
}

impl GoferProcess {
    /// Waits for the Gofer's start-up report: `Ok` once it serves, its
    /// own error if it could not start (it has exited then), or an error
    /// saying it died. Call it after handing the sockets on (or dropping
    /// them), so that a Gofer stuck on a peer cannot block it.
    pub fn started(&mut self) -> anyhow::Result<()> {
        use std::io::Read;
        let mut answer = String::new();
        let _ = self.ready.read_to_string(&mut answer);
        match answer.as_str() {
            "ok" => Ok(()),
            _ => {
                let _ = self.child.kill();
                let status = self.child.wait();
                match answer.strip_prefix("error: ") {
                    Some(why) => bail!("the Gofer could not start: {why}"),
                    None => {
                        bail!("the Gofer died while starting ({})", status.map(|s| s.to_string()).unwrap_or_default())
                    }
                }
            }
        }
    }
}

/// Starts `runsc gofer` (the binary at `runsc`) serving `mounts`; the first
/// is the container's root.
pub fn spawn(runsc: &Path, mounts: &[GoferMount], debug: bool) -> anyhow::Result<GoferProcess> {
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for _ in mounts {
        let (a, b) = UnixStream::pair().context("creating a gofer socket pair")?;
        ours.push(a);
        theirs.push(b);
    }
    let mut cmd = Command::new(runsc);
    if debug {
        cmd.arg("--debug");
    }
    let (ready, ready_w) = confine::pipe().context("creating the Gofer's ready pipe")?;
    cmd.arg("gofer").arg("--ready-fd").arg(ready_w.as_raw_fd().to_string());
    for (m, s) in mounts.iter().zip(&theirs) {
        cmd.arg("--serve").arg(ServeArg { fd: s.as_raw_fd(), mount: m.clone() }.to_string());
    }
    let mut fds: Vec<i32> = theirs.iter().map(|s| s.as_raw_fd()).collect();
    fds.push(ready_w.as_raw_fd());
    cmd.stdin(Stdio::null());
    // SAFETY: the closure only calls fcntl (async-signal-safe) on
    // descriptors that stay open in the parent until spawn returns.
    unsafe {
        cmd.pre_exec(move || {
            for &fd in &fds {
                confine::keep_across_exec(fd)?;
            }
            Ok(())
        });
    }
    let child = cmd.spawn().with_context(|| format!("starting {} gofer", runsc.display()))?;
    drop(theirs);
    drop(ready_w);
    Ok(GoferProcess { child, sockets: ours, ready })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_arguments_round_trip_and_reject_garbage() {
        let a: ServeArg = "5,ro,/var/lib/x,y".parse().unwrap();
        assert_eq!(a.fd, 5);
        assert!(a.mount.read_only);
        assert_eq!(a.mount.host_path, PathBuf::from("/var/lib/x,y"));
        assert_eq!(a.to_string().parse::<ServeArg>().unwrap(), a);
        for bad in ["", "5", "5,rx,/a", "x,ro,/a", "5,rw,relative"] {
            assert!(bad.parse::<ServeArg>().is_err(), "{bad:?} accepted");
        }
    }
}
