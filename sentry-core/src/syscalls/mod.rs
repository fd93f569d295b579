//! The system call table and dispatcher.
//!
//! [`TABLE`](table) maps x86-64 system call numbers to handlers grouped by
//! family, one module each (`file`, `fs`, `fsattr`, `lock`, `mm`, `process`,
//! `exec`, `wait`, `signal`, `futex`, `creds`, `prctl`, `sched`, `socket`,
//! `memfd`, `xattr`, `time`, `ipc` (System V IPC), `misc`). A handler receives the task and the
//! raw arguments (with typed accessors) and returns a [`SysResult`]. Unimplemented calls return
//! `ENOSYS`, logged once per system call. With `KernelConfig::strace`, every
//! call is logged with its arguments and result.
//!
//! Restart semantics are not handlers' business: a handler interrupted by a
//! signal returns one of the `ERESTART*` codes, and the signal delivery that
//! runs before the task returns to the application turns it into `EINTR` or
//! a restart of the call.

pub mod creds;
pub mod epoll;
pub mod eventfd;
pub mod exec;
pub mod file;
pub mod fs;
pub mod fsattr;
pub mod futex;
pub mod inotify;
pub mod ipc;
pub mod lock;
pub mod memfd;
pub mod misc;
pub mod mm;
pub mod pipe;
pub mod poll;
pub mod prctl;
pub mod process;
pub mod sched;
pub mod signal;
pub mod signalfd;
pub mod socket;
pub mod splice;
pub mod time;
pub mod timer;
pub mod timerfd;
pub mod wait;
pub mod xattr;

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
            .chain(futex::HANDLERS)
            .chain(exec::HANDLERS)
            .chain(creds::HANDLERS)
            .chain(prctl::HANDLERS)
            .chain(sched::HANDLERS)
            .chain(memfd::HANDLERS)
            .chain(xattr::HANDLERS)
            .chain(pipe::HANDLERS)
            .chain(poll::HANDLERS)
            .chain(epoll::HANDLERS)
            .chain(eventfd::HANDLERS)
            .chain(timerfd::HANDLERS)
            .chain(timer::HANDLERS)
            .chain(signalfd::HANDLERS)
            .chain(splice::HANDLERS)
            .chain(wait::HANDLERS)
            .chain(fsattr::HANDLERS)
            .chain(lock::HANDLERS)
            .chain(inotify::HANDLERS)
            .chain(ipc::HANDLERS)
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
    if result.is_ok() && changes_proc_view(nr as i64) {
        task.publish_view();
    }
    if result == Err(Errno::EPIPE) && raises_sigpipe(nr as i64, &args) {
        let si = crate::kernel::signals::info_from(libc::SIGPIPE, 0, task.tg.tgid, task.creds.uid);
        let (tg, shared) = (task.tg.clone(), task.shared.clone());
        task.kernel.send_thread_signal(&tg, &shared, si);
    }
    match result {
        Ok(v) => task.cpu.regs.rax = v,
        // Left in rax for the signal delivery that follows to settle:
        // EINTR or a restart (see `kernel::task`).
        Err(e) => task.cpu.regs.rax = e.to_rax(),
    }
}

/// Whether system call `nr` changes what `/proc` shows of the task
/// (credentials, the descriptor table object).
fn changes_proc_view(nr: i64) -> bool {
    matches!(
        nr,
        libc::SYS_setuid
            | libc::SYS_setgid
            | libc::SYS_setreuid
            | libc::SYS_setregid
            | libc::SYS_setresuid
            | libc::SYS_setresgid
            | libc::SYS_setgroups
            | libc::SYS_setfsuid
            | libc::SYS_setfsgid
            | libc::SYS_capset
            | libc::SYS_close_range
    )
}

/// `MSG_NOSIGNAL`.
const MSG_NOSIGNAL: u64 = 0x4000;

/// Whether `EPIPE` from system call `nr` comes with SIGPIPE (writes to a
/// pipe or socket whose reader is gone, unless `MSG_NOSIGNAL`).
fn raises_sigpipe(nr: i64, args: &Args) -> bool {
    match nr {
        libc::SYS_write | libc::SYS_writev | libc::SYS_pwrite64 | libc::SYS_pwritev | libc::SYS_pwritev2 => true,
        libc::SYS_sendfile | libc::SYS_splice | libc::SYS_vmsplice | libc::SYS_tee => true,
        libc::SYS_sendto => args.u64(3) & MSG_NOSIGNAL == 0,
        libc::SYS_sendmsg | libc::SYS_sendmmsg => args.u64(2) & MSG_NOSIGNAL == 0,
        _ => false,
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
            futex::HANDLERS,
            exec::HANDLERS,
            creds::HANDLERS,
            prctl::HANDLERS,
            sched::HANDLERS,
            memfd::HANDLERS,
            xattr::HANDLERS,
            pipe::HANDLERS,
            poll::HANDLERS,
            epoll::HANDLERS,
            eventfd::HANDLERS,
            timerfd::HANDLERS,
            timer::HANDLERS,
            signalfd::HANDLERS,
            splice::HANDLERS,
            wait::HANDLERS,
            fsattr::HANDLERS,
            lock::HANDLERS,
            inotify::HANDLERS,
            ipc::HANDLERS,
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
