//! Test harness: builds guest programs with the host compiler and runs them
//! in a Sentry on the ptrace platform, with stdout and stderr captured
//! through pipes. Dynamically linked guests get their dynamic linker and
//! libraries copied from the host into the sandbox's root
//! ([`install_runtime`]).
#![allow(dead_code)]

use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use platforms::ptrace::Ptrace;
use platforms::MemoryFile;
use sentry_core::{ExitStatus, Kernel, KernelConfig, ProcessSpec};

/// Where [`guest`] puts the binary of `name` built as `build`.
fn guest_out(name: &str, build: Build) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("guests").join(format!("{name}-{build:?}"))
}

/// How to build a guest.
#[derive(Clone, Copy, Debug)]
pub enum Build {
    /// `gcc -static -O1` (glibc, ET_EXEC).
    Static,
    /// `gcc -static-pie -O1` (glibc, ET_DYN without interpreter).
    StaticPie,
    /// `musl-gcc -static -O1`.
    Musl,
    /// `gcc -O1`: a glibc PIE with `PT_INTERP` (the host's default).
    Dynamic,
    /// `musl-gcc -O1`: a musl PIE with `PT_INTERP` (musl's libc.so is its
    /// own dynamic linker).
    MuslDynamic,
}

/// Compiles `tests/guests/<name>.c` (once per build kind) and returns the
/// binary's bytes.
pub fn guest(name: &str, build: Build) -> Vec<u8> {
    std::fs::read(guest_path(name, build)).expect("read guest binary")
}

/// Compiles `tests/guests/<name>.c` (once per build kind) and returns the
/// binary's path on the host.
pub fn guest_path(name: &str, build: Build) -> PathBuf {
    // One compiler run at a time in this process: two tests asking for the
    // same guest must not both build it.
    static BUILD: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _serial = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/guests").join(format!("{name}.c"));
    let out = guest_out(name, build);
    let dir = out.parent().expect("guest directory").to_path_buf();
    std::fs::create_dir_all(&dir).expect("guest output directory");
    // Fresh: newer than its source and than the header guests share.
    let header = src.with_file_name("guest.h");
    let fresh = match (std::fs::metadata(&out), std::fs::metadata(&src)) {
        (Ok(o), Ok(s)) => {
            let built = o.modified().ok();
            built >= s.modified().ok() && std::fs::metadata(&header).map(|h| built >= h.modified().ok()).unwrap_or(true)
        }
        _ => false,
    };
    if !fresh {
        // Build to a name unique to this process, then rename: other test
        // binaries may build the same guest at the same time.
        let tmp = dir.join(format!("{name}-{build:?}.{}.tmp", std::process::id()));
        let (cc, flags): (&str, &[&str]) = match build {
            Build::Static => ("gcc", &["-static", "-O1"]),
            Build::StaticPie => ("gcc", &["-static-pie", "-fPIE", "-O1"]),
            Build::Musl => ("musl-gcc", &["-static", "-O1"]),
            Build::Dynamic => ("gcc", &["-O1"]),
            Build::MuslDynamic => ("musl-gcc", &["-O1"]),
        };
        let st = Command::new(cc).args(flags).arg("-o").arg(&tmp).arg(&src).status().expect("run the C compiler");
        assert!(st.success(), "{cc} failed for {}", src.display());
        std::fs::rename(&tmp, &out).expect("rename guest");
    }
    out
}

/// Copies host file `path` into `k`'s root at the same path, recreating the
/// symbolic links met on the way (in the directories and the file itself),
/// so that the sandbox sees the host's layout (`/lib64` → `usr/lib64`,
/// `ld-linux-x86-64.so.2` → `/lib/x86_64-linux-gnu/...`).
pub fn install_host_file(k: &Kernel, path: &str) {
    let fs = k.root_fs();
    let mut resolved = PathBuf::from("/");
    let mut rest: std::collections::VecDeque<PathBuf> = Path::new(path).iter().skip(1).map(PathBuf::from).collect();
    let mut links = 0;
    while let Some(c) = rest.pop_front() {
        if c.as_os_str() == "." {
            continue;
        }
        if c.as_os_str() == ".." {
            resolved.pop();
            continue;
        }
        let host = resolved.join(&c);
        let name = host.to_str().expect("UTF-8 host path");
        let meta = std::fs::symlink_metadata(&host).unwrap_or_else(|e| panic!("{name}: {e}"));
        if meta.file_type().is_symlink() {
            links += 1;
            assert!(links < 40, "{path}: too many symbolic links");
            let target = std::fs::read_link(&host).expect("readlink");
            match fs.symlink(target.to_str().expect("UTF-8 link"), name) {
                Ok(()) | Err(sentry_core::Errno::EEXIST) => {}
                Err(e) => panic!("symlink {name}: {e}"),
            }
            if target.is_absolute() {
                resolved = PathBuf::from("/");
            }
            let mut new: std::collections::VecDeque<PathBuf> =
                target.iter().filter(|c| *c != "/").map(PathBuf::from).collect();
            new.extend(rest);
            rest = new;
        } else if meta.is_dir() {
            fs.mkdir_all(name, 0o755).unwrap_or_else(|e| panic!("mkdir {name}: {e}"));
            resolved = host;
        } else {
            use std::os::unix::fs::PermissionsExt;
            let data = std::fs::read(&host).expect("read host file");
            fs.write_file(name, &data, meta.permissions().mode() & 0o7777)
                .unwrap_or_else(|e| panic!("write {name}: {e}"));
            resolved = host;
        }
    }
}

/// Installs in `k` what host binary `bin` needs to run: its dynamic linker
/// (`PT_INTERP`) and, for glibc programs, the libraries `ldd` lists.
pub fn install_runtime(k: &Kernel, bin: &Path) {
    let data = std::fs::read(bin).expect("read binary");
    let read = |off: u64, buf: &mut [u8]| -> Result<(), sentry_core::Errno> {
        let s = data.get(off as usize..off as usize + buf.len()).ok_or(sentry_core::Errno::EIO)?;
        buf.copy_from_slice(s);
        Ok(())
    };
    let elf = sentry_core::loader::elf::parse(data.len() as u64, &read).expect("an ELF binary");
    let Some(interp) = elf.interp else { return };
    install_host_file(k, &interp);
    if interp.contains("musl") {
        // musl's dynamic linker is its libc; glibc's ldd cannot list it.
        return;
    }
    let out = Command::new("ldd").arg(bin).output().expect("run ldd");
    assert!(out.status.success(), "ldd {}: {}", bin.display(), String::from_utf8_lossy(&out.stderr));
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or
        // "/lib64/ld-linux-x86-64.so.2 (0x...)"; the vDSO has no path.
        if let Some(lib) = line.split_whitespace().find(|w| w.starts_with('/')) {
            install_host_file(k, lib);
        }
    }
}

/// The outcome of a run.
#[derive(Debug)]
pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0i32; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(r, 0, "pipe2");
    // SAFETY: pipe2 succeeded, so both descriptors are fresh and ours.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

fn drain(fd: OwnedFd) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = Vec::new();
        std::fs::File::from(fd).read_to_end(&mut s).expect("read pipe");
        String::from_utf8_lossy(&s).into_owned()
    })
}

/// A kernel on a fresh ptrace platform, with `/tmp`, `/bin`, `/etc`.
pub fn kernel() -> Kernel {
    let memory = Arc::new(MemoryFile::new(1 << 30).expect("memory file"));
    let platform = Arc::new(Ptrace::new(memory).expect("ptrace platform"));
    let mut cfg = KernelConfig::new(platform);
    cfg.hostname = "sandbox".into();
    cfg.strace = std::env::var_os("RVISOR_STRACE").is_some();
    let k = Kernel::new(cfg).expect("kernel");
    for d in ["/tmp", "/bin", "/etc"] {
        k.root_fs().mkdir_all(d, 0o755).expect("mkdir");
    }
    k
}

/// Runs `argv` (argv[0] must already be in the root) in `k`.
pub fn run_in(k: &Kernel, argv: &[&str], envp: &[&str]) -> Run {
    let stdin = std::fs::File::open("/dev/null").expect("open /dev/null");
    let (out_r, out_w) = pipe();
    let (err_r, err_w) = pipe();
    let handle = k
        .spawn_init(ProcessSpec {
            argv: argv.iter().map(|s| s.to_string()).collect(),
            envp: envp.iter().map(|s| s.to_string()).collect(),
            cwd: "/".into(),
            stdio: [stdin.into(), out_w, err_w],
            uid: 0,
            gid: 0,
            groups: Vec::new(),
            rlimits: Vec::new(),
        })
        .expect("spawn init");
    let (out, err) = (drain(out_r), drain(err_r));
    let status = handle.wait();
    Run { status, stdout: out.join().expect("stdout"), stderr: err.join().expect("stderr") }
}

/// Runs `argv` in `k` as user `uid` and group `gid` (working directory
/// `/`).
pub fn run_in_as(k: &Kernel, argv: &[&str], envp: &[&str], uid: u32, gid: u32) -> Run {
    let stdin = std::fs::File::open("/dev/null").expect("open /dev/null");
    let (out_r, out_w) = pipe();
    let (err_r, err_w) = pipe();
    let handle = k
        .spawn_init(ProcessSpec {
            argv: argv.iter().map(|s| s.to_string()).collect(),
            envp: envp.iter().map(|s| s.to_string()).collect(),
            cwd: "/".into(),
            stdio: [stdin.into(), out_w, err_w],
            uid,
            gid,
            groups: Vec::new(),
            rlimits: Vec::new(),
        })
        .expect("spawn init");
    let (out, err) = (drain(out_r), drain(err_r));
    let status = handle.wait();
    Run { status, stdout: out.join().expect("stdout"), stderr: err.join().expect("stderr") }
}

/// Installs `binary` as `/bin/<name>` in a fresh kernel and runs it.
pub fn run(binary: &[u8], name: &str, args: &[&str]) -> Run {
    let k = kernel();
    let path = format!("/bin/{name}");
    k.root_fs().write_file(&path, binary, 0o755).expect("install binary");
    let mut argv = vec![path.as_str()];
    argv.extend_from_slice(args);
    run_in(&k, &argv, &["PATH=/bin", "HOME=/"])
}

/// Runs guest `name` natively on the host with `args` (stdin from
/// `/dev/null`, output captured), for differential tests: a guest is a
/// normal static Linux program.
pub fn run_native(name: &str, build: Build, args: &[&str]) -> Run {
    use std::os::unix::process::ExitStatusExt;
    guest(name, build);
    let out = Command::new(guest_path(name, build))
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run the guest natively");
    let status = match (out.status.code(), out.status.signal()) {
        (Some(c), _) => ExitStatus::Exited(c),
        (None, Some(signal)) => ExitStatus::Signaled { signal, core_dumped: out.status.core_dumped() },
        (None, None) => panic!("native run ended oddly: {:?}", out.status),
    };
    Run {
        status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs guest `name` in a fresh Sentry (with `sentry_args`) and natively
/// (with `native_args`), asserts that both end the same way with the same
/// output, and returns the Sentry's run.
pub fn differential(name: &str, build: Build, sentry_args: &[&str], native_args: &[&str]) -> Run {
    let sentry = run(&guest(name, build), name, sentry_args);
    let native = run_native(name, build, native_args);
    assert_eq!(sentry.status, native.status, "{name}: exit status differs\nsentry: {sentry:?}\nnative: {native:?}");
    assert_eq!(sentry.stdout, native.stdout, "{name}: output differs from native Linux");
    sentry
}

/// Logs to the test output when RUST_LOG is set.
pub fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}
