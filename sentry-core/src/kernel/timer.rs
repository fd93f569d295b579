//! The kernel timer service: one host thread that calls back at deadlines.
//!
//! Timers that must wake someone at a time nobody is sleeping until (a
//! timerfd watched by `poll` or `epoll`, later `alarm` and `setitimer`)
//! [`schedule`] a deadline with a target implementing [`Expire`]. The
//! service thread sleeps until the earliest deadline and then calls
//! [`Expire::expire`] on each due target, with no service lock held.
//!
//! Targets are held weakly: a dropped target's entries expire into
//! nothing. [`cancel`] removes an entry early (keeping the queue small when
//! timers are re-armed often). Expiry is at or after the deadline, never
//! before; a target should re-check its own clock when called (deadlines
//! are [`Instant`]s, the host's monotonic clock, while the target may
//! count in another clock) and schedule again if it was early.
//!
//! The thread starts with the first [`schedule`] and lives as long as the
//! Sentry process.
//!
//! Lock order: the service lock is a leaf. Targets may call [`schedule`]
//! and [`cancel`] while holding their own locks (expire is never called
//! with the service lock held).

use std::collections::BTreeMap;
use std::sync::{Condvar, Mutex, OnceLock, Weak};
use std::time::Instant;

use crate::errno::Errno;
use crate::mm::lock;

/// Something to call back at a deadline.
pub trait Expire: Send + Sync {
    /// A deadline scheduled for this target has passed.
    fn expire(&self);
}

/// A scheduled deadline, to [`cancel`] it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerHandle {
    deadline: Instant,
    id: u64,
}

impl TimerHandle {
    /// When the target will be called.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}

#[derive(Default)]
struct Queue {
    entries: BTreeMap<(Instant, u64), Weak<dyn Expire>>,
    next_id: u64,
}

struct Service {
    queue: Mutex<Queue>,
    cv: Condvar,
}

fn service() -> Result<&'static Service, Errno> {
    static SERVICE: OnceLock<Option<Service>> = OnceLock::new();
    SERVICE
        .get_or_init(|| {
            let spawned = std::thread::Builder::new().name("sentry-timers".into()).spawn(|| {
                // Blocks until the initialiser (which spawned us) returns.
                if let Ok(s) = service() {
                    run(s);
                }
            });
            match spawned {
                Ok(_) => Some(Service { queue: Mutex::new(Queue::default()), cv: Condvar::new() }),
                Err(e) => {
                    tracing::error!(error = %e, "cannot start the timer service thread");
                    None
                }
            }
        })
        .as_ref()
        .ok_or(Errno::EAGAIN)
}

fn run(s: &Service) -> ! {
    let mut q = lock(&s.queue);
    loop {
        let now = Instant::now();
        let mut due = Vec::new();
        while let Some(e) = q.entries.first_entry() {
            if e.key().0 > now {
                break;
            }
            due.push(e.remove());
        }
        if !due.is_empty() {
            drop(q);
            for t in due {
                if let Some(t) = t.upgrade() {
                    t.expire();
                }
            }
            q = lock(&s.queue);
            continue;
        }
        q = match q.entries.keys().next() {
            Some(&(d, _)) => {
                s.cv.wait_timeout(q, d.saturating_duration_since(now)).unwrap_or_else(|e| e.into_inner()).0
            }
            None => s.cv.wait(q).unwrap_or_else(|e| e.into_inner()),
        };
    }
}

/// Calls `target.expire()` once `deadline` has passed (unless cancelled or
/// the target is gone by then). `EAGAIN` if the service thread could not
/// be started.
pub fn schedule(deadline: Instant, target: Weak<dyn Expire>) -> Result<TimerHandle, Errno> {
    let s = service()?;
    let mut q = lock(&s.queue);
    let id = q.next_id;
    q.next_id += 1;
    let first = q.entries.keys().next().is_none_or(|&(d, _)| deadline < d);
    q.entries.insert((deadline, id), target);
    drop(q);
    if first {
        s.cv.notify_one();
    }
    Ok(TimerHandle { deadline, id })
}

/// Forgets a scheduled deadline (no-op if it already expired).
pub fn cancel(h: TimerHandle) {
    if let Ok(s) = service() {
        lock(&s.queue).entries.remove(&(h.deadline, h.id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    struct Count(AtomicU32);
    impl Expire for Count {
        fn expire(&self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn deadlines_fire_in_order_and_cancelled_ones_do_not() {
        let a = Arc::new(Count(AtomicU32::new(0)));
        let b = Arc::new(Count(AtomicU32::new(0)));
        let now = Instant::now();
        let wa: Weak<dyn Expire> = Arc::downgrade(&a) as Weak<dyn Expire>;
        let wb: Weak<dyn Expire> = Arc::downgrade(&b) as Weak<dyn Expire>;
        schedule(now + Duration::from_millis(10), wa.clone()).unwrap();
        let hb = schedule(now + Duration::from_millis(15), wb).unwrap();
        cancel(hb);
        schedule(now + Duration::from_millis(5), wa).unwrap();
        let start = Instant::now();
        while a.0.load(Ordering::SeqCst) < 2 {
            assert!(start.elapsed() < Duration::from_secs(60), "timers did not fire (hang guard)");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(Instant::now() >= now + Duration::from_millis(10));
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(b.0.load(Ordering::SeqCst), 0);
    }
}
