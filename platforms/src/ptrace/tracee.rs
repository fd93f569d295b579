//! Raw ptrace operations on one stub thread. Every request must come from
//! the host thread that traces it; the callers guarantee that.

use crate::cpu::Regs;
use crate::{PlatformError, SigInfo};

const PTRACE_SYSEMU: libc::c_uint = 31;
const PTRACE_O_EXITKILL: libc::c_long = 1 << 20;
const PTRACE_O_TRACESYSGOOD: libc::c_long = 1;
const NT_X86_XSTATE: libc::c_long = 0x202;
const PTRACE_EVENT_STOP: i32 = 128;

/// Options for every stub thread: syscall stops are marked, and the stub is
/// killed if its tracer dies.
pub const OPTIONS: libc::c_long = PTRACE_O_EXITKILL | PTRACE_O_TRACESYSGOOD;

/// Why a traced thread stopped (or ended).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// A system-call stop (entry under `PTRACE_SYSEMU`).
    Syscall,
    /// A signal-delivery stop for this signal.
    Signal(i32),
    /// A `PTRACE_EVENT_STOP`: after `PTRACE_INTERRUPT`, or a group stop.
    Interrupt,
    /// Another `PTRACE_EVENT_*` stop.
    Event(i32),
    /// The thread exited with this status.
    Exited(i32),
    /// The thread was killed by this signal.
    Killed(i32),
}

/// How to resume a stopped thread.
#[derive(Debug, Clone, Copy)]
pub enum Resume {
    /// Run until the next system call (not executed) or signal.
    Sysemu,
    /// Run; system calls execute.
    Cont,
}

fn check(op: &'static str, r: libc::c_long) -> Result<libc::c_long, PlatformError> {
    if r < 0 {
        Err(PlatformError::last_os(op))
    } else {
        Ok(r)
    }
}

fn ptrace(req: libc::c_uint, tid: i32, addr: usize, data: usize) -> libc::c_long {
    // SAFETY: callers pass pointers (as `addr`/`data`) to buffers that are
    // valid and large enough for `req`, or plain integers.
    unsafe { libc::ptrace(req, tid, addr as *mut libc::c_void, data as *mut libc::c_void) }
}

/// Attaches to `tid` without stopping it.
pub fn seize(tid: i32) -> Result<(), PlatformError> {
    check("PTRACE_SEIZE", ptrace(libc::PTRACE_SEIZE, tid, 0, OPTIONS as usize)).map(drop)
}

/// Sets options on a thread attached with `PTRACE_TRACEME`.
pub fn set_options(tid: i32) -> Result<(), PlatformError> {
    check("PTRACE_SETOPTIONS", ptrace(libc::PTRACE_SETOPTIONS, tid, 0, OPTIONS as usize)).map(drop)
}

/// Stops a seized thread (reported as [`Stop::Interrupt`]).
pub fn interrupt(tid: i32) -> Result<(), PlatformError> {
    check("PTRACE_INTERRUPT", ptrace(libc::PTRACE_INTERRUPT, tid, 0, 0)).map(drop)
}

pub fn resume(tid: i32, how: Resume, sig: i32) -> Result<(), PlatformError> {
    let (req, op) = match how {
        Resume::Sysemu => (PTRACE_SYSEMU, "PTRACE_SYSEMU"),
        Resume::Cont => (libc::PTRACE_CONT, "PTRACE_CONT"),
    };
    check(op, ptrace(req, tid, 0, sig as usize)).map(drop)
}

/// Waits for the next stop or the end of `tid`.
pub fn wait(tid: i32) -> Result<Stop, PlatformError> {
    let mut status = 0;
    loop {
        // SAFETY: `status` is a valid out-pointer.
        let r = unsafe { libc::waitpid(tid, &mut status, libc::__WALL) };
        if r >= 0 {
            break;
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(PlatformError::Host { op: "waitpid", source: err });
        }
    }
    Ok(if libc::WIFEXITED(status) {
        Stop::Exited(libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        Stop::Killed(libc::WTERMSIG(status))
    } else {
        let sig = libc::WSTOPSIG(status);
        let event = status >> 16;
        if sig == libc::SIGTRAP | 0x80 {
            Stop::Syscall
        } else if event == PTRACE_EVENT_STOP {
            Stop::Interrupt
        } else if event != 0 {
            Stop::Event(event)
        } else {
            Stop::Signal(sig)
        }
    })
}

pub fn get_regs(tid: i32) -> Result<Regs, PlatformError> {
    let mut regs = Regs::default();
    check("PTRACE_GETREGS", ptrace(libc::PTRACE_GETREGS, tid, 0, &mut regs as *mut Regs as usize))?;
    Ok(regs)
}

pub fn set_regs(tid: i32, regs: &Regs) -> Result<(), PlatformError> {
    check("PTRACE_SETREGS", ptrace(libc::PTRACE_SETREGS, tid, 0, regs as *const Regs as usize)).map(drop)
}

/// Reads the XSAVE area into `buf`; returns how many bytes the kernel filled.
pub fn get_fp(tid: i32, buf: &mut [u8]) -> Result<usize, PlatformError> {
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    check(
        "PTRACE_GETREGSET(NT_X86_XSTATE)",
        ptrace(libc::PTRACE_GETREGSET, tid, NT_X86_XSTATE as usize, &mut iov as *mut libc::iovec as usize),
    )?;
    Ok(iov.iov_len)
}

pub fn set_fp(tid: i32, buf: &[u8]) -> Result<(), PlatformError> {
    let mut iov = libc::iovec { iov_base: buf.as_ptr() as *mut libc::c_void, iov_len: buf.len() };
    check(
        "PTRACE_SETREGSET(NT_X86_XSTATE)",
        ptrace(libc::PTRACE_SETREGSET, tid, NT_X86_XSTATE as usize, &mut iov as *mut libc::iovec as usize),
    )
    .map(drop)
}

pub fn get_siginfo(tid: i32) -> Result<SigInfo, PlatformError> {
    let mut info = SigInfo::zeroed();
    check("PTRACE_GETSIGINFO", ptrace(libc::PTRACE_GETSIGINFO, tid, 0, &mut info as *mut SigInfo as usize))?;
    Ok(info)
}

/// Sends SIGKILL to the whole stub process `pid`.
pub fn kill_process(pid: i32) {
    // SAFETY: plain signal send.
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

/// Waits until `tid` is in a ptrace stop in which it can be driven,
/// skipping kicks (SIGCHLD) and interrupt stops; fails if it ended.
pub fn wait_for(tid: i32, want: impl Fn(Stop) -> bool) -> Result<Stop, PlatformError> {
    loop {
        let stop = wait(tid)?;
        match stop {
            s if want(s) => return Ok(s),
            Stop::Exited(_) | Stop::Killed(_) => {
                return Err(PlatformError::StubDied { pid: tid, why: format!("{stop:?}") });
            }
            // A kick meant for a switch that already returned, or an
            // interrupt stop: the thread stays stopped; let it go on.
            Stop::Signal(libc::SIGCHLD) | Stop::Interrupt => resume(tid, Resume::Cont, 0)?,
            other => {
                let detail = match (get_siginfo(tid), get_regs(tid)) {
                    (Ok(info), Ok(regs)) => format!(" {info:?} at rip {:#x}", regs.rip),
                    _ => String::new(),
                };
                return Err(PlatformError::UnexpectedStop { tid, what: format!("{other:?}{detail}") });
            }
        }
    }
}

/// Runs one system call in stopped thread `tid` through the stub entry at
/// `rip` (which must end in `int3` for the caller side), with `setup`
/// adjusting the registers. Returns the raw result (negative errno on
/// failure) and leaves the thread's registers as they were.
pub fn inject(
    tid: i32,
    rip: u64,
    nr: u64,
    args: [u64; 6],
    setup: impl FnOnce(&mut Regs),
) -> Result<i64, PlatformError> {
    let saved = get_regs(tid)?;
    let mut regs = saved;
    regs.rip = rip;
    regs.rax = nr;
    regs.orig_rax = u64::MAX;
    [regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9] = args;
    setup(&mut regs);
    set_regs(tid, &regs)?;
    resume(tid, Resume::Cont, 0)?;
    wait_for(tid, |s| s == Stop::Signal(libc::SIGTRAP))?;
    let result = get_regs(tid)?.rax as i64;
    let mut restore = saved;
    // Never let the kernel's syscall-restart logic act on restored state.
    restore.orig_rax = u64::MAX;
    set_regs(tid, &restore)?;
    Ok(result)
}

/// Waits until `tid` (killed, or about to exit) has ended, consuming its
/// remaining stops, and reaps it.
pub fn reap(tid: i32) {
    while let Ok(stop) = wait(tid) {
        if matches!(stop, Stop::Exited(_) | Stop::Killed(_)) {
            break;
        }
    }
}

/// Makes stopped stub thread `tid` exit, and reaps it.
pub fn exit_thread(tid: i32, syscall_entry: u64) -> Result<(), PlatformError> {
    let mut regs = get_regs(tid)?;
    regs.rip = syscall_entry;
    regs.rax = libc::SYS_exit as u64;
    regs.rdi = 0;
    regs.orig_rax = u64::MAX;
    set_regs(tid, &regs)?;
    resume(tid, Resume::Cont, 0)?;
    loop {
        match wait(tid)? {
            Stop::Exited(_) | Stop::Killed(_) => return Ok(()),
            _ => resume(tid, Resume::Cont, 0)?,
        }
    }
}

/// Attaches to a new stub thread and stops it once it has finished its own
/// set-up and waits in the stub's park loop (`park`), so that nothing of its
/// start-up is skipped.
pub fn attach_parked(tid: i32, park: &std::ops::Range<u64>) -> Result<(), PlatformError> {
    seize(tid)?;
    loop {
        interrupt(tid)?;
        wait_for(tid, |s| s == Stop::Interrupt)?;
        if park.contains(&get_regs(tid)?.rip) {
            return Ok(());
        }
        resume(tid, Resume::Cont, 0)?;
        std::thread::yield_now();
    }
}
