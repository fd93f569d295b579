//! The container runtime the task service drives, free of protobuf types:
//! the [`ContainerRuntime`] trait and its implementation over the
//! `sandbox` library ([`RunscRuntime`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub use sandbox::container::ExecProcess;
use sandbox::container::{ContainerStdio, Runtime};
use sandbox::state::{StateDir, StateError};

use crate::config::RunscConfig;

/// Where the shim keeps runsc state by default: one root per containerd
/// namespace, as gVisor's shim does.
pub const DEFAULT_ROOT_BASE: &str = "/run/containerd/runsc";

/// Errors of the runtime, classified for the ttrpc status they map to.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The container (or process) does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request is malformed.
    #[error("{0}")]
    InvalidArgument(String),
    /// The container is not in a state that allows the request.
    #[error("{0}")]
    FailedPrecondition(String),
    /// A feature runsc does not have yet.
    #[error("{0}")]
    NotSupported(String),
    /// Anything else, with its cause chain.
    #[error("{0:#}")]
    Other(anyhow::Error),
}

impl From<anyhow::Error> for RuntimeError {
    fn from(e: anyhow::Error) -> RuntimeError {
        match e.downcast_ref::<StateError>() {
            Some(StateError::NotFound(_)) => RuntimeError::NotFound(format!("{e:#}")),
            Some(StateError::InvalidId(_)) => RuntimeError::InvalidArgument(format!("{e:#}")),
            Some(StateError::Exists(_)) => RuntimeError::FailedPrecondition(format!("{e:#}")),
            _ => RuntimeError::Other(e),
        }
    }
}

/// Result of runtime calls.
pub type Result<T> = std::result::Result<T, RuntimeError>;

/// What the shim needs to create one container.
pub struct CreateParams<'a> {
    /// Container id.
    pub id: &'a str,
    /// OCI bundle directory.
    pub bundle: &'a Path,
    /// runsc settings from the runtime options.
    pub config: RunscConfig,
    /// The container's stdio.
    pub stdio: ContainerStdio,
}

/// The status of a container as the runtime sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Created, not started.
    Created,
    /// Running.
    Running,
    /// Paused.
    Paused,
    /// Exited (or its sandbox is gone).
    Stopped,
}

/// A container's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct State {
    /// Lifecycle status.
    pub status: Status,
    /// Host pid of the sandbox process serving it (0 once stopped).
    pub pid: u32,
}

/// A process inside the sandbox, as `ps` inside would show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SandboxProcess {
    /// Its pid in the sandbox (the init is 1).
    pub pid: u32,
    /// Its parent's pid in the sandbox.
    pub ppid: u32,
    /// Its user.
    pub uid: u32,
    /// Its command name.
    pub cmd: String,
}

/// The lifecycle operations the task service needs. All calls may block
/// (the service runs them on tokio's blocking pool).
pub trait ContainerRuntime: Send + Sync + 'static {
    /// Creates container `id`; returns the host pid of its sandbox process.
    fn create(&self, params: CreateParams<'_>) -> Result<u32>;
    /// Starts a created container.
    fn start(&self, id: &str) -> Result<()>;
    /// The container's current state.
    fn state(&self, id: &str) -> Result<State>;
    /// Signals the container's init (or, with `all`, all its processes).
    fn kill(&self, id: &str, signo: i32, all: bool) -> Result<()>;
    /// Blocks until the container's init exits; its wait(2) status.
    fn wait(&self, id: &str) -> Result<i32>;
    /// Removes the container, killing what is left of it (`runsc delete
    /// --force`); succeeds if it is already gone.
    fn delete(&self, id: &str) -> Result<()>;
    /// The processes inside the container's sandbox.
    fn processes(&self, id: &str) -> Result<Vec<SandboxProcess>>;
    /// Starts `process` in running container `id` with `stdio` as its
    /// standard streams; returns its pid in the sandbox.
    fn exec(&self, id: &str, process: ExecProcess, stdio: ContainerStdio) -> Result<u32>;
    /// Blocks until process `pid` (sandbox pid) of container `id` exits;
    /// its wait(2) status.
    fn wait_process(&self, id: &str, pid: u32) -> Result<i32>;
    /// Signals process `pid` (sandbox pid) of container `id`.
    fn signal_process(&self, id: &str, pid: u32, signo: i32) -> Result<()>;
    /// Sets the window size of the terminal of process `pid` (sandbox
    /// pid; 0: the init) of container `id`.
    fn resize(&self, id: &str, pid: u32, rows: u16, cols: u16) -> Result<()>;
}

fn sandbox_pid(pid: u32) -> Result<i32> {
    i32::try_from(pid).map_err(|_| RuntimeError::InvalidArgument(format!("invalid pid {pid}")))
}

/// Finds the runsc binary: configured, next to the shim's own binary, or
/// on PATH.
pub fn find_runsc(configured: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = configured {
        if p.is_absolute() {
            return Ok(p.to_path_buf());
        }
        return search_path(p.as_os_str()).ok_or_else(|| {
            RuntimeError::InvalidArgument(format!("runsc binary {:?} (binary_name) not found on PATH", p))
        });
    }
    if let Some(dir) = std::env::current_exe().ok().as_deref().and_then(Path::parent) {
        let candidate = dir.join("runsc");
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    search_path("runsc".as_ref()).ok_or_else(|| {
        RuntimeError::Other(anyhow::anyhow!(
            "runsc binary not found next to the shim ({}) or on PATH",
            std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default()
        ))
    })
}

fn search_path(name: &std::ffi::OsStr) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

/// The state root for a namespace when the options do not name one.
pub fn default_root(namespace: &str) -> PathBuf {
    Path::new(DEFAULT_ROOT_BASE).join(namespace)
}

/// [`ContainerRuntime`] over `sandbox::container::Runtime`: runsc's own
/// lifecycle code, in process; the sandbox and Gofers are started from the
/// runsc binary.
pub struct RunscRuntime {
    namespace: String,
    /// Per-container runtime settings (they come with each Create).
    containers: Mutex<HashMap<String, Runtime>>,
}

impl RunscRuntime {
    /// A runtime for containers of containerd namespace `namespace`.
    pub fn new(namespace: &str) -> RunscRuntime {
        RunscRuntime { namespace: namespace.to_string(), containers: Mutex::new(HashMap::new()) }
    }

    /// The `sandbox` runtime for settings `config` and container `id`.
    pub fn runtime_for(namespace: &str, id: &str, config: &RunscConfig) -> Result<Runtime> {
        let root = config.root.clone().unwrap_or_else(|| default_root(namespace));
        Ok(Runtime {
            state: StateDir::new(root),
            runsc: find_runsc(config.binary.as_deref())?,
            platform: config.platform.clone().unwrap_or_else(|| "ptrace".into()),
            debug: config.debug,
            debug_log: config.debug_log_for(id),
            strace: config.strace,
            cgroup_manager: None,
        })
    }

    fn get(&self, id: &str) -> Result<Runtime> {
        let map = self.containers.lock().unwrap_or_else(|e| e.into_inner());
        map.get(id).cloned().ok_or_else(|| RuntimeError::NotFound(format!("container {id} does not exist")))
    }

    /// `runsc delete --force` semantics with settings `config`: kills and
    /// removes what is left of container `id`; Ok if it does not exist.
    pub fn force_delete(namespace: &str, id: &str, config: &RunscConfig) -> Result<()> {
        let rt = Self::runtime_for(namespace, id, config).or_else(|_| {
            // Deleting needs no binary; do not fail cleanup over it.
            let root = config.root.clone().unwrap_or_else(|| default_root(namespace));
            Ok::<_, RuntimeError>(Runtime {
                state: StateDir::new(root),
                runsc: PathBuf::from("runsc"),
                platform: "ptrace".into(),
                debug: false,
                debug_log: None,
                strace: false,
                cgroup_manager: None,
            })
        })?;
        delete_with(&rt, id)
    }
}

fn delete_with(rt: &Runtime, id: &str) -> Result<()> {
    match rt.delete(id, true).map_err(RuntimeError::from) {
        Ok(()) | Err(RuntimeError::NotFound(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

impl ContainerRuntime for RunscRuntime {
    fn create(&self, params: CreateParams<'_>) -> Result<u32> {
        let rt = Self::runtime_for(&self.namespace, params.id, &params.config)?;
        let root = rt.state.root();
        std::fs::create_dir_all(root)
            .map_err(|e| RuntimeError::Other(anyhow::anyhow!("creating state root {}: {e}", root.display())))?;
        let pid_file = params.bundle.join("runsc.pid");
        rt.create(params.id, params.bundle, Some(&pid_file), Some(params.stdio))?;
        let pid = std::fs::read_to_string(&pid_file).ok().and_then(|s| s.trim().parse::<u32>().ok()).unwrap_or(0);
        self.containers.lock().unwrap_or_else(|e| e.into_inner()).insert(params.id.to_string(), rt);
        Ok(pid)
    }

    fn start(&self, id: &str) -> Result<()> {
        Ok(self.get(id)?.start(id)?)
    }

    fn state(&self, id: &str) -> Result<State> {
        let s = self.get(id)?.state(id)?;
        let status = match s.status {
            "created" | "creating" => Status::Created,
            "running" => Status::Running,
            "paused" => Status::Paused,
            _ => Status::Stopped,
        };
        Ok(State { status, pid: u32::try_from(s.pid).unwrap_or(0) })
    }

    fn kill(&self, id: &str, signo: i32, all: bool) -> Result<()> {
        if !(1..=64).contains(&signo) {
            return Err(RuntimeError::InvalidArgument(format!("invalid signal {signo}")));
        }
        let rt = self.get(id)?;
        match rt.kill(id, signo, all) {
            Ok(()) => Ok(()),
            Err(e) if e.to_string().contains("not running") => {
                Err(RuntimeError::NotFound(format!("container {id}: process already finished")))
            }
            Err(e) => Err(e.into()),
        }
    }

    fn wait(&self, id: &str) -> Result<i32> {
        Ok(self.get(id)?.wait(id)?)
    }

    fn delete(&self, id: &str) -> Result<()> {
        let rt = self.get(id)?;
        delete_with(&rt, id)?;
        self.containers.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
        Ok(())
    }

    fn processes(&self, id: &str) -> Result<Vec<SandboxProcess>> {
        let list = self.get(id)?.processes(id)?;
        Ok(list
            .into_iter()
            .map(|(pid, ppid, uid, cmd)| SandboxProcess {
                pid: u32::try_from(pid).unwrap_or(0),
                ppid: u32::try_from(ppid).unwrap_or(0),
                uid,
                cmd,
            })
            .collect())
    }

    fn exec(&self, id: &str, process: ExecProcess, stdio: ContainerStdio) -> Result<u32> {
        use std::os::fd::AsRawFd;
        let rt = self.get(id)?;
        let st = self.state(id)?;
        if st.status != Status::Running {
            return Err(RuntimeError::FailedPrecondition(format!(
                "container {id} is not running ({:?}): cannot exec in it",
                st.status
            )));
        }
        // The descriptors travel to the sandbox with the request; ours are
        // closed when `stdio` is dropped after the call.
        let fds = [stdio.stdin.as_raw_fd(), stdio.stdout.as_raw_fd(), stdio.stderr.as_raw_fd()];
        let pid = rt.exec(id, process, fds)?;
        drop(stdio);
        u32::try_from(pid).map_err(|_| RuntimeError::Other(anyhow::anyhow!("exec in {id}: invalid pid {pid}")))
    }

    fn wait_process(&self, id: &str, pid: u32) -> Result<i32> {
        Ok(self.get(id)?.wait_process(id, sandbox_pid(pid)?)?)
    }

    fn signal_process(&self, id: &str, pid: u32, signo: i32) -> Result<()> {
        if !(1..=64).contains(&signo) {
            return Err(RuntimeError::InvalidArgument(format!("invalid signal {signo}")));
        }
        let rt = self.get(id)?;
        match rt.signal_process(id, sandbox_pid(pid)?, signo) {
            Ok(()) => Ok(()),
            Err(e) if e.to_string().contains("not running") || e.to_string().contains("no process") => {
                Err(RuntimeError::NotFound(format!("process {pid} of container {id}: process already finished")))
            }
            Err(e) => Err(e.into()),
        }
    }

    fn resize(&self, id: &str, pid: u32, rows: u16, cols: u16) -> Result<()> {
        Ok(self.get(id)?.resize(id, sandbox_pid(pid)?, rows, cols)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_default_per_namespace() {
        assert_eq!(default_root("k8s.io"), Path::new("/run/containerd/runsc/k8s.io"));
        let cfg = RunscConfig {
            root: Some("/tmp/r".into()),
            binary: Some("/bin/true".into()),
            debug_log: Some("/l/%ID%".into()),
            ..Default::default()
        };
        let rt = RunscRuntime::runtime_for("default", "c9", &cfg).unwrap();
        assert_eq!(rt.state.root(), Path::new("/tmp/r"));
        assert_eq!(rt.platform, "ptrace");
        assert_eq!(rt.debug_log.as_deref(), Some("/l/c9"));
    }

    #[test]
    fn deleting_a_missing_container_succeeds() {
        let dir = std::env::temp_dir().join(format!("shim-rt-test-{}", std::process::id()));
        let cfg = RunscConfig { root: Some(dir.clone()), ..Default::default() };
        RunscRuntime::force_delete("default", "nope", &cfg).unwrap();
        let rt = RunscRuntime::new("default");
        assert!(matches!(rt.state("nope"), Err(RuntimeError::NotFound(_))));
        assert!(matches!(rt.kill("nope", 0, false), Err(RuntimeError::InvalidArgument(_))));
        assert!(matches!(rt.kill("nope", 9, false), Err(RuntimeError::NotFound(_))));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
