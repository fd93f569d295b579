//! Scheduling: yield, CPU affinity, policies and priorities, getcpu,
//! personality.
//!
//! Application threads are host threads of the Sentry's platform, scheduled
//! by the host. The sandbox's CPUs are those the Sentry may run on
//! (counted at start-up). Affinity masks, nice values and personalities
//! are kept and reported as set; the only scheduling policy offered is
//! `SCHED_OTHER` (real-time policies need `CAP_SYS_NICE`, which the
//! container's default capabilities do not include).

use std::sync::atomic::Ordering;

use super::{Args, Handler};
use crate::errno::{Errno, SysResult};
use crate::kernel::Task;

pub(super) const HANDLERS: &[(i64, Handler)] = &[
    (libc::SYS_sched_yield, sys_sched_yield),
    (libc::SYS_sched_getaffinity, sys_sched_getaffinity),
    (libc::SYS_sched_setaffinity, sys_sched_setaffinity),
    (libc::SYS_getcpu, sys_getcpu),
    (libc::SYS_sched_getscheduler, sys_sched_getscheduler),
    (libc::SYS_sched_setscheduler, sys_sched_setscheduler),
    (libc::SYS_sched_getparam, sys_sched_getparam),
    (libc::SYS_sched_setparam, sys_sched_setparam),
    (libc::SYS_sched_get_priority_max, sys_sched_get_priority_max),
    (libc::SYS_sched_get_priority_min, sys_sched_get_priority_min),
    (libc::SYS_sched_rr_get_interval, sys_sched_rr_get_interval),
    (libc::SYS_getpriority, sys_getpriority),
    (libc::SYS_setpriority, sys_setpriority),
    (libc::SYS_personality, sys_personality),
];

const SCHED_OTHER: i32 = 0;
const SCHED_FIFO: i32 = 1;
const SCHED_RR: i32 = 2;
const SCHED_BATCH: i32 = 3;
const SCHED_IDLE: i32 = 5;
const SCHED_RESET_ON_FORK: i32 = 0x4000_0000;

fn sys_sched_yield(_t: &mut Task, _a: &Args) -> SysResult {
    std::thread::yield_now();
    Ok(0)
}

/// Checks that `pid` (0: the caller) names a task of the sandbox.
fn check_task(t: &Task, pid: i32) -> Result<(), Errno> {
    if pid < 0 {
        return Err(Errno::EINVAL);
    }
    if pid == 0 || pid == t.tid || t.kernel.pids().task(pid).is_some() {
        Ok(())
    } else {
        Err(Errno::ESRCH)
    }
}

/// The sandbox's CPUs as a mask of 64-bit words.
fn all_cpus(t: &Task) -> Vec<u64> {
    let n = t.kernel.inner.ncpus;
    let mut words = vec![0u64; n.div_ceil(64)];
    for cpu in 0..n {
        words[cpu / 64] |= 1 << (cpu % 64);
    }
    words
}

fn sys_sched_getaffinity(t: &mut Task, a: &Args) -> SysResult {
    check_task(t, a.i32(0))?;
    let size = a.u64(1) as usize;
    let words = if a.i32(0) == 0 || a.i32(0) == t.tid {
        t.affinity.clone().unwrap_or_else(|| all_cpus(t))
    } else {
        all_cpus(t)
    };
    let need = words.len() * 8;
    if size < need || size % 8 != 0 {
        return Err(Errno::EINVAL);
    }
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    t.mm.copy_out(a.u64(2), &bytes)?;
    Ok(need as u64)
}

fn sys_sched_setaffinity(t: &mut Task, a: &Args) -> SysResult {
    check_task(t, a.i32(0))?;
    let len = (a.u64(1) as usize).min(1 << 16) / 8 * 8;
    let bytes = t.mm.copy_in_vec(a.u64(2), len)?;
    let all = all_cpus(t);
    let mut words: Vec<u64> = all.clone();
    for (i, w) in words.iter_mut().enumerate() {
        let off = i * 8;
        let given = if off + 8 <= bytes.len() {
            u64::from_le_bytes(bytes[off..off + 8].try_into().unwrap_or([0; 8]))
        } else {
            0
        };
        *w &= given;
    }
    if words.iter().all(|&w| w == 0) {
        return Err(Errno::EINVAL);
    }
    if a.i32(0) == 0 || a.i32(0) == t.tid {
        t.affinity = if words == all { None } else { Some(words) };
    }
    Ok(0)
}

fn sys_getcpu(t: &mut Task, a: &Args) -> SysResult {
    // SAFETY: sched_getcpu has no arguments; glibc answers from rseq or
    // the vDSO.
    let cpu = unsafe { libc::sched_getcpu() }.max(0) as u32 % t.kernel.inner.ncpus.max(1) as u32;
    if a.u64(0) != 0 {
        t.mm.write_u32(a.u64(0), cpu)?;
    }
    if a.u64(1) != 0 {
        t.mm.write_u32(a.u64(1), 0)?;
    }
    Ok(0)
}

fn sys_sched_getscheduler(t: &mut Task, a: &Args) -> SysResult {
    check_task(t, a.i32(0))?;
    Ok(SCHED_OTHER as u64)
}

fn sys_sched_setscheduler(t: &mut Task, a: &Args) -> SysResult {
    check_task(t, a.i32(0))?;
    let policy = a.i32(1) & !SCHED_RESET_ON_FORK;
    let prio = t.mm.read_u32(a.u64(2))? as i32;
    match policy {
        SCHED_OTHER | SCHED_BATCH | SCHED_IDLE if prio == 0 => {
            if policy == SCHED_OTHER {
                Ok(0)
            } else {
                // Only SCHED_OTHER is offered.
                Err(Errno::EPERM)
            }
        }
        SCHED_FIFO | SCHED_RR if (1..=99).contains(&prio) => Err(Errno::EPERM),
        _ => Err(Errno::EINVAL),
    }
}

fn sys_sched_getparam(t: &mut Task, a: &Args) -> SysResult {
    check_task(t, a.i32(0))?;
    t.mm.write_u32(a.u64(1), 0)?;
    Ok(0)
}

fn sys_sched_setparam(t: &mut Task, a: &Args) -> SysResult {
    check_task(t, a.i32(0))?;
    match t.mm.read_u32(a.u64(1))? {
        0 => Ok(0),
        _ => Err(Errno::EINVAL),
    }
}

fn sys_sched_get_priority_max(_t: &mut Task, a: &Args) -> SysResult {
    match a.i32(0) {
        SCHED_FIFO | SCHED_RR => Ok(99),
        SCHED_OTHER | SCHED_BATCH | SCHED_IDLE => Ok(0),
        _ => Err(Errno::EINVAL),
    }
}

fn sys_sched_get_priority_min(_t: &mut Task, a: &Args) -> SysResult {
    match a.i32(0) {
        SCHED_FIFO | SCHED_RR => Ok(1),
        SCHED_OTHER | SCHED_BATCH | SCHED_IDLE => Ok(0),
        _ => Err(Errno::EINVAL),
    }
}

fn sys_sched_rr_get_interval(t: &mut Task, a: &Args) -> SysResult {
    check_task(t, a.i32(0))?;
    // SCHED_OTHER tasks report 0 (no fixed quantum).
    t.mm.copy_out(a.u64(1), &[0u8; 16])?;
    Ok(0)
}

const PRIO_PROCESS: i32 = 0;
const PRIO_PGRP: i32 = 1;
const PRIO_USER: i32 = 2;
const CAP_SYS_NICE: u32 = 23;

/// The groups `getpriority`/`setpriority` address.
fn prio_targets(t: &Task, which: i32, who: i32) -> Result<Vec<std::sync::Arc<crate::kernel::ThreadGroup>>, Errno> {
    let groups = t.kernel.pids().groups();
    let v: Vec<_> = match which {
        PRIO_PROCESS => {
            if who == 0 {
                vec![t.tg.clone()]
            } else {
                // A thread id names its process here (nice is per process).
                let g = t.kernel.pids().task(who).map(|(_, g)| g).ok_or(Errno::ESRCH)?;
                vec![g]
            }
        }
        PRIO_PGRP => {
            let pg = if who == 0 { t.tg.pgid() } else { who };
            groups.into_iter().filter(|g| g.pgid() == pg && g.zombie_status().is_none()).collect()
        }
        PRIO_USER => {
            let uid = if who == 0 { t.creds.uid as i32 } else { who };
            groups.into_iter().filter(|g| g.uid.load(Ordering::Relaxed) == uid && g.zombie_status().is_none()).collect()
        }
        _ => return Err(Errno::EINVAL),
    };
    if v.is_empty() {
        return Err(Errno::ESRCH);
    }
    Ok(v)
}

fn sys_getpriority(t: &mut Task, a: &Args) -> SysResult {
    let targets = prio_targets(t, a.i32(0), a.i32(1))?;
    let best = targets.iter().map(|g| g.nice.load(Ordering::Relaxed)).min().unwrap_or(0);
    // The kernel returns 20 - nice (1..40) so that it is never negative.
    Ok((20 - best) as u64)
}

fn sys_setpriority(t: &mut Task, a: &Args) -> SysResult {
    let nice = a.i32(2).clamp(-20, 19);
    let targets = prio_targets(t, a.i32(0), a.i32(1))?;
    for g in &targets {
        if nice < g.nice.load(Ordering::Relaxed) && !t.creds.has_cap(CAP_SYS_NICE) {
            return Err(Errno::EACCES);
        }
    }
    for g in targets {
        g.nice.store(nice, Ordering::Relaxed);
    }
    Ok(0)
}

/// Personality flags Linux accepts with `PER_LINUX` (ADDR_NO_RANDOMIZE,
/// READ_IMPLIES_EXEC, ADDR_COMPAT_LAYOUT, ...): kept, reported.
const PER_MASK: u32 = 0xff;

fn sys_personality(t: &mut Task, a: &Args) -> SysResult {
    let old = t.personality;
    let new = a.u32(0);
    if new != 0xffff_ffff {
        if new & PER_MASK != 0 {
            // Only PER_LINUX (0) is offered.
            return Err(Errno::EINVAL);
        }
        t.personality = new;
    }
    Ok(old as u64)
}
