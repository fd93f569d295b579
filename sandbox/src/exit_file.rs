//! The sandbox process ends with its container, as a runc container's
//! process does: when the init of the sandbox's own container exits, the
//! Sentry writes the init's wait status to a file `runsc create` opened for
//! it (`runsc boot --exit-fd`) and exits with the shell convention of that
//! status (the code, or 128+signal). A parent that waits for the process
//! `--pid-file` names (conmon, under podman) thus sees the container end;
//! `runsc wait` reads the file once the sandbox is gone. A pod's sandbox
//! with other containers still running stays (see [`crate::container`]).

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::control::SandboxKernel;

/// The file's name in the container's state directory.
pub const NAME: &str = "exit";

/// How long in-flight control answers (a `wait` for the init) get to
/// leave before the process exits.
const GRACE: Duration = Duration::from_millis(100);

/// Starts the thread that ends the sandbox process after container `id`'s
/// init.
pub fn watch(kernel: Arc<dyn SandboxKernel>, id: String, mut file: File) {
    std::thread::spawn(move || {
        let Ok(status) = kernel.wait(&id, 0) else { return };
        if let Err(e) = file.write_all(status.to_string().as_bytes()) {
            tracing::warn!("recording the exit status of {id}: {e}");
        }
        drop(file);
        // A pod's sandbox outlives its first container while its other
        // containers run: `runsc delete` of the last one ends it.
        let others = kernel.state().containers.into_iter().any(|c| c.id != id && c.status != "stopped");
        if others {
            return;
        }
        std::thread::sleep(GRACE);
        let code = crate::container::exit_code(status);
        // SAFETY: _exit ends the process at once; no state of this
        // process is used afterwards (other threads may hold locks, so no
        // destructors or atexit handlers run).
        unsafe { libc::_exit(code) };
    });
}

/// The wait status recorded in the state directory `dir`, if the sandbox
/// recorded one.
pub fn read(dir: &Path) -> Option<i32> {
    std::fs::read_to_string(dir.join(NAME)).ok()?.trim().parse().ok()
}
