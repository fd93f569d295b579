//! An address space of the ptrace platform: one stub process.

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::stub::{Stub, SIGNAL_STACK_SIZE};
use super::{tracee, Shared, MIN_USER_ADDRESS};
use crate::{AddressSpace, Perms, PlatformError, PAGE_SIZE};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// Stub threads traced by this host thread, by address-space id: any of
    /// them can run an injected `mmap` without a round trip to the control
    /// thread.
    static INJECTORS: RefCell<HashMap<u64, i32>> = RefCell::new(HashMap::new());
}

pub(crate) fn register_injector(space: u64, tid: i32) {
    INJECTORS.with(|m| m.borrow_mut().insert(space, tid));
}

pub(crate) fn unregister_injector(space: u64, tid: i32) {
    INJECTORS.with(|m| {
        let mut m = m.borrow_mut();
        if m.get(&space) == Some(&tid) {
            m.remove(&space);
        }
    });
}

/// The part of an address space that contexts keep a reference to.
pub(crate) struct Inner {
    pub id: u64,
    /// Pid of the stub process (its first thread is traced by the control
    /// thread).
    pub pid: i32,
    pub stub: &'static Stub,
    control: Mutex<mpsc::Sender<Control>>,
    /// False once the address space is dropped and its stub killed.
    pub alive: AtomicBool,
    /// Stub threads handed to contexts and not yet given back.
    threads_out: AtomicUsize,
}

enum Control {
    Syscall { nr: u64, args: [u64; 6], reply: mpsc::Sender<Result<i64, PlatformError>> },
    NewThread { reply: mpsc::Sender<Result<(i32, u64), PlatformError>> },
    FreeSlot(u64),
    Shutdown,
}

impl Inner {
    fn request<T>(&self, make: impl FnOnce(mpsc::Sender<T>) -> Control) -> Result<T, PlatformError> {
        let gone = || PlatformError::StubDied { pid: self.pid, why: "address space control thread gone".into() };
        let (tx, rx) = mpsc::channel();
        self.control.lock().unwrap_or_else(|e| e.into_inner()).send(make(tx)).map_err(|_| gone())?;
        rx.recv().map_err(|_| gone())
    }

    /// Creates a stub thread for a context; returns its tid and stack slot.
    /// The thread is running `pause()`, untraced: the caller seizes it.
    pub fn new_thread(&self) -> Result<(i32, u64), PlatformError> {
        let r = self.request(|reply| Control::NewThread { reply })?;
        if r.is_ok() {
            self.threads_out.fetch_add(1, Ordering::SeqCst);
        }
        r
    }

    /// A context gave back (and reaped) a stub thread.
    pub fn thread_released(&self, slot: u64) {
        self.threads_out.fetch_sub(1, Ordering::SeqCst);
        let _ = self.control.lock().unwrap_or_else(|e| e.into_inner()).send(Control::FreeSlot(slot));
    }

    /// Runs a system call in the stub process.
    fn syscall(&self, nr: i64, args: [u64; 6]) -> Result<i64, PlatformError> {
        let local = INJECTORS.with(|m| m.borrow().get(&self.id).copied());
        match local {
            Some(tid) => tracee::inject(tid, self.stub.syscall, nr as u64, args, |_| {}),
            None => self.request(|reply| Control::Syscall { nr: nr as u64, args, reply })?,
        }
    }
}

/// An address space of the ptrace platform.
pub struct PtraceAddressSpace {
    inner: Arc<Inner>,
    memfd: i32,
    max_address: u64,
    control_thread: Mutex<Option<JoinHandle<()>>>,
    _platform: Arc<Shared>,
}

impl PtraceAddressSpace {
    pub(crate) fn new(platform: Arc<Shared>) -> Result<PtraceAddressSpace, PlatformError> {
        let pid = platform.fork_stub()?;
        let stub = platform.stub;
        let (tx, rx) = mpsc::channel();
        let (ready_tx, ready_rx) = mpsc::channel();
        let handle = std::thread::Builder::new()
            .name(format!("ptrace-as-{pid}"))
            .spawn(move || control_main(pid, stub, ready_tx, rx))
            .map_err(|e| {
                tracee::kill_process(pid);
                PlatformError::Host { op: "spawn address-space thread", source: e }
            })?;
        ready_rx
            .recv()
            .map_err(|_| PlatformError::StubDied { pid, why: "control thread ended during start-up".into() })??;
        Ok(PtraceAddressSpace {
            inner: Arc::new(Inner {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                pid,
                stub,
                control: Mutex::new(tx),
                alive: AtomicBool::new(true),
                threads_out: AtomicUsize::new(0),
            }),
            memfd: platform.memory.fd(),
            max_address: stub.base,
            control_thread: Mutex::new(Some(handle)),
            _platform: platform,
        })
    }

    /// Pid of the host stub process behind this address space.
    pub fn stub_pid(&self) -> i32 {
        self.inner.pid
    }

    pub(crate) fn inner(&self) -> &Arc<Inner> {
        &self.inner
    }

    fn check_range(&self, addr: u64, len: u64) -> Result<(), PlatformError> {
        let bad = |why| Err(PlatformError::InvalidRange { addr, len, why });
        if addr % PAGE_SIZE != 0 || len % PAGE_SIZE != 0 {
            return bad("not page-aligned");
        }
        if len == 0 {
            return bad("empty");
        }
        match addr.checked_add(len) {
            Some(end) if addr >= MIN_USER_ADDRESS && end <= self.max_address => Ok(()),
            _ => bad("outside the user address range"),
        }
    }

    fn syscall(&self, op: &'static str, nr: i64, args: [u64; 6]) -> Result<i64, PlatformError> {
        let r = self.inner.syscall(nr, args)?;
        if r < 0 {
            return Err(PlatformError::host(op, -r as i32));
        }
        Ok(r)
    }
}

impl AddressSpace for PtraceAddressSpace {
    fn map_file(&self, addr: u64, len: u64, offset: u64, perms: Perms) -> Result<(), PlatformError> {
        self.check_range(addr, len)?;
        if offset % PAGE_SIZE != 0 {
            return Err(PlatformError::InvalidRange { addr: offset, len, why: "file offset not page-aligned" });
        }
        let flags = (libc::MAP_SHARED | libc::MAP_FIXED) as u64;
        let r = self.syscall(
            "mmap(stub)",
            libc::SYS_mmap,
            [addr, len, perms.to_prot() as u64, flags, self.memfd as u64, offset],
        )?;
        debug_assert_eq!(r as u64, addr);
        Ok(())
    }

    fn protect(&self, addr: u64, len: u64, perms: Perms) -> Result<(), PlatformError> {
        self.check_range(addr, len)?;
        // Unmapped parts of the range are not an error for the caller.
        match self.syscall("mprotect(stub)", libc::SYS_mprotect, [addr, len, perms.to_prot() as u64, 0, 0, 0]) {
            Err(PlatformError::Host { source, .. }) if source.raw_os_error() == Some(libc::ENOMEM) => Ok(()),
            r => r.map(drop),
        }
    }

    fn unmap(&self, addr: u64, len: u64) -> Result<(), PlatformError> {
        self.check_range(addr, len)?;
        self.syscall("munmap(stub)", libc::SYS_munmap, [addr, len, 0, 0, 0, 0]).map(drop)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Drop for PtraceAddressSpace {
    fn drop(&mut self) {
        self.inner.alive.store(false, Ordering::SeqCst);
        let _ = self.inner.control.lock().unwrap_or_else(|e| e.into_inner()).send(Control::Shutdown);
        // The control thread reaps the stub once every thread of it is gone.
        // Threads still held by contexts are reaped by their tracers later,
        // so only wait when none are out.
        if let Some(h) = self.control_thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            if self.inner.threads_out.load(Ordering::SeqCst) == 0 {
                let _ = h.join();
            }
        }
    }
}

/// The control thread: tracer of the stub process's first thread.
fn control_main(
    pid: i32,
    stub: &'static Stub,
    ready: mpsc::Sender<Result<(), PlatformError>>,
    requests: mpsc::Receiver<Control>,
) {
    if let Err(e) = tracee::attach_parked(pid, &stub.park) {
        tracee::kill_process(pid);
        let _ = ready.send(Err(e));
        return;
    }
    let _ = ready.send(Ok(()));

    let mut slots = Slots { next: 1, free: Vec::new(), max: stub.max_slots() };
    for req in requests {
        match req {
            Control::Syscall { nr, args, reply } => {
                let _ = reply.send(tracee::inject(pid, stub.syscall, nr, args, |_| {}));
            }
            Control::NewThread { reply } => {
                let _ = reply.send(new_thread(pid, stub, &mut slots));
            }
            Control::FreeSlot(slot) => slots.free.push(slot),
            Control::Shutdown => break,
        }
    }
    tracee::kill_process(pid);
    tracee::reap(pid);
}

/// Signal-stack slots of an address space's stub threads. A slot's stack
/// stays mapped when freed and is reused as is.
struct Slots {
    next: u64,
    free: Vec<u64>,
    max: u64,
}

fn new_thread(pid: i32, stub: &'static Stub, slots: &mut Slots) -> Result<(i32, u64), PlatformError> {
    let slot = match slots.free.pop() {
        Some(s) => s,
        None => {
            if slots.next >= slots.max {
                return Err(PlatformError::OutOfMemory { requested: SIGNAL_STACK_SIZE, available: 0 });
            }
            let slot = slots.next;
            let stack = stub.signal_stack(slot);
            let prot = (libc::PROT_READ | libc::PROT_WRITE) as u64;
            let flags = (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED) as u64;
            let r = tracee::inject(
                pid,
                stub.syscall,
                libc::SYS_mmap as u64,
                [stack, SIGNAL_STACK_SIZE, prot, flags, u64::MAX, 0],
                |_| {},
            )?;
            if r < 0 {
                return Err(PlatformError::host("mmap(signal stack)", -r as i32));
            }
            slots.next += 1;
            slot
        }
    };
    let stack = stub.signal_stack(slot);
    let flags = (libc::CLONE_VM
        | libc::CLONE_FS
        | libc::CLONE_FILES
        | libc::CLONE_SIGHAND
        | libc::CLONE_THREAD
        | libc::CLONE_SYSVSEM) as u64;
    let tid = tracee::inject(pid, stub.thread, libc::SYS_clone as u64, [flags, 0, 0, 0, 0, 0], |r| {
        r.r12 = stack;
        r.r13 = SIGNAL_STACK_SIZE;
    })?;
    if tid < 0 {
        slots.free.push(slot);
        return Err(PlatformError::host("clone(stub thread)", -tid as i32));
    }
    Ok((tid as i32, slot))
}
