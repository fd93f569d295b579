//! Typed 9P2000.L messages and their encoding.
//!
//! Layouts follow the Linux kernel's `net/9p/client.c`/`protocol.c` and the
//! diod protocol description. Every frame is `size[4] type[1] tag[2] body`.
//!
//! Strings: file names, symlink targets, xattr names and lock client ids
//! are raw byte strings (`Vec<u8>`), as Linux file names need not be UTF-8;
//! the server validates names separately (no `/`, no NUL, not `.`/`..`,
//! not empty). The protocol strings `version`, `uname` and `aname` must be
//! UTF-8: anything else fails to decode (`Rlerror(EINVAL)` from the server).

use crate::wire::{self, Qid, Reader, WireError, Writer, HEADER_SIZE};

/// Message type numbers (R = T + 1).
#[allow(missing_docs)]
pub mod ty {
    pub const TLERROR: u8 = 6;
    pub const RLERROR: u8 = 7;
    pub const TSTATFS: u8 = 8;
    pub const RSTATFS: u8 = 9;
    pub const TLOPEN: u8 = 12;
    pub const RLOPEN: u8 = 13;
    pub const TLCREATE: u8 = 14;
    pub const RLCREATE: u8 = 15;
    pub const TSYMLINK: u8 = 16;
    pub const RSYMLINK: u8 = 17;
    pub const TMKNOD: u8 = 18;
    pub const RMKNOD: u8 = 19;
    pub const TRENAME: u8 = 20;
    pub const RRENAME: u8 = 21;
    pub const TREADLINK: u8 = 22;
    pub const RREADLINK: u8 = 23;
    pub const TGETATTR: u8 = 24;
    pub const RGETATTR: u8 = 25;
    pub const TSETATTR: u8 = 26;
    pub const RSETATTR: u8 = 27;
    pub const TXATTRWALK: u8 = 30;
    pub const RXATTRWALK: u8 = 31;
    pub const TXATTRCREATE: u8 = 32;
    pub const RXATTRCREATE: u8 = 33;
    pub const TREADDIR: u8 = 40;
    pub const RREADDIR: u8 = 41;
    pub const TFSYNC: u8 = 50;
    pub const RFSYNC: u8 = 51;
    pub const TLOCK: u8 = 52;
    pub const RLOCK: u8 = 53;
    pub const TGETLOCK: u8 = 54;
    pub const RGETLOCK: u8 = 55;
    pub const TLINK: u8 = 70;
    pub const RLINK: u8 = 71;
    pub const TMKDIR: u8 = 72;
    pub const RMKDIR: u8 = 73;
    pub const TRENAMEAT: u8 = 74;
    pub const RRENAMEAT: u8 = 75;
    pub const TUNLINKAT: u8 = 76;
    pub const RUNLINKAT: u8 = 77;
    pub const TVERSION: u8 = 100;
    pub const RVERSION: u8 = 101;
    pub const TAUTH: u8 = 102;
    pub const RAUTH: u8 = 103;
    pub const TATTACH: u8 = 104;
    pub const RATTACH: u8 = 105;
    pub const TFLUSH: u8 = 108;
    pub const RFLUSH: u8 = 109;
    pub const TWALK: u8 = 110;
    pub const RWALK: u8 = 111;
    pub const TREAD: u8 = 116;
    pub const RREAD: u8 = 117;
    pub const TWRITE: u8 = 118;
    pub const RWRITE: u8 = 119;
    pub const TCLUNK: u8 = 120;
    pub const RCLUNK: u8 = 121;
    pub const TREMOVE: u8 = 122;
    pub const RREMOVE: u8 = 123;
}

/// The tag used by Tversion.
pub const NOTAG: u16 = 0xffff;
/// "No fid" (e.g. the afid of an unauthenticated Tattach).
pub const NOFID: u32 = 0xffff_ffff;
/// "No uid" for `n_uname`.
pub const NONUNAME: u32 = 0xffff_ffff;
/// Maximum number of names in one Twalk.
pub const MAXWELEM: usize = 16;
/// The protocol version string this crate speaks.
pub const VERSION_9P2000_L: &str = "9P2000.L";
/// Bytes of an Rread/Twrite frame that are not data (header + count, plus
/// Twrite's fid and offset): `P9_IOHDRSZ` in Linux.
pub const IOHDRSZ: u32 = 24;
/// Overhead of an Rreaddir frame beyond its entries (`P9_READDIRHDRSZ`).
pub const READDIRHDRSZ: u32 = 24;

/// `Tgetattr` request mask / `Rgetattr` valid bits (`P9_GETATTR_*`).
#[allow(missing_docs)]
pub mod getattr {
    pub const MODE: u64 = 0x0000_0001;
    pub const NLINK: u64 = 0x0000_0002;
    pub const UID: u64 = 0x0000_0004;
    pub const GID: u64 = 0x0000_0008;
    pub const RDEV: u64 = 0x0000_0010;
    pub const ATIME: u64 = 0x0000_0020;
    pub const MTIME: u64 = 0x0000_0040;
    pub const CTIME: u64 = 0x0000_0080;
    pub const INO: u64 = 0x0000_0100;
    pub const SIZE: u64 = 0x0000_0200;
    pub const BLOCKS: u64 = 0x0000_0400;
    pub const BTIME: u64 = 0x0000_0800;
    pub const GEN: u64 = 0x0000_1000;
    pub const DATA_VERSION: u64 = 0x0000_2000;
    /// Everything up to and including BLOCKS.
    pub const BASIC: u64 = 0x0000_07ff;
    /// Every defined field.
    pub const ALL: u64 = 0x0000_3fff;
}

/// `Tsetattr` valid bits (`P9_SETATTR_*`, the Linux `ATTR_*` values).
#[allow(missing_docs)]
pub mod setattr {
    pub const MODE: u32 = 0x0000_0001;
    pub const UID: u32 = 0x0000_0002;
    pub const GID: u32 = 0x0000_0004;
    pub const SIZE: u32 = 0x0000_0008;
    pub const ATIME: u32 = 0x0000_0010;
    pub const MTIME: u32 = 0x0000_0020;
    pub const CTIME: u32 = 0x0000_0040;
    pub const ATIME_SET: u32 = 0x0000_0080;
    pub const MTIME_SET: u32 = 0x0000_0100;
}

/// Lock types, flags and statuses for `Tlock`/`Tgetlock`.
#[allow(missing_docs)]
pub mod lock {
    pub const TYPE_RDLCK: u8 = 0;
    pub const TYPE_WRLCK: u8 = 1;
    pub const TYPE_UNLCK: u8 = 2;
    pub const FLAGS_BLOCK: u32 = 1;
    pub const FLAGS_RECLAIM: u32 = 2;
    pub const SUCCESS: u8 = 0;
    pub const BLOCKED: u8 = 1;
    pub const ERROR: u8 = 2;
    pub const GRACE: u8 = 3;
}

/// Attributes returned by `Rgetattr` (`struct p9_stat_dotl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[allow(missing_docs)]
pub struct Stat {
    /// Which fields are valid (`getattr::*`).
    pub valid: u64,
    pub qid: Qid,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u64,
    pub rdev: u64,
    pub size: u64,
    pub blksize: u64,
    pub blocks: u64,
    pub atime_sec: u64,
    pub atime_nsec: u64,
    pub mtime_sec: u64,
    pub mtime_nsec: u64,
    pub ctime_sec: u64,
    pub ctime_nsec: u64,
    pub btime_sec: u64,
    pub btime_nsec: u64,
    pub gen: u64,
    pub data_version: u64,
}

/// Attributes to change with `Tsetattr` (`struct p9_iattr_dotl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[allow(missing_docs)]
pub struct SetAttr {
    /// Which fields to apply (`setattr::*`).
    pub valid: u32,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub atime_sec: u64,
    pub atime_nsec: u64,
    pub mtime_sec: u64,
    pub mtime_nsec: u64,
}

/// File system statistics returned by `Rstatfs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[allow(missing_docs)]
pub struct StatFs {
    pub ty: u32,
    pub bsize: u32,
    pub blocks: u64,
    pub bfree: u64,
    pub bavail: u64,
    pub files: u64,
    pub ffree: u64,
    pub fsid: u64,
    pub namelen: u32,
}

/// One directory entry of an `Rreaddir`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The entry's qid.
    pub qid: Qid,
    /// Offset to pass to the next `Treaddir` to continue after this entry.
    pub offset: u64,
    /// `DT_*` type of the entry.
    pub ty: u8,
    /// Entry name (raw bytes).
    pub name: Vec<u8>,
}

impl DirEntry {
    /// Encoded size of this entry: `qid[13] offset[8] type[1] name[s]`.
    pub fn wire_size(&self) -> usize {
        wire::QID_SIZE + 8 + 1 + wire::str_size(&self.name)
    }
}

/// A POSIX record lock description (`Tlock`, `Tgetlock`, `Rgetlock`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Flock {
    /// `lock::TYPE_*`.
    pub ty: u8,
    /// First byte of the range.
    pub start: u64,
    /// Length of the range (0 = to end of file).
    pub length: u64,
    /// Owner process id as the client sees it.
    pub proc_id: u32,
    /// Client identity string.
    pub client_id: Vec<u8>,
}

/// Requests (client to server).
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Tmessage {
    Version { msize: u32, version: String },
    Auth { afid: u32, uname: String, aname: String, n_uname: u32 },
    Attach { fid: u32, afid: u32, uname: String, aname: String, n_uname: u32 },
    Flush { oldtag: u16 },
    Walk { fid: u32, newfid: u32, names: Vec<Vec<u8>> },
    Read { fid: u32, offset: u64, count: u32 },
    Write { fid: u32, offset: u64, data: Vec<u8> },
    Clunk { fid: u32 },
    Remove { fid: u32 },
    Statfs { fid: u32 },
    Lopen { fid: u32, flags: u32 },
    Lcreate { fid: u32, name: Vec<u8>, flags: u32, mode: u32, gid: u32 },
    Symlink { fid: u32, name: Vec<u8>, target: Vec<u8>, gid: u32 },
    Mknod { dfid: u32, name: Vec<u8>, mode: u32, major: u32, minor: u32, gid: u32 },
    Rename { fid: u32, dfid: u32, name: Vec<u8> },
    Readlink { fid: u32 },
    Getattr { fid: u32, request_mask: u64 },
    Setattr { fid: u32, attr: SetAttr },
    Xattrwalk { fid: u32, newfid: u32, name: Vec<u8> },
    Xattrcreate { fid: u32, name: Vec<u8>, size: u64, flags: u32 },
    Readdir { fid: u32, offset: u64, count: u32 },
    Fsync { fid: u32, datasync: u32 },
    Lock { fid: u32, flags: u32, lock: Flock },
    Getlock { fid: u32, lock: Flock },
    Link { dfid: u32, fid: u32, name: Vec<u8> },
    Mkdir { dfid: u32, name: Vec<u8>, mode: u32, gid: u32 },
    Renameat { olddirfid: u32, oldname: Vec<u8>, newdirfid: u32, newname: Vec<u8> },
    Unlinkat { dirfid: u32, name: Vec<u8>, flags: u32 },
}

/// Replies (server to client).
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Rmessage {
    Lerror { ecode: u32 },
    Version { msize: u32, version: String },
    Auth { aqid: Qid },
    Attach { qid: Qid },
    Flush,
    Walk { qids: Vec<Qid> },
    Read { data: Vec<u8> },
    Write { count: u32 },
    Clunk,
    Remove,
    Statfs(StatFs),
    Lopen { qid: Qid, iounit: u32 },
    Lcreate { qid: Qid, iounit: u32 },
    Symlink { qid: Qid },
    Mknod { qid: Qid },
    Rename,
    Readlink { target: Vec<u8> },
    Getattr(Box<Stat>),
    Setattr,
    Xattrwalk { size: u64 },
    Xattrcreate,
    Readdir { entries: Vec<DirEntry> },
    Fsync,
    Lock { status: u8 },
    Getlock { lock: Flock },
    Link,
    Mkdir { qid: Qid },
    Renameat,
    Unlinkat,
}

/// Starts a frame: reserves the size field and writes type and tag.
fn begin(out: &mut Vec<u8>, ty: u8, tag: u16) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0, 0, 0, 0, ty]);
    out.extend_from_slice(&tag.to_le_bytes());
    start
}

/// Completes a frame begun at `start` by patching its size field.
fn finish(out: &mut [u8], start: usize) -> Result<(), WireError> {
    let size = u32::try_from(out.len() - start).map_err(|_| WireError::TooLarge)?;
    out[start..start + 4].copy_from_slice(&size.to_le_bytes());
    Ok(())
}

fn put_flock(w: &mut Writer<'_>, l: &Flock) -> Result<(), WireError> {
    w.u64(l.start);
    w.u64(l.length);
    w.u32(l.proc_id);
    w.str(&l.client_id)
}

impl Tmessage {
    /// The message type number.
    pub fn msg_type(&self) -> u8 {
        use ty::*;
        match self {
            Tmessage::Version { .. } => TVERSION,
            Tmessage::Auth { .. } => TAUTH,
            Tmessage::Attach { .. } => TATTACH,
            Tmessage::Flush { .. } => TFLUSH,
            Tmessage::Walk { .. } => TWALK,
            Tmessage::Read { .. } => TREAD,
            Tmessage::Write { .. } => TWRITE,
            Tmessage::Clunk { .. } => TCLUNK,
            Tmessage::Remove { .. } => TREMOVE,
            Tmessage::Statfs { .. } => TSTATFS,
            Tmessage::Lopen { .. } => TLOPEN,
            Tmessage::Lcreate { .. } => TLCREATE,
            Tmessage::Symlink { .. } => TSYMLINK,
            Tmessage::Mknod { .. } => TMKNOD,
            Tmessage::Rename { .. } => TRENAME,
            Tmessage::Readlink { .. } => TREADLINK,
            Tmessage::Getattr { .. } => TGETATTR,
            Tmessage::Setattr { .. } => TSETATTR,
            Tmessage::Xattrwalk { .. } => TXATTRWALK,
            Tmessage::Xattrcreate { .. } => TXATTRCREATE,
            Tmessage::Readdir { .. } => TREADDIR,
            Tmessage::Fsync { .. } => TFSYNC,
            Tmessage::Lock { .. } => TLOCK,
            Tmessage::Getlock { .. } => TGETLOCK,
            Tmessage::Link { .. } => TLINK,
            Tmessage::Mkdir { .. } => TMKDIR,
            Tmessage::Renameat { .. } => TRENAMEAT,
            Tmessage::Unlinkat { .. } => TUNLINKAT,
        }
    }

    /// Appends the complete frame of this message with `tag` to `out`.
    pub fn encode(&self, tag: u16, out: &mut Vec<u8>) -> Result<(), WireError> {
        let start = begin(out, self.msg_type(), tag);
        let mut w = Writer::new(out);
        match self {
            Tmessage::Version { msize, version } => {
                w.u32(*msize);
                w.str(version.as_bytes())?;
            }
            Tmessage::Auth { afid, uname, aname, n_uname } => {
                w.u32(*afid);
                w.str(uname.as_bytes())?;
                w.str(aname.as_bytes())?;
                w.u32(*n_uname);
            }
            Tmessage::Attach { fid, afid, uname, aname, n_uname } => {
                w.u32(*fid);
                w.u32(*afid);
                w.str(uname.as_bytes())?;
                w.str(aname.as_bytes())?;
                w.u32(*n_uname);
            }
            Tmessage::Flush { oldtag } => w.u16(*oldtag),
            Tmessage::Walk { fid, newfid, names } => {
                if names.len() > MAXWELEM {
                    return Err(WireError::Invalid("more than 16 walk names"));
                }
                w.u32(*fid);
                w.u32(*newfid);
                w.u16(names.len() as u16);
                for n in names {
                    w.str(n)?;
                }
            }
            Tmessage::Read { fid, offset, count } | Tmessage::Readdir { fid, offset, count } => {
                w.u32(*fid);
                w.u64(*offset);
                w.u32(*count);
            }
            Tmessage::Write { fid, offset, data } => {
                w.u32(*fid);
                w.u64(*offset);
                w.data(data)?;
            }
            Tmessage::Clunk { fid }
            | Tmessage::Remove { fid }
            | Tmessage::Statfs { fid }
            | Tmessage::Readlink { fid } => w.u32(*fid),
            Tmessage::Lopen { fid, flags } => {
                w.u32(*fid);
                w.u32(*flags);
            }
            Tmessage::Lcreate { fid, name, flags, mode, gid } => {
                w.u32(*fid);
                w.str(name)?;
                w.u32(*flags);
                w.u32(*mode);
                w.u32(*gid);
            }
            Tmessage::Symlink { fid, name, target, gid } => {
                w.u32(*fid);
                w.str(name)?;
                w.str(target)?;
                w.u32(*gid);
            }
            Tmessage::Mknod { dfid, name, mode, major, minor, gid } => {
                w.u32(*dfid);
                w.str(name)?;
                w.u32(*mode);
                w.u32(*major);
                w.u32(*minor);
                w.u32(*gid);
            }
            Tmessage::Rename { fid, dfid, name } => {
                w.u32(*fid);
                w.u32(*dfid);
                w.str(name)?;
            }
            Tmessage::Getattr { fid, request_mask } => {
                w.u32(*fid);
                w.u64(*request_mask);
            }
            Tmessage::Setattr { fid, attr } => {
                w.u32(*fid);
                w.u32(attr.valid);
                w.u32(attr.mode);
                w.u32(attr.uid);
                w.u32(attr.gid);
                w.u64(attr.size);
                w.u64(attr.atime_sec);
                w.u64(attr.atime_nsec);
                w.u64(attr.mtime_sec);
                w.u64(attr.mtime_nsec);
            }
            Tmessage::Xattrwalk { fid, newfid, name } => {
                w.u32(*fid);
                w.u32(*newfid);
                w.str(name)?;
            }
            Tmessage::Xattrcreate { fid, name, size, flags } => {
                w.u32(*fid);
                w.str(name)?;
                w.u64(*size);
                w.u32(*flags);
            }
            Tmessage::Fsync { fid, datasync } => {
                w.u32(*fid);
                w.u32(*datasync);
            }
            Tmessage::Lock { fid, flags, lock } => {
                w.u32(*fid);
                w.u8(lock.ty);
                w.u32(*flags);
                put_flock(&mut w, lock)?;
            }
            Tmessage::Getlock { fid, lock } => {
                w.u32(*fid);
                w.u8(lock.ty);
                put_flock(&mut w, lock)?;
            }
            Tmessage::Link { dfid, fid, name } => {
                w.u32(*dfid);
                w.u32(*fid);
                w.str(name)?;
            }
            Tmessage::Mkdir { dfid, name, mode, gid } => {
                w.u32(*dfid);
                w.str(name)?;
                w.u32(*mode);
                w.u32(*gid);
            }
            Tmessage::Renameat { olddirfid, oldname, newdirfid, newname } => {
                w.u32(*olddirfid);
                w.str(oldname)?;
                w.u32(*newdirfid);
                w.str(newname)?;
            }
            Tmessage::Unlinkat { dirfid, name, flags } => {
                w.u32(*dirfid);
                w.str(name)?;
                w.u32(*flags);
            }
        }
        finish(out, start)
    }

    /// Decodes the body of a message of type `ty`. The whole body must be
    /// consumed.
    pub fn decode(ty: u8, body: &[u8]) -> Result<Tmessage, WireError> {
        use ty::*;
        let mut r = Reader::new(body);
        let m = match ty {
            TVERSION => Tmessage::Version { msize: r.u32()?, version: r.utf8_str()? },
            TAUTH => Tmessage::Auth { afid: r.u32()?, uname: r.utf8_str()?, aname: r.utf8_str()?, n_uname: r.u32()? },
            TATTACH => Tmessage::Attach {
                fid: r.u32()?,
                afid: r.u32()?,
                uname: r.utf8_str()?,
                aname: r.utf8_str()?,
                n_uname: r.u32()?,
            },
            TFLUSH => Tmessage::Flush { oldtag: r.u16()? },
            TWALK => {
                let fid = r.u32()?;
                let newfid = r.u32()?;
                let n = r.u16()? as usize;
                if n > MAXWELEM {
                    return Err(WireError::Invalid("more than 16 walk names"));
                }
                let mut names = Vec::with_capacity(n);
                for _ in 0..n {
                    names.push(r.bytes_str()?);
                }
                Tmessage::Walk { fid, newfid, names }
            }
            TREAD => Tmessage::Read { fid: r.u32()?, offset: r.u64()?, count: r.u32()? },
            TWRITE => Tmessage::Write { fid: r.u32()?, offset: r.u64()?, data: r.data()?.to_vec() },
            TCLUNK => Tmessage::Clunk { fid: r.u32()? },
            TREMOVE => Tmessage::Remove { fid: r.u32()? },
            TSTATFS => Tmessage::Statfs { fid: r.u32()? },
            TLOPEN => Tmessage::Lopen { fid: r.u32()?, flags: r.u32()? },
            TLCREATE => Tmessage::Lcreate {
                fid: r.u32()?,
                name: r.bytes_str()?,
                flags: r.u32()?,
                mode: r.u32()?,
                gid: r.u32()?,
            },
            TSYMLINK => {
                Tmessage::Symlink { fid: r.u32()?, name: r.bytes_str()?, target: r.bytes_str()?, gid: r.u32()? }
            }
            TMKNOD => Tmessage::Mknod {
                dfid: r.u32()?,
                name: r.bytes_str()?,
                mode: r.u32()?,
                major: r.u32()?,
                minor: r.u32()?,
                gid: r.u32()?,
            },
            TRENAME => Tmessage::Rename { fid: r.u32()?, dfid: r.u32()?, name: r.bytes_str()? },
            TREADLINK => Tmessage::Readlink { fid: r.u32()? },
            TGETATTR => Tmessage::Getattr { fid: r.u32()?, request_mask: r.u64()? },
            TSETATTR => Tmessage::Setattr {
                fid: r.u32()?,
                attr: SetAttr {
                    valid: r.u32()?,
                    mode: r.u32()?,
                    uid: r.u32()?,
                    gid: r.u32()?,
                    size: r.u64()?,
                    atime_sec: r.u64()?,
                    atime_nsec: r.u64()?,
                    mtime_sec: r.u64()?,
                    mtime_nsec: r.u64()?,
                },
            },
            TXATTRWALK => Tmessage::Xattrwalk { fid: r.u32()?, newfid: r.u32()?, name: r.bytes_str()? },
            TXATTRCREATE => {
                Tmessage::Xattrcreate { fid: r.u32()?, name: r.bytes_str()?, size: r.u64()?, flags: r.u32()? }
            }
            TREADDIR => Tmessage::Readdir { fid: r.u32()?, offset: r.u64()?, count: r.u32()? },
            TFSYNC => Tmessage::Fsync { fid: r.u32()?, datasync: r.u32()? },
            TLOCK => {
                let fid = r.u32()?;
                let ty = r.u8()?;
                let flags = r.u32()?;
                Tmessage::Lock {
                    fid,
                    flags,
                    lock: Flock { ty, start: r.u64()?, length: r.u64()?, proc_id: r.u32()?, client_id: r.bytes_str()? },
                }
            }
            TGETLOCK => Tmessage::Getlock {
                fid: r.u32()?,
                lock: Flock {
                    ty: r.u8()?,
                    start: r.u64()?,
                    length: r.u64()?,
                    proc_id: r.u32()?,
                    client_id: r.bytes_str()?,
                },
            },
            TLINK => Tmessage::Link { dfid: r.u32()?, fid: r.u32()?, name: r.bytes_str()? },
            TMKDIR => Tmessage::Mkdir { dfid: r.u32()?, name: r.bytes_str()?, mode: r.u32()?, gid: r.u32()? },
            TRENAMEAT => Tmessage::Renameat {
                olddirfid: r.u32()?,
                oldname: r.bytes_str()?,
                newdirfid: r.u32()?,
                newname: r.bytes_str()?,
            },
            TUNLINKAT => Tmessage::Unlinkat { dirfid: r.u32()?, name: r.bytes_str()?, flags: r.u32()? },
            other => return Err(WireError::UnknownType(other)),
        };
        r.finish()?;
        Ok(m)
    }

    /// Decodes a complete frame no larger than `max_size`, returning its tag
    /// and message.
    pub fn decode_frame(frame: &[u8], max_size: u32) -> Result<(u16, Tmessage), WireError> {
        let (h, body) = wire::split_frame(frame, max_size)?;
        Ok((h.tag, Tmessage::decode(h.ty, body)?))
    }
}

impl Rmessage {
    /// The message type number.
    pub fn msg_type(&self) -> u8 {
        use ty::*;
        match self {
            Rmessage::Lerror { .. } => RLERROR,
            Rmessage::Version { .. } => RVERSION,
            Rmessage::Auth { .. } => RAUTH,
            Rmessage::Attach { .. } => RATTACH,
            Rmessage::Flush => RFLUSH,
            Rmessage::Walk { .. } => RWALK,
            Rmessage::Read { .. } => RREAD,
            Rmessage::Write { .. } => RWRITE,
            Rmessage::Clunk => RCLUNK,
            Rmessage::Remove => RREMOVE,
            Rmessage::Statfs(_) => RSTATFS,
            Rmessage::Lopen { .. } => RLOPEN,
            Rmessage::Lcreate { .. } => RLCREATE,
            Rmessage::Symlink { .. } => RSYMLINK,
            Rmessage::Mknod { .. } => RMKNOD,
            Rmessage::Rename => RRENAME,
            Rmessage::Readlink { .. } => RREADLINK,
            Rmessage::Getattr(_) => RGETATTR,
            Rmessage::Setattr => RSETATTR,
            Rmessage::Xattrwalk { .. } => RXATTRWALK,
            Rmessage::Xattrcreate => RXATTRCREATE,
            Rmessage::Readdir { .. } => RREADDIR,
            Rmessage::Fsync => RFSYNC,
            Rmessage::Lock { .. } => RLOCK,
            Rmessage::Getlock { .. } => RGETLOCK,
            Rmessage::Link => RLINK,
            Rmessage::Mkdir { .. } => RMKDIR,
            Rmessage::Renameat => RRENAMEAT,
            Rmessage::Unlinkat => RUNLINKAT,
        }
    }

    /// Appends the complete frame of this message with `tag` to `out`.
    pub fn encode(&self, tag: u16, out: &mut Vec<u8>) -> Result<(), WireError> {
        let start = begin(out, self.msg_type(), tag);
        let mut w = Writer::new(out);
        match self {
            Rmessage::Lerror { ecode } => w.u32(*ecode),
            Rmessage::Version { msize, version } => {
                w.u32(*msize);
                w.str(version.as_bytes())?;
            }
            Rmessage::Auth { aqid: qid }
            | Rmessage::Attach { qid }
            | Rmessage::Symlink { qid }
            | Rmessage::Mknod { qid }
            | Rmessage::Mkdir { qid } => w.qid(qid),
            Rmessage::Flush
            | Rmessage::Clunk
            | Rmessage::Remove
            | Rmessage::Rename
            | Rmessage::Setattr
            | Rmessage::Xattrcreate
            | Rmessage::Fsync
            | Rmessage::Link
            | Rmessage::Renameat
            | Rmessage::Unlinkat => {}
            Rmessage::Walk { qids } => {
                if qids.len() > MAXWELEM {
                    return Err(WireError::Invalid("more than 16 walk qids"));
                }
                w.u16(qids.len() as u16);
                for q in qids {
                    w.qid(q);
                }
            }
            Rmessage::Read { data } => w.data(data)?,
            Rmessage::Write { count } => w.u32(*count),
            Rmessage::Statfs(s) => {
                w.u32(s.ty);
                w.u32(s.bsize);
                w.u64(s.blocks);
                w.u64(s.bfree);
                w.u64(s.bavail);
                w.u64(s.files);
                w.u64(s.ffree);
                w.u64(s.fsid);
                w.u32(s.namelen);
            }
            Rmessage::Lopen { qid, iounit } | Rmessage::Lcreate { qid, iounit } => {
                w.qid(qid);
                w.u32(*iounit);
            }
            Rmessage::Readlink { target } => w.str(target)?,
            Rmessage::Getattr(s) => {
                w.u64(s.valid);
                w.qid(&s.qid);
                w.u32(s.mode);
                w.u32(s.uid);
                w.u32(s.gid);
                for v in [
                    s.nlink,
                    s.rdev,
                    s.size,
                    s.blksize,
                    s.blocks,
                    s.atime_sec,
                    s.atime_nsec,
                    s.mtime_sec,
                    s.mtime_nsec,
                    s.ctime_sec,
                    s.ctime_nsec,
                    s.btime_sec,
                    s.btime_nsec,
                    s.gen,
                    s.data_version,
                ] {
                    w.u64(v);
                }
            }
            Rmessage::Xattrwalk { size } => w.u64(*size),
            Rmessage::Readdir { entries } => {
                let total: usize = entries.iter().map(DirEntry::wire_size).sum();
                w.u32(u32::try_from(total).map_err(|_| WireError::TooLarge)?);
                for e in entries {
                    w.qid(&e.qid);
                    w.u64(e.offset);
                    w.u8(e.ty);
                    w.str(&e.name)?;
                }
            }
            Rmessage::Lock { status } => w.u8(*status),
            Rmessage::Getlock { lock } => {
                w.u8(lock.ty);
                put_flock(&mut w, lock)?;
            }
        }
        finish(out, start)
    }

    /// Decodes the body of a message of type `ty`. The whole body must be
    /// consumed.
    pub fn decode(ty: u8, body: &[u8]) -> Result<Rmessage, WireError> {
        use ty::*;
        let mut r = Reader::new(body);
        let m = match ty {
            RLERROR => Rmessage::Lerror { ecode: r.u32()? },
            RVERSION => Rmessage::Version { msize: r.u32()?, version: r.utf8_str()? },
            RAUTH => Rmessage::Auth { aqid: r.qid()? },
            RATTACH => Rmessage::Attach { qid: r.qid()? },
            RFLUSH => Rmessage::Flush,
            RWALK => {
                let n = r.u16()? as usize;
                if n > MAXWELEM {
                    return Err(WireError::Invalid("more than 16 walk qids"));
                }
                let mut qids = Vec::with_capacity(n);
                for _ in 0..n {
                    qids.push(r.qid()?);
                }
                Rmessage::Walk { qids }
            }
            RREAD => Rmessage::Read { data: r.data()?.to_vec() },
            RWRITE => Rmessage::Write { count: r.u32()? },
            RCLUNK => Rmessage::Clunk,
            RREMOVE => Rmessage::Remove,
            RSTATFS => Rmessage::Statfs(StatFs {
                ty: r.u32()?,
                bsize: r.u32()?,
                blocks: r.u64()?,
                bfree: r.u64()?,
                bavail: r.u64()?,
                files: r.u64()?,
                ffree: r.u64()?,
                fsid: r.u64()?,
                namelen: r.u32()?,
            }),
            RLOPEN => Rmessage::Lopen { qid: r.qid()?, iounit: r.u32()? },
            RLCREATE => Rmessage::Lcreate { qid: r.qid()?, iounit: r.u32()? },
            RSYMLINK => Rmessage::Symlink { qid: r.qid()? },
            RMKNOD => Rmessage::Mknod { qid: r.qid()? },
            RRENAME => Rmessage::Rename,
            RREADLINK => Rmessage::Readlink { target: r.bytes_str()? },
            RGETATTR => {
                let valid = r.u64()?;
                let qid = r.qid()?;
                let mode = r.u32()?;
                let uid = r.u32()?;
                let gid = r.u32()?;
                let mut v = [0u64; 15];
                for x in v.iter_mut() {
                    *x = r.u64()?;
                }
                Rmessage::Getattr(Box::new(Stat {
                    valid,
                    qid,
                    mode,
                    uid,
                    gid,
                    nlink: v[0],
                    rdev: v[1],
                    size: v[2],
                    blksize: v[3],
                    blocks: v[4],
                    atime_sec: v[5],
                    atime_nsec: v[6],
                    mtime_sec: v[7],
                    mtime_nsec: v[8],
                    ctime_sec: v[9],
                    ctime_nsec: v[10],
                    btime_sec: v[11],
                    btime_nsec: v[12],
                    gen: v[13],
                    data_version: v[14],
                }))
            }
            RSETATTR => Rmessage::Setattr,
            RXATTRWALK => Rmessage::Xattrwalk { size: r.u64()? },
            RXATTRCREATE => Rmessage::Xattrcreate,
            RREADDIR => {
                let data = r.data()?;
                let mut er = Reader::new(data);
                let mut entries = Vec::new();
                while er.remaining() > 0 {
                    entries.push(DirEntry { qid: er.qid()?, offset: er.u64()?, ty: er.u8()?, name: er.bytes_str()? });
                }
                Rmessage::Readdir { entries }
            }
            RFSYNC => Rmessage::Fsync,
            RLOCK => Rmessage::Lock { status: r.u8()? },
            RGETLOCK => Rmessage::Getlock {
                lock: Flock {
                    ty: r.u8()?,
                    start: r.u64()?,
                    length: r.u64()?,
                    proc_id: r.u32()?,
                    client_id: r.bytes_str()?,
                },
            },
            RLINK => Rmessage::Link,
            RMKDIR => Rmessage::Mkdir { qid: r.qid()? },
            RRENAMEAT => Rmessage::Renameat,
            RUNLINKAT => Rmessage::Unlinkat,
            other => return Err(WireError::UnknownType(other)),
        };
        r.finish()?;
        Ok(m)
    }

    /// Decodes a complete frame no larger than `max_size`, returning its tag
    /// and message.
    pub fn decode_frame(frame: &[u8], max_size: u32) -> Result<(u16, Rmessage), WireError> {
        let (h, body) = wire::split_frame(frame, max_size)?;
        Ok((h.tag, Rmessage::decode(h.ty, body)?))
    }

    /// An `Rlerror` for `e`.
    pub fn error(e: crate::Errno) -> Rmessage {
        Rmessage::Lerror { ecode: e.0 as u32 }
    }
}

/// Appends a complete `Twrite` frame for `data` without copying it into an
/// intermediate message.
pub fn encode_twrite(tag: u16, fid: u32, offset: u64, data: &[u8], out: &mut Vec<u8>) -> Result<(), WireError> {
    out.reserve(HEADER_SIZE + 16 + data.len());
    let start = begin(out, ty::TWRITE, tag);
    let mut w = Writer::new(out);
    w.u32(fid);
    w.u64(offset);
    w.data(data)?;
    finish(out, start)
}

/// Size of an encoded `Rread` frame header (`size type tag count`).
pub const RREAD_HEADER: usize = HEADER_SIZE + 4;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn q(n: u64) -> Qid {
        Qid { ty: wire::QT_DIR, version: 1, path: n }
    }

    fn all_t() -> Vec<Tmessage> {
        let fl = Flock { ty: lock::TYPE_WRLCK, start: 1, length: 2, proc_id: 3, client_id: b"cid".to_vec() };
        vec![
            Tmessage::Version { msize: 8192, version: "9P2000.L".into() },
            Tmessage::Auth { afid: 1, uname: "u".into(), aname: "a".into(), n_uname: 5 },
            Tmessage::Attach { fid: 1, afid: NOFID, uname: "u".into(), aname: "".into(), n_uname: 0 },
            Tmessage::Flush { oldtag: 3 },
            Tmessage::Walk { fid: 1, newfid: 2, names: vec![b"a".to_vec(), b"bc".to_vec()] },
            Tmessage::Read { fid: 1, offset: 2, count: 3 },
            Tmessage::Write { fid: 1, offset: 2, data: b"xyz".to_vec() },
            Tmessage::Clunk { fid: 1 },
            Tmessage::Remove { fid: 1 },
            Tmessage::Statfs { fid: 1 },
            Tmessage::Lopen { fid: 1, flags: 2 },
            Tmessage::Lcreate { fid: 1, name: b"n".to_vec(), flags: 2, mode: 0o644, gid: 7 },
            Tmessage::Symlink { fid: 1, name: b"n".to_vec(), target: b"t".to_vec(), gid: 7 },
            Tmessage::Mknod { dfid: 1, name: b"n".to_vec(), mode: 0o10644, major: 1, minor: 2, gid: 7 },
            Tmessage::Rename { fid: 1, dfid: 2, name: b"n".to_vec() },
            Tmessage::Readlink { fid: 1 },
            Tmessage::Getattr { fid: 1, request_mask: getattr::ALL },
            Tmessage::Setattr {
                fid: 1,
                attr: SetAttr {
                    valid: 0x1ff,
                    mode: 1,
                    uid: 2,
                    gid: 3,
                    size: 4,
                    atime_sec: 5,
                    atime_nsec: 6,
                    mtime_sec: 7,
                    mtime_nsec: 8,
                },
            },
            Tmessage::Xattrwalk { fid: 1, newfid: 2, name: b"user.a".to_vec() },
            Tmessage::Xattrcreate { fid: 1, name: b"user.a".to_vec(), size: 9, flags: 0 },
            Tmessage::Readdir { fid: 1, offset: 2, count: 3 },
            Tmessage::Fsync { fid: 1, datasync: 1 },
            Tmessage::Lock { fid: 1, flags: lock::FLAGS_BLOCK, lock: fl.clone() },
            Tmessage::Getlock { fid: 1, lock: fl },
            Tmessage::Link { dfid: 1, fid: 2, name: b"n".to_vec() },
            Tmessage::Mkdir { dfid: 1, name: b"n".to_vec(), mode: 0o755, gid: 7 },
            Tmessage::Renameat { olddirfid: 1, oldname: b"a".to_vec(), newdirfid: 2, newname: b"b".to_vec() },
            Tmessage::Unlinkat { dirfid: 1, name: b"n".to_vec(), flags: 0x200 },
        ]
    }

    fn all_r() -> Vec<Rmessage> {
        let st = Stat {
            valid: getattr::ALL,
            qid: q(9),
            mode: 1,
            uid: 2,
            gid: 3,
            nlink: 4,
            rdev: 5,
            size: 6,
            blksize: 7,
            blocks: 8,
            atime_sec: 9,
            atime_nsec: 10,
            mtime_sec: 11,
            mtime_nsec: 12,
            ctime_sec: 13,
            ctime_nsec: 14,
            btime_sec: 15,
            btime_nsec: 16,
            gen: 17,
            data_version: 18,
        };
        vec![
            Rmessage::Lerror { ecode: 2 },
            Rmessage::Version { msize: 8192, version: "9P2000.L".into() },
            Rmessage::Auth { aqid: q(1) },
            Rmessage::Attach { qid: q(1) },
            Rmessage::Flush,
            Rmessage::Walk { qids: vec![q(1), q(2)] },
            Rmessage::Read { data: b"data".to_vec() },
            Rmessage::Write { count: 4 },
            Rmessage::Clunk,
            Rmessage::Remove,
            Rmessage::Statfs(StatFs {
                ty: 1,
                bsize: 2,
                blocks: 3,
                bfree: 4,
                bavail: 5,
                files: 6,
                ffree: 7,
                fsid: 8,
                namelen: 9,
            }),
            Rmessage::Lopen { qid: q(1), iounit: 5 },
            Rmessage::Lcreate { qid: q(1), iounit: 5 },
            Rmessage::Symlink { qid: q(1) },
            Rmessage::Mknod { qid: q(1) },
            Rmessage::Rename,
            Rmessage::Readlink { target: b"/x".to_vec() },
            Rmessage::Getattr(Box::new(st)),
            Rmessage::Setattr,
            Rmessage::Xattrwalk { size: 3 },
            Rmessage::Xattrcreate,
            Rmessage::Readdir {
                entries: vec![
                    DirEntry { qid: q(1), offset: 10, ty: 4, name: b".".to_vec() },
                    DirEntry { qid: q(2), offset: 20, ty: 8, name: b"file".to_vec() },
                ],
            },
            Rmessage::Fsync,
            Rmessage::Lock { status: lock::BLOCKED },
            Rmessage::Getlock { lock: Flock { ty: 2, start: 1, length: 2, proc_id: 3, client_id: b"c".to_vec() } },
            Rmessage::Link,
            Rmessage::Mkdir { qid: q(1) },
            Rmessage::Renameat,
            Rmessage::Unlinkat,
        ]
    }

    #[test]
    fn every_message_round_trips() {
        for m in all_t() {
            let mut b = Vec::new();
            m.encode(42, &mut b).unwrap();
            assert_eq!(b[4], m.msg_type());
            assert_eq!(Tmessage::decode_frame(&b, 1 << 20).unwrap(), (42, m.clone()), "{m:?}");
            // Every strict prefix is rejected, never a panic.
            for cut in 7..b.len() {
                assert!(Tmessage::decode(b[4], &b[7..cut]).is_err(), "{m:?} cut at {cut}");
            }
        }
        for m in all_r() {
            let mut b = Vec::new();
            m.encode(42, &mut b).unwrap();
            assert_eq!(b[4], m.msg_type());
            assert_eq!(b[4] % 2, 1);
            assert_eq!(Rmessage::decode_frame(&b, 1 << 20).unwrap(), (42, m.clone()), "{m:?}");
        }
        assert_eq!(all_t().len(), 28);
        assert_eq!(all_r().len(), 29);
    }

    #[test]
    fn known_layouts() {
        // Tversion as the Linux client sends it.
        let mut b = Vec::new();
        Tmessage::Version { msize: 8192, version: "9P2000.L".into() }.encode(NOTAG, &mut b).unwrap();
        assert_eq!(
            b,
            [21, 0, 0, 0, 100, 0xff, 0xff, 0, 0x20, 0, 0, 8, 0, b'9', b'P', b'2', b'0', b'0', b'0', b'.', b'L']
        );
        // Rgetattr body: valid[8] qid[13] mode uid gid [4 each] 15 x u64.
        let mut b = Vec::new();
        Rmessage::Getattr(Box::default()).encode(1, &mut b).unwrap();
        assert_eq!(b.len(), 7 + 8 + 13 + 12 + 15 * 8);
        // Rlerror.
        let mut b = Vec::new();
        Rmessage::Lerror { ecode: 2 }.encode(5, &mut b).unwrap();
        assert_eq!(b, [11, 0, 0, 0, 7, 5, 0, 2, 0, 0, 0]);
        // Twalk.
        let mut b = Vec::new();
        Tmessage::Walk { fid: 1, newfid: 2, names: vec![b"ab".to_vec()] }.encode(3, &mut b).unwrap();
        assert_eq!(b, [21, 0, 0, 0, 110, 3, 0, 1, 0, 0, 0, 2, 0, 0, 0, 1, 0, 2, 0, b'a', b'b']);
        // Type numbers.
        assert_eq!((ty::TLOPEN, ty::TGETATTR, ty::TREADDIR, ty::TUNLINKAT, ty::TREMOVE), (12, 24, 40, 76, 122));
    }

    #[test]
    fn walk_limits() {
        let m = Tmessage::Walk { fid: 1, newfid: 2, names: vec![b"a".to_vec(); 17] };
        assert!(m.encode(0, &mut Vec::new()).is_err());
        let m = Rmessage::Walk { qids: vec![Qid::default(); 17] };
        assert!(m.encode(0, &mut Vec::new()).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

        /// Decoding arbitrary bytes never panics, and whatever decodes
        /// re-encodes to exactly the same bytes.
        #[test]
        fn decode_arbitrary(ty in any::<u8>(), tag in any::<u16>(), body in prop::collection::vec(any::<u8>(), 0..200)) {
            let mut frame = ((body.len() + 7) as u32).to_le_bytes().to_vec();
            frame.push(ty);
            frame.extend_from_slice(&tag.to_le_bytes());
            frame.extend_from_slice(&body);
            if let Ok((t, m)) = Tmessage::decode_frame(&frame, 1 << 20) {
                let mut again = Vec::new();
                m.encode(t, &mut again).unwrap();
                prop_assert_eq!(&again, &frame);
            }
            if let Ok((t, m)) = Rmessage::decode_frame(&frame, 1 << 20) {
                let mut again = Vec::new();
                m.encode(t, &mut again).unwrap();
                prop_assert_eq!(&again, &frame);
            }
        }

        /// Mutating one byte of a valid message never panics the decoder.
        #[test]
        fn decode_mutated(idx in 0usize..28, pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
            let mut b = Vec::new();
            all_t()[idx].encode(1, &mut b).unwrap();
            let i = pos.index(b.len());
            b[i] = byte;
            let _ = Tmessage::decode_frame(&b, 1 << 20);
            let _ = Rmessage::decode_frame(&b, 1 << 20);
        }
    }
}
