//! Advisory lock system calls: `flock` and the record-lock commands of
//! `fcntl` (`F_GETLK`, `F_SETLK`, `F_SETLKW` and their OFD forms). The
//! locks themselves live in the kernel's [`LockTable`]; see
//! [`crate::vfs::lock`] for ownership and release rules.

use std::sync::Arc;

use super::{Args, Handler};
use crate::errno::{Errno, SysResult};
use crate::kernel::Task;
use crate::vfs::lock::{FileKey, LockTable, LockType, Owner, OFFSET_MAX};
use crate::vfs::File;

pub(super) const HANDLERS: &[(i64, Handler)] = &[(libc::SYS_flock, sys_flock)];

const LOCK_SH: i32 = 1;
const LOCK_EX: i32 = 2;
const LOCK_NB: i32 = 4;
const LOCK_UN: i32 = 8;

/// Size of the x86-64 `struct flock`.
const FLOCK_SIZE: usize = 32;

fn table(t: &Task) -> Arc<LockTable> {
    t.kernel.inner.locks.clone()
}

/// The lock key of `f`'s file, recording it in the description so that
/// its `flock`/OFD locks are released with it.
fn key_for(t: &Task, f: &File) -> FileKey {
    let key = f.inode().lock_key();
    f.lock_state().note(&t.kernel.inner.locks, key);
    key
}

/// A descriptor of `file` was closed by `t`'s process: POSIX semantics
/// release the process's record locks on the file, whichever descriptor
/// they were taken through. (`O_PATH` descriptors, which cannot lock,
/// release nothing, as in Linux.)
pub(crate) fn closed(t: &Task, file: &File) {
    let table = &t.kernel.inner.locks;
    let tgid = t.tg.tgid;
    if !file.is_opath() && table.has_posix(tgid) {
        table.release_posix(file.inode().lock_key(), tgid);
    }
}

fn sys_flock(t: &mut Task, a: &Args) -> SysResult {
    let f = t.file(a.i32(0))?;
    let op = a.i32(1);
    let cmd = op & !LOCK_NB;
    if f.is_opath() || (cmd != LOCK_UN && !f.readable() && !f.writable()) {
        return Err(Errno::EBADF);
    }
    let ty = match cmd {
        LOCK_SH => Some(LockType::Read),
        LOCK_EX => Some(LockType::Write),
        LOCK_UN => None,
        _ => return Err(Errno::EINVAL),
    };
    let key = key_for(t, &f);
    let desc = f.lock_state().id();
    let table = table(t);
    if op & LOCK_NB != 0 || ty.is_none() {
        table.flock(key, desc, ty, None)?;
    } else {
        t.io(|ctx| table.flock(key, desc, ty, Some(ctx)))?;
    }
    Ok(0)
}

/// A `struct flock` as the application passed it.
struct Flock {
    ty: i16,
    whence: i16,
    start: i64,
    len: i64,
    pid: i32,
}

impl Flock {
    fn decode(b: &[u8; FLOCK_SIZE]) -> Flock {
        let i64_at =
            |o: usize| i64::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3], b[o + 4], b[o + 5], b[o + 6], b[o + 7]]);
        Flock {
            ty: i16::from_le_bytes([b[0], b[1]]),
            whence: i16::from_le_bytes([b[2], b[3]]),
            start: i64_at(8),
            len: i64_at(16),
            pid: i32::from_le_bytes([b[24], b[25], b[26], b[27]]),
        }
    }

    fn encode(&self, b: &mut [u8; FLOCK_SIZE]) {
        b[0..2].copy_from_slice(&self.ty.to_le_bytes());
        b[2..4].copy_from_slice(&self.whence.to_le_bytes());
        b[8..16].copy_from_slice(&self.start.to_le_bytes());
        b[16..24].copy_from_slice(&self.len.to_le_bytes());
        b[24..28].copy_from_slice(&self.pid.to_le_bytes());
    }

    /// The locked bytes `start..=end`, as Linux's `flock_to_posix_lock`
    /// computes them.
    fn range(&self, f: &File) -> Result<(u64, u64), Errno> {
        let base: i128 = match i32::from(self.whence) {
            libc::SEEK_SET => 0,
            libc::SEEK_CUR => i128::from(f.position()),
            libc::SEEK_END => i128::from(f.inode().stat().size),
            _ => return Err(Errno::EINVAL),
        };
        let max = i128::from(i64::MAX);
        let (l_start, l_len) = (i128::from(self.start), i128::from(self.len));
        if l_start > max - base {
            return Err(Errno::EOVERFLOW);
        }
        let start = base + l_start;
        if start < 0 {
            return Err(Errno::EINVAL);
        }
        let (s, e) = if l_len > 0 {
            if l_len - 1 > max - start {
                return Err(Errno::EOVERFLOW);
            }
            (start, start + l_len - 1)
        } else if l_len < 0 {
            if start + l_len < 0 {
                return Err(Errno::EINVAL);
            }
            (start + l_len, start - 1)
        } else {
            (start, max)
        };
        Ok((s as u64, e as u64))
    }
}

/// The record-lock commands of `fcntl`.
pub(super) fn fcntl_lock(t: &Task, fd: i32, cmd: i32, arg: u64) -> SysResult {
    let f = t.file(fd)?;
    if f.is_opath() {
        return Err(Errno::EBADF);
    }
    let mut raw = t.mm.read_bytes::<FLOCK_SIZE>(arg)?;
    let mut fl = Flock::decode(&raw);
    let ofd = matches!(cmd, libc::F_OFD_GETLK | libc::F_OFD_SETLK | libc::F_OFD_SETLKW);
    let owner = if ofd { Owner::Description(f.lock_state().id()) } else { Owner::Process(t.tg.tgid) };
    let table = table(t);
    if matches!(cmd, libc::F_GETLK | libc::F_OFD_GETLK) {
        let ty = match i32::from(fl.ty) {
            libc::F_RDLCK => LockType::Read,
            libc::F_WRLCK => LockType::Write,
            _ => return Err(Errno::EINVAL),
        };
        let (start, end) = fl.range(&f)?;
        if ofd && fl.pid != 0 {
            return Err(Errno::EINVAL);
        }
        match table.test_record(f.inode().lock_key(), owner, ty, start, end) {
            None => fl.ty = libc::F_UNLCK as i16,
            Some(r) => {
                fl.ty = match r.ty {
                    LockType::Read => libc::F_RDLCK,
                    LockType::Write => libc::F_WRLCK,
                } as i16;
                fl.whence = libc::SEEK_SET as i16;
                fl.start = r.start as i64;
                fl.len = if r.end == OFFSET_MAX { 0 } else { (r.end - r.start + 1) as i64 };
                fl.pid = r.pid();
            }
        }
        fl.encode(&mut raw);
        t.mm.copy_out(arg, &raw)?;
        return Ok(0);
    }
    let (start, end) = fl.range(&f)?;
    let ty = match i32::from(fl.ty) {
        libc::F_RDLCK => Some(LockType::Read),
        libc::F_WRLCK => Some(LockType::Write),
        libc::F_UNLCK => None,
        _ => return Err(Errno::EINVAL),
    };
    match ty {
        Some(LockType::Read) if !f.readable() => return Err(Errno::EBADF),
        Some(LockType::Write) if !f.writable() => return Err(Errno::EBADF),
        _ => {}
    }
    if ofd && fl.pid != 0 {
        return Err(Errno::EINVAL);
    }
    let key = key_for(t, &f);
    let blocking = matches!(cmd, libc::F_SETLKW | libc::F_OFD_SETLKW) && ty.is_some();
    if blocking {
        t.io(|ctx| table.set_record(key, owner, ty, start, end, Some(ctx)))?;
    } else {
        table.set_record(key, owner, ty, start, end, None)?;
    }
    Ok(0)
}
