//! Signal system calls: dispositions, masks, alternate stacks, kill.
//!
//! Dispositions and masks are recorded faithfully; delivery to handlers
//! (signal frames, rt_sigreturn) comes later. Signals sent to the process
//! itself apply their default action (terminate, ignore) now; a signal with
//! a handler installed is dropped with a warning until delivery lands.

use super::{Args, Handler};
use crate::errno::{Errno, SysResult};
use crate::kernel::signals::{self, is_unblockable, SigAction, NSIG, SIG_IGN};
use crate::kernel::Task;

pub(super) const HANDLERS: &[(i64, Handler)] = &[
    (libc::SYS_rt_sigaction, sys_rt_sigaction),
    (libc::SYS_rt_sigprocmask, sys_rt_sigprocmask),
    (libc::SYS_sigaltstack, sys_sigaltstack),
    (libc::SYS_kill, sys_kill),
    (libc::SYS_tgkill, sys_tgkill),
    (libc::SYS_tkill, sys_tkill),
];

fn valid_signal(sig: i32) -> Result<(), Errno> {
    if sig < 1 || sig as usize > NSIG {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

fn sys_rt_sigaction(t: &mut Task, a: &Args) -> SysResult {
    let sig = a.i32(0);
    valid_signal(sig)?;
    if a.u64(3) != 8 {
        return Err(Errno::EINVAL);
    }
    let new = if a.u64(1) != 0 { Some(SigAction::from_bytes(&t.mm.read_bytes::<32>(a.u64(1))?)) } else { None };
    if new.is_some() && is_unblockable(sig) {
        return Err(Errno::EINVAL);
    }
    let old = {
        let mut acts = t.tg.sigactions.lock().unwrap_or_else(|e| e.into_inner());
        let old = acts[(sig - 1) as usize];
        if let Some(mut n) = new {
            n.mask &= !(signals::bit(libc::SIGKILL) | signals::bit(libc::SIGSTOP));
            acts[(sig - 1) as usize] = n;
        }
        old
    };
    if a.u64(2) != 0 {
        t.mm.copy_out(a.u64(2), &old.to_bytes())?;
    }
    Ok(0)
}

fn sys_rt_sigprocmask(t: &mut Task, a: &Args) -> SysResult {
    if a.u64(3) != 8 {
        return Err(Errno::EINVAL);
    }
    let old = t.signal_mask;
    if a.u64(1) != 0 {
        let set = t.mm.read_u64(a.u64(1))?;
        let new = match a.i32(0) {
            libc::SIG_BLOCK => old | set,
            libc::SIG_UNBLOCK => old & !set,
            libc::SIG_SETMASK => set,
            _ => return Err(Errno::EINVAL),
        };
        t.signal_mask = new & !(signals::bit(libc::SIGKILL) | signals::bit(libc::SIGSTOP));
    }
    if a.u64(2) != 0 {
        t.mm.write_u64(a.u64(2), old)?;
    }
    Ok(0)
}

/// `MINSIGSTKSZ` on x86-64.
const MINSIGSTKSZ: u64 = 2048;

fn sys_sigaltstack(t: &mut Task, a: &Args) -> SysResult {
    let old = t.alt_stack;
    if a.u64(0) != 0 {
        let b = t.mm.read_bytes::<24>(a.u64(0))?;
        let word = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[i * 8..i * 8 + 8]);
            u64::from_le_bytes(w)
        };
        let (sp, flags, size) = (word(0), word(1) as u32 as i32, word(2));
        if flags & !(libc::SS_DISABLE | libc::SS_ONSTACK) != 0 {
            return Err(Errno::EINVAL);
        }
        t.alt_stack = if flags & libc::SS_DISABLE != 0 {
            (0, libc::SS_DISABLE, 0)
        } else {
            if size < MINSIGSTKSZ {
                return Err(Errno::ENOMEM);
            }
            (sp, 0, size)
        };
    }
    if a.u64(1) != 0 {
        let mut b = [0u8; 24];
        b[..8].copy_from_slice(&old.0.to_le_bytes());
        b[8..12].copy_from_slice(&old.1.to_le_bytes());
        b[16..].copy_from_slice(&old.2.to_le_bytes());
        t.mm.copy_out(a.u64(1), &b)?;
    }
    Ok(0)
}

/// Sends `sig` to this task's own thread group.
fn send_self(t: &mut Task, sig: i32) -> SysResult {
    if sig == 0 {
        return Ok(0);
    }
    valid_signal(sig)?;
    let action = t.tg.sigactions.lock().map(|a| a[(sig - 1) as usize]).unwrap_or_default();
    if action.handler == SIG_IGN && !is_unblockable(sig) {
        return Ok(0);
    }
    if action.handler > SIG_IGN && !is_unblockable(sig) {
        tracing::warn!(tid = t.tid, sig, "signal handlers are not supported yet; signal dropped");
        return Ok(0);
    }
    if t.signal_mask & signals::bit(sig) != 0 && !is_unblockable(sig) {
        tracing::warn!(tid = t.tid, sig, "blocked signal dropped (pending signals are not supported yet)");
        return Ok(0);
    }
    t.signal_default(sig, false);
    Ok(0)
}

fn sys_kill(t: &mut Task, a: &Args) -> SysResult {
    let pid = a.i32(0);
    // The only process is the caller's own: pid, 0 (its group), -1 (all)
    // and -pgid all reach it.
    if pid != t.tg.tgid && pid != 0 && pid != -1 && pid != -t.tg.tgid {
        return Err(Errno::ESRCH);
    }
    send_self(t, a.i32(1))
}

fn sys_tgkill(t: &mut Task, a: &Args) -> SysResult {
    if a.i32(0) <= 0 || a.i32(1) <= 0 {
        return Err(Errno::EINVAL);
    }
    if a.i32(0) != t.tg.tgid || a.i32(1) != t.tid {
        return Err(Errno::ESRCH);
    }
    send_self(t, a.i32(2))
}

fn sys_tkill(t: &mut Task, a: &Args) -> SysResult {
    if a.i32(0) <= 0 {
        return Err(Errno::EINVAL);
    }
    if a.i32(0) != t.tid {
        return Err(Errno::ESRCH);
    }
    send_self(t, a.i32(1))
}
