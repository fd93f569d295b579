//! The Sentry against native Linux, in one run: a static guest times a
//! syscall-heavy loop (getpid), 4 KiB reads of /dev/zero, 4 KiB file writes
//! and reads (through the Gofer under runsc), fork+wait and fork+exec+wait
//! of the static guest itself, and a CPU-bound loop, once natively and once
//! under `runsc run`, and the ratios are printed.
//!
//! `cargo bench -p sandbox --bench sentry`

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;

fn parse(out: &[u8]) -> BTreeMap<String, f64> {
    String::from_utf8_lossy(out)
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

fn main() {
    let runsc = env!("CARGO_BIN_EXE_runsc");
    let dir = std::env::temp_dir().join(format!("rvisor-bench-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let rootfs = dir.join("rootfs");
    fs::create_dir_all(rootfs.join("dev")).unwrap();
    fs::create_dir_all(rootfs.join("data")).unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/sentry_guest.c");
    let guest = rootfs.join("bench");
    let cc = Command::new("gcc").args(["-static", "-O2", "-o"]).arg(&guest).arg(&src).status();
    if !matches!(cc, Ok(s) if s.success()) {
        eprintln!("sentry bench skipped: gcc -static failed");
        return;
    }

    let native = Command::new(&guest).arg(rootfs.join("data")).output().unwrap();
    assert!(native.status.success(), "native run failed: {}", String::from_utf8_lossy(&native.stderr));

    assert!(Command::new(runsc).args(["spec", "--bundle"]).arg(&dir).status().unwrap().success());
    let mut config: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    config["process"]["terminal"] = false.into();
    config["process"]["args"] = serde_json::json!(["/bench", "/data"]);
    config["root"]["readonly"] = false.into();
    fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let sandboxed = Command::new(runsc)
        .arg("--root")
        .arg(dir.join("state"))
        .args(["run", "--bundle"])
        .arg(&dir)
        .arg("bench")
        .output()
        .unwrap();
    assert!(sandboxed.status.success(), "runsc run failed: {}", String::from_utf8_lossy(&sandboxed.stderr));

    let (n, s) = (parse(&native.stdout), parse(&sandboxed.stdout));
    println!("{:<18} {:>12} {:>12} {:>9}", "phase (ns/op)", "native", "runsc", "ratio");
    for (phase, nv) in &n {
        if let Some(sv) = s.get(phase) {
            println!("{phase:<18} {nv:>12.2} {sv:>12.2} {:>9.2}", sv / nv);
        }
    }
    let _ = fs::remove_dir_all(&dir);
}
