//! Request handlers.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use super::fid::{check_name, key_of, lock, qid_of, Fid, FileKey, Loc, OpenFile};
use super::Conn;
use crate::messages::{
    getattr, lock as plock, setattr, DirEntry, Flock, Rmessage, SetAttr, Stat, StatFs, Tmessage, IOHDRSZ, NOFID,
    NONUNAME,
};
use crate::sys;
use crate::wire::{self, Qid, QT_DIR, QT_FILE, QT_SYMLINK};
use crate::{oflags, Errno, AT_REMOVEDIR};

type R<T> = Result<T, Errno>;

/// Translates 9P2000.L open flags to host flags, keeping only what the
/// server honours (access mode, append, truncate, sync variants).
fn host_oflags(f: u32) -> i32 {
    let mut o = match f & oflags::ACCMODE {
        oflags::WRONLY => libc::O_WRONLY,
        oflags::RDWR => libc::O_RDWR,
        _ => libc::O_RDONLY,
    };
    if f & oflags::APPEND != 0 {
        o |= libc::O_APPEND;
    }
    if f & oflags::TRUNC != 0 {
        o |= libc::O_TRUNC;
    }
    if f & oflags::SYNC != 0 {
        o |= libc::O_SYNC;
    } else if f & oflags::DSYNC != 0 {
        o |= libc::O_DSYNC;
    }
    o
}

fn dt_to_qtype(dt: u8) -> u8 {
    match dt {
        libc::DT_DIR => QT_DIR,
        libc::DT_LNK => QT_SYMLINK,
        _ => QT_FILE,
    }
}

impl Conn {
    fn read_only(&self) -> R<()> {
        if self.srv.cfg.read_only {
            Err(Errno::EROFS)
        } else {
            Ok(())
        }
    }

    fn fid(&self, n: u32) -> R<Arc<Fid>> {
        lock(&self.fids).get(&n).cloned().ok_or(Errno::EBADF)
    }

    fn dir_fid(&self, n: u32) -> R<Arc<Fid>> {
        let f = self.fid(n)?;
        if !f.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        Ok(f)
    }

    fn iounit(&self) -> u32 {
        self.msize.load(std::sync::atomic::Ordering::SeqCst).saturating_sub(IOHDRSZ)
    }

    /// Inserts a new fid number; EBADF if it is taken (unless `replace`).
    fn insert_fid(&self, n: u32, f: Fid, replace: bool) -> R<()> {
        if n == NOFID {
            return Err(Errno::EBADF);
        }
        let mut fids = lock(&self.fids);
        if !replace && fids.contains_key(&n) {
            return Err(Errno::EBADF);
        }
        fids.insert(n, Arc::new(f));
        Ok(())
    }

    pub(super) fn dispatch(&self, msg: Tmessage) -> R<Rmessage> {
        match msg {
            Tmessage::Version { .. } | Tmessage::Flush { .. } => Err(Errno::EPROTO),
            Tmessage::Auth { .. } => Err(Errno::EOPNOTSUPP),
            Tmessage::Attach { fid, afid: _, uname: _, aname, n_uname } => self.attach(fid, &aname, n_uname),
            Tmessage::Walk { fid, newfid, names } => self.walk(fid, newfid, &names),
            Tmessage::Lopen { fid, flags } => self.lopen(fid, flags),
            Tmessage::Lcreate { fid, name, flags, mode, gid } => self.lcreate(fid, &name, flags, mode, gid),
            Tmessage::Read { fid, offset, count } => {
                let frame = self.read_frame(0, fid, offset, count)?;
                let mut r = wire::Reader::new(&frame[wire::HEADER_SIZE..]);
                Ok(Rmessage::Read { data: r.data().map_err(|_| Errno::EIO)?.to_vec() })
            }
            Tmessage::Write { fid, offset, data } => self.write(fid, offset, &data),
            Tmessage::Clunk { fid } => {
                lock(&self.fids).remove(&fid).ok_or(Errno::EBADF)?;
                Ok(Rmessage::Clunk)
            }
            Tmessage::Remove { fid } => self.remove(fid),
            Tmessage::Statfs { fid } => self.statfs(fid),
            Tmessage::Symlink { fid, name, target, gid } => self.symlink(fid, &name, &target, gid),
            Tmessage::Mknod { dfid, name, mode, major: _, minor: _, gid } => self.mknod(dfid, &name, mode, gid),
            Tmessage::Rename { fid, dfid, name } => self.rename(fid, dfid, &name),
            Tmessage::Readlink { fid } => {
                let f = self.fid(fid)?;
                if f.fmt != libc::S_IFLNK {
                    return Err(Errno::EINVAL);
                }
                Ok(Rmessage::Readlink { target: sys::readlink_fd(f.fd())? })
            }
            Tmessage::Getattr { fid, request_mask: _ } => self.getattr(fid),
            Tmessage::Setattr { fid, attr } => self.setattr(fid, &attr),
            Tmessage::Xattrwalk { .. } => Err(Errno::EOPNOTSUPP),
            Tmessage::Xattrcreate { .. } => {
                self.read_only()?;
                Err(Errno::EOPNOTSUPP)
            }
            Tmessage::Readdir { fid, offset, count } => self.readdir(fid, offset, count),
            Tmessage::Fsync { fid, datasync } => {
                let f = self.fid(fid)?;
                sys::fsync(f.opened()?.fd.as_fd(), datasync != 0)?;
                Ok(Rmessage::Fsync)
            }
            Tmessage::Lock { fid, flags: _, lock } => self.lock(fid, &lock),
            Tmessage::Getlock { fid, lock } => self.getlock(fid, lock),
            Tmessage::Link { dfid, fid, name } => self.link(dfid, fid, &name),
            Tmessage::Mkdir { dfid, name, mode, gid } => self.mkdir(dfid, &name, mode, gid),
            Tmessage::Renameat { olddirfid, oldname, newdirfid, newname } => {
                self.read_only()?;
                let od = self.dir_fid(olddirfid)?;
                let nd = self.dir_fid(newdirfid)?;
                self.do_rename(&od.path, od.key, &oldname, &nd.path, nd.key, &newname)?;
                Ok(Rmessage::Renameat)
            }
            Tmessage::Unlinkat { dirfid, name, flags } => self.unlinkat(dirfid, &name, flags),
        }
    }

    fn attach(&self, fid: u32, aname: &str, uid: u32) -> R<Rmessage> {
        if let Some(loc) = &self.srv.root_file {
            // A served file: no subtree to select.
            if aname.split('/').any(|c| !c.is_empty()) {
                return Err(Errno::ENOTDIR);
            }
            let path =
                sys::openat2(loc.parent.as_fd(), &loc.name, libc::O_PATH | libc::O_NOFOLLOW, 0, sys::RESOLVE_STRICT)?;
            let f = Fid::new(Arc::new(path), Some(loc.clone()), uid)?;
            let qid = f.qid;
            self.insert_fid(fid, f, false)?;
            return Ok(Rmessage::Attach { qid });
        }
        let root = sys::openat2(self.srv.root.as_fd(), b".", libc::O_PATH | libc::O_DIRECTORY, 0, sys::RESOLVE_STRICT)?;
        let mut f = Fid::new(Arc::new(root), None, uid)?;
        // A non-trivial aname selects a subtree, walked like Twalk.
        for comp in aname.as_bytes().split(|&b| b == b'/').filter(|c| !c.is_empty()) {
            f = self.walk_one(&f, comp)?;
        }
        if !f.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        let qid = f.qid;
        self.insert_fid(fid, f, false)?;
        Ok(Rmessage::Attach { qid })
    }

    /// Resolves one name below directory fid `dir`, never following a symlink.
    fn walk_one(&self, dir: &Fid, name: &[u8]) -> R<Fid> {
        check_name(name)?;
        if !dir.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        let fd = sys::openat2(dir.fd(), name, libc::O_PATH | libc::O_NOFOLLOW, 0, sys::RESOLVE_STRICT)?;
        let loc = Loc { parent: dir.path.clone(), parent_key: dir.key, name: name.to_vec() };
        Fid::new(Arc::new(fd), Some(loc), dir.uid)
    }

    fn walk(&self, fid: u32, newfid: u32, names: &[Vec<u8>]) -> R<Rmessage> {
        let start = self.fid(fid)?;
        if newfid != fid && lock(&self.fids).contains_key(&newfid) {
            return Err(Errno::EBADF);
        }
        for n in names {
            check_name(n)?;
        }
        if names.is_empty() {
            let f = Fid::new(start.path.clone(), start.loc(), start.uid)?;
            self.insert_fid(newfid, f, newfid == fid)?;
            return Ok(Rmessage::Walk { qids: Vec::new() });
        }
        let mut qids = Vec::with_capacity(names.len());
        let mut cur: Option<Fid> = None;
        for (i, name) in names.iter().enumerate() {
            let dir = cur.as_ref().unwrap_or(&start);
            match self.walk_one(dir, name) {
                Ok(f) => {
                    qids.push(f.qid);
                    cur = Some(f);
                }
                Err(e) if i == 0 => return Err(e),
                Err(_) => return Ok(Rmessage::Walk { qids }),
            }
        }
        if let Some(f) = cur {
            self.insert_fid(newfid, f, newfid == fid)?;
        }
        Ok(Rmessage::Walk { qids })
    }

    /// Opens the regular file of `f` for I/O with host flags `flags`,
    /// by name from its parent, verifying the inode (see module docs).
    fn reopen_regular(&self, f: &Fid, flags: i32) -> R<OwnedFd> {
        let trunc = flags & libc::O_TRUNC != 0;
        let flags = (flags & !(libc::O_TRUNC | libc::O_CREAT | libc::O_EXCL))
            | libc::O_NOFOLLOW
            | libc::O_NONBLOCK
            | libc::O_NOCTTY;
        let fd = {
            let _ns = self.srv.ns.read().unwrap_or_else(|p| p.into_inner());
            let loc = f.loc().ok_or(Errno::ESTALE)?;
            let fd = sys::openat2(loc.parent.as_fd(), &loc.name, flags, 0, sys::RESOLVE_STRICT)?;
            let st = sys::statx_fd(fd.as_fd())?;
            if key_of(&st) != f.key || u32::from(st.stx_mode) & libc::S_IFMT != libc::S_IFREG {
                return Err(Errno::ESTALE);
            }
            fd
        };
        sys::clear_nonblock(fd.as_fd())?;
        if trunc {
            sys::ftruncate(fd.as_fd(), 0)?;
        }
        Ok(fd)
    }

    fn lopen(&self, fid: u32, flags: u32) -> R<Rmessage> {
        let f = self.fid(fid)?;
        if f.open.get().is_some() {
            return Err(Errno::EINVAL);
        }
        let hflags = host_oflags(flags);
        let accmode = hflags & libc::O_ACCMODE;
        let mutating = accmode != libc::O_RDONLY || hflags & libc::O_TRUNC != 0;
        if flags & oflags::DIRECTORY != 0 && !f.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        let fd = match f.fmt {
            libc::S_IFLNK => return Err(Errno::ELOOP),
            libc::S_IFDIR => {
                if mutating {
                    return Err(Errno::EISDIR);
                }
                sys::openat2(f.fd(), b".", libc::O_RDONLY | libc::O_DIRECTORY, 0, sys::RESOLVE_STRICT)?
            }
            libc::S_IFREG => {
                if mutating {
                    self.read_only()?;
                }
                self.reopen_regular(&f, hflags)?
            }
            // Devices, sockets, FIFOs: never opened on the host.
            _ => return Err(Errno::EPERM),
        };
        f.open.set(OpenFile { fd, accmode, dir_lock: Default::default() }).map_err(|_| Errno::EINVAL)?;
        Ok(Rmessage::Lopen { qid: f.qid, iounit: self.iounit() })
    }

    /// Gives a newly created `name` in `dir` its owner (best effort: only
    /// a privileged server can) and exact mode (independent of umask).
    fn set_owner_mode(&self, dir: &Fid, path: BorrowedFd<'_>, open: Option<BorrowedFd<'_>>, mode: u32, gid: u32) {
        let uid = if dir.uid == NONUNAME { u32::MAX } else { dir.uid };
        if sys::geteuid() == 0 && (uid != u32::MAX || gid != u32::MAX) {
            let _ = sys::chown_fd(path, uid, gid);
        }
        let mode = mode & 0o7777;
        let _ = match open {
            Some(fd) => sys::fchmod(fd, mode),
            None => sys::chmod_fd(path, mode),
        };
    }

    /// O_PATH descriptor and Fid for the entry `name` just created in `dir`.
    fn new_child(&self, dir: &Fid, name: &[u8]) -> R<Fid> {
        self.walk_one(dir, name)
    }

    fn lcreate(&self, fid: u32, name: &[u8], flags: u32, mode: u32, gid: u32) -> R<Rmessage> {
        self.read_only()?;
        check_name(name)?;
        let dir = self.dir_fid(fid)?;
        if dir.open.get().is_some() {
            return Err(Errno::EINVAL);
        }
        let hflags = host_oflags(flags);
        let accmode = hflags & libc::O_ACCMODE;
        let fd = sys::openat2(
            dir.fd(),
            name,
            hflags | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
            mode & 0o7777,
            sys::RESOLVE_STRICT,
        )?;
        let child = self.new_child(&dir, name)?;
        let st = sys::statx_fd(fd.as_fd())?;
        if key_of(&st) != child.key {
            return Err(Errno::ESTALE);
        }
        self.set_owner_mode(&dir, child.fd(), Some(fd.as_fd()), mode, gid);
        let qid = child.qid;
        child.open.set(OpenFile { fd, accmode, dir_lock: Default::default() }).map_err(|_| Errno::EINVAL)?;
        // The fid now stands for the new, open file.
        self.insert_fid(fid, child, true)?;
        Ok(Rmessage::Lcreate { qid, iounit: self.iounit() })
    }

    /// Tread, building the complete Rread frame (tag patched by the
    /// caller) so that the data is read straight into the reply buffer.
    pub(super) fn read_frame(&self, tag: u16, fid: u32, offset: u64, count: u32) -> R<Vec<u8>> {
        let f = self.fid(fid)?;
        let o = f.opened()?;
        if f.is_dir() {
            return Err(Errno::EISDIR);
        }
        if !o.readable() {
            return Err(Errno::EBADF);
        }
        let hdr = crate::messages::RREAD_HEADER;
        let max = self.msize.load(std::sync::atomic::Ordering::SeqCst).saturating_sub(hdr as u32);
        let want = count.min(max) as usize;
        let mut buf = vec![0u8; hdr + want];
        let n = sys::pread(o.fd.as_fd(), &mut buf[hdr..], offset)?;
        buf.truncate(hdr + n);
        let size = (hdr + n) as u32;
        buf[0..4].copy_from_slice(&size.to_le_bytes());
        buf[4] = crate::messages::ty::RREAD;
        buf[5..7].copy_from_slice(&tag.to_le_bytes());
        buf[7..11].copy_from_slice(&(n as u32).to_le_bytes());
        Ok(buf)
    }

    fn write(&self, fid: u32, offset: u64, data: &[u8]) -> R<Rmessage> {
        let f = self.fid(fid)?;
        let o = f.opened()?;
        if !o.writable() {
            return Err(Errno::EBADF);
        }
        let n = sys::pwrite(o.fd.as_fd(), data, offset)?;
        Ok(Rmessage::Write { count: n as u32 })
    }

    fn statfs(&self, fid: u32) -> R<Rmessage> {
        let f = self.fid(fid)?;
        let s = sys::fstatfs(f.fd())?;
        Ok(Rmessage::Statfs(StatFs {
            ty: s.f_type as u32,
            bsize: s.f_bsize as u32,
            blocks: s.f_blocks,
            bfree: s.f_bfree,
            bavail: s.f_bavail,
            files: s.f_files,
            ffree: s.f_ffree,
            // The device number identifies the file system as well as
            // f_fsid does (libc keeps f_fsid opaque).
            fsid: f.key.0,
            namelen: s.f_namelen as u32,
        }))
    }

    fn getattr(&self, fid: u32) -> R<Rmessage> {
        let f = self.fid(fid)?;
        let st = sys::statx_fd(f.fd())?;
        let mut valid = getattr::BASIC;
        if st.stx_mask & libc::STATX_BTIME != 0 {
            valid |= getattr::BTIME;
        }
        Ok(Rmessage::Getattr(Box::new(Stat {
            valid,
            qid: qid_of(&st),
            mode: u32::from(st.stx_mode),
            uid: st.stx_uid,
            gid: st.stx_gid,
            nlink: u64::from(st.stx_nlink),
            rdev: libc::makedev(st.stx_rdev_major, st.stx_rdev_minor),
            size: st.stx_size,
            blksize: u64::from(st.stx_blksize),
            blocks: st.stx_blocks,
            atime_sec: st.stx_atime.tv_sec as u64,
            atime_nsec: u64::from(st.stx_atime.tv_nsec),
            mtime_sec: st.stx_mtime.tv_sec as u64,
            mtime_nsec: u64::from(st.stx_mtime.tv_nsec),
            ctime_sec: st.stx_ctime.tv_sec as u64,
            ctime_nsec: u64::from(st.stx_ctime.tv_nsec),
            btime_sec: st.stx_btime.tv_sec as u64,
            btime_nsec: u64::from(st.stx_btime.tv_nsec),
            gen: 0,
            data_version: 0,
        })))
    }

    fn setattr(&self, fid: u32, a: &SetAttr) -> R<Rmessage> {
        self.read_only()?;
        let f = self.fid(fid)?;
        if a.valid & setattr::MODE != 0 {
            match sys::chmod_fd(f.fd(), a.mode & 0o7777) {
                Err(e) if e == Errno::ENOSYS => {
                    // Kernels before 6.6: only through an open descriptor.
                    match f.open.get() {
                        Some(o) => sys::fchmod(o.fd.as_fd(), a.mode & 0o7777)?,
                        None if f.is_dir() => {
                            let d =
                                sys::openat2(f.fd(), b".", libc::O_RDONLY | libc::O_DIRECTORY, 0, sys::RESOLVE_STRICT)?;
                            sys::fchmod(d.as_fd(), a.mode & 0o7777)?
                        }
                        None => return Err(Errno::EOPNOTSUPP),
                    }
                }
                r => r?,
            }
        }
        if a.valid & (setattr::UID | setattr::GID) != 0 {
            let uid = if a.valid & setattr::UID != 0 { a.uid } else { u32::MAX };
            let gid = if a.valid & setattr::GID != 0 { a.gid } else { u32::MAX };
            sys::chown_fd(f.fd(), uid, gid)?;
        }
        if a.valid & setattr::SIZE != 0 {
            match f.fmt {
                libc::S_IFREG => {}
                libc::S_IFDIR => return Err(Errno::EISDIR),
                _ => return Err(Errno::EINVAL),
            }
            match f.open.get() {
                Some(o) if o.writable() => sys::ftruncate(o.fd.as_fd(), a.size)?,
                _ => {
                    let fd = self.reopen_regular(&f, libc::O_WRONLY)?;
                    sys::ftruncate(fd.as_fd(), a.size)?;
                }
            }
        }
        if a.valid & (setattr::ATIME | setattr::MTIME) != 0 {
            let ts = |set: bool, explicit: bool, sec: u64, nsec: u64| -> libc::timespec {
                let mut t = libc::timespec { tv_sec: 0, tv_nsec: libc::UTIME_OMIT };
                if set {
                    if explicit {
                        t.tv_sec = sec as libc::time_t;
                        t.tv_nsec = nsec as libc::c_long;
                    } else {
                        t.tv_nsec = libc::UTIME_NOW;
                    }
                }
                t
            };
            let times = [
                ts(a.valid & setattr::ATIME != 0, a.valid & setattr::ATIME_SET != 0, a.atime_sec, a.atime_nsec),
                ts(a.valid & setattr::MTIME != 0, a.valid & setattr::MTIME_SET != 0, a.mtime_sec, a.mtime_nsec),
            ];
            if times.iter().any(|t| {
                t.tv_nsec != libc::UTIME_OMIT
                    && t.tv_nsec != libc::UTIME_NOW
                    && !(0..1_000_000_000).contains(&t.tv_nsec)
            }) {
                return Err(Errno::EINVAL);
            }
            sys::utimens_fd(f.fd(), &times)?;
        }
        Ok(Rmessage::Setattr)
    }

    fn readdir(&self, fid: u32, offset: u64, count: u32) -> R<Rmessage> {
        let f = self.fid(fid)?;
        let o = f.opened()?;
        if !f.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        // Rreaddir: header[7] count[4] entries.
        let max = self.msize.load(std::sync::atomic::Ordering::SeqCst).saturating_sub(11);
        let budget = count.min(max) as usize;
        let _g = lock(&o.dir_lock);
        sys::seek_set(o.fd.as_fd(), offset)?;
        let mut entries = Vec::new();
        let mut used = 0usize;
        let mut buf = vec![0u8; budget.clamp(512, 64 * 1024)];
        'outer: loop {
            let n = sys::getdents64(o.fd.as_fd(), &mut buf)?;
            if n == 0 {
                break;
            }
            let mut pos = 0usize;
            while pos + 19 <= n {
                // struct linux_dirent64 { u64 d_ino; i64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }
                let rec = &buf[pos..n];
                let ino = u64::from_ne_bytes(rec[0..8].try_into().map_err(|_| Errno::EIO)?);
                let off = u64::from_ne_bytes(rec[8..16].try_into().map_err(|_| Errno::EIO)?);
                let reclen = u16::from_ne_bytes([rec[16], rec[17]]) as usize;
                let dtype = rec[18];
                if reclen < 19 || reclen > rec.len() {
                    return Err(Errno::EIO);
                }
                let name_field = &rec[19..reclen];
                let nlen = name_field.iter().position(|&b| b == 0).unwrap_or(name_field.len());
                let e = DirEntry {
                    qid: Qid { ty: dt_to_qtype(dtype), version: 0, path: ino },
                    offset: off,
                    ty: dtype,
                    name: name_field[..nlen].to_vec(),
                };
                if used + e.wire_size() > budget {
                    if entries.is_empty() {
                        return Err(Errno::EINVAL);
                    }
                    break 'outer;
                }
                used += e.wire_size();
                entries.push(e);
                pos += reclen;
            }
        }
        Ok(Rmessage::Readdir { entries })
    }

    fn mkdir(&self, dfid: u32, name: &[u8], mode: u32, gid: u32) -> R<Rmessage> {
        self.read_only()?;
        check_name(name)?;
        let dir = self.dir_fid(dfid)?;
        sys::mkdirat(dir.fd(), name, mode & 0o7777)?;
        let child = self.new_child(&dir, name)?;
        self.set_owner_mode(&dir, child.fd(), None, mode, gid);
        Ok(Rmessage::Mkdir { qid: child.qid })
    }

    fn mknod(&self, dfid: u32, name: &[u8], mode: u32, gid: u32) -> R<Rmessage> {
        self.read_only()?;
        check_name(name)?;
        let dir = self.dir_fid(dfid)?;
        let fmt = match mode & libc::S_IFMT {
            0 => libc::S_IFREG,
            t @ (libc::S_IFREG | libc::S_IFIFO | libc::S_IFSOCK) => t,
            libc::S_IFCHR | libc::S_IFBLK => return Err(Errno::EPERM),
            _ => return Err(Errno::EINVAL),
        };
        sys::mknodat(dir.fd(), name, fmt | (mode & 0o7777), 0)?;
        let child = self.new_child(&dir, name)?;
        self.set_owner_mode(&dir, child.fd(), None, mode, gid);
        Ok(Rmessage::Mknod { qid: child.qid })
    }

    fn symlink(&self, dfid: u32, name: &[u8], target: &[u8], gid: u32) -> R<Rmessage> {
        self.read_only()?;
        check_name(name)?;
        if target.is_empty() {
            return Err(Errno::ENOENT);
        }
        let dir = self.dir_fid(dfid)?;
        sys::symlinkat(target, dir.fd(), name)?;
        let child = self.new_child(&dir, name)?;
        let uid = if dir.uid == NONUNAME { u32::MAX } else { dir.uid };
        if sys::geteuid() == 0 && (uid != u32::MAX || gid != u32::MAX) {
            let _ = sys::chown_fd(child.fd(), uid, gid);
        }
        Ok(Rmessage::Symlink { qid: child.qid })
    }

    fn link(&self, dfid: u32, fid: u32, name: &[u8]) -> R<Rmessage> {
        self.read_only()?;
        check_name(name)?;
        let dir = self.dir_fid(dfid)?;
        let f = self.fid(fid)?;
        if f.is_dir() {
            return Err(Errno::EPERM);
        }
        match sys::link_fd(f.fd(), dir.fd(), name) {
            Ok(()) => {}
            Err(e) if e == Errno::EPERM || e == Errno::ENOENT => {
                // No CAP_DAC_READ_SEARCH: link by name, then verify.
                let _ns = self.srv.ns.read().unwrap_or_else(|p| p.into_inner());
                let loc = f.loc().ok_or(Errno::ESTALE)?;
                sys::linkat(loc.parent.as_fd(), &loc.name, dir.fd(), name)?;
                let ok = self.new_child(&dir, name).map(|c| c.key == f.key).unwrap_or(false);
                if !ok {
                    let _ = sys::unlinkat(dir.fd(), name, 0);
                    return Err(Errno::ESTALE);
                }
            }
            Err(e) => return Err(e),
        }
        Ok(Rmessage::Link)
    }

    fn unlinkat(&self, dirfid: u32, name: &[u8], flags: u32) -> R<Rmessage> {
        self.read_only()?;
        check_name(name)?;
        if flags & !AT_REMOVEDIR != 0 {
            return Err(Errno::EINVAL);
        }
        let dir = self.dir_fid(dirfid)?;
        let hflags = if flags & AT_REMOVEDIR != 0 { libc::AT_REMOVEDIR } else { 0 };
        let _ns = self.srv.ns.write().unwrap_or_else(|p| p.into_inner());
        sys::unlinkat(dir.fd(), name, hflags)?;
        self.fixup_names(dir.key, name, None);
        Ok(Rmessage::Unlinkat)
    }

    fn remove(&self, fid: u32) -> R<Rmessage> {
        // Tremove clunks the fid whatever the outcome.
        let f = lock(&self.fids).remove(&fid).ok_or(Errno::EBADF)?;
        self.read_only()?;
        let _ns = self.srv.ns.write().unwrap_or_else(|p| p.into_inner());
        let loc = f.loc().ok_or(Errno::EBUSY)?;
        let cur = sys::openat2(loc.parent.as_fd(), &loc.name, libc::O_PATH | libc::O_NOFOLLOW, 0, sys::RESOLVE_STRICT)?;
        if key_of(&sys::statx_fd(cur.as_fd())?) != f.key {
            return Err(Errno::ESTALE);
        }
        let hflags = if f.is_dir() { libc::AT_REMOVEDIR } else { 0 };
        sys::unlinkat(loc.parent.as_fd(), &loc.name, hflags)?;
        self.fixup_names(loc.parent_key, &loc.name, None);
        Ok(Rmessage::Remove)
    }

    fn rename(&self, fid: u32, dfid: u32, name: &[u8]) -> R<Rmessage> {
        self.read_only()?;
        let f = self.fid(fid)?;
        let nd = self.dir_fid(dfid)?;
        let loc = f.loc().ok_or(Errno::EBUSY)?;
        self.do_rename(&loc.parent, loc.parent_key, &loc.name, &nd.path, nd.key, name)?;
        Ok(Rmessage::Rename)
    }

    fn do_rename(
        &self,
        od: &Arc<OwnedFd>,
        okey: FileKey,
        oldname: &[u8],
        nd: &Arc<OwnedFd>,
        nkey: FileKey,
        newname: &[u8],
    ) -> R<()> {
        check_name(oldname)?;
        check_name(newname)?;
        let _ns = self.srv.ns.write().unwrap_or_else(|p| p.into_inner());
        sys::renameat(od.as_fd(), oldname, nd.as_fd(), newname)?;
        if okey == nkey && oldname == newname {
            return Ok(());
        }
        // Whatever was at the target is gone; what was at the source moved.
        self.fixup_names(nkey, newname, None);
        let moved = Loc { parent: nd.clone(), parent_key: nkey, name: newname.to_vec() };
        self.fixup_names(okey, oldname, Some(moved));
        Ok(())
    }

    /// After a namespace change, points every fid (of every connection)
    /// whose recorded location is `(parent, name)` at `to` (or at nothing).
    /// Called with the namespace lock held for writing.
    fn fixup_names(&self, parent: FileKey, name: &[u8], to: Option<Loc>) {
        let conns: Vec<Arc<Conn>> = lock(&self.srv.conns).iter().filter_map(|w| w.upgrade()).collect();
        for c in conns {
            let fids: Vec<Arc<Fid>> = lock(&c.fids).values().cloned().collect();
            for f in fids {
                let mut l = lock(&f.loc);
                if l.as_ref().is_some_and(|l| l.parent_key == parent && l.name == name) {
                    *l = to.clone();
                }
            }
        }
    }

    fn lock(&self, fid: u32, l: &Flock) -> R<Rmessage> {
        let f = self.fid(fid)?;
        let o = f.opened()?;
        let ty = match l.ty {
            plock::TYPE_RDLCK => libc::F_RDLCK,
            plock::TYPE_WRLCK => libc::F_WRLCK,
            plock::TYPE_UNLCK => libc::F_UNLCK,
            _ => return Err(Errno::EINVAL),
        } as i16;
        let req = ofd(ty, l)?;
        let status = match sys::ofd_setlk(o.fd.as_fd(), &req) {
            Ok(()) => plock::SUCCESS,
            // Never block a worker: the client retries blocking locks.
            Err(e) if e == Errno::EAGAIN || e == Errno::EACCES => plock::BLOCKED,
            Err(e) => return Err(e),
        };
        Ok(Rmessage::Lock { status })
    }

    fn getlock(&self, fid: u32, l: Flock) -> R<Rmessage> {
        let f = self.fid(fid)?;
        let o = f.opened()?;
        let ty = match l.ty {
            plock::TYPE_RDLCK => libc::F_RDLCK,
            plock::TYPE_WRLCK => libc::F_WRLCK,
            _ => return Err(Errno::EINVAL),
        } as i16;
        let got = sys::ofd_getlk(o.fd.as_fd(), &ofd(ty, &l)?)?;
        let ty = match i32::from(got.ty) {
            libc::F_RDLCK => plock::TYPE_RDLCK,
            libc::F_WRLCK => plock::TYPE_WRLCK,
            _ => plock::TYPE_UNLCK,
        };
        let conflict = ty != plock::TYPE_UNLCK;
        Ok(Rmessage::Getlock {
            lock: Flock {
                ty,
                start: if conflict { got.start as u64 } else { l.start },
                length: if conflict { got.len as u64 } else { l.length },
                proc_id: if conflict { got.pid as u32 } else { l.proc_id },
                client_id: l.client_id,
            },
        })
    }
}

fn ofd(ty: i16, l: &Flock) -> R<sys::OfdLock> {
    Ok(sys::OfdLock {
        ty,
        start: i64::try_from(l.start).map_err(|_| Errno::EINVAL)?,
        len: i64::try_from(l.length).map_err(|_| Errno::EINVAL)?,
        pid: 0,
    })
}
