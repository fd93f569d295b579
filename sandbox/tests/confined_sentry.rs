//! The platform works inside a process confined as a Sentry: own
//! namespaces, an empty root, no capabilities, the seccomp allow-list.

use std::process::Command;

#[test]
fn platform_demo_runs_in_a_confined_sentry() {
    let out = Command::new(env!("CARGO_BIN_EXE_runsc"))
        .args(["platform-demo", "--confine", "--count", "3", "inside the confined sentry"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "runsc failed: {stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "inside the confined sentry\n".repeat(3));
    assert!(stderr.contains("intercepted 4 system calls"), "{stderr}");
}

#[test]
fn platform_demo_rejects_an_unknown_platform() {
    let out = Command::new(env!("CARGO_BIN_EXE_runsc")).args(["--platform", "xen", "platform-demo"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("runsc: unknown platform \"xen\""), "{stderr}");
}
