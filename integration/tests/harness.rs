//! Self-tests of the harness: the runsc half of a comparison, driven by
//! stand-ins (runc itself, a wrapper that changes the output), timeouts and
//! clear errors. They prove that the differential path works before
//! `runsc run` exists.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use integration::differential::compare_against;
use integration::runtime::{require_runc, run, run_with_timeout};
use integration::{Bundle, CompareError, RunError, Runtime};

/// Writes an executable shell script standing in for runsc.
fn fake_runsc(name: &str, body: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("rvisor-fake-{name}-{}", std::process::id()));
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn runc_path() -> PathBuf {
    let out = std::process::Command::new("sh").args(["-c", "command -v runc"]).output().unwrap();
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

#[test]
fn runc_as_runsc_compares_equal() {
    if !require_runc("runc_as_runsc_compares_equal") {
        return;
    }
    let mut b = Bundle::new().unwrap();
    b.guest("pipes", &[]);
    let runsc = Runtime::Runsc(runc_path());
    let c = compare_against(&b, "self", Some(&runsc), str::to_owned).unwrap_or_else(|e| panic!("{e}"));
    let other = c.runsc.expect("runsc side ran");
    assert_eq!(c.runc.stdout, other.stdout);
    assert!(other.cmdline.contains(" --root ") && other.cmdline.contains(" run --bundle "), "{}", other.cmdline);
}

#[test]
fn differing_runsc_gives_a_readable_diff() {
    if !require_runc("differing_runsc_gives_a_readable_diff") {
        return;
    }
    // Like runc, but `run` prints one extra line and exits 3.
    let script =
        fake_runsc("extra", "case \" $* \" in *' run '*) runc \"$@\"; echo extra; exit 3;; esac\nexec runc \"$@\"");
    let mut b = Bundle::new().unwrap();
    b.shell("echo one; echo two");
    let result = compare_against(&b, "diff", Some(&Runtime::Runsc(script.clone())), str::to_owned);
    let _ = std::fs::remove_file(&script);
    match result {
        Err(CompareError::Mismatch(d)) => {
            assert_eq!(d.report, "status: runc 0 != runsc 3\n--- stdout ---\n one\n two\n+extra\n");
            let text = d.to_string();
            assert!(text.contains("runc:  runc --root") && text.contains("+extra"), "{text}");
        }
        other => panic!("expected a mismatch, got {other:?}"),
    }
}

#[test]
fn normalisation_hides_differences_by_design() {
    if !require_runc("normalisation_hides_differences_by_design") {
        return;
    }
    let script = fake_runsc(
        "release",
        "case \" $* \" in *' run '*) runc \"$@\" | sed 's/^release .*/release 4.4.0/'; exit 0;; esac\nexec runc \"$@\"",
    );
    let mut b = Bundle::new().unwrap();
    b.shell("echo release $(uname -r)");
    let norm = |s: &str| {
        s.lines().map(|l| if l.starts_with("release ") { "release X\n".into() } else { format!("{l}\n") }).collect()
    };
    let result = compare_against(&b, "norm", Some(&Runtime::Runsc(script.clone())), norm);
    let _ = std::fs::remove_file(&script);
    let c = result.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.runc.stdout, "release X\n");
}

#[test]
fn missing_runtime_binary_is_a_clear_error() {
    let b = Bundle::new().unwrap();
    let err = run(&Runtime::Runsc("/nonexistent/runsc".into()), &b, "missing").unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, RunError::Spawn { .. }), "{text}");
    assert!(text.contains("/nonexistent/runsc --root") && text.contains("run --bundle"), "{text}");
}

#[test]
fn timeout_kills_and_cleans_up() {
    if !require_runc("timeout_kills_and_cleans_up") {
        return;
    }
    let mut b = Bundle::new().unwrap();
    b.shell("echo started; sleep 60");
    let start = Instant::now();
    let err = run_with_timeout(&Runtime::Runc, &b, "hang", Duration::from_secs(1)).unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(20), "took {:?}", start.elapsed());
    match &err {
        RunError::Timeout { stdout, .. } => assert_eq!(stdout, "started\n", "{err}"),
        other => panic!("expected a timeout, got {other}"),
    }
    // The bundle is reusable afterwards: nothing of the killed container remains.
    b.shell("echo again");
    assert_eq!(run(&Runtime::Runc, &b, "after").unwrap().stdout, "again\n");
}
