//! Kernel key management (keyrings(7)): keys and keyrings, their
//! permissions, per-user quotas, searches and the thread, process, session
//! and user keyrings, after Linux's security/keys. The key types are
//! "keyring", "user" and "logon"; other types are not configured (ENODEV,
//! as from a kernel built without them). There is no /sbin/request-key:
//! request_key with callout information makes a negative key and fails
//! with ENOENT, as Linux does when the helper is absent.
//!
//! The rules only: the caller gives the time and randomness (`Env`) and
//! the caller's credentials (`Cred`), and does the user-memory copies
//! (syscalls/keys.rs). One lock (the caller's, around a `Keys`) covers
//! every operation; each key's state has its own lock for interior
//! mutability, never held across another key's except along a path down
//! the (acyclic) keyring tree.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::fmt::Write;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use spin::{Mutex, MutexGuard};

use super::errno::*;

pub const ENOKEY: Errno = Errno(126);
pub const EKEYEXPIRED: Errno = Errno(127);
pub const EKEYREVOKED: Errno = Errno(128);
pub const EDQUOT: Errno = Errno(122);

pub const KEY_SPEC_THREAD_KEYRING: i32 = -1;
pub const KEY_SPEC_PROCESS_KEYRING: i32 = -2;
pub const KEY_SPEC_SESSION_KEYRING: i32 = -3;
pub const KEY_SPEC_USER_KEYRING: i32 = -4;
pub const KEY_SPEC_USER_SESSION_KEYRING: i32 = -5;
pub const KEY_SPEC_GROUP_KEYRING: i32 = -6;
pub const KEY_SPEC_REQKEY_AUTH_KEY: i32 = -7;
pub const KEY_SPEC_REQUESTOR_KEYRING: i32 = -8;

pub const KEY_REQKEY_DEFL_NO_CHANGE: i32 = -1;
pub const KEY_REQKEY_DEFL_DEFAULT: i32 = 0;
pub const KEY_REQKEY_DEFL_THREAD_KEYRING: i32 = 1;
pub const KEY_REQKEY_DEFL_PROCESS_KEYRING: i32 = 2;
pub const KEY_REQKEY_DEFL_SESSION_KEYRING: i32 = 3;
pub const KEY_REQKEY_DEFL_USER_KEYRING: i32 = 4;
pub const KEY_REQKEY_DEFL_USER_SESSION_KEYRING: i32 = 5;
pub const KEY_REQKEY_DEFL_REQUESTOR_KEYRING: i32 = 7;

pub const KEY_POS_VIEW: u32 = 0x0100_0000;
pub const KEY_POS_READ: u32 = 0x0200_0000;
pub const KEY_POS_WRITE: u32 = 0x0400_0000;
pub const KEY_POS_SEARCH: u32 = 0x0800_0000;
pub const KEY_POS_LINK: u32 = 0x1000_0000;
pub const KEY_POS_SETATTR: u32 = 0x2000_0000;
pub const KEY_POS_ALL: u32 = 0x3f00_0000;
pub const KEY_USR_VIEW: u32 = 0x0001_0000;
pub const KEY_USR_READ: u32 = 0x0002_0000;
pub const KEY_USR_LINK: u32 = 0x0010_0000;
pub const KEY_USR_ALL: u32 = 0x003f_0000;
pub const KEY_GRP_ALL: u32 = 0x0000_3f00;
pub const KEY_OTH_ALL: u32 = 0x0000_003f;

/// The gid of keys that have none (user keyrings): shown as the overflow
/// gid.
pub const INVALID_GID: u32 = u32::MAX;
const OVERFLOW_GID: u32 = 65534;

/// Linux's limits on what user space hands in.
pub const TYPE_MAX: usize = 31;
pub const DESC_MAX: usize = 4095;
pub const PAYLOAD_MAX: usize = 1024 * 1024 - 1;
pub const UPDATE_MAX: usize = 4096;
pub const CALLOUT_MAX: usize = 4095;
/// The longest payload of a user or logon key.
pub const USER_PAYLOAD_MAX: usize = 32767;
/// Quota bytes a link in a keyring costs its owner (KEYQUOTA_LINK_BYTES).
const LINK_QUOTA: u32 = 4;
/// How deep searches go into nested keyrings.
const SEARCH_MAX_DEPTH: usize = 6;
/// How long a negative key from a failed construction lasts (seconds).
const NEGATIVE_TIMEOUT: u64 = 60;

/// Sentry heap a key costs beyond its description and payload, and what a
/// link costs (map node share): charged against the sandbox-wide budget.
const KEY_OVERHEAD: u64 = 256;
const LINK_OVERHEAD: u64 = 64;

/// Time and randomness, from the kernel.
pub trait Env {
    /// CLOCK_REALTIME seconds (key expiry is in real time, as Linux's).
    fn now(&self) -> u64;
    fn random(&mut self) -> u32;
}

/// The caller's credentials as keys see them: real ids own the special
/// keyrings, the filesystem (here: effective) ids own new keys and decide
/// the permissions.
pub struct Cred<'a> {
    pub uid: u32,
    pub fsuid: u32,
    pub gid: u32,
    pub fsgid: u32,
    pub groups: &'a [u32],
    /// CAP_SYS_ADMIN.
    pub sys_admin: bool,
}

impl Cred<'_> {
    fn in_group(&self, gid: u32) -> bool {
        gid == self.fsgid || self.groups.contains(&gid)
    }
}

/// Heap all keys may use, sandbox-wide: a key is refused (EDQUOT) rather
/// than let the keys of many users exhaust the sentry's heap.
pub struct Budget {
    used: AtomicU64,
    max: u64,
}

impl Budget {
    pub const fn new(max: u64) -> Budget {
        Budget {
            used: AtomicU64::new(0),
            max,
        }
    }

    fn reserve(&self, bytes: u64) -> bool {
        let before = self.used.fetch_add(bytes, Ordering::Relaxed);
        if before.saturating_add(bytes) > self.max {
            self.used.fetch_sub(bytes, Ordering::Relaxed);
            return false;
        }
        true
    }

    fn release(&self, bytes: u64) {
        self.used.fetch_sub(bytes, Ordering::Relaxed);
    }

    #[cfg(test)]
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }
}

/// One user's key counts (Linux's struct key_user): every key it owns, the
/// instantiated ones, and what its quota is charged with.
pub struct KeyUser {
    uid: u32,
    nkeys: AtomicU32,
    nikeys: AtomicU32,
    qnkeys: AtomicU32,
    qnbytes: AtomicU32,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum KeyType {
    Keyring,
    User,
    Logon,
}

impl KeyType {
    /// A configured key type by name (Linux's key_type_lookup).
    pub fn lookup(name: &[u8]) -> Option<KeyType> {
        match name {
            b"keyring" => Some(KeyType::Keyring),
            b"user" => Some(KeyType::User),
            b"logon" => Some(KeyType::Logon),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            KeyType::Keyring => "keyring",
            KeyType::User => "user",
            KeyType::Logon => "logon",
        }
    }

    fn readable(self) -> bool {
        self != KeyType::Logon
    }

    fn updatable(self) -> bool {
        self != KeyType::Keyring
    }

    /// The type's preparse: whether `payload` can instantiate such a key.
    fn check_payload<'a>(self, payload: &Payload<'a>) -> Result<&'a [u8], Errno> {
        match (self, payload) {
            (KeyType::Keyring, Payload::Absent) => Ok(&[]),
            (KeyType::User | KeyType::Logon, &Payload::Bytes(p)) if p.len() <= USER_PAYLOAD_MAX => {
                Ok(p)
            }
            _ => Err(EINVAL),
        }
    }

    /// The type's vet_description: a logon key is "service:name".
    fn check_description(self, desc: &[u8]) -> Result<(), Errno> {
        if self == KeyType::Logon {
            match desc.iter().position(|&b| b == b':') {
                Some(0) | None => return Err(EINVAL),
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// What add_key gives a new key of this type (KEY_PERM_UNDEF).
    fn default_perm(self) -> u32 {
        let mut perm =
            KEY_POS_VIEW | KEY_POS_SEARCH | KEY_POS_LINK | KEY_POS_SETATTR | KEY_USR_VIEW;
        if self.readable() {
            perm |= KEY_POS_READ;
        }
        if self == KeyType::Keyring || self.updatable() {
            perm |= KEY_POS_WRITE;
        }
        perm
    }
}

/// A payload as user space hands it in.
pub enum Payload<'a> {
    /// None (a zero length).
    Absent,
    Bytes(&'a [u8]),
    /// Longer than any configured type takes (not copied in).
    TooLong,
}

/// What a key holds, by its index in a keyring (one key per type and
/// description).
type LinkKey = (KeyType, Arc<[u8]>);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Inst {
    Positive,
    /// Negatively instantiated: lookups fail with this error.
    Negative(Errno),
}

pub struct Key {
    serial: i32,
    ktype: KeyType,
    description: Arc<[u8]>,
    /// Creation order: named keyrings are found oldest first.
    seq: u64,
    state: Mutex<KeyState>,
    budget: &'static Budget,
}

struct KeyState {
    uid: u32,
    gid: u32,
    perm: u32,
    user: Arc<KeyUser>,
    in_quota: bool,
    /// Charged to the owner's byte quota: description, payload, links.
    quotalen: u32,
    /// The payload part of `quotalen` (Linux's datalen).
    datalen: u32,
    /// Charged to the sandbox budget.
    charge: u64,
    inst: Inst,
    revoked_at: Option<u64>,
    invalidated: bool,
    /// Expiry time (real time seconds).
    expiry: Option<u64>,
    /// A user or user session keyring.
    uid_keyring: bool,
    /// KEYCTL_RESTRICT_KEYRING: no more links may be made to it.
    restricted: bool,
    payload: Vec<u8>,
    links: BTreeMap<LinkKey, Arc<Key>>,
}

impl Key {
    /// The state; nothing else may hold it (a held lock here is a bug, and
    /// a panic says so rather than a spin).
    fn st(&self) -> MutexGuard<'_, KeyState> {
        self.state.try_lock().expect("key state lock re-entered")
    }

    fn index(&self) -> LinkKey {
        (self.ktype, self.description.clone())
    }

    fn is_keyring(&self) -> bool {
        self.ktype == KeyType::Keyring
    }
}

impl KeyState {
    fn revoked(&self) -> bool {
        self.revoked_at.is_some()
    }

    /// Linux's key_validate.
    fn validate(&self, now: u64) -> Result<(), Errno> {
        if self.invalidated {
            return Err(ENOKEY);
        }
        if self.revoked() {
            return Err(EKEYREVOKED);
        }
        if self.expiry.is_some_and(|t| now >= t) {
            return Err(EKEYEXPIRED);
        }
        Ok(())
    }

    /// Whether the garbage collector unlinks it now.
    fn dead(&self, now: u64, gc_delay: u64) -> bool {
        self.invalidated
            || self
                .expiry
                .is_some_and(|t| now >= t.saturating_add(gc_delay))
            || self
                .revoked_at
                .is_some_and(|t| now >= t.saturating_add(gc_delay))
    }
}

impl Drop for Key {
    fn drop(&mut self) {
        let st = self.state.get_mut();
        let user = &st.user;
        if st.in_quota {
            user.qnkeys.fetch_sub(1, Ordering::Relaxed);
            user.qnbytes.fetch_sub(st.quotalen, Ordering::Relaxed);
        }
        user.nkeys.fetch_sub(1, Ordering::Relaxed);
        user.nikeys.fetch_sub(1, Ordering::Relaxed);
        self.budget.release(st.charge);
        // Free the keyrings below one at a time: a chain of nested keyrings
        // (add_key can make one as deep as it likes) must not recurse.
        let mut pending: Vec<Arc<Key>> = core::mem::take(&mut st.links).into_values().collect();
        while let Some(key) = pending.pop() {
            if let Some(mut last) = Arc::into_inner(key) {
                pending.extend(core::mem::take(&mut last.state.get_mut().links).into_values());
            }
        }
    }
}

/// A thread's keyrings and request_key default (Linux keeps them in the
/// thread's credentials: a new thread copies them, a new process keeps the
/// session keyring only, exec drops the thread and process keyrings).
#[derive(Clone, Default)]
pub struct KeyCred {
    thread: Option<Arc<Key>>,
    process: Option<Arc<Key>>,
    session: Option<Arc<Key>>,
    reqkey_default: i32,
}

impl KeyCred {
    /// KEYCTL_SESSION_TO_PARENT on the parent's side: `keyring` becomes
    /// its session keyring (Linux's checks: the parent's ids are all the
    /// caller's effective ones, both keyrings belong to it). EPERM else.
    pub fn take_session_from_child(
        &mut self,
        keyring: &Arc<Key>,
        parent_ids: ([u32; 3], [u32; 3]),
        euid: u32,
        egid: u32,
    ) -> Result<(), Errno> {
        if self
            .session
            .as_ref()
            .is_some_and(|s| Arc::ptr_eq(s, keyring))
        {
            return Ok(());
        }
        if parent_ids != ([euid; 3], [egid; 3])
            || self.session.as_ref().is_some_and(|s| s.st().uid != euid)
            || keyring.st().uid != euid
        {
            return Err(EPERM);
        }
        self.session = Some(keyring.clone());
        Ok(())
    }

    /// A forked process's.
    pub fn for_new_process(&self) -> KeyCred {
        KeyCred {
            thread: None,
            process: None,
            session: self.session.clone(),
            reqkey_default: self.reqkey_default,
        }
    }

    /// At exec.
    pub fn exec(&mut self) {
        self.thread = None;
        self.process = None;
    }
}

/// A key as a lookup found it: whether the caller possesses it (reached it
/// through its own keyrings) decides whether the possessor permissions
/// apply.
pub struct KeyRef {
    pub key: Arc<Key>,
    pub possessed: bool,
}

/// What a lookup checks the key grants (Linux's key_need_perm).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Need {
    View,
    Read,
    Write,
    Search,
    Link,
    SetAttr,
    /// No permission and no validity check (unlink).
    Unlink,
    /// The caller checks (read).
    Defer,
}

impl Need {
    fn mask(self) -> u32 {
        match self {
            Need::View => 0x01,
            Need::Read => 0x02,
            Need::Write => 0x04,
            Need::Search => 0x08,
            Need::Link => 0x10,
            Need::SetAttr => 0x20,
            Need::Unlink | Need::Defer => 0,
        }
    }
}

/// Linux's key_task_permission: the owner's, group's or others' bits, plus
/// the possessor's when possessed.
fn permitted(st: &KeyState, cred: &Cred, possessed: bool, need: Need) -> bool {
    let mask = need.mask();
    if mask == 0 {
        return true;
    }
    let perm = st.perm;
    let mut kperm = if st.uid == cred.fsuid {
        perm >> 16
    } else if st.gid != INVALID_GID && perm & KEY_GRP_ALL != 0 && cred.in_group(st.gid) {
        perm >> 8
    } else {
        perm
    };
    if possessed {
        kperm |= perm >> 24;
    }
    kperm & mask & 0x3f == mask
}

fn check(kref: &KeyRef, cred: &Cred, need: Need) -> Result<(), Errno> {
    if permitted(&kref.key.st(), cred, kref.possessed, need) {
        Ok(())
    } else {
        Err(EACCES)
    }
}

/// How a lookup treats special ids and the key's state.
#[derive(Clone, Copy, Default)]
pub struct Lookup {
    /// Make the thread, process or session keyring if missing.
    pub create: bool,
    /// Accept a key that is not (positively) instantiated.
    pub partial: bool,
}

pub const LOOKUP: Lookup = Lookup {
    create: false,
    partial: false,
};
pub const CREATE: Lookup = Lookup {
    create: true,
    partial: false,
};
pub const PARTIAL: Lookup = Lookup {
    create: false,
    partial: true,
};
pub const CREATE_PARTIAL: Lookup = Lookup {
    create: true,
    partial: true,
};

/// The /proc/sys/kernel/keys settings.
#[derive(Clone, Copy)]
pub struct Limits {
    pub maxkeys: u32,
    pub maxbytes: u32,
    pub root_maxkeys: u32,
    pub root_maxbytes: u32,
    pub gc_delay: u32,
}

impl Limits {
    fn for_uid(&self, uid: u32) -> (u32, u32) {
        if uid == 0 {
            (self.root_maxkeys, self.root_maxbytes)
        } else {
            (self.maxkeys, self.maxbytes)
        }
    }
}

/// How a new key counts against its owner's quota.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Quota {
    In,
    /// Charged, but may go past the limits (the special keyrings).
    Overrun,
}

/// A search of keyring trees (Linux's keyring_search_context).
struct Search<'a> {
    ktype: KeyType,
    desc: &'a [u8],
    /// Match this very key (possession, cycle detection), not just the
    /// description.
    target: Option<&'a Arc<Key>>,
    cred: &'a Cred<'a>,
    possessed: bool,
    now: u64,
    state_check: bool,
    skip_expired: bool,
    recurse: bool,
    check_perm: bool,
    too_deep_fails: bool,
    aborted: bool,
    result: Result<Arc<Key>, Errno>,
}

enum Visit {
    Found,
    Skipped,
    NoMatch,
}

impl<'a> Search<'a> {
    fn new(ktype: KeyType, desc: &'a [u8], cred: &'a Cred<'a>, now: u64) -> Search<'a> {
        Search {
            ktype,
            desc,
            target: None,
            cred,
            possessed: false,
            now,
            state_check: true,
            skip_expired: false,
            recurse: true,
            check_perm: true,
            too_deep_fails: false,
            aborted: false,
            result: Err(EAGAIN),
        }
    }

    /// Linux's keyring_search_iterator.
    fn visit(&mut self, key: &Arc<Key>) -> Visit {
        if key.ktype != self.ktype {
            return Visit::NoMatch;
        }
        let st = key.st();
        if self.state_check {
            if st.invalidated || st.revoked() {
                self.result = Err(EKEYREVOKED);
                return Visit::Skipped;
            }
            if st.expiry.is_some_and(|t| self.now >= t) {
                if !self.skip_expired {
                    self.result = Err(EKEYEXPIRED);
                }
                return Visit::Skipped;
            }
        }
        let matches = match self.target {
            Some(target) => Arc::ptr_eq(target, key),
            None => *key.description == *self.desc,
        };
        if !matches {
            return Visit::NoMatch;
        }
        if self.check_perm && !permitted(&st, self.cred, self.possessed, Need::Search) {
            self.result = Err(EACCES);
            return Visit::Skipped;
        }
        if self.state_check {
            if let Inst::Negative(e) = st.inst {
                self.result = Err(e);
                return Visit::Skipped;
            }
        }
        drop(st);
        self.result = Ok(key.clone());
        Visit::Found
    }

    /// Linux's search_nested_keyrings from `top`.
    fn nested(&mut self, top: &Arc<Key>) -> bool {
        if top.ktype == self.ktype && *top.description == *self.desc {
            match self.visit(top) {
                Visit::Found => return true,
                Visit::Skipped => return false,
                Visit::NoMatch => {}
            }
        }
        self.descend(top, 0)
    }

    fn descend(&mut self, keyring: &Arc<Key>, depth: usize) -> bool {
        let st = keyring.st();
        if st.invalidated || st.revoked() {
            return false;
        }
        let index: LinkKey = (self.ktype, Arc::from(self.desc));
        if let Some(key) = st.links.get(&index) {
            if let Visit::Found = self.visit(key) {
                return true;
            }
        }
        if !self.recurse {
            return false;
        }
        for key in st.links.values().filter(|k| k.is_keyring()) {
            if depth >= SEARCH_MAX_DEPTH {
                if self.too_deep_fails {
                    self.result = Err(ELOOP);
                    self.aborted = true;
                }
                return false;
            }
            if self.check_perm && !permitted(&key.st(), self.cred, self.possessed, Need::Search) {
                continue;
            }
            if self.descend(key, depth + 1) {
                return true;
            }
            if self.aborted {
                return false;
            }
        }
        false
    }

    /// Linux's keyring_search_rcu: search the tree under `keyring`.
    fn keyring(&mut self, keyring: &KeyRef) -> Result<Arc<Key>, Errno> {
        if !keyring.key.is_keyring() {
            return Err(ENOTDIR);
        }
        self.possessed = keyring.possessed;
        if self.check_perm {
            check(keyring, self.cred, Need::Search)?;
        }
        self.result = Err(EAGAIN);
        self.nested(&keyring.key);
        core::mem::replace(&mut self.result, Err(EAGAIN))
    }
}

/// The outcome of a read: the whole length, and the bytes to copy out when
/// they fit the caller's buffer.
pub struct ReadOut {
    pub len: usize,
    pub data: Option<Vec<u8>>,
}

/// Every key of the sandbox, the per-user quotas and the user keyrings.
pub struct Keys {
    serials: BTreeMap<i32, Weak<Key>>,
    users: BTreeMap<u32, Arc<KeyUser>>,
    /// The user keyrings ("_uid.N") and user session keyrings
    /// ("_uid_ses.N") by real uid (Linux's per-namespace register).
    user_keyrings: BTreeMap<u32, Arc<Key>>,
    user_sessions: BTreeMap<u32, Arc<Key>>,
    next_seq: u64,
    pub limits: Limits,
    budget: &'static Budget,
    /// When a timed-out or revoked key is next due for collection.
    next_gc: Option<u64>,
    /// The serial table is pruned of dead entries when it reaches this.
    prune_at: usize,
    users_prune_at: usize,
}

impl Keys {
    pub const fn new(budget: &'static Budget) -> Keys {
        Keys {
            serials: BTreeMap::new(),
            users: BTreeMap::new(),
            user_keyrings: BTreeMap::new(),
            user_sessions: BTreeMap::new(),
            next_seq: 0,
            limits: Limits {
                maxkeys: 200,
                maxbytes: 20000,
                root_maxkeys: 1_000_000,
                root_maxbytes: 25_000_000,
                gc_delay: 300,
            },
            budget,
            next_gc: None,
            prune_at: 64,
            users_prune_at: 64,
        }
    }

    fn user(&mut self, uid: u32) -> Arc<KeyUser> {
        // Records of users whose keys are all gone are dropped now and then
        // (a program switching through many uids must not pile them up).
        if !self.users.contains_key(&uid) && self.users.len() >= self.users_prune_at {
            self.users
                .retain(|_, u| Arc::strong_count(u) > 1 || u.nkeys.load(Ordering::Relaxed) > 0);
            self.users_prune_at = (self.users.len() * 2).max(64);
        }
        self.users
            .entry(uid)
            .or_insert_with(|| {
                Arc::new(KeyUser {
                    uid,
                    nkeys: AtomicU32::new(0),
                    nikeys: AtomicU32::new(0),
                    qnkeys: AtomicU32::new(0),
                    qnbytes: AtomicU32::new(0),
                })
            })
            .clone()
    }

    /// A random unused serial (Linux's key_alloc_serial): positive, 3 and up.
    fn new_serial(&mut self, env: &mut dyn Env) -> i32 {
        let mut serial = loop {
            let s = (env.random() >> 1) as i32;
            if s >= 3 {
                break s;
            }
        };
        while self
            .serials
            .get(&serial)
            .is_some_and(|w| w.strong_count() > 0)
        {
            serial = if serial == i32::MAX { 3 } else { serial + 1 };
        }
        serial
    }

    /// Linux's key_alloc and the type's instantiate: a positive key owned by
    /// `uid`, charged to its quota.
    #[allow(clippy::too_many_arguments)]
    fn alloc(
        &mut self,
        env: &mut dyn Env,
        ktype: KeyType,
        desc: &[u8],
        uid: u32,
        gid: u32,
        perm: u32,
        quota: Quota,
        payload: &[u8],
    ) -> Result<Arc<Key>, Errno> {
        if desc.is_empty() {
            return Err(EINVAL);
        }
        ktype.check_description(desc)?;
        let user = self.user(uid);
        let (maxkeys, maxbytes) = self.limits.for_uid(uid);
        let quotalen = desc.len() as u64 + 1 + payload.len() as u64;
        let (qnkeys, qnbytes) = (
            user.qnkeys.load(Ordering::Relaxed) as u64,
            user.qnbytes.load(Ordering::Relaxed) as u64,
        );
        // The description is charged first and the payload when the key is
        // instantiated; either failing is EDQUOT.
        if quota == Quota::In
            && (qnkeys + 1 > maxkeys as u64 || qnbytes + quotalen > maxbytes as u64)
        {
            return Err(EDQUOT);
        }
        let charge = KEY_OVERHEAD + desc.len() as u64 + payload.len() as u64;
        if !self.budget.reserve(charge) {
            return Err(if quota == Quota::In { EDQUOT } else { ENOMEM });
        }
        user.qnkeys.fetch_add(1, Ordering::Relaxed);
        user.qnbytes.fetch_add(quotalen as u32, Ordering::Relaxed);
        user.nkeys.fetch_add(1, Ordering::Relaxed);
        user.nikeys.fetch_add(1, Ordering::Relaxed);
        let serial = self.new_serial(env);
        let seq = self.next_seq;
        self.next_seq += 1;
        let key = Arc::new(Key {
            serial,
            ktype,
            description: Arc::from(desc),
            seq,
            budget: self.budget,
            state: Mutex::new(KeyState {
                uid,
                gid,
                perm,
                user,
                in_quota: true,
                quotalen: quotalen as u32,
                datalen: payload.len() as u32,
                charge,
                inst: Inst::Positive,
                revoked_at: None,
                invalidated: false,
                expiry: None,
                uid_keyring: false,
                restricted: false,
                payload: payload.to_vec(),
                links: BTreeMap::new(),
            }),
        });
        if self.serials.len() >= self.prune_at {
            self.serials.retain(|_, w| w.strong_count() > 0);
            self.prune_at = (self.serials.len() * 2).max(64);
        }
        self.serials.insert(serial, Arc::downgrade(&key));
        Ok(key)
    }

    fn new_keyring(
        &mut self,
        env: &mut dyn Env,
        desc: &[u8],
        uid: u32,
        gid: u32,
        perm: u32,
        quota: Quota,
    ) -> Result<Arc<Key>, Errno> {
        self.alloc(env, KeyType::Keyring, desc, uid, gid, perm, quota, &[])
    }

    /// Linux's key_payload_reserve: the payload part of the owner's byte
    /// quota becomes `datalen`.
    fn payload_reserve(&self, st: &mut KeyState, datalen: u32) -> Result<(), Errno> {
        let delta = datalen as i64 - st.datalen as i64;
        if delta != 0 && st.in_quota {
            let (_, maxbytes) = self.limits.for_uid(st.user.uid);
            let used = st.user.qnbytes.load(Ordering::Relaxed) as i64;
            if delta > 0 && used + delta > maxbytes as i64 {
                return Err(EDQUOT);
            }
            if delta > 0 {
                st.user.qnbytes.fetch_add(delta as u32, Ordering::Relaxed);
            } else {
                st.user
                    .qnbytes
                    .fetch_sub((-delta) as u32, Ordering::Relaxed);
            }
            st.quotalen = (st.quotalen as i64 + delta) as u32;
        }
        st.datalen = datalen;
        Ok(())
    }

    /// Changes what `st` is charged against the sandbox budget.
    fn recharge(&self, st: &mut KeyState, charge: u64) -> Result<(), Errno> {
        if charge > st.charge {
            if !self.budget.reserve(charge - st.charge) {
                return Err(EDQUOT);
            }
        } else {
            self.budget.release(st.charge - charge);
        }
        st.charge = charge;
        Ok(())
    }

    fn base_charge(key: &Key, st: &KeyState) -> u64 {
        KEY_OVERHEAD
            + key.description.len() as u64
            + st.payload.len() as u64
            + st.links.len() as u64 * LINK_OVERHEAD
    }

    /// Sets a user key's payload (the type's update): the quota follows.
    fn set_payload(&self, key: &Key, payload: &[u8]) -> Result<(), Errno> {
        let mut st = key.st();
        let old_datalen = st.datalen;
        self.payload_reserve(&mut st, payload.len() as u32)?;
        let charge = Self::base_charge(key, &st) - st.payload.len() as u64 + payload.len() as u64;
        if let Err(e) = self.recharge(&mut st, charge) {
            let _ = self.payload_reserve(&mut st, old_datalen);
            return Err(e);
        }
        st.payload = payload.to_vec();
        st.expiry = None;
        st.inst = Inst::Positive;
        Ok(())
    }

    /// Linux's __key_link_begin and __key_link: links `key` into
    /// `keyring`, replacing a key of the same type and description. The
    /// caller has checked the permissions and any cycle.
    fn link(&self, keyring: &Key, key: &Arc<Key>) -> Result<(), Errno> {
        let mut st = keyring.st();
        if st.revoked() {
            return Err(EKEYREVOKED);
        }
        let index = key.index();
        if let Some(slot) = st.links.get_mut(&index) {
            *slot = key.clone();
            return Ok(());
        }
        let datalen = st.datalen + LINK_QUOTA;
        self.payload_reserve(&mut st, datalen)?;
        let charge = st.charge + LINK_OVERHEAD;
        if let Err(e) = self.recharge(&mut st, charge) {
            let _ = self.payload_reserve(&mut st, datalen - LINK_QUOTA);
            return Err(e);
        }
        st.links.insert(index, key.clone());
        Ok(())
    }

    /// Whether a link to a key of `index` may be made in `keyring`
    /// (revocation, quota for a new link, restriction), checked before a
    /// key is made for it.
    fn may_link(&self, keyring: &Key, index: &LinkKey) -> Result<(), Errno> {
        let st = keyring.st();
        if st.revoked() {
            return Err(EKEYREVOKED);
        }
        if !st.links.contains_key(index) && st.in_quota {
            let (_, maxbytes) = self.limits.for_uid(st.user.uid);
            if st.user.qnbytes.load(Ordering::Relaxed) as u64 + LINK_QUOTA as u64 > maxbytes as u64
            {
                return Err(EDQUOT);
            }
        }
        if st.restricted {
            return Err(EPERM);
        }
        Ok(())
    }

    /// Removes the link to the key of `index` from `keyring` (ENOENT when
    /// there is none); the link's quota is returned.
    fn unlink(&self, keyring: &Key, index: &LinkKey) -> Result<Arc<Key>, Errno> {
        let mut st = keyring.st();
        let gone = st.links.remove(index).ok_or(ENOENT)?;
        let datalen = st.datalen.saturating_sub(LINK_QUOTA);
        let _ = self.payload_reserve(&mut st, datalen);
        let charge = st.charge - LINK_OVERHEAD;
        let _ = self.recharge(&mut st, charge);
        Ok(gone)
    }

    /// Empties a keyring (clear, revoke): the links' quota is returned.
    fn clear_links(&self, keyring: &Key) -> BTreeMap<LinkKey, Arc<Key>> {
        let mut st = keyring.st();
        let links = core::mem::take(&mut st.links);
        let _ = self.payload_reserve(&mut st, 0);
        let charge = Self::base_charge(keyring, &st);
        let _ = self.recharge(&mut st, charge);
        links
    }

    /// Linux's keyring_detect_cycle: whether linking keyring `b` into `a`
    /// would make a cycle (EDEADLK) or too deep a tree (ELOOP).
    fn detect_cycle(&self, a: &Arc<Key>, b: &Arc<Key>, cred: &Cred, now: u64) -> Result<(), Errno> {
        let mut search = Search::new(a.ktype, &a.description, cred, now);
        search.target = Some(a);
        search.state_check = false;
        search.check_perm = false;
        search.too_deep_fails = true;
        search.nested(b);
        match search.result {
            Ok(_) => Err(EDEADLK),
            Err(e) if e == EAGAIN => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Linux's key_link: checks and links.
    fn key_link(
        &self,
        keyring: &Arc<Key>,
        key: &Arc<Key>,
        cred: &Cred,
        now: u64,
    ) -> Result<(), Errno> {
        if !keyring.is_keyring() {
            return Err(ENOTDIR);
        }
        self.may_link(keyring, &key.index())?;
        if key.is_keyring() {
            self.detect_cycle(keyring, key, cred, now)?;
        }
        self.link(keyring, key)
    }

    /// Runs the garbage collector when something is due, and at once with
    /// `force` (an invalidated key goes at once).
    fn collect(&mut self, now: u64, force: bool) {
        if !force && self.next_gc.is_none_or(|t| now < t) {
            return;
        }
        let gc_delay = self.limits.gc_delay as u64;
        let mut next: Option<u64> = None;
        let mut due = |t: u64| {
            next = Some(next.map_or(t, |n: u64| n.min(t)));
        };
        let mut released: Vec<Arc<Key>> = Vec::new();
        self.serials.retain(|_, w| w.strong_count() > 0);
        let keys: Vec<Arc<Key>> = self.serials.values().filter_map(|w| w.upgrade()).collect();
        for key in &keys {
            let dead = {
                let st = key.st();
                if !st.dead(now, gc_delay) {
                    if let Some(t) = st.expiry {
                        due(t.saturating_add(gc_delay));
                    }
                    if let Some(t) = st.revoked_at {
                        due(t.saturating_add(gc_delay));
                    }
                }
                st.dead(now, gc_delay)
            };
            if dead || !key.is_keyring() {
                continue;
            }
            let doomed: Vec<LinkKey> = key
                .st()
                .links
                .iter()
                .filter(|(_, k)| k.st().dead(now, gc_delay))
                .map(|(i, _)| i.clone())
                .collect();
            for index in doomed {
                if let Ok(k) = self.unlink(key, &index) {
                    released.push(k);
                }
            }
        }
        let dead_root = |k: &Arc<Key>| k.st().dead(now, gc_delay);
        self.user_keyrings.retain(|_, k| !dead_root(k));
        self.user_sessions.retain(|_, k| !dead_root(k));
        self.users
            .retain(|_, u| Arc::strong_count(u) > 1 || u.nkeys.load(Ordering::Relaxed) > 0);
        self.next_gc = next;
        drop(keys);
        drop(released);
    }

    fn schedule_gc(&mut self, at: u64) {
        self.next_gc = Some(self.next_gc.map_or(at, |t| t.min(at)));
    }

    /// Linux's look_up_user_keyrings: the user keyring and user session
    /// keyring of the caller's real uid, made if missing.
    fn user_keyrings(
        &mut self,
        env: &mut dyn Env,
        cred: &Cred,
    ) -> Result<(Arc<Key>, Arc<Key>), Errno> {
        let uid = cred.uid;
        let now = env.now();
        let perm = (KEY_POS_ALL & !KEY_POS_SETATTR) | KEY_USR_ALL;
        let uid_desc = format!("_uid.{uid}");
        let uid_keyring =
            match self.registered(&uid_desc, self.user_keyrings.get(&uid), cred, now)? {
                Some(k) => k,
                None => {
                    let k = self.new_keyring(
                        env,
                        uid_desc.as_bytes(),
                        uid,
                        INVALID_GID,
                        perm,
                        Quota::In,
                    )?;
                    k.st().uid_keyring = true;
                    self.user_keyrings.insert(uid, k.clone());
                    k
                }
            };
        let ses_desc = format!("_uid_ses.{uid}");
        let session = match self.registered(&ses_desc, self.user_sessions.get(&uid), cred, now)? {
            Some(k) => k,
            None => {
                let k =
                    self.new_keyring(env, ses_desc.as_bytes(), uid, INVALID_GID, perm, Quota::In)?;
                k.st().uid_keyring = true;
                self.link(&k, &uid_keyring)?;
                self.user_sessions.insert(uid, k.clone());
                k
            }
        };
        Ok((uid_keyring, session))
    }

    /// A registered user keyring as the register's search finds it: the
    /// keyring, none (make one), or why it cannot be used.
    fn registered(
        &self,
        desc: &str,
        key: Option<&Arc<Key>>,
        cred: &Cred,
        now: u64,
    ) -> Result<Option<Arc<Key>>, Errno> {
        let Some(key) = key else {
            return Ok(None);
        };
        let mut search = Search::new(KeyType::Keyring, desc.as_bytes(), cred, now);
        search.possessed = true;
        match search.visit(key) {
            Visit::Found => Ok(Some(key.clone())),
            Visit::Skipped => search.result.map(Some),
            Visit::NoMatch => Ok(None),
        }
    }

    /// The user session keyring if it exists (searches fall back to it when
    /// there is no session keyring).
    fn user_session_if_any(&self, cred: &Cred, now: u64) -> Option<Arc<Key>> {
        let desc = format!("_uid_ses.{}", cred.uid);
        self.registered(&desc, self.user_sessions.get(&cred.uid), cred, now)
            .ok()
            .flatten()
    }

    /// Linux's search_cred_keyrings_rcu: the thread, process and session
    /// (or user session) keyrings in turn, the first match winning.
    fn search_process_keyrings(
        &self,
        kc: &KeyCred,
        search: &mut Search,
    ) -> Result<Arc<Key>, Errno> {
        let mut ret: Option<Errno> = None;
        let mut err = EAGAIN;
        let user_session;
        let session = match &kc.session {
            Some(s) => Some(s),
            None => {
                user_session = self.user_session_if_any(search.cred, search.now);
                user_session.as_ref()
            }
        };
        let rings = [kc.thread.as_ref(), kc.process.as_ref(), session];
        for (i, ring) in rings.into_iter().enumerate() {
            let Some(ring) = ring else { continue };
            let kref = KeyRef {
                key: ring.clone(),
                possessed: true,
            };
            match search.keyring(&kref) {
                Ok(key) => return Ok(key),
                Err(e) if e == EAGAIN => {
                    if i == 0 || ret.is_none() {
                        ret = Some(e);
                    }
                }
                Err(e) if e == ENOKEY => ret = Some(e),
                Err(e) => err = e,
            }
        }
        Err(ret.unwrap_or(err))
    }

    /// Whether the caller possesses `key`: it can be found through its
    /// keyrings.
    fn possessed(&self, kc: &KeyCred, cred: &Cred, now: u64, key: &Arc<Key>) -> bool {
        let mut search = Search::new(key.ktype, &key.description, cred, now);
        search.target = Some(key);
        search.state_check = false;
        self.search_process_keyrings(kc, &mut search).is_ok()
    }

    /// Linux's lookup_user_key: a key by serial or special id, checked for
    /// `need` (and for validity unless `flags.partial`).
    pub fn lookup(
        &mut self,
        env: &mut dyn Env,
        cred: &Cred,
        kc: &mut KeyCred,
        id: i32,
        flags: Lookup,
        need: Need,
    ) -> Result<KeyRef, Errno> {
        let now = env.now();
        self.collect(now, false);
        let possessed = |key: &Arc<Key>| KeyRef {
            key: key.clone(),
            possessed: true,
        };
        let kref = match id {
            KEY_SPEC_THREAD_KEYRING => {
                if kc.thread.is_none() {
                    if !flags.create {
                        return Err(ENOKEY);
                    }
                    kc.thread = Some(self.special_keyring(env, cred, b"_tid")?);
                }
                possessed(kc.thread.as_ref().expect("installed above"))
            }
            KEY_SPEC_PROCESS_KEYRING => {
                if kc.process.is_none() {
                    if !flags.create {
                        return Err(ENOKEY);
                    }
                    kc.process = Some(self.special_keyring(env, cred, b"_pid")?);
                }
                possessed(kc.process.as_ref().expect("installed above"))
            }
            KEY_SPEC_SESSION_KEYRING => {
                let user_session = kc.session.as_ref().map(|s| s.st().uid_keyring);
                match user_session {
                    None => {
                        let (_, user_session) = self.user_keyrings(env, cred)?;
                        if flags.create {
                            self.join_anonymous(env, cred, kc)?;
                        } else {
                            kc.session = Some(user_session);
                        }
                    }
                    Some(true) if flags.create => {
                        self.join_anonymous(env, cred, kc)?;
                    }
                    Some(_) => {}
                }
                possessed(kc.session.as_ref().expect("installed above"))
            }
            KEY_SPEC_USER_KEYRING => possessed(&self.user_keyrings(env, cred)?.0),
            KEY_SPEC_USER_SESSION_KEYRING => possessed(&self.user_keyrings(env, cred)?.1),
            KEY_SPEC_GROUP_KEYRING => return Err(EINVAL),
            // No authorisation key is ever assumed: there is no request-key
            // helper to assume one.
            KEY_SPEC_REQKEY_AUTH_KEY | KEY_SPEC_REQUESTOR_KEYRING => return Err(ENOKEY),
            id if id < 1 => return Err(EINVAL),
            id => {
                let key = self
                    .serials
                    .get(&id)
                    .and_then(Weak::upgrade)
                    .ok_or(ENOKEY)?;
                let possessed = self.possessed(kc, cred, now, &key);
                KeyRef { key, possessed }
            }
        };
        if need != Need::Unlink {
            let st = kref.key.st();
            if !flags.partial {
                let state = match st.inst {
                    Inst::Negative(e) => Err(e),
                    Inst::Positive => st.validate(now),
                };
                if need != Need::Defer {
                    state?;
                }
            } else if need != Need::Defer {
                st.validate(now)?;
            }
        }
        check(&kref, cred, need)?;
        Ok(kref)
    }

    /// A new thread or process keyring ("_tid", "_pid"): the caller's, may
    /// overrun its quota.
    fn special_keyring(
        &mut self,
        env: &mut dyn Env,
        cred: &Cred,
        desc: &[u8],
    ) -> Result<Arc<Key>, Errno> {
        self.new_keyring(
            env,
            desc,
            cred.uid,
            cred.gid,
            KEY_POS_ALL | KEY_USR_VIEW,
            Quota::Overrun,
        )
    }

    /// A new thread's keyrings: its parent's, and a thread keyring of its
    /// own when the parent has one.
    pub fn for_new_thread(
        &mut self,
        env: &mut dyn Env,
        cred: &Cred,
        parent: &KeyCred,
    ) -> Result<KeyCred, Errno> {
        let mut kc = parent.clone();
        if parent.thread.is_some() {
            kc.thread = Some(
                self.special_keyring(env, cred, b"_tid")
                    .map_err(|_| ENOMEM)?,
            );
        }
        Ok(kc)
    }

    /// Installs a new anonymous session keyring ("_ses").
    fn join_anonymous(
        &mut self,
        env: &mut dyn Env,
        cred: &Cred,
        kc: &mut KeyCred,
    ) -> Result<i32, Errno> {
        let quota = if kc.session.is_some() {
            Quota::In
        } else {
            Quota::Overrun
        };
        let perm = KEY_POS_ALL | KEY_USR_VIEW | KEY_USR_READ;
        let keyring = self.new_keyring(env, b"_ses", cred.uid, cred.gid, perm, quota)?;
        let serial = keyring.serial;
        kc.session = Some(keyring);
        Ok(serial)
    }

    /// KEYCTL_GET_KEYRING_ID.
    pub fn get_keyring_id(
        &mut self,
        env: &mut dyn Env,
        cred: &Cred,
        kc: &mut KeyCred,
        id: i32,
        create: bool,
    ) -> Result<i32, Errno> {
        let flags = if create { CREATE } else { LOOKUP };
        Ok(self
            .lookup(env, cred, kc, id, flags, Need::Search)?
            .key
            .serial)
    }

    /// KEYCTL_JOIN_SESSION_KEYRING: a new anonymous session keyring, or the
    /// named one (made if no searchable one has the name).
    pub fn join_session(
        &mut self,
        env: &mut dyn Env,
        cred: &Cred,
        kc: &mut KeyCred,
        name: Option<&[u8]>,
    ) -> Result<i32, Errno> {
        self.collect(env.now(), false);
        let Some(name) = name else {
            return self.join_anonymous(env, cred, kc);
        };
        let found = self
            .serials
            .values()
            .filter_map(Weak::upgrade)
            .filter(|k| {
                k.is_keyring() && *k.description == *name && !name.is_empty() && name[0] != b'.'
            })
            .filter(|k| {
                let st = k.st();
                !st.revoked() && !st.invalidated && permitted(&st, cred, false, Need::Search)
            })
            .min_by_key(|k| k.seq);
        let keyring = match found {
            Some(k) if kc.session.as_ref().is_some_and(|s| Arc::ptr_eq(s, &k)) => return Ok(0),
            Some(k) => k,
            None => {
                let perm = KEY_POS_ALL | KEY_USR_VIEW | KEY_USR_READ | KEY_USR_LINK;
                self.new_keyring(env, name, cred.uid, cred.gid, perm, Quota::In)?
            }
        };
        let serial = keyring.serial;
        kc.session = Some(keyring);
        Ok(serial)
    }

    /// add_key: a new key linked into the keyring `ringid`, or the update of
    /// the key of the same type and description there.
    #[allow(clippy::too_many_arguments)]
    pub fn add_key(
        &mut self,
        env: &mut dyn Env,
        cred: &Cred,
        kc: &mut KeyCred,
        type_name: &[u8],
        desc: Option<&[u8]>,
        payload: Payload,
        ringid: i32,
    ) -> Result<i32, Errno> {
        let keyring = self.lookup(env, cred, kc, ringid, CREATE, Need::Write)?;
        let ktype = KeyType::lookup(type_name).ok_or(ENODEV)?;
        if !keyring.key.is_keyring() {
            return Err(ENOTDIR);
        }
        let payload = ktype.check_payload(&payload)?;
        let desc = desc.ok_or(EINVAL)?;
        let index: LinkKey = (ktype, Arc::from(desc));
        self.may_link(&keyring.key, &index)?;
        check(&keyring, cred, Need::Write)?;
        if ktype.updatable() {
            let existing = keyring.key.st().links.get(&index).cloned();
            if let Some(key) = existing.filter(|k| {
                let st = k.st();
                !st.revoked() && !st.invalidated
            }) {
                let kref = KeyRef {
                    key,
                    possessed: keyring.possessed,
                };
                check(&kref, cred, Need::Write)?;
                self.set_payload(&kref.key, payload)?;
                return Ok(kref.key.serial);
            }
        }
        let key = self.alloc(
            env,
            ktype,
            desc,
            cred.fsuid,
            cred.fsgid,
            ktype.default_perm(),
            Quota::In,
            payload,
        )?;
        self.link(&keyring.key, &key)?;
        Ok(key.serial)
    }

    /// request_key: the key of this type and description found in the
    /// caller's keyrings (and linked into `dest`, if given), or, with
    /// callout information, the attempt to have it made.
    #[allow(clippy::too_many_arguments)]
    pub fn request_key(
        &mut self,
        env: &mut dyn Env,
        cred: &Cred,
        kc: &mut KeyCred,
        type_name: &[u8],
        desc: &[u8],
        callout: bool,
        dest: i32,
    ) -> Result<i32, Errno> {
        let dest = if dest != 0 {
            Some(self.lookup(env, cred, kc, dest, CREATE, Need::Write)?.key)
        } else {
            None
        };
        let ktype = KeyType::lookup(type_name).ok_or(ENOKEY)?;
        let now = env.now();
        let mut search = Search::new(ktype, desc, cred, now);
        search.skip_expired = true;
        match self.search_process_keyrings(kc, &mut search) {
            Ok(key) => {
                if let Some(dest) = &dest {
                    let kref = KeyRef {
                        key: key.clone(),
                        possessed: true,
                    };
                    check(&kref, cred, Need::Link)?;
                    self.key_link(dest, &key, cred, now)?;
                }
                let st = key.st();
                if let Inst::Negative(e) = st.inst {
                    return Err(e);
                }
                st.validate(now)?;
                Ok(key.serial)
            }
            Err(e) if e != EAGAIN => Err(e),
            Err(_) if !callout => Err(ENOKEY),
            Err(_) => self.construct(env, cred, kc, ktype, desc, dest),
        }
    }

    /// Linux's construct_key_and_link without /sbin/request-key: the key is
    /// made, linked into the destination keyring, and negated when the
    /// helper cannot be run (ENOENT).
    fn construct(
        &mut self,
        env: &mut dyn Env,
        cred: &Cred,
        kc: &mut KeyCred,
        ktype: KeyType,
        desc: &[u8],
        dest: Option<Arc<Key>>,
    ) -> Result<i32, Errno> {
        if ktype == KeyType::Keyring {
            return Err(EPERM);
        }
        let dest = match dest {
            Some(d) => Some(d),
            None => self.default_destination(env, cred, kc)?,
        };
        let mut perm =
            KEY_POS_VIEW | KEY_POS_SEARCH | KEY_POS_LINK | KEY_POS_SETATTR | KEY_USR_VIEW;
        if ktype.readable() {
            perm |= KEY_POS_READ;
        }
        perm |= KEY_POS_WRITE;
        let key = self.alloc(
            env,
            ktype,
            desc,
            cred.fsuid,
            cred.fsgid,
            perm,
            Quota::In,
            &[],
        )?;
        if let Some(dest) = &dest {
            if !dest.is_keyring() {
                return Err(ENOTDIR);
            }
            self.link(dest, &key)?;
        }
        // The helper would run with the user keyrings in place; it cannot
        // run, and the key is negated whatever stopped it.
        let error = self.user_keyrings(env, cred).err().unwrap_or(ENOENT);
        let now = env.now();
        {
            let mut st = key.st();
            st.inst = Inst::Negative(ENOKEY);
            st.expiry = Some(now + NEGATIVE_TIMEOUT);
        }
        self.schedule_gc(now + NEGATIVE_TIMEOUT + self.limits.gc_delay as u64);
        Err(error)
    }

    /// Where request_key links a key it makes by default (the
    /// KEYCTL_SET_REQKEY_KEYRING setting, falling through to the keyrings
    /// the caller has); it must grant Write.
    fn default_destination(
        &mut self,
        env: &mut dyn Env,
        cred: &Cred,
        kc: &mut KeyCred,
    ) -> Result<Option<Arc<Key>>, Errno> {
        let mut level = kc.reqkey_default;
        if level == KEY_REQKEY_DEFL_DEFAULT || level == KEY_REQKEY_DEFL_REQUESTOR_KEYRING {
            level = KEY_REQKEY_DEFL_THREAD_KEYRING;
        }
        let dest = loop {
            match level {
                KEY_REQKEY_DEFL_THREAD_KEYRING => {
                    if let Some(k) = &kc.thread {
                        break k.clone();
                    }
                    level = KEY_REQKEY_DEFL_PROCESS_KEYRING;
                }
                KEY_REQKEY_DEFL_PROCESS_KEYRING => {
                    if let Some(k) = &kc.process {
                        break k.clone();
                    }
                    level = KEY_REQKEY_DEFL_SESSION_KEYRING;
                }
                KEY_REQKEY_DEFL_SESSION_KEYRING => {
                    if let Some(k) = &kc.session {
                        break k.clone();
                    }
                    level = KEY_REQKEY_DEFL_USER_SESSION_KEYRING;
                }
                KEY_REQKEY_DEFL_USER_SESSION_KEYRING => break self.user_keyrings(env, cred)?.1,
                _ => break self.user_keyrings(env, cred)?.0,
            }
        };
        let kref = KeyRef {
            key: dest,
            possessed: true,
        };
        check(&kref, cred, Need::Write)?;
        Ok(Some(kref.key))
    }

    /// KEYCTL_UPDATE.
    pub fn update(
        &mut self,
        env: &mut dyn Env,
        cred: &Cred,
        kc: &mut KeyCred,
        id: i32,
        payload: Payload,
    ) -> Result<(), Errno> {
        let kref = self.lookup(env, cred, kc, id, LOOKUP, Need::Write)?;
        if !kref.key.ktype.updatable() {
            return Err(EOPNOTSUPP);
        }
        let payload = kref.key.ktype.check_payload(&payload)?;
        self.set_payload(&kref.key, payload)
    }

    /// KEYCTL_REVOKE: Write or, failing that, Setattr permission.
    pub fn revoke(
        &mut self,
        env: &mut dyn Env,
        cred: &Cred,
        kc: &mut KeyCred,
        id: i32,
    ) -> Result<(), Errno> {
        let kref = match self.lookup(env, cred, kc, id, LOOKUP, Need::Write) {
            Err(e) if e == EACCES => self.lookup(env, cred, kc, id, LOOKUP, Need::SetAttr)?,
            other => other?,
        };
        let now = env.now();
        let key = &kref.key;
        {
            let mut st = key.st();
            if st.revoked() {
                return Ok(());
            }
            st.revoked_at = Some(now);
            if !key.is_keyring() {
                let _ = self.payload_reserve(&mut st, 0);
                st.payload = Vec::new();
                let charge = Self::base_charge(key, &st);
                let _ = self.recharge(&mut st, charge);
            }
        }
        let released = key.is_keyring().then(|| self.clear_links(key));
        self.schedule_gc(now + self.limits.gc_delay as u64);
        drop(released);
        Ok(())
    }

    /// KEYCTL_INVALIDATE: the key is unlinked everywhere at once.
    pub fn invalidate(
        &mut self,
        env: &mut dyn Env,
        cred: &Cred,
        kc: &mut KeyCred,
        id: i32,
    ) -> Result<(), Errno> {
        let kref = self.lookup(env, cred, kc, id, LOOKUP, Need::Search)?;
        kref.key.st().invalidated = true;
        drop(kref);
        self.collect(env.now(), true);
        Ok(())
    }

    /// KEYCTL_CLEAR.
    pub fn clear(
        &mut self,
        env: &mut dyn Env,
        cred: &Cred,
        kc: &mut KeyCred,
        id: i32,
    ) -> Result<(), Errno> {
        let kref = self.lookup(env, cred, kc, id, CREATE, Need::Write)?;
        if !kref.key.is_keyring() {
            return Err(ENOTDIR);
        }
        let released = self.clear_links(&kref.key);
        drop(released);
        Ok(())
    }

    /// KEYCTL_LINK.
    pub fn link_key(
        &mut self,
        env: &mut dyn Env,
        cred: &Cred,
        kc: &mut KeyCred,
        id: i32,
        ringid: i32,
    ) -> Result<(), Errno> {
        let keyring = self.lookup(env, cred, kc, ringid, CREATE, Need::Write)?;
        let key = self.lookup(env, cred, kc, id, CREATE, Need::Link)?;
        self.key_link(&keyring.key, &key.key, cred, env.now())
    }

    /// KEYCTL_UNLINK: the keyring must grant Write; the key need grant
    /// nothing. The link to whatever key has the key's type and description
    /// goes.
    pub fn unlink_key(
        &mut self,
        env: &mut dyn Env,
        cred: &Cred,
        kc: &mut KeyCred,
        id: i32,
        ringid: i32,
    ) -> Result<(), Errno> {
        let keyring = self.lookup(env, cred, kc, ringid, LOOKUP, Need::Write)?;
        let key = self.lookup(env, cred, kc, id, PARTIAL, Need::Unlink)?;
        if !keyring.key.is_keyring() {
            return Err(ENOTDIR);
        }
        let gone = self.unlink(&keyring.key, &key.key.index())?;
        drop(gone);
        Ok(())
    }

    /// KEYCTL_MOVE.
    #[allow(clippy::too_many_arguments)]
    pub fn move_key(
        &mut self,
        env: &mut dyn Env,
        cred: &Cred,
        kc: &mut KeyCred,
        id: i32,
        from: i32,
        to: i32,
        exclusive: bool,
    ) -> Result<(), Errno> {
        let key = self.lookup(env, cred, kc, id, CREATE, Need::Link)?.key;
        let from = self.lookup(env, cred, kc, from, LOOKUP, Need::Write)?.key;
        let to = self.lookup(env, cred, kc, to, CREATE, Need::Write)?.key;
        if Arc::ptr_eq(&from, &to) {
            return Ok(());
        }
        if !from.is_keyring() || !to.is_keyring() {
            return Err(ENOTDIR);
        }
        let index = key.index();
        if !from.st().links.contains_key(&index) {
            return Err(ENOENT);
        }
        let replaces = to.st().links.contains_key(&index);
        if replaces && exclusive {
            // (Revocation and quota are checked first.)
            if to.st().revoked() {
                return Err(EKEYREVOKED);
            }
            return Err(EEXIST);
        }
        self.may_link(&to, &index)?;
        if key.is_keyring() {
            self.detect_cycle(&to, &key, cred, env.now())?;
        }
        self.link(&to, &key)?;
        let gone = self.unlink(&from, &index);
        drop(gone);
        Ok(())
    }

    /// KEYCTL_DESCRIBE: "type;uid;gid;perm;description" and its NUL.
    pub fn describe(
        &mut self,
        env: &mut dyn Env,
        cred: &Cred,
        kc: &mut KeyCred,
        id: i32,
    ) -> Result<Vec<u8>, Errno> {
        let kref = self.lookup(env, cred, kc, id, PARTIAL, Need::View)?;
        let key = &kref.key;
        let st = key.st();
        let gid = if st.gid == INVALID_GID {
            OVERFLOW_GID
        } else {
            st.gid
        };
        let mut out = String::new();
        let _ = write!(
            out,
            "{};{};{};{:08x};",
            key.ktype.name(),
            st.uid as i32,
            gid as i32,
            st.perm
        );
        let mut out = out.into_bytes();
        out.extend_from_slice(&key.description);
        out.push(0);
        Ok(out)
    }

    /// KEYCTL_SEARCH: from keyring `ringid` down; the key found is linked
    /// into `dest` when given.
    #[allow(clippy::too_many_arguments)]
    pub fn search(
        &mut self,
        env: &mut dyn Env,
        cred: &Cred,
        kc: &mut KeyCred,
        ringid: i32,
        type_name: &[u8],
        desc: &[u8],
        dest: i32,
    ) -> Result<i32, Errno> {
        let keyring = self.lookup(env, cred, kc, ringid, LOOKUP, Need::Search)?;
        let dest = if dest != 0 {
            Some(self.lookup(env, cred, kc, dest, CREATE, Need::Write)?.key)
        } else {
            None
        };
        let ktype = KeyType::lookup(type_name).ok_or(ENOKEY)?;
        let now = env.now();
        let mut search = Search::new(ktype, desc, cred, now);
        let key = search
            .keyring(&keyring)
            .map_err(|e| if e == EAGAIN { ENOKEY } else { e })?;
        if let Some(dest) = &dest {
            let kref = KeyRef {
                key: key.clone(),
                possessed: keyring.possessed,
            };
            check(&kref, cred, Need::Link)?;
            self.key_link(dest, &key, cred, now)?;
        }
        Ok(key.serial)
    }

    /// KEYCTL_READ: a user key's payload or a keyring's serials. `buflen`:
    /// the caller's buffer (0 or none: just the length). The data comes
    /// back only when it fits; a small buffer gets nothing.
    pub fn read(
        &mut self,
        env: &mut dyn Env,
        cred: &Cred,
        kc: &mut KeyCred,
        id: i32,
        buflen: usize,
    ) -> Result<ReadOut, Errno> {
        let kref = self
            .lookup(env, cred, kc, id, LOOKUP, Need::Defer)
            .map_err(|_| ENOKEY)?;
        let key = &kref.key;
        if let Inst::Negative(e) = key.st().inst {
            return Err(e);
        }
        if check(&kref, cred, Need::Read).is_err() && !kref.possessed {
            return Err(EACCES);
        }
        if !key.ktype.readable() {
            return Err(EOPNOTSUPP);
        }
        let now = env.now();
        let st = key.st();
        st.validate(now)?;
        // The type's read sees the caller's length only when it is at most
        // a page (larger buffers are read at the key's own length).
        let seen = if buflen <= 4096 { buflen } else { 0 };
        let data: Vec<u8> = if key.is_keyring() {
            if seen % 4 != 0 {
                return Err(EINVAL);
            }
            st.links
                .values()
                .flat_map(|k| k.serial.to_ne_bytes())
                .collect()
        } else {
            st.payload.clone()
        };
        let len = data.len();
        Ok(ReadOut {
            len,
            data: (buflen > 0 && len > 0 && len <= buflen).then_some(data),
        })
    }

    /// KEYCTL_CHOWN: -1 leaves an id as it is.
    #[allow(clippy::too_many_arguments)]
    pub fn chown(
        &mut self,
        env: &mut dyn Env,
        cred: &Cred,
        kc: &mut KeyCred,
        id: i32,
        uid: u32,
        gid: u32,
    ) -> Result<(), Errno> {
        if uid == u32::MAX && gid == u32::MAX {
            return Ok(());
        }
        let kref = self.lookup(env, cred, kc, id, CREATE_PARTIAL, Need::SetAttr)?;
        let key = &kref.key;
        let (cur_uid, cur_gid) = {
            let st = key.st();
            (st.uid, st.gid)
        };
        let privileged = uid != u32::MAX && uid != cur_uid
            || gid != u32::MAX && gid != cur_gid && !cred.in_group(gid);
        if privileged && !cred.sys_admin {
            return Err(EACCES);
        }
        if uid != u32::MAX && uid != cur_uid {
            let new_owner = self.user(uid);
            let mut st = key.st();
            if st.in_quota {
                let (maxkeys, maxbytes) = self.limits.for_uid(uid);
                let qnkeys = new_owner.qnkeys.load(Ordering::Relaxed) as u64;
                let qnbytes = new_owner.qnbytes.load(Ordering::Relaxed) as u64;
                if qnkeys + 1 > maxkeys as u64 || qnbytes + st.quotalen as u64 > maxbytes as u64 {
                    return Err(EDQUOT);
                }
                new_owner.qnkeys.fetch_add(1, Ordering::Relaxed);
                new_owner.qnbytes.fetch_add(st.quotalen, Ordering::Relaxed);
                st.user.qnkeys.fetch_sub(1, Ordering::Relaxed);
                st.user.qnbytes.fetch_sub(st.quotalen, Ordering::Relaxed);
            }
            new_owner.nkeys.fetch_add(1, Ordering::Relaxed);
            new_owner.nikeys.fetch_add(1, Ordering::Relaxed);
            st.user.nkeys.fetch_sub(1, Ordering::Relaxed);
            st.user.nikeys.fetch_sub(1, Ordering::Relaxed);
            st.user = new_owner;
            st.uid = uid;
        }
        if gid != u32::MAX {
            key.st().gid = gid;
        }
        Ok(())
    }

    /// KEYCTL_SETPERM: by the key's owner or CAP_SYS_ADMIN.
    pub fn setperm(
        &mut self,
        env: &mut dyn Env,
        cred: &Cred,
        kc: &mut KeyCred,
        id: i32,
        perm: u32,
    ) -> Result<(), Errno> {
        if perm & !(KEY_POS_ALL | KEY_USR_ALL | KEY_GRP_ALL | KEY_OTH_ALL) != 0 {
            return Err(EINVAL);
        }
        let kref = self.lookup(env, cred, kc, id, CREATE_PARTIAL, Need::SetAttr)?;
        let mut st = kref.key.st();
        if st.uid != cred.fsuid && !cred.sys_admin {
            return Err(EACCES);
        }
        st.perm = perm;
        Ok(())
    }

    /// KEYCTL_SET_REQKEY_KEYRING: the old setting.
    pub fn set_reqkey_keyring(
        &mut self,
        env: &mut dyn Env,
        cred: &Cred,
        kc: &mut KeyCred,
        level: i32,
    ) -> Result<i32, Errno> {
        let old = kc.reqkey_default;
        match level {
            KEY_REQKEY_DEFL_NO_CHANGE => return Ok(old),
            KEY_REQKEY_DEFL_THREAD_KEYRING => {
                if kc.thread.is_none() {
                    kc.thread = Some(self.special_keyring(env, cred, b"_tid")?);
                }
            }
            KEY_REQKEY_DEFL_PROCESS_KEYRING => {
                if kc.process.is_none() {
                    kc.process = Some(self.special_keyring(env, cred, b"_pid")?);
                }
            }
            KEY_REQKEY_DEFL_DEFAULT
            | KEY_REQKEY_DEFL_SESSION_KEYRING
            | KEY_REQKEY_DEFL_USER_KEYRING
            | KEY_REQKEY_DEFL_USER_SESSION_KEYRING
            | KEY_REQKEY_DEFL_REQUESTOR_KEYRING => {}
            // Group keyrings do not exist (nor in Linux).
            _ => return Err(EINVAL),
        }
        kc.reqkey_default = level;
        Ok(old)
    }

    /// KEYCTL_SET_TIMEOUT: seconds from now, 0 for none.
    pub fn set_timeout(
        &mut self,
        env: &mut dyn Env,
        cred: &Cred,
        kc: &mut KeyCred,
        id: i32,
        timeout: u32,
    ) -> Result<(), Errno> {
        let kref = self.lookup(env, cred, kc, id, CREATE_PARTIAL, Need::SetAttr)?;
        let now = env.now();
        let expiry = (timeout > 0).then(|| now + timeout as u64);
        kref.key.st().expiry = expiry;
        if let Some(t) = expiry {
            self.schedule_gc(t + self.limits.gc_delay as u64);
        }
        Ok(())
    }

    /// KEYCTL_GET_SECURITY: no security module labels keys (an empty
    /// string).
    pub fn get_security(
        &mut self,
        env: &mut dyn Env,
        cred: &Cred,
        kc: &mut KeyCred,
        id: i32,
    ) -> Result<(), Errno> {
        self.lookup(env, cred, kc, id, PARTIAL, Need::View)
            .map(drop)
    }

    /// KEYCTL_RESTRICT_KEYRING on the keyring `kref` (looked up for
    /// Setattr): without a type, it takes no new links. No configured type
    /// offers restriction schemes (ENOENT; ENOKEY for an unknown type).
    pub fn restrict(&mut self, kref: &KeyRef, type_name: Option<&[u8]>) -> Result<(), Errno> {
        if !kref.key.is_keyring() {
            return Err(ENOTDIR);
        }
        if let Some(name) = type_name {
            KeyType::lookup(name).ok_or(ENOKEY)?;
            return Err(ENOENT);
        }
        let mut st = kref.key.st();
        if st.restricted {
            return Err(EEXIST);
        }
        st.restricted = true;
        Ok(())
    }

    /// The thread keyring follows a change of the filesystem ids.
    pub fn fsids_changed(&mut self, kc: &KeyCred, fsuid: u32, fsgid: u32) {
        if let Some(k) = &kc.thread {
            let mut st = k.st();
            st.uid = fsuid;
            st.gid = fsgid;
        }
    }

    /// /proc/key-users: "uid: usage nkeys/nikeys qnkeys/maxkeys
    /// qnbytes/maxbytes" for every user with keys.
    pub fn proc_key_users(&mut self) -> String {
        self.users
            .retain(|_, u| Arc::strong_count(u) > 1 || u.nkeys.load(Ordering::Relaxed) > 0);
        let mut out = String::new();
        for (uid, user) in &self.users {
            let (maxkeys, maxbytes) = self.limits.for_uid(*uid);
            let _ = writeln!(
                out,
                "{:5}: {:5} {}/{} {}/{} {}/{}",
                uid,
                Arc::strong_count(user) - 1,
                user.nkeys.load(Ordering::Relaxed) as i32,
                user.nikeys.load(Ordering::Relaxed) as i32,
                user.qnkeys.load(Ordering::Relaxed),
                maxkeys,
                user.qnbytes.load(Ordering::Relaxed),
                maxbytes
            );
        }
        out
    }
}

/// What KEYCTL_CAPABILITIES reports: capabilities, invalidate, restrict
/// keyring, move; namespaced keyring names and tags.
pub const CAPABILITIES: [u8; 2] = [0x01 | 0x20 | 0x40 | 0x80, 0x01 | 0x02];

/// Parses a sysctl integer as Linux's proc_dointvec_minmax does (base 0,
/// surrounding white space) and checks it against [min, max].
pub fn parse_sysctl(text: &[u8], min: i64, max: i64) -> Result<u32, Errno> {
    let is_space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n');
    let start = text.iter().position(|b| !is_space(b)).ok_or(EINVAL)?;
    let mut s = &text[start..];
    let negative = s.first() == Some(&b'-');
    if negative {
        s = &s[1..];
    }
    let (radix, digits) = if s.len() > 1 && s[0] == b'0' && (s[1] == b'x' || s[1] == b'X') {
        (16, &s[2..])
    } else if s.len() > 1 && s[0] == b'0' {
        (8, &s[1..])
    } else {
        (10, s)
    };
    let end = digits
        .iter()
        .position(|b| !(*b as char).is_digit(radix))
        .unwrap_or(digits.len());
    if end == 0 && radix != 8 {
        return Err(EINVAL);
    }
    if !digits[end..].iter().all(is_space) {
        return Err(EINVAL);
    }
    let mut value: i64 = 0;
    for &b in &digits[..end] {
        let d = (b as char).to_digit(radix).ok_or(EINVAL)? as i64;
        value = value
            .checked_mul(radix as i64)
            .and_then(|v| v.checked_add(d))
            .filter(|v| *v <= u32::MAX as i64)
            .ok_or(EINVAL)?;
    }
    if negative {
        value = -value;
    }
    if value < min || value > max {
        return Err(EINVAL);
    }
    Ok(value as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct TestEnv {
        now: u64,
        next: u32,
    }

    impl Env for TestEnv {
        fn now(&self) -> u64 {
            self.now
        }
        fn random(&mut self) -> u32 {
            self.next = self.next.wrapping_mul(1_103_515_245).wrapping_add(12345);
            self.next
        }
    }

    fn setup() -> (Keys, TestEnv) {
        let budget: &'static Budget =
            alloc::boxed::Box::leak(alloc::boxed::Box::new(Budget::new(1 << 24)));
        (Keys::new(budget), TestEnv { now: 1000, next: 7 })
    }

    const ROOT: Cred<'static> = Cred {
        uid: 0,
        fsuid: 0,
        gid: 0,
        fsgid: 0,
        groups: &[],
        sys_admin: true,
    };
    const USER: Cred<'static> = Cred {
        uid: 1000,
        fsuid: 1000,
        gid: 1000,
        fsgid: 1000,
        groups: &[],
        sys_admin: false,
    };

    #[test]
    fn add_describe_read_update_revoke() {
        let (mut keys, mut env) = setup();
        let mut kc = KeyCred::default();
        let id = keys
            .add_key(
                &mut env,
                &ROOT,
                &mut kc,
                b"user",
                Some(b"k"),
                Payload::Bytes(b"abc"),
                KEY_SPEC_PROCESS_KEYRING,
            )
            .unwrap();
        assert!(id >= 3);
        let d = keys.describe(&mut env, &ROOT, &mut kc, id).unwrap();
        assert_eq!(d, b"user;0;0;3f010000;k\0");
        let r = keys.read(&mut env, &ROOT, &mut kc, id, 16).unwrap();
        assert_eq!((r.len, r.data.as_deref()), (3, Some(&b"abc"[..])));
        let r = keys.read(&mut env, &ROOT, &mut kc, id, 2).unwrap();
        assert_eq!((r.len, r.data), (3, None));
        // Adding again updates the same key.
        let again = keys
            .add_key(
                &mut env,
                &ROOT,
                &mut kc,
                b"user",
                Some(b"k"),
                Payload::Bytes(b"xy"),
                KEY_SPEC_PROCESS_KEYRING,
            )
            .unwrap();
        assert_eq!(again, id);
        keys.revoke(&mut env, &ROOT, &mut kc, id).unwrap();
        assert_eq!(
            keys.read(&mut env, &ROOT, &mut kc, id, 16).err(),
            Some(EKEYREVOKED)
        );
        assert_eq!(
            keys.describe(&mut env, &ROOT, &mut kc, id).err(),
            Some(EKEYREVOKED)
        );
        // A revoked key is not updated: a new one replaces its link.
        let new = keys
            .add_key(
                &mut env,
                &ROOT,
                &mut kc,
                b"user",
                Some(b"k"),
                Payload::Bytes(b"z"),
                KEY_SPEC_PROCESS_KEYRING,
            )
            .unwrap();
        assert_ne!(new, id);
        assert_eq!(
            keys.revoke(&mut env, &ROOT, &mut kc, id).err(),
            Some(ENOKEY)
        );
    }

    #[test]
    fn payload_rules() {
        let (mut keys, mut env) = setup();
        let mut kc = KeyCred::default();
        let big = alloc::vec![0u8; 32768];
        let r = |keys: &mut Keys,
                 env: &mut TestEnv,
                 kc: &mut KeyCred,
                 t: &[u8],
                 d: &[u8],
                 p: Option<&[u8]>| {
            let p = p.map_or(Payload::Absent, Payload::Bytes);
            keys.add_key(env, &ROOT, kc, t, Some(d), p, KEY_SPEC_THREAD_KEYRING)
        };
        assert!(r(&mut keys, &mut env, &mut kc, b"keyring", b"a", None).is_ok());
        assert_eq!(
            r(&mut keys, &mut env, &mut kc, b"keyring", b"b", Some(b"x")).err(),
            Some(EINVAL)
        );
        assert!(r(
            &mut keys,
            &mut env,
            &mut kc,
            b"user",
            b"c",
            Some(&big[..32767])
        )
        .is_ok());
        assert_eq!(
            r(&mut keys, &mut env, &mut kc, b"user", b"d", Some(&big)).err(),
            Some(EINVAL)
        );
        assert_eq!(
            r(
                &mut keys,
                &mut env,
                &mut kc,
                b"logon",
                b"nocolon",
                Some(b"x")
            )
            .err(),
            Some(EINVAL)
        );
        let logon = r(&mut keys, &mut env, &mut kc, b"logon", b"s:n", Some(b"x")).unwrap();
        assert_eq!(
            keys.read(&mut env, &ROOT, &mut kc, logon, 8).err(),
            Some(EOPNOTSUPP)
        );
        assert_eq!(
            r(&mut keys, &mut env, &mut kc, b"big_key", b"e", Some(b"x")).err(),
            Some(ENODEV)
        );
    }

    #[test]
    fn keyring_read_and_search() {
        let (mut keys, mut env) = setup();
        let mut kc = KeyCred::default();
        let ring = keys
            .add_key(
                &mut env,
                &ROOT,
                &mut kc,
                b"keyring",
                Some(b"ring"),
                Payload::Absent,
                KEY_SPEC_SESSION_KEYRING,
            )
            .unwrap();
        let a = keys
            .add_key(
                &mut env,
                &ROOT,
                &mut kc,
                b"user",
                Some(b"a"),
                Payload::Bytes(b"1"),
                ring,
            )
            .unwrap();
        let r = keys.read(&mut env, &ROOT, &mut kc, ring, 4).unwrap();
        assert_eq!((r.len, r.data.as_deref()), (4, Some(&a.to_ne_bytes()[..])));
        assert_eq!(
            keys.read(&mut env, &ROOT, &mut kc, ring, 3).err(),
            Some(EINVAL)
        );
        let found = keys
            .search(
                &mut env,
                &ROOT,
                &mut kc,
                KEY_SPEC_SESSION_KEYRING,
                b"user",
                b"a",
                0,
            )
            .unwrap();
        assert_eq!(found, a);
        assert_eq!(
            keys.search(
                &mut env,
                &ROOT,
                &mut kc,
                KEY_SPEC_SESSION_KEYRING,
                b"user",
                b"b",
                0
            )
            .err(),
            Some(ENOKEY)
        );
        let req = keys
            .request_key(&mut env, &ROOT, &mut kc, b"user", b"a", false, 0)
            .unwrap();
        assert_eq!(req, a);
        keys.unlink_key(&mut env, &ROOT, &mut kc, a, ring).unwrap();
        assert_eq!(
            keys.unlink_key(&mut env, &ROOT, &mut kc, a, ring).err(),
            Some(ENOKEY)
        );
    }

    #[test]
    fn cycles_are_refused() {
        let (mut keys, mut env) = setup();
        let mut kc = KeyCred::default();
        let a = keys
            .add_key(
                &mut env,
                &ROOT,
                &mut kc,
                b"keyring",
                Some(b"a"),
                Payload::Absent,
                KEY_SPEC_THREAD_KEYRING,
            )
            .unwrap();
        let b = keys
            .add_key(
                &mut env,
                &ROOT,
                &mut kc,
                b"keyring",
                Some(b"b"),
                Payload::Absent,
                a,
            )
            .unwrap();
        assert_eq!(
            keys.link_key(&mut env, &ROOT, &mut kc, a, b).err(),
            Some(EDEADLK)
        );
        assert_eq!(
            keys.link_key(&mut env, &ROOT, &mut kc, a, a).err(),
            Some(EDEADLK)
        );
        // A chain deeper than searches go can be built top-down (each link
        // checks only what is linked), but not linked under another keyring.
        let chain: Vec<i32> = (0..12)
            .map(|i| {
                let desc = format!("d{i}");
                keys.add_key(
                    &mut env,
                    &ROOT,
                    &mut kc,
                    b"keyring",
                    Some(desc.as_bytes()),
                    Payload::Absent,
                    KEY_SPEC_THREAD_KEYRING,
                )
                .unwrap()
            })
            .collect();
        for pair in chain.windows(2) {
            keys.link_key(&mut env, &ROOT, &mut kc, pair[1], pair[0])
                .unwrap();
        }
        let top = keys
            .add_key(
                &mut env,
                &ROOT,
                &mut kc,
                b"keyring",
                Some(b"top"),
                Payload::Absent,
                KEY_SPEC_THREAD_KEYRING,
            )
            .unwrap();
        assert_eq!(
            keys.link_key(&mut env, &ROOT, &mut kc, chain[0], top).err(),
            Some(ELOOP)
        );
        for id in &chain[1..] {
            keys.unlink_key(&mut env, &ROOT, &mut kc, *id, KEY_SPEC_THREAD_KEYRING)
                .unwrap();
        }
        // Dropping the whole chain does not recurse.
        drop(kc);
        assert_eq!(keys.budget.used(), 0);
    }

    #[test]
    fn request_key_without_helper() {
        let (mut keys, mut env) = setup();
        let mut kc = KeyCred::default();
        assert_eq!(
            keys.request_key(&mut env, &ROOT, &mut kc, b"user", b"x", false, 0)
                .err(),
            Some(ENOKEY)
        );
        assert_eq!(
            keys.request_key(
                &mut env,
                &ROOT,
                &mut kc,
                b"user",
                b"x",
                true,
                KEY_SPEC_PROCESS_KEYRING
            )
            .err(),
            Some(ENOENT)
        );
        // The negative key is in the process keyring and fails lookups.
        let r = keys
            .read(&mut env, &ROOT, &mut kc, KEY_SPEC_PROCESS_KEYRING, 4)
            .unwrap();
        let neg = i32::from_ne_bytes(r.data.unwrap().try_into().unwrap());
        assert_eq!(
            keys.read(&mut env, &ROOT, &mut kc, neg, 16).err(),
            Some(ENOKEY)
        );
        assert_eq!(
            keys.request_key(&mut env, &ROOT, &mut kc, b"user", b"x", true, 0)
                .err(),
            Some(ENOKEY)
        );
        assert_eq!(
            keys.request_key(&mut env, &ROOT, &mut kc, b"keyring", b"x", true, 0)
                .err(),
            Some(EPERM)
        );
        // It expires after a minute.
        env.now += 61;
        assert_eq!(
            keys.request_key(&mut env, &ROOT, &mut kc, b"user", b"x", false, 0)
                .err(),
            Some(ENOKEY)
        );
    }

    #[test]
    fn quota_counts_links_and_payloads() {
        let (mut keys, mut env) = setup();
        let mut kc = KeyCred::default();
        keys.add_key(
            &mut env,
            &USER,
            &mut kc,
            b"user",
            Some(b"test1"),
            Payload::Bytes(&[0; 64]),
            KEY_SPEC_THREAD_KEYRING,
        )
        .unwrap();
        let users = keys.proc_key_users();
        // "_tid" (5) + link (4) + "test1" (6) + 64.
        assert!(
            users.contains(" 1000:     2 2/2 2/200 79/20000\n"),
            "{users}"
        );
        let over = alloc::vec![0u8; 20000 - 79 - 4 - 9 + 1];
        assert_eq!(
            keys.add_key(
                &mut env,
                &USER,
                &mut kc,
                b"user",
                Some(b"test_max"),
                Payload::Bytes(&over),
                KEY_SPEC_THREAD_KEYRING
            )
            .err(),
            Some(EDQUOT)
        );
        keys.add_key(
            &mut env,
            &USER,
            &mut kc,
            b"user",
            Some(b"test_max"),
            Payload::Bytes(&over[1..]),
            KEY_SPEC_THREAD_KEYRING,
        )
        .unwrap();
        assert!(keys.proc_key_users().contains("20000/20000"));
    }

    #[test]
    fn permissions_and_possession() {
        let (mut keys, mut env) = setup();
        let mut kc = KeyCred::default();
        let id = keys
            .add_key(
                &mut env,
                &USER,
                &mut kc,
                b"user",
                Some(b"p"),
                Payload::Bytes(b"v"),
                KEY_SPEC_PROCESS_KEYRING,
            )
            .unwrap();
        // Another user sees nothing of it.
        let mut other_kc = KeyCred::default();
        let other = Cred {
            uid: 2000,
            fsuid: 2000,
            gid: 2000,
            fsgid: 2000,
            groups: &[],
            sys_admin: false,
        };
        assert_eq!(
            keys.describe(&mut env, &other, &mut other_kc, id).err(),
            Some(EACCES)
        );
        assert_eq!(
            keys.setperm(&mut env, &other, &mut other_kc, id, 0).err(),
            Some(EACCES)
        );
        // Possessed without Read permission: still readable.
        keys.setperm(
            &mut env,
            &USER,
            &mut kc,
            id,
            KEY_POS_VIEW | KEY_POS_SEARCH | KEY_POS_SETATTR,
        )
        .unwrap();
        assert!(keys
            .read(&mut env, &USER, &mut kc, id, 8)
            .unwrap()
            .data
            .is_some());
        assert_eq!(
            keys.setperm(&mut env, &USER, &mut kc, id, 0x4000_0000)
                .err(),
            Some(EINVAL)
        );
        assert_eq!(
            keys.chown(&mut env, &USER, &mut kc, id, 0, u32::MAX).err(),
            Some(EACCES)
        );
    }

    #[test]
    fn sessions_and_names() {
        let (mut keys, mut env) = setup();
        let mut kc = KeyCred::default();
        let us = keys
            .get_keyring_id(
                &mut env,
                &USER,
                &mut kc,
                KEY_SPEC_USER_SESSION_KEYRING,
                false,
            )
            .unwrap();
        // Without a session keyring, the session is the user session.
        let s = keys
            .get_keyring_id(&mut env, &USER, &mut kc, KEY_SPEC_SESSION_KEYRING, false)
            .unwrap();
        assert_eq!(s, us);
        // A named session keyring does not grant its owner Search unpossessed:
        // joining the name again makes another.
        let first = keys
            .join_session(&mut env, &USER, &mut kc, Some(b"mine"))
            .unwrap();
        let named = keys
            .join_session(&mut env, &USER, &mut kc, Some(b"mine"))
            .unwrap();
        assert_ne!(first, named);
        keys.setperm(&mut env, &USER, &mut kc, named, KEY_POS_ALL | KEY_USR_ALL)
            .unwrap();
        assert_eq!(
            keys.join_session(&mut env, &USER, &mut kc, Some(b"mine"))
                .unwrap(),
            0
        );
        let mut child = kc.for_new_process();
        assert_eq!(
            keys.get_keyring_id(&mut env, &USER, &mut child, KEY_SPEC_SESSION_KEYRING, false)
                .unwrap(),
            named
        );
        assert_eq!(
            keys.get_keyring_id(&mut env, &USER, &mut child, KEY_SPEC_THREAD_KEYRING, false)
                .err(),
            Some(ENOKEY)
        );
        let t = keys
            .get_keyring_id(&mut env, &USER, &mut kc, KEY_SPEC_THREAD_KEYRING, true)
            .unwrap();
        assert_eq!(
            keys.set_reqkey_keyring(&mut env, &USER, &mut kc, 1)
                .unwrap(),
            0
        );
        assert_eq!(
            keys.get_keyring_id(&mut env, &USER, &mut kc, KEY_SPEC_THREAD_KEYRING, false)
                .unwrap(),
            t
        );
    }

    #[test]
    fn timeouts_and_invalidation() {
        let (mut keys, mut env) = setup();
        let mut kc = KeyCred::default();
        let id = keys
            .add_key(
                &mut env,
                &ROOT,
                &mut kc,
                b"keyring",
                Some(b"t"),
                Payload::Absent,
                KEY_SPEC_THREAD_KEYRING,
            )
            .unwrap();
        keys.set_timeout(&mut env, &ROOT, &mut kc, id, 1).unwrap();
        env.now += 2;
        assert_eq!(
            keys.request_key(&mut env, &ROOT, &mut kc, b"keyring", b"x", false, id)
                .err(),
            Some(EKEYEXPIRED)
        );
        let u = keys
            .add_key(
                &mut env,
                &ROOT,
                &mut kc,
                b"user",
                Some(b"u"),
                Payload::Bytes(b"1"),
                KEY_SPEC_THREAD_KEYRING,
            )
            .unwrap();
        keys.invalidate(&mut env, &ROOT, &mut kc, u).unwrap();
        assert_eq!(
            keys.read(&mut env, &ROOT, &mut kc, u, 8).err(),
            Some(ENOKEY)
        );
        // The expired keyring goes after the gc delay.
        env.now += 400;
        let r = keys
            .read(&mut env, &ROOT, &mut kc, KEY_SPEC_THREAD_KEYRING, 64)
            .unwrap();
        assert_eq!(r.len, 0);
    }

    #[test]
    fn sysctl_parsing() {
        assert_eq!(parse_sysctl(b"200\n", 1, i32::MAX as i64), Ok(200));
        assert_eq!(parse_sysctl(b"  0x10 ", 1, i32::MAX as i64), Ok(16));
        assert_eq!(parse_sysctl(b"010", 1, i32::MAX as i64), Ok(8));
        assert_eq!(parse_sysctl(b"0", 1, i32::MAX as i64), Err(EINVAL));
        assert_eq!(parse_sysctl(b"0", 0, i32::MAX as i64), Ok(0));
        assert_eq!(parse_sysctl(b"-5", 0, i32::MAX as i64), Err(EINVAL));
        assert_eq!(parse_sysctl(b"12x", 0, i32::MAX as i64), Err(EINVAL));
        assert_eq!(parse_sysctl(b"", 0, i32::MAX as i64), Err(EINVAL));
    }
}
