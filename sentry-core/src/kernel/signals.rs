//! Signal numbers, dispositions, default actions, `siginfo` and pending
//! signal queues.
//!
//! A signal sent to a process waits in the thread group's shared queue, one
//! sent to a thread (tgkill, a fault) in the task's own queue; standard
//! signals (1-31) are pending at most once, real-time ones queue. Delivery
//! (choosing, running a handler on a signal frame, default actions) is in
//! `kernel::task` and `arch::signal`.

use std::collections::VecDeque;

pub use platforms::SigInfo;

/// `SIG_DFL`.
pub const SIG_DFL: u64 = 0;
/// `SIG_IGN`.
pub const SIG_IGN: u64 = 1;
/// Number of signals.
pub const NSIG: usize = 64;

/// A `struct sigaction` (kernel layout: handler, flags, restorer, mask).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigAction {
    pub handler: u64,
    pub flags: u64,
    pub restorer: u64,
    pub mask: u64,
}

impl SigAction {
    /// From the 32-byte kernel layout.
    pub fn from_bytes(b: &[u8; 32]) -> SigAction {
        let w = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[i * 8..i * 8 + 8]);
            u64::from_le_bytes(a)
        };
        SigAction { handler: w(0), flags: w(1), restorer: w(2), mask: w(3) }
    }

    /// To the 32-byte kernel layout.
    pub fn to_bytes(&self) -> [u8; 32] {
        let mut b = [0u8; 32];
        for (i, v) in [self.handler, self.flags, self.restorer, self.mask].iter().enumerate() {
            b[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
        }
        b
    }
}

/// What a signal does by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultAction {
    Terminate,
    CoreDump,
    Ignore,
    Stop,
    Continue,
}

/// The default action of `sig`.
pub fn default_action(sig: i32) -> DefaultAction {
    match sig {
        libc::SIGCHLD | libc::SIGURG | libc::SIGWINCH => DefaultAction::Ignore,
        libc::SIGCONT => DefaultAction::Continue,
        libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU => DefaultAction::Stop,
        libc::SIGQUIT
        | libc::SIGILL
        | libc::SIGTRAP
        | libc::SIGABRT
        | libc::SIGBUS
        | libc::SIGFPE
        | libc::SIGSEGV
        | libc::SIGXCPU
        | libc::SIGXFSZ
        | libc::SIGSYS => DefaultAction::CoreDump,
        _ => DefaultAction::Terminate,
    }
}

/// Signals that can be neither caught nor ignored.
pub fn is_unblockable(sig: i32) -> bool {
    sig == libc::SIGKILL || sig == libc::SIGSTOP
}

/// The mask bit of `sig`.
pub fn bit(sig: i32) -> u64 {
    1u64 << (sig - 1)
}

/// `si_code` values.
pub mod code {
    pub const SI_USER: i32 = 0;
    pub const SI_KERNEL: i32 = 0x80;
    pub const SI_QUEUE: i32 = -1;
    pub const SI_TIMER: i32 = -2;
    pub const SI_TKILL: i32 = -6;
    pub const CLD_EXITED: i32 = 1;
    pub const CLD_KILLED: i32 = 2;
    pub const CLD_DUMPED: i32 = 3;
    pub const CLD_STOPPED: i32 = 5;
    pub const CLD_CONTINUED: i32 = 6;
}

/// `sa_flags` bits.
pub mod sa {
    pub const SA_NOCLDSTOP: u64 = 0x1;
    pub const SA_NOCLDWAIT: u64 = 0x2;
    pub const SA_SIGINFO: u64 = 0x4;
    pub const SA_RESTORER: u64 = 0x0400_0000;
    pub const SA_ONSTACK: u64 = 0x0800_0000;
    pub const SA_RESTART: u64 = 0x1000_0000;
    pub const SA_NODEFER: u64 = 0x4000_0000;
    pub const SA_RESETHAND: u64 = 0x8000_0000;
}

fn put_i32(si: &mut SigInfo, off: usize, v: i32) {
    si.raw[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

fn put_u64(si: &mut SigInfo, off: usize, v: u64) {
    si.raw[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

/// A `siginfo` with signal number and code.
pub fn info(signo: i32, code: i32) -> SigInfo {
    let mut si = SigInfo::zeroed();
    put_i32(&mut si, 0, signo);
    put_i32(&mut si, 8, code);
    si
}

/// A `siginfo` from `kill`/`tgkill`/`sigqueue` (sender pid and uid).
pub fn info_from(signo: i32, code: i32, pid: i32, uid: u32) -> SigInfo {
    let mut si = info(signo, code);
    put_i32(&mut si, 16, pid);
    put_i32(&mut si, 20, uid as i32);
    si
}

/// The `SIGCHLD` (or other exit signal) `siginfo` of a child's state
/// change.
pub fn info_child(signo: i32, code: i32, pid: i32, uid: u32, status: i32) -> SigInfo {
    let mut si = info_from(signo, code, pid, uid);
    put_i32(&mut si, 24, status);
    si
}

/// Sets the `sigval` of a queued signal (`sigqueue`, timers).
pub fn set_value(si: &mut SigInfo, value: u64) {
    put_u64(si, 24, value);
}

/// The sender pid of a `siginfo` (kill/queue/child layouts).
pub fn info_pid(si: &SigInfo) -> i32 {
    i32::from_le_bytes(si.raw[16..20].try_into().unwrap_or([0; 4]))
}

/// Signals waiting for delivery.
#[derive(Debug, Default)]
pub struct PendingSignals {
    /// Bit per pending signal.
    mask: u64,
    /// The `siginfo` of each pending signal, oldest first.
    queue: VecDeque<SigInfo>,
}

/// Real-time signals queued per queue at most (RLIMIT_SIGPENDING-like
/// bound, so a flood cannot exhaust the Sentry's memory).
pub const MAX_QUEUED: usize = 4096;

impl PendingSignals {
    /// Queues `si`; false if it was dropped (a standard signal already
    /// pending, or the queue is full).
    pub fn enqueue(&mut self, si: SigInfo) -> bool {
        let sig = si.signo();
        if !(1..=NSIG as i32).contains(&sig) {
            return false;
        }
        if (sig < SIGRTMIN && self.mask & bit(sig) != 0) || self.queue.len() >= MAX_QUEUED {
            return false;
        }
        self.mask |= bit(sig);
        self.queue.push_back(si);
        true
    }

    /// The pending set.
    pub fn mask(&self) -> u64 {
        self.mask
    }

    /// Takes the lowest-numbered pending signal not in `blocked`.
    pub fn dequeue(&mut self, blocked: u64) -> Option<SigInfo> {
        let ready = self.mask & !blocked;
        if ready == 0 {
            return None;
        }
        let sig = ready.trailing_zeros() as i32 + 1;
        self.take(sig)
    }

    /// Takes the first pending instance of `sig`.
    pub fn take(&mut self, sig: i32) -> Option<SigInfo> {
        let i = self.queue.iter().position(|s| s.signo() == sig)?;
        let si = self.queue.remove(i)?;
        if !self.queue.iter().any(|s| s.signo() == sig) {
            self.mask &= !bit(sig);
        }
        Some(si)
    }

    /// Discards every pending instance of the signals in `set`.
    pub fn discard(&mut self, set: u64) {
        self.queue.retain(|s| set & bit(s.signo()) == 0);
        self.mask &= !set;
    }
}

/// First real-time signal.
pub const SIGRTMIN: i32 = 32;

/// The stop signals.
pub const STOP_SIGNALS: u64 =
    (1 << (libc::SIGSTOP - 1)) | (1 << (libc::SIGTSTP - 1)) | (1 << (libc::SIGTTIN - 1)) | (1 << (libc::SIGTTOU - 1));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_signals_coalesce_realtime_signals_queue() {
        let mut p = PendingSignals::default();
        assert!(p.enqueue(info(libc::SIGUSR1, code::SI_USER)));
        assert!(!p.enqueue(info(libc::SIGUSR1, code::SI_USER)));
        assert!(p.enqueue(info(40, code::SI_QUEUE)));
        assert!(p.enqueue(info(40, code::SI_QUEUE)));
        assert_eq!(p.mask(), bit(libc::SIGUSR1) | bit(40));
        assert_eq!(p.dequeue(bit(libc::SIGUSR1)).map(|s| s.signo()), Some(40));
        assert_eq!(p.mask(), bit(libc::SIGUSR1) | bit(40), "one instance of 40 left");
        assert_eq!(p.dequeue(0).map(|s| s.signo()), Some(libc::SIGUSR1));
        assert_eq!(p.dequeue(0).map(|s| s.signo()), Some(40));
        assert!(p.dequeue(0).is_none());
        assert_eq!(p.mask(), 0);
    }

    #[test]
    fn siginfo_layouts() {
        let si = info_child(libc::SIGCHLD, code::CLD_EXITED, 7, 1000, 3);
        assert_eq!(si.signo(), libc::SIGCHLD);
        assert_eq!(si.code(), code::CLD_EXITED);
        assert_eq!(info_pid(&si), 7);
        assert_eq!(i32::from_le_bytes(si.raw[24..28].try_into().unwrap()), 3);
    }
}
