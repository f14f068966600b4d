//! A socket's receive queue: segments of data with their ancillary data
//! (descriptors, credentials, the sender's address), bounded in bytes.
//! Byte streams read across segments; datagram and record sockets read
//! one segment at a time. Shared by every family: a connected pair's
//! sender writes into the peer's queue.

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;

use spin::{Mutex, MutexGuard};

use super::{InMessage, OutMessage, Rights, SockAddr, Ucred};
use crate::sentry::errno::*;
use crate::sentry::wait::WaitQueue;

/// What a queued message costs beyond its bytes (so that empty datagrams
/// fill a queue too, as Linux's per-buffer overhead does).
pub const SEGMENT_OVERHEAD: usize = 256;

pub struct Segment {
    pub data: Vec<u8>,
    /// Bytes of `data` already read (streams).
    pub start: usize,
    pub rights: Option<Rights>,
    pub creds: Ucred,
    pub from: Option<SockAddr>,
}

pub struct QueueState {
    pub segments: VecDeque<Segment>,
    /// Unread bytes.
    pub bytes: usize,
    /// Bytes plus per-segment overhead: what the capacity bounds.
    pub used: usize,
    pub cap: usize,
    /// Closed for writing: the writer shut down or went (readers see end
    /// of file once the data is read).
    pub eof: bool,
    /// The reader is gone (TCP: a write then meets a reset).
    pub reader_gone: bool,
    /// An error for the reader once the data is read (ECONNRESET).
    pub error: Option<Errno>,
    /// Grows at every change (epoll's edge trigger).
    pub changes: u64,
}

pub struct Queue {
    state: Mutex<QueueState>,
    /// Woken when data arrives or the writer closes.
    pub readers: Arc<WaitQueue>,
    /// Woken when room appears or the reader closes.
    pub writers: Arc<WaitQueue>,
}

impl Queue {
    pub fn new(cap: usize) -> Arc<Queue> {
        Arc::new(Queue {
            state: Mutex::new(QueueState {
                segments: VecDeque::new(),
                bytes: 0,
                used: 0,
                cap,
                eof: false,
                reader_gone: false,
                error: None,
                changes: 0,
            }),
            readers: Arc::new(WaitQueue::new()),
            writers: Arc::new(WaitQueue::new()),
        })
    }

    pub fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock()
    }

    pub fn wake(&self) {
        self.readers.wake_all();
        self.writers.wake_all();
    }

    /// Marks the queue closed for writing (end of file for the reader).
    pub fn close_write(&self) {
        {
            let mut st = self.lock();
            st.eof = true;
            st.changes += 1;
        }
        self.wake();
    }

    /// The reader went: queued data (and descriptors in flight, which may
    /// hold this very queue) is dropped. Returns whether data was unread.
    pub fn close_read(&self) -> bool {
        let dropped: VecDeque<Segment>;
        let unread;
        {
            let mut st = self.lock();
            st.reader_gone = true;
            unread = !st.segments.is_empty();
            dropped = core::mem::take(&mut st.segments);
            st.bytes = 0;
            st.used = 0;
            st.changes += 1;
        }
        drop(dropped);
        self.wake();
        unread
    }

    /// Sets the error the reader sees once the data is read.
    pub fn set_error(&self, error: Errno) {
        {
            let mut st = self.lock();
            st.error = Some(error);
            st.changes += 1;
        }
        self.wake();
    }

    /// A stream write: takes what fits (EAGAIN when nothing does); the
    /// rest stays in `msg.data`. Zero bytes queue nothing (Linux sends no
    /// descriptors with an empty stream write either).
    pub fn write_stream(&self, msg: &mut OutMessage) -> Result<usize, Errno> {
        if msg.data.is_empty() {
            return Ok(0);
        }
        let n;
        {
            let mut st = self.lock();
            let room = st.cap.saturating_sub(st.used);
            if room <= SEGMENT_OVERHEAD {
                return Err(EAGAIN);
            }
            n = msg.data.len().min(room - SEGMENT_OVERHEAD);
            let data = if n == msg.data.len() {
                core::mem::take(&mut msg.data)
            } else {
                let rest = msg.data.split_off(n);
                core::mem::replace(&mut msg.data, rest)
            };
            // Consecutive plain writes of the same sender join the last
            // segment while it is small (many 1-byte writes stay cheap).
            let joined = match st.segments.back_mut() {
                Some(last)
                    if msg.rights.is_none()
                        && last.rights.is_none()
                        && last.creds == msg.creds
                        && last.data.len() + n <= 4096 =>
                {
                    last.data.extend_from_slice(&data);
                    true
                }
                _ => false,
            };
            if !joined {
                st.segments.push_back(Segment {
                    data,
                    start: 0,
                    rights: msg.rights.take(),
                    creds: msg.creds,
                    from: None,
                });
                st.used += SEGMENT_OVERHEAD;
            }
            st.bytes += n;
            st.used += n;
            st.changes += 1;
        }
        self.readers.wake_all();
        Ok(n)
    }

    /// Whether a message of `len` bytes fits now (an empty queue takes
    /// any message the sender's limit allowed), with at most `max_count`
    /// messages queued.
    pub fn fits(&self, len: usize, max_count: Option<usize>) -> bool {
        let st = self.lock();
        if max_count.is_some_and(|m| st.segments.len() > m) {
            return false;
        }
        st.segments.is_empty() || st.used + len + SEGMENT_OVERHEAD <= st.cap
    }

    /// A datagram or record write: all of it or EAGAIN.
    pub fn write_record(
        &self,
        msg: &mut OutMessage,
        from: Option<SockAddr>,
        max_count: Option<usize>,
    ) -> Result<usize, Errno> {
        if !self.fits(msg.data.len(), max_count) {
            return Err(EAGAIN);
        }
        let data = core::mem::take(&mut msg.data);
        let n = data.len();
        {
            let mut st = self.lock();
            st.segments.push_back(Segment {
                data,
                start: 0,
                rights: msg.rights.take(),
                creds: msg.creds,
                from,
            });
            st.bytes += n;
            st.used += n + SEGMENT_OVERHEAD;
            st.changes += 1;
        }
        self.readers.wake_all();
        Ok(n)
    }

    /// A stream read of up to `max` bytes. Reading stops after a segment
    /// that carried descriptors, and (`split_creds`, SO_PASSCRED) before a
    /// segment from another sender, as Linux does.
    pub fn read_stream(&self, max: usize, peek: bool, split_creds: bool) -> InMessage {
        let mut out = InMessage::default();
        let freed;
        {
            let mut st = self.lock();
            let mut i = 0;
            let mut taken = 0usize;
            while out.data.len() < max && i < st.segments.len() {
                let seg = &mut st.segments[i];
                if let Some(creds) = out.creds {
                    if split_creds && creds != seg.creds {
                        break;
                    }
                }
                out.creds = Some(seg.creds);
                let avail = seg.data.len() - seg.start;
                let n = avail.min(max - out.data.len());
                if out.data.is_empty() && !peek && seg.start == 0 && n == avail {
                    out.data = core::mem::take(&mut seg.data);
                } else {
                    out.data
                        .extend_from_slice(&seg.data[seg.start..seg.start + n]);
                }
                let had_rights = seg.rights.is_some();
                if let Some(rights) = &seg.rights {
                    out.rights.extend(rights.files().iter().cloned());
                }
                if !peek {
                    seg.rights = None;
                    seg.start += n;
                    taken += n;
                }
                if n < avail {
                    break;
                }
                i += 1;
                if had_rights {
                    break;
                }
            }
            if !peek {
                let mut removed = 0;
                while st.segments.front().is_some_and(|s| s.start >= s.data.len()) {
                    st.segments.pop_front();
                    removed += 1;
                }
                st.bytes -= taken;
                st.used = st.used.saturating_sub(taken + removed * SEGMENT_OVERHEAD);
                st.changes += 1;
            }
            freed = !peek && taken > 0;
        }
        out.full_len = out.data.len();
        if freed {
            self.writers.wake_all();
        }
        out
    }

    /// Reads one datagram or record: None when the queue is empty. The
    /// data beyond `max` is dropped (unless peeking).
    pub fn read_record(&self, max: usize, peek: bool) -> Option<InMessage> {
        let msg = {
            let mut st = self.lock();
            if peek {
                let seg = st.segments.front()?;
                let n = seg.data.len().min(max);
                return Some(InMessage {
                    data: seg.data[..n].to_vec(),
                    full_len: seg.data.len(),
                    from: seg.from.clone(),
                    rights: seg
                        .rights
                        .as_ref()
                        .map_or(Vec::new(), |r| r.files().to_vec()),
                    creds: Some(seg.creds),
                });
            }
            let mut seg = st.segments.pop_front()?;
            let full_len = seg.data.len();
            st.bytes -= full_len;
            st.used = st.used.saturating_sub(full_len + SEGMENT_OVERHEAD);
            st.changes += 1;
            seg.data.truncate(max);
            InMessage {
                data: core::mem::take(&mut seg.data),
                full_len,
                from: seg.from.take(),
                rights: seg.rights.take().map_or(Vec::new(), |r| r.files().to_vec()),
                creds: Some(seg.creds),
            }
        };
        self.writers.wake_all();
        Some(msg)
    }

    /// Unread bytes: all of them (streams) or the next datagram's.
    pub fn available(&self, stream: bool) -> usize {
        let st = self.lock();
        if stream {
            st.bytes
        } else {
            st.segments.front().map_or(0, |s| s.data.len())
        }
    }
}
