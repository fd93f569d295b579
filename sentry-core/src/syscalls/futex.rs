//! `futex`, for the world as it is today: one task per address space.
//!
//! There is no `clone` yet, so no other task can share a futex word of
//! this address space (shared mappings between processes are not used for
//! futexes by anything we run). Hence nobody can be waiting on a futex:
//! the wake operations validate their arguments, do the memory side of
//! the operation (the compare of `FUTEX_CMP_REQUEUE`, the update of
//! `FUTEX_WAKE_OP`) and wake no one; the wait operations check the futex
//! word (`EAGAIN` if it changed) and otherwise sleep until their timeout
//! or until the task is interrupted, since no one could wake them. glibc
//! needs this much even in single-threaded programs (`FUTEX_WAKE` on
//! unlocking a lock it has just taken, which aborts on `ENOSYS`).
//!
//! Threads will replace this with wait queues keyed by address space and
//! address (private futexes) or mapped object and offset (shared ones);
//! the argument decoding and checks here stay valid. Priority-inheritance
//! operations return `ENOSYS` until then.

use std::time::{Duration, Instant};

use super::time::{read_clock, read_timespec};
use super::{Args, Handler};
use crate::errno::{Errno, SysResult};
use crate::kernel::Task;

pub(super) const HANDLERS: &[(i64, Handler)] = &[(libc::SYS_futex, sys_futex)];

const FUTEX_WAIT: i32 = 0;
const FUTEX_WAKE: i32 = 1;
const FUTEX_REQUEUE: i32 = 3;
const FUTEX_CMP_REQUEUE: i32 = 4;
const FUTEX_WAKE_OP: i32 = 5;
const FUTEX_WAIT_BITSET: i32 = 9;
const FUTEX_WAKE_BITSET: i32 = 10;
const FUTEX_PRIVATE_FLAG: i32 = 128;
const FUTEX_CLOCK_REALTIME: i32 = 256;

/// Decoded `FUTEX_WAKE_OP` operation (`val3`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct WakeOp {
    op: u32,
    cmp: u32,
    oparg: u32,
    cmparg: i32,
}

impl WakeOp {
    fn decode(v: u32) -> WakeOp {
        // 12-bit signed fields.
        let sext12 = |x: u32| ((x << 20) as i32) >> 20;
        let mut op = (v >> 28) & 0xf;
        let mut oparg = sext12((v >> 12) & 0xfff) as u32;
        // FUTEX_OP_OPARG_SHIFT: the argument is a shift count (Linux keeps
        // its low five bits).
        if op & 8 != 0 {
            op &= 7;
            oparg = 1 << (oparg & 31);
        }
        WakeOp { op, cmp: (v >> 24) & 0xf, oparg, cmparg: sext12(v & 0xfff) }
    }

    /// The new value of the word, or `ENOSYS` for an unknown operation.
    fn apply(&self, old: u32) -> Result<u32, Errno> {
        Ok(match self.op {
            0 => self.oparg,                   // SET
            1 => old.wrapping_add(self.oparg), // ADD
            2 => old | self.oparg,             // OR
            3 => old & !self.oparg,            // ANDN
            4 => old ^ self.oparg,             // XOR
            _ => return Err(Errno::ENOSYS),
        })
    }

    /// Whether the old value passes the comparison, or `ENOSYS`.
    fn compare(&self, old: u32) -> Result<bool, Errno> {
        let (old, arg) = (old as i32, self.cmparg);
        Ok(match self.cmp {
            0 => old == arg,
            1 => old != arg,
            2 => old < arg,
            3 => old <= arg,
            4 => old > arg,
            5 => old >= arg,
            _ => return Err(Errno::ENOSYS),
        })
    }
}

/// A futex address must be 4-byte aligned.
fn check_addr(addr: u64) -> Result<(), Errno> {
    if addr % 4 != 0 {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

fn sys_futex(t: &mut Task, a: &Args) -> SysResult {
    let (uaddr, op, val, timeout, uaddr2, val3) = (a.u64(0), a.i32(1), a.u32(2), a.u64(3), a.u64(4), a.u32(5));
    let cmd = op & !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
    let realtime = op & FUTEX_CLOCK_REALTIME != 0;
    if realtime && cmd != FUTEX_WAIT && cmd != FUTEX_WAIT_BITSET {
        return Err(Errno::ENOSYS);
    }
    match cmd {
        FUTEX_WAIT | FUTEX_WAIT_BITSET => {
            if cmd == FUTEX_WAIT_BITSET && val3 == 0 {
                return Err(Errno::EINVAL);
            }
            check_addr(uaddr)?;
            // FUTEX_WAIT's timeout is relative; FUTEX_WAIT_BITSET's is an
            // absolute time of the monotonic or (flag) realtime clock.
            let deadline = if timeout == 0 {
                None
            } else {
                let ts = read_timespec(t, timeout)?;
                let rel = if cmd == FUTEX_WAIT {
                    ts
                } else {
                    let (sec, nsec) = read_clock(if realtime { libc::CLOCK_REALTIME } else { libc::CLOCK_MONOTONIC })?;
                    ts.saturating_sub(Duration::new(sec.max(0) as u64, nsec as u32))
                };
                Some(Instant::now().checked_add(rel))
            };
            if t.mm.read_u32(uaddr)? != val {
                return Err(Errno::EAGAIN);
            }
            // Nobody can wake us (see the module documentation): sleep
            // until the timeout or an interruption.
            let forever = Instant::now() + Duration::from_secs(1 << 32);
            match deadline {
                None | Some(None) => loop {
                    t.sleep_until(forever)?;
                },
                Some(Some(d)) => {
                    t.sleep_until(d)?;
                    Err(Errno::ETIMEDOUT)
                }
            }
        }
        FUTEX_WAKE | FUTEX_WAKE_BITSET => {
            if cmd == FUTEX_WAKE_BITSET && val3 == 0 {
                return Err(Errno::EINVAL);
            }
            check_addr(uaddr)?;
            Ok(0)
        }
        FUTEX_REQUEUE | FUTEX_CMP_REQUEUE => {
            check_addr(uaddr)?;
            check_addr(uaddr2)?;
            // val: waiters to wake, timeout (val2): most to requeue.
            if (val as i32) < 0 || (timeout as i32) < 0 {
                return Err(Errno::EINVAL);
            }
            if cmd == FUTEX_CMP_REQUEUE && t.mm.read_u32(uaddr)? != val3 {
                return Err(Errno::EAGAIN);
            }
            Ok(0)
        }
        FUTEX_WAKE_OP => {
            check_addr(uaddr)?;
            check_addr(uaddr2)?;
            let wop = WakeOp::decode(val3);
            let old = t.mm.read_u32(uaddr2)?;
            t.mm.write_u32(uaddr2, wop.apply(old)?)?;
            // As in Linux, an unknown comparison fails after the update.
            wop.compare(old)?;
            Ok(0)
        }
        // Priority inheritance (LOCK_PI, UNLOCK_PI, TRYLOCK_PI,
        // WAIT_REQUEUE_PI, CMP_REQUEUE_PI, LOCK_PI2) and unknown commands.
        _ => Err(Errno::ENOSYS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wake_op_decodes_like_linux() {
        // FUTEX_OP(FUTEX_OP_ADD, 1, FUTEX_OP_CMP_GT, -1)
        let v = (1 << 28) | (4 << 24) | (1 << 12) | 0xfff;
        let w = WakeOp::decode(v);
        assert_eq!(w, WakeOp { op: 1, cmp: 4, oparg: 1, cmparg: -1 });
        assert_eq!(w.apply(5), Ok(6));
        assert_eq!(w.compare(0), Ok(true));
        // FUTEX_OP_OPARG_SHIFT with OR: 1 << 3.
        let w = WakeOp::decode((0xa << 28) | (3 << 12));
        assert_eq!((w.op, w.oparg), (2, 8));
        assert_eq!(w.apply(1), Ok(9));
        // Negative oparg, ANDN.
        let w = WakeOp::decode((3 << 28) | (0xfff << 12));
        assert_eq!(w.apply(0xffff_ffff), Ok(0));
        assert_eq!(WakeOp::decode(6 << 28).apply(0), Err(Errno::ENOSYS));
        assert_eq!(WakeOp::decode(9 << 24).compare(0), Err(Errno::ENOSYS));
    }
}
