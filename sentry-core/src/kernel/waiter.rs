//! Blocking: wait queues, wakers and the wait loop every blocking operation
//! uses.
//!
//! A [`WaitQueue`] belongs to an object a task can wait for (a pipe, a
//! futex bucket, a child-exit list). A waiter registers a [`Notify`] on the
//! queue with an event mask; the object calls [`WaitQueue::notify`] with the
//! events that happened. A task's [`Waker`] is the usual `Notify`; epoll
//! registers its own so that readiness of watched files reaches its ready
//! list.
//!
//! The wait loop ([`wait_until`]) is the only way a task sleeps: register,
//! then repeatedly clear the waker, try the operation, check for
//! interruption (a signal or the group exiting) and sleep. Clearing before
//! trying means a notification that races with the attempt is never lost:
//! it leaves the waker set and the sleep returns at once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use crate::errno::Errno;
use crate::mm::lock;

/// `poll` event bits (the same values as `EPOLL*`).
pub mod events {
    pub const POLLIN: u32 = 0x001;
    pub const POLLPRI: u32 = 0x002;
    pub const POLLOUT: u32 = 0x004;
    pub const POLLERR: u32 = 0x008;
    pub const POLLHUP: u32 = 0x010;
    pub const POLLNVAL: u32 = 0x020;
    pub const POLLRDNORM: u32 = 0x040;
    pub const POLLRDBAND: u32 = 0x080;
    pub const POLLWRNORM: u32 = 0x100;
    pub const POLLWRBAND: u32 = 0x200;
    pub const POLLRDHUP: u32 = 0x2000;
    /// Readable, in both spellings.
    pub const READABLE: u32 = POLLIN | POLLRDNORM;
    /// Writable, in both spellings.
    pub const WRITABLE: u32 = POLLOUT | POLLWRNORM;
    /// Every event (what a task waiting for "anything" registers for).
    pub const ALL: u32 = u32::MAX;
}

/// Something that can be told that events happened.
pub trait Notify: Send + Sync {
    /// `events` happened on an object this was registered with.
    fn notify(&self, events: u32);
}

/// Wakes a task blocked in the Sentry.
#[derive(Default)]
pub struct Waker {
    kicked: Mutex<bool>,
    cv: Condvar,
}

impl Waker {
    /// Wakes the task (and makes its next sleep return at once, until
    /// [`clear`](Waker::clear)).
    pub fn kick(&self) {
        *lock(&self.kicked) = true;
        self.cv.notify_all();
    }

    /// Forgets earlier kicks (the wait loop calls this before re-checking
    /// its condition).
    pub fn clear(&self) {
        *lock(&self.kicked) = false;
    }

    /// Sleeps until `deadline` (`None`: no deadline) or a kick; true if
    /// kicked.
    pub fn sleep_until(&self, deadline: Option<Instant>) -> bool {
        let mut k = lock(&self.kicked);
        loop {
            if *k {
                return true;
            }
            match deadline {
                None => k = self.cv.wait(k).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return false;
                    }
                    k = self.cv.wait_timeout(k, d - now).unwrap_or_else(|e| e.into_inner()).0;
                }
            }
        }
    }
}

impl Notify for Waker {
    fn notify(&self, _events: u32) {
        self.kick();
    }
}

struct Entry {
    id: u64,
    mask: u32,
    notify: Arc<dyn Notify>,
}

/// Waiters of one object.
#[derive(Default)]
pub struct WaitQueue {
    entries: Mutex<Vec<Entry>>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A number never returned before in this Sentry (registration ids, names
/// of anonymous objects).
pub fn unique_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

impl WaitQueue {
    /// An empty queue.
    pub fn new() -> WaitQueue {
        WaitQueue::default()
    }

    /// Registers `notify` for `mask`; returns the id to
    /// [`unregister`](WaitQueue::unregister) with.
    pub fn register(&self, notify: Arc<dyn Notify>, mask: u32) -> u64 {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        lock(&self.entries).push(Entry { id, mask, notify });
        id
    }

    /// Removes registration `id` (no-op if absent).
    pub fn unregister(&self, id: u64) {
        lock(&self.entries).retain(|e| e.id != id);
    }

    /// Registers for the lifetime of the returned guard.
    pub fn watch(&self, notify: Arc<dyn Notify>, mask: u32) -> Watch<'_> {
        Watch { queue: self, id: self.register(notify, mask) }
    }

    /// Tells every waiter whose mask meets `events`.
    pub fn notify(&self, events: u32) {
        // Collect first: a notified epoll may take other locks.
        let targets: Vec<Arc<dyn Notify>> =
            lock(&self.entries).iter().filter(|e| e.mask & events != 0).map(|e| e.notify.clone()).collect();
        for t in targets {
            t.notify(events);
        }
    }

    /// Whether anyone waits.
    pub fn is_empty(&self) -> bool {
        lock(&self.entries).is_empty()
    }
}

/// A registration that ends when dropped.
pub struct Watch<'a> {
    queue: &'a WaitQueue,
    id: u64,
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        self.queue.unregister(self.id);
    }
}

/// The blocking context of a task: its waker and how to tell it was
/// interrupted.
#[derive(Clone, Copy)]
pub struct Blocker<'a> {
    pub waker: &'a Arc<Waker>,
    /// True when the task must stop waiting: a signal is pending that it
    /// does not block, or its thread group is exiting.
    pub interrupted: &'a dyn Fn() -> bool,
}

/// Waits until `attempt` returns something other than `EAGAIN`, the
/// deadline passes (`ETIMEDOUT`) or the task is interrupted
/// (`ERESTARTSYS`: the dispatcher turns it into `EINTR` or a restart).
///
/// `queues` are registered with `mask` for the duration of the wait.
pub fn wait_until<T>(
    b: Blocker,
    queues: &[&WaitQueue],
    mask: u32,
    deadline: Option<Instant>,
    mut attempt: impl FnMut() -> Result<T, Errno>,
) -> Result<T, Errno> {
    let notify: Arc<dyn Notify> = b.waker.clone();
    let _watches: Vec<Watch> = queues.iter().map(|q| q.watch(notify.clone(), mask)).collect();
    loop {
        b.waker.clear();
        match attempt() {
            Err(Errno::EAGAIN) => {}
            r => return r,
        }
        if (b.interrupted)() {
            return Err(Errno::ERESTARTSYS);
        }
        if !b.waker.sleep_until(deadline) {
            // One last try: the condition may have become true just now.
            return match attempt() {
                Err(Errno::EAGAIN) => Err(Errno::ETIMEDOUT),
                r => r,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::time::Duration;

    #[test]
    fn a_notification_wakes_the_waiter() {
        let q = Arc::new(WaitQueue::new());
        let ready = Arc::new(AtomicBool::new(false));
        let waker = Arc::new(Waker::default());
        let (q2, r2) = (q.clone(), ready.clone());
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            r2.store(true, Ordering::SeqCst);
            q2.notify(events::POLLIN);
        });
        let b = Blocker { waker: &waker, interrupted: &|| false };
        let r = wait_until(b, &[&q], events::POLLIN, None, || {
            if ready.load(Ordering::SeqCst) {
                Ok(7)
            } else {
                Err(Errno::EAGAIN)
            }
        });
        assert_eq!(r, Ok(7));
        t.join().unwrap();
        assert!(q.is_empty(), "the registration ends with the wait");
    }

    #[test]
    fn deadlines_and_interruptions_end_waits() {
        let q = WaitQueue::new();
        let waker = Arc::new(Waker::default());
        let b = Blocker { waker: &waker, interrupted: &|| false };
        let r: Result<(), Errno> = wait_until(b, &[&q], events::ALL, Some(Instant::now()), || Err(Errno::EAGAIN));
        assert_eq!(r, Err(Errno::ETIMEDOUT));
        let b = Blocker { waker: &waker, interrupted: &|| true };
        let r: Result<(), Errno> = wait_until(b, &[&q], events::ALL, None, || Err(Errno::EAGAIN));
        assert_eq!(r, Err(Errno::ERESTARTSYS));
    }

    #[test]
    fn masks_select_waiters() {
        struct Count(AtomicU64);
        impl Notify for Count {
            fn notify(&self, _e: u32) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let q = WaitQueue::new();
        let c = Arc::new(Count(AtomicU64::new(0)));
        let id = q.register(c.clone(), events::POLLOUT);
        q.notify(events::POLLIN);
        q.notify(events::POLLOUT);
        q.unregister(id);
        q.notify(events::POLLOUT);
        assert_eq!(c.0.load(Ordering::SeqCst), 1);
    }
}
