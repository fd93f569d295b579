//! The rvisor Sentry: a user-space Linux kernel.
//!
//! The Sentry loads an application's ELF into address spaces it owns (see
//! [`loader`]), runs it on a [`platforms::Platform`], and implements every
//! system call itself ([`syscalls`]): nothing the application asks for is
//! forwarded to the host. Memory is managed by [`mm`], files by [`vfs`] and
//! the file systems in [`fs`], sockets by [`net`]; tasks, thread groups and
//! the task loop live in [`kernel`].
//!
//! Entry point for the runtime:
//!
//! ```no_run
//! # use std::sync::Arc;
//! # fn main() -> Result<(), sentry_core::SentryError> {
//! use sentry_core::{Kernel, KernelConfig, ProcessSpec};
//! let memory = Arc::new(platforms::MemoryFile::new(platforms::memory::DEFAULT_SIZE)?);
//! let platform = platforms::by_name("ptrace", memory)?;
//! let kernel = Kernel::new(KernelConfig::new(platform))?;
//! kernel.root_fs().mkdir_all("/bin", 0o755)?;
//! kernel.root_fs().write_file("/bin/hello", b"\x7fELF...", 0o755)?;
//! # let stdio = || -> std::os::fd::OwnedFd { unimplemented!() };
//! let handle = kernel.spawn_init(ProcessSpec {
//!     argv: vec!["/bin/hello".into()],
//!     envp: vec!["PATH=/bin".into()],
//!     cwd: "/".into(),
//!     stdio: [stdio(), stdio(), stdio()],
//!     uid: 0,
//!     gid: 0,
//!     groups: Vec::new(),
//!     rlimits: Vec::new(),
//! })?;
//! let status = handle.wait();
//! std::process::exit(status.code());
//! # }
//! ```

pub mod arch;
pub mod errno;
pub mod fs;
pub mod kernel;
pub mod loader;
pub mod mm;
pub mod net;
pub mod syscalls;
pub mod vfs;

pub use errno::{Errno, SysResult};
pub use kernel::{
    Container, ExitStatus, Kernel, KernelConfig, ProcessInfo, ProcessSpec, ProcessState, RootFs, SpawnOptions,
    TaskHandle,
};

/// Errors at the crate boundary.
#[derive(Debug, thiserror::Error)]
pub enum SentryError {
    /// The platform failed (address space or context creation).
    #[error("platform: {0}")]
    Platform(#[from] platforms::PlatformError),
    /// The program could not be executed.
    #[error("cannot execute {path}: {errno}")]
    Exec { path: String, errno: Errno },
    /// A file-system operation (populating the root) failed.
    #[error("file system: {0}")]
    Fs(#[from] Errno),
    /// A host operation of the Sentry itself failed.
    #[error("host: {0}")]
    Io(#[from] std::io::Error),
}
