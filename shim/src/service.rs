//! The ttrpc task service (task API v2): converts containerd's protobuf
//! requests into calls on a [`ContainerRuntime`], tracks exits, and
//! publishes task events (`/tasks/create`, `start`, `exec-added`,
//! `exec-started`, `exit`, `delete`, `paused`, `resumed`, `oom`).
//! Protobuf types stay in this file.
//!
//! Exec: an Exec request (an OCI process spec) adds a process to a running
//! container under its exec id (a duplicate is `AlreadyExists`, a
//! container that does not run `FailedPrecondition`); Start with that id
//! starts it in the sandbox, and State, Wait, Kill, Delete, CloseIO and
//! ResizePty with it act on it. Exec processes have sandbox pids; their
//! exits are published as TaskExit with the exec id, after their output is
//! drained, as runc's shim does.
//!
//! Terminals: a task created or exec'd with `terminal` gets a new host
//! pseudo-terminal as its stdio (see [`stdio::open_terminal`]); ResizePty
//! resizes it through the sandbox, or on the host before the process
//! starts.
//!
//! Pids lists the processes inside the sandbox (the init is pid 1).
//!
//! Through the sandbox's host cgroup ([`Cgroup`]): Stats (as
//! `io.containerd.cgroups.v2.Metrics`), Pause/Resume (the freezer), Update
//! (resource limits) and OOM events. Not supported (`Unimplemented`):
//! Checkpoint and restoring from one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use containerd_shim::api;
use containerd_shim::asynchronous::ExitSignal;
use containerd_shim::monitor::{monitor_subscribe, Subject, Topic};
use containerd_shim::publisher::RemotePublisher;
use containerd_shim::{Task, TtrpcContext, TtrpcResult};
use containerd_shim_protos::cgroups_v2::metrics as cgv2;
use containerd_shim_protos::events::task::{
    TaskCreate, TaskDelete, TaskExecAdded, TaskExecStarted, TaskExit, TaskIO, TaskOOM, TaskPaused, TaskResumed,
    TaskStart,
};
use containerd_shim_protos::protobuf::well_known_types::any::Any;
use containerd_shim_protos::protobuf::well_known_types::timestamp::Timestamp;
use containerd_shim_protos::protobuf::{Message, MessageDyn, MessageField};
use containerd_shim_protos::topics;
use containerd_shim_protos::ttrpc::{self, Code};
use tokio::sync::{watch, Notify};

use crate::cgroup::{Cgroup, Resources};
use crate::config::RunscConfig;
use crate::pod::{exit_status, KILLED_EXIT_STATUS};
use crate::runtime::{ContainerRuntime, CreateParams, ExecProcess, RuntimeError, Status};
use crate::stdio::{self, Console, StdioCopies, StdioPaths};
use sandbox::container::ContainerStdio;

/// File in the bundle where the shim keeps a container's resolved runsc
/// settings, for the `delete` action.
pub const CONFIG_FILE: &str = "runsc-config.json";

/// How long output may keep flowing after the container's init exited.
const OUTPUT_GRACE: Duration = Duration::from_secs(5);

/// How often a running container's cgroup is checked for OOM kills (one
/// small read of `memory.events` or `memory.oom_control`).
const OOM_POLL: Duration = Duration::from_secs(1);

/// The type URL containerd gives the OCI `LinuxResources` (JSON) of a task
/// Update, without the `types.containerd.io/` prefix.
const LINUX_RESOURCES_TYPE: &str = "opencontainers/runtime-spec/1/LinuxResources";

fn status(code: Code, msg: impl Into<String>) -> ttrpc::Error {
    ttrpc::Error::RpcStatus(ttrpc::get_status(code, msg.into()))
}

fn not_supported(what: &str) -> ttrpc::Error {
    status(Code::UNIMPLEMENTED, format!("{what} is not supported by runsc yet"))
}

fn runtime_error(context: &str, e: RuntimeError) -> ttrpc::Error {
    let code = match &e {
        RuntimeError::NotFound(_) => Code::NOT_FOUND,
        RuntimeError::InvalidArgument(_) => Code::INVALID_ARGUMENT,
        RuntimeError::FailedPrecondition(_) => Code::FAILED_PRECONDITION,
        RuntimeError::NotSupported(_) => Code::UNIMPLEMENTED,
        RuntimeError::Other(_) => Code::UNKNOWN,
    };
    status(code, format!("{context}: {e}"))
}

fn timestamp(t: SystemTime) -> Timestamp {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let mut ts = Timestamp::new();
    ts.seconds = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    ts.nanos = d.subsec_nanos() as i32;
    ts
}

/// How a container's init, or an exec process, ended.
#[derive(Clone, Copy, Debug)]
struct Exit {
    status: u32,
    at: SystemTime,
}

struct Container {
    bundle: String,
    stdio: StdioPaths,
    pid: u32,
    started: bool,
    rootfs: Option<PathBuf>,
    copies: Arc<tokio::sync::Mutex<StdioCopies>>,
    exit: watch::Sender<Option<Exit>>,
    /// The sandbox's host cgroup, and whether the shim created it.
    cgroup: Option<(Cgroup, bool)>,
    paused: bool,
    /// The terminal that is its stdio (`ctr run -t`).
    console: Option<Console>,
    /// Processes added by Exec, by exec id, until they are deleted.
    execs: HashMap<String, ExecProc>,
}

/// A process added to a running container by Exec.
struct ExecProc {
    /// What to run and its stdio, until Start takes them.
    pending: Option<(ExecProcess, ContainerStdio)>,
    stdio: StdioPaths,
    /// The terminal that is its stdio (`ctr task exec -t`).
    console: Option<Console>,
    /// Its pid in the sandbox, once started.
    pid: u32,
    copies: Arc<tokio::sync::Mutex<StdioCopies>>,
    exit: watch::Sender<Option<Exit>>,
}

impl ExecProc {
    fn started(&self) -> bool {
        self.pending.is_none()
    }
}

/// The part of an OCI process spec (JSON, in an Exec's `spec`) that runsc
/// uses.
#[derive(serde::Deserialize, Default)]
struct ProcessSpec {
    args: Option<Vec<String>>,
    env: Option<Vec<String>>,
    cwd: Option<String>,
    user: Option<ProcessUser>,
}

#[derive(serde::Deserialize, Default)]
struct ProcessUser {
    uid: Option<u32>,
    gid: Option<u32>,
}

/// The process an Exec request describes.
fn exec_process(req: &api::ExecProcessRequest) -> Result<ExecProcess, String> {
    let any = req.spec.as_ref().ok_or("no process spec")?;
    let spec: ProcessSpec = serde_json::from_slice(&any.value).map_err(|e| format!("invalid process spec: {e}"))?;
    let args = spec.args.unwrap_or_default();
    if args.is_empty() {
        return Err("the process spec has no args".into());
    }
    let user = spec.user.unwrap_or_default();
    Ok(ExecProcess {
        args,
        env: spec.env.unwrap_or_default(),
        cwd: spec.cwd.unwrap_or_default(),
        uid: user.uid.unwrap_or(0),
        gid: user.gid.unwrap_or(0),
        terminal: req.terminal,
    })
}

/// Opens a task's stdio: a new terminal, or pipes.
fn open_stdio(paths: &StdioPaths, terminal: bool) -> std::io::Result<(ContainerStdio, StdioCopies, Option<Console>)> {
    if terminal {
        stdio::open_terminal(paths).map(|(s, c, console)| (s, c, Some(console)))
    } else {
        stdio::open(paths).map(|(s, c)| (s, c, None))
    }
}

/// containerd's type name for cgroup v2 metrics (typeurl, no prefix).
const METRICS_V2_TYPE: &str = "io.containerd.cgroups.v2.Metrics";

/// Exit codes of the shim's child processes, from the shim crate's
/// SIGCHLD reaper.
#[derive(Default)]
struct Reaped {
    codes: Mutex<HashMap<i32, i32>>,
    changed: Notify,
}

impl Reaped {
    async fn wait(&self, pid: i32) -> i32 {
        loop {
            let changed = self.changed.notified();
            if let Some(code) = self.codes.lock().unwrap_or_else(|e| e.into_inner()).get(&pid) {
                return *code;
            }
            changed.await;
        }
    }
}

/// The task service of one shim (one pod).
pub struct TaskService<R: ContainerRuntime> {
    runtime: Arc<R>,
    namespace: String,
    publisher: Arc<RemotePublisher>,
    exit_signal: Arc<ExitSignal>,
    containers: Arc<Mutex<HashMap<String, Container>>>,
    reaped: Arc<Reaped>,
}

impl<R: ContainerRuntime> TaskService<R> {
    /// A service over `runtime`; `exit_signal` fires when the last
    /// container is gone and containerd asks the shim to shut down.
    pub async fn new(
        runtime: R,
        namespace: &str,
        publisher: RemotePublisher,
        exit_signal: Arc<ExitSignal>,
    ) -> TaskService<R> {
        let reaped = Arc::new(Reaped::default());
        match monitor_subscribe(Topic::Pid).await {
            Ok(mut sub) => {
                let reaped = reaped.clone();
                tokio::spawn(async move {
                    while let Some(ev) = sub.rx.recv().await {
                        if let Subject::Pid(pid) = ev.subject {
                            tracing::debug!("child {pid} exited with {}", ev.exit_code);
                            reaped.codes.lock().unwrap_or_else(|e| e.into_inner()).insert(pid, ev.exit_code);
                            reaped.changed.notify_waiters();
                        }
                    }
                });
            }
            Err(e) => tracing::warn!("cannot watch child exits: {e}"),
        }
        TaskService {
            runtime: Arc::new(runtime),
            namespace: namespace.to_string(),
            publisher: Arc::new(publisher),
            exit_signal,
            containers: Arc::new(Mutex::new(HashMap::new())),
            reaped,
        }
    }

    fn containers(&self) -> std::sync::MutexGuard<'_, HashMap<String, Container>> {
        self.containers.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn publish(&self, topic: &str, event: Box<dyn MessageDyn>) {
        publish(&self.publisher, &self.namespace, topic, event).await;
    }

    /// Runs a blocking runtime call on tokio's blocking pool.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&R) -> Result<T, RuntimeError> + Send + 'static,
    ) -> Result<T, RuntimeError> {
        let rt = self.runtime.clone();
        tokio::task::spawn_blocking(move || f(&rt))
            .await
            .unwrap_or_else(|e| Err(RuntimeError::Other(anyhow::anyhow!("runtime call failed: {e}"))))
    }

    fn exec_not_found(id: &str, exec_id: &str) -> ttrpc::Error {
        status(Code::NOT_FOUND, format!("exec process {exec_id} does not exist in container {id}"))
    }

    /// Runs `f` on exec `exec_id` of container `id`.
    fn with_exec<T>(&self, id: &str, exec_id: &str, f: impl FnOnce(&Container, &mut ExecProc) -> T) -> TtrpcResult<T> {
        let mut map = self.containers();
        let c = map.get_mut(id).ok_or_else(|| Self::not_found(id))?;
        let mut e = c.execs.remove(exec_id).ok_or_else(|| Self::exec_not_found(id, exec_id))?;
        let r = f(c, &mut e);
        c.execs.insert(exec_id.to_string(), e);
        Ok(r)
    }

    /// Runs `f` on the terminal of process `exec_id` (empty: the init) of
    /// container `id`, with its sandbox pid (0: the init) if it was
    /// started; an error if it has no terminal or has ended.
    fn with_console<T>(
        &self,
        id: &str,
        exec_id: &str,
        f: impl FnOnce(&Console, Option<u32>) -> std::io::Result<T>,
    ) -> TtrpcResult<TtrpcResult<T>> {
        let map = self.containers();
        let c = map.get(id).ok_or_else(|| Self::not_found(id))?;
        let (console, pid, ended, what) = if exec_id.is_empty() {
            (c.console.as_ref(), c.started.then_some(0), c.exit.borrow().is_some(), "the init".to_string())
        } else {
            let e = c.execs.get(exec_id).ok_or_else(|| Self::exec_not_found(id, exec_id))?;
            // An exec being started has no pid yet.
            let pid = (e.started() && e.pid > 0).then_some(e.pid);
            (e.console.as_ref(), pid, e.exit.borrow().is_some(), format!("exec process {exec_id}"))
        };
        let Some(console) = console else {
            return Err(status(Code::FAILED_PRECONDITION, format!("container {id}: {what} has no terminal")));
        };
        if ended {
            return Err(status(Code::FAILED_PRECONDITION, format!("container {id}: {what} is not running")));
        }
        Ok(f(console, pid).map_err(|e| status(Code::UNKNOWN, format!("the terminal of {what} of {id}: {e}"))))
    }

    async fn start_exec(&self, id: String, exec_id: String) -> TtrpcResult<api::StartResponse> {
        let (pending, copies, tx) = self.with_exec(&id, &exec_id, |c, e| {
            if e.started() {
                return Err(status(Code::FAILED_PRECONDITION, format!("exec process {exec_id} was already started")));
            }
            if !c.started || c.exit.borrow().is_some() {
                return Err(status(Code::FAILED_PRECONDITION, format!("container {id} is not running")));
            }
            Ok((e.pending.take(), e.copies.clone(), e.exit.clone()))
        })??;
        let Some((process, stdio)) = pending else {
            return Err(status(Code::FAILED_PRECONDITION, format!("exec process {exec_id} was already started")));
        };
        tracing::info!("exec {exec_id} in {id}: {:?}", process.args);
        let sid = id.clone();
        let pid = match self.blocking(move |rt| rt.exec(&sid, process, stdio)).await {
            Ok(pid) => pid,
            Err(e) => {
                tracing::warn!("exec {exec_id} in {id} failed: {e}");
                copies.lock().await.abort();
                // It never ran: Wait reports what a failed exec gives.
                tx.send_replace(Some(Exit { status: 127, at: SystemTime::now() }));
                return Err(runtime_error(&format!("exec {exec_id} in {id}"), e));
            }
        };
        let _ = self.with_exec(&id, &exec_id, |_, e| e.pid = pid);
        self.watch_exec_exit(id.clone(), exec_id.clone(), pid, copies, tx);
        let ev = TaskExecStarted { container_id: id, exec_id, pid, ..Default::default() };
        self.publish(topics::TASK_EXEC_STARTED_EVENT_TOPIC, Box::new(ev)).await;
        Ok(api::StartResponse { pid, ..Default::default() })
    }

    /// Waits for exec `exec_id` (sandbox pid `pid`) of container `id` to
    /// exit; then drains its output, records the exit and publishes
    /// TaskExit.
    fn watch_exec_exit(
        &self,
        id: String,
        exec_id: String,
        pid: u32,
        copies: Arc<tokio::sync::Mutex<StdioCopies>>,
        tx: watch::Sender<Option<Exit>>,
    ) {
        let rt = self.runtime.clone();
        let publisher = self.publisher.clone();
        let namespace = self.namespace.clone();
        let containers = self.containers.clone();
        tokio::spawn(async move {
            let wait_id = id.clone();
            let code = match tokio::task::spawn_blocking(move || rt.wait_process(&wait_id, pid)).await {
                Ok(Ok(ws)) => exit_status(ws),
                Ok(Err(e)) => {
                    tracing::warn!("exec {exec_id} in {id}: waiting through the sandbox failed: {e}");
                    KILLED_EXIT_STATUS
                }
                Err(e) => {
                    tracing::warn!("exec {exec_id} in {id}: wait task failed: {e}");
                    KILLED_EXIT_STATUS
                }
            };
            copies.lock().await.finish(OUTPUT_GRACE).await;
            let exit = Exit { status: code, at: SystemTime::now() };
            tracing::info!("exec {exec_id} (pid {pid}) in {id} exited with status {code}");
            tx.send_replace(Some(exit));
            let known = containers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&id)
                .is_some_and(|c| c.execs.contains_key(&exec_id));
            if !known {
                // Deleted with its container: nobody waits for it.
                return;
            }
            let ev = TaskExit {
                container_id: id,
                id: exec_id,
                pid,
                exit_status: code,
                exited_at: MessageField::some(timestamp(exit.at)),
                ..Default::default()
            };
            publish(&publisher, &namespace, topics::TASK_EXIT_EVENT_TOPIC, Box::new(ev)).await;
        });
    }

    async fn delete_exec(&self, id: &str, exec_id: &str) -> TtrpcResult<api::DeleteResponse> {
        let e = {
            let mut map = self.containers();
            let c = map.get_mut(id).ok_or_else(|| Self::not_found(id))?;
            let e = c.execs.get(exec_id).ok_or_else(|| Self::exec_not_found(id, exec_id))?;
            if e.started() && e.exit.borrow().is_none() {
                return Err(status(
                    Code::FAILED_PRECONDITION,
                    format!("exec process {exec_id} of container {id} is still running: kill it before deleting it"),
                ));
            }
            c.execs.remove(exec_id).ok_or_else(|| Self::exec_not_found(id, exec_id))?
        };
        e.copies.lock().await.abort();
        let exit = e.exit.borrow().unwrap_or(Exit { status: 0, at: SystemTime::now() });
        Ok(api::DeleteResponse {
            pid: e.pid,
            exit_status: exit.status,
            exited_at: MessageField::some(timestamp(exit.at)),
            ..Default::default()
        })
    }

    async fn state_exec(&self, id: &str, exec_id: &str) -> TtrpcResult<api::StateResponse> {
        self.with_exec(id, exec_id, |c, e| {
            let mut resp = api::StateResponse {
                id: exec_id.to_string(),
                bundle: c.bundle.clone(),
                pid: e.pid,
                stdin: e.stdio.stdin.clone(),
                stdout: e.stdio.stdout.clone(),
                stderr: e.stdio.stderr.clone(),
                terminal: e.console.is_some(),
                ..Default::default()
            };
            let st = match *e.exit.borrow() {
                Some(exit) => {
                    resp.exit_status = exit.status;
                    resp.exited_at = MessageField::some(timestamp(exit.at));
                    api::Status::STOPPED
                }
                None if !e.started() => api::Status::CREATED,
                None if c.paused => api::Status::PAUSED,
                None => api::Status::RUNNING,
            };
            resp.status = st.into();
            resp
        })
    }

    async fn kill_exec(&self, id: &str, exec_id: &str, signal: u32) -> TtrpcResult<api::Empty> {
        let pid = self.with_exec(id, exec_id, |c, e| {
            if e.exit.borrow().is_some() {
                return Err(status(Code::NOT_FOUND, format!("exec process {exec_id}: process already finished")));
            }
            if !e.started() {
                return Err(status(Code::FAILED_PRECONDITION, format!("exec process {exec_id} was not started")));
            }
            if c.paused {
                return Err(status(
                    Code::FAILED_PRECONDITION,
                    format!("container {id} is paused: resume it before signalling exec process {exec_id}"),
                ));
            }
            Ok(e.pid)
        })??;
        let signo =
            i32::try_from(signal).map_err(|_| status(Code::INVALID_ARGUMENT, format!("invalid signal {signal}")))?;
        let kid = id.to_string();
        self.blocking(move |rt| rt.signal_process(&kid, pid, signo))
            .await
            .map_err(|e| runtime_error(&format!("signalling exec {exec_id} in {id}"), e))?;
        Ok(api::Empty::new())
    }

    async fn wait_exec(&self, id: &str, exec_id: &str) -> TtrpcResult<api::WaitResponse> {
        let mut rx = self.with_exec(id, exec_id, |_, e| e.exit.subscribe())?;
        let exit = match rx.wait_for(Option::is_some).await {
            Ok(e) => (*e).unwrap_or(Exit { status: KILLED_EXIT_STATUS, at: SystemTime::now() }),
            Err(_) => return Err(status(Code::NOT_FOUND, format!("exec process {exec_id} of {id} was deleted"))),
        };
        Ok(api::WaitResponse {
            exit_status: exit.status,
            exited_at: MessageField::some(timestamp(exit.at)),
            ..Default::default()
        })
    }

    /// Freezes or thaws the sandbox cgroup of container `id`.
    async fn set_paused(&self, id: &str, paused: bool) -> TtrpcResult<()> {
        let cg = {
            let map = self.containers();
            let c = map.get(id).ok_or_else(|| Self::not_found(id))?;
            if !c.started || c.exit.borrow().is_some() {
                return Err(status(Code::FAILED_PRECONDITION, format!("container {id} is not running")));
            }
            if c.paused == paused {
                let what = if paused { "already paused" } else { "not paused" };
                return Err(status(Code::FAILED_PRECONDITION, format!("container {id} is {what}")));
            }
            match &c.cgroup {
                Some((cg, _)) => cg.clone(),
                None => {
                    return Err(status(Code::FAILED_PRECONDITION, format!("container {id}: its sandbox has no cgroup")))
                }
            }
        };
        tokio::task::spawn_blocking(move || cg.freeze(paused))
            .await
            .map_err(|e| status(Code::UNKNOWN, format!("freezer of {id}: {e}")))?
            .map_err(|e| status(Code::UNKNOWN, format!("freezer of {id}: {e}")))?;
        if let Some(c) = self.containers().get_mut(id) {
            c.paused = paused;
        }
        Ok(())
    }

    fn not_found(id: &str) -> ttrpc::Error {
        status(Code::NOT_FOUND, format!("container {id} does not exist in this shim"))
    }

    /// Watches container `id` (sandbox pid `pid`) until its init exits,
    /// publishing TaskOOM when the OOM killer strikes in its `cgroup`;
    /// then drains its output, records the exit and publishes TaskExit.
    fn watch_exit(
        &self,
        id: String,
        pid: u32,
        cgroup: Option<Cgroup>,
        copies: Arc<tokio::sync::Mutex<StdioCopies>>,
        tx: watch::Sender<Option<Exit>>,
    ) {
        let rt = self.runtime.clone();
        let reaped = self.reaped.clone();
        let publisher = self.publisher.clone();
        let namespace = self.namespace.clone();
        tokio::spawn(async move {
            let mut oom = OomWatch { id: id.clone(), seen: cgroup.as_ref().map_or(0, Cgroup::oom_kills), cgroup };
            let wait_id = id.clone();
            let mut wait = tokio::task::spawn_blocking(move || rt.wait(&wait_id));
            let pid_i32 = i32::try_from(pid).unwrap_or(0);
            let mut tick = tokio::time::interval(OOM_POLL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let code = loop {
                tokio::select! {
                    r = &mut wait => break match r {
                        Ok(Ok(ws)) => exit_status(ws),
                        Ok(Err(e)) => {
                            tracing::warn!("container {id}: waiting through the sandbox failed: {e}");
                            sandbox_death(&reaped, pid_i32).await
                        }
                        Err(e) => {
                            tracing::warn!("container {id}: wait task failed: {e}");
                            sandbox_death(&reaped, pid_i32).await
                        }
                    },
                    code = reaped.wait(pid_i32), if pid_i32 > 0 => {
                        // The sandbox process is gone; its answer to Wait may
                        // still be in flight.
                        break match tokio::time::timeout(Duration::from_secs(2), &mut wait).await {
                            Ok(Ok(Ok(ws))) => exit_status(ws),
                            _ => {
                                tracing::warn!("container {id}: sandbox process {pid} exited ({code}) without reporting an exit");
                                code.clamp(0, 255) as u32
                            }
                        };
                    }
                    _ = tick.tick(), if oom.cgroup.is_some() => oom.check(&publisher, &namespace).await,
                }
            };
            // An OOM kill that ended the container is reported before its exit.
            oom.check(&publisher, &namespace).await;
            copies.lock().await.finish(OUTPUT_GRACE).await;
            let exit = Exit { status: code, at: SystemTime::now() };
            tracing::info!("container {id} exited with status {code}");
            tx.send_replace(Some(exit));
            let ev = TaskExit {
                container_id: id.clone(),
                id,
                pid,
                exit_status: code,
                exited_at: MessageField::some(timestamp(exit.at)),
                ..Default::default()
            };
            publish(&publisher, &namespace, topics::TASK_EXIT_EVENT_TOPIC, Box::new(ev)).await;
        });
    }
}

/// Publishes TaskOOM when the OOM kill count of a container's cgroup grows.
struct OomWatch {
    id: String,
    cgroup: Option<Cgroup>,
    seen: u64,
}

impl OomWatch {
    async fn check(&mut self, publisher: &RemotePublisher, namespace: &str) {
        let Some(cg) = &self.cgroup else { return };
        let kills = cg.oom_kills();
        if kills > self.seen {
            self.seen = kills;
            tracing::warn!("container {}: the OOM killer struck in its sandbox's cgroup ({kills} kills)", self.id);
            let ev = TaskOOM { container_id: self.id.clone(), ..Default::default() };
            publish(publisher, namespace, topics::TASK_OOM_EVENT_TOPIC, Box::new(ev)).await;
        }
    }
}

/// The exit status of a container whose sandbox died without reporting.
async fn sandbox_death(reaped: &Reaped, pid: i32) -> u32 {
    if pid > 0 {
        if let Ok(code) = tokio::time::timeout(Duration::from_secs(2), reaped.wait(pid)).await {
            if code != 0 {
                return code.clamp(0, 255) as u32;
            }
        }
    }
    KILLED_EXIT_STATUS
}

async fn publish(publisher: &RemotePublisher, namespace: &str, topic: &str, event: Box<dyn MessageDyn>) {
    if let Err(e) = publisher.publish(ttrpc::context::Context::default(), topic, namespace, event).await {
        tracing::warn!("publishing {topic}: {e}");
    }
}

fn unmount(rootfs: &Path) {
    if let Err(e) = containerd_shim::mount::umount_recursive(rootfs.to_str(), libc::MNT_DETACH) {
        tracing::warn!("unmounting {}: {e}", rootfs.display());
    }
}

async fn mount_rootfs(
    bundle: &Path,
    mounts: &[containerd_shim_protos::types::mount::Mount],
) -> TtrpcResult<Option<PathBuf>> {
    if mounts.is_empty() {
        return Ok(None);
    }
    let rootfs = bundle.join("rootfs");
    tokio::fs::create_dir_all(&rootfs)
        .await
        .map_err(|e| status(Code::UNKNOWN, format!("creating {}: {e}", rootfs.display())))?;
    for m in mounts {
        if let Err(e) = containerd_shim::asynchronous::util::mount_rootfs(m, &rootfs).await {
            unmount(&rootfs);
            return Err(status(Code::UNKNOWN, format!("mounting the root file system ({}): {e}", m.type_)));
        }
    }
    Ok(Some(rootfs))
}

#[async_trait]
impl<R: ContainerRuntime> Task for TaskService<R> {
    async fn create(&self, _ctx: &TtrpcContext, req: api::CreateTaskRequest) -> TtrpcResult<api::CreateTaskResponse> {
        let id = req.id.clone();
        tracing::info!("create {id} (bundle {})", req.bundle);
        if let Err(e) = sandbox::state::validate_id(&id) {
            return Err(status(Code::INVALID_ARGUMENT, e.to_string()));
        }
        if self.containers().contains_key(&id) {
            return Err(status(Code::ALREADY_EXISTS, format!("container {id} already exists")));
        }
        if !req.checkpoint.is_empty() || !req.parent_checkpoint.is_empty() {
            return Err(not_supported("restoring from a checkpoint"));
        }
        let config = match req.options.as_ref() {
            Some(any) => RunscConfig::from_options(&any.type_url, &any.value),
            None => Ok(RunscConfig::default()),
        }
        .map_err(|e| status(Code::INVALID_ARGUMENT, e.to_string()))?;
        let bundle = PathBuf::from(&req.bundle);
        if let Ok(json) = serde_json::to_vec(&config) {
            if let Err(e) = tokio::fs::write(bundle.join(CONFIG_FILE), json).await {
                return Err(status(Code::UNKNOWN, format!("writing {}: {e}", bundle.join(CONFIG_FILE).display())));
            }
        }
        let rootfs = mount_rootfs(&bundle, &req.rootfs).await?;
        let paths = StdioPaths { stdin: req.stdin.clone(), stdout: req.stdout.clone(), stderr: req.stderr.clone() };
        let (container_stdio, mut copies, console) = match open_stdio(&paths, req.terminal) {
            Ok(s) => s,
            Err(e) => {
                if let Some(r) = &rootfs {
                    unmount(r);
                }
                return Err(status(Code::UNKNOWN, format!("container {id}: {e}")));
            }
        };
        let (cid, cbundle) = (id.clone(), bundle.clone());
        let created = self
            .blocking(move |rt| rt.create(CreateParams { id: &cid, bundle: &cbundle, config, stdio: container_stdio }))
            .await;
        let pid = match created {
            Ok(pid) => pid,
            Err(e) => {
                tracing::warn!("create {id} failed: {e}");
                copies.abort();
                if let Some(r) = &rootfs {
                    unmount(r);
                }
                return Err(runtime_error(&format!("runsc create {id}"), e));
            }
        };
        let cgroup = if pid > 0 {
            let cid = id.clone();
            match tokio::task::spawn_blocking(move || Cgroup::isolate(&cid, &crate::cgroup::process_tree(pid))).await {
                Ok(Ok(cg)) => Some(cg),
                Ok(Err(e)) => {
                    tracing::warn!("container {id}: no cgroup of its own (pause and metrics unavailable): {e}");
                    None
                }
                Err(e) => {
                    tracing::warn!("container {id}: cgroup setup failed: {e}");
                    None
                }
            }
        } else {
            None
        };
        if let Some((cg, true)) = &cgroup {
            // The spec's limits bound the whole sandbox. Best effort, like
            // the cgroup itself: a host whose cgroups cannot be written
            // still runs containers.
            let (cg, cbundle) = (cg.clone(), bundle.clone());
            let applied = tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
                let r = Resources::from_bundle(&cbundle)?;
                if !r.is_empty() {
                    cg.apply(&r)?;
                }
                Ok(())
            })
            .await;
            match applied {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!("container {id}: resource limits not applied: {e:#}"),
                Err(e) => tracing::warn!("container {id}: resource limits not applied: {e}"),
            }
        }
        let (exit, _) = watch::channel(None);
        self.containers().insert(
            id.clone(),
            Container {
                bundle: req.bundle.clone(),
                stdio: paths,
                pid,
                started: false,
                rootfs,
                copies: Arc::new(tokio::sync::Mutex::new(copies)),
                exit,
                cgroup,
                paused: false,
                console,
                execs: HashMap::new(),
            },
        );
        let ev = TaskCreate {
            container_id: id.clone(),
            bundle: req.bundle.clone(),
            rootfs: req.rootfs.clone(),
            io: MessageField::some(TaskIO {
                stdin: req.stdin.clone(),
                stdout: req.stdout.clone(),
                stderr: req.stderr.clone(),
                terminal: req.terminal,
                ..Default::default()
            }),
            checkpoint: req.checkpoint.clone(),
            pid,
            ..Default::default()
        };
        self.publish(topics::TASK_CREATE_EVENT_TOPIC, Box::new(ev)).await;
        Ok(api::CreateTaskResponse { pid, ..Default::default() })
    }

    async fn start(&self, _ctx: &TtrpcContext, req: api::StartRequest) -> TtrpcResult<api::StartResponse> {
        if !req.exec_id.is_empty() {
            return self.start_exec(req.id, req.exec_id).await;
        }
        let id = req.id.clone();
        let (pid, cgroup, copies, tx) = {
            let map = self.containers();
            let c = map.get(&id).ok_or_else(|| Self::not_found(&id))?;
            if c.started {
                return Err(status(Code::FAILED_PRECONDITION, format!("container {id} was already started")));
            }
            (c.pid, c.cgroup.as_ref().map(|(cg, _)| cg.clone()), c.copies.clone(), c.exit.clone())
        };
        let sid = id.clone();
        self.blocking(move |rt| rt.start(&sid)).await.map_err(|e| runtime_error(&format!("runsc start {id}"), e))?;
        if let Some(c) = self.containers().get_mut(&id) {
            c.started = true;
        }
        self.watch_exit(id.clone(), pid, cgroup, copies, tx);
        let ev = TaskStart { container_id: id, pid, ..Default::default() };
        self.publish(topics::TASK_START_EVENT_TOPIC, Box::new(ev)).await;
        Ok(api::StartResponse { pid, ..Default::default() })
    }

    async fn delete(&self, _ctx: &TtrpcContext, req: api::DeleteRequest) -> TtrpcResult<api::DeleteResponse> {
        if !req.exec_id.is_empty() {
            return self.delete_exec(&req.id, &req.exec_id).await;
        }
        let id = req.id.clone();
        let (started, exited, copies, cgroup, paused) = {
            let map = self.containers();
            let c = map.get(&id).ok_or_else(|| Self::not_found(&id))?;
            let exited = *c.exit.borrow();
            (c.started, exited, c.copies.clone(), c.cgroup.clone(), c.paused)
        };
        if started && exited.is_none() {
            let sid = id.clone();
            if let Ok(s) = self.blocking(move |rt| rt.state(&sid)).await {
                if matches!(s.status, Status::Running | Status::Paused) {
                    return Err(status(
                        Code::FAILED_PRECONDITION,
                        format!("container {id} is still running: kill it before deleting it"),
                    ));
                }
            }
        }
        if paused {
            // Frozen processes cannot die: thaw them for the forced delete.
            if let Some((cg, _)) = &cgroup {
                if let Err(e) = cg.freeze(false) {
                    tracing::warn!("thawing {id} for delete: {e}");
                }
            }
        }
        let did = id.clone();
        self.blocking(move |rt| rt.delete(&did)).await.map_err(|e| runtime_error(&format!("runsc delete {id}"), e))?;
        copies.lock().await.abort();
        let Some(c) = self.containers().remove(&id) else {
            return Err(Self::not_found(&id));
        };
        for e in c.execs.values() {
            // Their watchers may be draining; they end with the sandbox.
            if let Ok(mut copies) = e.copies.try_lock() {
                copies.abort();
            }
        }
        if let Some(r) = &c.rootfs {
            unmount(r);
        }
        if let Some((cg, true)) = c.cgroup.clone() {
            if let Err(e) = tokio::task::spawn_blocking(move || cg.remove()).await {
                tracing::warn!("removing the cgroup of {id}: {e}");
            }
        }
        let exit = exited.unwrap_or(Exit { status: KILLED_EXIT_STATUS, at: SystemTime::now() });
        c.exit.send_replace(Some(exit));
        let at = timestamp(exit.at);
        let ev = TaskDelete {
            container_id: id.clone(),
            id: id.clone(),
            pid: c.pid,
            exit_status: exit.status,
            exited_at: MessageField::some(at.clone()),
            ..Default::default()
        };
        self.publish(topics::TASK_DELETE_EVENT_TOPIC, Box::new(ev)).await;
        Ok(api::DeleteResponse {
            pid: c.pid,
            exit_status: exit.status,
            exited_at: MessageField::some(at),
            ..Default::default()
        })
    }

    async fn state(&self, _ctx: &TtrpcContext, req: api::StateRequest) -> TtrpcResult<api::StateResponse> {
        if !req.exec_id.is_empty() {
            return self.state_exec(&req.id, &req.exec_id).await;
        }
        let id = req.id.clone();
        let (bundle, paths, pid, started, exited, paused, terminal) = {
            let map = self.containers();
            let c = map.get(&id).ok_or_else(|| Self::not_found(&id))?;
            let exited = *c.exit.borrow();
            (c.bundle.clone(), c.stdio.clone(), c.pid, c.started, exited, c.paused, c.console.is_some())
        };
        let mut resp = api::StateResponse {
            id: id.clone(),
            bundle,
            pid,
            stdin: paths.stdin,
            stdout: paths.stdout,
            stderr: paths.stderr,
            terminal,
            ..Default::default()
        };
        let st = match exited {
            Some(exit) => {
                resp.exit_status = exit.status;
                resp.exited_at = MessageField::some(timestamp(exit.at));
                api::Status::STOPPED
            }
            None if !started => api::Status::CREATED,
            None if paused => api::Status::PAUSED,
            None => {
                let sid = id.clone();
                match self.blocking(move |rt| rt.state(&sid)).await {
                    Ok(s) => match s.status {
                        Status::Created => api::Status::CREATED,
                        Status::Running => api::Status::RUNNING,
                        Status::Paused => api::Status::PAUSED,
                        // The exit is being recorded; report running until then.
                        Status::Stopped => api::Status::RUNNING,
                    },
                    Err(e) => {
                        tracing::warn!("state of {id}: {e}");
                        api::Status::UNKNOWN
                    }
                }
            }
        };
        resp.status = st.into();
        Ok(resp)
    }

    async fn kill(&self, _ctx: &TtrpcContext, req: api::KillRequest) -> TtrpcResult<api::Empty> {
        if !req.exec_id.is_empty() {
            return self.kill_exec(&req.id, &req.exec_id, req.signal).await;
        }
        let id = req.id.clone();
        let (exited, paused) = {
            let map = self.containers();
            let c = map.get(&id).ok_or_else(|| Self::not_found(&id))?;
            let exited = c.exit.borrow().is_some();
            (exited, c.paused)
        };
        if exited {
            return Err(status(Code::NOT_FOUND, format!("container {id}: process already finished")));
        }
        let signo = i32::try_from(req.signal)
            .map_err(|_| status(Code::INVALID_ARGUMENT, format!("invalid signal {}", req.signal)))?;
        if paused {
            // A frozen Sentry cannot take the signal: SIGKILL thaws it
            // first (as runc does); other signals wait for a resume.
            if signo != libc::SIGKILL {
                return Err(status(
                    Code::FAILED_PRECONDITION,
                    format!("container {id} is paused: resume it before sending signal {signo}"),
                ));
            }
            self.set_paused(&id, false).await?;
            let ev = TaskResumed { container_id: id.clone(), ..Default::default() };
            self.publish(topics::TASK_RESUMED_EVENT_TOPIC, Box::new(ev)).await;
        }
        let all = req.all;
        let kid = id.clone();
        self.blocking(move |rt| rt.kill(&kid, signo, all))
            .await
            .map_err(|e| runtime_error(&format!("runsc kill {id}"), e))?;
        Ok(api::Empty::new())
    }

    async fn wait(&self, _ctx: &TtrpcContext, req: api::WaitRequest) -> TtrpcResult<api::WaitResponse> {
        if !req.exec_id.is_empty() {
            return self.wait_exec(&req.id, &req.exec_id).await;
        }
        let mut rx = {
            let c = self.containers();
            c.get(&req.id).ok_or_else(|| Self::not_found(&req.id))?.exit.subscribe()
        };
        let exit = match rx.wait_for(Option::is_some).await {
            Ok(e) => (*e).unwrap_or(Exit { status: KILLED_EXIT_STATUS, at: SystemTime::now() }),
            Err(_) => return Err(status(Code::NOT_FOUND, format!("container {} was deleted", req.id))),
        };
        Ok(api::WaitResponse {
            exit_status: exit.status,
            exited_at: MessageField::some(timestamp(exit.at)),
            ..Default::default()
        })
    }

    /// The processes inside the sandbox, with their sandbox pids (the
    /// init is 1).
    async fn pids(&self, _ctx: &TtrpcContext, req: api::PidsRequest) -> TtrpcResult<api::PidsResponse> {
        let id = req.id.clone();
        let exited = {
            let map = self.containers();
            let exited = map.get(&id).ok_or_else(|| Self::not_found(&id))?.exit.borrow().is_some();
            exited
        };
        let pid_id = id.clone();
        let procs = match self.blocking(move |rt| rt.processes(&pid_id)).await {
            Ok(procs) => procs,
            // A stopped container's sandbox may be gone: nothing runs.
            Err(_) if exited => Vec::new(),
            Err(e) => return Err(runtime_error(&format!("processes of {id}"), e)),
        };
        Ok(api::PidsResponse {
            processes: procs
                .into_iter()
                .map(|p| containerd_shim_protos::types::task::ProcessInfo { pid: p.pid, ..Default::default() })
                .collect(),
            ..Default::default()
        })
    }

    async fn close_io(&self, _ctx: &TtrpcContext, req: api::CloseIORequest) -> TtrpcResult<api::Empty> {
        let copies = if req.exec_id.is_empty() {
            let c = self.containers();
            c.get(&req.id).ok_or_else(|| Self::not_found(&req.id))?.copies.clone()
        } else {
            self.with_exec(&req.id, &req.exec_id, |_, e| e.copies.clone())?
        };
        if req.stdin {
            copies.lock().await.close_stdin();
        }
        Ok(api::Empty::new())
    }

    async fn connect(&self, _ctx: &TtrpcContext, req: api::ConnectRequest) -> TtrpcResult<api::ConnectResponse> {
        let task_pid = self.containers().get(&req.id).map(|c| c.pid).unwrap_or(0);
        Ok(api::ConnectResponse {
            shim_pid: std::process::id(),
            task_pid,
            version: format!("containerd-shim-runsc-v1 {}", env!("CARGO_PKG_VERSION")),
            ..Default::default()
        })
    }

    async fn shutdown(&self, _ctx: &TtrpcContext, _req: api::ShutdownRequest) -> TtrpcResult<api::Empty> {
        let left = self.containers().len();
        if left == 0 {
            tracing::info!("no containers left: shutting down");
            self.exit_signal.signal();
        } else {
            tracing::info!("shutdown requested; {left} container(s) still in this shim");
        }
        Ok(api::Empty::new())
    }

    async fn stats(&self, _ctx: &TtrpcContext, req: api::StatsRequest) -> TtrpcResult<api::StatsResponse> {
        let cgroup = {
            let map = self.containers();
            map.get(&req.id).ok_or_else(|| Self::not_found(&req.id))?.cgroup.clone()
        };
        let Some((cg, _)) = cgroup else {
            return Err(status(Code::FAILED_PRECONDITION, format!("container {}: its sandbox has no cgroup", req.id)));
        };
        let usage = tokio::task::spawn_blocking(move || cg.usage())
            .await
            .map_err(|e| status(Code::UNKNOWN, format!("reading the cgroup of {}: {e}", req.id)))?;
        let metrics = cgv2::Metrics {
            pids: MessageField::some(cgv2::PidsStat {
                current: usage.pids,
                limit: usage.pids_limit,
                ..Default::default()
            }),
            cpu: MessageField::some(cgv2::CPUStat {
                usage_usec: usage.cpu_usec,
                user_usec: usage.cpu_user_usec,
                system_usec: usage.cpu_system_usec,
                ..Default::default()
            }),
            memory: MessageField::some(cgv2::MemoryStat {
                usage: usage.memory,
                usage_limit: usage.memory_limit,
                ..Default::default()
            }),
            memory_events: MessageField::some(cgv2::MemoryEvents { oom_kill: usage.oom_kills, ..Default::default() }),
            ..Default::default()
        };
        let value = metrics
            .write_to_bytes()
            .map_err(|e| status(Code::UNKNOWN, format!("encoding the metrics of {}: {e}", req.id)))?;
        let stats = Any { type_url: METRICS_V2_TYPE.to_string(), value, ..Default::default() };
        Ok(api::StatsResponse { stats: MessageField::some(stats), ..Default::default() })
    }

    async fn exec(&self, _ctx: &TtrpcContext, req: api::ExecProcessRequest) -> TtrpcResult<api::Empty> {
        let (id, exec_id) = (req.id.clone(), req.exec_id.clone());
        if exec_id.is_empty() {
            return Err(status(Code::INVALID_ARGUMENT, format!("exec in {id}: no exec id")));
        }
        let process =
            exec_process(&req).map_err(|e| status(Code::INVALID_ARGUMENT, format!("exec {exec_id} in {id}: {e}")))?;
        let check = |c: &Container| {
            if c.execs.contains_key(&exec_id) {
                return Err(status(
                    Code::ALREADY_EXISTS,
                    format!("exec process {exec_id} already exists in container {id}"),
                ));
            }
            if !c.started || c.exit.borrow().is_some() {
                return Err(status(Code::FAILED_PRECONDITION, format!("container {id} is not running")));
            }
            if c.paused {
                return Err(status(Code::FAILED_PRECONDITION, format!("container {id} is paused")));
            }
            Ok(())
        };
        {
            let map = self.containers();
            check(map.get(&id).ok_or_else(|| Self::not_found(&id))?)?;
        }
        let paths = StdioPaths { stdin: req.stdin.clone(), stdout: req.stdout.clone(), stderr: req.stderr.clone() };
        let (exec_stdio, mut copies, console) = open_stdio(&paths, req.terminal)
            .map_err(|e| status(Code::UNKNOWN, format!("exec {exec_id} in {id}: {e}")))?;
        {
            let mut map = self.containers();
            let c = match map.get_mut(&id) {
                Some(c) => c,
                None => {
                    copies.abort();
                    return Err(Self::not_found(&id));
                }
            };
            if let Err(e) = check(c) {
                copies.abort();
                return Err(e);
            }
            c.execs.insert(
                exec_id.clone(),
                ExecProc {
                    pending: Some((process, exec_stdio)),
                    stdio: paths,
                    console,
                    pid: 0,
                    copies: Arc::new(tokio::sync::Mutex::new(copies)),
                    exit: watch::channel(None).0,
                },
            );
        }
        let ev = TaskExecAdded { container_id: id, exec_id, ..Default::default() };
        self.publish(topics::TASK_EXEC_ADDED_EVENT_TOPIC, Box::new(ev)).await;
        Ok(api::Empty::new())
    }

    async fn resize_pty(&self, _ctx: &TtrpcContext, req: api::ResizePtyRequest) -> TtrpcResult<api::Empty> {
        let (id, exec_id) = (req.id.clone(), req.exec_id.clone());
        let rows = u16::try_from(req.height).unwrap_or(u16::MAX);
        let cols = u16::try_from(req.width).unwrap_or(u16::MAX);
        let Some(pid) = self.with_console(&id, &exec_id, |console, pid| match pid {
            Some(pid) => Ok(Some(pid)),
            // Not started: the process finds the size when it starts.
            None => console.resize(rows, cols).map(|()| None),
        })??
        else {
            return Ok(api::Empty::new());
        };
        let rid = id.clone();
        if let Err(e) = self.blocking(move |rt| rt.resize(&rid, pid, rows, cols)).await {
            // Resizing on the host signals the Sentry, which passes it on.
            tracing::warn!("resizing the terminal of {id} {exec_id} through the sandbox: {e}; resizing it on the host");
            self.with_console(&id, &exec_id, |console, _| console.resize(rows, cols))??;
        }
        Ok(api::Empty::new())
    }

    async fn pause(&self, _ctx: &TtrpcContext, req: api::PauseRequest) -> TtrpcResult<api::Empty> {
        self.set_paused(&req.id, true).await?;
        let ev = TaskPaused { container_id: req.id, ..Default::default() };
        self.publish(topics::TASK_PAUSED_EVENT_TOPIC, Box::new(ev)).await;
        Ok(api::Empty::new())
    }

    async fn resume(&self, _ctx: &TtrpcContext, req: api::ResumeRequest) -> TtrpcResult<api::Empty> {
        self.set_paused(&req.id, false).await?;
        let ev = TaskResumed { container_id: req.id, ..Default::default() };
        self.publish(topics::TASK_RESUMED_EVENT_TOPIC, Box::new(ev)).await;
        Ok(api::Empty::new())
    }

    async fn update(&self, _ctx: &TtrpcContext, req: api::UpdateTaskRequest) -> TtrpcResult<api::Empty> {
        let id = req.id.clone();
        let cgroup = {
            let map = self.containers();
            let c = map.get(&id).ok_or_else(|| Self::not_found(&id))?;
            if c.exit.borrow().is_some() {
                return Err(status(Code::FAILED_PRECONDITION, format!("container {id} is not running")));
            }
            c.cgroup.clone()
        };
        let Some(any) = req.resources.as_ref() else {
            return Ok(api::Empty::new());
        };
        if !any.type_url.ends_with(LINUX_RESOURCES_TYPE) {
            return Err(status(
                Code::INVALID_ARGUMENT,
                format!(
                    "container {id}: unsupported resources type {:?} (expected {LINUX_RESOURCES_TYPE})",
                    any.type_url
                ),
            ));
        }
        let resources = Resources::from_json(&any.value)
            .map_err(|e| status(Code::INVALID_ARGUMENT, format!("container {id}: invalid resources: {e}")))?;
        // A pod's containers share its sandbox, and the cgroup the shim
        // made for it: the limits bound the pod.
        let pods = |cg: &Cgroup| self.containers().values().any(|o| matches!(&o.cgroup, Some((c, true)) if c == cg));
        let cg = match cgroup {
            Some((cg, true)) => cg,
            Some((cg, false)) if pods(&cg) => cg,
            _ => {
                return Err(status(
                    Code::FAILED_PRECONDITION,
                    format!("container {id}: its sandbox has no cgroup of its own to apply resources to"),
                ))
            }
        };
        tracing::info!("update {id}: {resources:?}");
        tokio::task::spawn_blocking(move || cg.apply(&resources))
            .await
            .map_err(|e| status(Code::UNKNOWN, format!("updating the resources of {id}: {e}")))?
            .map_err(|e| status(Code::UNKNOWN, format!("updating the resources of {id}: {e}")))?;
        Ok(api::Empty::new())
    }

    async fn checkpoint(&self, _ctx: &TtrpcContext, _req: api::CheckpointTaskRequest) -> TtrpcResult<api::Empty> {
        Err(not_supported("checkpointing"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(spec: &str, terminal: bool) -> api::ExecProcessRequest {
        api::ExecProcessRequest {
            id: "c".into(),
            exec_id: "e".into(),
            terminal,
            spec: MessageField::some(Any {
                type_url: "types.containerd.io/opencontainers/runtime-spec/1/Process".into(),
                value: spec.as_bytes().to_vec(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn exec_specs_become_sandbox_processes() {
        let spec = r#"{"terminal":true,"user":{"uid":1000,"gid":100,"additionalGids":[5]},
            "args":["sh","-c","exit 7"],"env":["PATH=/bin","A=b"],"cwd":"/tmp",
            "capabilities":{"bounding":["CAP_CHOWN"]},"noNewPrivileges":true}"#;
        let p = exec_process(&request(spec, true)).unwrap();
        assert_eq!(p.args, ["sh", "-c", "exit 7"]);
        assert_eq!(p.env, ["PATH=/bin", "A=b"]);
        assert_eq!((p.cwd.as_str(), p.uid, p.gid, p.terminal), ("/tmp", 1000, 100, true));
        let p = exec_process(&request(r#"{"args":["true"],"env":null}"#, false)).unwrap();
        assert_eq!((p.env.len(), p.cwd.as_str(), p.uid, p.terminal), (0, "", 0, false));
        for bad in [r#"{"args":[]}"#, r#"{"cwd":"/"}"#, "{not json"] {
            assert!(exec_process(&request(bad, false)).is_err(), "{bad}");
        }
        let none = api::ExecProcessRequest { exec_id: "e".into(), ..Default::default() };
        assert!(exec_process(&none).is_err());
    }
}
