//! Server-side fid state.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, Mutex, OnceLock};

use crate::sys;
use crate::wire::{Qid, QT_DIR, QT_FILE, QT_SYMLINK};
use crate::Errno;

/// Identity of a file on the host: (device, inode).
pub(crate) type FileKey = (u64, u64);

/// Where a fid's file was last known to live: a directory (held open) and
/// a single-component name in it. Used to reopen a regular file for I/O,
/// since an O_PATH descriptor cannot be turned into an I/O descriptor
/// without going through /proc.
#[derive(Clone)]
pub(crate) struct Loc {
    pub parent: Arc<OwnedFd>,
    pub parent_key: FileKey,
    pub name: Vec<u8>,
}

/// An open file behind a fid (after `Tlopen`/`Tlcreate`).
pub(crate) struct OpenFile {
    pub fd: OwnedFd,
    /// Host `O_ACCMODE` bits the file was opened with.
    pub accmode: i32,
    /// Serialises seek+getdents for directory reads.
    pub dir_lock: Mutex<()>,
}

impl OpenFile {
    pub fn readable(&self) -> bool {
        self.accmode != libc::O_WRONLY
    }
    pub fn writable(&self) -> bool {
        self.accmode == libc::O_WRONLY || self.accmode == libc::O_RDWR
    }
}

/// A fid: an O_PATH descriptor of the file plus its attributes at walk
/// time (the file type of an inode never changes).
pub(crate) struct Fid {
    /// O_PATH | O_NOFOLLOW descriptor of the file itself.
    pub path: Arc<OwnedFd>,
    pub key: FileKey,
    /// `S_IFMT` bits of the file.
    pub fmt: u32,
    pub qid: Qid,
    /// Parent and name; `None` for the attach root or once the name is
    /// known to be gone (unlinked or replaced).
    pub loc: Mutex<Option<Loc>>,
    /// Numeric uid of the attach (`n_uname`), used as owner of new files.
    pub uid: u32,
    pub open: OnceLock<OpenFile>,
}

impl Fid {
    /// A fid for the file `path` (already O_PATH), statting it.
    pub fn new(path: Arc<OwnedFd>, loc: Option<Loc>, uid: u32) -> Result<Fid, Errno> {
        let st = sys::statx_fd(path.as_fd())?;
        Ok(Fid {
            key: key_of(&st),
            fmt: u32::from(st.stx_mode) & libc::S_IFMT,
            qid: qid_of(&st),
            path,
            loc: Mutex::new(loc),
            uid,
            open: OnceLock::new(),
        })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.path.as_fd()
    }

    pub fn is_dir(&self) -> bool {
        self.fmt == libc::S_IFDIR
    }

    pub fn loc(&self) -> Option<Loc> {
        lock(&self.loc).clone()
    }

    /// The open file, or EBADF if the fid was never opened.
    pub fn opened(&self) -> Result<&OpenFile, Errno> {
        self.open.get().ok_or(Errno::EBADF)
    }
}

/// Locks a mutex, recovering from poisoning (a panicking request handler
/// must not take the connection down with it).
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn key_of(st: &libc::statx) -> FileKey {
    (libc::makedev(st.stx_dev_major, st.stx_dev_minor), st.stx_ino)
}

pub(crate) fn qid_type_of_mode(mode: u32) -> u8 {
    match mode & libc::S_IFMT {
        libc::S_IFDIR => QT_DIR,
        libc::S_IFLNK => QT_SYMLINK,
        _ => QT_FILE,
    }
}

pub(crate) fn qid_of(st: &libc::statx) -> Qid {
    Qid { ty: qid_type_of_mode(u32::from(st.stx_mode)), version: 0, path: st.stx_ino }
}

/// Checks a single path component received from the client: non-empty, no
/// '/', no NUL, not "." or "..", at most 255 bytes.
pub(crate) fn check_name(name: &[u8]) -> Result<(), Errno> {
    if name.is_empty() || name == b"." || name == b".." {
        return Err(Errno::EINVAL);
    }
    if name.len() > 255 {
        return Err(Errno::ENAMETOOLONG);
    }
    if name.iter().any(|&b| b == b'/' || b == 0) {
        return Err(Errno::EINVAL);
    }
    Ok(())
}
