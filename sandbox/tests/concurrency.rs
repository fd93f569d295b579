//! Concurrent runsc invocations: on different containers they do not
//! disturb each other; on the same container they are serialised by the
//! container's lock (one `start` wins, the others see it started).

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
    fn new(tag: &str, args: &[&str]) -> Option<Bundle> {
        if !Path::new("/bin/busybox").exists() {
            eprintln!("SKIPPED: /bin/busybox not installed (Debian package busybox-static)");
            return None;
        }
        let dir = std::env::temp_dir().join(format!("rvisor-concurrency-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("rootfs/bin")).unwrap();
        fs::copy("/bin/busybox", dir.join("rootfs/bin/busybox")).unwrap();
        let out = Command::new(runsc()).args(["spec", "--bundle"]).arg(&dir).output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        let mut config: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
        config["process"]["terminal"] = false.into();
        config["process"]["args"] = args.into();
        fs::write(dir.join("config.json"), config.to_string()).unwrap();
        Some(Bundle { state: dir.join("state"), dir })
    }

    fn runsc(&self, args: &[&str]) -> Output {
        Command::new(runsc()).arg("--root").arg(&self.state).args(args).stdin(Stdio::null()).output().unwrap()
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        if let Ok(list) = fs::read_dir(&self.state) {
            for e in list.flatten() {
                let _ = self.runsc(&["delete", "--force", &e.file_name().to_string_lossy()]);
            }
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn runs_of_different_containers_in_parallel_do_not_interfere() {
    let Some(b) = Bundle::new("runs", &["/bin/busybox", "sh", "-c", "echo $HOSTNAME-ok"]) else { return };
    let bundle = b.dir.to_str().unwrap().to_string();
    let (b, bundle) = (&b, &bundle);
    let outputs: Vec<Output> = std::thread::scope(|s| {
        let runs: Vec<_> =
            (0..6).map(|i| s.spawn(move || b.runsc(&["run", "--bundle", bundle, &format!("par{i}")]))).collect();
        runs.into_iter().map(|t| t.join().unwrap()).collect()
    });
    for (i, out) in outputs.iter().enumerate() {
        assert_eq!(out.status.code(), Some(0), "run {i}: {}", text(&out.stderr));
        assert!(text(&out.stdout).ends_with("-ok\n"), "run {i}: {:?}", text(&out.stdout));
    }
    assert_eq!(text(&b.runsc(&["list", "--format", "json"]).stdout).trim(), "[]");
}

#[test]
fn concurrent_starts_of_one_container_are_serialised() {
    let Some(b) = Bundle::new("start", &["/bin/busybox", "sleep", "1000"]) else { return };
    let status = Command::new(runsc())
        .arg("--root")
        .arg(&b.state)
        .args(["create", "--bundle"])
        .arg(&b.dir)
        .arg("one")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let outputs: Vec<Output> = std::thread::scope(|s| {
        let starts: Vec<_> = (0..5).map(|_| s.spawn(|| b.runsc(&["start", "one"]))).collect();
        starts.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let won = outputs.iter().filter(|o| o.status.success()).count();
    assert_eq!(won, 1, "exactly one start runs the container: {outputs:?}");
    for o in outputs.iter().filter(|o| !o.status.success()) {
        assert!(text(&o.stderr).contains("cannot start a container that is running"), "{}", text(&o.stderr));
    }
    let state: serde_json::Value = serde_json::from_slice(&b.runsc(&["state", "one"]).stdout).unwrap();
    assert_eq!(state["status"], "running");
    let ps = text(&b.runsc(&["ps", "one"]).stdout);
    assert_eq!(ps.lines().skip(1).count(), 1, "one init: {ps}");
}
