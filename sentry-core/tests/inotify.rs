//! inotify: a guest watching a directory and a file while it creates,
//! writes, reads, renames and deletes, run in the Sentry and natively on
//! the host, with the same events required.

mod common;

use common::{differential, init_logging, Build};
use sentry_core::ExitStatus;

/// A fresh host directory for the native run.
fn native_dir() -> String {
    let d = std::env::temp_dir().join(format!("rvisor-inotify-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("native scratch directory");
    d.to_string_lossy().into_owned()
}

#[test]
fn inotify_matches_linux() {
    init_logging();
    let dir = native_dir();
    let r = differential("inotify", Build::Static, &[], &[&dir]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(r.status, ExitStatus::Exited(0), "{r:?}");
    print!("{}", r.stdout);
    // A few lines that must be there whatever else changes.
    for line in [
        "  dir CREATE watched len%16=0",
        "  dir CLOSE_WRITE watched len%16=0",
        "  file MODIFY len%16=0",
        "  dir MOVED_FROM watched len%16=0",
        "  file IGNORED len%16=0",
        "rm_watch again = -1 EINVAL",
    ] {
        assert!(r.stdout.lines().any(|l| l == line), "missing {line:?} in\n{}", r.stdout);
    }
}
