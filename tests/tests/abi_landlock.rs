//! Landlock (landlock_create_ruleset, landlock_add_rule,
//! landlock_restrict_self, and what a domain enforces: files, TCP ports,
//! the abstract unix socket and signal scopes) and the LSM calls,
//! compared with a native run, built with musl and with glibc. The host
//! kernel must have Landlock ABI 6 or later for the native side: the
//! program says SKIP otherwise, and the test checks nothing.

use rvisor_tests::*;

fn landlock_conforms(prog: &std::path::Path) {
    if !require_kvm() {
        return;
    }
    let native = run_native(prog, NO_ARGS, None);
    if native.stdout_str().starts_with("SKIP") {
        eprintln!("skipped: {}", native.stdout_str().trim());
        return;
    }
    assert_conforms(prog, NO_ARGS, NO_ARGS, &[], Compare::All);
}

#[test]
fn landlock_musl() {
    landlock_conforms(&c_program("landlock"));
}

#[test]
fn landlock_glibc() {
    landlock_conforms(&glibc_program("landlock"));
}
