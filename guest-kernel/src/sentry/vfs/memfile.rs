//! A read-only file whose bytes already sit in guest memory (the
//! application's ELF image, placed there by the loader).

use crate::sentry::errno::*;
use crate::sentry::fd::{File, POLLIN, POLLOUT};
use crate::sentry::stat::{Stat, S_IFREG};

pub struct MemFile {
    data: &'static [u8],
    ino: u64,
    mode: u32,
}

impl MemFile {
    pub fn new(data: &'static [u8], ino: u64, mode: u32) -> MemFile {
        MemFile { data, ino, mode }
    }
}

impl File for MemFile {
    fn read(&self, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
        let start = (offset.min(self.data.len() as u64)) as usize;
        let n = buf.len().min(self.data.len() - start);
        buf[..n].copy_from_slice(&self.data[start..start + n]);
        Ok(n)
    }

    fn write(&self, _buf: &[u8], _offset: u64) -> Result<usize, Errno> {
        Err(EBADF)
    }

    fn seekable(&self) -> bool {
        true
    }

    fn stat(&self) -> Stat {
        Stat {
            dev: 1,
            ino: self.ino,
            nlink: 1,
            mode: S_IFREG | self.mode,
            size: self.data.len() as i64,
            blksize: 4096,
            blocks: (self.data.len() as i64 + 511) / 512,
            ..Stat::default()
        }
    }

    fn poll(&self, events: i16) -> i16 {
        events & (POLLIN | POLLOUT)
    }
}
