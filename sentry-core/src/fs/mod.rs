//! File system implementations.
//!
//! - [`tmpfs`]: in-memory files whose data lives in memory-file pages (so
//!   they can be mapped and shared), used for `/tmp`, `/dev` and tests;
//! - [`dev`]: `/dev/null`, `/dev/zero`, `/dev/full`, `/dev/random`,
//!   `/dev/urandom`;
//! - [`gofer`]: the container's files, served by its Gofer over 9P;
//! - [`host_fd`]: the container's stdio, host descriptors handed to the
//!   Sentry (the only host files an application reaches); [`host_tty`]:
//!   those that are terminals (the container's console);
//! - [`pty`]: the Sentry's own pseudo-terminals; [`tty`]: job control,
//!   shared by both kinds of terminal;
//! - [`pipe`]: pipes and FIFOs; [`eventfd`], [`epoll`], [`timerfd`]: the
//!   files of those system calls, on the shared [`anon`] inode.

pub mod anon;
pub mod dev;
pub mod epoll;
pub mod eventfd;
pub mod gofer;
pub mod host_fd;
pub mod host_tty;
pub mod inotify;
pub mod pipe;
pub mod proc;
pub mod pty;
pub mod signalfd;
pub mod timerfd;
pub mod tmpfs;
pub mod tty;
