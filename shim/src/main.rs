//! `containerd-shim-runsc-v1`: started by containerd for runtime type
//! `io.containerd.runsc.v1`.

use containerd_shim::Config;
use shim::shim::{RunscShim, RUNTIME_TYPE};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| matches!(a.as_str(), "-v" | "-version" | "--version")) {
        println!("containerd-shim-runsc-v1:\n  Version: {}\n  Runtime: {RUNTIME_TYPE}", env!("CARGO_PKG_VERSION"));
        return;
    }
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("containerd-shim-runsc-v1: starting the async runtime: {e}");
            std::process::exit(1);
        }
    };
    rt.block_on(containerd_shim::asynchronous::run::<RunscShim>(RUNTIME_TYPE, Some(Config::default())));
    // Do not wait for blocking calls (a Wait on a sandbox) still in flight.
    std::process::exit(0);
}
