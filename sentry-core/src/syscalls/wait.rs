//! Waiting for children: wait4 and waitid.

use std::sync::Arc;
use std::time::Duration;

use super::{Args, Handler};
use crate::errno::{Errno, SysResult};
use crate::kernel::signals::{self, code};
use crate::kernel::waiter::{events, wait_until};
use crate::kernel::{ExitStatus, Task, ThreadGroup};
use crate::mm::lock;

pub(super) const HANDLERS: &[(i64, Handler)] = &[(libc::SYS_wait4, sys_wait4), (libc::SYS_waitid, sys_waitid)];

const WNOHANG: i32 = 1;
const WUNTRACED: i32 = 2; // WSTOPPED for waitid
const WEXITED: i32 = 4;
const WCONTINUED: i32 = 8;
const WNOWAIT: i32 = 0x0100_0000;
const WNOTHREAD: i32 = 0x2000_0000;
const WALL: i32 = 0x4000_0000;
const WCLONE: i32 = 0x8000_0000u32 as i32;

/// Which children a wait is for.
#[derive(Clone, Copy, Debug)]
enum Target {
    Pid(i32),
    Pgid(i32),
    Any,
}

/// What happened to the child that was collected.
#[derive(Clone, Copy, Debug)]
enum Event {
    Exited(ExitStatus),
    Stopped(i32),
    Continued,
}

#[derive(Clone, Copy, Debug)]
struct Found {
    pid: i32,
    uid: u32,
    event: Event,
    /// The child's (and its reaped descendants') user and system time.
    times: (Duration, Duration),
}

struct Opts {
    exited: bool,
    stopped: bool,
    continued: bool,
    nohang: bool,
    nowait: bool,
    options: i32,
}

fn matches(c: &ThreadGroup, target: Target, options: i32) -> bool {
    let who = match target {
        Target::Pid(p) => c.tgid == p,
        Target::Pgid(g) => c.pgid() == g,
        Target::Any => true,
    };
    // A "clone" child reports with a signal other than SIGCHLD.
    let clone_child = c.exit_signal != libc::SIGCHLD;
    who && (options & WALL != 0 || (options & WCLONE != 0) == clone_child)
}

/// Finds (and, unless `nowait`, collects) a child with an event; blocks
/// unless `nohang`. `Ok(None)`: nohang and nothing yet.
fn do_wait(t: &Task, target: Target, o: &Opts) -> Result<Option<Found>, Errno> {
    let attempt = || -> Result<Option<Found>, Errno> {
        let children: Vec<Arc<ThreadGroup>> =
            t.tg.children().into_iter().filter(|c| matches(c, target, o.options)).collect();
        if children.is_empty() {
            return Err(Errno::ECHILD);
        }
        for c in &children {
            let uid = c.uid.load(std::sync::atomic::Ordering::Relaxed) as u32;
            if o.exited {
                if let Some(st) = c.zombie_status() {
                    if o.nowait {
                        let times = child_times(c);
                        return Ok(Some(Found { pid: c.tgid, uid, event: Event::Exited(st), times }));
                    }
                    if c.reap() {
                        let cu = *lock(&c.usage);
                        {
                            let mut u = lock(&t.tg.usage);
                            u.children_user += cu.final_user + cu.children_user;
                            u.children_sys += cu.final_sys + cu.children_sys;
                        }
                        t.tg.remove_child(c.tgid);
                        t.kernel.pids().remove_group(c.tgid);
                        let times = child_times(c);
                        return Ok(Some(Found { pid: c.tgid, uid, event: Event::Exited(st), times }));
                    }
                    continue;
                }
            }
            if o.stopped {
                if let Some(sig) = c.take_stop_report(o.nowait) {
                    return Ok(Some(Found { pid: c.tgid, uid, event: Event::Stopped(sig), times: Default::default() }));
                }
            }
            if o.continued && c.take_continue_report(o.nowait) {
                return Ok(Some(Found { pid: c.tgid, uid, event: Event::Continued, times: Default::default() }));
            }
        }
        if o.nohang {
            return Ok(None);
        }
        Err(Errno::EAGAIN)
    };
    t.blocker(|b| wait_until(b, &[&t.tg.child_events], events::ALL, None, attempt))
}

fn child_times(c: &ThreadGroup) -> (Duration, Duration) {
    let u = *lock(&c.usage);
    (u.final_user + u.children_user, u.final_sys + u.children_sys)
}

fn status_word(e: Event) -> i32 {
    match e {
        Event::Exited(st) => st.wait_status(),
        Event::Stopped(sig) => (sig << 8) | 0x7f,
        Event::Continued => 0xffff,
    }
}

fn sys_wait4(t: &mut Task, a: &Args) -> SysResult {
    let pid = a.i32(0);
    let options = a.i32(2);
    if options & !(WNOHANG | WUNTRACED | WCONTINUED | WNOTHREAD | WALL | WCLONE) != 0 {
        return Err(Errno::EINVAL);
    }
    let target = match pid {
        -1 => Target::Any,
        0 => Target::Pgid(t.tg.pgid()),
        p if p < -1 => Target::Pgid(p.checked_neg().ok_or(Errno::ESRCH)?),
        p => Target::Pid(p),
    };
    let o = Opts {
        exited: true,
        stopped: options & WUNTRACED != 0,
        continued: options & WCONTINUED != 0,
        nohang: options & WNOHANG != 0,
        nowait: false,
        options,
    };
    let Some(found) = do_wait(t, target, &o)? else { return Ok(0) };
    if a.u64(1) != 0 {
        t.mm.write_u32(a.u64(1), status_word(found.event) as u32)?;
    }
    if a.u64(3) != 0 {
        t.mm.copy_out(a.u64(3), &super::time::rusage_bytes(found.times.0, found.times.1, 0))?;
    }
    Ok(found.pid as u64)
}

const P_ALL: i32 = 0;
const P_PID: i32 = 1;
const P_PGID: i32 = 2;

fn sys_waitid(t: &mut Task, a: &Args) -> SysResult {
    let (idtype, id, infop, options) = (a.i32(0), a.i32(1), a.u64(2), a.i32(3));
    if options & !(WNOHANG | WUNTRACED | WEXITED | WCONTINUED | WNOWAIT | WNOTHREAD | WALL | WCLONE) != 0 {
        return Err(Errno::EINVAL);
    }
    if options & (WEXITED | WUNTRACED | WCONTINUED) == 0 {
        return Err(Errno::EINVAL);
    }
    let target = match idtype {
        P_ALL => Target::Any,
        P_PID if id > 0 => Target::Pid(id),
        P_PGID if id > 0 => Target::Pgid(id),
        P_PGID if id == 0 => Target::Pgid(t.tg.pgid()),
        _ => return Err(Errno::EINVAL),
    };
    let o = Opts {
        exited: options & WEXITED != 0,
        stopped: options & WUNTRACED != 0,
        continued: options & WCONTINUED != 0,
        nohang: options & WNOHANG != 0,
        nowait: options & WNOWAIT != 0,
        options,
    };
    let found = do_wait(t, target, &o)?;
    if infop != 0 {
        let si = match found {
            None => signals::SigInfo::zeroed(),
            Some(f) => {
                let (c, status) = match f.event {
                    Event::Exited(ExitStatus::Exited(code)) => (code::CLD_EXITED, code),
                    Event::Exited(ExitStatus::Signaled { signal, core_dumped: true }) => (code::CLD_DUMPED, signal),
                    Event::Exited(ExitStatus::Signaled { signal, .. }) => (code::CLD_KILLED, signal),
                    Event::Stopped(sig) => (code::CLD_STOPPED, sig),
                    Event::Continued => (code::CLD_CONTINUED, libc::SIGCONT),
                };
                signals::info_child(libc::SIGCHLD, c, f.pid, f.uid, status)
            }
        };
        t.mm.copy_out(infop, &si.raw)?;
    }
    if a.u64(4) != 0 {
        let (u, sy) = found.map(|f| f.times).unwrap_or_default();
        t.mm.copy_out(a.u64(4), &super::time::rusage_bytes(u, sy, 0))?;
    }
    Ok(0)
}
