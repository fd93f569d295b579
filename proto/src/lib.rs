//! The control protocol between `runsc`/the shim and a running Sentry.
//!
//! Messages are protobuf (prost, declared in Rust so no `protoc` is
//! needed), framed on a unix stream socket as a 4-byte little-endian length
//! followed by the encoded message. Host descriptors (stdio of an exec'd
//! process, a terminal) travel with a request as `SCM_RIGHTS`.

pub mod control;
pub mod wire;

pub use control::*;
pub use wire::{recv_message, send_message, WireError, MAX_MESSAGE};
