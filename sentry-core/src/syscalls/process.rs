//! Process and thread identity, exit, limits, arch_prctl, scheduling.

use super::{Args, Handler};
use crate::arch;
use crate::errno::{Errno, SysResult};
use crate::kernel::thread_group::{RLIM_INFINITY, RLIM_NLIMITS};
use std::sync::Arc;

use crate::kernel::fork::flags::{CLONE_VFORK, CLONE_VM};
use crate::kernel::{CloneArgs, ExitStatus, Task, ThreadGroup};
use crate::mm::lock;

pub(super) const HANDLERS: &[(i64, Handler)] = &[
    (libc::SYS_exit, sys_exit),
    (libc::SYS_exit_group, sys_exit_group),
    (libc::SYS_getpid, sys_getpid),
    (libc::SYS_getppid, sys_getppid),
    (libc::SYS_gettid, sys_gettid),
    (libc::SYS_getuid, sys_getuid),
    (libc::SYS_geteuid, sys_geteuid),
    (libc::SYS_getgid, sys_getgid),
    (libc::SYS_getegid, sys_getegid),
    (libc::SYS_getresuid, sys_getresuid),
    (libc::SYS_getresgid, sys_getresgid),
    (libc::SYS_getgroups, sys_getgroups),
    (libc::SYS_getpgrp, sys_getpgrp),
    (libc::SYS_getpgid, sys_getpgid),
    (libc::SYS_getsid, sys_getsid),
    (libc::SYS_setpgid, sys_setpgid),
    (libc::SYS_setsid, sys_setsid),
    (libc::SYS_clone, sys_clone),
    (libc::SYS_fork, sys_fork),
    (libc::SYS_vfork, sys_vfork),
    (libc::SYS_set_tid_address, sys_set_tid_address),
    (libc::SYS_set_robust_list, sys_set_robust_list),
    (libc::SYS_get_robust_list, sys_get_robust_list),
    (libc::SYS_arch_prctl, sys_arch_prctl),
    (libc::SYS_prlimit64, sys_prlimit64),
    (libc::SYS_getrlimit, sys_getrlimit),
    (libc::SYS_setrlimit, sys_setrlimit),
];

fn sys_exit(t: &mut Task, a: &Args) -> SysResult {
    let code = a.i32(0) & 0xff;
    t.exit_code = Some(code);
    Ok(0)
}

fn sys_clone(t: &mut Task, a: &Args) -> SysResult {
    // x86-64 order: flags, stack, parent_tid, child_tid, tls.
    let args = CloneArgs { flags: a.u64(0), stack: a.u64(1), parent_tid: a.u64(2), child_tid: a.u64(3), tls: a.u64(4) };
    t.clone_task(args).map(|tid| tid as u64)
}

fn sys_fork(t: &mut Task, _a: &Args) -> SysResult {
    t.clone_task(CloneArgs { flags: libc::SIGCHLD as u64, ..Default::default() }).map(|tid| tid as u64)
}

fn sys_vfork(t: &mut Task, _a: &Args) -> SysResult {
    let flags = CLONE_VM | CLONE_VFORK | libc::SIGCHLD as u64;
    t.clone_task(CloneArgs { flags, ..Default::default() }).map(|tid| tid as u64)
}

fn sys_exit_group(t: &mut Task, a: &Args) -> SysResult {
    t.tg.terminate(ExitStatus::Exited(a.i32(0) & 0xff));
    Ok(0)
}

fn sys_getpid(t: &mut Task, _a: &Args) -> SysResult {
    Ok(t.tg.tgid as u64)
}

fn sys_getppid(t: &mut Task, _a: &Args) -> SysResult {
    Ok(t.tg.ppid() as u64)
}

fn sys_gettid(t: &mut Task, _a: &Args) -> SysResult {
    Ok(t.tid as u64)
}

fn sys_getuid(t: &mut Task, _a: &Args) -> SysResult {
    Ok(t.creds.uid as u64)
}

fn sys_geteuid(t: &mut Task, _a: &Args) -> SysResult {
    Ok(t.creds.euid as u64)
}

fn sys_getgid(t: &mut Task, _a: &Args) -> SysResult {
    Ok(t.creds.gid as u64)
}

fn sys_getegid(t: &mut Task, _a: &Args) -> SysResult {
    Ok(t.creds.egid as u64)
}

fn put_three(t: &Task, a: &Args, v: [u32; 3]) -> SysResult {
    for (i, x) in v.iter().enumerate() {
        t.mm.write_u32(a.u64(i), *x)?;
    }
    Ok(0)
}

fn sys_getresuid(t: &mut Task, a: &Args) -> SysResult {
    put_three(t, a, [t.creds.uid, t.creds.euid, t.creds.suid])
}

fn sys_getresgid(t: &mut Task, a: &Args) -> SysResult {
    put_three(t, a, [t.creds.gid, t.creds.egid, t.creds.sgid])
}

fn sys_getgroups(t: &mut Task, a: &Args) -> SysResult {
    let size = a.i32(0);
    let groups = &t.creds.groups;
    if size < 0 {
        return Err(Errno::EINVAL);
    }
    if size == 0 {
        return Ok(groups.len() as u64);
    }
    if (size as usize) < groups.len() {
        return Err(Errno::EINVAL);
    }
    let bytes: Vec<u8> = groups.iter().flat_map(|g| g.to_le_bytes()).collect();
    t.mm.copy_out(a.u64(1), &bytes)?;
    Ok(groups.len() as u64)
}

fn sys_getpgrp(t: &mut Task, _a: &Args) -> SysResult {
    Ok(t.tg.pgid() as u64)
}

/// The group `pid` names (0: the caller's).
fn group_of(t: &Task, pid: i32) -> Result<Arc<ThreadGroup>, Errno> {
    if pid < 0 {
        return Err(Errno::EINVAL);
    }
    if pid == 0 || pid == t.tg.tgid {
        return Ok(t.tg.clone());
    }
    t.kernel.pids().group(pid).ok_or(Errno::ESRCH)
}

fn sys_getpgid(t: &mut Task, a: &Args) -> SysResult {
    Ok(group_of(t, a.i32(0))?.pgid() as u64)
}

fn sys_getsid(t: &mut Task, a: &Args) -> SysResult {
    Ok(group_of(t, a.i32(0))?.sid() as u64)
}

fn sys_setpgid(t: &mut Task, a: &Args) -> SysResult {
    let pid = if a.i32(0) == 0 { t.tg.tgid } else { a.i32(0) };
    let pgid = if a.i32(1) == 0 { pid } else { a.i32(1) };
    if pgid < 0 {
        return Err(Errno::EINVAL);
    }
    let target = group_of(t, pid)?;
    let is_child = target.parent().is_some_and(|p| Arc::ptr_eq(&p, &t.tg));
    if !Arc::ptr_eq(&target, &t.tg) && !is_child {
        return Err(Errno::ESRCH);
    }
    if target.sid() == target.tgid || target.sid() != t.tg.sid() {
        return Err(Errno::EPERM);
    }
    if pgid != target.tgid {
        // The group must exist in the caller's session.
        let exists = t.kernel.pids().groups().iter().any(|g| g.pgid() == pgid && g.sid() == t.tg.sid());
        if !exists {
            return Err(Errno::EPERM);
        }
    }
    target.set_pgid(pgid);
    Ok(0)
}

fn sys_setsid(t: &mut Task, _a: &Args) -> SysResult {
    let me = t.tg.tgid;
    let leads_a_group = t.kernel.pids().groups().iter().any(|g| g.pgid() == me);
    if leads_a_group {
        return Err(Errno::EPERM);
    }
    t.tg.set_sid();
    Ok(me as u64)
}

fn sys_set_tid_address(t: &mut Task, a: &Args) -> SysResult {
    t.clear_child_tid = a.u64(0);
    Ok(t.tid as u64)
}

/// `sizeof(struct robust_list_head)`.
const ROBUST_LIST_HEAD_SIZE: u64 = 24;

fn sys_set_robust_list(t: &mut Task, a: &Args) -> SysResult {
    if a.u64(1) != ROBUST_LIST_HEAD_SIZE {
        return Err(Errno::EINVAL);
    }
    t.robust_list = (a.u64(0), a.u64(1));
    Ok(0)
}

fn sys_get_robust_list(t: &mut Task, a: &Args) -> SysResult {
    if a.i32(0) != 0 && a.i32(0) != t.tid {
        return Err(Errno::ESRCH);
    }
    t.mm.write_u64(a.u64(1), t.robust_list.0)?;
    t.mm.write_u64(a.u64(2), t.robust_list.1)?;
    Ok(0)
}

fn sys_arch_prctl(t: &mut Task, a: &Args) -> SysResult {
    match a.u64(0) {
        arch::ARCH_SET_FS => {
            if !arch::is_valid_segment_base(a.u64(1)) {
                return Err(Errno::EPERM);
            }
            t.cpu.regs.fs_base = a.u64(1);
            Ok(0)
        }
        arch::ARCH_SET_GS => {
            if !arch::is_valid_segment_base(a.u64(1)) {
                return Err(Errno::EPERM);
            }
            t.cpu.regs.gs_base = a.u64(1);
            Ok(0)
        }
        arch::ARCH_GET_FS => {
            t.mm.write_u64(a.u64(1), t.cpu.regs.fs_base)?;
            Ok(0)
        }
        arch::ARCH_GET_GS => {
            t.mm.write_u64(a.u64(1), t.cpu.regs.gs_base)?;
            Ok(0)
        }
        // CPUID faulting is not offered.
        arch::ARCH_GET_CPUID | arch::ARCH_SET_CPUID => Err(Errno::ENODEV),
        _ => Err(Errno::EINVAL),
    }
}

fn prlimit(t: &Task, resource: u32, new: Option<(u64, u64)>, old_addr: u64) -> SysResult {
    let r = resource as usize;
    if r >= RLIM_NLIMITS {
        return Err(Errno::EINVAL);
    }
    if let Some((soft, hard)) = new {
        if soft > hard {
            return Err(Errno::EINVAL);
        }
    }
    let mut limits = lock(&t.tg.rlimits);
    let old = limits[r];
    if let Some((soft, hard)) = new {
        if hard > old.1 && t.creds.euid != 0 {
            return Err(Errno::EPERM);
        }
        if r == libc::RLIMIT_NOFILE as usize && hard != RLIM_INFINITY && hard > crate::kernel::fd_table::DEFAULT_NOFILE
        {
            return Err(Errno::EPERM);
        }
        limits[r] = (soft, hard);
    }
    drop(limits);
    if old_addr != 0 {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&old.0.to_le_bytes());
        b[8..].copy_from_slice(&old.1.to_le_bytes());
        t.mm.copy_out(old_addr, &b)?;
    }
    Ok(0)
}

fn read_rlimit(t: &Task, addr: u64) -> Result<(u64, u64), Errno> {
    Ok((t.mm.read_u64(addr)?, t.mm.read_u64(addr + 8)?))
}

fn sys_prlimit64(t: &mut Task, a: &Args) -> SysResult {
    let pid = a.i32(0);
    if pid != 0 && pid != t.tg.tgid {
        return Err(Errno::ESRCH);
    }
    let new = if a.u64(2) != 0 { Some(read_rlimit(t, a.u64(2))?) } else { None };
    prlimit(t, a.u32(1), new, a.u64(3))
}

fn sys_getrlimit(t: &mut Task, a: &Args) -> SysResult {
    prlimit(t, a.u32(0), None, a.u64(1))
}

fn sys_setrlimit(t: &mut Task, a: &Args) -> SysResult {
    let new = read_rlimit(t, a.u64(1))?;
    prlimit(t, a.u32(0), Some(new), 0)
}
