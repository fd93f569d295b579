//! Runtime options: the `runtimeoptions.v1.Options` message containerd
//! passes with a task (its `ConfigPath`), and the `runsc.toml` it points at,
//! whose `[runsc_config]` table becomes runsc global flags.
//!
//! ```toml
//! # optional: the runsc binary and the state root
//! binary_name = "/usr/local/bin/runsc"
//! root = "/run/containerd/runsc"
//! [runsc_config]
//! platform = "ptrace"
//! debug = "true"
//! debug-log = "/tmp/runsc/%ID%.log"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Type URL of gVisor's (and CRI's) runtime options message.
pub const RUNTIME_OPTIONS_TYPE_URL: &str = "runtimeoptions.v1.Options";
/// Type URL of the runc shim's options, which `ctr` may send.
pub const RUNC_OPTIONS_TYPE_URL: &str = "containerd.runc.v1.Options";

/// The runsc global flags `[runsc_config]` may set.
pub const KNOWN_FLAGS: &[&str] = &["root", "platform", "debug", "debug-log", "strace"];

/// Platforms runsc accepts.
const PLATFORMS: &[&str] = &["ptrace", "kvm"];

/// A problem with the runtime options or `runsc.toml`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// The options message could not be decoded.
    #[error("invalid runtime options ({type_url}): {msg}")]
    BadOptions {
        /// The message's type URL.
        type_url: String,
        /// What is wrong.
        msg: String,
    },
    /// The options message has a type the shim does not know.
    #[error("unsupported runtime options type {0:?}: expected {RUNTIME_OPTIONS_TYPE_URL}")]
    UnknownOptionsType(String),
    /// `runsc.toml` could not be read.
    #[error("reading runsc config {path}: {msg}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        msg: String,
    },
    /// `runsc.toml` is not valid TOML or has unknown keys.
    #[error("parsing runsc config {path}: {msg}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
    /// A `[runsc_config]` entry that is not a supported runsc flag.
    #[error("{path}: [runsc_config] key {key:?} is not a supported runsc flag (supported: {known})", known = KNOWN_FLAGS.join(", "))]
    UnknownFlag {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
    },
    /// A `[runsc_config]` entry with a value the flag does not accept.
    #[error("{path}: [runsc_config] {key} = {value:?}: {msg}")]
    BadValue {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
        /// The value.
        value: String,
        /// What is wrong.
        msg: String,
    },
}

/// The shape of `runsc.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunscToml {
    binary_name: Option<PathBuf>,
    root: Option<PathBuf>,
    /// Accepted for compatibility with gVisor's file; the shim's own log
    /// level follows containerd's `-debug`.
    #[allow(dead_code)]
    log_level: Option<String>,
    /// Accepted for compatibility with gVisor's file; the shim logs to the
    /// log FIFO containerd hands it.
    #[allow(dead_code)]
    log_path: Option<String>,
    #[serde(default)]
    runsc_config: BTreeMap<String, toml::Value>,
}

/// The resolved runsc settings for a container: global flags plus where
/// the runsc binary lives. Persisted in the bundle so that the shim's
/// `delete` action finds the same state root.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunscConfig {
    /// The runsc binary (`binary_name`); `None`: next to the shim, or PATH.
    pub binary: Option<PathBuf>,
    /// `--root`: the state root; `None`: the shim's default per namespace.
    pub root: Option<PathBuf>,
    /// `--platform`.
    pub platform: Option<String>,
    /// `--debug`.
    pub debug: bool,
    /// `--debug-log`, with `%ID%` still unexpanded.
    pub debug_log: Option<String>,
    /// `--strace`.
    pub strace: bool,
}

fn parse_bool(path: &Path, key: &str, value: &str) -> Result<bool, ConfigError> {
    match value {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" | "" => Ok(false),
        _ => Err(ConfigError::BadValue {
            path: path.into(),
            key: key.into(),
            value: value.into(),
            msg: "expected true or false".into(),
        }),
    }
}

fn value_string(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        toml::Value::Integer(i) => Some(i.to_string()),
        _ => None,
    }
}

impl RunscConfig {
    /// Parses the text of a `runsc.toml` (`path` is for messages only).
    pub fn parse(text: &str, path: &Path) -> Result<RunscConfig, ConfigError> {
        let file: RunscToml =
            toml::from_str(text).map_err(|e| ConfigError::Parse { path: path.into(), msg: e.message().to_string() })?;
        let mut cfg = RunscConfig { binary: file.binary_name, root: file.root, ..Default::default() };
        for (key, raw) in &file.runsc_config {
            let value = value_string(raw).ok_or_else(|| ConfigError::BadValue {
                path: path.into(),
                key: key.clone(),
                value: raw.to_string(),
                msg: "expected a string, boolean or integer".into(),
            })?;
            match key.as_str() {
                "root" => cfg.root = Some(PathBuf::from(value)),
                "platform" => {
                    if !PLATFORMS.contains(&value.as_str()) {
                        return Err(ConfigError::BadValue {
                            path: path.into(),
                            key: key.clone(),
                            value,
                            msg: format!("supported platforms: {}", PLATFORMS.join(", ")),
                        });
                    }
                    cfg.platform = Some(value);
                }
                "debug" => cfg.debug = parse_bool(path, key, &value)?,
                "strace" => cfg.strace = parse_bool(path, key, &value)?,
                "debug-log" => cfg.debug_log = Some(value).filter(|v| !v.is_empty()),
                _ => return Err(ConfigError::UnknownFlag { path: path.into(), key: key.clone() }),
            }
        }
        Ok(cfg)
    }

    /// Reads and parses a `runsc.toml`.
    pub fn load(path: &Path) -> Result<RunscConfig, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| ConfigError::Read { path: path.into(), msg: e.to_string() })?;
        RunscConfig::parse(&text, path)
    }

    /// The settings from the options message containerd attached to a task
    /// (`type_url` and encoded `value` of its `Any`); no options: defaults.
    pub fn from_options(type_url: &str, value: &[u8]) -> Result<RunscConfig, ConfigError> {
        let name = type_url.rsplit('/').next().unwrap_or(type_url);
        if type_url.is_empty() {
            return Ok(RunscConfig::default());
        }
        let bad = |msg: String| ConfigError::BadOptions { type_url: type_url.into(), msg };
        match name {
            RUNTIME_OPTIONS_TYPE_URL => {
                let fields = decode_string_fields(value).map_err(bad)?;
                match fields.get(&2).filter(|p| !p.is_empty()) {
                    Some(p) => RunscConfig::load(Path::new(p)),
                    None => Ok(RunscConfig::default()),
                }
            }
            RUNC_OPTIONS_TYPE_URL => {
                // binary_name = 6, root = 7; the runc-only knobs do not apply.
                let fields = decode_string_fields(value).map_err(bad)?;
                let get = |n| fields.get(&n).filter(|s| !s.is_empty()).map(PathBuf::from);
                Ok(RunscConfig { binary: get(6), root: get(7), ..Default::default() })
            }
            _ => Err(ConfigError::UnknownOptionsType(type_url.into())),
        }
    }

    /// The runsc global flags these settings stand for, `--key=value`.
    pub fn flags(&self, id: &str) -> Vec<String> {
        let mut flags = Vec::new();
        if let Some(root) = &self.root {
            flags.push(format!("--root={}", root.display()));
        }
        if let Some(p) = &self.platform {
            flags.push(format!("--platform={p}"));
        }
        if self.debug {
            flags.push("--debug=true".into());
        }
        if let Some(log) = self.debug_log_for(id) {
            flags.push(format!("--debug-log={log}"));
        }
        if self.strace {
            flags.push("--strace=true".into());
        }
        flags
    }

    /// `debug-log` with `%ID%` replaced by the container id.
    pub fn debug_log_for(&self, id: &str) -> Option<String> {
        self.debug_log.as_ref().map(|l| l.replace("%ID%", id))
    }
}

/// Decodes the length-delimited (string) fields of a protobuf message;
/// other wire types are skipped.
fn decode_string_fields(mut buf: &[u8]) -> Result<BTreeMap<u32, String>, String> {
    fn varint(buf: &mut &[u8]) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = buf.split_first().ok_or("truncated varint")?;
            *buf = rest;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint too long".into())
    }
    let mut out = BTreeMap::new();
    while !buf.is_empty() {
        let key = varint(&mut buf)?;
        let field = u32::try_from(key >> 3).map_err(|_| "field number out of range")?;
        match key & 7 {
            0 => {
                varint(&mut buf)?;
            }
            1 | 5 => {
                let n = if key & 7 == 1 { 8 } else { 4 };
                buf = buf.get(n..).ok_or("truncated fixed field")?;
            }
            2 => {
                let len = usize::try_from(varint(&mut buf)?).map_err(|_| "length out of range")?;
                let data = buf.get(..len).ok_or("truncated field")?;
                buf = &buf[len..];
                let s = String::from_utf8(data.to_vec()).map_err(|_| format!("field {field} is not UTF-8"))?;
                out.insert(field, s);
            }
            w => return Err(format!("unsupported wire type {w}")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("/etc/containerd/runsc.toml")
    }

    #[test]
    fn runsc_config_entries_become_flags() {
        let cfg = RunscConfig::parse(
            r#"
            [runsc_config]
            platform = "ptrace"
            debug-log = "/tmp/runsc/%ID%.log"
            debug = "true"
            strace = true
            "#,
            p(),
        )
        .unwrap();
        assert_eq!(cfg.platform.as_deref(), Some("ptrace"));
        assert!(cfg.debug && cfg.strace);
        assert_eq!(
            cfg.flags("c1"),
            ["--platform=ptrace", "--debug=true", "--debug-log=/tmp/runsc/c1.log", "--strace=true"]
        );
    }

    #[test]
    fn top_level_keys_and_root() {
        let cfg = RunscConfig::parse(
            "binary_name = \"/opt/runsc\"\nroot = \"/r1\"\nlog_level = \"debug\"\n[runsc_config]\nroot = \"/r2\"\n",
            p(),
        )
        .unwrap();
        assert_eq!(cfg.binary.as_deref(), Some(Path::new("/opt/runsc")));
        // [runsc_config] wins: it is the runsc flag itself.
        assert_eq!(cfg.root.as_deref(), Some(Path::new("/r2")));
        assert_eq!(cfg.flags("x"), ["--root=/r2"]);
        assert_eq!(RunscConfig::parse("", p()).unwrap(), RunscConfig::default());
    }

    #[test]
    fn unknown_or_bad_entries_are_clear_errors() {
        let e = RunscConfig::parse("[runsc_config]\nnetwork = \"none\"\n", p()).unwrap_err();
        assert!(matches!(&e, ConfigError::UnknownFlag { key, .. } if key == "network"), "{e}");
        assert!(e.to_string().contains("not a supported runsc flag"), "{e}");
        let e = RunscConfig::parse("[runsc_config]\nplatform = \"vmx\"\n", p()).unwrap_err();
        assert!(e.to_string().contains("supported platforms"), "{e}");
        let e = RunscConfig::parse("[runsc_config]\ndebug = \"maybe\"\n", p()).unwrap_err();
        assert!(e.to_string().contains("expected true or false"), "{e}");
        let e = RunscConfig::parse("[runsc_config]\ndebug = [1]\n", p()).unwrap_err();
        assert!(matches!(e, ConfigError::BadValue { .. }), "{e}");
        let e = RunscConfig::parse("bogus = 1\n", p()).unwrap_err();
        assert!(matches!(e, ConfigError::Parse { .. }), "{e}");
        let e = RunscConfig::parse("[runsc_config", p()).unwrap_err();
        assert!(matches!(e, ConfigError::Parse { .. }), "{e}");
    }

    fn field(n: u8, s: &str) -> Vec<u8> {
        let mut v = vec![n << 3 | 2, s.len() as u8];
        v.extend_from_slice(s.as_bytes());
        v
    }

    #[test]
    fn runtime_options_point_at_the_config() {
        let dir = std::env::temp_dir().join(format!("shim-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("runsc.toml");
        std::fs::write(&path, "[runsc_config]\nplatform = \"kvm\"\n").unwrap();
        let mut msg = field(1, "io.containerd.runsc.v1.options");
        msg.extend(field(2, path.to_str().unwrap()));
        let cfg = RunscConfig::from_options("runtimeoptions.v1.Options", &msg).unwrap();
        assert_eq!(cfg.platform.as_deref(), Some("kvm"));
        // With the type.googleapis.com prefix too.
        let cfg = RunscConfig::from_options("type.googleapis.com/runtimeoptions.v1.Options", &msg).unwrap();
        assert_eq!(cfg.platform.as_deref(), Some("kvm"));
        std::fs::remove_dir_all(&dir).unwrap();

        assert_eq!(RunscConfig::from_options("", &[]).unwrap(), RunscConfig::default());
        assert_eq!(RunscConfig::from_options(RUNTIME_OPTIONS_TYPE_URL, &[]).unwrap(), RunscConfig::default());
        let e = RunscConfig::from_options(RUNTIME_OPTIONS_TYPE_URL, &field(2, "/nonexistent/runsc.toml")).unwrap_err();
        assert!(matches!(e, ConfigError::Read { .. }), "{e}");
        let e = RunscConfig::from_options(RUNTIME_OPTIONS_TYPE_URL, &[0x12, 0x40, b'a']).unwrap_err();
        assert!(matches!(e, ConfigError::BadOptions { .. }), "{e}");
        let e = RunscConfig::from_options("foo.Options", &[]).unwrap_err();
        assert!(matches!(e, ConfigError::UnknownOptionsType(_)), "{e}");

        let mut runc = vec![0x08, 0x01]; // no_pivot_root = true (varint)
        runc.extend(field(6, "/usr/bin/runsc"));
        runc.extend(field(7, "/run/x"));
        let cfg = RunscConfig::from_options(RUNC_OPTIONS_TYPE_URL, &runc).unwrap();
        assert_eq!(cfg.binary.as_deref(), Some(Path::new("/usr/bin/runsc")));
        assert_eq!(cfg.root.as_deref(), Some(Path::new("/run/x")));
    }
}
