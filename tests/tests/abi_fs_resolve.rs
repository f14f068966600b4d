//! statfs of shared host directories (the host's filesystem type),
//! openat2 (open_how versions, flag checks, RESOLVE_*) and file handles
//! (name_to_handle_at/open_by_handle_at), compared with native, built
//! with musl and with glibc.

use rvisor_tests::*;

fn programs() -> [std::path::PathBuf; 2] {
    [c_program("fs_resolve"), glibc_program("fs_resolve")]
}

fn native_clean(out: &RunOutput) {
    assert!(
        out.code() == 0 && out.stdout_str().contains("failures=0\n"),
        "fs_resolve fails natively (fix the program):\n{}",
        out.describe()
    );
}

/// A shared directory reports the host filesystem's statfs, as natively.
#[test]
fn statfs_of_a_host_directory_is_the_hosts() {
    let programs = programs();
    if !require_kvm() {
        return;
    }
    for (i, prog) in programs.iter().enumerate() {
        let native_dir = abi::fresh_dir(&format!("fs_resolve_statfs_native{i}"));
        let native = run_native(prog, &["statfs", native_dir.to_str().unwrap()], None);
        native_clean(&native);
        let shared = abi::fresh_dir(&format!("fs_resolve_statfs_shared{i}"));
        let mount = abi::mount_arg(&shared, "/data", Some("rw"));
        let sandbox = run_sandbox(prog, &["statfs", "/data"], &["--mount", &mount], None);
        assert_same(&native, &sandbox, Compare::All);
    }
}

/// openat2 on the sandbox's tmpfs against a fresh native directory.
#[test]
fn openat2_as_native() {
    let programs = programs();
    if !require_kvm() {
        return;
    }
    for (i, prog) in programs.iter().enumerate() {
        let native_dir = abi::fresh_dir(&format!("fs_resolve_openat2_native{i}"));
        let native = run_native(prog, &["openat2", native_dir.to_str().unwrap()], None);
        native_clean(&native);
        let sandbox = run_sandbox(prog, &["openat2", "/tmp"], &[], None);
        assert_same(&native, &sandbox, Compare::All);
    }
}

/// File handles of the sandbox's tmpfs behave as a native filesystem's;
/// a shared host directory gives identifiers only (EOPNOTSUPP otherwise).
#[test]
fn file_handles_as_native() {
    let programs = programs();
    if !require_kvm() {
        return;
    }
    for (i, prog) in programs.iter().enumerate() {
        let native_dir = abi::fresh_dir(&format!("fs_resolve_handles_native{i}"));
        let native = run_native(prog, &["handles", native_dir.to_str().unwrap()], None);
        native_clean(&native);
        let sandbox = run_sandbox(prog, &["handles", "/tmp"], &[], None);
        assert_same(&native, &sandbox, Compare::All);
        let shared = abi::fresh_dir(&format!("fs_resolve_handles_shared{i}"));
        let mount = abi::mount_arg(&shared, "/data", Some("rw"));
        let host = run_sandbox(prog, &["hosthandles", "/data"], &["--mount", &mount], None);
        assert!(
            host.code() == 0 && host.stdout_str().contains("failures=0\n"),
            "{}",
            host.describe()
        );
    }
}
