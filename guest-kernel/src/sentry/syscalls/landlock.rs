//! The Landlock calls (landlock_create_ruleset, landlock_add_rule,
//! landlock_restrict_self; the domains are `sentry::landlock`) and the
//! LSM calls (lsm_list_modules, lsm_get_self_attr, lsm_set_self_attr):
//! the sandbox's security modules are capability and landlock, neither
//! of which has process attributes.

use alloc::sync::Arc;
use alloc::vec;

use super::SyscallContext;
use crate::sentry::errno::*;
use crate::sentry::fd::*;
use crate::sentry::landlock::*;
use crate::sentry::mm::usermem::UserPtr;
use crate::sentry::stat::Stat;

const CREATE_RULESET_VERSION: u64 = 1;
const RULE_PATH_BENEATH: u64 = 1;
const RULE_NET_PORT: u64 = 2;
/// struct landlock_ruleset_attr: handled_access_fs, handled_access_net,
/// scoped; the first field is the least a caller may pass.
const RULESET_ATTR_SIZE: usize = 24;
const RULESET_ATTR_MIN: usize = 8;
const PAGE_SIZE: u64 = 4096;
const CAP_SYS_ADMIN: u32 = 21;

/// The object behind a ruleset descriptor.
struct RulesetFile {
    ruleset: Ruleset,
    ino: u64,
}

impl File for RulesetFile {
    fn stat(&self) -> Stat {
        crate::sentry::vfs::events::anon_stat(self.ino)
    }
    fn poll(&self, _events: i16) -> i16 {
        0
    }
    fn as_landlock_ruleset(&self) -> Option<&Ruleset> {
        Some(&self.ruleset)
    }
    fn pollable(&self) -> bool {
        false
    }
}

pub fn sys_landlock_create_ruleset(
    ctx: &mut SyscallContext,
    attr: u64,
    size: u64,
    flags: u32,
) -> SysResult {
    let flags = flags as u64;
    if flags != 0 {
        if flags == CREATE_RULESET_VERSION && attr == 0 && size == 0 {
            return Ok(ABI_VERSION);
        }
        return Err(EINVAL);
    }
    // Linux's copy_min_struct_from_user.
    if attr == 0 {
        return Err(EFAULT);
    }
    if size < RULESET_ATTR_MIN as u64 {
        return Err(EINVAL);
    }
    if size > PAGE_SIZE {
        return Err(E2BIG);
    }
    let mut bytes = vec![0u8; size as usize];
    ctx.task.mm().copy_from_user(attr, &mut bytes)?;
    if bytes.iter().skip(RULESET_ATTR_SIZE).any(|&b| b != 0) {
        return Err(E2BIG);
    }
    bytes.resize(RULESET_ATTR_SIZE.max(bytes.len()), 0);
    let field = |i: usize| u64::from_ne_bytes(bytes[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
    let (fs, net, scoped) = (field(0), field(1), field(2));
    if fs & !MASK_ACCESS_FS != 0 || net & !MASK_ACCESS_NET != 0 || scoped & !MASK_SCOPE != 0 {
        return Err(EINVAL);
    }
    let file = Arc::new(RulesetFile {
        ruleset: Ruleset::new(fs, net, scoped)?,
        ino: crate::sentry::vfs::events::next_anon_ino(),
    });
    let open = OpenFile::labeled(file, O_RDWR, b"anon_inode:[landlock-ruleset]".to_vec());
    Ok(ctx.task.fds().insert(open, true, 0)? as u64)
}

/// The ruleset descriptor `fd`: EBADF for no descriptor (or an O_PATH
/// one, which Linux's fdget does not return), EBADFD for another file,
/// EPERM when it is not open for what the call does (`write`: adding
/// rules; else reading it for restrict_self).
fn ruleset_of(ctx: &mut SyscallContext, fd: i32, write: bool) -> Result<Arc<OpenFile>, Errno> {
    let file = ctx.task.fds().get(fd)?.clone();
    if *file.flags.lock() & O_PATH != 0 {
        return Err(EBADF);
    }
    if file.file.as_landlock_ruleset().is_none() {
        return Err(EBADFD);
    }
    if !(if write {
        file.writable()
    } else {
        file.readable()
    }) {
        return Err(EPERM);
    }
    Ok(file)
}

pub fn sys_landlock_add_rule(
    ctx: &mut SyscallContext,
    fd: i32,
    rule_type: u32,
    attr: u64,
    flags: u32,
) -> SysResult {
    let rule_type = rule_type as u64;
    if flags != 0 {
        return Err(EINVAL);
    }
    let file = ruleset_of(ctx, fd, true)?;
    let ruleset = file.file.as_landlock_ruleset().ok_or(EBADFD)?;
    match rule_type {
        RULE_PATH_BENEATH => {
            // struct landlock_path_beneath_attr (packed): u64 allowed_access,
            // s32 parent_fd.
            let mut raw = [0u8; 12];
            ctx.task.mm().copy_from_user(attr, &mut raw)?;
            let access = u64::from_ne_bytes(raw[..8].try_into().unwrap_or([0; 8]));
            let parent_fd = i32::from_ne_bytes(raw[8..].try_into().unwrap_or([0; 4]));
            if access == 0 {
                return Err(ENOMSG);
            }
            if access & !ruleset.handled_fs != 0 {
                return Err(EINVAL);
            }
            let parent = ctx.task.fds().get(parent_fd)?.clone();
            // Files without a path (pipes, sockets, rulesets): Linux's
            // internal filesystems.
            let location = parent.location.as_ref().ok_or(EBADFD)?;
            let node = location.node().clone();
            if crate::sentry::vfs::is_pseudo(&*node) {
                return Err(EBADFD);
            }
            ruleset.add_fs_rule(node, access)?;
        }
        RULE_NET_PORT => {
            // struct landlock_net_port_attr: u64 allowed_access, u64 port.
            let [access, port]: [u64; 2] =
                UserPtr::<[u64; 2]>::new(attr).read(&mut ctx.task.mm())?;
            if access == 0 {
                return Err(ENOMSG);
            }
            if access & !ruleset.handled_net != 0 || port > u16::MAX as u64 {
                return Err(EINVAL);
            }
            ruleset.add_net_rule(port as u16, access)?;
        }
        _ => return Err(EINVAL),
    }
    Ok(0)
}

pub fn sys_landlock_restrict_self(ctx: &mut SyscallContext, fd: i32, flags: u32) -> SysResult {
    // As seccomp: without no_new_privs only CAP_SYS_ADMIN may.
    if !ctx.task.no_new_privs && !ctx.task.creds.has_cap(CAP_SYS_ADMIN) {
        return Err(EPERM);
    }
    if flags != 0 {
        return Err(EINVAL);
    }
    let file = ruleset_of(ctx, fd, false)?;
    let ruleset = file.file.as_landlock_ruleset().ok_or(EBADFD)?;
    let domain = Arc::new(Domain::merge(ctx.task.creds.landlock.as_deref(), ruleset)?);
    ctx.task.creds.landlock = Some(domain.clone());
    *ctx.task.process.view.landlock.lock() = Some(domain);
    Ok(0)
}

// --- LSM ----------------------------------------------------------------------

/// LSM_ID_CAPABILITY and LSM_ID_LANDLOCK, in Linux's order.
const LSM_IDS: [u64; 2] = [100, 110];
/// /sys/kernel/security/lsm.
pub const LSM_NAMES: &[u8] = b"capability,landlock";
/// sizeof(struct lsm_ctx): id, flags, len, ctx_len.
const LSM_CTX_SIZE: u64 = 32;
const LSM_FLAG_SINGLE: u32 = 1;

pub fn sys_lsm_list_modules(
    ctx: &mut SyscallContext,
    ids: u64,
    size: UserPtr<u32>,
    flags: u32,
) -> SysResult {
    if flags != 0 {
        return Err(EINVAL);
    }
    let given = size.read(&mut ctx.task.mm())?;
    let total = (LSM_IDS.len() * 8) as u32;
    size.write(&mut ctx.task.mm(), &total)?;
    if given < total {
        return Err(E2BIG);
    }
    ctx.task.mm().write_val(ids, &LSM_IDS)?;
    Ok(LSM_IDS.len() as u64)
}

/// Neither module has self attributes: after the argument checks,
/// EOPNOTSUPP with a size of 0, as Linux says when no module answers.
pub fn sys_lsm_get_self_attr(
    ctx: &mut SyscallContext,
    attr: u32,
    uctx: UserPtr<u64>,
    size: UserPtr<u32>,
    flags: u32,
) -> SysResult {
    if attr == 0 || size.is_null() {
        return Err(EINVAL);
    }
    size.read(&mut ctx.task.mm())?;
    if flags != 0 {
        if flags != LSM_FLAG_SINGLE || uctx.is_null() {
            return Err(EINVAL);
        }
        let id: u64 = uctx.read(&mut ctx.task.mm())?;
        if id == 0 {
            return Err(EINVAL);
        }
    }
    size.write(&mut ctx.task.mm(), &0)?;
    Err(EOPNOTSUPP)
}

pub fn sys_lsm_set_self_attr(
    ctx: &mut SyscallContext,
    _attr: u64,
    uctx: u64,
    size: u32,
    flags: u32,
) -> SysResult {
    let size = size as u64;
    if flags != 0 || size < LSM_CTX_SIZE {
        return Err(EINVAL);
    }
    if size > PAGE_SIZE {
        return Err(E2BIG);
    }
    let mut bytes = vec![0u8; size as usize];
    ctx.task.mm().copy_from_user(uctx, &mut bytes)?;
    let field = |i: usize| u64::from_ne_bytes(bytes[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
    let (len, ctx_len) = (field(2), field(3));
    match LSM_CTX_SIZE.checked_add(ctx_len) {
        Some(required) if size >= len && len >= required => Err(EOPNOTSUPP),
        _ => Err(EINVAL),
    }
}
