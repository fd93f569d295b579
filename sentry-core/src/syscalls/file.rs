//! Operations on open files: read/write and friends, lseek, close, dup,
//! fcntl, ioctl, getdents64.

use std::sync::Arc;

use super::{Args, Handler};
use crate::errno::{Errno, SysResult};
use crate::fs::inotify::{open_file_event, IN_ACCESS, IN_MODIFY};
use crate::kernel::Task;
use crate::mm::{lock, IoVec, MAX_RW_COUNT};
use crate::vfs::{flags, File};

pub(super) const HANDLERS: &[(i64, Handler)] = &[
    (libc::SYS_read, sys_read),
    (libc::SYS_write, sys_write),
    (libc::SYS_readv, sys_readv),
    (libc::SYS_writev, sys_writev),
    (libc::SYS_pread64, sys_pread64),
    (libc::SYS_pwrite64, sys_pwrite64),
    (libc::SYS_preadv, sys_preadv),
    (libc::SYS_pwritev, sys_pwritev),
    (libc::SYS_lseek, sys_lseek),
    (libc::SYS_close, sys_close),
    (libc::SYS_close_range, sys_close_range),
    (libc::SYS_dup, sys_dup),
    (libc::SYS_dup2, sys_dup2),
    (libc::SYS_dup3, sys_dup3),
    (libc::SYS_fcntl, sys_fcntl),
    (libc::SYS_ioctl, sys_ioctl),
    (libc::SYS_getdents64, sys_getdents64),
    (libc::SYS_sendfile, sys_sendfile),
];

/// Largest Sentry buffer one transfer step uses.
const CHUNK: usize = 1 << 20;

/// Reads from `file` into application memory at `iovs`, chunk by chunk;
/// stops at a short read. `at`: explicit offset (pread).
fn read_into(task: &Task, file: &File, iovs: &[IoVec], mut at: Option<u64>) -> SysResult {
    if let (Some(sock), None) = (crate::net::socket_of(file), at) {
        return super::socket::read_socket(task, file, sock, iovs);
    }
    let mut total = 0u64;
    for iov in iovs {
        let mut done = 0u64;
        while done < iov.len {
            let n = ((iov.len - done) as usize).min(CHUNK);
            let mut buf = vec![0u8; n];
            let got = match task.io(|ctx| file.read(ctx, &mut buf, at)) {
                Ok(g) => g,
                Err(e) if total > 0 && (e == Errno::EINTR || e == Errno::EAGAIN) => return Ok(total),
                Err(e) => return Err(e),
            };
            if got > 0 {
                open_file_event(file, IN_ACCESS);
            }
            if let Err(e) = task.mm.copy_out(iov.base + done, &buf[..got]) {
                return if total > 0 { Ok(total) } else { Err(e) };
            }
            done += got as u64;
            total += got as u64;
            at = at.map(|a| a + got as u64);
            if got < n {
                return Ok(total);
            }
        }
    }
    Ok(total)
}

/// Writes application memory at `iovs` to `file`; stops at a short write.
fn write_from(task: &Task, file: &File, iovs: &[IoVec], mut at: Option<u64>) -> SysResult {
    if let (Some(sock), None) = (crate::net::socket_of(file), at) {
        return super::socket::write_socket(task, file, sock, iovs);
    }
    let mut total = 0u64;
    for iov in iovs {
        let mut done = 0u64;
        while done < iov.len {
            let n = ((iov.len - done) as usize).min(CHUNK);
            let buf = match task.mm.copy_in_vec(iov.base + done, n) {
                Ok(b) => b,
                Err(e) => return if total > 0 { Ok(total) } else { Err(e) },
            };
            let put = match task.io(|ctx| file.write(ctx, &buf, at)) {
                Ok(p) => p,
                Err(e) if total > 0 => {
                    tracing::debug!(error = %e, "write error after a partial write");
                    return Ok(total);
                }
                Err(e) => return Err(e),
            };
            if put > 0 {
                open_file_event(file, IN_MODIFY);
            }
            done += put as u64;
            total += put as u64;
            at = at.map(|a| a + put as u64);
            if put < n {
                return Ok(total);
            }
        }
    }
    Ok(total)
}

/// Highest user address plus one on x86-64 (`TASK_SIZE_MAX`).
const TASK_SIZE_MAX: u64 = (1 << 47) - 4096;

/// The buffer of read/write/pread/pwrite, checked as Linux's `access_ok`:
/// a range reaching past the user address space is `EFAULT` whatever the
/// file (a count of -1 among others).
fn one_iov(a: &Args) -> Result<[IoVec; 1], Errno> {
    let (base, len) = (a.u64(1), a.u64(2));
    if len > TASK_SIZE_MAX || base > TASK_SIZE_MAX - len {
        return Err(Errno::EFAULT);
    }
    Ok([IoVec { base, len: len.min(MAX_RW_COUNT) }])
}

fn readable(task: &Task, fd: i32) -> Result<Arc<File>, Errno> {
    let f = task.file(fd)?;
    if !f.readable() {
        return Err(Errno::EBADF);
    }
    Ok(f)
}

fn writable(task: &Task, fd: i32) -> Result<Arc<File>, Errno> {
    let f = task.file(fd)?;
    if !f.writable() {
        return Err(Errno::EBADF);
    }
    Ok(f)
}

fn offset_arg(a: &Args, i: usize) -> Result<u64, Errno> {
    let off = a.i64(i);
    if off < 0 {
        return Err(Errno::EINVAL);
    }
    Ok(off as u64)
}

fn sys_read(t: &mut Task, a: &Args) -> SysResult {
    let f = readable(t, a.i32(0))?;
    read_into(t, &f, &one_iov(a)?, None)
}

fn sys_write(t: &mut Task, a: &Args) -> SysResult {
    let f = writable(t, a.i32(0))?;
    write_from(t, &f, &one_iov(a)?, None)
}

fn sys_pread64(t: &mut Task, a: &Args) -> SysResult {
    let f = readable(t, a.i32(0))?;
    let off = offset_arg(a, 3)?;
    read_into(t, &f, &one_iov(a)?, Some(off))
}

fn sys_pwrite64(t: &mut Task, a: &Args) -> SysResult {
    let f = writable(t, a.i32(0))?;
    let off = offset_arg(a, 3)?;
    write_from(t, &f, &one_iov(a)?, Some(off))
}

fn sys_readv(t: &mut Task, a: &Args) -> SysResult {
    let f = readable(t, a.i32(0))?;
    let iovs = t.mm.copy_in_iovecs(a.u64(1), a.u64(2))?;
    read_into(t, &f, &iovs, None)
}

fn sys_writev(t: &mut Task, a: &Args) -> SysResult {
    let f = writable(t, a.i32(0))?;
    let iovs = t.mm.copy_in_iovecs(a.u64(1), a.u64(2))?;
    write_from(t, &f, &iovs, None)
}

fn sys_preadv(t: &mut Task, a: &Args) -> SysResult {
    let f = readable(t, a.i32(0))?;
    let off = offset_arg(a, 3)?;
    let iovs = t.mm.copy_in_iovecs(a.u64(1), a.u64(2))?;
    read_into(t, &f, &iovs, Some(off))
}

fn sys_pwritev(t: &mut Task, a: &Args) -> SysResult {
    let f = writable(t, a.i32(0))?;
    let off = offset_arg(a, 3)?;
    let iovs = t.mm.copy_in_iovecs(a.u64(1), a.u64(2))?;
    write_from(t, &f, &iovs, Some(off))
}

fn sys_lseek(t: &mut Task, a: &Args) -> SysResult {
    t.file(a.i32(0))?.seek(a.i64(1), a.i32(2))
}

fn sys_close(t: &mut Task, a: &Args) -> SysResult {
    let entry = lock(&t.fds).remove(a.i32(0))?;
    super::lock::closed(t, &entry.file);
    drop(entry);
    Ok(0)
}

const CLOSE_RANGE_UNSHARE: u32 = 1 << 1;
const CLOSE_RANGE_CLOEXEC: u32 = 1 << 2;

fn sys_close_range(t: &mut Task, a: &Args) -> SysResult {
    let (first, last, fl) = (a.u32(0), a.u32(1), a.u32(2));
    if fl & !(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC) != 0 || first > last {
        return Err(Errno::EINVAL);
    }
    if fl & CLOSE_RANGE_UNSHARE != 0 {
        let table = lock(&t.fds).clone();
        t.fds = std::sync::Arc::new(std::sync::Mutex::new(table));
    }
    let last = last.min(i32::MAX as u32) as i32;
    let first = first.min(i32::MAX as u32) as i32;
    let closed = {
        let mut fds = lock(&t.fds);
        let open: Vec<i32> = fds.numbers().into_iter().filter(|&fd| fd >= first && fd <= last).collect();
        let mut closed = Vec::new();
        for fd in open {
            if fl & CLOSE_RANGE_CLOEXEC != 0 {
                let _ = fds.set_cloexec(fd, true);
            } else if let Ok(e) = fds.remove(fd) {
                closed.push(e.file);
            }
        }
        closed
    };
    for f in closed {
        super::lock::closed(t, &f);
    }
    Ok(0)
}

fn nofile(t: &Task) -> u64 {
    lock(&t.tg.rlimits)[libc::RLIMIT_NOFILE as usize].0
}

fn sys_dup(t: &mut Task, a: &Args) -> SysResult {
    let limit = nofile(t);
    let mut fds = lock(&t.fds);
    let f = fds.get(a.i32(0))?;
    Ok(fds.insert(f, false, 0, limit)? as u64)
}

fn dup3(t: &Task, old: i32, new: i32, cloexec: bool) -> SysResult {
    let limit = nofile(t);
    let mut fds = lock(&t.fds);
    let f = fds.get(old)?;
    let replaced = fds.insert_at(new, f, cloexec, limit)?;
    drop(fds);
    if let Some(r) = &replaced {
        super::lock::closed(t, &r.file);
    }
    drop(replaced);
    Ok(new as u64)
}

fn sys_dup2(t: &mut Task, a: &Args) -> SysResult {
    let (old, new) = (a.i32(0), a.i32(1));
    if old == new {
        t.file(old)?;
        return Ok(new as u64);
    }
    dup3(t, old, new, false)
}

fn sys_dup3(t: &mut Task, a: &Args) -> SysResult {
    let (old, new, fl) = (a.i32(0), a.i32(1), a.u32(2));
    if old == new || fl & !flags::O_CLOEXEC != 0 {
        return Err(Errno::EINVAL);
    }
    dup3(t, old, new, fl & flags::O_CLOEXEC != 0)
}

fn sys_fcntl(t: &mut Task, a: &Args) -> SysResult {
    let fd = a.i32(0);
    match a.i32(1) {
        libc::F_DUPFD | libc::F_DUPFD_CLOEXEC => {
            let limit = nofile(t);
            let mut fds = lock(&t.fds);
            let f = fds.get(fd)?;
            let min = a.i32(2);
            if min < 0 || min as u64 >= limit {
                return Err(Errno::EINVAL);
            }
            Ok(fds.insert(f, a.i32(1) == libc::F_DUPFD_CLOEXEC, min, limit)? as u64)
        }
        libc::F_GETFD => Ok(lock(&t.fds).entry(fd)?.cloexec as u64),
        libc::F_SETFD => {
            lock(&t.fds).set_cloexec(fd, a.u64(2) & libc::FD_CLOEXEC as u64 != 0)?;
            Ok(0)
        }
        libc::F_GETFL => Ok(t.file(fd)?.flags() as u64),
        libc::F_SETFL => {
            t.file(fd)?.set_status_flags(a.u32(2));
            Ok(0)
        }
        libc::F_GETLK | libc::F_SETLK | libc::F_SETLKW | libc::F_OFD_GETLK | libc::F_OFD_SETLK | libc::F_OFD_SETLKW => {
            super::lock::fcntl_lock(t, fd, a.i32(1), a.u64(2))
        }
        libc::F_GETPIPE_SZ | libc::F_SETPIPE_SZ => {
            // CAP_SYS_RESOURCE lifts the size limit.
            let privileged = t.creds.has_cap(24);
            crate::fs::pipe::fcntl(&*t.file(fd)?, a.i32(1), a.u64(2), privileged)
        }
        _ => {
            t.file(fd)?;
            Err(Errno::EINVAL)
        }
    }
}

fn sys_ioctl(t: &mut Task, a: &Args) -> SysResult {
    let f = t.file(a.i32(0))?;
    match a.u32(1) as u64 {
        // FIOCLEX / FIONCLEX
        0x5451 => lock(&t.fds).set_cloexec(a.i32(0), true).map(|_| 0),
        0x5450 => lock(&t.fds).set_cloexec(a.i32(0), false).map(|_| 0),
        // FIONBIO
        0x5421 => {
            let on = t.mm.read_u32(a.u64(2))? != 0;
            let fl = f.flags();
            f.set_status_flags(if on { fl | flags::O_NONBLOCK } else { fl & !flags::O_NONBLOCK });
            Ok(0)
        }
        req => t.io(|ctx| f.ops().ioctl(ctx, req, a.u64(2))),
    }
}

fn sys_getdents64(t: &mut Task, a: &Args) -> SysResult {
    let f = t.file(a.i32(0))?;
    let len = (a.u32(2) as usize).min(CHUNK);
    let mut buf = vec![0u8; len];
    let n = f.getdents(&mut buf)?;
    t.mm.copy_out(a.u64(1), &buf[..n])?;
    Ok(n as u64)
}

fn sys_sendfile(t: &mut Task, a: &Args) -> SysResult {
    let out = writable(t, a.i32(0))?;
    let inp = readable(t, a.i32(1))?;
    let off_ptr = a.u64(2);
    let count = (a.u64(3).min(MAX_RW_COUNT) as usize).min(CHUNK);
    let mut at = if off_ptr != 0 {
        let o = t.mm.read_u64(off_ptr)? as i64;
        if o < 0 {
            return Err(Errno::EINVAL);
        }
        Some(o as u64)
    } else {
        None
    };
    let mut buf = vec![0u8; count];
    let n = t.io(|ctx| inp.read(ctx, &mut buf, at))?;
    let w = t.io(|ctx| out.write(ctx, &buf[..n], None))?;
    if let Some(o) = at.as_mut() {
        *o += w as u64;
        t.mm.write_u64(off_ptr, *o)?;
    } else if w < n {
        // Give back what was read but not written.
        inp.seek(-((n - w) as i64), libc::SEEK_CUR).ok();
    }
    Ok(w as u64)
}
