//! podman drives runsc as its OCI runtime (`--runtime`), as it drives runc:
//! an image loaded from an OCI archive the test writes runs, prints what it
//! prints under runc, takes `podman exec` and stops with `podman stop`.
//!
//! podman keeps its images and containers in a private store (`--root`,
//! `--runroot`, the `vfs` driver: no mounts left behind), uses cgroupfs (no
//! systemd here) and no network. The hard rlimits of these machines are
//! lower than podman's defaults, hence the explicit `--ulimit`s.
//!
//! Skipped (with a message) without podman, busybox or `RVISOR_RUNSC`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const IMAGE: &str = "localhost/rvisor-busybox:latest";

struct Podman {
    dir: PathBuf,
    runtime: String,
}

impl Podman {
    fn new(tag: &str, runtime: &str) -> Podman {
        let dir = std::env::temp_dir().join(format!("rvisor-podman-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Podman { dir, runtime: runtime.to_string() }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("podman");
        c.arg("--root").arg(self.dir.join("storage"));
        c.arg("--runroot").arg(self.dir.join("run"));
        c.args(["--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "file"]);
        c.args(["--runtime", &self.runtime]);
        c.args(args).stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Runs podman `args`, which must succeed; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "podman {args:?} under {}: {}{}",
            self.runtime,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn load(&self, archive: &Path) {
        let out = self.ok(&["load", "-i", archive.to_str().unwrap()]);
        assert!(out.contains("rvisor-busybox"), "{out}");
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.run(&["rm", "--all", "--force", "--time", "0"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `podman run` flags shared by every run here.
const RUN: &[&str] = &["--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"];

fn prerequisites() -> Option<String> {
    let runsc = match std::env::var("RVISOR_RUNSC") {
        Ok(r) => r,
        Err(_) => {
            eprintln!("SKIPPED: RVISOR_RUNSC is not set (the runsc binary to test)");
            return None;
        }
    };
    if Command::new("podman").arg("--version").output().map(|o| !o.status.success()).unwrap_or(true) {
        eprintln!("SKIPPED: podman is not installed (Debian package podman)");
        return None;
    }
    if !Path::new("/bin/busybox").exists() {
        eprintln!("SKIPPED: /bin/busybox not installed (Debian package busybox-static)");
        return None;
    }
    Some(std::fs::canonicalize(runsc).unwrap().to_string_lossy().into_owned())
}

/// What one container does in the test, under either runtime.
fn session(p: &Podman) -> Vec<String> {
    let archive = p.dir.join("image.tar");
    integration::image::build_busybox_archive(Path::new("/bin/busybox"), &archive, IMAGE, &["sh"]).unwrap();
    p.load(&archive);
    let mut seen = Vec::new();
    // A run in the foreground: output, and the exit status.
    let mut run = vec!["run", "--rm"];
    run.extend(RUN);
    run.extend([IMAGE, "sh", "-c", "echo hello from $(id -u); cat /etc/hostname >/dev/null && echo hostname; exit 3"]);
    let out = p.run(&run);
    seen.push(format!("run: {:?} {}", out.status.code(), String::from_utf8_lossy(&out.stdout)));

    // A detached container, exec into it, stop it.
    let mut run = vec!["run", "-d", "--name", "c1", "--stop-signal", "TERM"];
    run.extend(RUN);
    run.extend([IMAGE, "sh", "-c", "trap 'echo stopping; exit 0' TERM; echo started; while true; do sleep 1; done"]);
    p.ok(&run);
    seen.push(format!("exec: {}", p.ok(&["exec", "c1", "sh", "-c", "echo exec $(id -u) in $PWD"])));
    let out = p.run(&["exec", "c1", "sh", "-c", "exit 5"]);
    seen.push(format!("exec status: {:?}", out.status.code()));
    p.ok(&["stop", "--time", "10", "c1"]);
    let state = p.ok(&["inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", "c1"]);
    seen.push(format!("after stop: {state}"));
    seen.push(format!("logs: {}", p.ok(&["logs", "c1"])));
    p.ok(&["rm", "c1"]);
    seen
}

#[test]
fn podman_runs_execs_and_stops_a_container_as_under_runc() {
    let Some(runsc) = prerequisites() else { return };
    let under_runc = session(&Podman::new("runc", "runc"));
    let under_runsc = session(&Podman::new("runsc", &runsc));
    assert_eq!(under_runsc, under_runc, "podman under runsc differs from podman under runc");
    // And the session did what it should.
    assert_eq!(under_runc[0], "run: Some(3) hello from 0\nhostname\n", "{under_runc:?}");
    assert_eq!(under_runc[3], "after stop: exited 0\n", "{under_runc:?}");
}
