//! OCI bundles: `config.json` read with `oci-spec` and turned into the
//! domain types the sandbox works with. Nothing outside this module sees an
//! `oci_spec` type.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

/// Why a bundle cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}: no such file (is this an OCI bundle?)")]
    Missing(PathBuf),
    #[error("{path}: malformed config.json: {msg}")]
    Malformed { path: PathBuf, msg: String },
    #[error("{path}: invalid configuration: {msg}")]
    Invalid { path: PathBuf, msg: String },
}

/// A mount from the spec, by kind.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MountKind {
    /// A host directory or file, served by the container's Gofer.
    Bind {
        source: PathBuf,
        read_only: bool,
    },
    Tmpfs,
    Proc,
    Sysfs,
    Devpts,
    Mqueue,
    Cgroup,
    /// Any other file system type, kept by name.
    Other(String),
}

/// One entry of the spec's `mounts`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MountSpec {
    pub destination: String,
    pub kind: MountKind,
    pub options: Vec<String>,
}

/// A resource limit (`RLIMIT_*` name, soft, hard).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Rlimit {
    pub kind: String,
    pub soft: u64,
    pub hard: u64,
}

/// The container configuration the sandbox acts on (validated on the host;
/// it travels to a running Sentry as JSON, see [`crate::container`]).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ContainerConfig {
    pub bundle: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub terminal: bool,
    pub hostname: Option<String>,
    /// Absolute path of the root file system on the host.
    pub root: PathBuf,
    pub root_read_only: bool,
    pub mounts: Vec<MountSpec>,
    pub rlimits: Vec<Rlimit>,
    pub pids_limit: Option<i64>,
    pub memory_limit: Option<i64>,
    pub annotations: HashMap<String, String>,
}

/// Reads and validates `BUNDLE/config.json`.
pub fn load_bundle(bundle: &Path) -> Result<ContainerConfig, ConfigError> {
    let path = bundle.join("config.json");
    if !path.exists() {
        return Err(ConfigError::Missing(path));
    }
    let spec = Spec::load(&path).map_err(|e| ConfigError::Malformed { path: path.clone(), msg: one_line(&e) })?;
    from_spec(&spec, bundle).map_err(|msg| ConfigError::Invalid { path, msg })
}

fn one_line(e: &dyn std::fmt::Display) -> String {
    e.to_string().lines().map(str::trim).collect::<Vec<_>>().join(" ")
}

/// Reads an OCI process JSON (`runsc exec --process FILE`).
pub fn load_process(path: &Path) -> Result<crate::container::ExecProcess, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|_| ConfigError::Missing(path.to_path_buf()))?;
    let p: oci_spec::runtime::Process = serde_json::from_str(&text)
        .map_err(|e| ConfigError::Malformed { path: path.to_path_buf(), msg: e.to_string() })?;
    Ok(crate::container::ExecProcess {
        args: p.args().clone().unwrap_or_default(),
        env: p.env().clone().unwrap_or_default(),
        cwd: p.cwd().to_string_lossy().into_owned(),
        uid: p.user().uid(),
        gid: p.user().gid(),
        terminal: p.terminal().unwrap_or(false),
    })
}

fn from_spec(spec: &Spec, bundle: &Path) -> Result<ContainerConfig, String> {
    let process = spec.process().as_ref().ok_or("no process section")?;
    let args = process.args().clone().unwrap_or_default();
    if args.is_empty() {
        return Err("process.args is empty".into());
    }
    let cwd = process.cwd().to_string_lossy().into_owned();
    if !cwd.starts_with('/') {
        return Err(format!("process.cwd {cwd:?} is not absolute"));
    }
    let user = process.user();
    let root = spec.root().as_ref().ok_or("no root section")?;
    let root_path = if root.path().is_absolute() { root.path().clone() } else { bundle.join(root.path()) };
    if !root_path.is_dir() {
        return Err(format!("root.path {} is not a directory", root_path.display()));
    }
    let mut mounts = Vec::new();
    for m in spec.mounts().as_deref().unwrap_or_default() {
        let destination = m.destination().to_string_lossy().into_owned();
        if !destination.starts_with('/') {
            return Err(format!("mount destination {destination:?} is not absolute"));
        }
        let options = m.options().clone().unwrap_or_default();
        let typ = m.typ().clone().unwrap_or_default();
        let is_bind = typ == "bind" || options.iter().any(|o| o == "bind" || o == "rbind");
        let kind = if is_bind {
            let source = m.source().clone().ok_or_else(|| format!("bind mount {destination} has no source"))?;
            let source = if source.is_absolute() { source } else { bundle.join(source) };
            MountKind::Bind { source, read_only: options.iter().any(|o| o == "ro") }
        } else {
            match typ.as_str() {
                "tmpfs" => MountKind::Tmpfs,
                "proc" => MountKind::Proc,
                "sysfs" => MountKind::Sysfs,
                "devpts" => MountKind::Devpts,
                "mqueue" => MountKind::Mqueue,
                "cgroup" | "cgroup2" => MountKind::Cgroup,
                other => MountKind::Other(other.to_string()),
            }
        };
        mounts.push(MountSpec { destination, kind, options });
    }
    let rlimits = process
        .rlimits()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|r| Rlimit { kind: format!("{:?}", r.typ()), soft: r.soft(), hard: r.hard() })
        .collect();
    let resources = spec.linux().as_ref().and_then(|l| l.resources().as_ref());
    Ok(ContainerConfig {
        bundle: bundle.to_path_buf(),
        args,
        env: process.env().clone().unwrap_or_default(),
        cwd,
        uid: user.uid(),
        gid: user.gid(),
        additional_gids: user.additional_gids().clone().unwrap_or_default(),
        terminal: process.terminal().unwrap_or(false),
        hostname: spec.hostname().clone(),
        root: root_path,
        root_read_only: root.readonly().unwrap_or(false),
        mounts,
        rlimits,
        pids_limit: resources.and_then(|r| r.pids().as_ref()).map(|p| p.limit()),
        memory_limit: resources.and_then(|r| r.memory().as_ref()).and_then(|m| m.limit()),
        annotations: spec.annotations().clone().unwrap_or_default(),
    })
}

/// The default `config.json` that `runsc spec` writes: the same defaults
/// as `runc spec` (`sh` in `rootfs`, read-only root, the standard mounts,
/// namespaces, capabilities and masked paths), hostname `runsc`.
pub fn default_spec_json() -> Result<String, String> {
    let json = include_str!("default-config.json");
    // Prove it parses as a spec before handing it out.
    serde_json::from_str::<Spec>(json).map_err(|e| e.to_string())?;
    Ok(json.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn bundle(tag: &str, config: Option<&str>) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rvisor-oci-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("rootfs")).unwrap();
        if let Some(c) = config {
            fs::write(dir.join("config.json"), c).unwrap();
        }
        dir
    }

    #[test]
    fn default_spec_loads_back_with_the_runc_defaults() {
        let dir = bundle("default", Some(&default_spec_json().unwrap()));
        let c = load_bundle(&dir).unwrap();
        assert_eq!(c.args, vec!["sh"]);
        assert_eq!(c.cwd, "/");
        assert_eq!(c.root, dir.join("rootfs"));
        assert!(c.root_read_only);
        let kinds: Vec<_> = c.mounts.iter().map(|m| (m.destination.as_str(), m.kind.clone())).collect();
        assert!(kinds.contains(&("/proc", MountKind::Proc)), "{kinds:?}");
        assert!(kinds.contains(&("/dev/pts", MountKind::Devpts)), "{kinds:?}");
        assert!(kinds.contains(&("/sys", MountKind::Sysfs)), "{kinds:?}");
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn missing_and_malformed_configs_are_one_line_errors() {
        let dir = bundle("missing", None);
        let e = load_bundle(&dir).unwrap_err().to_string();
        assert!(e.contains("config.json: no such file"), "{e}");
        fs::write(dir.join("config.json"), "{ not json").unwrap();
        let e = load_bundle(&dir).unwrap_err().to_string();
        assert!(e.contains("malformed config.json"), "{e}");
        assert!(!e.contains('\n'));
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn invalid_configs_say_what_is_wrong() {
        let base = serde_json::from_str::<serde_json::Value>(&default_spec_json().unwrap()).unwrap();
        type Edit = Box<dyn Fn(&mut serde_json::Value)>;
        let cases: [(&str, Edit, &str); 3] = [
            ("noargs", Box::new(|v| v["process"]["args"] = serde_json::json!([])), "process.args is empty"),
            ("relcwd", Box::new(|v| v["process"]["cwd"] = serde_json::json!("tmp")), "is not absolute"),
            ("noroot", Box::new(|v| v["root"]["path"] = serde_json::json!("nowhere")), "is not a directory"),
        ];
        for (tag, edit, want) in cases {
            let mut v = base.clone();
            edit(&mut v);
            let dir = bundle(tag, Some(&v.to_string()));
            let e = load_bundle(&dir).unwrap_err().to_string();
            assert!(e.contains(want), "{tag}: {e}");
            fs::remove_dir_all(dir).unwrap();
        }
    }

    #[test]
    fn bind_mounts_and_limits_are_read() {
        let mut v = serde_json::from_str::<serde_json::Value>(&default_spec_json().unwrap()).unwrap();
        v["mounts"].as_array_mut().unwrap().push(serde_json::json!({
            "destination": "/data", "type": "bind", "source": "/srv/data", "options": ["rbind", "ro"]
        }));
        v["linux"]["resources"] = serde_json::json!({ "pids": { "limit": 64 }, "memory": { "limit": 1048576 } });
        v["hostname"] = serde_json::json!("box");
        let dir = bundle("bind", Some(&v.to_string()));
        let c = load_bundle(&dir).unwrap();
        let data = c.mounts.iter().find(|m| m.destination == "/data").unwrap();
        assert_eq!(data.kind, MountKind::Bind { source: "/srv/data".into(), read_only: true });
        assert_eq!(c.pids_limit, Some(64));
        assert_eq!(c.memory_limit, Some(1048576));
        assert_eq!(c.hostname.as_deref(), Some("box"));
        fs::remove_dir_all(dir).unwrap();
    }
}
