//! Signal system calls: dispositions, masks, alternate stacks, sending,
//! waiting, and `rt_sigreturn`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Args, Handler};
use crate::arch::signal::{self as frame, AltStack};
use crate::errno::{Errno, SysResult};
use crate::kernel::signals::{self, bit, code, is_unblockable, SigAction, SigInfo, NSIG, SIG_DFL, SIG_IGN};
use crate::kernel::waiter::wait_until;
use crate::kernel::{Task, ThreadGroup};
use crate::mm::lock;

pub(super) const HANDLERS: &[(i64, Handler)] = &[
    (libc::SYS_rt_sigaction, sys_rt_sigaction),
    (libc::SYS_rt_sigprocmask, sys_rt_sigprocmask),
    (libc::SYS_sigaltstack, sys_sigaltstack),
    (libc::SYS_kill, sys_kill),
    (libc::SYS_tgkill, sys_tgkill),
    (libc::SYS_tkill, sys_tkill),
    (libc::SYS_rt_sigpending, sys_rt_sigpending),
    (libc::SYS_rt_sigsuspend, sys_rt_sigsuspend),
    (libc::SYS_pause, sys_pause),
    (libc::SYS_rt_sigtimedwait, sys_rt_sigtimedwait),
    (libc::SYS_rt_sigqueueinfo, sys_rt_sigqueueinfo),
    (libc::SYS_rt_tgsigqueueinfo, sys_rt_tgsigqueueinfo),
    (libc::SYS_rt_sigreturn, sys_rt_sigreturn),
];

fn valid_signal(sig: i32) -> Result<(), Errno> {
    if sig < 1 || sig as usize > NSIG {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

const UNBLOCKABLE: u64 = (1 << (libc::SIGKILL - 1)) | (1 << (libc::SIGSTOP - 1));

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
        let mut acts = lock(&t.tg.sigactions);
        let old = acts[(sig - 1) as usize];
        if let Some(mut n) = new {
            n.mask &= !UNBLOCKABLE;
            acts[(sig - 1) as usize] = n;
        }
        old
    };
    if let Some(n) = new {
        // A signal that becomes ignored is discarded (as Linux does).
        let ignored = n.handler == SIG_IGN
            || (n.handler == SIG_DFL
                && matches!(
                    signals::default_action(sig),
                    signals::DefaultAction::Ignore | signals::DefaultAction::Continue
                ));
        if ignored {
            lock(&t.tg.pending).discard(bit(sig));
            for task in t.tg.tasks() {
                lock(&task.pending).discard(bit(sig));
            }
        }
    }
    if a.u64(2) != 0 {
        t.mm.copy_out(a.u64(2), &old.to_bytes())?;
    }
    Ok(0)
}

fn sys_rt_sigprocmask(t: &mut Task, a: &Args) -> SysResult {
    if a.u64(3) != 8 {
        return Err(Errno::EINVAL);
    }
    let old = t.sigmask();
    if a.u64(1) != 0 {
        let set = t.mm.read_u64(a.u64(1))?;
        let new = match a.i32(0) {
            libc::SIG_BLOCK => old | set,
            libc::SIG_UNBLOCK => old & !set,
            libc::SIG_SETMASK => set,
            _ => return Err(Errno::EINVAL),
        };
        t.set_sigmask(new);
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
    let sp = t.cpu.regs.rsp;
    if a.u64(0) != 0 {
        let b = t.mm.read_bytes::<24>(a.u64(0))?;
        let word = |i: usize| u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
        let (ss_sp, flags, size) = (word(0), word(1) as u32 as i32, word(2));
        if old.contains(sp) {
            return Err(Errno::EPERM);
        }
        if flags & !(libc::SS_DISABLE | libc::SS_ONSTACK) != 0 {
            return Err(Errno::EINVAL);
        }
        t.alt_stack = if flags & libc::SS_DISABLE != 0 {
            AltStack::DISABLED
        } else {
            if size < MINSIGSTKSZ {
                return Err(Errno::ENOMEM);
            }
            AltStack { sp: ss_sp, flags: 0, size }
        };
    }
    if a.u64(1) != 0 {
        let mut b = [0u8; 24];
        b[..8].copy_from_slice(&old.sp.to_le_bytes());
        b[8..12].copy_from_slice(&old.flags_at(sp).to_le_bytes());
        b[16..].copy_from_slice(&old.size.to_le_bytes());
        t.mm.copy_out(a.u64(1), &b)?;
    }
    Ok(0)
}

/// The groups `kill(pid)` reaches.
fn kill_targets(t: &Task, pid: i32) -> Result<Vec<Arc<ThreadGroup>>, Errno> {
    let groups = t.kernel.pids().groups();
    let alive = |g: &Arc<ThreadGroup>| g.zombie_status().is_none();
    let v: Vec<Arc<ThreadGroup>> = match pid {
        p if p > 0 => return t.kernel.pids().group(p).map(|g| vec![g]).ok_or(Errno::ESRCH),
        0 => groups.into_iter().filter(|g| g.pgid() == t.tg.pgid() && alive(g)).collect(),
        -1 => groups.into_iter().filter(|g| g.tgid != 1 && !Arc::ptr_eq(g, &t.tg) && alive(g)).collect(),
        p => {
            let pg = p.checked_neg().ok_or(Errno::ESRCH)?;
            groups.into_iter().filter(|g| g.pgid() == pg && alive(g)).collect()
        }
    };
    if v.is_empty() {
        return Err(Errno::ESRCH);
    }
    Ok(v)
}

fn sys_kill(t: &mut Task, a: &Args) -> SysResult {
    let (pid, sig) = (a.i32(0), a.i32(1));
    if sig != 0 {
        valid_signal(sig)?;
    }
    let targets = kill_targets(t, pid)?;
    if sig == 0 {
        return Ok(0);
    }
    for g in targets {
        let si = signals::info_from(sig, code::SI_USER, t.tg.tgid, t.creds.uid);
        t.kernel.send_group_signal(&g, si);
    }
    Ok(0)
}

fn thread_signal(t: &Task, tgid: Option<i32>, tid: i32, sig: i32, si: SigInfo) -> SysResult {
    if tid <= 0 || tgid.is_some_and(|g| g <= 0) {
        return Err(Errno::EINVAL);
    }
    if sig != 0 {
        valid_signal(sig)?;
    }
    let (task, tg) = t.kernel.pids().task(tid).ok_or(Errno::ESRCH)?;
    if tgid.is_some_and(|g| g != tg.tgid) {
        return Err(Errno::ESRCH);
    }
    if sig != 0 {
        t.kernel.send_thread_signal(&tg, &task, si);
    }
    Ok(0)
}

fn sys_tgkill(t: &mut Task, a: &Args) -> SysResult {
    let sig = a.i32(2);
    let si = signals::info_from(sig, code::SI_TKILL, t.tg.tgid, t.creds.uid);
    thread_signal(t, Some(a.i32(0)), a.i32(1), sig, si)
}

fn sys_tkill(t: &mut Task, a: &Args) -> SysResult {
    let sig = a.i32(1);
    let si = signals::info_from(sig, code::SI_TKILL, t.tg.tgid, t.creds.uid);
    thread_signal(t, None, a.i32(0), sig, si)
}

/// Reads a `siginfo` for `rt_sigqueueinfo`: an application may only
/// forge negative codes (other than `SI_TKILL`) for other processes.
fn queued_info(t: &Task, sig: i32, addr: u64, target_tgid: i32) -> Result<SigInfo, Errno> {
    let mut si = SigInfo::zeroed();
    t.mm.copy_in(addr, &mut si.raw)?;
    if (si.code() >= 0 || si.code() == code::SI_TKILL) && target_tgid != t.tg.tgid {
        return Err(Errno::EPERM);
    }
    si.raw[0..4].copy_from_slice(&sig.to_le_bytes());
    Ok(si)
}

fn sys_rt_sigqueueinfo(t: &mut Task, a: &Args) -> SysResult {
    let (pid, sig) = (a.i32(0), a.i32(1));
    valid_signal(sig)?;
    let g = t.kernel.pids().group(pid).ok_or(Errno::ESRCH)?;
    let si = queued_info(t, sig, a.u64(2), pid)?;
    t.kernel.send_group_signal(&g, si);
    Ok(0)
}

fn sys_rt_tgsigqueueinfo(t: &mut Task, a: &Args) -> SysResult {
    let (tgid, tid, sig) = (a.i32(0), a.i32(1), a.i32(2));
    valid_signal(sig)?;
    let si = queued_info(t, sig, a.u64(3), tgid)?;
    thread_signal(t, Some(tgid), tid, sig, si)
}

fn sys_rt_sigpending(t: &mut Task, a: &Args) -> SysResult {
    if a.u64(1) > 8 {
        return Err(Errno::EINVAL);
    }
    let pending = lock(&t.shared.pending).mask() | lock(&t.tg.pending).mask();
    let b = pending.to_le_bytes();
    t.mm.copy_out(a.u64(0), &b[..a.u64(1) as usize])?;
    Ok(0)
}

/// Sleeps until a signal interrupts the task.
fn wait_for_signal(t: &Task) -> Errno {
    t.blocker(|b| match wait_until(b, &[], 0, None, || Err::<(), _>(Errno::EAGAIN)) {
        Err(e) => e,
        Ok(()) => Errno::ERESTARTSYS,
    })
}

fn sys_rt_sigsuspend(t: &mut Task, a: &Args) -> SysResult {
    if a.u64(1) != 8 {
        return Err(Errno::EINVAL);
    }
    let mask = t.mm.read_u64(a.u64(0))?;
    // The original mask comes back after the handler (or at once if no
    // handler runs).
    t.saved_mask = Some(t.sigmask());
    t.set_sigmask(mask);
    wait_for_signal(t);
    Err(Errno::ERESTARTNOHAND)
}

fn sys_pause(t: &mut Task, _a: &Args) -> SysResult {
    wait_for_signal(t);
    Err(Errno::ERESTARTNOHAND)
}

fn sys_rt_sigtimedwait(t: &mut Task, a: &Args) -> SysResult {
    if a.u64(3) != 8 {
        return Err(Errno::EINVAL);
    }
    let set = t.mm.read_u64(a.u64(0))? & !UNBLOCKABLE;
    let deadline = if a.u64(2) != 0 {
        let b = t.mm.read_bytes::<16>(a.u64(2))?;
        let (sec, nsec) = (
            i64::from_le_bytes(b[..8].try_into().unwrap_or([0; 8])),
            i64::from_le_bytes(b[8..].try_into().unwrap_or([0; 8])),
        );
        if sec < 0 || !(0..1_000_000_000).contains(&nsec) {
            return Err(Errno::EINVAL);
        }
        let d = Duration::new(sec as u64, nsec as u32);
        Some(Instant::now().checked_add(d).unwrap_or_else(|| Instant::now() + Duration::from_secs(1 << 32)))
    } else {
        None
    };
    // The awaited signals wake the task while it waits, as if unblocked.
    let old = t.sigmask();
    t.shared.awaited.store(set, std::sync::atomic::Ordering::SeqCst);
    t.set_sigmask(old & !set);
    let take = || -> Result<SigInfo, Errno> {
        let own = lock(&t.shared.pending).mask() & set;
        if own != 0 {
            let sig = own.trailing_zeros() as i32 + 1;
            return lock(&t.shared.pending).take(sig).ok_or(Errno::EAGAIN);
        }
        let shared = lock(&t.tg.pending).mask() & set;
        if shared != 0 {
            let sig = shared.trailing_zeros() as i32 + 1;
            return lock(&t.tg.pending).take(sig).ok_or(Errno::EAGAIN);
        }
        Err(Errno::EAGAIN)
    };
    let r = t.blocker(|b| wait_until(b, &[], 0, deadline, take));
    t.set_sigmask(old);
    t.shared.awaited.store(0, std::sync::atomic::Ordering::SeqCst);
    match r {
        Ok(si) => {
            if a.u64(1) != 0 {
                t.mm.copy_out(a.u64(1), &si.raw)?;
            }
            Ok(si.signo() as u64)
        }
        Err(Errno::ETIMEDOUT) => Err(Errno::EAGAIN),
        Err(Errno::ERESTARTSYS) => Err(Errno::EINTR),
        Err(e) => Err(e),
    }
}

fn sys_rt_sigreturn(t: &mut Task, _a: &Args) -> SysResult {
    let restored = match frame::restore_frame(&t.mm, &mut t.cpu) {
        Ok(r) => r,
        Err(_) => {
            // A corrupt frame: Linux kills the task with SIGSEGV.
            t.force_signal(SigInfo::new_fault(libc::SIGSEGV, code::SI_KERNEL, 0));
            return Ok(t.cpu.regs.rax);
        }
    };
    t.set_sigmask(restored.mask);
    // Like sigaltstack(2) from the handler: errors are ignored.
    let st = restored.alt;
    if !t.alt_stack.contains(t.cpu.regs.rsp) {
        t.alt_stack = if st.flags & libc::SS_DISABLE != 0 || st.size < MINSIGSTKSZ {
            AltStack::DISABLED
        } else {
            AltStack { sp: st.sp, flags: 0, size: st.size }
        };
    }
    // rax was restored from the frame; the dispatcher writes it back.
    Ok(t.cpu.regs.rax)
}
