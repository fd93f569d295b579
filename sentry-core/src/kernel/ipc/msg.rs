//! System V message queues.
//!
//! A queue holds typed messages in arrival order, up to `msg_qbytes` bytes
//! of text (and as many messages). Senders that do not fit and receivers
//! that find no matching message sleep on the namespace's message queue
//! and retry on every change. `MSG_COPY` is not offered.

use std::collections::VecDeque;

use crate::errno::Errno;

/// `MSGMAX`: largest message.
pub const MSGMAX: usize = 8192;
/// `MSGMNB`: default byte limit of a queue.
pub const MSGMNB: u64 = 16384;
/// `MSGMNI`: most queues.
pub const MSGMNI: u32 = 32000;

/// `MSG_NOERROR`: truncate long messages.
pub const MSG_NOERROR: i32 = 0o10000;
/// `MSG_EXCEPT`: the first message of another type.
pub const MSG_EXCEPT: i32 = 0o20000;
/// `MSG_COPY`.
pub const MSG_COPY: i32 = 0o40000;

/// A message queue.
pub struct Queue {
    pub msgs: VecDeque<(i64, Vec<u8>)>,
    pub qbytes: u64,
    pub cbytes: u64,
    pub stime: i64,
    pub rtime: i64,
    pub ctime: i64,
    pub lspid: i32,
    pub lrpid: i32,
}

impl Default for Queue {
    fn default() -> Self {
        Queue {
            msgs: VecDeque::new(),
            qbytes: MSGMNB,
            cbytes: 0,
            stime: 0,
            rtime: 0,
            ctime: super::now_secs(),
            lspid: 0,
            lrpid: 0,
        }
    }
}

impl Queue {
    /// Adds a message if it fits (false otherwise).
    pub fn try_send(&mut self, mtype: i64, text: &[u8], pid: i32) -> bool {
        let len = text.len() as u64;
        if self.cbytes + len > self.qbytes || self.msgs.len() as u64 + 1 > self.qbytes {
            return false;
        }
        self.msgs.push_back((mtype, text.to_vec()));
        self.cbytes += len;
        self.stime = super::now_secs();
        self.lspid = pid;
        true
    }

    /// Takes the message `msgtyp` selects (0: the first; > 0: the first of
    /// that type, or with `except` of another; < 0: the first of the
    /// lowest type at most `-msgtyp`). `Ok(None)`: none. `E2BIG` if it is
    /// longer than `max` and `truncate` is not set (it stays queued).
    pub fn try_receive(
        &mut self,
        msgtyp: i64,
        except: bool,
        max: usize,
        truncate: bool,
        pid: i32,
    ) -> Result<Option<(i64, Vec<u8>)>, Errno> {
        let pos = if msgtyp == 0 {
            (!self.msgs.is_empty()).then_some(0)
        } else if msgtyp > 0 {
            self.msgs.iter().position(|(t, _)| (*t == msgtyp) != except)
        } else {
            let limit = msgtyp.checked_neg().unwrap_or(i64::MAX);
            let mut best: Option<(usize, i64)> = None;
            for (i, (t, _)) in self.msgs.iter().enumerate() {
                if *t <= limit && best.is_none_or(|(_, bt)| *t < bt) {
                    best = Some((i, *t));
                }
            }
            best.map(|(i, _)| i)
        };
        let Some(pos) = pos else { return Ok(None) };
        if self.msgs.get(pos).is_some_and(|(_, m)| m.len() > max) && !truncate {
            return Err(Errno::E2BIG);
        }
        let Some((t, mut m)) = self.msgs.remove(pos) else { return Ok(None) };
        self.cbytes -= m.len() as u64;
        m.truncate(max);
        self.rtime = super::now_secs();
        self.lrpid = pid;
        Ok(Some((t, m)))
    }
}

/// Encodes `struct msqid64_ds` (120 bytes on x86-64).
pub fn encode_ds(e: &super::Entry<Queue>) -> Vec<u8> {
    let mut out = Vec::with_capacity(120);
    e.perm.encode(&mut out);
    let q = &e.obj;
    for v in [q.stime as u64, q.rtime as u64, q.ctime as u64, q.cbytes, q.msgs.len() as u64, q.qbytes] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&q.lspid.to_le_bytes());
    out.extend_from_slice(&q.lrpid.to_le_bytes());
    out.extend_from_slice(&[0u8; 16]);
    out
}

/// Offset of `msg_qbytes` in `struct msqid64_ds`.
pub const QBYTES_OFFSET: usize = 48 + 5 * 8;

#[cfg(test)]
mod tests {
    use super::*;

    fn queue() -> Queue {
        let mut q = Queue::default();
        for (t, m) in [(3, "c1"), (1, "a1"), (2, "b1"), (1, "a2")] {
            assert!(q.try_send(t, m.as_bytes(), 5));
        }
        q
    }

    fn text(r: Result<Option<(i64, Vec<u8>)>, Errno>) -> String {
        match r {
            Ok(Some((t, m))) => format!("{t}:{}", String::from_utf8_lossy(&m)),
            Ok(None) => "none".into(),
            Err(e) => format!("{e}"),
        }
    }

    #[test]
    fn types_select_messages() {
        let mut q = queue();
        assert_eq!(text(q.try_receive(2, false, 100, false, 1)), "2:b1");
        assert_eq!(text(q.try_receive(1, true, 100, false, 1)), "3:c1");
        assert_eq!(text(q.try_receive(-5, false, 100, false, 1)), "1:a1");
        assert_eq!(text(q.try_receive(0, false, 100, false, 1)), "1:a2");
        assert_eq!(text(q.try_receive(0, false, 100, false, 1)), "none");
        assert_eq!(q.cbytes, 0);
        let mut q = queue();
        assert_eq!(text(q.try_receive(-2, false, 100, false, 1)), "1:a1");
        assert_eq!(text(q.try_receive(7, false, 100, false, 1)), "none");
        assert_eq!(text(q.try_receive(i64::MIN, false, 100, false, 1)), "1:a2");
    }

    #[test]
    fn long_messages_fail_or_truncate() {
        let mut q = queue();
        assert_eq!(text(q.try_receive(0, false, 1, false, 1)), "E2BIG");
        assert_eq!(q.msgs.len(), 4);
        assert_eq!(text(q.try_receive(0, false, 1, true, 1)), "3:c");
        assert_eq!(q.cbytes, 6);
    }

    #[test]
    fn msqid64_ds_has_the_x86_64_layout() {
        let perm = super::super::IpcPerm::new(1, 0o600, &crate::kernel::Credentials::new(0, 0));
        let e = super::super::Entry { perm, obj: queue() };
        let ds = encode_ds(&e);
        assert_eq!(ds.len(), 120);
        let word = |o: usize| u64::from_le_bytes(ds[o..o + 8].try_into().unwrap());
        assert_eq!((word(72), word(80), word(QBYTES_OFFSET)), (8, 4, MSGMNB), "cbytes, qnum, qbytes");
        assert_eq!(i32::from_le_bytes(ds[96..100].try_into().unwrap()), 5, "lspid");
    }

    #[test]
    fn the_byte_limit_holds() {
        let mut q = Queue { qbytes: 10, ..Queue::default() };
        assert!(q.try_send(1, &[0; 6], 1));
        assert!(!q.try_send(1, &[0; 5], 1));
        assert!(q.try_send(1, &[0; 4], 1));
        assert_eq!(q.cbytes, 10);
    }
}
