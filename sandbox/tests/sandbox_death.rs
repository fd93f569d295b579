//! A sandbox process that dies (a crashed Sentry, an OOM kill) shows up as
//! a stopped container whose init was killed, never as a hang: `state`
//! says `stopped`, a `wait` in progress and a later one return 137, and
//! `delete` cleans up.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn runsc() -> &'static str {
    env!("CARGO_BIN_EXE_runsc")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

struct Bundle {
    dir: PathBuf,
    state: PathBuf,
}

impl Bundle {
    fn new(tag: &str) -> Option<Bundle> {
        if !Path::new("/bin/busybox").exists() {
            eprintln!("SKIPPED: /bin/busybox not installed (Debian package busybox-static)");
            return None;
        }
        let dir = std::env::temp_dir().join(format!("rvisor-death-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("rootfs/bin")).unwrap();
        fs::copy("/bin/busybox", dir.join("rootfs/bin/busybox")).unwrap();
        let out = Command::new(runsc()).args(["spec", "--bundle"]).arg(&dir).output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        let mut config: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
        config["process"]["terminal"] = false.into();
        config["process"]["args"] = serde_json::json!(["/bin/busybox", "sleep", "1000"]);
        fs::write(dir.join("config.json"), config.to_string()).unwrap();
        Some(Bundle { state: dir.join("state"), dir })
    }

    fn runsc(&self, args: &[&str]) -> Output {
        Command::new(runsc()).arg("--root").arg(&self.state).args(args).stdin(Stdio::null()).output().unwrap()
    }

    fn status(&self, id: &str) -> String {
        let out = self.runsc(&["state", id]);
        assert!(out.status.success(), "state: {}", text(&out.stderr));
        let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        s["status"].as_str().unwrap().to_string()
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        let _ = self.runsc(&["delete", "--force", "d1"]);
        let _ = fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn a_killed_sandbox_is_a_stopped_container() {
    let Some(b) = Bundle::new("kill") else { return };
    let pid_file = b.dir.join("pid");
    let status = Command::new(runsc())
        .arg("--root")
        .arg(&b.state)
        .args(["run", "--detach", "--pid-file"])
        .arg(&pid_file)
        .arg("--bundle")
        .arg(&b.dir)
        .arg("d1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(b.status("d1"), "running");

    // A wait in progress when the sandbox dies returns.
    let waiter = Command::new(runsc())
        .arg("--root")
        .arg(&b.state)
        .args(["wait", "d1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid: i32 = fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    // SAFETY: kills the sandbox process this test created.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    let out = waiter.wait_with_output().unwrap();
    assert_eq!(text(&out.stdout).trim(), "137", "{}", text(&out.stderr));

    assert_eq!(b.status("d1"), "stopped");
    let out = b.runsc(&["wait", "d1"]);
    assert_eq!(text(&out.stdout).trim(), "137", "{}", text(&out.stderr));
    // Stopped: kill is refused as for any stopped container, delete works
    // without --force.
    assert!(!b.runsc(&["kill", "d1", "TERM"]).status.success());
    let out = b.runsc(&["delete", "d1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&b.runsc(&["list", "--format", "json"]).stdout).trim(), "[]");
}
