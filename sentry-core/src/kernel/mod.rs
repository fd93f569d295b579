//! The kernel: tasks, thread groups, the task loop and the entry points the
//! runtime calls.
//!
//! # Threads
//!
//! Every application thread is a [`Task`] served by one host thread, which
//! owns the task's platform [`Context`](platforms::Context) and runs
//! [`Task::run`]: switch to the application, handle the exit (system call,
//! fault, signal, interruption), repeat.
//!
//! # Lock order
//!
//! Take locks in this order and never the other way round:
//!
//! 1. kernel-wide tables (`Kernel::inner.next_tid`, the ENOSYS log set);
//! 2. thread group state ([`ThreadGroup`]: task list and exit status), then
//!    its signal dispositions and rlimits;
//! 3. the task's file-system context (cwd, root, umask) and fd table; the
//!    System V IPC namespace ([`ipc::IpcNamespace`]: its handlers copy
//!    results out and detach shared memory while holding it);
//! 4. the MM ([`MM`](crate::mm::MM) state);
//! 5. VFS inodes (a tmpfs directory's entries, then a file's pages), and
//!    sockets (one socket at a time, then the Unix namespace; see
//!    [`net::unix`](crate::net::unix));
//! 6. the advisory lock table ([`LockTable`](crate::vfs::lock::LockTable)),
//!    a leaf: it takes no other lock, so a file description (which releases
//!    its locks when dropped) may be dropped with any lock held.
//!
//! The MM may take an inode's page lock while holding its own (mapping a
//! file's page); an inode never takes the MM lock. No lock is held across a
//! platform switch, a host `poll`/`read`/`write` on a host fd, or a sleep.
//! System call handlers copy application memory into Sentry buffers before
//! calling into the VFS and copy results out after it returns, so the MM
//! and inode locks are never held together by a handler.

pub mod current;
mod exec;
pub mod fd_table;
pub mod fork;
pub mod futex;
pub mod ipc;
pub mod itimer;
pub mod pids;
pub mod signals;
mod task;
pub mod thread_group;
pub mod timer;
pub mod usage;
pub mod waiter;

use std::collections::{HashMap, HashSet};
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Instant;

use platforms::{MemoryFile, Platform};

use crate::errno::Errno;
use crate::fs::dev::{DevKind, DevNode};
use crate::fs::tmpfs::{Tmpfs, TmpfsInode};
use crate::loader;
use crate::mm::{lock, MM};
use crate::vfs::path::{walk, walk_parent};
use crate::vfs::{flags, Creds, Dentry, File, FileType, FsContext, Inode, LookupFlags};
use crate::SentryError;

pub use fd_table::FdTable;
pub use fork::CloneArgs;
pub use task::{Credentials, Task, VforkDone};
pub use thread_group::{TaskShared, ThreadGroup};

use signals::{code, sa, SigInfo};
use task::TaskInit;

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// `exit(code)`; only the low 8 bits are kept, as in Linux.
    Exited(i32),
    /// Killed by `signal`.
    Signaled { signal: i32, core_dumped: bool },
}

impl ExitStatus {
    /// The shell/runsc convention: the exit code, or 128 + the signal.
    pub fn code(&self) -> i32 {
        match *self {
            ExitStatus::Exited(c) => c & 0xff,
            ExitStatus::Signaled { signal, .. } => 128 + signal,
        }
    }

    /// The `wait` status word (`WIFEXITED` / `WIFSIGNALED` encoding).
    pub fn wait_status(&self) -> i32 {
        match *self {
            ExitStatus::Exited(c) => (c & 0xff) << 8,
            ExitStatus::Signaled { signal, core_dumped } => signal | if core_dumped { 0x80 } else { 0 },
        }
    }
}

/// Configuration of a [`Kernel`].
pub struct KernelConfig {
    /// The platform application code runs on.
    pub platform: Arc<dyn Platform>,
    /// `uname` nodename.
    pub hostname: String,
    /// `uname` domainname.
    pub domainname: String,
    /// Log every system call (strace-style) through `tracing`.
    pub strace: bool,
    /// Root file system (for example the container's Gofer); `None`: an
    /// empty tmpfs.
    pub root: Option<Arc<dyn Inode>>,
    /// Most tasks (threads) the sandbox may hold at once: the spec's
    /// `pids.limit`. `clone` beyond it fails with `EAGAIN`.
    pub max_tasks: Option<usize>,
}

impl KernelConfig {
    /// Defaults for `platform`: hostname `localhost`, no strace.
    pub fn new(platform: Arc<dyn Platform>) -> KernelConfig {
        KernelConfig {
            platform,
            hostname: "localhost".into(),
            domainname: "(none)".into(),
            strace: false,
            root: None,
            max_tasks: None,
        }
    }
}

pub(crate) struct KernelInner {
    pub platform: Arc<dyn Platform>,
    pub mf: Arc<MemoryFile>,
    pub root_dentry: Arc<Dentry>,
    pub hostname: String,
    pub domainname: String,
    pub strace: bool,
    pub boot: Instant,
    /// See [`KernelConfig::max_tasks`].
    pub max_tasks: Option<usize>,
    /// CPUs the sandbox reports (those the Sentry may run on), counted at
    /// start-up: later the Sentry may not read the host's cgroup files.
    pub ncpus: usize,
    pub(crate) pids: Mutex<pids::PidTable>,
    pub(crate) futexes: futex::Futexes,
    /// The sandbox's init (PID 1): orphans are reparented to it.
    init: Mutex<Weak<ThreadGroup>>,
    /// Whether the sandbox is paused (`runsc pause`): tasks do not return
    /// to application code until it is resumed.
    paused: Mutex<bool>,
    /// Notified when `paused` changes.
    pub(crate) pause_events: waiter::WaitQueue,
    /// The private directory anonymous files (memfd) are created in.
    memfd_dir: std::sync::OnceLock<Arc<Dentry>>,
    /// The pseudo-terminals (`/dev/pts`).
    devpts: std::sync::OnceLock<Arc<crate::fs::pty::Devpts>>,
    /// The device file system (`/dev`), shared by every container.
    dev: std::sync::OnceLock<Arc<dyn Inode>>,
    /// The last container id handed out (0 is the first container's).
    last_container: std::sync::atomic::AtomicU32,
    /// The inits of the containers but the first (whose init is PID 1).
    container_inits: Mutex<HashMap<u32, Weak<ThreadGroup>>>,
    /// The root dentries of the containers but the first (whose root is
    /// the kernel's).
    container_roots: Mutex<HashMap<u32, Arc<Dentry>>>,
    /// Advisory file locks (`flock`, `fcntl` record locks).
    pub locks: Arc<crate::vfs::lock::LockTable>,
    enosys_logged: Mutex<HashSet<u64>>,
    /// Abstract and path names of Unix sockets (the sandbox's namespace).
    pub unix_names: Arc<crate::net::unix::Namespace>,
    /// System V IPC objects (the sandbox's IPC namespace).
    pub(crate) ipc: ipc::IpcNamespace,
    /// TCP and UDP ports of the sandbox's loopback network.
    pub inet: Arc<crate::net::inet::Stack>,
    /// Host terminals given to the sandbox (the console).
    pub(crate) host_ttys: crate::fs::host_tty::Registry,
}

/// The Sentry's kernel: one per sandbox.
#[derive(Clone)]
pub struct Kernel {
    pub(crate) inner: Arc<KernelInner>,
}

/// What to run as the container's init.
pub struct ProcessSpec {
    /// Arguments; `argv[0]` names the program (looked up in `PATH` from
    /// `envp` if it has no `/`).
    pub argv: Vec<String>,
    /// Environment, `KEY=value`.
    pub envp: Vec<String>,
    /// Working directory (absolute).
    pub cwd: String,
    /// Host descriptors for fds 0, 1, 2.
    pub stdio: [OwnedFd; 3],
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
    /// Resource limits to start with: (`RLIMIT_*`, soft, hard); the others
    /// keep their defaults.
    pub rlimits: Vec<(u32, u64, u64)>,
}

/// How [`Kernel::spawn`] starts a process, beyond its [`ProcessSpec`].
#[derive(Clone, Copy, Debug, Default)]
pub struct SpawnOptions {
    /// The process leads a new session (as every spawned process does)
    /// whose controlling terminal is its stdio's host terminal, with the
    /// process in the foreground: a container process with
    /// `process.terminal` set. Without a terminal among the stdio this does
    /// nothing.
    pub controlling_terminal: bool,
    /// The process is its container's init: like the init of a PID
    /// namespace, the container's orphans are reparented to it, it ignores
    /// signals from inside that it does not handle, and the container's
    /// other processes are killed when it exits. (The first container's
    /// init is the sandbox's PID 1, which is always one.)
    pub container_init: bool,
}

/// A running process started by [`Kernel::spawn_init`].
pub struct TaskHandle {
    kernel: Kernel,
    tg: Arc<ThreadGroup>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl TaskHandle {
    /// The process's pid inside the sandbox.
    pub fn pid(&self) -> i32 {
        self.tg.tgid
    }

    /// Waits for the process to end (any number of callers, any time).
    pub fn wait(&self) -> ExitStatus {
        let st = self.tg.wait();
        if let Some(t) = lock(&self.thread).take() {
            let _ = t.join();
        }
        st
    }

    /// Sends `signal` to the process from outside the sandbox (`runsc
    /// kill`). As for any PID 1, only signals it handles, SIGKILL and
    /// SIGSTOP reach the container's init.
    pub fn kill(&self, signal: i32) {
        if !(1..=signals::NSIG as i32).contains(&signal) {
            return;
        }
        self.kernel.send_group_signal_from_outside(&self.tg, signals::info_from(signal, code::SI_USER, 0, 0));
    }
}

/// The root file system, for the runtime to populate before starting init.
pub struct RootFs<'a> {
    kernel: &'a Kernel,
}

impl RootFs<'_> {
    fn root(&self) -> &Arc<Dentry> {
        &self.kernel.inner.root_dentry
    }

    /// Creates directory `path` and its missing parents.
    pub fn mkdir_all(&self, path: &str, mode: u32) -> Result<(), Errno> {
        let mut cur = self.root().clone();
        for c in path.split('/').filter(|c| !c.is_empty()) {
            let next = match cur.inode().lookup(c) {
                Ok(i) => i,
                Err(Errno::ENOENT) => cur.inode().create(c, FileType::Directory, mode, Creds::default())?,
                Err(e) => return Err(e),
            };
            if next.file_type() != FileType::Directory {
                return Err(Errno::ENOTDIR);
            }
            cur = Dentry::child(&cur, c, next);
        }
        Ok(())
    }

    /// Creates (or replaces the contents of) regular file `path`.
    pub fn write_file(&self, path: &str, data: &[u8], mode: u32) -> Result<(), Errno> {
        let (parent, name, _) = walk_parent(self.root(), self.root(), path)?;
        let name = name.ok_or(Errno::EISDIR)?;
        let inode = match parent.inode().lookup(&name) {
            Ok(i) => i,
            Err(Errno::ENOENT) => parent.inode().create(&name, FileType::Regular, mode, Creds::default())?,
            Err(e) => return Err(e),
        };
        let t = inode.as_any().downcast_ref::<TmpfsInode>().ok_or(Errno::EPERM)?;
        t.set_contents(data)?;
        t.set_mode(mode)
    }

    /// Creates symbolic link `path` pointing to `target`.
    pub fn symlink(&self, target: &str, path: &str) -> Result<(), Errno> {
        let (parent, name, _) = walk_parent(self.root(), self.root(), path)?;
        parent.inode().symlink(&name.ok_or(Errno::EEXIST)?, target, Creds::default())
    }

    /// Reads regular file `path` (following symlinks).
    pub fn read_file(&self, path: &str) -> Result<Vec<u8>, Errno> {
        let d = walk(self.root(), self.root(), path, LookupFlags::FOLLOW)?;
        let size = d.inode().stat().size as usize;
        let f = File::open(d, flags::O_RDONLY)?;
        let mut buf = vec![0u8; size];
        let ctx = crate::vfs::IoCtx::internal();
        let n = f.ops().read(&ctx, 0, &mut buf)?;
        buf.truncate(n);
        Ok(buf)
    }
}

impl Kernel {
    /// Creates a kernel whose root is `config.root` (or an empty tmpfs),
    /// with a device tmpfs mounted on `/dev`.
    pub fn new(config: KernelConfig) -> Result<Kernel, SentryError> {
        let mf = config.platform.memory_file().clone();
        let root: Arc<dyn Inode> = match config.root {
            Some(r) => r,
            None => {
                let t = Tmpfs::new_root(mf.clone(), crate::vfs::stat::makedev(0, 1));
                // The mount point of /dev, as on Linux.
                t.create("dev", FileType::Directory, 0o755, Creds::default()).map_err(SentryError::Fs)?;
                t
            }
        };
        let root_dentry = Dentry::root(root);
        let k = Kernel {
            inner: Arc::new(KernelInner {
                platform: config.platform,
                mf,
                root_dentry,
                hostname: config.hostname,
                domainname: config.domainname,
                strace: config.strace,
                max_tasks: config.max_tasks,
                boot: Instant::now(),
                ncpus: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
                pids: Mutex::new(pids::PidTable::default()),
                futexes: futex::Futexes::default(),
                init: Mutex::new(Weak::new()),
                paused: Mutex::new(false),
                pause_events: waiter::WaitQueue::new(),
                memfd_dir: std::sync::OnceLock::new(),
                devpts: std::sync::OnceLock::new(),
                dev: std::sync::OnceLock::new(),
                last_container: std::sync::atomic::AtomicU32::new(0),
                container_inits: Mutex::new(HashMap::new()),
                container_roots: Mutex::new(HashMap::new()),
                locks: Arc::new(crate::vfs::lock::LockTable::new()),
                enosys_logged: Mutex::new(HashSet::new()),
                unix_names: crate::net::unix::Namespace::new(),
                ipc: ipc::IpcNamespace::default(),
                inet: crate::net::inet::Stack::new(),
                host_ttys: Default::default(),
            }),
        };
        let dev = k.new_tmpfs(crate::vfs::stat::makedev(0, 2));
        for (name, kind) in DevKind::ALL {
            dev.insert(name, DevNode::new(kind)).map_err(SentryError::Fs)?;
        }
        dev.insert("ptmx", crate::fs::pty::PtmxInode::new(k.devpts())).map_err(SentryError::Fs)?;
        dev.insert("tty", crate::fs::pty::TtyInode::new(k.devpts())).map_err(SentryError::Fs)?;
        // The conventional links into procfs.
        for (name, target) in [
            ("fd", "/proc/self/fd"),
            ("stdin", "/proc/self/fd/0"),
            ("stdout", "/proc/self/fd/1"),
            ("stderr", "/proc/self/fd/2"),
        ] {
            dev.symlink(name, target, Creds::default()).map_err(SentryError::Fs)?;
        }
        let _ = k.inner.dev.set(dev.clone());
        k.mount("/dev", dev)?;
        k.mount("/dev/pts", k.devpts())?;
        Ok(k)
    }

    /// The sandbox's first container: the kernel's root file system.
    pub fn first_container(&self) -> Container {
        Container { id: 0, root: self.inner.root_dentry.clone() }
    }

    /// Another container of the sandbox, with its own root file system
    /// `root` (the kernel's `/dev` and `/dev/pts` mounted in it), sharing
    /// the kernel's processes, pipes, sockets and terminals. Mount its
    /// other file systems with [`Container::mount`], start its processes
    /// with [`Kernel::spawn_in`].
    pub fn new_container(&self, root: Arc<dyn Inode>) -> Result<Container, SentryError> {
        let id = self.inner.last_container.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let c = Container { id, root: Dentry::root(root) };
        if let Some(dev) = self.inner.dev.get() {
            c.mount("/dev", dev.clone())?;
            c.mount("/dev/pts", self.devpts())?;
        }
        lock(&self.inner.container_roots).insert(id, c.root.clone());
        Ok(c)
    }

    /// The mount table of container `id` (the kernel's for an unknown id).
    pub(crate) fn container_mounts(&self, id: u32) -> Arc<crate::vfs::Mounts> {
        match lock(&self.inner.container_roots).get(&id) {
            Some(root) => root.mounts().clone(),
            None => self.inner.root_dentry.mounts().clone(),
        }
    }

    /// Forgets container `id` once its processes are gone: its file
    /// systems are released with the last reference to them.
    pub fn remove_container(&self, id: u32) {
        lock(&self.inner.container_roots).remove(&id);
        lock(&self.inner.container_inits).remove(&id);
    }

    /// A new, empty tmpfs (to mount) with device number `dev`.
    pub fn new_tmpfs(&self, dev: u64) -> Arc<TmpfsInode> {
        Tmpfs::new_root(self.inner.mf.clone(), dev)
    }

    /// A procfs of this kernel (to mount on `/proc`).
    pub fn new_procfs(&self) -> Arc<dyn Inode> {
        crate::fs::proc::ProcInode::new_root(self)
    }

    /// A minimal sysfs (to mount on `/sys`): what programs read to count
    /// CPUs (`devices/system/cpu/{online,possible,present}` and a
    /// directory per CPU) and an empty `fs/cgroup` mount point. Its
    /// contents are fixed at creation.
    pub fn new_sysfs(&self) -> Result<Arc<dyn Inode>, Errno> {
        let root = self.new_tmpfs(crate::vfs::stat::makedev(0, 6));
        let dir = |parent: &Arc<dyn Inode>, name: &str| -> Result<Arc<dyn Inode>, Errno> {
            parent.create(name, FileType::Directory, 0o755, Creds::default())
        };
        let file = |parent: &Arc<dyn Inode>, name: &str, text: &str| -> Result<(), Errno> {
            let f = parent.create(name, FileType::Regular, 0o444, Creds::default())?;
            let t = f.as_any().downcast_ref::<TmpfsInode>().ok_or(Errno::EIO)?;
            t.set_contents(text.as_bytes())
        };
        let r: Arc<dyn Inode> = root.clone();
        let cpu = dir(&dir(&dir(&r, "devices")?, "system")?, "cpu")?;
        let n = self.inner.ncpus;
        let range = if n > 1 { format!("0-{}\n", n - 1) } else { "0\n".to_string() };
        for name in ["online", "possible", "present"] {
            file(&cpu, name, &range)?;
        }
        for c in 0..n {
            let d = dir(&cpu, &format!("cpu{c}"))?;
            file(&d, "online", "1\n")?;
        }
        dir(&dir(&r, "fs")?, "cgroup")?;
        dir(&r, "kernel")?;
        Ok(r)
    }

    /// The memory file application memory (and tmpfs data) comes from.
    pub fn memory_file(&self) -> &Arc<MemoryFile> {
        &self.inner.mf
    }

    /// Mounts the file system rooted at `inode` on absolute path `path`.
    pub fn mount(&self, path: &str, inode: Arc<dyn Inode>) -> Result<(), SentryError> {
        self.inner.root_dentry.mount(path, inode).map_err(SentryError::Fs)
    }

    /// The root file system, to populate.
    pub fn root_fs(&self) -> RootFs<'_> {
        RootFs { kernel: self }
    }

    /// The platform.
    pub fn platform(&self) -> &Arc<dyn Platform> {
        &self.inner.platform
    }

    /// The PID table.
    pub(crate) fn pids(&self) -> MutexGuard<'_, pids::PidTable> {
        lock(&self.inner.pids)
    }

    /// Whether an unimplemented system call should be logged (once each).
    pub(crate) fn first_enosys(&self, nr: u64) -> bool {
        lock(&self.inner.enosys_logged).insert(nr)
    }

    /// Resolves the program to run: `argv[0]` if it has a `/`, else the
    /// first regular file of that name in `PATH`. Returns the path to
    /// execute; [`loader::load_program`] checks the file itself.
    fn find_executable(&self, spec: &ProcessSpec, root: &Arc<Dentry>, cwd: &Arc<Dentry>) -> Result<String, Errno> {
        let name = spec.argv.first().ok_or(Errno::ENOENT)?;
        if name.contains('/') {
            return Ok(name.clone());
        }
        let path = spec
            .envp
            .iter()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        for dir in path.split(':').filter(|d| !d.is_empty()) {
            let candidate = format!("{}/{}", dir.trim_end_matches('/'), name);
            if let Ok(d) = walk(root, cwd, &candidate, LookupFlags::FOLLOW) {
                if d.inode().file_type() == FileType::Regular {
                    return Ok(candidate);
                }
            }
        }
        Err(Errno::ENOENT)
    }

    /// Loads `spec`'s program into a new address space and starts it as a
    /// new process on its own host thread.
    pub fn spawn_init(&self, spec: ProcessSpec) -> Result<TaskHandle, SentryError> {
        self.spawn(spec, SpawnOptions::default())
    }

    /// [`spawn_init`](Kernel::spawn_init) with `options`.
    pub fn spawn(&self, spec: ProcessSpec, options: SpawnOptions) -> Result<TaskHandle, SentryError> {
        self.spawn_in(&self.first_container(), spec, options)
    }

    /// [`spawn`](Kernel::spawn) in `container`: the process's root is the
    /// container's, and its descendants belong to the container.
    pub fn spawn_in(
        &self,
        container: &Container,
        spec: ProcessSpec,
        options: SpawnOptions,
    ) -> Result<TaskHandle, SentryError> {
        let root = container.root.clone();
        let cwd = walk(&root, &root, &spec.cwd, LookupFlags { follow: true, directory: true })
            .map_err(|e| SentryError::Exec { path: spec.cwd.clone(), errno: e })?;
        let path = self
            .find_executable(&spec, &root, &cwd)
            .map_err(|e| SentryError::Exec { path: spec.argv.first().cloned().unwrap_or_default(), errno: e })?;
        let exec_err = |e: Errno| SentryError::Exec { path: path.clone(), errno: e };

        let p = &self.inner.platform;
        let space = p.new_address_space()?;
        let mm = Arc::new(MM::new(space, self.inner.mf.clone(), p.min_user_address(), p.max_user_address()));
        let program = loader::load_program(
            &mm,
            loader::ProgramSpec {
                root: &root,
                cwd: &cwd,
                path: &path,
                argv: spec.argv,
                envp: spec.envp,
                uid: spec.uid,
                gid: spec.gid,
            },
        )
        .map_err(exec_err)?;

        let mut fds = FdTable::new();
        let mut terminal = None;
        for (i, fd) in spec.stdio.into_iter().enumerate() {
            let (f, tty) = self.stdio_file(fd).map_err(SentryError::Fs)?;
            terminal = terminal.or(tty);
            fds.insert_at(i as i32, f, false, fd_table::DEFAULT_NOFILE).map_err(SentryError::Fs)?;
        }
        let tid = self.pids().alloc().map_err(|e| SentryError::Exec { path: path.clone(), errno: e })?;
        let tg = ThreadGroup::new(tid, 0);
        tg.uid.store(spec.uid as i32, std::sync::atomic::Ordering::Relaxed);
        tg.container.store(container.id, std::sync::atomic::Ordering::Relaxed);
        {
            let mut limits = lock(&tg.rlimits);
            for &(r, soft, hard) in &spec.rlimits {
                if let Some(l) = limits.get_mut(r as usize) {
                    *l = (soft.min(hard), hard);
                }
            }
        }
        if tid == 1 {
            *lock(&self.inner.init) = Arc::downgrade(&tg);
        } else if options.container_init && container.id != 0 {
            lock(&self.inner.container_inits).insert(container.id, Arc::downgrade(&tg));
        }
        if let Some(tty) = terminal.filter(|_| options.controlling_terminal) {
            // The runtime's choice: taken from any session that had it.
            tty.job().set_controlling(tg.sid(), tg.pgid());
        }
        let fsctx = FsContext { root, cwd, umask: 0o022 };
        let shared = TaskShared::new(tid, 0);
        let (comm, exe) = (program.comm, program.exe);
        *lock(&shared.comm) = comm.clone();
        let init = TaskInit {
            tid,
            tg: tg.clone(),
            shared,
            mm,
            fds: Arc::new(Mutex::new(fds)),
            fs: Arc::new(Mutex::new(fsctx)),
            creds: {
                let mut c = Credentials::new(spec.uid, spec.gid);
                c.groups = spec.groups.clone();
                c.groups.sort_unstable();
                c
            },
            cpu: platforms::CpuState::new(program.entry, program.sp),
        };
        let thread = self
            .start_task(init, move |t| {
                t.comm = comm;
                t.exe = Some(exe);
                t.find_arg_ranges();
            })
            .map_err(|e| SentryError::Exec { path: path.clone(), errno: e })?;
        Ok(TaskHandle { kernel: self.clone(), tg, thread: Mutex::new(Some(thread)) })
    }

    /// Registers a new task and starts its host thread; `setup` runs on
    /// that thread before the task does.
    pub(crate) fn start_task(
        &self,
        init: TaskInit,
        setup: impl FnOnce(&mut Task) + Send + 'static,
    ) -> Result<std::thread::JoinHandle<()>, Errno> {
        let (tid, tg, shared) = (init.tid, init.tg.clone(), init.shared.clone());
        self.pids().insert_task(shared.clone(), tg.clone());
        tg.add_task(shared);
        let kernel = self.clone();
        let spawned =
            std::thread::Builder::new().name(format!("task-{tid}")).stack_size(TASK_STACK_SIZE).spawn(move || {
                let mut task = Task::new(kernel, init);
                setup(&mut task);
                task.run();
            });
        spawned.map_err(|e| {
            tracing::warn!(tid, error = %e, "cannot start a host thread for a task");
            self.pids().remove_task(tid);
            if tg.task_exited(tid, ExitStatus::Signaled { signal: libc::SIGKILL, core_dumped: false }) {
                self.pids().remove_group(tg.tgid);
            }
            Errno::EAGAIN
        })
    }

    /// Pauses every task: none runs application code until [`resume`].
    /// Tasks blocked in the Sentry stay blocked; they pause when they would
    /// return to the application.
    ///
    /// [`resume`]: Kernel::resume
    pub fn pause(&self) {
        *lock(&self.inner.paused) = true;
        for g in self.pids().groups() {
            for t in g.tasks() {
                t.wake();
            }
        }
    }

    /// Undoes [`pause`](Kernel::pause).
    pub fn resume(&self) {
        *lock(&self.inner.paused) = false;
        self.inner.pause_events.notify(waiter::events::ALL);
    }

    /// Whether the sandbox is paused.
    pub fn is_paused(&self) -> bool {
        *lock(&self.inner.paused)
    }

    /// CPU time the sandbox's processes have used (user and system, the
    /// collected children's included).
    pub fn cpu_time(&self) -> std::time::Duration {
        let mut total = std::time::Duration::ZERO;
        for g in self.pids().groups() {
            let u = *lock(&g.usage);
            total += u.children_user + u.children_sys;
            let mm = g.tasks().iter().find_map(|t| lock(&t.view).as_ref().map(|v| v.mm.clone()));
            match mm {
                Some(mm) => {
                    let (user, sys) = usage::group_times(&g, &mm);
                    total += user + sys;
                }
                None => total += u.final_user + u.final_sys,
            }
        }
        total
    }

    /// Every process in the sandbox, by pid (for `runsc ps` and the shim's
    /// `Pids`).
    pub fn processes(&self) -> Vec<ProcessInfo> {
        self.pids()
            .groups()
            .into_iter()
            .map(|g| {
                let tasks = g.tasks();
                let comm =
                    tasks.first().map(|t| String::from_utf8_lossy(&lock(&t.comm)).into_owned()).unwrap_or_default();
                let state = if g.zombie_status().is_some() {
                    ProcessState::Zombie
                } else if g.stop_state().stopped.is_some() {
                    ProcessState::Stopped
                } else {
                    ProcessState::Running
                };
                ProcessInfo {
                    pid: g.tgid,
                    ppid: g.ppid(),
                    pgid: g.pgid(),
                    sid: g.sid(),
                    uid: g.uid.load(std::sync::atomic::Ordering::Relaxed) as u32,
                    comm,
                    threads: tasks.len(),
                    state,
                    started: g.start_time,
                    container: g.container.load(std::sync::atomic::Ordering::Relaxed),
                }
            })
            .collect()
    }

    /// The kernel's pseudo-terminals: the devpts file system.
    pub fn devpts(&self) -> Arc<crate::fs::pty::Devpts> {
        self.inner.devpts.get_or_init(|| crate::fs::pty::Devpts::new(self)).clone()
    }

    /// The private tmpfs directory memfds are created (and unlinked) in.
    pub(crate) fn memfd_dir(&self) -> Arc<Dentry> {
        self.inner
            .memfd_dir
            .get_or_init(|| {
                let t: Arc<dyn Inode> = self.new_tmpfs(crate::vfs::stat::makedev(0, 5));
                Dentry::root(t)
            })
            .clone()
    }

    /// The sandbox's init, if it is alive.
    pub fn init(&self) -> Option<Arc<ThreadGroup>> {
        lock(&self.inner.init).upgrade()
    }

    /// Sends a process-directed signal, applying what Linux does at send
    /// time: SIGKILL ends the group at once, SIGCONT continues it and
    /// discards pending stops, a stop discards pending SIGCONT, signals the
    /// group ignores are dropped, and init drops what it does not handle.
    pub fn send_group_signal(&self, tg: &Arc<ThreadGroup>, si: SigInfo) {
        if self.prepare_signal(tg, si.signo(), false) {
            tg.queue_signal(si);
        }
    }

    /// Sends `signal` from outside the sandbox (the runtime) to every
    /// process of container `container` (zombies excepted); returns how
    /// many it reached. `runsc kill --all`, and removing a container.
    pub fn signal_container(&self, container: u32, signal: i32) -> usize {
        if !(1..=signals::NSIG as i32).contains(&signal) {
            return 0;
        }
        let groups: Vec<_> = self
            .pids()
            .groups()
            .into_iter()
            .filter(|g| g.container.load(std::sync::atomic::Ordering::Relaxed) == container)
            .filter(|g| g.zombie_status().is_none())
            .collect();
        for g in &groups {
            self.send_group_signal_from_outside(g, signals::info_from(signal, code::SI_USER, 0, 0));
        }
        groups.len()
    }

    /// [`send_group_signal`](Kernel::send_group_signal) from outside the
    /// sandbox (the runtime): SIGKILL and SIGSTOP reach init too.
    pub fn send_group_signal_from_outside(&self, tg: &Arc<ThreadGroup>, si: SigInfo) {
        if self.prepare_signal(tg, si.signo(), true) {
            tg.queue_signal(si);
        }
    }

    /// Sends a thread-directed signal (`tgkill`, `tkill`).
    pub fn send_thread_signal(&self, tg: &Arc<ThreadGroup>, t: &Arc<TaskShared>, si: SigInfo) {
        if !self.prepare_signal(tg, si.signo(), false) {
            return;
        }
        if lock(&t.pending).enqueue(si) {
            t.wake();
            tg.signal_events.notify(waiter::events::ALL);
        }
    }

    /// Send-time effects of `sig` on `tg`; false if the signal is dropped.
    fn prepare_signal(&self, tg: &Arc<ThreadGroup>, sig: i32, force: bool) -> bool {
        use signals::{bit, default_action, DefaultAction, SIG_DFL, SIG_IGN, STOP_SIGNALS};
        if tg.exiting().is_some() {
            return false;
        }
        let act = lock(&tg.sigactions)[(sig - 1) as usize];
        // A signal some thread blocks (or awaits in sigtimedwait) is never
        // ignored at send time.
        let awaited = |t: &TaskShared| t.awaited.load(std::sync::atomic::Ordering::SeqCst);
        let blocked = tg.tasks().iter().all(|t| (t.mask() | awaited(t)) & bit(sig) != 0);
        // Init (PID 1) ignores what it does not handle, SIGKILL included,
        // unless the signal comes from outside the sandbox (SIGKILL and
        // SIGSTOP then get through).
        let is_init = self.container_init_of(tg).is_some_and(|i| Arc::ptr_eq(&i, tg));
        let forced = force && (sig == libc::SIGKILL || sig == libc::SIGSTOP);
        if is_init && act.handler == SIG_DFL && !forced && !blocked {
            return false;
        }
        if sig == libc::SIGKILL {
            tg.terminate(ExitStatus::Signaled { signal: libc::SIGKILL, core_dumped: false });
            return false;
        }
        if sig == libc::SIGCONT {
            lock(&tg.pending).discard(STOP_SIGNALS);
            for t in tg.tasks() {
                lock(&t.pending).discard(STOP_SIGNALS);
            }
            if tg.resume() {
                if let Some(parent) = tg.parent() {
                    let nocldstop =
                        lock(&parent.sigactions)[(libc::SIGCHLD - 1) as usize].flags & sa::SA_NOCLDSTOP != 0;
                    if !nocldstop {
                        let uid = tg.uid.load(std::sync::atomic::Ordering::Relaxed) as u32;
                        let si = signals::info_child(libc::SIGCHLD, code::CLD_CONTINUED, tg.tgid, uid, libc::SIGCONT);
                        self.send_group_signal(&parent, si);
                    }
                    parent.child_events.notify(waiter::events::ALL);
                }
            }
        } else if STOP_SIGNALS & bit(sig) != 0 {
            lock(&tg.pending).discard(bit(libc::SIGCONT));
            for t in tg.tasks() {
                lock(&t.pending).discard(bit(libc::SIGCONT));
            }
        }
        let ignored = act.handler == SIG_IGN
            || (act.handler == SIG_DFL
                && matches!(default_action(sig), DefaultAction::Ignore | DefaultAction::Continue));
        !ignored || blocked
    }

    /// A task has ended; if it was its group's last, the group becomes a
    /// zombie: its children go to init, its parent hears of it.
    pub(crate) fn task_exited(&self, task: &mut Task, status: ExitStatus) {
        let tg = task.tg.clone();
        {
            // Totals as of now; they are final once the last thread is
            // gone. User time must be read while the address space lives.
            let my_sys = usage::sys_time(&task.shared);
            let user = usage::user_time(&task.mm).unwrap_or_default();
            let mut u = lock(&tg.usage);
            u.exited_sys += my_sys;
            u.final_user = user;
            u.final_sys = u.exited_sys;
        }
        self.pids().remove_task(task.tid);
        if !tg.task_exited(task.tid, status) {
            return;
        }
        // The process is gone: so are its POSIX record locks and timers,
        // and a session leader's controlling terminal; its semaphore
        // adjustments (SEM_UNDO) are applied.
        self.inner.locks.release_process(tg.tgid);
        self.inner.ipc.process_exited(tg.tgid);
        // Its address space, unless another process shares it (a vfork
        // parent) or something reads it right now (procfs).
        if Arc::strong_count(&task.mm) == 1 {
            task.mm.exit_mmap();
        }
        lock(&tg.timers).clear();
        if tg.sid() == tg.tgid {
            crate::fs::tty::session_leader_exited(self, tg.tgid);
        }
        let is_init = self.init().is_some_and(|i| Arc::ptr_eq(&i, &tg));
        let init = self.container_init_of(&tg);
        let is_container_init = init.as_ref().is_some_and(|i| Arc::ptr_eq(i, &tg));
        if is_container_init {
            // A container ends with its init, as a PID namespace does.
            let container = tg.container.load(std::sync::atomic::Ordering::Relaxed);
            for g in self.pids().groups() {
                if !Arc::ptr_eq(&g, &tg) && g.container.load(std::sync::atomic::Ordering::Relaxed) == container {
                    g.terminate(ExitStatus::Signaled { signal: libc::SIGKILL, core_dumped: false });
                }
            }
        }
        let reaper = if is_container_init { None } else { self.reaper_for(&tg).or(init.clone()) };
        for child in tg.take_children() {
            match reaper.as_ref() {
                Some(reaper) => {
                    ThreadGroup::reparent_child(&child, reaper);
                    if child.zombie_status().is_some() {
                        self.notify_parent_of_exit(&child, reaper);
                    }
                }
                None => {
                    child.terminate(ExitStatus::Signaled { signal: libc::SIGKILL, core_dumped: false });
                }
            }
            // PR_SET_PDEATHSIG: the parent is gone (sent once the child
            // has its new parent, as Linux does).
            for t in child.tasks() {
                let sig = t.pdeathsig.load(std::sync::atomic::Ordering::Relaxed);
                if sig > 0 {
                    self.send_thread_signal(&child, &t, signals::info_from(sig, code::SI_USER, 0, 0));
                }
            }
        }
        match tg.parent() {
            Some(parent) => self.notify_parent_of_exit(&tg, &parent),
            // Nobody will wait for it.
            None if !is_init && tg.reap() => self.pids().remove_group(tg.tgid),
            None => {}
        }
    }

    /// The init of `tg`'s container (PID 1 for the first container's).
    fn container_init_of(&self, tg: &ThreadGroup) -> Option<Arc<ThreadGroup>> {
        match tg.container.load(std::sync::atomic::Ordering::Relaxed) {
            0 => self.init(),
            c => lock(&self.inner.container_inits).get(&c).and_then(Weak::upgrade),
        }
    }

    /// The nearest living ancestor of `tg` that is a child subreaper.
    fn reaper_for(&self, tg: &ThreadGroup) -> Option<Arc<ThreadGroup>> {
        let mut cur = tg.parent();
        while let Some(p) = cur {
            if p.subreaper.load(std::sync::atomic::Ordering::Relaxed) && p.zombie_status().is_none() {
                return Some(p);
            }
            cur = p.parent();
        }
        None
    }

    /// Sends a zombie's exit signal to its parent, reaping it at once if
    /// the parent does not want zombies (SIGCHLD ignored or SA_NOCLDWAIT).
    fn notify_parent_of_exit(&self, child: &Arc<ThreadGroup>, parent: &Arc<ThreadGroup>) {
        let Some(status) = child.zombie_status() else { return };
        let act = lock(&parent.sigactions)[(libc::SIGCHLD - 1) as usize];
        let autoreap = child.exit_signal == libc::SIGCHLD
            && (act.handler == signals::SIG_IGN || act.flags & sa::SA_NOCLDWAIT != 0);
        if child.exit_signal > 0 && child.exit_signal <= signals::NSIG as i32 {
            let (code, st) = match status {
                ExitStatus::Exited(c) => (code::CLD_EXITED, c),
                ExitStatus::Signaled { signal, core_dumped: true } => (code::CLD_DUMPED, signal),
                ExitStatus::Signaled { signal, .. } => (code::CLD_KILLED, signal),
            };
            let uid = child.uid.load(std::sync::atomic::Ordering::Relaxed) as u32;
            self.send_group_signal(parent, signals::info_child(child.exit_signal, code, child.tgid, uid, st));
        }
        if autoreap && child.reap() {
            parent.remove_child(child.tgid);
            self.pids().remove_group(child.tgid);
        }
        parent.child_events.notify(waiter::events::ALL);
    }
}

/// What [`Kernel::processes`] reports of a process.
#[derive(Clone, Debug)]
pub struct ProcessInfo {
    pub pid: i32,
    pub ppid: i32,
    pub pgid: i32,
    pub sid: i32,
    pub uid: u32,
    /// Name of the main thread (`comm`).
    pub comm: String,
    pub threads: usize,
    pub state: ProcessState,
    pub started: Instant,
    /// The [`Container`] it belongs to (its id).
    pub container: u32,
}

/// One container of the sandbox: its root file system and, through the
/// processes started in it, its processes.
#[derive(Clone)]
pub struct Container {
    id: u32,
    root: Arc<Dentry>,
}

impl Container {
    /// The id its processes carry ([`ProcessInfo::container`]).
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Mounts the file system rooted at `inode` on absolute path `path` of
    /// this container's file system.
    pub fn mount(&self, path: &str, inode: Arc<dyn Inode>) -> Result<(), SentryError> {
        self.root.mount(path, inode).map_err(SentryError::Fs)
    }

    /// [`mount`](Container::mount) with the file system's type name, as
    /// `/proc/mounts` shows it.
    pub fn mount_typed(&self, path: &str, inode: Arc<dyn Inode>, fs_type: &str) -> Result<(), SentryError> {
        self.root.mount_typed(path, inode, fs_type).map_err(SentryError::Fs)
    }

    /// Creates what is missing of mount point `path` in the file systems
    /// it crosses, as runc creates mount points in the root file system:
    /// its parent directories, and itself — a directory, or an empty
    /// regular file for the mount of a file (`file`). Where a file system
    /// refuses (a read-only root), a missing directory becomes an empty
    /// directory of `empty_dir()` mounted there, and a missing mount point
    /// stays missing (the mount still resolves by its path).
    pub fn make_mount_point(
        &self,
        path: &str,
        file: bool,
        empty_dir: impl Fn() -> Arc<dyn Inode>,
    ) -> Result<(), Errno> {
        let parts: Vec<&str> = path.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
        let mut cur = self.root.clone();
        for (i, name) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            let here = format!("/{}", parts[..=i].join("/"));
            let inode = match self.root.mounts().get(&here) {
                Some(mounted) => mounted,
                None => match cur.inode().lookup(name) {
                    Ok(inode) => inode,
                    Err(Errno::ENOENT) => {
                        let (kind, mode) =
                            if last && file { (FileType::Regular, 0o644) } else { (FileType::Directory, 0o755) };
                        match cur.inode().create(name, kind, mode, Creds::default()) {
                            Ok(inode) => inode,
                            Err(_) if last => return Ok(()),
                            Err(_) => {
                                let dir = empty_dir();
                                self.root.mount(&here, dir.clone())?;
                                dir
                            }
                        }
                    }
                    Err(e) => return Err(e),
                },
            };
            if last {
                break;
            }
            if inode.file_type() != FileType::Directory {
                return Err(Errno::ENOTDIR);
            }
            cur = Dentry::child(&cur, name, inode);
        }
        Ok(())
    }
}

/// A process's scheduling state as `ps` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcessState {
    Running,
    Stopped,
    Zombie,
}

/// Host stack size of a task thread (the Sentry's own recursion is
/// shallow).
const TASK_STACK_SIZE: usize = 1 << 20;
