//! The stub: the only host code present in an application's address space.
//!
//! One page of position-independent machine code is copied to a fixed
//! address (`base`) at the top of the application address range. The
//! Sentry forks a *master* stub process that unmaps everything else, keeps
//! only the memory file descriptor, installs the fault handler and stops for
//! its tracer. New address spaces are forked from the master; new threads are
//! cloned inside an address space's first stub thread. Application memory is
//! mapped by making a stub thread execute `mmap` (the tracer sets its
//! registers to the `syscall; int3` entry).
//!
//! Address-space layout above `base` (only ever mapped in stub processes):
//! `[base, base+PAGE)` the code page, then one signal stack per stub thread.

use std::sync::OnceLock;

use crate::sys::{self, Mapping};
use crate::PlatformError;

/// Syscall number the fault handler uses to report a fault to the tracer.
/// Not a Linux system call; it is intercepted by `PTRACE_SYSEMU`.
pub const FAULT_REPORT_NR: u64 = 0x7276;

/// Size of each stub thread's signal stack (holds one signal frame with a
/// full XSAVE area).
pub const SIGNAL_STACK_SIZE: u64 = 64 << 10;

/// Offset of the `struct sigaction` for the fault handler inside the page.
const SIGACTION_OFFSET: usize = 0xf00;

/// Offsets of capset's `__user_cap_header_struct` (version 3, pid 0) and its
/// two zeroed `__user_cap_data_struct`s inside the page.
const CAP_HEADER_OFFSET: usize = 0xf40;
const CAP_DATA_OFFSET: usize = 0xf48;
const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// Offsets of the stub's seccomp program (`struct sock_fprog` and the
/// filter it points to).
const FPROG_OFFSET: usize = 0xf80;
const FILTER_OFFSET: usize = 0x400;
const FILTER_MAX: usize = SIGACTION_OFFSET - FILTER_OFFSET;

/// Every system call the stub's own code makes (start-up, injected calls,
/// thread and process creation, parking). Anything else kills the stub.
const STUB_SYSCALLS: &[i64] = &[
    libc::SYS_mmap,
    libc::SYS_mprotect,
    libc::SYS_munmap,
    libc::SYS_rt_sigreturn,
    libc::SYS_pause,
    libc::SYS_getpid,
    libc::SYS_clone,
    libc::SYS_exit,
    libc::SYS_kill,
    libc::SYS_getppid,
    libc::SYS_sigaltstack,
    libc::SYS_prctl,
    libc::SYS_exit_group,
];

/// The stub's seccomp filter as raw `struct sock_filter` bytes.
fn stub_filter() -> Result<Vec<u8>, PlatformError> {
    use seccompiler::{BpfProgram, SeccompAction, SeccompFilter, TargetArch};
    let rules = STUB_SYSCALLS.iter().map(|&nr| (nr, Vec::new())).collect();
    let bad = |e: &dyn std::fmt::Display| PlatformError::StubDied { pid: 0, why: format!("stub seccomp filter: {e}") };
    let filter = SeccompFilter::new(rules, SeccompAction::KillProcess, SeccompAction::Allow, TargetArch::x86_64)
        .map_err(|e| bad(&e))?;
    let program: BpfProgram = filter.try_into().map_err(|e: seccompiler::BackendError| bad(&e))?;
    let mut bytes = Vec::with_capacity(program.len() * 8);
    for insn in &program {
        bytes.extend_from_slice(&insn.code.to_ne_bytes());
        bytes.push(insn.jt);
        bytes.push(insn.jf);
        bytes.extend_from_slice(&insn.k.to_ne_bytes());
    }
    Ok(bytes)
}

/// End of the user address range the stub processes unmap up to.
pub const USER_END: u64 = 0x7fff_ffff_f000;

/// Preferred address of the stub page; moved down if the Sentry already
/// uses it.
const PREFERRED_BASE: u64 = 0x7f00_0000_0000;

core::arch::global_asm!(
    ".pushsection .text.rvisor_stub,\"ax\",@progbits",
    ".balign 16",
    ".globl rvisor_stub_begin",
    "rvisor_stub_begin:",
    // Master start-up, entered in the child right after the Sentry forked
    // it. r8: the forking thread's rseq area, r10: its size (0: none),
    // r12: expected parent pid, r13: stub base, r14: memory file fd to keep,
    // r15: end of the user address range. Uses no stack: the stack is about
    // to be unmapped.
    ".globl rvisor_stub_master_init",
    "rvisor_stub_master_init:",
    // rseq(area, size, RSEQ_FLAG_UNREGISTER, RSEQ_SIG): the registration is
    // inherited from the forking thread, and its area is about to vanish;
    // the kernel would raise SIGSEGV at the next preemption.
    "test r10, r10",
    "jz rvisor_stub_no_rseq",
    "mov eax, 334",
    "mov rdi, r8",
    "mov esi, r10d",
    "mov edx, 1",
    "mov r10d, 0x53053053",
    "syscall",
    "test rax, rax",
    "jnz rvisor_stub_die",
    "rvisor_stub_no_rseq:",
    "mov eax, 157", // prctl(PR_SET_PDEATHSIG, SIGKILL)
    "mov edi, 1",
    "mov esi, 9",
    "syscall",
    "mov eax, 110", // getppid(): the parent may have died before prctl.
    "syscall",
    "cmp rax, r12",
    "jne rvisor_stub_die",
    "mov eax, 101", // ptrace(PTRACE_TRACEME)
    "xor edi, edi",
    "xor esi, esi",
    "xor edx, edx",
    "xor r10d, r10d",
    "syscall",
    "test rax, rax",
    "jnz rvisor_stub_die",
    "test r14, r14", // close_range(0, fd-1, 0) unless fd is 0
    "jz rvisor_stub_close_above",
    "mov eax, 436",
    "xor edi, edi",
    "lea rsi, [r14 - 1]",
    "xor edx, edx",
    "syscall",
    "rvisor_stub_close_above:",
    "mov eax, 436", // close_range(fd+1, ~0, 0)
    "lea rdi, [r14 + 1]",
    "mov esi, 0xffffffff",
    "xor edx, edx",
    "syscall",
    "mov eax, 11", // munmap(0, base)
    "xor edi, edi",
    "mov rsi, r13",
    "syscall",
    "mov eax, 11", // munmap(base + 4096, end - (base + 4096))
    "lea rdi, [r13 + 4096]",
    "mov rsi, r15",
    "sub rsi, rdi",
    "syscall",
    // Drop every capability: bounding set first (needs CAP_SETPCAP), then
    // capset(&hdr, {0}) for effective, permitted and inheritable. The Sentry
    // then needs no capability to trace its stubs, and no stub holds one.
    "xor ebx, ebx",
    "rvisor_stub_capbset_loop:",
    "mov eax, 157", // prctl(PR_CAPBSET_DROP, cap); unknown caps fail, fine
    "mov edi, 24",
    "mov esi, ebx",
    "syscall",
    "inc ebx",
    "cmp ebx, 64",
    "jb rvisor_stub_capbset_loop",
    "mov eax, 126", // capset(&hdr, &data)
    "lea rdi, [r13 + {cap_header}]",
    "lea rsi, [r13 + {cap_data}]",
    "syscall",
    "test rax, rax",
    "jnz rvisor_stub_die",
    "mov eax, 157", // prctl(PR_SET_NO_NEW_PRIVS, 1)
    "mov edi, 38",
    "mov esi, 1",
    "xor edx, edx",
    "xor r10d, r10d",
    "xor r8d, r8d",
    "syscall",
    "mov eax, 13", // rt_sigaction(SIGSEGV, &act, NULL, 8)
    "mov edi, 11",
    "lea rsi, [r13 + {sigaction}]",
    "xor edx, edx",
    "mov r10d, 8",
    "syscall",
    "test rax, rax",
    "jnz rvisor_stub_die",
    "mov eax, 13", // rt_sigaction(SIGBUS, &act, NULL, 8)
    "mov edi, 7",
    "lea rsi, [r13 + {sigaction}]",
    "xor edx, edx",
    "mov r10d, 8",
    "syscall",
    "test rax, rax",
    "jnz rvisor_stub_die",
    // seccomp(SECCOMP_SET_MODE_FILTER, 0, &prog): from here on the stub can
    // make only the calls its own code needs. Application system calls are
    // stopped by PTRACE_SYSEMU before seccomp ever sees them.
    "mov eax, 317",
    "mov edi, 1",
    "xor esi, esi",
    "lea rdx, [r13 + {fprog}]",
    "syscall",
    "test rax, rax",
    "jnz rvisor_stub_die",
    "mov eax, 39", // kill(getpid(), SIGSTOP): hand over to the tracer.
    "syscall",
    "mov edi, eax",
    "mov esi, 19",
    "mov eax, 62",
    "syscall",
    "jmp rvisor_stub_park",
    // Injected system call: the tracer sets rax and the arguments, points
    // rip here and continues; the int3 stop returns control with the result
    // in rax.
    ".globl rvisor_stub_syscall",
    "rvisor_stub_syscall:",
    "syscall",
    "int3",
    // Injected fork of the master (clone(CLONE_PARENT|SIGCHLD)). The parent
    // stops at int3 with the child's pid; the child (a new address space)
    // arms PDEATHSIG, checks its parent (r12) and waits to be seized.
    ".globl rvisor_stub_fork",
    "rvisor_stub_fork:",
    "syscall",
    "test rax, rax",
    "jz rvisor_stub_fork_child",
    "int3",
    "rvisor_stub_fork_child:",
    "mov eax, 157",
    "mov edi, 1",
    "mov esi, 9",
    "syscall",
    "mov eax, 110",
    "syscall",
    "cmp rax, r12",
    "jne rvisor_stub_die",
    "jmp rvisor_stub_park",
    // Injected clone of a thread. r12: its signal stack, r13: that stack's
    // size. The child installs the stack and waits to be seized.
    ".globl rvisor_stub_thread",
    "rvisor_stub_thread:",
    "syscall",
    "test rax, rax",
    "jz rvisor_stub_thread_child",
    "int3",
    "rvisor_stub_thread_child:",
    "mov [r12], r12", // stack_t { ss_sp, ss_flags, ss_size } at the stack base
    "mov qword ptr [r12 + 8], 0",
    "mov [r12 + 16], r13",
    "mov eax, 131", // sigaltstack(&ss, NULL)
    "mov rdi, r12",
    "xor esi, esi",
    "syscall",
    "test rax, rax",
    "jnz rvisor_stub_die",
    ".globl rvisor_stub_park",
    "rvisor_stub_park:",
    "mov eax, 34", // pause() until the tracer takes over
    "syscall",
    "jmp rvisor_stub_park",
    ".globl rvisor_stub_park_end",
    "rvisor_stub_park_end:",
    // SIGSEGV/SIGBUS handler (on the signal stack). rdx: ucontext. Reports
    // the hardware error code and trap number to the tracer through an
    // intercepted system call; the tracer restores the application's state
    // itself, so this never returns.
    ".globl rvisor_stub_fault",
    "rvisor_stub_fault:",
    "mov r8, [rdx + 0xc0]", // uc_mcontext.err
    "mov r9, [rdx + 0xc8]", // uc_mcontext.trapno
    "mov eax, {report}",
    "syscall",
    ".globl rvisor_stub_fault_reported",
    "rvisor_stub_fault_reported:",
    "rvisor_stub_die:",
    "mov eax, 231", // exit_group(1)
    "mov edi, 1",
    "syscall",
    "ud2",
    ".globl rvisor_stub_restorer",
    "rvisor_stub_restorer:",
    "mov eax, 15", // rt_sigreturn (required by SA_RESTORER; unused)
    "syscall",
    "ud2",
    ".globl rvisor_stub_end",
    "rvisor_stub_end:",
    ".popsection",
    sigaction = const SIGACTION_OFFSET,
    cap_header = const CAP_HEADER_OFFSET,
    fprog = const FPROG_OFFSET,
    cap_data = const CAP_DATA_OFFSET,
    report = const FAULT_REPORT_NR,
);

extern "C" {
    static rvisor_stub_begin: u8;
    static rvisor_stub_master_init: u8;
    static rvisor_stub_syscall: u8;
    static rvisor_stub_fork: u8;
    static rvisor_stub_thread: u8;
    static rvisor_stub_park: u8;
    static rvisor_stub_park_end: u8;
    static rvisor_stub_fault: u8;
    static rvisor_stub_fault_reported: u8;
    static rvisor_stub_restorer: u8;
    static rvisor_stub_end: u8;
}

/// The stub page, mapped in the Sentry at `base` (and inherited by every
/// stub process), with the addresses of its entry points.
pub struct Stub {
    pub base: u64,
    pub master_init: u64,
    pub syscall: u64,
    pub fork: u64,
    pub thread: u64,
    /// The loop a new stub process or thread waits in, once set up.
    pub park: std::ops::Range<u64>,
    /// Address right after the fault handler's report `syscall`.
    pub fault_reported: u64,
    _page: StubPage,
}

struct StubPage(#[allow(dead_code)] Mapping);

impl Stub {
    /// The process-wide stub page, installed on first use.
    pub fn get() -> Result<&'static Stub, PlatformError> {
        static STUB: OnceLock<Result<Stub, String>> = OnceLock::new();
        STUB.get_or_init(|| Stub::install().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| PlatformError::StubDied { pid: 0, why: format!("stub page: {e}") })
    }

    fn install() -> Result<Stub, PlatformError> {
        let addr = |sym: &u8| sym as *const u8 as u64;
        // SAFETY: these are labels in our own text section; only their
        // addresses are taken.
        let (begin, end, entries) = unsafe {
            (
                addr(&rvisor_stub_begin),
                addr(&rvisor_stub_end),
                [
                    addr(&rvisor_stub_master_init),
                    addr(&rvisor_stub_syscall),
                    addr(&rvisor_stub_fork),
                    addr(&rvisor_stub_thread),
                    addr(&rvisor_stub_park),
                    addr(&rvisor_stub_park_end),
                    addr(&rvisor_stub_fault),
                    addr(&rvisor_stub_fault_reported),
                    addr(&rvisor_stub_restorer),
                ],
            )
        };
        let code_len = (end - begin) as usize;
        assert!(code_len <= FILTER_OFFSET, "stub code overlaps its data");
        let mut page = vec![0u8; 4096];
        // SAFETY: [begin, end) is the stub's code in our text section.
        let code = unsafe { std::slice::from_raw_parts(begin as *const u8, code_len) };
        page[..code_len].copy_from_slice(code);

        let (mapping, base) = sys::map_stub_page(PREFERRED_BASE)?;
        let at = |entry: u64| base + (entry - begin);
        let [master_init, syscall, fork, thread, park, park_end, fault, fault_reported, restorer] = entries.map(at);

        // struct sigaction (kernel layout): handler, flags, restorer, mask.
        const SA_SIGINFO: u64 = 4;
        const SA_ONSTACK: u64 = 0x0800_0000;
        const SA_RESTORER: u64 = 0x0400_0000;
        const SA_NODEFER: u64 = 0x4000_0000;
        let act = [fault, SA_SIGINFO | SA_ONSTACK | SA_RESTORER | SA_NODEFER, restorer, 0u64];
        for (i, v) in act.iter().enumerate() {
            let off = SIGACTION_OFFSET + 8 * i;
            page[off..off + 8].copy_from_slice(&v.to_ne_bytes());
        }
        page[CAP_HEADER_OFFSET..CAP_HEADER_OFFSET + 4].copy_from_slice(&LINUX_CAPABILITY_VERSION_3.to_ne_bytes());
        // pid 0 and the 24 data bytes stay zero.
        let filter = stub_filter()?;
        assert!(filter.len() <= FILTER_MAX, "stub seccomp filter too large");
        page[FILTER_OFFSET..FILTER_OFFSET + filter.len()].copy_from_slice(&filter);
        // struct sock_fprog { unsigned short len; struct sock_filter *filter; }
        page[FPROG_OFFSET..FPROG_OFFSET + 2].copy_from_slice(&((filter.len() / 8) as u16).to_ne_bytes());
        page[FPROG_OFFSET + 8..FPROG_OFFSET + 16].copy_from_slice(&(base + FILTER_OFFSET as u64).to_ne_bytes());
        sys::fill_stub_page(&mapping, &page)?;
        Ok(Stub {
            base,
            master_init,
            syscall,
            fork,
            thread,
            park: park..park_end,
            fault_reported,
            _page: StubPage(mapping),
        })
    }

    /// Address of the signal stack of stub thread slot `slot` (slot 0 is the
    /// first thread of an address space and never runs application code).
    pub fn signal_stack(&self, slot: u64) -> u64 {
        self.base + 4096 + slot * SIGNAL_STACK_SIZE
    }

    /// How many signal-stack slots fit below [`USER_END`].
    pub fn max_slots(&self) -> u64 {
        (USER_END - self.base - 4096) / SIGNAL_STACK_SIZE
    }
}
