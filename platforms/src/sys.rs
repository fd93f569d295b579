//! Thin wrappers over the host system calls the platforms use. All of the
//! crate's raw libc calls outside the ptrace and stub modules live here.

use std::ffi::CString;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use crate::PlatformError;

fn check(op: &'static str, ret: libc::c_long) -> Result<libc::c_long, PlatformError> {
    if ret < 0 {
        Err(PlatformError::last_os(op))
    } else {
        Ok(ret)
    }
}

pub fn memfd_create(name: &str) -> Result<OwnedFd, PlatformError> {
    let name = CString::new(name).expect("no NUL in memfd name");
    // SAFETY: `name` is a valid C string; the kernel copies it.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    check("memfd_create", fd as libc::c_long)?;
    // SAFETY: `fd` was just returned by the kernel and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub fn ftruncate(fd: RawFd, len: u64) -> Result<(), PlatformError> {
    // SAFETY: plain system call on a descriptor we own.
    check("ftruncate", unsafe { libc::ftruncate(fd, len as libc::off_t) } as libc::c_long).map(drop)
}

pub fn punch_hole(fd: RawFd, offset: u64, len: u64) -> Result<(), PlatformError> {
    // SAFETY: plain system call; no memory is passed.
    let r = unsafe {
        libc::fallocate(
            fd,
            libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
            offset as libc::off_t,
            len as libc::off_t,
        )
    };
    check("fallocate(PUNCH_HOLE)", r as libc::c_long).map(drop)
}

pub fn tgkill(tgid: i32, tid: i32, sig: i32) -> Result<(), PlatformError> {
    // SAFETY: sends a signal; no memory is passed.
    check("tgkill", unsafe { libc::syscall(libc::SYS_tgkill, tgid, tid, sig) }).map(drop)
}

pub fn gettid() -> i32 {
    // SAFETY: gettid cannot fail.
    unsafe { libc::gettid() }
}

pub fn getpid() -> i32 {
    // SAFETY: getpid cannot fail.
    unsafe { libc::getpid() }
}

/// The CPU the calling thread runs on right now.
pub fn current_cpu() -> i32 {
    // SAFETY: sched_getcpu has no arguments.
    unsafe { libc::sched_getcpu() }
}

/// Restricts host thread `tid` to `cpu`.
pub fn pin_to_cpu(tid: i32, cpu: i32) -> Result<(), PlatformError> {
    // SAFETY: cpu_set_t is plain data; CPU_SET writes inside it.
    let r = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu as usize, &mut set);
        libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    check("sched_setaffinity", r as libc::c_long).map(drop)
}

/// A private mapping made by the Sentry in its own address space, unmapped
/// on drop.
pub struct Mapping {
    ptr: *mut u8,
    len: u64,
}

// SAFETY: the mapping is plain memory; all access goes through raw pointers
// with the synchronisation documented at each use.
unsafe impl Send for Mapping {}
// SAFETY: as above.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps `len` bytes of `fd` shared, read-write, without reserving swap.
    pub fn shared(fd: RawFd, len: u64) -> Result<Mapping, PlatformError> {
        // SAFETY: a fresh mapping at an address the kernel picks; it aliases
        // nothing in Rust's view.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_NORESERVE,
                fd,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(PlatformError::last_os("mmap(memory file)"));
        }
        Ok(Mapping { ptr: ptr.cast(), len })
    }

    pub fn ptr(&self) -> *mut u8 {
        self.ptr
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: we own this mapping and nothing refers to it any more.
        unsafe { libc::munmap(self.ptr.cast(), self.len as usize) };
    }
}

/// Maps one read-write anonymous page at `preferred`, or the first free page
/// below it in 1 GiB steps, without disturbing existing mappings.
pub fn map_stub_page(preferred: u64) -> Result<(Mapping, u64), PlatformError> {
    let mut addr = preferred;
    for _ in 0..1024 {
        // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing mapping, so
        // this cannot alias memory Rust knows about.
        let ptr = unsafe {
            libc::mmap(
                addr as *mut libc::c_void,
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
                -1,
                0,
            )
        };
        if ptr != libc::MAP_FAILED {
            return Ok((Mapping { ptr: ptr.cast(), len: 4096 }, addr));
        }
        addr -= 1 << 30;
    }
    Err(PlatformError::last_os("mmap(stub page)"))
}

/// Copies `code` into the stub page and makes it read-only and executable.
pub fn fill_stub_page(page: &Mapping, code: &[u8]) -> Result<(), PlatformError> {
    assert!(code.len() as u64 <= page.len);
    // SAFETY: the page is ours, writable, and at least `code.len()` long.
    unsafe { std::ptr::copy_nonoverlapping(code.as_ptr(), page.ptr, code.len()) };
    // SAFETY: changes protection of our own page only.
    let r = unsafe { libc::mprotect(page.ptr.cast(), page.len as usize, libc::PROT_READ | libc::PROT_EXEC) };
    check("mprotect(stub page)", r as libc::c_long).map(drop)
}

extern "C" {
    /// glibc (2.35+): offset of the thread's rseq area from the thread
    /// pointer, and its registered size (0 when rseq is not in use).
    static __rseq_offset: isize;
    static __rseq_size: u32;
}

/// Address and size of the calling thread's registered rseq area (size 0
/// when glibc did not register one).
pub fn rseq_area() -> (u64, u64) {
    // SAFETY: glibc defines both symbols as constants set at start-up.
    let (offset, size) = unsafe { (__rseq_offset, __rseq_size) };
    if size == 0 {
        return (0, 0);
    }
    let tp: u64;
    // SAFETY: on x86-64 the first word of the TCB at fs:0 is the thread
    // pointer itself.
    unsafe { core::arch::asm!("mov {}, fs:0", out(reg) tp, options(nostack, readonly, preserves_flags)) };
    // The registered length is at least the original 32-byte ABI size.
    (tp.wrapping_add(offset as u64), u64::from(size.max(32)))
}
