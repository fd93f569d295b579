//! Copying between the Sentry and application memory.
//!
//! Every helper walks the VMAs, makes the pages present (faulting them in as
//! the application would, and mapping them so the application does not
//! fault on them again), and copies through the memory file. A range that is
//! not entirely mapped with the needed permission gives `EFAULT`.

use platforms::{Perms, PAGE_SIZE};

use super::{lock, page_down, MmState, MM};
use crate::errno::Errno;

/// Largest byte count one read or write transfers (Linux's `MAX_RW_COUNT`).
pub const MAX_RW_COUNT: u64 = (i32::MAX as u64) & !(PAGE_SIZE - 1);

/// Most iovecs one call accepts (`UIO_MAXIOV`).
pub const UIO_MAXIOV: u64 = 1024;

/// One `struct iovec`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoVec {
    pub base: u64,
    pub len: u64,
}

impl MM {
    /// Runs `f(page, offset_in_page, range_in_buf)` for each page of
    /// `[addr, addr+len)` after making the range present for `access`.
    fn for_each_page(
        &self,
        addr: u64,
        len: usize,
        access: Perms,
        force: bool,
        mut f: impl FnMut(&super::Page, usize, std::ops::Range<usize>) -> Result<(), Errno>,
    ) -> Result<(), Errno> {
        if len == 0 {
            return Ok(());
        }
        let end = addr.checked_add(len as u64).ok_or(Errno::EFAULT)?;
        if addr < self.min_addr || end > self.max_addr {
            return Err(Errno::EFAULT);
        }
        let mut s = lock(&self.state);
        self.populate(&mut s, addr, end, access, !force, force)?;
        copy_pages(&s, addr, len, &mut f)
    }

    /// Copies `data` to application address `addr`.
    pub fn copy_out(&self, addr: u64, data: &[u8]) -> Result<(), Errno> {
        self.for_each_page(addr, data.len(), Perms::RW, false, |p, off, r| p.write(off, &data[r]))
    }

    /// Copies application memory at `addr` into `buf`.
    pub fn copy_in(&self, addr: u64, buf: &mut [u8]) -> Result<(), Errno> {
        self.for_each_page(addr, buf.len(), Perms::R, false, |p, off, r| p.read(off, &mut buf[r]))
    }

    /// Copies `len` bytes of application memory at `addr` into a new vector.
    pub fn copy_in_vec(&self, addr: u64, len: usize) -> Result<Vec<u8>, Errno> {
        let mut v = vec![0u8; len];
        self.copy_in(addr, &mut v)?;
        Ok(v)
    }

    /// Writes `data` at `addr` regardless of the VMA's permissions (the
    /// loader filling read-only segments). The range must be mapped.
    pub fn write_force(&self, addr: u64, data: &[u8]) -> Result<(), Errno> {
        self.for_each_page(addr, data.len(), Perms::RW, true, |p, off, r| p.write(off, &data[r]))
    }

    /// Zeroes `len` bytes at `addr` regardless of the VMA's permissions.
    pub fn zero_force(&self, addr: u64, len: usize) -> Result<(), Errno> {
        self.for_each_page(addr, len, Perms::RW, true, |p, off, r| p.zero(off, r.len()))
    }

    /// Copies a NUL-terminated string from `addr` (without the NUL). A
    /// string longer than `max` bytes gives `ENAMETOOLONG`.
    pub fn copy_in_string(&self, addr: u64, max: usize) -> Result<Vec<u8>, Errno> {
        let mut out = Vec::new();
        let mut cur = addr;
        loop {
            let chunk = (PAGE_SIZE - cur % PAGE_SIZE) as usize;
            let mut buf = vec![0u8; chunk];
            self.copy_in(cur, &mut buf)?;
            if let Some(nul) = buf.iter().position(|&b| b == 0) {
                out.extend_from_slice(&buf[..nul]);
                if out.len() > max {
                    return Err(Errno::ENAMETOOLONG);
                }
                return Ok(out);
            }
            out.extend_from_slice(&buf);
            if out.len() > max {
                return Err(Errno::ENAMETOOLONG);
            }
            cur = cur.checked_add(chunk as u64).ok_or(Errno::EFAULT)?;
        }
    }

    /// Reads a plain-old-data value of `N` bytes.
    pub fn read_bytes<const N: usize>(&self, addr: u64) -> Result<[u8; N], Errno> {
        let mut b = [0u8; N];
        self.copy_in(addr, &mut b)?;
        Ok(b)
    }

    /// Reads a little-endian u64.
    pub fn read_u64(&self, addr: u64) -> Result<u64, Errno> {
        Ok(u64::from_le_bytes(self.read_bytes(addr)?))
    }

    /// Reads a little-endian u32.
    pub fn read_u32(&self, addr: u64) -> Result<u32, Errno> {
        Ok(u32::from_le_bytes(self.read_bytes(addr)?))
    }

    /// Writes a little-endian u64.
    pub fn write_u64(&self, addr: u64, v: u64) -> Result<(), Errno> {
        self.copy_out(addr, &v.to_le_bytes())
    }

    /// Writes a little-endian u32.
    pub fn write_u32(&self, addr: u64, v: u32) -> Result<(), Errno> {
        self.copy_out(addr, &v.to_le_bytes())
    }

    /// Atomically updates the aligned u32 at `addr` (writable memory):
    /// `f(old)` gives the new value or `None` to leave it; returns the old
    /// value. `EFAULT` for bad or unaligned addresses.
    pub fn atomic_update_u32(&self, addr: u64, mut f: impl FnMut(u32) -> Option<u32>) -> Result<u32, Errno> {
        if addr % 4 != 0 {
            return Err(Errno::EINVAL);
        }
        let mut old = 0;
        self.for_each_page(addr, 4, Perms::RW, false, |p, off, _| {
            old = p.memory_file().atomic_update_u32(p.offset() + off as u64, &mut f).map_err(|_| Errno::EFAULT)?;
            Ok(())
        })?;
        Ok(old)
    }

    /// Reads an array of `count` iovecs at `addr`, validating counts as
    /// Linux does (`EINVAL` for too many or an overflowing total) and
    /// clamping the total to [`MAX_RW_COUNT`].
    pub fn copy_in_iovecs(&self, addr: u64, count: u64) -> Result<Vec<IoVec>, Errno> {
        if count > UIO_MAXIOV {
            return Err(Errno::EINVAL);
        }
        let raw = self.copy_in_vec(addr, count as usize * 16)?;
        let mut out = Vec::with_capacity(count as usize);
        let mut total: u64 = 0;
        for c in raw.chunks_exact(16) {
            let base = u64::from_le_bytes(c[..8].try_into().map_err(|_| Errno::EFAULT)?);
            let mut len = u64::from_le_bytes(c[8..].try_into().map_err(|_| Errno::EFAULT)?);
            if len > i64::MAX as u64 {
                return Err(Errno::EINVAL);
            }
            len = len.min(MAX_RW_COUNT - total);
            total += len;
            out.push(IoVec { base, len });
        }
        Ok(out)
    }
}

/// Walks the (present) pages of `[addr, addr+len)`.
fn copy_pages(
    s: &MmState,
    addr: u64,
    len: usize,
    f: &mut impl FnMut(&super::Page, usize, std::ops::Range<usize>) -> Result<(), Errno>,
) -> Result<(), Errno> {
    let mut done = 0usize;
    while done < len {
        let cur = addr + done as u64;
        let in_page = (cur % PAGE_SIZE) as usize;
        let n = (PAGE_SIZE as usize - in_page).min(len - done);
        let pte = s.ptes.get(&page_down(cur)).ok_or(Errno::EFAULT)?;
        f(&pte.page, in_page, done..done + n)?;
        done += n;
    }
    Ok(())
}
