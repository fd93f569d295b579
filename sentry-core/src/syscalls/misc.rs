//! uname, getrandom, sysinfo.

use super::{Args, Handler};
use crate::errno::{Errno, SysResult};
use crate::kernel::Task;

pub(super) const HANDLERS: &[(i64, Handler)] =
    &[(libc::SYS_uname, sys_uname), (libc::SYS_getrandom, sys_getrandom), (libc::SYS_sysinfo, sys_sysinfo)];

/// The kernel release applications see.
pub const RELEASE: &str = "4.4.0";
/// The kernel version string applications see.
pub const VERSION: &str = "#1 SMP Sun Jan 10 15:06:54 PST 2016";

fn sys_uname(t: &mut Task, a: &Args) -> SysResult {
    // struct utsname: six fields of 65 bytes.
    let mut b = [0u8; 6 * 65];
    let inner = &t.kernel.inner;
    for (i, s) in
        ["Linux", inner.hostname.as_str(), RELEASE, VERSION, "x86_64", inner.domainname.as_str()].iter().enumerate()
    {
        let n = s.len().min(64);
        b[i * 65..i * 65 + n].copy_from_slice(&s.as_bytes()[..n]);
    }
    t.mm.copy_out(a.u64(0), &b)?;
    Ok(0)
}

const GRND_NONBLOCK: u32 = 1;
const GRND_RANDOM: u32 = 2;
const GRND_INSECURE: u32 = 4;

fn sys_getrandom(t: &mut Task, a: &Args) -> SysResult {
    if a.u32(2) & !(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE) != 0 {
        return Err(Errno::EINVAL);
    }
    let n = (a.u64(1) as usize).min(1 << 20);
    let mut buf = vec![0u8; n];
    crate::fs::dev::fill_random(&mut buf)?;
    t.mm.copy_out(a.u64(0), &buf)?;
    Ok(n as u64)
}

fn sys_sysinfo(t: &mut Task, a: &Args) -> SysResult {
    let mf = t.kernel.inner.mf.clone();
    let uptime = t.kernel.inner.boot.elapsed().as_secs();
    // struct sysinfo (112 bytes): uptime, loads[3], totalram, freeram,
    // sharedram, bufferram, totalswap, freeswap, procs(u16), pad,
    // totalhigh, freehigh, mem_unit(u32).
    let mut b = [0u8; 112];
    let mut put = |off: usize, v: u64| b[off..off + 8].copy_from_slice(&v.to_le_bytes());
    put(0, uptime);
    put(32, mf.size());
    put(40, mf.size().saturating_sub(mf.used()));
    b[80..82].copy_from_slice(&(t.tg.task_count() as u16).to_le_bytes());
    b[104..108].copy_from_slice(&1u32.to_le_bytes());
    t.mm.copy_out(a.u64(0), &b)?;
    Ok(0)
}
