//! Signal timers: alarm, setitimer/getitimer and POSIX timers
//! (timer_create, timer_settime, timer_gettime, timer_getoverrun,
//! timer_delete). See `kernel::itimer`.
//!
//! POSIX timers may also use `CLOCK_PROCESS_CPUTIME_ID`; the per-thread
//! CPU clock is refused (`EINVAL`): application CPU time is not split by
//! thread on this platform.
//!
//! `ITIMER_VIRTUAL` and `ITIMER_PROF` count the process's CPU time
//! (SIGVTALRM, SIGPROF). POSIX timers run on `CLOCK_REALTIME`,
//! `CLOCK_MONOTONIC`, `CLOCK_BOOTTIME` (and their `_ALARM` forms) and
//! the process CPU-time clock.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{Args, Handler};
use crate::errno::{Errno, SysResult};
use crate::kernel::itimer::{SignalTimer, Target};
use crate::kernel::signals::NSIG;
use crate::kernel::Task;
use crate::mm::lock;

pub(super) const HANDLERS: &[(i64, Handler)] = &[
    (libc::SYS_alarm, sys_alarm),
    (libc::SYS_setitimer, sys_setitimer),
    (libc::SYS_getitimer, sys_getitimer),
    (libc::SYS_timer_create, sys_timer_create),
    (libc::SYS_timer_settime, sys_timer_settime),
    (libc::SYS_timer_gettime, sys_timer_gettime),
    (libc::SYS_timer_getoverrun, sys_timer_getoverrun),
    (libc::SYS_timer_delete, sys_timer_delete),
];

const ITIMER_REAL: i32 = 0;
const ITIMER_VIRTUAL: i32 = 1;
const ITIMER_PROF: i32 = 2;

/// The process's `ITIMER_REAL` timer (created on first use).
fn real_timer(t: &Task) -> Arc<SignalTimer> {
    itimer(t, ITIMER_REAL)
}

/// The process's interval timer `which` (created on first use).
fn itimer(t: &Task, which: i32) -> Arc<SignalTimer> {
    let mut timers = lock(&t.tg.timers);
    let slot = match which {
        ITIMER_VIRTUAL => &mut timers.virt,
        ITIMER_PROF => &mut timers.prof,
        _ => &mut timers.real,
    };
    slot.get_or_insert_with(|| match which {
        ITIMER_VIRTUAL => SignalTimer::new_cpu(&t.kernel, &t.tg, libc::SIGVTALRM, false),
        ITIMER_PROF => SignalTimer::new_cpu(&t.kernel, &t.tg, libc::SIGPROF, true),
        _ => SignalTimer::new(&t.kernel, &t.tg, -1, libc::SIGALRM, 0, Target::Process, libc::CLOCK_MONOTONIC),
    })
    .clone()
}

fn read_timeval(t: &Task, addr: u64) -> Result<Duration, Errno> {
    let sec = t.mm.read_u64(addr)? as i64;
    let usec = t.mm.read_u64(addr + 8)? as i64;
    if sec < 0 || !(0..1_000_000).contains(&usec) {
        return Err(Errno::EINVAL);
    }
    Ok(Duration::new(sec as u64, usec as u32 * 1000))
}

fn timeval_bytes(d: Duration) -> [u8; 16] {
    // Round up to a microsecond so that an armed timer never reads 0.
    let us = d.as_nanos().div_ceil(1000);
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&((us / 1_000_000) as u64).to_le_bytes());
    b[8..].copy_from_slice(&((us % 1_000_000) as u64).to_le_bytes());
    b
}

fn check_which(which: i32) -> Result<(), Errno> {
    match which {
        ITIMER_REAL | ITIMER_VIRTUAL | ITIMER_PROF => Ok(()),
        _ => Err(Errno::EINVAL),
    }
}

fn sys_setitimer(t: &mut Task, a: &Args) -> SysResult {
    let which = a.i32(0);
    check_which(which)?;
    let (interval, value) = if a.u64(1) == 0 {
        (Duration::ZERO, Duration::ZERO)
    } else {
        (read_timeval(t, a.u64(1))?, read_timeval(t, a.u64(1) + 16)?)
    };
    let (old_value, old_interval) = itimer(t, which).set(value, interval);
    if a.u64(2) != 0 {
        let mut b = [0u8; 32];
        b[..16].copy_from_slice(&timeval_bytes(old_interval));
        b[16..].copy_from_slice(&timeval_bytes(old_value));
        t.mm.copy_out(a.u64(2), &b)?;
    }
    Ok(0)
}

fn sys_getitimer(t: &mut Task, a: &Args) -> SysResult {
    check_which(a.i32(0))?;
    let (value, interval) = itimer(t, a.i32(0)).get();
    let mut b = [0u8; 32];
    b[..16].copy_from_slice(&timeval_bytes(interval));
    b[16..].copy_from_slice(&timeval_bytes(value));
    t.mm.copy_out(a.u64(1), &b)?;
    Ok(0)
}

fn sys_alarm(t: &mut Task, a: &Args) -> SysResult {
    let (old, _) = real_timer(t).set(Duration::from_secs(a.u32(0) as u64), Duration::ZERO);
    // Whole seconds left, rounded to nearest (and at least 1 if armed).
    let mut secs = old.as_secs() + u64::from(old.subsec_nanos() >= 500_000_000);
    if secs == 0 && !old.is_zero() {
        secs = 1;
    }
    Ok(secs)
}

const SIGEV_SIGNAL: i32 = 0;
const SIGEV_NONE: i32 = 1;
const SIGEV_THREAD: i32 = 2;
const SIGEV_THREAD_ID: i32 = 4;
const TIMER_ABSTIME: i32 = 1;

/// Clocks POSIX timers may use here.
fn timer_clock(clock: i32) -> Result<(), Errno> {
    match clock {
        libc::CLOCK_REALTIME | libc::CLOCK_MONOTONIC | libc::CLOCK_BOOTTIME => Ok(()),
        libc::CLOCK_REALTIME_ALARM | libc::CLOCK_BOOTTIME_ALARM => Ok(()),
        libc::CLOCK_PROCESS_CPUTIME_ID => Ok(()),
        libc::CLOCK_THREAD_CPUTIME_ID => {
            // Application time is not split per thread on this platform.
            tracing::info!(clock, "thread CPU-time POSIX timers are not offered");
            Err(Errno::EINVAL)
        }
        _ => Err(Errno::EINVAL),
    }
}

/// Resolves a dynamic CPU clock id (`MAKE_PROCESS_CPUCLOCK(pid, type)`,
/// what glibc passes for `CLOCK_PROCESS_CPUTIME_ID`) naming the caller's
/// own process to `CLOCK_PROCESS_CPUTIME_ID`.
fn resolve_clock(t: &Task, clock: i32) -> Result<i32, Errno> {
    if clock >= 0 {
        return Ok(clock);
    }
    let pid = !(clock >> 3);
    let per_thread = clock & 4 != 0;
    if per_thread || clock & 3 == 3 {
        return Err(Errno::EINVAL);
    }
    if pid != 0 && pid != t.tg.tgid {
        // Other processes' clocks are not offered for timers.
        return Err(if t.kernel.pids().group(pid).is_some() { Errno::EPERM } else { Errno::EINVAL });
    }
    Ok(libc::CLOCK_PROCESS_CPUTIME_ID)
}

fn sys_timer_create(t: &mut Task, a: &Args) -> SysResult {
    let clock = resolve_clock(t, a.i32(0))?;
    timer_clock(clock)?;
    // struct sigevent: sigev_value (8), sigev_signo (4), sigev_notify (4),
    // then sigev_notify_thread_id (4) for SIGEV_THREAD_ID.
    let (value, signo, notify, tid) = if a.u64(1) == 0 {
        (0, libc::SIGALRM, SIGEV_SIGNAL, 0)
    } else {
        let b = t.mm.copy_in_vec(a.u64(1), 24)?;
        let i = |o: usize| i32::from_le_bytes(b[o..o + 4].try_into().unwrap_or([0; 4]));
        (u64::from_le_bytes(b[..8].try_into().unwrap_or([0; 8])), i(8), i(12), i(16))
    };
    let target = match notify {
        SIGEV_NONE => Target::None,
        // SIGEV_THREAD is a libc convention built on SIGEV_SIGNAL.
        SIGEV_SIGNAL | SIGEV_THREAD => Target::Process,
        SIGEV_THREAD_ID => {
            let (task, tg) = t.kernel.pids().task(tid).ok_or(Errno::EINVAL)?;
            if !Arc::ptr_eq(&tg, &t.tg) {
                return Err(Errno::EINVAL);
            }
            Target::Thread(Arc::downgrade(&task))
        }
        _ => return Err(Errno::EINVAL),
    };
    if !matches!(target, Target::None) && !(1..=NSIG as i32).contains(&signo) {
        return Err(Errno::EINVAL);
    }
    let id = {
        let mut timers = lock(&t.tg.timers);
        let id = timers.free_id()?;
        let timer = if clock == libc::CLOCK_PROCESS_CPUTIME_ID {
            SignalTimer::new_cpu_posix(&t.kernel, &t.tg, id, signo, value, target, true)
        } else {
            SignalTimer::new(&t.kernel, &t.tg, id, signo, value, target, clock)
        };
        timers.posix.insert(id, timer);
        id
    };
    if let Err(e) = t.mm.write_u32(a.u64(2), id as u32) {
        lock(&t.tg.timers).posix.remove(&id);
        return Err(e);
    }
    Ok(0)
}

fn posix_timer(t: &Task, id: i32) -> Result<Arc<SignalTimer>, Errno> {
    lock(&t.tg.timers).posix.get(&id).cloned().ok_or(Errno::EINVAL)
}

fn write_itimerspec(t: &Task, addr: u64, (value, interval): (Duration, Duration)) -> Result<(), Errno> {
    let mut b = [0u8; 32];
    b[..8].copy_from_slice(&interval.as_secs().to_le_bytes());
    b[8..16].copy_from_slice(&(interval.subsec_nanos() as u64).to_le_bytes());
    b[16..24].copy_from_slice(&value.as_secs().to_le_bytes());
    b[24..].copy_from_slice(&(value.subsec_nanos() as u64).to_le_bytes());
    t.mm.copy_out(addr, &b)
}

fn sys_timer_settime(t: &mut Task, a: &Args) -> SysResult {
    let timer = posix_timer(t, a.i32(0))?;
    let interval = super::poll::read_timespec(t, a.u64(2))?;
    let mut value = super::poll::read_timespec(t, a.u64(2) + 16)?;
    if a.i32(1) & TIMER_ABSTIME != 0 && !value.is_zero() {
        // An absolute time on the timer's clock, as a delay from now.
        let now = match timer.clock {
            libc::CLOCK_REALTIME | libc::CLOCK_REALTIME_ALARM => {
                SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
            }
            libc::CLOCK_PROCESS_CPUTIME_ID => {
                let (user, sys) = crate::kernel::usage::group_times(&t.tg, &t.mm);
                user + sys
            }
            _ => super::time::monotonic_now(),
        };
        value = value.saturating_sub(now).max(Duration::from_nanos(1));
    }
    let old = timer.set(value, interval);
    if a.u64(3) != 0 {
        write_itimerspec(t, a.u64(3), old)?;
    }
    Ok(0)
}

fn sys_timer_gettime(t: &mut Task, a: &Args) -> SysResult {
    let timer = posix_timer(t, a.i32(0))?;
    write_itimerspec(t, a.u64(1), timer.get())?;
    Ok(0)
}

fn sys_timer_getoverrun(t: &mut Task, a: &Args) -> SysResult {
    Ok(posix_timer(t, a.i32(0))?.overrun() as u64)
}

fn sys_timer_delete(t: &mut Task, a: &Args) -> SysResult {
    let timer = lock(&t.tg.timers).posix.remove(&a.i32(0)).ok_or(Errno::EINVAL)?;
    timer.cancel();
    Ok(0)
}
