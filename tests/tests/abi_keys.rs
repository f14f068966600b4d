//! Kernel keys (add_key, request_key, keyctl): keys and keyrings, reads,
//! updates, searches, links, permissions and possession, revocation, the
//! thread, process and session keyrings across fork, threads and exec,
//! and the errors, compared with a native run, built with musl and with
//! glibc.

use rvisor_tests::*;

/// One test, musl then glibc: natively both programs work on the same
/// user keyring (it belongs to the uid), so side by side they unlinked
/// each other's keys now and then.
#[test]
fn kernel_keys_musl_then_glibc() {
    let programs = [c_program("keys"), glibc_program("keys")];
    if !require_kvm() {
        return;
    }
    for prog in &programs {
        assert_conforms(prog, NO_ARGS, NO_ARGS, &[], Compare::All);
    }
}
