//! A sandbox process that dies (a crashed Sentry, an OOM kill) shows up as
//! a stopped container whose init was killed, never as a hang: `state`
//! says `stopped`, a `wait` in progress and a later one return 137, and
//! `delete` cleans up.

use std::fs;
use std::process::{Command, Stdio};

mod common;
use common::{runsc, text, Bundle};

#[test]
fn a_killed_sandbox_is_a_stopped_container() {
    let Some(b) = Bundle::busybox("death-kill", &[], &["/bin/busybox", "sleep", "1000"]) else { return };
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
    assert_eq!(b.state("d1")["status"], "running");

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

    assert_eq!(b.state("d1")["status"], "stopped");
    let out = b.runsc(&["wait", "d1"]);
    assert_eq!(text(&out.stdout).trim(), "137", "{}", text(&out.stderr));
    // Stopped: kill is refused as for any stopped container, delete works
    // without --force.
    assert!(!b.runsc(&["kill", "d1", "TERM"]).status.success());
    let out = b.runsc(&["delete", "d1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&b.runsc(&["list", "--format", "json"]).stdout).trim(), "[]");
}
