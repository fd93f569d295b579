//! The shim through a private containerd, in one run:
//!
//! - latency of `ctr run --rm IMAGE ID true` with runtime
//!   `io.containerd.runsc.v1` against `io.containerd.runc.v2`, N runs each
//!   (default 10; `cargo bench -p shim --bench ctr -- N`), medians and
//!   their ratio;
//! - host memory of one idle sandbox (`sleep`): proportional set size
//!   (PSS, from `/proc/PID/smaps_rollup`) and RSS of the Sentry (with its
//!   ptrace stubs), the Gofer and the shim, next to runc's shim and
//!   container process.
//!
//! Results are printed, never asserted. Needs root, containerd and runc
//! (skipped with a message otherwise).

use std::path::Path;
use std::time::{Duration, Instant};

#[path = "../tests/common/mod.rs"]
mod common;
use common::{Containerd, IMAGE};

const RUNSC: &str = "io.containerd.runsc.v1";
const RUNC: &str = "io.containerd.runc.v2";

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// `ctr run --rm` of `true`; its duration.
fn run_true(c: &Containerd, runtime: &str, id: &str) -> Duration {
    let config = c.path().join("runsc.toml");
    let mut args = vec!["run", "--rm", "--runtime", runtime];
    if runtime == RUNSC {
        args.extend(["--runtime-config-path", config.to_str().unwrap()]);
    }
    args.extend([IMAGE, id, "true"]);
    let start = Instant::now();
    let out = c.ctr(&args);
    let took = start.elapsed();
    assert!(out.status.success(), "ctr run {runtime}: {}", String::from_utf8_lossy(&out.stderr));
    took
}

/// (PSS, RSS) of a process in KiB.
fn memory(pid: i32) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    let field = |name: &str| {
        text.lines().find_map(|l| l.strip_prefix(name)?.split_whitespace().next()?.parse().ok()).unwrap_or(0u64)
    };
    (field("Pss:"), field("Rss:"))
}

/// Direct children of `pid`.
fn children(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            let list = std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
            out.extend(list.split_whitespace().filter_map(|p| p.parse::<i32>().ok()));
        }
    }
    out
}

fn descendants(pid: i32) -> Vec<i32> {
    let mut all = vec![pid];
    let mut i = 0;
    while i < all.len() {
        let kids = children(all[i]);
        all.extend(kids);
        i += 1;
    }
    all
}

fn cmdline(pid: i32) -> String {
    String::from_utf8_lossy(&std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default()).replace('\0', " ")
}

/// The PID column of `ctr task ls` for `id`.
fn task_pid(c: &Containerd, id: &str) -> i32 {
    let start = Instant::now();
    loop {
        let out = c.ctr(&["task", "ls"]);
        let found = String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.first() == Some(&id) && f.last() == Some(&"RUNNING")).then(|| f.get(1)?.parse().ok()).flatten()
        });
        if let Some(pid) = found {
            return pid;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "task {id} never RUNNING");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn row(what: &str, pids: &[i32]) -> (u64, u64) {
    let (pss, rss) = pids.iter().map(|&p| memory(p)).fold((0, 0), |a, m| (a.0 + m.0, a.1 + m.1));
    println!("  {what:<34} {:>5} process(es)  PSS {:>7} KiB  RSS {:>7} KiB", pids.len(), pss, rss);
    (pss, rss)
}

fn stop(c: &Containerd, id: &str) {
    let _ = c.ctr(&["task", "kill", "-s", "SIGKILL", id]);
    let start = Instant::now();
    while !c.ctr(&["task", "delete", id]).status.success() && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = c.ctr(&["containers", "delete", id]);
}

fn main() {
    let n: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(10).max(1);
    if !Path::new("/usr/bin/containerd-shim-runc-v2").exists() {
        println!("ctr bench: SKIP: containerd-shim-runc-v2 is not installed");
        return;
    }
    let Some(c) = Containerd::start() else {
        println!("ctr bench: SKIP (see above)");
        return;
    };
    c.import_image();

    // Latency: one warm-up run each, then N alternating pairs.
    run_true(&c, RUNSC, "warm-runsc");
    run_true(&c, RUNC, "warm-runc");
    let (mut runsc, mut runc) = (Vec::new(), Vec::new());
    for i in 0..n {
        runsc.push(run_true(&c, RUNSC, &format!("lat-runsc-{i}")));
        runc.push(run_true(&c, RUNC, &format!("lat-runc-{i}")));
    }
    let (ms, mc) = (median(runsc.clone()), median(runc.clone()));
    println!("ctr run --rm IMAGE ID true, {n} runs each (median; min..max):");
    for (name, v, m) in [("runsc", &runsc, ms), ("runc", &runc, mc)] {
        let (lo, hi) = (v.iter().min().copied().unwrap_or_default(), v.iter().max().copied().unwrap_or_default());
        println!("  {name:<6} {:>8.1} ms  ({:.1}..{:.1} ms)", ms_of(m), ms_of(lo), ms_of(hi));
    }
    println!("  ratio runsc/runc: {:.2}x", ms.as_secs_f64() / mc.as_secs_f64().max(1e-9));

    // Memory of one idle container.
    let config = c.path().join("runsc.toml");
    let out = c.ctr(&[
        "run",
        "-d",
        "--runtime",
        RUNSC,
        "--runtime-config-path",
        config.to_str().unwrap(),
        IMAGE,
        "idle-runsc",
        "sleep",
        "100000",
    ]);
    assert!(out.status.success(), "ctr run -d: {}", String::from_utf8_lossy(&out.stderr));
    let sentry = task_pid(&c, "idle-runsc");
    // Settle: the first seconds still fault pages in.
    std::thread::sleep(Duration::from_secs(2));
    let shims: Vec<i32> = c.shims().into_iter().map(|(p, _)| p).collect();
    let gofers: Vec<i32> =
        shims.iter().flat_map(|&s| children(s)).filter(|&p| p != sentry && cmdline(p).contains(" gofer ")).collect();
    println!("idle sandbox (sleep) memory on the host:");
    let s = row("Sentry + ptrace stubs", &descendants(sentry));
    let g = row("Gofer", &gofers);
    let h = row("containerd-shim-runsc-v1", &shims);
    println!("  {:<34} {:>19} PSS {:>7} KiB  RSS {:>7} KiB", "total (runsc)", "", s.0 + g.0 + h.0, s.1 + g.1 + h.1);
    stop(&c, "idle-runsc");

    let out = c.ctr(&["run", "-d", "--runtime", RUNC, IMAGE, "idle-runc", "sleep", "100000"]);
    assert!(out.status.success(), "ctr run -d (runc): {}", String::from_utf8_lossy(&out.stderr));
    let init = task_pid(&c, "idle-runc");
    std::thread::sleep(Duration::from_secs(2));
    let runc_shim = std::fs::read_to_string(format!("/proc/{init}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse::<i32>().ok())
        .unwrap_or(0);
    let r = row("runc: container process", &descendants(init));
    let rs = row("runc: containerd-shim-runc-v2", &[runc_shim]);
    println!("  {:<34} {:>19} PSS {:>7} KiB  RSS {:>7} KiB", "total (runc)", "", r.0 + rs.0, r.1 + rs.1);
    stop(&c, "idle-runc");
}

fn ms_of(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
