//! The task the calling host thread serves, for the few places that need
//! it without a `Task` at hand (`/proc/self` in path walking).
//!
//! Every task runs on its own host thread for its whole life, so a
//! thread-local set when the task starts (and after `execve`, which may
//! change the thread id) is always right.

use std::cell::Cell;

thread_local! {
    static CURRENT: Cell<Option<(i32, i32)>> = const { Cell::new(None) };
}

/// Records the calling thread's task: (process id, thread id).
pub fn set(tgid: i32, tid: i32) {
    CURRENT.with(|c| c.set(Some((tgid, tid))));
}

/// The calling thread's (process id, thread id), if it serves a task.
pub fn get() -> Option<(i32, i32)> {
    CURRENT.with(|c| c.get())
}
