//! sendfile, copy_file_range, flock and fallocate, in the sandbox's tmpfs
//! and in a shared host directory, compared with native.

use rvisor_tests::*;

#[test]
fn copies_locks_and_fallocate_as_native() {
    let prog = c_program("fs_copy");
    if !require_kvm() {
        return;
    }
    let native_dir = abi::fresh_dir("fs_copy_native");
    let native = run_native(&prog, &[&native_dir], None);
    assert_eq!(native.code(), 0, "{}", native.describe());
    let in_tmpfs = run_sandbox(&prog, &["/tmp"], &[], None);
    assert_same(&native, &in_tmpfs, Compare::All);
    let shared = abi::fresh_dir("fs_copy_shared");
    let mount = format!("{}:/data:rw", shared.display());
    let in_mount = run_sandbox(&prog, &["/data"], &["--mount", &mount], None);
    assert_same(&native, &in_mount, Compare::All);
}
