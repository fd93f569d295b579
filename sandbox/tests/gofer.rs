//! `runsc gofer` as a process: confined, serving real directories.

use std::fs;
use std::path::{Path, PathBuf};

use gofer_9p::{oflags, Client, Errno};
use sandbox::gofer::{spawn, GoferMount};

fn runsc() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_runsc"))
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rvisor-gofer-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

fn status_field(pid: u32, name: &str) -> String {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in status"))
        .trim()
        .to_string()
}

#[test]
fn gofer_serves_files_confined_and_exits_with_its_client() {
    let root = temp_dir("root");
    let data = temp_dir("data");
    fs::write(root.join("hello.txt"), "hi from the host\n").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", root.join("escape")).unwrap();
    fs::write(data.join("ro.txt"), "read-only").unwrap();

    let mounts = [
        GoferMount { host_path: root.clone(), read_only: false },
        GoferMount { host_path: data.clone(), read_only: true },
    ];
    let mut gofer = spawn(runsc(), &mounts, false).unwrap();
    let pid = gofer.child.id();
    let mut sockets = gofer.sockets.drain(..);
    let root_client = Client::connect(sockets.next().unwrap(), 65536).unwrap();
    let data_client = Client::connect(sockets.next().unwrap(), 65536).unwrap();

    // Reads and writes reach the served tree.
    let (root_fid, _) = root_client.attach("root", "", 0).unwrap();
    let (f, _) = root_client.walk(&root_fid, &["hello.txt"]).unwrap();
    root_client.open(&f, oflags::RDONLY).unwrap();
    let mut buf = [0u8; 64];
    let n = root_client.read(&f, 0, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"hi from the host\n");
    let (dir, _) = root_client.walk(&root_fid, &[] as &[&str]).unwrap();
    root_client.create(&dir, "new.txt", oflags::WRONLY, 0o644, 0).unwrap();
    assert_eq!(root_client.write(&dir, 0, b"written by the sandbox").unwrap(), 22);
    assert_eq!(fs::read_to_string(root.join("new.txt")).unwrap(), "written by the sandbox");

    // A symlink is handed back, never followed to the host's /etc/passwd.
    let (link, _) = root_client.walk(&root_fid, &["escape"]).unwrap();
    assert_eq!(root_client.readlink(&link).unwrap(), b"/etc/passwd");
    assert!(root_client.open(&link, oflags::RDONLY).is_err());

    // The read-only mount refuses writes.
    let (data_fid, _) = data_client.attach("root", "", 0).unwrap();
    let (d, _) = data_client.walk(&data_fid, &[] as &[&str]).unwrap();
    let err = data_client.create(&d, "nope", oflags::WRONLY, 0o644, 0).unwrap_err();
    assert_eq!(err.errno(), Errno::EROFS);
    assert!(!data.join("nope").exists());

    // Confinement: seccomp filter, no_new_privs, reduced capabilities, own
    // mount and network namespaces.
    assert_eq!(status_field(pid, "Seccomp"), "2");
    assert_eq!(status_field(pid, "NoNewPrivs"), "1");
    assert_eq!(status_field(pid, "CapEff"), "000000000000001f");
    assert_eq!(status_field(pid, "CapBnd"), "000000000000001f");
    for ns in ["mnt", "net"] {
        let theirs = fs::read_link(format!("/proc/{pid}/ns/{ns}")).unwrap();
        let ours = fs::read_link(format!("/proc/self/ns/{ns}")).unwrap();
        assert_ne!(theirs, ours, "{ns} namespace shared with the host");
    }

    // Closing the Sentry's ends ends the Gofer, successfully.
    drop((f, dir, link, root_fid, d, data_fid));
    root_client.shutdown();
    data_client.shutdown();
    drop((root_client, data_client));
    let status = gofer.child.wait().unwrap();
    assert!(status.success(), "gofer exited with {status}");
    fs::remove_dir_all(root).unwrap();
    fs::remove_dir_all(data).unwrap();
}

#[test]
fn gofer_rejects_descriptors_it_was_not_given() {
    let root = temp_dir("baddesc");
    let out = std::process::Command::new(runsc())
        .args(["gofer", "--serve", &format!("77,rw,{}", root.display())])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("descriptor 77 was not passed"), "{stderr}");
    fs::remove_dir_all(root).unwrap();
}
