//! The shim survives its sandbox dying under it (a crashed Sentry, an OOM
//! kill): containerd sees the task exit (killed), `ctr task delete` and
//! `ctr containers rm` work, and nothing is left behind.

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
