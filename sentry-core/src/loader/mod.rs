//! Loading programs into an [`MM`] and building the initial stack.
//!
//! [`load_program`] (in [`exec`]) is what `execve` and the start of the
//! container's init do: resolve the file, follow `#!` interpreters, map an
//! ELF executable and, if it names one in `PT_INTERP`, its dynamic linker,
//! then build the initial stack. This module holds the pieces it uses:
//! [`map_image`] maps the `PT_LOAD` segments of one ELF file and
//! [`setup_stack`] writes arguments, environment and the auxiliary vector.
//!
//! Segments are mapped privately from the file's pages (copy-on-write), the
//! bss is anonymous memory. Where an image goes follows Linux: an `ET_EXEC`
//! file at its link addresses, a position-independent executable at
//! [`arch::ELF_ET_DYN_BASE`], and an `ET_DYN` interpreter wherever an `mmap`
//! without an address would go (top-down below the stack, see
//! [`set_mmap_layout`]).

pub mod elf;
pub mod exec;

use std::sync::Arc;

use platforms::{Perms, PAGE_SIZE};

use crate::arch::{self, auxv::*};
use crate::errno::Errno;
use crate::mm::{page_down, page_up, Mappable, MmapOpts, VmaKind, MM};
use elf::{ElfFile, PF_R, PF_W, PF_X, PT_LOAD, PT_PHDR};

pub use exec::{load_program, LoadedProgram, ProgramSpec};

/// Where an image ended up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadedImage {
    /// Entry point (after relocation).
    pub entry: u64,
    /// Address of the program headers in memory (`AT_PHDR`).
    pub phdr: u64,
    pub phnum: u64,
    /// Load bias (0 for `ET_EXEC`).
    pub bias: u64,
    /// First page after the image: the start of the brk heap.
    pub end: u64,
}

/// An executable file to load: its size, a reader and its pages.
pub struct Executable<'a> {
    pub size: u64,
    pub read: elf::ReadAt<'a>,
    pub mappable: Arc<dyn Mappable>,
    /// The file's path (names its mappings in `/proc/[pid]/maps`).
    pub name: Option<Arc<str>>,
}

fn perms_of(flags: u32) -> Perms {
    Perms { read: flags & PF_R != 0, write: flags & PF_W != 0, execute: flags & PF_X != 0 }
}

/// Where [`map_image`] puts a position-independent (`ET_DYN`) image;
/// `ET_EXEC` images always go to their link addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// The program itself: at [`arch::ELF_ET_DYN_BASE`], aligned to its
    /// largest segment alignment.
    Program,
    /// The dynamic linker: where `mmap` without an address hint would put
    /// a mapping of the image's size (Linux maps the interpreter with a
    /// plain `mmap`, so it lands top-down in the mmap area).
    Mmap,
}

/// Maps the `PT_LOAD` segments of `elf`, placed as `place` says.
pub fn map_image(mm: &MM, elf: &ElfFile, exe: &Executable, place: Placement) -> Result<LoadedImage, Errno> {
    let loads: Vec<_> = elf.phdrs.iter().filter(|p| p.p_type == PT_LOAD).collect();
    let lo = loads.iter().map(|p| page_down(p.vaddr)).min().ok_or(Errno::ENOEXEC)?;
    let hi = loads.iter().map(|p| p.vaddr + p.memsz).max().ok_or(Errno::ENOEXEC)?;
    let hi = page_up(hi).ok_or(Errno::ENOEXEC)?;
    let bias = match (elf.e_type, place) {
        (elf::ET_DYN, Placement::Program) => {
            let align = loads.iter().map(|p| p.align).max().unwrap_or(PAGE_SIZE).clamp(PAGE_SIZE, 1 << 30);
            let align = if align.is_power_of_two() { align } else { PAGE_SIZE };
            (arch::ELF_ET_DYN_BASE.div_ceil(align) * align).checked_sub(lo).ok_or(Errno::ENOEXEC)?
        }
        (elf::ET_DYN, Placement::Mmap) => {
            // Find the place by reserving the whole span, then give it back:
            // the segments are mapped over it with fixed addresses below, and
            // the holes between them stay unmapped, as in Linux.
            let base = mm.mmap(MmapOpts::anon(hi - lo, Perms::NONE))?;
            mm.munmap(base, hi - lo)?;
            base.checked_sub(lo).ok_or(Errno::ENOEXEC)?
        }
        _ => 0,
    };
    let (lo_b, hi_b) = (lo.checked_add(bias).ok_or(Errno::ENOEXEC)?, hi.checked_add(bias).ok_or(Errno::ENOEXEC)?);
    if lo_b < mm.min_addr() || hi_b > mm.max_addr() {
        return Err(Errno::ENOEXEC);
    }
    for p in &loads {
        let perms = perms_of(p.flags);
        let start = page_down(bias + p.vaddr);
        let file_end = bias + p.vaddr + p.filesz;
        let mem_end = page_up(bias + p.vaddr + p.memsz).ok_or(Errno::ENOEXEC)?;
        let mut anon_start = start;
        if p.filesz > 0 {
            let len = page_up(file_end).ok_or(Errno::ENOEXEC)? - start;
            mm.mmap(MmapOpts {
                addr: start,
                fixed: true,
                backing: Some(exe.mappable.clone()),
                offset: page_down(p.offset),
                name: exe.name.clone(),
                ..MmapOpts::anon(len, perms)
            })?;
            anon_start = start + len;
            // The rest of the last file page belongs to the bss.
            if p.memsz > p.filesz && file_end % PAGE_SIZE != 0 {
                let n = (PAGE_SIZE - file_end % PAGE_SIZE) as usize;
                mm.zero_force(file_end, n)?;
            }
        }
        if mem_end > anon_start {
            mm.mmap(MmapOpts { addr: anon_start, fixed: true, ..MmapOpts::anon(mem_end - anon_start, perms) })?;
        }
    }
    let phdr = match elf.phdrs.iter().find(|p| p.p_type == PT_PHDR) {
        Some(p) => bias + p.vaddr,
        None => loads
            .iter()
            .find(|p| p.offset <= elf.phoff && elf.phoff < p.offset + p.filesz)
            .map(|p| bias + p.vaddr + (elf.phoff - p.offset))
            .unwrap_or(0),
    };
    Ok(LoadedImage { entry: elf.entry.wrapping_add(bias), phdr, phnum: elf.phnum as u64, bias, end: hi_b })
}

/// What goes on the initial stack.
pub struct StackSpec<'a> {
    pub argv: &'a [String],
    pub envp: &'a [String],
    /// `AT_EXECFN`: the path the program was executed as.
    pub execfn: &'a str,
    pub image: &'a LoadedImage,
    /// `AT_BASE`: the interpreter's load address (0 without one).
    pub interp_base: u64,
    pub uid: u32,
    pub gid: u32,
    /// `AT_RANDOM` bytes.
    pub random: [u8; 16],
}

/// Most bytes of arguments and environment (Linux: a quarter of the stack
/// limit).
pub const MAX_ARG_BYTES: usize = (arch::DEFAULT_STACK_SIZE / 4) as usize;

/// The main thread's stack, `[bottom, top)`, below the top of the user
/// range.
fn stack_range(mm: &MM) -> (u64, u64) {
    let top = page_down(mm.max_addr().saturating_sub(arch::STACK_TOP_GAP));
    (top.saturating_sub(arch::DEFAULT_STACK_SIZE), top)
}

/// Sets where `mmap` without an address starts allocating (top-down): a gap
/// below the stack. Called before any image is mapped, so that the
/// interpreter lands where later mappings would, as in Linux.
pub fn set_mmap_layout(mm: &MM) {
    let (bottom, _) = stack_range(mm);
    mm.set_mmap_top(bottom.saturating_sub(arch::MMAP_STACK_GAP));
}

/// Maps the main thread's stack below the top of the user range, fills it
/// as the x86-64 ABI requires and returns the initial `rsp` (16-byte
/// aligned, pointing at `argc`).
pub fn setup_stack(mm: &MM, spec: &StackSpec) -> Result<u64, Errno> {
    let (bottom, top) = stack_range(mm);
    mm.mmap(MmapOpts { addr: bottom, fixed: true, kind: VmaKind::Stack, ..MmapOpts::anon(top - bottom, Perms::RW) })?;
    set_mmap_layout(mm);

    // Strings, from the top down: execfn, envp, argv, platform, random.
    // As Linux, the last string goes highest, so that the argument strings
    // and then the environment strings read in order upwards
    // (`/proc/[pid]/cmdline` and `environ` are those ranges).
    let mut area: Vec<u8> = Vec::new();
    let mut offsets = Vec::new(); // offset of each string from the top, downwards
    let push = |area: &mut Vec<u8>, s: &[u8]| -> usize {
        // `area` is built reversed: prepend by pushing reversed bytes.
        area.push(0);
        area.extend(s.iter().rev());
        area.len()
    };
    // Leave 8 bytes of zero at the very top, as Linux does.
    area.extend_from_slice(&[0u8; 8]);
    let execfn_off = push(&mut area, spec.execfn.as_bytes());
    for s in spec.envp.iter().rev() {
        offsets.push(push(&mut area, s.as_bytes()));
    }
    offsets.reverse();
    let mut arg_offsets = Vec::new();
    for s in spec.argv.iter().rev() {
        arg_offsets.push(push(&mut area, s.as_bytes()));
    }
    arg_offsets.reverse();
    offsets.extend(arg_offsets);
    let platform_off = push(&mut area, b"x86_64");
    area.extend(spec.random.iter().rev());
    let random_off = area.len();
    if area.len() > MAX_ARG_BYTES {
        return Err(Errno::E2BIG);
    }
    let addr_of = |off: usize| top - off as u64;
    let (env_offs, arg_offs) = offsets.split_at(spec.envp.len());

    let auxv: Vec<(u64, u64)> = vec![
        (AT_HWCAP, arch::hwcap()),
        (AT_PAGESZ, PAGE_SIZE),
        (AT_CLKTCK, arch::CLOCK_TICKS),
        (AT_PHDR, spec.image.phdr),
        (AT_PHENT, 56),
        (AT_PHNUM, spec.image.phnum),
        (AT_BASE, spec.interp_base),
        (AT_FLAGS, 0),
        (AT_ENTRY, spec.image.entry),
        (AT_UID, spec.uid as u64),
        (AT_EUID, spec.uid as u64),
        (AT_GID, spec.gid as u64),
        (AT_EGID, spec.gid as u64),
        (AT_SECURE, 0),
        (AT_RANDOM, addr_of(random_off)),
        (AT_HWCAP2, 0),
        (AT_EXECFN, addr_of(execfn_off)),
        (AT_PLATFORM, addr_of(platform_off)),
        (AT_NULL, 0),
    ];
    let mut words: Vec<u64> = vec![spec.argv.len() as u64];
    words.extend(arg_offs.iter().map(|&o| addr_of(o)));
    words.push(0);
    words.extend(env_offs.iter().map(|&o| addr_of(o)));
    words.push(0);
    for (k, v) in auxv {
        words.push(k);
        words.push(v);
    }
    let strings_bottom = top - area.len() as u64;
    let sp = (strings_bottom - 8 * words.len() as u64) & !(arch::STACK_ALIGN - 1);
    area.reverse();
    mm.copy_out(strings_bottom, &area)?;
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    mm.copy_out(sp, &bytes)?;
    Ok(sp)
}

#[cfg(test)]
mod tests;
