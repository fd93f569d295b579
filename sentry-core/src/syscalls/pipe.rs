//! `pipe`, `pipe2`, and installing new file descriptions (shared with the
//! other families that create descriptors out of nothing: eventfd, epoll,
//! timerfd).

use std::sync::Arc;

use super::{Args, Handler};
use crate::errno::{Errno, SysResult};
use crate::fs::pipe::new_pipe;
use crate::kernel::Task;
use crate::mm::lock;
use crate::vfs::{flags, Creds, File};

pub(super) const HANDLERS: &[(i64, Handler)] = &[(libc::SYS_pipe, sys_pipe), (libc::SYS_pipe2, sys_pipe2)];

/// `RLIMIT_NOFILE` (soft): descriptors must be below it.
pub(super) fn nofile(t: &Task) -> u64 {
    lock(&t.tg.rlimits)[libc::RLIMIT_NOFILE as usize].0
}

/// Installs `file` at the lowest free descriptor.
pub(super) fn install_fd(t: &Task, file: File, cloexec: bool) -> SysResult {
    let limit = nofile(t);
    Ok(lock(&t.fds).insert(Arc::new(file), cloexec, 0, limit)? as u64)
}

fn pipe2(t: &Task, addr: u64, fl: u32) -> SysResult {
    if fl & !(flags::O_CLOEXEC | flags::O_NONBLOCK | flags::O_DIRECT) != 0 {
        return Err(Errno::EINVAL);
    }
    let (r, w) = new_pipe(Creds { uid: t.creds.euid, gid: t.creds.egid }, fl)?;
    let cloexec = fl & flags::O_CLOEXEC != 0;
    let limit = nofile(t);
    let mut fds = lock(&t.fds);
    let rfd = fds.insert(Arc::new(r), cloexec, 0, limit)?;
    let wfd = match fds.insert(Arc::new(w), cloexec, 0, limit) {
        Ok(fd) => fd,
        Err(e) => {
            let undo = fds.remove(rfd);
            drop(fds);
            drop(undo);
            return Err(e);
        }
    };
    drop(fds);
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&rfd.to_le_bytes());
    out[4..].copy_from_slice(&wfd.to_le_bytes());
    if let Err(e) = t.mm.copy_out(addr, &out) {
        // Linux installs the descriptors only once the copy succeeded.
        let mut fds = lock(&t.fds);
        let undo = (fds.remove(rfd), fds.remove(wfd));
        drop(fds);
        drop(undo);
        return Err(e);
    }
    Ok(0)
}

fn sys_pipe(t: &mut Task, a: &Args) -> SysResult {
    pipe2(t, a.u64(0), 0)
}

fn sys_pipe2(t: &mut Task, a: &Args) -> SysResult {
    pipe2(t, a.u64(0), a.u32(1))
}
