//! runsc and the host: the sandbox's host cgroup from the spec's
//! `linux.cgroupsPath` and `linux.resources` (compared with what runc sets
//! for the same bundle), `kill --all`, and state roots and ids too long for
//! a unix socket path.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

mod common;
use common::{runsc, text, Bundle};

/// A busybox bundle (with `sh` and `sleep`) running `args`.
fn bundle(tag: &str, args: &[&str]) -> Option<Bundle> {
    Bundle::busybox(&format!("host-{tag}"), &["sh", "sleep"], args)
}

fn read(p: impl AsRef<Path>) -> String {
    let p = p.as_ref();
    fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).trim().to_string()
}

/// A v1 host (this test's target); `None` on a pure v2 host.
fn v1() -> bool {
    !Path::new("/sys/fs/cgroup/cgroup.controllers").exists() && Path::new("/sys/fs/cgroup/memory").is_dir()
}

/// `pid` and its descendants.
fn tree(pid: u32) -> Vec<u32> {
    sandbox::cgroup::process_tree(pid)
}

fn procs(dir: &Path) -> Vec<u32> {
    read(dir.join("cgroup.procs")).lines().filter_map(|l| l.parse().ok()).collect()
}

/// The limit files both runtimes write, in one v1 cgroup (path relative to
/// each hierarchy's root).
fn v1_limits(path: &str) -> Vec<(String, String)> {
    let files = [
        ("memory", "memory.limit_in_bytes"),
        ("memory", "memory.memsw.limit_in_bytes"),
        ("pids", "pids.max"),
        ("cpu", "cpu.shares"),
        ("cpu", "cpu.cfs_quota_us"),
        ("cpu", "cpu.cfs_period_us"),
    ];
    files
        .iter()
        .filter_map(|(ctl, file)| {
            let p = Path::new("/sys/fs/cgroup").join(ctl).join(path.trim_start_matches('/')).join(file);
            p.exists().then(|| (file.to_string(), read(&p)))
        })
        .collect()
}

/// Removes `path` from every v1 hierarchy (runc leaves parents behind).
fn remove_everywhere(path: &str) {
    for h in fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let _ = fs::remove_dir(h.path().join(path.trim_start_matches('/')));
    }
}

fn runc_works() -> bool {
    match Command::new("runc").arg("--version").output() {
        Ok(o) if o.status.success() => true,
        _ => {
            eprintln!("SKIPPED the runc comparison: runc not installed");
            false
        }
    }
}

#[test]
fn the_host_cgroup_holds_the_sandbox_with_the_spec_limits() {
    if !v1() {
        eprintln!("SKIPPED: not a cgroup v1 host (the v2 paths are unit-tested in sandbox::cgroup)");
        return;
    }
    let Some(b) = bundle("cgroup", &["/bin/sh", "-c", "sleep 1000 & sleep 1000 & wait"]) else { return };
    let resources = serde_json::json!({
        "memory": {"limit": 64u64 << 20},
        "pids": {"limit": 128},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000}
    });
    // Default path: /rvisor/<id>.
    b.edit(|c| c["linux"]["resources"] = resources.clone());
    let id = format!("cg-{}", std::process::id());
    b.create(&id);
    let mem = PathBuf::from(format!("/sys/fs/cgroup/memory/rvisor/{id}"));
    let pids = PathBuf::from(format!("/sys/fs/cgroup/pids/rvisor/{id}"));
    assert_eq!(read(mem.join("memory.limit_in_bytes")), (64u64 << 20).to_string());
    assert_eq!(read(pids.join("pids.max")), "128");
    assert_eq!(read(format!("/sys/fs/cgroup/cpu/rvisor/{id}/cpu.shares")), "512");
    assert_eq!(read(format!("/sys/fs/cgroup/cpu/rvisor/{id}/cpu.cfs_quota_us")), "50000");

    // Every host process of the sandbox is in it: the Sentry with its
    // descendants, and the Gofer.
    let sandbox_pid = b.state(&id)["pid"].as_u64().unwrap() as u32;
    assert!(b.runsc(&["start", &id]).status.success());
    std::thread::sleep(Duration::from_millis(300));
    let in_mem = procs(&mem);
    let in_pids = procs(&pids);
    for p in tree(sandbox_pid) {
        assert!(in_mem.contains(&p) && in_pids.contains(&p), "host process {p} not in {in_mem:?} / {in_pids:?}");
    }
    let gofer = in_mem.iter().any(|p| read(format!("/proc/{p}/cmdline")).contains("gofer"));
    assert!(gofer, "no Gofer in {in_mem:?}");
    assert!(!in_mem.contains(&std::process::id()));
    // runsc itself went back to where it was.
    let mine = read("/proc/self/cgroup");
    assert!(!mine.contains("/rvisor/"), "{mine}");

    // The stats event reports the limits.
    let ev: serde_json::Value = serde_json::from_slice(&b.runsc(&["events", "--stats", &id]).stdout).unwrap();
    assert_eq!(ev["data"]["memory"]["usage"]["limit"], 64u64 << 20, "{ev}");
    assert_eq!(ev["data"]["pids"]["limit"], 128, "{ev}");
    assert!(ev["data"]["pids"]["current"].as_u64().unwrap() >= 3, "{ev}");
    let ps = b.runsc(&["ps", "--format", "json", &id]);
    let sandbox_pids: Vec<i32> = serde_json::from_slice(&ps.stdout).unwrap();
    assert_eq!(sandbox_pids.len(), 3, "{sandbox_pids:?}");

    assert!(b.runsc(&["delete", "--force", &id]).status.success());
    assert!(!mem.exists() && !pids.exists(), "the cgroup outlived delete");
    for p in in_mem {
        let st = fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
        assert!(st.is_empty() || st.contains(") Z "), "host process {p} outlived delete: {st}");
    }

    // A cgroupsPath: runsc and runc write the same limits.
    let parent = format!("/rvisor-test-{}", std::process::id());
    b.edit(|c| c["linux"]["cgroupsPath"] = format!("{parent}/runsc").into());
    b.create(&id);
    let ours = v1_limits(&format!("{parent}/runsc"));
    assert!(Path::new(&format!("/sys/fs/cgroup/memory{parent}/runsc")).is_dir());
    let sandbox_pid = b.state(&id)["pid"].as_u64().unwrap() as u32;
    assert!(procs(Path::new(&format!("/sys/fs/cgroup/pids{parent}/runsc"))).contains(&sandbox_pid));
    if runc_works() {
        b.edit(|c| c["linux"]["cgroupsPath"] = format!("{parent}/runc").into());
        let runc_root = b.dir.join("runc-state");
        // The container keeps create's stdio: a file, not a pipe.
        let runc_err = b.dir.join("runc.err");
        let runc = |args: &[&str]| {
            Command::new("runc")
                .arg("--root")
                .arg(&runc_root)
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(fs::File::create(&runc_err).unwrap())
                .status()
                .unwrap()
        };
        let ok = runc(&["create", "--bundle", b.dir.to_str().unwrap(), &format!("{id}-runc")]);
        assert!(ok.success(), "runc create: {}", fs::read_to_string(&runc_err).unwrap());
        let theirs = v1_limits(&format!("{parent}/runc"));
        let _ = runc(&["delete", "--force", &format!("{id}-runc")]);
        let _ = fs::remove_dir_all(&runc_root);
        assert_eq!(ours, theirs, "runsc's limits vs runc's");
        assert!(ours.len() >= 5, "{ours:?}");
    }
    assert!(b.runsc(&["delete", "--force", &id]).status.success());
    assert!(!Path::new(&format!("/sys/fs/cgroup/memory{parent}/runsc")).exists());
    remove_everywhere(&format!("{parent}/runc"));
    remove_everywhere(&parent);
    assert!(!Path::new(&format!("/sys/fs/cgroup/memory{parent}")).exists());
}

#[test]
fn systemd_cgroup_paths_map_to_scopes() {
    if !v1() {
        eprintln!("SKIPPED: not a cgroup v1 host");
        return;
    }
    let Some(b) = bundle("systemd", &["/bin/sleep", "1000"]) else { return };
    let slice = format!("rvisortest{}.slice", std::process::id());
    b.edit(|c| c["linux"]["cgroupsPath"] = format!("{slice}:runsc:sd1").into());
    let err = b.dir.join("create.err");
    let status = Command::new(runsc())
        .arg("--root")
        .arg(&b.state)
        .args(["--systemd-cgroup", "create", "--bundle", b.dir.to_str().unwrap(), "sd1"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&err).unwrap())
        .status()
        .unwrap();
    assert!(status.success(), "create: {}", fs::read_to_string(&err).unwrap());
    let scope = PathBuf::from(format!("/sys/fs/cgroup/pids/{slice}/runsc-sd1.scope"));
    let sandbox_pid = b.state("sd1")["pid"].as_u64().unwrap() as u32;
    assert!(procs(&scope).contains(&sandbox_pid));
    assert!(b.runsc(&["delete", "--force", "sd1"]).status.success());
    assert!(!scope.exists());
    assert!(!Path::new(&format!("/sys/fs/cgroup/pids/{slice}")).exists(), "the slice it created stays");
    // Without --systemd-cgroup such a path is refused by neither runtime,
    // but the slice:prefix:name form is required with it.
    b.edit(|c| c["linux"]["cgroupsPath"] = "/not/systemd".into());
    let out = b.runsc(&["--systemd-cgroup", "create", "--bundle", b.dir.to_str().unwrap(), "sd2"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("slice:prefix:name"), "{}", text(&out.stderr));
    assert!(!b.state.join("sd2").exists());
}

#[test]
fn kill_all_signals_every_process() {
    // The init, a PID 1 without a TERM handler, ignores TERM; the other
    // processes die of it.
    let Some(b) = bundle("killall", &["/bin/sh", "-c", "sleep 1000 & sleep 1000 & while :; do sleep 1; done"]) else {
        return;
    };
    b.create("k1");
    assert!(b.runsc(&["start", "k1"]).status.success());
    let ps = |b: &Bundle| -> Vec<i32> {
        let out = b.runsc(&["ps", "--format", "json", "k1"]);
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let mut before = Vec::new();
    for _ in 0..100 {
        before = ps(&b);
        if before.len() >= 3 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(before.len() >= 3, "{before:?}");
    // Without --all only the init is signalled (and ignores it).
    assert!(b.runsc(&["kill", "k1", "TERM"]).status.success());
    std::thread::sleep(Duration::from_millis(300));
    assert!(ps(&b).len() >= 3, "{:?}", ps(&b));
    let out = b.runsc(&["kill", "--all", "k1", "TERM"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Every process but the init got it (the loop starts new sleeps).
    let gone = |after: &[i32]| before.iter().filter(|&&p| p != 1).all(|p| !after.contains(p));
    let mut after = Vec::new();
    for _ in 0..100 {
        after = ps(&b);
        if gone(&after) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(gone(&after) && after.contains(&1), "{before:?} -> {after:?}");
    assert_eq!(b.state("k1")["status"], "running");
    assert!(b.runsc(&["kill", "--all", "k1", "KILL"]).status.success());
    let waited = b.runsc(&["wait", "k1"]);
    assert_eq!(text(&waited.stdout).trim(), "137");
    assert!(b.runsc(&["delete", "k1"]).status.success());
}

#[test]
fn long_roots_and_cri_ids_work() {
    let Some(b) = bundle("longroot", &["/bin/sleep", "1000"]) else { return };
    // A root whose control socket path is far beyond sun_path's 108 bytes.
    let root = b.dir.join("r".repeat(120));
    let id = "0123456789abcdef".repeat(4);
    assert!(root.join(&id).join("control.sock").as_os_str().len() > 200);
    let rs = |args: &[&str]| -> Output {
        Command::new(runsc()).arg("--root").arg(&root).args(args).stdin(Stdio::null()).output().unwrap()
    };
    let status = Command::new(runsc())
        .arg("--root")
        .arg(&root)
        .args(["create", "--bundle", b.dir.to_str().unwrap(), &id])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let state = |rs: &dyn Fn(&[&str]) -> Output| -> String {
        let out = rs(&["state", &id]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["status"].as_str().unwrap().to_string()
    };
    assert_eq!(state(&rs), "created");
    let out = rs(&["start", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(state(&rs), "running");
    let out = rs(&["exec", &id, "/bin/busybox", "echo", "long"]);
    assert_eq!(text(&out.stdout), "long\n", "{}", text(&out.stderr));
    assert!(rs(&["kill", &id, "KILL"]).status.success());
    assert_eq!(text(&rs(&["wait", &id]).stdout).trim(), "137");
    assert_eq!(state(&rs), "stopped");
    assert!(rs(&["delete", &id]).status.success());
    assert!(!root.join(&id).exists());
}
