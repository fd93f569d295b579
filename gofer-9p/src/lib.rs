//! 9P2000.L for rvisor: the wire codec, the Gofer's file server and the
//! Sentry's client.
//!
//! * [`wire`] — bounded little-endian primitives and frame headers.
//! * [`messages`] — typed T-/R-messages ([`Tmessage`], [`Rmessage`]).
//! * [`server`] — [`Server`]: serves one directory tree over a unix stream
//!   socket, every path operation relative to an open directory descriptor,
//!   never following a symlink.
//! * [`client`] — [`Client`]: thread-safe, many requests in flight, typed
//!   operations on RAII [`Fid`]s.

#![deny(missing_docs)]

pub mod client;
pub mod error;
pub mod messages;
pub mod server;
mod sys;
pub mod wire;

pub use client::{Client, Fid, ReadDir};
pub use error::{Errno, Error, Result};
pub use messages::{DirEntry, Flock, Rmessage, SetAttr, Stat, StatFs, Tmessage};
pub use server::Server;
pub use wire::Qid;

/// 9P2000.L open flags (`P9_DOTL_*`), which are the Linux x86/generic
/// `O_*` values. `Tlopen`/`Tlcreate` carry these.
#[allow(missing_docs)]
pub mod oflags {
    pub const RDONLY: u32 = 0o0;
    pub const WRONLY: u32 = 0o1;
    pub const RDWR: u32 = 0o2;
    pub const ACCMODE: u32 = 0o3;
    pub const CREATE: u32 = 0o100;
    pub const EXCL: u32 = 0o200;
    pub const NOCTTY: u32 = 0o400;
    pub const TRUNC: u32 = 0o1000;
    pub const APPEND: u32 = 0o2000;
    pub const NONBLOCK: u32 = 0o4000;
    pub const DSYNC: u32 = 0o10000;
    pub const FASYNC: u32 = 0o20000;
    pub const DIRECT: u32 = 0o40000;
    pub const LARGEFILE: u32 = 0o100000;
    pub const DIRECTORY: u32 = 0o200000;
    pub const NOFOLLOW: u32 = 0o400000;
    pub const NOATIME: u32 = 0o1000000;
    pub const CLOEXEC: u32 = 0o2000000;
    pub const SYNC: u32 = 0o4000000;
}

/// `Tunlinkat` flag: remove a directory (the Linux `AT_REMOVEDIR` value).
pub const AT_REMOVEDIR: u32 = 0x200;
