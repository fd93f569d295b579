//! The system call table and dispatcher.
//!
//! [`TABLE`](table) maps x86-64 system call numbers to handlers grouped by
//! family ([`file`], [`fs`], [`mm`], [`process`], [`signal`], [`socket`],
//! [`time`], [`misc`]). A handler receives the task and the raw arguments (with typed
//! accessors) and returns a [`SysResult`]. Unimplemented calls return
//! `ENOSYS`, logged once per system call. With `KernelConfig::strace`, every
//! call is logged with its arguments and result.
//!
//! Restart semantics live here, not in handlers: a handler returning one of
//! the `ERESTART*` codes has its call restarted (no signal handler can have
//! interrupted it yet, since handlers are not delivered) unless the task is
//! exiting.

pub mod file;
pub mod fs;
pub mod misc;
pub mod mm;
pub mod process;
pub mod signal;
pub mod socket;
pub mod time;

use std::sync::{Arc, OnceLock};

use crate::arch::syscall_name;
use crate::errno::{Errno, SysResult};
use crate::kernel::Task;
use crate::vfs::path::{walk, PATH_MAX};
use crate::vfs::{Dentry, File, LookupFlags};

/// The arguments of a system call, with typed accessors.
#[derive(Clone, Copy, Debug)]
pub struct Args(pub [u64; 6]);

impl Args {
    /// Argument `i` as a u64 (addresses, sizes).
    pub fn u64(&self, i: usize) -> u64 {
        self.0[i]
    }
    /// Argument `i` as a C `int` (the low 32 bits, as the kernel reads it).
    pub fn i32(&self, i: usize) -> i32 {
        self.0[i] as u32 as i32
    }
    /// Argument `i` as a C `unsigned int`.
    pub fn u32(&self, i: usize) -> u32 {
        self.0[i] as u32
    }
    /// Argument `i` as a `long`/`off_t`.
    pub fn i64(&self, i: usize) -> i64 {
        self.0[i] as i64
    }
}

/// A system call handler.
pub type Handler = fn(&mut Task, &Args) -> SysResult;

/// Highest system call number in the table, plus one.
pub const NR_SYSCALLS: usize = 512;

/// The table: number → handler (`None`: ENOSYS).
pub fn table() -> &'static [Option<Handler>] {
    static TABLE: OnceLock<Vec<Option<Handler>>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t: Vec<Option<Handler>> = vec![None; NR_SYSCALLS];
        for (nr, h) in file::HANDLERS
            .iter()
            .chain(fs::HANDLERS)
            .chain(mm::HANDLERS)
            .chain(process::HANDLERS)
            .chain(signal::HANDLERS)
            .chain(socket::HANDLERS)
            .chain(time::HANDLERS)
            .chain(misc::HANDLERS)
        {
            t[*nr as usize] = Some(*h);
        }
        t
    })
}

/// Handles the system call the task just made and sets its result.
pub fn dispatch(task: &mut Task) {
    let nr = task.cpu.regs.orig_rax;
    let args = Args(task.cpu.regs.syscall_args());
    let handler = table().get(nr as usize).copied().flatten();
    let result = match handler {
        Some(h) => h(task, &args),
        None => {
            if task.kernel.first_enosys(nr) {
                tracing::warn!(nr, name = syscall_name(nr).unwrap_or("?"), "unimplemented system call");
            }
            Err(Errno::ENOSYS)
        }
    };
    if task.kernel.inner.strace {
        let name = syscall_name(nr).unwrap_or("?");
        let a = args.0;
        match result {
            Ok(v) => tracing::info!(target: "strace", "[{}] {}({:#x}, {:#x}, {:#x}, {:#x}, {:#x}, {:#x}) = {:#x}",
                task.tid, name, a[0], a[1], a[2], a[3], a[4], a[5], v),
            Err(e) => tracing::info!(target: "strace", "[{}] {}({:#x}, {:#x}, {:#x}, {:#x}, {:#x}, {:#x}) = -1 {}",
                task.tid, name, a[0], a[1], a[2], a[3], a[4], a[5], e),
        }
    }
    match result {
        Ok(v) => task.cpu.regs.rax = v,
        Err(e) if e.is_restart() => {
            if e == Errno::ERESTART_RESTARTBLOCK || task.interrupted() {
                task.cpu.regs.rax = Errno::EINTR.to_rax();
            } else {
                // Re-execute the `syscall` instruction.
                task.cpu.regs.rax = nr;
                task.cpu.regs.rip -= 2;
            }
        }
        Err(e) => task.cpu.regs.rax = e.to_rax(),
    }
}

/// `AT_FDCWD`.
pub const AT_FDCWD: i32 = -100;
/// `AT_SYMLINK_NOFOLLOW`.
pub const AT_SYMLINK_NOFOLLOW: i32 = 0x100;
/// `AT_REMOVEDIR`.
pub const AT_REMOVEDIR: i32 = 0x200;
/// `AT_SYMLINK_FOLLOW`.
pub const AT_SYMLINK_FOLLOW: i32 = 0x400;
/// `AT_EMPTY_PATH`.
pub const AT_EMPTY_PATH: i32 = 0x1000;

impl Task {
    /// The open file `fd`.
    pub fn file(&self, fd: i32) -> Result<Arc<File>, Errno> {
        crate::mm::lock(&self.fds).get(fd)
    }

    /// Copies a path argument in (`ENAMETOOLONG`, `EFAULT`; not UTF-8:
    /// `EINVAL`, a limit of the current VFS).
    pub fn copy_in_path(&self, addr: u64) -> Result<String, Errno> {
        let b = self.mm.copy_in_string(addr, PATH_MAX - 1)?;
        String::from_utf8(b).map_err(|_| Errno::EINVAL)
    }

    /// The directory relative paths start from for `dirfd`.
    pub fn start_dir(&self, dirfd: i32, path: &str) -> Result<Arc<Dentry>, Errno> {
        if path.starts_with('/') {
            return Ok(crate::mm::lock(&self.fs).root.clone());
        }
        if dirfd == AT_FDCWD {
            return Ok(crate::mm::lock(&self.fs).cwd.clone());
        }
        let f = self.file(dirfd)?;
        let d = f.dentry().cloned().ok_or(Errno::ENOTDIR)?;
        if d.inode().file_type() != crate::vfs::FileType::Directory {
            return Err(Errno::ENOTDIR);
        }
        Ok(d)
    }

    /// Resolves `path` relative to `dirfd`. With `empty_ok` an empty path
    /// names `dirfd` itself (`AT_EMPTY_PATH`).
    pub fn lookup_at(&self, dirfd: i32, path: &str, flags: LookupFlags, empty_ok: bool) -> Result<Arc<Dentry>, Errno> {
        if path.is_empty() {
            if !empty_ok {
                return Err(Errno::ENOENT);
            }
            if dirfd == AT_FDCWD {
                return Ok(crate::mm::lock(&self.fs).cwd.clone());
            }
            return self.file(dirfd)?.dentry().cloned().ok_or(Errno::EBADF);
        }
        let start = self.start_dir(dirfd, path)?;
        let root = crate::mm::lock(&self.fs).root.clone();
        walk(&root, &start, path, flags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_handler_is_a_known_syscall_registered_once() {
        let all: Vec<i64> = [
            file::HANDLERS,
            fs::HANDLERS,
            mm::HANDLERS,
            process::HANDLERS,
            signal::HANDLERS,
            socket::HANDLERS,
            time::HANDLERS,
            misc::HANDLERS,
        ]
        .iter()
        .flat_map(|h| h.iter().map(|(nr, _)| *nr))
        .collect();
        let mut sorted = all.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), all.len(), "a system call is registered twice");
        for nr in all {
            assert!(syscall_name(nr as u64).is_some(), "unknown number {nr}");
            assert!(table()[nr as usize].is_some());
        }
        // rseq is deliberately absent (ENOSYS, as gVisor).
        assert!(table()[libc::SYS_rseq as usize].is_none());
    }

    #[test]
    fn args_are_typed_like_the_kernel_reads_them() {
        let a = Args([0xffff_ffff_ffff_ff9c, u64::MAX, 5, 0, 0, 0]);
        assert_eq!(a.i32(0), AT_FDCWD);
        assert_eq!(a.i64(1), -1);
        assert_eq!(a.u32(1), u32::MAX);
        assert_eq!(a.u64(2), 5);
    }
}
