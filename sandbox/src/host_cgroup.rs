//! The host cgroup `runsc create` puts a sandbox in: every host process of
//! the sandbox (the Sentry with its stub processes, the Gofers) is born in
//! it, bounded by the spec's `linux.resources`, and `runsc delete` removes
//! it. What was set up is remembered in `cgroup.json` next to the
//! container's state record.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cgroup::{self, Cgroup, CgroupError, Layout, Manager, Resources, Usage};
use crate::container::Runtime;

/// The record's file name in the container's state directory.
const RECORD: &str = "cgroup.json";

/// A sandbox's host cgroup, as remembered between invocations.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostCgroup {
    pub cgroup: Cgroup,
    /// Directories `create` made (removed at delete; others stay).
    pub created: Vec<PathBuf>,
}

impl HostCgroup {
    /// Creates the cgroup for container `id` of `bundle` and writes its
    /// limits.
    pub fn setup(manager: Manager, id: &str, bundle: &Path) -> Result<HostCgroup, CgroupError> {
        let path = cgroup::cgroups_path_of_bundle(bundle)?;
        let resources = Resources::from_bundle(bundle)?;
        let layout = Layout::host().map_err(|source| CgroupError::Io {
            what: "reading",
            path: "/proc/self/cgroup".into(),
            source,
        })?;
        let cg = Cgroup::for_spec(&layout, manager, path.as_deref(), id)?;
        let created = cg.create()?;
        if let Err(e) = cg.apply(&resources) {
            Cgroup::remove_created(&created);
            return Err(e);
        }
        Ok(HostCgroup { cgroup: cg, created })
    }

    /// Kills what is left in the cgroup and removes what `setup` created.
    pub fn destroy(&self) {
        if !self.created.is_empty() {
            for pid in self.cgroup.processes() {
                if let Ok(pid) = i32::try_from(pid) {
                    // SAFETY: plain signal send; only the sandbox's processes
                    // are in a cgroup runsc created for it.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        }
        Cgroup::remove_created(&self.created);
    }

    fn load(state_dir: &Path) -> Option<HostCgroup> {
        let data = std::fs::read(state_dir.join(RECORD)).ok()?;
        serde_json::from_slice(&data).ok()
    }
}

impl Runtime {
    /// Runs `create` (which starts the sandbox's host processes) inside
    /// container `id`'s host cgroup when this runtime manages cgroups;
    /// remembers the cgroup on success and removes it on failure.
    pub(crate) fn in_host_cgroup(
        &self,
        id: &str,
        bundle: &Path,
        create: impl FnOnce() -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let Some(manager) = self.cgroup_manager else { return create() };
        let cg = match HostCgroup::setup(manager, id, bundle) {
            Ok(cg) => cg,
            // A spec that asks for no cgroup and no limits runs without one
            // where cgroups cannot be written (not root, read-only mount).
            Err(CgroupError::Io { source, .. } | CgroupError::Write { source, .. })
                if matches!(source.raw_os_error(), Some(libc::EACCES | libc::EPERM | libc::EROFS))
                    && cgroup::cgroups_path_of_bundle(bundle).ok().flatten().is_none()
                    && Resources::from_bundle(bundle).is_ok_and(|r| r.is_empty()) =>
            {
                tracing::warn!("container {id}: no host cgroup of its own: {source}");
                return create();
            }
            Err(e) => return Err(e.into()),
        };
        let result = match cg.cgroup.join() {
            Ok(joined) => {
                let r = create();
                drop(joined);
                r
            }
            Err(e) => Err(e.into()),
        };
        let result = result.and_then(|()| {
            let path = self.state.dir(id).join(RECORD);
            let json = serde_json::to_vec_pretty(&cg)?;
            std::fs::write(&path, json).map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))
        });
        if result.is_err() {
            cg.destroy();
        }
        result
    }

    /// Removes container `id`'s host cgroup, if `create` made one (its
    /// sandbox is being deleted).
    pub(crate) fn remove_host_cgroup(&self, id: &str) {
        if let Some(cg) = HostCgroup::load(&self.state.dir(id)) {
            cg.destroy();
        }
    }

    /// Container `id`'s host cgroup, if `create` made one.
    pub fn host_cgroup(&self, id: &str) -> Option<HostCgroup> {
        HostCgroup::load(&self.state.dir(id))
    }

    /// Resource use and limits of container `id`'s host cgroup, if it has
    /// one.
    pub fn host_usage(&self, id: &str) -> Option<Usage> {
        self.host_cgroup(id).map(|c| c.cgroup.usage())
    }
}
