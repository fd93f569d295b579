//! File-system system calls (ownership, time stamps, hard links, `statfs`,
//! syncing, `fallocate`, `renameat2`, `copy_file_range`, `chroot`, advisory
//! locks) of guest programs run in the Sentry, on tmpfs and on the gofer
//! file system.
//!
//! Each guest prints deterministic lines. The Sentry's output must equal
//! the expected output in `tests/fs_expected/`. When the tests run as root
//! on a host with a tmpfs `/dev/shm`, the same binaries also run natively
//! there (as root and as uid 1000) and their output must match too
//! (differential testing), except for the few lines where the Sentry
//! follows Linux 4.4 and later kernels changed behaviour
//! ([`NEWER_KERNEL_LABELS`]).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use common::{guest, init_logging, Build};
use sentry_core::fs::gofer::GoferFs;
use sentry_core::{ExitStatus, Kernel};

/// A path on another file system than the test directory: `/dev` is a
/// separate mount both in the Sentry and on the host.
const XDEV: &str = "/dev/rvisor-fsx-xdev";

/// The unprivileged user of the permission tests.
const USER: u32 = 1000;

/// Labels of lines that follow Linux 4.4 in the Sentry and differ on newer
/// hosts, so are not compared with native runs.
const NEWER_KERNEL_LABELS: &[&str] = &[
    // Linux 6.10 lets the opener of a file link it with AT_EMPTY_PATH
    // (4.4: CAP_DAC_READ_SEARCH or ENOENT, checked before the descriptor).
    "linkat empty path (not root)",
    "linkat empty path, missing fd",
    // Linux 5.8 allows unprivileged RENAME_WHITEOUT (4.4: EPERM).
    "rename whiteout (not root)",
    // Linux 6.x refuses KEEP_SIZE with COLLAPSE_RANGE as unsupported
    // (4.4: EINVAL, collapse must be alone).
    "fallocate collapse|keep",
];

const TMPFS_MAGIC: i64 = 0x0102_1994;

fn expected(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fs_expected").join(format!("{name}.out"));
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn label(line: &str) -> &str {
    line.split(": ").next().unwrap_or(line)
}

/// Compares line by line (a readable failure for long outputs); lines with
/// a label in `skip` may differ.
fn assert_lines(what: &str, got: &str, want: &str, skip: &[&str]) {
    let (g, w): (Vec<&str>, Vec<&str>) = (got.lines().collect(), want.lines().collect());
    for (i, (a, b)) in g.iter().zip(&w).enumerate() {
        if a != b && !(skip.contains(&label(a)) && label(a) == label(b)) {
            panic!("{what}: line {} differs:\n  got:  {a}\n  want: {b}\n--- full output:\n{got}", i + 1);
        }
    }
    assert_eq!(g.len(), w.len(), "{what}: {} lines, expected {}\n--- full output:\n{got}", g.len(), w.len());
}

/// A kernel with the guests installed in `/bin` and an empty `/tmp/fsx`.
fn kernel_with(guests: &[&str]) -> Kernel {
    let k = common::kernel();
    for name in guests {
        k.root_fs().write_file(&format!("/bin/{name}"), &guest(name, Build::Static), 0o755).unwrap();
    }
    k.root_fs().mkdir_all("/tmp/fsx", 0o755).unwrap();
    k
}

fn run_ok(k: &Kernel, argv: &[&str], uid: u32) -> String {
    let r = common::run_in_as(k, argv, &["PATH=/bin"], uid, uid);
    assert_eq!(r.status, ExitStatus::Exited(0), "{argv:?}: {r:?}");
    r.stdout
}

// ---- native runs ----

/// A host directory for a native run, removed on drop.
struct NativeDir(PathBuf);

impl Drop for NativeDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Whether native runs are possible: as root (for chown and for running
/// as another user) with a tmpfs `/dev/shm` (the same file system as the
/// Sentry's, so that `statfs` and block counts agree).
fn native_dir(tag: &str) -> Option<NativeDir> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("not root: skipping the native comparison");
        return None;
    }
    let shm = Path::new("/dev/shm");
    // SAFETY: `st` is a plain struct statfs filled by the call; the path is
    // NUL-terminated.
    let is_tmpfs = unsafe {
        let mut st: libc::statfs = std::mem::zeroed();
        libc::statfs(c"/dev/shm".as_ptr(), &mut st) == 0 && st.f_type == TMPFS_MAGIC
    };
    if !is_tmpfs {
        eprintln!("no tmpfs /dev/shm: skipping the native comparison");
        return None;
    }
    let d = shm.join(format!("rvisor-fsx-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir(&d).unwrap();
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
    Some(NativeDir(d))
}

/// Runs guest `name` natively with `args`, as `uid` (and the same gid) if
/// given.
fn run_native(dir: &NativeDir, name: &str, args: &[&str], uid: Option<u32>) -> String {
    let exe = dir.0.with_extension(format!("{name}.bin"));
    std::fs::write(&exe, guest(name, Build::Static)).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut cmd = Command::new(&exe);
    cmd.args(args);
    if let Some(u) = uid {
        use std::os::unix::process::CommandExt;
        cmd.uid(u).gid(u);
    }
    let out = cmd.output().expect("run the guest natively");
    let _ = std::fs::remove_file(&exe);
    assert!(out.status.success(), "native {name} {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

// ---- tmpfs ----

#[test]
fn ownership_times_links_space_renames_and_chroot_on_tmpfs() {
    init_logging();
    let k = kernel_with(&["fsattr"]);
    let out = run_ok(&k, &["/bin/fsattr", "root", "/tmp/fsx", XDEV], 0);
    let want = expected("fsattr-root");
    assert_lines("fsattr root in the Sentry", &out, &want, &[]);
    if let Some(dir) = native_dir("root") {
        let native = run_native(&dir, "fsattr", &["root", dir.0.to_str().unwrap(), XDEV], None);
        assert_lines("fsattr root natively", &native, &want, NEWER_KERNEL_LABELS);
    }
}

#[test]
fn permission_checks_for_a_non_root_user() {
    init_logging();
    let k = kernel_with(&["fsattr"]);
    run_ok(&k, &["/bin/fsattr", "root", "/tmp/fsx", XDEV], 0);
    let out = run_ok(&k, &["/bin/fsattr", "user", "/tmp/fsx", XDEV], USER);
    let want = expected("fsattr-user");
    assert_lines("fsattr user in the Sentry", &out, &want, &[]);
    if let Some(dir) = native_dir("user") {
        let base = dir.0.to_str().unwrap().to_string();
        run_native(&dir, "fsattr", &["root", &base, XDEV], None);
        let native = run_native(&dir, "fsattr", &["user", &base, XDEV], Some(USER));
        assert_lines("fsattr user natively", &native, &want, NEWER_KERNEL_LABELS);
    }
}

#[test]
fn advisory_locks_in_one_process() {
    init_logging();
    let k = kernel_with(&["locks"]);
    let out = run_ok(&k, &["/bin/locks", "/tmp/fsx"], 0);
    let want = expected("locks");
    assert_lines("locks in the Sentry", &out, &want, &[]);
    if let Some(dir) = native_dir("locks") {
        let native = run_native(&dir, "locks", &[dir.0.to_str().unwrap()], None);
        assert_lines("locks natively", &native, &want, &[]);
    }
}

#[test]
fn bad_pointers_descriptors_and_paths() {
    init_logging();
    let k = kernel_with(&["fserrs"]);
    let out = run_ok(&k, &["/bin/fserrs", "/tmp/fsx"], 0);
    let want = expected("fserrs");
    assert_lines("fserrs in the Sentry", &out, &want, &[]);
    if let Some(dir) = native_dir("errs") {
        let native = run_native(&dir, "fserrs", &[dir.0.to_str().unwrap()], None);
        assert_lines("fserrs natively", &native, &want, &[]);
    }
}

// ---- gofer ----

/// A host directory served by a Gofer (in a thread) and mounted on `/data`
/// of a kernel with the guests installed.
struct GoferKernel {
    kernel: Kernel,
    dir: PathBuf,
}

impl Drop for GoferKernel {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn gofer_kernel(tag: &str, guests: &[&str]) -> GoferKernel {
    // Serve a directory on tmpfs when possible, so that statfs reports
    // what the tmpfs runs expect.
    let parent = if Path::new("/dev/shm").is_dir() { PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
    let dir = parent.join(format!("rvisor-fsx-gofer-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("base")).unwrap();
    let (a, b) = UnixStream::pair().unwrap();
    let root_fd: std::os::fd::OwnedFd = std::fs::File::open(&dir).unwrap().into();
    let server = gofer_9p::Server::new(root_fd, false).unwrap();
    std::thread::spawn(move || server.serve(b));
    let client = gofer_9p::Client::connect(a, 65536).unwrap();
    let kernel = kernel_with(guests);
    let mf = Arc::clone(kernel.memory_file());
    let root = GoferFs::mount(client, mf, sentry_core::vfs::stat::makedev(0, 0x40), 0).unwrap();
    kernel.root_fs().mkdir_all("/data", 0o755).unwrap();
    kernel.mount("/data", root).unwrap();
    GoferKernel { kernel, dir }
}

#[test]
fn ownership_times_links_and_statfs_on_the_gofer_file_system() {
    init_logging();
    // The Gofer applies ownership changes on the host: only root can.
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("not root: the Gofer cannot chown; skipping");
        return;
    }
    let g = gofer_kernel("attr", &["fsattr"]);
    let out = run_ok(&g.kernel, &["/bin/fsattr", "root", "/data/base", XDEV], 0);
    assert_lines("fsattr root on gofer", &out, &expected("fsattr-gofer"), &[]);
    // Changes reached the host.
    let host = std::fs::metadata(g.dir.join("base/rootf666")).unwrap();
    assert_eq!(host.permissions().mode() & 0o7777, 0o666);
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(g.dir.join("base/f")).unwrap().nlink(), 1);
    assert_eq!(std::fs::read_to_string(g.dir.join("base/cd")).unwrap(), "28956");
}

#[test]
fn advisory_locks_on_the_gofer_file_system() {
    init_logging();
    let g = gofer_kernel("locks", &["locks"]);
    let out = run_ok(&g.kernel, &["/bin/locks", "/data/base"], 0);
    assert_lines("locks on gofer", &out, &expected("locks"), &[]);
}

#[test]
fn bad_pointers_descriptors_and_paths_on_the_gofer_file_system() {
    init_logging();
    let g = gofer_kernel("errs", &["fserrs"]);
    let out = run_ok(&g.kernel, &["/bin/fserrs", "/data/base"], 0);
    assert_lines("fserrs on gofer", &out, &expected("fserrs"), &[]);
}

// ---- locks between processes ----

/// How a driven process runs.
enum Handle {
    Sentry(sentry_core::TaskHandle),
    Native(std::process::Child),
}

/// A `lockctl` process: commands go to its stdin, result lines come back
/// from its stdout.
struct Driven {
    stdin: Option<std::fs::File>,
    lines: std::sync::mpsc::Receiver<String>,
    handle: Handle,
}

impl Driven {
    fn new(stdin: std::fs::File, stdout: std::fs::File, handle: Handle) -> Driven {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Driven { stdin: Some(stdin), lines: rx, handle }
    }

    fn cmd(&mut self, c: &str) {
        use std::io::Write;
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{c}").expect("send a command");
    }

    fn expect(&self, want: &str) {
        let got = self.lines.recv_timeout(std::time::Duration::from_secs(10));
        assert_eq!(got.as_deref(), Ok(want));
    }

    /// The last command blocks: no answer for a while.
    fn quiet(&self) {
        let got = self.lines.recv_timeout(std::time::Duration::from_millis(300));
        assert!(got.is_err(), "expected the command to block, got {got:?}");
    }

    fn kill(&mut self) {
        match &mut self.handle {
            Handle::Sentry(h) => h.kill(libc::SIGKILL),
            Handle::Native(c) => c.kill().expect("kill"),
        }
    }

    /// Waits for the end: "exited N" or "killed N".
    fn wait(mut self) -> String {
        drop(self.stdin.take());
        match self.handle {
            Handle::Sentry(h) => match h.wait() {
                ExitStatus::Exited(c) => format!("exited {c}"),
                ExitStatus::Signaled { signal, .. } => format!("killed {signal}"),
            },
            Handle::Native(mut c) => {
                use std::os::unix::process::ExitStatusExt;
                let st = c.wait().expect("wait");
                match st.code() {
                    Some(code) => format!("exited {code}"),
                    None => format!("killed {}", st.signal().unwrap_or(0)),
                }
            }
        }
    }
}

fn host_pipe() -> (std::fs::File, std::fs::File) {
    use std::os::fd::FromRawFd;
    let mut fds = [0i32; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: pipe2 succeeded: both descriptors are fresh and ours.
    unsafe { (std::fs::File::from_raw_fd(fds[0]), std::fs::File::from_raw_fd(fds[1])) }
}

fn spawn_in_sentry(k: &Kernel, file: &str) -> Driven {
    let (in_r, in_w) = host_pipe();
    let (out_r, out_w) = host_pipe();
    let null = std::fs::File::open("/dev/null").unwrap();
    let h = k
        .spawn_init(sentry_core::ProcessSpec {
            argv: vec!["/bin/lockctl".into(), file.into()],
            envp: vec![],
            cwd: "/".into(),
            stdio: [in_r.into(), out_w.into(), null.into()],
            uid: 0,
            gid: 0,
            groups: Vec::new(),
            rlimits: Vec::new(),
        })
        .expect("spawn lockctl");
    Driven::new(in_w, out_r, Handle::Sentry(h))
}

fn spawn_native(exe: &Path, file: &Path) -> Driven {
    let mut child = Command::new(exe)
        .arg(file)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn lockctl natively");
    let stdin: std::os::fd::OwnedFd = child.stdin.take().unwrap().into();
    let stdout: std::os::fd::OwnedFd = child.stdout.take().unwrap().into();
    Driven::new(stdin.into(), stdout.into(), Handle::Native(child))
}

/// Two (then three) processes locking one file: conflicts, blocking,
/// deadlock detection, release on close, on exit and on kill.
fn lock_scenario(mut spawn: impl FnMut() -> Driven) {
    // The first process is the sandbox's init, whose exit ends every other
    // process (as PID 1 of a PID namespace): keep one idle for the scenario.
    let init = spawn();
    init.expect("ready");
    let mut a = spawn();
    a.expect("ready");
    let mut b = spawn();
    b.expect("ready");
    a.cmd("setlk W 0 10");
    a.expect("setlk W 0 10: ok");
    a.cmd("flock ex");
    a.expect("flock ex: ok");
    b.cmd("getlk W 5 1");
    b.expect("getlk: WR start=0 len=10 pid=other");
    b.cmd("setlk R 0 1");
    b.expect("setlk R 0 1: EAGAIN");
    b.cmd("flock exnb");
    b.expect("flock exnb: EAGAIN");
    b.cmd("setlk W 10 5");
    b.expect("setlk W 10 5: ok");
    // A waits for B; B waiting for A would deadlock.
    a.cmd("setlkw W 10 1");
    a.quiet();
    b.cmd("setlkw W 0 1");
    b.expect("setlkw W 0 1: EDEADLK");
    b.cmd("setlk U 10 5");
    b.expect("setlk U 10 5: ok");
    a.expect("setlkw W 10 1: ok");
    // Closing any descriptor of the file drops the process's POSIX locks.
    a.cmd("close");
    a.expect("close: ok");
    b.cmd("getlk W 0 0");
    b.expect("getlk: UN");
    // OFD locks conflict between processes and wake waiters on release.
    b.cmd("ofdsetlk R 20 1");
    b.expect("ofdsetlk R 20 1: ok");
    a.cmd("ofdsetlk W 20 1");
    a.expect("ofdsetlk W 20 1: EAGAIN");
    a.cmd("ofdsetlkw W 20 1");
    a.quiet();
    b.cmd("ofdsetlk U 20 1");
    b.expect("ofdsetlk U 20 1: ok");
    a.expect("ofdsetlkw W 20 1: ok");
    // Exiting releases flock locks (with the description) and POSIX locks.
    a.cmd("setlk W 100 1");
    a.expect("setlk W 100 1: ok");
    b.cmd("flock ex");
    b.quiet();
    a.cmd("exit");
    assert_eq!(a.wait(), "exited 0");
    b.expect("flock ex: ok");
    b.cmd("getlk W 100 1");
    b.expect("getlk: UN");
    // A process killed while it waits for a lock.
    let mut c = spawn();
    c.expect("ready");
    c.cmd("flock sh");
    c.quiet();
    c.kill();
    assert_eq!(c.wait(), "killed 9");
    b.cmd("flock un");
    b.expect("flock un: ok");
    b.cmd("exit");
    assert_eq!(b.wait(), "exited 0");
}

#[test]
fn advisory_locks_between_processes() {
    init_logging();
    let k = kernel_with(&["lockctl"]);
    lock_scenario(|| spawn_in_sentry(&k, "/tmp/fsx/lockfile"));
    if let Some(dir) = native_dir("lockctl") {
        let exe = dir.0.with_extension("lockctl.bin");
        std::fs::write(&exe, guest("lockctl", Build::Static)).unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        let file = dir.0.join("lockfile");
        lock_scenario(|| spawn_native(&exe, &file));
        let _ = std::fs::remove_file(&exe);
    }
}

#[test]
fn advisory_locks_between_processes_on_the_gofer_file_system() {
    init_logging();
    let g = gofer_kernel("lockctl", &["lockctl"]);
    lock_scenario(|| spawn_in_sentry(&g.kernel, "/data/base/lockfile"));
}
