//! /proc/sys: the kernel parameters programs read, each generated from the
//! value the sentry really uses (the reported release, the fd and group
//! limits, the SysV IPC limits...). Most are read-only: opening one for
//! writing is EACCES, as Linux answers for a 0444 sysctl, because the
//! sandbox has no way to change these settings. The settings the sentry
//! holds itself root may set (mode 0644 as on Linux), and the sentry
//! enforces what they say: kernel/keys (the key quotas and
//! garbage-collection delay; the keys' sandbox-wide heap budget holds
//! whatever they say), fs/nr_open, fs/lease-break-time, fs/pipe-max-size,
//! kernel/core_pattern and kernel/core_uses_pid (how core files are
//! named: `coredump`),
//! fs/inotify/*, the host and domain names of the writer's UTS namespace,
//! and the System V IPC limits of the writer's IPC namespace
//! (kernel/msg*, sem, shm*; the sandbox's own bound of objects of each
//! kind, `ipc::MAX_OBJECTS`, still holds above them) with the
//! checkpoint/restore `kernel/*_next_id` (mode 0444 as Linux shows them,
//! yet writable by root, as Linux's ipc_permissions allows a
//! CAP_CHECKPOINT_RESTORE holder); and
//! kernel/ns_last_pid (mode 0666 as on Linux, a write needs CAP_SYS_ADMIN
//! or CAP_CHECKPOINT_RESTORE), which chooses the next pid.

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::any::Any;

use super::*;
use crate::sentry::fd::{File, POLLIN, POLLOUT};

/// Every file under /proc/sys: its path below /proc/sys and its contents.
fn value(path: &[u8]) -> Option<String> {
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
        b"kernel/ns_last_pid" => format!("{}", crate::sentry::sched::last_pid()),
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
        b"kernel/msgmax"
        | b"kernel/msgmnb"
        | b"kernel/msgmni"
        | b"kernel/sem"
        | b"kernel/shmmax"
        | b"kernel/shmall"
        | b"kernel/shmmni"
        | b"kernel/msg_next_id"
        | b"kernel/sem_next_id"
        | b"kernel/shm_next_id" => {
            let ns = crate::sentry::sched::current().namespaces().ipc;
            let l = *ns.limits.lock();
            match path {
                b"kernel/msgmax" => format!("{}", l.msgmax),
                b"kernel/msgmnb" => format!("{}", l.msgmnb),
                b"kernel/msgmni" => format!("{}", l.msgmni),
                b"kernel/sem" => format!("{}\t{}\t{}\t{}", l.sem[0], l.sem[1], l.sem[2], l.sem[3]),
                b"kernel/shmmax" => format!("{}", l.shmmax),
                b"kernel/shmall" => format!("{}", l.shmall),
                b"kernel/shmmni" => format!("{}", l.shmmni),
                b"kernel/msg_next_id" => format!("{}", ns.msg.lock().next_id),
                b"kernel/sem_next_id" => format!("{}", ns.sem.lock().next_id),
                _ => format!("{}", ns.shm.lock().next_id),
            }
        }
        b"fs/nr_open" => format!("{}", crate::sentry::fd::nr_open()),
        b"fs/pipe-max-size" => format!("{}", super::pipe::pipe_max_size()),
        b"fs/pipe-user-pages-soft" => format!(
            "{}",
            super::pipe::PIPE_USER_PAGES_SOFT.load(core::sync::atomic::Ordering::Relaxed)
        ),
        b"fs/pipe-user-pages-hard" => format!(
            "{}",
            super::pipe::PIPE_USER_PAGES_HARD.load(core::sync::atomic::Ordering::Relaxed)
        ),
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
        b"fs/inotify/max_queued_events"
        | b"fs/inotify/max_user_instances"
        | b"fs/inotify/max_user_watches" => {
            format!(
                "{}",
                inotify_setting(path)?.load(core::sync::atomic::Ordering::Relaxed)
            )
        }
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
    b"kernel/ns_last_pid",
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
    b"kernel/msg_next_id",
    b"kernel/sem_next_id",
    b"kernel/shm_next_id",
    b"fs/nr_open",
    b"fs/pipe-max-size",
    b"fs/pipe-user-pages-hard",
    b"fs/pipe-user-pages-soft",
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
    b"fs/pipe-max-size",
    b"fs/pipe-user-pages-hard",
    b"fs/pipe-user-pages-soft",
    b"fs/inotify/max_queued_events",
    b"fs/inotify/max_user_instances",
    b"fs/inotify/max_user_watches",
    b"kernel/hostname",
    b"kernel/domainname",
    b"kernel/core_pattern",
    b"kernel/core_uses_pid",
    b"kernel/msgmax",
    b"kernel/msgmnb",
    b"kernel/msgmni",
    b"kernel/sem",
    b"kernel/shmmax",
    b"kernel/shmall",
    b"kernel/shmmni",
];
/// Writable by root although shown 0444 (Linux's ipc_permissions).
const NEXT_IDS: &[&[u8]] = &[
    b"kernel/msg_next_id",
    b"kernel/sem_next_id",
    b"kernel/shm_next_id",
];

fn writable(path: &[u8]) -> bool {
    path.starts_with(KEYS_DIR) && PATHS.contains(&path)
        || WRITABLE.contains(&path)
        || path == NS_LAST_PID
        || NEXT_IDS.contains(&path)
}

/// The setting behind a /proc/sys/fs/inotify file.
fn inotify_setting(path: &[u8]) -> Option<&'static core::sync::atomic::AtomicUsize> {
    Some(match path {
        b"fs/inotify/max_queued_events" => &inotify::MAX_QUEUED_EVENTS,
        b"fs/inotify/max_user_instances" => &inotify::MAX_USER_INSTANCES,
        b"fs/inotify/max_user_watches" => &inotify::MAX_USER_WATCHES,
        _ => return None,
    })
}

/// The numbers written to a sysctl, as Linux's proc_get_long reads them:
/// separated by white space, each with an optional '-' and C's base
/// prefixes (0x, 0); anything else, or a value past 64 bits, is EINVAL.
/// Each is (negative, magnitude); none at all is EINVAL too.
fn parse_numbers(text: &[u8]) -> Result<Vec<(bool, u64)>, Errno> {
    let text = text.split(|&b| b == 0).next().unwrap_or(&[]);
    let mut out = Vec::new();
    for word in text
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
    {
        let (negative, digits) = match word.strip_prefix(b"-") {
            Some(rest) => (true, rest),
            None => (false, word),
        };
        let (radix, digits) = if let Some(hex) = digits
            .strip_prefix(b"0x")
            .or_else(|| digits.strip_prefix(b"0X"))
        {
            (16, hex)
        } else if digits.len() > 1 && digits[0] == b'0' {
            (8, &digits[1..])
        } else {
            (10, digits)
        };
        if digits.is_empty() {
            return Err(EINVAL);
        }
        let mut value: u64 = 0;
        for &b in digits {
            let d = (b as char).to_digit(radix).ok_or(EINVAL)?;
            value = value
                .checked_mul(radix as u64)
                .and_then(|v| v.checked_add(d as u64))
                .ok_or(EINVAL)?;
        }
        out.push((negative, value));
    }
    if out.is_empty() {
        return Err(EINVAL);
    }
    Ok(out)
}

/// The first number written.
fn first_number(text: &[u8]) -> Result<(bool, u64), Errno> {
    Ok(parse_numbers(text)?[0])
}

/// An int sysctl within `min..=max` (proc_dointvec_minmax).
fn int_in(text: &[u8], min: i64, max: i64) -> Result<i32, Errno> {
    let (negative, magnitude) = first_number(text)?;
    let value = if negative {
        -(i64::try_from(magnitude).map_err(|_| EINVAL)?)
    } else {
        i64::try_from(magnitude).map_err(|_| EINVAL)?
    };
    if value < min.max(i32::MIN as i64) || value > max.min(i32::MAX as i64) {
        return Err(EINVAL);
    }
    Ok(value as i32)
}

/// An unsigned sysctl up to `max` (proc_doulongvec_minmax,
/// proc_douintvec: negative is EINVAL).
fn unsigned(text: &[u8], max: u64) -> Result<u64, Errno> {
    match first_number(text)? {
        (false, v) if v <= max => Ok(v),
        _ => Err(EINVAL),
    }
}

/// The System V IPC settings (of the reader's or writer's IPC namespace).
const IPC_SETTINGS: &[&[u8]] = &[
    b"kernel/msgmax",
    b"kernel/msgmnb",
    b"kernel/msgmni",
    b"kernel/sem",
    b"kernel/shmmax",
    b"kernel/shmall",
    b"kernel/shmmni",
    b"kernel/msg_next_id",
    b"kernel/sem_next_id",
    b"kernel/shm_next_id",
];

/// Writes a System V IPC setting of the writer's IPC namespace.
fn set_ipc(path: &[u8], text: &[u8]) -> Result<(), Errno> {
    use crate::sentry::ipc::IPCMNI;
    let ns = crate::sentry::sched::current().namespaces().ipc;
    let int_max = i32::MAX as i64;
    match path {
        b"kernel/msg_next_id" | b"kernel/sem_next_id" | b"kernel/shm_next_id" => {
            let id = int_in(text, 0, int_max)?;
            match path {
                b"kernel/msg_next_id" => ns.msg.lock().next_id = id,
                b"kernel/sem_next_id" => ns.sem.lock().next_id = id,
                _ => ns.shm.lock().next_id = id,
            }
            return Ok(());
        }
        b"kernel/sem" => {
            // proc_dointvec of four ints (those written change, the others
            // stay); then semmni must lie in 0..=IPCMNI (ERANGE, and it
            // alone goes back, as Linux's proc_ipc_sem_dointvec does).
            let numbers = parse_numbers(text)?;
            let mut values = Vec::new();
            for &(negative, magnitude) in numbers.iter().take(4) {
                let v = i64::try_from(magnitude).map_err(|_| EINVAL)?;
                let v = if negative { -v } else { v };
                values.push(i32::try_from(v).map_err(|_| EINVAL)?);
            }
            let mut limits = ns.limits.lock();
            let semmni = limits.sem[3];
            for (slot, v) in limits.sem.iter_mut().zip(values) {
                *slot = v;
            }
            if !(0..=IPCMNI).contains(&limits.sem[3]) {
                limits.sem[3] = semmni;
                return Err(ERANGE);
            }
            return Ok(());
        }
        _ => {}
    }
    let mut limits = ns.limits.lock();
    match path {
        b"kernel/shmmax" => limits.shmmax = unsigned(text, u64::MAX)?,
        b"kernel/shmall" => limits.shmall = unsigned(text, u64::MAX)?,
        _ => {
            let (slot, max) = match path {
                b"kernel/msgmax" => (&mut limits.msgmax, int_max),
                b"kernel/msgmnb" => (&mut limits.msgmnb, int_max),
                b"kernel/msgmni" => (&mut limits.msgmni, IPCMNI as i64),
                _ => (&mut limits.shmmni, IPCMNI as i64),
            };
            *slot = int_in(text, 0, max)?;
        }
    }
    Ok(())
}

/// Writable by anyone who holds the capability (the write checks it).
const NS_LAST_PID: &[u8] = b"kernel/ns_last_pid";

/// Writes setting `path` (a writable one) from `text`.
fn set(path: &[u8], text: &[u8]) -> Result<(), Errno> {
    if let Some(name) = path.strip_prefix(KEYS_DIR) {
        return crate::sentry::syscalls::keys::set_sysctl(name, text);
    }
    if IPC_SETTINGS.contains(&path) {
        return set_ipc(path, text);
    }
    if let Some(setting) = inotify_setting(path) {
        // Longs (max_user_*) or an int (max_queued_events), at least 0.
        let max = if path == b"fs/inotify/max_queued_events" {
            i32::MAX as u64
        } else {
            i64::MAX as u64
        };
        let v = unsigned(text, max)?;
        setting.store(v as usize, core::sync::atomic::Ordering::Relaxed);
        return Ok(());
    }
    match path {
        NS_LAST_PID => {
            // Linux's pid_ns_ctl_handler: checkpoint_restore_ns_capable.
            const CAP_SYS_ADMIN: u64 = 1 << 21;
            const CAP_CHECKPOINT_RESTORE: u64 = 1 << 40;
            let caps = crate::sentry::sched::current()
                .process
                .view
                .ids
                .lock()
                .cap_eff;
            if caps & (CAP_SYS_ADMIN | CAP_CHECKPOINT_RESTORE) == 0 {
                return Err(EPERM);
            }
            let max = crate::sentry::sched::PID_MAX as i64;
            let value = crate::sentry::keys::parse_sysctl(text, 0, max)?;
            crate::sentry::sched::set_last_pid(value as i32);
            Ok(())
        }
        b"fs/pipe-user-pages-soft" | b"fs/pipe-user-pages-hard" => {
            // proc_doulongvec_minmax without bounds.
            let v = unsigned(text, u64::MAX)? as usize;
            let setting = if path == b"fs/pipe-user-pages-soft" {
                &super::pipe::PIPE_USER_PAGES_SOFT
            } else {
                &super::pipe::PIPE_USER_PAGES_HARD
            };
            setting.store(v, core::sync::atomic::Ordering::Relaxed);
            Ok(())
        }
        b"fs/pipe-max-size" => {
            // An unsigned long cut to an unsigned int, then rounded as a
            // pipe size: Linux's proc_dopipe_max_size checks only the
            // rounded size (4294967296 becomes 0, then a page).
            super::pipe::set_pipe_max_size(unsigned(text, u64::MAX)? as u32)
        }
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
        if self.path == NS_LAST_PID || writable(&self.path) && current_euid() == 0 {
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
        } else if self.path == NS_LAST_PID {
            S_IFREG | 0o666
        } else if writable(&self.path) && !NEXT_IDS.contains(&self.path.as_slice()) {
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
        // offset 0; a write further on changes nothing (nor does an empty
        // one).
        if offset == 0 && !buf.is_empty() {
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
