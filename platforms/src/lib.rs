//! The platform seam of rvisor.
//!
//! The Sentry runs untrusted application code through a [`Platform`]. A
//! platform creates [`AddressSpace`]s (into which ranges of the one
//! [`MemoryFile`] are mapped) and [`Context`]s (which run application code on
//! behalf of one Sentry thread until it makes a system call, faults, receives a
//! signal, or is interrupted). Two implementations are planned: [`ptrace`]
//! (stub processes driven with `PTRACE_SYSEMU`) and KVM. Callers only see the
//! traits here, so the platform is chosen at run time.
//!
//! Application system calls are never executed by the host: a platform only
//! *reports* them ([`Exit::Syscall`]); the Sentry implements them.

pub mod cpu;
pub mod error;
pub mod memory;
pub mod ptrace;
mod sys;

use std::any::Any;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;

pub use cpu::{CpuState, FpState, Regs};
pub use error::PlatformError;
pub use memory::{FileRange, MemoryFile};

/// Size of a page on x86-64.
pub const PAGE_SIZE: u64 = 4096;

/// Memory permissions of a mapping, or the kind of an access that faulted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Perms {
    pub read: bool,
    pub write: bool,
    pub execute: bool,
}

impl Perms {
    pub const NONE: Perms = Perms { read: false, write: false, execute: false };
    pub const R: Perms = Perms { read: true, write: false, execute: false };
    pub const RW: Perms = Perms { read: true, write: true, execute: false };
    pub const RX: Perms = Perms { read: true, write: false, execute: true };
    pub const RWX: Perms = Perms { read: true, write: true, execute: true };

    /// Linux `PROT_*` bits for these permissions.
    pub fn to_prot(self) -> i32 {
        let mut prot = libc::PROT_NONE;
        if self.read {
            prot |= libc::PROT_READ;
        }
        if self.write {
            prot |= libc::PROT_WRITE;
        }
        if self.execute {
            prot |= libc::PROT_EXEC;
        }
        prot
    }

    /// Permissions from Linux `PROT_*` bits (unknown bits ignored).
    pub fn from_prot(prot: i32) -> Perms {
        Perms {
            read: prot & libc::PROT_READ != 0,
            write: prot & libc::PROT_WRITE != 0,
            execute: prot & libc::PROT_EXEC != 0,
        }
    }

    /// Whether every permission in `other` is also in `self`.
    pub fn contains(self, other: Perms) -> bool {
        (self.read || !other.read) && (self.write || !other.write) && (self.execute || !other.execute)
    }
}

/// The Linux `siginfo_t` of a signal the application received on the host
/// (always 128 bytes). Only the fields the Sentry needs have accessors.
#[derive(Clone, Copy)]
#[repr(C)]
pub struct SigInfo {
    pub raw: [u8; 128],
}

impl SigInfo {
    pub fn zeroed() -> SigInfo {
        SigInfo { raw: [0; 128] }
    }
    fn i32_at(&self, off: usize) -> i32 {
        i32::from_ne_bytes(self.raw[off..off + 4].try_into().expect("4 bytes"))
    }
    /// `si_signo`.
    pub fn signo(&self) -> i32 {
        self.i32_at(0)
    }
    /// `si_errno`.
    pub fn errno(&self) -> i32 {
        self.i32_at(4)
    }
    /// `si_code`.
    pub fn code(&self) -> i32 {
        self.i32_at(8)
    }
    /// `si_addr` (meaningful for SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP).
    pub fn addr(&self) -> u64 {
        u64::from_ne_bytes(self.raw[16..24].try_into().expect("8 bytes"))
    }
    /// Builds a siginfo with the given number, code and fault address.
    pub fn new_fault(signo: i32, code: i32, addr: u64) -> SigInfo {
        let mut s = SigInfo::zeroed();
        s.raw[0..4].copy_from_slice(&signo.to_ne_bytes());
        s.raw[8..12].copy_from_slice(&code.to_ne_bytes());
        s.raw[16..24].copy_from_slice(&addr.to_ne_bytes());
        s
    }
}

impl std::fmt::Debug for SigInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigInfo")
            .field("signo", &self.signo())
            .field("code", &self.code())
            .field("addr", &format_args!("{:#x}", self.addr()))
            .finish()
    }
}

/// Why a [`Context::switch`] returned to the Sentry.
#[derive(Clone, Copy, Debug)]
pub enum Exit {
    /// The application executed `syscall`. The number is in `regs.orig_rax`
    /// (and `regs.rax`), the arguments in rdi, rsi, rdx, r10, r8, r9, and
    /// `regs.rip` already points after the instruction. The Sentry puts the
    /// result in `regs.rax` before switching back.
    Syscall,
    /// A page fault: the application touched `addr` with an access of kind
    /// `access` that the address space does not allow. `info` is the host's
    /// SIGSEGV/SIGBUS siginfo, for the Sentry to forward if it cannot resolve
    /// the fault. `regs.rip` points at the faulting instruction.
    Fault { addr: u64, access: Perms, info: SigInfo },
    /// Any other synchronous signal the application caused (SIGILL, SIGFPE,
    /// SIGTRAP, SIGSEGV from a general-protection fault, ...).
    Signal(SigInfo),
    /// Another thread called [`Interrupter::interrupt`].
    Interrupted,
}

/// A platform: the way application code is run and its memory mapped.
pub trait Platform: Send + Sync {
    /// Short name, as given to `--platform`.
    fn name(&self) -> &'static str;

    /// The memory file all application memory comes from.
    fn memory_file(&self) -> &Arc<MemoryFile>;

    /// Lowest address an application may map.
    fn min_user_address(&self) -> u64;

    /// First address an application may not map: `[min, max)` is usable.
    fn max_user_address(&self) -> u64;

    /// Creates a new, empty address space.
    fn new_address_space(&self) -> Result<Arc<dyn AddressSpace>, PlatformError>;

    /// Creates an execution context bound to the calling thread. The context
    /// must only be used (switched, dropped) on the thread that created it.
    fn new_context(&self) -> Result<Box<dyn Context>, PlatformError>;
}

/// An application address space: which parts of the memory file are visible
/// at which addresses with which permissions.
pub trait AddressSpace: Send + Sync {
    /// Maps `len` bytes of the memory file at `offset` to `addr` with `perms`,
    /// replacing whatever was mapped there. All three must be page-aligned.
    fn map_file(&self, addr: u64, len: u64, offset: u64, perms: Perms) -> Result<(), PlatformError>;

    /// Changes the permissions of the mapped pages in `[addr, addr+len)`.
    fn protect(&self, addr: u64, len: u64, perms: Perms) -> Result<(), PlatformError>;

    /// Removes any mapping in `[addr, addr+len)`.
    fn unmap(&self, addr: u64, len: u64) -> Result<(), PlatformError>;

    /// For platform implementations to recover their concrete type.
    fn as_any(&self) -> &dyn Any;
}

/// Runs application code for one Sentry thread.
pub trait Context {
    /// Runs the application with register state `cpu` in `address_space`
    /// until it needs the Sentry. On return `cpu` holds the application's
    /// registers at that point (FP state: see [`CpuState`]).
    fn switch(&mut self, address_space: &Arc<dyn AddressSpace>, cpu: &mut CpuState) -> Result<Exit, PlatformError>;

    /// Makes `cpu.fp` current (reads the FP/SSE/AVX state back from where the
    /// application last ran), so the Sentry can inspect or save it.
    fn pull_fp(&mut self, cpu: &mut CpuState) -> Result<(), PlatformError>;

    /// A handle other threads use to interrupt this context.
    fn interrupter(&self) -> Arc<Interrupter>;

    /// For platform implementations and tests to recover the concrete type.
    fn as_any(&self) -> &dyn Any;
}

/// Interrupts a context from another thread: a running [`Context::switch`]
/// returns [`Exit::Interrupted`] promptly; if the context is not running, its
/// next switch returns it at once. Interrupts do not queue: several before a
/// switch count as one.
#[derive(Debug)]
pub struct Interrupter {
    pending: AtomicBool,
    /// Host signal that kicks the running thread out of application code.
    kick_signal: i32,
    /// Host thread group and thread that currently run application code for
    /// the context (0 when none).
    running_tgid: AtomicI32,
    running_tid: AtomicI32,
}

impl Interrupter {
    /// An interrupter that kicks running application code with `kick_signal`.
    pub fn new(kick_signal: i32) -> Interrupter {
        Interrupter {
            pending: AtomicBool::new(false),
            kick_signal,
            running_tgid: AtomicI32::new(0),
            running_tid: AtomicI32::new(0),
        }
    }

    /// Requests that the context return to the Sentry.
    pub fn interrupt(&self) {
        self.pending.store(true, Ordering::SeqCst);
        let tgid = self.running_tgid.load(Ordering::SeqCst);
        let tid = self.running_tid.load(Ordering::SeqCst);
        if tid != 0 {
            // A stale target only costs a spurious stop, which the switch
            // loop ignores when no interrupt is pending.
            let _ = sys::tgkill(tgid, tid, self.kick_signal);
        }
    }

    /// Takes a pending interrupt, if any.
    pub fn take(&self) -> bool {
        self.pending.swap(false, Ordering::SeqCst)
    }

    /// Whether an interrupt is pending (without taking it).
    pub fn is_pending(&self) -> bool {
        self.pending.load(Ordering::SeqCst)
    }

    pub(crate) fn set_running(&self, tgid: i32, tid: i32) {
        self.running_tgid.store(tgid, Ordering::SeqCst);
        self.running_tid.store(tid, Ordering::SeqCst);
    }
}

/// The platforms this build offers, by `--platform` name.
pub fn by_name(name: &str, memory: Arc<MemoryFile>) -> Result<Arc<dyn Platform>, PlatformError> {
    match name {
        "ptrace" => Ok(Arc::new(ptrace::Ptrace::new(memory)?)),
        other => Err(PlatformError::UnknownPlatform(other.to_string())),
    }
}
