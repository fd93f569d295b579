//! Ownership, time stamps, hard links and whole-file-system operations:
//! the `chown` and `utime` families, `link`/`linkat`, `statfs`/`fstatfs`,
//! `sync`/`syncfs`, `fallocate`, `readahead`, `fadvise64`, `chroot` and
//! `copy_file_range`.
//!
//! Handlers follow Linux 4.4's checks and their order (`fs/open.c`,
//! `fs/utimes.c`, `fs/namei.c`, `fs/attr.c`): permission checks use the
//! effective ids (Linux's fsuid/fsgid), and root (effective uid 0) has
//! every capability. The file system applies the resulting
//! [`AttrChange`] and sets the change time.

use std::sync::Arc;

use super::{Args, Handler, AT_EMPTY_PATH, AT_FDCWD, AT_SYMLINK_FOLLOW, AT_SYMLINK_NOFOLLOW};
use crate::errno::{Errno, SysResult};
use crate::kernel::Task;
use crate::mm::{lock, MAX_RW_COUNT};
use crate::vfs::path::walk_parent;
use crate::vfs::{falloc, flags, AttrChange, FileType, Inode, LookupFlags, Stat, TimeChange, Timespec};

pub(super) const HANDLERS: &[(i64, Handler)] = &[
    (libc::SYS_chown, sys_chown),
    (libc::SYS_lchown, sys_lchown),
    (libc::SYS_fchown, sys_fchown),
    (libc::SYS_fchownat, sys_fchownat),
    (libc::SYS_utime, sys_utime),
    (libc::SYS_utimes, sys_utimes),
    (libc::SYS_futimesat, sys_futimesat),
    (libc::SYS_utimensat, sys_utimensat),
    (libc::SYS_link, sys_link),
    (libc::SYS_linkat, sys_linkat),
    (libc::SYS_statfs, sys_statfs),
    (libc::SYS_fstatfs, sys_fstatfs),
    (libc::SYS_sync, sys_sync),
    (libc::SYS_syncfs, sys_syncfs),
    (libc::SYS_fallocate, sys_fallocate),
    (libc::SYS_readahead, sys_readahead),
    (libc::SYS_fadvise64, sys_fadvise64),
    (libc::SYS_chroot, sys_chroot),
    (libc::SYS_copy_file_range, sys_copy_file_range),
];

/// `MAY_EXEC`, `MAY_WRITE`, `MAY_READ`.
pub(super) const MAY_EXEC: u32 = 1;
pub(super) const MAY_WRITE: u32 = 2;
pub(super) const MAY_READ: u32 = 4;

/// `UTIME_NOW` and `UTIME_OMIT`.
const UTIME_NOW: i64 = (1 << 30) - 1;
const UTIME_OMIT: i64 = (1 << 30) - 2;

/// Whether `gid` is the caller's effective group or a supplementary one.
fn in_group(t: &Task, gid: u32) -> bool {
    t.creds.egid == gid || t.creds.groups.contains(&gid)
}

/// Whether the caller owns the file or has `CAP_FOWNER` (is root).
fn owner_or_root(t: &Task, st: &Stat) -> bool {
    t.creds.euid == 0 || t.creds.euid == st.uid
}

/// `inode_permission`: `mask` of `MAY_*` against the mode bits with the
/// effective ids. Root may do anything except execute a file nobody may
/// execute.
pub(super) fn permission(t: &Task, st: &Stat, mask: u32) -> Result<(), Errno> {
    if t.creds.euid == 0 {
        let dir = st.mode & libc::S_IFMT == libc::S_IFDIR;
        if mask & MAY_EXEC != 0 && !dir && st.mode & 0o111 == 0 {
            return Err(Errno::EACCES);
        }
        return Ok(());
    }
    let bits = if st.uid == t.creds.euid {
        (st.mode >> 6) & 7
    } else if in_group(t, st.gid) {
        (st.mode >> 3) & 7
    } else {
        st.mode & 7
    };
    if bits & mask == mask {
        Ok(())
    } else {
        Err(Errno::EACCES)
    }
}

/// The inode `(dirfd, path)` names; with `empty_ok`, an empty path names
/// `dirfd` itself (even a descriptor without a name).
fn inode_at(t: &Task, dirfd: i32, path: &str, follow: bool, empty_ok: bool) -> Result<Arc<dyn Inode>, Errno> {
    if path.is_empty() && empty_ok && dirfd != AT_FDCWD {
        return Ok(t.file(dirfd)?.inode().clone());
    }
    Ok(t.lookup_at(dirfd, path, LookupFlags { follow, directory: false }, empty_ok)?.inode().clone())
}

/// The file of `fd`, refusing `O_PATH` descriptors (Linux's `fdget`).
fn file_not_path(t: &Task, fd: i32) -> Result<Arc<crate::vfs::File>, Errno> {
    let f = t.file(fd)?;
    if f.is_opath() {
        return Err(Errno::EBADF);
    }
    Ok(f)
}

// ---- chown ----

/// `chown_common` and `notify_change`: changes owner and group (`-1`:
/// unchanged). Only root may give a file away; an owner may change the
/// group to one of its groups. Changing a non-directory clears its
/// set-user-ID bit and its set-group-ID bit if group-executable, whoever
/// does it.
fn chown_inode(t: &Task, inode: &Arc<dyn Inode>, uid: u32, gid: u32) -> SysResult {
    let st = inode.stat();
    let root = t.creds.euid == 0;
    let owner = t.creds.euid == st.uid;
    let mut c = AttrChange::default();
    if uid != u32::MAX {
        if !(root || (owner && uid == st.uid)) {
            return Err(Errno::EPERM);
        }
        c.uid = Some(uid);
    }
    if gid != u32::MAX {
        if !(root || (owner && (in_group(t, gid) || gid == st.gid))) {
            return Err(Errno::EPERM);
        }
        c.gid = Some(gid);
    }
    if st.mode & libc::S_IFMT != libc::S_IFDIR {
        let old = st.mode & 0o7777;
        let mut mode = old & !libc::S_ISUID;
        if mode & (libc::S_ISGID | libc::S_IXGRP) == (libc::S_ISGID | libc::S_IXGRP) {
            mode &= !libc::S_ISGID;
        }
        if mode != old {
            // Clearing the bits is a mode change: the owner's (or root's),
            // which keeps set-group-ID only for a member of the group.
            if !root && !owner {
                return Err(Errno::EPERM);
            }
            if !root && !in_group(t, c.gid.unwrap_or(st.gid)) {
                mode &= !libc::S_ISGID;
            }
            c.mode = Some(mode);
        }
    }
    inode.set_attr(&c)?;
    super::inotify::inode_event(t, &**inode, crate::fs::inotify::IN_ATTRIB);
    Ok(0)
}

fn fchownat(t: &Task, dirfd: i32, path_addr: u64, uid: u32, gid: u32, fl: i32) -> SysResult {
    if fl & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let p = t.copy_in_path(path_addr)?;
    let inode = inode_at(t, dirfd, &p, fl & AT_SYMLINK_NOFOLLOW == 0, fl & AT_EMPTY_PATH != 0)?;
    chown_inode(t, &inode, uid, gid)
}

fn sys_chown(t: &mut Task, a: &Args) -> SysResult {
    fchownat(t, AT_FDCWD, a.u64(0), a.u32(1), a.u32(2), 0)
}

fn sys_lchown(t: &mut Task, a: &Args) -> SysResult {
    fchownat(t, AT_FDCWD, a.u64(0), a.u32(1), a.u32(2), AT_SYMLINK_NOFOLLOW)
}

fn sys_fchownat(t: &mut Task, a: &Args) -> SysResult {
    fchownat(t, a.i32(0), a.u64(1), a.u32(2), a.u32(3), a.i32(4))
}

fn sys_fchown(t: &mut Task, a: &Args) -> SysResult {
    let f = file_not_path(t, a.i32(0))?;
    chown_inode(t, f.inode(), a.u32(1), a.u32(2))
}

// ---- utime family ----

/// `do_utimes`: `times` are (seconds, nanoseconds) pairs, nanoseconds
/// possibly `UTIME_NOW`/`UTIME_OMIT`; `None` means now. A null `path_addr`
/// with a descriptor changes the descriptor's file (`futimens`).
fn do_utimes(t: &Task, dirfd: i32, path_addr: u64, times: Option<[(i64, i64); 2]>, fl: i32) -> SysResult {
    if let Some(ts) = times {
        if ts.iter().any(|&(_, ns)| ns != UTIME_NOW && ns != UTIME_OMIT && !(0..1_000_000_000).contains(&ns)) {
            return Err(Errno::EINVAL);
        }
    }
    if fl & !AT_SYMLINK_NOFOLLOW != 0 {
        return Err(Errno::EINVAL);
    }
    let inode = if path_addr == 0 && dirfd != AT_FDCWD {
        if fl & AT_SYMLINK_NOFOLLOW != 0 {
            return Err(Errno::EINVAL);
        }
        file_not_path(t, dirfd)?.inode().clone()
    } else {
        let p = t.copy_in_path(path_addr)?;
        inode_at(t, dirfd, &p, fl & AT_SYMLINK_NOFOLLOW == 0, false)?
    };
    let st = inode.stat();
    let times = times.filter(|ts| !(ts[0].1 == UTIME_NOW && ts[1].1 == UTIME_NOW));
    let mut c = AttrChange::default();
    match times {
        None => {
            // Setting both to now needs ownership or write permission.
            if !owner_or_root(t, &st) {
                permission(t, &st, MAY_WRITE)?;
            }
            c.atime = Some(TimeChange::Now);
            c.mtime = Some(TimeChange::Now);
        }
        Some(ts) => {
            if !owner_or_root(t, &st) {
                return Err(Errno::EPERM);
            }
            let conv = |(sec, nsec): (i64, i64)| match nsec {
                UTIME_OMIT => None,
                UTIME_NOW => Some(TimeChange::Now),
                _ => Some(TimeChange::At(Timespec { sec, nsec })),
            };
            c.atime = conv(ts[0]);
            c.mtime = conv(ts[1]);
        }
    }
    inode.set_attr(&c)?;
    super::inotify::inode_event(t, &*inode, crate::fs::inotify::IN_ATTRIB);
    Ok(0)
}

/// Reads `n` consecutive `i64`s at `addr`.
fn read_i64s<const N: usize>(t: &Task, addr: u64) -> Result<[i64; N], Errno> {
    let mut out = [0i64; N];
    for (i, v) in out.iter_mut().enumerate() {
        *v = t.mm.read_u64(addr + 8 * i as u64)? as i64;
    }
    Ok(out)
}

fn sys_utime(t: &mut Task, a: &Args) -> SysResult {
    let times = match a.u64(1) {
        0 => None,
        addr => {
            let [actime, modtime] = read_i64s::<2>(t, addr)?;
            Some([(actime, 0), (modtime, 0)])
        }
    };
    do_utimes(t, AT_FDCWD, a.u64(0), times, 0)
}

fn futimesat(t: &Task, dirfd: i32, path_addr: u64, tv_addr: u64) -> SysResult {
    let times = match tv_addr {
        0 => None,
        addr => {
            let [s0, us0, s1, us1] = read_i64s::<4>(t, addr)?;
            if !(0..1_000_000).contains(&us0) || !(0..1_000_000).contains(&us1) {
                return Err(Errno::EINVAL);
            }
            Some([(s0, us0 * 1000), (s1, us1 * 1000)])
        }
    };
    do_utimes(t, dirfd, path_addr, times, 0)
}

fn sys_utimes(t: &mut Task, a: &Args) -> SysResult {
    futimesat(t, AT_FDCWD, a.u64(0), a.u64(1))
}

fn sys_futimesat(t: &mut Task, a: &Args) -> SysResult {
    futimesat(t, a.i32(0), a.u64(1), a.u64(2))
}

fn sys_utimensat(t: &mut Task, a: &Args) -> SysResult {
    let times = match a.u64(2) {
        0 => None,
        addr => {
            let [s0, ns0, s1, ns1] = read_i64s::<4>(t, addr)?;
            // Nothing to do: not even the path is checked.
            if ns0 == UTIME_OMIT && ns1 == UTIME_OMIT {
                return Ok(0);
            }
            Some([(s0, ns0), (s1, ns1)])
        }
    };
    do_utimes(t, a.i32(0), a.u64(1), times, a.i32(3))
}

// ---- link ----

fn linkat(t: &Task, olddir: i32, old_addr: u64, newdir: i32, new_addr: u64, fl: i32) -> SysResult {
    if fl & !(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    // Linking a descriptor needs CAP_DAC_READ_SEARCH.
    if fl & AT_EMPTY_PATH != 0 && t.creds.euid != 0 {
        return Err(Errno::ENOENT);
    }
    let old = t.copy_in_path(old_addr)?;
    let target = inode_at(t, olddir, &old, fl & AT_SYMLINK_FOLLOW != 0, fl & AT_EMPTY_PATH != 0)?;
    let new = t.copy_in_path(new_addr)?;
    let start = t.start_dir(newdir, &new)?;
    let root = lock(&t.fs).root.clone();
    let (parent, name, trailing) = walk_parent(&root, &start, &new)?;
    let name = name.ok_or(Errno::EEXIST)?;
    let dir = parent.inode();
    match dir.lookup(&name) {
        Ok(_) => return Err(Errno::EEXIST),
        Err(Errno::ENOENT) => {}
        Err(e) => return Err(e),
    }
    if trailing {
        return Err(Errno::ENOENT);
    }
    if target.lock_key().0 != dir.lock_key().0 {
        return Err(Errno::EXDEV);
    }
    permission(t, &dir.stat(), MAY_WRITE | MAY_EXEC)?;
    if target.file_type() == FileType::Directory {
        return Err(Errno::EPERM);
    }
    // A file whose last name is gone (open, unlinked) cannot get a new one.
    if target.stat().nlink == 0 {
        return Err(Errno::ENOENT);
    }
    dir.link(&name, &target)?;
    super::inotify::inode_event(t, &*target, crate::fs::inotify::IN_ATTRIB);
    crate::fs::inotify::entry_event(&parent, &name, target.file_type(), crate::fs::inotify::IN_CREATE, 0);
    Ok(0)
}

fn sys_link(t: &mut Task, a: &Args) -> SysResult {
    linkat(t, AT_FDCWD, a.u64(0), AT_FDCWD, a.u64(1), 0)
}

fn sys_linkat(t: &mut Task, a: &Args) -> SysResult {
    linkat(t, a.i32(0), a.u64(1), a.i32(2), a.u64(3), a.i32(4))
}

// ---- statfs, sync ----

fn put_statfs(t: &Task, inode: &Arc<dyn Inode>, addr: u64) -> SysResult {
    let s = inode.statfs()?;
    t.mm.copy_out(addr, &s.to_linux())?;
    Ok(0)
}

fn sys_statfs(t: &mut Task, a: &Args) -> SysResult {
    let p = t.copy_in_path(a.u64(0))?;
    let inode = inode_at(t, AT_FDCWD, &p, true, false)?;
    put_statfs(t, &inode, a.u64(1))
}

fn sys_fstatfs(t: &mut Task, a: &Args) -> SysResult {
    // O_PATH descriptors are fine here (Linux's fdget_raw).
    let f = t.file(a.i32(0))?;
    put_statfs(t, f.inode(), a.u64(1))
}

/// Gofer files are written through to the host and tmpfs has nothing to
/// write back: there is nothing to wait for.
fn sys_sync(_t: &mut Task, _a: &Args) -> SysResult {
    Ok(0)
}

fn sys_syncfs(t: &mut Task, a: &Args) -> SysResult {
    file_not_path(t, a.i32(0))?;
    Ok(0)
}

// ---- fallocate, readahead, fadvise64 ----

fn sys_fallocate(t: &mut Task, a: &Args) -> SysResult {
    use falloc::*;
    let f = file_not_path(t, a.i32(0))?;
    let (mode, offset, len) = (a.u32(1), a.i64(2), a.i64(3));
    if offset < 0 || len <= 0 {
        return Err(Errno::EINVAL);
    }
    if mode & !SUPPORTED_MASK != 0
        || mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE) == FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE
        || (mode & FALLOC_FL_PUNCH_HOLE != 0 && mode & FALLOC_FL_KEEP_SIZE == 0)
    {
        return Err(Errno::EOPNOTSUPP);
    }
    if (mode & FALLOC_FL_COLLAPSE_RANGE != 0 && mode != FALLOC_FL_COLLAPSE_RANGE)
        || (mode & FALLOC_FL_INSERT_RANGE != 0 && mode != FALLOC_FL_INSERT_RANGE)
    {
        return Err(Errno::EINVAL);
    }
    if !f.writable() {
        return Err(Errno::EBADF);
    }
    match f.inode().file_type() {
        FileType::Fifo => return Err(Errno::ESPIPE),
        FileType::Regular | FileType::Directory => {}
        _ => return Err(Errno::ENODEV),
    }
    if offset.checked_add(len).is_none() {
        return Err(Errno::EFBIG);
    }
    f.inode().allocate(mode, offset as u64, len as u64)?;
    crate::fs::inotify::open_file_event(&f, crate::fs::inotify::IN_MODIFY);
    Ok(0)
}

fn sys_readahead(t: &mut Task, a: &Args) -> SysResult {
    let f = file_not_path(t, a.i32(0))?;
    if !f.readable() {
        return Err(Errno::EBADF);
    }
    if f.inode().file_type() != FileType::Regular {
        return Err(Errno::EINVAL);
    }
    // Data is in memory already (tmpfs) or read on demand (gofer).
    Ok(0)
}

fn sys_fadvise64(t: &mut Task, a: &Args) -> SysResult {
    let f = file_not_path(t, a.i32(0))?;
    if f.inode().file_type() == FileType::Fifo {
        return Err(Errno::ESPIPE);
    }
    if a.i64(2) < 0 {
        return Err(Errno::EINVAL);
    }
    // POSIX_FADV_NORMAL, RANDOM, SEQUENTIAL, WILLNEED, DONTNEED, NOREUSE:
    // advice the Sentry has no use for.
    match a.i32(3) {
        0..=5 => Ok(0),
        _ => Err(Errno::EINVAL),
    }
}

// ---- chroot ----

fn sys_chroot(t: &mut Task, a: &Args) -> SysResult {
    let p = t.copy_in_path(a.u64(0))?;
    let d = t.lookup_at(AT_FDCWD, &p, LookupFlags { follow: true, directory: true }, false)?;
    permission(t, &d.inode().stat(), MAY_EXEC)?;
    if t.creds.euid != 0 {
        return Err(Errno::EPERM);
    }
    lock(&t.fs).root = d;
    Ok(0)
}

// ---- copy_file_range ----

/// Largest buffer one copy step uses.
const COPY_CHUNK: usize = 1 << 20;

fn read_offset(t: &Task, addr: u64) -> Result<Option<i64>, Errno> {
    match addr {
        0 => Ok(None),
        a => Ok(Some(t.mm.read_u64(a)? as i64)),
    }
}

fn sys_copy_file_range(t: &mut Task, a: &Args) -> SysResult {
    let fin = file_not_path(t, a.i32(0))?;
    let fout = file_not_path(t, a.i32(2))?;
    let (in_ptr, out_ptr) = (a.u64(1), a.u64(3));
    let pos_in = read_offset(t, in_ptr)?.unwrap_or(fin.position() as i64);
    let pos_out = read_offset(t, out_ptr)?.unwrap_or(fout.position() as i64);
    if a.u32(5) != 0 {
        return Err(Errno::EINVAL);
    }
    let (ti, to) = (fin.inode().file_type(), fout.inode().file_type());
    if ti == FileType::Directory || to == FileType::Directory {
        return Err(Errno::EISDIR);
    }
    if ti != FileType::Regular || to != FileType::Regular {
        return Err(Errno::EINVAL);
    }
    if !fin.readable() || !fout.writable() || fout.flags() & flags::O_APPEND != 0 {
        return Err(Errno::EBADF);
    }
    // Offsets that wrap (negative ones included, compared unsigned as
    // Linux does) overflow; the length is then limited to one I/O's worth.
    let len = a.u64(4);
    if (pos_in as u64).checked_add(len).is_none() || (pos_out as u64).checked_add(len).is_none() {
        return Err(Errno::EOVERFLOW);
    }
    if pos_in < 0 || pos_out < 0 {
        return Err(Errno::EINVAL);
    }
    let (pos_in, pos_out) = (pos_in as u64, pos_out as u64);
    let len = len.min(MAX_RW_COUNT);
    let size_in = fin.inode().stat().size;
    let count = if pos_in >= size_in { 0 } else { len.min(size_in - pos_in) };
    if fin.inode().lock_key() == fout.inode().lock_key() && pos_out + count > pos_in && pos_out < pos_in + count {
        return Err(Errno::EINVAL);
    }
    let mut done = 0u64;
    let mut buf = vec![0u8; (count as usize).min(COPY_CHUNK)];
    while done < count {
        let n = ((count - done) as usize).min(COPY_CHUNK);
        let got = match t.io(|ctx| fin.read(ctx, &mut buf[..n], Some(pos_in + done))) {
            Ok(g) => g,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        };
        if got == 0 {
            break;
        }
        let put = match t.io(|ctx| fout.write(ctx, &buf[..got], Some(pos_out + done))) {
            Ok(p) => p,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        };
        done += put as u64;
        if put < got {
            break;
        }
    }
    if done > 0 {
        match in_ptr {
            0 => fin.set_position(pos_in + done),
            p => t.mm.write_u64(p, pos_in + done)?,
        }
        match out_ptr {
            0 => fout.set_position(pos_out + done),
            p => t.mm.write_u64(p, pos_out + done)?,
        }
    }
    Ok(done)
}
