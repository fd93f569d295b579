//! execve and execveat.

use super::{Args, Handler, AT_EMPTY_PATH, AT_FDCWD, AT_SYMLINK_NOFOLLOW};
use crate::errno::{Errno, SysResult};
use crate::kernel::Task;

pub(super) const HANDLERS: &[(i64, Handler)] = &[(libc::SYS_execve, sys_execve), (libc::SYS_execveat, sys_execveat)];

/// Longest single argument or environment string (`MAX_ARG_STRLEN`).
const MAX_ARG_STRLEN: usize = 32 * 4096;
/// Most arguments or environment strings (`MAX_ARG_STRINGS`).
const MAX_ARG_STRINGS: usize = 0x7fff_ffff;
/// Total size of arguments and environment: a quarter of the default 8 MiB
/// stack limit, as Linux allows.
const ARG_MAX: usize = 2 << 20;

/// Copies a NULL-terminated array of string pointers (`argv`, `envp`).
/// Strings that are not UTF-8 are converted lossily: the VFS and loader
/// work with Rust strings.
fn copy_strings(t: &Task, addr: u64, total: &mut usize) -> Result<Vec<String>, Errno> {
    let mut out = Vec::new();
    if addr == 0 {
        return Ok(out);
    }
    for i in 0..MAX_ARG_STRINGS {
        let ptr = t.mm.read_u64(addr.checked_add(8 * i as u64).ok_or(Errno::EFAULT)?)?;
        if ptr == 0 {
            return Ok(out);
        }
        let s = t.mm.copy_in_string(ptr, MAX_ARG_STRLEN - 1).map_err(|e| {
            if e == Errno::ENAMETOOLONG {
                Errno::E2BIG
            } else {
                e
            }
        })?;
        *total += s.len() + 1 + 8;
        if *total > ARG_MAX {
            return Err(Errno::E2BIG);
        }
        out.push(String::from_utf8_lossy(&s).into_owned());
    }
    Err(Errno::E2BIG)
}

fn exec(t: &mut Task, dirfd: i32, path_addr: u64, argv: u64, envp: u64, flags: i32) -> SysResult {
    if flags & !(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0 {
        return Err(Errno::EINVAL);
    }
    let path = t.copy_in_path(path_addr)?;
    let mut total = 0;
    let argv = copy_strings(t, argv, &mut total)?;
    let envp = copy_strings(t, envp, &mut total)?;
    let (dir, path) = if path.is_empty() {
        if flags & AT_EMPTY_PATH == 0 {
            return Err(Errno::ENOENT);
        }
        // fexecve: the file itself.
        let d = t.file(dirfd)?.dentry().cloned().ok_or(Errno::EACCES)?;
        (d.parent().cloned(), d.name().to_string())
    } else if path.starts_with('/') || dirfd == AT_FDCWD {
        (None, path)
    } else {
        (Some(t.start_dir(dirfd, &path)?), path)
    };
    if flags & AT_SYMLINK_NOFOLLOW != 0 {
        let d = t.lookup_at(dirfd, &path, crate::vfs::LookupFlags::default(), false)?;
        if d.inode().file_type() == crate::vfs::FileType::Symlink {
            return Err(Errno::ELOOP);
        }
    }
    t.execve(dir, &path, argv, envp)?;
    Ok(0)
}

fn sys_execve(t: &mut Task, a: &Args) -> SysResult {
    exec(t, AT_FDCWD, a.u64(0), a.u64(1), a.u64(2), 0)
}

fn sys_execveat(t: &mut Task, a: &Args) -> SysResult {
    exec(t, a.i32(0), a.u64(1), a.u64(2), a.u64(3), a.i32(4))
}
