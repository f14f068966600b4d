//! The file-descriptor table: which open file each descriptor names, and
//! its close-on-exec flag. Generic over what a descriptor holds (the
//! sentry's `Arc<OpenFile>`), with no kernel dependencies, so that
//! `sentry-host-tests` runs it on the host. The rules are those of
//! open(2), dup(2), fcntl(2) and close_range(2): the lowest free
//! descriptor is used, and new descriptors stay below RLIMIT_NOFILE.

use alloc::vec::Vec;

use crate::sentry::errno::*;

/// The most file descriptors a table holds, whatever RLIMIT_NOFILE says
/// (the table lives on the sentry's heap: 16 bytes a slot, 1 MiB at most).
pub const MAX_FDS: usize = 65536;

/// RLIMIT_NOFILE when the host does not say (bare metal).
pub const DEFAULT_NOFILE: u64 = 1024;

/// What a descriptor names: cloned by dup and fork.
pub trait Descriptor: Clone {
    /// Ok when there is memory for one more descriptor, else `errno`
    /// (the table is on the sentry's heap, which a program must not
    /// exhaust).
    fn reserve(errno: Errno) -> Result<(), Errno>;
}

#[derive(Clone)]
pub struct FdEntry<F> {
    pub file: F,
    pub cloexec: bool,
}

#[derive(Clone)]
pub struct FdTable<F> {
    entries: Vec<Option<FdEntry<F>>>,
    /// RLIMIT_NOFILE: new descriptors must stay below it (those already
    /// above it when it is lowered stay open, as on Linux).
    pub limit: usize,
}

impl<F> Default for FdTable<F> {
    fn default() -> Self {
        FdTable {
            entries: Vec::new(),
            limit: DEFAULT_NOFILE as usize,
        }
    }
}

impl<F: Descriptor> FdTable<F> {
    /// One past the highest descriptor a new one may take.
    fn bound(&self) -> usize {
        self.limit.min(MAX_FDS)
    }

    fn entry(&self, fd: i32) -> Result<&FdEntry<F>, Errno> {
        if fd < 0 {
            return Err(EBADF);
        }
        self.entries
            .get(fd as usize)
            .and_then(|e| e.as_ref())
            .ok_or(EBADF)
    }

    pub fn get(&self, fd: i32) -> Result<&F, Errno> {
        self.entry(fd).map(|e| &e.file)
    }

    /// Installs at the lowest free descriptor >= `min`: EMFILE when none
    /// is below the limit, ENFILE when the sentry's memory is short (the
    /// system-wide file table is full).
    pub fn insert(&mut self, file: F, cloexec: bool, min: usize) -> Result<i32, Errno> {
        let mut fd = min;
        while fd < self.entries.len() && self.entries[fd].is_some() {
            fd += 1;
        }
        if fd >= self.bound() {
            return Err(EMFILE);
        }
        F::reserve(ENFILE)?;
        self.install(fd, file, cloexec)?;
        Ok(fd as i32)
    }

    /// Installs at exactly `fd`, replacing what was there (returned, so
    /// that the caller drops it outside the table's lock); ENOMEM when the
    /// table cannot grow to hold it.
    pub fn install(&mut self, fd: usize, file: F, cloexec: bool) -> Result<Option<F>, Errno> {
        if self.entries.len() <= fd {
            F::reserve(ENOMEM)?;
            self.entries
                .try_reserve(fd + 1 - self.entries.len())
                .map_err(|_| ENOMEM)?;
            self.entries.resize(fd + 1, None);
        }
        let old = self.entries[fd].replace(FdEntry { file, cloexec });
        Ok(old.map(|e| e.file))
    }

    pub fn remove(&mut self, fd: i32) -> Result<F, Errno> {
        if fd < 0 {
            return Err(EBADF);
        }
        self.entries
            .get_mut(fd as usize)
            .and_then(|e| e.take())
            .map(|e| e.file)
            .ok_or(EBADF)
    }

    pub fn cloexec(&self, fd: i32) -> Result<bool, Errno> {
        self.entry(fd).map(|e| e.cloexec)
    }

    /// F_SETFD, FIOCLEX/FIONCLEX.
    pub fn set_cloexec(&mut self, fd: i32, cloexec: bool) -> Result<(), Errno> {
        if fd < 0 {
            return Err(EBADF);
        }
        let entry = self
            .entries
            .get_mut(fd as usize)
            .and_then(|e| e.as_mut())
            .ok_or(EBADF)?;
        entry.cloexec = cloexec;
        Ok(())
    }

    /// dup(2): the lowest free descriptor, close-on-exec off.
    pub fn dup(&mut self, old: i32) -> Result<i32, Errno> {
        let file = self.get(old)?.clone();
        self.insert(file, false, 0)
    }

    /// fcntl(F_DUPFD / F_DUPFD_CLOEXEC): the lowest free descriptor >=
    /// `min`; EINVAL when `min` is negative or not below the limit.
    pub fn dup_from(&mut self, old: i32, min: i64, cloexec: bool) -> Result<i32, Errno> {
        let file = self.get(old)?.clone();
        if min < 0 || min as usize >= self.bound() {
            return Err(EINVAL);
        }
        self.insert(file, cloexec, min as usize)
    }

    /// dup2(2) and dup3(2) (`dup3` says which): `new` becomes a copy of
    /// `old`, closing what it was. dup2 with `old == new` only checks `old`;
    /// dup3 refuses it (EINVAL). A `new` out of range is EBADF. Returns
    /// `new` and the file it named before (for the caller to drop outside
    /// the table's lock).
    pub fn dup_to(
        &mut self,
        old: i32,
        new: i32,
        cloexec: bool,
        dup3: bool,
    ) -> Result<(i32, Option<F>), Errno> {
        if old == new {
            if dup3 {
                return Err(EINVAL);
            }
            self.get(old)?;
            return Ok((new, None));
        }
        let file = self.get(old)?.clone();
        if new < 0 || new as usize >= self.bound() {
            return Err(EBADF);
        }
        let replaced = self.install(new as usize, file, cloexec)?;
        Ok((new, replaced))
    }

    /// close_range(2) on `first..=last`: closes them (returned, for the
    /// caller to release outside the table's lock), or with `cloexec` only
    /// marks them close-on-exec.
    pub fn close_range(&mut self, first: u32, last: u32, cloexec: bool) -> Vec<(i32, F)> {
        let end = (last as usize).saturating_add(1).min(self.entries.len());
        let mut closed = Vec::new();
        for fd in (first as usize).min(end)..end {
            let Some(entry) = self.entries[fd].as_mut() else {
                continue;
            };
            if cloexec {
                entry.cloexec = true;
            } else if let Some(entry) = self.entries[fd].take() {
                closed.push((fd as i32, entry.file));
            }
        }
        closed
    }

    /// execve: closes the descriptors marked close-on-exec.
    pub fn close_on_exec(&mut self) {
        for entry in self.entries.iter_mut() {
            if entry.as_ref().is_some_and(|e| e.cloexec) {
                *entry = None;
            }
        }
    }

    /// The highest open descriptor, if any.
    pub fn highest(&self) -> Option<usize> {
        self.entries.iter().rposition(|e| e.is_some())
    }

    /// Open descriptors and their files (for /proc/self/fd).
    pub fn list(&self) -> Vec<(i32, F)> {
        self.entries
            .iter()
            .enumerate()
            .filter_map(|(fd, e)| e.as_ref().map(|e| (fd as i32, e.file.clone())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    std::thread_local! {
        /// Set to make the next reservations fail (the sentry's memory is short).
        static SHORT: Cell<bool> = const { Cell::new(false) };
    }

    /// A stand-in for an open file description: a number to tell files apart.
    #[derive(Clone, Debug, PartialEq, Eq)]
    struct File(u32);

    impl Descriptor for File {
        fn reserve(errno: Errno) -> Result<(), Errno> {
            if SHORT.with(Cell::get) {
                Err(errno)
            } else {
                Ok(())
            }
        }
    }

    /// A table with files 100, 101, 102 at 0, 1, 2 (stdin, stdout, stderr).
    fn table() -> FdTable<File> {
        let mut t = FdTable::default();
        for n in 0..3 {
            assert_eq!(t.insert(File(100 + n), false, 0), Ok(n as i32));
        }
        t
    }

    #[test]
    fn new_descriptors_take_the_lowest_free_number() {
        // open(2): "the lowest-numbered file descriptor not currently open".
        let mut t = table();
        assert_eq!(t.remove(1), Ok(File(101)));
        assert_eq!(t.get(1), Err(EBADF));
        assert_eq!(t.insert(File(7), false, 0), Ok(1));
        assert_eq!(t.insert(File(8), false, 0), Ok(3));
        assert_eq!(t.get(1), Ok(&File(7)));
        assert_eq!(
            t.list(),
            [(0, File(100)), (1, File(7)), (2, File(102)), (3, File(8))]
        );
    }

    #[test]
    fn bad_descriptors_are_ebadf() {
        let mut t = table();
        for fd in [-1, i32::MIN, 3, 1000] {
            assert_eq!(t.get(fd), Err(EBADF), "fd {fd}");
            assert_eq!(t.cloexec(fd), Err(EBADF), "fd {fd}");
            assert_eq!(t.set_cloexec(fd, true), Err(EBADF), "fd {fd}");
            assert_eq!(t.remove(fd), Err(EBADF), "fd {fd}");
            assert_eq!(t.dup(fd), Err(EBADF), "fd {fd}");
            assert_eq!(t.dup_to(fd, 5, false, false).map(|r| r.0), Err(EBADF));
        }
        assert_eq!(t.remove(2), Ok(File(102)));
        assert_eq!(t.remove(2), Err(EBADF), "closed twice");
    }

    #[test]
    fn rlimit_nofile_bounds_new_descriptors() {
        // getrlimit(2), RLIMIT_NOFILE: "a value one greater than the maximum
        // file descriptor number that can be opened"; EMFILE past it.
        let mut t = table();
        t.limit = 4;
        assert_eq!(t.insert(File(3), false, 0), Ok(3));
        assert_eq!(t.insert(File(4), false, 0), Err(EMFILE));
        assert_eq!(t.dup(0), Err(EMFILE));
        // dup2(2): EBADF when newfd is out of the allowed range.
        assert_eq!(t.dup_to(0, 4, false, false).map(|r| r.0), Err(EBADF));
        assert_eq!(t.dup_to(0, -1, false, false).map(|r| r.0), Err(EBADF));
        // Lowering the limit leaves higher descriptors open.
        t.limit = 2;
        assert_eq!(t.get(3), Ok(&File(3)));
        assert_eq!(t.insert(File(5), false, 0), Err(EMFILE));
        // A limit above the sentry's own cap is capped.
        t.limit = usize::MAX;
        assert_eq!(
            t.dup_to(0, MAX_FDS as i32, false, false).map(|r| r.0),
            Err(EBADF)
        );
        assert_eq!(
            t.dup_to(0, MAX_FDS as i32 - 1, false, false).map(|r| r.0),
            Ok(MAX_FDS as i32 - 1)
        );
    }

    #[test]
    fn dup_shares_the_file_and_clears_close_on_exec() {
        // dup(2): "The two file descriptors do not share file descriptor
        // flags (the close-on-exec flag). The close-on-exec flag for the
        // duplicate descriptor is off."
        let mut t = table();
        t.set_cloexec(1, true).unwrap();
        assert_eq!(t.dup(1), Ok(3));
        assert_eq!(t.get(3), Ok(&File(101)));
        assert_eq!(t.cloexec(3), Ok(false));
        assert_eq!(t.cloexec(1), Ok(true));
    }

    #[test]
    fn dup2_replaces_the_target_and_dup3_refuses_the_same_fd() {
        let mut t = table();
        t.set_cloexec(2, true).unwrap();
        // dup2(2): newfd is closed first (the old file is handed back) and
        // reused; its close-on-exec flag is off.
        assert_eq!(t.dup_to(0, 2, false, false), Ok((2, Some(File(102)))));
        assert_eq!(t.get(2), Ok(&File(100)));
        assert_eq!(t.cloexec(2), Ok(false));
        // A target past the end grows the table; the gap stays free.
        assert_eq!(t.dup_to(1, 10, false, false), Ok((10, None)));
        assert_eq!(t.insert(File(5), false, 0), Ok(3));
        // "If oldfd is a valid file descriptor, and newfd has the same value
        // as oldfd, then dup2() does nothing, and returns newfd."
        t.set_cloexec(1, true).unwrap();
        assert_eq!(t.dup_to(1, 1, false, false), Ok((1, None)));
        assert_eq!(t.cloexec(1), Ok(true));
        // dup3(2): "If oldfd equals newfd, then dup3() fails with EINVAL";
        // O_CLOEXEC sets the flag on the new descriptor.
        assert_eq!(t.dup_to(1, 1, false, true), Err(EINVAL));
        assert_eq!(t.dup_to(1, 4, true, true), Ok((4, None)));
        assert_eq!(t.cloexec(4), Ok(true));
    }

    #[test]
    fn f_dupfd_takes_the_lowest_free_at_or_above_its_argument() {
        // fcntl(2) F_DUPFD: "the lowest-numbered available file descriptor
        // greater than or equal to arg"; EINVAL when arg is negative or not
        // below RLIMIT_NOFILE; F_DUPFD_CLOEXEC sets close-on-exec.
        let mut t = table();
        assert_eq!(t.dup_from(0, 1, false), Ok(3));
        assert_eq!(t.dup_from(0, 10, true), Ok(10));
        assert_eq!(t.cloexec(10), Ok(true));
        assert_eq!(t.dup_from(0, 10, false), Ok(11));
        assert_eq!(t.dup_from(0, 0, false), Ok(4));
        assert_eq!(t.dup_from(0, -1, false), Err(EINVAL));
        t.limit = 12;
        assert_eq!(t.dup_from(0, 12, false), Err(EINVAL));
        assert_eq!(t.dup_from(0, 11, false), Err(EMFILE));
        assert_eq!(t.dup_from(99, 0, false), Err(EBADF));
    }

    #[test]
    fn exec_closes_only_close_on_exec_descriptors() {
        let mut t = table();
        t.insert(File(3), true, 0).unwrap();
        t.set_cloexec(0, true).unwrap();
        t.set_cloexec(0, false).unwrap();
        t.set_cloexec(1, true).unwrap();
        t.close_on_exec();
        assert_eq!(t.list(), [(0, File(100)), (2, File(102))]);
    }

    #[test]
    fn close_range_closes_or_marks_an_inclusive_range() {
        // close_range(2): closes first..=last ("last" may be ~0U);
        // CLOSE_RANGE_CLOEXEC only sets close-on-exec.
        let mut t = table();
        for n in 3..8 {
            t.insert(File(n), false, 0).unwrap();
        }
        let closed = t.close_range(2, 4, false);
        assert_eq!(closed, [(2, File(102)), (3, File(3)), (4, File(4))]);
        assert_eq!(t.close_range(5, u32::MAX, true), []);
        assert_eq!(t.cloexec(5), Ok(true));
        assert_eq!(t.cloexec(7), Ok(true));
        assert_eq!(t.cloexec(1), Ok(false));
        assert_eq!(t.close_range(6, u32::MAX, false).len(), 2);
        assert_eq!(t.close_range(100, 200, false), []);
        assert_eq!(t.list(), [(0, File(100)), (1, File(101)), (5, File(5))]);
    }

    #[test]
    fn fork_copies_descriptors_and_flags() {
        // fork(2): the child has copies of the parent's descriptors; each
        // refers to the same open file description. Changes to one table
        // do not show in the other.
        let mut parent = table();
        parent.set_cloexec(2, true).unwrap();
        let mut child = parent.clone();
        assert_eq!(child.get(1), Ok(&File(101)));
        assert_eq!(child.cloexec(2), Ok(true));
        child.remove(0).unwrap();
        assert_eq!(parent.get(0), Ok(&File(100)));
    }

    #[test]
    fn short_memory_fails_without_changing_the_table() {
        // A new descriptor needs memory: the system-wide limit (ENFILE)
        // when the sentry is short; growing the table for dup2 is ENOMEM.
        let mut t = table();
        SHORT.with(|s| s.set(true));
        assert_eq!(t.insert(File(9), false, 0), Err(ENFILE));
        assert_eq!(t.dup_to(0, 50, false, false).map(|r| r.0), Err(ENOMEM));
        // Replacing an existing slot needs nothing new.
        assert_eq!(t.dup_to(0, 1, false, false), Ok((1, Some(File(101)))));
        SHORT.with(|s| s.set(false));
        assert_eq!(t.list().len(), 3);
        assert_eq!(t.insert(File(9), false, 0), Ok(3));
    }
}
