//! The Sentry's control service: serves [`proto`] requests from `runsc`
//! invocations and the shim on the listening socket it was handed, on
//! behalf of a [`SandboxKernel`].

use std::os::fd::OwnedFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::Arc;

use proto::{request, response, Request, Response};

/// What the control service needs from the kernel running the containers.
pub trait SandboxKernel: Send + Sync + 'static {
    /// Starts container `id`'s init process; returns its sandbox pid.
    fn start(&self, id: &str) -> Result<i32, String>;
    /// Sends `signo` to a process (pid 0: the init) or all processes of
    /// container `id`.
    fn signal(&self, id: &str, pid: i32, signo: i32, all: bool) -> Result<(), String>;
    /// Blocks until the process (pid 0: the init) exits; its wait status.
    fn wait(&self, id: &str, pid: i32) -> Result<i32, String>;
    /// Containers and their state.
    fn state(&self) -> proto::SandboxState;
    /// Processes of container `id`.
    fn processes(&self, id: &str) -> Result<proto::ProcessList, String>;
    /// Starts a new process in container `id` with the given stdio.
    fn exec(&self, exec: proto::Exec, stdio: Vec<OwnedFd>) -> Result<i32, String>;
    /// Memory, CPU and process counts.
    fn stats(&self) -> Result<proto::Stats, String>;
    /// Stops every process of the sandbox from running until `resume`.
    fn pause(&self) -> Result<(), String>;
    /// Undoes `pause`.
    fn resume(&self) -> Result<(), String>;
    /// Sets the window size of the terminal of a process (pid 0: the init)
    /// of container `id`.
    fn resize(&self, id: &str, pid: i32, rows: u16, cols: u16) -> Result<(), String> {
        let _ = (id, pid, rows, cols);
        Err("this sandbox has no terminals".into())
    }
    /// Creates container `id` in the sandbox (a pod's container): `fds`
    /// are its stdin, stdout and stderr, then its Gofer connections.
    fn add_container(&self, id: &str, config: crate::oci::ContainerConfig, fds: Vec<OwnedFd>) -> Result<(), String> {
        let _ = (id, config, fds);
        Err("this sandbox holds one container".into())
    }
    /// Kills container `id`'s processes and forgets it.
    fn remove_container(&self, id: &str) -> Result<(), String> {
        let _ = id;
        Err("this sandbox holds one container".into())
    }
}

/// Serves connections until the listener fails; one thread per connection,
/// so a blocking Wait does not hold up other requests.
pub fn serve(listener: UnixListener, kernel: Arc<dyn SandboxKernel>) {
    for conn in listener.incoming() {
        match conn {
            Ok(stream) => {
                let kernel = kernel.clone();
                std::thread::spawn(move || serve_connection(stream, &*kernel));
            }
            Err(e) => {
                tracing::warn!("control socket accept failed: {e}");
                return;
            }
        }
    }
}

fn serve_connection(stream: UnixStream, kernel: &dyn SandboxKernel) {
    loop {
        let (req, fds): (Request, _) = match proto::recv_message(&stream) {
            Ok(m) => m,
            Err(proto::WireError::Closed) => return,
            Err(e) => {
                tracing::warn!("control request: {e}");
                let _ = proto::send_message(&stream, &error(e.to_string()), &[]);
                return;
            }
        };
        let resp = handle(kernel, req, fds);
        if proto::send_message(&stream, &resp, &[]).is_err() {
            return;
        }
    }
}

fn error(msg: String) -> Response {
    Response { error: msg, kind: None }
}

fn reply(r: Result<Option<response::Kind>, String>) -> Response {
    match r {
        Ok(kind) => Response { error: String::new(), kind },
        Err(e) => error(e),
    }
}

fn handle(kernel: &dyn SandboxKernel, req: Request, fds: Vec<OwnedFd>) -> Response {
    use request::Kind as K;
    use response::Kind as R;
    match req.kind {
        None => error("empty request".into()),
        Some(K::Start(s)) => reply(kernel.start(&s.container_id).map(|pid| Some(R::Pid(pid)))),
        Some(K::Signal(s)) => reply(kernel.signal(&s.container_id, s.pid, s.signo, s.all).map(|()| None)),
        Some(K::Wait(w)) => {
            reply(kernel.wait(&w.container_id, w.pid).map(|st| Some(R::Exited(proto::ExitStatus { wait_status: st }))))
        }
        Some(K::State(_)) => reply(Ok(Some(R::State(kernel.state())))),
        Some(K::Processes(p)) => reply(kernel.processes(&p.container_id).map(|l| Some(R::Processes(l)))),
        Some(K::Exec(e)) => reply(kernel.exec(e, fds).map(|pid| Some(R::Pid(pid)))),
        Some(K::Stats(_)) => reply(kernel.stats().map(|s| Some(R::Stats(s)))),
        Some(K::Pause(_)) => reply(kernel.pause().map(|()| None)),
        Some(K::Resume(_)) => reply(kernel.resume().map(|()| None)),
        Some(K::Resize(r)) => {
            let size = |v: u32| u16::try_from(v).map_err(|_| format!("window size {v} out of range"));
            let r = size(r.rows)
                .and_then(|rows| Ok((rows, size(r.cols)?)))
                .and_then(|(rows, cols)| kernel.resize(&r.container_id, r.pid, rows, cols));
            reply(r.map(|()| None))
        }
        Some(K::AddContainer(a)) => {
            let r = serde_json::from_str(&a.config_json)
                .map_err(|e| format!("container {}: bad configuration: {e}", a.container_id))
                .and_then(|config| kernel.add_container(&a.container_id, config, fds));
            reply(r.map(|()| None))
        }
        Some(K::RemoveContainer(r)) => reply(kernel.remove_container(&r.container_id).map(|()| None)),
    }
}

/// Client side: one request, one response.
pub fn call(socket: &Path, req: Request, fds: &[std::os::fd::RawFd]) -> anyhow::Result<Response> {
    use anyhow::Context as _;
    let stream = crate::sockpath::connect(socket)
        .with_context(|| format!("connecting to the sandbox at {} (is it running?)", socket.display()))?;
    proto::send_message(&stream, &req, fds)?;
    let (resp, _): (Response, _) = proto::recv_message(&stream)?;
    if !resp.error.is_empty() {
        anyhow::bail!("{}", resp.error);
    }
    Ok(resp)
}
