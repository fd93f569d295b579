//! Debian's static busybox (`busybox-static`, /bin/busybox) in the Sentry.
//! Each test is skipped with a message when busybox is not installed.

mod common;

use common::{init_logging, kernel, run_in};
use sentry_core::{ExitStatus, Kernel};

const BUSYBOX: &str = "/bin/busybox";

/// A kernel with busybox at /bin/busybox, or `None` (test skipped).
fn with_busybox() -> Option<Kernel> {
    let bytes = match std::fs::read(BUSYBOX) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("SKIPPED: {BUSYBOX} not available ({e}); apt-get install busybox-static");
            return None;
        }
    };
    let k = kernel();
    k.root_fs().write_file("/bin/busybox", &bytes, 0o755).expect("install busybox");
    Some(k)
}

const ENV: &[&str] = &["PATH=/bin", "HOME=/", "TERM=dumb"];

#[test]
fn busybox_echo() {
    init_logging();
    let Some(k) = with_busybox() else { return };
    let r = run_in(&k, &["busybox", "echo", "hello", "from", "busybox"], ENV);
    assert_eq!(r.status, ExitStatus::Exited(0), "{r:?}");
    assert_eq!(r.stdout, "hello from busybox\n");
}

#[test]
fn busybox_true_and_false_exit_codes() {
    init_logging();
    let Some(k) = with_busybox() else { return };
    let r = run_in(&k, &["busybox", "true"], ENV);
    assert_eq!(r.status, ExitStatus::Exited(0), "{r:?}");
    let r = run_in(&k, &["busybox", "false"], ENV);
    assert_eq!(r.status, ExitStatus::Exited(1), "{r:?}");
}

#[test]
fn busybox_cat_reads_tmpfs() {
    init_logging();
    let Some(k) = with_busybox() else { return };
    let text = "line one\nline two\n".repeat(1000);
    k.root_fs().write_file("/etc/file", text.as_bytes(), 0o644).unwrap();
    let r = run_in(&k, &["busybox", "cat", "/etc/file"], ENV);
    assert_eq!(r.status, ExitStatus::Exited(0), "{r:?}");
    assert_eq!(r.stdout, text);
    let r = run_in(&k, &["busybox", "cat", "/etc/missing"], ENV);
    assert_eq!(r.status, ExitStatus::Exited(1), "{r:?}");
    assert!(r.stderr.contains("No such file or directory"), "{r:?}");
}

#[test]
fn busybox_ls_lists_the_root() {
    init_logging();
    let Some(k) = with_busybox() else { return };
    k.root_fs().symlink("/bin/busybox", "/bin/sh").unwrap();
    let r = run_in(&k, &["busybox", "ls", "/"], ENV);
    assert_eq!(r.status, ExitStatus::Exited(0), "{r:?}");
    assert_eq!(r.stdout, "bin\ndev\netc\ntmp\n");
    let r = run_in(&k, &["busybox", "ls", "-l", "/bin"], ENV);
    assert_eq!(r.status, ExitStatus::Exited(0), "{r:?}");
    assert!(r.stdout.contains("busybox") && r.stdout.contains("sh -> /bin/busybox"), "{r:?}");
}

#[test]
fn busybox_applet_via_symlink_and_file_utilities() {
    init_logging();
    let Some(k) = with_busybox() else { return };
    for applet in ["sh", "mkdir", "cat", "uname", "wc"] {
        k.root_fs().symlink("/bin/busybox", &format!("/bin/{applet}")).unwrap();
    }
    let r = run_in(&k, &["uname", "-r"], ENV);
    assert_eq!(r.status, ExitStatus::Exited(0), "{r:?}");
    assert_eq!(r.stdout, "4.4.0\n");
    let r = run_in(&k, &["mkdir", "-p", "/tmp/a/b/c"], ENV);
    assert_eq!(r.status, ExitStatus::Exited(0), "{r:?}");
    k.root_fs().write_file("/tmp/a/b/c/f", b"one\ntwo\nthree\n", 0o644).unwrap();
    let r = run_in(&k, &["wc", "-l", "/tmp/a/b/c/f"], ENV);
    assert_eq!(r.status, ExitStatus::Exited(0), "{r:?}");
    assert_eq!(r.stdout.split_whitespace().next(), Some("3"), "{r:?}");
}

#[test]
fn busybox_nc_talks_over_loopback() {
    init_logging();
    let Some(k) = with_busybox() else { return };
    // The client retries until the server listens (the ports are the
    // sandbox's own: its loopback is not the host's).
    let script = "echo hello from server | busybox nc -l -p 5555 > /tmp/srv.out & \
                  for i in $(busybox seq 200); do \
                  echo hi from client | busybox nc 127.0.0.1 5555 2>/dev/null && break; busybox usleep 10000; done; \
                  wait; echo server got: $(busybox cat /tmp/srv.out)";
    let r = run_in(&k, &["busybox", "sh", "-c", script], ENV);
    assert_eq!(r.status, ExitStatus::Exited(0), "{r:?}");
    assert_eq!(r.stdout, "hello from server\nserver got: hi from client\n", "{r:?}");
}

#[test]
fn busybox_wget_fetches_from_busybox_httpd() {
    init_logging();
    let Some(k) = with_busybox() else { return };
    k.root_fs().mkdir_all("/www", 0o755).unwrap();
    k.root_fs().write_file("/www/index.html", b"<h1>it works</h1>\n", 0o644).unwrap();
    let script = "busybox httpd -f -p 127.0.0.1:8080 -h /www & pid=$!; \
                  for i in $(busybox seq 200); do \
                  busybox wget -q -O - http://127.0.0.1:8080/index.html 2>/dev/null && break; busybox usleep 10000; done; \
                  kill $pid; wait";
    let r = run_in(&k, &["busybox", "sh", "-c", script], ENV);
    assert_eq!(r.stdout, "<h1>it works</h1>\n", "{r:?}");
}
