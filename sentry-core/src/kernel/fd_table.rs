//! A task's file descriptor table.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::errno::Errno;
use crate::vfs::File;

/// Default `RLIMIT_NOFILE`.
pub const DEFAULT_NOFILE: u64 = 1 << 20;

/// One descriptor.
#[derive(Clone)]
pub struct FdEntry {
    pub file: Arc<File>,
    pub cloexec: bool,
}

/// Descriptor number → open file.
#[derive(Clone)]
pub struct FdTable {
    fds: BTreeMap<i32, FdEntry>,
}

impl Default for FdTable {
    fn default() -> Self {
        FdTable::new()
    }
}

impl FdTable {
    /// An empty table.
    pub fn new() -> FdTable {
        FdTable { fds: BTreeMap::new() }
    }

    /// The file of `fd`.
    pub fn get(&self, fd: i32) -> Result<Arc<File>, Errno> {
        self.fds.get(&fd).map(|e| e.file.clone()).ok_or(Errno::EBADF)
    }

    /// The entry of `fd`.
    pub fn entry(&self, fd: i32) -> Result<&FdEntry, Errno> {
        self.fds.get(&fd).ok_or(Errno::EBADF)
    }

    /// Sets `FD_CLOEXEC` of `fd`.
    pub fn set_cloexec(&mut self, fd: i32, cloexec: bool) -> Result<(), Errno> {
        self.fds.get_mut(&fd).map(|e| e.cloexec = cloexec).ok_or(Errno::EBADF)
    }

    /// Installs `file` at the lowest free number `>= min`, below `limit`.
    pub fn insert(&mut self, file: Arc<File>, cloexec: bool, min: i32, limit: u64) -> Result<i32, Errno> {
        if min < 0 {
            return Err(Errno::EINVAL);
        }
        let mut fd = min;
        for (&k, _) in self.fds.range(min..) {
            if k != fd {
                break;
            }
            fd += 1;
        }
        if fd as u64 >= limit {
            return Err(Errno::EMFILE);
        }
        self.fds.insert(fd, FdEntry { file, cloexec });
        Ok(fd)
    }

    /// Installs `file` at `fd`, returning what was there.
    pub fn insert_at(&mut self, fd: i32, file: Arc<File>, cloexec: bool, limit: u64) -> Result<Option<FdEntry>, Errno> {
        if fd < 0 || fd as u64 >= limit {
            return Err(Errno::EBADF);
        }
        Ok(self.fds.insert(fd, FdEntry { file, cloexec }))
    }

    /// Removes `fd`.
    pub fn remove(&mut self, fd: i32) -> Result<FdEntry, Errno> {
        self.fds.remove(&fd).ok_or(Errno::EBADF)
    }

    /// Removes every close-on-exec descriptor (exec) and returns their
    /// files, for the caller to finish closing (record locks).
    pub fn close_on_exec(&mut self) -> Vec<Arc<File>> {
        let closed: Vec<i32> = self.fds.iter().filter(|(_, e)| e.cloexec).map(|(&fd, _)| fd).collect();
        closed.into_iter().filter_map(|fd| self.fds.remove(&fd)).map(|e| e.file).collect()
    }

    /// The open descriptor numbers, ascending.
    pub fn numbers(&self) -> Vec<i32> {
        self.fds.keys().copied().collect()
    }

    /// Number of open descriptors.
    pub fn len(&self) -> usize {
        self.fds.len()
    }

    /// Whether no descriptor is open.
    pub fn is_empty(&self) -> bool {
        self.fds.is_empty()
    }
}
