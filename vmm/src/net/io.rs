//! The network I/O thread: serves the network ring (`boards::netring`)
//! with real host sockets, without stopping the vCPU.
//!
//! It takes requests (connect, open a UDP socket, shut down, close, accept
//! or refuse an incoming connection), moves bytes between the slots'
//! buffers in guest memory and the host sockets (straight from and into
//! guest RAM: no copy in the VMM), and sleeps in `poll` when nothing moves,
//! after telling the sentry (`io_sleeping`) to ring the doorbell (an
//! eventfd) when it adds work. When the ring changes while the sentry
//! sleeps (`guest_idle`), it has the vCPU thread wake it with `EVENT_NET`.
//!
//! The ring is guest memory: every counter, slot number, length and
//! address is checked; a slot whose counters make no sense is failed and
//! closed; a request ring that makes no sense stops the network (one
//! warning). At most [`NET_SLOTS`] host sockets and [`MAX_INCOMING`]
//! unanswered incoming connections exist at once.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{fence, Ordering};

use boards::netring::*;
use boards::Wire;
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap};

use super::NetConfig;
use crate::error::{internal, Failure};

/// Incoming connections (from `--publish`) the sentry has not answered.
pub const MAX_INCOMING: usize = 16;

const EPERM: i64 = 1;
const EBADF: i64 = 9;
const EINVAL: i64 = 22;
const ENETUNREACH: i64 = 101;

#[derive(PartialEq, Eq, Clone, Copy, Debug)]
enum Phase {
    Connecting,
    Open,
}

struct HostSock {
    fd: OwnedFd,
    udp: bool,
    phase: Phase,
    tx_head: u64,
    rx_tail: u64,
    status: u32,
    error: u32,
    shut_wr_pending: bool,
    closing: bool,
    /// Waiting for the socket to take more (EAGAIN).
    tx_blocked: bool,
    rx_stalled: bool,
}

pub struct Io {
    mem: GuestMemoryMmap,
    base: u64,
    /// Host address of the region (checked to lie in one mapping).
    host: *mut u8,
    config: NetConfig,
    doorbell: OwnedFd,
    slots: Vec<Option<HostSock>>,
    req_head: u64,
    comp_tail: u64,
    seq: u64,
    /// Completions that did not fit in the ring yet (bounded: one per
    /// slot in flight plus the incoming connections).
    overflow: VecDeque<NetCompletion>,
    listeners: Vec<(OwnedFd, u16)>,
    incoming: BTreeMap<u64, OwnedFd>,
    next_tag: u64,
    broken: bool,
    /// Whether the last round changed something the sentry must see.
    changed: bool,
}

// SAFETY: `host` points into guest memory owned by `mem` (kept alive by
// the clone held here); the thread that owns `Io` is the only one using it.
unsafe impl Send for Io {}

fn errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

fn sockaddr_of(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: an all-zero sockaddr_storage is valid.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_in fits in sockaddr_storage.
            unsafe { std::ptr::write((&mut ss as *mut libc::sockaddr_storage).cast(), sin) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_in6 fits in sockaddr_storage.
            unsafe { std::ptr::write((&mut ss as *mut libc::sockaddr_storage).cast(), sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (ss, len as libc::socklen_t)
}

fn addr_of_storage(ss: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match ss.ss_family as i32 {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let sin: libc::sockaddr_in =
                unsafe { std::ptr::read((ss as *const libc::sockaddr_storage).cast()) };
            let ip = std::net::Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
            Some(SocketAddr::new(ip.into(), u16::from_be(sin.sin_port)))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let sin6: libc::sockaddr_in6 =
                unsafe { std::ptr::read((ss as *const libc::sockaddr_storage).cast()) };
            let ip = std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Some(SocketAddr::new(ip.into(), u16::from_be(sin6.sin6_port)))
        }
        _ => None,
    }
}

fn local_name(fd: RawFd) -> Option<SocketAddr> {
    // SAFETY: getsockname writes at most `len` bytes into `ss`.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: as above.
    let r = unsafe {
        libc::getsockname(
            fd,
            (&mut ss as *mut libc::sockaddr_storage).cast(),
            &mut len,
        )
    };
    (r == 0).then(|| addr_of_storage(&ss)).flatten()
}

fn new_socket(family: i32, ty: i32) -> Result<OwnedFd, i64> {
    // SAFETY: creates a socket; the fd is owned by the OwnedFd below.
    let fd = unsafe { libc::socket(family, ty | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(-(errno() as i64));
    }
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Binds the `--publish` listeners (before the seccomp filter).
pub fn listen(config: &NetConfig) -> Result<Vec<(OwnedFd, u16)>, Failure> {
    let mut out = Vec::new();
    for p in &config.publish {
        let addr = SocketAddr::new(p.host_ip, p.host_port);
        let listener = std::net::TcpListener::bind(addr)
            .map_err(|e| internal(format!("--publish: cannot listen on {addr}: {e}")))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| internal(format!("--publish {addr}: {e}")))?;
        out.push((OwnedFd::from(listener), p.guest_port));
    }
    Ok(out)
}

impl Io {
    pub fn new(
        mem: GuestMemoryMmap,
        base: u64,
        config: NetConfig,
        doorbell: OwnedFd,
        listeners: Vec<(OwnedFd, u16)>,
    ) -> Result<Io, Failure> {
        let outside = |e: vm_memory::GuestMemoryError| {
            internal(format!("network ring outside guest memory: {e}"))
        };
        let host = mem.get_host_address(GuestAddress(base)).map_err(outside)?;
        let last = mem
            .get_host_address(GuestAddress(base + NET_RING_BYTES - 1))
            .map_err(outside)?;
        // One mapping: the whole region is contiguous on the host too.
        if last as usize - host as usize != NET_RING_BYTES as usize - 1 {
            return Err(internal("network ring spans two memory regions"));
        }
        Ok(Io {
            mem,
            base,
            host,
            config,
            doorbell,
            slots: (0..NET_SLOTS).map(|_| None).collect(),
            req_head: 0,
            comp_tail: 0,
            seq: 0,
            overflow: VecDeque::new(),
            listeners,
            incoming: BTreeMap::new(),
            next_tag: 1,
            broken: false,
            changed: false,
        })
    }

    fn load64(&self, off: u64) -> u64 {
        self.mem
            .load::<u64>(GuestAddress(self.base + off), Ordering::Acquire)
            .unwrap_or(0)
    }
    fn load32(&self, off: u64) -> u32 {
        self.mem
            .load::<u32>(GuestAddress(self.base + off), Ordering::Acquire)
            .unwrap_or(0)
    }
    fn store64(&self, off: u64, v: u64) {
        let _ = self
            .mem
            .store(v, GuestAddress(self.base + off), Ordering::Release);
    }
    fn store32(&self, off: u64, v: u32) {
        let _ = self
            .mem
            .store(v, GuestAddress(self.base + off), Ordering::Release);
    }

    /// Host pointer to `len` bytes at region offset `off` (always inside
    /// the region: offsets come from slot numbers below NET_SLOTS and
    /// positions modulo NET_BUF).
    fn ptr(&self, off: u64, len: u64) -> *mut u8 {
        assert!(off + len <= NET_RING_BYTES);
        // SAFETY: in bounds of the region, checked above.
        unsafe { self.host.add(off as usize) }
    }

    fn complete(&mut self, c: NetCompletion) {
        self.overflow.push_back(c);
        self.flush_completions();
    }

    fn flush_completions(&mut self) {
        while let Some(c) = self.overflow.front().copied() {
            let head = self.load64(HDR_COMP_HEAD);
            let used = self.comp_tail.wrapping_sub(head);
            if used >= NET_COMP_SLOTS {
                // Full, or a head that makes no sense: wait.
                return;
            }
            let _ = self.mem.write_slice(
                c.as_bytes(),
                GuestAddress(self.base + comp_offset(self.comp_tail)),
            );
            self.comp_tail += 1;
            self.store64(HDR_COMP_TAIL, self.comp_tail);
            self.overflow.pop_front();
            self.changed = true;
        }
    }

    fn publish_slot(&mut self, slot: usize) {
        let Some(s) = &self.slots[slot] else { return };
        let o = slot_offset(slot);
        self.store64(o + SL_TX_HEAD, s.tx_head);
        self.store64(o + SL_RX_TAIL, s.rx_tail);
        self.store32(o + SL_ERROR, s.error);
        self.store32(o + SL_STATUS, s.status);
        self.store32(o + SL_RX_STALLED, s.rx_stalled as u32);
        let seq = self.load64(o + SL_SEQ).wrapping_add(1);
        self.store64(o + SL_SEQ, seq);
        self.changed = true;
    }

    fn fail_slot(&mut self, slot: usize, err: i32) {
        log::debug!("net slot {slot}: failed with errno {err}");
        if let Some(s) = &mut self.slots[slot] {
            s.status |= SLOT_ERROR;
            s.error = err as u32;
            s.tx_blocked = false;
        }
        self.publish_slot(slot);
    }

    /// Runs forever.
    pub fn run(mut self) -> ! {
        loop {
            if super::FINISH.load(Ordering::SeqCst) {
                // The sandbox ended: close everything once it is sent.
                self.incoming.clear();
                for s in self.slots.iter_mut().flatten() {
                    s.closing = true;
                }
                if self.slots.iter().all(Option::is_none) {
                    super::FINISHED.store(true, Ordering::SeqCst);
                    loop {
                        std::thread::park();
                    }
                }
            }
            let mut progress = self.take_requests();
            for slot in 0..NET_SLOTS {
                progress |= self.pump(slot);
            }
            progress |= self.accept();
            self.flush_completions();
            if self.changed {
                self.changed = false;
                self.seq += 1;
                self.store64(HDR_VMM_SEQ, self.seq);
                fence(Ordering::SeqCst);
                if self.load32(HDR_GUEST_IDLE) != 0 {
                    super::wake_guest();
                }
            }
            if progress {
                continue;
            }
            // No spinning here: measured, a thread that looks again for
            // 150 us before sleeping took the CPU from the vCPU and the
            // host's server on this 2-CPU machine (round trips 8.3k/s ->
            // 5.6k/s); poll wakes it as soon as the host answers, and the
            // sentry's doorbell is an ioeventfd (docs/benchmarks.md).
            self.sleep();
        }
    }

    /// Waits in poll for the host sockets or the doorbell.
    fn sleep(&mut self) {
        self.store32(HDR_IO_SLEEPING, 1);
        fence(Ordering::SeqCst);
        // Work the sentry added before it could see the flag.
        if !self.broken && self.load64(HDR_REQ_TAIL) != self.req_head || self.tx_waiting() {
            self.store32(HDR_IO_SLEEPING, 0);
            return;
        }
        let mut fds = vec![libc::pollfd {
            fd: self.doorbell.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        for s in self.slots.iter().flatten() {
            let mut events = 0;
            if s.phase == Phase::Connecting || s.tx_blocked {
                events |= libc::POLLOUT;
            }
            if s.phase == Phase::Open && !s.rx_stalled && s.status & (SLOT_RX_EOF | SLOT_ERROR) == 0
            {
                events |= libc::POLLIN;
            }
            if events != 0 {
                fds.push(libc::pollfd {
                    fd: s.fd.as_raw_fd(),
                    events,
                    revents: 0,
                });
            }
        }
        if self.incoming.len() < MAX_INCOMING {
            for (fd, _) in &self.listeners {
                fds.push(libc::pollfd {
                    fd: fd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                });
            }
        }
        // SAFETY: `fds` is a valid array of pollfd.
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        self.store32(HDR_IO_SLEEPING, 0);
        if fds[0].revents != 0 {
            let mut v = 0u64;
            // SAFETY: reads 8 bytes into a live u64 from our eventfd.
            unsafe { libc::read(self.doorbell.as_raw_fd(), (&mut v as *mut u64).cast(), 8) };
        }
    }

    /// Whether a slot has bytes to send that it is not blocked on, or room
    /// freed in a stalled rx.
    fn tx_waiting(&self) -> bool {
        self.slots.iter().enumerate().any(|(i, s)| {
            let Some(s) = s else { return false };
            let o = slot_offset(i);
            (!s.tx_blocked && s.phase == Phase::Open && self.load64(o + SL_TX_TAIL) != s.tx_head)
                || (s.rx_stalled && self.load64(o + SL_RX_HEAD) != s.rx_tail.wrapping_sub(NET_BUF))
        })
    }

    fn take_requests(&mut self) -> bool {
        if self.broken {
            return false;
        }
        let tail = self.load64(HDR_REQ_TAIL);
        let n = tail.wrapping_sub(self.req_head);
        if n > NET_REQ_SLOTS {
            log::warn!("network ring from the guest is corrupt (request tail); network stopped");
            self.broken = true;
            return false;
        }
        for _ in 0..n {
            let mut bytes = [0u8; REQ_SIZE as usize];
            let _ = self.mem.read_slice(
                &mut bytes,
                GuestAddress(self.base + req_offset(self.req_head)),
            );
            self.req_head += 1;
            self.store64(HDR_REQ_HEAD, self.req_head);
            if let Some(r) = NetRequest::read_from(&bytes) {
                self.request(r);
            }
        }
        n > 0
    }

    fn reply(&mut self, kind: u32, slot: u32, result: i64, addr: Option<SocketAddr>) {
        let (family, addr, port) = addr.map(super::ring_addr).unwrap_or_default();
        self.complete(NetCompletion {
            kind,
            slot,
            result,
            family,
            port,
            addr,
            ..NetCompletion::default()
        });
    }

    fn request(&mut self, r: NetRequest) {
        let slot = r.slot as usize;
        let valid_slot = slot < NET_SLOTS;
        match r.op {
            NET_CONNECT_TCP | NET_OPEN_UDP | NET_ACCEPT => {
                let kind = if r.op == NET_OPEN_UDP {
                    NET_C_OPENED
                } else {
                    NET_C_CONNECTED
                };
                if !valid_slot || self.slots[slot].is_some() {
                    if r.op == NET_ACCEPT {
                        self.incoming.remove(&r.tag);
                    }
                    return self.reply(kind, r.slot, -EBADF, None);
                }
                // The slot starts empty: the sentry reset its counters.
                let o = slot_offset(slot);
                if self.load64(o + SL_TX_TAIL) != 0 || self.load64(o + SL_RX_HEAD) != 0 {
                    return self.reply(kind, r.slot, -EINVAL, None);
                }
                let result = match r.op {
                    NET_CONNECT_TCP => self.connect(slot, &r),
                    NET_OPEN_UDP => self.open_udp(slot, &r),
                    _ => self.attach(slot, r.tag),
                };
                match result {
                    Ok(Some(local)) => self.reply(kind, r.slot, 0, Some(local)),
                    Ok(None) => {} // connecting: answered when done
                    Err(e) => self.reply(kind, r.slot, e, None),
                }
            }
            NET_SHUTDOWN_WR if valid_slot => {
                if let Some(s) = &mut self.slots[slot] {
                    s.shut_wr_pending = true;
                }
            }
            NET_CLOSE if valid_slot => {
                if let Some(s) = &mut self.slots[slot] {
                    s.closing = true;
                } else {
                    self.reply(NET_C_CLOSED, r.slot, 0, None);
                }
            }
            NET_REJECT => {
                self.incoming.remove(&r.tag);
            }
            _ => log::debug!("network request {} (slot {}) refused", r.op, r.slot),
        }
    }

    fn reset_slot_words(&self, slot: usize) {
        let o = slot_offset(slot);
        self.store64(o + SL_TX_HEAD, 0);
        self.store64(o + SL_RX_TAIL, 0);
        self.store32(o + SL_STATUS, 0);
        self.store32(o + SL_ERROR, 0);
        self.store32(o + SL_RX_STALLED, 0);
    }

    fn install(&mut self, slot: usize, fd: OwnedFd, udp: bool, phase: Phase) {
        self.reset_slot_words(slot);
        self.slots[slot] = Some(HostSock {
            fd,
            udp,
            phase,
            tx_head: 0,
            rx_tail: 0,
            status: 0,
            error: 0,
            shut_wr_pending: false,
            closing: false,
            tx_blocked: false,
            rx_stalled: false,
        });
    }

    fn connect(&mut self, slot: usize, r: &NetRequest) -> Result<Option<SocketAddr>, i64> {
        let dst = super::from_ring(r.family, r.addr, r.port).ok_or(-EINVAL)?;
        if !self.config.outbound {
            return Err(-ENETUNREACH);
        }
        if !self.config.allows(dst.ip(), dst.port()) {
            log::info!("connection to {dst} refused by --net-allow");
            return Err(-EPERM);
        }
        let family = if dst.is_ipv4() {
            libc::AF_INET
        } else {
            libc::AF_INET6
        };
        let fd = new_socket(family, libc::SOCK_STREAM)?;
        let one: libc::c_int = 1;
        // SAFETY: sets an int option from a live c_int.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_NODELAY,
                (&one as *const libc::c_int).cast(),
                4,
            )
        };
        let (ss, len) = sockaddr_of(dst);
        // SAFETY: connects with a valid sockaddr of `len` bytes.
        let rc = unsafe {
            libc::connect(
                fd.as_raw_fd(),
                (&ss as *const libc::sockaddr_storage).cast(),
                len,
            )
        };
        if rc == 0 {
            let local = local_name(fd.as_raw_fd());
            self.install(slot, fd, false, Phase::Open);
            return Ok(local.or(Some(dst)));
        }
        match errno() {
            libc::EINPROGRESS => {
                self.install(slot, fd, false, Phase::Connecting);
                Ok(None)
            }
            e => Err(-(e as i64)),
        }
    }

    fn open_udp(&mut self, slot: usize, r: &NetRequest) -> Result<Option<SocketAddr>, i64> {
        if !self.config.outbound {
            return Err(-ENETUNREACH);
        }
        let family = match r.family as i32 {
            libc::AF_INET => libc::AF_INET,
            libc::AF_INET6 => libc::AF_INET6,
            _ => return Err(-EINVAL),
        };
        let fd = new_socket(family, libc::SOCK_DGRAM)?;
        let local = local_name(fd.as_raw_fd());
        self.install(slot, fd, true, Phase::Open);
        Ok(local)
    }

    fn attach(&mut self, slot: usize, tag: u64) -> Result<Option<SocketAddr>, i64> {
        let fd = self.incoming.remove(&tag).ok_or(-EINVAL)?;
        let local = local_name(fd.as_raw_fd());
        self.install(slot, fd, false, Phase::Open);
        Ok(local)
    }

    fn accept(&mut self) -> bool {
        let mut progress = false;
        for i in 0..self.listeners.len() {
            while self.incoming.len() < MAX_INCOMING {
                let (lfd, guest_port) = (self.listeners[i].0.as_raw_fd(), self.listeners[i].1);
                // SAFETY: accept4 writes at most `len` bytes into `ss`.
                let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
                let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
                // SAFETY: as above; the new fd is owned below.
                let fd = unsafe {
                    libc::accept4(
                        lfd,
                        (&mut ss as *mut libc::sockaddr_storage).cast(),
                        &mut len,
                        libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                    )
                };
                if fd < 0 {
                    break;
                }
                // SAFETY: a fresh descriptor from accept4.
                let fd = unsafe { OwnedFd::from_raw_fd(fd) };
                let one: libc::c_int = 1;
                // SAFETY: sets an int option from a live c_int.
                unsafe {
                    libc::setsockopt(
                        fd.as_raw_fd(),
                        libc::IPPROTO_TCP,
                        libc::TCP_NODELAY,
                        (&one as *const libc::c_int).cast(),
                        4,
                    )
                };
                let tag = self.next_tag;
                self.next_tag += 1;
                self.incoming.insert(tag, fd);
                let (family, addr, port) = addr_of_storage(&ss)
                    .map(super::ring_addr)
                    .unwrap_or_default();
                self.complete(NetCompletion {
                    kind: NET_C_INCOMING,
                    tag,
                    family,
                    port,
                    addr,
                    arg: guest_port as u64,
                    ..NetCompletion::default()
                });
                progress = true;
            }
        }
        progress
    }

    /// Moves what can move for one slot. True when something did.
    fn pump(&mut self, slot: usize) -> bool {
        let Some(s) = &self.slots[slot] else {
            return false;
        };
        let o = slot_offset(slot);
        let mut progress = false;
        if s.phase == Phase::Connecting {
            let mut pfd = libc::pollfd {
                fd: s.fd.as_raw_fd(),
                events: libc::POLLOUT,
                revents: 0,
            };
            // SAFETY: polls one valid pollfd without waiting.
            if unsafe { libc::poll(&mut pfd, 1, 0) } <= 0 {
                if s.closing {
                    self.close(slot);
                    return true;
                }
                return false;
            }
            let mut err: libc::c_int = 0;
            let mut len = 4 as libc::socklen_t;
            // SAFETY: reads an int option into a live c_int.
            unsafe {
                libc::getsockopt(
                    s.fd.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_ERROR,
                    (&mut err as *mut libc::c_int).cast(),
                    &mut len,
                )
            };
            if err != 0 {
                let _ = self.slots[slot].take();
                self.reset_slot_words(slot);
                self.reply(NET_C_CONNECTED, slot as u32, -(err as i64), None);
                return true;
            }
            let local = local_name(s.fd.as_raw_fd());
            if let Some(s) = &mut self.slots[slot] {
                s.phase = Phase::Open;
            }
            self.reply(NET_C_CONNECTED, slot as u32, 0, local);
            progress = true;
        }
        // Transmit.
        let tx_tail = self.load64(o + SL_TX_TAIL);
        let (tx_head, udp) = {
            let s = self.slots[slot].as_ref().expect("checked");
            (s.tx_head, s.udp)
        };
        let pending = tx_tail.wrapping_sub(tx_head);
        if pending > NET_BUF {
            log::warn!("network slot {slot}: transmit counter out of range; slot failed");
            if let Some(s) = &mut self.slots[slot] {
                s.tx_head = tx_tail;
            }
            self.fail_slot(slot, libc::EIO);
            return true;
        }
        if pending > 0
            && self.slots[slot]
                .as_ref()
                .is_some_and(|s| s.status & SLOT_ERROR == 0)
        {
            let moved = if udp {
                self.send_dgrams(slot, tx_tail)
            } else {
                self.send_stream(slot, tx_tail)
            };
            progress |= moved;
        } else if pending > 0 {
            // A failed socket drops what it was given.
            if let Some(s) = &mut self.slots[slot] {
                s.tx_head = tx_tail;
            }
            self.publish_slot(slot);
        }
        // Shut down / close once everything went out.
        let s = self.slots[slot].as_mut().expect("checked");
        let drained = s.tx_head == tx_tail || s.status & SLOT_ERROR != 0;
        if drained && s.shut_wr_pending {
            s.shut_wr_pending = false;
            // SAFETY: shuts down a socket we own.
            unsafe { libc::shutdown(s.fd.as_raw_fd(), libc::SHUT_WR) };
        }
        if s.closing && (drained || s.udp) {
            log::debug!(
                "net slot {slot}: closed (sent {} of {tx_tail}, status {:#x})",
                s.tx_head,
                s.status
            );
            self.close(slot);
            return true;
        }
        // Receive.
        progress |= if udp {
            self.recv_dgrams(slot)
        } else {
            self.recv_stream(slot)
        };
        progress
    }

    fn close(&mut self, slot: usize) {
        self.slots[slot] = None;
        self.reset_slot_words(slot);
        self.reply(NET_C_CLOSED, slot as u32, 0, None);
    }

    fn send_stream(&mut self, slot: usize, tx_tail: u64) -> bool {
        let mut progress = false;
        loop {
            let s = self.slots[slot].as_ref().expect("checked");
            let (fd, head) = (s.fd.as_raw_fd(), s.tx_head);
            if head == tx_tail {
                break;
            }
            let pos = head % NET_BUF;
            let len = (tx_tail - head).min(NET_BUF - pos);
            let p = self.ptr(tx_offset(slot) + pos, len);
            // SAFETY: sends `len` bytes of the slot's tx buffer in guest
            // memory (in bounds, see `ptr`); the guest may change them
            // meanwhile, which only changes what is sent.
            let n = unsafe {
                libc::send(
                    fd,
                    p.cast(),
                    len as usize,
                    libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
                )
            };
            let s = self.slots[slot].as_mut().expect("checked");
            if n > 0 {
                s.tx_head += n as u64;
                s.tx_blocked = false;
                progress = true;
                continue;
            }
            let e = errno();
            if e == libc::EAGAIN || e == libc::EINTR {
                s.tx_blocked = e == libc::EAGAIN;
                break;
            }
            s.tx_head = tx_tail;
            self.fail_slot(slot, e);
            return true;
        }
        if progress {
            self.publish_slot(slot);
        }
        progress
    }

    fn send_dgrams(&mut self, slot: usize, tx_tail: u64) -> bool {
        let mut progress = false;
        loop {
            let s = self.slots[slot].as_ref().expect("checked");
            let (fd, mut head) = (s.fd.as_raw_fd(), s.tx_head);
            if head == tx_tail {
                break;
            }
            let pos = head % NET_BUF;
            if NET_BUF - pos < DGRAM_HEADER {
                head += NET_BUF - pos;
                self.slots[slot].as_mut().expect("checked").tx_head = head;
                progress = true;
                continue;
            }
            let mut hb = [0u8; DGRAM_HEADER as usize];
            let _ = self
                .mem
                .read_slice(&mut hb, GuestAddress(self.base + tx_offset(slot) + pos));
            let h = DgramHeader::read_from(&hb).expect("sized");
            let size = if h.len == DGRAM_PAD {
                NET_BUF - pos
            } else {
                dgram_size(h.len as u64)
            };
            if h.len != DGRAM_PAD && (h.len as u64 > DGRAM_MAX || pos + size > NET_BUF)
                || size > tx_tail - head
            {
                log::warn!("network slot {slot}: bad datagram record; slot failed");
                self.slots[slot].as_mut().expect("checked").tx_head = tx_tail;
                self.fail_slot(slot, libc::EIO);
                return true;
            }
            if h.len != DGRAM_PAD {
                let dst = super::from_ring(h.family, h.addr, h.port);
                match dst {
                    Some(dst) if self.config.allows(dst.ip(), dst.port()) => {
                        let (ss, len) = sockaddr_of(dst);
                        let p = self.ptr(tx_offset(slot) + pos + DGRAM_HEADER, h.len as u64);
                        // SAFETY: sends a datagram from the slot's tx buffer
                        // (in bounds) to a valid sockaddr.
                        let n = unsafe {
                            libc::sendto(
                                fd,
                                p.cast(),
                                h.len as usize,
                                libc::MSG_DONTWAIT,
                                (&ss as *const libc::sockaddr_storage).cast(),
                                len,
                            )
                        };
                        if n < 0 && errno() == libc::EAGAIN {
                            self.slots[slot].as_mut().expect("checked").tx_blocked = true;
                            break;
                        }
                        // Other failures lose the datagram, as UDP may.
                    }
                    _ => log::info!("datagram to {dst:?} refused by --net-allow"),
                }
            }
            let s = self.slots[slot].as_mut().expect("checked");
            s.tx_head = head + size;
            s.tx_blocked = false;
            progress = true;
        }
        if progress {
            self.publish_slot(slot);
        }
        progress
    }

    fn recv_stream(&mut self, slot: usize) -> bool {
        let o = slot_offset(slot);
        let rx_head = self.load64(o + SL_RX_HEAD);
        let mut progress = false;
        loop {
            let s = self.slots[slot].as_ref().expect("checked");
            if s.phase != Phase::Open || s.status & (SLOT_RX_EOF | SLOT_ERROR) != 0 {
                break;
            }
            let (fd, tail) = (s.fd.as_raw_fd(), s.rx_tail);
            let used = tail.wrapping_sub(rx_head);
            if used > NET_BUF {
                log::warn!("network slot {slot}: receive counter out of range; slot failed");
                self.fail_slot(slot, libc::EIO);
                return true;
            }
            let free = NET_BUF - used;
            if free == 0 {
                let s = self.slots[slot].as_mut().expect("checked");
                if !s.rx_stalled {
                    s.rx_stalled = true;
                    self.publish_slot(slot);
                }
                break;
            }
            let pos = tail % NET_BUF;
            let len = free.min(NET_BUF - pos);
            let p = self.ptr(rx_offset(slot) + pos, len);
            // SAFETY: receives into the slot's rx buffer in guest memory
            // (in bounds, see `ptr`), in the part the sentry has not
            // published as unread.
            let n = unsafe { libc::recv(fd, p.cast(), len as usize, libc::MSG_DONTWAIT) };
            let s = self.slots[slot].as_mut().expect("checked");
            if n > 0 {
                s.rx_tail += n as u64;
                s.rx_stalled = false;
                progress = true;
                continue;
            }
            if n == 0 {
                s.status |= SLOT_RX_EOF;
                progress = true;
                break;
            }
            let e = errno();
            if e == libc::EAGAIN || e == libc::EINTR {
                break;
            }
            s.status |= SLOT_ERROR;
            s.error = e as u32;
            progress = true;
            break;
        }
        if progress || self.slots[slot].as_ref().is_some_and(|s| s.rx_stalled) {
            if let Some(s) = &mut self.slots[slot] {
                s.rx_stalled = s.rx_tail.wrapping_sub(rx_head) >= NET_BUF;
            }
            if progress {
                self.publish_slot(slot);
            }
        }
        progress
    }

    fn recv_dgrams(&mut self, slot: usize) -> bool {
        let o = slot_offset(slot);
        let rx_head = self.load64(o + SL_RX_HEAD);
        let mut progress = false;
        loop {
            let s = self.slots[slot].as_ref().expect("checked");
            let (fd, tail) = (s.fd.as_raw_fd(), s.rx_tail);
            let used = tail.wrapping_sub(rx_head);
            if used > NET_BUF {
                self.fail_slot(slot, libc::EIO);
                return true;
            }
            let free = NET_BUF - used;
            let pos = tail % NET_BUF;
            let to_end = NET_BUF - pos;
            let need = dgram_size(DGRAM_MAX);
            let skip = if to_end < need { to_end } else { 0 };
            if free < skip + need {
                let s = self.slots[slot].as_mut().expect("checked");
                if !s.rx_stalled {
                    s.rx_stalled = true;
                    self.publish_slot(slot);
                }
                break;
            }
            let at = (tail + skip) % NET_BUF;
            let p = self.ptr(rx_offset(slot) + at + DGRAM_HEADER, DGRAM_MAX);
            // SAFETY: an all-zero sockaddr_storage is valid.
            let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
            let mut slen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            // SAFETY: receives at most DGRAM_MAX bytes into the rx buffer
            // after the record header (in bounds: `need` bytes are free
            // and contiguous there).
            let n = unsafe {
                libc::recvfrom(
                    fd,
                    p.cast(),
                    DGRAM_MAX as usize,
                    libc::MSG_DONTWAIT,
                    (&mut ss as *mut libc::sockaddr_storage).cast(),
                    &mut slen,
                )
            };
            if n < 0 {
                break;
            }
            if skip >= DGRAM_HEADER {
                let pad = DgramHeader {
                    len: DGRAM_PAD,
                    ..DgramHeader::default()
                };
                let _ = self.mem.write_slice(
                    pad.as_bytes(),
                    GuestAddress(self.base + rx_offset(slot) + pos),
                );
            }
            let (family, addr, port) = addr_of_storage(&ss)
                .map(super::ring_addr)
                .unwrap_or_default();
            let h = DgramHeader {
                len: n as u32,
                family,
                port,
                addr,
            };
            let _ = self
                .mem
                .write_slice(h.as_bytes(), GuestAddress(self.base + rx_offset(slot) + at));
            let s = self.slots[slot].as_mut().expect("checked");
            s.rx_tail = tail + skip + dgram_size(n as u64);
            s.rx_stalled = false;
            progress = true;
        }
        if progress {
            self.publish_slot(slot);
        }
        progress
    }
}
