//! A context of the ptrace platform: the Sentry thread that creates it traces
//! one stub thread per address space it runs application code in.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::address_space::{register_injector, unregister_injector, Inner};
use super::stub::{Stub, FAULT_REPORT_NR};
use super::tracee::{self, Resume, Stop};
use super::{PtraceAddressSpace, KICK_SIGNAL};
use crate::cpu::CpuState;
use crate::sys;
use crate::{AddressSpace, Context, Exit, Interrupter, Perms, PlatformError, SigInfo};

/// A stub thread this context traces.
struct StubThread {
    space: Arc<Inner>,
    tid: i32,
    slot: u64,
    /// CPU the thread is pinned to (-1: not yet).
    cpu: i32,
}

/// Execution context of the ptrace platform. Not `Send`: ptrace binds a
/// tracee to the host thread that attached it.
pub struct PtraceContext {
    owner: i32,
    stub: &'static Stub,
    interrupter: Arc<Interrupter>,
    threads: HashMap<u64, StubThread>,
    /// The stub thread (address-space id, tid) whose FP registers hold the
    /// application's FP state while the Sentry's copy is not current.
    fp_home: Option<(u64, i32)>,
    _not_send: PhantomData<*const ()>,
}

impl PtraceContext {
    pub(crate) fn new(stub: &'static Stub) -> PtraceContext {
        PtraceContext {
            owner: sys::gettid(),
            stub,
            interrupter: Arc::new(Interrupter::new(KICK_SIGNAL)),
            threads: HashMap::new(),
            fp_home: None,
            _not_send: PhantomData,
        }
    }

    /// Host tid of the stub thread this context runs in `space`, if any.
    pub fn stub_thread(&self, space: &PtraceAddressSpace) -> Option<i32> {
        self.threads.get(&space.inner().id).map(|t| t.tid)
    }

    fn check_thread(&self) -> Result<(), PlatformError> {
        let used = sys::gettid();
        if used != self.owner {
            return Err(PlatformError::WrongThread { owner: self.owner, used });
        }
        Ok(())
    }

    /// The stub thread for `space`, created and attached on first use.
    fn thread_for(&mut self, space: &PtraceAddressSpace) -> Result<&mut StubThread, PlatformError> {
        let id = space.inner().id;
        if !self.threads.contains_key(&id) {
            self.release_dead();
            let inner = space.inner().clone();
            let (tid, slot) = inner.new_thread()?;
            if let Err(e) = tracee::attach_parked(tid, &self.stub.park) {
                tracee::kill_process(inner.pid);
                inner.thread_released(slot);
                return Err(e);
            }
            register_injector(id, tid);
            self.threads.insert(id, StubThread { space: inner, tid, slot, cpu: -1 });
        }
        Ok(self.threads.get_mut(&id).expect("inserted above"))
    }

    /// Reaps stub threads of address spaces that have been dropped.
    fn release_dead(&mut self) {
        let dead: Vec<u64> =
            self.threads.iter().filter(|(_, t)| !t.space.alive.load(Ordering::SeqCst)).map(|(&id, _)| id).collect();
        for id in dead {
            if let Some(t) = self.threads.remove(&id) {
                self.release(t);
            }
        }
    }

    fn release(&mut self, t: StubThread) {
        unregister_injector(t.space.id, t.tid);
        if self.fp_home.is_some_and(|(_, tid)| tid == t.tid) {
            self.fp_home = None;
        }
        if t.space.alive.load(Ordering::SeqCst) {
            if tracee::exit_thread(t.tid, self.stub.syscall).is_err() {
                // The stub is unusable; make sure it is gone, then reap.
                tracee::kill_process(t.space.pid);
                tracee::reap(t.tid);
            }
        } else {
            // Killed with its process: collect the zombie.
            tracee::reap(t.tid);
        }
        t.space.thread_released(t.slot);
    }

    /// Loads the application's FP state into stub thread `tid` if it is not
    /// already there.
    fn place_fp(&mut self, space: u64, tid: i32, cpu: &mut CpuState) -> Result<(), PlatformError> {
        if !cpu.fp_is_modified() && self.fp_home == Some((space, tid)) {
            return Ok(());
        }
        if !cpu.fp_is_current() {
            self.pull_fp(cpu)?;
        }
        tracee::set_fp(tid, cpu.fp_raw())?;
        cpu.fp_pushed();
        self.fp_home = Some((space, tid));
        Ok(())
    }

    /// Completes a page fault: the stub's handler reports the hardware error
    /// code; then the application's state is put back.
    fn fault(&mut self, tid: i32, cpu: &mut CpuState, info: SigInfo) -> Result<Exit, PlatformError> {
        cpu.regs = tracee::get_regs(tid)?;
        if !cpu.fp_is_current() {
            tracee::get_fp(tid, cpu.fp_pull_buffer())?;
        }
        tracee::resume(tid, Resume::Sysemu, info.signo())?;
        loop {
            match tracee::wait(tid)? {
                Stop::Syscall => break,
                Stop::Signal(KICK_SIGNAL) | Stop::Interrupt => tracee::resume(tid, Resume::Sysemu, 0)?,
                other => return Err(stub_failure(tid, other)),
            }
        }
        let report = tracee::get_regs(tid)?;
        if report.rip != self.stub.fault_reported || report.orig_rax != FAULT_REPORT_NR {
            return Err(PlatformError::UnexpectedStop {
                tid,
                what: format!("expected a fault report, got syscall {} at {:#x}", report.orig_rax, report.rip),
            });
        }
        // Entering the handler reset the thread's FP registers: the next
        // switch loads the saved state back (the registers are always set).
        cpu.fp_mark_must_push();
        let err = report.r8;
        let access =
            Perms { read: err & (PF_WRITE | PF_INSTR) == 0, write: err & PF_WRITE != 0, execute: err & PF_INSTR != 0 };
        Ok(Exit::Fault { addr: info.addr(), access, info })
    }
}

/// x86 page-fault error code bits.
const PF_WRITE: u64 = 1 << 1;
const PF_INSTR: u64 = 1 << 4;

/// Whether a SIGSEGV/SIGBUS comes from a page fault (and so carries an
/// error code worth asking the stub's handler for).
fn is_page_fault(signo: i32, code: i32) -> bool {
    const SEGV_MAPERR: i32 = 1;
    const SEGV_ACCERR: i32 = 2;
    const SEGV_PKUERR: i32 = 4;
    const BUS_ADRERR: i32 = 2;
    match signo {
        libc::SIGSEGV => matches!(code, SEGV_MAPERR | SEGV_ACCERR | SEGV_PKUERR),
        libc::SIGBUS => code == BUS_ADRERR,
        _ => false,
    }
}

fn stub_failure(tid: i32, stop: Stop) -> PlatformError {
    match stop {
        Stop::Exited(_) | Stop::Killed(_) => PlatformError::StubDied { pid: tid, why: format!("{stop:?}") },
        other => PlatformError::UnexpectedStop { tid, what: format!("{other:?}") },
    }
}

impl Context for PtraceContext {
    fn switch(&mut self, address_space: &Arc<dyn AddressSpace>, cpu: &mut CpuState) -> Result<Exit, PlatformError> {
        self.check_thread()?;
        if self.interrupter.take() {
            return Ok(Exit::Interrupted);
        }
        let space =
            address_space.as_any().downcast_ref::<PtraceAddressSpace>().ok_or(PlatformError::ForeignAddressSpace)?;
        let space_id = space.inner().id;
        let pid = space.inner().pid;
        let thread = self.thread_for(space)?;
        let tid = thread.tid;
        let here = sys::current_cpu();
        if thread.cpu != here {
            sys::pin_to_cpu(tid, here)?;
            thread.cpu = here;
        }
        self.place_fp(space_id, tid, cpu)?;
        let mut regs = cpu.regs;
        regs.orig_rax = u64::MAX;
        tracee::set_regs(tid, &regs)?;

        self.interrupter.set_running(pid, tid);
        let result = self.run(tid, cpu);
        self.interrupter.set_running(0, 0);
        result
    }

    fn pull_fp(&mut self, cpu: &mut CpuState) -> Result<(), PlatformError> {
        self.check_thread()?;
        if cpu.fp_is_current() {
            return Ok(());
        }
        let (_, tid) = self
            .fp_home
            .ok_or(PlatformError::StubDied { pid: 0, why: "FP state lost with its address space".into() })?;
        tracee::get_fp(tid, cpu.fp_pull_buffer())?;
        Ok(())
    }

    fn interrupter(&self) -> Arc<Interrupter> {
        self.interrupter.clone()
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

impl PtraceContext {
    /// Runs the application in stopped stub thread `tid` until it needs the
    /// Sentry.
    fn run(&mut self, tid: i32, cpu: &mut CpuState) -> Result<Exit, PlatformError> {
        // An interrupt that arrived before `set_running` sent no kick.
        if self.interrupter.take() {
            return Ok(Exit::Interrupted);
        }
        cpu.fp_ran();
        loop {
            tracee::resume(tid, Resume::Sysemu, 0)?;
            match tracee::wait(tid)? {
                Stop::Syscall => {
                    cpu.regs = tracee::get_regs(tid)?;
                    return Ok(Exit::Syscall);
                }
                Stop::Signal(KICK_SIGNAL) | Stop::Interrupt => {
                    if self.interrupter.take() {
                        cpu.regs = tracee::get_regs(tid)?;
                        return Ok(Exit::Interrupted);
                    }
                    // A stale kick: keep running.
                }
                Stop::Signal(sig) => {
                    let info = tracee::get_siginfo(tid)?;
                    if is_page_fault(sig, info.code()) {
                        return self.fault(tid, cpu, info);
                    }
                    cpu.regs = tracee::get_regs(tid)?;
                    return Ok(Exit::Signal(info));
                }
                other => return Err(stub_failure(tid, other)),
            }
        }
    }
}

impl Drop for PtraceContext {
    fn drop(&mut self) {
        if sys::gettid() != self.owner {
            // Only the tracer can release its stub threads; the process-wide
            // PTRACE_O_EXITKILL still cleans up when this thread exits.
            tracing::error!(owner = self.owner, "ptrace context dropped on a foreign thread");
            return;
        }
        let threads: Vec<StubThread> = self.threads.drain().map(|(_, t)| t).collect();
        for t in threads {
            self.release(t);
        }
    }
}
