//! Path-based operations: open, stat, access, readlink, cwd, directory and
//! link manipulation, truncate, umask.

use std::sync::Arc;

use super::{Args, Handler, AT_EMPTY_PATH, AT_FDCWD, AT_REMOVEDIR, AT_SYMLINK_NOFOLLOW};
use crate::errno::{Errno, SysResult};
use crate::fs::inotify::{
    entry_event, file_event, open_file_event, self_event, IN_ATTRIB, IN_CREATE, IN_DELETE, IN_DELETE_SELF, IN_MODIFY,
    IN_MOVED_FROM, IN_MOVED_TO, IN_MOVE_SELF, IN_OPEN,
};
use crate::kernel::Task;
use crate::mm::lock;
use crate::vfs::path::{walk_parent, PATH_MAX};
use crate::vfs::{flags, Creds, Dentry, File, FileType, Inode, LookupFlags, Stat};

pub(super) const HANDLERS: &[(i64, Handler)] = &[
    (libc::SYS_open, sys_open),
    (libc::SYS_openat, sys_openat),
    (libc::SYS_creat, sys_creat),
    (libc::SYS_stat, sys_stat),
    (libc::SYS_lstat, sys_lstat),
    (libc::SYS_fstat, sys_fstat),
    (libc::SYS_newfstatat, sys_newfstatat),
    (libc::SYS_statx, sys_statx),
    (libc::SYS_access, sys_access),
    (libc::SYS_faccessat, sys_faccessat),
    (libc::SYS_faccessat2, sys_faccessat2),
    (libc::SYS_readlink, sys_readlink),
    (libc::SYS_readlinkat, sys_readlinkat),
    (libc::SYS_getcwd, sys_getcwd),
    (libc::SYS_chdir, sys_chdir),
    (libc::SYS_fchdir, sys_fchdir),
    (libc::SYS_mkdir, sys_mkdir),
    (libc::SYS_mkdirat, sys_mkdirat),
    (libc::SYS_rmdir, sys_rmdir),
    (libc::SYS_unlink, sys_unlink),
    (libc::SYS_unlinkat, sys_unlinkat),
    (libc::SYS_symlink, sys_symlink),
    (libc::SYS_symlinkat, sys_symlinkat),
    (libc::SYS_rename, sys_rename),
    (libc::SYS_renameat, sys_renameat),
    (libc::SYS_renameat2, sys_renameat2),
    (libc::SYS_truncate, sys_truncate),
    (libc::SYS_ftruncate, sys_ftruncate),
    (libc::SYS_umask, sys_umask),
    (libc::SYS_mknod, sys_mknod),
    (libc::SYS_mknodat, sys_mknodat),
    (libc::SYS_chmod, sys_chmod),
    (libc::SYS_fchmod, sys_fchmod),
    (libc::SYS_fchmodat, sys_fchmodat),
    (libc::SYS_fsync, sys_fsync),
    (libc::SYS_fdatasync, sys_fdatasync),
];

fn creds(t: &Task) -> Creds {
    Creds { uid: t.creds.euid, gid: t.creds.egid }
}

/// `openat` proper.
fn openat(t: &Task, dirfd: i32, path: &str, oflags: u32, mode: u32) -> SysResult {
    if oflags & flags::O_TMPFILE == flags::O_TMPFILE {
        return Err(Errno::EOPNOTSUPP);
    }
    let follow = oflags & flags::O_NOFOLLOW == 0;
    let mut created = false;
    let dentry = if oflags & flags::O_CREAT != 0 {
        let start = t.start_dir(dirfd, path)?;
        let root = lock(&t.fs).root.clone();
        let umask = lock(&t.fs).umask;
        let (parent, name, trailing) = walk_parent(&root, &start, path)?;
        let name = name.ok_or(Errno::EISDIR)?;
        if trailing {
            return Err(Errno::EISDIR);
        }
        match crate::vfs::path::lookup_child(&parent, &name) {
            Ok(existing) => {
                if oflags & flags::O_EXCL != 0 {
                    return Err(Errno::EEXIST);
                }
                if existing.file_type() == FileType::Symlink {
                    if !follow {
                        return Err(Errno::ELOOP);
                    }
                    t.lookup_at(dirfd, path, LookupFlags::FOLLOW, false)?
                } else {
                    Dentry::child(&parent, &name, existing)
                }
            }
            Err(Errno::ENOENT) => {
                let inode = parent.inode().create(&name, FileType::Regular, mode & !umask & 0o7777, creds(t))?;
                created = true;
                entry_event(&parent, &name, FileType::Regular, IN_CREATE, 0);
                Dentry::child(&parent, &name, inode)
            }
            Err(e) => return Err(e),
        }
    } else {
        let directory = oflags & flags::O_DIRECTORY != 0;
        let d = t.lookup_at(dirfd, path, LookupFlags { follow, directory }, false)?;
        if !follow && d.inode().file_type() == FileType::Symlink && oflags & flags::O_PATH == 0 {
            return Err(Errno::ELOOP);
        }
        d
    };
    let ft = dentry.inode().file_type();
    if ft == FileType::Directory && oflags & flags::O_ACCMODE != flags::O_RDONLY {
        return Err(Errno::EISDIR);
    }
    if oflags & flags::O_DIRECTORY != 0 && ft != FileType::Directory {
        return Err(Errno::ENOTDIR);
    }
    let file = Arc::new(File::open(dentry.clone(), oflags)?);
    // Linux reports the truncation of an existing file before the open.
    if oflags & flags::O_TRUNC != 0 && !created && ft == FileType::Regular && file.writable() {
        file_event(&dentry, IN_MODIFY);
    }
    if oflags & flags::O_PATH == 0 {
        file_event(&dentry, IN_OPEN);
    }
    if ft == FileType::Fifo {
        // Opening one end of a FIFO waits for the other (unless O_NONBLOCK).
        t.io(|ctx| crate::fs::pipe::wait_for_peer(&file, ctx)).map_err(|e| {
            if e == Errno::ERESTARTSYS {
                Errno::EINTR
            } else {
                e
            }
        })?;
    }
    let limit = lock(&t.tg.rlimits)[libc::RLIMIT_NOFILE as usize].0;
    Ok(lock(&t.fds).insert(file, oflags & flags::O_CLOEXEC != 0, 0, limit)? as u64)
}

fn sys_open(t: &mut Task, a: &Args) -> SysResult {
    let p = t.copy_in_path(a.u64(0))?;
    openat(t, AT_FDCWD, &p, a.u32(1), a.u32(2))
}

fn sys_openat(t: &mut Task, a: &Args) -> SysResult {
    let p = t.copy_in_path(a.u64(1))?;
    openat(t, a.i32(0), &p, a.u32(2), a.u32(3))
}

fn sys_creat(t: &mut Task, a: &Args) -> SysResult {
    let p = t.copy_in_path(a.u64(0))?;
    openat(t, AT_FDCWD, &p, flags::O_CREAT | flags::O_WRONLY | flags::O_TRUNC, a.u32(1))
}

/// The inode `(dirfd, path, at_flags)` names, for the stat family.
fn stat_target(t: &Task, dirfd: i32, path: &str, at_flags: i32) -> Result<Arc<dyn Inode>, Errno> {
    if path.is_empty() && at_flags & AT_EMPTY_PATH != 0 && dirfd != AT_FDCWD {
        return Ok(t.file(dirfd)?.inode().clone());
    }
    let follow = at_flags & AT_SYMLINK_NOFOLLOW == 0;
    Ok(t.lookup_at(dirfd, path, LookupFlags { follow, directory: false }, at_flags & AT_EMPTY_PATH != 0)?
        .inode()
        .clone())
}

fn put_stat(t: &Task, addr: u64, st: &Stat) -> SysResult {
    t.mm.copy_out(addr, &st.to_linux())?;
    Ok(0)
}

fn sys_stat(t: &mut Task, a: &Args) -> SysResult {
    let p = t.copy_in_path(a.u64(0))?;
    let st = stat_target(t, AT_FDCWD, &p, 0)?.stat();
    put_stat(t, a.u64(1), &st)
}

fn sys_lstat(t: &mut Task, a: &Args) -> SysResult {
    let p = t.copy_in_path(a.u64(0))?;
    let st = stat_target(t, AT_FDCWD, &p, AT_SYMLINK_NOFOLLOW)?.stat();
    put_stat(t, a.u64(1), &st)
}

fn sys_fstat(t: &mut Task, a: &Args) -> SysResult {
    let st = t.file(a.i32(0))?.inode().stat();
    put_stat(t, a.u64(1), &st)
}

fn sys_newfstatat(t: &mut Task, a: &Args) -> SysResult {
    let fl = a.i32(3);
    if fl & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | 0x800) != 0 {
        return Err(Errno::EINVAL);
    }
    let p = t.copy_in_path(a.u64(1))?;
    let st = stat_target(t, a.i32(0), &p, fl)?.stat();
    put_stat(t, a.u64(2), &st)
}

fn sys_statx(t: &mut Task, a: &Args) -> SysResult {
    let fl = a.i32(2);
    // AT_STATX_SYNC_TYPE bits (0x6000) and AT_NO_AUTOMOUNT (0x800) are fine.
    if fl & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | 0x800 | 0x6000) != 0 || fl & 0x6000 == 0x6000 {
        return Err(Errno::EINVAL);
    }
    let p = t.copy_in_path(a.u64(1))?;
    let st = stat_target(t, a.i32(0), &p, fl)?.stat();
    t.mm.copy_out(a.u64(4), &st.to_statx())?;
    Ok(0)
}

/// `access` checks against the real ids, with the usual permission bits.
fn check_access(t: &Task, inode: &Arc<dyn Inode>, mode: u32) -> SysResult {
    if mode & !7 != 0 {
        return Err(Errno::EINVAL);
    }
    if mode == 0 {
        return Ok(0);
    }
    let st = inode.stat();
    let uid = t.creds.uid;
    if uid == 0 {
        // Root may do anything, except execute a file no one may execute.
        if mode & 1 != 0 && st.mode & 0o111 == 0 && inode.file_type() != FileType::Directory {
            return Err(Errno::EACCES);
        }
        return Ok(0);
    }
    let bits = if st.uid == uid {
        (st.mode >> 6) & 7
    } else if st.gid == t.creds.gid || t.creds.groups.contains(&st.gid) {
        (st.mode >> 3) & 7
    } else {
        st.mode & 7
    };
    if bits & mode == mode {
        Ok(0)
    } else {
        Err(Errno::EACCES)
    }
}

fn faccessat(t: &Task, dirfd: i32, path_addr: u64, mode: u32, fl: i32) -> SysResult {
    let p = t.copy_in_path(path_addr)?;
    let follow = fl & AT_SYMLINK_NOFOLLOW == 0;
    let d = t.lookup_at(dirfd, &p, LookupFlags { follow, directory: false }, fl & AT_EMPTY_PATH != 0)?;
    check_access(t, d.inode(), mode)
}

fn sys_access(t: &mut Task, a: &Args) -> SysResult {
    faccessat(t, AT_FDCWD, a.u64(0), a.u32(1), 0)
}

fn sys_faccessat(t: &mut Task, a: &Args) -> SysResult {
    faccessat(t, a.i32(0), a.u64(1), a.u32(2), 0)
}

fn sys_faccessat2(t: &mut Task, a: &Args) -> SysResult {
    let fl = a.i32(3);
    // AT_EACCESS (0x200) checks effective ids; ours are equal to the real.
    if fl & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | 0x200) != 0 {
        return Err(Errno::EINVAL);
    }
    faccessat(t, a.i32(0), a.u64(1), a.u32(2), fl)
}

fn readlinkat(t: &Task, dirfd: i32, path_addr: u64, buf: u64, size: i32) -> SysResult {
    if size <= 0 {
        return Err(Errno::EINVAL);
    }
    let p = t.copy_in_path(path_addr)?;
    let d = t.lookup_at(dirfd, &p, LookupFlags::NOFOLLOW, true)?;
    let target = d.inode().readlink()?;
    let n = target.len().min(size as usize);
    t.mm.copy_out(buf, &target.as_bytes()[..n])?;
    Ok(n as u64)
}

fn sys_readlink(t: &mut Task, a: &Args) -> SysResult {
    readlinkat(t, AT_FDCWD, a.u64(0), a.u64(1), a.i32(2))
}

fn sys_readlinkat(t: &mut Task, a: &Args) -> SysResult {
    readlinkat(t, a.i32(0), a.u64(1), a.u64(2), a.i32(3))
}

/// The working directory's path as seen from the task's root: prefixed
/// with `(unreachable)` (and given from the real root) when the working
/// directory is outside the root, after `chroot`, as Linux does.
fn cwd_path(t: &Task) -> Vec<u8> {
    let (root, cwd) = {
        let fs = lock(&t.fs);
        (fs.root.clone(), fs.cwd.clone())
    };
    let mut names = Vec::new();
    let mut cur = cwd;
    let reachable = loop {
        if Arc::ptr_eq(&cur, &root) {
            break true;
        }
        let Some(parent) = cur.parent().cloned() else { break false };
        names.push(cur.name().to_string());
        cur = parent;
    };
    let mut path = Vec::new();
    if !reachable {
        path.extend_from_slice(b"(unreachable)");
    }
    for n in names.iter().rev() {
        path.push(b'/');
        path.extend_from_slice(n.as_bytes());
    }
    if names.is_empty() {
        path.push(b'/');
    }
    path
}

fn sys_getcwd(t: &mut Task, a: &Args) -> SysResult {
    let mut path = cwd_path(t);
    path.push(0);
    if path.len() > PATH_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    if (a.u64(1) as usize) < path.len() {
        return Err(Errno::ERANGE);
    }
    t.mm.copy_out(a.u64(0), &path)?;
    Ok(path.len() as u64)
}

fn set_cwd(t: &Task, d: Arc<Dentry>) -> SysResult {
    if d.inode().file_type() != FileType::Directory {
        return Err(Errno::ENOTDIR);
    }
    check_access(t, d.inode(), 1)?;
    lock(&t.fs).cwd = d;
    Ok(0)
}

fn sys_chdir(t: &mut Task, a: &Args) -> SysResult {
    let p = t.copy_in_path(a.u64(0))?;
    let d = t.lookup_at(AT_FDCWD, &p, LookupFlags { follow: true, directory: true }, false)?;
    set_cwd(t, d)
}

fn sys_fchdir(t: &mut Task, a: &Args) -> SysResult {
    let d = t.file(a.i32(0))?.dentry().cloned().ok_or(Errno::ENOTDIR)?;
    set_cwd(t, d)
}

/// Resolves the parent of `path` for a name operation.
fn parent_of(t: &Task, dirfd: i32, path: &str) -> Result<(Arc<Dentry>, Option<String>, bool), Errno> {
    let start = t.start_dir(dirfd, path)?;
    let root = lock(&t.fs).root.clone();
    walk_parent(&root, &start, path)
}

fn mkdirat(t: &Task, dirfd: i32, path_addr: u64, mode: u32) -> SysResult {
    let p = t.copy_in_path(path_addr)?;
    let (parent, name, _) = parent_of(t, dirfd, &p)?;
    let name = name.ok_or(Errno::EEXIST)?;
    let umask = lock(&t.fs).umask;
    parent.inode().create(&name, FileType::Directory, mode & !umask & 0o7777, creds(t))?;
    entry_event(&parent, &name, FileType::Directory, IN_CREATE, 0);
    Ok(0)
}

fn sys_mkdir(t: &mut Task, a: &Args) -> SysResult {
    mkdirat(t, AT_FDCWD, a.u64(0), a.u32(1))
}

fn sys_mkdirat(t: &mut Task, a: &Args) -> SysResult {
    mkdirat(t, a.i32(0), a.u64(1), a.u32(2))
}

/// `mknod`: regular files, FIFOs and socket names. Device nodes need
/// `CAP_MKNOD` and a device the sandbox offers; it offers none (`EPERM`).
fn mknodat(t: &Task, dirfd: i32, path_addr: u64, mode: u32) -> SysResult {
    // Linux's order: the type (may_mknod), then the name (EEXIST), then the
    // permission to make a device (CAP_MKNOD, which the sandbox lacks).
    let ft = match mode & libc::S_IFMT {
        0 | libc::S_IFREG => Some(FileType::Regular),
        libc::S_IFIFO => Some(FileType::Fifo),
        libc::S_IFSOCK => Some(FileType::Socket),
        libc::S_IFCHR | libc::S_IFBLK => None,
        libc::S_IFDIR => return Err(Errno::EPERM),
        _ => return Err(Errno::EINVAL),
    };
    let p = t.copy_in_path(path_addr)?;
    let (parent, name, trailing) = parent_of(t, dirfd, &p)?;
    let name = name.ok_or(Errno::EEXIST)?;
    if parent.inode().lookup(&name).is_ok() {
        return Err(Errno::EEXIST);
    }
    if trailing {
        return Err(Errno::ENOENT);
    }
    let ft = ft.ok_or(Errno::EPERM)?;
    let umask = lock(&t.fs).umask;
    parent.inode().create(&name, ft, mode & !umask & 0o7777, creds(t))?;
    entry_event(&parent, &name, ft, IN_CREATE, 0);
    Ok(0)
}

fn sys_mknod(t: &mut Task, a: &Args) -> SysResult {
    mknodat(t, AT_FDCWD, a.u64(0), a.u32(1))
}

fn sys_mknodat(t: &mut Task, a: &Args) -> SysResult {
    mknodat(t, a.i32(0), a.u64(1), a.u32(2))
}

fn unlinkat(t: &Task, dirfd: i32, path_addr: u64, fl: i32) -> SysResult {
    if fl & !AT_REMOVEDIR != 0 {
        return Err(Errno::EINVAL);
    }
    let p = t.copy_in_path(path_addr)?;
    let (parent, name, trailing) = parent_of(t, dirfd, &p)?;
    let dir = fl & AT_REMOVEDIR != 0;
    let Some(name) = name else {
        return Err(if dir { Errno::EBUSY } else { Errno::EISDIR });
    };
    if trailing && !dir {
        let child = parent.inode().lookup(&name)?;
        return Err(if child.file_type() == FileType::Directory { Errno::EISDIR } else { Errno::ENOTDIR });
    }
    let victim = if parent.mounts().notify().is_active() { parent.inode().lookup(&name).ok() } else { None };
    parent.inode().unlink(&name, dir)?;
    if let Some(v) = victim {
        // As Linux: the link count's change, the file itself once its
        // last link is gone, then the entry's removal.
        let ft = v.file_type();
        if ft != FileType::Directory {
            self_event(&parent, &*v, IN_ATTRIB);
        }
        if ft == FileType::Directory || v.stat().nlink == 0 {
            self_event(&parent, &*v, IN_DELETE_SELF);
        }
        entry_event(&parent, &name, ft, IN_DELETE, 0);
    }
    Ok(0)
}

fn sys_unlink(t: &mut Task, a: &Args) -> SysResult {
    unlinkat(t, AT_FDCWD, a.u64(0), 0)
}

fn sys_rmdir(t: &mut Task, a: &Args) -> SysResult {
    unlinkat(t, AT_FDCWD, a.u64(0), AT_REMOVEDIR)
}

fn sys_unlinkat(t: &mut Task, a: &Args) -> SysResult {
    unlinkat(t, a.i32(0), a.u64(1), a.i32(2))
}

fn symlinkat(t: &Task, target_addr: u64, dirfd: i32, path_addr: u64) -> SysResult {
    let target = t.copy_in_path(target_addr)?;
    if target.is_empty() {
        return Err(Errno::ENOENT);
    }
    let p = t.copy_in_path(path_addr)?;
    let (parent, name, _) = parent_of(t, dirfd, &p)?;
    let name = name.ok_or(Errno::EEXIST)?;
    parent.inode().symlink(&name, &target, creds(t))?;
    entry_event(&parent, &name, FileType::Symlink, IN_CREATE, 0);
    Ok(0)
}

fn sys_symlink(t: &mut Task, a: &Args) -> SysResult {
    symlinkat(t, a.u64(0), AT_FDCWD, a.u64(1))
}

fn sys_symlinkat(t: &mut Task, a: &Args) -> SysResult {
    symlinkat(t, a.u64(0), a.i32(1), a.u64(2))
}

/// Whether `inode` is `d` or one of its ancestors.
fn is_ancestor(inode: &Arc<dyn Inode>, d: &Arc<Dentry>) -> bool {
    let mut cur = Some(d.clone());
    while let Some(d) = cur {
        if Arc::ptr_eq(d.inode(), inode) {
            return true;
        }
        cur = d.parent().cloned();
    }
    false
}

fn renameat(t: &Task, olddir: i32, old_addr: u64, newdir: i32, new_addr: u64, fl: u32) -> SysResult {
    use crate::vfs::rename_flags::{RENAME_EXCHANGE, RENAME_NOREPLACE, RENAME_WHITEOUT};
    if fl & !(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT) != 0
        || (fl & (RENAME_NOREPLACE | RENAME_WHITEOUT) != 0 && fl & RENAME_EXCHANGE != 0)
    {
        return Err(Errno::EINVAL);
    }
    if fl & RENAME_WHITEOUT != 0 && t.creds.euid != 0 {
        return Err(Errno::EPERM);
    }
    let old = t.copy_in_path(old_addr)?;
    let new = t.copy_in_path(new_addr)?;
    let (op, oname, _) = parent_of(t, olddir, &old)?;
    let (np, nname, _) = parent_of(t, newdir, &new)?;
    let oname = oname.ok_or(Errno::EBUSY)?;
    let nname = nname.ok_or(if fl & RENAME_NOREPLACE != 0 { Errno::EEXIST } else { Errno::EBUSY })?;
    let moved = op.inode().lookup(&oname)?;
    if fl & RENAME_NOREPLACE != 0 && np.inode().lookup(&nname).is_ok() {
        return Err(Errno::EEXIST);
    }
    if fl & RENAME_EXCHANGE != 0 {
        // Both must exist, and neither may end up inside itself.
        let other = np.inode().lookup(&nname)?;
        if is_ancestor(&other, &op) {
            return Err(Errno::EINVAL);
        }
    }
    // Moving a directory into itself.
    if is_ancestor(&moved, &np) {
        return Err(Errno::EINVAL);
    }
    let replaced = if op.mounts().notify().is_active() && fl & RENAME_EXCHANGE == 0 {
        np.inode().lookup(&nname).ok()
    } else {
        None
    };
    op.inode().rename2(&oname, np.inode(), &nname, fl)?;
    if op.mounts().notify().is_active() {
        let cookie = op.mounts().notify().new_cookie();
        let ft = moved.file_type();
        entry_event(&op, &oname, ft, IN_MOVED_FROM, cookie);
        entry_event(&np, &nname, ft, IN_MOVED_TO, cookie);
        if let Some(r) = replaced.filter(|r| !Arc::ptr_eq(r, &moved)) {
            if r.file_type() == FileType::Directory || r.stat().nlink == 0 {
                self_event(&np, &*r, IN_DELETE_SELF);
            }
        }
        self_event(&op, &*moved, IN_MOVE_SELF);
    }
    Ok(0)
}

fn sys_rename(t: &mut Task, a: &Args) -> SysResult {
    renameat(t, AT_FDCWD, a.u64(0), AT_FDCWD, a.u64(1), 0)
}

fn sys_renameat(t: &mut Task, a: &Args) -> SysResult {
    renameat(t, a.i32(0), a.u64(1), a.i32(2), a.u64(3), 0)
}

fn sys_renameat2(t: &mut Task, a: &Args) -> SysResult {
    renameat(t, a.i32(0), a.u64(1), a.i32(2), a.u64(3), a.u32(4))
}

fn sys_truncate(t: &mut Task, a: &Args) -> SysResult {
    let p = t.copy_in_path(a.u64(0))?;
    let len = a.i64(1);
    if len < 0 {
        return Err(Errno::EINVAL);
    }
    let d = t.lookup_at(AT_FDCWD, &p, LookupFlags::FOLLOW, false)?;
    // Directories give EISDIR and other non-regular files EINVAL before
    // any permission check.
    match d.inode().file_type() {
        FileType::Directory => return Err(Errno::EISDIR),
        FileType::Regular => {}
        _ => return Err(Errno::EINVAL),
    }
    super::fsattr::permission(t, &d.inode().stat(), super::fsattr::MAY_WRITE)?;
    d.inode().truncate(len as u64)?;
    file_event(&d, IN_MODIFY);
    Ok(0)
}

fn sys_ftruncate(t: &mut Task, a: &Args) -> SysResult {
    let len = a.i64(1);
    if len < 0 {
        return Err(Errno::EINVAL);
    }
    let f = t.file(a.i32(0))?;
    if f.is_opath() {
        return Err(Errno::EBADF);
    }
    if !f.writable() || f.inode().file_type() != FileType::Regular {
        return Err(Errno::EINVAL);
    }
    f.inode().truncate(len as u64)?;
    open_file_event(&f, IN_MODIFY);
    Ok(0)
}

fn sys_umask(t: &mut Task, a: &Args) -> SysResult {
    let mut fs = lock(&t.fs);
    let old = fs.umask;
    fs.umask = a.u32(0) & 0o777;
    Ok(old as u64)
}

fn chmod_inode(t: &Task, inode: &Arc<dyn Inode>, mode: u32) -> SysResult {
    if t.creds.euid != 0 && inode.stat().uid != t.creds.euid {
        return Err(Errno::EPERM);
    }
    inode.set_mode(mode)?;
    Ok(0)
}

fn sys_chmod(t: &mut Task, a: &Args) -> SysResult {
    let p = t.copy_in_path(a.u64(0))?;
    let d = t.lookup_at(AT_FDCWD, &p, LookupFlags::FOLLOW, false)?;
    chmod_inode(t, d.inode(), a.u32(1))?;
    file_event(&d, IN_ATTRIB);
    Ok(0)
}

fn sys_fchmod(t: &mut Task, a: &Args) -> SysResult {
    let f = t.file(a.i32(0))?;
    chmod_inode(t, f.inode(), a.u32(1))?;
    open_file_event(&f, IN_ATTRIB);
    Ok(0)
}

fn sys_fchmodat(t: &mut Task, a: &Args) -> SysResult {
    let p = t.copy_in_path(a.u64(1))?;
    let d = t.lookup_at(a.i32(0), &p, LookupFlags::FOLLOW, false)?;
    chmod_inode(t, d.inode(), a.u32(2))?;
    file_event(&d, IN_ATTRIB);
    Ok(0)
}

/// `fsync`/`fdatasync`: the file decides (tmpfs has nothing to flush,
/// gofer files send `Tfsync`, memory devices refuse with `EINVAL`).
fn fsync(t: &Task, fd: i32, datasync: bool) -> SysResult {
    let f = t.file(fd)?;
    if f.is_opath() {
        return Err(Errno::EBADF);
    }
    f.ops().fsync(datasync)?;
    Ok(0)
}

fn sys_fsync(t: &mut Task, a: &Args) -> SysResult {
    fsync(t, a.i32(0), false)
}

fn sys_fdatasync(t: &mut Task, a: &Args) -> SysResult {
    fsync(t, a.i32(0), true)
}
