//! The shim survives its sandbox dying under it (a crashed Sentry, an OOM
//! kill): containerd sees the task exit (killed), `ctr task delete` and
//! `ctr containers rm` work, and nothing is left behind. And the other way
//! round: when the shim itself dies, containerd's clean-up (the shim
//! binary's `delete` action) ends the sandbox and leaves nothing either.

use std::time::{Duration, Instant};

mod common;
use common::{text, Containerd};

#[test]
fn a_killed_sentry_is_a_task_exit_and_cleans_up() {
    let Some(c) = Containerd::start() else { return };
    c.import_image();
    let id = "crash1";
    c.run_detached(id, &["sleep", "1000"]);
    let sandbox = c.sandbox_pid(id);
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
    c.run_detached(id, &["sleep", "1000"]);
    c.sandbox_pid(id);
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
