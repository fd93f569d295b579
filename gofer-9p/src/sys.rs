//! Thin wrappers over the host system calls the server needs.
//!
//! All `unsafe` of the crate lives here. Every wrapper takes borrowed or owned
//! descriptors, converts names to `CString` first (so an embedded NUL is an
//! `EINVAL`, never a truncated name) and returns `Result<_, Errno>`.

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use crate::Errno;

/// Result of a host call.
pub type SysResult<T> = Result<T, Errno>;

fn check(ret: libc::c_int) -> SysResult<libc::c_int> {
    if ret < 0 {
        Err(Errno::last())
    } else {
        Ok(ret)
    }
}

fn check_size(ret: libc::ssize_t) -> SysResult<usize> {
    if ret < 0 {
        Err(Errno::last())
    } else {
        Ok(ret as usize)
    }
}

/// Converts a name to a C string (`EINVAL` on an embedded NUL).
pub fn cstr(name: &[u8]) -> SysResult<CString> {
    CString::new(name).map_err(|_| Errno::EINVAL)
}

const EMPTY: &std::ffi::CStr = c"";

/// Resolution flags used for every lookup: stay beneath the directory, never
/// follow any symlink (magic or not), never cross into /proc magic links.
pub const RESOLVE_STRICT: u64 = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS;

/// `struct open_how` of openat2(2).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// `openat2(dirfd, name, how)`, retrying on EAGAIN (which openat2 returns
/// when a concurrent rename raced with RESOLVE_BENEATH checks).
pub fn openat2(dirfd: BorrowedFd<'_>, name: &[u8], flags: i32, mode: u32, resolve: u64) -> SysResult<OwnedFd> {
    let name = cstr(name)?;
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: if flags & (libc::O_CREAT | libc::O_TMPFILE) != 0 { mode as u64 } else { 0 },
        resolve,
    };
    for _ in 0..64 {
        // SAFETY: `name` is a valid NUL-terminated string and `how` a valid
        // open_how whose size we pass; the kernel does not retain either.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dirfd.as_raw_fd(),
                name.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        if ret >= 0 {
            // SAFETY: openat2 returned a new descriptor that nothing else owns.
            return Ok(unsafe { OwnedFd::from_raw_fd(ret as i32) });
        }
        let e = Errno::last();
        if e != Errno::EAGAIN && e != Errno::EINTR {
            return Err(e);
        }
    }
    Err(Errno::EAGAIN)
}

/// `statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)`: attributes of the
/// file `fd` refers to (works on O_PATH descriptors).
pub fn statx_fd(fd: BorrowedFd<'_>) -> SysResult<libc::statx> {
    // SAFETY: an all-zero statx is a valid value of this plain C struct.
    let mut st: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: EMPTY is NUL-terminated, `st` is a valid out-pointer.
    check(unsafe {
        libc::statx(
            fd.as_raw_fd(),
            EMPTY.as_ptr(),
            libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW,
            libc::STATX_BASIC_STATS | libc::STATX_BTIME,
            &mut st,
        )
    })?;
    Ok(st)
}

/// `fstatfs(fd)`.
pub fn fstatfs(fd: BorrowedFd<'_>) -> SysResult<libc::statfs64> {
    // SAFETY: an all-zero statfs64 is a valid value of this plain C struct.
    let mut st: libc::statfs64 = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid out-pointer for the duration of the call.
    check(unsafe { libc::fstatfs64(fd.as_raw_fd(), &mut st) })?;
    Ok(st)
}

/// `pread(fd, buf, off)`.
pub fn pread(fd: BorrowedFd<'_>, buf: &mut [u8], off: u64) -> SysResult<usize> {
    let off = i64::try_from(off).map_err(|_| Errno::EINVAL)?;
    loop {
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
        let r = unsafe { libc::pread64(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), off) };
        match check_size(r) {
            Err(e) if e == Errno::EINTR => continue,
            other => return other,
        }
    }
}

/// `pwrite(fd, buf, off)`.
pub fn pwrite(fd: BorrowedFd<'_>, buf: &[u8], off: u64) -> SysResult<usize> {
    let off = i64::try_from(off).map_err(|_| Errno::EINVAL)?;
    loop {
        // SAFETY: `buf` is valid for reads of `buf.len()` bytes.
        let r = unsafe { libc::pwrite64(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len(), off) };
        match check_size(r) {
            Err(e) if e == Errno::EINTR => continue,
            other => return other,
        }
    }
}

/// `getdents64(fd, buf)`: raw `linux_dirent64` records.
pub fn getdents64(fd: BorrowedFd<'_>, buf: &mut [u8]) -> SysResult<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
    let r = unsafe { libc::syscall(libc::SYS_getdents64, fd.as_raw_fd(), buf.as_mut_ptr(), buf.len()) };
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(r as usize)
    }
}

/// `lseek(fd, off, SEEK_SET)`.
pub fn seek_set(fd: BorrowedFd<'_>, off: u64) -> SysResult<()> {
    let off = i64::try_from(off).map_err(|_| Errno::EINVAL)?;
    // SAFETY: plain syscall on a borrowed descriptor.
    let r = unsafe { libc::lseek64(fd.as_raw_fd(), off, libc::SEEK_SET) };
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// `mkdirat(dirfd, name, mode)`.
pub fn mkdirat(dirfd: BorrowedFd<'_>, name: &[u8], mode: u32) -> SysResult<()> {
    let name = cstr(name)?;
    // SAFETY: `name` is NUL-terminated.
    check(unsafe { libc::mkdirat(dirfd.as_raw_fd(), name.as_ptr(), mode) }).map(drop)
}

/// `mknodat(dirfd, name, mode, dev)`.
pub fn mknodat(dirfd: BorrowedFd<'_>, name: &[u8], mode: u32, dev: u64) -> SysResult<()> {
    let name = cstr(name)?;
    // SAFETY: `name` is NUL-terminated.
    check(unsafe { libc::mknodat(dirfd.as_raw_fd(), name.as_ptr(), mode, dev) }).map(drop)
}

/// `symlinkat(target, dirfd, name)`.
pub fn symlinkat(target: &[u8], dirfd: BorrowedFd<'_>, name: &[u8]) -> SysResult<()> {
    let name = cstr(name)?;
    let target = cstr(target)?;
    // SAFETY: both strings are NUL-terminated.
    check(unsafe { libc::symlinkat(target.as_ptr(), dirfd.as_raw_fd(), name.as_ptr()) }).map(drop)
}

/// `readlinkat(fd, "")` on an O_PATH descriptor of a symlink.
pub fn readlink_fd(fd: BorrowedFd<'_>) -> SysResult<Vec<u8>> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize + 1];
    // SAFETY: EMPTY is NUL-terminated, `buf` is valid for `buf.len()` bytes.
    let n =
        check_size(unsafe { libc::readlinkat(fd.as_raw_fd(), EMPTY.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) })?;
    if n >= buf.len() {
        return Err(Errno::ENAMETOOLONG);
    }
    buf.truncate(n);
    Ok(buf)
}

/// `linkat(fd, "", newdir, newname, AT_EMPTY_PATH)`: links the very file
/// `fd` refers to.
pub fn link_fd(fd: BorrowedFd<'_>, newdir: BorrowedFd<'_>, newname: &[u8]) -> SysResult<()> {
    let newname = cstr(newname)?;
    // SAFETY: both strings are NUL-terminated.
    check(unsafe {
        libc::linkat(fd.as_raw_fd(), EMPTY.as_ptr(), newdir.as_raw_fd(), newname.as_ptr(), libc::AT_EMPTY_PATH)
    })
    .map(drop)
}

/// `linkat(olddir, oldname, newdir, newname, 0)` (trailing symlinks are not
/// followed).
pub fn linkat(olddir: BorrowedFd<'_>, oldname: &[u8], newdir: BorrowedFd<'_>, newname: &[u8]) -> SysResult<()> {
    let oldname = cstr(oldname)?;
    let newname = cstr(newname)?;
    // SAFETY: both strings are NUL-terminated.
    check(unsafe { libc::linkat(olddir.as_raw_fd(), oldname.as_ptr(), newdir.as_raw_fd(), newname.as_ptr(), 0) })
        .map(drop)
}

/// `unlinkat(dirfd, name, flags)`.
pub fn unlinkat(dirfd: BorrowedFd<'_>, name: &[u8], flags: i32) -> SysResult<()> {
    let name = cstr(name)?;
    // SAFETY: `name` is NUL-terminated.
    check(unsafe { libc::unlinkat(dirfd.as_raw_fd(), name.as_ptr(), flags) }).map(drop)
}

/// `renameat(olddir, oldname, newdir, newname)`.
pub fn renameat(olddir: BorrowedFd<'_>, oldname: &[u8], newdir: BorrowedFd<'_>, newname: &[u8]) -> SysResult<()> {
    let oldname = cstr(oldname)?;
    let newname = cstr(newname)?;
    // SAFETY: both strings are NUL-terminated.
    check(unsafe { libc::renameat(olddir.as_raw_fd(), oldname.as_ptr(), newdir.as_raw_fd(), newname.as_ptr()) })
        .map(drop)
}

/// `fchownat(fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)`; `u32::MAX`
/// leaves an id unchanged.
pub fn chown_fd(fd: BorrowedFd<'_>, uid: u32, gid: u32) -> SysResult<()> {
    // SAFETY: EMPTY is NUL-terminated.
    check(unsafe {
        libc::fchownat(fd.as_raw_fd(), EMPTY.as_ptr(), uid, gid, libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW)
    })
    .map(drop)
}

/// `fchmodat2(fd, "", mode, AT_EMPTY_PATH)` (Linux 6.6+): works on O_PATH
/// descriptors and never follows a symlink.
pub fn chmod_fd(fd: BorrowedFd<'_>, mode: u32) -> SysResult<()> {
    // SAFETY: EMPTY is NUL-terminated.
    let r = unsafe { libc::syscall(libc::SYS_fchmodat2, fd.as_raw_fd(), EMPTY.as_ptr(), mode, libc::AT_EMPTY_PATH) };
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// `fchmod(fd, mode)` on an open (non-O_PATH) descriptor.
pub fn fchmod(fd: BorrowedFd<'_>, mode: u32) -> SysResult<()> {
    // SAFETY: plain syscall on a borrowed descriptor.
    check(unsafe { libc::fchmod(fd.as_raw_fd(), mode) }).map(drop)
}

/// `utimensat(fd, "", times, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)`.
pub fn utimens_fd(fd: BorrowedFd<'_>, times: &[libc::timespec; 2]) -> SysResult<()> {
    // SAFETY: EMPTY is NUL-terminated; `times` points at two timespecs.
    check(unsafe {
        libc::utimensat(fd.as_raw_fd(), EMPTY.as_ptr(), times.as_ptr(), libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW)
    })
    .map(drop)
}

/// `ftruncate(fd, size)`.
pub fn ftruncate(fd: BorrowedFd<'_>, size: u64) -> SysResult<()> {
    let size = i64::try_from(size).map_err(|_| Errno::EINVAL)?;
    // SAFETY: plain syscall on a borrowed descriptor.
    check(unsafe { libc::ftruncate64(fd.as_raw_fd(), size) }).map(drop)
}

/// `fsync(fd)` or `fdatasync(fd)`.
pub fn fsync(fd: BorrowedFd<'_>, datasync: bool) -> SysResult<()> {
    // SAFETY: plain syscalls on a borrowed descriptor.
    check(unsafe {
        if datasync {
            libc::fdatasync(fd.as_raw_fd())
        } else {
            libc::fsync(fd.as_raw_fd())
        }
    })
    .map(drop)
}

/// Clears `O_NONBLOCK` on an open descriptor.
pub fn clear_nonblock(fd: BorrowedFd<'_>) -> SysResult<()> {
    // SAFETY: F_GETFL takes no argument.
    let fl = check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) })?;
    // SAFETY: F_SETFL takes an int argument.
    check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, fl & !libc::O_NONBLOCK) }).map(drop)
}

/// An open-file-description record lock request (`F_OFD_SETLK`/`F_OFD_GETLK`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfdLock {
    /// `F_RDLCK`, `F_WRLCK` or `F_UNLCK`.
    pub ty: i16,
    /// First byte.
    pub start: i64,
    /// Length (0: to end of file).
    pub len: i64,
    /// For GETLK results: the owning pid (-1 for OFD locks).
    pub pid: i32,
}

fn to_flock(l: &OfdLock) -> libc::flock {
    // SAFETY: an all-zero flock is a valid value of this plain C struct.
    let mut f: libc::flock = unsafe { std::mem::zeroed() };
    f.l_type = l.ty;
    f.l_whence = libc::SEEK_SET as i16;
    f.l_start = l.start;
    f.l_len = l.len;
    f
}

/// `fcntl(fd, F_OFD_SETLK, lock)` (never blocks).
pub fn ofd_setlk(fd: BorrowedFd<'_>, l: &OfdLock) -> SysResult<()> {
    let f = to_flock(l);
    // SAFETY: `f` is a valid flock for the duration of the call.
    check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_OFD_SETLK, &f) }).map(drop)
}

/// `fcntl(fd, F_OFD_GETLK, lock)`.
pub fn ofd_getlk(fd: BorrowedFd<'_>, l: &OfdLock) -> SysResult<OfdLock> {
    let mut f = to_flock(l);
    // SAFETY: `f` is a valid, writable flock for the duration of the call.
    check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_OFD_GETLK, &mut f) })?;
    Ok(OfdLock { ty: f.l_type, start: f.l_start, len: f.l_len, pid: f.l_pid })
}

/// Sends all of `buf` on a stream socket with `MSG_NOSIGNAL` (a vanished
/// peer is `EPIPE`, not a SIGPIPE).
pub fn send_all(fd: BorrowedFd<'_>, mut buf: &[u8]) -> SysResult<()> {
    while !buf.is_empty() {
        // SAFETY: `buf` is valid for reads of `buf.len()` bytes.
        let r = unsafe { libc::send(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) };
        match check_size(r) {
            Ok(0) => return Err(Errno::EPIPE),
            Ok(n) => buf = &buf[n..],
            Err(e) if e == Errno::EINTR => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The effective uid of this process.
pub fn geteuid() -> u32 {
    nix::unistd::geteuid().as_raw()
}
