//! ELF64 parsing, bounds-checked: the file comes from the application.

use crate::errno::Errno;

pub const ET_EXEC: u16 = 2;
pub const ET_DYN: u16 = 3;
pub const EM_X86_64: u16 = 62;
pub const PT_LOAD: u32 = 1;
pub const PT_INTERP: u32 = 3;
pub const PT_PHDR: u32 = 6;
pub const PT_GNU_STACK: u32 = 0x6474_e551;
pub const PF_X: u32 = 1;
pub const PF_W: u32 = 2;
pub const PF_R: u32 = 4;

/// Reads exactly `buf.len()` bytes at an offset of the file, or fails.
pub type ReadAt<'a> = &'a dyn Fn(u64, &mut [u8]) -> Result<(), Errno>;

const EHDR_SIZE: usize = 64;
const PHDR_SIZE: usize = 56;
/// Most program headers accepted (Linux: 64 KiB of headers).
const MAX_PHNUM: usize = 65536 / PHDR_SIZE;
/// Longest interpreter path.
const MAX_INTERP: u64 = 4096;

/// One program header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Phdr {
    pub p_type: u32,
    pub flags: u32,
    pub offset: u64,
    pub vaddr: u64,
    pub filesz: u64,
    pub memsz: u64,
    pub align: u64,
}

/// What the loader needs from an ELF file.
#[derive(Clone, Debug)]
pub struct ElfFile {
    pub e_type: u16,
    pub entry: u64,
    pub phoff: u64,
    pub phnum: u16,
    pub phdrs: Vec<Phdr>,
    /// `PT_INTERP`: the dynamic linker's path.
    pub interp: Option<String>,
}

fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}
fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}
fn u64_at(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[off..off + 8]);
    u64::from_le_bytes(a)
}

/// Parses an ELF file of `size` bytes read through `read(offset, buf)`
/// (which must fill `buf` or fail). `ENOEXEC` for anything malformed.
pub fn parse(size: u64, read: ReadAt) -> Result<ElfFile, Errno> {
    if size < EHDR_SIZE as u64 {
        return Err(Errno::ENOEXEC);
    }
    let mut h = [0u8; EHDR_SIZE];
    read(0, &mut h)?;
    if &h[0..4] != b"\x7fELF" || h[4] != 2 || h[5] != 1 || h[6] != 1 {
        return Err(Errno::ENOEXEC);
    }
    let e_type = u16_at(&h, 16);
    if (e_type != ET_EXEC && e_type != ET_DYN) || u16_at(&h, 18) != EM_X86_64 {
        return Err(Errno::ENOEXEC);
    }
    let entry = u64_at(&h, 24);
    let phoff = u64_at(&h, 32);
    let phentsize = u16_at(&h, 54) as usize;
    let phnum = u16_at(&h, 56);
    if phentsize != PHDR_SIZE || phnum == 0 || phnum as usize > MAX_PHNUM {
        return Err(Errno::ENOEXEC);
    }
    let ph_len = phnum as u64 * PHDR_SIZE as u64;
    match phoff.checked_add(ph_len) {
        Some(end) if end <= size => {}
        _ => return Err(Errno::ENOEXEC),
    }
    let mut raw = vec![0u8; ph_len as usize];
    read(phoff, &mut raw)?;
    let mut phdrs = Vec::with_capacity(phnum as usize);
    let mut interp = None;
    for c in raw.chunks_exact(PHDR_SIZE) {
        let p = Phdr {
            p_type: u32_at(c, 0),
            flags: u32_at(c, 4),
            offset: u64_at(c, 8),
            vaddr: u64_at(c, 16),
            filesz: u64_at(c, 32),
            memsz: u64_at(c, 40),
            align: u64_at(c, 48),
        };
        match p.p_type {
            PT_LOAD => {
                let file_ok = p.offset.checked_add(p.filesz).is_some_and(|e| e <= size);
                let mem_ok = p.vaddr.checked_add(p.memsz).is_some();
                let align_ok = p.vaddr % platforms::PAGE_SIZE == p.offset % platforms::PAGE_SIZE;
                if !file_ok || !mem_ok || !align_ok || p.filesz > p.memsz {
                    return Err(Errno::ENOEXEC);
                }
            }
            PT_INTERP => {
                if interp.is_some() || p.filesz < 2 || p.filesz > MAX_INTERP {
                    return Err(Errno::ENOEXEC);
                }
                if p.offset.checked_add(p.filesz).is_none_or(|e| e > size) {
                    return Err(Errno::ENOEXEC);
                }
                let mut s = vec![0u8; p.filesz as usize];
                read(p.offset, &mut s)?;
                if s.pop() != Some(0) || s.contains(&0) {
                    return Err(Errno::ENOEXEC);
                }
                interp = Some(String::from_utf8(s).map_err(|_| Errno::ENOEXEC)?);
            }
            _ => {}
        }
        phdrs.push(p);
    }
    if !phdrs.iter().any(|p| p.p_type == PT_LOAD) {
        return Err(Errno::ENOEXEC);
    }
    Ok(ElfFile { e_type, entry, phoff, phnum, phdrs, interp })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal() -> Vec<u8> {
        let mut f = vec![0u8; 64 + 56];
        f[..4].copy_from_slice(b"\x7fELF");
        f[4] = 2;
        f[5] = 1;
        f[6] = 1;
        f[16..18].copy_from_slice(&ET_EXEC.to_le_bytes());
        f[18..20].copy_from_slice(&EM_X86_64.to_le_bytes());
        f[24..32].copy_from_slice(&0x401000u64.to_le_bytes());
        f[32..40].copy_from_slice(&64u64.to_le_bytes());
        f[54..56].copy_from_slice(&56u16.to_le_bytes());
        f[56..58].copy_from_slice(&1u16.to_le_bytes());
        let p = 64;
        f[p..p + 4].copy_from_slice(&PT_LOAD.to_le_bytes());
        f[p + 4..p + 8].copy_from_slice(&(PF_R | PF_X).to_le_bytes());
        f[p + 16..p + 24].copy_from_slice(&0x400000u64.to_le_bytes());
        f[p + 32..p + 40].copy_from_slice(&120u64.to_le_bytes());
        f[p + 40..p + 48].copy_from_slice(&0x2000u64.to_le_bytes());
        f
    }

    fn parse_bytes(f: &[u8]) -> Result<ElfFile, Errno> {
        parse(f.len() as u64, &|off, buf| {
            let s = f.get(off as usize..off as usize + buf.len()).ok_or(Errno::EIO)?;
            buf.copy_from_slice(s);
            Ok(())
        })
    }

    #[test]
    fn parses_a_minimal_executable() {
        let e = parse_bytes(&minimal()).unwrap();
        assert_eq!(e.entry, 0x401000);
        assert_eq!(e.phdrs.len(), 1);
        assert_eq!(e.phdrs[0].memsz, 0x2000);
        assert!(e.interp.is_none());
    }

    #[test]
    fn rejects_malformed_files() {
        assert_eq!(parse_bytes(b"#!/bin/sh\n").err(), Some(Errno::ENOEXEC));
        let mut f = minimal();
        f[4] = 1; // 32-bit
        assert_eq!(parse_bytes(&f).err(), Some(Errno::ENOEXEC));
        let mut f = minimal();
        f[56..58].copy_from_slice(&1000u16.to_le_bytes()); // headers past the end
        assert_eq!(parse_bytes(&f).err(), Some(Errno::ENOEXEC));
        let mut f = minimal();
        f[64 + 32..64 + 40].copy_from_slice(&u64::MAX.to_le_bytes()); // filesz overflow
        assert_eq!(parse_bytes(&f).err(), Some(Errno::ENOEXEC));
        let mut f = minimal();
        f[64 + 16..64 + 24].copy_from_slice(&(u64::MAX - 10).to_le_bytes()); // vaddr overflow
        assert_eq!(parse_bytes(&f).err(), Some(Errno::ENOEXEC));
        let mut f = minimal();
        f[64..68].copy_from_slice(&0u32.to_le_bytes()); // no PT_LOAD
        assert_eq!(parse_bytes(&f).err(), Some(Errno::ENOEXEC));
        // Every truncation is refused, none panics.
        let f = minimal();
        for n in 0..f.len() {
            assert!(parse_bytes(&f[..n]).is_err());
        }
    }
}
