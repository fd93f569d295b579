//! epoll_create, epoll_create1, epoll_ctl, epoll_wait, epoll_pwait,
//! epoll_pwait2.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::pipe::install_fd;
use super::poll::{apply_sigmask, restore_sigmask};
use super::{Args, Handler};
use crate::errno::{Errno, SysResult};
use crate::fs::anon::anon_inode;
use crate::fs::epoll::{epoll_of, Epoll, EpollFile, EPOLLEXCLUSIVE, EPOLLWAKEUP};
use crate::kernel::Task;
use crate::vfs::{flags, File};

pub(super) const HANDLERS: &[(i64, Handler)] = &[
    (libc::SYS_epoll_create, sys_epoll_create),
    (libc::SYS_epoll_create1, sys_epoll_create1),
    (libc::SYS_epoll_ctl, sys_epoll_ctl),
    (libc::SYS_epoll_wait, sys_epoll_wait),
    (libc::SYS_epoll_pwait, sys_epoll_pwait),
    (libc::SYS_epoll_pwait2, sys_epoll_pwait2),
];

const EPOLL_CTL_ADD: i32 = 1;
const EPOLL_CTL_DEL: i32 = 2;
const EPOLL_CTL_MOD: i32 = 3;
/// `sizeof(struct epoll_event)` on x86-64 (packed).
const EVENT_SIZE: usize = 12;
/// Most events one wait returns (`EP_MAX_EVENTS`).
const MAX_EVENTS: i32 = i32::MAX / EVENT_SIZE as i32;

fn create(t: &Task, fl: u32) -> SysResult {
    if fl & !flags::O_CLOEXEC != 0 {
        return Err(Errno::EINVAL);
    }
    let file = File::new(None, anon_inode(), Box::new(EpollFile(Epoll::new())), flags::O_RDWR);
    install_fd(t, file, fl & flags::O_CLOEXEC != 0)
}

fn sys_epoll_create(t: &mut Task, a: &Args) -> SysResult {
    if a.i32(0) <= 0 {
        return Err(Errno::EINVAL);
    }
    create(t, 0)
}

fn sys_epoll_create1(t: &mut Task, a: &Args) -> SysResult {
    create(t, a.u32(0))
}

fn epoll_file(t: &Task, epfd: i32) -> Result<(Arc<File>, Arc<Epoll>), Errno> {
    let f = t.file(epfd)?;
    let ep = epoll_of(&f).cloned().ok_or(Errno::EINVAL)?;
    Ok((f, ep))
}

fn sys_epoll_ctl(t: &mut Task, a: &Args) -> SysResult {
    let (epfd, op, fd) = (a.i32(0), a.i32(1), a.i32(2));
    let ev = if op != EPOLL_CTL_DEL {
        let b = t.mm.copy_in_vec(a.u64(3), EVENT_SIZE)?;
        Some((
            u32::from_le_bytes(b[..4].try_into().unwrap_or([0; 4])),
            u64::from_le_bytes(b[4..].try_into().unwrap_or([0; 8])),
        ))
    } else {
        None
    };
    let (_epf, ep) = epoll_file(t, epfd)?;
    let target = t.file(fd)?;
    if fd == epfd {
        return Err(Errno::EINVAL);
    }
    if let Some((events, _)) = ev {
        // EPOLLEXCLUSIVE: only at ADD, only with these events, never on
        // an epoll (Linux's EPOLLEXCLUSIVE_OK_BITS and is_file_epoll).
        const OK_BITS: u32 = 0x001 | 0x004 | 0x008 | 0x010 | EPOLLWAKEUP | crate::fs::epoll::EPOLLET | EPOLLEXCLUSIVE;
        if events & EPOLLEXCLUSIVE != 0
            && (op == EPOLL_CTL_MOD || events & !OK_BITS != 0 || epoll_of(&target).is_some())
        {
            return Err(Errno::EINVAL);
        }
    }
    match (op, ev) {
        (EPOLL_CTL_ADD, Some((events, data))) => {
            if let Some(inner) = epoll_of(&target) {
                if ep.would_loop(inner) {
                    return Err(Errno::ELOOP);
                }
            }
            ep.add(fd, &target, events, data)?;
        }
        (EPOLL_CTL_MOD, Some((events, data))) => ep.modify(fd, &target, events, data)?,
        (EPOLL_CTL_DEL, _) => ep.delete(fd, &target)?,
        _ => return Err(Errno::EINVAL),
    }
    Ok(0)
}

fn wait(t: &mut Task, epfd: i32, addr: u64, max: i32, deadline: Option<Instant>, zero: bool) -> SysResult {
    if max <= 0 || max > MAX_EVENTS {
        return Err(Errno::EINVAL);
    }
    // The whole buffer must be writable (Linux checks it up front).
    if !t.mm.is_writable(addr, max as usize * EVENT_SIZE) {
        return Err(Errno::EFAULT);
    }
    let (_f, ep) = epoll_file(t, epfd)?;
    let got = t.io(|ctx| ep.wait(ctx, max as usize, deadline, zero));
    let got = match got {
        Err(Errno::ERESTARTSYS) => return Err(Errno::EINTR),
        r => r?,
    };
    let mut out = Vec::with_capacity(got.len() * EVENT_SIZE);
    for (ev, data) in &got {
        out.extend_from_slice(&ev.to_le_bytes());
        out.extend_from_slice(&data.to_le_bytes());
    }
    t.mm.copy_out(addr, &out)?;
    Ok(got.len() as u64)
}

/// A millisecond timeout: negative waits forever, 0 does not wait.
fn ms_deadline(ms: i32) -> (Option<Instant>, bool) {
    match ms {
        ms if ms < 0 => (None, false),
        0 => (None, true),
        ms => (Some(Instant::now() + Duration::from_millis(ms as u64)), false),
    }
}

fn sys_epoll_wait(t: &mut Task, a: &Args) -> SysResult {
    let (d, zero) = ms_deadline(a.i32(3));
    wait(t, a.i32(0), a.u64(1), a.i32(2), d, zero)
}

fn sys_epoll_pwait(t: &mut Task, a: &Args) -> SysResult {
    let (d, zero) = ms_deadline(a.i32(3));
    let old = apply_sigmask(t, a.u64(4), a.u64(5))?;
    let r = wait(t, a.i32(0), a.u64(1), a.i32(2), d, zero);
    restore_sigmask(t, old, &r);
    r
}

fn sys_epoll_pwait2(t: &mut Task, a: &Args) -> SysResult {
    let (d, zero) = if a.u64(3) == 0 {
        (None, false)
    } else {
        let ts = super::poll::read_timespec(t, a.u64(3))?;
        if ts.is_zero() {
            (None, true)
        } else {
            (Some(Instant::now() + ts), false)
        }
    };
    let old = apply_sigmask(t, a.u64(4), a.u64(5))?;
    let r = wait(t, a.i32(0), a.u64(1), a.i32(2), d, zero);
    restore_sigmask(t, old, &r);
    r
}
