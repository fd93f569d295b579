//! Memory system calls: brk, mmap, munmap, mprotect, mremap, madvise.

use std::sync::Arc;

use platforms::Perms;

use super::{Args, Handler};
use crate::errno::{Errno, SysResult};
use crate::kernel::Task;
use crate::mm::{AnonObject, MmapOpts, VmaKind};

pub(super) const HANDLERS: &[(i64, Handler)] = &[
    (libc::SYS_brk, sys_brk),
    (libc::SYS_mmap, sys_mmap),
    (libc::SYS_munmap, sys_munmap),
    (libc::SYS_mprotect, sys_mprotect),
    (libc::SYS_mremap, sys_mremap),
    (libc::SYS_madvise, sys_madvise),
    (libc::SYS_msync, sys_msync),
    (libc::SYS_mincore, sys_mincore),
    (libc::SYS_mlock, sys_mlock),
    (libc::SYS_munlock, sys_mlock),
];

const MAP_SHARED: u32 = 0x1;
const MAP_PRIVATE: u32 = 0x2;
const MAP_SHARED_VALIDATE: u32 = 0x3;
const MAP_TYPE: u32 = 0xf;
const MAP_FIXED: u32 = 0x10;
const MAP_ANONYMOUS: u32 = 0x20;
const MAP_FIXED_NOREPLACE: u32 = 0x10_0000;
const MAP_POPULATE: u32 = 0x8000;
/// Flags accepted by `MAP_SHARED_VALIDATE` (everything we know).
const MAP_KNOWN: u32 = 0x1ff3ff;

const PROT_MASK: i32 = libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC;

fn prot(a: &Args, i: usize) -> Result<Perms, Errno> {
    let p = a.i32(i);
    // PROT_GROWSDOWN/PROT_GROWSUP are accepted and ignored.
    if p & !(PROT_MASK | 0x0100_0000 | 0x0200_0000) != 0 {
        return Err(Errno::EINVAL);
    }
    Ok(Perms::from_prot(p))
}

fn sys_brk(t: &mut Task, a: &Args) -> SysResult {
    Ok(t.mm.brk(a.u64(0)))
}

fn sys_mmap(t: &mut Task, a: &Args) -> SysResult {
    let (addr, len, perms, fl, fd, off) = (a.u64(0), a.u64(1), prot(a, 2)?, a.u32(3), a.i32(4), a.u64(5));
    let shared = match fl & MAP_TYPE {
        MAP_SHARED => true,
        MAP_PRIVATE => false,
        MAP_SHARED_VALIDATE => {
            if fl & !MAP_KNOWN != 0 {
                return Err(Errno::EOPNOTSUPP);
            }
            true
        }
        _ => return Err(Errno::EINVAL),
    };
    if len == 0 {
        return Err(Errno::EINVAL);
    }
    let mut o = MmapOpts {
        addr,
        perms,
        shared,
        fixed: fl & MAP_FIXED != 0,
        noreplace: fl & MAP_FIXED_NOREPLACE != 0,
        kind: VmaKind::Normal,
        ..MmapOpts::anon(len, perms)
    };
    if fl & MAP_ANONYMOUS != 0 {
        if shared {
            o.backing = Some(Arc::new(AnonObject::new(t.mm.memory_file().clone(), len)));
        }
    } else {
        let f = t.file(fd)?;
        let mappable = f.ops().mappable().ok_or(Errno::ENODEV)?;
        if !f.readable() {
            return Err(Errno::EACCES);
        }
        if shared && !f.writable() {
            if perms.write {
                return Err(Errno::EACCES);
            }
            o.max_perms = Perms::RX;
        }
        o.backing = Some(mappable);
        o.offset = off;
        o.name = f.dentry().map(|d| Arc::from(d.path().as_str()));
    }
    let start = t.mm.mmap(o)?;
    if fl & MAP_POPULATE != 0 && perms.read {
        // Best effort, as in Linux.
        let _ = t.mm.copy_in_vec(start, 1);
    }
    Ok(start)
}

fn sys_munmap(t: &mut Task, a: &Args) -> SysResult {
    t.mm.munmap(a.u64(0), a.u64(1))?;
    Ok(0)
}

fn sys_mprotect(t: &mut Task, a: &Args) -> SysResult {
    t.mm.mprotect(a.u64(0), a.u64(1), prot(a, 2)?)?;
    Ok(0)
}

const MREMAP_MAYMOVE: u32 = 1;
const MREMAP_FIXED: u32 = 2;

fn sys_mremap(t: &mut Task, a: &Args) -> SysResult {
    let fl = a.u32(3);
    if fl & !(MREMAP_MAYMOVE | MREMAP_FIXED) != 0 {
        return Err(Errno::EINVAL);
    }
    if fl & MREMAP_FIXED != 0 {
        // Not needed by the programs we run yet.
        return Err(Errno::EINVAL);
    }
    t.mm.mremap(a.u64(0), a.u64(1), a.u64(2), fl & MREMAP_MAYMOVE != 0)
}

fn sys_madvise(t: &mut Task, a: &Args) -> SysResult {
    let (addr, len) = (a.u64(0), a.u64(1));
    if addr % platforms::PAGE_SIZE != 0 {
        return Err(Errno::EINVAL);
    }
    match a.i32(2) {
        // MADV_DONTNEED, MADV_FREE: drop the pages (private memory then
        // reads as zeros, which is a valid outcome of MADV_FREE too).
        libc::MADV_DONTNEED | libc::MADV_FREE => {
            t.mm.dont_need(addr, len)?;
            Ok(0)
        }
        // Hints with no effect on a correct program's view of memory.
        libc::MADV_NORMAL
        | libc::MADV_RANDOM
        | libc::MADV_SEQUENTIAL
        | libc::MADV_WILLNEED
        | libc::MADV_HUGEPAGE
        | libc::MADV_NOHUGEPAGE
        | libc::MADV_DONTDUMP
        | libc::MADV_DODUMP
        | libc::MADV_MERGEABLE
        | libc::MADV_UNMERGEABLE => Ok(0),
        _ => Err(Errno::EINVAL),
    }
}

/// Shared mappings are the file's own pages: there is nothing to write
/// back.
fn sys_msync(t: &mut Task, a: &Args) -> SysResult {
    const MS_ASYNC: i32 = 1;
    const MS_SYNC: i32 = 4;
    let flags = a.i32(2);
    if a.u64(0) % platforms::PAGE_SIZE != 0 || flags & !7 != 0 || (flags & MS_ASYNC != 0 && flags & MS_SYNC != 0) {
        return Err(Errno::EINVAL);
    }
    t.mm.sync_range(a.u64(0), a.u64(1))?;
    Ok(0)
}

fn sys_mincore(t: &mut Task, a: &Args) -> SysResult {
    let v = t.mm.residency(a.u64(0), a.u64(1))?;
    t.mm.copy_out(a.u64(2), &v)?;
    Ok(0)
}

/// Sentry memory is never swapped: locking is already the state of things.
fn sys_mlock(_t: &mut Task, _a: &Args) -> SysResult {
    Ok(0)
}
