//! Little-endian encode/decode primitives of the 9P wire format.
//!
//! Decoding is bounded: every read checks the remaining input first, and no
//! allocation is ever sized by an untrusted length before that length has
//! been checked against the bytes actually present.

use std::fmt;

/// Size of the frame header: `size[4] type[1] tag[2]`.
pub const HEADER_SIZE: usize = 7;

/// Encoded size of a [`Qid`].
pub const QID_SIZE: usize = 13;

/// Decoding failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The input ended before the field was complete.
    #[error("truncated message")]
    Truncated,
    /// Bytes were left over after the last field of a message.
    #[error("{0} trailing bytes after message")]
    Trailing(usize),
    /// A string field was not valid UTF-8 where UTF-8 is required.
    #[error("string is not valid UTF-8")]
    NotUtf8,
    /// The message type is not a known 9P2000.L message of this direction.
    #[error("unknown message type {0}")]
    UnknownType(u8),
    /// A field holds a value the protocol does not allow (e.g. > 16 walk names).
    #[error("invalid field: {0}")]
    Invalid(&'static str),
    /// The frame's size field is smaller than a header or larger than allowed.
    #[error("bad frame size {0}")]
    BadSize(u32),
    /// An encoded message would exceed the 4 GiB frame limit or a u16/u32 count.
    #[error("message too large to encode")]
    TooLarge,
}

/// A 9P qid: the server's unique identity of a file.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Qid {
    /// `P9_QT*` type bits (directory, symlink, ...).
    pub ty: u8,
    /// Version (the server uses 0: no version tracking).
    pub version: u32,
    /// Unique path (the server uses the inode number).
    pub path: u64,
}

/// Qid type: directory.
pub const QT_DIR: u8 = 0x80;
/// Qid type: append-only file.
pub const QT_APPEND: u8 = 0x40;
/// Qid type: symbolic link.
pub const QT_SYMLINK: u8 = 0x02;
/// Qid type: plain file (and everything else).
pub const QT_FILE: u8 = 0x00;

impl Qid {
    /// Whether the qid names a directory.
    pub fn is_dir(&self) -> bool {
        self.ty & QT_DIR != 0
    }
    /// Whether the qid names a symbolic link.
    pub fn is_symlink(&self) -> bool {
        self.ty & QT_SYMLINK != 0
    }
}

impl fmt::Debug for Qid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Qid(ty={:#x}, v={}, path={})", self.ty, self.version, self.path)
    }
}

/// A bounded cursor over an untrusted input buffer.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// Takes exactly `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if n > self.buf.len() {
            return Err(WireError::Truncated);
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// Reads a `u8`.
    pub fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.array::<1>()?[0])
    }
    /// Reads a little-endian `u16`.
    pub fn u16(&mut self) -> Result<u16, WireError> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    /// Reads a little-endian `u32`.
    pub fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    /// Reads a little-endian `u64`.
    pub fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// Reads a string `len[2] bytes[len]` as raw bytes (file names are
    /// arbitrary byte strings on Linux).
    pub fn bytes_str(&mut self) -> Result<Vec<u8>, WireError> {
        let n = self.u16()? as usize;
        Ok(self.take(n)?.to_vec())
    }

    /// Reads a string `len[2] bytes[len]` that must be UTF-8.
    pub fn utf8_str(&mut self) -> Result<String, WireError> {
        let n = self.u16()? as usize;
        let b = self.take(n)?;
        std::str::from_utf8(b).map(str::to_owned).map_err(|_| WireError::NotUtf8)
    }

    /// Reads `count[4] data[count]`.
    pub fn data(&mut self) -> Result<&'a [u8], WireError> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    /// Reads a qid.
    pub fn qid(&mut self) -> Result<Qid, WireError> {
        Ok(Qid { ty: self.u8()?, version: self.u32()?, path: self.u64()? })
    }

    /// Fails unless all input was consumed.
    pub fn finish(&self) -> Result<(), WireError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(WireError::Trailing(self.buf.len()))
        }
    }
}

/// An append-only little-endian encoder.
#[derive(Debug)]
pub struct Writer<'a> {
    buf: &'a mut Vec<u8>,
}

impl<'a> Writer<'a> {
    /// A writer appending to `buf`.
    pub fn new(buf: &'a mut Vec<u8>) -> Self {
        Writer { buf }
    }
    /// Appends a `u8`.
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    /// Appends a little-endian `u16`.
    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// Appends a little-endian `u32`.
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// Appends a little-endian `u64`.
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// Appends a string `len[2] bytes`; fails if longer than 65535 bytes.
    pub fn str(&mut self, s: &[u8]) -> Result<(), WireError> {
        let n = u16::try_from(s.len()).map_err(|_| WireError::TooLarge)?;
        self.u16(n);
        self.buf.extend_from_slice(s);
        Ok(())
    }
    /// Appends `count[4] data`.
    pub fn data(&mut self, d: &[u8]) -> Result<(), WireError> {
        let n = u32::try_from(d.len()).map_err(|_| WireError::TooLarge)?;
        self.u32(n);
        self.buf.extend_from_slice(d);
        Ok(())
    }
    /// Appends a qid.
    pub fn qid(&mut self, q: &Qid) {
        self.u8(q.ty);
        self.u32(q.version);
        self.u64(q.path);
    }
}

/// Encoded size of a string field holding `s`.
pub fn str_size(s: &[u8]) -> usize {
    2 + s.len()
}

/// A parsed frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Total frame size including the header.
    pub size: u32,
    /// Message type number.
    pub ty: u8,
    /// Request tag.
    pub tag: u16,
}

/// Parses a frame header from its 7 bytes, checking that the size is at
/// least a header and at most `max_size`.
pub fn parse_header(b: &[u8; HEADER_SIZE], max_size: u32) -> Result<Header, WireError> {
    let size = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    if (size as usize) < HEADER_SIZE || size > max_size {
        return Err(WireError::BadSize(size));
    }
    Ok(Header { size, ty: b[4], tag: u16::from_le_bytes([b[5], b[6]]) })
}

/// Splits a complete frame (`size[4] type[1] tag[2] body`) into header and
/// body, checking that the size field matches the buffer length exactly.
pub fn split_frame(frame: &[u8], max_size: u32) -> Result<(Header, &[u8]), WireError> {
    if frame.len() < HEADER_SIZE {
        return Err(WireError::Truncated);
    }
    let mut h = [0u8; HEADER_SIZE];
    h.copy_from_slice(&frame[..HEADER_SIZE]);
    let hdr = parse_header(&h, max_size)?;
    if hdr.size as usize != frame.len() {
        return Err(WireError::BadSize(hdr.size));
    }
    Ok((hdr, &frame[HEADER_SIZE..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primitives_round_trip() {
        let mut v = Vec::new();
        let mut w = Writer::new(&mut v);
        w.u8(1);
        w.u16(0x0203);
        w.u32(0x04050607);
        w.u64(0x08090a0b0c0d0e0f);
        w.str(b"hi").unwrap();
        w.qid(&Qid { ty: QT_DIR, version: 3, path: 99 });
        assert_eq!(&v[..3], &[1, 3, 2]);
        let mut r = Reader::new(&v);
        assert_eq!(r.u8().unwrap(), 1);
        assert_eq!(r.u16().unwrap(), 0x0203);
        assert_eq!(r.u32().unwrap(), 0x04050607);
        assert_eq!(r.u64().unwrap(), 0x08090a0b0c0d0e0f);
        assert_eq!(r.utf8_str().unwrap(), "hi");
        assert_eq!(r.qid().unwrap(), Qid { ty: QT_DIR, version: 3, path: 99 });
        r.finish().unwrap();
    }

    #[test]
    fn truncation_and_lengths_are_checked() {
        // A string claiming 65535 bytes with only 2 present.
        let mut r = Reader::new(&[0xff, 0xff, b'a', b'b']);
        assert_eq!(r.bytes_str(), Err(WireError::Truncated));
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff]);
        assert_eq!(r.data(), Err(WireError::Truncated));
        let mut r = Reader::new(&[1, 0, 0xff]);
        assert_eq!(r.utf8_str(), Err(WireError::NotUtf8));
        assert_eq!(parse_header(&[6, 0, 0, 0, 100, 0, 0], 8192), Err(WireError::BadSize(6)));
        assert_eq!(parse_header(&[0, 0x40, 0, 0, 100, 0, 0], 8192), Err(WireError::BadSize(0x4000)));
    }
}
