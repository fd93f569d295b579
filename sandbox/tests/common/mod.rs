//! What the runsc CLI tests share: the built `runsc`, and a bundle of
//! busybox with a state root of its own, cleaned up (containers deleted,
//! files removed) when the test ends.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The runsc binary under test.
pub fn runsc() -> &'static str {
    env!("CARGO_BIN_EXE_runsc")
}

/// Output bytes as text, for assertions.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A temporary directory removed when dropped.
pub struct Dir(pub PathBuf);

impl Dir {
    /// A fresh, empty `rvisor-<tag>-<pid>` under the temp dir.
    pub fn new(tag: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("rvisor-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        Dir(d)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Whether busybox (Debian's busybox-static) is there; says SKIPPED if not.
pub fn have_busybox() -> bool {
    let there = Path::new("/bin/busybox").exists();
    if !there {
        eprintln!("SKIPPED: /bin/busybox not installed (Debian package busybox-static)");
    }
    there
}

/// An OCI bundle (`dir`: config.json from `runsc spec`, rootfs with
/// busybox) and the runsc state root (`state`) its containers use.
pub struct Bundle {
    pub dir: PathBuf,
    pub state: PathBuf,
}

impl Bundle {
    /// A bundle in `rvisor-<tag>-<pid>` whose rootfs has `/bin/busybox`
    /// and a link to it for each of `applets`, running `args` without a
    /// terminal; `None` (skipped) if busybox is missing.
    pub fn busybox(tag: &str, applets: &[&str], args: &[&str]) -> Option<Bundle> {
        if !have_busybox() {
            return None;
        }
        let dir = std::env::temp_dir().join(format!("rvisor-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let bin = dir.join("rootfs/bin");
        fs::create_dir_all(&bin).unwrap();
        fs::copy("/bin/busybox", bin.join("busybox")).unwrap();
        for applet in applets {
            std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
        }
        let out = Command::new(runsc()).args(["spec", "--bundle"]).arg(&dir).output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        let b = Bundle { state: dir.join("state"), dir };
        b.edit(|c| {
            c["process"]["terminal"] = false.into();
            c["process"]["args"] = args.into();
        });
        Some(b)
    }

    /// The bundle directory as a string argument.
    pub fn path(&self) -> &str {
        self.dir.to_str().unwrap()
    }

    /// Changes config.json.
    pub fn edit(&self, f: impl FnOnce(&mut serde_json::Value)) {
        let path = self.dir.join("config.json");
        let mut config: serde_json::Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        f(&mut config);
        fs::write(&path, config.to_string()).unwrap();
    }

    /// `runsc --root STATE args...` with stdin from /dev/null.
    pub fn runsc(&self, args: &[&str]) -> Output {
        Command::new(runsc()).arg("--root").arg(&self.state).args(args).stdin(Stdio::null()).output().unwrap()
    }

    /// Runs runsc with `args` with stdio away from this test's pipes (a
    /// sandbox it starts keeps them: `create` gives the container its
    /// caller's stdio); panics with its stderr on failure.
    pub fn runsc_detached<S: AsRef<OsStr>>(&self, args: &[S]) {
        let err = self.dir.join("runsc.err");
        let status = Command::new(runsc())
            .arg("--root")
            .arg(&self.state)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&err).unwrap())
            .status()
            .unwrap();
        let args: Vec<_> = args.iter().map(|a| a.as_ref().to_string_lossy().into_owned()).collect();
        assert!(status.success(), "runsc {args:?}: {}", fs::read_to_string(&err).unwrap());
    }

    /// `runsc create` of container `id` (stdio away from the test's).
    pub fn create(&self, id: &str) {
        self.runsc_detached(&["create", "--bundle", self.path(), id]);
    }

    /// `runsc state` of `id`, parsed.
    pub fn state(&self, id: &str) -> serde_json::Value {
        let out = self.runsc(&["state", id]);
        assert!(out.status.success(), "state {id}: {}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        if let Ok(list) = fs::read_dir(&self.state) {
            for e in list.flatten().filter(|e| e.path().is_dir()) {
                let _ = self.runsc(&["delete", "--force", &e.file_name().to_string_lossy()]);
            }
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}
