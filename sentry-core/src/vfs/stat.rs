//! File attributes and their Linux encodings (`struct stat`, `struct statx`,
//! `struct statfs`).

use std::time::{SystemTime, UNIX_EPOCH};

/// A time stamp.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timespec {
    pub sec: i64,
    pub nsec: i64,
}

impl Timespec {
    /// The current wall-clock time.
    pub fn now() -> Timespec {
        let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        Timespec { sec: d.as_secs() as i64, nsec: d.subsec_nanos() as i64 }
    }
}

/// `STATX_BASIC_STATS`: the fields every file system fills.
pub const STATX_BASIC_STATS: u32 = 0x7ff;

/// A file's attributes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stat {
    pub dev: u64,
    pub ino: u64,
    /// Type and permission bits.
    pub mode: u32,
    pub nlink: u64,
    pub uid: u32,
    pub gid: u32,
    pub rdev: u64,
    pub size: u64,
    pub blksize: u64,
    /// Allocated 512-byte blocks.
    pub blocks: u64,
    pub atime: Timespec,
    pub mtime: Timespec,
    pub ctime: Timespec,
}

fn major(dev: u64) -> u32 {
    (((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0xfff)) as u32
}

fn minor(dev: u64) -> u32 {
    (((dev >> 12) & 0xffff_ff00) | (dev & 0xff)) as u32
}

/// Encodes a device number as Linux's `makedev`.
pub fn makedev(major: u32, minor: u32) -> u64 {
    let (ma, mi) = (major as u64, minor as u64);
    ((ma & 0xffff_f000) << 32) | ((ma & 0xfff) << 8) | ((mi & 0xffff_ff00) << 12) | (mi & 0xff)
}

impl Stat {
    /// The x86-64 `struct stat` (144 bytes).
    pub fn to_linux(&self) -> [u8; 144] {
        let mut b = [0u8; 144];
        let mut put = |off: usize, v: &[u8]| b[off..off + v.len()].copy_from_slice(v);
        put(0, &self.dev.to_le_bytes());
        put(8, &self.ino.to_le_bytes());
        put(16, &self.nlink.to_le_bytes());
        put(24, &self.mode.to_le_bytes());
        put(28, &self.uid.to_le_bytes());
        put(32, &self.gid.to_le_bytes());
        put(40, &self.rdev.to_le_bytes());
        put(48, &self.size.to_le_bytes());
        put(56, &self.blksize.to_le_bytes());
        put(64, &self.blocks.to_le_bytes());
        for (i, t) in [self.atime, self.mtime, self.ctime].iter().enumerate() {
            put(72 + 16 * i, &t.sec.to_le_bytes());
            put(80 + 16 * i, &t.nsec.to_le_bytes());
        }
        b
    }

    /// The `struct statx` (256 bytes) with the basic fields.
    pub fn to_statx(&self) -> [u8; 256] {
        let mut b = [0u8; 256];
        let mut put = |off: usize, v: &[u8]| b[off..off + v.len()].copy_from_slice(v);
        put(0, &STATX_BASIC_STATS.to_le_bytes());
        put(4, &(self.blksize as u32).to_le_bytes());
        put(16, &(self.nlink as u32).to_le_bytes());
        put(20, &self.uid.to_le_bytes());
        put(24, &self.gid.to_le_bytes());
        put(28, &(self.mode as u16).to_le_bytes());
        put(32, &self.ino.to_le_bytes());
        put(40, &self.size.to_le_bytes());
        put(48, &self.blocks.to_le_bytes());
        // atime, btime (unset), ctime, mtime: {i64 sec, u32 nsec, i32 pad}.
        for (off, t) in [(64, self.atime), (96, self.ctime), (112, self.mtime)] {
            put(off, &t.sec.to_le_bytes());
            put(off + 8, &(t.nsec as u32).to_le_bytes());
        }
        put(128, &major(self.rdev).to_le_bytes());
        put(132, &minor(self.rdev).to_le_bytes());
        put(136, &major(self.dev).to_le_bytes());
        put(140, &minor(self.dev).to_le_bytes());
        b
    }
}

/// `TMPFS_MAGIC`: `f_type` of tmpfs (and of devtmpfs).
pub const TMPFS_MAGIC: u64 = 0x0102_1994;
/// `PIPEFS_MAGIC`.
pub const PIPEFS_MAGIC: u64 = 0x5049_5045;
/// `SOCKFS_MAGIC`.
pub const SOCKFS_MAGIC: u64 = 0x534f_434b;
/// `ST_VALID`: `f_flags` carries mount flags.
pub const ST_VALID: u64 = 0x20;
/// `ST_RELATIME`.
pub const ST_RELATIME: u64 = 0x1000;
/// Longest file name, reported as `f_namelen`.
pub const NAME_MAX: u64 = 255;

/// File-system statistics (`statfs`, `fstatfs`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatFs {
    /// `f_type`: the file system's magic number.
    pub fs_type: u64,
    pub bsize: u64,
    pub blocks: u64,
    pub bfree: u64,
    pub bavail: u64,
    pub files: u64,
    pub ffree: u64,
    /// `f_fsid` (two 32-bit words, low word first).
    pub fsid: u64,
    pub namelen: u64,
    pub frsize: u64,
    pub flags: u64,
}

impl StatFs {
    /// A file system of type `magic` with no capacity figures (what Linux
    /// reports for pipes, sockets and devices).
    pub fn empty(magic: u64) -> StatFs {
        StatFs {
            fs_type: magic,
            bsize: 4096,
            namelen: NAME_MAX,
            frsize: 4096,
            flags: ST_VALID | ST_RELATIME,
            ..StatFs::default()
        }
    }

    /// The x86-64 `struct statfs` (120 bytes).
    pub fn to_linux(&self) -> [u8; 120] {
        let mut b = [0u8; 120];
        let fields = [
            self.fs_type,
            self.bsize,
            self.blocks,
            self.bfree,
            self.bavail,
            self.files,
            self.ffree,
            self.fsid,
            self.namelen,
            self.frsize,
            self.flags,
        ];
        for (i, v) in fields.iter().enumerate() {
            b[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_layout_matches_libc() {
        let s = Stat { ino: 7, mode: 0o100644, size: 12345, nlink: 1, uid: 3, gid: 4, ..Stat::default() };
        let b = s.to_linux();
        assert_eq!(std::mem::size_of::<libc::stat>(), b.len());
        // SAFETY: `libc::stat` is plain old data of exactly this size; every
        // bit pattern is valid for it.
        let ls: libc::stat = unsafe { std::ptr::read_unaligned(b.as_ptr() as *const libc::stat) };
        assert_eq!((ls.st_ino, ls.st_mode, ls.st_size, ls.st_nlink), (7, 0o100644, 12345, 1));
        assert_eq!((ls.st_uid, ls.st_gid), (3, 4));
        let d = makedev(1, 3);
        assert_eq!((major(d), minor(d)), (1, 3));
        assert_eq!(d, libc::makedev(1, 3));
    }

    #[test]
    fn statfs_layout_matches_libc() {
        let s = StatFs {
            fs_type: TMPFS_MAGIC,
            bsize: 4096,
            blocks: 10,
            bfree: 7,
            bavail: 6,
            files: 100,
            ffree: 90,
            fsid: 0x0000_0002_0000_0001,
            namelen: 255,
            frsize: 4096,
            flags: ST_VALID,
        };
        let b = s.to_linux();
        assert_eq!(std::mem::size_of::<libc::statfs>(), b.len());
        // SAFETY: `libc::statfs` is plain old data of exactly this size;
        // every bit pattern is valid for it.
        let l: libc::statfs = unsafe { std::ptr::read_unaligned(b.as_ptr() as *const libc::statfs) };
        assert_eq!((l.f_type, l.f_bsize, l.f_blocks, l.f_bfree, l.f_bavail), (0x0102_1994, 4096, 10, 7, 6));
        assert_eq!((l.f_files, l.f_ffree, l.f_namelen, l.f_frsize), (100, 90, 255, 4096));
        assert_eq!(&b[80..88], &0x20u64.to_le_bytes(), "f_flags follows f_frsize");
        // SAFETY: fsid_t is two plain ints.
        let fsid: [i32; 2] = unsafe { std::mem::transmute(l.f_fsid) };
        assert_eq!(fsid, [1, 2]);
    }
}
