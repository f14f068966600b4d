//! System V IPC (message queues, semaphore sets, shared memory) between
//! processes, /proc/sysvipc, the IPC limits and *_next_id under
//! /proc/sys/kernel, capability sets (capget/capset and setuid), POSIX
//! message queues (notifications by signal and by thread), and the
//! writable /proc/sys/fs limits (pipe-max-size, inotify), compared with a
//! native run, built with musl and with glibc.

use rvisor_tests::*;

#[test]
fn sysv_ipc_and_capabilities() {
    let programs = [c_program("sysvipc"), glibc_program("sysvipc")];
    if !require_kvm() {
        return;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        loud("SKIPPED sysv_ipc_and_capabilities: the native run needs root (capabilities)");
        return;
    }
    for prog in &programs {
        let native = run_native(prog, NO_ARGS, None);
        assert!(
            native.code() == 0 && native.stdout_str().contains("failures=0\n"),
            "sysvipc fails natively (fix the program):\n{}",
            native.describe()
        );
        let sandbox = run_sandbox(prog, NO_ARGS, &[], None);
        assert_same(&native, &sandbox, Compare::All);
    }
}

#[test]
fn posix_message_queues_musl() {
    let prog = c_program("mqueue");
    if !require_kvm() {
        return;
    }
    assert_conforms(&prog, NO_ARGS, NO_ARGS, &[], Compare::All);
}

#[test]
fn posix_message_queues_glibc() {
    let prog = glibc_program("mqueue");
    if !require_kvm() {
        return;
    }
    assert_conforms(&prog, NO_ARGS, NO_ARGS, &[], Compare::All);
}

#[test]
fn writable_fs_limits() {
    let programs = [c_program("sysctl_limits"), glibc_program("sysctl_limits")];
    if !require_kvm() {
        return;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        loud("SKIPPED writable_fs_limits: the native run needs root (it writes /proc/sys)");
        return;
    }
    for prog in &programs {
        let native = run_native(prog, NO_ARGS, None);
        assert!(
            native.code() == 0 && native.stdout_str().contains("failures=0\n"),
            "sysctl_limits fails natively (fix the program):\n{}",
            native.describe()
        );
        let sandbox = run_sandbox(prog, NO_ARGS, &[], None);
        assert_same(&native, &sandbox, Compare::All);
    }
}
