//! The ptrace platform: application code runs in stub processes under
//! `PTRACE_SYSEMU`, so every system call it makes stops for the Sentry and is
//! never executed by the host.
//!
//! Threads and processes:
//! - a *master* host thread forks (once per platform) a master stub process,
//!   and later forks every new address space out of that stub by injecting
//!   `clone(CLONE_PARENT)` into it, so address spaces cost a tiny fork;
//! - each address space has a *control* host thread that traces the address
//!   space's first stub thread, creates further stub threads in it, maps and
//!   unmaps memory for callers that have no stub thread of their own there,
//!   and kills the stub process when the address space is dropped;
//! - each [`Context`](crate::Context) traces one stub thread per address
//!   space it has run in; the application runs in that thread. A context
//!   is used on one host thread only, as ptrace requires.
//!
//! Tracer and tracee are kept on the same CPU (a cross-CPU round trip costs
//! ten times more): before each switch the stub thread is pinned to the CPU
//! the Sentry thread is on.
//!
//! Faults: a SIGSEGV/SIGBUS stop gives the address but not the access type,
//! so the signal is delivered to a handler in the stub, which reports the
//! hardware error code through an intercepted system call; the tracer then
//! restores the application's registers and FP state.

mod address_space;
mod context;
mod stub;
mod tracee;

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

pub use address_space::PtraceAddressSpace;
pub use context::PtraceContext;
use stub::Stub;

use crate::memory::MemoryFile;
use crate::sys;
use crate::{AddressSpace, Context, Platform, PlatformError};
use tracee::Stop;

/// Lowest address applications may map (as Linux's default `mmap_min_addr`).
pub const MIN_USER_ADDRESS: u64 = 0x10000;

/// Host signal used to kick a stub thread out of application code.
pub const KICK_SIGNAL: i32 = libc::SIGCHLD;

/// The ptrace platform.
pub struct Ptrace {
    shared: Arc<Shared>,
}

/// State shared by the platform and everything it created; the master stub
/// lives as long as this does.
pub(crate) struct Shared {
    memory: Arc<MemoryFile>,
    stub: &'static Stub,
    master: Mutex<Option<mpsc::Sender<MasterRequest>>>,
    master_thread: Mutex<Option<JoinHandle<()>>>,
    master_pid: i32,
}

enum MasterRequest {
    /// Fork a new address-space stub; replies with its pid.
    Fork(mpsc::Sender<Result<i32, PlatformError>>),
}

impl Ptrace {
    /// Starts the platform: installs the stub page and forks the master stub.
    pub fn new(memory: Arc<MemoryFile>) -> Result<Ptrace, PlatformError> {
        let stub = Stub::get()?;
        let (tx, rx) = mpsc::channel();
        let (ready_tx, ready_rx) = mpsc::channel();
        let memfd = memory.fd();
        let handle = std::thread::Builder::new()
            .name("ptrace-master".into())
            .spawn(move || master_main(stub, memfd, ready_tx, rx))
            .map_err(|e| PlatformError::Host { op: "spawn master thread", source: e })?;
        let master_pid = ready_rx
            .recv()
            .map_err(|_| PlatformError::StubDied { pid: 0, why: "master thread ended during start-up".into() })??;
        Ok(Ptrace {
            shared: Arc::new(Shared {
                memory,
                stub,
                master: Mutex::new(Some(tx)),
                master_thread: Mutex::new(Some(handle)),
                master_pid,
            }),
        })
    }

    /// Pid of the master stub process (for tests and diagnostics).
    pub fn master_pid(&self) -> i32 {
        self.shared.master_pid
    }
}

impl Shared {
    /// Forks a new stub process from the master.
    fn fork_stub(&self) -> Result<i32, PlatformError> {
        let (tx, rx) = mpsc::channel();
        let master = self.master.lock().unwrap_or_else(|e| e.into_inner());
        let sender = master.as_ref().ok_or(PlatformError::StubDied { pid: 0, why: "platform shut down".into() })?;
        sender
            .send(MasterRequest::Fork(tx))
            .map_err(|_| PlatformError::StubDied { pid: self.master_pid, why: "master thread gone".into() })?;
        drop(master);
        rx.recv().map_err(|_| PlatformError::StubDied { pid: self.master_pid, why: "master thread gone".into() })?
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Closing the channel ends the master thread, which kills the master.
        self.master.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(h) = self.master_thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = h.join();
        }
    }
}

impl Platform for Ptrace {
    fn name(&self) -> &'static str {
        "ptrace"
    }

    fn memory_file(&self) -> &Arc<MemoryFile> {
        &self.shared.memory
    }

    fn min_user_address(&self) -> u64 {
        MIN_USER_ADDRESS
    }

    fn max_user_address(&self) -> u64 {
        self.shared.stub.base
    }

    fn new_address_space(&self) -> Result<Arc<dyn AddressSpace>, PlatformError> {
        Ok(Arc::new(PtraceAddressSpace::new(self.shared.clone())?))
    }

    fn new_context(&self) -> Result<Box<dyn Context>, PlatformError> {
        Ok(Box::new(PtraceContext::new(self.shared.stub)))
    }
}

/// The master thread: parent of every stub process of this platform.
fn master_main(
    stub: &'static Stub,
    memfd: i32,
    ready: mpsc::Sender<Result<i32, PlatformError>>,
    requests: mpsc::Receiver<MasterRequest>,
) {
    let pid = match start_master(stub, memfd) {
        Ok(pid) => pid,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let _ = ready.send(Ok(pid));
    let sentry_pid = sys::getpid() as u64;
    for req in requests {
        match req {
            MasterRequest::Fork(reply) => {
                let flags = (libc::CLONE_PARENT | libc::SIGCHLD) as u64;
                let r = tracee::inject(pid, stub.fork, libc::SYS_clone as u64, [flags, 0, 0, 0, 0, 0], |r| {
                    r.r12 = sentry_pid
                })
                .and_then(|child| {
                    if child < 0 {
                        Err(PlatformError::host("clone(stub)", -child as i32))
                    } else {
                        Ok(child as i32)
                    }
                });
                let _ = reply.send(r);
            }
        }
    }
    tracee::kill_process(pid);
    tracee::reap(pid);
}

/// Forks the master stub from this thread and waits for it to stop.
fn start_master(stub: &'static Stub, memfd: i32) -> Result<i32, PlatformError> {
    let pid = stub_fork::fork_master(stub, memfd)?;
    match tracee::wait(pid)? {
        Stop::Signal(libc::SIGSTOP) => {}
        other => {
            tracee::kill_process(pid);
            return Err(PlatformError::StubDied { pid, why: format!("master start-up: {other:?}") });
        }
    }
    tracee::set_options(pid)?;
    // The kernel's XSAVE layout size for this machine, for FpState.
    let mut probe = vec![0u8; 1 << 16];
    let size = tracee::get_fp(pid, &mut probe)?;
    if !crate::cpu::set_xsave_size(size) {
        tracing::warn!(size, "XSAVE size differs from the one already in use");
    }
    Ok(pid)
}

mod stub_fork {
    use super::stub::{Stub, USER_END};
    use crate::sys;
    use crate::PlatformError;

    /// Forks this process; the child runs the stub's master start-up code
    /// and never returns into Rust.
    pub fn fork_master(stub: &Stub, memfd: i32) -> Result<i32, PlatformError> {
        let ppid = sys::getpid() as u64;
        let (rseq_area, rseq_len) = sys::rseq_area();
        let ret: i64;
        // SAFETY: a raw fork (clone with SIGCHLD, no shared memory). In the
        // parent it is an ordinary system call returning the child's pid.
        // The child jumps straight to the stub page (present in the copy of
        // our address space) and never executes Rust code or touches the
        // stack; the stub unmaps everything but itself.
        unsafe {
            core::arch::asm!(
                "syscall",
                "test rax, rax",
                "jnz 2f",
                "jmp r9",
                "2:",
                inlateout("rax") libc::SYS_clone => ret,
                in("rdi") libc::SIGCHLD as u64,
                in("rsi") 0u64,
                in("rdx") 0u64,
                in("r10") rseq_len,
                in("r8") rseq_area,
                in("r9") stub.master_init,
                in("r12") ppid,
                in("r13") stub.base,
                in("r14") memfd as u64,
                in("r15") USER_END,
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack),
            );
        }
        if ret < 0 {
            return Err(PlatformError::host("fork(master stub)", -ret as i32));
        }
        Ok(ret as i32)
    }
}
