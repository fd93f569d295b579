//! The host cgroup of a sandbox: where its processes are accounted
//! (task metrics), limited (the spec's `linux.resources`, task Update) and
//! frozen (pause/resume).
//!
//! One implementation serves `runsc` and the shim: this module re-exports
//! [`sandbox::cgroup`]. A sandbox that shares the shim's cgroup is moved
//! into `rvisor/<id>` of its own ([`Cgroup::isolate`], created at create,
//! removed at delete), so that pausing it does not freeze the shim, and
//! the limits bound the whole sandbox (Sentry and its stubs), as gVisor's
//! sandbox cgroup does.

pub use sandbox::cgroup::{process_tree, shares_to_weight, Cgroup, CgroupError, Resources, Usage};
