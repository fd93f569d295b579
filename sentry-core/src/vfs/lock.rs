//! Advisory file locks: `flock(2)` locks and record locks (`fcntl`
//! `F_SETLK` and friends, POSIX and open-file-description flavours).
//!
//! # Design
//!
//! One [`LockTable`] per kernel holds every lock, keyed by the identity of
//! the locked file, `(st_dev, st_ino)` ([`FileKey`], from
//! [`Inode::lock_key`](super::Inode::lock_key)). Keying by identity rather
//! than by inode object matters for the gofer file system, which creates a
//! new inode object on every lookup of the same host file.
//!
//! Locks have an [`Owner`]:
//!
//! * `flock` locks and OFD record locks belong to an open file description
//!   (a [`File`](super::File)), identified by the id of its
//!   [`DescriptionLocks`]. They are released when the description goes away
//!   (its last descriptor is closed): `DescriptionLocks` releases them when
//!   it is dropped.
//! * POSIX record locks belong to a process (thread group id). They are
//!   released when the process closes *any* descriptor of the file
//!   ([`LockTable::release_posix`], called by `close` and `dup2`) and when
//!   the process exits ([`LockTable::release_process`]).
//!
//! `flock` locks and record locks never conflict with each other (as in
//! Linux); POSIX and OFD record locks share one list and conflict with each
//! other when their owners differ. A record-lock request from an owner
//! first removes that owner's locks in the range (splitting them), then
//! adds the new lock and merges it with the owner's adjacent or overlapping
//! locks of the same type, as Linux's `posix_lock_inode` does.
//!
//! # Blocking
//!
//! Each locked file has a [`WaitQueue`], notified whenever a lock on it is
//! released or downgraded. Blocking requests (`flock` without `LOCK_NB`,
//! `F_SETLKW`, `F_OFD_SETLKW`) retry through the task's wait loop
//! ([`IoCtx::block`]), so a signal or the exit of the process interrupts
//! them (`ERESTARTSYS`). A file's entry (and queue) stays in the table while
//! it holds locks or while someone waits on its queue, so a waiter never
//! sleeps on a queue nobody notifies.
//!
//! Deadlock detection (`EDEADLK`) covers blocking POSIX requests, as in
//! Linux: the table remembers which process each blocked process waits for
//! and refuses a wait that would close a cycle (following at most
//! [`MAX_DEADLOCK_DEPTH`] edges).
//!
//! # Locking
//!
//! The table has one mutex, a leaf: nothing else is locked while it is
//! held (wait queues are notified after it is released). File descriptions
//! may therefore be dropped with any other lock held.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use super::IoCtx;
use crate::errno::Errno;
use crate::kernel::waiter::{events, WaitQueue};
use crate::mm::lock;

/// Identity of a locked file: `(st_dev, st_ino)`.
pub type FileKey = (u64, u64);

/// Largest file offset (`OFFSET_MAX`); a range ending here runs to the end
/// of the file, however large it grows.
pub const OFFSET_MAX: u64 = i64::MAX as u64;

/// Most wait-for edges followed when looking for a deadlock (Linux's
/// `MAX_DEADLK_ITERATIONS`).
pub const MAX_DEADLOCK_DEPTH: usize = 10;

/// Who holds a lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Owner {
    /// A POSIX record lock's owner: a process, by thread group id.
    Process(i32),
    /// An OFD record lock's or `flock` lock's owner: an open file
    /// description, by [`DescriptionLocks::id`].
    Description(u64),
}

/// Shared (read) or exclusive (write).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockType {
    Read,
    Write,
}

impl LockType {
    fn conflicts(self, other: LockType) -> bool {
        self == LockType::Write || other == LockType::Write
    }
}

/// A record lock on bytes `start..=end` (`end == OFFSET_MAX`: to the end of
/// the file).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordLock {
    pub owner: Owner,
    pub ty: LockType,
    pub start: u64,
    pub end: u64,
}

impl RecordLock {
    fn overlaps(&self, start: u64, end: u64) -> bool {
        self.start <= end && start <= self.end
    }

    /// The pid `F_GETLK` reports: the owning process, or -1 for an OFD
    /// lock.
    pub fn pid(&self) -> i32 {
        match self.owner {
            Owner::Process(p) => p,
            Owner::Description(_) => -1,
        }
    }
}

/// The locks of one file.
struct FileEntry {
    /// `flock` locks: (description id, type).
    flocks: Vec<(u64, LockType)>,
    /// POSIX and OFD record locks.
    records: Vec<RecordLock>,
    /// Notified when a lock is released or downgraded. Shared with waiters
    /// (an entry is not removed while a waiter holds its queue).
    queue: Arc<WaitQueue>,
}

impl FileEntry {
    fn new() -> FileEntry {
        FileEntry { flocks: Vec::new(), records: Vec::new(), queue: Arc::new(WaitQueue::new()) }
    }

    fn removable(&self) -> bool {
        self.flocks.is_empty() && self.records.is_empty() && Arc::strong_count(&self.queue) == 1
    }

    fn holds_posix(&self, tgid: i32) -> bool {
        self.records.iter().any(|r| r.owner == Owner::Process(tgid))
    }
}

#[derive(Default)]
struct Inner {
    files: HashMap<FileKey, FileEntry>,
    /// Files on which each process may hold POSIX locks (for release on
    /// close and exit without looking at every file).
    posix_files: HashMap<i32, HashSet<FileKey>>,
    /// Blocked POSIX requests: waiting process → a process holding a
    /// conflicting lock.
    waits_for: HashMap<i32, i32>,
}

impl Inner {
    /// Keeps `posix_files` of `tgid` in step with `key`'s records, and drops
    /// the entry of `key` once nothing refers to it.
    fn tidy(&mut self, key: FileKey, tgid: Option<i32>) {
        let Some(e) = self.files.get(&key) else { return };
        if let Some(p) = tgid {
            if e.holds_posix(p) {
                self.posix_files.entry(p).or_default().insert(key);
            } else if let Some(set) = self.posix_files.get_mut(&p) {
                set.remove(&key);
                if set.is_empty() {
                    self.posix_files.remove(&p);
                }
            }
        }
        if e.removable() {
            self.files.remove(&key);
        }
    }

    /// Ends a request on `key`: tidies, and returns the queue to notify if
    /// `released` and someone may be waiting (an entry with waiters is
    /// never removed).
    fn finish(&mut self, key: FileKey, tgid: Option<i32>, released: bool) -> Changed {
        self.tidy(key, tgid);
        Changed(self.files.get(&key).filter(|_| released).map(|e| e.queue.clone()))
    }
}

/// Every advisory lock of a kernel.
#[derive(Default)]
pub struct LockTable {
    inner: Mutex<Inner>,
}

/// What a request changed: whether waiters must be told.
#[must_use]
struct Changed(Option<Arc<WaitQueue>>);

impl Changed {
    fn notify(self) {
        if let Some(q) = self.0 {
            q.notify(events::ALL);
        }
    }
}

impl LockTable {
    /// An empty table.
    pub fn new() -> LockTable {
        LockTable::default()
    }

    /// The wait queue of `key`, creating its entry; the entry stays while
    /// the returned queue is held.
    fn queue(&self, key: FileKey) -> Arc<WaitQueue> {
        lock(&self.inner).files.entry(key).or_insert_with(FileEntry::new).queue.clone()
    }

    /// Drops `key`'s entry if it is no longer needed (after a wait).
    fn tidy(&self, key: FileKey) {
        lock(&self.inner).tidy(key, None);
    }

    /// Runs `attempt` once, or (with a blocking context) until it stops
    /// returning `EAGAIN`, sleeping on `key`'s queue in between.
    fn run<T>(
        &self,
        key: FileKey,
        wait: Option<&IoCtx>,
        mut attempt: impl FnMut() -> Result<T, Errno>,
    ) -> Result<T, Errno> {
        match wait {
            None => attempt(),
            Some(ctx) => {
                let q = self.queue(key);
                let r = ctx.block(&[&q], events::ALL, &mut attempt);
                drop(q);
                self.tidy(key);
                r
            }
        }
    }

    // ---- flock ----

    /// `flock`: takes a lock of type `ty` (`None`: unlocks) for description
    /// `desc` on `key`. A description's existing lock is replaced (and is
    /// gone even if the new one cannot be had, as in Linux). Conflicts give
    /// `EAGAIN`, or wait when `wait` is a blocking context.
    pub fn flock(&self, key: FileKey, desc: u64, ty: Option<LockType>, wait: Option<&IoCtx>) -> Result<(), Errno> {
        let Some(ty) = ty else {
            self.flock_try(key, desc, None).notify();
            return Ok(());
        };
        self.run(key, wait, || {
            let (r, changed) = self.flock_try_lock(key, desc, ty);
            changed.notify();
            r
        })
    }

    fn flock_try(&self, key: FileKey, desc: u64, ty: Option<LockType>) -> Changed {
        let mut inner = lock(&self.inner);
        let Some(e) = inner.files.get_mut(&key) else { return Changed(None) };
        let before = e.flocks.len();
        e.flocks.retain(|(d, t)| *d != desc || Some(*t) == ty);
        let released = e.flocks.len() != before;
        inner.finish(key, None, released)
    }

    fn flock_try_lock(&self, key: FileKey, desc: u64, ty: LockType) -> (Result<(), Errno>, Changed) {
        let mut inner = lock(&self.inner);
        let e = inner.files.entry(key).or_insert_with(FileEntry::new);
        if e.flocks.iter().any(|&(d, t)| d == desc && t == ty) {
            return (Ok(()), Changed(None));
        }
        // Drop a lock of the other type first (conversion is not atomic).
        let before = e.flocks.len();
        e.flocks.retain(|(d, _)| *d != desc);
        let released = e.flocks.len() != before;
        if e.flocks.iter().any(|&(d, t)| d != desc && t.conflicts(ty)) {
            return (Err(Errno::EAGAIN), inner.finish(key, None, released));
        }
        e.flocks.push((desc, ty));
        (Ok(()), inner.finish(key, None, released))
    }

    // ---- record locks ----

    /// `F_GETLK`: the first lock of another owner that conflicts with a
    /// `ty` lock of `owner` on `start..=end`, if any.
    pub fn test_record(&self, key: FileKey, owner: Owner, ty: LockType, start: u64, end: u64) -> Option<RecordLock> {
        let inner = lock(&self.inner);
        let e = inner.files.get(&key)?;
        e.records.iter().find(|r| r.owner != owner && r.overlaps(start, end) && r.ty.conflicts(ty)).copied()
    }

    /// `F_SETLK`/`F_SETLKW`: sets (`Some`) or clears (`None`) `owner`'s lock
    /// on `start..=end`. Conflicts give `EAGAIN`, or wait when `wait` is a
    /// blocking context; a wait that would deadlock gives `EDEADLK`.
    pub fn set_record(
        &self,
        key: FileKey,
        owner: Owner,
        ty: Option<LockType>,
        start: u64,
        end: u64,
        wait: Option<&IoCtx>,
    ) -> Result<(), Errno> {
        if start > end {
            return Err(Errno::EINVAL);
        }
        let blocking = wait.is_some();
        let r = self.run(key, wait, || {
            let (r, changed) = self.record_try(key, owner, ty, start, end, blocking);
            changed.notify();
            r
        });
        if let (true, Owner::Process(p)) = (blocking, owner) {
            lock(&self.inner).waits_for.remove(&p);
        }
        r
    }

    fn record_try(
        &self,
        key: FileKey,
        owner: Owner,
        ty: Option<LockType>,
        start: u64,
        end: u64,
        blocking: bool,
    ) -> (Result<(), Errno>, Changed) {
        let mut guard = lock(&self.inner);
        let inner = &mut *guard;
        let tgid = match owner {
            Owner::Process(p) => Some(p),
            Owner::Description(_) => None,
        };
        if ty.is_none() && !inner.files.contains_key(&key) {
            return (Ok(()), Changed(None));
        }
        let e = inner.files.entry(key).or_insert_with(FileEntry::new);
        if let Some(ty) = ty {
            let blocker =
                e.records.iter().find(|r| r.owner != owner && r.overlaps(start, end) && r.ty.conflicts(ty)).copied();
            if let Some(b) = blocker {
                if let (true, Some(me), Owner::Process(them)) = (blocking, tgid, b.owner) {
                    if deadlocks(&inner.waits_for, me, them) {
                        inner.waits_for.remove(&me);
                        return (Err(Errno::EDEADLK), inner.finish(key, None, false));
                    }
                    inner.waits_for.insert(me, them);
                }
                return (Err(Errno::EAGAIN), inner.finish(key, None, false));
            }
        }
        let old = std::mem::take(&mut e.records);
        let (mine, mut others): (Vec<RecordLock>, Vec<RecordLock>) = old.into_iter().partition(|r| r.owner == owner);
        let (new_mine, released) = apply(&mine, owner, ty, start, end);
        others.extend(new_mine);
        e.records = others;
        (Ok(()), inner.finish(key, tgid, released))
    }

    // ---- release ----

    /// Releases every lock of description `desc` on `key` (`flock` and
    /// OFD locks): its last descriptor was closed.
    pub fn release_description(&self, key: FileKey, desc: u64) {
        let mut inner = lock(&self.inner);
        let Some(e) = inner.files.get_mut(&key) else { return };
        let before = e.flocks.len() + e.records.len();
        e.flocks.retain(|(d, _)| *d != desc);
        e.records.retain(|r| r.owner != Owner::Description(desc));
        let released = e.flocks.len() + e.records.len() != before;
        let changed = inner.finish(key, None, released);
        drop(inner);
        changed.notify();
    }

    /// Whether process `tgid` may hold POSIX locks (a cheap test for
    /// `close`).
    pub fn has_posix(&self, tgid: i32) -> bool {
        lock(&self.inner).posix_files.contains_key(&tgid)
    }

    /// Releases process `tgid`'s POSIX locks on `key`: it closed a
    /// descriptor of the file.
    pub fn release_posix(&self, key: FileKey, tgid: i32) {
        let mut inner = lock(&self.inner);
        let changed = Self::release_posix_locked(&mut inner, key, tgid);
        drop(inner);
        changed.notify();
    }

    fn release_posix_locked(inner: &mut Inner, key: FileKey, tgid: i32) -> Changed {
        let Some(e) = inner.files.get_mut(&key) else { return Changed(None) };
        let before = e.records.len();
        e.records.retain(|r| r.owner != Owner::Process(tgid));
        let released = e.records.len() != before;
        inner.finish(key, Some(tgid), released)
    }

    /// Releases every POSIX lock of process `tgid` (it exited).
    pub fn release_process(&self, tgid: i32) {
        let mut inner = lock(&self.inner);
        let keys: Vec<FileKey> = inner.posix_files.get(&tgid).map(|s| s.iter().copied().collect()).unwrap_or_default();
        let changes: Vec<Changed> = keys.into_iter().map(|k| Self::release_posix_locked(&mut inner, k, tgid)).collect();
        inner.posix_files.remove(&tgid);
        inner.waits_for.remove(&tgid);
        drop(inner);
        for c in changes {
            c.notify();
        }
    }

    /// Number of files with an entry (for tests).
    pub fn files(&self) -> usize {
        lock(&self.inner).files.len()
    }
}

/// Whether process `me` waiting for `them` closes a cycle of waits.
fn deadlocks(waits_for: &HashMap<i32, i32>, me: i32, them: i32) -> bool {
    let mut cur = them;
    for _ in 0..MAX_DEADLOCK_DEPTH {
        if cur == me {
            return true;
        }
        match waits_for.get(&cur) {
            Some(&next) => cur = next,
            None => return false,
        }
    }
    false
}

/// Applies a request of `owner` (whose current locks are `mine`) on
/// `start..=end`: removes `mine` from the range, adds the new lock and
/// merges same-type neighbours. Returns the new locks of `owner` and
/// whether anything was released or downgraded (waiters may proceed).
fn apply(mine: &[RecordLock], owner: Owner, ty: Option<LockType>, start: u64, end: u64) -> (Vec<RecordLock>, bool) {
    let mut out = Vec::with_capacity(mine.len() + 2);
    let mut released = false;
    for r in mine {
        if !r.overlaps(start, end) {
            out.push(*r);
            continue;
        }
        // The part of `r` inside the range is replaced: a release unless it
        // is re-locked as a write lock (or stays a read lock).
        match (r.ty, ty) {
            (_, None) | (LockType::Write, Some(LockType::Read)) => released = true,
            _ => {}
        }
        if r.start < start {
            out.push(RecordLock { end: start - 1, ..*r });
        }
        if r.end > end {
            out.push(RecordLock { start: end + 1, ..*r });
        }
    }
    if let Some(ty) = ty {
        out.push(RecordLock { owner, ty, start, end });
    }
    out.sort_by_key(|r| r.start);
    // Merge overlapping or adjacent locks of the same type.
    let mut merged: Vec<RecordLock> = Vec::with_capacity(out.len());
    for r in out {
        let absorbed = merged.iter_mut().any(|m| {
            let touches = m.ty == r.ty && r.start <= m.end.saturating_add(1) && m.start <= r.end.saturating_add(1);
            if touches {
                m.start = m.start.min(r.start);
                m.end = m.end.max(r.end);
            }
            touches
        });
        if !absorbed {
            merged.push(r);
        }
    }
    (merged, released)
}

static NEXT_DESCRIPTION: AtomicU64 = AtomicU64::new(1);

/// The lock identity of an open file description, which releases its
/// `flock` and OFD locks when dropped with the description.
pub struct DescriptionLocks {
    id: u64,
    held: OnceLock<(Weak<LockTable>, FileKey)>,
}

impl Default for DescriptionLocks {
    fn default() -> Self {
        DescriptionLocks::new()
    }
}

impl DescriptionLocks {
    /// A new identity.
    pub fn new() -> DescriptionLocks {
        DescriptionLocks { id: NEXT_DESCRIPTION.fetch_add(1, Ordering::Relaxed), held: OnceLock::new() }
    }

    /// The owner id of this description's locks.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Records that this description may hold locks on `key` in `table`
    /// (call before taking one), so that they are released with it.
    pub fn note(&self, table: &Arc<LockTable>, key: FileKey) {
        let _ = self.held.set((Arc::downgrade(table), key));
    }
}

impl Drop for DescriptionLocks {
    fn drop(&mut self) {
        if let Some((table, key)) = self.held.get() {
            if let Some(t) = table.upgrade() {
                t.release_description(*key, self.id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::waiter::Waker;
    use std::sync::atomic::AtomicBool;
    use std::time::Duration;

    const K: FileKey = (1, 42);
    const A: Owner = Owner::Process(100);
    const B: Owner = Owner::Process(200);

    fn records(t: &LockTable, key: FileKey) -> Vec<RecordLock> {
        let i = lock(&t.inner);
        let mut v = i.files.get(&key).map(|e| e.records.clone()).unwrap_or_default();
        v.sort_by_key(|r| (r.start, r.end));
        v
    }

    fn rl(owner: Owner, ty: LockType, start: u64, end: u64) -> RecordLock {
        RecordLock { owner, ty, start, end }
    }

    #[test]
    fn posix_locks_conflict_between_processes_only() {
        let t = LockTable::new();
        t.set_record(K, A, Some(LockType::Write), 0, 99, None).unwrap();
        // The owner itself sees no conflict and may re-lock.
        assert_eq!(t.test_record(K, A, LockType::Write, 0, 10), None);
        t.set_record(K, A, Some(LockType::Read), 50, 60, None).unwrap();
        // Another process conflicts with the write parts only.
        assert_eq!(t.test_record(K, B, LockType::Read, 50, 60), None);
        assert_eq!(t.test_record(K, B, LockType::Read, 10, 20), Some(rl(A, LockType::Write, 0, 49)));
        assert_eq!(t.set_record(K, B, Some(LockType::Read), 40, 55, None), Err(Errno::EAGAIN));
        t.set_record(K, B, Some(LockType::Read), 55, 60, None).unwrap();
        assert_eq!(t.set_record(K, B, Some(LockType::Write), 150, OFFSET_MAX, None), Ok(()));
        assert_eq!(t.test_record(K, A, LockType::Read, 1000, 1000).map(|r| r.pid()), Some(200));
        assert!(t.has_posix(100) && t.has_posix(200));
        t.release_posix(K, 200);
        assert!(!t.has_posix(200));
        assert_eq!(
            records(&t, K),
            vec![rl(A, LockType::Write, 0, 49), rl(A, LockType::Read, 50, 60), rl(A, LockType::Write, 61, 99)]
        );
        t.release_process(100);
        assert_eq!(t.files(), 0, "empty entries are dropped");
        assert!(!t.has_posix(100));
    }

    #[test]
    fn unlocking_splits_and_relocking_merges() {
        let t = LockTable::new();
        t.set_record(K, A, Some(LockType::Write), 0, OFFSET_MAX, None).unwrap();
        t.set_record(K, A, None, 10, 19, None).unwrap();
        assert_eq!(records(&t, K), vec![rl(A, LockType::Write, 0, 9), rl(A, LockType::Write, 20, OFFSET_MAX)]);
        assert_eq!(t.test_record(K, B, LockType::Write, 10, 19), None);
        t.set_record(K, A, Some(LockType::Write), 10, 19, None).unwrap();
        assert_eq!(records(&t, K), vec![rl(A, LockType::Write, 0, OFFSET_MAX)]);
        // Adjacent locks of one type merge; of different types they do not.
        let t = LockTable::new();
        t.set_record(K, A, Some(LockType::Read), 0, 9, None).unwrap();
        t.set_record(K, A, Some(LockType::Read), 10, 19, None).unwrap();
        t.set_record(K, A, Some(LockType::Write), 20, 29, None).unwrap();
        assert_eq!(records(&t, K), vec![rl(A, LockType::Read, 0, 19), rl(A, LockType::Write, 20, 29)]);
        assert_eq!(t.set_record(K, A, Some(LockType::Read), 5, 4, None), Err(Errno::EINVAL));
    }

    #[test]
    fn ofd_locks_belong_to_descriptions_and_conflict_with_posix() {
        let t = Arc::new(LockTable::new());
        let d1 = DescriptionLocks::new();
        let d2 = DescriptionLocks::new();
        d1.note(&t, K);
        d2.note(&t, K);
        let (o1, o2) = (Owner::Description(d1.id()), Owner::Description(d2.id()));
        t.set_record(K, o1, Some(LockType::Write), 0, 9, None).unwrap();
        // Same process, other description: a conflict.
        assert_eq!(t.set_record(K, o2, Some(LockType::Write), 5, 5, None), Err(Errno::EAGAIN));
        assert_eq!(t.test_record(K, A, LockType::Read, 0, 0).map(|r| r.pid()), Some(-1));
        assert_eq!(t.set_record(K, A, Some(LockType::Read), 0, 0, None), Err(Errno::EAGAIN));
        // Closing a descriptor of the process does not touch OFD locks.
        t.release_posix(K, 100);
        assert_eq!(t.set_record(K, o2, Some(LockType::Write), 5, 5, None), Err(Errno::EAGAIN));
        drop(d1);
        t.set_record(K, o2, Some(LockType::Write), 5, 5, None).unwrap();
        drop(d2);
        assert_eq!(t.files(), 0);
    }

    #[test]
    fn flock_shares_excludes_converts_and_releases_with_the_description() {
        let t = Arc::new(LockTable::new());
        let (d1, d2, d3) = (DescriptionLocks::new(), DescriptionLocks::new(), DescriptionLocks::new());
        for d in [&d1, &d2, &d3] {
            d.note(&t, K);
        }
        t.flock(K, d1.id(), Some(LockType::Read), None).unwrap();
        t.flock(K, d2.id(), Some(LockType::Read), None).unwrap();
        assert_eq!(t.flock(K, d3.id(), Some(LockType::Write), None), Err(Errno::EAGAIN));
        // An upgrade that fails loses the old lock (as Linux).
        assert_eq!(t.flock(K, d1.id(), Some(LockType::Write), None), Err(Errno::EAGAIN));
        t.flock(K, d2.id(), None, None).unwrap();
        t.flock(K, d1.id(), Some(LockType::Write), None).unwrap();
        assert_eq!(t.flock(K, d3.id(), Some(LockType::Read), None), Err(Errno::EAGAIN));
        // flock and record locks are independent.
        t.set_record(K, A, Some(LockType::Write), 0, OFFSET_MAX, None).unwrap();
        t.release_posix(K, 100);
        drop(d1);
        t.flock(K, d3.id(), Some(LockType::Write), None).unwrap();
        drop(d3);
        drop(d2);
        assert_eq!(t.files(), 0);
    }

    /// A blocking context on a fresh waker, interrupted when `stop` is set.
    fn with_ctx<R>(stop: &AtomicBool, f: impl FnOnce(&IoCtx) -> R) -> R {
        let waker = Arc::new(Waker::default());
        let interrupted = || stop.load(Ordering::SeqCst);
        f(&IoCtx { nonblock: false, mm: None, interrupted: &interrupted, waker: Some(&waker) })
    }

    #[test]
    fn blocking_requests_wait_for_release() {
        let t = Arc::new(LockTable::new());
        t.set_record(K, A, Some(LockType::Write), 0, 0, None).unwrap();
        let d = DescriptionLocks::new();
        d.note(&t, K);
        t.flock(K, d.id(), Some(LockType::Write), None).unwrap();
        let t2 = t.clone();
        let posix = std::thread::spawn(move || {
            let stop = AtomicBool::new(false);
            with_ctx(&stop, |ctx| t2.set_record(K, B, Some(LockType::Read), 0, 10, Some(ctx)))
        });
        let t3 = t.clone();
        let fl = std::thread::spawn(move || {
            let stop = AtomicBool::new(false);
            let d2 = DescriptionLocks::new();
            with_ctx(&stop, |ctx| t3.flock(K, d2.id(), Some(LockType::Read), Some(ctx)))
        });
        std::thread::sleep(Duration::from_millis(50));
        assert!(!posix.is_finished() && !fl.is_finished());
        t.release_process(100);
        assert_eq!(posix.join().unwrap(), Ok(()));
        assert_eq!(t.test_record(K, A, LockType::Write, 5, 5).map(|r| r.owner), Some(B));
        drop(d);
        assert_eq!(fl.join().unwrap(), Ok(()));
    }

    #[test]
    fn waits_end_on_interruption_and_deadlocks_are_refused() {
        let t = Arc::new(LockTable::new());
        t.set_record(K, A, Some(LockType::Write), 0, 0, None).unwrap();
        t.set_record(K, B, Some(LockType::Write), 1, 1, None).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (t2, s2) = (t.clone(), stop.clone());
        // B waits for A's byte 0 ...
        let waiter = std::thread::spawn(move || {
            with_ctx(&s2, |ctx| t2.set_record(K, B, Some(LockType::Write), 0, 0, Some(ctx)))
        });
        std::thread::sleep(Duration::from_millis(50));
        // ... so A waiting for B's byte 1 would deadlock.
        let never = AtomicBool::new(false);
        let r = with_ctx(&never, |ctx| t.set_record(K, A, Some(LockType::Write), 1, 1, Some(ctx)));
        assert_eq!(r, Err(Errno::EDEADLK));
        // Without LOCK_NB-style blocking there is no deadlock to detect.
        assert_eq!(t.set_record(K, A, Some(LockType::Write), 1, 1, None), Err(Errno::EAGAIN));
        stop.store(true, Ordering::SeqCst);
        // The waiter notices once woken: any notification of the queue does.
        t.set_record(K, A, Some(LockType::Read), 5, 5, None).unwrap();
        t.set_record(K, A, None, 5, 5, None).unwrap();
        assert_eq!(waiter.join().unwrap(), Err(Errno::ERESTARTSYS));
        assert!(lock(&t.inner).waits_for.is_empty());
        t.release_process(100);
        t.release_process(200);
        assert_eq!(t.files(), 0, "the waiter's queue reference is gone");
    }
}
