//! Clocks and sleeping.

use std::time::{Duration, Instant};

use super::{Args, Handler};
use crate::errno::{Errno, SysResult};
use crate::kernel::Task;

pub(super) const HANDLERS: &[(i64, Handler)] = &[
    (libc::SYS_clock_gettime, sys_clock_gettime),
    (libc::SYS_clock_getres, sys_clock_getres),
    (libc::SYS_gettimeofday, sys_gettimeofday),
    (libc::SYS_time, sys_time),
    (libc::SYS_nanosleep, sys_nanosleep),
    (libc::SYS_clock_nanosleep, sys_clock_nanosleep),
    (libc::SYS_getrusage, sys_getrusage),
    (libc::SYS_times, sys_times),
];

/// Reads a host clock (the Sentry's own time source).
fn host_clock(id: libc::clockid_t) -> Result<(i64, i64), Errno> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec.
    if unsafe { libc::clock_gettime(id, &mut ts) } < 0 {
        return Err(Errno::last_host());
    }
    Ok((ts.tv_sec, ts.tv_nsec))
}

/// CPU time the application has used: the host CPU clock of the process
/// its code runs in (on ptrace, the address space's stub process, which
/// runs nothing but application code). Thread clocks report the process's
/// time until there are several threads per address space.
fn app_cpu_time(t: &Task) -> Result<(i64, i64), Errno> {
    let d = crate::kernel::usage::user_time(&t.mm)?;
    Ok((d.as_secs() as i64, d.subsec_nanos() as i64))
}

/// The application's clocks: wall and monotonic clocks come from the host,
/// CPU-time clocks from [`app_cpu_time`].
fn read_clock_for(t: &Task, id: i32) -> Result<(i64, i64), Errno> {
    match id {
        libc::CLOCK_PROCESS_CPUTIME_ID | libc::CLOCK_THREAD_CPUTIME_ID => app_cpu_time(t),
        _ => read_clock(id),
    }
}

/// Wall and monotonic clocks.
pub(super) fn read_clock(id: i32) -> Result<(i64, i64), Errno> {
    match id {
        libc::CLOCK_REALTIME | libc::CLOCK_REALTIME_COARSE => host_clock(libc::CLOCK_REALTIME),
        libc::CLOCK_MONOTONIC | libc::CLOCK_MONOTONIC_COARSE | libc::CLOCK_MONOTONIC_RAW => {
            host_clock(libc::CLOCK_MONOTONIC)
        }
        libc::CLOCK_BOOTTIME => host_clock(libc::CLOCK_BOOTTIME),
        _ => Err(Errno::EINVAL),
    }
}

fn put_timespec(t: &Task, addr: u64, (sec, nsec): (i64, i64)) -> Result<(), Errno> {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&sec.to_le_bytes());
    b[8..].copy_from_slice(&nsec.to_le_bytes());
    t.mm.copy_out(addr, &b)
}

pub(super) fn read_timespec(t: &Task, addr: u64) -> Result<Duration, Errno> {
    let sec = t.mm.read_u64(addr)? as i64;
    let nsec = t.mm.read_u64(addr + 8)? as i64;
    if sec < 0 || !(0..1_000_000_000).contains(&nsec) {
        return Err(Errno::EINVAL);
    }
    Ok(Duration::new(sec as u64, nsec as u32))
}

fn sys_clock_gettime(t: &mut Task, a: &Args) -> SysResult {
    let v = read_clock_for(t, a.i32(0))?;
    put_timespec(t, a.u64(1), v)?;
    Ok(0)
}

fn sys_clock_getres(t: &mut Task, a: &Args) -> SysResult {
    read_clock_for(t, a.i32(0))?;
    if a.u64(1) != 0 {
        let res = match a.i32(0) {
            libc::CLOCK_REALTIME_COARSE | libc::CLOCK_MONOTONIC_COARSE => 4_000_000,
            _ => 1,
        };
        put_timespec(t, a.u64(1), (0, res))?;
    }
    Ok(0)
}

fn sys_gettimeofday(t: &mut Task, a: &Args) -> SysResult {
    if a.u64(0) != 0 {
        let (sec, nsec) = read_clock(libc::CLOCK_REALTIME)?;
        put_timespec(t, a.u64(0), (sec, nsec / 1000))?;
    }
    if a.u64(1) != 0 {
        // struct timezone: UTC.
        t.mm.copy_out(a.u64(1), &[0u8; 8])?;
    }
    Ok(0)
}

fn sys_time(t: &mut Task, a: &Args) -> SysResult {
    let (sec, _) = read_clock(libc::CLOCK_REALTIME)?;
    if a.u64(0) != 0 {
        t.mm.write_u64(a.u64(0), sec as u64)?;
    }
    Ok(sec as u64)
}

/// `CLOCK_MONOTONIC` now, as the application reads it.
pub fn monotonic_now() -> Duration {
    let (sec, nsec) = read_clock(libc::CLOCK_MONOTONIC).unwrap_or((0, 0));
    Duration::new(sec.max(0) as u64, nsec.clamp(0, 999_999_999) as u32)
}

/// Sleeps for `d`; on interruption writes the remaining time to `rem`.
fn sleep(t: &Task, d: Duration, rem: u64) -> SysResult {
    let start = Instant::now();
    let deadline = start.checked_add(d).unwrap_or(start + Duration::from_secs(1 << 32));
    match t.sleep_until(deadline) {
        Ok(()) => Ok(0),
        Err(e) => {
            if rem != 0 {
                let left = deadline.saturating_duration_since(Instant::now());
                put_timespec(t, rem, (left.as_secs() as i64, left.subsec_nanos() as i64))?;
            }
            Err(e)
        }
    }
}

fn sys_nanosleep(t: &mut Task, a: &Args) -> SysResult {
    let d = read_timespec(t, a.u64(0))?;
    sleep(t, d, a.u64(1))
}

const TIMER_ABSTIME: i32 = 1;

fn sys_clock_nanosleep(t: &mut Task, a: &Args) -> SysResult {
    let clock = a.i32(0);
    if matches!(clock, libc::CLOCK_PROCESS_CPUTIME_ID | libc::CLOCK_THREAD_CPUTIME_ID) {
        return Err(Errno::EINVAL);
    }
    read_clock(clock)?;
    let req = read_timespec(t, a.u64(2))?;
    let d = if a.i32(1) & TIMER_ABSTIME != 0 {
        let (sec, nsec) = read_clock(clock)?;
        let now = Duration::new(sec.max(0) as u64, nsec as u32);
        req.saturating_sub(now)
    } else {
        req
    };
    let rem = if a.i32(1) & TIMER_ABSTIME != 0 { 0 } else { a.u64(3) };
    sleep(t, d, rem)
}

const RUSAGE_SELF: i32 = 0;
const RUSAGE_CHILDREN: i32 = -1;
const RUSAGE_THREAD: i32 = 1;

/// A `struct rusage` (144 bytes) with user and system time; the other
/// fields (page faults, context switches...) are not accounted and read 0,
/// except `ru_maxrss`, from the pages the process holds.
pub fn rusage_bytes(user: Duration, sys: Duration, maxrss_kb: u64) -> [u8; 144] {
    let mut b = [0u8; 144];
    let tv = |d: Duration| ((d.as_secs()).to_le_bytes(), (d.subsec_micros() as u64).to_le_bytes());
    let (us, uu) = tv(user);
    let (ss, su) = tv(sys);
    b[0..8].copy_from_slice(&us);
    b[8..16].copy_from_slice(&uu);
    b[16..24].copy_from_slice(&ss);
    b[24..32].copy_from_slice(&su);
    b[32..40].copy_from_slice(&maxrss_kb.to_le_bytes());
    b
}

fn sys_getrusage(t: &mut Task, a: &Args) -> SysResult {
    use crate::kernel::usage;
    let (user, sys, rss) = match a.i32(0) {
        RUSAGE_SELF => {
            let (u, s) = usage::group_times(&t.tg, &t.mm);
            (u, s, t.mm.resident_pages() as u64 * 4)
        }
        RUSAGE_THREAD => {
            // Application time is not split per thread on this platform.
            let (u, _) = usage::group_times(&t.tg, &t.mm);
            (u, usage::sys_time(&t.shared), t.mm.resident_pages() as u64 * 4)
        }
        RUSAGE_CHILDREN => {
            let u = *crate::mm::lock(&t.tg.usage);
            (u.children_user, u.children_sys, 0)
        }
        _ => return Err(Errno::EINVAL),
    };
    t.mm.copy_out(a.u64(1), &rusage_bytes(user, sys, rss))?;
    Ok(0)
}

fn ticks(d: Duration) -> u64 {
    (d.as_nanos() / (1_000_000_000 / crate::arch::CLOCK_TICKS as u128)) as u64
}

fn sys_times(t: &mut Task, a: &Args) -> SysResult {
    use crate::kernel::usage;
    if a.u64(0) != 0 {
        let (u, s) = usage::group_times(&t.tg, &t.mm);
        let c = *crate::mm::lock(&t.tg.usage);
        let mut b = [0u8; 32];
        for (i, d) in [u, s, c.children_user, c.children_sys].into_iter().enumerate() {
            b[i * 8..i * 8 + 8].copy_from_slice(&ticks(d).to_le_bytes());
        }
        t.mm.copy_out(a.u64(0), &b)?;
    }
    // Clock ticks since boot (an arbitrary point, as on Linux).
    Ok(ticks(t.kernel.inner.boot.elapsed()))
}
