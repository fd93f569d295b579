//! Load on one shim: many sequential `ctr task exec` calls into one
//! container. Each exec is an Exec, Start, Wait, Delete of the shim plus
//! three FIFOs and an event stream; none of that may stay behind in the
//! shim (or in the Sentry): their memory stays flat.

use std::time::{Duration, Instant};

mod common;
use common::{text, Containerd};

/// Execs done before the first measurement (allocator arenas, tokio's
/// worker threads and the FIFO relays reach their steady state).
const WARM_UP: usize = 40;
/// Execs in all.
const EXECS: usize = 200;

/// A field of `/proc/<pid>/status` or `/proc/<pid>/smaps_rollup`, in KiB.
fn kib(pid: i32, file: &str, field: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/{file}")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix(field)?.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/{file}"))
}

/// Memory the process owns: its proportional set size (the shim's private
/// pages, which is where a leak would show).
fn pss(pid: i32) -> u64 {
    kib(pid, "smaps_rollup", "Pss:")
}

fn open_fds(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

struct Sample {
    shim_pss: u64,
    shim_fds: usize,
    shim_threads: u64,
    sentry_pss: u64,
}

fn sample(shim: i32, sentry: i32) -> Sample {
    Sample {
        shim_pss: pss(shim),
        shim_fds: open_fds(shim),
        shim_threads: kib(shim, "status", "Threads:"),
        sentry_pss: pss(sentry),
    }
}

/// 200 sequential execs, each checked for its output: the shim's memory
/// after the last is what it was after the first 40 (within 1 MiB, that
/// is under 7 KiB per exec), and so are its descriptors and threads.
#[test]
fn two_hundred_sequential_execs_leave_the_shim_flat() {
    let Some(c) = Containerd::start() else { return };
    c.import_image();
    let id = "load1";
    c.run_detached(id, &["sleep", "100000"]);
    let shims = c.shims();
    assert_eq!(shims.len(), 1, "one shim: {shims:?}");
    let shim = shims[0].0;
    let sentry = c.sandbox_pid(id);

    let mut first = None;
    let started = Instant::now();
    for i in 0..EXECS {
        if i == WARM_UP {
            first = Some(sample(shim, sentry));
        }
        let exec_id = format!("x{i}");
        let out = c.ctr(&["task", "exec", "--exec-id", &exec_id, id, "echo", &exec_id]);
        assert!(out.status.success(), "exec {i}: {}\n{}", text(&out), c.log());
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), exec_id, "exec {i}: {}", text(&out));
    }
    let per_exec = started.elapsed() / EXECS as u32;
    let first = first.unwrap();
    let last = sample(shim, sentry);
    eprintln!(
        "{EXECS} execs, {per_exec:?} each: shim PSS {} -> {} KiB, fds {} -> {}, threads {} -> {}; \
         Sentry PSS {} -> {} KiB",
        first.shim_pss,
        last.shim_pss,
        first.shim_fds,
        last.shim_fds,
        first.shim_threads,
        last.shim_threads,
        first.sentry_pss,
        last.sentry_pss
    );
    let growth = last.shim_pss.saturating_sub(first.shim_pss);
    assert!(
        growth < 1024,
        "the shim grew by {growth} KiB over {} execs ({} -> {} KiB)",
        EXECS - WARM_UP,
        first.shim_pss,
        last.shim_pss
    );
    assert!(
        last.shim_fds <= first.shim_fds,
        "the shim holds more descriptors: {} -> {}",
        first.shim_fds,
        last.shim_fds
    );
    assert!(
        last.shim_threads <= first.shim_threads + 2,
        "the shim has more threads: {} -> {}",
        first.shim_threads,
        last.shim_threads
    );
    // The Sentry reaped every exec'd process and freed its memory too.
    let growth = last.sentry_pss.saturating_sub(first.sentry_pss);
    assert!(growth < 4096, "the Sentry grew by {growth} KiB ({} -> {} KiB)", first.sentry_pss, last.sentry_pss);

    let out = c.ctr(&["task", "kill", "-s", "SIGKILL", id]);
    assert!(out.status.success(), "ctr task kill: {}", text(&out));
    let start = Instant::now();
    while !c.ctr(&["task", "delete", id]).status.success() {
        assert!(start.elapsed() < Duration::from_secs(60), "task never deleted\n{}", c.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = c.ctr(&["containers", "rm", id]);
    assert!(out.status.success(), "ctr containers rm: {}", text(&out));
    c.assert_clean(id);
}
