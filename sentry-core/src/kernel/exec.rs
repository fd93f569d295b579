//! `execve`: replacing a process's program.
//!
//! The new program is loaded into a fresh address space first; until that
//! succeeds nothing of the caller changes, so a failed `execve` returns an
//! error to an intact process. Then, past the point of no return, as
//! Linux's `begin_new_exec`: the other threads of the group exit (a
//! non-leader caller takes the leader's id), the old memory is released
//! (waking a vfork parent and a `clear_child_tid` waiter), close-on-exec
//! descriptors close, caught signals revert to their default action, and
//! the registers and FP state start afresh.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use platforms::CpuState;

use super::signals::{SIG_DFL, SIG_IGN};
use super::Task;
use crate::arch::signal::AltStack;
use crate::errno::Errno;
use crate::loader::{self, ProgramSpec};
use crate::mm::{lock, MM};
use crate::vfs::Dentry;

impl Task {
    /// Runs `path` (relative to `dir`, or the working directory) in place
    /// of the current program.
    pub fn execve(
        &mut self,
        dir: Option<Arc<Dentry>>,
        path: &str,
        argv: Vec<String>,
        envp: Vec<String>,
    ) -> Result<(), Errno> {
        let p = &self.kernel.inner.platform;
        let space = p.new_address_space().map_err(|e| {
            tracing::warn!(error = %e, "cannot create an address space for execve");
            Errno::ENOMEM
        })?;
        let mm = Arc::new(MM::new(space, self.kernel.inner.mf.clone(), p.min_user_address(), p.max_user_address()));
        let (root, cwd) = {
            let fs = lock(&self.fs);
            (fs.root.clone(), dir.unwrap_or_else(|| fs.cwd.clone()))
        };
        let spec = ProgramSpec { root: &root, cwd: &cwd, path, argv, envp, uid: self.creds.euid, gid: self.creds.egid };
        let program = loader::load_program(&mm, spec)?;

        // The point of no return.
        self.become_sole_thread()?;
        self.release_memory_notifications();
        self.mm = mm;
        self.robust_list = (0, 0);
        {
            // A descriptor table shared with another process (CLONE_FILES)
            // is unshared first.
            let mut table = lock(&self.fds).clone();
            let closed = table.close_on_exec();
            self.fds = Arc::new(Mutex::new(table));
            for f in closed {
                crate::syscalls::lock::closed(self, &f);
            }
        }
        {
            let mut acts = lock(&self.tg.sigactions);
            for a in acts.iter_mut() {
                if a.handler != SIG_IGN {
                    *a = super::signals::SigAction { handler: SIG_DFL, ..Default::default() };
                } else {
                    a.flags = 0;
                    a.mask = 0;
                    a.restorer = 0;
                }
            }
        }
        // POSIX timers do not survive exec (interval timers do).
        for (_, timer) in std::mem::take(&mut lock(&self.tg.timers).posix) {
            timer.cancel();
        }
        self.alt_stack = AltStack::DISABLED;
        self.saved_mask = None;
        self.cpu = CpuState::new(program.entry, program.sp);
        self.comm = program.comm.clone();
        *lock(&self.shared.comm) = program.comm;
        self.exe = Some(program.exe);
        self.find_arg_ranges();
        super::current::set(self.tg.tgid, self.tid);
        self.publish_view();
        Ok(())
    }

    /// Makes the calling thread its group's only one (the others exit),
    /// taking the leader's thread id if it is not the leader.
    fn become_sole_thread(&mut self) -> Result<(), Errno> {
        let others: Vec<_> = self.tg.tasks().into_iter().filter(|t| !Arc::ptr_eq(t, &self.shared)).collect();
        for t in &others {
            t.kill();
        }
        // Threads leave quickly (they are interrupted wherever they are);
        // poll for the last one rather than add a queue for this rare case.
        while self.tg.task_count() > 1 {
            if self.tg.exiting().is_some() || self.shared.killed() {
                return Err(Errno::EINTR);
            }
            self.waker.clear();
            self.waker.sleep_until(Some(Instant::now() + Duration::from_millis(1)));
        }
        let leader = self.tg.tgid;
        if self.tid != leader {
            self.kernel.pids().retid(self.tid, leader);
            self.tid = leader;
        }
        Ok(())
    }
}
