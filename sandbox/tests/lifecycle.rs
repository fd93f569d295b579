//! runsc as a runtime: OCI bundles with busybox run in the sandbox, through
//! run and through create/start/state/kill/wait/delete.

use std::fs;
use std::process::{Command, Stdio};

mod common;
use common::{runsc, text, Bundle};

/// A busybox bundle with a file of the image's own (`/etc/motd`) and a
/// hostname.
fn bundle(tag: &str, args: &[&str]) -> Option<Bundle> {
    let b = Bundle::busybox(&format!("lifecycle-{tag}"), &[], args)?;
    fs::create_dir_all(b.dir.join("rootfs/etc")).unwrap();
    fs::write(b.dir.join("rootfs/etc/motd"), "served by the gofer\n").unwrap();
    b.edit(|c| c["hostname"] = "lifecycle".into());
    Some(b)
}

#[test]
fn run_prints_the_output_and_returns_the_status() {
    let Some(b) = bundle("run", &["/bin/busybox", "sh", "-c", "true"]) else { return };
    let cases: [(&[&str], &str, i32); 4] = [
        (&["/bin/busybox", "echo", "hello", "from", "rvisor"], "hello from rvisor\n", 0),
        (&["/bin/busybox", "cat", "/etc/motd"], "served by the gofer\n", 0),
        (&["/bin/busybox", "uname", "-rn"], "lifecycle 4.4.0\n", 0),
        (&["/bin/busybox", "false"], "", 1),
    ];
    for (i, (args, want, code)) in cases.iter().enumerate() {
        let mut config: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(b.dir.join("config.json")).unwrap()).unwrap();
        config["process"]["args"] = (*args).into();
        fs::write(b.dir.join("config.json"), config.to_string()).unwrap();
        let out = b.runsc(&["run", "--bundle", b.dir.to_str().unwrap(), &format!("run{i}")]);
        assert_eq!(text(&out.stdout), *want, "{args:?}: stderr {}", text(&out.stderr));
        assert_eq!(out.status.code(), Some(*code), "{args:?}: stderr {}", text(&out.stderr));
    }
    // Nothing is left behind.
    let list = b.runsc(&["list", "--format", "json"]);
    assert_eq!(text(&list.stdout).trim(), "[]");
}

#[test]
fn a_missing_program_is_a_clear_error() {
    let Some(b) = bundle("missing", &["/bin/no-such-program"]) else { return };
    let out = b.runsc(&["run", "--bundle", b.dir.to_str().unwrap(), "m1"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("cannot execute /bin/no-such-program: ENOENT"), "{err}");
}

#[test]
fn create_start_state_kill_wait_delete() {
    let Some(b) = bundle("cycle", &["/bin/busybox", "sleep", "1000"]) else { return };
    let bundle = b.dir.to_str().unwrap();
    let pid_file = b.dir.join("pid");
    // The container keeps create's stdio (as with runc): give it a file, so
    // that waiting for create does not wait for the container.
    let log = b.dir.join("create.log");
    let status = Command::new(runsc())
        .arg("--root")
        .arg(&b.state)
        .args(["create", "--bundle", bundle, "--pid-file", pid_file.to_str().unwrap(), "c1"])
        .stdin(Stdio::null())
        .stdout(fs::File::create(&log).unwrap())
        .stderr(fs::File::create(b.dir.join("create.err")).unwrap())
        .status()
        .unwrap();
    assert!(status.success(), "create: {}", fs::read_to_string(b.dir.join("create.err")).unwrap());

    let state = |b: &Bundle| -> serde_json::Value {
        let out = b.runsc(&["state", "c1"]);
        assert!(out.status.success(), "state: {}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let s = state(&b);
    assert_eq!(s["status"], "created");
    assert_eq!(s["id"], "c1");
    let sandbox_pid: i32 = fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    assert_eq!(s["pid"], sandbox_pid);

    // The same id cannot be created twice.
    let again = b.runsc(&["create", "--bundle", bundle, "c1"]);
    assert!(!again.status.success());
    assert!(text(&again.stderr).contains("already exists"), "{}", text(&again.stderr));

    // The sandbox process is a confined Sentry.
    let status = fs::read_to_string(format!("/proc/{sandbox_pid}/status")).unwrap();
    let field = |name: &str| status.lines().find(|l| l.starts_with(name)).unwrap().split_whitespace().nth(1).unwrap();
    assert_eq!(field("Seccomp:"), "2");
    assert_eq!(field("CapEff:"), "0000000000000000");

    assert!(b.runsc(&["start", "c1"]).status.success());
    assert_eq!(state(&b)["status"], "running");
    let bad = b.runsc(&["kill", "c1", "SIGNOPE"]);
    assert!(!bad.status.success());
    assert!(text(&bad.stderr).contains("invalid signal"), "{}", text(&bad.stderr));
    let busy = b.runsc(&["delete", "c1"]);
    assert!(!busy.status.success(), "a running container is not deleted without --force");

    assert!(b.runsc(&["kill", "c1", "KILL"]).status.success());
    let waited = b.runsc(&["wait", "c1"]);
    assert_eq!(text(&waited.stdout).trim(), "137");
    assert_eq!(state(&b)["status"], "stopped");

    assert!(b.runsc(&["delete", "c1"]).status.success());
    let gone = b.runsc(&["state", "c1"]);
    assert!(!gone.status.success());
    assert!(text(&gone.stderr).contains("does not exist"), "{}", text(&gone.stderr));
    // The sandbox process is gone too (it was killed by delete).
    for _ in 0..500 {
        let st = fs::read_to_string(format!("/proc/{sandbox_pid}/stat")).unwrap_or_default();
        if st.is_empty() || st.contains(") Z ") {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("sandbox process {sandbox_pid} outlived delete");
}

#[test]
fn malformed_config_and_unknown_ids_are_one_line_errors() {
    let Some(b) = bundle("bad", &["/bin/busybox", "true"]) else { return };
    fs::write(b.dir.join("config.json"), "{ nope").unwrap();
    let out = b.runsc(&["create", "--bundle", b.dir.to_str().unwrap(), "x"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("malformed config.json"), "{err}");
    for cmd in [&["start", "ghost"][..], &["state", "ghost"], &["kill", "ghost"], &["delete", "ghost"]] {
        let out = b.runsc(cmd);
        assert_eq!(out.status.code(), Some(1), "{cmd:?}");
        assert!(text(&out.stderr).contains("does not exist"), "{cmd:?}: {}", text(&out.stderr));
    }
}

#[test]
fn do_runs_a_host_program_with_a_private_tmp() {
    if !common::have_busybox() {
        return;
    }
    let out = Command::new(runsc())
        .args(["do", "/bin/busybox", "echo", "from the host root"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(text(&out.stdout), "from the host root\n", "{}", text(&out.stderr));
    assert!(out.status.success());
    // /tmp inside is a private, empty tmpfs; a working directory under the
    // host's /tmp (hidden inside) falls back to /.
    let out = Command::new(runsc())
        .args(["do", "/bin/busybox", "ls", "-a", "/tmp"])
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    assert_eq!(text(&out.stdout).split_whitespace().collect::<Vec<_>>(), [".", ".."], "{}", text(&out.stderr));
    // /dev/shm is there (POSIX semaphores and shared memory live in it:
    // Python's multiprocessing needs it), and tmpfs roots are 1777 unless
    // a mount says otherwise, as on Linux.
    let out = Command::new(runsc())
        .args(["do", "/bin/busybox", "stat", "-c", "%a %n", "/dev/shm", "/tmp", "/dev"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(text(&out.stdout), "1777 /dev/shm\n1777 /tmp\n755 /dev\n", "{}", text(&out.stderr));
}

#[test]
fn exec_joins_a_running_container() {
    let Some(b) = bundle("exec", &["/bin/busybox", "sh", "-c", "while :; do /bin/busybox sleep 1; done"]) else {
        return;
    };
    let bundle = b.dir.to_str().unwrap();
    let status = Command::new(runsc())
        .arg("--root")
        .arg(&b.state)
        .args(["create", "--bundle", bundle, "e1"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(b.dir.join("create.err")).unwrap())
        .status()
        .unwrap();
    assert!(status.success(), "create: {}", fs::read_to_string(b.dir.join("create.err")).unwrap());
    assert!(b.runsc(&["start", "e1"]).status.success());

    let out = b.runsc(&["exec", "e1", "/bin/busybox", "echo", "hi"]);
    assert_eq!((text(&out.stdout).as_str(), out.status.code()), ("hi\n", Some(0)), "{}", text(&out.stderr));
    let out = b.runsc(&["exec", "e1", "/bin/busybox", "sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7));
    // The exec'd process sees the container's file system and PID space.
    let out = b.runsc(&[
        "exec",
        "--cwd",
        "/etc",
        "--user",
        "1000:1000",
        "e1",
        "/bin/busybox",
        "sh",
        "-c",
        "id -u; pwd; cat motd",
    ]);
    assert_eq!(text(&out.stdout), "1000\n/etc\nserved by the gofer\n", "{}", text(&out.stderr));
    let out = b.runsc(&["exec", "-e", "GREETING=hello", "e1", "/bin/busybox", "sh", "-c", "echo $GREETING"]);
    assert_eq!(text(&out.stdout), "hello\n");
    let proc_file = b.dir.join("process.json");
    fs::write(&proc_file, r#"{"args":["/bin/busybox","echo","from","json"],"cwd":"/","user":{"uid":0,"gid":0}}"#)
        .unwrap();
    let out = b.runsc(&["exec", "--process", proc_file.to_str().unwrap(), "e1"]);
    assert_eq!(text(&out.stdout), "from json\n", "{}", text(&out.stderr));
    let out = b.runsc(&["exec", "e1", "/bin/no-such-program"]);
    assert_eq!(out.status.code(), Some(255), "runc's exec fails with 255");
    assert!(text(&out.stderr).contains("ENOENT"), "{}", text(&out.stderr));

    // A detached process shows in ps until killed.
    let pid_file = b.dir.join("exec.pid");
    // Its stdio must not be this test's pipes, or reading them would wait
    // for it.
    let st = Command::new(runsc())
        .arg("--root")
        .arg(&b.state)
        .args(["exec", "-d", "--pid-file", pid_file.to_str().unwrap(), "e1", "/bin/busybox", "sleep", "100"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    // The pid file names the host runsc that waits for it (as gVisor's
    // runsc does, for conmon).
    let pid: i32 = fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    let cmdline = fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    assert!(cmdline.contains("exec") && cmdline.contains("sleep"), "{cmdline:?}");
    let ps = b.runsc(&["ps", "--format", "json", "e1"]);
    let pids: Vec<i32> = serde_json::from_slice(&ps.stdout).unwrap();
    assert!(pids.contains(&1) && pids.len() >= 2, "{pids:?}");

    // Pause and resume; the stats event counts the processes.
    let state = |b: &Bundle| -> String {
        let out = b.runsc(&["state", "e1"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["status"].as_str().unwrap_or_default().to_string()
    };
    assert!(b.runsc(&["pause", "e1"]).status.success());
    assert_eq!(state(&b), "paused");
    assert!(!b.runsc(&["pause", "e1"]).status.success(), "pausing twice fails");
    assert!(b.runsc(&["resume", "e1"]).status.success());
    assert_eq!(state(&b), "running");
    let ev = b.runsc(&["events", "--stats", "e1"]);
    let ev: serde_json::Value = serde_json::from_slice(&ev.stdout).unwrap();
    assert_eq!(ev["type"], "stats");
    assert!(ev["data"]["pids"]["current"].as_u64().unwrap() >= 2, "{ev}");
    assert!(ev["data"]["memory"]["usage"]["usage"].as_u64().unwrap() > 0, "{ev}");
    let out = b.runsc(&["exec", "e1", "/bin/busybox", "echo", "after resume"]);
    assert_eq!(text(&out.stdout), "after resume\n");

    assert!(b.runsc(&["delete", "--force", "e1"]).status.success());
    let gone = b.runsc(&["exec", "e1", "/bin/busybox", "true"]);
    assert!(!gone.status.success());
}

#[test]
fn features_is_json() {
    let out = Command::new(runsc()).arg("features").output().unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ociVersionMax"], "1.0.2");
}
