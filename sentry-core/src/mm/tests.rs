use std::any::Any;
use std::sync::{Arc, Mutex};

use platforms::{AddressSpace, MemoryFile, Perms, PlatformError, PAGE_SIZE};

use super::*;

/// An address space that records what is mapped, page by page.
#[derive(Default)]
struct FakeSpace {
    /// page address -> (file offset, perms)
    pages: Mutex<BTreeMap<u64, (u64, Perms)>>,
    calls: Mutex<Vec<String>>,
}

impl AddressSpace for FakeSpace {
    fn map_file(&self, addr: u64, len: u64, offset: u64, perms: Perms) -> Result<(), PlatformError> {
        self.calls.lock().unwrap().push(format!("map {addr:#x}+{len:#x}"));
        let mut p = self.pages.lock().unwrap();
        for i in 0..len / PAGE_SIZE {
            p.insert(addr + i * PAGE_SIZE, (offset + i * PAGE_SIZE, perms));
        }
        Ok(())
    }
    fn protect(&self, addr: u64, len: u64, perms: Perms) -> Result<(), PlatformError> {
        let mut p = self.pages.lock().unwrap();
        for (_, v) in p.range_mut(addr..addr + len) {
            v.1 = perms;
        }
        Ok(())
    }
    fn unmap(&self, addr: u64, len: u64) -> Result<(), PlatformError> {
        self.calls.lock().unwrap().push(format!("unmap {addr:#x}+{len:#x}"));
        let mut p = self.pages.lock().unwrap();
        let keys: Vec<u64> = p.range(addr..addr + len).map(|(&k, _)| k).collect();
        for k in keys {
            p.remove(&k);
        }
        Ok(())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

fn setup() -> (Arc<FakeSpace>, Arc<MemoryFile>, MM) {
    let space = Arc::new(FakeSpace::default());
    let mf = Arc::new(MemoryFile::new(64 << 20).unwrap());
    let mm = MM::new(space.clone(), mf.clone(), 0x10000, 0x7000_0000_0000);
    (space, mf, mm)
}

#[test]
fn anonymous_memory_round_trips_and_bad_ranges_fault() {
    let (_space, _mf, mm) = setup();
    let a = mm.mmap(MmapOpts::anon(3 * PAGE_SIZE, Perms::RW)).unwrap();
    assert_eq!(a % PAGE_SIZE, 0);
    let data: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
    mm.copy_out(a + 100, &data).unwrap();
    assert_eq!(mm.copy_in_vec(a + 100, 5000).unwrap(), data);
    // Fresh memory reads as zero.
    assert_eq!(mm.copy_in_vec(a + 2 * PAGE_SIZE, 16).unwrap(), vec![0; 16]);
    // Past the end of the mapping.
    assert_eq!(mm.copy_in_vec(a + 3 * PAGE_SIZE - 4, 8), Err(Errno::EFAULT));
    assert_eq!(mm.copy_out(0, b"x"), Err(Errno::EFAULT));
    assert_eq!(mm.copy_out(u64::MAX - 2, b"xyzw"), Err(Errno::EFAULT));
    assert_eq!(mm.copy_in_vec(0xdead_0000, 1), Err(Errno::EFAULT));
}

#[test]
fn read_only_memory_refuses_copy_out_but_loader_can_write() {
    let (_space, _mf, mm) = setup();
    let a = mm.mmap(MmapOpts::anon(PAGE_SIZE, Perms::R)).unwrap();
    assert_eq!(mm.copy_out(a, b"nope"), Err(Errno::EFAULT));
    mm.write_force(a, b"yes").unwrap();
    assert_eq!(mm.copy_in_vec(a, 3).unwrap(), b"yes");
    let none = mm.mmap(MmapOpts::anon(PAGE_SIZE, Perms::NONE)).unwrap();
    assert_eq!(mm.copy_in_vec(none, 1), Err(Errno::EFAULT));
}

#[test]
fn strings_stop_at_nul_across_pages_and_respect_the_limit() {
    let (_space, _mf, mm) = setup();
    let a = mm.mmap(MmapOpts::anon(2 * PAGE_SIZE, Perms::RW)).unwrap();
    mm.copy_out(a + PAGE_SIZE - 3, b"hello\0").unwrap();
    assert_eq!(mm.copy_in_string(a + PAGE_SIZE - 3, 100).unwrap(), b"hello");
    assert_eq!(mm.copy_in_string(a + PAGE_SIZE - 3, 4), Err(Errno::ENAMETOOLONG));
    // No NUL before the end of the mapping.
    mm.copy_out(a + 2 * PAGE_SIZE - 2, b"ab").unwrap();
    assert_eq!(mm.copy_in_string(a + 2 * PAGE_SIZE - 2, 100), Err(Errno::EFAULT));
}

#[test]
fn fault_maps_a_window_of_pages_in_one_call() {
    let (space, _mf, mm) = setup();
    let a = mm.mmap(MmapOpts::anon(64 * PAGE_SIZE, Perms::RW)).unwrap();
    mm.handle_fault(a + 20 * PAGE_SIZE + 8, Perms::RW).unwrap();
    let pages = space.pages.lock().unwrap().clone();
    assert_eq!(pages.len(), FAULT_AROUND_PAGES as usize);
    assert!(pages.contains_key(&(a + 20 * PAGE_SIZE)));
    assert!(pages.values().all(|(_, p)| *p == Perms::RW));
    let calls = space.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 1, "{calls:?}");
    // Unmapped address and wrong access.
    assert_eq!(mm.handle_fault(0x5000_0000, Perms::R), Err(FaultError::Segv { code: SEGV_MAPERR }));
    let ro = mm.mmap(MmapOpts::anon(PAGE_SIZE, Perms::R)).unwrap();
    assert_eq!(mm.handle_fault(ro, Perms::RW), Err(FaultError::Segv { code: SEGV_ACCERR }));
    assert_eq!(mm.handle_fault(ro, Perms::RX), Err(FaultError::Segv { code: SEGV_ACCERR }));
}

#[test]
fn munmap_and_mprotect_split_vmas() {
    let (space, _mf, mm) = setup();
    let a = mm.mmap(MmapOpts::anon(4 * PAGE_SIZE, Perms::RW)).unwrap();
    mm.copy_out(a, &[1u8; 4 * PAGE_SIZE as usize]).unwrap();
    mm.munmap(a + PAGE_SIZE, PAGE_SIZE).unwrap();
    assert_eq!(mm.vmas().len(), 2);
    assert_eq!(mm.copy_in_vec(a + PAGE_SIZE, 1), Err(Errno::EFAULT));
    assert_eq!(mm.copy_in_vec(a + 2 * PAGE_SIZE, 1).unwrap(), vec![1]);
    assert!(!space.pages.lock().unwrap().contains_key(&(a + PAGE_SIZE)));
    mm.mprotect(a + 3 * PAGE_SIZE, PAGE_SIZE, Perms::R).unwrap();
    assert_eq!(mm.vmas().len(), 3);
    assert_eq!(mm.copy_out(a + 3 * PAGE_SIZE, b"x"), Err(Errno::EFAULT));
    assert_eq!(mm.copy_in_vec(a + 3 * PAGE_SIZE, 1).unwrap(), vec![1], "contents survive mprotect");
    assert_eq!(mm.mprotect(a, 2 * PAGE_SIZE, Perms::R), Err(Errno::ENOMEM), "hole in the range");
    assert_eq!(mm.munmap(a + 1, PAGE_SIZE), Err(Errno::EINVAL));
}

#[test]
fn fixed_mappings_replace_and_noreplace_refuses() {
    let (_space, _mf, mm) = setup();
    let a = mm.mmap(MmapOpts::anon(2 * PAGE_SIZE, Perms::RW)).unwrap();
    mm.copy_out(a, b"old").unwrap();
    let o = MmapOpts { addr: a, fixed: true, ..MmapOpts::anon(PAGE_SIZE, Perms::RW) };
    assert_eq!(mm.mmap(o).unwrap(), a);
    assert_eq!(mm.copy_in_vec(a, 3).unwrap(), vec![0; 3], "replaced by fresh memory");
    let o = MmapOpts { addr: a, noreplace: true, ..MmapOpts::anon(PAGE_SIZE, Perms::RW) };
    assert_eq!(mm.mmap(o), Err(Errno::EEXIST));
}

#[test]
fn brk_grows_shrinks_and_zeroes() {
    let (_space, _mf, mm) = setup();
    mm.set_brk_start(0x100_0000);
    assert_eq!(mm.brk(0), 0x100_0000);
    assert_eq!(mm.brk(0x100_0000 + 3 * PAGE_SIZE + 5), 0x100_0000 + 3 * PAGE_SIZE + 5);
    mm.copy_out(0x100_0000 + 3 * PAGE_SIZE, b"abc").unwrap();
    assert_eq!(mm.brk(0x100_0000 + PAGE_SIZE), 0x100_0000 + PAGE_SIZE);
    assert_eq!(mm.copy_in_vec(0x100_0000 + 3 * PAGE_SIZE, 1), Err(Errno::EFAULT));
    mm.brk(0x100_0000 + 4 * PAGE_SIZE);
    assert_eq!(mm.copy_in_vec(0x100_0000 + 3 * PAGE_SIZE, 3).unwrap(), vec![0; 3]);
    assert_eq!(mm.vmas().len(), 1, "the heap is one VMA");
    // Below the start: refused, break unchanged.
    assert_eq!(mm.brk(0x1000), 0x100_0000 + 4 * PAGE_SIZE);
}

#[test]
fn mremap_grows_in_place_or_moves_with_contents() {
    let (_space, _mf, mm) = setup();
    let a = mm.mmap(MmapOpts::anon(3 * PAGE_SIZE, Perms::RW)).unwrap();
    mm.copy_out(a + PAGE_SIZE, b"keep").unwrap();
    // Growth in place is blocked by a separate mapping right after.
    mm.munmap(a + 2 * PAGE_SIZE, PAGE_SIZE).unwrap();
    let o = MmapOpts { addr: a + 2 * PAGE_SIZE, fixed: true, ..MmapOpts::anon(PAGE_SIZE, Perms::R) };
    mm.mmap(o).unwrap();
    assert_eq!(mm.mremap(a, 2 * PAGE_SIZE, 8 * PAGE_SIZE, false), Err(Errno::ENOMEM));
    let b = mm.mremap(a, 2 * PAGE_SIZE, 8 * PAGE_SIZE, true).unwrap();
    assert_ne!(a, b);
    assert_eq!(mm.copy_in_vec(b + PAGE_SIZE, 4).unwrap(), b"keep");
    assert_eq!(mm.copy_in_vec(a, 1), Err(Errno::EFAULT));
    mm.copy_out(b + 7 * PAGE_SIZE, b"end").unwrap();
    // Shrink.
    assert_eq!(mm.mremap(b, 8 * PAGE_SIZE, PAGE_SIZE, false).unwrap(), b);
    assert_eq!(mm.copy_in_vec(b + PAGE_SIZE, 1), Err(Errno::EFAULT));
}

#[test]
fn private_mapping_of_an_object_copies_on_write() {
    let (space, mf, mm) = setup();
    let obj = Arc::new(AnonObject::new(mf.clone(), 2 * PAGE_SIZE));
    obj.page(0).unwrap().write(0, b"file").unwrap();
    let shared = MmapOpts { shared: true, backing: Some(obj.clone()), ..MmapOpts::anon(2 * PAGE_SIZE, Perms::RW) };
    let s = mm.mmap(shared).unwrap();
    let private = MmapOpts { backing: Some(obj.clone()), ..MmapOpts::anon(2 * PAGE_SIZE, Perms::RW) };
    let p = mm.mmap(private).unwrap();

    // A read fault maps the object's page read-only in the private mapping.
    mm.handle_fault(p, Perms::R).unwrap();
    let (off, perms) = space.pages.lock().unwrap()[&p];
    assert_eq!(off, obj.page(0).unwrap().offset());
    assert!(!perms.write);
    // The write fault copies.
    mm.handle_fault(p, Perms::RW).unwrap();
    let (off2, perms) = space.pages.lock().unwrap()[&p];
    assert_ne!(off2, off);
    assert!(perms.write);
    mm.copy_out(p, b"priv").unwrap();
    assert_eq!(mm.copy_in_vec(s, 4).unwrap(), b"file", "the object is unchanged");
    mm.copy_out(s, b"SHAR").unwrap();
    let mut b = [0u8; 4];
    obj.page(0).unwrap().read(0, &mut b).unwrap();
    assert_eq!(&b, b"SHAR", "shared writes reach the object");
    assert_eq!(mm.copy_in_vec(p, 4).unwrap(), b"priv");
    // Beyond the object: SIGBUS.
    let big = MmapOpts { backing: Some(obj), ..MmapOpts::anon(4 * PAGE_SIZE, Perms::RW) };
    let q = mm.mmap(big).unwrap();
    assert_eq!(mm.handle_fault(q + 3 * PAGE_SIZE, Perms::R), Err(FaultError::Bus));
}

#[test]
fn dont_need_zeroes_private_memory_and_pages_are_freed_on_unmap() {
    let (_space, mf, mm) = setup();
    let a = mm.mmap(MmapOpts::anon(4 * PAGE_SIZE, Perms::RW)).unwrap();
    mm.copy_out(a, &[7u8; 4 * PAGE_SIZE as usize]).unwrap();
    assert_eq!(mf.used(), 4 * PAGE_SIZE);
    mm.dont_need(a, PAGE_SIZE).unwrap();
    assert_eq!(mm.copy_in_vec(a, 2).unwrap(), vec![0, 0]);
    mm.munmap(a, 4 * PAGE_SIZE).unwrap();
    assert_eq!(mf.used(), 0);
}

#[test]
fn iovecs_are_validated() {
    let (_space, _mf, mm) = setup();
    let a = mm.mmap(MmapOpts::anon(PAGE_SIZE, Perms::RW)).unwrap();
    let mut raw = Vec::new();
    for (b, l) in [(0x1000u64, 5u64), (0x2000, 7)] {
        raw.extend_from_slice(&b.to_le_bytes());
        raw.extend_from_slice(&l.to_le_bytes());
    }
    mm.copy_out(a, &raw).unwrap();
    let v = mm.copy_in_iovecs(a, 2).unwrap();
    assert_eq!(v, vec![IoVec { base: 0x1000, len: 5 }, IoVec { base: 0x2000, len: 7 }]);
    assert_eq!(mm.copy_in_iovecs(a, 5000), Err(Errno::EINVAL));
    assert_eq!(mm.copy_in_iovecs(0x10, 1), Err(Errno::EFAULT));
}
