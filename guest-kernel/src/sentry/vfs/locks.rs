//! Advisory file locks, enforced between the sandbox's processes as Linux
//! enforces them: `flock` locks (whole file, owned by the open file
//! description), POSIX record locks (`fcntl` F_SETLK: byte ranges owned by
//! the process, released when it closes any descriptor of the file or
//! ends) and OFD record locks (F_OFD_SETLK: byte ranges owned by the open
//! file description). flock locks and record locks do not interact; POSIX
//! and OFD record locks conflict with each other. A blocked F_SETLKW
//! request is recorded with the lock it waits for, so that a request
//! that would close a cycle of processes waiting for each other fails
//! with EDEADLK (Linux's posix_locks_deadlock).
//!
//! File leases (fcntl F_SETLEASE) are here too: a read or write lease
//! held by an open file description, broken by another open for writing
//! (or, for a write lease, for reading) or a truncate, as Linux's
//! fs/locks.c does. Their conflict checks need how often each file is
//! open for reading only and for writing, counted here.
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

/// How many waiting owners the deadlock search follows (Linux's
/// MAX_DEADLK_ITERATIONS, and its one extra look).
const MAX_DEADLOCK_STEPS: usize = 11;

/// A blocked F_SETLKW request: the thread that waits, and the lock it
/// found in its way when it blocked (Linux's fl_blocker).
#[derive(Clone, Copy, Debug)]
struct Waiter {
    thread: i32,
    owner: Owner,
    file: FileId,
    blocker: RangeLock,
}

/// Every record lock, by file, and the blocked requests.
#[derive(Default)]
pub struct RecordLocks {
    files: BTreeMap<FileId, Vec<RangeLock>>,
    waiters: Vec<Waiter>,
}

impl RecordLocks {
    pub const fn new() -> RecordLocks {
        RecordLocks {
            files: BTreeMap::new(),
            waiters: Vec::new(),
        }
    }

    /// A F_SETLKW request of `thread` for `wanted`, which `lock` refused:
    /// records that it waits for the lock in its way, or EDEADLK when
    /// that lock's owner waits (through a chain of waiting owners) for
    /// `wanted`'s own. Only process-owned requests take part, as in
    /// Linux: an OFD lock has no process to wait.
    pub fn block(&mut self, thread: i32, file: FileId, wanted: &RangeLock) -> Result<(), Errno> {
        self.unblock(thread);
        let Some(blocker) = self.conflict(file, wanted) else {
            return Ok(());
        };
        if let Owner::Process(_) = wanted.owner {
            let mut held = blocker;
            for _ in 0..MAX_DEADLOCK_STEPS {
                let Some(next) = self.waiters.iter().find(|w| w.owner == held.owner) else {
                    break;
                };
                if next.blocker.owner == wanted.owner {
                    return Err(EDEADLK);
                }
                held = next.blocker;
            }
            self.waiters.push(Waiter {
                thread,
                owner: wanted.owner,
                file,
                blocker,
            });
        }
        Ok(())
    }

    /// Whether the lock `thread` waits for is still held as it was: only
    /// a change to it (Linux wakes the requests blocked on it) sends the
    /// request to look again.
    pub fn still_blocked(&self, thread: i32) -> bool {
        self.waiters
            .iter()
            .find(|w| w.thread == thread)
            .is_some_and(|w| {
                self.files
                    .get(&w.file)
                    .is_some_and(|locks| locks.contains(&w.blocker))
            })
    }

    /// `thread` no longer waits (it got the lock, or gave up).
    pub fn unblock(&mut self, thread: i32) {
        self.waiters.retain(|w| w.thread != thread);
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

/// Leases are taken and broken in units of `Kind`; F_GETLEASE reports
/// what a lease is being broken to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The open file description holding it (its address).
    pub holder: usize,
    pub kind: Kind,
    /// The descriptor it was set through (the signal's si_fd).
    pub fd: i32,
    /// A breaker wants it gone: the monotonic time (ns) at which it goes
    /// by itself (u64::MAX: never), Linux's FL_UNLOCK_PENDING.
    unlock_by: Option<u64>,
    /// A reader wants a write lease made a read lease by then
    /// (FL_DOWNGRADE_PENDING).
    downgrade_by: Option<u64>,
}

impl Lease {
    /// What F_GETLEASE reports: the type it is being broken to.
    pub fn target(&self) -> Option<Kind> {
        if self.unlock_by.is_some() {
            None
        } else if self.downgrade_by.is_some() {
            Some(Kind::Read)
        } else {
            Some(self.kind)
        }
    }

    fn breaking(&self) -> bool {
        self.unlock_by.is_some() || self.downgrade_by.is_some()
    }

    /// Whether an open for writing (`write`) or reading must wait for it.
    fn conflicts(&self, write: bool) -> bool {
        write || self.kind == Kind::Write
    }
}

/// How a description has a file open, for lease conflicts: Linux counts
/// writers (i_writecount) and read-only openers (i_readcount) apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    ReadOnly,
    Write,
}

/// What a lease break did: the holders to send the break signal to (with
/// the descriptor each lease was set through), and whether the breaker
/// must wait (until the monotonic time given, u64::MAX: no limit).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Break {
    pub notify: Vec<(usize, i32)>,
    pub wait_until: Option<u64>,
}

/// Every lease, and how often each file is open, by file.
#[derive(Default)]
pub struct LeaseTable {
    leases: BTreeMap<FileId, Vec<Lease>>,
    /// (read-only opens, opens for writing).
    opens: BTreeMap<FileId, (usize, usize)>,
}

impl LeaseTable {
    pub const fn new() -> LeaseTable {
        LeaseTable {
            leases: BTreeMap::new(),
            opens: BTreeMap::new(),
        }
    }

    /// `file` was opened as `access` says.
    pub fn opened(&mut self, file: FileId, access: Access) {
        let counts = self.opens.entry(file).or_default();
        match access {
            Access::ReadOnly => counts.0 += 1,
            Access::Write => counts.1 += 1,
        }
    }

    /// An open counted by `opened` ended.
    pub fn closed(&mut self, file: FileId, access: Access) {
        if let Some(counts) = self.opens.get_mut(&file) {
            match access {
                Access::ReadOnly => counts.0 = counts.0.saturating_sub(1),
                Access::Write => counts.1 = counts.1.saturating_sub(1),
            }
            if *counts == (0, 0) {
                self.opens.remove(&file);
            }
        }
    }

    pub fn has_leases(&self, file: FileId) -> bool {
        self.leases.contains_key(&file)
    }

    /// Applies the breaks whose time is up by `now` (Linux's
    /// time_out_leases): a pending downgrade makes a read lease, a
    /// pending unlock removes the lease. Returns the holders whose lease
    /// went.
    pub fn time_out(&mut self, file: FileId, now: u64) -> Vec<usize> {
        let mut gone = Vec::new();
        let Some(leases) = self.leases.get_mut(&file) else {
            return gone;
        };
        leases.retain_mut(|lease| {
            if lease.downgrade_by.is_some_and(|t| now >= t) {
                lease.kind = Kind::Read;
                lease.downgrade_by = None;
            }
            if lease.unlock_by.is_some_and(|t| now >= t) {
                gone.push(lease.holder);
                return false;
            }
            true
        });
        if leases.is_empty() {
            self.leases.remove(&file);
        }
        gone
    }

    /// The lease `holder` has on `file`.
    pub fn get(&self, file: FileId, holder: usize) -> Option<Lease> {
        self.leases
            .get(&file)?
            .iter()
            .find(|l| l.holder == holder)
            .copied()
    }

    /// Sets (or changes) `holder`'s lease on `file` to `kind` (Linux's
    /// generic_add_lease). EAGAIN when the file is open in a way that
    /// conflicts: for a read lease, open for writing by anyone (the
    /// holder too); for a write lease, open by anyone but the holder.
    /// EAGAIN too for a write lease while another description holds a
    /// lease, and for any lease while another is being broken for a
    /// writer.
    pub fn set(
        &mut self,
        file: FileId,
        holder: usize,
        access: Access,
        kind: Kind,
        fd: i32,
    ) -> Result<(), Errno> {
        let (readers, writers) = self.opens.get(&file).copied().unwrap_or((0, 0));
        let open_elsewhere = match kind {
            Kind::Read => writers > 0,
            Kind::Write => {
                let mine = match access {
                    Access::ReadOnly => (1, 0),
                    Access::Write => (0, 1),
                };
                (readers, writers) != mine
            }
        };
        if open_elsewhere {
            return Err(EAGAIN);
        }
        let leases = self.leases.entry(file).or_default();
        let others_refuse = leases
            .iter()
            .filter(|l| l.holder != holder)
            .any(|l| kind == Kind::Write || l.unlock_by.is_some());
        if others_refuse {
            if leases.is_empty() {
                self.leases.remove(&file);
            }
            return Err(EAGAIN);
        }
        match leases.iter_mut().find(|l| l.holder == holder) {
            // Linux's lease_modify: a downgrade ends a pending downgrade;
            // a pending unlock stays.
            Some(lease) => {
                lease.kind = kind;
                lease.fd = fd;
                if kind == Kind::Read {
                    lease.downgrade_by = None;
                }
            }
            None => leases.push(Lease {
                holder,
                kind,
                fd,
                unlock_by: None,
                downgrade_by: None,
            }),
        }
        Ok(())
    }

    /// Removes `holder`'s lease on `file` (F_SETLEASE F_UNLCK); EAGAIN
    /// when it has none.
    pub fn unlock(&mut self, file: FileId, holder: usize) -> Result<(), Errno> {
        let leases = self.leases.get_mut(&file).ok_or(EAGAIN)?;
        let before = leases.len();
        leases.retain(|l| l.holder != holder);
        if leases.len() == before {
            return Err(EAGAIN);
        }
        if leases.is_empty() {
            self.leases.remove(&file);
        }
        Ok(())
    }

    /// An open for writing (`write`) or reading, or a truncate (writing),
    /// breaks the leases of `file` it conflicts with (Linux's
    /// __break_lease): the ones not yet being broken that way are marked,
    /// to go (or, for a reader, to become read leases) by `deadline`, and
    /// their holders are to be told. Call `time_out` first.
    pub fn break_leases(&mut self, file: FileId, write: bool, deadline: u64) -> Break {
        let mut result = Break::default();
        let Some(leases) = self.leases.get_mut(&file) else {
            return result;
        };
        for lease in leases.iter_mut().filter(|l| l.conflicts(write)) {
            if write {
                if lease.unlock_by.is_some() {
                    continue;
                }
                lease.unlock_by = Some(deadline);
            } else {
                if lease.breaking() {
                    continue;
                }
                lease.downgrade_by = Some(deadline);
            }
            result.notify.push((lease.holder, lease.fd));
        }
        result.wait_until = self.must_wait(file, write);
        result
    }

    /// Whether an open for writing (`write`) or reading must still wait
    /// for a lease of `file`: until when, at the latest (the earliest
    /// time a conflicting lease's break takes effect by itself).
    pub fn must_wait(&self, file: FileId, write: bool) -> Option<u64> {
        self.leases
            .get(&file)?
            .iter()
            .filter(|l| l.conflicts(write))
            .map(|l| {
                // A reader waits for a downgrade or the end, whichever
                // comes first; a writer for the end.
                let by = if write {
                    l.unlock_by
                } else {
                    l.unlock_by.into_iter().chain(l.downgrade_by).min()
                };
                by.unwrap_or(u64::MAX)
            })
            .min()
    }

    /// Drops `holder`'s leases (its description closed); whether it had
    /// any.
    pub fn release(&mut self, holder: usize) -> bool {
        let mut had = false;
        self.leases.retain(|_, leases| {
            let before = leases.len();
            leases.retain(|l| l.holder != holder);
            had |= leases.len() != before;
            !leases.is_empty()
        });
        had
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
    #[test]
    fn a_cycle_of_waiting_processes_is_a_deadlock() {
        // LTP fcntl17: three processes hold [2,7), [9,14), [17,22).
        let mut t = RecordLocks::new();
        let (p1, p2, p3) = (Owner::Process(1), Owner::Process(2), Owner::Process(3));
        t.lock(F, lock(p1, Kind::Write, 2, 7)).unwrap();
        t.lock(F, lock(p2, Kind::Write, 9, 14)).unwrap();
        t.lock(F, lock(p3, Kind::Write, 17, 22)).unwrap();
        // 2 waits for 3; 3 waits for 1 (the lowest lock in its way).
        let want2 = lock(p2, Kind::Write, 17, 22);
        assert_eq!(t.lock(F, want2), Err(EAGAIN));
        t.block(20, F, &want2).unwrap();
        let want3 = lock(p3, Kind::Write, 2, 16);
        assert_eq!(t.lock(F, want3), Err(EAGAIN));
        t.block(30, F, &want3).unwrap();
        assert!(t.still_blocked(20) && t.still_blocked(30));
        // 1 lets go: only 3's blocker changed, and 3 now waits for 2,
        // which waits for 3.
        t.unlock(F, p1, 0, u64::MAX);
        assert!(t.still_blocked(20));
        assert!(!t.still_blocked(30));
        assert_eq!(t.lock(F, want3), Err(EAGAIN));
        assert_eq!(t.block(30, F, &want3), Err(EDEADLK));
        assert!(!t.still_blocked(30));
        // 3 gives its lock up: 2 gets it.
        t.release(p3, None);
        assert!(!t.still_blocked(20));
        t.lock(F, want2).unwrap();
        t.unblock(20);
    }

    #[test]
    fn a_chain_without_a_cycle_waits() {
        let mut t = RecordLocks::new();
        let (p1, p2, p3) = (Owner::Process(1), Owner::Process(2), Owner::Process(3));
        let g = (1, 3);
        t.lock(F, lock(p1, Kind::Write, 0, 1)).unwrap();
        t.lock(g, lock(p2, Kind::Read, 0, 1)).unwrap();
        // 2 waits for 1 on F, 3 waits for 2 on another file: no cycle.
        t.block(2, F, &lock(p2, Kind::Write, 0, 1)).unwrap();
        t.block(3, g, &lock(p3, Kind::Write, 0, 1)).unwrap();
        // 1 asking for 2's lock closes the cycle 1 -> 2 -> 1.
        assert_eq!(t.block(1, g, &lock(p1, Kind::Write, 0, 1)), Err(EDEADLK));
        // A read lock does not conflict with 2's read lock: no wait.
        assert!(t.conflict(g, &lock(p1, Kind::Read, 0, 1)).is_none());
    }

    #[test]
    fn ofd_locks_take_no_part_in_deadlock_detection() {
        let mut t = RecordLocks::new();
        let (d1, d2) = (Owner::Description(0x100), Owner::Description(0x200));
        t.lock(F, lock(d1, Kind::Write, 0, 1)).unwrap();
        t.lock(F, lock(d2, Kind::Write, 1, 2)).unwrap();
        t.block(1, F, &lock(d1, Kind::Write, 1, 2)).unwrap();
        t.block(2, F, &lock(d2, Kind::Write, 0, 1)).unwrap();
        // Not recorded: nothing to wait for in the cycle search.
        assert!(!t.still_blocked(1));
    }

    const H1: usize = 0x1000;
    const H2: usize = 0x2000;

    #[test]
    fn lease_conflicts_with_opens() {
        let mut t = LeaseTable::new();
        // A read lease: refused while anyone (the holder too) writes.
        t.opened(F, Access::Write);
        assert_eq!(t.set(F, H1, Access::Write, Kind::Read, 3), Err(EAGAIN));
        // A write lease: allowed when the holder's open is the only one.
        assert!(t.set(F, H1, Access::Write, Kind::Write, 3).is_ok());
        assert_eq!(t.get(F, H1).unwrap().target(), Some(Kind::Write));
        t.unlock(F, H1).unwrap();
        assert_eq!(t.unlock(F, H1), Err(EAGAIN));
        t.opened(F, Access::ReadOnly);
        assert_eq!(t.set(F, H1, Access::Write, Kind::Write, 3), Err(EAGAIN));
        t.closed(F, Access::Write);
        // Holder read-only, one more reader: no write lease; read leases
        // for both.
        t.opened(F, Access::ReadOnly);
        assert_eq!(t.set(F, H1, Access::ReadOnly, Kind::Write, 3), Err(EAGAIN));
        t.set(F, H1, Access::ReadOnly, Kind::Read, 3).unwrap();
        t.set(F, H2, Access::ReadOnly, Kind::Read, 4).unwrap();
        // No write lease while another description holds a lease.
        t.closed(F, Access::ReadOnly);
        assert_eq!(t.set(F, H1, Access::ReadOnly, Kind::Write, 3), Err(EAGAIN));
        assert!(t.release(H2));
        t.set(F, H1, Access::ReadOnly, Kind::Write, 3).unwrap();
        assert!(t.release(H1));
        assert!(!t.has_leases(F));
    }

    #[test]
    fn a_writer_breaks_a_lease() {
        let mut t = LeaseTable::new();
        t.opened(F, Access::ReadOnly);
        t.set(F, H1, Access::ReadOnly, Kind::Write, 5).unwrap();
        // The breaker's open counts before it breaks.
        t.opened(F, Access::Write);
        let b = t.break_leases(F, true, 1000);
        assert_eq!(b.notify, [(H1, 5)]);
        assert_eq!(b.wait_until, Some(1000));
        assert_eq!(t.get(F, H1).unwrap().target(), None);
        // Asked again (a restart): no second signal.
        assert!(t.break_leases(F, true, 2000).notify.is_empty());
        // The holder may not downgrade (the breaker writes), nor may
        // another description take a lease now.
        assert_eq!(t.set(F, H1, Access::ReadOnly, Kind::Read, 5), Err(EAGAIN));
        t.unlock(F, H1).unwrap();
        assert_eq!(t.must_wait(F, true), None);
    }

    #[test]
    fn a_reader_waits_for_a_downgrade() {
        let mut t = LeaseTable::new();
        t.opened(F, Access::ReadOnly);
        t.set(F, H1, Access::ReadOnly, Kind::Read, 5).unwrap();
        // A reader does not break a read lease.
        let b = t.break_leases(F, false, 1000);
        assert!(b.notify.is_empty() && b.wait_until.is_none());
        t.set(F, H1, Access::ReadOnly, Kind::Write, 5).unwrap();
        let b = t.break_leases(F, false, 1000);
        assert_eq!(b.notify, [(H1, 5)]);
        assert_eq!(t.get(F, H1).unwrap().target(), Some(Kind::Read));
        t.set(F, H1, Access::ReadOnly, Kind::Read, 5).unwrap();
        assert_eq!(t.must_wait(F, false), None);
        // A writer still has to wait for the read lease.
        assert_eq!(t.must_wait(F, true), Some(u64::MAX));
    }

    #[test]
    fn a_lease_break_times_out() {
        let mut t = LeaseTable::new();
        t.opened(F, Access::ReadOnly);
        t.set(F, H1, Access::ReadOnly, Kind::Write, 5).unwrap();
        t.break_leases(F, false, 1000);
        assert!(t.time_out(F, 999).is_empty());
        assert!(t.time_out(F, 1000).is_empty());
        assert_eq!(t.get(F, H1).unwrap().kind, Kind::Read);
        assert_eq!(t.must_wait(F, false), None);
        let b = t.break_leases(F, true, 3000);
        assert_eq!(b.wait_until, Some(3000));
        assert_eq!(t.time_out(F, 3000), [H1]);
        assert!(!t.has_leases(F));
    }
}
