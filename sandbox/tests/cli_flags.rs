//! Global flags callers pass: runc's `--log`/`--log-format` (errors are
//! appended there as runc writes them) and gVisor's `--network`.

use std::process::Command;

mod common;
use common::runsc;

fn scratch(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("rvisor-flags-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn errors_are_appended_to_the_log_as_runc_writes_them() {
    let dir = scratch("log");
    let (json, text) = (dir.join("log.json"), dir.join("log.txt"));
    for (path, format) in [(&json, "json"), (&text, "text")] {
        let out = Command::new(runsc())
            .arg("--root")
            .arg(dir.join("state"))
            .arg("--log")
            .arg(path)
            .args(["--log-format", format, "state", "nope"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("\"nope\" does not exist"));
    }
    let line: serde_json::Value = serde_json::from_str(std::fs::read_to_string(&json).unwrap().trim()).unwrap();
    assert_eq!(line["level"], "error");
    assert_eq!(line["msg"], "container \"nope\" does not exist");
    assert!(line["time"].as_str().is_some_and(|t| t.ends_with('Z')), "{line}");
    let t = std::fs::read_to_string(&text).unwrap();
    assert!(t.starts_with("time=\"") && t.contains("level=error msg="), "{t}");
    // A bad format is refused before anything runs.
    let out = Command::new(runsc()).args(["--log-format", "xml", "list"]).output().unwrap();
    assert!(!out.status.success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn only_network_none_is_available() {
    let dir = scratch("net");
    let list = |net: &str| {
        Command::new(runsc()).arg("--root").arg(dir.join("state")).args(["--network", net, "list"]).output().unwrap()
    };
    assert!(list("none").status.success());
    let out = list("sandbox");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no network stack"), "{:?}", out);
    assert!(!list("bogus").status.success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_process_file_that_does_not_parse_is_a_one_line_error() {
    let dir = scratch("process");
    let bad = dir.join("process.json");
    std::fs::write(&bad, r#"{"args": ["/bin/true"], "cwd": 7}"#).unwrap();
    for (file, want) in [(bad.clone(), "malformed"), (dir.join("missing.json"), "no such file")] {
        let out = Command::new(runsc())
            .arg("--root")
            .arg(dir.join("state"))
            .args(["exec", "--process"])
            .arg(&file)
            .arg("anything")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(255), "runc's exec fails with 255");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(want) && err.contains(file.to_str().unwrap()), "{err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
