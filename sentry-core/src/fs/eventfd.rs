//! eventfd: a 64-bit counter as a file.
//!
//! Writes add an 8-byte value to the counter, blocking (or `EAGAIN`) while
//! the sum would exceed `u64::MAX - 1`; reads return the counter and reset
//! it to zero, or, in semaphore mode (`EFD_SEMAPHORE`), return 1 and
//! decrement it, blocking while it is zero. Buffers shorter than 8 bytes
//! give `EINVAL`, as does writing `u64::MAX`. Readable while the counter is
//! non-zero, writable while another 1 could be added.
//!
//! The counter mutex is a leaf lock; the wait queue is notified after it is
//! released.

use std::any::Any;
use std::sync::Mutex;

use crate::errno::Errno;
use crate::kernel::waiter::{events, WaitQueue};
use crate::mm::lock;
use crate::vfs::{FileOps, IoCtx};

/// `EFD_SEMAPHORE`.
pub const EFD_SEMAPHORE: u32 = 1;

/// The largest counter value.
const MAX: u64 = u64::MAX - 1;

/// An eventfd.
pub struct EventFd {
    count: Mutex<u64>,
    semaphore: bool,
    queue: WaitQueue,
}

impl EventFd {
    /// A counter starting at `initval`.
    pub fn new(initval: u64, semaphore: bool) -> EventFd {
        EventFd { count: Mutex::new(initval), semaphore, queue: WaitQueue::new() }
    }
}

impl FileOps for EventFd {
    fn read(&self, ctx: &IoCtx, _offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        if buf.len() < 8 {
            return Err(Errno::EINVAL);
        }
        let v = ctx.block(&[&self.queue], events::READABLE, || {
            let mut c = lock(&self.count);
            if *c == 0 {
                return Err(Errno::EAGAIN);
            }
            let v = if self.semaphore { 1 } else { *c };
            *c -= v;
            Ok(v)
        })?;
        self.queue.notify(events::WRITABLE);
        buf[..8].copy_from_slice(&v.to_ne_bytes());
        Ok(8)
    }

    fn write(&self, ctx: &IoCtx, _offset: u64, buf: &[u8]) -> Result<usize, Errno> {
        let b: [u8; 8] = buf.get(..8).and_then(|b| b.try_into().ok()).ok_or(Errno::EINVAL)?;
        let v = u64::from_ne_bytes(b);
        if v == u64::MAX {
            return Err(Errno::EINVAL);
        }
        ctx.block(&[&self.queue], events::WRITABLE, || {
            let mut c = lock(&self.count);
            if MAX - *c < v {
                return Err(Errno::EAGAIN);
            }
            *c += v;
            Ok(())
        })?;
        // Linux wakes readers even for a write of 0.
        self.queue.notify(events::READABLE);
        Ok(8)
    }

    fn readiness(&self, mask: u32) -> u32 {
        let c = *lock(&self.count);
        let mut r = 0;
        if c > 0 {
            r |= events::READABLE;
        }
        if c < MAX {
            r |= events::WRITABLE;
        }
        r & mask
    }

    fn noop_seek(&self) -> bool {
        true
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.queue)
    }

    fn as_any(&self) -> Option<&dyn Any> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::waiter::Waker;
    use std::sync::Arc;

    fn read(e: &EventFd, ctx: &IoCtx) -> Result<u64, Errno> {
        let mut b = [0u8; 8];
        e.read(ctx, 0, &mut b)?;
        Ok(u64::from_ne_bytes(b))
    }

    fn write(e: &EventFd, ctx: &IoCtx, v: u64) -> Result<usize, Errno> {
        e.write(ctx, 0, &v.to_ne_bytes())
    }

    #[test]
    fn counter_semantics() {
        let ctx = IoCtx::internal();
        let e = EventFd::new(5, false);
        assert_eq!(read(&e, &ctx), Ok(5));
        assert_eq!(read(&e, &ctx), Err(Errno::EAGAIN));
        assert_eq!(e.readiness(events::ALL), events::WRITABLE);
        assert_eq!(write(&e, &ctx, 3), Ok(8));
        assert_eq!(write(&e, &ctx, 4), Ok(8));
        assert_eq!(e.readiness(events::ALL), events::READABLE | events::WRITABLE);
        assert_eq!(read(&e, &ctx), Ok(7));
        assert_eq!(e.read(&ctx, 0, &mut [0u8; 7]), Err(Errno::EINVAL));
        assert_eq!(e.write(&ctx, 0, &[0u8; 7]), Err(Errno::EINVAL));
        assert_eq!(write(&e, &ctx, u64::MAX), Err(Errno::EINVAL));
        assert_eq!(write(&e, &ctx, u64::MAX - 1), Ok(8));
        assert_eq!(e.readiness(events::ALL), events::READABLE);
        assert_eq!(write(&e, &ctx, 1), Err(Errno::EAGAIN));
        assert_eq!(write(&e, &ctx, 0), Ok(8));
    }

    #[test]
    fn semaphore_mode_counts_down() {
        let ctx = IoCtx::internal();
        let e = EventFd::new(3, true);
        assert_eq!((read(&e, &ctx), read(&e, &ctx), read(&e, &ctx)), (Ok(1), Ok(1), Ok(1)));
        assert_eq!(read(&e, &ctx), Err(Errno::EAGAIN));
    }

    #[test]
    fn a_blocked_reader_wakes_on_write() {
        let e = Arc::new(EventFd::new(0, false));
        let e2 = e.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            write(&e2, &IoCtx::internal(), 9).unwrap();
        });
        let waker = Arc::new(Waker::default());
        let ctx = IoCtx { nonblock: false, mm: None, interrupted: &|| false, waker: Some(&waker) };
        assert_eq!(read(&e, &ctx), Ok(9));
        t.join().unwrap();
    }
}
