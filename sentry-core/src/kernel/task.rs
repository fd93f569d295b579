//! A task (application thread) and its loop.

use std::sync::{Arc, Mutex};

use platforms::{CpuState, Exit};

use super::signals::{self, DefaultAction};
use super::thread_group::{ThreadGroup, Waker};
use super::{ExitStatus, FdTable, Kernel};
use crate::errno::Errno;
use crate::mm::{FaultError, MM};
use crate::vfs::{FsContext, IoCtx};

/// A task's credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub uid: u32,
    pub euid: u32,
    pub suid: u32,
    pub gid: u32,
    pub egid: u32,
    pub sgid: u32,
    pub groups: Vec<u32>,
}

impl Credentials {
    /// Real, effective and saved ids all `uid`/`gid`, no supplementary
    /// groups.
    pub fn new(uid: u32, gid: u32) -> Credentials {
        Credentials { uid, euid: uid, suid: uid, gid, egid: gid, sgid: gid, groups: Vec::new() }
    }
}

/// One application thread.
pub struct Task {
    pub kernel: Kernel,
    pub tid: i32,
    pub tg: Arc<ThreadGroup>,
    pub mm: Arc<MM>,
    pub cpu: CpuState,
    pub fds: Arc<Mutex<FdTable>>,
    pub fs: Arc<Mutex<FsContext>>,
    pub creds: Credentials,
    /// Blocked signals.
    pub signal_mask: u64,
    /// `sigaltstack`: (ss_sp, ss_flags, ss_size).
    pub alt_stack: (u64, i32, u64),
    /// `set_tid_address`.
    pub clear_child_tid: u64,
    /// `set_robust_list`: (head, len).
    pub robust_list: (u64, u64),
    /// `prctl(PR_SET_NAME)`: the thread's name (at most 15 bytes).
    pub comm: Vec<u8>,
    /// Set by `exit`: the task stops after the current system call.
    pub(crate) exit_code: Option<i32>,
    pub(crate) waker: Arc<Waker>,
}

impl Task {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        kernel: Kernel,
        tid: i32,
        tg: Arc<ThreadGroup>,
        mm: Arc<MM>,
        fds: FdTable,
        fs: FsContext,
        creds: Credentials,
        waker: Arc<Waker>,
        entry: u64,
        sp: u64,
    ) -> Task {
        Task {
            kernel,
            tid,
            tg,
            mm,
            cpu: CpuState::new(entry, sp),
            fds: Arc::new(Mutex::new(fds)),
            fs: Arc::new(Mutex::new(fs)),
            creds,
            signal_mask: 0,
            alt_stack: (0, libc::SS_DISABLE, 0),
            clear_child_tid: 0,
            robust_list: (0, 0),
            comm: Vec::new(),
            exit_code: None,
            waker,
        }
    }

    /// Whether the task should stop what it is doing (the group is
    /// exiting).
    pub fn interrupted(&self) -> bool {
        self.tg.exiting().is_some()
    }

    /// Runs `f` with an [`IoCtx`] for this task.
    pub fn io<R>(&self, f: impl FnOnce(&IoCtx) -> R) -> R {
        let tg = self.tg.clone();
        let interrupted = move || tg.exiting().is_some();
        f(&IoCtx { nonblock: false, mm: Some(&self.mm), interrupted: &interrupted, waker: Some(&self.waker) })
    }

    /// Sleeps until `deadline`; `EINTR` if the task is interrupted first.
    pub fn sleep_until(&self, deadline: std::time::Instant) -> Result<(), Errno> {
        if self.interrupted() || self.waker.sleep_until(Some(deadline)) {
            return Err(Errno::EINTR);
        }
        Ok(())
    }

    /// The task loop. Returns when the task has exited.
    pub fn run(&mut self) {
        let status = self.run_inner();
        self.tg.task_exited(self.tid, status);
        if self.tg.task_count() == 0 {
            // The process is gone: so are its POSIX record locks.
            self.kernel.inner.locks.release_process(self.tg.tgid);
        }
    }

    fn run_inner(&mut self) -> ExitStatus {
        let mut ctx = match self.kernel.inner.platform.new_context() {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(tid = self.tid, error = %e, "cannot create a platform context");
                let st = ExitStatus::Signaled { signal: libc::SIGKILL, core_dumped: false };
                self.tg.terminate(st);
                return st;
            }
        };
        self.tg.set_interrupter(self.tid, ctx.interrupter());
        loop {
            if let Some(st) = self.tg.exiting() {
                return st;
            }
            if let Some(code) = self.exit_code {
                return ExitStatus::Exited(code);
            }
            let exit = match ctx.switch(self.mm.address_space(), &mut self.cpu) {
                Ok(e) => e,
                Err(e) => {
                    tracing::error!(tid = self.tid, error = %e, "platform switch failed");
                    self.tg.terminate(ExitStatus::Signaled { signal: libc::SIGKILL, core_dumped: false });
                    continue;
                }
            };
            match exit {
                Exit::Syscall => crate::syscalls::dispatch(self),
                Exit::Fault { addr, access, info } => {
                    if let Err(e) = self.mm.handle_fault(addr, access) {
                        let sig = match e {
                            FaultError::Segv { .. } => libc::SIGSEGV,
                            FaultError::Bus => libc::SIGBUS,
                            FaultError::Oom => libc::SIGKILL,
                        };
                        tracing::debug!(
                            tid = self.tid,
                            addr = format_args!("{addr:#x}"),
                            ?access,
                            ?e,
                            ?info,
                            rip = format_args!("{:#x}", self.cpu.regs.rip),
                            "unresolved fault"
                        );
                        self.force_signal(sig);
                    }
                }
                Exit::Signal(info) => {
                    tracing::debug!(tid = self.tid, ?info, rip = format_args!("{:#x}", self.cpu.regs.rip), "signal");
                    self.force_signal(info.signo());
                }
                Exit::Interrupted => {}
            }
        }
    }

    /// Delivers a synchronous signal the application caused. Handlers are
    /// not run yet (signal frames come later): the default action applies,
    /// since returning to the faulting instruction would fault forever.
    pub fn force_signal(&mut self, sig: i32) {
        if !(1..=signals::NSIG as i32).contains(&sig) {
            tracing::error!(tid = self.tid, sig, "platform reported an invalid signal; killing the process");
            self.tg.terminate(ExitStatus::Signaled { signal: libc::SIGKILL, core_dumped: false });
            return;
        }
        let action = self.tg.sigactions.lock().map(|a| a[(sig - 1) as usize]).unwrap_or_default();
        if action.handler > signals::SIG_IGN {
            tracing::warn!(tid = self.tid, sig, "signal handlers are not supported yet; applying the default action");
        }
        self.signal_default(sig, true);
    }

    /// Applies `sig`'s default action to the thread group.
    pub fn signal_default(&mut self, sig: i32, forced: bool) {
        match signals::default_action(sig) {
            DefaultAction::Ignore | DefaultAction::Continue if !forced => {}
            DefaultAction::Stop if !forced => {
                tracing::warn!(sig, "job-control stop is not supported yet; ignoring");
            }
            DefaultAction::CoreDump => self.tg.terminate(ExitStatus::Signaled { signal: sig, core_dumped: true }),
            _ => self.tg.terminate(ExitStatus::Signaled { signal: sig, core_dumped: false }),
        }
    }
}
