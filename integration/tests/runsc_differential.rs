//! Differential tests that run in every suite: the same bundle under runc
//! and under the runsc built by this workspace must print the same output
//! and end with the same status. These cover what the Sentry runs today
//! (single-process busybox applets, static guests); tests/guests.rs and
//! tests/busybox.rs compare everything else when RVISOR_RUNSC is set.

use std::path::PathBuf;

use integration::bundle::Bundle;
use integration::differential::compare_against;
use integration::runtime::{require_runc, Runtime};

/// The runsc binary next to this test's deps directory (built by `cargo
/// test --workspace`), or RVISOR_RUNSC.
fn runsc() -> Option<Runtime> {
    if let Some(rt) = integration::differential::runsc_from_env() {
        return Some(rt);
    }
    let exe = std::env::current_exe().ok()?;
    let path: PathBuf = exe.parent()?.parent()?.join("runsc");
    if path.exists() {
        Some(Runtime::Runsc(path))
    } else {
        eprintln!("SKIPPED: no runsc binary at {} (build it with cargo build -p sandbox)", path.display());
        None
    }
}

fn check(name: &str, setup: impl FnOnce(&mut Bundle)) {
    if !require_runc(name) {
        return;
    }
    let Some(runsc) = runsc() else { return };
    let mut bundle = Bundle::new().expect("bundle");
    setup(&mut bundle);
    let cmp = compare_against(&bundle, name, Some(&runsc), |s| s.to_owned()).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(cmp.runsc.is_some());
}

#[test]
fn echo_matches() {
    check("diff-echo", |b| {
        b.args(["/bin/echo", "hello", "from", "both", "runtimes"]);
    });
}

#[test]
fn cat_of_a_rootfs_file_matches() {
    check("diff-cat", |b| {
        b.args(["/bin/cat", "/etc/passwd", "/etc/group"]);
    });
}

#[test]
fn hostname_and_machine_match() {
    check("diff-uname", |b| {
        b.hostname("difftest").args(["/bin/uname", "-n", "-s", "-m"]);
    });
}

#[test]
fn exit_status_matches() {
    check("diff-false", |b| {
        b.args(["/bin/false"]);
    });
    check("diff-exit7", |b| {
        b.shell("exit 7");
    });
}

#[test]
fn wc_of_a_guest_binary_matches() {
    check("diff-wc", |b| {
        b.args(["wc", "-c", "/guests/segv"]);
    });
}

#[test]
fn segfault_status_matches() {
    check("diff-segv", |b| {
        b.guest("segv", &[]);
    });
}

#[test]
fn kernel_release_differs_by_design() {
    if !require_runc("diff-uname-r") {
        return;
    }
    let Some(runsc) = runsc() else { return };
    let mut bundle = Bundle::new().expect("bundle");
    bundle.args(["/bin/uname", "-r"]);
    let host = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let native = integration::runtime::run(&Runtime::Runc, &bundle, "diff-uname-r1").unwrap();
    assert_eq!(native.stdout, host, "runc shows the host's release");
    let sandboxed = integration::runtime::run(&runsc, &bundle, "diff-uname-r2").unwrap();
    assert_eq!(sandboxed.stdout, "4.4.0\n", "the Sentry presents Linux 4.4.0");
}
