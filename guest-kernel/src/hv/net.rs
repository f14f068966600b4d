//! The sentry's side of the network ring (`boards::netring`): requests to
//! the VMM's I/O thread, the slots' data buffers, and what changed.
//!
//! The ring lies in guest RAM reserved by the loader and reached through
//! the direct map; the VMM's I/O thread reads and writes it concurrently,
//! so every shared word is read and written volatile with fences, and data
//! is copied only between the positions the counters give us. Nothing here
//! exits to the VMM except the doorbell, rung only when the I/O thread
//! said it sleeps.

use alloc::vec::Vec;
use core::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use boards::netring::*;
use boards::Wire;
use spin::Mutex;

use crate::arch::paging::phys_to_virt;

/// The region's address in the direct map (0: no ring).
static BASE: AtomicUsize = AtomicUsize::new(0);
static OUTBOUND: AtomicBool = AtomicBool::new(false);
/// The host's source address towards its default route (`--net`): what
/// the sandbox's `eth0` is addressed with.
static HOST_ADDRESS: AtomicU32 = AtomicU32::new(0);
/// The `vmm_seq` last acted on.
static SEEN: AtomicU64 = AtomicU64::new(0);
/// Doorbells rung (for --stats-like reports and the benchmark notes).
pub static DOORBELLS: AtomicU64 = AtomicU64::new(0);

/// Serializes request producers and completion consumers (one vCPU, but
/// tasks interleave).
static REQ_LOCK: Mutex<()> = Mutex::new(());

pub fn init(ring: boards::bootinfo::PhysRange, outbound: bool, host_address: [u8; 4]) {
    if ring.start == 0 || ring.size < NET_RING_BYTES {
        return;
    }
    BASE.store(phys_to_virt(ring.start) as usize, Ordering::Release);
    OUTBOUND.store(outbound, Ordering::Relaxed);
    HOST_ADDRESS.store(u32::from_be_bytes(host_address), Ordering::Relaxed);
}

/// The address `eth0` shows (meaningful with [`outbound`]).
pub fn host_address() -> [u8; 4] {
    HOST_ADDRESS.load(Ordering::Relaxed).to_be_bytes()
}

/// Whether the VMM gave us a network ring (`--net` or `--publish`).
pub fn active() -> bool {
    BASE.load(Ordering::Relaxed) != 0
}

/// Whether destinations outside the sandbox go to the host (`--net`).
pub fn outbound() -> bool {
    active() && OUTBOUND.load(Ordering::Relaxed)
}

fn at(off: u64) -> usize {
    BASE.load(Ordering::Relaxed) + off as usize
}

fn load64(off: u64) -> u64 {
    // SAFETY: `off` is a field offset inside the region the loader
    // reserved (callers pass the netring constants); aligned u64.
    let v = unsafe { core::ptr::read_volatile(at(off) as *const u64) };
    fence(Ordering::Acquire);
    v
}

fn load32(off: u64) -> u32 {
    // SAFETY: as in `load64`, for an aligned u32 field.
    let v = unsafe { core::ptr::read_volatile(at(off) as *const u32) };
    fence(Ordering::Acquire);
    v
}

fn store64(off: u64, v: u64) {
    fence(Ordering::Release);
    // SAFETY: as in `load64`; the sentry writes only its own fields.
    unsafe { core::ptr::write_volatile(at(off) as *mut u64, v) };
}

fn store32(off: u64, v: u32) {
    fence(Ordering::Release);
    // SAFETY: as in `store64`.
    unsafe { core::ptr::write_volatile(at(off) as *mut u32, v) };
}

/// Copies `buf.len()` bytes from region offset `off`.
fn read_bytes(off: u64, buf: &mut [u8]) {
    assert!(off + buf.len() as u64 <= NET_RING_BYTES);
    // SAFETY: in bounds of the region (checked); the VMM does not write
    // the part between our head and its tail, which is what we copy.
    unsafe { core::ptr::copy_nonoverlapping(at(off) as *const u8, buf.as_mut_ptr(), buf.len()) };
}

/// Copies `data` to region offset `off`.
fn write_bytes(off: u64, data: &[u8]) {
    assert!(off + data.len() as u64 <= NET_RING_BYTES);
    // SAFETY: in bounds (checked); the VMM does not read the part past
    // the tail we publish, which is where we write.
    unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), at(off) as *mut u8, data.len()) };
}

/// Rings the doorbell if the I/O thread sleeps.
fn nudge() {
    fence(Ordering::SeqCst);
    if load32(HDR_IO_SLEEPING) != 0 {
        DOORBELLS.fetch_add(1, Ordering::Relaxed);
        crate::arch::cpu::ring_net_doorbell();
    }
}

/// Queues a request; false when the request ring is full (the I/O thread
/// is behind: the caller tries again later).
pub fn request(r: NetRequest) -> bool {
    if !active() {
        return false;
    }
    let _guard = REQ_LOCK.lock();
    let tail = load64(HDR_REQ_TAIL);
    let head = load64(HDR_REQ_HEAD);
    if tail.wrapping_sub(head) >= NET_REQ_SLOTS {
        nudge();
        return false;
    }
    write_bytes(req_offset(tail), r.as_bytes());
    store64(HDR_REQ_TAIL, tail + 1);
    nudge();
    true
}

/// Resets a slot's sentry-side counters before it is (re)used.
pub fn reset_slot(slot: usize) {
    let o = slot_offset(slot);
    store64(o + SL_TX_TAIL, 0);
    store64(o + SL_RX_HEAD, 0);
}

/// A slot's state as the VMM last published it.
#[derive(Clone, Copy, Debug)]
pub struct SlotView {
    pub tx_free: u64,
    pub rx_ready: u64,
    pub status: u32,
    pub error: u32,
    pub seq: u64,
}

pub fn view(slot: usize) -> SlotView {
    let o = slot_offset(slot);
    // The status before the counters: the VMM publishes counters first,
    // so data that came before an end of stream is counted here.
    let status = load32(o + SL_STATUS);
    let error = load32(o + SL_ERROR);
    let seq = load64(o + SL_SEQ);
    let tx_tail = load64(o + SL_TX_TAIL);
    let tx_head = load64(o + SL_TX_HEAD);
    let rx_head = load64(o + SL_RX_HEAD);
    let rx_tail = load64(o + SL_RX_TAIL);
    SlotView {
        tx_free: NET_BUF.saturating_sub(tx_tail.wrapping_sub(tx_head)),
        rx_ready: rx_tail.wrapping_sub(rx_head).min(NET_BUF),
        status,
        error,
        seq,
    }
}

/// Appends up to `data.len()` bytes to a stream slot's tx; returns how
/// many fit.
pub fn stream_write(slot: usize, data: &[u8]) -> usize {
    let o = slot_offset(slot);
    let tail = load64(o + SL_TX_TAIL);
    let head = load64(o + SL_TX_HEAD);
    let free = NET_BUF.saturating_sub(tail.wrapping_sub(head));
    let n = (data.len() as u64).min(free);
    let mut done = 0u64;
    while done < n {
        let pos = (tail + done) % NET_BUF;
        let chunk = (n - done).min(NET_BUF - pos);
        write_bytes(
            tx_offset(slot) + pos,
            &data[done as usize..(done + chunk) as usize],
        );
        done += chunk;
    }
    if n > 0 {
        store64(o + SL_TX_TAIL, tail + n);
        nudge();
    }
    n as usize
}

/// Takes (or with `peek` copies) up to `max` bytes from a stream slot's rx.
pub fn stream_read(slot: usize, max: usize, peek: bool) -> Vec<u8> {
    let o = slot_offset(slot);
    let head = load64(o + SL_RX_HEAD);
    let tail = load64(o + SL_RX_TAIL);
    let ready = tail.wrapping_sub(head).min(NET_BUF);
    let n = ready.min(max as u64);
    let mut out = alloc::vec![0u8; n as usize];
    let mut done = 0u64;
    while done < n {
        let pos = (head + done) % NET_BUF;
        let chunk = (n - done).min(NET_BUF - pos);
        read_bytes(
            rx_offset(slot) + pos,
            &mut out[done as usize..(done + chunk) as usize],
        );
        done += chunk;
    }
    if n > 0 && !peek {
        store64(o + SL_RX_HEAD, head + n);
        if load32(o + SL_RX_STALLED) != 0 {
            nudge();
        }
    }
    out
}

/// Queues a datagram for `hdr`'s destination; false when it does not fit.
pub fn dgram_write(slot: usize, mut hdr: DgramHeader, data: &[u8]) -> bool {
    let o = slot_offset(slot);
    let tail = load64(o + SL_TX_TAIL);
    let head = load64(o + SL_TX_HEAD);
    let free = NET_BUF.saturating_sub(tail.wrapping_sub(head));
    let pos = tail % NET_BUF;
    let to_end = NET_BUF - pos;
    let size = dgram_size(data.len() as u64);
    let skip = if to_end < size { to_end } else { 0 };
    if free < skip + size {
        return false;
    }
    if skip >= DGRAM_HEADER {
        let pad = DgramHeader {
            len: DGRAM_PAD,
            ..DgramHeader::default()
        };
        write_bytes(tx_offset(slot) + pos, pad.as_bytes());
    }
    let at_pos = (tail + skip) % NET_BUF;
    hdr.len = data.len() as u32;
    write_bytes(tx_offset(slot) + at_pos, hdr.as_bytes());
    write_bytes(tx_offset(slot) + at_pos + DGRAM_HEADER, data);
    store64(o + SL_TX_TAIL, tail + skip + size);
    nudge();
    true
}

/// The next datagram of a UDP slot: its header, its first `max` bytes
/// (the rest is dropped unless `peek`).
pub fn dgram_read(slot: usize, max: usize, peek: bool) -> Option<(DgramHeader, Vec<u8>)> {
    let o = slot_offset(slot);
    let mut head = load64(o + SL_RX_HEAD);
    let tail = load64(o + SL_RX_TAIL);
    loop {
        if tail.wrapping_sub(head) == 0 || tail.wrapping_sub(head) > NET_BUF {
            return None;
        }
        let pos = head % NET_BUF;
        if NET_BUF - pos < DGRAM_HEADER {
            head += NET_BUF - pos;
            continue;
        }
        let mut hb = [0u8; DGRAM_HEADER as usize];
        read_bytes(rx_offset(slot) + pos, &mut hb);
        let hdr = DgramHeader::read_from(&hb)?;
        if hdr.len == DGRAM_PAD {
            head += NET_BUF - pos;
            continue;
        }
        let len = (hdr.len as u64)
            .min(DGRAM_MAX)
            .min(NET_BUF - pos - DGRAM_HEADER);
        let n = len.min(max as u64);
        let mut data = alloc::vec![0u8; n as usize];
        read_bytes(rx_offset(slot) + pos + DGRAM_HEADER, &mut data);
        if !peek {
            store64(o + SL_RX_HEAD, head + dgram_size(len));
            if load32(o + SL_RX_STALLED) != 0 {
                nudge();
            }
        }
        let mut hdr = hdr;
        hdr.len = len as u32;
        return Some((hdr, data));
    }
}

/// Whether the VMM changed the ring since we last looked (one load).
pub fn changed() -> bool {
    active() && load64(HDR_VMM_SEQ) != SEEN.load(Ordering::Relaxed)
}

/// Watches `vmm_seq` for up to `ns` (only while a host socket is live;
/// never with no ring); true when it changed.
pub fn spin_for_change(ns: u64) -> bool {
    if !active() || !crate::sentry::net::host::any_live() {
        return false;
    }
    let start = crate::sentry::time::monotonic_ns();
    while crate::sentry::time::monotonic_ns().saturating_sub(start) < ns {
        if changed() {
            return true;
        }
        core::hint::spin_loop();
    }
    false
}

/// Marks the current `vmm_seq` seen; returns the completions published
/// since (taken off the ring).
pub fn take_changes() -> Vec<NetCompletion> {
    let mut out = Vec::new();
    if !active() {
        return out;
    }
    SEEN.store(load64(HDR_VMM_SEQ), Ordering::Relaxed);
    let _guard = REQ_LOCK.lock();
    let mut head = load64(HDR_COMP_HEAD);
    let tail = load64(HDR_COMP_TAIL);
    if tail.wrapping_sub(head) > NET_COMP_SLOTS {
        crate::hv::console::fatal(format_args!(
            "network completion ring overrun (head {head}, tail {tail})"
        ));
    }
    while head != tail {
        let mut bytes = [0u8; COMP_SIZE as usize];
        read_bytes(comp_offset(head), &mut bytes);
        if let Some(c) = NetCompletion::read_from(&bytes) {
            out.push(c);
        }
        head += 1;
    }
    store64(HDR_COMP_HEAD, head);
    out
}

/// The vCPU is about to sleep in the VMM (`idle`) or is awake again. Set
/// before the last look at [`changed`], so that the I/O thread either
/// sees the flag and wakes us, or we see its change.
pub fn set_idle(idle: bool) {
    if active() {
        store32(HDR_GUEST_IDLE, idle as u32);
        fence(Ordering::SeqCst);
    }
}
