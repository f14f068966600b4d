//! Socket syscalls: socket, socketpair, bind, listen, accept(4), connect,
//! send/recv in all their forms, shutdown, getsockname/getpeername,
//! setsockopt/getsockopt. The socket objects (`sentry::net`) never block:
//! the calls here copy user memory, wait on the queues a socket names
//! (with SO_RCVTIMEO/SO_SNDTIMEO as deadlines) and try again, keeping
//! partial progress as pipes do. read/write/readv/writev on a socket come
//! here too (`io.rs`).

use crate::sentry::mm::usermem::UserPtr;
use alloc::sync::{Arc, Weak};
use alloc::vec;
use alloc::vec::Vec;
use core::any::Any;

use super::SyscallContext;
use crate::sentry::errno::*;
use crate::sentry::fd::{OpenFile, O_CLOEXEC, O_NONBLOCK, O_PATH};
use crate::sentry::mm::Access;
use crate::sentry::net::inet::InetSocket;
use crate::sentry::net::netlink::{NetlinkSocket, AF_NETLINK};
use crate::sentry::net::unix::UnixSocket;
use crate::sentry::net::*;
use crate::sentry::vfs::{FileKind, NewNode};

const SOCK_TYPE_MASK: u64 = 0xf;
const SOCK_FLAGS: u64 = (O_NONBLOCK | O_CLOEXEC) as u64;
const SOCK_MAX: i32 = 11;
/// sizeof(struct sockaddr_storage): the longest address accepted.
const SOCKADDR_MAX: u64 = 128;
const IOV_MAX: u64 = 1024;
/// Stream sends move user data in pieces of this size.
const SEND_CHUNK: usize = 64 * 1024;
const MAX_RW_COUNT: u64 = 0x7fff_f000;
const SCM_RIGHTS: i32 = 1;
const SCM_CREDENTIALS: i32 = 2;
/// SCM_MAX_FD: descriptors in one SCM_RIGHTS message.
const SCM_MAX_FD: usize = 253;
const CMSG_HDR: usize = 16;
/// Control data accepted with one message.
const CONTROL_MAX: u64 = 64 * 1024;

/// What a socket needs of the calling process.
struct SysEnv<'a, 'b> {
    ctx: &'a mut SyscallContext<'b>,
}

impl Env for SysEnv<'_, '_> {
    fn peer_creds(&self) -> Ucred {
        Ucred {
            pid: self.ctx.task.pid,
            uid: self.ctx.task.creds.user[1],
            gid: self.ctx.task.creds.group[1],
        }
    }

    fn privileged(&self) -> bool {
        // CAP_NET_BIND_SERVICE (low ports) / CAP_NET_RAW / CAP_NET_ADMIN:
        // what root has.
        self.ctx.task.creds.user[1] == 0
    }

    fn bind_path(&mut self, path: &[u8], socket: Weak<dyn Any + Send + Sync>) -> Result<(), Errno> {
        let in_use = |e: Errno| if e == EEXIST { EADDRINUSE } else { e };
        let (dir, name) = super::path::new_entry_at(
            self.ctx,
            super::path::AT_FDCWD_ARG,
            path,
            crate::sentry::landlock::ACCESS_FS_MAKE_SOCK,
        )
        .map_err(in_use)?;
        let mode = 0o777 & !self.ctx.task.umask;
        let node = dir
            .create(
                &name,
                NewNode::Socket {
                    mode,
                    bound: socket,
                },
            )
            .map_err(in_use)?;
        super::path::own_new_node(self.ctx, &*dir, &*node);
        Ok(())
    }

    fn landlock(&self) -> Option<Arc<crate::sentry::landlock::Domain>> {
        self.ctx.task.creds.landlock.clone()
    }

    fn lookup_path(&mut self, path: &[u8]) -> Result<Arc<dyn Any + Send + Sync>, Errno> {
        let stack = super::path::lookup_at(self.ctx, super::path::AT_FDCWD_ARG, path, true)?;
        let node = stack.node();
        if node.kind() != FileKind::Socket {
            return Err(ECONNREFUSED);
        }
        // Connecting writes to the socket: write permission on its node.
        super::path::may(self.ctx, &**node, crate::sentry::vfs::perm::MAY_WRITE)?;
        node.bound_socket().ok_or(ECONNREFUSED)
    }
}

/// The socket behind descriptor `fd` (ENOTSOCK for other files; EBADF
/// for an O_PATH descriptor, which Linux's fdget does not return).
fn socket_of(ctx: &mut SyscallContext, fd: i32) -> Result<(Arc<OpenFile>, Arc<dyn Socket>), Errno> {
    let file = ctx.task.fds().get(fd)?.clone();
    if *file.flags.lock() & O_PATH != 0 {
        return Err(EBADF);
    }
    let socket = file.file.as_socket().ok_or(ENOTSOCK)?.socket.clone();
    Ok((file, socket))
}

fn read_addr(ctx: &mut SyscallContext, addr: u64, len: u64) -> Result<SockAddr, Errno> {
    let len = len as u32 as u64;
    if len > SOCKADDR_MAX || (len as i32) < 0 {
        return Err(EINVAL);
    }
    let mut bytes = vec![0u8; len as usize];
    ctx.task.mm().copy_from_user(addr, &mut bytes)?;
    SockAddr::parse(&bytes)
}

/// Writes `sa` to (addr, *len_ptr) as Linux does: truncated to the
/// buffer, the full length in *len_ptr.
fn write_addr(
    ctx: &mut SyscallContext,
    addr: u64,
    len_ptr: u64,
    sa: &SockAddr,
) -> Result<(), Errno> {
    if addr == 0 {
        return Ok(());
    }
    let len: i32 = UserPtr::<i32>::new(len_ptr).read(&mut ctx.task.mm())?;
    if len < 0 {
        return Err(EINVAL);
    }
    let bytes = sa.to_bytes();
    let n = bytes.len().min(len as usize);
    ctx.task.mm().copy_to_user(addr, &bytes[..n])?;
    UserPtr::new(len_ptr).write(&mut ctx.task.mm(), &(bytes.len() as i32))?;
    Ok(())
}

fn install(ctx: &mut SyscallContext, socket: Arc<dyn Socket>, flags: u64) -> Result<i32, Errno> {
    // The opener's Landlock domain (the file's credentials on Linux),
    // for the scope of abstract unix sockets.
    socket.common().lock().landlock = ctx.task.creds.landlock.clone();
    let file = SocketFile::open(socket, flags & O_NONBLOCK as u64 != 0);
    ctx.task
        .fds()
        .insert(file, flags & O_CLOEXEC as u64 != 0, 0)
}

/// Waits on `waits` until `deadline`: Ok to try again; EAGAIN when the
/// time is up; a signal ends the call (restarted after a handler with
/// SA_RESTART when there is no timeout, as Linux's sock_intr_errno).
fn block(ctx: &mut SyscallContext, waits: &Waits, deadline: u64) -> Result<(), Errno> {
    if waits.is_empty() || crate::sentry::time::monotonic_ns() >= deadline {
        return Err(EAGAIN);
    }
    let refs: Vec<&crate::sentry::wait::WaitQueue> = waits.iter().map(|q| &**q).collect();
    match crate::sentry::signal::wait(&mut ctx.task, &refs, deadline, false) {
        Ok(_) => Ok(()),
        Err(e) if e == EINTR && deadline == u64::MAX => Err(ERESTARTSYS),
        Err(e) => Err(e),
    }
}

fn deadline(ctx: &mut SyscallContext, timeout_ns: u64) -> u64 {
    if timeout_ns == 0 {
        u64::MAX
    } else {
        crate::sentry::signal::wait_deadline(&mut ctx.task, timeout_ns)
    }
}

pub fn sys_socket(ctx: &mut SyscallContext, domain: i32, ty: u64, protocol: i32) -> SysResult {
    let flags = ty & !SOCK_TYPE_MASK;
    if flags & !SOCK_FLAGS != 0 {
        return Err(EINVAL);
    }
    let ty = (ty & SOCK_TYPE_MASK) as i32;
    if ty >= SOCK_MAX {
        return Err(EINVAL);
    }
    let socket: Arc<dyn Socket> = match domain as u16 {
        AF_UNIX => {
            if protocol != 0 && protocol != AF_UNIX as i32 {
                return Err(EPROTONOSUPPORT);
            }
            UnixSocket::new(if ty == SOCK_RAW { SOCK_DGRAM } else { ty })?
        }
        AF_INET => InetSocket::new(false, ty, protocol)?,
        AF_INET6 => InetSocket::new(true, ty, protocol)?,
        AF_NETLINK => NetlinkSocket::new(ty, protocol)?,
        // No packet or other families in the sandbox.
        _ => return Err(EAFNOSUPPORT),
    };
    Ok(install(ctx, socket, flags)? as u64)
}

pub fn sys_socketpair(
    ctx: &mut SyscallContext,
    domain: i32,
    ty: u64,
    protocol: i32,
    sv: u64,
) -> SysResult {
    let flags = ty & !SOCK_TYPE_MASK;
    if flags & !SOCK_FLAGS != 0 {
        return Err(EINVAL);
    }
    let ty = (ty & SOCK_TYPE_MASK) as i32;
    if ty >= SOCK_MAX {
        return Err(EINVAL);
    }
    match domain as u16 {
        AF_UNIX => {}
        // Linux creates the sockets first (their type and protocol
        // errors), then finds inet has no socketpair.
        AF_INET | AF_INET6 => {
            InetSocket::check_kind(ty, protocol)?;
            return Err(EOPNOTSUPP);
        }
        _ => return Err(EAFNOSUPPORT),
    }
    if protocol != 0 && protocol != AF_UNIX as i32 {
        return Err(EPROTONOSUPPORT);
    }
    let creds = SysEnv { ctx }.peer_creds();
    let (a, b) = UnixSocket::pair(if ty == SOCK_RAW { SOCK_DGRAM } else { ty }, creds)?;
    let fd_a = install(ctx, a, flags)?;
    let fd_b = match install(ctx, b, flags) {
        Ok(fd) => fd,
        Err(e) => {
            let _ = ctx.task.fds().remove(fd_a);
            return Err(e);
        }
    };
    if let Err(e) = ctx.task.mm().write_val(sv, &[fd_a, fd_b]) {
        let _ = ctx.task.fds().remove(fd_a);
        let _ = ctx.task.fds().remove(fd_b);
        return Err(e);
    }
    Ok(0)
}

/// Landlock's TCP port rules (Linux's current_check_access_socket):
/// `access` (bind or connect) to the port `addr` names.
fn landlock_tcp(
    ctx: &mut SyscallContext,
    socket: &Arc<dyn Socket>,
    addr: &SockAddr,
    raw_addr: u64,
    access: u64,
) -> Result<(), Errno> {
    use crate::sentry::landlock::ACCESS_NET_BIND_TCP;
    let Some(domain) = ctx.task.creds.landlock.clone() else {
        return Ok(());
    };
    let tcp = matches!(socket.domain(), AF_INET | AF_INET6)
        && socket.sock_type() == SOCK_STREAM
        && socket.protocol() == crate::sentry::net::inet::IPPROTO_TCP;
    if !tcp || !domain.handles_net(access) {
        return Ok(());
    }
    let port = match *addr {
        SockAddr::V4(_, port) | SockAddr::V6 { port, .. } => port,
        // Dissolving a connection is always allowed; bind reads an
        // AF_UNSPEC address as sockaddr_in (IPv4 takes INADDR_ANY only).
        SockAddr::Unspec if access == ACCESS_NET_BIND_TCP => {
            let mut raw = [0u8; 8];
            ctx.task.mm().copy_from_user(raw_addr, &mut raw)?;
            if socket.domain() == AF_INET && raw[4..8] != [0; 4] {
                return Err(EAFNOSUPPORT);
            }
            u16::from_be_bytes([raw[2], raw[3]])
        }
        _ => return Ok(()),
    };
    domain.check_net(port, access)
}

pub fn sys_bind(ctx: &mut SyscallContext, sockfd: i32, uaddr: u64, addrlen: u64) -> SysResult {
    let (_, socket) = socket_of(ctx, sockfd)?;
    let addr = read_addr(ctx, uaddr, addrlen)?;
    landlock_tcp(
        ctx,
        &socket,
        &addr,
        uaddr,
        crate::sentry::landlock::ACCESS_NET_BIND_TCP,
    )?;
    socket.bind(&mut SysEnv { ctx }, &addr)?;
    Ok(0)
}

pub fn sys_listen(ctx: &mut SyscallContext, sockfd: i32, backlog: i32) -> SysResult {
    let (_, socket) = socket_of(ctx, sockfd)?;
    // A negative backlog is a huge unsigned one: SOMAXCONN.
    let backlog = (backlog as u32 as usize).min(SOMAXCONN);
    socket.listen(&mut SysEnv { ctx }, backlog)?;
    Ok(0)
}

fn accept_common(
    ctx: &mut SyscallContext,
    sockfd: i32,
    addr: u64,
    addrlen: u64,
    flags: u64,
) -> SysResult {
    if flags & !SOCK_FLAGS != 0 {
        return Err(EINVAL);
    }
    let (file, socket) = socket_of(ctx, sockfd)?;
    let until = deadline(ctx, socket.common().lock().rcvtimeo_ns);
    let mut waits = Vec::new();
    let accepted = loop {
        waits.clear();
        match socket.accept(&mut waits) {
            Err(e) if e == EAGAIN && !file.nonblocking() => block(ctx, &waits, until)?,
            other => break other?,
        }
    };
    let peer = accepted.peer_addr().unwrap_or(SockAddr::Unspec);
    let fd = install(ctx, accepted, flags)?;
    if let Err(e) = write_addr(ctx, addr, addrlen, &peer) {
        let _ = ctx.task.fds().remove(fd);
        return Err(e);
    }
    Ok(fd as u64)
}

pub fn sys_accept(ctx: &mut SyscallContext, sockfd: i32, addr: u64, addrlen: u64) -> SysResult {
    accept_common(ctx, sockfd, addr, addrlen, 0)
}

pub fn sys_accept4(
    ctx: &mut SyscallContext,
    sockfd: i32,
    addr: u64,
    addrlen: u64,
    flags: u64,
) -> SysResult {
    accept_common(ctx, sockfd, addr, addrlen, flags)
}

pub fn sys_connect(ctx: &mut SyscallContext, sockfd: i32, uaddr: u64, addrlen: u64) -> SysResult {
    let (file, socket) = socket_of(ctx, sockfd)?;
    let addr = read_addr(ctx, uaddr, addrlen)?;
    landlock_tcp(
        ctx,
        &socket,
        &addr,
        uaddr,
        crate::sentry::landlock::ACCESS_NET_CONNECT_TCP,
    )?;
    let nonblocking = file.nonblocking();
    let until = deadline(ctx, socket.common().lock().sndtimeo_ns);
    let mut waits = Vec::new();
    loop {
        waits.clear();
        match socket.connect(&mut SysEnv { ctx }, &addr, nonblocking, &mut waits) {
            Err(e) if e == EAGAIN && !nonblocking => match block(ctx, &waits, until) {
                Err(e) if e == EAGAIN && socket.domain() != AF_UNIX => return Err(EINPROGRESS),
                other => other?,
            },
            other => return other.map(|()| 0),
        }
    }
}

pub fn sys_shutdown(ctx: &mut SyscallContext, sockfd: i32, how: i32) -> SysResult {
    let (_, socket) = socket_of(ctx, sockfd)?;
    socket.shutdown(how)?;
    Ok(0)
}

pub fn sys_getsockname(
    ctx: &mut SyscallContext,
    sockfd: i32,
    uaddr: u64,
    addrlen: u64,
) -> SysResult {
    let (_, socket) = socket_of(ctx, sockfd)?;
    let addr = socket.local_addr();
    if uaddr == 0 {
        return Err(EFAULT);
    }
    write_addr(ctx, uaddr, addrlen, &addr)?;
    Ok(0)
}

pub fn sys_getpeername(
    ctx: &mut SyscallContext,
    sockfd: i32,
    uaddr: u64,
    addrlen: u64,
) -> SysResult {
    let (_, socket) = socket_of(ctx, sockfd)?;
    let addr = socket.peer_addr()?;
    if uaddr == 0 {
        return Err(EFAULT);
    }
    write_addr(ctx, uaddr, addrlen, &addr)?;
    Ok(0)
}

pub fn sys_setsockopt(
    ctx: &mut SyscallContext,
    sockfd: i32,
    level: i32,
    name: i32,
    optval: u64,
    optlen: i32,
) -> SysResult {
    let (_, socket) = socket_of(ctx, sockfd)?;
    if optlen < 0 {
        return Err(EINVAL);
    }
    let mut value = vec![0u8; (optlen as usize).min(256)];
    ctx.task.mm().copy_from_user(optval, &mut value)?;
    match socket.setsockopt(level, name, &value) {
        Err(e) if e == ENOPROTOOPT && level == SOL_SOCKET => {
            set_common(&mut socket.common().lock(), name, &value)?
        }
        other => other?,
    }
    Ok(0)
}

pub fn sys_getsockopt(
    ctx: &mut SyscallContext,
    sockfd: i32,
    level: i32,
    name: i32,
    optval: u64,
    optlen_ptr: UserPtr<i32>,
) -> SysResult {
    let (_, socket) = socket_of(ctx, sockfd)?;
    let len: i32 = optlen_ptr.read(&mut ctx.task.mm())?;
    if len < 0 {
        return Err(EINVAL);
    }
    let value = match socket.getsockopt(level, name) {
        Err(e) if e == ENOPROTOOPT && level == SOL_SOCKET => get_common(&*socket, name)?,
        other => other?,
    };
    let n = value.len().min(len as usize);
    ctx.task.mm().copy_to_user(optval, &value[..n])?;
    optlen_ptr.write(&mut ctx.task.mm(), &(n as i32))?;
    Ok(0)
}

// --- data -------------------------------------------------------------------

/// Reads an iovec array: (base, len) pairs, the total bounded.
fn read_iovecs(ctx: &mut SyscallContext, addr: u64, count: u64) -> Result<Vec<(u64, u64)>, Errno> {
    if count > IOV_MAX {
        return Err(EMSGSIZE);
    }
    let mut raw = vec![0u8; count as usize * 16];
    ctx.task.mm().copy_from_user(addr, &mut raw)?;
    let mut total: u64 = 0;
    let mut out = Vec::with_capacity(count as usize);
    for pair in raw.chunks_exact(16) {
        let base = u64::from_le_bytes(pair[..8].try_into().unwrap());
        let mut len = u64::from_le_bytes(pair[8..].try_into().unwrap());
        if (len as i64) < 0 {
            return Err(EINVAL);
        }
        // Linux moves at most MAX_RW_COUNT bytes in one call.
        len = len.min(MAX_RW_COUNT - total);
        total += len;
        out.push((base, len));
    }
    Ok(out)
}

/// Copies `len` bytes of the iovecs' data from logical offset `offset`.
fn gather(
    ctx: &mut SyscallContext,
    iovs: &[(u64, u64)],
    mut offset: usize,
    len: usize,
) -> Result<Vec<u8>, Errno> {
    crate::mm::reserve_for_object(ENOBUFS)?;
    let mut out = Vec::new();
    out.try_reserve_exact(len).map_err(|_| ENOBUFS)?;
    for &(base, iov_len) in iovs {
        let iov_len = iov_len as usize;
        if offset >= iov_len {
            offset -= iov_len;
            continue;
        }
        let n = (iov_len - offset).min(len - out.len());
        ctx.task
            .mm()
            .with_user_chunks(base + offset as u64, n, Access::Read, |chunk| {
                let start = out.len();
                out.resize(start + chunk.len, 0);
                chunk.read(&mut out[start..]);
            })?;
        offset = 0;
        if out.len() == len {
            break;
        }
    }
    Ok(out)
}

/// Copies `data` into the iovecs from logical offset `offset`.
fn scatter(
    ctx: &mut SyscallContext,
    iovs: &[(u64, u64)],
    mut offset: usize,
    data: &[u8],
) -> Result<(), Errno> {
    let mut done = 0;
    for &(base, iov_len) in iovs {
        let iov_len = iov_len as usize;
        if done == data.len() {
            break;
        }
        if offset >= iov_len {
            offset -= iov_len;
            continue;
        }
        let n = (iov_len - offset).min(data.len() - done);
        ctx.task
            .mm()
            .copy_to_user(base + offset as u64, &data[done..done + n])?;
        done += n;
        offset = 0;
    }
    Ok(())
}

/// The control messages of a sendmsg: descriptors and credentials.
fn parse_control(
    ctx: &mut SyscallContext,
    socket: &Arc<dyn Socket>,
    addr: u64,
    len: u64,
) -> Result<(Vec<Arc<OpenFile>>, Option<Ucred>), Errno> {
    let mut files = Vec::new();
    let mut creds = None;
    if len == 0 {
        return Ok((files, creds));
    }
    if len > CONTROL_MAX {
        return Err(ENOBUFS);
    }
    let mut raw = vec![0u8; len as usize];
    ctx.task.mm().copy_from_user(addr, &mut raw)?;
    let mut at = 0usize;
    while at + CMSG_HDR <= raw.len() {
        let cmsg_len = u64::from_le_bytes(raw[at..at + 8].try_into().unwrap()) as usize;
        let level = i32::from_le_bytes(raw[at + 8..at + 12].try_into().unwrap());
        let ty = i32::from_le_bytes(raw[at + 12..at + 16].try_into().unwrap());
        if cmsg_len < CMSG_HDR || cmsg_len > raw.len() - at {
            return Err(EINVAL);
        }
        let data = &raw[at + CMSG_HDR..at + cmsg_len];
        if level != SOL_SOCKET {
            // IP-level ancillary data (IP_PKTINFO, IP_TOS...) is not kept.
            return Err(EINVAL);
        }
        if socket.domain() != AF_UNIX {
            return Err(EINVAL);
        }
        match ty {
            SCM_RIGHTS => {
                let fds = data.len() / 4;
                if fds == 0 || files.len() + fds > SCM_MAX_FD {
                    return Err(EINVAL);
                }
                for chunk in data.chunks_exact(4) {
                    let fd = i32::from_le_bytes(chunk.try_into().unwrap());
                    files.push(ctx.task.fds().get(fd)?.clone());
                }
            }
            SCM_CREDENTIALS => {
                if data.len() != 12 {
                    return Err(EINVAL);
                }
                let given = Ucred {
                    pid: i32::from_le_bytes(data[..4].try_into().unwrap()),
                    uid: u32::from_le_bytes(data[4..8].try_into().unwrap()),
                    gid: u32::from_le_bytes(data[8..12].try_into().unwrap()),
                };
                let task = &ctx.task;
                let root = task.creds.user[1] == 0;
                let ok = root
                    || given.pid == task.pid
                        && task.creds.user.contains(&given.uid)
                        && task.creds.group.contains(&given.gid);
                if !ok {
                    return Err(EPERM);
                }
                creds = Some(given);
            }
            _ => return Err(EINVAL),
        }
        at += (cmsg_len + 7) & !7;
    }
    Ok((files, creds))
}

/// The send path of write, writev, send, sendto, sendmsg and sendmmsg.
fn send_common(
    ctx: &mut SyscallContext,
    file: &Arc<OpenFile>,
    socket: &Arc<dyn Socket>,
    iovs: &[(u64, u64)],
    to: Option<SockAddr>,
    control: (u64, u64),
    flags: i32,
) -> SysResult {
    if flags & MSG_OOB != 0 {
        return Err(EOPNOTSUPP);
    }
    let total: usize = iovs.iter().map(|&(_, len)| len as usize).sum();
    let (files, given_creds) = parse_control(ctx, socket, control.0, control.1)?;
    if let Some(limit) = socket.message_limit() {
        if total > limit {
            return Err(EMSGSIZE);
        }
    }
    let rights = if files.is_empty() {
        None
    } else {
        let limit = ctx.task.rlimits[crate::sentry::task::RLIMIT_NOFILE].cur;
        Some(Rights::new(files, limit)?)
    };
    let creds = given_creds.unwrap_or(Ucred {
        pid: ctx.task.pid,
        uid: ctx.task.creds.user[0],
        gid: ctx.task.creds.group[0],
    });
    let record = socket.message_limit().is_some();
    let mut msg = OutMessage {
        data: if record {
            gather(ctx, iovs, 0, total)?
        } else {
            Vec::new()
        },
        to,
        rights,
        creds,
        more: flags & MSG_MORE != 0,
    };
    let nonblocking = file.nonblocking() || flags & MSG_DONTWAIT != 0;
    let until = deadline(ctx, socket.common().lock().sndtimeo_ns);
    let mut done = 0usize;
    let mut waits = Vec::new();
    loop {
        if !record && msg.data.is_empty() && done < total {
            msg.data = gather(ctx, iovs, done, (total - done).min(SEND_CHUNK))?;
        }
        waits.clear();
        let result = socket.send(&mut SysEnv { ctx }, &mut msg, &mut waits);
        match result {
            Ok(n) => {
                done += n;
                if record || done >= total {
                    return Ok(done as u64);
                }
            }
            Err(e) if e == EAGAIN && !nonblocking => match block(ctx, &waits, until) {
                Ok(()) => {}
                Err(e) => return if done > 0 { Ok(done as u64) } else { Err(e) },
            },
            Err(e) if done > 0 => {
                let _ = e;
                return Ok(done as u64);
            }
            Err(e) if e == EPIPE && flags & MSG_NOSIGNAL == 0 => {
                return Err(super::read_write::broken_pipe(ctx));
            }
            Err(e) => return Err(e),
        }
    }
}

/// What a receive produced besides the data.
struct Received {
    /// The call's return value.
    count: usize,
    from: Option<SockAddr>,
    flags: i32,
    control_len: usize,
}

/// Writes the control messages of a receive; returns the bytes used and
/// whether something did not fit (MSG_CTRUNC). Descriptors that do not
/// fit are closed, as on Linux.
fn write_control(
    ctx: &mut SyscallContext,
    addr: u64,
    len: usize,
    creds: Option<Ucred>,
    rights: Vec<Arc<OpenFile>>,
    cloexec: bool,
) -> Result<(usize, bool), Errno> {
    let mut out: Vec<u8> = Vec::new();
    let mut truncated = false;
    let header = |out: &mut Vec<u8>, ty: i32, data_len: usize| {
        out.extend_from_slice(&((CMSG_HDR + data_len) as u64).to_le_bytes());
        out.extend_from_slice(&SOL_SOCKET.to_le_bytes());
        out.extend_from_slice(&ty.to_le_bytes());
    };
    if let Some(creds) = creds {
        let space = CMSG_HDR + 16;
        if len < CMSG_HDR {
            truncated = true;
        } else {
            header(&mut out, SCM_CREDENTIALS, 12);
            out.extend_from_slice(&creds.to_bytes());
            out.extend_from_slice(&[0; 4]);
            if len < space {
                truncated = true;
                out.truncate(len);
            }
        }
    }
    if !rights.is_empty() {
        let left = len.saturating_sub(out.len());
        let fit = if left > CMSG_HDR {
            (left - CMSG_HDR) / 4
        } else {
            0
        };
        let n = fit.min(rights.len());
        if n < rights.len() {
            truncated = true;
        }
        if n > 0 {
            let mut fds = Vec::with_capacity(n);
            for file in rights.into_iter().take(n) {
                match ctx.task.fds().insert(file, cloexec, 0) {
                    Ok(fd) => fds.push(fd),
                    Err(_) => {
                        truncated = true;
                        break;
                    }
                }
            }
            if !fds.is_empty() {
                header(&mut out, SCM_RIGHTS, fds.len() * 4);
                for fd in &fds {
                    out.extend_from_slice(&fd.to_le_bytes());
                }
                let padded = (out.len() + 7) & !7;
                out.resize(padded.min(len), 0);
            }
        }
    }
    if !out.is_empty() {
        ctx.task.mm().copy_to_user(addr, &out)?;
    }
    Ok((out.len(), truncated))
}

/// The receive path of read, readv, recv, recvfrom, recvmsg and recvmmsg.
fn recv_common(
    ctx: &mut SyscallContext,
    file: &Arc<OpenFile>,
    socket: &Arc<dyn Socket>,
    iovs: &[(u64, u64)],
    control: (u64, u64),
    flags: i32,
) -> Result<Received, Errno> {
    if flags & MSG_OOB != 0 {
        return Err(if socket.domain() == AF_UNIX {
            EOPNOTSUPP
        } else {
            EINVAL
        });
    }
    if flags & MSG_ERRQUEUE != 0 {
        // No error queue: nothing is ever on it.
        return Err(EAGAIN);
    }
    let total: usize = iovs.iter().map(|&(_, len)| len as usize).sum();
    let stream = socket.sock_type() == SOCK_STREAM;
    if stream && total == 0 {
        return Ok(Received {
            count: 0,
            from: None,
            flags: 0,
            control_len: 0,
        });
    }
    // Check the destination first: data taken from a queue must not be
    // lost to a bad buffer.
    for &(base, len) in iovs {
        ctx.task
            .mm()
            .check_user(base, len as usize, Access::Write)?;
    }
    let peek = flags & MSG_PEEK != 0;
    let nonblocking = file.nonblocking() || flags & MSG_DONTWAIT != 0;
    let wait_all = stream && flags & MSG_WAITALL != 0 && !peek;
    let discard = stream && flags & MSG_TRUNC != 0;
    let until = deadline(ctx, socket.common().lock().rcvtimeo_ns);
    let mut got = 0usize;
    let mut full_len = 0usize;
    let mut from = None;
    let mut creds = None;
    let mut rights = Vec::new();
    let mut waits = Vec::new();
    loop {
        waits.clear();
        match socket.recv(total - got, flags, &mut waits) {
            Ok(msg) => {
                if !discard {
                    scatter(ctx, iovs, got, &msg.data)?;
                }
                let n = msg.data.len();
                if got == 0 {
                    from = msg.from;
                    creds = msg.creds;
                    full_len = msg.full_len;
                }
                got += n;
                let had_rights = !msg.rights.is_empty();
                rights.extend(msg.rights);
                if n == 0 || !wait_all || got >= total || had_rights {
                    break;
                }
            }
            Err(e) if e == EAGAIN && !nonblocking => match block(ctx, &waits, until) {
                Ok(()) => {}
                Err(_) if got > 0 => break,
                Err(e) => return Err(e),
            },
            Err(_) if got > 0 => break,
            Err(e) => return Err(e),
        }
    }
    let mut out_flags = 0;
    if !stream && full_len > got {
        out_flags |= MSG_TRUNC;
    }
    let passcred = socket.common().lock().passcred;
    let creds = creds.filter(|_| passcred && socket.domain() == AF_UNIX);
    let (control_len, ctrunc) = if creds.is_some() || !rights.is_empty() {
        write_control(
            ctx,
            control.0,
            control.1.min(CONTROL_MAX) as usize,
            creds,
            rights,
            flags & MSG_CMSG_CLOEXEC != 0,
        )?
    } else {
        (0, false)
    };
    if ctrunc {
        out_flags |= MSG_CTRUNC;
    }
    let count = if !stream && flags & MSG_TRUNC != 0 {
        full_len
    } else {
        got
    };
    Ok(Received {
        count,
        from,
        flags: out_flags,
        control_len,
    })
}

/// read(2)/readv(2) on a socket.
pub fn read_socket(
    ctx: &mut SyscallContext,
    file: &Arc<OpenFile>,
    iovs: &[(u64, u64)],
) -> SysResult {
    let socket = file.file.as_socket().ok_or(ENOTSOCK)?.socket.clone();
    Ok(recv_common(ctx, file, &socket, iovs, (0, 0), 0)?.count as u64)
}

/// write(2)/writev(2) on a socket.
pub fn write_socket(
    ctx: &mut SyscallContext,
    file: &Arc<OpenFile>,
    iovs: &[(u64, u64)],
) -> SysResult {
    let socket = file.file.as_socket().ok_or(ENOTSOCK)?.socket.clone();
    send_common(ctx, file, &socket, iovs, None, (0, 0), 0)
}

pub fn sys_sendto(
    ctx: &mut SyscallContext,
    sockfd: i32,
    buf: u64,
    len: u64,
    flags: i32,
    dest_addr: u64,
    addrlen: u64,
) -> SysResult {
    let (file, socket) = socket_of(ctx, sockfd)?;
    let to = if dest_addr != 0 {
        Some(read_addr(ctx, dest_addr, addrlen)?)
    } else {
        None
    };
    let len = len.min(MAX_RW_COUNT);
    send_common(ctx, &file, &socket, &[(buf, len)], to, (0, 0), flags)
}

pub fn sys_recvfrom(
    ctx: &mut SyscallContext,
    sockfd: i32,
    buf: u64,
    len: u64,
    flags: i32,
    src_addr: u64,
    addrlen: u64,
) -> SysResult {
    let (file, socket) = socket_of(ctx, sockfd)?;
    let len = len.min(MAX_RW_COUNT);
    let received = recv_common(ctx, &file, &socket, &[(buf, len)], (0, 0), flags)?;
    if src_addr != 0 {
        match &received.from {
            Some(from) => write_addr(ctx, src_addr, addrlen, from)?,
            // An unnamed sender or a connected stream: no address, but
            // the length is still checked (Linux's move_addr_to_user).
            None => {
                let len: i32 = UserPtr::<i32>::new(addrlen).read(&mut ctx.task.mm())?;
                if len < 0 {
                    return Err(EINVAL);
                }
                ctx.task.mm().write_val(addrlen, &0i32)?
            }
        }
    }
    Ok(received.count as u64)
}

/// struct msghdr (64-bit): name, namelen, iov, iovlen, control,
/// controllen, flags.
struct MsgHdr {
    name: u64,
    namelen: u32,
    iov: u64,
    iovlen: u64,
    control: u64,
    controllen: u64,
}

const MSGHDR_SIZE: u64 = 56;

fn read_msghdr(ctx: &mut SyscallContext, addr: u64) -> Result<MsgHdr, Errno> {
    let raw: [u64; 7] = UserPtr::<[u64; 7]>::new(addr).read(&mut ctx.task.mm())?;
    Ok(MsgHdr {
        name: raw[0],
        namelen: raw[1] as u32,
        iov: raw[2],
        iovlen: raw[3],
        control: raw[4],
        controllen: raw[5],
    })
}

fn sendmsg_one(
    ctx: &mut SyscallContext,
    file: &Arc<OpenFile>,
    socket: &Arc<dyn Socket>,
    addr: u64,
    flags: i32,
) -> SysResult {
    let hdr = read_msghdr(ctx, addr)?;
    let to = if hdr.name != 0 && hdr.namelen != 0 {
        Some(read_addr(ctx, hdr.name, hdr.namelen as u64)?)
    } else {
        None
    };
    let iovs = read_iovecs(ctx, hdr.iov, hdr.iovlen)?;
    send_common(
        ctx,
        file,
        socket,
        &iovs,
        to,
        (hdr.control, hdr.controllen),
        flags,
    )
}

fn recvmsg_one(
    ctx: &mut SyscallContext,
    file: &Arc<OpenFile>,
    socket: &Arc<dyn Socket>,
    addr: u64,
    flags: i32,
) -> SysResult {
    let hdr = read_msghdr(ctx, addr)?;
    if (hdr.namelen as i32) < 0 {
        return Err(EINVAL);
    }
    let iovs = read_iovecs(ctx, hdr.iov, hdr.iovlen)?;
    let control = if hdr.control == 0 {
        (0, 0)
    } else {
        (hdr.control, hdr.controllen)
    };
    let received = recv_common(ctx, file, socket, &iovs, control, flags)?;
    // msg_namelen, msg_controllen and msg_flags go back.
    let mut namelen = 0u32;
    if hdr.name != 0 {
        if let Some(from) = &received.from {
            let bytes = from.to_bytes();
            let n = bytes.len().min(hdr.namelen as usize);
            ctx.task.mm().copy_to_user(hdr.name, &bytes[..n])?;
            namelen = bytes.len() as u32;
        }
    }
    UserPtr::new(addr + 8).write(&mut ctx.task.mm(), &namelen)?;
    ctx.task
        .mm()
        .write_val(addr + 40, &(received.control_len as u64))?;
    UserPtr::new(addr + 48).write(&mut ctx.task.mm(), &received.flags)?;
    Ok(received.count as u64)
}

pub fn sys_sendmsg(ctx: &mut SyscallContext, sockfd: i32, msg: u64, flags: i32) -> SysResult {
    let (file, socket) = socket_of(ctx, sockfd)?;
    sendmsg_one(ctx, &file, &socket, msg, flags)
}

pub fn sys_recvmsg(ctx: &mut SyscallContext, sockfd: i32, msg: u64, flags: i32) -> SysResult {
    let (file, socket) = socket_of(ctx, sockfd)?;
    recvmsg_one(ctx, &file, &socket, msg, flags)
}

/// struct mmsghdr: a msghdr and msg_len.
const MMSGHDR_SIZE: u64 = 64;

pub fn sys_sendmmsg(
    ctx: &mut SyscallContext,
    sockfd: i32,
    vec: u64,
    vlen: u32,
    flags: i32,
) -> SysResult {
    let (file, socket) = socket_of(ctx, sockfd)?;
    let vlen = (vlen as u64).min(IOV_MAX);
    let mut sent = 0u64;
    while sent < vlen {
        let entry = vec + sent * MMSGHDR_SIZE;
        match sendmsg_one(ctx, &file, &socket, entry, flags) {
            Ok(n) => {
                UserPtr::new(entry + MSGHDR_SIZE).write(&mut ctx.task.mm(), &(n as u32))?;
                sent += 1;
            }
            Err(_) if sent > 0 => break,
            Err(e) => return Err(e),
        }
    }
    Ok(sent)
}

pub fn sys_recvmmsg(
    ctx: &mut SyscallContext,
    sockfd: i32,
    vec: u64,
    vlen: u32,
    mut flags: i32,
    timeout: u64,
) -> SysResult {
    let (file, socket) = socket_of(ctx, sockfd)?;
    let vlen = (vlen as u64).min(IOV_MAX);
    let until = if timeout != 0 {
        let timeout = super::time::read_timespec(ctx, timeout)?;
        crate::sentry::signal::wait_deadline(&mut ctx.task, timeout)
    } else {
        u64::MAX
    };
    let mut received = 0u64;
    while received < vlen {
        let entry = vec + received * MMSGHDR_SIZE;
        match recvmsg_one(ctx, &file, &socket, entry, flags) {
            Ok(n) => {
                UserPtr::new(entry + MSGHDR_SIZE).write(&mut ctx.task.mm(), &(n as u32))?;
                received += 1;
            }
            Err(_) if received > 0 => break,
            Err(e) => return Err(e),
        }
        if flags & MSG_WAITFORONE != 0 {
            flags |= MSG_DONTWAIT;
        }
        if crate::sentry::time::monotonic_ns() >= until {
            break;
        }
    }
    Ok(received)
}
