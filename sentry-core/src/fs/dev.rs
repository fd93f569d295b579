//! Character devices: `/dev/null`, `/dev/zero`, `/dev/full`, `/dev/random`,
//! `/dev/urandom`.

use std::any::Any;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::errno::Errno;
use crate::vfs::stat::makedev;
use crate::vfs::{FileOps, FileType, Inode, IoCtx, Stat, Timespec};

/// Which device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DevKind {
    Null,
    Zero,
    Full,
    Random,
    URandom,
}

impl DevKind {
    /// Every device, with its name under `/dev`.
    pub const ALL: [(&'static str, DevKind); 5] = [
        ("null", DevKind::Null),
        ("zero", DevKind::Zero),
        ("full", DevKind::Full),
        ("random", DevKind::Random),
        ("urandom", DevKind::URandom),
    ];

    /// Linux's (major 1) minor number.
    fn minor(self) -> u32 {
        match self {
            DevKind::Null => 3,
            DevKind::Zero => 5,
            DevKind::Full => 7,
            DevKind::Random => 8,
            DevKind::URandom => 9,
        }
    }
}

static NEXT_INO: AtomicU64 = AtomicU64::new(1);

/// A device node.
pub struct DevNode {
    kind: DevKind,
    ino: u64,
    created: Timespec,
}

impl DevNode {
    /// A node for `kind`.
    pub fn new(kind: DevKind) -> Arc<DevNode> {
        Arc::new(DevNode { kind, ino: NEXT_INO.fetch_add(1, Ordering::Relaxed), created: Timespec::now() })
    }
}

/// Fills `buf` with random bytes from the host's CSPRNG.
pub fn fill_random(buf: &mut [u8]) -> Result<(), Errno> {
    let mut done = 0;
    while done < buf.len() {
        // SAFETY: the pointer and length describe the unfilled part of `buf`.
        let n = unsafe { libc::getrandom(buf[done..].as_mut_ptr().cast(), buf.len() - done, 0) };
        if n < 0 {
            let e = Errno::last_host();
            if e == Errno::EINTR {
                continue;
            }
            return Err(e);
        }
        done += n as usize;
    }
    Ok(())
}

impl Inode for DevNode {
    fn stat(&self) -> Stat {
        Stat {
            dev: makedev(0, 6),
            ino: self.ino,
            mode: libc::S_IFCHR | 0o666,
            nlink: 1,
            rdev: makedev(1, self.kind.minor()),
            blksize: 4096,
            atime: self.created,
            mtime: self.created,
            ctime: self.created,
            ..Stat::default()
        }
    }

    fn file_type(&self) -> FileType {
        FileType::CharDevice
    }

    fn open(self: Arc<Self>, _flags: u32) -> Result<Box<dyn FileOps>, Errno> {
        Ok(Box::new(DevFile(self.kind)))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

struct DevFile(DevKind);

impl FileOps for DevFile {
    fn read(&self, _ctx: &IoCtx, _offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        match self.0 {
            DevKind::Null => Ok(0),
            DevKind::Zero | DevKind::Full => {
                buf.fill(0);
                Ok(buf.len())
            }
            DevKind::Random | DevKind::URandom => {
                fill_random(buf)?;
                Ok(buf.len())
            }
        }
    }

    fn write(&self, _ctx: &IoCtx, _offset: u64, buf: &[u8]) -> Result<usize, Errno> {
        match self.0 {
            DevKind::Full => Err(Errno::ENOSPC),
            _ => Ok(buf.len()),
        }
    }

    fn seekable(&self) -> bool {
        true
    }

    fn size(&self) -> Option<u64> {
        Some(0)
    }

    /// Memory devices have nothing to sync; Linux refuses (no `fsync`
    /// operation).
    fn fsync(&self, _datasync: bool) -> Result<(), Errno> {
        Err(Errno::EINVAL)
    }
}
