//! Running a bundle under an OCI runtime with a runc-compatible CLI.
//!
//! Each run uses a private state root and a unique container id:
//!
//! ```text
//! <runtime> [RVISOR_RUNSC_FLAGS...] --root <tmp>/rvisor-state-… run --bundle <bundle> <id>
//! <runtime> [RVISOR_RUNSC_FLAGS...] --root <tmp>/rvisor-state-… delete -f <id>    (always, afterwards)
//! ```
//!
//! stdin is `/dev/null`, stdout and stderr are pipes (no terminal). The extra
//! flags apply to `runsc` only. A safety timeout (default 120 s, env
//! [`TIMEOUT_ENV`]) only keeps CI from hanging; it is not a performance
//! assertion.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use crate::bundle::{Bundle, BundleError};

/// Overrides the safety timeout of one run, in seconds.
pub const TIMEOUT_ENV: &str = "RVISOR_RUN_TIMEOUT_SECS";
/// Extra global flags for runsc (whitespace-separated, e.g.
/// `--platform=ptrace --debug`), placed before `--root`.
pub const RUNSC_FLAGS_ENV: &str = "RVISOR_RUNSC_FLAGS";

/// Which runtime runs the bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Runtime {
    /// `runc` from `PATH`.
    Runc,
    /// A `runsc` binary.
    Runsc(PathBuf),
}

impl Runtime {
    /// The program to execute.
    pub fn program(&self) -> &Path {
        match self {
            Runtime::Runc => Path::new("runc"),
            Runtime::Runsc(p) => p,
        }
    }

    /// Short name for messages (`runc` / `runsc`).
    pub fn name(&self) -> &'static str {
        match self {
            Runtime::Runc => "runc",
            Runtime::Runsc(_) => "runsc",
        }
    }

    fn global_flags(&self) -> Vec<String> {
        match self {
            Runtime::Runc => Vec::new(),
            Runtime::Runsc(_) => {
                std::env::var(RUNSC_FLAGS_ENV).unwrap_or_default().split_whitespace().map(str::to_owned).collect()
            }
        }
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.program().display())
    }
}

/// What a container run produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutput {
    /// The container's standard output.
    pub stdout: String,
    /// The container's standard error (and the runtime's own messages).
    pub stderr: String,
    /// The runtime's exit status: the container's exit code, or 128+N when
    /// the container's init died of signal N (runc reports it so); if the
    /// runtime process itself died of signal N, also 128+N.
    pub status: i32,
    /// The command line that ran, for messages.
    pub cmdline: String,
}

impl RunOutput {
    /// Whether stdout has `line` as one of its lines.
    pub fn has_line(&self, line: &str) -> bool {
        self.stdout.lines().any(|l| l == line)
    }
}

impl fmt::Display for RunOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "$ {}\nstatus: {}", self.cmdline, self.status)?;
        writeln!(f, "--- stdout ---\n{}", self.stdout.trim_end())?;
        write!(f, "--- stderr ---\n{}", self.stderr.trim_end())
    }
}

/// Why a run could not complete.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The bundle's config or rootfs could not be prepared.
    #[error("preparing bundle: {0}")]
    Bundle(#[from] BundleError),
    /// The runtime binary could not be started.
    #[error("cannot start `{cmdline}`: {source}")]
    Spawn {
        /// The command line.
        cmdline: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The safety timeout expired; the runtime and container were killed.
    #[error(
        "`{cmdline}` did not finish within {timeout:?} (killed)\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
    )]
    Timeout {
        /// The command line.
        cmdline: String,
        /// The timeout that expired.
        timeout: Duration,
        /// Output collected before the kill.
        stdout: String,
        /// Output collected before the kill.
        stderr: String,
    },
    /// Waiting for the runtime failed.
    #[error("waiting for `{cmdline}`: {source}")]
    Wait {
        /// The command line.
        cmdline: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

fn timeout() -> Duration {
    let secs = std::env::var(TIMEOUT_ENV).ok().and_then(|s| s.parse().ok()).unwrap_or(120);
    Duration::from_secs(secs)
}

/// Removes the private state root on drop.
struct StateRoot(PathBuf);

impl Drop for StateRoot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the bundle's current settings under `runtime` as container
/// `<id>-<pid>-<n>` (`id` is a readable prefix; the suffix makes it unique).
///
/// Writes `config.json` and empties the rootfs `/tmp` first. The container
/// is always deleted afterwards (`delete -f`), also on timeout or error.
pub fn run(runtime: &Runtime, bundle: &Bundle, id: &str) -> Result<RunOutput, RunError> {
    run_with_timeout(runtime, bundle, id, timeout())
}

/// [`run`] with an explicit safety timeout instead of the default.
pub fn run_with_timeout(runtime: &Runtime, bundle: &Bundle, id: &str, limit: Duration) -> Result<RunOutput, RunError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let id = format!("{id}-{}-{n}", std::process::id());
    let state = StateRoot(std::env::temp_dir().join(format!("rvisor-state-{}-{}", runtime.name(), id)));
    std::fs::create_dir_all(&state.0)
        .map_err(|source| RunError::Spawn { cmdline: format!("mkdir {}", state.0.display()), source })?;
    bundle.write_config()?;
    bundle.reset_tmp()?;

    let base = |cmd: &mut Command| {
        cmd.args(runtime.global_flags()).arg("--root").arg(&state.0);
    };
    let mut cmd = Command::new(runtime.program());
    base(&mut cmd);
    cmd.arg("run").arg("--bundle").arg(bundle.dir()).arg(&id);
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let cmdline = render(&cmd);

    let result = spawn_and_wait(&mut cmd, &cmdline, limit);

    // Always clean up; a container that is already gone is not an error.
    let mut del = Command::new(runtime.program());
    base(&mut del);
    del.arg("delete").arg("-f").arg(&id).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
    if let Ok(out) = del.output() {
        let err = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() && !err.contains("does not exist") && !err.contains("not found") {
            eprintln!("warning: `{}` failed: {}", render(&del), err.trim());
        }
    }
    match result? {
        Waited::Exited(stdout, stderr, status) => {
            Ok(RunOutput { stdout, stderr, status: status_code(status), cmdline })
        }
        Waited::TimedOut(readers) => {
            let (stdout, stderr) = collect_after_kill(readers);
            Err(RunError::Timeout { cmdline, timeout: limit, stdout, stderr })
        }
    }
}

/// The outcome of waiting for the runtime process.
enum Waited {
    Exited(String, String, ExitStatus),
    /// Killed after the timeout; the readers finish once the container's
    /// processes are gone (after `delete -f`).
    TimedOut(Readers),
}

type Readers = (thread::JoinHandle<String>, thread::JoinHandle<String>);

fn spawn_and_wait(cmd: &mut Command, cmdline: &str, limit: Duration) -> Result<Waited, RunError> {
    let mut child = cmd.spawn().map_err(|source| RunError::Spawn { cmdline: cmdline.to_owned(), source })?;
    let readers = (reader(child.stdout.take()), reader(child.stderr.take()));
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() > limit => {
                kill(&mut child);
                return Ok(Waited::TimedOut(readers));
            }
            Ok(None) => thread::sleep(Duration::from_millis(5)),
            Err(source) => {
                kill(&mut child);
                return Err(RunError::Wait { cmdline: cmdline.to_owned(), source });
            }
        }
    };
    let stdout = readers.0.join().unwrap_or_default();
    let stderr = readers.1.join().unwrap_or_default();
    Ok(Waited::Exited(stdout, stderr, status))
}

/// Joins the readers of a killed run, giving up after a few seconds if some
/// process still holds the pipes.
fn collect_after_kill(readers: Readers) -> (String, String) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !(readers.0.is_finished() && readers.1.is_finished()) {
        if Instant::now() > deadline {
            let lost = String::from("(output not collected: pipes still open after kill)");
            return (lost.clone(), lost);
        }
        thread::sleep(Duration::from_millis(10));
    }
    (readers.0.join().unwrap_or_default(), readers.1.join().unwrap_or_default())
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn reader<R: Read + Send + 'static>(pipe: Option<R>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

fn status_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status.code().or_else(|| status.signal().map(|s| 128 + s)).unwrap_or(-1)
}

/// A shell-like rendering of a command line for messages.
fn render(cmd: &Command) -> String {
    let mut parts = vec![cmd.get_program().to_string_lossy().into_owned()];
    parts.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    parts.join(" ")
}

/// Checks once per process that runc can run a trivial container here.
///
/// `Err` carries the exact command, status and stderr, so that tests can
/// skip with a clear reason when runc cannot work on this machine (not
/// root, no runc, no namespaces…).
pub fn runc_usable() -> Result<(), String> {
    static PROBE: OnceLock<Result<(), String>> = OnceLock::new();
    PROBE
        .get_or_init(|| {
            let mut bundle = Bundle::new().map_err(|e| format!("cannot build probe bundle: {e}"))?;
            bundle.args(["/bin/true"]);
            match run(&Runtime::Runc, &bundle, "probe") {
                Ok(out) if out.status == 0 => Ok(()),
                Ok(out) => Err(format!("runc cannot run a trivial container:\n{out}")),
                Err(e) => Err(format!("runc cannot run a trivial container: {e}")),
            }
        })
        .clone()
}

/// For tests: returns `true` when runc works; otherwise prints why the
/// calling test is skipped and returns `false`.
pub fn require_runc(test: &str) -> bool {
    match runc_usable() {
        Ok(()) => true,
        Err(why) => {
            eprintln!("SKIPPED {test}: {why}");
            false
        }
    }
}

/// What one runtime subcommand did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmdOutput {
    /// Exit code (128+N if the runtime died of signal N).
    pub status: i32,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
    /// The command line, for messages.
    pub cmdline: String,
}

impl fmt::Display for CmdOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "$ {} -> {}\n{}{}", self.cmdline, self.status, self.stdout, self.stderr)
    }
}

/// A runtime with a private state root, driven one subcommand at a time
/// (`create`, `start`, `state`, `kill`, `delete`, ...) as a lifecycle test
/// does. stdin is `/dev/null`; stdout and stderr go to files, not pipes
/// (a created container keeps `create`'s stdio). On drop, the containers
/// it created are deleted (`delete -f`) and the state root removed.
pub struct Session {
    runtime: Runtime,
    root: PathBuf,
    out: PathBuf,
    ids: std::cell::RefCell<Vec<String>>,
}

impl Session {
    /// A session with a fresh state root named after `tag`.
    pub fn new(runtime: &Runtime, tag: &str) -> std::io::Result<Session> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let base =
            std::env::temp_dir().join(format!("rvisor-session-{}-{tag}-{}-{n}", runtime.name(), std::process::id()));
        let (root, out) = (base.join("state"), base.join("out"));
        std::fs::create_dir_all(&root)?;
        std::fs::create_dir_all(&out)?;
        Ok(Session { runtime: runtime.clone(), root, out, ids: Default::default() })
    }

    /// Runs `<runtime> --root <root> ARGS...` to completion (a safety
    /// timeout kills it).
    pub fn cmd(&self, args: &[&str]) -> Result<CmdOutput, RunError> {
        let mut cmd = Command::new(self.runtime.program());
        cmd.args(self.runtime.global_flags()).arg("--root").arg(&self.root).args(args);
        let cmdline = render(&cmd);
        if let Some(i) = args.iter().position(|a| *a == "create" || *a == "run") {
            if let Some(id) = args.last().filter(|_| i + 1 < args.len()) {
                self.ids.borrow_mut().push((*id).to_string());
            }
        }
        let (out_path, err_path) = (self.out.join("stdout"), self.out.join("stderr"));
        let file =
            |p: &Path| std::fs::File::create(p).map_err(|source| RunError::Spawn { cmdline: cmdline.clone(), source });
        cmd.stdin(Stdio::null()).stdout(file(&out_path)?).stderr(file(&err_path)?);
        let mut child = cmd.spawn().map_err(|source| RunError::Spawn { cmdline: cmdline.clone(), source })?;
        let (start, limit) = (Instant::now(), timeout());
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if start.elapsed() > limit => {
                    kill(&mut child);
                    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
                    return Err(RunError::Timeout {
                        cmdline,
                        timeout: limit,
                        stdout: read(&out_path),
                        stderr: read(&err_path),
                    });
                }
                Ok(None) => thread::sleep(Duration::from_millis(5)),
                Err(source) => {
                    kill(&mut child);
                    return Err(RunError::Wait { cmdline, source });
                }
            }
        };
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        Ok(CmdOutput { status: status_code(status), stdout: read(&out_path), stderr: read(&err_path), cmdline })
    }

    /// The `status` field `state ID` prints (`None` if state fails).
    pub fn status(&self, id: &str) -> Option<String> {
        let out = self.cmd(&["state", id]).ok().filter(|o| o.status == 0)?;
        let v: serde_json::Value = serde_json::from_str(&out.stdout).ok()?;
        v["status"].as_str().map(str::to_owned)
    }

    /// The `state ID` JSON (`None` if state fails).
    pub fn state(&self, id: &str) -> Option<serde_json::Value> {
        let out = self.cmd(&["state", id]).ok().filter(|o| o.status == 0)?;
        serde_json::from_str(&out.stdout).ok()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        for id in self.ids.borrow().iter() {
            let _ = self.cmd(&["delete", "-f", id]);
        }
        if let Some(base) = self.root.parent() {
            let _ = std::fs::remove_dir_all(base);
        }
    }
}
