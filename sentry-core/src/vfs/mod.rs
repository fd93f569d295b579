//! The virtual file system: inodes, dentries, file descriptions and path
//! walking.
//!
//! A file system implements [`Inode`] (metadata and, for directories, the
//! name operations) and [`FileOps`] (what an open file does). The VFS owns
//! [`Dentry`]s (a name in a parent, for `..` and `getcwd`), [`File`]
//! descriptions (flags and offset, shared by `dup`ed descriptors) and path
//! walking ([`path`]). A mount tree comes later: for now there is one root
//! file system. Advisory locks live in [`lock`].
//!
//! Attribute changes (`chown`, `utimensat`, the mode bits `chown` clears)
//! reach a file system as one [`AttrChange`] through [`Inode::set_attr`]:
//! system call handlers do the permission checks and compute the change,
//! the file system applies it and sets the change time.

pub mod lock;
pub mod path;
pub mod stat;

use std::any::Any;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use crate::errno::{Errno, SysResult};
use crate::kernel::waiter::{events, wait_until, Blocker, WaitQueue, Waker};
use crate::mm::{lock, Mappable, MM};

pub use path::{FsContext, LookupFlags};
pub use stat::{Stat, StatFs, Timespec, STATX_BASIC_STATS};

/// `open` flags (x86-64 values).
pub mod flags {
    pub const O_ACCMODE: u32 = 0o3;
    pub const O_RDONLY: u32 = 0o0;
    pub const O_WRONLY: u32 = 0o1;
    pub const O_RDWR: u32 = 0o2;
    pub const O_CREAT: u32 = 0o100;
    pub const O_EXCL: u32 = 0o200;
    pub const O_NOCTTY: u32 = 0o400;
    pub const O_TRUNC: u32 = 0o1000;
    pub const O_APPEND: u32 = 0o2000;
    pub const O_NONBLOCK: u32 = 0o4000;
    pub const O_DSYNC: u32 = 0o10000;
    pub const O_ASYNC: u32 = 0o20000;
    pub const O_DIRECT: u32 = 0o40000;
    pub const O_LARGEFILE: u32 = 0o100000;
    pub const O_DIRECTORY: u32 = 0o200000;
    pub const O_NOFOLLOW: u32 = 0o400000;
    pub const O_NOATIME: u32 = 0o1000000;
    pub const O_CLOEXEC: u32 = 0o2000000;
    pub const O_PATH: u32 = 0o10000000;
    pub const O_TMPFILE: u32 = 0o20000000;
    /// Flags `F_SETFL` may change.
    pub const SETFL_MASK: u32 = O_APPEND | O_NONBLOCK | O_ASYNC | O_DIRECT | O_NOATIME;
}

/// The type of a file (the `S_IFMT` part of a mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileType {
    Regular,
    Directory,
    Symlink,
    CharDevice,
    BlockDevice,
    Fifo,
    Socket,
}

impl FileType {
    /// The `S_IF*` bits.
    pub fn mode_bits(self) -> u32 {
        match self {
            FileType::Regular => libc::S_IFREG,
            FileType::Directory => libc::S_IFDIR,
            FileType::Symlink => libc::S_IFLNK,
            FileType::CharDevice => libc::S_IFCHR,
            FileType::BlockDevice => libc::S_IFBLK,
            FileType::Fifo => libc::S_IFIFO,
            FileType::Socket => libc::S_IFSOCK,
        }
    }

    /// The type from `S_IF*` bits.
    pub fn from_mode(mode: u32) -> Option<FileType> {
        Some(match mode & libc::S_IFMT {
            libc::S_IFREG => FileType::Regular,
            libc::S_IFDIR => FileType::Directory,
            libc::S_IFLNK => FileType::Symlink,
            libc::S_IFCHR => FileType::CharDevice,
            libc::S_IFBLK => FileType::BlockDevice,
            libc::S_IFIFO => FileType::Fifo,
            libc::S_IFSOCK => FileType::Socket,
            _ => return None,
        })
    }

    /// The `d_type` of a `linux_dirent64`.
    pub fn dirent_type(self) -> u8 {
        match self {
            FileType::Regular => libc::DT_REG,
            FileType::Directory => libc::DT_DIR,
            FileType::Symlink => libc::DT_LNK,
            FileType::CharDevice => libc::DT_CHR,
            FileType::BlockDevice => libc::DT_BLK,
            FileType::Fifo => libc::DT_FIFO,
            FileType::Socket => libc::DT_SOCK,
        }
    }
}

/// One directory entry, as listed by [`Inode::readdir`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    pub name: String,
    pub ino: u64,
    pub file_type: FileType,
}

/// Who is creating a file (owner of new inodes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Creds {
    pub uid: u32,
    pub gid: u32,
}

/// A time stamp to set with [`Inode::set_attr`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeChange {
    /// The current time.
    Now,
    /// This time.
    At(Timespec),
}

/// Attributes to change with [`Inode::set_attr`]; `None` keeps a value.
/// Every change also sets the change time (`ctime`) to now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AttrChange {
    /// Permission bits (`0o7777`).
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub atime: Option<TimeChange>,
    pub mtime: Option<TimeChange>,
}

/// `renameat2` flags.
pub mod rename_flags {
    pub const RENAME_NOREPLACE: u32 = 1;
    pub const RENAME_EXCHANGE: u32 = 2;
    pub const RENAME_WHITEOUT: u32 = 4;
}

/// `fallocate` modes.
pub mod falloc {
    pub const FALLOC_FL_KEEP_SIZE: u32 = 0x01;
    pub const FALLOC_FL_PUNCH_HOLE: u32 = 0x02;
    pub const FALLOC_FL_COLLAPSE_RANGE: u32 = 0x08;
    pub const FALLOC_FL_ZERO_RANGE: u32 = 0x10;
    pub const FALLOC_FL_INSERT_RANGE: u32 = 0x20;
    /// Every mode bit Linux knows.
    pub const SUPPORTED_MASK: u32 = FALLOC_FL_KEEP_SIZE
        | FALLOC_FL_PUNCH_HOLE
        | FALLOC_FL_COLLAPSE_RANGE
        | FALLOC_FL_ZERO_RANGE
        | FALLOC_FL_INSERT_RANGE;
}

/// An inode: a file's metadata and, for directories, its names.
///
/// Directory operations default to `ENOTDIR`; file systems override what
/// they support.
pub trait Inode: Send + Sync + Any {
    /// The file's attributes.
    fn stat(&self) -> Stat;

    /// The file's type.
    fn file_type(&self) -> FileType;

    /// Opens the file. `flags` are the `open` flags.
    fn open(self: Arc<Self>, flags: u32) -> Result<Box<dyn FileOps>, Errno>;

    /// The child called `name` (never `.` or `..`).
    fn lookup(&self, _name: &str) -> Result<Arc<dyn Inode>, Errno> {
        Err(Errno::ENOTDIR)
    }

    /// Creates a regular file or directory called `name`.
    fn create(&self, _name: &str, _ft: FileType, _mode: u32, _creds: Creds) -> Result<Arc<dyn Inode>, Errno> {
        Err(Errno::ENOTDIR)
    }

    /// Creates a symbolic link `name` pointing to `target`.
    fn symlink(&self, _name: &str, _target: &str, _creds: Creds) -> Result<(), Errno> {
        Err(Errno::ENOTDIR)
    }

    /// Removes `name`: a directory (which must be empty) if `dir`, anything
    /// else otherwise.
    fn unlink(&self, _name: &str, _dir: bool) -> Result<(), Errno> {
        Err(Errno::ENOTDIR)
    }

    /// Moves `name` to `new_name` in `new_dir` (same file system).
    fn rename(&self, _name: &str, _new_dir: &Arc<dyn Inode>, _new_name: &str) -> Result<(), Errno> {
        Err(Errno::EXDEV)
    }

    /// The entries of a directory, without `.` and `..`.
    fn readdir(&self) -> Result<Vec<DirEntry>, Errno> {
        Err(Errno::ENOTDIR)
    }

    /// The target of a symbolic link.
    fn readlink(&self) -> Result<String, Errno> {
        Err(Errno::EINVAL)
    }

    /// For a "magic" link (procfs `fd/N`, `exe`, `cwd`, `root`): the object
    /// it stands for, reached directly rather than by walking its text
    /// (which may name nothing, like `pipe:[5]`). `None` for ordinary
    /// links.
    fn follow_link(&self) -> Option<Result<Arc<Dentry>, Errno>> {
        None
    }

    /// Sets the size of a regular file.
    fn truncate(&self, _size: u64) -> Result<(), Errno> {
        Err(Errno::EINVAL)
    }

    /// Changes permission bits (`chmod`).
    fn set_mode(&self, _mode: u32) -> Result<(), Errno> {
        Err(Errno::EPERM)
    }

    /// Changes owner, group, mode bits and time stamps together, and sets
    /// the change time (`chown`, `utimensat`). Permission checks are the
    /// caller's.
    fn set_attr(&self, _change: &AttrChange) -> Result<(), Errno> {
        Err(Errno::EPERM)
    }

    /// Adds `name` in this directory as a new hard link to `target` (not a
    /// directory; the caller checks). `EXDEV` if `target` belongs to
    /// another file system.
    fn link(&self, _name: &str, _target: &Arc<dyn Inode>) -> Result<(), Errno> {
        Err(Errno::EPERM)
    }

    /// `renameat2`: [`rename`](Inode::rename) with `RENAME_*` flags. File
    /// systems that support no flag keep this default.
    fn rename2(&self, name: &str, new_dir: &Arc<dyn Inode>, new_name: &str, flags: u32) -> Result<(), Errno> {
        if flags != 0 {
            return Err(Errno::EINVAL);
        }
        self.rename(name, new_dir, new_name)
    }

    /// `statfs` of the file system this inode belongs to. The default
    /// describes an in-memory file system of the inode's kind.
    fn statfs(&self) -> Result<StatFs, Errno> {
        let magic = match self.file_type() {
            FileType::Fifo => stat::PIPEFS_MAGIC,
            FileType::Socket => stat::SOCKFS_MAGIC,
            _ => stat::TMPFS_MAGIC,
        };
        Ok(StatFs::empty(magic))
    }

    /// `fallocate` of a regular file (`mode`: `FALLOC_FL_*`, already
    /// validated by the caller; `offset + len` does not overflow).
    fn allocate(&self, _mode: u32, _offset: u64, _len: u64) -> Result<(), Errno> {
        Err(Errno::EOPNOTSUPP)
    }

    /// The file's identity for advisory locks: `(st_dev, st_ino)`. File
    /// systems that can answer without a round trip override this.
    fn lock_key(&self) -> lock::FileKey {
        let st = self.stat();
        (st.dev, st.ino)
    }

    /// For file systems to recover their concrete type.
    fn as_any(&self) -> &dyn Any;
}

/// Context for file operations that may block or touch application memory.
#[derive(Clone, Copy)]
pub struct IoCtx<'a> {
    /// `O_NONBLOCK`: return `EAGAIN` instead of waiting (set by [`File`]).
    pub nonblock: bool,
    /// The calling task's memory (for ioctl arguments); `None` outside a
    /// task (the Sentry reading a file for itself).
    pub mm: Option<&'a MM>,
    /// Whether the calling task has been asked to stop what it is doing
    /// (a signal or exit): blocking operations return `EINTR` when it is.
    pub interrupted: &'a dyn Fn() -> bool,
    /// The calling task's waker; `None` outside a task (nothing blocks).
    pub waker: Option<&'a Arc<Waker>>,
}

impl<'a> IoCtx<'a> {
    /// A context for the Sentry's own I/O: never blocks, no application
    /// memory.
    pub fn internal() -> IoCtx<'static> {
        IoCtx { nonblock: true, mm: None, interrupted: &|| false, waker: None }
    }

    /// Runs `attempt` until it returns something other than `EAGAIN`,
    /// sleeping on `queues` (for `mask` events) in between. Non-blocking
    /// contexts try once. Interruption gives `ERESTARTSYS`.
    pub fn block<T>(
        &self,
        queues: &[&WaitQueue],
        mask: u32,
        attempt: impl FnMut() -> Result<T, Errno>,
    ) -> Result<T, Errno> {
        self.block_until(queues, mask, None, attempt)
    }

    /// [`block`](IoCtx::block) with a deadline (`ETIMEDOUT` after it).
    pub fn block_until<T>(
        &self,
        queues: &[&WaitQueue],
        mask: u32,
        deadline: Option<std::time::Instant>,
        mut attempt: impl FnMut() -> Result<T, Errno>,
    ) -> Result<T, Errno> {
        match self.waker {
            Some(waker) if !self.nonblock => {
                wait_until(Blocker { waker, interrupted: self.interrupted }, queues, mask, deadline, attempt)
            }
            _ => attempt(),
        }
    }
}

/// What an open file does.
pub trait FileOps: Send + Sync {
    /// Reads at `offset` (ignored by streams) into `buf`.
    fn read(&self, ctx: &IoCtx, offset: u64, buf: &mut [u8]) -> Result<usize, Errno>;

    /// Writes `buf` at `offset` (ignored by streams).
    fn write(&self, ctx: &IoCtx, offset: u64, buf: &[u8]) -> Result<usize, Errno>;

    /// Whether the file has a position (`lseek`, `pread`); streams do not.
    fn seekable(&self) -> bool {
        false
    }

    /// For a file that is not [`seekable`](FileOps::seekable): whether
    /// `lseek` succeeds without moving (Linux's `noop_llseek`: eventfd,
    /// epoll, timerfd) rather than failing with `ESPIPE` (pipes).
    fn noop_seek(&self) -> bool {
        false
    }

    /// The file's size (for `SEEK_END` and `O_APPEND`), if it has one.
    fn size(&self) -> Option<u64> {
        None
    }

    /// `ioctl`; `ENOTTY` unless the file implements it.
    fn ioctl(&self, _ctx: &IoCtx, _request: u64, _arg: u64) -> SysResult {
        Err(Errno::ENOTTY)
    }

    /// The object `mmap` maps, if the file can be mapped.
    fn mappable(&self) -> Option<Arc<dyn Mappable>> {
        None
    }

    /// The `poll` events among `mask` that are ready now. Files that never
    /// block (regular files, most devices) are always readable and
    /// writable.
    fn readiness(&self, mask: u32) -> u32 {
        mask & (events::READABLE | events::WRITABLE)
    }

    /// The queue notified when the file's readiness changes; `None` for
    /// files whose readiness never changes.
    fn wait_queue(&self) -> Option<&WaitQueue> {
        None
    }

    /// `fsync`/`fdatasync`: makes written data durable. Files with nothing
    /// to flush succeed; files that cannot be synced give `EINVAL`.
    fn fsync(&self, _datasync: bool) -> Result<(), Errno> {
        Ok(())
    }

    /// For code that needs the concrete type of a file (a pipe's `fcntl`,
    /// `epoll_wait` on an epoll file); `None` unless the file opts in.
    fn as_any(&self) -> Option<&dyn Any> {
        None
    }
}

/// The mount table of one file-system tree: absolute path of each mount
/// point → root inode of the file system mounted there. Shared by every
/// dentry of the tree; path walking consults it before asking a directory
/// for a name, so a mount point need not exist in the file system below.
#[derive(Default)]
pub struct Mounts {
    by_path: std::sync::RwLock<std::collections::HashMap<String, Arc<dyn Inode>>>,
    /// File-system type names given at mount time (`/proc/mounts`).
    types: std::sync::RwLock<std::collections::HashMap<String, String>>,
    /// The inotify watches on files of this tree.
    notify: Arc<crate::fs::inotify::Registry>,
}

impl Mounts {
    /// The inotify watches on files of this tree.
    pub fn notify(&self) -> &Arc<crate::fs::inotify::Registry> {
        &self.notify
    }

    /// The file system mounted at absolute path `path`, if any.
    pub fn get(&self, path: &str) -> Option<Arc<dyn Inode>> {
        let m = self.by_path.read().unwrap_or_else(|e| e.into_inner());
        if m.is_empty() {
            return None;
        }
        m.get(path).cloned()
    }

    fn insert(&self, path: String, inode: Arc<dyn Inode>) {
        self.by_path.write().unwrap_or_else(|e| e.into_inner()).insert(path, inode);
    }

    /// The file-system type mounted at `path` (as `/proc/mounts` names
    /// it), if the mounter said.
    pub fn fs_type(&self, path: &str) -> Option<String> {
        self.types.read().unwrap_or_else(|e| e.into_inner()).get(path).cloned()
    }

    /// Mount points, sorted (for `/proc/mounts` and diagnostics).
    pub fn paths(&self) -> Vec<String> {
        let mut v: Vec<String> = self.by_path.read().unwrap_or_else(|e| e.into_inner()).keys().cloned().collect();
        v.sort();
        v
    }
}

/// A dentry: an inode under a name in a parent directory.
pub struct Dentry {
    name: String,
    parent: Option<Arc<Dentry>>,
    inode: Arc<dyn Inode>,
    mounts: Arc<Mounts>,
}

/// A mount point's absolute path, normalised (no `.` or repeated
/// slashes); `EINVAL` for `/`, a relative path or one with `..`.
fn mount_key(path: &str) -> Result<String, Errno> {
    let parts: Vec<&str> = path.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
    if parts.is_empty() || parts.contains(&"..") || !path.starts_with('/') {
        return Err(Errno::EINVAL);
    }
    Ok(format!("/{}", parts.join("/")))
}

impl Dentry {
    /// The root dentry of a file system.
    pub fn root(inode: Arc<dyn Inode>) -> Arc<Dentry> {
        Arc::new(Dentry { name: String::new(), parent: None, inode, mounts: Arc::new(Mounts::default()) })
    }

    /// A child dentry.
    pub fn child(parent: &Arc<Dentry>, name: &str, inode: Arc<dyn Inode>) -> Arc<Dentry> {
        Arc::new(Dentry { name: name.to_string(), parent: Some(parent.clone()), inode, mounts: parent.mounts.clone() })
    }

    /// The mount table of this dentry's tree.
    pub fn mounts(&self) -> &Arc<Mounts> {
        &self.mounts
    }

    /// Mounts `inode` (the root of a file system) at absolute path `path`
    /// of this dentry's tree. The path is normalised (no `.`, `..` or
    /// repeated slashes) and must not be `/`.
    pub fn mount(&self, path: &str, inode: Arc<dyn Inode>) -> Result<(), Errno> {
        self.mounts.insert(mount_key(path)?, inode);
        Ok(())
    }

    /// [`mount`](Dentry::mount), recording the file system's type name
    /// (`tmpfs`, `9p`, `mqueue`, ...) for `/proc/mounts`.
    pub fn mount_typed(&self, path: &str, inode: Arc<dyn Inode>, fs_type: &str) -> Result<(), Errno> {
        let key = mount_key(path)?;
        self.mounts.types.write().unwrap_or_else(|e| e.into_inner()).insert(key.clone(), fs_type.into());
        self.mounts.insert(key, inode);
        Ok(())
    }

    /// The inode.
    pub fn inode(&self) -> &Arc<dyn Inode> {
        &self.inode
    }

    /// The parent (`None` for a root).
    pub fn parent(&self) -> Option<&Arc<Dentry>> {
        self.parent.as_ref()
    }

    /// The name in the parent.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The absolute path from the root.
    pub fn path(&self) -> String {
        let mut parts = Vec::new();
        let mut cur = Some(self);
        while let Some(d) = cur {
            if d.parent.is_some() {
                parts.push(d.name.as_str());
            }
            cur = d.parent.as_deref();
        }
        if parts.is_empty() {
            return "/".into();
        }
        parts.iter().rev().fold(String::new(), |mut s, p| {
            s.push('/');
            s.push_str(p);
            s
        })
    }
}

/// An open file description: what `open` creates and `dup` shares.
pub struct File {
    dentry: Option<Arc<Dentry>>,
    inode: Arc<dyn Inode>,
    ops: Box<dyn FileOps>,
    /// Access mode and status flags (`O_APPEND`, `O_NONBLOCK`, ...).
    flags: AtomicU32,
    offset: Mutex<u64>,
    /// Identity of this description's `flock` and OFD locks, released
    /// when the description is dropped.
    locks: lock::DescriptionLocks,
}

impl Drop for File {
    fn drop(&mut self) {
        // The last reference to the description: inotify's close event.
        if let Some(d) = &self.dentry {
            if !self.is_path() {
                use crate::fs::inotify::{file_event, IN_CLOSE_NOWRITE, IN_CLOSE_WRITE};
                file_event(d, if self.writable() { IN_CLOSE_WRITE } else { IN_CLOSE_NOWRITE });
            }
        }
    }
}

impl File {
    /// A description of `inode` (opened through `dentry`, if it has a name).
    pub fn new(dentry: Option<Arc<Dentry>>, inode: Arc<dyn Inode>, ops: Box<dyn FileOps>, flags: u32) -> File {
        let keep = flags::O_ACCMODE | flags::SETFL_MASK | flags::O_PATH | flags::O_LARGEFILE | flags::O_DIRECTORY;
        File {
            dentry,
            inode,
            ops,
            flags: AtomicU32::new(flags & keep),
            offset: Mutex::new(0),
            locks: lock::DescriptionLocks::new(),
        }
    }

    /// The lock identity of this description.
    pub fn lock_state(&self) -> &lock::DescriptionLocks {
        &self.locks
    }

    /// Whether this is an `O_PATH` descriptor (which most operations
    /// refuse with `EBADF`).
    pub fn is_opath(&self) -> bool {
        self.is_path()
    }

    /// The file position (`SEEK_CUR` of record locks, `copy_file_range`).
    pub fn position(&self) -> u64 {
        *lock(&self.offset)
    }

    /// Sets the file position (`copy_file_range` without offset pointers).
    pub fn set_position(&self, pos: u64) {
        *lock(&self.offset) = pos;
    }

    /// Opens `dentry`'s inode with `flags`.
    pub fn open(dentry: Arc<Dentry>, flags: u32) -> Result<File, Errno> {
        let inode = dentry.inode().clone();
        let ops = if flags & flags::O_PATH != 0 { Box::new(PathOnly) } else { inode.clone().open(flags)? };
        Ok(File::new(Some(dentry), inode, ops, flags))
    }

    pub fn dentry(&self) -> Option<&Arc<Dentry>> {
        self.dentry.as_ref()
    }

    pub fn inode(&self) -> &Arc<dyn Inode> {
        &self.inode
    }

    pub fn ops(&self) -> &dyn FileOps {
        &*self.ops
    }

    /// The access mode and status flags.
    pub fn flags(&self) -> u32 {
        self.flags.load(Ordering::Relaxed)
    }

    /// `F_SETFL`: changes the settable status flags.
    pub fn set_status_flags(&self, new: u32) {
        let old = self.flags();
        let v = (old & !flags::SETFL_MASK) | (new & flags::SETFL_MASK);
        self.flags.store(v, Ordering::Relaxed);
    }

    fn is_path(&self) -> bool {
        self.flags() & flags::O_PATH != 0
    }

    /// Whether the file was opened for reading.
    pub fn readable(&self) -> bool {
        !self.is_path() && matches!(self.flags() & flags::O_ACCMODE, flags::O_RDONLY | flags::O_RDWR)
    }

    /// Whether the file was opened for writing.
    pub fn writable(&self) -> bool {
        !self.is_path() && matches!(self.flags() & flags::O_ACCMODE, flags::O_WRONLY | flags::O_RDWR)
    }

    /// `read`: at the file position (advancing it), or at `at` (`pread`).
    pub fn read(&self, ctx: &IoCtx, buf: &mut [u8], at: Option<u64>) -> Result<usize, Errno> {
        let ctx = &IoCtx { nonblock: ctx.nonblock || self.flags() & flags::O_NONBLOCK != 0, ..*ctx };
        if !self.readable() {
            return Err(Errno::EBADF);
        }
        if self.inode.file_type() == FileType::Directory {
            return Err(Errno::EISDIR);
        }
        match at {
            Some(off) => {
                if !self.ops.seekable() {
                    return Err(Errno::ESPIPE);
                }
                self.ops.read(ctx, off, buf)
            }
            None if self.ops.seekable() => {
                let mut pos = lock(&self.offset);
                let n = self.ops.read(ctx, *pos, buf)?;
                *pos += n as u64;
                Ok(n)
            }
            None => self.ops.read(ctx, 0, buf),
        }
    }

    /// `write`: at the file position (or the end with `O_APPEND`), or at
    /// `at` (`pwrite`).
    pub fn write(&self, ctx: &IoCtx, buf: &[u8], at: Option<u64>) -> Result<usize, Errno> {
        let ctx = &IoCtx { nonblock: ctx.nonblock || self.flags() & flags::O_NONBLOCK != 0, ..*ctx };
        if !self.writable() {
            return Err(Errno::EBADF);
        }
        match at {
            Some(off) => {
                if !self.ops.seekable() {
                    return Err(Errno::ESPIPE);
                }
                self.ops.write(ctx, off, buf)
            }
            None if self.ops.seekable() => {
                let mut pos = lock(&self.offset);
                if self.flags() & flags::O_APPEND != 0 {
                    *pos = self.ops.size().unwrap_or(*pos);
                }
                let n = self.ops.write(ctx, *pos, buf)?;
                *pos += n as u64;
                Ok(n)
            }
            None => self.ops.write(ctx, 0, buf),
        }
    }

    /// `lseek`.
    pub fn seek(&self, offset: i64, whence: i32) -> SysResult {
        if self.is_path() {
            return Err(Errno::EBADF);
        }
        let dir = self.inode.file_type() == FileType::Directory;
        if !self.ops.seekable() && !dir {
            if self.ops.noop_seek() {
                return Ok(*lock(&self.offset));
            }
            return Err(Errno::ESPIPE);
        }
        let mut pos = lock(&self.offset);
        let base: i64 = match whence {
            libc::SEEK_SET => 0,
            libc::SEEK_CUR => *pos as i64,
            libc::SEEK_END => {
                if dir {
                    return Err(Errno::EINVAL);
                }
                self.ops.size().unwrap_or(0) as i64
            }
            _ => return Err(Errno::EINVAL),
        };
        let new = base.checked_add(offset).ok_or(Errno::EOVERFLOW)?;
        if new < 0 {
            return Err(Errno::EINVAL);
        }
        *pos = new as u64;
        Ok(new as u64)
    }

    /// `getdents64`: fills `buf` with `linux_dirent64` records from the
    /// directory position on, advancing it. Returns the bytes used.
    pub fn getdents(&self, buf: &mut [u8]) -> Result<usize, Errno> {
        if self.is_path() {
            return Err(Errno::EBADF);
        }
        if self.inode.file_type() != FileType::Directory {
            return Err(Errno::ENOTDIR);
        }
        let mut entries = vec![
            DirEntry { name: ".".into(), ino: self.inode.stat().ino, file_type: FileType::Directory },
            DirEntry {
                name: "..".into(),
                ino: self
                    .dentry
                    .as_ref()
                    .and_then(|d| d.parent())
                    .map(|p| p.inode().stat().ino)
                    .unwrap_or_else(|| self.inode.stat().ino),
                file_type: FileType::Directory,
            },
        ];
        entries.extend(self.inode.readdir()?);
        let mut pos = lock(&self.offset);
        let mut used = 0;
        for (i, e) in entries.iter().enumerate().skip(*pos as usize) {
            let reclen = (19 + e.name.len() + 1).div_ceil(8) * 8;
            if used + reclen > buf.len() {
                if used == 0 {
                    return Err(Errno::EINVAL);
                }
                break;
            }
            let rec = &mut buf[used..used + reclen];
            rec.fill(0);
            rec[0..8].copy_from_slice(&e.ino.to_le_bytes());
            rec[8..16].copy_from_slice(&((i + 1) as i64).to_le_bytes());
            rec[16..18].copy_from_slice(&(reclen as u16).to_le_bytes());
            rec[18] = e.file_type.dirent_type();
            rec[19..19 + e.name.len()].copy_from_slice(e.name.as_bytes());
            used += reclen;
            *pos = (i + 1) as u64;
        }
        Ok(used)
    }
}

/// The operations of an `O_PATH` descriptor: none.
struct PathOnly;

impl FileOps for PathOnly {
    fn read(&self, _: &IoCtx, _: u64, _: &mut [u8]) -> Result<usize, Errno> {
        Err(Errno::EBADF)
    }
    fn write(&self, _: &IoCtx, _: u64, _: &[u8]) -> Result<usize, Errno> {
        Err(Errno::EBADF)
    }
}

/// File operations of a directory opened for reading: reads fail with
/// `EISDIR`; listing goes through [`File::getdents`].
pub struct DirOps;

impl FileOps for DirOps {
    fn read(&self, _: &IoCtx, _: u64, _: &mut [u8]) -> Result<usize, Errno> {
        Err(Errno::EISDIR)
    }
    fn write(&self, _: &IoCtx, _: u64, _: &[u8]) -> Result<usize, Errno> {
        Err(Errno::EISDIR)
    }
}
