//! The host cgroup of a sandbox: where its processes are accounted
//! (task metrics) and frozen (pause/resume).
//!
//! Both a pure cgroup v2 host and a v1 (or hybrid) host are handled: on v2
//! the sandbox's unified cgroup gives `memory.current`, `cpu.stat`,
//! `pids.current` and `memory.events` and is frozen with `cgroup.freeze`;
//! on v1 the memory, cpuacct, pids and freezer hierarchies give the same
//! numbers. A sandbox that shares the shim's cgroup is moved into
//! `rvisor/<id>` of its own (created at create, removed at delete), so that
//! pausing it does not freeze the shim. Resource limits ([`Resources`]: the
//! OCI spec's `linux.resources` at create, a task Update later) are written
//! to that cgroup: they bound the whole sandbox (Sentry and its stubs), as
//! gVisor's sandbox cgroup does.

use std::fs;
use std::path::{Path, PathBuf};

/// Root of the cgroup file systems.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// Parent of the cgroups the shim creates.
const OWN_PARENT: &str = "rvisor";
/// v1 controllers the shim uses (pause, metrics, limits).
const V1_CONTROLLERS: [&str; 5] = ["freezer", "memory", "pids", "cpuacct", "cpu"];
/// v2 controllers the shim enables for its own cgroups.
const V2_CONTROLLERS: &str = "+memory +pids +cpu";

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
/// `linux.resources` that the shim applies. `None`: leave as is.
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

/// The parts of the OCI `LinuxResources` JSON the shim applies; the rest
/// (devices, block I/O, hugepages, ...) is ignored.
#[derive(Debug, Default, serde::Deserialize)]
struct SpecResources {
    #[serde(default)]
    memory: Option<SpecMemory>,
    #[serde(default)]
    cpu: Option<SpecCpu>,
    #[serde(default)]
    pids: Option<SpecPids>,
}

#[derive(Debug, Default, serde::Deserialize)]
struct SpecMemory {
    limit: Option<i64>,
    swap: Option<i64>,
}

#[derive(Debug, Default, serde::Deserialize)]
struct SpecCpu {
    shares: Option<u64>,
    quota: Option<i64>,
    period: Option<u64>,
}

#[derive(Debug, Default, serde::Deserialize)]
struct SpecPids {
    limit: Option<i64>,
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
    pub fn from_bundle(bundle: &Path) -> anyhow::Result<Resources> {
        use anyhow::Context as _;
        #[derive(serde::Deserialize)]
        struct Spec {
            #[serde(default)]
            linux: Option<Linux>,
        }
        #[derive(serde::Deserialize)]
        struct Linux {
            #[serde(default)]
            resources: Option<SpecResources>,
        }
        let path = bundle.join("config.json");
        let text = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let spec: Spec = serde_json::from_slice(&text).with_context(|| format!("parsing {}", path.display()))?;
        Ok(spec.linux.and_then(|l| l.resources).map(Resources::from).unwrap_or_default())
    }
}

/// cgroup v1 shares to a v2 `cpu.weight` (the conversion runc and crun use).
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 100;
    }
    1 + (shares.clamp(2, 262_144) - 2) * 9999 / 262_142
}

/// A sandbox's cgroup.
#[derive(Clone, Debug, PartialEq, Eq)]
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
fn memberships(pid: u32) -> std::io::Result<Vec<(String, String)>> {
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup"))?;
    Ok(text
        .lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, ':');
            let _ = parts.next()?;
            Some((parts.next()?.to_string(), parts.next()?.to_string()))
        })
        .collect())
}

/// Joins a cgroup path (absolute within its hierarchy) to a mount point.
fn under(mount: &Path, path: &str) -> PathBuf {
    mount.join(path.trim_start_matches('/'))
}

impl Cgroup {
    /// The cgroup process `pid` is in.
    pub fn of_pid(pid: u32) -> std::io::Result<Cgroup> {
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

    /// The cgroup the shim creates for sandbox `id`.
    pub fn own(id: &str) -> Cgroup {
        if unified_only() {
            Cgroup::V2(Path::new(CGROUP_ROOT).join(OWN_PARENT).join(id))
        } else {
            // Only the hierarchies the host mounts (`cpu` may be part of a
            // `cpu,cpuacct` mount reached through a symlink).
            Cgroup::V1(
                V1_CONTROLLERS
                    .iter()
                    .filter(|c| Path::new(CGROUP_ROOT).join(c).join("cgroup.procs").exists())
                    .map(|c| (c.to_string(), Path::new(CGROUP_ROOT).join(c).join(OWN_PARENT).join(id)))
                    .collect(),
            )
        }
    }

    fn dir(&self, controller: &str) -> Option<&Path> {
        match self {
            Cgroup::V2(p) => Some(p),
            Cgroup::V1(d) => d.iter().find(|(c, _)| c == controller).map(|(_, p)| p.as_path()),
        }
    }

    fn dirs(&self) -> Vec<&Path> {
        match self {
            Cgroup::V2(p) => vec![p.as_path()],
            Cgroup::V1(d) => d.iter().map(|(_, p)| p.as_path()).collect(),
        }
    }

    /// Puts the sandbox `pids` into a cgroup of their own unless they
    /// already have one (another than the shim's); returns the cgroup and
    /// whether the shim created it.
    pub fn isolate(id: &str, pids: &[u32]) -> std::io::Result<(Cgroup, bool)> {
        let Some(&first) = pids.first() else {
            return Err(std::io::Error::other("the sandbox has no host process"));
        };
        let current = Cgroup::of_pid(first)?;
        let shim = Cgroup::of_pid(std::process::id())?;
        if current != shim && current.dir("freezer").is_some() {
            return Ok((current, false));
        }
        let own = Cgroup::own(id);
        if let Cgroup::V2(_) = own {
            enable_v2_controllers();
        }
        for d in own.dirs() {
            fs::create_dir_all(d)?;
        }
        for pid in pids {
            for d in own.dirs() {
                // A process that is gone by now needs no moving.
                if let Err(e) = fs::write(d.join("cgroup.procs"), pid.to_string()) {
                    if e.raw_os_error() != Some(libc::ESRCH) {
                        return Err(e);
                    }
                }
            }
        }
        Ok((own, true))
    }

    /// Freezes (`true`) or thaws the cgroup.
    pub fn freeze(&self, frozen: bool) -> std::io::Result<()> {
        match self {
            Cgroup::V2(p) => fs::write(p.join("cgroup.freeze"), if frozen { "1" } else { "0" }),
            Cgroup::V1(_) => {
                let dir = self.dir("freezer").ok_or_else(|| std::io::Error::other("no freezer cgroup"))?;
                fs::write(dir.join("freezer.state"), if frozen { "FROZEN" } else { "THAWED" })
            }
        }
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

    /// Writes resource limits. Only for a cgroup the shim created: the
    /// limits then bound the sandbox alone.
    pub fn apply(&self, r: &Resources) -> std::io::Result<()> {
        let write = |dir: Option<&Path>, file: &str, value: String| -> std::io::Result<()> {
            let dir = dir.ok_or_else(|| std::io::Error::other(format!("no cgroup for {file}")))?;
            fs::write(dir.join(file), &value).map_err(|e| {
                std::io::Error::new(e.kind(), format!("writing {value} to {}: {e}", dir.join(file).display()))
            })
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
                if let Some(m) = r.memory_limit {
                    // With swap accounting the memory+swap limit must stay
                    // at or above the memory limit: raise it first.
                    let memsw = mem.map(|d| d.join("memory.memsw.limit_in_bytes")).filter(|f| f.exists());
                    if memsw.is_some() && r.memory_swap.is_none() {
                        write(mem, "memory.memsw.limit_in_bytes", "-1".into())?;
                    }
                    write(mem, "memory.limit_in_bytes", if m < 0 { "-1".into() } else { m.to_string() })?;
                }
                if let Some(sw) = r.memory_swap {
                    if mem.is_some_and(|d| d.join("memory.memsw.limit_in_bytes").exists()) {
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
        Ok(())
    }

    /// Removes a cgroup the shim created. Its processes may still be
    /// exiting (the directory is busy until they are gone), so this retries
    /// for a while; blocking.
    pub fn remove(&self) {
        for d in self.dirs() {
            let mut tries = 0;
            loop {
                match fs::remove_dir(d) {
                    Ok(()) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                    Err(e) if e.raw_os_error() == Some(libc::EBUSY) && tries < 50 => {
                        tries += 1;
                        std::thread::sleep(std::time::Duration::from_millis(100));
                    }
                    Err(e) => {
                        tracing::warn!("removing cgroup {}: {e}", d.display());
                        break;
                    }
                }
            }
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

/// Enables the controllers the shim uses for the children of the root and
/// of `rvisor` (v2 needs them in each parent's `cgroup.subtree_control`).
/// Best effort: a controller the host lacks just yields no numbers.
fn enable_v2_controllers() {
    let parent = Path::new(CGROUP_ROOT).join(OWN_PARENT);
    if let Err(e) = fs::create_dir_all(&parent) {
        tracing::warn!("creating {}: {e}", parent.display());
        return;
    }
    for dir in [Path::new(CGROUP_ROOT), parent.as_path()] {
        for ctl in V2_CONTROLLERS.split(' ') {
            if let Err(e) = fs::write(dir.join("cgroup.subtree_control"), ctl) {
                tracing::debug!("enabling {ctl} in {}: {e}", dir.display());
            }
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
        let dir = std::env::temp_dir().join(format!("shim-cgroup-spec-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("config.json"), r#"{"ociVersion":"1.0.2","linux":{"resources":{"pids":{"limit":5}}}}"#)
            .unwrap();
        assert_eq!(Resources::from_bundle(&dir).unwrap().pids_limit, Some(5));
        fs::write(dir.join("config.json"), r#"{"ociVersion":"1.0.2"}"#).unwrap();
        assert!(Resources::from_bundle(&dir).unwrap().is_empty());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn limits_are_written_to_the_cgroup_files() {
        let dir = std::env::temp_dir().join(format!("shim-cgroup-test-{}", std::process::id()));
        let (v2, mem, pids, cpu) = (dir.join("v2"), dir.join("memory"), dir.join("pids"), dir.join("cpu"));
        for d in [&v2, &mem, &pids, &cpu] {
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
        Cgroup::V2(v2.clone()).apply(&r).unwrap();
        let read = |p: PathBuf| fs::read_to_string(p).unwrap();
        assert_eq!(read(v2.join("memory.max")), (64 << 20).to_string());
        assert_eq!(read(v2.join("pids.max")), "100");
        assert_eq!(read(v2.join("cpu.weight")), "20");
        assert_eq!(read(v2.join("cpu.max")), "50000 100000");
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
