//! Linux error numbers.
//!
//! System call handlers return [`SysResult`]; the task loop turns an
//! `Err(errno)` into `-errno` in `rax`. The `ERESTART*` values are internal to
//! the Sentry (as in Linux) and never reach the application: the task loop
//! either restarts the system call or turns them into `EINTR`.

use std::fmt;

/// A Linux error number.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Errno(pub i32);

/// The result of a system call handler: the value for `rax`, or an error.
pub type SysResult = Result<u64, Errno>;

impl Errno {
    /// `EPERM` (1).
    pub const EPERM: Errno = Errno(1);
    /// `ENOENT` (2).
    pub const ENOENT: Errno = Errno(2);
    /// `ESRCH` (3).
    pub const ESRCH: Errno = Errno(3);
    /// `EINTR` (4).
    pub const EINTR: Errno = Errno(4);
    /// `EIO` (5).
    pub const EIO: Errno = Errno(5);
    /// `ENXIO` (6).
    pub const ENXIO: Errno = Errno(6);
    /// `E2BIG` (7).
    pub const E2BIG: Errno = Errno(7);
    /// `ENOEXEC` (8).
    pub const ENOEXEC: Errno = Errno(8);
    /// `EBADF` (9).
    pub const EBADF: Errno = Errno(9);
    /// `ECHILD` (10).
    pub const ECHILD: Errno = Errno(10);
    /// `EAGAIN` (11).
    pub const EAGAIN: Errno = Errno(11);
    /// `ENOMEM` (12).
    pub const ENOMEM: Errno = Errno(12);
    /// `EACCES` (13).
    pub const EACCES: Errno = Errno(13);
    /// `EFAULT` (14).
    pub const EFAULT: Errno = Errno(14);
    /// `ENOTBLK` (15).
    pub const ENOTBLK: Errno = Errno(15);
    /// `EBUSY` (16).
    pub const EBUSY: Errno = Errno(16);
    /// `EEXIST` (17).
    pub const EEXIST: Errno = Errno(17);
    /// `EXDEV` (18).
    pub const EXDEV: Errno = Errno(18);
    /// `ENODEV` (19).
    pub const ENODEV: Errno = Errno(19);
    /// `ENOTDIR` (20).
    pub const ENOTDIR: Errno = Errno(20);
    /// `EISDIR` (21).
    pub const EISDIR: Errno = Errno(21);
    /// `EINVAL` (22).
    pub const EINVAL: Errno = Errno(22);
    /// `ENFILE` (23).
    pub const ENFILE: Errno = Errno(23);
    /// `EMFILE` (24).
    pub const EMFILE: Errno = Errno(24);
    /// `ENOTTY` (25).
    pub const ENOTTY: Errno = Errno(25);
    /// `ETXTBSY` (26).
    pub const ETXTBSY: Errno = Errno(26);
    /// `EFBIG` (27).
    pub const EFBIG: Errno = Errno(27);
    /// `ENOSPC` (28).
    pub const ENOSPC: Errno = Errno(28);
    /// `ESPIPE` (29).
    pub const ESPIPE: Errno = Errno(29);
    /// `EROFS` (30).
    pub const EROFS: Errno = Errno(30);
    /// `EMLINK` (31).
    pub const EMLINK: Errno = Errno(31);
    /// `EPIPE` (32).
    pub const EPIPE: Errno = Errno(32);
    /// `EDOM` (33).
    pub const EDOM: Errno = Errno(33);
    /// `ERANGE` (34).
    pub const ERANGE: Errno = Errno(34);
    /// `EDEADLK` (35).
    pub const EDEADLK: Errno = Errno(35);
    /// `ENAMETOOLONG` (36).
    pub const ENAMETOOLONG: Errno = Errno(36);
    /// `ENOLCK` (37).
    pub const ENOLCK: Errno = Errno(37);
    /// `ENOSYS` (38).
    pub const ENOSYS: Errno = Errno(38);
    /// `ENOTEMPTY` (39).
    pub const ENOTEMPTY: Errno = Errno(39);
    /// `ELOOP` (40).
    pub const ELOOP: Errno = Errno(40);
    /// `ENOMSG` (42).
    pub const ENOMSG: Errno = Errno(42);
    /// `EIDRM` (43).
    pub const EIDRM: Errno = Errno(43);
    /// `ENODATA` (61).
    pub const ENODATA: Errno = Errno(61);
    /// `EOVERFLOW` (75).
    pub const EOVERFLOW: Errno = Errno(75);
    /// `ELIBBAD` (80).
    pub const ELIBBAD: Errno = Errno(80);
    /// `EILSEQ` (84).
    pub const EILSEQ: Errno = Errno(84);
    /// `ENOTSOCK` (88).
    pub const ENOTSOCK: Errno = Errno(88);
    /// `EDESTADDRREQ` (89).
    pub const EDESTADDRREQ: Errno = Errno(89);
    /// `EMSGSIZE` (90).
    pub const EMSGSIZE: Errno = Errno(90);
    /// `EPROTOTYPE` (91).
    pub const EPROTOTYPE: Errno = Errno(91);
    /// `ENOPROTOOPT` (92).
    pub const ENOPROTOOPT: Errno = Errno(92);
    /// `EPROTONOSUPPORT` (93).
    pub const EPROTONOSUPPORT: Errno = Errno(93);
    /// `ESOCKTNOSUPPORT` (94).
    pub const ESOCKTNOSUPPORT: Errno = Errno(94);
    /// `EOPNOTSUPP` (95).
    pub const EOPNOTSUPP: Errno = Errno(95);
    /// `EAFNOSUPPORT` (97).
    pub const EAFNOSUPPORT: Errno = Errno(97);
    /// `EADDRINUSE` (98).
    pub const EADDRINUSE: Errno = Errno(98);
    /// `EADDRNOTAVAIL` (99).
    pub const EADDRNOTAVAIL: Errno = Errno(99);
    /// `ECONNABORTED` (103).
    pub const ECONNABORTED: Errno = Errno(103);
    /// `ENETUNREACH` (101).
    pub const ENETUNREACH: Errno = Errno(101);
    /// `ECONNRESET` (104).
    pub const ECONNRESET: Errno = Errno(104);
    /// `ENOBUFS` (105).
    pub const ENOBUFS: Errno = Errno(105);
    /// `EISCONN` (106).
    pub const EISCONN: Errno = Errno(106);
    /// `ENOTCONN` (107).
    pub const ENOTCONN: Errno = Errno(107);
    /// `ETOOMANYREFS` (109).
    pub const ETOOMANYREFS: Errno = Errno(109);
    /// `ECONNREFUSED` (111).
    pub const ECONNREFUSED: Errno = Errno(111);
    /// `ETIMEDOUT` (110).
    pub const ETIMEDOUT: Errno = Errno(110);
    /// `EALREADY` (114).
    pub const EALREADY: Errno = Errno(114);
    /// `EINPROGRESS` (115).
    pub const EINPROGRESS: Errno = Errno(115);
    /// `ERESTARTSYS` (512).
    pub const ERESTARTSYS: Errno = Errno(512);
    /// `ERESTARTNOINTR` (513).
    pub const ERESTARTNOINTR: Errno = Errno(513);
    /// `ERESTARTNOHAND` (514).
    pub const ERESTARTNOHAND: Errno = Errno(514);
    /// `ERESTART_RESTARTBLOCK` (516).
    pub const ERESTART_RESTARTBLOCK: Errno = Errno(516);

    /// The symbolic name (`"EFAULT"`), if known.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            1 => "EPERM",
            2 => "ENOENT",
            3 => "ESRCH",
            4 => "EINTR",
            5 => "EIO",
            6 => "ENXIO",
            7 => "E2BIG",
            8 => "ENOEXEC",
            9 => "EBADF",
            10 => "ECHILD",
            11 => "EAGAIN",
            12 => "ENOMEM",
            13 => "EACCES",
            14 => "EFAULT",
            15 => "ENOTBLK",
            16 => "EBUSY",
            17 => "EEXIST",
            18 => "EXDEV",
            19 => "ENODEV",
            20 => "ENOTDIR",
            21 => "EISDIR",
            22 => "EINVAL",
            23 => "ENFILE",
            24 => "EMFILE",
            25 => "ENOTTY",
            26 => "ETXTBSY",
            27 => "EFBIG",
            28 => "ENOSPC",
            29 => "ESPIPE",
            30 => "EROFS",
            31 => "EMLINK",
            32 => "EPIPE",
            33 => "EDOM",
            34 => "ERANGE",
            35 => "EDEADLK",
            36 => "ENAMETOOLONG",
            37 => "ENOLCK",
            38 => "ENOSYS",
            39 => "ENOTEMPTY",
            40 => "ELOOP",
            42 => "ENOMSG",
            43 => "EIDRM",
            61 => "ENODATA",
            75 => "EOVERFLOW",
            80 => "ELIBBAD",
            84 => "EILSEQ",
            88 => "ENOTSOCK",
            89 => "EDESTADDRREQ",
            90 => "EMSGSIZE",
            91 => "EPROTOTYPE",
            92 => "ENOPROTOOPT",
            93 => "EPROTONOSUPPORT",
            94 => "ESOCKTNOSUPPORT",
            95 => "EOPNOTSUPP",
            97 => "EAFNOSUPPORT",
            98 => "EADDRINUSE",
            99 => "EADDRNOTAVAIL",
            101 => "ENETUNREACH",
            103 => "ECONNABORTED",
            104 => "ECONNRESET",
            105 => "ENOBUFS",
            106 => "EISCONN",
            107 => "ENOTCONN",
            109 => "ETOOMANYREFS",
            111 => "ECONNREFUSED",
            110 => "ETIMEDOUT",
            114 => "EALREADY",
            115 => "EINPROGRESS",
            512 => "ERESTARTSYS",
            513 => "ERESTARTNOINTR",
            514 => "ERESTARTNOHAND",
            516 => "ERESTART_RESTARTBLOCK",
            _ => return None,
        })
    }

    /// The value the application sees in `rax`: `-errno`.
    pub fn to_rax(self) -> u64 {
        (-(self.0 as i64)) as u64
    }

    /// The error in a system call's `rax` result, if it is one (`-4095..-1`).
    pub fn from_rax(rax: u64) -> Option<Errno> {
        let v = rax as i64;
        (-4095..0).contains(&v).then(|| Errno(-v as i32))
    }

    /// Whether this is one of the Sentry-internal restart codes.
    pub fn is_restart(self) -> bool {
        matches!(self.0, 512..=516)
    }

    /// The errno of a host `std::io::Error` (EIO if it has none).
    pub fn from_io(e: &std::io::Error) -> Errno {
        Errno(e.raw_os_error().unwrap_or(libc::EIO))
    }

    /// The current host `errno` after a failed libc call.
    pub fn last_host() -> Errno {
        Errno::from_io(&std::io::Error::last_os_error())
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "errno {}", self.0),
        }
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Errno {}

impl From<platforms::PlatformError> for Errno {
    fn from(e: platforms::PlatformError) -> Errno {
        match e {
            platforms::PlatformError::OutOfMemory { .. } => Errno::ENOMEM,
            platforms::PlatformError::InvalidRange { .. } => Errno::EFAULT,
            _ => Errno::EIO,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_values_match_libc() {
        assert_eq!(Errno::EFAULT.0, libc::EFAULT);
        assert_eq!(Errno::ENOSYS.0, libc::ENOSYS);
        assert_eq!(Errno::ENOTEMPTY.0, libc::ENOTEMPTY);
        assert_eq!(Errno::EOVERFLOW.0, libc::EOVERFLOW);
        assert_eq!(Errno::EFAULT.to_string(), "EFAULT");
        assert_eq!(Errno(4000).to_string(), "errno 4000");
        assert_eq!(Errno::ENOENT.to_rax() as i64, -2);
        assert!(Errno::ERESTARTSYS.is_restart() && !Errno::EINTR.is_restart());
    }
}
