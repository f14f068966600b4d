//! Linux ABI conformance: /dev and /proc, time, identity and limits.

use rvisor_tests::*;

#[test]
fn dev_and_proc() {
    let prog = c_program("dev_proc");
    if !require_kvm() {
        return;
    }
    let native = run_native(&prog, NO_ARGS, None);
    assert!(
        native.code() == 0 && native.stdout_str().contains("failures=0\n"),
        "dev_proc fails natively (fix the program):\n{}",
        native.describe()
    );
    let sandbox = run_sandbox(&prog, NO_ARGS, &[], None);
    assert_same(&native, &sandbox, Compare::All);
}

#[test]
fn time_identity_limits() {
    let prog = c_program("time_misc");
    if !require_kvm() {
        return;
    }
    let native = run_native(&prog, NO_ARGS, None);
    assert!(
        native.code() == 0 && native.stdout_str().contains("failures=0\n"),
        "time_misc fails natively (fix the program):\n{}",
        native.describe()
    );
    let sandbox = run_sandbox(&prog, NO_ARGS, &[], None);
    assert_same(&native, &sandbox, Compare::All);
}

#[test]
fn vdso_time_agrees_with_the_syscalls() {
    let prog = c_program("vdso_time");
    if !require_kvm() {
        return;
    }
    let native = run_native(&prog, NO_ARGS, None);
    let sandbox = run_sandbox(&prog, NO_ARGS, &[], None);
    assert_same(&native, &sandbox, Compare::All);
    assert!(
        sandbox
            .stdout_str()
            .contains("AT_SYSINFO_EHDR present: yes"),
        "{}",
        sandbox.describe()
    );
}

#[test]
fn credentials_follow_linux_rules() {
    let prog = c_program("credentials");
    if !require_kvm() {
        return;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        loud("SKIPPED credentials_follow_linux_rules: the native run needs root");
        return;
    }
    let native = run_native(&prog, NO_ARGS, None);
    let sandbox = run_sandbox(&prog, NO_ARGS, &[], None);
    assert_same(&native, &sandbox, Compare::All);
}
