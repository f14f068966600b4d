//! Advisory file locks, enforced between the sandbox's processes as Linux
//! enforces them: `flock` locks (whole file, owned by the open file
//! description), POSIX record locks (`fcntl` F_SETLK: byte ranges owned by
//! the process, released when it closes any descriptor of the file or
//! ends) and OFD record locks (F_OFD_SETLK: byte ranges owned by the open
//! file description). flock locks and record locks do not interact; POSIX
//! and OFD record locks conflict with each other.
//!
//! Files are identified by (device, inode). This module is the lock
//! tables alone (pure logic, unit-tested on the host); the syscalls and
//! waiting are in `syscalls/locks.rs`.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::sentry::errno::*;

/// (device, inode).
pub type FileId = (u64, u64);

/// Who holds a lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// POSIX record locks: the process.
    Process(i32),
    /// flock and OFD locks: the open file description (its address).
    Description(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Read,
    Write,
}

impl Kind {
    fn conflicts(self, other: Kind) -> bool {
        self == Kind::Write || other == Kind::Write
    }
}

/// A byte-range lock: [start, end), `end` u64::MAX for "to the end of the
/// file, however it grows".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RangeLock {
    pub owner: Owner,
    pub kind: Kind,
    pub start: u64,
    pub end: u64,
}

impl RangeLock {
    fn overlaps(&self, start: u64, end: u64) -> bool {
        self.start < end && start < self.end
    }
}

/// The most record locks the sandbox holds at once.
pub const MAX_RECORD_LOCKS: usize = 16384;

/// Every record lock, by file.
#[derive(Default)]
pub struct RecordLocks {
    files: BTreeMap<FileId, Vec<RangeLock>>,
}

impl RecordLocks {
    pub const fn new() -> RecordLocks {
        RecordLocks {
            files: BTreeMap::new(),
        }
    }

    /// The lock of another owner that `wanted` would conflict with, the
    /// lowest in the file first (what F_GETLK reports, as Linux's list,
    /// kept in file order, gives it).
    pub fn conflict(&self, file: FileId, wanted: &RangeLock) -> Option<RangeLock> {
        self.files
            .get(&file)?
            .iter()
            .copied()
            .filter(|held| {
                held.owner != wanted.owner
                    && held.overlaps(wanted.start, wanted.end)
                    && held.kind.conflicts(wanted.kind)
            })
            .min_by_key(|held| held.start)
    }

    /// Removes `owner`'s locks on [start, end) of `file`, splitting those
    /// that stick out.
    pub fn unlock(&mut self, file: FileId, owner: Owner, start: u64, end: u64) {
        let Some(locks) = self.files.get_mut(&file) else {
            return;
        };
        let mut kept = Vec::with_capacity(locks.len() + 1);
        for lock in locks.drain(..) {
            if lock.owner != owner || !lock.overlaps(start, end) {
                kept.push(lock);
                continue;
            }
            if lock.start < start {
                kept.push(RangeLock { end: start, ..lock });
            }
            if lock.end > end {
                kept.push(RangeLock { start: end, ..lock });
            }
        }
        if kept.is_empty() {
            self.files.remove(&file);
        } else {
            *locks = kept;
        }
    }

    /// Takes `lock` (replacing what its owner held on the range) unless it
    /// conflicts with another owner's: EAGAIN then. ENOLCK when the table
    /// holds MAX_RECORD_LOCKS already (each costs sentry memory; Linux too
    /// fails with ENOLCK when it cannot allocate one).
    pub fn lock(&mut self, file: FileId, lock: RangeLock) -> Result<(), Errno> {
        if self.conflict(file, &lock).is_some() {
            return Err(EAGAIN);
        }
        self.unlock(file, lock.owner, lock.start, lock.end);
        let held: usize = self.files.values().map(Vec::len).sum();
        if held >= MAX_RECORD_LOCKS {
            return Err(ENOLCK);
        }
        self.files.entry(file).or_default().push(lock);
        Ok(())
    }

    /// Drops every lock of `owner` (on `file`, or on all files).
    pub fn release(&mut self, owner: Owner, file: Option<FileId>) {
        self.files.retain(|id, locks| {
            if file.is_none_or(|f| f == *id) {
                locks.retain(|l| l.owner != owner);
            }
            !locks.is_empty()
        });
    }

    pub fn holds_any(&self, owner: Owner) -> bool {
        self.files
            .values()
            .any(|locks| locks.iter().any(|l| l.owner == owner))
    }
}

/// flock locks, by file: (owner, shared) pairs.
#[derive(Default)]
pub struct FlockTable {
    files: BTreeMap<FileId, Vec<(usize, bool)>>,
}

impl FlockTable {
    pub const fn new() -> FlockTable {
        FlockTable {
            files: BTreeMap::new(),
        }
    }

    /// Takes (or converts to) a shared or exclusive lock for description
    /// `owner`; EAGAIN while another description holds a conflicting one.
    /// Like Linux, a conversion first lets go of the old lock.
    pub fn lock(&mut self, file: FileId, owner: usize, shared: bool) -> Result<(), Errno> {
        self.unlock(file, owner);
        let holders = self.files.entry(file).or_default();
        if holders.iter().any(|&(_, s)| !(s && shared)) {
            if holders.is_empty() {
                self.files.remove(&file);
            }
            return Err(EAGAIN);
        }
        holders.push((owner, shared));
        Ok(())
    }

    /// Whether `owner` could lock now (without changing anything).
    pub fn would_block(&self, file: FileId, owner: usize, shared: bool) -> bool {
        self.files
            .get(&file)
            .is_some_and(|holders| holders.iter().any(|&(o, s)| o != owner && !(s && shared)))
    }

    pub fn unlock(&mut self, file: FileId, owner: usize) {
        if let Some(holders) = self.files.get_mut(&file) {
            holders.retain(|&(o, _)| o != owner);
            if holders.is_empty() {
                self.files.remove(&file);
            }
        }
    }

    /// Drops every flock lock of description `owner`.
    pub fn release(&mut self, owner: usize) {
        self.files.retain(|_, holders| {
            holders.retain(|&(o, _)| o != owner);
            !holders.is_empty()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: FileId = (1, 2);

    fn lock(owner: Owner, kind: Kind, start: u64, end: u64) -> RangeLock {
        RangeLock {
            owner,
            kind,
            start,
            end,
        }
    }

    #[test]
    fn readers_share_writers_exclude() {
        let mut t = RecordLocks::new();
        let (a, b) = (Owner::Process(1), Owner::Process(2));
        t.lock(F, lock(a, Kind::Read, 0, 10)).unwrap();
        t.lock(F, lock(b, Kind::Read, 5, 15)).unwrap();
        assert_eq!(t.lock(F, lock(b, Kind::Write, 0, 1)), Err(EAGAIN));
        assert!(t.lock(F, lock(b, Kind::Write, 10, 20)).is_ok());
        // Upgrading b's read range conflicts with a's read lock only.
        assert_eq!(t.lock(F, lock(b, Kind::Write, 5, 20)), Err(EAGAIN));
        t.unlock(F, a, 0, u64::MAX);
        assert!(t.lock(F, lock(b, Kind::Write, 5, 20)).is_ok());
        assert_eq!(t.lock(F, lock(a, Kind::Read, 19, 21)), Err(EAGAIN));
        assert!(t.lock(F, lock(a, Kind::Read, 20, 21)).is_ok());
    }

    #[test]
    fn unlock_splits_a_range() {
        let mut t = RecordLocks::new();
        let (a, b) = (Owner::Process(1), Owner::Process(2));
        t.lock(F, lock(a, Kind::Write, 0, 100)).unwrap();
        t.unlock(F, a, 40, 60);
        assert!(t.lock(F, lock(b, Kind::Write, 40, 60)).is_ok());
        assert_eq!(t.lock(F, lock(b, Kind::Write, 39, 41)), Err(EAGAIN));
        assert_eq!(t.lock(F, lock(b, Kind::Write, 59, 61)), Err(EAGAIN));
        t.release(a, None);
        assert!(t.lock(F, lock(b, Kind::Write, 0, u64::MAX)).is_ok());
    }

    #[test]
    fn the_table_is_bounded() {
        let mut t = RecordLocks::new();
        let a = Owner::Process(1);
        for i in 0..MAX_RECORD_LOCKS as u64 {
            t.lock(F, lock(a, Kind::Read, 2 * i, 2 * i + 1)).unwrap();
        }
        let next = 2 * MAX_RECORD_LOCKS as u64;
        assert_eq!(t.lock(F, lock(a, Kind::Read, next, next + 1)), Err(ENOLCK));
        t.unlock(F, a, 0, 2);
        assert!(t.lock(F, lock(a, Kind::Read, next, next + 1)).is_ok());
    }

    #[test]
    fn flock_shared_and_exclusive() {
        let mut t = FlockTable::new();
        t.lock(F, 1, true).unwrap();
        t.lock(F, 2, true).unwrap();
        assert_eq!(t.lock(F, 3, false), Err(EAGAIN));
        assert!(t.would_block(F, 3, false));
        t.release(1);
        t.unlock(F, 2);
        assert!(t.lock(F, 3, false).is_ok());
        assert_eq!(t.lock(F, 1, true), Err(EAGAIN));
    }
}
