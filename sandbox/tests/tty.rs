//! Terminals end to end, with the real runsc: a console socket receives the
//! master of the container's terminal (as with runc), an interactive
//! busybox shell runs on it with job control, `^C` reaches the foreground
//! job only, the shim's resize reaches the terminal, and a C guest checks
//! the job-control rules of its controlling terminal.
//!
//! Timeouts only protect against hangs; no assertion depends on timing.

use std::fs;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sandbox::container::Runtime;
use sandbox::state::StateDir;

mod common;
use common::{runsc, text, Bundle};

/// Hang protection for anything awaited from the container.
const HANG: Duration = Duration::from_secs(120);

/// A busybox bundle (with the applets the tests use) running `args`, on a
/// terminal if `terminal`.
fn bundle(tag: &str, args: &[&str], terminal: bool) -> Option<Bundle> {
    let b = Bundle::busybox(&format!("tty-{tag}"), &["sh", "sleep", "stty", "tty", "echo"], args)?;
    b.edit(|c| {
        c["process"]["terminal"] = terminal.into();
        c["process"]["env"] = serde_json::json!(["PATH=/bin", "PS1=PROMPT> ", "TERM=dumb"]);
    });
    Some(b)
}

/// What these tests do with a bundle beyond the common harness.
trait TtyBundle {
    fn runtime(&self) -> Runtime;
    fn create_and_start(&self, id: &str) -> Console;
    fn await_process(&self, id: &str, comm: &str);
    fn wait(&self, id: &str) -> String;
}

impl TtyBundle for Bundle {
    /// The library runtime over this bundle's state (what the shim uses).
    fn runtime(&self) -> Runtime {
        Runtime {
            state: StateDir::new(&self.state),
            runsc: PathBuf::from(runsc()),
            platform: "ptrace".into(),
            debug: false,
            debug_log: None,
            strace: false,
            cgroup_manager: None,
        }
    }

    /// `runsc create --console-socket` + `start`; the terminal's master.
    fn create_and_start(&self, id: &str) -> Console {
        let socket = self.dir.join("console.sock");
        let _ = fs::remove_file(&socket);
        let listener = UnixListener::bind(&socket).unwrap();
        self.runsc_detached(&["create", "--console-socket", socket.to_str().unwrap(), "--bundle", self.path(), id]);
        let (conn, _) = listener.accept().unwrap();
        let (payload, master) = recv_fd(&conn);
        assert_eq!(payload, "/dev/ptmx", "runc sends the master's name");
        let out = self.runsc(&["start", id]);
        assert!(out.status.success(), "start: {}", text(&out.stderr));
        Console { master: fs::File::from(master), seen: String::new() }
    }

    /// Waits until process `comm` runs in container `id`.
    fn await_process(&self, id: &str, comm: &str) {
        let start = Instant::now();
        loop {
            let ps = text(&self.runsc(&["ps", id]).stdout);
            if ps.lines().any(|l| l.split_whitespace().last() == Some(comm)) {
                return;
            }
            assert!(start.elapsed() < HANG, "{comm} never ran: {ps}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn wait(&self, id: &str) -> String {
        let out = self.runsc(&["wait", id]);
        assert!(out.status.success(), "wait: {}", text(&out.stderr));
        text(&out.stdout).trim().to_string()
    }
}

fn recv_fd(conn: &UnixStream) -> (String, OwnedFd) {
    sandbox::tty::recv_master(conn).unwrap()
}

/// The master of a container's terminal.
struct Console {
    master: fs::File,
    /// Output read but not yet consumed by `expect`.
    seen: String,
}

impl Console {
    fn send(&mut self, s: &str) {
        self.master.write_all(s.as_bytes()).unwrap();
    }

    /// Reads until `pat` appears; returns the output up to and including
    /// it.
    fn expect(&mut self, pat: &str) -> String {
        let start = Instant::now();
        loop {
            if let Some(i) = self.seen.find(pat) {
                let rest = self.seen.split_off(i + pat.len());
                return std::mem::replace(&mut self.seen, rest);
            }
            let left = HANG.saturating_sub(start.elapsed());
            assert!(!left.is_zero(), "no {pat:?} from the container; it wrote {:?}", self.seen);
            let mut pfd = libc::pollfd { fd: self.master.as_raw_fd(), events: libc::POLLIN, revents: 0 };
            // SAFETY: one valid pollfd.
            let r = unsafe { libc::poll(&mut pfd, 1, left.as_millis().min(1000) as i32) };
            if r <= 0 {
                continue;
            }
            let mut buf = [0u8; 4096];
            let n = std::io::Read::read(&mut self.master, &mut buf)
                .unwrap_or_else(|e| panic!("reading the terminal: {e}; it wrote {:?}", self.seen));
            assert!(n > 0, "the terminal closed; it wrote {:?}", self.seen);
            self.seen.push_str(&text(&buf[..n]));
        }
    }

    /// Runs `cmd` in the shell and returns its output: what comes between
    /// the terminal's echo of the command line and a marker printed after
    /// it (the line editor may redraw its prompt on SIGWINCH before the
    /// echo).
    fn run(&mut self, cmd: &str) -> String {
        self.send(&format!("{cmd}; echo :do''ne:\n"));
        let out = self.expect(":done:\r\n");
        self.expect("PROMPT> ");
        let body = out.rsplit_once("do''ne:\r\n").map(|(_, o)| o).unwrap_or(&out);
        body.strip_suffix(":done:\r\n").unwrap_or(body).to_string()
    }
}

#[test]
fn an_interactive_shell_on_a_console_socket() {
    let Some(b) = bundle("shell", &["/bin/sh"], true) else { return };
    let mut c = b.create_and_start("sh1");
    c.expect("PROMPT> ");
    assert_eq!(c.run("echo hel''lo"), "hello\r\n");
    // The terminal has a name under /dev that ttyname can verify.
    assert_eq!(c.run("tty"), "/dev/console\r\n");

    // The shim's resize sets the size the shell's programs see.
    b.runtime().resize("sh1", 0, 50, 132).unwrap();
    assert_eq!(c.run("stty size"), "50 132\r\n");

    // ^C interrupts the foreground job, not the shell.
    c.send("/bin/sleep 100\n");
    b.await_process("sh1", "sleep");
    c.send("\x03");
    c.expect("PROMPT> ");
    assert_eq!(c.run("echo status$?"), "status130\r\n");
    assert_eq!(c.run("echo ali''ve"), "alive\r\n");

    c.send("exit\n");
    assert_eq!(b.wait("sh1"), "0");
}

/// Builds the C guest into `rootfs`; false (skipping) without a compiler.
fn build_guest(rootfs: &Path) -> bool {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tty_guest/ttyjob.c");
    match Command::new("gcc")
        .args(["-static", "-O1", "-Wall", "-Werror", "-o"])
        .arg(rootfs.join("ttyjob"))
        .arg(&src)
        .output()
    {
        Ok(o) if o.status.success() => true,
        Ok(o) => panic!("compiling {}: {}", src.display(), text(&o.stderr)),
        Err(e) => {
            eprintln!("SKIPPED: no C compiler ({e})");
            false
        }
    }
}

#[test]
fn job_control_rules_and_sigwinch_in_a_c_guest() {
    let Some(b) = bundle("job", &["/ttyjob"], true) else { return };
    if !build_guest(&b.dir.join("rootfs")) {
        return;
    }
    let mut c = b.create_and_start("job1");
    let report = c.expect("waiting for SIGWINCH\r\n");
    let checks: Vec<&str> = report.lines().filter(|l| l.contains(": ")).collect();
    assert!(checks.len() >= 20, "{report}");
    for line in &checks {
        assert!(line.ends_with(": ok\r") || line.ends_with(": ok"), "{line}\n{report}");
    }
    // A resize through the control protocol reaches the guest's handler.
    b.runtime().resize("job1", 0, 50, 132).unwrap();
    c.expect("SIGWINCH: 50x132\r\n");
    assert_eq!(b.wait("job1"), "0");
}

#[test]
fn console_options_are_checked_as_runc_checks_them() {
    let Some(b) = bundle("opts", &["/bin/sh"], true) else { return };
    let out = b.runsc(&["create", "--bundle", b.path(), "o1"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("cannot allocate tty if runc will detach without setting console socket"));
    let out = b.runsc(&["run", "--console-socket", "/nonexistent.sock", "--bundle", b.path(), "o2"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("cannot use console socket if runc will not detach or allocate tty"));
    let Some(plain) = bundle("opts-plain", &["/bin/sh"], false) else { return };
    let out = plain.runsc(&[
        "create",
        "--console-socket",
        "/nonexistent.sock",
        "--bundle",
        plain.dir.to_str().unwrap(),
        "o3",
    ]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("cannot use console socket"), "{}", text(&out.stderr));
    // Nothing was left behind.
    assert_eq!(text(&b.runsc(&["list", "--format", "json"]).stdout).trim(), "[]");
}

#[test]
fn run_in_the_foreground_relays_a_new_terminal() {
    let Some(b) = bundle("relay", &["/bin/sh", "-c", "tty"], true) else { return };
    // Stdin is no terminal here: the output is relayed as it comes.
    let out = Command::new(runsc())
        .arg("--root")
        .arg(&b.state)
        .args(["run", "--bundle", b.dir.to_str().unwrap(), "r1"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("/dev/console\r\n"), "{stdout:?}");
}

#[test]
fn an_exec_d_shell_with_its_own_terminal() {
    let Some(b) = bundle("exec", &["/bin/sleep", "1000"], false) else { return };
    b.create("x1");
    assert!(b.runsc(&["start", "x1"]).status.success());

    // `runsc exec --tty --detach --console-socket`, as containerd's runc
    // shim calls it: the master arrives on the socket.
    let socket = b.dir.join("exec-console.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let pid_file = b.dir.join("exec.pid");
    let mut args: Vec<&std::ffi::OsStr> = ["exec", "--tty", "--detach", "--console-socket"].map(AsRef::as_ref).to_vec();
    args.extend([socket.as_os_str(), "--pid-file".as_ref(), pid_file.as_os_str()]);
    args.extend(["--env", "PS1=PROMPT> ", "--env", "TERM=dumb", "x1", "/bin/sh"].map(AsRef::<std::ffi::OsStr>::as_ref));
    b.runsc_detached(&args);
    let (conn, _) = listener.accept().unwrap();
    let (payload, master) = recv_fd(&conn);
    assert_eq!(payload, "/dev/ptmx");
    let pid: i32 = fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    let mut c = Console { master: fs::File::from(master), seen: String::new() };
    c.expect("PROMPT> ");
    assert_eq!(c.run("echo hel''lo"), "hello\r\n");

    b.runtime().resize("x1", pid, 40, 100).unwrap();
    assert_eq!(c.run("stty size"), "40 100\r\n");

    // ^C on this terminal reaches its foreground job.
    c.send("/bin/sleep 100\n");
    b.await_process("x1", "sleep");
    // The container's own sleep is there too: wait for the second.
    let start = Instant::now();
    while text(&b.runsc(&["ps", "x1"]).stdout).lines().filter(|l| l.ends_with(" sleep")).count() < 2 {
        assert!(start.elapsed() < HANG, "the exec'd shell's sleep never ran");
        std::thread::sleep(Duration::from_millis(20));
    }
    c.send("\x03");
    c.expect("PROMPT> ");
    assert_eq!(c.run("echo status$?"), "status130\r\n");
    c.send("exit\n");
    let status = b.runtime().wait_process("x1", pid).unwrap();
    assert_eq!(sandbox::container::exit_code(status), 0);
}

#[test]
fn exec_tty_in_the_foreground_relays_and_returns_the_status() {
    let Some(b) = bundle("exectty", &["/bin/sleep", "1000"], false) else { return };
    b.runsc_detached(&["run", "--detach", "--bundle", b.path(), "e1"]);
    let out = b.runsc(&["exec", "-t", "e1", "/bin/sh", "-c", "[ -t 0 ] && [ -t 1 ] && echo on a terminal; exit 3"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "on a terminal\r\n");
    // Without --tty the same command has this test's pipes.
    let out = b.runsc(&["exec", "e1", "/bin/sh", "-c", "[ -t 0 ] || echo no terminal"]);
    assert_eq!(text(&out.stdout), "no terminal\n");
    // runc's rules for the console socket hold for exec too.
    let out = b.runsc(&["exec", "-t", "-d", "e1", "/bin/true"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("cannot allocate tty"), "{}", text(&out.stderr));
}

#[test]
fn run_on_the_caller_s_terminal_relays_keys_and_sizes() {
    use std::os::fd::AsFd;
    use std::os::unix::process::CommandExt;
    let Some(b) = bundle("relaytty", &["/bin/sh"], true) else { return };
    // The caller's terminal: runsc runs in a session of its own on it.
    let outer = sandbox::tty::Pty::open().unwrap();
    sandbox::tty::set_window_size(outer.master.as_fd(), 30, 90).unwrap();
    let slave = outer.slave.as_raw_fd();
    let mut cmd = Command::new(runsc());
    cmd.arg("--root").arg(&b.state).args(["run", "--bundle", b.dir.to_str().unwrap(), "t1"]);
    cmd.stdin(outer.slave.try_clone().unwrap()).stdout(outer.slave.try_clone().unwrap());
    cmd.stderr(outer.slave.try_clone().unwrap());
    // SAFETY: setsid and ioctl are async-signal-safe; `slave` stays open
    // until spawn returns.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() < 0 || libc::ioctl(slave, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    let mut c = Console { master: fs::File::from(outer.master.try_clone().unwrap()), seen: String::new() };
    c.expect("PROMPT> ");
    // The container's terminal got the caller's size, and follows it.
    assert_eq!(c.run("stty size"), "30 90\r\n");
    sandbox::tty::set_window_size(outer.master.as_fd(), 45, 120).unwrap();
    let start = Instant::now();
    while c.run("stty size") != "45 120\r\n" {
        assert!(start.elapsed() < HANG, "the new size never reached the container");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The caller's terminal is raw: ^C is a key for the container.
    c.send("/bin/sleep 100\n");
    b.await_process("t1", "sleep");
    c.send("\x03");
    c.expect("PROMPT> ");
    assert_eq!(c.run("echo status$?"), "status130\r\n");
    c.send("exit\n");
    assert!(child.wait().unwrap().success());
    // runsc gave the caller's terminal its settings back.
    // SAFETY: zeroed termios is valid; tcgetattr fills it.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::tcgetattr(outer.slave.as_raw_fd(), &mut t) }, 0);
    assert!(t.c_lflag & libc::ICANON != 0 && t.c_lflag & libc::ECHO != 0);
}
