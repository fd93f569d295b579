//! The memory file: one memfd that backs all application memory.
//!
//! The Sentry maps the whole file into itself once, so it can read and write
//! any application page directly; address spaces map ranges of the same file
//! into the application. Page ranges are handed out by a first-fit allocator
//! over free extents; freed ranges are returned to the host with
//! `FALLOC_FL_PUNCH_HOLE` so that usage is what is really allocated.

use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::sys;
use crate::{PlatformError, PAGE_SIZE};

/// A page-aligned range `[start, start+len)` of the memory file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileRange {
    pub start: u64,
    pub len: u64,
}

impl FileRange {
    pub fn end(&self) -> u64 {
        self.start + self.len
    }
}

/// Default size of the memory file: an upper bound on application memory,
/// not a reservation (the file is sparse).
pub const DEFAULT_SIZE: u64 = 64 << 30;

/// The memfd behind all application memory, mapped into the Sentry.
pub struct MemoryFile {
    fd: OwnedFd,
    mapping: sys::Mapping,
    size: u64,
    free: Mutex<FreeExtents>,
    used: AtomicU64,
}

impl std::fmt::Debug for MemoryFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryFile")
            .field("fd", &self.fd.as_raw_fd())
            .field("size", &self.size)
            .field("used", &self.used())
            .finish()
    }
}

impl MemoryFile {
    /// Creates a sparse memory file of `size` bytes (rounded up to pages).
    pub fn new(size: u64) -> Result<MemoryFile, PlatformError> {
        let size = round_up(size.max(PAGE_SIZE));
        let fd = sys::memfd_create("rvisor-memory")?;
        sys::ftruncate(fd.as_raw_fd(), size)?;
        let mapping = sys::Mapping::shared(fd.as_raw_fd(), size)?;
        Ok(MemoryFile { fd, mapping, size, free: Mutex::new(FreeExtents::new(size)), used: AtomicU64::new(0) })
    }

    /// The host descriptor of the memfd (for platforms that map it).
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Total size of the file.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Bytes currently allocated to the application.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// Allocates `len` bytes (rounded up to pages) of zeroed memory.
    pub fn allocate(&self, len: u64) -> Result<FileRange, PlatformError> {
        if len == 0 {
            return Err(PlatformError::InvalidRange { addr: 0, len, why: "empty allocation" });
        }
        let len = round_up(len);
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        let start =
            free.take(len).ok_or(PlatformError::OutOfMemory { requested: len, available: self.size - self.used() })?;
        self.used.fetch_add(len, Ordering::Relaxed);
        Ok(FileRange { start, len })
    }

    /// Returns `range` to the allocator and its pages to the host. The range
    /// reads as zeros afterwards.
    pub fn free(&self, range: FileRange) -> Result<(), PlatformError> {
        self.check(range.start, range.len)?;
        if range.start % PAGE_SIZE != 0 || range.len % PAGE_SIZE != 0 {
            return Err(PlatformError::InvalidRange { addr: range.start, len: range.len, why: "not page-aligned" });
        }
        sys::punch_hole(self.fd.as_raw_fd(), range.start, range.len)?;
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        free.give(range.start, range.len);
        self.used.fetch_sub(range.len, Ordering::Relaxed);
        Ok(())
    }

    /// Copies `buf.len()` bytes from file offset `offset` into `buf`.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), PlatformError> {
        self.check(offset, buf.len() as u64)?;
        // SAFETY: the range is inside the mapping (checked above). The
        // application may write the same bytes concurrently from another
        // process; like any shared memory, the copy then sees some mix of old
        // and new bytes, which is the semantics the application asked for.
        unsafe { std::ptr::copy_nonoverlapping(self.mapping.ptr().add(offset as usize), buf.as_mut_ptr(), buf.len()) };
        Ok(())
    }

    /// Copies `buf` to file offset `offset`.
    pub fn write_at(&self, offset: u64, buf: &[u8]) -> Result<(), PlatformError> {
        self.check(offset, buf.len() as u64)?;
        // SAFETY: as in `read_at`; the destination is inside our mapping.
        unsafe { std::ptr::copy_nonoverlapping(buf.as_ptr(), self.mapping.ptr().add(offset as usize), buf.len()) };
        Ok(())
    }

    /// Atomically updates the aligned u32 at `offset`: `f(old)` gives the
    /// new value, or `None` to leave it. Returns the old value. This is how
    /// the Sentry performs futex operations on memory applications share
    /// with it, concurrently with their own atomic instructions.
    pub fn atomic_update_u32(&self, offset: u64, mut f: impl FnMut(u32) -> Option<u32>) -> Result<u32, PlatformError> {
        self.check(offset, 4)?;
        if offset % 4 != 0 {
            return Err(PlatformError::InvalidRange { addr: offset, len: 4, why: "unaligned atomic" });
        }
        // SAFETY: the 4 aligned bytes are inside our mapping, which lives as
        // long as `self`; all concurrent accesses by the Sentry to them go
        // through atomics or byte copies (whose races are the application's
        // shared-memory semantics), and the application's own accesses are
        // from other processes mapping the same file.
        let cell = unsafe { std::sync::atomic::AtomicU32::from_ptr(self.mapping.ptr().add(offset as usize).cast()) };
        let mut old = cell.load(Ordering::SeqCst);
        loop {
            let Some(new) = f(old) else { return Ok(old) };
            match cell.compare_exchange(old, new, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return Ok(old),
                Err(cur) => old = cur,
            }
        }
    }

    /// Fills `[offset, offset+len)` with zeros.
    pub fn zero(&self, offset: u64, len: u64) -> Result<(), PlatformError> {
        self.check(offset, len)?;
        // SAFETY: as in `write_at`.
        unsafe { std::ptr::write_bytes(self.mapping.ptr().add(offset as usize), 0, len as usize) };
        Ok(())
    }

    /// Copies `len` bytes from file offset `src` to file offset `dst` (for
    /// copy-on-write). The ranges must not overlap.
    pub fn copy_within(&self, src: u64, dst: u64, len: u64) -> Result<(), PlatformError> {
        self.check(src, len)?;
        self.check(dst, len)?;
        if src < dst + len && dst < src + len {
            return Err(PlatformError::InvalidRange { addr: dst, len, why: "overlapping copy" });
        }
        // SAFETY: both ranges are inside the mapping and do not overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.mapping.ptr().add(src as usize),
                self.mapping.ptr().add(dst as usize),
                len as usize,
            )
        };
        Ok(())
    }

    /// Raw pointer to file offset `offset` in the Sentry's mapping, valid for
    /// `len` bytes while `self` lives.
    ///
    /// # Safety
    ///
    /// The memory is shared with application processes, which may change it
    /// at any time: never form a Rust reference to it, only copy through the
    /// pointer.
    pub unsafe fn as_ptr(&self, offset: u64, len: u64) -> Result<*mut u8, PlatformError> {
        self.check(offset, len)?;
        // SAFETY: in bounds, checked above.
        Ok(unsafe { self.mapping.ptr().add(offset as usize) })
    }

    fn check(&self, offset: u64, len: u64) -> Result<(), PlatformError> {
        match offset.checked_add(len) {
            Some(end) if end <= self.size => Ok(()),
            _ => Err(PlatformError::InvalidRange { addr: offset, len, why: "outside the memory file" }),
        }
    }
}

fn round_up(v: u64) -> u64 {
    v.div_ceil(PAGE_SIZE) * PAGE_SIZE
}

/// Free extents of the file, by start offset, coalesced.
struct FreeExtents {
    by_start: BTreeMap<u64, u64>,
}

impl FreeExtents {
    fn new(size: u64) -> FreeExtents {
        FreeExtents { by_start: BTreeMap::from([(0, size)]) }
    }

    /// First fit: the lowest free extent that holds `len` bytes.
    fn take(&mut self, len: u64) -> Option<u64> {
        let (&start, &extent) = self.by_start.iter().find(|(_, &l)| l >= len)?;
        self.by_start.remove(&start);
        if extent > len {
            self.by_start.insert(start + len, extent - len);
        }
        Some(start)
    }

    fn give(&mut self, mut start: u64, mut len: u64) {
        if let Some((&prev, &plen)) = self.by_start.range(..start).next_back() {
            if prev + plen == start {
                self.by_start.remove(&prev);
                start = prev;
                len += plen;
            }
        }
        if let Some(&nlen) = self.by_start.get(&(start + len)) {
            self.by_start.remove(&(start + len));
            len += nlen;
        }
        self.by_start.insert(start, len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocate_write_read_free() {
        let mf = MemoryFile::new(1 << 20).unwrap();
        let a = mf.allocate(100).unwrap();
        assert_eq!(a.len, PAGE_SIZE);
        let b = mf.allocate(2 * PAGE_SIZE).unwrap();
        assert_ne!(a.start, b.start);
        assert_eq!(mf.used(), 3 * PAGE_SIZE);
        mf.write_at(b.start + 10, b"hello").unwrap();
        let mut buf = [0u8; 5];
        mf.read_at(b.start + 10, &mut buf).unwrap();
        assert_eq!(&buf, b"hello");
        mf.free(b).unwrap();
        assert_eq!(mf.used(), PAGE_SIZE);
        // Freed memory reads back as zeros.
        mf.read_at(b.start + 10, &mut buf).unwrap();
        assert_eq!(buf, [0; 5]);
    }

    #[test]
    fn exhaustion_and_coalescing() {
        let mf = MemoryFile::new(4 * PAGE_SIZE).unwrap();
        let r: Vec<_> = (0..4).map(|_| mf.allocate(PAGE_SIZE).unwrap()).collect();
        assert!(matches!(mf.allocate(PAGE_SIZE), Err(PlatformError::OutOfMemory { .. })));
        mf.free(r[1]).unwrap();
        mf.free(r[2]).unwrap();
        // Two adjacent freed pages serve one two-page allocation.
        let big = mf.allocate(2 * PAGE_SIZE).unwrap();
        assert_eq!(big.start, r[1].start);
    }

    #[test]
    fn out_of_bounds_is_an_error() {
        let mf = MemoryFile::new(PAGE_SIZE).unwrap();
        let mut buf = [0u8; 8];
        assert!(mf.read_at(PAGE_SIZE - 4, &mut buf).is_err());
        assert!(mf.write_at(u64::MAX - 2, &buf).is_err());
        assert!(mf.zero(0, PAGE_SIZE + 1).is_err());
    }
}
