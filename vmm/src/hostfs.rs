//! The VMM side of shared host directories (`--mount HOST:GUEST[:ro|rw]`).
//!
//! The guest never names a host path. It holds small integer handles, each
//! an fd the VMM opened, and asks for single path components beneath them.
//! Every component is resolved with openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV) and
//! O_NOFOLLOW, so neither `..` nor a symlink can lead outside the shared
//! directory; symlinks are read and resolved by the sentry inside its own
//! namespace. Mutations on read-only mounts are refused here (EROFS),
//! whatever the guest asks.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

use boards::hypercall::*;
use boards::Wire;

use crate::error::{internal, Failure};

/// One `--mount`.
#[derive(Clone, Debug)]
pub struct MountSpec {
    pub host: PathBuf,
    pub guest: String,
    pub read_only: bool,
    /// Lookups may enter other filesystems mounted beneath `host` when they
    /// hold ordinary files (`--root`; see [`crossable`]).
    pub cross_mounts: bool,
    /// A fresh tmpfs at `guest` (`host` is unused): the sentry makes it;
    /// its index has no host handle.
    pub tmpfs: bool,
}

/// Why `--mount DIR:/` is refused (but for --wasm, where `/` is a preopen's name).
pub const ROOT_MOUNT_REFUSED: &str = "cannot mount over the sandbox root '/'";

impl MountSpec {
    /// Parses `HOST_DIR:GUEST_DIR[:ro|rw]`.
    pub fn parse(spec: &str) -> Result<MountSpec, String> {
        Self::parse_inner(spec, false)
    }

    /// Like [`MountSpec::parse`], but GUEST_DIR may be `/`: a WASI preopen
    /// is a name, not a place in the sandbox's tree (see `crate::wasm`).
    pub fn parse_allowing_root(spec: &str) -> Result<MountSpec, String> {
        Self::parse_inner(spec, true)
    }

    fn parse_inner(spec: &str, allow_root: bool) -> Result<MountSpec, String> {
        let (rest, read_only) = match spec.rsplit_once(':') {
            Some((rest, "ro")) => (rest, true),
            Some((rest, "rw")) => (rest, false),
            _ => (spec, true),
        };
        let (host, guest) = rest
            .rsplit_once(':')
            .ok_or_else(|| format!("expected HOST_DIR:GUEST_DIR[:ro|rw], got {spec:?}"))?;
        if host.is_empty() {
            return Err(format!("empty host directory in {spec:?}"));
        }
        if !guest.starts_with('/') {
            return Err(format!(
                "the guest directory must be absolute, got {guest:?}"
            ));
        }
        let normalized: Vec<&str> = guest
            .split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .collect();
        if normalized.contains(&"..") {
            return Err(format!(
                "the guest directory may not contain '..': {guest:?}"
            ));
        }
        if normalized.is_empty() && !allow_root {
            return Err(ROOT_MOUNT_REFUSED.into());
        }
        if normalized.is_empty() {
            return Ok(MountSpec {
                host: PathBuf::from(host),
                guest: "/".into(),
                read_only,
                cross_mounts: false,
                tmpfs: false,
            });
        }
        if matches!(normalized[0], "proc" | "dev") {
            return Err(format!("cannot mount over /{}", normalized[0]));
        }
        Ok(MountSpec {
            host: PathBuf::from(host),
            guest: format!("/{}", normalized.join("/")),
            read_only,
            cross_mounts: false,
            tmpfs: false,
        })
    }
}

impl MountSpec {
    /// Parses `--root DIR[:ro|rw]`: DIR becomes the sandbox's `/`.
    pub fn parse_root(spec: &str) -> Result<MountSpec, String> {
        let (host, read_only) = match spec.rsplit_once(':') {
            Some((rest, "ro")) => (rest, true),
            Some((rest, "rw")) => (rest, false),
            _ => (spec, true),
        };
        if host.is_empty() {
            return Err(format!("empty root directory in {spec:?}"));
        }
        Ok(MountSpec {
            host: PathBuf::from(host),
            guest: "/".into(),
            read_only,
            cross_mounts: true,
            tmpfs: false,
        })
    }
}

struct Handle {
    fd: OwnedFd,
    mount: usize,
    /// The file's type (`st_mode & S_IFMT`), from an fstat of this very
    /// descriptor: it names one inode for its life, so the type holds.
    kind: u32,
}

pub struct HostFs {
    mounts: Vec<MountSpec>,
    /// The device of each mount's root directory (see [`sandbox_ino`]).
    root_devs: Vec<u64>,
    handles: Vec<Option<Handle>>,
    free: Vec<usize>,
    /// The first failure of a buffered write, per handle, for its next
    /// fsync or write.
    write_errors: std::collections::HashMap<u64, i64>,
    /// A failed buffered write was logged (once: a full disk would
    /// otherwise flood stderr).
    write_error_logged: bool,
    /// The VMM's own user and group (read again once the jail has
    /// switched them, see [`HostFs::refresh_ids`]).
    host_ids: (u32, u32),
    /// /proc/self/fd, opened at start: the VMM reopens its O_PATH handles
    /// for I/O relative to it (`openat(proc_fd, "N")`), so no call after
    /// start names a host path from the root or the working directory.
    proc_fd: Option<OwnedFd>,
}

/// Mode bits a guest may set on a host file: no setuid or setgid (the
/// sandbox's files must carry no host privilege).
const SAFE_MODE_BITS: u32 = 0o1777;

/// renameat2 flags passed through: RENAME_NOREPLACE and RENAME_EXCHANGE
/// (RENAME_WHITEOUT creates a character device; unknown flags are EINVAL).
const RENAME_FLAGS: u64 = 1 | 2;

/// The owner a guest may give a host file: itself. The sandbox's root (and
/// every id inside) is the user running rvisor-vmm on the host, so ids 0
/// and the VMM's own mean that user, -1 means unchanged, and anything else
/// is EPERM (it would give the file to another host user).
fn own_id(requested: u32, host: u32) -> Result<u32, i64> {
    match requested {
        u32::MAX => Ok(u32::MAX),
        0 => Ok(host),
        id if id == host => Ok(host),
        _ => Err(-(libc::EPERM as i64)),
    }
}

/// Most handles the guest may hold at once.
pub(crate) const MAX_HANDLES: usize = 4096;
const NAME_MAX: u64 = 255;

const EBADF: i64 = 9;
const EFAULT: i64 = 14;
const EINVAL: i64 = 22;
const EMFILE: i64 = 24;
const EROFS: i64 = 30;
const ENAMETOOLONG: i64 = 36;
const EIO_ERR: i64 = 5;

pub(crate) fn errno() -> i64 {
    -(std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(EINVAL as i32) as i64)
}

/// The file type bits (S_IFMT) of our own fd.
fn file_kind(fd: RawFd) -> Result<u32, i64> {
    // SAFETY: fstat fills a zeroed libc::stat.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat writes one struct stat we own.
    check(unsafe { libc::fstat(fd, &mut st) })?;
    Ok(st.st_mode & libc::S_IFMT)
}

fn check(ret: libc::c_int) -> Result<(), i64> {
    if ret < 0 {
        Err(errno())
    } else {
        Ok(())
    }
}

/// Opens `name` beneath `dir` without leaving it and without following
/// any symlink.
fn open_beneath(dir: RawFd, name: &CString, flags: libc::c_int, mode: u32) -> Result<OwnedFd, i64> {
    open_beneath_how(dir, name, flags, mode, libc::RESOLVE_NO_XDEV)
}

/// Filesystems (statfs `f_type`) a `--root` lookup may enter when they are
/// mounted beneath the root: those that hold ordinary files. Not proc,
/// sysfs, devpts, cgroup and the other kernel interfaces, nor tmpfs/ramfs
/// (the host's /run, /dev, /dev/shm: runtime state; the sandbox has its
/// own /dev and /tmp).
const CROSSABLE_FILESYSTEMS: &[i64] = &[
    0xEF53,     // ext2/3/4
    0x58465342, // xfs
    0x9123683E, // btrfs
    0x794c7630, // overlayfs
    0x6969,     // nfs
    0x65735546, // fuse (virtiofs, sshfs, ...)
    0x73717368, // squashfs
    0x4d44,     // vfat / msdos
    0x2011BAB0, // exfat
    0x5346544e, // ntfs3
    0xF2F52010, // f2fs
    0x2fc12fc1, // zfs
    0x01021997, // 9p
    0xca451a4e, // bcachefs
    0x9660,     // iso9660
    0xFE534D42, // smb2
    0xFF534D42, // cifs
    0x00c36400, // ceph
];

/// Whether `fd` (just reached by crossing a mount point) lies on a
/// filesystem of [`CROSSABLE_FILESYSTEMS`].
fn crossable(fd: RawFd) -> bool {
    // SAFETY: fstatfs fills a zeroed struct from our own fd.
    let mut sfs: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: fstatfs writes one struct statfs we own.
    if unsafe { libc::fstatfs(fd, &mut sfs) } != 0 {
        return false;
    }
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    let kind = i64::from(sfs.f_type as i64) & 0xffff_ffff;
    CROSSABLE_FILESYSTEMS.contains(&kind)
}

/// A host inode number that stays unique within one shared directory when
/// lookups cross into other filesystems (the sandbox gives the whole
/// directory one device number): files on another device than the
/// directory's own get a 16-bit tag of that device in the top bits.
fn sandbox_ino(st: &libc::stat, root_dev: u64) -> u64 {
    #[allow(clippy::useless_conversion)]
    let dev = u64::from(st.st_dev);
    #[allow(clippy::useless_conversion)]
    let ino = u64::from(st.st_ino);
    if dev == root_dev {
        return ino;
    }
    let tag = (dev ^ (dev >> 16) ^ (dev >> 32) ^ (dev >> 48)) & 0xffff;
    ino ^ (tag.max(1) << 48)
}

fn open_beneath_how(
    dir: RawFd,
    name: &CString,
    flags: libc::c_int,
    mode: u32,
    extra_resolve: u64,
) -> Result<OwnedFd, i64> {
    // SAFETY: open_how is plain data; all-zero is its "no options" value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_NOFOLLOW | libc::O_CLOEXEC) as u64;
    how.mode = if flags & libc::O_CREAT != 0 {
        mode as u64
    } else {
        0
    };
    how.resolve = libc::RESOLVE_BENEATH
        | libc::RESOLVE_NO_SYMLINKS
        | libc::RESOLVE_NO_MAGICLINKS
        | extra_resolve;
    // SAFETY: `how` and `name` are valid for the call; the kernel returns a
    // new fd that we own.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir,
            name.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return Err(errno());
    }
    // SAFETY: a fresh fd from openat2.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Grows this process's descriptor table, now, to hold every handle the
/// guest may get. Linux grows it on demand (64, 128, 256, ... slots), and
/// once other threads share the table each growth waits for an RCU grace
/// period: measured here at 6-19 ms (a vCPU in guest mode delays grace
/// periods), twice in a ripgrep run over 400 files. Before the VMM starts
/// its threads the table is not shared and growing it costs microseconds.
/// The table never shrinks. Best effort: a low descriptor limit only
/// brings the waits back.
fn presize_fd_table(any: BorrowedFd<'_>) {
    let want = (MAX_HANDLES + 256) as libc::c_int;
    // SAFETY: F_DUPFD of a descriptor we hold asks for a new one >= want;
    // a failure (a low limit) changes nothing.
    let fd = unsafe { libc::fcntl(any.as_raw_fd(), libc::F_DUPFD_CLOEXEC, want) };
    if fd >= 0 {
        // SAFETY: closes the descriptor just made, which nothing else holds.
        unsafe { libc::close(fd) };
    }
}

/// Every file the guest holds open on a shared directory is an fd of the
/// VMM: raise the soft limit to the hard one so MAX_HANDLES fit.
fn raise_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// fchmodat2(2) (Linux 6.6; the same number on x86_64 and aarch64): chmod
/// of an O_PATH descriptor with AT_EMPTY_PATH, no path involved.
pub const SYS_FCHMODAT2: libc::c_long = 452;

impl HostFs {
    /// Opens the mount roots (handles 0..n). Errors are the user's.
    pub fn new(mounts: Vec<MountSpec>) -> Result<HostFs, Failure> {
        if !mounts.is_empty() {
            raise_fd_limit();
        }
        let mut handles = Vec::new();
        let mut root_devs = Vec::new();
        for (i, mount) in mounts.iter().enumerate() {
            if mount.tmpfs {
                // The sentry's own: no handle (requests on it fail EBADF).
                root_devs.push(0);
                handles.push(None);
                continue;
            }
            let option = if mount.cross_mounts {
                "--root"
            } else {
                "--mount"
            };
            let metadata = std::fs::metadata(&mount.host)
                .map_err(|e| internal(format!("{option} {}: {e}", mount.host.display())))?;
            // A regular file is a bind mount of one file (under --root,
            // over a file of the sandbox: rvisor-runtime's /etc/hosts...).
            let file = metadata.is_file() && !mount.cross_mounts;
            if !metadata.is_dir() && !file {
                return Err(internal(format!(
                    "{option} {}: not a directory",
                    mount.host.display()
                )));
            }
            root_devs.push(std::os::unix::fs::MetadataExt::dev(&metadata));
            let path = CString::new(mount.host.as_os_str().as_encoded_bytes())
                .map_err(|_| internal("--mount: path contains a NUL byte"))?;
            // SAFETY: plain open of a NUL-terminated path.
            let fd = unsafe {
                libc::open(
                    path.as_ptr(),
                    libc::O_PATH | if file { 0 } else { libc::O_DIRECTORY } | libc::O_CLOEXEC,
                )
            };
            if fd < 0 {
                return Err(internal(format!(
                    "--mount {}: {}",
                    mount.host.display(),
                    std::io::Error::last_os_error()
                )));
            }
            handles.push(Some(Handle {
                // SAFETY: a fresh fd from open.
                fd: unsafe { OwnedFd::from_raw_fd(fd) },
                mount: i,
                kind: if file { libc::S_IFREG } else { libc::S_IFDIR },
            }));
        }
        let proc_fd = if mounts.is_empty() {
            None
        } else {
            let dir = std::fs::File::open("/proc/self/fd")
                .map_err(|e| internal(format!("opening /proc/self/fd: {e}")))?;
            let dir = OwnedFd::from(dir);
            presize_fd_table(dir.as_fd());
            Some(dir)
        };
        Ok(HostFs {
            mounts,
            root_devs,
            handles,
            free: Vec::new(),
            write_errors: std::collections::HashMap::new(),
            write_error_logged: false,
            // SAFETY: geteuid/getegid only read the process's ids.
            host_ids: unsafe { (libc::geteuid(), libc::getegid()) },
            proc_fd,
        })
    }

    /// Reads the VMM's ids again (after the jail switched them).
    pub fn refresh_ids(&mut self) {
        // SAFETY: geteuid/getegid only read the process's ids.
        self.host_ids = unsafe { (libc::geteuid(), libc::getegid()) };
    }

    /// The descriptors the jail confines the VMM to: each mount's root
    /// and whether it is writable.
    pub fn mount_fds(&self) -> Vec<(std::os::fd::BorrowedFd<'_>, bool)> {
        self.handles
            .iter()
            .take(self.mounts.len())
            .flatten()
            .map(|h| (h.fd.as_fd(), !self.mounts[h.mount].read_only))
            .collect()
    }

    /// A new descriptor for the file our own `fd` names, opened with
    /// `flags` through /proc/self/fd (the magic link names exactly that
    /// file; it is the link itself that must be followed).
    fn reopen_fd(&self, fd: RawFd, flags: libc::c_int) -> Result<OwnedFd, i64> {
        let proc_fd = self.proc_fd.as_ref().ok_or(-EBADF)?;
        let name = CString::new(fd.to_string()).expect("digits");
        // SAFETY: openat relative to our /proc/self/fd directory fd; the
        // result is a new fd we own.
        let new =
            unsafe { libc::openat(proc_fd.as_raw_fd(), name.as_ptr(), flags | libc::O_CLOEXEC) };
        if new < 0 {
            return Err(errno());
        }
        // SAFETY: a fresh fd from openat.
        Ok(unsafe { OwnedFd::from_raw_fd(new) })
    }

    pub fn mounts(&self) -> &[MountSpec] {
        &self.mounts
    }

    fn handle(&self, handle: u64) -> Result<&Handle, i64> {
        self.handles
            .get(handle as usize)
            .and_then(|h| h.as_ref())
            .ok_or(-EBADF)
    }

    fn writable(&self, handle: u64) -> Result<RawFd, i64> {
        let h = self.handle(handle)?;
        if self.mounts[h.mount].read_only {
            return Err(-EROFS);
        }
        Ok(h.fd.as_raw_fd())
    }

    fn insert(&mut self, fd: OwnedFd, mount: usize, kind: u32) -> Result<u64, i64> {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None if self.handles.len() < MAX_HANDLES => {
                self.handles.push(None);
                self.handles.len() - 1
            }
            None => return Err(-EMFILE),
        };
        self.handles[slot] = Some(Handle { fd, mount, kind });
        Ok(slot as u64)
    }

    /// A write the guest queued in the console ring. Nobody waits for its
    /// result: a failure is kept for the handle's next HostFsync.
    pub fn buffered_write(&mut self, handle: u64, offset: u64, data: &[u8]) {
        if self.write_errors.contains_key(&handle) {
            // Later writes after a failed one are dropped with it (no holes
            // of missing data in the middle); the error is pending.
            return;
        }
        let result = self.writable(handle).and_then(|fd| {
            let mut done = 0usize;
            while done < data.len() {
                // SAFETY: writes from a valid slice.
                let n = unsafe {
                    libc::pwrite(
                        fd,
                        data[done..].as_ptr().cast(),
                        data.len() - done,
                        offset.wrapping_add(done as u64) as i64,
                    )
                };
                if n <= 0 {
                    return Err(if n == 0 { -EIO_ERR } else { errno() });
                }
                done += n as usize;
            }
            Ok(())
        });
        if let Err(e) = result {
            if !self.write_error_logged {
                self.write_error_logged = true;
                log::warn!(
                    "a write to a shared file failed: {} (reported to the program; further failures are not logged)",
                    std::io::Error::from_raw_os_error(-e as i32)
                );
            }
            self.write_errors.entry(handle).or_insert(e);
        }
    }

    /// Runs one host-file request. `mem` reads and writes guest memory
    /// (bounds-checked by the caller's closures).
    pub fn handle_request(&mut self, op: Op, args: [u64; 6], mem: &dyn GuestAccess) -> i64 {
        match self.dispatch(op, args, mem) {
            Ok(v) => v,
            Err(e) => e,
        }
    }

    fn name(mem: &dyn GuestAccess, gpa: u64, len: u64) -> Result<CString, i64> {
        if len == 0 {
            return Err(-libc::ENOENT as i64);
        }
        if len > NAME_MAX {
            return Err(-ENAMETOOLONG);
        }
        let bytes = mem.read(gpa, len).ok_or(-EFAULT)?;
        if bytes.contains(&b'/') || bytes.contains(&0) || bytes == b"." || bytes == b".." {
            return Err(-EINVAL);
        }
        Ok(CString::new(bytes).expect("checked for NUL"))
    }

    fn write_stat(
        &self,
        fd: RawFd,
        mount: usize,
        mem: &dyn GuestAccess,
        stat_gpa: u64,
    ) -> Result<u32, i64> {
        // SAFETY: fstat fills a zeroed libc::stat.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: fstat writes one struct stat we own.
        check(unsafe { libc::fstat(fd, &mut st) })?;
        let ino = sandbox_ino(&st, self.root_devs[mount]);
        // The hypercall ABI's `struct stat` is the x86_64 kernel layout on
        // every host (an aarch64 host's libc::stat is the generic one, with
        // narrower st_nlink and st_blksize).
        #[allow(clippy::useless_conversion)]
        let stat = HostStat {
            dev: u64::from(st.st_dev),
            ino,
            nlink: u64::from(st.st_nlink),
            mode: st.st_mode,
            uid: st.st_uid,
            gid: st.st_gid,
            rdev: u64::from(st.st_rdev),
            size: st.st_size,
            blksize: i64::from(st.st_blksize),
            blocks: st.st_blocks,
            atime: st.st_atime,
            atime_nsec: st.st_atime_nsec,
            mtime: st.st_mtime,
            mtime_nsec: st.st_mtime_nsec,
            ctime: st.st_ctime,
            ctime_nsec: st.st_ctime_nsec,
            ..HostStat::default()
        };
        mem.write(stat_gpa, stat.as_bytes()).ok_or(-EFAULT)?;
        Ok(st.st_mode & libc::S_IFMT)
    }

    /// One function per operation.
    fn dispatch(&mut self, op: Op, a: [u64; 6], mem: &dyn GuestAccess) -> Result<i64, i64> {
        match op {
            Op::HostLookup => self.lookup(a, mem),
            Op::HostReopen => self.reopen(a, mem),
            Op::HostRead => self.read(a, mem),
            Op::HostWrite => self.write(a, mem),
            Op::HostStat => self.stat(a, mem),
            Op::HostCreate => self.create(a, mem),
            Op::HostUnlink => self.unlink(a, mem),
            Op::HostRename => self.rename(a, mem),
            Op::HostLink => self.link(a, mem),
            Op::HostReadlink => self.readlink(a, mem),
            Op::HostTruncate => self.truncate(a, mem),
            Op::HostSetattr => self.setattr(a, mem),
            Op::HostFsync => self.fsync(a, mem),
            Op::HostClose => self.close(a, mem),
            Op::HostStatfs => self.statfs(a, mem),
            Op::HostReaddir => self.readdir(a, mem),
            _ => Err(-(libc::ENOSYS as i64)),
        }
    }

    /// HostLookup: [dir, name_gpa, name_len, stat_gpa]: a new handle for `name` in `dir`, O_PATH,
    /// never following a symlink.
    fn lookup(&mut self, a: [u64; 6], mem: &dyn GuestAccess) -> Result<i64, i64> {
        let dir = self.handle(a[0])?;
        let (dir_fd, mount) = (dir.fd.as_raw_fd(), dir.mount);
        let name = Self::name(mem, a[1], a[2])?;
        let fd = match open_beneath(dir_fd, &name, libc::O_PATH, 0) {
            // `name` is a mount point: enter it only under --root
            // and only into a filesystem of ordinary files.
            Err(e) if e == -(libc::EXDEV as i64) && self.mounts[mount].cross_mounts => {
                let fd = open_beneath_how(dir_fd, &name, libc::O_PATH, 0, 0)?;
                if !crossable(fd.as_raw_fd()) {
                    return Err(e);
                }
                fd
            }
            other => other?,
        };
        let kind = self.write_stat(fd.as_raw_fd(), mount, mem, a[3])?;
        Ok(self.insert(fd, mount, kind)? as i64)
    }

    /// HostReopen: [handle, flags]: a new handle for I/O on the same file (regular files and
    /// directories only).
    fn reopen(&mut self, a: [u64; 6], _mem: &dyn GuestAccess) -> Result<i64, i64> {
        let h = self.handle(a[0])?;
        let (fd, mount, kind) = (h.fd.as_raw_fd(), h.mount, h.kind);
        // Only regular files and directories are ever opened for
        // the guest: a device node would reach host hardware, and
        // opening a FIFO would block the VMM. The sentry refuses
        // them too, but it is not trusted.
        if kind != libc::S_IFREG && kind != libc::S_IFDIR {
            return Err(-(libc::ENXIO as i64));
        }
        let access = (a[1] as i32) & libc::O_ACCMODE;
        if access != libc::O_RDONLY && self.mounts[mount].read_only {
            return Err(-EROFS);
        }
        let flags = access | ((a[1] as i32) & libc::O_DIRECTORY);
        let new = self.reopen_fd(fd, flags)?;
        Ok(self.insert(new, mount, kind)? as i64)
    }

    /// HostRead: [handle, offset, gpa, len]: pread into guest memory.
    fn read(&self, a: [u64; 6], mem: &dyn GuestAccess) -> Result<i64, i64> {
        let fd = self.handle(a[0])?.fd.as_raw_fd();
        let len = a[3].min(MAX_TRANSFER);
        Ok(mem.pread_into(fd, a[1], a[2], len)? as i64)
    }

    /// HostWrite: [handle, offset, gpa, len]: pwrite from guest memory.
    fn write(&mut self, a: [u64; 6], mem: &dyn GuestAccess) -> Result<i64, i64> {
        let fd = self.writable(a[0])?;
        if a[3] > MAX_TRANSFER {
            return Err(-EINVAL);
        }
        // A queued write failed (a full file system, say): this
        // write reports it, as the guest's next chance to hear.
        if let Some(e) = self.write_errors.remove(&a[0]) {
            return Err(e);
        }
        Ok(mem.pwrite_from(fd, a[1], a[2], a[3])? as i64)
    }

    /// HostStat: [handle, stat_gpa].
    fn stat(&self, a: [u64; 6], mem: &dyn GuestAccess) -> Result<i64, i64> {
        let h = self.handle(a[0])?;
        self.write_stat(h.fd.as_raw_fd(), h.mount, mem, a[1])?;
        Ok(0)
    }

    /// HostStatfs: [handle, gpa]: fstatfs of the file's host filesystem.
    /// The host's fsid stays on the host; a read-only mount says so.
    fn statfs(&self, a: [u64; 6], mem: &dyn GuestAccess) -> Result<i64, i64> {
        let h = self.handle(a[0])?;
        // The kernel's 64-bit struct statfs (15 words on x86_64 and
        // aarch64 hosts alike; libc's hides f_flags).
        let mut words = [0u64; 15];
        // SAFETY: fstatfs writes one struct statfs (120 bytes) into
        // `words`; O_PATH fds are accepted.
        let r = unsafe { libc::syscall(libc::SYS_fstatfs, h.fd.as_raw_fd(), words.as_mut_ptr()) };
        check(r as i32)?;
        const ST_RDONLY: u64 = 1;
        if self.mounts[h.mount].read_only {
            words[10] |= ST_RDONLY;
        }
        words[7] = 0; // the host's fsid stays on the host
        words[11..].fill(0);
        let out = HostStatfs { fields: words };
        mem.write(a[1], out.as_bytes()).ok_or(-EFAULT)?;
        Ok(0)
    }

    /// HostCreate: [dir, buf_gpa, name_len, target_len, kind | mode << 8, stat_gpa]: a new file,
    /// directory or symlink; a handle for it.
    fn create(&mut self, a: [u64; 6], mem: &dyn GuestAccess) -> Result<i64, i64> {
        let dir_fd = self.writable(a[0])?;
        let mount = self.handle(a[0])?.mount;
        let (name_len, target_len) = (a[2], a[3]);
        let name = Self::name(mem, a[1], name_len)?;
        let kind = a[4] & 0xff;
        let mode = ((a[4] >> 8) as u32) & SAFE_MODE_BITS;
        match kind {
            HOST_CREATE_FILE => {
                let fd = open_beneath(
                    dir_fd,
                    &name,
                    libc::O_CREAT | libc::O_EXCL | libc::O_RDONLY,
                    mode,
                )?;
                drop(fd);
            }
            HOST_CREATE_DIR => {
                // SAFETY: plain mkdirat with a checked single-component name.
                check(unsafe { libc::mkdirat(dir_fd, name.as_ptr(), mode) })?;
            }
            HOST_CREATE_SYMLINK => {
                if target_len == 0 || target_len > 4095 {
                    return Err(-EINVAL);
                }
                let target = mem
                    .read(a[1].wrapping_add(name_len), target_len)
                    .ok_or(-EFAULT)?;
                let target = CString::new(target).map_err(|_| -EINVAL)?;
                // SAFETY: plain symlinkat; the target is only text.
                check(unsafe { libc::symlinkat(target.as_ptr(), dir_fd, name.as_ptr()) })?;
            }
            _ => return Err(-EINVAL),
        }
        let fd = open_beneath(dir_fd, &name, libc::O_PATH, 0)?;
        let kind = self.write_stat(fd.as_raw_fd(), mount, mem, a[5])?;
        Ok(self.insert(fd, mount, kind)? as i64)
    }

    /// HostUnlink: [dir, name_gpa, name_len, is_dir].
    fn unlink(&self, a: [u64; 6], mem: &dyn GuestAccess) -> Result<i64, i64> {
        let dir_fd = self.writable(a[0])?;
        let name = Self::name(mem, a[1], a[2])?;
        let flags = if a[3] != 0 { libc::AT_REMOVEDIR } else { 0 };
        // SAFETY: unlinkat with a checked single-component name.
        check(unsafe { libc::unlinkat(dir_fd, name.as_ptr(), flags) })?;
        Ok(0)
    }

    /// HostRename: [old_dir, new_dir, buf_gpa, old_len, new_len, flags]: renameat2 within one
    /// mount.
    fn rename(&self, a: [u64; 6], mem: &dyn GuestAccess) -> Result<i64, i64> {
        let old_dir = self.writable(a[0])?;
        let new_dir = self.writable(a[1])?;
        if self.handle(a[0])?.mount != self.handle(a[1])?.mount {
            return Err(-(libc::EXDEV as i64));
        }
        if a[5] & !RENAME_FLAGS != 0 {
            return Err(-EINVAL);
        }
        let old = Self::name(mem, a[2], a[3])?;
        let new = Self::name(mem, a[2].wrapping_add(a[3]), a[4])?;
        // SAFETY: renameat2 with checked single-component names.
        let r = unsafe {
            libc::syscall(
                libc::SYS_renameat2,
                old_dir,
                old.as_ptr(),
                new_dir,
                new.as_ptr(),
                a[5] as libc::c_uint,
            )
        };
        if r < 0 {
            return Err(errno());
        }
        Ok(0)
    }

    /// HostLink: [target, new_dir, name_gpa, name_len]: a hard link within one mount.
    fn link(&self, a: [u64; 6], mem: &dyn GuestAccess) -> Result<i64, i64> {
        let target = self.handle(a[0])?.fd.as_raw_fd();
        let new_dir = self.writable(a[1])?;
        if self.handle(a[0])?.mount != self.handle(a[1])?.mount {
            return Err(-(libc::EXDEV as i64));
        }
        let name = Self::name(mem, a[2], a[3])?;
        // Through /proc/self/fd with AT_SYMLINK_FOLLOW (the magic link
        // names exactly our file): linkat with AT_EMPTY_PATH would need
        // CAP_DAC_READ_SEARCH, which the jailed VMM does not have.
        let proc_fd = self.proc_fd.as_ref().ok_or(-EBADF)?;
        let source = CString::new(target.to_string()).expect("digits");
        // SAFETY: linkat of our own fd's magic link to a checked name.
        check(unsafe {
            libc::linkat(
                proc_fd.as_raw_fd(),
                source.as_ptr(),
                new_dir,
                name.as_ptr(),
                libc::AT_SYMLINK_FOLLOW,
            )
        })?;
        Ok(0)
    }

    /// HostReadlink: [handle, gpa, len]: the link target.
    fn readlink(&self, a: [u64; 6], mem: &dyn GuestAccess) -> Result<i64, i64> {
        let fd = self.handle(a[0])?.fd.as_raw_fd();
        let mut buf = vec![0u8; a[2].min(4096) as usize];
        let empty = CString::new("").expect("no NUL");
        // SAFETY: readlinkat of our own (O_PATH, O_NOFOLLOW) fd.
        let n = unsafe { libc::readlinkat(fd, empty.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            return Err(errno());
        }
        mem.write(a[1], &buf[..n as usize]).ok_or(-EFAULT)?;
        Ok(n as i64)
    }

    /// HostTruncate: [handle, size].
    fn truncate(&self, a: [u64; 6], _mem: &dyn GuestAccess) -> Result<i64, i64> {
        let fd = self.writable(a[0])?;
        // Only regular files are opened for it (opening a device or a FIFO
        // could act on it or block); the errors are truncate(2)'s.
        match file_kind(fd)? {
            libc::S_IFREG => {}
            libc::S_IFDIR => return Err(-(libc::EISDIR as i64)),
            _ => return Err(-EINVAL),
        }
        if a[1] > i64::MAX as u64 {
            return Err(-EINVAL);
        }
        let file = self.reopen_fd(fd, libc::O_WRONLY | libc::O_NONBLOCK)?;
        // SAFETY: ftruncate of a descriptor we own.
        check(unsafe { libc::ftruncate(file.as_raw_fd(), a[1] as i64) })?;
        Ok(0)
    }

    /// HostSetattr: [handle, what, a, b, c, d]: mode, times or owner.
    /// All on the handle's own fd: no path, no chown.
    fn setattr(&self, a: [u64; 6], _mem: &dyn GuestAccess) -> Result<i64, i64> {
        let fd = self.writable(a[0])?;
        let empty = CString::new("").expect("no NUL");
        match a[1] {
            HOST_SETATTR_MODE => self.chmod(fd, a[2] as u32 & SAFE_MODE_BITS)?,
            HOST_SETATTR_TIMES => {
                let times = [
                    libc::timespec {
                        tv_sec: a[2] as i64,
                        tv_nsec: a[3] as i64,
                    },
                    libc::timespec {
                        tv_sec: a[4] as i64,
                        tv_nsec: a[5] as i64,
                    },
                ];
                // SAFETY: utimensat of our own fd itself (AT_EMPTY_PATH).
                check(unsafe {
                    libc::utimensat(fd, empty.as_ptr(), times.as_ptr(), libc::AT_EMPTY_PATH)
                })?
            }
            HOST_SETATTR_OWNER => {
                // The sandbox's ids are all the VMM's own user: a chown
                // to them changes nothing the host would see, one to any
                // other id would give the file away (EPERM). The VMM
                // never calls chown (its seccomp filter refuses it).
                let (uid, gid) = self.host_ids;
                let uid = own_id(a[2] as u32, uid)?;
                let gid = own_id(a[3] as u32, gid)?;
                // SAFETY: fstat writes one struct stat we own.
                let mut st: libc::stat = unsafe { std::mem::zeroed() };
                // SAFETY: fstat of our own fd into a struct we own.
                check(unsafe { libc::fstat(fd, &mut st) })?;
                if (uid != u32::MAX && uid != st.st_uid) || (gid != u32::MAX && gid != st.st_gid) {
                    return Err(-(libc::EPERM as i64));
                }
            }
            _ => return Err(-EINVAL),
        }
        Ok(0)
    }

    /// chmod of our own fd (`mode` has no setuid/setgid bit): fchmodat2
    /// with AT_EMPTY_PATH, or on kernels before 6.6 fchmod of a
    /// descriptor reopened for reading (regular files and directories).
    fn chmod(&self, fd: RawFd, mode: u32) -> Result<(), i64> {
        let empty = CString::new("").expect("no NUL");
        // SAFETY: fchmodat2 of our own fd itself (AT_EMPTY_PATH).
        let r =
            unsafe { libc::syscall(SYS_FCHMODAT2, fd, empty.as_ptr(), mode, libc::AT_EMPTY_PATH) };
        if r == 0 {
            return Ok(());
        }
        let e = errno();
        if e != -(libc::ENOSYS as i64) {
            return Err(e);
        }
        let kind = file_kind(fd)?;
        if kind != libc::S_IFREG && kind != libc::S_IFDIR {
            return Err(-(libc::EOPNOTSUPP as i64));
        }
        let file = self.reopen_fd(fd, libc::O_RDONLY | libc::O_NONBLOCK)?;
        // SAFETY: fchmod of a descriptor we own.
        check(unsafe { libc::fchmod(file.as_raw_fd(), mode) })
    }

    /// HostFsync: [handle]: reports a failed queued write first.
    fn fsync(&mut self, a: [u64; 6], _mem: &dyn GuestAccess) -> Result<i64, i64> {
        let fd = self.handle(a[0])?.fd.as_raw_fd();
        if let Some(e) = self.write_errors.remove(&a[0]) {
            return Err(e);
        }
        // SAFETY: fsync of our own fd.
        check(unsafe { libc::fsync(fd) })?;
        Ok(0)
    }

    /// HostClose: [handle]: mount roots stay.
    fn close(&mut self, a: [u64; 6], _mem: &dyn GuestAccess) -> Result<i64, i64> {
        let index = a[0] as usize;
        if index < self.mounts.len() {
            return Err(-EBADF); // mount roots live as long as the VM
        }
        self.write_errors.remove(&a[0]);
        match self.handles.get_mut(index).and_then(|h| h.take()) {
            Some(_) => {
                self.free.push(index);
                Ok(0)
            }
            None => Err(-EBADF),
        }
    }

    /// Lists a directory into HostDirent records, from position `cookie`
    /// on, in the host's own order (what `find` or a raw readdir loop shows
    /// natively). The cookie is the host's `d_off`, which the host
    /// filesystem keeps stable while the directory changes between calls.
    fn readdir(&mut self, a: [u64; 6], mem: &dyn GuestAccess) -> Result<i64, i64> {
        let fd = self.handle(a[0])?.fd.as_raw_fd();
        let (cookie, gpa, len) = (a[1], a[2], a[3].min(MAX_TRANSFER) as usize);
        let dir_fd = self.reopen_fd(fd, libc::O_RDONLY | libc::O_DIRECTORY)?;
        if cookie != 0
            // SAFETY: plain lseek on our own directory fd; d_off values are
            // opaque positions the filesystem accepts back.
            && unsafe { libc::lseek(dir_fd.as_raw_fd(), cookie as i64, libc::SEEK_SET) } < 0
        {
            return Err(errno());
        }
        let mut out = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        'fill: loop {
            // SAFETY: getdents64 fills at most buf.len() bytes.
            let n = unsafe {
                libc::syscall(
                    libc::SYS_getdents64,
                    dir_fd.as_raw_fd(),
                    buf.as_mut_ptr(),
                    buf.len(),
                )
            };
            if n < 0 {
                return Err(errno());
            }
            if n == 0 {
                break;
            }
            let mut off = 0usize;
            while off + 19 <= n as usize {
                let ino = u64::from_le_bytes(buf[off..off + 8].try_into().unwrap());
                let next = u64::from_le_bytes(buf[off + 8..off + 16].try_into().unwrap());
                let reclen =
                    u16::from_le_bytes(buf[off + 16..off + 18].try_into().unwrap()) as usize;
                let kind = buf[off + 18];
                let name_start = off + 19;
                let name_end = buf[name_start..off + reclen]
                    .iter()
                    .position(|&b| b == 0)
                    .map_or(off + reclen, |p| name_start + p);
                let name = &buf[name_start..name_end];
                off += reclen.max(1);
                if name == b"." || name == b".." {
                    continue;
                }
                let record = (HOST_DIRENT_SIZE + name.len() + 7) & !7;
                if out.len() + record > len {
                    if out.is_empty() {
                        return Err(-EINVAL); // buffer too small for one record
                    }
                    break 'fill; // the guest asks again from the last `next`
                }
                let start = out.len();
                let dirent = HostDirent {
                    ino,
                    next,
                    kind,
                    name_len: name.len() as u8,
                    _pad: [0; 6],
                };
                out.extend_from_slice(dirent.as_bytes());
                out.extend_from_slice(name);
                out.resize(start + record, 0);
            }
        }
        mem.write(gpa, &out).ok_or(-EFAULT)?;
        Ok(out.len() as i64)
    }
}

/// Checked access to guest memory for the host-file server.
pub trait GuestAccess {
    fn read(&self, gpa: u64, len: u64) -> Option<Vec<u8>>;
    fn write(&self, gpa: u64, bytes: &[u8]) -> Option<()>;

    /// `pread(fd)` of up to `len` bytes at `offset` into guest memory at
    /// `gpa`: the bytes read, `-EFAULT` if the range is not guest RAM.
    /// This version goes through a buffer; see `GuestMem`'s.
    fn pread_into(&self, fd: RawFd, offset: u64, gpa: u64, len: u64) -> Result<usize, i64> {
        let mut buf = vec![0u8; len as usize];
        // SAFETY: reads at most buf.len() bytes into buf.
        let n = unsafe { libc::pread(fd, buf.as_mut_ptr().cast(), buf.len(), offset as i64) };
        if n < 0 {
            return Err(errno());
        }
        self.write(gpa, &buf[..n as usize]).ok_or(-EFAULT)?;
        Ok(n as usize)
    }

    /// `pwrite(fd)` of the `len` guest bytes at `gpa` to `offset`: the
    /// bytes written, `-EFAULT` if the range is not guest RAM.
    fn pwrite_from(&self, fd: RawFd, offset: u64, gpa: u64, len: u64) -> Result<usize, i64> {
        let buf = self.read(gpa, len).ok_or(-EFAULT)?;
        // SAFETY: writes buf.len() bytes from buf.
        let n = unsafe { libc::pwrite(fd, buf.as_ptr().cast(), buf.len(), offset as i64) };
        if n < 0 {
            return Err(errno());
        }
        Ok(n as usize)
    }
}
