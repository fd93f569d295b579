//! Memory management: an [`MM`] per address space.
//!
//! An MM holds the application's virtual memory areas ([`Vma`], in a
//! `BTreeMap` keyed by start address) and a page table of the pages it has
//! touched ([`Pte`], keyed by page address). Pages come from the
//! [`MemoryFile`](platforms::MemoryFile) on first touch and are mapped into
//! the platform [`AddressSpace`] lazily, by the page-fault handler or by the
//! `copy_in`/`copy_out` helpers, several pages at a time (each fault costs
//! microseconds on ptrace).
//!
//! Private pages carry copy-on-write semantics: a private page is writable
//! in place only if this MM owns it exclusively ([`Pte::owned`] and a
//! reference count of one); otherwise it is mapped read-only and copied on
//! the first write. Fork (later) will share the page table and remap the
//! parent's writable private pages read-only.
//!
//! System call handlers never dereference application pointers: they use
//! [`MM::copy_in`], [`MM::copy_out`], [`MM::copy_in_string`] and the iovec
//! helpers, which return `EFAULT` for bad ranges.

mod io;
mod page;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use platforms::{AddressSpace, MemoryFile, Perms, PAGE_SIZE};

use crate::errno::Errno;

pub use io::{IoVec, MAX_RW_COUNT};
pub use page::{alloc_pages, Page, PageRef, PageStore};

/// Pages mapped around a faulting page (the fault-around window).
pub const FAULT_AROUND_PAGES: u64 = 16;

/// Rounds `v` down to a page boundary.
pub fn page_down(v: u64) -> u64 {
    v & !(PAGE_SIZE - 1)
}

/// Rounds `v` up to a page boundary (`None` on overflow).
pub fn page_up(v: u64) -> Option<u64> {
    v.checked_add(PAGE_SIZE - 1).map(page_down)
}

/// A memory object that can be mapped: a file's page cache, shared
/// anonymous memory.
pub trait Mappable: Send + Sync {
    /// The page at page-aligned byte `offset` of the object, allocated if it
    /// is a hole. `EFAULT` beyond the end of the object (SIGBUS for the
    /// application).
    fn page(&self, offset: u64) -> Result<PageRef, Errno>;

    /// The pages at `count` consecutive page-aligned offsets from `offset`,
    /// stopping before the first one [`page`](Mappable::page) would refuse.
    /// Objects whose pages come from elsewhere (the Gofer) fetch the
    /// missing ones in one request, into contiguous memory, so that a
    /// fault-around maps them with one call.
    fn pages(&self, offset: u64, count: u64) -> Vec<PageRef> {
        (0..count).map_while(|i| self.page(offset + i * PAGE_SIZE).ok()).collect()
    }

    /// A name for diagnostics (`/proc/pid/maps` later).
    fn describe(&self) -> String;

    /// A shared writable mapping of the object now exists: its pages may
    /// change behind the file's back.
    fn mapped_writable(&self) {}

    /// Writes pages changed through mappings back to where the object
    /// lives (`msync`, unmapping, `fsync`).
    fn sync(&self) -> Result<(), Errno> {
        Ok(())
    }
}

/// Shared anonymous memory (`MAP_SHARED|MAP_ANONYMOUS`).
pub struct AnonObject {
    store: Mutex<PageStore>,
    size: u64,
}

impl AnonObject {
    /// A zero-filled object of `size` bytes.
    pub fn new(mf: Arc<MemoryFile>, size: u64) -> AnonObject {
        AnonObject { store: Mutex::new(PageStore::new(mf)), size }
    }
}

impl Mappable for AnonObject {
    fn page(&self, offset: u64) -> Result<PageRef, Errno> {
        if offset >= self.size {
            return Err(Errno::EFAULT);
        }
        lock(&self.store).get_or_alloc(offset / PAGE_SIZE)
    }

    fn describe(&self) -> String {
        "/dev/zero (deleted)".into()
    }
}

/// Locks a mutex, ignoring poisoning (a panicking Sentry thread has already
/// been reported; the data is still consistent at every unlock point).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What kind of area a VMA is, for diagnostics and brk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmaKind {
    /// An ordinary mapping.
    Normal,
    /// The brk heap.
    Heap,
    /// The main thread's stack.
    Stack,
}

/// A virtual memory area: `[start, end)` with one set of permissions and one
/// backing object.
#[derive(Clone)]
pub struct Vma {
    pub start: u64,
    pub end: u64,
    /// Current permissions.
    pub perms: Perms,
    /// Permissions `mprotect` may grant (a read-only file mapped shared
    /// cannot become writable).
    pub max_perms: Perms,
    /// `MAP_SHARED`: writes go to the backing object.
    pub shared: bool,
    /// The backing object; `None` for private anonymous memory.
    pub backing: Option<Arc<dyn Mappable>>,
    /// Byte offset in `backing` that corresponds to `start`.
    pub offset: u64,
    pub kind: VmaKind,
    /// The mapped file's path, for `/proc/[pid]/maps`.
    pub name: Option<Arc<str>>,
}

impl std::fmt::Debug for Vma {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Vma({:#x}-{:#x} {}{}{} {}{:?} {})",
            self.start,
            self.end,
            if self.perms.read { 'r' } else { '-' },
            if self.perms.write { 'w' } else { '-' },
            if self.perms.execute { 'x' } else { '-' },
            if self.shared { "shared " } else { "" },
            self.kind,
            self.backing.as_ref().map(|b| b.describe()).unwrap_or_else(|| "anon".into()),
        )
    }
}

impl Vma {
    /// Whether read access is allowed (on x86, execute implies read).
    fn allows(&self, access: Perms) -> bool {
        let mut p = self.perms;
        if p.execute || p.write {
            p.read = true;
        }
        p.contains(access)
    }

    /// Offset in the backing object of address `addr` within the VMA.
    fn object_offset(&self, addr: u64) -> u64 {
        self.offset + (addr - self.start)
    }
}

/// A page-table entry: a page this MM has touched.
#[derive(Clone, Debug)]
pub struct Pte {
    pub page: PageRef,
    /// The page is private to this MM's lineage (anonymous, or a
    /// copy-on-write copy); it may be written in place when not shared.
    pub owned: bool,
    /// The permissions it is currently mapped with in the address space.
    pub mapped: Option<Perms>,
}

/// Why a fault could not be resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultError {
    /// SIGSEGV with `si_code` SEGV_MAPERR (1) or SEGV_ACCERR (2).
    Segv { code: i32 },
    /// SIGBUS: access beyond the end of a mapped object.
    Bus,
    /// Out of memory.
    Oom,
}

/// `SEGV_MAPERR`: no mapping at the address.
pub const SEGV_MAPERR: i32 = 1;
/// `SEGV_ACCERR`: the mapping does not allow the access.
pub const SEGV_ACCERR: i32 = 2;

/// Options of [`MM::mmap`].
#[derive(Clone)]
pub struct MmapOpts {
    /// Address hint, or the fixed address with `fixed`.
    pub addr: u64,
    pub len: u64,
    pub perms: Perms,
    pub max_perms: Perms,
    pub shared: bool,
    /// `MAP_FIXED`: replace whatever is at `addr`.
    pub fixed: bool,
    /// `MAP_FIXED_NOREPLACE`: `addr` or `EEXIST`.
    pub noreplace: bool,
    pub backing: Option<Arc<dyn Mappable>>,
    pub offset: u64,
    pub kind: VmaKind,
    /// The mapped file's path (diagnostics, `/proc/[pid]/maps`).
    pub name: Option<Arc<str>>,
}

impl MmapOpts {
    /// Private anonymous memory of `len` bytes with `perms`.
    pub fn anon(len: u64, perms: Perms) -> MmapOpts {
        MmapOpts {
            addr: 0,
            len,
            perms,
            max_perms: Perms::RWX,
            shared: false,
            fixed: false,
            noreplace: false,
            backing: None,
            offset: 0,
            kind: VmaKind::Normal,
            name: None,
        }
    }
}

/// The mutable state of an MM.
struct MmState {
    vmas: BTreeMap<u64, Vma>,
    ptes: BTreeMap<u64, Pte>,
    brk_start: u64,
    brk: u64,
    /// New mappings without a hint go below this address, top-down.
    mmap_top: u64,
}

/// The memory of one application address space.
pub struct MM {
    space: Arc<dyn AddressSpace>,
    mf: Arc<MemoryFile>,
    min_addr: u64,
    max_addr: u64,
    state: Mutex<MmState>,
}

impl std::fmt::Debug for MM {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = lock(&self.state);
        f.debug_struct("MM").field("vmas", &s.vmas.values().collect::<Vec<_>>()).field("pages", &s.ptes.len()).finish()
    }
}

impl MM {
    /// An empty MM over `space`, with application addresses in
    /// `[min_addr, max_addr)`.
    pub fn new(space: Arc<dyn AddressSpace>, mf: Arc<MemoryFile>, min_addr: u64, max_addr: u64) -> MM {
        let min_addr = page_up(min_addr).unwrap_or(PAGE_SIZE).max(PAGE_SIZE);
        let max_addr = page_down(max_addr);
        MM {
            space,
            mf,
            min_addr,
            max_addr,
            state: Mutex::new(MmState {
                vmas: BTreeMap::new(),
                ptes: BTreeMap::new(),
                brk_start: 0,
                brk: 0,
                mmap_top: max_addr,
            }),
        }
    }

    /// The platform address space.
    pub fn address_space(&self) -> &Arc<dyn AddressSpace> {
        &self.space
    }

    /// The memory file pages come from.
    pub fn memory_file(&self) -> &Arc<MemoryFile> {
        &self.mf
    }

    /// Lowest mappable address.
    pub fn min_addr(&self) -> u64 {
        self.min_addr
    }

    /// End of the mappable range.
    pub fn max_addr(&self) -> u64 {
        self.max_addr
    }

    /// Sets where top-down mmap allocation starts (below the stack).
    pub fn set_mmap_top(&self, top: u64) {
        lock(&self.state).mmap_top = page_down(top).min(self.max_addr);
    }

    /// Sets the start of the brk heap (page-aligned end of the program).
    pub fn set_brk_start(&self, start: u64) {
        let mut s = lock(&self.state);
        s.brk_start = start;
        s.brk = start;
    }

    /// A copy of the VMAs, in address order (for tests and diagnostics).
    pub fn vmas(&self) -> Vec<Vma> {
        lock(&self.state).vmas.values().cloned().collect()
    }

    /// Number of pages this MM holds.
    pub fn resident_pages(&self) -> usize {
        lock(&self.state).ptes.len()
    }

    /// Whether `[addr, addr+len)` is entirely mapped writable (for calls
    /// that, like Linux, check an output buffer before doing anything).
    pub fn is_writable(&self, addr: u64, len: usize) -> bool {
        let Some(end) = addr.checked_add(len as u64) else { return false };
        if len == 0 {
            return true;
        }
        let s = lock(&self.state);
        let mut cur = addr;
        for v in s.vmas_in(addr, end) {
            if v.start > cur || !v.perms.write {
                return false;
            }
            cur = v.end;
        }
        cur >= end
    }

    /// `mincore`: one byte per page of `[addr, addr+len)`, 1 if the page is
    /// present in memory. `ENOMEM` if part of the range is unmapped.
    pub fn residency(&self, addr: u64, len: u64) -> Result<Vec<u8>, Errno> {
        if addr % PAGE_SIZE != 0 {
            return Err(Errno::EINVAL);
        }
        let end = addr.checked_add(page_up(len).ok_or(Errno::ENOMEM)?).ok_or(Errno::ENOMEM)?;
        if end > self.max_addr {
            return Err(Errno::ENOMEM);
        }
        let s = lock(&self.state);
        let mut cur = addr;
        for v in s.vmas_in(addr, end) {
            if v.start > cur {
                return Err(Errno::ENOMEM);
            }
            cur = v.end;
        }
        if cur < end {
            return Err(Errno::ENOMEM);
        }
        Ok((addr / PAGE_SIZE..end / PAGE_SIZE).map(|p| s.ptes.contains_key(&(p * PAGE_SIZE)) as u8).collect())
    }

    /// Writes back the objects of the shared mappings in `[addr, addr+len)`
    /// (`msync`). `ENOMEM` if part of the range is unmapped.
    pub fn sync_range(&self, addr: u64, len: u64) -> Result<(), Errno> {
        let end = addr.checked_add(page_up(len).ok_or(Errno::ENOMEM)?).ok_or(Errno::ENOMEM)?;
        let objects: Vec<Arc<dyn Mappable>> = {
            let s = lock(&self.state);
            let mut cur = addr;
            let mut objs = Vec::new();
            for v in s.vmas_in(addr, end) {
                if v.start > cur {
                    return Err(Errno::ENOMEM);
                }
                if let Some(b) = v.backing.as_ref().filter(|_| v.shared) {
                    objs.push(b.clone());
                }
                cur = v.end;
            }
            if cur < end {
                return Err(Errno::ENOMEM);
            }
            objs
        };
        for o in objects {
            o.sync()?;
        }
        Ok(())
    }

    /// For a shared mapping at `addr`: the identity of the mapped object
    /// and the offset in it (futex keys).
    pub fn shared_object_at(&self, addr: u64) -> Option<(usize, u64)> {
        let s = lock(&self.state);
        let v = s.find(addr)?;
        let obj = v.backing.as_ref().filter(|_| v.shared)?;
        Some((Arc::as_ptr(obj) as *const u8 as usize, v.object_offset(addr)))
    }

    /// A copy of this MM for a child process (`fork`): the same mappings;
    /// private pages shared copy-on-write (write-protected in both from
    /// now on), shared mappings sharing their objects.
    pub fn fork(&self, space: Arc<dyn AddressSpace>) -> Result<MM, Errno> {
        let mut s = lock(&self.state);
        // Write-protect the parent's private pages: the next write copies.
        let private_rw: Vec<Vma> = s.vmas.values().filter(|v| !v.shared && v.perms.write).cloned().collect();
        for vma in &private_rw {
            let mut runs: Vec<(u64, u64)> = Vec::new();
            for (&a, pte) in s.ptes.range_mut(vma.start..vma.end) {
                if let Some(p) = pte.mapped.filter(|p| p.write) {
                    pte.mapped = Some(Perms { write: false, ..p });
                    match runs.last_mut() {
                        Some((ra, rl)) if *ra + *rl == a => *rl += PAGE_SIZE,
                        _ => runs.push((a, PAGE_SIZE)),
                    }
                }
            }
            let ro = Perms { write: false, ..vma.perms };
            for (a, l) in runs {
                self.space.protect(a, l, ro).map_err(Errno::from)?;
            }
        }
        let ptes =
            s.ptes.iter().map(|(&a, p)| (a, Pte { page: p.page.clone(), owned: p.owned, mapped: None })).collect();
        Ok(MM {
            space,
            mf: self.mf.clone(),
            min_addr: self.min_addr,
            max_addr: self.max_addr,
            state: Mutex::new(MmState {
                vmas: s.vmas.clone(),
                ptes,
                brk_start: s.brk_start,
                brk: s.brk,
                mmap_top: s.mmap_top,
            }),
        })
    }

    /// `mmap`: creates a mapping and returns its address.
    pub fn mmap(&self, o: MmapOpts) -> Result<u64, Errno> {
        if o.len == 0 {
            return Err(Errno::EINVAL);
        }
        let len = page_up(o.len).ok_or(Errno::ENOMEM)?;
        if o.offset % PAGE_SIZE != 0 || o.offset.checked_add(len).is_none() {
            return Err(Errno::EINVAL);
        }
        let mut s = lock(&self.state);
        let start = if o.fixed || o.noreplace {
            if o.addr % PAGE_SIZE != 0 {
                return Err(Errno::EINVAL);
            }
            let end = o.addr.checked_add(len).ok_or(Errno::ENOMEM)?;
            if o.addr < self.min_addr {
                return Err(Errno::EPERM);
            }
            if end > self.max_addr {
                return Err(Errno::ENOMEM);
            }
            if s.overlaps(o.addr, end) {
                if o.noreplace {
                    return Err(Errno::EEXIST);
                }
                self.remove_range(&mut s, o.addr, end)?;
            }
            o.addr
        } else {
            let hint = page_down(o.addr);
            match hint.checked_add(len) {
                Some(end) if hint >= self.min_addr && end <= self.max_addr && !s.overlaps(hint, end) => hint,
                _ => self.find_gap(&s, len).ok_or(Errno::ENOMEM)?,
            }
        };
        if let Some(b) = o.backing.as_ref().filter(|_| o.shared && o.max_perms.write) {
            b.mapped_writable();
        }
        s.vmas.insert(
            start,
            Vma {
                start,
                end: start + len,
                perms: o.perms,
                max_perms: o.max_perms,
                shared: o.shared,
                backing: o.backing,
                offset: o.offset,
                kind: o.kind,
                name: o.name,
            },
        );
        Ok(start)
    }

    /// The last user of the address space is gone (Linux's `exit_mmap`):
    /// every mapping goes now, not whenever the last reference to the MM
    /// does, so that what mappings hold (System V shared memory attaches,
    /// file pages) is released before the parent hears of the exit.
    pub fn exit_mmap(&self) {
        let mut s = lock(&self.state);
        if let Err(e) = self.remove_range(&mut s, self.min_addr(), self.max_addr()) {
            tracing::debug!(error = %e, "releasing an exited process's mappings");
        }
    }

    /// `munmap`.
    pub fn munmap(&self, addr: u64, len: u64) -> Result<(), Errno> {
        if addr % PAGE_SIZE != 0 || len == 0 {
            return Err(Errno::EINVAL);
        }
        let end = addr.checked_add(page_up(len).ok_or(Errno::EINVAL)?).ok_or(Errno::EINVAL)?;
        if end > self.max_addr {
            return Err(Errno::EINVAL);
        }
        let mut s = lock(&self.state);
        self.remove_range(&mut s, addr, end)
    }

    /// `mprotect`.
    pub fn mprotect(&self, addr: u64, len: u64, perms: Perms) -> Result<(), Errno> {
        if addr % PAGE_SIZE != 0 {
            return Err(Errno::EINVAL);
        }
        let len = page_up(len).ok_or(Errno::ENOMEM)?;
        if len == 0 {
            return Ok(());
        }
        let end = addr.checked_add(len).ok_or(Errno::ENOMEM)?;
        let mut s = lock(&self.state);
        // The whole range must be mapped.
        let mut cur = addr;
        for v in s.vmas_in(addr, end) {
            if v.start > cur {
                return Err(Errno::ENOMEM);
            }
            if !v.max_perms.contains(Perms { read: false, ..perms }) {
                return Err(Errno::EACCES);
            }
            cur = v.end;
        }
        if cur < end {
            return Err(Errno::ENOMEM);
        }
        s.split_at(addr);
        s.split_at(end);
        for (_, v) in s.vmas.range_mut(addr..end) {
            v.perms = perms;
        }
        self.unmap_ptes(&mut s, addr, end)?;
        s.merge_around(addr, end);
        Ok(())
    }

    /// `brk`: moves the program break; returns the new (or, on failure,
    /// unchanged) break, as Linux does.
    pub fn brk(&self, new: u64) -> u64 {
        let mut s = lock(&self.state);
        let old = s.brk;
        if new < s.brk_start || s.brk_start == 0 {
            return old;
        }
        let (Some(old_end), Some(new_end)) = (page_up(old), page_up(new)) else { return old };
        if new_end > self.max_addr {
            return old;
        }
        if new_end > old_end {
            if s.overlaps(old_end, new_end) {
                return old;
            }
            let heap = s
                .vmas
                .range_mut(..old_end)
                .next_back()
                .map(|(_, v)| v)
                .filter(|v| v.end == old_end && v.kind == VmaKind::Heap);
            match heap {
                Some(v) => v.end = new_end,
                None => {
                    s.vmas.insert(
                        old_end,
                        Vma {
                            start: old_end,
                            end: new_end,
                            perms: Perms::RW,
                            max_perms: Perms::RWX,
                            shared: false,
                            backing: None,
                            offset: 0,
                            kind: VmaKind::Heap,
                            name: None,
                        },
                    );
                }
            }
        } else if new_end < old_end && self.remove_range(&mut s, new_end, old_end).is_err() {
            return old;
        }
        s.brk = new;
        new
    }

    /// `mremap` without `MREMAP_FIXED`: resizes the mapping at `old`, moving
    /// it if `may_move`. Returns the new address.
    pub fn mremap(&self, old: u64, old_len: u64, new_len: u64, may_move: bool) -> Result<u64, Errno> {
        if old % PAGE_SIZE != 0 || new_len == 0 {
            return Err(Errno::EINVAL);
        }
        let old_len = page_up(old_len).ok_or(Errno::EINVAL)?;
        let new_len = page_up(new_len).ok_or(Errno::EINVAL)?;
        let old_end = old.checked_add(old_len).ok_or(Errno::EINVAL)?;
        let mut s = lock(&self.state);
        if new_len <= old_len {
            self.remove_range(&mut s, old + new_len, old_end)?;
            return Ok(old);
        }
        let vma = s.find(old).cloned().ok_or(Errno::EFAULT)?;
        if old_end > vma.end {
            return Err(Errno::EFAULT);
        }
        let grow_end = old.checked_add(new_len).ok_or(Errno::ENOMEM)?;
        if old_end == vma.end && grow_end <= self.max_addr && !s.overlaps(old_end, grow_end) {
            if let Some(v) = s.vmas.get_mut(&vma.start) {
                v.end = grow_end;
            }
            return Ok(old);
        }
        if !may_move {
            return Err(Errno::ENOMEM);
        }
        let new = self.find_gap(&s, new_len).ok_or(Errno::ENOMEM)?;
        // Take the pages of the old range, then remove it.
        let moved: Vec<(u64, Pte)> = {
            let keys: Vec<u64> = s.ptes.range(old..old_end).map(|(&k, _)| k).collect();
            keys.into_iter().filter_map(|k| s.ptes.remove(&k).map(|p| (k, p))).collect()
        };
        if moved.iter().any(|(_, p)| p.mapped.is_some()) {
            self.space.unmap(old, old_len).map_err(Errno::from)?;
        }
        self.remove_range(&mut s, old, old_end)?;
        let mut nv = vma.clone();
        nv.offset = vma.object_offset(old);
        nv.start = new;
        nv.end = new + new_len;
        s.vmas.insert(new, nv);
        for (k, mut p) in moved {
            p.mapped = None;
            s.ptes.insert(new + (k - old), p);
        }
        Ok(new)
    }

    /// `madvise(MADV_DONTNEED)`: drops the pages of `[addr, addr+len)`;
    /// private memory reads back as zeros (or the file's contents).
    pub fn dont_need(&self, addr: u64, len: u64) -> Result<(), Errno> {
        if addr % PAGE_SIZE != 0 {
            return Err(Errno::EINVAL);
        }
        let end = addr.checked_add(page_up(len).ok_or(Errno::EINVAL)?).ok_or(Errno::EINVAL)?;
        let mut s = lock(&self.state);
        self.unmap_ptes(&mut s, addr, end)?;
        let keys: Vec<u64> = s.ptes.range(addr..end).map(|(&k, _)| k).collect();
        for k in keys {
            s.ptes.remove(&k);
        }
        Ok(())
    }

    /// Handles an application page fault at `addr` for an `access`: makes
    /// the page (and, opportunistically, its neighbours) present and mapped.
    pub fn handle_fault(&self, addr: u64, access: Perms) -> Result<(), FaultError> {
        let mut s = lock(&self.state);
        let page = page_down(addr);
        let vma = s.find(addr).cloned().ok_or(FaultError::Segv { code: SEGV_MAPERR })?;
        if !vma.allows(access) {
            return Err(FaultError::Segv { code: SEGV_ACCERR });
        }
        let lo = page.saturating_sub(FAULT_AROUND_PAGES / 2 * PAGE_SIZE).max(vma.start);
        let hi = page.saturating_add(FAULT_AROUND_PAGES / 2 * PAGE_SIZE).min(vma.end);
        // The window first, so that its anonymous pages (the faulting one
        // included) are one contiguous allocation mapped with one call.
        self.fill_window(&mut s, &vma, lo, hi);
        self.ensure_page(&mut s, &vma, page, access.write)?;
        // The faulting page is always (re)mapped: if our record said it was
        // already mapped correctly, the record was wrong, and trusting it
        // would make the application fault forever.
        if let Some(pte) = s.ptes.get_mut(&page) {
            pte.mapped = None;
        }
        self.map_range(&mut s, &vma, lo, hi).map_err(|_| FaultError::Oom)
    }

    /// Makes every page of `[start, end)` present for `access`, mapping them
    /// in the address space if `map`. With `force`, the VMA's permissions
    /// are ignored (for the loader writing read-only segments).
    fn populate(
        &self,
        s: &mut MmState,
        start: u64,
        end: u64,
        access: Perms,
        map: bool,
        force: bool,
    ) -> Result<(), Errno> {
        let mut cur = page_down(start);
        while cur < end {
            let vma = s.find(cur).cloned().ok_or(Errno::EFAULT)?;
            if !force && !vma.allows(access) {
                return Err(Errno::EFAULT);
            }
            let seg_end = vma.end.min(page_up(end).unwrap_or(vma.end));
            // Batch-allocate the missing anonymous pages of this stretch.
            self.fill_window(s, &vma, cur, seg_end);
            let mut p = cur;
            while p < seg_end {
                self.ensure_page(s, &vma, p, access.write).map_err(|_| Errno::EFAULT)?;
                p += PAGE_SIZE;
            }
            if map {
                self.map_range(s, &vma, cur, seg_end)?;
            } else {
                // Pages copied on write must not stay mapped to the old page.
                self.unmap_ptes(s, cur, seg_end)?;
            }
            cur = seg_end;
        }
        Ok(())
    }

    /// Makes the page at `page` present in `vma`, writable in place if
    /// `write` (copying a shared private page).
    fn ensure_page(&self, s: &mut MmState, vma: &Vma, page: u64, write: bool) -> Result<(), FaultError> {
        let private_write = write && !vma.shared;
        if let Some(pte) = s.ptes.get_mut(&page) {
            if private_write && !(pte.owned && Arc::strong_count(&pte.page) == 1) {
                // Copy-on-write.
                let copy = pte.page.duplicate().map_err(|_| FaultError::Oom)?;
                pte.page = copy;
                pte.owned = true;
                // Still mapped to the old page: mark stale (the caller remaps
                // or unmaps the range).
                pte.mapped = pte.mapped.map(|_| Perms::NONE);
            }
            return Ok(());
        }
        let pte = match &vma.backing {
            None => {
                let page = alloc_pages(&self.mf, 1).map_err(|_| FaultError::Oom)?.pop().ok_or(FaultError::Oom)?;
                Pte { page, owned: true, mapped: None }
            }
            Some(obj) => {
                let p = obj.page(vma.object_offset(page)).map_err(|_| FaultError::Bus)?;
                if private_write {
                    Pte { page: p.duplicate().map_err(|_| FaultError::Oom)?, owned: true, mapped: None }
                } else {
                    Pte { page: p, owned: false, mapped: None }
                }
            }
        };
        s.ptes.insert(page, pte);
        Ok(())
    }

    /// Best effort: makes the absent pages of `[lo, hi)` in `vma` present
    /// (allocating anonymous pages in one contiguous batch) without copying
    /// any page. Failures are ignored; the caller's own page decides.
    fn fill_window(&self, s: &mut MmState, vma: &Vma, lo: u64, hi: u64) {
        let missing: Vec<u64> =
            (lo / PAGE_SIZE..hi / PAGE_SIZE).map(|i| i * PAGE_SIZE).filter(|a| !s.ptes.contains_key(a)).collect();
        if missing.is_empty() {
            return;
        }
        match &vma.backing {
            None => {
                let Ok(pages) = alloc_pages(&self.mf, missing.len() as u64) else { return };
                for (a, page) in missing.into_iter().zip(pages) {
                    s.ptes.insert(a, Pte { page, owned: true, mapped: None });
                }
            }
            Some(obj) => {
                // Runs of consecutive missing pages, each asked for at once.
                let mut i = 0;
                while i < missing.len() {
                    let mut n = 1;
                    while i + n < missing.len() && missing[i + n] == missing[i] + n as u64 * PAGE_SIZE {
                        n += 1;
                    }
                    let pages = obj.pages(vma.object_offset(missing[i]), n as u64);
                    let short = pages.len() < n;
                    for (k, page) in pages.into_iter().enumerate() {
                        s.ptes.insert(missing[i] + k as u64 * PAGE_SIZE, Pte { page, owned: false, mapped: None });
                    }
                    if short {
                        break;
                    }
                    i += n;
                }
            }
        }
    }

    /// The permissions page `pte` of `vma` may be mapped with.
    fn effective_perms(vma: &Vma, pte: &Pte) -> Perms {
        let mut p = vma.perms;
        let exclusive = pte.owned && Arc::strong_count(&pte.page) == 1;
        if !vma.shared && !exclusive {
            p.write = false;
        }
        p
    }

    /// Maps the present pages of `[lo, hi)` (within `vma`) whose mapping is
    /// out of date, in runs contiguous in both address and memory file.
    fn map_range(&self, s: &mut MmState, vma: &Vma, lo: u64, hi: u64) -> Result<(), Errno> {
        let mut runs: Vec<(u64, u64, u64, Perms)> = Vec::new(); // addr, len, file offset, perms
        for (&a, pte) in s.ptes.range_mut(lo..hi) {
            let want = Self::effective_perms(vma, pte);
            if pte.mapped == Some(want) {
                continue;
            }
            pte.mapped = Some(want);
            let off = pte.page.offset();
            match runs.last_mut() {
                Some((ra, rl, ro, rp)) if *ra + *rl == a && *ro + *rl == off && *rp == want => *rl += PAGE_SIZE,
                _ => runs.push((a, PAGE_SIZE, off, want)),
            }
        }
        for (a, l, o, p) in runs {
            if p == Perms::NONE {
                self.space.unmap(a, l).map_err(Errno::from)?;
            } else {
                self.space.map_file(a, l, o, p).map_err(Errno::from)?;
            }
        }
        Ok(())
    }

    /// Removes the mappings of the pages in `[start, end)` from the address
    /// space (keeping the pages); they are mapped again on the next touch.
    fn unmap_ptes(&self, s: &mut MmState, start: u64, end: u64) -> Result<(), Errno> {
        let mut any = false;
        for (_, pte) in s.ptes.range_mut(start..end) {
            any |= pte.mapped.take().is_some();
        }
        if any {
            self.space.unmap(start, end - start).map_err(Errno::from)?;
        }
        Ok(())
    }

    /// Removes VMAs and pages in `[start, end)`.
    fn remove_range(&self, s: &mut MmState, start: u64, end: u64) -> Result<(), Errno> {
        if start >= end {
            return Ok(());
        }
        // Changes made through shared writable mappings reach the file
        // when they go away (best effort, as Linux's eventual writeback).
        for v in s.vmas_in(start, end) {
            if let Some(b) = v.backing.as_ref().filter(|_| v.shared && v.max_perms.write) {
                let _ = b.sync();
            }
        }
        self.unmap_ptes(s, start, end)?;
        s.split_at(start);
        s.split_at(end);
        let keys: Vec<u64> = s.vmas.range(start..end).map(|(&k, _)| k).collect();
        for k in keys {
            s.vmas.remove(&k);
        }
        let keys: Vec<u64> = s.ptes.range(start..end).map(|(&k, _)| k).collect();
        for k in keys {
            s.ptes.remove(&k);
        }
        Ok(())
    }

    /// Highest free range of `len` bytes below `mmap_top`.
    fn find_gap(&self, s: &MmState, len: u64) -> Option<u64> {
        let mut top = s.mmap_top;
        for v in s.vmas.range(..s.mmap_top).rev().map(|(_, v)| v) {
            if v.end <= top && top - v.end >= len {
                return Some(top - len);
            }
            top = top.min(v.start);
        }
        (top >= self.min_addr.checked_add(len)?).then(|| top - len)
    }
}

impl Drop for MM {
    fn drop(&mut self) {
        let s = lock(&self.state);
        for v in s.vmas.values() {
            if let Some(b) = v.backing.as_ref().filter(|_| v.shared && v.max_perms.write) {
                let _ = b.sync();
            }
        }
    }
}

impl MmState {
    /// The VMA containing `addr`.
    fn find(&self, addr: u64) -> Option<&Vma> {
        self.vmas.range(..=addr).next_back().map(|(_, v)| v).filter(|v| v.end > addr)
    }

    /// Whether any VMA intersects `[start, end)`.
    fn overlaps(&self, start: u64, end: u64) -> bool {
        self.vmas_in(start, end).next().is_some()
    }

    /// The VMAs intersecting `[start, end)`, in order.
    fn vmas_in(&self, start: u64, end: u64) -> impl Iterator<Item = &Vma> {
        let first = self.find(start).map(|v| v.start).unwrap_or(start);
        self.vmas.range(first..end).map(|(_, v)| v).filter(move |v| v.end > start)
    }

    /// Merges the VMAs of `[start, end)` and their neighbours with each
    /// other where they are indistinguishable (as Linux's `vma_merge`, so
    /// that a range split by `mprotect` and restored is one area again).
    fn merge_around(&mut self, start: u64, end: u64) {
        let lo = self.vmas.range(..start).next_back().map(|(&k, _)| k).unwrap_or(start);
        let keys: Vec<u64> = self.vmas.range(lo..=end).map(|(&k, _)| k).collect();
        let mut prev: Option<u64> = None;
        for k in keys {
            let Some(p) = prev else {
                prev = Some(k);
                continue;
            };
            let mergeable = match (self.vmas.get(&p), self.vmas.get(&k)) {
                (Some(a), Some(b)) => {
                    a.end == b.start
                        && a.perms == b.perms
                        && a.max_perms == b.max_perms
                        && a.shared == b.shared
                        && a.kind == b.kind
                        && a.name == b.name
                        && match (&a.backing, &b.backing) {
                            (None, None) => true,
                            (Some(x), Some(y)) => Arc::ptr_eq(x, y) && a.object_offset(a.end) == b.offset,
                            _ => false,
                        }
                }
                _ => false,
            };
            if mergeable {
                if let Some(b) = self.vmas.remove(&k) {
                    if let Some(a) = self.vmas.get_mut(&p) {
                        a.end = b.end;
                    }
                }
            } else {
                prev = Some(k);
            }
        }
    }

    /// Splits the VMA containing `addr` (if `addr` is strictly inside) in two.
    fn split_at(&mut self, addr: u64) {
        let Some(v) = self.find(addr) else { return };
        if v.start == addr {
            return;
        }
        let mut upper = v.clone();
        upper.offset = v.object_offset(addr);
        upper.start = addr;
        let lower_start = v.start;
        if let Some(lower) = self.vmas.get_mut(&lower_start) {
            lower.end = addr;
        }
        self.vmas.insert(addr, upper);
    }
}

#[cfg(test)]
mod tests;
