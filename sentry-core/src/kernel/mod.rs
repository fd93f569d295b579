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
//! 3. the task's file-system context (cwd, root, umask) and fd table;
//! 4. the MM ([`MM`](crate::mm::MM) state);
//! 5. VFS inodes (a tmpfs directory's entries, then a file's pages).
//!
//! The MM may take an inode's page lock while holding its own (mapping a
//! file's page); an inode never takes the MM lock. No lock is held across a
//! platform switch, a host `poll`/`read`/`write` on a host fd, or a sleep.
//! System call handlers copy application memory into Sentry buffers before
//! calling into the VFS and copy results out after it returns, so the MM
//! and inode locks are never held together by a handler.

pub mod fd_table;
pub mod signals;
mod task;
pub mod thread_group;
pub mod timer;
pub mod waiter;

use std::collections::HashSet;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use platforms::{MemoryFile, Platform};

use crate::errno::Errno;
use crate::fs::dev::{DevKind, DevNode};
use crate::fs::host_fd::{HostFd, HostFile};
use crate::fs::tmpfs::{Tmpfs, TmpfsInode};
use crate::loader;
use crate::mm::{lock, MM};
use crate::vfs::path::{walk, walk_parent};
use crate::vfs::{flags, Creds, Dentry, File, FileType, FsContext, Inode, LookupFlags};
use crate::SentryError;

pub use fd_table::FdTable;
pub use task::{Credentials, Task};
pub use thread_group::ThreadGroup;

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
}

impl KernelConfig {
    /// Defaults for `platform`: hostname `localhost`, no strace.
    pub fn new(platform: Arc<dyn Platform>) -> KernelConfig {
        KernelConfig { platform, hostname: "localhost".into(), domainname: "(none)".into(), strace: false, root: None }
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
    next_tid: AtomicI32,
    enosys_logged: Mutex<HashSet<u64>>,
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
}

/// A running process started by [`Kernel::spawn_init`].
pub struct TaskHandle {
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

    /// Kills the process with `signal`'s default fatal action (signal
    /// delivery to handlers comes later; this is what `kill -9` needs).
    pub fn kill(&self, signal: i32) {
        let core_dumped = false;
        self.tg.terminate(ExitStatus::Signaled { signal, core_dumped });
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
                boot: Instant::now(),
                next_tid: AtomicI32::new(1),
                enosys_logged: Mutex::new(HashSet::new()),
            }),
        };
        let dev = k.new_tmpfs(crate::vfs::stat::makedev(0, 2));
        for (name, kind) in DevKind::ALL {
            dev.insert(name, DevNode::new(kind)).map_err(SentryError::Fs)?;
        }
        k.mount("/dev", dev)?;
        Ok(k)
    }

    /// A new, empty tmpfs (to mount) with device number `dev`.
    pub fn new_tmpfs(&self, dev: u64) -> Arc<TmpfsInode> {
        Tmpfs::new_root(self.inner.mf.clone(), dev)
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

    pub(crate) fn alloc_tid(&self) -> i32 {
        self.inner.next_tid.fetch_add(1, Ordering::Relaxed)
    }

    /// Whether an unimplemented system call should be logged (once each).
    pub(crate) fn first_enosys(&self, nr: u64) -> bool {
        lock(&self.inner.enosys_logged).insert(nr)
    }

    /// Resolves the program to run: `argv[0]` if it has a `/`, else the
    /// first match in `PATH`.
    fn find_executable(&self, spec: &ProcessSpec, cwd: &Arc<Dentry>) -> Result<(String, Arc<Dentry>), Errno> {
        let name = spec.argv.first().ok_or(Errno::ENOENT)?;
        let root = &self.inner.root_dentry;
        if name.contains('/') {
            return Ok((name.clone(), walk(root, cwd, name, LookupFlags::FOLLOW)?));
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
                    return Ok((candidate, d));
                }
            }
        }
        Err(Errno::ENOENT)
    }

    /// Loads `spec`'s program into a new address space and starts it as a
    /// new process on its own host thread.
    pub fn spawn_init(&self, spec: ProcessSpec) -> Result<TaskHandle, SentryError> {
        let root = self.inner.root_dentry.clone();
        let cwd = walk(&root, &root, &spec.cwd, LookupFlags { follow: true, directory: true })
            .map_err(|e| SentryError::Exec { path: spec.cwd.clone(), errno: e })?;
        let (path, exe) = self
            .find_executable(&spec, &cwd)
            .map_err(|e| SentryError::Exec { path: spec.argv.first().cloned().unwrap_or_default(), errno: e })?;
        let exec_err = |e: Errno| SentryError::Exec { path: path.clone(), errno: e };
        if exe.inode().file_type() != FileType::Regular {
            return Err(exec_err(Errno::EACCES));
        }

        let p = &self.inner.platform;
        let space = p.new_address_space()?;
        let mm = Arc::new(MM::new(space, self.inner.mf.clone(), p.min_user_address(), p.max_user_address()));
        let file = File::open(exe.clone(), flags::O_RDONLY).map_err(exec_err)?;
        let mappable = file.ops().mappable().ok_or(Errno::ENOEXEC).map_err(exec_err)?;
        let read = |off: u64, buf: &mut [u8]| -> Result<(), Errno> {
            let ctx = crate::vfs::IoCtx::internal();
            let n = file.ops().read(&ctx, off, buf)?;
            if n != buf.len() {
                return Err(Errno::ENOEXEC);
            }
            Ok(())
        };
        let size = exe.inode().stat().size;
        let image = loader::load(&mm, &loader::Executable { size, read: &read, mappable }).map_err(exec_err)?;
        let mut random = [0u8; 16];
        crate::fs::dev::fill_random(&mut random).map_err(exec_err)?;
        let sp = loader::setup_stack(
            &mm,
            &loader::StackSpec {
                argv: &spec.argv,
                envp: &spec.envp,
                execfn: &path,
                image: &image,
                interp_base: 0,
                uid: spec.uid,
                gid: spec.gid,
                random,
            },
        )
        .map_err(exec_err)?;

        let mut fds = FdTable::new();
        for (i, fd) in spec.stdio.into_iter().enumerate() {
            let host = HostFd::new(fd);
            let fl = host.access_mode();
            let inode: Arc<dyn Inode> = host.clone();
            let f = Arc::new(File::new(None, inode, Box::new(HostFile(host)), fl));
            fds.insert_at(i as i32, f, false, fd_table::DEFAULT_NOFILE).map_err(SentryError::Fs)?;
        }
        let tid = self.alloc_tid();
        let tg = ThreadGroup::new(tid, 0);
        let fsctx = FsContext { root, cwd, umask: 0o022 };
        let creds = Credentials::new(spec.uid, spec.gid);
        let kernel = self.clone();
        let waker = Arc::new(thread_group::Waker::default());
        tg.add_task(thread_group::TaskRef { tid, waker: waker.clone(), interrupter: None });
        let tg2 = tg.clone();
        let entry = image.entry;
        // The name is the last component of the executable's path.
        let comm: Vec<u8> = path.rsplit('/').next().unwrap_or("").bytes().take(15).collect();
        let thread = std::thread::Builder::new()
            .name(format!("task-{tid}"))
            .spawn(move || {
                let mut task = Task::new(kernel, tid, tg2, mm, fds, fsctx, creds, waker, entry, sp);
                task.comm = comm;
                task.run();
            })
            .map_err(SentryError::Io)?;
        Ok(TaskHandle { tg, thread: Mutex::new(Some(thread)) })
    }
}
