//! Multi-container sandboxes: containers created with CRI's annotations
//! (`io.kubernetes.cri.container-type=container` and
//! `io.kubernetes.cri.sandbox-id`) join their pod's running sandbox, each
//! with a root file system of its own (its own Gofer); the sandbox ends when
//! its last container is deleted, in either order.
//!
//! Timeouts only protect against hangs; no assertion depends on timing.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const HANG: Duration = Duration::from_secs(120);

mod common;
use common::{runsc, text};

/// A pod: a directory with one bundle per container and one state root.
struct Pod {
    dir: PathBuf,
    state: PathBuf,
}

impl Pod {
    fn new(tag: &str) -> Option<Pod> {
        if !common::have_busybox() {
            return None;
        }
        let dir = std::env::temp_dir().join(format!("rvisor-pod-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Some(Pod { state: dir.join("state"), dir })
    }

    /// A bundle for container `id` of sandbox `sandbox` (itself for the
    /// pod's first container) whose rootfs has busybox and a file `/whoami`
    /// holding `id`.
    fn bundle(&self, id: &str, sandbox: &str, args: &[&str]) -> PathBuf {
        let dir = self.dir.join(id);
        fs::create_dir_all(dir.join("rootfs/bin")).unwrap();
        fs::copy("/bin/busybox", dir.join("rootfs/bin/busybox")).unwrap();
        for applet in ["sh", "cat", "ls", "sleep", "echo"] {
            std::os::unix::fs::symlink("busybox", dir.join("rootfs/bin").join(applet)).unwrap();
        }
        fs::write(dir.join("rootfs/whoami"), format!("{id}\n")).unwrap();
        let out = Command::new(runsc()).args(["spec", "--bundle"]).arg(&dir).output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        let mut config: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
        config["process"]["terminal"] = false.into();
        config["process"]["args"] = args.into();
        config["process"]["env"] = serde_json::json!(["PATH=/bin"]);
        let kind = if id == sandbox { "sandbox" } else { "container" };
        config["annotations"] = serde_json::json!({
            "io.kubernetes.cri.container-type": kind,
            "io.kubernetes.cri.sandbox-id": sandbox,
        });
        fs::write(dir.join("config.json"), config.to_string()).unwrap();
        dir
    }

    fn runsc(&self, args: &[&str]) -> Output {
        Command::new(runsc()).arg("--root").arg(&self.state).args(args).stdin(Stdio::null()).output().unwrap()
    }

    /// `runsc create` + `start`; the container's stdout goes to
    /// `<dir>/<id>.out`.
    fn create_and_start(&self, id: &str, bundle: &Path) {
        let err = self.dir.join(format!("{id}.err"));
        let status = Command::new(runsc())
            .arg("--root")
            .arg(&self.state)
            .args(["create", "--bundle"])
            .arg(bundle)
            .arg(id)
            .stdin(Stdio::null())
            .stdout(fs::File::create(self.dir.join(format!("{id}.out"))).unwrap())
            .stderr(fs::File::create(&err).unwrap())
            .status()
            .unwrap();
        assert!(status.success(), "create {id}: {}", fs::read_to_string(&err).unwrap());
        let out = self.runsc(&["start", id]);
        assert!(out.status.success(), "start {id}: {}", text(&out.stderr));
    }

    fn state(&self, id: &str) -> serde_json::Value {
        let out = self.runsc(&["state", id]);
        assert!(out.status.success(), "state {id}: {}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn output(&self, id: &str) -> String {
        fs::read_to_string(self.dir.join(format!("{id}.out"))).unwrap_or_default()
    }

    /// Waits until container `id`'s output contains `want`.
    fn await_output(&self, id: &str, want: &str) {
        let start = Instant::now();
        while !self.output(id).contains(want) {
            assert!(start.elapsed() < HANG, "{id} never printed {want:?}: {:?}", self.output(id));
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Commands of the processes `runsc ps` lists for container `id`.
    fn ps(&self, id: &str) -> Vec<String> {
        let out = self.runsc(&["ps", id]);
        assert!(out.status.success(), "ps {id}: {}", text(&out.stderr));
        text(&out.stdout).lines().skip(1).filter_map(|l| l.split_whitespace().last().map(str::to_string)).collect()
    }
}

impl Drop for Pod {
    fn drop(&mut self) {
        if let Ok(list) = fs::read_dir(&self.state) {
            for e in list.flatten() {
                let _ = self.runsc(&["delete", "--force", &e.file_name().to_string_lossy()]);
            }
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn alive(pid: i64) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid as i32, 0) == 0 }
}

/// Waits until the sandbox process `pid` is gone.
fn await_exit(pid: i64) {
    let start = Instant::now();
    while alive(pid) {
        assert!(start.elapsed() < HANG, "the sandbox outlived its containers");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_pod_s_containers_share_one_sandbox_with_their_own_roots() {
    let Some(pod) = Pod::new("share") else { return };
    let pause = pod.bundle("pod1", "pod1", &["/bin/sleep", "1000"]);
    pod.create_and_start("pod1", &pause);
    let app = pod.bundle("app1", "pod1", &["/bin/sh", "-c", "cat /whoami; ls /; echo ready; exec sleep 1000"]);
    // A mount of its own.
    let mut config: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(app.join("config.json")).unwrap()).unwrap();
    config["mounts"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}));
    fs::write(app.join("config.json"), config.to_string()).unwrap();
    pod.create_and_start("app1", &app);
    pod.await_output("app1", "ready");

    // Its own root file system (served by its own Gofer), its own stdio.
    let out = pod.output("app1");
    assert!(out.starts_with("app1\n"), "{out:?}");
    assert_eq!(pod.output("pod1"), "");

    // One sandbox process for both.
    let (s1, s2) = (pod.state("pod1"), pod.state("app1"));
    assert_eq!((s1["status"].as_str(), s2["status"].as_str()), (Some("running"), Some("running")));
    assert_eq!(s1["pid"], s2["pid"], "the containers share the sandbox process");

    // Processes are per container; exec joins the right container.
    assert_eq!(pod.ps("pod1"), ["sleep"]);
    assert_eq!(pod.ps("app1"), ["sleep"]);
    let out = pod.runsc(&["exec", "app1", "/bin/cat", "/whoami"]);
    assert_eq!(text(&out.stdout), "app1\n", "{}", text(&out.stderr));
    let out = pod.runsc(&["exec", "pod1", "/bin/cat", "/whoami"]);
    assert_eq!(text(&out.stdout), "pod1\n", "{}", text(&out.stderr));
    let mounts = |id| text(&pod.runsc(&["exec", id, "/bin/cat", "/proc/mounts"]).stdout);
    assert!(mounts("app1").contains(" /tmp "), "{}", mounts("app1"));
    assert!(!mounts("pod1").contains(" /tmp "), "{}", mounts("pod1"));

    // Killing one container leaves the other running.
    assert!(pod.runsc(&["kill", "app1", "KILL"]).status.success());
    let out = pod.runsc(&["wait", "app1"]);
    assert_eq!(text(&out.stdout).trim(), "137", "{}", text(&out.stderr));
    assert_eq!(pod.state("app1")["status"], "stopped");
    assert_eq!(pod.state("pod1")["status"], "running");

    // Deleting it keeps the sandbox; deleting the last one ends it.
    let sandbox_pid = s1["pid"].as_i64().unwrap();
    assert!(pod.runsc(&["delete", "app1"]).status.success());
    assert_eq!(pod.state("pod1")["status"], "running");
    assert!(alive(sandbox_pid));
    assert!(pod.runsc(&["delete", "--force", "pod1"]).status.success());
    assert_eq!(text(&pod.runsc(&["list", "--format", "json"]).stdout).trim(), "[]");
    await_exit(sandbox_pid);
}

#[test]
fn the_sandbox_lives_until_its_last_container_is_deleted() {
    let Some(pod) = Pod::new("order") else { return };
    let pause = pod.bundle("pod2", "pod2", &["/bin/sleep", "1000"]);
    pod.create_and_start("pod2", &pause);
    let app = pod.bundle("app2", "pod2", &["/bin/sh", "-c", "echo ready; exec sleep 1000"]);
    pod.create_and_start("app2", &app);
    pod.await_output("app2", "ready");
    let sandbox_pid = pod.state("pod2")["pid"].as_i64().unwrap();

    // The pod's first container goes first: the other keeps running.
    assert!(pod.runsc(&["delete", "--force", "pod2"]).status.success());
    assert!(!pod.runsc(&["state", "pod2"]).status.success(), "pod2 is gone");
    assert_eq!(pod.state("app2")["status"], "running");
    let out = pod.runsc(&["exec", "app2", "/bin/cat", "/whoami"]);
    assert_eq!(text(&out.stdout), "app2\n", "{}", text(&out.stderr));
    let listed: serde_json::Value = serde_json::from_slice(&pod.runsc(&["list", "--format", "json"]).stdout).unwrap();
    let ids: Vec<_> = listed.as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids, ["app2"]);

    assert!(pod.runsc(&["delete", "--force", "app2"]).status.success());
    await_exit(sandbox_pid);
    // Nothing is left in the state root.
    let left: Vec<_> =
        fs::read_dir(&pod.state).map(|d| d.flatten().map(|e| e.file_name()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn joining_a_missing_sandbox_is_a_clear_error() {
    let Some(pod) = Pod::new("nosandbox") else { return };
    let app = pod.bundle("app3", "no-such-pod", &["/bin/true"]);
    let out = pod.runsc(&["create", "--bundle", app.to_str().unwrap(), "app3"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("no-such-pod"), "{err}");
    assert!(!pod.runsc(&["state", "app3"]).status.success(), "nothing is left behind");
}
