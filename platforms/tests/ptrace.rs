//! The ptrace platform on this machine: hand-assembled x86-64 code runs in
//! fresh address spaces and every exit is checked.

use std::sync::Arc;
use std::time::Duration;

use platforms::ptrace::{Ptrace, PtraceAddressSpace};
use platforms::{AddressSpace, CpuState, Exit, MemoryFile, Perms, Platform, PAGE_SIZE};

const CODE: u64 = 0x40_0000;
const DATA: u64 = 0x60_0000;
const STACK_TOP: u64 = 0x80_0000;

fn platform() -> Arc<dyn Platform> {
    let memory = Arc::new(MemoryFile::new(1 << 30).expect("memory file"));
    Arc::new(Ptrace::new(memory).expect("ptrace platform"))
}

/// Maps `code` read+execute at `CODE`.
fn load(p: &Arc<dyn Platform>, space: &Arc<dyn AddressSpace>, code: &[u8]) {
    let mf = p.memory_file();
    let page = mf.allocate(PAGE_SIZE).unwrap();
    mf.write_at(page.start, code).unwrap();
    space.map_file(CODE, PAGE_SIZE, page.start, Perms::RX).unwrap();
}

/// Maps one fresh read-write page at `addr`; returns its file offset.
fn map_data(p: &Arc<dyn Platform>, space: &Arc<dyn AddressSpace>, addr: u64) -> u64 {
    let page = p.memory_file().allocate(PAGE_SIZE).unwrap();
    space.map_file(addr, PAGE_SIZE, page.start, Perms::RW).unwrap();
    page.start
}

fn cpu() -> CpuState {
    CpuState::new(CODE, STACK_TOP)
}

// Instruction encodings used below.
const SYSCALL: [u8; 2] = [0x0f, 0x05];
fn mov_eax(v: u32) -> Vec<u8> {
    let mut b = vec![0xb8];
    b.extend_from_slice(&v.to_le_bytes());
    b
}
fn mov_edi(v: u32) -> Vec<u8> {
    let mut b = vec![0xbf];
    b.extend_from_slice(&v.to_le_bytes());
    b
}
fn mov_esi(v: u32) -> Vec<u8> {
    let mut b = vec![0xbe];
    b.extend_from_slice(&v.to_le_bytes());
    b
}
const MOV_RBX_RAX: [u8; 3] = [0x48, 0x89, 0xc3];
const STORE_RSI_TO_RDI: [u8; 3] = [0x48, 0x89, 0x37]; // mov [rdi], rsi
const LOAD_RDI_TO_RBX: [u8; 3] = [0x48, 0x8b, 0x1f]; // mov rbx, [rdi]
const JMP_RDI: [u8; 2] = [0xff, 0xe7];
const JMP_SELF: [u8; 2] = [0xeb, 0xfe];
const UD2: [u8; 2] = [0x0f, 0x0b];
const MOVQ_RAX_XMM0: [u8; 5] = [0x66, 0x48, 0x0f, 0x7e, 0xc0];
const MOVQ_XMM1_RBX: [u8; 5] = [0x66, 0x48, 0x0f, 0x6e, 0xcb];

fn code(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

#[test]
fn syscall_exit_reports_number_and_arguments() {
    let p = platform();
    let space = p.new_address_space().unwrap();
    let prog =
        code(&[&mov_eax(39), &mov_edi(0x1234), &mov_esi(0x5678), &SYSCALL, &MOV_RBX_RAX, &mov_eax(60), &SYSCALL]);
    load(&p, &space, &prog);
    let mut ctx = p.new_context().unwrap();
    let mut cpu = cpu();

    let exit = ctx.switch(&space, &mut cpu).unwrap();
    assert!(matches!(exit, Exit::Syscall), "{exit:?}");
    assert_eq!(cpu.regs.syscall_nr(), 39);
    assert_eq!(cpu.regs.syscall_args()[..2], [0x1234, 0x5678]);
    assert_eq!(cpu.regs.rip, CODE + 17, "rip points after the syscall instruction");

    // The Sentry answers; the application sees the answer in rax.
    cpu.regs.rax = 4242;
    let exit = ctx.switch(&space, &mut cpu).unwrap();
    assert!(matches!(exit, Exit::Syscall));
    assert_eq!(cpu.regs.syscall_nr(), 60);
    assert_eq!(cpu.regs.rbx, 4242);
}

#[test]
fn write_to_unmapped_address_is_a_write_fault_at_that_address() {
    let p = platform();
    let space = p.new_address_space().unwrap();
    load(&p, &space, &code(&[&STORE_RSI_TO_RDI, &mov_eax(39), &SYSCALL]));
    let mut ctx = p.new_context().unwrap();
    let mut cpu = cpu();
    let target = DATA + 0x18;
    cpu.regs.rdi = target;
    cpu.regs.rsi = 0xfeed_f00d;

    match ctx.switch(&space, &mut cpu).unwrap() {
        Exit::Fault { addr, access, info } => {
            assert_eq!(addr, target);
            assert!(access.write && !access.execute, "{access:?}");
            assert_eq!(info.signo(), libc::SIGSEGV);
            assert_eq!(info.code(), 1, "SEGV_MAPERR");
        }
        other => panic!("expected a fault, got {other:?}"),
    }
    assert_eq!(cpu.regs.rip, CODE, "rip stays on the faulting instruction");
    assert_eq!(cpu.regs.rsi, 0xfeed_f00d, "registers are the application's");

    // Resolve the fault as the Sentry would, and resume: the store completes.
    let off = map_data(&p, &space, DATA);
    let exit = ctx.switch(&space, &mut cpu).unwrap();
    assert!(matches!(exit, Exit::Syscall), "{exit:?}");
    let mut buf = [0u8; 8];
    p.memory_file().read_at(off + 0x18, &mut buf).unwrap();
    assert_eq!(u64::from_le_bytes(buf), 0xfeed_f00d);
}

#[test]
fn read_and_execute_faults_are_told_apart() {
    let p = platform();
    let space = p.new_address_space().unwrap();
    load(&p, &space, &code(&[&LOAD_RDI_TO_RBX, &JMP_RDI]));
    let mut ctx = p.new_context().unwrap();

    let mut c = cpu();
    c.regs.rdi = DATA;
    match ctx.switch(&space, &mut c).unwrap() {
        Exit::Fault { addr, access, .. } => {
            assert_eq!(addr, DATA);
            assert_eq!(access, Perms::R);
        }
        other => panic!("expected a read fault, got {other:?}"),
    }

    let mut c = cpu();
    c.regs.rip = CODE + 3; // jmp rdi
    c.regs.rdi = DATA + 0x100;
    match ctx.switch(&space, &mut c).unwrap() {
        Exit::Fault { addr, access, .. } => {
            assert_eq!(addr, DATA + 0x100);
            assert!(access.execute, "{access:?}");
            assert_eq!(c.regs.rip, DATA + 0x100);
        }
        other => panic!("expected an execute fault, got {other:?}"),
    }
}

#[test]
fn memory_is_shared_with_the_memory_file_both_ways() {
    let p = platform();
    let space = p.new_address_space().unwrap();
    // Store rsi at [rdi], then load [rdi+8] into rbx, then syscall.
    let prog = code(&[&STORE_RSI_TO_RDI, &[0x48, 0x8b, 0x5f, 0x08], &mov_eax(39), &SYSCALL]);
    load(&p, &space, &prog);
    let off = map_data(&p, &space, DATA);
    p.memory_file().write_at(off + 8, &0x1122_3344_5566_7788u64.to_le_bytes()).unwrap();

    let mut ctx = p.new_context().unwrap();
    let mut c = cpu();
    c.regs.rdi = DATA;
    c.regs.rsi = 0xabcd;
    assert!(matches!(ctx.switch(&space, &mut c).unwrap(), Exit::Syscall));
    assert_eq!(c.regs.rbx, 0x1122_3344_5566_7788, "application sees the Sentry's write");
    let mut buf = [0u8; 8];
    p.memory_file().read_at(off, &mut buf).unwrap();
    assert_eq!(u64::from_le_bytes(buf), 0xabcd, "Sentry sees the application's write");
}

#[test]
fn permission_changes_take_effect() {
    let p = platform();
    let space = p.new_address_space().unwrap();
    load(&p, &space, &code(&[&STORE_RSI_TO_RDI, &mov_eax(39), &SYSCALL]));
    map_data(&p, &space, DATA);
    let mut ctx = p.new_context().unwrap();
    let run = |ctx: &mut Box<dyn platforms::Context>| {
        let mut c = cpu();
        c.regs.rdi = DATA;
        c.regs.rsi = 7;
        ctx.switch(&space, &mut c).unwrap()
    };

    assert!(matches!(run(&mut ctx), Exit::Syscall));
    space.protect(DATA, PAGE_SIZE, Perms::R).unwrap();
    match run(&mut ctx) {
        Exit::Fault { addr, access, info } => {
            assert_eq!(addr, DATA);
            assert!(access.write);
            assert_eq!(info.code(), 2, "SEGV_ACCERR");
        }
        other => panic!("expected a write fault on a read-only page, got {other:?}"),
    }
    space.protect(DATA, PAGE_SIZE, Perms::RW).unwrap();
    assert!(matches!(run(&mut ctx), Exit::Syscall));
    space.unmap(DATA, PAGE_SIZE).unwrap();
    assert!(matches!(run(&mut ctx), Exit::Fault { .. }));
}

#[test]
fn other_signals_are_reported_with_siginfo() {
    let p = platform();
    let space = p.new_address_space().unwrap();
    load(&p, &space, &code(&[&UD2]));
    let mut ctx = p.new_context().unwrap();
    let mut c = cpu();
    match ctx.switch(&space, &mut c).unwrap() {
        Exit::Signal(info) => {
            assert_eq!(info.signo(), libc::SIGILL);
            assert_eq!(info.addr(), CODE);
        }
        other => panic!("expected SIGILL, got {other:?}"),
    }
}

#[test]
fn fp_state_is_carried_in_and_out_and_survives_faults() {
    let p = platform();
    let space = p.new_address_space().unwrap();
    // rbx = low(xmm0); touch [rdi] (faults the first time); xmm1 = rbx; syscall
    let prog = code(&[&MOVQ_RAX_XMM0, &MOV_RBX_RAX, &STORE_RSI_TO_RDI, &MOVQ_XMM1_RBX, &mov_eax(39), &SYSCALL]);
    load(&p, &space, &prog);
    let mut ctx = p.new_context().unwrap();
    let mut c = cpu();
    c.regs.rdi = DATA;
    let pattern = 0x0123_4567_89ab_cdefu64;
    let mut xmm = [0u8; 16];
    xmm[..8].copy_from_slice(&pattern.to_le_bytes());
    c.fp_mut().unwrap().set_xmm(0, xmm);

    assert!(matches!(ctx.switch(&space, &mut c).unwrap(), Exit::Fault { .. }));
    map_data(&p, &space, DATA);
    assert!(matches!(ctx.switch(&space, &mut c).unwrap(), Exit::Syscall));
    assert_eq!(c.regs.rbx, pattern);
    assert!(c.fp().is_none(), "FP state is not pulled unless asked for");
    ctx.pull_fp(&mut c).unwrap();
    let fp = c.fp().unwrap();
    assert_eq!(fp.xmm(1)[..8], pattern.to_le_bytes(), "application's xmm1 reaches the Sentry");
    assert_eq!(fp.xmm(0)[..8], pattern.to_le_bytes(), "xmm0 survived the fault round trip");
    assert_eq!(fp.mxcsr(), 0x1f80);
}

#[test]
fn two_threads_run_in_one_address_space() {
    let p = platform();
    let space = p.new_address_space().unwrap();
    // [rdi] = rsi; syscall; (loop back) -- each thread stores its own value.
    load(&p, &space, &code(&[&STORE_RSI_TO_RDI, &mov_eax(39), &SYSCALL, &[0xeb, 0xf4]]));
    let off = map_data(&p, &space, DATA);
    let ptrace_space = space.as_any().downcast_ref::<PtraceAddressSpace>().unwrap();
    let stub_pid = ptrace_space.stub_pid();

    let handles: Vec<_> = (0..2u64)
        .map(|i| {
            let p = p.clone();
            let space = space.clone();
            std::thread::spawn(move || {
                let mut ctx = p.new_context().unwrap();
                let mut c = cpu();
                c.regs.rdi = DATA + 8 * i;
                for n in 0..100 {
                    c.regs.rsi = 1000 * (i + 1) + n;
                    assert!(matches!(ctx.switch(&space, &mut c).unwrap(), Exit::Syscall));
                }
                let ps = space.as_any().downcast_ref::<PtraceAddressSpace>().unwrap();
                let tid = ptrace_ctx(&*ctx).stub_thread(ps).unwrap();
                assert!(
                    std::path::Path::new(&format!("/proc/{stub_pid}/task/{tid}")).exists(),
                    "stub thread {tid} is a thread of stub process {stub_pid}"
                );
                tid
            })
        })
        .collect();
    let tids: Vec<i32> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_ne!(tids[0], tids[1], "each Sentry thread has its own stub thread");
    let mut buf = [0u8; 16];
    p.memory_file().read_at(off, &mut buf).unwrap();
    assert_eq!(u64::from_le_bytes(buf[..8].try_into().unwrap()), 1099);
    assert_eq!(u64::from_le_bytes(buf[8..].try_into().unwrap()), 2099);
}

fn ptrace_ctx(ctx: &dyn platforms::Context) -> &platforms::ptrace::PtraceContext {
    ctx.as_any().downcast_ref().expect("a ptrace context")
}

#[test]
fn interrupt_stops_running_code_and_latches_when_idle() {
    let p = platform();
    let space = p.new_address_space().unwrap();
    load(&p, &space, &JMP_SELF);
    let mut ctx = p.new_context().unwrap();
    let interrupter = ctx.interrupter();

    // Latched: an interrupt before the switch makes it return at once.
    interrupter.interrupt();
    assert!(matches!(ctx.switch(&space, &mut cpu()).unwrap(), Exit::Interrupted));

    // Running: an infinite loop is stopped from another thread.
    let kicker = {
        let interrupter = interrupter.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            interrupter.interrupt();
        })
    };
    let mut c = cpu();
    assert!(matches!(ctx.switch(&space, &mut c).unwrap(), Exit::Interrupted));
    assert_eq!(c.regs.rip, CODE, "still in the loop");
    kicker.join().unwrap();
}

fn process_exists(pid: i32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn stub_is_gone_after_the_address_space_is_dropped() {
    let p = platform();
    let space = p.new_address_space().unwrap();
    load(&p, &space, &code(&[&mov_eax(39), &SYSCALL]));
    let pid = space.as_any().downcast_ref::<PtraceAddressSpace>().unwrap().stub_pid();
    let mut ctx = p.new_context().unwrap();
    assert!(matches!(ctx.switch(&space, &mut cpu()).unwrap(), Exit::Syscall));
    assert!(process_exists(pid));
    drop(ctx);
    drop(space);
    assert!(!process_exists(pid), "stub process {pid} outlived its address space");
}

#[test]
fn bad_ranges_are_refused() {
    let p = platform();
    let space = p.new_address_space().unwrap();
    let off = p.memory_file().allocate(PAGE_SIZE).unwrap().start;
    assert!(space.map_file(DATA + 1, PAGE_SIZE, off, Perms::RW).is_err());
    assert!(space.map_file(0, PAGE_SIZE, off, Perms::RW).is_err(), "below the minimum address");
    assert!(space.map_file(p.max_user_address(), PAGE_SIZE, off, Perms::RW).is_err(), "the stub's range");
    assert!(space.map_file(u64::MAX - PAGE_SIZE + 1, PAGE_SIZE, off, Perms::RW).is_err());
}

/// Entry point for the child process of `killed_sentry_leaves_no_stubs`:
/// sets up a platform, runs code, prints the stub pids and waits to be killed.
#[test]
fn child_sentry_helper() {
    if std::env::var_os("RVISOR_CHILD_SENTRY").is_none() {
        return;
    }
    let p = platform();
    let space = p.new_address_space().unwrap();
    load(&p, &space, &code(&[&mov_eax(39), &SYSCALL]));
    let mut ctx = p.new_context().unwrap();
    assert!(matches!(ctx.switch(&space, &mut cpu()).unwrap(), Exit::Syscall));
    let ps = space.as_any().downcast_ref::<PtraceAddressSpace>().unwrap();
    let tid = ptrace_ctx(&*ctx).stub_thread(ps).unwrap();
    println!("STUBS {} {}", ps.stub_pid(), tid);
    use std::io::Write;
    std::io::stdout().flush().unwrap();
    std::thread::sleep(Duration::from_secs(600));
}

#[test]
fn killed_sentry_leaves_no_stubs() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_sentry_helper", "--nocapture", "--test-threads=1"])
        .env("RVISOR_CHILD_SENTRY", "1")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pids = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some((_, rest)) = line.split_once("STUBS ") {
            pids = rest.split(' ').map(|s| s.parse::<i32>().unwrap()).collect();
            break;
        }
    }
    assert_eq!(pids.len(), 2, "child reported its stubs");
    for &pid in &pids {
        assert!(process_exists(pid));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // The kernel kills stubs asynchronously once the Sentry is gone; allow it
    // to finish (a liveness bound, not a performance assertion).
    for _ in 0..3000 {
        if pids.iter().all(|&p| !process_exists(p)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("stub processes {pids:?} outlived the killed Sentry");
}

#[test]
fn stub_holds_nothing_of_the_host() {
    let p = platform();
    let space = p.new_address_space().unwrap();
    load(&p, &space, &code(&[&mov_eax(39), &SYSCALL]));
    let pid = space.as_any().downcast_ref::<PtraceAddressSpace>().unwrap().stub_pid();
    let mut ctx = p.new_context().unwrap();
    assert!(matches!(ctx.switch(&space, &mut cpu()).unwrap(), Exit::Syscall));

    // Mapped: the stub page, its signal stack(s), the application's page.
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    let stub_base = p.max_user_address();
    for line in maps.lines() {
        let start = u64::from_str_radix(line.split('-').next().unwrap(), 16).unwrap();
        assert!(
            start == CODE || start >= stub_base || line.ends_with("[vsyscall]"),
            "unexpected mapping in the stub: {line}"
        );
    }
    assert!(!maps.contains("[stack]") && !maps.contains("[vdso]") && !maps.contains(".so"), "{maps}");

    // Open: only the memory file.
    let fds: Vec<_> = std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().collect();
    assert_eq!(fds.len(), 1, "stub holds host descriptors: {fds:?}");

    // No capabilities, and no way to gain any.
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    for (field, want) in [
        ("CapEff", "0000000000000000"),
        ("CapPrm", "0000000000000000"),
        ("CapBnd", "0000000000000000"),
        ("NoNewPrivs", "1"),
    ] {
        let line = status.lines().find(|l| l.starts_with(field)).unwrap();
        assert_eq!(line.split_whitespace().nth(1), Some(want), "{line}");
    }
}
