//! prctl: per-task and per-process settings.

use std::sync::atomic::Ordering;

use super::{Args, Handler};
use crate::errno::{Errno, SysResult};
use crate::kernel::signals::NSIG;
use crate::kernel::Task;
use crate::mm::lock;

pub(super) const HANDLERS: &[(i64, Handler)] = &[(libc::SYS_prctl, sys_prctl)];

const PR_SET_PDEATHSIG: i32 = 1;
const PR_GET_PDEATHSIG: i32 = 2;
const PR_GET_DUMPABLE: i32 = 3;
const PR_SET_DUMPABLE: i32 = 4;
const PR_GET_KEEPCAPS: i32 = 7;
const PR_SET_KEEPCAPS: i32 = 8;
const PR_SET_NAME: i32 = 15;
const PR_GET_NAME: i32 = 16;
const PR_GET_SECCOMP: i32 = 21;
const PR_CAPBSET_READ: i32 = 23;
const PR_CAPBSET_DROP: i32 = 24;
const PR_SET_TIMERSLACK: i32 = 29;
const PR_GET_TIMERSLACK: i32 = 30;
const PR_MCE_KILL: i32 = 33;
const PR_MCE_KILL_GET: i32 = 34;
const PR_SET_CHILD_SUBREAPER: i32 = 36;
const PR_GET_CHILD_SUBREAPER: i32 = 37;
const PR_SET_NO_NEW_PRIVS: i32 = 38;
const PR_GET_NO_NEW_PRIVS: i32 = 39;
const PR_GET_TID_ADDRESS: i32 = 40;
const PR_SET_THP_DISABLE: i32 = 41;
const PR_GET_THP_DISABLE: i32 = 42;
const PR_SET_PTRACER: i32 = 0x5961_6d61;

const CAP_LAST_CAP: u64 = 40;
const CAP_SETPCAP: u32 = 8;

fn sys_prctl(t: &mut Task, a: &Args) -> SysResult {
    match a.i32(0) {
        PR_SET_NAME => {
            let mut b = t.mm.read_bytes::<16>(a.u64(1)).or_else(|_| {
                // The name may end near the end of a mapping: read bytewise.
                t.mm.copy_in_string(a.u64(1), 4096).map(|s| {
                    let mut b = [0u8; 16];
                    let n = s.len().min(15);
                    b[..n].copy_from_slice(&s[..n]);
                    b
                })
            })?;
            b[15] = 0;
            let n = b.iter().position(|&c| c == 0).unwrap_or(15);
            t.comm = b[..n].to_vec();
            *lock(&t.shared.comm) = t.comm.clone();
            Ok(0)
        }
        PR_GET_NAME => {
            let mut b = [0u8; 16];
            b[..t.comm.len()].copy_from_slice(&t.comm);
            t.mm.copy_out(a.u64(1), &b)?;
            Ok(0)
        }
        PR_SET_PDEATHSIG => {
            let sig = a.u64(1);
            if sig > NSIG as u64 {
                return Err(Errno::EINVAL);
            }
            t.shared.pdeathsig.store(sig as i32, Ordering::Relaxed);
            Ok(0)
        }
        PR_GET_PDEATHSIG => {
            t.mm.write_u32(a.u64(1), t.shared.pdeathsig.load(Ordering::Relaxed) as u32)?;
            Ok(0)
        }
        PR_GET_DUMPABLE => Ok(t.tg.dumpable.load(Ordering::Relaxed) as u64),
        PR_SET_DUMPABLE => {
            if a.u64(1) > 1 {
                return Err(Errno::EINVAL);
            }
            t.tg.dumpable.store(a.u64(1) as i32, Ordering::Relaxed);
            Ok(0)
        }
        PR_GET_KEEPCAPS => Ok(t.keep_caps as u64),
        PR_SET_KEEPCAPS => {
            if a.u64(1) > 1 {
                return Err(Errno::EINVAL);
            }
            t.keep_caps = a.u64(1) == 1;
            Ok(0)
        }
        // No seccomp filter is installed for applications.
        PR_GET_SECCOMP => Ok(0),
        PR_CAPBSET_READ => {
            let cap = a.u64(1);
            if cap > CAP_LAST_CAP {
                return Err(Errno::EINVAL);
            }
            Ok((t.creds.cap_bounding >> cap) & 1)
        }
        PR_CAPBSET_DROP => {
            let cap = a.u64(1);
            if cap > CAP_LAST_CAP {
                return Err(Errno::EINVAL);
            }
            if !t.creds.has_cap(CAP_SETPCAP) {
                return Err(Errno::EPERM);
            }
            t.creds.cap_bounding &= !(1 << cap);
            Ok(0)
        }
        PR_SET_TIMERSLACK => {
            t.timer_slack = if a.u64(1) == 0 { 50_000 } else { a.u64(1) };
            Ok(0)
        }
        PR_GET_TIMERSLACK => Ok(t.timer_slack),
        PR_MCE_KILL => Ok(0),
        PR_MCE_KILL_GET => Ok(0),
        PR_SET_CHILD_SUBREAPER => {
            t.tg.subreaper.store(a.u64(1) != 0, Ordering::Relaxed);
            Ok(0)
        }
        PR_GET_CHILD_SUBREAPER => {
            t.mm.write_u32(a.u64(1), t.tg.subreaper.load(Ordering::Relaxed) as u32)?;
            Ok(0)
        }
        PR_SET_NO_NEW_PRIVS => {
            if a.u64(1) != 1 || a.u64(2) != 0 || a.u64(3) != 0 || a.u64(4) != 0 {
                return Err(Errno::EINVAL);
            }
            t.no_new_privs = true;
            Ok(0)
        }
        PR_GET_NO_NEW_PRIVS => {
            if a.u64(1) != 0 || a.u64(2) != 0 || a.u64(3) != 0 || a.u64(4) != 0 {
                return Err(Errno::EINVAL);
            }
            Ok(t.no_new_privs as u64)
        }
        PR_GET_TID_ADDRESS => {
            t.mm.write_u64(a.u64(1), t.clear_child_tid)?;
            Ok(0)
        }
        // Transparent huge pages do not exist in the Sentry's memory; the
        // setting is kept and reported.
        PR_SET_THP_DISABLE => {
            t.tg.thp_disable.store(a.u64(1) != 0, Ordering::Relaxed);
            Ok(0)
        }
        PR_GET_THP_DISABLE => Ok(t.tg.thp_disable.load(Ordering::Relaxed) as u64),
        // There is no ptrace inside the sandbox.
        PR_SET_PTRACER => Ok(0),
        _ => Err(Errno::EINVAL),
    }
}
