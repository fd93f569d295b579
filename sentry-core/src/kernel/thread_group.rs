//! Thread groups (processes) and what other threads see of a task.
//!
//! A [`ThreadGroup`] holds what the threads of a process share: exit
//! status, signal dispositions and the shared pending queue, limits, the
//! process tree (parent, children, process group, session) and job-control
//! stop state. A [`TaskShared`] is the part of a task other threads reach:
//! its pending signals, mask, waker and platform interrupter.
//!
//! # Life cycle
//!
//! A group runs while it has tasks. When the last one ends the group is a
//! *zombie*: its status waits for the parent's `wait4`, unless the parent
//! ignores `SIGCHLD` (then it is reaped at once). Children of an exiting
//! group are reparented to the sandbox's init (PID 1).
//!
//! Two group state locks are never held together: code that walks the tree
//! copies the list it needs (children are `Arc`s) and locks each group in
//! turn.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::Instant;

use platforms::Interrupter;

use super::signals::{self, PendingSignals, SigAction, SigInfo};
use super::ExitStatus;
use crate::mm::lock;

use super::waiter::WaitQueue;
pub use super::waiter::Waker;

/// The part of a task other threads reach.
pub struct TaskShared {
    tid: AtomicI32,
    pub waker: Arc<Waker>,
    interrupter: Mutex<Option<Arc<Interrupter>>>,
    /// Signals sent to this thread.
    pub pending: Mutex<PendingSignals>,
    /// Blocked signals.
    mask: AtomicU64,
    /// Asked to exit on its own (another thread is calling `execve`).
    killed: AtomicBool,
    /// The thread's name (`comm`), for `/proc`.
    pub comm: Mutex<Vec<u8>>,
    /// The host thread serving the task (for its CPU clock); 0 until it
    /// runs.
    host_tid: AtomicI32,
    /// `PR_SET_PDEATHSIG`: signal sent to this task when its parent ends.
    pub pdeathsig: AtomicI32,
    /// What `/proc` shows of the task (published by the task itself).
    pub view: Mutex<Option<ProcView>>,
    /// Signals a `sigtimedwait` in progress waits for: they count as
    /// blocked when deciding whether an ignored signal is dropped (Linux's
    /// `real_blocked`).
    pub awaited: AtomicU64,
}

impl TaskShared {
    /// A new task's shared part.
    pub fn new(tid: i32, mask: u64) -> Arc<TaskShared> {
        Arc::new(TaskShared {
            tid: AtomicI32::new(tid),
            waker: Arc::new(Waker::default()),
            interrupter: Mutex::new(None),
            pending: Mutex::new(PendingSignals::default()),
            mask: AtomicU64::new(mask),
            killed: AtomicBool::new(false),
            comm: Mutex::new(Vec::new()),
            host_tid: AtomicI32::new(0),
            pdeathsig: AtomicI32::new(0),
            awaited: AtomicU64::new(0),
            view: Mutex::new(None),
        })
    }

    /// The host thread serving the task (0 before it starts).
    pub fn host_tid(&self) -> i32 {
        self.host_tid.load(Ordering::Relaxed)
    }

    /// Records the calling host thread as the one serving the task.
    pub fn set_host_tid(&self) {
        // SAFETY: gettid has no arguments and cannot fail.
        let tid = unsafe { libc::gettid() };
        self.host_tid.store(tid, Ordering::Relaxed);
    }

    /// The thread id.
    pub fn tid(&self) -> i32 {
        self.tid.load(Ordering::Relaxed)
    }

    pub(crate) fn set_tid(&self, tid: i32) {
        self.tid.store(tid, Ordering::Relaxed)
    }

    /// The blocked set.
    pub fn mask(&self) -> u64 {
        self.mask.load(Ordering::SeqCst)
    }

    /// Sets the blocked set (SIGKILL and SIGSTOP can never be blocked).
    pub fn set_mask(&self, mask: u64) {
        self.mask.store(mask & !(signals::bit(libc::SIGKILL) | signals::bit(libc::SIGSTOP)), Ordering::SeqCst);
    }

    /// Whether the task was asked to exit alone.
    pub fn killed(&self) -> bool {
        self.killed.load(Ordering::SeqCst)
    }

    /// Asks the task to exit alone.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
        self.wake();
    }

    /// Wakes the task wherever it is: asleep in the Sentry or running
    /// application code.
    pub fn wake(&self) {
        self.waker.kick();
        if let Some(i) = lock(&self.interrupter).as_ref() {
            i.interrupt();
        }
    }

    /// Records the platform interrupter once the task's context exists.
    pub fn set_interrupter(&self, i: Arc<Interrupter>) {
        *lock(&self.interrupter) = Some(i);
    }
}

/// A task's state as `/proc` shows it: shared handles the task publishes
/// when they change (start, exec, credential changes) and withdraws when
/// it exits.
#[derive(Clone)]
pub struct ProcView {
    pub mm: Arc<crate::mm::MM>,
    pub fds: Arc<Mutex<super::FdTable>>,
    pub fs: Arc<Mutex<crate::vfs::FsContext>>,
    pub exe: Option<Arc<crate::vfs::Dentry>>,
    pub creds: super::Credentials,
    /// `[start, end)` of the argument and environment strings.
    pub args: (u64, u64),
    pub env: (u64, u64),
}

/// Job-control state of a group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StopState {
    /// Stopped by this signal.
    pub stopped: Option<i32>,
    /// A stop not yet reported to the parent's `wait` (`WUNTRACED`).
    pub report_stop: bool,
    /// A continue not yet reported (`WCONTINUED`).
    pub report_continue: bool,
}

struct TgState {
    /// Set once the group is exiting (`exit_group`, a fatal signal, or the
    /// last thread's `exit`).
    exit: Option<ExitStatus>,
    /// Tasks still running.
    tasks: Vec<Arc<TaskShared>>,
    /// Whether the group has started (a task was added).
    started: bool,
    /// Every task has ended; the status waits to be collected.
    zombie: bool,
    /// Collected by the parent (or auto-reaped).
    reaped: bool,
    parent: Weak<ThreadGroup>,
    children: Vec<Arc<ThreadGroup>>,
    stop: StopState,
}

/// Number of resource limits (`RLIM_NLIMITS`).
pub const RLIM_NLIMITS: usize = 16;
/// `RLIM_INFINITY`.
pub const RLIM_INFINITY: u64 = u64::MAX;

/// A thread group.
pub struct ThreadGroup {
    pub tgid: i32,
    /// Parent's tgid (0 for the sandbox's first process); follows
    /// reparenting.
    ppid: AtomicI32,
    pgid: AtomicI32,
    sid: AtomicI32,
    /// Signal sent to the parent when the group ends.
    pub exit_signal: i32,
    /// Owner of the group, for signal permission and `siginfo`.
    pub uid: AtomicI32,
    state: Mutex<TgState>,
    done: Condvar,
    /// Signal dispositions, indexed by signal number - 1.
    pub sigactions: Mutex<[SigAction; 64]>,
    /// Signals sent to the process.
    pub pending: Mutex<PendingSignals>,
    /// Resource limits: (soft, hard).
    pub rlimits: Mutex<[(u64, u64); RLIM_NLIMITS]>,
    /// Notified when a child changes state (exits, stops, continues).
    pub child_events: WaitQueue,
    /// Notified when this group's stop state changes.
    pub stop_events: WaitQueue,
    /// When the group started.
    pub start_time: Instant,
    /// CPU time accounting.
    pub usage: Mutex<super::usage::Usage>,
    /// `PR_SET_CHILD_SUBREAPER`: orphaned descendants are reparented here
    /// rather than to init.
    pub subreaper: AtomicBool,
    /// `PR_SET_DUMPABLE`.
    pub dumpable: AtomicI32,
    /// `PR_SET_THP_DISABLE`.
    pub thp_disable: AtomicBool,
    /// `setpriority(PRIO_PROCESS)`: the nice value, -20..19.
    pub nice: AtomicI32,
    /// Interval and POSIX timers.
    pub timers: Mutex<super::itimer::Timers>,
    /// Notified when a signal is queued for the process or one of its
    /// threads (signalfd).
    pub signal_events: WaitQueue,
    /// The container (of the sandbox's containers) the process belongs
    /// to: that of the process it was forked from (see
    /// [`Container`](crate::kernel::Container)).
    pub container: AtomicU32,
}

fn default_rlimits() -> [(u64, u64); RLIM_NLIMITS] {
    let mut rl = [(RLIM_INFINITY, RLIM_INFINITY); RLIM_NLIMITS];
    rl[libc::RLIMIT_STACK as usize] = (crate::arch::DEFAULT_STACK_SIZE, RLIM_INFINITY);
    rl[libc::RLIMIT_NOFILE as usize] = (super::fd_table::DEFAULT_NOFILE, super::fd_table::DEFAULT_NOFILE);
    rl[libc::RLIMIT_CORE as usize] = (0, RLIM_INFINITY);
    rl
}

impl ThreadGroup {
    /// A new, empty group with no parent, leading its own session and
    /// process group.
    pub fn new(tgid: i32, ppid: i32) -> Arc<ThreadGroup> {
        Self::build(tgid, ppid, tgid, tgid, libc::SIGCHLD, Weak::new(), [SigAction::default(); 64], default_rlimits())
    }

    #[allow(clippy::too_many_arguments)]
    fn build(
        tgid: i32,
        ppid: i32,
        pgid: i32,
        sid: i32,
        exit_signal: i32,
        parent: Weak<ThreadGroup>,
        sigactions: [SigAction; 64],
        rlimits: [(u64, u64); RLIM_NLIMITS],
    ) -> Arc<ThreadGroup> {
        Arc::new(ThreadGroup {
            tgid,
            ppid: AtomicI32::new(ppid),
            pgid: AtomicI32::new(pgid),
            sid: AtomicI32::new(sid),
            exit_signal,
            uid: AtomicI32::new(0),
            state: Mutex::new(TgState {
                exit: None,
                tasks: Vec::new(),
                started: false,
                zombie: false,
                reaped: false,
                parent,
                children: Vec::new(),
                stop: StopState::default(),
            }),
            done: Condvar::new(),
            sigactions: Mutex::new(sigactions),
            pending: Mutex::new(PendingSignals::default()),
            rlimits: Mutex::new(rlimits),
            child_events: WaitQueue::new(),
            stop_events: WaitQueue::new(),
            start_time: Instant::now(),
            usage: Mutex::new(super::usage::Usage::default()),
            subreaper: AtomicBool::new(false),
            dumpable: AtomicI32::new(1),
            thp_disable: AtomicBool::new(false),
            nice: AtomicI32::new(0),
            timers: Mutex::new(super::itimer::Timers::default()),
            signal_events: WaitQueue::new(),
            container: AtomicU32::new(0),
        })
    }

    /// A child process of `self` (fork): inherits dispositions, limits,
    /// process group and session; registered as a child.
    pub fn fork_child(self: &Arc<Self>, tgid: i32, exit_signal: i32, parent: &Arc<ThreadGroup>) -> Arc<ThreadGroup> {
        let child = Self::build(
            tgid,
            parent.tgid,
            self.pgid(),
            self.sid(),
            exit_signal,
            Arc::downgrade(parent),
            *lock(&self.sigactions),
            *lock(&self.rlimits),
        );
        child.uid.store(self.uid.load(Ordering::Relaxed), Ordering::Relaxed);
        child.container.store(self.container.load(Ordering::Relaxed), Ordering::Relaxed);
        lock(&parent.state).children.push(child.clone());
        child
    }

    /// The parent's tgid (0 if none).
    pub fn ppid(&self) -> i32 {
        self.ppid.load(Ordering::Relaxed)
    }

    /// The parent group, if alive.
    pub fn parent(&self) -> Option<Arc<ThreadGroup>> {
        lock(&self.state).parent.upgrade()
    }

    pub fn pgid(&self) -> i32 {
        self.pgid.load(Ordering::Relaxed)
    }

    pub fn sid(&self) -> i32 {
        self.sid.load(Ordering::Relaxed)
    }

    pub fn set_pgid(&self, pgid: i32) {
        self.pgid.store(pgid, Ordering::Relaxed)
    }

    /// Makes the group lead a new session and process group.
    pub fn set_sid(&self) {
        self.sid.store(self.tgid, Ordering::Relaxed);
        self.pgid.store(self.tgid, Ordering::Relaxed);
    }

    /// Adds a running task.
    pub fn add_task(&self, t: Arc<TaskShared>) {
        let mut s = lock(&self.state);
        s.started = true;
        if s.exit.is_some() {
            t.wake();
        }
        s.tasks.push(t);
    }

    /// The running tasks.
    pub fn tasks(&self) -> Vec<Arc<TaskShared>> {
        lock(&self.state).tasks.clone()
    }

    /// The children (running and zombie).
    pub fn children(&self) -> Vec<Arc<ThreadGroup>> {
        lock(&self.state).children.clone()
    }

    /// The exit status, if the group is exiting.
    pub fn exiting(&self) -> Option<ExitStatus> {
        lock(&self.state).exit
    }

    /// Starts exiting the whole group with `status` (the first status
    /// wins) and stops every task.
    pub fn terminate(&self, status: ExitStatus) {
        let mut s = lock(&self.state);
        if s.exit.is_none() {
            s.exit = Some(status);
        }
        for t in &s.tasks {
            t.wake();
        }
    }

    /// A task has stopped running. Returns true if it was the last: the
    /// group is now a zombie with `status` unless it was already exiting
    /// with another.
    pub fn task_exited(&self, tid: i32, status: ExitStatus) -> bool {
        let mut s = lock(&self.state);
        s.tasks.retain(|t| t.tid() != tid);
        if !s.tasks.is_empty() {
            return false;
        }
        if s.exit.is_none() {
            s.exit = Some(status);
        }
        s.zombie = true;
        self.done.notify_all();
        true
    }

    /// Waits until every task has stopped; returns the group's status.
    pub fn wait(&self) -> ExitStatus {
        let mut s = lock(&self.state);
        loop {
            if let (Some(st), true) = (s.exit, s.zombie) {
                return st;
            }
            s = self.done.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// The status of a zombie group (`None` while it runs).
    pub fn zombie_status(&self) -> Option<ExitStatus> {
        let s = lock(&self.state);
        if s.zombie {
            s.exit
        } else {
            None
        }
    }

    /// Marks the zombie collected; false if it was not a zombie or someone
    /// else collected it first.
    pub fn reap(&self) -> bool {
        let mut s = lock(&self.state);
        if !s.zombie || s.reaped {
            return false;
        }
        s.reaped = true;
        true
    }

    /// Removes `child` from the children list.
    pub fn remove_child(&self, tgid: i32) {
        lock(&self.state).children.retain(|c| c.tgid != tgid);
    }

    /// Takes the children (an exiting group hands them to init).
    pub fn take_children(&self) -> Vec<Arc<ThreadGroup>> {
        std::mem::take(&mut lock(&self.state).children)
    }

    /// Makes `parent` the parent of `child`.
    pub fn reparent_child(child: &Arc<ThreadGroup>, parent: &Arc<ThreadGroup>) {
        lock(&child.state).parent = Arc::downgrade(parent);
        child.ppid.store(parent.tgid, Ordering::Relaxed);
        lock(&parent.state).children.push(child.clone());
    }

    /// Number of running tasks.
    pub fn task_count(&self) -> usize {
        lock(&self.state).tasks.len()
    }

    /// Job-control state.
    pub fn stop_state(&self) -> StopState {
        lock(&self.state).stop
    }

    /// Stops the group with `sig` (a stop signal's default action); false
    /// if it is exiting or already stopped.
    pub fn stop(&self, sig: i32) -> bool {
        let mut s = lock(&self.state);
        if s.exit.is_some() || s.stop.stopped.is_some() {
            return false;
        }
        s.stop = StopState { stopped: Some(sig), report_stop: true, report_continue: false };
        for t in &s.tasks {
            t.wake();
        }
        drop(s);
        self.stop_events.notify(super::waiter::events::ALL);
        true
    }

    /// Continues a stopped group (`SIGCONT`); true if it was stopped.
    pub fn resume(&self) -> bool {
        let mut s = lock(&self.state);
        if s.stop.stopped.is_none() {
            return false;
        }
        s.stop = StopState { stopped: None, report_stop: false, report_continue: true };
        drop(s);
        self.stop_events.notify(super::waiter::events::ALL);
        true
    }

    /// Takes a pending stop report (for `wait` with `WUNTRACED`); with
    /// `peek` (`WNOWAIT`) it stays.
    pub fn take_stop_report(&self, peek: bool) -> Option<i32> {
        let mut s = lock(&self.state);
        let sig = s.stop.stopped.filter(|_| s.stop.report_stop)?;
        if !peek {
            s.stop.report_stop = false;
        }
        Some(sig)
    }

    /// Takes a pending continue report (for `wait` with `WCONTINUED`).
    pub fn take_continue_report(&self, peek: bool) -> bool {
        let mut s = lock(&self.state);
        let r = s.stop.report_continue;
        if !peek {
            s.stop.report_continue = false;
        }
        r
    }

    /// Queues a process-directed signal and wakes a thread that does not
    /// block it. Returns false if it was dropped.
    pub fn queue_signal(&self, si: SigInfo) -> bool {
        let sig = si.signo();
        if !lock(&self.pending).enqueue(si) {
            return false;
        }
        let tasks = self.tasks();
        let bit = signals::bit(sig);
        // If every thread blocks it, it stays pending until one unblocks.
        if let Some(t) = tasks.iter().find(|t| t.mask() & bit == 0) {
            t.wake();
        }
        self.signal_events.notify(super::waiter::events::ALL);
        true
    }
}
