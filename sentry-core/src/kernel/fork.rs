//! `clone`, `fork` and `vfork`: new tasks and processes.
//!
//! A thread (`CLONE_THREAD`) joins the caller's group and shares its
//! memory; a process gets a copy of the caller's memory (a new platform
//! address space with copy-on-write pages, see `MM::fork`) unless
//! `CLONE_VM`. File table and file-system context are shared or copied by
//! `CLONE_FILES` and `CLONE_FS`. Every task runs on its own host thread.

use std::sync::{Arc, Mutex};

use super::task::{TaskInit, VforkDone};
use super::thread_group::TaskShared;
use super::waiter::events;
use super::Task;
use crate::errno::Errno;
use crate::mm::lock;

/// `clone` flags (x86-64).
pub mod flags {
    pub const CSIGNAL: u64 = 0xff;
    pub const CLONE_VM: u64 = 0x100;
    pub const CLONE_FS: u64 = 0x200;
    pub const CLONE_FILES: u64 = 0x400;
    pub const CLONE_SIGHAND: u64 = 0x800;
    pub const CLONE_PIDFD: u64 = 0x1000;
    pub const CLONE_PTRACE: u64 = 0x2000;
    pub const CLONE_VFORK: u64 = 0x4000;
    pub const CLONE_PARENT: u64 = 0x8000;
    pub const CLONE_THREAD: u64 = 0x10000;
    pub const CLONE_NEWNS: u64 = 0x20000;
    pub const CLONE_SYSVSEM: u64 = 0x40000;
    pub const CLONE_SETTLS: u64 = 0x80000;
    pub const CLONE_PARENT_SETTID: u64 = 0x100000;
    pub const CLONE_CHILD_CLEARTID: u64 = 0x200000;
    pub const CLONE_DETACHED: u64 = 0x400000;
    pub const CLONE_UNTRACED: u64 = 0x800000;
    pub const CLONE_CHILD_SETTID: u64 = 0x1000000;
    pub const CLONE_NEWCGROUP: u64 = 0x2000000;
    pub const CLONE_NEWUTS: u64 = 0x4000000;
    pub const CLONE_NEWIPC: u64 = 0x8000000;
    pub const CLONE_NEWUSER: u64 = 0x10000000;
    pub const CLONE_NEWPID: u64 = 0x20000000;
    pub const CLONE_NEWNET: u64 = 0x40000000;
    pub const CLONE_IO: u64 = 0x80000000;
    /// Every namespace flag.
    pub const NAMESPACES: u64 =
        CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET;
}

use flags::*;

/// The arguments of `clone`.
#[derive(Clone, Copy, Debug, Default)]
pub struct CloneArgs {
    pub flags: u64,
    /// New stack pointer (0: the caller's).
    pub stack: u64,
    pub parent_tid: u64,
    pub child_tid: u64,
    pub tls: u64,
}

impl Task {
    /// Creates a task as `clone` describes; returns its id.
    pub fn clone_task(&mut self, a: CloneArgs) -> Result<i32, Errno> {
        let f = a.flags;
        if f & CLONE_THREAD != 0 && f & CLONE_SIGHAND == 0 {
            return Err(Errno::EINVAL);
        }
        if f & CLONE_SIGHAND != 0 && f & CLONE_VM == 0 {
            return Err(Errno::EINVAL);
        }
        if f & CLONE_PIDFD != 0 || (f & CLONE_THREAD != 0 && f & CLONE_PARENT != 0) {
            return Err(Errno::EINVAL);
        }
        if f & NAMESPACES != 0 {
            // Namespaces inside the sandbox are not offered; say so once.
            tracing::info!(tid = self.tid, flags = format_args!("{f:#x}"), "clone with new namespaces refused");
            return Err(Errno::EPERM);
        }
        let exit_signal = (f & CSIGNAL) as i32;
        if exit_signal > super::signals::NSIG as i32 {
            return Err(Errno::EINVAL);
        }
        if self.tg.exiting().is_some() {
            return Err(Errno::ERESTARTNOINTR);
        }

        self.pull_fp()?;
        let mut cpu = self.cpu.fork().ok_or(Errno::EIO)?;
        cpu.regs.rax = 0;
        if a.stack != 0 {
            cpu.regs.rsp = a.stack;
        }
        if f & CLONE_SETTLS != 0 {
            if !crate::arch::is_valid_segment_base(a.tls) {
                return Err(Errno::EPERM);
            }
            cpu.regs.fs_base = a.tls;
        }

        let mm = if f & CLONE_VM != 0 {
            self.mm.clone()
        } else {
            let space = self.kernel.inner.platform.new_address_space().map_err(|e| {
                tracing::warn!(error = %e, "cannot create an address space for fork");
                Errno::ENOMEM
            })?;
            Arc::new(self.mm.fork(space)?)
        };
        let fds = if f & CLONE_FILES != 0 { self.fds.clone() } else { Arc::new(Mutex::new(lock(&self.fds).clone())) };
        let fs = if f & CLONE_FS != 0 { self.fs.clone() } else { Arc::new(Mutex::new(lock(&self.fs).clone())) };

        let tid = {
            let mut pids = self.kernel.pids();
            if self.kernel.inner.max_tasks.is_some_and(|max| pids.task_count() >= max) {
                return Err(Errno::EAGAIN);
            }
            pids.alloc()?
        };
        let tg = if f & CLONE_THREAD != 0 {
            self.tg.clone()
        } else {
            let parent =
                if f & CLONE_PARENT != 0 { self.tg.parent().unwrap_or(self.tg.clone()) } else { self.tg.clone() };
            let child = self.tg.fork_child(tid, exit_signal, &parent);
            child
                .nice
                .store(self.tg.nice.load(std::sync::atomic::Ordering::Relaxed), std::sync::atomic::Ordering::Relaxed);
            child
        };
        let shared = TaskShared::new(tid, self.sigmask());
        *lock(&shared.comm) = self.comm.clone();

        if f & CLONE_PARENT_SETTID != 0 {
            self.mm.write_u32(a.parent_tid, tid as u32).ok();
        }
        if f & CLONE_CHILD_SETTID != 0 {
            mm.write_u32(a.child_tid, tid as u32).ok();
        }
        let vfork = (f & CLONE_VFORK != 0).then(|| Arc::new(VforkDone::default()));
        let setup = {
            let comm = self.comm.clone();
            let exe = self.exe.clone();
            let clear_tid = if f & CLONE_CHILD_CLEARTID != 0 { a.child_tid } else { 0 };
            // A thread sharing memory without vfork gets no alternate stack
            // (it would share the parent's).
            let alt = if f & CLONE_VM != 0 && f & CLONE_VFORK == 0 {
                crate::arch::signal::AltStack::DISABLED
            } else {
                self.alt_stack
            };
            let vfork = vfork.clone();
            let (nnp, slack) = (self.no_new_privs, self.timer_slack);
            let (affinity, personality) = (self.affinity.clone(), self.personality);
            let arg_ranges = self.arg_ranges;
            move |t: &mut Task| {
                t.arg_ranges = arg_ranges;
                t.no_new_privs = nnp;
                t.timer_slack = slack;
                t.affinity = affinity;
                t.personality = personality;
                t.comm = comm;
                t.exe = exe;
                t.clear_child_tid = clear_tid;
                t.alt_stack = alt;
                t.vfork_done = vfork;
            }
        };
        let init = TaskInit { tid, tg: tg.clone(), shared, mm, fds, fs, creds: self.creds.clone(), cpu };
        if let Err(e) = self.kernel.start_task(init, setup) {
            if f & CLONE_THREAD == 0 {
                self.tg.remove_child(tid);
            }
            return Err(e);
        }
        if let Some(v) = vfork {
            self.wait_vfork(&v);
        }
        Ok(tid)
    }

    /// Waits (killably) until a vfork child releases the memory.
    fn wait_vfork(&self, v: &VforkDone) {
        let _watch = v.queue.watch(self.waker.clone(), events::ALL);
        loop {
            self.waker.clear();
            if v.is_done() || self.tg.exiting().is_some() || self.shared.killed() {
                return;
            }
            self.waker.sleep_until(None);
        }
    }
}
