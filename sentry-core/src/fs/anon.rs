//! Inodes of files that have no name: the anonymous inode shared by
//! eventfd, epoll and timerfd files, and inode numbers for pseudo file
//! systems (pipes).
//!
//! Linux gives every `anon_inode_getfile` file the same inode: `fstat`
//! reports mode `0600` with no file-type bits, one inode number for all of
//! them, and the owner of the file system (root). [`anon_inode`] is that
//! inode. Its [`Inode::file_type`] says `Regular` because the VFS needs
//! some type; nothing reaches it by name, and `stat` shows the Linux mode.

use std::any::Any;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use crate::errno::Errno;
use crate::vfs::stat::makedev;
use crate::vfs::{FileOps, FileType, Inode, Stat, Timespec};

/// Device number of the anonymous-inode file system.
fn anon_dev() -> u64 {
    makedev(0, 13)
}

/// Device number of the pipe file system.
pub fn pipefs_dev() -> u64 {
    makedev(0, 12)
}

static NEXT_PSEUDO_INO: AtomicU64 = AtomicU64::new(1000);

/// A fresh inode number for a pseudo file system (pipes, sockets).
pub fn next_ino() -> u64 {
    NEXT_PSEUDO_INO.fetch_add(1, Ordering::Relaxed)
}

/// The anonymous inode.
pub struct AnonInode {
    ino: u64,
    created: Timespec,
}

/// The one anonymous inode every eventfd, epoll and timerfd file shares.
pub fn anon_inode() -> Arc<dyn Inode> {
    static ANON: OnceLock<Arc<AnonInode>> = OnceLock::new();
    ANON.get_or_init(|| Arc::new(AnonInode { ino: next_ino(), created: Timespec::now() })).clone()
}

impl Inode for AnonInode {
    fn stat(&self) -> Stat {
        Stat {
            dev: anon_dev(),
            ino: self.ino,
            mode: 0o600,
            nlink: 1,
            blksize: 4096,
            atime: self.created,
            mtime: self.created,
            ctime: self.created,
            ..Stat::default()
        }
    }

    fn file_type(&self) -> FileType {
        FileType::Regular
    }

    /// Nothing opens the anonymous inode by name (Linux: `ENXIO` through
    /// `/proc/self/fd`).
    fn open(self: Arc<Self>, _flags: u32) -> Result<Box<dyn FileOps>, Errno> {
        Err(Errno::ENXIO)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
