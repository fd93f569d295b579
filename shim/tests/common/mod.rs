//! The harness of the containerd tests: a private containerd (root, state
//! and sockets under a temp dir) that finds the freshly built shim and runsc
//! on its PATH, and a tiny busybox image built here and imported.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

pub const SHIM: &str = env!("CARGO_BIN_EXE_containerd-shim-runsc-v1");
pub const IMAGE: &str = "docker.io/library/rvisor-shim-test:latest";
/// The same busybox layer, running `sleep` by default: the CRI pod
/// sandbox ("pause") image of the CRI tests.
pub const PAUSE_IMAGE: &str = "docker.io/library/rvisor-pause:latest";
/// The runsc state root, under the instance's directory. Short: the
/// sandbox's control socket, ROOT/<id>/control.sock, must fit in a unix
/// socket address (107 bytes) with CRI's 64-character ids.
const RUNSC_ROOT: &str = "rs";
/// containerd's namespace for CRI.
pub const CRI_NAMESPACE: &str = "k8s.io";
/// The runtime type of the shim under test.
pub const RUNTIME: &str = "io.containerd.runsc.v1";

/// A command's status and output, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "status {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A gRPC channel to containerd's socket `sock` (its own API and CRI).
pub async fn grpc_channel(sock: &Path) -> tonic::transport::Channel {
    let sock = sock.to_path_buf();
    tonic::transport::Endpoint::try_from("http://[::]:50051")
        .expect("endpoint")
        .connect_with_connector(tower::service_fn(move |_: tonic::transport::Uri| {
            let sock = sock.clone();
            async move {
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tokio::net::UnixStream::connect(sock).await?))
            }
        }))
        .await
        .expect("connecting to containerd's gRPC socket")
}

/// Runs a command with a safety timeout (only to avoid hanging the suite).
pub fn run_with_timeout(cmd: &mut Command, limit: Duration) -> Output {
    run_with_input(cmd, None, limit)
}

/// [`run_with_timeout`] with `input` (then end-of-file) as its stdin;
/// `None`: `/dev/null`.
pub fn run_with_input(cmd: &mut Command, input: Option<&[u8]>, limit: Duration) -> Output {
    cmd.stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() });
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    if let (Some(data), Some(mut stdin)) = (input, child.stdin.take()) {
        let data = data.to_vec();
        std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        });
    }
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("{cmd:?} did not finish within the safety timeout of {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output { status, stdout: t_out.join().unwrap(), stderr: t_err.join().unwrap() }
}

fn sha256_hex(data: &[u8]) -> String {
    format!("{:x}", Sha256::digest(data))
}

/// The runsc binary next to the shim (building it, in the shim's
/// profile, if needed); `None` with a message if it cannot be had.
fn runsc() -> Option<PathBuf> {
    let bin_dir = Path::new(SHIM).parent()?;
    let runsc = bin_dir.join("runsc");
    if runsc.is_file() {
        return Some(runsc);
    }
    let target = bin_dir.parent()?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "-p", "sandbox", "--bin", "runsc"]);
    if bin_dir.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    let out = run_with_timeout(
        cmd.env("CARGO_TARGET_DIR", target).current_dir(env!("CARGO_MANIFEST_DIR")),
        Duration::from_secs(900),
    );
    if !out.status.success() || !runsc.is_file() {
        eprintln!("SKIP: cannot build runsc: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    Some(runsc)
}

/// A private containerd; stopped and cleaned up on drop.
pub struct Containerd {
    dir: tempfile::TempDir,
    child: Option<Child>,
    ns: String,
}

/// Runs `deploy/install.sh` as a node would: binaries into `prefix/bin`,
/// the runtime's CRI entries (`deploy/containerd-config*.toml`) appended
/// to `config`, pointing at `runsc_toml`. The CRI tests thus run on what
/// the deployment installs.
fn install(prefix: &Path, config: &Path, runsc_toml: &Path) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/install.sh");
    let bin_dir = Path::new(SHIM).parent().expect("the shim's directory");
    let out = run_with_timeout(
        Command::new("/bin/sh")
            .arg(&script)
            .arg("--prefix")
            .arg(prefix)
            .arg("--config")
            .arg(config)
            .arg("--runsc-config")
            .arg(runsc_toml)
            .arg("--bin-dir")
            .arg(bin_dir)
            .arg("--no-restart"),
        Duration::from_secs(120),
    );
    assert!(
        out.status.success(),
        "{} failed: {}{}",
        script.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Containerd {
    /// A containerd without its CRI plugin.
    pub fn start() -> Option<Containerd> {
        Containerd::start_with(false)
    }

    /// A containerd with its CRI plugin (socket [`Containerd::sock`]),
    /// pod sandbox image [`PAUSE_IMAGE`], no CNI configuration (host-network
    /// pods only), and the shim, runsc and the CRI runtime `runsc` installed
    /// by `deploy/install.sh`.
    pub fn start_cri() -> Option<Containerd> {
        Containerd::start_with(true)
    }

    fn start_with(cri: bool) -> Option<Containerd> {
        for tool in ["/usr/bin/containerd", "/usr/bin/ctr", "/bin/busybox"] {
            if !Path::new(tool).exists() {
                eprintln!("SKIP: {tool} is not installed");
                return None;
            }
        }
        if unsafe_geteuid() != 0 {
            eprintln!("SKIP: containerd tests need root");
            return None;
        }
        let runsc = runsc()?;
        let dir = tempfile::Builder::new().prefix("rvisor-shim-").tempdir_in("/tmp").unwrap();
        let d = dir.path();
        let bin = d.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        if !cri {
            symlink(SHIM, bin.join("containerd-shim-runsc-v1")).unwrap();
            symlink(&runsc, bin.join("runsc")).unwrap();
        }
        let mut config = format!(
            r#"version = 2
root = "{d}/root"
state = "{d}/state"
{disabled}
[grpc]
  address = "{d}/containerd.sock"
[ttrpc]
  address = "{d}/containerd.sock.ttrpc"
[debug]
  level = "debug"
"#,
            d = d.display(),
            disabled = if cri { "" } else { r#"disabled_plugins = ["io.containerd.grpc.v1.cri"]"# },
        );
        if cri {
            config.push_str(&format!(
                r#"[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{d}/cni/bin"
    conf_dir = "{d}/cni/net.d"
"#,
                d = d.display()
            ));
        }
        std::fs::write(d.join("config.toml"), config).unwrap();
        std::fs::write(
            d.join("runsc.toml"),
            format!("root = \"{}\"\n[runsc_config]\nplatform = \"ptrace\"\n", d.join(RUNSC_ROOT).display()),
        )
        .unwrap();
        if cri {
            // Into DIR/bin, with the CRI runtime entries and ConfigPath.
            install(d, &d.join("config.toml"), &d.join("runsc.toml"));
        }
        let log = std::fs::File::create(d.join("containerd.log")).unwrap();
        let child = Command::new("/usr/bin/containerd")
            .arg("--config")
            .arg(d.join("config.toml"))
            .env("PATH", format!("{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", bin.display()))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("starting containerd");
        let ns = format!("shimtest{}", std::process::id());
        let c = Containerd { dir, child: Some(child), ns };
        let sock = c.sock();
        let start = Instant::now();
        loop {
            if sock.exists() && c.ctr(&["version"]).status.success() {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(60), "containerd did not come up: {}", c.log());
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(c)
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn sock(&self) -> PathBuf {
        self.path().join("containerd.sock")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path().join("containerd.log")).unwrap_or_default()
    }

    /// The containerd namespace of the `ctr` calls.
    pub fn namespace(&self) -> &str {
        &self.ns
    }

    pub fn ctr(&self, args: &[&str]) -> Output {
        self.ctr_in(&self.ns, args)
    }

    /// `ctr` (in the test's namespace) with `input` as its stdin.
    pub fn ctr_with_input(&self, args: &[&str], input: &[u8]) -> Output {
        let mut cmd = Command::new("/usr/bin/ctr");
        cmd.arg("-a").arg(self.sock()).arg("-n").arg(&self.ns).args(args);
        run_with_input(&mut cmd, Some(input), Duration::from_secs(90))
    }

    /// `ctr` in containerd namespace `ns`.
    pub fn ctr_in(&self, ns: &str, args: &[&str]) -> Output {
        let mut cmd = Command::new("/usr/bin/ctr");
        cmd.arg("-a").arg(self.sock()).arg("-n").arg(ns).args(args);
        run_with_timeout(&mut cmd, Duration::from_secs(90))
    }

    /// Starts `ctr` (in the test's namespace) in the background, its
    /// output piped; the caller ends it.
    pub fn ctr_spawn(&self, args: &[&str]) -> Child {
        Command::new("/usr/bin/ctr")
            .arg("-a")
            .arg(self.sock())
            .arg("-n")
            .arg(&self.ns)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning ctr")
    }

    /// Imports [`IMAGE`] into the test's namespace.
    pub fn import_image(&self) {
        let ns = self.ns.clone();
        self.import_image_in(&ns, IMAGE, &["/bin/sh"]);
    }

    /// Imports busybox as image `name` with default command `cmd` into
    /// namespace `ns`.
    pub fn import_image_in(&self, ns: &str, name: &str, cmd: &[&str]) {
        let tar = self.path().join(format!("image-{}.tar", sha256_hex(name.as_bytes())));
        integration::image::build_busybox_archive(Path::new("/bin/busybox"), &tar, name, cmd).unwrap();
        let out = self.ctr_in(ns, &["images", "import", tar.to_str().unwrap()]);
        assert!(out.status.success(), "import failed: {}", String::from_utf8_lossy(&out.stderr));
        let out = self.ctr_in(ns, &["images", "ls", "-q"]);
        let names = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(names.lines().any(|l| l == name), "image not imported: {names}");
    }

    /// `ctr run -d` of `args` as container `id` with the test's
    /// runsc.toml.
    pub fn run_detached(&self, id: &str, args: &[&str]) {
        let config = self.path().join("runsc.toml");
        let mut argv =
            vec!["run", "-d", "--runtime", RUNTIME, "--runtime-config-path", config.to_str().unwrap(), IMAGE, id];
        argv.extend_from_slice(args);
        let out = self.ctr(&argv);
        assert!(out.status.success(), "ctr run -d {id}: {}\n{}", text(&out), self.log());
    }

    /// The host pid of container `id`'s sandbox process (`runsc ... boot
    /// --id ID`), once it exists.
    pub fn sandbox_pid(&self, id: &str) -> i32 {
        let start = Instant::now();
        loop {
            let found = self.processes().into_iter().find(|(_, cmd)| cmd.contains(" boot ") && cmd.contains(id));
            if let Some((pid, _)) = found {
                return pid;
            }
            assert!(start.elapsed() < Duration::from_secs(60), "no sandbox process: {:?}", self.processes());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Pids and command lines of this instance's shims.
    pub fn shims(&self) -> Vec<(i32, String)> {
        self.leftover_processes().into_iter().filter(|(_, c)| c.contains("containerd-shim-runsc-v1")).collect()
    }

    /// Pids and command lines of this instance's processes (shims and
    /// sandboxes).
    pub fn processes(&self) -> Vec<(i32, String)> {
        self.leftover_processes()
    }

    /// Processes (other than containerd) whose command line mentions this
    /// instance's directory: shims (`-address DIR/...`), sandboxes.
    fn leftover_processes(&self) -> Vec<(i32, String)> {
        let me = self.child.as_ref().map(|c| c.id() as i32).unwrap_or(0);
        let dir = self.path().to_string_lossy().to_string();
        let mut found = Vec::new();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
            if pid == me || pid == std::process::id() as i32 {
                continue;
            }
            let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else { continue };
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(&dir) {
                found.push((pid, cmdline));
            }
        }
        found
    }

    fn leftover_mounts(&self) -> Vec<String> {
        let dir = self.path().to_string_lossy().to_string();
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|m| m.starts_with(&dir))
            .map(str::to_string)
            .collect()
    }

    /// Asserts that nothing of the runsc container `id` is left behind.
    pub fn assert_clean(&self, id: &str) {
        let ns = self.ns.clone();
        self.assert_clean_in(&ns, id);
    }

    /// [`Containerd::assert_clean`] for a container of namespace `ns`.
    pub fn assert_clean_in(&self, ns: &str, id: &str) {
        let start = Instant::now();
        loop {
            let procs = self.leftover_processes();
            if procs.is_empty() {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(20), "processes left behind: {procs:?}\n{}", self.log());
            std::thread::sleep(Duration::from_millis(100));
        }
        let mounts = self.leftover_mounts();
        assert!(mounts.is_empty(), "mounts left behind: {mounts:?}");
        let state = self.path().join(RUNSC_ROOT).join(id);
        assert!(!state.exists(), "runsc state left behind: {}", state.display());
        let out = self.ctr_in(ns, &["containers", "ls", "-q"]);
        let listed = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(!listed.lines().any(|l| l == id), "container still listed: {listed}");
    }
}

fn unsafe_geteuid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: signalling the containerd this harness started.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let start = Instant::now();
            while child.try_wait().ok().flatten().is_none() {
                if start.elapsed() > Duration::from_secs(15) {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        for (pid, _) in self.leftover_processes() {
            // SAFETY: a process started by this harness's containerd.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        // runc (the baseline) makes a cgroup per namespace: /<ns>/<id>.
        if let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") {
            for h in hierarchies.flatten() {
                let _ = std::fs::remove_dir(h.path().join(&self.ns));
            }
        }
        let mut mounts = self.leftover_mounts();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mounts {
            if let Ok(c) = std::ffi::CString::new(m) {
                // SAFETY: a valid NUL-terminated path.
                unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            }
        }
    }
}

/// A process (`ctr ... -t`) whose stdin, stdout and stderr are the slave
/// of a terminal the test owns: it leads its own session with that
/// terminal as its controlling terminal, so that resizing the terminal
/// (on the master) sends it SIGWINCH, as a user's terminal would.
pub struct PtyChild {
    child: Child,
    master: std::fs::File,
    output: std::sync::Arc<(std::sync::Mutex<Vec<u8>>, std::sync::Condvar)>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl PtyChild {
    /// Spawns `cmd` on a new terminal of `rows` x `cols`.
    pub fn spawn(cmd: &mut Command, rows: u16, cols: u16) -> PtyChild {
        use std::os::fd::AsFd;
        use std::os::unix::process::CommandExt;
        let pty = sandbox::tty::Pty::open().expect("allocating a terminal");
        sandbox::tty::set_window_size(pty.master.as_fd(), rows, cols).expect("setting the window size");
        let stdio = pty.slave_stdio().expect("slave descriptors");
        cmd.stdin(Stdio::from(stdio.stdin)).stdout(Stdio::from(stdio.stdout)).stderr(Stdio::from(stdio.stderr));
        // SAFETY: only async-signal-safe calls (setsid, ioctl) between fork
        // and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawning a process on a terminal");
        // The child has its own descriptors of the slave now (and `cmd`
        // kept none): the master reports EIO once the child is gone.
        drop(pty.slave);
        drop(std::mem::replace(cmd, Command::new("/bin/true")));
        let master = std::fs::File::from(pty.master);
        let output = std::sync::Arc::new((std::sync::Mutex::new(Vec::new()), std::sync::Condvar::new()));
        let (mut from, out) = (master.try_clone().expect("duplicating the master"), output.clone());
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                let n = match from.read(&mut buf) {
                    Ok(0) | Err(_) => 0,
                    Ok(n) => n,
                };
                let (lock, cond) = &*out;
                lock.lock().unwrap().extend_from_slice(&buf[..n]);
                cond.notify_all();
                if n == 0 {
                    return;
                }
            }
        });
        PtyChild { child, master, output, reader: Some(reader) }
    }

    /// What the process wrote to its terminal so far.
    pub fn output(&self) -> String {
        String::from_utf8_lossy(&self.output.0.lock().unwrap()).into_owned()
    }

    /// Waits until the output contains `text` (`limit` only guards against
    /// a hang); returns the output.
    pub fn expect(&self, text: &str, limit: Duration) -> String {
        let (lock, cond) = &*self.output;
        let start = Instant::now();
        let mut out = lock.lock().unwrap();
        loop {
            let s = String::from_utf8_lossy(&out).into_owned();
            if s.contains(text) {
                return s;
            }
            let left = limit.checked_sub(start.elapsed()).unwrap_or_else(|| {
                panic!("{text:?} did not appear within the safety timeout of {limit:?}; output so far: {s:?}")
            });
            out = cond.wait_timeout(out, left.min(Duration::from_millis(500))).unwrap().0;
        }
    }

    /// Types `data` on the terminal.
    pub fn write(&mut self, data: &[u8]) {
        self.master.write_all(data).expect("writing to the terminal");
    }

    /// Resizes the terminal (the kernel sends the process SIGWINCH).
    pub fn resize(&self, rows: u16, cols: u16) {
        use std::os::fd::AsFd;
        sandbox::tty::set_window_size(self.master.as_fd(), rows, cols).expect("resizing the terminal");
    }

    /// Waits for the process to exit (`limit` only guards against a
    /// hang); its status and all its output.
    pub fn wait(mut self, limit: Duration) -> (std::process::ExitStatus, String) {
        let start = Instant::now();
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                break s;
            }
            if start.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("the process did not exit within the safety timeout of {limit:?}; output: {:?}", self.output());
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        (status, self.output())
    }
}

impl Drop for PtyChild {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Containerd {
    /// Starts `ctr` (in the test's namespace) on a new terminal of `rows`
    /// x `cols` (see [`PtyChild`]).
    pub fn ctr_pty(&self, args: &[&str], rows: u16, cols: u16) -> PtyChild {
        let mut cmd = Command::new("/usr/bin/ctr");
        cmd.arg("-a").arg(self.sock()).arg("-n").arg(&self.ns).args(args);
        PtyChild::spawn(&mut cmd, rows, cols)
    }
}
