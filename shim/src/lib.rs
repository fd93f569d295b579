//! `containerd-shim-runsc-v1`, the containerd shim v2 daemon.
//!
//! Not built yet: it needs the `sandbox` library's lifecycle first
//! (see issue "containerd-shim-runsc-v1").
