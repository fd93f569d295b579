//! End to end through Debian's containerd: `ctr run` with runc (the
//! harness baseline) and with runsc. The harness is in `common`.

use std::path::Path;

mod common;
use common::{Containerd, IMAGE};

/// The harness works: runc runs the image.
#[test]
fn runc_baseline_runs_the_image() {
    let Some(c) = Containerd::start() else { return };
    c.import_image();
    if !Path::new("/usr/bin/containerd-shim-runc-v2").exists() {
        eprintln!("SKIP: containerd-shim-runc-v2 is not installed");
        return;
    }
    let out = c.ctr(&["run", "--rm", "--runtime", "io.containerd.runc.v2", IMAGE, "baseline", "echo", "hello"]);
    assert!(out.status.success(), "runc run failed: {}\n{}", String::from_utf8_lossy(&out.stderr), c.log());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "hello");
}

/// `ctr run --rm --runtime io.containerd.runsc.v1` prints the command's
/// output and returns its exit status, and nothing is left behind.
#[test]
fn runsc_run_prints_hello_and_exit_statuses() {
    let Some(c) = Containerd::start() else { return };
    c.import_image();
    let config = c.path().join("runsc.toml");
    let id = "runsc1";
    let out = c.ctr(&[
        "run",
        "--rm",
        "--runtime",
        "io.containerd.runsc.v1",
        "--runtime-config-path",
        config.to_str().unwrap(),
        IMAGE,
        id,
        "echo",
        "hello",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    eprintln!("ctr run (runsc): {}\nstdout: {stdout}\nstderr: {stderr}", out.status);
    assert!(out.status.success(), "ctr run with runsc failed:\nstdout: {stdout}\nstderr: {stderr}\n{}", c.log());
    assert_eq!(stdout.trim(), "hello", "stderr: {stderr}");
    c.assert_clean(id);
    // Exit statuses reach ctr as containerd reports them.
    let out = c.ctr(&["run", "--rm", "--runtime", "io.containerd.runsc.v1", IMAGE, "runsc2", "sh", "-c", "exit 3"]);
    assert_eq!(out.status.code(), Some(3), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    c.assert_clean("runsc2");
    c.assert_clean(id);
}

/// A failing Create (here: a runsc.toml with an unknown flag) reaches ctr
/// as a clear error, and the shim, its state and mounts are gone after.
#[test]
fn runsc_create_errors_reach_ctr_and_leave_nothing_behind() {
    let Some(c) = Containerd::start() else { return };
    c.import_image();
    let bad = c.path().join("bad-runsc.toml");
    std::fs::write(&bad, "[runsc_config]\nnetwork = \"none\"\n").unwrap();
    let id = "runscbad";
    let out = c.ctr(&[
        "run",
        "--rm",
        "--runtime",
        "io.containerd.runsc.v1",
        "--runtime-config-path",
        bad.to_str().unwrap(),
        IMAGE,
        id,
        "echo",
        "hello",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "ctr run succeeded with a bad runsc.toml");
    assert!(stderr.contains("\"network\" is not a supported runsc flag"), "stderr: {stderr}");
    c.assert_clean(id);
}
