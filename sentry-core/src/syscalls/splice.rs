//! splice and vmsplice, by copying.
//!
//! The Sentry's pipes hold bytes, not page references, so splicing moves
//! data through a Sentry buffer: `splice` reads up to `len` bytes from one
//! end and writes them to the other (one of which must be a pipe, as
//! Linux requires), `vmsplice` writes user memory into a pipe. The results
//! (byte counts, offsets, blocking, `SPLICE_F_NONBLOCK`) are Linux's; only
//! the zero-copy is missing. `tee` needs to read a pipe without consuming
//! it, which the pipe does not offer: it stays unimplemented (`ENOSYS`).

use super::{Args, Handler};
use crate::errno::{Errno, SysResult};
use crate::fs::pipe::pipe_file;
use crate::kernel::Task;
use crate::mm::MAX_RW_COUNT;
use crate::vfs::IoCtx;

pub(super) const HANDLERS: &[(i64, Handler)] = &[(libc::SYS_splice, sys_splice), (libc::SYS_vmsplice, sys_vmsplice)];

const SPLICE_F_NONBLOCK: u32 = 2;
const SPLICE_F_ALL: u32 = 0xf;
/// Most bytes one call moves (a pipe's default capacity).
const CHUNK: usize = 65536;

fn read_offset(t: &Task, addr: u64) -> Result<Option<u64>, Errno> {
    if addr == 0 {
        return Ok(None);
    }
    let o = t.mm.read_u64(addr)? as i64;
    if o < 0 {
        return Err(Errno::EINVAL);
    }
    Ok(Some(o as u64))
}

fn sys_splice(t: &mut Task, a: &Args) -> SysResult {
    let (fd_in, off_in, fd_out, off_out) = (a.i32(0), a.u64(1), a.i32(2), a.u64(3));
    let len = (a.u64(4).min(MAX_RW_COUNT) as usize).min(CHUNK);
    let fl = a.u32(5);
    if fl & !SPLICE_F_ALL != 0 {
        return Err(Errno::EINVAL);
    }
    let input = t.file(fd_in)?;
    let output = t.file(fd_out)?;
    if !input.readable() || !output.writable() {
        return Err(Errno::EBADF);
    }
    let (in_pipe, out_pipe) = (pipe_file(&input).is_some(), pipe_file(&output).is_some());
    if !in_pipe && !out_pipe {
        return Err(Errno::EINVAL);
    }
    // Offsets are for the non-pipe side only.
    if (in_pipe && off_in != 0) || (out_pipe && off_out != 0) {
        return Err(Errno::ESPIPE);
    }
    let mut at_in = read_offset(t, off_in)?;
    let mut at_out = read_offset(t, off_out)?;
    if len == 0 {
        return Ok(0);
    }
    let nonblock = fl & SPLICE_F_NONBLOCK != 0;
    let mut buf = vec![0u8; len];
    let n = t.io(|ctx| {
        let ctx = IoCtx { nonblock: ctx.nonblock || (nonblock && in_pipe), ..*ctx };
        input.read(&ctx, &mut buf, at_in)
    })?;
    if n == 0 {
        return Ok(0);
    }
    let w = t.io(|ctx| {
        let ctx = IoCtx { nonblock: ctx.nonblock || (nonblock && out_pipe), ..*ctx };
        output.write(&ctx, &buf[..n], at_out)
    })?;
    if w < n && at_in.is_none() && !in_pipe {
        // Give back what could not be written (a seekable input).
        input.seek(-((n - w) as i64), libc::SEEK_CUR).ok();
    }
    if let Some(o) = at_in.as_mut() {
        *o += w as u64;
        t.mm.write_u64(off_in, *o)?;
    }
    if let Some(o) = at_out.as_mut() {
        *o += w as u64;
        t.mm.write_u64(off_out, *o)?;
    }
    Ok(w as u64)
}

fn sys_vmsplice(t: &mut Task, a: &Args) -> SysResult {
    let f = t.file(a.i32(0))?;
    if a.u32(3) & !SPLICE_F_ALL != 0 {
        return Err(Errno::EINVAL);
    }
    if pipe_file(&f).is_none() {
        return Err(Errno::EBADF);
    }
    let iovs = t.mm.copy_in_iovecs(a.u64(1), a.u64(2))?;
    let mut total = 0u64;
    for iov in iovs {
        let data = t.mm.copy_in_vec(iov.base, iov.len as usize)?;
        if f.writable() {
            let w = t.io(|ctx| f.write(ctx, &data, None))?;
            total += w as u64;
            if w < data.len() {
                break;
            }
        } else {
            // Reading from a pipe into user memory.
            let mut buf = vec![0u8; iov.len as usize];
            let r = t.io(|ctx| f.read(ctx, &mut buf, None))?;
            t.mm.copy_out(iov.base, &buf[..r])?;
            total += r as u64;
            if r < buf.len() {
                break;
            }
        }
    }
    Ok(total)
}
