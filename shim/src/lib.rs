//! `containerd-shim-runsc-v1`, the containerd shim v2 daemon (runtime type
//! `io.containerd.runsc.v1`, task API v2).
//!
//! - [`service`]: the ttrpc task service, protobuf in, runtime calls out;
//! - [`runtime`]: the runtime trait and its implementation over the
//!   `sandbox` library (runsc's lifecycle);
//! - [`shim`]: the `start` (one shim per pod) and `delete` actions;
//! - [`cgroup`]: the sandbox's host cgroup (metrics, pause/resume);
//! - [`config`]: runtime options and `runsc.toml`;
//! - [`stdio`]: container stdio over containerd's FIFOs, pipes or a
//!   terminal;
//! - [`pod`]: pod grouping and exit statuses.

pub mod cgroup;
pub mod config;
pub mod logging;
pub mod pod;
pub mod runtime;
pub mod service;
pub mod shim;
pub mod stdio;
