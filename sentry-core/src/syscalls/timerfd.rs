//! timerfd_create, timerfd_settime, timerfd_gettime.

use std::sync::Arc;

use super::pipe::install_fd;
use super::{Args, Handler};
use crate::errno::{Errno, SysResult};
use crate::fs::anon::anon_inode;
use crate::fs::timerfd::{check_clock, join_ns, split_ns, TimerFd, TimerFdFile};
use crate::kernel::Task;
use crate::vfs::{flags, File};

pub(super) const HANDLERS: &[(i64, Handler)] = &[
    (libc::SYS_timerfd_create, sys_timerfd_create),
    (libc::SYS_timerfd_settime, sys_timerfd_settime),
    (libc::SYS_timerfd_gettime, sys_timerfd_gettime),
];

const TFD_TIMER_ABSTIME: u32 = 1;
const TFD_TIMER_CANCEL_ON_SET: u32 = 2;

fn sys_timerfd_create(t: &mut Task, a: &Args) -> SysResult {
    let (clock, fl) = (a.i32(0), a.u32(1));
    if fl & !(flags::O_CLOEXEC | flags::O_NONBLOCK) != 0 {
        return Err(Errno::EINVAL);
    }
    check_clock(clock)?;
    let ops = TimerFdFile(TimerFd::new(clock));
    let file = File::new(None, anon_inode(), Box::new(ops), flags::O_RDWR | (fl & flags::O_NONBLOCK));
    install_fd(t, file, fl & flags::O_CLOEXEC != 0)
}

fn timer_of(t: &Task, fd: i32) -> Result<(Arc<File>, Arc<TimerFd>), Errno> {
    let file = t.file(fd)?;
    let timer = file.ops().as_any().and_then(|a| a.downcast_ref::<TimerFdFile>()).map(|f| f.0.clone());
    let timer = timer.ok_or(Errno::EINVAL)?;
    Ok((file, timer))
}

/// Reads a `struct itimerspec` as (value, interval) nanoseconds.
fn read_itimerspec(t: &Task, addr: u64) -> Result<(i128, i128), Errno> {
    let b = t.mm.copy_in_vec(addr, 32)?;
    let w = |i: usize| i64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
    let (isec, insec, vsec, vnsec) = (w(0), w(1), w(2), w(3));
    for (s, n) in [(isec, insec), (vsec, vnsec)] {
        if s < 0 || !(0..1_000_000_000).contains(&n) {
            return Err(Errno::EINVAL);
        }
    }
    Ok((join_ns(vsec, vnsec), join_ns(isec, insec)))
}

fn write_itimerspec(t: &Task, addr: u64, (value, interval): (i128, i128)) -> Result<(), Errno> {
    let (is, ins) = split_ns(interval);
    let (vs, vns) = split_ns(value);
    let mut b = [0u8; 32];
    for (i, v) in [is, ins, vs, vns].iter().enumerate() {
        b[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
    }
    t.mm.copy_out(addr, &b)
}

fn sys_timerfd_settime(t: &mut Task, a: &Args) -> SysResult {
    let fl = a.u32(1);
    if fl & !(TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET) != 0 {
        return Err(Errno::EINVAL);
    }
    let (_file, timer) = timer_of(t, a.i32(0))?;
    let (value, interval) = read_itimerspec(t, a.u64(2))?;
    let old = timer.set(fl & TFD_TIMER_ABSTIME != 0, value, interval);
    if a.u64(3) != 0 {
        write_itimerspec(t, a.u64(3), old)?;
    }
    Ok(0)
}

fn sys_timerfd_gettime(t: &mut Task, a: &Args) -> SysResult {
    let (_file, timer) = timer_of(t, a.i32(0))?;
    write_itimerspec(t, a.u64(1), timer.get())?;
    Ok(0)
}
