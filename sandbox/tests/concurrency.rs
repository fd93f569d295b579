//! Concurrent runsc invocations: on different containers they do not
//! disturb each other; on the same container they are serialised by the
//! container's lock (one `start` wins, the others see it started).

use std::process::Output;

mod common;
use common::{text, Bundle};

#[test]
fn runs_of_different_containers_in_parallel_do_not_interfere() {
    let Some(b) = Bundle::busybox("concurrency-runs", &[], &["/bin/busybox", "sh", "-c", "echo $HOSTNAME-ok"]) else {
        return;
    };
    let bundle = b.dir.to_str().unwrap().to_string();
    let (b, bundle) = (&b, &bundle);
    let outputs: Vec<Output> = std::thread::scope(|s| {
        let runs: Vec<_> =
            (0..6).map(|i| s.spawn(move || b.runsc(&["run", "--bundle", bundle, &format!("par{i}")]))).collect();
        runs.into_iter().map(|t| t.join().unwrap()).collect()
    });
    for (i, out) in outputs.iter().enumerate() {
        assert_eq!(out.status.code(), Some(0), "run {i}: {}", text(&out.stderr));
        assert!(text(&out.stdout).ends_with("-ok\n"), "run {i}: {:?}", text(&out.stdout));
    }
    assert_eq!(text(&b.runsc(&["list", "--format", "json"]).stdout).trim(), "[]");
}

#[test]
fn concurrent_starts_of_one_container_are_serialised() {
    let Some(b) = Bundle::busybox("concurrency-start", &[], &["/bin/busybox", "sleep", "1000"]) else { return };
    b.create("one");
    let outputs: Vec<Output> = std::thread::scope(|s| {
        let starts: Vec<_> = (0..5).map(|_| s.spawn(|| b.runsc(&["start", "one"]))).collect();
        starts.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let won = outputs.iter().filter(|o| o.status.success()).count();
    assert_eq!(won, 1, "exactly one start runs the container: {outputs:?}");
    for o in outputs.iter().filter(|o| !o.status.success()) {
        assert!(text(&o.stderr).contains("cannot start a container that is running"), "{}", text(&o.stderr));
    }
    assert_eq!(b.state("one")["status"], "running");
    let ps = text(&b.runsc(&["ps", "one"]).stdout);
    assert_eq!(ps.lines().skip(1).count(), 1, "one init: {ps}");
}
