//! Extended attributes of the filesystems that store them (tmpfs): a
//! name-to-value map per inode, with a sandbox-wide byte budget so that
//! attributes cannot exhaust the sentry's heap (ENOSPC past it, as a full
//! tmpfs answers). Namespaces and permissions are the syscall layer's
//! (`syscalls/xattr.rs`).

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};

use spin::Mutex;

use crate::sentry::errno::*;

/// setxattr flags.
pub const XATTR_CREATE: u32 = 1;
pub const XATTR_REPLACE: u32 = 2;

/// Bytes of names and values all attributes may take together.
const BUDGET: usize = 8 << 20;
static USED: AtomicUsize = AtomicUsize::new(0);

#[derive(Default)]
pub struct XattrSet {
    map: Mutex<BTreeMap<Vec<u8>, Vec<u8>>>,
}

fn cost(name: &[u8], value: &[u8]) -> usize {
    name.len() + value.len() + 32
}

impl XattrSet {
    pub fn get(&self, name: &[u8]) -> Option<Vec<u8>> {
        self.map.lock().get(name).cloned()
    }

    /// The names, in a stable order.
    pub fn names(&self) -> Vec<Vec<u8>> {
        self.map.lock().keys().cloned().collect()
    }

    /// Sets `name` (EEXIST with XATTR_CREATE when it exists, ENODATA with
    /// XATTR_REPLACE when it does not, ENOSPC past the budget).
    pub fn set(&self, name: &[u8], value: &[u8], flags: u32) -> Result<(), Errno> {
        let mut map = self.map.lock();
        let old = map.get(name).map(|v| cost(name, v));
        match old {
            Some(_) if flags & XATTR_CREATE != 0 => return Err(EEXIST),
            None if flags & XATTR_REPLACE != 0 => return Err(ENODATA),
            _ => {}
        }
        let new = cost(name, value);
        let grow = new.saturating_sub(old.unwrap_or(0));
        if USED.fetch_add(grow, Ordering::Relaxed) + grow > BUDGET {
            USED.fetch_sub(grow, Ordering::Relaxed);
            return Err(ENOSPC);
        }
        USED.fetch_sub(old.unwrap_or(0).saturating_sub(new), Ordering::Relaxed);
        map.insert(name.to_vec(), value.to_vec());
        Ok(())
    }

    pub fn remove(&self, name: &[u8]) -> Result<(), Errno> {
        let value = self.map.lock().remove(name).ok_or(ENODATA)?;
        USED.fetch_sub(cost(name, &value), Ordering::Relaxed);
        Ok(())
    }
}

impl Drop for XattrSet {
    fn drop(&mut self) {
        let freed: usize = self.map.lock().iter().map(|(n, v)| cost(n, v)).sum();
        USED.fetch_sub(freed, Ordering::Relaxed);
    }
}
