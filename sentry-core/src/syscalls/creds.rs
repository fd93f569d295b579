//! Changing credentials: set*uid, set*gid, setgroups, setfsuid/setfsgid,
//! capget/capset.
//!
//! Credentials are per task, as in Linux (glibc makes them process-wide by
//! asking every thread to change its own). The permission rules are Linux's
//! for a task with or without `CAP_SETUID`/`CAP_SETGID`. Capability sets
//! change with uid changes as Linux's `cap_emulate_setxuid` does (without
//! `SECBIT_KEEP_CAPS`): leaving uid 0 everywhere clears them, an effective
//! uid of 0 raises the effective set to the permitted one.

use super::{Args, Handler};
use crate::errno::{Errno, SysResult};
use crate::kernel::{Credentials, Task};

pub(super) const HANDLERS: &[(i64, Handler)] = &[
    (libc::SYS_setuid, sys_setuid),
    (libc::SYS_setgid, sys_setgid),
    (libc::SYS_setreuid, sys_setreuid),
    (libc::SYS_setregid, sys_setregid),
    (libc::SYS_setresuid, sys_setresuid),
    (libc::SYS_setresgid, sys_setresgid),
    (libc::SYS_setgroups, sys_setgroups),
    (libc::SYS_setfsuid, sys_setfsuid),
    (libc::SYS_setfsgid, sys_setfsgid),
    (libc::SYS_capget, sys_capget),
    (libc::SYS_capset, sys_capset),
];

/// `-1`: leave the id unchanged.
const KEEP: u32 = u32::MAX;

/// Most supplementary groups (`NGROUPS_MAX`).
pub const NGROUPS_MAX: usize = 65536;

/// The capabilities root has in the container: runc's default set
/// (CHOWN, DAC_OVERRIDE, FSETID, FOWNER, MKNOD, NET_RAW, SETGID, SETUID,
/// SETFCAP, SETPCAP, NET_BIND_SERVICE, SYS_CHROOT, KILL, AUDIT_WRITE).
pub const DEFAULT_CAPS: u64 = (1 << 0)
    | (1 << 1)
    | (1 << 4)
    | (1 << 3)
    | (1 << 27)
    | (1 << 13)
    | (1 << 6)
    | (1 << 7)
    | (1 << 31)
    | (1 << 8)
    | (1 << 10)
    | (1 << 18)
    | (1 << 5)
    | (1 << 29);

const CAP_SETGID: u32 = 6;
const CAP_SETUID: u32 = 7;

fn privileged(c: &Credentials) -> bool {
    c.has_cap(CAP_SETUID)
}

fn privileged_gid(c: &Credentials) -> bool {
    c.has_cap(CAP_SETGID)
}

/// Applies Linux's rule for a new (real, effective, saved) triple: an
/// unprivileged task may only set each to one of its current three.
fn set_ids(cur: (u32, u32, u32), new: (u32, u32, u32), privileged: bool) -> Result<(u32, u32, u32), Errno> {
    let allowed = |id: u32| id == KEEP || privileged || id == cur.0 || id == cur.1 || id == cur.2;
    if !(allowed(new.0) && allowed(new.1) && allowed(new.2)) {
        return Err(Errno::EPERM);
    }
    let pick = |n: u32, c: u32| if n == KEEP { c } else { n };
    Ok((pick(new.0, cur.0), pick(new.1, cur.1), pick(new.2, cur.2)))
}

fn update_uids(t: &mut Task, ids: (u32, u32, u32)) {
    let c = &mut t.creds;
    let was_root = c.uid == 0 || c.euid == 0 || c.suid == 0;
    let (old_euid, new_euid) = (c.euid, ids.1);
    (c.uid, c.euid, c.suid) = ids;
    if was_root && c.uid != 0 && c.euid != 0 && c.suid != 0 {
        c.cap_permitted = 0;
        c.cap_effective = 0;
    }
    if old_euid == 0 && new_euid != 0 {
        c.cap_effective = 0;
    } else if old_euid != 0 && new_euid == 0 {
        c.cap_effective = c.cap_permitted;
    }
    t.tg.uid.store(ids.0 as i32, std::sync::atomic::Ordering::Relaxed);
}

fn sys_setuid(t: &mut Task, a: &Args) -> SysResult {
    let uid = a.u32(0);
    if uid == KEEP {
        return Err(Errno::EINVAL);
    }
    let c = &t.creds;
    let ids = if privileged(c) {
        (uid, uid, uid)
    } else if uid == c.uid || uid == c.suid {
        (c.uid, uid, c.suid)
    } else {
        return Err(Errno::EPERM);
    };
    update_uids(t, ids);
    Ok(0)
}

fn sys_setgid(t: &mut Task, a: &Args) -> SysResult {
    let gid = a.u32(0);
    if gid == KEEP {
        return Err(Errno::EINVAL);
    }
    let c = &mut t.creds;
    if privileged_gid(c) {
        (c.gid, c.egid, c.sgid) = (gid, gid, gid);
    } else if gid == c.gid || gid == c.sgid {
        c.egid = gid;
    } else {
        return Err(Errno::EPERM);
    }
    Ok(0)
}

fn sys_setreuid(t: &mut Task, a: &Args) -> SysResult {
    let (r, e) = (a.u32(0), a.u32(1));
    let c = &t.creds;
    let p = privileged(c);
    // The real id may become the effective or real one; the effective
    // one any of the three.
    if r != KEEP && !p && r != c.uid && r != c.euid {
        return Err(Errno::EPERM);
    }
    let (nr, ne, _) = set_ids((c.uid, c.euid, c.suid), (KEEP, e, KEEP), p)?;
    let nr = if r == KEEP { nr } else { r };
    // The saved id follows the effective one when the real id is set or
    // the effective id differs from the old real id.
    let ns = if r != KEEP || (e != KEEP && e != c.uid) { ne } else { c.suid };
    update_uids(t, (nr, ne, ns));
    Ok(0)
}

fn sys_setregid(t: &mut Task, a: &Args) -> SysResult {
    let (r, e) = (a.u32(0), a.u32(1));
    let p = privileged_gid(&t.creds);
    let c = &mut t.creds;
    if r != KEEP && !p && r != c.gid && r != c.egid {
        return Err(Errno::EPERM);
    }
    let (nr, ne, _) = set_ids((c.gid, c.egid, c.sgid), (KEEP, e, KEEP), p)?;
    let nr = if r == KEEP { nr } else { r };
    let ns = if r != KEEP || (e != KEEP && e != c.gid) { ne } else { c.sgid };
    (c.gid, c.egid, c.sgid) = (nr, ne, ns);
    Ok(0)
}

fn sys_setresuid(t: &mut Task, a: &Args) -> SysResult {
    let c = &t.creds;
    let ids = set_ids((c.uid, c.euid, c.suid), (a.u32(0), a.u32(1), a.u32(2)), privileged(c))?;
    update_uids(t, ids);
    Ok(0)
}

fn sys_setresgid(t: &mut Task, a: &Args) -> SysResult {
    let p = privileged_gid(&t.creds);
    let c = &mut t.creds;
    (c.gid, c.egid, c.sgid) = set_ids((c.gid, c.egid, c.sgid), (a.u32(0), a.u32(1), a.u32(2)), p)?;
    Ok(0)
}

fn sys_setgroups(t: &mut Task, a: &Args) -> SysResult {
    let n = a.i32(0);
    if n < 0 || n as usize > NGROUPS_MAX {
        return Err(Errno::EINVAL);
    }
    if !privileged_gid(&t.creds) {
        return Err(Errno::EPERM);
    }
    let bytes = t.mm.copy_in_vec(a.u64(1), n as usize * 4)?;
    let mut groups: Vec<u32> =
        bytes.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().unwrap_or([0; 4]))).collect();
    groups.sort_unstable();
    t.creds.groups = groups;
    Ok(0)
}

/// setfsuid/setfsgid: file-system ids follow the effective ids here; the
/// call reports the previous one and succeeds only for ids the task could
/// make effective.
fn sys_setfsuid(t: &mut Task, a: &Args) -> SysResult {
    let old = t.creds.euid;
    let id = a.u32(0);
    let c = &t.creds;
    if id != KEEP && (privileged(c) || id == c.uid || id == c.euid || id == c.suid) {
        t.creds.euid = id;
    }
    Ok(old as u64)
}

fn sys_setfsgid(t: &mut Task, a: &Args) -> SysResult {
    let old = t.creds.egid;
    let id = a.u32(0);
    let p = privileged_gid(&t.creds);
    let c = &mut t.creds;
    if id != KEEP && (p || id == c.gid || id == c.egid || id == c.sgid) {
        c.egid = id;
    }
    Ok(old as u64)
}

const LINUX_CAPABILITY_VERSION_1: u32 = 0x1998_0330;
const LINUX_CAPABILITY_VERSION_2: u32 = 0x2007_1026;
const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// Reads the header; writes back the preferred version and gives EINVAL
/// for an unknown one, as Linux. Returns (version words, pid).
fn cap_header(t: &Task, addr: u64) -> Result<(usize, i32), Errno> {
    let version = t.mm.read_u32(addr)?;
    let pid = t.mm.read_u32(addr + 4)? as i32;
    match version {
        LINUX_CAPABILITY_VERSION_1 => Ok((1, pid)),
        LINUX_CAPABILITY_VERSION_2 | LINUX_CAPABILITY_VERSION_3 => Ok((2, pid)),
        _ => {
            t.mm.write_u32(addr, LINUX_CAPABILITY_VERSION_3)?;
            Err(Errno::EINVAL)
        }
    }
}

fn sys_capget(t: &mut Task, a: &Args) -> SysResult {
    let (words, pid) = cap_header(t, a.u64(0))?;
    if pid < 0 {
        return Err(Errno::EINVAL);
    }
    if pid != 0 && pid != t.tid {
        // Another task's credentials live on its own thread; its sets are
        // not reachable from here.
        if t.kernel.pids().task(pid).is_none() {
            return Err(Errno::ESRCH);
        }
        return Err(Errno::EPERM);
    }
    let c = &t.creds;
    if a.u64(1) != 0 {
        let mut b = Vec::with_capacity(12 * words);
        for w in 0..words {
            for set in [c.cap_effective, c.cap_permitted, c.cap_inheritable] {
                b.extend_from_slice(&((set >> (32 * w)) as u32).to_le_bytes());
            }
        }
        t.mm.copy_out(a.u64(1), &b)?;
    }
    Ok(0)
}

const CAP_SETPCAP: u32 = 8;

fn sys_capset(t: &mut Task, a: &Args) -> SysResult {
    let (words, pid) = cap_header(t, a.u64(0))?;
    if pid != 0 && pid != t.tid {
        return Err(Errno::EPERM);
    }
    let b = t.mm.copy_in_vec(a.u64(1), 12 * words)?;
    let word = |i: usize| u32::from_le_bytes(b[i * 4..i * 4 + 4].try_into().unwrap_or([0; 4])) as u64;
    let mut sets = [0u64; 3];
    for w in 0..words {
        for (k, s) in sets.iter_mut().enumerate() {
            *s |= word(w * 3 + k) << (32 * w);
        }
    }
    let [effective, permitted, inheritable] = sets;
    let c = &mut t.creds;
    // Linux's cap_capset rules: permitted may only shrink, effective must
    // lie within it, inheritable may grow only within the bounding set and
    // (without CAP_SETPCAP) within the old permitted set.
    let inh_limit =
        c.cap_inheritable | (c.cap_bounding & if c.has_cap(CAP_SETPCAP) { u64::MAX } else { c.cap_permitted });
    if permitted & !c.cap_permitted != 0 || effective & !permitted != 0 || inheritable & !inh_limit != 0 {
        return Err(Errno::EPERM);
    }
    (c.cap_effective, c.cap_permitted, c.cap_inheritable) = (effective, permitted, inheritable);
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unprivileged_tasks_choose_among_their_ids() {
        assert_eq!(set_ids((1, 2, 3), (3, KEEP, 1), false), Ok((3, 2, 1)));
        assert_eq!(set_ids((1, 2, 3), (4, KEEP, KEEP), false), Err(Errno::EPERM));
        assert_eq!(set_ids((1, 2, 3), (4, 5, 6), true), Ok((4, 5, 6)));
    }
}
