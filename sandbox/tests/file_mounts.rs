//! Bind mounts of single files (what CRI and podman add to every
//! container: /etc/hosts, /etc/hostname, /etc/resolv.conf): served by the
//! Gofer, read and written through, `ro` enforced, and mounted even where
//! the image lacks the mount point's directory and the root is read-only.

use std::fs;
use std::process::{Command, Stdio};

mod common;
use common::{have_busybox, runsc, text, Dir};

#[test]
fn files_bind_mounted_read_write_and_read_only() {
    if !have_busybox() {
        return;
    }
    let dir = Dir::new("file-mounts");
    let d = &dir.0;
    // The image has no /etc at all.
    fs::create_dir_all(d.join("rootfs/bin")).unwrap();
    fs::copy("/bin/busybox", d.join("rootfs/bin/busybox")).unwrap();
    fs::create_dir_all(d.join("host")).unwrap();
    fs::write(d.join("host/hosts"), "127.0.0.1 localhost\n").unwrap();
    fs::write(d.join("host/hostname"), "from-the-host\n").unwrap();
    // A symlink as the source: bind mounts resolve it on the host.
    std::os::unix::fs::symlink(d.join("host/hostname"), d.join("host/hostname-link")).unwrap();
    let out = Command::new(runsc()).args(["spec", "--bundle"]).arg(d).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut config: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(d.join("config.json")).unwrap()).unwrap();
    config["process"]["terminal"] = false.into();
    config["root"]["readonly"] = true.into();
    let script = "cat /etc/hosts /etc/hostname; \
                  echo '10.0.0.1 added' >> /etc/hosts && echo appended; \
                  echo changed > /etc/hostname || echo refused; \
                  ls /etc; \
                  /bin/busybox grep ' /etc/host' /proc/mounts";
    config["process"]["args"] = serde_json::json!(["/bin/busybox", "sh", "-c", script]);
    let mounts = config["mounts"].as_array_mut().unwrap();
    mounts.push(serde_json::json!({"destination": "/etc/hosts", "type": "bind",
        "source": d.join("host/hosts"), "options": ["rbind", "rw"]}));
    mounts.push(serde_json::json!({"destination": "/etc/hostname", "type": "bind",
        "source": d.join("host/hostname-link"), "options": ["rbind", "ro"]}));
    fs::write(d.join("config.json"), config.to_string()).unwrap();

    let out = Command::new(runsc())
        .arg("--root")
        .arg(d.join("state"))
        .args(["run", "--bundle"])
        .arg(d)
        .arg("files")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("127.0.0.1 localhost\nfrom-the-host\nappended\nrefused\n"), "{stdout:?}");
    assert!(text(&out.stderr).contains("Read-only file system"), "{}", text(&out.stderr));
    // /proc/mounts names what is mounted: the Gofer's files are 9p.
    assert!(stdout.contains("none /etc/hosts 9p "), "{stdout:?}");
    assert!(stdout.contains("none /etc/hostname 9p "), "{stdout:?}");
    // The append reached the host file; the read-only one is untouched.
    assert_eq!(fs::read_to_string(d.join("host/hosts")).unwrap(), "127.0.0.1 localhost\n10.0.0.1 added\n");
    assert_eq!(fs::read_to_string(d.join("host/hostname")).unwrap(), "from-the-host\n");
    // Nothing was created in the read-only image.
    assert!(!d.join("rootfs/etc").exists());
}

/// A bind mount the Gofer cannot serve (a FIFO) is `create`'s error in
/// the Gofer's own words — not the broken 9P connection the Sentry sees —
/// on one line, and no container, process or state is left.
#[test]
fn a_mount_the_gofer_cannot_serve_is_the_create_error() {
    if !have_busybox() {
        return;
    }
    let dir = Dir::new("gofer-error");
    let d = &dir.0;
    fs::create_dir_all(d.join("rootfs/bin")).unwrap();
    fs::copy("/bin/busybox", d.join("rootfs/bin/busybox")).unwrap();
    let fifo = d.join("fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let out = Command::new(runsc()).args(["spec", "--bundle"]).arg(d).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut config: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(d.join("config.json")).unwrap()).unwrap();
    config["process"]["terminal"] = false.into();
    config["process"]["args"] = serde_json::json!(["/bin/busybox", "true"]);
    config["mounts"].as_array_mut().unwrap().push(serde_json::json!({"destination": "/f", "type": "bind",
        "source": fifo, "options": ["rbind", "ro"]}));
    fs::write(d.join("config.json"), config.to_string()).unwrap();

    let state = d.join("state");
    let out = Command::new(runsc())
        .arg("--root")
        .arg(&state)
        .args(["create", "--bundle"])
        .arg(d)
        .arg("gerr")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(
        err.trim(),
        format!(
            "runsc: the Gofer could not start: bind mount source {}: only directories and regular files can be served",
            fifo.display()
        )
    );
    let out = Command::new(runsc()).arg("--root").arg(&state).args(["state", "gerr"]).output().unwrap();
    assert!(!out.status.success(), "the container exists: {}", text(&out.stdout));
    let procs = Command::new("pgrep").args(["-f", d.to_str().unwrap()]).output().unwrap();
    assert!(procs.stdout.is_empty(), "processes left: {}", text(&procs.stdout));
}
