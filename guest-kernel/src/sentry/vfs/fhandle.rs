//! File handles (name_to_handle_at/open_by_handle_at) for the sentry's own
//! tmpfs: a handle names (filesystem, inode number, generation) and is
//! found here while the inode lives and has a name, as Linux's
//! shmem_fh_to_dentry finds it in the inode cache (ESTALE once it is
//! gone). Host directories have no handles that could be opened (their
//! files are the host's; EOPNOTSUPP, as for a filesystem without export
//! operations).

use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};

use spin::Mutex;

use super::{Inode, PathStack};
use crate::sentry::errno::*;

/// Inodes remembered at most; dead ones are dropped first, then the
/// oldest registrations (their handles go stale).
const MAX_ENTRIES: usize = 16384;

struct Entry {
    generation: u32,
    /// Where the handle was made: the names and (weakly) the nodes from
    /// the root, so an open by handle has a location as an open by path.
    path: Vec<(Vec<u8>, Weak<dyn Inode>)>,
    order: u64,
}

struct Registry {
    entries: BTreeMap<(u64, u64), Entry>,
    next_order: u64,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    entries: BTreeMap::new(),
    next_order: 0,
});
static NEXT_GENERATION: AtomicU32 = AtomicU32::new(1);

fn same(a: &Arc<dyn Inode>, b: &Arc<dyn Inode>) -> bool {
    core::ptr::addr_eq(Arc::as_ptr(a), Arc::as_ptr(b))
}

/// Whether the node at `stack`'s end can be opened by handle.
pub fn exportable(node: &Arc<dyn Inode>) -> bool {
    node.as_any().is::<super::tmpfs::TmpfsNode>()
}

/// The generation of the node at the end of `stack` (the same for every
/// handle of one inode; a new one when its number names another inode).
pub fn register(stack: &PathStack) -> u32 {
    let node = stack.node();
    let key = node.id();
    let path = stack
        .0
        .iter()
        .map(|(name, node)| (name.clone(), Arc::downgrade(node)))
        .collect();
    let mut registry = REGISTRY.lock();
    let order = registry.next_order;
    registry.next_order += 1;
    if let Some(entry) = registry.entries.get_mut(&key) {
        let live = entry.path.last().and_then(|(_, n)| n.upgrade());
        if live.is_some_and(|live| same(&live, node)) {
            entry.path = path;
            entry.order = order;
            return entry.generation;
        }
    }
    if registry.entries.len() >= MAX_ENTRIES {
        registry
            .entries
            .retain(|_, e| e.path.last().is_some_and(|(_, n)| n.strong_count() > 0));
        while registry.entries.len() >= MAX_ENTRIES {
            let oldest = registry
                .entries
                .iter()
                .min_by_key(|(_, e)| e.order)
                .map(|(k, _)| *k)
                .expect("not empty");
            registry.entries.remove(&oldest);
        }
    }
    let generation = NEXT_GENERATION.fetch_add(1, Ordering::Relaxed);
    registry.entries.insert(
        key,
        Entry {
            generation,
            path,
            order,
        },
    );
    generation
}

/// The node inode `ino` of filesystem `dev` with `generation` is, with a
/// path to it: ESTALE when there is none (any more), or it was unlinked.
pub fn lookup(dev: u64, ino: u64, generation: u32) -> Result<PathStack, Errno> {
    let registry = REGISTRY.lock();
    let entry = registry.entries.get(&(dev, ino)).ok_or(ESTALE)?;
    if entry.generation != generation {
        return Err(ESTALE);
    }
    let leaf = entry
        .path
        .last()
        .and_then(|(name, n)| Some((name.clone(), n.upgrade()?)))
        .ok_or(ESTALE)?;
    if leaf.1.stat().nlink == 0 {
        return Err(ESTALE);
    }
    let nodes = entry
        .path
        .iter()
        .map(|(name, n)| Some((name.clone(), n.upgrade()?)))
        .collect::<Option<Vec<_>>>();
    // A directory on the way went: the file alone (Linux's disconnected
    // dentry).
    Ok(PathStack(nodes.unwrap_or_else(|| alloc::vec![leaf])))
}
