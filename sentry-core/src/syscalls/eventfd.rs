//! eventfd and eventfd2.

use super::pipe::install_fd;
use super::{Args, Handler};
use crate::errno::{Errno, SysResult};
use crate::fs::anon::anon_inode;
use crate::fs::eventfd::{EventFd, EFD_SEMAPHORE};
use crate::kernel::Task;
use crate::vfs::{flags, File};

pub(super) const HANDLERS: &[(i64, Handler)] = &[(libc::SYS_eventfd, sys_eventfd), (libc::SYS_eventfd2, sys_eventfd2)];

fn create(t: &Task, initval: u32, fl: u32) -> SysResult {
    if fl & !(EFD_SEMAPHORE | flags::O_CLOEXEC | flags::O_NONBLOCK) != 0 {
        return Err(Errno::EINVAL);
    }
    let ops = EventFd::new(initval as u64, fl & EFD_SEMAPHORE != 0);
    let file = File::new(None, anon_inode(), Box::new(ops), flags::O_RDWR | (fl & flags::O_NONBLOCK));
    install_fd(t, file, fl & flags::O_CLOEXEC != 0)
}

fn sys_eventfd(t: &mut Task, a: &Args) -> SysResult {
    create(t, a.u32(0), 0)
}

fn sys_eventfd2(t: &mut Task, a: &Args) -> SysResult {
    create(t, a.u32(0), a.u32(1))
}
