//! AF_UNIX sockets: stream, datagram and seqpacket, named by a path in the
//! sandbox's file systems (a socket node holding the socket weakly), by an
//! abstract name (a table here), or unnamed. A connected pair writes into
//! each other's receive queue; a listener keeps the server ends of the
//! connections made to it until they are accepted, as Linux does.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::any::Any;
use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;

use super::queue::Queue;
use super::*;
use crate::sentry::errno::*;
use crate::sentry::fd::{POLLERR, POLLHUP, POLLIN, POLLOUT};
use crate::sentry::wait::WaitQueue;

/// net.unix.max_dgram_qlen: datagrams queued for a receiver from senders
/// it is not connected to.
const MAX_DGRAM_QLEN: usize = 10;

/// Abstract names in use.
static ABSTRACT: Mutex<BTreeMap<Vec<u8>, Weak<UnixSocket>>> = Mutex::new(BTreeMap::new());
static NEXT_AUTOBIND: AtomicU64 = AtomicU64::new(1);

enum Conn {
    Unconnected,
    Listening {
        backlog: usize,
        pending: VecDeque<Arc<UnixSocket>>,
    },
    /// Stream and seqpacket: the other end (kept after it closes, for
    /// getpeername). Datagram: the default destination.
    Connected(Arc<UnixSocket>),
}

struct State {
    name: UnixName,
    bound: bool,
    conn: Conn,
    /// SO_PEERCRED; a listener's own credentials from listen().
    peercred: Option<Ucred>,
    error: Option<Errno>,
    released: bool,
    /// shutdown() of a datagram or unconnected socket (stream ends keep
    /// this in the queues).
    shut_rd: bool,
    shut_wr: bool,
    /// A server end made by connect and not accepted yet (its close
    /// resets the client).
    embryo: bool,
}

pub struct UnixSocket {
    me: Weak<UnixSocket>,
    ty: i32,
    rx: Arc<Queue>,
    /// Woken on connection changes: a pending connection (listener), room
    /// in a backlog, a peer that closes.
    events: Arc<WaitQueue>,
    changes: AtomicU64,
    state: Mutex<State>,
    common: Mutex<Common>,
}

impl UnixSocket {
    pub fn new(ty: i32) -> Result<Arc<UnixSocket>, Errno> {
        if !matches!(ty, SOCK_STREAM | SOCK_DGRAM | SOCK_SEQPACKET) {
            return Err(ESOCKTNOSUPPORT);
        }
        Ok(Arc::new_cyclic(|me| UnixSocket {
            me: me.clone(),
            ty,
            rx: Queue::new(DEFAULT_BUFFER),
            events: Arc::new(WaitQueue::new()),
            changes: AtomicU64::new(0),
            state: Mutex::new(State {
                name: UnixName::Unnamed,
                bound: false,
                conn: Conn::Unconnected,
                peercred: None,
                error: None,
                released: false,
                shut_rd: false,
                shut_wr: false,
                embryo: false,
            }),
            common: Mutex::new(Common::default()),
        }))
    }

    /// socketpair(2): two connected sockets.
    pub fn pair(ty: i32, creds: Ucred) -> Result<(Arc<UnixSocket>, Arc<UnixSocket>), Errno> {
        let a = UnixSocket::new(ty)?;
        let b = UnixSocket::new(ty)?;
        for (x, y) in [(&a, &b), (&b, &a)] {
            let mut st = x.state.lock();
            st.conn = Conn::Connected(y.clone());
            st.peercred = Some(creds);
        }
        Ok((a, b))
    }

    fn stream_like(&self) -> bool {
        self.ty != SOCK_DGRAM
    }

    fn me(&self) -> Arc<UnixSocket> {
        self.me.upgrade().expect("a socket in use is alive")
    }

    fn changed(&self) {
        self.changes.fetch_add(1, Ordering::Relaxed);
        self.events.wake_all();
    }

    fn peer(&self) -> Option<Arc<UnixSocket>> {
        match &self.state.lock().conn {
            Conn::Connected(peer) => Some(peer.clone()),
            _ => None,
        }
    }

    fn released(&self) -> bool {
        self.state.lock().released
    }

    /// The socket a name stands for.
    fn resolve(env: &mut dyn Env, name: &UnixName) -> Result<Arc<UnixSocket>, Errno> {
        match name {
            UnixName::Unnamed => Err(EINVAL),
            UnixName::Abstract(key) => ABSTRACT
                .lock()
                .get(key)
                .and_then(Weak::upgrade)
                .ok_or(ECONNREFUSED),
            UnixName::Path(path) => {
                let any = env.lookup_path(path)?;
                any.downcast::<UnixSocket>().map_err(|_| ECONNREFUSED)
            }
        }
    }

    /// Landlock's scope of abstract names: a client whose domain is
    /// scoped reaches only sockets opened in that domain or one nested
    /// in it (EPERM).
    fn check_scope(env: &dyn Env, target: &UnixSocket, name: &UnixName) -> Result<(), Errno> {
        use crate::sentry::landlock::{is_scoped, SCOPE_ABSTRACT_UNIX_SOCKET};
        if !matches!(name, UnixName::Abstract(_)) {
            return Ok(());
        }
        let Some(client) = env.landlock() else {
            return Ok(());
        };
        let server = target.common.lock().landlock.clone();
        if is_scoped(&client, server.as_deref(), SCOPE_ABSTRACT_UNIX_SOCKET) {
            return Err(EPERM);
        }
        Ok(())
    }

    fn unix_name(addr: &SockAddr) -> Result<&UnixName, Errno> {
        match addr {
            SockAddr::Unix(name) => Ok(name),
            _ => Err(EINVAL),
        }
    }

    /// The queue this end writes into, and whether writing is shut.
    fn tx(&self) -> Result<Arc<Queue>, Errno> {
        match &self.state.lock().conn {
            Conn::Connected(peer) => Ok(peer.rx.clone()),
            _ => Err(ENOTCONN),
        }
    }

    fn send_dgram(
        &self,
        env: &mut dyn Env,
        msg: &mut OutMessage,
        waits: &mut Waits,
    ) -> Result<usize, Errno> {
        if self.state.lock().shut_wr {
            return Err(EPIPE);
        }
        let target = match &msg.to {
            Some(SockAddr::Unix(name)) => {
                let target = UnixSocket::resolve(env, name)?;
                // A connected peer was checked at connect.
                if !self.peer().is_some_and(|p| Arc::ptr_eq(&p, &target)) {
                    UnixSocket::check_scope(env, &target, name)?;
                }
                target
            }
            Some(_) => return Err(EINVAL),
            None => self.peer().ok_or(ENOTCONN)?,
        };
        if target.ty != SOCK_DGRAM {
            return Err(EPROTOTYPE);
        }
        if target.released() {
            // The connected peer is gone: ECONNREFUSED once, then unconnected.
            let mut st = self.state.lock();
            if let Conn::Connected(peer) = &st.conn {
                if Arc::ptr_eq(peer, &target) {
                    st.conn = Conn::Unconnected;
                }
            }
            return Err(ECONNREFUSED);
        }
        let me = self.me();
        let target_peer = target.peer();
        if target_peer.as_ref().is_some_and(|p| !Arc::ptr_eq(p, &me)) {
            return Err(EPERM);
        }
        let max_count = if target_peer.is_some() {
            None
        } else {
            Some(MAX_DGRAM_QLEN)
        };
        let from = match self.state.lock().name.clone() {
            UnixName::Unnamed => None,
            name => Some(SockAddr::Unix(name)),
        };
        match target.rx.write_record(msg, from, max_count) {
            Err(e) if e == EAGAIN => {
                waits.push(target.rx.writers.clone());
                Err(EAGAIN)
            }
            other => other,
        }
    }
}

impl Socket for UnixSocket {
    fn domain(&self) -> u16 {
        AF_UNIX
    }
    fn sock_type(&self) -> i32 {
        self.ty
    }
    fn protocol(&self) -> i32 {
        0
    }
    fn common(&self) -> &Mutex<Common> {
        &self.common
    }

    fn bind(&self, env: &mut dyn Env, addr: &SockAddr) -> Result<(), Errno> {
        let name = UnixSocket::unix_name(addr)?;
        if self.state.lock().bound {
            // Linux makes the node first: a taken path is EADDRINUSE.
            if let UnixName::Path(path) = name {
                match env.lookup_path(path) {
                    Err(e) if e == ENOENT || e == ENOTDIR => {}
                    _ => return Err(EADDRINUSE),
                }
            }
            return Err(EINVAL);
        }
        let name = match name {
            // Autobind: an abstract name of five hex digits.
            UnixName::Unnamed => loop {
                let n = NEXT_AUTOBIND.fetch_add(1, Ordering::Relaxed) & 0xfffff;
                let key = alloc::format!("{n:05x}").into_bytes();
                let mut table = ABSTRACT.lock();
                if table.get(&key).and_then(Weak::upgrade).is_none() {
                    table.insert(key.clone(), self.me.clone());
                    break UnixName::Abstract(key);
                }
            },
            UnixName::Abstract(key) => {
                let mut table = ABSTRACT.lock();
                if table.get(key).and_then(Weak::upgrade).is_some() {
                    return Err(EADDRINUSE);
                }
                table.insert(key.clone(), self.me.clone());
                UnixName::Abstract(key.clone())
            }
            UnixName::Path(path) => {
                let weak: Weak<dyn Any + Send + Sync> = self.me.clone();
                env.bind_path(path, weak)?;
                UnixName::Path(path.clone())
            }
        };
        let mut st = self.state.lock();
        st.name = name;
        st.bound = true;
        Ok(())
    }

    fn listen(&self, env: &mut dyn Env, backlog: usize) -> Result<(), Errno> {
        if !self.stream_like() {
            return Err(EOPNOTSUPP);
        }
        let mut st = self.state.lock();
        if !st.bound {
            return Err(EINVAL);
        }
        let backlog = backlog.min(SOMAXCONN);
        match &mut st.conn {
            Conn::Listening { backlog: b, .. } => *b = backlog,
            Conn::Connected(_) => return Err(EINVAL),
            Conn::Unconnected => {
                st.conn = Conn::Listening {
                    backlog,
                    pending: VecDeque::new(),
                };
                st.peercred = Some(env.peer_creds());
            }
        }
        drop(st);
        self.changed();
        Ok(())
    }

    fn accept(&self, waits: &mut Waits) -> Result<Arc<dyn Socket>, Errno> {
        if !self.stream_like() {
            return Err(EOPNOTSUPP);
        }
        let next = match &mut self.state.lock().conn {
            Conn::Listening { pending, .. } => pending.pop_front(),
            _ => return Err(EINVAL),
        };
        match next {
            Some(socket) => {
                socket.state.lock().embryo = false;
                // Room in the backlog for a waiting connect.
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
        env: &mut dyn Env,
        addr: &SockAddr,
        _nonblocking: bool,
        waits: &mut Waits,
    ) -> Result<(), Errno> {
        if !self.stream_like() {
            if *addr == SockAddr::Unspec {
                self.state.lock().conn = Conn::Unconnected;
                return Ok(());
            }
            let name = UnixSocket::unix_name(addr)?;
            let target = UnixSocket::resolve(env, name)?;
            if target.ty != SOCK_DGRAM {
                return Err(EPROTOTYPE);
            }
            UnixSocket::check_scope(env, &target, name)?;
            self.state.lock().conn = Conn::Connected(target);
            self.changed();
            return Ok(());
        }
        let name = UnixSocket::unix_name(addr)?;
        match &self.state.lock().conn {
            Conn::Connected(_) => return Err(EISCONN),
            Conn::Listening { .. } => return Err(EINVAL),
            Conn::Unconnected => {}
        }
        let target = UnixSocket::resolve(env, name)?;
        if target.ty != self.ty {
            return Err(EPROTOTYPE);
        }
        if Arc::ptr_eq(&target, &self.me()) {
            return Err(ECONNREFUSED);
        }
        UnixSocket::check_scope(env, &target, name)?;
        // The server end, made now (as Linux does): the client may write
        // before the server accepts.
        let server = UnixSocket::new(self.ty)?;
        let me = self.me();
        let listener_creds;
        {
            let mut guard = target.state.lock();
            let target_st = &mut *guard;
            if target_st.released {
                return Err(ECONNREFUSED);
            }
            let (target_name, target_bound) = (target_st.name.clone(), target_st.bound);
            let Conn::Listening { backlog, pending } = &mut target_st.conn else {
                return Err(ECONNREFUSED);
            };
            if pending.len() > *backlog {
                waits.push(target.events.clone());
                return Err(EAGAIN);
            }
            {
                let mut server_st = server.state.lock();
                server_st.name = target_name;
                server_st.bound = target_bound;
                server_st.conn = Conn::Connected(me);
                server_st.peercred = Some(env.peer_creds());
                server_st.embryo = true;
            }
            *server.common.lock() = target.common.lock().clone();
            pending.push_back(server.clone());
            listener_creds = target_st.peercred;
        }
        {
            let mut st = self.state.lock();
            st.conn = Conn::Connected(server);
            st.peercred = listener_creds;
        }
        target.changed();
        self.changed();
        Ok(())
    }

    fn message_limit(&self) -> Option<usize> {
        if self.ty == SOCK_STREAM {
            None
        } else {
            Some(self.common.lock().sndbuf.saturating_sub(32))
        }
    }

    fn send(
        &self,
        env: &mut dyn Env,
        msg: &mut OutMessage,
        waits: &mut Waits,
    ) -> Result<usize, Errno> {
        if self.ty == SOCK_DGRAM {
            return self.send_dgram(env, msg, waits);
        }
        let connected = matches!(self.state.lock().conn, Conn::Connected(_));
        if msg.to.is_some() {
            return Err(if connected { EISCONN } else { EOPNOTSUPP });
        }
        if !connected {
            return Err(ENOTCONN);
        }
        let tx = self.tx()?;
        let (eof, room_cap) = {
            let st = tx.lock();
            (st.eof, st.cap)
        };
        if eof || self.state.lock().shut_wr {
            return Err(EPIPE);
        }
        // The writer's SO_SNDBUF bounds what it has in flight.
        let sndbuf = self.common.lock().sndbuf;
        if sndbuf != room_cap {
            tx.lock().cap = sndbuf;
        }
        let result = if self.ty == SOCK_STREAM {
            tx.write_stream(msg)
        } else {
            tx.write_record(msg, None, None)
        };
        if result == Err(EAGAIN) {
            waits.push(tx.writers.clone());
            waits.push(self.events.clone());
        }
        result
    }

    fn recv(&self, max: usize, flags: i32, waits: &mut Waits) -> Result<InMessage, Errno> {
        let peek = flags & MSG_PEEK != 0;
        let passcred = self.common.lock().passcred;
        let (connected, shut_rd) = {
            let st = self.state.lock();
            (
                match &st.conn {
                    Conn::Connected(_) => true,
                    Conn::Listening { .. } => return Err(EINVAL),
                    Conn::Unconnected => false,
                },
                st.shut_rd,
            )
        };
        if self.stream_like() && !connected {
            return Err(if self.ty == SOCK_STREAM {
                EINVAL
            } else {
                ENOTCONN
            });
        }
        let msg = if self.ty == SOCK_STREAM {
            let msg = self.rx.read_stream(max, peek, passcred);
            (!msg.data.is_empty() || !msg.rights.is_empty()).then_some(msg)
        } else {
            self.rx.read_record(max, peek)
        };
        if let Some(mut msg) = msg {
            if self.ty == SOCK_STREAM || self.ty == SOCK_SEQPACKET {
                msg.from = None;
            }
            return Ok(msg);
        }
        let mut st = self.rx.lock();
        if let Some(error) = st.error.take() {
            return Err(error);
        }
        if st.eof || shut_rd {
            return Ok(InMessage::default());
        }
        drop(st);
        waits.push(self.rx.readers.clone());
        waits.push(self.events.clone());
        Err(EAGAIN)
    }

    fn shutdown(&self, how: i32) -> Result<(), Errno> {
        if !(0..=2).contains(&how) {
            return Err(EINVAL);
        }
        let (rd, wr) = (how != 1, how != 0);
        let peer = {
            let mut st = self.state.lock();
            st.shut_rd |= rd;
            st.shut_wr |= wr;
            match &st.conn {
                Conn::Connected(peer) if self.stream_like() => Some(peer.clone()),
                _ => None,
            }
        };
        if let Some(peer) = peer {
            // Our reading side is the peer's writing side and the other
            // way round: both ends see the same closed direction.
            if rd {
                self.rx.close_write();
            }
            if wr {
                peer.rx.close_write();
            }
            peer.changed();
        }
        self.changed();
        Ok(())
    }

    fn local_addr(&self) -> SockAddr {
        SockAddr::Unix(self.state.lock().name.clone())
    }

    fn peer_addr(&self) -> Result<SockAddr, Errno> {
        let peer = self.peer().ok_or(ENOTCONN)?;
        let name = peer.state.lock().name.clone();
        Ok(SockAddr::Unix(name))
    }

    fn setsockopt(&self, _level: i32, _name: i32, _value: &[u8]) -> Result<(), Errno> {
        Err(ENOPROTOOPT)
    }

    fn getsockopt(&self, level: i32, name: i32) -> Result<Vec<u8>, Errno> {
        match (level, name) {
            (SOL_SOCKET, SO_PEERCRED) => {
                Ok(self.state.lock().peercred.unwrap_or(Ucred::NONE).to_bytes())
            }
            (SOL_SOCKET, SO_ACCEPTCONN) => Ok(int_bytes(matches!(
                self.state.lock().conn,
                Conn::Listening { .. }
            ) as i32)),
            _ => Err(ENOPROTOOPT),
        }
    }

    fn take_error(&self) -> Option<Errno> {
        let error = self.state.lock().error.take();
        error.or_else(|| self.rx.lock().error.take())
    }

    fn poll(&self, events: i16) -> i16 {
        let st = self.state.lock();
        let peer = match &st.conn {
            Conn::Listening { pending, .. } => {
                return if pending.is_empty() {
                    0
                } else {
                    events & POLLIN
                };
            }
            Conn::Connected(peer) => Some(peer.clone()),
            Conn::Unconnected => None,
        };
        let (shut_rd, shut_wr, error) = (st.shut_rd, st.shut_wr, st.error.is_some());
        drop(st);
        let mut mask = 0;
        let (rx_data, rx_eof, rx_error) = {
            let rx = self.rx.lock();
            (!rx.segments.is_empty(), rx.eof, rx.error.is_some())
        };
        if error || rx_error {
            mask |= POLLERR;
        }
        let (rcv_shut, snd_shut, writable) = if self.stream_like() {
            match &peer {
                Some(peer) => {
                    let tx = peer.rx.lock();
                    (rx_eof, tx.eof, tx.used * 4 <= tx.cap)
                }
                None => (shut_rd, shut_wr, true),
            }
        } else {
            let writable = match &peer {
                Some(peer) if !peer.released() => {
                    let peer_is_me = peer.peer().is_some_and(|p| core::ptr::eq(&*p, self));
                    let tx = peer.rx.lock();
                    (peer_is_me || tx.segments.len() <= MAX_DGRAM_QLEN)
                        && (tx.segments.is_empty() || tx.used * 4 <= tx.cap)
                }
                _ => true,
            };
            (shut_rd, shut_wr, writable)
        };
        if rcv_shut && snd_shut {
            mask |= POLLHUP;
        }
        if rcv_shut {
            mask |= POLLRDHUP | POLLIN;
        }
        if rx_data {
            mask |= POLLIN;
        }
        if self.stream_like() && peer.is_none() {
            mask |= POLLHUP;
        }
        if writable {
            mask |= POLLOUT;
        }
        mask & (events | POLLERR | POLLHUP)
    }

    fn wait_queues(&self, out: &mut Waits) {
        out.push(self.rx.readers.clone());
        out.push(self.events.clone());
        if let Some(peer) = self.peer() {
            out.push(peer.rx.writers.clone());
        }
    }

    fn activity(&self) -> u64 {
        let mut n = self.changes.load(Ordering::Relaxed) + self.rx.lock().changes;
        if let Some(peer) = self.peer() {
            n += peer.rx.lock().changes;
        }
        n
    }

    fn available(&self) -> usize {
        self.rx.available(self.ty == SOCK_STREAM)
    }

    fn release(&self) {
        let (conn, name, embryo) = {
            let mut st = self.state.lock();
            if st.released {
                return;
            }
            st.released = true;
            (
                core::mem::replace(&mut st.conn, Conn::Unconnected),
                st.name.clone(),
                st.embryo,
            )
        };
        if let UnixName::Abstract(key) = &name {
            let mut table = ABSTRACT.lock();
            if table
                .get(key)
                .is_some_and(|w| core::ptr::eq(w.as_ptr(), self))
            {
                table.remove(key);
            }
        }
        let unread = self.rx.close_read();
        match conn {
            Conn::Listening { pending, .. } => {
                for embryo in pending {
                    embryo.release();
                }
            }
            Conn::Connected(peer) if self.stream_like() => {
                self.rx.close_write();
                peer.rx.close_write();
                // Unread data, or a connection never accepted, resets.
                if unread || embryo {
                    peer.rx.set_error(ECONNRESET);
                }
                peer.changed();
            }
            _ => {}
        }
        self.changed();
    }
}
