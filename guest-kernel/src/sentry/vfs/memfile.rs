//! The application's own executable: its bytes already sit in guest memory
//! (placed there by the loader), shown read-only at its absolute host path.

use alloc::sync::Arc;
use core::any::Any;

use super::{FileKind, Inode, DEV_EXE};
use crate::sentry::errno::*;
use crate::sentry::fd::{File, InodeFile};
use crate::sentry::stat::{Stat, S_IFREG};

pub struct MemFile {
    data: &'static [u8],
    ino: u64,
    mode: u32,
    mtime: i64,
}

impl MemFile {
    pub fn new(data: &'static [u8], ino: u64, mode: u32) -> MemFile {
        MemFile {
            data,
            ino,
            mode,
            mtime: (crate::sentry::time::realtime_ns() / 1_000_000_000) as i64,
        }
    }
}

impl Inode for MemFile {
    fn stat(&self) -> Stat {
        Stat {
            dev: DEV_EXE,
            ino: self.ino,
            nlink: 1,
            mode: S_IFREG | self.mode,
            size: self.data.len() as i64,
            blksize: 4096,
            blocks: (self.data.len() as i64 + 511) / 512,
            atime: self.mtime,
            mtime: self.mtime,
            ctime: self.mtime,
            ..Stat::default()
        }
    }

    fn kind(&self) -> FileKind {
        FileKind::Regular
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        let start = offset.min(self.data.len() as u64) as usize;
        let n = buf.len().min(self.data.len() - start);
        buf[..n].copy_from_slice(&self.data[start..start + n]);
        Ok(n)
    }

    fn read_only(&self) -> bool {
        true
    }

    fn set_mode(&self, _mode: u32) -> Result<(), Errno> {
        Err(EROFS)
    }

    fn open(self: Arc<Self>, flags: u32) -> Result<Arc<dyn File>, Errno> {
        Ok(Arc::new(InodeFile::new(self, flags)))
    }
}
