//! Application register state: general registers and the XSAVE area.

use std::sync::OnceLock;

/// General registers, in the layout of Linux's `struct user_regs_struct`
/// (what `PTRACE_GETREGS` uses), FS and GS bases included.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Regs {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub rbp: u64,
    pub rbx: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rax: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub orig_rax: u64,
    pub rip: u64,
    pub cs: u64,
    pub eflags: u64,
    pub rsp: u64,
    pub ss: u64,
    pub fs_base: u64,
    pub gs_base: u64,
    pub ds: u64,
    pub es: u64,
    pub fs: u64,
    pub gs: u64,
}

/// User code segment selector on x86-64 Linux.
pub const USER_CS: u64 = 0x33;
/// User data/stack segment selector on x86-64 Linux.
pub const USER_SS: u64 = 0x2b;
/// RFLAGS for fresh user code: IF set, plus the always-one bit 1.
pub const INITIAL_RFLAGS: u64 = 0x202;

impl Regs {
    /// Registers of a fresh thread starting at `rip` with stack `rsp`.
    pub fn new_user(rip: u64, rsp: u64) -> Regs {
        Regs { rip, rsp, cs: USER_CS, ss: USER_SS, eflags: INITIAL_RFLAGS, orig_rax: u64::MAX, ..Regs::default() }
    }

    /// The system call number of an [`crate::Exit::Syscall`].
    pub fn syscall_nr(&self) -> u64 {
        self.orig_rax
    }

    /// The six system call arguments, in ABI order.
    pub fn syscall_args(&self) -> [u64; 6] {
        [self.rdi, self.rsi, self.rdx, self.r10, self.r8, self.r9]
    }
}

/// Size in bytes of the XSAVE area the host kernel exchanges for a thread
/// (`NT_X86_XSTATE`). Platforms may correct the CPUID-derived value once at
/// start-up with [`set_xsave_size`], before any [`FpState`] exists.
pub fn xsave_size() -> usize {
    *XSAVE_SIZE.get_or_init(cpuid_xsave_size)
}

/// Records the XSAVE size the host kernel actually uses. Returns false if a
/// different size was already in use.
pub fn set_xsave_size(size: usize) -> bool {
    XSAVE_SIZE.get_or_init(|| size) == &size
}

static XSAVE_SIZE: OnceLock<usize> = OnceLock::new();

fn cpuid_xsave_size() -> usize {
    // Leaf 0xD sub-leaf 0 EBX: XSAVE area size for the features in XCR0.
    let ebx = std::arch::x86_64::__cpuid_count(0xd, 0).ebx as usize;
    ebx.max(LEGACY_AREA + XSAVE_HEADER)
}

const LEGACY_AREA: usize = 512;
const XSAVE_HEADER: usize = 64;
const FCW_OFFSET: usize = 0;
const MXCSR_OFFSET: usize = 24;
const XSTATE_BV_OFFSET: usize = LEGACY_AREA;

/// The x87/SSE/AVX state of a thread, as an uncompacted XSAVE area.
#[derive(Clone, PartialEq, Eq)]
pub struct FpState {
    bytes: Vec<u8>,
}

impl FpState {
    /// The state a new process starts with: x87 control word 0x37f, MXCSR
    /// 0x1f80, every register zero.
    pub fn initial() -> FpState {
        let mut bytes = vec![0u8; xsave_size()];
        bytes[FCW_OFFSET..FCW_OFFSET + 2].copy_from_slice(&0x37fu16.to_le_bytes());
        bytes[MXCSR_OFFSET..MXCSR_OFFSET + 4].copy_from_slice(&0x1f80u32.to_le_bytes());
        // x87 and SSE state present (the values above), the rest in its
        // initial configuration.
        bytes[XSTATE_BV_OFFSET..XSTATE_BV_OFFSET + 8].copy_from_slice(&3u64.to_le_bytes());
        FpState { bytes }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn as_bytes_mut(&mut self) -> &mut [u8] {
        &mut self.bytes
    }

    /// The MXCSR register.
    pub fn mxcsr(&self) -> u32 {
        u32::from_le_bytes(self.bytes[MXCSR_OFFSET..MXCSR_OFFSET + 4].try_into().expect("4 bytes"))
    }

    /// XMM register `n` (0..16), little-endian bytes.
    pub fn xmm(&self, n: usize) -> [u8; 16] {
        let off = 160 + 16 * n;
        self.bytes[off..off + 16].try_into().expect("16 bytes")
    }

    /// Sets XMM register `n` (0..16) and marks SSE state present.
    pub fn set_xmm(&mut self, n: usize, value: [u8; 16]) {
        let off = 160 + 16 * n;
        self.bytes[off..off + 16].copy_from_slice(&value);
        self.bytes[XSTATE_BV_OFFSET] |= 2;
    }
}

impl std::fmt::Debug for FpState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FpState").field("size", &self.bytes.len()).field("mxcsr", &self.mxcsr()).finish()
    }
}

/// Everything a context switch carries in and out: the general registers
/// (always exchanged) and the FP state (exchanged lazily).
///
/// FP state lives where the application last ran. The Sentry's copy in
/// `CpuState` is only *current* after [`crate::Context::pull_fp`]; changing it
/// through [`CpuState::fp_mut`] or [`CpuState::set_fp`] marks it modified, and
/// the next switch loads it into the application.
#[derive(Debug)]
pub struct CpuState {
    pub regs: Regs,
    fp: FpState,
    fp_current: bool,
    fp_modified: bool,
}

impl CpuState {
    /// A fresh thread at `rip` with stack `rsp` and initial FP state.
    pub fn new(rip: u64, rsp: u64) -> CpuState {
        CpuState { regs: Regs::new_user(rip, rsp), fp: FpState::initial(), fp_current: true, fp_modified: true }
    }

    /// The FP state, if the Sentry's copy is current.
    pub fn fp(&self) -> Option<&FpState> {
        self.fp_current.then_some(&self.fp)
    }

    /// The FP state for changing, if the Sentry's copy is current.
    pub fn fp_mut(&mut self) -> Option<&mut FpState> {
        if !self.fp_current {
            return None;
        }
        self.fp_modified = true;
        Some(&mut self.fp)
    }

    /// Replaces the FP state (for example with [`FpState::initial`] on exec).
    pub fn set_fp(&mut self, fp: FpState) {
        self.fp = fp;
        self.fp_current = true;
        self.fp_modified = true;
    }

    /// A copy for a new thread or process (fork/clone). The FP state must be
    /// current (call `pull_fp` first); returns `None` otherwise.
    pub fn fork(&self) -> Option<CpuState> {
        self.fp_current.then(|| CpuState { regs: self.regs, fp: self.fp.clone(), fp_current: true, fp_modified: true })
    }

    // Platform-side bookkeeping.

    pub(crate) fn fp_is_current(&self) -> bool {
        self.fp_current
    }
    pub(crate) fn fp_is_modified(&self) -> bool {
        self.fp_modified
    }
    /// The platform loaded the Sentry's copy into the application.
    pub(crate) fn fp_pushed(&mut self) {
        self.fp_modified = false;
    }
    /// The application ran: the Sentry's copy may be stale.
    pub(crate) fn fp_ran(&mut self) {
        if !self.fp_modified {
            self.fp_current = false;
        }
    }
    /// Buffer the platform fills from the application; marks it current.
    pub(crate) fn fp_pull_buffer(&mut self) -> &mut [u8] {
        self.fp_current = true;
        self.fp.as_bytes_mut()
    }
    /// The platform saved the application's state here and the application's
    /// own copy was clobbered: the next switch must load it back.
    pub(crate) fn fp_mark_must_push(&mut self) {
        self.fp_current = true;
        self.fp_modified = true;
    }
    pub(crate) fn fp_raw(&self) -> &[u8] {
        self.fp.as_bytes()
    }
}
