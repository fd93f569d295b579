//! poll, ppoll, select, pselect6.
//!
//! Each call gathers the files, asks each for its readiness, and if none
//! is ready sleeps on all their wait queues at once (the task's waker is
//! registered on each) until one notifies, the timeout passes or a signal
//! arrives. Files without a wait queue never change readiness (regular
//! files are always ready). The `p` variants install a temporary signal
//! mask for the wait; it stays in force until a handler interrupted by it
//! returns (as `sigsuspend`), and is undone at once otherwise.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Args, Handler};
use crate::errno::{Errno, SysResult};
use crate::kernel::waiter::{events, wait_until, WaitQueue};
use crate::kernel::Task;
use crate::vfs::File;

pub(super) const HANDLERS: &[(i64, Handler)] = &[
    (libc::SYS_poll, sys_poll),
    (libc::SYS_ppoll, sys_ppoll),
    (libc::SYS_select, sys_select),
    (libc::SYS_pselect6, sys_pselect6),
];

/// Events always reported when they happen, requested or not.
const ALWAYS: u32 = events::POLLERR | events::POLLHUP;

pub(super) use super::time::read_timespec;

/// Installs the temporary mask at `addr` (if any) for a `p*` call;
/// returns the mask to restore.
pub(super) fn apply_sigmask(t: &mut Task, addr: u64, size: u64) -> Result<Option<u64>, Errno> {
    if addr == 0 {
        return Ok(None);
    }
    if size != 8 {
        return Err(Errno::EINVAL);
    }
    let mask = t.mm.read_u64(addr)?;
    let old = t.sigmask();
    t.set_sigmask(mask);
    Ok(Some(old))
}

/// Undoes [`apply_sigmask`]: at once, unless the call was interrupted (a
/// handler then runs with the temporary mask and returns to the old one).
pub(super) fn restore_sigmask(t: &mut Task, old: Option<u64>, r: &SysResult) {
    let Some(old) = old else { return };
    match r {
        Err(e) if *e == Errno::EINTR || e.is_restart() => t.saved_mask = Some(old),
        _ => t.set_sigmask(old),
    }
}

/// One entry of a poll set: a file (or none for a negative or bad fd) and
/// the events asked for.
struct Entry {
    file: Option<Arc<File>>,
    want: u32,
}

/// Polls `entries` until one is ready; returns each entry's events.
fn do_poll(t: &Task, entries: &[Entry], deadline: Option<Instant>, zero: bool) -> Result<Vec<u32>, Errno> {
    let check = || -> Vec<u32> {
        entries
            .iter()
            .map(|e| match &e.file {
                Some(f) => f.ops().readiness(e.want | ALWAYS) & (e.want | ALWAYS),
                None => 0,
            })
            .collect()
    };
    let first = check();
    if zero || first.iter().any(|&r| r != 0) {
        return Ok(first);
    }
    let queues: Vec<&WaitQueue> = entries.iter().filter_map(|e| e.file.as_ref()?.ops().wait_queue()).collect();
    let r = t.blocker(|b| {
        wait_until(b, &queues, events::ALL, deadline, || {
            let r = check();
            if r.iter().any(|&x| x != 0) {
                Ok(r)
            } else {
                Err(Errno::EAGAIN)
            }
        })
    });
    match r {
        Err(Errno::ETIMEDOUT) => Ok(vec![0; entries.len()]),
        Err(Errno::ERESTARTSYS) => Err(Errno::ERESTARTNOHAND),
        r => r,
    }
}

/// `RLIMIT_NOFILE`.
fn nofile(t: &Task) -> u64 {
    crate::mm::lock(&t.tg.rlimits)[libc::RLIMIT_NOFILE as usize].0
}

fn poll_common(t: &mut Task, addr: u64, nfds: u64, deadline: Option<Instant>, zero: bool) -> SysResult {
    if nfds > nofile(t) || nfds > (1 << 20) {
        return Err(Errno::EINVAL);
    }
    let raw = t.mm.copy_in_vec(addr, nfds as usize * 8)?;
    let mut entries = Vec::with_capacity(nfds as usize);
    let mut nval = vec![false; nfds as usize];
    for (i, c) in raw.chunks_exact(8).enumerate() {
        let fd = i32::from_le_bytes(c[..4].try_into().unwrap_or([0; 4]));
        let want = u16::from_le_bytes(c[4..6].try_into().unwrap_or([0; 2])) as u32;
        let file = if fd < 0 {
            None
        } else {
            match t.file(fd) {
                Ok(f) => Some(f),
                Err(_) => {
                    nval[i] = true;
                    None
                }
            }
        };
        entries.push(Entry { file, want });
    }
    let any_nval = nval.iter().any(|&n| n);
    let revents = do_poll(t, &entries, deadline, zero || any_nval)?;
    let mut out = raw.clone();
    let mut count = 0;
    for (i, r) in revents.iter().enumerate() {
        let r = if nval[i] { events::POLLNVAL } else { *r };
        if r != 0 {
            count += 1;
        }
        out[i * 8 + 6..i * 8 + 8].copy_from_slice(&(r as u16).to_le_bytes());
    }
    t.mm.copy_out(addr, &out)?;
    Ok(count)
}

fn sys_poll(t: &mut Task, a: &Args) -> SysResult {
    let ms = a.i32(2);
    let (deadline, zero) = match ms {
        ms if ms < 0 => (None, false),
        0 => (None, true),
        ms => (Some(Instant::now() + Duration::from_millis(ms as u64)), false),
    };
    poll_common(t, a.u64(0), a.u64(1), deadline, zero)
}

fn sys_ppoll(t: &mut Task, a: &Args) -> SysResult {
    let (deadline, zero, ts) = if a.u64(2) == 0 {
        (None, false, None)
    } else {
        let d = read_timespec(t, a.u64(2))?;
        (Instant::now().checked_add(d), d.is_zero(), Some(d))
    };
    let old = apply_sigmask(t, a.u64(3), a.u64(4))?;
    let start = Instant::now();
    let r = poll_common(t, a.u64(0), a.u64(1), deadline, zero);
    restore_sigmask(t, old, &r);
    // The remaining time is written back, as Linux does.
    if let Some(d) = ts {
        let left = d.saturating_sub(start.elapsed());
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&left.as_secs().to_le_bytes());
        b[8..].copy_from_slice(&(left.subsec_nanos() as u64).to_le_bytes());
        let _ = t.mm.copy_out(a.u64(2), &b);
    }
    r
}

const SELECT_IN: u32 = events::POLLIN | events::POLLRDNORM | events::POLLRDBAND | events::POLLHUP | events::POLLERR;
const SELECT_OUT: u32 = events::POLLOUT | events::POLLWRNORM | events::POLLWRBAND | events::POLLERR;
const SELECT_EX: u32 = events::POLLPRI;

/// select's core: three optional fd_set bitmaps of `nfds` bits.
fn select_common(t: &mut Task, nfds: i32, sets: [u64; 3], deadline: Option<Instant>, zero: bool) -> SysResult {
    if nfds < 0 {
        return Err(Errno::EINVAL);
    }
    let nfds = (nfds as u64).min(nofile(t)) as usize;
    let bytes = nfds.div_ceil(64) * 8;
    let mut bits: [Vec<u8>; 3] = Default::default();
    for (i, &addr) in sets.iter().enumerate() {
        bits[i] = if addr == 0 { vec![0; bytes] } else { t.mm.copy_in_vec(addr, bytes)? };
    }
    let is_set = |b: &[u8], fd: usize| b[fd / 8] & (1 << (fd % 8)) != 0;
    let mut fds = Vec::new();
    let mut entries = Vec::new();
    for fd in 0..nfds {
        let (r, w, x) = (is_set(&bits[0], fd), is_set(&bits[1], fd), is_set(&bits[2], fd));
        if !(r || w || x) {
            continue;
        }
        let file = t.file(fd as i32).map_err(|_| Errno::EBADF)?;
        let want = (if r { SELECT_IN } else { 0 }) | (if w { SELECT_OUT } else { 0 }) | (if x { SELECT_EX } else { 0 });
        fds.push((fd, r, w, x));
        entries.push(Entry { file: Some(file), want });
    }
    let revents = do_poll(t, &entries, deadline, zero)?;
    let mut out: [Vec<u8>; 3] = [vec![0; bytes], vec![0; bytes], vec![0; bytes]];
    let mut count = 0;
    for ((fd, r, w, x), ev) in fds.iter().zip(revents) {
        for (k, (asked, mask)) in [(*r, SELECT_IN), (*w, SELECT_OUT), (*x, SELECT_EX)].into_iter().enumerate() {
            if asked && ev & mask != 0 {
                out[k][fd / 8] |= 1 << (fd % 8);
                count += 1;
            }
        }
    }
    for (k, &addr) in sets.iter().enumerate() {
        if addr != 0 {
            t.mm.copy_out(addr, &out[k])?;
        }
    }
    Ok(count)
}

fn sys_select(t: &mut Task, a: &Args) -> SysResult {
    let tv = a.u64(4);
    let (deadline, zero, limit) = if tv == 0 {
        (None, false, None)
    } else {
        let sec = t.mm.read_u64(tv)? as i64;
        let usec = t.mm.read_u64(tv + 8)? as i64;
        if sec < 0 || usec < 0 {
            return Err(Errno::EINVAL);
        }
        let d = Duration::from_secs(sec as u64) + Duration::from_micros(usec as u64);
        (Instant::now().checked_add(d), d.is_zero(), Some(d))
    };
    let start = Instant::now();
    let r = select_common(t, a.i32(0), [a.u64(1), a.u64(2), a.u64(3)], deadline, zero);
    if let Some(d) = limit {
        // Linux writes the time left back into the timeval.
        let left = d.saturating_sub(start.elapsed());
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&left.as_secs().to_le_bytes());
        b[8..].copy_from_slice(&(left.subsec_micros() as u64).to_le_bytes());
        let _ = t.mm.copy_out(tv, &b);
    }
    r
}

fn sys_pselect6(t: &mut Task, a: &Args) -> SysResult {
    let (deadline, zero) = if a.u64(4) == 0 {
        (None, false)
    } else {
        let d = read_timespec(t, a.u64(4))?;
        (Instant::now().checked_add(d), d.is_zero())
    };
    // The 6th argument points at { const sigset_t *ss; size_t ss_len }.
    let old = if a.u64(5) != 0 {
        let ss = t.mm.read_u64(a.u64(5))?;
        let len = t.mm.read_u64(a.u64(5) + 8)?;
        apply_sigmask(t, ss, if ss == 0 { 8 } else { len })?
    } else {
        None
    };
    let r = select_common(t, a.i32(0), [a.u64(1), a.u64(2), a.u64(3)], deadline, zero);
    restore_sigmask(t, old, &r);
    r
}
