//! inotify: watches on files and directories, and the events the Sentry's
//! file operations report to them.
//!
//! # Model
//!
//! Each mount tree (a container's view of its files, [`Mounts`]) has a
//! [`Registry`]: for every watched file, identified by its device and inode
//! number, the watches on it. An inotify instance ([`Inotify`], the file
//! `inotify_init` returns) owns its event queue and the list of its watches
//! (watch descriptor → file). System calls that change or use a file report
//! to the registry of the tree they reached it through:
//!
//! - [`file_event`]: something happened to a file reached through a dentry
//!   (opened, read, written, its attributes changed, closed). Watches on the
//!   file get the event without a name; watches on its parent directory get
//!   it with the file's name, as Linux reports events of a directory's
//!   children.
//! - [`entry_event`]: a directory's entry changed (created, deleted, moved
//!   from or to): watches on the directory get the event with the name.
//! - [`self_event`]: the file itself was moved or deleted.
//!
//! When no watch exists in a tree, each report costs one atomic load.
//!
//! # Queues
//!
//! An event is queued to each instance whose watch selects it; an event
//! identical to the last one still queued is merged into it, as Linux does.
//! A queue holds at most [`MAX_QUEUED_EVENTS`]; past that, one
//! `IN_Q_OVERFLOW` event (watch descriptor -1) stands for everything lost.
//! `read` returns whole events only (a buffer too small for the first is
//! `EINVAL`) and blocks while the queue is empty unless the file is
//! non-blocking. A watch with `IN_ONESHOT` is removed after its first event;
//! a removed watch (`inotify_rm_watch`, `IN_ONESHOT`, the file deleted)
//! queues `IN_IGNORED`.
//!
//! # Locking
//!
//! The registry mutex and each instance's mutex are leaves: the registry
//! collects the instances to notify under its lock, releases it, then
//! queues to each. Instances are held weakly by the registry; an instance
//! that goes away removes its watches.
//!
//! # Differences from Linux
//!
//! - Files are identified by device and inode number; two file systems of
//!   one tree that report the same pair (Linux gives every tmpfs its own
//!   device; the Sentry's tmpfs mounts share one) share their watches.
//! - Only changes made through the Sentry are seen: a file changed on the
//!   host behind the sandbox's back reports nothing (as in gVisor).
//! - `IN_DELETE_SELF` is reported when the last link goes, even while the
//!   file is still open (Linux waits for the last close). `IN_UNMOUNT` and
//!   fanotify are not implemented; `IN_EXCL_UNLINK` is accepted and has no
//!   effect.

use std::any::Any;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use crate::errno::{Errno, SysResult};
use crate::kernel::waiter::{events, WaitQueue};
use crate::mm::lock;
use crate::vfs::{Dentry, FileOps, FileType, Inode, IoCtx};

pub const IN_ACCESS: u32 = 0x1;
pub const IN_MODIFY: u32 = 0x2;
pub const IN_ATTRIB: u32 = 0x4;
pub const IN_CLOSE_WRITE: u32 = 0x8;
pub const IN_CLOSE_NOWRITE: u32 = 0x10;
pub const IN_OPEN: u32 = 0x20;
pub const IN_MOVED_FROM: u32 = 0x40;
pub const IN_MOVED_TO: u32 = 0x80;
pub const IN_CREATE: u32 = 0x100;
pub const IN_DELETE: u32 = 0x200;
pub const IN_DELETE_SELF: u32 = 0x400;
pub const IN_MOVE_SELF: u32 = 0x800;
pub const IN_UNMOUNT: u32 = 0x2000;
pub const IN_Q_OVERFLOW: u32 = 0x4000;
pub const IN_IGNORED: u32 = 0x8000;
pub const IN_ONLYDIR: u32 = 0x0100_0000;
pub const IN_DONT_FOLLOW: u32 = 0x0200_0000;
pub const IN_EXCL_UNLINK: u32 = 0x0400_0000;
pub const IN_MASK_CREATE: u32 = 0x1000_0000;
pub const IN_MASK_ADD: u32 = 0x2000_0000;
pub const IN_ISDIR: u32 = 0x4000_0000;
pub const IN_ONESHOT: u32 = 0x8000_0000;
/// Every event a watch can ask for.
pub const IN_ALL_EVENTS: u32 = 0xfff;
/// Every bit `inotify_add_watch` accepts (Linux's `ALL_INOTIFY_BITS`).
pub const ALL_INOTIFY_BITS: u32 = IN_ALL_EVENTS
    | IN_UNMOUNT
    | IN_Q_OVERFLOW
    | IN_IGNORED
    | IN_ONLYDIR
    | IN_DONT_FOLLOW
    | IN_EXCL_UNLINK
    | IN_MASK_CREATE
    | IN_MASK_ADD
    | IN_ISDIR
    | IN_ONESHOT;

/// Linux's default `max_queued_events`.
pub const MAX_QUEUED_EVENTS: usize = 16384;

/// `sizeof(struct inotify_event)` without its name.
const EVENT_HEADER: usize = 16;

/// `FIONREAD`.
const FIONREAD: u64 = 0x541b;

/// A watched file: device and inode number.
pub type Key = (u64, u64);

/// The key of `inode`.
pub fn key_of(inode: &dyn Inode) -> Key {
    let st = inode.stat();
    (st.dev, st.ino)
}

/// One watch as the registry knows it.
struct Watcher {
    instance: Weak<Instance>,
    wd: i32,
    mask: u32,
}

/// The watches of one mount tree (see the module documentation).
#[derive(Default)]
pub struct Registry {
    /// Number of watches: zero makes every report a no-op.
    active: AtomicUsize,
    watches: Mutex<HashMap<Key, Vec<Watcher>>>,
    /// Cookies tying `IN_MOVED_FROM` to `IN_MOVED_TO`.
    cookie: AtomicU32,
}

impl Registry {
    /// Whether any watch exists.
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire) > 0
    }

    /// A fresh rename cookie.
    pub fn new_cookie(&self) -> u32 {
        self.cookie.fetch_add(1, Ordering::Relaxed).wrapping_add(1)
    }

    fn add(&self, key: Key, instance: &Arc<Instance>, wd: i32, mask: u32) {
        let mut w = lock(&self.watches);
        let list = w.entry(key).or_default();
        match list.iter_mut().find(|x| x.wd == wd && x.instance.as_ptr() == Arc::as_ptr(instance)) {
            Some(x) => x.mask = mask,
            None => {
                list.push(Watcher { instance: Arc::downgrade(instance), wd, mask });
                self.active.fetch_add(1, Ordering::AcqRel);
            }
        }
    }

    fn remove(&self, key: Key, instance: *const Instance, wd: i32) {
        let mut w = lock(&self.watches);
        if let Some(list) = w.get_mut(&key) {
            let before = list.len();
            list.retain(|x| !(x.wd == wd && x.instance.as_ptr() == instance));
            self.active.fetch_sub(before - list.len(), Ordering::AcqRel);
            if list.is_empty() {
                w.remove(&key);
            }
        }
    }

    /// Reports `mask` (an event, plus `IN_ISDIR` if the subject is a
    /// directory) to the watches on `key`; `name` for events about a
    /// directory's entry.
    pub fn notify(&self, key: Key, mask: u32, cookie: u32, name: Option<&str>) {
        if !self.is_active() {
            return;
        }
        let targets: Vec<(Arc<Instance>, i32, bool)> = {
            let w = lock(&self.watches);
            let Some(list) = w.get(&key) else { return };
            list.iter()
                .filter(|x| x.mask & mask & IN_ALL_EVENTS != 0)
                .filter_map(|x| Some((x.instance.upgrade()?, x.wd, x.mask & IN_ONESHOT != 0)))
                .collect()
        };
        for (instance, wd, oneshot) in targets {
            instance.queue(Event { wd, mask, cookie, name: name.map(str::to_string) });
            if oneshot {
                instance.drop_watch(wd);
            }
        }
    }

    /// The file `key` is gone: every watch on it is removed (with
    /// `IN_IGNORED`).
    fn forget(&self, key: Key) {
        if !self.is_active() {
            return;
        }
        let gone: Vec<(Arc<Instance>, i32)> = {
            let w = lock(&self.watches);
            let Some(list) = w.get(&key) else { return };
            list.iter().filter_map(|x| Some((x.instance.upgrade()?, x.wd))).collect()
        };
        for (instance, wd) in gone {
            instance.drop_watch(wd);
        }
    }
}

/// Events about the file `dentry` names: to its watches, and to its
/// parent's with its name.
pub fn file_event(dentry: &Dentry, mask: u32) {
    let registry = dentry.mounts().notify();
    if !registry.is_active() {
        return;
    }
    let inode = dentry.inode();
    let mask = mask | dir_bit(inode.file_type());
    // As Linux: the parent's watch (with the name) first.
    if let Some(parent) = dentry.parent() {
        registry.notify(key_of(&**parent.inode()), mask, 0, Some(dentry.name()));
    }
    registry.notify(key_of(&**inode), mask, 0, None);
}

/// Events about the file open as `file`, through the dentry it was opened
/// by. A file without one (a pipe, a socket, a memfd) can be watched only
/// through `/proc/self/fd`, which gives it a tree of its own that nothing
/// reports to: it has nothing to report.
pub fn open_file_event(file: &crate::vfs::File, mask: u32) {
    if let Some(d) = file.dentry() {
        file_event(d, mask);
    }
}

/// An event about entry `name` of directory `dir` (whose subject is of
/// type `ft`).
pub fn entry_event(dir: &Dentry, name: &str, ft: FileType, mask: u32, cookie: u32) {
    let registry = dir.mounts().notify();
    if registry.is_active() {
        registry.notify(key_of(&**dir.inode()), mask | dir_bit(ft), cookie, Some(name));
    }
}

/// An event about `inode` itself (in the tree `tree` belongs to), without
/// its parent: `IN_MOVE_SELF`, `IN_DELETE_SELF` (which also removes its
/// watches), `IN_ATTRIB` of a link count.
pub fn self_event(tree: &Dentry, inode: &dyn Inode, mask: u32) {
    let registry = tree.mounts().notify();
    if !registry.is_active() {
        return;
    }
    let key = key_of(inode);
    registry.notify(key, mask | dir_bit(inode.file_type()), 0, None);
    if mask & IN_DELETE_SELF != 0 {
        registry.forget(key);
    }
}

fn dir_bit(ft: FileType) -> u32 {
    if ft == FileType::Directory {
        IN_ISDIR
    } else {
        0
    }
}

#[derive(Clone, PartialEq, Eq, Debug)]
struct Event {
    wd: i32,
    mask: u32,
    cookie: u32,
    name: Option<String>,
}

impl Event {
    /// The name field's length: the name, its NUL and padding to a
    /// multiple of the header size (0 without a name).
    fn name_len(&self) -> usize {
        match &self.name {
            Some(n) => (n.len() + 1).div_ceil(EVENT_HEADER) * EVENT_HEADER,
            None => 0,
        }
    }

    fn size(&self) -> usize {
        EVENT_HEADER + self.name_len()
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.wd.to_ne_bytes());
        out.extend_from_slice(&self.mask.to_ne_bytes());
        out.extend_from_slice(&self.cookie.to_ne_bytes());
        out.extend_from_slice(&(self.name_len() as u32).to_ne_bytes());
        if let Some(n) = &self.name {
            let start = out.len();
            out.extend_from_slice(n.as_bytes());
            out.resize(start + self.name_len(), 0);
        }
    }
}

/// What an instance knows of one of its watches.
struct WatchInfo {
    registry: Arc<Registry>,
    key: Key,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Event>,
    /// Bytes `read` would return for the whole queue (`FIONREAD`).
    bytes: usize,
    watches: BTreeMap<i32, WatchInfo>,
    next_wd: i32,
}

/// The shared part of an inotify instance.
pub struct Instance {
    state: Mutex<State>,
    wq: WaitQueue,
}

impl Instance {
    fn queue(&self, e: Event) {
        {
            let mut s = lock(&self.state);
            if s.queue.back() == Some(&e) {
                return;
            }
            let e = if s.queue.len() >= MAX_QUEUED_EVENTS {
                let overflow = Event { wd: -1, mask: IN_Q_OVERFLOW, cookie: 0, name: None };
                if s.queue.back() == Some(&overflow) {
                    return;
                }
                overflow
            } else {
                e
            };
            s.bytes += e.size();
            s.queue.push_back(e);
        }
        self.wq.notify(events::READABLE);
    }

    /// Removes watch `wd` and queues `IN_IGNORED` for it.
    fn drop_watch(&self, wd: i32) {
        let info = lock(&self.state).watches.remove(&wd);
        if let Some(info) = info {
            info.registry.remove(info.key, self, wd);
            self.queue(Event { wd, mask: IN_IGNORED, cookie: 0, name: None });
        }
    }
}

/// An inotify instance: the file `inotify_init1` returns.
pub struct Inotify {
    inner: Arc<Instance>,
}

impl Default for Inotify {
    fn default() -> Self {
        Self::new()
    }
}

impl Inotify {
    pub fn new() -> Inotify {
        Inotify {
            inner: Arc::new(Instance {
                state: Mutex::new(State { next_wd: 1, ..State::default() }),
                wq: WaitQueue::new(),
            }),
        }
    }

    /// `inotify_add_watch` on the file `inode` of the tree whose registry
    /// is `registry`: the watch descriptor (the file's existing one if it
    /// is watched already, its mask replaced or, with `IN_MASK_ADD`,
    /// extended; `IN_MASK_CREATE` makes that `EEXIST`).
    pub fn add_watch(&self, registry: &Arc<Registry>, inode: &dyn Inode, mask: u32) -> Result<i32, Errno> {
        let key = key_of(inode);
        let events = mask & (IN_ALL_EVENTS | IN_ONESHOT | IN_EXCL_UNLINK);
        let mut s = lock(&self.inner.state);
        let existing = s.watches.iter().find(|(_, w)| w.key == key && Arc::ptr_eq(&w.registry, registry));
        let (wd, mask) = match existing.map(|(&wd, _)| wd) {
            Some(_) if mask & IN_MASK_CREATE != 0 => return Err(Errno::EEXIST),
            Some(wd) => {
                let old = lock(&registry.watches)
                    .get(&key)
                    .and_then(|l| l.iter().find(|x| x.wd == wd).map(|x| x.mask))
                    .unwrap_or(0);
                (wd, if mask & IN_MASK_ADD != 0 { old | events } else { events })
            }
            None => {
                let wd = s.next_wd;
                s.next_wd = s.next_wd.checked_add(1).ok_or(Errno::ENOSPC)?;
                s.watches.insert(wd, WatchInfo { registry: registry.clone(), key });
                (wd, events)
            }
        };
        drop(s);
        registry.add(key, &self.inner, wd, mask);
        Ok(wd)
    }

    /// `inotify_rm_watch`.
    pub fn rm_watch(&self, wd: i32) -> Result<(), Errno> {
        if !lock(&self.inner.state).watches.contains_key(&wd) {
            return Err(Errno::EINVAL);
        }
        self.inner.drop_watch(wd);
        Ok(())
    }
}

impl FileOps for Inotify {
    fn read(&self, ctx: &IoCtx, _offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        let out = ctx.block(&[&self.inner.wq], events::READABLE, || {
            let mut s = lock(&self.inner.state);
            let first = s.queue.front().ok_or(Errno::EAGAIN)?;
            if first.size() > buf.len() {
                return Err(Errno::EINVAL);
            }
            let mut out = Vec::new();
            while let Some(e) = s.queue.front() {
                if out.len() + e.size() > buf.len() {
                    break;
                }
                e.encode(&mut out);
                let size = e.size();
                s.bytes -= size;
                s.queue.pop_front();
            }
            Ok(out)
        })?;
        buf[..out.len()].copy_from_slice(&out);
        Ok(out.len())
    }

    fn write(&self, _ctx: &IoCtx, _offset: u64, _buf: &[u8]) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }

    fn ioctl(&self, ctx: &IoCtx, request: u64, arg: u64) -> SysResult {
        match request {
            FIONREAD => {
                let n = lock(&self.inner.state).bytes;
                ctx.mm.ok_or(Errno::EFAULT)?.write_u32(arg, u32::try_from(n).unwrap_or(u32::MAX))?;
                Ok(0)
            }
            _ => Err(Errno::ENOTTY),
        }
    }

    fn readiness(&self, mask: u32) -> u32 {
        if lock(&self.inner.state).queue.is_empty() {
            0
        } else {
            events::READABLE & mask
        }
    }

    fn noop_seek(&self) -> bool {
        true
    }

    fn wait_queue(&self) -> Option<&WaitQueue> {
        Some(&self.inner.wq)
    }

    fn as_any(&self) -> Option<&dyn Any> {
        Some(self)
    }
}

impl Drop for Inotify {
    fn drop(&mut self) {
        let watches = std::mem::take(&mut lock(&self.inner.state).watches);
        for (wd, w) in watches {
            w.registry.remove(w.key, Arc::as_ptr(&self.inner), wd);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_encode_with_padded_names() {
        let e = Event { wd: 3, mask: IN_CREATE, cookie: 0, name: Some("abc".into()) };
        let mut out = Vec::new();
        e.encode(&mut out);
        assert_eq!(out.len(), 32);
        assert_eq!(&out[12..16], &16u32.to_ne_bytes());
        assert_eq!(&out[16..20], b"abc\0");
        let e = Event { wd: 1, mask: IN_MODIFY, cookie: 0, name: None };
        assert_eq!(e.size(), 16);
        let e = Event { wd: 1, mask: IN_MODIFY, cookie: 0, name: Some("x".repeat(15)) };
        assert_eq!(e.size(), 32);
        let e = Event { wd: 1, mask: IN_MODIFY, cookie: 0, name: Some("x".repeat(16)) };
        assert_eq!(e.size(), 48);
    }

    #[test]
    fn queue_merges_repeats_and_overflows_once() {
        let i = Inotify::new();
        let e = Event { wd: 1, mask: IN_MODIFY, cookie: 0, name: None };
        i.inner.queue(e.clone());
        i.inner.queue(e.clone());
        assert_eq!(lock(&i.inner.state).queue.len(), 1);
        for n in 0..MAX_QUEUED_EVENTS + 10 {
            i.inner.queue(Event { wd: 1, mask: IN_MODIFY, cookie: n as u32, name: None });
        }
        let s = lock(&i.inner.state);
        assert_eq!(s.queue.len(), MAX_QUEUED_EVENTS + 1);
        assert_eq!(s.queue.back().map(|e| e.mask), Some(IN_Q_OVERFLOW));
        assert_eq!(s.bytes, s.queue.len() * EVENT_HEADER);
    }

    #[test]
    fn watches_register_and_go_with_their_instance() {
        let reg = Arc::new(Registry::default());
        let i = Inotify::new();
        let key = (1, 2);
        lock(&i.inner.state).watches.insert(1, WatchInfo { registry: reg.clone(), key });
        reg.add(key, &i.inner, 1, IN_MODIFY | IN_ONESHOT);
        assert!(reg.is_active());
        reg.notify(key, IN_ATTRIB, 0, None);
        assert!(lock(&i.inner.state).queue.is_empty(), "not selected");
        reg.notify(key, IN_MODIFY, 0, None);
        let masks: Vec<u32> = lock(&i.inner.state).queue.iter().map(|e| e.mask).collect();
        assert_eq!(masks, [IN_MODIFY, IN_IGNORED], "one-shot");
        assert!(!reg.is_active());
        lock(&i.inner.state).watches.insert(2, WatchInfo { registry: reg.clone(), key });
        reg.add(key, &i.inner, 2, IN_MODIFY);
        drop(i);
        assert!(!reg.is_active());
    }
}
