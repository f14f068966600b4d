//! Host sockets (`--net`, `--publish`): a [`HostConn`] is one slot of the
//! network ring, a socket the VMM holds on the host for one of the
//! sandbox's inet sockets (`inet::InetSocket` keeps it as its connection
//! or, for UDP, as its way out).
//!
//! Slots are the sentry's to hand out; a slot closed by the sandbox stays
//! taken until the VMM says it closed the host socket (`NET_C_CLOSED`), so
//! a late change of the old socket never reaches a new one. What the VMM
//! changes is picked up by [`on_changes`] (on every return to user mode and
//! before the vCPU sleeps, see `hv::events`), which wakes the waiters of
//! the slots that changed.

use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;

use boards::netring::*;
use spin::Mutex;

use super::inet::Ip;
use crate::hv::net as ring;
use crate::sentry::errno::*;
use crate::sentry::wait::WaitQueue;

const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnState {
    /// The request is on its way (connect, UDP open).
    Pending,
    Ready,
    Failed(Errno),
}

pub struct HostConn {
    pub slot: usize,
    pub events: Arc<WaitQueue>,
    state: Mutex<ConnInner>,
}

struct ConnInner {
    conn: ConnState,
    /// The host socket's address (its name on the host).
    local: Option<(Ip, u16)>,
    /// The error reported to the sandbox already (the slot's SLOT_ERROR).
    error_reported: bool,
    released: bool,
    last_seq: u64,
}

enum SlotUse {
    Free,
    /// Closed by the sandbox; the VMM has not confirmed yet.
    Closing,
    Live(Weak<HostConn>),
}

static SLOTS: Mutex<Vec<SlotUse>> = Mutex::new(Vec::new());

fn ip_of(family: u16, addr: [u8; 16]) -> Option<Ip> {
    match family {
        AF_INET => Some(Ip::V4(addr[..4].try_into().unwrap())),
        AF_INET6 => Some(Ip::V6(addr)),
        _ => None,
    }
}

/// (family, address bytes) of `ip` as the ring carries it.
pub fn ring_addr(ip: Ip) -> (u16, [u8; 16]) {
    match ip {
        Ip::V4(a) => {
            let mut bytes = [0u8; 16];
            bytes[..4].copy_from_slice(&a);
            (AF_INET, bytes)
        }
        Ip::V6(a) => (AF_INET6, a),
    }
}

/// Whether the sandbox may be waiting for the host's network (not a
/// deadlock when every task waits).
pub fn in_use() -> bool {
    // A --publish port may bring a connection at any time, so with a ring
    // nothing is ever a deadlock.
    ring::active()
}

/// Whether some host socket is open (the idle vCPU watches the ring for a
/// moment before it sleeps).
pub fn any_live() -> bool {
    SLOTS.lock().iter().any(|s| matches!(s, SlotUse::Live(_)))
}

fn alloc_slot() -> Result<usize, Errno> {
    let mut slots = SLOTS.lock();
    if slots.is_empty() {
        slots.extend((0..NET_SLOTS).map(|_| SlotUse::Free));
    }
    let slot = slots
        .iter()
        .position(|s| matches!(s, SlotUse::Free))
        // Linux runs out of buffer space; the sandbox out of host sockets.
        .ok_or(ENOBUFS)?;
    slots[slot] = SlotUse::Closing;
    Ok(slot)
}

impl HostConn {
    fn new(slot: usize, conn: ConnState) -> Arc<HostConn> {
        ring::reset_slot(slot);
        let hc = Arc::new(HostConn {
            slot,
            events: Arc::new(WaitQueue::new()),
            state: Mutex::new(ConnInner {
                conn,
                local: None,
                error_reported: false,
                released: false,
                last_seq: 0,
            }),
        });
        SLOTS.lock()[slot] = SlotUse::Live(Arc::downgrade(&hc));
        hc
    }

    /// Asks the VMM for a TCP connection to `dst`:`port`.
    pub fn connect(dst: Ip, port: u16) -> Result<Arc<HostConn>, Errno> {
        let slot = alloc_slot()?;
        let hc = HostConn::new(slot, ConnState::Pending);
        let (family, addr) = ring_addr(dst);
        let sent = ring::request(NetRequest {
            op: NET_CONNECT_TCP,
            slot: slot as u32,
            family,
            port,
            addr,
            ..NetRequest::default()
        });
        if !sent {
            hc.release();
            return Err(ENOBUFS);
        }
        Ok(hc)
    }

    /// Asks the VMM for a UDP socket of `v6`'s family.
    pub fn open_udp(v6: bool) -> Result<Arc<HostConn>, Errno> {
        let slot = alloc_slot()?;
        let hc = HostConn::new(slot, ConnState::Pending);
        let sent = ring::request(NetRequest {
            op: NET_OPEN_UDP,
            slot: slot as u32,
            family: if v6 { AF_INET6 } else { AF_INET },
            ..NetRequest::default()
        });
        if !sent {
            hc.release();
            return Err(ENOBUFS);
        }
        Ok(hc)
    }

    pub fn state(&self) -> ConnState {
        self.state.lock().conn
    }

    pub fn local(&self) -> Option<(Ip, u16)> {
        self.state.lock().local
    }

    /// The host socket failed (reset, refused after connecting): the error,
    /// once.
    pub fn take_error(&self) -> Option<Errno> {
        let view = ring::view(self.slot);
        let mut st = self.state.lock();
        if view.status & SLOT_ERROR != 0 && !st.error_reported {
            st.error_reported = true;
            return Some(Errno(view.error as i32));
        }
        None
    }

    /// Whether the slot failed and the sandbox was not told yet.
    pub fn error_pending(&self) -> bool {
        ring::view(self.slot).status & SLOT_ERROR != 0 && !self.state.lock().error_reported
    }

    pub fn failed(&self) -> bool {
        ring::view(self.slot).status & SLOT_ERROR != 0
    }

    pub fn view(&self) -> ring::SlotView {
        ring::view(self.slot)
    }

    pub fn write(&self, data: &[u8]) -> usize {
        ring::stream_write(self.slot, data)
    }

    pub fn read(&self, max: usize, peek: bool) -> Vec<u8> {
        ring::stream_read(self.slot, max, peek)
    }

    pub fn send_to(&self, dst: Ip, port: u16, data: &[u8]) -> bool {
        let (family, addr) = ring_addr(dst);
        let hdr = DgramHeader {
            len: 0,
            family,
            port,
            addr,
        };
        ring::dgram_write(self.slot, hdr, data)
    }

    /// The next datagram: (source, port, data, full length).
    pub fn recv_from(&self, max: usize, peek: bool) -> Option<(Ip, u16, Vec<u8>, usize)> {
        let (hdr, data) = ring::dgram_read(self.slot, max, peek)?;
        let ip = ip_of(hdr.family, hdr.addr).unwrap_or(Ip::V4([0; 4]));
        Some((ip, hdr.port, data, hdr.len as usize))
    }

    pub fn shutdown_write(&self) {
        ring::request(NetRequest {
            op: NET_SHUTDOWN_WR,
            slot: self.slot as u32,
            ..NetRequest::default()
        });
    }

    /// The sandbox is done with the socket: the VMM closes the host one
    /// (after sending what is queued) and frees the slot.
    pub fn release(&self) {
        {
            let mut st = self.state.lock();
            if st.released {
                return;
            }
            st.released = true;
        }
        SLOTS.lock()[self.slot] = SlotUse::Closing;
        // A full request ring: the close waits for the next change (the
        // slot stays taken, which is safe).
        if !ring::request(NetRequest {
            op: NET_CLOSE,
            slot: self.slot as u32,
            ..NetRequest::default()
        }) {
            PENDING_CLOSES.lock().push(self.slot);
        }
    }
}

impl Drop for HostConn {
    fn drop(&mut self) {
        self.release();
    }
}

static PENDING_CLOSES: Mutex<Vec<usize>> = Mutex::new(Vec::new());

/// What the VMM changed: completions, incoming connections, slots whose
/// data or state moved (their waiters are woken).
pub fn on_changes() {
    let completions = ring::take_changes();
    let closes: Vec<usize> = core::mem::take(&mut *PENDING_CLOSES.lock());
    for slot in closes {
        if !ring::request(NetRequest {
            op: NET_CLOSE,
            slot: slot as u32,
            ..NetRequest::default()
        }) {
            PENDING_CLOSES.lock().push(slot);
        }
    }
    for c in completions {
        let slot = c.slot as usize;
        match c.kind {
            NET_C_CONNECTED | NET_C_OPENED => {
                if let Some(hc) = live(slot) {
                    let mut st = hc.state.lock();
                    st.conn = if c.result == 0 {
                        ConnState::Ready
                    } else {
                        ConnState::Failed(Errno((-c.result) as i32))
                    };
                    st.local = ip_of(c.family, c.addr).map(|ip| (ip, c.port));
                    drop(st);
                    hc.events.wake_all();
                }
            }
            NET_C_CLOSED => {
                let mut slots = SLOTS.lock();
                if slot < slots.len() && matches!(slots[slot], SlotUse::Closing) {
                    slots[slot] = SlotUse::Free;
                }
            }
            NET_C_INCOMING => {
                let peer = ip_of(c.family, c.addr).map(|ip| (ip, c.port));
                let accepted = match (peer, u16::try_from(c.arg)) {
                    (Some(peer), Ok(port)) => super::inet::incoming(port, peer, || {
                        let slot = alloc_slot()?;
                        let hc = HostConn::new(slot, ConnState::Pending);
                        if ring::request(NetRequest {
                            op: NET_ACCEPT,
                            slot: slot as u32,
                            tag: c.tag,
                            ..NetRequest::default()
                        }) {
                            Ok(hc)
                        } else {
                            Err(ENOBUFS)
                        }
                    }),
                    _ => false,
                };
                if !accepted {
                    ring::request(NetRequest {
                        op: NET_REJECT,
                        tag: c.tag,
                        ..NetRequest::default()
                    });
                }
            }
            _ => {}
        }
    }
    // Slots whose state moved.
    let live_conns: Vec<Arc<HostConn>> = {
        let slots = SLOTS.lock();
        slots
            .iter()
            .filter_map(|s| match s {
                SlotUse::Live(w) => w.upgrade(),
                _ => None,
            })
            .collect()
    };
    for hc in live_conns {
        let seq = ring::view(hc.slot).seq;
        let moved = {
            let mut st = hc.state.lock();
            core::mem::replace(&mut st.last_seq, seq) != seq
        };
        if moved {
            hc.events.wake_all();
        }
    }
}

fn live(slot: usize) -> Option<Arc<HostConn>> {
    match SLOTS.lock().get(slot)? {
        SlotUse::Live(w) => w.upgrade(),
        _ => None,
    }
}
