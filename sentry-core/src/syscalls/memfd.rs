//! memfd_create: anonymous files backed by memory.
//!
//! A memfd is a regular tmpfs file that no directory names: it lives in a
//! private tmpfs of the kernel and is unlinked at once, so it exists while
//! descriptors (or mappings) refer to it, reads and writes and maps like
//! any tmpfs file, and shows in `/proc/self/fd` as `/memfd:NAME (deleted)`.
//! File seals are not offered (`MFD_ALLOW_SEALING` is accepted; adding a
//! seal fails).

use std::sync::Arc;

use super::{Args, Handler};
use crate::errno::{Errno, SysResult};
use crate::kernel::Task;
use crate::mm::lock;
use crate::vfs::{flags, Creds, Dentry, File, FileType, Inode};

pub(super) const HANDLERS: &[(i64, Handler)] = &[(libc::SYS_memfd_create, sys_memfd_create)];

const MFD_CLOEXEC: u32 = 1;
const MFD_ALLOW_SEALING: u32 = 2;
const MFD_HUGETLB: u32 = 4;
/// Longest name (`NAME_MAX` less the `memfd:` prefix).
const MFD_NAME_MAX: usize = 249;

fn sys_memfd_create(t: &mut Task, a: &Args) -> SysResult {
    let fl = a.u32(1);
    if fl & !(MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB) != 0 {
        return Err(Errno::EINVAL);
    }
    if fl & MFD_HUGETLB != 0 {
        // No huge pages in the Sentry's memory.
        return Err(Errno::EINVAL);
    }
    let name = t.mm.copy_in_string(a.u64(0), MFD_NAME_MAX).map_err(|e| {
        if e == Errno::ENAMETOOLONG {
            Errno::EINVAL
        } else {
            e
        }
    })?;
    let name = format!("memfd:{}", String::from_utf8_lossy(&name));
    let dir = t.kernel.memfd_dir();
    let creds = Creds { uid: t.creds.euid, gid: t.creds.egid };
    // A unique name in the private directory, then unlinked: only the
    // open file keeps the inode.
    let slot = format!("{}", crate::kernel::waiter::unique_id());
    let inode: Arc<dyn Inode> = dir.inode().create(&slot, FileType::Regular, 0o777, creds)?;
    dir.inode().unlink(&slot, false)?;
    let dentry = Dentry::child(&dir, &name, inode);
    let file = Arc::new(File::open(dentry, flags::O_RDWR | flags::O_LARGEFILE)?);
    let limit = lock(&t.tg.rlimits)[libc::RLIMIT_NOFILE as usize].0;
    Ok(lock(&t.fds).insert(file, fl & MFD_CLOEXEC != 0, 0, limit)? as u64)
}
