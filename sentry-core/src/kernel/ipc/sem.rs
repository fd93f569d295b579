//! System V semaphore sets.
//!
//! `semop` applies its whole operation set or nothing ([`SemSet::try_apply`]
//! computes on a copy of the values and commits only if no operation
//! blocks or fails). A caller that must wait registers as a waiter of the
//! semaphore that stopped it (for `GETNCNT`/`GETZCNT`) and sleeps on the
//! namespace's semaphore queue; every change notifies the queue, and
//! waiters retry. Waiters are not served in FIFO order.
//!
//! `SEM_UNDO` adjustments are kept per process and set ([`UndoLists`]) and
//! applied when the process exits (clamped to `[0, SEMVMX]`, as Linux);
//! `SETVAL`/`SETALL` clear them, as Linux does.

use std::collections::HashMap;

use super::Table;
use crate::errno::Errno;

/// `SEMMSL`: most semaphores in a set.
pub const SEMMSL: i32 = 32000;
/// `SEMMNI`: most sets.
pub const SEMMNI: u32 = 32000;
/// `SEMMNS`: most semaphores in all sets.
pub const SEMMNS: i32 = SEMMNI as i32 * SEMMSL;
/// `SEMOPM`: most operations in one `semop` (Linux's current default).
pub const SEMOPM: usize = 500;
/// `SEMVMX`: largest semaphore value.
pub const SEMVMX: i32 = 32767;
/// `SEMAEM`: largest undo adjustment.
pub const SEMAEM: i32 = SEMVMX;

/// `SEM_UNDO` (in `sem_flg`).
pub const SEM_UNDO: i16 = 0x1000;

/// One operation (`struct sembuf`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SemBuf {
    pub num: u16,
    pub op: i16,
    pub flg: i16,
}

impl SemBuf {
    /// Decodes the 6-byte `struct sembuf`.
    pub fn decode(b: &[u8]) -> SemBuf {
        let h = |o: usize| [b.get(o).copied().unwrap_or(0), b.get(o + 1).copied().unwrap_or(0)];
        SemBuf { num: u16::from_le_bytes(h(0)), op: i16::from_le_bytes(h(2)), flg: i16::from_le_bytes(h(4)) }
    }
}

/// One semaphore.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sem {
    pub val: i32,
    /// The process that last changed it (`GETPID`).
    pub pid: i32,
}

/// A task waiting in `semop`: for `GETNCNT` (`zero` false) or `GETZCNT`.
#[derive(Clone, Copy, Debug)]
pub struct SemWaiter {
    pub id: u64,
    pub num: u16,
    pub zero: bool,
}

/// A semaphore set.
pub struct SemSet {
    pub sems: Vec<Sem>,
    pub otime: i64,
    pub ctime: i64,
    pub waiters: Vec<SemWaiter>,
}

/// Why an operation set could not be applied now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SemOutcome {
    /// It must wait for semaphore `num` (to grow, or with `zero` to be 0);
    /// `nowait` if that operation had `IPC_NOWAIT`.
    Blocked { num: u16, zero: bool, nowait: bool },
    /// It fails.
    Error(Errno),
}

impl SemSet {
    /// A set of `n` semaphores, all 0.
    pub fn new(n: usize) -> SemSet {
        SemSet { sems: vec![Sem::default(); n], otime: 0, ctime: super::now_secs(), waiters: Vec::new() }
    }

    /// Applies `ops` atomically on behalf of process `pid`: all of them or
    /// none. `undo` receives the adjustments of the `SEM_UNDO` operations
    /// (its length is the set's); it is changed only on success.
    pub fn try_apply(&mut self, ops: &[SemBuf], pid: i32, undo: Option<&mut Vec<i32>>) -> Result<(), SemOutcome> {
        let mut vals: Vec<i32> = self.sems.iter().map(|s| s.val).collect();
        let mut adj: Vec<i32> = undo.as_ref().map(|u| u.to_vec()).unwrap_or_default();
        adj.resize(vals.len(), 0);
        for o in ops {
            let i = o.num as usize;
            let Some(v) = vals.get_mut(i) else { return Err(SemOutcome::Error(Errno::EFBIG)) };
            let nowait = o.flg as i32 & super::IPC_NOWAIT != 0;
            let next = *v + o.op as i32;
            if o.op == 0 {
                if *v != 0 {
                    return Err(SemOutcome::Blocked { num: o.num, zero: true, nowait });
                }
                continue;
            }
            if next < 0 {
                return Err(SemOutcome::Blocked { num: o.num, zero: false, nowait });
            }
            if next > SEMVMX {
                return Err(SemOutcome::Error(Errno::ERANGE));
            }
            if o.flg & SEM_UNDO != 0 {
                let a = adj[i] - o.op as i32;
                if !(-SEMAEM - 1..=SEMAEM).contains(&a) {
                    return Err(SemOutcome::Error(Errno::ERANGE));
                }
                adj[i] = a;
            }
            *v = next;
        }
        for o in ops {
            if let Some(sem) = self.sems.get_mut(o.num as usize) {
                sem.pid = pid;
            }
        }
        for (s, v) in self.sems.iter_mut().zip(vals) {
            s.val = v;
        }
        if let Some(u) = undo {
            *u = adj;
        }
        self.otime = super::now_secs();
        Ok(())
    }

    /// `GETNCNT` (`zero` false) or `GETZCNT` of semaphore `num`.
    pub fn count_waiters(&self, num: u16, zero: bool) -> u64 {
        self.waiters.iter().filter(|w| w.num == num && w.zero == zero).count() as u64
    }

    /// Records waiter `w` (replacing its earlier record).
    pub fn set_waiter(&mut self, w: SemWaiter) {
        self.remove_waiter(w.id);
        self.waiters.push(w);
    }

    /// Forgets waiter `id`.
    pub fn remove_waiter(&mut self, id: u64) {
        self.waiters.retain(|w| w.id != id);
    }
}

/// Encodes `struct semid64_ds` (104 bytes on x86-64).
pub fn encode_ds(e: &super::Entry<SemSet>) -> Vec<u8> {
    let mut out = Vec::with_capacity(104);
    e.perm.encode(&mut out);
    let s = &e.obj;
    for v in [s.otime as u64, 0, s.ctime as u64, 0, s.sems.len() as u64, 0, 0] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// The `SEM_UNDO` adjustments of every process: (tgid, set id) → one
/// adjustment per semaphore.
#[derive(Default)]
pub struct UndoLists {
    lists: HashMap<(i32, i32), Vec<i32>>,
}

impl UndoLists {
    /// The adjustments of process `tgid` for set `id` (created empty).
    pub fn entry(&mut self, tgid: i32, id: i32) -> &mut Vec<i32> {
        self.lists.entry((tgid, id)).or_default()
    }

    /// Forgets set `id` (removed).
    pub fn forget_set(&mut self, id: i32) {
        self.lists.retain(|k, _| k.1 != id);
    }

    /// Clears the adjustments of semaphore `num` of set `id` (`None`: all
    /// of the set's) in every process.
    pub fn clear(&mut self, id: i32, num: Option<usize>) {
        for (k, v) in self.lists.iter_mut() {
            if k.1 != id {
                continue;
            }
            match num {
                Some(n) => {
                    if let Some(a) = v.get_mut(n) {
                        *a = 0;
                    }
                }
                None => v.iter_mut().for_each(|a| *a = 0),
            }
        }
    }

    /// Applies and forgets the adjustments of exited process `tgid`;
    /// true if a semaphore changed.
    pub fn apply_exit(&mut self, tgid: i32, sets: &mut Table<SemSet>) -> bool {
        let mine: Vec<(i32, Vec<i32>)> = {
            let keys: Vec<(i32, i32)> = self.lists.keys().filter(|k| k.0 == tgid).copied().collect();
            keys.into_iter().filter_map(|k| self.lists.remove(&k).map(|v| (k.1, v))).collect()
        };
        let mut changed = false;
        for (id, adj) in mine {
            let Ok(e) = sets.get_mut(id) else { continue };
            for (s, a) in e.obj.sems.iter_mut().zip(adj) {
                if a != 0 {
                    s.val = (s.val + a).clamp(0, SEMVMX);
                    s.pid = tgid;
                    changed = true;
                }
            }
            if changed {
                e.obj.otime = super::now_secs();
            }
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(num: u16, op: i16, flg: i16) -> SemBuf {
        SemBuf { num, op, flg }
    }

    fn vals(s: &SemSet) -> Vec<i32> {
        s.sems.iter().map(|s| s.val).collect()
    }

    #[test]
    fn operation_sets_are_all_or_nothing() {
        let mut s = SemSet::new(3);
        s.try_apply(&[op(0, 2, 0), op(1, 1, 0)], 7, None).unwrap();
        assert_eq!(vals(&s), [2, 1, 0]);
        // The second operation blocks: the first must not take effect.
        let r = s.try_apply(&[op(0, -1, 0), op(2, -1, 0)], 8, None);
        assert_eq!(r, Err(SemOutcome::Blocked { num: 2, zero: false, nowait: false }));
        assert_eq!(vals(&s), [2, 1, 0]);
        assert_eq!(s.sems[0].pid, 7);
        // Wait-for-zero blocks on a non-zero value, with IPC_NOWAIT noted.
        let r = s.try_apply(&[op(2, 1, 0), op(1, 0, super::super::IPC_NOWAIT as i16)], 8, None);
        assert_eq!(r, Err(SemOutcome::Blocked { num: 1, zero: true, nowait: true }));
        assert_eq!(vals(&s), [2, 1, 0]);
        // Operations see the effect of the earlier ones of the same set.
        s.try_apply(&[op(2, 1, 0), op(2, -1, 0), op(1, -1, 0), op(1, 0, 0)], 9, None).unwrap();
        assert_eq!(vals(&s), [2, 0, 0]);
        assert_eq!(s.sems[1].pid, 9);
        // A bad semaphore number fails the whole set.
        assert_eq!(s.try_apply(&[op(0, -1, 0), op(3, 1, 0)], 9, None), Err(SemOutcome::Error(Errno::EFBIG)));
        assert_eq!(vals(&s), [2, 0, 0]);
    }

    #[test]
    fn values_are_bounded() {
        let mut s = SemSet::new(1);
        s.try_apply(&[op(0, SEMVMX as i16, 0)], 1, None).unwrap();
        assert_eq!(s.try_apply(&[op(0, 1, 0)], 1, None), Err(SemOutcome::Error(Errno::ERANGE)));
        assert_eq!(vals(&s), [SEMVMX]);
    }

    #[test]
    fn undo_is_recorded_on_success_and_applied_at_exit() {
        let mut t: Table<SemSet> = Table::new(4);
        let id = t.insert(super::super::IpcPerm::new(0, 0o600, &crate::kernel::Credentials::new(0, 0)), SemSet::new(2));
        let id = id.unwrap();
        let mut undo = UndoLists::default();
        {
            let set = &mut t.get_mut(id).unwrap().obj;
            set.try_apply(&[op(0, 5, 0)], 1, None).unwrap();
            let u = undo.entry(42, id);
            set.try_apply(&[op(0, -2, SEM_UNDO), op(1, 3, SEM_UNDO)], 42, Some(u)).unwrap();
            assert_eq!(vals(set), [3, 3]);
            // A blocked set leaves the adjustments alone.
            let u = undo.entry(42, id);
            assert!(set.try_apply(&[op(1, 1, SEM_UNDO), op(0, -9, SEM_UNDO)], 42, Some(u)).is_err());
            assert_eq!(undo.entry(42, id), &vec![2, -3]);
        }
        assert!(!undo.apply_exit(41, &mut t));
        assert!(undo.apply_exit(42, &mut t));
        assert_eq!(vals(&t.get(id).unwrap().obj), [5, 0]);
        assert_eq!(t.get(id).unwrap().obj.sems[0].pid, 42);
        assert!(!undo.apply_exit(42, &mut t), "applied once");
    }

    #[test]
    fn waiters_are_counted() {
        let mut s = SemSet::new(2);
        s.set_waiter(SemWaiter { id: 1, num: 0, zero: false });
        s.set_waiter(SemWaiter { id: 2, num: 0, zero: true });
        s.set_waiter(SemWaiter { id: 1, num: 1, zero: false });
        assert_eq!((s.count_waiters(0, false), s.count_waiters(0, true), s.count_waiters(1, false)), (0, 1, 1));
        s.remove_waiter(2);
        assert_eq!(s.count_waiters(0, true), 0);
    }

    #[test]
    fn semid64_ds_has_the_x86_64_layout() {
        let perm = super::super::IpcPerm::new(1, 0o600, &crate::kernel::Credentials::new(0, 0));
        let ds = encode_ds(&super::super::Entry { perm, obj: SemSet::new(3) });
        assert_eq!(ds.len(), 104);
        assert_eq!(u64::from_le_bytes(ds[80..88].try_into().unwrap()), 3, "sem_nsems");
        assert_eq!(u32::from_le_bytes(ds[20..24].try_into().unwrap()), 0o600, "mode");
    }

    #[test]
    fn sembufs_decode() {
        assert_eq!(SemBuf::decode(&[1, 0, 0xff, 0xff, 0, 0x10]), op(1, -1, SEM_UNDO));
    }
}
