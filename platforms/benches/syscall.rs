//! Cost of one intercepted system call through the ptrace platform, next to
//! a native `getpid` and to a bare `PTRACE_SYSEMU` loop written directly
//! against libc, all measured in the same run on the same CPU.
//!
//! `cargo bench -p platforms --bench syscall [-- ITERATIONS]`

use std::sync::Arc;
use std::time::Instant;

use platforms::ptrace::Ptrace;
use platforms::{CpuState, Exit, MemoryFile, Perms, Platform, PAGE_SIZE};

fn main() {
    let iterations: u64 = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(100_000);
    pin_self_to_current_cpu();

    let native = per_op(iterations, || {
        // SAFETY: getpid has no arguments and cannot fail.
        unsafe { libc::syscall(libc::SYS_getpid) };
    });
    let bare = bare_sysemu(iterations);
    let platform = through_platform(iterations);

    println!("getpid, {iterations} iterations, one CPU:");
    println!("  native                    {native:8.1} ns");
    println!("  bare PTRACE_SYSEMU loop   {bare:8.1} ns");
    println!("  ptrace platform switch    {platform:8.1} ns");
    println!("ratio platform / bare sysemu: {:.3}", platform / bare);
    println!("ratio platform / native:      {:.1}", platform / native);
}

fn per_op(n: u64, mut f: impl FnMut()) -> f64 {
    for _ in 0..n / 10 {
        f();
    }
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    start.elapsed().as_nanos() as f64 / n as f64
}

fn pin_self_to_current_cpu() {
    // SAFETY: cpu_set_t is plain data; the calls only read and write it.
    unsafe {
        let cpu = libc::sched_getcpu();
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu as usize, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// The mechanism alone: a forked child looping on `syscall`, driven with
/// PTRACE_SYSEMU + waitpid + GETREGS + SETREGS per call.
fn bare_sysemu(n: u64) -> f64 {
    // SAFETY: the child only calls async-signal-safe functions and raw
    // system calls, and never returns.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // SAFETY: async-signal-safe calls in the forked child.
        unsafe {
            libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0);
            libc::raise(libc::SIGSTOP);
            loop {
                core::arch::asm!("syscall", inlateout("rax") 39u64 => _, lateout("rcx") _, lateout("r11") _);
            }
        }
    }
    let mut status = 0;
    // SAFETY: plain ptrace/waitpid calls on our own traced child with valid
    // out-pointers.
    unsafe {
        libc::waitpid(pid, &mut status, 0);
        let step = |status: &mut i32| {
            let mut regs: libc::user_regs_struct = std::mem::zeroed();
            libc::ptrace(31 /* PTRACE_SYSEMU */, pid, 0, 0);
            libc::waitpid(pid, status, 0);
            libc::ptrace(libc::PTRACE_GETREGS, pid, 0, &mut regs);
            regs.rax = 1234;
            libc::ptrace(libc::PTRACE_SETREGS, pid, 0, &regs);
        };
        let result = per_op(n, || step(&mut status));
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, &mut status, 0);
        result
    }
}

fn through_platform(n: u64) -> f64 {
    let memory = Arc::new(MemoryFile::new(1 << 30).expect("memory file"));
    let p = Ptrace::new(memory).expect("ptrace platform");
    let space = p.new_address_space().expect("address space");
    // loop: mov eax, 39; syscall; jmp loop
    let code = [0xb8, 39, 0, 0, 0, 0x0f, 0x05, 0xeb, 0xf7];
    let page = p.memory_file().allocate(PAGE_SIZE).unwrap();
    p.memory_file().write_at(page.start, &code).unwrap();
    space.map_file(0x40_0000, PAGE_SIZE, page.start, Perms::RX).unwrap();
    let mut ctx = p.new_context().unwrap();
    let mut cpu = CpuState::new(0x40_0000, 0x80_0000);
    per_op(n, || {
        let exit = ctx.switch(&space, &mut cpu).expect("switch");
        assert!(matches!(exit, Exit::Syscall));
        cpu.regs.rax = 1234;
    })
}
