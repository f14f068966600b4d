//! The host network for the sandbox (`--net`, `--net-allow`, `--publish`):
//! the options, the destination policy, and the I/O thread ([`io`]) that
//! opens host sockets on the sandbox's behalf and moves their data through
//! the network ring (`boards::netring`).
//!
//! Nothing here exists unless one of the options is given: no ring, no
//! thread, no host socket, no seccomp rule for sockets.

pub mod io;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

/// One `--net-allow` rule: a network and, optionally, one port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowRule {
    pub net: IpAddr,
    pub prefix: u8,
    pub port: Option<u16>,
}

impl AllowRule {
    /// Parses `CIDR[:PORT]`: `10.0.0.0/8`, `127.0.0.1:8080`,
    /// `[::1]/128:443`, `::/0` (an IPv6 address with a port needs brackets).
    pub fn parse(s: &str) -> Result<AllowRule, String> {
        let bad =
            || format!("invalid --net-allow {s:?} (expected CIDR[:PORT], e.g. 10.0.0.0/8:443)");
        let (addr_part, port) = if let Some(rest) = s.strip_prefix('[') {
            let (inside, after) = rest.split_once(']').ok_or_else(bad)?;
            let (prefix, port) = match after.split_once(':') {
                Some((p, port)) => (p, Some(port)),
                None => (after, None),
            };
            (format!("{inside}{prefix}"), port)
        } else if s.matches(':').count() == 1 {
            let (a, p) = s.split_once(':').ok_or_else(bad)?;
            (a.to_string(), Some(p))
        } else {
            (s.to_string(), None)
        };
        let port = match port {
            Some(p) => Some(p.parse::<u16>().map_err(|_| bad())?),
            None => None,
        };
        let (addr, prefix) = match addr_part.split_once('/') {
            Some((a, p)) => (a.to_string(), Some(p.parse::<u8>().map_err(|_| bad())?)),
            None => (addr_part.clone(), None),
        };
        let net: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(bad());
        }
        Ok(AllowRule { net, prefix, port })
    }

    pub fn matches(&self, ip: IpAddr, port: u16) -> bool {
        if self.port.is_some_and(|p| p != port) {
            return false;
        }
        match (self.net, normalize(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            _ => false,
        }
    }
}

fn prefix_eq(a: &[u8], b: &[u8], prefix: u8) -> bool {
    let full = (prefix / 8) as usize;
    if a[..full] != b[..full] {
        return false;
    }
    let rest = prefix % 8;
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    a[full] & mask == b[full] & mask
}

/// v4-mapped IPv6 addresses are the IPv4 address they map.
pub fn normalize(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// One `--publish [HOST_IP:]HOST_PORT:GUEST_PORT[/udp]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Publish {
    pub host_ip: IpAddr,
    pub host_port: u16,
    pub guest_port: u16,
    pub udp: bool,
}

impl Publish {
    pub fn parse(s: &str) -> Result<Publish, String> {
        let bad =
            || format!("invalid --publish {s:?} (expected [HOST_IP:]HOST_PORT:GUEST_PORT[/udp])");
        let (spec, udp) = match s.rsplit_once('/') {
            Some((spec, "udp")) => (spec, true),
            Some((spec, "tcp")) => (spec, false),
            Some(_) => return Err(bad()),
            None => (s, false),
        };
        let (host, guest_port) = spec.rsplit_once(':').ok_or_else(bad)?;
        let guest_port: u16 = guest_port.parse().map_err(|_| bad())?;
        let (host_ip, host_port) = match host.rsplit_once(':') {
            Some((ip, port)) => {
                let ip = ip.trim_start_matches('[').trim_end_matches(']');
                (ip.parse().map_err(|_| bad())?, port)
            }
            None => (IpAddr::V4(Ipv4Addr::LOCALHOST), host),
        };
        let host_port: u16 = host_port.parse().map_err(|_| bad())?;
        if guest_port == 0 || host_port == 0 {
            return Err(bad());
        }
        if udp {
            return Err(format!(
                "--publish {s:?}: UDP ports cannot be published yet (TCP only)"
            ));
        }
        Ok(Publish {
            host_ip,
            host_port,
            guest_port,
            udp,
        })
    }
}

/// What the user opened.
#[derive(Clone, Debug, Default)]
pub struct NetConfig {
    /// `--net`: outbound connections and datagrams.
    pub outbound: bool,
    /// `--net-allow`: empty means everything.
    pub allow: Vec<AllowRule>,
    pub publish: Vec<Publish>,
}

impl NetConfig {
    /// Whether the sandbox gets a network ring at all.
    pub fn enabled(&self) -> bool {
        self.outbound || !self.publish.is_empty()
    }

    /// Whether the sandbox may reach `ip`:`port` on the host's network.
    pub fn allows(&self, ip: IpAddr, port: u16) -> bool {
        self.outbound && (self.allow.is_empty() || self.allow.iter().any(|r| r.matches(ip, port)))
    }
}

/// The host's source address towards its default route (no packet is
/// sent: a UDP socket is connected and asked its name), for the address
/// the sandbox shows on its `eth0`.
pub fn host_address() -> Ipv4Addr {
    let probe = std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.connect("192.0.2.1:9").map(|()| s))
        .and_then(|s| s.local_addr());
    match probe {
        Ok(std::net::SocketAddr::V4(a)) if !a.ip().is_unspecified() => *a.ip(),
        _ => Ipv4Addr::new(10, 0, 2, 15),
    }
}

/// The I/O thread asked for the sentry to be woken (it was idle and the
/// ring changed): the vCPU thread publishes `EVENT_NET` on its next kick.
static WAKE_GUEST: AtomicBool = AtomicBool::new(false);
/// The doorbell eventfd (-1: no network).
static DOORBELL_FD: AtomicI32 = AtomicI32::new(-1);

/// The sandbox ended: the I/O thread sends what the sandbox's sockets
/// still hold (as Linux keeps sending after a process closes a socket and
/// exits), closes them and says so.
static FINISH: AtomicBool = AtomicBool::new(false);
static FINISHED: AtomicBool = AtomicBool::new(false);

/// Called once the sandbox ended: lets the I/O thread flush what the
/// sandbox sent and close its host sockets, waiting at most `limit`.
pub fn finish(limit: std::time::Duration) {
    if DOORBELL_FD.load(Ordering::Acquire) < 0 {
        return;
    }
    FINISH.store(true, Ordering::SeqCst);
    doorbell();
    let started = std::time::Instant::now();
    while !FINISHED.load(Ordering::SeqCst) && started.elapsed() < limit {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

pub fn take_guest_wake() -> bool {
    WAKE_GUEST.swap(false, Ordering::SeqCst)
}

/// The guest rang the net doorbell and KVM has no ioeventfd for it: the
/// vCPU thread passes it on.
pub fn doorbell() {
    let fd = DOORBELL_FD.load(Ordering::Acquire);
    if fd >= 0 {
        let one = 1u64;
        // SAFETY: writes 8 bytes from a live u64 to the eventfd we own.
        unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
    }
}

pub(crate) fn set_doorbell_fd(fd: i32) {
    DOORBELL_FD.store(fd, Ordering::Release);
}

pub(crate) fn wake_guest() {
    WAKE_GUEST.store(true, Ordering::SeqCst);
    crate::vcpu::kick(crate::vcpu::KICK_NET);
}

/// The addresses of a host `sockaddr` family/bytes pair as the ring carries
/// them: (family, 16 address bytes, port).
pub fn ring_addr(addr: std::net::SocketAddr) -> (u16, [u8; 16], u16) {
    let mut bytes = [0u8; 16];
    match addr {
        std::net::SocketAddr::V4(a) => {
            bytes[..4].copy_from_slice(&a.ip().octets());
            (libc::AF_INET as u16, bytes, a.port())
        }
        std::net::SocketAddr::V6(a) => {
            bytes.copy_from_slice(&a.ip().octets());
            (libc::AF_INET6 as u16, bytes, a.port())
        }
    }
}

/// The address a ring record names, if its family is one we know.
pub fn from_ring(family: u16, addr: [u8; 16], port: u16) -> Option<std::net::SocketAddr> {
    match family as i32 {
        libc::AF_INET => {
            let ip = Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3]);
            Some(std::net::SocketAddr::new(IpAddr::V4(ip), port))
        }
        libc::AF_INET6 => Some(std::net::SocketAddr::new(
            IpAddr::V6(Ipv6Addr::from(addr)),
            port,
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_rules_parse_and_match() {
        let r = AllowRule::parse("10.0.0.0/8:443").unwrap();
        assert!(r.matches("10.1.2.3".parse().unwrap(), 443));
        assert!(!r.matches("10.1.2.3".parse().unwrap(), 80));
        assert!(!r.matches("11.1.2.3".parse().unwrap(), 443));
        assert!(r.matches("::ffff:10.9.9.9".parse().unwrap(), 443));
        let r = AllowRule::parse("127.0.0.1").unwrap();
        assert_eq!(r.prefix, 32);
        assert!(r.matches("127.0.0.1".parse().unwrap(), 1));
        assert!(!r.matches("127.0.0.2".parse().unwrap(), 1));
        let r = AllowRule::parse("[2001:db8::]/32:53").unwrap();
        assert!(r.matches("2001:db8:1::5".parse().unwrap(), 53));
        let r = AllowRule::parse("::/0").unwrap();
        assert!(r.matches("::1".parse().unwrap(), 9));
        assert!(AllowRule::parse("10.0.0.0/33").is_err());
        assert!(AllowRule::parse("nonsense").is_err());
        let r = AllowRule::parse("192.168.0.0/23").unwrap();
        assert!(r.matches("192.168.1.200".parse().unwrap(), 1));
        assert!(!r.matches("192.168.2.1".parse().unwrap(), 1));
    }

    #[test]
    fn publish_specs_parse() {
        let p = Publish::parse("8080:80").unwrap();
        assert_eq!(p.host_ip, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!((p.host_port, p.guest_port, p.udp), (8080, 80, false));
        let p = Publish::parse("0.0.0.0:9000:90").unwrap();
        assert_eq!(p.host_ip, IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        assert!(Publish::parse("80").is_err());
        assert!(Publish::parse("0:80").is_err());
        assert!(Publish::parse("1:2/sctp").is_err());
    }
}
