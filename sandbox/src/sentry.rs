//! The Sentry behind the control service: sentry-core's kernel running the
//! sandbox's containers.

use std::os::unix::net::UnixStream;
use std::sync::Arc;

use crate::control::SandboxKernel;
use crate::oci::ContainerConfig;

/// The kernel of one sandbox.
pub struct SentryKernel;

impl SentryKernel {
    /// Builds the kernel for container `id`: memory file, platform, root
    /// file system from `gofers[0]`, bind mounts from the rest, and the
    /// container's init process, loaded but not started.
    pub fn boot(
        _id: &str,
        _config: &ContainerConfig,
        _gofers: Vec<UnixStream>,
        _platform: &str,
        _strace: bool,
    ) -> anyhow::Result<Arc<dyn SandboxKernel>> {
        anyhow::bail!("this build of runsc cannot run containers yet: the Sentry is not wired in")
    }
}
