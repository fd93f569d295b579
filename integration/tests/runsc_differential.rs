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

/// One lifecycle, step by step, under `rt`: what each step returned (exit
/// code) and the status `state` reported after it. Error texts may differ
/// between runtimes; codes and statuses must not.
fn lifecycle_transcript(rt: &Runtime, bundle: &Bundle) -> Vec<String> {
    use integration::runtime::Session;
    let s = Session::new(rt, "life").expect("session");
    let dir = bundle.dir().to_str().unwrap();
    let log = std::cell::RefCell::new(Vec::new());
    let step = |what: &str, args: &[&str]| -> i32 {
        let out = s.cmd(args).unwrap_or_else(|e| panic!("{}: {what}: {e}", rt.name()));
        eprintln!("{}: {out}", rt.name());
        log.borrow_mut().push(format!("{what}: exit {}", out.status));
        out.status
    };
    step("state of an unknown id", &["state", "ghost"]);
    step("start of an unknown id", &["start", "ghost"]);
    step("kill of an unknown id", &["kill", "ghost", "KILL"]);
    step("delete of an unknown id", &["delete", "ghost"]);
    let empty = std::env::temp_dir().join(format!("rvisor-empty-bundle-{}-{}", rt.name(), std::process::id()));
    std::fs::create_dir_all(empty.join("rootfs")).unwrap();
    step("create without config.json", &["create", "--bundle", empty.to_str().unwrap(), "noconfig"]);
    let _ = std::fs::remove_dir_all(&empty);
    step("state after a failed create", &["state", "noconfig"]);

    step("create", &["create", "--bundle", dir, "life"]);
    let st = s.state("life").unwrap_or_default();
    log.borrow_mut().push(format!("after create: {} pid>0={}", st["status"], st["pid"].as_i64().unwrap_or(0) > 0));
    step("create of an id in use", &["create", "--bundle", dir, "life"]);
    step("start", &["start", "life"]);
    log.borrow_mut().push(format!("after start: {:?}", s.status("life")));
    step("start again", &["start", "life"]);
    // exec joins the running container: output, exit status, user, env, cwd.
    let exec = |what: &str, args: &[&str]| {
        let out = s.cmd(args).unwrap_or_else(|e| panic!("{}: {what}: {e}", rt.name()));
        eprintln!("{}: {out}", rt.name());
        log.borrow_mut().push(format!("{what}: exit {} stdout {:?}", out.status, out.stdout));
    };
    exec("exec", &["exec", "life", "/bin/sh", "-c", "echo exec-out; exit 3"]);
    exec("exec --user", &["exec", "--user", "1000:1000", "life", "/bin/sh", "-c", "id -u; id -g"]);
    exec("exec --env --cwd", &["exec", "--env", "X=y", "--cwd", "/bin", "life", "/bin/sh", "-c", "echo $X; pwd"]);
    exec("exec of a missing program", &["exec", "life", "/no-such-program"]);
    exec("exec in an unknown container", &["exec", "ghost", "/bin/true"]);
    step("pause", &["pause", "life"]);
    log.borrow_mut().push(format!("after pause: {:?}", s.status("life")));
    step("pause again", &["pause", "life"]);
    step("resume", &["resume", "life"]);
    log.borrow_mut().push(format!("after resume: {:?}", s.status("life")));
    step("resume again", &["resume", "life"]);
    step("kill with a bad signal", &["kill", "life", "SIGNOPE"]);
    step("kill with signal 0", &["kill", "life", "0"]);
    step("delete while running", &["delete", "life"]);
    log.borrow_mut().push(format!("after the failed delete: {:?}", s.status("life")));
    step("kill", &["kill", "life", "KILL"]);
    let mut status = s.status("life");
    for _ in 0..500 {
        if status.as_deref() == Some("stopped") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
        status = s.status("life");
    }
    let st = s.state("life").unwrap_or_default();
    log.borrow_mut().push(format!("after kill: {:?} pid={}", status, st["pid"]));
    step("kill when stopped", &["kill", "life", "KILL"]);
    step("start when stopped", &["start", "life"]);
    step("delete", &["delete", "life"]);
    step("state after delete", &["state", "life"]);
    step("delete again", &["delete", "life"]);
    step("create after delete", &["create", "--bundle", dir, "life"]);
    step("kill of a created container", &["kill", "life", "KILL"]);
    let mut status = s.status("life");
    for _ in 0..500 {
        if status.as_deref() == Some("stopped") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
        status = s.status("life");
    }
    log.borrow_mut().push(format!("after killing a created container: {status:?}"));
    step("delete of a killed created container", &["delete", "life"]);
    step("create again", &["create", "--bundle", dir, "life"]);
    step("delete --force of a created container", &["delete", "--force", "life"]);
    step("state after delete --force", &["state", "life"]);
    log.into_inner()
}

#[test]
fn lifecycle_state_transitions_match() {
    if !require_runc("diff-lifecycle") {
        return;
    }
    let Some(runsc) = runsc() else { return };
    let mut bundle = Bundle::new().expect("bundle");
    bundle.args(["/bin/sleep", "1000"]);
    bundle.write_config().expect("config.json");
    let runc = lifecycle_transcript(&Runtime::Runc, &bundle);
    let ours = lifecycle_transcript(&runsc, &bundle);
    let diff: Vec<String> =
        runc.iter().zip(&ours).filter(|(a, b)| a != b).map(|(a, b)| format!("runc:  {a}\nrunsc: {b}")).collect();
    assert!(diff.is_empty() && runc.len() == ours.len(), "lifecycles differ:\n{}", diff.join("\n"));
    assert!(runc.iter().any(|l| l == "after kill: Some(\"stopped\") pid=0"), "{runc:#?}");
}

#[test]
fn default_mounts_match() {
    // What a default spec mounts: modes and types as programs see them
    // (`/dev/shm` sticky and world-writable for POSIX shared memory).
    if !require_runc("diff-mounts") {
        return;
    }
    let Some(runsc) = runsc() else { return };
    let mut bundle = Bundle::new().expect("bundle");
    bundle.args(["/bin/stat", "-c", "%a %F %n", "/dev", "/dev/shm", "/dev/pts", "/proc", "/dev/null"]);
    let cmp = compare_against(&bundle, "diff-mounts", Some(&runsc), |s| s.to_owned()).unwrap_or_else(|e| panic!("{e}"));
    assert!(cmp.runc.stdout.contains("1777 directory /dev/shm\n"), "{:?}", cmp.runc);
}
