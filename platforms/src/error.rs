//! Errors at the platform boundary.

use std::io;

/// What can go wrong below the Sentry.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    #[error("unknown platform {0:?} (available: ptrace)")]
    UnknownPlatform(String),

    #[error("{op}: {source}")]
    Host {
        op: &'static str,
        #[source]
        source: io::Error,
    },

    #[error("memory file exhausted: asked for {requested} bytes, {available} free")]
    OutOfMemory { requested: u64, available: u64 },

    #[error("invalid range {addr:#x}+{len:#x}: {why}")]
    InvalidRange { addr: u64, len: u64, why: &'static str },

    #[error("application stub process {pid} died unexpectedly ({why})")]
    StubDied { pid: i32, why: String },

    #[error("unexpected stop of stub thread {tid}: {what}")]
    UnexpectedStop { tid: i32, what: String },

    #[error("context used on thread {used} but created on thread {owner}")]
    WrongThread { owner: i32, used: i32 },

    #[error("address space belongs to another platform")]
    ForeignAddressSpace,
}

impl PlatformError {
    /// Wraps the current `errno` for a failed host call named `op`.
    pub(crate) fn last_os(op: &'static str) -> PlatformError {
        PlatformError::Host { op, source: io::Error::last_os_error() }
    }

    pub(crate) fn host(op: &'static str, errno: i32) -> PlatformError {
        PlatformError::Host { op, source: io::Error::from_raw_os_error(errno) }
    }
}
