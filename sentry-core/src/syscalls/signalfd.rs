//! signalfd and signalfd4.

use super::pipe::install_fd;
use super::{Args, Handler};
use crate::errno::{Errno, SysResult};
use crate::fs::anon::anon_inode;
use crate::fs::signalfd::SignalFd;
use crate::kernel::Task;
use crate::vfs::{flags, File};

pub(super) const HANDLERS: &[(i64, Handler)] =
    &[(libc::SYS_signalfd, sys_signalfd), (libc::SYS_signalfd4, sys_signalfd4)];

fn signalfd(t: &Task, fd: i32, mask_addr: u64, size: u64, fl: u32) -> SysResult {
    if fl & !(flags::O_CLOEXEC | flags::O_NONBLOCK) != 0 || size != 8 {
        return Err(Errno::EINVAL);
    }
    let mask = t.mm.read_u64(mask_addr)?;
    if fd != -1 {
        let f = t.file(fd)?;
        let sfd = f.ops().as_any().and_then(|a| a.downcast_ref::<SignalFd>()).ok_or(Errno::EINVAL)?;
        sfd.set_mask(mask);
        return Ok(fd as u64);
    }
    let ops = SignalFd::new(mask, t.shared.clone(), t.tg.clone());
    let file = File::new(None, anon_inode(), Box::new(ops), flags::O_RDONLY | (fl & flags::O_NONBLOCK));
    install_fd(t, file, fl & flags::O_CLOEXEC != 0)
}

fn sys_signalfd(t: &mut Task, a: &Args) -> SysResult {
    signalfd(t, a.i32(0), a.u64(1), a.u64(2), 0)
}

fn sys_signalfd4(t: &mut Task, a: &Args) -> SysResult {
    signalfd(t, a.i32(0), a.u64(1), a.u64(2), a.u32(3))
}
