//! Landlock: unprivileged sandboxing, as Linux's security/landlock. A
//! ruleset (handled access rights and rules: directories and files with
//! the rights allowed beneath them, TCP ports) becomes one layer of the
//! calling thread's domain at landlock_restrict_self; domains stack (at
//! most 16 layers), follow fork and execve, and only ever shrink what is
//! allowed. Every layer must allow an access it handles, through a rule
//! on the path or one of its ancestors (file system) or on the port
//! (network); the scopes keep abstract unix sockets and signals inside
//! the domain. The per-layer bookkeeping (`Masks`, `unmask`, the REFER
//! checks of link and rename) follows security/landlock/fs.c.

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::sentry::errno::*;
use crate::sentry::vfs::{FileKind, Inode, PathStack};

/// The ABI reported by LANDLOCK_CREATE_RULESET_VERSION: file system
/// rights up to IOCTL_DEV (v5), TCP ports (v4), scopes (v6). v7's audit
/// flags are not offered: there is no audit log.
pub const ABI_VERSION: u64 = 6;

pub const ACCESS_FS_EXECUTE: u64 = 1 << 0;
pub const ACCESS_FS_WRITE_FILE: u64 = 1 << 1;
pub const ACCESS_FS_READ_FILE: u64 = 1 << 2;
pub const ACCESS_FS_READ_DIR: u64 = 1 << 3;
pub const ACCESS_FS_REMOVE_DIR: u64 = 1 << 4;
pub const ACCESS_FS_REMOVE_FILE: u64 = 1 << 5;
pub const ACCESS_FS_MAKE_CHAR: u64 = 1 << 6;
pub const ACCESS_FS_MAKE_DIR: u64 = 1 << 7;
pub const ACCESS_FS_MAKE_REG: u64 = 1 << 8;
pub const ACCESS_FS_MAKE_SOCK: u64 = 1 << 9;
pub const ACCESS_FS_MAKE_FIFO: u64 = 1 << 10;
pub const ACCESS_FS_MAKE_BLOCK: u64 = 1 << 11;
pub const ACCESS_FS_MAKE_SYM: u64 = 1 << 12;
pub const ACCESS_FS_REFER: u64 = 1 << 13;
pub const ACCESS_FS_TRUNCATE: u64 = 1 << 14;
pub const ACCESS_FS_IOCTL_DEV: u64 = 1 << 15;
pub const MASK_ACCESS_FS: u64 = (1 << 16) - 1;
const NUM_ACCESS_FS: usize = 16;
/// Rights that make sense on a file (a rule on a non-directory).
pub const ACCESS_FILE: u64 = ACCESS_FS_EXECUTE
    | ACCESS_FS_WRITE_FILE
    | ACCESS_FS_READ_FILE
    | ACCESS_FS_TRUNCATE
    | ACCESS_FS_IOCTL_DEV;

pub const ACCESS_NET_BIND_TCP: u64 = 1 << 0;
pub const ACCESS_NET_CONNECT_TCP: u64 = 1 << 1;
pub const MASK_ACCESS_NET: u64 = 3;

pub const SCOPE_ABSTRACT_UNIX_SOCKET: u64 = 1 << 0;
pub const SCOPE_SIGNAL: u64 = 1 << 1;
pub const MASK_SCOPE: u64 = 3;

pub const MAX_LAYERS: usize = 16;

/// Rules: the inode (kept alive, so its id is not reused) and the rights
/// allowed beneath it; ports in host order.
#[derive(Clone, Default)]
pub struct Rules {
    fs: BTreeMap<(u64, u64), (u64, Arc<dyn Inode>)>,
    net: BTreeMap<u16, u64>,
}

/// A ruleset (the object behind a ruleset descriptor).
pub struct Ruleset {
    pub handled_fs: u64,
    pub handled_net: u64,
    pub scoped: u64,
    rules: spin::Mutex<Rules>,
}

impl Ruleset {
    /// ENOMSG when it would handle nothing.
    pub fn new(handled_fs: u64, handled_net: u64, scoped: u64) -> Result<Ruleset, Errno> {
        if handled_fs == 0 && handled_net == 0 && scoped == 0 {
            return Err(ENOMSG);
        }
        Ok(Ruleset {
            handled_fs,
            handled_net,
            scoped,
            rules: spin::Mutex::new(Rules::default()),
        })
    }

    /// Adds `access` beneath `node` (rights accumulate on one inode).
    pub fn add_fs_rule(&self, node: Arc<dyn Inode>, access: u64) -> Result<(), Errno> {
        if node.kind() != FileKind::Directory && access & !ACCESS_FILE != 0 {
            return Err(EINVAL);
        }
        crate::mm::reserve_for_object(ENOMEM)?;
        let mut rules = self.rules.lock();
        let entry = rules.fs.entry(node.id()).or_insert((0, node));
        entry.0 |= access;
        Ok(())
    }

    pub fn add_net_rule(&self, port: u16, access: u64) -> Result<(), Errno> {
        crate::mm::reserve_for_object(ENOMEM)?;
        *self.rules.lock().net.entry(port).or_insert(0) |= access;
        Ok(())
    }
}

/// One layer of a domain: a ruleset as it was at restrict time. Its
/// identity (the Arc) is the node of Linux's domain hierarchy.
pub struct Layer {
    handled_fs: u64,
    handled_net: u64,
    scoped: u64,
    rules: Rules,
}

/// A thread's domain: its layers, the first one outermost.
#[derive(Clone, Default)]
pub struct Domain {
    layers: Vec<Arc<Layer>>,
}

impl core::fmt::Debug for Domain {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Domain({} layers)", self.layers.len())
    }
}

/// For each access right (index), the layers (bits) that have not yet
/// allowed it.
type Masks = [u16; NUM_ACCESS_FS];

fn bits(mask: u64) -> impl Iterator<Item = usize> {
    (0..NUM_ACCESS_FS).filter(move |&b| mask & (1 << b) != 0)
}

impl Domain {
    /// `current` with `ruleset` stacked on top (E2BIG past 16 layers).
    pub fn merge(current: Option<&Domain>, ruleset: &Ruleset) -> Result<Domain, Errno> {
        let mut domain = current.cloned().unwrap_or_default();
        if domain.layers.len() >= MAX_LAYERS {
            return Err(E2BIG);
        }
        crate::mm::reserve_for_object(ENOMEM)?;
        domain.layers.push(Arc::new(Layer {
            handled_fs: ruleset.handled_fs,
            handled_net: ruleset.handled_net,
            scoped: ruleset.scoped,
            rules: ruleset.rules.lock().clone(),
        }));
        Ok(domain)
    }

    fn handles_fs(&self) -> bool {
        self.layers.iter().any(|l| l.handled_fs != 0)
    }

    /// Linux's landlock_init_layer_masks for inodes: REFER is handled
    /// (denied unless allowed) by every layer.
    fn init_masks(&self, request: u64, masks: &mut Masks) -> u64 {
        let mut handled = 0;
        for (level, layer) in self.layers.iter().enumerate() {
            let mask = layer.handled_fs | ACCESS_FS_REFER;
            for b in bits(request & mask) {
                masks[b] |= 1 << level;
                handled |= 1 << b;
            }
        }
        handled
    }

    /// Linux's landlock_unmask_layers with the rule on `node`: false when
    /// no layer has a rule there or some requested right stays denied.
    fn unmask(&self, node: &Arc<dyn Inode>, request: u64, masks: &mut Masks) -> bool {
        if request == 0 {
            return true;
        }
        let id = node.id();
        let mut found = false;
        for (level, layer) in self.layers.iter().enumerate() {
            if let Some((access, _)) = layer.rules.fs.get(&id) {
                found = true;
                for b in bits(request & access) {
                    masks[b] &= !(1 << level);
                }
            }
        }
        found && bits(request).all(|b| masks[b] == 0)
    }

    /// Linux's is_access_to_paths_allowed: walks `path` (the node last)
    /// up to the root; with `second` (a second request and its masks, and
    /// the children being moved) it also checks that a link or rename
    /// would not give the moved file more rights than it has now.
    fn paths_allowed(
        &self,
        path: &[(Vec<u8>, Arc<dyn Inode>)],
        request1: u64,
        masks1: &mut Masks,
        mut second: Option<Second>,
    ) -> bool {
        let request2 = second.as_ref().map_or(0, |s| s.request);
        if request1 == 0 && request2 == 0 {
            return true;
        }
        if path
            .last()
            .is_some_and(|(_, n)| crate::sentry::vfs::is_pseudo(&**n))
        {
            return true;
        }
        let all_zero = |m: &Masks| m.iter().all(|&x| x == 0);
        let mut allowed1 = all_zero(masks1);
        let mut allowed2 = second.as_ref().is_none_or(|s| all_zero(s.masks));
        let child_masks = |child: &Option<(Arc<dyn Inode>, bool)>| {
            child.as_ref().map(|(node, is_dir)| {
                let mut m = [0; NUM_ACCESS_FS];
                let request = self.init_masks(MASK_ACCESS_FS, &mut m);
                self.unmask(node, request, &mut m);
                (m, *is_dir)
            })
        };
        let (c1, c2) = match &second {
            Some(s) => (child_masks(&Some(s.child1.clone())), child_masks(&s.child2)),
            None => (None, None),
        };
        // A double request first compares all handled rights (no
        // escalation by moving), then only the requested ones.
        let mut dom_check = second.is_some();
        let (mut masked1, mut masked2) = if dom_check {
            let all = self.init_masks(MASK_ACCESS_FS, &mut [0; NUM_ACCESS_FS]);
            (all, all)
        } else {
            (request1, request2)
        };
        for (_, node) in path.iter().rev() {
            if let Some(s) = second.as_mut() {
                if dom_check && no_more_access(masks1, c1.as_ref(), s.masks, c2.as_ref()) {
                    dom_check = false;
                    masked1 = request1;
                    masked2 = request2;
                    allowed1 = allowed1 || scope_to_request(masked1, masks1);
                    allowed2 = allowed2 || scope_to_request(masked2, s.masks);
                    if allowed1 && allowed2 {
                        break;
                    }
                }
            }
            allowed1 = allowed1 || self.unmask(node, masked1, masks1);
            if let Some(s) = second.as_mut() {
                allowed2 = allowed2 || self.unmask(node, masked2, s.masks);
            }
            if allowed1 && allowed2 {
                break;
            }
        }
        allowed1 && allowed2
    }

    /// A simple request on `path`: EACCES unless every layer handling a
    /// requested right allows it somewhere on the way to the root.
    pub fn check_path(&self, path: &PathStack, request: u64) -> Result<(), Errno> {
        if !self.handles_fs() {
            return Ok(());
        }
        let mut masks = [0; NUM_ACCESS_FS];
        let request = self.init_masks(request, &mut masks);
        if request == 0 || self.paths_allowed(&path.0, request, &mut masks, None) {
            Ok(())
        } else {
            Err(EACCES)
        }
    }

    /// Which of `rights` some layer denies on `path`.
    pub fn denied(&self, path: &PathStack, rights: u64) -> u64 {
        if !self.handles_fs() {
            return 0;
        }
        let mut masks = [0; NUM_ACCESS_FS];
        let request = self.init_masks(rights, &mut masks);
        if request == 0 || self.paths_allowed(&path.0, request, &mut masks, None) {
            return 0;
        }
        bits(request)
            .filter(|&b| masks[b] != 0)
            .fold(0, |a, b| a | 1 << b)
    }

    /// Linux's current_check_refer_path: link (`removable` false) or
    /// rename of `old` (in `old_parent`) to `new_name` in `new_dir`
    /// (`new`: what is there now). EACCES, or EXDEV for a reparenting
    /// that would change what the file is allowed.
    pub fn check_refer(
        &self,
        old_parent: &PathStack,
        old: &Arc<dyn Inode>,
        new_dir: &PathStack,
        new: Option<&Arc<dyn Inode>>,
        removable: bool,
        exchange: bool,
    ) -> Result<(), Errno> {
        if !self.handles_fs() {
            return Ok(());
        }
        let mut request1 = match (exchange, new) {
            (true, Some(n)) => mode_access(n.kind()),
            (true, None) => return Err(ENOENT),
            _ => 0,
        };
        let mut request2 = mode_access(old.kind());
        if removable {
            request1 |= remove_access(Some(old));
            request2 |= remove_access(new);
        }
        let mut masks1 = [0; NUM_ACCESS_FS];
        if old_parent.node().id() == new_dir.node().id() {
            // No reparenting: REFER is not needed.
            let request = self.init_masks(request1 | request2, &mut masks1);
            return if self.paths_allowed(&new_dir.0, request, &mut masks1, None) {
                Ok(())
            } else {
                Err(EACCES)
            };
        }
        request1 |= ACCESS_FS_REFER;
        request2 |= ACCESS_FS_REFER;
        // The common mount: the walk below stops at its root.
        let mount_depth = mount_root_index(new_dir);
        let mnt_dir = &new_dir.0[..=mount_depth];
        let mut masks2 = [0; NUM_ACCESS_FS];
        let allow1 = self.collect(old_parent, mount_depth, &mut masks1);
        let allow2 = self.collect(new_dir, mount_depth, &mut masks2);
        if allow1 && allow2 {
            return Ok(());
        }
        let second = Second {
            request: request2,
            masks: &mut masks2,
            child1: (old.clone(), old.kind() == FileKind::Directory),
            child2: match (exchange, new) {
                (true, Some(n)) => Some((n.clone(), n.kind() == FileKind::Directory)),
                _ => None,
            },
        };
        if self.paths_allowed(mnt_dir, request1, &mut masks1, Some(second)) {
            return Ok(());
        }
        // EACCES before EXDEV, as Linux.
        if is_eacces(&masks1, request1) || is_eacces(&masks2, request2) {
            return Err(EACCES);
        }
        Err(EXDEV)
    }

    /// Linux's collect_domain_accesses: the layers' rights from `dir` up
    /// to the mount root (index `mount_depth` of the stack).
    fn collect(&self, dir: &PathStack, mount_depth: usize, masks: &mut Masks) -> bool {
        if crate::sentry::vfs::is_pseudo(&**dir.node()) {
            return true;
        }
        let access = self.init_masks(MASK_ACCESS_FS, masks);
        for (depth, (_, node)) in dir.0.iter().enumerate().rev() {
            if self.unmask(node, access, masks) {
                return true;
            }
            if depth <= mount_depth {
                break;
            }
        }
        false
    }

    /// A TCP bind or connect to `port` (host order).
    pub fn check_net(&self, port: u16, request: u64) -> Result<(), Errno> {
        let mut denied: u16 = 0;
        for (level, layer) in self.layers.iter().enumerate() {
            if layer.handled_net & request != 0 {
                let allowed = layer.rules.net.get(&port).copied().unwrap_or(0);
                if request & layer.handled_net & !allowed != 0 {
                    denied |= 1 << level;
                }
            }
        }
        if denied == 0 {
            Ok(())
        } else {
            Err(EACCES)
        }
    }

    pub fn handles_net(&self, request: u64) -> bool {
        self.layers.iter().any(|l| l.handled_net & request != 0)
    }
}

struct Second<'a> {
    request: u64,
    masks: &'a mut Masks,
    child1: (Arc<dyn Inode>, bool),
    child2: Option<(Arc<dyn Inode>, bool)>,
}

/// The MAKE_* right creating a node of `kind` needs.
pub fn mode_access(kind: FileKind) -> u64 {
    match kind {
        FileKind::Directory => ACCESS_FS_MAKE_DIR,
        FileKind::CharDevice => ACCESS_FS_MAKE_CHAR,
        FileKind::BlockDevice => ACCESS_FS_MAKE_BLOCK,
        FileKind::Fifo => ACCESS_FS_MAKE_FIFO,
        FileKind::Socket => ACCESS_FS_MAKE_SOCK,
        FileKind::Symlink => ACCESS_FS_MAKE_SYM,
        _ => ACCESS_FS_MAKE_REG,
    }
}

/// The REMOVE_* right removing `node` needs (none when there is none).
pub fn remove_access(node: Option<&Arc<dyn Inode>>) -> u64 {
    match node.map(|n| n.kind()) {
        None => 0,
        Some(FileKind::Directory) => ACCESS_FS_REMOVE_DIR,
        Some(_) => ACCESS_FS_REMOVE_FILE,
    }
}

/// Linux's no_more_access: the destination restricts at least as much as
/// the source did (both ways for RENAME_EXCHANGE).
fn no_more_access(
    parent1: &Masks,
    child1: Option<&(Masks, bool)>,
    parent2: &Masks,
    child2: Option<&(Masks, bool)>,
) -> bool {
    for b in 0..NUM_ACCESS_FS {
        let is_file = ACCESS_FILE & (1 << b) != 0;
        if let Some((c1, dir1)) = child1 {
            if (*dir1 || is_file) && ((parent1[b] & c1[b]) | parent2[b]) != parent2[b] {
                return false;
            }
        }
        if let Some((c2, dir2)) = child2 {
            if (*dir2 || is_file) && ((parent2[b] & c2[b]) | parent1[b]) != parent1[b] {
                return false;
            }
        }
    }
    true
}

fn scope_to_request(request: u64, masks: &mut Masks) -> bool {
    for (b, m) in masks.iter_mut().enumerate() {
        if request & (1 << b) == 0 {
            *m = 0;
        }
    }
    masks.iter().all(|&m| m == 0)
}

/// Some right other than REFER is denied (REFER alone is EXDEV).
fn is_eacces(masks: &Masks, request: u64) -> bool {
    bits(request & !ACCESS_FS_REFER).any(|b| masks[b] != 0)
}

/// The stack index of the root of the mount `dir` is on: the topmost
/// ancestor on the same filesystem.
fn mount_root_index(dir: &PathStack) -> usize {
    let dev = dir.node().id().0;
    let mut index = dir.0.len() - 1;
    while index > 0 && dir.0[index - 1].1.id().0 == dev {
        index -= 1;
    }
    index
}

/// Linux's domain_is_scoped: whether `client` may not reach `server`
/// (another domain, not nested in a scoped layer of the client's).
pub fn is_scoped(client: &Domain, server: Option<&Domain>, scope: u64) -> bool {
    let client_layers = &client.layers;
    let server_layers: &[Arc<Layer>] = server.map_or(&[], |s| &s.layers);
    for (level, layer) in client_layers.iter().enumerate().rev() {
        if layer.scoped & scope != 0 {
            // Allowed only when this very layer is one of the server's.
            return server_layers
                .get(level)
                .is_none_or(|s| !Arc::ptr_eq(s, layer));
        }
    }
    false
}

/// Linux's is_masked_device_ioctl: commands on the descriptor or the
/// filesystem rather than the device (FIOCLEX, FIONCLEX, FIONBIO,
/// FIOASYNC, FIOQSIZE, FIFREEZE, FITHAW, FS_IOC_FIEMAP, FIGETBSZ,
/// FICLONE, FICLONERANGE, FIDEDUPERANGE, FS_IOC_GETFSUUID,
/// FS_IOC_GETFSSYSFSPATH), allowed without IOCTL_DEV.
pub fn ioctl_needs_no_right(cmd: u32) -> bool {
    matches!(
        cmd,
        0x5451
            | 0x5450
            | 0x5421
            | 0x5452
            | 0x5460
            | 0xc004_5877
            | 0xc004_5878
            | 0xc020_660b
            | 2
            | 0x4004_9409
            | 0x4020_940d
            | 0xc018_9436
            | 0x8011_1500
            | 0x8081_1501
    )
}

/// Landlock's ptrace rule (hook_ptrace_access_check): a task in a domain
/// may inspect only tasks in that domain or one nested in it.
pub fn may_ptrace(tracer: Option<&Domain>, target: Option<&Domain>) -> bool {
    let Some(tracer) = tracer else {
        return true;
    };
    let Some(target) = target else {
        return false;
    };
    let depth = tracer.layers.len();
    target.layers.len() >= depth
        && tracer
            .layers
            .last()
            .is_none_or(|l| Arc::ptr_eq(l, &target.layers[depth - 1]))
}
