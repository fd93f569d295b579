//! System V IPC system calls: `shmget`, `shmat`, `shmdt`, `shmctl`,
//! `semget`, `semop`, `semtimedop`, `semctl`, `msgget`, `msgsnd`,
//! `msgrcv`, `msgctl`.
//!
//! The objects and their semantics are in `kernel::ipc`; this module
//! copies arguments in and out (`EFAULT` for bad pointers), maps shared
//! memory and runs the blocking waits. Command numbers may carry `IPC_64`
//! (`0x100`), which is ignored: x86-64 has only the 64-bit layouts.

use std::sync::Arc;
use std::time::Instant;

use platforms::{Perms, PAGE_SIZE};

use super::{Args, Handler};
use crate::errno::{Errno, SysResult};
use crate::kernel::ipc::msg::{self, Queue, MSGMAX, MSGMNB, MSG_COPY, MSG_EXCEPT, MSG_NOERROR};
use crate::kernel::ipc::sem::{self, SemBuf, SemOutcome, SemSet, SemWaiter, SEMMSL, SEMOPM, SEMVMX};
use crate::kernel::ipc::shm::{self, Segment, SHMMAX, SHMMIN, SHM_DEST, SHM_LOCKED};
use crate::kernel::ipc::{now_secs, IpcState, IPC_NOWAIT};
use crate::kernel::waiter::{events, unique_id, wait_until};
use crate::kernel::Task;
use crate::mm::{lock, MmapOpts, VmaKind};

pub(super) const HANDLERS: &[(i64, Handler)] = &[
    (libc::SYS_shmget, sys_shmget),
    (libc::SYS_shmat, sys_shmat),
    (libc::SYS_shmdt, sys_shmdt),
    (libc::SYS_shmctl, sys_shmctl),
    (libc::SYS_semget, sys_semget),
    (libc::SYS_semop, sys_semop),
    (libc::SYS_semtimedop, sys_semtimedop),
    (libc::SYS_semctl, sys_semctl),
    (libc::SYS_msgget, sys_msgget),
    (libc::SYS_msgsnd, sys_msgsnd),
    (libc::SYS_msgrcv, sys_msgrcv),
    (libc::SYS_msgctl, sys_msgctl),
];

const IPC_RMID: i32 = 0;
const IPC_SET: i32 = 1;
const IPC_STAT: i32 = 2;
const IPC_INFO: i32 = 3;
const IPC_64: i32 = 0x100;

const SHM_LOCK: i32 = 11;
const SHM_UNLOCK: i32 = 12;
const SHM_STAT: i32 = 13;
const SHM_INFO: i32 = 14;
const SHM_STAT_ANY: i32 = 15;

const SHM_RDONLY: i32 = 0o10000;
const SHM_RND: i32 = 0o20000;
const SHM_REMAP: i32 = 0o40000;
const SHM_EXEC: i32 = 0o100000;

const GETPID: i32 = 11;
const GETVAL: i32 = 12;
const GETALL: i32 = 13;
const GETNCNT: i32 = 14;
const GETZCNT: i32 = 15;
const SETVAL: i32 = 16;
const SETALL: i32 = 17;
const SEM_STAT: i32 = 18;
const SEM_INFO: i32 = 19;
const SEM_STAT_ANY: i32 = 20;

const MSG_STAT: i32 = 11;
const MSG_INFO: i32 = 12;
const MSG_STAT_ANY: i32 = 13;

/// `CAP_IPC_LOCK`.
const CAP_IPC_LOCK: u32 = 14;
/// `CAP_SYS_RESOURCE`.
const CAP_SYS_RESOURCE: u32 = 24;

/// Read and write access bits for `ipcperms`.
const S_IRUGO: i32 = 0o444;
const S_IWUGO: i32 = 0o222;

fn ns(t: &Task) -> std::sync::MutexGuard<'_, IpcState> {
    lock(&t.kernel.inner.ipc.state)
}

/// The command of a `*ctl` call, without `IPC_64`.
fn command(a: &Args, i: usize) -> i32 {
    a.i32(i) & !IPC_64
}

fn put_ints(out: &mut Vec<u8>, v: &[i32]) {
    for x in v {
        out.extend_from_slice(&x.to_le_bytes());
    }
}

// ---------------------------------------------------------------------------
// Shared memory.

fn sys_shmget(t: &mut Task, a: &Args) -> SysResult {
    let (key, size, flags) = (a.i32(0), a.u64(1), a.i32(2));
    let mf = t.kernel.inner.mf.clone();
    let pid = t.tg.tgid;
    let creds = t.creds.clone();
    let mut s = ns(t);
    shm::prune(&mut s.shm);
    let id = s.shm.get_or_create(
        key,
        flags,
        &creds,
        |seg| if size > seg.size { Err(Errno::EINVAL) } else { Ok(()) },
        || {
            if !(SHMMIN..=SHMMAX).contains(&size) {
                return Err(Errno::EINVAL);
            }
            Ok(Segment::new(mf, size, pid))
        },
    )?;
    Ok(id as u64)
}

fn sys_shmat(t: &mut Task, a: &Args) -> SysResult {
    let (id, mut addr, flags) = (a.i32(0), a.u64(1), a.i32(2));
    if id < 0 {
        return Err(Errno::EINVAL);
    }
    if addr % PAGE_SIZE != 0 {
        if flags & SHM_RND == 0 {
            return Err(Errno::EINVAL);
        }
        addr -= addr % PAGE_SIZE;
        if addr == 0 && flags & SHM_REMAP != 0 {
            return Err(Errno::EINVAL);
        }
    }
    let perms = Perms { read: true, write: flags & SHM_RDONLY == 0, execute: flags & SHM_EXEC != 0 };
    let mut access = S_IRUGO;
    if perms.write {
        access |= S_IWUGO;
    }
    if perms.execute {
        access |= 0o111;
    }
    let (mem, len, key) = {
        let mut s = ns(t);
        shm::prune(&mut s.shm);
        let e = s.shm.get(id)?;
        e.perm.check(&t.creds, access)?;
        (e.obj.mem.clone(), e.obj.mapped_len(), e.perm.key)
    };
    let fixed = addr != 0;
    let o = MmapOpts {
        addr,
        len,
        perms,
        // mprotect may add execute, never write to a read-only attach.
        max_perms: Perms { execute: true, ..perms },
        shared: true,
        fixed: fixed && flags & SHM_REMAP != 0,
        noreplace: fixed && flags & SHM_REMAP == 0,
        backing: Some(mem),
        offset: 0,
        kind: VmaKind::Normal,
        name: Some(shm::map_name(key)),
    };
    let start = t.mm.mmap(o).map_err(|e| if e == Errno::EEXIST { Errno::EINVAL } else { e })?;
    let mut s = ns(t);
    if let Ok(e) = s.shm.get_mut(id) {
        e.obj.atime = now_secs();
        e.obj.lpid = t.tg.tgid;
    }
    Ok(start)
}

fn sys_shmdt(t: &mut Task, a: &Args) -> SysResult {
    let addr = a.u64(0);
    if addr % PAGE_SIZE != 0 {
        return Err(Errno::EINVAL);
    }
    let vmas = t.mm.vmas();
    let Some(first) = vmas.iter().position(|v| v.start == addr && v.offset == 0 && v.shared) else {
        return Err(Errno::EINVAL);
    };
    let Some(backing) = vmas[first].backing.clone() else { return Err(Errno::EINVAL) };
    let mut s = ns(t);
    let Some(id) = s.shm.iter().find(|(_, e)| e.obj.is_backing(&backing)).map(|(id, _)| id) else {
        return Err(Errno::EINVAL);
    };
    let len = s.shm.get(id).map(|e| e.obj.mapped_len())?;
    // The attach: the VMAs of the segment from `addr` on, within its size
    // (more than one if part of it was mprotect-ed).
    let mut end = addr;
    for v in &vmas[first..] {
        let same = v.backing.as_ref().is_some_and(|b| Arc::ptr_eq(b, &backing));
        if v.start != end || !same || v.end > addr.saturating_add(len) {
            break;
        }
        end = v.end;
    }
    drop(backing);
    drop(vmas);
    t.mm.munmap(addr, end - addr)?;
    if let Ok(e) = s.shm.get_mut(id) {
        e.obj.dtime = now_secs();
        e.obj.lpid = t.tg.tgid;
    }
    shm::prune(&mut s.shm);
    Ok(0)
}

fn sys_shmctl(t: &mut Task, a: &Args) -> SysResult {
    let (id, cmd, buf) = (a.i32(0), command(a, 1), a.u64(2));
    if id < 0 && cmd != IPC_INFO && cmd != SHM_INFO {
        return Err(Errno::EINVAL);
    }
    let mut s = ns(t);
    shm::prune(&mut s.shm);
    match cmd {
        IPC_INFO => {
            let mut out = Vec::with_capacity(72);
            for v in [SHMMAX, SHMMIN, shm::SHMMNI as u64, shm::SHMMNI as u64, shm::SHMALL, 0, 0, 0, 0] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            t.mm.copy_out(buf, &out)?;
            Ok(s.shm.highest_index() as u64)
        }
        SHM_INFO => {
            let pages: u64 = s.shm.iter().map(|(_, e)| e.obj.pages()).sum();
            let mut out = Vec::with_capacity(48);
            put_ints(&mut out, &[s.shm.len() as i32, 0]);
            for v in [pages, pages, 0, 0, 0] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            t.mm.copy_out(buf, &out)?;
            Ok(s.shm.highest_index() as u64)
        }
        IPC_STAT | SHM_STAT | SHM_STAT_ANY => {
            let (ret, e) = if cmd == IPC_STAT { (0, s.shm.get(id)?) } else { s.shm.get_index(id)? };
            if cmd != SHM_STAT_ANY {
                e.perm.check(&t.creds, S_IRUGO)?;
            }
            t.mm.copy_out(buf, &shm::encode_ds(e))?;
            Ok(ret as u64)
        }
        IPC_SET => {
            let raw = t.mm.copy_in_vec(buf, 48)?;
            let e = s.shm.get_mut(id)?;
            e.perm.check_owner(&t.creds)?;
            e.perm.set_from(&raw);
            e.obj.ctime = now_secs();
            Ok(0)
        }
        IPC_RMID => {
            let e = s.shm.get_mut(id)?;
            e.perm.check_owner(&t.creds)?;
            e.perm.mode |= SHM_DEST;
            e.perm.key = crate::kernel::ipc::IPC_PRIVATE;
            shm::prune(&mut s.shm);
            Ok(0)
        }
        SHM_LOCK | SHM_UNLOCK => {
            let e = s.shm.get_mut(id)?;
            if !t.creds.has_cap(CAP_IPC_LOCK) {
                e.perm.check_owner(&t.creds)?;
            }
            if cmd == SHM_LOCK {
                e.perm.mode |= SHM_LOCKED;
            } else {
                e.perm.mode &= !SHM_LOCKED;
            }
            Ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}

// ---------------------------------------------------------------------------
// Semaphores.

fn sys_semget(t: &mut Task, a: &Args) -> SysResult {
    let (key, nsems, flags) = (a.i32(0), a.i32(1), a.i32(2));
    if !(0..=SEMMSL).contains(&nsems) {
        return Err(Errno::EINVAL);
    }
    let creds = t.creds.clone();
    let mut s = ns(t);
    let id = s.sem.get_or_create(
        key,
        flags,
        &creds,
        |set| if nsems as usize > set.sems.len() { Err(Errno::EINVAL) } else { Ok(()) },
        || if nsems == 0 { Err(Errno::EINVAL) } else { Ok(SemSet::new(nsems as usize)) },
    )?;
    Ok(id as u64)
}

fn sys_semop(t: &mut Task, a: &Args) -> SysResult {
    semtimedop(t, a.i32(0), a.u64(1), a.u64(2), None)
}

fn sys_semtimedop(t: &mut Task, a: &Args) -> SysResult {
    let timeout = if a.u64(3) == 0 { None } else { Some(super::time::read_timespec(t, a.u64(3))?) };
    semtimedop(t, a.i32(0), a.u64(1), a.u64(2), timeout)
}

fn semtimedop(t: &mut Task, id: i32, sops: u64, nsops: u64, timeout: Option<std::time::Duration>) -> SysResult {
    if id < 0 || nsops < 1 {
        return Err(Errno::EINVAL);
    }
    if nsops > SEMOPM as u64 {
        return Err(Errno::E2BIG);
    }
    let raw = t.mm.copy_in_vec(sops, nsops as usize * 6)?;
    let ops: Vec<SemBuf> = raw.chunks(6).map(SemBuf::decode).collect();
    let deadline = timeout.map(|d| Instant::now().checked_add(d).unwrap_or_else(far_future));
    let undo = ops.iter().any(|o| o.flg & sem::SEM_UNDO != 0);
    let alter = ops.iter().any(|o| o.op != 0);
    let (tgid, creds) = (t.tg.tgid, t.creds.clone());
    {
        let s = ns(t);
        let e = s.sem.get(id)?;
        if ops.iter().any(|o| o.num as usize >= e.obj.sems.len()) {
            return Err(Errno::EFBIG);
        }
        e.perm.check(&creds, if alter { S_IWUGO } else { S_IRUGO })?;
    }
    let ipc = &t.kernel.inner.ipc;
    let me = unique_id();
    let attempt = || -> Result<(), Errno> {
        let mut s = lock(&ipc.state);
        let IpcState { sem: sets, undo: undo_lists, .. } = &mut *s;
        // Removed (the id is never handed out again at once).
        let set = &mut sets.get_mut(id).map_err(|_| Errno::EIDRM)?.obj;
        let u = if undo { Some(undo_lists.entry(tgid, id)) } else { None };
        match set.try_apply(&ops, tgid, u) {
            Ok(()) => {
                set.remove_waiter(me);
                drop(s);
                ipc.sem_events.notify(events::ALL);
                Ok(())
            }
            Err(SemOutcome::Error(e)) => {
                set.remove_waiter(me);
                Err(e)
            }
            Err(SemOutcome::Blocked { num, zero, nowait }) => {
                if nowait {
                    set.remove_waiter(me);
                    // EAGAIN from the wait loop would mean "sleep".
                    return Err(Errno::ENOMSG);
                }
                set.set_waiter(SemWaiter { id: me, num, zero });
                Err(Errno::EAGAIN)
            }
        }
    };
    let r = t.blocker(|b| wait_until(b, &[&ipc.sem_events], events::ALL, deadline, attempt));
    if r.is_err() {
        if let Ok(e) = lock(&ipc.state).sem.get_mut(id) {
            e.obj.remove_waiter(me);
        }
    }
    match r {
        Ok(()) => Ok(0),
        Err(Errno::ENOMSG) => Err(Errno::EAGAIN),
        Err(Errno::ETIMEDOUT) => Err(Errno::EAGAIN),
        // semop is never restarted (as Linux).
        Err(Errno::ERESTARTSYS) => Err(Errno::EINTR),
        Err(e) => Err(e),
    }
}

fn far_future() -> Instant {
    Instant::now() + std::time::Duration::from_secs(1 << 32)
}

fn sys_semctl(t: &mut Task, a: &Args) -> SysResult {
    let (id, num, cmd, arg) = (a.i32(0), a.i32(1), command(a, 2), a.u64(3));
    if id < 0 && cmd != IPC_INFO && cmd != SEM_INFO {
        return Err(Errno::EINVAL);
    }
    let ipc = &t.kernel.inner.ipc;
    let mut s = lock(&ipc.state);
    let sem_num = |set: &SemSet| -> Result<usize, Errno> {
        usize::try_from(num).ok().filter(|&n| n < set.sems.len()).ok_or(Errno::EINVAL)
    };
    match cmd {
        IPC_INFO | SEM_INFO => {
            let (usz, aem) = if cmd == SEM_INFO {
                (s.sem.len() as i32, s.sem.iter().map(|(_, e)| e.obj.sems.len() as i32).sum())
            } else {
                (20, sem::SEMAEM)
            };
            let mut out = Vec::with_capacity(40);
            put_ints(
                &mut out,
                &[
                    sem::SEMMNS,
                    sem::SEMMNI as i32,
                    sem::SEMMNS,
                    sem::SEMMNS,
                    SEMMSL,
                    SEMOPM as i32,
                    SEMMSL,
                    usz,
                    SEMVMX,
                    aem,
                ],
            );
            t.mm.copy_out(arg, &out)?;
            Ok(s.sem.highest_index() as u64)
        }
        IPC_STAT | SEM_STAT | SEM_STAT_ANY => {
            let (ret, e) = if cmd == IPC_STAT { (0, s.sem.get(id)?) } else { s.sem.get_index(id)? };
            if cmd != SEM_STAT_ANY {
                e.perm.check(&t.creds, S_IRUGO)?;
            }
            t.mm.copy_out(arg, &sem::encode_ds(e))?;
            Ok(ret as u64)
        }
        IPC_SET => {
            let raw = t.mm.copy_in_vec(arg, 48)?;
            let e = s.sem.get_mut(id)?;
            e.perm.check_owner(&t.creds)?;
            e.perm.set_from(&raw);
            e.obj.ctime = now_secs();
            Ok(0)
        }
        IPC_RMID => {
            s.sem.get(id)?.perm.check_owner(&t.creds)?;
            s.sem.remove(id);
            s.undo.forget_set(id);
            drop(s);
            ipc.sem_events.notify(events::ALL);
            Ok(0)
        }
        GETVAL | GETPID | GETNCNT | GETZCNT => {
            let e = s.sem.get(id)?;
            e.perm.check(&t.creds, S_IRUGO)?;
            let n = sem_num(&e.obj)?;
            Ok(match cmd {
                GETVAL => e.obj.sems[n].val as u64,
                GETPID => e.obj.sems[n].pid as u64,
                GETNCNT => e.obj.count_waiters(n as u16, false),
                _ => e.obj.count_waiters(n as u16, true),
            })
        }
        GETALL => {
            let e = s.sem.get(id)?;
            e.perm.check(&t.creds, S_IRUGO)?;
            let out: Vec<u8> = e.obj.sems.iter().flat_map(|x| (x.val as u16).to_le_bytes()).collect();
            t.mm.copy_out(arg, &out)?;
            Ok(0)
        }
        SETVAL => {
            let val = arg as u32 as i32;
            let e = s.sem.get_mut(id)?;
            let n = sem_num(&e.obj)?;
            if !(0..=SEMVMX).contains(&val) {
                return Err(Errno::ERANGE);
            }
            e.perm.check(&t.creds, S_IWUGO)?;
            e.obj.sems[n] = sem::Sem { val, pid: t.tg.tgid };
            e.obj.ctime = now_secs();
            s.undo.clear(id, Some(n));
            drop(s);
            ipc.sem_events.notify(events::ALL);
            Ok(0)
        }
        SETALL => {
            let n = s.sem.get(id)?.obj.sems.len();
            let raw = t.mm.copy_in_vec(arg, n * 2)?;
            let vals: Vec<i32> = raw.chunks(2).map(|c| u16::from_le_bytes([c[0], c[1]]) as i32).collect();
            if vals.iter().any(|&v| v > SEMVMX) {
                return Err(Errno::ERANGE);
            }
            let e = s.sem.get_mut(id)?;
            e.perm.check(&t.creds, S_IWUGO)?;
            for (x, v) in e.obj.sems.iter_mut().zip(vals) {
                *x = sem::Sem { val: v, pid: t.tg.tgid };
            }
            e.obj.ctime = now_secs();
            s.undo.clear(id, None);
            drop(s);
            ipc.sem_events.notify(events::ALL);
            Ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}

// ---------------------------------------------------------------------------
// Message queues.

fn sys_msgget(t: &mut Task, a: &Args) -> SysResult {
    let (key, flags) = (a.i32(0), a.i32(1));
    let creds = t.creds.clone();
    let id = ns(t).msg.get_or_create(key, flags, &creds, |_| Ok(()), || Ok(Queue::default()))?;
    Ok(id as u64)
}

fn sys_msgsnd(t: &mut Task, a: &Args) -> SysResult {
    let (id, msgp, size, flags) = (a.i32(0), a.u64(1), a.i64(2), a.i32(3));
    if size < 0 || size as usize > MSGMAX || id < 0 {
        return Err(Errno::EINVAL);
    }
    let mtype = t.mm.read_u64(msgp)? as i64;
    if mtype < 1 {
        return Err(Errno::EINVAL);
    }
    let text = t.mm.copy_in_vec(msgp.checked_add(8).ok_or(Errno::EFAULT)?, size as usize)?;
    {
        let s = ns(t);
        s.msg.get(id)?.perm.check(&t.creds, S_IWUGO)?;
    }
    let (ipc, pid) = (&t.kernel.inner.ipc, t.tg.tgid);
    let attempt = || -> Result<(), Errno> {
        let mut s = lock(&ipc.state);
        let q = &mut s.msg.get_mut(id).map_err(|_| Errno::EIDRM)?.obj;
        if q.try_send(mtype, &text, pid) {
            drop(s);
            ipc.msg_events.notify(events::ALL);
            return Ok(());
        }
        Err(Errno::EAGAIN)
    };
    let r = if flags & IPC_NOWAIT != 0 {
        attempt()
    } else {
        t.blocker(|b| wait_until(b, &[&ipc.msg_events], events::ALL, None, attempt))
    };
    match r {
        Ok(()) => Ok(0),
        Err(Errno::ERESTARTSYS) => Err(Errno::ERESTARTNOHAND),
        Err(e) => Err(e),
    }
}

fn sys_msgrcv(t: &mut Task, a: &Args) -> SysResult {
    let (id, msgp, size, msgtyp, flags) = (a.i32(0), a.u64(1), a.i64(2), a.i64(3), a.i32(4));
    if size < 0 || id < 0 || flags & MSG_COPY != 0 {
        return Err(Errno::EINVAL);
    }
    {
        let s = ns(t);
        s.msg.get(id)?.perm.check(&t.creds, S_IRUGO)?;
    }
    let (ipc, pid) = (&t.kernel.inner.ipc, t.tg.tgid);
    let (except, truncate) = (flags & MSG_EXCEPT != 0 && msgtyp > 0, flags & MSG_NOERROR != 0);
    let attempt = || -> Result<(i64, Vec<u8>), Errno> {
        let mut s = lock(&ipc.state);
        let q = &mut s.msg.get_mut(id).map_err(|_| Errno::EIDRM)?.obj;
        match q.try_receive(msgtyp, except, size as usize, truncate, pid)? {
            Some(m) => {
                drop(s);
                ipc.msg_events.notify(events::ALL);
                Ok(m)
            }
            None => Err(Errno::EAGAIN),
        }
    };
    let r = if flags & IPC_NOWAIT != 0 {
        attempt().map_err(|e| if e == Errno::EAGAIN { Errno::ENOMSG } else { e })
    } else {
        t.blocker(|b| wait_until(b, &[&ipc.msg_events], events::ALL, None, attempt))
    };
    let (mtype, text) = match r {
        Ok(m) => m,
        Err(Errno::ERESTARTSYS) => return Err(Errno::ERESTARTNOHAND),
        Err(e) => return Err(e),
    };
    // As Linux, the message is gone even if it cannot be stored.
    t.mm.write_u64(msgp, mtype as u64)?;
    t.mm.copy_out(msgp.checked_add(8).ok_or(Errno::EFAULT)?, &text)?;
    Ok(text.len() as u64)
}

fn sys_msgctl(t: &mut Task, a: &Args) -> SysResult {
    let (id, cmd, buf) = (a.i32(0), command(a, 1), a.u64(2));
    if id < 0 && cmd != IPC_INFO && cmd != MSG_INFO {
        return Err(Errno::EINVAL);
    }
    let ipc = &t.kernel.inner.ipc;
    let mut s = lock(&ipc.state);
    match cmd {
        IPC_INFO | MSG_INFO => {
            let (pool, map, tql) = if cmd == MSG_INFO {
                let q = s.msg.iter().map(|(_, e)| e.obj.msgs.len() as i32).sum();
                let b = s.msg.iter().map(|(_, e)| e.obj.cbytes as i32).sum();
                (s.msg.len() as i32, q, b)
            } else {
                (MSGMNB as i32 * msg::MSGMNI as i32 / 1024, MSGMNB as i32, MSGMNB as i32)
            };
            let mut out = Vec::with_capacity(32);
            put_ints(&mut out, &[pool, map, MSGMAX as i32, MSGMNB as i32, msg::MSGMNI as i32, 16, tql]);
            out.extend_from_slice(&(0xffffu16).to_le_bytes());
            out.extend_from_slice(&[0; 2]);
            t.mm.copy_out(buf, &out)?;
            Ok(s.msg.highest_index() as u64)
        }
        IPC_STAT | MSG_STAT | MSG_STAT_ANY => {
            let (ret, e) = if cmd == IPC_STAT { (0, s.msg.get(id)?) } else { s.msg.get_index(id)? };
            if cmd != MSG_STAT_ANY {
                e.perm.check(&t.creds, S_IRUGO)?;
            }
            t.mm.copy_out(buf, &msg::encode_ds(e))?;
            Ok(ret as u64)
        }
        IPC_SET => {
            let raw = t.mm.copy_in_vec(buf, msg::QBYTES_OFFSET + 8)?;
            let o = msg::QBYTES_OFFSET;
            let qbytes = u64::from_le_bytes(raw[o..o + 8].try_into().map_err(|_| Errno::EFAULT)?);
            let e = s.msg.get_mut(id)?;
            e.perm.check_owner(&t.creds)?;
            if qbytes > MSGMNB && !t.creds.has_cap(CAP_SYS_RESOURCE) {
                return Err(Errno::EPERM);
            }
            e.perm.set_from(&raw);
            e.obj.qbytes = qbytes;
            e.obj.ctime = now_secs();
            drop(s);
            ipc.msg_events.notify(events::ALL);
            Ok(0)
        }
        IPC_RMID => {
            s.msg.get(id)?.perm.check_owner(&t.creds)?;
            s.msg.remove(id);
            drop(s);
            ipc.msg_events.notify(events::ALL);
            Ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}
