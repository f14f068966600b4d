//! The network ring: how the sentry's sockets reach host sockets that the
//! VMM opens on the sandbox's behalf (`--net`, `--publish`), without a
//! vCPU exit per packet.
//!
//! One region of guest RAM (named by [`crate::bootinfo::BootInfo::net_ring`])
//! holds, in order: a [`NetHeader`]; a request ring of [`NET_REQ_SLOTS`]
//! [`NetRequest`]s (the sentry produces, the VMM's I/O thread consumes); a
//! completion ring of [`NET_COMP_SLOTS`] [`NetCompletion`]s (the other
//! way); [`NET_SLOTS`] [`NetSlot`]s, the shared state of one host socket
//! each; and then, per slot, a transmit and a receive buffer of
//! [`NET_BUF`] bytes. Counters count bytes or records since the slot (or
//! the ring) began and never wrap; position `n` lies at `n % size`.
//!
//! Data: a TCP slot's buffers are byte streams (the sentry appends to tx
//! and advances `tx_tail`; the VMM sends from `tx_head`; the VMM appends
//! what the host socket received to rx and advances `rx_tail`; the sentry
//! reads from `rx_head`). A UDP slot's buffers hold records: a
//! [`DgramHeader`] then the payload, padded to 8 bytes, never wrapping (a
//! header with `len == DGRAM_PAD` fills the end of the buffer).
//!
//! Wake-ups: the VMM bumps `NetHeader::vmm_seq` (and the slot's `seq`)
//! after every change it makes; the sentry compares `vmm_seq` with what it
//! saw on every return to user mode (one load) and before it sleeps. While
//! the sentry sleeps it sets `guest_idle`; the VMM then also publishes
//! `EVENT_NET` in the event ring, which ends the sleep. The other way, the
//! I/O thread sets `io_sleeping` before it waits in `poll`; the sentry
//! rings the net doorbell ([`NET_DOORBELL_PORT`]: an ioeventfd when KVM
//! has them, costing no exit to the VMM process) only when it is set.
//!
//! The VMM treats every field as hostile: slot numbers, counters (a
//! `tx_tail` more than [`NET_BUF`] past `tx_head`, say), record lengths and
//! addresses are checked, and a slot that breaks the rules is closed.

/// Host sockets the sandbox may hold at once.
pub const NET_SLOTS: usize = 32;
/// Bytes of each slot's transmit and of its receive buffer.
pub const NET_BUF: u64 = 128 << 10;
pub const NET_REQ_SLOTS: u64 = 64;
pub const NET_COMP_SLOTS: u64 = 64;
/// x86_64: `out` to this port tells a sleeping I/O thread to look.
pub const NET_DOORBELL_PORT: u16 = 0x00e4;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct NetHeader {
    // Written by the sentry.
    pub req_tail: u64,
    pub comp_head: u64,
    /// Nonzero while the vCPU sleeps (or is about to) in the VMM.
    pub guest_idle: u32,
    pub _g: u32,
    pub _pad0: [u64; 5],
    // Written by the VMM.
    pub req_head: u64,
    pub comp_tail: u64,
    /// Nonzero while the I/O thread waits in poll (ring the doorbell).
    pub io_sleeping: u32,
    pub _v: u32,
    /// Bumped after every change the VMM makes to a slot or the rings.
    pub vmm_seq: u64,
    pub _pad1: [u64; 4],
}

/// A request (sentry -> VMM).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetRequest {
    pub op: u32,
    pub slot: u32,
    /// NET_ACCEPT / NET_REJECT: the incoming connection's id.
    pub tag: u64,
    /// AF_INET (2) or AF_INET6 (10), as on Linux.
    pub family: u16,
    pub port: u16,
    pub _r: u32,
    /// The address: 4 bytes for AF_INET, 16 for AF_INET6.
    pub addr: [u8; 16],
    pub arg: u64,
    pub _pad: [u64; 2],
}

/// Connect slot's TCP socket to `addr`:`port`. Completion NET_C_CONNECTED.
pub const NET_CONNECT_TCP: u32 = 1;
/// Open a UDP socket for slot (family). Completion NET_C_OPENED.
pub const NET_OPEN_UDP: u32 = 2;
/// No more data will be sent on slot: shut the host socket down for
/// writing once tx is drained.
pub const NET_SHUTDOWN_WR: u32 = 3;
/// Close slot's host socket. Completion NET_C_CLOSED (the slot is free).
pub const NET_CLOSE: u32 = 4;
/// Attach incoming connection `tag` to slot. Completion NET_C_CONNECTED.
pub const NET_ACCEPT: u32 = 5;
/// Refuse incoming connection `tag` (no listener): the host client sees
/// the connection closed.
pub const NET_REJECT: u32 = 6;

/// A completion or notice (VMM -> sentry).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetCompletion {
    pub kind: u32,
    pub slot: u32,
    pub tag: u64,
    /// 0 or a negated Linux errno.
    pub result: i64,
    pub family: u16,
    pub port: u16,
    pub _r: u32,
    /// CONNECTED/OPENED: the host socket's local address; INCOMING: the
    /// connecting client's.
    pub addr: [u8; 16],
    /// INCOMING: the guest port the connection is for.
    pub arg: u64,
    pub _pad: u64,
}

pub const NET_C_CONNECTED: u32 = 1;
pub const NET_C_OPENED: u32 = 2;
pub const NET_C_CLOSED: u32 = 3;
/// A host client connected to a `--publish`ed port: `tag` names it,
/// `arg` is the guest port. Answered by NET_ACCEPT or NET_REJECT.
pub const NET_C_INCOMING: u32 = 4;

/// A slot's shared state.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct NetSlot {
    // Written by the sentry.
    pub tx_tail: u64,
    pub rx_head: u64,
    // Written by the VMM.
    pub tx_head: u64,
    pub rx_tail: u64,
    /// Bumped by the VMM after every change to this slot.
    pub seq: u64,
    /// SLOT_* bits.
    pub status: u32,
    /// The host socket's error (positive errno) with SLOT_ERROR.
    pub error: u32,
    /// Nonzero when the VMM stopped reading the host socket because rx
    /// was full: the sentry rings the doorbell when it makes room.
    pub rx_stalled: u32,
    pub _r: u32,
    pub _pad: u64,
}

/// The host socket reached end of stream (after the data in rx).
pub const SLOT_RX_EOF: u32 = 1;
/// The host socket failed (`error`): reset, refused, unreachable.
pub const SLOT_ERROR: u32 = 2;

/// A datagram record's header in a UDP slot's buffers.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DgramHeader {
    /// Payload bytes ([`DGRAM_PAD`]: skip to the buffer's start).
    pub len: u32,
    pub family: u16,
    pub port: u16,
    pub addr: [u8; 16],
}

pub const DGRAM_PAD: u32 = u32::MAX;
pub const DGRAM_HEADER: u64 = core::mem::size_of::<DgramHeader>() as u64;
/// Largest datagram payload through the ring (UDP's largest over IPv4;
/// larger IPv6 datagrams to the host's network are EMSGSIZE). Two of the
/// largest records fit in a buffer, so one always fits after a pad.
pub const DGRAM_MAX: u64 = 65507;

/// Bytes a record of `len` payload bytes takes.
pub const fn dgram_size(len: u64) -> u64 {
    (DGRAM_HEADER + len + 7) & !7
}

pub const HEADER_SIZE: u64 = core::mem::size_of::<NetHeader>() as u64;
pub const REQ_SIZE: u64 = core::mem::size_of::<NetRequest>() as u64;
pub const COMP_SIZE: u64 = core::mem::size_of::<NetCompletion>() as u64;
pub const SLOT_SIZE: u64 = core::mem::size_of::<NetSlot>() as u64;

pub const REQ_OFFSET: u64 = 4096;
pub const COMP_OFFSET: u64 = REQ_OFFSET + NET_REQ_SLOTS * REQ_SIZE;
pub const SLOTS_OFFSET: u64 = COMP_OFFSET + NET_COMP_SLOTS * COMP_SIZE;
pub const DATA_OFFSET: u64 = 16 << 10;
/// Bytes the whole region takes.
pub const NET_RING_BYTES: u64 = DATA_OFFSET + NET_SLOTS as u64 * 2 * NET_BUF;

pub const fn req_offset(n: u64) -> u64 {
    REQ_OFFSET + (n % NET_REQ_SLOTS) * REQ_SIZE
}
pub const fn comp_offset(n: u64) -> u64 {
    COMP_OFFSET + (n % NET_COMP_SLOTS) * COMP_SIZE
}
pub const fn slot_offset(slot: usize) -> u64 {
    SLOTS_OFFSET + slot as u64 * SLOT_SIZE
}
pub const fn tx_offset(slot: usize) -> u64 {
    DATA_OFFSET + slot as u64 * 2 * NET_BUF
}
pub const fn rx_offset(slot: usize) -> u64 {
    tx_offset(slot) + NET_BUF
}

pub const HDR_REQ_TAIL: u64 = core::mem::offset_of!(NetHeader, req_tail) as u64;
pub const HDR_COMP_HEAD: u64 = core::mem::offset_of!(NetHeader, comp_head) as u64;
pub const HDR_GUEST_IDLE: u64 = core::mem::offset_of!(NetHeader, guest_idle) as u64;
pub const HDR_REQ_HEAD: u64 = core::mem::offset_of!(NetHeader, req_head) as u64;
pub const HDR_COMP_TAIL: u64 = core::mem::offset_of!(NetHeader, comp_tail) as u64;
pub const HDR_IO_SLEEPING: u64 = core::mem::offset_of!(NetHeader, io_sleeping) as u64;
pub const HDR_VMM_SEQ: u64 = core::mem::offset_of!(NetHeader, vmm_seq) as u64;
pub const SL_TX_TAIL: u64 = core::mem::offset_of!(NetSlot, tx_tail) as u64;
pub const SL_RX_HEAD: u64 = core::mem::offset_of!(NetSlot, rx_head) as u64;
pub const SL_TX_HEAD: u64 = core::mem::offset_of!(NetSlot, tx_head) as u64;
pub const SL_RX_TAIL: u64 = core::mem::offset_of!(NetSlot, rx_tail) as u64;
pub const SL_SEQ: u64 = core::mem::offset_of!(NetSlot, seq) as u64;
pub const SL_STATUS: u64 = core::mem::offset_of!(NetSlot, status) as u64;
pub const SL_ERROR: u64 = core::mem::offset_of!(NetSlot, error) as u64;
pub const SL_RX_STALLED: u64 = core::mem::offset_of!(NetSlot, rx_stalled) as u64;

const _: () = assert!(HEADER_SIZE == 128);
const _: () = assert!(REQ_SIZE == 64 && COMP_SIZE == 64 && SLOT_SIZE == 64);
const _: () = assert!(SLOTS_OFFSET + NET_SLOTS as u64 * SLOT_SIZE <= DATA_OFFSET);
const _: () = assert!(2 * dgram_size(DGRAM_MAX) <= NET_BUF);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Wire;

    #[test]
    fn layout_stays_inside_the_region() {
        assert!(req_offset(NET_REQ_SLOTS - 1) + REQ_SIZE <= COMP_OFFSET);
        assert_eq!(req_offset(NET_REQ_SLOTS + 3), req_offset(3));
        assert!(comp_offset(NET_COMP_SLOTS - 1) + COMP_SIZE <= SLOTS_OFFSET);
        assert_eq!(rx_offset(NET_SLOTS - 1) + NET_BUF, NET_RING_BYTES);
        assert_eq!(dgram_size(0), 24);
        assert_eq!(dgram_size(1), 32);
    }

    #[test]
    fn records_round_trip() {
        let r = NetRequest {
            op: NET_CONNECT_TCP,
            slot: 3,
            family: 2,
            port: 80,
            addr: [127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            ..NetRequest::default()
        };
        assert_eq!(NetRequest::read_from(r.as_bytes()), Some(r));
        let h = DgramHeader {
            len: 5,
            family: 10,
            port: 53,
            addr: [1; 16],
        };
        assert_eq!(DgramHeader::read_from(h.as_bytes()), Some(h));
    }
}
