//! /proc/sys: the kernel parameters programs read, each generated from the
//! value the sentry really uses (the reported release, the fd and group
//! limits, the SysV IPC limits...). They are read-only: opening one for
//! writing is EACCES, as Linux answers for a 0444 sysctl, because the
//! sandbox has no way to change these settings. The exceptions live in the
//! sentry, and root may set them (mode 0644 as on Linux): kernel/keys (the
//! key quotas and garbage-collection delay; the keys' sandbox-wide heap
//! budget holds whatever they say), fs/nr_open, fs/lease-break-time,
//! kernel/core_pattern and kernel/core_uses_pid (how core files are
//! named: `coredump`), and the host and domain names of the writer's UTS
//! namespace.

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::any::Any;

use super::*;
use crate::sentry::fd::{File, POLLIN, POLLOUT};

/// Every file under /proc/sys: its path below /proc/sys and its contents.
fn value(path: &[u8]) -> Option<String> {
    use crate::sentry::ipc;
    Some(match path {
        b"kernel/ostype" => "Linux".into(),
        b"kernel/osrelease" => crate::sentry::KERNEL_RELEASE.into(),
        b"kernel/version" => "#1 SMP rvisor".into(),
        b"kernel/hostname" | b"kernel/domainname" => {
            let uts = crate::sentry::sched::current().namespaces().uts;
            let names = uts.names.lock();
            let name = if path == b"kernel/hostname" {
                &names.hostname
            } else {
                &names.domainname
            };
            String::from_utf8_lossy(name).into_owned()
        }
        b"kernel/pid_max" => format!("{}", crate::sentry::sched::PID_MAX),
        b"kernel/threads-max" => format!("{}", crate::sentry::sched::MAX_TASKS),
        b"kernel/ngroups_max" => "65536".into(),
        b"kernel/cap_last_cap" => format!("{}", crate::sentry::syscalls::process::CAP_LAST_CAP),
        b"kernel/overflowuid" => "65534".into(),
        b"kernel/overflowgid" => "65534".into(),
        b"kernel/tainted" => "0".into(),
        b"kernel/core_pattern" => {
            String::from_utf8_lossy(&crate::sentry::coredump::core_pattern()).into_owned()
        }
        b"kernel/core_uses_pid" => {
            format!("{}", u8::from(crate::sentry::coredump::core_uses_pid()))
        }
        b"kernel/random/entropy_avail" | b"kernel/random/poolsize" => {
            format!("{}", super::devfs::ENTROPY_BITS)
        }
        b"kernel/random/write_wakeup_threshold" => format!("{}", super::devfs::ENTROPY_BITS),
        b"kernel/random/urandom_min_reseed_secs" => "60".into(),
        // A random UUID chosen once per boot; a new one at each read.
        b"kernel/random/boot_id" => {
            static BOOT_ID: spin::Once<String> = spin::Once::new();
            BOOT_ID.call_once(random_uuid).clone()
        }
        b"kernel/random/uuid" => random_uuid(),
        b"kernel/msgmax" => format!("{}", ipc::MSGMAX),
        b"kernel/msgmnb" => format!("{}", ipc::MSGMNB),
        b"kernel/msgmni" => format!("{}", ipc::MSGMNI),
        b"kernel/sem" => format!(
            "{}\t{}\t{}\t{}",
            ipc::SEMMSL,
            ipc::SEMMNS,
            ipc::SEMOPM,
            ipc::SEMMNI
        ),
        b"kernel/shmmax" => format!("{}", ipc::SHMMAX),
        b"kernel/shmall" => format!("{}", ipc::SHMALL),
        b"kernel/shmmni" => format!("{}", ipc::SHMMNI),
        b"fs/nr_open" => format!("{}", crate::sentry::fd::nr_open()),
        b"fs/pipe-max-size" => format!("{}", super::pipe::PIPE_MAX_SIZE),
        b"fs/aio-max-nr" => format!("{}", crate::sentry::syscalls::aio::AIO_MAX_NR),
        b"fs/aio-nr" => format!("{}", crate::sentry::syscalls::aio::events_reserved()),
        // link(2) follows protected_hardlinks=1 (perm.rs); the other
        // protections are off, as on a default Linux without systemd's.
        b"fs/protected_hardlinks" => "1".into(),
        b"fs/protected_symlinks" => "0".into(),
        b"fs/lease-break-time" => format!(
            "{}",
            crate::sentry::syscalls::locks::LEASE_BREAK_TIME
                .load(core::sync::atomic::Ordering::Relaxed)
        ),
        b"fs/mqueue/msg_max" => format!("{}", mqueue::MSG_MAX),
        b"fs/mqueue/msgsize_max" => format!("{}", mqueue::MSGSIZE_MAX),
        b"fs/mqueue/queues_max" => format!("{}", mqueue::QUEUES_MAX),
        b"fs/inotify/max_queued_events" => format!("{}", inotify::MAX_QUEUED_EVENTS),
        b"fs/inotify/max_user_instances" => format!("{}", inotify::MAX_USER_INSTANCES),
        b"fs/inotify/max_user_watches" => format!("{}", inotify::MAX_USER_WATCHES),
        _ => {
            let name = path.strip_prefix(KEYS_DIR)?;
            format!("{}", crate::sentry::syscalls::keys::sysctl(name)?)
        }
    })
}

/// A version 4 UUID from the sentry's generator, as Linux's
/// generate_random_uuid formats it.
fn random_uuid() -> String {
    let mut b = [0u8; 16];
    crate::sentry::random::fill(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex =
        |r: core::ops::Range<usize>| b[r].iter().map(|x| format!("{x:02x}")).collect::<String>();
    format!(
        "{}-{}-{}-{}-{}",
        hex(0..4),
        hex(4..6),
        hex(6..8),
        hex(8..10),
        hex(10..16)
    )
}

/// The paths of `value`, for directory listings.
const PATHS: &[&[u8]] = &[
    b"kernel/ostype",
    b"kernel/osrelease",
    b"kernel/version",
    b"kernel/hostname",
    b"kernel/domainname",
    b"kernel/pid_max",
    b"kernel/threads-max",
    b"kernel/ngroups_max",
    b"kernel/cap_last_cap",
    b"kernel/overflowuid",
    b"kernel/overflowgid",
    b"kernel/tainted",
    b"kernel/core_pattern",
    b"kernel/core_uses_pid",
    b"kernel/random/boot_id",
    b"kernel/random/entropy_avail",
    b"kernel/random/poolsize",
    b"kernel/random/urandom_min_reseed_secs",
    b"kernel/random/uuid",
    b"kernel/random/write_wakeup_threshold",
    b"kernel/msgmax",
    b"kernel/msgmnb",
    b"kernel/msgmni",
    b"kernel/sem",
    b"kernel/shmmax",
    b"kernel/shmall",
    b"kernel/shmmni",
    b"fs/nr_open",
    b"fs/pipe-max-size",
    b"fs/aio-max-nr",
    b"fs/aio-nr",
    b"fs/protected_hardlinks",
    b"fs/protected_symlinks",
    b"fs/lease-break-time",
    b"fs/mqueue/msg_max",
    b"fs/mqueue/msgsize_max",
    b"fs/mqueue/queues_max",
    b"fs/inotify/max_queued_events",
    b"fs/inotify/max_user_instances",
    b"fs/inotify/max_user_watches",
    b"kernel/keys/gc_delay",
    b"kernel/keys/maxbytes",
    b"kernel/keys/maxkeys",
    b"kernel/keys/root_maxbytes",
    b"kernel/keys/root_maxkeys",
];

/// The writable settings: kernel/keys/<name> and these.
const KEYS_DIR: &[u8] = b"kernel/keys/";
const WRITABLE: &[&[u8]] = &[
    b"fs/nr_open",
    b"fs/lease-break-time",
    b"kernel/hostname",
    b"kernel/domainname",
    b"kernel/core_pattern",
    b"kernel/core_uses_pid",
];

fn writable(path: &[u8]) -> bool {
    path.starts_with(KEYS_DIR) && PATHS.contains(&path) || WRITABLE.contains(&path)
}

/// Writes setting `path` (a writable one) from `text`.
fn set(path: &[u8], text: &[u8]) -> Result<(), Errno> {
    if let Some(name) = path.strip_prefix(KEYS_DIR) {
        return crate::sentry::syscalls::keys::set_sysctl(name, text);
    }
    match path {
        b"fs/lease-break-time" => {
            let value = crate::sentry::keys::parse_sysctl(text, i32::MIN as i64, i32::MAX as i64)?;
            crate::sentry::syscalls::locks::LEASE_BREAK_TIME
                .store(value as i32, core::sync::atomic::Ordering::Relaxed);
            Ok(())
        }
        b"kernel/core_pattern" => {
            crate::sentry::coredump::set_core_pattern(text);
            Ok(())
        }
        b"kernel/core_uses_pid" => {
            let value = crate::sentry::keys::parse_sysctl(text, i32::MIN as i64, i32::MAX as i64)?;
            crate::sentry::coredump::set_core_uses_pid(value != 0);
            Ok(())
        }
        b"fs/nr_open" => {
            use crate::sentry::fd::{set_nr_open, NR_OPEN_MAX, NR_OPEN_MIN};
            let value =
                crate::sentry::keys::parse_sysctl(text, NR_OPEN_MIN as i64, NR_OPEN_MAX as i64)?;
            set_nr_open(value as u64)
        }
        _ => {
            // A string sysctl: up to the first newline or NUL, at most a
            // utsname field.
            let end = text
                .iter()
                .position(|&b| b == b'\n' || b == 0)
                .unwrap_or(text.len())
                .min(crate::sentry::ns::UTS_NAME_MAX);
            let uts = crate::sentry::sched::current().namespaces().uts;
            let mut names = uts.names.lock();
            let name = if path == b"kernel/hostname" {
                &mut names.hostname
            } else {
                &mut names.domainname
            };
            *name = text[..end].to_vec();
            Ok(())
        }
    }
}

/// A directory or file under /proc/sys, by its path below it ("" is
/// /proc/sys itself).
pub struct SysNode {
    path: Vec<u8>,
}

/// /proc/sys.
pub fn root() -> Arc<SysNode> {
    Arc::new(SysNode { path: Vec::new() })
}

fn is_dir(path: &[u8]) -> bool {
    path.is_empty()
        || PATHS
            .iter()
            .any(|p| p.len() > path.len() && p.starts_with(path) && p[path.len()] == b'/')
}

impl SysNode {
    /// Linux's sysctl permission check: only a writable setting (mode
    /// 0644, root's) may be opened for writing, and only by root.
    fn may_write(&self) -> Result<(), Errno> {
        if writable(&self.path) && current_euid() == 0 {
            Ok(())
        } else {
            Err(EACCES)
        }
    }

    fn ino(&self) -> u64 {
        // FNV-1a of the path: stable, distinct from the other /proc inodes
        // in practice (they are small numbers).
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in &self.path {
            h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
        }
        h | (1 << 62)
    }
}

impl Inode for SysNode {
    fn stat(&self) -> Stat {
        let mode = if is_dir(&self.path) {
            S_IFDIR | 0o555
        } else if writable(&self.path) {
            S_IFREG | 0o644
        } else {
            S_IFREG | 0o444
        };
        Stat {
            dev: DEV_PROCFS,
            ino: self.ino(),
            nlink: 1,
            mode,
            blksize: 1024,
            ..Stat::default()
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    /// O_TRUNC: a sysctl has no size to change (Linux accepts it once
    /// the file may be written).
    fn truncate(&self, _size: u64) -> Result<(), Errno> {
        if is_dir(&self.path) {
            return Err(EISDIR);
        }
        self.may_write()
    }

    fn lookup(&self, name: &[u8]) -> Result<Arc<dyn Inode>, Errno> {
        if !is_dir(&self.path) {
            return Err(ENOTDIR);
        }
        let mut path = self.path.clone();
        if !path.is_empty() {
            path.push(b'/');
        }
        path.extend_from_slice(name);
        if is_dir(&path) || PATHS.contains(&path.as_slice()) {
            Ok(Arc::new(SysNode { path }))
        } else {
            Err(ENOENT)
        }
    }

    fn readdir(&self) -> Result<Vec<DirEntry>, Errno> {
        if !is_dir(&self.path) {
            return Err(ENOTDIR);
        }
        let prefix_len = if self.path.is_empty() {
            0
        } else {
            self.path.len() + 1
        };
        let mut out: Vec<DirEntry> = Vec::new();
        for p in PATHS {
            if p.len() <= prefix_len || !p.starts_with(&self.path) {
                continue;
            }
            if prefix_len > 0 && p[self.path.len()] != b'/' {
                continue;
            }
            let rest = &p[prefix_len..];
            let name = rest.split(|&b| b == b'/').next().unwrap_or(rest);
            if out.iter().any(|e| e.name == name) {
                continue;
            }
            let child = SysNode {
                path: p[..prefix_len + name.len()].to_vec(),
            };
            out.push(DirEntry {
                name: name.to_vec(),
                ino: child.ino(),
                kind: child.kind(),
            });
        }
        Ok(out)
    }

    fn open(self: Arc<Self>, flags: u32) -> Result<Arc<dyn File>, Errno> {
        if is_dir(&self.path) {
            return Ok(Arc::new(crate::sentry::fd::DirFile::new(self)));
        }
        if flags & crate::sentry::fd::O_ACCMODE != crate::sentry::fd::O_RDONLY {
            self.may_write()?;
        }
        let mut data = value(&self.path).ok_or(ENOENT)?.into_bytes();
        data.push(b'\n');
        Ok(Arc::new(SysFile { node: self, data }))
    }
}

/// An open /proc/sys file: its value when it was opened.
struct SysFile {
    node: Arc<SysNode>,
    data: Vec<u8>,
}

impl File for SysFile {
    fn read(&self, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
        let start = offset.min(self.data.len() as u64) as usize;
        let n = buf.len().min(self.data.len() - start);
        buf[..n].copy_from_slice(&self.data[start..start + n]);
        Ok(n)
    }
    fn write(&self, buf: &[u8], offset: u64) -> Result<usize, Errno> {
        if !writable(&self.node.path) {
            return Err(EACCES);
        }
        // As Linux's strict sysctl writes: the value is written whole at
        // offset 0; a write further on changes nothing.
        if offset == 0 {
            set(&self.node.path, buf)?;
        }
        Ok(buf.len())
    }
    fn seekable(&self) -> bool {
        true
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
    fn inode(&self) -> Option<Arc<dyn Inode>> {
        Some(self.node.clone())
    }
}

/// The effective uid of the running process.
fn current_euid() -> u32 {
    crate::sentry::sched::current().process.view.ids.lock().uid[1]
}

/// /proc/sysvipc (`None`) and its files msg, sem and shm.
pub struct SysvIpcNode {
    file: Option<&'static [u8]>,
}

const SYSVIPC_FILES: [&[u8]; 3] = [b"msg", b"sem", b"shm"];

/// /proc/sysvipc.
pub fn sysvipc() -> Arc<SysvIpcNode> {
    Arc::new(SysvIpcNode { file: None })
}

impl SysvIpcNode {
    fn ino(&self) -> u64 {
        (1 << 61)
            + match self.file {
                None => 0,
                Some(name) => SYSVIPC_FILES.iter().position(|f| *f == name).unwrap_or(0) as u64 + 1,
            }
    }
}

impl Inode for SysvIpcNode {
    fn stat(&self) -> Stat {
        Stat {
            dev: DEV_PROCFS,
            ino: self.ino(),
            nlink: 1,
            mode: if self.file.is_none() {
                S_IFDIR | 0o555
            } else {
                S_IFREG | 0o444
            },
            blksize: 1024,
            ..Stat::default()
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn lookup(&self, name: &[u8]) -> Result<Arc<dyn Inode>, Errno> {
        if self.file.is_some() {
            return Err(ENOTDIR);
        }
        let file = SYSVIPC_FILES.iter().find(|f| **f == name).ok_or(ENOENT)?;
        Ok(Arc::new(SysvIpcNode { file: Some(file) }))
    }

    fn readdir(&self) -> Result<Vec<DirEntry>, Errno> {
        if self.file.is_some() {
            return Err(ENOTDIR);
        }
        Ok(SYSVIPC_FILES
            .iter()
            .map(|f| {
                let child = SysvIpcNode { file: Some(f) };
                DirEntry {
                    name: f.to_vec(),
                    ino: child.ino(),
                    kind: child.kind(),
                }
            })
            .collect())
    }

    fn open(self: Arc<Self>, _flags: u32) -> Result<Arc<dyn File>, Errno> {
        match self.file {
            None => Ok(Arc::new(crate::sentry::fd::DirFile::new(self))),
            Some(name) => {
                let data = crate::sentry::ipc::proc_sysvipc(
                    &crate::sentry::sched::current().namespaces().ipc,
                    name,
                )
                .ok_or(ENOENT)?
                .into_bytes();
                Ok(Arc::new(IpcFile { node: self, data }))
            }
        }
    }
}

/// An open /proc/sysvipc file: the table when it was opened.
struct IpcFile {
    node: Arc<SysvIpcNode>,
    data: Vec<u8>,
}

impl File for IpcFile {
    fn read(&self, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
        let start = offset.min(self.data.len() as u64) as usize;
        let n = buf.len().min(self.data.len() - start);
        buf[..n].copy_from_slice(&self.data[start..start + n]);
        Ok(n)
    }
    fn write(&self, _buf: &[u8], _offset: u64) -> Result<usize, Errno> {
        Err(EACCES)
    }
    fn seekable(&self) -> bool {
        true
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
    fn inode(&self) -> Option<Arc<dyn Inode>> {
        Some(self.node.clone())
    }
}
