//! The gofer file system: a container's files, served by its Gofer over
//! 9P2000.L. The Sentry never opens a host file itself.
//!
//! Every inode holds a walked (unopened) fid; opening clones it and opens the
//! clone, so an inode's fid can keep serving lookups and attribute calls.
//! Attributes are cached and refreshed by `stat`. File contents that are
//! mapped go through a per-inode page cache in memory-file pages, so that
//! every process mapping a library shares its pages; writes through the file
//! update cached pages so reads and mappings agree. No lock is held across a
//! 9P round trip.
//!
//! Attribute changes go to the Gofer as `Tsetattr` (`chown`, `utimensat`,
//! `truncate`, `fallocate` extending a file), hard links as `Tlink`,
//! `statfs` as `Tstatfs` and `fsync` as `Tfsync`; the cached attributes
//! are refreshed after each change. A change of nothing but the change time
//! (`chown(f, -1, -1)`) is sent as a `Tsetattr` of owner and group -1, which
//! the host applies as exactly that. `renameat2`'s `RENAME_NOREPLACE` is
//! checked with a walk before the rename (racing only with changes made on
//! the host behind the sandbox's back); `RENAME_EXCHANGE` is not supported
//! (`EINVAL`), nor is `fallocate` beyond extending a file (`EOPNOTSUPP`).

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use gofer_9p::messages::{getattr, setattr};
use gofer_9p::{oflags, Client, Fid, SetAttr};
use platforms::{MemoryFile, PAGE_SIZE};

use crate::errno::Errno;
use crate::mm::{alloc_pages, lock, Mappable, PageRef};
use crate::vfs::stat::{ST_RELATIME, ST_VALID};
use crate::vfs::{
    flags, rename_flags, AttrChange, Creds, DirEntry, FileOps, FileType, Inode, IoCtx, Stat, StatFs, TimeChange,
    Timespec,
};

fn errno(e: gofer_9p::Error) -> Errno {
    Errno(e.errno().0)
}

/// One mounted gofer file system (one Gofer connection).
pub struct GoferFs {
    client: Client,
    mf: Arc<MemoryFile>,
    /// Device number reported in `st_dev`.
    dev: u64,
}

impl GoferFs {
    /// Attaches to the Gofer behind `client` as `uid` and returns the root
    /// inode of the served tree.
    pub fn mount(client: Client, mf: Arc<MemoryFile>, dev: u64, uid: u32) -> Result<Arc<dyn Inode>, Errno> {
        let (fid, _) = client.attach("root", "", uid).map_err(errno)?;
        let fs = Arc::new(GoferFs { client, mf, dev });
        Ok(GoferInode::new(fs, fid)?)
    }
}

/// A file or directory of a gofer file system.
pub struct GoferInode {
    fs: Arc<GoferFs>,
    fid: Fid,
    file_type: FileType,
    stat: Arc<Mutex<Stat>>,
    cache: Mutex<Option<Arc<PageCache>>>,
}

fn ts(sec: u64, nsec: u64) -> Timespec {
    Timespec { sec: sec as i64, nsec: nsec as i64 }
}

impl GoferInode {
    fn new(fs: Arc<GoferFs>, fid: Fid) -> Result<Arc<GoferInode>, Errno> {
        let st = fs.client.getattr(&fid, getattr::BASIC).map_err(errno)?;
        let stat = to_stat(&st, fs.dev);
        let file_type = FileType::from_mode(stat.mode).ok_or(Errno::EIO)?;
        Ok(Arc::new(GoferInode { fs, fid, file_type, stat: Arc::new(Mutex::new(stat)), cache: Mutex::new(None) }))
    }

    fn refresh(&self) -> Result<Stat, Errno> {
        let st = self.fs.client.getattr(&self.fid, getattr::BASIC).map_err(errno)?;
        let stat = to_stat(&st, self.fs.dev);
        *lock(&self.stat) = stat;
        Ok(stat)
    }

    /// A new fid for the same file, opened with 9P open flags `oflags`.
    fn open_fid(&self, open_flags: u32) -> Result<Fid, Errno> {
        open_clone(&self.fs, &self.fid, open_flags)
    }

    /// The file's page cache. It outlives the inode while mappings use it,
    /// and holds its own fid and the shared attributes (no reference back to
    /// the inode, so no cycle).
    fn page_cache(&self) -> Result<Arc<PageCache>, Errno> {
        let mut cache = lock(&self.cache);
        if let Some(c) = cache.as_ref() {
            return Ok(c.clone());
        }
        let (fid, _) = self.fs.client.walk(&self.fid, &[] as &[&str]).map_err(errno)?;
        let c = Arc::new(PageCache {
            fs: self.fs.clone(),
            fid,
            stat: self.stat.clone(),
            pages: Mutex::new(BTreeMap::new()),
            reader: Mutex::new(None),
            writer: Mutex::new(None),
            mapped_writable: std::sync::atomic::AtomicBool::new(false),
        });
        *cache = Some(c.clone());
        Ok(c)
    }

    fn setattr(&self, attr: SetAttr) -> Result<(), Errno> {
        self.fs.client.setattr(&self.fid, &attr).map_err(errno)?;
        let _ = self.refresh();
        Ok(())
    }
}

/// A new fid for the file behind `fid`, opened with 9P flags `open_flags`.
fn open_clone(fs: &GoferFs, fid: &Fid, open_flags: u32) -> Result<Fid, Errno> {
    let (clone, _) = fs.client.walk(fid, &[] as &[&str]).map_err(errno)?;
    fs.client.open(&clone, open_flags).map_err(errno)?;
    Ok(clone)
}

fn to_stat(st: &gofer_9p::Stat, dev: u64) -> Stat {
    Stat {
        dev,
        ino: st.qid.path,
        mode: st.mode,
        nlink: st.nlink,
        uid: st.uid,
        gid: st.gid,
        rdev: st.rdev,
        size: st.size,
        blksize: st.blksize,
        blocks: st.blocks,
        atime: ts(st.atime_sec, st.atime_nsec),
        mtime: ts(st.mtime_sec, st.mtime_nsec),
        ctime: ts(st.ctime_sec, st.ctime_nsec),
    }
}

fn dirent_type(d_type: u8) -> FileType {
    match d_type {
        libc::DT_DIR => FileType::Directory,
        libc::DT_LNK => FileType::Symlink,
        libc::DT_CHR => FileType::CharDevice,
        libc::DT_BLK => FileType::BlockDevice,
        libc::DT_FIFO => FileType::Fifo,
        libc::DT_SOCK => FileType::Socket,
        _ => FileType::Regular,
    }
}

impl Inode for GoferInode {
    fn stat(&self) -> Stat {
        // A failed refresh (the Gofer is gone) leaves the last known values.
        self.refresh().unwrap_or_else(|_| *lock(&self.stat))
    }

    fn file_type(&self) -> FileType {
        self.file_type
    }

    fn open(self: Arc<Self>, open_flags: u32) -> Result<Box<dyn FileOps>, Errno> {
        match self.file_type {
            FileType::Directory => {
                if open_flags & flags::O_ACCMODE != flags::O_RDONLY {
                    return Err(Errno::EISDIR);
                }
                Ok(Box::new(GoferDir))
            }
            FileType::Symlink => Err(Errno::ELOOP),
            FileType::Regular => {
                let mut p9 = open_flags & flags::O_ACCMODE;
                if open_flags & flags::O_TRUNC != 0 && p9 != flags::O_RDONLY {
                    p9 |= oflags::TRUNC;
                }
                let fid = self.open_fid(p9)?;
                if p9 & oflags::TRUNC != 0 {
                    if let Some(cache) = lock(&self.cache).as_ref() {
                        cache.truncate(0);
                    }
                }
                Ok(Box::new(GoferFile { inode: self, fid }))
            }
            // Devices, FIFOs and sockets of the host are not opened through
            // the Gofer.
            _ => Err(Errno::ENXIO),
        }
    }

    fn lookup(&self, name: &str) -> Result<Arc<dyn Inode>, Errno> {
        if self.file_type != FileType::Directory {
            return Err(Errno::ENOTDIR);
        }
        let (fid, qids) = self.fs.client.walk(&self.fid, &[name]).map_err(errno)?;
        if qids.len() != 1 {
            return Err(Errno::ENOENT);
        }
        Ok(GoferInode::new(self.fs.clone(), fid)?)
    }

    fn create(&self, name: &str, ft: FileType, mode: u32, creds: Creds) -> Result<Arc<dyn Inode>, Errno> {
        let c = &self.fs.client;
        match ft {
            FileType::Regular => {
                let (dir, _) = c.walk(&self.fid, &[] as &[&str]).map_err(errno)?;
                c.create(&dir, name, oflags::RDONLY, mode & 0o7777, creds.gid).map_err(errno)?;
            }
            FileType::Directory => {
                c.mkdir(&self.fid, name, mode & 0o7777, creds.gid).map_err(errno)?;
            }
            FileType::Fifo | FileType::Socket => {
                c.mknod(&self.fid, name, (mode & 0o7777) | ft.mode_bits(), 0, 0, creds.gid).map_err(errno)?;
            }
            _ => return Err(Errno::EPERM),
        }
        self.lookup(name)
    }

    fn symlink(&self, name: &str, target: &str, creds: Creds) -> Result<(), Errno> {
        self.fs.client.symlink(&self.fid, name, target, creds.gid).map(drop).map_err(errno)
    }

    fn unlink(&self, name: &str, dir: bool) -> Result<(), Errno> {
        let flags = if dir { gofer_9p::AT_REMOVEDIR } else { 0 };
        self.fs.client.unlinkat(&self.fid, name, flags).map_err(errno)
    }

    fn rename(&self, name: &str, new_dir: &Arc<dyn Inode>, new_name: &str) -> Result<(), Errno> {
        let nd = new_dir.as_any().downcast_ref::<GoferInode>().ok_or(Errno::EXDEV)?;
        if !Arc::ptr_eq(&nd.fs, &self.fs) {
            return Err(Errno::EXDEV);
        }
        self.fs.client.renameat(&self.fid, name, &nd.fid, new_name).map_err(errno)
    }

    fn readdir(&self) -> Result<Vec<DirEntry>, Errno> {
        if self.file_type != FileType::Directory {
            return Err(Errno::ENOTDIR);
        }
        let fid = self.open_fid(oflags::RDONLY | oflags::DIRECTORY)?;
        let mut out = Vec::new();
        for e in self.fs.client.read_dir(&fid) {
            let e = e.map_err(errno)?;
            if e.name == b"." || e.name == b".." {
                continue;
            }
            out.push(DirEntry {
                name: String::from_utf8_lossy(&e.name).into_owned(),
                ino: e.qid.path,
                file_type: dirent_type(e.ty),
            });
        }
        Ok(out)
    }

    fn readlink(&self) -> Result<String, Errno> {
        if self.file_type != FileType::Symlink {
            return Err(Errno::EINVAL);
        }
        let target = self.fs.client.readlink(&self.fid).map_err(errno)?;
        Ok(String::from_utf8_lossy(&target).into_owned())
    }

    fn truncate(&self, size: u64) -> Result<(), Errno> {
        if self.file_type != FileType::Regular {
            return Err(Errno::EINVAL);
        }
        self.setattr(SetAttr { valid: setattr::SIZE, size, ..SetAttr::default() })?;
        if let Some(cache) = lock(&self.cache).as_ref() {
            cache.truncate(size);
        }
        Ok(())
    }

    fn set_mode(&self, mode: u32) -> Result<(), Errno> {
        self.setattr(SetAttr { valid: setattr::MODE, mode: mode & 0o7777, ..SetAttr::default() })
    }

    fn set_attr(&self, c: &AttrChange) -> Result<(), Errno> {
        let mut a = SetAttr::default();
        if let Some(mode) = c.mode {
            a.valid |= setattr::MODE;
            a.mode = mode & 0o7777;
        }
        if let Some(uid) = c.uid {
            a.valid |= setattr::UID;
            a.uid = uid;
        }
        if let Some(gid) = c.gid {
            a.valid |= setattr::GID;
            a.gid = gid;
        }
        match c.atime {
            Some(TimeChange::Now) => a.valid |= setattr::ATIME,
            Some(TimeChange::At(t)) => {
                a.valid |= setattr::ATIME | setattr::ATIME_SET;
                (a.atime_sec, a.atime_nsec) = (t.sec as u64, t.nsec as u64);
            }
            None => {}
        }
        match c.mtime {
            Some(TimeChange::Now) => a.valid |= setattr::MTIME,
            Some(TimeChange::At(t)) => {
                a.valid |= setattr::MTIME | setattr::MTIME_SET;
                (a.mtime_sec, a.mtime_nsec) = (t.sec as u64, t.nsec as u64);
            }
            None => {}
        }
        if a.valid == 0 {
            // Only the change time: chown to (-1, -1) sets just that.
            a.valid = setattr::UID | setattr::GID;
            (a.uid, a.gid) = (u32::MAX, u32::MAX);
        }
        self.setattr(a)
    }

    fn link(&self, name: &str, target: &Arc<dyn Inode>) -> Result<(), Errno> {
        let t = target.as_any().downcast_ref::<GoferInode>().ok_or(Errno::EXDEV)?;
        if !Arc::ptr_eq(&t.fs, &self.fs) {
            return Err(Errno::EXDEV);
        }
        if t.file_type == FileType::Directory {
            return Err(Errno::EPERM);
        }
        self.fs.client.link(&self.fid, &t.fid, name).map_err(errno)?;
        let _ = t.refresh();
        Ok(())
    }

    fn rename2(&self, name: &str, new_dir: &Arc<dyn Inode>, new_name: &str, flags: u32) -> Result<(), Errno> {
        match flags {
            0 => self.rename(name, new_dir, new_name),
            rename_flags::RENAME_NOREPLACE => {
                let nd = new_dir.as_any().downcast_ref::<GoferInode>().ok_or(Errno::EXDEV)?;
                if !Arc::ptr_eq(&nd.fs, &self.fs) {
                    return Err(Errno::EXDEV);
                }
                self.lookup(name)?;
                match nd.lookup(new_name) {
                    Ok(_) => Err(Errno::EEXIST),
                    Err(Errno::ENOENT) => self.rename(name, new_dir, new_name),
                    Err(e) => Err(e),
                }
            }
            _ => Err(Errno::EINVAL),
        }
    }

    fn statfs(&self) -> Result<StatFs, Errno> {
        let s = self.fs.client.statfs(&self.fid).map_err(errno)?;
        Ok(StatFs {
            fs_type: u64::from(s.ty),
            bsize: u64::from(s.bsize),
            blocks: s.blocks,
            bfree: s.bfree,
            bavail: s.bavail,
            files: s.files,
            ffree: s.ffree,
            fsid: s.fsid,
            namelen: u64::from(s.namelen),
            frsize: u64::from(s.bsize),
            flags: ST_VALID | ST_RELATIME,
        })
    }

    fn allocate(&self, mode: u32, offset: u64, len: u64) -> Result<(), Errno> {
        // 9P2000.L has no fallocate: extending the size is all that can be
        // done (without reserving blocks).
        if mode != 0 || self.file_type != FileType::Regular {
            return Err(Errno::EOPNOTSUPP);
        }
        let end = offset.checked_add(len).ok_or(Errno::EFBIG)?;
        if end > self.refresh()?.size {
            self.truncate(end)?;
        }
        Ok(())
    }

    fn lock_key(&self) -> crate::vfs::lock::FileKey {
        let st = lock(&self.stat);
        (st.dev, st.ino)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// An open directory (listing goes through [`Inode::readdir`]).
struct GoferDir;

impl FileOps for GoferDir {
    fn read(&self, _ctx: &IoCtx, _offset: u64, _buf: &mut [u8]) -> Result<usize, Errno> {
        Err(Errno::EISDIR)
    }

    fn write(&self, _ctx: &IoCtx, _offset: u64, _buf: &[u8]) -> Result<usize, Errno> {
        Err(Errno::EISDIR)
    }
}

/// An open regular file: its own opened fid.
struct GoferFile {
    inode: Arc<GoferInode>,
    fid: Fid,
}

impl FileOps for GoferFile {
    fn read(&self, _ctx: &IoCtx, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        // Pages written through shared mappings are newer than the file:
        // while any are cached, reads go through the cache.
        let cache = lock(&self.inode.cache).clone();
        if let Some(cache) = cache.filter(|c| c.is_mapped_writable()) {
            let size = self.size().unwrap_or(0);
            let end = (offset.saturating_add(buf.len() as u64)).min(size);
            let mut done = 0usize;
            let mut cur = offset;
            while cur < end {
                let in_page = (cur % PAGE_SIZE) as usize;
                let n = ((end - cur) as usize).min(PAGE_SIZE as usize - in_page);
                let page = cache.page(cur - in_page as u64)?;
                page.read(in_page, &mut buf[done..done + n])?;
                done += n;
                cur += n as u64;
            }
            return Ok(done);
        }
        let c = &self.inode.fs.client;
        let mut done = 0;
        while done < buf.len() {
            let n = c.read(&self.fid, offset + done as u64, &mut buf[done..]).map_err(errno)?;
            if n == 0 {
                break;
            }
            done += n;
        }
        Ok(done)
    }

    fn write(&self, _ctx: &IoCtx, offset: u64, buf: &[u8]) -> Result<usize, Errno> {
        let n = self.inode.fs.client.write(&self.fid, offset, buf).map_err(errno)?;
        if let Some(cache) = lock(&self.inode.cache).as_ref() {
            cache.update(offset, &buf[..n]);
        }
        // Keep the cached size current: mappings check it.
        let end = offset + n as u64;
        let mut st = lock(&self.inode.stat);
        if end > st.size {
            st.size = end;
        }
        Ok(n)
    }

    fn seekable(&self) -> bool {
        true
    }

    fn size(&self) -> Option<u64> {
        Some(self.inode.refresh().map(|s| s.size).unwrap_or_else(|_| lock(&self.inode.stat).size))
    }

    fn mappable(&self) -> Option<Arc<dyn Mappable>> {
        self.inode.page_cache().ok().map(|c| c as Arc<dyn Mappable>)
    }

    fn fsync(&self, datasync: bool) -> Result<(), Errno> {
        self.inode.fs.client.fsync(&self.fid, datasync).map_err(errno)?;
        let _ = self.inode.refresh();
        Ok(())
    }
}

/// Pages of a gofer file, filled from the Gofer on first use.
pub struct PageCache {
    fs: Arc<GoferFs>,
    /// A walked fid of the file (opened clones read pages).
    fid: Fid,
    /// The file's attributes, shared with its inode.
    stat: Arc<Mutex<Stat>>,
    pages: Mutex<BTreeMap<u64, PageRef>>,
    /// A fid opened for reading, for filling pages.
    reader: Mutex<Option<Arc<Fid>>>,
    /// A fid opened for writing back pages changed through mappings.
    writer: Mutex<Option<Arc<Fid>>>,
    /// A shared writable mapping exists (or existed): cached pages may be
    /// newer than the file.
    mapped_writable: std::sync::atomic::AtomicBool,
}

impl PageCache {
    /// Reads `n` pages of the file from page `first` into fresh contiguous
    /// memory-file pages (zeros past the end of the file).
    fn read_pages(&self, first: u64, n: u64) -> Result<Vec<PageRef>, Errno> {
        let reader = self.reader()?;
        let mut buf = vec![0u8; (n * PAGE_SIZE) as usize];
        let mut done = 0;
        while done < buf.len() {
            let got = self.fs.client.read(&reader, first * PAGE_SIZE + done as u64, &mut buf[done..]).map_err(errno)?;
            if got == 0 {
                break;
            }
            done += got;
        }
        let pages = alloc_pages(&self.fs.mf, n)?;
        for (page, data) in pages.iter().zip(buf.chunks(PAGE_SIZE as usize)) {
            page.write(0, data)?;
        }
        Ok(pages)
    }

    fn reader(&self) -> Result<Arc<Fid>, Errno> {
        if let Some(f) = lock(&self.reader).as_ref() {
            return Ok(f.clone());
        }
        let fid = Arc::new(open_clone(&self.fs, &self.fid, oflags::RDONLY)?);
        Ok(lock(&self.reader).get_or_insert(fid).clone())
    }

    fn is_mapped_writable(&self) -> bool {
        self.mapped_writable.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn writer(&self) -> Result<Arc<Fid>, Errno> {
        if let Some(f) = lock(&self.writer).as_ref() {
            return Ok(f.clone());
        }
        let fid = Arc::new(open_clone(&self.fs, &self.fid, oflags::WRONLY)?);
        Ok(lock(&self.writer).get_or_insert(fid).clone())
    }

    /// Writes through the file into cached pages.
    fn update(&self, mut offset: u64, mut data: &[u8]) {
        let pages = lock(&self.pages);
        while !data.is_empty() {
            let idx = offset / PAGE_SIZE;
            let in_page = (offset % PAGE_SIZE) as usize;
            let n = data.len().min(PAGE_SIZE as usize - in_page);
            if let Some(p) = pages.get(&idx) {
                let _ = p.write(in_page, &data[..n]);
            }
            offset += n as u64;
            data = &data[n..];
        }
    }

    /// Drops cached pages beyond `size` and zeroes the tail of the last one.
    fn truncate(&self, size: u64) {
        let mut pages = lock(&self.pages);
        let keep = size.div_ceil(PAGE_SIZE);
        pages.retain(|&idx, _| idx < keep);
        if size % PAGE_SIZE != 0 {
            if let Some(p) = pages.get(&(size / PAGE_SIZE)) {
                let off = (size % PAGE_SIZE) as usize;
                let _ = p.zero(off, PAGE_SIZE as usize - off);
            }
        }
    }
}

impl Mappable for PageCache {
    fn page(&self, offset: u64) -> Result<PageRef, Errno> {
        let idx = offset / PAGE_SIZE;
        if let Some(p) = lock(&self.pages).get(&idx) {
            return Ok(p.clone());
        }
        let beyond = |size: u64| idx * PAGE_SIZE >= size.div_ceil(PAGE_SIZE) * PAGE_SIZE;
        if beyond(lock(&self.stat).size) {
            // The file may have grown through another path (another
            // sandbox, the host): ask the Gofer before refusing.
            let st = self.fs.client.getattr(&self.fid, getattr::BASIC).map_err(errno)?;
            let size = st.size;
            lock(&self.stat).size = size;
            if beyond(size) {
                return Err(Errno::EFAULT);
            }
        }
        // Fill a fresh page outside any lock, then publish it unless
        // another thread was faster.
        let page = self.read_pages(idx, 1)?.pop().ok_or(Errno::ENOMEM)?;
        Ok(lock(&self.pages).entry(idx).or_insert(page).clone())
    }

    fn pages(&self, offset: u64, count: u64) -> Vec<PageRef> {
        let first = offset / PAGE_SIZE;
        let limit = lock(&self.stat).size.div_ceil(PAGE_SIZE);
        if first >= limit || count == 0 {
            // At or past the end as far as we know: `page` asks the Gofer.
            return self.page(offset).map(|p| vec![p]).unwrap_or_default();
        }
        let end = first + count.min(limit - first);
        let missing: Vec<u64> = {
            let pages = lock(&self.pages);
            (first..end).filter(|i| !pages.contains_key(i)).collect()
        };
        if let (Some(&lo), Some(&hi)) = (missing.first(), missing.last()) {
            // One read for the stretch that holds every missing page, into
            // fresh contiguous pages; pages another thread cached meanwhile
            // are kept.
            if let Ok(fresh) = self.read_pages(lo, hi + 1 - lo) {
                let mut pages = lock(&self.pages);
                for (k, page) in fresh.into_iter().enumerate() {
                    pages.entry(lo + k as u64).or_insert(page);
                }
            }
        }
        let pages = lock(&self.pages);
        (first..end).map_while(|i| pages.get(&i).cloned()).collect()
    }

    fn describe(&self) -> String {
        format!("gofer inode {}", lock(&self.stat).ino)
    }

    fn mapped_writable(&self) {
        self.mapped_writable.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    fn sync(&self) -> Result<(), Errno> {
        if !self.is_mapped_writable() {
            return Ok(());
        }
        let size = lock(&self.stat).size;
        let pages: Vec<(u64, PageRef)> = lock(&self.pages).iter().map(|(&i, p)| (i, p.clone())).collect();
        if pages.is_empty() {
            return Ok(());
        }
        let writer = self.writer()?;
        let mut buf = vec![0u8; PAGE_SIZE as usize];
        for (idx, page) in pages {
            let start = idx * PAGE_SIZE;
            if start >= size {
                continue;
            }
            let n = (size - start).min(PAGE_SIZE) as usize;
            page.read(0, &mut buf[..n])?;
            let mut done = 0;
            while done < n {
                let w = self.fs.client.write(&writer, start + done as u64, &buf[done..n]).map_err(errno)?;
                if w == 0 {
                    return Err(Errno::EIO);
                }
                done += w;
            }
        }
        Ok(())
    }
}
