//! splice, tee, vmsplice, and memfd file seals, compared with native, built
//! with musl and with glibc.

use rvisor_tests::*;

/// Pipes to and from files (the sandbox's tmpfs and a shared host
/// directory), pipes, user memory, devices and sockets.
#[test]
fn splice_tee_vmsplice_as_native() {
    let programs = [c_program("splice"), glibc_program("splice")];
    if !require_kvm() {
        return;
    }
    for (i, prog) in programs.iter().enumerate() {
        let native_dir = abi::fresh_dir(&format!("splice_native{i}"));
        let native = run_native(prog, &[native_dir.to_str().unwrap()], None);
        assert!(
            native.code() == 0 && native.stdout_str().contains("failures=0\n"),
            "splice fails natively (fix the program):\n{}",
            native.describe()
        );
        let in_tmp = run_sandbox(prog, &["/tmp"], &[], None);
        assert_same(&native, &in_tmp, Compare::All);
        let shared = abi::fresh_dir(&format!("splice_shared{i}"));
        let mount = abi::mount_arg(&shared, "/data", Some("rw"));
        let on_mount = run_sandbox(prog, &["/data"], &["--mount", &mount], None);
        assert_same(&native, &on_mount, Compare::All);
    }
}

#[test]
fn memfd_seals_as_native() {
    let programs = [c_program("memfd_seals"), glibc_program("memfd_seals")];
    if !require_kvm() {
        return;
    }
    for prog in &programs {
        assert_conforms(prog, NO_ARGS, NO_ARGS, &[], Compare::All);
    }
}
