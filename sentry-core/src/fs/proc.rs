//! procfs: the kernel's state as files, generated when opened.
//!
//! Every file's contents are produced at `open` (a snapshot, like Linux's
//! `seq_file`) from the PID table, the processes' published views
//! ([`ProcView`]) and kernel-wide state. Directories list and look up their
//! entries on demand; `/proc/self` and `/proc/thread-self` resolve through
//! the calling thread's task ([`crate::kernel::current`]). The links under
//! `/proc/[pid]` (`exe`, `cwd`, `root`, `fd/N`) read as the path of their
//! target; following one walks that path again, so it reaches files that
//! still have a name (pipes, sockets and deleted files do not).
//!
//! Offered: `/proc/{self,thread-self,[pid],cpuinfo,meminfo,uptime,loadavg,
//! stat,version,filesystems,mounts,sys/...}` and per process `stat`,
//! `status`, `statm`, `cmdline`, `environ`, `comm` (writable), `exe`,
//! `cwd`, `root`, `fd/`, `maps`, `mounts`, `limits`, `cgroup`,
//! `oom_score_adj` (writable), `task/[tid]/{stat,status,comm}`. A process
//! that is gone gives `ENOENT` (`ESRCH` for a file opened before).

use std::any::Any;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use crate::errno::Errno;
use crate::kernel::signals::{SIG_DFL, SIG_IGN};
use crate::kernel::thread_group::{ProcView, TaskShared, ThreadGroup};
use crate::kernel::{Kernel, KernelInner};
use crate::mm::lock;
use crate::vfs::stat::makedev;
use crate::vfs::{Dentry, DirEntry, FileOps, FileType, Inode, IoCtx, Stat, Timespec};

/// Device number of procfs.
fn proc_dev() -> u64 {
    makedev(0, 4)
}

/// What a node is.
#[derive(Clone)]
enum Node {
    Root,
    /// A fixed directory of the tree (`sys`, `sys/kernel`, ...).
    Dir(&'static str),
    /// A fixed file of the tree.
    File(&'static str),
    SelfLink,
    ThreadSelfLink,
    Pid(i32),
    PidFile(i32, &'static str),
    PidLink(i32, &'static str),
    FdDir(i32),
    FdLink(i32, i32),
    TaskDir(i32),
    Tid(i32, i32),
    TidFile(i32, i32, &'static str),
}

/// A procfs inode.
pub struct ProcInode {
    kernel: Weak<KernelInner>,
    node: Node,
    ino: u64,
}

const PID_FILES: &[&str] =
    &["cgroup", "cmdline", "comm", "environ", "limits", "maps", "mounts", "oom_score_adj", "stat", "statm", "status"];
const PID_LINKS: &[&str] = &["cwd", "exe", "root"];
const TID_FILES: &[&str] = &["comm", "stat", "status"];
const ROOT_FILES: &[&str] = &["cpuinfo", "filesystems", "loadavg", "meminfo", "stat", "uptime", "version"];

/// Files under `sys/`, by path.
const SYS_FILES: &[(&str, &str)] = &[
    ("sys/kernel", "hostname"),
    ("sys/kernel", "osrelease"),
    ("sys/kernel", "ostype"),
    ("sys/kernel", "pid_max"),
    ("sys/kernel", "ngroups_max"),
    ("sys/kernel", "cap_last_cap"),
    ("sys/fs", "nr_open"),
    ("sys/fs", "file-max"),
    ("sys/vm", "overcommit_memory"),
    ("sys/vm", "max_map_count"),
    ("sys/net/core", "somaxconn"),
];
const SYS_DIRS: &[(&str, &str)] =
    &[("sys", "kernel"), ("sys", "fs"), ("sys", "vm"), ("sys", "net"), ("sys/net", "core")];

impl ProcInode {
    /// The root of a procfs for `kernel`.
    pub fn new_root(kernel: &Kernel) -> Arc<ProcInode> {
        Arc::new(ProcInode { kernel: Arc::downgrade(&kernel.inner), node: Node::Root, ino: 1 })
    }

    fn child(&self, node: Node) -> Arc<dyn Inode> {
        let ino = match &node {
            Node::Pid(p) | Node::FdDir(p) | Node::TaskDir(p) => ((*p as u64) << 16) | 2,
            _ => crate::fs::anon::next_ino(),
        };
        Arc::new(ProcInode { kernel: self.kernel.clone(), node, ino })
    }

    fn kernel(&self) -> Result<Kernel, Errno> {
        self.kernel.upgrade().map(|inner| Kernel { inner }).ok_or(Errno::ENOENT)
    }

    fn group(&self, pid: i32) -> Result<Arc<ThreadGroup>, Errno> {
        let g = self.kernel()?.pids().group(pid).ok_or(Errno::ENOENT)?;
        if g.zombie_status().is_some() && g.tasks().is_empty() {
            // Zombies keep stat/status; the rest of their directory reads
            // as empty (as Linux).
        }
        Ok(g)
    }

    fn task(&self, tid: i32) -> Result<(Arc<TaskShared>, Arc<ThreadGroup>), Errno> {
        self.kernel()?.pids().task(tid).ok_or(Errno::ENOENT)
    }

    fn owner(&self, pid: i32) -> (u32, u32) {
        self.view_of(pid).map(|v| (v.creds.euid, v.creds.egid)).unwrap_or((0, 0))
    }

    /// The published view of a process (its first live thread's).
    fn view_of(&self, pid: i32) -> Option<ProcView> {
        let g = self.group(pid).ok()?;
        g.tasks().iter().find_map(|t| lock(&t.view).clone())
    }

    fn file_type_of(node: &Node) -> FileType {
        match node {
            Node::Root | Node::Dir(_) | Node::Pid(_) | Node::FdDir(_) | Node::TaskDir(_) | Node::Tid(..) => {
                FileType::Directory
            }
            Node::SelfLink | Node::ThreadSelfLink | Node::PidLink(..) | Node::FdLink(..) => FileType::Symlink,
            _ => FileType::Regular,
        }
    }
}

impl Inode for ProcInode {
    fn stat(&self) -> Stat {
        let ft = Self::file_type_of(&self.node);
        let perm = match (&self.node, ft) {
            (_, FileType::Directory) => 0o555,
            (_, FileType::Symlink) => 0o777,
            (Node::PidFile(_, "comm") | Node::PidFile(_, "oom_score_adj") | Node::TidFile(_, _, "comm"), _) => 0o644,
            (Node::File("sys/kernel/hostname"), _) => 0o644,
            (Node::PidFile(_, "environ"), _) => 0o400,
            _ => 0o444,
        };
        let (uid, gid) = match &self.node {
            Node::Pid(p) | Node::PidFile(p, _) | Node::PidLink(p, _) | Node::FdDir(p) | Node::FdLink(p, _) => {
                self.owner(*p)
            }
            Node::TaskDir(p) | Node::Tid(p, _) | Node::TidFile(p, _, _) => self.owner(*p),
            _ => (0, 0),
        };
        let now = Timespec::now();
        Stat {
            dev: proc_dev(),
            ino: self.ino,
            mode: ft.mode_bits() | perm,
            nlink: if ft == FileType::Directory { 2 } else { 1 },
            uid,
            gid,
            blksize: 1024,
            atime: now,
            mtime: now,
            ctime: now,
            ..Stat::default()
        }
    }

    fn file_type(&self) -> FileType {
        Self::file_type_of(&self.node)
    }

    fn open(self: Arc<Self>, _flags: u32) -> Result<Box<dyn FileOps>, Errno> {
        if self.file_type() == FileType::Directory {
            return Ok(Box::new(ProcDirFile));
        }
        let data = self.generate()?;
        Ok(Box::new(ProcFile { inode: self, data }))
    }

    fn lookup(&self, name: &str) -> Result<Arc<dyn Inode>, Errno> {
        let node = match &self.node {
            Node::Root => match name {
                "self" => Node::SelfLink,
                "thread-self" => Node::ThreadSelfLink,
                "sys" => Node::Dir("sys"),
                "mounts" => Node::PidLink(0, "mounts"),
                n if ROOT_FILES.contains(&n) => Node::File(ROOT_FILES.iter().find(|f| **f == n).copied().unwrap_or("")),
                n => {
                    let pid: i32 = n.parse().map_err(|_| Errno::ENOENT)?;
                    self.group(pid)?;
                    Node::Pid(pid)
                }
            },
            Node::Dir(dir) => {
                if let Some((d, f)) = SYS_FILES.iter().find(|(d, f)| d == dir && *f == name) {
                    let path: &'static str = Box::leak(format!("{d}/{f}").into_boxed_str());
                    Node::File(path)
                } else if let Some((d, sub)) = SYS_DIRS.iter().find(|(d, s)| d == dir && *s == name) {
                    let path: &'static str = Box::leak(format!("{d}/{sub}").into_boxed_str());
                    Node::Dir(path)
                } else {
                    return Err(Errno::ENOENT);
                }
            }
            Node::Pid(p) => {
                self.group(*p)?;
                match name {
                    "fd" => Node::FdDir(*p),
                    "task" => Node::TaskDir(*p),
                    n => {
                        if let Some(f) = PID_FILES.iter().find(|f| **f == n) {
                            Node::PidFile(*p, f)
                        } else if let Some(l) = PID_LINKS.iter().find(|l| **l == n) {
                            Node::PidLink(*p, l)
                        } else {
                            return Err(Errno::ENOENT);
                        }
                    }
                }
            }
            Node::FdDir(p) => {
                let fd: i32 = name.parse().map_err(|_| Errno::ENOENT)?;
                let v = self.view_of(*p).ok_or(Errno::ENOENT)?;
                lock(&v.fds).get(fd).map_err(|_| Errno::ENOENT)?;
                Node::FdLink(*p, fd)
            }
            Node::TaskDir(p) => {
                let tid: i32 = name.parse().map_err(|_| Errno::ENOENT)?;
                let (_, g) = self.task(tid)?;
                if g.tgid != *p {
                    return Err(Errno::ENOENT);
                }
                Node::Tid(*p, tid)
            }
            Node::Tid(p, t) => {
                let f = TID_FILES.iter().find(|f| **f == name).ok_or(Errno::ENOENT)?;
                Node::TidFile(*p, *t, f)
            }
            _ => return Err(Errno::ENOTDIR),
        };
        Ok(self.child(node))
    }

    fn readdir(&self) -> Result<Vec<DirEntry>, Errno> {
        let entry = |name: String, ft: FileType| DirEntry { name, ino: crate::fs::anon::next_ino(), file_type: ft };
        let mut v = Vec::new();
        match &self.node {
            Node::Root => {
                for f in ROOT_FILES {
                    v.push(entry(f.to_string(), FileType::Regular));
                }
                v.push(entry("mounts".into(), FileType::Symlink));
                v.push(entry("self".into(), FileType::Symlink));
                v.push(entry("thread-self".into(), FileType::Symlink));
                v.push(entry("sys".into(), FileType::Directory));
                for g in self.kernel()?.pids().groups() {
                    v.push(DirEntry {
                        name: g.tgid.to_string(),
                        ino: ((g.tgid as u64) << 16) | 2,
                        file_type: FileType::Directory,
                    });
                }
            }
            Node::Dir(dir) => {
                for (d, s) in SYS_DIRS.iter().filter(|(d, _)| d == dir) {
                    let _ = d;
                    v.push(entry(s.to_string(), FileType::Directory));
                }
                for (_, f) in SYS_FILES.iter().filter(|(d, _)| d == dir) {
                    v.push(entry(f.to_string(), FileType::Regular));
                }
            }
            Node::Pid(p) => {
                self.group(*p)?;
                v.push(entry("fd".into(), FileType::Directory));
                v.push(entry("task".into(), FileType::Directory));
                for f in PID_FILES {
                    v.push(entry(f.to_string(), FileType::Regular));
                }
                for l in PID_LINKS {
                    v.push(entry(l.to_string(), FileType::Symlink));
                }
            }
            Node::FdDir(p) => {
                if let Some(view) = self.view_of(*p) {
                    for fd in lock(&view.fds).numbers() {
                        v.push(entry(fd.to_string(), FileType::Symlink));
                    }
                }
            }
            Node::TaskDir(p) => {
                for t in self.group(*p)?.tasks() {
                    v.push(entry(t.tid().to_string(), FileType::Directory));
                }
            }
            Node::Tid(..) => {
                for f in TID_FILES {
                    v.push(entry(f.to_string(), FileType::Regular));
                }
            }
            _ => return Err(Errno::ENOTDIR),
        }
        Ok(v)
    }

    fn readlink(&self) -> Result<String, Errno> {
        match &self.node {
            Node::SelfLink => {
                let (tgid, _) = crate::kernel::current::get().ok_or(Errno::ENOENT)?;
                Ok(tgid.to_string())
            }
            Node::ThreadSelfLink => {
                let (tgid, tid) = crate::kernel::current::get().ok_or(Errno::ENOENT)?;
                Ok(format!("{tgid}/task/{tid}"))
            }
            Node::PidLink(0, "mounts") => Ok("self/mounts".into()),
            Node::PidLink(p, which) => {
                let v = self.view_of(*p).ok_or(Errno::ENOENT)?;
                match *which {
                    "exe" => v.exe.as_ref().map(|d| d.path()).ok_or(Errno::ENOENT),
                    "cwd" => Ok(lock(&v.fs).cwd.path()),
                    "root" => Ok(lock(&v.fs).root.path()),
                    _ => Err(Errno::ENOENT),
                }
            }
            Node::FdLink(p, fd) => {
                let v = self.view_of(*p).ok_or(Errno::ENOENT)?;
                let f = lock(&v.fds).get(*fd).map_err(|_| Errno::ENOENT)?;
                Ok(describe_file(&f))
            }
            _ => Err(Errno::EINVAL),
        }
    }

    fn follow_link(&self) -> Option<Result<Arc<Dentry>, Errno>> {
        let (p, which) = match &self.node {
            Node::FdLink(p, fd) => (*p, Err(*fd)),
            Node::PidLink(p, which) if *p != 0 => (*p, Ok(*which)),
            _ => return None,
        };
        let Some(v) = self.view_of(p) else { return Some(Err(Errno::ENOENT)) };
        Some(match which {
            Err(fd) => match lock(&v.fds).get(fd) {
                // A file with a name is reopened by it; one without (a pipe,
                // a socket) through its inode, as Linux does.
                Ok(f) => Ok(f.dentry().cloned().unwrap_or_else(|| Dentry::root(f.inode().clone()))),
                Err(_) => Err(Errno::ENOENT),
            },
            Ok("exe") => v.exe.clone().ok_or(Errno::ENOENT),
            Ok("cwd") => Ok(lock(&v.fs).cwd.clone()),
            Ok("root") => Ok(lock(&v.fs).root.clone()),
            Ok(_) => Err(Errno::ENOENT),
        })
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// What `/proc/[pid]/fd/N` shows for an open file.
fn describe_file(f: &crate::vfs::File) -> String {
    if let Some(d) = f.dentry() {
        return d.path();
    }
    let st = f.inode().stat();
    match f.inode().file_type() {
        FileType::Fifo => format!("pipe:[{}]", st.ino),
        FileType::Socket => format!("socket:[{}]", st.ino),
        _ => {
            let kind = if f.ops().as_any().is_some_and(|a| a.is::<crate::fs::eventfd::EventFd>()) {
                "[eventfd]"
            } else if f.ops().as_any().is_some_and(|a| a.is::<crate::fs::epoll::EpollFile>()) {
                "[eventpoll]"
            } else if f.ops().as_any().is_some_and(|a| a.is::<crate::fs::timerfd::TimerFdFile>()) {
                "[timerfd]"
            } else if f.ops().as_any().is_some_and(|a| a.is::<crate::fs::signalfd::SignalFd>()) {
                "[signalfd]"
            } else {
                "[anon]"
            };
            format!("anon_inode:{kind}")
        }
    }
}

/// `oom_score_adj` values by process (kept, reported; there is no OOM
/// killer inside the sandbox to act on them).
static OOM_SCORE_ADJ: std::sync::Mutex<std::collections::BTreeMap<(usize, i32), i32>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

impl ProcInode {
    fn generate(&self) -> Result<Vec<u8>, Errno> {
        let k = self.kernel()?;
        let s = match &self.node {
            Node::File(name) => global_file(&k, name)?,
            Node::PidFile(p, name) => pid_file(&k, *p, None, name, self)?,
            Node::TidFile(p, t, name) => pid_file(&k, *p, Some(*t), name, self)?,
            _ => return Err(Errno::EINVAL),
        };
        Ok(s)
    }

    fn write_file(&self, data: &[u8]) -> Result<usize, Errno> {
        let text = String::from_utf8_lossy(data);
        match &self.node {
            Node::PidFile(p, "comm") | Node::TidFile(p, _, "comm") => {
                let tid = match &self.node {
                    Node::TidFile(_, t, _) => *t,
                    _ => *p,
                };
                let (task, _) = self.task(tid)?;
                let name: Vec<u8> = text.trim_end_matches('\n').bytes().take(15).collect();
                *lock(&task.comm) = name;
                Ok(data.len())
            }
            Node::PidFile(p, "oom_score_adj") => {
                let v: i32 = text.trim().parse().map_err(|_| Errno::EINVAL)?;
                if !(-1000..=1000).contains(&v) {
                    return Err(Errno::EINVAL);
                }
                let key = (self.kernel.as_ptr() as usize, *p);
                lock(&OOM_SCORE_ADJ).insert(key, v);
                Ok(data.len())
            }
            Node::File("sys/kernel/hostname") => Err(Errno::EPERM),
            _ => Err(Errno::EACCES),
        }
    }
}

fn global_file(k: &Kernel, name: &str) -> Result<Vec<u8>, Errno> {
    let inner = &k.inner;
    let s = match name {
        "version" => format!(
            "Linux version {} (root@sandbox) (gcc version 5.4.0) {}\n",
            crate::syscalls::misc::RELEASE,
            crate::syscalls::misc::VERSION
        ),
        "uptime" => {
            let up = inner.boot.elapsed().as_secs_f64();
            format!("{up:.2} {:.2}\n", up * inner.ncpus as f64)
        }
        "loadavg" => {
            let running = k.processes().iter().filter(|p| p.state == crate::kernel::ProcessState::Running).count();
            let total: usize = k.processes().iter().map(|p| p.threads).sum();
            let last = k.pids().groups().iter().map(|g| g.tgid).max().unwrap_or(0);
            format!("0.00 0.00 0.00 {running}/{total} {last}\n")
        }
        "filesystems" => "nodev\tsysfs\nnodev\ttmpfs\nnodev\tproc\nnodev\t9p\nnodev\tdevpts\nnodev\tmqueue\n".into(),
        "meminfo" => meminfo(k),
        "cpuinfo" => cpuinfo(inner.ncpus),
        "stat" => {
            let ticks = |d: std::time::Duration| (d.as_millis() / 10) as u64;
            let up = inner.boot.elapsed();
            let btime = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .saturating_sub(up)
                .as_secs();
            let mut s = format!("cpu  0 0 0 {} 0 0 0 0 0 0\n", ticks(up) * inner.ncpus as u64);
            for c in 0..inner.ncpus {
                s += &format!("cpu{c} 0 0 0 {} 0 0 0 0 0 0\n", ticks(up));
            }
            let procs = k.processes();
            s += &format!(
                "intr 0\nctxt 0\nbtime {btime}\nprocesses {}\nprocs_running {}\nprocs_blocked 0\nsoftirq 0\n",
                procs.len(),
                procs.iter().filter(|p| p.state == crate::kernel::ProcessState::Running).count().max(1)
            );
            s
        }
        "sys/kernel/hostname" => format!("{}\n", inner.hostname),
        "sys/kernel/osrelease" => format!("{}\n", crate::syscalls::misc::RELEASE),
        "sys/kernel/ostype" => "Linux\n".into(),
        "sys/kernel/pid_max" => format!("{}\n", crate::kernel::pids::PID_MAX),
        "sys/kernel/ngroups_max" => format!("{}\n", crate::syscalls::creds::NGROUPS_MAX),
        "sys/kernel/cap_last_cap" => "40\n".into(),
        "sys/fs/nr_open" => format!("{}\n", crate::kernel::fd_table::DEFAULT_NOFILE),
        "sys/fs/file-max" => "9223372036854775807\n".into(),
        "sys/vm/overcommit_memory" => "0\n".into(),
        "sys/vm/max_map_count" => "65530\n".into(),
        "sys/net/core/somaxconn" => "4096\n".into(),
        _ => return Err(Errno::ENOENT),
    };
    Ok(s.into_bytes())
}

fn meminfo(k: &Kernel) -> String {
    let mf = &k.inner.mf;
    let total = mf.size() / 1024;
    let used = mf.used() / 1024;
    let free = total.saturating_sub(used);
    format!(
        "MemTotal:       {total:>8} kB\nMemFree:        {free:>8} kB\nMemAvailable:   {free:>8} kB\n\
         Buffers:               0 kB\nCached:                0 kB\nSwapCached:            0 kB\n\
         Active:         {used:>8} kB\nInactive:              0 kB\nSwapTotal:             0 kB\n\
         SwapFree:              0 kB\nShmem:                 0 kB\nAnonPages:      {used:>8} kB\n\
         Mapped:                0 kB\nCommitLimit:    {total:>8} kB\nCommitted_AS:   {used:>8} kB\n"
    )
}

fn cpuinfo(ncpus: usize) -> String {
    use std::arch::x86_64::__cpuid;
    // The vendor and brand strings from CPUID, as Linux prints them.
    let v = __cpuid(0);
    let mut vendor = Vec::new();
    for r in [v.ebx, v.edx, v.ecx] {
        vendor.extend_from_slice(&r.to_le_bytes());
    }
    let vendor = String::from_utf8_lossy(&vendor).into_owned();
    let mut brand = Vec::new();
    if __cpuid(0x8000_0000).eax >= 0x8000_0004 {
        for leaf in 0x8000_0002u32..=0x8000_0004 {
            let r = __cpuid(leaf);
            for x in [r.eax, r.ebx, r.ecx, r.edx] {
                brand.extend_from_slice(&x.to_le_bytes());
            }
        }
    }
    let brand = String::from_utf8_lossy(&brand).trim_matches(char::from(0)).trim().to_string();
    let sig = __cpuid(1).eax;
    let family = ((sig >> 8) & 0xf) + if (sig >> 8) & 0xf == 0xf { (sig >> 20) & 0xff } else { 0 };
    let model = ((sig >> 4) & 0xf) | (((sig >> 16) & 0xf) << 4);
    let flags = cpu_flags();
    let mut s = String::new();
    for c in 0..ncpus {
        s += &format!(
            "processor\t: {c}\nvendor_id\t: {vendor}\ncpu family\t: {family}\nmodel\t\t: {model}\n\
             model name\t: {brand}\nstepping\t: {}\ncpu MHz\t\t: 0.000\ncache size\t: 0 KB\n\
             physical id\t: 0\nsiblings\t: {ncpus}\ncore id\t\t: {c}\ncpu cores\t: {ncpus}\n\
             apicid\t\t: {c}\nfpu\t\t: yes\nfpu_exception\t: yes\ncpuid level\t: {}\nwp\t\t: yes\n\
             flags\t\t: {flags}\nbogomips\t: 0.00\nclflush size\t: 64\ncache_alignment\t: 64\n\
             address sizes\t: 46 bits physical, 48 bits virtual\npower management:\n\n",
            sig & 0xf,
            v.eax
        );
    }
    s
}

fn cpu_flags() -> String {
    use std::arch::x86_64::{__cpuid, __cpuid_count};
    let r1 = __cpuid(1);
    let r7 = __cpuid_count(7, 0);
    let edx1 = [
        (0, "fpu"),
        (4, "tsc"),
        (5, "msr"),
        (8, "cx8"),
        (11, "sep"),
        (15, "cmov"),
        (19, "clflush"),
        (23, "mmx"),
        (24, "fxsr"),
        (25, "sse"),
        (26, "sse2"),
    ];
    let ecx1 = [
        (0, "pni"),
        (1, "pclmulqdq"),
        (9, "ssse3"),
        (12, "fma"),
        (13, "cx16"),
        (19, "sse4_1"),
        (20, "sse4_2"),
        (22, "movbe"),
        (23, "popcnt"),
        (25, "aes"),
        (26, "xsave"),
        (28, "avx"),
        (29, "f16c"),
        (30, "rdrand"),
    ];
    let ebx7 = [
        (3, "bmi1"),
        (5, "avx2"),
        (8, "bmi2"),
        (9, "erms"),
        (16, "avx512f"),
        (18, "rdseed"),
        (19, "adx"),
        (29, "sha_ni"),
    ];
    let mut out = Vec::new();
    for (bit, name) in edx1 {
        if r1.edx & (1 << bit) != 0 {
            out.push(name);
        }
    }
    for (bit, name) in ecx1 {
        if r1.ecx & (1 << bit) != 0 {
            out.push(name);
        }
    }
    for (bit, name) in ebx7 {
        if r7.ebx & (1 << bit) != 0 {
            out.push(name);
        }
    }
    out.join(" ")
}

fn state_char(g: &ThreadGroup) -> (char, &'static str) {
    if g.zombie_status().is_some() {
        ('Z', "Z (zombie)")
    } else if g.stop_state().stopped.is_some() {
        ('T', "T (stopped)")
    } else {
        ('S', "S (sleeping)")
    }
}

fn read_range(v: &ProcView, (start, end): (u64, u64)) -> Vec<u8> {
    if end <= start || end - start > 1 << 20 {
        return Vec::new();
    }
    v.mm.copy_in_vec(start, (end - start) as usize).unwrap_or_default()
}

fn pid_file(k: &Kernel, pid: i32, tid: Option<i32>, name: &str, node: &ProcInode) -> Result<Vec<u8>, Errno> {
    let g = node.group(pid)?;
    let task = match tid {
        Some(t) => Some(node.task(t)?.0),
        None => g.tasks().into_iter().next(),
    };
    let view = task.as_ref().and_then(|t| lock(&t.view).clone());
    let comm = task.as_ref().map(|t| String::from_utf8_lossy(&lock(&t.comm)).into_owned()).unwrap_or_default();
    let s: Vec<u8> = match name {
        "comm" => format!("{comm}\n").into_bytes(),
        "cmdline" => view.as_ref().map(|v| read_range(v, v.args)).unwrap_or_default(),
        "environ" => view.as_ref().map(|v| read_range(v, v.env)).unwrap_or_default(),
        "stat" => stat_line(k, &g, task.as_deref(), view.as_ref(), &comm).into_bytes(),
        "statm" => {
            let (size, rss) = view.as_ref().map(vm_pages).unwrap_or((0, 0));
            format!("{size} {rss} 0 0 0 0 0\n").into_bytes()
        }
        "status" => status(&g, task.as_deref(), view.as_ref(), &comm, k).into_bytes(),
        "maps" => view.as_ref().map(maps).unwrap_or_default().into_bytes(),
        "mounts" => mounts(k, g.container.load(std::sync::atomic::Ordering::Relaxed)).into_bytes(),
        "limits" => limits(&g).into_bytes(),
        "cgroup" => "0::/\n".to_string().into_bytes(),
        "oom_score_adj" => {
            let key = (node.kernel.as_ptr() as usize, pid);
            format!("{}\n", lock(&OOM_SCORE_ADJ).get(&key).copied().unwrap_or(0)).into_bytes()
        }
        _ => return Err(Errno::ENOENT),
    };
    Ok(s)
}

/// (total pages mapped, resident pages).
fn vm_pages(v: &ProcView) -> (u64, u64) {
    let size: u64 = v.mm.vmas().iter().map(|m| (m.end - m.start) / 4096).sum();
    (size, v.mm.resident_pages() as u64)
}

fn stat_line(k: &Kernel, g: &ThreadGroup, task: Option<&TaskShared>, v: Option<&ProcView>, comm: &str) -> String {
    let (state, _) = state_char(g);
    let id = task.map(|t| t.tid()).unwrap_or(g.tgid);
    let (utime, stime) = match v {
        Some(v) => crate::kernel::usage::group_times(g, &v.mm),
        None => (Default::default(), Default::default()),
    };
    let u = *lock(&g.usage);
    let ticks = |d: std::time::Duration| d.as_millis() as u64 / 10;
    let start = ticks(g.start_time.saturating_duration_since(k.inner.boot));
    let (size, rss) = v.map(vm_pages).unwrap_or((0, 0));
    let (args, env) = v.map(|v| (v.args, v.env)).unwrap_or_default();
    let nice = g.nice.load(Ordering::Relaxed);
    let pending = lock(&g.pending).mask();
    let (ign, cgt) = sig_dispositions(g);
    let blocked = task.map(|t| t.mask()).unwrap_or(0);
    format!(
        "{id} ({comm}) {state} {} {} {} 0 -1 4194304 0 0 0 0 {} {} {} {} 20 {nice} {} 0 {start} {} {rss} \
         18446744073709551615 0 0 0 0 0 {pending} {blocked} {ign} {cgt} 0 0 0 {} 0 0 0 0 0 0 0 0 {} {} {} {} 0\n",
        g.ppid(),
        g.pgid(),
        g.sid(),
        ticks(utime),
        ticks(stime),
        ticks(u.children_user),
        ticks(u.children_sys),
        g.task_count(),
        size * 4096,
        g.exit_signal,
        args.0,
        args.1,
        env.0,
        env.1,
    )
}

/// (ignored, caught) signal sets.
fn sig_dispositions(g: &ThreadGroup) -> (u64, u64) {
    let acts = lock(&g.sigactions);
    let mut ign = 0;
    let mut cgt = 0;
    for (i, a) in acts.iter().enumerate() {
        if a.handler == SIG_IGN {
            ign |= 1 << i;
        } else if a.handler != SIG_DFL {
            cgt |= 1 << i;
        }
    }
    (ign, cgt)
}

fn status(g: &ThreadGroup, task: Option<&TaskShared>, v: Option<&ProcView>, comm: &str, k: &Kernel) -> String {
    let (_, state) = state_char(g);
    let tid = task.map(|t| t.tid()).unwrap_or(g.tgid);
    let c = v.map(|v| v.creds.clone()).unwrap_or_else(|| crate::kernel::Credentials::new(0, 0));
    let groups: Vec<String> = c.groups.iter().map(|g| g.to_string()).collect();
    let (size, rss) = v.map(vm_pages).unwrap_or((0, 0));
    let fds = v.map(|v| lock(&v.fds).len()).unwrap_or(0);
    let (ign, cgt) = sig_dispositions(g);
    let shd = lock(&g.pending).mask();
    let pnd = task.map(|t| lock(&t.pending).mask()).unwrap_or(0);
    let blk = task.map(|t| t.mask()).unwrap_or(0);
    let ncpus = k.inner.ncpus;
    let cpus = if ncpus > 1 { format!("0-{}", ncpus - 1) } else { "0".into() };
    let mask = format!("{:x}", if ncpus >= 64 { u64::MAX } else { (1u64 << ncpus) - 1 });
    let umask = v.map(|v| lock(&v.fs).umask).unwrap_or(0o022);
    format!(
        "Name:\t{comm}\nUmask:\t{umask:04o}\nState:\t{state}\nTgid:\t{}\nNgid:\t0\nPid:\t{tid}\nPPid:\t{}\nTracerPid:\t0\n\
         Uid:\t{}\t{}\t{}\t{}\nGid:\t{}\t{}\t{}\t{}\nFDSize:\t{}\nGroups:\t{}\n\
         VmPeak:\t{:>8} kB\nVmSize:\t{:>8} kB\nVmLck:\t       0 kB\nVmHWM:\t{:>8} kB\nVmRSS:\t{:>8} kB\n\
         Threads:\t{}\nSigQ:\t0/0\nSigPnd:\t{pnd:016x}\nShdPnd:\t{shd:016x}\nSigBlk:\t{blk:016x}\n\
         SigIgn:\t{ign:016x}\nSigCgt:\t{cgt:016x}\nCapInh:\t{:016x}\nCapPrm:\t{:016x}\nCapEff:\t{:016x}\n\
         CapBnd:\t{:016x}\nCapAmb:\t0000000000000000\nNoNewPrivs:\t0\nSeccomp:\t0\n\
         Cpus_allowed:\t{mask}\nCpus_allowed_list:\t{cpus}\nvoluntary_ctxt_switches:\t0\n\
         nonvoluntary_ctxt_switches:\t0\n",
        g.tgid,
        g.ppid(),
        c.uid,
        c.euid,
        c.suid,
        c.euid,
        c.gid,
        c.egid,
        c.sgid,
        c.egid,
        fds.max(64).next_power_of_two(),
        groups.join(" "),
        size * 4,
        size * 4,
        rss * 4,
        rss * 4,
        g.task_count(),
        c.cap_inheritable,
        c.cap_permitted,
        c.cap_effective,
        c.cap_bounding,
    )
}

fn maps(v: &ProcView) -> String {
    let mut s = String::new();
    for m in v.mm.vmas() {
        let perms = format!(
            "{}{}{}{}",
            if m.perms.read { 'r' } else { '-' },
            if m.perms.write { 'w' } else { '-' },
            if m.perms.execute { 'x' } else { '-' },
            if m.shared { 's' } else { 'p' }
        );
        let name = match (&m.name, m.kind) {
            (Some(n), _) => n.to_string(),
            (None, crate::mm::VmaKind::Heap) => "[heap]".into(),
            (None, crate::mm::VmaKind::Stack) => "[stack]".into(),
            (None, _) if m.shared => "/dev/zero (deleted)".into(),
            _ => String::new(),
        };
        let offset = if m.backing.is_some() { m.offset } else { 0 };
        let line = format!("{:08x}-{:08x} {perms} {offset:08x} 00:00 0", m.start, m.end);
        if name.is_empty() {
            s += &format!("{line}\n");
        } else {
            s += &format!("{line:<72} {name}\n");
        }
    }
    s
}

/// The mount table of container `container` (that of the process read).
fn mounts(k: &Kernel, container: u32) -> String {
    let mut s = String::from("none / 9p rw,relatime 0 0\n");
    let mounts = k.container_mounts(container);
    for p in mounts.paths() {
        // The type the mounter gave; the kernel's own mounts by place.
        let fstype = mounts.fs_type(&p).unwrap_or_else(|| {
            match p.as_str() {
                "/proc" => "proc",
                "/sys" => "sysfs",
                "/dev/pts" => "devpts",
                _ => "tmpfs",
            }
            .into()
        });
        s += &format!("none {p} {fstype} rw,relatime 0 0\n");
    }
    s
}

fn limits(g: &ThreadGroup) -> String {
    const NAMES: [(&str, &str); 16] = [
        ("Max cpu time", "seconds"),
        ("Max file size", "bytes"),
        ("Max data size", "bytes"),
        ("Max stack size", "bytes"),
        ("Max core file size", "bytes"),
        ("Max resident set", "bytes"),
        ("Max processes", "processes"),
        ("Max open files", "files"),
        ("Max locked memory", "bytes"),
        ("Max address space", "bytes"),
        ("Max file locks", "locks"),
        ("Max pending signals", "signals"),
        ("Max msgqueue size", "bytes"),
        ("Max nice priority", ""),
        ("Max realtime priority", ""),
        ("Max realtime timeout", "us"),
    ];
    let limits = *lock(&g.rlimits);
    let show = |v: u64| if v == u64::MAX { "unlimited".to_string() } else { v.to_string() };
    let mut s = format!("{:<25} {:<20} {:<20} {:<10}\n", "Limit", "Soft Limit", "Hard Limit", "Units");
    for (i, (name, unit)) in NAMES.iter().enumerate() {
        let (soft, hard) = limits[i];
        s += &format!("{:<25} {:<20} {:<20} {:<10}\n", name, show(soft), show(hard), unit);
    }
    s
}

/// An open procfs directory (entries come from the inode).
struct ProcDirFile;

impl FileOps for ProcDirFile {
    fn read(&self, _: &IoCtx, _: u64, _: &mut [u8]) -> Result<usize, Errno> {
        Err(Errno::EISDIR)
    }
    fn write(&self, _: &IoCtx, _: u64, _: &[u8]) -> Result<usize, Errno> {
        Err(Errno::EISDIR)
    }
}

/// An open procfs file: the snapshot taken at open.
struct ProcFile {
    inode: Arc<ProcInode>,
    data: Vec<u8>,
}

impl FileOps for ProcFile {
    fn read(&self, _ctx: &IoCtx, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        let off = (offset as usize).min(self.data.len());
        let n = buf.len().min(self.data.len() - off);
        buf[..n].copy_from_slice(&self.data[off..off + n]);
        Ok(n)
    }

    fn write(&self, _ctx: &IoCtx, _offset: u64, buf: &[u8]) -> Result<usize, Errno> {
        self.inode.write_file(buf)
    }

    fn seekable(&self) -> bool {
        true
    }

    fn size(&self) -> Option<u64> {
        Some(self.data.len() as u64)
    }
}
