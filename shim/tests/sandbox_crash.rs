//! The shim survives its sandbox dying under it (a crashed Sentry, an OOM
//! kill): containerd sees the task exit (killed), `ctr task delete` and
//! `ctr containers rm` work, and nothing is left behind. And the other way
//! round: when the shim itself dies, containerd's clean-up (the shim
//! binary's `delete` action) ends the sandbox and leaves nothing either.

use std::process::Output;
use std::time::{Duration, Instant};

mod common;
use common::{Containerd, IMAGE};

const RUNTIME: &str = "io.containerd.runsc.v1";

fn text(out: &Output) -> String {
    format!(
        "status {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_killed_sentry_is_a_task_exit_and_cleans_up() {
    let Some(c) = Containerd::start() else { return };
    c.import_image();
    let id = "crash1";
    let config = c.path().join("runsc.toml");
    let out = c.ctr(&[
        "run",
        "-d",
        "--runtime",
        RUNTIME,
        "--runtime-config-path",
        config.to_str().unwrap(),
        IMAGE,
        id,
        "sleep",
        "1000",
    ]);
    assert!(out.status.success(), "ctr run -d: {}\n{}", text(&out), c.log());

    // The sandbox process: `runsc ... boot --id crash1`.
    let start = Instant::now();
    let sandbox = loop {
        let found = c.processes().into_iter().find(|(_, cmd)| cmd.contains(" boot ") && cmd.contains(id));
        if let Some((pid, _)) = found {
            break pid;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "no sandbox process: {:?}", c.processes());
        std::thread::sleep(Duration::from_millis(50));
    };
    // SAFETY: kills the sandbox process of this test's container.
    assert_eq!(unsafe { libc::kill(sandbox, libc::SIGKILL) }, 0);

    // containerd hears of the exit: the task is STOPPED, killed.
    let start = Instant::now();
    loop {
        let out = c.ctr(&["task", "ls"]);
        let ls = String::from_utf8_lossy(&out.stdout).to_string();
        if ls.lines().any(|l| l.starts_with(id) && l.trim_end().ends_with("STOPPED")) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "task never stopped: {ls}\n{}", c.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = c.ctr(&["task", "delete", id]);
    assert!(out.status.success(), "ctr task delete: {}\n{}", text(&out), c.log());
    let out = c.ctr(&["containers", "rm", id]);
    assert!(out.status.success(), "ctr containers rm: {}", text(&out));
    c.assert_clean(id);
}

/// A SIGKILLed shim: containerd notices the dead connection, runs
/// `containerd-shim-runsc-v1 delete` for the container, which stops the
/// sandbox (Sentry, stubs, Gofer), unmounts the rootfs and removes the
/// runsc state; the task reads as stopped, and deleting it and the
/// container leaves no process, mount, state or cgroup behind.
#[test]
fn a_killed_shim_leaves_nothing_behind() {
    let Some(c) = Containerd::start() else { return };
    c.import_image();
    let id = "shimdead1";
    let config = c.path().join("runsc.toml");
    let out = c.ctr(&[
        "run",
        "-d",
        "--runtime",
        RUNTIME,
        "--runtime-config-path",
        config.to_str().unwrap(),
        IMAGE,
        id,
        "sleep",
        "1000",
    ]);
    assert!(out.status.success(), "ctr run -d: {}\n{}", text(&out), c.log());
    let start = Instant::now();
    while !c.processes().iter().any(|(_, cmd)| cmd.contains(" boot ") && cmd.contains(id)) {
        assert!(start.elapsed() < Duration::from_secs(60), "no sandbox process: {:?}", c.processes());
        std::thread::sleep(Duration::from_millis(50));
    }
    let shims = c.shims();
    assert_eq!(shims.len(), 1, "one shim: {shims:?}");
    // SAFETY: kills this test's shim.
    assert_eq!(unsafe { libc::kill(shims[0].0, libc::SIGKILL) }, 0);

    // The sandbox goes with the shim's clean-up, not by itself.
    let start = Instant::now();
    loop {
        let left: Vec<_> = c.processes();
        if left.is_empty() {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "processes left after the shim died: {left:?}\n{}", c.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    // containerd reports the task gone or stopped; deleting works.
    let out = c.ctr(&["task", "ls"]);
    let ls = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(!ls.lines().any(|l| l.starts_with(id) && l.contains("RUNNING")), "task still running: {ls}");
    let _ = c.ctr(&["task", "delete", id]);
    let out = c.ctr(&["containers", "rm", id]);
    assert!(out.status.success(), "ctr containers rm: {}\n{}", text(&out), c.log());
    c.assert_clean(id);
    for ctl in ["unified", "freezer", "memory", "pids", "cpuacct", "cpu", ""] {
        let own = std::path::Path::new("/sys/fs/cgroup").join(ctl).join("rvisor").join(id);
        assert!(!own.exists(), "cgroup left behind: {}", own.display());
    }
}
