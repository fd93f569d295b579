//! Pages of the memory file and the objects that hold them.
//!
//! A [`Page`] is one page of the [`MemoryFile`], freed when the last
//! [`PageRef`] to it is dropped: the reference count is the `Arc`'s. An MM's
//! page table, a file's page cache and (after fork) another MM may all hold
//! the same page; a private page with more than one reference is shared
//! read-only and copied on the first write (copy-on-write).

use std::collections::BTreeMap;
use std::sync::Arc;

use platforms::{MemoryFile, PAGE_SIZE};

use crate::errno::Errno;

/// One page of the memory file.
pub struct Page {
    offset: u64,
    mf: Arc<MemoryFile>,
}

/// A counted reference to a page.
pub type PageRef = Arc<Page>;

impl Page {
    /// Offset of the page in the memory file.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The memory file the page belongs to.
    pub fn memory_file(&self) -> &Arc<MemoryFile> {
        &self.mf
    }

    /// Copies `buf.len()` bytes from offset `off` within the page.
    pub fn read(&self, off: usize, buf: &mut [u8]) -> Result<(), Errno> {
        if off + buf.len() > PAGE_SIZE as usize {
            return Err(Errno::EFAULT);
        }
        self.mf.read_at(self.offset + off as u64, buf).map_err(Errno::from)
    }

    /// Copies `buf` to offset `off` within the page.
    pub fn write(&self, off: usize, buf: &[u8]) -> Result<(), Errno> {
        if off + buf.len() > PAGE_SIZE as usize {
            return Err(Errno::EFAULT);
        }
        self.mf.write_at(self.offset + off as u64, buf).map_err(Errno::from)
    }

    /// Zeroes `len` bytes from offset `off` within the page.
    pub fn zero(&self, off: usize, len: usize) -> Result<(), Errno> {
        if off + len > PAGE_SIZE as usize {
            return Err(Errno::EFAULT);
        }
        self.mf.zero(self.offset + off as u64, len as u64).map_err(Errno::from)
    }

    /// A new page holding a copy of this one (the copy in copy-on-write).
    pub fn duplicate(&self) -> Result<PageRef, Errno> {
        let new = alloc_pages(&self.mf, 1)?.pop().ok_or(Errno::ENOMEM)?;
        self.mf.copy_within(self.offset, new.offset, PAGE_SIZE).map_err(Errno::from)?;
        Ok(new)
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        let range = platforms::FileRange { start: self.offset, len: PAGE_SIZE };
        if let Err(e) = self.mf.free(range) {
            tracing::warn!(offset = self.offset, error = %e, "freeing a page failed");
        }
    }
}

impl std::fmt::Debug for Page {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Page({:#x})", self.offset)
    }
}

/// Allocates `n` zeroed pages, contiguous in the memory file (so that they
/// can be mapped with one call when their addresses are contiguous too).
pub fn alloc_pages(mf: &Arc<MemoryFile>, n: u64) -> Result<Vec<PageRef>, Errno> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let range = mf.allocate(n * PAGE_SIZE).map_err(|_| Errno::ENOMEM)?;
    Ok((0..n).map(|i| Arc::new(Page { offset: range.start + i * PAGE_SIZE, mf: mf.clone() })).collect())
}

/// Pages of a memory object (a tmpfs file, shared anonymous memory), by page
/// index. Holes read as zeros.
pub struct PageStore {
    mf: Arc<MemoryFile>,
    pages: BTreeMap<u64, PageRef>,
}

impl PageStore {
    /// An empty store allocating from `mf`.
    pub fn new(mf: Arc<MemoryFile>) -> PageStore {
        PageStore { mf, pages: BTreeMap::new() }
    }

    /// The page at index `idx`, allocated (zeroed) if absent.
    pub fn get_or_alloc(&mut self, idx: u64) -> Result<PageRef, Errno> {
        if let Some(p) = self.pages.get(&idx) {
            return Ok(p.clone());
        }
        let p = alloc_pages(&self.mf, 1)?.pop().ok_or(Errno::ENOMEM)?;
        self.pages.insert(idx, p.clone());
        Ok(p)
    }

    /// Reads `buf.len()` bytes at byte offset `off`; holes read as zeros.
    pub fn read(&self, mut off: u64, buf: &mut [u8]) -> Result<(), Errno> {
        let mut done = 0;
        while done < buf.len() {
            let idx = off / PAGE_SIZE;
            let in_page = (off % PAGE_SIZE) as usize;
            let n = (PAGE_SIZE as usize - in_page).min(buf.len() - done);
            match self.pages.get(&idx) {
                Some(p) => p.read(in_page, &mut buf[done..done + n])?,
                None => buf[done..done + n].fill(0),
            }
            done += n;
            off += n as u64;
        }
        Ok(())
    }

    /// Writes `buf` at byte offset `off`, allocating pages as needed.
    pub fn write(&mut self, mut off: u64, buf: &[u8]) -> Result<(), Errno> {
        let mut done = 0;
        while done < buf.len() {
            let idx = off / PAGE_SIZE;
            let in_page = (off % PAGE_SIZE) as usize;
            let n = (PAGE_SIZE as usize - in_page).min(buf.len() - done);
            let page = self.get_or_alloc(idx)?;
            page.write(in_page, &buf[done..done + n])?;
            done += n;
            off += n as u64;
        }
        Ok(())
    }

    /// Drops every page at or after byte offset `size` and zeroes the tail of
    /// the page containing `size` (for truncation).
    pub fn truncate(&mut self, size: u64) -> Result<(), Errno> {
        let first_gone = size.div_ceil(PAGE_SIZE);
        let _dropped = self.pages.split_off(&first_gone);
        if size % PAGE_SIZE != 0 {
            if let Some(p) = self.pages.get(&(size / PAGE_SIZE)) {
                let in_page = (size % PAGE_SIZE) as usize;
                p.zero(in_page, PAGE_SIZE as usize - in_page)?;
            }
        }
        Ok(())
    }

    /// Allocates every absent page of byte range `[start, end)`
    /// (`fallocate`). Fails with `ENOMEM` (allocating nothing) when the
    /// memory file cannot hold them; on a later failure the pages this call
    /// allocated are freed again.
    pub fn allocate(&mut self, start: u64, end: u64) -> Result<(), Errno> {
        let (first, last) = (start / PAGE_SIZE, end.div_ceil(PAGE_SIZE));
        if first >= last {
            return Ok(());
        }
        let present = self.pages.range(first..last).count() as u64;
        let missing = (last - first).saturating_sub(present);
        let free = self.mf.size().saturating_sub(self.mf.used()) / PAGE_SIZE;
        if missing > free {
            return Err(Errno::ENOMEM);
        }
        let mut added = Vec::new();
        for idx in first..last {
            if self.pages.contains_key(&idx) {
                continue;
            }
            match alloc_pages(&self.mf, 1).and_then(|mut v| v.pop().ok_or(Errno::ENOMEM)) {
                Ok(p) => {
                    self.pages.insert(idx, p);
                    added.push(idx);
                }
                Err(e) => {
                    for i in added {
                        self.pages.remove(&i);
                    }
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Zeroes byte range `[start, end)` (`FALLOC_FL_PUNCH_HOLE`): partial
    /// pages are zeroed; whole pages are freed, or zeroed in place while
    /// something else (a mapping) still holds them, so that mappings keep
    /// seeing the file's contents.
    pub fn punch(&mut self, start: u64, end: u64) -> Result<(), Errno> {
        if start >= end {
            return Ok(());
        }
        let first_whole = start.div_ceil(PAGE_SIZE);
        let end_whole = end / PAGE_SIZE;
        if start % PAGE_SIZE != 0 {
            let idx = start / PAGE_SIZE;
            if let Some(p) = self.pages.get(&idx) {
                let from = (start % PAGE_SIZE) as usize;
                let to = (end.min((idx + 1) * PAGE_SIZE) - idx * PAGE_SIZE) as usize;
                p.zero(from, to - from)?;
            }
        }
        if end % PAGE_SIZE != 0 && end_whole >= first_whole {
            if let Some(p) = self.pages.get(&end_whole) {
                p.zero(0, (end % PAGE_SIZE) as usize)?;
            }
        }
        if first_whole < end_whole {
            let whole: Vec<u64> = self.pages.range(first_whole..end_whole).map(|(&k, _)| k).collect();
            for idx in whole {
                let shared = self.pages.get(&idx).is_some_and(|p| Arc::strong_count(p) > 1);
                if shared {
                    if let Some(p) = self.pages.get(&idx) {
                        p.zero(0, PAGE_SIZE as usize)?;
                    }
                } else {
                    self.pages.remove(&idx);
                }
            }
        }
        Ok(())
    }

    /// Number of pages held.
    pub fn len(&self) -> usize {
        self.pages.len()
    }

    /// Whether the store holds no page.
    pub fn is_empty(&self) -> bool {
        self.pages.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_freed_with_their_last_reference() {
        let mf = Arc::new(MemoryFile::new(1 << 20).unwrap());
        let pages = alloc_pages(&mf, 4).unwrap();
        assert_eq!(mf.used(), 4 * PAGE_SIZE);
        assert_eq!(pages[1].offset(), pages[0].offset() + PAGE_SIZE, "contiguous");
        let extra = pages[2].clone();
        drop(pages);
        assert_eq!(mf.used(), PAGE_SIZE);
        drop(extra);
        assert_eq!(mf.used(), 0);
    }

    #[test]
    fn duplicate_copies_contents() {
        let mf = Arc::new(MemoryFile::new(1 << 20).unwrap());
        let p = alloc_pages(&mf, 1).unwrap().pop().unwrap();
        p.write(100, b"abc").unwrap();
        let q = p.duplicate().unwrap();
        q.write(100, b"x").unwrap();
        let mut b = [0u8; 3];
        p.read(100, &mut b).unwrap();
        assert_eq!(&b, b"abc");
        q.read(100, &mut b).unwrap();
        assert_eq!(&b, b"xbc");
        assert!(p.read(4095, &mut b).is_err(), "crossing the page end is refused");
    }

    #[test]
    fn store_reads_holes_as_zero_and_truncates() {
        let mf = Arc::new(MemoryFile::new(1 << 20).unwrap());
        let mut s = PageStore::new(mf.clone());
        s.write(PAGE_SIZE - 2, b"hello").unwrap();
        assert_eq!(s.len(), 2);
        let mut b = [9u8; 8];
        s.read(PAGE_SIZE - 4, &mut b).unwrap();
        assert_eq!(&b, b"\0\0hello\0");
        s.truncate(PAGE_SIZE).unwrap();
        assert_eq!(s.len(), 1);
        s.truncate(PAGE_SIZE - 1).unwrap();
        s.read(PAGE_SIZE - 4, &mut b[..4]).unwrap();
        assert_eq!(&b[..4], b"\0\0h\0");
        s.read(10 * PAGE_SIZE, &mut b).unwrap();
        assert_eq!(b, [0; 8]);
    }

    #[test]
    fn store_allocates_ranges_and_punches_holes() {
        let mf = Arc::new(MemoryFile::new(16 * PAGE_SIZE).unwrap());
        let mut s = PageStore::new(mf.clone());
        s.write(0, &[1u8; 4 * PAGE_SIZE as usize]).unwrap();
        s.allocate(2 * PAGE_SIZE, 6 * PAGE_SIZE + 1).unwrap();
        assert_eq!(s.len(), 7);
        assert_eq!(s.allocate(0, 100 * PAGE_SIZE), Err(Errno::ENOMEM));
        assert_eq!(s.len(), 7, "a failed allocation allocates nothing");
        // A mapping holds page 2: punching zeroes it in place.
        let held = s.get_or_alloc(2).unwrap();
        s.punch(10, 3 * PAGE_SIZE + 5).unwrap();
        assert_eq!(s.len(), 6, "page 1 freed, 0 and 3 partial, 2 held");
        let mut b = [9u8; 12];
        s.read(4, &mut b).unwrap();
        assert_eq!(b, [1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0]);
        held.read(0, &mut b).unwrap();
        assert_eq!(b, [0; 12]);
        s.read(3 * PAGE_SIZE + 3, &mut b[..4]).unwrap();
        assert_eq!(&b[..4], &[0, 0, 1, 1]);
        // Within one page.
        s.punch(3 * PAGE_SIZE + 6, 3 * PAGE_SIZE + 7).unwrap();
        s.read(3 * PAGE_SIZE + 5, &mut b[..3]).unwrap();
        assert_eq!(&b[..3], &[1, 0, 1]);
    }
}
