//! The sandbox's PID namespace: thread ids and thread groups by number.
//!
//! The container's first process is PID 1. Ids are allocated upwards and
//! wrap at [`PID_MAX`], skipping ids still in use (by a task or by a
//! thread group, zombies included), as Linux does.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::thread_group::{TaskShared, ThreadGroup};
use crate::errno::Errno;

/// Highest id plus one (`/proc/sys/kernel/pid_max` default on 64-bit).
pub const PID_MAX: i32 = 4_194_304;

/// Tasks and thread groups by id.
pub struct PidTable {
    next: i32,
    tasks: BTreeMap<i32, (Arc<TaskShared>, Arc<ThreadGroup>)>,
    groups: BTreeMap<i32, Arc<ThreadGroup>>,
}

impl Default for PidTable {
    fn default() -> Self {
        PidTable { next: 1, tasks: BTreeMap::new(), groups: BTreeMap::new() }
    }
}

impl PidTable {
    /// A free id.
    pub fn alloc(&mut self) -> Result<i32, Errno> {
        for _ in 0..PID_MAX {
            let id = self.next;
            self.next = if self.next + 1 >= PID_MAX { 300 } else { self.next + 1 };
            if !self.tasks.contains_key(&id) && !self.groups.contains_key(&id) {
                return Ok(id);
            }
        }
        Err(Errno::EAGAIN)
    }

    /// Registers a task (and its group, if new).
    pub fn insert_task(&mut self, t: Arc<TaskShared>, tg: Arc<ThreadGroup>) {
        self.groups.entry(tg.tgid).or_insert_with(|| tg.clone());
        self.tasks.insert(t.tid(), (t, tg));
    }

    /// Forgets a task.
    pub fn remove_task(&mut self, tid: i32) {
        self.tasks.remove(&tid);
    }

    /// Changes a task's id (a non-leader thread calling execve takes the
    /// leader's id).
    pub fn retid(&mut self, old: i32, new: i32) {
        if let Some(e) = self.tasks.remove(&old) {
            e.0.set_tid(new);
            self.tasks.insert(new, e);
        }
    }

    /// Forgets a (reaped) group.
    pub fn remove_group(&mut self, tgid: i32) {
        self.groups.remove(&tgid);
    }

    /// The task with id `tid`.
    pub fn task(&self, tid: i32) -> Option<(Arc<TaskShared>, Arc<ThreadGroup>)> {
        self.tasks.get(&tid).cloned()
    }

    /// The group with id `tgid`.
    pub fn group(&self, tgid: i32) -> Option<Arc<ThreadGroup>> {
        self.groups.get(&tgid).cloned()
    }

    /// Every group (zombies too), by id.
    pub fn groups(&self) -> Vec<Arc<ThreadGroup>> {
        self.groups.values().cloned().collect()
    }

    /// Number of tasks.
    pub fn task_count(&self) -> usize {
        self.tasks.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_skip_those_in_use() {
        let mut p = PidTable::default();
        let a = p.alloc().unwrap();
        assert_eq!(a, 1);
        let tg = ThreadGroup::new(a, 0);
        p.insert_task(TaskShared::new(a, 0), tg.clone());
        p.next = 1;
        assert_eq!(p.alloc().unwrap(), 2, "1 is taken");
        p.remove_task(1);
        p.next = 1;
        assert_eq!(p.alloc().unwrap(), 2, "the group still holds 1");
        p.remove_group(1);
        p.next = 1;
        assert_eq!(p.alloc().unwrap(), 1);
    }
}
