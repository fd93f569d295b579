//! signalfd: pending signals read as a file.
//!
//! A signalfd takes, on read, the pending signals in its mask from the
//! queues of the task that created it (its own, then its process's), as
//! `struct signalfd_siginfo` records of 128 bytes. It is readable while
//! such a signal is pending; its wait queue is the process's signal queue,
//! notified whenever a signal is queued for the process or one of its
//! threads.

use std::any::Any;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::errno::Errno;
use crate::kernel::signals::SigInfo;
use crate::kernel::thread_group::{TaskShared, ThreadGroup};
use crate::kernel::waiter::{events, WaitQueue};
use crate::mm::lock;
use crate::vfs::{FileOps, IoCtx};

/// Size of `struct signalfd_siginfo`.
pub const SIGINFO_SIZE: usize = 128;

/// The unblockable signals never reach a signalfd.
const UNBLOCKABLE: u64 = (1 << (libc::SIGKILL - 1)) | (1 << (libc::SIGSTOP - 1));

/// A signalfd.
pub struct SignalFd {
    mask: AtomicU64,
    task: Arc<TaskShared>,
    tg: Arc<ThreadGroup>,
}

impl SignalFd {
    pub fn new(mask: u64, task: Arc<TaskShared>, tg: Arc<ThreadGroup>) -> SignalFd {
        SignalFd { mask: AtomicU64::new(mask & !UNBLOCKABLE), task, tg }
    }

    /// Replaces the mask (`signalfd` on an existing descriptor).
    pub fn set_mask(&self, mask: u64) {
        self.mask.store(mask & !UNBLOCKABLE, Ordering::SeqCst);
    }

    fn pending(&self) -> u64 {
        (lock(&self.task.pending).mask() | lock(&self.tg.pending).mask()) & self.mask.load(Ordering::SeqCst)
    }

    fn take(&self) -> Option<SigInfo> {
        let m = self.mask.load(Ordering::SeqCst);
        let own = lock(&self.task.pending).dequeue(!m);
        own.or_else(|| lock(&self.tg.pending).dequeue(!m))
    }
}

/// Converts a `siginfo` to a `signalfd_siginfo`.
pub fn to_signalfd_siginfo(si: &SigInfo) -> [u8; SIGINFO_SIZE] {
    let mut b = [0u8; SIGINFO_SIZE];
    let raw = &si.raw;
    b[0..4].copy_from_slice(&raw[0..4]); // ssi_signo
    b[4..8].copy_from_slice(&raw[4..8]); // ssi_errno
    b[8..12].copy_from_slice(&raw[8..12]); // ssi_code
    let signo = si.signo();
    let fault = matches!(signo, libc::SIGSEGV | libc::SIGBUS | libc::SIGILL | libc::SIGFPE | libc::SIGTRAP);
    if fault && si.code() > 0 {
        b[72..80].copy_from_slice(&raw[16..24]); // ssi_addr
    } else if si.code() == crate::kernel::signals::code::SI_TIMER {
        b[24..28].copy_from_slice(&raw[16..20]); // ssi_tid
        b[32..36].copy_from_slice(&raw[20..24]); // ssi_overrun
        b[44..48].copy_from_slice(&raw[24..28]); // ssi_int
        b[48..56].copy_from_slice(&raw[24..32]); // ssi_ptr
    } else {
        b[12..16].copy_from_slice(&raw[16..20]); // ssi_pid
        b[16..20].copy_from_slice(&raw[20..24]); // ssi_uid
        if signo == libc::SIGCHLD && si.code() > 0 {
            b[40..44].copy_from_slice(&raw[24..28]); // ssi_status
        } else {
            b[44..48].copy_from_slice(&raw[24..28]); // ssi_int
            b[48..56].copy_from_slice(&raw[24..32]); // ssi_ptr
        }
    }
    b
}

impl FileOps for SignalFd {
    fn read(&self, ctx: &IoCtx, _offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        if buf.len() < SIGINFO_SIZE {
            return Err(Errno::EINVAL);
        }
        let mut n = ctx.block(&[&self.tg.signal_events], events::ALL, || match self.take() {
            Some(si) => {
                buf[..SIGINFO_SIZE].copy_from_slice(&to_signalfd_siginfo(&si));
                Ok(SIGINFO_SIZE)
            }
            None => Err(Errno::EAGAIN),
        })?;
        // More records if they fit and are pending, without waiting.
        while n + SIGINFO_SIZE <= buf.len() {
            let Some(si) = self.take() else { break };
            buf[n..n + SIGINFO_SIZE].copy_from_slice(&to_signalfd_siginfo(&si));
            n += SIGINFO_SIZE;
        }
        Ok(n)
    }

    fn write(&self, _ctx: &IoCtx, _offset: u64, _buf: &[u8]) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }

    fn readiness(&self, mask: u32) -> u32 {
        if self.pending() != 0 {
            mask & events::READABLE
        } else {
            0
        }
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.tg.signal_events)
    }

    fn as_any(&self) -> Option<&dyn Any> {
        Some(self)
    }
}
