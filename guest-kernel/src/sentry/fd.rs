//! File descriptors: the per-process table, open file descriptions, and the
//! [`File`] trait every kind of file implements.
//!
//! Shaped for what comes next: fork shares [`OpenFile`]s (offset and status
//! flags) between tables, dup does within a table, and exec drops the
//! close-on-exec entries.

use alloc::sync::Arc;
use alloc::vec::Vec;

use spin::Mutex;

use crate::sentry::errno::*;
use crate::sentry::stat::Stat;

pub const O_ACCMODE: u32 = 0o3;
pub const O_RDONLY: u32 = 0;
pub const O_WRONLY: u32 = 1;
pub const O_APPEND: u32 = 0o2000;
pub const O_NONBLOCK: u32 = 0o4000;
pub const O_CLOEXEC: u32 = 0o2000000;

pub const POLLIN: i16 = 0x1;
pub const POLLOUT: i16 = 0x4;
pub const POLLERR: i16 = 0x8;
pub const POLLHUP: i16 = 0x10;
pub const POLLNVAL: i16 = 0x20;

/// The most file descriptors a process may have (RLIMIT_NOFILE default).
pub const MAX_FDS: usize = 1024;

pub trait File: Send + Sync {
    /// Reads at `offset` (for seekable files) into `buf`.
    fn read(&self, _buf: &mut [u8], _offset: u64) -> Result<usize, Errno> {
        Err(EINVAL)
    }
    fn write(&self, _buf: &[u8], _offset: u64) -> Result<usize, Errno> {
        Err(EINVAL)
    }
    /// Seekable files have a size and positional I/O; others are streams
    /// (lseek gives ESPIPE).
    fn seekable(&self) -> bool {
        false
    }
    fn stat(&self) -> Stat;
    /// Readiness for poll, without blocking.
    fn poll(&self, events: i16) -> i16;
    /// True when readiness may change by waiting on the host's stdin.
    fn waits_on_console_input(&self) -> bool {
        false
    }
    fn ioctl(&self, _request: u64) -> Result<IoctlReply, Errno> {
        Err(ENOTTY)
    }
}

/// What an ioctl wants copied back to the user.
pub enum IoctlReply {
    Bytes(Vec<u8>),
}

/// An open file description (shared by dup'd descriptors).
pub struct OpenFile {
    pub file: Arc<dyn File>,
    /// O_ACCMODE, O_APPEND, O_NONBLOCK.
    pub flags: Mutex<u32>,
    pub offset: Mutex<u64>,
}

impl OpenFile {
    pub fn new(file: Arc<dyn File>, flags: u32) -> Arc<OpenFile> {
        Arc::new(OpenFile {
            file,
            flags: Mutex::new(flags & (O_ACCMODE | O_APPEND | O_NONBLOCK)),
            offset: Mutex::new(0),
        })
    }

    pub fn readable(&self) -> bool {
        *self.flags.lock() & O_ACCMODE != O_WRONLY
    }

    pub fn writable(&self) -> bool {
        *self.flags.lock() & O_ACCMODE != O_RDONLY
    }
}

#[derive(Clone)]
pub struct FdEntry {
    pub file: Arc<OpenFile>,
    pub cloexec: bool,
}

#[derive(Clone, Default)]
pub struct FdTable {
    entries: Vec<Option<FdEntry>>,
}

impl FdTable {
    pub fn get(&self, fd: i32) -> Result<&Arc<OpenFile>, Errno> {
        if fd < 0 {
            return Err(EBADF);
        }
        self.entries
            .get(fd as usize)
            .and_then(|e| e.as_ref())
            .map(|e| &e.file)
            .ok_or(EBADF)
    }

    /// Installs at the lowest free descriptor >= `min`.
    pub fn insert(&mut self, file: Arc<OpenFile>, cloexec: bool, min: usize) -> Result<i32, Errno> {
        let mut fd = min;
        while fd < self.entries.len() && self.entries[fd].is_some() {
            fd += 1;
        }
        if fd >= MAX_FDS {
            return Err(EMFILE);
        }
        self.install(fd, file, cloexec);
        Ok(fd as i32)
    }

    /// Installs at exactly `fd`, replacing (closing) what was there.
    pub fn install(&mut self, fd: usize, file: Arc<OpenFile>, cloexec: bool) {
        if self.entries.len() <= fd {
            self.entries.resize(fd + 1, None);
        }
        self.entries[fd] = Some(FdEntry { file, cloexec });
    }

    pub fn cloexec(&self, fd: i32) -> Result<bool, Errno> {
        if fd < 0 {
            return Err(EBADF);
        }
        self.entries
            .get(fd as usize)
            .and_then(|e| e.as_ref())
            .map(|e| e.cloexec)
            .ok_or(EBADF)
    }

    pub fn remove(&mut self, fd: i32) -> Result<Arc<OpenFile>, Errno> {
        if fd < 0 {
            return Err(EBADF);
        }
        self.entries
            .get_mut(fd as usize)
            .and_then(|e| e.take())
            .map(|e| e.file)
            .ok_or(EBADF)
    }
}
