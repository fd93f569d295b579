//! CPU time accounting: user time is what the application's code used on
//! the platform, system time what the Sentry spent serving it.
//!
//! On ptrace, application code of one address space runs in one host
//! process (the address space's stub), so its host CPU clock is the
//! process's user time. Each task is served by one Sentry host thread,
//! whose thread CPU clock is that task's system time. A group keeps the
//! system time of its exited threads, and when it ends its final totals,
//! which its parent adds to its children's totals when it reaps it.

use std::time::Duration;

use super::thread_group::{TaskShared, ThreadGroup};
use crate::errno::Errno;
use crate::mm::{lock, MM};

/// `CPUCLOCK_SCHED`.
const CPUCLOCK_SCHED: i32 = 2;
/// `CPUCLOCK_PERTHREAD_MASK`.
const CPUCLOCK_PERTHREAD: i32 = 4;

/// Accumulated times of a group.
#[derive(Clone, Copy, Debug, Default)]
pub struct Usage {
    /// System time of threads that have exited.
    pub exited_sys: Duration,
    /// Final user and system time, once the group has ended.
    pub final_user: Duration,
    pub final_sys: Duration,
    /// Reaped children's (and their descendants') times.
    pub children_user: Duration,
    pub children_sys: Duration,
}

fn clock(id: libc::clockid_t) -> Result<Duration, Errno> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec.
    if unsafe { libc::clock_gettime(id, &mut ts) } < 0 {
        return Err(Errno::last_host());
    }
    Ok(Duration::new(ts.tv_sec.max(0) as u64, ts.tv_nsec.clamp(0, 999_999_999) as u32))
}

/// CPU time the application code of `mm` has used.
pub fn user_time(mm: &MM) -> Result<Duration, Errno> {
    let space = mm.address_space();
    let stub = space.as_any().downcast_ref::<platforms::ptrace::PtraceAddressSpace>().ok_or(Errno::EINVAL)?;
    clock((!stub.stub_pid() << 3) | CPUCLOCK_SCHED)
}

/// CPU time the Sentry thread serving `t` has used.
pub fn sys_time(t: &TaskShared) -> Duration {
    let tid = t.host_tid();
    if tid == 0 {
        return Duration::ZERO;
    }
    clock((!tid << 3) | CPUCLOCK_PERTHREAD | CPUCLOCK_SCHED).unwrap_or_default()
}

/// A running group's (user, system) time, `mm` being its memory.
pub fn group_times(tg: &ThreadGroup, mm: &MM) -> (Duration, Duration) {
    let u = lock(&tg.usage);
    if tg.zombie_status().is_some() {
        return (u.final_user, u.final_sys);
    }
    let sys = u.exited_sys + tg.tasks().iter().map(|t| sys_time(t)).sum::<Duration>();
    (user_time(mm).unwrap_or_default(), sys)
}
