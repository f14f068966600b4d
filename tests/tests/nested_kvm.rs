//! rvisor-vmm on hardware-style KVM: the sentry's `native` backend under a
//! real (nested) /dev/kvm. `scripts/nested-kvm-x86_64.sh` boots Debian's
//! stock kernel under QEMU TCG with an SVM-capable CPU, loads kvm_amd and
//! runs rvisor-vmm (hello, exit status 42, a fault, SIGUSR1/SIGTERM sent to
//! rvisor-vmm reaching a computing or waiting program) from an initramfs.
//! Takes ~10 s (plus a one-time `apt-get download` of the kernel package,
//! cached under target/nested-kvm/).
//!
//! Needs qemu-system-x86_64; without it the test is skipped loudly, unless
//! CI=true. `RVISOR_NESTED_KVM=0` skips it on purpose (loudly).

use std::process::Command;

use rvisor_tests::*;

#[test]
fn rvisor_vmm_native_backend_under_nested_kvm() {
    if std::env::var("RVISOR_NESTED_KVM").is_ok_and(|v| v == "0") {
        loud("\n*** SKIPPED: RVISOR_NESTED_KVM=0; the nested-KVM test did not run ***\n");
        return;
    }
    let ci = std::env::var("CI")
        .map(|v| v.eq_ignore_ascii_case("true") || v == "1")
        .unwrap_or(false);
    if !have_tool("qemu-system-x86_64") {
        if ci {
            panic!(
                "qemu-system-x86_64 is not installed and CI=true (scripts/setup.sh installs it)"
            );
        }
        loud("\n*** SKIPPED: qemu-system-x86_64 not installed; the nested-KVM test did not run ***\n");
        return;
    }
    let out = Command::new("bash")
        .arg(root().join("scripts").join("nested-kvm-x86_64.sh"))
        .env("RVISOR_VMM", vmm())
        .output()
        .expect("running scripts/nested-kvm-x86_64.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "nested-KVM run failed ({}):\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        out.status
    );
    assert!(stdout.contains("platform=native"), "{stdout}");
    for check in [
        "hello",
        "exit_code",
        "fault",
        "sigusr1_handler_spin",
        "sigusr1_handler_pause",
        "sigterm_default_spin",
    ] {
        assert!(
            stdout.contains(&format!("NESTED PASS {check} ")),
            "{check} did not pass:\n{stdout}"
        );
    }
}
