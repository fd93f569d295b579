//! OCI bundles for the tests: a busybox root file system with the compiled
//! guests under `/guests/`, and a `config.json` generated from builder
//! settings that mimic `runc spec` defaults.
//!
//! Differences from `runc spec`, chosen for tests: no terminal, a writable
//! root by default (see [`Bundle::readonly_root`]), `HOME` in the environment
//! and a `rvisor` hostname.

use std::fs;
use std::io;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{json, Value};

use crate::guests;

/// Setting this environment variable keeps bundle directories after the test
/// (their paths are printed to stderr) for inspection.
pub const KEEP_ENV: &str = "RVISOR_KEEP_BUNDLES";

/// The busybox binary installed into every rootfs.
pub const BUSYBOX: &str = "/bin/busybox";

/// Errors while building a bundle.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// A file-system operation on the bundle failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The guest programs could not be compiled.
    #[error("{0}")]
    Guests(String),
    /// busybox is missing or unusable.
    #[error("busybox: {0}")]
    Busybox(String),
}

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> BundleError {
    let path = path.to_owned();
    move |source| BundleError::Io { what, path, source }
}

/// A bind mount added to the spec.
#[derive(Debug, Clone)]
struct BindMount {
    source: PathBuf,
    destination: String,
    readonly: bool,
}

/// A temporary OCI bundle directory (`config.json` + `rootfs/`), removed on
/// drop unless [`KEEP_ENV`] is set.
///
/// Builder methods change the process and container settings; the
/// `config.json` is (re)written by [`Bundle::write_config`], which the
/// runtime helpers call before every run, so a bundle can be reused for
/// several runs with different arguments.
#[derive(Debug)]
pub struct Bundle {
    dir: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    cwd: String,
    uid: u32,
    gid: u32,
    hostname: String,
    readonly_root: bool,
    binds: Vec<BindMount>,
}

impl Bundle {
    /// Creates a bundle with a fresh rootfs under `std::env::temp_dir()`.
    ///
    /// Defaults: args `["/bin/true"]`, env `PATH`, `HOME=/root`,
    /// `TERM=xterm`, cwd `/`, uid/gid 0, hostname `rvisor`, writable root.
    pub fn new() -> Result<Bundle, BundleError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let guests = guests::compiled().map_err(BundleError::Guests)?;
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "rvisor-bundle-{}-{}-{:x}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            nanos & 0xffff_ffff
        ));
        fs::create_dir(&dir).map_err(io_err("creating bundle", &dir))?;
        let bundle = Bundle {
            dir,
            args: vec!["/bin/true".into()],
            env: vec![
                ("PATH".into(), "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()),
                ("HOME".into(), "/root".into()),
                ("TERM".into(), "xterm".into()),
            ],
            cwd: "/".into(),
            uid: 0,
            gid: 0,
            hostname: "rvisor".into(),
            readonly_root: false,
            binds: Vec::new(),
        };
        // On error the partially built bundle is dropped (and removed).
        bundle.populate_rootfs(guests)?;
        bundle.write_config()?;
        Ok(bundle)
    }

    /// The bundle directory (holds `config.json` and `rootfs/`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The root file system directory.
    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    /// Sets the process arguments (`args[0]` is the program path inside the
    /// container).
    pub fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args = args.into_iter().map(Into::into).collect();
        self
    }

    /// Runs guest `name` (`/guests/<name>`) with extra arguments.
    pub fn guest(&mut self, name: &str, extra: &[&str]) -> &mut Self {
        let mut args = vec![format!("/guests/{name}")];
        args.extend(extra.iter().map(|s| s.to_string()));
        self.args(args)
    }

    /// Runs `/bin/sh -c script`.
    pub fn shell(&mut self, script: &str) -> &mut Self {
        self.args(["/bin/sh", "-c", script])
    }

    /// Sets (or replaces) an environment variable of the process.
    pub fn env(&mut self, key: &str, value: &str) -> &mut Self {
        match self.env.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value.into(),
            None => self.env.push((key.into(), value.into())),
        }
        self
    }

    /// Sets the working directory of the process (absolute, inside the
    /// container).
    pub fn cwd(&mut self, cwd: &str) -> &mut Self {
        self.cwd = cwd.into();
        self
    }

    /// Sets the uid and gid of the process.
    pub fn user(&mut self, uid: u32, gid: u32) -> &mut Self {
        self.uid = uid;
        self.gid = gid;
        self
    }

    /// Sets the container's hostname (UTS namespace).
    pub fn hostname(&mut self, hostname: &str) -> &mut Self {
        self.hostname = hostname.into();
        self
    }

    /// Makes the root file system read-only (as `runc spec` does by default).
    pub fn readonly_root(&mut self, readonly: bool) -> &mut Self {
        self.readonly_root = readonly;
        self
    }

    /// Adds a bind mount of host `source` at container path `destination`.
    pub fn bind_mount(&mut self, source: impl Into<PathBuf>, destination: &str, readonly: bool) -> &mut Self {
        self.binds.push(BindMount { source: source.into(), destination: destination.into(), readonly });
        self
    }

    /// The OCI runtime spec for the current settings.
    pub fn spec(&self) -> Value {
        let env: Vec<String> = self.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
        let mut mounts = vec![
            json!({"destination": "/proc", "type": "proc", "source": "proc"}),
            json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                   "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
            json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts",
                   "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
            json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                   "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
            json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
                   "options": ["nosuid", "noexec", "nodev"]}),
            json!({"destination": "/sys", "type": "sysfs", "source": "sysfs",
                   "options": ["nosuid", "noexec", "nodev", "ro"]}),
            json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                   "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}),
        ];
        for b in &self.binds {
            let mut options = vec!["rbind", "rprivate"];
            if b.readonly {
                options.push("ro");
            }
            mounts.push(json!({"destination": b.destination, "type": "bind",
                               "source": b.source, "options": options}));
        }
        json!({
            "ociVersion": "1.0.2-dev",
            "process": {
                "terminal": false,
                "user": {"uid": self.uid, "gid": self.gid},
                "args": self.args,
                "env": env,
                "cwd": self.cwd,
                "capabilities": {
                    "bounding": caps, "effective": caps, "permitted": caps, "ambient": caps,
                },
                "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
                "noNewPrivileges": true,
            },
            "root": {"path": "rootfs", "readonly": self.readonly_root},
            "hostname": self.hostname,
            "mounts": mounts,
            "linux": {
                "resources": {"devices": [{"allow": false, "access": "rwm"}]},
                "namespaces": [
                    {"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"},
                ],
                "maskedPaths": [
                    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
                ],
                "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
            },
        })
    }

    /// Writes `config.json` (and the rootfs `/etc/hostname`) for the
    /// current settings.
    pub fn write_config(&self) -> Result<(), BundleError> {
        let hostname = self.rootfs().join("etc/hostname");
        fs::write(&hostname, format!("{}\n", self.hostname)).map_err(io_err("writing", &hostname))?;
        let path = self.dir.join("config.json");
        let text = serde_json::to_string_pretty(&self.spec()).expect("a JSON value serialises");
        fs::write(&path, text).map_err(io_err("writing", &path))
    }

    /// Empties the rootfs `/tmp` (a guest's leftovers must not leak into the
    /// next run of the same bundle, e.g. from runc into runsc).
    pub fn reset_tmp(&self) -> Result<(), BundleError> {
        let tmp = self.rootfs().join("tmp");
        for entry in fs::read_dir(&tmp).map_err(io_err("listing", &tmp))? {
            let path = entry.map_err(io_err("listing", &tmp))?.path();
            let removed = match fs::symlink_metadata(&path) {
                Ok(m) if m.is_dir() => fs::remove_dir_all(&path),
                _ => fs::remove_file(&path),
            };
            removed.map_err(io_err("removing", &path))?;
        }
        Ok(())
    }

    fn populate_rootfs(&self, guests: &guests::Guests) -> Result<(), BundleError> {
        let root = self.rootfs();
        for d in ["bin", "sbin", "usr/bin", "usr/sbin", "etc", "root", "proc", "sys", "dev", "guests"] {
            let p = root.join(d);
            fs::create_dir_all(&p).map_err(io_err("creating", &p))?;
        }
        let tmp = root.join("tmp");
        fs::create_dir(&tmp).map_err(io_err("creating", &tmp))?;
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o1777)).map_err(io_err("chmod", &tmp))?;

        // busybox and its applet symlinks (copied, not hard-linked: a guest
        // running as root must not be able to modify a host file).
        let bb = root.join("bin/busybox");
        fs::copy(BUSYBOX, &bb).map_err(io_err("copying busybox to", &bb))?;
        let list = Command::new(BUSYBOX)
            .arg("--list-full")
            .output()
            .map_err(|e| BundleError::Busybox(format!("{BUSYBOX} --list-full: {e}")))?;
        if !list.status.success() {
            return Err(BundleError::Busybox(format!(
                "{BUSYBOX} --list-full failed ({}): {}",
                list.status,
                String::from_utf8_lossy(&list.stderr)
            )));
        }
        for applet in String::from_utf8_lossy(&list.stdout).lines().map(str::trim) {
            if applet.is_empty() || applet == "bin/busybox" || applet.starts_with('/') || applet.contains("..") {
                continue;
            }
            let link = root.join(applet);
            if let Some(parent) = link.parent() {
                fs::create_dir_all(parent).map_err(io_err("creating", parent))?;
            }
            match symlink("/bin/busybox", &link) {
                Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(io_err("symlinking", &link)(e)),
                _ => {}
            }
        }

        let etc = root.join("etc");
        let files: [(&str, String); 2] = [
            (
                "passwd",
                "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/tmp:/bin/sh\n\
                 nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
                    .into(),
            ),
            ("group", "root:x:0:\nuser:x:1000:\nnogroup:x:65534:\n".into()),
        ];
        for (name, text) in files {
            let p = etc.join(name);
            fs::write(&p, text).map_err(io_err("writing", &p))?;
        }

        for name in &guests.names {
            let dst = root.join("guests").join(name);
            fs::copy(guests.path(name), &dst).map_err(io_err("copying guest to", &dst))?;
        }
        Ok(())
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        if std::env::var_os(KEEP_ENV).is_some() {
            eprintln!("{KEEP_ENV}: keeping bundle {}", self.dir.display());
            return;
        }
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            eprintln!("warning: cannot remove bundle {}: {e}", self.dir.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bare() -> Bundle {
        Bundle {
            dir: PathBuf::from("/nonexistent-bundle"),
            args: vec!["/bin/true".into()],
            env: vec![("PATH".into(), "/bin".into())],
            cwd: "/".into(),
            uid: 0,
            gid: 0,
            hostname: "h".into(),
            readonly_root: false,
            binds: Vec::new(),
        }
    }

    #[test]
    fn spec_reflects_builder() {
        let mut b = bare();
        b.args(["/bin/sh", "-c", "true"]).env("A", "1").env("PATH", "/x").cwd("/tmp").user(5, 6).hostname("box");
        b.readonly_root(true).bind_mount("/srv", "/mnt", true);
        let s = b.spec();
        assert_eq!(s["process"]["args"], json!(["/bin/sh", "-c", "true"]));
        assert_eq!(s["process"]["env"], json!(["PATH=/x", "A=1"]));
        assert_eq!(s["process"]["cwd"], "/tmp");
        assert_eq!(s["process"]["user"], json!({"uid": 5, "gid": 6}));
        assert_eq!(s["process"]["terminal"], false);
        assert_eq!(s["hostname"], "box");
        assert_eq!(s["root"]["readonly"], true);
        let mounts = s["mounts"].as_array().unwrap();
        assert_eq!(mounts.len(), 8);
        assert_eq!(mounts[7]["options"], json!(["rbind", "rprivate", "ro"]));
        let ns: Vec<_> = s["linux"]["namespaces"].as_array().unwrap().iter().map(|n| n["type"].clone()).collect();
        assert_eq!(ns, [json!("pid"), json!("network"), json!("ipc"), json!("uts"), json!("mount")]);
        std::mem::forget(b); // nothing to remove
    }
}
