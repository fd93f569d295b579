//! Framing of control messages on a unix stream socket, with descriptors.

use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

/// Largest message accepted (a frame announcing more is refused unread).
pub const MAX_MESSAGE: usize = 1 << 20;
/// Most descriptors accepted with one message.
const MAX_FDS: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("control socket: {0}")]
    Io(#[from] io::Error),
    #[error("control message of {0} bytes exceeds the limit")]
    TooLarge(usize),
    #[error("malformed control message: {0}")]
    Decode(#[from] prost::DecodeError),
    #[error("control connection closed")]
    Closed,
}

/// Sends `msg` with `fds` attached (SCM_RIGHTS on the first byte).
pub fn send_message<M: prost::Message>(sock: &UnixStream, msg: &M, fds: &[RawFd]) -> Result<(), WireError> {
    let body = msg.encode_to_vec();
    if body.len() > MAX_MESSAGE {
        return Err(WireError::TooLarge(body.len()));
    }
    let mut frame = (body.len() as u32).to_le_bytes().to_vec();
    frame.extend_from_slice(&body);
    let sent = sendmsg_with_fds(sock, &frame, fds)?;
    (&*sock).write_all(&frame[sent..])?;
    Ok(())
}

/// Receives one message and the descriptors that came with it.
pub fn recv_message<M: prost::Message + Default>(sock: &UnixStream) -> Result<(M, Vec<OwnedFd>), WireError> {
    let mut len = [0u8; 4];
    let (got, fds) = recvmsg_with_fds(sock, &mut len)?;
    if got == 0 {
        return Err(WireError::Closed);
    }
    (&*sock).read_exact(&mut len[got..]).map_err(closed)?;
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_MESSAGE {
        return Err(WireError::TooLarge(len));
    }
    let mut body = vec![0u8; len];
    (&*sock).read_exact(&mut body).map_err(closed)?;
    Ok((M::decode(body.as_slice())?, fds))
}

fn closed(e: io::Error) -> WireError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        WireError::Closed
    } else {
        WireError::Io(e)
    }
}

fn cmsg_space(n: usize) -> usize {
    // SAFETY: CMSG_SPACE is a pure size computation.
    unsafe { libc::CMSG_SPACE((n * std::mem::size_of::<RawFd>()) as u32) as usize }
}

fn sendmsg_with_fds(sock: &UnixStream, data: &[u8], fds: &[RawFd]) -> io::Result<usize> {
    if fds.len() > MAX_FDS {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "too many descriptors"));
    }
    let iov = [IoSlice::new(data)];
    let mut control = vec![0u8; cmsg_space(fds.len().max(1))];
    // SAFETY: msghdr is plain data; every pointer in it refers to live
    // buffers above (iov, control) of the lengths given; the CMSG macros
    // stay within `control`, sized with CMSG_SPACE for `fds`.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = iov.as_ptr() as *mut libc::iovec;
        msg.msg_iovlen = 1;
        if !fds.is_empty() {
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = cmsg_space(fds.len()) as _;
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of_val(fds) as u32) as _;
            std::ptr::copy_nonoverlapping(fds.as_ptr(), libc::CMSG_DATA(cmsg) as *mut RawFd, fds.len());
        }
        let n = libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL);
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }
}

fn recvmsg_with_fds(sock: &UnixStream, buf: &mut [u8]) -> io::Result<(usize, Vec<OwnedFd>)> {
    let mut iov = [IoSliceMut::new(buf)];
    let mut control = vec![0u8; cmsg_space(MAX_FDS)];
    let mut fds = Vec::new();
    // SAFETY: as in `sendmsg_with_fds`; the kernel writes at most
    // `msg_controllen` bytes of control data, which we walk with the CMSG
    // macros, and every descriptor it installed is taken into an OwnedFd
    // exactly once.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = iov.as_mut_ptr() as *mut libc::iovec;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = control.len() as _;
        let n = libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC);
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let data_len = (*cmsg).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                let count = data_len / std::mem::size_of::<RawFd>();
                let data = libc::CMSG_DATA(cmsg) as *const RawFd;
                for i in 0..count {
                    fds.push(OwnedFd::from_raw_fd(std::ptr::read_unaligned(data.add(i))));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
        if msg.msg_flags & libc::MSG_CTRUNC != 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "descriptors truncated"));
        }
        Ok((n as usize, fds))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::*;

    #[test]
    fn messages_and_descriptors_round_trip() {
        let (a, b) = UnixStream::pair().unwrap();
        let (pipe_r, pipe_w) = std::io::pipe().unwrap();
        let req = Request {
            kind: Some(request::Kind::Exec(Exec {
                container_id: "c1".into(),
                args: vec!["/bin/sh".into(), "-c".into(), "echo hi".into()],
                env: vec!["PATH=/bin".into()],
                cwd: "/".into(),
                uid: 0,
                gid: 0,
                terminal: false,
            })),
        };
        send_message(&a, &req, &[pipe_w.as_raw_fd()]).unwrap();
        let (got, fds): (Request, _) = recv_message(&b).unwrap();
        assert_eq!(got, req);
        assert_eq!(fds.len(), 1);
        // The received descriptor is the pipe's write end.
        let mut w = std::fs::File::from(fds.into_iter().next().unwrap());
        w.write_all(b"through the fd").unwrap();
        drop((w, pipe_w));
        let mut s = String::new();
        (&pipe_r).read_to_string(&mut s).unwrap();
        assert_eq!(s, "through the fd");
    }

    #[test]
    fn oversized_and_truncated_frames_are_errors() {
        let (a, b) = UnixStream::pair().unwrap();
        (&a).write_all(&(u32::MAX).to_le_bytes()).unwrap();
        assert!(matches!(recv_message::<Request>(&b), Err(WireError::TooLarge(_))));
        let (a, b) = UnixStream::pair().unwrap();
        (&a).write_all(&[10, 0, 0, 0, 1, 2]).unwrap();
        drop(a);
        assert!(matches!(recv_message::<Request>(&b), Err(WireError::Closed)));
        let (a, b) = UnixStream::pair().unwrap();
        (&a).write_all(&[3, 0, 0, 0, 0xff, 0xff, 0xff]).unwrap();
        assert!(matches!(recv_message::<Request>(&b), Err(WireError::Decode(_))));
        drop(a);
        assert!(matches!(recv_message::<Response>(&b), Err(WireError::Closed)));
    }
}
