//! `runsc`: the rvisor OCI runtime command line.

use anyhow::Context as _;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "runsc", version, about = "rvisor: an application kernel for containers")]
struct Cli {
    /// Platform that runs application code.
    #[arg(long, global = true, default_value = "ptrace")]
    platform: String,

    /// Enable debug logging (to stderr).
    #[arg(long, global = true)]
    debug: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve a container's files over 9P (started by runsc itself).
    #[command(hide = true)]
    Gofer {
        /// FD,ro|rw,PATH: serve PATH on inherited socket FD; the first is the
        /// container's root.
        #[arg(long = "serve", required = true)]
        serves: Vec<sandbox::gofer::ServeArg>,
    },
    /// Write a default config.json (as `runc spec` does).
    Spec {
        /// Bundle directory to write it in.
        #[arg(long, short = 'b', default_value = ".")]
        bundle: std::path::PathBuf,
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
    if let Err(e) = run(cli) {
        // One line, as runc prints its errors.
        eprintln!("runsc: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    if cli.debug {
        tracing_subscriber::fmt().with_writer(std::io::stderr).with_env_filter("debug").init();
    }
    match cli.command {
        Command::Gofer { serves } => sandbox::gofer::run(&serves),
        Command::Spec { bundle } => {
            let path = bundle.join("config.json");
            if path.exists() {
                anyhow::bail!("File {} exists. Remove it first", path.display());
            }
            let json = sandbox::oci::default_spec_json().map_err(anyhow::Error::msg)?;
            std::fs::write(&path, json).with_context(|| format!("writing {}", path.display()))
        }
        Command::PlatformDemo { message, count, confine } => {
            let mut stdout = std::io::stdout();
            let line = format!("{message}\n");
            let report = sandbox::demo::run(&cli.platform, &line, count, confine, &mut stdout)?;
            std::io::Write::flush(&mut stdout)?;
            eprintln!(
                "runsc: platform {} intercepted {} system calls and {} page fault(s); exit status {}",
                cli.platform, report.syscalls, report.faults, report.exit_code
            );
            std::process::exit(report.exit_code);
        }
    }
}
