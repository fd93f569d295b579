//! End-to-end tests of rvisor, driven as a user drives it (OCI bundles under
//! `runc` and `runsc`, containerd with `ctr`, CRI pods). The tests live in
//! `tests/`; this library holds their shared helpers.
