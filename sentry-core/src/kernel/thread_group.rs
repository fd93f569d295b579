//! Thread groups (processes): exit status, signal dispositions, limits.

use std::sync::{Arc, Condvar, Mutex};

pub use super::waiter::Waker;

use platforms::Interrupter;

use super::signals::SigAction;
use super::ExitStatus;
use crate::mm::lock;

/// What other threads need to reach a task.
pub struct TaskRef {
    pub tid: i32,
    pub waker: Arc<Waker>,
    pub interrupter: Option<Arc<Interrupter>>,
}

struct TgState {
    /// Set once the group is exiting (`exit_group`, a fatal signal, or the
    /// last thread's `exit`).
    exit: Option<ExitStatus>,
    /// Tasks still running.
    tasks: Vec<TaskRef>,
    /// Whether the group has started (a task was added).
    started: bool,
}

/// Number of resource limits (`RLIM_NLIMITS`).
pub const RLIM_NLIMITS: usize = 16;
/// `RLIM_INFINITY`.
pub const RLIM_INFINITY: u64 = u64::MAX;

/// A thread group.
pub struct ThreadGroup {
    pub tgid: i32,
    pub ppid: i32,
    state: Mutex<TgState>,
    done: Condvar,
    /// Signal dispositions, indexed by signal number - 1.
    pub sigactions: Mutex<[SigAction; 64]>,
    /// Resource limits: (soft, hard).
    pub rlimits: Mutex<[(u64, u64); RLIM_NLIMITS]>,
}

impl ThreadGroup {
    /// A new, empty group.
    pub fn new(tgid: i32, ppid: i32) -> Arc<ThreadGroup> {
        let mut rl = [(RLIM_INFINITY, RLIM_INFINITY); RLIM_NLIMITS];
        rl[libc::RLIMIT_STACK as usize] = (crate::arch::DEFAULT_STACK_SIZE, RLIM_INFINITY);
        rl[libc::RLIMIT_NOFILE as usize] = (super::fd_table::DEFAULT_NOFILE, super::fd_table::DEFAULT_NOFILE);
        rl[libc::RLIMIT_CORE as usize] = (0, RLIM_INFINITY);
        Arc::new(ThreadGroup {
            tgid,
            ppid,
            state: Mutex::new(TgState { exit: None, tasks: Vec::new(), started: false }),
            done: Condvar::new(),
            sigactions: Mutex::new([SigAction::default(); 64]),
            rlimits: Mutex::new(rl),
        })
    }

    /// Adds a running task.
    pub fn add_task(&self, t: TaskRef) {
        let mut s = lock(&self.state);
        s.started = true;
        s.tasks.push(t);
    }

    /// Records the interrupter of a task once its context exists.
    pub fn set_interrupter(&self, tid: i32, i: Arc<Interrupter>) {
        let mut s = lock(&self.state);
        if let Some(t) = s.tasks.iter_mut().find(|t| t.tid == tid) {
            t.interrupter = Some(i.clone());
        }
        // A kill that raced with start-up must still stop the task.
        if s.exit.is_some() {
            i.interrupt();
        }
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
            t.waker.kick();
            if let Some(i) = &t.interrupter {
                i.interrupt();
            }
        }
    }

    /// A task has stopped running; `status` is its `exit` status if it
    /// ended by `exit` (the group's status if it was the last).
    pub fn task_exited(&self, tid: i32, status: ExitStatus) {
        let mut s = lock(&self.state);
        s.tasks.retain(|t| t.tid != tid);
        if s.tasks.is_empty() {
            if s.exit.is_none() {
                s.exit = Some(status);
            }
            self.done.notify_all();
        }
    }

    /// Waits until every task has stopped; returns the group's status.
    pub fn wait(&self) -> ExitStatus {
        let mut s = lock(&self.state);
        loop {
            if let (Some(st), true) = (s.exit, s.tasks.is_empty() && s.started) {
                return st;
            }
            s = self.done.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Number of running tasks.
    pub fn task_count(&self) -> usize {
        lock(&self.state).tasks.len()
    }
}
