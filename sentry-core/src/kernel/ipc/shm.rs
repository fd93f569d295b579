//! System V shared memory segments.
//!
//! A segment's memory is an [`AnonObject`] (shared anonymous memory, pages
//! allocated on first touch). `shmat` maps that object `MAP_SHARED` into
//! the caller's address space, so every attach of every process sees the
//! same pages; the VMAs hold the object, so fork shares the attaches and
//! exec and exit drop them with the address space.
//!
//! The attach count (`shm_nattch`) is the number of VMAs holding the
//! object: its reference count less the table's own. Like Linux, a VMA
//! split (by `mprotect` of part of an attach) counts twice. `IPC_RMID`
//! frees the key at once and marks the segment `SHM_DEST`; the segment
//! leaves the table when its last attach is gone (checked on every shm
//! call: [`prune`]). An exited process's attaches end when its address
//! space is released, which may be when it is reaped.
//!
//! Attaches show in `/proc/[pid]/maps` as `/SYSV<key, 8 hex digits>
//! (deleted)`, as on Linux. `SHM_LOCK` only sets the mode flag (Sentry
//! memory is never swapped); `SHM_HUGETLB` and `SHMALL` accounting are not
//! implemented.

use std::sync::Arc;

use platforms::PAGE_SIZE;

use super::Table;
use crate::mm::{page_up, AnonObject};

/// `SHMMIN`: smallest segment.
pub const SHMMIN: u64 = 1;
/// `SHMMAX`: largest segment (Linux's default, `ULONG_MAX - 2^24`).
pub const SHMMAX: u64 = u64::MAX - (1 << 24);
/// `SHMALL`: most pages in all segments (Linux's default).
pub const SHMALL: u64 = u64::MAX - (1 << 24);
/// `SHMMNI`: most segments.
pub const SHMMNI: u32 = 4096;

/// `SHM_DEST` (in the mode): removed, destroyed at the last detach.
pub const SHM_DEST: u32 = 0o1000;
/// `SHM_LOCKED` (in the mode).
pub const SHM_LOCKED: u32 = 0o2000;

/// A shared memory segment.
pub struct Segment {
    pub mem: Arc<AnonObject>,
    /// The size asked for (`shm_segsz`).
    pub size: u64,
    pub atime: i64,
    pub dtime: i64,
    pub ctime: i64,
    pub cpid: i32,
    pub lpid: i32,
}

impl Segment {
    /// A new zero-filled segment of `size` bytes.
    pub fn new(mf: Arc<platforms::MemoryFile>, size: u64, pid: i32) -> Segment {
        let mapped = page_up(size).unwrap_or(size);
        Segment {
            mem: Arc::new(AnonObject::new(mf, mapped)),
            size,
            atime: 0,
            dtime: 0,
            ctime: super::now_secs(),
            cpid: pid,
            lpid: 0,
        }
    }

    /// Bytes an attach maps (the size rounded up to pages).
    pub fn mapped_len(&self) -> u64 {
        page_up(self.size).unwrap_or(self.size)
    }

    /// Pages of the segment.
    pub fn pages(&self) -> u64 {
        self.mapped_len() / PAGE_SIZE
    }

    /// `shm_nattch`.
    pub fn nattch(&self) -> u64 {
        Arc::strong_count(&self.mem).saturating_sub(1) as u64
    }

    /// Whether `obj` (a VMA's backing object) is this segment's memory.
    pub fn is_backing(&self, obj: &Arc<dyn crate::mm::Mappable>) -> bool {
        Arc::as_ptr(obj) as *const u8 == Arc::as_ptr(&self.mem) as *const u8
    }
}

/// Removes the segments marked `SHM_DEST` that nobody has attached.
pub fn prune(t: &mut Table<Segment>) {
    t.retain(|e| e.perm.mode & SHM_DEST == 0 || e.obj.nattch() > 0);
}

/// The name of an attach in `/proc/[pid]/maps`.
pub fn map_name(key: i32) -> Arc<str> {
    Arc::from(format!("/SYSV{:08x} (deleted)", key as u32).as_str())
}

/// Encodes `struct shmid64_ds` (112 bytes on x86-64).
pub fn encode_ds(e: &super::Entry<Segment>) -> Vec<u8> {
    let mut out = Vec::with_capacity(112);
    e.perm.encode(&mut out);
    let s = &e.obj;
    for v in [s.size, s.atime as u64, s.dtime as u64, s.ctime as u64] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&s.cpid.to_le_bytes());
    out.extend_from_slice(&s.lpid.to_le_bytes());
    for v in [s.nattch(), 0, 0] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::kernel::ipc::IpcPerm;
    use crate::kernel::Credentials;
    use crate::mm::Mappable;

    #[test]
    fn removed_segments_live_until_the_last_detach() {
        let mf = Arc::new(platforms::MemoryFile::new(1 << 20).unwrap());
        let mut t: Table<Segment> = Table::new(SHMMNI);
        let seg = Segment::new(mf, 5000, 1);
        assert_eq!((seg.mapped_len(), seg.pages(), seg.nattch()), (8192, 2, 0));
        let id = t.insert(IpcPerm::new(7, 0o600, &Credentials::new(0, 0)), seg).unwrap();
        // An attach: a VMA holding the memory.
        let vma: Arc<dyn Mappable> = t.get(id).unwrap().obj.mem.clone();
        assert!(t.get(id).unwrap().obj.is_backing(&vma));
        assert_eq!(t.get(id).unwrap().obj.nattch(), 1);
        // Pages are shared by every holder, and the size is enforced.
        assert!(vma.page(4096).is_ok());
        assert!(vma.page(8192).is_err());
        t.get_mut(id).unwrap().perm.mode |= SHM_DEST;
        prune(&mut t);
        assert!(t.get(id).is_ok(), "still attached");
        let ds = encode_ds(t.get(id).unwrap());
        assert_eq!(ds.len(), 112);
        assert_eq!(u64::from_le_bytes(ds[48..56].try_into().unwrap()), 5000);
        assert_eq!(u64::from_le_bytes(ds[88..96].try_into().unwrap()), 1, "shm_nattch");
        drop(vma);
        prune(&mut t);
        assert!(t.get(id).is_err(), "gone with the last detach");
    }

    #[test]
    fn names_are_like_linux() {
        assert_eq!(&*map_name(0), "/SYSV00000000 (deleted)");
        assert_eq!(&*map_name(0x1234abcd), "/SYSV1234abcd (deleted)");
        assert_eq!(&*map_name(-1), "/SYSVffffffff (deleted)");
    }
}
