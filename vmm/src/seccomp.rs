//! The VMM's own sandbox: once the VM is built, rvisor-vmm drops to a
//! seccomp allow-list of what the vCPU loop and the hypercall server need.
//! A VMM compromised through a guest bug can then run KVM_RUN, move console
//! bytes and exit, and nothing else; any other syscall kills the process.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use crate::error::{internal, Failure};

vmm_sys_util::ioctl_io_nr!(KVM_RUN, kvm_bindings::KVMIO, 0x80);

#[cfg(target_arch = "aarch64")]
use crate::aarch64 as arch;
#[cfg(target_arch = "x86_64")]
use crate::x86_64 as arch;

#[cfg(target_arch = "aarch64")]
const TARGET_ARCH: TargetArch = TargetArch::aarch64;
#[cfg(target_arch = "x86_64")]
const TARGET_ARCH: TargetArch = TargetArch::x86_64;

/// Syscalls allowed with any arguments.
const ALLOWED: &[i64] = &[
    // Console and stats I/O.
    libc::SYS_read,
    libc::SYS_write,
    libc::SYS_writev,
    libc::SYS_pread64,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_poll,
    libc::SYS_ppoll,
    libc::SYS_close,
    // Shared host directories (--mount): every path is one component,
    // relative to an fd the VMM opened (openat2 RESOLVE_BENEATH), or
    // /proc/self/fd/N of such an fd.
    libc::SYS_openat,
    libc::SYS_openat2,
    // musl's open() sets O_CLOEXEC again with fcntl(F_SETFD).
    #[cfg(target_env = "musl")]
    libc::SYS_fcntl,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_open,
    // (aarch64 has no open, poll, chmod, chown: libc uses the *at/ppoll forms.)
    libc::SYS_fstat,
    libc::SYS_newfstatat,
    // --root: the filesystem type of a mount point a lookup would enter.
    libc::SYS_fstatfs,
    libc::SYS_getdents64,
    // Directory listings resume at the host's d_off cookie.
    libc::SYS_lseek,
    libc::SYS_mkdirat,
    libc::SYS_unlinkat,
    libc::SYS_renameat2,
    libc::SYS_linkat,
    libc::SYS_symlinkat,
    libc::SYS_readlinkat,
    libc::SYS_truncate,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_chmod,
    libc::SYS_fchmodat,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_chown,
    libc::SYS_fchownat,
    libc::SYS_utimensat,
    libc::SYS_fsync,
    libc::SYS_pwrite64,
    // Memory for request buffers.
    libc::SYS_mmap,
    libc::SYS_munmap,
    libc::SYS_mremap,
    libc::SYS_brk,
    libc::SYS_madvise,
    // glibc malloc on a new thread's first allocation: arena set-up.
    libc::SYS_mprotect,
    libc::SYS_sched_getaffinity,
    libc::SYS_getrandom,
    libc::SYS_gettid,
    libc::SYS_getpid,
    // Thread start-up (glibc), should a thread start after the filter.
    libc::SYS_rseq,
    libc::SYS_set_robust_list,
    // The kick (a real-time signal to the vCPU thread, see crate::vcpu)
    // and the event thread taking the signals sent to rvisor-vmm.
    libc::SYS_tgkill,
    libc::SYS_rt_sigtimedwait,
    // Signals, time.
    libc::SYS_futex,
    libc::SYS_sched_yield,
    libc::SYS_nanosleep,
    libc::SYS_clock_nanosleep,
    libc::SYS_clock_gettime,
    libc::SYS_sigaltstack,
    libc::SYS_rt_sigprocmask,
    libc::SYS_rt_sigreturn,
    libc::SYS_exit,
    libc::SYS_exit_group,
];

fn ioctl_rules() -> Result<Vec<SeccompRule>, seccompiler::BackendError> {
    // (musl's ioctl request constants are c_int, glibc's c_ulong.)
    #[allow(clippy::unnecessary_cast)]
    let tty = [libc::TCGETS as u64, libc::TIOCGWINSZ as u64];
    [KVM_RUN()]
        .into_iter()
        .chain(tty)
        .chain(arch::seccomp_ioctls())
        .map(|request| {
            SeccompRule::new(vec![SeccompCondition::new(
                1,
                SeccompCmpArgLen::Dword,
                SeccompCmpOp::Eq,
                request,
            )?])
        })
        .collect()
}

/// What the network I/O thread needs once a host socket exists (`--net`
/// or `--publish`): moving data, shutting down, reading names and errors.
const NET_ALLOWED: &[i64] = &[
    libc::SYS_sendto,
    libc::SYS_recvfrom,
    libc::SYS_shutdown,
    libc::SYS_getsockname,
    libc::SYS_getsockopt,
    libc::SYS_setsockopt,
];

/// Installs the filter on every thread of the process. Networking adds
/// only what it uses: `--net` new sockets (AF_INET and AF_INET6 only) and
/// `connect`; `--publish` `accept4` on its listeners.
pub fn apply(net: &crate::net::NetConfig) -> Result<(), Failure> {
    let fail = |e: &dyn std::fmt::Display| internal(format!("building the seccomp filter: {e}"));
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> =
        ALLOWED.iter().map(|&nr| (nr, Vec::new())).collect();
    rules.insert(libc::SYS_ioctl, ioctl_rules().map_err(|e| fail(&e))?);
    if net.enabled() {
        for &nr in NET_ALLOWED {
            rules.insert(nr, Vec::new());
        }
    }
    if net.outbound {
        let family = |f: i32| {
            SeccompCondition::new(0, SeccompCmpArgLen::Dword, SeccompCmpOp::Eq, f as u64)
                .and_then(|c| SeccompRule::new(vec![c]))
        };
        let families = vec![
            family(libc::AF_INET).map_err(|e| fail(&e))?,
            family(libc::AF_INET6).map_err(|e| fail(&e))?,
        ];
        rules.insert(libc::SYS_socket, families);
        rules.insert(libc::SYS_connect, Vec::new());
    }
    if !net.publish.is_empty() {
        rules.insert(libc::SYS_accept4, Vec::new());
    }
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::KillProcess,
        SeccompAction::Allow,
        TARGET_ARCH,
    )
    .map_err(|e| fail(&e))?;
    let program: BpfProgram = filter
        .try_into()
        .map_err(|e: seccompiler::BackendError| fail(&e))?;
    seccompiler::apply_filter_all_threads(&program)
        .map_err(|e| internal(format!("installing the seccomp filter: {e}")))?;
    log::debug!(
        "seccomp: {} syscalls allowed, everything else kills rvisor-vmm",
        ALLOWED.len() + 1
    );
    Ok(())
}
