//! Kernel key management: add_key, request_key, keyctl. The keys and their
//! rules are `sentry::keys`; this is the user-memory side (strings and
//! payloads in, descriptions and payloads out, copied with the key table
//! unlocked) and the sandbox-wide table. Also /proc/key-users and
//! /proc/sys/kernel/keys.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use spin::Mutex;

use super::SyscallContext;
use crate::sentry::errno::*;
use crate::sentry::keys::{self, Budget, Cred, Env, KeyCred, Keys, Need, Payload};
use crate::sentry::task::Task;

/// Sentry heap all keys may take: a fraction of what a small sandbox has
/// (Linux's own defaults would let root alone hold 25 MB of payloads).
const HEAP_MAX: u64 = 8 << 20;

static BUDGET: Budget = Budget::new(HEAP_MAX);
static KEYS: Mutex<Keys> = Mutex::new(Keys::new(&BUDGET));

const CAP_SYS_ADMIN: u32 = 21;
const PAGE_SIZE: usize = 4096;

const KEYCTL_GET_KEYRING_ID: i32 = 0;
const KEYCTL_JOIN_SESSION_KEYRING: i32 = 1;
const KEYCTL_SESSION_TO_PARENT: i32 = 18;
const KEYCTL_UPDATE: i32 = 2;
const KEYCTL_REVOKE: i32 = 3;
const KEYCTL_CHOWN: i32 = 4;
const KEYCTL_SETPERM: i32 = 5;
const KEYCTL_DESCRIBE: i32 = 6;
const KEYCTL_CLEAR: i32 = 7;
const KEYCTL_LINK: i32 = 8;
const KEYCTL_UNLINK: i32 = 9;
const KEYCTL_SEARCH: i32 = 10;
const KEYCTL_READ: i32 = 11;
const KEYCTL_INSTANTIATE: i32 = 12;
const KEYCTL_NEGATE: i32 = 13;
const KEYCTL_SET_REQKEY_KEYRING: i32 = 14;
const KEYCTL_SET_TIMEOUT: i32 = 15;
const KEYCTL_ASSUME_AUTHORITY: i32 = 16;
const KEYCTL_GET_SECURITY: i32 = 17;
const KEYCTL_REJECT: i32 = 19;
const KEYCTL_INSTANTIATE_IOV: i32 = 20;
const KEYCTL_INVALIDATE: i32 = 21;
const KEYCTL_PKEY_QUERY: i32 = 24;
const KEYCTL_RESTRICT_KEYRING: i32 = 29;
const KEYCTL_MOVE: i32 = 30;
const KEYCTL_CAPABILITIES: i32 = 31;
const KEYCTL_MOVE_EXCL: u32 = 1;

/// Time and randomness for the key rules.
struct KernelEnv;

impl Env for KernelEnv {
    fn now(&self) -> u64 {
        crate::sentry::time::realtime_ns() / 1_000_000_000
    }

    fn random(&mut self) -> u32 {
        let mut bytes = [0u8; 4];
        crate::sentry::random::fill(&mut bytes);
        u32::from_ne_bytes(bytes)
    }
}

fn cred_of(c: &super::system::Credentials) -> Cred<'_> {
    Cred {
        uid: c.user[0],
        fsuid: c.fsuid,
        gid: c.group[0],
        fsgid: c.fsgid,
        groups: &c.groups,
        sys_admin: c.caps().effective & (1 << CAP_SYS_ADMIN) != 0,
    }
}

/// Runs `f` on the key table with the caller's credentials and keyrings.
fn with_keys<R>(
    ctx: &mut SyscallContext,
    f: impl FnOnce(&mut Keys, &mut KernelEnv, &Cred, &mut KeyCred) -> R,
) -> R {
    let task = &mut *ctx.task;
    let cred = cred_of(&task.creds);
    let mut keys = KEYS.lock();
    f(&mut keys, &mut KernelEnv, &cred, &mut task.keyrings)
}

/// A new thread's keyrings (a thread keyring of its own if its parent has
/// one).
pub fn for_new_thread(parent: &Task) -> Result<KeyCred, Errno> {
    let cred = cred_of(&parent.creds);
    KEYS.lock()
        .for_new_thread(&mut KernelEnv, &cred, &parent.keyrings)
}

/// The filesystem ids changed: the thread keyring's owner follows.
pub fn fsids_changed(task: &Task) {
    KEYS.lock()
        .fsids_changed(&task.keyrings, task.creds.fsuid, task.creds.fsgid);
}

/// A key type name (key_get_type_from_user): 1 to 31 bytes, not starting
/// with a dot.
fn read_type(ctx: &mut SyscallContext, addr: u64) -> Result<Vec<u8>, Errno> {
    let name = ctx
        .task
        .mm()
        .read_cstring(addr, keys::TYPE_MAX)
        .map_err(too_long_is_einval)?;
    if name.is_empty() {
        return Err(EINVAL);
    }
    if name[0] == b'.' {
        return Err(EPERM);
    }
    Ok(name)
}

/// A string argument (strndup_user): at most `max` bytes before its NUL.
fn read_string(ctx: &mut SyscallContext, addr: u64, max: usize) -> Result<Vec<u8>, Errno> {
    ctx.task
        .mm()
        .read_cstring(addr, max)
        .map_err(too_long_is_einval)
}

fn too_long_is_einval(e: Errno) -> Errno {
    if e == ENAMETOOLONG {
        EINVAL
    } else {
        e
    }
}

/// `len` payload bytes at `addr`: copied when a configured type could take
/// them, else only checked readable (a longer one is refused by every
/// type, after the checks that come first).
fn read_payload(ctx: &mut SyscallContext, addr: u64, len: usize) -> Result<Option<Vec<u8>>, Errno> {
    if len > keys::USER_PAYLOAD_MAX {
        ctx.task
            .mm()
            .check_user(addr, len, crate::sentry::mm::Access::Read)?;
        return Ok(None);
    }
    let mut data = vec![0u8; len];
    ctx.task.mm().copy_from_user(addr, &mut data)?;
    Ok(Some(data))
}

fn payload_of(len: usize, data: &Option<Vec<u8>>) -> Payload<'_> {
    match data {
        _ if len == 0 => Payload::Absent,
        Some(bytes) => Payload::Bytes(bytes),
        None => Payload::TooLong,
    }
}

pub fn sys_add_key(
    ctx: &mut SyscallContext,
    key_type: u64,
    description: u64,
    payload: u64,
    plen: usize,
    ringid: i32,
) -> SysResult {
    if plen > keys::PAYLOAD_MAX {
        return Err(EINVAL);
    }
    let type_name = read_type(ctx, key_type)?;
    let desc = if description != 0 {
        let desc = read_string(ctx, description, keys::DESC_MAX)?;
        if desc.first() == Some(&b'.') && type_name.starts_with(b"keyring") {
            return Err(EPERM);
        }
        Some(desc).filter(|d| !d.is_empty())
    } else {
        None
    };
    let data = if plen > 0 {
        read_payload(ctx, payload, plen)?
    } else {
        None
    };
    let serial = with_keys(ctx, |keys, env, cred, kc| {
        keys.add_key(
            env,
            cred,
            kc,
            &type_name,
            desc.as_deref(),
            payload_of(plen, &data),
            ringid,
        )
    })?;
    Ok(serial as u64)
}

pub fn sys_request_key(
    ctx: &mut SyscallContext,
    key_type: u64,
    description: u64,
    callout_info: u64,
    dest: i32,
) -> SysResult {
    let type_name = read_type(ctx, key_type)?;
    let desc = read_string(ctx, description, keys::DESC_MAX)?;
    // The callout information is only checked: there is no helper to
    // hand it to.
    let callout = callout_info != 0;
    if callout {
        read_string(ctx, callout_info, keys::CALLOUT_MAX)?;
    }
    let serial = with_keys(ctx, |keys, env, cred, kc| {
        keys.request_key(env, cred, kc, &type_name, &desc, callout, dest)
    })?;
    Ok(serial as u64)
}

/// Copies `data` out when there is a buffer of at least its length.
fn copy_out_if_fits(
    ctx: &mut SyscallContext,
    addr: u64,
    buflen: usize,
    data: &[u8],
) -> Result<(), Errno> {
    if addr != 0 && buflen >= data.len() {
        ctx.task.mm().copy_to_user(addr, data)?;
    }
    Ok(())
}

pub fn sys_keyctl(
    ctx: &mut SyscallContext,
    option: i32,
    arg2: u64,
    arg3: u64,
    arg4: u64,
    arg5: u64,
) -> SysResult {
    let id = arg2 as i32;
    match option {
        KEYCTL_GET_KEYRING_ID => {
            let create = arg3 as i32 != 0;
            let serial = with_keys(ctx, |k, env, cred, kc| {
                k.get_keyring_id(env, cred, kc, id, create)
            })?;
            Ok(serial as u64)
        }
        KEYCTL_JOIN_SESSION_KEYRING => {
            let name = if arg2 != 0 {
                let name = read_string(ctx, arg2, keys::DESC_MAX)?;
                if name.first() == Some(&b'.') {
                    return Err(EPERM);
                }
                Some(name)
            } else {
                None
            };
            let serial = with_keys(ctx, |k, env, cred, kc| {
                k.join_session(env, cred, kc, name.as_deref())
            })?;
            Ok(serial as u64)
        }
        KEYCTL_UPDATE => {
            let plen = arg4 as usize;
            if plen > keys::UPDATE_MAX {
                return Err(EINVAL);
            }
            let data = if plen > 0 {
                read_payload(ctx, arg3, plen)?
            } else {
                None
            };
            with_keys(ctx, |k, env, cred, kc| {
                k.update(env, cred, kc, id, payload_of(plen, &data))
            })?;
            Ok(0)
        }
        KEYCTL_REVOKE => {
            with_keys(ctx, |k, env, cred, kc| k.revoke(env, cred, kc, id))?;
            Ok(0)
        }
        KEYCTL_CHOWN => {
            let (uid, gid) = (arg3 as u32, arg4 as u32);
            with_keys(ctx, |k, env, cred, kc| k.chown(env, cred, kc, id, uid, gid))?;
            Ok(0)
        }
        KEYCTL_SETPERM => {
            let perm = arg3 as u32;
            with_keys(ctx, |k, env, cred, kc| k.setperm(env, cred, kc, id, perm))?;
            Ok(0)
        }
        KEYCTL_DESCRIBE => {
            let text = with_keys(ctx, |k, env, cred, kc| k.describe(env, cred, kc, id))?;
            copy_out_if_fits(ctx, arg3, arg4 as u32 as usize, &text)?;
            Ok(text.len() as u64)
        }
        KEYCTL_CLEAR => {
            with_keys(ctx, |k, env, cred, kc| k.clear(env, cred, kc, id))?;
            Ok(0)
        }
        KEYCTL_LINK => {
            let ring = arg3 as i32;
            with_keys(ctx, |k, env, cred, kc| k.link_key(env, cred, kc, id, ring))?;
            Ok(0)
        }
        KEYCTL_UNLINK => {
            let ring = arg3 as i32;
            with_keys(ctx, |k, env, cred, kc| {
                k.unlink_key(env, cred, kc, id, ring)
            })?;
            Ok(0)
        }
        KEYCTL_SEARCH => {
            let type_name = read_type(ctx, arg3)?;
            let desc = read_string(ctx, arg4, keys::DESC_MAX)?;
            let dest = arg5 as i32;
            let serial = with_keys(ctx, |k, env, cred, kc| {
                k.search(env, cred, kc, id, &type_name, &desc, dest)
            })?;
            Ok(serial as u64)
        }
        KEYCTL_READ => {
            let buflen = if arg3 != 0 { arg4 as usize } else { 0 };
            let out = with_keys(ctx, |k, env, cred, kc| k.read(env, cred, kc, id, buflen))?;
            if let Some(data) = out.data {
                ctx.task.mm().copy_to_user(arg3, &data)?;
            }
            Ok(out.len as u64)
        }
        KEYCTL_INSTANTIATE => {
            if arg4 as usize > keys::PAYLOAD_MAX {
                return Err(EINVAL);
            }
            // Only a request-key helper holding the key's authorisation may
            // instantiate it, and there is none.
            Err(EPERM)
        }
        KEYCTL_INSTANTIATE_IOV => {
            let count = if arg3 != 0 { arg4 as u32 as u64 } else { 0 };
            let iovecs = super::read_write::read_iovecs(ctx, arg3, count)?;
            let total: u64 = iovecs.iter().map(|(_, len)| len).sum();
            if total > keys::PAYLOAD_MAX as u64 {
                return Err(EINVAL);
            }
            Err(EPERM)
        }
        KEYCTL_NEGATE => Err(EPERM),
        KEYCTL_REJECT => {
            let error = arg4 as u32;
            if error == 0 || error >= 4095 || matches!(error, 512 | 513 | 514 | 516) {
                return Err(EINVAL);
            }
            Err(EPERM)
        }
        KEYCTL_SET_REQKEY_KEYRING => {
            let level = arg2 as i32;
            let old = with_keys(ctx, |k, env, cred, kc| {
                k.set_reqkey_keyring(env, cred, kc, level)
            })?;
            Ok(old as u64)
        }
        KEYCTL_SET_TIMEOUT => {
            let timeout = arg3 as u32;
            with_keys(ctx, |k, env, cred, kc| {
                k.set_timeout(env, cred, kc, id, timeout)
            })?;
            Ok(0)
        }
        KEYCTL_ASSUME_AUTHORITY => match id {
            id if id < 0 => Err(EINVAL),
            0 => Ok(0),
            // No authorisation key exists to be found.
            _ => Err(keys::ENOKEY),
        },
        KEYCTL_GET_SECURITY => {
            with_keys(ctx, |k, env, cred, kc| k.get_security(env, cred, kc, id))?;
            if arg3 != 0 && arg4 > 0 {
                ctx.task.mm().copy_to_user(arg3, &[0])?;
            }
            Ok(1)
        }
        KEYCTL_INVALIDATE => {
            with_keys(ctx, |k, env, cred, kc| k.invalidate(env, cred, kc, id))?;
            Ok(0)
        }
        KEYCTL_PKEY_QUERY if arg3 != 0 => Err(EINVAL),
        KEYCTL_RESTRICT_KEYRING => {
            let kref = with_keys(ctx, |k, env, cred, kc| {
                k.lookup(env, cred, kc, id, keys::LOOKUP, Need::SetAttr)
            })?;
            let type_name = match (arg3, arg4) {
                (0, 0) => None,
                (0, _) | (_, 0) => return Err(EINVAL),
                (t, r) => {
                    let name = read_type(ctx, t)?;
                    read_string(ctx, r, PAGE_SIZE - 1)?;
                    Some(name)
                }
            };
            KEYS.lock().restrict(&kref, type_name.as_deref())?;
            Ok(0)
        }
        KEYCTL_MOVE => {
            let (from, to, flags) = (arg3 as i32, arg4 as i32, arg5 as u32);
            if flags & !KEYCTL_MOVE_EXCL != 0 {
                return Err(EINVAL);
            }
            let exclusive = flags & KEYCTL_MOVE_EXCL != 0;
            with_keys(ctx, |k, env, cred, kc| {
                k.move_key(env, cred, kc, id, from, to, exclusive)
            })?;
            Ok(0)
        }
        KEYCTL_CAPABILITIES => {
            let (addr, len) = (arg2, arg3 as usize);
            if len > 0 {
                let n = len.min(keys::CAPABILITIES.len());
                let mut mm = ctx.task.mm();
                mm.copy_to_user(addr, &keys::CAPABILITIES[..n])?;
                // The rest of the buffer is cleared, a page at a time.
                let zeros = [0u8; PAGE_SIZE];
                let mut done = n;
                while done < len {
                    let chunk = (len - done).min(PAGE_SIZE);
                    let at = addr.checked_add(done as u64).ok_or(EFAULT)?;
                    mm.copy_to_user(at, &zeros[..chunk])?;
                    done += chunk;
                }
            }
            Ok(keys::CAPABILITIES.len() as u64)
        }
        KEYCTL_SESSION_TO_PARENT => {
            let keyring = with_keys(ctx, |k, env, cred, kc| {
                k.lookup(
                    env,
                    cred,
                    kc,
                    keys::KEY_SPEC_SESSION_KEYRING,
                    keys::LOOKUP,
                    keys::Need::Link,
                )
            })?
            .key;
            // Linux replaces it as the parent returns to user mode; the
            // parent is not running now, so at once is the same. It must
            // not be init and must have one thread.
            let ppid = ctx.task.ppid();
            if ppid <= 1 || crate::sentry::sched::thread_count(ppid) != 1 {
                return Err(EPERM);
            }
            let (euid, egid) = (ctx.task.creds.user[1], ctx.task.creds.group[1]);
            crate::sentry::sched::with_parked(ppid, |parent| {
                let ids = (parent.creds.user, parent.creds.group);
                parent
                    .keyrings
                    .take_session_from_child(&keyring, ids, euid, egid)
            })
            .unwrap_or(Err(EPERM))?;
            Ok(0)
        }
        // Persistent keyrings, Diffie-Hellman, public-key operations and
        // notifications are not offered.
        _ => Err(EOPNOTSUPP),
    }
}

/// /proc/key-users.
pub fn proc_key_users() -> String {
    KEYS.lock().proc_key_users()
}

/// A /proc/sys/kernel/keys value.
pub fn sysctl(name: &[u8]) -> Option<u32> {
    let limits = KEYS.lock().limits;
    Some(match name {
        b"gc_delay" => limits.gc_delay,
        b"maxbytes" => limits.maxbytes,
        b"maxkeys" => limits.maxkeys,
        b"root_maxbytes" => limits.root_maxbytes,
        b"root_maxkeys" => limits.root_maxkeys,
        _ => return None,
    })
}

/// Writes a /proc/sys/kernel/keys value (proc_dointvec_minmax: the quotas
/// are at least 1, the delay at least 0, all at most INT_MAX). The
/// sandbox-wide heap budget stays in force whatever they say.
pub fn set_sysctl(name: &[u8], text: &[u8]) -> Result<(), Errno> {
    let min = if name == b"gc_delay" { 0 } else { 1 };
    let value = keys::parse_sysctl(text, min, i32::MAX as i64)?;
    let mut table = KEYS.lock();
    let limits = &mut table.limits;
    match name {
        b"gc_delay" => limits.gc_delay = value,
        b"maxbytes" => limits.maxbytes = value,
        b"maxkeys" => limits.maxkeys = value,
        b"root_maxbytes" => limits.root_maxbytes = value,
        b"root_maxkeys" => limits.root_maxkeys = value,
        _ => return Err(ENOENT),
    }
    Ok(())
}
