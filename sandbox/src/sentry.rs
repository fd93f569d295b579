//! The Sentry behind the control service: a sentry-core [`Kernel`] running
//! the sandbox's container, its root file system and bind mounts served by
//! the container's Gofer.
//!
//! A container whose `process.terminal` is set has a console: the host
//! terminal that is its stdio becomes the Sentry's host controlling
//! terminal and the sandbox kernel's console (see [`crate::tty`]), and the
//! init (like an exec'd process with `terminal`) starts with it as its
//! controlling terminal.

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Condvar, Mutex};

use anyhow::Context as _;
use platforms::MemoryFile;
use sentry_core::fs::gofer::GoferFs;
use sentry_core::kernel::signals::{default_action, DefaultAction};
use sentry_core::{Kernel, KernelConfig, ProcessSpec, SpawnOptions, TaskHandle};

use crate::control::SandboxKernel;
use crate::oci::{ContainerConfig, MountKind};

/// Largest 9P message the Sentry negotiates with its Gofers.
const MSIZE: u32 = 1 << 20;

/// The init process of the container, through its life.
enum Init {
    Created(Box<Option<ProcessSpec>>),
    Running { pid: i32, handle: Arc<TaskHandle> },
    Exited { pid: i32, wait_status: i32 },
}

/// The init's state and the condition waiters sleep on.
struct InitState {
    init: Mutex<Init>,
    changed: Condvar,
}

impl InitState {
    fn set(&self, init: Init) {
        *lock(&self.init) = init;
        self.changed.notify_all();
    }
}

/// A process started by `exec`, through its life.
enum ExecProcess {
    Running(Arc<TaskHandle>),
    Exited(i32),
}

/// The kernel of one sandbox with its one container.
pub struct SentryKernel {
    id: String,
    kernel: Kernel,
    /// The container's process environment (the default for `exec`).
    env: Vec<String>,
    /// `process.terminal`: the init gets its stdio terminal as its
    /// controlling terminal.
    terminal: bool,
    state: Arc<InitState>,
    /// Processes started by `exec`, by pid; the condition is the init
    /// state's.
    execs: Arc<Mutex<std::collections::HashMap<i32, ExecProcess>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl SentryKernel {
    /// Builds the kernel for container `id`: memory file, platform, root
    /// file system from `gofers[0]`, bind mounts from the others (in spec
    /// order), tmpfs mounts, and the container's init process, which
    /// [`SandboxKernel::start`] runs.
    pub fn boot(
        id: &str,
        config: &ContainerConfig,
        gofers: Vec<UnixStream>,
        platform: &str,
        strace: bool,
    ) -> anyhow::Result<Arc<dyn SandboxKernel>> {
        // Before any thread exists (see `tty`).
        let console = if config.terminal { crate::tty::SentryConsole::claim()? } else { None };
        let memory = Arc::new(MemoryFile::new(platforms::memory::DEFAULT_SIZE).context("creating the memory file")?);
        let platform = platforms::by_name(platform, memory.clone())?;
        let mut gofers = gofers.into_iter();
        let next_dev = std::cell::Cell::new(0x100u64);
        let new_dev = || {
            next_dev.set(next_dev.get() + 1);
            next_dev.get()
        };
        let mut mount_gofer = |what: &str| -> anyhow::Result<Arc<dyn sentry_core::vfs::Inode>> {
            let socket = gofers.next().with_context(|| format!("no Gofer connection for {what}"))?;
            let client = gofer_9p::Client::connect(socket, MSIZE)
                .with_context(|| format!("connecting to the Gofer for {what}"))?;
            GoferFs::mount(client, memory.clone(), new_dev(), 0).map_err(|e| anyhow::anyhow!("mounting {what}: {e}"))
        };
        let root = mount_gofer("the root file system")?;

        let mut kconfig = KernelConfig::new(platform);
        kconfig.hostname = config.hostname.clone().unwrap_or_else(|| "runsc".into());
        kconfig.strace = strace;
        kconfig.root = Some(root);
        kconfig.max_tasks = config.pids_limit.filter(|&l| l > 0).map(|l| l as usize);
        let kernel = Kernel::new(kconfig)?;
        if let Some(console) = console {
            console.attach(&kernel)?;
        }

        for m in &config.mounts {
            match &m.kind {
                MountKind::Bind { .. } => {
                    let fs = mount_gofer(&m.destination)?;
                    kernel.mount(&m.destination, fs)?;
                }
                // The Sentry's own /dev is already mounted.
                MountKind::Tmpfs if m.destination == "/dev" => {}
                // The Sentry's own pseudo-terminals.
                MountKind::Devpts => kernel.mount(&m.destination, kernel.devpts())?,
                MountKind::Tmpfs | MountKind::Mqueue => {
                    kernel.mount(&m.destination, kernel.new_tmpfs(new_dev()))?;
                }
                MountKind::Proc => kernel.mount(&m.destination, kernel.new_procfs())?,
                MountKind::Sysfs => {
                    let sys = kernel.new_sysfs().map_err(|e| anyhow::anyhow!("building sysfs: {e}"))?;
                    kernel.mount(&m.destination, sys)?;
                }
                // Cgroups are not controllable from inside the sandbox: an
                // empty directory keeps programs that look for the mount
                // point working.
                MountKind::Cgroup => kernel.mount(&m.destination, kernel.new_tmpfs(new_dev()))?,
                MountKind::Other(kind) => {
                    tracing::warn!(destination = %m.destination, kind, "unknown file system type; mounting an empty tmpfs");
                    kernel.mount(&m.destination, kernel.new_tmpfs(new_dev()))?;
                }
            }
        }

        let stdio = [0, 1, 2].map(|fd| {
            // SAFETY: 0, 1 and 2 are open for the life of this process
            // (runsc create hands them to it); they are only borrowed here
            // to duplicate them.
            let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
            borrowed.as_fd().try_clone_to_owned()
        });
        let [stdin, stdout, stderr] = stdio;
        let stdio: [OwnedFd; 3] = [stdin?, stdout?, stderr?];
        let spec = ProcessSpec {
            argv: config.args.clone(),
            envp: config.env.clone(),
            cwd: config.cwd.clone(),
            stdio,
            uid: config.uid,
            gid: config.gid,
            groups: config.additional_gids.clone(),
            rlimits: config.rlimits.iter().filter_map(rlimit_of).collect(),
        };
        Ok(Arc::new(SentryKernel {
            id: id.to_string(),
            kernel,
            env: config.env.clone(),
            terminal: config.terminal,
            execs: Arc::new(Mutex::new(std::collections::HashMap::new())),
            state: Arc::new(InitState {
                init: Mutex::new(Init::Created(Box::new(Some(spec)))),
                changed: Condvar::new(),
            }),
        }))
    }

    fn check_id(&self, id: &str) -> Result<(), String> {
        if id == self.id {
            Ok(())
        } else {
            Err(format!("container {id:?} is not in this sandbox"))
        }
    }
}

impl SandboxKernel for SentryKernel {
    fn start(&self, id: &str) -> Result<i32, String> {
        self.check_id(id)?;
        let spec = match &mut *lock(&self.state.init) {
            Init::Created(spec) => spec.take().ok_or("container is already starting")?,
            _ => return Err("container was already started".into()),
        };
        let handle = match self.kernel.spawn(spec, SpawnOptions { controlling_terminal: self.terminal }) {
            Ok(h) => Arc::new(h),
            Err(e) => {
                // The container cannot run: it is stopped, with the status a
                // failed exec gives (127).
                self.state.set(Init::Exited { pid: 0, wait_status: 127 << 8 });
                return Err(e.to_string());
            }
        };
        let pid = handle.pid();
        self.state.set(Init::Running { pid, handle: handle.clone() });
        // A waiter thread records the init's end.
        let state = self.state.clone();
        std::thread::spawn(move || {
            let status = handle.wait();
            state.set(Init::Exited { pid, wait_status: status.wait_status() });
        });
        Ok(pid)
    }

    fn signal(&self, id: &str, pid: i32, signo: i32, all: bool) -> Result<(), String> {
        self.check_id(id)?;
        if !(1..=64).contains(&signo) {
            return Err(format!("invalid signal {signo}"));
        }
        let mut init = lock(&self.state.init);
        match &*init {
            Init::Running { .. } if all => {
                // Every process of the container (the sandbox holds one).
                drop(init);
                for p in self.kernel.processes() {
                    if p.state != sentry_core::ProcessState::Zombie {
                        self.kernel.signal_process_from_outside(p.pid, signo);
                    }
                }
                Ok(())
            }
            Init::Running { pid: init_pid, handle } if pid == 0 || pid == *init_pid => {
                // The container's init is PID 1: the kernel applies Linux's
                // rule (only handled signals, SIGKILL and SIGSTOP reach it).
                handle.kill(signo);
                Ok(())
            }
            Init::Running { .. } => match lock(&self.execs).get(&pid) {
                Some(ExecProcess::Running(h)) => {
                    h.kill(signo);
                    Ok(())
                }
                _ => Err(format!("no process {pid} in container {id}")),
            },
            Init::Created(_) => {
                // Killing a created container stops it without running it.
                if signo == libc::SIGKILL || matches!(default_action(signo), DefaultAction::Terminate) {
                    *init = Init::Exited { pid: 0, wait_status: signo };
                    drop(init);
                    self.state.changed.notify_all();
                }
                Ok(())
            }
            Init::Exited { .. } => Err("container not running".into()),
        }
    }

    fn wait(&self, id: &str, pid: i32) -> Result<i32, String> {
        self.check_id(id)?;
        let handle = match lock(&self.execs).get(&pid) {
            Some(ExecProcess::Running(h)) => Some(h.clone()),
            Some(ExecProcess::Exited(st)) => return Ok(*st),
            None => None,
        };
        if let Some(h) = handle {
            return Ok(h.wait().wait_status());
        }
        let mut init = lock(&self.state.init);
        loop {
            if let Init::Exited { pid: init_pid, wait_status } = &*init {
                if pid == 0 || pid == *init_pid {
                    return Ok(*wait_status);
                }
                return Err(format!("no process {pid} in container {id}"));
            }
            init = self.state.changed.wait(init).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn state(&self) -> proto::SandboxState {
        let (status, init_pid) = match &*lock(&self.state.init) {
            Init::Created(_) => ("created", 0),
            Init::Running { pid, .. } if self.kernel.is_paused() => ("paused", *pid),
            Init::Running { pid, .. } => ("running", *pid),
            Init::Exited { pid, .. } => ("stopped", *pid),
        };
        proto::SandboxState {
            containers: vec![proto::ContainerState { id: self.id.clone(), status: status.into(), init_pid }],
        }
    }

    fn processes(&self, id: &str) -> Result<proto::ProcessList, String> {
        self.check_id(id)?;
        let processes = self
            .kernel
            .processes()
            .into_iter()
            .filter(|p| p.state != sentry_core::ProcessState::Zombie)
            .map(|p| proto::Process { pid: p.pid, ppid: p.ppid, uid: p.uid, cmd: p.comm })
            .collect();
        Ok(proto::ProcessList { processes })
    }

    fn exec(&self, exec: proto::Exec, stdio: Vec<OwnedFd>) -> Result<i32, String> {
        self.check_id(&exec.container_id)?;
        if !matches!(&*lock(&self.state.init), Init::Running { .. }) {
            return Err(format!("container {} is not running", self.id));
        }
        if exec.args.is_empty() {
            return Err("exec: no command given".into());
        }
        let [stdin, stdout, stderr]: [OwnedFd; 3] =
            stdio.try_into().map_err(|v: Vec<OwnedFd>| format!("exec: expected 3 descriptors, got {}", v.len()))?;
        // The process's own terminal gets a watcher for its signals.
        let terminal = stdin.try_clone().ok().filter(|fd| exec.terminal && crate::tty::is_terminal(fd.as_fd()));
        let spec = ProcessSpec {
            argv: exec.args.clone(),
            envp: if exec.env.is_empty() { self.env.clone() } else { exec.env.clone() },
            cwd: if exec.cwd.is_empty() { "/".into() } else { exec.cwd.clone() },
            stdio: [stdin, stdout, stderr],
            uid: exec.uid,
            gid: exec.gid,
            groups: Vec::new(),
            rlimits: Vec::new(),
        };
        let options = SpawnOptions { controlling_terminal: exec.terminal };
        let handle = Arc::new(self.kernel.spawn(spec, options).map_err(|e| e.to_string())?);
        let pid = handle.pid();
        lock(&self.execs).insert(pid, ExecProcess::Running(handle.clone()));
        let (execs, state, kernel) = (self.execs.clone(), self.state.clone(), self.kernel.clone());
        let (watching, watched) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // The watcher lives (and dies) with this thread.
            let _watcher = terminal.and_then(|fd| crate::tty::ExecTerminal::watch(&kernel, fd));
            let _ = watching.send(());
            let st = handle.wait().wait_status();
            lock(&execs).insert(pid, ExecProcess::Exited(st));
            state.changed.notify_all();
        });
        let _ = watched.recv();
        Ok(pid)
    }

    fn stats(&self) -> Result<proto::Stats, String> {
        let procs = self.kernel.processes();
        let pids = procs.iter().filter(|p| p.state != sentry_core::ProcessState::Zombie).count() as u64;
        Ok(proto::Stats {
            memory_bytes: self.kernel.memory_file().used(),
            cpu_ns: self.kernel.cpu_time().as_nanos() as u64,
            pids,
        })
    }

    fn pause(&self) -> Result<(), String> {
        if !matches!(&*lock(&self.state.init), Init::Running { .. }) {
            return Err(format!("container {} is not running", self.id));
        }
        self.kernel.pause();
        Ok(())
    }

    fn resume(&self) -> Result<(), String> {
        if !self.kernel.is_paused() {
            return Err(format!("container {} is not paused", self.id));
        }
        self.kernel.resume();
        Ok(())
    }

    fn resize(&self, id: &str, pid: i32, rows: u16, cols: u16) -> Result<(), String> {
        self.check_id(id)?;
        let pid = match (&*lock(&self.state.init), pid) {
            (Init::Running { pid: init, .. }, 0) => *init,
            (_, 0) => return Err(format!("container {id} is not running")),
            (_, p) => p,
        };
        self.kernel.resize_terminal(pid, rows, cols).map_err(|e| format!("resizing the terminal of {pid}: {e}"))
    }
}

/// An OCI `process.rlimits` entry as (`RLIMIT_*`, soft, hard); unknown
/// kinds are skipped with a warning (runc refuses them at validation).
fn rlimit_of(r: &crate::oci::Rlimit) -> Option<(u32, u64, u64)> {
    // The kind is spelt RLIMIT_NOFILE in specs and RlimitNofile by the
    // OCI library's Debug form: compare without case and underscores.
    let norm = r.kind.to_uppercase().replace('_', "");
    let kind = match norm.as_str() {
        "RLIMITCPU" => libc::RLIMIT_CPU,
        "RLIMITFSIZE" => libc::RLIMIT_FSIZE,
        "RLIMITDATA" => libc::RLIMIT_DATA,
        "RLIMITSTACK" => libc::RLIMIT_STACK,
        "RLIMITCORE" => libc::RLIMIT_CORE,
        "RLIMITRSS" => libc::RLIMIT_RSS,
        "RLIMITNPROC" => libc::RLIMIT_NPROC,
        "RLIMITNOFILE" => libc::RLIMIT_NOFILE,
        "RLIMITMEMLOCK" => libc::RLIMIT_MEMLOCK,
        "RLIMITAS" => libc::RLIMIT_AS,
        "RLIMITLOCKS" => libc::RLIMIT_LOCKS,
        "RLIMITSIGPENDING" => libc::RLIMIT_SIGPENDING,
        "RLIMITMSGQUEUE" => libc::RLIMIT_MSGQUEUE,
        "RLIMITNICE" => libc::RLIMIT_NICE,
        "RLIMITRTPRIO" => libc::RLIMIT_RTPRIO,
        "RLIMITRTTIME" => libc::RLIMIT_RTTIME,
        other => {
            tracing::warn!(kind = other, "unknown rlimit in the spec; ignored");
            return None;
        }
    };
    Some((kind as u32, r.soft, r.hard))
}
