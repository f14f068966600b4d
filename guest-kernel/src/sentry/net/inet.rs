//! AF_INET and AF_INET6: TCP and UDP between processes of the sandbox over
//! its loopback interface (127.0.0.0/8 and ::1; a listener bound to
//! 0.0.0.0 or :: is reached through them; a v6 socket reaches v4 peers
//! through v4-mapped addresses unless IPV6_V6ONLY). There is no other
//! network unless the VMM gives one (`--net`): then other destinations are
//! reached through host sockets the VMM holds (`super::host`), and without
//! it they are ENETUNREACH, as on a Linux host with only a loopback
//! interface. Connections from the host to a `--publish`ed port arrive at
//! the listener on that port here ([`incoming`]).
//!
//! A TCP connection is a pair of queues, as an AF_UNIX stream is (no
//! packets, no state machine): what Linux shows of one is kept (EINPROGRESS
//! for a non-blocking connect, the reset that follows a write to a closed
//! peer, EPIPE after it, ECONNRESET for a peer closed with unread data).
//! Ports live in one table per protocol with Linux's conflict rules
//! (SO_REUSEADDR, SO_REUSEPORT, wildcards, v4-mapped addresses).

use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;

use super::host::{ConnState, HostConn};
use super::queue::Queue;
use super::*;
use crate::sentry::errno::*;
use crate::sentry::fd::{POLLERR, POLLHUP, POLLIN, POLLOUT};
use crate::sentry::wait::WaitQueue;

pub const IPPROTO_IP: i32 = 0;
pub const IPPROTO_TCP: i32 = 6;
pub const IPPROTO_UDP: i32 = 17;
pub const IPPROTO_IPV6: i32 = 41;

const TCP_NODELAY: i32 = 1;
const TCP_KEEPIDLE: i32 = 4;
const TCP_KEEPINTVL: i32 = 5;
const TCP_KEEPCNT: i32 = 6;
const IP_TOS: i32 = 1;
const IP_TTL: i32 = 2;
const IPV6_UNICAST_HOPS: i32 = 16;
const IPV6_V6ONLY: i32 = 26;

/// net.ipv4.ip_local_port_range.
const EPHEMERAL: core::ops::RangeInclusive<u16> = 32768..=60999;
/// Largest UDP payloads (a 64 KiB IP packet less the headers).
const UDP_MAX_V4: usize = 65507;
const UDP_MAX_V6: usize = 65527;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ip {
    V4([u8; 4]),
    V6([u8; 16]),
}

const V6_LOOPBACK: [u8; 16] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const V4_LOOPBACK: [u8; 4] = [127, 0, 0, 1];

fn mapped(addr: &[u8; 16]) -> Option<[u8; 4]> {
    (addr[..10] == [0; 10] && addr[10..12] == [0xff, 0xff]).then(|| addr[12..].try_into().unwrap())
}

fn to_mapped(v4: [u8; 4]) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[10] = 0xff;
    out[11] = 0xff;
    out[12..].copy_from_slice(&v4);
    out
}

impl Ip {
    fn unspecified(self) -> bool {
        match self {
            Ip::V4(a) => a == [0; 4],
            Ip::V6(a) => a == [0; 16],
        }
    }

    /// v4-mapped v6 addresses as v4 (where the packet really goes).
    fn normalized(self) -> Ip {
        match self {
            Ip::V6(a) => mapped(&a).map_or(self, Ip::V4),
            v4 => v4,
        }
    }

    /// The address as a socket of the given family shows it.
    fn for_family(self, v6: bool) -> Ip {
        match (self, v6) {
            (Ip::V4(a), true) => Ip::V6(to_mapped(a)),
            (ip, _) => ip,
        }
    }

    fn sockaddr(self, port: u16) -> SockAddr {
        match self {
            Ip::V4(a) => SockAddr::V4(a, port),
            Ip::V6(addr) => SockAddr::V6 {
                addr,
                port,
                flowinfo: 0,
                scope: 0,
            },
        }
    }
}

/// The part of one address family a binding covers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cover<T: PartialEq> {
    Nothing,
    All,
    One(T),
}

impl<T: PartialEq + Copy> Cover<T> {
    fn overlaps(self, other: Cover<T>) -> bool {
        match (self, other) {
            (Cover::Nothing, _) | (_, Cover::Nothing) => false,
            (Cover::All, _) | (_, Cover::All) => true,
            (Cover::One(a), Cover::One(b)) => a == b,
        }
    }

    fn contains(self, addr: T) -> bool {
        match self {
            Cover::Nothing => false,
            Cover::All => true,
            Cover::One(a) => a == addr,
        }
    }

    fn exact(self) -> bool {
        matches!(self, Cover::One(_))
    }
}

struct Binding {
    id: u64,
    v4: Cover<[u8; 4]>,
    v6: Cover<[u8; 16]>,
    reuseaddr: bool,
    reuseport: bool,
    listening: bool,
    socket: Weak<InetSocket>,
}

fn covers(v6_socket: bool, v6only: bool, ip: Ip) -> (Cover<[u8; 4]>, Cover<[u8; 16]>) {
    match ip {
        Ip::V4(a) if a == [0; 4] => (Cover::All, Cover::Nothing),
        Ip::V4(a) => (Cover::One(a), Cover::Nothing),
        Ip::V6(a) if a == [0; 16] => (
            if v6only || !v6_socket {
                Cover::Nothing
            } else {
                Cover::All
            },
            Cover::All,
        ),
        Ip::V6(a) => match mapped(&a) {
            Some(v4) if v4 == [0; 4] => (Cover::All, Cover::Nothing),
            Some(v4) => (Cover::One(v4), Cover::Nothing),
            None => (Cover::Nothing, Cover::One(a)),
        },
    }
}

/// (protocol, port) -> bindings.
type PortTable = BTreeMap<(i32, u16), Vec<Binding>>;
static PORTS: Mutex<PortTable> = Mutex::new(BTreeMap::new());
static NEXT_EPHEMERAL: AtomicU64 = AtomicU64::new(0);
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn conflicts(ty: i32, new: &Binding, old: &Binding) -> bool {
    if !(new.v4.overlaps(old.v4) || new.v6.overlaps(old.v6)) {
        return false;
    }
    if old.socket.strong_count() == 0 {
        return false;
    }
    if new.reuseport && old.reuseport {
        return false;
    }
    if new.reuseaddr && old.reuseaddr && (ty == SOCK_DGRAM || !old.listening && !new.listening) {
        return false;
    }
    true
}

/// Adds `binding` for `port` (0: an ephemeral port); returns the port.
fn register(ty: i32, port: u16, binding: Binding) -> Result<u16, Errno> {
    let mut table = PORTS.lock();
    let free = |table: &PortTable, port: u16| {
        table
            .get(&(ty, port))
            .is_none_or(|list| !list.iter().any(|old| conflicts(ty, &binding, old)))
    };
    let port = if port != 0 {
        if !free(&table, port) {
            return Err(EADDRINUSE);
        }
        port
    } else {
        let span = (*EPHEMERAL.end() - *EPHEMERAL.start()) as u64 + 1;
        let start = NEXT_EPHEMERAL.fetch_add(1, Ordering::Relaxed);
        let found = (0..span)
            .map(|i| *EPHEMERAL.start() + ((start + i) % span) as u16)
            .find(|&p| {
                table
                    .get(&(ty, p))
                    .is_none_or(|l| l.iter().all(|b| b.socket.strong_count() == 0))
            });
        found.ok_or(EADDRINUSE)?
    };
    let list = table.entry((ty, port)).or_default();
    list.retain(|b| b.socket.strong_count() > 0);
    list.push(binding);
    Ok(port)
}

fn unregister(ty: i32, port: u16, id: u64) {
    let mut table = PORTS.lock();
    if let Some(list) = table.get_mut(&(ty, port)) {
        list.retain(|b| b.id != id && b.socket.strong_count() > 0);
        if list.is_empty() {
            table.remove(&(ty, port));
        }
    }
}

/// The sockets bound to `port` that take traffic for `dst` (a normalized
/// address), exact bindings first; for TCP only listeners.
fn lookup(ty: i32, dst: Ip, port: u16) -> Vec<Arc<InetSocket>> {
    let table = PORTS.lock();
    let Some(list) = table.get(&(ty, port)) else {
        return Vec::new();
    };
    let mut found: Vec<(bool, Arc<InetSocket>)> = list
        .iter()
        .filter(|b| ty == SOCK_DGRAM || b.listening)
        .filter_map(|b| {
            let (hit, exact) = match dst {
                Ip::V4(a) => (b.v4.contains(a), b.v4.exact()),
                Ip::V6(a) => (b.v6.contains(a), b.v6.exact()),
            };
            if !hit {
                return None;
            }
            b.socket.upgrade().map(|s| (exact, s))
        })
        .collect();
    found.sort_by_key(|(exact, _)| !*exact);
    found.into_iter().map(|(_, s)| s).collect()
}

fn set_listening(ty: i32, port: u16, id: u64, listening: bool) -> Result<(), Errno> {
    let mut table = PORTS.lock();
    let Some(list) = table.get_mut(&(ty, port)) else {
        return Ok(());
    };
    let Some(index) = list.iter().position(|b| b.id == id) else {
        return Ok(());
    };
    if listening {
        let me = &list[index];
        let taken = list.iter().any(|other| {
            other.id != id
                && other.listening
                && other.socket.strong_count() > 0
                && (me.v4.overlaps(other.v4) || me.v6.overlaps(other.v6))
                && !(me.reuseport && other.reuseport)
        });
        if taken {
            return Err(EADDRINUSE);
        }
    }
    list[index].listening = listening;
    Ok(())
}

/// Where a destination goes: the loopback address it reaches (0.0.0.0
/// and :: mean this host, as on Linux), or ENETUNREACH.
fn route(dst: Ip) -> Result<Ip, Errno> {
    match dst.normalized() {
        Ip::V4(a) if a == [0; 4] => Ok(Ip::V4(V4_LOOPBACK)),
        Ip::V4(a) if a[0] == 127 => Ok(Ip::V4(a)),
        Ip::V6(a) if a == [0; 16] || a == V6_LOOPBACK => Ok(Ip::V6(V6_LOOPBACK)),
        _ => Err(ENETUNREACH),
    }
}

/// Where `dst` goes: its loopback address, or (with `--net`) itself, on
/// the host's network; ENETUNREACH without `--net`.
fn routed(dst: Ip) -> Result<Ip, Errno> {
    match route(dst) {
        Err(_) if crate::hv::net::outbound() => Ok(host_target(dst)),
        other => other,
    }
}

/// Whether `dst` lies outside the sandbox (not loopback, not "this host").
fn external(dst: Ip) -> bool {
    route(dst).is_err()
}

/// The address to give the VMM for `dst` (v4-mapped addresses as IPv4).
fn host_target(dst: Ip) -> Ip {
    dst.normalized()
}

/// A connection from the host to `port` (`--publish`): the listener on
/// that port takes a new connection whose other end is the host socket
/// `make` attaches. False when nobody listens there (or its backlog is
/// full, or no slot is free): the VMM closes the host connection.
pub fn incoming(
    port: u16,
    peer: (Ip, u16),
    make: impl FnOnce() -> Result<Arc<HostConn>, Errno>,
) -> bool {
    let listener = lookup(SOCK_STREAM, Ip::V4(V4_LOOPBACK), port)
        .into_iter()
        .next()
        .or_else(|| {
            lookup(SOCK_STREAM, Ip::V6(V6_LOOPBACK), port)
                .into_iter()
                .next()
        });
    let Some(listener) = listener else {
        return false;
    };
    {
        let st = listener.state.lock();
        match &st.tcp {
            Tcp::Listening { backlog, pending } if !st.released && pending.len() <= *backlog => {}
            _ => return false,
        }
    }
    let Ok(hc) = make() else {
        return false;
    };
    let Ok(server) = InetSocket::new(listener.v6, SOCK_STREAM, 0) else {
        return false;
    };
    *server.common.lock() = listener.common.lock().clone();
    {
        let mut sst = server.state.lock();
        let local = if listener.v6 {
            Ip::V6(V6_LOOPBACK)
        } else {
            Ip::V4(V4_LOOPBACK)
        };
        sst.local = local;
        sst.remote = Some((peer.0.for_family(listener.v6), peer.1));
        sst.tcp = Tcp::Host(hc);
        // Not in the port table: the listener's binding covers it.
    }
    let mut lst = listener.state.lock();
    let sport = lst.port;
    server.state.lock().port = sport;
    if let Tcp::Listening { pending, .. } = &mut lst.tcp {
        pending.push_back(server);
    }
    drop(lst);
    listener.changed();
    true
}

/// The source address for traffic to `dst` (routed): the loopback address.
fn source_for(dst: Ip) -> Ip {
    match dst {
        Ip::V4(_) => Ip::V4(V4_LOOPBACK),
        Ip::V6(_) => Ip::V6(V6_LOOPBACK),
    }
}

enum Tcp {
    Closed,
    Listening {
        backlog: usize,
        pending: VecDeque<Arc<InetSocket>>,
    },
    /// A non-blocking connect waiting for room in a listener's backlog.
    Connecting {
        listener: Weak<InetSocket>,
        dst: Ip,
        port: u16,
    },
    Connected(Arc<InetSocket>),
    /// A connection to (or from) the host's network, through a host socket
    /// the VMM holds.
    Host(Arc<HostConn>),
}

struct State {
    /// Bound address and port (port 0: not bound).
    local: Ip,
    port: u16,
    remote: Option<(Ip, u16)>,
    tcp: Tcp,
    /// The pending error (SO_ERROR).
    error: Option<Errno>,
    /// The peer reset the connection (a write met a closed peer).
    reset: bool,
    v6only: bool,
    shut_rd: bool,
    shut_wr: bool,
    released: bool,
    /// A non-blocking connect that got EINPROGRESS is finished by the next
    /// connect call (0 when it succeeded, as Linux reports).
    in_progress: bool,
    nodelay: bool,
    keepidle: i32,
    keepintvl: i32,
    keepcnt: i32,
    tos: i32,
    ttl: i32,
    /// UDP: the host socket for datagrams to and from outside the
    /// sandbox (opened by the first send there).
    host_udp: Option<Arc<HostConn>>,
    /// UDP: the datagram being built by sends with MSG_MORE, and the
    /// destination its first send gave (Linux's pending frames).
    cork: Option<(Vec<u8>, Option<SockAddr>)>,
    /// TCP between sandbox sockets: bytes sent with MSG_MORE, held back
    /// until a send without it (or a full segment, or the end of the
    /// connection) pushes them, as Linux's tcp_sendmsg does.
    held: Vec<u8>,
}

/// The most a TCP connection holds back for MSG_MORE: a loopback segment
/// (Linux sends full segments whatever MSG_MORE says).
const TCP_HOLD_MAX: usize = 65483;

pub struct InetSocket {
    me: Weak<InetSocket>,
    id: u64,
    v6: bool,
    ty: i32,
    rx: Arc<Queue>,
    events: Arc<WaitQueue>,
    changes: AtomicU64,
    state: Mutex<State>,
    common: Mutex<Common>,
}

impl InetSocket {
    /// Linux's inet_create lookup of (type, protocol): a protocol its type
    /// has no entry for is EPROTONOSUPPORT (SOCK_RAW's entry is a wildcard
    /// that protocol 0 does not match), a type without entries
    /// ESOCKTNOSUPPORT. Raw sockets for a protocol are not offered.
    pub fn check_kind(ty: i32, protocol: i32) -> Result<(), Errno> {
        match (ty, protocol) {
            (SOCK_STREAM, 0 | IPPROTO_TCP) | (SOCK_DGRAM, 0 | IPPROTO_UDP) => Ok(()),
            (SOCK_STREAM | SOCK_DGRAM, _) | (SOCK_RAW, 0) => Err(EPROTONOSUPPORT),
            _ => Err(ESOCKTNOSUPPORT),
        }
    }

    pub fn new(v6: bool, ty: i32, protocol: i32) -> Result<Arc<InetSocket>, Errno> {
        Self::check_kind(ty, protocol)?;
        let any = if v6 { Ip::V6([0; 16]) } else { Ip::V4([0; 4]) };
        Ok(Arc::new_cyclic(|me| InetSocket {
            me: me.clone(),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            v6,
            ty,
            rx: Queue::new(DEFAULT_BUFFER),
            events: Arc::new(WaitQueue::new()),
            changes: AtomicU64::new(0),
            state: Mutex::new(State {
                local: any,
                port: 0,
                remote: None,
                tcp: Tcp::Closed,
                error: None,
                reset: false,
                v6only: false,
                shut_rd: false,
                shut_wr: false,
                released: false,
                in_progress: false,
                nodelay: false,
                keepidle: 7200,
                keepintvl: 75,
                keepcnt: 9,
                tos: 0,
                ttl: 64,
                host_udp: None,
                cork: None,
                held: Vec::new(),
            }),
            common: Mutex::new(Common::default()),
        }))
    }

    fn me(&self) -> Arc<InetSocket> {
        self.me.upgrade().expect("a socket in use is alive")
    }

    fn changed(&self) {
        self.changes.fetch_add(1, Ordering::Relaxed);
        self.events.wake_all();
    }

    /// The address of a sockaddr for this socket's family.
    fn ip_of(&self, addr: &SockAddr) -> Result<(Ip, u16), Errno> {
        match (addr, self.v6) {
            (SockAddr::V4(a, port), false) => Ok((Ip::V4(*a), *port)),
            (SockAddr::V6 { addr, port, .. }, true) => Ok((Ip::V6(*addr), *port)),
            _ => Err(EAFNOSUPPORT),
        }
    }

    fn binding(&self, ip: Ip, v6only: bool) -> Binding {
        let (v4, v6) = covers(self.v6, v6only, ip);
        let common = self.common.lock();
        Binding {
            id: self.id,
            v4,
            v6,
            reuseaddr: common.reuseaddr,
            reuseport: common.reuseport,
            listening: false,
            socket: self.me.clone(),
        }
    }

    /// Binds to `ip`:`port` (port 0: an ephemeral one).
    fn bind_to(&self, ip: Ip, port: u16) -> Result<(), Errno> {
        let v6only = self.state.lock().v6only;
        let port = register(self.ty, port, self.binding(ip, v6only))?;
        let mut st = self.state.lock();
        st.local = ip;
        st.port = port;
        Ok(())
    }

    /// Binds to an ephemeral port on the wildcard address if unbound.
    fn autobind(&self) -> Result<(), Errno> {
        if self.state.lock().port != 0 {
            return Ok(());
        }
        let any = if self.v6 {
            Ip::V6([0; 16])
        } else {
            Ip::V4([0; 4])
        };
        self.bind_to(any, 0)
    }

    /// Where a connect or send to `addr` goes: (destination as routed,
    /// normalized; port).
    fn destination(&self, addr: &SockAddr) -> Result<(Ip, u16), Errno> {
        let (ip, port) = self.ip_of(addr)?;
        if let Ip::V6(a) = ip {
            if mapped(&a).is_some() && self.state.lock().v6only {
                return Err(ENETUNREACH);
            }
        }
        Ok((routed(ip)?, port))
    }

    /// UDP: the host socket for outside destinations, opened on first use.
    fn host_udp(&self) -> Result<Arc<HostConn>, Errno> {
        let mut st = self.state.lock();
        if let Some(hc) = &st.host_udp {
            return Ok(hc.clone());
        }
        let hc = HostConn::open_udp(self.v6)?;
        st.host_udp = Some(hc.clone());
        Ok(hc)
    }

    /// A datagram to the host's network.
    fn send_host_udp(
        &self,
        dst: Ip,
        port: u16,
        msg: &mut OutMessage,
        waits: &mut Waits,
    ) -> Result<usize, Errno> {
        if msg.data.len() as u64 > boards::netring::DGRAM_MAX {
            return Err(EMSGSIZE);
        }
        let hc = self.host_udp()?;
        match hc.state() {
            ConnState::Pending => {
                waits.push(hc.events.clone());
                return Err(EAGAIN);
            }
            ConnState::Failed(e) => return Err(e),
            ConnState::Ready => {}
        }
        if !hc.send_to(dst, port, &msg.data) {
            waits.push(hc.events.clone());
            return Err(EAGAIN);
        }
        let n = msg.data.len();
        msg.data.clear();
        Ok(n)
    }

    /// Sets the local address for traffic to `dst` when bound to the
    /// wildcard (the loopback address, in this socket's family).
    fn fix_source(&self, dst: Ip) {
        let mut st = self.state.lock();
        if st.local.unspecified() || st.local.normalized().unspecified() {
            st.local = source_for(dst).for_family(self.v6);
        }
    }

    /// Makes the connection to `listener` for `dst`:`port`: the server end
    /// goes to its backlog. EAGAIN when the backlog is full.
    fn join(&self, listener: &Arc<InetSocket>, dst: Ip, port: u16) -> Result<(), Errno> {
        let server = InetSocket::new(listener.v6, SOCK_STREAM, 0)?;
        *server.common.lock() = listener.common.lock().clone();
        let (my_ip, my_port) = {
            let st = self.state.lock();
            (st.local.normalized(), st.port)
        };
        {
            let mut guard = listener.state.lock();
            let lst = &mut *guard;
            if lst.released {
                return Err(ECONNREFUSED);
            }
            let (lport, lnodelay) = (lst.port, lst.nodelay);
            let Tcp::Listening { backlog, pending } = &mut lst.tcp else {
                return Err(ECONNREFUSED);
            };
            if pending.len() > *backlog {
                return Err(EAGAIN);
            }
            // The server end holds the listener's port (as Linux's does).
            let server_ip = dst.for_family(listener.v6);
            let binding = server.binding(server_ip, false);
            {
                let mut table = PORTS.lock();
                table.entry((SOCK_STREAM, lport)).or_default().push(binding);
            }
            {
                let mut sst = server.state.lock();
                sst.local = server_ip;
                sst.port = lport;
                sst.remote = Some((my_ip.for_family(listener.v6), my_port));
                sst.tcp = Tcp::Connected(self.me());
                sst.nodelay = lnodelay;
            }
            pending.push_back(server.clone());
        }
        {
            let mut st = self.state.lock();
            st.remote = Some((dst.for_family(self.v6), port));
            st.tcp = Tcp::Connected(server);
            st.reset = false;
        }
        listener.changed();
        self.changed();
        Ok(())
    }

    /// A non-blocking connect waiting for backlog room: tries again.
    fn progress(&self) {
        let (listener, dst, port) = match &self.state.lock().tcp {
            Tcp::Connecting {
                listener,
                dst,
                port,
            } => (listener.upgrade(), *dst, *port),
            _ => return,
        };
        let result = match listener {
            Some(listener) => self.join(&listener, dst, port),
            None => Err(ECONNREFUSED),
        };
        match result {
            Ok(()) => {}
            Err(e) if e == EAGAIN => {}
            Err(e) => {
                let mut st = self.state.lock();
                st.tcp = Tcp::Closed;
                st.error = Some(e);
                st.reset = true;
                drop(st);
                self.changed();
            }
        }
    }

    fn peer(&self) -> Option<Arc<InetSocket>> {
        match &self.state.lock().tcp {
            Tcp::Connected(peer) => Some(peer.clone()),
            _ => None,
        }
    }

    /// Linux's udp_sendmsg corking: a send with MSG_MORE appends to one
    /// pending datagram (its destination checked and kept from the first
    /// send, later ones' ignored) that the next send without it completes
    /// and sends. Each call returns its own length; a datagram grown past
    /// the limit is EMSGSIZE and dropped.
    fn send_udp_corked(&self, msg: &mut OutMessage, waits: &mut Waits) -> Result<usize, Errno> {
        let limit = if self.v6 { UDP_MAX_V6 } else { UDP_MAX_V4 };
        let pending = self.state.lock().cork.take();
        let n = msg.data.len();
        let Some((mut data, to)) = pending else {
            if !msg.more {
                return self.send_udp(msg, waits);
            }
            match &msg.to {
                Some(addr) => {
                    self.destination(addr)?;
                }
                None => {
                    self.state.lock().remote.ok_or(EDESTADDRREQ)?;
                }
            }
            if n > limit {
                return Err(EMSGSIZE);
            }
            self.state.lock().cork = Some((core::mem::take(&mut msg.data), msg.to.take()));
            return Ok(n);
        };
        let before = data.len();
        data.extend_from_slice(&msg.data);
        if data.len() > limit {
            return Err(EMSGSIZE);
        }
        if msg.more {
            msg.data.clear();
            self.state.lock().cork = Some((data, to));
            return Ok(n);
        }
        let own_to = core::mem::replace(&mut msg.to, to.clone());
        msg.data = data;
        match self.send_udp(msg, waits) {
            Ok(_) => Ok(n),
            Err(e) => {
                // A retry after a wait (EAGAIN) builds the datagram again.
                if e == EAGAIN {
                    let own = msg.data.split_off(before);
                    let corked = core::mem::replace(&mut msg.data, own);
                    self.state.lock().cork = Some((corked, to));
                    msg.to = own_to;
                }
                Err(e)
            }
        }
    }

    fn send_udp(&self, msg: &mut OutMessage, waits: &mut Waits) -> Result<usize, Errno> {
        let limit = if self.v6 { UDP_MAX_V6 } else { UDP_MAX_V4 };
        if msg.data.len() > limit {
            return Err(EMSGSIZE);
        }
        let (dst, port) = match &msg.to {
            Some(addr) => self.destination(addr)?,
            None => {
                let remote = self.state.lock().remote.ok_or(EDESTADDRREQ)?;
                (routed(remote.0)?, remote.1)
            }
        };
        if port == 0 {
            return Err(EINVAL);
        }
        if self.state.lock().shut_wr {
            return Err(EPIPE);
        }
        if external(dst) {
            return self.send_host_udp(dst, port, msg, waits);
        }
        self.autobind()?;
        let (src, sport, connected) = {
            let st = self.state.lock();
            let src = if st.local.normalized().unspecified() {
                source_for(dst)
            } else {
                st.local.normalized()
            };
            (src, st.port, st.remote.is_some())
        };
        let n = msg.data.len();
        let receiver = lookup(SOCK_DGRAM, dst, port).into_iter().find(|r| {
            let st = r.state.lock();
            !st.released
                && st
                    .remote
                    .is_none_or(|(ip, p)| ip.normalized() == src && p == sport)
        });
        match receiver {
            Some(receiver) => {
                let from = src.for_family(receiver.v6).sockaddr(sport);
                let cap = receiver.common.lock().rcvbuf;
                receiver.rx.lock().cap = cap;
                // A full receiver drops the datagram, as UDP does.
                let _ = receiver.rx.write_record(msg, Some(from), None);
            }
            None if crate::hv::net::outbound() => {
                // Nobody in the sandbox has this loopback port: with --net
                // it is the host's.
                return self.send_host_udp(host_target(dst), port, msg, waits);
            }
            None if connected => {
                // The port unreachable answer: the next call reports it.
                self.state.lock().error = Some(ECONNREFUSED);
                self.changed();
            }
            None => {}
        }
        Ok(n)
    }

    fn send_tcp(&self, msg: &mut OutMessage, waits: &mut Waits) -> Result<usize, Errno> {
        self.progress();
        let peer = {
            let mut st = self.state.lock();
            if let Some(error) = st.error.take() {
                return Err(error);
            }
            if st.shut_wr || st.reset {
                return Err(EPIPE);
            }
            match &st.tcp {
                Tcp::Connected(peer) => peer.clone(),
                Tcp::Host(hc) => {
                    let hc = hc.clone();
                    drop(st);
                    return self.send_host(&hc, msg, waits);
                }
                Tcp::Connecting { .. } => {
                    waits.push(self.events.clone());
                    return Err(EAGAIN);
                }
                // Linux: sending on a closed TCP socket is EPIPE.
                _ => return Err(EPIPE),
            }
        };
        if msg.to.is_some() && !matches!(msg.to, Some(SockAddr::Unspec)) {
            // Linux ignores the address on a connected TCP socket.
            msg.to = None;
        }
        let tx = peer.rx.clone();
        let gone = {
            let mut st = tx.lock();
            st.cap = self.common.lock().sndbuf;
            st.reader_gone
        };
        if gone {
            // The data goes out and the closed peer answers with a reset.
            let n = msg.data.len();
            msg.data.clear();
            let mut st = self.state.lock();
            st.reset = true;
            st.error = Some(EPIPE);
            drop(st);
            self.changed();
            return Ok(n);
        }
        // MSG_MORE: hold the bytes back while they fit in a segment.
        let held_len = self.state.lock().held.len();
        if msg.more && held_len + msg.data.len() < TCP_HOLD_MAX {
            let n = msg.data.len();
            self.state.lock().held.append(&mut msg.data);
            return Ok(n);
        }
        // The held bytes go first, with these.
        let held = core::mem::take(&mut self.state.lock().held);
        let prefix = held.len();
        if prefix != 0 {
            let mut data = held;
            data.append(&mut msg.data);
            msg.data = data;
        }
        let result = tx.write_stream(msg);
        let result = match result {
            Ok(written) if written >= prefix => Ok(written - prefix),
            // Not even the held bytes all went: what is left of them stays
            // held, and none of this send's bytes went yet.
            Ok(written) => {
                let mine = msg.data.split_off(prefix - written);
                self.state.lock().held = core::mem::replace(&mut msg.data, mine);
                Err(EAGAIN)
            }
            Err(e) => {
                if prefix != 0 {
                    let mine = msg.data.split_off(prefix);
                    self.state.lock().held = core::mem::replace(&mut msg.data, mine);
                }
                Err(e)
            }
        };
        if result == Err(EAGAIN) {
            waits.push(tx.writers.clone());
            waits.push(self.events.clone());
        }
        result
    }

    /// Pushes the bytes MSG_MORE held back to the peer (the connection
    /// ends): what fits in its receive queue goes.
    fn push_held(&self, peer: &InetSocket) {
        let held = core::mem::take(&mut self.state.lock().held);
        if !held.is_empty() {
            let mut msg = OutMessage {
                data: held,
                to: None,
                rights: None,
                creds: Default::default(),
                more: false,
            };
            let _ = peer.rx.write_stream(&mut msg);
        }
    }
}

impl InetSocket {
    /// Starts a connection through a host socket.
    fn connect_host(
        &self,
        dst: Ip,
        port: u16,
        nonblocking: bool,
        waits: &mut Waits,
    ) -> Result<(), Errno> {
        let hc = HostConn::connect(dst, port)?;
        let mut st = self.state.lock();
        st.remote = Some((dst.for_family(self.v6), port));
        st.tcp = Tcp::Host(hc.clone());
        st.in_progress = true;
        drop(st);
        self.changed();
        if nonblocking {
            return Err(EINPROGRESS);
        }
        waits.push(hc.events.clone());
        Err(EAGAIN)
    }

    fn send_host(
        &self,
        hc: &Arc<HostConn>,
        msg: &mut OutMessage,
        waits: &mut Waits,
    ) -> Result<usize, Errno> {
        match hc.state() {
            ConnState::Pending => {
                waits.push(hc.events.clone());
                return Err(EAGAIN);
            }
            ConnState::Failed(_) => return Err(EPIPE),
            ConnState::Ready => {}
        }
        if hc.failed() {
            // The first failure is reported as itself, then EPIPE.
            return Err(hc.take_error().map_or(EPIPE, |e| {
                if e == ECONNRESET || e == EPIPE {
                    e
                } else {
                    EPIPE
                }
            }));
        }
        let n = hc.write(&msg.data);
        if n == 0 && !msg.data.is_empty() {
            waits.push(hc.events.clone());
            return Err(EAGAIN);
        }
        msg.data.drain(..n);
        Ok(n)
    }

    fn recv_host(
        &self,
        hc: &Arc<HostConn>,
        max: usize,
        peek: bool,
        shut_rd: bool,
        waits: &mut Waits,
    ) -> Result<InMessage, Errno> {
        if hc.state() == ConnState::Pending {
            waits.push(hc.events.clone());
            return Err(EAGAIN);
        }
        // The status first: the VMM publishes the data before the end of
        // stream, so an end seen here comes after all the data read next.
        let status = hc.view().status;
        let data = hc.read(max, peek);
        if !data.is_empty() {
            return Ok(InMessage {
                full_len: data.len(),
                data,
                ..InMessage::default()
            });
        }
        if status & boards::netring::SLOT_ERROR != 0 {
            if let Some(e) = hc.take_error() {
                return Err(e);
            }
        }
        if shut_rd || status & (boards::netring::SLOT_RX_EOF | boards::netring::SLOT_ERROR) != 0 {
            return Ok(InMessage::default());
        }
        waits.push(hc.events.clone());
        Err(EAGAIN)
    }
}

impl Socket for InetSocket {
    fn domain(&self) -> u16 {
        if self.v6 {
            AF_INET6
        } else {
            AF_INET
        }
    }
    fn sock_type(&self) -> i32 {
        self.ty
    }
    fn protocol(&self) -> i32 {
        if self.ty == SOCK_STREAM {
            IPPROTO_TCP
        } else {
            IPPROTO_UDP
        }
    }
    fn common(&self) -> &Mutex<Common> {
        &self.common
    }

    fn bind(&self, env: &mut dyn Env, addr: &SockAddr) -> Result<(), Errno> {
        let (ip, port) = self.ip_of(addr)?;
        if self.state.lock().port != 0 {
            return Err(EINVAL);
        }
        let local = match ip.normalized() {
            Ip::V4(a) => a == [0; 4] || a[0] == 127,
            Ip::V6(a) => a == [0; 16] || a == V6_LOOPBACK,
        };
        if !local {
            return Err(EADDRNOTAVAIL);
        }
        if let Ip::V6(a) = ip {
            if mapped(&a).is_some() && self.state.lock().v6only {
                return Err(EINVAL);
            }
        }
        if port != 0 && port < 1024 && !env.privileged() {
            return Err(EACCES);
        }
        self.bind_to(ip, port)
    }

    fn listen(&self, _env: &mut dyn Env, backlog: usize) -> Result<(), Errno> {
        if self.ty != SOCK_STREAM {
            return Err(EOPNOTSUPP);
        }
        let backlog = backlog.min(SOMAXCONN);
        {
            let mut guard = self.state.lock();
            let st = &mut *guard;
            match &mut st.tcp {
                Tcp::Listening { backlog: b, .. } => {
                    *b = backlog;
                    return Ok(());
                }
                Tcp::Closed if st.remote.is_none() => {}
                _ => return Err(EINVAL),
            }
        }
        self.autobind()?;
        let port = self.state.lock().port;
        set_listening(SOCK_STREAM, port, self.id, true)?;
        self.state.lock().tcp = Tcp::Listening {
            backlog,
            pending: VecDeque::new(),
        };
        self.changed();
        Ok(())
    }

    fn accept(&self, waits: &mut Waits) -> Result<Arc<dyn Socket>, Errno> {
        if self.ty != SOCK_STREAM {
            return Err(EOPNOTSUPP);
        }
        let next = match &mut self.state.lock().tcp {
            Tcp::Listening { pending, .. } => pending.pop_front(),
            _ => return Err(EINVAL),
        };
        match next {
            Some(socket) => {
                self.changed();
                Ok(socket)
            }
            None => {
                waits.push(self.events.clone());
                Err(EAGAIN)
            }
        }
    }

    fn connect(
        &self,
        _env: &mut dyn Env,
        addr: &SockAddr,
        nonblocking: bool,
        waits: &mut Waits,
    ) -> Result<(), Errno> {
        if self.ty == SOCK_DGRAM {
            if *addr == SockAddr::Unspec {
                self.state.lock().remote = None;
                self.changed();
                return Ok(());
            }
            let (dst, port) = self.destination(addr)?;
            self.autobind()?;
            if external(dst) {
                self.host_udp()?;
            } else {
                self.fix_source(dst);
            }
            let mut st = self.state.lock();
            st.remote = Some((dst.for_family(self.v6), port));
            st.error = None;
            return Ok(());
        }
        self.progress();
        {
            let mut st = self.state.lock();
            match &st.tcp {
                Tcp::Connected(_) => {
                    if core::mem::take(&mut st.in_progress) {
                        return Ok(());
                    }
                    return Err(EISCONN);
                }
                Tcp::Connecting { .. } => {
                    if nonblocking {
                        return Err(EALREADY);
                    }
                    waits.push(self.events.clone());
                    return Err(EAGAIN);
                }
                Tcp::Listening { .. } => return Err(EINVAL),
                Tcp::Host(hc) => match hc.state() {
                    ConnState::Pending if nonblocking => return Err(EALREADY),
                    ConnState::Pending => {
                        waits.push(hc.events.clone());
                        return Err(EAGAIN);
                    }
                    ConnState::Ready => {
                        if core::mem::take(&mut st.in_progress) {
                            return Ok(());
                        }
                        return Err(EISCONN);
                    }
                    ConnState::Failed(e) => {
                        st.tcp = Tcp::Closed;
                        st.remote = None;
                        if core::mem::take(&mut st.in_progress) {
                            return Err(e);
                        }
                    }
                },
                Tcp::Closed => {
                    if core::mem::take(&mut st.in_progress) {
                        if let Some(error) = st.error.take() {
                            return Err(error);
                        }
                    }
                }
            }
        }
        if *addr == SockAddr::Unspec {
            return Ok(());
        }
        let (dst, port) = self.destination(addr)?;
        if external(dst) {
            if port == 0 {
                return Err(ECONNREFUSED);
            }
            return self.connect_host(dst, port, nonblocking, waits);
        }
        let listener = if port == 0 {
            None
        } else {
            lookup(SOCK_STREAM, dst, port).into_iter().next()
        };
        if listener.is_none() && port != 0 && crate::hv::net::outbound() {
            // Nobody listens on this loopback port in the sandbox: with
            // --net it is the host's loopback port.
            return self.connect_host(host_target(dst), port, nonblocking, waits);
        }
        self.autobind()?;
        self.fix_source(dst);
        let result = match &listener {
            Some(listener) => self.join(listener, dst, port),
            None => Err(ECONNREFUSED),
        };
        match result {
            Ok(()) if nonblocking => {
                // Linux's handshake finishes after the call returns.
                self.state.lock().in_progress = true;
                Err(EINPROGRESS)
            }
            Ok(()) => Ok(()),
            Err(e) if e == EAGAIN && nonblocking => {
                let listener = listener.expect("EAGAIN comes from a listener");
                let mut st = self.state.lock();
                st.tcp = Tcp::Connecting {
                    listener: Arc::downgrade(&listener),
                    dst,
                    port,
                };
                st.in_progress = true;
                Err(EINPROGRESS)
            }
            Err(e) if e == EAGAIN => {
                let listener = listener.expect("EAGAIN comes from a listener");
                waits.push(listener.events.clone());
                Err(EAGAIN)
            }
            Err(e) if nonblocking => {
                // The refusal arrives after the call, as SO_ERROR.
                let mut st = self.state.lock();
                st.error = Some(e);
                st.reset = true;
                st.in_progress = true;
                drop(st);
                self.changed();
                Err(EINPROGRESS)
            }
            Err(e) => Err(e),
        }
    }

    fn message_limit(&self) -> Option<usize> {
        match (self.ty, self.v6) {
            (SOCK_DGRAM, false) => Some(UDP_MAX_V4),
            (SOCK_DGRAM, true) => Some(UDP_MAX_V6),
            _ => None,
        }
    }

    fn send(
        &self,
        _env: &mut dyn Env,
        msg: &mut OutMessage,
        waits: &mut Waits,
    ) -> Result<usize, Errno> {
        if msg.rights.is_some() {
            return Err(EINVAL);
        }
        if self.ty == SOCK_DGRAM {
            if let Some(error) = self.state.lock().error.take() {
                return Err(error);
            }
            self.send_udp_corked(msg, waits)
        } else {
            self.send_tcp(msg, waits)
        }
    }

    fn recv(&self, max: usize, flags: i32, waits: &mut Waits) -> Result<InMessage, Errno> {
        let peek = flags & MSG_PEEK != 0;
        if self.ty == SOCK_DGRAM {
            if let Some(error) = self.state.lock().error.take() {
                return Err(error);
            }
            if let Some(msg) = self.rx.read_record(max, peek) {
                return Ok(msg);
            }
            let host = self.state.lock().host_udp.clone();
            if let Some(hc) = &host {
                if let Some((ip, port, data, full_len)) = hc.recv_from(max, peek) {
                    return Ok(InMessage {
                        data,
                        full_len,
                        from: Some(ip.for_family(self.v6).sockaddr(port)),
                        ..InMessage::default()
                    });
                }
                waits.push(hc.events.clone());
            }
            if self.state.lock().shut_rd {
                return Ok(InMessage::default());
            }
            waits.push(self.rx.readers.clone());
            waits.push(self.events.clone());
            return Err(EAGAIN);
        }
        self.progress();
        let shut_rd = {
            let st = self.state.lock();
            match &st.tcp {
                Tcp::Connected(_) => {}
                Tcp::Host(hc) => {
                    let (hc, shut_rd) = (hc.clone(), st.shut_rd);
                    drop(st);
                    return self.recv_host(&hc, max, peek, shut_rd, waits);
                }
                Tcp::Connecting { .. } => {
                    waits.push(self.events.clone());
                    return Err(EAGAIN);
                }
                _ => return Err(ENOTCONN),
            }
            st.shut_rd
        };
        let mut msg = self.rx.read_stream(max, peek, false);
        if !msg.data.is_empty() {
            msg.from = None;
            return Ok(msg);
        }
        let mut rx = self.rx.lock();
        if let Some(error) = rx.error.take() {
            return Err(error);
        }
        if rx.eof || shut_rd || self.state.lock().reset {
            return Ok(InMessage::default());
        }
        drop(rx);
        waits.push(self.rx.readers.clone());
        waits.push(self.events.clone());
        Err(EAGAIN)
    }

    fn shutdown(&self, how: i32) -> Result<(), Errno> {
        if !(0..=2).contains(&how) {
            return Err(EINVAL);
        }
        let (rd, wr) = (how != 1, how != 0);
        let mut st = self.state.lock();
        match &st.tcp {
            Tcp::Connected(peer) => {
                let peer = peer.clone();
                st.shut_rd |= rd;
                st.shut_wr |= wr;
                drop(st);
                if wr {
                    self.push_held(&peer);
                    peer.rx.close_write();
                    peer.changed();
                }
            }
            Tcp::Host(hc) => {
                let hc = hc.clone();
                st.shut_rd |= rd;
                st.shut_wr |= wr;
                drop(st);
                if wr {
                    hc.shutdown_write();
                }
            }
            Tcp::Listening { .. } if !rd => {}
            Tcp::Listening { .. } => {
                // Linux stops listening.
                let Tcp::Listening { pending, .. } = core::mem::replace(&mut st.tcp, Tcp::Closed)
                else {
                    unreachable!()
                };
                let port = st.port;
                drop(st);
                let _ = set_listening(SOCK_STREAM, port, self.id, false);
                for socket in pending {
                    socket.release();
                }
            }
            _ if self.ty == SOCK_DGRAM => {
                if st.remote.is_none() {
                    return Err(ENOTCONN);
                }
                st.shut_rd |= rd;
                st.shut_wr |= wr;
                drop(st);
            }
            _ => return Err(ENOTCONN),
        }
        self.changed();
        self.rx.wake();
        Ok(())
    }

    fn local_addr(&self) -> SockAddr {
        let st = self.state.lock();
        if let (Tcp::Host(hc), 0) = (&st.tcp, st.port) {
            if let Some((ip, port)) = hc.local() {
                return ip.for_family(self.v6).sockaddr(port);
            }
        }
        st.local.sockaddr(st.port)
    }

    fn peer_addr(&self) -> Result<SockAddr, Errno> {
        self.progress();
        let st = self.state.lock();
        let connected = match &st.tcp {
            Tcp::Connected(_) => true,
            Tcp::Host(hc) => hc.state() == ConnState::Ready,
            _ => false,
        };
        if self.ty == SOCK_STREAM && !connected {
            return Err(ENOTCONN);
        }
        let (ip, port) = st.remote.ok_or(ENOTCONN)?;
        Ok(ip.sockaddr(port))
    }

    fn setsockopt(&self, level: i32, name: i32, value: &[u8]) -> Result<(), Errno> {
        if level == IPPROTO_TCP && self.ty != SOCK_STREAM {
            return Err(EOPNOTSUPP);
        }
        let v = int_value(value)?;
        let mut st = self.state.lock();
        match (level, name) {
            (IPPROTO_TCP, TCP_NODELAY) => st.nodelay = v != 0,
            (IPPROTO_TCP, TCP_KEEPIDLE | TCP_KEEPINTVL) if !(1..=32767).contains(&v) => {
                return Err(EINVAL)
            }
            (IPPROTO_TCP, TCP_KEEPCNT) if !(1..=127).contains(&v) => return Err(EINVAL),
            (IPPROTO_TCP, TCP_KEEPIDLE) => st.keepidle = v,
            (IPPROTO_TCP, TCP_KEEPINTVL) => st.keepintvl = v,
            (IPPROTO_TCP, TCP_KEEPCNT) => st.keepcnt = v,
            (IPPROTO_IPV6, IPV6_V6ONLY) if self.v6 => {
                if st.port != 0 {
                    return Err(EINVAL);
                }
                st.v6only = v != 0;
            }
            (IPPROTO_IPV6, IPV6_UNICAST_HOPS) if self.v6 => {
                if !(-1..=255).contains(&v) {
                    return Err(EINVAL);
                }
                st.ttl = if v == -1 { 64 } else { v };
            }
            (IPPROTO_IP, IP_TOS) if !self.v6 => st.tos = v & 0xff,
            (IPPROTO_IP, IP_TTL) if !self.v6 => {
                if !(-1..=255).contains(&v) || v == 0 {
                    return Err(EINVAL);
                }
                st.ttl = if v == -1 { 64 } else { v };
            }
            _ => return Err(ENOPROTOOPT),
        }
        Ok(())
    }

    fn getsockopt(&self, level: i32, name: i32) -> Result<Vec<u8>, Errno> {
        let st = self.state.lock();
        let v = match (level, name) {
            (IPPROTO_TCP, _) if self.ty != SOCK_STREAM => return Err(EOPNOTSUPP),
            (IPPROTO_TCP, TCP_NODELAY) => st.nodelay as i32,
            (IPPROTO_TCP, TCP_KEEPIDLE) => st.keepidle,
            (IPPROTO_TCP, TCP_KEEPINTVL) => st.keepintvl,
            (IPPROTO_TCP, TCP_KEEPCNT) => st.keepcnt,
            (IPPROTO_IPV6, IPV6_V6ONLY) if self.v6 => st.v6only as i32,
            (IPPROTO_IPV6, IPV6_UNICAST_HOPS) if self.v6 => st.ttl,
            (IPPROTO_IP, IP_TOS) if !self.v6 => st.tos,
            (IPPROTO_IP, IP_TTL) if !self.v6 => st.ttl,
            (SOL_SOCKET, SO_ACCEPTCONN) => matches!(st.tcp, Tcp::Listening { .. }) as i32,
            (SOL_SOCKET, SO_PEERCRED) => return Ok(Ucred::NONE.to_bytes()),
            // A level the protocol does not have: Linux's ip_getsockopt
            // says EOPNOTSUPP (setsockopt's ENOPROTOOPT).
            (IPPROTO_UDP, _) if self.ty == SOCK_STREAM => return Err(EOPNOTSUPP),
            (IPPROTO_IPV6, _) if !self.v6 => return Err(EOPNOTSUPP),
            (level, _)
                if !matches!(
                    level,
                    SOL_SOCKET | IPPROTO_IP | IPPROTO_IPV6 | IPPROTO_TCP | IPPROTO_UDP
                ) =>
            {
                return Err(EOPNOTSUPP)
            }
            _ => return Err(ENOPROTOOPT),
        };
        Ok(int_bytes(v))
    }

    fn take_error(&self) -> Option<Errno> {
        self.progress();
        {
            let mut st = self.state.lock();
            if let Tcp::Host(hc) = &st.tcp {
                let hc = hc.clone();
                if let ConnState::Failed(e) = hc.state() {
                    st.tcp = Tcp::Closed;
                    st.in_progress = false;
                    st.reset = true;
                    return Some(e);
                }
                if let Some(e) = hc.take_error() {
                    return Some(e);
                }
            }
        }
        let error = self.state.lock().error.take();
        error.or_else(|| self.rx.lock().error.take())
    }

    fn poll(&self, events: i16) -> i16 {
        self.progress();
        let st = self.state.lock();
        let mut mask = 0;
        if st.error.is_some() {
            mask |= POLLERR;
        }
        let (rx_data, rx_eof, rx_error) = {
            let rx = self.rx.lock();
            (!rx.segments.is_empty(), rx.eof, rx.error.is_some())
        };
        if rx_error {
            mask |= POLLERR;
        }
        if self.ty == SOCK_DGRAM {
            if rx_data
                || st
                    .host_udp
                    .as_ref()
                    .is_some_and(|hc| hc.view().rx_ready > 0)
            {
                mask |= POLLIN;
            }
            if st.shut_rd {
                mask |= POLLIN | POLLRDHUP;
            }
            if st.shut_rd && st.shut_wr {
                mask |= POLLHUP;
            }
            mask |= POLLOUT;
            return mask & (events | POLLERR | POLLHUP);
        }
        match &st.tcp {
            Tcp::Listening { pending, .. } => {
                return if pending.is_empty() {
                    0
                } else {
                    events & POLLIN
                };
            }
            Tcp::Connecting { .. } => return mask & (events | POLLERR | POLLHUP),
            Tcp::Host(hc) => match hc.state() {
                ConnState::Pending => return mask & (events | POLLERR | POLLHUP),
                ConnState::Failed(_) => mask |= POLLERR | POLLHUP | POLLOUT | POLLIN,
                ConnState::Ready => {
                    use boards::netring::{NET_BUF, SLOT_ERROR, SLOT_RX_EOF};
                    let v = hc.view();
                    let failed = v.status & SLOT_ERROR != 0;
                    if failed && hc.error_pending() {
                        mask |= POLLERR;
                    }
                    let rcv_shut = v.status & SLOT_RX_EOF != 0 || st.shut_rd || failed;
                    let snd_shut = st.shut_wr || failed;
                    if rcv_shut && snd_shut {
                        mask |= POLLHUP;
                    }
                    if rcv_shut {
                        mask |= POLLIN | POLLRDHUP;
                    }
                    if v.rx_ready > 0 {
                        mask |= POLLIN;
                    }
                    if snd_shut || v.tx_free * 3 >= NET_BUF {
                        mask |= POLLOUT;
                    }
                }
            },
            Tcp::Closed => {
                // Never connected or refused: Linux's TCP_CLOSE (a refused
                // connection is shut both ways).
                mask |= POLLHUP | POLLOUT;
                if st.reset {
                    mask |= POLLIN | POLLRDHUP;
                }
            }
            Tcp::Connected(peer) => {
                let rcv_shut = rx_eof || st.shut_rd || st.reset;
                let snd_shut = st.shut_wr || st.reset;
                if rcv_shut && snd_shut {
                    mask |= POLLHUP;
                }
                if rcv_shut {
                    mask |= POLLIN | POLLRDHUP;
                }
                if rx_data {
                    mask |= POLLIN;
                }
                if snd_shut {
                    mask |= POLLOUT;
                } else {
                    let tx = peer.rx.lock();
                    if tx.reader_gone || tx.used * 3 <= tx.cap * 2 {
                        mask |= POLLOUT;
                    }
                }
            }
        }
        mask & (events | POLLERR | POLLHUP)
    }

    fn wait_queues(&self, out: &mut Waits) {
        out.push(self.rx.readers.clone());
        out.push(self.events.clone());
        if let Some(hc) = &self.state.lock().host_udp {
            out.push(hc.events.clone());
        }
        match &self.state.lock().tcp {
            Tcp::Connected(peer) => out.push(peer.rx.writers.clone()),
            Tcp::Host(hc) => out.push(hc.events.clone()),
            Tcp::Connecting { listener, .. } => {
                if let Some(listener) = listener.upgrade() {
                    out.push(listener.events.clone());
                }
            }
            _ => {}
        }
    }

    fn activity(&self) -> u64 {
        let mut n = self.changes.load(Ordering::Relaxed) + self.rx.lock().changes;
        if let Some(peer) = self.peer() {
            n += peer.rx.lock().changes;
        }
        let st = self.state.lock();
        if let Tcp::Host(hc) = &st.tcp {
            n += hc.view().seq;
        }
        if let Some(hc) = &st.host_udp {
            n += hc.view().seq;
        }
        n
    }

    fn available(&self) -> usize {
        if let Tcp::Host(hc) = &self.state.lock().tcp {
            return hc.view().rx_ready as usize;
        }
        self.rx.available(self.ty == SOCK_STREAM)
    }

    fn release(&self) {
        let (tcp, port) = {
            let mut st = self.state.lock();
            if st.released {
                return;
            }
            st.released = true;
            if let Some(hc) = st.host_udp.take() {
                hc.release();
            }
            (core::mem::replace(&mut st.tcp, Tcp::Closed), st.port)
        };
        if port != 0 {
            unregister(self.ty, port, self.id);
        }
        let unread = self.rx.close_read();
        match tcp {
            Tcp::Listening { pending, .. } => {
                // Connections never accepted are reset.
                for socket in pending {
                    if let Some(client) = socket.peer() {
                        client.rx.set_error(ECONNRESET);
                    }
                    socket.release();
                }
            }
            Tcp::Host(hc) => hc.release(),
            Tcp::Connected(peer) => {
                self.push_held(&peer);
                peer.rx.close_write();
                // Closing with unread data sends a reset.
                if unread {
                    peer.rx.set_error(ECONNRESET);
                }
                peer.changed();
            }
            _ => {}
        }
        self.changed();
    }
}
