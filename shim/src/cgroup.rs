//! The host cgroup of a sandbox: where its processes are accounted
//! (task metrics) and frozen (pause/resume).
//!
//! Both a pure cgroup v2 host and a v1 (or hybrid) host are handled: on v2
//! the sandbox's unified cgroup gives `memory.current`, `cpu.stat` and
//! `pids.current` and is frozen with `cgroup.freeze`; on v1 the memory,
//! cpuacct, pids and freezer hierarchies give the same numbers. A sandbox
//! that shares the shim's cgroup is moved into `rvisor/<id>` of its own
//! (created at create, removed at delete), so that pausing it does not
//! freeze the shim.

use std::fs;
use std::path::{Path, PathBuf};

/// Root of the cgroup file systems.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// Parent of the cgroups the shim creates.
const OWN_PARENT: &str = "rvisor";
/// v1 controllers the shim uses (pause, metrics).
const V1_CONTROLLERS: [&str; 4] = ["freezer", "memory", "pids", "cpuacct"];

/// Resource usage of a cgroup.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Memory in use, bytes.
    pub memory: u64,
    /// CPU time used, microseconds.
    pub cpu_usec: u64,
    /// Tasks (threads) in the cgroup.
    pub pids: u64,
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
            Cgroup::V1(
                V1_CONTROLLERS
                    .iter()
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
        let num = |dir: Option<&Path>, file: &str| -> u64 {
            dir.and_then(|d| fs::read_to_string(d.join(file)).ok()).and_then(|s| s.trim().parse().ok()).unwrap_or(0)
        };
        match self {
            Cgroup::V2(p) => {
                let cpu_usec = fs::read_to_string(p.join("cpu.stat"))
                    .ok()
                    .and_then(|s| {
                        s.lines().find_map(|l| l.strip_prefix("usage_usec ").and_then(|v| v.trim().parse().ok()))
                    })
                    .unwrap_or(0);
                Usage { memory: num(Some(p), "memory.current"), cpu_usec, pids: num(Some(p), "pids.current") }
            }
            Cgroup::V1(_) => Usage {
                memory: num(self.dir("memory"), "memory.usage_in_bytes"),
                cpu_usec: num(self.dir("cpuacct"), "cpuacct.usage") / 1000,
                pids: num(self.dir("pids"), "pids.current"),
            },
        }
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
}
