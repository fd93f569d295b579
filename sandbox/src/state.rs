//! Container state records under `--root` (default `/run/runsc`): one
//! directory per container holding `state.json` and a lock file. Records
//! outlive the CLI invocation that wrote them; concurrent invocations on the
//! same container serialise on the lock, and record writes are atomic
//! (write to a temporary file, then rename).

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Default state root, as gVisor's runsc uses.
pub const DEFAULT_ROOT: &str = "/run/runsc";

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("container {0:?} does not exist")]
    NotFound(String),
    #[error("container with id {0:?} already exists")]
    Exists(String),
    #[error("invalid container id {0:?}: use letters, digits, '_', '+', '-' and '.'")]
    InvalidId(String),
    #[error("state of container {id:?} is corrupt: {msg}")]
    Corrupt { id: String, msg: String },
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// OCI lifecycle status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// What runsc remembers of a container between invocations.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub id: String,
    pub bundle: PathBuf,
    pub status: Status,
    /// Host pid of the sandbox (Sentry) process; 0 before it exists.
    pub sandbox_pid: i32,
    /// Host pid of this container's Gofer.
    pub gofer_pid: i32,
    /// Id of the sandbox this container runs in (its own id for the first
    /// container of a sandbox).
    pub sandbox_id: String,
    /// The Sentry's control socket.
    pub control_socket: PathBuf,
    /// RFC 3339 creation time.
    pub created: String,
    #[serde(default)]
    pub annotations: std::collections::BTreeMap<String, String>,
    /// wait(2) status once the init process has exited.
    #[serde(default)]
    pub exit_status: Option<i32>,
}

/// The state root.
#[derive(Clone, Debug)]
pub struct StateDir {
    root: PathBuf,
}

/// An exclusive lock on one container's record (released on drop).
pub struct Lock {
    _file: File,
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StateError + 'a {
    move |source| StateError::Io { what, path: path.to_path_buf(), source }
}

/// Checks a container id the way runc does.
pub fn validate_id(id: &str) -> Result<(), StateError> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id.len() <= 1024
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(StateError::InvalidId(id.to_string()))
    }
}

impl StateDir {
    pub fn new(root: impl Into<PathBuf>) -> StateDir {
        StateDir { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Directory of container `id` (where its control socket also lives).
    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Creates the directory for a new container and locks it; fails if the
    /// id is taken.
    pub fn create(&self, id: &str) -> Result<Lock, StateError> {
        validate_id(id)?;
        fs::create_dir_all(&self.root).map_err(io_err("creating state root", &self.root))?;
        let dir = self.dir(id);
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(StateError::Exists(id.to_string())),
            Err(e) => return Err(io_err("creating", &dir)(e)),
        }
        self.lock(id)
    }

    /// Locks container `id`'s record for this invocation.
    pub fn lock(&self, id: &str) -> Result<Lock, StateError> {
        validate_id(id)?;
        let dir = self.dir(id);
        if !dir.is_dir() {
            return Err(StateError::NotFound(id.to_string()));
        }
        let path = dir.join("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err("opening", &path))?;
        // SAFETY: flock on a descriptor we own; blocks until available.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } < 0 {
            return Err(io_err("locking", &path)(io::Error::last_os_error()));
        }
        Ok(Lock { _file: file })
    }

    /// Writes a record atomically. The caller holds the container's lock.
    pub fn save(&self, record: &ContainerRecord, _lock: &Lock) -> Result<(), StateError> {
        let dir = self.dir(&record.id);
        let tmp = dir.join("state.json.tmp");
        let json = serde_json::to_vec_pretty(record).expect("records serialise");
        fs::write(&tmp, json).map_err(io_err("writing", &tmp))?;
        let path = dir.join("state.json");
        fs::rename(&tmp, &path).map_err(io_err("replacing", &path))
    }

    /// Reads container `id`'s record.
    pub fn load(&self, id: &str) -> Result<ContainerRecord, StateError> {
        validate_id(id)?;
        let path = self.dir(id).join("state.json");
        let data = match fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(StateError::NotFound(id.to_string())),
            Err(e) => return Err(io_err("reading", &path)(e)),
        };
        serde_json::from_slice(&data).map_err(|e| StateError::Corrupt { id: id.to_string(), msg: e.to_string() })
    }

    /// Every container with a readable record, sorted by id.
    pub fn list(&self) -> Result<Vec<ContainerRecord>, StateError> {
        let entries = match fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err("listing", &self.root)(e)),
        };
        let mut out: Vec<_> = entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter_map(|id| self.load(&id).ok())
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// Deletes container `id`'s record but keeps its directory (and the
    /// sandbox control socket in it) for the other containers of its
    /// sandbox; the id stays taken until [`remove_retired`] runs. The
    /// caller holds its lock.
    ///
    /// [`remove_retired`]: StateDir::remove_retired
    pub fn retire(&self, id: &str, _lock: Lock) -> Result<(), StateError> {
        validate_id(id)?;
        let path = self.dir(id).join("state.json");
        fs::remove_file(&path).map_err(io_err("removing", &path))
    }

    /// Removes the directory of a retired container (one without a record),
    /// once its sandbox is gone.
    pub fn remove_retired(&self, id: &str) {
        let dir = self.dir(id);
        if validate_id(id).is_ok() && dir.is_dir() && !dir.join("state.json").exists() {
            let _ = fs::remove_dir_all(&dir);
        }
    }

    /// Deletes container `id`'s directory. The caller holds its lock.
    pub fn remove(&self, id: &str, _lock: Lock) -> Result<(), StateError> {
        validate_id(id)?;
        let dir = self.dir(id);
        fs::remove_dir_all(&dir).map_err(io_err("removing", &dir))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(tag: &str) -> StateDir {
        let d = std::env::temp_dir().join(format!("rvisor-state-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        StateDir::new(d)
    }

    fn record(id: &str) -> ContainerRecord {
        ContainerRecord {
            id: id.into(),
            bundle: "/b".into(),
            status: Status::Created,
            sandbox_pid: 42,
            gofer_pid: 43,
            sandbox_id: id.into(),
            control_socket: "/run/x.sock".into(),
            created: "2026-11-28T00:00:00Z".into(),
            annotations: Default::default(),
            exit_status: None,
        }
    }

    #[test]
    fn records_survive_and_ids_are_unique() {
        let s = state("basic");
        let lock = s.create("c1").unwrap();
        s.save(&record("c1"), &lock).unwrap();
        drop(lock);
        assert!(matches!(s.create("c1"), Err(StateError::Exists(_))));
        // A fresh StateDir (a later invocation) sees the record.
        let again = StateDir::new(s.root());
        assert_eq!(again.load("c1").unwrap(), record("c1"));
        assert_eq!(again.list().unwrap().len(), 1);
        let lock = again.lock("c1").unwrap();
        again.remove("c1", lock).unwrap();
        assert!(matches!(again.load("c1"), Err(StateError::NotFound(_))));
        fs::remove_dir_all(s.root()).unwrap();
    }

    #[test]
    fn bad_ids_are_refused() {
        let s = state("ids");
        for id in ["", "..", "a/b", "x y", "../etc"] {
            assert!(matches!(s.create(id), Err(StateError::InvalidId(_))), "{id:?}");
        }
        assert!(matches!(s.load("missing"), Err(StateError::NotFound(_))));
    }

    #[test]
    fn concurrent_creates_of_one_id_let_exactly_one_win() {
        let s = state("race");
        let wins: usize = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8).map(|_| scope.spawn(|| s.create("same").is_ok() as usize)).collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(wins, 1);
        fs::remove_dir_all(s.root()).unwrap();
    }

    #[test]
    fn corrupt_records_are_reported() {
        let s = state("corrupt");
        drop(s.create("c").unwrap());
        fs::write(s.dir("c").join("state.json"), "garbage").unwrap();
        assert!(matches!(s.load("c"), Err(StateError::Corrupt { .. })));
        fs::remove_dir_all(s.root()).unwrap();
    }
}
