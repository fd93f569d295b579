//! Futexes: sleeping on a word of application memory.
//!
//! Waiters are kept per *key*: a private futex (`FUTEX_PRIVATE_FLAG`, or a
//! word in private memory) is identified by its address space and address;
//! a shared one in a `MAP_SHARED` mapping by the mapped object and offset,
//! so that processes mapping the same memory at different addresses meet.
//!
//! The value check of `FUTEX_WAIT` and the enqueueing happen under the
//! table lock, and wakers take the same lock, so a wake that follows the
//! application's store is never lost. Waiting itself uses the task's
//! waker; a woken waiter is told by its `woken` flag, which distinguishes
//! a wake from a signal or a timeout.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::waiter::{Blocker, Waker};
use crate::errno::Errno;
use crate::mm::{lock, MM};

/// Identifies a futex word.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FutexKey {
    /// (address space, address).
    Private(usize, u64),
    /// (mapped object, offset in it).
    Shared(usize, u64),
}

impl FutexKey {
    /// The key of the word at `addr` in `mm`.
    pub fn of(mm: &MM, addr: u64, private: bool) -> Result<FutexKey, Errno> {
        if addr % 4 != 0 {
            return Err(Errno::EINVAL);
        }
        if !private {
            if let Some((obj, off)) = mm.shared_object_at(addr) {
                return Ok(FutexKey::Shared(obj, off));
            }
        }
        Ok(FutexKey::Private(mm as *const MM as usize, addr))
    }
}

struct Waiter {
    waker: Arc<Waker>,
    bitset: u32,
    woken: AtomicBool,
}

/// The futex table of a kernel.
#[derive(Default)]
pub struct Futexes {
    queues: Mutex<HashMap<FutexKey, Vec<Arc<Waiter>>>>,
}

/// `FUTEX_BITSET_MATCH_ANY`.
pub const BITSET_ANY: u32 = u32::MAX;

impl Futexes {
    #[allow(clippy::too_many_arguments)]
    /// `FUTEX_WAIT`: sleeps while the word at `addr` equals `val`, until
    /// woken (`Ok`), the deadline (`ETIMEDOUT`) or an interruption
    /// (`ERESTARTSYS`). `EAGAIN` if the word differs.
    pub fn wait(
        &self,
        b: Blocker,
        mm: &MM,
        key: FutexKey,
        addr: u64,
        val: u32,
        bitset: u32,
        deadline: Option<Instant>,
    ) -> Result<(), Errno> {
        if bitset == 0 {
            return Err(Errno::EINVAL);
        }
        let me = Arc::new(Waiter { waker: b.waker.clone(), bitset, woken: AtomicBool::new(false) });
        {
            let mut q = lock(&self.queues);
            if mm.read_u32(addr)? != val {
                return Err(Errno::EAGAIN);
            }
            q.entry(key).or_default().push(me.clone());
        }
        let result = loop {
            b.waker.clear();
            if me.woken.load(Ordering::SeqCst) {
                break Ok(());
            }
            if (b.interrupted)() {
                break Err(Errno::ERESTARTSYS);
            }
            if !b.waker.sleep_until(deadline) && !me.woken.load(Ordering::SeqCst) {
                break Err(Errno::ETIMEDOUT);
            }
        };
        if result.is_err() {
            // Leave the queue; a wake that raced with the timeout or signal
            // counts as a wake.
            let mut q = lock(&self.queues);
            if me.woken.load(Ordering::SeqCst) {
                return Ok(());
            }
            remove_waiter(&mut q, &me);
        }
        result
    }

    /// `FUTEX_WAKE`: wakes up to `n` waiters of `key` whose bitset meets
    /// `bitset`; returns how many.
    pub fn wake(&self, key: FutexKey, n: u32, bitset: u32) -> Result<u64, Errno> {
        if bitset == 0 {
            return Err(Errno::EINVAL);
        }
        let mut q = lock(&self.queues);
        Ok(wake_locked(&mut q, key, n, bitset))
    }

    /// `FUTEX_REQUEUE`/`FUTEX_CMP_REQUEUE`: wakes `n` waiters of `from` and
    /// moves up to `n2` others to `to`. With `expect`, the word at `addr`
    /// must hold it (`EAGAIN` otherwise).
    pub fn requeue(
        &self,
        mm: &MM,
        from: FutexKey,
        to: FutexKey,
        n: u32,
        n2: u32,
        check: Option<(u64, u32)>,
    ) -> Result<u64, Errno> {
        let mut q = lock(&self.queues);
        if let Some((addr, expect)) = check {
            if mm.read_u32(addr)? != expect {
                return Err(Errno::EAGAIN);
            }
        }
        let woken = wake_locked(&mut q, from, n, BITSET_ANY);
        let moved: Vec<Arc<Waiter>> = match q.get_mut(&from) {
            Some(v) => {
                let k = (n2 as usize).min(v.len());
                v.drain(..k).collect()
            }
            None => Vec::new(),
        };
        let count = moved.len() as u64;
        if q.get(&from).is_some_and(|v| v.is_empty()) {
            q.remove(&from);
        }
        if !moved.is_empty() {
            q.entry(to).or_default().extend(moved);
        }
        Ok(woken + count)
    }

    /// `FUTEX_WAKE_OP`: atomically applies `op` to the word at `addr2`,
    /// wakes `n` waiters of `key1` and, if the old value meets the
    /// comparison, `n2` waiters of `key2`.
    #[allow(clippy::too_many_arguments)]
    pub fn wake_op(
        &self,
        mm: &MM,
        key1: FutexKey,
        key2: FutexKey,
        addr2: u64,
        n: u32,
        n2: u32,
        op: u32,
    ) -> Result<u64, Errno> {
        let mut q = lock(&self.queues);
        let (opcode, cmp, mut oparg, cmparg) = ((op >> 28) & 7, (op >> 24) & 15, (op >> 12) & 0xfff, op & 0xfff);
        if op & (8 << 28) != 0 {
            // FUTEX_OP_OPARG_SHIFT
            if oparg > 31 {
                return Err(Errno::EINVAL);
            }
            oparg = 1 << oparg;
        }
        if opcode > 4 || cmp > 5 {
            return Err(Errno::ENOSYS);
        }
        let oparg = sign_extend_12(oparg);
        let cmparg = sign_extend_12(cmparg);
        let old = mm.atomic_update_u32(addr2, |old| {
            Some(match opcode {
                0 => oparg as u32,
                1 => old.wrapping_add(oparg as u32),
                2 => old | oparg as u32,
                3 => old & !(oparg as u32),
                _ => old ^ oparg as u32,
            })
        })?;
        let o = old as i32;
        let hit = match cmp {
            0 => o == cmparg,
            1 => o != cmparg,
            2 => o < cmparg,
            3 => o <= cmparg,
            4 => o > cmparg,
            _ => o >= cmparg,
        };
        let mut total = wake_locked(&mut q, key1, n, BITSET_ANY);
        if hit {
            total += wake_locked(&mut q, key2, n2, BITSET_ANY);
        }
        Ok(total)
    }
}

fn sign_extend_12(v: u32) -> i32 {
    ((v << 20) as i32) >> 20
}

fn wake_locked(q: &mut HashMap<FutexKey, Vec<Arc<Waiter>>>, key: FutexKey, n: u32, bitset: u32) -> u64 {
    let Some(v) = q.get_mut(&key) else { return 0 };
    let mut woken = 0u64;
    v.retain(|w| {
        if woken < n as u64 && w.bitset & bitset != 0 {
            w.woken.store(true, Ordering::SeqCst);
            w.waker.kick();
            woken += 1;
            false
        } else {
            true
        }
    });
    if v.is_empty() {
        q.remove(&key);
    }
    woken
}

fn remove_waiter(q: &mut HashMap<FutexKey, Vec<Arc<Waiter>>>, me: &Arc<Waiter>) {
    // The waiter may have been requeued to another key.
    let mut empty = None;
    for (k, v) in q.iter_mut() {
        let before = v.len();
        v.retain(|w| !Arc::ptr_eq(w, me));
        if v.len() != before {
            if v.is_empty() {
                empty = Some(*k);
            }
            break;
        }
    }
    if let Some(k) = empty {
        q.remove(&k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wake_op_arguments_sign_extend() {
        assert_eq!(sign_extend_12(0xfff), -1);
        assert_eq!(sign_extend_12(0x7ff), 2047);
    }

    #[test]
    fn wakes_respect_counts_and_bitsets() {
        let f = Futexes::default();
        let key = FutexKey::Private(1, 0x1000);
        let ws: Vec<Arc<Waiter>> = (0..3)
            .map(|i| {
                Arc::new(Waiter { waker: Arc::new(Waker::default()), bitset: 1 << i, woken: AtomicBool::new(false) })
            })
            .collect();
        lock(&f.queues).insert(key, ws.clone());
        assert_eq!(f.wake(key, 10, 0b110).unwrap(), 2);
        assert!(!ws[0].woken.load(Ordering::SeqCst));
        assert_eq!(f.wake(key, 1, BITSET_ANY).unwrap(), 1);
        assert!(lock(&f.queues).is_empty());
        assert_eq!(f.wake(key, 1, 0), Err(Errno::EINVAL));
    }
}
