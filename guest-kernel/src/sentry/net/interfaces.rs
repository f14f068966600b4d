//! The sandbox's network interfaces, as netlink (`super::netlink`), the
//! interface ioctls (SIOCGIF*) and /proc/net/dev show them: `lo` always,
//! and with `--net` a point-to-point `eth0` standing for the host's
//! reachability (no hardware address: traffic leaves through host sockets
//! the VMM holds, not as frames), addressed with the host's source address
//! towards its default route (`BootInfo::net_addr`). Nothing here changes
//! at run time: there is no configuring of interfaces in the sandbox.

use alloc::vec::Vec;

/// `ifi_flags` / SIOCGIFFLAGS bits.
pub const IFF_UP: u32 = 0x1;
pub const IFF_LOOPBACK: u32 = 0x8;
pub const IFF_POINTOPOINT: u32 = 0x10;
pub const IFF_RUNNING: u32 = 0x40;
pub const IFF_NOARP: u32 = 0x80;
pub const IFF_LOWER_UP: u32 = 0x1_0000;

/// ARPHRD_* link types.
pub const ARPHRD_LOOPBACK: u16 = 772;
pub const ARPHRD_NONE: u16 = 0xfffe;

pub struct Interface {
    pub index: u32,
    pub name: &'static str,
    pub link_type: u16,
    pub flags: u32,
    pub mtu: u32,
    pub txqlen: u32,
    pub qdisc: &'static str,
    /// The link-layer address and broadcast address (none for eth0).
    pub hwaddr: Option<[u8; 6]>,
    /// IPv4 address and prefix length.
    pub ipv4: Option<([u8; 4], u8)>,
    /// IPv6 address and prefix length.
    pub ipv6: Option<([u8; 16], u8)>,
}

impl Interface {
    /// RT_SCOPE_HOST for the loopback's addresses, RT_SCOPE_UNIVERSE else.
    pub fn scope(&self) -> u8 {
        if self.flags & IFF_LOOPBACK != 0 {
            254
        } else {
            0
        }
    }
}

/// The interfaces, by index.
pub fn list() -> Vec<Interface> {
    let mut out = alloc::vec![Interface {
        index: 1,
        name: "lo",
        link_type: ARPHRD_LOOPBACK,
        flags: IFF_UP | IFF_LOOPBACK | IFF_RUNNING | IFF_LOWER_UP,
        mtu: 65536,
        txqlen: 1000,
        qdisc: "noqueue",
        hwaddr: Some([0; 6]),
        ipv4: Some(([127, 0, 0, 1], 8)),
        ipv6: Some(([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 128)),
    }];
    if crate::hv::net::outbound() {
        out.push(Interface {
            index: 2,
            name: "eth0",
            link_type: ARPHRD_NONE,
            flags: IFF_UP | IFF_POINTOPOINT | IFF_RUNNING | IFF_NOARP | IFF_LOWER_UP,
            mtu: 1500,
            txqlen: 500,
            qdisc: "noqueue",
            hwaddr: None,
            ipv4: Some((crate::hv::net::host_address(), 32)),
            ipv6: None,
        });
    }
    out
}

pub fn by_name(name: &[u8]) -> Option<Interface> {
    list().into_iter().find(|i| i.name.as_bytes() == name)
}

pub fn by_index(index: u32) -> Option<Interface> {
    list().into_iter().find(|i| i.index == index)
}

/// The netmask of a prefix length.
pub fn v4_mask(prefix: u8) -> [u8; 4] {
    let bits = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix.min(32) as u32)
    };
    bits.to_be_bytes()
}

pub const SIOCGIFNAME: u64 = 0x8910;
pub const SIOCGIFCONF: u64 = 0x8912;
const SIOCGIFFLAGS: u64 = 0x8913;
pub const SIOCSIFFLAGS: u64 = 0x8914;
const SIOCGIFADDR: u64 = 0x8915;
const SIOCGIFDSTADDR: u64 = 0x8917;
const SIOCGIFBRDADDR: u64 = 0x8919;
const SIOCGIFNETMASK: u64 = 0x891b;
const SIOCGIFMETRIC: u64 = 0x891d;
const SIOCGIFMTU: u64 = 0x8921;
const SIOCGIFHWADDR: u64 = 0x8927;
const SIOCGIFINDEX: u64 = 0x8933;
const SIOCGIFTXQLEN: u64 = 0x8942;

/// sizeof(struct ifreq): the name, then a 24-byte union.
pub const IFREQ_LEN: usize = 40;
const IFNAMSIZ: usize = 16;

/// Whether `request` is an interface query this module answers.
pub fn is_interface_request(request: u64) -> bool {
    matches!(
        request,
        SIOCGIFNAME
            | SIOCGIFFLAGS
            | SIOCGIFADDR
            | SIOCGIFDSTADDR
            | SIOCGIFBRDADDR
            | SIOCGIFNETMASK
            | SIOCGIFMETRIC
            | SIOCGIFMTU
            | SIOCGIFHWADDR
            | SIOCGIFINDEX
            | SIOCGIFTXQLEN
    )
}

/// SIOCSIFFLAGS with `ifreq` (read from user memory): EPERM without
/// CAP_NET_ADMIN, ENODEV for an unknown interface; the sandbox's
/// interfaces are fixed, so only their present flags can be "set" (a
/// change is EPERM, as a network namespace one may not administer).
pub fn set_flags(ifreq: &[u8; IFREQ_LEN], admin: bool) -> Result<(), crate::sentry::errno::Errno> {
    use crate::sentry::errno::*;
    if !admin {
        return Err(EPERM);
    }
    let (name, value) = ifreq.split_at(IFNAMSIZ);
    let len = name.iter().position(|&b| b == 0).unwrap_or(IFNAMSIZ);
    let i = by_name(&name[..len]).ok_or(ENODEV)?;
    let wanted = u16::from_le_bytes([value[0], value[1]]);
    if wanted != i.flags as u16 {
        return Err(EPERM);
    }
    Ok(())
}

/// A struct sockaddr_in holding `addr` (port 0).
fn sockaddr_in(addr: [u8; 4]) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..2].copy_from_slice(&2u16.to_le_bytes());
    out[4..8].copy_from_slice(&addr);
    out
}

/// Answers one SIOCGIF* query in `ifreq` (struct ifreq, read and written
/// in place): ENODEV for an unknown interface, EADDRNOTAVAIL for an
/// address it does not have.
pub fn query(request: u64, ifreq: &mut [u8; IFREQ_LEN]) -> Result<(), crate::sentry::errno::Errno> {
    use crate::sentry::errno::*;
    let (name, value) = ifreq.split_at_mut(IFNAMSIZ);
    if request == SIOCGIFNAME {
        let index = i32::from_le_bytes(value[..4].try_into().unwrap());
        let i = u32::try_from(index).ok().and_then(by_index).ok_or(ENODEV)?;
        name.fill(0);
        name[..i.name.len()].copy_from_slice(i.name.as_bytes());
        return Ok(());
    }
    let len = name.iter().position(|&b| b == 0).unwrap_or(IFNAMSIZ);
    let i = by_name(&name[..len]).ok_or(ENODEV)?;
    let int = |value: &mut [u8], v: i32| value[..4].copy_from_slice(&v.to_le_bytes());
    match request {
        SIOCGIFFLAGS => value[..2].copy_from_slice(&(i.flags as u16).to_le_bytes()),
        SIOCGIFINDEX => int(value, i.index as i32),
        SIOCGIFMTU => int(value, i.mtu as i32),
        SIOCGIFMETRIC => int(value, 0),
        SIOCGIFTXQLEN => int(value, i.txqlen as i32),
        SIOCGIFHWADDR => {
            value[..16].fill(0);
            value[..2].copy_from_slice(&i.link_type.to_le_bytes());
            value[2..8].copy_from_slice(&i.hwaddr.unwrap_or([0; 6]));
        }
        SIOCGIFADDR | SIOCGIFNETMASK | SIOCGIFBRDADDR | SIOCGIFDSTADDR => {
            let (addr, prefix) = i.ipv4.ok_or(EADDRNOTAVAIL)?;
            let shown = match request {
                SIOCGIFADDR => addr,
                SIOCGIFNETMASK => v4_mask(prefix),
                // A point-to-point link's peer: none known but itself.
                SIOCGIFDSTADDR if i.flags & IFF_POINTOPOINT != 0 => addr,
                // No broadcast addresses: lo and eth0 have no IFF_BROADCAST.
                _ => [0; 4],
            };
            value[..16].copy_from_slice(&sockaddr_in(shown));
        }
        _ => return Err(EINVAL),
    }
    Ok(())
}

/// SIOCGIFCONF's entries: one struct ifreq per interface with an IPv4
/// address.
pub fn conf_entries() -> Vec<[u8; IFREQ_LEN]> {
    list()
        .iter()
        .filter_map(|i| {
            let (addr, _) = i.ipv4?;
            let mut entry = [0u8; IFREQ_LEN];
            entry[..i.name.len()].copy_from_slice(i.name.as_bytes());
            entry[IFNAMSIZ..IFNAMSIZ + 16].copy_from_slice(&sockaddr_in(addr));
            Some(entry)
        })
        .collect()
}
