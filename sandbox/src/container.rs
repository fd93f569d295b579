//! The container lifecycle as `runsc` drives it: create, start, state,
//! kill, wait, delete, and run (all of them in the foreground).
//!
//! `create` starts a Gofer for the container's root and bind mounts and the
//! sandbox process (`runsc boot`, the Sentry), which loads the container and
//! then waits on its control socket; later invocations find it through the
//! state record and talk to it over that socket.

use std::io::Read;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context as _};
use proto::{request, response, Request};
use serde::Serialize;

use crate::gofer::{self, GoferMount};
use crate::oci::{self, MountKind};
use crate::state::{ContainerRecord, StateDir, Status};
use crate::{confine, control};

/// Global options of a runsc invocation that the lifecycle needs.
#[derive(Clone, Debug)]
pub struct Runtime {
    pub state: StateDir,
    /// The runsc binary, re-executed as `runsc gofer` and `runsc boot`.
    pub runsc: PathBuf,
    pub platform: String,
    pub debug: bool,
    pub debug_log: Option<String>,
    pub strace: bool,
    /// Put each sandbox's host processes in a cgroup of its own, from the
    /// spec's `linux.cgroupsPath` and `linux.resources` (`runsc`); `None`:
    /// leave them where they are (the shim manages cgroups itself).
    pub cgroup_manager: Option<crate::cgroup::Manager>,
}

/// A process to start in a running container (`runsc exec`).
#[derive(Clone, Debug, Default)]
pub struct ExecProcess {
    pub args: Vec<String>,
    /// Empty: the container's environment.
    pub env: Vec<String>,
    /// Empty: `/`.
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    /// Its stdio is a terminal that becomes its controlling terminal
    /// (`exec --tty`, `process.terminal`).
    pub terminal: bool,
}

/// Host descriptors that become a container's stdin, stdout and stderr
/// (the shim passes containerd's FIFOs); without them the container uses
/// the calling process's stdio, as with `runc create`.
pub struct ContainerStdio {
    pub stdin: std::os::fd::OwnedFd,
    pub stdout: std::os::fd::OwnedFd,
    pub stderr: std::os::fd::OwnedFd,
}

/// The OCI state of a container, as `runsc state` prints it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OciState {
    pub oci_version: &'static str,
    pub id: String,
    pub status: &'static str,
    pub pid: i32,
    pub bundle: PathBuf,
    pub annotations: std::collections::BTreeMap<String, String>,
}

/// The CRI annotation naming a container's role in its pod: `sandbox`
/// (the pod's first container, which creates the sandbox) or `container`.
pub const CONTAINER_TYPE_ANNOTATION: &str = "io.kubernetes.cri.container-type";
/// The CRI annotation naming the pod's sandbox (its first container's id).
pub const SANDBOX_ID_ANNOTATION: &str = "io.kubernetes.cri.sandbox-id";

/// The sandbox container `id` joins instead of creating one: a CRI
/// `container` with its pod's sandbox id.
fn sandbox_to_join<'a>(id: &str, config: &'a oci::ContainerConfig) -> Option<&'a str> {
    if config.annotations.get(CONTAINER_TYPE_ANNOTATION).map(String::as_str) != Some("container") {
        return None;
    }
    config.annotations.get(SANDBOX_ID_ANNOTATION).map(String::as_str).filter(|s| *s != id)
}

/// What the container's Gofer serves: its root, then its bind mounts in
/// spec order.
fn gofer_mounts(config: &oci::ContainerConfig) -> Vec<GoferMount> {
    let mut mounts = vec![GoferMount { host_path: config.root.clone(), read_only: config.root_read_only }];
    for m in &config.mounts {
        if let MountKind::Bind { source, read_only } = &m.kind {
            mounts.push(GoferMount { host_path: source.clone(), read_only: *read_only });
        }
    }
    mounts
}

/// A container being created: what `create` was given.
#[derive(Clone, Copy)]
struct NewContainer<'a> {
    id: &'a str,
    bundle: &'a Path,
    config: &'a oci::ContainerConfig,
    pid_file: Option<&'a Path>,
}

/// The sandbox a container runs in.
struct SandboxRef {
    /// The sandbox process (`runsc boot`).
    pid: i32,
    /// Its first container's id.
    id: String,
    control_socket: PathBuf,
}

/// Whether host process `pid` exists and has not exited (a zombie whose
/// parent has not reaped it yet counts as gone).
fn process_alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    if pid <= 0 || unsafe { libc::kill(pid, 0) } != 0 {
        return false;
    }
    // The state follows the command name, which is in parentheses.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            !matches!(stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next()), Some('Z' | 'X'))
        }
        Err(_) => false,
    }
}

/// Whether process `pid` is dead or dies within a short grace: for a
/// broken control connection, which a dying sandbox causes (its sockets
/// close before it becomes a zombie) as does a live one in trouble.
fn dies_soon(pid: i32) -> bool {
    for _ in 0..200 {
        if !process_alive(pid) {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    false
}

/// The wait status reported for a container whose sandbox process died
/// (crashed or was killed) without reporting one: killed by SIGKILL.
const SANDBOX_DIED: i32 = libc::SIGKILL;

impl Runtime {
    /// `runsc create`: sets the container up; its process waits for `start`.
    pub fn create(
        &self,
        id: &str,
        bundle: &Path,
        pid_file: Option<&Path>,
        stdio: Option<ContainerStdio>,
    ) -> anyhow::Result<()> {
        let bundle = bundle.canonicalize().with_context(|| format!("bundle {}", bundle.display()))?;
        let config = oci::load_bundle(&bundle)?;
        let lock = self.state.create(id)?;
        let dir = self.state.dir(id);
        let new = NewContainer { id, bundle: &bundle, config: &config, pid_file };
        let result = self.in_host_cgroup(id, &bundle, || self.create_locked(&new, stdio, &lock));
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        result
    }

    fn create_locked(
        &self,
        new: &NewContainer<'_>,
        stdio: Option<ContainerStdio>,
        lock: &crate::state::Lock,
    ) -> anyhow::Result<()> {
        let NewContainer { id, bundle, config, .. } = *new;
        if let Some(sandbox) = sandbox_to_join(id, config) {
            return self.join_locked(new, sandbox, stdio, lock);
        }
        let mut gofer = gofer::spawn(&self.runsc, &gofer_mounts(config), self.debug)?;
        let socket_path = self.state.dir(id).join("control.sock");
        let listener = crate::sockpath::bind(&socket_path)
            .with_context(|| format!("creating control socket {}", socket_path.display()))?;
        let (mut ready_r, ready_w) = confine::pipe().context("creating the ready pipe")?;

        let mut cmd = Command::new(&self.runsc);
        cmd.arg("--platform").arg(&self.platform);
        if self.debug {
            cmd.arg("--debug");
        }
        if self.strace {
            cmd.arg("--strace");
        }
        if let Some(log) = &self.debug_log {
            cmd.arg("--debug-log").arg(log);
        }
        cmd.arg("boot").arg("--id").arg(id).arg("--bundle").arg(bundle);
        cmd.arg("--control-fd").arg(listener.as_raw_fd().to_string());
        cmd.arg("--ready-fd").arg(ready_w.as_raw_fd().to_string());
        // The sandbox records its container's exit here (see `exit_file`).
        let exit_path = self.state.dir(id).join(crate::exit_file::NAME);
        let exit_file =
            std::fs::File::create(&exit_path).with_context(|| format!("creating {}", exit_path.display()))?;
        cmd.arg("--exit-fd").arg(exit_file.as_raw_fd().to_string());
        let mut keep = vec![listener.as_raw_fd(), ready_w.as_raw_fd(), exit_file.as_raw_fd()];
        for s in &gofer.sockets {
            cmd.arg("--gofer-fd").arg(s.as_raw_fd().to_string());
            keep.push(s.as_raw_fd());
        }
        match stdio {
            Some(io) => {
                cmd.stdin(Stdio::from(io.stdin)).stdout(Stdio::from(io.stdout)).stderr(Stdio::from(io.stderr));
            }
            // The container's stdio is this invocation's (as with runc create).
            None => {
                cmd.stdin(Stdio::inherit()).stdout(Stdio::inherit()).stderr(Stdio::inherit());
            }
        }
        // SAFETY: only async-signal-safe calls (fcntl, setsid) between fork
        // and exec, on descriptors that stay open until spawn returns.
        unsafe {
            cmd.pre_exec(move || {
                for &fd in &keep {
                    confine::keep_across_exec(fd)?;
                }
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut boot = match cmd.spawn() {
            Ok(b) => b,
            Err(e) => {
                let _ = gofer.child.kill();
                return Err(e).context("starting the sandbox process");
            }
        };
        drop(ready_w);
        drop(listener);
        drop(std::mem::take(&mut gofer.sockets));

        let mut answer = String::new();
        let _ = ready_r.read_to_string(&mut answer);
        // A Gofer that could not start is the cause of whatever the
        // Sentry reports about it.
        let gofer_started = gofer.started();
        if answer != "ok" || gofer_started.is_err() {
            let _ = boot.kill();
            let _ = boot.wait();
            let _ = gofer.child.kill();
            let _ = gofer.child.wait();
            gofer_started?;
            let why = answer.strip_prefix("error: ").unwrap_or("the sandbox process died while starting");
            bail!("{why}");
        }
        let sandbox_id = config.annotations.get(SANDBOX_ID_ANNOTATION).cloned().unwrap_or_else(|| id.into());
        let sandbox = SandboxRef { pid: boot.id() as i32, id: sandbox_id, control_socket: socket_path };
        self.record_created(new, &sandbox, gofer.child.id() as i32, lock)
    }

    /// Saves the record of a container just created in `sandbox` and
    /// writes its pid file.
    fn record_created(
        &self,
        new: &NewContainer<'_>,
        sandbox: &SandboxRef,
        gofer_pid: i32,
        lock: &crate::state::Lock,
    ) -> anyhow::Result<()> {
        let record = ContainerRecord {
            id: new.id.to_string(),
            bundle: new.bundle.to_path_buf(),
            status: Status::Created,
            sandbox_pid: sandbox.pid,
            gofer_pid,
            sandbox_id: sandbox.id.clone(),
            control_socket: sandbox.control_socket.clone(),
            created: now_rfc3339(),
            annotations: new.config.annotations.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            exit_status: None,
        };
        self.state.save(&record, lock)?;
        if let Some(p) = new.pid_file {
            std::fs::write(p, sandbox.pid.to_string()).with_context(|| format!("writing pid file {}", p.display()))?;
        }
        Ok(())
    }

    /// `create` of a pod's container: a Gofer of its own serves its root
    /// and bind mounts, and the running sandbox of its pod (`sandbox`)
    /// builds it; its record points at that sandbox.
    fn join_locked(
        &self,
        new: &NewContainer<'_>,
        sandbox: &str,
        stdio: Option<ContainerStdio>,
        lock: &crate::state::Lock,
    ) -> anyhow::Result<()> {
        let NewContainer { id, config, .. } = *new;
        let host = self.state.load(sandbox).with_context(|| format!("the sandbox of container {id}"))?;
        if !process_alive(host.sandbox_pid) {
            bail!("sandbox {sandbox} of container {id} is not running");
        }
        let mut gofer = gofer::spawn(&self.runsc, &gofer_mounts(config), self.debug)?;
        let mut fds = match &stdio {
            Some(io) => vec![io.stdin.as_raw_fd(), io.stdout.as_raw_fd(), io.stderr.as_raw_fd()],
            None => vec![0, 1, 2],
        };
        fds.extend(gofer.sockets.iter().map(|s| s.as_raw_fd()));
        let add = proto::AddContainer {
            container_id: id.into(),
            config_json: serde_json::to_string(config).context("encoding the container's configuration")?,
        };
        let added = control::call(&host.control_socket, Request { kind: Some(request::Kind::AddContainer(add)) }, &fds);
        drop(std::mem::take(&mut gofer.sockets));
        if let Err(e) = added {
            // A Gofer that could not start is the cause of the failure.
            gofer.started().with_context(|| format!("adding container {id} to sandbox {sandbox}"))?;
            let _ = gofer.child.kill();
            let _ = gofer.child.wait();
            return Err(e.context(format!("adding container {id} to sandbox {sandbox}")));
        }
        let sandbox = SandboxRef { pid: host.sandbox_pid, id: host.sandbox_id, control_socket: host.control_socket };
        self.record_created(new, &sandbox, gofer.child.id() as i32, lock)
    }

    /// `runsc start`: starts a created container's process.
    pub fn start(&self, id: &str) -> anyhow::Result<()> {
        let lock = self.state.lock(id)?;
        let mut record = self.state.load(id)?;
        let status = self.refresh(&mut record);
        if status != Status::Created {
            bail!("cannot start a container that is {}", status.as_str());
        }
        control::call(
            &record.control_socket,
            Request { kind: Some(request::Kind::Start(proto::Start { container_id: id.into() })) },
            &[],
        )?;
        record.status = Status::Running;
        self.state.save(&record, &lock)?;
        Ok(())
    }

    /// Brings a record's status up to date with the sandbox.
    fn refresh(&self, record: &mut ContainerRecord) -> Status {
        if matches!(record.status, Status::Created | Status::Running | Status::Paused) {
            // A sandbox ends with its container, having recorded the
            // exit (it may linger as a zombie).
            if !process_alive(record.sandbox_pid) || crate::exit_file::read(&self.state.dir(&record.id)).is_some() {
                record.status = Status::Stopped;
            } else if let Ok(resp) = control::call(
                &record.control_socket,
                Request { kind: Some(request::Kind::State(proto::StateQuery {})) },
                &[],
            ) {
                if let Some(response::Kind::State(s)) = resp.kind {
                    if let Some(c) = s.containers.iter().find(|c| c.id == record.id) {
                        record.status = match c.status.as_str() {
                            "created" => Status::Created,
                            "running" => Status::Running,
                            "paused" => Status::Paused,
                            _ => Status::Stopped,
                        };
                    }
                }
            }
        }
        record.status
    }

    /// `runsc state`.
    pub fn state(&self, id: &str) -> anyhow::Result<OciState> {
        let mut record = self.state.load(id)?;
        let status = self.refresh(&mut record);
        Ok(OciState {
            oci_version: "1.0.2",
            id: record.id,
            status: status.as_str(),
            pid: if status == Status::Stopped { 0 } else { record.sandbox_pid },
            bundle: record.bundle,
            annotations: record.annotations,
        })
    }

    /// `runsc kill`.
    pub fn kill(&self, id: &str, signo: i32, all: bool) -> anyhow::Result<()> {
        let mut record = self.state.load(id)?;
        let status = self.refresh(&mut record);
        if !matches!(status, Status::Created | Status::Running | Status::Paused) {
            bail!("container not running");
        }
        if signo == 0 {
            // As kill(2) with 0 (runc passes it on): only checks that the
            // container is there.
            return Ok(());
        }
        control::call(
            &record.control_socket,
            Request {
                kind: Some(request::Kind::Signal(proto::Signal { container_id: id.into(), pid: 0, signo, all })),
            },
            &[],
        )?;
        Ok(())
    }

    /// Sends signal `signo` to process `pid` (its pid in the sandbox, as
    /// [`exec`](Runtime::exec) returns it; 0: the init) of container `id`.
    pub fn signal_process(&self, id: &str, pid: i32, signo: i32) -> anyhow::Result<()> {
        let mut record = self.state.load(id)?;
        let status = self.refresh(&mut record);
        if !matches!(status, Status::Created | Status::Running | Status::Paused) {
            bail!("container not running");
        }
        control::call(
            &record.control_socket,
            Request {
                kind: Some(request::Kind::Signal(proto::Signal { container_id: id.into(), pid, signo, all: false })),
            },
            &[],
        )?;
        Ok(())
    }

    /// `runsc exec`: starts `process` in the running container `id` with
    /// `stdio` (three descriptors) as its standard streams; returns its
    /// pid in the sandbox.
    pub fn exec(&self, id: &str, process: ExecProcess, stdio: [std::os::fd::RawFd; 3]) -> anyhow::Result<i32> {
        let mut record = self.state.load(id)?;
        let status = self.refresh(&mut record);
        if !matches!(status, Status::Running) {
            bail!("cannot exec in a container that is {}", status.as_str());
        }
        let exec = proto::Exec {
            container_id: id.into(),
            args: process.args,
            env: process.env,
            cwd: process.cwd,
            uid: process.uid,
            gid: process.gid,
            terminal: process.terminal,
        };
        let resp = control::call(&record.control_socket, Request { kind: Some(request::Kind::Exec(exec)) }, &stdio)?;
        match resp.kind {
            Some(response::Kind::Pid(pid)) => Ok(pid),
            other => bail!("unexpected answer to exec: {other:?}"),
        }
    }

    /// The environment of container `id`'s process (from its bundle).
    pub fn container_env(&self, id: &str) -> anyhow::Result<Vec<String>> {
        let record = self.state.load(id)?;
        Ok(oci::load_bundle(&record.bundle)?.env)
    }

    /// `runsc pause` / `runsc resume`.
    pub fn pause(&self, id: &str, pause: bool) -> anyhow::Result<()> {
        let lock = self.state.lock(id)?;
        let mut record = self.state.load(id)?;
        let status = self.refresh(&mut record);
        let kind = if pause {
            if status != Status::Running {
                bail!("container {id} is not running");
            }
            request::Kind::Pause(proto::Empty {})
        } else {
            if status != Status::Paused {
                bail!("container {id} is not paused");
            }
            request::Kind::Resume(proto::Empty {})
        };
        control::call(&record.control_socket, Request { kind: Some(kind) }, &[])?;
        record.status = if pause { Status::Paused } else { Status::Running };
        self.state.save(&record, &lock)?;
        Ok(())
    }

    /// Resource use of container `id`'s sandbox.
    pub fn stats(&self, id: &str) -> anyhow::Result<proto::Stats> {
        let record = self.state.load(id)?;
        let resp =
            control::call(&record.control_socket, Request { kind: Some(request::Kind::Stats(proto::Empty {})) }, &[])?;
        match resp.kind {
            Some(response::Kind::Stats(s)) => Ok(s),
            other => bail!("unexpected answer to stats: {other:?}"),
        }
    }

    /// The processes of container `id`: (pid, ppid, uid, command).
    pub fn processes(&self, id: &str) -> anyhow::Result<Vec<(i32, i32, u32, String)>> {
        let record = self.state.load(id)?;
        let resp = control::call(
            &record.control_socket,
            Request { kind: Some(request::Kind::Processes(proto::ProcessesQuery { container_id: id.into() })) },
            &[],
        )?;
        match resp.kind {
            Some(response::Kind::Processes(list)) => {
                Ok(list.processes.into_iter().map(|p| (p.pid, p.ppid, p.uid, p.cmd)).collect())
            }
            other => bail!("unexpected answer to ps: {other:?}"),
        }
    }

    /// `runsc wait`: the wait(2) status of the container's init.
    pub fn wait(&self, id: &str) -> anyhow::Result<i32> {
        self.wait_process(id, 0)
    }

    /// The wait(2) status of process `pid` of the container (0: its init).
    /// If the sandbox process is gone (it crashed or was killed), the
    /// container was killed with it: SIGKILL.
    pub fn wait_process(&self, id: &str, pid: i32) -> anyhow::Result<i32> {
        let record = self.state.load(id)?;
        if !process_alive(record.sandbox_pid) {
            let recorded = if pid == 0 { crate::exit_file::read(&self.state.dir(id)) } else { None };
            return Ok(recorded.or(record.exit_status).unwrap_or(SANDBOX_DIED));
        }
        let resp = control::call(
            &record.control_socket,
            Request { kind: Some(request::Kind::Wait(proto::Wait { container_id: id.into(), pid })) },
            &[],
        );
        // The sandbox ends with its init, recording the status; or it died.
        let resp = match resp {
            Err(e) => {
                // A dying process closes its sockets before it becomes a
                // zombie: give it a moment to finish dying.
                let dead = dies_soon(record.sandbox_pid);
                let recorded = if pid == 0 { crate::exit_file::read(&self.state.dir(id)) } else { None };
                match recorded {
                    Some(status) => return Ok(status),
                    None if dead => return Ok(SANDBOX_DIED),
                    None => return Err(e),
                }
            }
            Ok(r) => r,
        };
        match resp.kind {
            Some(response::Kind::Exited(e)) => Ok(e.wait_status),
            other => bail!("unexpected answer to wait: {other:?}"),
        }
    }

    /// `runsc delete`: removes a stopped (or, with `force`, any) container.
    pub fn delete(&self, id: &str, force: bool) -> anyhow::Result<()> {
        let lock = self.state.lock(id)?;
        let mut record = self.state.load(id)?;
        let status = self.refresh(&mut record);
        if matches!(status, Status::Running | Status::Paused) && !force {
            bail!("cannot delete container {id} that is not stopped: {}", status.as_str());
        }
        // The sandbox ends with the last of its containers.
        let others = self.state.list()?.into_iter().any(|r| r.sandbox_id == record.sandbox_id && r.id != id);
        let sandbox_stays = others && process_alive(record.sandbox_pid);
        let mut doomed = vec![record.gofer_pid];
        if sandbox_stays {
            // Only this container leaves: its processes are killed.
            let remove = proto::RemoveContainer { container_id: id.into() };
            if let Err(e) = control::call(
                &record.control_socket,
                Request { kind: Some(request::Kind::RemoveContainer(remove)) },
                &[],
            ) {
                tracing::warn!(id, error = %e, "removing the container from its sandbox");
            }
        } else {
            doomed.push(record.sandbox_pid);
        }
        for pid in doomed {
            if process_alive(pid) {
                // SAFETY: plain signal send to a process this container owns.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        if sandbox_stays && record.sandbox_id == id {
            // The sandbox's control socket (and its host cgroup's record)
            // live in this directory.
            self.state.retire(id, lock)?;
        } else {
            self.remove_host_cgroup(id);
            self.state.remove(id, lock)?;
        }
        if !sandbox_stays && record.sandbox_id != id {
            self.remove_host_cgroup(&record.sandbox_id);
            self.state.remove_retired(&record.sandbox_id);
        }
        Ok(())
    }

    /// `runsc run` in the foreground: create, start, wait, delete. Returns
    /// the exit code runsc should exit with (128+signal if killed). A
    /// container with `process.terminal` gets a new terminal, relayed to
    /// this process's stdio (see [`crate::tty::Relay`]).
    pub fn run(&self, id: &str, bundle: &Path) -> anyhow::Result<i32> {
        let terminal = oci::load_bundle(&bundle.canonicalize().unwrap_or_else(|_| bundle.to_path_buf()))
            .map(|c| c.terminal)
            .unwrap_or(false);
        if !terminal {
            self.create(id, bundle, None, None)?;
            let result = self.start(id).and_then(|()| self.wait(id));
            let _ = self.delete(id, true);
            return Ok(exit_code(result?));
        }
        let pty = crate::tty::Pty::open()?;
        self.create(id, bundle, None, Some(pty.slave_stdio()?))?;
        drop(pty.slave);
        let relay = match crate::tty::Relay::start(pty.master) {
            Ok(r) => r,
            Err(e) => {
                let _ = self.delete(id, true);
                return Err(e.into());
            }
        };
        let result = self.start(id).and_then(|()| self.wait(id));
        // Killing the sandbox closes the last slave: the relay drains the
        // output and ends.
        let _ = self.delete(id, true);
        relay.finish();
        Ok(exit_code(result?))
    }

    /// `runsc create --console-socket`: as [`create`](Runtime::create),
    /// for a container with `process.terminal`: its stdio is a new
    /// terminal whose master goes to the listener on `console_socket` (see
    /// [`crate::tty`]).
    pub fn create_with_console(
        &self,
        id: &str,
        bundle: &Path,
        pid_file: Option<&Path>,
        console_socket: &Path,
    ) -> anyhow::Result<()> {
        let config = oci::load_bundle(&bundle.canonicalize().with_context(|| format!("bundle {}", bundle.display()))?)?;
        crate::tty::check_console_options(config.terminal, true, Some(console_socket))?;
        let pty = crate::tty::Pty::open()?;
        crate::tty::send_master(console_socket, pty.master.as_fd())?;
        self.create(id, bundle, pid_file, Some(pty.slave_stdio()?))
    }

    /// `runsc run --detach`: create and start, then return; a terminal needs
    /// `console_socket`, as with runc.
    pub fn run_detached(
        &self,
        id: &str,
        bundle: &Path,
        pid_file: Option<&Path>,
        console_socket: Option<&Path>,
    ) -> anyhow::Result<()> {
        match console_socket {
            Some(socket) => self.create_with_console(id, bundle, pid_file, socket)?,
            None => {
                let config =
                    oci::load_bundle(&bundle.canonicalize().with_context(|| format!("bundle {}", bundle.display()))?)?;
                crate::tty::check_console_options(config.terminal, true, None)?;
                self.create(id, bundle, pid_file, None)?;
            }
        }
        if let Err(e) = self.start(id) {
            let _ = self.delete(id, true);
            return Err(e);
        }
        Ok(())
    }

    /// Sets the window size of the terminal of process `pid` of container
    /// `id` (0: its init), as the shim's `ResizePty` asks; the process's
    /// foreground process group gets SIGWINCH if the size changed.
    pub fn resize(&self, id: &str, pid: i32, rows: u16, cols: u16) -> anyhow::Result<()> {
        let record = self.state.load(id)?;
        let resize = proto::Resize { container_id: id.into(), pid, rows: rows.into(), cols: cols.into() };
        control::call(&record.control_socket, Request { kind: Some(request::Kind::Resize(resize)) }, &[])?;
        Ok(())
    }
}

/// The shell convention for a wait status: the exit code, or 128+signal.
pub fn exit_code(wait_status: i32) -> i32 {
    if libc::WIFSIGNALED(wait_status) {
        128 + libc::WTERMSIG(wait_status)
    } else {
        libc::WEXITSTATUS(wait_status)
    }
}

/// The current time as RFC 3339 (UTC, seconds), as state records and logs
/// carry it.
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let days = secs / 86400;
    let (h, m, s) = (secs % 86400 / 3600, secs % 3600 / 60, secs % 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}Z")
}

/// Parses a signal as runc accepts it: a number (0 checks that the
/// container runs, as with kill(2)), `KILL` or `SIGKILL`.
pub fn parse_signal(s: &str) -> anyhow::Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if (0..=64).contains(&n) {
            return Ok(n);
        }
        bail!("invalid signal {s:?}");
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    let n = match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "ILL" => libc::SIGILL,
        "TRAP" => libc::SIGTRAP,
        "ABRT" => libc::SIGABRT,
        "BUS" => libc::SIGBUS,
        "FPE" => libc::SIGFPE,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "SEGV" => libc::SIGSEGV,
        "USR2" => libc::SIGUSR2,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "TERM" => libc::SIGTERM,
        "CHLD" => libc::SIGCHLD,
        "CONT" => libc::SIGCONT,
        "STOP" => libc::SIGSTOP,
        "TSTP" => libc::SIGTSTP,
        "TTIN" => libc::SIGTTIN,
        "TTOU" => libc::SIGTTOU,
        "URG" => libc::SIGURG,
        "XCPU" => libc::SIGXCPU,
        "XFSZ" => libc::SIGXFSZ,
        "VTALRM" => libc::SIGVTALRM,
        "PROF" => libc::SIGPROF,
        "WINCH" => libc::SIGWINCH,
        "IO" | "POLL" => libc::SIGIO,
        "PWR" => libc::SIGPWR,
        "SYS" => libc::SIGSYS,
        _ => bail!("invalid signal {s:?}"),
    };
    Ok(n)
}

impl Runtime {
    /// `runsc do CMD...`: runs a command in a sandbox whose root is the
    /// host's root, served read-only by a Gofer, with a private writable
    /// `/tmp`, the caller's environment and working directory. Returns the
    /// exit code (128+signal if killed).
    pub fn do_command(&self, args: &[String]) -> anyhow::Result<i32> {
        if args.is_empty() {
            bail!("nothing to run: runsc do CMD [ARG...]");
        }
        let nonce =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let id = format!("runsc-do-{}-{nonce}", std::process::id());
        let bundle = std::env::temp_dir().join(&id);
        std::fs::create_dir_all(&bundle).with_context(|| format!("creating {}", bundle.display()))?;
        // The working directory carries over, unless the private /tmp hides it.
        let cwd = std::env::current_dir()
            .ok()
            .filter(|d| !d.starts_with("/tmp"))
            .map(|d| d.display().to_string())
            .unwrap_or_else(|| "/".into());
        let env: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
        let config = serde_json::json!({
            "ociVersion": "1.0.2",
            "process": { "terminal": false, "user": { "uid": 0, "gid": 0 }, "args": args, "env": env, "cwd": cwd },
            "root": { "path": "/", "readonly": true },
            "hostname": "runsc",
            "mounts": [
                { "destination": "/proc", "type": "proc", "source": "proc" },
                { "destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"] },
                { "destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "nodev", "mode=1777"] },
                { "destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev"] }
            ],
            "linux": { "namespaces": [ { "type": "pid" }, { "type": "mount" }, { "type": "ipc" }, { "type": "uts" } ] }
        });
        let result = std::fs::write(bundle.join("config.json"), config.to_string())
            .context("writing the bundle")
            .and_then(|()| {
                let rt = Runtime { state: StateDir::new(bundle.join("state")), ..self.clone() };
                rt.run(&id, &bundle)
            });
        let _ = std::fs::remove_dir_all(&bundle);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_like_runc() {
        assert_eq!(parse_signal("9").unwrap(), 9);
        assert_eq!(parse_signal("KILL").unwrap(), 9);
        assert_eq!(parse_signal("SIGTERM").unwrap(), 15);
        assert_eq!(parse_signal("sigusr1").unwrap(), 10);
        assert_eq!(parse_signal("0").unwrap(), 0);
        for bad in ["65", "-1", "SIGNOPE", ""] {
            assert!(parse_signal(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn exit_codes_follow_the_shell_convention() {
        assert_eq!(exit_code(42 << 8), 42);
        assert_eq!(exit_code(libc::SIGKILL), 137);
        assert_eq!(exit_code(0), 0);
    }

    #[test]
    fn timestamps_are_rfc3339() {
        let t = now_rfc3339();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z'), "{t}");
    }
}
