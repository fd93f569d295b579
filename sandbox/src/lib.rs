//! OCI bundle to running sandbox: spawning and confining the Sentry and the
//! Gofers, state records, and the `runsc` command line.

pub mod boot;
pub mod cgroup;
pub mod confine;
pub mod container;
pub mod control;
pub mod demo;
pub mod exit_file;
pub mod gofer;
pub mod host_cgroup;
pub mod oci;
pub mod sentry;
pub mod sockpath;
pub mod state;
pub mod tty;
