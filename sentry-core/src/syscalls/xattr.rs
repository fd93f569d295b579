//! Extended attributes.
//!
//! No file system of the sandbox stores extended attributes: listing gives
//! an empty list and getting or changing one gives `EOPNOTSUPP`, which is
//! what Linux answers for a file system without xattr support. The path or
//! descriptor is resolved first, so missing files and bad descriptors fail
//! as they should.

use super::{Args, Handler, AT_FDCWD};
use crate::errno::{Errno, SysResult};
use crate::kernel::Task;
use crate::vfs::LookupFlags;

pub(super) const HANDLERS: &[(i64, Handler)] = &[
    (libc::SYS_getxattr, sys_getxattr),
    (libc::SYS_lgetxattr, sys_lgetxattr),
    (libc::SYS_fgetxattr, sys_fgetxattr),
    (libc::SYS_setxattr, sys_setxattr),
    (libc::SYS_lsetxattr, sys_lsetxattr),
    (libc::SYS_fsetxattr, sys_fsetxattr),
    (libc::SYS_listxattr, sys_listxattr),
    (libc::SYS_llistxattr, sys_llistxattr),
    (libc::SYS_flistxattr, sys_flistxattr),
    (libc::SYS_removexattr, sys_removexattr),
    (libc::SYS_lremovexattr, sys_lremovexattr),
    (libc::SYS_fremovexattr, sys_fremovexattr),
];

/// Longest attribute name (`XATTR_NAME_MAX`).
const XATTR_NAME_MAX: usize = 255;

fn resolve_path(t: &Task, addr: u64, follow: bool) -> Result<(), Errno> {
    let path = t.copy_in_path(addr)?;
    t.lookup_at(AT_FDCWD, &path, LookupFlags { follow, ..Default::default() }, false)?;
    Ok(())
}

fn check_name(t: &Task, addr: u64) -> Result<(), Errno> {
    let name =
        t.mm.copy_in_string(addr, XATTR_NAME_MAX)
            .map_err(|e| if e == Errno::ENAMETOOLONG { Errno::ERANGE } else { e })?;
    if name.is_empty() {
        return Err(Errno::ERANGE);
    }
    Ok(())
}

fn get(t: &Task, a: &Args, target: Result<(), Errno>) -> SysResult {
    target?;
    check_name(t, a.u64(1))?;
    Err(Errno::EOPNOTSUPP)
}

fn set(t: &Task, a: &Args, target: Result<(), Errno>) -> SysResult {
    target?;
    check_name(t, a.u64(1))?;
    if a.i32(4) & !3 != 0 {
        return Err(Errno::EINVAL);
    }
    Err(Errno::EOPNOTSUPP)
}

fn list(target: Result<(), Errno>) -> SysResult {
    target?;
    Ok(0)
}

fn fd_target(t: &Task, fd: i32) -> Result<(), Errno> {
    t.file(fd).map(|_| ())
}

fn sys_getxattr(t: &mut Task, a: &Args) -> SysResult {
    get(t, a, resolve_path(t, a.u64(0), true))
}
fn sys_lgetxattr(t: &mut Task, a: &Args) -> SysResult {
    get(t, a, resolve_path(t, a.u64(0), false))
}
fn sys_fgetxattr(t: &mut Task, a: &Args) -> SysResult {
    get(t, a, fd_target(t, a.i32(0)))
}
fn sys_setxattr(t: &mut Task, a: &Args) -> SysResult {
    set(t, a, resolve_path(t, a.u64(0), true))
}
fn sys_lsetxattr(t: &mut Task, a: &Args) -> SysResult {
    set(t, a, resolve_path(t, a.u64(0), false))
}
fn sys_fsetxattr(t: &mut Task, a: &Args) -> SysResult {
    set(t, a, fd_target(t, a.i32(0)))
}
fn sys_listxattr(t: &mut Task, a: &Args) -> SysResult {
    list(resolve_path(t, a.u64(0), true))
}
fn sys_llistxattr(t: &mut Task, a: &Args) -> SysResult {
    list(resolve_path(t, a.u64(0), false))
}
fn sys_flistxattr(t: &mut Task, a: &Args) -> SysResult {
    list(fd_target(t, a.i32(0)))
}
fn sys_removexattr(t: &mut Task, a: &Args) -> SysResult {
    get(t, a, resolve_path(t, a.u64(0), true))
}
fn sys_lremovexattr(t: &mut Task, a: &Args) -> SysResult {
    get(t, a, resolve_path(t, a.u64(0), false))
}
fn sys_fremovexattr(t: &mut Task, a: &Args) -> SysResult {
    get(t, a, fd_target(t, a.i32(0)))
}
