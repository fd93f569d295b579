//! The Sentry behind the control service: a sentry-core [`Kernel`] running
//! the sandbox's containers. The first is created with the sandbox (its
//! root file system is the kernel's); a pod's other containers join later
//! ([`SandboxKernel::add_container`]), each with a root file system and
//! bind mounts served by a Gofer of its own, sharing the kernel (processes,
//! pipes, sockets, terminals) with the others.
//!
//! A container whose `process.terminal` is set has a terminal: for the
//! first container the host terminal that is the sandbox's stdio becomes
//! the Sentry's host controlling terminal and the kernel's console (see
//! [`crate::tty`]); for a joining container, as for an exec'd process, a
//! watcher forwards its terminal's signals. Either way the init starts with
//! it as its controlling terminal.

use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
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

/// The init process of a container, through its life.
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

/// One container of the sandbox.
struct Container {
    /// Its file systems, and the tag its processes carry.
    fs: sentry_core::Container,
    /// The container's process environment (the default for `exec`).
    env: Vec<String>,
    /// `process.terminal`: the init gets its stdio terminal as its
    /// controlling terminal.
    terminal: bool,
    /// The terminal is not the sandbox's console: a watcher forwards its
    /// signals while the init runs (a joining container's).
    watch_terminal: bool,
    state: Arc<InitState>,
    /// Processes started by `exec`, by pid; the condition is the init
    /// state's.
    execs: Arc<Mutex<HashMap<i32, ExecProcess>>>,
}

/// The kernel of one sandbox and its containers.
pub struct SentryKernel {
    kernel: Kernel,
    memory: Arc<MemoryFile>,
    /// The last device number given to a file system.
    last_dev: AtomicU64,
    containers: Mutex<HashMap<String, Arc<Container>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Mounts the file system a Gofer serves.
fn gofer_fs(
    socket: UnixStream,
    memory: &Arc<MemoryFile>,
    dev: u64,
    what: &str,
) -> anyhow::Result<Arc<dyn sentry_core::vfs::Inode>> {
    let client =
        gofer_9p::Client::connect(socket, MSIZE).with_context(|| format!("connecting to the Gofer for {what}"))?;
    GoferFs::mount(client, memory.clone(), dev, 0).map_err(|e| anyhow::anyhow!("mounting {what}: {e}"))
}

/// The init's spec from the container's configuration.
fn init_spec(config: &ContainerConfig, stdio: [OwnedFd; 3]) -> ProcessSpec {
    ProcessSpec {
        argv: config.args.clone(),
        envp: config.env.clone(),
        cwd: config.cwd.clone(),
        stdio,
        uid: config.uid,
        gid: config.gid,
        groups: config.additional_gids.clone(),
        rlimits: config.rlimits.iter().filter_map(rlimit_of).collect(),
    }
}

impl SentryKernel {
    /// Builds the kernel for its first container `id`: memory file,
    /// platform, root file system from `gofers[0]`, the spec's other mounts
    /// (bind mounts from the other Gofers, in spec order), and the
    /// container's init process, which [`SandboxKernel::start`] runs.
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
        let root_socket = gofers.next().context("no Gofer connection for the root file system")?;
        let root = gofer_fs(root_socket, &memory, 0x101, "the root file system")?;

        let mut kconfig = KernelConfig::new(platform);
        kconfig.hostname = config.hostname.clone().unwrap_or_else(|| "runsc".into());
        kconfig.strace = strace;
        kconfig.root = Some(root);
        kconfig.max_tasks = config.pids_limit.filter(|&l| l > 0).map(|l| l as usize);
        let kernel = Kernel::new(kconfig)?;
        if let Some(console) = console {
            console.attach(&kernel)?;
        }
        let sandbox =
            SentryKernel { kernel, memory, last_dev: AtomicU64::new(0x101), containers: Mutex::new(HashMap::new()) };
        let fs = sandbox.kernel.first_container();
        sandbox.mount_all(&fs, config, &mut gofers)?;

        let stdio = [0, 1, 2].map(|fd| {
            // SAFETY: 0, 1 and 2 are open for the life of this process
            // (runsc create hands them to it); they are only borrowed here
            // to duplicate them.
            let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
            borrowed.as_fd().try_clone_to_owned()
        });
        let [stdin, stdout, stderr] = stdio;
        let spec = init_spec(config, [stdin?, stdout?, stderr?]);
        sandbox.insert(id, fs, config, spec, false);
        Ok(Arc::new(sandbox))
    }

    fn new_dev(&self) -> u64 {
        self.last_dev.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// A tmpfs for a spec mount: its root has the `mode=` (octal), `uid=`
    /// and `gid=` of `options`, by default mode 1777 owned by root, as
    /// Linux's tmpfs.
    fn spec_tmpfs(&self, options: &[String]) -> anyhow::Result<Arc<dyn sentry_core::vfs::Inode>> {
        use sentry_core::vfs::{AttrChange, Inode as _};
        let root = self.kernel.new_tmpfs(self.new_dev());
        let mut change = AttrChange { mode: Some(0o1777), ..AttrChange::default() };
        for o in options {
            let bad = || anyhow::anyhow!("bad tmpfs option {o:?}");
            if let Some(v) = o.strip_prefix("mode=") {
                change.mode = Some(u32::from_str_radix(v, 8).ok().filter(|m| *m <= 0o7777).ok_or_else(bad)?);
            } else if let Some(v) = o.strip_prefix("uid=") {
                change.uid = Some(v.parse().map_err(|_| bad())?);
            } else if let Some(v) = o.strip_prefix("gid=") {
                change.gid = Some(v.parse().map_err(|_| bad())?);
            }
        }
        root.set_attr(&change).map_err(|e| anyhow::anyhow!("setting up a tmpfs: {e}"))?;
        Ok(root)
    }

    /// Mounts the spec's mounts (but the root) in container `fs`; bind
    /// mounts come from `gofers`, in spec order.
    fn mount_all(
        &self,
        fs: &sentry_core::Container,
        config: &ContainerConfig,
        gofers: &mut impl Iterator<Item = UnixStream>,
    ) -> anyhow::Result<()> {
        let kernel = &self.kernel;
        for m in &config.mounts {
            let dest = m.destination.as_str();
            let fs_root: Arc<dyn sentry_core::vfs::Inode> = match &m.kind {
                MountKind::Bind { .. } => {
                    let socket = gofers.next().with_context(|| format!("no Gofer connection for {dest}"))?;
                    gofer_fs(socket, &self.memory, self.new_dev(), dest)?
                }
                // The kernel's own /dev is already mounted.
                MountKind::Tmpfs if dest == "/dev" => continue,
                // The Sentry's own pseudo-terminals.
                MountKind::Devpts => kernel.devpts(),
                MountKind::Tmpfs | MountKind::Mqueue => self.spec_tmpfs(&m.options)?,
                MountKind::Proc => kernel.new_procfs(),
                MountKind::Sysfs => kernel.new_sysfs().map_err(|e| anyhow::anyhow!("building sysfs: {e}"))?,
                // Cgroups are not controllable from inside the sandbox: an
                // empty directory keeps programs that look for the mount
                // point working.
                MountKind::Cgroup => kernel.new_tmpfs(self.new_dev()),
                MountKind::Other(kind) => {
                    tracing::warn!(destination = %dest, kind, "unknown file system type; mounting an empty tmpfs");
                    kernel.new_tmpfs(self.new_dev())
                }
            };
            let file = fs_root.file_type() != sentry_core::vfs::FileType::Directory;
            let empty_dir = || -> Arc<dyn sentry_core::vfs::Inode> { kernel.new_tmpfs(self.new_dev()) };
            if let Err(e) = fs.make_mount_point(dest, file, empty_dir) {
                // Mounted anyway: the path resolves, if not its parent's
                // listing.
                tracing::warn!(destination = %dest, error = %e, "cannot create the mount point");
            }
            let fs_type = match &m.kind {
                MountKind::Bind { .. } => "9p",
                MountKind::Tmpfs => "tmpfs",
                MountKind::Proc => "proc",
                MountKind::Sysfs => "sysfs",
                MountKind::Devpts => "devpts",
                MountKind::Mqueue => "mqueue",
                MountKind::Cgroup => "cgroup",
                MountKind::Other(kind) => kind.as_str(),
            };
            fs.mount_typed(dest, fs_root, fs_type)?;
        }
        Ok(())
    }

    fn insert(&self, id: &str, fs: sentry_core::Container, config: &ContainerConfig, spec: ProcessSpec, joined: bool) {
        let c = Container {
            fs,
            env: config.env.clone(),
            terminal: config.terminal,
            watch_terminal: joined && config.terminal,
            state: Arc::new(InitState {
                init: Mutex::new(Init::Created(Box::new(Some(spec)))),
                changed: Condvar::new(),
            }),
            execs: Arc::new(Mutex::new(HashMap::new())),
        };
        lock(&self.containers).insert(id.to_string(), Arc::new(c));
    }

    fn container(&self, id: &str) -> Result<Arc<Container>, String> {
        lock(&self.containers).get(id).cloned().ok_or_else(|| format!("container {id:?} is not in this sandbox"))
    }
}

impl SandboxKernel for SentryKernel {
    fn start(&self, id: &str) -> Result<i32, String> {
        let c = self.container(id)?;
        let spec = match &mut *lock(&c.state.init) {
            Init::Created(spec) => spec.take().ok_or("container is already starting")?,
            _ => return Err("container was already started".into()),
        };
        let terminal = if c.watch_terminal { spec.stdio[0].try_clone().ok() } else { None };
        let options = SpawnOptions { controlling_terminal: c.terminal, container_init: true };
        let handle = match self.kernel.spawn_in(&c.fs, spec, options) {
            Ok(h) => Arc::new(h),
            Err(e) => {
                // The container cannot run: it is stopped, with the status a
                // failed exec gives (127).
                c.state.set(Init::Exited { pid: 0, wait_status: 127 << 8 });
                return Err(e.to_string());
            }
        };
        let pid = handle.pid();
        c.state.set(Init::Running { pid, handle: handle.clone() });
        // A waiter thread records the init's end (and keeps the terminal
        // watcher, if any, until then).
        let (state, kernel) = (c.state.clone(), self.kernel.clone());
        let (watching, watched) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _watcher = terminal.and_then(|fd| crate::tty::ExecTerminal::watch(&kernel, fd));
            let _ = watching.send(());
            let status = handle.wait();
            state.set(Init::Exited { pid, wait_status: status.wait_status() });
        });
        let _ = watched.recv();
        Ok(pid)
    }

    fn signal(&self, id: &str, pid: i32, signo: i32, all: bool) -> Result<(), String> {
        let c = self.container(id)?;
        if !(1..=64).contains(&signo) {
            return Err(format!("invalid signal {signo}"));
        }
        let mut init = lock(&c.state.init);
        match &*init {
            Init::Running { .. } if all => {
                self.kernel.signal_container(c.fs.id(), signo);
                Ok(())
            }
            Init::Running { pid: init_pid, handle } if pid == 0 || pid == *init_pid => {
                // The container's init is PID 1: the kernel applies Linux's
                // rule (only handled signals, SIGKILL and SIGSTOP reach it).
                handle.kill(signo);
                Ok(())
            }
            Init::Running { .. } => match lock(&c.execs).get(&pid) {
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
                    c.state.changed.notify_all();
                }
                Ok(())
            }
            Init::Exited { .. } => Err("container not running".into()),
        }
    }

    fn wait(&self, id: &str, pid: i32) -> Result<i32, String> {
        let c = self.container(id)?;
        let handle = match lock(&c.execs).get(&pid) {
            Some(ExecProcess::Running(h)) => Some(h.clone()),
            Some(ExecProcess::Exited(st)) => return Ok(*st),
            None => None,
        };
        if let Some(h) = handle {
            return Ok(h.wait().wait_status());
        }
        let mut init = lock(&c.state.init);
        loop {
            if let Init::Exited { pid: init_pid, wait_status } = &*init {
                if pid == 0 || pid == *init_pid {
                    return Ok(*wait_status);
                }
                return Err(format!("no process {pid} in container {id}"));
            }
            init = c.state.changed.wait(init).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn state(&self) -> proto::SandboxState {
        let paused = self.kernel.is_paused();
        let mut containers: Vec<_> = lock(&self.containers)
            .iter()
            .map(|(id, c)| {
                let (status, init_pid) = match &*lock(&c.state.init) {
                    Init::Created(_) => ("created", 0),
                    Init::Running { pid, .. } if paused => ("paused", *pid),
                    Init::Running { pid, .. } => ("running", *pid),
                    Init::Exited { pid, .. } => ("stopped", *pid),
                };
                proto::ContainerState { id: id.clone(), status: status.into(), init_pid }
            })
            .collect();
        containers.sort_by(|a, b| a.id.cmp(&b.id));
        proto::SandboxState { containers }
    }

    fn processes(&self, id: &str) -> Result<proto::ProcessList, String> {
        let c = self.container(id)?;
        let processes = self
            .kernel
            .processes()
            .into_iter()
            .filter(|p| p.state != sentry_core::ProcessState::Zombie && p.container == c.fs.id())
            .map(|p| proto::Process { pid: p.pid, ppid: p.ppid, uid: p.uid, cmd: p.comm })
            .collect();
        Ok(proto::ProcessList { processes })
    }

    fn exec(&self, exec: proto::Exec, stdio: Vec<OwnedFd>) -> Result<i32, String> {
        let c = self.container(&exec.container_id)?;
        if !matches!(&*lock(&c.state.init), Init::Running { .. }) {
            return Err(format!("container {} is not running", exec.container_id));
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
            envp: if exec.env.is_empty() { c.env.clone() } else { exec.env.clone() },
            cwd: if exec.cwd.is_empty() { "/".into() } else { exec.cwd.clone() },
            stdio: [stdin, stdout, stderr],
            uid: exec.uid,
            gid: exec.gid,
            groups: Vec::new(),
            rlimits: Vec::new(),
        };
        let options = SpawnOptions { controlling_terminal: exec.terminal, container_init: false };
        let handle = Arc::new(self.kernel.spawn_in(&c.fs, spec, options).map_err(|e| e.to_string())?);
        let pid = handle.pid();
        lock(&c.execs).insert(pid, ExecProcess::Running(handle.clone()));
        let (execs, state, kernel) = (c.execs.clone(), c.state.clone(), self.kernel.clone());
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
        let running = lock(&self.containers).values().any(|c| matches!(&*lock(&c.state.init), Init::Running { .. }));
        if !running {
            return Err("no container of the sandbox is running".into());
        }
        self.kernel.pause();
        Ok(())
    }

    fn resume(&self) -> Result<(), String> {
        if !self.kernel.is_paused() {
            return Err("the sandbox is not paused".into());
        }
        self.kernel.resume();
        Ok(())
    }

    fn resize(&self, id: &str, pid: i32, rows: u16, cols: u16) -> Result<(), String> {
        let c = self.container(id)?;
        let pid = match (&*lock(&c.state.init), pid) {
            (Init::Running { pid: init, .. }, 0) => *init,
            (_, 0) => return Err(format!("container {id} is not running")),
            (_, p) => p,
        };
        self.kernel.resize_terminal(pid, rows, cols).map_err(|e| format!("resizing the terminal of {pid}: {e}"))
    }

    fn add_container(&self, id: &str, config: ContainerConfig, fds: Vec<OwnedFd>) -> Result<(), String> {
        if lock(&self.containers).contains_key(id) {
            return Err(format!("container {id:?} is already in this sandbox"));
        }
        if fds.len() < 4 {
            return Err(format!("add container: expected stdio and Gofer descriptors, got {}", fds.len()));
        }
        let mut fds = fds.into_iter();
        let mut take = || fds.next().expect("counted above");
        let stdio = [take(), take(), take()];
        let mut gofers = fds.map(UnixStream::from);
        let mut build = || -> anyhow::Result<sentry_core::Container> {
            let socket = gofers.next().context("no Gofer connection for the root file system")?;
            let root = gofer_fs(socket, &self.memory, self.new_dev(), "the root file system")?;
            let fs = self.kernel.new_container(root)?;
            self.mount_all(&fs, &config, &mut gofers)?;
            Ok(fs)
        };
        let fs = build().map_err(|e| format!("{e:#}"))?;
        let spec = init_spec(&config, stdio);
        self.insert(id, fs, &config, spec, true);
        Ok(())
    }

    fn remove_container(&self, id: &str) -> Result<(), String> {
        let c = self.container(id)?;
        let created = matches!(&*lock(&c.state.init), Init::Created(_));
        if created {
            c.state.set(Init::Exited { pid: 0, wait_status: libc::SIGKILL });
        }
        self.kernel.signal_container(c.fs.id(), libc::SIGKILL);
        self.kernel.remove_container(c.fs.id());
        lock(&self.containers).remove(id);
        Ok(())
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
