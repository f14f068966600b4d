//! The VMM's jail: what a VMM compromised through a guest bug can still
//! reach. Entered once /dev/kvm, the VM, the mount directories and the
//! program are open and before any other thread starts (Landlock and
//! capabilities are per thread; threads started later inherit them):
//!
//! 1. File-system reach: a Landlock ruleset that grants the mount
//!    directories (read-only mounts: read; `:rw`: read, write, create
//!    files, directories and symlinks, remove, rename) and nothing else on
//!    the host: no other path can be opened, executed or created, no
//!    device, FIFO or socket node made, no TCP bind/connect, no signal to
//!    or abstract socket of a process outside. Files opened before (the
//!    KVM fds, stdio) keep working.
//! 2. Credentials: the bounding and ambient capability sets are cleared,
//!    the process switches to `--uid/--gid` (under sudo, by default, to
//!    SUDO_UID/SUDO_GID) and drops every capability, sets no_new_privs,
//!    and becomes non-dumpable (no ptrace or /proc access by other
//!    processes of the same user).
//! 3. The per-thread seccomp filters (`crate::seccomp`), installed by each
//!    thread after this.
//!
//! `--no-jail` skips all three (debugging: gdb, strace, perf).

use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use landlock::{
    Access, AccessFs, AccessNet, CompatLevel, Compatible, LandlockStatus, PathBeneath, Ruleset,
    RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope, ABI,
};

use crate::error::{internal, Failure};

/// The Landlock ABI whose rights this jail was written and tested for.
const LANDLOCK_ABI: ABI = ABI::V6;

/// What the user asked for.
#[derive(Clone, Debug, Default)]
pub struct JailOptions {
    /// `--no-jail`: run with the invoking user's full privileges and no
    /// seccomp filter.
    pub disabled: bool,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

/// How the file-system reach was restricted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FsWall {
    /// Landlock, with the kernel's ABI version.
    Landlock(i32),
    /// The kernel has no Landlock: only seccomp and the dropped
    /// privileges stand between a compromised VMM and the host's files.
    Unavailable,
    /// --no-jail.
    None,
}

/// What the jail did, for -v and the tests.
#[derive(Clone, Debug)]
pub struct JailReport {
    pub fs: FsWall,
    pub ids: (u32, u32),
    pub took: Duration,
}

/// The ids to run as: `--uid/--gid`, else SUDO_UID/SUDO_GID when running
/// as root under sudo, else none (stay, without capabilities).
fn target_ids(options: &JailOptions) -> Result<Option<(u32, u32)>, Failure> {
    let from_env = |name: &str| -> Option<u32> { std::env::var(name).ok()?.parse().ok() };
    // SAFETY: geteuid only reads the process's id.
    let root = unsafe { libc::geteuid() } == 0;
    let uid = options
        .uid
        .or_else(|| root.then(|| from_env("SUDO_UID")).flatten());
    let Some(uid) = uid else {
        return match options.gid {
            Some(_) => Err(internal("--gid needs --uid")),
            None => Ok(None),
        };
    };
    let gid = match options.gid {
        Some(gid) => gid,
        None if options.uid.is_none() => from_env("SUDO_GID").unwrap_or_else(|| primary_gid(uid)),
        None => primary_gid(uid),
    };
    Ok(Some((uid, gid)))
}

/// The user's primary group from the password database, else the same
/// number as the uid.
fn primary_gid(uid: u32) -> u32 {
    let mut pwd: libc::passwd =
        // SAFETY: passwd is plain data filled by getpwuid_r.
        unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 16384];
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: getpwuid_r writes into `pwd` and `buf`, both ours and sized.
    let r = unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) };
    if r == 0 && !result.is_null() {
        pwd.pw_gid
    } else {
        uid
    }
}

/// Enters the jail. `mounts`: each mount's directory fd and whether it is
/// writable. Must run while the process has one thread.
pub fn enter(
    options: &JailOptions,
    mounts: &[(BorrowedFd<'_>, bool)],
    tcp_connect: bool,
) -> Result<JailReport, Failure> {
    let started = Instant::now();
    let ids = target_ids(options)?;
    if options.disabled {
        // SAFETY: geteuid/getegid only read the process's ids.
        let ids = unsafe { (libc::geteuid(), libc::getegid()) };
        return Ok(JailReport {
            fs: FsWall::None,
            ids,
            took: started.elapsed(),
        });
    }
    let fs = restrict_files(mounts, tcp_connect)?;
    drop_privileges(ids)?;
    // SAFETY: geteuid/getegid only read the process's ids.
    let ids = unsafe { (libc::geteuid(), libc::getegid()) };
    let report = JailReport {
        fs,
        ids,
        took: started.elapsed(),
    };
    log::info!(
        "jail: files {:?}, uid {} gid {}, no capabilities, entered in {:?}",
        report.fs,
        report.ids.0,
        report.ids.1,
        report.took
    );
    Ok(report)
}

/// The Landlock ruleset: the mounts and nothing else.
/// `tcp_connect` (--net): outgoing TCP connections stay possible (the
/// network thread's seccomp filter and --net-allow decide where to).
fn restrict_files(mounts: &[(BorrowedFd<'_>, bool)], tcp_connect: bool) -> Result<FsWall, Failure> {
    let fail = |e: &dyn std::fmt::Display| internal(format!("jail: Landlock: {e}"));
    let abi = LANDLOCK_ABI;
    let read = AccessFs::ReadFile | AccessFs::ReadDir;
    let write = read
        | AccessFs::WriteFile
        | AccessFs::RemoveDir
        | AccessFs::RemoveFile
        | AccessFs::MakeDir
        | AccessFs::MakeReg
        | AccessFs::MakeSym
        | AccessFs::Refer
        | AccessFs::Truncate;
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(abi))
        .map_err(|e| fail(&e))?
        // No TCP bind at all; no connect unless --net.
        .handle_access(if tcp_connect {
            AccessNet::BindTcp.into()
        } else {
            AccessNet::from_all(abi)
        })
        .map_err(|e| fail(&e))?
        .scope(Scope::from_all(abi))
        .map_err(|e| fail(&e))?
        .create()
        .map_err(|e| fail(&e))?;
    for &(fd, writable) in mounts {
        let access = if writable { write } else { read };
        ruleset = ruleset
            .add_rule(PathBeneath::new(fd, access))
            .map_err(|e| fail(&e))?;
    }
    let status = ruleset.restrict_self().map_err(|e| fail(&e))?;
    Ok(match (status.ruleset, status.landlock) {
        (RulesetStatus::NotEnforced, _) => FsWall::Unavailable,
        (_, LandlockStatus::Available { effective_abi, .. }) => {
            FsWall::Landlock(effective_abi as i32)
        }
        _ => FsWall::Unavailable,
    })
}

const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

fn os_error(what: &str) -> Failure {
    internal(format!("jail: {what}: {}", std::io::Error::last_os_error()))
}

/// Clears the bounding and ambient sets, switches ids, drops every
/// capability, sets no_new_privs and makes the process non-dumpable.
fn drop_privileges(ids: Option<(u32, u32)>) -> Result<(), Failure> {
    // The bounding set (needs CAP_SETPCAP, which only root has: without it
    // the process cannot gain anything back anyway).
    for cap in 0..64 {
        // SAFETY: prctl with integer arguments.
        if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) } != 0 {
            let e = std::io::Error::last_os_error().raw_os_error();
            if e == Some(libc::EINVAL) {
                break; // past the last capability this kernel knows
            }
            if e != Some(libc::EPERM) {
                return Err(os_error("dropping the capability bounding set"));
            }
        }
    }
    // SAFETY: prctl with integer arguments.
    unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        )
    };
    if let Some((uid, gid)) = ids {
        // SAFETY: setgroups with an empty list, setresgid/setresuid with
        // plain ids; libc applies them to every thread (there is one).
        unsafe {
            if libc::setgroups(0, std::ptr::null()) != 0 && libc::geteuid() == 0 {
                return Err(os_error("setgroups"));
            }
            if libc::setresgid(gid, gid, gid) != 0 {
                return Err(os_error(&format!("switching to gid {gid}")));
            }
            if libc::setresuid(uid, uid, uid) != 0 {
                return Err(os_error(&format!("switching to uid {uid}")));
            }
        }
    }
    let header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [CapData::default(); 2];
    // SAFETY: capset reads one header and two data structs we own.
    if unsafe { libc::syscall(libc::SYS_capset, &header, data.as_ptr()) } != 0 {
        return Err(os_error("dropping capabilities"));
    }
    // SAFETY: prctl with integer arguments.
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return Err(os_error("no_new_privs"));
        }
        // Other processes of the same user may not ptrace it or read its
        // memory through /proc (root with CAP_SYS_PTRACE still can).
        if libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 {
            return Err(os_error("PR_SET_DUMPABLE"));
        }
    }
    Ok(())
}
