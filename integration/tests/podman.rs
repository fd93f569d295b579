//! podman with runsc as its OCI runtime (conmon drives `runsc create`,
//! `start`, `exec --detach`, `kill`, `delete`): an OCI archive of a busybox
//! image built here by hand is `podman load`ed into a private store, run
//! (output and exit status), exec'd into, and stopped.
//!
//! podman bind-mounts files into every container (`/etc/hostname`,
//! `/run/.containerenv`, `/etc/hosts`), which the Gofer cannot serve yet:
//! the test with the real runsc is ignored until it can; the same scenario
//! runs through a wrapper that drops file bind mounts from the spec, so
//! everything else conmon needs is tested in every run.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use sha2::{Digest, Sha256};

const IMAGE: &str = "localhost/rvisor-busybox:test";

fn runsc() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("RVISOR_RUNSC") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::current_exe().ok()?.parent()?.parent()?.join("runsc");
    if path.exists() {
        Some(path)
    } else {
        eprintln!("SKIPPED: no runsc binary at {} (build it with cargo build -p sandbox)", path.display());
        None
    }
}

/// Why podman cannot run here, if it cannot.
fn podman_missing() -> Option<String> {
    match Command::new("podman").arg("--version").output() {
        Ok(o) if o.status.success() => {}
        _ => return Some("podman is not installed (apt-get install -y podman)".into()),
    }
    if !Path::new("/bin/busybox").exists() {
        return Some("/bin/busybox is not installed (busybox-static)".into());
    }
    let uid = fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(1) == Some("0")));
    if uid != Some(true) {
        return Some("needs root".into());
    }
    None
}

fn sha256(data: &[u8]) -> String {
    format!("{:x}", Sha256::digest(data))
}

fn tar_of(entries: &[(&str, tar::EntryType, u32, Vec<u8>, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, kind, mode, data, link) in entries {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(*kind);
        h.set_mode(*mode);
        h.set_size(data.len() as u64);
        h.set_mtime(0);
        if !link.is_empty() {
            h.set_link_name(link).unwrap();
        }
        b.append_data(&mut h, path, data.as_slice()).unwrap();
    }
    b.into_inner().unwrap()
}

/// An OCI image layout (tar) with one uncompressed layer: busybox and a
/// few applet links.
fn busybox_archive() -> Vec<u8> {
    use tar::EntryType::{Directory, Regular, Symlink};
    let mut entries = Vec::new();
    for d in ["bin", "etc", "tmp", "proc", "dev", "sys", "run", "root"] {
        entries.push((d, Directory, if d == "tmp" { 0o1777 } else { 0o755 }, Vec::new(), ""));
    }
    entries.push(("bin/busybox", Regular, 0o755, fs::read("/bin/busybox").unwrap(), ""));
    for a in ["bin/sh", "bin/echo", "bin/sleep", "bin/cat", "bin/true"] {
        entries.push((a, Symlink, 0o777, Vec::new(), "busybox"));
    }
    entries.push(("etc/passwd", Regular, 0o644, b"root:x:0:0:root:/root:/bin/sh\n".to_vec(), ""));
    entries.push(("etc/group", Regular, 0o644, b"root:x:0:\n".to_vec(), ""));
    let layer = tar_of(&entries);
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", sha256(&layer))]}
    })
    .to_string()
    .into_bytes();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": format!("sha256:{}", sha256(&config)), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": format!("sha256:{}", sha256(&layer)), "size": layer.len()}]
    })
    .to_string()
    .into_bytes();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": format!("sha256:{}", sha256(&manifest)), "size": manifest.len(),
                       "annotations": {"org.opencontainers.image.ref.name": IMAGE}}]
    })
    .to_string()
    .into_bytes();
    let blob = |d: &[u8]| format!("blobs/sha256/{}", sha256(d));
    let (lb, cb, mb) = (blob(&layer), blob(&config), blob(&manifest));
    tar_of(&[
        ("oci-layout", Regular, 0o644, br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(), ""),
        ("index.json", Regular, 0o644, index, ""),
        (&lb, Regular, 0o644, layer, ""),
        (&cb, Regular, 0o644, config, ""),
        (&mb, Regular, 0o644, manifest, ""),
    ])
}

/// podman with a private store under a temporary directory.
struct Podman {
    dir: PathBuf,
    runtime: PathBuf,
}

impl Podman {
    fn new(tag: &str, runtime: PathBuf) -> Podman {
        let dir = std::env::temp_dir().join(format!("rvisor-podman-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Podman { dir, runtime }
    }

    fn cmd(&self, args: &[&str]) -> Output {
        let out = Command::new("podman")
            .arg("--root")
            .arg(self.dir.join("storage"))
            .arg("--runroot")
            .arg(self.dir.join("run"))
            .arg("--tmpdir")
            .arg(self.dir.join("libpod"))
            .args(["--cgroup-manager=cgroupfs", "--events-backend=file", "--runtime"])
            .arg(&self.runtime)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        eprintln!(
            "$ podman {}\n-> {:?}\n{}{}",
            args.join(" "),
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.cmd(&["rm", "--all", "--force", "--time", "0"]);
        let _ = self.cmd(&["rmi", "--all", "--force"]);
        // containers/storage keeps its overlay directory mounted.
        let _ = Command::new("umount").arg("-l").arg(self.dir.join("storage/overlay")).output();
        let _ = fs::remove_dir_all(&self.dir);
        // podman's own cgroups for conmon (left behind by podman itself).
        for h in fs::read_dir("/sys/fs/cgroup").into_iter().flatten().flatten() {
            let _ = fs::remove_dir(h.path().join("libpod_parent/conmon"));
            let _ = fs::remove_dir(h.path().join("libpod_parent"));
        }
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Loads the image, runs, execs and stops containers under `runtime`.
fn scenario(tag: &str, runtime: PathBuf) {
    let p = Podman::new(tag, runtime);
    let archive = p.dir.join("busybox.tar");
    fs::write(&archive, busybox_archive()).unwrap();
    let out = p.cmd(&["load", "-i", archive.to_str().unwrap()]);
    assert!(out.status.success(), "podman load: {}", text(&out.stderr));

    let limits = ["--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"];
    let run = |extra: &[&str], cmd: &[&str]| {
        let mut args = vec!["run"];
        args.extend(extra);
        args.extend(limits);
        args.push(IMAGE);
        args.extend(cmd);
        p.cmd(&args)
    };
    let out = run(&["--rm"], &["sh", "-c", "echo hello from podman; exit 3"]);
    assert_eq!(text(&out.stdout), "hello from podman\n", "{}", text(&out.stderr));
    assert_eq!(out.status.code(), Some(3));

    let name = format!("rvisor-{tag}");
    let out = run(&["-d", "--name", &name], &["sh", "-c", "echo started; while :; do sleep 1; done"]);
    assert!(out.status.success(), "podman run -d: {}", text(&out.stderr));
    let out = p.cmd(&["exec", &name, "echo", "from exec"]);
    assert_eq!((text(&out.stdout).as_str(), out.status.code()), ("from exec\n", Some(0)), "{}", text(&out.stderr));
    let out = p.cmd(&["exec", &name, "sh", "-c", "exit 5"]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    let out = p.cmd(&["logs", &name]);
    assert!(text(&out.stdout).contains("started"), "{}", text(&out.stderr));
    // sh as PID 1 ignores SIGTERM (as under runc): podman resorts to SIGKILL.
    let out = p.cmd(&["stop", "--time", "1", &name]);
    assert!(out.status.success(), "podman stop: {}", text(&out.stderr));
    let out = p.cmd(&["ps", "--all", "--format", "{{.Names}} {{.Status}}"]);
    let line = text(&out.stdout).lines().find(|l| l.starts_with(&name)).map(str::to_owned).unwrap_or_default();
    assert!(line.contains("Exited (137)"), "{}", text(&out.stdout));
    let out = p.cmd(&["rm", &name]);
    assert!(out.status.success(), "podman rm: {}", text(&out.stderr));
}

#[test]
#[ignore = "sandbox: the Gofer cannot serve file bind mounts (podman's /etc/hostname, /run/.containerenv)"]
fn podman_runs_execs_and_stops_under_runsc() {
    if let Some(why) = podman_missing() {
        eprintln!("SKIPPED: {why}");
        return;
    }
    let Some(runsc) = runsc() else { return };
    scenario("runsc", runsc);
}

#[test]
fn podman_works_with_runsc_once_file_mounts_are_dropped() {
    if let Some(why) = podman_missing() {
        eprintln!("SKIPPED: {why}");
        return;
    }
    let Some(runsc) = runsc() else { return };
    let dir = std::env::temp_dir().join(format!("rvisor-podman-wrapper-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let wrapper = dir.join("runsc-without-file-mounts");
    let mut f = fs::File::create(&wrapper).unwrap();
    // Drops bind mounts of files from the bundle's config.json, then runs
    // runsc with the same arguments.
    write!(
        f,
        r#"#!/bin/sh
prev=""
for a in "$@"; do
  if [ "$prev" = "--bundle" ] || [ "$prev" = "-b" ]; then
    python3 - "$a/config.json" <<'PY'
import json, os, sys
p = sys.argv[1]
c = json.load(open(p))
c["mounts"] = [m for m in c.get("mounts", []) if not (m.get("type") == "bind" and os.path.isfile(m.get("source", "")))]
json.dump(c, open(p, "w"))
PY
  fi
  prev="$a"
done
exec {} "$@"
"#,
        runsc.display()
    )
    .unwrap();
    drop(f);
    fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).unwrap();
    let result = std::panic::catch_unwind(|| scenario("wrapped", wrapper.clone()));
    let _ = fs::remove_dir_all(&dir);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}
