//! The VMM's seccomp filters, one per thread role, with argument checks.
//!
//! Once the VM is built and the jail entered (`crate::jail`), each thread
//! installs the filter of its role: the vCPU thread (KVM_RUN, the console,
//! the host-file service) and the event thread (the tick and forwarded
//! signals). Anything else kills the process. Each role's rules are built
//! from small functions ([`common`], [`vcpu_thread`], [`host_files`],
//! [`event_thread`]); a feature that needs more (a socket for --net, a
//! control socket, an I/O thread) adds its own function and merges it into
//! the role it runs in with [`Rules::merge`].
//!
//! Seccomp cannot read path strings: what a path may reach is the
//! jail's Landlock ruleset (or mount namespace). What the filters add is
//! that no call takes a path from the root or the working directory
//! (dirfd AT_FDCWD), no chmod/chown/mknod-class call exists at all, modes
//! never carry setuid/setgid, renames never RENAME_WHITEOUT, memory is
//! never made executable, ioctls are the KVM ones on the VM's own fds,
//! and signals go to the VMM's own threads only.

use std::collections::BTreeMap;
use std::os::fd::RawFd;

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

/// AT_FDCWD as the kernel compares it (the low 32 bits of the argument).
const AT_FDCWD: u64 = libc::AT_FDCWD as u32 as u64;

/// The file-creation and mode bits no call may carry.
const SETID_BITS: u64 = (libc::S_ISUID | libc::S_ISGID) as u64;

/// open flags the host-file service reopens its handles with (relative to
/// /proc/self/fd): no O_CREAT, O_TRUNC, O_TMPFILE, O_PATH...
const REOPEN_FLAGS: u64 = (libc::O_ACCMODE
    | libc::O_CLOEXEC
    | libc::O_DIRECTORY
    | libc::O_NONBLOCK
    | libc::O_LARGEFILE
    | libc::O_NOFOLLOW) as u64;

/// A role's allow-list: syscall number to the rules (alternatives) under
/// which it is allowed; an empty list allows it with any arguments.
#[derive(Default)]
pub struct Rules(BTreeMap<i64, Vec<SeccompRule>>);

/// One argument condition (a 64-bit comparison unless `dword`).
fn cond(arg: u8, op: SeccompCmpOp, value: u64) -> SeccompCondition {
    SeccompCondition::new(arg, SeccompCmpArgLen::Qword, op, value).expect("argument index < 6")
}

/// A condition on the low 32 bits (an int argument: fds, flags, modes).
fn cond32(arg: u8, op: SeccompCmpOp, value: u64) -> SeccompCondition {
    SeccompCondition::new(arg, SeccompCmpArgLen::Dword, op, value).expect("argument index < 6")
}

/// `arg` is not AT_FDCWD: the call is relative to a descriptor.
fn not_cwd(arg: u8) -> SeccompCondition {
    cond32(arg, SeccompCmpOp::Ne, AT_FDCWD)
}

/// No bit of `forbidden` is set in `arg`.
fn none_of(arg: u8, forbidden: u64) -> SeccompCondition {
    cond(arg, SeccompCmpOp::MaskedEq(forbidden), 0)
}

impl Rules {
    /// Allows `syscalls` with any arguments.
    pub fn allow(mut self, syscalls: &[i64]) -> Rules {
        for &nr in syscalls {
            self.0.insert(nr, Vec::new());
        }
        self
    }

    /// Allows `nr` when all `conditions` hold (one more alternative).
    pub fn allow_if(mut self, nr: i64, conditions: Vec<SeccompCondition>) -> Rules {
        let rule = SeccompRule::new(conditions).expect("at least one condition");
        match self.0.get_mut(&nr) {
            // Already allowed with any arguments.
            Some(rules) if rules.is_empty() => {}
            Some(rules) => rules.push(rule),
            None => {
                self.0.insert(nr, vec![rule]);
            }
        }
        self
    }

    /// The union of two allow-lists.
    pub fn merge(mut self, other: Rules) -> Rules {
        for (nr, rules) in other.0 {
            match self.0.get_mut(&nr) {
                Some(mine) if mine.is_empty() => {}
                Some(mine) if rules.is_empty() => mine.clear(),
                Some(mine) => mine.extend(rules),
                None => {
                    self.0.insert(nr, rules);
                }
            }
        }
        self
    }

    /// Whether `nr` is allowed in some form.
    pub fn allows(&self, nr: i64) -> bool {
        self.0.contains_key(&nr)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The BPF program: anything not allowed kills the process.
    pub fn compile(self) -> Result<BpfProgram, Failure> {
        let fail = |e: &dyn std::fmt::Display| internal(format!("building a seccomp filter: {e}"));
        let filter = SeccompFilter::new(
            self.0,
            SeccompAction::KillProcess,
            SeccompAction::Allow,
            TARGET_ARCH,
        )
        .map_err(|e| fail(&e))?;
        filter
            .try_into()
            .map_err(|e: seccompiler::BackendError| fail(&e))
    }
}

/// Keeps glibc malloc inside the filters. When a thread's own arena gives
/// memory back, glibc first reads /proc/sys/vm/overcommit_memory once
/// (`openat(AT_FDCWD, ...)`), which no role allows: the I/O threads'
/// large transfer buffers made that happen now and then, and seccomp
/// killed the VMM after the guest had finished. With one arena every
/// thread allocates from the main heap, which shrinks with brk only.
pub fn prepare_allocator() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets a malloc tunable; it is called first
    // thing in main, before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// What every thread needs: memory, locks, time, its signal mask, exit.
pub fn common() -> Rules {
    let own_pid = std::process::id() as u64;
    let rules = Rules::default()
        .allow(&[
            // Memory for buffers (malloc); never executable (below).
            libc::SYS_munmap,
            libc::SYS_mremap,
            libc::SYS_brk,
            libc::SYS_madvise,
            libc::SYS_futex,
            libc::SYS_sched_yield,
            libc::SYS_sched_getaffinity,
            libc::SYS_getrandom,
            libc::SYS_gettid,
            libc::SYS_getpid,
            libc::SYS_nanosleep,
            libc::SYS_clock_nanosleep,
            libc::SYS_clock_gettime,
            libc::SYS_sigaltstack,
            libc::SYS_rt_sigprocmask,
            libc::SYS_rt_sigreturn,
            // A blocking call interrupted by a ptrace stop (a debugger, or
            // the injection test) resumes through it.
            libc::SYS_restart_syscall,
            // Thread start-up (glibc), should a thread start after it.
            libc::SYS_rseq,
            libc::SYS_set_robust_list,
            libc::SYS_exit,
            libc::SYS_exit_group,
            // Logging and errors to stderr (console output is the vCPU
            // thread's, below).
            libc::SYS_write,
            libc::SYS_writev,
        ])
        // glibc malloc: arena set-up (mprotect of its own reservations).
        .allow_if(libc::SYS_mmap, vec![none_of(2, libc::PROT_EXEC as u64)])
        .allow_if(libc::SYS_mprotect, vec![none_of(2, libc::PROT_EXEC as u64)])
        // Signals only to the VMM's own threads (the kick).
        .allow_if(libc::SYS_tgkill, vec![cond32(0, SeccompCmpOp::Eq, own_pid)]);
    // musl's open() sets O_CLOEXEC again with fcntl(F_SETFD).
    #[cfg(target_env = "musl")]
    let rules = rules.allow_if(
        libc::SYS_fcntl,
        vec![cond32(1, SeccompCmpOp::Eq, libc::F_SETFD as u64)],
    );
    rules
}

/// The event thread: the tick and the signals sent to rvisor-vmm. No
/// file, no ioctl.
pub fn event_thread() -> Rules {
    common().allow(&[libc::SYS_rt_sigtimedwait])
}

/// The teardown keeper (`crate::teardown`): a read of its pipe, and exit.
pub fn teardown_keeper(pipe: RawFd) -> Rules {
    Rules::default().allow(&[libc::SYS_exit]).allow_if(
        libc::SYS_read,
        vec![cond32(0, SeccompCmpOp::Eq, pipe as u64)],
    )
}

/// The network I/O thread (`crate::net::io`, only with `--net` or
/// `--publish`): its doorbell and wake-up eventfds, the host sockets it
/// holds. `--net` adds new sockets (AF_INET and AF_INET6 only) and
/// `connect`; `--publish` adds `accept4` on its listeners (bound before the
/// jail). No file call, no ioctl.
pub fn net_thread(net: &crate::net::NetConfig) -> Rules {
    let mut rules = common().allow(&[
        libc::SYS_read,
        #[cfg(target_arch = "x86_64")]
        libc::SYS_poll,
        libc::SYS_ppoll,
        libc::SYS_close,
        libc::SYS_sendto,
        libc::SYS_recvfrom,
        libc::SYS_shutdown,
        libc::SYS_getsockname,
        libc::SYS_getsockopt,
        libc::SYS_setsockopt,
    ]);
    if net.outbound {
        for family in [libc::AF_INET, libc::AF_INET6] {
            rules = rules.allow_if(
                libc::SYS_socket,
                vec![cond32(0, SeccompCmpOp::Eq, family as u64)],
            );
        }
        rules = rules.allow(&[libc::SYS_connect]);
    }
    if !net.publish.is_empty() {
        rules = rules.allow(&[libc::SYS_accept4]);
    }
    rules
}

/// The control thread (`crate::exec`, only under `rvisor-runtime`): its
/// listener (bound before the jail), the clients it accepts and the
/// descriptors they pass, its wake-up eventfd. No file call, no ioctl, no
/// new socket.
pub fn control_thread() -> Rules {
    common().allow(&[
        libc::SYS_read,
        #[cfg(target_arch = "x86_64")]
        libc::SYS_poll,
        libc::SYS_ppoll,
        libc::SYS_close,
        libc::SYS_accept4,
        libc::SYS_recvmsg,
        // std's socket read and write (send with MSG_NOSIGNAL).
        libc::SYS_recvfrom,
        libc::SYS_sendto,
        libc::SYS_setsockopt,
    ])
}

/// The host-file I/O thread (`crate::fsring`): the host-file service, its
/// wake-ups (a condition variable: futex) and prefault (madvise, in the
/// common set). No ioctl, no socket.
pub fn fsring_thread() -> Rules {
    common()
        .allow(&[libc::SYS_read, libc::SYS_pread64, libc::SYS_close])
        .merge(host_files())
}

/// The KVM fds of the VM the vCPU thread runs.
#[derive(Clone, Copy)]
pub struct KvmFds {
    pub vm: RawFd,
    pub vcpu: RawFd,
}

/// The vCPU thread: KVM_RUN and the few vCPU ioctls, the console (stdin,
/// stdout, stderr: read, write, poll), the stats fd, the host-file service.
pub fn vcpu_thread(kvm: KvmFds) -> Rules {
    let mut rules = common().allow(&[
        libc::SYS_read,
        libc::SYS_pread64,
        // The sentry's one-shot timer (`crate::vcpu::set_timer`).
        libc::SYS_timer_settime,
        libc::SYS_timer_delete,
        // The idle sleep's timerfd (`crate::vcpu::arm_sleep`).
        libc::SYS_timerfd_settime,
        #[cfg(target_arch = "x86_64")]
        libc::SYS_poll,
        libc::SYS_ppoll,
        libc::SYS_close,
    ]);
    for request in std::iter::once(KVM_RUN()).chain(arch::seccomp_ioctls()) {
        rules = rules.allow_if(
            libc::SYS_ioctl,
            vec![
                cond32(0, SeccompCmpOp::Eq, kvm.vcpu as u64),
                cond32(1, SeccompCmpOp::Eq, request),
            ],
        );
    }
    for request in arch::seccomp_vm_ioctls() {
        rules = rules.allow_if(
            libc::SYS_ioctl,
            vec![
                cond32(0, SeccompCmpOp::Eq, kvm.vm as u64),
                cond32(1, SeccompCmpOp::Eq, request),
            ],
        );
    }
    rules.merge(host_files())
}

/// The host-file service (`crate::hostfs`): every call is relative to a
/// descriptor the VMM opened (a mount's directory, a handle, or
/// /proc/self/fd for reopening a handle), with the flags it uses.
pub fn host_files() -> Rules {
    let empty_path = libc::AT_EMPTY_PATH as u64;
    Rules::default()
        .allow(&[
            libc::SYS_pwrite64,
            libc::SYS_fstat,
            // --root: the filesystem type of a mount point a lookup enters;
            // HostStatfs.
            libc::SYS_fstatfs,
            libc::SYS_getdents64,
            // Directory listings resume at the host's d_off cookie.
            libc::SYS_lseek,
            libc::SYS_ftruncate,
            libc::SYS_fsync,
        ])
        // Lookups and creation: openat2 RESOLVE_BENEATH from a mount's
        // fd (its open_how is behind a pointer, which seccomp cannot read:
        // the jail's Landlock rules hold the paths).
        .allow_if(libc::SYS_openat2, vec![not_cwd(0)])
        // Reopening a handle through /proc/self/fd: never creating.
        .allow_if(
            libc::SYS_openat,
            vec![not_cwd(0), none_of(2, !REOPEN_FLAGS & 0xffff_ffff)],
        )
        .allow_if(libc::SYS_newfstatat, vec![not_cwd(0)])
        .allow_if(libc::SYS_readlinkat, vec![not_cwd(0)])
        .allow_if(libc::SYS_mkdirat, vec![not_cwd(0), none_of(2, SETID_BITS)])
        .allow_if(libc::SYS_unlinkat, vec![not_cwd(0)])
        .allow_if(libc::SYS_symlinkat, vec![not_cwd(1)])
        .allow_if(
            libc::SYS_linkat,
            vec![
                not_cwd(0),
                not_cwd(2),
                cond32(4, SeccompCmpOp::Eq, libc::AT_SYMLINK_FOLLOW as u64),
            ],
        )
        // RENAME_NOREPLACE | RENAME_EXCHANGE only (RENAME_WHITEOUT makes a
        // character device).
        .allow_if(
            libc::SYS_renameat2,
            vec![not_cwd(0), not_cwd(2), none_of(4, !3u64 & 0xffff_ffff)],
        )
        .allow_if(
            libc::SYS_utimensat,
            vec![not_cwd(0), cond32(3, SeccompCmpOp::Eq, empty_path)],
        )
        // chmod of a handle itself, never setuid/setgid.
        .allow_if(
            crate::hostfs::SYS_FCHMODAT2,
            vec![
                not_cwd(0),
                none_of(2, SETID_BITS),
                cond32(3, SeccompCmpOp::Eq, empty_path),
            ],
        )
        .allow_if(libc::SYS_fchmod, vec![none_of(1, SETID_BITS)])
}

/// Installs `program` on the calling thread only (threads it starts
/// later inherit it).
pub fn apply_to_this_thread(program: &BpfProgram) -> Result<(), Failure> {
    seccompiler::apply_filter(program)
        .map_err(|e| internal(format!("installing a seccomp filter: {e}")))
}

/// A thread [`spawn_filtered_thread`] started, on its way to its filter.
#[must_use = "wait() reports a filter the thread could not install"]
pub struct ThreadStarting {
    what: String,
    installed: std::sync::mpsc::Receiver<Result<(), Failure>>,
}

impl ThreadStarting {
    /// Returns once the thread's filter is in place (its start-up, which
    /// makes calls the filter refuses, is over); a filter that could not
    /// be installed is the caller's error.
    pub fn wait(self) -> Result<(), Failure> {
        self.installed
            .recv()
            .map_err(|_| internal(format!("the {} did not start", self.what)))?
    }
}

/// Starts a VMM thread named `name` that installs `filter` (if any) on
/// itself, then runs `body`; `what` names it in errors. The threads of a
/// VM start together and are waited for together (installing a filter
/// costs ~0.3 ms here: the BPF JIT), after the vCPU thread's own filter.
pub fn spawn_filtered_thread(
    name: &str,
    what: &str,
    filter: Option<BpfProgram>,
    body: impl FnOnce() + Send + 'static,
) -> Result<ThreadStarting, Failure> {
    let (started, installed) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            if let Some(filter) = &filter {
                if let Err(e) = apply_to_this_thread(filter) {
                    let _ = started.send(Err(e));
                    return;
                }
            }
            let _ = started.send(Ok(()));
            body()
        })
        .map_err(|e| internal(format!("starting the {what}: {e}")))?;
    Ok(ThreadStarting {
        what: what.into(),
        installed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_compile_and_separate() {
        let kvm = KvmFds { vm: 5, vcpu: 6 };
        let vcpu = vcpu_thread(kvm);
        let events = event_thread();
        assert!(vcpu.allows(libc::SYS_ioctl) && vcpu.allows(libc::SYS_openat2));
        assert!(!events.allows(libc::SYS_ioctl) && !events.allows(libc::SYS_openat2));
        for forbidden in [
            libc::SYS_fchmodat,
            libc::SYS_fchownat,
            libc::SYS_fchown,
            libc::SYS_mknodat,
            libc::SYS_execve,
            libc::SYS_socket,
            libc::SYS_ptrace,
            libc::SYS_setresuid,
            libc::SYS_capset,
            libc::SYS_truncate,
        ] {
            assert!(!vcpu.allows(forbidden), "syscall {forbidden} allowed");
        }
        // The control thread: no file, no ioctl, no new socket.
        let control = control_thread();
        for forbidden in [
            libc::SYS_ioctl,
            libc::SYS_openat,
            libc::SYS_openat2,
            libc::SYS_socket,
            libc::SYS_connect,
            libc::SYS_execve,
        ] {
            assert!(!control.allows(forbidden), "syscall {forbidden} allowed");
        }
        assert!(control.allows(libc::SYS_accept4) && control.allows(libc::SYS_recvmsg));
        control.compile().expect("control filter");
        vcpu.compile().expect("vcpu filter");
        events.compile().expect("event filter");
    }
}
