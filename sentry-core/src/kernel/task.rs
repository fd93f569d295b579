//! A task (application thread) and its loop: run the application, handle
//! what stopped it, deliver signals, repeat.
//!
//! # Signals and restarts
//!
//! Before every return to the application the task delivers its pending
//! unblocked signals (its own queue first, then its group's): ignored ones
//! are dropped, default actions applied (terminate, stop, continue), and a
//! frame pushed for each handler. A system call that was interrupted left
//! an `ERESTART*` code in `rax`; if a handler runs, the code becomes `EINTR`
//! or a restart according to `SA_RESTART` (as Linux's `handle_signal`);
//! if none does, the call is restarted.

use std::sync::{Arc, Mutex};

use platforms::{Context, CpuState, Exit, FpState};

use super::signals::{self, code, sa, DefaultAction, SigInfo};
use super::thread_group::{TaskShared, ThreadGroup, Waker};
use super::{ExitStatus, FdTable, Kernel};
use crate::arch::signal::{self as frame, AltStack};
use crate::errno::Errno;
use crate::mm::{lock, FaultError, MM};
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
    /// Capability sets (bit per capability).
    pub cap_effective: u64,
    pub cap_permitted: u64,
    pub cap_inheritable: u64,
    pub cap_bounding: u64,
}

impl Credentials {
    /// Real, effective and saved ids all `uid`/`gid`, no supplementary
    /// groups; root holds the container's default capabilities.
    pub fn new(uid: u32, gid: u32) -> Credentials {
        let bounding = crate::syscalls::creds::DEFAULT_CAPS;
        let caps = if uid == 0 { bounding } else { 0 };
        Credentials {
            uid,
            euid: uid,
            suid: uid,
            gid,
            egid: gid,
            sgid: gid,
            groups: Vec::new(),
            cap_effective: caps,
            cap_permitted: caps,
            cap_inheritable: 0,
            cap_bounding: bounding,
        }
    }

    /// Whether the task holds capability `cap` (`CAP_*` number).
    pub fn has_cap(&self, cap: u32) -> bool {
        cap < 64 && self.cap_effective & (1 << cap) != 0
    }
}

/// Signalled when a `vfork` child releases its parent's memory (exec or
/// exit).
#[derive(Default)]
pub struct VforkDone {
    done: Mutex<bool>,
    pub queue: super::waiter::WaitQueue,
}

impl VforkDone {
    /// Marks the memory released and wakes the parent.
    pub fn complete(&self) {
        *lock(&self.done) = true;
        self.queue.notify(super::waiter::events::ALL);
    }

    /// Whether the child released the memory.
    pub fn is_done(&self) -> bool {
        *lock(&self.done)
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
    /// What other threads reach of this task.
    pub shared: Arc<TaskShared>,
    /// `sigaltstack`.
    pub alt_stack: AltStack,
    /// The mask to restore after a `sigsuspend`/`ppoll`-style temporary
    /// mask, once a signal has been delivered.
    pub saved_mask: Option<u64>,
    /// `set_tid_address`.
    pub clear_child_tid: u64,
    /// `set_robust_list`: (head, len).
    pub robust_list: (u64, u64),
    /// `prctl(PR_SET_NAME)`: the thread's name (at most 15 bytes).
    pub comm: Vec<u8>,
    /// Set by `exit`: the task stops after the current system call.
    pub(crate) exit_code: Option<i32>,
    pub(crate) waker: Arc<Waker>,
    /// The platform context (exists while the task runs).
    pub(crate) ctx: Option<Box<dyn Context>>,
    /// Completed when this task (a vfork child) execs or exits.
    pub(crate) vfork_done: Option<Arc<VforkDone>>,
    /// The executable, for `/proc/self/exe`.
    pub exe: Option<Arc<crate::vfs::Dentry>>,
    /// `PR_SET_NO_NEW_PRIVS` (sticky, inherited).
    pub no_new_privs: bool,
    /// `PR_SET_KEEPCAPS`.
    pub keep_caps: bool,
    /// `PR_SET_TIMERSLACK`, in nanoseconds.
    pub timer_slack: u64,
    /// `sched_setaffinity`: CPUs the task may run on (bit per CPU; `None`:
    /// all of the sandbox's).
    pub affinity: Option<Vec<u64>>,
    /// `personality`.
    pub personality: u32,
    /// Where the argument and environment strings are (`/proc` cmdline,
    /// environ).
    pub arg_ranges: ((u64, u64), (u64, u64)),
}

/// What a new task starts with.
pub(crate) struct TaskInit {
    pub tid: i32,
    pub tg: Arc<ThreadGroup>,
    pub shared: Arc<TaskShared>,
    pub mm: Arc<MM>,
    pub fds: Arc<Mutex<FdTable>>,
    pub fs: Arc<Mutex<FsContext>>,
    pub creds: Credentials,
    pub cpu: CpuState,
}

impl Task {
    pub(crate) fn new(kernel: Kernel, init: TaskInit) -> Task {
        let waker = init.shared.waker.clone();
        Task {
            kernel,
            tid: init.tid,
            tg: init.tg,
            mm: init.mm,
            cpu: init.cpu,
            fds: init.fds,
            fs: init.fs,
            creds: init.creds,
            shared: init.shared,
            alt_stack: AltStack::DISABLED,
            saved_mask: None,
            clear_child_tid: 0,
            robust_list: (0, 0),
            comm: Vec::new(),
            exit_code: None,
            waker,
            ctx: None,
            vfork_done: None,
            exe: None,
            no_new_privs: false,
            keep_caps: false,
            timer_slack: 50_000,
            affinity: None,
            personality: 0,
            arg_ranges: ((0, 0), (0, 0)),
        }
    }

    /// The blocked signal set.
    pub fn sigmask(&self) -> u64 {
        self.shared.mask()
    }

    /// Replaces the blocked signal set.
    pub fn set_sigmask(&self, mask: u64) {
        self.shared.set_mask(mask);
    }

    /// Whether the task should stop what it is doing: a signal it does not
    /// block is pending, it was asked to exit, or its group is exiting or
    /// stopping.
    pub fn interrupted(&self) -> bool {
        interrupted(&self.tg, &self.shared)
    }

    /// A closure-free view for the wait loop.
    pub fn blocker<R>(&self, f: impl FnOnce(super::waiter::Blocker) -> R) -> R {
        let (tg, shared) = (self.tg.clone(), self.shared.clone());
        let check = move || interrupted(&tg, &shared);
        f(super::waiter::Blocker { waker: &self.waker, interrupted: &check })
    }

    /// Runs `f` with an [`IoCtx`] for this task.
    pub fn io<R>(&self, f: impl FnOnce(&IoCtx) -> R) -> R {
        let (tg, shared) = (self.tg.clone(), self.shared.clone());
        let check = move || interrupted(&tg, &shared);
        f(&IoCtx { nonblock: false, mm: Some(&self.mm), interrupted: &check, waker: Some(&self.waker) })
    }

    /// Sleeps until `deadline`; `ERESTARTNOHAND` if interrupted first.
    pub fn sleep_until(&self, deadline: std::time::Instant) -> Result<(), Errno> {
        self.blocker(|b| match super::waiter::wait_until(b, &[], 0, Some(deadline), || Err::<(), _>(Errno::EAGAIN)) {
            Err(Errno::ETIMEDOUT) => Ok(()),
            Err(Errno::ERESTARTSYS) => Err(Errno::ERESTARTNOHAND),
            r => r,
        })
    }

    /// Publishes what `/proc` shows of this task.
    pub fn publish_view(&self) {
        let view = super::thread_group::ProcView {
            mm: self.mm.clone(),
            fds: self.fds.clone(),
            fs: self.fs.clone(),
            exe: self.exe.clone(),
            creds: self.creds.clone(),
            args: self.arg_ranges.0,
            env: self.arg_ranges.1,
        };
        *lock(&self.shared.view) = Some(view);
    }

    /// Finds the argument and environment strings of a fresh program from
    /// its initial stack (`argc`, `argv[]`, `envp[]` at the stack pointer).
    pub(crate) fn find_arg_ranges(&mut self) {
        let sp = self.cpu.regs.rsp;
        // The strings may be laid out in any order: each range spans from
        // its lowest string to the end of its highest.
        let span = |ptrs: &[u64]| -> Result<(u64, u64), Errno> {
            let (Some(&lo), Some(&hi)) = (ptrs.iter().min(), ptrs.iter().max()) else { return Ok((0, 0)) };
            Ok((lo, hi + self.mm.copy_in_string(hi, 1 << 17)?.len() as u64 + 1))
        };
        type Ranges = ((u64, u64), (u64, u64));
        let ranges = (|| -> Result<Ranges, Errno> {
            let argc = self.mm.read_u64(sp)?.min(1 << 20);
            let argv: Vec<u64> = (0..argc).map(|i| self.mm.read_u64(sp + 8 + 8 * i)).collect::<Result<_, _>>()?;
            let envp_at = sp + 8 * (argc + 2);
            let mut envp = Vec::new();
            while envp.len() < 1 << 20 {
                let p = self.mm.read_u64(envp_at + 8 * envp.len() as u64)?;
                if p == 0 {
                    break;
                }
                envp.push(p);
            }
            Ok((span(&argv)?, span(&envp)?))
        })();
        self.arg_ranges = ranges.unwrap_or(((0, 0), (0, 0)));
    }

    /// Makes the FP state in `self.cpu` current.
    pub fn pull_fp(&mut self) -> Result<(), Errno> {
        if self.cpu.fp().is_some() {
            return Ok(());
        }
        match self.ctx.as_mut() {
            Some(ctx) => ctx.pull_fp(&mut self.cpu).map_err(|e| {
                tracing::error!(tid = self.tid, error = %e, "cannot read the FP state");
                Errno::EIO
            }),
            None => Err(Errno::EIO),
        }
    }

    /// The task loop. Returns when the task has exited.
    pub fn run(&mut self) {
        let status = self.run_inner();
        self.exit_task(status);
    }

    fn run_inner(&mut self) -> ExitStatus {
        self.shared.set_host_tid();
        super::current::set(self.tg.tgid, self.tid);
        self.publish_view();
        match self.kernel.inner.platform.new_context() {
            Ok(c) => {
                self.shared.set_interrupter(c.interrupter());
                self.ctx = Some(c);
            }
            Err(e) => {
                tracing::error!(tid = self.tid, error = %e, "cannot create a platform context");
                let st = ExitStatus::Signaled { signal: libc::SIGKILL, core_dumped: false };
                self.tg.terminate(st);
                return st;
            }
        }
        loop {
            if let Some(st) = self.should_exit() {
                return st;
            }
            self.handle_stop();
            self.handle_pause();
            self.deliver_signals();
            if let Some(st) = self.should_exit() {
                return st;
            }
            let Some(ctx) = self.ctx.as_mut() else {
                return ExitStatus::Signaled { signal: libc::SIGKILL, core_dumped: false };
            };
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
                        let si = match e {
                            FaultError::Segv { code } => SigInfo::new_fault(libc::SIGSEGV, code, addr),
                            FaultError::Bus => SigInfo::new_fault(libc::SIGBUS, 2 /* BUS_ADRERR */, addr),
                            FaultError::Oom => SigInfo::new_fault(libc::SIGKILL, code::SI_KERNEL, 0),
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
                        self.force_signal(si);
                    }
                }
                Exit::Signal(info) => {
                    tracing::debug!(tid = self.tid, ?info, rip = format_args!("{:#x}", self.cpu.regs.rip), "signal");
                    self.force_signal(info);
                }
                Exit::Interrupted => {}
            }
        }
    }

    fn should_exit(&self) -> Option<ExitStatus> {
        if let Some(st) = self.tg.exiting() {
            return Some(st);
        }
        if let Some(code) = self.exit_code {
            return Some(ExitStatus::Exited(code));
        }
        if self.shared.killed() {
            return Some(ExitStatus::Signaled { signal: libc::SIGKILL, core_dumped: false });
        }
        None
    }

    /// Delivers a synchronous signal the application caused. As Linux's
    /// `force_sig_info`: a blocked or ignored signal is unblocked and reset
    /// to its default action, since returning to the faulting instruction
    /// would fault forever.
    pub fn force_signal(&mut self, si: SigInfo) {
        let sig = si.signo();
        if !(1..=signals::NSIG as i32).contains(&sig) {
            tracing::error!(tid = self.tid, sig, "platform reported an invalid signal; killing the process");
            self.tg.terminate(ExitStatus::Signaled { signal: libc::SIGKILL, core_dumped: false });
            return;
        }
        if sig == libc::SIGKILL {
            self.tg.terminate(ExitStatus::Signaled { signal: libc::SIGKILL, core_dumped: false });
            return;
        }
        let blocked = self.sigmask() & signals::bit(sig) != 0;
        {
            let mut acts = lock(&self.tg.sigactions);
            let a = &mut acts[(sig - 1) as usize];
            if blocked || a.handler == signals::SIG_IGN {
                a.handler = signals::SIG_DFL;
            }
        }
        if blocked {
            self.set_sigmask(self.sigmask() & !signals::bit(sig));
        }
        lock(&self.shared.pending).enqueue(si);
    }

    /// Sleeps while the group is stopped (job control).
    fn handle_stop(&mut self) {
        loop {
            if self.tg.stop_state().stopped.is_none() || self.should_exit().is_some() {
                return;
            }
            // SIGKILL must get through a stop: it terminates the group, which
            // `should_exit` sees.
            self.waker.clear();
            let _watch = self.tg.stop_events.watch(self.waker.clone(), super::waiter::events::ALL);
            if self.tg.stop_state().stopped.is_none() || self.should_exit().is_some() {
                return;
            }
            self.waker.sleep_until(None);
        }
    }

    /// Sleeps while the sandbox is paused.
    fn handle_pause(&mut self) {
        if !self.kernel.is_paused() {
            return;
        }
        let _watch = self.kernel.inner.pause_events.watch(self.waker.clone(), super::waiter::events::ALL);
        loop {
            self.waker.clear();
            if !self.kernel.is_paused() || self.should_exit().is_some() {
                return;
            }
            self.waker.sleep_until(None);
        }
    }

    fn dequeue_signal(&self) -> Option<SigInfo> {
        let mask = self.sigmask();
        let own = lock(&self.shared.pending).dequeue(mask);
        own.or_else(|| lock(&self.tg.pending).dequeue(mask))
    }

    /// Delivers pending signals and settles an interrupted system call.
    fn deliver_signals(&mut self) {
        let restart = Errno::from_rax(self.cpu.regs.rax).filter(|e| e.is_restart() && self.cpu.regs.orig_rax < 512);
        let mut handled = false;
        while let Some(si) = self.dequeue_signal() {
            let sig = si.signo();
            let act = lock(&self.tg.sigactions)[(sig - 1) as usize];
            if act.handler == signals::SIG_IGN {
                continue;
            }
            if act.handler == signals::SIG_DFL {
                match signals::default_action(sig) {
                    DefaultAction::Ignore | DefaultAction::Continue => continue,
                    DefaultAction::Stop => {
                        self.group_stop(sig);
                        continue;
                    }
                    // No core files are written, so no "core dumped" bit.
                    DefaultAction::Terminate | DefaultAction::CoreDump => {
                        self.tg.terminate(ExitStatus::Signaled { signal: sig, core_dumped: false });
                        return;
                    }
                }
            }
            // A handler.
            if !handled {
                if let Some(e) = restart {
                    let restart_it =
                        e == Errno::ERESTARTNOINTR || (e == Errno::ERESTARTSYS && act.flags & sa::SA_RESTART != 0);
                    if restart_it {
                        self.restart_syscall();
                    } else {
                        self.cpu.regs.rax = Errno::EINTR.to_rax();
                    }
                }
            }
            handled = true;
            if let Err(e) = self.run_handler(&si, &act) {
                tracing::debug!(tid = self.tid, sig, ?e, "cannot build a signal frame; killing with SIGSEGV");
                self.tg.terminate(ExitStatus::Signaled { signal: libc::SIGSEGV, core_dumped: false });
                return;
            }
        }
        if !handled {
            if let Some(e) = restart {
                if e == Errno::ERESTART_RESTARTBLOCK {
                    self.cpu.regs.rax = Errno::EINTR.to_rax();
                } else {
                    self.restart_syscall();
                }
            }
            if let Some(m) = self.saved_mask.take() {
                self.set_sigmask(m);
            }
        }
    }

    fn restart_syscall(&mut self) {
        self.cpu.regs.rax = self.cpu.regs.orig_rax;
        self.cpu.regs.rip -= 2;
    }

    fn run_handler(&mut self, si: &SigInfo, act: &signals::SigAction) -> Result<(), Errno> {
        let sig = si.signo();
        if act.flags & sa::SA_RESTORER == 0 {
            return Err(Errno::EFAULT);
        }
        self.pull_fp()?;
        let old_mask = self.saved_mask.take().unwrap_or(self.sigmask());
        let fp = self.cpu.fp().cloned().unwrap_or_else(FpState::initial);
        let spec = frame::FrameSpec {
            info: si,
            handler: act.handler,
            restorer: act.restorer,
            on_stack: act.flags & sa::SA_ONSTACK != 0,
            alt: self.alt_stack,
            old_mask,
            fp: &fp,
        };
        frame::setup_frame(&self.mm, &mut self.cpu, &spec)?;
        // The handler starts with a clean FP state, as on Linux.
        self.cpu.set_fp(FpState::initial());
        let mut mask = self.sigmask() | act.mask;
        if act.flags & sa::SA_NODEFER == 0 {
            mask |= signals::bit(sig);
        }
        self.set_sigmask(mask);
        if act.flags & sa::SA_RESETHAND != 0 {
            lock(&self.tg.sigactions)[(sig - 1) as usize] = signals::SigAction::default();
        }
        Ok(())
    }

    /// A stop signal's default action: stop the group and tell the parent.
    fn group_stop(&mut self, sig: i32) {
        if !self.tg.stop(sig) {
            return;
        }
        if let Some(parent) = self.tg.parent() {
            let nocldstop = lock(&parent.sigactions)[(libc::SIGCHLD - 1) as usize].flags & sa::SA_NOCLDSTOP != 0;
            if !nocldstop {
                let si = signals::info_child(libc::SIGCHLD, code::CLD_STOPPED, self.tg.tgid, self.creds.uid, sig);
                self.kernel.send_group_signal(&parent, si);
            }
            parent.child_events.notify(super::waiter::events::ALL);
        }
    }

    /// Ends this task: futex and vfork notifications, then the group's
    /// bookkeeping if it was the last.
    fn exit_task(&mut self, status: ExitStatus) {
        *lock(&self.shared.view) = None;
        self.release_memory_notifications();
        self.ctx = None;
        let kernel = self.kernel.clone();
        kernel.task_exited(self, status);
    }

    /// What a task does with its memory when it leaves it (exit, exec):
    /// the robust futex list, `clear_child_tid`, a vfork parent.
    pub(crate) fn release_memory_notifications(&mut self) {
        self.exit_robust_list();
        if self.clear_child_tid != 0 {
            let addr = std::mem::take(&mut self.clear_child_tid);
            if self.mm.write_u32(addr, 0).is_ok() {
                if let Ok(key) = super::futex::FutexKey::of(&self.mm, addr, false) {
                    let _ = self.kernel.inner.futexes.wake(key, 1, super::futex::BITSET_ANY);
                }
            }
        }
        if let Some(v) = self.vfork_done.take() {
            v.complete();
        }
    }

    /// Marks the futexes this thread holds on its robust list as owned by
    /// a dead thread and wakes a waiter of each (as Linux's
    /// `exit_robust_list`).
    fn exit_robust_list(&mut self) {
        const FUTEX_WAITERS: u32 = 0x8000_0000;
        const FUTEX_OWNER_DIED: u32 = 0x4000_0000;
        const FUTEX_TID_MASK: u32 = 0x3fff_ffff;
        const ROBUST_LIST_LIMIT: usize = 2048;
        let (head, _) = std::mem::take(&mut self.robust_list);
        if head == 0 {
            return;
        }
        let Ok(offset) = self.mm.read_u64(head + 8) else { return };
        let pending = self.mm.read_u64(head + 16).unwrap_or(0);
        let tid = self.tid as u32;
        let handle = |entry: u64| {
            let word = (entry & !1).wrapping_add(offset);
            let Ok(old) = self.mm.atomic_update_u32(word, |v| {
                (v & FUTEX_TID_MASK == tid).then_some((v & FUTEX_WAITERS) | FUTEX_OWNER_DIED)
            }) else {
                return;
            };
            if old & FUTEX_TID_MASK == tid && old & FUTEX_WAITERS != 0 {
                if let Ok(key) = super::futex::FutexKey::of(&self.mm, word, entry & 1 == 0) {
                    let _ = self.kernel.inner.futexes.wake(key, 1, super::futex::BITSET_ANY);
                }
            }
        };
        let mut entry = self.mm.read_u64(head).unwrap_or(head);
        let mut n = 0;
        while entry != head && entry != 0 && n < ROBUST_LIST_LIMIT {
            let next = self.mm.read_u64(entry & !1).unwrap_or(head);
            if entry != pending {
                handle(entry);
            }
            entry = next;
            n += 1;
        }
        if pending != 0 {
            handle(pending);
        }
    }
}

/// See [`Task::interrupted`].
pub(crate) fn interrupted(tg: &ThreadGroup, shared: &TaskShared) -> bool {
    if shared.killed() || tg.exiting().is_some() || tg.stop_state().stopped.is_some() {
        return true;
    }
    let pending = lock(&shared.pending).mask() | lock(&tg.pending).mask();
    pending & !shared.mask() != 0
}
