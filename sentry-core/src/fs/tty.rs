//! Terminal job control, shared by every kind of terminal the sandbox has:
//! the Sentry's own pseudo-terminals ([`pty`](super::pty)) and the host
//! terminals handed to it as a container's console
//! ([`host_tty`](super::host_tty)).
//!
//! Linux keeps, per terminal, the session it controls and that session's
//! foreground process group, and per process its controlling terminal. Here
//! a terminal keeps the session it controls ([`JobControl`]); a process's
//! controlling terminal is the terminal whose session is the process's
//! session ([`controlling_terminal`]). The two agree because a session
//! loses its terminal when its leader exits ([`session_leader_exited`]) and
//! `setsid` makes a new session, which controls nothing.
//!
//! What follows from the state, as on Linux:
//! - `TIOCSCTTY`, `TIOCNOTTY`, `TIOCGPGRP`, `TIOCSPGRP`, `TIOCGSID`
//!   ([`JobControl::ioctl`]);
//! - reads from a background process group send it `SIGTTIN`, and writes
//!   (with `TOSTOP`) and terminal changes send it `SIGTTOU`; the call is
//!   restarted once the group runs in the foreground. A caller that ignores
//!   or blocks the signal reads `EIO` (and writes anyway); an orphaned
//!   group gets `EIO` ([`JobControl::check_read`],
//!   [`JobControl::check_change`]);
//! - the characters of `ISIG` and window size changes signal the foreground
//!   process group ([`JobControl::signal_foreground`]).
//!
//! Host process groups mean nothing here: all of this is about sandbox
//! processes. A [`JobControl`]'s mutex is a leaf; signals are sent after it
//! is released.

use std::sync::{Arc, Mutex};

use crate::errno::{Errno, SysResult};
use crate::kernel::signals::{self, code};
use crate::kernel::{Kernel, TaskShared, ThreadGroup};
use crate::mm::{lock, MM};
use crate::vfs::FileOps;

pub(crate) const TIOCSCTTY: u64 = 0x540e;
pub(crate) const TIOCGPGRP: u64 = 0x540f;
pub(crate) const TIOCSPGRP: u64 = 0x5410;
pub(crate) const TIOCNOTTY: u64 = 0x5422;
pub(crate) const TIOCGSID: u64 = 0x5429;

/// `TOSTOP` in `c_lflag`: background writes stop the writer.
pub(crate) const TOSTOP: u32 = 0x100;

/// Which session a terminal controls, and its foreground process group.
#[derive(Default)]
pub struct JobControl {
    state: Mutex<Ctl>,
}

#[derive(Clone, Copy, Default)]
struct Ctl {
    /// Session id (its leader's pid); 0: none.
    session: i32,
    /// Foreground process group; 0: none.
    foreground: i32,
}

/// The calling task, as job control needs it.
pub(crate) struct Caller {
    pub tgid: i32,
    pub pgid: i32,
    pub sid: i32,
    group: Arc<ThreadGroup>,
    thread: Arc<TaskShared>,
}

impl Caller {
    /// The task the calling host thread serves, if any.
    pub fn current(k: &Kernel) -> Option<Caller> {
        let (tgid, tid) = crate::kernel::current::get()?;
        let (thread, group) = k.pids().task(tid)?;
        Some(Caller { tgid, pgid: group.pgid(), sid: group.sid(), group, thread })
    }

    fn leads_session(&self) -> bool {
        self.sid == self.tgid
    }

    /// Whether the caller ignores or blocks `sig` (then the terminal does
    /// not stop it).
    fn ignores(&self, sig: i32) -> bool {
        let ignored = lock(&self.group.sigactions)[(sig - 1) as usize].handler == signals::SIG_IGN;
        ignored || self.thread.mask() & signals::bit(sig) != 0
    }
}

impl JobControl {
    pub fn new() -> JobControl {
        JobControl::default()
    }

    /// The session the terminal controls (0: none).
    pub fn session(&self) -> i32 {
        lock(&self.state).session
    }

    /// The foreground process group (0: none).
    pub fn foreground(&self) -> i32 {
        lock(&self.state).foreground
    }

    /// Makes the terminal the controlling terminal of session `sid`, with
    /// `pgid` in the foreground (the runtime giving a container its
    /// console, or `TIOCSCTTY`).
    pub fn set_controlling(&self, sid: i32, pgid: i32) {
        *lock(&self.state) = Ctl { session: sid, foreground: pgid };
    }

    /// The terminal controls no session any more.
    pub fn clear(&self) {
        *lock(&self.state) = Ctl::default();
    }

    /// Sends `sig` to the foreground process group, if there is one.
    pub fn signal_foreground(&self, k: &Kernel, sig: i32) {
        let fg = self.foreground();
        if fg > 0 {
            signal_group(k, fg, sig);
        }
    }

    /// A hang-up (the other end went away): the session leader gets
    /// `SIGHUP` and `SIGCONT`, as on Linux.
    pub fn hang_up(&self, k: &Kernel) {
        let sid = self.session();
        if sid <= 0 {
            return;
        }
        let leader = k.pids().group(sid);
        if let Some(g) = leader.filter(|g| g.zombie_status().is_none()) {
            k.send_group_signal(&g, signals::info(libc::SIGHUP, code::SI_KERNEL));
            k.send_group_signal(&g, signals::info(libc::SIGCONT, code::SI_KERNEL));
        }
    }

    /// Whether the terminal is the caller's controlling terminal and the
    /// caller is not in its foreground: the caller is in the background.
    fn background(&self, c: &Caller) -> bool {
        let s = *lock(&self.state);
        s.session == c.sid && s.foreground != 0 && s.foreground != c.pgid
    }

    /// May the caller read? A background process group is sent `SIGTTIN`
    /// and the read is restarted once it is continued in the foreground.
    pub fn check_read(&self, k: &Kernel) -> Result<(), Errno> {
        self.check(k, libc::SIGTTIN)
    }

    /// May the caller write (with `TOSTOP`) or change the terminal's
    /// settings? A background process group is sent `SIGTTOU`.
    pub fn check_change(&self, k: &Kernel) -> Result<(), Errno> {
        self.check(k, libc::SIGTTOU)
    }

    /// [`check_change`](JobControl::check_change) for a write: only with
    /// `TOSTOP`, which `tostop` reports (asked only of background writers).
    pub fn check_write(&self, k: &Kernel, tostop: impl FnOnce() -> bool) -> Result<(), Errno> {
        let Some(c) = Caller::current(k) else { return Ok(()) };
        if !self.background(&c) || !tostop() {
            return Ok(());
        }
        self.check(k, libc::SIGTTOU)
    }

    fn check(&self, k: &Kernel, sig: i32) -> Result<(), Errno> {
        let Some(c) = Caller::current(k) else { return Ok(()) };
        if !self.background(&c) {
            return Ok(());
        }
        if c.ignores(sig) {
            return if sig == libc::SIGTTIN { Err(Errno::EIO) } else { Ok(()) };
        }
        // The sandbox's init drops signals it does not handle: stopping it
        // is impossible, and retrying would spin.
        let is_init = k.init().is_some_and(|i| Arc::ptr_eq(&i, &c.group));
        if is_init || orphaned(k, c.pgid) {
            return Err(Errno::EIO);
        }
        signal_group(k, c.pgid, sig);
        Err(Errno::ERESTARTSYS)
    }

    /// The job-control requests; `None` for any other request. `master`:
    /// the request came through a pty's master, which any process may ask.
    /// `others_control` tells whether session `sid` already has another
    /// controlling terminal.
    pub fn ioctl(
        &self,
        k: &Kernel,
        mm: Option<&MM>,
        master: bool,
        request: u64,
        arg: u64,
        others_control: impl FnOnce(i32) -> bool,
    ) -> Option<SysResult> {
        let r = match request {
            TIOCSCTTY => self.set_ctty(k, arg, others_control),
            TIOCNOTTY => self.notty(k),
            TIOCGPGRP => self.get_value(k, mm, master, arg, false),
            TIOCGSID => self.get_value(k, mm, master, arg, true),
            TIOCSPGRP => self.set_pgrp(k, mm, arg),
            _ => return None,
        };
        Some(r)
    }

    fn set_ctty(&self, k: &Kernel, arg: u64, others_control: impl FnOnce(i32) -> bool) -> SysResult {
        let c = Caller::current(k).ok_or(Errno::ENOTTY)?;
        if self.session() == c.sid {
            return Ok(0);
        }
        if !c.leads_session() || others_control(c.sid) {
            return Err(Errno::EPERM);
        }
        let mut s = lock(&self.state);
        // Taking another session's terminal needs `arg` 1 (and, on Linux,
        // CAP_SYS_ADMIN, which the sandbox's root has).
        if s.session != 0 && arg != 1 {
            return Err(Errno::EPERM);
        }
        *s = Ctl { session: c.sid, foreground: c.pgid };
        Ok(0)
    }

    fn notty(&self, k: &Kernel) -> SysResult {
        let c = Caller::current(k).ok_or(Errno::ENOTTY)?;
        if self.session() != c.sid {
            return Err(Errno::ENOTTY);
        }
        // Only a session leader's TIOCNOTTY detaches the terminal from the
        // session (others would lose it alone, which the per-session model
        // cannot express; they keep it). The foreground group hears of it.
        if c.leads_session() {
            let fg = self.foreground();
            self.clear();
            if fg > 0 {
                signal_group(k, fg, libc::SIGHUP);
                signal_group(k, fg, libc::SIGCONT);
            }
        }
        Ok(0)
    }

    /// TIOCGPGRP (`sid` false) and TIOCGSID (`sid` true).
    fn get_value(&self, k: &Kernel, mm: Option<&MM>, master: bool, arg: u64, sid: bool) -> SysResult {
        let s = *lock(&self.state);
        // Through the slave, only the caller's controlling terminal answers.
        if !master {
            let c = Caller::current(k).ok_or(Errno::ENOTTY)?;
            if s.session == 0 || s.session != c.sid {
                return Err(Errno::ENOTTY);
            }
        }
        if sid && s.session == 0 {
            return Err(Errno::ENOTTY);
        }
        let v = if sid { s.session } else { s.foreground };
        mm.ok_or(Errno::EFAULT)?.write_u32(arg, v as u32)?;
        Ok(0)
    }

    fn set_pgrp(&self, k: &Kernel, mm: Option<&MM>, arg: u64) -> SysResult {
        match self.check_change(k) {
            Err(Errno::EIO) => return Err(Errno::ENOTTY),
            Err(e) => return Err(e),
            Ok(()) => {}
        }
        let c = Caller::current(k).ok_or(Errno::ENOTTY)?;
        if self.session() != c.sid {
            return Err(Errno::ENOTTY);
        }
        let pgrp = mm.ok_or(Errno::EFAULT)?.read_u32(arg)? as i32;
        if pgrp < 0 {
            return Err(Errno::EINVAL);
        }
        let groups = k.pids().groups();
        let members: Vec<_> = groups.iter().filter(|g| g.pgid() == pgrp && g.zombie_status().is_none()).collect();
        if members.is_empty() {
            return Err(Errno::ESRCH);
        }
        if members.iter().any(|g| g.sid() != c.sid) {
            return Err(Errno::EPERM);
        }
        let mut s = lock(&self.state);
        if s.session != c.sid {
            return Err(Errno::ENOTTY);
        }
        s.foreground = pgrp;
        Ok(0)
    }
}

/// Sends `sig`, from the terminal driver, to every live process of
/// process group `pgrp`.
pub(crate) fn signal_group(k: &Kernel, pgrp: i32, sig: i32) {
    let groups = k.pids().groups();
    for g in groups {
        if g.pgid() == pgrp && g.zombie_status().is_none() {
            k.send_group_signal(&g, signals::info(sig, code::SI_KERNEL));
        }
    }
}

/// Whether process group `pgrp` is orphaned: no member has a parent in
/// another process group of the same session (nobody is left to continue
/// it after a stop).
fn orphaned(k: &Kernel, pgrp: i32) -> bool {
    let groups = k.pids().groups();
    !groups
        .iter()
        .filter(|g| g.pgid() == pgrp && g.zombie_status().is_none())
        .any(|g| g.parent().is_some_and(|p| p.zombie_status().is_none() && p.pgid() != pgrp && p.sid() == g.sid()))
}

/// A terminal a session can have as its controlling terminal.
pub(crate) trait Terminal: Send + Sync {
    fn job(&self) -> &JobControl;

    /// Opens the terminal again (`/dev/tty`).
    fn reopen(self: Arc<Self>) -> Result<Box<dyn FileOps>, Errno>;
}

/// Every terminal of the kernel: its pseudo-terminals and the host
/// terminals it was given.
pub(crate) fn terminals(k: &Kernel) -> Vec<Arc<dyn Terminal>> {
    let mut v = k.devpts().terminals();
    v.extend(k.inner.host_ttys.live().into_iter().map(|t| t as Arc<dyn Terminal>));
    v
}

/// The controlling terminal of session `sid`, if it has one.
pub(crate) fn controlling_terminal(k: &Kernel, sid: i32) -> Option<Arc<dyn Terminal>> {
    if sid <= 0 {
        return None;
    }
    terminals(k).into_iter().find(|t| t.job().session() == sid)
}

/// A session leader has exited: its session loses its controlling
/// terminal, whose foreground process group is sent `SIGHUP` (Linux's
/// `disassociate_ctty` on exit).
pub(crate) fn session_leader_exited(k: &Kernel, sid: i32) {
    if sid <= 0 {
        return;
    }
    for t in terminals(k) {
        if t.job().session() == sid {
            let fg = t.job().foreground();
            t.job().clear();
            if fg > 0 {
                signal_group(k, fg, libc::SIGHUP);
            }
        }
    }
}
