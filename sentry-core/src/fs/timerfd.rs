//! timerfd: a timer whose expirations are read from a file.
//!
//! No thread per timer: the state is the next expiry and the interval in
//! the timer's clock, and expirations are counted lazily whenever the timer
//! is looked at (`read`, readiness, `timerfd_gettime`): at time `now` past
//! `next`, a periodic timer has expired `1 + (now - next) / interval` more
//! times. Blocking reads and `poll`/`epoll` need to be woken at expiry: the
//! timer keeps one entry in the [kernel timer service](crate::kernel::timer)
//! for its next expiry whenever it is armed and someone looked at it since
//! the last one fired (every waiter looks after registering), and the
//! service's callback notifies the wait queue. Periodic timers watched by
//! someone (a non-empty queue: an epoll) re-arm the service at each expiry
//! so that edge-triggered watchers see every one.
//!
//! Lock order: the timer's state lock, then the timer service's.

use std::any::Any;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::errno::Errno;
use crate::kernel::timer::{self, Expire, TimerHandle};
use crate::kernel::waiter::{events, WaitQueue};
use crate::mm::lock;
use crate::vfs::{FileOps, IoCtx};

/// `TFD_TIMER_ABSTIME`.
pub const TFD_TIMER_ABSTIME: i32 = 1;
/// `TFD_TIMER_CANCEL_ON_SET` (accepted; clock changes are not reported).
pub const TFD_TIMER_CANCEL_ON_SET: i32 = 2;

const CLOCK_REALTIME_ALARM: i32 = 8;
const CLOCK_BOOTTIME_ALARM: i32 = 9;

const NSEC: i128 = 1_000_000_000;

/// Checks a `timerfd_create` clock: `EINVAL` for unknown ones, `EPERM` for
/// the alarm clocks (they need `CAP_WAKE_ALARM`).
pub fn check_clock(clock: i32) -> Result<(), Errno> {
    match clock {
        libc::CLOCK_REALTIME | libc::CLOCK_MONOTONIC | libc::CLOCK_BOOTTIME => Ok(()),
        CLOCK_REALTIME_ALARM | CLOCK_BOOTTIME_ALARM => Err(Errno::EPERM),
        _ => Err(Errno::EINVAL),
    }
}

/// The current time of `clock` in nanoseconds.
fn clock_now(clock: i32) -> i128 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec.
    if unsafe { libc::clock_gettime(clock, &mut ts) } < 0 {
        return 0;
    }
    ts.tv_sec as i128 * NSEC + ts.tv_nsec as i128
}

/// A time in nanoseconds as `(seconds, nanoseconds)`.
pub fn split_ns(ns: i128) -> (i64, i64) {
    let ns = ns.max(0);
    (i64::try_from(ns / NSEC).unwrap_or(i64::MAX), (ns % NSEC) as i64)
}

/// `(seconds, nanoseconds)` as nanoseconds.
pub fn join_ns(sec: i64, nsec: i64) -> i128 {
    sec as i128 * NSEC + nsec as i128
}

struct State {
    /// The next expiry in the clock's time; `None`: disarmed.
    next: Option<i128>,
    /// Period in nanoseconds; 0: one-shot.
    interval: i128,
    /// Expirations not yet read.
    ticks: u64,
    /// The pending timer-service entry.
    scheduled: Option<TimerHandle>,
}

/// A timer.
pub struct TimerFd {
    me: Weak<TimerFd>,
    clock: i32,
    state: Mutex<State>,
    queue: WaitQueue,
}

impl TimerFd {
    /// A disarmed timer on `clock` (checked with [`check_clock`]).
    pub fn new(clock: i32) -> Arc<TimerFd> {
        Arc::new_cyclic(|me| TimerFd {
            me: me.clone(),
            clock,
            state: Mutex::new(State { next: None, interval: 0, ticks: 0, scheduled: None }),
            queue: WaitQueue::new(),
        })
    }

    /// Counts the expirations up to `now`.
    fn update(s: &mut State, now: i128) {
        let Some(next) = s.next else { return };
        if now < next {
            return;
        }
        if s.interval > 0 {
            let k = (now - next) / s.interval + 1;
            s.ticks = s.ticks.saturating_add(u64::try_from(k).unwrap_or(u64::MAX));
            s.next = next.checked_add(k.saturating_mul(s.interval));
        } else {
            s.ticks = s.ticks.saturating_add(1);
            s.next = None;
        }
    }

    /// Makes sure the timer service calls back at the next expiry.
    fn ensure_scheduled(&self, s: &mut State, now: i128) {
        if s.scheduled.is_some() {
            return;
        }
        let Some(next) = s.next else { return };
        let wait = Duration::from_nanos(u64::try_from((next - now).max(0)).unwrap_or(u64::MAX));
        // A deadline beyond what an Instant can hold never comes.
        let Some(deadline) = Instant::now().checked_add(wait) else { return };
        let me: Weak<dyn Expire> = self.me.clone();
        match timer::schedule(deadline, me) {
            Ok(h) => s.scheduled = Some(h),
            Err(e) => tracing::error!(error = %e, "timerfd: cannot schedule a wake-up"),
        }
    }

    fn current(s: &State, now: i128) -> (i128, i128) {
        (s.next.map(|n| (n - now).max(0)).unwrap_or(0), s.interval)
    }

    /// `timerfd_settime`: arms the timer to expire at `value` (absolute in
    /// the timer's clock if `abs`, else relative; 0 disarms) and then every
    /// `interval` ns. Returns the previous setting as [`get`](Self::get).
    pub fn set(&self, abs: bool, value: i128, interval: i128) -> (i128, i128) {
        let mut s = lock(&self.state);
        let now = clock_now(self.clock);
        Self::update(&mut s, now);
        let old = Self::current(&s, now);
        if let Some(h) = s.scheduled.take() {
            timer::cancel(h);
        }
        s.ticks = 0;
        s.interval = interval;
        s.next = match value {
            0 => None,
            v if abs => Some(v),
            v => Some(now + v),
        };
        self.ensure_scheduled(&mut s, now);
        old
    }

    /// `timerfd_gettime`: nanoseconds until the next expiry (0 if
    /// disarmed) and the interval.
    pub fn get(&self) -> (i128, i128) {
        let mut s = lock(&self.state);
        let now = clock_now(self.clock);
        Self::update(&mut s, now);
        Self::current(&s, now)
    }
}

impl Expire for TimerFd {
    fn expire(&self) {
        let mut s = lock(&self.state);
        s.scheduled = None;
        let now = clock_now(self.clock);
        Self::update(&mut s, now);
        let fired = s.ticks > 0;
        // Early (clock skew): try again. Periodic with watchers: next one.
        if !fired || (s.interval > 0 && !self.queue.is_empty()) {
            self.ensure_scheduled(&mut s, now);
        }
        drop(s);
        if fired {
            self.queue.notify(events::READABLE);
        }
    }
}

/// The file operations of a timerfd.
pub struct TimerFdFile(pub Arc<TimerFd>);

impl Drop for TimerFdFile {
    fn drop(&mut self) {
        if let Some(h) = lock(&self.0.state).scheduled.take() {
            timer::cancel(h);
        }
    }
}

impl FileOps for TimerFdFile {
    fn read(&self, ctx: &IoCtx, _offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        if buf.len() < 8 {
            return Err(Errno::EINVAL);
        }
        let t = &self.0;
        let ticks = ctx.block(&[&t.queue], events::READABLE, || {
            let mut s = lock(&t.state);
            let now = clock_now(t.clock);
            TimerFd::update(&mut s, now);
            let ticks = std::mem::take(&mut s.ticks);
            t.ensure_scheduled(&mut s, now);
            if ticks > 0 {
                Ok(ticks)
            } else {
                Err(Errno::EAGAIN)
            }
        })?;
        buf[..8].copy_from_slice(&ticks.to_ne_bytes());
        Ok(8)
    }

    /// Timers cannot be written (`EINVAL`, as a file without `write`).
    fn write(&self, _ctx: &IoCtx, _offset: u64, _buf: &[u8]) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }

    fn readiness(&self, mask: u32) -> u32 {
        let t = &self.0;
        let mut s = lock(&t.state);
        let now = clock_now(t.clock);
        TimerFd::update(&mut s, now);
        t.ensure_scheduled(&mut s, now);
        if s.ticks > 0 {
            events::READABLE & mask
        } else {
            0
        }
    }

    fn noop_seek(&self) -> bool {
        true
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.0.queue)
    }

    fn as_any(&self) -> Option<&dyn Any> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::waiter::Waker;

    const MS: i128 = 1_000_000;

    #[test]
    fn expirations_are_counted_lazily() {
        let t = TimerFd::new(libc::CLOCK_MONOTONIC);
        let f = TimerFdFile(t.clone());
        let ctx = IoCtx::internal();
        let mut b = [0u8; 8];
        assert_eq!(f.read(&ctx, 0, &mut b), Err(Errno::EAGAIN));
        // Absolute, one second ago, every 100 ms: 11 expirations already.
        let now = clock_now(libc::CLOCK_MONOTONIC);
        assert_eq!(t.set(true, now - 1000 * MS, 100 * MS), (0, 0));
        assert_eq!(f.readiness(events::ALL), events::READABLE);
        assert_eq!(f.read(&ctx, 0, &mut b), Ok(8));
        assert!(u64::from_ne_bytes(b) >= 11);
        let (left, iv) = t.get();
        assert!(left > 0 && left <= 100 * MS && iv == 100 * MS);
        // Disarming returns the old setting.
        let (_, old_iv) = t.set(false, 0, 0);
        assert_eq!(old_iv, 100 * MS);
        assert_eq!(t.get(), (0, 0));
        assert_eq!(f.read(&ctx, 0, &mut [0u8; 4]), Err(Errno::EINVAL));
        assert_eq!(check_clock(libc::CLOCK_PROCESS_CPUTIME_ID), Err(Errno::EINVAL));
    }

    #[test]
    fn a_blocking_read_wakes_at_expiry() {
        let t = TimerFd::new(libc::CLOCK_MONOTONIC);
        let f = TimerFdFile(t.clone());
        let waker = Arc::new(Waker::default());
        let ctx = IoCtx { nonblock: false, mm: None, interrupted: &|| false, waker: Some(&waker) };
        let start = Instant::now();
        t.set(false, 20 * MS, 0);
        let mut b = [0u8; 8];
        assert_eq!(f.read(&ctx, 0, &mut b), Ok(8));
        assert_eq!(u64::from_ne_bytes(b), 1);
        assert!(start.elapsed() >= Duration::from_millis(20));
    }

    #[test]
    fn watchers_are_notified_at_expiry() {
        let t = TimerFd::new(libc::CLOCK_MONOTONIC);
        let f = TimerFdFile(t.clone());
        let waker = Arc::new(Waker::default());
        let _w = t.queue.watch(waker.clone(), events::ALL);
        t.set(false, 10 * MS, 0);
        waker.clear();
        assert_eq!(f.readiness(events::READABLE), 0);
        assert!(waker.sleep_until(None), "the timer service kicks the watcher");
        assert_eq!(f.readiness(events::READABLE), events::READABLE);
    }
}
