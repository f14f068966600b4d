//! Sockets: the [`Socket`] object every socket implements, the open file
//! that carries one ([`SocketFile`]), socket addresses, and the options
//! all families share.
//!
//! Families: [`unix`] (AF_UNIX stream, datagram and seqpacket),
//! [`inet`] (AF_INET/AF_INET6 TCP and UDP between processes of the
//! sandbox, over loopback) and [`netlink`] (NETLINK_ROUTE's queries about
//! the [`interfaces`]). Both keep data in [`queue::Queue`]s in the
//! sentry's memory; a socket backed by a host socket (through the VMM)
//! would be one more implementation of [`Socket`].
//!
//! The objects never block: an operation that must wait returns EAGAIN
//! and names the wait queues to wait on; the syscall layer
//! (`syscalls::socket`) waits with `signal::wait` and tries again, as it
//! does for pipes.

pub mod host;
pub mod inet;
pub mod interfaces;
pub mod netlink;
pub mod queue;
pub mod unix;

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::any::Any;
use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;

use crate::sentry::errno::*;
use crate::sentry::fd::{File, OpenFile};
use crate::sentry::stat::{Stat, S_IFSOCK};
use crate::sentry::wait::WaitQueue;

pub const AF_UNSPEC: u16 = 0;
pub const AF_UNIX: u16 = 1;
pub const AF_INET: u16 = 2;
pub const AF_INET6: u16 = 10;

pub const SOCK_STREAM: i32 = 1;
pub const SOCK_DGRAM: i32 = 2;
pub const SOCK_RAW: i32 = 3;
pub const SOCK_SEQPACKET: i32 = 5;

pub const SOL_SOCKET: i32 = 1;
pub const SO_DEBUG: i32 = 1;
pub const SO_REUSEADDR: i32 = 2;
pub const SO_TYPE: i32 = 3;
pub const SO_ERROR: i32 = 4;
pub const SO_DONTROUTE: i32 = 5;
pub const SO_BROADCAST: i32 = 6;
pub const SO_SNDBUF: i32 = 7;
pub const SO_RCVBUF: i32 = 8;
pub const SO_KEEPALIVE: i32 = 9;
pub const SO_OOBINLINE: i32 = 10;
pub const SO_PRIORITY: i32 = 12;
pub const SO_LINGER: i32 = 13;
pub const SO_REUSEPORT: i32 = 15;
pub const SO_PASSCRED: i32 = 16;
pub const SO_PEERCRED: i32 = 17;
pub const SO_RCVLOWAT: i32 = 18;
pub const SO_SNDLOWAT: i32 = 19;
pub const SO_RCVTIMEO_OLD: i32 = 20;
pub const SO_SNDTIMEO_OLD: i32 = 21;
pub const SO_ACCEPTCONN: i32 = 30;
pub const SO_SNDBUFFORCE: i32 = 32;
pub const SO_RCVBUFFORCE: i32 = 33;
pub const SO_PROTOCOL: i32 = 38;
pub const SO_DOMAIN: i32 = 39;
pub const SO_RCVTIMEO_NEW: i32 = 66;
pub const SO_SNDTIMEO_NEW: i32 = 67;

pub const MSG_OOB: i32 = 1;
pub const MSG_PEEK: i32 = 2;
pub const MSG_CTRUNC: i32 = 8;
pub const MSG_TRUNC: i32 = 0x20;
pub const MSG_DONTWAIT: i32 = 0x40;
pub const MSG_WAITALL: i32 = 0x100;
pub const MSG_ERRQUEUE: i32 = 0x2000;
pub const MSG_NOSIGNAL: i32 = 0x4000;
pub const MSG_MORE: i32 = 0x8000;
pub const MSG_WAITFORONE: i32 = 0x10000;
pub const MSG_CMSG_CLOEXEC: i32 = 0x4000_0000;

pub const POLLRDHUP: i16 = 0x2000;

/// Linux's default and largest socket buffer (net.core.wmem_default,
/// rmem_max: 212992 bytes). A socket's queue never holds more.
pub const DEFAULT_BUFFER: usize = 212_992;
const MIN_SNDBUF: usize = 4608;
const MIN_RCVBUF: usize = 2304;
/// SOMAXCONN: the largest listen backlog.
pub const SOMAXCONN: usize = 4096;

/// A process's credentials as sockets carry them (struct ucred).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Ucred {
    pub pid: i32,
    pub uid: u32,
    pub gid: u32,
}

impl Ucred {
    pub fn to_bytes(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(12);
        out.extend_from_slice(&self.pid.to_le_bytes());
        out.extend_from_slice(&self.uid.to_le_bytes());
        out.extend_from_slice(&self.gid.to_le_bytes());
        out
    }

    /// What SO_PEERCRED reports for a socket with no peer credentials.
    pub const NONE: Ucred = Ucred {
        pid: 0,
        uid: u32::MAX,
        gid: u32::MAX,
    };
}

/// An AF_UNIX name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UnixName {
    Unnamed,
    Path(Vec<u8>),
    /// The abstract namespace (a leading NUL; the name is the bytes after).
    Abstract(Vec<u8>),
}

/// A socket address as the sentry keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SockAddr {
    Unspec,
    Unix(UnixName),
    V4([u8; 4], u16),
    V6 {
        addr: [u8; 16],
        port: u16,
        flowinfo: u32,
        scope: u32,
    },
    /// struct sockaddr_nl: a port id (0: the kernel) and multicast groups.
    Netlink {
        port: u32,
        groups: u32,
    },
}

/// sizeof(struct sockaddr_un).
pub const SOCKADDR_UN_LEN: usize = 110;
const UNIX_PATH_MAX: usize = 108;

impl SockAddr {
    /// Parses a user `struct sockaddr` of `bytes.len()` bytes.
    pub fn parse(bytes: &[u8]) -> Result<SockAddr, Errno> {
        if bytes.len() < 2 {
            return Err(EINVAL);
        }
        let family = u16::from_le_bytes([bytes[0], bytes[1]]);
        match family {
            AF_UNSPEC => Ok(SockAddr::Unspec),
            AF_UNIX => {
                if bytes.len() > SOCKADDR_UN_LEN {
                    return Err(EINVAL);
                }
                let path = &bytes[2..];
                if path.is_empty() {
                    return Ok(SockAddr::Unix(UnixName::Unnamed));
                }
                if path[0] == 0 {
                    return Ok(SockAddr::Unix(UnixName::Abstract(path[1..].to_vec())));
                }
                let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
                Ok(SockAddr::Unix(UnixName::Path(path[..end].to_vec())))
            }
            AF_INET => {
                if bytes.len() < 16 {
                    return Err(EINVAL);
                }
                let port = u16::from_be_bytes([bytes[2], bytes[3]]);
                Ok(SockAddr::V4(bytes[4..8].try_into().unwrap(), port))
            }
            AF_INET6 => {
                // SIN6_LEN_RFC2133: the scope id may be left out.
                if bytes.len() < 24 {
                    return Err(EINVAL);
                }
                let port = u16::from_be_bytes([bytes[2], bytes[3]]);
                let flowinfo = u32::from_be_bytes(bytes[4..8].try_into().unwrap());
                let scope = if bytes.len() >= 28 {
                    u32::from_le_bytes(bytes[24..28].try_into().unwrap())
                } else {
                    0
                };
                Ok(SockAddr::V6 {
                    addr: bytes[8..24].try_into().unwrap(),
                    port,
                    flowinfo,
                    scope,
                })
            }
            netlink::AF_NETLINK => {
                if bytes.len() < 12 {
                    return Err(EINVAL);
                }
                Ok(SockAddr::Netlink {
                    port: u32::from_le_bytes(bytes[4..8].try_into().unwrap()),
                    groups: u32::from_le_bytes(bytes[8..12].try_into().unwrap()),
                })
            }
            _ => Err(EAFNOSUPPORT),
        }
    }

    pub fn family(&self) -> u16 {
        match self {
            SockAddr::Unspec => AF_UNSPEC,
            SockAddr::Unix(_) => AF_UNIX,
            SockAddr::V4(..) => AF_INET,
            SockAddr::V6 { .. } => AF_INET6,
            SockAddr::Netlink { .. } => netlink::AF_NETLINK,
        }
    }

    /// The user `struct sockaddr` (its length is the address length).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.family().to_le_bytes().to_vec();
        match self {
            SockAddr::Unspec => {}
            SockAddr::Unix(UnixName::Unnamed) => {}
            SockAddr::Unix(UnixName::Path(path)) => {
                out.extend_from_slice(path);
                if path.len() < UNIX_PATH_MAX {
                    out.push(0);
                }
            }
            SockAddr::Unix(UnixName::Abstract(name)) => {
                out.push(0);
                out.extend_from_slice(name);
            }
            SockAddr::V4(addr, port) => {
                out.extend_from_slice(&port.to_be_bytes());
                out.extend_from_slice(addr);
                out.extend_from_slice(&[0; 8]);
            }
            SockAddr::V6 {
                addr,
                port,
                flowinfo,
                scope,
            } => {
                out.extend_from_slice(&port.to_be_bytes());
                out.extend_from_slice(&flowinfo.to_be_bytes());
                out.extend_from_slice(addr);
                out.extend_from_slice(&scope.to_le_bytes());
            }
            SockAddr::Netlink { port, groups } => {
                out.extend_from_slice(&[0, 0]);
                out.extend_from_slice(&port.to_le_bytes());
                out.extend_from_slice(&groups.to_le_bytes());
            }
        }
        out
    }
}

/// Descriptors passed with SCM_RIGHTS, while in flight. The sandbox-wide
/// count is bounded (ETOOMANYREFS past the sender's RLIMIT_NOFILE, as
/// Linux bounds each user's): a queue holding a descriptor of itself is
/// kept alive by it (Linux collects such cycles; the sentry does not), so
/// the bound is what keeps that memory finite.
pub struct Rights(pub Vec<Arc<OpenFile>>);

static IN_FLIGHT: AtomicU64 = AtomicU64::new(0);

impl Rights {
    pub fn new(files: Vec<Arc<OpenFile>>, limit: u64) -> Result<Rights, Errno> {
        let n = files.len() as u64;
        if IN_FLIGHT.load(Ordering::Relaxed) + n > limit {
            return Err(ETOOMANYREFS);
        }
        IN_FLIGHT.fetch_add(n, Ordering::Relaxed);
        Ok(Rights(files))
    }

    /// The files, for a receiver (MSG_PEEK keeps them in flight too).
    pub fn files(&self) -> &[Arc<OpenFile>] {
        &self.0
    }
}

impl Drop for Rights {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(self.0.len() as u64, Ordering::Relaxed);
    }
}

/// A message on its way in: data, destination and ancillary data.
pub struct OutMessage {
    pub data: Vec<u8>,
    pub to: Option<SockAddr>,
    pub rights: Option<Rights>,
    /// The sender's credentials (SCM_CREDENTIALS or its own).
    pub creds: Ucred,
    /// MSG_MORE: more data follows (UDP appends it to one datagram).
    pub more: bool,
}

/// What a receive returns.
#[derive(Default)]
pub struct InMessage {
    pub data: Vec<u8>,
    /// The message's full length (larger than `data` when truncated).
    pub full_len: usize,
    pub from: Option<SockAddr>,
    pub rights: Vec<Arc<OpenFile>>,
    pub creds: Option<Ucred>,
}

/// What a socket needs from the calling process: its credentials and, for
/// AF_UNIX names, the sandbox's file systems.
pub trait Env {
    /// pid, effective uid and gid (SO_PEERCRED).
    fn peer_creds(&self) -> Ucred;
    /// Whether the caller may bind ports below 1024 and send others'
    /// credentials (it is root in the sandbox).
    fn privileged(&self) -> bool;
    /// Creates a socket node at `path` bound to `socket`: EADDRINUSE when
    /// the name exists.
    fn bind_path(
        &mut self,
        path: &[u8],
        socket: alloc::sync::Weak<dyn Any + Send + Sync>,
    ) -> Result<(), Errno>;
    /// The socket bound at `path`: ECONNREFUSED when none is.
    fn lookup_path(&mut self, path: &[u8]) -> Result<Arc<dyn Any + Send + Sync>, Errno>;
    /// The caller's Landlock domain.
    fn landlock(&self) -> Option<Arc<crate::sentry::landlock::Domain>> {
        None
    }
}

/// Where a blocked operation waits before it tries again.
pub type Waits = Vec<Arc<WaitQueue>>;

/// The socket object: what every family implements. Nothing here blocks:
/// EAGAIN means "try again when one of the queues in `waits` is woken".
pub trait Socket: Send + Sync + Any {
    fn domain(&self) -> u16;
    fn sock_type(&self) -> i32;
    fn protocol(&self) -> i32;
    fn common(&self) -> &Mutex<Common>;

    fn bind(&self, env: &mut dyn Env, addr: &SockAddr) -> Result<(), Errno>;
    fn listen(&self, env: &mut dyn Env, backlog: usize) -> Result<(), Errno>;
    /// A pending connection, or EAGAIN.
    fn accept(&self, waits: &mut Waits) -> Result<Arc<dyn Socket>, Errno>;
    /// Connects. `nonblocking`: EINPROGRESS where Linux gives it; blocking
    /// callers get EAGAIN with `waits` filled while the connection cannot
    /// be made yet (a full backlog).
    fn connect(
        &self,
        env: &mut dyn Env,
        addr: &SockAddr,
        nonblocking: bool,
        waits: &mut Waits,
    ) -> Result<(), Errno>;
    /// The largest message a datagram or record socket takes whole (None
    /// for byte streams, which take part of a send).
    fn message_limit(&self) -> Option<usize>;
    /// Queues (part of) `msg`; returns the bytes taken (a stream may take
    /// fewer and leaves the rest in `msg.data`). EAGAIN when there is no
    /// room, EPIPE when the other side is gone.
    fn send(
        &self,
        env: &mut dyn Env,
        msg: &mut OutMessage,
        waits: &mut Waits,
    ) -> Result<usize, Errno>;
    /// Takes up to `max` bytes (one message for datagram and record
    /// sockets); EAGAIN when there is nothing yet, Ok with empty data at
    /// end of stream.
    fn recv(&self, max: usize, flags: i32, waits: &mut Waits) -> Result<InMessage, Errno>;
    fn shutdown(&self, how: i32) -> Result<(), Errno>;
    fn local_addr(&self) -> SockAddr;
    fn peer_addr(&self) -> Result<SockAddr, Errno>;
    /// Family options; Err(ENOPROTOOPT) passes SOL_SOCKET options on to
    /// the common ones.
    fn setsockopt(&self, level: i32, name: i32, value: &[u8]) -> Result<(), Errno>;
    fn getsockopt(&self, level: i32, name: i32) -> Result<Vec<u8>, Errno>;
    /// The pending error (SO_ERROR), cleared.
    fn take_error(&self) -> Option<Errno>;
    fn poll(&self, events: i16) -> i16;
    fn wait_queues(&self, out: &mut Waits);
    fn activity(&self) -> u64;
    /// Bytes readable now (FIONREAD).
    fn available(&self) -> usize;
    /// The last descriptor closed: the socket goes (peers see the close).
    fn release(&self);

    /// The socket as a netlink socket (mq_notify's SIGEV_THREAD queues
    /// its notifications on one).
    fn as_netlink(&self) -> Option<&netlink::NetlinkSocket> {
        None
    }
}

/// Options every socket has (SOL_SOCKET): recorded here, read by the
/// families where they change behaviour (buffer sizes, SO_PASSCRED).
#[derive(Clone)]
pub struct Common {
    pub sndbuf: usize,
    pub rcvbuf: usize,
    pub rcvtimeo_ns: u64,
    pub sndtimeo_ns: u64,
    pub passcred: bool,
    pub reuseaddr: bool,
    pub reuseport: bool,
    pub keepalive: bool,
    pub broadcast: bool,
    pub oobinline: bool,
    pub dontroute: bool,
    pub debug: bool,
    pub priority: i32,
    pub rcvlowat: i32,
    pub linger: (i32, i32),
    /// The Landlock domain of the task that opened it.
    pub landlock: Option<Arc<crate::sentry::landlock::Domain>>,
}

impl Default for Common {
    fn default() -> Common {
        Common {
            sndbuf: DEFAULT_BUFFER,
            rcvbuf: DEFAULT_BUFFER,
            rcvtimeo_ns: 0,
            sndtimeo_ns: 0,
            passcred: false,
            reuseaddr: false,
            reuseport: false,
            keepalive: false,
            broadcast: false,
            oobinline: false,
            dontroute: false,
            debug: false,
            priority: 0,
            rcvlowat: 1,
            linger: (0, 0),
            landlock: None,
        }
    }
}

pub fn int_value(value: &[u8]) -> Result<i32, Errno> {
    if value.len() < 4 {
        return Err(EINVAL);
    }
    Ok(i32::from_le_bytes(value[..4].try_into().unwrap()))
}

pub fn int_bytes(v: i32) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}

fn timeval_ns(value: &[u8]) -> Result<u64, Errno> {
    if value.len() < 16 {
        return Err(EINVAL);
    }
    let sec = i64::from_le_bytes(value[..8].try_into().unwrap());
    let usec = i64::from_le_bytes(value[8..16].try_into().unwrap());
    if !(0..1_000_000).contains(&usec) {
        return Err(EDOM);
    }
    if sec < 0 {
        return Ok(0);
    }
    Ok((sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(usec as u64 * 1000))
}

fn timeval_bytes(ns: u64) -> Vec<u8> {
    let mut out = ((ns / 1_000_000_000) as i64).to_le_bytes().to_vec();
    out.extend_from_slice(&(((ns % 1_000_000_000) / 1000) as i64).to_le_bytes());
    out
}

const EDOM: Errno = Errno(33);

/// setsockopt(SOL_SOCKET) for what every socket records.
pub fn set_common(common: &mut Common, name: i32, value: &[u8]) -> Result<(), Errno> {
    match name {
        SO_RCVTIMEO_OLD | SO_RCVTIMEO_NEW => common.rcvtimeo_ns = timeval_ns(value)?,
        SO_SNDTIMEO_OLD | SO_SNDTIMEO_NEW => common.sndtimeo_ns = timeval_ns(value)?,
        SO_LINGER => {
            if value.len() < 8 {
                return Err(EINVAL);
            }
            common.linger = (int_value(&value[..4])?, int_value(&value[4..8])?);
        }
        _ => {
            let v = int_value(value)?;
            match name {
                // Linux doubles the value (for its bookkeeping) and bounds it.
                SO_SNDBUF | SO_SNDBUFFORCE => {
                    common.sndbuf = (v.max(0) as usize).min(DEFAULT_BUFFER) * 2;
                    common.sndbuf = common.sndbuf.max(MIN_SNDBUF);
                }
                SO_RCVBUF | SO_RCVBUFFORCE => {
                    common.rcvbuf = (v.max(0) as usize).min(DEFAULT_BUFFER) * 2;
                    common.rcvbuf = common.rcvbuf.max(MIN_RCVBUF);
                }
                SO_PASSCRED => common.passcred = v != 0,
                SO_REUSEADDR => common.reuseaddr = v != 0,
                SO_REUSEPORT => common.reuseport = v != 0,
                SO_KEEPALIVE => common.keepalive = v != 0,
                SO_BROADCAST => common.broadcast = v != 0,
                SO_OOBINLINE => common.oobinline = v != 0,
                SO_DONTROUTE => common.dontroute = v != 0,
                SO_DEBUG => common.debug = v != 0,
                SO_PRIORITY => {
                    if !(0..=6).contains(&v) {
                        return Err(EPERM);
                    }
                    common.priority = v
                }
                SO_RCVLOWAT => common.rcvlowat = v.max(1),
                SO_SNDLOWAT => return Err(ENOPROTOOPT),
                _ => return Err(ENOPROTOOPT),
            }
        }
    }
    Ok(())
}

/// getsockopt(SOL_SOCKET) for what every socket records or knows.
pub fn get_common(socket: &dyn Socket, name: i32) -> Result<Vec<u8>, Errno> {
    let common = socket.common().lock().clone();
    let flag = |b: bool| int_bytes(b as i32);
    Ok(match name {
        SO_TYPE => int_bytes(socket.sock_type()),
        SO_DOMAIN => int_bytes(socket.domain() as i32),
        SO_PROTOCOL => int_bytes(socket.protocol()),
        SO_ERROR => int_bytes(socket.take_error().map_or(0, |e| e.0)),
        SO_SNDBUF => int_bytes(common.sndbuf as i32),
        SO_RCVBUF => int_bytes(common.rcvbuf as i32),
        SO_RCVTIMEO_OLD | SO_RCVTIMEO_NEW => timeval_bytes(common.rcvtimeo_ns),
        SO_SNDTIMEO_OLD | SO_SNDTIMEO_NEW => timeval_bytes(common.sndtimeo_ns),
        SO_PASSCRED => flag(common.passcred),
        SO_REUSEADDR => flag(common.reuseaddr),
        SO_REUSEPORT => flag(common.reuseport),
        SO_KEEPALIVE => flag(common.keepalive),
        SO_BROADCAST => flag(common.broadcast),
        SO_OOBINLINE => flag(common.oobinline),
        SO_DONTROUTE => flag(common.dontroute),
        SO_DEBUG => flag(common.debug),
        SO_PRIORITY => int_bytes(common.priority),
        SO_RCVLOWAT => int_bytes(common.rcvlowat),
        SO_SNDLOWAT => int_bytes(1),
        SO_LINGER => {
            let mut out = int_bytes(common.linger.0);
            out.extend_from_slice(&int_bytes(common.linger.1));
            out
        }
        _ => return Err(ENOPROTOOPT),
    })
}

static NEXT_SOCKET_INO: AtomicU64 = AtomicU64::new(40_000);

/// A socket's inode number (stat, /proc/self/fd's "socket:[N]").
pub fn next_ino() -> u64 {
    NEXT_SOCKET_INO.fetch_add(1, Ordering::Relaxed)
}

/// sockfs's device number.
pub const DEV_SOCKFS: u64 = 0x08;

/// An open socket: the [`File`] a socket descriptor refers to. Its last
/// close releases the socket.
pub struct SocketFile {
    pub socket: Arc<dyn Socket>,
    pub ino: u64,
    created: i64,
}

impl SocketFile {
    pub fn new(socket: Arc<dyn Socket>) -> Arc<SocketFile> {
        Arc::new(SocketFile {
            socket,
            ino: next_ino(),
            created: (crate::sentry::time::realtime_ns() / 1_000_000_000) as i64,
        })
    }

    /// The open file description of a new socket descriptor.
    pub fn open(socket: Arc<dyn Socket>, nonblocking: bool) -> Arc<OpenFile> {
        let file = SocketFile::new(socket);
        let label = alloc::format!("socket:[{}]", file.ino).into_bytes();
        let flags = crate::sentry::fd::O_RDWR
            | if nonblocking {
                crate::sentry::fd::O_NONBLOCK
            } else {
                0
            };
        OpenFile::labeled(file, flags, label)
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        self.socket.release();
    }
}

impl File for SocketFile {
    /// read(2) semantics without blocking (sendfile and splice use this;
    /// the syscalls go through `syscalls::socket`).
    fn read(&self, buf: &mut [u8], _offset: u64) -> Result<usize, Errno> {
        let mut waits = vec![];
        let msg = self.socket.recv(buf.len(), 0, &mut waits)?;
        buf[..msg.data.len()].copy_from_slice(&msg.data);
        Ok(msg.data.len())
    }

    fn write(&self, buf: &[u8], _offset: u64) -> Result<usize, Errno> {
        struct NoEnv;
        impl Env for NoEnv {
            fn peer_creds(&self) -> Ucred {
                Ucred::NONE
            }
            fn privileged(&self) -> bool {
                false
            }
            fn bind_path(
                &mut self,
                _: &[u8],
                _: alloc::sync::Weak<dyn Any + Send + Sync>,
            ) -> Result<(), Errno> {
                Err(EINVAL)
            }
            fn lookup_path(&mut self, _: &[u8]) -> Result<Arc<dyn Any + Send + Sync>, Errno> {
                Err(EINVAL)
            }
        }
        if let Some(limit) = self.socket.message_limit() {
            if buf.len() > limit {
                return Err(EMSGSIZE);
            }
        }
        let mut msg = OutMessage {
            data: buf.to_vec(),
            to: None,
            rights: None,
            creds: Ucred::NONE,
            more: false,
        };
        let mut waits = vec![];
        self.socket.send(&mut NoEnv, &mut msg, &mut waits)
    }

    fn stat(&self) -> Stat {
        Stat {
            dev: DEV_SOCKFS,
            ino: self.ino,
            nlink: 1,
            mode: S_IFSOCK | 0o777,
            blksize: 4096,
            atime: self.created,
            mtime: self.created,
            ctime: self.created,
            ..Stat::default()
        }
    }

    fn splices(&self) -> bool {
        true
    }

    fn poll(&self, events: i16) -> i16 {
        self.socket.poll(events)
    }

    fn available(&self) -> Result<u64, Errno> {
        Ok(self.socket.available() as u64)
    }

    fn activity(&self) -> u64 {
        self.socket.activity()
    }

    fn wait_queues(&self, out: &mut Vec<Arc<WaitQueue>>) {
        self.socket.wait_queues(out);
    }

    fn as_socket(&self) -> Option<&SocketFile> {
        Some(self)
    }
}
