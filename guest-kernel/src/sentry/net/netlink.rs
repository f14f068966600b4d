//! AF_NETLINK, NETLINK_ROUTE: what getifaddrs, if_nameindex and `ip`
//! ask the kernel about the network (RTM_GETLINK, RTM_GETADDR), answered
//! from the sandbox's interface list (`super::interfaces`). Requests go to
//! the kernel (port 0) only; the replies queue on the socket as datagrams,
//! a dump's entries in one and its NLMSG_DONE in the next, as Linux sends
//! them. Nothing in the sandbox changes the network, so multicast group
//! memberships are recorded and never receive anything. Other rtnetlink
//! requests (routes, neighbours, changes) are answered with EOPNOTSUPP;
//! other netlink protocols are EPROTONOSUPPORT at socket().

use alloc::collections::BTreeSet;
use alloc::sync::Arc;
use alloc::vec::Vec;

use spin::Mutex;

use super::interfaces::{self, Interface};
use super::queue::Queue;
use super::*;
use crate::sentry::errno::*;
use crate::sentry::fd::{POLLERR, POLLIN, POLLOUT};

pub const AF_NETLINK: u16 = 16;
pub const NETLINK_ROUTE: i32 = 0;
const SOL_NETLINK: i32 = 270;

const NLMSG_HDRLEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
/// Types below this are netlink's own control messages.
const NLMSG_MIN_TYPE: u16 = 0x10;

const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_MULTI: u16 = 0x2;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP: u16 = 0x300;
/// On NLMSG_ERROR: the request's payload is left out.
const NLM_F_CAPPED: u16 = 0x100;

const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;

const IFLA_ADDRESS: u16 = 1;
const IFLA_BROADCAST: u16 = 2;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_QDISC: u16 = 6;
const IFLA_TXQLEN: u16 = 13;
const IFLA_OPERSTATE: u16 = 16;
const IFLA_LINKMODE: u16 = 17;
const IFLA_GROUP: u16 = 27;

const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_LABEL: u16 = 3;
const IFA_CACHEINFO: u16 = 6;
const IFA_FLAGS: u16 = 8;
const IFA_F_PERMANENT: u8 = 0x80;

/// Socket options at SOL_NETLINK.
const NETLINK_ADD_MEMBERSHIP: i32 = 1;
const NETLINK_DROP_MEMBERSHIP: i32 = 2;
const NETLINK_PKTINFO: i32 = 3;
const NETLINK_BROADCAST_ERROR: i32 = 4;
const NETLINK_NO_ENOBUFS: i32 = 5;
const NETLINK_LISTEN_ALL_NSID: i32 = 8;
const NETLINK_LIST_MEMBERSHIPS: i32 = 9;
const NETLINK_CAP_ACK: i32 = 10;
const NETLINK_EXT_ACK: i32 = 11;
const NETLINK_GET_STRICT_CHK: i32 = 12;

/// Groups rtnetlink has (RTNLGRP_MAX).
const GROUPS: u32 = 37;

/// Port ids in use: a bound socket's is unique, as on Linux.
static PORTS: Mutex<BTreeSet<u32>> = Mutex::new(BTreeSet::new());
/// Where autobinding looks next after the first socket of a process took
/// its pid: downwards from -4096, as Linux's rover.
static ROVER: Mutex<u32> = Mutex::new(-4096i32 as u32);

struct State {
    /// The port id (0 until bound or autobound).
    port: u32,
    /// Multicast groups joined (bit n-1 for group n).
    groups: u64,
    /// The boolean options at SOL_NETLINK, by option number.
    options: u32,
    error: Option<Errno>,
    released: bool,
}

pub struct NetlinkSocket {
    ty: i32,
    common: Mutex<Common>,
    state: Mutex<State>,
    rx: Arc<Queue>,
}

impl NetlinkSocket {
    pub fn new(ty: i32, protocol: i32) -> Result<Arc<NetlinkSocket>, Errno> {
        if ty != SOCK_RAW && ty != SOCK_DGRAM {
            return Err(ESOCKTNOSUPPORT);
        }
        if protocol != NETLINK_ROUTE {
            return Err(EPROTONOSUPPORT);
        }
        Ok(Arc::new(NetlinkSocket {
            ty,
            common: Mutex::new(Common::default()),
            state: Mutex::new(State {
                port: 0,
                groups: 0,
                options: 0,
                error: None,
                released: false,
            }),
            rx: Queue::new(DEFAULT_BUFFER),
        }))
    }

    /// Takes `port` (0: the caller's pid if free, else the next free one
    /// below -4096).
    fn bind_port(&self, env: &dyn Env, port: u32) -> Result<u32, Errno> {
        let mut st = self.state.lock();
        if st.port != 0 {
            return if port == 0 || port == st.port {
                Ok(st.port)
            } else {
                Err(EINVAL)
            };
        }
        let mut ports = PORTS.lock();
        let chosen = if port != 0 {
            if ports.contains(&port) {
                return Err(EADDRINUSE);
            }
            port
        } else {
            let pid = env.peer_creds().pid as u32;
            if pid != 0 && !ports.contains(&pid) {
                pid
            } else {
                let mut rover = ROVER.lock();
                while ports.contains(&*rover) {
                    *rover = rover.wrapping_sub(1);
                }
                *rover
            }
        };
        ports.insert(chosen);
        st.port = chosen;
        Ok(chosen)
    }

    fn option(&self, name: i32) -> bool {
        self.state.lock().options & (1 << name) != 0
    }

    /// Queues one datagram of replies; a full queue drops it and leaves
    /// ENOBUFS for the reader, as Linux's overrun does.
    fn deliver(&self, data: Vec<u8>) {
        if data.is_empty() {
            return;
        }
        let mut msg = OutMessage {
            data,
            to: None,
            rights: None,
            creds: Ucred {
                pid: 0,
                uid: 0,
                gid: 0,
            },
            more: false,
        };
        let kernel = Some(SockAddr::Netlink { port: 0, groups: 0 });
        if self.rx.write_record(&mut msg, kernel, None).is_err() && !self.option(NETLINK_NO_ENOBUFS)
        {
            self.state.lock().error = Some(ENOBUFS);
            self.rx.readers.wake_all();
        }
    }

    /// Queues a message from the kernel as it is, without a netlink
    /// header (Linux's netlink_sendskb of mq_notify's cookie).
    pub fn deliver_raw(&self, data: Vec<u8>) {
        self.deliver(data);
    }

    /// Answers the requests in one sent buffer.
    fn process(&self, data: &[u8]) {
        let port = self.state.lock().port;
        let cap_ack = self.option(NETLINK_CAP_ACK);
        let mut at = 0;
        while data.len() - at >= NLMSG_HDRLEN {
            let hdr = Header::parse(&data[at..]);
            let len = hdr.len as usize;
            if len < NLMSG_HDRLEN || len > data.len() - at {
                break;
            }
            let message = &data[at..at + len];
            let payload = &message[NLMSG_HDRLEN..];
            at += align(len).min(data.len() - at);
            let reply = Reply { port, seq: hdr.seq };
            if hdr.flags & NLM_F_REQUEST == 0 || hdr.ty < NLMSG_MIN_TYPE {
                // Not a request: nothing to do but the ack asked for.
                if hdr.flags & NLM_F_ACK != 0 {
                    self.deliver(reply.error(0, message, cap_ack));
                }
                continue;
            }
            let dump = hdr.flags & NLM_F_DUMP == NLM_F_DUMP;
            let result = match (hdr.ty, dump) {
                (RTM_GETLINK, true) => Ok(reply.dump(interfaces::list().iter().map(link))),
                (RTM_GETLINK, false) => get_link(payload).map(|i| reply.one(&link(&i))),
                (RTM_GETADDR, true) => {
                    let family = payload.first().copied().unwrap_or(0) as u16;
                    let entries = interfaces::list()
                        .iter()
                        .flat_map(|i| addresses(i, family))
                        .collect::<Vec<_>>();
                    Ok(reply.dump(entries.into_iter()))
                }
                _ => Err(EOPNOTSUPP),
            };
            match result {
                Ok(datagrams) => {
                    for datagram in datagrams {
                        self.deliver(datagram);
                    }
                    if !dump && hdr.flags & NLM_F_ACK != 0 {
                        self.deliver(reply.error(0, message, cap_ack));
                    }
                }
                Err(e) => self.deliver(reply.error(e.0, message, cap_ack)),
            }
        }
    }
}

fn align(len: usize) -> usize {
    (len + 3) & !3
}

struct Header {
    len: u32,
    ty: u16,
    flags: u16,
    seq: u32,
}

impl Header {
    fn parse(bytes: &[u8]) -> Header {
        let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap());
        Header {
            len: u32_at(0),
            ty: u16::from_le_bytes([bytes[4], bytes[5]]),
            flags: u16::from_le_bytes([bytes[6], bytes[7]]),
            seq: u32_at(8),
        }
    }
}

/// A reply message under construction: type and body, attributes added.
struct Message {
    ty: u16,
    body: Vec<u8>,
}

impl Message {
    fn new(ty: u16, header: &[u8]) -> Message {
        Message {
            ty,
            body: header.to_vec(),
        }
    }

    fn attr(mut self, ty: u16, value: &[u8]) -> Message {
        let len = 4 + value.len();
        self.body.extend_from_slice(&(len as u16).to_le_bytes());
        self.body.extend_from_slice(&ty.to_le_bytes());
        self.body.extend_from_slice(value);
        self.body.resize(align(self.body.len()), 0);
        self
    }

    fn attr_u32(self, ty: u16, value: u32) -> Message {
        self.attr(ty, &value.to_le_bytes())
    }

    fn attr_str(self, ty: u16, value: &str) -> Message {
        let mut bytes = value.as_bytes().to_vec();
        bytes.push(0);
        self.attr(ty, &bytes)
    }
}

/// Where replies to one request go: the requester's port and sequence.
struct Reply {
    port: u32,
    seq: u32,
}

impl Reply {
    fn put(&self, out: &mut Vec<u8>, ty: u16, flags: u16, body: &[u8]) {
        let len = NLMSG_HDRLEN + body.len();
        out.extend_from_slice(&(len as u32).to_le_bytes());
        out.extend_from_slice(&ty.to_le_bytes());
        out.extend_from_slice(&flags.to_le_bytes());
        out.extend_from_slice(&self.seq.to_le_bytes());
        out.extend_from_slice(&self.port.to_le_bytes());
        out.extend_from_slice(body);
        out.resize(align(out.len()), 0);
    }

    /// A dump: the entries in one datagram, NLMSG_DONE in the next.
    fn dump(&self, entries: impl Iterator<Item = Message>) -> Vec<Vec<u8>> {
        let mut first = Vec::new();
        for m in entries {
            self.put(&mut first, m.ty, NLM_F_MULTI, &m.body);
        }
        let mut done = Vec::new();
        self.put(&mut done, NLMSG_DONE, NLM_F_MULTI, &0i32.to_le_bytes());
        alloc::vec![first, done]
    }

    fn one(&self, m: &Message) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        self.put(&mut out, m.ty, 0, &m.body);
        alloc::vec![out]
    }

    /// NLMSG_ERROR (an ack when `errno` is 0): the request's header, and
    /// its payload too for an error unless NETLINK_CAP_ACK.
    fn error(&self, errno: i32, request: &[u8], cap_ack: bool) -> Vec<u8> {
        let mut body = (-errno).to_le_bytes().to_vec();
        let capped = errno == 0 || cap_ack;
        body.extend_from_slice(if capped {
            &request[..NLMSG_HDRLEN]
        } else {
            request
        });
        let mut out = Vec::new();
        let flags = if capped { NLM_F_CAPPED } else { 0 };
        self.put(&mut out, NLMSG_ERROR, flags, &body);
        out
    }
}

/// RTM_NEWLINK for an interface.
fn link(i: &Interface) -> Message {
    // struct ifinfomsg: family, pad, type, index, flags, change.
    let mut header = alloc::vec![0u8, 0];
    header.extend_from_slice(&i.link_type.to_le_bytes());
    header.extend_from_slice(&(i.index as i32).to_le_bytes());
    header.extend_from_slice(&i.flags.to_le_bytes());
    header.extend_from_slice(&0u32.to_le_bytes());
    let mut m = Message::new(RTM_NEWLINK, &header)
        .attr_str(IFLA_IFNAME, i.name)
        .attr_u32(IFLA_TXQLEN, i.txqlen)
        // IF_OPER_UNKNOWN, as Linux shows for lo and tun devices.
        .attr(IFLA_OPERSTATE, &[0])
        .attr(IFLA_LINKMODE, &[0])
        .attr_u32(IFLA_MTU, i.mtu)
        .attr_u32(IFLA_GROUP, 0)
        .attr_str(IFLA_QDISC, i.qdisc);
    if let Some(hw) = i.hwaddr {
        m = m.attr(IFLA_ADDRESS, &hw).attr(IFLA_BROADCAST, &hw);
    }
    m
}

/// RTM_NEWADDR entries for an interface's addresses of `family`
/// (AF_UNSPEC: all).
fn addresses(i: &Interface, family: u16) -> Vec<Message> {
    let mut out = Vec::new();
    // struct ifaddrmsg: family, prefixlen, flags, scope, index.
    let header = |fam: u16, prefix: u8| {
        let mut h = alloc::vec![fam as u8, prefix, IFA_F_PERMANENT, i.scope()];
        h.extend_from_slice(&i.index.to_le_bytes());
        h
    };
    // struct ifa_cacheinfo: preferred and valid lifetimes forever, the
    // creation and update times (hundredths of a second since boot: 0).
    let mut forever = Vec::new();
    for v in [u32::MAX, u32::MAX, 0, 0] {
        forever.extend_from_slice(&v.to_le_bytes());
    }
    if let Some((addr, prefix)) = i.ipv4 {
        if family == AF_UNSPEC || family == AF_INET {
            out.push(
                Message::new(RTM_NEWADDR, &header(AF_INET, prefix))
                    .attr(IFA_ADDRESS, &addr)
                    .attr(IFA_LOCAL, &addr)
                    .attr_str(IFA_LABEL, i.name)
                    .attr_u32(IFA_FLAGS, IFA_F_PERMANENT as u32)
                    .attr(IFA_CACHEINFO, &forever),
            );
        }
    }
    if let Some((addr, prefix)) = i.ipv6 {
        if family == AF_UNSPEC || family == AF_INET6 {
            out.push(
                Message::new(RTM_NEWADDR, &header(AF_INET6, prefix))
                    .attr(IFA_ADDRESS, &addr)
                    .attr(IFA_CACHEINFO, &forever)
                    .attr_u32(IFA_FLAGS, IFA_F_PERMANENT as u32),
            );
        }
    }
    out
}

/// RTM_GETLINK for one interface: by ifi_index, else by IFLA_IFNAME.
fn get_link(payload: &[u8]) -> Result<Interface, Errno> {
    const IFINFOMSG_LEN: usize = 16;
    if payload.len() < IFINFOMSG_LEN {
        return Err(EINVAL);
    }
    let index = i32::from_le_bytes(payload[4..8].try_into().unwrap());
    if index > 0 {
        return interfaces::by_index(index as u32).ok_or(ENODEV);
    }
    let mut at = IFINFOMSG_LEN;
    while payload.len() - at >= 4 {
        let len = u16::from_le_bytes([payload[at], payload[at + 1]]) as usize;
        let ty = u16::from_le_bytes([payload[at + 2], payload[at + 3]]);
        if len < 4 || len > payload.len() - at {
            return Err(EINVAL);
        }
        if ty == IFLA_IFNAME {
            let value = &payload[at + 4..at + len];
            let name = value.split(|&b| b == 0).next().unwrap_or(&[]);
            return interfaces::by_name(name).ok_or(ENODEV);
        }
        at += align(len).min(payload.len() - at);
    }
    Err(EINVAL)
}

impl Socket for NetlinkSocket {
    fn domain(&self) -> u16 {
        AF_NETLINK
    }
    fn sock_type(&self) -> i32 {
        self.ty
    }
    fn protocol(&self) -> i32 {
        NETLINK_ROUTE
    }
    fn common(&self) -> &Mutex<Common> {
        &self.common
    }

    fn bind(&self, env: &mut dyn Env, addr: &SockAddr) -> Result<(), Errno> {
        let SockAddr::Netlink { port, groups } = *addr else {
            return Err(EINVAL);
        };
        // Anyone may join NETLINK_ROUTE's groups, as on Linux.
        self.bind_port(env, port)?;
        self.state.lock().groups |= groups as u64;
        Ok(())
    }

    fn listen(&self, _env: &mut dyn Env, _backlog: usize) -> Result<(), Errno> {
        Err(EOPNOTSUPP)
    }

    fn accept(&self, _waits: &mut Waits) -> Result<Arc<dyn Socket>, Errno> {
        Err(EOPNOTSUPP)
    }

    fn connect(
        &self,
        env: &mut dyn Env,
        addr: &SockAddr,
        _nonblocking: bool,
        _waits: &mut Waits,
    ) -> Result<(), Errno> {
        match addr {
            SockAddr::Unspec => Ok(()),
            SockAddr::Netlink { port: 0, .. } => self.bind_port(env, 0).map(|_| ()),
            // Only the kernel answers in the sandbox: no other port exists
            // to send to.
            SockAddr::Netlink { .. } => Err(ECONNREFUSED),
            _ => Err(EINVAL),
        }
    }

    fn message_limit(&self) -> Option<usize> {
        Some(self.common.lock().sndbuf)
    }

    fn send(
        &self,
        env: &mut dyn Env,
        msg: &mut OutMessage,
        _waits: &mut Waits,
    ) -> Result<usize, Errno> {
        match &msg.to {
            None | Some(SockAddr::Netlink { port: 0, .. }) => {}
            Some(SockAddr::Netlink { .. }) => return Err(ECONNREFUSED),
            Some(_) => return Err(EINVAL),
        }
        if msg.rights.is_some() {
            return Err(EINVAL);
        }
        self.bind_port(env, 0)?;
        let data = core::mem::take(&mut msg.data);
        self.process(&data);
        Ok(data.len())
    }

    fn recv(&self, max: usize, flags: i32, waits: &mut Waits) -> Result<InMessage, Errno> {
        if let Some(e) = self.state.lock().error.take() {
            return Err(e);
        }
        match self.rx.read_record(max, flags & MSG_PEEK != 0) {
            Some(msg) => Ok(InMessage { creds: None, ..msg }),
            None => {
                waits.push(self.rx.readers.clone());
                Err(EAGAIN)
            }
        }
    }

    fn shutdown(&self, _how: i32) -> Result<(), Errno> {
        Err(EOPNOTSUPP)
    }

    fn local_addr(&self) -> SockAddr {
        let st = self.state.lock();
        SockAddr::Netlink {
            port: st.port,
            groups: st.groups as u32,
        }
    }

    fn peer_addr(&self) -> Result<SockAddr, Errno> {
        Ok(SockAddr::Netlink { port: 0, groups: 0 })
    }

    fn setsockopt(&self, level: i32, name: i32, value: &[u8]) -> Result<(), Errno> {
        if level != SOL_NETLINK {
            return Err(ENOPROTOOPT);
        }
        let v = int_value(value)?;
        let mut st = self.state.lock();
        match name {
            NETLINK_ADD_MEMBERSHIP | NETLINK_DROP_MEMBERSHIP => {
                let group = v as u32;
                if group == 0 || group > GROUPS {
                    return Err(EINVAL);
                }
                let bit = 1u64 << (group - 1);
                if name == NETLINK_ADD_MEMBERSHIP {
                    st.groups |= bit;
                } else {
                    st.groups &= !bit;
                }
            }
            NETLINK_PKTINFO
            | NETLINK_BROADCAST_ERROR
            | NETLINK_NO_ENOBUFS
            | NETLINK_LISTEN_ALL_NSID
            | NETLINK_CAP_ACK
            | NETLINK_EXT_ACK
            | NETLINK_GET_STRICT_CHK => {
                if v != 0 {
                    st.options |= 1 << name;
                } else {
                    st.options &= !(1 << name);
                }
            }
            _ => return Err(ENOPROTOOPT),
        }
        Ok(())
    }

    fn getsockopt(&self, level: i32, name: i32) -> Result<Vec<u8>, Errno> {
        if level != SOL_NETLINK {
            return Err(ENOPROTOOPT);
        }
        let st = self.state.lock();
        match name {
            NETLINK_LIST_MEMBERSHIPS => Ok((st.groups as u32).to_le_bytes().to_vec()),
            NETLINK_PKTINFO
            | NETLINK_BROADCAST_ERROR
            | NETLINK_NO_ENOBUFS
            | NETLINK_LISTEN_ALL_NSID
            | NETLINK_CAP_ACK
            | NETLINK_EXT_ACK
            | NETLINK_GET_STRICT_CHK => Ok(int_bytes((st.options >> name & 1) as i32)),
            _ => Err(ENOPROTOOPT),
        }
    }

    fn take_error(&self) -> Option<Errno> {
        self.state.lock().error.take()
    }

    fn poll(&self, events: i16) -> i16 {
        let mut ready = POLLOUT;
        if !self.rx.lock().segments.is_empty() {
            ready |= POLLIN;
        }
        if self.state.lock().error.is_some() {
            ready |= POLLERR;
        }
        ready & (events | POLLERR)
    }

    fn wait_queues(&self, out: &mut Waits) {
        out.push(self.rx.readers.clone());
    }

    fn activity(&self) -> u64 {
        self.rx.lock().changes
    }

    fn available(&self) -> usize {
        self.rx.available(false)
    }

    fn as_netlink(&self) -> Option<&NetlinkSocket> {
        Some(self)
    }

    fn release(&self) {
        let port = {
            let mut st = self.state.lock();
            if st.released {
                return;
            }
            st.released = true;
            st.port
        };
        if port != 0 {
            PORTS.lock().remove(&port);
        }
    }
}
