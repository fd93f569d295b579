//! Control protocol between `runsc`/the shim and the Sentry.
//!
//! Not built yet: the messages arrive with the Sentry's control service
//! (see issue "runsc: a complete, runc-compatible OCI runtime CLI").
