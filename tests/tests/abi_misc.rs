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

/// File permission checks for a process that dropped root (and setfsuid,
/// owners of new files, sticky and set-group-ID directories), in the
/// sandbox's /tmp and on a read-write `--mount`, musl and glibc.
#[test]
fn permissions_for_a_process_that_dropped_root() {
    let programs = [c_program("permissions"), glibc_program("permissions")];
    if !require_kvm() {
        return;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        loud("SKIPPED permissions_for_a_process_that_dropped_root: the native run needs root");
        return;
    }
    for (i, prog) in programs.iter().enumerate() {
        let native_dir = rvisor_tests::abi::fresh_dir(&format!("perm_native{i}"));
        let native = run_native(prog, &[native_dir.to_str().unwrap()], None);
        assert!(
            native.code() == 0 && native.stdout_str().contains("failures=0\n"),
            "permissions fails natively (fix the program):\n{}",
            native.describe()
        );
        let in_tmp = run_sandbox(prog, &["/tmp"], &[], None);
        assert_same(&native, &in_tmp, Compare::All);
    }
}

/// seccomp: strict mode, BPF filters and their actions (ERRNO, TRAP with
/// its siginfo, KILL_PROCESS, KILL_THREAD), precedence, inheritance,
/// TSYNC, the load-time checks, /proc and prctl; musl and glibc.
#[test]
fn seccomp_filters() {
    let programs = [c_program("seccomp"), glibc_program("seccomp")];
    if !require_kvm() {
        return;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        loud("SKIPPED seccomp_filters: the native run needs root");
        return;
    }
    for prog in &programs {
        assert_conforms(prog, NO_ARGS, NO_ARGS, &[], Compare::All);
    }
}

/// Scheduling policies, priorities and nice values, on the caller and on
/// another process, SCHED_RESET_ON_FORK, sched_setattr/getattr, and the
/// refusals for a process that dropped root; musl and glibc.
#[test]
fn scheduling_attributes() {
    let programs = [c_program("sched_attrs"), glibc_program("sched_attrs")];
    if !require_kvm() {
        return;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        loud("SKIPPED scheduling_attributes: the native run needs root");
        return;
    }
    for prog in &programs {
        assert_conforms(prog, NO_ARGS, NO_ARGS, &[], Compare::All);
    }
}

/// Native AIO: io_setup/io_submit/io_getevents/io_destroy on a file in
/// the sandbox's /tmp, an eventfd told of completions, RWF_NOWAIT on an
/// empty pipe, the errors; musl and glibc.
#[test]
fn native_aio() {
    let programs = [c_program("aio"), glibc_program("aio")];
    if !require_kvm() {
        return;
    }
    for (i, prog) in programs.iter().enumerate() {
        let native_dir = rvisor_tests::abi::fresh_dir(&format!("aio_native{i}"));
        assert_conforms(
            prog,
            &[native_dir.to_str().unwrap()],
            &["/tmp"],
            &[],
            Compare::All,
        );
    }
}

/// wait without children, prctl, priorities, mlock/mincore, sync and advice,
/// utime(s), mknod, xattrs, memfd: in the sandbox's /tmp and on a
/// read-write `--mount`, built with musl and with glibc.
#[test]
fn process_odds_and_ends() {
    let programs = [c_program("process_misc"), glibc_program("process_misc")];
    if !require_kvm() {
        return;
    }
    for (i, prog) in programs.iter().enumerate() {
        let native_dir = rvisor_tests::abi::fresh_dir(&format!("pm_native{i}"));
        let native = run_native(prog, &[native_dir.join("w").to_str().unwrap()], None);
        assert!(
            native.code() == 0 && native.stdout_str().contains("failures=0\n"),
            "process_misc fails natively (fix the program):\n{}",
            native.describe()
        );
        let in_tmp = run_sandbox(prog, &["/tmp/w"], &[], None);
        assert_same(&native, &in_tmp, Compare::All);
        let shared = rvisor_tests::abi::fresh_dir(&format!("pm_shared{i}"));
        let mount = rvisor_tests::abi::mount_arg(&shared, "/data", Some("rw"));
        let on_mount = run_sandbox(prog, &["/data/w"], &["--mount", &mount], None);
        assert_same(&native, &on_mount, Compare::All);
    }
}

#[test]
fn membarrier_for_jits() {
    let prog = c_program("membarrier");
    if !require_kvm() {
        return;
    }
    assert_conforms(&prog, NO_ARGS, NO_ARGS, &[], Compare::All);
}

/// Capability sets (capget/capset against the bounding set), the bounding
/// and ambient sets and securebits (prctl), what execve makes of them;
/// /proc/sys/kernel/ns_last_pid and pid reuse; fchmodat2; ARCH_SET_CPUID
/// (it works exactly when /proc/cpuinfo says cpuid_fault).
#[test]
fn capabilities_and_process_odds() {
    let prog = c_program("capabilities");
    if !require_kvm() {
        return;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        loud("SKIPPED capabilities_and_process_odds: the native run needs root");
        return;
    }
    let native = run_native(&prog, NO_ARGS, None);
    assert!(
        native.code() == 0 && native.stdout_str().contains("failures=0\n"),
        "capabilities fails natively (fix the program):\n{}",
        native.describe()
    );
    let sandbox = run_sandbox(&prog, NO_ARGS, &[], None);
    assert_same(&native, &sandbox, Compare::All);
}
