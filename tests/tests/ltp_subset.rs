//! A fixed fast subset of the Linux Test Project's syscalls tests
//! (tests/ltp/subset.txt): each must pass in the sandbox. The tests were
//! chosen from the full run (`scripts/conformance.sh`, docs/conformance.md)
//! among those that pass natively and in the sandbox. LTP is built (only
//! these programs, when the full build is not cached) under target/ltp from
//! ../shared/third_party/ltp.tar.gz by the same script.

use std::process::Command;

use rvisor_tests::*;

#[test]
fn ltp_subset_passes_in_the_sandbox() {
    if !require_kvm() {
        return;
    }
    let tarball = root().join("../shared/third_party/ltp.tar.gz");
    if !tarball.exists() {
        let ci = std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
        assert!(!ci, "{} is missing and CI=true", tarball.display());
        loud(&format!(
            "\n*** SKIPPED: {} is missing; the LTP subset did not run ***\n",
            tarball.display()
        ));
        return;
    }
    let vmm = vmm();
    let out = Command::new("bash")
        .arg(root().join("scripts/conformance.sh"))
        .arg("--subset")
        .arg("--vmm")
        .arg(&vmm)
        .output()
        .expect("runs scripts/conformance.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "LTP subset failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains("subset: all ") && stdout.contains(" tests pass in the sandbox"),
        "{stdout}\n{stderr}"
    );
}
