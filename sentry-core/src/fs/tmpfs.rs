//! tmpfs: a file system in memory.
//!
//! Regular files keep their data in memory-file pages (a [`PageStore`]), so
//! `mmap` maps the same pages `read` and `write` use, and the loader maps
//! executables without copying them.
//!
//! Time stamps follow Linux's tmpfs: writes, truncation and `fallocate`
//! hole punching set a file's modification and change times; creating,
//! linking, unlinking and renaming set the directory's; attribute changes
//! and link count changes set the change time; reads set the access time
//! with `relatime` rules (only when it is not newer than the modification
//! or change time, or is a day old). A directory's link count is 2 plus its
//! subdirectories; a file's is its number of names.
//!
//! A FIFO owns a [`Pipe`] that every open of it attaches to.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use platforms::{MemoryFile, PAGE_SIZE};

use super::pipe::Pipe;
use crate::errno::Errno;
use crate::mm::{lock, page_up, Mappable, PageRef, PageStore};
use crate::vfs::stat::{ST_RELATIME, ST_VALID, TMPFS_MAGIC};
use crate::vfs::{
    falloc, flags, rename_flags, AttrChange, Creds, DirEntry, DirOps, FileOps, FileType, Inode, IoCtx, Stat, StatFs,
    TimeChange, Timespec,
};

/// Largest tmpfs file (keeps offsets far from overflow).
pub const MAX_FILE_SIZE: u64 = 1 << 40;

/// One tmpfs instance.
pub struct Tmpfs {
    mf: Arc<MemoryFile>,
    next_ino: AtomicU64,
    dev: u64,
    /// Inodes alive (for `statfs`'s free inode count).
    live: AtomicU64,
}

impl Tmpfs {
    /// A new file system with an empty root directory (mode 0755, owned by
    /// root).
    pub fn new_root(mf: Arc<MemoryFile>, dev: u64) -> Arc<TmpfsInode> {
        let fs = Arc::new(Tmpfs { mf, next_ino: AtomicU64::new(1), dev, live: AtomicU64::new(0) });
        fs.new_inode(Kind::Dir(Mutex::new(BTreeMap::new())), 0o755, Creds::default())
    }

    fn new_inode(self: &Arc<Self>, kind: Kind, mode: u32, creds: Creds) -> Arc<TmpfsInode> {
        let now = Timespec::now();
        let nlink = if matches!(kind, Kind::Dir(_)) { 2 } else { 1 };
        self.live.fetch_add(1, Ordering::Relaxed);
        Arc::new(TmpfsInode {
            fs: self.clone(),
            ino: self.next_ino.fetch_add(1, Ordering::Relaxed),
            meta: Mutex::new(Meta {
                mode: mode & 0o7777,
                uid: creds.uid,
                gid: creds.gid,
                nlink,
                atime: now,
                mtime: now,
                ctime: now,
            }),
            kind,
        })
    }
}

struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    nlink: u64,
    atime: Timespec,
    mtime: Timespec,
    ctime: Timespec,
}

/// A directory's children by name.
type Entries = BTreeMap<String, Arc<dyn Inode>>;

enum Kind {
    Dir(Mutex<Entries>),
    File(Arc<FileData>),
    Symlink(String),
    /// A socket's name in the file system (`bind` of an `AF_UNIX` path);
    /// the socket itself is found through [`crate::net::unix`].
    Socket,
    Fifo(Arc<Pipe>),
}

/// The contents of a regular file.
pub struct FileData {
    inner: Mutex<FileInner>,
}

struct FileInner {
    store: PageStore,
    size: u64,
}

impl FileData {
    fn size(&self) -> u64 {
        lock(&self.inner).size
    }
}

impl Mappable for FileData {
    fn page(&self, offset: u64) -> Result<PageRef, Errno> {
        let mut f = lock(&self.inner);
        if offset >= page_up(f.size).unwrap_or(u64::MAX) {
            return Err(Errno::EFAULT);
        }
        f.store.get_or_alloc(offset / PAGE_SIZE)
    }

    fn describe(&self) -> String {
        "tmpfs file".into()
    }
}

/// A tmpfs inode.
pub struct TmpfsInode {
    fs: Arc<Tmpfs>,
    ino: u64,
    meta: Mutex<Meta>,
    kind: Kind,
}

impl TmpfsInode {
    fn entries(&self) -> Result<&Mutex<Entries>, Errno> {
        match &self.kind {
            Kind::Dir(e) => Ok(e),
            _ => Err(Errno::ENOTDIR),
        }
    }

    fn touch_mtime(&self) {
        let now = Timespec::now();
        let mut m = lock(&self.meta);
        m.mtime = now;
        m.ctime = now;
    }

    fn touch_ctime(&self) {
        lock(&self.meta).ctime = Timespec::now();
    }

    /// Sets the access time after a read, `relatime`-style.
    fn touch_atime(&self) {
        let now = Timespec::now();
        let mut m = lock(&self.meta);
        let key = |t: Timespec| (t.sec, t.nsec);
        if key(m.mtime) >= key(m.atime) || key(m.ctime) >= key(m.atime) || now.sec - m.atime.sec >= 24 * 60 * 60 {
            m.atime = now;
        }
    }

    /// The tmpfs inode behind `inode` if it belongs to this file system.
    fn same_fs<'a>(&self, inode: &'a Arc<dyn Inode>) -> Result<&'a TmpfsInode, Errno> {
        let t = inode.as_any().downcast_ref::<TmpfsInode>().ok_or(Errno::EXDEV)?;
        if !Arc::ptr_eq(&t.fs, &self.fs) {
            return Err(Errno::EXDEV);
        }
        Ok(t)
    }

    /// `RENAME_EXCHANGE`: swaps `name` here with `new_name` in `dest`.
    fn exchange(&self, name: &str, dest: &TmpfsInode, new_name: &str) -> Result<(), Errno> {
        let (a, b) = if std::ptr::eq(self, dest) {
            let mut e = lock(self.entries()?);
            let a = e.get(name).cloned().ok_or(Errno::ENOENT)?;
            let b = e.get(new_name).cloned().ok_or(Errno::ENOENT)?;
            e.insert(name.to_string(), b.clone());
            e.insert(new_name.to_string(), a.clone());
            (a, b)
        } else {
            // Two directories: lock them in address order.
            let self_first = (self as *const TmpfsInode as usize) < (dest as *const TmpfsInode as usize);
            let (first, second) = if self_first { (self, dest) } else { (dest, self) };
            let mut g1 = lock(first.entries()?);
            let mut g2 = lock(second.entries()?);
            let (es, ed) = if self_first { (&mut *g1, &mut *g2) } else { (&mut *g2, &mut *g1) };
            let a = es.get(name).cloned().ok_or(Errno::ENOENT)?;
            let b = ed.get(new_name).cloned().ok_or(Errno::ENOENT)?;
            es.insert(name.to_string(), b.clone());
            ed.insert(new_name.to_string(), a.clone());
            drop(g2);
            drop(g1);
            let (a_dir, b_dir) = (a.file_type() == FileType::Directory, b.file_type() == FileType::Directory);
            if a_dir && !b_dir {
                lock(&self.meta).nlink -= 1;
                lock(&dest.meta).nlink += 1;
            } else if b_dir && !a_dir {
                lock(&dest.meta).nlink -= 1;
                lock(&self.meta).nlink += 1;
            }
            (a, b)
        };
        for i in [&a, &b] {
            if let Some(t) = i.as_any().downcast_ref::<TmpfsInode>() {
                t.touch_ctime();
            }
        }
        self.touch_mtime();
        dest.touch_mtime();
        Ok(())
    }

    /// Adds an inode of another file system (a device node) as `name`.
    pub fn insert(&self, name: &str, inode: Arc<dyn Inode>) -> Result<(), Errno> {
        let mut e = lock(self.entries()?);
        if e.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        e.insert(name.to_string(), inode);
        drop(e);
        self.touch_mtime();
        Ok(())
    }

    /// Replaces a regular file's contents (for populating the root).
    pub fn set_contents(&self, data: &[u8]) -> Result<(), Errno> {
        let Kind::File(f) = &self.kind else { return Err(Errno::EISDIR) };
        let mut f = lock(&f.inner);
        f.store.truncate(0)?;
        f.store.write(0, data)?;
        f.size = data.len() as u64;
        drop(f);
        self.touch_mtime();
        Ok(())
    }
}

impl Drop for TmpfsInode {
    fn drop(&mut self) {
        self.fs.live.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Inode for TmpfsInode {
    fn stat(&self) -> Stat {
        let m = lock(&self.meta);
        let (ft, size, blocks) = match &self.kind {
            Kind::Dir(_) => (FileType::Directory, 4096, 8),
            Kind::File(f) => {
                let f = lock(&f.inner);
                (FileType::Regular, f.size, f.store.len() as u64 * (PAGE_SIZE / 512))
            }
            Kind::Symlink(t) => (FileType::Symlink, t.len() as u64, 0),
            Kind::Socket => (FileType::Socket, 0, 0),
            Kind::Fifo(_) => (FileType::Fifo, 0, 0),
        };
        Stat {
            dev: self.fs.dev,
            ino: self.ino,
            mode: ft.mode_bits() | m.mode,
            nlink: m.nlink,
            uid: m.uid,
            gid: m.gid,
            rdev: 0,
            size,
            blksize: PAGE_SIZE,
            blocks,
            atime: m.atime,
            mtime: m.mtime,
            ctime: m.ctime,
        }
    }

    fn file_type(&self) -> FileType {
        match &self.kind {
            Kind::Dir(_) => FileType::Directory,
            Kind::File(_) => FileType::Regular,
            Kind::Symlink(_) => FileType::Symlink,
            Kind::Socket => FileType::Socket,
            Kind::Fifo(_) => FileType::Fifo,
        }
    }

    fn open(self: Arc<Self>, oflags: u32) -> Result<Box<dyn FileOps>, Errno> {
        match &self.kind {
            Kind::Dir(_) => {
                if oflags & flags::O_ACCMODE != flags::O_RDONLY {
                    return Err(Errno::EISDIR);
                }
                Ok(Box::new(DirOps))
            }
            Kind::File(data) => {
                if oflags & flags::O_TRUNC != 0 && oflags & flags::O_ACCMODE != flags::O_RDONLY {
                    self.truncate(0)?;
                }
                Ok(Box::new(TmpfsFile { data: data.clone(), inode: self.clone() }))
            }
            Kind::Symlink(_) => Err(Errno::ELOOP),
            // Sockets are reached with connect, never opened (as Linux).
            Kind::Socket => Err(Errno::ENXIO),
            Kind::Fifo(p) => Ok(Box::new(p.open(oflags)?)),
        }
    }

    fn lookup(&self, name: &str) -> Result<Arc<dyn Inode>, Errno> {
        lock(self.entries()?).get(name).cloned().ok_or(Errno::ENOENT)
    }

    fn create(&self, name: &str, ft: FileType, mode: u32, creds: Creds) -> Result<Arc<dyn Inode>, Errno> {
        let kind = match ft {
            FileType::Directory => Kind::Dir(Mutex::new(BTreeMap::new())),
            FileType::Regular => Kind::File(Arc::new(FileData {
                inner: Mutex::new(FileInner { store: PageStore::new(self.fs.mf.clone()), size: 0 }),
            })),
            FileType::Socket => Kind::Socket,
            FileType::Fifo => Kind::Fifo(Pipe::new_fifo()),
            _ => return Err(Errno::EPERM),
        };
        let mut e = lock(self.entries()?);
        if e.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        let inode = self.fs.new_inode(kind, mode, creds);
        e.insert(name.to_string(), inode.clone());
        drop(e);
        if ft == FileType::Directory {
            lock(&self.meta).nlink += 1;
        }
        self.touch_mtime();
        Ok(inode)
    }

    fn symlink(&self, name: &str, target: &str, creds: Creds) -> Result<(), Errno> {
        let mut e = lock(self.entries()?);
        if e.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        let inode = self.fs.new_inode(Kind::Symlink(target.to_string()), 0o777, creds);
        e.insert(name.to_string(), inode);
        drop(e);
        self.touch_mtime();
        Ok(())
    }

    fn unlink(&self, name: &str, dir: bool) -> Result<(), Errno> {
        let mut e = lock(self.entries()?);
        let child = e.get(name).ok_or(Errno::ENOENT)?;
        let is_dir = child.file_type() == FileType::Directory;
        if dir && !is_dir {
            return Err(Errno::ENOTDIR);
        }
        if !dir && is_dir {
            return Err(Errno::EISDIR);
        }
        if is_dir && !child.readdir()?.is_empty() {
            return Err(Errno::ENOTEMPTY);
        }
        let child = e.remove(name).ok_or(Errno::ENOENT)?;
        drop(e);
        if let Some(t) = child.as_any().downcast_ref::<TmpfsInode>() {
            let mut m = lock(&t.meta);
            m.nlink = m.nlink.saturating_sub(if is_dir { 2 } else { 1 });
            m.ctime = Timespec::now();
        }
        if is_dir {
            let mut m = lock(&self.meta);
            m.nlink = m.nlink.saturating_sub(1);
        }
        self.touch_mtime();
        Ok(())
    }

    fn rename(&self, name: &str, new_dir: &Arc<dyn Inode>, new_name: &str) -> Result<(), Errno> {
        let dest = new_dir.as_any().downcast_ref::<TmpfsInode>().ok_or(Errno::EXDEV)?;
        if !Arc::ptr_eq(&dest.fs, &self.fs) {
            return Err(Errno::EXDEV);
        }
        let src = self.lookup(name)?;
        let src_dir = src.file_type() == FileType::Directory;
        if let Ok(existing) = dest.lookup(new_name) {
            if Arc::ptr_eq(&existing, &src) {
                return Ok(());
            }
            match (src_dir, existing.file_type() == FileType::Directory) {
                (true, false) => return Err(Errno::ENOTDIR),
                (false, true) => return Err(Errno::EISDIR),
                _ => {}
            }
            dest.unlink(new_name, src_dir)?;
        }
        lock(self.entries()?).remove(name);
        lock(dest.entries()?).insert(new_name.to_string(), src.clone());
        if src_dir && !std::ptr::eq(self, dest) {
            lock(&self.meta).nlink -= 1;
            lock(&dest.meta).nlink += 1;
        }
        if let Some(t) = src.as_any().downcast_ref::<TmpfsInode>() {
            t.touch_ctime();
        }
        self.touch_mtime();
        dest.touch_mtime();
        Ok(())
    }

    fn rename2(&self, name: &str, new_dir: &Arc<dyn Inode>, new_name: &str, flags: u32) -> Result<(), Errno> {
        match flags {
            0 => self.rename(name, new_dir, new_name),
            rename_flags::RENAME_NOREPLACE => {
                let dest = self.same_fs(new_dir)?;
                self.lookup(name)?;
                if dest.lookup(new_name).is_ok() {
                    return Err(Errno::EEXIST);
                }
                self.rename(name, new_dir, new_name)
            }
            rename_flags::RENAME_EXCHANGE => {
                let dest = self.same_fs(new_dir)?;
                self.exchange(name, dest, new_name)
            }
            _ => Err(Errno::EINVAL),
        }
    }

    fn link(&self, name: &str, target: &Arc<dyn Inode>) -> Result<(), Errno> {
        let t = self.same_fs(target)?;
        if t.file_type() == FileType::Directory {
            return Err(Errno::EPERM);
        }
        let mut e = lock(self.entries()?);
        if e.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        {
            let mut m = lock(&t.meta);
            // A file whose last name is gone cannot get a new one.
            if m.nlink == 0 {
                return Err(Errno::ENOENT);
            }
            m.nlink += 1;
            m.ctime = Timespec::now();
        }
        e.insert(name.to_string(), target.clone());
        drop(e);
        self.touch_mtime();
        Ok(())
    }

    fn readdir(&self) -> Result<Vec<DirEntry>, Errno> {
        let e = lock(self.entries()?);
        Ok(e.iter()
            .map(|(name, i)| DirEntry { name: name.clone(), ino: i.stat().ino, file_type: i.file_type() })
            .collect())
    }

    fn readlink(&self) -> Result<String, Errno> {
        match &self.kind {
            Kind::Symlink(t) => Ok(t.clone()),
            _ => Err(Errno::EINVAL),
        }
    }

    fn truncate(&self, size: u64) -> Result<(), Errno> {
        let Kind::File(f) = &self.kind else {
            return Err(if self.file_type() == FileType::Directory { Errno::EISDIR } else { Errno::EINVAL });
        };
        if size > MAX_FILE_SIZE {
            return Err(Errno::EFBIG);
        }
        let mut f = lock(&f.inner);
        if size < f.size {
            f.store.truncate(size)?;
        }
        f.size = size;
        drop(f);
        self.touch_mtime();
        Ok(())
    }

    fn set_mode(&self, mode: u32) -> Result<(), Errno> {
        let mut m = lock(&self.meta);
        m.mode = mode & 0o7777;
        m.ctime = Timespec::now();
        Ok(())
    }

    fn set_attr(&self, c: &AttrChange) -> Result<(), Errno> {
        let now = Timespec::now();
        let at = |t: TimeChange| match t {
            TimeChange::Now => now,
            TimeChange::At(t) => t,
        };
        let mut m = lock(&self.meta);
        if let Some(mode) = c.mode {
            m.mode = mode & 0o7777;
        }
        if let Some(uid) = c.uid {
            m.uid = uid;
        }
        if let Some(gid) = c.gid {
            m.gid = gid;
        }
        if let Some(t) = c.atime {
            m.atime = at(t);
        }
        if let Some(t) = c.mtime {
            m.mtime = at(t);
        }
        m.ctime = now;
        Ok(())
    }

    fn statfs(&self) -> Result<StatFs, Errno> {
        let (size, used) = (self.fs.mf.size(), self.fs.mf.used());
        let blocks = size / PAGE_SIZE;
        let free = size.saturating_sub(used) / PAGE_SIZE;
        // As Linux's default, as many inodes as pages.
        let files = blocks;
        Ok(StatFs {
            fs_type: TMPFS_MAGIC,
            bsize: PAGE_SIZE,
            blocks,
            bfree: free,
            bavail: free,
            files,
            ffree: files.saturating_sub(self.fs.live.load(Ordering::Relaxed)),
            fsid: 0,
            namelen: crate::vfs::stat::NAME_MAX,
            frsize: PAGE_SIZE,
            flags: ST_VALID | ST_RELATIME,
        })
    }

    fn allocate(&self, mode: u32, offset: u64, len: u64) -> Result<(), Errno> {
        let Kind::File(f) = &self.kind else { return Err(Errno::EOPNOTSUPP) };
        if mode & !(falloc::FALLOC_FL_KEEP_SIZE | falloc::FALLOC_FL_PUNCH_HOLE) != 0 {
            return Err(Errno::EOPNOTSUPP);
        }
        let end = offset.checked_add(len).ok_or(Errno::EFBIG)?;
        if end > MAX_FILE_SIZE {
            return Err(Errno::EFBIG);
        }
        let mut d = lock(&f.inner);
        if mode & falloc::FALLOC_FL_PUNCH_HOLE != 0 {
            d.store.punch(offset, end)?;
            drop(d);
            self.touch_mtime();
            return Ok(());
        }
        d.store.allocate(offset, end).map_err(|e| if e == Errno::ENOMEM { Errno::ENOSPC } else { e })?;
        if mode & falloc::FALLOC_FL_KEEP_SIZE == 0 && end > d.size {
            d.size = end;
        }
        drop(d);
        self.touch_ctime();
        Ok(())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// An open tmpfs regular file.
struct TmpfsFile {
    data: Arc<FileData>,
    inode: Arc<TmpfsInode>,
}

impl FileOps for TmpfsFile {
    fn read(&self, _ctx: &IoCtx, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        let f = lock(&self.data.inner);
        if offset >= f.size {
            drop(f);
            self.inode.touch_atime();
            return Ok(0);
        }
        let n = ((f.size - offset) as usize).min(buf.len());
        f.store.read(offset, &mut buf[..n])?;
        drop(f);
        self.inode.touch_atime();
        Ok(n)
    }

    fn write(&self, _ctx: &IoCtx, offset: u64, buf: &[u8]) -> Result<usize, Errno> {
        let end = offset.checked_add(buf.len() as u64).ok_or(Errno::EFBIG)?;
        if end > MAX_FILE_SIZE {
            return Err(Errno::EFBIG);
        }
        let mut f = lock(&self.data.inner);
        f.store.write(offset, buf)?;
        f.size = f.size.max(end);
        drop(f);
        self.inode.touch_mtime();
        Ok(buf.len())
    }

    fn seekable(&self) -> bool {
        true
    }

    fn size(&self) -> Option<u64> {
        Some(self.data.size())
    }

    fn mappable(&self) -> Option<Arc<dyn Mappable>> {
        Some(self.data.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::path::{walk, walk_parent};
    use crate::vfs::{Dentry, LookupFlags};

    #[test]
    fn names_links_and_walks() {
        let mf = Arc::new(MemoryFile::new(1 << 20).unwrap());
        let root = Tmpfs::new_root(mf, 1);
        let etc = root.create("etc", FileType::Directory, 0o755, Creds::default()).unwrap();
        let f = etc.create("passwd", FileType::Regular, 0o644, Creds::default()).unwrap();
        f.as_any().downcast_ref::<TmpfsInode>().unwrap().set_contents(b"root:x:0:0").unwrap();
        root.symlink("link", "etc/passwd", Creds::default()).unwrap();
        root.symlink("loop", "loop", Creds::default()).unwrap();
        assert_eq!(root.stat().nlink, 3);
        let r = Dentry::root(root.clone());
        let d = walk(&r, &r, "/etc/../etc/./passwd", LookupFlags::FOLLOW).unwrap();
        assert_eq!(d.path(), "/etc/passwd");
        assert_eq!(d.inode().stat().size, 10);
        let via = walk(&r, &r, "link", LookupFlags::FOLLOW).unwrap();
        assert_eq!(via.inode().stat().ino, d.inode().stat().ino);
        let nofollow = walk(&r, &r, "link", LookupFlags::NOFOLLOW).unwrap();
        assert_eq!(nofollow.inode().file_type(), FileType::Symlink);
        assert_eq!(walk(&r, &r, "loop", LookupFlags::FOLLOW).err(), Some(Errno::ELOOP));
        assert_eq!(walk(&r, &r, "/etc/passwd/x", LookupFlags::FOLLOW).err(), Some(Errno::ENOTDIR));
        assert_eq!(walk(&r, &r, "/etc/passwd/", LookupFlags::FOLLOW).err(), Some(Errno::ENOTDIR));
        assert_eq!(walk(&r, &r, "/nope", LookupFlags::FOLLOW).err(), Some(Errno::ENOENT));
        assert_eq!(walk(&r, &r, "/../../etc", LookupFlags::FOLLOW).unwrap().path(), "/etc");
        let (p, name, _) = walk_parent(&r, &r, "/etc/new/").unwrap();
        assert_eq!((p.path().as_str(), name.as_deref()), ("/etc", Some("new")));
        assert_eq!(root.unlink("etc", true), Err(Errno::ENOTEMPTY));
        assert_eq!(root.unlink("etc", false), Err(Errno::EISDIR));
        etc.unlink("passwd", false).unwrap();
        root.unlink("etc", true).unwrap();
        assert_eq!(root.stat().nlink, 2);
    }
}
