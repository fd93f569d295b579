//! The futex system call.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::{Args, Handler};
use crate::errno::{Errno, SysResult};
use crate::kernel::futex::{FutexKey, BITSET_ANY};
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

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(1 << 32)
}

fn sys_futex(t: &mut Task, a: &Args) -> SysResult {
    let (addr, op, val, uaddr2, val3) = (a.u64(0), a.i32(1), a.u32(2), a.u64(4), a.u32(5));
    let private = op & FUTEX_PRIVATE_FLAG != 0;
    let cmd = op & !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
    if op & FUTEX_CLOCK_REALTIME != 0 && cmd != FUTEX_WAIT_BITSET && cmd != FUTEX_WAIT {
        return Err(Errno::ENOSYS);
    }
    let key = FutexKey::of(&t.mm, addr, private)?;
    let futexes = &t.kernel.inner.futexes;
    match cmd {
        FUTEX_WAIT | FUTEX_WAIT_BITSET => {
            let bitset = if cmd == FUTEX_WAIT { BITSET_ANY } else { val3 };
            let deadline = if a.u64(3) == 0 {
                None
            } else {
                let ts = super::time::read_timespec(t, a.u64(3))?;
                Some(if cmd == FUTEX_WAIT {
                    // Relative.
                    Instant::now().checked_add(ts).unwrap_or_else(far_future)
                } else if op & FUTEX_CLOCK_REALTIME != 0 {
                    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
                    Instant::now() + ts.saturating_sub(now)
                } else {
                    // Absolute CLOCK_MONOTONIC (measured from boot).
                    let now = crate::syscalls::time::monotonic_now();
                    Instant::now() + ts.saturating_sub(now)
                })
            };
            let mm = t.mm.clone();
            let r = t.blocker(|b| futexes.wait(b, &mm, key, addr, val, bitset, deadline));
            match r {
                Ok(()) => Ok(0),
                // A relative wait restarts with its full time: Linux uses a
                // restart block; EINTR is what handlers see.
                Err(Errno::ERESTARTSYS) => Err(Errno::ERESTARTSYS),
                Err(e) => Err(e),
            }
        }
        FUTEX_WAKE => futexes.wake(key, val, BITSET_ANY),
        FUTEX_WAKE_BITSET => futexes.wake(key, val, val3),
        FUTEX_REQUEUE | FUTEX_CMP_REQUEUE => {
            let to = FutexKey::of(&t.mm, uaddr2, private)?;
            // The 4th argument is the requeue count here, not a timeout.
            let n2 = a.u32(3);
            if (val as i32) < 0 || (n2 as i32) < 0 {
                return Err(Errno::EINVAL);
            }
            let check = (cmd == FUTEX_CMP_REQUEUE).then_some((addr, val3));
            futexes.requeue(&t.mm, key, to, val, n2, check)
        }
        FUTEX_WAKE_OP => {
            let key2 = FutexKey::of(&t.mm, uaddr2, private)?;
            futexes.wake_op(&t.mm, key, key2, uaddr2, val, a.u32(3), val3)
        }
        // Priority-inheritance futexes are not offered (glibc falls back).
        _ => Err(Errno::ENOSYS),
    }
}
