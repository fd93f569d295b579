//! [`load_program`] on synthetic files in a tmpfs, with an address space
//! that maps nothing: what ends up in the MM and on the stack, and which
//! errno each kind of bad file gives.

use std::any::Any;
use std::sync::Arc;

use platforms::{AddressSpace, MemoryFile, Perms, PlatformError, PAGE_SIZE};

use super::elf::{ET_DYN, ET_EXEC, PF_R, PF_X, PT_INTERP, PT_LOAD};
use super::*;
use crate::fs::tmpfs::{Tmpfs, TmpfsInode};
use crate::vfs::{Creds, Dentry, FileType, Inode};

/// Memory is reached through the memory file; nothing needs mapping.
struct NoSpace;

impl AddressSpace for NoSpace {
    fn map_file(&self, _: u64, _: u64, _: u64, _: Perms) -> Result<(), PlatformError> {
        Ok(())
    }
    fn protect(&self, _: u64, _: u64, _: Perms) -> Result<(), PlatformError> {
        Ok(())
    }
    fn unmap(&self, _: u64, _: u64) -> Result<(), PlatformError> {
        Ok(())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

const USER_END: u64 = 0x7fff_ffff_f000;

struct Fs {
    mf: Arc<MemoryFile>,
    root: Arc<Dentry>,
}

impl Fs {
    fn new() -> Fs {
        let mf = Arc::new(MemoryFile::new(64 << 20).unwrap());
        let root = Dentry::root(Tmpfs::new_root(mf.clone(), 1));
        Fs { mf, root }
    }

    fn mm(&self) -> MM {
        MM::new(Arc::new(NoSpace), self.mf.clone(), 0x10000, USER_END)
    }

    /// Creates or replaces regular file `path`, owned by root.
    fn file(&self, path: &str, data: &[u8], mode: u32) {
        let (dir, name) = path.rsplit_once('/').unwrap();
        let parent = self.dir(dir);
        let inode = match parent.inode().lookup(name) {
            Ok(i) => i,
            Err(_) => parent.inode().create(name, FileType::Regular, mode, Creds::default()).unwrap(),
        };
        let t = inode.as_any().downcast_ref::<TmpfsInode>().unwrap();
        t.set_contents(data).unwrap();
        t.set_mode(mode).unwrap();
    }

    fn dir(&self, path: &str) -> Arc<Dentry> {
        let mut cur = self.root.clone();
        for c in path.split('/').filter(|c| !c.is_empty()) {
            let inode = match cur.inode().lookup(c) {
                Ok(i) => i,
                Err(_) => cur.inode().create(c, FileType::Directory, 0o755, Creds::default()).unwrap(),
            };
            cur = Dentry::child(&cur, c, inode);
        }
        cur
    }

    fn load_as(&self, mm: &MM, path: &str, argv: &[&str], uid: u32) -> Result<LoadedProgram, Errno> {
        load_program(
            mm,
            ProgramSpec {
                root: &self.root,
                cwd: &self.root,
                path,
                argv: argv.iter().map(|s| s.to_string()).collect(),
                envp: vec!["A=b".into()],
                uid,
                gid: uid,
            },
        )
    }

    fn load(&self, path: &str, argv: &[&str]) -> Result<(MM, LoadedProgram), Errno> {
        let mm = self.mm();
        let p = self.load_as(&mm, path, argv, 0)?;
        Ok((mm, p))
    }
}

/// A minimal x86-64 ELF file: headers, an optional `PT_INTERP`, one
/// `PT_LOAD` mapping the whole file at `vaddr` with a page of bss, and the
/// entry point 16 bytes into the code after the headers.
fn elf(e_type: u16, vaddr: u64, interp: Option<&str>) -> Vec<u8> {
    let phnum = 1 + interp.is_some() as usize;
    let interp_off = 64 + 56 * phnum;
    let mut f = vec![0u8; interp_off];
    if let Some(i) = interp {
        f.extend_from_slice(i.as_bytes());
        f.push(0);
    }
    let code = f.len() as u64;
    f.resize(f.len() + 64, 0x90);
    f[..4].copy_from_slice(b"\x7fELF");
    (f[4], f[5], f[6]) = (2, 1, 1);
    f[16..18].copy_from_slice(&e_type.to_le_bytes());
    f[18..20].copy_from_slice(&elf::EM_X86_64.to_le_bytes());
    f[24..32].copy_from_slice(&(vaddr + code + 16).to_le_bytes());
    f[32..40].copy_from_slice(&64u64.to_le_bytes());
    f[54..56].copy_from_slice(&56u16.to_le_bytes());
    f[56..58].copy_from_slice(&(phnum as u16).to_le_bytes());
    let len = f.len() as u64;
    let mut put_phdr = |i: usize, ty: u32, flags: u32, off: u64, va: u64, filesz: u64, memsz: u64| {
        let p = 64 + 56 * i;
        f[p..p + 4].copy_from_slice(&ty.to_le_bytes());
        f[p + 4..p + 8].copy_from_slice(&flags.to_le_bytes());
        f[p + 8..p + 16].copy_from_slice(&off.to_le_bytes());
        f[p + 16..p + 24].copy_from_slice(&va.to_le_bytes());
        f[p + 32..p + 40].copy_from_slice(&filesz.to_le_bytes());
        f[p + 40..p + 48].copy_from_slice(&memsz.to_le_bytes());
        f[p + 48..p + 56].copy_from_slice(&PAGE_SIZE.to_le_bytes());
    };
    if let Some(i) = interp {
        let n = i.len() as u64 + 1;
        put_phdr(0, PT_INTERP, PF_R, interp_off as u64, vaddr + interp_off as u64, n, n);
    }
    put_phdr(phnum - 1, PT_LOAD, PF_R | PF_X, 0, vaddr, len, len + PAGE_SIZE);
    f
}

/// What the initial stack holds.
#[derive(Debug)]
struct Stack {
    argv: Vec<String>,
    auxv: Vec<(u64, u64)>,
}

impl Stack {
    fn read(mm: &MM, sp: u64) -> Stack {
        let string = |addr: u64| String::from_utf8(mm.copy_in_string(addr, 4096).unwrap()).unwrap();
        let argc = mm.read_u64(sp).unwrap();
        let argv = (0..argc).map(|i| string(mm.read_u64(sp + 8 + 8 * i).unwrap())).collect();
        let mut p = sp + 8 + 8 * (argc + 1);
        while mm.read_u64(p).unwrap() != 0 {
            p += 8;
        }
        p += 8;
        let mut auxv = Vec::new();
        loop {
            let (k, v) = (mm.read_u64(p).unwrap(), mm.read_u64(p + 8).unwrap());
            auxv.push((k, v));
            if k == AT_NULL {
                break;
            }
            p += 16;
        }
        Stack { argv, auxv }
    }

    fn aux(&self, key: u64) -> u64 {
        self.auxv.iter().find(|(k, _)| *k == key).map(|(_, v)| *v).unwrap()
    }
}

#[test]
fn a_static_executable_starts_at_its_entry_without_interpreter() {
    let fs = Fs::new();
    fs.file("/prog", &elf(ET_EXEC, 0x40_0000, None), 0o755);
    let (mm, p) = fs.load("/prog", &["prog", "x"]).unwrap();
    let code = 64 + 56;
    assert_eq!(p.entry, 0x40_0000 + code + 16);
    assert_eq!((p.execfn.as_str(), p.comm.as_slice()), ("/prog", &b"prog"[..]));
    assert_eq!(p.exe.path(), "/prog");
    let st = Stack::read(&mm, p.sp);
    assert_eq!(st.argv, ["prog", "x"]);
    assert_eq!(st.aux(AT_BASE), 0);
    assert_eq!(st.aux(AT_ENTRY), p.entry);
    assert_eq!(st.aux(AT_PHDR), 0x40_0000 + 64);
    assert_eq!(st.aux(AT_PHNUM), 1);
    assert_eq!(p.sp % 16, 0);
}

#[test]
fn an_interpreter_is_mapped_like_an_mmap_and_runs_first() {
    let fs = Fs::new();
    fs.dir("/lib");
    fs.file("/lib/ld.so", &elf(ET_DYN, 0, None), 0o755);
    fs.dir("/usr/lib");
    fs.file("/usr/lib/ld-real.so", &elf(ET_DYN, 0, None), 0o755);
    fs.file("/prog", &elf(ET_EXEC, 0x40_0000, Some("/lib/ld.so")), 0o755);
    let (mm, p) = fs.load("/prog", &["prog"]).unwrap();
    let st = Stack::read(&mm, p.sp);
    let base = st.aux(AT_BASE);
    let code = 64 + 56 + 56 + "/lib/ld.so".len() as u64 + 1;
    assert_eq!(st.aux(AT_ENTRY), 0x40_0000 + code + 16, "AT_ENTRY is the program's");
    assert_eq!(st.aux(AT_PHDR), 0x40_0000 + 64);
    assert_eq!(st.aux(AT_PHNUM), 2);
    assert_eq!(p.entry, base + 64 + 56 + 16, "execution starts in the interpreter");
    assert_eq!(base % PAGE_SIZE, 0);
    // Below the stack and its gap, where the next mmap would go.
    let stack = mm.vmas().into_iter().find(|v| v.kind == crate::mm::VmaKind::Stack).unwrap();
    assert!(base + 2 * PAGE_SIZE <= stack.start - arch::MMAP_STACK_GAP, "{base:#x} {stack:?}");
    let next = mm.mmap(crate::mm::MmapOpts::anon(PAGE_SIZE, Perms::RW)).unwrap();
    assert_eq!(next, base - PAGE_SIZE, "the interpreter sits at the top of the mmap area");
    // The interpreter's pages are the file's.
    assert_eq!(mm.copy_in_vec(base, 4).unwrap(), b"\x7fELF");
    assert_eq!(p.exe.path(), "/prog", "/proc/self/exe is the program, not the interpreter");

    // A PIE program goes to ELF_ET_DYN_BASE; an interpreter reached
    // through a symbolic link works.
    fs.root.inode().symlink("ld-link.so", "/usr/lib/ld-real.so", Creds::default()).unwrap();
    fs.file("/pie", &elf(ET_DYN, 0, Some("/ld-link.so")), 0o755);
    let (mm, p) = fs.load("/pie", &["pie"]).unwrap();
    let st = Stack::read(&mm, p.sp);
    assert_eq!(st.aux(AT_ENTRY), arch::ELF_ET_DYN_BASE + 64 + 112 + "/ld-link.so".len() as u64 + 1 + 16);
    assert_ne!(st.aux(AT_BASE), 0);
    assert_eq!(p.entry, st.aux(AT_BASE) + 64 + 56 + 16);
}

#[test]
fn interpreter_problems_have_linux_errnos() {
    let fs = Fs::new();
    fs.file("/missing", &elf(ET_EXEC, 0x40_0000, Some("/nope.so")), 0o755);
    assert_eq!(fs.load("/missing", &[]).err(), Some(Errno::ENOENT));
    fs.file("/garbage.so", b"\x7fELF but not really an ELF file, just some bytes to be long enough....", 0o755);
    fs.file("/garbage", &elf(ET_EXEC, 0x40_0000, Some("/garbage.so")), 0o755);
    assert_eq!(fs.load("/garbage", &[]).err(), Some(Errno::ELIBBAD));
    fs.file("/noexec.so", &elf(ET_DYN, 0, None), 0o644);
    fs.file("/noexec", &elf(ET_EXEC, 0x40_0000, Some("/noexec.so")), 0o755);
    assert_eq!(fs.load("/noexec", &[]).err(), Some(Errno::EACCES));
}

#[test]
fn scripts_rewrite_argv_like_linux() {
    let fs = Fs::new();
    fs.dir("/bin");
    fs.file("/bin/interp", &elf(ET_EXEC, 0x40_0000, None), 0o755);
    fs.file("/s1", b"#!/bin/interp -a  b \nbody\n", 0o755);
    fs.file("/s2", b"#! /s1\n", 0o755);
    let (mm, p) = fs.load("/s2", &["two", "x", "y"]).unwrap();
    let st = Stack::read(&mm, p.sp);
    assert_eq!(st.argv, ["/bin/interp", "-a  b", "/s1", "/s2", "x", "y"]);
    assert_eq!(p.execfn, "/s2");
    assert_eq!(p.comm, b"s2", "comm names the script that was executed");
    assert_eq!(p.exe.path(), "/bin/interp");
    assert_eq!(mm.copy_in_string(st.aux(AT_EXECFN), 100).unwrap(), b"/s2");

    // Relative paths, and no argv at all (Linux supplies an empty argv[0],
    // which the script's path replaces).
    let mm = fs.mm();
    let p = load_program(
        &mm,
        ProgramSpec { root: &fs.root, cwd: &fs.dir("/bin"), path: "../s1", argv: vec![], envp: vec![], uid: 0, gid: 0 },
    )
    .unwrap();
    assert_eq!(Stack::read(&mm, p.sp).argv, ["/bin/interp", "-a  b", "../s1"]);
}

#[test]
fn five_script_levels_work_and_a_sixth_is_eloop() {
    let fs = Fs::new();
    fs.file("/bin", &elf(ET_EXEC, 0x40_0000, None), 0o755);
    fs.file("/s0", b"#!/bin\n", 0o755);
    for i in 1..=6 {
        fs.file(&format!("/s{i}"), format!("#!/s{}\n", i - 1).as_bytes(), 0o755);
    }
    let (mm, p) = fs.load("/s4", &["s4"]).unwrap();
    assert_eq!(Stack::read(&mm, p.sp).argv, ["/bin", "/s0", "/s1", "/s2", "/s3", "/s4"]);
    assert_eq!(fs.load("/s5", &["s5"]).err(), Some(Errno::ELOOP));
    assert_eq!(fs.load("/s6", &["s6"]).err(), Some(Errno::ELOOP));
    // The seventh file is opened before the limit applies.
    fs.file("/m0", b"#!/missing\n", 0o755);
    for i in 1..=5 {
        fs.file(&format!("/m{i}"), format!("#!/m{}\n", i - 1).as_bytes(), 0o755);
    }
    assert_eq!(fs.load("/m5", &[]).err(), Some(Errno::ENOENT));
    // A script interpreting itself.
    fs.file("/self", b"#!/self\n", 0o755);
    assert_eq!(fs.load("/self", &[]).err(), Some(Errno::ELOOP));
}

#[test]
fn files_that_cannot_be_executed_have_linux_errnos() {
    let fs = Fs::new();
    fs.dir("/dir");
    fs.file("/plain", &elf(ET_EXEC, 0x40_0000, None), 0o644);
    fs.file("/text", b"hello\n", 0o755);
    fs.file("/empty", b"", 0o755);
    fs.file("/hashbang-only", b"#!", 0o755);
    fs.file("/no-interp", b"#!/nowhere\n", 0o755);
    fs.file("/interp-dir", b"#!/dir\n", 0o755);
    fs.file("/blank", b"#!   \n", 0o755);
    for (path, want) in [
        ("/absent", Errno::ENOENT),
        ("/dir", Errno::EACCES),
        ("/plain", Errno::EACCES),
        ("/text", Errno::ENOEXEC),
        ("/empty", Errno::ENOEXEC),
        ("/hashbang-only", Errno::EACCES),
        ("/no-interp", Errno::ENOENT),
        ("/interp-dir", Errno::EACCES),
        ("/blank", Errno::ENOEXEC),
        ("/text/x", Errno::ENOTDIR),
    ] {
        assert_eq!(fs.load(path, &["x"]).err(), Some(want), "{path}");
    }
}

#[test]
fn execute_permission_follows_the_callers_class() {
    let fs = Fs::new();
    let prog = elf(ET_EXEC, 0x40_0000, None);
    // Owned by root:root.
    fs.file("/other-x", &prog, 0o701);
    fs.file("/owner-x", &prog, 0o744);
    fs.file("/group-x", &prog, 0o754);
    let mm = fs.mm();
    assert!(fs.load_as(&mm, "/other-x", &[], 1000).is_ok());
    assert_eq!(fs.load_as(&fs.mm(), "/owner-x", &[], 1000).err(), Some(Errno::EACCES));
    assert_eq!(fs.load_as(&fs.mm(), "/group-x", &[], 1000).err(), Some(Errno::EACCES));
    // Root needs one execute bit, any.
    assert!(fs.load_as(&fs.mm(), "/owner-x", &[], 0).is_ok());
    assert!(fs.load_as(&fs.mm(), "/group-x", &[], 0).is_ok());
}

#[test]
fn garbage_and_truncated_elf_files_are_enoexec_never_a_panic() {
    let fs = Fs::new();
    let good = elf(ET_DYN, 0, Some("/ld.so"));
    fs.file("/ld.so", &elf(ET_DYN, 0, None), 0o755);
    for n in 0..good.len() {
        fs.file("/t", &good[..n], 0o755);
        assert_eq!(fs.load("/t", &[]).err(), Some(Errno::ENOEXEC), "truncated to {n}");
    }
    // Random changes to the headers: any outcome but a panic. Interpreter
    // problems are ELIBBAD, a mangled interpreter path ENOENT.
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let header_len = 64 + 2 * 56 + 8;
    let ld = elf(ET_DYN, 0, None);
    for round in 0..400 {
        // Even rounds mangle the program, odd rounds its interpreter.
        let mut f = if round % 2 == 0 { good.clone() } else { ld.clone() };
        for _ in 0..1 + rand() % 4 {
            let i = (rand() % header_len as u64) as usize % f.len();
            f[i] = if rand() % 3 == 0 { 0xff } else { rand() as u8 };
        }
        let (prog, interp) = if round % 2 == 0 { (&f, &ld) } else { (&good, &f) };
        fs.file("/t", prog, 0o755);
        fs.file("/ld.so", interp, 0o755);
        let _ = fs.load("/t", &["t"]);
    }
}
