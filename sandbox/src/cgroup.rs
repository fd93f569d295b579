//! Host cgroups of a sandbox: where its host processes (the Sentry with its
//! stub processes, the Gofers) are accounted, limited and frozen.
//!
//! Both a pure cgroup v2 host and a v1 (or hybrid) host are handled: on v2
//! one unified directory gives `memory.current`, `cpu.stat`, `pids.current`
//! and `memory.events`, takes the limits and is frozen with
//! `cgroup.freeze`; on v1 the memory, cpu, cpuacct, pids and freezer
//! hierarchies do the same.
//!
//! `runsc create` puts the sandbox into the cgroup the spec's
//! `linux.cgroupsPath` names ([`Cgroup::for_spec`], runc's semantics for
//! cgroupfs paths, or the `slice:prefix:name` form with `--systemd-cgroup`),
//! `/rvisor/<id>` if it names none, writes `linux.resources` there
//! ([`Cgroup::apply`]) and removes it at `runsc delete`. The shim uses the
//! same code for its own per-sandbox cgroups ([`Cgroup::isolate`]).

use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Root of the cgroup file systems.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// Parent of the cgroups rvisor creates when the spec names none.
pub const OWN_PARENT: &str = "rvisor";
/// v1 controllers rvisor uses (pause, metrics, limits).
pub const V1_CONTROLLERS: [&str; 5] = ["freezer", "memory", "pids", "cpuacct", "cpu"];
/// v2 controllers rvisor enables for its cgroups.
const V2_CONTROLLERS: [&str; 3] = ["+memory", "+pids", "+cpu"];

/// Why a cgroup operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("writing {value} to {path}: {source}")]
    Write {
        value: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("no cgroup for {0}")]
    NoController(String),
    #[error("invalid cgroupsPath {path:?}: {why}")]
    InvalidPath { path: String, why: &'static str },
    #[error("parsing {path}: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("the sandbox has no host process")]
    NoProcess,
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> CgroupError + 'a {
    move |source| CgroupError::Io { what, path: path.to_path_buf(), source }
}

/// Resource usage of a cgroup.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Memory in use, bytes.
    pub memory: u64,
    /// Memory limit, bytes (0: none or unknown).
    pub memory_limit: u64,
    /// CPU time used, microseconds.
    pub cpu_usec: u64,
    /// CPU time used in user mode, microseconds.
    pub cpu_user_usec: u64,
    /// CPU time used in kernel mode, microseconds.
    pub cpu_system_usec: u64,
    /// Tasks (threads) in the cgroup.
    pub pids: u64,
    /// Task limit (0: none or unknown).
    pub pids_limit: u64,
    /// Processes the kernel's OOM killer killed in the cgroup.
    pub oom_kills: u64,
}

/// Resource limits for a sandbox's cgroup: the subset of the OCI spec's
/// `linux.resources` that rvisor applies. `None`: leave as is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    /// Memory limit in bytes (-1: unlimited).
    pub memory_limit: Option<i64>,
    /// Memory plus swap limit in bytes (-1: unlimited).
    pub memory_swap: Option<i64>,
    /// Maximum number of tasks (0 or less: unlimited).
    pub pids_limit: Option<i64>,
    /// Relative CPU weight (cgroup v1 shares, 2..=262144).
    pub cpu_shares: Option<u64>,
    /// CFS quota in microseconds per period (-1 or 0: unlimited).
    pub cpu_quota: Option<i64>,
    /// CFS period in microseconds.
    pub cpu_period: Option<u64>,
}

/// The parts of the OCI `LinuxResources` JSON rvisor applies; the rest
/// (devices, block I/O, hugepages, ...) is ignored.
#[derive(Debug, Default, Deserialize)]
struct SpecResources {
    #[serde(default)]
    memory: Option<SpecMemory>,
    #[serde(default)]
    cpu: Option<SpecCpu>,
    #[serde(default)]
    pids: Option<SpecPids>,
}

#[derive(Debug, Default, Deserialize)]
struct SpecMemory {
    limit: Option<i64>,
    swap: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
struct SpecCpu {
    shares: Option<u64>,
    quota: Option<i64>,
    period: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
struct SpecPids {
    limit: Option<i64>,
}

/// The cgroup parts of a `config.json`.
#[derive(Debug, Default, Deserialize)]
struct Spec {
    #[serde(default)]
    linux: Option<SpecLinux>,
}

#[derive(Debug, Default, Deserialize)]
struct SpecLinux {
    #[serde(default)]
    resources: Option<SpecResources>,
    #[serde(default, rename = "cgroupsPath")]
    cgroups_path: Option<String>,
}

impl From<SpecResources> for Resources {
    fn from(r: SpecResources) -> Resources {
        let (memory, cpu) = (r.memory.unwrap_or_default(), r.cpu.unwrap_or_default());
        Resources {
            memory_limit: memory.limit,
            memory_swap: memory.swap,
            pids_limit: r.pids.and_then(|p| p.limit),
            cpu_shares: cpu.shares,
            cpu_quota: cpu.quota,
            cpu_period: cpu.period,
        }
    }
}

fn read_spec(bundle: &Path) -> Result<SpecLinux, CgroupError> {
    let path = bundle.join("config.json");
    let text = fs::read(&path).map_err(io_err("reading", &path))?;
    let spec: Spec = serde_json::from_slice(&text).map_err(|source| CgroupError::Parse { path, source })?;
    Ok(spec.linux.unwrap_or_default())
}

impl Resources {
    /// Whether nothing is to be set.
    pub fn is_empty(&self) -> bool {
        *self == Resources::default()
    }

    /// Parses an OCI `LinuxResources` object (JSON), as containerd sends it
    /// with a task Update.
    pub fn from_json(json: &[u8]) -> Result<Resources, serde_json::Error> {
        Ok(serde_json::from_slice::<SpecResources>(json)?.into())
    }

    /// The `linux.resources` of an OCI bundle's `config.json`.
    pub fn from_bundle(bundle: &Path) -> Result<Resources, CgroupError> {
        Ok(read_spec(bundle)?.resources.map(Resources::from).unwrap_or_default())
    }
}

/// The `linux.cgroupsPath` of an OCI bundle's `config.json` (`None` if
/// absent or empty).
pub fn cgroups_path_of_bundle(bundle: &Path) -> Result<Option<String>, CgroupError> {
    Ok(read_spec(bundle)?.cgroups_path.filter(|p| !p.is_empty()))
}

/// cgroup v1 shares to a v2 `cpu.weight` (the conversion runc and crun use).
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 100;
    }
    1 + (shares.clamp(2, 262_144) - 2) * 9999 / 262_142
}

/// How `linux.cgroupsPath` is read (runc's `--systemd-cgroup`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Manager {
    /// A cgroupfs path: absolute from the hierarchy's root, or relative to
    /// the runtime's own cgroup.
    Cgroupfs,
    /// `slice:prefix:name`, mapped to `<slice>/<prefix>-<name>.scope` as a
    /// cgroupfs path (there is no systemd to ask).
    Systemd,
}

/// The host's cgroup layout: what path resolution needs to know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Where the hierarchies are mounted (`/sys/fs/cgroup`).
    pub root: PathBuf,
    /// A pure cgroup v2 host.
    pub unified: bool,
    /// This process's cgroups: (controllers, path) from `/proc/self/cgroup`.
    pub own: Vec<(String, String)>,
}

impl Layout {
    /// The layout of this host, seen by this process.
    pub fn host() -> io::Result<Layout> {
        Ok(Layout { root: CGROUP_ROOT.into(), unified: unified_only(), own: memberships(std::process::id())? })
    }

    /// This process's cgroup for v1 `controller`, or the v2 one ("").
    fn own_path(&self, controller: &str) -> &str {
        self.own
            .iter()
            .find(|(c, _)| if controller.is_empty() { c.is_empty() } else { c.split(',').any(|x| x == controller) })
            .map(|(_, p)| p.as_str())
            .unwrap_or("/")
    }
}

/// runc's `CleanPath`: a lexically clean path that cannot climb above its
/// start (`..` at the top is dropped).
fn clean_path(p: &str) -> String {
    let absolute = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for c in Path::new(p).components() {
        match c {
            Component::Normal(s) => parts.push(s.to_str().unwrap_or_default()),
            Component::ParentDir => {
                parts.pop();
            }
            _ => {}
        }
    }
    let joined = parts.join("/");
    if absolute {
        format!("/{joined}")
    } else {
        joined
    }
}

/// systemd's slice expansion as runc does it: `a-b-c.slice` lives at
/// `a.slice/a-b.slice/a-b-c.slice`.
fn expand_slice(slice: &str) -> Result<String, CgroupError> {
    let bad = |why| CgroupError::InvalidPath { path: slice.to_string(), why };
    let Some(name) = slice.strip_suffix(".slice") else { return Err(bad("a slice must end in .slice")) };
    if name.contains('/') {
        return Err(bad("a slice cannot contain '/'"));
    }
    if name == "-" {
        return Ok("/".into());
    }
    let mut path = String::new();
    let mut prefix = String::new();
    for part in name.split('-') {
        if part.is_empty() {
            return Err(bad("a slice name cannot have empty components"));
        }
        path.push('/');
        path.push_str(&prefix);
        path.push_str(part);
        path.push_str(".slice");
        prefix.push_str(part);
        prefix.push('-');
    }
    Ok(path)
}

/// Joins a cgroup path (absolute within its hierarchy) to a mount point.
fn under(mount: &Path, path: &str) -> PathBuf {
    mount.join(path.trim_start_matches('/'))
}

/// A sandbox's cgroup.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cgroup {
    /// A cgroup v2 directory.
    V2(PathBuf),
    /// v1 directories per controller (controller name, directory).
    V1(Vec<(String, PathBuf)>),
}

fn unified_only() -> bool {
    Path::new(CGROUP_ROOT).join("cgroup.controllers").exists()
}

/// Parses `/proc/<pid>/cgroup` into (controllers, path) pairs.
fn memberships(pid: u32) -> io::Result<Vec<(String, String)>> {
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup"))?;
    Ok(parse_memberships(&text))
}

fn parse_memberships(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, ':');
            let _ = parts.next()?;
            Some((parts.next()?.to_string(), parts.next()?.to_string()))
        })
        .collect()
}

impl Cgroup {
    /// The cgroup process `pid` is in.
    pub fn of_pid(pid: u32) -> io::Result<Cgroup> {
        let m = memberships(pid)?;
        if unified_only() {
            let path = m.iter().find(|(c, _)| c.is_empty()).map(|(_, p)| p.clone()).unwrap_or_default();
            return Ok(Cgroup::V2(under(Path::new(CGROUP_ROOT), &path)));
        }
        let mut dirs = Vec::new();
        for ctl in V1_CONTROLLERS {
            if let Some((_, p)) = m.iter().find(|(c, _)| c.split(',').any(|x| x == ctl)) {
                dirs.push((ctl.to_string(), under(&Path::new(CGROUP_ROOT).join(ctl), p)));
            }
        }
        Ok(Cgroup::V1(dirs))
    }

    /// `/rvisor/<id>`: the cgroup the shim creates for sandbox `id`, and
    /// runsc's default.
    pub fn own(id: &str) -> Cgroup {
        let layout = Layout { root: CGROUP_ROOT.into(), unified: unified_only(), own: Vec::new() };
        Cgroup::at(&layout, &format!("/{OWN_PARENT}/{id}"))
    }

    /// The cgroup at `path` (absolute: from each hierarchy's root;
    /// relative: from this process's cgroup in each, or on v2 from its
    /// parent, as runc does). On v1 only the hierarchies the host mounts
    /// (`cpu` may be part of a `cpu,cpuacct` mount reached through a
    /// symlink).
    pub fn at(layout: &Layout, path: &str) -> Cgroup {
        let inner = clean_path(path);
        if layout.unified {
            if inner.starts_with('/') {
                return Cgroup::V2(under(&layout.root, &inner));
            }
            // The runtime's own cgroup most likely holds processes, so that
            // its children could not have controllers: use its parent.
            let own = Path::new(layout.own_path("")).parent().map(|p| p.to_path_buf()).unwrap_or_else(|| "/".into());
            return Cgroup::V2(under(&under(&layout.root, &own.to_string_lossy()), &inner));
        }
        Cgroup::V1(
            V1_CONTROLLERS
                .iter()
                .filter(|c| layout.root.join(c).join("cgroup.procs").exists())
                .map(|c| {
                    let mount = layout.root.join(c);
                    let dir = if inner.starts_with('/') {
                        under(&mount, &inner)
                    } else {
                        under(&under(&mount, layout.own_path(c)), &inner)
                    };
                    (c.to_string(), dir)
                })
                .collect(),
        )
    }

    /// The cgroup for container `id` whose spec has `cgroups_path`
    /// (`None`: `/rvisor/<id>`), read the way `manager` does.
    pub fn for_spec(
        layout: &Layout,
        manager: Manager,
        cgroups_path: Option<&str>,
        id: &str,
    ) -> Result<Cgroup, CgroupError> {
        let path = match (manager, cgroups_path) {
            (_, None) => format!("/{OWN_PARENT}/{id}"),
            (Manager::Cgroupfs, Some(p)) => p.to_string(),
            (Manager::Systemd, Some(p)) => {
                let parts: Vec<&str> = p.split(':').collect();
                let [slice, prefix, name] = parts[..] else {
                    return Err(CgroupError::InvalidPath {
                        path: p.into(),
                        why: "expected slice:prefix:name with --systemd-cgroup",
                    });
                };
                let slice = if slice.is_empty() { "system.slice" } else { slice };
                let unit = if name.ends_with(".slice") {
                    name.to_string()
                } else if prefix.is_empty() {
                    format!("{name}.scope")
                } else {
                    format!("{prefix}-{name}.scope")
                };
                if unit.contains('/') {
                    return Err(CgroupError::InvalidPath { path: p.into(), why: "a unit name cannot contain '/'" });
                }
                format!("{}/{unit}", expand_slice(slice)?)
            }
        };
        Ok(Cgroup::at(layout, &path))
    }

    fn dir(&self, controller: &str) -> Option<&Path> {
        match self {
            Cgroup::V2(p) => Some(p),
            Cgroup::V1(d) => d.iter().find(|(c, _)| c == controller).map(|(_, p)| p.as_path()),
        }
    }

    /// The directories of the cgroup (one per v1 hierarchy).
    pub fn dirs(&self) -> Vec<&Path> {
        match self {
            Cgroup::V2(p) => vec![p.as_path()],
            Cgroup::V1(d) => d.iter().map(|(_, p)| p.as_path()).collect(),
        }
    }

    /// Creates the cgroup's directories (and, on v2, enables the
    /// controllers down to it); returns the directories it created, the
    /// deepest last, for [`remove_created`](Cgroup::remove_created).
    pub fn create(&self) -> Result<Vec<PathBuf>, CgroupError> {
        let mut created = Vec::new();
        for d in self.dirs() {
            let mut missing = Vec::new();
            let mut p = d;
            while !p.exists() {
                missing.push(p.to_path_buf());
                match p.parent() {
                    Some(parent) => p = parent,
                    None => break,
                }
            }
            for m in missing.into_iter().rev() {
                if let Cgroup::V2(_) = self {
                    if let Some(parent) = m.parent() {
                        enable_v2_controllers(parent);
                    }
                }
                match fs::create_dir(&m) {
                    Ok(()) => created.push(m),
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(e) => {
                        Cgroup::remove_created(&created);
                        return Err(io_err("creating cgroup", &m)(e));
                    }
                }
            }
        }
        Ok(created)
    }

    /// Moves process `pid` (all its threads) into the cgroup. A process
    /// that is gone needs no moving.
    pub fn add_process(&self, pid: u32) -> Result<(), CgroupError> {
        for d in self.dirs() {
            let path = d.join("cgroup.procs");
            if let Err(e) = fs::write(&path, pid.to_string()) {
                if e.raw_os_error() != Some(libc::ESRCH) {
                    return Err(CgroupError::Write { value: pid.to_string(), path, source: e });
                }
            }
        }
        Ok(())
    }

    /// The processes in the cgroup (each v1 hierarchy's, merged).
    pub fn processes(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = self
            .dirs()
            .iter()
            .filter_map(|d| fs::read_to_string(d.join("cgroup.procs")).ok())
            .flat_map(|t| t.lines().filter_map(|l| l.trim().parse().ok()).collect::<Vec<u32>>())
            .collect();
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// Moves this process into the cgroup until the returned guard is
    /// dropped, which moves it back: processes it starts meanwhile are
    /// born in the cgroup (with all their descendants), as gVisor starts
    /// its sandbox.
    pub fn join(&self) -> Result<Joined, CgroupError> {
        let me = std::process::id();
        let previous = match self {
            Cgroup::V2(_) => Cgroup::of_pid(me),
            Cgroup::V1(d) => {
                // The same hierarchies, in this process's current cgroups.
                let m = memberships(me).map_err(io_err("reading", Path::new("/proc/self/cgroup")))?;
                Ok(Cgroup::V1(
                    d.iter()
                        .filter_map(|(ctl, _)| {
                            let (_, p) = m.iter().find(|(c, _)| c.split(',').any(|x| x == ctl))?;
                            Some((ctl.clone(), under(&Path::new(CGROUP_ROOT).join(ctl), p)))
                        })
                        .collect(),
                ))
            }
        }
        .map_err(io_err("reading", Path::new("/proc/self/cgroup")))?;
        let joined = Joined { previous };
        self.add_process(me)?;
        Ok(joined)
    }

    /// Puts the sandbox `pids` into a cgroup of their own unless they
    /// already have one (another than the caller's); returns the cgroup and
    /// whether it was created for them (at [`own`](Cgroup::own)).
    pub fn isolate(id: &str, pids: &[u32]) -> Result<(Cgroup, bool), CgroupError> {
        let Some(&first) = pids.first() else {
            return Err(CgroupError::NoProcess);
        };
        let proc_cgroup = |pid: u32| Cgroup::of_pid(pid).map_err(io_err("reading the cgroup of", Path::new("/proc")));
        let current = proc_cgroup(first)?;
        let caller = proc_cgroup(std::process::id())?;
        if current != caller && current.dir("freezer").is_some() {
            return Ok((current, false));
        }
        let own = Cgroup::own(id);
        own.create()?;
        for &pid in pids {
            own.add_process(pid)?;
        }
        Ok((own, true))
    }

    /// Freezes (`true`) or thaws the cgroup.
    pub fn freeze(&self, frozen: bool) -> Result<(), CgroupError> {
        let (dir, file, value) = match self {
            Cgroup::V2(p) => (p.as_path(), "cgroup.freeze", if frozen { "1" } else { "0" }),
            Cgroup::V1(_) => (
                self.dir("freezer").ok_or_else(|| CgroupError::NoController("freezer.state".into()))?,
                "freezer.state",
                if frozen { "FROZEN" } else { "THAWED" },
            ),
        };
        let path = dir.join(file);
        fs::write(&path, value).map_err(|source| CgroupError::Write { value: value.into(), path, source })
    }

    /// Current resource usage; fields that cannot be read are 0.
    pub fn usage(&self) -> Usage {
        let read = |dir: Option<&Path>, file: &str| dir.and_then(|d| fs::read_to_string(d.join(file)).ok());
        let num = |dir: Option<&Path>, file: &str| -> u64 {
            read(dir, file).and_then(|s| s.trim().parse().ok()).unwrap_or(0)
        };
        match self {
            Cgroup::V2(p) => {
                let p = Some(p.as_path());
                let cpu = read(p, "cpu.stat").unwrap_or_default();
                Usage {
                    memory: num(p, "memory.current"),
                    memory_limit: num(p, "memory.max"),
                    cpu_usec: keyed(&cpu, "usage_usec"),
                    cpu_user_usec: keyed(&cpu, "user_usec"),
                    cpu_system_usec: keyed(&cpu, "system_usec"),
                    pids: num(p, "pids.current"),
                    pids_limit: num(p, "pids.max"),
                    oom_kills: self.oom_kills(),
                }
            }
            Cgroup::V1(_) => {
                // cpuacct.stat counts USER_HZ ticks.
                // SAFETY: sysconf has no preconditions.
                let hz = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).unwrap_or(100).max(1);
                let ticks = read(self.dir("cpuacct"), "cpuacct.stat").unwrap_or_default();
                let memory_limit = num(self.dir("memory"), "memory.limit_in_bytes");
                Usage {
                    memory: num(self.dir("memory"), "memory.usage_in_bytes"),
                    // v1 reports "no limit" as a huge page-aligned number.
                    memory_limit: if memory_limit >= i64::MAX as u64 / 2 { 0 } else { memory_limit },
                    cpu_usec: num(self.dir("cpuacct"), "cpuacct.usage") / 1000,
                    cpu_user_usec: keyed(&ticks, "user") * 1_000_000 / hz,
                    cpu_system_usec: keyed(&ticks, "system") * 1_000_000 / hz,
                    pids: num(self.dir("pids"), "pids.current"),
                    pids_limit: num(self.dir("pids"), "pids.max"),
                    oom_kills: self.oom_kills(),
                }
            }
        }
    }

    /// How many processes the OOM killer killed in the cgroup
    /// (`memory.events` on v2, `memory.oom_control` on v1); 0 if unknown.
    pub fn oom_kills(&self) -> u64 {
        let (dir, file) = match self {
            Cgroup::V2(p) => (Some(p.as_path()), "memory.events"),
            Cgroup::V1(_) => (self.dir("memory"), "memory.oom_control"),
        };
        dir.and_then(|d| fs::read_to_string(d.join(file)).ok()).map(|t| keyed(&t, "oom_kill")).unwrap_or(0)
    }

    /// The (file, value) writes that set `r`, in order, per directory.
    /// Files that only exist on some hosts (swap accounting) are checked
    /// for here.
    pub fn writes(&self, r: &Resources) -> Result<Vec<(PathBuf, String)>, CgroupError> {
        let mut out = Vec::new();
        let mut write = |dir: Option<&Path>, file: &str, value: String| -> Result<(), CgroupError> {
            let dir = dir.ok_or_else(|| CgroupError::NoController(file.into()))?;
            out.push((dir.join(file), value));
            Ok(())
        };
        let limit = |v: i64| if v < 0 { "max".to_string() } else { v.to_string() };
        match self {
            Cgroup::V2(p) => {
                let p = Some(p.as_path());
                if let Some(m) = r.memory_limit {
                    write(p, "memory.max", limit(m))?;
                }
                if let Some(sw) = r.memory_swap {
                    // OCI's swap is memory plus swap; v2's swap.max is swap alone.
                    let swap = match (sw, r.memory_limit) {
                        (sw, _) if sw < 0 => "max".to_string(),
                        (sw, Some(m)) if m >= 0 => sw.saturating_sub(m).max(0).to_string(),
                        _ => "max".to_string(),
                    };
                    if p.is_some_and(|d| d.join("memory.swap.max").exists()) {
                        write(p, "memory.swap.max", swap)?;
                    }
                }
                if let Some(n) = r.pids_limit {
                    write(p, "pids.max", if n > 0 { n.to_string() } else { "max".into() })?;
                }
                if let Some(shares) = r.cpu_shares {
                    write(p, "cpu.weight", shares_to_weight(shares).to_string())?;
                }
                if r.cpu_quota.is_some() || r.cpu_period.is_some() {
                    let quota = match r.cpu_quota {
                        Some(q) if q > 0 => q.to_string(),
                        _ => "max".into(),
                    };
                    let period = r.cpu_period.filter(|&p| p > 0).unwrap_or(100_000);
                    write(p, "cpu.max", format!("{quota} {period}"))?;
                }
            }
            Cgroup::V1(_) => {
                let mem = self.dir("memory");
                let memsw = mem.is_some_and(|d| d.join("memory.memsw.limit_in_bytes").exists());
                if let Some(m) = r.memory_limit {
                    // With swap accounting the memory+swap limit must stay
                    // at or above the memory limit: raise it first.
                    if memsw && r.memory_swap.is_none() {
                        write(mem, "memory.memsw.limit_in_bytes", "-1".into())?;
                    }
                    write(mem, "memory.limit_in_bytes", if m < 0 { "-1".into() } else { m.to_string() })?;
                }
                if let Some(sw) = r.memory_swap {
                    if memsw {
                        write(mem, "memory.memsw.limit_in_bytes", if sw < 0 { "-1".into() } else { sw.to_string() })?;
                    }
                }
                if let Some(n) = r.pids_limit {
                    write(self.dir("pids"), "pids.max", if n > 0 { n.to_string() } else { "max".into() })?;
                }
                if let Some(shares) = r.cpu_shares {
                    write(self.dir("cpu"), "cpu.shares", shares.clamp(2, 262_144).to_string())?;
                }
                if let Some(period) = r.cpu_period.filter(|&p| p > 0) {
                    write(self.dir("cpu"), "cpu.cfs_period_us", period.to_string())?;
                }
                if let Some(q) = r.cpu_quota {
                    write(self.dir("cpu"), "cpu.cfs_quota_us", if q > 0 { q.to_string() } else { "-1".into() })?;
                }
            }
        }
        Ok(out)
    }

    /// Writes resource limits. Only for a cgroup of the sandbox's own: the
    /// limits then bound the sandbox alone.
    pub fn apply(&self, r: &Resources) -> Result<(), CgroupError> {
        for (path, value) in self.writes(r)? {
            fs::write(&path, &value).map_err(|source| CgroupError::Write { value, path, source })?;
        }
        Ok(())
    }

    /// Removes the cgroup's directories. Its processes may still be
    /// exiting (a directory is busy until they are gone), so this retries
    /// for a while; blocking.
    pub fn remove(&self) {
        for d in self.dirs() {
            remove_dir_retrying(d);
        }
    }

    /// Removes directories [`create`](Cgroup::create) made, deepest first;
    /// a parent another cgroup still uses stays.
    pub fn remove_created(created: &[PathBuf]) {
        let mut dirs: Vec<&PathBuf> = created.iter().collect();
        // Deepest first, whatever the hierarchy.
        dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        for d in dirs {
            remove_dir_retrying(d);
        }
    }
}

fn remove_dir_retrying(d: &Path) {
    let mut tries = 0;
    loop {
        match fs::remove_dir(d) {
            Ok(()) => break,
            Err(e) if e.kind() == io::ErrorKind::NotFound => break,
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && tries < 50 && !has_children(d) => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            Err(e) => {
                tracing::debug!("removing cgroup {}: {e}", d.display());
                break;
            }
        }
    }
}

/// Whether a cgroup directory has child cgroups: then EBUSY will not go
/// away by waiting (otherwise its processes are still exiting).
fn has_children(d: &Path) -> bool {
    fs::read_dir(d).map(|entries| entries.flatten().any(|e| e.path().is_dir())).unwrap_or(false)
}

/// Moves the process back to the cgroups it was in before
/// [`Cgroup::join`] (on drop).
pub struct Joined {
    previous: Cgroup,
}

impl Drop for Joined {
    fn drop(&mut self) {
        if let Err(e) = self.previous.add_process(std::process::id()) {
            tracing::warn!("moving back to the previous cgroup: {e}");
        }
    }
}

/// The value of `key` in a flat keyed file (`cpu.stat`, `memory.events`,
/// `memory.oom_control`); 0 if absent.
fn keyed(text: &str, key: &str) -> u64 {
    text.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(' ')?;
            (k == key).then(|| v.trim().parse().ok()).flatten()
        })
        .unwrap_or(0)
}

/// Enables the controllers rvisor uses for the children of `dir` (v2
/// needs them in each parent's `cgroup.subtree_control`). Best effort: a
/// controller the host lacks just yields no numbers.
fn enable_v2_controllers(dir: &Path) {
    for ctl in V2_CONTROLLERS {
        if let Err(e) = fs::write(dir.join("cgroup.subtree_control"), ctl) {
            tracing::debug!("enabling {ctl} in {}: {e}", dir.display());
        }
    }
}

/// `pid` and its descendants on the host (the sandbox's host processes).
pub fn process_tree(pid: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(entries) = fs::read_dir("/proc") {
        for e in entries.flatten() {
            let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
            let Ok(stat) = fs::read_to_string(format!("/proc/{p}/stat")) else { continue };
            // The command name may hold spaces; fields resume after ')'.
            let ppid = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse().ok());
            if let Some(ppid) = ppid {
                parents.push((p, ppid));
            }
        }
    }
    let mut tree = vec![pid];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(parents.iter().filter(|(_, pp)| *pp == parent).map(|(p, _)| *p));
        i += 1;
    }
    tree
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rvisor-cgroup-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn own_process_tree_and_cgroup() {
        let me = std::process::id();
        assert_eq!(process_tree(me)[0], me);
        let cg = Cgroup::of_pid(me).unwrap();
        assert!(!cg.dirs().is_empty());
    }

    #[test]
    fn keyed_files_and_weights() {
        let stat = "usage_usec 1234\nuser_usec 1000\nsystem_usec 234\n";
        assert_eq!(keyed(stat, "usage_usec"), 1234);
        assert_eq!(keyed(stat, "system_usec"), 234);
        assert_eq!(keyed(stat, "nr_periods"), 0);
        assert_eq!(keyed("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n", "oom_kill"), 2);
        assert_eq!(keyed("low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\n", "oom_kill"), 1);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert!(Resources::default().is_empty());
        assert!(!Resources { pids_limit: Some(10), ..Default::default() }.is_empty());
    }

    #[test]
    fn spec_resources_parse() {
        let r = Resources::from_json(
            br#"{"devices":[{"allow":false,"access":"rwm"}],"memory":{"limit":67108864,"swap":67108864},
                 "cpu":{"shares":2,"quota":-1,"period":100000},"pids":{"limit":32},"blockIO":{}}"#,
        )
        .unwrap();
        assert_eq!(
            r,
            Resources {
                memory_limit: Some(64 << 20),
                memory_swap: Some(64 << 20),
                pids_limit: Some(32),
                cpu_shares: Some(2),
                cpu_quota: Some(-1),
                cpu_period: Some(100_000),
            }
        );
        assert!(Resources::from_json(b"{}").unwrap().is_empty());
        assert!(Resources::from_json(b"[1]").is_err());
        let dir = temp("spec");
        fs::write(
            dir.join("config.json"),
            r#"{"ociVersion":"1.0.2","linux":{"cgroupsPath":"/a/b","resources":{"pids":{"limit":5}}}}"#,
        )
        .unwrap();
        assert_eq!(Resources::from_bundle(&dir).unwrap().pids_limit, Some(5));
        assert_eq!(cgroups_path_of_bundle(&dir).unwrap().as_deref(), Some("/a/b"));
        fs::write(dir.join("config.json"), r#"{"ociVersion":"1.0.2"}"#).unwrap();
        assert!(Resources::from_bundle(&dir).unwrap().is_empty());
        assert_eq!(cgroups_path_of_bundle(&dir).unwrap(), None);
        fs::write(dir.join("config.json"), "{").unwrap();
        assert!(matches!(Resources::from_bundle(&dir), Err(CgroupError::Parse { .. })));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn paths_are_cleaned_like_runc() {
        assert_eq!(clean_path("/a/../../b/./c/"), "/b/c");
        assert_eq!(clean_path("../../x/y"), "x/y");
        assert_eq!(clean_path("a//b"), "a/b");
        assert_eq!(expand_slice("system.slice").unwrap(), "/system.slice");
        assert_eq!(expand_slice("machine-pod1.slice").unwrap(), "/machine.slice/machine-pod1.slice");
        assert_eq!(expand_slice("-.slice").unwrap(), "/");
        assert!(expand_slice("nope").is_err());
        assert!(expand_slice("a--b.slice").is_err());
    }

    #[test]
    fn v2_paths_follow_runc() {
        let layout = Layout {
            root: "/sys/fs/cgroup".into(),
            unified: true,
            own: parse_memberships("0::/user.slice/user-0.slice/session-1.scope\n"),
        };
        let cg = |m, p: Option<&str>| Cgroup::for_spec(&layout, m, p, "c1").unwrap();
        assert_eq!(cg(Manager::Cgroupfs, None), Cgroup::V2("/sys/fs/cgroup/rvisor/c1".into()));
        assert_eq!(cg(Manager::Cgroupfs, Some("/pods/x/../c1")), Cgroup::V2("/sys/fs/cgroup/pods/c1".into()));
        // Relative: under the parent of the runtime's own cgroup.
        assert_eq!(
            cg(Manager::Cgroupfs, Some("mine/c1")),
            Cgroup::V2("/sys/fs/cgroup/user.slice/user-0.slice/mine/c1".into())
        );
        assert_eq!(
            cg(Manager::Systemd, Some("system.slice:runsc:c1")),
            Cgroup::V2("/sys/fs/cgroup/system.slice/runsc-c1.scope".into())
        );
        assert_eq!(
            cg(Manager::Systemd, Some("kubepods-besteffort.slice:cri:abc")),
            Cgroup::V2("/sys/fs/cgroup/kubepods.slice/kubepods-besteffort.slice/cri-abc.scope".into())
        );
        assert_eq!(
            cg(Manager::Systemd, Some(":runsc:c1")),
            Cgroup::V2("/sys/fs/cgroup/system.slice/runsc-c1.scope".into())
        );
        assert!(Cgroup::for_spec(&layout, Manager::Systemd, Some("/a/b"), "c1").is_err());
        assert!(Cgroup::for_spec(&layout, Manager::Systemd, Some("x.slice:p:a/b"), "c1").is_err());
    }

    #[test]
    fn v2_files_are_written() {
        let dir = temp("v2files");
        let cg = Cgroup::V2(dir.clone());
        let r = Resources {
            memory_limit: Some(64 << 20),
            pids_limit: Some(100),
            cpu_shares: Some(512),
            cpu_quota: Some(50_000),
            cpu_period: Some(100_000),
            ..Default::default()
        };
        let names: Vec<(String, String)> = cg
            .writes(&r)
            .unwrap()
            .into_iter()
            .map(|(p, v)| (p.file_name().unwrap().to_string_lossy().into_owned(), v))
            .collect();
        let want = [
            ("memory.max", (64 << 20).to_string()),
            ("pids.max", "100".into()),
            ("cpu.weight", "20".into()),
            ("cpu.max", "50000 100000".into()),
        ];
        assert_eq!(names, want.map(|(a, b)| (a.to_string(), b)));
        cg.apply(&r).unwrap();
        assert_eq!(fs::read_to_string(dir.join("cpu.max")).unwrap(), "50000 100000");
        let unlimited = cg.writes(&Resources { memory_limit: Some(-1), pids_limit: Some(0), ..Default::default() });
        let values: Vec<String> = unlimited.unwrap().into_iter().map(|(_, v)| v).collect();
        assert_eq!(values, ["max", "max"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn v1_paths_follow_runc() {
        let root = temp("v1layout");
        for c in ["memory", "pids", "cpu"] {
            fs::create_dir_all(root.join(c)).unwrap();
            fs::write(root.join(c).join("cgroup.procs"), "").unwrap();
        }
        let layout = Layout {
            root: root.clone(),
            unified: false,
            own: parse_memberships("4:memory:/outer\n8:pids:/\n1:cpu,cpuacct:/x\n0::/\n"),
        };
        let cg = Cgroup::for_spec(&layout, Manager::Cgroupfs, Some("rel/c1"), "c1").unwrap();
        assert_eq!(
            cg,
            Cgroup::V1(vec![
                ("memory".into(), root.join("memory/outer/rel/c1")),
                ("pids".into(), root.join("pids/rel/c1")),
                ("cpu".into(), root.join("cpu/x/rel/c1")),
            ])
        );
        let abs = Cgroup::for_spec(&layout, Manager::Cgroupfs, None, "c1").unwrap();
        assert_eq!(abs.dir("memory"), Some(root.join("memory/rvisor/c1").as_path()));
        let created = abs.create().unwrap();
        assert_eq!(created.len(), 6, "{created:?}");
        assert!(root.join("pids/rvisor/c1").is_dir());
        Cgroup::remove_created(&created);
        assert!(!root.join("pids/rvisor").exists());
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn limits_are_written_to_the_cgroup_files() {
        let dir = temp("v1files");
        let (mem, pids, cpu) = (dir.join("memory"), dir.join("pids"), dir.join("cpu"));
        for d in [&mem, &pids, &cpu] {
            fs::create_dir_all(d).unwrap();
        }
        let r = Resources {
            memory_limit: Some(64 << 20),
            pids_limit: Some(100),
            cpu_shares: Some(512),
            cpu_quota: Some(50_000),
            cpu_period: Some(100_000),
            ..Default::default()
        };
        let read = |p: PathBuf| fs::read_to_string(p).unwrap();
        let v1 = Cgroup::V1(vec![
            ("memory".into(), mem.clone()),
            ("pids".into(), pids.clone()),
            ("cpu".into(), cpu.clone()),
        ]);
        v1.apply(&r).unwrap();
        assert_eq!(read(mem.join("memory.limit_in_bytes")), (64 << 20).to_string());
        assert_eq!(read(pids.join("pids.max")), "100");
        assert_eq!(read(cpu.join("cpu.shares")), "512");
        assert_eq!(read(cpu.join("cpu.cfs_quota_us")), "50000");
        assert_eq!(read(cpu.join("cpu.cfs_period_us")), "100000");
        v1.apply(&Resources { memory_limit: Some(-1), pids_limit: Some(0), ..Default::default() }).unwrap();
        assert_eq!(read(mem.join("memory.limit_in_bytes")), "-1");
        assert_eq!(read(pids.join("pids.max")), "max");
        fs::write(mem.join("memory.usage_in_bytes"), "4096\n").unwrap();
        fs::write(mem.join("memory.oom_control"), "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n").unwrap();
        let u = v1.usage();
        assert_eq!((u.memory, u.pids_limit, u.oom_kills), (4096, 0, 3));
        // Without a memory controller the limit is an error, not a no-op.
        let e = Cgroup::V1(vec![]).apply(&Resources { memory_limit: Some(1), ..Default::default() }).unwrap_err();
        assert!(e.to_string().contains("no cgroup for memory.limit_in_bytes"), "{e}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
