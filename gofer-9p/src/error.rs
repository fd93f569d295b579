//! Error types at the crate boundary.

use std::fmt;

/// A Linux errno value, as carried by `Rlerror` and returned by host calls.
///
/// The numbers are the Linux x86-64 (generic) values, which is what
/// 9P2000.L puts on the wire.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Errno(pub i32);

macro_rules! errnos {
    ($($name:ident),* $(,)?) => {
        impl Errno {
            $(
                #[doc = concat!("`", stringify!($name), "`")]
                pub const $name: Errno = Errno(libc::$name);
            )*
        }
    };
}

errnos!(
    EPERM,
    ENOENT,
    EINTR,
    EIO,
    ENXIO,
    E2BIG,
    EBADF,
    EAGAIN,
    ENOMEM,
    EACCES,
    EFAULT,
    EBUSY,
    EEXIST,
    EXDEV,
    ENODEV,
    ENOTDIR,
    EISDIR,
    EINVAL,
    ENFILE,
    EMFILE,
    EFBIG,
    ENOSPC,
    ESPIPE,
    EROFS,
    EMLINK,
    ENAMETOOLONG,
    ENOSYS,
    ENOTEMPTY,
    ELOOP,
    ENODATA,
    EPROTO,
    EBADMSG,
    EOVERFLOW,
    EOPNOTSUPP,
    ENOTSUP,
    ESTALE,
    ECONNRESET,
    ERANGE,
    ETXTBSY,
    EMSGSIZE,
    EPIPE,
);

impl Errno {
    /// The raw errno number.
    pub fn raw(self) -> i32 {
        self.0
    }

    /// The errno of the calling thread's last failed libc call.
    pub fn last() -> Errno {
        Errno(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO))
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Errno({}: {})", self.0, nix::errno::Errno::from_raw(self.0).desc())
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (errno {})", nix::errno::Errno::from_raw(self.0).desc(), self.0)
    }
}

impl std::error::Error for Errno {}

impl From<nix::errno::Errno> for Errno {
    fn from(e: nix::errno::Errno) -> Self {
        Errno(e as i32)
    }
}

impl From<std::io::Error> for Errno {
    fn from(e: std::io::Error) -> Self {
        Errno(e.raw_os_error().unwrap_or(libc::EIO))
    }
}

impl From<crate::wire::WireError> for Errno {
    fn from(_: crate::wire::WireError) -> Self {
        Errno::EPROTO
    }
}

/// Errors returned by the client and by the server's connection loop.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The peer answered with `Rlerror`, or a local check failed with an errno.
    #[error("{0}")]
    Errno(#[from] Errno),
    /// A message could not be encoded or decoded.
    #[error("protocol error: {0}")]
    Wire(#[from] crate::wire::WireError),
    /// The peer sent something that violates the protocol.
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// The connection is gone (EOF, I/O error, or the client was shut down).
    #[error("connection closed: {0}")]
    Disconnected(String),
    /// An I/O error on the transport.
    #[error("transport I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A request was cancelled with `Tflush` before its reply arrived.
    #[error("request flushed")]
    Flushed,
}

impl Error {
    /// The errno that best describes this error, for returning to an
    /// application (`Rlerror` values verbatim, transport failures as `EIO`,
    /// flushed requests as `EINTR`).
    pub fn errno(&self) -> Errno {
        match self {
            Error::Errno(e) => *e,
            Error::Wire(_) | Error::Protocol(_) => Errno::EPROTO,
            Error::Disconnected(_) => Errno::EIO,
            Error::Io(e) => Errno(e.raw_os_error().unwrap_or(libc::EIO)),
            Error::Flushed => Errno::EINTR,
        }
    }
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, Error>;
