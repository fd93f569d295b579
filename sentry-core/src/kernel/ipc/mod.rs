//! System V IPC: shared memory, semaphores and message queues.
//!
//! # Model
//!
//! A kernel (sandbox) has one IPC namespace ([`IpcNamespace`]): three
//! [`Table`]s of objects, one per family, under one lock, and one wait
//! queue per family that blocked `semop`/`msgsnd`/`msgrcv` callers sleep
//! on (every change notifies the family's queue; sleepers re-check).
//!
//! An object is found by its *key* (`shmget`/`semget`/`msgget`) or its
//! *id*. Ids are `index + seq * 32768`: the index is the lowest free slot
//! of the table and `seq` counts creations in the table, so an id is not
//! handed out again right after the object is removed. Each object carries
//! an [`IpcPerm`] checked like Linux's `ipcperms`: owner/creator bits,
//! then group, then others, overridden by `CAP_IPC_OWNER`; changing or
//! removing an object needs to be its owner or creator, or
//! `CAP_SYS_ADMIN`.
//!
//! The families are in [`shm`], [`sem`] and [`msg`]; the system calls that
//! copy arguments in and out are in `syscalls::ipc`.
//!
//! Not implemented: `MSG_COPY`, the `/proc/sysvipc` files and the
//! `/proc/sys/kernel/{shm,sem,msg}*` limits (the limits are the Linux
//! defaults and cannot be changed), per-user quotas, `CLONE_SYSVSEM`
//! (semaphore undo lists are per process), IPC namespaces per container
//! (one per sandbox).

pub mod msg;
pub mod sem;
pub mod shm;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use super::task::Credentials;
use super::waiter::WaitQueue;
use crate::errno::Errno;

/// `IPC_PRIVATE`: a key that always creates a new object.
pub const IPC_PRIVATE: i32 = 0;
/// `IPC_CREAT`.
pub const IPC_CREAT: i32 = 0o1000;
/// `IPC_EXCL`.
pub const IPC_EXCL: i32 = 0o2000;
/// `IPC_NOWAIT`.
pub const IPC_NOWAIT: i32 = 0o4000;

/// `CAP_IPC_OWNER`: bypasses the permission bits.
const CAP_IPC_OWNER: u32 = 15;
/// `CAP_SYS_ADMIN`: may change or remove any object.
const CAP_SYS_ADMIN: u32 = 21;

/// Index range of a table (Linux's `IPCMNI`).
pub const IPCMNI: u32 = 32768;

/// Seconds since the epoch (the IPC time stamps).
pub fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// The ownership and permissions of an IPC object (`struct ipc64_perm`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpcPerm {
    pub key: i32,
    pub uid: u32,
    pub gid: u32,
    pub cuid: u32,
    pub cgid: u32,
    /// The permission bits, plus family flags (`SHM_DEST`, `SHM_LOCKED`).
    pub mode: u32,
    pub seq: u32,
}

impl IpcPerm {
    /// A new object's permissions: created by `creds` with the low 9 bits
    /// of `flags`.
    pub fn new(key: i32, flags: i32, creds: &Credentials) -> IpcPerm {
        IpcPerm {
            key,
            uid: creds.euid,
            gid: creds.egid,
            cuid: creds.euid,
            cgid: creds.egid,
            mode: flags as u32 & 0o777,
            seq: 0,
        }
    }

    /// Linux's `ipcperms`: whether `creds` may access the object for the
    /// access bits of `flag` (`0o400`-style, any of the three triplets).
    pub fn check(&self, creds: &Credentials, flag: i32) -> Result<(), Errno> {
        let requested = ((flag >> 6) | (flag >> 3) | flag) as u32 & 7;
        let granted = if creds.euid == self.uid || creds.euid == self.cuid {
            self.mode >> 6
        } else if in_group(creds, self.gid) || in_group(creds, self.cgid) {
            self.mode >> 3
        } else {
            self.mode
        };
        if requested & !granted & 7 != 0 && !creds.has_cap(CAP_IPC_OWNER) {
            return Err(Errno::EACCES);
        }
        Ok(())
    }

    /// Whether `creds` may change or remove the object (`IPC_SET`,
    /// `IPC_RMID`): `EPERM` otherwise.
    pub fn check_owner(&self, creds: &Credentials) -> Result<(), Errno> {
        if creds.euid == self.uid || creds.euid == self.cuid || creds.has_cap(CAP_SYS_ADMIN) {
            Ok(())
        } else {
            Err(Errno::EPERM)
        }
    }

    /// Encodes as `struct ipc64_perm` (48 bytes on x86-64).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.key.to_le_bytes());
        for v in [self.uid, self.gid, self.cuid, self.cgid, self.mode] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&(self.seq as u16).to_le_bytes());
        out.extend_from_slice(&[0u8; 2]);
        out.extend_from_slice(&[0u8; 20]);
    }

    /// Applies `IPC_SET` from an encoded `struct ipc64_perm`: owner and
    /// the permission bits.
    pub fn set_from(&mut self, raw: &[u8]) {
        let word = |o: usize| raw.get(o..o + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])).unwrap_or(0);
        self.uid = word(4);
        self.gid = word(8);
        self.mode = (self.mode & !0o777) | (word(20) & 0o777);
    }
}

fn in_group(creds: &Credentials, gid: u32) -> bool {
    creds.egid == gid || creds.groups.contains(&gid)
}

/// One slot of a [`Table`].
pub struct Entry<T> {
    pub perm: IpcPerm,
    pub obj: T,
}

/// The objects of one family: slots by index, with their keys.
pub struct Table<T> {
    entries: BTreeMap<u32, Entry<T>>,
    /// Creations so far (the next `seq`).
    seq: u32,
    /// Most objects at once.
    max: u32,
}

impl<T> Table<T> {
    /// An empty table of at most `max` objects.
    pub fn new(max: u32) -> Table<T> {
        Table { entries: BTreeMap::new(), seq: 0, max: max.min(IPCMNI) }
    }

    /// The id of the object in slot `idx`.
    pub fn id_of(&self, idx: u32) -> Option<i32> {
        self.entries.get(&idx).map(|e| make_id(idx, e.perm.seq))
    }

    /// The object with `id` (`EINVAL` if there is none).
    pub fn get(&self, id: i32) -> Result<&Entry<T>, Errno> {
        let (idx, seq) = split_id(id)?;
        self.entries.get(&idx).filter(|e| e.perm.seq == seq).ok_or(Errno::EINVAL)
    }

    /// The object with `id`, mutably.
    pub fn get_mut(&mut self, id: i32) -> Result<&mut Entry<T>, Errno> {
        let (idx, seq) = split_id(id)?;
        self.entries.get_mut(&idx).filter(|e| e.perm.seq == seq).ok_or(Errno::EINVAL)
    }

    /// The object in slot `idx` (`*_STAT` commands).
    pub fn get_index(&self, idx: i32) -> Result<(i32, &Entry<T>), Errno> {
        let idx = u32::try_from(idx).map_err(|_| Errno::EINVAL)?;
        self.entries.get(&idx).map(|e| (make_id(idx, e.perm.seq), e)).ok_or(Errno::EINVAL)
    }

    /// The id of the object with `key` (never `IPC_PRIVATE`).
    pub fn find_key(&self, key: i32) -> Option<i32> {
        if key == IPC_PRIVATE {
            return None;
        }
        self.entries.iter().find(|(_, e)| e.perm.key == key).map(|(&i, e)| make_id(i, e.perm.seq))
    }

    /// Adds an object; returns its id (`ENOSPC` when the table is full).
    pub fn insert(&mut self, mut perm: IpcPerm, obj: T) -> Result<i32, Errno> {
        let idx = (0..self.max).find(|i| !self.entries.contains_key(i)).ok_or(Errno::ENOSPC)?;
        perm.seq = self.seq;
        self.seq = (self.seq + 1) % (i32::MAX as u32 / IPCMNI + 1);
        let id = make_id(idx, perm.seq);
        self.entries.insert(idx, Entry { perm, obj });
        Ok(id)
    }

    /// Removes the object with `id`.
    pub fn remove(&mut self, id: i32) -> Option<T> {
        let (idx, seq) = split_id(id).ok()?;
        if self.entries.get(&idx)?.perm.seq != seq {
            return None;
        }
        self.entries.remove(&idx).map(|e| e.obj)
    }

    /// Removes the objects `f` selects.
    pub fn retain(&mut self, mut f: impl FnMut(&Entry<T>) -> bool) {
        self.entries.retain(|_, e| f(e));
    }

    /// The highest index in use (`IPC_INFO` returns it), or 0.
    pub fn highest_index(&self) -> u32 {
        self.entries.keys().next_back().copied().unwrap_or(0)
    }

    /// Number of objects.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every object with its id.
    pub fn iter(&self) -> impl Iterator<Item = (i32, &Entry<T>)> {
        self.entries.iter().map(|(&i, e)| (make_id(i, e.perm.seq), e))
    }

    /// Every object with its id, mutably.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (i32, &mut Entry<T>)> {
        self.entries.iter_mut().map(|(&i, e)| (make_id(i, e.perm.seq), e))
    }

    /// The `*get` logic common to the families: the id of the object with
    /// `key`, checked with `check` (and the access bits of `flags`), or a
    /// new object made by `create` with `IPC_CREAT` (always for
    /// `IPC_PRIVATE`).
    pub fn get_or_create(
        &mut self,
        key: i32,
        flags: i32,
        creds: &Credentials,
        check: impl FnOnce(&T) -> Result<(), Errno>,
        create: impl FnOnce() -> Result<T, Errno>,
    ) -> Result<i32, Errno> {
        match self.find_key(key) {
            None => {
                if key != IPC_PRIVATE && flags & IPC_CREAT == 0 {
                    return Err(Errno::ENOENT);
                }
                if self.entries.len() as u32 >= self.max {
                    return Err(Errno::ENOSPC);
                }
                let obj = create()?;
                self.insert(IpcPerm::new(key, flags, creds), obj)
            }
            Some(id) => {
                if flags & IPC_CREAT != 0 && flags & IPC_EXCL != 0 {
                    return Err(Errno::EEXIST);
                }
                let e = self.get(id)?;
                e.perm.check(creds, flags)?;
                check(&e.obj)?;
                Ok(id)
            }
        }
    }
}

fn make_id(idx: u32, seq: u32) -> i32 {
    (seq * IPCMNI + idx) as i32
}

fn split_id(id: i32) -> Result<(u32, u32), Errno> {
    let id = u32::try_from(id).map_err(|_| Errno::EINVAL)?;
    Ok((id % IPCMNI, id / IPCMNI))
}

/// The objects of a namespace.
pub struct IpcState {
    pub shm: Table<shm::Segment>,
    pub sem: Table<sem::SemSet>,
    pub msg: Table<msg::Queue>,
    /// Semaphore adjustments to apply when a process exits.
    pub undo: sem::UndoLists,
}

/// The IPC namespace of a kernel.
pub struct IpcNamespace {
    pub state: Mutex<IpcState>,
    /// Notified when semaphore values change or sets go away.
    pub sem_events: WaitQueue,
    /// Notified when messages come and go or queues go away.
    pub msg_events: WaitQueue,
}

impl Default for IpcNamespace {
    fn default() -> Self {
        IpcNamespace {
            state: Mutex::new(IpcState {
                shm: Table::new(shm::SHMMNI),
                sem: Table::new(sem::SEMMNI),
                msg: Table::new(msg::MSGMNI),
                undo: Default::default(),
            }),
            sem_events: WaitQueue::new(),
            msg_events: WaitQueue::new(),
        }
    }
}

impl IpcNamespace {
    /// Process `tgid` has exited: applies its semaphore adjustments.
    pub fn process_exited(&self, tgid: i32) {
        let changed = {
            let mut s = crate::mm::lock(&self.state);
            let IpcState { sem, undo, .. } = &mut *s;
            undo.apply_exit(tgid, sem)
        };
        if changed {
            self.sem_events.notify(super::waiter::events::ALL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(uid: u32, gid: u32) -> Credentials {
        Credentials::new(uid, gid)
    }

    #[test]
    fn keys_create_find_and_exclude() {
        let mut t: Table<u32> = Table::new(16);
        let c = user(1000, 1000);
        let a = t.get_or_create(IPC_PRIVATE, 0o600, &c, |_| Ok(()), || Ok(1)).unwrap();
        let b = t.get_or_create(IPC_PRIVATE, 0o600, &c, |_| Ok(()), || Ok(2)).unwrap();
        assert_ne!(a, b, "IPC_PRIVATE always creates");
        assert_eq!(t.get_or_create(42, 0o600, &c, |_| Ok(()), || Ok(3)), Err(Errno::ENOENT));
        let k = t.get_or_create(42, IPC_CREAT | 0o600, &c, |_| Ok(()), || Ok(3)).unwrap();
        assert_eq!(t.get_or_create(42, 0, &c, |_| Ok(()), || Ok(4)), Ok(k));
        assert_eq!(t.get_or_create(42, IPC_CREAT | IPC_EXCL, &c, |_| Ok(()), || Ok(4)), Err(Errno::EEXIST));
        assert_eq!(t.get_or_create(42, 0, &c, |_| Err(Errno::EINVAL), || Ok(4)), Err(Errno::EINVAL));
        assert_eq!(t.get(k).unwrap().obj, 3);
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn ids_are_not_reused_at_once() {
        let mut t: Table<()> = Table::new(16);
        let c = user(0, 0);
        let a = t.get_or_create(IPC_PRIVATE, 0, &c, |_| Ok(()), || Ok(())).unwrap();
        assert!(t.remove(a).is_some());
        let b = t.get_or_create(IPC_PRIVATE, 0, &c, |_| Ok(()), || Ok(())).unwrap();
        assert_ne!(a, b);
        assert_eq!(a as u32 % IPCMNI, b as u32 % IPCMNI, "the slot is reused, the id is not");
        assert_eq!(t.get(a).err(), Some(Errno::EINVAL));
        assert_eq!(t.get(-1).err(), Some(Errno::EINVAL));
        assert!(t.remove(a).is_none());
    }

    #[test]
    fn full_tables_refuse() {
        let mut t: Table<()> = Table::new(2);
        let c = user(0, 0);
        for _ in 0..2 {
            t.get_or_create(IPC_PRIVATE, 0, &c, |_| Ok(()), || Ok(())).unwrap();
        }
        assert_eq!(t.get_or_create(IPC_PRIVATE, 0, &c, |_| Ok(()), || Ok(())), Err(Errno::ENOSPC));
    }

    #[test]
    fn permissions_follow_owner_group_other() {
        let owner = user(1000, 100);
        let mut p = IpcPerm::new(1, 0o640, &owner);
        assert!(p.check(&owner, 0o600).is_ok());
        let group = user(1001, 100);
        assert!(p.check(&group, 0o400).is_ok());
        assert_eq!(p.check(&group, 0o200), Err(Errno::EACCES));
        let other = user(1002, 200);
        assert_eq!(p.check(&other, 0o004), Err(Errno::EACCES));
        assert!(p.check(&other, 0).is_ok());
        // CAP_IPC_OWNER overrides the bits (the container's root does not
        // hold it by default, as with Docker).
        let mut owner_cap = user(1002, 200);
        owner_cap.cap_effective = 1 << CAP_IPC_OWNER;
        assert!(p.check(&owner_cap, 0o666).is_ok());
        assert_eq!(p.check_owner(&other), Err(Errno::EPERM));
        assert!(p.check_owner(&owner).is_ok());
        // IPC_SET changes owner and bits.
        let mut raw = Vec::new();
        IpcPerm { uid: 1002, gid: 200, mode: 0o604, ..p.clone() }.encode(&mut raw);
        assert_eq!(raw.len(), 48);
        p.set_from(&raw);
        assert_eq!((p.uid, p.gid, p.mode, p.cuid), (1002, 200, 0o604, 1000));
        assert!(p.check(&other, 0o600).is_ok());
    }
}
