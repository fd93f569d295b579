//! End-to-end tests of rvisor, driven as a user drives it (OCI bundles under
//! `runc` and `runsc`, containerd with `ctr`, CRI pods). The tests live in
//! `tests/`; this library holds their shared helpers.
//!
//! The differential-testing harness:
//!
//! - [`guests`] compiles the small static C programs under `integration/guests/`
//!   once per test process;
//! - [`bundle`] builds an OCI bundle (busybox rootfs, the guests under
//!   `/guests/`, a generated `config.json`);
//! - [`runtime`] runs a bundle under `runc` or a `runsc` binary with the same
//!   runc-compatible command line;
//! - [`differential`] runs a bundle under both and reports a readable diff;
//! - [`support`] holds the assertions the test files share;
//! - [`image`] writes OCI image archives (busybox) for `podman load` and
//!   `ctr images import`.
//!
//! Environment variables:
//!
//! | variable | effect |
//! | --- | --- |
//! | `RVISOR_RUNSC` | path of the runsc binary; unset: tests run under runc only |
//! | `RVISOR_RUNSC_FLAGS` | extra global runsc flags, e.g. `--platform=ptrace --debug` |
//! | `RVISOR_KEEP_BUNDLES` | keep bundle directories for inspection |
//! | `RVISOR_RUN_TIMEOUT_SECS` | safety timeout per run (default 120) |
#![forbid(unsafe_code)]

pub mod bundle;
pub mod differential;
pub mod guests;
pub mod image;
pub mod runtime;
pub mod support;

pub use bundle::Bundle;
pub use differential::{compare, CompareError, Comparison, Diff};
pub use runtime::{run, RunError, RunOutput, Runtime};
