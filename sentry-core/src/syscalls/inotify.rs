//! inotify_init, inotify_init1, inotify_add_watch, inotify_rm_watch.

use std::sync::Arc;

use super::pipe::install_fd;
use super::{Args, Handler};
use crate::errno::{Errno, SysResult};
use crate::fs::anon::anon_inode;
use crate::fs::inotify::{Inotify, ALL_INOTIFY_BITS, IN_DONT_FOLLOW, IN_MASK_ADD, IN_MASK_CREATE, IN_ONLYDIR};
use crate::kernel::Task;
use crate::vfs::path::LookupFlags;
use crate::vfs::{flags, File};

pub(super) const HANDLERS: &[(i64, Handler)] = &[
    (libc::SYS_inotify_init, sys_inotify_init),
    (libc::SYS_inotify_init1, sys_inotify_init1),
    (libc::SYS_inotify_add_watch, sys_inotify_add_watch),
    (libc::SYS_inotify_rm_watch, sys_inotify_rm_watch),
];

/// `AT_FDCWD`.
const AT_FDCWD: i32 = -100;

fn init(t: &Task, fl: u32) -> SysResult {
    if fl & !(flags::O_CLOEXEC | flags::O_NONBLOCK) != 0 {
        return Err(Errno::EINVAL);
    }
    let file = File::new(None, anon_inode(), Box::new(Inotify::new()), flags::O_RDONLY | (fl & flags::O_NONBLOCK));
    install_fd(t, file, fl & flags::O_CLOEXEC != 0)
}

fn sys_inotify_init(t: &mut Task, _a: &Args) -> SysResult {
    init(t, 0)
}

fn sys_inotify_init1(t: &mut Task, a: &Args) -> SysResult {
    init(t, a.u32(0))
}

/// The inotify instance open as `fd` (`EBADF`, or `EINVAL` for another
/// kind of file).
fn instance(t: &Task, fd: i32) -> Result<Arc<File>, Errno> {
    let file = t.file(fd)?;
    if file.ops().as_any().and_then(|a| a.downcast_ref::<Inotify>()).is_none() {
        return Err(Errno::EINVAL);
    }
    Ok(file)
}

fn sys_inotify_add_watch(t: &mut Task, a: &Args) -> SysResult {
    let (fd, mask) = (a.i32(0), a.u32(2));
    // Linux's order: the mask, the descriptor, then the path.
    if mask & IN_MASK_ADD != 0 && mask & IN_MASK_CREATE != 0 {
        return Err(Errno::EINVAL);
    }
    if mask & ALL_INOTIFY_BITS == 0 {
        return Err(Errno::EINVAL);
    }
    let file = instance(t, fd)?;
    let path = t.copy_in_path(a.u64(1))?;
    let lookup = LookupFlags { follow: mask & IN_DONT_FOLLOW == 0, directory: mask & IN_ONLYDIR != 0 };
    let dentry = t.lookup_at(AT_FDCWD, &path, lookup, false)?;
    super::fsattr::permission(t, &dentry.inode().stat(), super::fsattr::MAY_READ)?;
    let inotify = file.ops().as_any().and_then(|a| a.downcast_ref::<Inotify>()).ok_or(Errno::EINVAL)?;
    Ok(inotify.add_watch(dentry.mounts().notify(), &**dentry.inode(), mask)? as u64)
}

fn sys_inotify_rm_watch(t: &mut Task, a: &Args) -> SysResult {
    let file = instance(t, a.i32(0))?;
    let inotify = file.ops().as_any().and_then(|a| a.downcast_ref::<Inotify>()).ok_or(Errno::EINVAL)?;
    inotify.rm_watch(a.i32(1))?;
    Ok(0)
}

/// Reports `mask` about `inode` to its own watches in the caller's tree
/// (for changes made by a path or descriptor that carries no dentry).
pub(super) fn inode_event(t: &Task, inode: &dyn crate::vfs::Inode, mask: u32) {
    let root = crate::mm::lock(&t.fs).root.clone();
    crate::fs::inotify::self_event(&root, inode, mask);
}
