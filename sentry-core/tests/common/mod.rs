//! Test harness: builds static guest programs with the host compiler and
//! runs them in a Sentry on the ptrace platform, with stdout and stderr
//! captured through pipes.
#![allow(dead_code)]

use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use platforms::ptrace::Ptrace;
use platforms::MemoryFile;
use sentry_core::{ExitStatus, Kernel, KernelConfig, ProcessSpec};

/// How to build a guest.
#[derive(Clone, Copy, Debug)]
pub enum Build {
    /// `gcc -static -O1` (glibc, ET_EXEC).
    Static,
    /// `gcc -static-pie -O1` (glibc, ET_DYN without interpreter).
    StaticPie,
    /// `musl-gcc -static -O1`.
    Musl,
}

/// Compiles `tests/guests/<name>.c` (once per build kind) and returns the
/// binary's bytes.
pub fn guest(name: &str, build: Build) -> Vec<u8> {
    // One compiler run at a time in this process: two tests asking for the
    // same guest must not both build it.
    static BUILD: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _serial = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/guests").join(format!("{name}.c"));
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("guests");
    std::fs::create_dir_all(&dir).expect("guest output directory");
    let out = dir.join(format!("{name}-{build:?}"));
    let fresh = match (std::fs::metadata(&out), std::fs::metadata(&src)) {
        (Ok(o), Ok(s)) => o.modified().ok() >= s.modified().ok(),
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
        };
        let st = Command::new(cc).args(flags).arg("-o").arg(&tmp).arg(&src).status().expect("run the C compiler");
        assert!(st.success(), "{cc} failed for {}", src.display());
        std::fs::rename(&tmp, &out).expect("rename guest");
    }
    std::fs::read(&out).expect("read guest binary")
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

/// Logs to the test output when RUST_LOG is set.
pub fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}
