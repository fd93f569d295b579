//! Process timers that send signals: `alarm`/`setitimer(ITIMER_REAL)` and
//! POSIX timers (`timer_create`).
//!
//! A [`SignalTimer`] is armed on the kernel timer service
//! ([`super::timer`]) with a monotonic deadline. When it expires it counts
//! the expirations since (an interval timer that the service reached late
//! records the missed ones as its overrun), sends its signal to its process
//! or thread, and re-arms itself for the next interval. Timers are owned by
//! their thread group and held weakly by the service, so a process that
//! ends takes its timers with it.
//!
//! `ITIMER_VIRTUAL` and `ITIMER_PROF` count the process's CPU time (user,
//! and user plus system) instead of wall time. CPU time cannot advance
//! faster than wall time times the number of CPUs, so such a timer wakes
//! when its remaining CPU time divided by the CPU count has passed, reads
//! the process's clock, and fires or sleeps again.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use super::signals::{self, code, SigInfo};
use super::thread_group::{TaskShared, ThreadGroup};
use super::timer::{self, Expire, TimerHandle};
use super::{Kernel, KernelInner};
use crate::errno::Errno;
use crate::mm::lock;

/// Where a timer's signal goes.
pub enum Target {
    /// The process (`SIGEV_SIGNAL`, `ITIMER_REAL`).
    Process,
    /// One thread (`SIGEV_THREAD_ID`).
    Thread(Weak<TaskShared>),
    /// Nowhere (`SIGEV_NONE`): the timer is only read.
    None,
}

struct State {
    /// Next expiry (`None`: disarmed).
    next: Option<Instant>,
    /// For CPU-time timers: the process CPU time of the next expiry.
    cpu_next: Option<Duration>,
    interval: Duration,
    /// Expirations missed at the last signal (`timer_getoverrun`).
    overrun: i32,
    scheduled: Option<TimerHandle>,
}

/// A timer that sends a signal when it expires.
pub struct SignalTimer {
    me: Weak<SignalTimer>,
    kernel: Weak<KernelInner>,
    tg: Weak<ThreadGroup>,
    /// POSIX timer id (-1 for `ITIMER_REAL`).
    id: i32,
    signo: i32,
    /// `sigev_value`.
    value: u64,
    target: Target,
    /// The clock absolute times are given in (`CLOCK_*`).
    pub clock: i32,
    /// Counts CPU time: `Some(false)` user time (`ITIMER_VIRTUAL`),
    /// `Some(true)` user and system time (`ITIMER_PROF`).
    pub cpu: Option<bool>,
    state: Mutex<State>,
}

impl SignalTimer {
    /// A disarmed timer of `tg`.
    pub fn new(
        kernel: &Kernel,
        tg: &Arc<ThreadGroup>,
        id: i32,
        signo: i32,
        value: u64,
        target: Target,
        clock: i32,
    ) -> Arc<Self> {
        Self::build(kernel, tg, id, signo, value, target, clock, None)
    }

    #[allow(clippy::too_many_arguments)]
    fn build(
        kernel: &Kernel,
        tg: &Arc<ThreadGroup>,
        id: i32,
        signo: i32,
        value: u64,
        target: Target,
        clock: i32,
        cpu: Option<bool>,
    ) -> Arc<Self> {
        Arc::new_cyclic(|me| SignalTimer {
            me: me.clone(),
            kernel: Arc::downgrade(&kernel.inner),
            tg: Arc::downgrade(tg),
            id,
            signo,
            value,
            target,
            clock,
            cpu,
            state: Mutex::new(State {
                next: None,
                cpu_next: None,
                interval: Duration::ZERO,
                overrun: 0,
                scheduled: None,
            }),
        })
    }

    /// A CPU-time interval timer of `tg` sending `signo` (`prof`: user and
    /// system time, else user time).
    pub fn new_cpu(kernel: &Kernel, tg: &Arc<ThreadGroup>, signo: i32, prof: bool) -> Arc<Self> {
        Self::new_cpu_posix(kernel, tg, -1, signo, 0, Target::Process, prof)
    }

    /// A POSIX timer on the process CPU-time clock (user and system time).
    pub fn new_cpu_posix(
        kernel: &Kernel,
        tg: &Arc<ThreadGroup>,
        id: i32,
        signo: i32,
        value: u64,
        target: Target,
        prof: bool,
    ) -> Arc<Self> {
        Self::build(kernel, tg, id, signo, value, target, libc::CLOCK_PROCESS_CPUTIME_ID, Some(prof))
    }

    /// The process's CPU time as this timer counts it.
    fn cpu_now(&self) -> Option<Duration> {
        let prof = self.cpu?;
        let tg = self.tg.upgrade()?;
        let mm = tg.tasks().iter().find_map(|t| lock(&t.view).as_ref().map(|v| v.mm.clone()))?;
        let (user, sys) = super::usage::group_times(&tg, &mm);
        Some(if prof { user + sys } else { user })
    }

    /// When to look at a CPU-time timer again: CPU time advances at most
    /// `ncpus` times as fast as wall time.
    fn cpu_check_at(&self, remaining: Duration) -> Instant {
        let ncpus = self.kernel.upgrade().map(|k| k.ncpus).unwrap_or(1).max(1) as u32;
        let wait = (remaining / ncpus).max(Duration::from_millis(1));
        Instant::now() + wait
    }

    /// Arms the timer to expire after `value` (zero disarms), then every
    /// `interval`. Returns the previous (remaining, interval).
    pub fn set(&self, value: Duration, interval: Duration) -> (Duration, Duration) {
        if self.cpu.is_some() {
            return self.set_cpu(value, interval);
        }
        let mut s = lock(&self.state);
        let old = Self::current(&s);
        if let Some(h) = s.scheduled.take() {
            timer::cancel(h);
        }
        s.interval = interval;
        s.overrun = 0;
        s.next = if value.is_zero() { None } else { Instant::now().checked_add(value) };
        self.schedule(&mut s);
        old
    }

    fn set_cpu(&self, value: Duration, interval: Duration) -> (Duration, Duration) {
        let now = self.cpu_now().unwrap_or_default();
        let mut s = lock(&self.state);
        let old = (s.cpu_next.map(|n| n.saturating_sub(now)).unwrap_or_default(), s.interval);
        if let Some(h) = s.scheduled.take() {
            timer::cancel(h);
        }
        s.interval = interval;
        s.overrun = 0;
        s.cpu_next = (!value.is_zero()).then(|| now + value);
        s.next = s.cpu_next.map(|_| self.cpu_check_at(value));
        self.schedule(&mut s);
        old
    }

    /// (time until the next expiry, interval); zero if disarmed.
    pub fn get(&self) -> (Duration, Duration) {
        if self.cpu.is_some() {
            let now = self.cpu_now().unwrap_or_default();
            let s = lock(&self.state);
            return (
                s.cpu_next.map(|n| n.saturating_sub(now).max(Duration::from_nanos(1))).unwrap_or_default(),
                s.interval,
            );
        }
        Self::current(&lock(&self.state))
    }

    /// Expirations missed at the last firing.
    pub fn overrun(&self) -> i32 {
        lock(&self.state).overrun
    }

    /// Disarms the timer for good.
    pub fn cancel(&self) {
        let mut s = lock(&self.state);
        s.next = None;
        s.cpu_next = None;
        if let Some(h) = s.scheduled.take() {
            timer::cancel(h);
        }
    }

    fn current(s: &State) -> (Duration, Duration) {
        let left = s.next.map(|n| n.saturating_duration_since(Instant::now())).unwrap_or_default();
        // An armed timer reports at least 1ns left, as Linux rounds up.
        let left = if s.next.is_some() && left.is_zero() { Duration::from_nanos(1) } else { left };
        (left, s.interval)
    }

    fn schedule(&self, s: &mut State) {
        let Some(next) = s.next else { return };
        let me: Weak<dyn Expire> = self.me.clone();
        match timer::schedule(next, me) {
            Ok(h) => s.scheduled = Some(h),
            Err(e) => tracing::error!(error = %e, "cannot schedule a timer"),
        }
    }

    fn fire(&self, overrun: i32) {
        let (Some(inner), Some(tg)) = (self.kernel.upgrade(), self.tg.upgrade()) else { return };
        let kernel = Kernel { inner };
        let mut si: SigInfo = if self.id < 0 {
            signals::info(self.signo, code::SI_KERNEL)
        } else {
            let mut si = signals::info(self.signo, code::SI_TIMER);
            si.raw[16..20].copy_from_slice(&self.id.to_le_bytes());
            si.raw[20..24].copy_from_slice(&overrun.to_le_bytes());
            si
        };
        if self.id >= 0 {
            signals::set_value(&mut si, self.value);
        }
        match &self.target {
            Target::Process => kernel.send_group_signal(&tg, si),
            Target::Thread(t) => {
                if let Some(t) = t.upgrade() {
                    kernel.send_thread_signal(&tg, &t, si);
                }
            }
            Target::None => {}
        }
    }
}

impl SignalTimer {
    /// A CPU-time timer's wake-up: fire if the CPU deadline passed.
    fn expire_cpu(&self) {
        let now = self.cpu_now();
        let fire = {
            let mut s = lock(&self.state);
            s.scheduled = None;
            let (Some(cpu_next), Some(now)) = (s.cpu_next, now) else {
                s.cpu_next = None;
                s.next = None;
                return;
            };
            if now < cpu_next {
                s.next = Some(self.cpu_check_at(cpu_next - now));
                self.schedule(&mut s);
                false
            } else {
                if s.interval.is_zero() {
                    s.cpu_next = None;
                    s.next = None;
                } else {
                    let k = ((now - cpu_next).as_nanos() / s.interval.as_nanos().max(1)) as u32;
                    let next = cpu_next + s.interval * (k + 1);
                    s.cpu_next = Some(next);
                    s.next = Some(self.cpu_check_at(next - now));
                    self.schedule(&mut s);
                }
                true
            }
        };
        if fire {
            self.fire(0);
        }
    }
}

impl Expire for SignalTimer {
    fn expire(&self) {
        if self.cpu.is_some() {
            return self.expire_cpu();
        }
        let overrun = {
            let mut s = lock(&self.state);
            s.scheduled = None;
            let Some(next) = s.next else { return };
            let now = Instant::now();
            if now < next {
                // Early: schedule again.
                self.schedule(&mut s);
                return;
            }
            let mut missed = 0i64;
            if s.interval.is_zero() {
                s.next = None;
            } else {
                let late = now.duration_since(next);
                let k = (late.as_nanos() / s.interval.as_nanos().max(1)) as i64;
                missed = k;
                let step = s.interval.saturating_mul((k + 1).min(u32::MAX as i64) as u32);
                s.next = next.checked_add(step);
                self.schedule(&mut s);
            }
            s.overrun = missed.min(i32::MAX as i64) as i32;
            s.overrun
        };
        self.fire(overrun);
    }
}

/// A thread group's timers.
#[derive(Default)]
pub struct Timers {
    /// `ITIMER_REAL` (and `alarm`).
    pub real: Option<Arc<SignalTimer>>,
    /// `ITIMER_VIRTUAL` and `ITIMER_PROF`.
    pub virt: Option<Arc<SignalTimer>>,
    pub prof: Option<Arc<SignalTimer>>,
    /// POSIX timers by id.
    pub posix: BTreeMap<i32, Arc<SignalTimer>>,
}

/// Most POSIX timers per process (Linux bounds them by RLIMIT_SIGPENDING).
pub const MAX_POSIX_TIMERS: usize = 4096;

impl Timers {
    /// A free POSIX timer id.
    pub fn free_id(&self) -> Result<i32, Errno> {
        if self.posix.len() >= MAX_POSIX_TIMERS {
            return Err(Errno::EAGAIN);
        }
        Ok((0..).find(|i| !self.posix.contains_key(i)).unwrap_or(0))
    }

    /// Disarms and forgets everything (the process ended).
    pub fn clear(&mut self) {
        for t in [self.real.take(), self.virt.take(), self.prof.take()].into_iter().flatten() {
            t.cancel();
        }
        for (_, t) in std::mem::take(&mut self.posix) {
            t.cancel();
        }
    }
}
