//! epoll: an interest list and a ready list.
//!
//! Each watched file is an [`Item`] keyed, as in Linux, by (descriptor
//! number, file description). The item registers itself as a
//! [`Notify`] on the file's wait queue; a notification whose events meet
//! the item's interest puts the item on the ready list (once) and wakes
//! the epoll's own queue, on which `epoll_wait` callers and outer epolls
//! (or `poll`) wait.
//!
//! The ready list holds candidates; [`Epoll::harvest`] re-checks each
//! candidate's current readiness, so a stale notification reports nothing.
//! A reported level-triggered item goes back to the tail of the list (it is
//! checked again next time, and dropped once no longer ready); an
//! edge-triggered one (`EPOLLET`) only returns with the next notification;
//! a one-shot one (`EPOLLONESHOT`) is disabled until `EPOLL_CTL_MOD`.
//!
//! Items hold their file weakly, so closing the last descriptor of a file
//! really releases it (and its wait queue, with the registration): the
//! item is then dead and dropped when next seen, which is when Linux would
//! have removed it. Descriptors still open on the same description keep it
//! watched, as in Linux.
//!
//! # Locking
//!
//! `items` serialises `epoll_ctl` and `epoll_wait`'s harvest (Linux's
//! `ep->mtx`); it is held while calling the watched files' `readiness` and
//! registering on their queues, never while sleeping. `ready` and each
//! item's configuration are leaves. A notification takes only `ready` (and
//! an item's configuration), so waking an epoll from a file's queue never
//! waits for an `epoll_ctl`. Loops of epolls watching each other are
//! refused (`ELOOP`), so readiness checks of nested epolls terminate.

use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use crate::errno::Errno;
use crate::kernel::waiter::{events, Notify, WaitQueue};
use crate::mm::lock;
use crate::vfs::{File, FileOps, IoCtx};

/// `EPOLLET`.
pub const EPOLLET: u32 = 1 << 31;
/// `EPOLLONESHOT`.
pub const EPOLLONESHOT: u32 = 1 << 30;
/// `EPOLLWAKEUP`.
pub const EPOLLWAKEUP: u32 = 1 << 29;
/// `EPOLLEXCLUSIVE`.
pub const EPOLLEXCLUSIVE: u32 = 1 << 28;
/// Flags that are not events.
const PRIVATE_BITS: u32 = EPOLLET | EPOLLONESHOT | EPOLLWAKEUP | EPOLLEXCLUSIVE;
/// How deep epolls may watch epolls (Linux's `EP_MAX_NESTS`).
const MAX_NESTS: usize = 4;

/// `(descriptor, address of the file description)`.
type Key = (i32, usize);

/// One watched file.
struct Item {
    me: Weak<Item>,
    key: Key,
    epoll: Weak<Epoll>,
    file: Weak<File>,
    /// The registration on the file's wait queue.
    registration: AtomicU64,
    /// `(events, data)` of the `epoll_event`.
    conf: Mutex<(u32, u64)>,
    /// On the ready list.
    queued: AtomicBool,
    /// Deleted (`EPOLL_CTL_DEL` or the epoll is gone).
    removed: AtomicBool,
}

impl Item {
    /// The events the item currently reports.
    fn interest(&self) -> u32 {
        lock(&self.conf).0 & !PRIVATE_BITS
    }

    fn unregister(&self) {
        self.removed.store(true, Ordering::SeqCst);
        if let Some(f) = self.file.upgrade() {
            if let Some(q) = f.ops().wait_queue() {
                q.unregister(self.registration.load(Ordering::SeqCst));
            }
        }
    }
}

impl Notify for Item {
    fn notify(&self, ev: u32) {
        if self.removed.load(Ordering::SeqCst) || ev & self.interest() == 0 {
            return;
        }
        if let (Some(ep), Some(me)) = (self.epoll.upgrade(), self.me.upgrade()) {
            ep.enqueue(me);
        }
    }
}

/// An epoll instance.
#[derive(Default)]
pub struct Epoll {
    items: Mutex<HashMap<Key, Arc<Item>>>,
    ready: Mutex<VecDeque<Arc<Item>>>,
    queue: WaitQueue,
}

/// The epoll behind `file`, if it is one.
pub fn epoll_of(file: &File) -> Option<&Arc<Epoll>> {
    file.ops().as_any()?.downcast_ref::<EpollFile>().map(|e| &e.0)
}

fn key_of(fd: i32, file: &Arc<File>) -> Key {
    (fd, Arc::as_ptr(file) as usize)
}

impl Epoll {
    /// A new, empty instance.
    pub fn new() -> Arc<Epoll> {
        Arc::new(Epoll::default())
    }

    fn enqueue(&self, item: Arc<Item>) {
        if !item.queued.swap(true, Ordering::SeqCst) {
            lock(&self.ready).push_back(item);
        }
        self.queue.notify(events::READABLE);
    }

    /// Queues `item` if `file` is ready for it now.
    fn check(&self, item: &Arc<Item>, file: &File) {
        let mask = item.interest();
        if mask != 0 && file.ops().readiness(mask) & mask != 0 {
            self.enqueue(item.clone());
        }
    }

    /// Whether adding `inner` to `self` would close a loop of epolls or
    /// nest them too deeply.
    pub fn would_loop(&self, inner: &Epoll) -> bool {
        fn reach(me: &Epoll, from: &Epoll, depth: usize) -> bool {
            if std::ptr::eq(me, from) || depth > MAX_NESTS {
                return true;
            }
            let files: Vec<Arc<File>> = lock(&from.items).values().filter_map(|i| i.file.upgrade()).collect();
            files.iter().any(|f| epoll_of(f).is_some_and(|e| reach(me, e, depth + 1)))
        }
        reach(self, inner, 1)
    }

    /// `EPOLL_CTL_ADD`. `file` must have a wait queue (`EPERM`).
    pub fn add(self: &Arc<Self>, fd: i32, file: &Arc<File>, ev: u32, data: u64) -> Result<(), Errno> {
        let queue = file.ops().wait_queue().ok_or(Errno::EPERM)?;
        let key = key_of(fd, file);
        let mut items = lock(&self.items);
        if items.get(&key).is_some_and(|i| i.file.strong_count() > 0) {
            return Err(Errno::EEXIST);
        }
        let item = Arc::new_cyclic(|me| Item {
            me: me.clone(),
            key,
            epoll: Arc::downgrade(self),
            file: Arc::downgrade(file),
            registration: AtomicU64::new(0),
            conf: Mutex::new((ev | events::POLLERR | events::POLLHUP, data)),
            queued: AtomicBool::new(false),
            removed: AtomicBool::new(false),
        });
        let id = queue.register(item.clone(), events::ALL);
        item.registration.store(id, Ordering::SeqCst);
        items.insert(key, item.clone());
        self.check(&item, file);
        Ok(())
    }

    fn live_item(items: &HashMap<Key, Arc<Item>>, key: &Key) -> Result<Arc<Item>, Errno> {
        items.get(key).filter(|i| i.file.strong_count() > 0).cloned().ok_or(Errno::ENOENT)
    }

    /// `EPOLL_CTL_MOD`.
    pub fn modify(&self, fd: i32, file: &Arc<File>, ev: u32, data: u64) -> Result<(), Errno> {
        let items = lock(&self.items);
        let item = Self::live_item(&items, &key_of(fd, file))?;
        *lock(&item.conf) = (ev | events::POLLERR | events::POLLHUP, data);
        self.check(&item, file);
        Ok(())
    }

    /// `EPOLL_CTL_DEL`.
    pub fn delete(&self, fd: i32, file: &Arc<File>) -> Result<(), Errno> {
        let mut items = lock(&self.items);
        let key = key_of(fd, file);
        let item = Self::live_item(&items, &key)?;
        items.remove(&key);
        drop(items);
        item.unregister();
        Ok(())
    }

    /// Takes up to `max` ready events as `(events, data)`.
    pub fn harvest(&self, max: usize) -> Vec<(u32, u64)> {
        let mut items = lock(&self.items);
        let batch: Vec<Arc<Item>> = lock(&self.ready).drain(..).collect();
        let mut out = Vec::new();
        let mut unprocessed = Vec::new();
        let mut again = Vec::new();
        for item in batch {
            if out.len() >= max {
                unprocessed.push(item);
                continue;
            }
            // Cleared before the check: a notification from now on queues
            // the item again.
            item.queued.store(false, Ordering::SeqCst);
            if item.removed.load(Ordering::SeqCst) {
                continue;
            }
            let Some(file) = item.file.upgrade() else {
                if items.get(&item.key).is_some_and(|i| Arc::ptr_eq(i, &item)) {
                    items.remove(&item.key);
                }
                item.removed.store(true, Ordering::SeqCst);
                continue;
            };
            let (ev, data) = *lock(&item.conf);
            let mask = ev & !PRIVATE_BITS;
            let r = if mask == 0 { 0 } else { file.ops().readiness(mask) & mask };
            if r == 0 {
                continue;
            }
            out.push((r, data));
            if ev & EPOLLONESHOT != 0 {
                lock(&item.conf).0 &= PRIVATE_BITS;
            } else if ev & EPOLLET == 0 {
                again.push(item);
            }
        }
        if !unprocessed.is_empty() || !again.is_empty() {
            let mut ready = lock(&self.ready);
            for item in unprocessed.into_iter().rev() {
                ready.push_front(item);
            }
            for item in again {
                if !item.queued.swap(true, Ordering::SeqCst) {
                    ready.push_back(item);
                }
            }
        }
        drop(items);
        out
    }

    /// `epoll_wait`: waits until events are ready, the deadline passes or
    /// the task is interrupted (`ERESTARTSYS`). `zero`: do not wait.
    pub fn wait(
        &self,
        ctx: &IoCtx,
        max: usize,
        deadline: Option<Instant>,
        zero: bool,
    ) -> Result<Vec<(u32, u64)>, Errno> {
        let ctx = IoCtx { nonblock: false, ..*ctx };
        let r = ctx.block_until(&[&self.queue], events::ALL, deadline, || {
            let v = self.harvest(max);
            if v.is_empty() && !zero {
                Err(Errno::EAGAIN)
            } else {
                Ok(v)
            }
        });
        match r {
            Err(Errno::ETIMEDOUT) => Ok(Vec::new()),
            r => r,
        }
    }

    /// Readable when a ready-list candidate is really ready.
    fn readiness(&self) -> u32 {
        let candidates: Vec<Arc<Item>> = lock(&self.ready).iter().cloned().collect();
        let ready = candidates.iter().any(|item| {
            let mask = item.interest();
            !item.removed.load(Ordering::SeqCst)
                && mask != 0
                && item.file.upgrade().is_some_and(|f| f.ops().readiness(mask) & mask != 0)
        });
        if ready {
            events::READABLE
        } else {
            0
        }
    }
}

impl Drop for Epoll {
    fn drop(&mut self) {
        let items: Vec<Arc<Item>> =
            self.items.get_mut().unwrap_or_else(|e| e.into_inner()).drain().map(|(_, i)| i).collect();
        for item in items {
            item.unregister();
        }
    }
}

/// The file operations of an epoll descriptor.
pub struct EpollFile(pub Arc<Epoll>);

impl FileOps for EpollFile {
    fn read(&self, _: &IoCtx, _: u64, _: &mut [u8]) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }

    fn write(&self, _: &IoCtx, _: u64, _: &[u8]) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }

    fn readiness(&self, mask: u32) -> u32 {
        self.0.readiness() & mask
    }

    fn noop_seek(&self) -> bool {
        true
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.0.queue)
    }

    fn as_any(&self) -> Option<&dyn Any> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::pipe::new_pipe;
    use crate::vfs::{flags, Creds};

    fn pipe() -> (Arc<File>, Arc<File>) {
        let (r, w) = new_pipe(Creds::default(), flags::O_NONBLOCK).unwrap();
        (Arc::new(r), Arc::new(w))
    }

    fn put(w: &File, data: &[u8]) {
        assert_eq!(w.write(&IoCtx::internal(), data, None), Ok(data.len()));
    }

    fn take(r: &File, n: usize) {
        let mut b = vec![0u8; n];
        assert_eq!(r.read(&IoCtx::internal(), &mut b, None), Ok(n));
    }

    #[test]
    fn level_triggered_reports_until_drained() {
        let ep = Epoll::new();
        let (r, w) = pipe();
        ep.add(3, &r, events::POLLIN, 0x1122_3344_5566_7788).unwrap();
        assert_eq!(ep.add(3, &r, events::POLLIN, 0), Err(Errno::EEXIST));
        assert!(ep.harvest(8).is_empty());
        put(&w, b"ab");
        assert_eq!(ep.harvest(8), vec![(events::POLLIN, 0x1122_3344_5566_7788)]);
        assert_eq!(ep.harvest(8).len(), 1, "still readable");
        take(&r, 2);
        assert!(ep.harvest(8).is_empty());
        drop(w);
        assert_eq!(ep.harvest(8), vec![(events::POLLHUP, 0x1122_3344_5566_7788)]);
    }

    #[test]
    fn edge_triggered_reports_each_change_once() {
        let ep = Epoll::new();
        let (r, w) = pipe();
        ep.add(3, &r, events::POLLIN | EPOLLET, 7).unwrap();
        put(&w, b"a");
        assert_eq!(ep.harvest(8).len(), 1);
        assert!(ep.harvest(8).is_empty(), "no new edge");
        put(&w, b"b");
        assert_eq!(ep.harvest(8), vec![(events::POLLIN, 7)]);
    }

    #[test]
    fn oneshot_disables_until_modified() {
        let ep = Epoll::new();
        let (r, w) = pipe();
        ep.add(3, &r, events::POLLIN | EPOLLONESHOT, 1).unwrap();
        put(&w, b"a");
        assert_eq!(ep.harvest(8).len(), 1);
        put(&w, b"b");
        assert!(ep.harvest(8).is_empty());
        ep.modify(3, &r, events::POLLIN | EPOLLONESHOT, 2).unwrap();
        assert_eq!(ep.harvest(8), vec![(events::POLLIN, 2)]);
        ep.delete(3, &r).unwrap();
        assert_eq!(ep.delete(3, &r), Err(Errno::ENOENT));
        assert_eq!(ep.modify(3, &r, events::POLLIN, 0), Err(Errno::ENOENT));
    }

    #[test]
    fn max_events_rotates_level_triggered_items() {
        let ep = Epoll::new();
        let (r1, w1) = pipe();
        let (r2, w2) = pipe();
        ep.add(3, &r1, events::POLLIN, 1).unwrap();
        ep.add(5, &r2, events::POLLIN, 2).unwrap();
        put(&w1, b"x");
        put(&w2, b"y");
        assert_eq!(ep.harvest(1), vec![(events::POLLIN, 1)]);
        assert_eq!(ep.harvest(1), vec![(events::POLLIN, 2)]);
        assert_eq!(ep.harvest(1), vec![(events::POLLIN, 1)]);
    }

    #[test]
    fn closed_files_leave_and_nested_epolls_work() {
        let ep = Epoll::new();
        let (r, w) = pipe();
        ep.add(3, &r, events::POLLIN, 1).unwrap();
        put(&w, b"x");
        drop(r);
        assert!(ep.harvest(8).is_empty(), "the file is gone");
        assert!(lock(&ep.items).is_empty());

        let outer = Epoll::new();
        let inner_file =
            Arc::new(File::new(None, crate::fs::anon::anon_inode(), Box::new(EpollFile(ep.clone())), flags::O_RDWR));
        outer.add(4, &inner_file, events::POLLIN, 9).unwrap();
        assert!(outer.harvest(8).is_empty());
        let (r, w) = pipe();
        ep.add(3, &r, events::POLLIN, 1).unwrap();
        put(&w, b"x");
        assert_eq!(outer.harvest(8), vec![(events::POLLIN, 9)]);
        assert!(ep.would_loop(&outer), "outer watches ep");
        assert!(ep.would_loop(&ep));
        assert!(!outer.would_loop(&ep));
    }
}
