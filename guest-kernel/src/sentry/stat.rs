//! `struct stat`: [`Stat`] is the sentry's own (the x86_64 layout, which
//! holds every field at full width); [`Stat::to_user`] gives the layout the
//! architecture's `stat`/`fstat`/`newfstatat` return (on aarch64, the
//! asm-generic `struct stat`).

// An ABI table: complete on purpose, used or not.
#![allow(dead_code)]

pub const S_IFMT: u32 = 0o170000;
pub const S_IFIFO: u32 = 0o010000;
pub const S_IFCHR: u32 = 0o020000;
pub const S_IFDIR: u32 = 0o040000;
pub const S_IFREG: u32 = 0o100000;
pub const S_IFLNK: u32 = 0o120000;
pub const S_IFSOCK: u32 = 0o140000;
pub const S_IFBLK: u32 = 0o060000;

#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::Immutable,
)]
pub struct Stat {
    pub dev: u64,
    pub ino: u64,
    pub nlink: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub _pad0: u32,
    pub rdev: u64,
    pub size: i64,
    pub blksize: i64,
    pub blocks: i64,
    pub atime: i64,
    pub atime_nsec: i64,
    pub mtime: i64,
    pub mtime_nsec: i64,
    pub ctime: i64,
    pub ctime_nsec: i64,
    pub _unused: [i64; 3],
}

const _: () = assert!(core::mem::size_of::<Stat>() == 144);

impl Stat {
    /// The `struct stat` the application's architecture expects.
    #[cfg(target_arch = "x86_64")]
    pub fn to_user(self) -> Stat {
        self
    }

    /// The `struct stat` the application's architecture expects.
    #[cfg(target_arch = "aarch64")]
    pub fn to_user(self) -> GenericStat {
        GenericStat {
            dev: self.dev,
            ino: self.ino,
            mode: self.mode,
            nlink: self.nlink as u32,
            uid: self.uid,
            gid: self.gid,
            rdev: self.rdev,
            _pad1: 0,
            size: self.size,
            blksize: self.blksize as i32,
            _pad2: 0,
            blocks: self.blocks,
            atime: self.atime,
            atime_nsec: self.atime_nsec,
            mtime: self.mtime,
            mtime_nsec: self.mtime_nsec,
            ctime: self.ctime,
            ctime_nsec: self.ctime_nsec,
            _unused: [0; 2],
        }
    }
}

/// The asm-generic `struct stat` (aarch64 and the other generic-ABI
/// architectures), 128 bytes.
#[cfg(target_arch = "aarch64")]
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::Immutable,
)]
pub struct GenericStat {
    pub dev: u64,
    pub ino: u64,
    pub mode: u32,
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
    pub rdev: u64,
    pub _pad1: u64,
    pub size: i64,
    pub blksize: i32,
    pub _pad2: i32,
    pub blocks: i64,
    pub atime: i64,
    pub atime_nsec: i64,
    pub mtime: i64,
    pub mtime_nsec: i64,
    pub ctime: i64,
    pub ctime_nsec: i64,
    pub _unused: [u32; 2],
}

#[cfg(target_arch = "aarch64")]
const _: () = assert!(core::mem::size_of::<GenericStat>() == 128);

/// Makes a device number the way glibc's makedev does.
pub const fn makedev(major: u64, minor: u64) -> u64 {
    ((major & 0xfffff000) << 32)
        | ((major & 0xfff) << 8)
        | ((minor & 0xffffff00) << 12)
        | (minor & 0xff)
}

/// The major number of a device number (Linux's MAJOR of a dev_t).
pub fn dev_major(dev: u64) -> u32 {
    (((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff)) as u32
}

/// The minor number of a device number.
pub fn dev_minor(dev: u64) -> u32 {
    ((dev & 0xff) | ((dev >> 12) & !0xff)) as u32
}
