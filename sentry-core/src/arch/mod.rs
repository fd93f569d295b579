//! x86-64 Linux ABI: auxiliary vector keys, address-space layout, CPU
//! features and signal frames.

pub mod signal;
mod syscall_names;

pub use syscall_names::syscall_name;

/// Auxiliary vector keys (`AT_*` from `<elf.h>`).
pub mod auxv {
    pub const AT_NULL: u64 = 0;
    pub const AT_PHDR: u64 = 3;
    pub const AT_PHENT: u64 = 4;
    pub const AT_PHNUM: u64 = 5;
    pub const AT_PAGESZ: u64 = 6;
    pub const AT_BASE: u64 = 7;
    pub const AT_FLAGS: u64 = 8;
    pub const AT_ENTRY: u64 = 9;
    pub const AT_UID: u64 = 11;
    pub const AT_EUID: u64 = 12;
    pub const AT_GID: u64 = 13;
    pub const AT_EGID: u64 = 14;
    pub const AT_PLATFORM: u64 = 15;
    pub const AT_HWCAP: u64 = 16;
    pub const AT_CLKTCK: u64 = 17;
    pub const AT_SECURE: u64 = 23;
    pub const AT_RANDOM: u64 = 25;
    pub const AT_HWCAP2: u64 = 26;
    pub const AT_EXECFN: u64 = 31;
}

/// Stack alignment the x86-64 ABI requires at process entry (`rsp`).
pub const STACK_ALIGN: u64 = 16;

/// Clock ticks per second reported to applications (`AT_CLKTCK`, `times`).
pub const CLOCK_TICKS: u64 = 100;

/// Default size of the main thread's stack mapping.
pub const DEFAULT_STACK_SIZE: u64 = 8 << 20;

/// Gap left between the top of the stack and the end of the user range.
pub const STACK_TOP_GAP: u64 = 16 * platforms::PAGE_SIZE;

/// Gap left between the bottom of the stack and the top of the mmap area.
pub const MMAP_STACK_GAP: u64 = 128 << 20;

/// Where position-independent executables are loaded (`ELF_ET_DYN_BASE`).
pub const ELF_ET_DYN_BASE: u64 = 0x5555_5555_4000;

/// `AT_HWCAP` on x86-64: CPUID leaf 1 EDX, as Linux reports it.
pub fn hwcap() -> u64 {
    // CPUID is available on every x86-64 CPU.
    std::arch::x86_64::__cpuid(1).edx as u64
}

/// `arch_prctl` codes.
pub const ARCH_SET_GS: u64 = 0x1001;
pub const ARCH_SET_FS: u64 = 0x1002;
pub const ARCH_GET_FS: u64 = 0x1003;
pub const ARCH_GET_GS: u64 = 0x1004;
pub const ARCH_GET_CPUID: u64 = 0x1011;
pub const ARCH_SET_CPUID: u64 = 0x1012;

/// Whether `addr` is a canonical lower-half address an application could use
/// as an FS/GS base.
pub fn is_valid_segment_base(addr: u64) -> bool {
    addr < (1 << 47)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_common_syscalls() {
        assert_eq!(syscall_name(0), Some("read"));
        assert_eq!(syscall_name(231), Some("exit_group"));
        assert_eq!(syscall_name(100_000), None);
    }

    #[test]
    fn hwcap_reports_fpu_and_sse2() {
        let h = hwcap();
        assert_ne!(h & 1, 0, "FPU bit");
        assert_ne!(h & (1 << 26), 0, "SSE2 bit");
    }
}
