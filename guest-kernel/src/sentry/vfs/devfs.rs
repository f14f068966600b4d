//! devfs: `/dev` with the character devices programs expect (null, zero,
//! full, random, urandom, tty, console) and the fd links (stdin, stdout,
//! stderr, fd).

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::any::Any;

use super::console::{Console, TtyInfo, STREAM_TTY};
use super::*;
use crate::sentry::fd::{File, IoctlReply, POLLIN, POLLOUT};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Device {
    Null,
    Zero,
    Full,
    Random,
    Urandom,
    Tty,
    Console,
    /// /dev/userfaultfd: USERFAULTFD_IOC_NEW makes userfaultfds
    /// (syscalls/userfaultfd.rs).
    Userfaultfd,
}

const DEVICES: &[(&[u8], Device, u64, u64)] = &[
    (b"null", Device::Null, 1, 3),
    (b"zero", Device::Zero, 1, 5),
    (b"full", Device::Full, 1, 7),
    (b"random", Device::Random, 1, 8),
    (b"urandom", Device::Urandom, 1, 9),
    (b"tty", Device::Tty, 5, 0),
    (b"console", Device::Console, 5, 1),
    (b"userfaultfd", Device::Userfaultfd, 10, 126),
];

const LINKS: &[(&[u8], &[u8])] = &[
    (b"fd", b"/proc/self/fd"),
    (b"stdin", b"/proc/self/fd/0"),
    (b"stdout", b"/proc/self/fd/1"),
    (b"stderr", b"/proc/self/fd/2"),
];

const ROOT_INO: u64 = 1;

fn boot_time() -> i64 {
    ((crate::sentry::time::realtime_ns() - crate::sentry::time::boottime_ns()) / 1_000_000_000)
        as i64
}

/// The /dev directory.
pub struct DevDir {
    tty: TtyInfo,
    /// /dev/shm: a tmpfs of its own (POSIX shared memory and semaphores:
    /// shm_open, sem_open).
    shm: Arc<super::tmpfs::TmpfsNode>,
}

impl DevDir {
    pub fn new(tty: TtyInfo) -> Arc<DevDir> {
        let shm = super::tmpfs::TmpfsNode::new_root(DEV_SHM);
        let _ = shm.set_mode(0o1777);
        Arc::new(DevDir { tty, shm })
    }
}

impl Inode for DevDir {
    fn stat(&self) -> Stat {
        let t = boot_time();
        Stat {
            dev: DEV_DEVFS,
            ino: ROOT_INO,
            nlink: 2,
            mode: S_IFDIR | 0o755,
            size: 0,
            blksize: 4096,
            atime: t,
            mtime: t,
            ctime: t,
            ..Stat::default()
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn lookup(&self, name: &[u8]) -> Result<Arc<dyn Inode>, Errno> {
        if let Some(i) = DEVICES.iter().position(|(n, ..)| *n == name) {
            return Ok(Arc::new(DevNode {
                index: i,
                tty: self.tty,
            }));
        }
        if let Some(i) = LINKS.iter().position(|(n, _)| *n == name) {
            return Ok(Arc::new(DevLink { index: i }));
        }
        if name == b"shm" {
            return Ok(self.shm.clone());
        }
        Err(ENOENT)
    }

    fn create(&self, _name: &[u8], _node: NewNode) -> Result<Arc<dyn Inode>, Errno> {
        Err(EACCES)
    }

    fn unlink(&self, name: &[u8], _directory: bool) -> Result<(), Errno> {
        self.lookup(name)?;
        Err(EACCES)
    }

    fn readdir(&self) -> Result<Vec<DirEntry>, Errno> {
        let mut out: Vec<DirEntry> = DEVICES
            .iter()
            .enumerate()
            .map(|(i, (name, ..))| DirEntry {
                name: name.to_vec(),
                ino: 10 + i as u64,
                kind: FileKind::CharDevice,
            })
            .collect();
        out.extend(LINKS.iter().enumerate().map(|(i, (name, _))| DirEntry {
            name: name.to_vec(),
            ino: 100 + i as u64,
            kind: FileKind::Symlink,
        }));
        out.push(DirEntry {
            name: b"shm".to_vec(),
            ino: self.shm.id().1,
            kind: FileKind::Directory,
        });
        Ok(out)
    }

    fn open(self: Arc<Self>, _flags: u32) -> Result<Arc<dyn File>, Errno> {
        Ok(Arc::new(crate::sentry::fd::DirFile::new(self)))
    }
}

struct DevLink {
    index: usize,
}

impl Inode for DevLink {
    fn stat(&self) -> Stat {
        let t = boot_time();
        Stat {
            dev: DEV_DEVFS,
            ino: 100 + self.index as u64,
            nlink: 1,
            mode: S_IFLNK | 0o777,
            size: LINKS[self.index].1.len() as i64,
            blksize: 4096,
            atime: t,
            mtime: t,
            ctime: t,
            ..Stat::default()
        }
    }

    fn kind(&self) -> FileKind {
        FileKind::Symlink
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn readlink(&self) -> Result<Vec<u8>, Errno> {
        Ok(LINKS[self.index].1.to_vec())
    }

    fn open(self: Arc<Self>, _flags: u32) -> Result<Arc<dyn File>, Errno> {
        Err(ELOOP)
    }
}

struct DevNode {
    index: usize,
    tty: TtyInfo,
}

impl DevNode {
    fn device(&self) -> Device {
        DEVICES[self.index].1
    }
}

impl Inode for DevNode {
    fn stat(&self) -> Stat {
        let (_, device, major, minor) = DEVICES[self.index];
        let t = boot_time();
        let mode = match device {
            Device::Tty => 0o666,
            Device::Console | Device::Userfaultfd => 0o600,
            _ => 0o666,
        };
        Stat {
            dev: DEV_DEVFS,
            ino: 10 + self.index as u64,
            nlink: 1,
            mode: S_IFCHR | mode,
            rdev: makedev(major, minor),
            blksize: 4096,
            atime: t,
            mtime: t,
            ctime: t,
            ..Stat::default()
        }
    }

    fn kind(&self) -> FileKind {
        FileKind::CharDevice
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn set_mode(&self, _mode: u32) -> Result<(), Errno> {
        Err(EPERM)
    }

    fn open(self: Arc<Self>, _flags: u32) -> Result<Arc<dyn File>, Errno> {
        match self.device() {
            Device::Tty | Device::Console => {
                if !self.tty.is_tty {
                    // No controlling terminal, as on Linux without one.
                    return Err(ENXIO);
                }
                Ok(Arc::new(Console::new(STREAM_TTY, self.tty)))
            }
            _ => Ok(Arc::new(DevFile { node: self })),
        }
    }
}

/// Opens a device node made with mknod by its number: the memory-like
/// devices of /dev (null, zero, full, random, urandom); anything else has
/// no driver in the sandbox (ENXIO).
pub fn open_device(rdev: u64, flags: u32) -> Result<Arc<dyn File>, Errno> {
    let index = DEVICES
        .iter()
        .position(|&(_, device, major, minor)| {
            makedev(major, minor) == rdev && !matches!(device, Device::Tty | Device::Console)
        })
        .ok_or(ENXIO)?;
    let node = Arc::new(DevNode {
        index,
        tty: TtyInfo {
            is_tty: false,
            termios: [0; boards::bootinfo::TERMIOS_SIZE],
            winsize: [0; 4],
        },
    });
    node.open(flags)
}

/// Whether `file` is an open /dev/userfaultfd.
pub fn is_userfaultfd_device(file: &Arc<dyn File>) -> bool {
    file.inode().is_some_and(|inode| {
        inode
            .as_any()
            .downcast_ref::<DevNode>()
            .is_some_and(|node| node.device() == Device::Userfaultfd)
    })
}

/// The entropy count /dev/random reports (RNDGETENTCNT,
/// /proc/sys/kernel/random/entropy_avail): Linux's full pool.
pub const ENTROPY_BITS: i32 = 256;

/// An open memory-like device.
struct DevFile {
    node: Arc<DevNode>,
}

impl File for DevFile {
    fn read(&self, buf: &mut [u8], _offset: u64) -> Result<usize, Errno> {
        match self.node.device() {
            Device::Null => Ok(0),
            Device::Zero | Device::Full => {
                buf.fill(0);
                Ok(buf.len())
            }
            Device::Random | Device::Urandom => {
                crate::sentry::random::fill(buf);
                Ok(buf.len())
            }
            Device::Tty | Device::Console | Device::Userfaultfd => Err(EINVAL),
        }
    }

    fn write(&self, buf: &[u8], _offset: u64) -> Result<usize, Errno> {
        match self.node.device() {
            Device::Full => Err(ENOSPC),
            Device::Userfaultfd => Err(EINVAL),
            // Writing entropy is accepted (and, as on Linux for an
            // unprivileged write, not credited).
            _ => Ok(buf.len()),
        }
    }

    /// Offsets mean nothing to these devices; lseek succeeds (to 0).
    fn seekable(&self) -> bool {
        true
    }

    /// RNDGETENTCNT: the input pool's entropy count, which is full
    /// (Linux's 256 bits once the generator is seeded, as the sentry's is
    /// from boot on).
    fn ioctl(&self, request: u64) -> Result<IoctlReply, Errno> {
        const RNDGETENTCNT: u64 = 0x8004_5200;
        match (self.node.device(), request) {
            (Device::Random | Device::Urandom, RNDGETENTCNT) => {
                Ok(IoctlReply::Bytes(ENTROPY_BITS.to_le_bytes().to_vec()))
            }
            _ => Err(ENOTTY),
        }
    }

    fn stat(&self) -> Stat {
        self.node.stat()
    }

    fn splices(&self) -> bool {
        true
    }

    fn poll(&self, events: i16) -> i16 {
        events & (POLLIN | POLLOUT)
    }

    /// Linux's null/zero/full have no poll method (epoll: EPERM); the
    /// random devices and terminals do.
    fn pollable(&self) -> bool {
        !matches!(
            self.node.device(),
            Device::Null | Device::Zero | Device::Full | Device::Userfaultfd
        )
    }

    fn inode(&self) -> Option<Arc<dyn Inode>> {
        Some(self.node.clone())
    }
}
