//! The loading half of `execve`: from a path to an address space ready to
//! run.
//!
//! [`load_program`] does what Linux's `bprm_execve` does with the two binary
//! formats the Sentry supports, in the same order and with the same errors:
//!
//! 1. Open the file as `open_exec` does: walk the path (following symbolic
//!    links) from the caller's root and working directory; the result must
//!    be a regular file with an execute bit the caller may use (`EACCES`
//!    otherwise, also for directories).
//! 2. Read its first [`BINPRM_BUF_SIZE`] bytes. A file starting with `#!`
//!    is a script (binfmt_script): the interpreter named on that line, its
//!    optional single argument and the script's path replace `argv[0]`, and
//!    the interpreter is opened and examined in turn. Linux allows
//!    [`MAX_REWRITES`] such rewrites, then fails with `ELOOP`.
//! 3. Anything else must be an ELF executable (binfmt_elf), else `ENOEXEC`.
//!    Its segments are mapped ([`map_image`]). If it has a `PT_INTERP`
//!    header, the dynamic linker named there is opened the same way, from
//!    the sandbox's own file system (the Sentry never opens host files for
//!    the application), and mapped where an `mmap` without an address would
//!    go. Execution then starts at the linker's entry point; `AT_BASE` is
//!    its load bias, while `AT_ENTRY`, `AT_PHDR` and `AT_PHNUM` describe the
//!    program, which is how the linker finds it.
//! 4. Build the initial stack ([`setup_stack`]).
//!
//! Errors leave the MM partly filled. Callers load into a fresh MM and
//! discard it on error, which is also what makes a failed `execve` harmless
//! to the calling process.

use std::sync::Arc;

use super::{elf, map_image, set_mmap_layout, setup_stack, Executable, LoadedImage, Placement, StackSpec};
use crate::errno::Errno;
use crate::mm::MM;
use crate::vfs::path::walk;
use crate::vfs::{flags, Dentry, File, FileType, Inode, IoCtx, LookupFlags};

/// Bytes of a file examined to recognise its format, and the most of a
/// `#!` line that counts (Linux's `BINPRM_BUF_SIZE`).
pub const BINPRM_BUF_SIZE: usize = 256;

/// Most `#!` rewrites before `ELOOP`. Linux's `exec_binprm` stops when a
/// seventh file would be examined (`depth > 5`), so five scripts may chain
/// to a binary and a sixth is refused.
pub const MAX_REWRITES: usize = 5;

/// Longest `comm` (`TASK_COMM_LEN` less the NUL).
pub const MAX_COMM: usize = 15;

/// What to load.
pub struct ProgramSpec<'a> {
    /// The caller's root directory: absolute paths (in the program, in a
    /// `#!` line and in `PT_INTERP`) start here.
    pub root: &'a Arc<Dentry>,
    /// The caller's working directory: relative paths start here.
    pub cwd: &'a Arc<Dentry>,
    /// The path to execute, as given.
    pub path: &'a str,
    pub argv: Vec<String>,
    pub envp: Vec<String>,
    /// Effective user and group, for the execute permission check and the
    /// auxiliary vector.
    pub uid: u32,
    pub gid: u32,
}

/// A program loaded into an MM, ready to start.
#[derive(Clone)]
pub struct LoadedProgram {
    /// Where execution starts: the dynamic linker's entry point if there is
    /// one, else the program's.
    pub entry: u64,
    /// The initial stack pointer (pointing at `argc`).
    pub sp: u64,
    /// The path as given (`AT_EXECFN`).
    pub execfn: String,
    /// The thread name Linux gives the new image: the last component of the
    /// path as given (a script's name, not its interpreter's), at most
    /// [`MAX_COMM`] bytes.
    pub comm: Vec<u8>,
    /// The binary that runs (after `#!` rewrites; not the dynamic linker),
    /// for `/proc/self/exe`.
    pub exe: Arc<Dentry>,
}

/// Loads the program `spec.path` into `mm` (which should be empty) and
/// builds its initial stack. See the module documentation.
pub fn load_program(mm: &MM, spec: ProgramSpec) -> Result<LoadedProgram, Errno> {
    let mut argv = spec.argv;
    if argv.is_empty() {
        // Linux runs a program given no arguments with a single empty one,
        // so that argv[0] always exists.
        argv.push(String::new());
    }
    let open = |path: &str| ExecFile::open(spec.root, spec.cwd, path, spec.uid, spec.gid);

    // `#!` rewrites. `name` is what the next script's interpreter gets as
    // the script's path (Linux's `bprm->interp`).
    let mut name = spec.path.to_string();
    let mut file = open(&name)?;
    let mut rewrites = 0;
    let file = loop {
        // As in Linux, the limit is checked before examining a file, after
        // opening it: a missing interpreter one level too deep is ENOENT.
        if rewrites > MAX_REWRITES {
            return Err(Errno::ELOOP);
        }
        let Some(script) = parse_shebang(&file.head()?)? else { break file };
        rewrites += 1;
        let mut front = vec![script.interp.clone()];
        front.extend(script.arg);
        front.push(name);
        argv.splice(0..1, front);
        name = script.interp;
        // The kernel-internal lookup of an empty name (a file holding just
        // "#!") finds the working directory, which is not executable.
        file = open(if name.is_empty() { "." } else { &name })?;
    };

    set_mmap_layout(mm);
    let (elf, image) = file.map(mm, Placement::Program)?;
    mm.set_brk_start(image.end);
    let (entry, interp_base) = match &elf.interp {
        None => (image.entry, 0),
        Some(path) => {
            let (_, ld) = open(path)?.map(mm, Placement::Mmap).map_err(|e| {
                // A broken dynamic linker is the library's fault, not the
                // program's.
                if e == Errno::ENOEXEC {
                    Errno::ELIBBAD
                } else {
                    e
                }
            })?;
            (ld.entry, ld.bias)
        }
    };

    let mut random = [0u8; 16];
    crate::fs::dev::fill_random(&mut random)?;
    let sp = setup_stack(
        mm,
        &StackSpec {
            argv: &argv,
            envp: &spec.envp,
            execfn: spec.path,
            image: &image,
            interp_base,
            uid: spec.uid,
            gid: spec.gid,
            random,
        },
    )?;
    let comm = spec.path.rsplit('/').next().unwrap_or("").bytes().take(MAX_COMM).collect();
    Ok(LoadedProgram { entry, sp, execfn: spec.path.to_string(), comm, exe: file.dentry })
}

/// Whether a caller with effective ids `uid`/`gid` may execute `inode`, as
/// `open_exec` checks it: only regular files; root needs any execute bit,
/// others the one of their class (owner, group, other, the first that
/// applies).
fn may_exec(inode: &Arc<dyn Inode>, uid: u32, gid: u32) -> Result<(), Errno> {
    if inode.file_type() != FileType::Regular {
        return Err(Errno::EACCES);
    }
    let st = inode.stat();
    let allowed = if uid == 0 {
        st.mode & 0o111 != 0
    } else if st.uid == uid {
        st.mode & 0o100 != 0
    } else if st.gid == gid {
        st.mode & 0o010 != 0
    } else {
        st.mode & 0o001 != 0
    };
    if allowed {
        Ok(())
    } else {
        Err(Errno::EACCES)
    }
}

/// A file opened for execution.
struct ExecFile {
    dentry: Arc<Dentry>,
    file: File,
    size: u64,
}

impl ExecFile {
    /// Opens `path` for execution (see [`may_exec`]).
    fn open(root: &Arc<Dentry>, cwd: &Arc<Dentry>, path: &str, uid: u32, gid: u32) -> Result<ExecFile, Errno> {
        let dentry = walk(root, cwd, path, LookupFlags::FOLLOW)?;
        may_exec(dentry.inode(), uid, gid)?;
        let size = dentry.inode().stat().size;
        let file = File::open(dentry.clone(), flags::O_RDONLY)?;
        Ok(ExecFile { dentry, file, size })
    }

    /// Reads at `off` until `buf` is full or the file ends; returns the
    /// number of bytes read.
    fn read_at(&self, off: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        let ctx = IoCtx::internal();
        let mut done = 0;
        while done < buf.len() {
            let at = off.checked_add(done as u64).ok_or(Errno::EIO)?;
            let n = self.file.ops().read(&ctx, at, &mut buf[done..])?;
            if n == 0 {
                break;
            }
            done += n;
        }
        Ok(done)
    }

    /// The first [`BINPRM_BUF_SIZE`] bytes, zero-padded if the file is
    /// shorter.
    fn head(&self) -> Result<[u8; BINPRM_BUF_SIZE], Errno> {
        let mut buf = [0u8; BINPRM_BUF_SIZE];
        self.read_at(0, &mut buf)?;
        Ok(buf)
    }

    /// Parses the file as ELF and maps its segments into `mm`.
    fn map(&self, mm: &MM, place: Placement) -> Result<(elf::ElfFile, LoadedImage), Errno> {
        let read = |off: u64, buf: &mut [u8]| -> Result<(), Errno> {
            if self.read_at(off, buf)? != buf.len() {
                return Err(Errno::ENOEXEC);
            }
            Ok(())
        };
        let elf = elf::parse(self.size, &read)?;
        let mappable = self.file.ops().mappable().ok_or(Errno::ENOEXEC)?;
        let name = Some(Arc::from(self.dentry.path().as_str()));
        let image = map_image(mm, &elf, &Executable { size: self.size, read: &read, mappable, name }, place)?;
        Ok((elf, image))
    }
}

/// The `#!` line of a script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shebang {
    /// The interpreter's path.
    pub interp: String,
    /// Everything after the interpreter's name, blanks trimmed at both ends,
    /// as one argument; `None` if there is nothing.
    pub arg: Option<String>,
}

/// Parses the `#!` line at the start of `head` (the first
/// [`BINPRM_BUF_SIZE`] bytes of a file, zero-padded) the way Linux's
/// binfmt_script does. `Ok(None)` if the file is not a script.
///
/// Only spaces and tabs separate words. The line ends at the first newline;
/// without one within the buffer, the line is accepted only if the
/// interpreter's name visibly ends in it (a blank or NUL follows it), and
/// the argument is cut short: Linux never runs a truncated interpreter
/// path but does pass a truncated argument. A NUL ends the interpreter's
/// name (and the argument, if it comes after one). Names and arguments
/// that are not UTF-8 are refused (`ENOENT`, `ENOEXEC`): the VFS and argv
/// are strings.
pub fn parse_shebang(head: &[u8; BINPRM_BUF_SIZE]) -> Result<Option<Shebang>, Errno> {
    if !head.starts_with(b"#!") {
        return Ok(None);
    }
    let blank = |c: u8| c == b' ' || c == b'\t';
    let last = BINPRM_BUF_SIZE - 1;
    // `end`: one past the line; the byte there is overwritten with a NUL,
    // as Linux does (so without a newline the buffer's last byte is lost).
    let mut end = match head.iter().position(|&c| c == b'\n') {
        Some(newline) => newline,
        None => {
            let name = (2..=last).find(|&i| !blank(head[i])).ok_or(Errno::ENOEXEC)?;
            if !head[name..].iter().any(|&c| blank(c) || c == 0) {
                // The interpreter's name may go on past the buffer.
                return Err(Errno::ENOEXEC);
            }
            last
        }
    };
    // head[1] is '!', so this stops at 2 at the latest.
    while blank(head[end - 1]) {
        end -= 1;
    }
    let name = (2..end).find(|&i| !blank(head[i])).ok_or(Errno::ENOEXEC)?;
    let sep = (name..=end).find(|&i| blank(head[i]) || head[i] == 0);
    let arg = sep.filter(|&s| head[s] != 0).and_then(|s| (s..=end).find(|&i| !blank(head[i])));

    let mut line = *head;
    line[end] = 0;
    if let (Some(s), Some(_)) = (sep, arg) {
        line[s] = 0;
    }
    let c_str = |from: usize| {
        let len = line[from..].iter().position(|&c| c == 0).unwrap_or(line.len() - from);
        &line[from..from + len]
    };
    let interp = String::from_utf8(c_str(name).to_vec()).map_err(|_| Errno::ENOENT)?;
    let arg = match arg {
        Some(a) => Some(String::from_utf8(c_str(a).to_vec()).map_err(|_| Errno::ENOEXEC)?),
        None => None,
    };
    Ok(Some(Shebang { interp, arg }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &[u8]) -> Result<Option<Shebang>, Errno> {
        let mut head = [0u8; BINPRM_BUF_SIZE];
        let n = line.len().min(BINPRM_BUF_SIZE);
        head[..n].copy_from_slice(&line[..n]);
        parse_shebang(&head)
    }

    fn script(interp: &str, arg: Option<&str>) -> Result<Option<Shebang>, Errno> {
        Ok(Some(Shebang { interp: interp.into(), arg: arg.map(str::to_string) }))
    }

    #[test]
    fn shebang_lines_split_like_linux() {
        assert_eq!(parse(b"#!/bin/sh\necho hi\n"), script("/bin/sh", None));
        assert_eq!(parse(b"#! \t/bin/sh  \t\n"), script("/bin/sh", None));
        // One argument: everything after the name, blanks trimmed.
        assert_eq!(parse(b"#!/usr/bin/env  -S a  b \n"), script("/usr/bin/env", Some("-S a  b")));
        assert_eq!(parse(b"#!/bin/sh\t-e\n"), script("/bin/sh", Some("-e")));
        // No newline in a short file: the zero padding ends the line.
        assert_eq!(parse(b"#!/bin/sh -x"), script("/bin/sh", Some("-x")));
        // A NUL ends the name (the rest is ignored) or the argument.
        assert_eq!(parse(b"#!/bin/sh\0junk\n"), script("/bin/sh", None));
        assert_eq!(parse(b"#!/bin/sh a\0b\n"), script("/bin/sh", Some("a")));
        // Carriage returns are not blanks.
        assert_eq!(parse(b"#!/bin/sh\r\n"), script("/bin/sh\r", None));
        // Not scripts.
        assert_eq!(parse(b"\x7fELF"), Ok(None));
        assert_eq!(parse(b"# !/bin/sh\n"), Ok(None));
        assert_eq!(parse(b""), Ok(None));
    }

    #[test]
    fn empty_and_truncated_shebang_lines_are_refused() {
        assert_eq!(parse(b"#!\n"), Err(Errno::ENOEXEC));
        assert_eq!(parse(b"#!  \t \n/bin/sh\n"), Err(Errno::ENOEXEC));
        // The NUL padding is a (empty) name: Linux then opens "", which is
        // the working directory, and fails with EACCES.
        assert_eq!(parse(b"#!"), script("", None));
        let mut all_blank = b"#!".to_vec();
        all_blank.resize(BINPRM_BUF_SIZE, b' ');
        assert_eq!(parse(&all_blank), Err(Errno::ENOEXEC));
        // An interpreter name running past the buffer.
        let mut long = b"#!/".to_vec();
        long.resize(400, b'a');
        assert_eq!(parse(&long), Err(Errno::ENOEXEC));
        // A complete name with an argument running past the buffer: the
        // argument is cut before the buffer's last byte.
        let mut long_arg = b"#!/bin/sh ".to_vec();
        long_arg.resize(400, b'x');
        let want = "x".repeat(BINPRM_BUF_SIZE - 1 - 10);
        assert_eq!(parse(&long_arg), script("/bin/sh", Some(&want)));
        // A newline at the last byte of the buffer counts.
        let mut exact = b"#!/bin/sh ".to_vec();
        exact.resize(BINPRM_BUF_SIZE - 1, b'y');
        exact.push(b'\n');
        assert_eq!(parse(&exact), script("/bin/sh", Some(&"y".repeat(BINPRM_BUF_SIZE - 11))));
    }

    #[test]
    fn garbage_never_panics() {
        let mut seed = 0x1234_5678_9abc_def0u64;
        for _ in 0..2000 {
            let mut head = [0u8; BINPRM_BUF_SIZE];
            head[0] = b'#';
            head[1] = b'!';
            for b in head[2..].iter_mut() {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                // Mostly blanks, NULs, newlines and letters.
                *b = b" \t\0\na/\xff"[(seed % 7) as usize];
            }
            let _ = parse_shebang(&head);
        }
    }
}
