//! x86-64 signal frames: what Linux pushes on the stack before running a
//! handler, and what `rt_sigreturn` restores.
//!
//! The frame (`struct rt_sigframe`) is, from the new stack pointer up:
//!
//! | offset | field |
//! |---|---|
//! | 0 | `pretcode`: the `sa_restorer` the handler returns to |
//! | 8 | `ucontext`: `uc_flags`, `uc_link`, `uc_stack` (24 bytes) |
//! | 48 | `uc_mcontext`: `struct sigcontext` (256 bytes) |
//! | 304 | `uc_sigmask` (8 bytes) |
//! | 312 | `siginfo` (128 bytes) |
//!
//! Above it, 64-byte aligned, the XSAVE image of the FP/SSE/AVX state,
//! tagged as Linux tags it (`FP_XSTATE_MAGIC1` in the software-reserved
//! bytes of the legacy area, `FP_XSTATE_MAGIC2` after the image), which is
//! what glibc and musl expect and what `rt_sigreturn` checks.

use platforms::{CpuState, FpState, SigInfo};

use crate::errno::Errno;
use crate::mm::MM;

/// Size of `struct rt_sigframe`.
pub const FRAME_SIZE: u64 = 440;
const UC_OFFSET: u64 = 8;
const MCONTEXT_OFFSET: u64 = 48;
const SIGMASK_OFFSET: u64 = 304;
const SIGINFO_OFFSET: u64 = 312;
/// Bytes below the stack pointer a leaf function may use.
const RED_ZONE: u64 = 128;

const FP_XSTATE_MAGIC1: u32 = 0x4650_5853;
const FP_XSTATE_MAGIC2: u32 = 0x4650_5845;
/// Offset of the software-reserved bytes in the legacy FXSAVE area.
const SW_RESERVED: usize = 464;
const UC_FP_XSTATE: u64 = 0x1;
const UC_SIGCONTEXT_SS: u64 = 0x2;

/// User code and stack segment selectors on x86-64 Linux.
pub const USER_CS: u64 = 0x33;
pub const USER_SS: u64 = 0x2b;

/// EFLAGS bits `rt_sigreturn` lets the application set (as Linux's
/// `FIX_EFLAGS`): CF PF AF ZF SF TF DF OF RF AC.
const FIX_EFLAGS: u64 = 0x1 | 0x4 | 0x10 | 0x40 | 0x80 | 0x100 | 0x400 | 0x800 | 0x1_0000 | 0x4_0000;

/// An alternate signal stack (`sigaltstack`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AltStack {
    pub sp: u64,
    pub flags: i32,
    pub size: u64,
}

impl AltStack {
    /// No alternate stack.
    pub const DISABLED: AltStack = AltStack { sp: 0, flags: libc::SS_DISABLE, size: 0 };

    /// Whether `sp` is on this stack.
    pub fn contains(&self, sp: u64) -> bool {
        self.flags & libc::SS_DISABLE == 0 && sp > self.sp && sp - self.sp <= self.size
    }

    /// The `ss_flags` to report for a task currently at `sp`.
    pub fn flags_at(&self, sp: u64) -> i32 {
        if self.flags & libc::SS_DISABLE != 0 {
            libc::SS_DISABLE
        } else if self.contains(sp) {
            libc::SS_ONSTACK
        } else {
            0
        }
    }
}

/// What the frame needs besides the registers.
pub struct FrameSpec<'a> {
    pub info: &'a SigInfo,
    pub handler: u64,
    pub restorer: u64,
    /// `SA_ONSTACK` was requested.
    pub on_stack: bool,
    pub alt: AltStack,
    /// The mask to restore on return.
    pub old_mask: u64,
    /// The FP state to save (current: pulled from the platform).
    pub fp: &'a FpState,
}

fn xfeatures() -> u64 {
    // CPUID leaf 0xD sub-leaf 0: EDX:EAX are the XCR0 bits XSAVE supports.
    let r = std::arch::x86_64::__cpuid_count(0xd, 0);
    (r.eax as u64) | ((r.edx as u64) << 32)
}

/// Builds a frame for a handler on the application stack (or the
/// alternate stack) and points the registers at the handler. The FP state
/// is left for the caller to reset. `EFAULT` if the stack is unwritable.
pub fn setup_frame(mm: &MM, cpu: &mut CpuState, spec: &FrameSpec) -> Result<(), Errno> {
    let regs = cpu.regs;
    let mut sp = regs.rsp.wrapping_sub(RED_ZONE);
    if spec.on_stack && spec.alt.flags & libc::SS_DISABLE == 0 && !spec.alt.contains(regs.rsp) {
        sp = spec.alt.sp.wrapping_add(spec.alt.size);
    }
    let fp_bytes = spec.fp.as_bytes();
    let xsize = fp_bytes.len() as u64;
    let fp_addr = sp.checked_sub(xsize + 4).ok_or(Errno::EFAULT)? & !63;
    let frame = (fp_addr.checked_sub(FRAME_SIZE).ok_or(Errno::EFAULT)? & !15).wrapping_sub(8);

    // FP state, tagged.
    let mut fx = fp_bytes.to_vec();
    fx[SW_RESERVED..SW_RESERVED + 4].copy_from_slice(&FP_XSTATE_MAGIC1.to_le_bytes());
    fx[SW_RESERVED + 4..SW_RESERVED + 8].copy_from_slice(&((xsize + 4) as u32).to_le_bytes());
    fx[SW_RESERVED + 8..SW_RESERVED + 16].copy_from_slice(&xfeatures().to_le_bytes());
    fx[SW_RESERVED + 16..SW_RESERVED + 20].copy_from_slice(&(xsize as u32).to_le_bytes());
    fx.extend_from_slice(&FP_XSTATE_MAGIC2.to_le_bytes());
    mm.copy_out(fp_addr, &fx)?;

    let mut f = vec![0u8; FRAME_SIZE as usize];
    let mut put = |off: u64, v: u64| f[off as usize..off as usize + 8].copy_from_slice(&v.to_le_bytes());
    put(0, spec.restorer);
    put(UC_OFFSET, UC_FP_XSTATE | UC_SIGCONTEXT_SS);
    put(UC_OFFSET + 8, 0);
    put(UC_OFFSET + 16, spec.alt.sp);
    put(UC_OFFSET + 24, spec.alt.flags_at(regs.rsp) as u32 as u64);
    put(UC_OFFSET + 32, spec.alt.size);
    let m = MCONTEXT_OFFSET;
    let gprs = [
        regs.r8,
        regs.r9,
        regs.r10,
        regs.r11,
        regs.r12,
        regs.r13,
        regs.r14,
        regs.r15,
        regs.rdi,
        regs.rsi,
        regs.rbp,
        regs.rbx,
        regs.rdx,
        regs.rax,
        regs.rcx,
        regs.rsp,
        regs.rip,
        regs.eflags,
    ];
    for (i, v) in gprs.iter().enumerate() {
        put(m + 8 * i as u64, *v);
    }
    // cs, gs, fs, ss as four u16.
    let segs =
        (regs.cs & 0xffff) | ((regs.gs & 0xffff) << 16) | ((regs.fs & 0xffff) << 32) | ((regs.ss & 0xffff) << 48);
    put(m + 144, segs);
    put(m + 152, 0); // err
    put(m + 160, 0); // trapno
    put(m + 168, spec.old_mask); // oldmask
    put(
        m + 176,
        if spec.info.signo() == libc::SIGSEGV || spec.info.signo() == libc::SIGBUS { spec.info.addr() } else { 0 },
    );
    put(m + 184, fp_addr);
    put(SIGMASK_OFFSET, spec.old_mask);
    f[SIGINFO_OFFSET as usize..SIGINFO_OFFSET as usize + 128].copy_from_slice(&spec.info.raw);
    mm.copy_out(frame, &f)?;

    let r = &mut cpu.regs;
    r.rsp = frame;
    r.rip = spec.handler;
    r.rdi = spec.info.signo() as u64;
    r.rsi = frame + SIGINFO_OFFSET;
    r.rdx = frame + UC_OFFSET;
    r.rax = 0;
    r.eflags &= !(0x100 | 0x400 | 0x1_0000); // TF, DF, RF
    r.cs = USER_CS;
    r.ss = USER_SS;
    Ok(())
}

/// What `rt_sigreturn` restored besides the registers.
pub struct Restored {
    pub mask: u64,
    pub alt: AltStack,
}

/// Restores the registers and FP state saved by [`setup_frame`]; the frame
/// starts 8 bytes below the current stack pointer (the handler's `ret`
/// popped `pretcode`).
pub fn restore_frame(mm: &MM, cpu: &mut CpuState) -> Result<Restored, Errno> {
    let frame = cpu.regs.rsp.wrapping_sub(8);
    let mut f = vec![0u8; FRAME_SIZE as usize];
    mm.copy_in(frame, &mut f)?;
    let get = |off: u64| u64::from_le_bytes(f[off as usize..off as usize + 8].try_into().unwrap_or([0; 8]));
    let m = MCONTEXT_OFFSET;
    let r = &mut cpu.regs;
    let g = |i: u64| get(m + 8 * i);
    r.r8 = g(0);
    r.r9 = g(1);
    r.r10 = g(2);
    r.r11 = g(3);
    r.r12 = g(4);
    r.r13 = g(5);
    r.r14 = g(6);
    r.r15 = g(7);
    r.rdi = g(8);
    r.rsi = g(9);
    r.rbp = g(10);
    r.rbx = g(11);
    r.rdx = g(12);
    r.rax = g(13);
    r.rcx = g(14);
    r.rsp = g(15);
    r.rip = g(16);
    r.eflags = (r.eflags & !FIX_EFLAGS) | (g(17) & FIX_EFLAGS);
    r.cs = USER_CS;
    r.ss = USER_SS;
    // No system call to restart after this.
    r.orig_rax = u64::MAX;
    let fp_addr = g(23);
    let mut fp = FpState::initial();
    if fp_addr != 0 {
        let size = fp.as_bytes().len();
        let mut img = vec![0u8; size];
        mm.copy_in(fp_addr, &mut img)?;
        let magic1 = u32::from_le_bytes(img[SW_RESERVED..SW_RESERVED + 4].try_into().unwrap_or([0; 4]));
        let xsize = u32::from_le_bytes(img[SW_RESERVED + 16..SW_RESERVED + 20].try_into().unwrap_or([0; 4]));
        let full = magic1 == FP_XSTATE_MAGIC1 && xsize as usize == size;
        let len = if full { size } else { 512 };
        fp.as_bytes_mut()[..len].copy_from_slice(&img[..len]);
        sanitize_fp(&mut fp, full);
    }
    cpu.set_fp(fp);
    let stack =
        AltStack { sp: get(UC_OFFSET + 16), flags: get(UC_OFFSET + 24) as u32 as i32, size: get(UC_OFFSET + 32) };
    Ok(Restored { mask: get(SIGMASK_OFFSET), alt: stack })
}

/// Makes an application-supplied XSAVE image one the host accepts: no
/// reserved MXCSR bits, no compacted format, no features the CPU lacks.
fn sanitize_fp(fp: &mut FpState, full: bool) {
    let b = fp.as_bytes_mut();
    let mxcsr = u32::from_le_bytes(b[24..28].try_into().unwrap_or([0; 4])) & 0xffff;
    b[24..28].copy_from_slice(&mxcsr.to_le_bytes());
    b[28..32].copy_from_slice(&0xffffu32.to_le_bytes()); // MXCSR_MASK
    b[SW_RESERVED..512].fill(0);
    let bv_off = 512;
    let bv =
        if full { u64::from_le_bytes(b[bv_off..bv_off + 8].try_into().unwrap_or([0; 8])) & xfeatures() } else { 3 };
    b[bv_off..bv_off + 8].copy_from_slice(&bv.to_le_bytes());
    // XCOMP_BV and the reserved header bytes must be zero.
    let end = (bv_off + 64).min(b.len());
    b[bv_off + 8..end].fill(0);
}
