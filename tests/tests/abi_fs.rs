//! Linux ABI conformance, files: the tmpfs root, pipes and readiness, errno
//! values. Each C program runs natively (in a fresh directory under
//! `target/abi-work/`, or under /tmp) and in the sandbox (under the guest's
//! tmpfs; extended attributes too), and the
//! outputs must be byte-for-byte equal. The programs print only deterministic
//! facts and `failures=N`; a native run with failures is a broken test
//! program, reported as such.

use std::path::Path;

use rvisor_tests::abi::fresh_dir;
use rvisor_tests::*;

/// Runs `prog` natively with `native_args` and in the sandbox with
/// `sandbox_args` (plus `opts`), asserts the native run is clean and both
/// agree on stdout and exit status (and stderr when `cmp` says so).
fn conform(
    prog: &Path,
    native_args: &[&str],
    sandbox_args: &[&str],
    opts: &[&str],
    cmp: Compare,
) -> (RunOutput, RunOutput) {
    let native = run_native(prog, native_args, None);
    assert!(
        native.code() == 0 && native.stdout_str().contains("failures=0\n"),
        "the test program itself fails natively (fix the program, not the sandbox):\n{}",
        native.describe()
    );
    let sandbox = run_sandbox(prog, sandbox_args, opts, None);
    assert_same(&native, &sandbox, cmp);
    (native, sandbox)
}

#[test]
fn fs_tmpfs_in_tmp() {
    let prog = c_program("fs_tmpfs");
    if !require_kvm() {
        return;
    }
    let work = fresh_dir("fs_tmpfs");
    let w = work.join("w");
    conform(
        &prog,
        &[w.to_str().unwrap()],
        &["/tmp/fs_tmpfs"],
        &[],
        Compare::All,
    );
}

#[test]
fn fs_tmpfs_in_root_dir() {
    // `/` itself is a writable tmpfs in the sandbox.
    let prog = c_program("fs_tmpfs");
    if !require_kvm() {
        return;
    }
    let work = fresh_dir("fs_tmpfs_root");
    let w = work.join("w");
    conform(
        &prog,
        &[w.to_str().unwrap()],
        &["/fs_tmpfs_work"],
        &[],
        Compare::All,
    );
}

#[test]
fn fs_pipe() {
    let prog = c_program("fs_pipe");
    if !require_kvm() {
        return;
    }
    conform(&prog, &[], &[], &[], Compare::All);
}

#[test]
fn errors_are_linux_errors() {
    let prog = c_program("errors");
    if !require_kvm() {
        return;
    }
    let (_, sandbox) = conform(&prog, &[], &[], &[], Compare::All);
    assert!(sandbox.stdout_str().contains("EFAULT ok"), "{sandbox:?}");
}

#[test]
fn efault_does_not_kill_the_program() {
    // Bad pointers are EFAULT, never a fault of the program or of the sentry:
    // the program must reach its end (failures=... line) and exit normally.
    let prog = c_program("errors");
    if !require_kvm() {
        return;
    }
    let sandbox = run_sandbox(&prog, NO_ARGS, &[], None);
    assert_no_panic(&sandbox);
    assert!(
        sandbox.stdout_str().contains("failures="),
        "the program did not get to its end (killed?):\n{}",
        sandbox.describe()
    );
    assert!(
        sandbox.code() < 128,
        "the program was killed by a signal:\n{}",
        sandbox.describe()
    );
}

/// Extended attributes on the sandbox's tmpfs (natively: under /tmp).
#[test]
fn xattrs_musl() {
    let prog = c_program("xattr");
    if !require_kvm() {
        return;
    }
    assert_conforms(&prog, NO_ARGS, NO_ARGS, &[], Compare::All);
}

#[test]
fn xattrs_glibc() {
    let prog = glibc_program("xattr");
    if !require_kvm() {
        return;
    }
    assert_conforms(&prog, NO_ARGS, NO_ARGS, &[], Compare::All);
}

/// statmount(2), listmount(2) and statx's mount ids (STATX_MNT_ID,
/// STATX_MNT_ID_UNIQUE): tmpfs and bind mounts described, listed in order
/// and by pages, a chrooted unprivileged child's reach (EPERM), new ids in
/// a new namespace, and the errors. Natively as root in a private mount
/// namespace, on a host kernel that has statmount (6.8 or later; the
/// program expects its 6.12+ string layout).
#[test]
fn fs_statmount_listmount() {
    if !require_kvm() {
        return;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        loud("SKIPPED fs_statmount_listmount: the native run needs root (mount namespaces)");
        return;
    }
    // SAFETY: statmount with null pointers only reads and writes through
    // them after checks: it fails (EFAULT) or is unknown (ENOSYS).
    let probe = unsafe { libc::syscall(457, 0usize, 0usize, 0usize, 0usize) };
    let errno = std::io::Error::last_os_error().raw_os_error();
    if probe == -1 && errno == Some(libc::ENOSYS) {
        loud("SKIPPED fs_statmount_listmount: the host kernel has no statmount");
        return;
    }
    for prog in [c_program("statmount"), glibc_program("statmount")] {
        assert_conforms(&prog, NO_ARGS, NO_ARGS, &[], Compare::All);
    }
}

/// Device nodes made by root with mknod: the sandbox's own devices by
/// number, ENXIO for a number with no driver.
#[test]
fn device_nodes() {
    let prog = c_program("devnodes");
    if !require_kvm() {
        return;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        loud("SKIPPED device_nodes: the native run needs root (CAP_MKNOD)");
        return;
    }
    assert_conforms(&prog, NO_ARGS, NO_ARGS, &[], Compare::All);
}

/// chroot (paths, "..", symlinks and getcwd in the new root; threads and
/// children; the errors) and F_SETPIPE_SZ / F_GETPIPE_SZ on pipes and
/// FIFOs. chroot and the EPERM checks need root natively.
#[test]
fn chroot_and_pipe_sizes() {
    let prog = c_program("chroot_pipes");
    if !require_kvm() {
        return;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        loud("SKIPPED chroot_and_pipe_sizes: the native run needs root");
        return;
    }
    let work = fresh_dir("chroot_pipes");
    let w = work.join("w");
    conform(
        &prog,
        &[w.to_str().unwrap()],
        &["/tmp/chroot_pipes"],
        &[],
        Compare::All,
    );
}

/// mount(2)/umount2(2): tmpfs instances with options, bind mounts, stacked
/// mounts, /proc/self/mounts and its EPOLLPRI change notice (natively in a
/// private mount namespace of its own, as root).
#[test]
fn fs_mount_umount() {
    for prog in [c_program("mount"), glibc_program("mount")] {
        if !require_kvm() {
            return;
        }
        assert_conforms(&prog, NO_ARGS, NO_ARGS, &[], Compare::All);
    }
}
