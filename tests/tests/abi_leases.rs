//! File leases and their breaking, file owners with O_ASYNC signals, and
//! record-lock deadlock detection, compared with native, built with musl
//! and with glibc.

use rvisor_tests::*;

/// Leases on the sandbox's tmpfs and on a shared host directory.
#[test]
fn leases_owners_and_deadlocks_as_native() {
    let programs = [c_program("leases"), glibc_program("leases")];
    if !require_kvm() {
        return;
    }
    for (i, prog) in programs.iter().enumerate() {
        let native_dir = abi::fresh_dir(&format!("leases_native{i}"));
        let native = run_native(prog, &[native_dir.to_str().unwrap()], None);
        assert!(
            native.code() == 0 && native.stdout_str().contains("failures=0\n"),
            "leases fails natively (fix the program):\n{}",
            native.describe()
        );
        let in_tmp = run_sandbox(prog, &["/tmp"], &[], None);
        assert_same(&native, &in_tmp, Compare::All);
        let shared = abi::fresh_dir(&format!("leases_shared{i}"));
        let mount = abi::mount_arg(&shared, "/data", Some("rw"));
        let on_mount = run_sandbox(prog, &["/data"], &["--mount", &mount], None);
        assert_same(&native, &on_mount, Compare::All);
    }
}

/// A holder that does not let go loses its lease once
/// /proc/sys/fs/lease-break-time passes (sandbox only: natively it would
/// change the host's setting).
#[test]
fn a_lease_break_times_out() {
    let prog = c_program("leases");
    if !require_kvm() {
        return;
    }
    let out = run_sandbox(&prog, &["/tmp", "timeout"], &[], None);
    assert!(
        out.code() == 0 && out.stdout_str().contains("failures=0\n"),
        "{}",
        out.describe()
    );
}
