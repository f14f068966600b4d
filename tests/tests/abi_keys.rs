//! Kernel keys (add_key, request_key, keyctl): keys and keyrings, reads,
//! updates, searches, links, permissions and possession, revocation, the
//! thread, process and session keyrings across fork, threads and exec,
//! and the errors, compared with a native run, built with musl and with
//! glibc.

use rvisor_tests::*;

#[test]
fn kernel_keys_musl() {
    let prog = c_program("keys");
    if !require_kvm() {
        return;
    }
    assert_conforms(&prog, NO_ARGS, NO_ARGS, &[], Compare::All);
}

#[test]
fn kernel_keys_glibc() {
    let prog = glibc_program("keys");
    if !require_kvm() {
        return;
    }
    assert_conforms(&prog, NO_ARGS, NO_ARGS, &[], Compare::All);
}
