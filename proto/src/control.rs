//! Control-service messages.

/// A request to the Sentry.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Request {
    #[prost(oneof = "request::Kind", tags = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12")]
    pub kind: Option<request::Kind>,
}

pub mod request {
    /// What is asked.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Kind {
        /// Start a created container's init process.
        #[prost(message, tag = "1")]
        Start(super::Start),
        /// Send a signal.
        #[prost(message, tag = "2")]
        Signal(super::Signal),
        /// Wait for a process to exit and return its status.
        #[prost(message, tag = "3")]
        Wait(super::Wait),
        /// Report the containers of the sandbox.
        #[prost(message, tag = "4")]
        State(super::StateQuery),
        /// List a container's processes.
        #[prost(message, tag = "5")]
        Processes(super::ProcessesQuery),
        /// Run a new process in a container (its stdio arrive as
        /// SCM_RIGHTS, in the order stdin, stdout, stderr).
        #[prost(message, tag = "6")]
        Exec(super::Exec),
        /// Stop every task of the sandbox.
        #[prost(message, tag = "7")]
        Pause(super::Empty),
        /// Continue after Pause.
        #[prost(message, tag = "8")]
        Resume(super::Empty),
        /// Resource usage.
        #[prost(message, tag = "9")]
        Stats(super::Empty),
        /// Set the window size of a process's terminal.
        #[prost(message, tag = "10")]
        Resize(super::Resize),
        /// Create another container in the sandbox (a pod's container):
        /// descriptors as SCM_RIGHTS, stdin, stdout, stderr, then its
        /// Gofer connections (root first, then bind mounts in spec order).
        #[prost(message, tag = "11")]
        AddContainer(super::AddContainer),
        /// Remove a container from the sandbox: its processes are killed.
        #[prost(message, tag = "12")]
        RemoveContainer(super::RemoveContainer),
    }
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Empty {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Start {
    #[prost(string, tag = "1")]
    pub container_id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Signal {
    #[prost(string, tag = "1")]
    pub container_id: String,
    /// Sandbox PID of the target; 0 means the container's init.
    #[prost(int32, tag = "2")]
    pub pid: i32,
    #[prost(int32, tag = "3")]
    pub signo: i32,
    /// Signal every process of the container.
    #[prost(bool, tag = "4")]
    pub all: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Wait {
    #[prost(string, tag = "1")]
    pub container_id: String,
    /// Sandbox PID; 0 means the container's init.
    #[prost(int32, tag = "2")]
    pub pid: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct StateQuery {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ProcessesQuery {
    #[prost(string, tag = "1")]
    pub container_id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Exec {
    #[prost(string, tag = "1")]
    pub container_id: String,
    #[prost(string, repeated, tag = "2")]
    pub args: Vec<String>,
    #[prost(string, repeated, tag = "3")]
    pub env: Vec<String>,
    #[prost(string, tag = "4")]
    pub cwd: String,
    #[prost(uint32, tag = "5")]
    pub uid: u32,
    #[prost(uint32, tag = "6")]
    pub gid: u32,
    /// The stdio descriptors are (all) the slave of a terminal for the
    /// process: it becomes the process's controlling terminal, with the
    /// process (a new session's leader) in the foreground, and its `^C`,
    /// `^\`, `^Z` and SIGWINCH reach the process's foreground group.
    #[prost(bool, tag = "7")]
    pub terminal: bool,
}

/// The new window size of the terminal of a process (the shim's
/// `ResizePty`); its foreground process group gets SIGWINCH if it changed.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Resize {
    #[prost(string, tag = "1")]
    pub container_id: String,
    /// Sandbox PID whose controlling terminal to resize; 0 means the
    /// container's init.
    #[prost(int32, tag = "2")]
    pub pid: i32,
    #[prost(uint32, tag = "3")]
    pub rows: u32,
    #[prost(uint32, tag = "4")]
    pub cols: u32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AddContainer {
    #[prost(string, tag = "1")]
    pub container_id: String,
    /// The container's configuration, validated on the host, as the
    /// sandbox library's JSON form (`sandbox::oci::ContainerConfig`).
    #[prost(string, tag = "2")]
    pub config_json: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RemoveContainer {
    #[prost(string, tag = "1")]
    pub container_id: String,
}

/// The Sentry's answer. `error` is empty on success.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Response {
    #[prost(string, tag = "1")]
    pub error: String,
    #[prost(oneof = "response::Kind", tags = "2, 3, 4, 5, 6")]
    pub kind: Option<response::Kind>,
}

pub mod response {
    /// The payload, by request.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Kind {
        #[prost(message, tag = "2")]
        Exited(super::ExitStatus),
        #[prost(message, tag = "3")]
        State(super::SandboxState),
        #[prost(message, tag = "4")]
        Processes(super::ProcessList),
        #[prost(int32, tag = "5")]
        Pid(i32),
        #[prost(message, tag = "6")]
        Stats(super::Stats),
    }
}

/// How a process ended, as a wait(2) status word.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExitStatus {
    #[prost(int32, tag = "1")]
    pub wait_status: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SandboxState {
    #[prost(message, repeated, tag = "1")]
    pub containers: Vec<ContainerState>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ContainerState {
    #[prost(string, tag = "1")]
    pub id: String,
    /// "created", "running", "paused" or "stopped".
    #[prost(string, tag = "2")]
    pub status: String,
    #[prost(int32, tag = "3")]
    pub init_pid: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ProcessList {
    #[prost(message, repeated, tag = "1")]
    pub processes: Vec<Process>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Process {
    #[prost(int32, tag = "1")]
    pub pid: i32,
    #[prost(int32, tag = "2")]
    pub ppid: i32,
    #[prost(uint32, tag = "3")]
    pub uid: u32,
    #[prost(string, tag = "4")]
    pub cmd: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Stats {
    #[prost(uint64, tag = "1")]
    pub memory_bytes: u64,
    #[prost(uint64, tag = "2")]
    pub cpu_ns: u64,
    #[prost(uint64, tag = "3")]
    pub pids: u64,
}
