//! `runsc`: the rvisor OCI runtime command line (runc-compatible).

use std::os::fd::{AsFd as _, AsRawFd as _};
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use sandbox::container::{parse_signal, Runtime};
use sandbox::state::{StateDir, DEFAULT_ROOT};

#[derive(Parser)]
#[command(name = "runsc", version, about = "rvisor: an application kernel for containers")]
struct Cli {
    /// Directory of the container state records.
    #[arg(long, global = true, default_value = DEFAULT_ROOT)]
    root: PathBuf,

    /// Platform that runs application code.
    #[arg(long, global = true, default_value = "ptrace")]
    platform: String,

    /// Enable debug logging.
    #[arg(long, global = true)]
    debug: bool,

    /// Where debug logs go (`%ID%` and `%COMMAND%` are substituted).
    #[arg(long = "debug-log", global = true)]
    debug_log: Option<String>,

    /// Log every application system call to the debug log.
    #[arg(long, global = true)]
    strace: bool,

    /// runc compatibility: file the runtime's errors are appended to (as
    /// well as printed), for callers that read them from there (containerd's
    /// runc shim, podman). Debug logs go to --debug-log.
    #[arg(long, global = true)]
    log: Option<PathBuf>,

    /// Format of --log: text, or json (one object per line, as runc writes).
    #[arg(long = "log-format", global = true, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,

    /// gVisor's network mode. The sandbox has no network stack yet: only
    /// `none` (a loopback-less sandbox) is available.
    #[arg(long, global = true, default_value = "none", value_parser = ["none", "sandbox", "host"])]
    network: String,

    /// Read `linux.cgroupsPath` as systemd's `slice:prefix:name` (mapped to
    /// `<slice>/<prefix>-<name>.scope` in the cgroup file system).
    #[arg(long = "systemd-cgroup", global = true)]
    systemd_cgroup: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a container; its process waits for `start`.
    Create {
        #[arg(long, short = 'b', default_value = ".")]
        bundle: PathBuf,
        #[arg(long = "pid-file")]
        pid_file: Option<PathBuf>,
        /// Unix socket that receives the master of the container's terminal
        /// (with `process.terminal`).
        #[arg(long = "console-socket")]
        console_socket: Option<PathBuf>,
        id: String,
    },
    /// Start a created container.
    Start { id: String },
    /// Print a container's OCI state as JSON.
    State { id: String },
    /// Send a signal (name or number, default TERM) to a container.
    Kill {
        #[arg(long, short = 'a')]
        all: bool,
        id: String,
        #[arg(default_value = "TERM")]
        signal: String,
    },
    /// Wait for a container's process and print its exit status.
    Wait { id: String },
    /// Run a new process in a running container (same root, mounts and PID
    /// namespace) with this command's stdio; exits with its status unless
    /// `--detach`.
    Exec {
        /// An OCI process JSON file (args, env, cwd, user) instead of
        /// command-line arguments.
        #[arg(long, short = 'p')]
        process: Option<PathBuf>,
        /// Environment variables (KEY=VALUE) added to the container's.
        #[arg(long, short = 'e')]
        env: Vec<String>,
        /// Working directory.
        #[arg(long)]
        cwd: Option<String>,
        /// UID[:GID].
        #[arg(long, short = 'u')]
        user: Option<String>,
        /// Do not wait for the process; print nothing.
        #[arg(long, short = 'd')]
        detach: bool,
        /// Give the process a new terminal as its stdio and controlling
        /// terminal.
        #[arg(long, short = 't')]
        tty: bool,
        /// With `--tty --detach`: where the terminal's master is sent.
        #[arg(long = "console-socket")]
        console_socket: Option<PathBuf>,
        /// Write the pid of a host process that ends with the process here
        /// (without a terminal: this runsc, or with `--detach` the runsc
        /// that waits for it, as gVisor's runsc does; with a terminal: its
        /// sandbox pid).
        #[arg(long = "pid-file")]
        pid_file: Option<PathBuf>,
        /// Internal (`--detach`): pipe on which the waiting runsc reports
        /// that the process started.
        #[arg(long = "started-fd", hide = true)]
        started_fd: Option<i32>,
        id: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Print what this runtime supports, as runc's `features` JSON.
    Features,
    /// Pause every process of a container.
    Pause { id: String },
    /// Resume a paused container.
    Resume { id: String },
    /// Print a container's resource use as runc's event JSON (`--stats`:
    /// once; otherwise every `--interval` until it stops).
    Events {
        #[arg(long)]
        stats: bool,
        #[arg(long, default_value = "5s")]
        interval: String,
        id: String,
    },
    /// List the processes of a container (sandbox pids).
    Ps {
        #[arg(long, short = 'f', default_value = "table")]
        format: String,
        id: String,
    },
    /// Delete a container (`--force` also stops a running one).
    Delete {
        #[arg(long, short = 'f')]
        force: bool,
        id: String,
    },
    /// Create, start and wait for a container in the foreground; exits with
    /// its status (128+signal if killed).
    Run {
        #[arg(long, short = 'b', default_value = ".")]
        bundle: PathBuf,
        /// Start the container and return (as runc run -d).
        #[arg(long, short = 'd')]
        detach: bool,
        #[arg(long = "pid-file")]
        pid_file: Option<PathBuf>,
        /// Unix socket that receives the master of the container's terminal
        /// (with --detach and `process.terminal`).
        #[arg(long = "console-socket")]
        console_socket: Option<PathBuf>,
        id: String,
    },
    /// Run a command in a sandbox whose root is the host's root (read-only)
    /// with a private /tmp.
    Do {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        args: Vec<String>,
    },
    /// List containers.
    List {
        #[arg(long, short = 'f', default_value = "table")]
        format: String,
    },
    /// Write a default config.json (as `runc spec` does).
    Spec {
        /// Bundle directory to write it in.
        #[arg(long, short = 'b', default_value = ".")]
        bundle: PathBuf,
    },
    /// The sandbox process: the Sentry (started by runsc itself).
    #[command(hide = true)]
    Boot(sandbox::boot::BootArgs),
    /// Serve a container's files over 9P (started by runsc itself).
    #[command(hide = true)]
    Gofer {
        /// FD,ro|rw,PATH: serve PATH on inherited socket FD; the first is the
        /// container's root.
        #[arg(long = "serve", required = true)]
        serves: Vec<sandbox::gofer::ServeArg>,
        /// Write `ok` (or the start-up error) to this inherited descriptor.
        #[arg(long = "ready-fd")]
        ready_fd: Option<i32>,
    },
    /// Run a tiny hand-assembled program under the platform; every system
    /// call it makes is intercepted and served by runsc, none by the host.
    PlatformDemo {
        /// Message the program writes.
        #[arg(default_value = "Hello from a sandboxed program: this write never reached the host kernel.")]
        message: String,
        /// How many times it writes it.
        #[arg(long, default_value_t = 1)]
        count: u32,
        /// Confine this process as a Sentry first (namespaces, empty root,
        /// no capabilities, seccomp allow-list).
        #[arg(long)]
        confine: bool,
    },
}

fn main() {
    let cli = Cli::parse();
    let log = cli.log.clone().map(|path| (path, cli.log_format == "json"));
    // runc's exec fails with 255 (its -1), every other command with 1.
    let failure = if matches!(cli.command, Command::Exec { .. }) { 255 } else { 1 };
    match run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            // One line, as runc prints its errors.
            let msg = format!("{e:#}");
            eprintln!("runsc: {msg}");
            if let Some((path, json)) = log {
                log_error(&path, json, &msg);
            }
            std::process::exit(failure);
        }
    }
}

/// Appends an error to the --log file as runc does (best effort: the error
/// is on stderr too).
fn log_error(path: &std::path::Path, json: bool, msg: &str) {
    use std::io::Write as _;
    let time = sandbox::container::now_rfc3339();
    let line = if json {
        serde_json::json!({"level": "error", "msg": msg, "time": time}).to_string()
    } else {
        format!("time=\"{time}\" level=error msg={msg:?}")
    };
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
        let _ = writeln!(f, "{line}");
    }
}

fn command_name(c: &Command) -> &'static str {
    match c {
        Command::Create { .. } => "create",
        Command::Start { .. } => "start",
        Command::State { .. } => "state",
        Command::Kill { .. } => "kill",
        Command::Wait { .. } => "wait",
        Command::Exec { .. } => "exec",
        Command::Ps { .. } => "ps",
        Command::Features => "features",
        Command::Pause { .. } => "pause",
        Command::Resume { .. } => "resume",
        Command::Events { .. } => "events",
        Command::Delete { .. } => "delete",
        Command::Run { .. } => "run",
        Command::List { .. } => "list",
        Command::Do { .. } => "do",
        Command::Spec { .. } => "spec",
        Command::Boot(_) => "boot",
        Command::Gofer { .. } => "gofer",
        Command::PlatformDemo { .. } => "platform-demo",
    }
}

fn container_id(c: &Command) -> &str {
    match c {
        Command::Create { id, .. }
        | Command::Start { id }
        | Command::State { id }
        | Command::Kill { id, .. }
        | Command::Wait { id }
        | Command::Exec { id, .. }
        | Command::Ps { id, .. }
        | Command::Pause { id }
        | Command::Resume { id }
        | Command::Events { id, .. }
        | Command::Delete { id, .. }
        | Command::Run { id, .. } => id,
        Command::Boot(b) => &b.id,
        _ => "",
    }
}

fn init_logging(cli: &Cli) -> anyhow::Result<()> {
    if !cli.debug && cli.debug_log.is_none() && !cli.strace {
        return Ok(());
    }
    let filter = if cli.debug || cli.strace { "debug" } else { "info" };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(false);
    match &cli.debug_log {
        Some(pattern) => {
            let path =
                pattern.replace("%ID%", container_id(&cli.command)).replace("%COMMAND%", command_name(&cli.command));
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .with_context(|| format!("opening debug log {path}"))?;
            builder.with_writer(std::sync::Mutex::new(file)).init();
        }
        None => builder.with_writer(std::io::stderr).init(),
    }
    Ok(())
}

fn run(cli: Cli) -> anyhow::Result<i32> {
    init_logging(&cli)?;
    if cli.network != "none" {
        anyhow::bail!("--network={}: the sandbox has no network stack yet; use --network=none", cli.network);
    }
    let runtime = || -> anyhow::Result<Runtime> {
        Ok(Runtime {
            state: StateDir::new(&cli.root),
            runsc: std::env::current_exe().context("finding the runsc binary")?,
            platform: cli.platform.clone(),
            debug: cli.debug,
            debug_log: cli.debug_log.clone(),
            strace: cli.strace,
            cgroup_manager: Some(if cli.systemd_cgroup {
                sandbox::cgroup::Manager::Systemd
            } else {
                sandbox::cgroup::Manager::Cgroupfs
            }),
        })
    };
    match &cli.command {
        Command::Create { bundle, pid_file, console_socket: Some(socket), id } => {
            runtime()?.create_with_console(id, bundle, pid_file.as_deref(), socket).map(|()| 0)
        }
        Command::Create { bundle, pid_file, console_socket: None, id } => {
            let terminal = sandbox::oci::load_bundle(&bundle.canonicalize().unwrap_or_else(|_| bundle.clone()))
                .is_ok_and(|c| c.terminal);
            sandbox::tty::check_console_options(terminal, true, None)?;
            runtime()?.create(id, bundle, pid_file.as_deref(), None).map(|()| 0)
        }
        Command::Start { id } => runtime()?.start(id).map(|()| 0),
        Command::State { id } => {
            let state = runtime()?.state(id)?;
            println!("{}", serde_json::to_string_pretty(&state)?);
            Ok(0)
        }
        Command::Kill { all, id, signal } => runtime()?.kill(id, parse_signal(signal)?, *all).map(|()| 0),
        Command::Wait { id } => {
            let status = runtime()?.wait(id)?;
            println!("{}", sandbox::container::exit_code(status));
            Ok(0)
        }
        Command::Exec { process, env, cwd, user, detach, tty, console_socket, pid_file, started_fd, id, args } => {
            let rt = runtime()?;
            let mut p = match process {
                Some(path) => sandbox::oci::load_process(path)?,
                None => sandbox::container::ExecProcess { args: args.clone(), ..Default::default() },
            };
            if p.args.is_empty() {
                anyhow::bail!("exec: no command given");
            }
            if !env.is_empty() {
                if p.env.is_empty() {
                    p.env = rt.container_env(id)?;
                }
                p.env.extend(env.iter().cloned());
            }
            if let Some(c) = cwd {
                p.cwd = c.clone();
            }
            if let Some(u) = user {
                let (uid, gid) = u.split_once(':').unwrap_or((u, "0"));
                p.uid = uid.parse().with_context(|| format!("bad --user {u}"))?;
                p.gid = gid.parse().with_context(|| format!("bad --user {u}"))?;
            }
            p.terminal |= *tty;
            sandbox::tty::check_console_options(p.terminal, *detach, console_socket.as_deref())?;
            let write_pid = |pid: i32| match pid_file {
                Some(f) => std::fs::write(f, pid.to_string()).with_context(|| format!("writing {}", f.display())),
                None => Ok(()),
            };
            if !p.terminal {
                if *detach {
                    return exec_detached(pid_file.as_deref());
                }
                let pid = rt.exec(id, p, [0, 1, 2])?;
                // This process ends with the exec'd one: a parent waiting
                // for the pid file's process (conmon) sees it end.
                write_pid(std::process::id() as i32)?;
                if let Some(fd) = started_fd {
                    let mut started = std::fs::File::from(sandbox::confine::inherited_fd(*fd)?);
                    std::io::Write::write_all(&mut started, b"ok")?;
                }
                return Ok(sandbox::container::exit_code(rt.wait_process(id, pid)?));
            }
            let pty = sandbox::tty::Pty::open()?;
            if let Some(socket) = console_socket {
                sandbox::tty::send_master(socket, pty.master.as_fd())?;
            }
            let slave = pty.slave.as_raw_fd();
            let pid = rt.exec(id, p, [slave, slave, slave])?;
            drop(pty.slave);
            write_pid(pid)?;
            if *detach {
                return Ok(0);
            }
            // The relay ends when the last holder of the slave (the
            // Sentry's copy, closed as the process exits) is gone.
            let relay = sandbox::tty::Relay::start(pty.master)?;
            let status = rt.wait_process(id, pid);
            relay.finish();
            Ok(sandbox::container::exit_code(status?))
        }
        Command::Features => {
            // Honest values: what the sandbox honours of a spec.
            let features = serde_json::json!({
                "ociVersionMin": "1.0.0",
                "ociVersionMax": "1.0.2",
                "hooks": [],
                "mountOptions": ["ro", "rw", "bind", "rbind", "nosuid", "nodev", "noexec", "mode", "size"],
                "linux": {
                    "namespaces": ["pid", "network", "ipc", "uts", "mount"],
                    "capabilities": [],
                    "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false},
                    "seccomp": {"enabled": false},
                    "apparmor": {"enabled": false},
                    "selinux": {"enabled": false}
                },
                "annotations": {
                    "io.github.rvisor.sandbox": "gVisor-style application kernel (Sentry + Gofer)",
                    "io.github.rvisor.platform": "ptrace"
                }
            });
            println!("{}", serde_json::to_string_pretty(&features)?);
            Ok(0)
        }
        Command::Pause { id } => runtime()?.pause(id, true).map(|()| 0),
        Command::Resume { id } => runtime()?.pause(id, false).map(|()| 0),
        Command::Events { stats, interval, id } => {
            let rt = runtime()?;
            let every = parse_interval(interval)?;
            loop {
                let s = match rt.stats(id) {
                    Ok(s) => s,
                    Err(_) if !*stats => return Ok(0),
                    Err(e) => return Err(e),
                };
                let mut event = serde_json::json!({
                    "type": "stats",
                    "id": id,
                    "data": {
                        "cpu": {"usage": {"total": s.cpu_ns}},
                        "memory": {"usage": {"usage": s.memory_bytes}},
                        "pids": {"current": s.pids},
                    }
                });
                // The limits of the sandbox's host cgroup, as runc reports
                // its container's.
                if let Some(host) = rt.host_usage(id) {
                    let data = &mut event["data"];
                    if host.memory_limit > 0 {
                        data["memory"]["usage"]["limit"] = host.memory_limit.into();
                    }
                    if host.pids_limit > 0 {
                        data["pids"]["limit"] = host.pids_limit.into();
                    }
                }
                println!("{event}");
                if *stats {
                    return Ok(0);
                }
                std::thread::sleep(every);
            }
        }
        Command::Ps { format, id } => {
            let procs = runtime()?.processes(id)?;
            if format == "json" {
                let pids: Vec<i32> = procs.iter().map(|p| p.0).collect();
                println!("{}", serde_json::to_string(&pids)?);
            } else {
                println!("{:<10} {:<8} {:<8} CMD", "UID", "PID", "PPID");
                for (pid, ppid, uid, cmd) in procs {
                    println!("{uid:<10} {pid:<8} {ppid:<8} {cmd}");
                }
            }
            Ok(0)
        }
        Command::Delete { force, id } => runtime()?.delete(id, *force).map(|()| 0),
        Command::Run { bundle, detach: true, pid_file, console_socket, id } => {
            runtime()?.run_detached(id, bundle, pid_file.as_deref(), console_socket.as_deref()).map(|()| 0)
        }
        Command::Run { bundle, detach: false, pid_file, console_socket, id } => {
            sandbox::tty::check_console_options(true, false, console_socket.as_deref())?;
            if pid_file.is_some() {
                anyhow::bail!("--pid-file needs --detach");
            }
            runtime()?.run(id, bundle)
        }
        Command::List { format } => list(&runtime()?, format).map(|()| 0),
        Command::Do { args } => runtime()?.do_command(args),
        Command::Spec { bundle } => {
            let path = bundle.join("config.json");
            if path.exists() {
                anyhow::bail!("File {} exists. Remove it first", path.display());
            }
            let json = sandbox::oci::default_spec_json().map_err(anyhow::Error::msg)?;
            std::fs::write(&path, json).with_context(|| format!("writing {}", path.display()))?;
            Ok(0)
        }
        Command::Boot(args) => sandbox::boot::run_boot(args, &cli.platform, cli.strace).map(|()| 0),
        Command::Gofer { serves, ready_fd } => sandbox::gofer::run(serves, *ready_fd).map(|()| 0),
        Command::PlatformDemo { message, count, confine } => {
            let mut stdout = std::io::stdout();
            let line = format!("{message}\n");
            let report = sandbox::demo::run(&cli.platform, &line, *count, *confine, &mut stdout)?;
            std::io::Write::flush(&mut stdout)?;
            eprintln!(
                "runsc: platform {} intercepted {} system calls and {} page fault(s); exit status {}",
                cli.platform, report.syscalls, report.faults, report.exit_code
            );
            Ok(report.exit_code)
        }
    }
}

/// `exec --detach` without a terminal, as gVisor's runsc does it: a child
/// runsc (this command line without `--detach` and `--pid-file`) starts
/// the process, waits for it and exits with its status; its host pid goes
/// to the pid file, so that a parent that waits for that pid (conmon,
/// under podman) sees the process end. Returns once the process started.
fn exec_detached(pid_file: Option<&std::path::Path>) -> anyhow::Result<i32> {
    use std::io::Read as _;
    use std::os::unix::process::CommandExt as _;
    let (mut started_r, started_w) = sandbox::confine::pipe()?;
    // exec's own options (before its id) are rewritten; the global options
    // before `exec` and the id and command after them are kept as given.
    #[derive(PartialEq)]
    enum Part {
        Global,
        Options,
        Command,
    }
    let takes_value = ["--process", "-p", "--env", "-e", "--cwd", "--user", "-u", "--console-socket"];
    let mut part = Part::Global;
    let (mut value_next, mut skip_next) = (false, false);
    let mut args: Vec<std::ffi::OsString> = Vec::new();
    for a in std::env::args_os().skip(1) {
        let s = a.to_string_lossy().into_owned();
        match part {
            Part::Global if s == "exec" => {
                part = Part::Options;
                args.push(a);
                args.push("--started-fd".into());
                args.push(started_w.as_raw_fd().to_string().into());
                continue;
            }
            Part::Options if skip_next => skip_next = false,
            Part::Options if value_next => {
                value_next = false;
                args.push(a);
            }
            Part::Options if s == "--detach" || s == "-d" || s.starts_with("--pid-file=") => {}
            Part::Options if s == "--pid-file" => skip_next = true,
            Part::Options if s.starts_with('-') => {
                value_next = takes_value.contains(&s.as_str());
                args.push(a);
            }
            Part::Options => {
                part = Part::Command;
                args.push(a);
            }
            Part::Global | Part::Command => args.push(a),
        }
    }
    let fd = started_w.as_raw_fd();
    let mut cmd = std::process::Command::new(std::env::current_exe().context("finding the runsc binary")?);
    cmd.args(&args);
    // SAFETY: only fcntl (async-signal-safe) between fork and exec, on a
    // descriptor that stays open until spawn returns.
    unsafe {
        cmd.pre_exec(move || sandbox::confine::keep_across_exec(fd));
    }
    let mut child = cmd.spawn().context("starting the waiting runsc")?;
    drop(started_w);
    let mut answer = String::new();
    let _ = started_r.read_to_string(&mut answer);
    if answer != "ok" {
        // The child printed why.
        let status = child.wait()?;
        return Ok(status.code().filter(|&c| c != 0).unwrap_or(1));
    }
    if let Some(f) = pid_file {
        std::fs::write(f, child.id().to_string()).with_context(|| format!("writing {}", f.display()))?;
    }
    Ok(0)
}

fn list(runtime: &Runtime, format: &str) -> anyhow::Result<()> {
    // One pass over the records: each row pairs a record with its state.
    let rows: Vec<_> =
        runtime.state.list()?.into_iter().filter_map(|r| runtime.state(&r.id).ok().map(|s| (s, r.created))).collect();
    match format {
        "json" => {
            let states: Vec<_> = rows.iter().map(|(s, _)| s).collect();
            println!("{}", serde_json::to_string(&states)?);
        }
        "table" => {
            println!("{:<24} {:<8} {:<10} {:<40} CREATED", "ID", "PID", "STATUS", "BUNDLE");
            for (s, created) in &rows {
                println!("{:<24} {:<8} {:<10} {:<40} {}", s.id, s.pid, s.status, s.bundle.display(), created);
            }
        }
        other => anyhow::bail!("invalid format {other:?} (table or json)"),
    }
    Ok(())
}

/// A Go-style duration as runc takes it for `events --interval` (`5s`,
/// `500ms`, `1m`).
fn parse_interval(s: &str) -> anyhow::Result<std::time::Duration> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().with_context(|| format!("bad interval {s:?}"))?;
    Ok(match unit {
        "ms" => std::time::Duration::from_millis(n),
        "s" | "" => std::time::Duration::from_secs(n),
        "m" => std::time::Duration::from_secs(60 * n),
        _ => anyhow::bail!("bad interval {s:?}"),
    })
}
